//! pgmeta-catalog's persistence: entities, their versions, lineage edges and daily usage, in
//! PostgreSQL (schema `pgmeta_catalog`). Entities are stored as the JSON the API serves, with
//! the columns needed to find them (collection, FQN, parent, deleted).
//!
//! Every write runs in one transaction that locks the entity's row (`FOR UPDATE`), so
//! concurrent PUTs of one entity serialize and each version is recorded once.

use super::entity::{self, Changes, Create, Invalid};
use super::kind::{self, Kind};
use crate::pg::PgTarget;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Statement, Transaction};

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

/// Opens connections to the catalog's database for the pool.
#[derive(Debug)]
pub struct Connector(pub PgTarget);

/// A pooled connection with its prepared statements: each query is prepared once per
/// connection, then runs in one round trip instead of two.
#[derive(Debug)]
pub struct PgConn {
    client: tokio_postgres::Client,
    cache: StatementCache,
}

#[derive(Debug, Default)]
struct StatementCache(std::sync::Mutex<HashMap<String, Statement>>);

/// A client or transaction with the statement cache of its connection.
struct Db<'a, C> {
    c: &'a C,
    cache: &'a StatementCache,
}

impl<C: GenericClient> Db<'_, C> {
    async fn statement(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.cache.0.lock().ok().and_then(|m| m.get(sql).cloned()) {
            return Ok(s);
        }
        let s = self.c.prepare(sql).await?;
        if let Ok(mut m) = self.cache.0.lock() {
            m.insert(sql.to_owned(), s.clone());
        }
        Ok(s)
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.query(&s, params).await
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.query_opt(&s, params).await
    }

    async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.query_one(&s, params).await
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.execute(&s, params).await
    }
}

impl PgConn {
    fn db(&self) -> Db<'_, tokio_postgres::Client> {
        Db {
            c: &self.client,
            cache: &self.cache,
        }
    }
}

impl deadpool::managed::Manager for Connector {
    type Type = PgConn;
    type Error = crate::pg::PgError;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        Ok(PgConn {
            client: self.0.connect().await?,
            cache: StatementCache::default(),
        })
    }

    async fn recycle(
        &self,
        client: &mut Self::Type,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        if client.client.is_closed() {
            return Err(deadpool::managed::RecycleError::message(
                "connection closed",
            ));
        }
        Ok(())
    }
}

