//! The schema-changes topic's records of one catalog poll: each classified change of the diff
//! (`schema_change::rules`), with what it reaches through the lineage sent so far
//! (`schema_change::impact`): view and routine edges of the catalog, statement edges of the
//! query log.

use crate::config::ProtectedObject;
use crate::diff::{Change, event_id};
use crate::event::{SchemaChangeEvent, SourceInfo};
use crate::lineage::edges::SentEdge;
use crate::schema_change::{contract, impact};

/// One event per classified change of `changes`, its impact nearest first.
pub(super) fn events(
    changes: &[Change],
    edges: &[&SentEdge],
    protected: &[ProtectedObject],
    source: &SourceInfo,
    emitted_at: i64,
) -> Vec<SchemaChangeEvent> {
    let mut out = Vec::new();
    for c in changes {
        let metadata_event_id = event_id(c, source);
        for change in &c.schema_changes {
            out.push(SchemaChangeEvent {
                event_id: SchemaChangeEvent::id_for(
                    &metadata_event_id,
                    change.rule,
                    &change.object_fqn,
                    &change.path,
                ),
                emitted_at,
                source: source.clone(),
                rule: change.rule.to_owned(),
                change_class: change.class,
                reason: change.reason.clone(),
                object_type: change.object_type,
                object_fqn: change.object_fqn.clone(),
                entity_fqn: change.entity_fqn.clone(),
                path: change.path.clone(),
                before: change.before.clone(),
                after: change.after.clone(),
                contract_violation: contract::violates(protected, change),
                metadata_event_id: Some(metadata_event_id.clone()),
                impact: impact::reached(change, edges),
            });
        }
    }
    out
}
