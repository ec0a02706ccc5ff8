//! The whole path on real services: PostgreSQL -> pgmeta-capture -> tansu -> pgmeta-apply (its
//! binary) -> pgmeta-catalog (its binary, persisting in PostgreSQL), read back through the
//! catalog's REST API. Faults: the catalog down, apply killed, a malformed message.

use crate::common::{TestEnv, poll_ok};
use pgmeta::testkit::{CatalogServer, Service, read_raw};

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub struct Pipeline {
    pub env: TestEnv,
    pub catalog: CatalogServer,
    pub apply: Option<Service>,
    pub http: reqwest::Client,
    pub dlq: String,
    pub metrics_port: u16,
}

pub const TOKEN: &str = "test-bot-token";

impl Pipeline {
    pub async fn new(prefix: &str) -> Pipeline {
        let env = TestEnv::new(prefix).await;
        let catalog_db = format!("{}_catalog", env.db);
        env.cluster.create_database(&catalog_db).await;
        let catalog = CatalogServer::start(&env.cluster.url(&catalog_db), Some(TOKEN));
        Pipeline {
            dlq: format!("{}.dlq", env.db),
            env,
            catalog,
            apply: None,
            http: reqwest::Client::new(),
            metrics_port: pgmeta::testkit::free_port(),
        }
    }

