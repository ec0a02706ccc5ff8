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
