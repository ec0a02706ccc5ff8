//! Name resolution: what relation an unqualified or qualified name means, as PostgreSQL would
//! decide it for a session with a given `search_path`.
//!
//! `pg_catalog` is searched before the search path (unless the path names it), so an
//! unqualified `pg_*` name is a system catalog; `information_schema` and `pg_toast` are system
//! schemas too. A name that matches nothing in the catalog is *unresolved*: it is reported as
//! written and never becomes an edge.

use super::names::TableName;
use crate::model::CatalogSnapshot;
use std::collections::HashMap;
use std::sync::Arc;

/// What a relation name means.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution<'r> {
    /// A relation of the catalog (or, without a catalog, a name taken as written);
    /// `columns` are known only with a catalog.
    Relation {
        name: TableName,
        columns: Option<&'r [String]>,
    },
    /// A system catalog or information schema relation: not lineage.
    System(TableName),
    /// Names nothing in the catalog (a missing table, a temp table of another session, a
    /// relation in a filtered-out schema, another database).
    Unresolved(TableName),
}

/// The relations of one database and the search path that unqualified names go through.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    database: Option<String>,
    search_path: Vec<String>,
    /// `None`: no catalog, names are taken as written. Shared, so that [`Resolver::for_user`]
    /// (once per statement parsed) does not copy a catalog of 2 million column names.
    catalog: Option<Arc<Catalog>>,
}

/// Relations by schema and name, with their column names.
type Catalog = HashMap<String, HashMap<String, Vec<String>>>;

const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema"];

impl Resolver {
    /// No catalog: qualified names are taken as written, unqualified ones stay unqualified,
    /// and columns of `*` are unknown.
    pub fn without_catalog() -> Self {
        Resolver::default()
    }

    /// Resolves through `snapshot`'s relations with `search_path` (`"$user"` entries are
    /// expanded per query, see [`Resolver::for_user`]).
    pub fn from_snapshot(snapshot: &CatalogSnapshot, search_path: &[String]) -> Self {
        let mut catalog = Catalog::new();
        for table in &snapshot.tables {
            catalog.entry(table.schema.clone()).or_default().insert(
                table.name.clone(),
                table.columns.iter().map(|c| c.name.clone()).collect(),
            );
        }
        Resolver {
            database: Some(snapshot.database.name.clone()),
            search_path: search_path.to_vec(),
            catalog: Some(Arc::new(catalog)),
        }
        .with_schemas(snapshot.schemas.iter().map(|s| s.name.as_str()))
    }

