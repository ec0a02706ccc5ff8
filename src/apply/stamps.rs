//! What the server holds of each entity, for the applier's staleness check: the `sourceHash`
//! marker and whether it is deleted.
//!
//! One GET per event doubles the calls of a snapshot. When a batch brings many tables of one
//! schema, the consumer has the schema listed instead (one call per 1,000 tables), and the
//! applier reads the listing. A listing is kept up to date with the applier's own writes,
//! which are the only writes of markers to entities of the partitions this instance holds; it
//! is dropped after [`LISTING_TTL`], when the consumer's partitions change, and after a delete of
//! a schema or database (recursive) or a rename.

use super::name::EntityName;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a listing answers for the server.
pub(super) const LISTING_TTL: Duration = Duration::from_secs(30);

/// The event that last wrote an entity, as its `sourceHash` marker records it.
///
/// Which of two events is newer: for the same PostgreSQL object (same OID) the capture
/// epoch, then the entity version decide. The capture increments the version per change and
/// keeps it in its state; a capture that lost its state counts from 1 again under a later
/// epoch. So no clock between events is involved, and an `emitted_at` from a clock that
/// stepped back or a hostile far-future one cannot hide later changes. Only between two
/// objects under one FQN (a table dropped and created again) does `emitted_at` decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    /// The object's OID; `None` in markers written before it was recorded (`pgm1-`).
    pub object_id: Option<i64>,
    /// The capture epoch in seconds since [`MARKER_BASE_MS`]; 0 for events and markers from
    /// before epochs existed.
    pub epoch: i64,
    pub version: i64,
    pub emitted_at: i64,
}

/// 2020-01-01T00:00:00Z: markers count time from here, so that they fit 32 characters.
pub(super) const MARKER_BASE_MS: i64 = 1_577_836_800_000;

impl Stamp {
    /// The stamp of an event with this `capture_epoch` (ms since the Unix epoch, 0 if none).
    pub(super) fn of_event(
        object_id: i64,
        capture_epoch: i64,
        version: i64,
        emitted_at: i64,
    ) -> Stamp {
        Stamp {
            object_id: Some(object_id),
            epoch: if capture_epoch <= 0 {
                0
            } else {
                ((capture_epoch - MARKER_BASE_MS) / 1000).max(1)
            },
            version,
            emitted_at,
        }
    }

    /// Whether the event that wrote `self` is newer than the one that wrote `other`.
    pub(super) fn newer_than(&self, other: &Stamp) -> bool {
        match (self.object_id, other.object_id) {
            (Some(a), Some(b)) if a == b => {
                (self.epoch, self.version) > (other.epoch, other.version)
            }
            _ => (self.emitted_at, self.version) > (other.emitted_at, other.version),
        }
    }

    /// The `sourceHash` marker: `p3-<oid>-<epoch>-<version>-<emitted_at - 2020>`, base 36 so
    /// that it fits OpenMetadata's 32 characters (OIDs are 32-bit, epochs fit 6 digits until
    /// 2089, times 8 until 2109, versions 5 up to 60 million changes of one object).
    pub(super) fn marker(&self) -> String {
        format!(
            "p3-{}-{}-{}-{}",
            base36(self.object_id.unwrap_or(0)),
            base36(self.epoch),
            base36(self.version),
            base36(self.emitted_at - MARKER_BASE_MS)
        )
    }

    /// A marker [`Stamp::marker`] wrote, or an older one (`pgm2-<oid>-<version>-<emitted_at>`,
    /// `pgm1-<emitted_at>-<version>`).
    pub(super) fn parse(s: &str) -> Option<Stamp> {
        let number = |p: Option<&str>| i64::from_str_radix(p?, 36).ok();
        if let Some(rest) = s.strip_prefix("p3-") {
            let mut parts = rest.split('-');
            let object_id = number(parts.next())?;
            let epoch = number(parts.next())?;
            let version = number(parts.next())?;
            let emitted_at = number(parts.next())?.checked_add(MARKER_BASE_MS)?;
            return parts.next().is_none().then_some(Stamp {
                object_id: Some(object_id),
                epoch,
                version,
                emitted_at,
            });
        }
        if let Some(rest) = s.strip_prefix("pgm2-") {
            let mut parts = rest.split('-');
            let object_id = number(parts.next())?;
            let version = number(parts.next())?;
            let emitted_at = number(parts.next())?;
            return parts.next().is_none().then_some(Stamp {
                object_id: Some(object_id),
                epoch: 0,
                version,
                emitted_at,
            });
        }
        let mut parts = s.strip_prefix("pgm1-")?.split('-');
        let emitted_at = parts.next()?.parse().ok()?;
        let version = parts.next()?.parse().ok()?;
        Some(Stamp {
            object_id: None,
            epoch: 0,
            version,
            emitted_at,
        })
    }
}

