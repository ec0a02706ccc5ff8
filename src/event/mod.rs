//! The events pgmeta writes: metadata (one change of one catalog entity), usage and lineage.

mod lineage;
mod schema_change;
mod usage;

pub use lineage::{ColumnEdge, LineageEvent, LineageOp, LineageOrigin, edge_key};
pub use schema_change::{ChangeClass, ChangedObjectType, Impact, ImpactOrigin, SchemaChangeEvent};
pub use usage::{QueryCalls, QueryUsage, TableUsage, UsageEvent, UsageKind, utc_day};

pub use crate::model::EntityType;
use crate::model::{Database, DatabaseSchema, Routine, Table};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Op {
    /// Part of the first full state the capture emits for a database.
    Snapshot,
    Create,
    Update,
    Delete,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Snapshot => "snapshot",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaptureMode {
    /// Found by diffing a periodic catalog read.
    Poll,
    /// Found through the DDL messages of the logical replication stream.
    Replication,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub service: String,
    pub database: String,
    pub server_version: String,
    pub capture_mode: CaptureMode,
    pub pgmeta_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataEvent {
    /// Deterministic: the same change of the same entity has the same id, so a redelivery after
    /// a crash can be recognised as such.
    pub event_id: String,
    /// Milliseconds since the Unix epoch.
    pub emitted_at: i64,
    pub source: SourceInfo,
    pub entity_type: EntityType,
    pub fqn: String,
    /// Set when the FQN changed (rename of the object or of a parent).
    pub previous_fqn: Option<String>,
    pub op: Op,
    pub changed_fields: Vec<String>,
    /// The OID that identifies the entity in its database for its whole life.
    pub object_id: i64,
    /// 1 when first seen, +1 per emitted change.
    pub entity_version: i64,
    pub database: Option<Database>,
    pub database_schema: Option<DatabaseSchema>,
    pub table: Option<Table>,
    pub routine: Option<Routine>,
    /// Fields left out to keep the event under the sink's size limit (see [`MetadataEvent::fit`]).
    pub truncated_fields: Vec<String>,
    /// When the capture's state for this database began (ms since the Unix epoch); 0 from
    /// writers before it existed. For one object, events order by (capture_epoch,
    /// entity_version): a capture that lost its state counts versions from 1 again under a
    /// later epoch.
    #[serde(default)]
    pub capture_epoch: i64,
    /// UPDATE only: the previous and new value of each changed field the capture remembers.
    #[serde(default)]
    pub field_changes: Vec<FieldChange>,
}

/// One changed field of an UPDATE: its `changed_fields` path and its values as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What [`MetadataEvent::fit`] may leave out, largest and least essential first.
const DROPPABLE: [&str; 5] = [
    "table.ddl",
    "table.view_definition",
    "routine.body",
    "table.columns.description",
    "table.description",
];

impl MetadataEvent {
    /// Leaves out large text fields, in `DROPPABLE` order, until `size(self) <= limit`, and
    /// records each in `truncated_fields`. A 1 MB view definition or thousands of long column
    /// comments would otherwise make an event the broker refuses on every retry. Returns
    /// whether the event fits.
    pub fn fit(&mut self, limit: usize, size: impl Fn(&MetadataEvent) -> usize) -> bool {
        for field in DROPPABLE {
            if size(self) <= limit {
                return true;
            }
            let dropped = match field {
                "table.ddl" => self.table.as_mut().and_then(|t| t.ddl.take()).is_some(),
                "table.view_definition" => self
                    .table
                    .as_mut()
                    .and_then(|t| t.view_definition.take())
                    .is_some(),
                "routine.body" => self.routine.as_mut().and_then(|r| r.body.take()).is_some(),
                "table.columns.description" => {
                    // Every column's, not just the first that has one.
                    let mut any = false;
                    for c in self.table.iter_mut().flat_map(|t| t.columns.iter_mut()) {
                        any |= c.description.take().is_some();
                    }
                    any
                }
                _ => self
                    .table
                    .as_mut()
                    .and_then(|t| t.description.take())
                    .is_some(),
            };
            if dropped {
                self.truncated_fields.push(field.to_owned());
            }
        }
        size(self) <= limit
    }

    /// The `pgmeta.event_type` header: `<entity_type>.<op>`, e.g. `table.update`.
    pub fn event_type(&self) -> String {
        format!("{}.{}", self.entity_type.as_str(), self.op.as_str())
    }
}

/// Milliseconds since the Unix epoch, as the events' `emitted_at`.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The topics pgmeta writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Metadata,
    Usage,
    Lineage,
    SchemaChanges,
}

/// What a sink writes: an event, or the tombstone that lets compaction drop a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Event(Box<MetadataEvent>),
    Tombstone { key: String },
    Usage(Box<UsageEvent>),
    Lineage(Box<LineageEvent>),
    LineageTombstone { key: String },
    SchemaChange(Box<SchemaChangeEvent>),
}

impl Outbound {
    pub fn key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Outbound::Event(e) => e.fqn.as_str().into(),
            Outbound::Tombstone { key } | Outbound::LineageTombstone { key } => key.as_str().into(),
            Outbound::Usage(u) => u.key().into(),
            Outbound::Lineage(l) => l.key().into(),
            Outbound::SchemaChange(c) => c.object_fqn.as_str().into(),
        }
    }

    pub fn topic(&self) -> Topic {
        match self {
            Outbound::Event(_) | Outbound::Tombstone { .. } => Topic::Metadata,
            Outbound::Usage(_) => Topic::Usage,
            Outbound::Lineage(_) | Outbound::LineageTombstone { .. } => Topic::Lineage,
            Outbound::SchemaChange(_) => Topic::SchemaChanges,
        }
    }

    /// The `pgmeta.event_type` header, e.g. `table.update`, `usage.table`, `lineage.create`.
    pub fn event_type(&self) -> String {
        match self {
            Outbound::Event(e) => e.event_type(),
            Outbound::Tombstone { .. } | Outbound::LineageTombstone { .. } => "tombstone".into(),
            Outbound::Usage(u) => match u.kind {
                UsageKind::Table => "usage.table".into(),
                UsageKind::Query => "usage.query".into(),
            },
            Outbound::Lineage(l) => match l.op {
                LineageOp::Create => "lineage.create".into(),
                LineageOp::Update => "lineage.update".into(),
                LineageOp::Delete => "lineage.delete".into(),
            },
            Outbound::SchemaChange(c) => {
                format!("schema_change.{}", c.change_class.as_str().to_lowercase())
            }
        }
    }
}

/// Namespace of pgmeta's deterministic event ids (UUID v5).
pub(crate) const EVENT_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5f0c_9a52_7d3e_4b1a_9c61_70a6_d2e8_4f13);
