//! The capture pipeline: one catalog poll source per database, one sink, one checkpoint store,
//! and the loop that runs them until shutdown.

use crate::checkpoint::CheckpointStore;
use crate::config::ProtectedObject;
use crate::config::{CaptureConfig, ConfigError};
use crate::diff::DiffOptions;
use crate::pg::catalog::{CatalogScope, list_databases};
use crate::pg::{ErrorClass, PgTarget};
use crate::shutdown::Shutdown;
use crate::sink::Sink;
use crate::source::{
    CATALOG_LINEAGE_PART, CatalogPollSource, PollReport, QUERY_LINEAGE_PART, USAGE_PART,
    UsageReport, UsageSource,
};
pub use crate::source::{CaptureError, Cause};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct Capture<S> {
    sink: S,
    store: CheckpointStore,
    root: PgTarget,
    scope: Arc<CatalogScope>,
    ingest_all_databases: bool,
    diff_options: DiffOptions,
    interval: Duration,
    sources: Vec<CatalogPollSource>,
    usage: Option<Duration>,
    lineage: bool,
    /// `schema_changes.protected`, parsed.
    protected: Arc<Vec<ProtectedObject>>,
    usage_sources: Vec<UsageSource>,
    /// Handed to each catalog source: stops a full read in parts between two parts.
    shutdown: Option<Shutdown>,
}

/// The outcome of one pass over every database.
#[derive(Debug, Default)]
pub struct Cycle {
    pub reports: Vec<PollReport>,
    pub errors: Vec<(String, CaptureError)>,
}

/// What the configuration says to read of a catalog.
fn catalog_scope(config: &CaptureConfig) -> Result<CatalogScope, CaptureError> {
    let f = &config.filters;
    Ok(CatalogScope {
        service: config.service_name.clone(),
        filters: f.name_filters().map_err(ConfigError::from)?,
        use_fqn_for_filtering: f.use_fqn_for_filtering,
        include_tables: f.include_tables,
        include_views: f.include_views,
        include_stored_procedures: f.include_stored_procedures,
        include_ddl: f.include_ddl,
        statement_timeout: config.source.statement_timeout,
        part_relations: config.source.read_part_relations,
    })
}

/// `schema_changes.protected`, parsed (the configuration validated them).
fn protected(config: &CaptureConfig) -> Result<Vec<ProtectedObject>, CaptureError> {
    config
        .schema_changes
        .protected
        .iter()
        .map(|p| {
            ProtectedObject::parse(p).map_err(|reason| {
                ConfigError::Invalid {
                    key: "schema_changes.protected".into(),
                    reason,
                }
                .into()
            })
        })
        .collect()
}

/// `pgmeta-capture impact`: the schema changes `migration` would make on `target`, with what
/// each reaches: through view and routine lineage and the query-log lineage the capture
/// configured by `config` has sent (its state directory; none when it has not run), or
/// through the lineage of the metadata server `lineage_from`.
pub async fn migration_impact(
    config: &CaptureConfig,
    target: &PgTarget,
    migration: &str,
    lineage_from: Option<&crate::apply::HttpMetadataClient>,
) -> Result<Vec<crate::event::SchemaChangeEvent>, CaptureError> {
    use crate::source::migration::{Lineage, plan};
    config.validate()?;
    let scope = catalog_scope(config)?;
    let protected = protected(config)?;
    let planned = plan(
        target,
        &scope,
        config.filters.mark_deleted_tables,
        migration,
    )
    .await?;
    if let Some(server) = lineage_from {
        let edges = crate::apply::downstream_edges(server, &planned.entities())
            .await
            .map_err(|e| CaptureError::LineageServer(e.to_string()))?;
        return Ok(planned.events(Lineage::Server(&edges), &protected));
    }
    let query: crate::lineage::edges::LineageState = if config.state.dir.exists() {
        CheckpointStore::open(&config.state.dir)?.load_part(
            &config.service_name,
            target.dbname(),
            QUERY_LINEAGE_PART,
        )?
    } else {
        Default::default()
    };
    Ok(planned.events(Lineage::Database { query: &query }, &protected))
}

