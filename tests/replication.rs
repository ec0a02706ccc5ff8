//! DDL capture through the logical replication slot: the event trigger's messages arrive
//! between BEGIN and COMMIT, a rolled-back DDL leaves none, a multi-statement transaction
//! yields one consistent set of events, and the slot's position follows acknowledged events.

use crate::common::{Record, TestEnv, skip_before_14};
use pgmeta::event::{CaptureMode, MetadataEvent};
use pgmeta::pg::ddl_trigger;
use pgmeta::testkit::ReplicationTask;
use std::time::{Duration, Instant};

/// Reads the test's topic until `done` holds (see [`wait_on`]).
async fn wait_for(env: &TestEnv, what: &str, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    wait_on(&env.brokers, &env.topic, what, done).await
}

/// Reads `topic` on `brokers` until `done` holds (60 s at most; on timeout, says what the topic
/// held).
async fn wait_on(
    brokers: &str,
    topic: &str,
    what: &str,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (b, t) = (brokers.to_owned(), topic.to_owned());
        let records = tokio::task::spawn_blocking(move || crate::common::read_topic(&b, &t))
            .await
            .expect("reader");
        if done(&records) {
            return records;
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = records
                .iter()
                .map(|r| format!("{} {}", r.event_type, r.key))
                .collect();
            panic!(
                "waited 60 s for {what}; the topic holds:\n{}",
                seen.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts replication capture with `config` on its own task.
async fn start_replication(
    config: &pgmeta::config::CaptureConfig,
) -> (pgmeta::shutdown::ShutdownTrigger, ReplicationTask) {
    pgmeta::testkit::start_replication(config)
        .await
        .expect("replication capture")
}

fn events_for<'a>(records: &'a [Record], suffix: &str) -> Vec<&'a MetadataEvent> {
    records
        .iter()
        .filter_map(|r| r.event.as_ref())
        .filter(|e| e.fqn.ends_with(suffix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_arrives_through_the_slot_and_the_slot_follows() {
    let env = TestEnv::new("repl").await;
    if skip_before_14(&env, "ddl_arrives_through_the_slot_and_the_slot_follows") {
        return;
    }
    env.sql("CREATE TABLE base (id int)").await;
    ddl_trigger::install(&env.client, "test")
        .await
        .expect("install");
    ddl_trigger::install(&env.client, "test")
        .await
        .expect("install is idempotent");
    let mut config = env.config();
    config.replication.enabled = true;
    config.poll.interval = Duration::from_secs(3600);
    config.replication.safety_poll_interval = Duration::from_secs(3600);
    let slot = config.replication.slot_name(&config.service_name, &env.db);
    let (trigger, task) = start_replication(&config).await;

    wait_for(&env, "the initial snapshot", |r| {
        !events_for(r, ".public.base").is_empty()
    })
    .await;
    assert!(
        events_for(&env.records(), ".pgmeta").is_empty(),
        "pgmeta's own schema is not captured"
    );

    let before: String = env
        .client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .expect("lsn")
        .get(0);
    env.sql("CREATE TABLE fresh (id int)").await;
    let records = wait_for(&env, "CREATE fresh", |r| {
        !events_for(r, ".public.fresh").is_empty()
    })
    .await;
    let fresh = events_for(&records, ".public.fresh");
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        fresh[0].source.capture_mode,
        CaptureMode::Replication,
        "found through the slot, not a poll"
    );

    // A rolled-back DDL leaves nothing; a later committed one still arrives.
    env.sql("BEGIN; CREATE TABLE ghost (id int); ROLLBACK;")
        .await;
    env.sql("COMMENT ON TABLE base IS 'marker'").await;
    let records = wait_for(&env, "the marker comment", |r| {
        events_for(r, ".public.base").len() == 2
    })
    .await;
    assert!(
        events_for(&records, ".public.ghost").is_empty(),
        "rolled back: no event"
    );

    // Several DDLs in one transaction: one event per object, showing the committed state.
    env.sql("BEGIN; CREATE TABLE a (id int); CREATE VIEW b AS SELECT id FROM a; ALTER TABLE a ADD COLUMN x int; COMMIT;").await;
    let records = wait_for(&env, "a and b", |r| {
        !events_for(r, ".public.a").is_empty() && !events_for(r, ".public.b").is_empty()
    })
    .await;
    let a = events_for(&records, ".public.a");
    assert_eq!(a.len(), 1, "one event for a");
    let columns: Vec<&str> = a[0]
        .table
        .as_ref()
        .map(|t| t.columns.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(columns, vec!["id", "x"]);
    assert_eq!(events_for(&records, ".public.b").len(), 1);

    // Renames, drops, routines and schemas, each through the slot.
    env.sql("CREATE SCHEMA sales; CREATE FUNCTION sales.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';").await;
    let records = wait_for(&env, "schema and function", |r| {
        !events_for(r, ".sales.f(x integer)").is_empty()
    })
    .await;
    assert!(
        events_for(&records, ".sales")
            .iter()
            .all(|e| e.source.capture_mode == CaptureMode::Replication)
    );
    env.sql("ALTER TABLE a RENAME COLUMN x TO y; ALTER TABLE fresh RENAME TO renamed; DROP VIEW b; CREATE OR REPLACE FUNCTION sales.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';").await;
    let records = wait_for(&env, "renames and drop", |r| {
        !events_for(r, ".public.renamed").is_empty()
            && events_for(r, ".public.b")
                .iter()
                .any(|e| e.op == pgmeta::event::Op::Delete)
            && events_for(r, ".public.a").len() >= 2
            && events_for(r, ".sales.f(x integer)").len() >= 2
    })
    .await;
    let renamed = events_for(&records, ".public.renamed");
    assert_eq!(
        renamed[0]
            .previous_fqn
            .as_deref()
            .map(|p| p.ends_with(".public.fresh")),
        Some(true)
    );
    let a = events_for(&records, ".public.a");
    assert_eq!(
        a.last().map(|e| e.changed_fields.clone()),
        Some(vec!["ddl".to_string(), "columns.y.name".to_string()])
    );
    let f = events_for(&records, ".sales.f(x integer)");
    assert_eq!(
        f.last()
            .map(|e| (e.changed_fields.clone(), e.source.capture_mode)),
        Some((vec!["body".to_string()], CaptureMode::Replication))
    );
    // The same DDL classified on the schema-changes topic, through the slot as well.
    let classified: Vec<(String, String, CaptureMode)> = env
        .schema_changes()
        .into_iter()
        .filter(|c| c.rule != "column.added")
        .map(|c| {
            let object = c
                .object_fqn
                .rsplit(".public.")
                .next()
                .unwrap_or_default()
                .to_owned();
            (c.rule, object, c.source.capture_mode)
        })
        .collect();
    for want in [
        ("column.renamed", "a.y"),
        ("table.renamed", "renamed"),
        ("view.dropped", "b"),
    ] {
        assert!(
            classified
                .iter()
                .any(|(r, o, m)| (r.as_str(), o.as_str()) == want && *m == CaptureMode::Replication),
            "{want:?} in {classified:?}"
        );
    }
    env.sql("DROP SCHEMA sales CASCADE").await;
    let deleted = |r: &[Record], suffix: &str| {
        events_for(r, suffix)
            .iter()
            .any(|e| e.op == pgmeta::event::Op::Delete)
    };
    wait_for(&env, "drop schema and its function", |r| {
        deleted(r, ".sales") && deleted(r, ".sales.f(x integer)")
    })
    .await;

    // The slot's confirmed position moves past the acknowledged transactions.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let advanced: bool = env
            .client
            .query_one("SELECT confirmed_flush_lsn > $1::text::pg_lsn FROM pg_replication_slots WHERE slot_name = $2", &[&before, &slot])
            .await
            .expect("slot")
            .get(0);
        if advanced {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slot {slot} did not advance past {before}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    trigger.trigger();
    let ended = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops within 10 s")
        .expect("task");
    assert!(ended.is_ok(), "{ended:?}");

    ddl_trigger::uninstall(&env.client, "test", Some(&slot))
        .await
        .expect("uninstall");
    ddl_trigger::uninstall(&env.client, "test", Some(&slot))
        .await
        .expect("uninstall is idempotent");
    let left: i64 = env
        .client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)
                  + (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'pgmeta%')
                  + (SELECT count(*) FROM pg_namespace WHERE nspname = 'pgmeta')",
            &[&slot],
        )
        .await
        .expect("leftovers")
        .get(0);
    assert_eq!(left, 0, "uninstall leaves nothing behind");
}

#[tokio::test]
async fn without_the_trigger_it_says_why_and_polls() {
    let env = TestEnv::new("repl_missing").await;
    env.sql("CREATE TABLE t (id int)").await;
    let out = env.state.path().join("events.jsonl");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pgmeta-capture"))
        .arg("--url")
        .arg(env.cluster.url(&env.db))
        .args(["--output", "jsonl", "--output-path"])
        .arg(&out)
        .arg("--state-dir")
        .arg(env.state.path())
        .args(["run", "--poll-interval", "200ms"])
        .env("PGMETA_REPLICATION_ENABLED", "true")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&out).is_ok_and(|t| t.contains("\"capture_mode\":\"POLL\"")) {
        assert!(Instant::now() < deadline, "no polled events");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("replication unavailable, capturing by polling"),
        "{stderr}"
    );
    let why = if env.cluster.major_version() < 14 {
        "needs PostgreSQL 14 or later"
    } else {
        "run `pgmeta-capture install` as a superuser"
    };
    assert!(stderr.contains(why), "{stderr}");
}

fn jsonl_fqns(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["fqn"].as_str().map(str::to_owned))
        .collect()
}

/// A test database with the table `base` and the DDL trigger, and `base`'s FQN; `None` (the
/// test skips) before PostgreSQL 14.
async fn env_with_trigger(name: &str, test: &str) -> Option<(TestEnv, String)> {
    let env = TestEnv::new(name).await;
    if skip_before_14(&env, test) {
        return None;
    }
    env.sql("CREATE TABLE base (id int)").await;
    ddl_trigger::install(&env.client, "test")
        .await
        .expect("install");
    let base = format!("svc.{}.public.base", env.db);
    Some((env, base))
}

fn capture_process(
    env: &TestEnv,
    out: &std::path::Path,
    failpoints: Option<&str>,
) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pgmeta-capture"));
    cmd.arg("--url")
        .arg(env.cluster.url(&env.db))
        .args([
            "--service-name",
            "svc",
            "--output",
            "jsonl",
            "--output-path",
        ])
        .arg(out)
        .arg("--state-dir")
        .arg(env.state.path())
        .args(["run", "--replication", "--poll-interval", "1h"])
        .stderr(std::process::Stdio::null());
    if let Some(f) = failpoints {
        cmd.env("FAILPOINTS", f);
    }
    cmd.spawn().expect("spawn capture")
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(feature = "failpoints")]
#[tokio::test]
async fn crash_after_commit_before_emit_loses_nothing() {
    let Some((env, base)) =
        env_with_trigger("repl_crash", "crash_after_commit_before_emit_loses_nothing").await
    else {
        return;
    };
    let out = env.state.path().join("events.jsonl");
    let doomed = format!("svc.{}.public.survivor", env.db);

    // The capture dies as soon as the DDL's commit reaches it: nothing emitted, nothing acked.
    let mut first = capture_process(&env, &out, Some("replication-commit-received=panic"));
    wait_until("the initial snapshot", || jsonl_fqns(&out).contains(&base)).await;
    env.sql("CREATE TABLE survivor (id int)").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = first.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the failpoint did not end the process"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    assert!(!jsonl_fqns(&out).contains(&doomed), "died before emitting");

    // Restarted, the change is delivered exactly once and the slot moves on.
    let second = capture_process(&env, &out, None);
    wait_until("the survivor table", || jsonl_fqns(&out).contains(&doomed)).await;
    env.sql("CREATE TABLE after_restart (id int)").await;
    let after = format!("svc.{}.public.after_restart", env.db);
    wait_until("a later DDL", || jsonl_fqns(&out).contains(&after)).await;
    assert_eq!(jsonl_fqns(&out).iter().filter(|f| **f == doomed).count(), 1);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    let status = second.wait_with_output().expect("wait").status;
    assert!(status.success());
}

