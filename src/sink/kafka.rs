//! The Kafka sink: an idempotent producer with `acks=all`, so a record counts as sent only
//! when every in-sync replica has it, and retries inside librdkafka cannot duplicate or reorder
//! records of one key.

use super::{Sink, SinkError};
use crate::codec::AvroCodec;
use crate::config::KafkaConfig;
use crate::event::{MetadataEvent, Outbound, Topic};
use crate::kafka::KafkaContext;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::{Duration, Instant};

pub(super) const HEADER_EVENT_TYPE: &str = "pgmeta.event_type";
pub(super) const HEADER_SCHEMA_FINGERPRINT: &str = "pgmeta.schema_fingerprint";

pub struct KafkaSink {
    producer: FutureProducer<KafkaContext>,
    client_errors: crate::kafka::ClientErrors,
    /// Whether each batch is one Kafka transaction (`client_config` then has the
    /// `transactional.id`).
    transactional: bool,
    max_event_bytes: usize,
    client_config: ClientConfig,
    metadata: TopicWriter,
    usage: TopicWriter,
    lineage: TopicWriter,
    schema_changes: TopicWriter,
    delivery_timeout: Duration,
}

/// A topic and the schema its values are written with.
struct TopicWriter {
    name: String,
    codec: AvroCodec,
    fingerprint: String,
}

impl TopicWriter {
    fn new(name: &str, codec: AvroCodec) -> Self {
        TopicWriter {
            name: name.to_owned(),
            fingerprint: codec.fingerprint_hex(),
            codec,
        }
    }
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("metadata_topic", &self.metadata.name)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// Connects, retrying with backoff for up to `kafka.startup_timeout` while the brokers are
    /// unreachable, and creates the metadata topic (compacted) if it does not exist.
    pub async fn connect(cfg: &KafkaConfig) -> Result<Self, SinkError> {
        let client_config = client_config(cfg);
        let admin: std::sync::Arc<AdminClient<KafkaContext>> = std::sync::Arc::new(
            client_config
                .create_with_context(KafkaContext::new("admin", None))
                .map_err(|e| SinkError::Config(e.to_string()))?,
        );
        let started = Instant::now();
        let mut attempts = 0;
        let mut backoff = Duration::from_millis(250);
        loop {
            attempts += 1;
            // librdkafka's metadata call blocks: on a blocking thread.
            let probe_admin = admin.clone();
            let wait = Duration::from_secs(3).min(cfg.startup_timeout);
            let probe = tokio::task::spawn_blocking(move || {
                probe_admin
                    .inner()
                    .fetch_metadata(None, wait)
                    .map(|md| md.brokers().len())
            })
            .await;
            let (last_error, code) = match probe {
                Ok(Ok(brokers)) if brokers > 0 => break,
                Ok(Ok(_)) => ("no brokers in metadata".to_owned(), None),
                Ok(Err(e)) => (e.to_string(), e.rdkafka_error_code()),
                Err(e) => (e.to_string(), None),
            };
            let waited = started.elapsed();
            if waited + backoff > cfg.startup_timeout {
                return Err(SinkError::Unreachable {
                    brokers: cfg.brokers.clone(),
                    attempts,
                    waited,
                    last_error,
                    code,
                });
            }
            tracing::warn!(brokers = %cfg.brokers, attempt = attempts, error = %last_error, retry_in = ?backoff, "kafka unreachable, retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        for (topic, policy) in [
            (&cfg.metadata_topic, "compact"),
            (&cfg.usage_topic, "delete"),
            (&cfg.lineage_topic, "compact"),
            (&cfg.schema_changes_topic, "delete"),
        ] {
            ensure_topic(
                &admin,
                topic,
                policy,
                cfg.partitions,
                cfg.replication_factor,
            )
            .await?;
        }
        let (client_config, producer, client_errors, transactional) =
            start_producer(cfg, client_config).await?;
        tracing::info!(brokers = %cfg.brokers, topic = %cfg.metadata_topic, "connected to kafka");
        let registry = super::registration::registry(cfg)?;
        // Each topic's codec, framed for it (registered with the registry when there is one).
        let writer = async |topic: &str, codec: AvroCodec| -> Result<TopicWriter, SinkError> {
            let codec = super::registration::frame(cfg, registry.as_ref(), topic, codec).await?;
            Ok(TopicWriter::new(topic, codec))
        };
        Ok(KafkaSink {
            producer,
            client_errors,
            transactional,
            max_event_bytes: cfg.max_event_bytes,
            client_config,
            metadata: writer(&cfg.metadata_topic, AvroCodec::metadata()?).await?,
            usage: writer(&cfg.usage_topic, AvroCodec::usage()?).await?,
            lineage: writer(&cfg.lineage_topic, AvroCodec::lineage()?).await?,
            schema_changes: writer(&cfg.schema_changes_topic, AvroCodec::schema_change()?).await?,
            delivery_timeout: cfg.delivery_timeout,
        })
    }
}

fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("client.id", "pgmeta-capture")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            cfg.delivery_timeout.as_millis().to_string(),
        )
        // The sink enqueues a whole batch (or chunk) and then waits for its acknowledgements
        // before anything more is sent, so librdkafka's default wait of 5 ms for more records
        // only delays every DDL's events (measured: 5-6 ms of a 22 ms DDL cycle). 1 ms keeps a
        // snapshot's batches full (0 made the 10,000-table snapshot 10-20% slower). A
        // `[kafka.properties]` entry overrides it.
        .set("linger.ms", "1")
        // librdkafka's warnings and errors go through tracing, each kind at most every 30 s
        // (crate::kafka); its statistics feed the pgmeta_capture_kafka_* gauges.
        .set("log_level", "4")
        .set("statistics.interval.ms", "5000");
    for (k, v) in &cfg.properties {
        c.set(k, v.expose());
    }
    c
}

