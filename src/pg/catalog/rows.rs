//! Catalog rows -> model values, and which of them the filters keep.

use super::CatalogScope;
use crate::model::{
    Column, Constraint, ConstraintType, Database, DatabaseSchema, ForeignKeyReference,
    ForeignTable, Fqn, Identity, Index, PartitionOf, Partitioning, Routine, RoutineKind, Table,
    TableType, TypeFamily,
};
use crate::pg::PgError;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

pub(super) fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    idx: usize,
    query: &'static str,
) -> Result<T, PgError> {
    row.try_get(idx).map_err(|e| PgError::Decode {
        query,
        reason: format!("column {idx}: {e}"),
    })
}

pub(super) fn concurrent(what: String) -> PgError {
    PgError::ConcurrentDdl { what }
}

/// The database row: the entity, `server_version` and `server_version_num`.
pub(super) fn database(row: &Row) -> Result<(Database, String, i32), PgError> {
    let q = "database";
    let database = Database {
        oid: i64::from(get::<u32>(row, 0, q)?),
        name: get(row, 1, q)?,
        owner: get(row, 2, q)?,
        description: get(row, 3, q)?,
        encoding: get(row, 4, q)?,
        collation: get(row, 5, q)?,
        extensions: Vec::new(),
    };
    Ok((database, get(row, 6, q)?, get(row, 7, q)?))
}

pub(super) fn schema(row: &Row) -> Result<DatabaseSchema, PgError> {
    let q = "schemas";
    Ok(DatabaseSchema {
        oid: i64::from(get::<u32>(row, 0, q)?),
        name: get(row, 1, q)?,
        owner: get(row, 2, q)?,
        description: get(row, 3, q)?,
        privileges: Vec::new(),
        sequences: Vec::new(),
    })
}

/// Applies the scope's filters and toggles, by bare name or by FQN.
pub(super) struct Names<'a> {
    scope: &'a CatalogScope,
    database: String,
    kept_schemas: HashSet<String>,
}

impl<'a> Names<'a> {
    pub(super) fn new(scope: &'a CatalogScope, database: &str) -> Self {
        Names {
            scope,
            database: database.to_owned(),
            kept_schemas: HashSet::new(),
        }
    }

    fn subject(&self, parts: &[&str]) -> String {
        if self.scope.use_fqn_for_filtering {
            let mut all = vec![self.scope.service.as_str(), self.database.as_str()];
            all.extend_from_slice(parts);
            Fqn::new(all).to_string()
        } else {
            parts.last().copied().unwrap_or_default().to_owned()
        }
    }

    pub(super) fn schema_included(&self, schema: &str) -> bool {
        self.scope.filters.schema.accepts(&self.subject(&[schema]))
    }

    pub(super) fn set_schemas(&mut self, schemas: &[DatabaseSchema]) {
        self.kept_schemas = schemas.iter().map(|s| s.name.clone()).collect();
    }

    pub(super) fn schema_kept(&self, schema: &str) -> bool {
        self.kept_schemas.contains(schema)
    }

    pub(super) fn table_included(&self, t: &Table) -> bool {
        self.relation_kept(&t.schema, &t.name, t.table_type.is_view())
    }

    /// Whether the snapshot holds this relation (a view or materialized view, or not).
    pub(super) fn relation_kept(&self, schema: &str, name: &str, view: bool) -> bool {
        let wanted = if view {
            self.scope.include_views
        } else {
            self.scope.include_tables
        };
        wanted
            && self.schema_kept(schema)
            && self
                .scope
                .filters
                .table
                .accepts(&self.subject(&[schema, name]))
    }
}

impl Names<'_> {
    /// The filters' verdict on a relation known only by name (usage and query lineage).
    pub(super) fn relation_included(&self, schema: &str, name: &str) -> bool {
        self.schema_included(schema)
            && self
                .scope
                .filters
                .table
                .accepts(&self.subject(&[schema, name]))
    }
}

