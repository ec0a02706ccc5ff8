//! `make bench` (openmetadata): OpenMetadata's own Postgres connector and pgmeta side by side,
//! on the same database (pagila from `../shared/corpus`, else the demo database) into the
//! same pgmeta-catalog, each as processes under GNU time:
//! - OpenMetadata: `metadata ingest` (metadata workflow) as service `om`;
//! - pgmeta: `pgmeta-capture snapshot --once` onto the broker, then `pgmeta-apply` until the catalog
//!   holds every table, as service `svc`.
//!
//! Printed per path: wall time, peak RSS, HTTP requests the catalog answered; then the time
//! from a DDL to the catalog: pgmeta measured (replication path), OpenMetadata's is its next
//! scheduled run (at least its run's wall time after the schedule fires).

use pgmeta::testkit::{Broker, CatalogServer, PgCluster, bin_path, free_port};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";

/// A process under `/usr/bin/time`, its figures written to `figures`.
fn timed(program: &Path, args: &[String], envs: &[(&str, &str)], figures: &Path) -> Child {
    Command::new("/usr/bin/time")
        .arg("-o")
        .arg(figures)
        .args(["-f", "%e %M"])
        .arg(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()))
}

/// GNU time's `%e %M`: wall seconds and peak RSS in kB.
fn figures(path: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let last = text.lines().last().unwrap_or_default().to_owned();
    let mut parts = last
        .split_whitespace()
        .map(|p| p.parse::<f64>().unwrap_or(0.0));
    (parts.next().unwrap_or(0.0), parts.next().unwrap_or(0.0))
}

