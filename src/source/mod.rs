//! Sources find catalog changes: the catalog poller, and the logical-replication listener that
//! triggers the same read-diff-send on each DDL transaction. Both feed the same diff and sinks.

mod catalog_poll;
mod replication;

pub use catalog_poll::{CatalogPollSource, PollReport};
pub use replication::{ReplicationError, ReplicationSource};
