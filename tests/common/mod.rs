//! Per-test environment on the shared real services: a fresh database, topic and state
//! directory each, so tests run in parallel.

pub mod jsonl;

use pgmeta::capture::Capture;
use pgmeta::config::CaptureConfig;
use pgmeta::pg::PgTarget;
use pgmeta::sink::KafkaSink;
use pgmeta::testkit::{Broker, PgCluster, unique_name};
pub use pgmeta::testkit::{Record, read_lineage, read_topic, read_usage};
use std::collections::HashMap;
use std::time::Duration;

pub struct TestEnv {
    pub cluster: &'static PgCluster,
    pub brokers: String,
    pub db: String,
    pub topic: String,
    pub state: tempfile::TempDir,
    pub client: tokio_postgres::Client,
}

/// DDL streams through the slot on PostgreSQL 14+ (pgoutput's `messages`); older servers fall
/// back to polling (`replication::without_the_trigger_it_says_why_and_polls`). Whether `test`
/// skips, listed as a skip, on an older one.
pub fn skip_before_14(env: &TestEnv, test: &str) -> bool {
    let major = env.cluster.major_version();
    if major < 14 {
        pgmeta::testkit::skip(
            test,
            pgmeta::testkit::Missing::ServerFeature,
            &format!("DDL streaming needs PostgreSQL 14+ (pgoutput's messages), this is {major}"),
        );
    }
    major < 14
}

impl TestEnv {
    pub async fn new(prefix: &str) -> TestEnv {
        // Logs go to stderr when PGMETA_TEST_LOG is set (e.g. `pgmeta=debug`).
        if let Ok(filter) = std::env::var("PGMETA_TEST_LOG") {
            pgmeta::telemetry::init(pgmeta::telemetry::LogFormat::Human, Some(&filter));
        }
        let cluster = PgCluster::shared();
        let brokers = Broker::shared().bootstrap();
        let db = unique_name(prefix);
        let client = cluster.create_database(&db).await;
        TestEnv {
            cluster,
            brokers,
            topic: format!("{db}.metadata"),
            db,
            state: tempfile::tempdir().expect("state dir"),
            client,
        }
    }

    pub fn config(&self) -> CaptureConfig {
        let mut c = CaptureConfig {
            service_name: "svc".into(),
            source: self.cluster.source(&self.db),
            ..CaptureConfig::default()
        };
        c.kafka.brokers = self.brokers.clone();
        c.kafka.metadata_topic = self.topic.clone();
        c.kafka.usage_topic = format!("{}.usage", self.db);
        c.kafka.lineage_topic = format!("{}.lineage", self.db);
        c.kafka.schema_changes_topic = format!("{}.schema-changes", self.db);
        c.kafka.partitions = 3;
        c.kafka.startup_timeout = Duration::from_secs(20);
        c.state.dir = self.state.path().to_owned();
        c
    }

    pub async fn capture(&self) -> Capture<KafkaSink> {
        capture_with(&self.config()).await
    }

    pub async fn sql(&self, sql: &str) {
        if let Err(e) = self.client.batch_execute(sql).await {
            let reason = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned());
            panic!("{sql}: {reason}");
        }
    }

    /// Every usage event of this test's database.
    pub fn usage(&self) -> Vec<pgmeta::event::UsageEvent> {
        read_usage(&self.brokers, &format!("{}.usage", self.db))
    }

    /// Every lineage record (key, event or `None` for a tombstone).
    pub fn lineage(&self) -> Vec<(String, Option<pgmeta::event::LineageEvent>)> {
        read_lineage(&self.brokers, &format!("{}.lineage", self.db))
    }

    /// Every classified schema change of this test's database.
    pub fn schema_changes(&self) -> Vec<pgmeta::event::SchemaChangeEvent> {
        pgmeta::testkit::read_schema_changes(&self.brokers, &format!("{}.schema-changes", self.db))
    }

    /// Every record on the topic, partition by partition in offset order.
    pub fn records(&self) -> Vec<Record> {
        read_topic(&self.brokers, &self.topic)
    }

    /// Records added since `before` records were read (per partition order kept).
    pub fn records_since(&self, before: &[Record]) -> Vec<Record> {
        let all = self.records();
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for r in before {
            *seen
                .entry((r.key.clone(), r.event_type.clone()))
                .or_default() += 1;
        }
        all.into_iter()
            .filter(
                |r| match seen.get_mut(&(r.key.clone(), r.event_type.clone())) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        false
                    }
                    _ => true,
                },
            )
            .collect()
    }
}

pub async fn capture_with(config: &CaptureConfig) -> Capture<KafkaSink> {
    let target = PgTarget::resolve(&config.source, &|_| None).expect("target");
    let sink = KafkaSink::connect(&config.kafka).await.expect("kafka sink");
    Capture::new(config, target, sink, false).expect("capture")
}

/// Polls once and fails the test on any error.
pub async fn poll_ok<S: pgmeta::sink::Sink>(
    capture: &mut Capture<S>,
) -> Vec<pgmeta::source::PollReport> {
    let cycle = capture.poll_once().await;
    if let Some((db, e)) = cycle.errors.first() {
        panic!("poll of {db} failed: {e}");
    }
    cycle.reports
}

/// `(op, fqn)` pairs, sorted, for exact comparisons; tombstones as ("TOMBSTONE", key).
pub fn summary(records: &[Record]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = records
        .iter()
        .map(|r| match &r.event {
            Some(e) => (format!("{:?}", e.op).to_uppercase(), e.fqn.clone()),
            None => ("TOMBSTONE".into(), r.key.clone()),
        })
        .collect();
    out.sort();
    out
}

/// xorshift64*: reproducible randomness from a seed for the property, fuzz and chaos tests (a
/// failure names its seed).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The Apache Avro jars `scripts/install-java-tools.sh` put in the cache, as a classpath, when
/// Java runs here.
pub fn java_classpath() -> Option<String> {
    let lib = pgmeta::testkit::cache_dir().join("java-avro/lib");
    (pgmeta::testkit::java_runs() && lib.join("READY").exists())
        .then(|| format!("{}/*", lib.display()))
}
