//! A table's columns across a PUT: which curated fields carry over from the stored columns,
//! and what changed, column by column. Columns are matched by name through a map, so both
//! are linear in the number of columns (a 100,000-column table is compared in milliseconds).

use super::entity::{Changes, child_fqn, is_empty};
use serde_json::Value;
use std::collections::HashMap;

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
pub fn merge_curated(old: &[Value], new: &mut [Value]) {
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
            merge_curated(po, pn);
        }
    }
}

/// Adds to `out` what changed between two column lists: columns added and dropped, and each
/// attribute of a kept column (`columns.<name>.<attribute>`). A dropped column or a new
/// data type is breaking, as in OpenMetadata.
pub fn changes(old: &Value, new: &Value, out: &mut Changes) {
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
    use serde_json::json;

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
        changes(&old, &new, &mut out);
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
        changes(&old, &new, &mut out);
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
        merge_curated(&old, &mut new);
        assert_eq!(new[0]["description"], "kept");
        assert_eq!(new[0]["children"][0]["tags"], json!(["t"]));
        assert_eq!(new[1]["description"], "filled");
    }
}
