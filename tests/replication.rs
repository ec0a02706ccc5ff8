//! DDL capture through the logical replication slot: the event trigger's messages arrive
//! between BEGIN and COMMIT, a rolled-back DDL leaves none, a multi-statement transaction
//! yields one consistent set of events, and the slot's position follows acknowledged events.

use crate::common::{Record, TestEnv, capture_with};
use pgmeta::event::{CaptureMode, MetadataEvent};
use pgmeta::pg::ddl_trigger;
use std::time::{Duration, Instant};

/// Reads the topic until `done` holds (30 s at most).
async fn wait_for(env: &TestEnv, what: &str, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (brokers, topic) = (env.brokers.clone(), env.topic.clone());
        let records =
            tokio::task::spawn_blocking(move || crate::common::read_topic(&brokers, &topic))
                .await
                .expect("reader");
        if done(&records) {
            return records;
        }
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let capture = capture_with(&config).await;
    let (trigger, shutdown) = pgmeta::shutdown::channel();
    let replication = config.replication.clone();
    let task = tokio::spawn(async move { capture.run_replication(&replication, shutdown).await });

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
    assert!(
        stderr.contains("run `pgmeta-capture install` as a superuser"),
        "{stderr}"
    );
}
