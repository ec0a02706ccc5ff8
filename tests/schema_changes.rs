//! Schema changes classified for downstream teams, against a real server: the metadata
//! event's before and after values, and the schema-changes topic's record with what the
//! change reaches through view and query-log lineage.

use crate::common::{TestEnv, poll_ok};
use pgmeta::event::{ImpactOrigin, SchemaChangeEvent};

const SCHEMA: &str = "
CREATE EXTENSION pg_stat_statements;
CREATE SCHEMA sales;
CREATE SCHEMA reporting;
CREATE SCHEMA mart;
CREATE TABLE sales.orders (id int PRIMARY KEY, amount numeric(10,2) NOT NULL, note varchar(50));
CREATE VIEW reporting.revenue AS SELECT id, amount AS total FROM sales.orders;
CREATE TABLE mart.ltv (order_id int, ltv numeric);
";

/// The ETL statement the query log sees: it reads `sales.orders.amount` into `mart.ltv.ltv`.
const ETL: &str = "INSERT INTO mart.ltv (order_id, ltv) SELECT o.id, o.amount FROM sales.orders o";

fn impact(e: &SchemaChangeEvent) -> Vec<(String, ImpactOrigin, Vec<String>)> {
    let mut out: Vec<_> = e
        .impact
        .iter()
        .map(|i| {
            let short = i
                .fqn
                .rsplit_once('.')
                .map_or(i.fqn.clone(), |(_, n)| n.to_owned());
            (short, i.origin, i.columns.clone())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn a_dropped_column_is_breaking_and_reaches_the_view_and_the_etl_statement() {
    let env = TestEnv::new("schema_changes").await;
    env.sql(SCHEMA).await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    // The first usage poll takes the query log's baseline; the next one sees the statement.
    for round in 0..2 {
        if round == 1 {
            env.sql(ETL).await;
        }
        for (db, result) in capture.poll_usage_once().await {
            match result {
                Err(e) => panic!("usage poll of {db}: {e}"),
                Ok(r) => assert!(!r.unavailable, "pg_stat_statements in {db}"),
            }
        }
    }
    assert!(
        env.lineage()
            .iter()
            .filter_map(|(_, e)| e.as_ref())
            .any(|e| e.origin == pgmeta::event::LineageOrigin::Query
                && e.to_fqn.ends_with("mart.ltv")),
        "the ETL statement's lineage: {:?}",
        env.lineage()
    );
    assert!(env.schema_changes().is_empty(), "a snapshot is no change");

    // Widening a varchar: NON_BREAKING, nothing downstream reads the column.
    env.sql("ALTER TABLE sales.orders ALTER COLUMN note TYPE varchar(80)")
        .await;
    poll_ok(&mut capture).await;
    let widened = env.schema_changes();
    assert_eq!(widened.len(), 1, "{widened:#?}");
    let w = &widened[0];
    assert_eq!(
        (
            w.rule.as_str(),
            w.change_class.as_str(),
            w.object_type.as_str()
        ),
        ("column.type_widened", "NON_BREAKING", "COLUMN")
    );
    assert_eq!(w.object_fqn, format!("svc.{}.sales.orders.note", env.db));
    assert_eq!(
        (w.before.as_deref(), w.after.as_deref()),
        (Some("character varying(50)"), Some("character varying(80)"))
    );
    assert!(w.impact.is_empty(), "{w:#?}");
    // The metadata event carries the same before and after.
    let update = env
        .records()
        .into_iter()
        .filter_map(|r| r.event)
        .filter(|e| e.fqn.ends_with("sales.orders") && e.op == pgmeta::event::Op::Update)
        .last()
        .expect("the UPDATE of sales.orders");
    assert_eq!(
        w.metadata_event_id.as_deref(),
        Some(update.event_id.as_str())
    );
    let fc = update
        .field_changes
        .iter()
        .find(|f| f.path == "columns.note.data_type")
        .expect("the data_type's field change");
    assert_eq!(
        (fc.before.as_deref(), fc.after.as_deref()),
        (Some("character varying(50)"), Some("character varying(80)"))
    );

    // Dropping the column the view and the ETL statement read: BREAKING, reaching both.
    env.sql("ALTER TABLE sales.orders DROP COLUMN amount CASCADE")
        .await;
    poll_ok(&mut capture).await;
    let all = env.schema_changes();
    let dropped: Vec<&SchemaChangeEvent> =
        all.iter().filter(|e| e.rule == "column.dropped").collect();
    assert_eq!(dropped.len(), 1, "{all:#?}");
    let d = dropped[0];
    assert_eq!(d.change_class.as_str(), "BREAKING");
    assert_eq!(d.object_fqn, format!("svc.{}.sales.orders.amount", env.db));
    assert_eq!(d.before.as_deref(), Some("amount numeric(10,2) NOT NULL"));
    assert_eq!(
        impact(d),
        vec![
            ("ltv".into(), ImpactOrigin::Query, vec!["ltv".into()]),
            ("revenue".into(), ImpactOrigin::View, vec!["total".into()]),
        ]
    );
    // CASCADE dropped the view too: that is its own BREAKING change.
    assert!(
        all.iter()
            .any(|e| e.rule == "view.dropped" && e.object_fqn.ends_with("reporting.revenue")),
        "{all:#?}"
    );
}
