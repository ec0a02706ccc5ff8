//! The OpenMetadata REST contract that pgmeta-apply (a client) and pgmeta-catalog (a server)
//! share: the entity collections with their parents and create-request fields, and the type
//! names a table and its columns may carry.

pub mod kind;
mod types;

pub use types::{DATA_TYPES, TABLE_TYPES};
