//! Real services for tests, benchmarks and `make demo`: a throwaway PostgreSQL cluster and a
//! tansu broker (Kafka-compatible), each on a free loopback port, started from binaries on
//! this machine. Never a mock.
//!
//! A process-wide instance ([`PgCluster::shared`], [`Broker::shared`]) serves a whole test
//! binary, with a fresh database and topic per test. Statics are never dropped in Rust, so a
//! small watchdog shell stops the server and removes its directory when the test process exits.

mod broker;
mod cluster;
mod process;
mod registry;
mod replication;
pub mod scrape;
mod skip;
mod topic;

pub use broker::{Broker, BrokerKind, kafka_installed, kafka_lib, tansu_path};
pub use cluster::{PgCluster, SUPERUSER_PASSWORD};
pub use process::{CatalogServer, Service, bin_path};
pub use registry::{SchemaRegistryServer, TlsFront, rivven_schema_path};
pub use replication::{ReplicationTask, start_replication};
pub use skip::{Missing, skip};
pub use topic::{
    END_MARKER, RawRecord, Record, arrivals, latency_consumer, read_lineage, read_raw, read_raw_as,
    read_schema_changes, read_topic, read_usage, wait_for_key,
};

use std::process::{Command, Stdio};

/// The project's directory, read when the program runs: `cargo test`, `cargo run` and
/// `cargo bench` set `CARGO_MANIFEST_DIR` for the process. Not `env!`: a build cache shared by
/// clones at different paths would bake in the path of whichever clone compiled first, and a
/// test would read that clone's files.
pub fn project_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}

/// The cache the project's install scripts fill, computed as they compute it: `PGMETA_CACHE`,
/// else `$XDG_CACHE_HOME/pgmeta`, else `~/.cache/pgmeta`.
pub fn cache_dir() -> std::path::PathBuf {
    std::env::var_os("PGMETA_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| xdg_cache().join("pgmeta"))
}

/// Where the install scripts put built tools (tansu, rivven-schema): `PGMETA_TOOLS`, else
/// `$XDG_CACHE_HOME/pgmeta/tools`, else `~/.cache/pgmeta/tools`.
pub fn tools_dir() -> std::path::PathBuf {
    std::env::var_os("PGMETA_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| xdg_cache().join("pgmeta/tools"))
}

/// `program` of the cached venv `venv` (`venv-avro`, `venv-dbt`, ...), when it is installed.
pub fn venv_program(venv: &str, program: &str) -> Option<std::path::PathBuf> {
    let path = cache_dir().join(venv).join("bin").join(program);
    path.exists().then_some(path)
}

/// Whether a Java runtime answers here.
pub fn java_runs() -> bool {
    Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn xdg_cache() -> std::path::PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache")
        })
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon). Never the same
/// port twice in one process: tests run in parallel, and a port handed to a child process that
/// has not bound it yet looks free to the kernel, so it could be handed out again.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A unique, readable name for a per-test database or topic.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Stops `pid` and removes `dir` once this process has exited.
fn watchdog(pid: u32, dir: &std::path::Path) {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -INT {pid} 2>/dev/null; \
         for i in 1 2 3 4 5; do kill -0 {pid} 2>/dev/null || break; sleep 1; done; \
         kill -9 {pid} 2>/dev/null; rm -rf '{}'",
        dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Sends SIGINT (PostgreSQL's fast shutdown; tansu's clean stop) and waits up to 10 s.
fn stop_child(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
