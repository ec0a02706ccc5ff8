//! A catalog from a file of `CREATE TABLE` statements (`pgmeta-capture lineage --schema FILE`),
//! for lineage without a database: names resolve, `*` expands and an INSERT without a column
//! list maps by position, as with `--catalog-from`. Other statements in the file (indexes,
//! comments, functions, `SET`) are passed over; one that does not parse is an error naming it.

use super::names::{normalize, object_parts};
use super::{Resolver, split};
use sqlparser::ast::Statement;

/// The schema of unqualified table names, as on a database with the default search path.
const DEFAULT_SCHEMA: &str = "public";

/// Reads the tables of `sql` into a resolver (search path `public`).
pub fn resolver_from_ddl(sql: &str) -> Result<Resolver, String> {
    let mut relations = Vec::new();
    for (i, text) in split::split_statements(sql).iter().enumerate() {
        let statements = super::parse(text).map_err(|e| {
            let head: String = text.chars().take(80).collect();
            format!("statement {} ({head:?}) does not parse: {e}", i + 1)
        })?;
        for st in statements {
            let Statement::CreateTable(table) = st else {
                continue;
            };
            let parts = object_parts(&table.name).unwrap_or_default();
            let (schema, name) = match parts.as_slice() {
                [name] => (DEFAULT_SCHEMA.to_owned(), name.clone()),
                [.., schema, name] => (schema.clone(), name.clone()),
                [] => continue,
            };
            let columns = table.columns.iter().map(|c| normalize(&c.name)).collect();
            relations.push((schema, name, columns));
        }
    }
    Ok(Resolver::from_parts(
        "",
        vec![DEFAULT_SCHEMA.to_owned()],
        relations,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::report::report_script;

    #[test]
    fn create_table_statements_make_the_catalog() {
        let resolver = resolver_from_ddl(
            "CREATE TABLE stage (k int, v text);\nCREATE INDEX i ON stage (k);\n\
             CREATE TABLE \"Mart\".ltv (customer_id int, \"Total\" numeric);\n\
             CREATE TABLE customers (id int, name text); CREATE TABLE orders (id int, amount numeric);",
        )
        .expect("schema");
        let reports = report_script(
            "INSERT INTO stage SELECT id, name FROM customers;\
             INSERT INTO \"Mart\".ltv SELECT id AS x, amount FROM orders",
            &resolver,
        );
        // Positional, as PostgreSQL does, not by output name; nothing assumed.
        assert_eq!(
            reports[0].column_lineage,
            vec![
                [
                    "public.customers.id".to_owned(),
                    "public.stage.k".to_owned()
                ],
                [
                    "public.customers.name".to_owned(),
                    "public.stage.v".to_owned()
                ]
            ]
        );
        assert!(reports[0].assumed_columns.is_empty());
        assert_eq!(
            reports[1].column_lineage,
            vec![
                [
                    "public.orders.amount".to_owned(),
                    "\"Mart\".ltv.\"Total\"".to_owned()
                ],
                [
                    "public.orders.id".to_owned(),
                    "\"Mart\".ltv.customer_id".to_owned()
                ]
            ]
        );
    }

    #[test]
    fn a_statement_that_does_not_parse_is_named() {
        let err = resolver_from_ddl("CREATE TABLE a (x int);\nCREATE TABLE (;").expect_err("bad");
        assert!(
            err.starts_with("statement 2 (\"CREATE TABLE (\") does not parse"),
            "{err}"
        );
    }
}
