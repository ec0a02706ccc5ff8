//! Prometheus metrics, in one place. Names follow `pgmeta_capture_<name>_<unit>[_total]`;
//! labels are bounded (entity type, operation, outcome), never a table name or error text.
//! `METRICS.md` lists them.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Records written and acknowledged, by `entity_type` and `op` (`tombstone` for tombstones).
    pub events: IntCounterVec,
    /// Catalog reads by `outcome`: `changed`, `unchanged` (signature equal) or `error`.
    pub polls: IntCounterVec,
    pub poll_duration: Histogram,
    /// Unix time of the last successful catalog read.
    pub last_success: Gauge,
    /// WAL between the server's current position and the slot's confirmed flush position.
    pub slot_lag_bytes: IntGauge,
    /// How long the oldest received but unacknowledged DDL transaction has waited.
    pub slot_lag_seconds: Gauge,
    pub slot_confirmed_lsn: IntGauge,
    /// pg_stat_statements reads by `outcome`: `ok`, `error` or `unavailable`.
    pub usage_polls: IntCounterVec,
    /// Entries of pg_stat_statements for the captured database at the last read.
    pub stat_statements_entries: IntGauge,
    /// Entries pg_stat_statements evicted (its `dealloc` counter, PostgreSQL 14+).
    pub stat_statements_deallocations: IntCounter,
    /// Resets of pg_stat_statements noticed.
    pub stat_statements_resets: IntCounter,
    /// Statements parsed for lineage, by `outcome`: `ok` or `error`.
    pub statements_parsed: IntCounterVec,
    /// Calls counted by pg_stat_statements whose statement does not parse, so no table gets
    /// them: the usage that is lost, made visible.
    pub usage_unattributed_calls: IntCounter,
    /// Failed reads and sends, by `source` (`catalog`, `usage`), `system` (`postgres`,
    /// `kafka`, `state`, ...) and `code` (SQLSTATE, librdkafka error name, I/O error kind).
    pub errors: IntCounterVec,
    /// Classified schema changes written, by `class` (BREAKING, ...), `rule`
    /// (`column.dropped`, ...; the fixed rule table of `schema_change::rules`) and `contract`
    /// (`violated` when it breaks a protected table or column, else `none`).
    pub schema_changes: IntCounterVec,
    /// DDL commands from the slot that change nothing pgmeta emits (REFRESH MATERIALIZED
    /// VIEW, REINDEX): no catalog read was made for them.
    pub ddl_skipped: IntCounter,
    /// Catalog reads by `scope`: `full` (the whole catalog: polls, and DDL that cannot be
    /// narrowed) or `targeted` (what a DDL transaction touched).
    pub catalog_reads: IntCounterVec,
    /// From the Kafka clients' statistics.
    pub kafka: crate::kafka::KafkaMetrics,
    /// jemalloc's counters, read at each scrape.
    allocator: crate::memory::AllocatorMetrics,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "pgmeta_capture_events_total",
                "Records written and acknowledged by the sink",
            ),
            &["entity_type", "op"],
        )
        .expect("valid metric");
        let polls = IntCounterVec::new(
            Opts::new(
                "pgmeta_capture_polls_total",
                "Catalog reads by outcome: changed, unchanged or error",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let poll_duration = Histogram::with_opts(
            HistogramOpts::new(
                "pgmeta_capture_poll_duration_seconds",
                "Time of one catalog read, diff and send",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
        )
        .expect("valid metric");
        let last_success = Gauge::new(
            "pgmeta_capture_last_success_timestamp_seconds",
            "Unix time of the last successful catalog read",
        )
        .expect("valid metric");
        let slot_lag_bytes = IntGauge::new(
            "pgmeta_capture_replication_slot_lag_bytes",
            "WAL between the server's position and the slot's confirmed flush position",
        )
        .expect("valid metric");
        let slot_lag_seconds = Gauge::new(
            "pgmeta_capture_replication_slot_lag_seconds",
            "Age of the oldest received DDL transaction not yet acknowledged",
        )
        .expect("valid metric");
        let slot_confirmed_lsn = IntGauge::new(
            "pgmeta_capture_replication_confirmed_lsn",
            "The slot's confirmed flush LSN, as a number",
        )
        .expect("valid metric");
        let usage_polls = IntCounterVec::new(
            Opts::new(
                "pgmeta_capture_usage_polls_total",
                "pg_stat_statements reads by outcome: ok, error or unavailable",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let stat_statements_entries = IntGauge::new(
            "pgmeta_capture_pg_stat_statements_entries",
            "pg_stat_statements entries of the captured database at the last read",
        )
        .expect("valid metric");
        let stat_statements_deallocations = IntCounter::new(
            "pgmeta_capture_pg_stat_statements_deallocations_total",
            "Entries pg_stat_statements evicted since the capture started watching",
        )
        .expect("valid metric");
        let stat_statements_resets = IntCounter::new(
            "pgmeta_capture_pg_stat_statements_resets_total",
            "Resets of pg_stat_statements noticed",
        )
        .expect("valid metric");
        let statements_parsed = IntCounterVec::new(
            Opts::new(
                "pgmeta_capture_statements_parsed_total",
                "Statements parsed for lineage, by outcome: ok or error",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let usage_unattributed_calls = IntCounter::new(
            "pgmeta_capture_usage_unattributed_calls_total",
            "Calls of statements that do not parse, so no table's usage counts them",
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "pgmeta_capture_errors_total",
                "Failed catalog and usage polls, by source, the system that failed and its error code",
            ),
            &["source", "system", "code"],
        )
        .expect("valid metric");
        let schema_changes = IntCounterVec::new(
            Opts::new(
                "pgmeta_capture_schema_changes_total",
                "Classified schema changes written to the schema-changes topic, by class, rule and contract",
            ),
            &["class", "rule", "contract"],
        )
        .expect("valid metric");
        let ddl_skipped = IntCounter::new(
            "pgmeta_capture_ddl_commands_skipped_total",
            "DDL commands from the replication slot that change no captured metadata (REFRESH MATERIALIZED VIEW, REINDEX), so no catalog read was made",
        )
        .expect("valid metric");
        let catalog_reads = IntCounterVec::new(
            Opts::new(
                "pgmeta_capture_catalog_reads_total",
                "Catalog reads that found a changed catalog, by scope: full, or targeted (only what a DDL transaction touched)",
            ),
            &["scope"],
        )
        .expect("valid metric");
        for c in [
            Box::new(usage_unattributed_calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(catalog_reads.clone()),
            Box::new(ddl_skipped.clone()),
            Box::new(schema_changes.clone()),
            Box::new(errors.clone()),
            Box::new(events.clone()),
            Box::new(usage_polls.clone()),
            Box::new(stat_statements_entries.clone()),
            Box::new(stat_statements_deallocations.clone()),
            Box::new(stat_statements_resets.clone()),
            Box::new(statements_parsed.clone()),
            Box::new(polls.clone()),
            Box::new(poll_duration.clone()),
            Box::new(last_success.clone()),
            Box::new(slot_lag_bytes.clone()),
            Box::new(slot_lag_seconds.clone()),
            Box::new(slot_confirmed_lsn.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        let kafka = crate::kafka::KafkaMetrics::register("pgmeta_capture_", &registry);
        let allocator = crate::memory::AllocatorMetrics::register("pgmeta_capture_", &registry);
        Metrics {
            kafka,
            allocator,
            registry,
            events,
            polls,
            poll_duration,
            last_success,
            slot_lag_bytes,
            slot_lag_seconds,
            slot_confirmed_lsn,
            usage_polls,
            stat_statements_entries,
            stat_statements_deallocations,
            stat_statements_resets,
            statements_parsed,
            usage_unattributed_calls,
            errors,
            schema_changes,
            ddl_skipped,
            catalog_reads,
        }
    }

    /// Counts records the sink acknowledged: metadata by entity type and op, usage as
    /// `usage_table`/`usage_query`, lineage as `lineage` with its op.
    pub fn count_sent(&self, records: &[crate::event::Outbound]) {
        use crate::event::{LineageOp, Outbound, UsageKind};
        for r in records {
            let (entity, op) = match r {
                Outbound::Event(e) => (e.entity_type.as_str(), e.op.as_str()),
                Outbound::Tombstone { .. } => ("any", "tombstone"),
                Outbound::Usage(u) => match u.kind {
                    UsageKind::Table => ("usage_table", "emit"),
                    UsageKind::Query => ("usage_query", "emit"),
                },
                Outbound::Lineage(l) => (
                    "lineage",
                    match l.op {
                        LineageOp::Create => "create",
                        LineageOp::Update => "update",
                        LineageOp::Delete => "delete",
                    },
                ),
                Outbound::LineageTombstone { .. } => ("lineage", "tombstone"),
                Outbound::SchemaChange(c) => {
                    self.schema_changes
                        .with_label_values(&[
                            c.change_class.as_str(),
                            c.rule.as_str(),
                            if c.contract_violation {
                                "violated"
                            } else {
                                "none"
                            },
                        ])
                        .inc();
                    ("schema_change", "emit")
                }
            };
            self.events.with_label_values(&[entity, op]).inc();
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.allocator.update();
        render(&self.registry)
    }
}

/// The Prometheus text exposition of a registry's metrics.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::new();
    // Encoding into a Vec cannot fail for the text format.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_names_with_units_and_bounded_labels() {
        let m = metrics();
        m.events.with_label_values(&["table", "create"]).inc();
        m.polls.with_label_values(&["unchanged"]).inc();
        let text = m.render();
        assert!(
            text.contains("pgmeta_capture_events_total{entity_type=\"table\",op=\"create\"}"),
            "{text}"
        );
        assert!(text.contains("pgmeta_capture_polls_total{outcome=\"unchanged\"}"));
        assert!(text.contains("# TYPE pgmeta_capture_replication_slot_lag_bytes gauge"));
    }
}