/// The producer, reporting its statistics to the capture's metrics.
fn create_producer(
    config: &ClientConfig,
) -> Result<(FutureProducer<KafkaContext>, crate::kafka::ClientErrors), SinkError> {
    let context = KafkaContext::new("producer", Some(crate::telemetry::metrics().kafka.clone()));
    let client_errors = context.client_errors();
    let producer = config
        .create_with_context(context)
        .map_err(|e| SinkError::Config(e.to_string()))?;
    Ok((producer, client_errors))
}

/// The producer `cfg.transactions` asks for: transactional when the broker has transactions
/// (checked by initializing and committing an empty transaction), else idempotent.
async fn start_producer(
    cfg: &KafkaConfig,
    plain: ClientConfig,
) -> Result<
    (
        ClientConfig,
        FutureProducer<KafkaContext>,
        crate::kafka::ClientErrors,
        bool,
    ),
    SinkError,
> {
    use crate::config::Transactions;
    if cfg.transactions == Transactions::Off {
        let (producer, client_errors) = create_producer(&plain)?;
        return Ok((plain, producer, client_errors, false));
    }
    let id = cfg
        .transactional_id
        .clone()
        .unwrap_or_else(|| format!("pgmeta-capture.{}", cfg.metadata_topic));
    let mut transactional = plain.clone();
    transactional.set("transactional.id", &id).set(
        "transaction.timeout.ms",
        TRANSACTION_TIMEOUT.as_millis().to_string(),
    );
    let (producer, client_errors) = create_producer(&transactional)?;
    let probed = match init_transactions(&producer).await {
        Ok(()) => probe_transactions(&producer, &id, cfg).await,
        Err(e) => Err(e),
    };
    match probed {
        Ok(()) => {
            tracing::info!(transactional_id = %id, "each catalog read is written in one Kafka transaction");
            Ok((transactional, producer, client_errors, true))
        }
        Err(e) if cfg.transactions == Transactions::Auto => {
            tracing::warn!(error = %e, "the broker has no Kafka transactions: writing with the idempotent producer (at least once; a read_committed consumer may see part of a change until the rest arrives)");
            drop(producer);
            let (producer, client_errors) = create_producer(&plain)?;
            Ok((plain, producer, client_errors, false))
        }
        Err(e) => Err(e),
    }
}

/// How long one transaction may stay open: a first snapshot of a large catalog is one.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(600);

/// Registers the transactional id with the broker (fencing an earlier producer with the same
/// id) and commits an empty transaction, which a broker without transactions refuses.
/// librdkafka's transaction calls block: on a blocking thread.
async fn init_transactions(producer: &FutureProducer<KafkaContext>) -> Result<(), SinkError> {
    let producer = producer.clone();
    blocking_transaction(move || {
        producer.init_transactions(Duration::from_secs(10))?;
        producer.begin_transaction()?;
        producer.commit_transaction(Duration::from_secs(10))
    })
    .await
}

