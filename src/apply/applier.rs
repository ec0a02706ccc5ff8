//! `Applier`: one decoded event -> the API calls that make the server reflect it. Safe to
//! repeat: PUTs are create-or-update, deletes of what is gone succeed, and an event older than
//! what the server already holds (a replay) is skipped.
//!
//! Staleness: pgmeta-apply marks each entity it writes with the `sourceHash` marker of the
//! event (`stamps::Stamp`: OID, entity version, emitted_at). An event older than the marker of
//! the entity now under its FQN (by version for the same OID, by time across a drop and
//! re-create) is skipped, so replaying the topics from the beginning creates no version.

use super::client::{ApplyError, HttpMetadataClient};
use super::mapping;
use super::name::EntityName;
use super::stamps::{Held, Listings, Stamp};
use crate::event::{LineageEvent, LineageOp, MetadataEvent, Op, UsageEvent, UsageKind};
use crate::openmetadata::kind::{self, Kind};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ApplierConfig {
    /// Delete entities outright on DELETE instead of marking them deleted.
    pub hard_delete: bool,
    /// Overwrite descriptions and owners with the source's (by PATCH, as OpenMetadata's
    /// `overrideMetadata`); off: a description curated in the catalog wins.
    pub override_metadata: bool,
    /// `serviceType` of services created on demand.
    pub service_type: String,
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The server now reflects it.
    Done,
    /// Nothing to do: a tombstone, or older than what the server holds.
    Skipped,
}

#[derive(Debug)]
pub struct Applier {
    client: HttpMetadataClient,
    config: ApplierConfig,
    /// Entity ids by (collection, FQN); dropped when a call says the entity is gone.
    ids: Mutex<HashMap<(&'static str, String), String>>,
    /// Users by role name, `None` when the server has none (re-asked after a while).
    users: Mutex<HashMap<String, (Option<Value>, Instant)>>,
    /// Listed markers, read instead of one GET per event (see `stamps`).
    listings: Listings,
}

const USER_CACHE: Duration = Duration::from_secs(300);

/// How far ahead of this host's clock an event's `emitted_at` may be before it is refused:
/// clocks of two hosts differ by seconds, not by a day.
const MAX_FUTURE: Duration = Duration::from_secs(24 * 3600);

impl Applier {
    pub fn new(client: HttpMetadataClient, config: ApplierConfig) -> Applier {
        Applier {
            client,
            config,
            ids: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            listings: Listings::default(),
        }
    }

    /// Lists the entities of `kind` under each of `parents` that has no fresh listing, so that
    /// the events of a large batch need no GET each. A failed listing is logged and left to
    /// the GETs.
    pub async fn prefetch(&self, kind: &'static Kind, parents: &[String]) {
        for parent in parents {
            if !self.listings.wanted(kind.collection, parent) {
                continue;
            }
            let at = Instant::now();
            match self.client.list_children(kind, parent).await {
                Ok(entities) => self.listings.keep(
                    kind.collection,
                    parent.clone(),
                    at,
                    entities.as_deref().unwrap_or_default(),
                ),
                Err(e) => {
                    tracing::debug!(parent = %parent, error = %e, "listing failed; one GET per event instead");
                }
            }
        }
    }

    /// The consumer's partitions changed: what another instance wrote meanwhile is unknown.
    pub fn forget_listings(&self) {
        self.listings.clear();
    }

    /// What the server holds under `fqn` (deleted or not), from a listing or a GET.
    async fn held(
        &self,
        kind: &'static Kind,
        name: &EntityName,
    ) -> Result<Option<Held>, ApplyError> {
        if let Some(held) = self.listings.lookup(kind.collection, name) {
            return Ok(held);
        }
        let current = self.client.get_by_name(kind, &name.fqn(), "", true).await?;
        Ok(current.as_ref().map(Held::of))
    }

    fn cached_id(&self, kind: &'static Kind, fqn: &str) -> Option<String> {
        self.ids
            .lock()
            .ok()?
            .get(&(kind.collection, fqn.to_owned()))
            .cloned()
    }

    fn remember(&self, kind: &'static Kind, fqn: &str, id: Option<&str>) {
        if let Ok(mut ids) = self.ids.lock() {
            match id {
                Some(id) => ids.insert((kind.collection, fqn.to_owned()), id.to_owned()),
                None => ids.remove(&(kind.collection, fqn.to_owned())),
            };
        }
    }

