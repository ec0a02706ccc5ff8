//! Fault injection at the risky spots. Failpoints are process-global, so these tests live in
//! their own test binary and run one at a time (the `fail` crate's scenario lock).

#![cfg(feature = "failpoints")]

use pgmeta::capture::Capture;
use pgmeta::config::CaptureConfig;
use pgmeta::pg::PgTarget;
use pgmeta::sink::JsonlSink;
use pgmeta::testkit::{PgCluster, unique_name};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn config(
    cluster: &PgCluster,
    db: &str,
    state: &std::path::Path,
    out: &std::path::Path,
) -> CaptureConfig {
    let mut c = CaptureConfig {
        service_name: "svc".into(),
        source: cluster.source(db),
        ..CaptureConfig::default()
    };
    c.state.dir = state.to_owned();
    c.output.path = Some(out.to_owned());
    c
}

/// A database of its own with `sql` run in it, and a capture configuration that writes the
/// events to a file (`events(&fixture.out)`).
struct Fixture {
    db: String,
    client: tokio_postgres::Client,
    config: CaptureConfig,
    target: PgTarget,
    out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(name: &str, sql: &str) -> Fixture {
        let cluster = PgCluster::shared();
        let db = unique_name(name);
        let client = cluster.create_database(&db).await;
        client.batch_execute(sql).await.expect("fixture");
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("events.jsonl");
        let config = config(cluster, &db, &dir.path().join("state"), &out);
        let target = PgTarget::resolve(&config.source, &|_| None).expect("target");
        Fixture {
            db,
            client,
            config,
            target,
            out,
            _dir: dir,
        }
    }

    /// A capture (as after a start) on the fixture's state and output.
    fn capture(&self) -> Capture<JsonlSink> {
        Capture::new(
            &self.config,
            self.target.clone(),
            JsonlSink::new(Some(self.out.clone())),
            false,
        )
        .expect("capture")
    }
}

fn events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[tokio::test]
async fn object_dropped_mid_snapshot_is_neither_an_error_nor_half_emitted() {
    let scenario = fail::FailScenario::setup();
    let cluster = PgCluster::shared();
    let fixture = Fixture::new(
        "mid_drop",
        "CREATE TABLE keep (id int PRIMARY KEY);
         CREATE TABLE doomed (id int PRIMARY KEY, note text DEFAULT 'x' CHECK (note <> ''));
         CREATE INDEX doomed_note ON doomed (note);
         CREATE VIEW keep_v AS SELECT * FROM keep;",
    )
    .await;
    let (db, out) = (&fixture.db, &fixture.out);

    // Between the relation list and the column/constraint reads, another session drops a table:
    // the read still sees its rows (MVCC) but its definitions are gone. (A view could not be
    // dropped here: pg_get_viewdef locks the views the read has seen until it commits.)
    let fired = Arc::new(AtomicU32::new(0));
    let (f, port, dbname) = (fired.clone(), cluster.port(), db.clone());
    let psql = cluster.command("psql").get_program().to_owned();
    fail::cfg_callback("catalog-read-between-queries", move || {
        if f.fetch_add(1, Ordering::SeqCst) == 0 {
            let ok = std::process::Command::new(&psql)
                .args([
                    "-X",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-p",
                    &port.to_string(),
                    "-d",
                    &dbname,
                ])
                .args(["-c", "DROP TABLE doomed"])
                .env("PGPASSWORD", pgmeta::testkit::SUPERUSER_PASSWORD)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "drop in the failpoint");
        }
    })
    .expect("failpoint");

    let mut capture = fixture.capture();
    let cycle = capture.poll_once().await;
    fail::remove("catalog-read-between-queries");
    assert!(
        cycle.errors.is_empty(),
        "{:?}",
        cycle.errors.first().map(|e| e.1.to_string())
    );
    assert!(
        fired.load(Ordering::SeqCst) >= 2,
        "the read was retried after the concurrent drop"
    );

    let fqns: Vec<String> = events(out)
        .iter()
        .filter_map(|e| e["fqn"].as_str().map(str::to_owned))
        .collect();
    assert!(fqns.contains(&format!("svc.{db}.public.keep")), "{fqns:?}");
    assert!(
        !fqns.iter().any(|f| f.contains("doomed")),
        "the dropped objects are not emitted: {fqns:?}"
    );

    // And nothing about them later either: they were never emitted, so there is nothing to delete.
    let lines = events(out).len();
    let cycle = capture.poll_once().await;
    assert!(cycle.errors.is_empty());
    assert_eq!(events(out).len(), lines);
    scenario.teardown();
}

