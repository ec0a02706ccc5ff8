//! PATCH as OpenMetadata defines it (RFC 6902 JSON Patch over the entity), made safe for a
//! server that stores what it is sent:
//!
//! - the patch is applied to a copy, one operation at a time; a rejected patch leaves the
//!   stored entity untouched;
//! - before each operation, the growth it can cause (the value it adds, or the subtree a `copy`
//!   duplicates) and the depth it reaches are checked, so sixteen `copy` operations cannot
//!   double an entity sixteen times and nesting cannot pass what serde_json reads back;
//! - after the patch, the fields the server owns (id, FQN, name, version, parents, href,
//!   change description, deleted, ...) must be exactly as they were, whatever operation or
//!   pointer (`""`, `from`) touched them, and no field unknown to the collection may appear.
//!
//! Pure: no I/O, unit-tested below; the store runs it on a blocking thread.

use super::entity::SYSTEM_FIELDS;
use super::limits::{depth, has_nul, json_len};
use super::request::Invalid;
use crate::openmetadata::kind::Kind;
use json_patch::PatchOperation;
use serde_json::{Map, Value};

/// At most this many operations in one PATCH (OpenMetadata's clients send a few dozen).
pub(super) const MAX_OPERATIONS: usize = 1_000;

/// The fields a PATCH may not change: the server's own, and the name (a rename is a PUT of a
/// new entity in OpenMetadata's model).
fn protected(field: &str) -> bool {
    field == "name" || SYSTEM_FIELDS.contains(&field)
}

/// Applies `patch` to a copy of `stored`. `max_bytes` bounds the patched entity's JSON (a
/// stored entity already larger may stay as large: only growth past the bound is refused);
/// `max_depth` bounds its nesting.
pub(super) fn apply(
    kind: &Kind,
    stored: &Map<String, Value>,
    patch: &[PatchOperation],
    max_bytes: usize,
    max_depth: usize,
) -> Result<Map<String, Value>, Invalid> {
    if patch.len() > MAX_OPERATIONS {
        return Err(Invalid(format!(
            "a JSON Patch may have at most {MAX_OPERATIONS} operations; this one has {}",
            patch.len()
        )));
    }
    let mut doc = Value::Object(stored.clone());
    let mut size = json_len(&doc);
    let limit = max_bytes.max(size);
    for (i, op) in patch.iter().enumerate() {
        let (added, removed) = growth(&doc, op);
        let target_depth = pointer_depth(op.path().as_str());
        if target_depth + added.map_or(0, depth) > max_depth {
            return Err(Invalid(format!(
                "operation {i} ({op_name} {path}) would nest the entity deeper than {max_depth} levels",
                op_name = op_name(op),
                path = op.path()
            )));
        }
        size = (size + added.map_or(0, json_len)).saturating_sub(removed);
        if size > limit {
            return Err(Invalid(format!(
                "operation {i} ({op_name} {path}) would make the entity larger than {limit} bytes",
                op_name = op_name(op),
                path = op.path()
            )));
        }
        json_patch::patch(&mut doc, std::slice::from_ref(op))
            .map_err(|e| Invalid(format!("JSON Patch operation {i} does not apply: {e}")))?;
    }
    let Value::Object(patched) = doc else {
        return Err(Invalid(
            "a JSON Patch must leave the entity a JSON object".into(),
        ));
    };
    check_fields(kind, stored, &patched)?;
    if patched.values().any(has_nul) {
        return Err(Invalid(
            "text must not contain NUL (\\u0000) characters".into(),
        ));
    }
    Ok(patched)
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

/// The value an operation puts into the document (if any), and the bytes it takes out.
fn growth<'a>(doc: &'a Value, op: &'a PatchOperation) -> (Option<&'a Value>, usize) {
    let at = |path: &str| doc.pointer(path).map_or(0, json_len);
    match op {
        PatchOperation::Add(o) => (Some(&o.value), at(o.path.as_str())),
        PatchOperation::Replace(o) => (Some(&o.value), at(o.path.as_str())),
        PatchOperation::Copy(o) => (doc.pointer(o.from.as_str()), 0),
        PatchOperation::Remove(o) => (None, at(o.path.as_str())),
        PatchOperation::Move(o) => (doc.pointer(o.from.as_str()), at(o.from.as_str())),
        PatchOperation::Test(_) => (None, 0),
    }
}

/// How many levels below the root a JSON pointer reaches (`""` is the root).
fn pointer_depth(pointer: &str) -> usize {
    pointer.matches('/').count()
}

