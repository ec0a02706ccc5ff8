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

use super::applier::{Applied, Applier};
use super::backoff::backoff;
use super::client::{ApplyError, Cause};
use super::name::EntityName;
use super::parked::{Parked, Position, Retry};
use super::{kafka_code, metrics};
use crate::codec::AvroCodec;
use crate::event::{LineageEvent, UsageEvent};
use crate::model::EntityType;
use crate::openmetadata::kind;
use crate::shutdown::Shutdown;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub brokers: String,
    pub group_id: String,
    pub metadata_topic: String,
    pub usage_topic: String,
    pub lineage_topic: String,
    pub dead_letter_topic: String,
    /// Events applied concurrently (by key, so one entity's events stay in order).
    pub lanes: usize,
    pub batch_size: usize,
    /// How long an event may wait for an entity it refers to before it is dead-lettered.
    pub missing_entity_timeout: Duration,
    /// Longest pause between retries.
    pub max_backoff: Duration,
    /// Static group membership (`group.instance.id` = `<instance_id>.<stream>`): a restarted
    /// instance takes its partitions back at once instead of after the session timeout.
    pub instance_id: Option<String>,
    /// librdkafka settings passed through (security, SASL, ...).
    pub kafka_options: Vec<(String, String)>,
}

/// Which stream a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Metadata,
    Usage,
    Lineage,
}

impl Stream {
    pub fn label(self) -> &'static str {
        match self {
            Stream::Metadata => "metadata",
            Stream::Usage => "usage",
            Stream::Lineage => "lineage",
        }
    }
}

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
    consumer: StreamConsumer,
    producer: FutureProducer,
    applier: std::sync::Arc<Applier>,
    codecs: Codecs,
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

/// librdkafka options pgmeta-apply sets itself because its delivery guarantee rests on them,
/// with the only value an operator may also give them: offsets are stored and committed only
/// after an event is applied or dead-lettered, and the dead-letter producer is idempotent
/// with `acks=all`. Anything else would lose or skip events on a crash, so it is refused.
const PINNED_OPTIONS: &[(&str, &[&str])] = &[
    ("enable.auto.commit", &["false"]),
    ("enable.auto.offset.store", &["false"]),
    ("enable.idempotence", &["true"]),
    ("acks", &["all", "-1"]),
    ("isolation.level", &["read_committed"]),
];

