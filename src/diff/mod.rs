//! Snapshot × remembered state -> changes. Pure: no I/O, unit-tested without a database.
//!
//! Entities are keyed by (entity type, OID), so a rename is an UPDATE (with `previous_fqn`)
//! and a drop followed by a create of the same name is a DELETE and a CREATE. An entity that
//! is missing from the snapshot is deleted only when the catalog no longer holds it at all; one
//! that is merely filtered out is left alone (a filter change never deletes).

mod digest;
mod outbound;
mod sent_ahead;

pub use digest::{
    ChildDigest, ChildGroup, DIGEST_FORMAT, EntityDigest, Head, changed_fields, field_names,
};
pub use outbound::{event_id, outbound};
pub use sent_ahead::{SentAhead, retraction_records, retractions, sent_ahead};

use crate::event::{EntityType, FieldChange, Op, Outbound};
pub use crate::model::EntityKey;
use crate::model::{CatalogSnapshot, Database, DatabaseSchema, Fqn, Routine, Table};
use crate::schema_change::{SchemaChange, Shape, rules};
use std::collections::{HashMap, HashSet};

/// One catalog entity with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Database(Database),
    DatabaseSchema(DatabaseSchema),
    Table(Box<Table>),
    Routine(Routine),
}

/// An entity of a snapshot, borrowed: what its key, name and digest are made from.
#[derive(Clone, Copy)]
enum EntityRef<'a> {
    Database(&'a Database),
    DatabaseSchema(&'a DatabaseSchema),
    Table(&'a Table),
    Routine(&'a Routine),
}

impl EntityRef<'_> {
    fn key(self) -> EntityKey {
        let (entity_type, oid) = match self {
            EntityRef::Database(d) => (EntityType::Database, d.oid),
            EntityRef::DatabaseSchema(s) => (EntityType::DatabaseSchema, s.oid),
            EntityRef::Table(t) => (EntityType::Table, t.oid),
            EntityRef::Routine(r) => (EntityType::Routine, r.oid),
        };
        EntityKey { entity_type, oid }
    }

    fn fqn(self, service: &str, database: &str) -> Fqn {
        match self {
            EntityRef::Database(_) => Fqn::new([service, database]),
            EntityRef::DatabaseSchema(s) => Fqn::new([service, database, &s.name]),
            EntityRef::Table(t) => Fqn::new([service, database, &t.schema, &t.name]),
            EntityRef::Routine(r) => Fqn::new([service, database, &r.schema, &r.signature()]),
        }
    }

    fn digest(self, fqn: &Fqn, version: i64) -> EntityDigest {
        let (fields, children) = match self {
            EntityRef::Database(d) => (digest::database_fields(d), vec![]),
            EntityRef::DatabaseSchema(s) => (digest::schema_fields(s), vec![]),
            EntityRef::Table(t) => (digest::table_fields(t), digest::table_children(t)),
            EntityRef::Routine(r) => (digest::routine_fields(r), vec![]),
        };
        EntityDigest {
            fqn: fqn.as_str().to_owned(),
            version,
            fields,
            children,
            shape: None,
        }
    }
}

/// Every entity of `snapshot`, the database first, parents before their partitions.
fn entities_of(snapshot: &CatalogSnapshot) -> impl Iterator<Item = EntityRef<'_>> {
    std::iter::once(EntityRef::Database(&snapshot.database))
        .chain(snapshot.schemas.iter().map(EntityRef::DatabaseSchema))
        .chain(snapshot.tables.iter().map(EntityRef::Table))
        .chain(snapshot.routines.iter().map(EntityRef::Routine))
}

/// The key of every entity of `snapshot`.
pub fn snapshot_keys(snapshot: &CatalogSnapshot) -> impl Iterator<Item = EntityKey> + '_ {
    entities_of(snapshot).map(EntityRef::key)
}

