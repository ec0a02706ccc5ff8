//! Lineage and usage events waiting for their tables: set aside, retried on their own with
//! backoff, dead-lettered after `missing_entity_timeout` (the queue itself is `apply::parked`).

use super::{ApplyConsumer, Outcome, Stream};
use crate::apply::applier::Applied;
use crate::apply::backoff::backoff;
use crate::apply::client::ApplyError;
use crate::apply::metrics;
use crate::apply::parked::{Parked, Position, Retry};
use crate::shutdown::Shutdown;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

impl ApplyConsumer {
    /// Whether an event waiting for an entity is parked rather than waited for in place: for
    /// lineage and usage, whose events of different keys are independent. Metadata events
    /// wait in place: a parent must exist before its children.
    pub(super) fn parks(&self) -> bool {
        self.stream != Stream::Metadata
    }

    pub(super) fn parked(&self) -> std::sync::MutexGuard<'_, Parked<OwnedMessage>> {
        self.parked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn show_parked(&self, parked: usize) {
        metrics()
            .parked
            .with_label_values(&[self.stream.label()])
            .set(i64::try_from(parked).unwrap_or(i64::MAX));
    }

    pub(super) fn park(&self, msg: &OwnedMessage, key: Vec<u8>, first_retry: Duration) {
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
    pub(super) async fn retry_parked(&self, shutdown: &Shutdown) -> BTreeSet<(String, i32)> {
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
}
