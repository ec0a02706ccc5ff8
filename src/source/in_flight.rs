//! A poll's write-ahead note: the names and edges it is sending that its state does not hold
//! yet, written before the send and cleared once the state is saved. What a crash leaves in it
//! is retracted by the next read where the source no longer has it (see `diff::sent_ahead`).
//! The catalog poll notes entities and view/routine edges, the usage poll its query edges.

use crate::checkpoint::{CheckpointError, CheckpointStore};
use crate::diff::SentAhead;
use crate::lineage::edges::SentEdge;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state part holding the catalog poll's note.
pub(super) const CATALOG_PART: &str = "in-flight";
/// The state part holding the usage poll's note (its query edges).
pub(super) const QUERY_PART: &str = "in-flight-query";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct InFlight {
    pub(super) entities: Vec<SentAhead>,
    pub(super) edges: BTreeMap<String, SentEdge>,
}

impl InFlight {
    /// The note in state part `part` of a database; empty when there is none.
    pub(super) async fn load(
        store: &CheckpointStore,
        service: &str,
        database: &str,
        part: &'static str,
    ) -> Result<InFlight, CheckpointError> {
        let (service, database) = (service.to_owned(), database.to_owned());
        store
            .blocking(move |s| s.load_note(&service, &database, part))
            .await
    }

    /// Writes the note (durably, before the send it notes).
    pub(super) async fn save(
        &self,
        store: &CheckpointStore,
        service: &str,
        database: &str,
        part: &'static str,
    ) -> Result<(), CheckpointError> {
        let (service, database, note) = (service.to_owned(), database.to_owned(), self.clone());
        store
            .blocking(move |s| s.save_note(&service, &database, part, &note))
            .await
    }

    /// Empties the note once the state holds what it noted; nothing to write when it is empty.
    pub(super) async fn clear(
        &mut self,
        store: &CheckpointStore,
        service: &str,
        database: &str,
        part: &'static str,
    ) -> Result<(), CheckpointError> {
        if self.is_empty() {
            return Ok(());
        }
        *self = InFlight::default();
        let (service, database) = (service.to_owned(), database.to_owned());
        store
            .blocking(move |s| s.clear_note(&service, &database, part))
            .await
    }

    /// Empties the note, which the state's commit `committed` cleared in the store.
    pub(super) fn committed(&mut self, committed: Option<&'static str>) {
        if committed.is_some() {
            *self = InFlight::default();
        }
    }

    /// The note's part to clear with the commit of the state that holds what it noted
    /// (see `CheckpointStore::commit`); none when it is empty.
    pub(super) fn to_clear(&self, part: &'static str) -> Option<&'static str> {
        (!self.is_empty()).then_some(part)
    }

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
