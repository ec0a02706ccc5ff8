//! Lineage and usage events that wait for an entity, set aside so the rest of the stream goes
//! on.
//!
//! A lineage edge or a usage count names tables that its metadata events bring; until they
//! arrive the event cannot be applied. Waiting in place held up the whole stream: a batch ends
//! only when all its lanes do, so one edge to a table that takes minutes (or never comes, and
//! is dead-lettered after `missing_entity_timeout`) stopped every other edge. Parked instead,
//! the event is retried on its own schedule while later events flow, with two rules that keep
//! the delivery guarantee:
//!
//! - **Per-key order.** A later event with the key of a parked one is parked behind it (an
//!   edge's DELETE never overtakes its CREATE); only the first of a key is retried.
//! - **Commits stop at the oldest parked offset** of each partition. A restart re-reads from
//!   there: the parked events are tried again and what followed them is applied again, which
//!   the applier makes harmless (PUTs of lineage and of day totals are idempotent).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Where a message sits: topic, partition, offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug)]
struct Entry<M> {
    key: Vec<u8>,
    message: M,
    since: Instant,
    next_try: Instant,
    attempts: u32,
}

/// The parked messages of one consumer, in partition and offset order.
#[derive(Debug)]
pub(super) struct Parked<M> {
    entries: BTreeMap<Position, Entry<M>>,
}

impl<M> Default for Parked<M> {
    fn default() -> Self {
        Parked {
            entries: BTreeMap::new(),
        }
    }
}

/// What happened to a parked message that was tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Applied, skipped or dead-lettered: it leaves.
    Done,
    /// Still waiting for its entity.
    Waiting,
}

impl<M> Parked<M> {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether a message with `key` must wait behind a parked one.
    pub(super) fn blocks(&self, key: &[u8]) -> bool {
        self.entries.values().any(|e| e.key == key)
    }

    /// Sets `message` aside; its first retry is `first_retry` from `now`.
    pub(super) fn park(
        &mut self,
        at: Position,
        key: Vec<u8>,
        message: M,
        now: Instant,
        first_retry: Duration,
    ) {
        self.entries.insert(
            at,
            Entry {
                key,
                message,
                since: now,
                next_try: now + first_retry,
                attempts: 0,
            },
        );
    }

    /// The messages due for a retry at `now`: the first parked of each key, in offset order,
    /// with how long each has waited and how many retries it had.
    pub(super) fn due(&self, now: Instant) -> Vec<(Position, &M, Duration, u32)> {
        let mut heads: HashSet<&[u8]> = HashSet::new();
        let mut out = Vec::new();
        for (at, e) in &self.entries {
            // Only the oldest of a key: the others wait behind it.
            if heads.insert(e.key.as_slice()) && e.next_try <= now {
                out.push((at.clone(), &e.message, now - e.since, e.attempts));
            }
        }
        out
    }

    /// Records the result of a retry: a finished message leaves, a waiting one is tried
    /// again after `wait`.
    pub(super) fn retried(&mut self, at: &Position, result: Retry, now: Instant, wait: Duration) {
        match result {
            Retry::Done => {
                self.entries.remove(at);
            }
            Retry::Waiting => {
                if let Some(e) = self.entries.get_mut(at) {
                    e.attempts = e.attempts.saturating_add(1);
                    e.next_try = now + wait;
                }
            }
        }
    }

    /// When the next retry is due; `None` when nothing is parked.
    pub(super) fn next_due(&self) -> Option<Instant> {
        let mut heads: HashSet<&[u8]> = HashSet::new();
        self.entries
            .values()
            .filter(|e| heads.insert(e.key.as_slice()))
            .map(|e| e.next_try)
            .min()
    }

    /// The oldest parked offset of a partition: the commit of that partition must not pass it.
    pub(super) fn floor(&self, topic: &str, partition: i32) -> Option<i64> {
        self.entries
            .keys()
            .find(|p| p.topic == topic && p.partition == partition)
            .map(|p| p.offset)
    }

    /// Drops what belongs to partitions this consumer no longer holds: their new owner reads
    /// them again from the committed offset.
    pub(super) fn retain_assigned(&mut self, assigned: &[(String, i32)]) {
        self.entries.retain(|p, _| {
            assigned
                .iter()
                .any(|(t, n)| *t == p.topic && *n == p.partition)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, offset: i64) -> Position {
        Position {
            topic: "t".into(),
            partition,
            offset,
        }
    }

    #[test]
    fn a_key_waits_behind_its_first_parked_message_and_commits_stop_at_the_oldest() {
        let now = Instant::now();
        let mut p: Parked<&str> = Parked::default();
        assert_eq!(p.len(), 0);
        assert!(p.next_due().is_none());
        p.park(at(0, 7), b"a".to_vec(), "create a", now, Duration::ZERO);
        p.park(at(0, 9), b"a".to_vec(), "delete a", now, Duration::ZERO);
        p.park(at(1, 3), b"b".to_vec(), "b", now, Duration::from_secs(5));
        assert!(p.blocks(b"a") && p.blocks(b"b") && !p.blocks(b"c"));
        assert_eq!(p.floor("t", 0), Some(7));
        assert_eq!(p.floor("t", 1), Some(3));
        assert_eq!(p.floor("t", 2), None);
        assert_eq!(p.floor("other", 0), None);

        // Only the head of key a is due; b's retry is 5 s away.
        let due: Vec<&str> = p.due(now).iter().map(|(_, m, _, _)| **m).collect();
        assert_eq!(due, ["create a"]);
        assert_eq!(p.next_due(), Some(now));

        // Still waiting: tried again later, its successor still behind it.
        p.retried(&at(0, 7), Retry::Waiting, now, Duration::from_secs(1));
        assert!(p.due(now).is_empty());
        let later = now + Duration::from_secs(1);
        let due = p.due(later);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].1, due[0].3), (&"create a", 1));

        // Done: the next of its key becomes the head, and the floor moves up.
        p.retried(&at(0, 7), Retry::Done, later, Duration::ZERO);
        assert_eq!(p.floor("t", 0), Some(9));
        let due: Vec<&str> = p.due(later).iter().map(|(_, m, _, _)| **m).collect();
        assert_eq!(due, ["delete a"]);
        assert_eq!(p.len(), 2);

        // A partition handed to another consumer is forgotten here.
        p.retain_assigned(&[("t".into(), 0)]);
        assert_eq!(p.len(), 1);
        assert!(!p.blocks(b"b"));
    }
}
