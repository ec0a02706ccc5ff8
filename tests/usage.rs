//! Usage from pg_stat_statements on the real cluster: exact per-table counts per bucket, a
//! reset in the middle, a restart, and the extension missing.

use crate::common::TestEnv;
use pgmeta::event::{UsageEvent, UsageKind};
use std::collections::BTreeMap;

const SCHEMA: &str = "
CREATE EXTENSION pg_stat_statements;
CREATE TABLE customers (id int PRIMARY KEY, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, amount numeric);
CREATE TABLE summary (customer_id int, total numeric);
INSERT INTO customers VALUES (1, 'a'), (2, 'b');
INSERT INTO orders VALUES (1, 1, 10), (2, 2, 20), (3, 1, 5);";

const JOIN: &str = "SELECT c.name, sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.name";
const ROLLUP: &str = "INSERT INTO summary (customer_id, total) SELECT customer_id, sum(amount) FROM orders GROUP BY customer_id";

/// Runs `sql` `n` times on its own connection (so the capture's connection is not counted).
async fn run(env: &TestEnv, sql: &str, n: usize) {
    for _ in 0..n {
        env.sql(sql).await;
    }
}

async fn poll_usage(
    capture: &mut pgmeta::capture::Capture<pgmeta::sink::KafkaSink>,
) -> pgmeta::source::UsageReport {
    let mut results = capture.poll_usage_once().await;
    assert_eq!(results.len(), 1);
    match results.remove(0).1 {
        Ok(r) => r,
        Err(e) => panic!("usage poll failed: {e}"),
    }
}

/// `table name -> (query_count, read_count, write_count)` of the TABLE events of one bucket.
fn tables(events: &[UsageEvent], bucket_start: i64) -> BTreeMap<String, (i64, i64, i64)> {
    events
        .iter()
        .filter(|e| e.kind == UsageKind::Table && e.bucket_start == bucket_start)
        .filter_map(|e| e.table.as_ref())
        .map(|t| (t.name.clone(), (t.query_count, t.read_count, t.write_count)))
        .collect()
}

fn buckets(events: &[UsageEvent]) -> Vec<(i64, i64)> {
    let mut b: Vec<(i64, i64)> = events
        .iter()
        .map(|e| (e.bucket_start, e.bucket_end))
        .collect();
    b.sort();
    b.dedup();
    b
}

