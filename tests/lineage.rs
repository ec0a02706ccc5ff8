//! Lineage events on the real cluster: views (checked against pg_depend), routines, the query
//! log, changes and deletes; pagila's views; jaffle_shop built by dbt.

use crate::common::{TestEnv, poll_ok};
use pgmeta::event::{LineageEvent, LineageOp, LineageOrigin};
use std::collections::{BTreeMap, BTreeSet};

const SCHEMA: &str = "
CREATE EXTENSION pg_stat_statements;
CREATE SCHEMA sales;
CREATE TABLE sales.customers (id int PRIMARY KEY, name text, email text);
CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int REFERENCES sales.customers, amount numeric, status text);
CREATE TABLE sales.summary (customer_id int, total numeric);
CREATE VIEW sales.customer_orders AS
  SELECT c.id, c.name, sum(o.amount) AS total FROM sales.customers c JOIN sales.orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
CREATE MATERIALIZED VIEW sales.big_orders AS SELECT id, amount FROM sales.orders WHERE amount > 100;
CREATE FUNCTION sales.refresh_summary() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM sales.summary;
  INSERT INTO sales.summary (customer_id, total) SELECT customer_id, sum(amount) FROM sales.orders GROUP BY customer_id;
END $$;";

/// The live edges of the topic after compaction semantics: last record per key, tombstones
/// removing the key.
fn live(records: &[(String, Option<LineageEvent>)]) -> BTreeMap<String, LineageEvent> {
    let mut out = BTreeMap::new();
    for (key, event) in records {
        match event {
            Some(e) if e.op != LineageOp::Delete => {
                out.insert(key.clone(), e.clone());
            }
            _ => {
                out.remove(key);
            }
        }
    }
    out
}

fn short(fqn: &str) -> String {
    fqn.rsplit('.').next().unwrap_or(fqn).to_owned()
}

