//! pgmeta-catalog against hostile clients, one test per finding of the black-box probe:
//! PATCH past the system-field guard, PATCH memory multiplication, quadratic wide-table PUTs,
//! unbounded metric labels, missing timeouts, unbounded nesting, orphans, error statuses and
//! bodies, forged log lines, and the access rules. The real binary, a real PostgreSQL.

use crate::common::TestEnv;
use pgmeta::testkit::{CatalogServer, PgCluster, bin_path, free_port};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "hardening-token";

/// A client of one pgmeta-catalog.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(catalog: &CatalogServer, token: Option<&str>) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
            base: format!("{}/v1", catalog.api()),
            token: token.map(str::to_owned),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            let content_type = if method == reqwest::Method::PATCH {
                "application/json-patch+json"
            } else {
                "application/json"
            };
            req = req.header("content-type", content_type).body(b.to_string());
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn patch(&self, path: &str, ops: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, Some(ops)).await
    }

    /// Service `svc`, database `svc.db`, schema `svc.db.s`.
    pub async fn parents(&self) {
        for (path, body) in CatalogServer::parent_requests() {
            let (status, answer) = self.put(path, body).await;
            assert!(status == 201 || status == 200, "{path}: {status} {answer}");
        }
    }

    pub async fn table(&self, name: &str, columns: usize) -> Value {
        let columns: Vec<Value> = (0..columns)
            .map(|i| json!({"name": format!("c{i}"), "dataType": "INT"}))
            .collect();
        let (status, t) = self
            .put("tables", json!({"name": name, "databaseSchema": "svc.db.s", "columns": columns, "description": "curated"}))
            .await;
        assert!(status == 201 || status == 200, "{status} {t}");
        t
    }
}

async fn server(env: &TestEnv, extra: &[&str]) -> (CatalogServer, Api) {
    let catalog = CatalogServer::start_with(&env.cluster.url(&env.db), Some(TOKEN), extra);
    let api = Api::new(&catalog, Some(TOKEN));
    api.parents().await;
    (catalog, api)
}

/// `compute.percentile` ranks each table with usage on a day among those tables three ways:
/// by the day's count and by the sums of the 7 and 30 days ending that day; `usageSummary`
/// carries all three.
#[tokio::test]
async fn usage_percentiles_rank_the_day_the_week_and_the_month() {
    let env = TestEnv::new("percentile").await;
    let (_catalog, api) = server(&env, &[]).await;
    let mut ids = std::collections::BTreeMap::new();
    for name in ["a", "b", "c"] {
        let t = api.table(name, 1).await;
        ids.insert(name, t["id"].as_str().expect("id").to_owned());
    }
    // On 2026-11-30 a is the least used table, but with 2026-11-25 the most used that week;
    // c's 2026-10-01 is outside both.
    for (name, date, count) in [
        ("a", "2026-11-25", 10),
        ("a", "2026-11-30", 1),
        ("b", "2026-11-30", 5),
        ("c", "2026-10-01", 100),
        ("c", "2026-11-30", 3),
    ] {
        let (status, answer) = api
            .call(
                reqwest::Method::POST,
                &format!("usage/table/{}", ids[name]),
                Some(json!({"date": date, "count": count})),
            )
            .await;
        assert!(status < 300, "{status} {answer}");
    }
    let (status, answer) = api
        .call(
            reqwest::Method::POST,
            "usage/compute.percentile/table/2026-11-30",
            None,
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let summary = |name: &'static str| {
        let id = ids[name].clone();
        let api = &api;
        async move {
            let (_, t) = api.get(&format!("tables/{id}?fields=usageSummary")).await;
            let s = &t["usageSummary"];
            [
                s["dailyStats"]["percentileRank"].as_f64(),
                s["weeklyStats"]["percentileRank"].as_f64(),
                s["monthlyStats"]["percentileRank"].as_f64(),
                s["weeklyStats"]["count"].as_f64(),
            ]
        }
    };
    assert_eq!(
        summary("a").await,
        [Some(0.0), Some(100.0), Some(100.0), Some(11.0)]
    );
    assert_eq!(
        summary("b").await,
        [Some(100.0), Some(50.0), Some(50.0), Some(5.0)]
    );
    assert_eq!(
        summary("c").await,
        [Some(50.0), Some(0.0), Some(0.0), Some(3.0)]
    );
}

