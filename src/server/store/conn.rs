//! Pooled connections to the catalog's database, each with its prepared statements.

use crate::pg::PgTarget;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Statement};

/// Opens the pool's connections, each with the pool's statement and lock timeouts.
#[derive(Debug)]
pub(super) struct Connector {
    pub(super) target: PgTarget,
    pub(super) limits: super::PoolLimits,
}

/// A pooled connection with its prepared statements: each query is prepared once per
/// connection, then runs in one round trip instead of two.
#[derive(Debug)]
pub(super) struct PgConn {
    pub(super) client: tokio_postgres::Client,
    pub(super) cache: StatementCache,
}

#[derive(Debug, Default)]
pub(super) struct StatementCache(std::sync::Mutex<HashMap<String, Statement>>);

/// A client or transaction with the statement cache of its connection.
pub(super) struct Db<'a, C> {
    pub(super) c: &'a C,
    pub(super) cache: &'a StatementCache,
}

impl<C: GenericClient> Db<'_, C> {
    async fn statement(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.cache.0.lock().ok().and_then(|m| m.get(sql).cloned()) {
            return Ok(s);
        }
        let s = self.c.prepare(sql).await?;
        if let Ok(mut m) = self.cache.0.lock() {
            m.insert(sql.to_owned(), s.clone());
        }
        Ok(s)
    }

    pub(super) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.query(&s, params).await
    }

    pub(super) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.query_opt(&s, params).await
    }

    pub(super) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.query_one(&s, params).await
    }

    pub(super) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.c.execute(&s, params).await
    }
}

impl PgConn {
    pub(super) fn db(&self) -> Db<'_, tokio_postgres::Client> {
        Db {
            c: &self.client,
            cache: &self.cache,
        }
    }
}

impl deadpool::managed::Manager for Connector {
    type Type = PgConn;
    type Error = crate::pg::PgError;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let client = self.target.connect().await?;
        let ms = |d: std::time::Duration| d.as_millis().max(1);
        // A transaction left open by a dropped request (request timeout) holds its locks until
        // the server notices: idle_in_transaction_session_timeout bounds that too.
        let settings = format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; SET idle_in_transaction_session_timeout = {}",
            ms(self.limits.statement_timeout),
            ms(self.limits.lock_timeout),
            ms(self.limits.statement_timeout),
        );
        client.batch_execute(&settings).await.map_err(|e| {
            crate::pg::PgError::query(
                "SET statement_timeout, lock_timeout",
                &self.target.to_string(),
                &e,
            )
        })?;
        Ok(PgConn {
            client,
            cache: StatementCache::default(),
        })
    }

    async fn recycle(
        &self,
        client: &mut Self::Type,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Self::Error> {
        if client.client.is_closed() {
            return Err(deadpool::managed::RecycleError::message(
                "connection closed",
            ));
        }
        Ok(())
    }
}

pub(super) type Pool = deadpool::managed::Pool<Connector>;
