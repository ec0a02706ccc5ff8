//! Reading entities: by id or FQN, pages of a collection, versions.

use super::conn::Db;
use super::{Include, Row, Store, StoreError, bodies_of, body_of, not_found};
use crate::openmetadata::kind::{self, Kind};
use serde_json::{Map, Value};
use tokio_postgres::GenericClient;

impl Store {
    pub(super) async fn find<C: GenericClient>(
        c: &Db<'_, C>,
        kind: &Kind,
        by: &str,
        value: &str,
        lock: bool,
    ) -> Result<Option<Row>, StoreError> {
        let sql = format!(
            "SELECT id, deleted, body::text, parent_id, xmin::text FROM pgmeta_catalog.entity WHERE collection = $1 AND {by} = $2{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        let Some(row) = c.query_opt(&sql, &[&kind.collection, &value]).await? else {
            return Ok(None);
        };
        let body = bodies_of(vec![row.get(2)]).await?.pop().unwrap_or_default();
        Ok(Some(Row {
            id: row.get(0),
            parent_id: row.get(3),
            xmin: row.get(4),
            deleted: row.get(1),
            body,
        }))
    }

    /// GET by id or by FQN.
    pub async fn get(
        &self,
        kind: &'static Kind,
        by_name: bool,
        key: &str,
        include: Include,
    ) -> Result<Map<String, Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let by = if by_name { "fqn" } else { "id" };
        match Self::find(&c, kind, by, key, false).await? {
            Some(row) if include.admits(row.deleted) => Ok(row.body),
            _ => Err(not_found(kind, key)),
        }
    }

    /// A page of a collection in FQN order, optionally under one parent FQN. `after`/`before`
    /// are FQNs (the API hex-encodes them into opaque cursors).
    pub async fn list(
        &self,
        kind: &'static Kind,
        parent_fqn: Option<&str>,
        include: Include,
        limit: i64,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<(Vec<Map<String, Value>>, i64), StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let deleted_filter = include.sql_filter();
        let prefix = parent_fqn.map(|p| format!("{p}."));
        let base = format!(
            "FROM pgmeta_catalog.entity WHERE collection = $1{deleted_filter} AND ($2::text IS NULL OR starts_with(fqn, $2))"
        );
        let total: i64 = c
            .query_one(
                &format!("SELECT count(*) {base}"),
                &[&kind.collection, &prefix],
            )
            .await?
            .get(0);
        let rows = match before {
            Some(b) => {
                let sql = format!(
                    "SELECT body::text FROM (SELECT body, fqn {base} AND fqn < $3 ORDER BY fqn DESC LIMIT $4) page ORDER BY fqn"
                );
                c.query(&sql, &[&kind.collection, &prefix, &b, &limit])
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT body::text {base} AND ($3::text IS NULL OR fqn > $3) ORDER BY fqn LIMIT $4"
                );
                c.query(&sql, &[&kind.collection, &prefix, &after, &limit])
                    .await?
            }
        };
        Ok((
            bodies_of(rows.iter().map(|r| r.get(0)).collect()).await?,
            total,
        ))
    }

    /// Whether an entity sorts after `fqn` in the collection (for the `after` cursor).
    pub async fn has_more(
        &self,
        kind: &Kind,
        parent_fqn: Option<&str>,
        include: Include,
        fqn: &str,
        forward: bool,
    ) -> Result<bool, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let deleted_filter = include.sql_filter();
        let prefix = parent_fqn.map(|p| format!("{p}."));
        let cmp = if forward { ">" } else { "<" };
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM pgmeta_catalog.entity WHERE collection = $1{deleted_filter} AND ($2::text IS NULL OR starts_with(fqn, $2)) AND fqn {cmp} $3)"
        );
        Ok(c.query_one(&sql, &[&kind.collection, &prefix, &fqn])
            .await?
            .get(0))
    }

    /// All versions of an entity, newest first.
    pub async fn versions(&self, kind: &'static Kind, id: &str) -> Result<Vec<Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        Self::find(&c, kind, "id", id, false)
            .await?
            .ok_or_else(|| not_found(kind, id))?;
        let rows = c
            .query("SELECT body::text FROM pgmeta_catalog.entity_version WHERE id = $1 ORDER BY version DESC", &[&id])
            .await?;
        let bodies = bodies_of(rows.iter().map(|r| r.get(0)).collect()).await?;
        Ok(bodies.into_iter().map(Value::Object).collect())
    }

    pub async fn version(
        &self,
        kind: &'static Kind,
        id: &str,
        version: f64,
    ) -> Result<Map<String, Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let row = c
            .query_opt("SELECT body::text FROM pgmeta_catalog.entity_version WHERE id = $1 AND version = $2", &[&id, &version])
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{} instance for {id} has no version {version}", kind.entity_type)))?;
        body_of(row.get::<_, &str>(0))
    }

    /// Any entity by id, whatever its collection (for lineage).
    pub async fn entity_by_id(
        &self,
        id: &str,
    ) -> Result<Option<(&'static Kind, Map<String, Value>)>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let row = c
            .query_opt(
                "SELECT collection, body::text FROM pgmeta_catalog.entity WHERE id = $1",
                &[&id],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        match kind::by_collection(r.get::<_, &str>(0)) {
            Some(k) => Ok(Some((k, body_of(r.get::<_, &str>(1))?))),
            None => Ok(None),
        }
    }
}
