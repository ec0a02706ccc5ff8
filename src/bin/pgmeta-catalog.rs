//! `pgmeta-catalog`: a metadata server with OpenMetadata's REST API subset, persisting in
//! PostgreSQL. Flags or `PGMETA_CATALOG_*` variables; the token from the variable
//! `PGMETA_CATALOG_TOKEN` or a file, never a flag.

use clap::Parser;
use pgmeta::cli::LogArgs;
use pgmeta::config::{CaptureConfig, Secret, parse_duration};
use pgmeta::pg::PgTarget;
use pgmeta::server::{Access, AppState, ConnectionLimits, PoolLimits, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "pgmeta-catalog",
    version,
    about = "Metadata server with OpenMetadata's REST API subset"
)]
struct Cli {
    /// PostgreSQL database the catalog persists in (URL or key=value; PG* variables fill gaps).
    #[arg(long, env = "PGMETA_CATALOG_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Address to serve the API, /metrics, /healthz and /readyz on.
    #[arg(long, env = "PGMETA_CATALOG_LISTEN", default_value = "127.0.0.1:8585")]
    listen: SocketAddr,
    /// Base URL clients reach the server at, for the entities' `href` (default: `http://<listen>`).
    #[arg(long, env = "PGMETA_CATALOG_PUBLIC_URL")]
    public_url: Option<String>,
    /// File holding the bearer token every API call must carry; else the variable
    /// PGMETA_CATALOG_TOKEN. Neither: no authentication (loopback only, see below).
    #[arg(long, env = "PGMETA_CATALOG_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Serve without a token on an address other than loopback (anyone who reaches it can
    /// write the catalog).
    #[arg(long, env = "PGMETA_CATALOG_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// Connections to the catalog's database.
    #[arg(long, default_value_t = 8)]
    pool_size: usize,
    /// How long a request waits for a free database connection before a 503.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pool_timeout: Duration,
    /// statement_timeout of the catalog's database connections.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    statement_timeout: Duration,
    /// lock_timeout of the catalog's database connections (a write waiting on another's row).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    lock_timeout: Duration,
    /// A client must send a request's headers within this (also closes idle connections).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    header_read_timeout: Duration,
    /// A request not answered within this is answered 503.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// After SIGTERM, open connections get this long to finish.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Largest request body, in bytes (answered 413 past it); also how much a PATCH may grow
    /// an entity.
    #[arg(long, default_value_t = pgmeta::server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    #[command(flatten)]
    log: LogArgs,
}

/// See `pgmeta::memory`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    pgmeta::pg::tls::install_provider();
    let token = match pgmeta::cli::token("PGMETA_CATALOG_TOKEN", cli.token_file.as_deref()) {
        Ok(t) => t,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if token.is_none() && !cli.listen.ip().is_loopback() && !cli.insecure_no_auth {
        eprintln!(
            "error: --listen {}: without a token (PGMETA_CATALOG_TOKEN or --token-file) pgmeta-catalog serves only on loopback; pass --insecure-no-auth to serve {} without authentication",
            cli.listen,
            cli.listen.ip()
        );
        return ExitCode::from(2);
    }
    let mut source = CaptureConfig::default().source;
    source.url = cli.database_url.clone().map(Secret::new);
    let target = match PgTarget::resolve(&source, &|k| std::env::var(k).ok()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --database-url: {e}");
            return ExitCode::from(2);
        }
    };
    pgmeta::cli::run("pgmeta-catalog", serve(cli, target, token))
}

async fn serve(cli: Cli, target: PgTarget, token: Option<Secret>) -> Result<(), String> {
    let (trigger, shutdown) = pgmeta::shutdown::channel();
    trigger
        .on_signals()
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    let limits = PoolLimits {
        size: cli.pool_size,
        acquire_timeout: cli.pool_timeout,
        statement_timeout: cli.statement_timeout,
        lock_timeout: cli.lock_timeout,
    };
    let store = Store::open(target.clone(), limits)
        .await
        .map_err(|e| format!("{e} ({target})"))?;
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("--listen: cannot listen on {}: {e}", cli.listen))?;
    let public_url = cli
        .public_url
        .unwrap_or_else(|| format!("http://{}", cli.listen))
        .trim_end_matches('/')
        .to_owned();
    let app = pgmeta::server::app(AppState {
        store,
        access: Access::new(token.as_ref(), &public_url),
        public_url,
        max_body_bytes: cli.max_body_bytes,
        request_timeout: cli.request_timeout,
    });
    tracing::info!(listen = %cli.listen, database = %target, authentication = token.is_some(), "pgmeta-catalog serving");
    let connections = ConnectionLimits {
        header_read_timeout: cli.header_read_timeout,
        shutdown_timeout: cli.shutdown_timeout,
    };
    pgmeta::server::serve(listener, app, connections, shutdown).await;
    tracing::info!("pgmeta-catalog stopped");
    Ok(())
}
