//! pgmeta-catalog against OpenMetadata's official Python client (openmetadata-ingestion, in
//! the venv `scripts/install-python-tools.sh` makes), and pgmeta-apply's request bodies against
//! that client's generated request models.

use crate::common::{TestEnv, poll_ok};
use pgmeta::testkit::CatalogServer;
use std::path::PathBuf;
use std::process::Command;

fn client_python() -> Option<PathBuf> {
    pgmeta::testkit::venv_program("venv-openmetadata", "python")
}

fn script() -> PathBuf {
    pgmeta::testkit::project_dir().join("tests/conformance/openmetadata_client.py")
}

/// The catalog's request counters (`pgmeta_catalog_requests_total` lines of its /metrics).
async fn request_counts(catalog: &CatalogServer) -> Vec<String> {
    reqwest::get(format!("http://127.0.0.1:{}/metrics", catalog.port))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
        .lines()
        .filter(|l| l.starts_with("pgmeta_catalog_requests_total"))
        .map(str::to_owned)
        .collect()
}

fn run(python: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "conformance script failed:\n{text}");
    text
}

#[tokio::test]
async fn the_official_openmetadata_client_works_against_pgmeta_catalog() {
    let Some(python) = client_python() else {
        pgmeta::testkit::skip(
            "the_official_openmetadata_client_works_against_pgmeta_catalog",
            pgmeta::testkit::Missing::Tool,
            "no openmetadata-ingestion venv (run scripts/install-python-tools.sh)",
        );
        return;
    };
    let env = TestEnv::new("conformance").await;
    let catalog = CatalogServer::start(&env.cluster.url(&env.db), Some("conformance-token"));
    let out = run(&python, &["drive", &catalog.api(), "conformance-token"]);
    assert!(out.contains("conformance: 35 checks passed"), "{out}");
    // The edge added twice went through the PATCH route, not the client's PUT fallback.
    let requests = request_counts(&catalog).await;
    assert!(
        requests.iter().any(|l| l.contains("method=\"PATCH\"")
            && l.contains("route=\"/api/v1/lineage/{from_type}/{from_id}/{to_type}/{to_id}\"")
            && l.contains("status=\"2xx\"")),
        "no successful PATCH of a lineage edge: {requests:?}"
    );
}

#[tokio::test]
async fn apply_request_bodies_validate_against_the_client_models() {
    let Some(python) = client_python() else {
        pgmeta::testkit::skip(
            "apply_request_bodies_validate_against_the_client_models",
            pgmeta::testkit::Missing::Tool,
            "no openmetadata-ingestion venv (run scripts/install-python-tools.sh)",
        );
        return;
    };
    let env = TestEnv::new("conformance_bodies").await;
    env.sql(&crate::apply::bookshop_sql(env.cluster.major_version()))
        .await;
    env.sql("CREATE TABLE \"Odd \"\"name\"\".x\" (\"ü col\" varchar(63) NOT NULL, arr int[], n numeric(8,3), r int4range)").await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let mut lines = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for record in env.records() {
        let Some(e) = record.event else { continue };
        let Ok(name) = pgmeta::apply::EntityName::of_event(&e) else {
            panic!("the capture sent a malformed name: {}", e.fqn);
        };
        let Some(body) = pgmeta::apply::create_request(&e, &name) else {
            continue;
        };
        let model = match e.entity_type {
            pgmeta::model::EntityType::Database => "CreateDatabaseRequest",
            pgmeta::model::EntityType::DatabaseSchema => "CreateDatabaseSchemaRequest",
            pgmeta::model::EntityType::Table => "CreateTableRequest",
            pgmeta::model::EntityType::Routine => "CreateStoredProcedureRequest",
        };
        kinds.insert(model);
        lines.push(serde_json::json!({"model": model, "body": body}).to_string());
    }
    for l in env.lineage().into_iter().filter_map(|(_, e)| e) {
        let id = "0b7c2f0e-8b8e-4a8e-9a63-6a8d5c7b1f21";
        let body = serde_json::json!({"edge": {
            "fromEntity": {"id": id, "type": "table"},
            "toEntity": {"id": id, "type": "table"},
            "lineageDetails": pgmeta::apply::lineage_details(&l, Some(serde_json::json!({"id": id, "type": "storedProcedure"}))),
        }});
        kinds.insert("AddLineageRequest");
        lines.push(serde_json::json!({"model": "AddLineageRequest", "body": body}).to_string());
    }
    assert_eq!(kinds.len(), 5, "every kind of body: {kinds:?}");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), lines.join("\n")).expect("write bodies");
    let out = run(&python, &["validate", &file.path().to_string_lossy()]);
    assert!(out.contains("CreateTableRequest bodies validate"), "{out}");
}