fn base36(n: i64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n <= 0 {
        return "0".into();
    }
    let mut n = n as u64;
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// What the server holds under one FQN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Held {
    /// The event that last wrote it, if pgmeta wrote it.
    pub stamp: Option<Stamp>,
    pub deleted: bool,
}

impl Held {
    pub(super) fn of(entity: &Value) -> Held {
        Held {
            stamp: entity
                .get("sourceHash")
                .and_then(Value::as_str)
                .and_then(Stamp::parse),
            deleted: entity.get("deleted").and_then(Value::as_bool) == Some(true),
        }
    }
}

#[derive(Debug)]
struct Listing {
    at: Instant,
    /// Every entity of the collection under the parent; an FQN not here is absent.
    entities: HashMap<String, Held>,
}

/// Listings by (collection, parent FQN).
#[derive(Debug, Default)]
pub(super) struct Listings(Mutex<HashMap<(&'static str, String), Listing>>);

impl Listings {
    /// `Some(held)` (`None` inside: absent) when a fresh listing of its parent answers for
    /// `name`; `None` when only the server can tell.
    pub(super) fn lookup(
        &self,
        collection: &'static str,
        name: &EntityName,
    ) -> Option<Option<Held>> {
        let parent = name.parent()?.fqn();
        let listings = self.0.lock().ok()?;
        let listing = listings.get(&(collection, parent))?;
        (listing.at.elapsed() < LISTING_TTL).then(|| listing.entities.get(&name.fqn()).copied())
    }

    /// Whether `parent` needs listing (never listed, or too old).
    pub(super) fn wanted(&self, collection: &'static str, parent: &str) -> bool {
        self.0.lock().is_ok_and(|l| {
            l.get(&(collection, parent.to_owned()))
                .is_none_or(|listing| listing.at.elapsed() >= LISTING_TTL)
        })
    }

    /// Keeps a listing (the entities of `collection` under `parent`) read at `at`.
    pub(super) fn keep(
        &self,
        collection: &'static str,
        parent: String,
        at: Instant,
        entities: &[Value],
    ) {
        let entities = entities
            .iter()
            .filter_map(|e| {
                let fqn = e.get("fullyQualifiedName").and_then(Value::as_str)?;
                Some((fqn.to_owned(), Held::of(e)))
            })
            .collect();
        if let Ok(mut l) = self.0.lock() {
            l.insert((collection, parent), Listing { at, entities });
        }
    }

    /// Records the applier's own write (`None`: the entity is gone) in the listing of its
    /// parent, if there is one.
    pub(super) fn wrote(&self, collection: &'static str, name: &EntityName, held: Option<Held>) {
        let Some(parent) = name.parent() else { return };
        if let Ok(mut l) = self.0.lock() {
            if let Some(listing) = l.get_mut(&(collection, parent.fqn())) {
                match held {
                    Some(h) => listing.entities.insert(name.fqn(), h),
                    None => listing.entities.remove(&name.fqn()),
                };
            }
        }
    }

    pub(super) fn clear(&self) {
        if let Ok(mut l) = self.0.lock() {
            l.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamps_round_trip_fit_and_order_without_clocks_for_one_object() {
        let st =
            |object_id, version, emitted_at| Stamp::of_event(object_id, 0, version, emitted_at);
        // The largest OID, an epoch and a time in 2087, 60 million versions.
        let big = Stamp::of_event(
            4_294_967_295,
            3_700_000_000_000,
            60_000_000,
            3_700_000_000_000,
        );
        assert_eq!(Stamp::parse(&big.marker()), Some(big));
        // OpenMetadata's sourceHash holds at most 32 characters.
        assert!(big.marker().len() <= 32, "{}", big.marker());
        assert_eq!(Stamp::parse("abc"), None);
        assert_eq!(Stamp::parse("pgm1-x-1"), None);
        assert_eq!(Stamp::parse("pgm2-1-2-3-4"), None);
        assert_eq!(Stamp::parse("p3-1-2-3"), None);
        let legacy = Stamp::parse("pgm1-1795000000000-7").expect("pgm1");
        assert_eq!((legacy.object_id, legacy.version), (None, 7));
        let pgm2 = Stamp::parse(&format!("pgm2-5-9-{}", base36(1_795_000_000_000))).expect("pgm2");
        assert_eq!(pgm2, st(5, 9, 1_795_000_000_000));
        // Same object: the version decides, whatever the clocks said.
        assert!(st(5, 3, 1_000).newer_than(&st(5, 2, 9_999_999_999_999)));
        assert!(!st(5, 2, 9_999_999_999_999).newer_than(&st(5, 3, 1_000)));
        // Another object under the same FQN (drop and create again): time decides.
        assert!(st(6, 1, 2_000).newer_than(&st(5, 9, 1_000)));
        assert!(legacy.newer_than(&st(5, 9, 1_000)));
        // A capture that lost its state: a later epoch wins over any version of the earlier
        // one (and over markers from before epochs), never the other way round.
        let before = Stamp::of_event(5, 1_790_000_000_000, 40, 1_790_000_500_000);
        let after = Stamp::of_event(5, 1_795_000_000_000, 1, 1_700_000_000_000);
        assert!(after.newer_than(&before) && !before.newer_than(&after));
        assert!(after.newer_than(&pgm2) && !pgm2.newer_than(&after));
        assert_eq!(Stamp::parse(&after.marker()), Some(after));
    }

    fn table(fqn: &str) -> EntityName {
        EntityName::parse(crate::model::EntityType::Table, fqn).expect("a table's name")
    }

    #[test]
    fn a_listing_answers_for_its_children_and_follows_own_writes() {
        let l = Listings::default();
        let st = |version, emitted_at| Stamp::of_event(9, 0, version, emitted_at);
        assert_eq!(l.lookup("tables", &table("svc.db.s.t")), None);
        assert!(l.wanted("tables", "svc.db.s"));
        l.keep(
            "tables",
            "svc.db.s".into(),
            Instant::now(),
            &[json!({"fullyQualifiedName": "svc.db.s.t", "sourceHash": st(1, MARKER_BASE_MS + 5).marker(), "deleted": true})],
        );
        assert!(!l.wanted("tables", "svc.db.s"));
        let held = Held {
            stamp: Some(st(1, MARKER_BASE_MS + 5)),
            deleted: true,
        };
        assert_eq!(l.lookup("tables", &table("svc.db.s.t")), Some(Some(held)));
        // Absent: the listing is complete.
        assert_eq!(l.lookup("tables", &table("svc.db.s.u")), Some(None));
        // Another collection or parent: unknown.
        assert_eq!(l.lookup("storedProcedures", &table("svc.db.s.t")), None);
        assert_eq!(l.lookup("tables", &table("svc.db.other.t")), None);

        let now = Held {
            stamp: Some(st(2, MARKER_BASE_MS + 9)),
            deleted: false,
        };
        l.wrote("tables", &table("svc.db.s.u"), Some(now));
        assert_eq!(l.lookup("tables", &table("svc.db.s.u")), Some(Some(now)));
        l.wrote("tables", &table("svc.db.s.u"), None);
        assert_eq!(l.lookup("tables", &table("svc.db.s.u")), Some(None));
        l.clear();
        assert_eq!(l.lookup("tables", &table("svc.db.s.t")), None);
    }

    #[test]
    fn an_old_listing_answers_for_nothing() {
        let l = Listings::default();
        let long_ago = Instant::now()
            .checked_sub(LISTING_TTL)
            .expect("the monotonic clock started more than 30 s ago");
        l.keep("tables", "svc.db.s".into(), long_ago, &[]);
        assert!(l.wanted("tables", "svc.db.s"));
        assert_eq!(l.lookup("tables", &table("svc.db.s.t")), None);
    }
}
