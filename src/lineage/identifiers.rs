//! The identifiers a statement is written with: every name resolving it can look up.
//!
//! Resolving a statement's relations needs the catalog's columns of the relations it names,
//! not of the whole catalog (2 million column names at 100,000 tables, which the usage
//! poller read for every poll with a new statement). The resolver only looks up names
//! written in the statement, so the relations named by one of its identifiers are all it can
//! ask for: with those alone it resolves exactly as with every relation. Tokens, not syntax,
//! so a statement that does not parse (resolved by `fallback`) is covered too; and the text of
//! its string literals, where a routine body or `EXECUTE`d SQL names relations.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::HashSet;

/// How deep string literals inside string literals are read (a body inside a body).
const NESTED: usize = 2;

/// Adds each identifier of `sql` to `out`, as written and folded to lower case (either may be
/// a relation's name, whichever way the resolver folds it). Nothing for a text that does not
/// tokenize (an unterminated quote): it resolves nothing either.
pub fn identifiers(sql: &str, out: &mut HashSet<String>) {
    add(sql, out, 0);
}

fn add(sql: &str, out: &mut HashSet<String>, depth: usize) {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return;
    };
    for token in tokens {
        let text = match token {
            Token::Word(w) => {
                let lower = w.value.to_lowercase();
                if lower != w.value {
                    out.insert(lower);
                }
                out.insert(w.value);
                continue;
            }
            Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) => s,
            Token::DollarQuotedString(s) => s.value,
            _ => continue,
        };
        if depth < NESTED {
            add(&text, out, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::{Resolver, analyze, fallback};

    fn of(sql: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        identifiers(sql, &mut out);
        out
    }

    #[test]
    fn identifiers_as_written_and_folded_and_inside_bodies() {
        let words = of(
            r#"INSERT INTO "Sales"."Line Items" SELECT * FROM Orders o, ünicode.t
               WHERE o.id = $1 AND f($$ SELECT 1 FROM inner_t $$, 'x FROM quoted_t')"#,
        );
        for w in [
            "Sales",
            "Line Items",
            "orders",
            "Orders",
            "ünicode",
            "inner_t",
            "quoted_t",
        ] {
            assert!(words.contains(w), "{w} missing from {words:?}");
        }
        assert!(of("SELECT 'unterminated FROM t").is_empty());
    }

    /// Resolving with the relations named by the statement's identifiers alone gives what
    /// resolving with every relation gives: qualified and unqualified names, the search path,
    /// `*` expanded, quoted names, and a name that is a column elsewhere.
    #[test]
    fn the_relations_named_resolve_as_the_whole_catalog_does() {
        let catalog: &[(&str, &str, &[&str])] = &[
            ("public", "orders", &["id", "customer_id", "amount"]),
            ("public", "customers", &["id", "name"]),
            ("sales", "orders", &["id", "region"]),
            ("sales", "Line Items", &["order_id", "qty"]),
            ("public", "amount", &["x"]),
            ("public", "unrelated", &["id"]),
        ];
        for sql in [
            "INSERT INTO sales.orders (id, region) SELECT id, 'eu' FROM orders",
            r#"INSERT INTO public.customers SELECT o.order_id, 'n' FROM sales."Line Items" o JOIN orders USING (id)"#,
            "CREATE TABLE public.copy AS SELECT * FROM orders WHERE amount > 1",
            "UPDATE customers c SET name = o.amount::text FROM orders o WHERE o.customer_id = c.id",
            // Unqualified: the first schema of the search path holding relations, `sales`,
            // though no relation of it is named.
            "CREATE TABLE copy AS SELECT * FROM customers",
            "SELECT id FROM orders WHERE EXISTS (SELECT 1 FROM customers WHERE customers.id = orders.id)",
        ] {
            let path = ["sales", "public"];
            let whole = Resolver::from_relations("shop", &path, catalog.iter().copied());
            let words = of(sql);
            // As `pg::catalog::read_relations` builds it: the relations named, and every
            // schema that holds relations.
            let named = Resolver::from_relations(
                "shop",
                &path,
                catalog
                    .iter()
                    .copied()
                    .filter(|(_, name, _)| words.contains(*name)),
            )
            .with_schemas(catalog.iter().map(|(schema, _, _)| *schema));
            let (a, b) = (analyze(sql, &whole), analyze(sql, &named));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{sql}");
            assert!(a.is_ok(), "{sql}: {a:?}");
            assert_eq!(
                fallback::tables_named(sql, &whole),
                fallback::tables_named(sql, &named),
                "{sql}"
            );
        }
    }
}
