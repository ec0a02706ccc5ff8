//! pgmeta-catalog's persistence: entities, their versions, lineage edges and daily usage, in
//! PostgreSQL (schema `pgmeta_catalog`). Entities are stored as the JSON the API serves, with
//! the columns needed to find them (collection, FQN, parent, deleted).
//!
//! Every write runs in one transaction that locks the entity's row (`FOR UPDATE`), so
//! concurrent PUTs of one entity serialize and each version is recorded once.
//!
//! `conn`: pooled connections with prepared statements; `reads` and `writes`: entities and
//! their versions; `lineage_usage`: edges and daily counts.

mod conn;
mod lineage_usage;
mod reads;
mod writes;

use super::entity::{Changes, Invalid};
use super::kind::Kind;
use crate::pg::PgTarget;
use conn::{Connector, Pool};
use serde_json::{Map, Value, json};

const SCHEMA_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS pgmeta_catalog;
CREATE TABLE IF NOT EXISTS pgmeta_catalog.entity (
    id text PRIMARY KEY,
    collection text NOT NULL,
    fqn text NOT NULL,
    parent_id text,
    deleted boolean NOT NULL DEFAULT false,
    body jsonb NOT NULL,
    UNIQUE (collection, fqn)
);
CREATE INDEX IF NOT EXISTS entity_parent ON pgmeta_catalog.entity (parent_id);
CREATE TABLE IF NOT EXISTS pgmeta_catalog.entity_version (
    id text NOT NULL,
    version double precision NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS pgmeta_catalog.lineage_edge (
    from_id text NOT NULL,
    to_id text NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX IF NOT EXISTS lineage_edge_to ON pgmeta_catalog.lineage_edge (to_id);
CREATE TABLE IF NOT EXISTS pgmeta_catalog.usage_daily (
    entity_id text NOT NULL,
    day date NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (entity_id, day)
);
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("catalog database: {}", pg_message(.0))]
    Pg(#[from] tokio_postgres::Error),
    #[error("catalog database: {0}")]
    Connect(String),
}

impl From<crate::pg::PgError> for StoreError {
    fn from(e: crate::pg::PgError) -> Self {
        StoreError::Connect(e.to_string())
    }
}

/// Which entities a read sees (`include=` of the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    NonDeleted,
    Deleted,
    All,
}

impl Include {
    pub fn parse(s: Option<&str>) -> Include {
        match s {
            Some("all") => Include::All,
            Some("deleted") => Include::Deleted,
            _ => Include::NonDeleted,
        }
    }

    /// The condition on `deleted` this adds to a query's WHERE clause.
    fn sql_filter(self) -> &'static str {
        match self {
            Include::All => "",
            Include::Deleted => " AND deleted",
            Include::NonDeleted => " AND NOT deleted",
        }
    }

    fn admits(self, deleted: bool) -> bool {
        match self {
            Include::NonDeleted => !deleted,
            Include::Deleted => deleted,
            Include::All => true,
        }
    }
}

/// The outcome of a PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

/// What a PUT changes of a stored entity.
enum Update {
    /// Only the client's `sourceHash` marker: recorded without a version.
    Marker(Map<String, Value>),
    Changed(Map<String, Value>, Changes),
}

struct Row {
    id: String,
    deleted: bool,
    body: Map<String, Value>,
}

fn body_of(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn now_millis() -> i64 {
    crate::event::now_millis()
}

fn version_of(body: &Map<String, Value>) -> f64 {
    body.get("version").and_then(Value::as_f64).unwrap_or(0.1)
}

/// An entity reference `{id, type, name, fullyQualifiedName}` (plus `deleted`).
pub fn reference(kind: &Kind, body: &Map<String, Value>) -> Value {
    let mut r = json!({
        "id": body.get("id").cloned().unwrap_or(Value::Null),
        "type": kind.entity_type,
        "name": body.get("name").cloned().unwrap_or(Value::Null),
        "fullyQualifiedName": body.get("fullyQualifiedName").cloned().unwrap_or(Value::Null),
    });
    if let Some(d) = body.get("displayName").filter(|v| !v.is_null()) {
        r["displayName"] = d.clone();
    }
    if body.get("deleted") == Some(&Value::Bool(true)) {
        r["deleted"] = Value::Bool(true);
    }
    r
}

impl Store {
    pub async fn open(target: PgTarget, size: usize) -> Result<Store, StoreError> {
        let pool = Pool::builder(Connector(target))
            .max_size(size)
            .build()
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        let store = Store { pool };
        let client = store.client().await?;
        client.client.batch_execute(SCHEMA_SQL).await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool::managed::Object<Connector>, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool::managed::PoolError::Backend(e) => StoreError::from(e),
            other => StoreError::Connect(other.to_string()),
        })
    }

    /// Whether the catalog's database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        match self.client().await {
            Ok(c) => c.client.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }
}

/// The server's message (tokio-postgres's own Display says only "db error").
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}

fn not_found(kind: &Kind, key: &str) -> StoreError {
    StoreError::NotFound(format!("{} instance for {key} not found", kind.entity_type))
}
