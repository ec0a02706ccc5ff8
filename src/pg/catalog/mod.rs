//! Reads one database's catalog into a [`CatalogSnapshot`].
//!
//! All queries run in one `REPEATABLE READ READ ONLY` transaction, so the rows form one
//! consistent picture. The `pg_get_*def` functions, however, look objects up in the catalog
//! caches, which see the latest state: an object dropped after the snapshot was taken makes
//! them return NULL. Such a NULL where a definition must exist is reported as
//! [`PgError::ConcurrentDdl`] and the caller reads again, so a snapshot never carries a
//! half-dropped object and a failed read never turns into DELETE events.

mod attached;
mod parts;
mod queries;
mod rows;
mod signature;

pub use parts::{FullReadParts, Part};

pub use signature::{CatalogSignature, FINGERPRINT_EVERY, Unchanged, read as read_signature};

use super::error::PgError;
use crate::config::NameFilters;
use crate::model::{CatalogSnapshot, EntityKey, EntityType, Fqn, Table, ddl};
use crate::pg::touched::Touched;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_postgres::{Client, IsolationLevel, Row, Transaction};

/// The catalog signature query (also a cheap proof that the catalog is readable).
pub fn fingerprint_sql() -> String {
    queries::fingerprint()
}

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
    /// The most relations a full read holds at once (see [`read_catalog_in_parts`]).
    pub part_relations: usize,
}

/// What a read of part of the catalog covers: these relations whole, every schema whole or
/// none, and every routine or none.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Only {
    relations: Vec<u32>,
    schemas: bool,
    routines: bool,
    /// Of `relations`, those read only for what describing the others takes (their columns:
    /// what views read, what FKs reference), when that is every FK target of the others (a
    /// part of the full read): their constraints and indexes are left out, and the others'
    /// FKs name their referenced columns from the columns read. `None`: every relation is
    /// described whole, and FKs may reference relations outside the read (a targeted read).
    context: Option<HashSet<u32>>,
}

/// A targeted read reads at most this many relations; more, and the full read is cheaper.
const MAX_TARGETED_RELATIONS: usize = 2000;

#[derive(Debug)]
pub enum TargetedRead {
    /// The entities the touched objects' change can affect, each whole: the touched relations,
    /// their indexes' and sequences' tables, inheritance descendants, views reading them, tables
    /// with FKs to them (and, to describe those whole, what their views read and FKs
    /// reference); the database; every schema when sequences changed. `all_keys` holds those
    /// of `checked` the catalog still has, so one missing there is gone.
    Snapshot {
        snapshot: Box<CatalogSnapshot>,
        /// The views whose lineage the snapshot holds everything for (not those read only to
        /// describe another).
        views: HashSet<i64>,
        /// Every relation the read looked at, and those the transaction dropped: the only
        /// entities besides the snapshot's that the transaction can have removed. A diff
        /// against the heads of these and of the snapshot's entities, alone, equals a diff
        /// against the whole state.
        checked: Vec<EntityKey>,
    },
    /// What was touched cannot be narrowed to relations: read everything.
    Everything(String),
}

#[derive(Debug)]
pub enum CatalogRead {
    /// The catalog signature equals the last one: nothing to diff. `signature` is the new one
    /// (its snapshot may have moved on), to compare the next read with.
    Unchanged {
        signature: CatalogSignature,
        why: Unchanged,
    },
    Changed {
        snapshot: Box<CatalogSnapshot>,
        signature: CatalogSignature,
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
        let name: String = rows::get(row, 0, "databases")?;
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

/// Reads the catalog, or returns `Unchanged` when its signature equals `last`.
pub async fn read_catalog(
    client: &mut Client,
    target: &str,
    scope: &CatalogScope,
    last: Option<&CatalogSignature>,
) -> Result<CatalogRead, PgError> {
    match begin_read(client, target, scope, last).await? {
        Begun::Unchanged(read) => Ok(read),
        Begun::Changed(tx, signature) => whole(tx, target, scope, signature).await,
    }
}

/// What [`read_catalog_in_parts`] found.
#[derive(Debug)]
pub enum PartedRead<'c> {
    /// Unchanged, or read whole: no more relations than a part holds.
    Read(CatalogRead),
    /// More relations than a part holds: read them part by part (see [`FullReadParts`]).
    Parts {
        parts: Box<FullReadParts<'c>>,
        signature: CatalogSignature,
    },
}

/// [`read_catalog`] for a catalog that may be too large to hold at once: more relations than
/// `scope.part_relations` are left to [`FullReadParts`], inside the read's transaction.
pub async fn read_catalog_in_parts<'c>(
    client: &'c mut Client,
    target: &str,
    scope: &CatalogScope,
    last: Option<&CatalogSignature>,
) -> Result<PartedRead<'c>, PgError> {
    let part_relations = scope.part_relations;
    let (tx, signature) = match begin_read(client, target, scope, last).await? {
        Begun::Unchanged(read) => return Ok(PartedRead::Read(read)),
        Begun::Changed(tx, signature) => (tx, signature),
    };
    let relations = parts::all_relations(&tx, target).await?;
    if relations.len() <= part_relations {
        return whole(tx, target, scope, signature)
            .await
            .map(PartedRead::Read);
    }
    Ok(PartedRead::Parts {
        parts: Box::new(FullReadParts::new(
            tx,
            target,
            scope,
            relations,
            part_relations,
        )),
        signature,
    })
}

