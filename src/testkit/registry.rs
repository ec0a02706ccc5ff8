//! A Schema Registry speaking the Confluent REST API for tests: rivven-schema (crates.io),
//! installed by `scripts/install-rivven-schema.sh` into the tools cache. In memory; each test
//! starts its own on a free port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct SchemaRegistryServer {
    child: Option<Child>,
    port: u16,
    log: tempfile::NamedTempFile,
}

/// The installed rivven-schema, or `None` (the test then reports a skip).
pub fn rivven_schema_path() -> Option<PathBuf> {
    let path = super::tools_dir().join("bin/rivven-schema");
    path.exists().then_some(path)
}

impl SchemaRegistryServer {
    /// Starts a registry on `port` (BACKWARD compatibility by default, as Confluent's).
    pub fn start_on(port: u16) -> Option<SchemaRegistryServer> {
        let mut server = SchemaRegistryServer {
            child: None,
            port,
            log: tempfile::NamedTempFile::new().expect("log file"),
        };
        server.spawn()?;
        Some(server)
    }

    fn spawn(&mut self) -> Option<()> {
        let log = self.log.reopen().expect("log fd");
        let child = Command::new(rivven_schema_path()?)
            .args(["serve", "--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start rivven-schema");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rivven-schema did not listen on {}: {}",
                self.port,
                std::fs::read_to_string(self.log.path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(())
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop_child(&mut child);
        }
    }
}

impl Drop for SchemaRegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// TLS in front of a plain server, terminated by socat (rivven-schema speaks plain HTTP only):
/// the server's certificate and key, and with `client_ca` the CA every client certificate must
/// chain to (mutual TLS). `None` when socat is not installed.
#[derive(Debug)]
pub struct TlsFront {
    child: Child,
    port: u16,
}

impl TlsFront {
    pub fn start(
        backend_port: u16,
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
    ) -> Option<TlsFront> {
        let port = super::free_port();
        let mut listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={}",
            cert.display(),
            key.display()
        );
        match client_ca {
            Some(ca) => listen.push_str(&format!(",cafile={},verify=1", ca.display())),
            None => listen.push_str(",verify=0"),
        }
        let child = Command::new("socat")
            .arg(listen)
            .arg(format!("TCP:127.0.0.1:{backend_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "socat did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(TlsFront { child, port })
    }

    /// The `https` URL, by the name the test certificates carry (`localhost`).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        super::stop_child(&mut self.child);
    }
}
