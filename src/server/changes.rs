//! What a PUT changes: which curated fields carry over from the stored entity (and its
//! columns), what changed field by field and column by column, and OpenMetadata's
//! `changeDescription` and version step. Columns are matched by name through a map, so both
//! are linear in the number of columns (a 100,000-column table is compared in milliseconds).

use super::entity::{SYSTEM_FIELDS, child_fqn};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// What a PUT keeps of the existing entity: a description, owners or tags already set are not
/// overwritten (OpenMetadata's rule for ingestion bots; a PATCH does overwrite), and neither
/// are column descriptions. A PUT that leaves them out does not clear them.
pub(super) fn merge_curated(existing: &Map<String, Value>, incoming: &mut Map<String, Value>) {
    for field in ["description", "owners", "tags", "displayName"] {
        if !is_empty(existing.get(field)) {
            incoming.insert(field.into(), existing[field].clone());
        }
    }
    if let (Some(Value::Array(old)), Some(Value::Array(new))) =
        (existing.get("columns"), incoming.get_mut("columns"))
    {
        merge_curated_columns(old, new);
    }
}

/// What changed between two versions of an entity's content.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Changes {
    pub added: Vec<(String, Value)>,
    pub updated: Vec<(String, Value, Value)>,
    pub deleted: Vec<(String, Value)>,
    /// A dropped column or a changed column type: OpenMetadata bumps the major version.
    pub breaking: bool,
}

impl Changes {
    pub(super) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }

    /// OpenMetadata's `changeDescription`.
    pub(super) fn describe(&self, previous_version: f64) -> Value {
        let show = |v: &Value| match v {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        };
        json!({
            "fieldsAdded": self.added.iter().map(|(n, v)| json!({"name": n, "newValue": show(v)})).collect::<Vec<_>>(),
            "fieldsUpdated": self.updated.iter().map(|(n, o, v)| json!({"name": n, "oldValue": show(o), "newValue": show(v)})).collect::<Vec<_>>(),
            "fieldsDeleted": self.deleted.iter().map(|(n, o)| json!({"name": n, "oldValue": show(o)})).collect::<Vec<_>>(),
            "previousVersion": previous_version,
        })
    }

    /// The version after this change: +1.0 when breaking, else +0.1 (one decimal, as
    /// OpenMetadata rounds it).
    pub(super) fn next_version(&self, version: f64) -> f64 {
        let step = if self.breaking { 1.0 } else { 0.1 };
        ((version + step) * 10.0).round() / 10.0
    }
}

