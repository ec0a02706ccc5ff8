//! Lineage edges between catalog relations, and what of them was already sent.
//!
//! An edge is one origin's assertion that data of `from` flows into `to`: a view definition
//! (checked against `pg_depend`), a routine's statement, or statements in the query log. Edges
//! are keyed by (from, to, origin[, routine]) so each origin's view of an edge is one compacted
//! record. View and routine edges are re-derived from every catalog snapshot and replace what
//! was sent (an edge that disappears is deleted); query edges accumulate (a statement evicted
//! from `pg_stat_statements` did run), and are deleted only when an end of them is dropped.

use super::{Resolver, TableName, routine_lineage};
use crate::event::{
    ColumnEdge, LineageEvent, LineageOp, LineageOrigin, Outbound, SourceInfo, edge_key,
};
use crate::model::{CatalogSnapshot, Fqn, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

/// Longest SQL text carried in an event.
pub const MAX_SQL_CHARS: usize = 10_000;
/// Most query ids listed on one edge.
pub const MAX_QUERYIDS: usize = 20;

/// One derived edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub origin: LineageOrigin,
    pub from: Fqn,
    pub to: Fqn,
    pub columns: BTreeSet<(String, String)>,
    pub sql: Option<String>,
    pub routine: Option<String>,
    pub queryids: BTreeSet<String>,
    pub catalog_confirmed: Option<bool>,
}

impl Edge {
    pub fn key(&self) -> String {
        edge_key(
            self.from.as_str(),
            self.to.as_str(),
            self.origin,
            self.routine.as_deref(),
        )
    }

    fn digest(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        self.columns.hash(&mut h);
        self.sql.hash(&mut h);
        self.queryids.hash(&mut h);
        self.catalog_confirmed.hash(&mut h);
        h.finish()
    }

    fn merge(&mut self, other: Edge) {
        self.columns.extend(other.columns);
        for q in other.queryids {
            if self.queryids.len() >= MAX_QUERYIDS {
                break;
            }
            self.queryids.insert(q);
        }
        if self.sql.is_none() {
            self.sql = other.sql;
        }
    }
}

/// The fqn of a relation of `database` under `service`.
pub fn table_fqn(service: &str, database: &str, table: &TableName) -> Option<Fqn> {
    let schema = table.schema.as_deref()?;
    if table.database.is_some() {
        return None;
    }
    Some(Fqn::new([service, database, schema, table.name.as_str()]))
}

/// `sql` cut to [`MAX_SQL_CHARS`] characters.
pub fn truncate(sql: &str) -> String {
    match sql.char_indices().nth(MAX_SQL_CHARS) {
        Some((i, _)) => sql[..i].to_owned(),
        None => sql.to_owned(),
    }
}

/// Adds `edge` to `edges`, merging with an edge of the same key.
pub fn collect(edges: &mut BTreeMap<String, Edge>, edge: Edge) {
    match edges.get_mut(&edge.key()) {
        Some(existing) => existing.merge(edge),
        None => {
            edges.insert(edge.key(), edge);
        }
    }
}

/// What the statements of one SQL text give as edges between the relations `known` accepts.
pub fn statement_edges(
    lineage: &super::StatementLineage,
    origin: LineageOrigin,
    sql: &str,
    routine: Option<&str>,
    fqn: &dyn Fn(&TableName) -> Option<Fqn>,
) -> Vec<Edge> {
    let mut out = Vec::new();
    for (from, to) in lineage.table_edges() {
        if lineage.unresolved.contains(from) || lineage.unresolved.contains(to) {
            continue;
        }
        let (Some(from_fqn), Some(to_fqn)) = (fqn(from), fqn(to)) else {
            continue;
        };
        let columns = lineage
            .column_lineage
            .iter()
            .filter(|(f, t)| &f.table == from && &t.table == to)
            .map(|(f, t)| (f.column.clone(), t.column.clone()))
            .collect();
        out.push(Edge {
            origin,
            from: from_fqn,
            to: to_fqn,
            columns,
            sql: Some(truncate(sql)),
            routine: routine.map(str::to_owned),
            queryids: BTreeSet::new(),
            catalog_confirmed: None,
        });
    }
    out
}

