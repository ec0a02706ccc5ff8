//! `pgmeta-capture impact`: what a migration would change, classified with what it reaches,
//! before it runs. The migration runs in a transaction that is rolled back
//! (`pg::migration`); the catalog before it is diffed against the catalog after it by the
//! same code a poll uses, so the records predicted are the records the capture writes once
//! the migration really runs (but for their ids and times).

use crate::config::ProtectedObject;
use crate::diff::{Change, DatabaseState, DiffOptions, diff};
use crate::event::{CaptureMode, SchemaChangeEvent, SourceInfo};
use crate::lineage::edges::{LineageState, SentEdge, catalog_edges};
use crate::pg::PgTarget;
use crate::pg::catalog::CatalogScope;
use crate::pg::migration::{MigrationError, catalog_around, statements};

/// A migration's changes, read and diffed; their impact comes next ([`Planned::events`]).
#[derive(Debug)]
pub struct Planned {
    changes: Vec<Change>,
    source: SourceInfo,
    /// The view and routine edges of the catalog before the migration.
    catalog: LineageState,
}

/// Where the impact's lineage comes from.
#[derive(Debug, Clone, Copy)]
pub enum Lineage<'a> {
    /// The database's own: its views and routines, and these query-log edges.
    Database { query: &'a LineageState },
    /// A metadata server's (`--lineage-from`), read below the changed tables.
    Server(&'a [SentEdge]),
}

/// Runs `migration` (SQL text) on `target` in a transaction it rolls back, and diffs the
/// catalog before it against the catalog after it.
pub async fn plan(
    target: &PgTarget,
    scope: &CatalogScope,
    mark_deleted_tables: bool,
    migration: &str,
) -> Result<Planned, MigrationError> {
    let migration = statements(migration)?;
    let mut client = target.connect().await?;
    let (before, after) =
        catalog_around(&mut client, &target.to_string(), scope, &migration).await?;
    let source = SourceInfo {
        service: scope.service.clone(),
        database: before.database.name.clone(),
        server_version: before.server_version.clone(),
        capture_mode: CaptureMode::Poll,
        pgmeta_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let (edges, _) = catalog_edges(&before, &scope.service, None, None);
    let mut catalog = LineageState::default();
    let sent = catalog.diff_replace(edges);
    catalog.apply(&sent, false);
    let options = DiffOptions {
        mark_deleted_tables,
        full: false,
    };
    let mut state = DatabaseState::default();
    let mut first = diff(&state, before, &scope.service, options);
    first.keep_shapes();
    state.apply(&mut first);
    let changes = diff(&state, after, &scope.service, options).changes;
    Ok(Planned {
        changes,
        source,
        catalog,
    })
}

impl Planned {
    /// The tables and routines that change, by FQN: where a metadata server's lineage is read.
    pub fn entities(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .changes
            .iter()
            .flat_map(|c| c.schema_changes.iter().map(|s| s.entity_fqn.clone()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The schema-changes records, each with what it reaches through `lineage`.
    pub fn events(
        &self,
        lineage: Lineage<'_>,
        protected: &[ProtectedObject],
    ) -> Vec<SchemaChangeEvent> {
        let edges: Vec<&SentEdge> = match lineage {
            Lineage::Database { query } => self
                .catalog
                .edges
                .values()
                .chain(query.edges.values())
                .collect(),
            Lineage::Server(edges) => edges.iter().collect(),
        };
        let emitted_at = crate::event::now_millis();
        super::schema_changes::events(&self.changes, &edges, protected, &self.source, emitted_at)
    }
}
