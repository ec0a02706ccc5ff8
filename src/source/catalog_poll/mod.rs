//! The catalog poller: read the catalog, diff it against what was emitted, send the changes,
//! and only then remember them.
//!
//! ```text
//!  signature ──same──► done (one row when no transaction ended; see pg::catalog::signature)
//!      │changed
//!      ▼
//!  read snapshot ─► diff(state) ─► events ─► sink.send (acks=all) ─► commit to the state store
//! ```
//! Invariant: the state store never runs ahead of the sink. A crash between send and save makes
//! the next run send the same changes again, with the same event ids (at least once). What the
//! source dropped or renamed again meanwhile is retracted: before the send, the names and edges
//! the state does not hold yet are written down (`in_flight`), and cleared after the save.
//!
//! The emitted state is read from the store only when the catalog changed, and only what the
//! diff needs (every head on a full read; on a targeted read the heads of what it read and
//! checked; the digests of what changed), and dropped after the commit: an idle capture of a
//! 10,000-table database holds none of its digests.

mod full_read;
mod kept_signature;
mod parts;

use super::in_flight::{self, InFlight};
use crate::checkpoint::{CheckpointStore, Commit, Durability};
use crate::config::ProtectedObject;
use crate::diff::{
    DiffOptions, EntityKey, diff, outbound, retraction_records, retractions, sent_ahead,
    snapshot_keys,
};
use crate::event::LineageOrigin;
use crate::event::{CaptureMode, SourceInfo};
use crate::lineage::TableName;
use crate::lineage::edges::{self, LineageState, catalog_edges, table_fqn};
use crate::model::CatalogSnapshot;
use crate::pg::catalog::{CatalogRead, CatalogScope, CatalogSignature, TargetedRead, read_touched};
use crate::pg::ddl_trigger::{self, PRUNE_HORIZON};
use crate::pg::touched::Touched;
use crate::pg::{PgError, PgTarget};
use crate::shutdown::Shutdown;
use crate::sink::Sink;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tokio_postgres::Client;

/// How often a read that collided with concurrent DDL is repeated at once before the poll
/// gives up until the next interval.
const CONCURRENT_DDL_RETRIES: u32 = 3;

#[derive(Debug)]
pub struct CatalogPollSource {
    target: PgTarget,
    scope: Arc<CatalogScope>,
    client: Option<Client>,
    /// The catalog as the last full read saw it.
    signature: Option<CatalogSignature>,
    diff_options: DiffOptions,
    /// View and routine lineage sent; `None` when lineage is disabled.
    lineage: Option<LineageState>,
    /// Tables and columns whose BREAKING changes violate a contract.
    protected: Arc<Vec<ProtectedObject>>,
    /// Whether the last full read had routine bodies (whose lineage resolves relation names).
    routine_bodies: bool,
    /// A snapshot of a past check and when it was taken: the horizon up to which the DDL
    /// markers are pruned once it is old enough (see `pg::ddl_trigger::prune`).
    marker_horizon: Option<(Instant, String)>,
    /// Checked between two parts of a full read in parts (see `parts`): a shutdown stops the
    /// read there rather than after the whole catalog.
    shutdown: Option<Shutdown>,
}

/// The state part holding the view and routine lineage edges sent.
pub const CATALOG_LINEAGE_PART: &str = "lineage-catalog";

/// What [`CatalogPollSource::diff_send`] did.
enum Sent {
    Report(PollReport),
    /// Nothing, for the reason given: what a targeted read's diff found only the full read
    /// can finish (a relation's name changed, which changes routine lineage; names sent ahead
    /// of a crash wait for their retraction).
    NeedsFullRead(&'static str),
}

/// A targeted read's own (see `TargetedRead::Snapshot`).
struct Targeted {
    views: HashSet<i64>,
    checked: Vec<EntityKey>,
}

/// What [`CatalogPollSource::read_full`]'s read came to.
enum FullRead {
    Read(CatalogRead),
    /// Read in parts, each sent as it was read.
    Parts(Result<Sent, super::CaptureError>, CatalogSignature),
    Failed(PgError),
}

/// What a snapshot handed to [`CatalogPollSource::diff_send`] covers.
enum Coverage {
    /// The whole catalog.
    Whole,
    /// What a targeted read read.
    Targeted(Targeted),
    /// The full read in parts (see `parts`): the catalog without its relations, diffed
    /// against every head (so it finds everything dropped) ...
    Rest,
    /// ... then each part of the relations, alone, against their heads; the last one marks
    /// the state begun. Their lineage is sent after the last part.
    Part { last: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub database: String,
    /// The catalog signature was unchanged: no snapshot was read.
    pub unchanged: bool,
    /// Only what the DDL touched was read (see `pg::catalog::read_touched`), not the whole
    /// catalog.
    pub targeted: bool,
    /// How many parts the full read read the relations in (see `parts`); 0 when it read them
    /// whole, or read none.
    pub parts: usize,
    pub changes: usize,
    /// Metadata records written, tombstones included.
    pub records: usize,
    /// Lineage edges created, updated or deleted.
    pub lineage_changes: usize,
    /// A shutdown stopped the full read in parts between two parts: the parts counted were
    /// sent and saved, the rest (and the catalog's lineage) waits for the next read.
    pub stopped: bool,
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
            signature: None,
            diff_options,
            lineage,
            protected,
            routine_bodies: false,
            marker_horizon: None,
            shutdown: None,
        }
    }