/// A read's transaction begun, unless the catalog's signature equals `last`.
enum Begun<'c> {
    Unchanged(CatalogRead),
    Changed(Transaction<'c>, CatalogSignature),
}

async fn begin_read<'c>(
    client: &'c mut Client,
    target: &str,
    scope: &CatalogScope,
    last: Option<&CatalogSignature>,
) -> Result<Begun<'c>, PgError> {
    let tx = begin(client, target, scope).await?;
    let (signature, unchanged) = signature::read(&tx, target, last).await?;
    match unchanged {
        Some(why) => {
            tx.commit()
                .await
                .map_err(|e| PgError::query("commit", target, &e))?;
            Ok(Begun::Unchanged(CatalogRead::Unchanged { signature, why }))
        }
        None => Ok(Begun::Changed(tx, signature)),
    }
}

/// The whole catalog, read in `tx`, which this commits.
async fn whole(
    tx: Transaction<'_>,
    target: &str,
    scope: &CatalogScope,
    signature: CatalogSignature,
) -> Result<CatalogRead, PgError> {
    let reader = Reader {
        tx: &tx,
        target,
        only: None,
        lookup: None,
        triggered: None,
    };
    let snapshot = reader.snapshot(scope).await?;
    tx.commit()
        .await
        .map_err(|e| PgError::query("commit", target, &e))?;
    Ok(CatalogRead::Changed {
        snapshot: Box::new(snapshot),
        signature,
    })
}

/// Reads what the DDL that `touched` describes can have changed (see [`TargetedRead`]).
pub async fn read_touched(
    client: &mut Client,
    target: &str,
    scope: &CatalogScope,
    touched: &Touched,
) -> Result<TargetedRead, PgError> {
    if let Some(why) = &touched.everything {
        return Ok(TargetedRead::Everything(why.clone()));
    }
    let tx = begin(client, target, scope).await?;
    let reader = Reader {
        tx: &tx,
        target,
        only: None,
        lookup: None,
        triggered: None,
    };
    let (only, views) = match reader.plan(touched).await? {
        Ok(plan) => plan,
        Err(why) => return Ok(TargetedRead::Everything(why)),
    };
    let reader = Reader {
        only: Some(&only),
        ..reader
    };
    let mut snapshot = reader.snapshot(scope).await?;
    let mut oids: Vec<u32> = only
        .relations
        .iter()
        .chain(&touched.relations)
        .chain(&touched.dropped)
        .copied()
        .collect();
    oids.sort_unstable();
    oids.dedup();
    snapshot.all_keys.clear();
    for row in reader
        .rows(
            "existing_relations",
            &queries::existing_relations(),
            &[&oids],
        )
        .await?
    {
        snapshot.all_keys.insert(EntityKey {
            entity_type: EntityType::Table,
            oid: rows::get(&row, 0, "existing_relations")?,
        });
    }
    tx.commit()
        .await
        .map_err(|e| PgError::query("commit", target, &e))?;
    let checked = oids
        .into_iter()
        .map(|oid| EntityKey {
            entity_type: EntityType::Table,
            oid: i64::from(oid),
        })
        .collect();
    Ok(TargetedRead::Snapshot {
        snapshot: Box::new(snapshot),
        views,
        checked,
    })
}

/// The read's transaction: one consistent picture (`REPEATABLE READ READ ONLY`), each statement
/// and lock wait bounded. lock_timeout: pg_get_viewdef takes AccessShareLock on each view;
/// behind a DDL that holds an exclusive lock the read gives up quickly and retries next poll
/// instead of queueing (and making every later reader of that view queue behind it).
async fn begin<'c>(
    client: &'c mut Client,
    target: &str,
    scope: &CatalogScope,
) -> Result<Transaction<'c>, PgError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| PgError::query("begin", target, &e))?;
    set_timeouts(&tx, target, scope.statement_timeout, LOCK_TIMEOUT_MS).await?;
    Ok(tx)
}