/// `(origin, from, to)` by table name, and the column pairs of each.
fn edges(
    live: &BTreeMap<String, LineageEvent>,
) -> BTreeMap<(LineageOrigin, String, String), BTreeSet<(String, String)>> {
    live.values()
        .map(|e| {
            (
                (e.origin, short(&e.from_fqn), short(&e.to_fqn)),
                e.column_lineage
                    .iter()
                    .map(|c| (c.from_column.clone(), c.to_column.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    p.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn views_routines_and_queries_give_lineage_events() {
    let env = TestEnv::new("lineage").await;
    env.sql(SCHEMA).await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let records = env.lineage();
    let live1 = live(&records);
    let got = edges(&live1);
    let expected = BTreeMap::from([
        (
            (
                LineageOrigin::View,
                "customers".into(),
                "customer_orders".into(),
            ),
            pairs(&[("id", "id"), ("name", "name")]),
        ),
        (
            (
                LineageOrigin::View,
                "orders".into(),
                "customer_orders".into(),
            ),
            pairs(&[("amount", "total")]),
        ),
        (
            (LineageOrigin::View, "orders".into(), "big_orders".into()),
            pairs(&[("id", "id"), ("amount", "amount")]),
        ),
        (
            (LineageOrigin::Routine, "orders".into(), "summary".into()),
            pairs(&[("customer_id", "customer_id"), ("amount", "total")]),
        ),
    ]);
    assert_eq!(got, expected);
    for e in live1.values() {
        match e.origin {
            LineageOrigin::View => assert_eq!(e.catalog_confirmed, Some(true), "{e:?}"),
            LineageOrigin::Routine => assert_eq!(
                e.routine_fqn.as_deref(),
                Some(format!("svc.{}.sales.refresh_summary()", env.db).as_str())
            ),
            LineageOrigin::Query => {}
        }
        assert_eq!(e.edge_version, 1);
        assert!(e.from_fqn.starts_with(&format!("svc.{}.sales.", env.db)));
    }

    // Nothing changed: nothing is sent again.
    env.sql("COMMENT ON TABLE sales.orders IS 'changes the catalog, not the lineage'")
        .await;
    poll_ok(&mut capture).await;
    assert_eq!(env.lineage().len(), records.len());

    // The view stops reading customers: that edge is deleted (with its tombstone), the other
    // is updated (its columns changed).
    env.sql("CREATE OR REPLACE VIEW sales.customer_orders AS SELECT o.customer_id AS id, o.status AS name, sum(o.amount) AS total FROM sales.orders o GROUP BY 1, 2").await;
    poll_ok(&mut capture).await;
    let records2 = env.lineage();
    let new: Vec<&(String, Option<LineageEvent>)> = records2
        .iter()
        .filter(|(k, e)| {
            !records.iter().any(|(k0, e0)| {
                k0 == k && e0.as_ref().map(|x| &x.event_id) == e.as_ref().map(|x| &x.event_id)
            })
        })
        .collect();
    let ops: BTreeSet<(String, Option<LineageOp>)> = new
        .iter()
        .map(|(k, e)| {
            (
                k.split(" | ").next().map(short_key).unwrap_or_default(),
                e.as_ref().map(|e| e.op),
            )
        })
        .collect();
    assert_eq!(
        ops,
        BTreeSet::from([
            (
                "customers -> customer_orders".to_owned(),
                Some(LineageOp::Delete)
            ),
            ("customers -> customer_orders".to_owned(), None),
            (
                "orders -> customer_orders".to_owned(),
                Some(LineageOp::Update)
            ),
        ])
    );
    let live2 = live(&records2);
    assert_eq!(
        edges(&live2).get(&(
            LineageOrigin::View,
            "orders".into(),
            "customer_orders".into()
        )),
        Some(&pairs(&[
            ("customer_id", "id"),
            ("status", "name"),
            ("amount", "total")
        ]))
    );

    // The query log: a statement that writes gives a QUERY edge once, however often it runs.
    let rollup = "INSERT INTO sales.summary (customer_id, total) SELECT o.customer_id, o.amount FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id";
    env.sql(rollup).await;
    capture.poll_usage_once().await;
    env.sql(rollup).await;
    env.sql(rollup).await;
    capture.poll_usage_once().await;
    let records3 = env.lineage();
    let query_edges: Vec<&LineageEvent> = records3
        .iter()
        .filter_map(|(_, e)| e.as_ref())
        .filter(|e| e.origin == LineageOrigin::Query)
        .collect();
    let mut got: Vec<(String, String, i64)> = query_edges
        .iter()
        .map(|e| (short(&e.from_fqn), short(&e.to_fqn), e.edge_version))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("customers".into(), "summary".into(), 1),
            ("orders".into(), "summary".into(), 1)
        ],
        "each edge sent once"
    );
    let orders_edge = query_edges
        .iter()
        .find(|e| short(&e.from_fqn) == "orders")
        .expect("orders edge");
    assert_eq!(
        orders_edge
            .column_lineage
            .iter()
            .map(|c| (c.from_column.as_str(), c.to_column.as_str()))
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([("amount", "total"), ("customer_id", "customer_id")])
    );
    assert_eq!(orders_edge.queryids.len(), 1);
    assert!(
        orders_edge
            .sql
            .as_deref()
            .is_some_and(|s| s.contains("INSERT INTO sales.summary"))
    );

    // Dropping an end deletes the edges to it, of every origin (the routine still names it,
    // but it no longer resolves).
    env.sql("DROP TABLE sales.summary").await;
    capture.poll_usage_once().await;
    poll_ok(&mut capture).await;
    let live4 = live(&env.lineage());
    assert!(
        live4.values().all(|e| short(&e.to_fqn) != "summary"),
        "{:?}",
        live4.keys().collect::<Vec<_>>()
    );
}

fn short_key(edge: &str) -> String {
    match edge.split_once(" -> ") {
        Some((a, b)) => format!("{} -> {}", short(a), short(b)),
        None => edge.to_owned(),
    }
}

#[tokio::test]
async fn pagila_view_lineage_agrees_with_pg_depend() {
    let Some(corpus) = crate::pagila::corpus_dir() else {
        pgmeta::testkit::skip(
            "pagila_view_lineage_agrees_with_pg_depend",
            pgmeta::testkit::Missing::Corpus,
            "../shared/corpus not found (set PGMETA_CORPUS)",
        );
        return;
    };
    let env = TestEnv::new("pagila_lineage").await;
    env.cluster
        .psql_file(&env.db, &corpus.join("pagila/pagila-schema.sql"));
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let live = live(&env.lineage());
    let view_edges: Vec<&LineageEvent> = live
        .values()
        .filter(|e| e.origin == LineageOrigin::View)
        .collect();

    // pg_depend, read independently: (source, view) relation pairs and the columns read.
    let rows = env
        .client
        .query(
            "SELECT DISTINCT s.relname::text, v.relname::text, d.refobjsubid::int4,
                    coalesce(a.attname::text, '')
             FROM pg_rewrite r
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                             AND d.refclassid = 'pg_class'::regclass
             JOIN pg_class v ON v.oid = r.ev_class AND v.relkind IN ('v', 'm')
             JOIN pg_class s ON s.oid = d.refobjid AND s.relkind IN ('r', 'p', 'v', 'm', 'f')
             LEFT JOIN pg_attribute a ON a.attrelid = s.oid AND a.attnum = d.refobjsubid
             WHERE d.refobjid <> r.ev_class AND v.relnamespace = 'public'::regnamespace",
            &[],
        )
        .await
        .expect("pg_depend");
    let mut depend_edges = BTreeSet::new();
    let mut depend_columns = BTreeSet::new();
    for row in rows {
        let (source, view, attnum, column): (String, String, i32, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        depend_edges.insert((source.clone(), view.clone()));
        if attnum > 0 {
            depend_columns.insert((source, view, column));
        }
    }
    let got_edges: BTreeSet<(String, String)> = view_edges
        .iter()
        .map(|e| (short(&e.from_fqn), short(&e.to_fqn)))
        .collect();
    assert_eq!(
        got_edges, depend_edges,
        "table-level view lineage equals pg_depend"
    );
    assert_eq!(
        got_edges
            .iter()
            .map(|(_, v)| v.clone())
            .collect::<BTreeSet<_>>()
            .len(),
        8,
        "7 views and 1 materialized view"
    );
    for e in &view_edges {
        assert_eq!(
            e.catalog_confirmed,
            Some(true),
            "parsed and pg_depend agree: {e:?}"
        );
        for c in &e.column_lineage {
            assert!(
                depend_columns.contains(&(
                    short(&e.from_fqn),
                    short(&e.to_fqn),
                    c.from_column.clone()
                )),
                "{} reads {}.{} per the parse, but pg_depend does not list that column",
                short(&e.to_fqn),
                short(&e.from_fqn),
                c.from_column
            );
        }
    }
    // Every view got column lineage from its parsed definition.
    let with_columns: BTreeSet<String> = view_edges
        .iter()
        .filter(|e| !e.column_lineage.is_empty())
        .map(|e| short(&e.to_fqn))
        .collect();
    assert_eq!(with_columns.len(), 8, "{with_columns:?}");
}

/// dbt from the venv `scripts/install-python-tools.sh` makes (or `PGMETA_DBT`).
fn dbt() -> Option<std::path::PathBuf> {
    match std::env::var("PGMETA_DBT") {
        Ok(p) => Some(std::path::PathBuf::from(p)).filter(|p| p.exists()),
        Err(_) => pgmeta::testkit::venv_program("venv-dbt", "dbt"),
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn jaffle_shop_built_by_dbt_has_the_lineage_of_its_manifest() {
    let Some(corpus) = crate::pagila::corpus_dir() else {
        pgmeta::testkit::skip(
            "jaffle_shop_built_by_dbt_has_the_lineage_of_its_manifest",
            pgmeta::testkit::Missing::Corpus,
            "../shared/corpus not found (set PGMETA_CORPUS)",
        );
        return;
    };
    let Some(dbt) = dbt() else {
        pgmeta::testkit::skip(
            "jaffle_shop_built_by_dbt_has_the_lineage_of_its_manifest",
            pgmeta::testkit::Missing::Tool,
            "dbt not installed (scripts/install-python-tools.sh)",
        );
        return;
    };
    let env = TestEnv::new("jaffle").await;
    env.sql("CREATE EXTENSION pg_stat_statements").await;
    let project = tempfile::tempdir().expect("tempdir");
    copy_dir(&corpus.join("jaffle_shop"), project.path());
    std::fs::write(
        project.path().join("profiles.yml"),
        format!(
            "jaffle_shop:\n  target: dev\n  outputs:\n    dev: {{type: postgres, host: 127.0.0.1, port: {}, user: postgres, password: \"{}\", dbname: {}, schema: dbt_jaffle, threads: 1}}\n",
            env.cluster.port(),
            pgmeta::testkit::SUPERUSER_PASSWORD,
            env.db
        ),
    )
    .expect("profiles.yml");
    for step in ["seed", "run"] {
        let out = std::process::Command::new(&dbt)
            .arg(step)
            .current_dir(project.path())
            .env("DBT_PROFILES_DIR", project.path())
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
            .output()
            .expect("dbt runs");
        assert!(
            out.status.success(),
            "dbt {step} failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // dbt's own dependencies: model -> its depends_on models and seeds.
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project.path().join("target/manifest.json")).expect("manifest.json"),
    )
    .expect("manifest parses");
    let nodes = manifest["nodes"].as_object().expect("nodes");
    let name_of = |id: &str| {
        nodes
            .get(id)
            .and_then(|n| n["name"].as_str())
            .map(str::to_owned)
    };
    let mut expected = BTreeSet::new();
    for node in nodes.values().filter(|n| n["resource_type"] == "model") {
        let model = node["name"].as_str().expect("name").to_owned();
        for dep in node["depends_on"]["nodes"].as_array().expect("depends_on") {
            expected.insert((
                name_of(dep.as_str().expect("id")).expect("dep"),
                model.clone(),
            ));
        }
    }
    assert_eq!(expected.len(), 8, "{expected:?}");

    // pgmeta: views from the catalog, tables from dbt's statements in pg_stat_statements
    // (`create table x__dbt_tmp as ...` then `alter table x__dbt_tmp rename to x`).
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    for (db, result) in capture.poll_usage_once().await {
        if let Err(e) = result {
            panic!("usage poll of {db}: {e}");
        }
    }
    let live = live(&env.lineage());
    let got: BTreeSet<(String, String)> = live
        .values()
        .filter(|e| e.from_fqn.contains(".dbt_jaffle.") && e.to_fqn.contains(".dbt_jaffle."))
        .map(|e| (short(&e.from_fqn), short(&e.to_fqn)))
        .collect();
    assert_eq!(got, expected, "lineage equals dbt's model dependencies");
    let query_targets: BTreeSet<String> = live
        .values()
        .filter(|e| e.origin == LineageOrigin::Query)
        .map(|e| short(&e.to_fqn))
        .collect();
    assert_eq!(
        query_targets,
        BTreeSet::from(["customers".to_owned(), "orders".to_owned()]),
        "table models come from the query log, through the __dbt_tmp rename"
    );
}