/// A relation without its columns, constraints and indexes (they come from later queries).
pub(super) fn relation(row: &Row) -> Result<(u32, Table), PgError> {
    let q = "relations";
    let oid: u32 = get(row, 0, q)?;
    let schema: String = get(row, 1, q)?;
    let name: String = get(row, 2, q)?;
    let relkind: String = get(row, 3, q)?;
    let is_partition: bool = get(row, 4, q)?;
    let table_type = match (relkind.as_str(), is_partition) {
        ("v", _) => TableType::View,
        ("m", _) => TableType::MaterializedView,
        ("f", _) => TableType::ForeignTable,
        (_, true) => TableType::Partition,
        ("p", false) => TableType::PartitionedTable,
        _ => TableType::Table,
    };
    let view_definition: Option<String> = get(row, 9, q)?;
    if table_type.is_view() && view_definition.is_none() {
        return Err(concurrent(format!("view {schema}.{name} was dropped")));
    }
    let partkey: Option<String> = get(row, 10, q)?;
    let partition_of = match (
        is_partition,
        get::<Option<String>>(row, 12, q)?,
        get::<Option<String>>(row, 13, q)?,
        get::<Option<String>>(row, 11, q)?,
    ) {
        (true, Some(parent_schema), Some(parent_table), Some(bound)) => Some(PartitionOf {
            parent_schema,
            parent_table,
            bound,
        }),
        (true, ..) => {
            return Err(concurrent(format!(
                "partition {schema}.{name} was detached"
            )));
        }
        _ => None,
    };
    let foreign_table = match get::<Option<String>>(row, 14, q)? {
        Some(server) => Some(ForeignTable {
            server,
            options: get::<Option<Vec<String>>>(row, 15, q)?.unwrap_or_default(),
        }),
        None => None,
    };
    let reltuples: f64 = get(row, 7, q)?;
    let bytes: i64 = get(row, 8, q)?;
    // The columns' room, made once: `relnatts` counts them (dropped ones too). Grown a push
    // at a time, 2 million columns took 1.6 times their size until trimmed, and a part's
    // peak with them.
    let attributes: i16 = get(row, 20, q)?;
    Ok((
        oid,
        Table {
            oid: i64::from(oid),
            schema,
            name,
            table_type,
            owner: get(row, 5, q)?,
            description: get(row, 6, q)?,
            // -1 (PostgreSQL 14+) or 0 with no pages (older) means never analyzed.
            row_estimate: (!table_type.is_view()
                && reltuples >= 0.0
                && !(reltuples == 0.0 && bytes == 0))
                .then_some(reltuples),
            size_bytes: (table_type != TableType::View).then_some(bytes),
            columns: Vec::with_capacity(usize::try_from(attributes).unwrap_or(0)),
            constraints: Vec::new(),
            indexes: Vec::new(),
            view_definition,
            partitioning: partkey.map(|key| Partitioning {
                strategy: key.split_whitespace().next().unwrap_or_default().to_owned(),
                key,
            }),
            partition_of,
            foreign_table,
            ddl: None,
            inherits: get::<Option<Vec<String>>>(row, 16, q)?.unwrap_or_default(),
            of_type: get(row, 17, q)?,
            triggers: Vec::new(),
            row_level_security: get(row, 18, q)?,
            force_row_level_security: get(row, 19, q)?,
            policies: Vec::new(),
            privileges: Vec::new(),
        },
    ))
}

/// A column type resolved once per distinct `(type oid, typmod)`.
#[derive(Debug)]
pub(super) struct ColumnType {
    data_type: Arc<str>,
    domain: Option<Arc<str>>,
    is_array: bool,
    element_type: Option<Arc<str>>,
    family: TypeFamily,
    scalar_oid: u32,
    collation: u32,
}

pub(super) fn column_type(row: &Row) -> Result<((u32, i32), ColumnType), PgError> {
    let q = "column_types";
    let key = (get(row, 0, q)?, get(row, 1, q)?);
    let name: String = get(row, 6, q)?;
    let category: String = get(row, 7, q)?;
    Ok((
        key,
        ColumnType {
            data_type: get::<String>(row, 2, q)?.into(),
            domain: get::<Option<String>>(row, 3, q)?.map(Into::into),
            is_array: get(row, 4, q)?,
            element_type: get::<Option<String>>(row, 5, q)?.map(Into::into),
            family: TypeFamily::classify(&name, &category),
            scalar_oid: get(row, 8, q)?,
            collation: get(row, 9, q)?,
        },
    ))
}

