//! Logging: `tracing` to standard error (standard output belongs to `--output jsonl`), human or
//! JSON, level from `--log-level` or `RUST_LOG`.

use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

pub fn init(format: LogFormat, level: Option<&str>) {
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second init (tests calling into the library) keeps the first subscriber.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

mod health;
mod http;
mod metrics;

pub use health::{Readiness, broker_reachable};
pub use http::{health_routes, serve, serve_with};
pub use metrics::{Metrics, metrics, render};
