//! Crash anywhere, converge: while DDL keeps changing the source, pgmeta-capture and
//! pgmeta-apply (their binaries) are killed with SIGKILL at random moments (mid-snapshot,
//! mid-send, mid-apply, mid-checkpoint), over many rounds. At the end the catalog equals the
//! source (every relation, column, constraint and view lineage edge; nothing left that the
//! source dropped or renamed) and nothing was dead-lettered.
//!
//! `PGMETA_CHAOS_ROUNDS` (default 20; `make chaos` runs 200) and `PGMETA_CHAOS_SEED`.

use crate::apply::{
    Pipeline, TOKEN, assert_structure_equals_source, assert_view_lineage_equals_source,
    bookshop_sql, relations,
};
use crate::common::Rng;
use pgmeta::testkit::{Service, read_raw};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// pgmeta-capture as a process, polling every second, on the pipeline's topics; its full
/// reads go in parts of four relations, so kills land between parts too.
fn start_capture(p: &Pipeline, dir: &std::path::Path) -> Service {
    let db = &p.env.db;
    let config = dir.join("capture.toml");
    let state = dir.join("state");
    std::fs::write(
        &config,
        format!(
            "service_name = \"svc\"\n[source]\nurl = \"{url}\"\nread_part_relations = 4\n[poll]\ninterval = \"1s\"\n[usage]\nenabled = false\n\
             [kafka]\nbrokers = \"{brokers}\"\nmetadata_topic = \"{db}.metadata\"\nusage_topic = \"{db}.usage\"\n\
             lineage_topic = \"{db}.lineage\"\npartitions = 3\nstartup_timeout = \"60s\"\n[state]\ndir = \"{state}\"\n",
            url = p.env.cluster.url(db),
            brokers = p.env.brokers,
            state = state.display(),
        ),
    )
    .expect("capture config");
    let args = vec![
        "--config".to_owned(),
        config.display().to_string(),
        "run".to_owned(),
    ];
    Service::start("pgmeta-capture", &args, &[])
}

/// Writes both processes' whole logs where they outlive the test, and says where.
fn keep_logs(seed: u64, capture: &Service, p: &Pipeline) {
    let kept = std::env::temp_dir().join(format!("pgmeta-chaos-{seed}-{}", std::process::id()));
    if std::fs::create_dir_all(&kept).is_ok() {
        let apply = p.apply.as_ref().map(Service::log).unwrap_or_default();
        let _ = std::fs::write(kept.join("apply.log"), apply);
        let _ = std::fs::write(kept.join("capture.log"), capture.log());
        eprintln!("logs kept in {}", kept.display());
    }
}