/// What column rows (and the definitions of plain indexes) need besides themselves.
#[derive(Debug, Default)]
pub(super) struct ColumnLookup {
    pub types: HashMap<(u32, i32), ColumnType>,
    pub collations: HashMap<u32, String>,
    pub enums: HashMap<u32, Vec<String>>,
    /// Each operator class: whether it is the default one, and for which input type.
    pub opclasses: HashMap<u32, (bool, u32)>,
}

/// What a plain index's definition needs of a key column besides its name (see
/// [`plain_index_definition`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct KeyColumn {
    pub type_oid: u32,
    pub collation: u32,
    pub domain: bool,
}

/// A column, and what a plain index's definition needs of it (see [`KeyColumn`]).
pub(super) fn column(
    row: &Row,
    lookup: &ColumnLookup,
    table: &Table,
) -> Result<(Column, KeyColumn), PgError> {
    let q = "columns";
    let name: String = get(row, 2, q)?;
    let key: (u32, i32) = (get(row, 3, q)?, get(row, 4, q)?);
    // A type created after the snapshot cannot be a column's; a missing one was dropped.
    let Some(ty) = lookup.types.get(&key) else {
        return Err(concurrent(format!(
            "type of {}.{}.{name} changed",
            table.schema, table.name
        )));
    };
    let has_default: bool = get(row, 6, q)?;
    let default: Option<String> = get(row, 7, q)?;
    if has_default && default.is_none() {
        return Err(concurrent(format!(
            "default of {}.{}.{name} vanished",
            table.schema, table.name
        )));
    }
    let identity: String = get(row, 8, q)?;
    let generated: String = get(row, 9, q)?;
    let (default, generated) = if generated == "s" {
        (None, default)
    } else {
        (default, None)
    };
    let collation: u32 = get(row, 10, q)?;
    let key = KeyColumn {
        type_oid: key.0,
        collation,
        domain: ty.domain.is_some(),
    };
    let column = Column {
        attnum: i32::from(get::<i16>(row, 1, q)?),
        name,
        data_type: ty.data_type.clone(),
        type_family: ty.family,
        is_array: ty.is_array,
        element_type: ty.element_type.clone(),
        domain: ty.domain.clone(),
        enum_labels: if ty.family == TypeFamily::Enum {
            lookup
                .enums
                .get(&ty.scalar_oid)
                .cloned()
                .unwrap_or_default()
        } else {
            Vec::new()
        },
        nullable: !get::<bool>(row, 5, q)?,
        default,
        identity: match identity.as_str() {
            "a" => Some(Identity::Always),
            "d" => Some(Identity::ByDefault),
            _ => None,
        },
        generated,
        collation: (collation != 0 && collation != ty.collation)
            .then(|| lookup.collations.get(&collation).cloned())
            .flatten(),
        description: get(row, 11, q)?,
    };
    Ok((column, key))
}

