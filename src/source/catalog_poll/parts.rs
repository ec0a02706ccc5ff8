//! The full read of a large catalog, part by part (see `pg::catalog::FullReadParts`): the
//! rest of the catalog (database, schemas, routines, and every drop) is diffed, sent and
//! saved first, then each part of the relations in turn, so a consumer still meets a schema
//! before its tables and a parent before its partitions. Each part keeps the poll's
//! invariant on its own (send, then save). The view and routine lineage of all parts is
//! sent after the last one, when both ends of every edge were sent. A shutdown stops the read
//! between two parts: what was sent is saved, and the next read begins again.

use super::full_read::{self, FullReadTask};
use super::{CatalogPollSource, Coverage, PollReport, Sent, in_flight};
use crate::checkpoint::CheckpointStore;
use crate::event::{CaptureMode, SourceInfo};
use crate::lineage::edges::{self, Edge, catalog_edges};
use crate::sink::Sink;
use std::collections::HashSet;

impl CatalogPollSource {
    /// Diffs, sends and saves the rest of the catalog and then each part of its relations as
    /// `read` hands them over, then their lineage.
    pub(super) async fn send_parts<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
        rest: full_read::Rest,
        read: &mut FullReadTask,
    ) -> Result<Sent, super::super::CaptureError> {
        let full_read::Rest {
            snapshot: rest,
            resolver,
            parts: parts_left,
        } = rest;
        let database = self.database().to_owned();
        tracing::info!(database = %database, parts = parts_left, "reading the catalog's relations in parts");
        crate::telemetry::metrics()
            .catalog_reads
            .with_label_values(&["full"])
            .inc();
        let source = self.source_info(&rest, mode);
        self.routine_bodies = rest.routines.iter().any(|r| r.body.is_some());
        let mut lineage: Vec<Edge> = Vec::new();
        if let (Some(_), Some(relations)) = (&self.lineage, &resolver) {
            let (edges, _) = catalog_edges(&rest, &self.scope.service, None, Some(relations));
            lineage.extend(edges);
        }
        drop(resolver);
        let mut total = match self
            .diff_send(sink, store, mode, rest, Coverage::Rest)
            .await?
        {
            Sent::Report(report) => report,
            waits => return Ok(waits),
        };
        let mut parts = 0;
        loop {
            // Between two parts, each sent and saved: where a shutdown stops the read.
            if self.shutdown.as_ref().is_some_and(|s| s.is_triggered()) {
                tracing::info!(database = %database, parts_sent = parts, parts_left = parts_left - parts, "shutting down between two parts of the full read; the next read reads the rest");
                return Ok(Sent::Report(PollReport {
                    parts,
                    stopped: true,
                    ..total
                }));
            }
            let (mut part, last) = match read.next().await {
                Some(full_read::Item::Part { part, last }) => (part, last),
                Some(full_read::Item::Committed) => break,
                Some(full_read::Item::Failed(e)) => return Err(e.into()),
                Some(other) => unreachable!("a full read in parts handed over {other:?}"),
                None => return Err(full_read::ended(&self.target.to_string()).into()),
            };
            parts += 1;
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
            match self
                .diff_send(sink, store, mode, part.snapshot, Coverage::Part { last })
                .await?
            {
                Sent::Report(report) => {
                    total.changes += report.changes;
                    total.records += report.records;
                }
                waits => return Ok(waits),
            }
        }
        total.lineage_changes = self.send_lineage(sink, store, &source, lineage).await?;
        Ok(Sent::Report(PollReport {
            unchanged: false,
            targeted: false,
            parts,
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
