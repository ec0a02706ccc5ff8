//! Splitting SQL text into statements, and finding the SQL statements inside a PL/pgSQL body.
//!
//! Both work on sqlparser's tokens, so semicolons inside strings, dollar-quoted bodies,
//! comments and parentheses never split. PL/pgSQL itself has no maintained Rust parser: its
//! block structure (DECLARE/BEGIN/IF/LOOP/EXCEPTION) is recognised here just enough to cut out
//! the embedded SQL statements, which sqlparser then parses.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// Turns token locations (line, column in characters) into byte offsets of the text.
/// Tokens arrive in order, so a cursor walks forward through the text: linear in its length,
/// also for a one-line megabyte view definition.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// (line, column, byte offset) of the last position found.
    cursor: (usize, usize, usize),
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            text,
            starts,
            cursor: (0, 0, 0),
        }
    }

    fn offset(&mut self, loc: Location) -> usize {
        let (Some(line), Ok(column)) = (
            usize::try_from(loc.line)
                .ok()
                .and_then(|l| l.checked_sub(1)),
            usize::try_from(loc.column.saturating_sub(1)),
        ) else {
            return self.text.len();
        };
        let Some(&line_start) = self.starts.get(line) else {
            return self.text.len();
        };
        let (mut col, mut byte) = if self.cursor.0 == line && self.cursor.1 <= column {
            (self.cursor.1, self.cursor.2)
        } else {
            (0, line_start)
        };
        let mut chars = self.text[byte..].chars();
        while col < column {
            match chars.next() {
                Some(c) => {
                    byte += c.len_utf8();
                    col += 1;
                }
                None => break,
            }
        }
        self.cursor = (line, col, byte);
        byte
    }
}

/// A token with its byte range in the text; whitespace and comments are dropped.
pub(super) struct Tok {
    pub(super) token: Token,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) fn tokens(text: &str) -> Option<Vec<Tok>> {
    let dialect = PostgreSqlDialect {};
    let raw: Vec<TokenWithSpan> = Tokenizer::new(&dialect, text)
        .tokenize_with_location()
        .ok()?;
    let mut index = LineIndex::new(text);
    Some(
        raw.into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
            .map(|t| Tok {
                start: index.offset(t.span.start),
                end: index.offset(t.span.end),
                token: t.token,
            })
            .collect(),
    )
}

/// `;`-separated chunks as token index ranges. A `;` always ends a statement, even inside
/// unbalanced parentheses, so one broken statement cannot swallow the ones after it.
fn chunks(toks: &[Tok]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if t.token == Token::SemiColon {
            if i > start {
                out.push(start..i);
            }
            start = i + 1;
        }
    }
    if toks.len() > start {
        out.push(start..toks.len());
    }
    out
}

/// The statements of a script, each as its original text (comments before a statement are
/// left out). Text that does not even tokenize (an unterminated string) is one statement, so
/// the parser can report it.
pub fn split_statements(sql: &str) -> Vec<String> {
    let Some(toks) = tokens(sql) else {
        let trimmed = sql.trim();
        return if trimmed.is_empty() {
            Vec::new()
        } else {
            vec![trimmed.to_owned()]
        };
    };
    chunks(&toks)
        .into_iter()
        .map(|r| sql[toks[r.start].start..toks[r.end - 1].end].to_owned())
        .collect()
}

