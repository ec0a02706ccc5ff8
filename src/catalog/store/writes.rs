//! Writing entities: PUT create-or-update, PATCH, delete and restore, each change recorded as
//! a version.

use super::conn::{Db, PgConn};
use super::{
    PutOutcome, Row, Store, StoreError, Update, body_of, not_found, now_millis, reference,
    version_of,
};
use crate::catalog::entity::{self, Changes, Create, Invalid};
use crate::catalog::kind::{self, Kind};
use serde_json::{Map, Value, json};
use tokio_postgres::{GenericClient, Transaction};

impl Store {
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
}
