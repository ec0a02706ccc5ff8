//! `pgmeta-capture`: config, telemetry and signals first, then the runtime and the capture.

use clap::{Parser, Subcommand};
use pgmeta::capture::Capture;
use pgmeta::cli::LogArgs;
use pgmeta::config::{CaptureConfig, OutputKind, Secret, parse_duration};
use pgmeta::pg::PgTarget;
use pgmeta::sink::{AnySink, JsonlSink, KafkaSink};
use pgmeta::telemetry;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "pgmeta-capture",
    version,
    about = "Capture PostgreSQL catalog changes as Avro events on Kafka"
)]
struct Cli {
    /// TOML configuration file (see deploy/pgmeta-capture.example.toml).
    #[arg(short, long, global = true, env = "PGMETA_CONFIG")]
    config: Option<PathBuf>,
    /// PostgreSQL connection URL or key=value string; libpq's PG* variables fill the gaps.
    #[arg(long, global = true, env = "PGMETA_SOURCE_URL", hide_env_values = true)]
    url: Option<String>,
    /// Service name: the first part of every FQN.
    #[arg(long, global = true, env = "PGMETA_SERVICE_NAME")]
    service_name: Option<String>,
    /// Capture every database that accepts connections.
    #[arg(long, global = true)]
    ingest_all_databases: bool,
    #[arg(long, global = true, value_enum, env = "PGMETA_OUTPUT")]
    output: Option<OutputKind>,
    /// jsonl output file (default: standard output).
    #[arg(long, global = true, env = "PGMETA_OUTPUT_PATH")]
    output_path: Option<PathBuf>,
    /// Kafka bootstrap servers.
    #[arg(long, global = true, env = "PGMETA_KAFKA_BROKERS")]
    brokers: Option<String>,
    /// Metadata topic name.
    #[arg(long, global = true, env = "PGMETA_METADATA_TOPIC")]
    topic: Option<String>,
    /// How long to wait for unreachable brokers at start, e.g. 60s.
    #[arg(long, global = true, value_parser = parse_duration)]
    kafka_startup_timeout: Option<Duration>,
    /// Directory of the state files.
    #[arg(long, global = true, env = "PGMETA_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Serve /metrics and /healthz on this address, e.g. 127.0.0.1:9187.
    #[arg(long, global = true, env = "PGMETA_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Poll the catalog and emit changes until SIGTERM/SIGINT.
    Run {
        /// Time between catalog polls, e.g. 30s.
        #[arg(long, value_parser = parse_duration, env = "PGMETA_POLL_INTERVAL")]
        poll_interval: Option<Duration>,
        /// Capture DDL through a logical replication slot (see `install`).
        #[arg(long, env = "PGMETA_REPLICATION_ENABLED")]
        replication: bool,
    },
    /// Check what pgmeta can use on this server, with the fix for each failure; exits 1 when a
    /// capability capture needs is missing.
    Check,
    /// Install the DDL event trigger and publication that replication capture needs (superuser).
    Install,
    /// Remove the trigger, its schema, the publication and this capture's replication slot.
    Uninstall,
    /// Print the lineage of SQL statements (`;`-separated), one JSON line per statement.
    Lineage {
        /// Resolve names, `*` and INSERT column order through this database's catalog
        /// (connection URL); without it names are shown as written, and an INSERT without a
        /// column list maps by output name (listed in `assumed_columns`).
        #[arg(long, hide_env_values = true, conflicts_with = "schema")]
        catalog_from: Option<String>,
        /// Take the catalog from a file of CREATE TABLE statements instead of a database.
        #[arg(long)]
        schema: Option<PathBuf>,
        /// SQL file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Classify what a migration (DDL statements) would change, with what each change
    /// reaches, before it runs: the migration runs in a transaction that is rolled back.
    /// Prints one JSON line per change (the schema-changes topic's records) and a summary on
    /// standard error; exits 1 when a BREAKING change reaches a downstream object, 2 when the
    /// check cannot run.
    Impact {
        /// Run the migration against this database (connection URL) instead of the
        /// configured source, e.g. a staging copy.
        #[arg(long, hide_env_values = true)]
        catalog_from: Option<String>,
        /// Take the lineage from this metadata server's API (pgmeta-catalog or OpenMetadata,
        /// e.g. http://catalog:8585/api) instead of the database; its token from
        /// PGMETA_LINEAGE_TOKEN.
        #[arg(long)]
        lineage_from: Option<String>,
        /// SQL file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Emit the catalog's state (the first time in full, then what changed).
    Snapshot {
        /// Exit after one pass instead of polling on.
        #[arg(long)]
        once: bool,
        /// Re-emit every entity as SNAPSHOT, even those already emitted and unchanged.
        #[arg(long)]
        full: bool,
    },
}

/// See `pgmeta::memory`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Tests inject faults through the FAILPOINTS variable; compiled out of release builds.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    cli.log.init();
    if let Command::Lineage {
        catalog_from,
        schema,
        file,
    } = &cli.command
    {
        return lineage(catalog_from.as_deref(), schema.as_deref(), file.as_deref());
    }
    let mut config = match load_config(&cli) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Command::Impact {
        catalog_from: Some(url),
        ..
    } = &cli.command
    {
        config.source = pgmeta::config::SourceConfig {
            url: Some(pgmeta::config::Secret::new(url.clone())),
            ..Default::default()
        };
    }
    let target = match PgTarget::resolve(&config.source, &|k| std::env::var(k).ok()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Impact {
        file, lineage_from, ..
    } = &cli.command
    {
        return impact(&config, &target, file.as_deref(), lineage_from.as_deref());
    }
    pgmeta::cli::run("pgmeta-capture", run(cli.command, config, target))
}

/// `pgmeta-capture impact`: JSON lines on standard output, a summary on standard error.
fn impact(
    config: &CaptureConfig,
    target: &PgTarget,
    file: Option<&std::path::Path>,
    lineage_from: Option<&str>,
) -> ExitCode {
    let server = match lineage_from {
        None => None,
        Some(url) => {
            let token = std::env::var("PGMETA_LINEAGE_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(|t| pgmeta::config::Secret::new(t.trim().to_owned()));
            match pgmeta::apply::HttpMetadataClient::new(url, token, Duration::from_secs(30)) {
                Ok(c) => Some(c),
                Err(message) => {
                    eprintln!("error: --lineage-from: {message}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let sql = match file {
        Some(p) if p != std::path::Path::new("-") => {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        }
        _ => std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("cannot read standard input: {e}")),
    };
    let result = sql.and_then(|sql| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?
            .block_on(pgmeta::capture::migration_impact(
                config,
                target,
                &sql,
                server.as_ref(),
            ))
            .map_err(|e| e.to_string())
    });
    let changes = match result {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    for c in &changes {
        match serde_json::to_string(c) {
            Ok(line) => {
                if writeln!(out, "{line}").is_err() {
                    return ExitCode::from(2);
                }
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", c.object_fqn);
                return ExitCode::from(2);
            }
        }
    }
    use pgmeta::event::ChangeClass;
    let count = |class: ChangeClass| changes.iter().filter(|c| c.change_class == class).count();
    let reaching: Vec<_> = changes
        .iter()
        .filter(|c| c.change_class == ChangeClass::Breaking && !c.impact.is_empty())
        .collect();
    eprintln!(
        "{} changes: {} BREAKING ({} reaching downstream objects), {} POTENTIALLY_BREAKING, {} NON_BREAKING",
        changes.len(),
        count(ChangeClass::Breaking),
        reaching.len(),
        count(ChangeClass::PotentiallyBreaking),
        count(ChangeClass::NonBreaking)
    );
    for c in &changes {
        eprintln!(
            "  {:<20} {:<28} {}",
            c.change_class.as_str(),
            c.rule,
            c.object_fqn
        );
        for i in &c.impact {
            let columns = if i.columns.is_empty() {
                String::new()
            } else {
                format!(" ({})", i.columns.join(", "))
            };
            eprintln!("      reaches {:?} {}{columns}", i.origin, i.fqn);
        }
    }
    if reaching.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn load_config(cli: &Cli) -> Result<CaptureConfig, String> {
    let mut config = match &cli.config {
        Some(path) => CaptureConfig::load(path).map_err(|e| e.to_string())?,
        None => CaptureConfig::default(),
    };
    if let Some(url) = &cli.url {
        config.source.url = Some(Secret::new(url.clone()));
    }
    if let Some(s) = &cli.service_name {
        config.service_name = s.clone();
    }
    if cli.ingest_all_databases {
        config.source.ingest_all_databases = true;
    }
    if let Some(o) = cli.output {
        config.output.kind = o;
    }
    if let Some(p) = &cli.output_path {
        config.output.path = Some(p.clone());
    }
    if let Some(b) = &cli.brokers {
        config.kafka.brokers = b.clone();
    }
    if let Some(t) = &cli.topic {
        config.kafka.metadata_topic = t.clone();
    }
    if let Some(t) = cli.kafka_startup_timeout {
        config.kafka.startup_timeout = t;
    }
    if let Some(l) = cli.metrics_listen {
        config.telemetry.listen = Some(l);
    }
    if let Some(d) = &cli.state_dir {
        config.state.dir = d.clone();
    }
    if let Command::Run {
        poll_interval,
        replication,
    } = cli.command
    {
        if let Some(i) = poll_interval {
            config.poll.interval = i;
        }
        if replication {
            config.replication.enabled = true;
        }
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

async fn run(command: Command, mut config: CaptureConfig, target: PgTarget) -> Result<(), String> {
    use pgmeta::pg::ddl_trigger;
    match command {
        Command::Check => {
            let report = pgmeta::pg::check::check(&target).await;
            print!("{report}");
            return if report.ok() {
                Ok(())
            } else {
                Err("a capability capture needs is missing (see above)".into())
            };
        }
        Command::Install => {
            let client = target.connect().await.map_err(|e| e.to_string())?;
            ddl_trigger::install(&client, &target.to_string())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(database = %target.dbname(), "DDL trigger and publication installed");
            return Ok(());
        }
        Command::Uninstall => {
            let client = target.connect().await.map_err(|e| e.to_string())?;
            let slot = config
                .replication
                .slot_name(&config.service_name, target.dbname());
            ddl_trigger::uninstall(&client, &target.to_string(), Some(&slot))
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(database = %target.dbname(), slot = %slot, "DDL trigger, publication and slot removed");
            return Ok(());
        }
        _ => {}
    }
    let (trigger, shutdown) = pgmeta::shutdown::channel();
    trigger
        .on_signals()
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    if let Some(listen) = config.telemetry.listen {
        let ready = telemetry::Readiness::default();
        telemetry::serve(listen, shutdown.clone(), ready.clone()).await?;
        spawn_readiness_probe(&ready, &config, &target, shutdown.clone());
    }
    if config.kafka.transactional_id.is_none() {
        let database = if config.source.ingest_all_databases {
            "all"
        } else {
            target.dbname()
        };
        config.kafka.transactional_id =
            Some(format!("pgmeta-capture.{}.{database}", config.service_name));
    }
    let mut stopped = shutdown.clone();
    let sink = match config.output.kind {
        // Waiting for the brokers (up to `kafka.startup_timeout`) gives way to SIGTERM: a
        // service manager stopping a capture that never reached Kafka gets a prompt exit.
        OutputKind::Kafka => tokio::select! {
            sink = KafkaSink::connect(&config.kafka) => {
                AnySink::Kafka(Box::new(sink.map_err(|e| e.to_string())?))
            }
            () = stopped.wait() => {
                tracing::info!(brokers = %config.kafka.brokers, "shut down before Kafka was reached; nothing was read or sent");
                return Ok(());
            }
        },
        OutputKind::Jsonl => AnySink::Jsonl(JsonlSink::new(config.output.path.clone())),
    };
    let full = matches!(command, Command::Snapshot { full: true, .. });
    let mut capture = Capture::new(&config, target, sink, full)
        .map_err(|e| e.to_string())?
        .with_shutdown(shutdown.clone());
    tracing::info!(service = %config.service_name, interval = ?config.poll.interval, "capture starting");
    match command {
        Command::Snapshot { once: true, .. } => {
            let cycle = capture.poll_once().await;
            if let Some((database, error)) = cycle.errors.into_iter().next() {
                return Err(format!("database {database}: {error}"));
            }
            for r in cycle.reports {
                if r.stopped {
                    tracing::info!(database = %r.database, parts = r.parts, changes = r.changes, records = r.records, "snapshot stopped by the shutdown; the parts sent are saved and the next run sends the rest");
                } else {
                    tracing::info!(database = %r.database, changes = r.changes, records = r.records, "snapshot done");
                }
            }
            Ok(())
        }
        _ if config.replication.enabled => capture
            .run_replication(&config.replication, shutdown)
            .await
            .map_err(|e| e.to_string()),
        _ => capture.run(shutdown).await.map_err(|e| e.to_string()),
    }
}

/// `pgmeta-capture lineage`: needs no capture configuration, only SQL and optionally a
/// database to resolve names against.
fn lineage(
    catalog_from: Option<&str>,
    schema: Option<&std::path::Path>,
    file: Option<&std::path::Path>,
) -> ExitCode {
    use std::io::{Read, Write};
    let mut sql = String::new();
    let read = match file {
        Some(p) if p != std::path::Path::new("-") => std::fs::read_to_string(p)
            .map(|s| sql = s)
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
        _ => std::io::stdin()
            .read_to_string(&mut sql)
            .map(|_| ())
            .map_err(|e| format!("cannot read standard input: {e}")),
    };
    if let Err(message) = read {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let resolver = match (catalog_from, schema) {
        (None, Some(path)) => {
            let ddl = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|ddl| pgmeta::lineage::schema_file::resolver_from_ddl(&ddl));
            match ddl {
                Ok(r) => r,
                Err(message) => {
                    eprintln!("error: --schema {}: {message}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        (None, None) => pgmeta::lineage::Resolver::without_catalog(),
        (Some(conn), _) => match catalog_resolver(conn) {
            Ok(r) => r,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut out = std::io::stdout().lock();
    for report in pgmeta::lineage::report::report_script(&sql, &resolver) {
        let line = match serde_json::to_string(&report) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn catalog_resolver(conn: &str) -> Result<pgmeta::lineage::Resolver, String> {
    let mut source = CaptureConfig::default().source;
    source.url = Some(Secret::new(conn.to_owned()));
    let target =
        PgTarget::resolve(&source, &|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let mut client = target.connect().await.map_err(|e| e.to_string())?;
        pgmeta::pg::catalog::read_resolver(&mut client, &target.to_string())
            .await
            .map_err(|e| e.to_string())
    })
}

/// `/readyz`: PostgreSQL answers, the broker answers (when writing to Kafka), and a catalog read
/// succeeded within three poll intervals (at least a minute).
fn spawn_readiness_probe(
    ready: &telemetry::Readiness,
    config: &CaptureConfig,
    target: &PgTarget,
    shutdown: pgmeta::shutdown::Shutdown,
) {
    let target = target.clone();
    let kafka = matches!(config.output.kind, OutputKind::Kafka).then(|| {
        let options: Vec<(String, String)> = config
            .kafka
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_owned()))
            .collect();
        (config.kafka.brokers.clone(), options)
    });
    let stall = (config.poll.interval * 3).max(Duration::from_secs(60));
    let client = std::sync::Arc::new(tokio::sync::Mutex::new(None::<tokio_postgres::Client>));
    ready.spawn_prober(Duration::from_secs(5), shutdown, move || {
        let (target, kafka, client) = (target.clone(), kafka.clone(), client.clone());
        async move {
            let mut held = client.lock().await;
            if held.as_ref().is_none_or(|c| c.is_closed()) {
                *held = Some(
                    target
                        .connect()
                        .await
                        .map_err(|e| format!("PostgreSQL {target}: {e}"))?,
                );
            }
            if let Some(c) = held.as_ref() {
                c.simple_query("SELECT 1")
                    .await
                    .map_err(|e| format!("PostgreSQL {target}: {e}"))?;
            }
            if let Some((brokers, options)) = kafka {
                telemetry::broker_reachable(brokers, options).await?;
            }
            let last = pgmeta::telemetry::metrics().last_success.get();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            if last == 0.0 {
                return Err("no catalog read has finished yet".into());
            }
            if now - last > stall.as_secs_f64() {
                return Err(format!(
                    "no successful catalog read for {:.0} s",
                    now - last
                ));
            }
            Ok(())
        }
    });
}