#[tokio::test]
async fn a_patch_cannot_touch_system_fields_multiply_or_nest_and_a_refused_one_changes_nothing() {
    let env = TestEnv::new("patch_guard").await;
    let (_catalog, api) = server(&env, &[]).await;
    let t = api.table("t", 2).await;
    let id = t["id"].as_str().expect("id").to_owned();
    let (_, before) = api.get(&format!("tables/{id}?fields=*")).await;
    let (_, versions_before) = api.get(&format!("tables/{id}/versions")).await;
    let mut whole = t.clone();
    whole["fullyQualifiedName"] = json!("nowhere.db.s.t");
    let mut bomb =
        vec![json!({"op": "add", "path": "/extension", "value": {"d": "x".repeat(2000)}})];
    for i in 0..16 {
        bomb.push(json!({"op": "copy", "from": "/extension", "path": format!("/extension/c{i}")}));
    }
    let mut deep = json!("leaf");
    for _ in 0..70 {
        deep = json!({"a": deep});
    }
    let mut deep_by_copies = vec![json!({"op": "add", "path": "/extension", "value": {"a": {}}})];
    let mut at = "/extension/a".to_owned();
    for _ in 0..70 {
        deep_by_copies.push(json!({"op": "copy", "from": "/extension", "path": format!("{at}/a")}));
        at.push_str("/a");
    }
    let cases = [
        (
            json!([{"op": "replace", "path": "", "value": whole}]),
            "fullyQualifiedName is maintained by the server",
        ),
        (
            json!([{"op": "move", "from": "/fullyQualifiedName", "path": "/description"}]),
            "fullyQualifiedName is maintained",
        ),
        (
            json!([{"op": "copy", "from": "/description", "path": "/fullyQualifiedName"}]),
            "fullyQualifiedName is maintained",
        ),
        (
            json!([{"op": "copy", "from": "/id", "path": "/displayName"}, {"op": "replace", "path": "/id", "value": "x"}]),
            "id is maintained",
        ),
        (
            json!([{"op": "replace", "path": "/version", "value": 0.5}]),
            "version is maintained",
        ),
        (
            json!([{"op": "replace", "path": "/databaseSchema/id", "value": "other"}]),
            "databaseSchema is maintained",
        ),
        (
            json!([{"op": "replace", "path": "/deleted", "value": true}]),
            "deleted is maintained",
        ),
        (Value::Array(bomb), "larger than"),
        (
            json!([{"op": "add", "path": "/extension", "value": deep}]),
            "deeper than 64 levels",
        ),
        (Value::Array(deep_by_copies), "deeper than 64 levels"),
        (
            json!([{"op": "add", "path": "/colour", "value": "red"}]),
            "unknown field colour",
        ),
        (
            json!([{"op": "add", "path": "/columns/-", "value": {"name": "c0", "dataType": "INT"}}]),
            "duplicate column name",
        ),
    ];
    for (ops, want) in cases {
        let started = Instant::now();
        let (status, answer) = api.patch(&format!("tables/{id}"), ops.clone()).await;
        assert_eq!(status, 400, "{ops}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(want), "{ops}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{ops} took {:?}",
            started.elapsed()
        );
    }
    let (status, after) = api.get(&format!("tables/{id}?fields=*")).await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "a refused patch changed the entity");
    let (_, by_name) = api.get("tables/name/svc.db.s.t").await;
    assert_eq!(by_name["id"], json!(id));
    let (_, versions_after) = api.get(&format!("tables/{id}/versions")).await;
    assert_eq!(versions_after, versions_before);
    // A patch of what a client may change still works, and makes one new version.
    let (status, patched) = api
        .patch(
            &format!("tables/{id}"),
            json!([{"op": "replace", "path": "/description", "value": "better"}]),
        )
        .await;
    assert_eq!(
        (status, patched["description"].as_str()),
        (200, Some("better")),
        "{patched}"
    );
    assert_eq!(patched["version"], json!(0.2));
    let (status, old) = api.get(&format!("tables/{id}/versions/0.1")).await;
    assert_eq!(
        (status, old["description"].as_str()),
        (200, Some("curated"))
    );
}

