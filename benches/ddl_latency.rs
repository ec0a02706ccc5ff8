//! `make bench` (replication): time from a DDL's COMMIT to its event being read by a Kafka
//! consumer, through the event trigger, the slot, the catalog read and the broker.
//! 1. 500 DDL statements issued one by one: p50, p99, max (target p99 <= 200 ms).
//! 2. 100 DDL/s for 10 s: latency in the first and the last second (lag must not grow).

use pgmeta::config::CaptureConfig;
use pgmeta::pg::ddl_trigger;
use pgmeta::testkit::{
    Broker, PgCluster, arrivals, free_port, latency_consumer, start_replication, wait_for_key,
};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = PgCluster::start();
    let broker = Broker::start_on(free_port(), false);
    let client = cluster.create_database("latency").await;
    ddl_trigger::install(&client, "bench").await?;

    let mut config = CaptureConfig {
        service_name: "bench".into(),
        source: cluster.source("latency"),
        ..CaptureConfig::default()
    };
    config.kafka.brokers = broker.bootstrap();
    config.kafka.metadata_topic = "latency.metadata".into();
    config.kafka.schema_changes_topic = "latency.schema-changes".into();
    config.kafka.partitions = 1;
    config.poll.interval = Duration::from_secs(3600);
    config.replication.enabled = true;
    config.replication.safety_poll_interval = Duration::from_secs(3600);
    let state = tempfile::tempdir()?;
    config.state.dir = state.path().to_owned();
    let (trigger, task) = start_replication(&config).await?;
    let consumer = latency_consumer(
        &broker.bootstrap(),
        "latency-bench",
        "latency.metadata",
        true,
    )?;

    // One by one: each DDL waits for its own event.
    let mut one_by_one = Vec::with_capacity(500);
    for i in 0..500 {
        let key = format!(".public.one_{i}");
        let started = Instant::now();
        client
            .batch_execute(&format!("CREATE TABLE one_{i} (id int)"))
            .await?;
        let committed = Instant::now();
        wait_for_key(&consumer, &key).await?;
        one_by_one.push(committed.elapsed());
        let _ = started;
    }
    one_by_one.sort();
    let pct = |v: &[Duration], p: f64| {
        v[((v.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(v.len() - 1)]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "DDL commit -> event read, 500 one by one: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 <= 200 ms: {})",
        ms(pct(&one_by_one, 0.50)),
        ms(pct(&one_by_one, 0.99)),
        ms(*one_by_one.last().unwrap_or(&Duration::ZERO)),
        if pct(&one_by_one, 0.99) <= Duration::from_millis(200) {
            "met"
        } else {
            "MISSED"
        }
    );

    // A breaking change one by one: each column drop waits for its classified record on the
    // schema-changes topic (written in the same send as the metadata event).
    let changes = latency_consumer(
        &broker.bootstrap(),
        "latency-bench-changes",
        "latency.schema-changes",
        true,
    )?;
    let mut classified = Vec::with_capacity(100);
    for i in 0..100 {
        client
            .batch_execute(&format!("ALTER TABLE one_{i} DROP COLUMN id"))
            .await?;
        let committed = Instant::now();
        wait_for_key(&changes, &format!(".public.one_{i}.id")).await?;
        classified.push(committed.elapsed());
    }
    classified.sort();
    println!(
        "DDL commit -> schema-change record read, 100 column drops one by one: p50 {:.1} ms, p99 {:.1} ms (the metadata events' p99 above is the reference)",
        ms(pct(&classified, 0.50)),
        ms(pct(&classified, 0.99)),
    );

    // Sustained: 100 DDL/s for 10 s, issued on a clock, events collected concurrently.
    let writer = cluster.client("latency").await;
    let issue = tokio::spawn(async move {
        let mut commits = Vec::with_capacity(1000);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for i in 0..1000 {
            tick.tick().await;
            writer
                .batch_execute(&format!("CREATE TABLE s_{i} (id int)"))
                .await
                .map_err(|e| e.to_string())?;
            commits.push(Instant::now());
        }
        Ok::<_, String>(commits)
    });
    let seen = arrivals(&consumer, ".public.s_", 1000, Duration::from_secs(120)).await?;
    let commits = issue
        .await?
        .map_err(|e| format!("sustained DDL failed: {e}"))?;
    let received = seen.iter().flatten().count();
    let latency = |range: std::ops::Range<usize>| {
        let mut v: Vec<Duration> = range
            .filter_map(|i| Some(seen[i]?.saturating_duration_since(commits[i])))
            .collect();
        v.sort();
        v
    };
    let (first, last) = (latency(0..100), latency(900..1000));
    println!(
        "sustained 100 DDL/s for 10 s: {received} of 1000 events; first second p99 {:.1} ms, last second p99 {:.1} ms ({})",
        if first.is_empty() {
            f64::NAN
        } else {
            ms(pct(&first, 0.99))
        },
        if last.is_empty() {
            f64::NAN
        } else {
            ms(pct(&last, 0.99))
        },
        if received == 1000
            && !last.is_empty()
            && pct(&last, 0.99) <= pct(&first, 0.99) * 3 + Duration::from_millis(100)
        {
            "lag did not grow"
        } else {
            "LAG GREW"
        }
    );
    trigger.trigger();
    task.await??;
    Ok(())
}