#[tokio::test]
async fn bad_requests_are_rejected_naming_the_field() {
    let env = TestEnv::new("catalog_errors").await;
    let catalog = CatalogServer::start(&env.cluster.url(&env.db), Some("t0ken"));
    let http = reqwest::Client::new();
    let put = |path: &str, body: serde_json::Value, token: Option<&str>| {
        let mut req = http.put(format!("{}/v1/{path}", catalog.api())).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let service = serde_json::json!({"name": "svc", "serviceType": "Postgres"});
    let (status, body) = put("services/databaseServices", service.clone(), None).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("missing or wrong bearer token"))
    );
    let (status, _) = put("services/databaseServices", service.clone(), Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, _) = put("services/databaseServices", service, Some("t0ken")).await;
    assert_eq!(status, 201);
    let cases = [
        (
            "databases",
            serde_json::json!({"service": "svc"}),
            400,
            "name is required",
        ),
        (
            "databases",
            serde_json::json!({"name": "d", "service": "nope"}),
            404,
            "databaseService instance for nope not found",
        ),
        (
            "databases",
            serde_json::json!({"name": "d", "service": "svc", "colour": "red"}),
            400,
            "unknown field colour",
        ),
        (
            "tables",
            serde_json::json!({"name": "t", "databaseSchema": "svc.d.s", "columns": [{"name": "a", "dataType": "SERIAL"}]}),
            400,
            "columns[0].dataType \"SERIAL\" is not an OpenMetadata data type",
        ),
    ];
    for (path, body, want_status, want) in cases {
        let (status, answer) = put(path, body.clone(), Some("t0ken")).await;
        let message = answer["message"].as_str().unwrap_or_default();
        assert_eq!(status, want_status, "{body}: {answer}");
        assert!(message.starts_with(want), "{body}: {message}");
        assert_eq!(answer["code"], want_status);
    }
    let malformed = http
        .put(format!("{}/v1/tables", catalog.api()))
        .bearer_auth("t0ken")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status().as_u16(), 400);
    // Health and metrics need no token.
    let ready = http
        .get(format!("http://127.0.0.1:{}/readyz", catalog.port))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status().as_u16(), 200);
    let metrics = http
        .get(format!("http://127.0.0.1:{}/metrics", catalog.port))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.unwrap_or_default();
    assert!(
        text.contains("pgmeta_catalog_requests_total{method=\"PUT\",route=\"/api/v1/databases\",status=\"4xx\"}"),
        "{text}"
    );
}

/// One workflow config of OpenMetadata's ingestion framework for the test database, writing
/// to the server at `api` as service `service`.
fn workflow_config(
    env: &TestEnv,
    (api, token, service): (&str, &str, &str),
    source_type: &str,
    source_config: &str,
    rest: &str,
) -> String {
    format!(
        "source:\n  type: {source_type}\n  serviceName: {service}\n  serviceConnection:\n    config:\n      type: Postgres\n\
         \x20     username: postgres\n      authType:\n        password: \"{password}\"\n      hostPort: 127.0.0.1:{port}\n\
         \x20     database: {db}\n  sourceConfig:\n    config:\n{source_config}\n{rest}\
         workflowConfig:\n  loggerLevel: INFO\n  openMetadataServerConfig:\n    hostPort: {api}\n\
         \x20   authProvider: openmetadata\n    securityConfig:\n      jwtToken: {token}\n",
        password = pgmeta::testkit::SUPERUSER_PASSWORD,
        port = env.cluster.port(),
        db = env.db,
    )
}

/// `metadata`, OpenMetadata's ingestion CLI, from the cached venv; else `test` is recorded
/// as skipped for the missing tool.
pub fn openmetadata_cli_or_skip(test: &str) -> Option<PathBuf> {
    let cli = pgmeta::testkit::venv_program("venv-openmetadata", "metadata");
    if cli.is_none() {
        pgmeta::testkit::skip(
            test,
            pgmeta::testkit::Missing::Tool,
            "no openmetadata-ingestion venv (run scripts/install-python-tools.sh)",
        );
    }
    cli
}

/// Runs OpenMetadata's own Postgres connector on the test database into the server at `api`
/// as service `service`: `metadata ingest` with the metadata and then the lineage workflow,
/// then `metadata usage`. Panics with the end of its output when one does not exit 0.
pub fn run_openmetadata_workflows(
    cli: &PathBuf,
    env: &TestEnv,
    api: &str,
    token: &str,
    service: &str,
) {
    run_workflows(cli, env, (api, token, service), false);
}

/// Only the metadata workflow (`metadata ingest` with the `postgres` source).
pub fn run_openmetadata_metadata_workflow(
    cli: &PathBuf,
    env: &TestEnv,
    api: &str,
    token: &str,
    service: &str,
) {
    run_workflows(cli, env, (api, token, service), true);
}