#[tokio::test]
async fn usage_deltas_are_exact_across_a_reset_and_a_restart() {
    let env = TestEnv::new("usage").await;
    env.sql(SCHEMA).await;
    let mut capture = env.capture().await;
    let first = poll_usage(&mut capture).await;
    assert!(first.baseline_only, "{first:?}");
    assert!(
        env.usage().is_empty(),
        "the first read only sets the baseline"
    );

    // Bucket 1: 5 joins and 3 roll-ups.
    run(&env, JOIN, 5).await;
    run(&env, ROLLUP, 3).await;
    let r = poll_usage(&mut capture).await;
    assert!(!r.reset_detected, "{r:?}");
    let events = env.usage();
    let b = buckets(&events);
    assert_eq!(b.len(), 1, "{b:?}");
    let b1 = b[0];
    assert_eq!(
        tables(&events, b1.0),
        BTreeMap::from([
            ("customers".to_owned(), (5, 5, 0)),
            ("orders".to_owned(), (8, 8, 0)),
            ("summary".to_owned(), (3, 0, 3)),
        ])
    );
    let orders = events
        .iter()
        .filter_map(|e| e.table.as_ref())
        .find(|t| t.name == "orders")
        .expect("orders usage");
    assert_eq!(orders.fqn, format!("svc.{}.public.orders", env.db));
    assert_eq!(orders.join_partners.len(), 2, "{orders:?}");
    assert_eq!(orders.top_queries.len(), 2);
    assert_eq!(orders.top_queries[0].calls, 5);
    let join_calls: i64 = events
        .iter()
        .filter_map(|e| e.query.as_ref())
        .filter(|q| q.query.contains("JOIN customers"))
        .map(|q| q.calls)
        .sum();
    assert_eq!(join_calls, 5);

    // Bucket 2: 4 joins, then this database's statistics are reset, then 2 joins. The 4 are
    // lost (and the bucket says so); the 2 are counted once, never 6 and never negative.
    run(&env, JOIN, 4).await;
    env.sql("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)").await;
    run(&env, JOIN, 2).await;
    let r = poll_usage(&mut capture).await;
    assert!(r.reset_detected, "{r:?}");
    let events = env.usage();
    let b = buckets(&events);
    assert_eq!(b.len(), 2, "{b:?}");
    let b2 = b[1];
    assert_eq!(b2.0, b1.1, "buckets are contiguous");
    let t2 = tables(&events, b2.0);
    assert_eq!(t2.get("orders"), Some(&(2, 2, 0)), "{t2:?}");
    assert_eq!(t2.get("customers"), Some(&(2, 2, 0)), "{t2:?}");
    assert!(
        events
            .iter()
            .filter(|e| e.bucket_start == b2.0)
            .all(|e| e.reset_detected)
    );
    assert!(
        events
            .iter()
            .filter_map(|e| e.query.as_ref())
            .all(|q| q.calls > 0 && q.total_exec_time_ms >= 0.0 && q.rows >= 0)
    );

    // Restart: a new capture on the same state continues where the last bucket ended.
    drop(capture);
    run(&env, ROLLUP, 1).await;
    let mut capture = env.capture().await;
    let r = poll_usage(&mut capture).await;
    assert!(!r.baseline_only, "the baseline survived the restart");
    let events = env.usage();
    let b = buckets(&events);
    assert_eq!(b.len(), 3, "{b:?}");
    let b3 = b[2];
    assert_eq!(b3.0, b2.1, "no interval repeated or skipped");
    let t3 = tables(&events, b3.0);
    assert_eq!(t3.get("summary"), Some(&(1, 0, 1)), "{t3:?}");
    assert_eq!(t3.get("orders"), Some(&(1, 1, 0)), "{t3:?}");
    assert_eq!(t3.get("customers"), None);

    // Only the capture's own catalog queries ran: no table was used in that bucket.
    poll_usage(&mut capture).await;
    let after = env.usage();
    assert_eq!(
        buckets(&after).len(),
        4,
        "the capture's own statements make a bucket"
    );
    assert!(
        tables(&after, b3.1).is_empty(),
        "{:?}",
        tables(&after, b3.1)
    );
}

#[tokio::test]
async fn without_the_extension_usage_is_unavailable_and_the_rest_runs() {
    let env = TestEnv::new("nousage").await;
    env.sql("CREATE TABLE t (id int)").await;
    let mut capture = env.capture().await;
    let r = poll_usage(&mut capture).await;
    assert!(r.unavailable, "{r:?}");
    let reports = crate::common::poll_ok(&mut capture).await;
    assert_eq!(reports.len(), 1);
    assert!(!env.records().is_empty(), "metadata still flows");
}

/// Analytic statements whose constants pg_stat_statements turns into `$n`, keywords included
/// (`extract(year FROM d)` is stored as `extract($1 FROM d)`, `inet '10.0.0.1'` as `inet $1`):
/// read back from the real view, every call is counted for every table it reads.
#[tokio::test]
async fn normalized_analytic_statements_count_every_call_per_table() {
    let env = TestEnv::new("usage_normalized").await;
    env.sql(
        "CREATE EXTENSION pg_stat_statements;
         CREATE TABLE sales (id int, sold date, amount numeric(12,2), client inet, region text);
         CREATE TABLE regions (name text, opened timestamptz);",
    )
    .await;
    let mut capture = env.capture().await;
    poll_usage(&mut capture).await;
    let statements: [(&str, usize, &[&str]); 8] = [
        (
            "SELECT extract(year FROM sold) AS y, sum(amount) FROM sales GROUP BY 1",
            3,
            &["sales"],
        ),
        (
            "SELECT EXTRACT(month FROM r.opened), count(*) FROM regions r GROUP BY 1",
            2,
            &["regions"],
        ),
        (
            "SELECT * FROM sales WHERE sold >= date '1998-01-01' AND sold < date '1998-01-01' + interval '3 month'",
            2,
            &["sales"],
        ),
        (
            "SELECT count(*) FROM sales WHERE client << inet '10.0.0.0/8'",
            4,
            &["sales"],
        ),
        (
            "SELECT s.region, extract(epoch FROM now() - r.opened) FROM sales s JOIN regions r ON r.name = s.region WHERE s.amount > 100.5 LIMIT 10",
            5,
            &["regions", "sales"],
        ),
        (
            "SELECT substring(region from 1 for 3), trim(both ' ' from region), position('a' in region) FROM sales",
            1,
            &["sales"],
        ),
        (
            "SELECT region FROM sales WHERE sold = DATE '2020-02-02' AND id = ANY('{1,2,3}') AND region IN ('a', 'b')",
            2,
            &["sales"],
        ),
        (
            "SELECT timestamp '2020-01-01 00:00:00', time '10:00', name FROM regions WHERE opened > now() - interval '1' day",
            3,
            &["regions"],
        ),
    ];
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for (sql, n, tables) in statements {
        run(&env, sql, n).await;
        for t in tables {
            *want.entry((*t).to_owned()).or_default() += n as i64;
        }
    }
    let r = poll_usage(&mut capture).await;
    assert_eq!(r.unattributed_calls, 0, "{r:?}");
    let events = env.usage();
    let b = buckets(&events);
    assert_eq!(b.len(), 1, "{b:?}");
    let got: BTreeMap<String, i64> = tables(&events, b[0].0)
        .into_iter()
        .map(|(name, (queries, _, _))| (name, queries))
        .collect();
    assert_eq!(got, want);
    let unparsed: Vec<String> = events
        .iter()
        .filter(|e| e.kind == UsageKind::Query)
        .filter_map(|e| e.query.as_ref())
        .filter(|q| q.parse_error.is_some())
        .map(|q| format!("{}: {:?}", q.query, q.parse_error))
        .collect();
    assert!(unparsed.is_empty(), "{unparsed:#?}");
}

