//! pgmeta's own binaries as child processes (pgmeta-catalog, pgmeta-apply), for tests that
//! cross the process boundary exactly as production does: stopped, killed and restarted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of one of this package's binaries, next to the running test, bench or example
/// (`target/<profile>/`, found from `target/<profile>/deps/` or `.../examples/`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().map(PathBuf::from);
    while let Some(d) = dir {
        let candidate = d.join(name);
        if candidate.is_file() {
            return candidate;
        }
        dir = d.parent().map(PathBuf::from);
    }
    panic!(
        "{name} not found above {}: build it first (cargo build --bins)",
        exe.display()
    );
}

/// A running pgmeta binary with its output in a log file.
#[derive(Debug)]
pub struct Service {
    name: &'static str,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Service {
    pub fn start(name: &'static str, args: &[String], envs: &[(&str, &str)]) -> Service {
        let mut s = Service {
            name,
            args: args.to_vec(),
            envs: envs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            log: tempfile::NamedTempFile::new().expect("log file"),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        // Appended to: a restarted process's output follows the first one's.
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.log.path())
            .expect("log fd");
        let child = Command::new(bin_path(self.name))
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "RUST_LOG",
                std::env::var("PGMETA_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.name));
        self.child = Some(child);
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Waits until the process's output contains `needle`; fails the test with its output
    /// after `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{} did not log {needle:?} within {timeout:?}; its log:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then the exit status (waiting up to `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Starts it again with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory now (`VmRSS`), in kB.
    pub fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// pgmeta-catalog on a free port, persisting in `database_url`.
#[derive(Debug)]
pub struct CatalogServer {
    pub service: Service,
    pub port: u16,
}

impl CatalogServer {
    pub fn start(database_url: &str, token: Option<&str>) -> CatalogServer {
        CatalogServer::start_with(database_url, token, &[])
    }

    /// Started with `extra` flags too; the token goes through `PGMETA_CATALOG_TOKEN`, as
    /// the server takes no token on its command line.
    pub fn start_with(database_url: &str, token: Option<&str>, extra: &[&str]) -> CatalogServer {
        let port = super::free_port();
        let mut args = vec![
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--database-url".to_owned(),
            database_url.to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let envs: Vec<(&str, &str)> = token
            .map(|t| vec![("PGMETA_CATALOG_TOKEN", t)])
            .unwrap_or_default();
        let server = CatalogServer {
            service: Service::start("pgmeta-catalog", &args, &envs),
            port,
        };
        server.wait_ready();
        server
    }

    /// Create requests (collection path, body) of a service `svc`, its database `svc.db` and
    /// schema `svc.db.s`: the parents a test's tables go under.
    pub fn parent_requests() -> [(&'static str, serde_json::Value); 3] {
        [
            (
                "services/databaseServices",
                serde_json::json!({"name": "svc", "serviceType": "Postgres"}),
            ),
            (
                "databases",
                serde_json::json!({"name": "db", "service": "svc"}),
            ),
            (
                "databaseSchemas",
                serde_json::json!({"name": "s", "database": "svc.db"}),
            ),
        ]
    }

    /// The API base as OpenMetadata's clients take it (`hostPort`).
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = std::net::TcpStream::connect(("127.0.0.1", self.port))
                .and_then(|mut s| {
                    use std::io::{Read, Write};
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n")?;
                    let mut out = String::new();
                    s.read_to_string(&mut out)?;
                    Ok(out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"))
                })
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pgmeta-catalog not ready on {}; log:\n{}",
                self.port,
                self.service.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        self.service.kill();
    }

    pub fn restart(&mut self) {
        self.service.restart();
        self.wait_ready();
    }
}
