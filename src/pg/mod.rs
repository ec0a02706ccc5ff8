//! Everything that talks to PostgreSQL: connection settings, catalog reads, error wording.

pub mod catalog;
pub mod check;
mod connect;
mod conninfo;
pub mod ddl_trigger;
mod error;
mod iam_login;
pub mod migration;
pub mod rds_iam;
pub mod stat_statements;
pub mod tls;
pub mod touched;

pub use connect::PgTarget;
pub use error::{ErrorClass, PgError, TargetError};
