//! Query usage from `pg_stat_statements`: per-interval deltas of its cumulative counters
//! ([`delta`]) and their roll-up per table ([`aggregate`]).
//!
//! The view has no timestamps, its counters only grow until a reset or an eviction, and it
//! is shared by everything that reads it. So each read is compared with the previous one (the
//! baseline, kept durably with the state): the difference is what ran between the two reads,
//! one bucket. A counter that went down, a changed `stats_reset` or a grown `dealloc` means a
//! reset or an eviction: what ran before it in that interval is lost and the bucket says so,
//! but nothing is ever counted twice or negative.

pub mod aggregate;
pub mod delta;
mod reading;

pub use aggregate::{TableStatement, table_usage};
pub use delta::{Baseline, Delta, DeltaReport, UsageState, compute};
pub use reading::{Entry, Reading};
