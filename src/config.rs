//! `pgmeta-capture` configuration: a TOML file, overridden by flags and environment variables
//! (see `src/bin/pgmeta-capture.rs`), validated once at start with errors that name the key.
//! `deploy/pgmeta-capture.example.toml` is the annotated reference.

use crate::filter::{FilterError, NameFilter};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// First part of every FQN: the name the metadata server knows this PostgreSQL by.
    #[serde(default = "default_service")]
    pub service_name: String,
    #[serde(default)]
    pub source: SourceConfig,
    #[serde(default)]
    pub filters: FilterConfig,
    #[serde(default)]
    pub poll: PollConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub replication: ReplicationConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub usage: UsageConfig,
    #[serde(default)]
    pub lineage: LineageConfig,
    #[serde(default)]
    pub schema_changes: SchemaChangesConfig,
}

/// One protected table or column (`schema.table[.column]`; `None`: any name there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedObject {
    pub schema: Option<String>,
    pub table: Option<String>,
    /// `None` with `whole`: the whole table; `None` without: any column.
    pub column: Option<String>,
    pub whole: bool,
}

impl ProtectedObject {
    pub fn parse(pattern: &str) -> Result<ProtectedObject, String> {
        let parts: Vec<&str> = pattern.split('.').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "{pattern:?} is not schema.table or schema.table.column"
            ));
        }
        let name = |p: &str| (p != "*").then(|| p.to_owned());
        Ok(ProtectedObject {
            schema: name(parts[0]),
            table: name(parts[1]),
            column: parts.get(2).and_then(|c| name(c)),
            whole: parts.len() == 2,
        })
    }
}

/// The schema-changes topic's contracts: tables and columns other teams depend on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaChangesConfig {
    /// `schema.table` or `schema.table.column`, names as PostgreSQL spells them, `*` for any
    /// name in its place: a BREAKING change to one is a contract violation.
    #[serde(default)]
    pub protected: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Address for `/metrics` and `/healthz`, e.g. `0.0.0.0:9187`; none when unset.
    pub listen: Option<std::net::SocketAddr>,
}

/// DDL capture through a logical replication slot (see `source::replication`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationConfig {
    /// Listen for DDL through the slot instead of waiting for the next poll. Needs the trigger
    /// (`pgmeta-capture install`, as a superuser) and a role with REPLICATION.
    pub enabled: bool,
    /// The slot; each capture instance needs its own. Default: `pgmeta_<service>_<database>`.
    pub slot: Option<String>,
    /// Install (or refresh) the DDL trigger at start, as `pgmeta-capture install` does. Needs a
    /// superuser; without one the capture says so and polls.
    pub install: bool,
    /// A slow full poll alongside the stream, for what no event trigger sees (role renames
    /// changing owner names, comments on databases).
    #[serde(with = "duration")]
    pub safety_poll_interval: Duration,
    /// While events cannot be delivered (broker down) the slot holds WAL on the server. Past
    /// this many bytes the capture stops with an error rather than filling the server's disk.
    /// PostgreSQL's own `max_slot_wal_keep_size` is the server-side guard; set both.
    pub max_retained_wal_bytes: i64,
    /// A slot still held by another session (the previous instance during a restart, or its
    /// walsender that has not yet noticed the instance died) is waited for. After this long
    /// the holder is ended with `pg_terminate_backend` (needs the holder's role or
    /// `pg_signal_backend`); unset, the capture waits for as long as it takes.
    #[serde(with = "duration_opt")]
    pub slot_takeover_after: Option<Duration>,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            enabled: false,
            slot: None,
            install: false,
            safety_poll_interval: Duration::from_secs(600),
            max_retained_wal_bytes: 2 << 30,
            slot_takeover_after: None,
        }
    }
}

