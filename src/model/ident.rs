//! SQL identifiers and fully qualified names.

use std::fmt;

/// Quotes an identifier the way PostgreSQL's `quote_ident` does: bare only when it is a
/// lower-case simple identifier, otherwise in double quotes with inner quotes doubled.
/// Keywords are quoted too when they are reserved in PostgreSQL (a short list is enough: a
/// needlessly quoted identifier is still correct SQL).
pub fn quote_ident(name: &str) -> String {
    let simple = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !RESERVED.contains(&name);
    if simple {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "system_user",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
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
        assert_eq!(quote_ident("_x1$"), "_x1$");
        assert_eq!(quote_ident("Film"), "\"Film\"");
        assert_eq!(quote_ident("two words"), "\"two words\"");
        assert_eq!(quote_ident("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
        assert_eq!(quote_ident("bıgınt"), "\"bıgınt\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident(""), "\"\"");
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