/// View and routine edges of a catalog snapshot, with the number of view definitions and
/// routine statements that did not parse.
/// `views` narrows the views to those (by OID); routines are all taken. Names resolve through
/// `relations`, or, without it, through the snapshot's relations.
pub fn catalog_edges(
    snapshot: &CatalogSnapshot,
    service: &str,
    views: Option<&std::collections::HashSet<i64>>,
    relations: Option<&Resolver>,
) -> (Vec<Edge>, usize) {
    let db = snapshot.database.name.as_str();
    let own;
    let resolver = match relations {
        Some(r) => r,
        None => {
            own = Resolver::from_snapshot(snapshot, &snapshot.search_path);
            &own
        }
    };
    let by_oid: HashMap<i64, &Table> = snapshot.tables.iter().map(|t| (t.oid, t)).collect();
    let fqn = |t: &TableName| -> Option<Fqn> {
        let schema = t.schema.as_deref()?;
        resolver
            .contains(&TableName::new(schema, &t.name))
            .then(|| table_fqn(service, db, t))
            .flatten()
    };
    let mut edges = BTreeMap::new();
    let mut failed = 0;
    for view in snapshot
        .tables
        .iter()
        .filter(|t| t.table_type.is_view() && views.is_none_or(|v| v.contains(&t.oid)))
    {
        let Some(view_fqn) = table_fqn(service, db, &TableName::new(&view.schema, &view.name))
        else {
            continue;
        };
        let parsed = view
            .view_definition
            .as_deref()
            .map(|def| super::query_columns(def, resolver));
        // pg_depend's relations are authoritative for which tables the view reads.
        let depends: BTreeSet<Fqn> = snapshot
            .view_dependencies
            .get(&view.oid)
            .into_iter()
            .flatten()
            .filter_map(|(oid, _)| by_oid.get(oid))
            .filter_map(|t| table_fqn(service, db, &TableName::new(&t.schema, &t.name)))
            .collect();
        let mut per_source: BTreeMap<Fqn, BTreeSet<(String, String)>> = BTreeMap::new();
        match parsed {
            Some(Ok((outputs, sources))) => {
                for s in &sources {
                    if let Some(f) = fqn(s) {
                        per_source.entry(f).or_default();
                    }
                }
                // The view's columns take the query's output columns in order.
                for (out, col) in outputs.iter().zip(&view.columns) {
                    for src in &out.sources {
                        if let Some(f) = fqn(&src.table) {
                            per_source
                                .entry(f)
                                .or_default()
                                .insert((src.column.clone(), col.name.clone()));
                        }
                    }
                }
            }
            Some(Err(e)) => {
                failed += 1;
                tracing::debug!(view = %view_fqn, error = %e, "view definition does not parse; using pg_depend's tables only");
            }
            None => {}
        }
        for d in &depends {
            per_source.entry(d.clone()).or_default();
        }
        for (from, columns) in per_source {
            if from == view_fqn {
                continue;
            }
            let confirmed = depends.contains(&from);
            if !confirmed {
                tracing::debug!(view = %view_fqn, source = %from, "parsed view source not in pg_depend");
            }
            collect(
                &mut edges,
                Edge {
                    origin: LineageOrigin::View,
                    from,
                    to: view_fqn.clone(),
                    columns,
                    sql: view.view_definition.as_deref().map(truncate),
                    routine: None,
                    queryids: BTreeSet::new(),
                    catalog_confirmed: Some(confirmed),
                },
            );
        }
    }
    for routine in &snapshot.routines {
        let Some(body) = &routine.body else { continue };
        let routine_fqn = Fqn::new([service, db, routine.schema.as_str(), &routine.signature()]);
        let lineage = routine_lineage(&routine.language, body, resolver);
        failed += lineage.errors.len();
        for (sql, st) in &lineage.statements {
            for e in statement_edges(
                st,
                LineageOrigin::Routine,
                sql,
                Some(routine_fqn.as_str()),
                &fqn,
            ) {
                collect(&mut edges, e);
            }
        }
    }
    (edges.into_values().collect(), failed)
}

/// Follows `ALTER TABLE ... RENAME` seen in the query log (dbt builds `x__dbt_tmp` and renames
/// it to `x`): an end that no longer exists moves to the name it was renamed to, if that
/// exists (through chains of renames).
pub fn follow_renames(
    lineage: &mut super::StatementLineage,
    renames: &HashMap<TableName, TableName>,
    exists: &dyn Fn(&TableName) -> bool,
) {
    if renames.is_empty() {
        return;
    }
    let follow = |t: &TableName| -> TableName {
        let mut cur = t.clone();
        for _ in 0..16 {
            if exists(&cur) {
                break;
            }
            match renames.get(&cur) {
                Some(next) => cur = next.clone(),
                None => break,
            }
        }
        cur
    };
    lineage.sources = lineage.sources.iter().map(follow).collect();
    lineage.targets = lineage.targets.iter().map(follow).collect();
    lineage.column_lineage = lineage
        .column_lineage
        .iter()
        .map(|(f, t)| {
            (
                follow(&f.table).column(&f.column),
                follow(&t.table).column(&t.column),
            )
        })
        .collect();
}

