//! Digests: what the capture remembers of each emitted entity.
//!
//! Keeping a hash per field instead of the entity itself keeps the state of a 10,000-table
//! database to a few megabytes while still telling which fields changed. Volatile statistics
//! (`row_estimate`, `size_bytes`) are left out on purpose: a change of them alone is not a
//! metadata change, and autovacuum would otherwise make every table "change" all day.

use crate::event::EntityType;
use crate::model::{Column, Constraint, Database, DatabaseSchema, Index, Routine, Table};
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// Bumped whenever what goes into a digest changes; a state file of another format is
/// re-baselined by emitting the full state again (see `checkpoint`).
pub const DIGEST_FORMAT: u32 = 3;

fn h<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A child's fields keep 32-bit hashes: they only say *which* field changed. Whether the child
/// changed at all is decided by the 64-bit hash over all of them ([`ChildDigest::all`]).
fn h32<T: Hash + ?Sized>(value: &T) -> u32 {
    (h(value) >> 32) as u32
}

/// The most fields a child kind has (a column's 13).
const MAX_CHILD_FIELDS: usize = 13;

fn child(group: ChildGroup, attnum: i32, name: &str, hashes: &[u32], all: u64) -> ChildDigest {
    let mut fields = [0u32; MAX_CHILD_FIELDS];
    fields[..hashes.len()].copy_from_slice(hashes);
    ChildDigest {
        group,
        attnum,
        name: name.into(),
        all,
        fields,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityDigest {
    pub fqn: String,
    pub version: i64,
    /// One hash per name in [`field_names`] of the entity type, in that order.
    pub fields: Vec<u64>,
    pub children: Vec<ChildDigest>,
    /// The values a change's before side and its classification need (absent in state
    /// written before pgmeta kept them, and in a digest made only to compare).
    #[serde(default)]
    pub shape: Option<crate::schema_change::Shape>,
}

/// What the state keeps of every entity besides its digest: enough to tell an unchanged
/// entity (same name, same values) without reading the digest, and the name and version a
/// retraction or a DELETE needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub fqn: String,
    pub version: i64,
    /// [`EntityDigest::values_hash`] of the digest.
    pub values: u64,
}

impl EntityDigest {
    /// One hash over the values (fields and children; not the name, version or shape).
    pub fn values_hash(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for f in &self.fields {
            hasher.write_u64(*f);
        }
        for c in &self.children {
            hasher.write_u8(c.group as u8);
            hasher.write_i32(c.attnum);
            hasher.write(c.name.as_bytes());
            hasher.write_u8(0xff);
            hasher.write_u64(c.all);
        }
        hasher.finish()
    }

    pub fn head(&self) -> Head {
        Head {
            fqn: self.fqn.clone(),
            version: self.version,
            values: self.values_hash(),
        }
    }

    /// Whether the two digests describe the same values (the shape is not compared: it is
    /// what the hashes summarize).
    pub fn same_values(&self, other: &EntityDigest) -> bool {
        self.fqn == other.fqn
            && self.version == other.version
            && self.fields == other.fields
            && self.children == other.children
    }
}

/// A column (keyed by attnum), constraint or index (keyed by name) of a table. Compact on
/// purpose: a 10,000-table database has 200,000 of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildDigest {
    pub group: ChildGroup,
    /// The column's attnum; 0 for constraints and indexes, which are keyed by name.
    pub attnum: i32,
    pub name: Box<str>,
    pub all: u64,
    /// Inline rather than boxed: one allocation fewer for each of 200,000 children.
    pub fields: [u32; MAX_CHILD_FIELDS],
}

impl ChildDigest {
    fn same_child(&self, other: &ChildDigest) -> bool {
        self.group == other.group
            && match self.group {
                ChildGroup::Column => self.attnum == other.attnum,
                _ => self.name == other.name,
            }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChildGroup {
    Column,
    Constraint,
    Index,
}

impl ChildGroup {
    pub fn path(self) -> &'static str {
        match self {
            ChildGroup::Column => "columns",
            ChildGroup::Constraint => "constraints",
            ChildGroup::Index => "indexes",
        }
    }

    pub fn field_names(self) -> &'static [&'static str] {
        match self {
            ChildGroup::Column => &[
                "name",
                "data_type",
                "type_family",
                "is_array",
                "element_type",
                "domain",
                "enum_labels",
                "nullable",
                "default",
                "identity",
                "generated",
                "collation",
                "description",
            ],
            ChildGroup::Constraint => &[
                "constraint_type",
                "columns",
                "definition",
                "references",
                "deferrable",
                "description",
            ],
            ChildGroup::Index => &[
                "columns",
                "is_unique",
                "is_primary",
                "method",
                "predicate",
                "definition",
                "description",
            ],
        }
    }
}

pub fn field_names(entity_type: EntityType) -> &'static [&'static str] {
    match entity_type {
        EntityType::Database => &[
            "name",
            "owner",
            "description",
            "encoding",
            "collation",
            "extensions",
        ],
        EntityType::DatabaseSchema => &["name", "owner", "description", "privileges", "sequences"],
        EntityType::Table => &[
            "schema",
            "name",
            "table_type",
            "owner",
            "description",
            "view_definition",
            "partitioning",
            "partition_of",
            "foreign_table",
            "ddl",
            "triggers",
            "row_level_security",
            "force_row_level_security",
            "policies",
            "privileges",
        ],
        EntityType::Routine => &[
            "schema",
            "name",
            "kind",
            "arguments",
            "return_type",
            "language",
            "body",
            "owner",
            "description",
            "volatility",
            "security_definer",
            "privileges",
        ],
    }
}

