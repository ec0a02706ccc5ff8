//! The broker tests talk to: tansu (crates.io, Apache-2.0; `scripts/install-tansu.sh`) or
//! Apache Kafka itself (a single-node KRaft broker from its own jars on Maven Central;
//! `scripts/install-kafka.sh`), both installed into a cache outside the clone. `PGMETA_BROKER`
//! (`tansu`, the default, or `kafka`) chooses: the same test bodies run against either, and
//! `make test` runs the suite once per broker it has.

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
    kind: BrokerKind,
    /// Apache Kafka's controller listener, kept across restarts.
    controller_port: u16,
}

/// Which broker implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Tansu,
    ApacheKafka,
}

impl BrokerKind {
    /// `PGMETA_BROKER`: `kafka` for Apache Kafka, else tansu.
    pub fn from_env() -> BrokerKind {
        match std::env::var("PGMETA_BROKER").as_deref() {
            Ok("kafka") => BrokerKind::ApacheKafka,
            _ => BrokerKind::Tansu,
        }
    }

    /// Whether the broker implements Kafka transactions (tansu 0.6 does not).
    pub fn has_transactions(self) -> bool {
        self == BrokerKind::ApacheKafka
    }
}

/// A fixed cluster id for throwaway Apache Kafka brokers (base64 of 16 bytes, as
/// `kafka-storage random-uuid` prints).
const KAFKA_CLUSTER_ID: &str = "cGdtZXRhLXRlc3RzLWtyYQ";

/// Whether Apache Kafka's jars are installed and Java runs here.
pub fn kafka_installed() -> bool {
    kafka_lib_dir().join("READY").exists() && super::java_runs()
}

fn kafka_lib_dir() -> PathBuf {
    super::cache_dir().join("kafka/lib")
}

/// The directory `scripts/install-kafka.sh` filled with Apache Kafka's jars.
pub fn kafka_lib() -> PathBuf {
    let lib = kafka_lib_dir();
    assert!(
        lib.join("READY").exists(),
        "Apache Kafka not found in {}: run scripts/install-kafka.sh (make test does)",
        lib.display()
    );
    lib
}

/// `PGMETA_TANSU`, else the install script's cache.
pub fn tansu_path() -> PathBuf {
    if let Ok(p) = std::env::var("PGMETA_TANSU") {
        return PathBuf::from(p);
    }
    let path = super::tools_dir().join("bin/tansu");
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
        Broker::start_kind(BrokerKind::from_env(), port, durable)
    }

    /// Starts a broker of `kind` on `port` (Apache Kafka is always durable).
    pub fn start_kind(kind: BrokerKind, port: u16, durable: bool) -> Broker {
        let dir = tempfile::Builder::new()
            .prefix("pgmeta-broker-")
            .tempdir()
            .expect("temp dir");
        let mut broker = Broker {
            child: None,
            port,
            dir: Some(dir),
            durable,
            kind,
            controller_port: super::free_port(),
        };
        if kind == BrokerKind::ApacheKafka {
            broker.format_kafka();
        }
        broker.spawn();
        broker
    }

    pub fn kind(&self) -> BrokerKind {
        self.kind
    }

    fn dir(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().to_owned())
            .unwrap_or_else(std::env::temp_dir)
    }

    /// Writes the single-node KRaft configuration and formats the log directory.
    fn format_kafka(&self) {
        let dir = self.dir();
        let (port, controller) = (self.port, self.controller_port);
        let properties = format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             inter.broker.listener.name=PLAINTEXT\n\
             log.dirs={data}\n\
             offsets.topic.replication.factor=1\n\
             offsets.topic.num.partitions=4\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             transaction.state.log.num.partitions=4\n\
             share.coordinator.state.topic.replication.factor=1\n\
             share.coordinator.state.topic.min.isr=1\n\
             group.initial.rebalance.delay.ms=0\n\
             log.cleaner.backoff.ms=1000\n",
            data = dir.join("data").display()
        );
        std::fs::write(dir.join("server.properties"), properties).expect("server.properties");
        std::fs::write(
            dir.join("log4j2.properties"),
            "rootLogger.level=WARN\nrootLogger.appenderRef.out.ref=OUT\n\
             appender.out.type=Console\nappender.out.name=OUT\n\
             appender.out.layout.type=PatternLayout\n\
             appender.out.layout.pattern=[%d] %p %m (%c)%n\n",
        )
        .expect("log4j2.properties");
        let out = Command::new("java")
            .arg("-cp")
            .arg(format!("{}/*", kafka_lib().display()))
            .args(["kafka.tools.StorageTool", "format", "--standalone", "-t"])
            .arg(KAFKA_CLUSTER_ID)
            .arg("-c")
            .arg(dir.join("server.properties"))
            .output()
            .expect("run kafka.tools.StorageTool");
        assert!(
            out.status.success(),
            "formatting the Kafka log directory failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn command(&self, dir: &std::path::Path) -> Command {
        match self.kind {
            BrokerKind::Tansu => {
                let listener = format!("tcp://127.0.0.1:{}", self.port);
                // tansu resolves a sqlite:// path against its working directory (an absolute
                // path gets the directory prefixed again), so it runs in `dir` with a relative
                // path.
                let storage = if self.durable {
                    "sqlite://tansu.db"
                } else {
                    "memory://tansu/"
                };
                let mut c = Command::new(tansu_path());
                c.args([
                    "broker",
                    "--listener-url",
                    &listener,
                    "--advertised-listener-url",
                    &listener,
                ])
                .args(["--storage-engine", storage])
                .env("RUST_LOG", "warn");
                c
            }
            BrokerKind::ApacheKafka => {
                let mut c = Command::new("java");
                // A small heap and the serial collector: a test broker holds little.
                c.args([
                    "-Xms64m",
                    "-Xmx384m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                ])
                .arg(format!(
                    "-Dlog4j2.configurationFile={}",
                    dir.join("log4j2.properties").display()
                ))
                .arg("-cp")
                .arg(format!("{}/*", kafka_lib().display()))
                .arg("kafka.Kafka")
                .arg(dir.join("server.properties"));
                c
            }
        }
    }

    fn spawn(&mut self) {
        let dir = self.dir();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("broker.log"))
            .expect("log");
        let child = self
            .command(&dir)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {:?} broker: {e}", self.kind));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("broker.log")).unwrap_or_default();
                panic!(
                    "the {:?} broker did not listen on {} (exited: {exited}); its log:\n{log}",
                    self.kind, self.port
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