    /// Stops a full read in parts between two parts once `shutdown` is triggered.
    pub fn with_shutdown(mut self, shutdown: Option<Shutdown>) -> Self {
        self.shutdown = shutdown;
        self
    }

    pub fn database(&self) -> &str {
        self.target.dbname()
    }

    /// The catalog connection, connecting again when it is closed or was never made; handed
    /// back into `self.client` after the read unless it closed.
    async fn take_client(&mut self) -> Result<Client, PgError> {
        match self.client.take() {
            Some(c) if !c.is_closed() => Ok(c),
            _ => self.target.connect().await,
        }
    }

    /// Where the events made of `snapshot` come from.
    fn source_info(&self, snapshot: &CatalogSnapshot, mode: CaptureMode) -> SourceInfo {
        SourceInfo {
            service: self.scope.service.clone(),
            database: snapshot.database.name.clone(),
            server_version: snapshot.server_version.clone(),
            capture_mode: mode,
            pgmeta_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    pub async fn poll<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
    ) -> Result<PollReport, super::CaptureError> {
        let report = self.read_and_emit(sink, store, CaptureMode::Poll).await?;
        self.prune_markers().await;
        Ok(report)
    }

    /// Prunes the DDL markers (see `pg::ddl_trigger`) up to a snapshot this poller took
    /// [`PRUNE_HORIZON`] ago or more, and takes the current one as the next horizon. A failure
    /// costs nothing but table size: it is logged and the next poll tries again.
    async fn prune_markers(&mut self) {
        let Some(signature) = self.signature.as_ref().filter(|s| s.marked()) else {
            return;
        };
        let current = || Some((Instant::now(), signature.snapshot().to_owned()));
        let horizon = match &self.marker_horizon {
            Some((at, horizon)) if at.elapsed() >= PRUNE_HORIZON => horizon,
            Some(_) => return,
            None => {
                self.marker_horizon = current();
                return;
            }
        };
        let Some(client) = self.client.as_ref().filter(|c| !c.is_closed()) else {
            return;
        };
        match ddl_trigger::prune(client, &self.target.to_string(), horizon).await {
            Ok(pruned) => {
                tracing::debug!(database = %self.database(), pruned, "DDL markers of gone backends pruned");
                self.marker_horizon = current();
            }
            Err(e) => {
                tracing::warn!(database = %self.database(), error = %e, "pruning the DDL markers failed; the next poll tries again");
            }
        }
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
        self.read_and_emit_touched(sink, store, mode, None).await
    }

    /// [`CatalogPollSource::read_and_emit`] after DDL that `touched` describes: reads only what
    /// it can have changed (`pg::catalog::read_touched`), or everything when that cannot be
    /// narrowed down. Without `touched`, the full read.
    pub async fn read_and_emit_touched<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
        touched: Option<&Touched>,
    ) -> Result<PollReport, super::CaptureError> {
        let m = crate::telemetry::metrics();
        let timer = m.poll_duration.start_timer();
        let result = self.read_diff_send(sink, store, mode, touched).await;
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

    /// The targeted read of what `touched` names, or `None` when only the full read will do.
    async fn read_targeted(
        &mut self,
        touched: &Touched,
    ) -> Result<Option<(Box<CatalogSnapshot>, Targeted)>, super::CaptureError> {
        let label = self.target.to_string();
        let mut client = self.take_client().await?;
        let read = read_touched(&mut client, &label, &self.scope, touched).await;
        if !client.is_closed() {
            self.client = Some(client);
        }
        let m = crate::telemetry::metrics();
        match read {
            Ok(TargetedRead::Snapshot {
                snapshot,
                views,
                checked,
            }) => {
                m.catalog_reads.with_label_values(&["targeted"]).inc();
                Ok(Some((snapshot, Targeted { views, checked })))
            }
            Ok(TargetedRead::Everything(why)) => {
                tracing::debug!(database = %self.database(), why = %why, "DDL not narrowed to relations; reading the whole catalog");
                Ok(None)
            }
            // Changed again under the read: the full read's retries take it from here.
            Err(PgError::ConcurrentDdl { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_diff_send<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
        mut touched: Option<&Touched>,
    ) -> Result<PollReport, super::CaptureError> {
        if self.diff_options.full {
            touched = None;
        }
        loop {
            let sent = match touched {
                Some(t) => match self.read_targeted(t).await? {
                    Some((snapshot, targeted)) => {
                        let coverage = Coverage::Targeted(targeted);
                        self.diff_send(sink, store, mode, snapshot, coverage)
                            .await?
                    }
                    None => {
                        touched = None;
                        continue;
                    }
                },
                None => match self.read_full(sink, store, mode).await? {
                    Some((sent, signature)) => {
                        // A full read a shutdown stopped between two parts keeps no
                        // signature: the next read reads the whole catalog again.
                        if let Sent::Report(report) = &sent
                            && !report.stopped
                        {
                            self.keep_signature(store, &signature).await;
                            self.signature = Some(signature);
                            self.diff_options.full = false;
                        }
                        sent
                    }
                    None => {
                        return Ok(PollReport {
                            database: self.database().to_owned(),
                            unchanged: true,
                            targeted: false,
                            parts: 0,
                            changes: 0,
                            records: 0,
                            lineage_changes: 0,
                            stopped: false,
                        });
                    }
                },
            };
            match sent {
                Sent::Report(report) => return Ok(report),
                Sent::NeedsFullRead(why) => {
                    tracing::debug!(database = %self.database(), why, "reading the whole catalog");
                    touched = None;
                }
            }
        }
    }

    /// Reads the whole catalog (in parts when it is large, see `parts`), diffs it, sends the
    /// changes and remembers them; with the read's signature. `None` when the signature is
    /// unchanged.
    async fn read_full<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
    ) -> Result<Option<(Sent, CatalogSignature)>, super::CaptureError> {
        let label = self.target.to_string();
        let client = self.take_client().await?;
        // Names sent ahead of a crash are checked against every head and the whole catalog
        // at once, and a snapshot of everything again (`--full`) sends the database once:
        // then the read is not parted.
        let service = self.scope.service.clone();
        let in_flight =
            InFlight::load(store, &service, self.database(), in_flight::CATALOG_PART).await?;
        let mut scope = (*self.scope).clone();
        if !in_flight.is_empty() || self.diff_options.full {
            scope.part_relations = usize::MAX;
        }
        // A start compares the catalog with the signature kept with the state, if any.
        let last = match &self.signature {
            Some(signature) => Some(signature.clone()),
            None if in_flight.is_empty() && !self.diff_options.full => {
                self.kept_signature(store).await?
            }
            None => None,
        };
        // The read runs on its own task (see `full_read`), handing the connection back when
        // it ends.
        let mut read = full_read::spawn(
            client,
            label.clone(),
            self.database().to_owned(),
            scope,
            last,
            self.lineage.is_some(),
        );
        let read_or_sent = match read.next().await {
            Some(full_read::Item::Read(r)) => FullRead::Read(r),
            Some(full_read::Item::Rest { rest, signature }) => {
                let sent = self.send_parts(sink, store, mode, rest, &mut read).await;
                FullRead::Parts(sent, signature)
            }
            Some(full_read::Item::Failed(e)) => FullRead::Failed(e),
            Some(other) => unreachable!("a full read began with {other:?}"),
            None => FullRead::Failed(full_read::ended(&label)),
        };
        if let Some(client) = read.finish().await
            && !client.is_closed()
        {
            self.client = Some(client);
        }
        let read = read_or_sent;
        let (snapshot, signature) = match read {
            FullRead::Failed(e) => return Err(e.into()),
            FullRead::Parts(sent, signature) => return Ok(Some((sent?, signature))),
            FullRead::Read(CatalogRead::Changed {
                snapshot,
                signature,
            }) => (snapshot, signature),
            FullRead::Read(CatalogRead::Unchanged { signature, why }) => {
                if self.signature.is_none() {
                    tracing::info!(database = %self.database(), "catalog unchanged since the state was kept (same fingerprint): nothing to read");
                } else {
                    tracing::debug!(database = %self.database(), why = ?why, "catalog unchanged");
                }
                self.signature = Some(signature);
                return Ok(None);
            }
        };
        crate::telemetry::metrics()
            .catalog_reads
            .with_label_values(&["full"])
            .inc();
        self.routine_bodies = snapshot.routines.iter().any(|r| r.body.is_some());
        let sent = self
            .diff_send(sink, store, mode, snapshot, Coverage::Whole)
            .await?;
        Ok(Some((sent, signature)))
    }

    /// Diffs `snapshot` against the emitted state, sends the changes and remembers them.
    /// `coverage` says what the snapshot holds. A targeted read's (see `TargetedRead`) is
    /// diffed against the heads of what it read and checked, and [`Sent::NeedsFullRead`]
    /// comes back, sending nothing, when only the full read sees what the change means; so
    /// does a part of the full read in parts when names sent ahead of a crash wait.
    async fn diff_send<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
        snapshot: Box<CatalogSnapshot>,
        coverage: Coverage,
    ) -> Result<Sent, super::CaptureError> {
        // A part's lineage waits for the last part; only the last part finishes a first
        // snapshot.
        let (views, checked, in_parts, finishes) = match coverage {
            Coverage::Whole => (None, None, false, true),
            Coverage::Targeted(Targeted { views, checked }) => {
                (Some(views), Some(checked), false, true)
            }
            Coverage::Rest => (None, None, true, false),
            Coverage::Part { last } => (None, Some(Vec::new()), true, last),
        };
        let database = self.database().to_owned();

        tracing::info!(
            database = %database,
            schemas = snapshot.schemas.len(),
            tables = snapshot.tables.len(),
            routines = snapshot.routines.len(),
            "catalog read; diffing against the emitted state"
        );
        let source = self.source_info(&snapshot, mode);
        // Edges are made before the diff takes the snapshot; a targeted read's only for the
        // views it read whole, and they replace only those views' edges (see below).
        let current = self.lineage.as_ref().filter(|_| !in_parts).map(|_| {
            let (current, unparsed) =
                catalog_edges(&snapshot, &self.scope.service, views.as_ref(), None);
            if unparsed > 0 {
                tracing::debug!(database = %database, unparsed, "view definitions or routine statements without parsed lineage");
            }
            current
        });
        let read_views: HashSet<String> = match &views {
            Some(views) => snapshot
                .tables
                .iter()
                .filter(|t| views.contains(&t.oid))
                .filter_map(|t| {
                    table_fqn(
                        &self.scope.service,
                        &snapshot.database.name,
                        &TableName::new(&t.schema, &t.name),
                    )
                })
                .map(|f| f.as_str().to_owned())
                .collect(),
            None => HashSet::new(),
        };
        let service = self.scope.service.as_str();
        let mut in_flight =
            InFlight::load(store, service, &database, in_flight::CATALOG_PART).await?;
        // Names sent ahead of a crash are checked against every head: a full read's job.
        if checked.is_some() && !in_flight.entities.is_empty() {
            return Ok(Sent::NeedsFullRead(
                "names sent before a crash are retracted",
            ));
        }
        let (service, name) = (self.scope.service.clone(), database.clone());
        let mut state = match checked {
            Some(mut keys) => {
                keys.extend(snapshot_keys(&snapshot));
                store
                    .blocking(move |s| s.load_heads_of(&service, &name, &keys))
                    .await?
            }
            None => {
                store
                    .blocking(move |s| s.load_heads(&service, &name))
                    .await?
            }
        };
        let emitted_at = crate::event::now_millis();
        // No state (first start, or lost): a new epoch, later than any before it.
        if state.epoch == 0 {
            state.epoch = emitted_at;
            // Saved before anything is sent under it: a crash after the send must repeat the
            // same events (same ids) under the same epoch.
            let (service, name) = (self.scope.service.clone(), database.clone());
            let (initialized, epoch) = (state.initialized, state.epoch);
            store
                .blocking(move |s| s.begin(&service, &name, initialized, epoch))
                .await?;
            tracing::info!(database = %database, epoch = state.epoch, "capture state begins a new epoch");
        }
        // The digests of what changed or is gone, read from the store off the runtime. The
        // diff itself stays on this thread: in a blocking thread a large snapshot's diff would
        // allocate from another jemalloc arena than the snapshot it frees, and the peak would
        // grow by the diff's size (150 MB at 10,000 tables).
        let sent: Vec<EntityKey> = in_flight.entities.iter().map(|s| s.key).collect();
        let keys = state.digests_to_load(&snapshot, &self.scope.service, sent);
        let (service, name) = (self.scope.service.clone(), database.clone());
        let state = store
            .blocking(move |s| {
                s.load_digests(&service, &name, &mut state, &keys)
                    .map(|()| state)
            })
            .await?;
        let mut diff = diff(&state, *snapshot, &self.scope.service, self.diff_options);
        let renamed_or_dropped: HashSet<String> = diff
            .changes
            .iter()
            .filter(|c| c.key.entity_type == crate::event::EntityType::Table)
            .filter_map(|c| match (c.op, &c.previous_fqn) {
                (crate::event::Op::Delete, _) => Some(c.fqn.as_str().to_owned()),
                (_, Some(previous)) => Some(previous.as_str().to_owned()),
                _ => None,
            })
            .collect();
        if views.is_some()
            && self.lineage.is_some()
            && self.routine_bodies
            && (!renamed_or_dropped.is_empty()
                || diff.changes.iter().any(|c| {
                    c.key.entity_type == crate::event::EntityType::Table
                        && c.op == crate::event::Op::Create
                }))
        {
            return Ok(Sent::NeedsFullRead(
                "a relation's name changed and routine lineage resolves names",
            ));
        }
        let mut lineage_changes = match (&self.lineage, current) {
            (Some(state), Some(current)) if views.is_some() => {
                state.diff_replace_within(current, |sent| {
                    sent.origin == LineageOrigin::View
                        && (read_views.contains(&sent.to) || renamed_or_dropped.contains(&sent.to))
                })
            }
            (Some(state), Some(current)) => state.diff_replace(current),
            _ => Vec::new(),
        };
        let service = self.scope.service.as_str();
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
        let noting = std::time::Instant::now();
        if noted {
            in_flight
                .save(store, service, &database, in_flight::CATALOG_PART)
                .await?;
        }
        let note_ms = noting.elapsed().as_millis();
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
        let sending = std::time::Instant::now();
        if !records.is_empty() {
            sink.send(&records).await?;
            crate::telemetry::metrics().count_sent(&records);
        }
        fail::fail_point!("capture-after-send-before-checkpoint");
        let (send_ms, saving) = (sending.elapsed().as_millis(), std::time::Instant::now());
        let dirty = !diff.changes.is_empty() || !diff.forgotten.is_empty() || !state.initialized;
        diff.keep_shapes_from(records);
        // The edges first: what was sent is saved whatever comes next, and the note, which
        // the state's commit clears, covers both until then.
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
        if dirty {
            let (service, name) = (self.scope.service.clone(), database.clone());
            let (epoch, initialized) = (state.epoch, state.initialized);
            // A DDL read through the replication stream commits without waiting for the disk:
            // the stream acknowledges its position only once the store flushed (see
            // `source::replication`), so a crash before then has the slot send the DDL again.
            let how = Commit {
                finishes,
                note: in_flight.to_clear(in_flight::CATALOG_PART),
                durability: match mode {
                    CaptureMode::Replication => Durability::Deferred,
                    _ => Durability::Immediate,
                },
            };
            let note = how.note;
            diff = store
                .blocking(move |s| {
                    s.commit(&service, &name, (epoch, initialized), &diff, how)
                        .map(|()| diff)
                })
                .await?;
            in_flight.committed(note);
        }
        in_flight
            .clear(store, service, &database, in_flight::CATALOG_PART)
            .await?;
        let save_ms = saving.elapsed().as_millis();
        tracing::info!(database = %database, changes = diff.changes.len(), records = metadata_records, lineage_changes = lineage_changes.len(), note_ms, send_ms, save_ms, "catalog poll emitted changes");
        Ok(Sent::Report(PollReport {
            database,
            unchanged: false,
            targeted: views.is_some(),
            parts: 0,
            changes: diff.changes.len(),
            records: metadata_records,
            lineage_changes: lineage_changes.len(),
            stopped: false,
        }))
    }
}
