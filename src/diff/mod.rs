//! Snapshot × remembered state -> changes. Pure: no I/O, unit-tested without a database.
//!
//! Entities are keyed by (entity type, OID), so a rename is an UPDATE (with `previous_fqn`)
//! and a drop followed by a create of the same name is a DELETE and a CREATE. An entity that
//! is missing from the snapshot is deleted only when the catalog no longer holds it at all; one
//! that is merely filtered out is left alone (a filter change never deletes).

mod digest;
mod outbound;

pub use digest::{ChildGroup, DIGEST_FORMAT, EntityDigest, changed_fields, field_names};
pub use outbound::outbound;

use crate::event::{EntityType, Op};
pub use crate::model::EntityKey;
use crate::model::{CatalogSnapshot, Database, DatabaseSchema, Fqn, Routine, Table};
use std::collections::HashMap;

/// One catalog entity with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Database(Database),
    DatabaseSchema(DatabaseSchema),
    Table(Box<Table>),
    Routine(Routine),
}

impl Entity {
    pub fn key(&self) -> EntityKey {
        let (entity_type, oid) = match self {
            Entity::Database(d) => (EntityType::Database, d.oid),
            Entity::DatabaseSchema(s) => (EntityType::DatabaseSchema, s.oid),
            Entity::Table(t) => (EntityType::Table, t.oid),
            Entity::Routine(r) => (EntityType::Routine, r.oid),
        };
        EntityKey { entity_type, oid }
    }

    pub fn fqn(&self, service: &str, database: &str) -> Fqn {
        match self {
            Entity::Database(_) => Fqn::new([service, database]),
            Entity::DatabaseSchema(s) => Fqn::new([service, database, &s.name]),
            Entity::Table(t) => Fqn::new([service, database, &t.schema, &t.name]),
            Entity::Routine(r) => Fqn::new([service, database, &r.schema, &r.signature()]),
        }
    }

    fn digest(&self, fqn: &Fqn, version: i64) -> EntityDigest {
        let (fields, children) = match self {
            Entity::Database(d) => (digest::database_fields(d), vec![]),
            Entity::DatabaseSchema(s) => (digest::schema_fields(s), vec![]),
            Entity::Table(t) => (digest::table_fields(t), digest::table_children(t)),
            Entity::Routine(r) => (digest::routine_fields(r), vec![]),
        };
        EntityDigest {
            fqn: fqn.as_str().to_owned(),
            version,
            fields,
            children,
        }
    }
}

/// What the capture remembers of one database: the digest of every entity it emitted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseState {
    /// False until the first full state was emitted: until then entities are SNAPSHOT, after
    /// that a newly seen entity is a CREATE.
    pub initialized: bool,
    /// When this state began (ms since the Unix epoch; 0 until the capture sets it). A state
    /// lost and begun again counts entity versions from 1 anew under a later epoch, so a
    /// consumer ordering an object's events by (epoch, version) still puts the new ones last.
    pub epoch: i64,
    pub entities: HashMap<EntityKey, EntityDigest>,
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
    let mut seen = std::collections::HashSet::new();
    for entity in entities {
        let key = entity.key();
        seen.insert(key);
        let fqn = entity.fqn(service, &database);
        match state.entities.get(&key) {
            None => {
                let op = if state.initialized && !opts.full {
                    Op::Create
                } else {
                    Op::Snapshot
                };
                out.changes
                    .push(change(key, op, fqn, None, vec![], 1, entity));
            }
            Some(old) => {
                let new = entity.digest(&fqn, old.version);
                let changed = if new == *old {
                    vec![]
                } else {
                    changed_fields(key.entity_type, old, &new)
                };
                let renamed = (old.fqn != fqn.as_str()).then(|| Fqn::from_raw(old.fqn.clone()));
                if opts.full {
                    let version = if changed.is_empty() {
                        old.version
                    } else {
                        old.version + 1
                    };
                    out.changes.push(change(
                        key,
                        Op::Snapshot,
                        fqn,
                        renamed,
                        changed,
                        version,
                        entity,
                    ));
                } else if !changed.is_empty() {
                    out.changes.push(change(
                        key,
                        Op::Update,
                        fqn,
                        renamed,
                        changed,
                        old.version + 1,
                        entity,
                    ));
                }
            }
        }
    }

    let mut gone: Vec<(&EntityKey, &EntityDigest)> = state
        .entities
        .iter()
        .filter(|(k, _)| !seen.contains(*k) && !snapshot.all_keys.contains(*k))
        .collect();
    // Children before parents: routines and tables, then schemas, then the database.
    gone.sort_by_key(|(k, _)| std::cmp::Reverse(k.entity_type));
    for (key, old) in gone {
        if key.entity_type == EntityType::Table && !opts.mark_deleted_tables {
            out.forgotten.push(*key);
            continue;
        }
        out.changes.push(Change {
            key: *key,
            op: Op::Delete,
            fqn: Fqn::from_raw(old.fqn.clone()),
            previous_fqn: None,
            changed_fields: vec![],
            version: old.version + 1,
            epoch: 0,
            entity: None,
            digest: None,
        });
    }
    for c in &mut out.changes {
        c.epoch = state.epoch;
    }
    out
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
    let digest = Some(entity.digest(&fqn, version));
    Change {
        key,
        op,
        fqn,
        previous_fqn,
        changed_fields,
        version,
        epoch: 0,
        entity: Some(entity),
        digest,
    }
}

impl DatabaseState {
    /// Records changes once they are durable downstream (never before: see `source`).
    /// Takes the digests out of `diff` (they are not needed twice).
    pub fn apply(&mut self, diff: &mut Diff) {
        for change in &mut diff.changes {
            match change.digest.take() {
                Some(d) => {
                    self.entities.insert(change.key, d);
                }
                None => {
                    self.entities.remove(&change.key);
                }
            }
        }
        for key in &diff.forgotten {
            self.entities.remove(key);
        }
        self.initialized = true;
    }
}

#[cfg(test)]
mod tests;
