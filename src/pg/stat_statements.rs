//! Reading `pg_stat_statements` (and `pg_stat_statements_info` where it exists).
//!
//! The view has no timestamps and cumulative counters; this module only reads it, with the
//! server's clock, for the usage poller to turn into per-interval deltas. It adapts to the
//! extension's version: `total_exec_time` (1.8+, PostgreSQL 13) or `total_time`, `toplevel`
//! (1.9+, PostgreSQL 14), and `pg_stat_statements_info` (1.9+) for resets and evictions.

use super::PgError;
use crate::model::quote_ident;
use tokio_postgres::Client;

pub use crate::usage::{Entry, Reading};

#[derive(Debug, thiserror::Error)]
pub enum StatStatementsError {
    #[error(
        "pg_stat_statements is not installed in database {database} (as a superuser: CREATE EXTENSION pg_stat_statements; the server needs shared_preload_libraries = 'pg_stat_statements')"
    )]
    NotInstalled { database: String },
    #[error(transparent)]
    Pg(#[from] PgError),
}

impl StatStatementsError {
    /// Whether usage cannot work until someone changes the server (as opposed to a transient
    /// failure worth retrying at the next interval).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StatStatementsError::NotInstalled { .. } => true,
            StatStatementsError::Pg(e) => e.to_string().contains("permission denied"),
        }
    }
}

/// Where the extension lives and what its view has (read once per connection).
#[derive(Debug, Clone)]
pub struct Layout {
    view: String,
    info: Option<String>,
    total_time: &'static str,
    toplevel: bool,
}

async fn layout(client: &Client, target: &str) -> Result<Layout, StatStatementsError> {
    let err = |e: tokio_postgres::Error| PgError::query("pg_stat_statements layout", target, &e);
    let row = client
        .query_opt(
            "SELECT n.nspname::text, current_database()::text,
                    pg_catalog.to_regclass(pg_catalog.quote_ident(n.nspname) || '.pg_stat_statements_info') IS NOT NULL
             FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .map_err(err)?;
    let Some(row) = row else {
        let database: String = client
            .query_one("SELECT current_database()::text", &[])
            .await
            .map_err(err)?
            .get(0);
        return Err(StatStatementsError::NotInstalled { database });
    };
    let schema: String = row.get(0);
    let has_info: bool = row.get(2);
    let view = format!("{}.pg_stat_statements", quote_ident(&schema));
    let columns: Vec<String> = client
        .query(
            "SELECT attname::text FROM pg_catalog.pg_attribute
             WHERE attrelid = pg_catalog.to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            &[&view],
        )
        .await
        .map_err(err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let has = |c: &str| columns.iter().any(|x| x == c);
    Ok(Layout {
        info: has_info.then(|| format!("{}.pg_stat_statements_info", quote_ident(&schema))),
        total_time: if has("total_exec_time") {
            "total_exec_time"
        } else {
            "total_time"
        },
        toplevel: has("toplevel"),
        view,
    })
}

/// Reads the statements of the connected database. `layout` caches where the view is and
/// which columns it has; pass `None` after (re)connecting.
pub async fn read(
    client: &Client,
    target: &str,
    cached: &mut Option<Layout>,
) -> Result<Reading, StatStatementsError> {
    let layout = match cached {
        Some(l) => l.clone(),
        None => {
            let l = layout(client, target).await?;
            *cached = Some(l.clone());
            l
        }
    };
    let err = |e: tokio_postgres::Error| PgError::query("pg_stat_statements", target, &e);
    let read_at: i64 = client
        .query_one(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8",
            &[],
        )
        .await
        .map_err(err)?
        .get(0);
    let (stats_reset, dealloc) = match &layout.info {
        Some(info) => {
            let row = client
                .query_one(
                    &format!(
                        "SELECT (extract(epoch FROM stats_reset) * 1000)::int8, dealloc FROM {info}"
                    ),
                    &[],
                )
                .await
                .map_err(err)?;
            (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
        }
        None => (None, None),
    };
    let toplevel = if layout.toplevel {
        "s.toplevel"
    } else {
        "true"
    };
    let sql = format!(
        "SELECT s.userid::oid, coalesce(r.rolname::text, s.userid::oid::text), s.queryid,
                {toplevel}, s.query, s.calls, s.{total}, s.rows
         FROM {view} s LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid
         WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
         ORDER BY 1, 3, 4",
        total = layout.total_time,
        view = layout.view,
    );
    let mut entries = Vec::new();
    let mut hidden = 0;
    for row in client.query(&sql, &[]).await.map_err(err)? {
        let queryid: Option<i64> = row.try_get(2).map_err(err)?;
        let query: Option<String> = row.try_get(4).map_err(err)?;
        let (Some(queryid), Some(query)) = (queryid, query) else {
            hidden += 1;
            continue;
        };
        if query == "<insufficient privilege>" {
            hidden += 1;
            continue;
        }
        entries.push(Entry {
            userid: row.try_get(0).map_err(err)?,
            role: row.try_get(1).map_err(err)?,
            queryid,
            toplevel: row.try_get(3).map_err(err)?,
            query,
            calls: row.try_get(5).map_err(err)?,
            total_time_ms: row.try_get(6).map_err(err)?,
            rows: row.try_get(7).map_err(err)?,
        });
    }
    Ok(Reading::new(read_at, stats_reset, dealloc, entries, hidden))
}
