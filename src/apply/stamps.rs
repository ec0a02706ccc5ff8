//! What the server holds of each entity, for the applier's staleness check: the `sourceHash`
//! marker and whether it is deleted.
//!
//! One GET per event doubles the calls of a snapshot. When a batch brings many tables of one
//! schema, the consumer has the schema listed instead (one call per 1,000 tables), and the
//! applier reads the listing. A listing is kept up to date with the applier's own writes,
//! which are the only writes of markers to entities of the partitions this instance holds; it
//! is dropped after [`LISTING_TTL`], when the consumer's partitions change, and after a delete of
//! a schema or database (recursive) or a rename.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a listing answers for the server.
pub const LISTING_TTL: Duration = Duration::from_secs(30);

/// What the server holds under one FQN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// `(emitted_at, entity_version)` of the event that last wrote it, if pgmeta wrote it.
    pub stamp: Option<(i64, i64)>,
    pub deleted: bool,
}

impl Held {
    pub fn of(entity: &Value) -> Held {
        Held {
            stamp: entity
                .get("sourceHash")
                .and_then(Value::as_str)
                .and_then(parse_stamp),
            deleted: entity.get("deleted").and_then(Value::as_bool) == Some(true),
        }
    }
}

pub fn stamp(emitted_at: i64, version: i64) -> String {
    format!("pgm1-{emitted_at}-{version}")
}

/// `(emitted_at, version)` of a marker [`stamp`] wrote.
fn parse_stamp(s: &str) -> Option<(i64, i64)> {
    let mut parts = s.strip_prefix("pgm1-")?.split('-');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[derive(Debug)]
struct Listing {
    at: Instant,
    /// Every entity of the collection under the parent; an FQN not here is absent.
    entities: HashMap<String, Held>,
}

/// Listings by (collection, parent FQN).
#[derive(Debug, Default)]
pub struct Listings(Mutex<HashMap<(&'static str, String), Listing>>);

/// The parent FQN of an FQN (`svc.db.schema.table` -> `svc.db.schema`), on its raw text:
/// quoted parts may contain dots.
fn parent_of(fqn: &str) -> Option<String> {
    let parts = crate::model::Fqn::from_raw(fqn.to_owned()).parts();
    let (_, parent) = parts.split_last()?;
    (!parent.is_empty())
        .then(|| crate::model::Fqn::new(parent.iter().map(String::as_str)).to_string())
}

impl Listings {
    /// `Some(held)` (`None` inside: absent) when a fresh listing of its parent answers for
    /// `fqn`; `None` when only the server can tell.
    pub fn lookup(&self, collection: &'static str, fqn: &str) -> Option<Option<Held>> {
        let parent = parent_of(fqn)?;
        let listings = self.0.lock().ok()?;
        let listing = listings.get(&(collection, parent))?;
        (listing.at.elapsed() < LISTING_TTL).then(|| listing.entities.get(fqn).copied())
    }

    /// Whether `parent` needs listing (never listed, or too old).
    pub fn wanted(&self, collection: &'static str, parent: &str) -> bool {
        self.0.lock().is_ok_and(|l| {
            l.get(&(collection, parent.to_owned()))
                .is_none_or(|listing| listing.at.elapsed() >= LISTING_TTL)
        })
    }

    /// Keeps a listing (the entities of `collection` under `parent`) read at `at`.
    pub fn keep(&self, collection: &'static str, parent: String, at: Instant, entities: &[Value]) {
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
    pub fn wrote(&self, collection: &'static str, fqn: &str, held: Option<Held>) {
        let Some(parent) = parent_of(fqn) else { return };
        if let Ok(mut l) = self.0.lock() {
            if let Some(listing) = l.get_mut(&(collection, parent)) {
                match held {
                    Some(h) => listing.entities.insert(fqn.to_owned(), h),
                    None => listing.entities.remove(fqn),
                };
            }
        }
    }

    pub fn clear(&self) {
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
    fn stamps_round_trip_and_order() {
        assert_eq!(
            parse_stamp(&stamp(1_795_000_000_000, 7)),
            Some((1_795_000_000_000, 7))
        );
        assert_eq!(parse_stamp("abc"), None);
        assert_eq!(parse_stamp("pgm1-x-1"), None);
        // OpenMetadata's sourceHash holds at most 32 characters.
        assert!(stamp(4_102_444_800_000, 9_999_999).len() <= 32);
        assert!(parse_stamp(&stamp(10, 2)) > parse_stamp(&stamp(9, 5)));
    }

    #[test]
    fn parent_of_respects_quoted_parts() {
        assert_eq!(parent_of("svc.db.s.t").as_deref(), Some("svc.db.s"));
        assert_eq!(
            parent_of(r#"svc.db."my.schema"."a.b""#).as_deref(),
            Some(r#"svc.db."my.schema""#)
        );
        assert_eq!(parent_of("svc"), None);
    }

    #[test]
    fn a_listing_answers_for_its_children_and_follows_own_writes() {
        let l = Listings::default();
        assert_eq!(l.lookup("tables", "svc.db.s.t"), None);
        assert!(l.wanted("tables", "svc.db.s"));
        l.keep(
            "tables",
            "svc.db.s".into(),
            Instant::now(),
            &[json!({"fullyQualifiedName": "svc.db.s.t", "sourceHash": stamp(5, 1), "deleted": true})],
        );
        assert!(!l.wanted("tables", "svc.db.s"));
        let held = Held {
            stamp: Some((5, 1)),
            deleted: true,
        };
        assert_eq!(l.lookup("tables", "svc.db.s.t"), Some(Some(held)));
        // Absent: the listing is complete.
        assert_eq!(l.lookup("tables", "svc.db.s.u"), Some(None));
        // Another collection or parent: unknown.
        assert_eq!(l.lookup("storedProcedures", "svc.db.s.t"), None);
        assert_eq!(l.lookup("tables", "svc.db.other.t"), None);

        let now = Held {
            stamp: Some((9, 2)),
            deleted: false,
        };
        l.wrote("tables", "svc.db.s.u", Some(now));
        assert_eq!(l.lookup("tables", "svc.db.s.u"), Some(Some(now)));
        l.wrote("tables", "svc.db.s.u", None);
        assert_eq!(l.lookup("tables", "svc.db.s.u"), Some(None));
        l.clear();
        assert_eq!(l.lookup("tables", "svc.db.s.t"), None);
    }

    #[test]
    fn an_old_listing_answers_for_nothing() {
        let l = Listings::default();
        let long_ago = Instant::now()
            .checked_sub(LISTING_TTL)
            .expect("the monotonic clock started more than 30 s ago");
        l.keep("tables", "svc.db.s".into(), long_ago, &[]);
        assert!(l.wanted("tables", "svc.db.s"));
        assert_eq!(l.lookup("tables", "svc.db.s.t"), None);
    }
}
