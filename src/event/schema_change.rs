//! The schema-change event: one classified change of one object with what it reaches
//! downstream (`schemas/SchemaChangeEvent.avsc`, the `pgmeta.schema-changes` topic).

use super::SourceInfo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImpactOrigin {
    View,
    Query,
    Routine,
}

/// How a change affects code that reads or writes the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeClass {
    /// Nothing that worked before stops working (a wider type, a new nullable column).
    NonBreaking,
    /// Some readers or writers may fail or change behaviour (NOT NULL added, a constraint).
    PotentiallyBreaking,
    /// Code that used the object as it was fails (a dropped or renamed column, a narrower type).
    Breaking,
}

impl ChangeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeClass::NonBreaking => "NON_BREAKING",
            ChangeClass::PotentiallyBreaking => "POTENTIALLY_BREAKING",
            ChangeClass::Breaking => "BREAKING",
        }
    }
}

/// What kind of object changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangedObjectType {
    Table,
    View,
    MaterializedView,
    Column,
    Constraint,
    Partition,
    Routine,
}

impl ChangedObjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangedObjectType::Table => "TABLE",
            ChangedObjectType::View => "VIEW",
            ChangedObjectType::MaterializedView => "MATERIALIZED_VIEW",
            ChangedObjectType::Column => "COLUMN",
            ChangedObjectType::Constraint => "CONSTRAINT",
            ChangedObjectType::Partition => "PARTITION",
            ChangedObjectType::Routine => "ROUTINE",
        }
    }
}

/// One downstream object a change reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    pub fqn: String,
    pub origin: ImpactOrigin,
    pub columns: Vec<String>,
    pub routine_fqn: Option<String>,
    pub depth: i32,
    /// QUERY: when a statement of this lineage last ran (ms since the Unix epoch).
    pub last_seen: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaChangeEvent {
    pub event_id: String,
    pub emitted_at: i64,
    pub source: SourceInfo,
    pub rule: String,
    pub change_class: ChangeClass,
    pub reason: String,
    pub object_type: ChangedObjectType,
    pub object_fqn: String,
    pub entity_fqn: String,
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// BREAKING and touching a protected table or column (`schema_changes.protected`).
    pub contract_violation: bool,
    pub metadata_event_id: Option<String>,
    pub impact: Vec<Impact>,
}

impl SchemaChangeEvent {
    /// Deterministic: the same change of the same metadata event has the same id.
    pub fn id_for(metadata_event_id: &str, rule: &str, object_fqn: &str, path: &str) -> String {
        let name =
            format!("schema-change\u{0}{metadata_event_id}\u{0}{rule}\u{0}{object_fqn}\u{0}{path}");
        uuid::Uuid::new_v5(&super::EVENT_ID_NAMESPACE, name.as_bytes()).to_string()
    }
}
