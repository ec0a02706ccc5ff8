//! The lineage event: one edge between two tables, as one origin asserts it.

use super::SourceInfo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineageOp {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineageOrigin {
    View,
    Query,
    Routine,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ColumnEdge {
    pub from_column: String,
    pub to_column: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageEvent {
    pub event_id: String,
    pub emitted_at: i64,
    pub source: SourceInfo,
    pub op: LineageOp,
    pub origin: LineageOrigin,
    pub from_fqn: String,
    pub to_fqn: String,
    pub column_lineage: Vec<ColumnEdge>,
    pub sql: Option<String>,
    pub routine_fqn: Option<String>,
    pub queryids: Vec<String>,
    pub catalog_confirmed: Option<bool>,
    pub edge_version: i64,
}

impl LineageEvent {
    /// The topic key: `from -> to | ORIGIN` (and `| routine` for routine edges).
    pub fn key(&self) -> String {
        edge_key(
            &self.from_fqn,
            &self.to_fqn,
            self.origin,
            self.routine_fqn.as_deref(),
        )
    }

    pub fn id_for(key: &str, version: i64, op: LineageOp) -> String {
        let name = format!("lineage\u{0}{key}\u{0}{version}\u{0}{op:?}");
        uuid::Uuid::new_v5(&super::EVENT_ID_NAMESPACE, name.as_bytes()).to_string()
    }
}

pub fn edge_key(from: &str, to: &str, origin: LineageOrigin, routine: Option<&str>) -> String {
    let origin = match origin {
        LineageOrigin::View => "VIEW",
        LineageOrigin::Query => "QUERY",
        LineageOrigin::Routine => "ROUTINE",
    };
    match routine {
        Some(r) => format!("{from} -> {to} | {origin} | {r}"),
        None => format!("{from} -> {to} | {origin}"),
    }
}
