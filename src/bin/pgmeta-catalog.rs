//! `pgmeta-catalog`: a metadata server with OpenMetadata's REST API subset, persisting in
//! PostgreSQL. Flags or `PGMETA_CATALOG_*` variables; the token from a variable or a file.

use clap::Parser;
use pgmeta::catalog::{AppState, Store};
use pgmeta::cli::LogArgs;
use pgmeta::config::{CaptureConfig, Secret};
use pgmeta::pg::PgTarget;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Base URL clients reach the server at, for the entities' `href` (default: http://<listen>).
    #[arg(long, env = "PGMETA_CATALOG_PUBLIC_URL")]
    public_url: Option<String>,
    /// Bearer token every API call must carry (unset: no authentication).
    #[arg(
        long,
        env = "PGMETA_CATALOG_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// File holding the bearer token.
    #[arg(long, env = "PGMETA_CATALOG_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Connections to the catalog's database.
    #[arg(long, default_value_t = 8)]
    pool_size: usize,
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
    let token = match pgmeta::cli::token(cli.token.as_deref(), cli.token_file.as_deref()) {
        Ok(t) => t,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
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
    let (trigger, mut shutdown) = pgmeta::shutdown::channel();
    trigger
        .on_signals()
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    let store = Store::open(target.clone(), cli.pool_size)
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
    let app = pgmeta::catalog::app(AppState {
        store,
        public_url,
        token,
    });
    tracing::info!(listen = %cli.listen, database = %target, "pgmeta-catalog serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .map_err(|e| format!("server stopped: {e}"))?;
    tracing::info!("pgmeta-catalog stopped");
    Ok(())
}
