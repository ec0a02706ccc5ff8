//! Sources find catalog changes. Today: the catalog poller. The logical-replication listener
//! and the pg_stat_statements poller join here, feeding the same diff and sinks.

mod catalog_poll;

pub use catalog_poll::{CatalogPollSource, PollReport};
