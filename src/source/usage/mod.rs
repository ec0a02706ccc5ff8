//! The usage poller: reads `pg_stat_statements`, sends the bucket since the previous read
//! (per table and per statement) and the lineage of the statements it has not seen before,
//! and only then remembers the read as the next baseline.
//!
//! ```text
//!  read pg_stat_statements ─► deltas vs baseline ─► parse new statements (cached) ─► usage + lineage events
//!                                                                                     │ acknowledged
//!                                                      usage/lineage state files ◄────┘
//! ```
//! A crash before the save repeats the bucket with the same `bucket_start` and a later end;
//! the topic's contract is that the latest record of a (key, bucket_start) supersedes.

mod parsed;

use super::in_flight::{self, InFlight};
use crate::checkpoint::CheckpointStore;
use crate::event::{
    CaptureMode, LineageOrigin, Outbound, QueryUsage, SourceInfo, UsageEvent, UsageKind,
};
use crate::lineage::edges::{self, LineageState, table_fqn};
use crate::lineage::{RelationNames, Resolver, StatementLineage, TableName, mask_literals};
use crate::model::Fqn;
use crate::pg::PgTarget;
use crate::pg::catalog::{
    CatalogScope, CatalogSignature, read_relation_names, read_relations, read_signature,
};
use crate::pg::stat_statements::{self, StatStatementsError};
use crate::sink::Sink;
use crate::usage::aggregate::TableRef;
use crate::usage::{DeltaReport, Reading, TableStatement, UsageState, compute, table_usage};
use parsed::{Parsed, ParsedStatement};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio_postgres::Client;

pub const USAGE_PART: &str = "usage";
pub const QUERY_LINEAGE_PART: &str = "lineage-query";

#[derive(Debug)]
pub struct UsageSource {
    target: PgTarget,
    scope: Arc<CatalogScope>,
    client: Option<Client>,
    server_version: String,
    /// Where pg_stat_statements is on the current connection.
    layout: Option<stat_statements::Layout>,
    state: UsageState,
    /// `None` when lineage is disabled.
    lineage: Option<LineageState>,
    /// The relations' names, and the catalog signature they were read at.
    relations: Option<Relations>,
    /// Parsed statements by (userid, queryid): each statement text is parsed once.
    parsed: Parsed,
    said_unavailable: bool,
    said_hidden: bool,
}

/// The relations statements resolve against, by name, as of a catalog signature. Columns
/// are read only for a poll that parses new statements, only of the relations those
/// statements' identifiers name (see `lineage::identifiers`), and dropped with it: an idle
/// capture holds the relations' FQNs alone, compactly.
#[derive(Debug)]
struct Relations {
    signature: CatalogSignature,
    names: RelationNames,
    /// The schemas holding relations (where an unqualified CREATE goes).
    schemas: Vec<String>,
}

/// What one usage poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageReport {
    pub database: String,
    /// pg_stat_statements cannot be read here (not installed, no privilege).
    pub unavailable: bool,
    /// The first read only sets the baseline.
    pub baseline_only: bool,
    pub table_events: usize,
    pub query_events: usize,
    pub lineage_changes: usize,
    pub reset_detected: bool,
    /// Calls in this bucket of statements that do not parse and name no relation of the
    /// catalog: no table got them.
    pub unattributed_calls: i64,
    /// Calls in this bucket of statements that do not parse, counted for the relations
    /// their text names.
    pub approximate_calls: i64,
}

impl UsageSource {
    pub fn new(
        target: PgTarget,
        scope: Arc<CatalogScope>,
        state: UsageState,
        lineage: Option<LineageState>,
    ) -> Self {
        UsageSource {
            target,
            scope,
            client: None,
            server_version: String::new(),
            layout: None,
            state,
            lineage,
            relations: None,
            parsed: Parsed::default(),
            said_unavailable: false,
            said_hidden: false,
        }
    }

    pub fn database(&self) -> &str {
        self.target.dbname()
    }