/// Refuses `--kafka-option`s that would break at-least-once delivery, naming the option.
pub fn check_kafka_options(options: &[(String, String)]) -> Result<(), String> {
    for (key, value) in options {
        if let Some((_, allowed)) = PINNED_OPTIONS.iter().find(|(k, _)| k == key) {
            if !allowed.contains(&value.trim()) {
                return Err(format!(
                    "--kafka-option {key}={value}: pgmeta-apply commits an offset only after its event is applied or dead-lettered; {key} must stay {}",
                    allowed.join(" or ")
                ));
            }
        }
    }
    Ok(())
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
            .set("session.timeout.ms", "10000")
            // An idle fetch returns after 100 ms, not librdkafka's 500: a DDL reaches the
            // catalog that much sooner, for a few more fetch requests while idle.
            .set("fetch.wait.max.ms", "100")
            .set("client.id", "pgmeta-apply");
        if let Some(id) = &config.instance_id {
            c.set("group.instance.id", format!("{id}.{}", stream.label()));
        }
        let mut p = ClientConfig::new();
        p.set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("client.id", "pgmeta-apply-dlq");
        for (k, v) in &config.kafka_options {
            c.set(k, v);
            p.set(k, v);
        }
        let consumer: StreamConsumer = c.create().map_err(|e| format!("kafka consumer: {e}"))?;
        let producer: FutureProducer = p.create().map_err(|e| format!("kafka producer: {e}"))?;
        let topic = match stream {
            Stream::Metadata => config.metadata_topic.as_str(),
            Stream::Usage => config.usage_topic.as_str(),
            Stream::Lineage => config.lineage_topic.as_str(),
        };
        consumer
            .subscribe(&[topic])
            .map_err(|e| format!("kafka subscribe to {topic}: {e}"))?;
        let codec = |c: Result<AvroCodec, crate::codec::CodecError>| c.map_err(|e| e.to_string());
        Ok(ApplyConsumer {
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

    /// Whether an event waiting for an entity is parked rather than waited for in place: for
    /// lineage and usage, whose events of different keys are independent. Metadata events
    /// wait in place: a parent must exist before its children.
    fn parks(&self) -> bool {
        self.stream != Stream::Metadata
    }

    fn parked(&self) -> std::sync::MutexGuard<'_, Parked<OwnedMessage>> {
        self.parked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    fn show_parked(&self, parked: usize) {
        metrics()
            .parked
            .with_label_values(&[self.stream.label()])
            .set(i64::try_from(parked).unwrap_or(i64::MAX));
    }

    fn park(&self, msg: &OwnedMessage, key: Vec<u8>, first_retry: Duration) {
        let at = Position {
            topic: msg.topic().to_owned(),
            partition: msg.partition(),
            offset: msg.offset(),
        };
        let mut parked = self.parked();
        parked.park(at, key, msg.clone(), Instant::now(), first_retry);
        self.show_parked(parked.len());
    }

    /// Tries once more each parked event that is due; returns the partitions whose oldest
    /// parked event may have moved.
    async fn retry_parked(&self, shutdown: &Shutdown) -> BTreeSet<(String, i32)> {
        let mut touched = BTreeSet::new();
        let due: Vec<(Position, OwnedMessage, Duration, u32)> = self
            .parked()
            .due(Instant::now())
            .into_iter()
            .map(|(at, m, waited, attempts)| (at, m.clone(), waited, attempts))
            .collect();
        for (at, msg, waited, attempts) in due {
            if shutdown.is_triggered() {
                break;
            }
            let result = match self.apply_payload(self.stream, &msg).await {
                Ok(applied) => {
                    self.count(if applied == Applied::Done {
                        Outcome::Applied
                    } else {
                        Outcome::Skipped
                    });
                    Retry::Done
                }
                // Refused, or waited for its entity long enough: dead-lettered.
                Err(e)
                    if matches!(e, ApplyError::Definite { .. })
                        || (matches!(e, ApplyError::Missing(_))
                            && waited >= self.config.missing_entity_timeout) =>
                {
                    let outcome = self.dead_letter(&msg, &e, &mut shutdown.clone()).await;
                    if outcome == Outcome::Interrupted {
                        break;
                    }
                    self.count(outcome);
                    Retry::Done
                }
                Err(e) => {
                    metrics()
                        .retries
                        .with_label_values(&[self.stream.label(), e.error_type()])
                        .inc();
                    if attempts % 10 == 9 {
                        tracing::warn!(stream = self.stream.label(), partition = at.partition, offset = at.offset, waited_s = waited.as_secs(), error = %e, "parked event still waiting");
                    }
                    Retry::Waiting
                }
            };
            let wait = backoff(attempts.saturating_add(1), self.config.max_backoff);
            let mut parked = self.parked();
            parked.retried(&at, result, Instant::now(), wait);
            self.show_parked(parked.len());
            touched.insert((at.topic, at.partition));
        }
        touched
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

    /// Records how far each partition of the batch was consumed; returns those partitions.
    fn consumed(&self, batch: &[OwnedMessage]) -> BTreeSet<(String, i32)> {
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for m in batch {
            let e = next
                .entry((m.topic().to_owned(), m.partition()))
                .or_insert(0);
            *e = (*e).max(m.offset() + 1);
        }
        let mut progress = self
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (p, offset) in &next {
            let e = progress.entry(p.clone()).or_insert((0, -1));
            e.0 = e.0.max(*offset);
        }
        next.into_keys().collect()
    }

    /// Commits, for each of `partitions` that this consumer holds, the offset after the last
    /// message consumed, or the oldest parked offset when one waits there.
    async fn commit(
        self: &std::sync::Arc<Self>,
        partitions: BTreeSet<(String, i32)>,
    ) -> Result<(), String> {
        // Unknown (the client cannot say) or empty (between a revocation and the next
        // assignment): nothing is dropped, the commit is tried anyway. Only partitions known
        // to be held by another consumer now lose their parked events and progress here.
        let assigned: Option<HashSet<(String, i32)>> = self
            .consumer
            .assignment()
            .ok()
            .filter(|tpl| tpl.count() > 0)
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect()
            });
        let mut tpl = TopicPartitionList::new();
        {
            let mut parked = self.parked();
            let mut progress = self
                .progress
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(assigned) = &assigned {
                parked.retain_assigned(&assigned.iter().cloned().collect::<Vec<_>>());
                progress.retain(|p, _| assigned.contains(p));
            }
            for p in partitions {
                let Some((consumed, committed)) = progress.get_mut(&p) else {
                    continue;
                };
                let offset = parked.floor(&p.0, p.1).unwrap_or(*consumed);
                if offset <= *committed {
                    continue;
                }
                *committed = offset;
                tpl.add_partition_offset(&p.0, p.1, Offset::Offset(offset))
                    .map_err(|e| format!("offset for {}/{}: {e}", p.0, p.1))?;
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        // librdkafka's synchronous commit blocks on the broker: on a blocking thread. A failed
        // commit (rebalance, broker away) only means a redelivery, which is harmless.
        let this = self.clone();
        let result =
            tokio::task::spawn_blocking(move || this.consumer.commit(&tpl, CommitMode::Sync)).await;
        let (failure, code) = match result {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => (e.to_string(), kafka_code(&e)),
            Err(e) => (e.to_string(), "none".to_owned()),
        };
        metrics().errors.with_label_values(&["commit", &code]).inc();
        tracing::warn!(error = %failure, error.code = %code, "offset commit failed; the batch may be applied again");
        Ok(())
    }

    /// Consumer lag of every assigned partition: the high watermark less the consumer's
    /// position. Refreshed every 5 s, idle or not, so it returns to zero once caught up. Blocks
    /// on the broker: called on a blocking thread.
    fn record_lag(&self) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        for p in positions.elements() {
            let (topic, partition) = (p.topic(), p.partition());
            let watermarks =
                self.consumer
                    .fetch_watermarks(topic, partition, Duration::from_secs(1));
            let Ok((low, high)) = watermarks else {
                continue;
            };
            // Nothing consumed yet on this partition: all of it is behind.
            let next = match p.offset() {
                Offset::Offset(n) => n,
                _ => low,
            };
            metrics()
                .consumer_lag
                .with_label_values(&[self.stream.label(), &partition.to_string()])
                .set((high - next).max(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_break_at_least_once_are_refused() {
        let opt = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        for (k, v) in [
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "true"),
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("isolation.level", "read_uncommitted"),
        ] {
            let err = check_kafka_options(&opt(k, v)).expect_err("refused");
            assert!(err.contains(k) && err.contains("must stay"), "{err}");
        }
        for (k, v) in [
            ("enable.auto.commit", "false"),
            ("acks", "-1"),
            ("security.protocol", "SASL_SSL"),
        ] {
            assert_eq!(check_kafka_options(&opt(k, v)), Ok(()), "{k}={v}");
        }
    }
}
