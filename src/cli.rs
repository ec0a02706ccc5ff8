//! What the three binaries share on their command lines: the logging flags, a bearer token
//! from a flag or a file, and the runtime their async part runs on.

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

/// The bearer token: given directly, or read from `file`; trimmed either way.
pub fn token(value: Option<&str>, file: Option<&Path>) -> Result<Option<Secret>, String> {
    match (value, file) {
        (Some(t), _) => Ok(Some(Secret::new(t.trim().to_owned()))),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|t| Some(Secret::new(t.trim().to_owned())))
            .map_err(|e| format!("--token-file: cannot read {}: {e}", path.display())),
        (None, None) => Ok(None),
    }
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
    fn a_token_comes_from_the_flag_or_the_file_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").expect("write");
        let expose =
            |t: Result<Option<Secret>, String>| t.map(|t| t.map(|s| s.expose().to_owned()));
        assert_eq!(expose(token(Some(" flag "), None)), Ok(Some("flag".into())));
        assert_eq!(
            expose(token(None, Some(&file))),
            Ok(Some("from-file".into()))
        );
        assert_eq!(expose(token(None, None)), Ok(None));
        let missing = dir.path().join("absent");
        let err = token(None, Some(&missing)).expect_err("no such file");
        assert!(
            err.contains("--token-file") && err.contains("absent"),
            "{err}"
        );
    }
}
