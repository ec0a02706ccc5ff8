//! pgmeta-apply: consumes the metadata, usage and lineage topics and applies the events to an
//! OpenMetadata-compatible metadata server (OpenMetadata itself, or pgmeta-catalog).
//!
//! ```text
//!  Kafka ─► ApplyConsumer (batches, lanes by key) ─► decode (Avro) ─► Applier ─► HttpMetadataClient
//!     ▲                                                    │ definite error
//!     └── commit offsets ◄── every event applied or ───────┴─► dead-letter topic
//! ```
//!
//! Delivery: offsets are committed only after the server acknowledged each event of the batch
//! or the dead-letter topic holds it (a lineage or usage event waiting for its table is parked,
//! and commits stop at it: see `parked`), so a crash repeats at most what follows the oldest
//! unfinished event; the applier makes a repeat change nothing (create-or-update, stale events
//! skipped).

mod applier;
mod backoff;
mod client;
mod consumer;
mod dead_letter;
mod downstream;
mod mapping;
mod name;
mod parked;
mod stamps;

pub use applier::{Applied, Applier, ApplierConfig};
pub use backoff::backoff;
pub use client::{ApplyError, Cause, HttpMetadataClient, encode_path};
pub use consumer::{ApplyConsumer, ConsumerConfig, Stream, check_kafka_options};
pub use downstream::downstream_edges;
pub use mapping::{create_request, data_type, lineage_details};
pub use name::{BadName, EntityName};

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry};
use std::sync::LazyLock;

/// pgmeta-apply's metrics.
#[derive(Debug)]
pub struct ApplyMetrics {
    registry: Registry,
    /// Events by `stream` (metadata, usage, lineage) and `outcome` (applied, skipped,
    /// dead_lettered, interrupted).
    pub events: IntCounterVec,
    /// Retries by `stream` and `error_type`: `transient` (server or network) or `missing` (an
    /// entity the event refers to is not there yet).
    pub retries: IntCounterVec,
    /// Errors outside applying, by `error_type` (kafka, commit, dead_letter).
    pub errors: IntCounterVec,
    /// From first try to acknowledged, per applied event (retries included).
    pub apply_latency: Histogram,
    pub batch_duration: Histogram,
    /// Messages behind the partition's end after the last batch, by `stream` and `partition`.
    pub consumer_lag: IntGaugeVec,
    /// Lineage and usage events set aside while they wait for their tables, by `stream`.
    pub parked: IntGaugeVec,
    /// From the Kafka clients' statistics.
    pub kafka: crate::kafka::KafkaMetrics,
    /// jemalloc's counters, read at each scrape.
    allocator: crate::memory::AllocatorMetrics,
    /// Events written to the dead-letter topic, by `stream` and `cause` (`http_409`,
    /// `network`, `request`, `malformed_event`, `not_an_event`, `missing_entity`).
    pub dead_letters: IntCounterVec,
    /// Calls to the metadata server, by `request` (method and path pattern, e.g.
    /// `GET /tables/name`) and `status` class (2xx, 4xx, 5xx, or `failed`: no answer).
    pub server_requests: IntCounterVec,
}

static METRICS: LazyLock<ApplyMetrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let events = IntCounterVec::new(
        Opts::new(
            "pgmeta_apply_events_total",
            "Events consumed, by stream and outcome",
        ),
        &["stream", "outcome"],
    )
    .expect("valid metric");
    let retries = IntCounterVec::new(
        Opts::new(
            "pgmeta_apply_retries_total",
            "Retries, by stream and error type (transient, missing)",
        ),
        &["stream", "error_type"],
    )
    .expect("valid metric");
    let errors = IntCounterVec::new(
        Opts::new(
            "pgmeta_apply_errors_total",
            "Errors outside applying, by error type and librdkafka error code",
        ),
        &["error_type", "code"],
    )
    .expect("valid metric");
    let buckets = vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    let apply_latency = Histogram::with_opts(
        HistogramOpts::new(
            "pgmeta_apply_latency_seconds",
            "Time to apply one event, retries included",
        )
        .buckets(buckets.clone()),
    )
    .expect("valid metric");
    let batch_duration = Histogram::with_opts(
        HistogramOpts::new(
            "pgmeta_apply_batch_duration_seconds",
            "Time to apply one batch",
        )
        .buckets(buckets),
    )
    .expect("valid metric");
    let consumer_lag = IntGaugeVec::new(
        Opts::new(
            "pgmeta_apply_consumer_lag_messages",
            "Messages behind the end of the partition",
        ),
        &["stream", "partition"],
    )
    .expect("valid metric");
    let parked = IntGaugeVec::new(
        Opts::new(
            "pgmeta_apply_parked_events",
            "Lineage and usage events waiting for their tables, set aside while the stream goes on",
        ),
        &["stream"],
    )
    .expect("valid metric");
    let dead_letters = IntCounterVec::new(
        Opts::new(
            "pgmeta_apply_dead_letters_total",
            "Events written to the dead-letter topic, by stream and cause",
        ),
        &["stream", "cause"],
    )
    .expect("valid metric");
    let server_requests = IntCounterVec::new(
        Opts::new(
            "pgmeta_apply_server_requests_total",
            "Calls to the metadata server, by request and status class",
        ),
        &["request", "status"],
    )
    .expect("valid metric");
    for m in [
        Box::new(events.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(server_requests.clone()),
        Box::new(retries.clone()),
        Box::new(errors.clone()),
        Box::new(apply_latency.clone()),
        Box::new(batch_duration.clone()),
        Box::new(consumer_lag.clone()),
        Box::new(parked.clone()),
        Box::new(dead_letters.clone()),
    ] {
        registry.register(m).expect("metric registered once");
    }
    // Every known label set starts at zero, so rates and alerts work before the first event.
    for stream in ["metadata", "usage", "lineage"] {
        for outcome in ["applied", "skipped", "dead_lettered", "interrupted"] {
            events.with_label_values(&[stream, outcome]);
        }
        for error_type in ["transient", "missing"] {
            retries.with_label_values(&[stream, error_type]);
        }
        parked.with_label_values(&[stream]);
    }
    // Each error type's series exists from the start (at zero, code `none`), so a rate over
    // it is defined before the first error.
    for error_type in ["kafka", "commit", "dead_letter"] {
        errors.with_label_values(&[error_type, "none"]);
    }
    let kafka = crate::kafka::KafkaMetrics::register("pgmeta_apply_", &registry);
    let allocator = crate::memory::AllocatorMetrics::register("pgmeta_apply_", &registry);
    ApplyMetrics {
        kafka,
        allocator,
        registry,
        events,
        retries,
        errors,
        apply_latency,
        batch_duration,
        consumer_lag,
        parked,
        dead_letters,
        server_requests,
    }
});

pub fn metrics() -> &'static ApplyMetrics {
    &METRICS
}

impl ApplyMetrics {
    pub fn render(&self) -> String {
        self.allocator.update();
        crate::telemetry::render(&self.registry)
    }
}

/// librdkafka's name for the code of a Kafka client error (`BrokerTransportFailure`), or
/// `none`: a bounded value for a metric label and a log field, where the message is not.
fn kafka_code(e: &rdkafka::error::KafkaError) -> String {
    e.rdkafka_error_code()
        .map_or_else(|| "none".to_owned(), |code| format!("{code:?}"))
}
