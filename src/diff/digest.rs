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
pub const DIGEST_FORMAT: u32 = 1;

fn h<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    value.hash(&mut hasher);
    hasher.finish()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityDigest {
    pub fqn: String,
    pub version: i64,
    /// One hash per name in [`field_names`] of the entity type, in that order.
    pub fields: Vec<u64>,
    pub children: Vec<ChildDigest>,
}

/// A column (keyed by attnum), constraint or index (keyed by name) of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildDigest {
    pub group: ChildGroup,
    pub key: String,
    pub name: String,
    pub fields: Vec<u64>,
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
        EntityType::Database => &["name", "owner", "description", "encoding", "collation"],
        EntityType::DatabaseSchema => &["name", "owner", "description"],
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
        ],
    }
}

pub fn database_fields(d: &Database) -> Vec<u64> {
    vec![
        h(&d.name),
        h(&d.owner),
        h(&d.description),
        h(&d.encoding),
        h(&d.collation),
    ]
}

pub fn schema_fields(s: &DatabaseSchema) -> Vec<u64> {
    vec![h(&s.name), h(&s.owner), h(&s.description)]
}

pub fn table_fields(t: &Table) -> Vec<u64> {
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
    ]
}

pub fn routine_fields(r: &Routine) -> Vec<u64> {
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
    ]
}

pub fn table_children(t: &Table) -> Vec<ChildDigest> {
    let mut out = Vec::with_capacity(t.columns.len() + t.constraints.len() + t.indexes.len());
    out.extend(t.columns.iter().map(column_digest));
    out.extend(t.constraints.iter().map(constraint_digest));
    out.extend(t.indexes.iter().map(index_digest));
    out
}

fn column_digest(c: &Column) -> ChildDigest {
    ChildDigest {
        group: ChildGroup::Column,
        key: c.attnum.to_string(),
        name: c.name.clone(),
        fields: vec![
            h(&c.name),
            h(&c.data_type),
            h(&c.type_family),
            h(&c.is_array),
            h(&c.element_type),
            h(&c.domain),
            h(&c.enum_labels),
            h(&c.nullable),
            h(&c.default),
            h(&c.identity),
            h(&c.generated),
            h(&c.collation),
            h(&c.description),
        ],
    }
}

fn constraint_digest(c: &Constraint) -> ChildDigest {
    ChildDigest {
        group: ChildGroup::Constraint,
        key: c.name.clone(),
        name: c.name.clone(),
        fields: vec![
            h(&c.constraint_type),
            h(&c.columns),
            h(&c.definition),
            h(&c.references),
            h(&c.deferrable),
            h(&c.description),
        ],
    }
}

fn index_digest(i: &Index) -> ChildDigest {
    ChildDigest {
        group: ChildGroup::Index,
        key: i.name.clone(),
        name: i.name.clone(),
        fields: vec![
            h(&i.columns),
            h(&i.is_unique),
            h(&i.is_primary),
            h(&i.method),
            h(&i.predicate),
            h(&i.definition),
            h(&i.description),
        ],
    }
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
        match old
            .children
            .iter()
            .find(|o| o.group == child.group && o.key == child.key)
        {
            None => out.push(format!("{path}.{}", child.name)),
            Some(prev) => {
                for (i, field) in child.group.field_names().iter().enumerate() {
                    if prev.fields.get(i) != child.fields.get(i) {
                        out.push(format!("{path}.{}.{field}", child.name));
                    }
                }
            }
        }
    }
    for prev in &old.children {
        if !new
            .children
            .iter()
            .any(|c| c.group == prev.group && c.key == prev.key)
        {
            out.push(format!("{}.{}", prev.group.path(), prev.name));
        }
    }
    out
}