impl<S: Sink> Capture<S> {
    /// `full` re-emits every entity as SNAPSHOT on the first poll, whatever the state says.
    pub fn new(
        config: &CaptureConfig,
        root: PgTarget,
        sink: S,
        full: bool,
    ) -> Result<Self, CaptureError> {
        config.validate()?;
        let f = &config.filters;
        let scope = Arc::new(catalog_scope(config)?);
        Ok(Capture {
            sink,
            store: CheckpointStore::open(&config.state.dir)?,
            root,
            scope,
            ingest_all_databases: config.source.ingest_all_databases,
            diff_options: DiffOptions {
                mark_deleted_tables: f.mark_deleted_tables,
                full,
            },
            interval: config.poll.interval,
            sources: Vec::new(),
            usage: config.usage.enabled.then_some(config.usage.interval),
            lineage: config.lineage.enabled,
            usage_sources: Vec::new(),
            protected: Arc::new(protected(config)?),
            shutdown: None,
        })
    }

    /// A full read in parts stops between two parts once `shutdown` is triggered (each part
    /// sent is saved; the next read reads the rest), rather than after the whole catalog.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Adds a source for every database in scope that has none yet.
    async fn discover(&mut self) -> Result<(), CaptureError> {
        let names = if self.ingest_all_databases {
            let client = self.root.connect().await?;
            list_databases(
                &client,
                &self.root.to_string(),
                &self.scope.service,
                &self.scope,
            )
            .await?
        } else {
            vec![self.root.dbname().to_owned()]
        };
        for name in names {
            if self.sources.iter().any(|s| s.database() == name) {
                continue;
            }
            let service = self.scope.service.clone();
            let target = self.root.with_dbname(&name);
            let lineage = if self.lineage {
                Some(
                    self.store
                        .blocking(load_part(
                            service.clone(),
                            name.clone(),
                            CATALOG_LINEAGE_PART,
                        ))
                        .await?,
                )
            } else {
                None
            };
            self.sources.push(
                CatalogPollSource::new(
                    target.clone(),
                    self.scope.clone(),
                    self.diff_options,
                    lineage,
                    self.protected.clone(),
                )
                .with_shutdown(self.shutdown.clone()),
            );
            if self.usage.is_some() {
                let query_lineage = if self.lineage {
                    Some(
                        self.store
                            .blocking(load_part(service.clone(), name.clone(), QUERY_LINEAGE_PART))
                            .await?,
                    )
                } else {
                    None
                };
                let usage = self
                    .store
                    .blocking(load_part(service.clone(), name.clone(), USAGE_PART))
                    .await?;
                self.usage_sources.push(UsageSource::new(
                    target,
                    self.scope.clone(),
                    usage,
                    query_lineage,
                ));
            }
        }
        Ok(())
    }

    /// Reads pg_stat_statements of every database once and sends the bucket since the last
    /// read. A failing database does not stop the others.
    pub async fn poll_usage_once(&mut self) -> Vec<(String, Result<UsageReport, CaptureError>)> {
        if let Err(e) = self.discover().await {
            return vec![(self.root.dbname().to_owned(), Err(e))];
        }
        let mut out = Vec::new();
        for source in &mut self.usage_sources {
            let result = source.poll(&mut self.sink, &self.store).await;
            out.push((source.database().to_owned(), result));
        }
        out
    }

    /// Polls every database once. A failing database does not stop the others.
    pub async fn poll_once(&mut self) -> Cycle {
        let mut cycle = Cycle::default();
        if let Err(e) = self.discover().await {
            cycle.errors.push((self.root.dbname().to_owned(), e));
            if self.sources.is_empty() {
                return cycle;
            }
        }
        for source in &mut self.sources {
            match source.poll(&mut self.sink, &self.store).await {
                Ok(report) => cycle.reports.push(report),
                Err(e) => cycle.errors.push((source.database().to_owned(), e)),
            }
        }
        cycle
    }

    /// Reads what DDL that `touched` describes can have changed in the configured database
    /// (a targeted read, or the full one when it cannot be narrowed) and sends the changes: what
    /// the replication listener does for each DDL transaction, for one call.
    pub async fn read_touched_once(&mut self, touched: &crate::pg::touched::Touched) -> Cycle {
        let mut cycle = Cycle::default();
        if let Err(e) = self.discover().await {
            cycle.errors.push((self.root.dbname().to_owned(), e));
        }
        let database = self.root.dbname().to_owned();
        for source in self.sources.iter_mut().filter(|s| s.database() == database) {
            let mode = crate::event::CaptureMode::Replication;
            match source
                .read_and_emit_touched(&mut self.sink, &self.store, mode, Some(touched))
                .await
            {
                Ok(report) => cycle.reports.push(report),
                Err(e) => cycle.errors.push((database.clone(), e)),
            }
        }
        cycle
    }