/// What was sent of one edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentEdge {
    pub version: i64,
    pub digest: u64,
    pub origin: LineageOrigin,
    pub from: String,
    pub to: String,
    pub routine: Option<String>,
    /// (from column, to column) pairs: what a schema change's impact follows, and for
    /// accumulating (query) edges what the next observation is merged with.
    #[serde(default)]
    pub columns: Vec<(String, String)>,
    #[serde(default)]
    pub queryids: Vec<String>,
    #[serde(default)]
    pub sql: Option<String>,
    /// Query edges: when a statement of the edge last ran (the end of the last usage bucket in
    /// which one had calls; ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
}

/// The edges sent for one database by one owner (catalog poll or usage poll).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LineageState {
    pub edges: BTreeMap<String, SentEdge>,
}

/// A change to send.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeChange {
    pub op: LineageOp,
    pub version: i64,
    pub edge: Edge,
}

impl LineageState {
    /// Catalog edges replace what was sent: new or changed ones are sent, missing ones deleted.
    pub fn diff_replace(&self, current: Vec<Edge>) -> Vec<EdgeChange> {
        self.diff_replace_within(current, |_| true)
    }

    /// [`LineageState::diff_replace`] for part of the edges: `current` replaces the sent edges
    /// `within` selects (and holds only such edges); the others stay as sent.
    pub fn diff_replace_within(
        &self,
        current: Vec<Edge>,
        within: impl Fn(&SentEdge) -> bool,
    ) -> Vec<EdgeChange> {
        let mut changes = Vec::new();
        let current: BTreeMap<String, Edge> = current.into_iter().map(|e| (e.key(), e)).collect();
        for (key, sent) in &self.edges {
            if within(sent) && !current.contains_key(key) {
                changes.push(delete_change(sent));
            }
        }
        for (key, edge) in current {
            changes.extend(upsert(self.edges.get(&key), edge));
        }
        changes
    }

    /// Query edges accumulate: an observation is merged into what was sent; an edge is deleted
    /// only when one of its ends no longer exists.
    pub fn diff_accumulate(
        &self,
        observed: Vec<Edge>,
        exists: &dyn Fn(&str) -> bool,
    ) -> Vec<EdgeChange> {
        let mut changes = Vec::new();
        let mut merged: BTreeMap<String, Edge> = BTreeMap::new();
        for e in observed {
            collect(&mut merged, e);
        }
        for (key, sent) in &self.edges {
            if !exists(&sent.from) || !exists(&sent.to) {
                changes.push(delete_change(sent));
                merged.remove(key);
            }
        }
        for (key, edge) in merged {
            let sent = self.edges.get(&key);
            let edge = match sent {
                Some(sent) => {
                    let mut combined = edge_of(sent);
                    combined.merge(edge);
                    combined
                }
                None => edge,
            };
            changes.extend(upsert(sent, edge));
        }
        changes
    }

    /// Remembers `changes` (after the sink acknowledged them); `keep_content`: the query ids
    /// and SQL too (accumulating edges merge them), not only the column pairs.
    pub fn apply(&mut self, changes: &[EdgeChange], keep_content: bool) {
        for c in changes {
            let key = c.edge.key();
            if c.op == LineageOp::Delete {
                self.edges.remove(&key);
                continue;
            }
            let last_seen = self.edges.get(&key).and_then(|e| e.last_seen);
            self.edges
                .insert(key, sent_edge(c, keep_content, last_seen));
        }
    }

    /// The edges among `changes` (about to be sent) that this state does not hold: what a
    /// crash before the state is saved would leave unknown (see `diff::sent_ahead`);
    /// `keep_content` as for [`LineageState::apply`].
    pub fn sent_ahead(
        &self,
        changes: &[EdgeChange],
        keep_content: bool,
    ) -> BTreeMap<String, SentEdge> {
        changes
            .iter()
            .filter(|c| c.op != LineageOp::Delete)
            .map(|c| (c.edge.key(), c))
            .filter(|(key, _)| !self.edges.contains_key(key))
            .map(|(key, c)| (key, sent_edge(c, keep_content, None)))
            .collect()
    }