impl ReplicationConfig {
    /// The slot name: configured, or derived from service and database (slot names allow only
    /// lower-case letters, digits and `_`, at most 63 bytes).
    pub fn slot_name(&self, service: &str, database: &str) -> String {
        if let Some(slot) = &self.slot {
            return slot.clone();
        }
        let raw = format!("pgmeta_{service}_{database}").to_lowercase();
        let mut name: String = raw
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        name.truncate(63);
        name
    }
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            service_name: default_service(),
            source: SourceConfig::default(),
            filters: FilterConfig::default(),
            schema_changes: SchemaChangesConfig::default(),
            poll: PollConfig::default(),
            output: OutputConfig::default(),
            kafka: KafkaConfig::default(),
            state: StateConfig::default(),
            replication: ReplicationConfig::default(),
            telemetry: TelemetryConfig::default(),
            usage: UsageConfig::default(),
            lineage: LineageConfig::default(),
        }
    }
}

/// Query usage from `pg_stat_statements`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageConfig {
    /// Read pg_stat_statements and emit usage (and query lineage). Without the extension or
    /// the privilege to read it, the capture says so once and runs on without usage.
    pub enabled: bool,
    /// Time between two reads: the length of a usage bucket.
    #[serde(with = "duration")]
    pub interval: Duration,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            enabled: true,
            interval: Duration::from_secs(60),
        }
    }
}

/// Lineage from view definitions, routine bodies and the query log.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineageConfig {
    /// Emit lineage events (views and routines with each catalog change; queries with usage).
    pub enabled: bool,
}

impl Default for LineageConfig {
    fn default() -> Self {
        LineageConfig { enabled: true }
    }
}

fn default_service() -> String {
    "postgres".into()
}

/// A secret from config: `Debug` prints `***`, so it cannot leak through `{:?}` or tracing.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `postgres://user:pass@host:port/db?...` or a libpq key=value string.
    pub url: Option<Secret>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub database: Option<String>,
    /// disable, allow, prefer (libpq's default), require, verify-ca or verify-full.
    pub sslmode: Option<String>,
    /// CA certificate(s) to verify the server with: a file, or the PEM text itself.
    pub sslrootcert: Option<String>,
    /// Client certificate (file or PEM) for servers that ask for one; with `sslkey`.
    pub sslcert: Option<String>,
    /// Client private key (file or PEM).
    pub sslkey: Option<Secret>,
    /// AWS RDS IAM authentication: a token made for each connection is the password.
    pub aws_iam: Option<AwsIamConfig>,
    pub application_name: Option<String>,
    #[serde(default, with = "duration_opt")]
    pub connect_timeout: Option<Duration>,
    /// Capture every database that accepts connections, not only the configured one.
    #[serde(default)]
    pub ingest_all_databases: bool,
    /// Bound on each catalog query, so a catalog read can never hold a busy server for long.
    #[serde(default = "default_statement_timeout", with = "duration")]
    pub statement_timeout: Duration,
    /// A full read of a catalog with more relations than this reads, diffs, sends and saves
    /// them this many at a time (in one transaction), so its memory follows the part, not
    /// the catalog.
    #[serde(default = "default_read_part_relations")]
    pub read_part_relations: usize,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            url: None,
            host: None,
            port: None,
            user: None,
            password: None,
            password_file: None,
            database: None,
            sslmode: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            aws_iam: None,
            application_name: None,
            connect_timeout: None,
            ingest_all_databases: false,
            statement_timeout: default_statement_timeout(),
            read_part_relations: default_read_part_relations(),
        }
    }
}

/// Where RDS IAM tokens get their credentials: explicit keys, else a named profile of the
/// shared credentials file, else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AwsIamConfig {
    /// The database's region, e.g. eu-west-1 (else `AWS_REGION`).
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// A profile of `credentials_file` (else `AWS_PROFILE`).
    pub profile: Option<String>,
    /// Default: `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
    pub credentials_file: Option<PathBuf>,
}

fn default_statement_timeout() -> Duration {
    Duration::from_secs(60)
}