    pub async fn poll<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
    ) -> Result<UsageReport, super::CaptureError> {
        let m = crate::telemetry::metrics();
        let result = self.read_and_emit(sink, store).await;
        let outcome = match &result {
            Ok(r) if r.unavailable => "unavailable",
            Ok(_) => "ok",
            Err(_) => "error",
        };
        m.usage_polls.with_label_values(&[outcome]).inc();
        if let Err(e) = &result {
            e.count("usage");
        }
        tracing::debug!(database = %self.database(), outcome, "usage poll done");
        result
    }

    async fn read_and_emit<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
    ) -> Result<UsageReport, super::CaptureError> {
        let database = self.database().to_owned();
        let Some((reading, resolver)) = self.read().await? else {
            return Ok(UsageReport {
                database,
                unavailable: true,
                ..UsageReport::default()
            });
        };
        self.parsed.parse_new(&reading, resolver.as_ref());
        drop(resolver);
        let Some(relations) = &self.relations else {
            return Ok(UsageReport {
                database,
                ..UsageReport::default()
            });
        };
        let m = crate::telemetry::metrics();
        m.stat_statements_entries
            .set(i64::try_from(reading.entries().len()).unwrap_or(i64::MAX));

        let report = compute(&self.state, &reading);
        if report.reset {
            m.stat_statements_resets.inc();
        }
        m.stat_statements_deallocations
            .inc_by(u64::try_from(report.evicted).unwrap_or(0));
        let source = SourceInfo {
            service: self.scope.service.clone(),
            database: database.clone(),
            server_version: self.server_version.clone(),
            capture_mode: CaptureMode::Poll,
            pgmeta_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let service = self.scope.service.as_str();
        let table_ref = |t: &TableName| -> Option<TableRef> {
            let fqn = table_fqn(service, &database, t)?.to_string();
            if !relations.names.contains(&fqn) {
                return None;
            }
            Some(TableRef {
                fqn,
                schema: t.schema.clone()?,
                name: t.name.clone(),
            })
        };
        let emitted_at = crate::event::now_millis();
        let mut records = Vec::new();
        let mut out = UsageReport {
            database: database.clone(),
            baseline_only: report.bucket.is_none(),
            reset_detected: report.reset_detected,
            ..UsageReport::default()
        };
        let mut day_totals = self.state.day_totals.clone();
        let mut day_of_totals = self.state.day.clone();
        if let Some(bucket) = report.bucket {
            records = bucket_events(
                bucket,
                &report,
                &self.parsed,
                &table_ref,
                &source,
                emitted_at,
                (&mut day_of_totals, &mut day_totals),
                &mut out,
            );
        }

        let mut in_flight = InFlight::default();
        let lineage_changes = match &self.lineage {
            Some(state) => {
                in_flight =
                    InFlight::load(store, service, &database, in_flight::QUERY_PART).await?;
                let mut observed = self.query_edges(reading.entries(), relations, &database);
                let exists = |f: &str| relations.names.contains(f);
                // Sent before a crash kept the state from recording them: sent again while
                // both ends exist, retracted otherwise.
                observed.extend(
                    in_flight
                        .edges
                        .values()
                        .filter(|e| exists(&e.from) && exists(&e.to))
                        .map(edges::SentEdge::edge),
                );
                let mut changes = state.diff_accumulate(observed, &exists);
                let retracted = state.retractions(&in_flight.edges, &changes);
                changes.extend(retracted);
                if in_flight.note(Vec::new(), state.sent_ahead(&changes, true)) {
                    in_flight
                        .save(store, service, &database, in_flight::QUERY_PART)
                        .await?;
                }
                changes
            }
            None => Vec::new(),
        };
        records.extend(edges::outbound(&lineage_changes, &source, emitted_at));
        out.lineage_changes = lineage_changes.len();

        if !records.is_empty() {
            sink.send(&records).await?;
            m.count_sent(&records);
        }
        fail::fail_point!("usage-after-send-before-checkpoint");
        let ran: Option<(i64, HashSet<String>)> = report.bucket.map(|(_, end)| {
            let ids = report
                .deltas
                .iter()
                .filter(|d| d.calls > 0)
                .map(|d| d.entry.queryid.to_string())
                .collect();
            (end, ids)
        });
        self.state = report.next;
        self.state.day = day_of_totals;
        self.state.day_totals = day_totals;
        let (service, name, usage) = (
            self.scope.service.clone(),
            database.clone(),
            self.state.clone(),
        );
        store
            .blocking(move |s| s.save_part(&service, &name, USAGE_PART, &usage))
            .await?;
        if let Some(state) = &mut self.lineage {
            state.apply(&lineage_changes, true);
            // When each statement's edges last ran: a schema change's impact says so.
            let moved = match ran {
                Some((at, ran)) => state.mark_seen(&ran, at),
                None => false,
            };
            if !lineage_changes.is_empty() || moved {
                let (service, name, state) =
                    (self.scope.service.clone(), database.clone(), state.clone());
                store
                    .blocking(move |s| s.save_part(&service, &name, QUERY_LINEAGE_PART, &state))
                    .await?;
            }
        }
        in_flight
            .clear(store, &self.scope.service, &database, in_flight::QUERY_PART)
            .await?;
        if !records.is_empty() {
            tracing::info!(database = %database, table_events = out.table_events, query_events = out.query_events, lineage_changes = out.lineage_changes, reset_detected = out.reset_detected, "usage poll emitted");
        }
        if out.unattributed_calls > 0 {
            tracing::warn!(database = %database, calls = out.unattributed_calls, "usage: calls of statements that do not parse and name no table count for no table (their QUERY events carry parse_error; every event of the bucket carries unattributed_calls)");
        }
        // Counted once the bucket is delivered: a failed send repeats the bucket.
        crate::telemetry::metrics()
            .usage_unattributed_calls
            .inc_by(u64::try_from(out.unattributed_calls).unwrap_or(0));
        Ok(out)
    }

    /// Reads the view (connecting when needed) and refreshes the relations its statements
    /// resolve against, with the resolver to parse new statements with (see
    /// [`UsageSource::refresh_relations`]); `None` when pg_stat_statements cannot be read here
    /// (said once).
    async fn read(&mut self) -> Result<Option<(Reading, Option<Resolver>)>, super::CaptureError> {
        let label = self.target.to_string();
        let client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => {
                self.layout = None;
                let c = self.target.connect().await?;
                self.server_version = c
                    .query_one("SELECT current_setting('server_version')", &[])
                    .await
                    .map(|r| r.get(0))
                    .unwrap_or_default();
                c
            }
        };
        let reading = match stat_statements::read(&client, &label, &mut self.layout).await {
            Ok(r) => r,
            Err(e) => {
                // The extension may be created, dropped or moved before the next try.
                self.layout = None;
                if !client.is_closed() {
                    self.client = Some(client);
                }
                return match e {
                    e if e.is_unavailable() => {
                        if !self.said_unavailable {
                            tracing::warn!(database = %self.database(), reason = %e, "usage and query lineage unavailable; the rest of the capture goes on");
                            self.said_unavailable = true;
                        }
                        Ok(None)
                    }
                    StatStatementsError::Pg(e) => Err(e.into()),
                    StatStatementsError::NotInstalled { .. } => Ok(None),
                };
            }
        };
        self.said_unavailable = false;
        if reading.hidden > 0 && !self.said_hidden {
            tracing::warn!(database = %self.database(), hidden = reading.hidden, "statements of other roles are hidden from this role: GRANT pg_read_all_stats TO <capture role> to count them");
            self.said_hidden = true;
        }
        let resolver = self.refresh_relations(&client, &label, &reading).await?;
        self.client = Some(client);
        Ok(Some((reading, resolver)))
    }

    /// Reads the relations' names again when the catalog signature changed (and then every
    /// statement is parsed again: a name that did not resolve may now), and, when `reading`
    /// has statements not parsed yet, the columns of the relations they name: the resolver to
    /// parse them with, `None` when nothing is to be parsed.
    async fn refresh_relations(
        &mut self,
        client: &Client,
        label: &str,
        reading: &Reading,
    ) -> Result<Option<Resolver>, super::CaptureError> {
        let last = self.relations.as_ref().map(|r| &r.signature);
        let (signature, unchanged) = read_signature(client, label, last).await?;
        // Changed: the old names go first, the new ones take their place instead of beside them.
        let kept = match unchanged {
            Some(_) => self.relations.take(),
            None => None,
        };
        self.relations = None;
        let relations = match kept {
            Some(relations) => Relations {
                signature,
                ..relations
            },
            None => {
                let (mut names, mut schemas) = (Vec::new(), BTreeSet::new());
                let database = self.database();
                read_relation_names(client, label, &self.scope, database, |schema, name| {
                    if !schemas.contains(schema) {
                        schemas.insert(schema.to_owned());
                    }
                    names.push(RelationNames::relation(schema, name));
                })
                .await?;
                let database = Fqn::new([self.scope.service.as_str(), database]);
                self.parsed.clear();
                Relations {
                    signature,
                    names: RelationNames::from_relations(&database, names),
                    schemas: schemas.into_iter().collect(),
                }
            }
        };
        let relations = self.relations.insert(relations);
        let mut named = HashSet::new();
        let mut new = false;
        for e in reading.entries() {
            if !self.parsed.contains(&(e.userid, e.queryid)) {
                crate::lineage::identifiers(&e.query, &mut named);
                new = true;
            }
        }
        if !new {
            return Ok(None);
        }
        let resolver =
            read_relations(client, label, &self.scope, &named, &relations.schemas).await?;
        Ok(Some(resolver))
    }

    /// Lineage edges of the statements in the view, with `ALTER TABLE ... RENAME` among them
    /// followed (dbt's `x__dbt_tmp` renamed to `x`).
    fn query_edges(
        &self,
        entries: &[stat_statements::Entry],
        relations: &Relations,
        database: &str,
    ) -> Vec<edges::Edge> {
        let service = self.scope.service.as_str();
        let mut renames: HashMap<TableName, TableName> = HashMap::new();
        for l in self.parsed.lineages() {
            for (from, to) in &l.renames {
                renames.insert(from.clone(), to.clone());
            }
        }
        let fqn = |t: &TableName| {
            table_fqn(service, database, t).filter(|f| relations.names.contains(f.as_str()))
        };
        let exists = |t: &TableName| fqn(t).is_some();
        let mut out = Vec::new();
        for e in entries {
            let Some(Ok(ParsedStatement {
                lineage: Some(lineage),
                ..
            })) = self.parsed.get(&(e.userid, e.queryid))
            else {
                continue;
            };
            let mut lineage = StatementLineage::clone(lineage);
            edges::follow_renames(&mut lineage, &renames, &exists);
            for mut edge in edges::statement_edges(
                &lineage,
                LineageOrigin::Query,
                &mask_literals(&e.query),
                None,
                &fqn,
            ) {
                edge.queryids.insert(e.queryid.to_string());
                out.push(edge);
            }
        }
        out
    }
}

