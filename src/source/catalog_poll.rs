//! The catalog poller: read the catalog, diff it against what was emitted, send the changes,
//! and only then remember them.
//!
//! ```text
//!  fingerprint ──same──► done (one cheap query)
//!      │changed
//!      ▼
//!  read snapshot ─► diff(state) ─► events ─► sink.send (acks=all) ─► state.apply ─► state file
//! ```
//! Invariant: the state file never runs ahead of the sink. A crash between send and save makes
//! the next run send the same changes again, with the same event ids (at least once). What the
//! source dropped or renamed again meanwhile is retracted: before the send, the names and edges
//! the state does not hold yet are written down (`in_flight`), and cleared after the save.
//!
//! The emitted state is read from its file only when the catalog changed and dropped after the
//! save: an idle capture of a 10,000-table database holds none of its 140,000 digests.

use super::in_flight::{self, InFlight};
use crate::checkpoint::CheckpointStore;
use crate::config::ProtectedObject;
use crate::diff::{DiffOptions, diff, outbound, retraction_records, retractions, sent_ahead};
use crate::event::{CaptureMode, SourceInfo};
use crate::lineage::edges::{self, LineageState, catalog_edges};
use crate::pg::catalog::{CatalogRead, CatalogScope, read_catalog};
use crate::pg::{PgError, PgTarget};
use crate::sink::Sink;
use std::sync::Arc;
use tokio_postgres::Client;

/// How often a read that collided with concurrent DDL is repeated at once before the poll
/// gives up until the next interval.
const CONCURRENT_DDL_RETRIES: u32 = 3;

#[derive(Debug)]
pub struct CatalogPollSource {
    target: PgTarget,
    scope: Arc<CatalogScope>,
    client: Option<Client>,
    fingerprint: Option<String>,
    diff_options: DiffOptions,
    /// View and routine lineage sent; `None` when lineage is disabled.
    lineage: Option<LineageState>,
    /// Tables and columns whose BREAKING changes violate a contract.
    protected: Arc<Vec<ProtectedObject>>,
}

/// The state part holding the view and routine lineage edges sent.
pub const CATALOG_LINEAGE_PART: &str = "lineage-catalog";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub database: String,
    /// The catalog signature was unchanged: no snapshot was read.
    pub unchanged: bool,
    pub changes: usize,
    /// Metadata records written, tombstones included.
    pub records: usize,
    /// Lineage edges created, updated or deleted.
    pub lineage_changes: usize,
}

impl CatalogPollSource {
    pub fn new(
        target: PgTarget,
        scope: Arc<CatalogScope>,
        diff_options: DiffOptions,
        lineage: Option<LineageState>,
        protected: Arc<Vec<ProtectedObject>>,
    ) -> Self {
        CatalogPollSource {
            target,
            scope,
            client: None,
            fingerprint: None,
            diff_options,
            lineage,
            protected,
        }
    }

    pub fn database(&self) -> &str {
        self.target.dbname()
    }