/// Measured by hand at 100,000 tables (2026-12-03): a snapshot in parts of 2,000 took 21.6 /
/// 22.7 s against 21.2 / 18.4 s in parts of 5,000 (the same, within that machine's noise),
/// and peaked at 74 MB instead of 144-150 MB; a capture idle after such a read holds less of
/// jemalloc's metadata (3.2 MB instead of 6.1 MB).
fn default_read_part_relations() -> usize {
    2000
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patterns {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default)]
    pub database: Patterns,
    #[serde(default)]
    pub schema: Patterns,
    #[serde(default)]
    pub table: Patterns,
    /// Match patterns against `service.database.schema.table` instead of the bare name.
    #[serde(default)]
    pub use_fqn_for_filtering: bool,
    #[serde(default = "yes")]
    pub include_tables: bool,
    #[serde(default = "yes")]
    pub include_views: bool,
    #[serde(default = "yes")]
    pub include_stored_procedures: bool,
    #[serde(default = "yes")]
    pub include_ddl: bool,
    #[serde(default = "yes")]
    pub mark_deleted_tables: bool,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            database: Patterns::default(),
            schema: Patterns::default(),
            table: Patterns::default(),
            use_fqn_for_filtering: false,
            include_tables: true,
            include_views: true,
            include_stored_procedures: true,
            include_ddl: true,
            mark_deleted_tables: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// How often the catalog is read. An unchanged catalog costs one cheap query per poll.
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: default_interval(),
        }
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    #[default]
    Kafka,
    /// One JSON object per line, for trying pgmeta out without Kafka.
    Jsonl,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    #[serde(default)]
    pub kind: OutputKind,
    /// jsonl only: a file to append to; standard output when absent or `-`.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
    pub metadata_topic: String,
    /// Usage events (not compacted: every bucket is a fact).
    pub usage_topic: String,
    /// Lineage edges (compacted, keyed by edge).
    pub lineage_topic: String,
    /// Classified schema changes with what they reach (not compacted: every change is a fact
    /// an alerting consumer reads).
    pub schema_changes_topic: String,
    /// Used when pgmeta creates the topic; an existing topic is left as it is.
    pub partitions: i32,
    /// 1 suits a single development broker; production clusters want 3.
    pub replication_factor: i32,
    /// How long to keep retrying an unreachable broker at start before giving up.
    #[serde(with = "duration")]
    pub startup_timeout: Duration,
    /// How long one message may wait for the broker's acknowledgement (librdkafka's
    /// `message.timeout.ms`); past it the batch fails and is retried by the next poll.
    #[serde(with = "duration")]
    pub delivery_timeout: Duration,
    /// Largest event pgmeta sends. A bigger one sheds its large text fields (DDL, view
    /// definition, routine body, comments) and lists them in `truncated_fields`. Keep it below
    /// the topic's `max.message.bytes` (Kafka's default is about 1 MB).
    pub max_event_bytes: usize,
    /// Extra librdkafka properties (security.protocol, sasl.*, ssl.*, ...). Keys that pgmeta
    /// sets itself are rejected rather than silently overridden.
    pub properties: BTreeMap<String, Secret>,
    /// How record values are framed: `single-object` (Avro's own, no registry) or
    /// `confluent` (magic byte 0, the registry's 4-byte schema id, the datum), which needs
    /// `kafka.schema_registry`.
    pub serialization: Serialization,
    pub schema_registry: Option<SchemaRegistryConfig>,
    /// Whether all records of one catalog read are written in one Kafka transaction, so a
    /// `read_committed` consumer sees all of a change or none of it: `auto` (when the broker
    /// has transactions; tansu has not), `on` (required) or `off`.
    pub transactions: Transactions,
    /// The producer's `transactional.id`; another producer with the same id is fenced off.
    /// Default: `pgmeta-capture.<service_name>.<database or "all">`.
    pub transactional_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transactions {
    #[default]
    Auto,
    On,
    Off,
}

