//! Filters and toggles as OpenMetadata users know them, `ingest_all_databases`, and the rule
//! that a filter change never deletes.

use crate::common::TestEnv;
use pgmeta::capture::Capture;
use pgmeta::config::{CaptureConfig, Patterns};
use pgmeta::pg::PgTarget;
use pgmeta::sink::JsonlSink;
use pgmeta::testkit::unique_name;

fn patterns(include: &[&str], exclude: &[&str]) -> Patterns {
    Patterns {
        include: include.iter().map(|s| s.to_string()).collect(),
        exclude: exclude.iter().map(|s| s.to_string()).collect(),
    }
}

/// Runs one poll with `config` into a jsonl file and returns `(op, fqn)` of what it wrote.
async fn poll(config: &CaptureConfig, out: &std::path::Path) -> Vec<(String, String)> {
    let before = std::fs::read_to_string(out)
        .map(|s| s.lines().count())
        .unwrap_or(0);
    let target = PgTarget::resolve(&config.source, &|_| None).expect("target");
    let mut capture =
        Capture::new(config, target, JsonlSink::new(Some(out.to_owned())), false).expect("capture");
    let cycle = capture.poll_once().await;
    assert!(cycle.errors.is_empty(), "{}", cycle.errors[0].1);
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .skip(before)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        // Metadata records only (lineage events and their tombstones have other keys).
        .filter(|v| v.get("fqn").is_some() || v.get("tombstone").is_some())
        .map(|v| match v["fqn"].as_str() {
            Some(fqn) => (
                v["op"].as_str().unwrap_or_default().to_owned(),
                fqn.to_owned(),
            ),
            None => (
                "TOMBSTONE".into(),
                v["tombstone"].as_str().unwrap_or_default().to_owned(),
            ),
        })
        .collect()
}

fn fqns(events: &[(String, String)]) -> Vec<String> {
    let mut v: Vec<String> = events.iter().map(|(_, f)| f.clone()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn filters_toggles_and_filter_changes() {
    let env = TestEnv::new("filters").await;
    env.sql(
        "CREATE SCHEMA keep; CREATE SCHEMA skip_me;
         CREATE TABLE keep.a (id int); CREATE TABLE keep.b_tmp (id int); CREATE TABLE skip_me.x (id int);
         CREATE VIEW keep.v AS SELECT * FROM keep.a;
         CREATE FUNCTION keep.f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
    )
    .await;
    let db = env.db.clone();
    let f = |rest: &str| format!("svc.{db}{rest}");
    let dir = tempfile::tempdir().expect("dir");
    let base = |name: &str| {
        let mut c = env.config();
        c.state.dir = dir.path().join(name);
        c.filters.schema = patterns(&[], &["skip", "public"]);
        c
    };

    // Excludes by name (case-insensitive, anchored at the start, like OpenMetadata's patterns).
    let mut c = base("names");
    c.filters.table = patterns(&[], &[".*_TMP$"]);
    let out = dir.path().join("names.jsonl");
    assert_eq!(
        fqns(&poll(&c, &out).await),
        vec![
            f(""),
            f(".keep"),
            f(".keep.a"),
            f(".keep.f()"),
            f(".keep.v")
        ]
    );

    // A filter change that hides keep.a deletes nothing; the table is remembered, not forgotten.
    c.filters.table = patterns(&[], &[".*_tmp$", "a$"]);
    assert_eq!(poll(&c, &out).await, vec![]);
    // Back in scope and changed while hidden: an UPDATE, not a CREATE.
    env.sql("COMMENT ON TABLE keep.a IS 'back'").await;
    c.filters.table = patterns(&[], &[".*_tmp$"]);
    assert_eq!(
        poll(&c, &out).await,
        vec![("UPDATE".to_string(), f(".keep.a"))]
    );

    // Toggles.
    let mut c = base("toggles");
    c.filters.include_views = false;
    c.filters.include_stored_procedures = false;
    c.filters.include_ddl = false;
    let out = dir.path().join("toggles.jsonl");
    assert_eq!(
        fqns(&poll(&c, &out).await),
        vec![f(""), f(".keep"), f(".keep.a"), f(".keep.b_tmp")]
    );
    let text = std::fs::read_to_string(&out).expect("read");
    assert!(
        text.lines()
            .filter(|l| l.contains("\"table\":{"))
            .all(|l| l.contains("\"ddl\":null"))
    );
    let mut c = base("no_tables");
    c.filters.include_tables = false;
    let out = dir.path().join("no_tables.jsonl");
    assert_eq!(
        fqns(&poll(&c, &out).await),
        vec![f(""), f(".keep"), f(".keep.f()"), f(".keep.v")]
    );

    // use_fqn_for_filtering matches service.database.schema.table.
    let mut c = base("fqn");
    c.filters.use_fqn_for_filtering = true;
    c.filters.schema = patterns(&[], &[&format!(r"svc\.{db}\.(skip|public)")]);
    c.filters.table = patterns(&[&format!(r"svc\.{db}\.keep\.a$")], &[]);
    let out = dir.path().join("fqn.jsonl");
    assert_eq!(
        fqns(&poll(&c, &out).await),
        vec![f(""), f(".keep"), f(".keep.a"), f(".keep.f()")]
    );

    // mark_deleted_tables = false: a dropped table is forgotten without a DELETE.
    let mut c = base("unmarked");
    c.filters.mark_deleted_tables = false;
    let out = dir.path().join("unmarked.jsonl");
    poll(&c, &out).await;
    env.sql("DROP TABLE keep.b_tmp").await;
    assert_eq!(poll(&c, &out).await, vec![]);
    // while the default deletes it (the "names" state never had it; "toggles" did).
    let mut c = base("toggles");
    c.filters.include_views = false;
    c.filters.include_stored_procedures = false;
    c.filters.include_ddl = false;
    let got = poll(&c, &dir.path().join("toggles.jsonl")).await;
    assert_eq!(
        got,
        vec![
            ("DELETE".to_string(), f(".keep.b_tmp")),
            ("TOMBSTONE".to_string(), f(".keep.b_tmp"))
        ]
    );
}

#[tokio::test]
async fn ingest_all_databases_captures_each_database_in_scope() {
    let env = TestEnv::new("alldb").await;
    let prefix = unique_name("multi");
    let (one, two) = (format!("{prefix}_one"), format!("{prefix}_two ü"));
    env.cluster
        .create_database(&one)
        .await
        .batch_execute("CREATE TABLE t1 (id int)")
        .await
        .expect("t1");
    env.cluster
        .create_database(&two)
        .await
        .batch_execute("CREATE TABLE t2 (id int)")
        .await
        .expect("t2");
    let mut c = env.config();
    c.source.ingest_all_databases = true;
    c.filters.database = patterns(&[&prefix], &[]);
    let out = env.state.path().join("all.jsonl");
    let got = fqns(&poll(&c, &out).await);
    assert_eq!(
        got,
        vec![
            format!("svc.{one}"),
            format!("svc.{one}.public"),
            format!("svc.{one}.public.t1"),
            format!("svc.{two}"),
            format!("svc.{two}.public"),
            format!("svc.{two}.public.t2"),
        ]
    );
    // Each database keeps its own state: a second pass emits nothing.
    assert_eq!(poll(&c, &out).await, vec![]);
}
