//! Issue 16: the full read of a catalog with more relations than `source.read_part_relations`
//! reads, diffs, sends and saves them a part at a time, so its memory follows the part. Here
//! parts of three relations on the torture schema (with chains of FKs across parts, views
//! and routines reading relations of other parts) send exactly what the whole read sends:
//! the first snapshot, then the changes of DDL that drops, renames, moves and creates across
//! parts; a schema comes before its tables and a parent before its partitions; and nothing
//! is left for another read. A shutdown between two parts stops the read there, and the next
//! start sends the rest: nothing twice, nothing missed.

use crate::common::TestEnv;
use crate::common::jsonl::{assert_same_records, records};
use pgmeta::capture::Capture;
use pgmeta::event::Outbound;
use pgmeta::shutdown::ShutdownTrigger;
use pgmeta::sink::{JsonlSink, Sink, SinkError};
use std::path::PathBuf;

const EXTRA: &str = "
CREATE SCHEMA chain;
CREATE TABLE chain.a (id int PRIMARY KEY);
CREATE TABLE chain.b (id int PRIMARY KEY, a_id int REFERENCES chain.a (id));
CREATE TABLE chain.c (id int PRIMARY KEY, b_id int REFERENCES chain.b (id));
CREATE TABLE chain.d (id int PRIMARY KEY, c_id int REFERENCES chain.c (id));
CREATE TABLE chain.e (id int PRIMARY KEY, d_id int REFERENCES chain.d (id));
CREATE VIEW chain.v AS SELECT c.id, b.a_id FROM chain.c JOIN chain.b ON b.id = c.b_id;
CREATE VIEW chain.vv AS SELECT v.id, e.d_id FROM chain.v JOIN chain.e ON e.id = v.id;
CREATE FUNCTION chain.copy() RETURNS void LANGUAGE sql AS $$ INSERT INTO chain.a (id) SELECT id FROM chain.e $$;
";

const CHANGES: &str = "
ALTER TABLE chain.c ADD COLUMN note text;
ALTER TABLE chain.b RENAME TO b2;
ALTER TABLE chain.a RENAME COLUMN id TO a_key;
DROP VIEW chain.vv;
DROP TABLE chain.e;
CREATE SCHEMA later;
CREATE TABLE later.t (id int PRIMARY KEY, a_key int REFERENCES chain.a (a_key));
ALTER TABLE chain.d SET SCHEMA later;
COMMENT ON SCHEMA chain IS 'the chain';
CREATE OR REPLACE FUNCTION chain.copy() RETURNS void LANGUAGE sql AS $$ INSERT INTO chain.a (a_key) SELECT id FROM later.d $$;
";

/// A capture of `env`'s database writing its events to a file of its own, with a state of
/// its own, reading `part_relations` relations at a time.
fn jsonl_capture(
    env: &TestEnv,
    name: &str,
    part_relations: usize,
) -> (Capture<JsonlSink>, PathBuf) {
    let out = env.state.path().join(format!("{name}.jsonl"));
    (
        capture_into(env, name, part_relations, JsonlSink::new(Some(out.clone()))),
        out,
    )
}

fn capture_into<S: Sink>(env: &TestEnv, name: &str, part_relations: usize, sink: S) -> Capture<S> {
    let mut config = env.config();
    config.state.dir = env.state.path().join(name);
    std::fs::create_dir_all(&config.state.dir).expect("state dir");
    config.source.read_part_relations = part_relations;
    let target = pgmeta::pg::PgTarget::resolve(&config.source, &|_| None).expect("target");
    Capture::new(&config, target, sink, false).expect("capture")
}

/// Writes to a JSON lines file, and triggers the shutdown once it wrote `sends` batches: a
/// SIGTERM arriving while a given part is sent.
struct ShutdownAfter {
    file: JsonlSink,
    sends: usize,
    trigger: ShutdownTrigger,
}

impl Sink for ShutdownAfter {
    async fn send(&mut self, batch: &[Outbound]) -> Result<(), SinkError> {
        self.file.send(batch).await?;
        self.sends = self.sends.saturating_sub(1);
        if self.sends == 0 {
            self.trigger.trigger();
        }
        Ok(())
    }
}