/// Requests pgmeta-catalog has answered so far.
async fn requests(http: &reqwest::Client, catalog: &CatalogServer) -> f64 {
    let text = async {
        http.get(format!("http://127.0.0.1:{}/metrics", catalog.port))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    }
    .await
    .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("pgmeta_catalog_request_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// How many live tables the catalog holds under `service`.
async fn tables(http: &reqwest::Client, catalog: &CatalogServer, service: &str) -> u64 {
    let page: Option<Value> = async {
        http.get(format!(
            "{}/v1/tables?service={service}&limit=1",
            catalog.api()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
    }
    .await;
    page.and_then(|p| p["paging"]["total"].as_u64())
        .unwrap_or(0)
}

/// A process under time that runs until stopped: SIGTERM to time's child (time passes no
/// signal on), then time writes its figures and exits. Stopped when dropped, too.
struct Running(Option<Child>);

impl Running {
    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("pkill")
                .args(["-TERM", "-P", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(cli) = pgmeta::testkit::venv_program("venv-openmetadata", "metadata") else {
        println!(
            "openmetadata: skipped, no openmetadata-ingestion venv (run scripts/install-python-tools.sh)"
        );
        return Ok(());
    };
    let cluster = PgCluster::start();
    let broker = Broker::start_on(free_port(), false);
    let source = cluster.create_database("source").await;
    cluster.create_database("catalog").await;
    let corpus = std::env::var("PGMETA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| pgmeta::testkit::project_dir().join("../shared/corpus"));
    let pagila = corpus.join("pagila/pagila-schema.sql");
    let name = if pagila.exists() {
        cluster.psql_file("source", &pagila);
        cluster.psql_file("source", &corpus.join("pagila/pagila-data.sql"));
        "pagila (schema and data)"
    } else {
        let demo = pgmeta::testkit::project_dir().join("demo");
        cluster.psql_file("source", &demo.join("bookshop.sql"));
        "the demo database"
    };
    pgmeta::pg::ddl_trigger::install(&source, "bench").await?;
    let catalog = CatalogServer::start(&cluster.url("catalog"), Some(TOKEN));
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir()?;

    // OpenMetadata's metadata workflow, service om.
    let workflow = dir.path().join("om.yaml");
    std::fs::write(
        &workflow,
        format!(
            "source:\n  type: postgres\n  serviceName: om\n  serviceConnection:\n    config:\n      type: Postgres\n\
             \x20     username: postgres\n      authType:\n        password: \"{password}\"\n      hostPort: 127.0.0.1:{port}\n\
             \x20     database: source\n  sourceConfig:\n    config:\n      type: DatabaseMetadata\n\
             sink:\n  type: metadata-rest\n  config: {{}}\n\
             workflowConfig:\n  loggerLevel: WARN\n  openMetadataServerConfig:\n    hostPort: {api}\n\
             \x20   authProvider: openmetadata\n    securityConfig:\n      jwtToken: {TOKEN}\n",
            password = pgmeta::testkit::SUPERUSER_PASSWORD,
            port = cluster.port(),
            api = catalog.api(),
        ),
    )?;
    let before = requests(&http, &catalog).await;
    let om_figures = dir.path().join("om.time");
    let status = timed(
        &cli,
        &["ingest".into(), "-c".into(), workflow.display().to_string()],
        &[],
        &om_figures,
    )
    .wait()?;
    if !status.success() {
        return Err("metadata ingest failed".into());
    }
    let (om_wall, om_rss) = figures(&om_figures);
    let om_requests = requests(&http, &catalog).await - before;
    let om_tables = tables(&http, &catalog, "om").await;

    // pgmeta: the snapshot onto the broker, then apply into the catalog, service svc.
    // The snapshot reads once and exits; the same capture with replication then follows DDL.
    let capture_config = |replication: bool| {
        format!(
            "service_name = \"svc\"\n[source]\nurl = \"{url}\"\n[usage]\nenabled = false\n[replication]\nenabled = {replication}\n\
             [kafka]\nbrokers = \"{brokers}\"\nmetadata_topic = \"bench.metadata\"\nusage_topic = \"bench.usage\"\n\
             lineage_topic = \"bench.lineage\"\n[state]\ndir = \"{state}\"\n",
            url = cluster.url("source"),
            brokers = broker.bootstrap(),
            state = dir.path().join("state").display(),
        )
    };
    let config = dir.path().join("capture.toml");
    std::fs::write(&config, capture_config(false))?;
    let replicating = dir.path().join("replicating.toml");
    std::fs::write(&replicating, capture_config(true))?;
    let before = requests(&http, &catalog).await;
    let capture_figures = dir.path().join("capture.time");
    let status = timed(
        &bin_path("pgmeta-capture"),
        &[
            "--config".into(),
            config.display().to_string(),
            "snapshot".into(),
            "--once".into(),
        ],
        &[],
        &capture_figures,
    )
    .wait()?;
    if !status.success() {
        return Err("pgmeta-capture snapshot failed".into());
    }
    let (capture_wall, capture_rss) = figures(&capture_figures);
    let apply_args: Vec<String> = [
        "--brokers",
        &broker.bootstrap(),
        "--group",
        "bench",
        "--metadata-topic",
        "bench.metadata",
        "--usage-topic",
        "bench.usage",
        "--lineage-topic",
        "bench.lineage",
        "--server-url",
        &catalog.api(),
        "--log-level",
        "warn",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let apply_figures = dir.path().join("apply.time");
    let apply_started = Instant::now();
    let mut apply = Running(Some(timed(
        &bin_path("pgmeta-apply"),
        &apply_args,
        &[("PGMETA_APPLY_TOKEN", TOKEN)],
        &apply_figures,
    )));
    let want = {
        let row = source
            .query_one(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r','p','v','m','f') AND n.nspname NOT IN ('pg_catalog','information_schema','pgmeta') \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')",
                &[],
            )
            .await?;
        row.get::<_, i64>(0) as u64
    };
    while tables(&http, &catalog, "svc").await < want {
        if apply_started.elapsed() > Duration::from_secs(600) {
            return Err("pgmeta-apply did not finish within 600 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let apply_wall = apply_started.elapsed().as_secs_f64();
    let pgmeta_requests = requests(&http, &catalog).await - before;

    // DDL to catalog, pgmeta: the capture on the replication path, apply still running.
    let capture_run_figures = dir.path().join("capture-run.time");
    let mut capture = Running(Some(timed(
        &bin_path("pgmeta-capture"),
        &[
            "--config".into(),
            replicating.display().to_string(),
            "run".into(),
        ],
        &[],
        &capture_run_figures,
    )));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let committed = Instant::now();
    source
        .batch_execute("CREATE TABLE public.bench_ddl (id int)")
        .await?;
    let fqn = "svc.source.public.bench_ddl";
    loop {
        let found = http
            .get(format!("{}/v1/tables/name/{fqn}", catalog.api()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if found {
            break;
        }
        if committed.elapsed() > Duration::from_secs(60) {
            return Err("the DDL did not reach the catalog within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ddl_to_catalog = committed.elapsed();
    capture.stop();
    apply.stop();
    let (_, apply_rss) = figures(&apply_figures);

    let pgmeta_wall = capture_wall + apply_wall;
    println!("openmetadata vs pgmeta on {name}, into the same pgmeta-catalog:");
    println!(
        "  OpenMetadata's connector (metadata ingest): {om_wall:.1} s, peak RSS {:.1} MB, {om_requests:.0} requests, {om_tables} tables",
        om_rss / 1024.0
    );
    println!(
        "  pgmeta (capture snapshot {capture_wall:.1} s + apply {apply_wall:.1} s): {pgmeta_wall:.1} s = {:.2}x OpenMetadata's; peak RSS capture {:.1} MB, apply {:.1} MB; {pgmeta_requests:.0} requests = {:.2}x; {want} tables",
        pgmeta_wall / om_wall.max(0.001),
        capture_rss / 1024.0,
        apply_rss / 1024.0,
        pgmeta_requests / om_requests.max(1.0),
    );
    println!(
        "  DDL to catalog: pgmeta {:.0} ms (replication path, measured); OpenMetadata: its next scheduled run, then {om_wall:.1} s for the run",
        ddl_to_catalog.as_secs_f64() * 1e3
    );
    Ok(())
}
