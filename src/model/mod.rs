//! What a PostgreSQL catalog describes, as pgmeta emits it.
//!
//! These types are the payload of the metadata events; their field names and order follow
//! `schemas/MetadataEvent.avsc`, which is the public contract (a unit test checks they agree).
//! Catalog objects are identified by OID (and columns by `attnum`), never by name, so that a
//! rename is an update of the same entity rather than a delete and a create.

pub mod ddl;
#[cfg(test)]
pub(crate) mod fixtures;
mod ident;
mod type_family;

pub use ident::{Fqn, quote_ident, quote_ident_any_version};
pub use type_family::TypeFamily;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One database's catalog as read inside a single snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogSnapshot {
    /// PostgreSQL's `server_version` setting.
    pub server_version: String,
    pub database: Database,
    pub schemas: Vec<DatabaseSchema>,
    pub tables: Vec<Table>,
    pub routines: Vec<Routine>,
    /// Every schema, relation and routine the catalog holds, filtered out or not: an entity
    /// missing from the snapshot but present here was filtered, not dropped.
    pub all_keys: std::collections::HashSet<EntityKey>,
    /// `current_schemas(false)` of the reading session: how the view definitions (printed
    /// by `pg_get_viewdef` relative to it) resolve unqualified names.
    pub search_path: Vec<String>,
    /// What each view and materialized view reads, by OID, from `pg_depend` on its rewrite
    /// rule: `(relation oid, attnum)`, attnum 0 for the relation as a whole.
    pub view_dependencies: std::collections::HashMap<i64, std::collections::BTreeSet<(i64, i32)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntityType {
    Database,
    DatabaseSchema,
    Table,
    Routine,
}

impl EntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Database => "database",
            EntityType::DatabaseSchema => "database_schema",
            EntityType::Table => "table",
            EntityType::Routine => "routine",
        }
    }
}

/// What identifies an entity for its whole life: its type and OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityKey {
    pub entity_type: EntityType,
    pub oid: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Database {
    pub oid: i64,
    pub name: String,
    pub owner: String,
    pub description: Option<String>,
    pub encoding: String,
    pub collation: String,
    /// Installed extensions (`pg_extension`), by name.
    #[serde(default)]
    pub extensions: Vec<Extension>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    pub version: String,
    /// The schema holding its objects.
    pub schema: String,
}