/// `column_name(relid, attnum)` resolves key columns from what the reader already holds.
/// A constraint; its definition is empty when the server must give it (the constraint's OID
/// comes back then: see `queries::CONSTRAINT_DEFINITIONS`).
pub(super) fn constraint(
    row: &Row,
    column_name: impl Fn(u32, i16) -> Option<String>,
    relid: u32,
) -> Result<(Constraint, Option<u32>), PgError> {
    let q = "constraints";
    let name: String = get(row, 1, q)?;
    let gone = || concurrent(format!("constraint {name} changed during the read"));
    let names = |rel: u32, keys: Option<Vec<i16>>| -> Option<Vec<String>> {
        keys.unwrap_or_default()
            .into_iter()
            .map(|k| column_name(rel, k))
            .collect()
    };
    // Key columns; an expression key (attnum 0) is named by its deparsed expression.
    let expressions: Option<Vec<Option<String>>> = get(row, 14, q)?;
    let keys: Vec<i16> = get::<Option<Vec<i16>>>(row, 3, q)?.unwrap_or_default();
    let mut columns = Vec::with_capacity(keys.len());
    for (i, attnum) in keys.into_iter().enumerate() {
        let column = if attnum == 0 {
            expressions
                .as_ref()
                .and_then(|e| e.get(i).cloned().flatten())
        } else {
            column_name(relid, attnum)
        };
        columns.push(column.ok_or_else(gone)?);
    }
    let constraint_type = match get::<String>(row, 2, q)?.as_str() {
        "p" => ConstraintType::PrimaryKey,
        "u" => ConstraintType::Unique,
        "f" => ConstraintType::ForeignKey,
        "c" => ConstraintType::Check,
        _ => ConstraintType::Exclusion,
    };
    let references = if constraint_type == ConstraintType::ForeignKey {
        let ref_oid: u32 = get(row, 5, q)?;
        match (
            get::<Option<String>>(row, 6, q)?,
            get::<Option<String>>(row, 7, q)?,
            names(ref_oid, get(row, 8, q)?),
        ) {
            (Some(schema), Some(table), Some(columns)) => Some(ForeignKeyReference {
                schema,
                table,
                columns,
                on_update: fk_action(&get::<String>(row, 9, q)?),
                on_delete: fk_action(&get::<String>(row, 10, q)?),
                match_type: match get::<String>(row, 11, q)?.as_str() {
                    "f" => "FULL",
                    "p" => "PARTIAL",
                    _ => "SIMPLE",
                }
                .to_owned(),
            }),
            _ => {
                return Err(concurrent(format!(
                    "table referenced by {name} was dropped"
                )));
            }
        }
    } else {
        None
    };
    let (definition, from_server) = match (
        get::<Option<String>>(row, 4, q)?,
        get::<Option<String>>(row, 17, q)?,
    ) {
        (Some(definition), _) => (definition, None),
        (None, Some(prefix)) => {
            let referenced: Option<String> = get(row, 18, q)?;
            let references = match (&referenced, &references) {
                (Some(table), Some(r)) => Some((table.as_str(), r.columns.as_slice())),
                _ => None,
            };
            match plain_constraint_definition(&prefix, &columns, references) {
                Some(definition) => (definition, None),
                None => (String::new(), Some(get::<u32>(row, 16, q)?)),
            }
        }
        (None, None) => return Err(gone()),
    };
    Ok((
        Constraint {
            name,
            constraint_type,
            columns,
            definition,
            references,
            deferrable: get(row, 12, q)?,
            description: get(row, 13, q)?,
            local: get(row, 15, q)?,
        },
        from_server,
    ))
}

/// The definition `pg_get_constraintdef` gives a plain key or foreign key (see
/// `queries::constraints`): `prefix` (`PRIMARY KEY (`, `UNIQUE (` or `FOREIGN KEY (`), the
/// columns, and for a foreign key ` REFERENCES table(columns)`, the table spelled as the
/// server does. `None` when only the server can say: a column name that is a keyword (see
/// `plain_index_definition`).
pub(super) fn plain_constraint_definition(
    prefix: &str,
    columns: &[String],
    references: Option<(&str, &[String])>,
) -> Option<String> {
    let list = |columns: &[String]| -> Option<String> {
        let quoted: Option<Vec<String>> = columns
            .iter()
            .map(|c| crate::model::quote_ident_any_version(c))
            .collect();
        Some(quoted?.join(", "))
    };
    let mut definition = format!("{prefix}{})", list(columns)?);
    if prefix.starts_with("FOREIGN KEY") {
        let (table, columns) = references?;
        definition.push_str(&format!(" REFERENCES {table}({})", list(columns)?));
    }
    Some(definition)
}

fn fk_action(code: &str) -> String {
    match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
    .to_owned()
}

