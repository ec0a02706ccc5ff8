//! A migration run in a transaction that is rolled back: the catalog read before and after it
//! in that transaction says what it would change, and nothing of it is committed.
//!
//! PostgreSQL's DDL is transactional, so this runs the migration's own statements rather than
//! guessing their effect. What cannot run in a transaction block (`CREATE INDEX CONCURRENTLY`,
//! `VACUUM`) fails with PostgreSQL's error naming the statement. The migration takes its
//! locks for as long as it runs: `lock_timeout` keeps it from queueing behind, and in front
//! of, a production workload.

use super::catalog::{CatalogScope, read_snapshot_in, set_timeouts};
use super::error::PgError;
use crate::model::CatalogSnapshot;
use tokio_postgres::Client;

/// How long one statement of the migration waits for a lock before the check gives up.
const LOCK_TIMEOUT_MS: u64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "statement {number} of the migration ({statement}) controls the transaction; the check runs the migration in its own transaction and rolls it back, so only BEGIN and COMMIT around the whole migration can be left in"
    )]
    TransactionControl { number: usize, statement: String },
    #[error("statement {number} of the migration ({statement}) fails: {reason}")]
    Statement {
        number: usize,
        statement: String,
        reason: String,
    },
    #[error("the migration has no statement")]
    Empty,
    #[error(transparent)]
    Pg(#[from] PgError),
}

/// The first words of `statement`, upper-cased, for telling transaction control apart.
fn leading_words(statement: &str, n: usize) -> Vec<String> {
    statement
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_uppercase)
        .collect()
}

/// A statement's text for an error message: its first line, at most 80 characters.
fn shown(statement: &str) -> String {
    let line = statement.lines().next().unwrap_or_default();
    match line.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None if statement.lines().nth(1).is_some() => format!("{line} ..."),
        None => line.to_owned(),
    }
}

/// The migration's statements to run. A BEGIN (or START TRANSACTION) first and a COMMIT (or
/// END) last, wrapping the whole file, are left out: the check provides the transaction. Any
/// other transaction control would end or split it, and is refused.
pub fn statements(sql: &str) -> Result<Vec<String>, MigrationError> {
    let all = crate::lineage::split::split_statements(sql);
    let kind = |statement: &str| {
        let words = leading_words(statement, 2);
        let first = words.first().map(String::as_str).unwrap_or_default();
        let second = words.get(1).map(String::as_str).unwrap_or_default();
        match (first, second) {
            ("BEGIN", "" | "TRANSACTION" | "WORK" | "ISOLATION" | "READ")
            | ("START", "TRANSACTION") => Control::Begin,
            ("COMMIT" | "END", "" | "TRANSACTION" | "WORK") => Control::Commit,
            ("ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE" | "COMMIT", _)
            | ("PREPARE", "TRANSACTION") => Control::Other,
            _ => Control::None,
        }
    };
    let last = all.len().saturating_sub(1);
    let mut out = Vec::new();
    for (i, statement) in all.into_iter().enumerate() {
        match kind(&statement) {
            Control::Begin if i == 0 => {}
            Control::Commit if i == last && i > 0 => {}
            Control::None => out.push(statement),
            _ => {
                return Err(MigrationError::TransactionControl {
                    number: i + 1,
                    statement: shown(&statement),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(MigrationError::Empty);
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    None,
    Begin,
    Commit,
    Other,
}

/// The catalog before and after `migration` (from [`statements`]), read in one transaction
/// that is then rolled back.
pub async fn catalog_around(
    client: &mut Client,
    target: &str,
    scope: &CatalogScope,
    migration: &[String],
) -> Result<(CatalogSnapshot, CatalogSnapshot), MigrationError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::query("begin", target, &e))?;
    set_timeouts(&tx, target, scope.statement_timeout, LOCK_TIMEOUT_MS).await?;
    let before = read_snapshot_in(&tx, target, scope).await?;
    for (i, statement) in migration.iter().enumerate() {
        if let Err(e) = tx.batch_execute(statement).await {
            let reason = match e.as_db_error() {
                Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                None => e.to_string(),
            };
            return Err(MigrationError::Statement {
                number: i + 1,
                statement: shown(statement),
                reason,
            });
        }
    }
    let after = read_snapshot_in(&tx, target, scope).await?;
    tx.rollback()
        .await
        .map_err(|e| PgError::query("rollback", target, &e))?;
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapping_begin_and_commit_are_left_out_and_other_transaction_control_is_refused() {
        let sql = "BEGIN;\nALTER TABLE t ADD COLUMN c int;\n-- note\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;\nCOMMIT;";
        let got = statements(sql).expect("statements");
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with("ALTER TABLE"));
        assert!(got[1].contains("BEGIN RETURN 1; END"), "{got:?}");
        for (refused, number) in [
            ("ALTER TABLE t ADD COLUMN c int; COMMIT; DROP TABLE t", 2),
            ("DROP TABLE t; BEGIN; DROP TABLE u", 2),
            ("SAVEPOINT a; DROP TABLE t", 1),
            ("DROP TABLE t; ROLLBACK", 2),
            ("PREPARE TRANSACTION 'x'", 1),
            ("DROP TABLE t; COMMIT PREPARED 'x'", 2),
        ] {
            match statements(refused) {
                Err(MigrationError::TransactionControl { number: n, .. }) => {
                    assert_eq!(n, number, "{refused}")
                }
                other => panic!("{refused}: {other:?}"),
            }
        }
        assert!(matches!(
            statements("-- nothing\n"),
            Err(MigrationError::Empty)
        ));
        assert!(matches!(
            statements("BEGIN; COMMIT;"),
            Err(MigrationError::Empty)
        ));
    }

    #[test]
    fn a_long_statement_is_shown_by_its_start() {
        let long = format!("ALTER TABLE t ADD COLUMN {} int", "x".repeat(200));
        assert!(shown(&long).ends_with("..."));
        assert!(shown(&long).len() < 90);
        assert_eq!(shown("DROP TABLE t"), "DROP TABLE t");
    }
}
