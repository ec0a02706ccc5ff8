//! Reads one database's catalog into a [`CatalogSnapshot`].
//!
//! All queries run in one `REPEATABLE READ READ ONLY` transaction, so the rows form one
//! consistent picture. The `pg_get_*def` functions, however, look objects up in the catalog
//! caches, which see the latest state: an object dropped after the snapshot was taken makes
//! them return NULL. Such a NULL where a definition must exist is reported as
//! [`PgError::ConcurrentDdl`] and the caller reads again, so a snapshot never carries a
//! half-dropped object and a failed read never turns into DELETE events.

mod queries;

use super::error::PgError;
use crate::config::NameFilters;
use crate::model::{
    CatalogSnapshot, Column, Constraint, ConstraintType, Database, DatabaseSchema, EntityKey,
    EntityType, ForeignKeyReference, ForeignTable, Fqn, Identity, Index, PartitionOf, Partitioning,
    Routine, RoutineKind, Table, TableType, TypeFamily, ddl,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, IsolationLevel, Row, Transaction};

/// How long the read waits for a lock on a view before giving up until the next poll.
const LOCK_TIMEOUT_MS: u64 = 2000;

/// What to read and how to filter it.
#[derive(Debug, Clone)]
pub struct CatalogScope {
    pub service: String,
    pub filters: NameFilters,
    pub use_fqn_for_filtering: bool,
    pub include_tables: bool,
    pub include_views: bool,
    pub include_stored_procedures: bool,
    pub include_ddl: bool,
    pub statement_timeout: Duration,
}

#[derive(Debug)]
pub enum CatalogRead {
    /// The catalog signature equals the last one: nothing to diff.
    Unchanged,
    Changed {
        snapshot: Box<CatalogSnapshot>,
        fingerprint: String,
    },
}

/// Lists the databases `ingest_all_databases` should capture, filtered.
pub async fn list_databases(
    client: &Client,
    target: &str,
    service: &str,
    scope: &CatalogScope,
) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(queries::DATABASES, &[])
        .await
        .map_err(|e| PgError::query("databases", target, &e))?;
    let mut out = Vec::new();
    for row in &rows {
        let name: String = get(row, 0, "databases")?;
        let subject = if scope.use_fqn_for_filtering {
            Fqn::new([service, &name]).to_string()
        } else {
            name.clone()
        };
        if scope.filters.database.accepts(&subject) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Reads the catalog, or returns `Unchanged` when its signature equals `last_fingerprint`.
pub async fn read_catalog(
    client: &mut Client,
    target: &str,
    scope: &CatalogScope,
    last_fingerprint: Option<&str>,
) -> Result<CatalogRead, PgError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| PgError::query("begin", target, &e))?;
    let timeout_ms = scope.statement_timeout.as_millis().max(1);
    // lock_timeout: pg_get_viewdef takes AccessShareLock on each view; behind a DDL that holds
    // an exclusive lock the read gives up quickly and retries next poll instead of queueing
    // (and making every later reader of that view queue behind it).
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"
    ))
    .await
    .map_err(|e| PgError::query("statement_timeout", target, &e))?;

    let reader = Reader { tx: &tx, target };
    let fingerprint: String = get(
        &reader.one("fingerprint", &queries::fingerprint()).await?,
        0,
        "fingerprint",
    )?;
    if last_fingerprint == Some(fingerprint.as_str()) {
        tx.commit()
            .await
            .map_err(|e| PgError::query("commit", target, &e))?;
        return Ok(CatalogRead::Unchanged);
    }
    let snapshot = reader.snapshot(scope).await?;
    tx.commit()
        .await
        .map_err(|e| PgError::query("commit", target, &e))?;
    Ok(CatalogRead::Changed {
        snapshot: Box::new(snapshot),
        fingerprint,
    })
}

struct Reader<'a> {
    tx: &'a Transaction<'a>,
    target: &'a str,
}

