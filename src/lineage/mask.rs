//! Statement texts with their literals masked, before they leave the capture.
//!
//! `pg_stat_statements` replaces the constants of planned statements with `$1`, `$2`, …, but
//! keeps utility statements as they were typed: `ALTER ROLE app PASSWORD 'secret'`,
//! `COMMENT ON … IS '…'`, `CREATE TABLE … AS SELECT … WHERE email = 'someone@…'`. Published in
//! usage events, lineage and Query entities, such a text would carry secrets and personal
//! data to every reader of the topics. So every string and number literal becomes `?`, as
//! OpenMetadata's usage workflow masks query texts; `$n` parameters, identifiers and the rest
//! of the text stay byte for byte.

use super::split::tokens;
use sqlparser::tokenizer::Token;

/// `sql` with every string and number literal replaced by `?`.
pub fn mask_literals(sql: &str) -> String {
    let Some(toks) = tokens(sql) else {
        return mask_quoted(sql);
    };
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for t in toks.iter().filter(|t| is_literal(&t.token)) {
        if t.start < at || t.end > sql.len() || !sql.is_char_boundary(t.start) {
            // Offsets the tokenizer could not place: mask by quotes instead.
            return mask_quoted(sql);
        }
        out.push_str(&sql[at..t.start]);
        out.push('?');
        at = t.end;
    }
    out.push_str(&sql[at..]);
    out
}

fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DollarQuotedString(_)
    )
}

/// Every run between single quotes, and from an unmatched quote to the end, as `?`: for a text
/// the tokenizer rejects (an unterminated string, say), and for error messages that quote
/// part of a statement.
pub fn mask_quoted(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            out.push(c);
            continue;
        }
        // Inside a literal until a quote that is not doubled.
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    break;
                }
            }
        }
        out.push('?');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask_literals;

    #[test]
    fn secrets_and_constants_of_utility_statements_are_masked() {
        assert_eq!(
            mask_literals("ALTER ROLE app PASSWORD 'hunter2'"),
            "ALTER ROLE app PASSWORD ?"
        );
        assert_eq!(
            mask_literals("COMMENT ON TABLE t IS E'it''s \\n secret'"),
            "COMMENT ON TABLE t IS ?"
        );
        assert_eq!(
            mask_literals("CREATE TABLE t AS SELECT * FROM u WHERE id > 42 LIMIT 10"),
            "CREATE TABLE t AS SELECT * FROM u WHERE id > ? LIMIT ?"
        );
        assert_eq!(
            mask_literals("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1 $body$"),
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS ?"
        );
    }

    #[test]
    fn parameters_identifiers_and_layout_stay() {
        let sql = "SELECT \"Wert 1\", x1\n  FROM \"ünï\".t WHERE a = $1 AND b IN ($2, $3)";
        assert_eq!(mask_literals(sql), sql);
    }

    #[test]
    fn a_text_that_does_not_tokenize_is_masked_by_quotes() {
        assert_eq!(
            mask_literals("ALTER ROLE app PASSWORD 'unterminated"),
            "ALTER ROLE app PASSWORD ?"
        );
        assert_eq!(mask_literals("SELECT 'a''b', 'c'"), "SELECT ?, ?");
    }
}
