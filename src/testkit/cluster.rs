//! A throwaway PostgreSQL cluster: initdb in a temp dir, `wal_level=logical`,
//! `pg_stat_statements` preloaded, password (SCRAM) auth over TCP. As root, the server runs as
//! the `postgres` user (initdb refuses root).

use crate::config::{Secret, SourceConfig};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The superuser's password in test clusters; tests check it never reaches logs or errors.
pub const SUPERUSER_PASSWORD: &str = "pgmeta-test-secret-7f3a";

#[derive(Debug)]
pub struct PgCluster {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    run_as: Option<(u32, u32)>,
    /// The server's command line, to start it again after [`PgCluster::stop`].
    args: Vec<String>,
}

impl PgCluster {
    /// One cluster per test process, started on first use.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let mut cluster = PgCluster::start();
            // Owned by the watchdog from now on: it outlives statics.
            let dir = cluster.dir.take().map(|d| d.keep());
            if let (Some(child), Some(dir)) = (&cluster.child, dir) {
                super::watchdog(child.id(), &dir);
            }
            cluster
        })
    }

    /// Starts a cluster that stops and disappears when dropped.
    pub fn start() -> PgCluster {
        Self::start_with_tls(None)
    }

    /// Starts a cluster with these settings (`name=value`) over the usual ones: a benchmark's
    /// 100,000 tables need a larger lock table for `pg_dump`.
    pub fn start_with_settings(settings: &[&str]) -> PgCluster {
        Self::start_configured(None, settings)
    }

    /// Starts a cluster with `ssl = on` and this server certificate and key (PEM), or
    /// without TLS for `None`.
    pub fn start_with_tls(tls: Option<(&str, &str)>) -> PgCluster {
        Self::start_configured(tls, &[])
    }

    fn start_configured(tls: Option<(&str, &str)>, settings: &[&str]) -> PgCluster {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("pgmeta-pg-")
            .tempdir()
            .expect("create temp dir");
        let path = dir.path().to_owned();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        let run_as = running_as_root().then(postgres_user);
        let data = path.join("data");
        let sock = path.join("sock");
        for d in [&data, &sock] {
            std::fs::create_dir(d).expect("create cluster dir");
            if let Some((uid, gid)) = run_as {
                std::os::unix::fs::chown(d, Some(uid), Some(gid)).expect("chown cluster dir");
            }
        }
        let pwfile = path.join("pwfile");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).expect("write pwfile");
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644))
            .expect("chmod pwfile");

        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        let out = as_user(&mut initdb, run_as).output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let mut tls_args: Vec<String> = Vec::new();
        if let Some((cert, key)) = tls {
            for (name, text, mode) in [("server.crt", cert, 0o644), ("server.key", key, 0o600)] {
                let file = data.join(name);
                std::fs::write(&file, text).expect("write TLS file");
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))
                    .expect("chmod TLS file");
                if let Some((uid, gid)) = run_as {
                    std::os::unix::fs::chown(&file, Some(uid), Some(gid)).expect("chown TLS file");
                }
            }
            tls_args.extend(["-c".into(), "ssl=on".into()]);
        }
        let port = super::free_port();
        let log = std::fs::File::create(path.join("postgres.log")).expect("create log");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(path.join("postgres.log"), Some(uid), Some(gid))
                .expect("chown log");
        }
        drop(log);
        let mut args: Vec<String> = vec![
            "-D".into(),
            data.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-c".into(),
            format!("unix_socket_directories={}", sock.display()),
        ];
        for setting in [
            "listen_addresses=127.0.0.1",
            "wal_level=logical",
            "shared_preload_libraries=pg_stat_statements",
            // Every test database's statements share it: room enough that one test's are
            // not evicted by the others' before it reads them.
            "pg_stat_statements.max=50000",
            "max_replication_slots=32",
            "max_wal_senders=32",
            "max_connections=300",
            // fsync off makes commits cheap; synchronous_commit stays on, as on a real
            // server: with it off, WAL reaches the walsender only at the WAL writer's pace
            // (200 ms), which would distort replication latency.
            "fsync=off",
            "full_page_writes=off",
            "max_locks_per_transaction=256",
        ] {
            args.extend(["-c".into(), setting.into()]);
        }
        args.extend(tls_args);
        // Later `-c` settings win over earlier ones.
        for setting in settings {
            args.extend(["-c".into(), (*setting).into()]);
        }
        let mut cluster = PgCluster {
            dir: Some(dir),
            path,
            bin,
            port,
            child: None,
            run_as,
            args,
        };
        cluster.spawn();
        cluster.psql(
            "postgres",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        );
        cluster
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.path.join("postgres.log"))
            .expect("open log");
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        let child = as_user(&mut postgres, self.run_as)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Stops the server (fast shutdown); [`PgCluster::restart`] starts it again, same data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop_child(&mut child);
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn wait_ready(&self) {
        let pidfile = self.path.join("data/postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            // Line 8 of postmaster.pid is the server's status; "ready" once it accepts connections.
            if let Ok(text) = std::fs::read_to_string(&pidfile)
                && text.lines().nth(7).is_some_and(|l| l.trim() == "ready")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.path.join("postgres.log")).unwrap_or_default();
        panic!("postgres did not become ready in 60 s; log:\n{log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection settings for `database` as the superuser, over TCP with a password.
    pub fn source(&self, database: &str) -> SourceConfig {
        SourceConfig {
            host: Some("127.0.0.1".into()),
            port: Some(self.port),
            user: Some("postgres".into()),
            password: Some(Secret::new(SUPERUSER_PASSWORD.into())),
            database: Some(database.into()),
            ..SourceConfig::default()
        }
    }

    /// A URL for `database` (plain names only; use [`PgCluster::source`] for odd ones).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    pub async fn client(&self, database: &str) -> tokio_postgres::Client {
        let target =
            crate::pg::PgTarget::resolve(&self.source(database), &|_| None).expect("test target");
        target
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect to test database {database}: {e}"))
    }

    /// Creates a fresh database and returns a superuser connection to it.
    pub async fn create_database(&self, name: &str) -> tokio_postgres::Client {
        let admin = self.client("postgres").await;
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {}",
                crate::model::quote_ident(name)
            ))
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        self.client(name).await
    }

    /// Runs SQL through psql (for files with psql syntax such as pg_dump output).
    pub fn psql(&self, database: &str, sql: &str) {
        self.psql_args(database, &["-c", sql]);
    }

    pub fn psql_file(&self, database: &str, file: &Path) {
        self.psql_args(database, &["-f", &file.display().to_string()]);
    }

    fn psql_args(&self, database: &str, args: &[&str]) {
        let out = self
            .command("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .args(["-p", &self.port.to_string(), "-d", database])
            .args(args)
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A binary of this cluster's PostgreSQL (pg_dump, psql, ...). Server-only installs (the
    /// npm builds of other major versions have no client tools) fall back to the machine's
    /// newest client, which speaks to every server version the tests use.
    pub fn command(&self, name: &str) -> Command {
        let own = self.bin.join(name);
        let path = if own.exists() {
            own
        } else {
            system_bin().map_or(own, |b| b.join(name))
        };
        let mut c = Command::new(path);
        c.env("PGPASSWORD", SUPERUSER_PASSWORD);
        c
    }

    /// The server's major version (`server_version_num / 10000`).
    pub fn major_version(&self) -> u32 {
        let out = self
            .command("postgres")
            .arg("--version")
            .output()
            .expect("postgres --version");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .find_map(|w| w.split('.').next().and_then(|m| m.parse().ok()))
            .unwrap_or(0)
    }

    /// Whether this process runs the server as another user (root → postgres).
    pub fn runs_as(&self) -> Option<(u32, u32)> {
        self.run_as
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            super::stop_child(child);
        }
    }
}

fn as_user(cmd: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = run_as {
        cmd.gid(gid).uid(uid);
    }
    cmd
}

/// `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` that has initdb.
fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    system_bin().expect("no PostgreSQL server binaries: set PG_BIN or install postgresql (apt-get install postgresql)")
}

/// The newest `/usr/lib/postgresql/*/bin` that has initdb.
fn system_bin() -> Option<PathBuf> {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, b)| b)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres"))
                .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
        .expect(
            "running as root needs a `postgres` user to run the server as (initdb refuses root)",
        )
}
