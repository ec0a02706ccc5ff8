//! Sources find catalog changes: the catalog poller, and the logical-replication listener that
//! triggers the same read-diff-send on each DDL transaction. Both feed the same diff and sinks.

mod catalog_poll;
mod error;
mod in_flight;
pub mod migration;
mod replication;
mod schema_changes;
mod usage;

pub use catalog_poll::{CATALOG_LINEAGE_PART, CatalogPollSource, PollReport};
pub use error::{CaptureError, Cause};
pub use replication::{ReplicationError, ReplicationSource};
pub use usage::{QUERY_LINEAGE_PART, USAGE_PART, UsageReport, UsageSource};
