//! A capture that starts again reads the catalog only when it may differ from what the state
//! holds: on the fingerprint the state was kept with, under the same configuration, a start
//! reads nothing and sends nothing. After DDL while it was down it reads the catalog and sends
//! exactly what a capture that never stopped sends; with the state's lineage part lost, under
//! other filters and with `--full` it reads the catalog too.

use crate::common::TestEnv;
use crate::common::jsonl::{assert_same_records, records};
use pgmeta::capture::Capture;
use pgmeta::config::CaptureConfig;
use pgmeta::sink::JsonlSink;
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
CREATE SCHEMA shop;
CREATE TABLE shop.customer (id int PRIMARY KEY, name text);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int REFERENCES shop.customer (id));
CREATE VIEW shop.big_customers AS SELECT c.name FROM shop.customer c JOIN shop.orders o ON o.customer_id = c.id;
CREATE FUNCTION shop.archive() RETURNS void LANGUAGE sql AS $$ INSERT INTO shop.customer (id) SELECT customer_id FROM shop.orders $$;
COMMENT ON TABLE shop.orders IS 'what was ordered';
";

/// A capture writing to `out`, on the state directory `state`, `full` or not.
fn capture(config: &CaptureConfig, state: &Path, out: &Path, full: bool) -> Capture<JsonlSink> {
    let mut config = config.clone();
    config.state.dir = state.to_path_buf();
    let target = pgmeta::pg::PgTarget::resolve(&config.source, &|_| None).expect("target");
    Capture::new(
        &config,
        target,
        JsonlSink::new(Some(out.to_path_buf())),
        full,
    )
    .expect("capture")
}

/// One poll of `capture`: its report's `unchanged`, and the records it wrote to `out`.
async fn poll(
    capture: &mut Capture<JsonlSink>,
    out: &PathBuf,
    step: &str,
) -> (bool, Vec<serde_json::Value>) {
    let before = records(out, 0).len();
    let cycle = capture.poll_once().await;
    assert!(cycle.errors.is_empty(), "{step}: {:?}", cycle.errors);
    (cycle.reports[0].unchanged, records(out, before))
}

#[tokio::test]
async fn a_start_reads_the_catalog_only_when_it_or_the_configuration_changed() {
    let env = TestEnv::new("restart_kept").await;
    env.sql(SCHEMA).await;
    let config = env.config();
    let dir = env.state.path();
    let (running_out, out) = (dir.join("running.jsonl"), dir.join("restarted.jsonl"));
    let state = dir.join("restarted");
    let mut running = capture(&config, &dir.join("running"), &running_out, false);
    let start = |config: &CaptureConfig, full: bool| capture(config, &state, &out, full);

    let (_, first) = poll(&mut running, &running_out, "first snapshot").await;
    let (unchanged, sent) = poll(&mut start(&config, false), &out, "first start").await;
    assert!(
        !unchanged && !sent.is_empty(),
        "the first start read nothing"
    );
    assert_same_records("first start", &first, &sent);

    // Started again on the same catalog: nothing read, nothing sent.
    let (unchanged, sent) = poll(&mut start(&config, false), &out, "second start").await;
    assert!(unchanged, "the catalog was read again");
    assert!(sent.is_empty(), "sent again: {sent:#?}");

    // DDL while the capture was down: read, and what the running capture sent.
    env.sql(
        "ALTER TABLE shop.customer ADD COLUMN email text;
         ALTER TABLE shop.orders RENAME TO purchases;
         COMMENT ON COLUMN shop.customer.name IS 'as printed';",
    )
    .await;
    let (_, changes) = poll(&mut running, &running_out, "DDL, running").await;
    assert!(!changes.is_empty(), "the running capture saw no DDL");
    let (unchanged, sent) = poll(&mut start(&config, false), &out, "after DDL").await;
    assert!(!unchanged, "DDL while down was not read");
    assert_same_records("after DDL", &changes, &sent);
    let (unchanged, sent) = poll(&mut start(&config, false), &out, "after DDL, again").await;
    assert!(
        unchanged && sent.is_empty(),
        "read again after DDL: {sent:#?}"
    );

    // The state's lineage part lost: the catalog is read, and its lineage sent again.
    let lineage_part = std::fs::read_dir(&state)
        .expect("state dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".lineage-catalog.json"))
        .expect("the catalog's lineage part");
    std::fs::remove_file(&lineage_part).expect("remove the lineage part");
    let (unchanged, sent) = poll(&mut start(&config, false), &out, "lineage lost").await;
    assert!(!unchanged, "the catalog was not read with its lineage lost");
    assert!(
        sent.iter().any(|r| r.to_string().contains("big_customers")),
        "the view's lineage was not sent again: {sent:#?}"
    );

    // Other filters: the state was made under others, so the catalog is read (and the table
    // now filtered out is deleted); the same filters again, and nothing is read.
    let mut filtered = config.clone();
    filtered.filters.table.exclude = vec!["purchases".into()];
    let (unchanged, sent) = poll(&mut start(&filtered, false), &out, "filters").await;
    assert!(!unchanged, "the catalog was not read under other filters");
    assert!(
        sent.iter().any(|r| r.to_string().contains("purchases")),
        "the table filtered out was not deleted: {sent:#?}"
    );
    let (unchanged, _) = poll(&mut start(&filtered, false), &out, "filters, again").await;
    assert!(unchanged, "read again under the same filters");

    // `--full` sends everything again, whatever was kept.
    let (unchanged, sent) = poll(&mut start(&filtered, true), &out, "--full").await;
    assert!(!unchanged && !sent.is_empty(), "--full sent nothing");
}