    pub async fn poll<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
    ) -> Result<PollReport, super::CaptureError> {
        self.read_and_emit(sink, store, CaptureMode::Poll).await
    }

    /// Reads the catalog (unless its signature is unchanged), emits the difference to what was
    /// emitted before, and remembers it once the sink acknowledged. `mode` says what prompted
    /// the read, for the events' `source.capture_mode`.
    pub async fn read_and_emit<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
    ) -> Result<PollReport, super::CaptureError> {
        let m = crate::telemetry::metrics();
        let timer = m.poll_duration.start_timer();
        let result = self.read_diff_send(sink, store, mode).await;
        timer.observe_duration();
        let outcome = match &result {
            Ok(r) if r.unchanged => "unchanged",
            Ok(_) => "changed",
            Err(_) => "error",
        };
        m.polls.with_label_values(&[outcome]).inc();
        if let Err(e) = &result {
            e.count("catalog");
        }
        if result.is_ok() {
            m.last_success
                .set(crate::event::now_millis() as f64 / 1000.0);
        }
        result
    }

    async fn read_diff_send<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
    ) -> Result<PollReport, super::CaptureError> {
        let label = self.target.to_string();
        let client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => self.target.connect().await?,
        };
        let mut client = client;
        let mut attempt = 0;
        let read = loop {
            match read_catalog(
                &mut client,
                &label,
                &self.scope,
                self.fingerprint.as_deref(),
            )
            .await
            {
                Err(PgError::ConcurrentDdl { what }) if attempt < CONCURRENT_DDL_RETRIES => {
                    attempt += 1;
                    tracing::info!(database = %self.database(), attempt, what = %what, "catalog changed during the read, reading again");
                }
                Err(e) => {
                    if !client.is_closed() {
                        self.client = Some(client);
                    }
                    let e = match e {
                        PgError::ConcurrentDdl { what } => PgError::ConcurrentDdl {
                            what: format!(
                                "{what}; read {} times, changing each time; the next poll reads again",
                                attempt + 1
                            ),
                        },
                        other => other,
                    };
                    return Err(e.into());
                }
                Ok(read) => break read,
            }
        };
        self.client = Some(client);
        let database = self.database().to_owned();
        let CatalogRead::Changed {
            snapshot,
            fingerprint,
        } = read
        else {
            return Ok(PollReport {
                database,
                unchanged: true,
                changes: 0,
                records: 0,
                lineage_changes: 0,
            });
        };

        tracing::info!(
            database = %database,
            schemas = snapshot.schemas.len(),
            tables = snapshot.tables.len(),
            routines = snapshot.routines.len(),
            "catalog read; diffing against the emitted state"
        );
        let source = SourceInfo {
            service: self.scope.service.clone(),
            database: snapshot.database.name.clone(),
            server_version: snapshot.server_version.clone(),
            capture_mode: mode,
            pgmeta_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let mut lineage_changes = match &self.lineage {
            Some(state) => {
                let (current, unparsed) = catalog_edges(&snapshot, &self.scope.service);
                if unparsed > 0 {
                    tracing::debug!(database = %database, unparsed, "view definitions or routine statements without parsed lineage");
                }
                state.diff_replace(current)
            }
            None => Vec::new(),
        };
        let (service, name) = (self.scope.service.clone(), database.clone());
        let mut state = store.blocking(move |s| s.load(&service, &name)).await?;
        let service = self.scope.service.as_str();
        let mut in_flight =
            InFlight::load(store, service, &database, in_flight::CATALOG_PART).await?;
        let emitted_at = crate::event::now_millis();
        // No state (first start, or lost): a new epoch, later than any before it.
        if state.epoch == 0 {
            state.epoch = emitted_at;
            // Saved before anything is sent under it: a crash after the send must repeat the
            // same events (same ids) under the same epoch.
            let (service, name) = (self.scope.service.clone(), database.clone());
            state = store
                .blocking(move |s| s.save(&service, &name, &state).map(|()| state))
                .await?;
            tracing::info!(database = %database, epoch = state.epoch, "capture state begins a new epoch");
        }
        let mut diff = diff(&state, *snapshot, &self.scope.service, self.diff_options);
        let mut retracted = retractions(&state, &diff, &in_flight.entities, self.diff_options);
        if let Some(lineage) = &self.lineage {
            let edges = lineage.retractions(&in_flight.edges, &lineage_changes);
            lineage_changes.extend(edges);
        }
        if !retracted.is_empty() {
            tracing::info!(database = %database, retracted = retracted.len(), "names sent before a crash and gone since are retracted");
        }
        // Written down before the send: what the state does not hold yet.
        let noted = in_flight.note(
            sent_ahead(&state, &diff.changes),
            self.lineage
                .as_ref()
                .map(|l| l.sent_ahead(&lineage_changes, false))
                .unwrap_or_default(),
        );
        if noted {
            in_flight
                .save(store, service, &database, in_flight::CATALOG_PART)
                .await?;
        }
        let mut records = retraction_records(&mut retracted, &source, emitted_at);
        records.extend(outbound(&mut diff.changes, &source, emitted_at));
        let metadata_records = records.len();
        // After the metadata, so a consumer knows both ends of an edge when it arrives.
        records.extend(edges::outbound(&lineage_changes, &source, emitted_at));
        // Then what the changes mean downstream, through the lineage sent before them.
        if diff.changes.iter().any(|c| !c.schema_changes.is_empty()) {
            let (service, name) = (self.scope.service.clone(), database.clone());
            let query: LineageState = store
                .blocking(move |s| s.load_part(&service, &name, super::QUERY_LINEAGE_PART))
                .await?;
            let sent: Vec<&edges::SentEdge> = self
                .lineage
                .iter()
                .chain(std::iter::once(&query))
                .flat_map(|l| l.edges.values())
                .collect();
            let events = super::schema_changes::events(
                &diff.changes,
                &sent,
                &self.protected,
                &source,
                emitted_at,
            );
            records.extend(
                events
                    .into_iter()
                    .map(|e| crate::event::Outbound::SchemaChange(Box::new(e))),
            );
        }
        if !records.is_empty() {
            sink.send(&records).await?;
            crate::telemetry::metrics().count_sent(&records);
        }
        fail::fail_point!("capture-after-send-before-checkpoint");
        let dirty = !diff.changes.is_empty() || !diff.forgotten.is_empty() || !state.initialized;
        diff.keep_shapes_from(records);
        state.apply(&mut diff);
        if dirty {
            let (service, name) = (self.scope.service.clone(), database.clone());
            store
                .blocking(move |s| s.save(&service, &name, &state))
                .await?;
        }
        if let Some(state) = &mut self.lineage {
            if !lineage_changes.is_empty() {
                state.apply(&lineage_changes, false);
                let (service, name, state) =
                    (self.scope.service.clone(), database.clone(), state.clone());
                store
                    .blocking(move |s| s.save_part(&service, &name, CATALOG_LINEAGE_PART, &state))
                    .await?;
            }
        }
        in_flight
            .clear(store, service, &database, in_flight::CATALOG_PART)
            .await?;
        self.fingerprint = Some(fingerprint);
        self.diff_options.full = false;
        tracing::info!(database = %database, changes = diff.changes.len(), records = metadata_records, lineage_changes = lineage_changes.len(), "catalog poll emitted changes");
        Ok(PollReport {
            database,
            unchanged: false,
            changes: diff.changes.len(),
            records: metadata_records,
            lineage_changes: lineage_changes.len(),
        })
    }
}