    pub fn apply_args(&self, group: &str) -> Vec<String> {
        let db = &self.env.db;
        [
            "--brokers",
            &self.env.brokers,
            "--group",
            group,
            "--metadata-topic",
            &format!("{db}.metadata"),
            "--usage-topic",
            &format!("{db}.usage"),
            "--lineage-topic",
            &format!("{db}.lineage"),
            "--dead-letter-topic",
            &self.dlq,
            "--server-url",
            &self.catalog.api(),
            "--missing-entity-timeout-secs",
            "20",
            "--kafka-option",
            "topic.metadata.refresh.interval.ms=1000",
            "--instance-id",
            group,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `apply_args` with another wait for a missing entity (the production default is 300 s).
    pub fn apply_args_waiting(&self, group: &str, missing_entity_secs: u64) -> Vec<String> {
        let mut args = self.apply_args(group);
        if let Some(i) = args
            .iter()
            .position(|a| a == "--missing-entity-timeout-secs")
        {
            args[i + 1] = missing_entity_secs.to_string();
        }
        args
    }

    /// Waits until the catalog holds every relation of the source as a live table; past
    /// `timeout`, fails naming the missing ones, with pgmeta-apply's log.
    pub async fn wait_for_every_relation(&self, timeout: Duration) {
        let rels = relations(&self.env).await;
        let deadline = Instant::now() + timeout;
        loop {
            let mut missing = Vec::new();
            for (s, n, _) in &rels {
                let fqn = self.fqn(s, n);
                if self.table(&fqn, "non-deleted").await.is_none() {
                    missing.push(fqn);
                }
            }
            if missing.is_empty() {
                return;
            }
            let log = self.apply.as_ref().map(|a| a.log()).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "not in the catalog: {missing:?}\napply log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// What the catalog holds of a table, deleted or not (for a failing test's report).
    pub async fn table_state(&self, fqn: &str) -> String {
        let (_, t) = self
            .get(&format!(
                "tables/name/{}?include=all",
                pgmeta::apply::encode_path(fqn)
            ))
            .await;
        format!(
            "id {} version {} deleted {} sourceHash {}",
            t["id"], t["version"], t["deleted"], t["sourceHash"]
        )
    }

    /// Starts pgmeta-apply (the topics must exist: capture first), metrics on `metrics_port`.
    pub fn start_apply(&mut self) {
        let mut args = self.apply_args(&format!("{}-apply", self.env.db));
        args.extend([
            "--metrics-listen".to_owned(),
            format!("127.0.0.1:{}", self.metrics_port),
        ]);
        self.apply = Some(Service::start(
            "pgmeta-apply",
            &args,
            &[("PGMETA_APPLY_TOKEN", TOKEN)],
        ));
    }

    /// Events a pgmeta-apply has consumed (every outcome), from its /metrics.
    pub async fn consumed(&self, port: u16) -> usize {
        self.metric_sum(port, "pgmeta_apply_events_total{").await as usize
    }

    /// The sum of the samples of pgmeta-apply's metrics (on `port`) whose line starts with
    /// `prefix`; 0 when it does not answer.
    pub async fn metric_sum(&self, port: u16, prefix: &str) -> f64 {
        let Ok(r) = self
            .http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
        else {
            return 0.0;
        };
        let text = r.text().await.unwrap_or_default();
        pgmeta::testkit::scrape::samples(&text, prefix).sum()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.catalog.api());
        // Tried twice: a pooled connection the server closed while idle (its header-read
        // timeout) fails the first request sent on it.
        for _ in 0..2 {
            if let Ok(r) = self.http.get(&url).bearer_auth(TOKEN).send().await {
                let status = r.status().as_u16();
                return (status, r.json().await.unwrap_or(Value::Null));
            }
        }
        (0, Value::Null)
    }

    pub async fn table(&self, fqn: &str, include: &str) -> Option<Value> {
        let (status, body) = self
            .get(&format!(
                "tables/name/{}?fields=*&include={include}",
                pgmeta::apply::encode_path(fqn)
            ))
            .await;
        (status == 200).then_some(body)
    }

    /// Waits until `check` holds (or fails with `what` and apply's log after `timeout`).
    pub async fn wait_for<F, Fut>(&self, what: &str, timeout: Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        while !check().await {
            if Instant::now() > deadline {
                let log = self.apply.as_ref().map(|a| a.log()).unwrap_or_default();
                panic!("timed out waiting for {what}; pgmeta-apply log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn fqn(&self, schema: &str, table: &str) -> String {
        pgmeta::model::Fqn::new(["svc", &self.env.db, schema, table]).to_string()
    }

    /// Every table entity (deleted too) by FQN -> version.
    pub async fn versions(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = "tables?limit=500&include=all".to_owned();
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let (_, page) = self.get(&path).await;
            for t in page["data"].as_array().cloned().unwrap_or_default() {
                out.insert(
                    t["fullyQualifiedName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    t["version"].as_f64().unwrap_or_default(),
                );
            }
            match page["paging"]["after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => return out,
            }
        }
    }
}

/// Relations of the source as (schema, name, relkind), user schemas only.
pub async fn relations(env: &TestEnv) -> Vec<(String, String, String)> {
    env.client
        .query(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname NOT IN ('pg_catalog','information_schema','pgmeta') AND n.nspname NOT LIKE 'pg_toast%' \
             AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e') ORDER BY 1, 2",
            &[],
        )
        .await
        .expect("relations")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Asserts that every relation, column (type, nullability, description), constraint and view
/// lineage edge of the source is in the catalog.
pub async fn assert_catalog_equals_source(p: &Pipeline) {
    assert_structure_equals_source(p).await;
    assert_view_lineage_equals_source(p, Duration::from_secs(60))
        .await
        .unwrap_or_else(|gap| panic!("{gap}"));
}

/// Every relation, column (type, nullability, description) and constraint of the source is in
/// the catalog.
pub async fn assert_structure_equals_source(p: &Pipeline) {
    let rels = relations(&p.env).await;
    assert!(!rels.is_empty());
    for (schema, name, relkind) in &rels {
        let fqn = p.fqn(schema, name);
        let t = p
            .table(&fqn, "non-deleted")
            .await
            .unwrap_or_else(|| panic!("{fqn} not in the catalog"));
        let want_type = match relkind.as_str() {
            "p" => "Partitioned",
            "v" => "View",
            "m" => "MaterializedView",
            "f" => "Foreign",
            _ => "Regular",
        };
        assert_eq!(t["tableType"], want_type, "{fqn}");
        let cols = p
            .env
            .client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(a.attrelid, a.attnum), \
                 (SELECT cardinality(c.conkey) FROM pg_constraint c WHERE c.conrelid = a.attrelid AND c.contype = 'p' AND a.attnum = ANY (c.conkey)), \
                 EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = a.attrelid AND c.contype = 'u' AND c.conkey = ARRAY[a.attnum]) \
                 FROM pg_attribute a WHERE a.attrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[schema, name],
            )
            .await
            .expect("columns");
        let got = t["columns"].as_array().cloned().unwrap_or_default();
        assert_eq!(got.len(), cols.len(), "{fqn}: column count");
        for (c, row) in got.iter().zip(&cols) {
            let col: String = row.get(0);
            assert_eq!(c["name"], col.as_str(), "{fqn}");
            assert_eq!(
                c["dataTypeDisplay"],
                row.get::<_, String>(1).as_str(),
                "{fqn}.{col}"
            );
            // OpenMetadata's placement: a one-column key is the column's; a column of a
            // primary key of several has none; else its nullability.
            let not_null: bool = row.get(2);
            let want = match (row.get::<_, Option<i32>>(4), row.get::<_, bool>(5)) {
                (Some(1), _) => Some("PRIMARY_KEY"),
                (Some(_), _) => None,
                (None, true) => Some("UNIQUE"),
                (None, false) => Some(if not_null { "NOT_NULL" } else { "NULL" }),
            };
            assert_eq!(c["constraint"].as_str(), want, "{fqn}.{col}");
            let desc: Option<String> = row.get(3);
            assert_eq!(
                c["description"].as_str(),
                desc.as_deref(),
                "{fqn}.{col} description"
            );
        }
        let want: i64 = p
            .env
            .client
            .query_one(
                "SELECT count(*) FROM pg_constraint co WHERE conrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass AND contype IN ('p','u','f') \
                 AND NOT (contype IN ('p','u') AND cardinality(conkey) = 1) \
                 AND NOT (contype = 'f' AND conparentid <> 0 AND EXISTS (SELECT 1 FROM pg_constraint pc WHERE pc.oid = co.conparentid AND pc.conrelid = co.conrelid))",
                &[schema, name],
            )
            .await
            .expect("constraints")
            .get(0);
        let have = t["tableConstraints"].as_array().map_or(0, Vec::len) as i64;
        assert_eq!(have, want, "{fqn}: constraints");
    }
}

/// Each view's upstream tables in the catalog equal pg_depend's, within `wait` per view;
/// else the first gap.
pub async fn assert_view_lineage_equals_source(p: &Pipeline, wait: Duration) -> Result<(), String> {
    let deps = p
        .env
        .client
        .query(
            "SELECT DISTINCT vn.nspname::text, v.relname::text, tn.nspname::text, t.relname::text \
             FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class JOIN pg_namespace vn ON vn.oid = v.relnamespace \
             JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass \
             JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             WHERE v.relkind IN ('v','m') AND t.oid <> v.oid AND vn.nspname NOT IN ('pg_catalog','information_schema') \
             AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = v.oid AND e.deptype = 'e')",
            &[],
        )
        .await
        .expect("view dependencies");
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &deps {
        expected
            .entry(p.fqn(&r.get::<_, String>(0), &r.get::<_, String>(1)))
            .or_default()
            .insert(p.fqn(&r.get::<_, String>(2), &r.get::<_, String>(3)));
    }
    assert!(!expected.is_empty(), "the schema has views");
    for (view, tables) in &expected {
        let deadline = Instant::now() + wait;
        loop {
            let (_, g) = p
                .get(&format!(
                    "lineage/table/name/{}?upstreamDepth=1&downstreamDepth=0",
                    pgmeta::apply::encode_path(view)
                ))
                .await;
            let ids: BTreeSet<String> = g["upstreamEdges"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["fromEntity"].as_str().map(str::to_owned))
                .collect();
            let got: BTreeSet<String> = g["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|n| n["id"].as_str().is_some_and(|i| ids.contains(i)))
                .filter_map(|n| n["fullyQualifiedName"].as_str().map(str::to_owned))
                .collect();
            if &got == tables {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!("lineage of {view}: got {got:?}, want {tables:?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// `demo/bookshop.sql`; before PostgreSQL 14 its SQL-standard function body (`BEGIN ATOMIC`)
/// becomes a string body.
pub fn bookshop_sql(major: u32) -> String {
    let path = pgmeta::testkit::project_dir().join("demo/bookshop.sql");
    let sql = std::fs::read_to_string(&path).expect("demo/bookshop.sql");
    if major < 14 {
        sql.replace(
            "BEGIN ATOMIC SELECT round(price * (100 - pct) / 100, 2); END;",
            "AS $$ SELECT round(price * (100 - pct) / 100, 2) $$;",
        )
    } else {
        sql
    }
}

async fn table_count(p: &Pipeline) -> usize {
    let (_, page) = p.get("tables?limit=1").await;
    page["paging"]["total"].as_u64().unwrap_or(0) as usize
}

/// A schema of the project's own (the demo's bookshop), always present; pagila below when the
/// corpus is.
#[tokio::test]
async fn bookshop_flows_into_the_catalog_and_changes_follow() {
    let mut p = Pipeline::new("apply_bookshop").await;
    p.env
        .sql(&bookshop_sql(p.env.cluster.major_version()))
        .await;
    // No schema has 16 tables: every event's staleness was read by GET.
    assert_eq!(end_to_end(&mut p).await, 0.0);
}

/// Successful listings of a schema's tables by pgmeta-apply.
const LISTINGS: &str =
    "pgmeta_apply_server_requests_total{request=\"GET /tables?databaseSchema=\",status=\"2xx\"}";

#[tokio::test]
async fn pagila_flows_into_the_catalog_and_changes_follow() {
    let Some(corpus) = crate::pagila::corpus_dir() else {
        pgmeta::testkit::skip(
            "pagila_flows_into_the_catalog_and_changes_follow",
            pgmeta::testkit::Missing::Corpus,
            "../shared/corpus not found (set PGMETA_CORPUS)",
        );
        return;
    };
    let mut p = Pipeline::new("apply_pagila").await;
    p.env
        .cluster
        .psql_file(&p.env.db, &corpus.join("pagila/pagila-schema.sql"));
    // The replay's batch brought public's 20-odd tables at once: the schema was listed instead
    // of one GET per table, and still no version was made (asserted in end_to_end).
    assert!(
        end_to_end(&mut p).await >= 1.0,
        "the replay listed public's tables"
    );
}

/// Source -> capture -> broker -> apply -> catalog, changes, then a replay of every topic by
/// a new consumer group; returns how many schema listings the replay made.
async fn end_to_end(p: &mut Pipeline) -> f64 {
    p.env
        .sql(
            "CREATE TABLE public.scratch (id int PRIMARY KEY, note text); CREATE TABLE public.before_rename (id int)",
        )
        .await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    p.start_apply();
    p.wait_for_every_relation(Duration::from_secs(120)).await;
    assert_catalog_equals_source(p).await;

    // Changes on the source reach the catalog as new versions and a soft delete.
    let first = p.rels_first().await;
    let target = p.fqn(&first.0, &first.1);
    let before = p.table(&target, "non-deleted").await.expect("target table");
    let v0 = before["version"].as_f64().unwrap_or_default();
    p.env
        .sql(&format!(
            "ALTER TABLE {s}.{t} ADD COLUMN pgmeta_added integer; COMMENT ON TABLE {s}.{t} IS 'described at the source'; DROP TABLE public.scratch; ALTER TABLE public.before_rename RENAME TO after_rename;",
            s = pgmeta::model::quote_ident(&first.0),
            t = pgmeta::model::quote_ident(&first.1)
        ))
        .await;
    poll_ok(&mut capture).await;
    let scratch = p.fqn("public", "scratch");
    // OpenMetadata cannot rename: the old name is deleted, the new one created.
    let (before, after) = (
        p.fqn("public", "before_rename"),
        p.fqn("public", "after_rename"),
    );
    let q: &Pipeline = p;
    q.wait_for("the changes applied", Duration::from_secs(60), || {
        let (target, scratch) = (target.clone(), scratch.clone());
        let (before, after) = (before.clone(), after.clone());
        async move {
            let renamed = q.table(&after, "non-deleted").await.is_some()
                && q.table(&before, "deleted")
                    .await
                    .is_some_and(|b| b["deleted"] == true);
            let t = q.table(&target, "non-deleted").await;
            let s = q.table(&scratch, "deleted").await;
            let added = t.as_ref().is_some_and(|t| {
                t["columns"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["name"] == "pgmeta_added"))
                    && t["description"] == "described at the source"
            });
            renamed && added && s.is_some_and(|s| s["deleted"] == true)
        }
    })
    .await;
    let after = p.table(&target, "non-deleted").await.expect("target");
    assert!(
        after["version"].as_f64().unwrap_or_default() > v0,
        "a new version: {after}"
    );
    let changed: Vec<String> = after["changeDescription"]["fieldsAdded"]
        .as_array()
        .into_iter()
        .chain(after["changeDescription"]["fieldsUpdated"].as_array())
        .flatten()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect();
    assert!(
        changed.iter().any(|c| c == "description" || c == "columns"),
        "{changed:?}"
    );
    assert_catalog_equals_source(p).await;

    // Replaying every topic from the beginning (a new consumer group) creates no version.
    let versions = p.versions().await;
    // Everything the first consumer read (its count stops moving once it is caught up).
    let mut records = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = p.consumed(p.metrics_port).await;
        if now > 0 && now == records {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first consumer never went idle"
        );
        records = now;
    }
    let port = pgmeta::testkit::free_port();
    let mut args = p.apply_args(&format!("{}-replay", p.env.db));
    args.extend(["--metrics-listen".to_owned(), format!("127.0.0.1:{port}")]);
    let replay = Service::start("pgmeta-apply", &args, &[("PGMETA_APPLY_TOKEN", TOKEN)]);
    p.wait_for(
        "the replay consumed every record",
        Duration::from_secs(120),
        || async { p.consumed(port).await >= records },
    )
    .await;
    assert!(replay.log().contains("pgmeta-apply consuming"));
    assert_eq!(
        p.versions().await,
        versions,
        "a replay must not create versions"
    );
    let dead = read_raw(&p.env.brokers, &p.dlq);
    assert!(
        dead.is_empty(),
        "nothing dead-lettered: {} records",
        dead.len()
    );
    let listings = p.metric_sum(port, LISTINGS).await;
    drop(replay);
    listings
}

impl Pipeline {
    async fn rels_first(&self) -> (String, String) {
        let rels = relations(&self.env).await;
        rels.into_iter()
            .find(|(_, n, k)| k == "r" && !["scratch", "before_rename"].contains(&n.as_str()))
            .map(|(s, n, _)| (s, n))
            .expect("a plain table")
    }
}

#[tokio::test]
async fn faults_lose_nothing_and_duplicate_nothing() {
    let mut p = Pipeline::new("apply_faults").await;
    p.env.sql("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);").await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    p.start_apply();
    let (fa, fb) = (p.fqn("public", "a"), p.fqn("public", "b"));
    p.wait_for("a and b", Duration::from_secs(60), || async {
        table_count(&p).await == 2
    })
    .await;

    // 1. The catalog is down for 30 s while events flow.
    p.catalog.stop();
    p.env.sql("ALTER TABLE a ADD COLUMN x int; ALTER TABLE b ADD COLUMN y int; CREATE TABLE c (id int);").await;
    poll_ok(&mut capture).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    p.catalog.restart();
    p.wait_for(
        "changes made while the catalog was down",
        Duration::from_secs(60),
        || async {
            let columns = |t: Option<Value>| t.and_then(|t| t["columns"].as_array().map(Vec::len));
            table_count(&p).await == 3
                && columns(p.table(&fa, "all").await) == Some(2)
                && columns(p.table(&fb, "all").await) == Some(3)
        },
    )
    .await;
    for (fqn, version) in [(&fa, 0.2), (&fb, 0.2)] {
        let t = p.table(fqn, "all").await.expect("table");
        assert_eq!(
            t["version"].as_f64(),
            Some(version),
            "{fqn}: one change, one version"
        );
    }

    // 2. kill -9 of pgmeta-apply mid-batch; the restart converges.
    let many: String = (0..300)
        .map(|i| format!("CREATE TABLE t{i} (id int, v text);"))
        .collect();
    p.env.sql(&many).await;
    poll_ok(&mut capture).await;
    p.wait_for(
        "apply started on the batch",
        Duration::from_secs(60),
        || async { table_count(&p).await > 3 },
    )
    .await;
    if let Some(a) = p.apply.as_mut() {
        a.kill();
    }
    let partial = table_count(&p).await;
    if let Some(a) = p.apply.as_mut() {
        a.restart();
    }
    p.wait_for("all 303 tables", Duration::from_secs(120), || async {
        table_count(&p).await == 303
    })
    .await;
    let versions = p.versions().await;
    for i in 0..300 {
        let fqn = p.fqn("public", &format!("t{i}"));
        assert_eq!(
            versions.get(&fqn),
            Some(&0.1),
            "{fqn}: created once (killed after {partial} of 303)"
        );
    }

    // 3. A malformed message goes to the dead-letter topic; the rest is applied.
    produce_raw(
        &p.env.brokers,
        &format!("{}.metadata", p.env.db),
        "svc.junk",
        b"not avro at all",
    );
    p.env.sql("ALTER TABLE c ADD COLUMN after_junk int").await;
    poll_ok(&mut capture).await;
    let fc = p.fqn("public", "c");
    let q = &p;
    q.wait_for(
        "the change after the malformed message",
        Duration::from_secs(60),
        || {
            let fc = fc.clone();
            async move {
                q.table(&fc, "all")
                    .await
                    .is_some_and(|t| t["columns"].as_array().is_some_and(|c| c.len() == 2))
            }
        },
    )
    .await;
    let dead = read_raw(&p.env.brokers, &p.dlq);
    assert_eq!(dead.len(), 1, "one dead letter");
    let error = dead[0]
        .headers
        .iter()
        .find(|(k, _)| k == "pgmeta.dlq.error")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(error.contains("not a pgmeta metadata event"), "{error}");
    assert_eq!(dead[0].key, "svc.junk");
}

pub fn produce_raw(brokers: &str, topic: &str, key: &str, payload: &[u8]) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("producer");
    producer
        .send(BaseRecord::to(topic).key(key).payload(payload))
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(10)).expect("flush");
}

/// A capture whose state is lost (its directory wiped) begins a new epoch: entity versions
/// count from 1 again, yet the catalog takes every later change. Without the epoch they would
/// all look older than what the catalog holds, and be skipped for good.
#[tokio::test]
async fn a_capture_that_lost_its_state_still_reaches_the_catalog() {
    let mut p = Pipeline::new("apply_epoch").await;
    p.env.sql("CREATE TABLE t (id int)").await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    for i in 0..3 {
        p.env
            .sql(&format!("ALTER TABLE t ADD COLUMN c{i} int"))
            .await;
        poll_ok(&mut capture).await;
    }
    p.start_apply();
    let fqn = p.fqn("public", "t");
    let columns = |t: Option<Value>| -> Vec<String> {
        t.and_then(|t| t["columns"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    };
    p.wait_for("t with 4 columns", Duration::from_secs(60), || async {
        columns(p.table(&fqn, "columns").await).len() == 4
    })
    .await;
    drop(capture);

    let state = p.env.state.path();
    std::fs::remove_dir_all(state).expect("wipe state");
    std::fs::create_dir_all(state).expect("state dir");
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    p.env.sql("ALTER TABLE t DROP COLUMN c0").await;
    poll_ok(&mut capture).await;
    p.wait_for(
        "the change after the state loss",
        Duration::from_secs(60),
        || async { columns(p.table(&fqn, "columns").await) == ["id", "c1", "c2"] },
    )
    .await;
    let epochs: Vec<(i64, i64)> = p
        .env
        .records()
        .iter()
        .filter(|r| r.key == fqn)
        .filter_map(|r| r.event.as_ref())
        .map(|e| (e.capture_epoch, e.entity_version))
        .collect();
    let (first, last) = (epochs[0], epochs[epochs.len() - 1]);
    assert!(first.0 > 0 && last.0 > first.0, "{epochs:?}");
    assert_eq!((first.1, last.1), (1, 2), "{epochs:?}");
}

/// Renaming a view's table moves the view's lineage edge: the edge from the old name is taken
/// off the retired entity that holds it (not just hidden with it), the new one added.
#[tokio::test]
async fn a_renamed_table_moves_its_lineage_edge() {
    let mut p = Pipeline::new("apply_lineage_rename").await;
    p.env
        .sql("CREATE TABLE t (id int); CREATE VIEW v AS SELECT id FROM t;")
        .await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    p.start_apply();
    assert_view_lineage_equals_source(&p, Duration::from_secs(60))
        .await
        .expect("the first edge");
    p.env.sql("ALTER TABLE t RENAME TO t2").await;
    poll_ok(&mut capture).await;
    assert_view_lineage_equals_source(&p, Duration::from_secs(60))
        .await
        .expect("the edge from the new name only");
    let view = pgmeta::apply::encode_path(&p.fqn("public", "v"));
    let (_, g) = p
        .get(&format!(
            "lineage/table/name/{view}?upstreamDepth=1&downstreamDepth=0&includeDeleted=true"
        ))
        .await;
    let upstream = g["upstreamEdges"].as_array().map_or(0, Vec::len);
    assert_eq!(upstream, 1, "deleted ends included: {g}");
}
