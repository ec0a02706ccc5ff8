//! Offsets: how far each partition was consumed, what is committed (never past the oldest
//! parked event), and the lag gauge.

use super::ApplyConsumer;
use crate::apply::{kafka_code, metrics};
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

impl ApplyConsumer {
    /// Records how far each partition of the batch was consumed; returns those partitions.
    pub(super) fn consumed(&self, batch: &[OwnedMessage]) -> BTreeSet<(String, i32)> {
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
    pub(super) async fn commit(
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
    pub(super) fn record_lag(&self) {
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
