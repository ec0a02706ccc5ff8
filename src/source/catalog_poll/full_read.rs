//! The full read on a task of its own. The task owns the catalog connection while it reads
//! the catalog (whole, or the rest and then part after part: see `pg::catalog::FullReadParts`)
//! and hands each over through a channel, reading the next part while the poller diffs, sends
//! and saves the last one: PostgreSQL deparses the next part's definitions, and this task builds
//! its rows, on one core while the state store and the broker take the last part on the other.
//! A part is read only once the poller took the one before, so at most two are held: the one
//! being sent and the one being read. The connection comes back when the task ends.

use super::CONCURRENT_DDL_RETRIES;
use crate::lineage::Resolver;
use crate::model::CatalogSnapshot;
use crate::pg::PgError;
use crate::pg::catalog::{
    CatalogRead, CatalogScope, CatalogSignature, FullReadParts, Part, PartedRead,
    read_catalog_in_parts,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tracing::Instrument;

/// What the read hands over, in this order.
#[derive(Debug)]
pub(super) enum Item {
    /// The read was not parted: the catalog is unchanged, or was read whole. The last item.
    Read(CatalogRead),
    /// Parted: the catalog without its relations ...
    Rest {
        rest: Rest,
        signature: CatalogSignature,
    },
    /// ... then each part of the relations, the last one marked ...
    Part { part: Part, last: bool },
    /// ... and the read's transaction ended. The last item.
    Committed,
    /// The read failed (what was handed over before stands). The last item.
    Failed(PgError),
}

/// The catalog without its relations (see `FullReadParts::rest`).
#[derive(Debug)]
pub(super) struct Rest {
    pub snapshot: Box<CatalogSnapshot>,
    /// Every relation's name and columns, when routine lineage resolves against them
    /// (lineage is on and routines have bodies).
    pub resolver: Option<Resolver>,
    /// How many parts follow.
    pub parts: usize,
}

/// A full read running on its own task.
#[derive(Debug)]
pub(super) struct FullReadTask {
    items: mpsc::Receiver<Item>,
    task: JoinHandle<Client>,
}

/// Starts the full read of `database` on `client` (compared with the `last` signature).
pub(super) fn spawn(
    client: Client,
    label: String,
    database: String,
    scope: CatalogScope,
    last: Option<CatalogSignature>,
    lineage: bool,
) -> FullReadTask {
    // One item waits in the channel at most; see `read` for when the next part is read.
    let (sender, items) = mpsc::channel(1);
    let read = read(client, label, database, scope, last, lineage, sender);
    FullReadTask {
        items,
        task: tokio::spawn(read.instrument(tracing::Span::current())),
    }
}

impl FullReadTask {
    /// The next item; `None` once the task ended without one more (it panicked).
    pub(super) async fn next(&mut self) -> Option<Item> {
        self.items.recv().await
    }

    /// Stops the read where it is (its transaction rolls back) unless it ended, and gives
    /// the connection back. A panic of the task goes on here.
    pub(super) async fn finish(self) -> Option<Client> {
        drop(self.items);
        match self.task.await {
            Ok(client) => Some(client),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only a runtime shutting down does that, and it drops the poller too.
            Err(_) => None,
        }
    }
}

async fn read(
    mut client: Client,
    label: String,
    database: String,
    scope: CatalogScope,
    last: Option<CatalogSignature>,
    lineage: bool,
    items: mpsc::Sender<Item>,
) -> Client {
    let mut attempt = 0;
    loop {
        let item = match read_catalog_in_parts(&mut client, &label, &scope, last.as_ref()).await {
            Err(PgError::ConcurrentDdl { what }) if attempt < CONCURRENT_DDL_RETRIES => {
                attempt += 1;
                tracing::info!(database = %database, attempt, what = %what, "catalog changed during the read, reading again");
                continue;
            }
            Err(PgError::ConcurrentDdl { what }) => Item::Failed(PgError::ConcurrentDdl {
                what: format!(
                    "{what}; read {} times, changing each time; the next poll reads again",
                    attempt + 1
                ),
            }),
            Err(e) => Item::Failed(e),
            Ok(PartedRead::Read(read)) => Item::Read(read),
            Ok(PartedRead::Parts { parts, signature }) => {
                hand_over_parts(*parts, signature, lineage, &items).await;
                break;
            }
        };
        // The poller may have stopped waiting: nothing is left to do either way.
        let _ = items.send(item).await;
        break;
    }
    client
}

/// Hands over the rest, each part and the commit, reading each only once the poller took
/// the item before (so that at most two parts are held); stops when the poller stops taking.
async fn hand_over_parts(
    mut parts: FullReadParts<'_>,
    signature: CatalogSignature,
    lineage: bool,
    items: &mpsc::Sender<Item>,
) {
    let Ok(permit) = items.reserve().await else {
        return;
    };
    let rest = match parts.rest().await {
        Ok(rest) => rest,
        Err(e) => return permit.send(Item::Failed(next_poll(e))),
    };
    let resolver = match lineage && rest.routines.iter().any(|r| r.body.is_some()) {
        true => match parts.resolver(&rest).await {
            Ok(resolver) => Some(resolver),
            Err(e) => return permit.send(Item::Failed(next_poll(e))),
        },
        false => None,
    };
    let rest = Rest {
        snapshot: Box::new(rest),
        resolver,
        parts: parts.parts_left(),
    };
    permit.send(Item::Rest { rest, signature });
    loop {
        let Ok(permit) = items.reserve().await else {
            return;
        };
        match parts.next_part().await {
            Ok(Some(part)) => {
                let last = parts.parts_left() == 0;
                permit.send(Item::Part { part, last });
            }
            Ok(None) => {
                return permit.send(match parts.commit().await {
                    Ok(()) => Item::Committed,
                    Err(e) => Item::Failed(e),
                });
            }
            Err(e) => return permit.send(Item::Failed(next_poll(e))),
        }
    }
}

/// What the poller reports when the read's task ended without its last item (it panicked;
/// `FullReadTask::finish` carries the panic on).
pub(super) fn ended(target: &str) -> PgError {
    PgError::Query {
        query: "full read",
        target: target.to_owned(),
        reason: "the read's task ended before its last answer".into(),
        hint: Default::default(),
        class: crate::pg::ErrorClass::Transient,
        sqlstate: None,
    }
}

/// A part that changed under the read ends it; what was sent of it stays, and the next poll
/// reads again (a part is not read twice in one transaction).
fn next_poll(e: PgError) -> PgError {
    match e {
        PgError::ConcurrentDdl { what } => PgError::ConcurrentDdl {
            what: format!(
                "{what}; the parts read before were sent and saved, the next poll reads again"
            ),
        },
        other => other,
    }
}
