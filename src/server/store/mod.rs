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

pub(super) use lineage_usage::UsageDay;

use super::changes::Changes;
use super::request::Invalid;
use crate::openmetadata::kind::Kind;
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
    body json NOT NULL,
    UNIQUE (collection, fqn)
);
CREATE INDEX IF NOT EXISTS entity_parent ON pgmeta_catalog.entity (parent_id);
-- No child outlives its parent. NOT VALID: a catalog written before the constraint existed
-- keeps working (its old rows are not checked); every new row is.
DO $$ BEGIN
    ALTER TABLE pgmeta_catalog.entity ADD CONSTRAINT entity_parent_fk
        FOREIGN KEY (parent_id) REFERENCES pgmeta_catalog.entity (id) NOT VALID;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE TABLE IF NOT EXISTS pgmeta_catalog.entity_version (
    id text NOT NULL,
    version double precision NOT NULL,
    body json NOT NULL,
    PRIMARY KEY (id, version)
);
-- Entity bodies are stored as json, not jsonb: the server never queries inside them, and a
-- 100,000-column table (13 MB) is written in half the time and read back as text in a third
-- (jsonb parses into its binary form and prints it back). lz4 where the server has it
-- (PostgreSQL 14+ built with lz4): it compresses several times faster than pglz. Catalogs made
-- with jsonb bodies are converted once.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['entity', 'entity_version'] LOOP
        IF (SELECT atttypid FROM pg_catalog.pg_attribute
            WHERE attrelid = ('pgmeta_catalog.' || t)::regclass AND attname = 'body') = 'jsonb'::regtype THEN
            EXECUTE format('ALTER TABLE pgmeta_catalog.%I ALTER COLUMN body TYPE json USING body::json', t);
        END IF;
        BEGIN
            EXECUTE format('ALTER TABLE pgmeta_catalog.%I ALTER COLUMN body SET COMPRESSION lz4', t);
        EXCEPTION WHEN OTHERS THEN NULL; -- before 14, or built without lz4: pglz stays
        END;
    END LOOP;
END $$;
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
-- The day's percentile rank among the entities of its type (compute.percentile sets it).
ALTER TABLE pgmeta_catalog.usage_daily ADD COLUMN IF NOT EXISTS percentile double precision NOT NULL DEFAULT 0;
-- The same for the 7 and 30 days ending that day.
ALTER TABLE pgmeta_catalog.usage_daily ADD COLUMN IF NOT EXISTS weekly_percentile double precision NOT NULL DEFAULT 0;
ALTER TABLE pgmeta_catalog.usage_daily ADD COLUMN IF NOT EXISTS monthly_percentile double precision NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS pgmeta_catalog.join_daily (
    entity_id text NOT NULL,
    day date NOT NULL,
    body jsonb NOT NULL,
    PRIMARY KEY (entity_id, day)
);
";

/// What went wrong in the store; the API maps each to a status (`routes::ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// No connection free within the pool's wait timeout, or a lock or statement timeout.
    #[error("{0}")]
    Busy(String),
    /// The database answered with an error (classified by its SQLSTATE).
    #[error("catalog database: {}", pg_message(.0))]
    Pg(#[from] tokio_postgres::Error),
    /// The database cannot be reached (the detail may name host, port and user: logged, never
    /// sent to a client).
    #[error("catalog database: {0}")]
    Connect(String),
    /// A stored entity that cannot be read back, or a worker thread that failed.
    #[error("{0}")]
    Internal(String),
}

/// How long the catalog waits for its database; every wait ends in an answer (503 with the
/// reason) instead of a hung request.
#[derive(Debug, Clone, Copy)]
pub struct PoolLimits {
    /// Connections to the catalog's database.
    pub size: usize,
    /// Wait for a free connection (and to open or check one) before answering 503.
    pub acquire_timeout: std::time::Duration,
    /// `statement_timeout` of every connection.
    pub statement_timeout: std::time::Duration,
    /// `lock_timeout` of every connection: a request waiting on a row another holds.
    pub lock_timeout: std::time::Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            size: 8,
            acquire_timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::from_secs(30),
            lock_timeout: std::time::Duration::from_secs(10),
        }
    }
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
    limits: PoolLimits,
}