    /// Captures the one configured database through its replication slot until shutdown (see
    /// `source::replication`). Without the DDL trigger or the REPLICATION privilege it says
    /// exactly what is missing and polls instead.
    pub async fn run_replication(
        mut self,
        config: &crate::config::ReplicationConfig,
        shutdown: Shutdown,
    ) -> Result<(), CaptureError> {
        self.discover().await?;
        let database = self.root.dbname().to_owned();
        let slot = config.slot_name(&self.scope.service, &database);
        if config.install {
            let client = self.root.connect().await?;
            match crate::pg::ddl_trigger::install(&client, &self.root.to_string()).await {
                Ok(()) => tracing::info!(database = %database, "DDL trigger installed"),
                Err(crate::pg::ddl_trigger::InstallError::NotSuperuser) => {
                    tracing::warn!(database = %database, reason = %crate::pg::ddl_trigger::InstallError::NotSuperuser, "replication unavailable, capturing by polling");
                    return self.run(shutdown).await;
                }
                Err(crate::pg::ddl_trigger::InstallError::Pg(e)) => return Err(e.into()),
            }
        }
        match crate::source::ReplicationSource::prepare(&self.root, &slot).await {
            Ok(()) => {}
            Err(CaptureError::Replication(e)) if e.is_missing_setup() => {
                tracing::warn!(database = %database, reason = %e, "replication unavailable, capturing by polling");
                return self.run(shutdown).await;
            }
            Err(e) => return Err(e),
        }
        let Some(source) = self.sources.pop() else {
            return Err(ConfigError::Invalid {
                key: "source.database".into(),
                reason: "no database to capture".into(),
            }
            .into());
        };
        let usage = self
            .usage
            .and_then(|interval| self.usage_sources.pop().map(|u| (u, interval)));
        crate::source::ReplicationSource::new(source, self.root.clone(), slot, config)
            .with_usage(usage)
            .run(&mut self.sink, &self.store, shutdown)
            .await
    }

    /// Polls until shutdown. Transient errors are logged and retried next interval; a fatal
    /// error (bad password, missing database, unwritable state) ends the run.
    pub async fn run(&mut self, mut shutdown: Shutdown) -> Result<(), CaptureError> {
        let mut catalog_tick = tokio::time::interval(self.interval);
        catalog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let usage_interval = self.usage.unwrap_or(Duration::from_secs(3600));
        let mut usage_tick = tokio::time::interval(usage_interval);
        usage_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !shutdown.is_triggered() {
            tokio::select! {
                _ = catalog_tick.tick() => {
                    let cycle = self.poll_once().await;
                    for (database, error) in cycle.errors {
                        if error.class() == ErrorClass::Fatal {
                            return Err(error);
                        }
                        let cause = error.cause();
                        tracing::warn!(database = %database, error = %error, error.system = cause.system, error.code = %cause.code, retry_in = ?self.interval, "catalog poll failed");
                    }
                }
                _ = usage_tick.tick(), if self.usage.is_some() => {
                    for (database, result) in self.poll_usage_once().await {
                        if let Err(error) = result {
                            if matches!(error, CaptureError::Checkpoint(_)) {
                                return Err(error);
                            }
                            let cause = error.cause();
                            tracing::warn!(database = %database, error = %error, error.system = cause.system, error.code = %cause.code, retry_in = ?usage_interval, "usage poll failed");
                        }
                    }
                }
                _ = shutdown.wait() => {}
            }
        }
        tracing::info!("capture stopped");
        Ok(())
    }
}

/// Reads one state part of a database (on the store's blocking thread).
fn load_part<T: serde::de::DeserializeOwned + Default + Send + 'static>(
    service: String,
    database: String,
    part: &'static str,
) -> impl FnOnce(&CheckpointStore) -> Result<T, crate::checkpoint::CheckpointError> + Send + 'static
{
    move |s| s.load_part(&service, &database, part)
}
