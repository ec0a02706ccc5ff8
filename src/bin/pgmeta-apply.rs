//! `pgmeta-apply`: consumes pgmeta's topics and applies them to an OpenMetadata-compatible
//! server. Flags or `PGMETA_APPLY_*` variables; the token from a variable or a file.

use clap::Parser;
use pgmeta::apply::{
    Applier, ApplierConfig, ApplyConsumer, ConsumerConfig, HttpMetadataClient, Stream,
};
use pgmeta::cli::LogArgs;
use pgmeta::config::Secret;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "pgmeta-apply",
    version,
    about = "Apply pgmeta's Kafka topics to an OpenMetadata-compatible server"
)]
struct Cli {
    /// Kafka bootstrap servers.
    #[arg(long, env = "PGMETA_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Consumer group.
    #[arg(long, env = "PGMETA_APPLY_GROUP", default_value = "pgmeta-apply")]
    group: String,
    #[arg(long, env = "PGMETA_METADATA_TOPIC", default_value = "pgmeta.metadata")]
    metadata_topic: String,
    #[arg(long, env = "PGMETA_USAGE_TOPIC", default_value = "pgmeta.usage")]
    usage_topic: String,
    #[arg(long, env = "PGMETA_LINEAGE_TOPIC", default_value = "pgmeta.lineage")]
    lineage_topic: String,
    /// Where events the server rejects go, with the error in their headers.
    #[arg(
        long,
        env = "PGMETA_DEAD_LETTER_TOPIC",
        default_value = "pgmeta.dead-letter"
    )]
    dead_letter_topic: String,
    /// The server's API base, OpenMetadata's `hostPort` (e.g. http://openmetadata:8585/api).
    #[arg(
        long,
        env = "PGMETA_APPLY_SERVER_URL",
        default_value = "http://127.0.0.1:8585/api"
    )]
    server_url: String,
    /// File holding the bearer token (an OpenMetadata bot's JWT); else the variable
    /// PGMETA_APPLY_TOKEN. No flag takes the token itself: `ps` would show it.
    #[arg(long, env = "PGMETA_APPLY_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Delete entities outright on DELETE instead of soft-deleting them.
    #[arg(long, env = "PGMETA_APPLY_HARD_DELETE")]
    hard_delete: bool,
    /// Keep descriptions and owners curated in the catalog instead of the source's.
    #[arg(long, env = "PGMETA_APPLY_KEEP_CURATED")]
    keep_curated: bool,
    /// serviceType of database services created on demand.
    #[arg(long, default_value = "Postgres")]
    service_type: String,
    /// Events applied concurrently (one entity's events always in order).
    #[arg(long, default_value_t = 8)]
    lanes: usize,
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Seconds an event waits for an entity it refers to before it is dead-lettered.
    #[arg(long, default_value_t = 300)]
    missing_entity_timeout_secs: u64,
    /// Seconds per HTTP request.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Static group membership: a stable name per instance (e.g. the pod name), so a
    /// restarted instance gets its partitions back at once.
    #[arg(long, env = "PGMETA_APPLY_INSTANCE_ID")]
    instance_id: Option<String>,
    /// librdkafka setting for consumer and dead-letter producer, e.g. security.protocol=SSL (repeatable).
    #[arg(long = "kafka-option", value_parser = parse_option)]
    kafka_options: Vec<(String, String)>,
    /// A Schema Registry (Confluent REST API) to fetch the writer schemas of records in its
    /// framing from. Credentials come from PGMETA_SCHEMA_REGISTRY_USERNAME and
    /// PGMETA_SCHEMA_REGISTRY_PASSWORD, or PGMETA_SCHEMA_REGISTRY_TOKEN (bearer), never a flag.
    #[arg(long, env = "PGMETA_SCHEMA_REGISTRY_URL")]
    schema_registry_url: Option<String>,
    /// PEM file of the CA that signed the registry's certificate.
    #[arg(long, env = "PGMETA_SCHEMA_REGISTRY_CA_FILE")]
    schema_registry_ca_file: Option<PathBuf>,
    /// PEM files of a client certificate and key for the registry (mutual TLS).
    #[arg(long, env = "PGMETA_SCHEMA_REGISTRY_CERT_FILE")]
    schema_registry_cert_file: Option<PathBuf>,
    #[arg(long, env = "PGMETA_SCHEMA_REGISTRY_KEY_FILE")]
    schema_registry_key_file: Option<PathBuf>,
    /// Serve /metrics, /healthz and /readyz on this address.
    #[arg(long, env = "PGMETA_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    log: LogArgs,
}

fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

/// See `pgmeta::memory`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init();
    let token = match pgmeta::cli::token("PGMETA_APPLY_TOKEN", cli.token_file.as_deref()) {
        Ok(t) => t,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = pgmeta::apply::check_kafka_options(&cli.kafka_options) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    pgmeta::cli::run("pgmeta-apply", run(cli, token))
}

async fn run(cli: Cli, token: Option<Secret>) -> Result<(), String> {
    let (trigger, shutdown) = pgmeta::shutdown::channel();
    trigger
        .on_signals()
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    let client = HttpMetadataClient::new(
        &cli.server_url,
        token,
        Duration::from_secs(cli.request_timeout_secs),
    )?;
    if let Some(listen) = cli.metrics_listen {
        let ready = pgmeta::telemetry::Readiness::default();
        pgmeta::telemetry::serve_with(
            listen,
            shutdown.clone(),
            || pgmeta::apply::metrics().render(),
            ready.clone(),
        )
        .await?;
        // `/readyz`: the broker and the metadata server answer.
        let (probe_client, brokers, options) = (
            client.clone(),
            cli.brokers.clone(),
            cli.kafka_options.clone(),
        );
        ready.spawn_prober(Duration::from_secs(5), shutdown.clone(), move || {
            let (client, brokers, options) =
                (probe_client.clone(), brokers.clone(), options.clone());
            async move {
                pgmeta::telemetry::broker_reachable(brokers, options).await?;
                client.version().await.map_err(|e| e.to_string())
            }
        });
    }
    let applier = Applier::new(
        client,
        ApplierConfig {
            hard_delete: cli.hard_delete,
            override_metadata: !cli.keep_curated,
            service_type: cli.service_type,
        },
    );
    let config = ConsumerConfig {
        brokers: cli.brokers,
        group_id: cli.group,
        metadata_topic: cli.metadata_topic,
        usage_topic: cli.usage_topic,
        lineage_topic: cli.lineage_topic,
        dead_letter_topic: cli.dead_letter_topic,
        lanes: cli.lanes,
        batch_size: cli.batch_size.max(1),
        missing_entity_timeout: Duration::from_secs(cli.missing_entity_timeout_secs),
        max_backoff: Duration::from_secs(10),
        instance_id: cli.instance_id,
        kafka_options: cli.kafka_options,
        schema_registry: cli.schema_registry_url.map(|url| {
            let secret = |var: &str| std::env::var(var).ok().map(pgmeta::config::Secret::new);
            pgmeta::config::SchemaRegistryConfig {
                compatibility: String::new(),
                username: std::env::var("PGMETA_SCHEMA_REGISTRY_USERNAME").ok(),
                password: secret("PGMETA_SCHEMA_REGISTRY_PASSWORD"),
                bearer_token: secret("PGMETA_SCHEMA_REGISTRY_TOKEN"),
                ca_file: cli.schema_registry_ca_file,
                cert_file: cli.schema_registry_cert_file,
                key_file: cli.schema_registry_key_file,
                timeout: Duration::from_secs(cli.request_timeout_secs),
                ..pgmeta::config::SchemaRegistryConfig::new(url)
            }
        }),
    };
    let applier = std::sync::Arc::new(applier);
    let mut runs = Vec::new();
    for stream in [Stream::Metadata, Stream::Lineage, Stream::Usage] {
        let consumer = ApplyConsumer::new(config.clone(), stream, applier.clone())?;
        runs.push(consumer.run(shutdown.clone()));
    }
    // All three run until shutdown; the first error stops the process.
    futures_util::future::try_join_all(runs).await.map(|_| ())
}