/// `column_name(attnum)` resolves plain key columns; expression keys come deparsed.
/// An index; its definition is empty when the server must give it (the index's OID comes
/// back then: see `queries::INDEX_DEFINITIONS`).
pub(super) fn index(
    row: &Row,
    column: impl Fn(i16) -> Option<(String, Option<KeyColumn>)>,
    opclasses: &HashMap<u32, (bool, u32)>,
) -> Result<(Index, Option<u32>), PgError> {
    let q = "indexes";
    let name: String = get(row, 1, q)?;
    let gone = || concurrent(format!("index {name} changed during the read"));
    let keys: Vec<i16> = get(row, 5, q)?;
    let expressions: Option<Vec<Option<String>>> = get(row, 6, q)?;
    let mut columns = Vec::with_capacity(keys.len());
    let mut key_columns = Vec::with_capacity(keys.len());
    for (i, attnum) in keys.iter().enumerate() {
        let col = if *attnum == 0 {
            expressions
                .as_ref()
                .and_then(|e| e.get(i).cloned().flatten())
        } else {
            column(*attnum).map(|(name, key)| {
                key_columns.push(key);
                name
            })
        };
        columns.push(col.ok_or_else(gone)?);
    }
    let (definition, from_server) = match (
        get::<Option<String>>(row, 8, q)?,
        get::<Option<String>>(row, 11, q)?,
    ) {
        (Some(definition), _) => (definition, None),
        (None, Some(prefix)) => {
            let classes: Vec<u32> = get(row, 12, q)?;
            let collations: Vec<u32> = get(row, 13, q)?;
            let keys: Vec<(&str, Option<KeyColumn>)> = columns
                .iter()
                .map(String::as_str)
                .zip(key_columns.iter().copied())
                .collect();
            match plain_index_definition(&prefix, &keys, &classes, &collations, opclasses) {
                Some(definition) => (definition, None),
                None => (String::new(), Some(get::<u32>(row, 10, q)?)),
            }
        }
        (None, None) => return Err(gone()),
    };
    Ok((
        Index {
            name,
            columns,
            is_unique: get(row, 2, q)?,
            is_primary: get(row, 3, q)?,
            method: get(row, 4, q)?,
            predicate: get(row, 7, q)?,
            definition,
            description: get(row, 9, q)?,
        },
        from_server,
    ))
}

/// The definition `pg_get_indexdef` gives a plain index (see `queries::indexes`): `prefix`
/// (`CREATE ... USING method (`) and the key columns, each `(name, what the read knows of it)`
/// with its operator class and collation. `None` when only the server can say: an operator
/// class that is not the default for the column's own type (the server names it), a
/// collation other than the column's (it adds `COLLATE`), a domain column, or a column name
/// that is a keyword (whether the server quotes it depends on its version).
pub(super) fn plain_index_definition(
    prefix: &str,
    keys: &[(&str, Option<KeyColumn>)],
    classes: &[u32],
    collations: &[u32],
    opclasses: &HashMap<u32, (bool, u32)>,
) -> Option<String> {
    if classes.len() != keys.len() || collations.len() != keys.len() {
        return None;
    }
    let mut definition = String::from(prefix);
    for (i, ((name, key), (class, collation))) in
        keys.iter().zip(classes.iter().zip(collations)).enumerate()
    {
        let key = (*key)?;
        let (default, input_type) = *opclasses.get(class)?;
        if !default || input_type != key.type_oid || key.domain {
            return None;
        }
        if *collation != 0 && *collation != key.collation {
            return None;
        }
        if i > 0 {
            definition.push_str(", ");
        }
        definition.push_str(&crate::model::quote_ident_any_version(name)?);
    }
    definition.push(')');
    Some(definition)
}