/// Bounds each statement of `tx` and its wait for a lock, and plans its catalog queries for
/// cached catalogs (`SET LOCAL`: for this transaction).
pub(crate) async fn set_timeouts(
    tx: &Transaction<'_>,
    target: &str,
    statement_timeout: Duration,
    lock_timeout_ms: u64,
) -> Result<(), PgError> {
    let timeout_ms = statement_timeout.as_millis().max(1);
    // In the same round trip, for the catalog queries: a catalog query at 100,000 tables
    // crosses jit_above_cost, and compiling it (70 ms) costs more than it saves (a full read
    // in parts spent a fifth of its time in JIT). The catalogs are read often and stay
    // cached, so an index lookup costs about what a sequential page does; at the default
    // random_page_cost (4, a disk's) the planner scanned `pg_class` whole for each part of a
    // full read instead of looking its relations up (see `queries::only`).
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL lock_timeout = {lock_timeout_ms};
         SET LOCAL jit = off; SET LOCAL random_page_cost = 1.1"
    ))
    .await
    .map_err(|e| PgError::query("statement_timeout", target, &e))
}

/// The catalog as seen inside `tx`, a transaction the caller opened (and may have changed
/// the catalog in: see `pg::migration`).
pub async fn read_snapshot_in(
    tx: &Transaction<'_>,
    target: &str,
    scope: &CatalogScope,
) -> Result<CatalogSnapshot, PgError> {
    Reader {
        tx,
        target,
        only: None,
        lookup: None,
        triggered: None,
    }
    .snapshot(scope)
    .await
}

/// The whole catalog of the connected database as a lineage [`Resolver`](crate::lineage::Resolver) with the session's
/// search path (for `pgmeta-capture lineage --catalog-from`).
pub async fn read_resolver(
    client: &mut Client,
    target: &str,
) -> Result<crate::lineage::Resolver, PgError> {
    let scope = CatalogScope {
        service: "lineage".into(),
        filters: NameFilters::default(),
        use_fqn_for_filtering: false,
        include_tables: true,
        include_views: true,
        include_stored_procedures: false,
        include_ddl: false,
        statement_timeout: Duration::from_secs(60),
        // Read whole: the resolver holds every relation anyway.
        part_relations: usize::MAX,
    };
    match read_catalog(client, target, &scope, None).await? {
        CatalogRead::Changed { snapshot, .. } => Ok(crate::lineage::Resolver::from_snapshot(
            &snapshot,
            &snapshot.search_path,
        )),
        // Nothing to compare with: always read.
        CatalogRead::Unchanged { .. } => Ok(crate::lineage::Resolver::without_catalog()),
    }
}

/// Every relation of the connected database `database` that the catalog's filters keep, as
/// `(schema, name)` into `each`: what the usage poller holds between polls. Streamed, so the
/// 100,000 rows of a 100,000-table catalog are never held at once beside what `each` keeps.
pub async fn read_relation_names(
    client: &Client,
    target: &str,
    scope: &CatalogScope,
    database: &str,
    mut each: impl FnMut(&str, &str),
) -> Result<(), PgError> {
    use futures_util::TryStreamExt;
    let names = rows::Names::new(scope, database);
    let q = "relation_names";
    let err = |e: tokio_postgres::Error| PgError::query(q, target, &e);
    let no_params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
    let stream = client
        .query_raw(&queries::relation_names(), no_params)
        .await
        .map_err(err)?;
    let mut stream = std::pin::pin!(stream);
    while let Some(row) = stream.try_next().await.map_err(err)? {
        let schema: &str = rows::get(&row, 0, q)?;
        let name: &str = rows::get(&row, 1, q)?;
        if names.relation_included(schema, name) {
            each(schema, name);
        }
    }
    Ok(())
}

/// The relations of the connected database named one of `named` (in any schema), filtered
/// like the catalog, with their columns, as a lineage [`Resolver`](crate::lineage::Resolver)
/// with the database's default search path and `schemas` (those holding relations: where an
/// unqualified CREATE goes). For statements whose identifiers are `named` (see
/// `lineage::identifiers`) it resolves as the whole catalog would.
pub async fn read_relations(
    client: &Client,
    target: &str,
    scope: &CatalogScope,
    named: &std::collections::HashSet<String>,
    schemas: &[String],
) -> Result<crate::lineage::Resolver, PgError> {
    let (setting, database) = search_path(client, target).await?;
    let names = rows::Names::new(scope, &database);
    // No relation's name is longer (NAMEDATALEN - 1); as written, a longer identifier names
    // none of them either.
    let named: Vec<&[u8]> = named
        .iter()
        .map(|n| n.as_bytes())
        .filter(|n| n.len() <= 63)
        .collect();
    let relations = relation_columns(client, target, Some(named.as_slice()), |schema, name, _| {
        names.relation_included(schema, name)
    })
    .await?;
    Ok(crate::lineage::Resolver::from_parts(
        &database,
        crate::lineage::parse_search_path(&setting),
        relations,
    )
    .with_schemas(schemas.iter().map(String::as_str)))
}