/// What a PUT changes of a stored entity.
enum Update {
    /// Nothing: the stored entity, as it is.
    Unchanged(Map<String, Value>),
    /// Only the client's `sourceHash` marker: recorded without a version.
    Marker(Map<String, Value>),
    Changed(Map<String, Value>, Changes),
}

struct Row {
    id: String,
    /// The row version (`xmin`) the body was read at: a locked re-read that finds the same
    /// `xmin` knows the body is unchanged without reading it again.
    xmin: String,
    parent_id: Option<String>,
    deleted: bool,
    body: Map<String, Value>,
}

/// A stored body, parsed. One that does not parse (it cannot happen to what this server
/// writes, whose depth and size are bounded) is an error, never an empty entity.
fn body_of(text: &str) -> Result<Map<String, Value>, StoreError> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(StoreError::Internal(
            "a stored entity is not a JSON object".into(),
        )),
        Err(e) => Err(StoreError::Internal(format!(
            "a stored entity cannot be read back: {e}"
        ))),
    }
}

/// Bodies at least this long are parsed on a blocking thread.
const PARSE_OFF_RUNTIME_BYTES: usize = 64 * 1024;

fn texts_len(texts: &[String]) -> usize {
    texts.iter().map(String::len).sum()
}

/// Parses stored bodies, on a blocking thread when they are large.
async fn bodies_of(texts: Vec<String>) -> Result<Vec<Map<String, Value>>, StoreError> {
    let small = texts_len(&texts) < PARSE_OFF_RUNTIME_BYTES;
    let parse = move || texts.iter().map(|t| body_of(t)).collect();
    if small {
        return parse();
    }
    super::blocking(parse).await?
}

fn now_millis() -> i64 {
    crate::event::now_millis()
}

fn version_of(body: &Map<String, Value>) -> f64 {
    body.get("version").and_then(Value::as_f64).unwrap_or(0.1)
}

/// An entity reference `{id, type, name, fullyQualifiedName}` (plus `deleted`).
pub(super) fn reference(kind: &Kind, body: &Map<String, Value>) -> Value {
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
    pub async fn open(target: PgTarget, limits: PoolLimits) -> Result<Store, StoreError> {
        let wait = Some(limits.acquire_timeout);
        let pool = Pool::builder(Connector { target, limits })
            .max_size(limits.size)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(wait)
            .create_timeout(wait)
            .recycle_timeout(wait)
            .build()
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        let store = Store { pool, limits };
        let client = store.client().await?;
        client.client.batch_execute(SCHEMA_SQL).await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool::managed::Object<Connector>, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool::managed::PoolError::Backend(e) => StoreError::from(e),
            deadpool::managed::PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
                StoreError::Busy(format!(
                    "all {} connections to the catalog database are busy (waited {} s)",
                    self.limits.size,
                    self.limits.acquire_timeout.as_secs_f64()
                ))
            }
            other => StoreError::Connect(other.to_string()),
        })
    }

    /// Whether a pooled connection answers (for `/readyz`), and if not, why: busy (the pool
    /// is exhausted) or unreachable. Connection details stay in the log.
    pub async fn ping(&self) -> Result<(), String> {
        match self.client().await {
            Ok(c) => match c.client.simple_query("SELECT 1").await {
                Ok(_) => Ok(()),
                Err(e) => {
                    tracing::warn!(error = ?e.to_string(), "catalog database ping failed");
                    Err("catalog database unreachable".into())
                }
            },
            Err(StoreError::Busy(reason)) => Err(reason),
            Err(e) => {
                tracing::warn!(error = ?e.to_string(), "catalog database unreachable");
                Err("catalog database unreachable".into())
            }
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
