//! The dead-letter topic: where an event that cannot be applied goes, unchanged, with why and
//! where it came from in its headers: `pgmeta.dlq.error` (the message), `pgmeta.dlq.cause`
//! (`http_409`, `network`, `request`, `malformed_event`, `not_an_event`, `missing_entity`),
//! `.topic`, `.partition`, `.offset`.

use super::backoff::backoff;
use super::metrics;
use crate::shutdown::Shutdown;
use rdkafka::Message;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

/// Writes the message, unchanged, to the dead-letter topic with the error and its origin
/// in headers; retries until the broker acknowledges (true) or shutdown comes (false).
pub(super) async fn write(
    producer: &FutureProducer<crate::kafka::KafkaContext>,
    topic: &str,
    msg: &OwnedMessage,
    (reason, cause): (&str, &str),
    max_backoff: Duration,
    shutdown: &mut Shutdown,
) -> bool {
    let partition = msg.partition().to_string();
    let offset = msg.offset().to_string();
    let mut headers = OwnedHeaders::new();
    if let Some(h) = msg.headers() {
        for i in 0..h.count() {
            let header = h.get(i);
            headers = headers.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let headers = headers
        .insert(Header {
            key: "pgmeta.dlq.error",
            value: Some(reason),
        })
        .insert(Header {
            key: "pgmeta.dlq.cause",
            value: Some(cause),
        })
        .insert(Header {
            key: "pgmeta.dlq.topic",
            value: Some(msg.topic()),
        })
        .insert(Header {
            key: "pgmeta.dlq.partition",
            value: Some(&partition),
        })
        .insert(Header {
            key: "pgmeta.dlq.offset",
            value: Some(&offset),
        });
    let mut attempt = 0;
    loop {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers.clone());
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(p) = msg.payload() {
            record = record.payload(p);
        }
        match producer.send(record, Duration::from_secs(30)).await {
            Ok(_) => {
                tracing::warn!(topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), error = %reason, "event dead-lettered");
                return true;
            }
            Err((e, _)) => {
                let code = super::kafka_code(&e);
                metrics()
                    .errors
                    .with_label_values(&["dead_letter", &code])
                    .inc();
                tracing::warn!(error = %e, error.code = %code, topic = %topic, "cannot write to the dead-letter topic; retrying");
                let wait = backoff(attempt, max_backoff);
                attempt += 1;
                tokio::select! {
                    _ = shutdown.wait() => return false,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
