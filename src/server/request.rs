//! What a create request may say: its validation (names, parents, owners, table columns,
//! constraints and data types, the limits of `server::limits`) and the split of a valid one
//! into name, parent, owners and content. No I/O: unit-tested below.

use super::entity::query_checksum;
use crate::openmetadata::kind::{Kind, TABLE};
use crate::openmetadata::{DATA_TYPES, TABLE_TYPES};
use serde_json::{Map, Value};

/// A request body that does not validate; the message names the field (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// A validated create request.
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    pub name: String,
    /// The parent's FQN (`service`, `database` or `databaseSchema` of the request).
    pub parent_fqn: Option<String>,
    /// The owners' references as sent (resolved against users by the store).
    pub owners: Vec<Value>,
    /// The fields copied into the entity.
    pub content: Map<String, Value>,
}

const CONSTRAINT_TYPES: &[&str] = &[
    "UNIQUE",
    "PRIMARY_KEY",
    "FOREIGN_KEY",
    "SORT_KEY",
    "DIST_KEY",
];

const COLUMN_CONSTRAINTS: &[&str] = &["NULL", "NOT_NULL", "UNIQUE", "PRIMARY_KEY"];

/// OpenMetadata's `entityName`: 1 to 256 characters, no `::`.
fn check_name(field: &str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.chars().count() > 256 {
        return Err(invalid(format!("{field} must be 1 to 256 characters")));
    }
    if name.contains("::") {
        return Err(invalid(format!("{field} must not contain '::'")));
    }
    Ok(())
}

fn string_field<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Invalid> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
    }
}

/// Validates a create request of `kind` and splits it into name, parent, owners and content
/// (the body's values move into the content: a wide table's columns are not copied).
pub fn validate(kind: &'static Kind, body: Value) -> Result<Create, Invalid> {
    if super::limits::depth(&body) > super::limits::MAX_DEPTH {
        return Err(invalid(format!(
            "the request nests deeper than {} levels",
            super::limits::MAX_DEPTH
        )));
    }
    if super::limits::has_nul(&body) {
        return Err(invalid("text must not contain NUL (\\u0000) characters"));
    }
    let Value::Object(body) = body else {
        return Err(invalid("request body must be a JSON object"));
    };
    let name = match (string_field(&body, "name")?, kind.entity_type) {
        (Some(n), _) => n.to_owned(),
        // A query's name is the checksum of its text when not given.
        (None, "query") => query_checksum(string_field(&body, "query")?.unwrap_or_default()),
        (None, _) => return Err(invalid("name is required")),
    };
    check_name("name", &name)?;
    let parent_fqn = match kind.parent {
        Some((field, _)) => match string_field(&body, field)? {
            Some(p) if !p.is_empty() => Some(p.to_owned()),
            _ => {
                return Err(invalid(format!(
                    "{field} is required (the parent's fullyQualifiedName)"
                )));
            }
        },
        None => None,
    };
    for field in kind.required {
        if body.get(*field).is_none_or(Value::is_null) {
            return Err(invalid(format!("{field} is required")));
        }
    }
    let mut content = Map::new();
    let mut owners = Vec::new();
    for (key, value) in body {
        if value.is_null() || key == "name" || kind.parent.is_some_and(|(f, _)| f == key) {
            continue;
        }
        if key == "owners" {
            owners = validate_references("owners", &value)?;
        } else if kind.copied.contains(&key.as_str())
            || (kind.entity_type == "query" && key == "service")
        {
            content.insert(key, value);
        } else if !kind.ignored.contains(&key.as_str()) {
            return Err(invalid(format!("unknown field {key}")));
        }
    }
    if kind == &TABLE {
        validate_table(&content)?;
    }
    if kind.entity_type == "storedProcedure" {
        match content.get("storedProcedureCode") {
            Some(Value::Object(code)) if code.get("code").is_none_or(Value::is_string) => {}
            _ => {
                return Err(invalid(
                    "storedProcedureCode must be an object with a string code",
                ));
            }
        }
    }
    if kind.entity_type == "databaseService" {
        string_field(&content, "serviceType")?;
    }
    Ok(Create {
        name,
        parent_fqn,
        owners,
        content,
    })
}

fn validate_references(field: &str, value: &Value) -> Result<Vec<Value>, Invalid> {
    let Value::Array(items) = value else {
        return Err(invalid(format!(
            "{field} must be an array of entity references"
        )));
    };
    for (i, item) in items.iter().enumerate() {
        let ok = item.get("id").is_some_and(Value::is_string)
            && item.get("type").is_some_and(Value::is_string);
        if !ok {
            return Err(invalid(format!(
                "{field}[{i}] must have string id and type"
            )));
        }
    }
    Ok(items.clone())
}

fn validate_table(content: &Map<String, Value>) -> Result<(), Invalid> {
    if let Some(t) = string_field(content, "tableType")? {
        if !TABLE_TYPES.contains(&t) {
            return Err(invalid(format!(
                "tableType {t:?} is not one of {TABLE_TYPES:?}"
            )));
        }
    }
    let Some(Value::Array(columns)) = content.get("columns") else {
        return Err(invalid("columns must be an array"));
    };
    validate_columns("columns", columns)?;
    if let Some(constraints) = content.get("tableConstraints") {
        let Value::Array(constraints) = constraints else {
            return Err(invalid("tableConstraints must be an array"));
        };
        for (i, c) in constraints.iter().enumerate() {
            let t = c.get("constraintType").and_then(Value::as_str);
            if !t.is_some_and(|t| CONSTRAINT_TYPES.contains(&t)) {
                return Err(invalid(format!(
                    "tableConstraints[{i}].constraintType must be one of {CONSTRAINT_TYPES:?}"
                )));
            }
        }
    }
    Ok(())
}