/// Commits a transaction that reaches the broker's EndTxn without writing a record: it commits
/// offset 0 of the metadata topic's partition 0 for the probe group
/// `<transactional id>.probe`, which nothing reads. A broker that
/// takes transactional records but cannot end a transaction (tansu 0.6) would otherwise hold
/// them from `read_committed` consumers forever; this finds out before any record is written.
async fn probe_transactions(
    producer: &FutureProducer<KafkaContext>,
    id: &str,
    cfg: &KafkaConfig,
) -> Result<(), SinkError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    // Only what a consumer takes: the brokers and the connection's own properties.
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &cfg.brokers)
        .set("group.id", format!("{id}.probe"))
        .set("log_level", "3");
    for (k, v) in &cfg.properties {
        config.set(k, v.expose());
    }
    let consumer: BaseConsumer<KafkaContext> = config
        .create_with_context(KafkaContext::new("admin", None))
        .map_err(|e| SinkError::Config(e.to_string()))?;
    let group = consumer
        .group_metadata()
        .ok_or_else(|| SinkError::Transaction {
            reason: "no consumer group metadata for the transaction probe".into(),
            code: None,
        })?;
    let (producer, topic) = (producer.clone(), cfg.metadata_topic.clone());
    blocking_transaction(move || {
        let mut offsets = rdkafka::TopicPartitionList::new();
        offsets.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(0))?;
        producer.begin_transaction()?;
        producer.send_offsets_to_transaction(&offsets, &group, Duration::from_secs(10))?;
        producer.commit_transaction(Duration::from_secs(10))
    })
    .await
}

/// Runs a blocking librdkafka transaction call on a blocking thread.
async fn blocking_transaction<F>(call: F) -> Result<(), SinkError>
where
    F: FnOnce() -> rdkafka::error::KafkaResult<()> + Send + 'static,
{
    match tokio::task::spawn_blocking(call).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SinkError::Transaction {
            reason: e.to_string(),
            code: e.rdkafka_error_code(),
        }),
        Err(e) => Err(SinkError::Transaction {
            reason: e.to_string(),
            code: None,
        }),
    }
}

/// Creates `topic` unless it exists.
pub async fn ensure_topic<C: ClientContext + 'static>(
    admin: &AdminClient<C>,
    topic: &str,
    cleanup_policy: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), SinkError> {
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication))
        .set("cleanup.policy", cleanup_policy);
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .map_err(|e| SinkError::Topic {
            topic: topic.into(),
            reason: e.to_string(),
            code: e.rdkafka_error_code(),
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(SinkError::Topic {
                    topic: name,
                    reason: code.to_string(),
                    code: Some(code),
                });
            }
        }
    }
    Ok(())
}

impl Sink for KafkaSink {
    async fn send(&mut self, batch: &[Outbound]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let result = if self.transactional {
            self.send_in_transaction(batch).await
        } else {
            self.send_batch(batch).await
        };
        if result.is_err() {
            // A failed batch is sent again by the next poll. Start that from a fresh producer:
            // the old one's idempotence session (producer id and sequence numbers) may be
            // unknown to a broker that restarted, and it would fail every record from then on.
            if let Err(e) = self.recreate_producer().await {
                tracing::warn!(error = %e, "cannot recreate the Kafka producer; keeping the old one");
            }
        }
        result
    }
}

impl KafkaSink {
    async fn recreate_producer(&mut self) -> Result<(), SinkError> {
        let (producer, client_errors) = create_producer(&self.client_config)?;
        if self.transactional {
            init_transactions(&producer).await?;
        }
        (self.producer, self.client_errors) = (producer, client_errors);
        Ok(())
    }

    /// The whole batch in one transaction: committed once every record is acknowledged,
    /// aborted on any failure, so `read_committed` consumers see all of it or none.
    async fn send_in_transaction(&mut self, batch: &[Outbound]) -> Result<(), SinkError> {
        self.producer
            .begin_transaction()
            .map_err(|e| SinkError::Transaction {
                reason: e.to_string(),
                code: e.rdkafka_error_code(),
            })?;
        let sent = self.send_batch(batch).await;
        let sent = sent.and_then(|()| {
            fail::fail_point!("kafka-transaction-before-commit", |_| {
                Err(SinkError::Transaction {
                    reason: "failpoint kafka-transaction-before-commit".into(),
                    code: None,
                })
            });
            Ok(())
        });
        let producer = self.producer.clone();
        match sent {
            Ok(()) => {
                blocking_transaction(move || {
                    producer
                        .commit_transaction(TRANSACTION_TIMEOUT)
                        .or_else(|e| {
                            // A commit that failed for good is aborted, so nothing of it shows.
                            if matches!(&e, KafkaError::Transaction(t) if t.txn_requires_abort()) {
                                producer.abort_transaction(Duration::from_secs(30))?;
                            }
                            Err(e)
                        })
                })
                .await
            }
            Err(e) => {
                if let Err(abort) = blocking_transaction(move || {
                    producer.abort_transaction(Duration::from_secs(30))
                })
                .await
                {
                    tracing::warn!(error = %abort, "aborting the Kafka transaction failed; the producer is replaced");
                }
                Err(e)
            }
        }
    }