fn run_workflows(
    cli: &PathBuf,
    env: &TestEnv,
    (api, token, service): (&str, &str, &str),
    metadata_only: bool,
) {
    let dir = tempfile::tempdir().expect("dir");
    let stage = dir.path().join("usage-stage");
    let sink = "sink:\n  type: metadata-rest\n  config: {}\n";
    let usage_steps = format!(
        "processor:\n  type: query-parser\n  config: {{}}\nstage:\n  type: table-usage\n  config:\n    filename: {s}\n\
         bulkSink:\n  type: metadata-usage\n  config:\n    filename: {s}\n",
        s = stage.display()
    );
    let runs = [
        (
            "ingest",
            "postgres",
            "      type: DatabaseMetadata".to_owned(),
            sink.to_owned(),
        ),
        (
            "ingest",
            "postgres-lineage",
            "      type: DatabaseLineage".to_owned(),
            sink.to_owned(),
        ),
        (
            "usage",
            "postgres-usage",
            // The test cluster's pg_stat_statements holds every test database's statements,
            // the same texts among them (the demo's workload): this database's only (the
            // connector's filterCondition on pg_stat_statements), all of them.
            format!(
                "      type: DatabaseUsage\n      queryLogDuration: 1\n      resultLimit: 1000000\n\
                 \x20     filterCondition: \"dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = '{}')\"",
                env.db
            ),
            usage_steps,
        ),
    ];
    let runs = if metadata_only { &runs[..1] } else { &runs[..] };
    for (command, source_type, source_config, rest) in runs {
        let config = dir.path().join(format!("{source_type}.yaml"));
        std::fs::write(
            &config,
            workflow_config(env, (api, token, service), source_type, source_config, rest),
        )
        .expect("workflow config");
        let out = Command::new(cli)
            .arg(command)
            .arg("-c")
            .arg(&config)
            .output()
            .expect("run metadata");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = text.lines().rev().take(60).collect();
        assert!(
            out.status.success(),
            "metadata {command} ({source_type}) failed:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// OpenMetadata's own Postgres connector runs against pgmeta-catalog: `metadata ingest` with
/// the metadata and the lineage workflow, and `metadata usage`, each with exit status 0, and
/// what they wrote is there (tables, view lineage, usage, queries). Every route they called is
/// one the server has (none unmatched).
#[tokio::test]
async fn openmetadata_ingestion_workflows_run_against_pgmeta_catalog() {
    let test = "openmetadata_ingestion_workflows_run_against_pgmeta_catalog";
    let Some(metadata) = openmetadata_cli_or_skip(test) else {
        return;
    };
    let env = TestEnv::new("om_ingest").await;
    env.sql(&crate::apply::bookshop_sql(env.cluster.major_version()))
        .await;
    // The demo's changes, then its workload (reads, a join, an ETL statement, a call).
    let demo = pgmeta::testkit::project_dir().join("demo");
    env.cluster.psql_file(&env.db, &demo.join("changes.sql"));
    env.cluster.psql_file(&env.db, &demo.join("workload.sql"));
    let catalog_db = format!("{}_catalog", env.db);
    env.cluster.create_database(&catalog_db).await;
    let token = "om-ingest-token";
    let catalog = CatalogServer::start(&env.cluster.url(&catalog_db), Some(token));
    run_openmetadata_workflows(&metadata, &env, &catalog.api(), token, "om");

    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http
            .get(format!("{}/v1/{path}", catalog.api()))
            .bearer_auth(token);
        async move {
            let response = request.send().await.expect("GET");
            let status = response.status();
            let body: serde_json::Value = response.json().await.expect("json");
            assert!(status.is_success(), "GET {path}: {status} {body}");
            body
        }
    };
    let tables = get(format!("tables?limit=1000&database=om.{}", env.db)).await;
    let names: Vec<&str> = tables["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["fullyQualifiedName"].as_str())
        .collect();
    for t in [
        "catalog.books",
        "catalog.authors",
        "sales.orders",
        "reporting.book_sales",
    ] {
        let fqn = format!("om.{}.{t}", env.db);
        assert!(names.contains(&fqn.as_str()), "{fqn} not in {names:?}");
    }
    let lineage = get(format!(
        "lineage/table/name/{}?upstreamDepth=1&downstreamDepth=0",
        pgmeta::apply::encode_path(&format!("om.{}.reporting.book_sales", env.db))
    ))
    .await;
    assert!(
        lineage["upstreamEdges"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "the lineage workflow wrote the view's edges: {lineage}"
    );
    let books = get(format!(
        "tables/name/{}?fields=usageSummary,joins",
        pgmeta::apply::encode_path(&format!("om.{}.catalog.books", env.db))
    ))
    .await;
    assert!(
        books["usageSummary"]["dailyStats"]["count"]
            .as_i64()
            .is_some_and(|c| c > 0),
        "the usage workflow counted books: {}",
        books["usageSummary"]
    );
    let queries = get("queries?limit=1000&fields=queryUsedIn".to_owned()).await;
    assert!(
        queries["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|q| q["queryUsedIn"].as_array().is_some_and(|u| !u.is_empty())),
        "queries with the tables they were used in: {queries}"
    );
    let unmatched: Vec<String> = request_counts(&catalog)
        .await
        .into_iter()
        .filter(|l| l.contains("route=\"unmatched\""))
        .collect();
    assert!(
        unmatched.is_empty(),
        "calls to routes pgmeta-catalog lacks: {unmatched:?}"
    );
}
