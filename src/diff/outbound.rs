//! Changes become what the sink writes: a metadata event per change, and tombstones where a
//! compacted topic needs them.

use super::{Change, Entity};
use crate::event::{EVENT_ID_NAMESPACE, MetadataEvent, Op, Outbound, SourceInfo};

/// Turns changes into what the sink writes, in an order that keeps a compacted topic right:
/// deletes (each followed by its tombstone) first, then tombstones for the previous FQNs of
/// renamed entities, then creates and updates. So when a name is freed and taken again in one
/// batch (drop and re-create, rename and re-create, a swap), the live entity's record comes
/// last for its key.
///
/// The entities move out of the changes into the events (a large snapshot is not held twice);
/// the changes keep what the state needs.
pub fn outbound(changes: &mut [Change], source: &SourceInfo, emitted_at: i64) -> Vec<Outbound> {
    let mut out = Vec::with_capacity(changes.len() + 4);
    let event = |c: &mut Change| Outbound::Event(Box::new(metadata_event(c, source, emitted_at)));
    for c in changes.iter_mut().filter(|c| c.op == Op::Delete) {
        out.push(event(c));
        out.push(Outbound::Tombstone {
            key: c.fqn.to_string(),
        });
    }
    for c in changes.iter().filter(|c| c.op != Op::Delete) {
        if let Some(prev) = &c.previous_fqn {
            out.push(Outbound::Tombstone {
                key: prev.to_string(),
            });
        }
    }
    out.extend(changes.iter_mut().filter(|c| c.op != Op::Delete).map(event));
    out
}

/// The deterministic `event_id` of the metadata event of `c`.
pub fn event_id(c: &Change, source: &SourceInfo) -> String {
    let id_name = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
        source.service,
        source.database,
        c.key.entity_type.as_str(),
        c.key.oid,
        c.version,
        c.op.as_str()
    );
    // Versions restart under a new epoch: the epoch keeps ids distinct (absent before
    // epochs existed, so those ids are unchanged).
    let id_name = if c.epoch == 0 {
        id_name
    } else {
        format!("{id_name}\u{0}{}", c.epoch)
    };
    uuid::Uuid::new_v5(&EVENT_ID_NAMESPACE, id_name.as_bytes()).to_string()
}

/// The event of `c`; takes the entity out of it.
fn metadata_event(c: &mut Change, source: &SourceInfo, emitted_at: i64) -> MetadataEvent {
    let mut event = MetadataEvent {
        event_id: event_id(c, source),
        emitted_at,
        source: source.clone(),
        entity_type: c.key.entity_type,
        fqn: c.fqn.to_string(),
        previous_fqn: c.previous_fqn.as_ref().map(|f| f.to_string()),
        op: c.op,
        changed_fields: c.changed_fields.clone(),
        object_id: c.key.oid,
        entity_version: c.version,
        database: None,
        database_schema: None,
        table: None,
        routine: None,
        truncated_fields: Vec::new(),
        capture_epoch: c.epoch,
        field_changes: std::mem::take(&mut c.field_changes),
    };
    match c.entity.take() {
        Some(Entity::Database(d)) => event.database = Some(d),
        Some(Entity::DatabaseSchema(s)) => event.database_schema = Some(s),
        Some(Entity::Table(t)) => event.table = Some(*t),
        Some(Entity::Routine(r)) => event.routine = Some(r),
        None => {}
    }
    event
}