/// Statements sqlparser cannot parse (read back from the real view): their calls count for
/// the tables their text names, flagged approximate, and what names no table is reported as
/// unattributed on every event of the bucket. Nothing vanishes.
#[tokio::test]
async fn unparseable_statements_count_approximately_or_as_unattributed() {
    let env = TestEnv::new("usage_fallback").await;
    env.sql(
        "CREATE EXTENSION pg_stat_statements;
         CREATE TABLE accounts (id int PRIMARY KEY, owner text);
         CREATE TABLE \"Ledger Lines\" (account int, amount numeric);
         INSERT INTO accounts VALUES (1, 'a');",
    )
    .await;
    let mut capture = env.capture().await;
    poll_usage(&mut capture).await;
    // Row locks an ORM takes, and an XML function: both outside sqlparser's grammar.
    run(
        &env,
        "SELECT id FROM accounts WHERE id = 1 FOR NO KEY UPDATE",
        3,
    )
    .await;
    run(
        &env,
        "SELECT xmlelement(name entry, l.amount) FROM \"Ledger Lines\" l JOIN accounts a ON a.id = l.account",
        2,
    )
    .await;
    // Names no table at all.
    run(
        &env,
        "SELECT * FROM ROWS FROM (generate_series(1, 3)) AS g",
        4,
    )
    .await;
    let r = poll_usage(&mut capture).await;
    assert_eq!(r.unattributed_calls, 4, "{r:?}");
    assert_eq!(r.approximate_calls, 5, "{r:?}");
    let events = env.usage();
    let b = buckets(&events);
    assert_eq!(b.len(), 1, "{b:?}");
    let bucket: Vec<&UsageEvent> = events.iter().filter(|e| e.bucket_start == b[0].0).collect();
    assert!(bucket.iter().all(|e| e.unattributed_calls == 4));
    let usage: BTreeMap<String, (i64, i64, i64)> = bucket
        .iter()
        .filter_map(|e| e.table.as_ref())
        .map(|t| {
            (
                t.name.clone(),
                (t.query_count, t.approximate_query_count, t.read_count),
            )
        })
        .collect();
    assert_eq!(usage.get("accounts"), Some(&(5, 5, 0)), "{usage:?}");
    assert_eq!(usage.get("Ledger Lines"), Some(&(2, 2, 0)), "{usage:?}");
    let approximate: Vec<(String, Vec<String>)> = bucket
        .iter()
        .filter_map(|e| e.query.as_ref())
        .filter(|q| q.approximate)
        .map(|q| (q.query.clone(), q.tables.clone()))
        .collect();
    assert_eq!(approximate.len(), 2, "{approximate:?}");
    let unattributed: Vec<&str> = bucket
        .iter()
        .filter_map(|e| e.query.as_ref())
        .filter(|q| q.parse_error.is_some() && q.tables.is_empty())
        .map(|q| q.query.as_str())
        .collect();
    assert_eq!(unattributed.len(), 1, "{unattributed:?}");
    assert!(unattributed[0].contains("ROWS FROM"), "{unattributed:?}");
}