impl Entity {
    fn as_ref(&self) -> EntityRef<'_> {
        match self {
            Entity::Database(d) => EntityRef::Database(d),
            Entity::DatabaseSchema(s) => EntityRef::DatabaseSchema(s),
            Entity::Table(t) => EntityRef::Table(t),
            Entity::Routine(r) => EntityRef::Routine(r),
        }
    }

    pub fn key(&self) -> EntityKey {
        self.as_ref().key()
    }

    pub fn fqn(&self, service: &str, database: &str) -> Fqn {
        self.as_ref().fqn(service, database)
    }

    fn digest(&self, fqn: &Fqn, version: i64) -> EntityDigest {
        self.as_ref().digest(fqn, version)
    }

    fn shape(&self) -> Shape {
        match self {
            Entity::Database(d) => Shape::of_database(d),
            Entity::DatabaseSchema(s) => Shape::of_schema(s),
            Entity::Table(t) => Shape::of_table(t),
            Entity::Routine(r) => Shape::of_routine(r),
        }
    }
}

/// What the capture remembers of one database: the head of every entity it emitted, and the
/// digests a diff needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseState {
    /// False until the first full state was emitted: until then entities are SNAPSHOT, after
    /// that a newly seen entity is a CREATE.
    pub initialized: bool,
    /// When this state began (ms since the Unix epoch; 0 until the capture sets it). A state
    /// lost and begun again counts entity versions from 1 anew under a later epoch, so a
    /// consumer ordering an object's events by (epoch, version) still puts the new ones last.
    pub epoch: i64,
    /// Every entity held.
    pub heads: HashMap<EntityKey, Head>,
    /// Digests: of every entity in a state built in memory; of a state read from the store,
    /// those [`DatabaseState::digests_to_load`] named.
    pub entities: HashMap<EntityKey, EntityDigest>,
    /// Entities [`DatabaseState::digests_to_load`] found equal to their head: the diff passes
    /// them by without a digest (and without computing theirs again).
    pub unchanged: HashSet<EntityKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: EntityKey,
    pub op: Op,
    pub fqn: Fqn,
    pub previous_fqn: Option<Fqn>,
    pub changed_fields: Vec<String>,
    pub version: i64,
    /// The state's epoch (see [`DatabaseState::epoch`]).
    pub epoch: i64,
    /// The state after the change; `None` on DELETE.
    pub entity: Option<Entity>,
    /// The previous and new value of each changed field the state remembers.
    pub field_changes: Vec<FieldChange>,
    /// What the change means downstream, classified (see `schema_change`).
    pub schema_changes: Vec<SchemaChange>,
    digest: Option<EntityDigest>,
}

#[derive(Debug, Clone, Copy)]
pub struct DiffOptions {
    /// Emit DELETE for tables and views that were dropped (OpenMetadata's `markDeletedTables`).
    /// When false they are forgotten silently.
    pub mark_deleted_tables: bool,
    /// Emit every entity again as SNAPSHOT, whether it changed or not.
    pub full: bool,
}

#[derive(Debug, Default)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Entities that are gone but, by configuration, get no DELETE event.
    pub forgotten: Vec<EntityKey>,
}