/// The events of one bucket: one per statement and role, one per table (with the day's
/// running total), each saying how many of the bucket's calls went to no table.
#[allow(clippy::too_many_arguments)]
fn bucket_events(
    (start, end): (i64, i64),
    report: &DeltaReport,
    parsed: &Parsed,
    table_ref: &dyn Fn(&TableName) -> Option<TableRef>,
    source: &SourceInfo,
    emitted_at: i64,
    (day_of_totals, day_totals): (&mut String, &mut BTreeMap<String, i64>),
    out: &mut UsageReport,
) -> Vec<Outbound> {
    let mut records = Vec::new();
    let mut statements = Vec::new();
    for d in &report.deltas {
        let parsed = parsed.get(&(d.entry.userid, d.entry.queryid));
        let unparsed = parsed.and_then(|p| p.as_ref().err());
        let (reads, writes): (BTreeSet<TableRef>, BTreeSet<TableRef>) = match parsed {
            Some(Ok(p)) => (
                p.reads.iter().filter_map(table_ref).collect(),
                p.writes.iter().filter_map(table_ref).collect(),
            ),
            // Named in the text; whether read or written is unknown.
            Some(Err(u)) => (
                u.named.iter().filter_map(table_ref).collect(),
                BTreeSet::new(),
            ),
            None => (BTreeSet::new(), BTreeSet::new()),
        };
        if unparsed.is_some() {
            if reads.is_empty() {
                out.unattributed_calls += d.calls;
            } else {
                out.approximate_calls += d.calls;
            }
        }
        let tables: BTreeSet<String> = reads.iter().chain(&writes).map(|t| t.fqn.clone()).collect();
        let query = QueryUsage {
            queryid: d.entry.queryid.to_string(),
            role: d.entry.role.clone(),
            toplevel: d.entry.toplevel,
            // Utility statements keep their literals in pg_stat_statements (see `mask`).
            query: edges::truncate(&mask_literals(&d.entry.query)),
            calls: d.calls,
            total_exec_time_ms: d.total_time_ms,
            mean_exec_time_ms: d.total_time_ms / d.calls as f64,
            rows: d.rows,
            approximate: unparsed.is_some() && !tables.is_empty(),
            tables: tables.into_iter().collect(),
            parse_error: unparsed.map(|u| u.error.clone()),
        };
        let mut event = UsageEvent {
            event_id: String::new(),
            emitted_at,
            source: source.clone(),
            kind: UsageKind::Query,
            bucket_start: start,
            bucket_end: end,
            reset_detected: report.reset_detected,
            unattributed_calls: 0,
            table: None,
            query: Some(query),
        };
        event.event_id = UsageEvent::id_for(UsageKind::Query, &event.key(), start);
        records.push(Outbound::Usage(Box::new(event)));
        out.query_events += 1;
        statements.push(TableStatement {
            delta: d,
            reads,
            writes,
            approximate: unparsed.is_some(),
        });
    }
    let day = crate::event::utc_day(end);
    if *day_of_totals != day {
        day_totals.clear();
        *day_of_totals = day.clone();
    }
    for mut table in table_usage(&statements) {
        let total = day_totals.entry(table.fqn.clone()).or_insert(0);
        *total += table.query_count;
        table.day = day.clone();
        table.day_query_count = *total;
        let event = UsageEvent {
            event_id: UsageEvent::id_for(UsageKind::Table, &table.fqn, start),
            emitted_at,
            source: source.clone(),
            kind: UsageKind::Table,
            bucket_start: start,
            bucket_end: end,
            reset_detected: report.reset_detected,
            unattributed_calls: 0,
            table: Some(table),
            query: None,
        };
        records.push(Outbound::Usage(Box::new(event)));
        out.table_events += 1;
    }
    // Every event of the bucket says how many of its calls went to no table.
    for r in &mut records {
        if let Outbound::Usage(e) = r {
            e.unattributed_calls = out.unattributed_calls;
        }
    }
    records
}
