//! Table and column names as lineage reports them: `schema.table` and `schema.table.column`,
//! each part quoted only where PostgreSQL would need it (`quote_ident`).

use crate::model::quote_ident;
use serde::Serialize;
use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
use std::fmt;

/// A relation. `schema` is `None` only for a name that was written unqualified and could not
/// be resolved (or when no catalog was given): it is then shown as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// Only for a name in another database (which is never resolved).
    pub database: Option<String>,
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn new(schema: &str, name: &str) -> Self {
        TableName {
            database: None,
            schema: Some(schema.to_owned()),
            name: name.to_owned(),
        }
    }

    /// A name as written without a schema.
    pub fn unqualified(name: &str) -> Self {
        TableName {
            database: None,
            schema: None,
            name: name.to_owned(),
        }
    }

    pub fn column(&self, column: &str) -> ColumnName {
        ColumnName {
            table: self.clone(),
            column: column.to_owned(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(database) = &self.database {
            write!(f, "{}.", quote_ident(database))?;
        }
        if let Some(schema) = &self.schema {
            write!(f, "{}.", quote_ident(schema))?;
        }
        f.write_str(&quote_ident(&self.name))
    }
}

impl Serialize for TableName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A column of a relation; `*` stands for "every column" when a wildcard could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ColumnName {
    pub table: TableName,
    pub column: String,
}

impl fmt::Display for ColumnName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column == "*" {
            write!(f, "{}.*", self.table)
        } else {
            write!(f, "{}.{}", self.table, quote_ident(&self.column))
        }
    }
}

impl Serialize for ColumnName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An identifier as PostgreSQL reads it: unquoted names fold to lower case, quoted ones are
/// taken as written.
pub(super) fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The parts of a possibly qualified name, normalized; `None` for dialect forms PostgreSQL
/// does not have (a function producing a name part).
pub(super) fn object_parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Some(normalize(ident)),
            ObjectNamePart::Function(_) => None,
        })
        .collect()
}

/// The unqualified name of a column target such as `SET t.c = ...` or `INSERT INTO t (c)`.
pub(super) fn last_part(name: &ObjectName) -> Option<String> {
    object_parts(name).and_then(|mut parts| parts.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_where_needed() {
        let t = TableName::new("Sales Data", "order");
        assert_eq!(t.to_string(), "\"Sales Data\".\"order\"");
        assert_eq!(
            t.column("Amount").to_string(),
            "\"Sales Data\".\"order\".\"Amount\""
        );
        assert_eq!(
            TableName::new("public", "film").column("*").to_string(),
            "public.film.*"
        );
        let bare = TableName::unqualified("t");
        assert_eq!(bare.to_string(), "t");
    }

    #[test]
    fn folds_unquoted_identifiers() {
        assert_eq!(normalize(&Ident::new("Film")), "film");
        assert_eq!(normalize(&Ident::with_quote('"', "Film")), "Film");
    }
}
