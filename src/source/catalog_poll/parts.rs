//! The full read of a large catalog, part by part (see `pg::catalog::FullReadParts`): the
//! rest of the catalog (database, schemas, routines, and every drop) is diffed, sent and
//! saved first, then each part of the relations in turn, so a consumer still meets a schema
//! before its tables and a parent before its partitions. Each part keeps the poll's
//! invariant on its own (send, then save). The view and routine lineage of all parts is
//! sent after the last one, when both ends of every edge were sent.

use super::{CatalogPollSource, Coverage, PollReport, Sent, in_flight};
use crate::checkpoint::CheckpointStore;
use crate::event::{CaptureMode, SourceInfo};
use crate::lineage::edges::{self, Edge, catalog_edges};
use crate::pg::PgError;
use crate::pg::catalog::FullReadParts;
use crate::sink::Sink;
use std::collections::HashSet;

impl CatalogPollSource {
    /// Diffs, sends and saves the rest of the catalog and then each part of its relations,
    /// then their lineage; ends the read's transaction.
    pub(super) async fn send_parts<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
        mut parts: Box<FullReadParts<'_>>,
    ) -> Result<Sent, super::super::CaptureError> {
        let database = self.database().to_owned();
        tracing::info!(database = %database, parts = parts.parts_left(), "reading the catalog's relations in parts");
        crate::telemetry::metrics()
            .catalog_reads
            .with_label_values(&["full"])
            .inc();
        let rest = parts.rest().await.map_err(next_poll)?;
        let source = self.source_info(&rest, mode);
        self.routine_bodies = rest.routines.iter().any(|r| r.body.is_some());
        let mut lineage: Vec<Edge> = Vec::new();
        if self.lineage.is_some() && self.routine_bodies {
            let relations = parts.resolver(&rest).await.map_err(next_poll)?;
            let (edges, _) = catalog_edges(&rest, &self.scope.service, None, Some(&relations));
            lineage.extend(edges);
        }
        let mut total = match self
            .diff_send(sink, store, mode, Box::new(rest), Coverage::Rest)
            .await?
        {
            Sent::Report(report) => report,
            waits => return Ok(waits),
        };
        let mut read = 0;
        let mut next = parts.next_part().await.map_err(next_poll)?;
        while let Some(mut part) = next.take() {
            read += 1;
            if self.lineage.is_some() {
                let views: HashSet<i64> = part
                    .snapshot
                    .tables
                    .iter()
                    .filter(|t| t.table_type.is_view() && part.own.contains(&t.oid))
                    .map(|t| t.oid)
                    .collect();
                let (edges, _) =
                    catalog_edges(&part.snapshot, &self.scope.service, Some(&views), None);
                lineage.extend(edges);
            }
            // What describing the part took besides is another part's to send.
            part.snapshot.tables.retain(|t| part.own.contains(&t.oid));
            let last = parts.parts_left() == 0;
            // The next part is read while this one is diffed, sent and saved: PostgreSQL
            // deparses the next part's definitions while the state store writes this one's
            // digests and the broker acknowledges its events. The parts are still sent and
            // saved one after the other, in order.
            let (following, sent) = tokio::join!(
                async {
                    match last {
                        true => Ok(None),
                        false => parts.next_part().await,
                    }
                },
                self.diff_send(sink, store, mode, part.snapshot, Coverage::Part { last }),
            );
            match sent? {
                Sent::Report(report) => {
                    total.changes += report.changes;
                    total.records += report.records;
                }
                waits => return Ok(waits),
            }
            next = following.map_err(next_poll)?;
        }
        parts.commit().await?;
        total.lineage_changes = self.send_lineage(sink, store, &source, lineage).await?;
        Ok(Sent::Report(PollReport {
            unchanged: false,
            targeted: false,
            parts: read,
            ..total
        }))
    }

    /// Sends the view and routine lineage `current` of the whole catalog in place of what
    /// was sent, and remembers it (noted in flight first, as `diff_send` does); how many
    /// edges changed.
    async fn send_lineage<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        source: &SourceInfo,
        current: Vec<Edge>,
    ) -> Result<usize, super::super::CaptureError> {
        let Some(state) = &mut self.lineage else {
            return Ok(0);
        };
        let changes = state.diff_replace(current);
        if changes.is_empty() {
            return Ok(0);
        }
        let (service, database) = (self.scope.service.as_str(), source.database.as_str());
        let mut note =
            in_flight::InFlight::load(store, service, database, in_flight::CATALOG_PART).await?;
        if note.note(Vec::new(), state.sent_ahead(&changes, false)) {
            note.save(store, service, database, in_flight::CATALOG_PART)
                .await?;
        }
        let records = edges::outbound(&changes, source, crate::event::now_millis());
        sink.send(&records).await?;
        crate::telemetry::metrics().count_sent(&records);
        state.apply(&changes, false);
        let (s, d, saved) = (service.to_owned(), database.to_owned(), state.clone());
        store
            .blocking(move |st| st.save_part(&s, &d, super::CATALOG_LINEAGE_PART, &saved))
            .await?;
        note.clear(store, service, database, in_flight::CATALOG_PART)
            .await?;
        Ok(changes.len())
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
