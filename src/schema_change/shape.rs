//! What the capture remembers of an entity's values, so that a change can say what a field
//! was before (`numeric(10,2)` -> `numeric(12,2)`) and be classified. The state otherwise keeps
//! only hashes (the diff's entity digests); a shape keeps the catalog structure (columns,
//! constraints, indexes) and the short top-level fields, not the large texts (view
//! definitions, routine bodies, DDL, policies, privileges), whose changes carry no before value.

use crate::model::{Column, Constraint, Database, DatabaseSchema, Index, Routine, Table};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Top-level fields by their `changed_fields` name, as text (`None`: not set).
    pub fields: Vec<(String, Option<String>)>,
    #[serde(default)]
    pub columns: Vec<Column>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    #[serde(default)]
    pub indexes: Vec<Index>,
}

fn text<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Null) | Err(_) => None,
        Ok(serde_json::Value::String(s)) => Some(s),
        Ok(other) => Some(other.to_string()),
    }
}

fn field<T: Serialize>(name: &str, value: &T) -> (String, Option<String>) {
    (name.to_owned(), text(value))
}

impl Shape {
    pub fn of_table(t: &Table) -> Shape {
        Shape {
            fields: vec![
                field("schema", &t.schema),
                field("name", &t.name),
                field("table_type", &t.table_type),
                field("owner", &t.owner),
                field("description", &t.description),
                (
                    "partitioning".into(),
                    t.partitioning.as_ref().map(|p| p.key.clone()),
                ),
                (
                    "partition_of".into(),
                    t.partition_of.as_ref().map(|p| {
                        format!(
                            "{}.{} {}",
                            crate::model::quote_ident(&p.parent_schema),
                            crate::model::quote_ident(&p.parent_table),
                            p.bound
                        )
                    }),
                ),
                (
                    "foreign_table".into(),
                    t.foreign_table.as_ref().map(|f| f.server.clone()),
                ),
                field("row_level_security", &t.row_level_security),
                field("force_row_level_security", &t.force_row_level_security),
            ],
            columns: t.columns.clone(),
            constraints: t.constraints.clone(),
            indexes: t.indexes.clone(),
        }
    }

    pub fn of_routine(r: &Routine) -> Shape {
        Shape {
            fields: vec![
                field("schema", &r.schema),
                field("name", &r.name),
                field("kind", &r.kind),
                field("arguments", &r.arguments),
                field("return_type", &r.return_type),
                field("language", &r.language),
                field("owner", &r.owner),
                field("description", &r.description),
                field("volatility", &r.volatility),
                field("security_definer", &r.security_definer),
            ],
            ..Shape::default()
        }
    }

    pub fn of_database(d: &Database) -> Shape {
        Shape {
            fields: vec![
                field("name", &d.name),
                field("owner", &d.owner),
                field("description", &d.description),
                field("encoding", &d.encoding),
                field("collation", &d.collation),
            ],
            ..Shape::default()
        }
    }

    pub fn of_schema(s: &DatabaseSchema) -> Shape {
        Shape {
            fields: vec![
                field("name", &s.name),
                field("owner", &s.owner),
                field("description", &s.description),
            ],
            ..Shape::default()
        }
    }

