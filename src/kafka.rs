//! librdkafka clients as pgmeta runs them: their log lines and global errors go through
//! `tracing` at a bounded rate (a broker that is down makes librdkafka report a failure every
//! few milliseconds), an authentication failure is remembered so the records it makes time out
//! are reported for what they are, and the clients' statistics feed Prometheus gauges.

use prometheus::{GaugeVec, IntGaugeVec, Opts, Registry};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of librdkafka line (by facility or error code) is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// librdkafka error codes that no retry cures: the credentials, the ACLs or the record size
/// must change first.
pub fn is_fatal(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::Authentication
            | C::SaslAuthenticationFailed
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::TransactionalIdAuthorizationFailed
            | C::MessageSizeTooLarge
    )
}

/// What to do about a fatal code, for the operator.
pub fn hint(code: Option<RDKafkaErrorCode>) -> &'static str {
    use RDKafkaErrorCode as C;
    match code {
        Some(C::Authentication | C::SaslAuthenticationFailed) => {
            " (hint: the broker refuses the credentials: check the sasl.* and ssl.* properties)"
        }
        Some(
            C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::GroupAuthorizationFailed
            | C::TransactionalIdAuthorizationFailed,
        ) => " (hint: the principal lacks an ACL: see the README's Kafka permissions)",
        Some(C::MessageSizeTooLarge) => {
            " (hint: the topic's max.message.bytes is below kafka.max_event_bytes: lower kafka.max_event_bytes or raise the topic's limit)"
        }
        _ => "",
    }
}

/// Admits one line per key per `LOG_EVERY` (30 s), counting what it holds back.
#[derive(Debug, Default)]
pub struct LogLimiter {
    last: HashMap<String, (Instant, u64)>,
}

