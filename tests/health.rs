//! `/readyz` of pgmeta-capture and pgmeta-apply flips to 503 when PostgreSQL, the broker or
//! the metadata server goes away, and back to 200 when it returns. Own cluster, broker and
//! catalog: the shared ones cannot be stopped. Each failed poll is counted under the system
//! that failed and its code.

use pgmeta::testkit::{Broker, CatalogServer, PgCluster, Service, free_port};
use std::time::{Duration, Instant};

async fn readyz(port: u16) -> (u16, String) {
    match reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

async fn wait_status(what: &str, port: u16, want: u16, service: &Service) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = readyz(port).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /readyz stayed {status} {body}; log:\n{}",
            service.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The value of an unlabelled gauge in a scrape.
fn gauge(metrics: &str, name: &str) -> f64 {
    pgmeta::testkit::scrape::samples(metrics, name)
        .next()
        .unwrap_or_else(|| panic!("no {name} in the scrape:\n{metrics}"))
}

/// jemalloc's counters, as the binaries run on it: what is allocated lies in active pages,
/// which are resident.
fn assert_allocator_counted(metrics: &str, prefix: &str) {
    let stat = |s: &str| gauge(metrics, &format!("{prefix}allocator_{s}_bytes"));
    let (allocated, active, resident) = (stat("allocated"), stat("active"), stat("resident"));
    assert!(
        0.0 < allocated && allocated <= active && active <= resident && stat("metadata") > 0.0,
        "{prefix} allocator: allocated {allocated}, active {active}, resident {resident}"
    );
}

async fn scrape(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body")
}

#[tokio::test]
async fn readyz_follows_postgres_the_broker_and_the_server() {
    let mut cluster = PgCluster::start();
    let mut broker = Broker::start_on(free_port(), true);
    let client = cluster.create_database("app").await;
    client
        .batch_execute("CREATE TABLE t (id int)")
        .await
        .expect("table");
    drop(client);
    cluster.create_database("catalog").await;
    let mut catalog = CatalogServer::start(&cluster.url("catalog"), None);

    let state = tempfile::tempdir().expect("state dir");
    let config = state.path().join("capture.toml");
    std::fs::write(
        &config,
        format!("service_name = \"svc\"\n[kafka]\nbrokers = \"{}\"\nstartup_timeout = \"60s\"\n[poll]\ninterval = \"1s\"\n[usage]\nenabled = false\n", broker.bootstrap()),
    )
    .expect("config");
    let (capture_port, apply_port) = (free_port(), free_port());
    let port = cluster.port().to_string();
    let args: Vec<String> = [
        "--config".to_owned(),
        config.to_string_lossy().into_owned(),
        "--state-dir".to_owned(),
        state.path().to_string_lossy().into_owned(),
        "--metrics-listen".to_owned(),
        format!("127.0.0.1:{capture_port}"),
        "run".to_owned(),
    ]
    .to_vec();
    let capture = Service::start(
        "pgmeta-capture",
        &args,
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port),
            ("PGUSER", "postgres"),
            ("PGPASSWORD", pgmeta::testkit::SUPERUSER_PASSWORD),
            ("PGDATABASE", "app"),
        ],
    );
    let apply_args: Vec<String> = [
        "--brokers",
        &broker.bootstrap(),
        "--instance-id",
        "health",
        "--server-url",
        &catalog.api(),
        "--metrics-listen",
        &format!("127.0.0.1:{apply_port}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let apply = Service::start("pgmeta-apply", &apply_args, &[]);
    wait_status("capture at start", capture_port, 200, &capture).await;
    wait_status("apply at start", apply_port, 200, &apply).await;

    cluster.stop();
    let body = wait_status("capture without PostgreSQL", capture_port, 503, &capture).await;
    assert!(body.contains("PostgreSQL"), "{body}");
    cluster.restart();
    wait_status("capture with PostgreSQL back", capture_port, 200, &capture).await;
    let metrics = scrape(capture_port).await;
    assert!(
        metrics.contains(r#"pgmeta_capture_kafka_queue_messages{client="producer"}"#)
            && metrics.contains("pgmeta_capture_kafka_broker_rtt_seconds{"),
        "the producer's statistics are exported:\n{metrics}"
    );
    assert_allocator_counted(&metrics, "pgmeta_capture_");
    // Refused connections never reach the server (no SQLSTATE); the session that was open
    // when the server stopped ends with one (57P01, admin_shutdown) or as a lost connection.
    let postgres_errors: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("pgmeta_capture_errors_total{")
                && l.contains(r#"source="catalog""#)
                && l.contains(r#"system="postgres""#)
        })
        .collect();
    assert!(
        postgres_errors
            .iter()
            .any(|l| l.contains(r#"code="connection""#) || l.contains(r#"code="57P01""#)),
        "no PostgreSQL error counted with its code: {postgres_errors:?}\n{metrics}"
    );

    broker.stop();
    let body = wait_status("capture without the broker", capture_port, 503, &capture).await;
    assert!(body.contains("kafka"), "{body}");
    wait_status("apply without the broker", apply_port, 503, &apply).await;
    broker.restart();
    wait_status("capture with the broker back", capture_port, 200, &capture).await;
    // librdkafka's own lines reach the log through tracing (each carries held_back), each
    // kind at most every 30 s: not one per reconnect attempt while the broker was away.
    let log = capture.log();
    let librdkafka: Vec<&str> = log.lines().filter(|l| l.contains("held_back")).collect();
    assert!(
        (1..=10).contains(&librdkafka.len()),
        "{} librdkafka lines during the outage: {librdkafka:#?}",
        librdkafka.len()
    );
    wait_status("apply with the broker back", apply_port, 200, &apply).await;
    // The consumer's errors while the broker was away, counted with librdkafka's code.
    let metrics = scrape(apply_port).await;
    assert!(
        metrics.contains(r#"pgmeta_apply_kafka_queue_messages{client="metadata"}"#),
        "the consumers' statistics are exported:\n{metrics}"
    );
    assert_allocator_counted(&metrics, "pgmeta_apply_");
    assert!(
        metrics.lines().any(|l| {
            l.starts_with("pgmeta_apply_errors_total{")
                && l.contains(r#"error_type="kafka""#)
                && (l.contains(r#"code="AllBrokersDown""#)
                    || l.contains(r#"code="BrokerTransportFailure""#))
        }),
        "no Kafka error counted with its code:\n{metrics}"
    );

    catalog.stop();
    let body = wait_status("apply without the metadata server", apply_port, 503, &apply).await;
    assert!(body.contains("system/version"), "{body}");
    catalog.restart();
    wait_status(
        "apply with the metadata server back",
        apply_port,
        200,
        &apply,
    )
    .await;
}