/// Rewrites the few PostgreSQL forms sqlparser does not parse into equivalents that mean the
/// same for lineage: `TABLE t` (as `SELECT * FROM t`), `ONLY` after FROM/UPDATE/JOIN/USING
/// (inheritance children are not lineage), and a trailing `WITH [NO] DATA` of CREATE ... AS.
///
/// Also the text `pg_stat_statements` stores, where every constant became `$n`, keywords
/// included: `extract(year FROM d)` is stored as `extract($1 FROM d)` (read as
/// `extract(epoch FROM d)`), and a typed literal of a type sqlparser does not know,
/// `inet '10.0.0.1'`, as `inet $1` (read as the cast `$1::inet`).
pub fn parser_compat(sql: &str) -> std::borrow::Cow<'_, str> {
    let Some(toks) = tokens(sql) else {
        return sql.into();
    };
    // Byte ranges of the text and what replaces each, in order.
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut prefix = "";
    if toks
        .first()
        .is_some_and(|t| keyword(t) == Some(Keyword::TABLE))
    {
        prefix = "SELECT * FROM ";
        edits.push((toks[0].start..toks[0].end, String::new()));
    }
    for (i, w) in toks.windows(2).enumerate() {
        if keyword(&w[1]) == Some(Keyword::ONLY)
            && matches!(
                keyword(&w[0]),
                Some(Keyword::FROM | Keyword::UPDATE | Keyword::JOIN | Keyword::USING)
            )
        {
            edits.push((w[1].start..w[1].end, String::new()));
        }
        let Token::Placeholder(p) = &w[1].token else {
            continue;
        };
        let before = i.checked_sub(1).map(|b| &toks[b].token);
        let after = toks.get(i + 2).and_then(keyword);
        if w[0].token == Token::LParen
            && after == Some(Keyword::FROM)
            && i.checked_sub(1).and_then(|b| keyword(&toks[b])) == Some(Keyword::EXTRACT)
        {
            edits.push((w[1].start..w[1].end, "epoch".into()));
        } else if let Token::Word(word) = &w[0].token {
            let typed_literal = word.quote_style.is_none()
                && word.keyword == Keyword::NoKeyword
                && !matches!(before, Some(Token::Period | Token::DoubleColon));
            if typed_literal {
                edits.push((w[0].start..w[1].end, format!("{p}::{}", word.value)));
            }
        }
    }
    let is_create = toks
        .first()
        .is_some_and(|t| keyword(t) == Some(Keyword::CREATE));
    let n = toks.len();
    if is_create && n >= 3 && keyword(&toks[n - 1]) == Some(Keyword::DATA) {
        if keyword(&toks[n - 2]) == Some(Keyword::WITH) {
            edits.push((toks[n - 2].start..toks[n - 1].end, String::new()));
        } else if keyword(&toks[n - 2]) == Some(Keyword::NO)
            && keyword(&toks[n - 3]) == Some(Keyword::WITH)
        {
            edits.push((toks[n - 3].start..toks[n - 1].end, String::new()));
        }
    }
    if edits.is_empty() {
        return sql.into();
    }
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(sql.len() + prefix.len());
    out.push_str(prefix);
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at {
            continue; // overlapping edits cannot occur; never write text twice
        }
        out.push_str(&sql[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&sql[at..]);
    out.into()
}

fn keyword(t: &Tok) -> Option<Keyword> {
    match &t.token {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    }
}

/// PL/pgSQL words that are not SQL keywords (PERFORM, LOOP, FOREACH).
fn is_word(t: &Tok, word: &str) -> bool {
    matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn starts_sql(t: &Tok) -> bool {
    matches!(
        keyword(t),
        Some(
            Keyword::SELECT
                | Keyword::INSERT
                | Keyword::UPDATE
                | Keyword::DELETE
                | Keyword::MERGE
                | Keyword::WITH
                | Keyword::CREATE
                | Keyword::ALTER
                | Keyword::TABLE
        )
    )
}

/// One SQL statement embedded in a routine body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedStatement {
    pub sql: String,
    /// The statement was written as `PERFORM ...`, `RETURN <expr>` or `x := <expr>` and is
    /// given here as a SELECT.
    pub rewritten: bool,
}

/// What a PL/pgSQL body runs: its static SQL statements (from statement starts after
/// BEGIN, THEN, ELSE, LOOP, RETURN QUERY, and FOR ... IN queries), PERFORM and expressions
/// with subqueries as SELECTs. Dynamic SQL (`EXECUTE`) cannot be known and is counted.
pub fn plpgsql_statements(body: &str) -> (Vec<EmbeddedStatement>, usize) {
    let Some(toks) = tokens(body) else {
        return (Vec::new(), 0);
    };
    let mut out = Vec::new();
    let mut dynamic = 0;
    for range in chunks(&toks) {
        let chunk = &toks[range];
        let end_text = chunk.last().map_or(0, |t| t.end);
        let mut i = 0;
        // Block and control-flow keywords that precede a statement in the same chunk.
        while i < chunk.len() {
            let t = &chunk[i];
            match keyword(t) {
                Some(Keyword::EXECUTE) => {
                    dynamic += 1;
                    break;
                }
                _ if is_word(t, "PERFORM") && i + 1 < chunk.len() => {
                    out.push(EmbeddedStatement {
                        sql: format!("SELECT {}", &body[chunk[i + 1].start..end_text]),
                        rewritten: true,
                    });
                    break;
                }
                _ if keyword(t) == Some(Keyword::FOR) || is_word(t, "FOREACH") => {
                    // FOR target IN query LOOP stmt: the query ends at LOOP.
                    let in_pos = chunk[i..]
                        .iter()
                        .position(|t| keyword(t) == Some(Keyword::IN));
                    let loop_pos = chunk[i..].iter().position(|t| is_word(t, "LOOP"));
                    match (in_pos, loop_pos) {
                        (Some(a), Some(b)) if a + 1 < b => {
                            let q = &chunk[i + a + 1..i + b];
                            if q.first()
                                .is_some_and(|t| starts_sql(t) || t.token == Token::LParen)
                            {
                                let last = q.last().map_or(0, |t| t.end);
                                out.push(EmbeddedStatement {
                                    sql: body[q[0].start..last].to_owned(),
                                    rewritten: false,
                                });
                            }
                            i += b + 1;
                            continue;
                        }
                        _ => break,
                    }
                }
                _ if starts_sql(t) => {
                    out.push(EmbeddedStatement {
                        sql: strip_returning_into(&body[t.start..end_text]),
                        rewritten: false,
                    });
                    break;
                }
                _ => {}
            }
            if keyword(t) == Some(Keyword::RETURN)
                && chunk.get(i + 1).is_some_and(|n| {
                    keyword(n) != Some(Keyword::QUERY) && n.token != Token::SemiColon
                })
                && chunk[i + 1..]
                    .iter()
                    .any(|t| keyword(t) == Some(Keyword::SELECT))
            {
                out.push(EmbeddedStatement {
                    sql: format!("SELECT {}", &body[chunk[i + 1].start..end_text]),
                    rewritten: true,
                });
                break;
            }
            if t.token == Token::Assignment
                && chunk[i + 1..]
                    .iter()
                    .any(|t| keyword(t) == Some(Keyword::SELECT))
                && i + 1 < chunk.len()
            {
                out.push(EmbeddedStatement {
                    sql: format!("SELECT {}", &body[chunk[i + 1].start..end_text]),
                    rewritten: true,
                });
                break;
            }
            i += 1;
        }
    }
    (out, dynamic)
}

