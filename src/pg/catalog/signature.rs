//! Whether the catalog changed since it was last read, without reading it.
//!
//! Three checks, cheapest first:
//!
//! 1. **No transaction ended.** The MVCC snapshot (`txid_current_snapshot()`, `xmin:xmax:xip`)
//!    changes whenever a transaction that has an xid ends anywhere in the cluster: one at or
//!    above the old `xmax` raises `xmax` (the latest completed xid plus one), one below it was
//!    in the old `xip` list and is no longer. Every catalog change is made by such a
//!    transaction (DDL needs an xid), so an equal snapshot means the catalog reads exactly as
//!    it did. One row, whatever the catalog's size: the unchanged poll of an idle database.
//! 2. **No DDL committed**, where `pgmeta-capture install` put the DDL event trigger: it marks
//!    each transaction that runs DDL in `pgmeta.ddl_backend` (see `pg::ddl_trigger`), in that
//!    transaction, so the marker becomes visible exactly when the change does. No marker that
//!    the last check's snapshot does not see, and the shared catalogs' part of the fingerprint
//!    equal (no event trigger fires on roles or the database itself): the catalog reads as it
//!    did. A few index rows, whatever the catalog's size: the unchanged poll of a busy
//!    database. What bypasses event triggers (a superuser's `SET event_triggers = off` on
//!    PostgreSQL 17+, `session_replication_role = replica`, a direct catalog update) is caught
//!    by the next full fingerprint: this check is trusted for [`FINGERPRINT_EVERY`] at most.
//! 3. **The fingerprint** (count and xmin sum per catalog, `queries::fingerprint`): when other
//!    transactions ended (any write, anywhere in the cluster), whether one of them changed
//!    what the snapshot reads. It scans the catalogs (about 45 ms per 10,000 tables).
//!
//! A capture that starts again compares the fingerprint its state was kept with (see
//! [`CatalogSignature::kept`]) and reads the catalog only when it differs.
//!
//! PostgreSQL has no cheaper exact signal without the trigger: its statistics counters of the
//! catalogs are flushed up to a second late (15+) or lost (UDP, before 15), so a poll right
//! after DDL would miss it; the WAL position moves before a commit becomes visible, so an
//! unchanged position could hide a commit the last read did not see yet.

use super::queries;
use super::rows;
use crate::pg::PgError;
use std::time::{Duration, Instant};
use tokio_postgres::GenericClient;

/// How long the DDL marker (check 2) is trusted before the full fingerprint is compared
/// again, so that DDL that bypassed the event trigger is seen within this time. Also the
/// freshness a check needs for `pgmeta.prune_ddl_backends` to leave it every marker it has not
/// seen (see `pg::ddl_trigger::prune`).
pub const FINGERPRINT_EVERY: Duration = Duration::from_secs(300);

/// The catalog as a read saw it; compare with [`read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSignature {
    /// The MVCC snapshot of the last check.
    snapshot: String,
    /// The database's catalogs' fingerprint, as of the last full fingerprint; later checks
    /// that found no DDL carry it forward.
    fingerprint: String,
    /// The shared catalogs' part, as of the last check.
    shared: String,
    /// When the fingerprint was computed; `None` for one kept with the state by an earlier
    /// run (see [`CatalogSignature::kept`]).
    fingerprinted_at: Option<Instant>,
    /// Whether the DDL marker was installed and readable at the last check.
    marked: bool,
}

impl CatalogSignature {
    /// The snapshot (`txid_snapshot` text) of the last check.
    pub fn snapshot(&self) -> &str {
        &self.snapshot
    }

    /// Whether the DDL marker was installed and readable at the last check.
    pub fn marked(&self) -> bool {
        self.marked
    }

    /// The database's catalogs' part of the fingerprint and the shared catalogs' part: what a
    /// later run compares with [`CatalogSignature::kept`].
    pub fn fingerprint(&self) -> (&str, &str) {
        (&self.fingerprint, &self.shared)
    }

    /// The signature an earlier run kept with the state (its [`CatalogSignature::fingerprint`]).
    /// Only the fingerprint (check 3) is compared with it: the snapshot and the DDL markers
    /// say what changed since a check of this run, and say nothing across a restart (the
    /// cluster may have been restored to an earlier point since, its transaction ids used
    /// again). The fingerprint misses there only what it would miss in a running capture: a
    /// restore whose new transactions reuse the same ids for the same number of rows in every
    /// catalog.
    pub fn kept(fingerprint: String, shared: String) -> Self {
        CatalogSignature {
            snapshot: String::new(),
            fingerprint,
            shared,
            fingerprinted_at: None,
            marked: false,
        }
    }
}

/// Why a signature equals the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// No transaction ended since: the fingerprint was not computed.
    NoTransactionEnded,
    /// Transactions ended, none of them ran DDL (the event trigger's markers say so) and the
    /// shared catalogs read the same: the fingerprint was not computed.
    NoDdlCommitted,
    /// Transactions ended, none of them changed the catalogs.
    SameFingerprint,
}

/// The signature in the snapshot `client` reads with (a `REPEATABLE READ` transaction's, for
/// a signature of what that transaction then reads), and whether it equals `last`.
pub async fn read(
    client: &impl GenericClient,
    target: &str,
    last: Option<&CatalogSignature>,
) -> Result<(CatalogSignature, Option<Unchanged>), PgError> {
    let row = client
        .query_one(queries::SNAPSHOT_AND_MARKER, &[])
        .await
        .map_err(|e| PgError::query("snapshot", target, &e))?;
    let snapshot: String = rows::get(&row, 0, "snapshot")?;
    let marked: bool = rows::get(&row, 1, "snapshot")?;
    if let Some(last) = last.filter(|l| l.snapshot == snapshot) {
        return Ok((last.clone(), Some(Unchanged::NoTransactionEnded)));
    }
    let fresh = |l: &&CatalogSignature| {
        marked
            && l.fingerprinted_at
                .is_some_and(|at| at.elapsed() < FINGERPRINT_EVERY)
    };
    if let Some(last) = last.filter(fresh) {
        let row = client
            .query_one(&queries::ddl_committed_since(), &[&last.snapshot])
            .await
            .map_err(|e| PgError::query("DDL markers", target, &e))?;
        let ddl: bool = rows::get(&row, 0, "DDL markers")?;
        let shared: String = rows::get(&row, 1, "DDL markers")?;
        if !ddl && shared == last.shared {
            let signature = CatalogSignature {
                snapshot,
                shared,
                marked,
                ..last.clone()
            };
            return Ok((signature, Some(Unchanged::NoDdlCommitted)));
        }
    }
    let row = client
        .query_one(&queries::fingerprint(), &[])
        .await
        .map_err(|e| PgError::query("fingerprint", target, &e))?;
    let signature = CatalogSignature {
        snapshot,
        fingerprint: rows::get(&row, 0, "fingerprint")?,
        shared: rows::get(&row, 1, "fingerprint")?,
        fingerprinted_at: Some(Instant::now()),
        marked,
    };
    let unchanged = last
        .is_some_and(|l| l.fingerprint == signature.fingerprint && l.shared == signature.shared)
        .then_some(Unchanged::SameFingerprint);
    Ok((signature, unchanged))
}
