//! Names sent before the state recorded them, and their retraction.
//!
//! The state is saved only after the sink acknowledged (a crash between the two repeats the
//! send on restart: at least once). That repeat covers an object that is still there. One
//! dropped, or renamed again, while the capture was down is another matter: the state never
//! heard of the name that was sent, the next diff says nothing of it, and the CREATE (or a
//! rename's new name) would stay downstream forever. So before a send the capture writes down
//! each name the state does not hold yet ([`sent_ahead`]); the next read retracts every one
//! that is no longer where its entity is ([`retractions`]), and the list is cleared once the
//! state is saved.

use super::{Change, DatabaseState, Diff, DiffOptions};
use crate::event::{EVENT_ID_NAMESPACE, EntityType, Op, Outbound, SourceInfo};
use crate::model::{EntityKey, Fqn};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// A name an entity was sent under that the state does not hold (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentAhead {
    pub key: EntityKey,
    pub fqn: String,
    pub version: i64,
    pub epoch: i64,
}

/// The names among `changes` (about to be sent) that `state` does not hold: new entities and
/// new names of renamed ones. A change in place needs no note: the state still names it, so a
/// later drop is diffed as one.
pub fn sent_ahead(state: &DatabaseState, changes: &[Change]) -> Vec<SentAhead> {
    changes
        .iter()
        .filter(|c| c.op != Op::Delete)
        .filter(|c| {
            state
                .heads
                .get(&c.key)
                .is_none_or(|held| held.fqn != c.fqn.as_str())
        })
        .map(|c| SentAhead {
            key: c.key,
            fqn: c.fqn.as_str().to_owned(),
            version: c.version,
            epoch: c.epoch,
        })
        .collect()
}

/// A DELETE for each name in `sent` that its entity no longer has after `diff` (dropped, or
/// renamed again, while the capture was down). The DELETE carries the version the name was
/// sent with: the server holds exactly that, and a stamp equal to the one it holds does not
/// make a delete stale, while any later change of the entity (a higher version) still wins.
/// A dropped table that by `opts` gets no DELETE gets no retraction either.
pub fn retractions(
    state: &DatabaseState,
    diff: &Diff,
    sent: &[SentAhead],
    opts: DiffOptions,
) -> Vec<Change> {
    let after: HashMap<EntityKey, Option<&str>> = diff
        .changes
        .iter()
        .map(|c| (c.key, (c.op != Op::Delete).then(|| c.fqn.as_str())))
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for s in sent {
        let now = match after.get(&s.key) {
            Some(now) => *now,
            None => state.heads.get(&s.key).map(|held| held.fqn.as_str()),
        };
        if now == Some(s.fqn.as_str()) || !seen.insert(s.fqn.as_str()) {
            continue;
        }
        let dropped = now.is_none();
        if dropped && s.key.entity_type == EntityType::Table && !opts.mark_deleted_tables {
            continue;
        }
        out.push(Change {
            key: s.key,
            op: Op::Delete,
            fqn: Fqn::from_raw(s.fqn.clone()),
            previous_fqn: None,
            changed_fields: vec![],
            version: s.version,
            epoch: s.epoch,
            entity: None,
            field_changes: vec![],
            schema_changes: vec![],
            digest: None,
        });
    }
    // Children before parents, as the diff orders its own deletes.
    out.sort_by_key(|c| std::cmp::Reverse(c.key.entity_type));
    out
}

/// The records of `retractions`: [`super::outbound`]'s, with event ids of their own. A
/// retraction carries the version its name was sent with, which the diff's own DELETE of the
/// entity's remembered name may carry too: the id names the retracted FQN besides.
pub fn retraction_records(
    retractions: &mut [Change],
    source: &SourceInfo,
    emitted_at: i64,
) -> Vec<Outbound> {
    let mut records = super::outbound(retractions, source, emitted_at);
    for record in &mut records {
        if let Outbound::Event(e) = record {
            let name = format!("{}\u{0}retracted\u{0}{}", e.event_id, e.fqn);
            e.event_id = uuid::Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes()).to_string();
        }
    }
    records
}
