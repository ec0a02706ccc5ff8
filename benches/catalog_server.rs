//! `make bench` (catalog_server): pgmeta-catalog (release binary, as a process) under wide
//! tables.
//! 1. PUT of a 100,000-column table: create, an unchanged re-PUT, and a changed re-PUT (one
//!    type changed, one column added: the merge and diff path). Target: well under 1 s each.
//! 2. `/healthz` latency (p50, p99, max over 10 ms-spaced probes) while two such changed PUTs
//!    run at once; reference: `/healthz` on the idle server.

use pgmeta::testkit::{CatalogServer, PgCluster};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const COLUMNS: usize = 100_000;

fn table(extra: &str, changed: bool) -> String {
    let mut cols: Vec<Value> = (0..COLUMNS)
        .map(|i| json!({"name": format!("column_{i}"), "dataType": "INT", "dataTypeDisplay": "integer"}))
        .collect();
    if changed {
        cols[COLUMNS - 1]["dataType"] = json!("BIGINT");
        cols.push(json!({"name": extra, "dataType": "TEXT"}));
    }
    json!({"name": "wide", "databaseSchema": "svc.db.s", "columns": cols}).to_string()
}

async fn put(http: &reqwest::Client, base: &str, path: &str, body: String) -> (u16, Duration) {
    let started = Instant::now();
    let r = http
        .put(format!("{base}/{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    (r, started.elapsed())
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

async fn probe_healthz(
    http: &reqwest::Client,
    url: &str,
    until: impl Fn() -> bool,
) -> Vec<Duration> {
    let mut out = Vec::new();
    while !until() {
        let started = Instant::now();
        let ok = http
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            out.push(started.elapsed());
        } else {
            out.push(Duration::from_secs(60));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    out.sort();
    out
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = PgCluster::start();
    cluster.create_database("catalog").await;
    let catalog = CatalogServer::start(&cluster.url("catalog"), None);
    let base = format!("{}/v1", catalog.api());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    for (path, body) in CatalogServer::parent_requests() {
        put(&http, &base, path, body.to_string()).await;
    }
    println!("== pgmeta-catalog: PUT of a {COLUMNS}-column table ==");
    let body = table("", false);
    println!("body {:.1} MB", body.len() as f64 / 1e6);
    for (what, body, want) in [
        ("create", body.clone(), 201),
        ("unchanged re-PUT", body, 200),
        (
            "changed re-PUT (a type, a column)",
            table("extra_1", true),
            200,
        ),
    ] {
        let (status, took) = put(&http, &base, "tables", body).await;
        if status != want {
            return Err(format!("{what}: status {status}, expected {want}").into());
        }
        println!(
            "{what:<36} {:>8.0} ms (target < 1,000 ms: {:.2}x of it)",
            took.as_secs_f64() * 1e3,
            took.as_secs_f64()
        );
    }

    let health = format!("http://127.0.0.1:{}/healthz", catalog.port);
    let idle = {
        let started = Instant::now();
        probe_healthz(&http, &health, || {
            started.elapsed() > Duration::from_secs(2)
        })
        .await
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let puts = {
        let (http, base, done) = (http.clone(), base.clone(), done.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let (a, b) = tokio::join!(
                put(&http, &base, "tables", table("extra_2", true)),
                put(&http, &base, "tables", table("extra_3", true))
            );
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            (a.0, b.0, started.elapsed())
        })
    };
    let busy = probe_healthz(&http, &health, || {
        done.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    let (a, b, took) = puts.await?;
    if (a, b) != (200, 200) {
        return Err(format!("concurrent PUTs answered {a} and {b}").into());
    }
    println!(
        "\n== /healthz while two {COLUMNS}-column PUTs run ({:.0} ms for both) ==",
        took.as_secs_f64() * 1e3
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (what, probes) in [("idle", &idle), ("during the PUTs", &busy)] {
        println!(
            "{what:<16} probes {:>4}  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
            probes.len(),
            ms(quantile(probes, 0.5)),
            ms(quantile(probes, 0.99)),
            ms(probes.last().copied().unwrap_or_default())
        );
    }
    println!(
        "p99 during / idle: {:.1}x",
        ms(quantile(&busy, 0.99)) / ms(quantile(&idle, 0.99)).max(0.001)
    );
    Ok(())
}