    /// A DELETE for each edge of `sent` (sent before a crash kept the state from recording it)
    /// that neither this state holds nor `changes` sends again: its view or table went away,
    /// or its definition changed, while the capture was down.
    pub fn retractions(
        &self,
        sent: &BTreeMap<String, SentEdge>,
        changes: &[EdgeChange],
    ) -> Vec<EdgeChange> {
        let again: std::collections::HashSet<String> =
            changes.iter().map(|c| c.edge.key()).collect();
        sent.iter()
            .filter(|(key, _)| !self.edges.contains_key(*key) && !again.contains(*key))
            .map(|(_, s)| delete_change(s))
            .collect()
    }
}

/// What the state keeps of a change sent; `keep_content`: the query ids and SQL too
/// (accumulating edges merge them), not only the column pairs.
fn sent_edge(c: &EdgeChange, keep_content: bool, last_seen: Option<i64>) -> SentEdge {
    SentEdge {
        last_seen,
        version: c.version,
        digest: c.edge.digest(),
        origin: c.edge.origin,
        from: c.edge.from.to_string(),
        to: c.edge.to.to_string(),
        routine: c.edge.routine.clone(),
        // Always: a schema change's impact follows column lineage.
        columns: c.edge.columns.iter().cloned().collect(),
        queryids: if keep_content {
            c.edge.queryids.iter().cloned().collect()
        } else {
            Vec::new()
        },
        sql: if keep_content {
            c.edge.sql.clone()
        } else {
            None
        },
    }
}

impl LineageState {
    /// Marks the edges of statements that ran (`queryids`, those with calls in the bucket that
    /// ended `at`) as seen then; whether any edge's mark moved.
    pub fn mark_seen(&mut self, queryids: &std::collections::HashSet<String>, at: i64) -> bool {
        let mut moved = false;
        for edge in self.edges.values_mut() {
            if edge.last_seen.is_none_or(|s| s < at)
                && edge.queryids.iter().any(|q| queryids.contains(q))
            {
                edge.last_seen = Some(at);
                moved = true;
            }
        }
        moved
    }
}

/// CREATE for an edge not sent yet, UPDATE for one whose content changed, nothing otherwise.
fn upsert(sent: Option<&SentEdge>, edge: Edge) -> Option<EdgeChange> {
    match sent {
        Some(sent) if sent.digest == edge.digest() => None,
        Some(sent) => Some(EdgeChange {
            op: LineageOp::Update,
            version: sent.version + 1,
            edge,
        }),
        None => Some(EdgeChange {
            op: LineageOp::Create,
            version: 1,
            edge,
        }),
    }
}

impl SentEdge {
    /// The edge as it was sent (column pairs, and what was kept of its content).
    pub fn edge(&self) -> Edge {
        edge_of(self)
    }
}

fn edge_of(sent: &SentEdge) -> Edge {
    Edge {
        origin: sent.origin,
        from: Fqn::from_raw(sent.from.clone()),
        to: Fqn::from_raw(sent.to.clone()),
        columns: sent.columns.iter().cloned().collect(),
        sql: sent.sql.clone(),
        routine: sent.routine.clone(),
        queryids: sent.queryids.iter().cloned().collect(),
        catalog_confirmed: None,
    }
}

fn delete_change(sent: &SentEdge) -> EdgeChange {
    EdgeChange {
        op: LineageOp::Delete,
        version: sent.version + 1,
        edge: Edge {
            columns: BTreeSet::new(),
            queryids: BTreeSet::new(),
            sql: None,
            ..edge_of(sent)
        },
    }
}