pub(super) fn routine(row: &Row, oid: u32, schema: String) -> Result<Routine, PgError> {
    let q = "routines";
    let Some(arguments) = get::<Option<String>>(row, 4, q)? else {
        return Err(concurrent(format!("routine {oid} was dropped")));
    };
    Ok(Routine {
        oid: i64::from(oid),
        schema,
        name: get(row, 2, q)?,
        kind: match get::<String>(row, 3, q)?.as_str() {
            "p" => RoutineKind::Procedure,
            "a" => RoutineKind::Aggregate,
            "w" => RoutineKind::Window,
            _ => RoutineKind::Function,
        },
        arguments,
        return_type: get(row, 5, q)?,
        language: get(row, 6, q)?,
        body: get(row, 7, q)?,
        owner: get(row, 8, q)?,
        description: get(row, 9, q)?,
        volatility: match get::<String>(row, 10, q)?.as_str() {
            "i" => "IMMUTABLE",
            "s" => "STABLE",
            _ => "VOLATILE",
        }
        .to_owned(),
        security_definer: get(row, 11, q)?,
        privileges: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::{KeyColumn, plain_constraint_definition, plain_index_definition};
    use std::collections::HashMap;

    const INT4: u32 = 23;
    const TEXT: u32 = 25;
    const INT4_OPS: u32 = 1978;
    const TEXT_OPS: u32 = 3126;
    const TEXT_PATTERN_OPS: u32 = 4217;
    const DEFAULT_COLLATION: u32 = 100;
    const C_COLLATION: u32 = 950;
    const PREFIX: &str = "CREATE INDEX i ON s.t USING btree (";

    fn opclasses() -> HashMap<u32, (bool, u32)> {
        HashMap::from([
            (INT4_OPS, (true, INT4)),
            (TEXT_OPS, (true, TEXT)),
            (TEXT_PATTERN_OPS, (false, TEXT)),
        ])
    }

    fn key(type_oid: u32, collation: u32) -> Option<KeyColumn> {
        Some(KeyColumn {
            type_oid,
            collation,
            domain: false,
        })
    }

    fn definition(
        keys: &[(&str, Option<KeyColumn>)],
        classes: &[u32],
        collations: &[u32],
    ) -> Option<String> {
        plain_index_definition(PREFIX, keys, classes, collations, &opclasses())
    }

    #[test]
    fn default_keys_make_the_definition_with_names_quoted() {
        let keys = [
            ("id", key(INT4, 0)),
            ("Mixed Case", key(TEXT, DEFAULT_COLLATION)),
            ("naïve", key(TEXT, C_COLLATION)),
        ];
        assert_eq!(
            definition(
                &keys,
                &[INT4_OPS, TEXT_OPS, TEXT_OPS],
                &[0, DEFAULT_COLLATION, C_COLLATION]
            )
            .as_deref(),
            Some(r#"CREATE INDEX i ON s.t USING btree (id, "Mixed Case", "naïve")"#)
        );
    }

    #[test]
    fn whatever_the_server_would_spell_out_is_left_to_it() {
        let text = [("note", key(TEXT, DEFAULT_COLLATION))];
        // An operator class that is not the default, or the default of another type.
        assert_eq!(
            definition(&text, &[TEXT_PATTERN_OPS], &[DEFAULT_COLLATION]),
            None
        );
        assert_eq!(definition(&[("n", key(INT4, 0))], &[TEXT_OPS], &[0]), None);
        // A collation other than the column's.
        assert_eq!(definition(&text, &[TEXT_OPS], &[C_COLLATION]), None);
        // A domain over the class's type.
        let domain = Some(KeyColumn {
            type_oid: TEXT,
            collation: DEFAULT_COLLATION,
            domain: true,
        });
        assert_eq!(
            definition(&[("d", domain)], &[TEXT_OPS], &[DEFAULT_COLLATION]),
            None
        );
        // A keyword some server versions quote and others not; an unknown class or column.
        assert_eq!(
            definition(&[("order", key(INT4, 0))], &[INT4_OPS], &[0]),
            None
        );
        assert_eq!(definition(&[("n", key(INT4, 0))], &[1], &[0]), None);
        assert_eq!(definition(&[("n", None)], &[INT4_OPS], &[0]), None);
        // Arrays that do not match the keys.
        assert_eq!(definition(&[("n", key(INT4, 0))], &[], &[0]), None);
        assert_eq!(
            definition(&[("n", key(INT4, 0))], &[INT4_OPS], &[0, 0]),
            None
        );
    }

    #[test]
    fn plain_keys_and_foreign_keys_read_as_the_server_prints_them() {
        let cols = |c: &[&str]| -> Vec<String> { c.iter().map(|s| (*s).to_owned()).collect() };
        assert_eq!(
            plain_constraint_definition("PRIMARY KEY (", &cols(&["id", "Key B"]), None).as_deref(),
            Some(r#"PRIMARY KEY (id, "Key B")"#)
        );
        let referenced = cols(&["id"]);
        assert_eq!(
            plain_constraint_definition(
                "FOREIGN KEY (",
                &cols(&["parent_id"]),
                Some(("\"Odd Schema\".t", referenced.as_slice()))
            )
            .as_deref(),
            Some(r#"FOREIGN KEY (parent_id) REFERENCES "Odd Schema".t(id)"#)
        );
        // A keyword column is the server's to quote; a foreign key needs its reference.
        assert_eq!(
            plain_constraint_definition("UNIQUE (", &cols(&["order"]), None),
            None
        );
        assert_eq!(
            plain_constraint_definition("FOREIGN KEY (", &cols(&["a"]), None),
            None
        );
    }
}