#[tokio::test]
async fn wide_tables_are_merged_in_linear_time_and_healthz_stays_fast() {
    let env = TestEnv::new("wide_put").await;
    // Quadratic merge took ~3 s at 5,000 columns and ~60 s at 20,000 (release build): past
    // this request timeout, the old server answered 503.
    let (catalog, api) = server(&env, &["--request-timeout", "30s"]).await;
    let n = 20_000;
    api.table("wide", n).await;
    let changed = |extra: &str| {
        let mut cols: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("c{i}"), "dataType": "INT"}))
            .collect();
        cols[n - 1]["dataType"] = json!("BIGINT");
        cols.push(json!({"name": extra, "dataType": "TEXT"}));
        json!({"name": "wide", "databaseSchema": "svc.db.s", "columns": cols})
    };
    let (status, t) = api.put("tables", changed("x1")).await;
    assert_eq!(status, 200, "{t}");
    let fields = &t["changeDescription"]["fieldsUpdated"];
    assert_eq!(fields[0]["name"], "columns.c19999.dataType", "{fields}");
    assert_eq!(t["description"], "curated");
    assert_eq!(t["version"], json!(1.1));
    // Two concurrent wide PUTs; /healthz answers meanwhile (the work is on blocking threads).
    let health = format!("http://127.0.0.1:{}/healthz", catalog.port);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let puts = tokio::spawn({
        let a = Api::new(&catalog, Some(TOKEN));
        let (b1, b2) = (changed("x2"), changed("x3"));
        async move {
            let (r1, r2) = tokio::join!(a.put("tables", b1), a.put("tables", b2));
            (r1.0, r2.0)
        }
    });
    let mut answered = 0;
    while !puts.is_finished() {
        let r = http
            .get(&health)
            .send()
            .await
            .expect("healthz answers within 2 s");
        assert_eq!(r.status().as_u16(), 200);
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(puts.await.expect("puts"), (200, 200));
    assert!(answered > 0);
}

