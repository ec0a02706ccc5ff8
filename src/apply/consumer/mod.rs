//! The consumer loop: batches from the metadata, usage and lineage topics, applied in lanes,
//! offsets stored and committed only for what the server acknowledged or the dead-letter
//! topic holds.
//!
//! ```text
//!  poll ─► batch (≤ batch_size, ≤ 50 ms) ─► lanes by object (metadata) or key: in order within a lane
//!            │ transient: retry (backoff + jitter), the lane waits — no reordering of a key
//!            │ missing entity (lineage, usage): parked, retried on its own; its key waits behind it
//!            │ definite:  dead-letter topic (error in headers), then on
//!            └─► every lane done ─► retry what is due of the parked
//!                 ─► commit offset+1 per partition, never past the oldest parked
//! ```
//! A crash or kill repeats at most what follows the oldest unfinished event, which the applier
//! makes harmless.

mod offsets;
mod options;
mod parking;
mod schemas;

pub use options::{ConsumerConfig, Stream, check_kafka_options};

use super::applier::{Applied, Applier};
use super::backoff::backoff;
use super::client::{ApplyError, Cause};
use super::name::EntityName;
use super::parked::Parked;
use super::{kafka_code, metrics};
use crate::codec::AvroCodec;
use crate::event::{LineageEvent, UsageEvent};
use crate::kafka::KafkaContext;
use crate::model::EntityType;
use crate::openmetadata::kind;
use crate::shutdown::Shutdown;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

struct Codecs {
    metadata: AvroCodec,
    usage: AvroCodec,
    lineage: AvroCodec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Skipped,
    DeadLettered,
    /// Shutdown came while the event was still failing: not done.
    Interrupted,
    /// Waiting for an entity it refers to: set aside (see `apply::parked`).
    Parked,
}

/// One stream's consumer. Each stream has its own consumer group (`<group>.<stream>`), so a
/// lineage or usage event waiting for its table never holds back the metadata that brings it.
pub struct ApplyConsumer {
    config: ConsumerConfig,
    stream: Stream,
    consumer: StreamConsumer<KafkaContext>,
    producer: FutureProducer<KafkaContext>,
    applier: std::sync::Arc<Applier>,
    codecs: Codecs,
    /// The registry records in its framing name their writer schema in.
    registry: Option<crate::registry::SchemaRegistry>,
    /// The partitions held at the last batch: when they change, listings are dropped.
    assignment: std::sync::Mutex<Vec<(String, i32)>>,
    /// Lineage and usage events waiting for their tables.
    parked: std::sync::Mutex<Parked<OwnedMessage>>,
    /// Per partition: the offset after the last message consumed, and the last committed.
    progress: std::sync::Mutex<HashMap<(String, i32), (i64, i64)>>,
}

/// A metadata batch with at least this many tables of one schema has the schema's tables
/// listed (one call) instead of one GET per event.
const LISTING_MIN_EVENTS: usize = 16;