fn validate_columns(path: &str, columns: &[Value]) -> Result<(), Invalid> {
    let mut seen = std::collections::HashSet::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        // The path of this column, made only when there is an error to report.
        let at = || format!("{path}[{i}]");
        let Value::Object(c) = c else {
            return Err(invalid(format!("{} must be an object", at())));
        };
        let Some(name) =
            string_field(c, "name").map_err(|e| invalid(format!("{}.{}", at(), e.0)))?
        else {
            return Err(invalid(format!("{}.name is required", at())));
        };
        check_name("name", name).map_err(|e| invalid(format!("{}.{}", at(), e.0)))?;
        if !seen.insert(name) {
            return Err(invalid(format!(
                "{}.name {name:?} is a duplicate column name",
                at()
            )));
        }
        match c.get("dataType").and_then(Value::as_str) {
            Some(t) if is_data_type(t) => {}
            Some(t) => {
                return Err(invalid(format!(
                    "{}.dataType {t:?} is not an OpenMetadata data type",
                    at()
                )));
            }
            None => return Err(invalid(format!("{}.dataType is required", at()))),
        }
        if let Some(k) = c.get("constraint").filter(|v| !v.is_null()) {
            if !k.as_str().is_some_and(|k| COLUMN_CONSTRAINTS.contains(&k)) {
                return Err(invalid(format!(
                    "{}.constraint must be one of {COLUMN_CONSTRAINTS:?}",
                    at()
                )));
            }
        }
        if let Some(Value::Array(children)) = c.get("children") {
            validate_columns(&format!("{}.children", at()), children)?;
        }
    }
    Ok(())
}

/// Whether `t` is one of OpenMetadata's data types (a set built once: a wide table asks once
/// per column).
fn is_data_type(t: &str) -> bool {
    static SET: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| DATA_TYPES.iter().copied().collect());
    SET.contains(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openmetadata::kind::{DATABASE, STORED_PROCEDURE};
    use serde_json::json;

    fn table(columns: Value) -> Value {
        json!({"name": "film", "databaseSchema": "svc.db.public", "columns": columns})
    }

    #[test]
    fn a_valid_table_request_splits_into_parent_and_content() {
        let c = validate(
            &TABLE,
            json!({"name": "film", "databaseSchema": "svc.db.public", "tableType": "View",
                    "columns": [{"name": "id", "dataType": "INT"}], "description": null}),
        )
        .expect("valid");
        assert_eq!(c.name, "film");
        assert_eq!(c.parent_fqn.as_deref(), Some("svc.db.public"));
        assert_eq!(
            c.content.keys().collect::<Vec<_>>(),
            ["columns", "tableType"]
        );
    }

    #[test]
    fn invalid_requests_name_the_field() {
        let cases = [
            (json!([]), "request body must be a JSON object"),
            (
                json!({"databaseSchema": "a.b.c", "columns": []}),
                "name is required",
            ),
            (
                json!({"name": "t", "columns": []}),
                "databaseSchema is required",
            ),
            (
                json!({"name": "t", "databaseSchema": "a.b.c"}),
                "columns is required",
            ),
            (
                json!({"name": "a::b", "databaseSchema": "a.b.c", "columns": []}),
                "name must not contain '::'",
            ),
            (
                table(json!([{"name": "x"}])),
                "columns[0].dataType is required",
            ),
            (
                table(json!([{"name": "x", "dataType": "int4"}])),
                "columns[0].dataType \"int4\" is not an OpenMetadata data type",
            ),
            (
                table(json!([{"dataType": "INT"}])),
                "columns[0].name is required",
            ),
            (
                table(json!([{"name": "x", "dataType": "INT"}, {"name": "x", "dataType": "INT"}])),
                "columns[1].name \"x\" is a duplicate column name",
            ),
            (
                table(
                    json!([{"name": "s", "dataType": "STRUCT", "children": [{"name": "y", "dataType": "NOPE"}]}]),
                ),
                "columns[0].children[0].dataType \"NOPE\" is not an OpenMetadata data type",
            ),
            (
                json!({"name": "t", "databaseSchema": "a.b.c", "columns": [], "tableType": "Table"}),
                "tableType \"Table\" is not one of",
            ),
            (
                json!({"name": "t", "databaseSchema": "a.b.c", "columns": [], "bogus": 1}),
                "unknown field bogus",
            ),
            (
                json!({"name": "t", "databaseSchema": "a.b.c", "columns": [], "owners": [{"id": 1}]}),
                "owners[0] must have string id and type",
            ),
            (
                json!({"name": "t", "databaseSchema": "a.b.c", "columns": [], "tableConstraints": [{"constraintType": "CHECK"}]}),
                "tableConstraints[0].constraintType must be one of",
            ),
        ];
        for (body, want) in cases {
            let got = validate(&TABLE, body.clone()).expect_err("must be rejected");
            assert!(
                got.0.starts_with(want),
                "{body}: got {got:?}, want {want:?}"
            );
        }
        let got = validate(
            &STORED_PROCEDURE,
            json!({"name": "p", "databaseSchema": "a.b.c", "storedProcedureCode": "x"}),
        );
        assert_eq!(
            got.expect_err("rejected").0,
            "storedProcedureCode must be an object with a string code"
        );
        let got = validate(&DATABASE, json!({"name": "d", "service": 3}));
        assert_eq!(got.expect_err("rejected").0, "service must be a string");
    }
}