/// The framing of record values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Serialization {
    #[default]
    SingleObject,
    Confluent,
}

/// A registry speaking the Confluent Schema Registry REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// `http(s)://host:port[/path]`, e.g. Apicurio's `.../apis/ccompat/v7`.
    pub url: String,
    #[serde(default)]
    pub subject_name_strategy: SubjectNameStrategy,
    /// Set on each subject pgmeta registers (`BACKWARD`, `FORWARD`, `FULL`, their
    /// `_TRANSITIVE` forms or `NONE`); empty leaves the registry's setting alone.
    #[serde(default = "default_compatibility")]
    pub compatibility: String,
    /// Basic authentication.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bearer authentication (instead of basic).
    pub bearer_token: Option<Secret>,
    /// PEM file of the CA that signed the registry's certificate (else the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM files of a client certificate and its key, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// How long one request may take.
    #[serde(default = "default_registry_timeout", with = "duration")]
    pub timeout: Duration,
}

impl SchemaRegistryConfig {
    /// The registry at `url`, with the defaults: no credentials, no TLS settings, subjects by
    /// topic name, BACKWARD compatibility, 10 s per request.
    pub fn new(url: impl Into<String>) -> SchemaRegistryConfig {
        SchemaRegistryConfig {
            url: url.into(),
            subject_name_strategy: SubjectNameStrategy::default(),
            compatibility: default_compatibility(),
            username: None,
            password: None,
            bearer_token: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            timeout: default_registry_timeout(),
        }
    }
}

fn default_compatibility() -> String {
    "BACKWARD".into()
}

fn default_registry_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How a topic's value schema is named in the registry (Confluent's strategies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectNameStrategy {
    /// `<topic>-value`.
    #[default]
    Topic,
    /// The record's full name, `io.pgmeta.MetadataEvent`.
    Record,
    /// `<topic>-<record full name>`.
    TopicRecord,
}

impl SubjectNameStrategy {
    /// The subject of the value schema of `topic`, whose record is `record` (full name).
    pub fn subject(self, topic: &str, record: &str) -> String {
        match self {
            SubjectNameStrategy::Topic => format!("{topic}-value"),
            SubjectNameStrategy::Record => record.to_owned(),
            SubjectNameStrategy::TopicRecord => format!("{topic}-{record}"),
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            metadata_topic: "pgmeta.metadata".into(),
            usage_topic: "pgmeta.usage".into(),
            lineage_topic: "pgmeta.lineage".into(),
            schema_changes_topic: "pgmeta.schema-changes".into(),
            partitions: 6,
            replication_factor: 1,
            startup_timeout: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(30),
            max_event_bytes: 900_000,
            properties: BTreeMap::new(),
            serialization: Serialization::SingleObject,
            schema_registry: None,
            transactions: Transactions::Auto,
            transactional_id: None,
        }
    }
}

