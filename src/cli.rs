//! What the three binaries share on their command lines: the logging flags, a bearer token
//! from the environment or a file (never a flag: a flag is visible to every user in `ps`),
//! and the runtime their async part runs on.

use crate::config::Secret;
use crate::telemetry::{self, LogFormat};
use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

/// `--log-format` and `--log-level` (`PGMETA_LOG_FORMAT`, `PGMETA_LOG_LEVEL`).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "PGMETA_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Log filter, e.g. info or pgmeta=debug (default: RUST_LOG, else info).
    #[arg(long, global = true, env = "PGMETA_LOG_LEVEL")]
    pub log_level: Option<String>,
}

impl LogArgs {
    /// Starts logging, then jemalloc's background purging (which logs if it cannot start).
    pub fn init(&self) {
        telemetry::init(self.log_format, self.log_level.as_deref());
        crate::memory::purge_in_background();
    }
}

/// The bearer token from the variable `env` or from `file` (the file wins when both are
/// set), trimmed. An empty token is refused: it would authenticate anyone who sends none.
pub fn token(env: &str, file: Option<&Path>) -> Result<Option<Secret>, String> {
    let (token, from) = match file {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("--token-file: cannot read {}: {e}", path.display()))?,
            format!("--token-file {}", path.display()),
        ),
        None => match std::env::var(env) {
            Ok(t) => (t, env.to_owned()),
            Err(_) => return Ok(None),
        },
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("{from}: the token is empty"));
    }
    Ok(Some(Secret::new(token.to_owned())))
}

/// Runs a binary's async part on a multi-threaded runtime: exit 0, or the error printed (and
/// logged) with exit 1.
pub fn run(name: &str, main: impl Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(error = %message, "{name} failed");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_comes_from_the_file_or_the_environment_trimmed_and_never_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").expect("write");
        let expose =
            |t: Result<Option<Secret>, String>| t.map(|t| t.map(|s| s.expose().to_owned()));
        assert_eq!(
            expose(token("PGMETA_TEST_TOKEN_UNSET", Some(&file))),
            Ok(Some("from-file".into()))
        );
        assert_eq!(expose(token("PGMETA_TEST_TOKEN_UNSET", None)), Ok(None));
        // PATH is always set and never empty: it stands in for a token variable.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            expose(token("PATH", None)),
            Ok(Some(path.trim().to_owned()))
        );
        let missing = dir.path().join("absent");
        let err = token("PATH", Some(&missing)).expect_err("no such file");
        assert!(
            err.contains("--token-file") && err.contains("absent"),
            "{err}"
        );
        let blank = dir.path().join("blank");
        std::fs::write(&blank, " \n").expect("write");
        let err = token("PATH", Some(&blank)).expect_err("empty");
        assert!(err.ends_with("the token is empty"), "{err}");
    }
}