pub fn diff(
    state: &DatabaseState,
    snapshot: CatalogSnapshot,
    service: &str,
    opts: DiffOptions,
) -> Diff {
    let database = snapshot.database.name.clone();
    let mut tables = snapshot.tables;
    // Parents before their partitions, so a consumer creating them in order finds the parent.
    tables.sort_by_key(|t| t.partition_of.is_some());
    let entities = std::iter::once(Entity::Database(snapshot.database))
        .chain(snapshot.schemas.into_iter().map(Entity::DatabaseSchema))
        .chain(tables.into_iter().map(|t| Entity::Table(Box::new(t))))
        .chain(snapshot.routines.into_iter().map(Entity::Routine));

    let mut out = Diff::default();
    let mut seen = HashSet::new();
    for entity in entities {
        let key = entity.key();
        seen.insert(key);
        let fqn = entity.fqn(service, &database);
        let Some(head) = state.heads.get(&key) else {
            let op = if state.initialized && !opts.full {
                Op::Create
            } else {
                Op::Snapshot
            };
            out.changes
                .push(change(key, op, fqn, None, vec![], 1, entity));
            continue;
        };
        match state.entities.get(&key) {
            None if state.unchanged.contains(&key) => {
                if opts.full {
                    out.changes.push(change(
                        key,
                        Op::Snapshot,
                        fqn,
                        None,
                        vec![],
                        head.version,
                        entity,
                    ));
                }
            }
            // A head without a digest that was not found unchanged: a store that lost the
            // digest. Unchanged if the head says so, else every field counts as changed.
            None => {
                let new = entity.digest(&fqn, head.version);
                let same = head.fqn == fqn.as_str() && head.values == new.values_hash();
                if same && !opts.full {
                    continue;
                }
                let changed = if same {
                    vec![]
                } else {
                    field_names(key.entity_type)
                        .iter()
                        .map(|f| (*f).to_owned())
                        .collect()
                };
                let renamed = (head.fqn != fqn.as_str()).then(|| Fqn::from_raw(head.fqn.clone()));
                let (op, version) = if same {
                    (Op::Snapshot, head.version)
                } else {
                    (
                        if opts.full { Op::Snapshot } else { Op::Update },
                        head.version + 1,
                    )
                };
                out.changes
                    .push(change(key, op, fqn, renamed, changed, version, entity));
            }
            Some(old) => {
                let new = entity.digest(&fqn, old.version);
                let changed = if new.same_values(old) {
                    vec![]
                } else {
                    changed_fields(key.entity_type, old, &new)
                };
                let renamed = (old.fqn != fqn.as_str()).then(|| Fqn::from_raw(old.fqn.clone()));
                let op = if opts.full {
                    Op::Snapshot
                } else if !changed.is_empty() {
                    Op::Update
                } else {
                    continue;
                };
                let version = if changed.is_empty() {
                    old.version
                } else {
                    old.version + 1
                };
                let mut c = change(key, op, fqn, renamed, changed, version, entity);
                if !c.changed_fields.is_empty() {
                    classify(&mut c, old.shape.as_ref());
                }
                out.changes.push(c);
            }
        }
    }

    let mut gone: Vec<(&EntityKey, &Head)> = state
        .heads
        .iter()
        .filter(|(k, _)| !seen.contains(*k) && !snapshot.all_keys.contains(*k))
        .collect();
    // Children before parents: routines and tables, then schemas, then the database.
    gone.sort_by_key(|(k, _)| (std::cmp::Reverse(k.entity_type), k.oid));
    for (key, old) in gone {
        if key.entity_type == EntityType::Table && !opts.mark_deleted_tables {
            out.forgotten.push(*key);
            continue;
        }
        let fqn = Fqn::from_raw(old.fqn.clone());
        let shape = state.entities.get(key).and_then(|d| d.shape.as_ref());
        let schema_changes = match key.entity_type {
            EntityType::Table => vec![rules::relation_dropped(&fqn, shape)],
            EntityType::Routine => vec![rules::routine_dropped(&fqn, shape)],
            _ => vec![],
        };
        out.changes.push(Change {
            key: *key,
            op: Op::Delete,
            fqn,
            previous_fqn: None,
            changed_fields: vec![],
            version: old.version + 1,
            epoch: 0,
            entity: None,
            field_changes: vec![],
            schema_changes,
            digest: None,
        });
    }
    pair_replaced_routines(&mut out.changes, state);
    for c in &mut out.changes {
        c.epoch = state.epoch;
    }
    out
}

