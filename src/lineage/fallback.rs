//! The relations a statement names when it does not parse: its tokens, not its syntax.
//!
//! A `pg_stat_statements` text that sqlparser rejects (a construct it lacks, a normalization
//! it cannot read) still ran against tables; counting its calls for none of them would hide
//! real use. sqlparser's tokenizer reads what its parser cannot, so every identifier and every
//! dotted chain of identifiers (`schema.table`, `database.schema.table`, `alias.column`) is
//! resolved as PostgreSQL resolves a relation name. Whatever resolves to a relation of the
//! catalog is taken. A column, alias or function that shares a relation's name is taken too,
//! and reads cannot be told from writes: callers flag the result as approximate.

use super::{Resolution, Resolver, TableName};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::BTreeSet;

/// Catalog relations named in `sql`'s tokens; empty when the text does not even tokenize
/// (an unterminated quote) or names none.
pub fn tables_named(sql: &str, resolver: &Resolver) -> BTreeSet<TableName> {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return BTreeSet::new();
    };
    let mut found = BTreeSet::new();
    let mut chain: Vec<String> = Vec::new();
    // Whether the last token of `chain` was a `.` waiting for the next part.
    let mut after_dot = false;
    let mut take = |chain: &mut Vec<String>| {
        // The longest leading part that names a relation: `s.t.col` is `s.t`, `t.col` is `t`.
        for len in (1..=chain.len().min(3)).rev() {
            if let Resolution::Relation { name, .. } = resolver.resolve(&chain[..len]) {
                found.insert(name);
                break;
            }
        }
        chain.clear();
    };
    for token in tokens {
        match token {
            Token::Whitespace(_) => {}
            Token::Word(w) if chain.is_empty() || after_dot => {
                chain.push(if w.quote_style.is_some() {
                    w.value
                } else {
                    w.value.to_lowercase()
                });
                after_dot = false;
            }
            Token::Period if !chain.is_empty() && !after_dot => after_dot = true,
            Token::Word(w) => {
                take(&mut chain);
                chain.push(if w.quote_style.is_some() {
                    w.value
                } else {
                    w.value.to_lowercase()
                });
            }
            _ => {
                take(&mut chain);
                after_dot = false;
            }
        }
    }
    take(&mut chain);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> Resolver {
        Resolver::from_relations(
            "shop",
            &["public"],
            [
                ("public", "orders", &["id", "amount"][..]),
                ("public", "Line Items", &["order_id"][..]),
                ("sales", "orders", &["id"][..]),
                ("sales", "regions", &["id"][..]),
            ],
        )
    }

    fn named(sql: &str) -> Vec<String> {
        tables_named(sql, &resolver())
            .into_iter()
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn qualified_unqualified_and_quoted_names_resolve_through_the_search_path() {
        // A construct sqlparser rejects, around names it can still see.
        assert_eq!(
            named(
                "SELECT o.id FROM orders o JOIN \"Line Items\" l ON l.order_id = o.id \
                 WHERE o.amount OPERATOR(pg_catalog.>) $1"
            ),
            vec!["public.\"Line Items\"", "public.orders"]
        );
        assert_eq!(
            named("LOCK TABLE sales.regions, shop.sales.orders IN SHARE MODE"),
            vec!["sales.orders", "sales.regions"]
        );
    }

    #[test]
    fn column_references_give_their_table_and_unknown_names_nothing() {
        assert_eq!(named("select sales.orders.id from x"), vec!["sales.orders"]);
        assert_eq!(named("SELECT regions FROM nowhere"), Vec::<String>::new());
        assert_eq!(
            named("SELECT 'orders' FROM \"ORDERS\""),
            Vec::<String>::new()
        );
        // Another database's relation is not this catalog's.
        assert_eq!(
            named("SELECT * FROM other.public.orders"),
            Vec::<String>::new()
        );
        assert_eq!(
            named("SELECT 'unterminated FROM orders"),
            Vec::<String>::new()
        );
    }
}