/// What one role may do on an object, from its ACL (`relacl`, `nspacl`, `proacl`; a NULL ACL
/// is the object kind's default, `acldefault`, so the owner's own rights are listed too).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// A role name, or `PUBLIC`.
    pub grantee: String,
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES`, `TRIGGER`, `USAGE`,
    /// `CREATE`, `EXECUTE`, ..., sorted.
    pub privileges: Vec<String>,
    /// Those of `privileges` the grantee may grant on (`WITH GRANT OPTION`).
    pub grantable: Vec<String>,
}

/// A sequence of a schema, and the column that owns it (serial and identity columns).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sequence {
    pub name: String,
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cycle: bool,
    pub owner: String,
    /// `schema.table.column` (quoted where SQL needs it) of the owning column, if any.
    pub owned_by: Option<String>,
    pub description: Option<String>,
    pub privileges: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatabaseSchema {
    pub oid: i64,
    pub name: String,
    pub owner: String,
    pub description: Option<String>,
    #[serde(default)]
    pub privileges: Vec<Grant>,
    /// The schema's sequences, by name.
    #[serde(default)]
    pub sequences: Vec<Sequence>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TableType {
    Table,
    PartitionedTable,
    Partition,
    View,
    MaterializedView,
    ForeignTable,
}

impl TableType {
    pub fn is_view(self) -> bool {
        matches!(self, TableType::View | TableType::MaterializedView)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub table_type: TableType,
    pub owner: String,
    pub description: Option<String>,
    /// `pg_class.reltuples`; absent when the table was never analyzed. Volatile: a change of
    /// the estimate alone does not make an UPDATE event (see `diff`).
    pub row_estimate: Option<f64>,
    /// `relpages * block_size`: the size as of the last VACUUM/ANALYZE. Volatile, like
    /// `row_estimate`.
    pub size_bytes: Option<i64>,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub view_definition: Option<String>,
    pub partitioning: Option<Partitioning>,
    pub partition_of: Option<PartitionOf>,
    pub foreign_table: Option<ForeignTable>,
    pub ddl: Option<String>,
    /// Parents of a table that inherits (not of a partition), as qualified SQL names in
    /// `pg_inherits` order. For the DDL text only: not part of the events' contract.
    #[serde(skip)]
    pub inherits: Vec<String>,
    /// The composite type of a typed table (`CREATE TABLE t OF type`), as SQL. DDL text only.
    #[serde(skip)]
    pub of_type: Option<String>,
    /// User triggers (not those PostgreSQL makes for FKs, nor a partition's clones of its
    /// parent's), by name.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// `ALTER TABLE ... ENABLE ROW LEVEL SECURITY`.
    #[serde(default)]
    pub row_level_security: bool,
    /// `... FORCE ROW LEVEL SECURITY`: the owner is subject to the policies too.
    #[serde(default)]
    pub force_row_level_security: bool,
    /// Row-level security policies, by name.
    #[serde(default)]
    pub policies: Vec<Policy>,
    #[serde(default)]
    pub privileges: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    /// `BEFORE`, `AFTER` or `INSTEAD OF`.
    pub timing: String,
    /// `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, in that order.
    pub events: Vec<String>,
    /// `ROW` or `STATEMENT`.
    pub level: String,
    /// The trigger function, schema-qualified.
    pub function: String,
    /// `ORIGIN` (fires normally), `ALWAYS`, `REPLICA` or `DISABLED` (`session_replication_role`).
    pub enabled: String,
    /// A constraint trigger (`CREATE CONSTRAINT TRIGGER`).
    pub is_constraint: bool,
    /// `pg_get_triggerdef`: the full CREATE TRIGGER statement.
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// Permissive (OR-ed with the others) or restrictive (AND-ed).
    pub permissive: bool,
    /// Role names, or `PUBLIC`.
    pub roles: Vec<String>,
    /// The USING expression: which existing rows are visible or affected.
    pub using: Option<String>,
    /// The WITH CHECK expression: which new rows are allowed.
    pub with_check: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    pub attnum: i32,
    pub name: String,
    /// The type as PostgreSQL prints it (`format_type`), e.g. `character varying(40)`.
    /// Shared (`Arc`): a large schema has many columns and few distinct types.
    pub data_type: Arc<str>,
    pub type_family: TypeFamily,
    pub is_array: bool,
    pub element_type: Option<Arc<str>>,
    pub domain: Option<Arc<str>>,
    pub enum_labels: Vec<String>,
    pub nullable: bool,
    pub default: Option<String>,
    pub identity: Option<Identity>,
    pub generated: Option<String>,
    pub collation: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Identity {
    Always,
    ByDefault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConstraintType {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclusion,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    pub constraint_type: ConstraintType,
    pub columns: Vec<String>,
    /// `pg_get_constraintdef`: for CHECK the expression, for FK the whole clause.
    pub definition: String,
    pub references: Option<ForeignKeyReference>,
    pub deferrable: bool,
    pub description: Option<String>,
    /// Defined on this table itself, not cloned from a partitioned parent or inherited. For
    /// the DDL text only (a partition's DDL lists only these): not part of the events.
    #[serde(skip)]
    pub local: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForeignKeyReference {
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
    pub match_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    /// Key columns by name; an expression key is given as its SQL text.
    pub columns: Vec<String>,
    pub is_unique: bool,
    pub is_primary: bool,
    pub method: String,
    pub predicate: Option<String>,
    pub definition: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Partitioning {
    /// `RANGE`, `LIST` or `HASH`.
    pub strategy: String,
    /// `pg_get_partkeydef`, e.g. `RANGE (payment_date)`.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartitionOf {
    pub parent_schema: String,
    pub parent_table: String,
    /// `FOR VALUES ...` or `DEFAULT`.
    pub bound: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForeignTable {
    pub server: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoutineKind {
    Function,
    Procedure,
    Aggregate,
    Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Routine {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    pub kind: RoutineKind,
    /// `pg_get_function_identity_arguments`: what tells overloads apart.
    pub arguments: String,
    pub return_type: Option<String>,
    pub language: String,
    /// Source text for SQL/PL languages; absent for C and internal functions.
    pub body: Option<String>,
    pub owner: String,
    pub description: Option<String>,
    pub volatility: String,
    pub security_definer: bool,
    #[serde(default)]
    pub privileges: Vec<Grant>,
}

impl Routine {
    /// `name(argument types)`: unique within a schema, unlike the bare name.
    pub fn signature(&self) -> String {
        format!("{}({})", self.name, self.arguments)
    }
}
