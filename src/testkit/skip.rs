//! A test that cannot run here says so instead of passing silently: the skip is printed,
//! appended to the file `PGMETA_SKIP_LOG` names (`make test` lists them at the end), and in CI
//! (`CI=true`) a skip for a missing tool or corpus fails the test, because CI installs both. A
//! skip because the PostgreSQL under test lacks a feature stays a skip everywhere.

use std::io::Write;

/// Why a test cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A program the project's scripts install (a Python venv, promtool).
    Tool,
    /// `../shared/corpus` (or `PGMETA_CORPUS`).
    Corpus,
    /// The server version under test lacks the feature.
    ServerFeature,
}

/// Records that `test` is skipped for `reason`; panics in CI when the reason is a missing
/// tool or corpus.
pub fn skip(test: &str, missing: Missing, reason: &str) {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if in_ci && missing != Missing::ServerFeature {
        panic!("{test} may not be skipped in CI: {reason}");
    }
    let line = format!("SKIPPED {test}: {reason}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("PGMETA_SKIP_LOG") {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            eprintln!("cannot record the skip in {}: {e}", path.to_string_lossy());
        }
    }
}
