//! Writing entities: PUT create-or-update, PATCH, delete and restore, each change recorded as
//! a version.

use super::conn::{Db, PgConn};
use super::{
    PutOutcome, Row, Store, StoreError, Update, body_of, not_found, now_millis, reference,
    version_of,
};
use crate::openmetadata::kind::{self, Kind};
use crate::server::changes::{self, Changes};
use crate::server::entity;
use crate::server::limits::MAX_DEPTH;
use crate::server::patch;
use crate::server::request::{self, Create, Invalid};
use serde_json::{Map, Value, json};
use tokio_postgres::{GenericClient, Transaction};

/// An entity as JSON text, serialized from the map itself (no copy of a wide table).
fn json_text(body: &Map<String, Value>) -> String {
    // A map of JSON values always serializes.
    serde_json::to_string(body).unwrap_or_default()
}

impl Store {
    /// PUT create-or-update. A create is one statement after two reads, and a PUT that
    /// changes nothing writes nothing; only an update takes the row lock in a transaction.
    /// Either way the parent is locked (`FOR SHARE`) and must be live when the write lands,
    /// so a concurrent delete of the parent cannot leave this entity orphaned.
    pub async fn put(
        &self,
        kind: &'static Kind,
        create: &Create,
        updated_by: &str,
    ) -> Result<(PutOutcome, Map<String, Value>), StoreError> {
        let mut conn = self.client().await?;
        let (parent_id, new) = Self::build(&conn.db(), kind, create).await?;
        // A query has no parent in the entity tree, but its FQN is its service's, then its
        // checksum, as OpenMetadata names it: the same text run on two services is two queries.
        let query = kind.entity_type == "query";
        let parent = if query {
            create.content.get("service").and_then(Value::as_str)
        } else {
            create.parent_fqn.as_deref()
        };
        let fqn = entity::child_fqn(parent, &create.name);
        let checksum = create.name.clone();
        let (fqn, new) = crate::server::blocking(move || {
            let mut new = new;
            if query {
                new.insert("checksum".into(), Value::String(checksum));
            }
            new.insert("fullyQualifiedName".into(), Value::String(fqn.clone()));
            if let Some(columns) = new.get_mut("columns") {
                entity::qualify_columns(columns, &fqn);
            }
            (fqn, new)
        })
        .await?;
        let gone = || {
            StoreError::NotFound(format!(
                "the parent of {} {fqn} was deleted concurrently",
                kind.entity_type
            ))
        };
        match Self::find(&conn.db(), kind, "fqn", &fqn, false).await? {
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                let mut new = new;
                new.insert("id".into(), Value::String(id.clone()));
                new.insert("version".into(), json!(0.1));
                new.insert("updatedAt".into(), json!(now_millis()));
                new.insert("updatedBy".into(), Value::String(updated_by.into()));
                new.insert("deleted".into(), Value::Bool(false));
                let (new, text) = crate::server::blocking(move || {
                    let text = json_text(&new);
                    (new, text)
                })
                .await?;
                let row = conn
                    .db()
                    .query_one(
                        "WITH p AS (SELECT id FROM pgmeta_catalog.entity WHERE id = $4 AND NOT deleted FOR SHARE), \
                         e AS (INSERT INTO pgmeta_catalog.entity (id, collection, fqn, parent_id, body) \
                               SELECT $1, $2, $3, $4, $5::text::json WHERE $4::text IS NULL OR EXISTS (SELECT 1 FROM p) \
                               ON CONFLICT (collection, fqn) DO NOTHING RETURNING id, body), \
                         v AS (INSERT INTO pgmeta_catalog.entity_version (id, version, body) SELECT id, 0.1, body FROM e RETURNING id) \
                         SELECT $4::text IS NULL OR EXISTS (SELECT 1 FROM p), (SELECT count(*) FROM v)",
                        &[&id, &kind.collection, &fqn, &parent_id, &text],
                    )
                    .await?;
                if !row.get::<_, bool>(0) {
                    return Err(gone());
                }
                if row.get::<_, i64>(1) == 0 {
                    // Created concurrently by another request: the caller retries as an update.
                    return Err(StoreError::Conflict(format!(
                        "{} {fqn} was created concurrently",
                        kind.entity_type
                    )));
                }
                Ok((PutOutcome::Created, new))
            }
            Some(row) => {
                let Row {
                    id,
                    xmin,
                    deleted,
                    body,
                    ..
                } = row;
                let update =
                    crate::server::blocking(move || Self::update_of(body, deleted, new)).await?;
                if let Update::Unchanged(body) = update {
                    return Ok((PutOutcome::Unchanged, body));
                }
                let PgConn { client, cache } = &mut *conn;
                let tx = client.transaction().await?;
                let db = Db { c: &tx, cache };
                if let Some(parent) = &parent_id {
                    Self::lock_live(&db, parent).await?.ok_or_else(gone)?;
                }
                // Under the row lock: the update computed above stands unless another request
                // changed the row meanwhile (its xmin moved); then the caller starts again.
                let locked = db
                    .query_opt(
                        "SELECT xmin::text FROM pgmeta_catalog.entity WHERE id = $1 FOR UPDATE",
                        &[&id],
                    )
                    .await?;
                if locked.is_none_or(|l| l.get::<_, String>(0) != xmin) {
                    return Err(StoreError::Conflict(format!(
                        "{} {fqn} was changed concurrently",
                        kind.entity_type
                    )));
                }
                let out = match update {
                    Update::Unchanged(body) => (PutOutcome::Unchanged, body),
                    Update::Marker(body) => {
                        let text = json_text(&body);
                        db.execute(
                            "UPDATE pgmeta_catalog.entity SET body = $2::text::json WHERE id = $1",
                            &[&id, &text],
                        )
                        .await?;
                        (PutOutcome::Unchanged, body)
                    }
                    Update::Changed(mut body, changes) => {
                        Self::update(&db, &id, &mut body, &changes, updated_by, false).await?;
                        (PutOutcome::Updated, body)
                    }
                };
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// Locks a live entity against deletion for the rest of the transaction (`FOR SHARE`).
    async fn lock_live(db: &Db<'_, Transaction<'_>>, id: &str) -> Result<Option<()>, StoreError> {
        let row = db
            .query_opt(
                "SELECT 1 FROM pgmeta_catalog.entity WHERE id = $1 AND NOT deleted FOR SHARE",
                &[&id],
            )
            .await?;
        Ok(row.map(|_| ()))
    }

    /// What a PUT of `new` does to the stored entity `old`: nothing, only a new `sourceHash`
    /// marker (no version), or a change. Both are consumed, so a wide table's columns are
    /// moved, not copied (this runs on a blocking thread).
    fn update_of(old: Map<String, Value>, deleted: bool, new: Map<String, Value>) -> Update {
        // The system fields the request determines (FQN, parent references, marker), apart
        // from the content.
        let mut incoming = new;
        let mut system = Vec::new();
        incoming.retain(|k, v| {
            let is_system = entity::SYSTEM_FIELDS.contains(&k.as_str());
            if is_system && k != "id" {
                system.push((k.clone(), std::mem::take(v)));
            }
            !is_system
        });
        changes::merge_curated(&old, &mut incoming);
        let mut changes = changes::changes(&old, &incoming);
        if deleted {
            changes
                .updated
                .push(("deleted".into(), Value::Bool(true), Value::Bool(false)));
        }
        let mut old = old;
        if changes.is_empty() {
            let marker = system.into_iter().find(|(k, _)| k == "sourceHash");
            return match marker {
                Some((k, v)) if old.get(&k) != Some(&v) => {
                    old.insert(k, v);
                    Update::Marker(old)
                }
                _ => Update::Unchanged(old),
            };
        }
        // The stored system fields, those the request determines, then the new content.
        old.retain(|k, _| entity::SYSTEM_FIELDS.contains(&k.as_str()));
        old.extend(system);
        old.extend(incoming);
        Update::Changed(old, changes)
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
        // The tables a query was used in, as full references (a request names id and type).
        if let Some(Value::Array(refs)) = create.content.get("queryUsedIn") {
            let mut used_in = Vec::with_capacity(refs.len());
            for (i, r) in refs.iter().enumerate() {
                let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
                let t = r.get("type").and_then(Value::as_str).unwrap_or_default();
                let used_kind = kind::by_entity_type(t).ok_or_else(|| {
                    Invalid(format!(
                        "queryUsedIn[{i}]: type {t:?} is not an entity type"
                    ))
                })?;
                match Self::find(db, used_kind, "id", id, false).await? {
                    Some(e) => used_in.push(reference(used_kind, &e.body)),
                    None => {
                        return Err(StoreError::NotFound(format!(
                            "{t} instance for {id} not found (in queryUsedIn)"
                        )));
                    }
                }
            }
            body.insert("queryUsedIn".into(), Value::Array(used_in));
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
        let version = version_of(body);
        let owned = std::mem::take(body);
        let (owned, text) = crate::server::blocking(move || {
            let text = json_text(&owned);
            (owned, text)
        })
        .await?;
        *body = owned;
        db.execute(
            "UPDATE pgmeta_catalog.entity SET body = $2::text::json, deleted = $3, fqn = CASE WHEN collection = 'queries' THEN fqn ELSE $4 END WHERE id = $1",
            &[&id, &text, &deleted, &fqn],
        )
        .await?;
        // Versions are insert-only: a version once recorded is never rewritten (a second
        // write of the same number is a unique violation, answered 409).
        db.execute(
            "INSERT INTO pgmeta_catalog.entity_version (id, version, body) VALUES ($1, $2, $3::text::json)",
            &[&id, &version, &text],
        )
        .await?;
        Ok(())
    }

    /// PATCH: an RFC 6902 JSON Patch over the entity; unlike a PUT it overwrites descriptions
    /// and owners. Applied to a copy and checked (`server::patch`): the server's fields
    /// stay as they are, size and depth are bounded, a table still validates; a rejected
    /// patch changes nothing.
    pub async fn patch(
        &self,
        kind: &'static Kind,
        id: &str,
        ops: Vec<json_patch::PatchOperation>,
        updated_by: &str,
        max_bytes: usize,
    ) -> Result<Map<String, Value>, StoreError> {
        let mut conn = self.client().await?;
        let PgConn { client, cache } = &mut *conn;
        let tx = client.transaction().await?;
        let db = Db { c: &tx, cache };
        let row = Self::find(&db, kind, "id", id, true)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| not_found(kind, id))?;
        let (row, patched) = crate::server::blocking(move || {
            let patched = Self::patched(kind, &row.body, &ops, max_bytes);
            (row, patched)
        })
        .await?;
        let (mut new, changes) = patched?;
        if !changes.is_empty() {
            Self::update(&db, &row.id, &mut new, &changes, updated_by, false).await?;
        }
        tx.commit().await?;
        Ok(if changes.is_empty() { row.body } else { new })
    }

    /// The patched entity and what changed (pure; run on a blocking thread).
    fn patched(
        kind: &'static Kind,
        stored: &Map<String, Value>,
        ops: &[json_patch::PatchOperation],
        max_bytes: usize,
    ) -> Result<(Map<String, Value>, Changes), StoreError> {
        let mut new = patch::apply(kind, stored, ops, max_bytes, MAX_DEPTH)?;
        if kind.entity_type == "table" {
            let mut probe = json!({"name": "x", "databaseSchema": "x"});
            for field in ["columns", "tableType", "tableConstraints"] {
                if let Some(v) = new.get(field) {
                    probe[field] = v.clone();
                }
            }
            request::validate(kind, probe)?;
        }
        let changes = changes::changes(stored, &new);
        if !changes.is_empty() {
            if let (Some(fqn), Some(columns)) = (
                new.get("fullyQualifiedName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                new.get_mut("columns"),
            ) {
                entity::qualify_columns(columns, &fqn);
            }
        }
        Ok((new, changes))
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
        // A child created while this read waited for a lock committed after the read's
        // snapshot: read again (locks held now keep new children out) until nothing new.
        let mut children = Vec::new();
        loop {
            let found = tx
                .query(
                    "WITH RECURSIVE sub AS (SELECT id FROM pgmeta_catalog.entity WHERE parent_id = $1 UNION ALL SELECT e.id FROM pgmeta_catalog.entity e JOIN sub ON e.parent_id = sub.id) SELECT e.id, e.collection, e.deleted, e.body::text FROM pgmeta_catalog.entity e JOIN sub USING (id) FOR UPDATE OF e",
                    &[&row.id],
                )
                .await?;
            let stable = found.len() == children.len();
            children = found;
            if stable {
                break;
            }
        }
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
                "DELETE FROM pgmeta_catalog.join_daily WHERE entity_id = ANY($1)",
                "DELETE FROM pgmeta_catalog.entity_version WHERE id = ANY($1)",
                "DELETE FROM pgmeta_catalog.entity WHERE id = ANY($1)",
            ] {
                db.execute(sql, &[&ids]).await?;
            }
        } else {
            for child in children.iter().filter(|r| !r.get::<_, bool>(2)) {
                let mut b = body_of(child.get::<_, &str>(3))?;
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
        if let Some(parent) = &row.parent_id {
            if Self::lock_live(&db, parent).await?.is_none() {
                return Err(Invalid(format!(
                    "{} {id} cannot be restored while its parent is deleted; restore the parent first",
                    kind.entity_type
                ))
                .into());
            }
        }
        let mut body = row.body;
        let changes = Changes {
            updated: vec![("deleted".into(), Value::Bool(true), Value::Bool(false))],
            ..Changes::default()
        };
        Self::update(&db, id, &mut body, &changes, updated_by, false).await?;
        tx.commit().await?;
        Ok(body)
    }
}
