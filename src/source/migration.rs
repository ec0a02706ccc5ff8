//! `pgmeta-capture impact`: what a migration would change, classified with what it reaches,
//! before it runs. The migration runs in a transaction that is rolled back
//! (`pg::migration`); the catalog before it is diffed against the catalog after it by the
//! same code a poll uses, so the records predicted are the records the capture writes once
//! the migration really runs (but for their ids and times).

use crate::config::ProtectedObject;
use crate::diff::{DatabaseState, DiffOptions, diff};
use crate::event::{CaptureMode, SchemaChangeEvent, SourceInfo};
use crate::lineage::edges::{LineageState, SentEdge, catalog_edges};
use crate::pg::PgTarget;
use crate::pg::catalog::CatalogScope;
use crate::pg::migration::{MigrationError, catalog_around, statements};

/// The schema changes `migration` (SQL text) would make on `target`, each with what it
/// reaches through the catalog's view and routine lineage and `query_lineage` (the query-log
/// edges the capture sent).
pub async fn impact(
    target: &PgTarget,
    scope: &CatalogScope,
    mark_deleted_tables: bool,
    protected: &[ProtectedObject],
    query_lineage: &LineageState,
    migration: &str,
) -> Result<Vec<SchemaChangeEvent>, MigrationError> {
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
    let (edges, _) = catalog_edges(&before, &scope.service);
    let mut views = LineageState::default();
    let sent = views.diff_replace(edges);
    views.apply(&sent, false);
    let options = DiffOptions {
        mark_deleted_tables,
        full: false,
    };
    let mut state = DatabaseState::default();
    state.apply(&mut diff(&state, before, &scope.service, options));
    let changes = diff(&state, after, &scope.service, options).changes;
    let edges: Vec<&SentEdge> = views
        .edges
        .values()
        .chain(query_lineage.edges.values())
        .collect();
    let emitted_at = crate::event::now_millis();
    Ok(super::schema_changes::events(
        &changes, &edges, protected, &source, emitted_at,
    ))
}