/// Compares two entities' content field by field (the server's own fields are not content
/// and are passed over); columns are compared by name, per attribute.
pub(super) fn changes(old: &Map<String, Value>, new: &Map<String, Value>) -> Changes {
    let mut out = Changes::default();
    let content = |k: &String| !SYSTEM_FIELDS.contains(&k.as_str());
    for (k, v) in new.iter().filter(|(k, _)| content(k)) {
        match old.get(k) {
            None if !v.is_null() => out.added.push((k.clone(), v.clone())),
            Some(o) if o != v && k == "columns" => column_changes(o, v, &mut out),
            Some(o) if o != v => out.updated.push((k.clone(), o.clone(), v.clone())),
            _ => {}
        }
    }
    for (k, o) in old.iter().filter(|(k, _)| content(k)) {
        if !new.contains_key(k) && !o.is_null() {
            out.deleted.push((k.clone(), o.clone()));
        }
    }
    out
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn name(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// Columns by name (the first of a duplicated name wins; validation refuses duplicates).
fn by_name(columns: &[Value]) -> HashMap<&str, &Value> {
    let mut map = HashMap::with_capacity(columns.len());
    for c in columns {
        map.entry(name(c)).or_insert(c);
    }
    map
}

/// Keeps the stored columns' curated `description` and `tags` (and their children's) where
/// the incoming column has the same name.
fn merge_curated_columns(old: &[Value], new: &mut [Value]) {
    let old = by_name(old);
    for c in new.iter_mut() {
        let Some(prev) = old.get(name(c)).copied() else {
            continue;
        };
        let Value::Object(c) = c else {
            continue;
        };
        for field in ["description", "tags"] {
            if !is_empty(prev.get(field)) {
                c.insert(field.into(), prev[field].clone());
            }
        }
        if let (Some(Value::Array(po)), Some(Value::Array(pn))) =
            (prev.get("children"), c.get_mut("children"))
        {
            merge_curated_columns(po, pn);
        }
    }
}

/// Adds to `out` what changed between two column lists: columns added and dropped, and each
/// attribute of a kept column (`columns.<name>.<attribute>`). A dropped column or a new
/// data type is breaking, as in OpenMetadata.
fn column_changes(old: &Value, new: &Value, out: &mut Changes) {
    let (Value::Array(old), Value::Array(new)) = (old, new) else {
        out.updated
            .push(("columns".into(), old.clone(), new.clone()));
        return;
    };
    let old_by_name = by_name(old);
    let new_names: std::collections::HashSet<&str> = new.iter().map(name).collect();
    let mut added = Vec::new();
    for n in new {
        match old_by_name.get(name(n)).copied() {
            None => added.push(n.clone()),
            Some(o) => attribute_changes(o, n, out),
        }
    }
    let dropped: Vec<Value> = old
        .iter()
        .filter(|o| !new_names.contains(name(o)))
        .cloned()
        .collect();
    if !added.is_empty() {
        out.added.push(("columns".into(), Value::Array(added)));
    }
    if !dropped.is_empty() {
        out.breaking = true;
        out.deleted.push(("columns".into(), Value::Array(dropped)));
    }
}

fn attribute_changes(old: &Value, new: &Value, out: &mut Changes) {
    let (Value::Object(o), Value::Object(n)) = (old, new) else {
        return;
    };
    if o == n {
        return;
    }
    let field = |k: &str| format!("columns.{}.{k}", child_fqn(None, name(new)));
    for (k, v) in n {
        let prev = o.get(k).unwrap_or(&Value::Null);
        if prev != v {
            if k == "dataType" || k == "arrayDataType" {
                out.breaking = true;
            }
            out.updated.push((field(k), prev.clone(), v.clone()));
        }
    }
    for (k, v) in o {
        if !n.contains_key(k) && !v.is_null() {
            out.deleted.push((field(k), v.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_keeps_curated_descriptions_and_owners() {
        let existing = json!({"description": "curated", "owners": [{"id": "u", "type": "user"}],
            "columns": [{"name": "a", "description": "kept"}, {"name": "b"}]});
        let mut incoming = json!({"description": "from source",
            "columns": [{"name": "a", "description": "new"}, {"name": "b", "description": "filled"}]});
        let (Value::Object(e), Value::Object(i)) = (&existing, &mut incoming) else {
            unreachable!()
        };
        merge_curated(e, i);
        assert_eq!(incoming["description"], "curated");
        assert_eq!(incoming["owners"][0]["id"], "u");
        assert_eq!(incoming["columns"][0]["description"], "kept");
        assert_eq!(incoming["columns"][1]["description"], "filled");
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn no_change_is_no_change() {
        let a = map(json!({"columns": [{"name": "a", "dataType": "INT"}], "tableType": "Regular"}));
        assert!(changes(&a, &a.clone()).is_empty());
    }

    #[test]
    fn an_added_column_is_a_minor_change() {
        let old = map(json!({"columns": [{"name": "a", "dataType": "INT"}]}));
        let new = map(
            json!({"columns": [{"name": "a", "dataType": "INT"}, {"name": "b", "dataType": "TEXT"}]}),
        );
        let c = changes(&old, &new);
        assert!(!c.breaking);
        assert_eq!(c.added.len(), 1);
        assert_eq!(c.added[0].0, "columns");
        assert_eq!(c.next_version(0.1), 0.2);
        let d = c.describe(0.1);
        assert_eq!(d["fieldsAdded"][0]["name"], "columns");
        assert_eq!(d["previousVersion"], 0.1);
    }

    #[test]
    fn a_dropped_column_or_a_new_type_is_breaking() {
        let old = map(
            json!({"columns": [{"name": "a", "dataType": "INT"}, {"name": "b", "dataType": "INT"}]}),
        );
        let dropped = map(json!({"columns": [{"name": "a", "dataType": "INT"}]}));
        let c = changes(&old, &dropped);
        assert!(c.breaking);
        assert_eq!(c.deleted[0].0, "columns");
        assert_eq!(c.next_version(0.3), 1.3);
        let retyped = map(
            json!({"columns": [{"name": "a", "dataType": "BIGINT"}, {"name": "b", "dataType": "INT"}]}),
        );
        let c = changes(&old, &retyped);
        assert!(c.breaking);
        assert_eq!(c.updated[0].0, "columns.a.dataType");
    }

    #[test]
    fn field_changes_are_listed_by_name() {
        let old = map(json!({"description": "x", "tableType": "Regular"}));
        let new = map(json!({"description": "y", "schemaDefinition": "select 1"}));
        let c = changes(&old, &new);
        assert_eq!(
            c.updated,
            vec![("description".into(), json!("x"), json!("y"))]
        );
        assert_eq!(
            c.added,
            vec![("schemaDefinition".into(), json!("select 1"))]
        );
        assert_eq!(c.deleted, vec![("tableType".into(), json!("Regular"))]);
        assert!(!c.breaking);
    }

    fn wide(n: usize, data_type: &str) -> Value {
        Value::Array(
            (0..n)
                .map(|i| json!({"name": format!("c{i}"), "dataType": data_type}))
                .collect(),
        )
    }

    #[test]
    fn a_wide_table_is_compared_column_by_column() {
        let old = wide(100_000, "INT");
        let mut new = wide(100_000, "INT");
        if let Value::Array(cols) = &mut new {
            cols[99_999]["dataType"] = json!("BIGINT");
            cols.push(json!({"name": "extra", "dataType": "TEXT"}));
            cols.remove(0);
        }
        let mut out = Changes::default();
        column_changes(&old, &new, &mut out);
        assert!(out.breaking);
        assert_eq!(
            out.updated,
            vec![(
                "columns.c99999.dataType".into(),
                json!("INT"),
                json!("BIGINT")
            )]
        );
        assert_eq!(out.added[0].1[0]["name"], "extra");
        assert_eq!(out.deleted[0].1[0]["name"], "c0");
    }

    #[test]
    fn dropped_attributes_and_quoted_names_are_reported() {
        let old = json!([{"name": "a.b", "dataType": "INT", "description": "d"}]);
        let new = json!([{"name": "a.b", "dataType": "INT"}]);
        let mut out = Changes::default();
        column_changes(&old, &new, &mut out);
        assert_eq!(
            out.deleted,
            vec![("columns.\"a.b\".description".into(), json!("d"))]
        );
        assert!(!out.breaking);
    }

    #[test]
    fn curated_column_fields_survive_a_put() {
        let old = vec![
            json!({"name": "a", "description": "kept", "children": [{"name": "x", "tags": ["t"]}]}),
            json!({"name": "b"}),
        ];
        let mut new = vec![
            json!({"name": "a", "description": "new", "children": [{"name": "x"}]}),
            json!({"name": "b", "description": "filled"}),
        ];
        merge_curated_columns(&old, &mut new);
        assert_eq!(new[0]["description"], "kept");
        assert_eq!(new[0]["children"][0]["tags"], json!(["t"]));
        assert_eq!(new[1]["description"], "filled");
    }
}