/// librdkafka properties pgmeta sets from typed options and the delivery guarantee.
pub const MANAGED_KAFKA_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "enable.idempotence",
    "acks",
    "message.timeout.ms",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// Where the capture remembers what it emitted (one file per database).
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("pgmeta-state"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
    #[error(transparent)]
    Filter(#[from] FilterError),
}

impl CaptureConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })
    }

    /// Checks what serde cannot: ranges, conflicts and regular expressions.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| {
            Err(ConfigError::Invalid {
                key: key.into(),
                reason,
            })
        };
        if self.service_name.trim().is_empty() {
            return invalid("service_name", "must not be empty".into());
        }
        if self.poll.interval < Duration::from_millis(100) {
            return invalid(
                "poll.interval",
                format!("{:?} is too short (at least 100ms)", self.poll.interval),
            );
        }
        if self.source.read_part_relations < 1 {
            return invalid(
                "source.read_part_relations",
                "must be at least 1 relation".into(),
            );
        }
        if self.kafka.partitions < 1 {
            return invalid(
                "kafka.partitions",
                format!("{} is not a partition count", self.kafka.partitions),
            );
        }
        if self.kafka.replication_factor < 1 {
            return invalid(
                "kafka.replication_factor",
                format!("{} must be at least 1", self.kafka.replication_factor),
            );
        }
        if self.kafka.max_event_bytes < 10_000 {
            return invalid(
                "kafka.max_event_bytes",
                format!(
                    "{} is too small to hold an event (at least 10000)",
                    self.kafka.max_event_bytes
                ),
            );
        }
        if self.kafka.metadata_topic.is_empty() {
            return invalid("kafka.metadata_topic", "must not be empty".into());
        }
        if self.kafka.usage_topic.is_empty() {
            return invalid("kafka.usage_topic", "must not be empty".into());
        }
        if self.kafka.lineage_topic.is_empty() {
            return invalid("kafka.lineage_topic", "must not be empty".into());
        }
        if self.kafka.schema_changes_topic.is_empty() {
            return invalid("kafka.schema_changes_topic", "must not be empty".into());
        }
        for pattern in &self.schema_changes.protected {
            if let Err(reason) = ProtectedObject::parse(pattern) {
                return invalid("schema_changes.protected", reason);
            }
        }
        match (&self.kafka.serialization, &self.kafka.schema_registry) {
            (Serialization::Confluent, None) => {
                return invalid(
                    "kafka.serialization",
                    "confluent framing needs [kafka.schema_registry] with its url".into(),
                );
            }
            (_, Some(r)) => {
                if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
                    return invalid(
                        "kafka.schema_registry.url",
                        "must start with http:// or https://".into(),
                    );
                }
                if r.bearer_token.is_some() && (r.username.is_some() || r.password.is_some()) {
                    return invalid(
                        "kafka.schema_registry.bearer_token",
                        "use either a bearer token or username and password".into(),
                    );
                }
                const LEVELS: [&str; 8] = [
                    "",
                    "NONE",
                    "BACKWARD",
                    "BACKWARD_TRANSITIVE",
                    "FORWARD",
                    "FORWARD_TRANSITIVE",
                    "FULL",
                    "FULL_TRANSITIVE",
                ];
                if !LEVELS.contains(&r.compatibility.as_str()) {
                    return invalid(
                        "kafka.schema_registry.compatibility",
                        format!(
                            "{:?} is not a compatibility level ({})",
                            r.compatibility,
                            LEVELS[1..].join(", ")
                        ),
                    );
                }
            }
            (Serialization::SingleObject, None) => {}
        }
        if self.usage.interval < Duration::from_secs(1) {
            return invalid("usage.interval", "must be at least 1s".into());
        }
        for key in self.kafka.properties.keys() {
            if MANAGED_KAFKA_PROPERTIES.contains(&key.as_str()) {
                return invalid(
                    &format!("kafka.properties.{key}"),
                    "is set by pgmeta (use kafka.brokers / kafka.delivery_timeout; idempotence and acks=all are required)".into(),
                );
            }
        }
        if self.replication.enabled && self.source.ingest_all_databases {
            return invalid(
                "replication.enabled",
                "works on one database; with source.ingest_all_databases run one capture per database or poll".into(),
            );
        }
        if let Some(slot) = &self.replication.slot
            && (slot.is_empty()
                || slot.len() > 63
                || !slot
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            return invalid(
                "replication.slot",
                format!(
                    "{slot:?} is not a slot name (lower-case letters, digits and _, at most 63)"
                ),
            );
        }
        self.filters.name_filters()?;
        Ok(())
    }
}

/// The compiled include/exclude filters (the default keeps everything).
#[derive(Debug, Clone, Default)]
pub struct NameFilters {
    pub database: NameFilter,
    pub schema: NameFilter,
    pub table: NameFilter,
}

