//! The full read in parts. A catalog of more relations than a part holds is read a part of
//! its relations at a time, inside the read's one transaction (one consistent picture), so the
//! caller can diff, send and save each part before it reads the next: memory follows the
//! part, not the catalog (100,000 tables with 2 million columns held whole took 1.2 GB).
//!
//! First [`FullReadParts::rest`]: the database, every schema and routine, and the key of every
//! entity the catalog holds, so the rest's diff finds all that was dropped and no part's diff
//! finds anything dropped. Then each [`Part`]: its relations whole, with what describing them
//! takes besides (the relations its views read and its FKs reference), which is not its own.

use super::{CatalogScope, Only, Reader, queries, relation_columns, rows};
use crate::lineage::Resolver;
use crate::model::{CatalogSnapshot, EntityKey, EntityType};
use crate::pg::error::PgError;
use std::collections::{HashSet, VecDeque};
use tokio_postgres::Transaction;

/// Every relation of the catalog the full read sees, filtered or not, partitions last.
pub(super) async fn all_relations(tx: &Transaction<'_>, target: &str) -> Result<Vec<u32>, PgError> {
    let rows = tx
        .query(&queries::all_relations(), &[])
        .await
        .map_err(|e| PgError::query("all_relations", target, &e))?;
    rows.iter()
        .map(|row| rows::get(row, 0, "all_relations"))
        .collect()
}

/// A full read whose relations come part by part (see the module documentation). Its
/// transaction stays open until [`FullReadParts::commit`].
pub struct FullReadParts<'c> {
    tx: Transaction<'c>,
    target: String,
    scope: CatalogScope,
    /// Every entity the catalog holds: every relation's from the start, the schemas' and
    /// routines' once the rest is read.
    keys: HashSet<EntityKey>,
    /// The relations not read yet, a part each.
    parts: VecDeque<Vec<u32>>,
    /// Every column's type, collation and enum labels, read with the rest (once, not once
    /// per part: each part's would look at the same few types again).
    lookup: rows::ColumnLookup,
    /// The relations with user triggers, read before the rest (see `Reader::triggered`).
    triggered: HashSet<u32>,
}

impl std::fmt::Debug for FullReadParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullReadParts")
            .field("target", &self.target)
            .field("keys", &self.keys.len())
            .field("parts_left", &self.parts.len())
            .finish_non_exhaustive()
    }
}

/// One part of the relations.
#[derive(Debug)]
pub struct Part {
    /// The part's relations, with what describing them takes besides, and the key of every
    /// entity of the catalog.
    pub snapshot: Box<CatalogSnapshot>,
    /// The OIDs of the part's own relations.
    pub own: HashSet<i64>,
}

impl<'c> FullReadParts<'c> {
    pub(super) fn new(
        tx: Transaction<'c>,
        target: &str,
        scope: &CatalogScope,
        relations: Vec<u32>,
        part_relations: usize,
    ) -> Self {
        let keys = relations
            .iter()
            .map(|oid| EntityKey {
                entity_type: EntityType::Table,
                oid: i64::from(*oid),
            })
            .collect();
        FullReadParts {
            tx,
            target: target.to_owned(),
            scope: scope.clone(),
            keys,
            parts: relations
                .chunks(part_relations.max(1))
                .map(<[u32]>::to_vec)
                .collect(),
            lookup: rows::ColumnLookup::default(),
            triggered: HashSet::new(),
        }
    }

    /// How many parts of relations are still to read.
    pub fn parts_left(&self) -> usize {
        self.parts.len()
    }

    /// The catalog without its relations: the database, every schema and routine, and the
    /// key of every entity. Read it first: it completes the keys every part carries.
    pub async fn rest(&mut self) -> Result<CatalogSnapshot, PgError> {
        let only = Only {
            relations: Vec::new(),
            schemas: true,
            routines: true,
            context: None,
        };
        let mut triggered = HashSet::new();
        self.reader(None)
            .each("triggered_relations", queries::TRIGGERED_RELATIONS, |row| {
                triggered.insert(rows::get(&row, 0, "triggered_relations")?);
                Ok(())
            })
            .await?;
        self.triggered = triggered;
        let mut snapshot = self.reader(Some(&only)).snapshot(&self.scope).await?;
        let lookup = self.reader(None).column_lookup().await?;
        self.lookup = lookup;
        self.keys.extend(snapshot.all_keys.drain());
        snapshot.all_keys = self.keys.clone();
        Ok(snapshot)
    }

    /// The next part, or `None` when every part was read.
    pub async fn next_part(&mut self) -> Result<Option<Part>, PgError> {
        let Some(own) = self.parts.pop_front() else {
            return Ok(None);
        };
        // What the part's views read and its FKs reference: every FK target is among them, so
        // they are read for their columns alone (see `Only::context`).
        let mut context: HashSet<u32> = self
            .reader(None)
            .context_relations(&own)
            .await?
            .into_iter()
            .collect();
        for oid in &own {
            context.remove(oid);
        }
        let mut relations = own.clone();
        relations.extend(&context);
        relations.sort_unstable();
        let only = Only {
            relations,
            schemas: false,
            routines: false,
            context: Some(context),
        };
        let mut snapshot = self.reader(Some(&only)).snapshot(&self.scope).await?;
        snapshot.all_keys = self.keys.clone();
        Ok(Some(Part {
            snapshot: Box::new(snapshot),
            own: own.into_iter().map(i64::from).collect(),
        }))
    }

    /// Every relation the snapshot would hold, by name with its columns, resolved with the
    /// search path of `rest` (from [`FullReadParts::rest`]): what routine bodies' lineage
    /// resolves against when no snapshot holds every relation.
    pub async fn resolver(&self, rest: &CatalogSnapshot) -> Result<Resolver, PgError> {
        let mut names = rows::Names::new(&self.scope, &rest.database.name);
        names.set_schemas(&rest.schemas);
        let relations = relation_columns(&self.tx, &self.target, None, |schema, name, view| {
            names.relation_kept(schema, name, view)
        })
        .await?;
        Ok(
            Resolver::from_parts(&rest.database.name, rest.search_path.clone(), relations)
                .with_schemas(rest.schemas.iter().map(|s| s.name.as_str())),
        )
    }

    /// Ends the read's transaction.
    pub async fn commit(self) -> Result<(), PgError> {
        self.tx
            .commit()
            .await
            .map_err(|e| PgError::query("commit", &self.target, &e))
    }

    fn reader<'a>(&'a self, only: Option<&'a Only>) -> Reader<'a> {
        Reader {
            tx: &self.tx,
            target: &self.target,
            only,
            lookup: Some(&self.lookup),
            triggered: Some(&self.triggered),
        }
    }
}