    fn writer(&self, topic: Topic) -> &TopicWriter {
        match topic {
            Topic::Metadata => &self.metadata,
            Topic::Usage => &self.usage,
            Topic::Lineage => &self.lineage,
            Topic::SchemaChanges => &self.schema_changes,
        }
    }

    /// The value of a record (`None` for a tombstone).
    fn payload(&self, item: &Outbound) -> Result<Option<Vec<u8>>, SinkError> {
        Ok(match item {
            Outbound::Event(event) => Some(self.encode_bounded(event)?),
            Outbound::Usage(u) => Some(self.usage.codec.encode_value(u.as_ref(), &u.key())?),
            Outbound::Lineage(l) => Some(self.lineage.codec.encode_value(l.as_ref(), &l.key())?),
            Outbound::SchemaChange(c) => Some(
                self.schema_changes
                    .codec
                    .encode_value(c.as_ref(), &c.object_fqn)?,
            ),
            Outbound::Tombstone { .. } | Outbound::LineageTombstone { .. } => None,
        })
    }

    /// Encodes `event`, shedding large text fields when it would exceed `max_event_bytes`.
    fn encode_bounded(&self, event: &MetadataEvent) -> Result<Vec<u8>, SinkError> {
        let codec = &self.metadata.codec;
        let bytes = codec.encode(event)?;
        if bytes.len() <= self.max_event_bytes {
            return Ok(bytes);
        }
        let mut smaller = event.clone();
        let size = |e: &MetadataEvent| codec.encode(e).map_or(usize::MAX, |b| b.len());
        if !smaller.fit(self.max_event_bytes, size) {
            return Err(SinkError::TooLarge {
                fqn: event.fqn.clone(),
                bytes: size(&smaller),
                limit: self.max_event_bytes,
            });
        }
        tracing::warn!(fqn = %event.fqn, bytes = bytes.len(), limit = self.max_event_bytes, dropped = ?smaller.truncated_fields, "event too large, sent without its largest fields");
        Ok(codec.encode(&smaller)?)
    }
}

/// A delivery failure as the operator should read it. librdkafka purges a producer's queue
/// (`PurgeQueue`) on a fatal error and when a transaction turns abortable (a broker gone, a
/// timeout); a purge is reported as the error that caused it (`cause`: the fatal error, else
/// the last error the client reported), not as the purge.
fn explain_purge(
    failure: (String, Option<RDKafkaErrorCode>),
    cause: impl FnOnce() -> Option<(RDKafkaErrorCode, String)>,
) -> (String, Option<RDKafkaErrorCode>) {
    if failure.1 != Some(RDKafkaErrorCode::PurgeQueue) {
        return failure;
    }
    match cause() {
        Some((code, reason)) if code != RDKafkaErrorCode::PurgeQueue => (
            format!("purged from the producer's queue after: {reason}"),
            Some(code),
        ),
        _ => failure,
    }
}