impl FilterConfig {
    pub fn name_filters(&self) -> Result<NameFilters, FilterError> {
        let f = |key: &str, p: &Patterns| NameFilter::new(key, &p.include, &p.exclude);
        Ok(NameFilters {
            database: f("filters.database", &self.database)?,
            schema: f("filters.schema", &self.schema)?,
            table: f("filters.table", &self.table)?,
        })
    }
}

/// Parses `30s`, `500ms`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms, 5m)"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

mod duration_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_in_deploy_parses_and_validates() {
        let text = include_str!("../deploy/pgmeta-capture.example.toml");
        let config = CaptureConfig::parse(text, "example").expect("parses");
        config.validate().expect("valid");
        assert_eq!(config.poll.interval, Duration::from_secs(30));
    }

    #[test]
    fn empty_config_gets_documented_defaults() {
        let c = CaptureConfig::parse("", "empty").expect("parses");
        assert_eq!(c.service_name, "postgres");
        assert_eq!(c.kafka.metadata_topic, "pgmeta.metadata");
        assert!(c.filters.include_views && c.filters.mark_deleted_tables);
        assert_eq!(c.source.statement_timeout, Duration::from_secs(60));
        assert_eq!(
            c.source.statement_timeout,
            SourceConfig::default().statement_timeout
        );
        c.validate().expect("valid");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = CaptureConfig::parse("[source]\nhots = \"x\"\n", "c.toml").expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.contains("c.toml") && msg.contains("unknown field `hots`"),
            "{msg}"
        );
    }

    #[test]
    fn invalid_values_are_named() {
        let err = CaptureConfig::parse("[poll]\ninterval = \"soon\"\n", "c.toml").expect_err("bad");
        assert!(err.to_string().contains("not a duration"), "{err}");
        let c = CaptureConfig::parse("[kafka]\npartitions = 0\n", "c.toml").expect("parses");
        assert_eq!(
            c.validate().expect_err("zero").to_string(),
            "kafka.partitions: 0 is not a partition count"
        );
        let c =
            CaptureConfig::parse("[source]\nread_part_relations = 0\n", "c.toml").expect("parses");
        assert_eq!(
            c.validate().expect_err("zero").to_string(),
            "source.read_part_relations: must be at least 1 relation"
        );
        let c = CaptureConfig::parse("[schema_changes]\nprotected = [\"orders\"]\n", "c.toml")
            .expect("parses");
        assert_eq!(
            c.validate().expect_err("one name").to_string(),
            "schema_changes.protected: \"orders\" is not schema.table or schema.table.column"
        );
        let mut c = CaptureConfig::default();
        c.kafka
            .properties
            .insert("acks".into(), Secret::new("1".into()));
        assert_eq!(
            c.validate()
                .expect_err("managed")
                .to_string()
                .split(':')
                .next(),
            Some("kafka.properties.acks")
        );
        let mut c = CaptureConfig::default();
        c.filters.table.exclude = vec!["[".into()];
        assert!(
            c.validate()
                .expect_err("regex")
                .to_string()
                .starts_with("filters.table.exclude[0]")
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = CaptureConfig::parse(
            "[source]\npassword = \"hunter2\"\nurl = \"postgres://u:hunter3@h/d\"\n[kafka.properties]\n\"sasl.password\" = \"hunter4\"\n",
            "c",
        )
        .expect("parses");
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("hunter2") && !dbg.contains("hunter3") && !dbg.contains("hunter4"),
            "{dbg}"
        );
    }

    #[test]
    fn slot_names_are_valid_and_distinct() {
        let r = ReplicationConfig::default();
        assert_eq!(r.slot_name("Prod DB", "app-1"), "pgmeta_prod_db_app_1");
        assert_eq!(r.slot_name("x", &"y".repeat(100)).len(), 63);
        let mut c = CaptureConfig::default();
        c.replication.slot = Some("Bad-Slot".into());
        assert!(
            c.validate()
                .expect_err("bad slot")
                .to_string()
                .starts_with("replication.slot:")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("3 weeks").is_err());
    }
}
