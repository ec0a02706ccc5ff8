//! The broker going away: unreachable at start (retry with backoff, then a clear error), and
//! down in the middle of a run (nothing lost, nothing doubled once it is back); and a broker
//! that refuses records for good.

use crate::common::{TestEnv, capture_with, read_topic, summary};
use pgmeta::testkit::{Broker, Service, free_port};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pgmeta-capture");

fn capture_cmd(env: &TestEnv, brokers: &str, startup_timeout: &str) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--url")
        .arg(env.cluster.url(&env.db))
        .args([
            "--service-name",
            "svc",
            "--brokers",
            brokers,
            "--topic",
            &env.topic,
        ])
        .args(["--kafka-startup-timeout", startup_timeout, "--state-dir"])
        .arg(env.state.path())
        .args(["snapshot", "--once"]);
    c
}

/// SIGTERM while the capture waits for brokers that are not there: it exits at once, with
/// success (nothing was read or sent), instead of waiting out `kafka.startup_timeout`.
#[tokio::test]
async fn sigterm_while_waiting_for_the_broker_exits_at_once() {
    let env = TestEnv::new("stop_before_broker").await;
    let args: Vec<String> = capture_cmd(&env, &format!("127.0.0.1:{}", free_port()), "300s")
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut capture = Service::start("pgmeta-capture", &args, &[]);
    capture
        .wait_for_log("kafka unreachable, retrying", Duration::from_secs(30))
        .await;
    // Without the shutdown taken into account it would retry for 300 s: `terminate` gives up
    // after 20 s and returns None.
    let status = capture.terminate(Duration::from_secs(20));
    let log = capture.log();
    assert_eq!(status.map(|s| s.success()), Some(true), "log:\n{log}");
    assert!(
        log.contains("shut down before Kafka was reached"),
        "log:\n{log}"
    );
}

#[tokio::test]
async fn broker_down_at_start_is_waited_for_and_nothing_is_doubled() {
    let env = TestEnv::new("late_broker").await;
    env.sql("CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE VIEW v AS SELECT * FROM a;")
        .await;
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let mut child = capture_cmd(&env, &brokers, "60s")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Wait until the capture has tried and is backing off, then bring the broker up.
    let mut log = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("capture logs its retries");
        let retrying = line.contains("kafka unreachable, retrying");
        log.push(line);
        if retrying {
            break;
        }
    }
    let _broker = Broker::start_on(port, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "capture did not finish after the broker came up"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    log.extend(rx.try_iter());
    assert!(status.success(), "{}", log.join("\n"));

    let records = read_topic(&brokers, &env.topic);
    let fqns: Vec<String> = records.iter().map(|r| r.key.clone()).collect();
    let distinct: HashSet<&String> = fqns.iter().collect();
    assert_eq!(fqns.len(), distinct.len(), "no record twice: {fqns:?}");
    let expected: HashSet<String> = ["", ".public", ".public.a", ".public.b", ".public.v"]
        .iter()
        .map(|s| format!("svc.{}{s}", env.db))
        .collect();
    assert_eq!(
        distinct.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );
}

#[tokio::test]
async fn broker_that_never_comes_is_a_clear_error() {
    let env = TestEnv::new("no_broker").await;
    let port = free_port();
    let out = capture_cmd(&env, &format!("127.0.0.1:{port}"), "2s")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("Kafka brokers 127.0.0.1:{port} unreachable after")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: check kafka.brokers"), "{stderr}");
    // The epoch may be begun (before anything is sent); nothing is recorded as emitted.
    let state = pgmeta::checkpoint::CheckpointStore::open(env.state.path())
        .and_then(|store| store.load_heads("svc", &env.db))
        .expect("state store");
    assert!(
        !state.initialized && state.heads.is_empty(),
        "no state without delivery: {state:?}"
    );
}

#[tokio::test]
async fn broker_outage_mid_run_loses_and_doubles_nothing() {
    let env = TestEnv::new("outage").await;
    env.sql("CREATE TABLE a (id int);").await;
    let mut broker = Broker::start_on(free_port(), true);
    let mut config = env.config();
    config.kafka.brokers = broker.bootstrap();
    config.kafka.delivery_timeout = Duration::from_secs(2);
    let mut capture = capture_with(&config).await;
    let first = capture.poll_once().await;
    if let Some((_, e)) = first.errors.first() {
        panic!("first poll: {e}");
    }

    broker.stop();
    env.sql("ALTER TABLE a ADD COLUMN b int; CREATE TABLE c (id int);")
        .await;
    let cycle = capture.poll_once().await;
    let (_, error) = cycle
        .errors
        .first()
        .expect("delivery fails while the broker is down");
    assert!(
        error.to_string().contains("Kafka did not acknowledge"),
        "{error}"
    );
    assert_eq!(error.class(), pgmeta::pg::ErrorClass::Transient);
    // librdkafka's code is kept, not only its text, and it is the cause, never the purge that
    // follows it: a broker that goes away mid-request can leave the idempotent producer's
    // sequence unknown (a fatal error) or turn a transaction abortable; both purge the queue,
    // and the error reported is the one before the purge.
    let cause = error.cause();
    assert_eq!(cause.system, "kafka", "{error}");
    assert!(
        !cause.code.is_empty() && !["PurgeQueue", "unknown"].contains(&cause.code.as_str()),
        "{cause:?} of {error}"
    );
    broker.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cycle = capture.poll_once().await;
        if cycle.errors.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still failing after the broker returned: {}",
            cycle.errors[0].1
        );
    }
    let records = read_topic(&broker.bootstrap(), &env.topic);
    let db = &env.db;
    let changes: Vec<(String, String)> = summary(&records)
        .into_iter()
        .filter(|(op, _)| op != "SNAPSHOT")
        .collect();
    assert_eq!(
        changes,
        vec![
            ("CREATE".into(), format!("svc.{db}.public.c")),
            ("UPDATE".into(), format!("svc.{db}.public.a"))
        ]
    );
}

/// A topic whose max.message.bytes is below the events pgmeta sends: the broker refuses them
/// (MessageSizeTooLarge) and no retry can help, so the capture stops saying what to change
/// instead of retrying forever. Apache Kafka enforces the limit; tansu does not.
#[tokio::test]
async fn records_over_the_topics_size_limit_stop_the_capture_saying_what_to_change() {
    if pgmeta::testkit::BrokerKind::from_env() != pgmeta::testkit::BrokerKind::ApacheKafka {
        pgmeta::testkit::skip(
            "records_over_the_topics_size_limit_stop_the_capture_saying_what_to_change",
            pgmeta::testkit::Missing::ServerFeature,
            "tansu does not enforce max.message.bytes (runs against Apache Kafka)",
        );
        return;
    }
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let env = TestEnv::new("size_limit").await;
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &env.brokers)
        .create()
        .expect("admin");
    let topic = NewTopic::new(&env.topic, 1, TopicReplication::Fixed(1))
        .set("cleanup.policy", "compact")
        .set("max.message.bytes", "20000");
    admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create topic");
    env.sql(&format!(
        "CREATE TABLE big (id int); COMMENT ON TABLE big IS '{}'",
        "x".repeat(100_000)
    ))
    .await;
    let mut config = env.config();
    config.kafka.delivery_timeout = Duration::from_secs(5);
    let mut capture = capture_with(&config).await;
    let cycle = capture.poll_once().await;
    let (_, error) = cycle.errors.first().expect("the broker refuses the record");
    assert_eq!(error.class(), pgmeta::pg::ErrorClass::Fatal, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("MessageSizeTooLarge") && message.contains("max.message.bytes"),
        "{message}"
    );
}