/// The server's fields unchanged; no field the collection does not know.
fn check_fields(
    kind: &Kind,
    stored: &Map<String, Value>,
    patched: &Map<String, Value>,
) -> Result<(), Invalid> {
    let keys = stored.keys().chain(patched.keys());
    for field in keys.filter(|k| protected(k)) {
        if stored.get(field) != patched.get(field) {
            return Err(Invalid(format!(
                "{field} is maintained by the server; a PATCH cannot change it"
            )));
        }
    }
    for field in patched.keys() {
        let known = stored.contains_key(field)
            || field == "owners"
            || kind.copied.contains(&field.as_str())
            || kind.patched.contains(&field.as_str())
            || kind.optional.contains(&field.as_str());
        if !known {
            return Err(Invalid(format!("unknown field {field}")));
        }
    }
    if let Some(owners) = patched.get("owners").filter(|o| !o.is_null()) {
        let ok = owners.as_array().is_some_and(|a| {
            a.iter().all(|o| {
                o.get("id").is_some_and(Value::is_string)
                    && o.get("type").is_some_and(Value::is_string)
            })
        });
        if !ok {
            return Err(Invalid(
                "owners must be an array of entity references with string id and type".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openmetadata::kind::TABLE;
    use serde_json::json;

    fn stored() -> Map<String, Value> {
        match json!({
            "id": "11111111-1111-1111-1111-111111111111",
            "name": "film",
            "fullyQualifiedName": "svc.db.public.film",
            "version": 0.3,
            "deleted": false,
            "databaseSchema": {"id": "s", "type": "databaseSchema", "fullyQualifiedName": "svc.db.public"},
            "columns": [{"name": "id", "dataType": "INT"}],
            "description": "films",
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn ops(v: Value) -> Vec<PatchOperation> {
        serde_json::from_value(v).expect("valid patch")
    }

    fn run(v: Value) -> Result<Map<String, Value>, Invalid> {
        apply(&TABLE, &stored(), &ops(v), 1 << 20, 32)
    }

    #[test]
    fn a_description_patch_applies() {
        let out = run(json!([{"op": "replace", "path": "/description", "value": "all films"}]))
            .expect("applies");
        assert_eq!(out["description"], "all films");
        assert_eq!(out["fullyQualifiedName"], "svc.db.public.film");
    }

    #[test]
    fn no_operation_can_touch_a_system_field() {
        let mut whole = stored();
        whole.insert("fullyQualifiedName".into(), json!("nowhere.x.y.z"));
        let cases = [
            json!([{"op": "replace", "path": "", "value": Value::Object(whole)}]),
            json!([{"op": "move", "from": "/fullyQualifiedName", "path": "/description"}]),
            json!([{"op": "copy", "from": "/description", "path": "/fullyQualifiedName"}]),
            json!([{"op": "replace", "path": "/version", "value": 0.1}]),
            json!([{"op": "remove", "path": "/id"}]),
            json!([{"op": "add", "path": "/changeDescription", "value": {}}]),
            json!([{"op": "add", "path": "/href", "value": "x"}]),
            json!([{"op": "replace", "path": "/databaseSchema/id", "value": "other"}]),
            json!([{"op": "replace", "path": "/deleted", "value": true}]),
            json!([{"op": "replace", "path": "/name", "value": "other"}]),
        ];
        for case in cases {
            let err = run(case.clone()).expect_err("refused");
            assert!(err.0.contains("maintained by the server"), "{case}: {err}");
        }
    }

    #[test]
    fn copies_cannot_multiply_the_entity() {
        // Each copy doubles /extension: 16 of them would make 64 MB of a 1 KB entity.
        let mut patch =
            vec![json!({"op": "add", "path": "/extension", "value": {"d": "x".repeat(1000)}})];
        for i in 0..16 {
            patch.push(
                json!({"op": "copy", "from": "/extension", "path": format!("/extension/c{i}")}),
            );
        }
        let err = apply(&TABLE, &stored(), &ops(Value::Array(patch)), 64 * 1024, 32)
            .expect_err("refused");
        assert!(err.0.contains("larger than 65536 bytes"), "{err}");
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = json!("leaf");
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let err =
            run(json!([{"op": "add", "path": "/extension", "value": deep}])).expect_err("deep");
        assert!(err.0.contains("deeper than 32 levels"), "{err}");
        // Nesting built up by copying a subtree into itself, one level per operation.
        let mut patch = vec![json!({"op": "add", "path": "/extension", "value": {"a": {}}})];
        let mut path = "/extension/a".to_owned();
        for _ in 0..40 {
            patch.push(json!({"op": "copy", "from": "/extension", "path": format!("{path}/a")}));
            path.push_str("/a");
        }
        let err = run(Value::Array(patch)).expect_err("deep by copies");
        assert!(err.0.contains("deeper than 32 levels"), "{err}");
    }

    #[test]
    fn unknown_fields_bad_owners_and_too_many_operations_are_refused() {
        let err =
            run(json!([{"op": "add", "path": "/colour", "value": "red"}])).expect_err("unknown");
        assert_eq!(err.0, "unknown field colour");
        let err = run(json!([{"op": "add", "path": "/owners", "value": [{"id": 1}]}]))
            .expect_err("owners");
        assert!(err.0.starts_with("owners must be"), "{err}");
        let many: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "/name", "value": "film"}))
            .collect();
        let err = run(Value::Array(many)).expect_err("too many");
        assert!(err.0.contains("at most 1000 operations"), "{err}");
    }

    #[test]
    fn a_failing_operation_names_its_index() {
        let err = run(json!([
            {"op": "replace", "path": "/description", "value": "ok"},
            {"op": "remove", "path": "/nothing/here"}
        ]))
        .expect_err("fails");
        assert!(
            err.0.starts_with("JSON Patch operation 1 does not apply"),
            "{err}"
        );
    }

    #[test]
    fn an_entity_already_over_the_bound_can_still_be_patched_without_growing() {
        let big = apply(
            &TABLE,
            &stored(),
            &ops(json!([{"op": "replace", "path": "/description", "value": "y".repeat(5000)}])),
            1 << 20,
            32,
        )
        .expect("big");
        let out = apply(
            &TABLE,
            &big,
            &ops(json!([{"op": "replace", "path": "/description", "value": "z".repeat(4000)}])),
            1024,
            32,
        )
        .expect("shrinks");
        assert_eq!(out["description"].as_str().map(str::len), Some(4000));
    }
}
