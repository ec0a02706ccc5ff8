//! SQL identifiers and fully qualified names.

use std::fmt;

/// Quotes an identifier exactly as PostgreSQL's `quote_ident()` does: bare only when it is a
/// lower-case simple identifier (`[a-z_][a-z0-9_]*`) that is not a keyword PostgreSQL
/// reserves in any way (reserved, type or function name, column name); otherwise in double
/// quotes, inner quotes doubled. Column names such as `left`, `join`, `like` or `full` must be
/// quoted in a column list, which is why a short list of reserved words is not enough.
pub fn quote_ident(name: &str) -> String {
    if plain_chars(name) && !is_keyword(name) {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// [`quote_ident`] as every PostgreSQL version from 12 to 18 quotes `name`, or `None` when
/// versions may differ: a keyword reserved on some versions only is quoted by those alone
/// (what a given server does, only that server says). Every keyword counts as such a one.
pub fn quote_ident_any_version(name: &str) -> Option<String> {
    match plain_chars(name) && is_keyword(name) {
        true => None,
        false => Some(quote_ident(name)),
    }
}

/// `[a-z_][a-z0-9_]*`: what `quote_ident()` may leave bare.
fn plain_chars(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_keyword(name: &str) -> bool {
    QUOTED_KEYWORDS.binary_search(&name).is_ok()
}

/// Every keyword `pg_get_keywords()` lists with a category other than unreserved (`catcode
/// <> 'U'`), from PostgreSQL 12 to 18, sorted for binary search. Taken from the servers
/// themselves, and checked against their `quote_ident()` by `tests/identifiers.rs` on every
/// version the test matrix runs. A word a newer server reserves is quoted on an older one too:
/// needless quotes are still the same identifier.
const QUOTED_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_table",
    "json_value",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "merge_action",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// A fully qualified name `service.database.schema.object`, spelled as OpenMetadata spells
/// FQNs: a part containing a `.` or a `"` is wrapped in double quotes, inner quotes doubled,
/// so the FQN splits back into its parts unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fqn(String);

impl Fqn {
    pub fn new<'a>(parts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = String::new();
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            if part.contains('.') || part.contains('"') {
                out.push('"');
                out.push_str(&part.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(part);
            }
        }
        Fqn(out)
    }

    /// The FQN of a part inside this object (a column of a table): `self.part`, the part
    /// spelled as [`Fqn::new`] spells it.
    pub fn child(&self, part: &str) -> Fqn {
        let tail = Fqn::new([part]);
        Fqn(format!("{}.{}", self.0, tail.0))
    }

    /// Splits an FQN back into its parts (the inverse of [`Fqn::new`]).
    pub fn parts(&self) -> Vec<String> {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = self.0.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', false) if cur.is_empty() => quoted = true,
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                ('"', true) => quoted = false,
                ('.', false) => parts.push(std::mem::take(&mut cur)),
                (c, _) => cur.push(c),
            }
        }
        parts.push(cur);
        parts
    }

    /// Wraps an already spelled FQN (one read back from state or a topic key).
    pub fn from_raw(fqn: String) -> Self {
        Fqn(fqn)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_matches_postgres() {
        assert_eq!(quote_ident("film"), "film");
        assert_eq!(quote_ident("_x1$"), "\"_x1$\"");
        assert_eq!(quote_ident("left"), "\"left\"");
        assert_eq!(quote_ident("join"), "\"join\"");
        assert_eq!(quote_ident("Film"), "\"Film\"");
        assert_eq!(quote_ident("two words"), "\"two words\"");
        assert_eq!(quote_ident("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
        assert_eq!(quote_ident("bıgınt"), "\"bıgınt\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[test]
    fn quote_ident_any_version_leaves_keywords_to_the_server() {
        assert_eq!(quote_ident_any_version("film").as_deref(), Some("film"));
        assert_eq!(quote_ident_any_version("Film").as_deref(), Some("\"Film\""));
        assert_eq!(
            quote_ident_any_version("two words").as_deref(),
            Some("\"two words\"")
        );
        // Keywords (reserved on every version or on some only) and unreserved ones.
        assert_eq!(quote_ident_any_version("user"), None);
        assert_eq!(quote_ident_any_version("left"), None);
        assert_eq!(quote_ident_any_version("type").as_deref(), Some("type"));
        // A keyword's spelling in capitals is not the keyword.
        assert_eq!(quote_ident_any_version("USER").as_deref(), Some("\"USER\""));
    }

    #[test]
    fn the_keyword_list_is_sorted_for_binary_search() {
        assert!(QUOTED_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn fqn_quotes_only_parts_with_dots_or_quotes() {
        let fqn = Fqn::new(["svc", "db", "public", "film"]);
        assert_eq!(fqn.as_str(), "svc.db.public.film");
        let fqn = Fqn::new(["svc", "db", "my.schema", "a \"b\""]);
        assert_eq!(fqn.as_str(), "svc.db.\"my.schema\".\"a \"\"b\"\"\"");
    }

    #[test]
    fn fqn_parts_round_trip() {
        for parts in [
            vec!["svc", "db", "public", "film"],
            vec!["svc", "db", "my.schema", "a \"b\".c"],
            vec!["s", "d", "Ünïcödé table", "f(integer, text)"],
            vec!["s", "d", "x", "\""],
        ] {
            let fqn = Fqn::new(parts.iter().copied());
            assert_eq!(fqn.parts(), parts, "{fqn}");
        }
    }
}