#[tokio::test]
async fn crash_after_send_before_checkpoint_repeats_with_the_same_event_ids() {
    let scenario = fail::FailScenario::setup();
    let f = Fixture::new("crash", "CREATE TABLE t (id int)").await;
    let out = &f.out;

    // The process "dies" right after the sink acknowledged, before the state file is written.
    fail::cfg("capture-after-send-before-checkpoint", "panic").expect("failpoint");
    let mut dying = f.capture();
    let first = tokio::spawn(async move { dying.poll_once().await }).await;
    assert!(first.is_err(), "the failpoint ended the poll");
    fail::remove("capture-after-send-before-checkpoint");
    let sent = events(out);
    assert!(!sent.is_empty());

    // On restart the same changes go out again (at least once), with the same ids.
    assert!(f.capture().poll_once().await.errors.is_empty());
    let all = events(out);
    assert_eq!(all.len(), 2 * sent.len());
    let ids = |v: &[serde_json::Value]| {
        v.iter()
            .map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&all[..sent.len()]), ids(&all[sent.len()..]));
    // And after that checkpoint, a restart repeats nothing.
    assert!(f.capture().poll_once().await.errors.is_empty());
    assert_eq!(events(out).len(), all.len());
    scenario.teardown();
}

/// Killed after the send, before the state save, and then the source drops what was sent
/// while the capture is down: the restarted capture has no state of it and the source no
/// longer has it, so only the write-ahead note of what was sent makes it retract the table and
/// the view's edge, instead of leaving them downstream for good.
#[tokio::test]
async fn sent_before_a_crash_and_dropped_while_down_is_retracted() {
    let scenario = fail::FailScenario::setup();
    let f = Fixture::new("orphan", "CREATE TABLE keep (id int)").await;
    let (db, client, out) = (&f.db, &f.client, &f.out);
    assert!(f.capture().poll_once().await.errors.is_empty());

    client
        .batch_execute("CREATE TABLE doomed (id int); CREATE VIEW doomed_v AS SELECT id FROM keep")
        .await
        .expect("create");
    fail::cfg("capture-after-send-before-checkpoint", "panic").expect("failpoint");
    let mut dying = f.capture();
    let first = tokio::spawn(async move { dying.poll_once().await }).await;
    assert!(first.is_err(), "the failpoint ended the poll");
    fail::remove("capture-after-send-before-checkpoint");
    let doomed = format!("svc.{db}.public.doomed");
    let view = format!("svc.{db}.public.doomed_v");
    let created = events(out);
    let create = created
        .iter()
        .find(|e| e["fqn"] == doomed.as_str())
        .expect("the CREATE was sent")
        .clone();
    assert!(
        created
            .iter()
            .any(|e| e["to_fqn"] == view.as_str() && e["op"] == "CREATE"),
        "the view's edge was sent"
    );

    client
        .batch_execute("DROP TABLE doomed; DROP VIEW doomed_v")
        .await
        .expect("drop while down");
    assert!(f.capture().poll_once().await.errors.is_empty());
    let after = events(out);
    let new = &after[created.len()..];
    let delete = new
        .iter()
        .find(|e| e["fqn"] == doomed.as_str() && e["op"] == "DELETE")
        .unwrap_or_else(|| panic!("no DELETE of the orphaned table: {new:?}"));
    assert_eq!(delete["object_id"], create["object_id"]);
    assert_eq!(delete["entity_version"], create["entity_version"]);
    assert!(
        new.iter()
            .any(|e| e["fqn"] == view.as_str() && e["op"] == "DELETE"),
        "the view is retracted: {new:?}"
    );
    assert!(
        new.iter()
            .any(|e| e["to_fqn"] == view.as_str() && e["op"] == "DELETE"),
        "the view's edge is retracted: {new:?}"
    );
    assert!(
        new.iter().any(|e| e["tombstone"] == doomed.as_str()),
        "the retracted name is tombstoned on the compacted topic"
    );

    // Retracted once: the note is cleared with the state, and the next run says nothing.
    client
        .batch_execute("CREATE TABLE later (id int)")
        .await
        .expect("a later change");
    assert!(f.capture().poll_once().await.errors.is_empty());
    let last = events(out);
    let fqns: Vec<&str> = last[after.len()..]
        .iter()
        .filter_map(|e| e["fqn"].as_str())
        .collect();
    assert_eq!(fqns, vec![format!("svc.{db}.public.later").as_str()]);
    scenario.teardown();
}

