//! A poll's write-ahead note: the names and edges it is sending that its state does not hold
//! yet, written before the send and cleared once the state is saved. What a crash leaves in it
//! is retracted by the next read where the source no longer has it (see `diff::sent_ahead`).
//! The catalog poll notes entities and view/routine edges, the usage poll its query edges.

use crate::diff::SentAhead;
use crate::lineage::edges::SentEdge;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state part holding the note.
pub const IN_FLIGHT_PART: &str = "in-flight";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct InFlight {
    pub(super) entities: Vec<SentAhead>,
    pub(super) edges: BTreeMap<String, SentEdge>,
}

impl InFlight {
    pub(super) fn is_empty(&self) -> bool {
        self.entities.is_empty() && self.edges.is_empty()
    }

    /// Adds what is about to be sent; whether anything was not noted yet (a send repeated
    /// after a crash notes nothing new).
    pub(super) fn note(
        &mut self,
        entities: Vec<SentAhead>,
        edges: BTreeMap<String, SentEdge>,
    ) -> bool {
        let mut grew = false;
        for e in entities {
            if !self.entities.contains(&e) {
                self.entities.push(e);
                grew = true;
            }
        }
        for (key, edge) in edges {
            if self.edges.get(&key) != Some(&edge) {
                self.edges.insert(key, edge);
                grew = true;
            }
        }
        grew
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EntityType;
    use crate::model::EntityKey;

    fn sent(oid: i64, fqn: &str) -> SentAhead {
        SentAhead {
            key: EntityKey {
                entity_type: EntityType::Table,
                oid,
            },
            fqn: fqn.into(),
            version: 1,
            epoch: 7,
        }
    }

    #[test]
    fn noting_again_what_is_noted_changes_nothing() {
        let mut note = InFlight::default();
        assert!(note.is_empty());
        assert!(note.note(vec![sent(1, "s.d.p.a")], BTreeMap::new()));
        assert!(!note.note(vec![sent(1, "s.d.p.a")], BTreeMap::new()));
        assert!(note.note(vec![sent(1, "s.d.p.b")], BTreeMap::new()));
        assert_eq!(note.entities.len(), 2);
        assert!(!note.is_empty());
    }
}