    /// The same, holding `schemas` too, with relations or without (an unqualified CREATE
    /// goes to the first schema of the search path that exists).
    pub fn with_schemas<'a>(mut self, schemas: impl IntoIterator<Item = &'a str>) -> Self {
        if let Some(catalog) = &mut self.catalog {
            let catalog = Arc::make_mut(catalog);
            for schema in schemas {
                catalog.entry(schema.to_owned()).or_default();
            }
        }
        self
    }

    /// Builds a resolver from explicit relations (tests, and the `lineage` command's catalog).
    pub fn from_relations<'a>(
        database: &str,
        search_path: &[&str],
        relations: impl IntoIterator<Item = (&'a str, &'a str, &'a [&'a str])>,
    ) -> Self {
        let mut catalog = Catalog::new();
        for (schema, table, columns) in relations {
            catalog.entry(schema.to_owned()).or_default().insert(
                table.to_owned(),
                columns.iter().map(|c| (*c).to_owned()).collect(),
            );
        }
        Resolver {
            database: Some(database.to_owned()),
            search_path: search_path.iter().map(|s| (*s).to_owned()).collect(),
            catalog: Some(Arc::new(catalog)),
        }
    }

    /// Builds a resolver from owned relation rows `(schema, name, columns)`.
    pub fn from_parts(
        database: &str,
        search_path: Vec<String>,
        relations: Vec<(String, String, Vec<String>)>,
    ) -> Self {
        let mut catalog = Catalog::new();
        for (schema, name, columns) in relations {
            catalog.entry(schema).or_default().insert(name, columns);
        }
        Resolver {
            database: Some(database.to_owned()),
            search_path,
            catalog: Some(Arc::new(catalog)),
        }
    }

    /// Whether the catalog holds this relation.
    pub fn contains(&self, table: &TableName) -> bool {
        match (&self.catalog, &table.schema, &table.database) {
            (Some(catalog), Some(schema), None) => catalog
                .get(schema)
                .is_some_and(|s| s.contains_key(&table.name)),
            _ => false,
        }
    }

    /// The same catalog with `"$user"` in the search path replaced by `user`, as PostgreSQL
    /// does for that role's sessions.
    pub fn for_user(&self, user: &str) -> Resolver {
        let mut r = self.clone();
        r.search_path = self
            .search_path
            .iter()
            .map(|s| {
                if s == "$user" {
                    user.to_owned()
                } else {
                    s.clone()
                }
            })
            .collect();
        r
    }

    /// The schema an unqualified CREATE puts its relation in: the first schema of the search
    /// path that exists.
    pub fn creation_schema(&self) -> Option<&str> {
        let catalog = self.catalog.as_ref()?;
        self.search_path
            .iter()
            .find(|s| catalog.contains_key(s.as_str()))
            .map(String::as_str)
    }

    /// Resolves normalized name parts (`[table]`, `[schema, table]` or
    /// `[database, schema, table]`).
    pub fn resolve(&self, parts: &[String]) -> Resolution<'_> {
        match parts {
            [name] => self.resolve_unqualified(name),
            [schema, name] => self.resolve_qualified(schema, name),
            [database, schema, name] => {
                if self.database.as_ref().is_none_or(|d| d == database) {
                    self.resolve_qualified(schema, name)
                } else {
                    Resolution::Unresolved(TableName {
                        database: Some(database.clone()),
                        ..TableName::new(schema, name)
                    })
                }
            }
            _ => Resolution::Unresolved(TableName::unqualified(&parts.join("."))),
        }
    }

    fn resolve_qualified(&self, schema: &str, name: &str) -> Resolution<'_> {
        let table = TableName::new(schema, name);
        if is_system_schema(schema) {
            return Resolution::System(table);
        }
        match &self.catalog {
            None => Resolution::Relation {
                name: table,
                columns: None,
            },
            Some(catalog) => match catalog.get(schema).and_then(|s| s.get(name)) {
                Some(columns) => Resolution::Relation {
                    name: table,
                    columns: Some(columns),
                },
                None => Resolution::Unresolved(table),
            },
        }
    }

    fn resolve_unqualified(&self, name: &str) -> Resolution<'_> {
        let explicit_pg_catalog = self.search_path.iter().any(|s| s == "pg_catalog");
        if name.starts_with("pg_") && !explicit_pg_catalog {
            return Resolution::System(TableName::new("pg_catalog", name));
        }
        let Some(catalog) = &self.catalog else {
            return Resolution::Relation {
                name: TableName::unqualified(name),
                columns: None,
            };
        };
        for schema in &self.search_path {
            if schema == "pg_catalog" && name.starts_with("pg_") {
                return Resolution::System(TableName::new("pg_catalog", name));
            }
            if let Some(columns) = catalog.get(schema).and_then(|s| s.get(name)) {
                return Resolution::Relation {
                    name: TableName::new(schema, name),
                    columns: Some(columns),
                };
            }
        }
        Resolution::Unresolved(TableName::unqualified(name))
    }
}

pub fn is_system_schema(schema: &str) -> bool {
    SYSTEM_SCHEMAS.contains(&schema)
        || schema.starts_with("pg_toast")
        || schema.starts_with("pg_temp")
}

/// Splits a `search_path` setting (`"$user", public, "My Schema"`) into schema names.
pub fn parse_search_path(setting: &str) -> Vec<String> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => s.to_lowercase(),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_setting_splits_like_postgres() {
        assert_eq!(
            parse_search_path(r#""$user", public, "My ""S""", Other"#),
            vec!["$user", "public", "My \"S\"", "other"]
        );
        assert!(parse_search_path("").is_empty());
    }

    #[test]
    fn user_schema_comes_first_for_that_user() {
        let r = Resolver::from_relations(
            "db",
            &["$user", "public"],
            [("alice", "t", &["a"][..]), ("public", "t", &["b"][..])],
        );
        let alice = r.for_user("alice");
        assert_eq!(
            alice.resolve(&["t".into()]),
            Resolution::Relation {
                name: TableName::new("alice", "t"),
                columns: Some(&["a".to_owned()][..]),
            }
        );
        assert!(matches!(
            r.for_user("bob").resolve(&["t".into()]),
            Resolution::Relation { name, .. } if name == TableName::new("public", "t")
        ));
        assert!(r.contains(&TableName::new("public", "t")));
        assert!(!r.contains(&TableName::unqualified("t")));
    }
}