/// The usage poll's query edges likewise: an edge sent before a crash, whose target is dropped
/// while the capture is down, is retracted by the next usage poll.
#[tokio::test]
async fn a_query_edge_sent_before_a_crash_and_dropped_while_down_is_retracted() {
    let scenario = fail::FailScenario::setup();
    let f = Fixture::new(
        "orphan_query",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         CREATE TABLE src (id int); CREATE TABLE dst (id int);",
    )
    .await;
    let (db, client, out) = (&f.db, &f.client, &f.out);
    let mut first = f.capture();
    assert!(first.poll_once().await.errors.is_empty());
    let baseline = first.poll_usage_once().await;
    assert!(baseline.iter().all(|(_, r)| r.is_ok()), "{baseline:?}");
    client
        .batch_execute("INSERT INTO dst SELECT id FROM src")
        .await
        .expect("workload");

    fail::cfg("usage-after-send-before-checkpoint", "panic").expect("failpoint");
    let died = tokio::spawn(async move { first.poll_usage_once().await }).await;
    assert!(died.is_err(), "the failpoint ended the usage poll");
    fail::remove("usage-after-send-before-checkpoint");
    let dst = format!("svc.{db}.public.dst");
    let is_edge = |e: &serde_json::Value, op: &str| {
        e["origin"] == "QUERY" && e["to_fqn"] == dst.as_str() && e["op"] == op
    };
    let sent = events(out);
    assert!(
        sent.iter().any(|e| is_edge(e, "CREATE")),
        "the query edge was sent: {sent:?}"
    );

    client
        .batch_execute("DROP TABLE dst")
        .await
        .expect("drop while down");
    let results = f.capture().poll_usage_once().await;
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    let after = events(out);
    assert!(
        after[sent.len()..].iter().any(|e| is_edge(e, "DELETE")),
        "the orphaned query edge is retracted: {:?}",
        &after[sent.len()..]
    );
    scenario.teardown();
}

/// Against a broker with transactions, each catalog read is one Kafka transaction: a rename's
/// UPDATE and the tombstone of the old name are seen by a `read_committed` consumer together or
/// not at all. The failpoint fails the transaction after both records were written, before the
/// commit: they are in the log (a `read_uncommitted` reader sees them) but aborted; the next
/// poll writes both again and commits.
#[tokio::test]
async fn a_rename_is_seen_whole_or_not_at_all_by_read_committed_consumers() {
    use pgmeta::testkit::{Broker, BrokerKind, read_raw, read_raw_as};
    if BrokerKind::from_env() != BrokerKind::ApacheKafka {
        pgmeta::testkit::skip(
            "a_rename_is_seen_whole_or_not_at_all_by_read_committed_consumers",
            pgmeta::testkit::Missing::ServerFeature,
            "tansu has no Kafka transactions (runs against Apache Kafka)",
        );
        return;
    }
    let scenario = fail::FailScenario::setup();
    let cluster = PgCluster::shared();
    let db = unique_name("txn_rename");
    let client = cluster.create_database(&db).await;
    client
        .batch_execute("CREATE TABLE before (id int)")
        .await
        .expect("fixture");
    let state = tempfile::tempdir().expect("state");
    let mut config = CaptureConfig {
        service_name: "svc".into(),
        source: cluster.source(&db),
        ..CaptureConfig::default()
    };
    config.state.dir = state.path().to_owned();
    config.kafka.brokers = Broker::shared().bootstrap();
    config.kafka.metadata_topic = format!("{db}.metadata");
    config.kafka.usage_topic = format!("{db}.usage");
    config.kafka.lineage_topic = format!("{db}.lineage");
    config.kafka.transactions = pgmeta::config::Transactions::On;
    let topic = config.kafka.metadata_topic.clone();
    let target = PgTarget::resolve(&config.source, &|_| None).expect("target");
    let sink = pgmeta::sink::KafkaSink::connect(&config.kafka)
        .await
        .expect("transactional producer");
    let mut capture = Capture::new(&config, target, sink, false).expect("capture");
    assert!(capture.poll_once().await.errors.is_empty());
    let snapshot = read_raw(&config.kafka.brokers, &topic).len();

    client
        .batch_execute("ALTER TABLE before RENAME TO after")
        .await
        .expect("rename");
    fail::cfg("kafka-transaction-before-commit", "return").expect("failpoint");
    let cycle = capture.poll_once().await;
    assert!(!cycle.errors.is_empty(), "the transaction failed");
    let committed = read_raw(&config.kafka.brokers, &topic);
    assert_eq!(
        committed.len(),
        snapshot,
        "nothing of the aborted rename is visible"
    );
    let uncommitted = read_raw_as(&config.kafka.brokers, &topic, "read_uncommitted");
    assert!(
        uncommitted.len() >= snapshot + 2,
        "the aborted UPDATE and tombstone are in the log: {} records",
        uncommitted.len()
    );

    fail::remove("kafka-transaction-before-commit");
    assert!(capture.poll_once().await.errors.is_empty());
    let committed = read_raw(&config.kafka.brokers, &topic);
    let mut new: Vec<(String, bool)> = committed
        .iter()
        .filter(|r| !r.event_type.ends_with(".snapshot"))
        .map(|r| (r.key.clone(), r.payload.is_some()))
        .collect();
    new.sort();
    assert_eq!(
        new,
        vec![
            (format!("svc.{db}.public.after"), true),
            (format!("svc.{db}.public.before"), false)
        ],
        "the rename's UPDATE and the old name's tombstone, committed together"
    );
    scenario.teardown();
}