impl std::fmt::Debug for ApplyConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyConsumer")
            .field("group_id", &self.config.group_id)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl ApplyConsumer {
    pub fn new(
        config: ConsumerConfig,
        stream: Stream,
        applier: std::sync::Arc<Applier>,
    ) -> Result<ApplyConsumer, String> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &config.brokers)
            .set(
                "group.id",
                format!("{}.{}", config.group_id, stream.label()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // Records of an aborted capture transaction are never applied.
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", "10000")
            // An idle fetch returns after 100 ms, not librdkafka's 500: a DDL reaches the
            // catalog that much sooner, for a few more fetch requests while idle.
            .set("fetch.wait.max.ms", "100")
            .set("client.id", "pgmeta-apply")
            .set("log_level", "4")
            .set("statistics.interval.ms", "5000");
        if let Some(id) = &config.instance_id {
            c.set("group.instance.id", format!("{id}.{}", stream.label()));
        }
        let mut p = ClientConfig::new();
        p.set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("client.id", "pgmeta-apply-dlq")
            .set("log_level", "4")
            .set("statistics.interval.ms", "5000");
        for (k, v) in &config.kafka_options {
            c.set(k, v);
            p.set(k, v);
        }
        let kafka_metrics = || Some(metrics().kafka.clone());
        let consumer: StreamConsumer<KafkaContext> = c
            .create_with_context(KafkaContext::new(stream.label(), kafka_metrics()))
            .map_err(|e| format!("kafka consumer: {e}"))?;
        let producer: FutureProducer<KafkaContext> = p
            .create_with_context(KafkaContext::new("dead_letter", kafka_metrics()))
            .map_err(|e| format!("kafka producer: {e}"))?;
        let topic = match stream {
            Stream::Metadata => config.metadata_topic.as_str(),
            Stream::Usage => config.usage_topic.as_str(),
            Stream::Lineage => config.lineage_topic.as_str(),
        };
        consumer
            .subscribe(&[topic])
            .map_err(|e| format!("kafka subscribe to {topic}: {e}"))?;
        let codec = |c: Result<AvroCodec, crate::codec::CodecError>| c.map_err(|e| e.to_string());
        let registry = config
            .schema_registry
            .as_ref()
            .map(crate::registry::SchemaRegistry::new)
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(ApplyConsumer {
            registry,
            codecs: Codecs {
                metadata: codec(AvroCodec::metadata())?,
                usage: codec(AvroCodec::usage())?,
                lineage: codec(AvroCodec::lineage())?,
            },
            config,
            stream,
            consumer,
            producer,
            applier,
            assignment: std::sync::Mutex::new(Vec::new()),
            parked: std::sync::Mutex::new(Parked::default()),
            progress: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Creates the dead-letter topic (delete policy, one partition) unless it exists.
    async fn ensure_dead_letter_topic(&self) -> Result<(), String> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.config.brokers);
        for (k, v) in &self.config.kafka_options {
            c.set(k, v);
        }
        let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
            c.create().map_err(|e| format!("kafka admin: {e}"))?;
        crate::sink::ensure_topic(&admin, &self.config.dead_letter_topic, "delete", 1, 1)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs until shutdown; the batch in flight is finished (or, when the server is down,
    /// left uncommitted) and the offsets of what was applied are committed.
    pub async fn run(self, mut shutdown: Shutdown) -> Result<(), String> {
        self.ensure_dead_letter_topic().await?;
        tracing::info!(group = %self.config.group_id, stream = self.stream.label(), "pgmeta-apply consuming");
        let this = std::sync::Arc::new(self);
        // The lag gauge on its own blocking thread: the broker's answer never holds up events.
        let lag = {
            let (this, mut shutdown) = (this.clone(), shutdown.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = shutdown.wait() => break,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {
                            let this = this.clone();
                            let _ = tokio::task::spawn_blocking(move || this.record_lag()).await;
                        }
                    }
                }
            })
        };
        loop {
            let next_due = this.parked().next_due();
            let first = tokio::select! {
                _ = shutdown.wait() => break,
                m = this.consumer.recv() => m,
                _ = async {
                    match next_due {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    // Idle, and a parked event is due.
                    let touched = this.retry_parked(&shutdown).await;
                    this.commit(touched).await?;
                    continue;
                }
            };
            let first = match first {
                Ok(m) => m.detach(),
                Err(e) => {
                    let code = kafka_code(&e);
                    metrics().errors.with_label_values(&["kafka", &code]).inc();
                    // No retry cures a refused credential or ACL: stop and say what to change.
                    if let Some(c) = e
                        .rdkafka_error_code()
                        .filter(|c| crate::kafka::is_fatal(*c))
                    {
                        return Err(format!(
                            "Kafka refuses pgmeta-apply's consumer: {e}{}",
                            crate::kafka::hint(Some(c))
                        ));
                    }
                    tracing::warn!(error = %e, error.code = %code, "kafka consume error; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
            while batch.len() < this.config.batch_size {
                match tokio::time::timeout_at(deadline, this.consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(m.detach()),
                    Ok(Err(e)) => {
                        let code = kafka_code(&e);
                        metrics().errors.with_label_values(&["kafka", &code]).inc();
                        tracing::warn!(error = %e, error.code = %code, "kafka consume error");
                        break;
                    }
                    Err(_) => break,
                }
            }
            if !this.learn_schemas(&batch, &shutdown).await? {
                continue;
            }
            let complete = this.apply_batch(&batch, &shutdown).await;
            if complete {
                let mut touched = this.consumed(&batch);
                touched.extend(this.retry_parked(&shutdown).await);
                this.commit(touched).await?;
            } else {
                tracing::info!(
                    events = batch.len(),
                    "batch interrupted by shutdown; left uncommitted"
                );
                break;
            }
        }
        lag.abort();
        tracing::info!(stream = this.stream.label(), "pgmeta-apply stopped");
        Ok(())
    }

    /// Applies a batch; `false` when shutdown interrupted it.
    async fn apply_batch(&self, batch: &[OwnedMessage], shutdown: &Shutdown) -> bool {
        let started = Instant::now();
        if self.stream == Stream::Metadata {
            self.prefetch_listings(batch).await;
        }
        let lanes = self.config.lanes.max(1);
        let mut by_lane: Vec<Vec<(&OwnedMessage, Vec<u8>)>> = vec![Vec::new(); lanes];
        for m in batch {
            let key = self.lane_key(m);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            by_lane[(h.finish() % lanes as u64) as usize].push((m, key));
        }
        let runs = by_lane
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(|lane| async move {
                for (m, key) in lane {
                    // Behind a parked event of its key: parked too, in order.
                    if self.parks() && self.parked().blocks(&key) {
                        self.park(m, key, Duration::from_millis(100));
                        continue;
                    }
                    match self.apply_one(m, shutdown.clone()).await {
                        Outcome::Interrupted => return false,
                        Outcome::Parked => self.park(m, key, Duration::from_millis(100)),
                        _ => {}
                    }
                }
                true
            });
        let done = futures_util::future::join_all(runs).await;
        let m = metrics();
        m.batch_duration.observe(started.elapsed().as_secs_f64());
        done.into_iter().all(|d| d)
    }

    /// Lists the tables of each schema this batch brings many of (see `apply::stamps`); first
    /// drops every listing if the partitions held changed since the last batch.
    async fn prefetch_listings(&self, batch: &[OwnedMessage]) {
        let assigned: Vec<(String, i32)> = self
            .consumer
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(mut last) = self.assignment.lock() {
            if *last != assigned {
                self.applier.forget_listings();
                *last = assigned;
            }
        }
        let mut per_schema: HashMap<String, usize> = HashMap::new();
        for m in batch {
            // Metadata events are keyed by FQN; service.database.schema.table has 4 parts.
            let Some(Ok(key)) = m.key_view::<str>() else {
                continue;
            };
            if let Some(schema) = EntityName::parse(EntityType::Table, key)
                .ok()
                .and_then(|n| n.parent())
            {
                *per_schema.entry(schema.fqn()).or_default() += 1;
            }
        }
        let schemas: Vec<String> = per_schema
            .into_iter()
            .filter(|(_, n)| *n >= LISTING_MIN_EVENTS)
            .map(|(s, _)| s)
            .collect();
        if !schemas.is_empty() {
            self.applier.prefetch(&kind::TABLE, &schemas).await;
        }
    }

    /// What decides a message's lane: events of one lane apply in order. A metadata event's
    /// lane is its object's (database, entity type, OID), not its key: a rename's event is
    /// keyed by the new name and the object's earlier events by the old one, and run in two
    /// lanes a stale PUT of the old name could land after the rename retired it. Other
    /// streams, and what does not decode, go by key.
    fn lane_key(&self, m: &OwnedMessage) -> Vec<u8> {
        if self.stream == Stream::Metadata {
            if let Some(Ok(e)) = m.payload().map(|p| self.codecs.metadata.decode(p)) {
                return format!(
                    "{}\u{0}{}\u{0}{}",
                    e.source.database,
                    e.entity_type.as_str(),
                    e.object_id
                )
                .into_bytes();
            }
        }
        m.key().unwrap_or_default().to_vec()
    }

    fn count(&self, outcome: Outcome) {
        let label = match outcome {
            Outcome::Applied => "applied",
            Outcome::Skipped => "skipped",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Interrupted => "interrupted",
            Outcome::Parked => return,
        };
        metrics()
            .events
            .with_label_values(&[self.stream.label(), label])
            .inc();
    }

    async fn apply_one(&self, msg: &OwnedMessage, mut shutdown: Shutdown) -> Outcome {
        let stream = self.stream;
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let outcome = loop {
            let result = self.apply_payload(stream, msg).await;
            match result {
                Ok(Applied::Done) => break Outcome::Applied,
                Ok(Applied::Skipped) => break Outcome::Skipped,
                Err(e @ ApplyError::Definite { .. }) => {
                    break self.dead_letter(msg, &e, &mut shutdown).await;
                }
                Err(ApplyError::Missing(_)) if self.parks() => {
                    metrics()
                        .retries
                        .with_label_values(&[stream.label(), "missing"])
                        .inc();
                    break Outcome::Parked;
                }
                Err(e @ (ApplyError::Transient { .. } | ApplyError::Missing(_))) => {
                    let missing = matches!(e, ApplyError::Missing(_));
                    if missing && started.elapsed() >= self.config.missing_entity_timeout {
                        break self.dead_letter(msg, &e, &mut shutdown).await;
                    }
                    let reason = e.to_string();
                    metrics()
                        .retries
                        .with_label_values(&[stream.label(), e.error_type()])
                        .inc();
                    let wait = backoff(attempt, self.config.max_backoff);
                    attempt = attempt.saturating_add(1);
                    if attempt == 1 || attempt % 10 == 0 {
                        tracing::warn!(stream = stream.label(), attempt, retry_in_ms = wait.as_millis() as u64, error = %reason, "transient apply failure; retrying");
                    }
                    tokio::select! {
                        _ = shutdown.wait() => break Outcome::Interrupted,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        };
        self.count(outcome);
        if outcome == Outcome::Applied {
            metrics()
                .apply_latency
                .observe(started.elapsed().as_secs_f64());
        }
        outcome
    }

    async fn apply_payload(
        &self,
        stream: Stream,
        msg: &OwnedMessage,
    ) -> Result<Applied, ApplyError> {
        let Some(payload) = msg.payload() else {
            // A tombstone: compaction's business, nothing to apply.
            return Ok(Applied::Skipped);
        };
        let undecodable = |e: crate::codec::CodecError| {
            ApplyError::definite(
                Cause::NotAnEvent,
                format!("not a pgmeta {} event: {e}", stream.label()),
            )
        };
        match stream {
            Stream::Metadata => {
                let e = self.codecs.metadata.decode(payload).map_err(undecodable)?;
                self.applier.metadata(&e).await
            }
            Stream::Usage => {
                let e: UsageEvent = self
                    .codecs
                    .usage
                    .decode_value(payload)
                    .map_err(undecodable)?;
                self.applier.usage(&e).await
            }
            Stream::Lineage => {
                let e: LineageEvent = self
                    .codecs
                    .lineage
                    .decode_value(payload)
                    .map_err(undecodable)?;
                self.applier.lineage(&e).await
            }
        }
    }

    /// Writes the message to the dead-letter topic with why (see `apply::dead_letter`), and
    /// counts it by cause.
    async fn dead_letter(
        &self,
        msg: &OwnedMessage,
        error: &ApplyError,
        shutdown: &mut Shutdown,
    ) -> Outcome {
        let cause = error.cause().label();
        let written = super::dead_letter::write(
            &self.producer,
            &self.config.dead_letter_topic,
            msg,
            (&error.to_string(), &cause),
            self.config.max_backoff,
            shutdown,
        )
        .await;
        if !written {
            return Outcome::Interrupted;
        }
        metrics()
            .dead_letters
            .with_label_values(&[self.stream.label(), &cause])
            .inc();
        Outcome::DeadLettered
    }
}
