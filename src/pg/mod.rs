//! Everything that talks to PostgreSQL: connection settings, catalog reads, error wording.

pub mod catalog;
mod connect;
mod error;

pub use connect::{PgTarget, TargetError};
pub use error::{ErrorClass, PgError};