pub type Pool = deadpool::managed::Pool<Connector>;

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

    async fn find<C: GenericClient>(
        c: &Db<'_, C>,
        kind: &Kind,
        by: &str,
        value: &str,
        lock: bool,
    ) -> Result<Option<Row>, StoreError> {
        let sql = format!(
            "SELECT id, deleted, body::text FROM pgmeta_catalog.entity WHERE collection = $1 AND {by} = $2{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let row = c.query_opt(&sql, &[&kind.collection, &value]).await?;
        Ok(row.map(|r| Row {
            id: r.get(0),
            deleted: r.get(1),
            body: body_of(r.get::<_, &str>(2)),
        }))
    }

    /// GET by id or by FQN.
    pub async fn get(
        &self,
        kind: &'static Kind,
        by_name: bool,
        key: &str,
        include: Include,
    ) -> Result<Map<String, Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let by = if by_name { "fqn" } else { "id" };
        match Self::find(&c, kind, by, key, false).await? {
            Some(row) if include.admits(row.deleted) => Ok(row.body),
            _ => Err(not_found(kind, key)),
        }
    }

    /// PUT create-or-update. A create is one statement after two reads, and a PUT that
    /// changes nothing writes nothing; only an update takes the row lock in a transaction.
    pub async fn put(
        &self,
        kind: &'static Kind,
        create: Create,
        updated_by: &str,
    ) -> Result<(PutOutcome, Map<String, Value>), StoreError> {
        let mut conn = self.client().await?;
        let (parent_id, mut new) = Self::build(&conn.db(), kind, &create).await?;
        let mut fqn = entity::child_fqn(create.parent_fqn.as_deref(), &create.name);
        if kind.entity_type == "query" {
            // Queries are found by checksum; the FQN is the name alone.
            new.insert("checksum".into(), Value::String(create.name.clone()));
            fqn = create.name.clone();
        }
        new.insert("fullyQualifiedName".into(), Value::String(fqn.clone()));
        if let Some(columns) = new.get_mut("columns") {
            entity::qualify_columns(columns, &fqn);
        }
        match Self::find(&conn.db(), kind, "fqn", &fqn, false).await? {
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                new.insert("id".into(), Value::String(id.clone()));
                new.insert("version".into(), json!(0.1));
                new.insert("updatedAt".into(), json!(now_millis()));
                new.insert("updatedBy".into(), Value::String(updated_by.into()));
                new.insert("deleted".into(), Value::Bool(false));
                let text = Value::Object(new.clone()).to_string();
                let inserted = conn
                    .db()
                    .execute(
                        "WITH e AS (INSERT INTO pgmeta_catalog.entity (id, collection, fqn, parent_id, body) VALUES ($1, $2, $3, $4, $5::text::jsonb) ON CONFLICT (collection, fqn) DO NOTHING RETURNING id, body) \
                         INSERT INTO pgmeta_catalog.entity_version (id, version, body) SELECT id, 0.1, body FROM e",
                        &[&id, &kind.collection, &fqn, &parent_id, &text],
                    )
                    .await?;
                if inserted == 0 {
                    // Created concurrently by another request: the caller retries as an update.
                    return Err(StoreError::Conflict(format!(
                        "{} {fqn} was created concurrently",
                        kind.entity_type
                    )));
                }
                Ok((PutOutcome::Created, new))
            }
            Some(row) if Self::update_of(&row, &new).is_none() => {
                Ok((PutOutcome::Unchanged, row.body))
            }
            Some(_) => {
                let PgConn { client, cache } = &mut *conn;
                let tx = client.transaction().await?;
                let db = Db { c: &tx, cache };
                // Again under the row lock: another request may have changed it meanwhile.
                let Some(row) = Self::find(&db, kind, "fqn", &fqn, true).await? else {
                    return Err(StoreError::Conflict(format!(
                        "{} {fqn} was deleted concurrently",
                        kind.entity_type
                    )));
                };
                let out = match Self::update_of(&row, &new) {
                    None => (PutOutcome::Unchanged, row.body),
                    Some(Update::Marker(body)) => {
                        let text = Value::Object(body.clone()).to_string();
                        db.execute(
                            "UPDATE pgmeta_catalog.entity SET body = $2::text::jsonb WHERE id = $1",
                            &[&row.id, &text],
                        )
                        .await?;
                        (PutOutcome::Unchanged, body)
                    }
                    Some(Update::Changed(mut body, changes)) => {
                        Self::update(&db, &row.id, &mut body, &changes, updated_by, false).await?;
                        (PutOutcome::Updated, body)
                    }
                };
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// What a PUT of `new` does to the stored `row`: nothing, only a new `sourceHash` marker
    /// (no version), or a change.
    fn update_of(row: &Row, new: &Map<String, Value>) -> Option<Update> {
        let mut old = row.body.clone();
        let mut incoming = entity::content(new);
        entity::merge_curated(&old, &mut incoming);
        let mut changes = entity::changes(&entity::content(&old), &incoming);
        if row.deleted {
            changes
                .updated
                .push(("deleted".into(), Value::Bool(true), Value::Bool(false)));
        }
        if changes.is_empty() {
            let marker = new.get("sourceHash");
            if marker.is_some() && marker != old.get("sourceHash") {
                old.insert("sourceHash".into(), marker.cloned().unwrap_or(Value::Null));
                return Some(Update::Marker(old));
            }
            return None;
        }
        // The system fields the request determines (FQN, parent references, marker), the
        // rest from the stored entity; then the new content.
        for (k, v) in new {
            if entity::SYSTEM_FIELDS.contains(&k.as_str()) && k != "id" {
                old.insert(k.clone(), v.clone());
            }
        }
        old.retain(|k, _| entity::SYSTEM_FIELDS.contains(&k.as_str()));
        old.extend(incoming);
        Some(Update::Changed(old, changes))
    }

    /// The entity a create request makes, less its system fields: content, name, owners and the
    /// references to its ancestors. Returns the parent's id too.
    async fn build<C: GenericClient>(
        db: &Db<'_, C>,
        kind: &'static Kind,
        create: &Create,
    ) -> Result<(Option<String>, Map<String, Value>), StoreError> {
        let mut body = create.content.clone();
        body.insert("name".into(), Value::String(create.name.clone()));
        let mut parent_id = None;
        if let (Some((field, parent_kind)), Some(parent_fqn)) = (kind.parent, &create.parent_fqn) {
            let parent = match Self::find(db, parent_kind, "fqn", parent_fqn, false).await? {
                Some(p) if !p.deleted => p,
                _ => {
                    return Err(StoreError::NotFound(format!(
                        "{} instance for {parent_fqn} not found (the {field} of this request)",
                        parent_kind.entity_type
                    )));
                }
            };
            parent_id = Some(parent.id.clone());
            body.insert(field.into(), reference(parent_kind, &parent.body));
            // The parent's own ancestors, and the service type.
            for (_, ancestor) in parent_kind.ancestors() {
                let f = Kind::reference_field(ancestor);
                if let Some(r) = parent.body.get(f) {
                    body.insert(f.into(), r.clone());
                }
            }
            let service_type = parent
                .body
                .get("serviceType")
                .cloned()
                .unwrap_or(Value::Null);
            body.insert("serviceType".into(), service_type);
        }
        if kind.entity_type == "query" {
            let service = create
                .content
                .get("service")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match Self::find(db, &kind::SERVICE, "fqn", service, false).await? {
                Some(s) => {
                    body.insert("service".into(), reference(&kind::SERVICE, &s.body));
                }
                None => {
                    return Err(StoreError::NotFound(format!(
                        "databaseService instance for {service} not found (the service of this request)"
                    )));
                }
            }
        }
        if !create.owners.is_empty() {
            let mut owners = Vec::new();
            for o in &create.owners {
                let id = o.get("id").and_then(Value::as_str).unwrap_or_default();
                let t = o.get("type").and_then(Value::as_str).unwrap_or_default();
                let owner_kind = kind::by_entity_type(t)
                    .filter(|k| k.entity_type == "user")
                    .ok_or_else(|| Invalid(format!("owners: type {t:?} is not a user")))?;
                match Self::find(db, owner_kind, "id", id, false).await? {
                    Some(u) if !u.deleted => owners.push(reference(owner_kind, &u.body)),
                    _ => {
                        return Err(StoreError::NotFound(format!(
                            "user instance for {id} not found (in owners)"
                        )));
                    }
                }
            }
            body.insert("owners".into(), Value::Array(owners));
        }
        Ok((parent_id, body))
    }

    /// Writes a changed entity: version bump, change description, the version row.
    async fn update(
        db: &Db<'_, Transaction<'_>>,
        id: &str,
        body: &mut Map<String, Value>,
        changes: &Changes,
        updated_by: &str,
        deleted: bool,
    ) -> Result<(), StoreError> {
        let previous = version_of(body);
        body.insert("version".into(), json!(changes.next_version(previous)));
        body.insert("changeDescription".into(), changes.describe(previous));
        body.insert("updatedAt".into(), json!(now_millis()));
        body.insert("updatedBy".into(), Value::String(updated_by.into()));
        body.insert("deleted".into(), Value::Bool(deleted));
        let fqn = body
            .get("fullyQualifiedName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let text = Value::Object(body.clone()).to_string();
        db.execute(
            "UPDATE pgmeta_catalog.entity SET body = $2::text::jsonb, deleted = $3, fqn = CASE WHEN collection = 'queries' THEN fqn ELSE $4 END WHERE id = $1",
            &[&id, &text, &deleted, &fqn],
        )
        .await?;
        Self::record_version(db, id, body).await
    }

    async fn record_version(
        db: &Db<'_, Transaction<'_>>,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        let text = Value::Object(body.clone()).to_string();
        db.execute(
            "INSERT INTO pgmeta_catalog.entity_version (id, version, body) VALUES ($1, $2, $3::text::jsonb) ON CONFLICT (id, version) DO UPDATE SET body = EXCLUDED.body",
            &[&id, &version_of(body), &text],
        )
        .await?;
        Ok(())
    }

    /// PATCH: an RFC 6902 JSON Patch over the entity; unlike a PUT it overwrites descriptions
    /// and owners. System fields cannot be patched.
    pub async fn patch(
        &self,
        kind: &'static Kind,
        id: &str,
        patch: json_patch::Patch,
        updated_by: &str,
    ) -> Result<Map<String, Value>, StoreError> {
        let mut conn = self.client().await?;
        let PgConn { client, cache } = &mut *conn;
        let tx = client.transaction().await?;
        let db = Db { c: &tx, cache };
        let row = Self::find(&db, kind, "id", id, true)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| not_found(kind, id))?;
        for op in &patch.0 {
            let path = op.path().to_string();
            let top = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            if entity::SYSTEM_FIELDS.contains(&top.as_str()) || top == "name" {
                return Err(Invalid(format!("{top} cannot be patched")).into());
            }
        }
        let mut doc = Value::Object(row.body.clone());
        json_patch::patch(&mut doc, &patch)
            .map_err(|e| Invalid(format!("JSON Patch does not apply: {e}")))?;
        let Value::Object(mut new) = doc else {
            return Err(Invalid("JSON Patch must leave an object".into()).into());
        };
        if kind.entity_type == "table" {
            let mut check = entity::content(&new);
            check.insert("name".into(), Value::String(String::new()));
            let columns = check
                .get("columns")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            let mut probe = json!({"name": "x", "databaseSchema": "x", "columns": columns});
            if let Some(t) = check.get("tableType") {
                probe["tableType"] = t.clone();
            }
            if let Some(t) = check.get("tableConstraints") {
                probe["tableConstraints"] = t.clone();
            }
            entity::validate(kind, &probe)?;
        }
        let changes = entity::changes(&entity::content(&row.body), &entity::content(&new));
        if !changes.is_empty() {
            if let (Some(fqn), Some(columns)) = (
                new.get("fullyQualifiedName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                new.get_mut("columns"),
            ) {
                entity::qualify_columns(columns, &fqn);
            }
            Self::update(&db, &row.id, &mut new, &changes, updated_by, false).await?;
        }
        tx.commit().await?;
        Ok(if changes.is_empty() { row.body } else { new })
    }

    /// Soft delete (`deleted: true`, a new version) or hard delete (gone, with versions,
    /// lineage and usage). Children are deleted with `recursive`, else their presence is a 400.
    pub async fn delete(
        &self,
        kind: &'static Kind,
        by_name: bool,
        key: &str,
        recursive: bool,
        hard: bool,
        updated_by: &str,
    ) -> Result<Map<String, Value>, StoreError> {
        let mut conn = self.client().await?;
        let PgConn { client, cache } = &mut *conn;
        let tx = client.transaction().await?;
        let db = Db { c: &tx, cache };
        let by = if by_name { "fqn" } else { "id" };
        let row = Self::find(&db, kind, by, key, true)
            .await?
            .filter(|r| hard || !r.deleted)
            .ok_or_else(|| not_found(kind, key))?;
        let children = tx
            .query(
                "WITH RECURSIVE sub AS (SELECT id FROM pgmeta_catalog.entity WHERE parent_id = $1 UNION ALL SELECT e.id FROM pgmeta_catalog.entity e JOIN sub ON e.parent_id = sub.id) SELECT e.id, e.collection, e.deleted, e.body::text FROM pgmeta_catalog.entity e JOIN sub USING (id) FOR UPDATE OF e",
                &[&row.id],
            )
            .await?;
        let live_children = children.iter().filter(|r| !r.get::<_, bool>(2)).count();
        if live_children > 0 && !recursive {
            return Err(Invalid(format!(
                "{} {key} has {live_children} child entities; delete them first or pass recursive=true",
                kind.entity_type
            ))
            .into());
        }
        let mut ids: Vec<String> = children.iter().map(|r| r.get(0)).collect();
        ids.push(row.id.clone());
        let mut body = row.body;
        if hard {
            for sql in [
                "DELETE FROM pgmeta_catalog.lineage_edge WHERE from_id = ANY($1) OR to_id = ANY($1)",
                "DELETE FROM pgmeta_catalog.usage_daily WHERE entity_id = ANY($1)",
                "DELETE FROM pgmeta_catalog.entity_version WHERE id = ANY($1)",
                "DELETE FROM pgmeta_catalog.entity WHERE id = ANY($1)",
            ] {
                db.execute(sql, &[&ids]).await?;
            }
        } else {
            for child in children.iter().filter(|r| !r.get::<_, bool>(2)) {
                let mut b = body_of(child.get::<_, &str>(3));
                Self::soft_delete(&db, &child.get::<_, String>(0), &mut b, updated_by).await?;
            }
            if !row.deleted {
                Self::soft_delete(&db, &row.id, &mut body, updated_by).await?;
            }
        }
        tx.commit().await?;
        Ok(body)
    }

    async fn soft_delete(
        db: &Db<'_, Transaction<'_>>,
        id: &str,
        body: &mut Map<String, Value>,
        updated_by: &str,
    ) -> Result<(), StoreError> {
        let changes = Changes {
            updated: vec![("deleted".into(), Value::Bool(false), Value::Bool(true))],
            ..Changes::default()
        };
        Self::update(db, id, body, &changes, updated_by, true).await
    }

    /// `PUT /{collection}/restore {id}`: undoes a soft delete.
    pub async fn restore(
        &self,
        kind: &'static Kind,
        id: &str,
        updated_by: &str,
    ) -> Result<Map<String, Value>, StoreError> {
        let mut conn = self.client().await?;
        let PgConn { client, cache } = &mut *conn;
        let tx = client.transaction().await?;
        let db = Db { c: &tx, cache };
        let row = Self::find(&db, kind, "id", id, true)
            .await?
            .filter(|r| r.deleted)
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "{} instance for {id} not found among deleted entities",
                    kind.entity_type
                ))
            })?;
        let mut body = row.body;
        let changes = Changes {
            updated: vec![("deleted".into(), Value::Bool(true), Value::Bool(false))],
            ..Changes::default()
        };
        Self::update(&db, id, &mut body, &changes, updated_by, false).await?;
        tx.commit().await?;
        Ok(body)
    }

    /// A page of a collection in FQN order, optionally under one parent FQN. `after`/`before`
    /// are FQNs (the API hex-encodes them into opaque cursors).
    pub async fn list(
        &self,
        kind: &'static Kind,
        parent_fqn: Option<&str>,
        include: Include,
        limit: i64,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<(Vec<Map<String, Value>>, i64), StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let deleted_filter = include.sql_filter();
        let prefix = parent_fqn.map(|p| format!("{p}."));
        let base = format!(
            "FROM pgmeta_catalog.entity WHERE collection = $1{deleted_filter} AND ($2::text IS NULL OR starts_with(fqn, $2))"
        );
        let total: i64 = c
            .query_one(
                &format!("SELECT count(*) {base}"),
                &[&kind.collection, &prefix],
            )
            .await?
            .get(0);
        let rows = match before {
            Some(b) => {
                let sql = format!(
                    "SELECT body::text FROM (SELECT body, fqn {base} AND fqn < $3 ORDER BY fqn DESC LIMIT $4) page ORDER BY fqn"
                );
                c.query(&sql, &[&kind.collection, &prefix, &b, &limit])
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT body::text {base} AND ($3::text IS NULL OR fqn > $3) ORDER BY fqn LIMIT $4"
                );
                c.query(&sql, &[&kind.collection, &prefix, &after, &limit])
                    .await?
            }
        };
        Ok((
            rows.iter().map(|r| body_of(r.get::<_, &str>(0))).collect(),
            total,
        ))
    }

    /// Whether an entity sorts after `fqn` in the collection (for the `after` cursor).
    pub async fn has_more(
        &self,
        kind: &Kind,
        parent_fqn: Option<&str>,
        include: Include,
        fqn: &str,
        forward: bool,
    ) -> Result<bool, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let deleted_filter = include.sql_filter();
        let prefix = parent_fqn.map(|p| format!("{p}."));
        let cmp = if forward { ">" } else { "<" };
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM pgmeta_catalog.entity WHERE collection = $1{deleted_filter} AND ($2::text IS NULL OR starts_with(fqn, $2)) AND fqn {cmp} $3)"
        );
        Ok(c.query_one(&sql, &[&kind.collection, &prefix, &fqn])
            .await?
            .get(0))
    }

    /// All versions of an entity, newest first.
    pub async fn versions(&self, kind: &'static Kind, id: &str) -> Result<Vec<Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        Self::find(&c, kind, "id", id, false)
            .await?
            .ok_or_else(|| not_found(kind, id))?;
        let rows = c
            .query("SELECT body::text FROM pgmeta_catalog.entity_version WHERE id = $1 ORDER BY version DESC", &[&id])
            .await?;
        Ok(rows
            .iter()
            .map(|r| Value::Object(body_of(r.get::<_, &str>(0))))
            .collect())
    }

    pub async fn version(
        &self,
        kind: &'static Kind,
        id: &str,
        version: f64,
    ) -> Result<Map<String, Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let row = c
            .query_opt("SELECT body::text FROM pgmeta_catalog.entity_version WHERE id = $1 AND version = $2", &[&id, &version])
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{} instance for {id} has no version {version}", kind.entity_type)))?;
        Ok(body_of(row.get::<_, &str>(0)))
    }

    /// Any entity by id, whatever its collection (for lineage).
    pub async fn entity_by_id(
        &self,
        id: &str,
    ) -> Result<Option<(&'static Kind, Map<String, Value>)>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let row = c
            .query_opt(
                "SELECT collection, body::text FROM pgmeta_catalog.entity WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(row.and_then(|r| {
            kind::by_collection(r.get::<_, &str>(0)).map(|k| (k, body_of(r.get::<_, &str>(1))))
        }))
    }

    /// Adds or replaces the edge `from -> to`. Returns whether anything changed.
    pub async fn put_edge(&self, from: &str, to: &str, edge: &Value) -> Result<bool, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let text = edge.to_string();
        let n = c
            .execute(
                "INSERT INTO pgmeta_catalog.lineage_edge (from_id, to_id, body) VALUES ($1, $2, $3::text::jsonb) ON CONFLICT (from_id, to_id) DO UPDATE SET body = EXCLUDED.body WHERE lineage_edge.body IS DISTINCT FROM EXCLUDED.body",
                &[&from, &to, &text],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn get_edge(&self, from: &str, to: &str) -> Result<Option<Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let row = c
            .query_opt("SELECT body::text FROM pgmeta_catalog.lineage_edge WHERE from_id = $1 AND to_id = $2", &[&from, &to])
            .await?;
        Ok(row.map(|r| Value::Object(body_of(r.get::<_, &str>(0)))))
    }

    pub async fn delete_edge(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let n = c
            .execute(
                "DELETE FROM pgmeta_catalog.lineage_edge WHERE from_id = $1 AND to_id = $2",
                &[&from, &to],
            )
            .await?;
        Ok(n > 0)
    }

    /// Edges into (`upstream`) or out of each of `ids`: (from, to, details).
    pub async fn edges(
        &self,
        ids: &[String],
        upstream: bool,
    ) -> Result<Vec<(String, String, Value)>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let sql = if upstream {
            "SELECT from_id, to_id, body::text FROM pgmeta_catalog.lineage_edge WHERE to_id = ANY($1) ORDER BY 1, 2"
        } else {
            "SELECT from_id, to_id, body::text FROM pgmeta_catalog.lineage_edge WHERE from_id = ANY($1) ORDER BY 1, 2"
        };
        let rows = c.query(sql, &[&ids]).await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    Value::Object(body_of(r.get::<_, &str>(2))),
                )
            })
            .collect())
    }

    /// Daily usage count of an entity: `replace` sets it (PUT), else adds to it (POST).
    pub async fn put_usage(
        &self,
        id: &str,
        day: &str,
        count: i64,
        replace: bool,
    ) -> Result<(), StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let sql = if replace {
            "INSERT INTO pgmeta_catalog.usage_daily (entity_id, day, count) VALUES ($1, $2::text::date, $3) ON CONFLICT (entity_id, day) DO UPDATE SET count = EXCLUDED.count"
        } else {
            "INSERT INTO pgmeta_catalog.usage_daily (entity_id, day, count) VALUES ($1, $2::text::date, $3) ON CONFLICT (entity_id, day) DO UPDATE SET count = usage_daily.count + EXCLUDED.count"
        };
        c.execute(sql, &[&id, &day, &count]).await.map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_DATETIME_FORMAT)
                || e.code() == Some(&tokio_postgres::error::SqlState::DATETIME_FIELD_OVERFLOW)
            {
                StoreError::Invalid(Invalid(format!("date {day:?} is not a YYYY-MM-DD date")))
            } else {
                StoreError::Pg(e)
            }
        })?;
        Ok(())
    }

    /// `(date, count)` of an entity's usage, newest first, up to `days` days back from `until`.
    pub async fn usage(
        &self,
        id: &str,
        until: Option<&str>,
        days: i32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let rows = c
            .query(
                "SELECT day::text, count FROM pgmeta_catalog.usage_daily WHERE entity_id = $1 AND day <= coalesce($2::text::date, 'infinity'::date) AND day > coalesce($2::text::date, current_date) - $3::int ORDER BY day DESC",
                &[&id, &until, &days],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
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
