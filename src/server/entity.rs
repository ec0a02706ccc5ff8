//! The shape of pgmeta-catalog's entities: the fields the server maintains, FQNs of children
//! and columns, query names, and the `fields=` selection of a read. No I/O.

use crate::model::Fqn;
use crate::openmetadata::kind::Kind;
use serde_json::{Map, Value};

/// Entity fields the server maintains; never part of what a PUT compares.
pub(super) const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "fullyQualifiedName",
    "version",
    "updatedAt",
    "updatedBy",
    "href",
    "changeDescription",
    "incrementalChangeDescription",
    "deleted",
    "service",
    "serviceType",
    "database",
    "databaseSchema",
    "checksum",
    "usageSummary",
    // A client's marker of what it last sent (OpenMetadata's ingestion uses it to skip
    // unchanged entities); kept, but not a change of the entity by itself.
    "sourceHash",
];

/// The name of a query entity: a checksum of its text, as OpenMetadata names them.
pub(super) fn query_checksum(query: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(query.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `parent.name`, quoting the name as FQNs do.
pub(super) fn child_fqn(parent: Option<&str>, name: &str) -> String {
    let own = Fqn::new([name]).to_string();
    match parent {
        Some(p) => format!("{p}.{own}"),
        None => own,
    }
}

/// Gives every column (and nested child) its `fullyQualifiedName` under `parent`.
pub(super) fn qualify_columns(columns: &mut Value, parent: &str) {
    let Value::Array(columns) = columns else {
        return;
    };
    for c in columns {
        let Some(name) = c.get("name").and_then(Value::as_str) else {
            continue;
        };
        let fqn = child_fqn(Some(parent), name);
        if let Some(children) = c.get_mut("children") {
            qualify_columns(children, &fqn);
        }
        if let Value::Object(c) = c {
            c.insert("fullyQualifiedName".into(), Value::String(fqn));
        }
    }
}

/// Removes the optional fields `fields=` did not ask for (`*` asks for all).
pub(super) fn select_fields(kind: &Kind, entity: &mut Map<String, Value>, fields: &str) {
    let wanted: Vec<&str> = fields
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if wanted.contains(&"*") {
        return;
    }
    for f in kind.optional {
        if !wanted.contains(f) {
            entity.remove(*f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openmetadata::kind::TABLE;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn columns_get_fqns_with_quoting() {
        let mut cols = json!([{"name": "a.b", "dataType": "STRUCT", "children": [{"name": "c", "dataType": "INT"}]}]);
        qualify_columns(&mut cols, "s.d.\"my.schema\".t");
        assert_eq!(cols[0]["fullyQualifiedName"], "s.d.\"my.schema\".t.\"a.b\"");
        assert_eq!(
            cols[0]["children"][0]["fullyQualifiedName"],
            "s.d.\"my.schema\".t.\"a.b\".c"
        );
    }

    #[test]
    fn fields_selects_optional_fields() {
        let mut e = map(json!({"name": "t", "owners": [], "tableConstraints": [], "columns": []}));
        select_fields(&TABLE, &mut e, "owners");
        assert!(
            e.contains_key("owners")
                && !e.contains_key("tableConstraints")
                && e.contains_key("columns")
        );
    }

    #[test]
    fn query_names_are_stable_checksums() {
        assert_eq!(query_checksum("select 1"), query_checksum("select 1"));
        assert_ne!(query_checksum("select 1"), query_checksum("select 2"));
        assert_eq!(query_checksum("x").len(), 32);
    }
}