/// The database's `search_path` setting and its name.
async fn search_path(client: &Client, target: &str) -> Result<(String, String), PgError> {
    let row = client
        .query_one(queries::SEARCH_PATH_SETTING, &[])
        .await
        .map_err(|e| PgError::query("search_path", target, &e))?;
    Ok((
        rows::get(&row, 0, "search_path")?,
        rows::get(&row, 1, "search_path")?,
    ))
}

/// Every relation `keep` keeps (by schema, name, and whether it is a view or materialized
/// view), with its column names; of those `named` (UTF-8 bytes) alone when given.
async fn relation_columns(
    client: &impl tokio_postgres::GenericClient,
    target: &str,
    named: Option<&[&[u8]]>,
    keep: impl Fn(&str, &str, bool) -> bool,
) -> Result<Vec<(String, String, Vec<String>)>, PgError> {
    let q = "relation_columns";
    let mut relations = Vec::new();
    let rows = match named {
        Some(named) => {
            client
                .query(&queries::relation_columns(true), &[&named])
                .await
        }
        None => client.query(&queries::relation_columns(false), &[]).await,
    };
    for row in rows.map_err(|e| PgError::query(q, target, &e))? {
        let schema: String = rows::get(&row, 0, q)?;
        let name: String = rows::get(&row, 1, q)?;
        if keep(&schema, &name, rows::get(&row, 3, q)?) {
            relations.push((schema, name, rows::get(&row, 2, q)?));
        }
    }
    Ok(relations)
}

struct Reader<'a> {
    tx: &'a Transaction<'a>,
    target: &'a str,
    /// A targeted read's part of the catalog (see [`TargetedRead`]); `None` reads it all.
    only: Option<&'a Only>,
    /// The columns' types, collations and enum labels when they were read already (once for
    /// every part of a full read in parts); `None` reads those of the columns read.
    lookup: Option<&'a rows::ColumnLookup>,
    /// The relations that have user triggers, when they were read already (once for every
    /// part of a full read in parts): a part none of whose described relations (its own, not
    /// its context: see [`Only::context`]) has one skips the trigger query, which scans every
    /// trigger, the internal ones of each foreign key included (400,000 at 100,000 tables:
    /// 25 ms a part for nothing). `None` always queries.
    triggered: Option<&'a HashSet<u32>>,
}