/// The records for `changes`: deletes (each with its tombstone) first, then the rest.
pub fn outbound(changes: &[EdgeChange], source: &SourceInfo, emitted_at: i64) -> Vec<Outbound> {
    let event = |c: &EdgeChange| {
        let key = c.edge.key();
        LineageEvent {
            event_id: LineageEvent::id_for(&key, c.version, c.op),
            emitted_at,
            source: source.clone(),
            op: c.op,
            origin: c.edge.origin,
            from_fqn: c.edge.from.to_string(),
            to_fqn: c.edge.to.to_string(),
            column_lineage: c
                .edge
                .columns
                .iter()
                .map(|(f, t)| ColumnEdge {
                    from_column: f.clone(),
                    to_column: t.clone(),
                })
                .collect(),
            sql: c.edge.sql.clone(),
            routine_fqn: c.edge.routine.clone(),
            queryids: c.edge.queryids.iter().cloned().collect(),
            catalog_confirmed: c.edge.catalog_confirmed,
            edge_version: c.version,
        }
    };
    let mut out = Vec::new();
    for c in changes.iter().filter(|c| c.op == LineageOp::Delete) {
        out.push(Outbound::Lineage(Box::new(event(c))));
        out.push(Outbound::LineageTombstone { key: c.edge.key() });
    }
    for c in changes.iter().filter(|c| c.op != LineageOp::Delete) {
        out.push(Outbound::Lineage(Box::new(event(c))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_edge(queryid: &str) -> Edge {
        Edge {
            origin: LineageOrigin::Query,
            from: Fqn::from_raw("s.d.sales.orders".into()),
            to: Fqn::from_raw("s.d.mart.ltv".into()),
            columns: BTreeSet::from([("amount".to_owned(), "ltv".to_owned())]),
            sql: Some("INSERT INTO mart.ltv SELECT amount FROM sales.orders".into()),
            routine: None,
            queryids: BTreeSet::from([queryid.to_owned()]),
            catalog_confirmed: None,
        }
    }

    #[test]
    fn a_query_edge_is_seen_when_its_statement_runs_and_keeps_that_across_updates() {
        let mut state = LineageState::default();
        let created = state.diff_replace(vec![query_edge("7")]);
        state.apply(&created, true);
        let ran = std::collections::HashSet::from(["7".to_owned()]);
        let other = std::collections::HashSet::from(["8".to_owned()]);
        assert!(!state.mark_seen(&other, 100), "another statement ran");
        assert!(state.mark_seen(&ran, 100));
        assert!(!state.mark_seen(&ran, 100), "no later than the mark");
        assert!(
            !state.mark_seen(&ran, 50),
            "an older bucket does not move it back"
        );
        let edge = |s: &LineageState| s.edges.values().next().cloned().expect("the edge");
        assert_eq!(edge(&state).last_seen, Some(100));
        assert_eq!(edge(&state).columns, vec![("amount".into(), "ltv".into())]);
        // A new observation (another query id) updates the edge; the mark stays.
        let mut seen_again = query_edge("7");
        seen_again.queryids.insert("9".into());
        let updated = state.diff_replace(vec![seen_again]);
        state.apply(&updated, true);
        assert_eq!(edge(&state).last_seen, Some(100));
        assert_eq!(edge(&state).queryids, vec!["7".to_owned(), "9".to_owned()]);
    }

    fn view_edge(from: &str) -> Edge {
        Edge {
            origin: LineageOrigin::View,
            from: Fqn::from_raw(format!("s.d.public.{from}")),
            to: Fqn::from_raw("s.d.public.v".into()),
            columns: BTreeSet::new(),
            sql: None,
            routine: None,
            queryids: BTreeSet::new(),
            catalog_confirmed: None,
        }
    }

    /// An edge sent before a crash kept the state from recording it: retracted when the view
    /// changed meanwhile, sent again (not retracted) when it did not.
    #[test]
    fn an_edge_sent_before_a_crash_is_retracted_only_when_gone_since() {
        let state = LineageState::default();
        let sent = state.sent_ahead(&state.diff_replace(vec![view_edge("a")]), false);
        assert_eq!(sent.len(), 1);
        // Redefined while the capture was down: reads b, no longer a.
        let changes = state.diff_replace(vec![view_edge("b")]);
        let retracted = state.retractions(&sent, &changes);
        assert_eq!(retracted.len(), 1);
        assert_eq!(retracted[0].op, LineageOp::Delete);
        assert_eq!(retracted[0].edge.from.as_str(), "s.d.public.a");
        assert_eq!(retracted[0].version, 2, "later than the CREATE sent");
        // Unchanged: the diff sends it again, nothing to retract.
        let changes = state.diff_replace(vec![view_edge("a")]);
        assert!(state.retractions(&sent, &changes).is_empty());
        // Recorded since: the state's own diff deletes it when it goes.
        let mut recorded = LineageState::default();
        recorded.apply(&state.diff_replace(vec![view_edge("a")]), false);
        assert!(
            recorded
                .sent_ahead(&recorded.diff_replace(vec![view_edge("a")]), false)
                .is_empty()
        );
        assert!(recorded.retractions(&sent, &[]).is_empty());
    }
}