/// pg_stat_statements keeps utility statements as typed, literals and all: a password, a
/// comment's text, a CTAS filter. None of it leaves the capture (usage events, query lineage):
/// every literal is `?`.
#[tokio::test]
async fn literals_of_utility_statements_never_leave_the_capture() {
    let env = TestEnv::new("usage_masked").await;
    env.sql(SCHEMA).await;
    let role = format!("{}_role", env.db);
    let mut capture = env.capture().await;
    poll_usage(&mut capture).await;
    run(
        &env,
        &format!("CREATE ROLE {role} PASSWORD 'hunter2-secret'"),
        1,
    )
    .await;
    run(&env, "COMMENT ON TABLE customers IS 'private note'", 1).await;
    run(
        &env,
        "CREATE TABLE vip AS SELECT * FROM customers WHERE name = 'alice-private'",
        1,
    )
    .await;
    poll_usage(&mut capture).await;
    env.sql(&format!("DROP ROLE {role}")).await;
    let texts: Vec<String> = env
        .usage()
        .iter()
        .filter_map(|e| e.query.as_ref())
        .map(|q| format!("{} {:?}", q.query, q.parse_error))
        .chain(
            env.lineage()
                .into_iter()
                .filter_map(|(_, e)| e.and_then(|e| e.sql)),
        )
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("PASSWORD ?")),
        "the role's statement is there, masked: {texts:?}"
    );
    // Masked by pgmeta (`?`), or already normalized by PostgreSQL 16+ (`$1`).
    assert!(
        texts
            .iter()
            .any(|t| t.contains("WHERE name = ?") || t.contains("WHERE name = $1")),
        "the CTAS is there, masked: {texts:?}"
    );
    for secret in ["hunter2", "private note", "alice-private"] {
        assert!(
            !texts.iter().any(|t| t.contains(secret)),
            "{secret} left the capture: {texts:?}"
        );
    }
}

/// Statements resolve against the columns of the relations their identifiers name, read for
/// the poll that parses them: quoted, mixed-case, spaced, non-ASCII and 63-byte names resolve
/// as the catalog spells them, and a table created after the first poll (its name read when
/// the catalog changed) is attributed in the next.
#[tokio::test]
async fn statements_resolve_odd_names_and_tables_created_later() {
    let env = TestEnv::new("usage_named").await;
    let long = format!("Lång {}", "x".repeat(63 - "Lång ".len()));
    assert_eq!(long.len(), 63);
    env.sql(&format!(
        r#"CREATE EXTENSION pg_stat_statements;
           CREATE SCHEMA "Sales Ü";
           CREATE TABLE "Sales Ü"."Order Lines" (id int, qty int);
           CREATE TABLE public.plain (id int);
           CREATE TABLE public."{long}" (id int, note text);"#
    ))
    .await;
    let mut capture = env.capture().await;
    poll_usage(&mut capture).await;
    run(
        &env,
        r#"INSERT INTO plain (id) SELECT id FROM "Sales Ü"."Order Lines" WHERE qty > 1"#,
        2,
    )
    .await;
    run(
        &env,
        &format!(r#"SELECT note FROM "{long}" WHERE id = 1"#),
        3,
    )
    .await;
    let r = poll_usage(&mut capture).await;
    assert_eq!(r.unattributed_calls + r.approximate_calls, 0, "{r:?}");

    env.sql("CREATE TABLE public.later (id int)").await;
    run(&env, "SELECT count(*) FROM later JOIN plain USING (id)", 4).await;
    let r = poll_usage(&mut capture).await;
    assert_eq!(r.unattributed_calls + r.approximate_calls, 0, "{r:?}");

    let events = env.usage();
    let b = buckets(&events);
    assert_eq!(b.len(), 2, "{b:?}");
    let queries = |bucket: usize| -> BTreeMap<String, i64> {
        tables(&events, b[bucket].0)
            .into_iter()
            .map(|(name, (queries, _, _))| (name, queries))
            .collect()
    };
    assert_eq!(
        queries(0),
        BTreeMap::from([
            ("Order Lines".to_owned(), 2),
            ("plain".to_owned(), 2),
            (long.clone(), 3),
        ])
    );
    assert_eq!(
        queries(1),
        BTreeMap::from([("later".to_owned(), 4), ("plain".to_owned(), 4)])
    );
}