impl Reader<'_> {
    async fn rows(&self, name: &'static str, sql: &str) -> Result<Vec<Row>, PgError> {
        self.tx
            .query(sql, &[])
            .await
            .map_err(|e| PgError::query(name, self.target, &e))
    }

    async fn one(&self, name: &'static str, sql: &str) -> Result<Row, PgError> {
        self.tx
            .query_one(sql, &[])
            .await
            .map_err(|e| PgError::query(name, self.target, &e))
    }

    async fn snapshot(&self, scope: &CatalogScope) -> Result<CatalogSnapshot, PgError> {
        let row = self.one("database", queries::DATABASE).await?;
        let server_version: String = get(&row, 6, "database")?;
        let q = "database";
        let database = Database {
            oid: i64::from(get::<u32>(&row, 0, q)?),
            name: get(&row, 1, q)?,
            owner: get(&row, 2, q)?,
            description: get(&row, 3, q)?,
            encoding: get(&row, 4, q)?,
            collation: get(&row, 5, q)?,
        };
        let version_num: i32 = get(&row, 7, q)?;
        let service = scope.service.as_str();
        let db = database.name.as_str();
        let mut all_keys = HashSet::new();

        let mut schemas = Vec::new();
        let q = "schemas";
        for row in self.rows(q, &queries::schemas()).await? {
            let schema = DatabaseSchema {
                oid: i64::from(get::<u32>(&row, 0, q)?),
                name: get(&row, 1, q)?,
                owner: get(&row, 2, q)?,
                description: get(&row, 3, q)?,
            };
            all_keys.insert(EntityKey {
                entity_type: EntityType::DatabaseSchema,
                oid: schema.oid,
            });
            let subject = if scope.use_fqn_for_filtering {
                Fqn::new([service, db, &schema.name]).to_string()
            } else {
                schema.name.clone()
            };
            if scope.filters.schema.accepts(&subject) {
                schemas.push(schema);
            }
        }
        let included_schemas: HashSet<&str> = schemas.iter().map(|s| s.name.as_str()).collect();

        let mut tables: HashMap<u32, Table> = HashMap::new();
        let q = "relations";
        for row in self.rows(q, &queries::relations()).await? {
            let oid: u32 = get(&row, 0, q)?;
            all_keys.insert(EntityKey {
                entity_type: EntityType::Table,
                oid: i64::from(oid),
            });
            let schema: String = get(&row, 1, q)?;
            let name: String = get(&row, 2, q)?;
            let relkind: String = get(&row, 3, q)?;
            let is_partition: bool = get(&row, 4, q)?;
            let table_type = match (relkind.as_str(), is_partition) {
                ("v", _) => TableType::View,
                ("m", _) => TableType::MaterializedView,
                ("f", _) => TableType::ForeignTable,
                (_, true) => TableType::Partition,
                ("p", false) => TableType::PartitionedTable,
                _ => TableType::Table,
            };
            let wanted = if table_type.is_view() {
                scope.include_views
            } else {
                scope.include_tables
            };
            let subject = if scope.use_fqn_for_filtering {
                Fqn::new([service, db, &schema, &name]).to_string()
            } else {
                name.clone()
            };
            if !wanted
                || !included_schemas.contains(schema.as_str())
                || !scope.filters.table.accepts(&subject)
            {
                continue;
            }
            let view_definition: Option<String> = get(&row, 9, q)?;
            if table_type.is_view() && view_definition.is_none() {
                return Err(PgError::ConcurrentDdl {
                    what: format!("view {schema}.{name} was dropped"),
                });
            }
            let partkey: Option<String> = get(&row, 10, q)?;
            let bound: Option<String> = get(&row, 11, q)?;
            let partition_of = match (
                is_partition,
                get::<Option<String>>(&row, 12, q)?,
                get::<Option<String>>(&row, 13, q)?,
                bound,
            ) {
                (true, Some(parent_schema), Some(parent_table), Some(bound)) => Some(PartitionOf {
                    parent_schema,
                    parent_table,
                    bound,
                }),
                (true, ..) => {
                    return Err(PgError::ConcurrentDdl {
                        what: format!("partition {schema}.{name} was detached"),
                    });
                }
                _ => None,
            };
            let server: Option<String> = get(&row, 14, q)?;
            let foreign_table = match server {
                Some(server) => Some(ForeignTable {
                    server,
                    options: get::<Option<Vec<String>>>(&row, 15, q)?.unwrap_or_default(),
                }),
                None => None,
            };
            let reltuples: f64 = get(&row, 7, q)?;
            let bytes: i64 = get(&row, 8, q)?;
            tables.insert(
                oid,
                Table {
                    oid: i64::from(oid),
                    schema,
                    name,
                    table_type,
                    owner: get(&row, 5, q)?,
                    description: get(&row, 6, q)?,
                    // -1 (PostgreSQL 14+) or 0 with no pages (older) means never analyzed.
                    row_estimate: (!table_type.is_view()
                        && reltuples >= 0.0
                        && !(reltuples == 0.0 && bytes == 0))
                        .then_some(reltuples),
                    size_bytes: (table_type != TableType::View).then_some(bytes),
                    columns: Vec::new(),
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
                },
            );
        }

        fail::fail_point!("catalog-read-between-queries");

        let q = "enum_labels";
        let mut enums: HashMap<u32, Vec<String>> = HashMap::new();
        for row in self.rows(q, queries::ENUM_LABELS).await? {
            enums.insert(get(&row, 0, q)?, get(&row, 1, q)?);
        }

        let q = "columns";
        for row in self.rows(q, &queries::columns()).await? {
            let Some(table) = tables.get_mut(&get::<u32>(&row, 0, q)?) else {
                continue;
            };
            let name: String = get(&row, 2, q)?;
            let has_default: bool = get(&row, 5, q)?;
            let default: Option<String> = get(&row, 6, q)?;
            if has_default && default.is_none() {
                return Err(PgError::ConcurrentDdl {
                    what: format!("default of {}.{}.{name} vanished", table.schema, table.name),
                });
            }
            let identity: String = get(&row, 7, q)?;
            let generated: String = get(&row, 8, q)?;
            let (default, generated) = if generated == "s" {
                (None, default)
            } else {
                (default, None)
            };
            let scalar_name: String = get(&row, 14, q)?;
            let scalar_category: String = get(&row, 15, q)?;
            let scalar_oid: u32 = get(&row, 16, q)?;
            let type_family = TypeFamily::classify(&scalar_name, &scalar_category);
            table.columns.push(Column {
                attnum: i32::from(get::<i16>(&row, 1, q)?),
                name,
                data_type: get(&row, 3, q)?,
                type_family,
                is_array: get(&row, 12, q)?,
                element_type: get(&row, 13, q)?,
                domain: get(&row, 11, q)?,
                enum_labels: if type_family == TypeFamily::Enum {
                    enums.get(&scalar_oid).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                },
                nullable: !get::<bool>(&row, 4, q)?,
                default,
                identity: match identity.as_str() {
                    "a" => Some(Identity::Always),
                    "d" => Some(Identity::ByDefault),
                    _ => None,
                },
                generated,
                collation: get(&row, 9, q)?,
                description: get(&row, 10, q)?,
            });
        }

        let q = "constraints";
        for row in self.rows(q, &queries::constraints()).await? {
            let Some(table) = tables.get_mut(&get::<u32>(&row, 0, q)?) else {
                continue;
            };
            let name: String = get(&row, 1, q)?;
            let Some(definition) = get::<Option<String>>(&row, 4, q)? else {
                return Err(PgError::ConcurrentDdl {
                    what: format!(
                        "constraint {name} on {}.{} was dropped",
                        table.schema, table.name
                    ),
                });
            };
            let constraint_type = match get::<String>(&row, 2, q)?.as_str() {
                "p" => ConstraintType::PrimaryKey,
                "u" => ConstraintType::Unique,
                "f" => ConstraintType::ForeignKey,
                "c" => ConstraintType::Check,
                _ => ConstraintType::Exclusion,
            };
            let references = if constraint_type == ConstraintType::ForeignKey {
                match (
                    get::<Option<String>>(&row, 5, q)?,
                    get::<Option<String>>(&row, 6, q)?,
                ) {
                    (Some(schema), Some(ref_table)) => Some(ForeignKeyReference {
                        schema,
                        table: ref_table,
                        columns: get(&row, 7, q)?,
                        on_update: fk_action(&get::<String>(&row, 8, q)?),
                        on_delete: fk_action(&get::<String>(&row, 9, q)?),
                        match_type: match get::<String>(&row, 10, q)?.as_str() {
                            "f" => "FULL",
                            "p" => "PARTIAL",
                            _ => "SIMPLE",
                        }
                        .to_owned(),
                    }),
                    _ => {
                        return Err(PgError::ConcurrentDdl {
                            what: format!("table referenced by {name} was dropped"),
                        });
                    }
                }
            } else {
                None
            };
            table.constraints.push(Constraint {
                name,
                constraint_type,
                columns: get(&row, 3, q)?,
                definition,
                references,
                deferrable: get(&row, 11, q)?,
                description: get(&row, 12, q)?,
            });
        }

        let q = "indexes";
        for row in self.rows(q, &queries::indexes()).await? {
            let Some(table) = tables.get_mut(&get::<u32>(&row, 0, q)?) else {
                continue;
            };
            let name: String = get(&row, 1, q)?;
            let columns: Vec<Option<String>> = get(&row, 5, q)?;
            let definition: Option<String> = get(&row, 7, q)?;
            let (Some(definition), Some(columns)) = (
                definition,
                columns.into_iter().collect::<Option<Vec<String>>>(),
            ) else {
                return Err(PgError::ConcurrentDdl {
                    what: format!(
                        "index {name} on {}.{} was dropped",
                        table.schema, table.name
                    ),
                });
            };
            table.indexes.push(Index {
                name,
                columns,
                is_unique: get(&row, 2, q)?,
                is_primary: get(&row, 3, q)?,
                method: get(&row, 4, q)?,
                predicate: get(&row, 6, q)?,
                definition,
                description: get(&row, 8, q)?,
            });
        }

        let mut routines = Vec::new();
        let q = "routines";
        for row in self.rows(q, &queries::routines(version_num)).await? {
            let oid: u32 = get(&row, 0, q)?;
            all_keys.insert(EntityKey {
                entity_type: EntityType::Routine,
                oid: i64::from(oid),
            });
            let schema: String = get(&row, 1, q)?;
            if !scope.include_stored_procedures || !included_schemas.contains(schema.as_str()) {
                continue;
            }
            let Some(arguments) = get::<Option<String>>(&row, 4, q)? else {
                return Err(PgError::ConcurrentDdl {
                    what: format!("routine {oid} was dropped"),
                });
            };
            routines.push(Routine {
                oid: i64::from(oid),
                schema,
                name: get(&row, 2, q)?,
                kind: match get::<String>(&row, 3, q)?.as_str() {
                    "p" => RoutineKind::Procedure,
                    "a" => RoutineKind::Aggregate,
                    "w" => RoutineKind::Window,
                    _ => RoutineKind::Function,
                },
                arguments,
                return_type: get(&row, 5, q)?,
                language: get(&row, 6, q)?,
                body: get(&row, 7, q)?,
                owner: get(&row, 8, q)?,
                description: get(&row, 9, q)?,
                volatility: match get::<String>(&row, 10, q)?.as_str() {
                    "i" => "IMMUTABLE",
                    "s" => "STABLE",
                    _ => "VOLATILE",
                }
                .to_owned(),
                security_definer: get(&row, 11, q)?,
            });
        }

        let mut tables: Vec<Table> = tables.into_values().collect();
        tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        if scope.include_ddl {
            for t in &mut tables {
                t.ddl = Some(ddl::create_statement(t));
            }
        }
        schemas.sort_by(|a, b| a.name.cmp(&b.name));
        routines.sort_by(|a, b| {
            (&a.schema, &a.name, &a.arguments).cmp(&(&b.schema, &b.name, &b.arguments))
        });
        Ok(CatalogSnapshot {
            server_version,
            database,
            schemas,
            tables,
            routines,
            all_keys,
        })
    }
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

fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize, query: &'static str) -> Result<T, PgError> {
    row.try_get(idx).map_err(|e| PgError::Decode {
        query,
        reason: format!("column {idx}: {e}"),
    })
}