#[tokio::test]
async fn metric_labels_come_from_a_fixed_set() {
    let env = TestEnv::new("labels").await;
    let (catalog, api) = server(&env, &[]).await;
    let anonymous = Api::new(&catalog, None);
    for i in 0..200 {
        let method = reqwest::Method::from_bytes(format!("M{i}X").as_bytes()).expect("method");
        let path = format!("tables/{i}/x{i}");
        api.call(method.clone(), &path, None).await;
        anonymous.call(method, "tables", None).await;
    }
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", catalog.port))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let allowed_methods = [
        "GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "other",
    ];
    let mut series = 0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("pgmeta_catalog_requests_total{"))
    {
        series += 1;
        let method = line
            .split("method=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        let route = line
            .split("route=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        assert!(allowed_methods.contains(&method), "{line}");
        assert!(
            route == "unmatched" || route.starts_with("/api/v1/") || route.starts_with('/'),
            "{line}"
        );
        assert!(!line.contains("M1X") && !route.contains("x1"), "{line}");
    }
    assert!(series > 0 && series < 50, "{series} series:\n{text}");
    assert!(text.contains("method=\"other\""), "{text}");
}

/// Reads until the server closes the connection (Ok) or `limit` passes (Err).
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(started.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Ok(started.elapsed());
            }
            Err(e) => return Err(format!("still open after {:?}: {e}", started.elapsed())),
        }
        if started.elapsed() > limit {
            return Err(format!("still open after {limit:?}"));
        }
    }
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off_and_shutdown_has_a_deadline() {
    let env = TestEnv::new("timeouts").await;
    let (mut catalog, _api) = server(
        &env,
        &["--header-read-timeout", "1s", "--shutdown-timeout", "2s"],
    )
    .await;
    let port = catalog.port;
    // Half the headers, never the rest.
    let mut half = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("write");
    let took =
        closed_within(&mut half, Duration::from_secs(10)).expect("half-header connection closed");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A kept-alive connection that goes idle after one request.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("write");
    let took = closed_within(&mut idle, Duration::from_secs(10)).expect("idle connection closed");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // SIGTERM while a client holds a connection with half its headers: the server still exits.
    let mut holder = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    holder
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .expect("write");
    let started = Instant::now();
    let status = catalog.service.terminate(Duration::from_secs(15));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}; log:\n{}",
        catalog.service.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_held_row_lock_is_a_503_with_a_reason_not_a_hang() {
    let env = TestEnv::new("pool_held").await;
    let (catalog, api) = server(
        &env,
        &[
            "--pool-size",
            "2",
            "--pool-timeout",
            "1s",
            "--lock-timeout",
            "60s",
        ],
    )
    .await;
    let t = api.table("t", 1).await;
    let id = t["id"].as_str().expect("id").to_owned();
    let mut holder = env.cluster.client(&env.db).await;
    let tx = holder.transaction().await.expect("begin");
    tx.execute(
        "SELECT 1 FROM pgmeta_catalog.entity WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await
    .expect("lock");
    // Two PATCHes wait on the row lock and hold both pooled connections.
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let a = Api::new(&catalog, Some(TOKEN));
            let path = format!("tables/{id}");
            tokio::spawn(async move {
                a.patch(
                    &path,
                    json!([{"op": "replace", "path": "/description", "value": format!("d{i}")}]),
                )
                .await
                .0
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, answer) = loop {
        let started = Instant::now();
        let (status, answer) = api.get(&format!("tables/{id}")).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "GET took {:?}",
            started.elapsed()
        );
        if status == 503 || Instant::now() > deadline {
            break (status, answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("connections to the catalog database are busy"),
        "{answer}"
    );
    let ready = reqwest::get(format!("http://127.0.0.1:{}/readyz", catalog.port))
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 503);
    assert!(ready.text().await.unwrap_or_default().contains("busy"));
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", catalog.port))
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    tx.rollback().await.expect("release");
    for w in waiting {
        assert_eq!(w.await.expect("patch"), 200);
    }
    assert_eq!(api.get(&format!("tables/{id}")).await.0, 200);
}

async fn orphans(env: &TestEnv) -> i64 {
    env.client
        .query_one(
            "SELECT count(*) FROM pgmeta_catalog.entity c LEFT JOIN pgmeta_catalog.entity p ON p.id = c.parent_id \
             WHERE c.parent_id IS NOT NULL AND (p.id IS NULL OR (p.deleted AND NOT c.deleted))",
            &[],
        )
        .await
        .expect("orphans")
        .get(0)
}

#[tokio::test]
async fn no_child_outlives_its_parent_under_concurrent_create_and_delete() {
    let env = TestEnv::new("orphans").await;
    let (catalog, api) = server(&env, &[]).await;
    for round in 0..6 {
        api.parents().await;
        let hard = round % 2 == 0;
        let creates: Vec<_> = (0..20)
            .map(|i| {
                let a = Api::new(&catalog, Some(TOKEN));
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(i * 3)).await;
                    a.put("tables", json!({"name": format!("t{i}"), "databaseSchema": "svc.db.s", "columns": []}))
                        .await
                        .0
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, answer) = api
            .call(
                reqwest::Method::DELETE,
                &format!("databases/name/svc.db?recursive=true&hardDelete={hard}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        for c in creates {
            let status = c.await.expect("create");
            assert!(
                [200, 201, 404].contains(&status),
                "create answered {status}"
            );
        }
        assert_eq!(
            orphans(&env).await,
            0,
            "round {round} (hard delete: {hard}) left orphans"
        );
        if !hard {
            api.call(
                reqwest::Method::DELETE,
                "databases/name/svc.db?recursive=true&hardDelete=true",
                None,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_json_body() {
    let env = TestEnv::new("bad_input").await;
    let (catalog, api) = server(&env, &["--max-body-bytes", "1048576"]).await;
    let t = api.table("t", 1).await;
    let id = t["id"].as_str().expect("id").to_owned();
    let mut deep = json!(1);
    for _ in 0..70 {
        deep = json!([deep]);
    }
    let cases: Vec<(reqwest::Method, String, Option<Value>, u16, &str)> = vec![
        (
            reqwest::Method::PUT,
            "tables".into(),
            Some(
                json!({"name": "nul", "databaseSchema": "svc.db.s", "columns": [], "description": "a\u{0}b"}),
            ),
            400,
            "NUL",
        ),
        (
            reqwest::Method::POST,
            format!("usage/table/{id}"),
            Some(json!({"date": "2026-02-30", "count": 1})),
            400,
            "not a YYYY-MM-DD date",
        ),
        (
            reqwest::Method::GET,
            format!("usage/table/{id}?date=2026-13-45"),
            None,
            400,
            "invalid value",
        ),
        (
            reqwest::Method::POST,
            format!("usage/table/{id}"),
            Some(json!({"date": "2026-01-01", "count": i64::MAX})),
            200,
            "",
        ),
        (
            reqwest::Method::POST,
            format!("usage/table/{id}"),
            Some(json!({"date": "2026-01-01", "count": i64::MAX})),
            400,
            "invalid value",
        ),
        (
            reqwest::Method::POST,
            format!("usage/table/{id}"),
            Some(json!({"date": "2026-01-01", "count": 1e30})),
            400,
            "count is required",
        ),
        (
            reqwest::Method::PUT,
            "tables".into(),
            Some(
                json!({"name": "d", "databaseSchema": "svc.db.s", "columns": [], "extension": deep}),
            ),
            400,
            "deeper than 64 levels",
        ),
        (
            reqwest::Method::GET,
            "tables?limit=99999999999999999999".into(),
            None,
            400,
            "limit must be",
        ),
        (
            reqwest::Method::GET,
            "tables/versions/x/y/z".into(),
            None,
            404,
            "no such route",
        ),
        (
            reqwest::Method::POST,
            "tables".into(),
            None,
            405,
            "Method Not Allowed",
        ),
        (reqwest::Method::GET, "tables/%FF".into(), None, 400, ""),
    ];
    for (method, path, body, want_status, want) in cases {
        let (status, answer) = api.call(method.clone(), &path, body).await;
        assert_eq!(status, want_status, "{method} {path}: {answer}");
        if want_status >= 400 {
            assert_eq!(
                answer["code"],
                json!(want_status),
                "{method} {path}: not a JSON error body: {answer}"
            );
        }
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(want), "{method} {path}: {message}");
    }
    // Past --max-body-bytes: 413, in JSON. On a client of its own: the server closes a
    // connection whose body it did not read, and a pooled client could reuse it.
    let once = Api::new(&catalog, Some(TOKEN));
    let big = json!({"name": "big", "databaseSchema": "svc.db.s", "columns": [], "description": "x".repeat(2 << 20)});
    let (status, answer) = once.put("tables", big).await;
    assert_eq!((status, &answer["code"]), (413, &json!(413)), "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("length limit"),
        "{answer}"
    );
    // Another content type: 415, in JSON.
    let r = api
        .http
        .put(format!("{}/tables", api.base))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 415);
    let body: Value = r.json().await.expect("json body");
    assert_eq!(body["code"], 415);
    // Inputs with newlines reach no log line as lines of their own.
    let forged = "x\nFORGED level=ERROR pgmeta";
    api.call(
        reqwest::Method::POST,
        &format!("usage/table/{id}"),
        Some(json!({"date": forged, "count": 1})),
    )
    .await;
    api.put("tables", json!({"name": forged, "databaseSchema": "svc.db.s", "columns": [{"name": forged, "dataType": forged}]})).await;
    api.get(&format!("tables/name/{}", forged.replace('\n', "%0A")))
        .await;
    api.patch(
        &format!("tables/{id}"),
        json!([{"op": "add", "path": "/x\ny", "value": forged}]),
    )
    .await;
    let log = catalog.service.log();
    assert!(!log.lines().any(|l| l.starts_with("FORGED")), "{log}");
}

#[tokio::test]
async fn an_outage_is_a_503_that_names_no_connection_detail() {
    let mut cluster = PgCluster::start();
    let db = "catalog_outage_db";
    cluster.create_database(db).await;
    let catalog =
        CatalogServer::start_with(&cluster.url(db), Some(TOKEN), &["--pool-timeout", "2s"]);
    let api = Api::new(&catalog, Some(TOKEN));
    api.parents().await;
    cluster.stop();
    let (status, answer) = api.get("tables/name/svc.db.s.t").await;
    assert_eq!(status, 503, "{answer}");
    let text = answer.to_string();
    let port = cluster.port().to_string();
    for secret in [
        port.as_str(),
        "127.0.0.1",
        "localhost",
        db,
        "postgres",
        pgmeta::testkit::SUPERUSER_PASSWORD,
    ] {
        assert!(!text.contains(secret), "the answer names {secret}: {text}");
    }
    let ready = reqwest::get(format!("http://127.0.0.1:{}/readyz", catalog.port))
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 503);
    let body = ready.text().await.unwrap_or_default();
    assert!(
        body.contains("catalog database unreachable") && !body.contains(&port),
        "{body}"
    );
    assert!(
        !catalog
            .service
            .log()
            .contains(pgmeta::testkit::SUPERUSER_PASSWORD)
    );
}

fn run_catalog(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(bin_path("pgmeta-catalog"))
        .args(args)
        .env_remove("PGMETA_CATALOG_TOKEN")
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start pgmeta-catalog");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, String::new())
}

#[tokio::test]
async fn tokens_come_from_the_environment_or_a_file_and_strangers_are_refused() {
    let env = TestEnv::new("access").await;
    let url = env.cluster.url(&env.db);
    // No secret on the command line; an empty token; no token on a non-loopback address.
    let (code, err) = run_catalog(&["--database-url", &url, "--token", "x"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--token"), "{err}");
    let (code, err) = run_catalog(&["--database-url", &url], &[("PGMETA_CATALOG_TOKEN", "  ")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the token is empty"), "{err}");
    let listen = format!("0.0.0.0:{}", free_port());
    let (code, err) = run_catalog(&["--database-url", &url, "--listen", &listen], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--insecure-no-auth"), "{err}");
    // With --insecure-no-auth it serves.
    let open = CatalogServer::start_with(&url, None, &["--insecure-no-auth"]);
    drop(open);

    // A token server: the scheme in any case, the token exact.
    let (catalog, api) = server(&env, &[]).await;
    let call = |auth: &'static str| {
        let http = api.http.clone();
        let url = format!("{}/tables", api.base);
        async move {
            http.get(url)
                .header("authorization", auth)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(call("bearer hardening-token").await, 200);
    assert_eq!(call("BEARER hardening-token").await, 200);
    assert_eq!(call("Bearer hardening-toke").await, 401);
    assert_eq!(call("Bearer hardening-token2").await, 401);
    assert_eq!(call("Basic hardening-token").await, 401);
    drop(catalog);

    // Without a token: IP addresses and localhost, not foreign names (DNS rebinding) or
    // foreign origins (a cross-site page).
    let open = CatalogServer::start(&url, None);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", open.port);
    let get = |host: Option<&'static str>, origin: Option<&'static str>, path: &'static str| {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(h) = host {
            req = req.header("host", h);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        async move {
            let r = req.send().await.expect("request");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(get(None, None, "/api/v1/tables").await.0, 200);
    assert_eq!(
        get(
            Some("localhost:1"),
            Some("http://localhost:1"),
            "/api/v1/tables"
        )
        .await
        .0,
        200
    );
    let (status, body) = get(Some("attacker.example:8585"), None, "/api/v1/tables").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("\"code\":403"), "{body}");
    assert_eq!(get(Some("attacker.example"), None, "/metrics").await.0, 403);
    assert_eq!(
        get(None, Some("http://attacker.example"), "/api/v1/tables")
            .await
            .0,
        403
    );
}
