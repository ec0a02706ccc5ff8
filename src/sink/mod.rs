//! Where events go. A sink's `send` resolves only once the whole batch is durable (for Kafka:
//! acknowledged by all in-sync replicas), because the capture advances its state right after.

mod jsonl;
mod kafka;
mod registration;
pub use kafka::ensure_topic;

pub use jsonl::JsonlSink;
pub use kafka::KafkaSink;

use crate::event::Outbound;
use rdkafka::error::RDKafkaErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "Kafka brokers {brokers} unreachable after {attempts} attempts over {waited:?}: {last_error} (hint: check kafka.brokers and that the broker is up; kafka.startup_timeout sets how long to wait)"
    )]
    Unreachable {
        brokers: String,
        attempts: u32,
        waited: std::time::Duration,
        last_error: String,
        code: Option<RDKafkaErrorCode>,
    },
    #[error("cannot create Kafka topic {topic}: {reason}")]
    Topic {
        topic: String,
        reason: String,
        code: Option<RDKafkaErrorCode>,
    },
    #[error("invalid Kafka client configuration: {0}")]
    Config(String),
    #[error(
        "Kafka did not acknowledge {failed} of {total} records (first error: {first_error}){}",
        delivery_outcome(*.code)
    )]
    Delivery {
        failed: usize,
        total: usize,
        first_error: String,
        code: Option<RDKafkaErrorCode>,
    },
    #[error(transparent)]
    Encode(#[from] crate::codec::CodecError),
    #[error(
        "event {fqn} is {bytes} bytes even without its large text fields, over kafka.max_event_bytes = {limit} (raise it, and the topic's max.message.bytes)"
    )]
    TooLarge {
        fqn: String,
        bytes: usize,
        limit: usize,
    },
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error("Kafka transaction failed, nothing of it is visible to read_committed consumers: {reason}{}", crate::kafka::hint(*.code))]
    Transaction {
        reason: String,
        code: Option<RDKafkaErrorCode>,
    },
    #[error("cannot write events to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// What happens to records that were not acknowledged, with what to change when retrying
/// cannot help.
fn delivery_outcome(code: Option<RDKafkaErrorCode>) -> String {
    match code {
        Some(c) if crate::kafka::is_fatal(c) => {
            format!("; retrying cannot help{}", crate::kafka::hint(code))
        }
        _ => "; they are sent again by the next poll".to_owned(),
    }
}

impl SinkError {
    /// Whether a later attempt can succeed: delivery failures can, unless the broker refuses
    /// the credentials, an ACL or the record size.
    pub fn is_transient(&self) -> bool {
        match self {
            SinkError::Delivery { code, .. } => !code.is_some_and(crate::kafka::is_fatal),
            // Fenced: another producer with the same transactional.id took over.
            SinkError::Transaction { code, .. } => !code.is_some_and(|c| {
                crate::kafka::is_fatal(c) || c == RDKafkaErrorCode::ProducerFenced
            }),
            _ => false,
        }
    }

    /// librdkafka's error code, where the failure came from the Kafka client (its name, such as
    /// `MessageTimedOut` or `TopicAuthorizationFailed`, is what a metric label and a log field
    /// carry).
    pub fn kafka_code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            SinkError::Unreachable { code, .. }
            | SinkError::Topic { code, .. }
            | SinkError::Delivery { code, .. }
            | SinkError::Transaction { code, .. } => *code,
            SinkError::Config(_)
            | SinkError::Encode(_)
            | SinkError::TooLarge { .. }
            | SinkError::Registry(_)
            | SinkError::Write { .. } => None,
        }
    }
}

/// Writes batches of events durably. `Send`, so a source can run on its own task.
pub trait Sink: Send {
    fn send(
        &mut self,
        batch: &[Outbound],
    ) -> impl std::future::Future<Output = Result<(), SinkError>> + Send;
}

/// The sink chosen by configuration.
#[derive(Debug)]
pub enum AnySink {
    Kafka(Box<KafkaSink>),
    Jsonl(JsonlSink),
}

impl Sink for AnySink {
    async fn send(&mut self, batch: &[Outbound]) -> Result<(), SinkError> {
        match self {
            AnySink::Kafka(s) => s.send(batch).await,
            AnySink::Jsonl(s) => s.send(batch).await,
        }
    }
}