/// The field changes and the classification of an entity that changed, against what the
/// state remembers of it (`old`; nothing without it: state from before shapes were kept).
fn classify(c: &mut Change, old: Option<&Shape>) {
    let (Some(old), Some(new)) = (old, c.entity.as_ref().map(Entity::shape)) else {
        return;
    };
    let new = &new;
    c.field_changes = c
        .changed_fields
        .iter()
        .filter(|path| old.holds(path))
        .map(|path| FieldChange {
            path: path.clone(),
            before: old.value(path),
            after: new.value(path),
        })
        .filter(|f| f.before != f.after)
        .collect();
    c.schema_changes = match &c.entity {
        Some(Entity::Table(t)) => {
            rules::relation_changed(&c.fqn, c.previous_fqn.as_ref(), old, t, &c.changed_fields)
        }
        Some(Entity::Routine(r)) => c
            .previous_fqn
            .as_ref()
            .map(|previous| vec![rules::routine_renamed(&c.fqn, previous, r)])
            .unwrap_or_default(),
        _ => vec![],
    };
}

/// PostgreSQL cannot change a routine's argument types or result type in place: the change
/// is a DROP and a CREATE. One dropped and one created routine of the same schema and name in
/// one diff are classified as that change (signature or return type) on the CREATE, instead
/// of a drop.
fn pair_replaced_routines(changes: &mut [Change], state: &DatabaseState) {
    let name_of = |fqn: &Fqn| {
        fqn.as_str()
            .split('(')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let dropped: Vec<usize> = (0..changes.len())
        .filter(|&i| {
            changes[i].op == Op::Delete && changes[i].key.entity_type == EntityType::Routine
        })
        .collect();
    for d in dropped {
        let name = name_of(&changes[d].fqn);
        let created: Vec<usize> = (0..changes.len())
            .filter(|&i| {
                changes[i].op == Op::Create
                    && changes[i].key.entity_type == EntityType::Routine
                    && name_of(&changes[i].fqn) == name
            })
            .collect();
        let ([c], Some(old)) = (
            created.as_slice(),
            state
                .entities
                .get(&changes[d].key)
                .and_then(|o| o.shape.as_ref()),
        ) else {
            continue;
        };
        let Some(Entity::Routine(new)) = &changes[*c].entity else {
            continue;
        };
        let replaced = rules::routine_replaced(&changes[d].fqn, old, &changes[*c].fqn, new);
        changes[*c].schema_changes.push(replaced);
        changes[d].schema_changes.clear();
    }
}

fn change(
    key: EntityKey,
    op: Op,
    fqn: Fqn,
    previous_fqn: Option<Fqn>,
    changed_fields: Vec<String>,
    version: i64,
    entity: Entity,
) -> Change {
    let digest = entity.digest(&fqn, version);
    Change {
        key,
        op,
        fqn,
        previous_fqn,
        changed_fields,
        version,
        epoch: 0,
        entity: Some(entity),
        field_changes: vec![],
        schema_changes: vec![],
        digest: Some(digest),
    }
}

impl Diff {
    /// Gives each change's digest the shape of its entity, taken from the metadata events
    /// `records` made of it (`outbound`), which are dropped one by one as their shapes are
    /// made: a large snapshot's shapes never sit in memory beside all its events.
    pub fn keep_shapes_from(&mut self, records: Vec<Outbound>) {
        let at: HashMap<EntityKey, usize> = self
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key, i))
            .collect();
        for record in records {
            let Outbound::Event(e) = record else {
                continue;
            };
            let key = EntityKey {
                entity_type: e.entity_type,
                oid: e.object_id,
            };
            let shape = if let Some(t) = &e.table {
                Shape::of_table(t)
            } else if let Some(r) = &e.routine {
                Shape::of_routine(r)
            } else if let Some(s) = &e.database_schema {
                Shape::of_schema(s)
            } else if let Some(d) = &e.database {
                Shape::of_database(d)
            } else {
                continue;
            };
            if let Some(d) = at.get(&key).and_then(|&i| self.changes[i].digest.as_mut()) {
                d.shape = Some(shape);
            }
        }
    }

    /// [`Diff::keep_shapes_from`] for a diff whose entities are still in its changes (no
    /// events were made of it).
    pub fn keep_shapes(&mut self) {
        for c in &mut self.changes {
            if let (Some(entity), Some(d)) = (&c.entity, c.digest.as_mut()) {
                d.shape = Some(entity.shape());
            }
        }
    }
}