/// `INSERT ... RETURNING id INTO v` assigns a variable: drop the `INTO v` part.
fn strip_returning_into(sql: &str) -> String {
    let Some(toks) = tokens(sql) else {
        return sql.to_owned();
    };
    let returning = toks
        .iter()
        .position(|t| keyword(t) == Some(Keyword::RETURNING));
    if let Some(r) = returning {
        if let Some(into) = toks[r..]
            .iter()
            .position(|t| keyword(t) == Some(Keyword::INTO))
        {
            return sql[..toks[r + into].start].trim_end().to_owned();
        }
    }
    sql.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_strings_bodies_and_comments() {
        let sql = "select ';' from t; -- a; comment\ncreate function f() returns int as $$ select 1; $$ language sql;\n/* x; */ select 2";
        let parts = split_statements(sql);
        assert_eq!(
            parts,
            vec![
                "select ';' from t",
                "create function f() returns int as $$ select 1; $$ language sql",
                "select 2"
            ]
        );
    }

    #[test]
    fn long_lines_with_multibyte_characters_split_exactly() {
        let one = "select 'ü', \"bıgınt\" from t where x in (1, 2, 3)";
        let sql = vec![one; 2000].join("; ");
        let parts = split_statements(&sql);
        assert_eq!(parts.len(), 2000);
        assert!(parts.iter().all(|p| p == one));
    }

    #[test]
    fn normalized_constants_in_keyword_positions_parse() {
        for (normalized, rewritten) in [
            (
                "SELECT extract($1 FROM d), EXTRACT ( $2 from d ) FROM t",
                "SELECT extract(epoch FROM d), EXTRACT ( epoch from d ) FROM t",
            ),
            (
                "SELECT * FROM t WHERE c << inet $1 AND p = point $2",
                "SELECT * FROM t WHERE c << $1::inet AND p = point $2",
            ),
        ] {
            assert_eq!(parser_compat(normalized), rewritten);
            assert!(
                crate::lineage::parse(&parser_compat(normalized)).is_ok(),
                "{normalized}"
            );
        }
        // What parses already is left alone: casts, typed literals sqlparser knows, LIMIT.
        for text in [
            "SELECT $1::inet, date $2, interval $3, a.b FROM t LIMIT $4 OFFSET $5",
            "SELECT x FROM t WHERE y = $1",
        ] {
            assert_eq!(parser_compat(text), text);
        }
    }

    #[test]
    fn keeps_unicode_text_intact() {
        let parts = split_statements("select 'ü' from \"bıgınt\";select 1");
        assert_eq!(parts, vec!["select 'ü' from \"bıgınt\"", "select 1"]);
    }

    #[test]
    fn finds_statements_in_plpgsql() {
        let body = "
DECLARE v int;
BEGIN
  INSERT INTO log (id) VALUES (1) RETURNING id INTO v;
  IF v > 0 THEN
    UPDATE t SET a = 1;
  ELSE
    DELETE FROM t;
  END IF;
  FOR r IN SELECT * FROM src LOOP
    INSERT INTO dst SELECT r.a;
  END LOOP;
  PERFORM pg_notify('x', 'y');
  v := (SELECT count(*) FROM t2);
  RETURN QUERY SELECT * FROM t3;
  EXECUTE 'select 1';
EXCEPTION WHEN others THEN NULL;
END";
        let (stmts, dynamic) = plpgsql_statements(body);
        let sql: Vec<&str> = stmts.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            vec![
                "INSERT INTO log (id) VALUES (1) RETURNING id",
                "UPDATE t SET a = 1",
                "DELETE FROM t",
                "SELECT * FROM src",
                "INSERT INTO dst SELECT r.a",
                "SELECT pg_notify('x', 'y')",
                "SELECT (SELECT count(*) FROM t2)",
                "SELECT * FROM t3",
            ]
        );
        assert_eq!(dynamic, 1);
    }
}
