//! The tansu broker (crates.io, Apache-2.0), installed by `scripts/install-tansu.sh` into a
//! cache outside the clone.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    port: u16,
    dir: Option<tempfile::TempDir>,
    durable: bool,
}

/// `PGMETA_TANSU`, else the install script's cache.
pub fn tansu_path() -> PathBuf {
    if let Ok(p) = std::env::var("PGMETA_TANSU") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("PGMETA_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let base = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                        .join(".cache")
                });
            base.join("pgmeta/tools")
        });
    let path = cache.join("bin/tansu");
    assert!(
        path.exists(),
        "tansu not found at {}: run scripts/install-tansu.sh (make test does)",
        path.display()
    );
    path
}

impl Broker {
    /// One in-memory broker per test process, started on first use.
    pub fn shared() -> &'static Broker {
        static SHARED: OnceLock<Broker> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut broker = Broker::start_on(super::free_port(), false);
            let dir = broker.dir.take().map(|d| d.keep());
            if let (Some(child), Some(dir)) = (&broker.child, dir) {
                super::watchdog(child.id(), &dir);
            }
            broker
        })
    }

    /// Starts a broker on `port`: in memory, or durable in a SQLite file that survives
    /// [`Broker::restart`].
    pub fn start_on(port: u16, durable: bool) -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("pgmeta-tansu-")
            .tempdir()
            .expect("temp dir");
        let mut broker = Broker {
            child: None,
            port,
            dir: Some(dir),
            durable,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let dir = self
            .dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .unwrap_or_else(std::env::temp_dir);
        // tansu resolves a sqlite:// path against its working directory (an absolute path gets
        // the directory prefixed again), so it runs in `dir` with a relative path.
        let storage = if self.durable {
            "sqlite://tansu.db"
        } else {
            "memory://tansu/"
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("tansu.log"))
            .expect("log");
        let child = Command::new(tansu_path())
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .args(["--storage-engine", storage])
            .env("RUST_LOG", "warn")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("tansu.log")).unwrap_or_default();
                panic!(
                    "tansu did not listen on {} (exited: {exited}); its log:\n{log}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop_child(&mut child);
        }
    }

    /// Stops and starts again on the same port (same data when durable).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
