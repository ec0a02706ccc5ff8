//! `make bench` (apply): pgmeta-apply into pgmeta-catalog, release binaries as processes.
//! 1. Throughput: the snapshot of 10,000 tables (x 12 columns, a comment each) is on the topic;
//!    events/s from pgmeta-apply's start until the catalog holds every table (target >= 2,000/s).
//! 2. End-to-end latency on the replication path: DDL COMMIT on a 100-table database until the
//!    change is readable from the catalog's API (GET by name), 200 DDL one by one (the first,
//!    which also waits for that database's snapshot, not counted): p50, p99 (target p99 <= 1 s).

use pgmeta::config::CaptureConfig;
use pgmeta::pg::{PgTarget, ddl_trigger};
use pgmeta::sink::KafkaSink;
use pgmeta::testkit::{Broker, CatalogServer, PgCluster, Service, free_port};
use serde_json::Value;
use std::time::{Duration, Instant};

const TABLES: usize = 10_000;
const SCHEMAS: usize = 20;
const DDL: usize = 200;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = PgCluster::start();
    let broker = Broker::start_on(free_port(), false);
    let client = cluster.create_database("source").await;
    let catalog_db = cluster.create_database("catalog").await;
    for s in 0..SCHEMAS {
        client.batch_execute(&format!("CREATE SCHEMA s{s}")).await?;
    }
    for start in (0..TABLES).step_by(1000) {
        client
            .batch_execute(&format!(
                "DO $$ DECLARE i int; BEGIN FOR i IN {start}..{} LOOP
                   EXECUTE format('CREATE TABLE s%s.t%s (id bigint PRIMARY KEY, name varchar(80) NOT NULL, a integer, b numeric(12,2), c text, d timestamptz, e boolean, f jsonb, g date, h uuid, k bigint, l text)', i % {SCHEMAS}, i);
                   EXECUTE format('COMMENT ON TABLE s%s.t%s IS %L', i % {SCHEMAS}, i, 'table ' || i);
                 END LOOP; END $$",
                start + 999
            ))
            .await?;
    }
    ddl_trigger::install(&client, "bench").await?;

    let mut config = CaptureConfig {
        service_name: "bench".into(),
        source: cluster.source("source"),
        ..CaptureConfig::default()
    };
    config.kafka.brokers = broker.bootstrap();
    config.kafka.metadata_topic = "bench.metadata".into();
    config.kafka.usage_topic = "bench.usage".into();
    config.kafka.lineage_topic = "bench.lineage".into();
    config.kafka.partitions = 6;
    config.usage.enabled = false;
    config.poll.interval = Duration::from_secs(3600);
    config.replication.enabled = true;
    config.replication.safety_poll_interval = Duration::from_secs(3600);
    let state = tempfile::tempdir()?;
    config.state.dir = state.path().to_owned();
    let target = PgTarget::resolve(&config.source, &|_| None)?;
    let mut capture = pgmeta::capture::Capture::new(
        &config,
        target,
        KafkaSink::connect(&config.kafka).await?,
        false,
    )?;
    let cycle = capture.poll_once().await;
    if let Some((db, e)) = cycle.errors.first() {
        return Err(format!("snapshot of {db} failed: {e}").into());
    }
    let records = pgmeta::testkit::read_raw(&broker.bootstrap(), "bench.metadata").len();

    let catalog = CatalogServer::start(&cluster.url("catalog"), None);
    let metrics = free_port();
    let args: Vec<String> = [
        "--brokers",
        &broker.bootstrap(),
        "--group",
        "bench",
        "--instance-id",
        "bench",
        "--metadata-topic",
        "bench.metadata",
        "--usage-topic",
        "bench.usage",
        "--lineage-topic",
        "bench.lineage",
        "--server-url",
        &catalog.api(),
        "--metrics-listen",
        &format!("127.0.0.1:{metrics}"),
        "--lanes",
        "32",
        "--batch-size",
        "2000",
        "--log-level",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let apply = Service::start("pgmeta-apply", &args, &[]);
    let total = |http: reqwest::Client, api: String| async move {
        let page: Value = http
            .get(format!("{api}/v1/tables?limit=1"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        page["paging"]["total"].as_u64()
    };
    // The rate counts from the first table in the catalog (process start and the consumer
    // group join excluded) to the last.
    let mut first: Option<Instant> = None;
    loop {
        let n = total(http.clone(), catalog.api()).await.unwrap_or(0);
        if n > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if n >= TABLES as u64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err(format!("apply did not finish; log:\n{}", apply.log()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let applying = first.map_or(elapsed, |f| f.elapsed());
    let rate = records as f64 / applying.as_secs_f64();
    println!(
        "apply throughput: {records} snapshot events ({TABLES} tables) into pgmeta-catalog in {:.1} s from the first table applied = {:.0} events/s (target >= 2,000/s: {}); {:.1} s from the process start",
        applying.as_secs_f64(),
        rate,
        if rate >= 2000.0 { "met" } else { "MISSED" },
        elapsed.as_secs_f64()
    );

    // Where the time went: apply's batches and the catalog's requests.
    let scrape = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.ok()?.text().await.ok() }
    };
    let value = |text: &str, name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let apply_text = scrape(format!("http://127.0.0.1:{metrics}/metrics"))
        .await
        .unwrap_or_default();
    let catalog_text = scrape(format!("http://127.0.0.1:{}/metrics", catalog.port))
        .await
        .unwrap_or_default();
    println!(
        "  apply: {} batches, {:.1} s applying in all; catalog: {} requests, mean {:.2} ms",
        value(&apply_text, "pgmeta_apply_batch_duration_seconds_count"),
        value(&apply_text, "pgmeta_apply_batch_duration_seconds_sum"),
        value(
            &catalog_text,
            "pgmeta_catalog_request_duration_seconds_count"
        ),
        1e3 * value(&catalog_text, "pgmeta_catalog_request_duration_seconds_sum")
            / value(
                &catalog_text,
                "pgmeta_catalog_request_duration_seconds_count"
            )
            .max(1.0)
    );

    // Replay: a new consumer group reads the same snapshot into the now full catalog. Every
    // event is what the catalog already holds and must be skipped, without a new version.
    let versions_before = version_rows(&catalog_db).await?;
    let replay_metrics = free_port();
    let mut replay_args = args.clone();
    for (flag, value) in [
        ("--group", "bench-replay".to_owned()),
        ("--instance-id", "bench-replay".to_owned()),
        ("--metrics-listen", format!("127.0.0.1:{replay_metrics}")),
    ] {
        if let Some(i) = replay_args.iter().position(|a| a == flag) {
            replay_args[i + 1] = value;
        }
    }
    let replay = Service::start("pgmeta-apply", &replay_args, &[]);
    // Labels print sorted by name: outcome, then stream.
    let consumed = |text: &str| -> f64 {
        ["applied", "skipped", "dead_lettered", "interrupted"]
            .iter()
            .map(|o| {
                value(
                    text,
                    &format!("pgmeta_apply_events_total{{outcome=\"{o}\",stream=\"metadata\"}}"),
                )
            })
            .sum()
    };
    let replay_started = Instant::now();
    let mut first: Option<Instant> = None;
    let replay_text = loop {
        let text = scrape(format!("http://127.0.0.1:{replay_metrics}/metrics"))
            .await
            .unwrap_or_default();
        let n = consumed(&text);
        if n > 0.0 && first.is_none() {
            first = Some(Instant::now());
        }
        if n >= records as f64 {
            break text;
        }
        if replay_started.elapsed() > Duration::from_secs(900) {
            return Err(format!("the replay did not finish; log:\n{}", replay.log()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let replaying = first.map_or(replay_started.elapsed(), |f| f.elapsed());
    let skipped = value(
        &replay_text,
        "pgmeta_apply_events_total{outcome=\"skipped\",stream=\"metadata\"}",
    );
    let new_versions = version_rows(&catalog_db).await? - versions_before;
    println!(
        "replay of the same {records} events into the full catalog (new consumer group): {:.0} events/s from the first event consumed, {new_versions} new versions (must be 0; an event equal to what the catalog holds is PUT again, unchanged, and {skipped} older ones skipped), {} schema listings",
        records as f64 / replaying.as_secs_f64(),
        value(
            &replay_text,
            "pgmeta_apply_server_requests_total{request=\"GET /tables?databaseSchema=\""
        )
    );
    drop(replay);

    // Replication path, on a second, small database (on a DDL the listener re-reads the whole
    // catalog, 1.8 s at 10,000 tables; see README): each DDL waits until the catalog shows it.
    let small = cluster.create_database("small").await;
    small
        .batch_execute("DO $$ BEGIN FOR i IN 0..99 LOOP EXECUTE format('CREATE TABLE t%s (id int)', i); END LOOP; END $$")
        .await?;
    ddl_trigger::install(&small, "bench").await?;
    let mut small_config = config.clone();
    small_config.source = cluster.source("small");
    let small_state = tempfile::tempdir()?;
    small_config.state.dir = small_state.path().to_owned();
    drop(capture);
    let (trigger, task) = pgmeta::testkit::start_replication(&small_config).await?;
    let mut latencies = Vec::with_capacity(DDL);
    for i in 0..DDL {
        let t = i % 100;
        let fqn = format!("bench.small.public.t{t}");
        // The first DDL also waits for the initial snapshot of `small` to be applied.
        small
            .batch_execute(&format!("ALTER TABLE t{t} ADD COLUMN added_{i} integer"))
            .await?;
        let committed = Instant::now();
        let column = format!("added_{i}");
        loop {
            let table: Option<Value> = async {
                http.get(format!("{}/v1/tables/name/{fqn}", catalog.api()))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()
            }
            .await;
            let seen = table
                .as_ref()
                .and_then(|t| t["columns"].as_array())
                .is_some_and(|c| c.iter().any(|c| c["name"] == column.as_str()));
            if seen {
                break;
            }
            if committed.elapsed() > Duration::from_secs(60) {
                return Err(format!("{fqn}.{column} never reached the catalog").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if i == 0 {
            continue;
        }
        latencies.push(committed.elapsed());
    }
    trigger.trigger();
    let _ = task.await;
    // Idle: pgmeta-capture started on the 10,000-table database (its state read back, one
    // full read finding nothing new), pgmeta-apply and pgmeta-catalog with nothing to do;
    // measured 15 s later. After the latency runs, so its read does not disturb them.
    let capture_metrics = free_port();
    let capture_args: Vec<String> = [
        "--url".to_owned(),
        cluster.url("source"),
        "--service-name".to_owned(),
        "bench".to_owned(),
        "--brokers".to_owned(),
        broker.bootstrap(),
        "--topic".to_owned(),
        "bench.metadata".to_owned(),
        "--state-dir".to_owned(),
        state.path().to_string_lossy().into_owned(),
        "--metrics-listen".to_owned(),
        format!("127.0.0.1:{capture_metrics}"),
        "--log-level".to_owned(),
        "warn".to_owned(),
        "run".to_owned(),
    ]
    .to_vec();
    let idle_capture = Service::start("pgmeta-capture", &capture_args, &[]);

    tokio::time::sleep(Duration::from_secs(15)).await;
    let mb = |kb: Option<u64>| kb.map_or(f64::NAN, |k| k as f64 / 1024.0);
    let verdict = |v: f64| if v <= 30.0 { "met" } else { "MISSED" };
    let (apply_rss, capture_rss) = (mb(apply.rss_kb()), mb(idle_capture.rss_kb()));
    println!(
        "idle RSS: pgmeta-capture {capture_rss:.1} MB after its poll of the {TABLES}-table database (target <= 30 MB: {}), pgmeta-apply {apply_rss:.1} MB (target <= 30 MB: {}), pgmeta-catalog {:.1} MB",
        verdict(capture_rss),
        verdict(apply_rss),
        mb(catalog.service.rss_kb())
    );
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(latencies.len() - 1)]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "end to end, DDL commit -> readable from the catalog API ({} ALTER TABLE one by one on a 100-table database, replication path): p50 {:.0} ms, p99 {:.0} ms (target p99 <= 1 s: {})",
        latencies.len(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        if pct(0.99) <= Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

/// Versions recorded by pgmeta-catalog, all entities together.
async fn version_rows(db: &tokio_postgres::Client) -> Result<i64, tokio_postgres::Error> {
    db.query_one("SELECT count(*) FROM pgmeta_catalog.entity_version", &[])
        .await
        .map(|r| r.get(0))
}
