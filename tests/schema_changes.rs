//! Schema changes classified for downstream teams, against a real server: the metadata
//! event's before and after values, and the schema-changes topic's record with what the
//! change reaches through view and query-log lineage.

use crate::common::{TestEnv, poll_ok};
use pgmeta::event::{ImpactOrigin, SchemaChangeEvent};
use std::time::Duration;

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

/// What `pgmeta-capture impact` predicts for `sql` on the test's database (with the capture's
/// state directory, for query-log lineage): its exit code and records.
fn predict(env: &TestEnv, sql: &str, protected: &[&str]) -> (Option<i32>, Vec<SchemaChangeEvent>) {
    predict_in(env, sql, protected, env.state.path(), &[], &[])
}

/// [`predict`] with another state directory and more arguments and environment.
fn predict_in(
    env: &TestEnv,
    sql: &str,
    protected: &[&str],
    state: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Option<i32>, Vec<SchemaChangeEvent>) {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("capture.toml");
    std::fs::write(
        &config,
        format!(
            "service_name = \"svc\"\n[source]\nurl = \"{}\"\n[state]\ndir = \"{}\"\n[schema_changes]\nprotected = {:?}\n",
            env.cluster.url(&env.db),
            state.display(),
            protected
        ),
    )
    .expect("config");
    let migration = dir.path().join("migration.sql");
    std::fs::write(&migration, sql).expect("migration");
    let out = std::process::Command::new(pgmeta::testkit::bin_path("pgmeta-capture"))
        .arg("--config")
        .arg(&config)
        .arg("impact")
        .args(args)
        .arg(&migration)
        .envs(envs.iter().copied())
        .output()
        .expect("run pgmeta-capture impact");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{sql}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.status.code(), records)
}

/// A record without what differs between a prediction and the run: ids and times.
fn essence(e: &SchemaChangeEvent) -> String {
    let mut e = e.clone();
    e.event_id.clear();
    e.metadata_event_id = None;
    e.emitted_at = 0;
    format!("{e:?}")
}

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
    // The amount is under contract: a BREAKING change to it is a violation.
    let protected = ["sales.orders.amount"];
    let mut config = env.config();
    config.schema_changes.protected = protected.iter().map(|p| (*p).to_owned()).collect();
    let mut capture = crate::common::capture_with(&config).await;
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
    assert!(!w.contract_violation, "not BREAKING, not protected");
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

    // Dropping the column the view and the ETL statement read: BREAKING, reaching both;
    // `pgmeta-capture impact` says so before it runs (exit 1), and nothing of it is committed.
    let drop = "ALTER TABLE sales.orders DROP COLUMN amount CASCADE";
    let (code, predicted) = predict(&env, drop, &protected);
    assert_eq!(code, Some(1), "{predicted:#?}");
    assert_eq!(
        env.client
            .query_one(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'amount'",
                &[]
            )
            .await
            .expect("query")
            .get::<_, i64>(0),
        1,
        "the check rolled the migration back"
    );
    env.sql(drop).await;
    poll_ok(&mut capture).await;
    let all = env.schema_changes();
    let mut got: Vec<String> = all
        .iter()
        .filter(|e| e.rule != "column.type_widened")
        .map(essence)
        .collect();
    let mut want: Vec<String> = predicted.iter().map(essence).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the prediction is what the capture wrote");
    let dropped: Vec<&SchemaChangeEvent> =
        all.iter().filter(|e| e.rule == "column.dropped").collect();
    assert_eq!(dropped.len(), 1, "{all:#?}");
    let d = dropped[0];
    assert_eq!(d.change_class.as_str(), "BREAKING");
    assert!(d.contract_violation, "sales.orders.amount is protected");
    assert_eq!(d.object_fqn, format!("svc.{}.sales.orders.amount", env.db));
    assert_eq!(d.before.as_deref(), Some("amount numeric(10,2) NOT NULL"));
    assert_eq!(
        impact(d),
        vec![
            ("ltv".into(), ImpactOrigin::Query, vec!["ltv".into()]),
            ("revenue".into(), ImpactOrigin::View, vec!["total".into()]),
        ]
    );
    // The statement's impact says when it last ran; a view has no such time.
    for i in &d.impact {
        match i.origin {
            ImpactOrigin::Query => assert!(
                i.last_seen
                    .is_some_and(|t| t > 0 && t <= pgmeta::event::now_millis()),
                "{i:?}"
            ),
            _ => assert_eq!(i.last_seen, None, "{i:?}"),
        }
    }
    // CASCADE dropped the view too: that is its own BREAKING change.
    assert!(
        all.iter()
            .any(|e| e.rule == "view.dropped" && e.object_fqn.ends_with("reporting.revenue")),
        "{all:#?}"
    );
}

