//! The name of an event's entity as typed parts (service, database, schema, object), made
//! once when pgmeta-apply takes the event and carried through the applier; strings are made
//! only where bytes leave (a URL, a request body).
//!
//! Built from the event's typed fields (`source.service`, `source.database`, the entity's
//! schema and name) when the event carries its entity, and checked against the event's `fqn`;
//! a DELETE carries no entity, so its name (and a rename's `previous_fqn`) is parsed here, the
//! one place an FQN is split, and checked to have exactly the parts its entity type has. An
//! event whose names do not make a valid name is malformed: dead-lettered with the reason,
//! never a panic.

use crate::event::MetadataEvent;
use crate::model::{EntityType, Fqn};

/// A malformed name: the reason, for the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadName(pub String);

/// `service.database[.schema[.object]]`, every part non-empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityName {
    parts: Vec<String>,
}

/// How many parts the name of an entity type has.
fn depth(entity_type: EntityType) -> usize {
    match entity_type {
        EntityType::Database => 2,
        EntityType::DatabaseSchema => 3,
        EntityType::Table | EntityType::Routine => 4,
    }
}

impl EntityName {
    fn checked(parts: Vec<String>, want: usize, what: &str) -> Result<EntityName, BadName> {
        if parts.len() != want {
            return Err(BadName(format!(
                "{what} has {} part(s); expected {want} (service.database[.schema[.object]])",
                parts.len()
            )));
        }
        if let Some(i) = parts.iter().position(String::is_empty) {
            return Err(BadName(format!("{what}: part {} is empty", i + 1)));
        }
        Ok(EntityName { parts })
    }

    /// Parses `fqn` as the name of an `entity_type` (for a DELETE or a rename's old name).
    pub fn parse(entity_type: EntityType, fqn: &str) -> Result<EntityName, BadName> {
        let parts = Fqn::from_raw(fqn.to_owned()).parts();
        Self::checked(parts, depth(entity_type), &format!("fqn {:?}", short(fqn)))
    }

    /// The name of the event's entity: from its typed fields when it carries the entity (and
    /// they must agree with `fqn`), else parsed from `fqn`.
    pub fn of_event(e: &MetadataEvent) -> Result<EntityName, BadName> {
        let own = if let Some(s) = &e.database_schema {
            Some(vec![s.name.clone()])
        } else if let Some(t) = &e.table {
            Some(vec![t.schema.clone(), t.name.clone()])
        } else {
            e.routine
                .as_ref()
                .map(|r| vec![r.schema.clone(), r.signature()])
        };
        let (Some(own), false) = (own, e.database.is_some()) else {
            return Self::parse(e.entity_type, &e.fqn);
        };
        let mut parts = vec![e.source.service.clone(), e.source.database.clone()];
        parts.extend(own);
        let name = Self::checked(parts, depth(e.entity_type), "the event's entity")?;
        if name.fqn() != e.fqn {
            return Err(BadName(format!(
                "fqn {:?} disagrees with the entity the event carries ({:?})",
                short(&e.fqn),
                short(&name.fqn())
            )));
        }
        Ok(name)
    }

    /// The FQN, as OpenMetadata spells it.
    pub fn fqn(&self) -> String {
        Fqn::new(self.parts.iter().map(String::as_str)).to_string()
    }

    /// The entity's own name (the last part).
    pub fn name(&self) -> &str {
        self.parts.last().map_or("", String::as_str)
    }

    pub fn service(&self) -> &str {
        &self.parts[0]
    }

    pub fn database(&self) -> &str {
        &self.parts[1]
    }

    /// The ancestor with `n` parts (1: the service, 2: the database, 3: the schema), if this
    /// name is deeper than that.
    pub fn ancestor(&self, n: usize) -> Option<EntityName> {
        (n >= 1 && n < self.parts.len()).then(|| EntityName {
            parts: self.parts[..n].to_vec(),
        })
    }

    /// The parent's name (`None` for a database's service: a service has no parent).
    pub fn parent(&self) -> Option<EntityName> {
        self.ancestor(self.parts.len() - 1)
    }

    /// The FQN of an object in another schema of the same database (a foreign key's target).
    pub fn sibling_object(&self, schema: &str, object: &str) -> String {
        Fqn::new([self.service(), self.database(), schema, object]).to_string()
    }
}

/// A name cut for an error message: an event may carry a name of any length.
fn short(s: &str) -> String {
    const MAX: usize = 200;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}... ({} characters)", s.chars().count())
    }
}

/// The column name of `column_fqn` when it is a column of the table `table_fqn` (a column FQN
/// is its table's FQN and one more part, as OpenMetadata's column lineage spells it).
pub(super) fn column_of(column_fqn: &str, table_fqn: &str) -> Option<String> {
    let tail = column_fqn.strip_prefix(table_fqn)?.strip_prefix('.')?;
    match Fqn::from_raw(tail.to_owned()).parts().as_slice() {
        [column] if !column.is_empty() => Some(column.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::mapping::tests::table_event;

    #[test]
    fn names_parse_with_exactly_their_parts() {
        let n = EntityName::parse(EntityType::Table, "svc.db.\"my.schema\".t").expect("valid");
        assert_eq!(n.name(), "t");
        assert_eq!(n.service(), "svc");
        assert_eq!(
            n.parent().map(|p| p.fqn()).as_deref(),
            Some("svc.db.\"my.schema\"")
        );
        assert_eq!(n.ancestor(1).map(|p| p.fqn()).as_deref(), Some("svc"));
        assert_eq!(n.ancestor(4), None);
        assert_eq!(n.sibling_object("other", "x.y"), "svc.db.other.\"x.y\"");
        for (entity_type, fqn, want) in [
            (EntityType::Table, "onepart", "has 1 part(s); expected 4"),
            (EntityType::Table, "a.b.c.d.e", "has 5 part(s); expected 4"),
            (EntityType::Database, "svc.", "part 2 is empty"),
            (EntityType::DatabaseSchema, "", "has 1 part(s); expected 3"),
            (EntityType::Routine, "a..c.d", "part 2 is empty"),
        ] {
            let err = EntityName::parse(entity_type, fqn).expect_err("malformed");
            assert!(err.0.contains(want), "{fqn}: {err}");
        }
        let long = "x".repeat(100_000);
        let err = EntityName::parse(EntityType::Table, &long).expect_err("one part");
        assert!(
            err.0.len() < 400 && err.0.contains("100000 characters"),
            "{}",
            err.0.len()
        );
    }

    #[test]
    fn an_events_name_comes_from_its_typed_fields_and_must_match_its_fqn() {
        let mut e = table_event("s.d.public.film", "film");
        let name = EntityName::of_event(&e).expect("valid");
        assert_eq!(name.fqn(), e.fqn);
        e.fqn = "svc".into();
        let err = EntityName::of_event(&e).expect_err("disagrees");
        assert!(err.0.contains("disagrees"), "{err}");
        e.table = None;
        let err = EntityName::of_event(&e).expect_err("one part, no entity");
        assert!(err.0.contains("has 1 part(s)"), "{err}");
    }
}
