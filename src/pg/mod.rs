//! Everything that talks to PostgreSQL: connection settings, catalog reads, error wording.

pub mod catalog;
pub mod check;
mod connect;
pub mod ddl_trigger;
mod error;
pub mod rds_iam;
pub mod stat_statements;
pub mod tls;

pub use connect::{PgTarget, TargetError};
pub use error::{ErrorClass, PgError};