impl LogLimiter {
    /// `Some(n)` when a line of `key` may be logged now, `n` being how many were held back
    /// since the last one; `None` when it is held back.
    pub fn admit(&mut self, key: &str, now: Instant) -> Option<u64> {
        match self.last.get_mut(key) {
            Some((at, held)) if now.duration_since(*at) < LOG_EVERY => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let n = *held;
                (*at, *held) = (now, 0);
                Some(n)
            }
            None => {
                self.last.insert(key.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

/// Gauges from librdkafka's statistics (`statistics.interval.ms`), by client role.
#[derive(Debug, Clone)]
pub struct KafkaMetrics {
    queue: IntGaugeVec,
    retries: IntGaugeVec,
    rtt: GaugeVec,
}

impl KafkaMetrics {
    /// Registers `<prefix>kafka_queue_messages`, `<prefix>kafka_request_retries` and
    /// `<prefix>kafka_broker_rtt_seconds` in `registry`.
    pub fn register(prefix: &str, registry: &Registry) -> KafkaMetrics {
        let queue = IntGaugeVec::new(
            Opts::new(
                format!("{prefix}kafka_queue_messages"),
                "Messages in the Kafka client's queues, waiting to be sent or acknowledged",
            ),
            &["client"],
        )
        .expect("valid metric");
        let retries = IntGaugeVec::new(
            Opts::new(
                format!("{prefix}kafka_request_retries"),
                "Requests the Kafka client sent again, since it started (from its statistics)",
            ),
            &["client"],
        )
        .expect("valid metric");
        let rtt = GaugeVec::new(
            Opts::new(
                format!("{prefix}kafka_broker_rtt_seconds"),
                "Average request round trip to each broker over the last statistics interval",
            ),
            &["client", "broker"],
        )
        .expect("valid metric");
        for c in [
            Box::new(queue.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(retries.clone()),
            Box::new(rtt.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        KafkaMetrics {
            queue,
            retries,
            rtt,
        }
    }

    fn record(&self, client: &str, stats: &Statistics) {
        self.queue
            .with_label_values(&[client])
            .set(i64::try_from(stats.msg_cnt).unwrap_or(i64::MAX));
        let retries: u64 = stats.brokers.values().map(|b| b.txretries).sum();
        self.retries
            .with_label_values(&[client])
            .set(i64::try_from(retries).unwrap_or(i64::MAX));
        for broker in stats.brokers.values().filter(|b| b.nodeid >= 0) {
            if let Some(rtt) = &broker.rtt {
                self.rtt
                    .with_label_values(&[client, &broker.nodeid.to_string()])
                    .set(rtt.avg as f64 / 1e6);
            }
        }
    }
}

/// The context every pgmeta Kafka client is created with.
#[derive(Debug)]
pub struct KafkaContext {
    /// `producer`, `consumer`, `admin`, `dead_letter`: the `client` label.
    role: &'static str,
    metrics: Option<KafkaMetrics>,
    limiter: Mutex<LogLimiter>,
    client_errors: ClientErrors,
}

/// The errors a client's librdkafka reported through its context, which otherwise only show
/// as records timing out or purged: the last fatal one (authentication, authorization, size)
/// and the last of any kind. Shared: the client owns its context.
#[derive(Debug, Clone, Default)]
pub struct ClientErrors {
    /// The last error no retry cures (see [`is_fatal`]), with its reason.
    fatal: std::sync::Arc<Mutex<Option<String>>>,
    /// The last error of any kind the client reported, with its code.
    last: std::sync::Arc<Mutex<Option<(RDKafkaErrorCode, String)>>>,
}

impl ClientErrors {
    /// The last authorization, authentication or size error.
    pub fn fatal(&self) -> Option<String> {
        self.fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The last error the client reported (a broker down, a transaction aborted, ...).
    pub fn last(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, code: Option<RDKafkaErrorCode>, failure: String) {
        if code.is_some_and(is_fatal) {
            *self
                .fatal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(failure.clone());
        }
        if let Some(code) = code {
            *self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((code, failure));
        }
    }
}

impl KafkaContext {
    pub fn new(role: &'static str, metrics: Option<KafkaMetrics>) -> KafkaContext {
        KafkaContext {
            role,
            metrics,
            limiter: Mutex::default(),
            client_errors: ClientErrors::default(),
        }
    }

    /// Where this client's authentication failures can be read after it took the context.
    pub fn client_errors(&self) -> ClientErrors {
        self.client_errors.clone()
    }

    fn admit(&self, key: &str) -> Option<u64> {
        self.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .admit(key, Instant::now())
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let Some(held_back) = self.admit(fac) else {
            return;
        };
        let client = self.role;
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", client, facility = fac, held_back, "{message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", client, facility = fac, held_back, "{message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", client, facility = fac, held_back, "{message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", client, facility = fac, held_back, "{message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        self.client_errors.set(code, format!("{error}: {reason}"));
        let key = format!("error {code:?}");
        if let Some(held_back) = self.admit(&key) {
            tracing::warn!(target: "librdkafka", client = self.role, error = %error, error.code = ?code, held_back, "{reason}");
        }
    }

    fn stats(&self, statistics: Statistics) {
        if let Some(m) = &self.metrics {
            m.record(self.role, &statistics);
        }
    }
}

/// A consumer's partitions, said when the group hands them out or takes them back: which
/// instance holds what is the first question when a stream stops moving.
impl ConsumerContext for KafkaContext {
    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        use rdkafka::consumer::Rebalance;
        let partitions = |list: &rdkafka::TopicPartitionList| -> Vec<String> {
            list.elements()
                .iter()
                .map(|e| format!("{}/{}", e.topic(), e.partition()))
                .collect()
        };
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(client = self.role, partitions = ?partitions(list), "partitions assigned")
            }
            Rebalance::Revoke(list) => {
                tracing::info!(client = self.role, partitions = ?partitions(list), "partitions revoked")
            }
            Rebalance::Error(e) => {
                tracing::warn!(client = self.role, error = %e, "consumer group rebalance failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_line_is_logged_once_per_interval_with_what_was_held_back() {
        let mut limiter = LogLimiter::default();
        let t0 = Instant::now();
        assert_eq!(limiter.admit("FAIL", t0), Some(0));
        for i in 1..=100 {
            assert_eq!(
                limiter.admit("FAIL", t0 + Duration::from_millis(50 * i)),
                None
            );
        }
        assert_eq!(
            limiter.admit("CONNECT", t0),
            Some(0),
            "keys are limited apart"
        );
        assert_eq!(limiter.admit("FAIL", t0 + LOG_EVERY), Some(100));
        assert_eq!(limiter.admit("FAIL", t0 + LOG_EVERY), None);
    }

    #[test]
    fn authorization_and_size_errors_are_fatal_and_say_what_to_change() {
        for code in [
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::MessageSizeTooLarge,
        ] {
            assert!(is_fatal(code), "{code:?}");
            assert!(hint(Some(code)).contains("hint"), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert!(!is_fatal(code), "{code:?}");
            assert_eq!(hint(Some(code)), "");
        }
    }
}
