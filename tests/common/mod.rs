//! Per-test environment on the shared real services: a fresh database, topic and state
//! directory each, so tests run in parallel.

use pgmeta::capture::Capture;
use pgmeta::codec::AvroCodec;
use pgmeta::config::CaptureConfig;
use pgmeta::event::MetadataEvent;
use pgmeta::pg::PgTarget;
use pgmeta::sink::KafkaSink;
use pgmeta::testkit::{Broker, PgCluster, unique_name};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};

use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct TestEnv {
    pub cluster: &'static PgCluster,
    pub brokers: String,
    pub db: String,
    pub topic: String,
    pub state: tempfile::TempDir,
    pub client: tokio_postgres::Client,
}

/// One record read back from the topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub event: Option<MetadataEvent>,
    pub event_type: String,
    pub fingerprint: String,
}

impl TestEnv {
    pub async fn new(prefix: &str) -> TestEnv {
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
        let mut c = CaptureConfig::default();
        c.service_name = "svc".into();
        c.source = self.cluster.source(&self.db);
        c.kafka.brokers = self.brokers.clone();
        c.kafka.metadata_topic = self.topic.clone();
        c.kafka.partitions = 3;
        c.kafka.startup_timeout = Duration::from_secs(20);
        c.state.dir = self.state.path().to_owned();
        c
    }

    pub async fn capture(&self) -> Capture<KafkaSink> {
        capture_with(&self.config()).await
    }

    pub async fn sql(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
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

/// Key of the end markers the reader writes; never a capture key (FQNs have a service part).
const END_MARKER: &str = "__pgmeta_test_end__";

/// Every record on the topic, partition by partition in offset order.
///
/// tansu's high watermarks lag behind what it acknowledged, so "read up to the watermark" would
/// miss records. Instead the reader appends a unique end marker to every partition (after the
/// capture's acknowledged writes, so after them in the log) and reads until it has seen each.
pub fn read_topic(brokers: &str, topic: &str) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");

    let marker = unique_name("end");
    let producer: rdkafka::producer::BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("producer");
    for &p in &partitions {
        producer
            .send(
                rdkafka::producer::BaseRecord::<str, str>::to(topic)
                    .partition(p)
                    .key(END_MARKER)
                    .payload(&marker),
            )
            .map_err(|(e, _)| e)
            .expect("send end marker");
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10))
        .expect("end markers acknowledged");

    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&tpl).expect("assign");
    let codec = AvroCodec::metadata().expect("codec");
    let mut by_partition: HashMap<i32, Vec<Record>> = HashMap::new();
    let mut open: std::collections::HashSet<i32> = partitions.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !open.is_empty() {
        assert!(
            Instant::now() < deadline,
            "timed out reading {topic}: no end marker yet from partitions {open:?}"
        );
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.expect("consume");
        let key = String::from_utf8(msg.key().expect("every record has a key").to_vec())
            .expect("utf8 key");
        if key == END_MARKER {
            if msg.payload() == Some(marker.as_bytes()) {
                open.remove(&msg.partition());
            }
            continue;
        }
        let header = |name: &str| {
            msg.headers()
                .and_then(|h| {
                    h.iter()
                        .find(|x| x.key == name)
                        .and_then(|x| x.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                })
                .unwrap_or_default()
        };
        let record = Record {
            key,
            event: msg.payload().map(|p| codec.decode(p).expect("decodes")),
            event_type: header("pgmeta.event_type"),
            fingerprint: header("pgmeta.schema_fingerprint"),
        };
        by_partition
            .entry(msg.partition())
            .or_default()
            .push(record);
    }
    let mut keys: Vec<i32> = by_partition.keys().copied().collect();
    keys.sort();
    keys.into_iter()
        .flat_map(|p| by_partition.remove(&p).unwrap_or_default())
        .collect()
}

/// Events (not tombstones) of `records`, by FQN.
pub fn events_by_fqn(records: &[Record]) -> HashMap<String, MetadataEvent> {
    records
        .iter()
        .filter_map(|r| r.event.clone())
        .map(|e| (e.fqn.clone(), e))
        .collect()
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