    /// The id of a live entity, from the cache or the server.
    async fn id_of(&self, kind: &'static Kind, fqn: &str) -> Result<Option<String>, ApplyError> {
        if let Some(id) = self.cached_id(kind, fqn) {
            return Ok(Some(id));
        }
        let found = self.client.get_by_name(kind, fqn, "", false).await?;
        let id = found
            .as_ref()
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(id) = &id {
            self.remember(kind, fqn, Some(id));
        }
        Ok(id)
    }

    /// The id of the entity under `fqn`, live or deleted.
    async fn id_of_any(
        &self,
        kind: &'static Kind,
        fqn: &str,
    ) -> Result<Option<String>, ApplyError> {
        if let Some(id) = self.id_of(kind, fqn).await? {
            return Ok(Some(id));
        }
        Ok(self
            .client
            .get_by_name(kind, fqn, "", true)
            .await?
            .as_ref()
            .and_then(|e| e.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    pub async fn metadata(&self, e: &MetadataEvent) -> Result<Applied, ApplyError> {
        let kind = mapping::kind_of(e.entity_type);
        let name = EntityName::of_event(e).map_err(ApplyError::malformed)?;
        let ahead = e.emitted_at - crate::event::now_millis();
        if ahead > MAX_FUTURE.as_millis() as i64 {
            // Between two objects under one FQN time decides which is newer: an event from
            // far ahead would win that forever.
            return Err(ApplyError::malformed(format!(
                "emitted_at {} is {} h ahead of this host's clock",
                e.emitted_at,
                ahead / 3_600_000
            )));
        }
        // What the server holds under this FQN, deleted or not, to tell a replay.
        let current = self.held(kind, &name).await?;
        let deleted = current.is_some_and(|c| c.deleted);
        let this = Stamp::of_event(e.object_id, e.capture_epoch, e.entity_version, e.emitted_at);
        // Newer than this event, or this very event already applied and deleted since (a
        // delete does not change the marker).
        if current
            .and_then(|c| c.stamp)
            .is_some_and(|h| h.newer_than(&this) || (h == this && deleted))
        {
            // Stale under its own name, but a rename still says the old name is gone: the
            // object has moved on, whatever happened to the new name since.
            if let (Some(previous), Some(mut body)) =
                (&e.previous_fqn, mapping::create_request(e, &name))
            {
                let previous = EntityName::parse(e.entity_type, previous)
                    .map_err(|b| ApplyError::malformed(format!("previous_fqn: {b}")))?;
                body["sourceHash"] = json!(this.marker());
                self.retire(kind, &previous, &body).await?;
            }
            tracing::debug!(fqn = %e.fqn, op = e.op.as_str(), "metadata event older than the server's; skipped");
            return Ok(Applied::Skipped);
        }
        if e.op == Op::Delete {
            let Some(current) = current else {
                return Ok(Applied::Done);
            };
            if deleted && !self.config.hard_delete {
                return Ok(Applied::Done);
            }
            self.remember(kind, &e.fqn, None);
            return match self
                .client
                .delete_by_name(kind, &e.fqn, self.config.hard_delete)
                .await?
            {
                Ok(()) => {
                    if [&kind::TABLE, &kind::STORED_PROCEDURE].contains(&kind) {
                        let after = (!self.config.hard_delete).then_some(Held {
                            deleted: true,
                            ..current
                        });
                        self.listings.wrote(kind.collection, &name, after);
                    } else {
                        // A recursive delete: the listed children are deleted too.
                        self.listings.clear();
                    }
                    Ok(Applied::Done)
                }
                Err(r) => Err(r.definite(&format!("DELETE {}", e.fqn))),
            };
        }
        let Some(mut body) = mapping::create_request(e, &name) else {
            return Err(ApplyError::malformed(format!(
                "{} event for {} carries no entity",
                e.op.as_str(),
                e.fqn
            )));
        };
        body["sourceHash"] = json!(this.marker());
        if let Some(previous) = &e.previous_fqn {
            let previous = EntityName::parse(e.entity_type, previous)
                .map_err(|b| ApplyError::malformed(format!("previous_fqn: {b}")))?;
            self.retire(kind, &previous, &body).await?;
        }
        let owners = match mapping::owner(e) {
            Some(role) => self.owner_ref(role).await?.map(|r| vec![r]),
            None => None,
        };
        if let Some(o) = &owners {
            body["owners"] = json!(o);
        }
        let entity = self.put_with_parents(kind, &name, &body).await?;
        self.listings
            .wrote(kind.collection, &name, Some(Held::of(&entity)));
        if let Some(id) = entity.get("id").and_then(Value::as_str) {
            tracing::debug!(fqn = %e.fqn, op = e.op.as_str(), id = %id, "metadata event applied");
            self.remember(kind, &e.fqn, Some(id));
        }
        if self.config.override_metadata {
            self.override_curated(kind, e, &entity, &body, owners)
                .await?;
        }
        Ok(Applied::Done)
    }

    /// The old name of a renamed entity. OpenMetadata cannot rename a data asset through its
    /// API (the FQN is the key), so the old name is deleted and the new one created. The old
    /// name is first stamped with the rename's marker: its own older events, which may still
    /// arrive from another partition, are then seen as stale instead of bringing it back.
    async fn retire(
        &self,
        kind: &'static Kind,
        previous: &EntityName,
        body: &Value,
    ) -> Result<(), ApplyError> {
        let this = Held::of(body).stamp;
        let fqn = previous.fqn();
        let current = self.held(kind, previous).await?;
        let superseded = |held: Option<Stamp>| match (held, this) {
            (Some(h), Some(t)) => h == t || h.newer_than(&t),
            (held, this) => held.is_some() || this.is_none(),
        };
        // Already retired by this rename or a later one; or the old name now holds something
        // newer than this rename (another object took the name): not this event's to retire.
        let newer = |c: &Held| c.stamp.zip(this).is_some_and(|(h, t)| h.newer_than(&t));
        if current.is_some_and(|c| (c.deleted && superseded(c.stamp)) || (!c.deleted && newer(&c)))
        {
            return Ok(());
        }
        let mut old = body.clone();
        if let (Some(parent), Some((field, _))) = (previous.parent(), kind.parent) {
            old["name"] = json!(previous.name());
            old[field] = json!(parent.fqn());
        }
        self.remember(kind, &fqn, None);
        // Renamed and deleted below, children too: the listings no longer tell.
        self.listings.clear();
        self.put_with_parents(kind, previous, &old).await?;
        match self
            .client
            .delete_by_name(kind, &fqn, self.config.hard_delete)
            .await?
        {
            Ok(()) => {
                tracing::debug!(fqn = %fqn, "renamed away: old name retired");
                Ok(())
            }
            Err(r) => Err(r.definite(&format!("DELETE {fqn}"))),
        }
    }

    /// PUT; when the parent is missing (its event has not been applied yet), creates the
    /// ancestors named by `name` and tries again.
    async fn put_with_parents(
        &self,
        kind: &'static Kind,
        name: &EntityName,
        body: &Value,
    ) -> Result<Value, ApplyError> {
        let fqn = name.fqn();
        match self.client.put(kind, body).await? {
            Ok(v) => return Ok(v),
            Err(r) if r.status == 404 && kind.parent.is_some() => {
                tracing::debug!(fqn = ?fqn, reason = ?r.message, "creating ancestors on demand");
            }
            Err(r) => return Err(r.definite(&format!("PUT /{} {fqn}", kind.collection))),
        }
        let mut ancestors = kind.ancestors();
        ancestors.reverse();
        for (_, ancestor) in ancestors {
            let request = mapping::ancestor_request(ancestor, name, &self.config.service_type);
            if let Err(r) = self.client.put(ancestor, &request).await? {
                return Err(
                    r.definite(&format!("PUT /{} (ancestor of {fqn})", ancestor.collection))
                );
            }
        }
        self.client
            .put(kind, body)
            .await?
            .map_err(|r| r.definite(&format!("PUT /{} {fqn}", kind.collection)))
    }

    /// A PUT does not overwrite a description or owners already set; the source's truth is
    /// applied by PATCH where it differs (columns by name). Fields the capture left out for
    /// size are left alone.
    async fn override_curated(
        &self,
        kind: &'static Kind,
        e: &MetadataEvent,
        entity: &Value,
        body: &Value,
        owners: Option<Vec<Value>>,
    ) -> Result<(), ApplyError> {
        let Some(id) = entity.get("id").and_then(Value::as_str) else {
            return Ok(());
        };
        let truncated = |f: &str| e.truncated_fields.iter().any(|t| t == f);
        let mut ops = Vec::new();
        let set =
            |ops: &mut Vec<Value>, path: String, have: Option<&Value>, want: Option<&Value>| {
                let have = have.filter(|v| !v.is_null() && v.as_str() != Some(""));
                let want = want.filter(|v| !v.is_null() && v.as_str() != Some(""));
                match (have, want) {
                    (None, Some(w)) => ops.push(json!({"op": "add", "path": path, "value": w})),
                    (Some(h), Some(w)) if h != w => {
                        ops.push(json!({"op": "replace", "path": path, "value": w}))
                    }
                    (Some(_), None) => ops.push(json!({"op": "remove", "path": path})),
                    _ => {}
                }
            };
        if !truncated("table.description") {
            set(
                &mut ops,
                "/description".into(),
                entity.get("description"),
                body.get("description"),
            );
        }
        if !truncated("table.columns.description") {
            if let (Some(have), Some(want)) = (
                entity.get("columns").and_then(Value::as_array),
                body.get("columns").and_then(Value::as_array),
            ) {
                for (i, col) in have.iter().enumerate() {
                    let name = col.get("name");
                    if let Some(w) = want.iter().find(|w| w.get("name") == name) {
                        set(
                            &mut ops,
                            format!("/columns/{i}/description"),
                            col.get("description"),
                            w.get("description"),
                        );
                    }
                }
            }
        }
        if let Some(owners) = owners {
            let ids = |v: Option<&Value>| -> Vec<Value> {
                v.and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|o| o.get("id").cloned()).collect())
                    .unwrap_or_default()
            };
            let want = Value::Array(owners.clone());
            if ids(entity.get("owners")) != ids(Some(&want)) {
                ops.push(json!({"op": "add", "path": "/owners", "value": owners}));
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.client
            .patch(kind, id, &Value::Array(ops))
            .await?
            .map(|_| ())
            .map_err(|r| r.definite(&format!("PATCH /{} {}", kind.collection, e.fqn)))
    }

    /// The owner's user reference, when the server has a user of that name (or, for a role
    /// named like an email address, of its local part); else none, logged once a while.
    async fn owner_ref(&self, role: &str) -> Result<Option<Value>, ApplyError> {
        if let Some((found, at)) = self.users.lock().ok().and_then(|u| u.get(role).cloned()) {
            if at.elapsed() < USER_CACHE {
                return Ok(found);
            }
        }
        let mut candidates = vec![role.to_owned()];
        if let Some((local, _)) = role.split_once('@') {
            candidates.push(local.to_owned());
        }
        let mut found = None;
        for name in candidates {
            if let Some(user) = self
                .client
                .get_by_name(&kind::USER, &name, "", false)
                .await?
            {
                found = Some(json!({"id": user.get("id"), "type": "user"}));
                break;
            }
        }
        if found.is_none() {
            tracing::info!(owner = %role, "owner has no user in the metadata server; applied without owner");
        }
        if let Ok(mut users) = self.users.lock() {
            users.insert(role.to_owned(), (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// A table that must be in the server for a lineage or usage event. Absent is transient
    /// (its metadata event may still be on its way); deleted (`None`) means the table was
    /// dropped or renamed after the event was emitted, so the event has nothing left to apply:
    /// the capture sends what replaces it.
    async fn required_table(&self, fqn: &str) -> Result<Option<String>, ApplyError> {
        if let Some(id) = self.id_of(&kind::TABLE, fqn).await? {
            return Ok(Some(id));
        }
        let held = self.client.get_by_name(&kind::TABLE, fqn, "", true).await?;
        if held.is_some_and(|t| t.get("deleted") == Some(&Value::Bool(true))) {
            return Ok(None);
        }
        Err(ApplyError::Missing(format!(
            "table {fqn} is not in the metadata server yet"
        )))
    }

    pub async fn lineage(&self, e: &LineageEvent) -> Result<Applied, ApplyError> {
        if e.op == LineageOp::Delete {
            // An end may be gone already (a rename retires the old name, a drop deletes it):
            // the edge is still taken off the entity that holds it, deleted or not.
            let (Some(from), Some(to)) = (
                self.id_of_any(&kind::TABLE, &e.from_fqn).await?,
                self.id_of_any(&kind::TABLE, &e.to_fqn).await?,
            ) else {
                return Ok(Applied::Done);
            };
            // One edge per table pair in OpenMetadata: remove it only when this origin made it.
            let source = mapping::lineage_source(e.origin);
            match self.client.lineage_edge(&from, &to).await? {
                Some(d) if d.get("source").and_then(Value::as_str) == Some(source) => {}
                _ => return Ok(Applied::Done),
            }
            return match self.client.delete_lineage(&from, &to).await? {
                Ok(()) => {
                    tracing::debug!(from = %e.from_fqn, to = %e.to_fqn, from.id = %from, to.id = %to, "lineage edge deleted");
                    Ok(Applied::Done)
                }
                Err(r) => Err(r.definite("DELETE /lineage")),
            };
        }
        let (Some(from), Some(to)) = (
            self.required_table(&e.from_fqn).await?,
            self.required_table(&e.to_fqn).await?,
        ) else {
            tracing::debug!(from = %e.from_fqn, to = %e.to_fqn, "lineage edge skipped: an end is deleted");
            return Ok(Applied::Skipped);
        };
        let pipeline = match &e.routine_fqn {
            Some(r) => self
                .id_of(&kind::STORED_PROCEDURE, r)
                .await?
                .map(|id| json!({"id": id, "type": "storedProcedure"})),
            None => None,
        };
        let body = json!({"edge": {
            "fromEntity": {"id": from, "type": "table"},
            "toEntity": {"id": to, "type": "table"},
            "lineageDetails": mapping::lineage_details(e, pipeline),
        }});
        match self.client.put_lineage(&body).await? {
            Ok(_) => {
                tracing::debug!(from = %e.from_fqn, to = %e.to_fqn, from.id = %from, to.id = %to, "lineage edge put");
                Ok(Applied::Done)
            }
            Err(r) if r.status == 404 => {
                // An id from the cache that is gone (hard delete, re-create): ask again.
                self.remember(&kind::TABLE, &e.from_fqn, None);
                self.remember(&kind::TABLE, &e.to_fqn, None);
                Err(ApplyError::Missing(format!("PUT /lineage: {}", r.message)))
            }
            Err(r) => Err(r.definite("PUT /lineage")),
        }
    }

    pub async fn usage(&self, e: &UsageEvent) -> Result<Applied, ApplyError> {
        match e.kind {
            UsageKind::Table => {
                let Some(t) = &e.table else {
                    return Err(ApplyError::malformed("table usage event without its table"));
                };
                let Some(id) = self.required_table(&t.fqn).await? else {
                    return Ok(Applied::Skipped);
                };
                let day = if t.day.is_empty() {
                    crate::event::utc_day(e.bucket_end)
                } else {
                    t.day.clone()
                };
                match self.client.put_usage(&id, &day, t.day_query_count).await? {
                    Ok(_) => Ok(Applied::Done),
                    Err(r) if r.status == 404 => {
                        self.remember(&kind::TABLE, &t.fqn, None);
                        Err(ApplyError::Missing(format!(
                            "PUT /usage/table: {}",
                            r.message
                        )))
                    }
                    Err(r) => Err(r.definite("PUT /usage/table")),
                }
            }
            UsageKind::Query => {
                let Some(q) = &e.query else {
                    return Err(ApplyError::malformed("query usage event without its query"));
                };
                // A statement of no captured table (transaction control, catalog reads) is
                // no Query entity, as with OpenMetadata's usage workflow: it would be used in
                // nothing.
                if q.tables.is_empty() {
                    return Ok(Applied::Skipped);
                }
                // Each table must be there (its metadata may still be on its way), or gone.
                let mut used_in = Vec::new();
                for fqn in &q.tables {
                    if let Some(id) = self.required_table(fqn).await? {
                        used_in.push(json!({"id": id, "type": "table"}));
                    }
                }
                if used_in.is_empty() {
                    return Ok(Applied::Skipped);
                }
                let body =
                    json!({"query": q.query, "service": e.source.service, "queryUsedIn": used_in});
                match self.client.put(&kind::QUERY, &body).await? {
                    Ok(_) => Ok(Applied::Done),
                    // The service comes with the metadata stream.
                    Err(r) if r.status == 404 => {
                        Err(ApplyError::Missing(format!("PUT /queries: {}", r.message)))
                    }
                    Err(r) => Err(r.definite("PUT /queries")),
                }
            }
        }
    }
}