/// One poll of each capture: the parted one read in parts, and both sent the same records.
async fn poll_both(
    whole: &mut (Capture<JsonlSink>, PathBuf),
    parted: &mut (Capture<JsonlSink>, PathBuf),
    seen: &mut (usize, usize),
    step: &str,
) -> Vec<serde_json::Value> {
    let w = whole.0.poll_once().await;
    assert!(w.errors.is_empty(), "{step}, whole: {:?}", w.errors);
    assert_eq!(w.reports[0].parts, 0, "{step}: the whole read read parts");
    let p = parted.0.poll_once().await;
    assert!(p.errors.is_empty(), "{step}, in parts: {:?}", p.errors);
    assert!(
        p.reports[0].parts > 2,
        "{step}: not read in parts: {:?}",
        p.reports[0]
    );
    let (w_records, p_records) = (records(&whole.1, seen.0), records(&parted.1, seen.1));
    *seen = (seen.0 + w_records.len(), seen.1 + p_records.len());
    assert!(!w_records.is_empty(), "{step}: nothing sent");
    assert_same_records(step, &w_records, &p_records);
    p_records
}

#[tokio::test]
async fn a_full_read_in_parts_sends_what_the_whole_read_sends() {
    let env = TestEnv::new("parts").await;
    env.sql(&crate::torture::torture_sql(env.cluster.major_version()))
        .await;
    env.sql(EXTRA).await;
    let mut whole = jsonl_capture(&env, "whole", usize::MAX);
    let mut parted = jsonl_capture(&env, "parted", 3);
    let mut seen = (0, 0);

    let first = poll_both(&mut whole, &mut parted, &mut seen, "first snapshot").await;
    // A consumer creating in order finds the schema of each table, and the parent of each
    // partition, already sent.
    for (i, r) in first.iter().enumerate() {
        let Some(table) = r.get("table").filter(|t| !t.is_null()) else {
            continue;
        };
        let fqn = &r["fqn"];
        let schema_at = first
            .iter()
            .position(|s| s["database_schema"]["name"] == table["schema"]);
        assert!(
            schema_at.is_some_and(|s| s < i),
            "{fqn} sent before its schema"
        );
        let parent = &table["partition_of"];
        if !parent.is_null() {
            let parent_at = first.iter().position(|p| {
                p["table"]["schema"] == parent["parent_schema"]
                    && p["table"]["name"] == parent["parent_table"]
            });
            assert!(
                parent_at.is_some_and(|p| p < i),
                "partition {fqn} sent before its parent {parent}"
            );
        }
    }

    env.sql(CHANGES).await;
    poll_both(&mut whole, &mut parted, &mut seen, "after DDL across parts").await;

    // Nothing left for another read: the read in parts kept its signature, which the next
    // poll finds unchanged without reading.
    let again = parted.0.poll_once().await;
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert!(
        again.reports[0].unchanged,
        "the poll after a read in parts read the catalog again: {:?}",
        again.reports[0]
    );
}

#[tokio::test]
async fn a_shutdown_between_two_parts_stops_the_read_and_the_next_start_sends_the_rest() {
    let env = TestEnv::new("parts_stop").await;
    env.sql(&crate::torture::torture_sql(env.cluster.major_version()))
        .await;
    env.sql(EXTRA).await;
    let mut whole = jsonl_capture(&env, "whole", usize::MAX);
    let w = whole.0.poll_once().await;
    assert!(w.errors.is_empty(), "whole: {:?}", w.errors);

    // The shutdown comes while the first part is sent (the rest of the catalog was the first
    // batch): that part is finished and saved, the read stops before the second.
    let out = env.state.path().join("parted.jsonl");
    let (trigger, shutdown) = pgmeta::shutdown::channel();
    let sink = ShutdownAfter {
        file: JsonlSink::new(Some(out.clone())),
        sends: 2,
        trigger,
    };
    let mut stopped = capture_into(&env, "parted", 3, sink).with_shutdown(shutdown);
    let cycle = stopped.poll_once().await;
    assert!(cycle.errors.is_empty(), "stopped: {:?}", cycle.errors);
    let report = &cycle.reports[0];
    assert!(
        report.stopped && report.parts == 1,
        "not stopped after the first part: {report:?}"
    );
    let sent_before = records(&out, 0).len();
    drop(stopped);

    let mut resumed = jsonl_capture(&env, "parted", 3);
    let cycle = resumed.0.poll_once().await;
    assert!(cycle.errors.is_empty(), "resumed: {:?}", cycle.errors);
    assert!(
        !cycle.reports[0].stopped && cycle.reports[0].parts > 1,
        "the resumed read: {:?}",
        cycle.reports[0]
    );
    assert!(
        records(&out, sent_before).len() < records(&whole.1, 0).len(),
        "the resumed read sent everything again"
    );
    assert_same_records(
        "stopped and resumed",
        &records(&whole.1, 0),
        &records(&out, 0),
    );
}