impl DatabaseState {
    /// Records changes once they are durable downstream (never before: see `source`).
    /// Takes the digests out of `diff` (they are not needed twice).
    pub fn apply(&mut self, diff: &mut Diff) {
        for change in &mut diff.changes {
            match change.digest.take() {
                Some(d) => self.insert(change.key, d),
                None => self.remove(&change.key),
            }
        }
        for key in &diff.forgotten {
            self.remove(key);
        }
        self.initialized = true;
    }

    /// The entities whose digests a diff of `snapshot` reads: those whose name or values
    /// differ from their head, those gone from the catalog, and `also` (names sent ahead).
    /// Everything else is unchanged, noted so, and diffs from its head alone: a state store
    /// answers a one-table change by reading one digest.
    pub fn digests_to_load(
        &mut self,
        snapshot: &CatalogSnapshot,
        service: &str,
        also: impl IntoIterator<Item = EntityKey>,
    ) -> Vec<EntityKey> {
        let database = snapshot.database.name.as_str();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for entity in entities_of(snapshot) {
            let key = entity.key();
            seen.insert(key);
            let Some(head) = self.heads.get(&key) else {
                continue;
            };
            let fqn = entity.fqn(service, database);
            if head.fqn != fqn.as_str() || head.values != entity.digest(&fqn, 0).values_hash() {
                out.push(key);
            } else {
                self.unchanged.insert(key);
            }
        }
        out.extend(
            self.heads
                .keys()
                .filter(|k| !seen.contains(*k) && !snapshot.all_keys.contains(*k)),
        );
        out.extend(also.into_iter().filter(|k| self.heads.contains_key(k)));
        out.sort_unstable();
        out.dedup();
        self.unchanged.retain(|k| out.binary_search(k).is_err());
        out
    }

    /// Holds `digest` (and its head) for `key`.
    pub fn insert(&mut self, key: EntityKey, digest: EntityDigest) {
        self.heads.insert(key, digest.head());
        self.entities.insert(key, digest);
    }

    fn remove(&mut self, key: &EntityKey) {
        self.heads.remove(key);
        self.entities.remove(key);
    }
}

impl Diff {
    /// What a state store writes for this diff once it is applied: the digest of each
    /// created or changed entity, and the keys of those deleted or forgotten.
    pub fn writes(&self) -> (Vec<(EntityKey, &EntityDigest)>, Vec<EntityKey>) {
        let mut put = Vec::new();
        let mut delete = self.forgotten.clone();
        for c in &self.changes {
            match &c.digest {
                Some(d) => put.push((c.key, d)),
                None => delete.push(c.key),
            }
        }
        (put, delete)
    }
}

/// Changes that hold `digest` for each key, or delete it (`None`): a diff's writes without a
/// snapshot behind them.
#[cfg(test)]
pub(crate) fn test_changes(entries: &[(EntityKey, Option<EntityDigest>)]) -> Vec<Change> {
    entries
        .iter()
        .map(|(key, digest)| Change {
            key: *key,
            op: if digest.is_some() {
                Op::Update
            } else {
                Op::Delete
            },
            fqn: Fqn::from_raw(digest.as_ref().map_or("gone".into(), |d| d.fqn.clone())),
            previous_fqn: None,
            changed_fields: vec![],
            version: digest.as_ref().map_or(0, |d| d.version),
            epoch: 0,
            entity: None,
            field_changes: vec![],
            schema_changes: vec![],
            digest: digest.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
