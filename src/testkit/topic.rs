//! Reading a metadata topic back, as a downstream consumer would: rdkafka over loopback, Avro
//! decoded with the same codec.

use super::unique_name;
use crate::codec::AvroCodec;
use crate::event::MetadataEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One record read back from the topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    /// `None` for a tombstone.
    pub event: Option<MetadataEvent>,
    pub event_type: String,
    pub fingerprint: String,
}

/// Key of the end markers the reader writes; never a capture key (FQNs have a service part).
/// The key of the tombstones `read_raw` writes to find the end of each partition.
pub const END_MARKER: &str = "__pgmeta_test_end__";
const END_HEADER: &str = "pgmeta.test_end_marker";

/// Every record on the topic, partition by partition in offset order.
///
/// tansu's high watermarks lag behind what it acknowledged, so "read up to the watermark" would
/// miss records. Instead the reader appends a unique end marker to every partition (after the
/// capture's acknowledged writes, so after them in the log) and reads until it has seen each.
pub fn read_topic(brokers: &str, topic: &str) -> Vec<Record> {
    let codec = AvroCodec::metadata().expect("codec");
    read_raw(brokers, topic)
        .into_iter()
        .map(|r| Record {
            partition: r.partition,
            offset: r.offset,
            key: r.key,
            event: r.payload.map(|p| codec.decode(&p).expect("decodes")),
            event_type: r.event_type,
            fingerprint: r.fingerprint,
        })
        .collect()
}

/// Every usage event on the usage topic.
pub fn read_usage(brokers: &str, topic: &str) -> Vec<crate::event::UsageEvent> {
    let codec = AvroCodec::usage().expect("codec");
    read_raw(brokers, topic)
        .into_iter()
        .filter_map(|r| r.payload)
        .map(|p| codec.decode_value(&p).expect("decodes"))
        .collect()
}

/// Every record on the lineage topic: key and event (`None` for a tombstone).
pub fn read_lineage(
    brokers: &str,
    topic: &str,
) -> Vec<(String, Option<crate::event::LineageEvent>)> {
    let codec = AvroCodec::lineage().expect("codec");
    read_raw(brokers, topic)
        .into_iter()
        .map(|r| {
            (
                r.key,
                r.payload.map(|p| codec.decode_value(&p).expect("decodes")),
            )
        })
        .collect()
}

/// Every record of a schema-changes topic, decoded, partition by partition in offset order.
pub fn read_schema_changes(brokers: &str, topic: &str) -> Vec<crate::event::SchemaChangeEvent> {
    let codec = AvroCodec::schema_change().expect("codec");
    read_raw(brokers, topic)
        .into_iter()
        .filter_map(|r| r.payload)
        .map(|p| codec.decode_value(&p).expect("decodes"))
        .collect()
}

/// A record as read, not decoded.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Option<Vec<u8>>,
    pub event_type: String,
    pub fingerprint: String,
    /// Every header, as text.
    pub headers: Vec<(String, String)>,
}

/// Every record on the topic, not decoded, partition by partition in offset order, as a
/// `read_committed` consumer sees them.
pub fn read_raw(brokers: &str, topic: &str) -> Vec<RawRecord> {
    read_raw_as(brokers, topic, "read_committed")
}

/// [`read_raw`] with the consumer's `isolation.level`: `read_uncommitted` also shows the
/// records of aborted and open transactions.
pub fn read_raw_as(brokers: &str, topic: &str, isolation: &str) -> Vec<RawRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
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
        // A tombstone (no payload) with the marker in a header: consumers of the topic, such
        // as pgmeta-apply in the tests and the demo, skip it like any tombstone.
        let headers = rdkafka::message::OwnedHeaders::new().insert(rdkafka::message::Header {
            key: END_HEADER,
            value: Some(&marker),
        });
        producer
            .send(
                rdkafka::producer::BaseRecord::<str, str>::to(topic)
                    .partition(p)
                    .key(END_MARKER)
                    .headers(headers),
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
    let mut by_partition: HashMap<i32, Vec<RawRecord>> = HashMap::new();
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
            let mine = msg.headers().is_some_and(|h| {
                h.iter()
                    .any(|x| x.key == END_HEADER && x.value == Some(marker.as_bytes()))
            });
            if mine {
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
        let record = RawRecord {
            partition: msg.partition(),
            offset: msg.offset(),
            key,
            payload: msg.payload().map(<[u8]>::to_vec),
            event_type: header("pgmeta.event_type"),
            fingerprint: header("pgmeta.schema_fingerprint"),
            headers: msg
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            let v = x.value.map(String::from_utf8_lossy).unwrap_or_default();
                            (x.key.to_owned(), v.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default(),
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

/// Waits (up to 30 s) for a record whose key ends with `suffix`; records before it are
/// skipped. For latency measurements: the consumer reads from where it is.
pub async fn wait_for_key(
    consumer: &rdkafka::consumer::StreamConsumer,
    suffix: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if Instant::now() > deadline {
            return Err(format!("no event for {suffix} within 30 s").into());
        }
        if let Ok(msg) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            let msg = msg?;
            if msg.key().is_some_and(|k| k.ends_with(suffix.as_bytes())) {
                return Ok(());
            }
        }
    }
}

/// A consumer for latency measurements on `topic`: from its start or only what comes next,
/// fetching with 5 ms waits so the broker's batching does not count as pgmeta's latency.
pub fn latency_consumer(
    bootstrap: &str,
    group: &str,
    topic: &str,
    from_start: bool,
) -> Result<rdkafka::consumer::StreamConsumer, rdkafka::error::KafkaError> {
    let consumer: rdkafka::consumer::StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set(
            "auto.offset.reset",
            if from_start { "earliest" } else { "latest" },
        )
        .set("fetch.wait.max.ms", "5")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// When each of `count` records arrived whose key ends with `marker` and a number below
/// `count` (`…<marker>17`), the first arrival of each; reads until all came or `within`
/// passed (`None` for those that did not).
pub async fn arrivals(
    consumer: &rdkafka::consumer::StreamConsumer,
    marker: &str,
    count: usize,
    within: Duration,
) -> Result<Vec<Option<Instant>>, rdkafka::error::KafkaError> {
    let mut received: Vec<Option<Instant>> = vec![None; count];
    let mut missing = count;
    let deadline = Instant::now() + within;
    while missing > 0 && Instant::now() < deadline {
        let Ok(msg) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await else {
            continue;
        };
        let msg = msg?;
        let at = Instant::now();
        let n = msg
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.rsplit_once(marker))
            .and_then(|(_, n)| n.parse::<usize>().ok());
        if let Some(slot) = n.and_then(|n| received.get_mut(n))
            && slot.is_none()
        {
            *slot = Some(at);
            missing -= 1;
        }
    }
    Ok(received)
}
