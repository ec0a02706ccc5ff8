//! Whether the catalog changed since it was last read, without reading it.
//!
//! Two checks, cheapest first:
//!
//! 1. **No transaction ended.** The MVCC snapshot (`txid_current_snapshot()`, `xmin:xmax:xip`)
//!    changes whenever a transaction that has an xid ends anywhere in the cluster: one at or
//!    above the old `xmax` raises `xmax` (the latest completed xid plus one), one below it was
//!    in the old `xip` list and is no longer. Every catalog change is made by such a
//!    transaction (DDL needs an xid), so an equal snapshot means the catalog reads exactly as
//!    it did. One row, whatever the catalog's size: the unchanged poll of an idle database.
//! 2. **The fingerprint** (count and xmin sum per catalog, `queries::fingerprint`): when other
//!    transactions ended (any write, anywhere in the cluster), whether one of them changed
//!    what the snapshot reads. It scans the catalogs (about 45 ms per 10,000 tables).
//!
//! PostgreSQL has no cheaper exact signal: its statistics counters of the catalogs are
//! flushed up to a second late (15+) or lost (UDP, before 15), so a poll right after DDL
//! would miss it; the WAL position moves before a commit becomes visible, so an unchanged
//! position could hide a commit the last read did not see yet.

use super::queries;
use super::rows;
use crate::pg::PgError;
use tokio_postgres::GenericClient;

/// The snapshot text of the transaction (or statement) it runs in.
const SNAPSHOT: &str = "SELECT txid_current_snapshot()::text";

/// The catalog as a read saw it; compare with [`read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSignature {
    /// The MVCC snapshot of the read.
    snapshot: String,
    /// The catalogs' fingerprint in that snapshot.
    fingerprint: String,
}

/// Why a signature equals the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// No transaction ended since: the fingerprint was not computed.
    NoTransactionEnded,
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
        .query_one(SNAPSHOT, &[])
        .await
        .map_err(|e| PgError::query("snapshot", target, &e))?;
    let snapshot: String = rows::get(&row, 0, "snapshot")?;
    if let Some(last) = last.filter(|l| l.snapshot == snapshot) {
        return Ok((last.clone(), Some(Unchanged::NoTransactionEnded)));
    }
    let row = client
        .query_one(&queries::fingerprint(), &[])
        .await
        .map_err(|e| PgError::query("fingerprint", target, &e))?;
    let signature = CatalogSignature {
        snapshot,
        fingerprint: rows::get(&row, 0, "fingerprint")?,
    };
    let unchanged = last
        .is_some_and(|l| l.fingerprint == signature.fingerprint)
        .then_some(Unchanged::SameFingerprint);
    Ok((signature, unchanged))
}