pub(super) fn database_fields(d: &Database) -> Vec<u64> {
    vec![
        h(&d.name),
        h(&d.owner),
        h(&d.description),
        h(&d.encoding),
        h(&d.collation),
        h(&d.extensions),
    ]
}

pub(super) fn schema_fields(s: &DatabaseSchema) -> Vec<u64> {
    vec![
        h(&s.name),
        h(&s.owner),
        h(&s.description),
        h(&s.privileges),
        h(&s.sequences),
    ]
}

pub(super) fn table_fields(t: &Table) -> Vec<u64> {
    vec![
        h(&t.schema),
        h(&t.name),
        h(&t.table_type),
        h(&t.owner),
        h(&t.description),
        h(&t.view_definition),
        h(&t.partitioning),
        h(&t.partition_of),
        h(&t.foreign_table),
        h(&t.ddl),
        h(&t.triggers),
        h(&t.row_level_security),
        h(&t.force_row_level_security),
        h(&t.policies),
        h(&t.privileges),
    ]
}

pub(super) fn routine_fields(r: &Routine) -> Vec<u64> {
    vec![
        h(&r.schema),
        h(&r.name),
        h(&r.kind),
        h(&r.arguments),
        h(&r.return_type),
        h(&r.language),
        h(&r.body),
        h(&r.owner),
        h(&r.description),
        h(&r.volatility),
        h(&r.security_definer),
        h(&r.privileges),
    ]
}

pub(super) fn table_children(t: &Table) -> Vec<ChildDigest> {
    let mut out = Vec::with_capacity(t.columns.len() + t.constraints.len() + t.indexes.len());
    out.extend(t.columns.iter().map(column_digest));
    out.extend(t.constraints.iter().map(constraint_digest));
    out.extend(t.indexes.iter().map(index_digest));
    out
}

fn column_digest(c: &Column) -> ChildDigest {
    let parts = (
        (
            &c.name,
            &c.data_type,
            &c.type_family,
            c.is_array,
            &c.element_type,
            &c.domain,
            &c.enum_labels,
        ),
        (
            c.nullable,
            &c.default,
            &c.identity,
            &c.generated,
            &c.collation,
            &c.description,
        ),
    );
    let fields = [
        h32(&c.name),
        h32(&c.data_type),
        h32(&c.type_family),
        h32(&c.is_array),
        h32(&c.element_type),
        h32(&c.domain),
        h32(&c.enum_labels),
        h32(&c.nullable),
        h32(&c.default),
        h32(&c.identity),
        h32(&c.generated),
        h32(&c.collation),
        h32(&c.description),
    ];
    child(ChildGroup::Column, c.attnum, &c.name, &fields, h(&parts))
}

fn constraint_digest(c: &Constraint) -> ChildDigest {
    let fields = [
        h32(&c.constraint_type),
        h32(&c.columns),
        h32(&c.definition),
        h32(&c.references),
        h32(&c.deferrable),
        h32(&c.description),
    ];
    child(ChildGroup::Constraint, 0, &c.name, &fields, h(c))
}

fn index_digest(i: &Index) -> ChildDigest {
    let fields = [
        h32(&i.columns),
        h32(&i.is_unique),
        h32(&i.is_primary),
        h32(&i.method),
        h32(&i.predicate),
        h32(&i.definition),
        h32(&i.description),
    ];
    child(ChildGroup::Index, 0, &i.name, &fields, h(i))
}

/// Paths of what differs between two digests of the same entity, e.g. `owner`,
/// `columns.email` (added or removed), `columns.email.data_type`.
pub fn changed_fields(
    entity_type: EntityType,
    old: &EntityDigest,
    new: &EntityDigest,
) -> Vec<String> {
    let mut out: Vec<String> = field_names(entity_type)
        .iter()
        .enumerate()
        .filter(|(i, _)| old.fields.get(*i) != new.fields.get(*i))
        .map(|(_, name)| (*name).to_owned())
        .collect();
    for child in &new.children {
        let path = child.group.path();
        match old.children.iter().find(|o| o.same_child(child)) {
            None => out.push(format!("{path}.{}", child.name)),
            Some(prev) if prev.all != child.all => {
                let before = out.len();
                for (i, field) in child.group.field_names().iter().enumerate() {
                    if prev.fields.get(i) != child.fields.get(i) {
                        out.push(format!("{path}.{}.{field}", child.name));
                    }
                }
                // The 32-bit field hashes collided: still report the child as changed.
                if out.len() == before {
                    out.push(format!("{path}.{}", child.name));
                }
            }
            Some(_) => {}
        }
    }
    for prev in &old.children {
        if !new.children.iter().any(|c| c.same_child(prev)) {
            out.push(format!("{}.{}", prev.group.path(), prev.name));
        }
    }
    out
}
