//! Lineage edges between entities, and daily usage counts.

use super::{Store, StoreError, body_of};
use crate::server::request::Invalid;
use serde_json::Value;

impl Store {
    /// Adds or replaces the edge `from -> to`. Returns whether anything changed.
    pub async fn put_edge(&self, from: &str, to: &str, edge: &Value) -> Result<bool, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let text = edge.to_string();
        let n = c
            .execute(
                "INSERT INTO pgmeta_catalog.lineage_edge (from_id, to_id, body) VALUES ($1, $2, $3::text::jsonb) ON CONFLICT (from_id, to_id) DO UPDATE SET body = EXCLUDED.body WHERE lineage_edge.body IS DISTINCT FROM EXCLUDED.body",
                &[&from, &to, &text],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn get_edge(&self, from: &str, to: &str) -> Result<Option<Value>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let row = c
            .query_opt("SELECT body::text FROM pgmeta_catalog.lineage_edge WHERE from_id = $1 AND to_id = $2", &[&from, &to])
            .await?;
        row.map(|r| body_of(r.get::<_, &str>(0)).map(Value::Object))
            .transpose()
    }

    pub async fn delete_edge(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let n = c
            .execute(
                "DELETE FROM pgmeta_catalog.lineage_edge WHERE from_id = $1 AND to_id = $2",
                &[&from, &to],
            )
            .await?;
        Ok(n > 0)
    }

    /// Edges into (`upstream`) or out of each of `ids`: (from, to, details).
    pub async fn edges(
        &self,
        ids: &[String],
        upstream: bool,
    ) -> Result<Vec<(String, String, Value)>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let sql = if upstream {
            "SELECT from_id, to_id, body::text FROM pgmeta_catalog.lineage_edge WHERE to_id = ANY($1) ORDER BY 1, 2"
        } else {
            "SELECT from_id, to_id, body::text FROM pgmeta_catalog.lineage_edge WHERE from_id = ANY($1) ORDER BY 1, 2"
        };
        let rows = c.query(sql, &[&ids]).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.get(0),
                    r.get(1),
                    Value::Object(body_of(r.get::<_, &str>(2))?),
                ))
            })
            .collect()
    }

    /// Daily usage count of an entity: `replace` sets it (PUT), else adds to it (POST).
    pub async fn put_usage(
        &self,
        id: &str,
        day: &str,
        count: i64,
        replace: bool,
    ) -> Result<(), StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let sql = if replace {
            "INSERT INTO pgmeta_catalog.usage_daily (entity_id, day, count) VALUES ($1, $2::text::date, $3) ON CONFLICT (entity_id, day) DO UPDATE SET count = EXCLUDED.count"
        } else {
            "INSERT INTO pgmeta_catalog.usage_daily (entity_id, day, count) VALUES ($1, $2::text::date, $3) ON CONFLICT (entity_id, day) DO UPDATE SET count = usage_daily.count + EXCLUDED.count"
        };
        c.execute(sql, &[&id, &day, &count])
            .await
            .map_err(|e| date_error(e, day))?;
        Ok(())
    }

    /// Sets a table's joins of one day (`TableJoins` of the usage workflow; a repeated day
    /// replaces the earlier one, as a re-run of the workflow reads the same log).
    pub async fn put_joins(&self, id: &str, day: &str, joins: &Value) -> Result<(), StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let text = joins.to_string();
        c.execute(
            "INSERT INTO pgmeta_catalog.join_daily (entity_id, day, body) VALUES ($1, $2::text::date, $3::text::jsonb) ON CONFLICT (entity_id, day) DO UPDATE SET body = EXCLUDED.body",
            &[&id, &day, &text],
        )
        .await
        .map_err(|e| date_error(e, day))?;
        Ok(())
    }

    /// A table's joins of the `days` days up to its latest day, newest first: `(day, joins)`.
    pub async fn joins(&self, id: &str, days: i32) -> Result<Vec<(String, Value)>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let rows = c
            .query(
                "SELECT day::text, body::text FROM pgmeta_catalog.join_daily WHERE entity_id = $1 AND day > (SELECT max(day) FROM pgmeta_catalog.join_daily WHERE entity_id = $1) - $2::int ORDER BY day DESC",
                &[&id, &days],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.get(0), Value::Object(body_of(r.get::<_, &str>(1))?))))
            .collect()
    }

    /// An entity's usage, newest day first, up to `days` days back from `until`.
    pub async fn usage(
        &self,
        id: &str,
        until: Option<&str>,
        days: i32,
    ) -> Result<Vec<UsageDay>, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        let rows = c
            .query(
                "SELECT day::text, count, percentile, weekly_percentile, monthly_percentile FROM pgmeta_catalog.usage_daily WHERE entity_id = $1 AND day <= coalesce($2::text::date, 'infinity'::date) AND day > coalesce($2::text::date, current_date) - $3::int ORDER BY day DESC",
                &[&id, &until, &days],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| UsageDay {
                day: r.get(0),
                count: r.get(1),
                percentile: r.get(2),
                weekly_percentile: r.get(3),
                monthly_percentile: r.get(4),
            })
            .collect())
    }

    /// Sets the percentile ranks (0-100) of each entity of `collection` with usage on `day`,
    /// among those entities: by the day's count, and by the sums of the 7 and 30 days ending
    /// that day (OpenMetadata's `compute.percentile`). Returns how many were ranked.
    pub async fn compute_percentile(&self, collection: &str, day: &str) -> Result<u64, StoreError> {
        let conn = self.client().await?;
        let c = conn.db();
        c.execute(
            "UPDATE pgmeta_catalog.usage_daily u SET percentile = r.daily, \
               weekly_percentile = r.weekly, monthly_percentile = r.monthly FROM (\
               SELECT s.entity_id, \
                 100 * percent_rank() OVER (ORDER BY s.count) AS daily, \
                 100 * percent_rank() OVER (ORDER BY s.week) AS weekly, \
                 100 * percent_rank() OVER (ORDER BY s.month) AS monthly \
               FROM (SELECT d.entity_id, d.count, \
                   (SELECT sum(w.count) FROM pgmeta_catalog.usage_daily w WHERE w.entity_id = d.entity_id \
                    AND w.day > d.day - 7 AND w.day <= d.day) AS week, \
                   (SELECT sum(m.count) FROM pgmeta_catalog.usage_daily m WHERE m.entity_id = d.entity_id \
                    AND m.day > d.day - 30 AND m.day <= d.day) AS month \
                 FROM pgmeta_catalog.usage_daily d JOIN pgmeta_catalog.entity e ON e.id = d.entity_id \
                 WHERE e.collection = $1 AND d.day = $2::text::date) s) r \
             WHERE u.entity_id = r.entity_id AND u.day = $2::text::date",
            &[&collection, &day],
        )
        .await
        .map_err(|e| date_error(e, day))
    }
}

/// One day of an entity's usage, with the percentile ranks `compute.percentile` gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDay {
    pub day: String,
    pub count: i64,
    pub percentile: f64,
    pub weekly_percentile: f64,
    pub monthly_percentile: f64,
}

/// A date PostgreSQL refused is the client's error; anything else is the store's.
fn date_error(e: tokio_postgres::Error, day: &str) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_DATETIME_FORMAT)
        || e.code() == Some(&tokio_postgres::error::SqlState::DATETIME_FIELD_OVERFLOW)
    {
        StoreError::Invalid(Invalid(format!("date {day:?} is not a YYYY-MM-DD date")))
    } else {
        StoreError::Pg(e)
    }
}