/// The chaos tables of the source, by name.
async fn chaos_tables(p: &Pipeline) -> Vec<String> {
    p.env
        .client
        .query(
            "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relname LIKE 'chaos%' ORDER BY 1",
            &[],
        )
        .await
        .expect("chaos tables")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// One random DDL statement of round `i`.
async fn change(p: &Pipeline, rng: &mut Rng, i: u64) {
    let tables = chaos_tables(p).await;
    let pick = |rng: &mut Rng| tables.get(rng.below(tables.len().max(1))).cloned();
    let sql = match (rng.below(7), pick(rng)) {
        (0, _) | (_, None) => format!("CREATE TABLE chaos_{i} (id int PRIMARY KEY, v text)"),
        (1, Some(t)) => format!("ALTER TABLE {t} ADD COLUMN c{i} int NOT NULL DEFAULT {i}"),
        (2, Some(t)) => format!("ALTER TABLE {t} RENAME TO chaos_{i}_renamed"),
        (3, Some(t)) => format!("DROP TABLE {t} CASCADE"),
        (4, Some(t)) => format!("COMMENT ON TABLE {t} IS 'round {i}'"),
        (5, Some(t)) => format!("CREATE VIEW chaos_view_{i} AS SELECT id, v FROM {t}"),
        (_, Some(t)) => format!("ALTER TABLE {t} ALTER COLUMN v SET NOT NULL"),
    };
    p.env.sql(&sql).await;
}

/// Live tables of the catalog, by FQN.
async fn catalog_tables(p: &Pipeline) -> BTreeSet<String> {
    let (_, page) = p.get("tables?limit=10000").await;
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["fullyQualifiedName"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn killed_anywhere_the_catalog_converges_to_the_source() {
    let rounds = env_number("PGMETA_CHAOS_ROUNDS", 20);
    let seed = env_number("PGMETA_CHAOS_SEED", 0xc4a05);
    let mut rng = Rng::new(seed);
    let mut p = Pipeline::new("chaos").await;
    p.env
        .sql(&bookshop_sql(p.env.cluster.major_version()))
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let mut capture = start_capture(&p, dir.path());
    capture
        .wait_for_log("catalog poll emitted changes", Duration::from_secs(60))
        .await;
    // pgmeta-apply with its production wait for a missing entity (300 s): killed over and
    // over, its metadata lane can fall far behind its lineage lane.
    let args = p.apply_args_waiting(&format!("{}-apply", p.env.db), 300);
    p.apply = Some(Service::start(
        "pgmeta-apply",
        &args,
        &[("PGMETA_APPLY_TOKEN", TOKEN)],
    ));
    let mut kills = (0, 0);
    for i in 0..rounds {
        change(&p, &mut rng, i).await;
        tokio::time::sleep(Duration::from_millis(rng.below(1500) as u64)).await;
        let victim = rng.below(4);
        if victim == 0 || victim == 2 {
            capture.kill();
            kills.0 += 1;
        }
        if victim == 1 || victim == 2 {
            if let Some(a) = p.apply.as_mut() {
                a.kill();
                kills.1 += 1;
            }
        }
        // Sometimes a change lands while a process is down.
        if rng.below(2) == 0 {
            change(&p, &mut rng, i + 10_000).await;
        }
        if !capture.is_running() {
            capture.restart();
        }
        if let Some(a) = p.apply.as_mut() {
            if !a.is_running() {
                a.restart();
            }
        }
    }
    // Converged: the catalog's live tables are exactly the source's relations.
    let want: BTreeSet<String> = relations(&p.env)
        .await
        .iter()
        .map(|(schema, name, _)| p.fqn(schema, name))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let got = catalog_tables(&p).await;
        if got == want {
            break;
        }
        if Instant::now() >= deadline {
            let records = p.env.records();
            for fqn in got.difference(&want) {
                let ops: Vec<String> = records
                    .iter()
                    .filter(|r| {
                        &r.key == fqn
                            || r.event
                                .as_ref()
                                .is_some_and(|e| e.previous_fqn.as_ref() == Some(fqn))
                    })
                    .map(|r| match &r.event {
                        Some(e) => format!(
                            "{}@{}/{} v{} oid{} prev={:?}",
                            e.op.as_str(),
                            r.partition,
                            r.offset,
                            e.entity_version,
                            e.object_id,
                            e.previous_fqn
                        ),
                        None => format!("tombstone@{}/{}", r.partition, r.offset),
                    })
                    .collect();
                eprintln!("{fqn}: {ops:?}");
                eprintln!("  catalog: {}", p.table_state(fqn).await);
            }
            keep_logs(seed, &capture, &p);
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: not converged after {rounds} rounds ({kills:?} kills of capture, apply)\n\
             only in the catalog: {:?}\nonly in the source: {:?}\ncapture log:\n{}",
            got.difference(&want).collect::<Vec<_>>(),
            want.difference(&got).collect::<Vec<_>>(),
            capture.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let dead = read_raw(&p.env.brokers, &p.dlq);
    assert!(
        dead.is_empty(),
        "seed {seed}: a crash left dead letters: {:?}",
        dead.iter().map(|d| &d.headers).collect::<Vec<_>>()
    );
    assert!(kills.0 + kills.1 > 0, "seed {seed}: nothing was killed");
    assert_structure_equals_source(&p).await;
    // Every view's lineage too. On a gap, before failing: both processes' logs kept, and what
    // the topic and the catalog hold of the view's edges and their ends, to find the cause.
    if let Err(gap) = assert_view_lineage_equals_source(&p, Duration::from_secs(90)).await {
        eprintln!("chaos, seed {seed}: {gap}");
        let log = p.apply.as_ref().map(Service::log).unwrap_or_default();
        keep_logs(seed, &capture, &p);
        for line in log.lines().filter(|l| {
            l.contains("not in the metadata server yet")
                || l.contains("parked event")
                || l.contains("dead-lettered")
        }) {
            eprintln!("  apply: {line}");
        }
        let view = gap
            .strip_prefix("lineage of ")
            .and_then(|g| g.split(':').next())
            .unwrap_or_default()
            .to_owned();
        for r in pgmeta::testkit::read_lineage(&p.env.brokers, &format!("{}.lineage", p.env.db)) {
            if r.0.contains(&view) {
                eprintln!("  lineage record: {r:?}");
            }
            if let Some(e) = r.1.filter(|e| e.to_fqn == view) {
                let store = p.env.cluster.client(&format!("{}_catalog", p.env.db)).await;
                for fqn in [&e.from_fqn, &e.to_fqn] {
                    eprintln!("  catalog {fqn}: {}", p.table_state(fqn).await);
                    // Every version the catalog recorded of the entities under that name.
                    let versions = store
                        .query(
                            "SELECT v.id, v.version, v.body->>'deleted', v.body->>'sourceHash', v.body->>'updatedAt' \
                             FROM pgmeta_catalog.entity_version v WHERE v.body->>'fullyQualifiedName' = $1 ORDER BY 5, 2",
                            &[fqn],
                        )
                        .await
                        .unwrap_or_default();
                    for v in versions {
                        eprintln!(
                            "    version {} {} deleted {:?} sourceHash {:?} at {:?}",
                            v.get::<_, String>(0),
                            v.get::<_, f64>(1),
                            v.get::<_, Option<String>>(2),
                            v.get::<_, Option<String>>(3),
                            v.get::<_, Option<String>>(4)
                        );
                    }
                }
                let (_, g) = p
                    .get(&format!(
                        "lineage/table/name/{}?upstreamDepth=1&downstreamDepth=0&includeDeleted=true",
                        pgmeta::apply::encode_path(&view)
                    ))
                    .await;
                eprintln!("  lineage with deleted ends: {g}");
            }
        }
        panic!("seed {seed}: {gap}");
    }
}