    /// The value at a `changed_fields` path: `owner`, `columns.<name>.<field>`,
    /// `constraints.<name>.<field>`, `indexes.<name>.<field>`; a whole child
    /// (`columns.<name>`) is its definition. `None` when the shape does not hold it (a large
    /// text field, or no such child).
    pub fn value(&self, path: &str) -> Option<String> {
        let child = |group: &str| -> Option<(String, Option<String>)> {
            let rest = path.strip_prefix(group)?.strip_prefix('.')?;
            let found = match group {
                "columns" => self
                    .columns
                    .iter()
                    .find(|c| child_path(rest, &c.name).is_some())
                    .map(|c| (c.name.as_str(), serde_json::to_value(c), column_sql(c))),
                "constraints" => self
                    .constraints
                    .iter()
                    .find(|c| child_path(rest, &c.name).is_some())
                    .map(|c| {
                        (
                            c.name.as_str(),
                            serde_json::to_value(c),
                            c.definition.clone(),
                        )
                    }),
                _ => self
                    .indexes
                    .iter()
                    .find(|i| child_path(rest, &i.name).is_some())
                    .map(|i| {
                        (
                            i.name.as_str(),
                            serde_json::to_value(i),
                            i.definition.clone(),
                        )
                    }),
            };
            let (name, json, whole) = found?;
            match child_path(rest, name)? {
                None => Some((String::new(), Some(whole))),
                Some(f) => Some((
                    f.to_owned(),
                    json.ok()?.get(f).and_then(|v| match v {
                        serde_json::Value::Null => None,
                        serde_json::Value::String(s) => Some(s.clone()),
                        other => Some(other.to_string()),
                    }),
                )),
            }
        };
        for group in ["columns", "constraints", "indexes"] {
            if path.starts_with(&format!("{group}.")) {
                return child(group).and_then(|(_, v)| v);
            }
        }
        self.fields
            .iter()
            .find(|(name, _)| name == path)
            .and_then(|(_, v)| v.clone())
    }

    /// Whether the shape holds the field at `path` at all (set or not), so an absent value
    /// can be told from one the shape does not keep.
    pub fn holds(&self, path: &str) -> bool {
        ["columns.", "constraints.", "indexes."]
            .iter()
            .any(|g| path.starts_with(g))
            || self.fields.iter().any(|(name, _)| name == path)
    }
}

/// `rest` is `<name>` or `<name>.<field>` for the child `name` (which may itself contain
/// dots): `Some(None)` for the whole child, `Some(Some(field))` for one field of it.
fn child_path<'a>(rest: &'a str, name: &str) -> Option<Option<&'a str>> {
    let after = rest.strip_prefix(name)?;
    if after.is_empty() {
        return Some(None);
    }
    after
        .strip_prefix('.')
        .filter(|f| !f.contains('.'))
        .map(Some)
}

/// A column as it would be declared: `amount numeric(10,2) NOT NULL DEFAULT 0`.
pub(crate) fn column_sql(c: &Column) -> String {
    let mut out = format!("{} {}", c.name, c.data_type);
    if !c.nullable {
        out.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        out.push_str(" DEFAULT ");
        out.push_str(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures;

    fn orders() -> Table {
        let mut t = fixtures::table(1, "orders", crate::model::TableType::Table);
        t.columns = vec![fixtures::column(1, "id", "integer")];
        t.columns[0].nullable = false;
        t
    }

    #[test]
    fn values_by_path_of_fields_columns_and_constraints() {
        let mut t = orders();
        t.owner = "alice".into();
        let shape = Shape::of_table(&t);
        assert_eq!(shape.value("owner").as_deref(), Some("alice"));
        assert_eq!(shape.value("table_type").as_deref(), Some("TABLE"));
        assert_eq!(shape.value("description"), None);
        assert!(shape.holds("description"));
        assert!(!shape.holds("view_definition"));
        let col = &t.columns[0];
        assert_eq!(
            shape
                .value(&format!("columns.{}.data_type", col.name))
                .as_deref(),
            Some(&*col.data_type)
        );
        assert_eq!(
            shape
                .value(&format!("columns.{}.nullable", col.name))
                .as_deref(),
            Some(if col.nullable { "true" } else { "false" })
        );
        assert_eq!(
            shape.value(&format!("columns.{}", col.name)),
            Some(column_sql(col))
        );
        assert_eq!(shape.value("columns.no_such_column.data_type"), None);
    }

    #[test]
    fn a_child_name_with_dots_is_found_whole() {
        let mut t = orders();
        t.columns[0].name = "a.b".into();
        let shape = Shape::of_table(&t);
        assert_eq!(
            shape.value("columns.a.b.data_type").as_deref(),
            Some(&*t.columns[0].data_type)
        );
    }
}