const RULE_SCHEMA: &str = "
CREATE SCHEMA r;
CREATE TYPE r.mood AS ENUM ('sad', 'ok');
CREATE DOMAIN r.short_text AS varchar(20);
CREATE DOMAIN r.other_text AS varchar(20) CHECK (VALUE <> '');
CREATE TABLE r.t (id int, a int, b varchar(50), d text, ts timestamp, m r.mood, n int,
    dflt int DEFAULT 1, dom r.short_text, chk int, u int, ref int, drop_me int, ren int);
CREATE TABLE r.p (id int PRIMARY KEY);
CREATE VIEW r.v AS SELECT id, a FROM r.t;
CREATE TABLE r.parent (k int) PARTITION BY LIST (k);
CREATE TABLE r.part1 PARTITION OF r.parent FOR VALUES IN (1);
CREATE TABLE r.loose (k int);
CREATE TABLE r.dropme (id int);
CREATE TABLE r.renme (id int);
CREATE VIEW r.dv AS SELECT 1 AS one;
CREATE VIEW r.rv AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW r.dmv AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW r.rmv AS SELECT 1 AS one;
CREATE FUNCTION r.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
CREATE FUNCTION r.g(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
CREATE FUNCTION r.h(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
";

/// One DDL per rule (run in this order on `RULE_SCHEMA`) and the rule it must yield.
const RULE_CASES: &[(&str, &str)] = &[
    ("DROP TABLE r.dropme", "table.dropped"),
    ("ALTER TABLE r.renme RENAME TO renamed", "table.renamed"),
    ("DROP VIEW r.dv", "view.dropped"),
    ("ALTER VIEW r.rv RENAME TO rv2", "view.renamed"),
    (
        "CREATE OR REPLACE VIEW r.v AS SELECT id, a FROM r.t WHERE id > 0",
        "view.definition_changed",
    ),
    ("DROP MATERIALIZED VIEW r.dmv", "materialized_view.dropped"),
    (
        "ALTER MATERIALIZED VIEW r.rmv RENAME TO rmv2",
        "materialized_view.renamed",
    ),
    ("ALTER TABLE r.t DROP COLUMN drop_me", "column.dropped"),
    (
        "ALTER TABLE r.t RENAME COLUMN ren TO ren2",
        "column.renamed",
    ),
    ("ALTER TABLE r.t ADD COLUMN added int", "column.added"),
    (
        "ALTER TABLE r.t ADD COLUMN req int NOT NULL",
        "column.added_required",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN n TYPE bigint",
        "column.type_widened",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN b TYPE varchar(20)",
        "column.type_narrowed",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN d TYPE int USING d::int",
        "column.type_family_changed",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN ts TYPE timestamptz",
        "column.type_changed",
    ),
    (
        "ALTER TYPE r.mood ADD VALUE 'happy'",
        "column.enum_label_added",
    ),
    (
        "ALTER TYPE r.mood RENAME TO mood_old; CREATE TYPE r.mood AS ENUM ('sad', 'happy'); \
         ALTER TABLE r.t ALTER COLUMN m TYPE r.mood USING m::text::r.mood; DROP TYPE r.mood_old",
        "column.enum_label_removed",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN dom TYPE r.other_text",
        "column.domain_changed",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN n SET NOT NULL",
        "column.not_null_added",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN n DROP NOT NULL",
        "column.not_null_dropped",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN dflt DROP DEFAULT",
        "column.default_dropped",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN dflt SET DEFAULT 2",
        "column.default_added",
    ),
    (
        "ALTER TABLE r.t ALTER COLUMN dflt SET DEFAULT 3",
        "column.default_changed",
    ),
    (
        "ALTER TABLE r.t ADD CONSTRAINT t_pkey PRIMARY KEY (id)",
        "constraint.primary_key.added",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_pkey, ADD CONSTRAINT t_pkey PRIMARY KEY (id, a)",
        "constraint.primary_key.changed",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_pkey",
        "constraint.primary_key.dropped",
    ),
    (
        "ALTER TABLE r.t ADD CONSTRAINT t_u UNIQUE (u)",
        "constraint.unique.added",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_u, ADD CONSTRAINT t_u UNIQUE (u, id)",
        "constraint.unique.changed",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_u",
        "constraint.unique.dropped",
    ),
    (
        "ALTER TABLE r.t ADD CONSTRAINT t_ref FOREIGN KEY (ref) REFERENCES r.p (id)",
        "constraint.foreign_key.added",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_ref, ADD CONSTRAINT t_ref FOREIGN KEY (ref) REFERENCES r.p (id) ON DELETE CASCADE",
        "constraint.foreign_key.changed",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_ref",
        "constraint.foreign_key.dropped",
    ),
    (
        "ALTER TABLE r.t ADD CONSTRAINT t_chk CHECK (chk > 0)",
        "constraint.check.added",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_chk, ADD CONSTRAINT t_chk CHECK (chk > 1)",
        "constraint.check.changed",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_chk",
        "constraint.check.dropped",
    ),
    (
        "ALTER TABLE r.t ADD CONSTRAINT t_ex EXCLUDE USING btree (chk WITH =)",
        "constraint.exclusion.added",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_ex, ADD CONSTRAINT t_ex EXCLUDE USING btree (u WITH =)",
        "constraint.exclusion.changed",
    ),
    (
        "ALTER TABLE r.t DROP CONSTRAINT t_ex",
        "constraint.exclusion.dropped",
    ),
    (
        "ALTER TABLE r.parent DETACH PARTITION r.part1",
        "partition.detached",
    ),
    (
        "ALTER TABLE r.parent ATTACH PARTITION r.loose FOR VALUES IN (2)",
        "partition.attached",
    ),
    ("DROP FUNCTION r.f(int)", "routine.dropped"),
    ("ALTER FUNCTION r.g(int) RENAME TO g2", "routine.renamed"),
    (
        "DROP FUNCTION r.h(int); CREATE FUNCTION r.h(x bigint) RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "routine.signature_changed",
    ),
    (
        "DROP FUNCTION r.h(bigint); CREATE FUNCTION r.h(x bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'",
        "routine.return_type_changed",
    ),
];

/// Every rule of the README's table, from real DDL on a real server, predicted first by
/// `pgmeta-capture impact` (exactly the records then written): each case yields its rule and
/// nothing else (a routine replaced by drop and create is not also a drop), except
/// the NOT NULL a primary key brings.
#[tokio::test]
async fn every_rule_comes_from_real_ddl() {
    let env = TestEnv::new("schema_rules").await;
    env.sql(RULE_SCHEMA).await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    // Records come partition by partition: the new ones are told by their ids.
    let mut seen = std::collections::BTreeSet::new();
    let mut covered = std::collections::BTreeSet::new();
    for (sql, rule) in RULE_CASES {
        let (_, predicted) = predict(&env, sql, &[]);
        env.sql(sql).await;
        poll_ok(&mut capture).await;
        let all = env.schema_changes();
        let written: Vec<&SchemaChangeEvent> =
            all.iter().filter(|e| !seen.contains(&e.event_id)).collect();
        seen.extend(all.iter().map(|e| e.event_id.clone()));
        let mut got: Vec<String> = written.iter().map(|e| essence(e)).collect();
        let mut want: Vec<String> = predicted.iter().map(essence).collect();
        got.sort();
        want.sort();
        assert_eq!(
            got, want,
            "{sql}: pgmeta-capture impact predicts what is written"
        );
        let new: Vec<(&str, &str)> = written
            .iter()
            .map(|e| (e.rule.as_str(), e.object_fqn.as_str()))
            .collect();
        // A primary key also sets (and on some versions its drop clears) NOT NULL on its
        // columns: that is a change of its own.
        let side_effect = |r: &str| {
            rule.starts_with("constraint.primary_key.") && r.starts_with("column.not_null_")
        };
        assert!(
            new.iter().any(|(r, _)| r == rule)
                && new.iter().all(|(r, _)| r == rule || side_effect(r)),
            "{sql}: expected {rule}, got {new:?}"
        );
        covered.insert(*rule);
    }
    let all: std::collections::BTreeSet<&str> = pgmeta::schema_change::rules::RULES
        .iter()
        .map(|(id, _, _)| *id)
        .collect();
    assert_eq!(covered, all, "a case per rule");
}

/// The acceptance on the demo database (`demo/`): after its workload (the query log holds
/// `CREATE TABLE reporting.top_books AS SELECT ... FROM reporting.book_sales`), its changes
/// widen a varchar (NON_BREAKING) and `demo/breaking.sql` drops `catalog.books.title`, which
/// the view `reporting.book_sales` reads and, through it, the ETL statement: one BREAKING
/// column record reaching both, predicted by `pgmeta-capture impact` first.
#[tokio::test]
async fn on_the_demo_database_a_dropped_column_reaches_the_view_and_the_etl_statement() {
    let env = TestEnv::new("schema_demo").await;
    let demo = pgmeta::testkit::project_dir().join("demo");
    env.sql(&crate::apply::bookshop_sql(env.cluster.major_version()))
        .await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    for (db, result) in capture.poll_usage_once().await {
        result.unwrap_or_else(|e| panic!("usage baseline of {db}: {e}"));
    }
    env.cluster.psql_file(&env.db, &demo.join("changes.sql"));
    env.cluster.psql_file(&env.db, &demo.join("workload.sql"));
    poll_ok(&mut capture).await;
    for (db, result) in capture.poll_usage_once().await {
        result.unwrap_or_else(|e| panic!("usage poll of {db}: {e}"));
    }
    let after_changes = env.schema_changes();
    let widened: Vec<&SchemaChangeEvent> = after_changes
        .iter()
        .filter(|e| e.object_fqn.ends_with("catalog.authors.country"))
        .collect();
    assert_eq!(widened.len(), 1, "{after_changes:#?}");
    assert_eq!(
        (widened[0].rule.as_str(), widened[0].change_class.as_str()),
        ("column.type_widened", "NON_BREAKING")
    );

    let breaking = std::fs::read_to_string(demo.join("breaking.sql")).expect("breaking.sql");
    let (code, predicted) = predict(&env, &breaking, &[]);
    assert_eq!(
        code,
        Some(1),
        "a BREAKING change reaches downstream objects"
    );
    env.sql(&breaking).await;
    poll_ok(&mut capture).await;
    let seen: std::collections::BTreeSet<String> =
        after_changes.iter().map(|e| e.event_id.clone()).collect();
    let written: Vec<SchemaChangeEvent> = env
        .schema_changes()
        .into_iter()
        .filter(|e| !seen.contains(&e.event_id))
        .collect();
    let mut got: Vec<String> = written.iter().map(essence).collect();
    let mut want: Vec<String> = predicted.iter().map(essence).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "predicted before it ran");
    let title: Vec<&SchemaChangeEvent> = written
        .iter()
        .filter(|e| e.rule == "column.dropped")
        .collect();
    assert_eq!(title.len(), 1, "{written:#?}");
    assert_eq!(title[0].change_class.as_str(), "BREAKING");
    assert!(title[0].object_fqn.ends_with("catalog.books.title"));
    let reached: Vec<(String, ImpactOrigin, Vec<String>, i32)> = title[0]
        .impact
        .iter()
        .map(|i| {
            let short = i
                .fqn
                .rsplit_once(".reporting.")
                .map_or(i.fqn.clone(), |(_, n)| n.to_owned());
            (short, i.origin, i.columns.clone(), i.depth)
        })
        .collect();
    assert_eq!(
        reached,
        vec![
            (
                "book_sales".into(),
                ImpactOrigin::View,
                vec!["title".into()],
                1
            ),
            (
                "top_books".into(),
                ImpactOrigin::Query,
                vec!["title".into()],
                2
            ),
        ]
    );
}

/// `--lineage-from`: the lineage a metadata server holds (here pgmeta-catalog, filled by
/// pgmeta-apply) instead of the database's; a capture state with no query-log lineage.
#[tokio::test]
async fn impact_takes_its_lineage_from_the_metadata_server() {
    let mut p = crate::apply::Pipeline::new("schema_server").await;
    p.env.sql(SCHEMA).await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    p.start_apply();
    let orders = p.fqn("sales", "orders");
    let path = format!(
        "lineage/table/name/{}?upstreamDepth=0&downstreamDepth=1",
        pgmeta::apply::encode_path(&orders)
    );
    p.wait_for(
        "the view's lineage in the catalog",
        Duration::from_secs(60),
        || async {
            let (_, graph) = p.get(&path).await;
            graph["downstreamEdges"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        },
    )
    .await;
    let empty_state = tempfile::tempdir().expect("dir");
    let api = p.catalog.api();
    let (code, predicted) = predict_in(
        &p.env,
        "ALTER TABLE sales.orders DROP COLUMN amount CASCADE",
        &[],
        empty_state.path(),
        &["--lineage-from", &api],
        &[("PGMETA_LINEAGE_TOKEN", crate::apply::TOKEN)],
    );
    assert_eq!(code, Some(1), "{predicted:#?}");
    let dropped = predicted
        .iter()
        .find(|e| e.rule == "column.dropped")
        .expect("the column drop");
    assert_eq!(
        impact(dropped),
        vec![("revenue".into(), ImpactOrigin::View, vec!["total".into()])]
    );
    // A wrong token is refused by the server, and said so.
    let (code, _) = predict_in_failing(&p.env, &api);
    assert_eq!(code, Some(2));
}

/// `impact --lineage-from` with a token the server refuses: exit 2.
fn predict_in_failing(env: &TestEnv, api: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("dir");
    let migration = dir.path().join("migration.sql");
    std::fs::write(&migration, "ALTER TABLE sales.orders DROP COLUMN note").expect("write");
    let out = std::process::Command::new(pgmeta::testkit::bin_path("pgmeta-capture"))
        .args([
            "impact",
            "--catalog-from",
            &env.cluster.url(&env.db),
            "--lineage-from",
            api,
        ])
        .arg(&migration)
        .env("PGMETA_LINEAGE_TOKEN", "not-the-token")
        .output()
        .expect("run pgmeta-capture impact");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("cannot read the lineage of the metadata server"),
        "{stderr}"
    );
    (out.status.code(), stderr)
}
