//! What a catalog change means for the teams downstream: each change of a table, view or
//! routine classified as BREAKING, POTENTIALLY_BREAKING or NON_BREAKING by a stable rule, with
//! its before and after values ([`rules`]), and the objects it reaches through lineage
//! ([`impact`]). Pure: the capture's diff calls it with the remembered [`Shape`] of an entity
//! and its new state.
//!
//! ```text
//!  remembered Shape ─┐
//!                    ├─► rules::classify ─► SchemaChange ─► impact::reached(lineage edges)
//!  new Table/Routine ┘
//! ```

pub mod contract;
pub mod impact;
pub mod rules;
mod shape;
pub mod types;

pub use shape::Shape;

pub use crate::event::{ChangeClass, ChangedObjectType};

/// One classified change of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaChange {
    /// Stable id of the rule that classified it, e.g. `column.type_narrowed`.
    pub rule: &'static str,
    pub class: ChangeClass,
    /// One line for a person: what changed and why it is classified so.
    pub reason: String,
    pub object_type: ChangedObjectType,
    /// The changed object: a table's or routine's FQN, or `<table FQN>.<column>` (quoted as
    /// FQN parts are) for a column, `<table FQN>.<constraint>` for a constraint.
    pub object_fqn: String,
    /// The table (or routine) the object belongs to.
    pub entity_fqn: String,
    /// That table's (or routine's) schema and name, for matching contracts.
    pub schema: String,
    pub name: String,
    /// The changed field's path, as in `changed_fields` (`columns.amount.data_type`).
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// The columns whose readers the change reaches: the changed column, or none for a change
    /// of the whole object (every column).
    pub columns: Vec<String>,
}