/// The capture is killed after a DDL's events were sent and its state committed without an
/// fsync (deferred), before the store was flushed and the slot acknowledged: the commit is
/// lost with the process, the slot replays the DDL, and a table dropped meanwhile is retracted
/// through the write-ahead note (durable before the send).
#[cfg(feature = "failpoints")]
#[tokio::test]
async fn killed_before_a_deferred_commit_is_flushed_the_slot_replays() {
    let Some((env, base)) = env_with_trigger(
        "repl_deferred",
        "killed_before_a_deferred_commit_is_flushed_the_slot_replays",
    )
    .await
    else {
        return;
    };
    let out = env.state.path().join("events.jsonl");
    let doomed = format!("svc.{}.public.doomed", env.db);

    let mut first = capture_process(
        &env,
        &out,
        Some("replication-after-emit-before-ack=sleep(60000)"),
    );
    wait_until("the initial snapshot", || jsonl_fqns(&out).contains(&base)).await;
    env.sql("CREATE TABLE doomed (id int)").await;
    wait_until("the DDL's event", || jsonl_fqns(&out).contains(&doomed)).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("wait");
    env.sql("DROP TABLE doomed").await;

    let second = capture_process(&env, &out, None);
    let events = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_until("the dropped table's retraction", || {
        events()
            .iter()
            .any(|e| e["fqn"] == doomed.as_str() && e["op"] == "DELETE")
    })
    .await;
    env.sql("CREATE TABLE after_restart (id int)").await;
    let after = format!("svc.{}.public.after_restart", env.db);
    wait_until("a later DDL", || jsonl_fqns(&out).contains(&after)).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    assert!(second.wait_with_output().expect("wait").status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_during_ddl_delivers_after_it_returns() {
    let env = TestEnv::new("repl_outage").await;
    if skip_before_14(&env, "broker_down_during_ddl_delivers_after_it_returns") {
        return;
    }
    let mut broker = pgmeta::testkit::Broker::start_on(pgmeta::testkit::free_port(), true);
    let mut config = env.config();
    config.kafka.brokers = broker.bootstrap();
    config.kafka.delivery_timeout = Duration::from_secs(2);
    config.replication.enabled = true;
    // `run` installs the trigger itself when configured to.
    config.replication.install = true;
    config.poll.interval = Duration::from_secs(3600);
    let (trigger, task) = start_replication(&config).await;
    wait_on(
        &broker.bootstrap(),
        &env.topic,
        "the initial snapshot",
        |r| !r.is_empty(),
    )
    .await;

    broker.stop();
    env.sql("CREATE TABLE during_outage (id int)").await;
    // Let the capture fail against the missing broker at least once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.restart();
    let arrived = |r: &[Record]| !events_for(r, ".public.during_outage").is_empty();
    let records = wait_on(
        &broker.bootstrap(),
        &env.topic,
        "the DDL after the broker returned",
        arrived,
    )
    .await;
    assert_eq!(events_for(&records, ".public.during_outage").len(), 1);
    trigger.trigger();
    assert!(task.await.expect("task").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_during_startup_is_neither_missed_nor_doubled() {
    let env = TestEnv::new("repl_gapfree").await;
    if skip_before_14(&env, "ddl_during_startup_is_neither_missed_nor_doubled") {
        return;
    }
    ddl_trigger::install(&env.client, "test")
        .await
        .expect("install");
    let mut config = env.config();
    config.replication.enabled = true;
    config.poll.interval = Duration::from_secs(3600);
    config.replication.safety_poll_interval = Duration::from_secs(3600);

    // DDL keeps coming, one table every 10 ms, while the capture creates its slot and starts.
    let writer = env.cluster.client(&env.db).await;
    let ddl = tokio::spawn(async move {
        for i in 0..150 {
            writer
                .batch_execute(&format!("CREATE TABLE g{i} (id int)"))
                .await
                .expect("ddl");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (trigger, task) = start_replication(&config).await;
    ddl.await.expect("writer");

    let records = wait_for(&env, "all 150 tables", |r| {
        (0..150).all(|i| !events_for(r, &format!(".public.g{i}")).is_empty())
    })
    .await;
    for i in 0..150 {
        let events = events_for(&records, &format!(".public.g{i}"));
        assert_eq!(events.len(), 1, "g{i} emitted once");
        assert_eq!(events[0].entity_version, 1);
    }
    trigger.trigger();
    assert!(task.await.expect("task").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_holding_too_much_wal_stops_with_a_clear_error() {
    let env = TestEnv::new("repl_wal").await;
    if skip_before_14(&env, "slot_holding_too_much_wal_stops_with_a_clear_error") {
        return;
    }
    ddl_trigger::install(&env.client, "test")
        .await
        .expect("install");
    let mut broker = pgmeta::testkit::Broker::start_on(pgmeta::testkit::free_port(), false);
    let mut config = env.config();
    config.kafka.brokers = broker.bootstrap();
    config.kafka.delivery_timeout = Duration::from_secs(1);
    config.replication.enabled = true;
    config.replication.max_retained_wal_bytes = 1;
    config.poll.interval = Duration::from_secs(3600);
    let slot = config.replication.slot_name(&config.service_name, &env.db);
    let (_trigger, task) = start_replication(&config).await;
    wait_on(
        &broker.bootstrap(),
        &env.topic,
        "the initial snapshot",
        |r| !r.is_empty(),
    )
    .await;
    broker.stop();
    env.sql("CREATE TABLE stuck (id int)").await;
    let result = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("stops within 60 s")
        .expect("task");
    let err = result.expect_err("must stop");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("slot {slot} retains")) && msg.contains("max_retained_wal_bytes = 1"),
        "{msg}"
    );
    assert!(msg.contains("pgmeta-capture uninstall"), "{msg}");
}

/// Which commands produce a DDL message, measured with a `test_decoding` probe slot. The
/// README's list of what only the safety-net poll catches comes from here.
#[tokio::test]
async fn what_the_trigger_sees() {
    let env = TestEnv::new("repl_sees").await;
    ddl_trigger::install(&env.client, "test")
        .await
        .expect("install");
    let role = format!("{}_r", env.db);
    env.sql(&format!("CREATE ROLE {role}")).await;
    let probe = format!("probe_{}", env.db);
    env.client
        .execute(
            "SELECT pg_create_logical_replication_slot($1, 'test_decoding')",
            &[&probe],
        )
        .await
        .expect("probe slot");
    let db = &env.db;
    let cases: Vec<(String, bool)> = vec![
        ("CREATE TABLE t (id int)".into(), true),
        ("ALTER TABLE t ADD COLUMN x int".into(), true),
        ("ALTER TABLE t RENAME COLUMN x TO y".into(), true),
        ("COMMENT ON TABLE t IS 'c'".into(), true),
        ("COMMENT ON COLUMN t.y IS 'c'".into(), true),
        (format!("ALTER TABLE t OWNER TO {role}"), true),
        (format!("GRANT SELECT ON t TO {role}"), true),
        ("CREATE VIEW v AS SELECT id FROM t".into(), true),
        ("DROP VIEW v".into(), true),
        (
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'".into(),
            true,
        ),
        ("CREATE SCHEMA s".into(), true),
        ("CREATE TYPE mood AS ENUM ('a')".into(), true),
        ("ALTER TYPE mood ADD VALUE 'b'".into(), true),
        // Global objects: no event trigger fires for them.
        (format!("ALTER ROLE {role} RENAME TO {role}_2"), false),
        (format!("COMMENT ON DATABASE {db} IS 'c'"), false),
        (format!("CREATE ROLE {role}_3"), false),
        ("ANALYZE t".into(), false),
    ];
    for (sql, expected) in cases {
        env.sql(&sql).await;
        let messages: i64 = env
            .client
            .query_one(
                "SELECT count(*) FROM pg_logical_slot_get_changes($1, NULL, NULL) WHERE data LIKE '%prefix: pgmeta,%'",
                &[&probe],
            )
            .await
            .expect("probe")
            .get(0);
        assert_eq!(messages > 0, expected, "{sql}: {messages} messages");
    }
    env.client
        .execute("SELECT pg_drop_replication_slot($1)", &[&probe])
        .await
        .expect("drop probe");
}

/// GET `path` from `addr`: a plain HTTP/1.1 request, as Prometheus makes it.
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
}

fn metric(body: &str, name: &str) -> Option<f64> {
    pgmeta::testkit::scrape::samples(body, name).next()
}

#[tokio::test]
async fn metrics_show_events_and_slot_position() {
    let env = TestEnv::new("repl_metrics").await;
    if skip_before_14(&env, "metrics_show_events_and_slot_position") {
        return;
    }
    env.sql("CREATE TABLE base (id int)").await;
    ddl_trigger::install(&env.client, "test")
        .await
        .expect("install");
    let out = env.state.path().join("events.jsonl");
    let addr = format!("127.0.0.1:{}", pgmeta::testkit::free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pgmeta-capture"))
        .arg("--url")
        .arg(env.cluster.url(&env.db))
        .args([
            "--service-name",
            "svc",
            "--output",
            "jsonl",
            "--output-path",
        ])
        .arg(&out)
        .arg("--state-dir")
        .arg(env.state.path())
        .args([
            "--metrics-listen",
            &addr,
            "run",
            "--replication",
            "--poll-interval",
            "1h",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let fresh = format!("svc.{}.public.fresh", env.db);
    wait_until("the initial snapshot", || jsonl_fqns(&out).len() >= 3).await;
    assert_eq!(http_get(&addr, "/healthz").as_deref(), Some("ok\n"));
    env.sql("CREATE TABLE fresh (id int)").await;
    wait_until("CREATE fresh", || jsonl_fqns(&out).contains(&fresh)).await;
    // The gauges refresh every 2 s; wait for a confirmed position past zero. The poll counter
    // moves after the event is written and the state saved, so it is waited for too.
    wait_until("slot gauges", || {
        http_get(&addr, "/metrics").is_some_and(|b| {
            metric(&b, "pgmeta_capture_replication_confirmed_lsn").is_some_and(|v| v > 0.0)
                && metric(&b, "pgmeta_capture_polls_total{outcome=\"changed\"}")
                    .is_some_and(|v| v >= 2.0)
        })
    })
    .await;
    let body = http_get(&addr, "/metrics").expect("metrics");
    assert_eq!(
        metric(
            &body,
            "pgmeta_capture_events_total{entity_type=\"table\",op=\"create\"}"
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        metric(
            &body,
            "pgmeta_capture_events_total{entity_type=\"table\",op=\"snapshot\"}"
        ),
        Some(1.0),
        "{body}"
    );
    assert!(
        metric(&body, "pgmeta_capture_polls_total{outcome=\"changed\"}").is_some_and(|v| v >= 2.0),
        "{body}"
    );
    assert!(
        metric(&body, "pgmeta_capture_replication_slot_lag_bytes").is_some_and(|v| v >= 0.0),
        "{body}"
    );
    assert_eq!(
        metric(&body, "pgmeta_capture_replication_slot_lag_seconds"),
        Some(0.0),
        "nothing unacknowledged: {body}"
    );
    assert!(
        !body.contains(&env.db),
        "no database or table names in labels"
    );

    // A materialized view refreshed every 50 ms: no catalog read for any REFRESH (the
    // read counters do not move), each counted as skipped; a CREATE after them is read.
    env.sql("CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM base")
        .await;
    let totals = format!("svc.{}.public.totals", env.db);
    wait_until("CREATE totals", || jsonl_fqns(&out).contains(&totals)).await;
    let reads = |b: &str| {
        ["changed", "unchanged", "error"]
            .iter()
            .map(|o| {
                metric(b, &format!("pgmeta_capture_polls_total{{outcome=\"{o}\"}}")).unwrap_or(0.0)
            })
            .sum::<f64>()
    };
    wait_until("the poll counter after CREATE totals", || {
        http_get(&addr, "/metrics").is_some_and(|b| reads(&b) >= 3.0)
    })
    .await;
    let before = reads(&http_get(&addr, "/metrics").expect("metrics"));
    for _ in 0..20 {
        env.sql("REFRESH MATERIALIZED VIEW totals").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.sql("CREATE TABLE after_refreshes (id int)").await;
    let after_refreshes = format!("svc.{}.public.after_refreshes", env.db);
    wait_until("CREATE after_refreshes", || {
        jsonl_fqns(&out).contains(&after_refreshes)
    })
    .await;
    wait_until("the poll counter after CREATE after_refreshes", || {
        http_get(&addr, "/metrics").is_some_and(|b| reads(&b) > before)
    })
    .await;
    let body = http_get(&addr, "/metrics").expect("metrics");
    assert_eq!(
        reads(&body),
        before + 1.0,
        "one catalog read for the CREATE, none for 20 REFRESHes: {body}"
    );
    assert_eq!(
        metric(&body, "pgmeta_capture_ddl_commands_skipped_total"),
        Some(20.0),
        "{body}"
    );
    // Every DDL was read targeted: the start's read is the only full one.
    assert_eq!(
        metric(&body, "pgmeta_capture_catalog_reads_total{scope=\"full\"}"),
        Some(1.0),
        "{body}"
    );
    assert!(
        metric(
            &body,
            "pgmeta_capture_catalog_reads_total{scope=\"targeted\"}"
        )
        .is_some_and(|v| v >= 2.0),
        "{body}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait_with_output().expect("wait").status.success());
}

/// pgmeta-capture with replication on the test's database as a process, writing jsonl to
/// `out`, with `extra` appended to its `[replication]` section.
fn replicating_service(
    env: &TestEnv,
    dir: &std::path::Path,
    out: &std::path::Path,
    extra: &str,
) -> pgmeta::testkit::Service {
    let config = dir.join("capture.toml");
    std::fs::write(&config, format!("[replication]\nenabled = true\n{extra}\n")).expect("config");
    let args: Vec<String> = vec![
        "--config".into(),
        config.display().to_string(),
        "--url".into(),
        env.cluster.url(&env.db),
        "--service-name".into(),
        "svc".into(),
        "--output".into(),
        "jsonl".into(),
        "--output-path".into(),
        out.display().to_string(),
        "--state-dir".into(),
        dir.join("state").display().to_string(),
        "run".into(),
        "--poll-interval".into(),
        "1h".into(),
    ];
    pgmeta::testkit::Service::start("pgmeta-capture", &args, &[])
}

/// A rolling restart: the next instance finds the slot held by the previous one, waits for it
/// (no crash loop, nothing emitted meanwhile) and takes it over once the previous one is gone;
/// with `slot_takeover_after` it ends the holder itself.
#[tokio::test]
async fn a_second_instance_waits_for_the_slot_and_takes_it_over() {
    let Some((env, base)) = env_with_trigger(
        "repl_takeover",
        "a_second_instance_waits_for_the_slot_and_takes_it_over",
    )
    .await
    else {
        return;
    };
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (out_a, out_b) = (dir_a.path().join("a.jsonl"), dir_b.path().join("b.jsonl"));
    let mut first = replicating_service(&env, dir_a.path(), &out_a, "");
    wait_until("the first instance's snapshot", || {
        jsonl_fqns(&out_a).contains(&base)
    })
    .await;
    first
        .wait_for_log("replication stream started", Duration::from_secs(30))
        .await;

    let mut second = replicating_service(&env, dir_b.path(), &out_b, "");
    second
        .wait_for_log(
            "replication slot is held by another session",
            Duration::from_secs(30),
        )
        .await;
    env.sql("CREATE TABLE while_held (id int)").await;
    let while_held = format!("svc.{}.public.while_held", env.db);
    wait_until("the holder's event", || {
        jsonl_fqns(&out_a).contains(&while_held)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        second
            .pid()
            .is_some_and(|_| second.log().contains("waiting for it"))
    );
    assert!(
        jsonl_fqns(&out_b).is_empty(),
        "the waiting instance emitted: {}",
        second.log()
    );
    assert!(!second.log().contains("ERROR"), "{}", second.log());

    // The holder dies; the waiting instance takes the slot and streams.
    first.kill();
    second
        .wait_for_log(
            "replication slot released; taking it over",
            Duration::from_secs(30),
        )
        .await;
    second
        .wait_for_log("replication stream started", Duration::from_secs(30))
        .await;
    env.sql("CREATE TABLE after_takeover (id int)").await;
    let after = format!("svc.{}.public.after_takeover", env.db);
    wait_until("a DDL through the new holder", || {
        jsonl_fqns(&out_b).contains(&after)
    })
    .await;

    // A third instance told to take over ends the holder after a second.
    let dir_c = tempfile::tempdir().expect("dir");
    let out_c = dir_c.path().join("c.jsonl");
    let third = replicating_service(&env, dir_c.path(), &out_c, "slot_takeover_after = \"1s\"");
    third
        .wait_for_log(
            "ended the session holding the replication slot",
            Duration::from_secs(30),
        )
        .await;
    third
        .wait_for_log("replication stream started", Duration::from_secs(30))
        .await;
    env.sql("CREATE TABLE after_forced (id int)").await;
    let forced = format!("svc.{}.public.after_forced", env.db);
    wait_until("a DDL through the third holder", || {
        jsonl_fqns(&out_c).contains(&forced)
    })
    .await;
    second.kill();
}