/// Records in flight at once: bounds the memory of a large snapshot (each chunk is encoded,
/// enqueued and acknowledged before the next), while keeping the producer's batches full.
const CHUNK: usize = 1000;
/// How often a long send logs its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl KafkaSink {
    async fn send_batch(&mut self, batch: &[Outbound]) -> Result<(), SinkError> {
        // A large batch (a first snapshot) reports its progress every few seconds.
        let started = std::time::Instant::now();
        let mut reported = started;
        for (i, chunk) in batch.chunks(CHUNK).enumerate() {
            if reported.elapsed() >= PROGRESS_EVERY {
                reported = std::time::Instant::now();
                let sent = i * CHUNK;
                let rate = sent as f64 / started.elapsed().as_secs_f64().max(0.001);
                tracing::info!(
                    sent,
                    total = batch.len(),
                    per_second = rate.round() as u64,
                    "sending to kafka"
                );
            }
            self.send_chunk(chunk).await.map_err(|e| match e {
                // Count what failed across the whole batch, not the chunk.
                SinkError::Delivery {
                    failed,
                    first_error,
                    code,
                    ..
                } => SinkError::Delivery {
                    failed: failed + batch.len().saturating_sub((i + 1) * CHUNK),
                    total: batch.len(),
                    first_error,
                    code,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    async fn send_chunk(&mut self, batch: &[Outbound]) -> Result<(), SinkError> {
        let mut pending = Vec::with_capacity(batch.len());
        for item in batch {
            let payload = self.payload(item)?;
            let event_type = item.event_type();
            let writer = self.writer(item.topic());
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: HEADER_EVENT_TYPE,
                    value: Some(event_type.as_str()),
                })
                .insert(Header {
                    key: HEADER_SCHEMA_FINGERPRINT,
                    value: Some(writer.fingerprint.as_str()),
                });
            let key = item.key();
            let mut record = FutureRecord::<str, Vec<u8>>::to(&writer.name)
                .key(key.as_ref())
                .headers(headers);
            if let Some(p) = &payload {
                record = record.payload(p);
            }
            // Enqueue without waiting for delivery; wait for queue space when it is full.
            let mut record = record;
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The producer's own thread drains the queue; wait without blocking.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err((e, _)) => {
                        return Err(SinkError::Delivery {
                            failed: batch.len() - pending.len(),
                            total: batch.len(),
                            first_error: e.to_string(),
                            code: e.rdkafka_error_code(),
                        });
                    }
                }
            }
        }
        let deadline = self.delivery_timeout + Duration::from_secs(5);
        let results = tokio::time::timeout(deadline, futures_util::future::join_all(pending)).await;
        let results = results.map_err(|_| SinkError::Delivery {
            failed: batch.len(),
            total: batch.len(),
            first_error: format!("no acknowledgement within {deadline:?}"),
            code: Some(RDKafkaErrorCode::MessageTimedOut),
        })?;
        let mut failed = 0;
        let mut first_error = None;
        for r in results {
            let err = match r {
                Ok(Ok(_)) => continue,
                Ok(Err((e, _))) => (e.to_string(), e.rdkafka_error_code()),
                Err(_) => ("producer dropped the delivery report".to_owned(), None),
            };
            failed += 1;
            // The first error that is not a purge: a purge only follows from another.
            let purge =
                |e: &(String, Option<RDKafkaErrorCode>)| e.1 == Some(RDKafkaErrorCode::PurgeQueue);
            if first_error
                .as_ref()
                .is_none_or(|f| purge(f) && !purge(&err))
            {
                first_error = Some(err);
            }
        }
        // A fatal producer error (an idempotence sequence the broker lost, say) purges every
        // queued record: name that error, not the purge it caused.
        let first_error = first_error.map(|e| {
            explain_purge(e, || {
                self.producer
                    .client()
                    .fatal_error()
                    .or_else(|| self.client_errors.last())
            })
        });
        match first_error {
            None => Ok(()),
            // Records time out when the broker refuses the credentials: say so instead.
            Some((first_error, code)) => match self.client_errors.fatal() {
                Some(auth) if code == Some(RDKafkaErrorCode::MessageTimedOut) => {
                    Err(SinkError::Delivery {
                        failed,
                        total: batch.len(),
                        first_error: auth,
                        code: Some(RDKafkaErrorCode::Authentication),
                    })
                }
                _ => Err(SinkError::Delivery {
                    failed,
                    total: batch.len(),
                    first_error,
                    code,
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_purged_by_a_fatal_producer_error_are_reported_as_that_error() {
        let purged = (
            "Local: Purged in queue".to_owned(),
            Some(RDKafkaErrorCode::PurgeQueue),
        );
        let fatal = || {
            Some((
                RDKafkaErrorCode::OutOfOrderSequenceNumber,
                "ProduceRequest failed due to sequence desynchronization".to_owned(),
            ))
        };
        let (reason, code) = explain_purge(purged.clone(), fatal);
        assert_eq!(code, Some(RDKafkaErrorCode::OutOfOrderSequenceNumber));
        assert!(reason.contains("sequence desynchronization"), "{reason}");
        // A purge without a fatal error (the producer was dropped) stays a purge.
        assert_eq!(explain_purge(purged.clone(), || None), purged);
        // Other failures are not touched, even when the producer also failed.
        let timed_out = (
            "Local: Message timed out".to_owned(),
            Some(RDKafkaErrorCode::MessageTimedOut),
        );
        assert_eq!(explain_purge(timed_out.clone(), fatal), timed_out);
    }
}