impl Reader<'_> {
    /// The relations a targeted read covers; `None` for all of them.
    fn relations(&self) -> Option<&[u32]> {
        self.only.map(|o| o.relations.as_slice())
    }

    /// The relations read only as context (see [`Only::context`]).
    fn context(&self) -> Option<&HashSet<u32>> {
        self.only.and_then(|o| o.context.as_ref())
    }

    /// Whether the relation `oid` is described whole: not read only as context.
    fn described(&self, oid: u32) -> bool {
        self.context().is_none_or(|c| !c.contains(&oid))
    }

    /// Whether every schema is read whole (the full read, or a targeted read that needs them).
    fn whole_schemas(&self) -> bool {
        self.only.is_none_or(|o| o.schemas)
    }

    /// Whether every routine is read (the full read, or the part of it that is not relations).
    fn whole_routines(&self) -> bool {
        self.only.is_none_or(|o| o.routines)
    }

    /// The rows of `sql`, a query with parameters.
    async fn rows(
        &self,
        name: &'static str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        self.tx
            .query(sql, params)
            .await
            .map_err(|e| PgError::query(name, self.target, &e))
    }

    /// The relations a targeted read of `touched` reads, and the views among them whose
    /// lineage it has everything for; or why only the full read will do.
    async fn plan(
        &self,
        touched: &Touched,
    ) -> Result<Result<(Only, HashSet<i64>), String>, PgError> {
        let mut base: Vec<u32> = touched.relations.iter().copied().collect();
        for catalog in touched
            .attached
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<HashSet<_>>()
        {
            let Some(sql) = queries::attached_relation(catalog) else {
                return Ok(Err(format!("a change of {catalog}")));
            };
            let oids: Vec<u32> = touched
                .attached
                .iter()
                .filter(|(c, _)| c == catalog)
                .map(|(_, o)| *o)
                .collect();
            for row in self.rows("attached_relation", sql, &[&oids]).await? {
                match rows::get::<u32>(&row, 0, "attached_relation")? {
                    // A domain's constraint: the columns of that domain anywhere.
                    0 => return Ok(Err("a change of a domain's constraint".into())),
                    oid => base.push(oid),
                }
            }
        }
        if !touched.relations_named.is_empty() {
            let (schemas, names): (Vec<&str>, Vec<&str>) = touched
                .relations_named
                .iter()
                .map(|(s, r)| (s.as_str(), r.as_str()))
                .unzip();
            for row in self
                .rows(
                    "relations_named",
                    queries::RELATIONS_NAMED,
                    &[&schemas, &names],
                )
                .await?
            {
                base.push(rows::get(&row, 0, "relations_named")?);
            }
        }
        let altered: Vec<u32> = touched.altered.iter().copied().collect();
        if self.any_of_kind(&altered, "p").await? {
            return Ok(Err("ALTER TABLE of a partitioned table".into()));
        }
        let mut relations = Vec::new();
        let mut views = HashSet::new();
        let mut schemas = touched.sequences_dropped || self.any_of_kind(&base, "S").await?;
        for row in self
            .rows("touched_relations", queries::TOUCHED_RELATIONS, &[&base])
            .await?
        {
            let oid: u32 = rows::get(&row, 0, "touched_relations")?;
            let relkind: String = rows::get(&row, 1, "touched_relations")?;
            schemas |= rows::get::<bool>(&row, 2, "touched_relations")?;
            if relkind == "v" || relkind == "m" {
                views.insert(i64::from(oid));
            }
            relations.push(oid);
        }
        for oid in self.context_relations(&relations).await? {
            if !relations.contains(&oid) {
                relations.push(oid);
            }
        }
        if relations.len() > MAX_TARGETED_RELATIONS {
            return Ok(Err(format!("{} relations affected", relations.len())));
        }
        relations.sort_unstable();
        // A targeted read touches no routine (see `pg::touched`), nor deletes one.
        let routines = false;
        Ok(Ok((
            Only {
                relations,
                schemas,
                routines,
                context: None,
            },
            views,
        )))
    }

    /// What describing `relations` takes besides them: the relations their views read and
    /// their FKs reference.
    async fn context_relations(&self, relations: &[u32]) -> Result<Vec<u32>, PgError> {
        let relations = relations.to_vec();
        self.rows(
            "context_relations",
            queries::CONTEXT_RELATIONS,
            &[&relations],
        )
        .await?
        .iter()
        .map(|row| rows::get(row, 0, "context_relations"))
        .collect()
    }

    /// Whether one of `oids` is a relation of `kind` (`p` partitioned table, `S` sequence).
    async fn any_of_kind(&self, oids: &[u32], kind: &str) -> Result<bool, PgError> {
        if oids.is_empty() {
            return Ok(false);
        }
        let oids = oids.to_vec();
        match self
            .rows("any_of_kind", queries::ANY_OF_KIND, &[&oids, &kind])
            .await?
            .first()
        {
            Some(row) => rows::get(row, 0, "any_of_kind"),
            None => Ok(false),
        }
    }

    async fn one(&self, name: &'static str, sql: &str) -> Result<Row, PgError> {
        self.tx
            .query_one(sql, &[])
            .await
            .map_err(|e| PgError::query(name, self.target, &e))
    }

    /// Streams the rows of `sql` into `f`, so a 200,000-row result is never held at once.
    async fn each(
        &self,
        name: &'static str,
        sql: &str,
        mut f: impl FnMut(Row) -> Result<(), PgError>,
    ) -> Result<(), PgError> {
        use futures_util::TryStreamExt;
        let started = std::time::Instant::now();
        let err = |e: tokio_postgres::Error| PgError::query(name, self.target, &e);
        let no_params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
        let stream = self.tx.query_raw(sql, no_params).await.map_err(err)?;
        let mut stream = std::pin::pin!(stream);
        let mut rows = 0usize;
        while let Some(row) = stream.try_next().await.map_err(err)? {
            rows += 1;
            f(row)?;
        }
        tracing::debug!(query = name, rows, elapsed = ?started.elapsed(), "catalog query");
        Ok(())
    }

    /// The definitions `sql` (`queries::INDEX_DEFINITIONS` or `CONSTRAINT_DEFINITIONS`)
    /// deparses for the objects `pending` (`(position, OID)`), by OID; one that is gone is
    /// missing.
    async fn server_definitions(
        &self,
        name: &'static str,
        sql: &str,
        pending: &[(usize, u32)],
    ) -> Result<HashMap<u32, String>, PgError> {
        let mut definitions = HashMap::new();
        if pending.is_empty() {
            return Ok(definitions);
        }
        let oids: Vec<u32> = pending.iter().map(|(_, oid)| *oid).collect();
        for row in self.rows(name, sql, &[&oids]).await? {
            if let Some(definition) = rows::get::<Option<String>>(&row, 1, name)? {
                definitions.insert(rows::get(&row, 0, name)?, definition);
            }
        }
        Ok(definitions)
    }

    /// The types, collations and enum labels of the columns this reader reads.
    async fn column_lookup(&self) -> Result<rows::ColumnLookup, PgError> {
        let mut lookup = rows::ColumnLookup::default();
        self.each(
            "column_types",
            &queries::column_types(self.relations()),
            |row| {
                let (key, ty) = rows::column_type(&row)?;
                lookup.types.insert(key, ty);
                Ok(())
            },
        )
        .await?;
        self.each("collations", queries::COLLATIONS, |row| {
            lookup.collations.insert(
                rows::get::<u32>(&row, 0, "collations")?,
                rows::get::<String>(&row, 1, "collations")?,
            );
            Ok(())
        })
        .await?;
        self.each("enum_labels", queries::ENUM_LABELS, |row| {
            lookup.enums.insert(
                rows::get(&row, 0, "enum_labels")?,
                rows::get(&row, 1, "enum_labels")?,
            );
            Ok(())
        })
        .await?;
        let q = "operator_classes";
        self.each(q, queries::OPERATOR_CLASSES, |row| {
            let class = (rows::get(&row, 1, q)?, rows::get(&row, 2, q)?);
            lookup.opclasses.insert(rows::get(&row, 0, q)?, class);
            Ok(())
        })
        .await?;
        Ok(lookup)
    }

    /// The catalog; with `only`, the part a targeted read covers (see [`TargetedRead`]).
    async fn snapshot(&self, scope: &CatalogScope) -> Result<CatalogSnapshot, PgError> {
        let (oids, whole_schemas) = (self.relations(), self.whole_schemas());
        let row = self.one("database", queries::DATABASE).await?;
        let (mut database, server_version, version_num) = rows::database(&row)?;
        let mut names = rows::Names::new(scope, &database.name);
        let mut all_keys = HashSet::new();

        let mut schemas = Vec::new();
        self.each("schemas", &queries::schemas(), |row| {
            let schema = rows::schema(&row)?;
            all_keys.insert(EntityKey {
                entity_type: EntityType::DatabaseSchema,
                oid: schema.oid,
            });
            if names.schema_included(&schema.name) {
                schemas.push(schema);
            }
            Ok(())
        })
        .await?;
        names.set_schemas(&schemas);
        if !whole_schemas {
            schemas.clear();
        }

        let mut tables: HashMap<u32, Table> = HashMap::new();
        self.each("relations", &queries::relations(oids), |row| {
            let (oid, table) = rows::relation(&row)?;
            all_keys.insert(EntityKey {
                entity_type: EntityType::Table,
                oid: i64::from(oid),
            });
            if names.table_included(&table) {
                tables.insert(oid, table);
            }
            Ok(())
        })
        .await?;

        fail::fail_point!("catalog-read-between-queries");

        let read_here;
        let lookup = match self.lookup {
            Some(lookup) => lookup,
            None => {
                read_here = self.column_lookup().await?;
                &read_here
            }
        };

        // Column names of relations left out by filters, for FKs that reference them.
        let mut other_columns: HashMap<(u32, i16), String> = HashMap::new();
        // What plain indexes' definitions need of their key columns besides their names.
        let mut key_columns: HashMap<(u32, i16), rows::KeyColumn> = HashMap::new();
        self.each("columns", &queries::columns(oids), |row| {
            let relid: u32 = rows::get(&row, 0, "columns")?;
            match tables.get_mut(&relid) {
                Some(table) => {
                    let (column, key) = rows::column(&row, lookup, table)?;
                    if let Ok(attnum) = i16::try_from(column.attnum) {
                        key_columns.insert((relid, attnum), key);
                    }
                    table.columns.push(column);
                }
                None => {
                    other_columns.insert(
                        (relid, rows::get(&row, 1, "columns")?),
                        rows::get(&row, 2, "columns")?,
                    );
                }
            }
            Ok(())
        })
        .await?;
        // A part of the catalog: the columns its FKs reference elsewhere, by name. (The full
        // read has every relation's columns above, a part of it every FK target's.)
        if let Some(oids) = oids.filter(|_| self.context().is_none()) {
            let oids = oids.to_vec();
            for row in self
                .rows("referenced_columns", queries::REFERENCED_COLUMNS, &[&oids])
                .await?
            {
                other_columns.insert(
                    (
                        rows::get(&row, 0, "referenced_columns")?,
                        rows::get(&row, 1, "referenced_columns")?,
                    ),
                    rows::get(&row, 2, "referenced_columns")?,
                );
            }
        }
        for t in tables.values_mut() {
            t.columns.sort_by_key(|c| c.attnum);
            // The room of dropped columns (see `rows::relation`).
            t.columns.shrink_to_fit();
        }
        let column_name =
            |tables: &HashMap<u32, Table>, relid: u32, attnum: i16| -> Option<String> {
                match tables.get(&relid) {
                    Some(t) => t
                        .columns
                        .binary_search_by_key(&i32::from(attnum), |c| c.attnum)
                        .ok()
                        .map(|i| t.columns[i].name.clone()),
                    None => other_columns.get(&(relid, attnum)).cloned(),
                }
            };

        // Converted while streaming (key columns resolve against `tables`, read-only here);
        // attached to their tables afterwards.
        let mut constraints = Vec::new();
        // Constraints whose definition the server gives after all: (position, OID).
        let mut deparse = Vec::new();
        let sql = queries::constraints(version_num, oids);
        self.each("constraints", &sql, |row| {
            let relid: u32 = rows::get(&row, 0, "constraints")?;
            if tables.contains_key(&relid) && self.described(relid) {
                let name = |rel, attnum| column_name(&tables, rel, attnum);
                let (constraint, from_server) = rows::constraint(&row, name, relid)?;
                if let Some(oid) = from_server {
                    deparse.push((constraints.len(), oid));
                }
                constraints.push((relid, constraint));
            }
            Ok(())
        })
        .await?;
        let q = "constraint_definitions";
        let mut definitions = self
            .server_definitions(q, queries::CONSTRAINT_DEFINITIONS, &deparse)
            .await?;
        for (position, oid) in deparse {
            let constraint = &mut constraints[position].1;
            constraint.definition = definitions.remove(&oid).ok_or_else(|| {
                let name = &constraint.name;
                rows::concurrent(format!("constraint {name} changed during the read"))
            })?;
        }
        let mut indexes = Vec::new();
        // Indexes whose definition the server gives after all: (position, OID).
        let mut deparse = Vec::new();
        self.each("indexes", &queries::indexes(version_num, oids), |row| {
            let relid: u32 = rows::get(&row, 0, "indexes")?;
            if tables.contains_key(&relid) && self.described(relid) {
                let column = |attnum| {
                    column_name(&tables, relid, attnum)
                        .map(|name| (name, key_columns.get(&(relid, attnum)).copied()))
                };
                let (index, from_server) = rows::index(&row, column, &lookup.opclasses)?;
                if let Some(oid) = from_server {
                    deparse.push((indexes.len(), oid));
                }
                indexes.push((relid, index));
            }
            Ok(())
        })
        .await?;
        drop(key_columns);
        let q = "index_definitions";
        let mut definitions = self
            .server_definitions(q, queries::INDEX_DEFINITIONS, &deparse)
            .await?;
        for (position, oid) in deparse {
            let index = &mut indexes[position].1;
            index.definition = definitions.remove(&oid).ok_or_else(|| {
                rows::concurrent(format!("index {} changed during the read", index.name))
            })?;
        }
        // Each table's lists sized exactly: a first push reserves room for four, which is
        // 10 MB of slack at 10,000 tables with one constraint and one index each.
        let mut counts: HashMap<u32, (usize, usize)> = HashMap::new();
        for (relid, _) in &constraints {
            counts.entry(*relid).or_default().0 += 1;
        }
        for (relid, _) in &indexes {
            counts.entry(*relid).or_default().1 += 1;
        }
        for (relid, (c, i)) in counts {
            if let Some(t) = tables.get_mut(&relid) {
                t.constraints.reserve_exact(c);
                t.indexes.reserve_exact(i);
            }
        }
        for (relid, constraint) in constraints {
            if let Some(t) = tables.get_mut(&relid) {
                t.constraints.push(constraint);
            }
        }
        for (relid, index) in indexes {
            if let Some(t) = tables.get_mut(&relid) {
                t.indexes.push(index);
            }
        }

        let mut routines = Vec::new();
        if self.whole_routines() {
            self.each("routines", &queries::routines(version_num), |row| {
                let oid: u32 = rows::get(&row, 0, "routines")?;
                all_keys.insert(EntityKey {
                    entity_type: EntityType::Routine,
                    oid: i64::from(oid),
                });
                let schema: String = rows::get(&row, 1, "routines")?;
                if scope.include_stored_procedures && names.schema_kept(&schema) {
                    routines.push(rows::routine(&row, oid, schema)?);
                }
                Ok(())
            })
            .await?;
        }

        self.attached(
            version_num,
            &names,
            &mut database,
            &mut schemas,
            &mut tables,
            &mut routines,
        )
        .await?;

        let mut tables: Vec<Table> = tables.into_values().collect();
        tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        for t in &mut tables {
            t.constraints.sort_by(|a, b| a.name.cmp(&b.name));
            t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            t.triggers.sort_by(|a, b| a.name.cmp(&b.name));
            t.policies.sort_by(|a, b| a.name.cmp(&b.name));
            t.privileges.sort_by(|a, b| a.grantee.cmp(&b.grantee));
            if scope.include_ddl {
                let mut text = ddl::create_statement(t);
                text.shrink_to_fit();
                t.ddl = Some(text);
            }
        }
        schemas.sort_by(|a, b| a.name.cmp(&b.name));
        for s in &mut schemas {
            s.privileges.sort_by(|a, b| a.grantee.cmp(&b.grantee));
            s.sequences.sort_by(|a, b| a.name.cmp(&b.name));
        }
        for r in &mut routines {
            r.privileges.sort_by(|a, b| a.grantee.cmp(&b.grantee));
        }
        database.extensions.sort_by(|a, b| a.name.cmp(&b.name));
        routines.sort_by(|a, b| {
            (&a.schema, &a.name, &a.arguments).cmp(&(&b.schema, &b.name, &b.arguments))
        });
        let search_path: Vec<String> = rows::get(
            &self.one("search_path", queries::SEARCH_PATH).await?,
            0,
            "search_path",
        )?;
        let mut view_dependencies: HashMap<i64, std::collections::BTreeSet<(i64, i32)>> =
            HashMap::new();
        self.each(
            "view_dependencies",
            &queries::view_dependencies(oids),
            |row| {
                let view: i64 = rows::get(&row, 0, "view_dependencies")?;
                let source: i64 = rows::get(&row, 1, "view_dependencies")?;
                let attnum: i32 = rows::get(&row, 2, "view_dependencies")?;
                view_dependencies
                    .entry(view)
                    .or_default()
                    .insert((source, attnum));
                Ok(())
            },
        )
        .await?;
        Ok(CatalogSnapshot {
            server_version,
            database,
            schemas,
            tables,
            routines,
            all_keys,
            search_path,
            view_dependencies,
        })
    }

    /// What hangs off the objects read: privileges of relations, schemas and routines,
    /// triggers and policies of tables, sequences of kept schemas, and extensions.
    async fn attached(
        &self,
        version_num: i32,
        names: &rows::Names<'_>,
        database: &mut crate::model::Database,
        schemas: &mut [crate::model::DatabaseSchema],
        tables: &mut HashMap<u32, Table>,
        routines: &mut [crate::model::Routine],
    ) -> Result<(), PgError> {
        let (oids, whole_schemas) = (self.relations(), self.whole_schemas());
        let mut sequences: HashMap<u32, (String, crate::model::Sequence)> = HashMap::new();
        if whole_schemas {
            self.each("sequences", &queries::sequences(), |row| {
                let (oid, schema, sequence) = attached::sequence(&row)?;
                if names.schema_kept(&schema) {
                    sequences.insert(oid, (schema, sequence));
                }
                Ok(())
            })
            .await?;
        }
        let grants = queries::relation_grants(oids, whole_schemas);
        self.each("relation_grants", &grants, |row| {
            let (oid, grant) = attached::grant(&row, "relation_grants")?;
            if let Some(t) = tables.get_mut(&oid) {
                t.privileges.push(grant);
            } else if let Some((_, s)) = sequences.get_mut(&oid) {
                s.privileges.push(grant);
            }
            Ok(())
        })
        .await?;
        let triggers = match (self.triggered, oids) {
            (Some(triggered), Some(oids)) => oids
                .iter()
                .any(|o| triggered.contains(o) && self.described(*o)),
            _ => true,
        };
        if triggers {
            self.each("triggers", &queries::triggers(version_num, oids), |row| {
                let (relid, trigger) = attached::trigger(&row)?;
                if let Some(t) = tables.get_mut(&relid) {
                    t.triggers.push(trigger);
                }
                Ok(())
            })
            .await?;
        }
        self.each("policies", &queries::policies(oids), |row| {
            let (relid, policy) = attached::policy(&row)?;
            if let Some(t) = tables.get_mut(&relid) {
                t.policies.push(policy);
            }
            Ok(())
        })
        .await?;
        let schema_index: HashMap<i64, usize> = schemas
            .iter()
            .enumerate()
            .map(|(i, s)| (s.oid, i))
            .collect();
        if whole_schemas {
            self.each("schema_grants", &queries::schema_grants(), |row| {
                let (oid, grant) = attached::grant(&row, "schema_grants")?;
                if let Some(&i) = schema_index.get(&i64::from(oid)) {
                    schemas[i].privileges.push(grant);
                }
                Ok(())
            })
            .await?;
        }
        for (schema, sequence) in sequences.into_values() {
            if let Some(s) = schemas.iter_mut().find(|s| s.name == schema) {
                s.sequences.push(sequence);
            }
        }
        let routine_index: HashMap<i64, usize> = routines
            .iter()
            .enumerate()
            .map(|(i, r)| (r.oid, i))
            .collect();
        if self.whole_routines() {
            self.each("routine_grants", &queries::routine_grants(), |row| {
                let (oid, grant) = attached::grant(&row, "routine_grants")?;
                if let Some(&i) = routine_index.get(&i64::from(oid)) {
                    routines[i].privileges.push(grant);
                }
                Ok(())
            })
            .await?;
        }
        self.each("extensions", queries::EXTENSIONS, |row| {
            database.extensions.push(attached::extension(&row)?);
            Ok(())
        })
        .await?;
        Ok(())
    }
}
