//! `make demo`: the main job on its embedded default. Starts a throwaway PostgreSQL loaded
//! with pgmeta's own bookshop sample and a local tansu broker, runs the capture (first snapshot,
//! then a round of schema changes, then a workload), and prints what landed on the Kafka
//! topics, decoded: metadata, schema changes classified, lineage and usage. Then the whole
//! path: pgmeta-apply consumes the topics into pgmeta-catalog (OpenMetadata's REST API,
//! persisting in the same PostgreSQL), and a summary is read back from the catalog's API.
//! Last, a breaking change (`demo/breaking.sql`) and what it reaches.

use pgmeta::capture::Capture;
use pgmeta::config::CaptureConfig;
use pgmeta::event::Op;
use pgmeta::pg::PgTarget;
use pgmeta::sink::KafkaSink;
use pgmeta::testkit::{
    Broker, CatalogServer, PgCluster, Record, Service, free_port, read_lineage,
    read_schema_changes, read_topic, read_usage,
};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = &pgmeta::testkit::project_dir();
    let demo_started = Instant::now();
    println!("starting a throwaway PostgreSQL (wal_level=logical, pg_stat_statements) ...");
    let cluster = PgCluster::start();
    let broker = Broker::start_on(free_port(), false);
    println!(
        "PostgreSQL on 127.0.0.1:{}, tansu (Kafka API) on {}",
        cluster.port(),
        broker.bootstrap()
    );
    cluster.create_database("bookshop").await;
    cluster.psql_file("bookshop", &root.join("demo/bookshop.sql"));
    println!("loaded demo/bookshop.sql into database bookshop\n");

    let state = tempfile::tempdir()?;
    let mut config = CaptureConfig {
        service_name: "demo".into(),
        source: cluster.source("bookshop"),
        ..CaptureConfig::default()
    };
    config.kafka.brokers = broker.bootstrap();
    config.kafka.metadata_topic = "pgmeta.metadata".into();
    config.kafka.partitions = 1;
    config.state.dir = state.path().to_owned();
    let target = PgTarget::resolve(&config.source, &|_| None)?;
    let mut capture = Capture::new(
        &config,
        target,
        KafkaSink::connect(&config.kafka).await?,
        false,
    )?;

    let capture_started = Instant::now();
    poll(&mut capture).await?;
    let snapshot_took = capture_started.elapsed();
    poll_usage(&mut capture).await?;
    let first = read_topic(&config.kafka.brokers, &config.kafka.metadata_topic);
    println!(
        "== first snapshot: {} records on topic {}, acknowledged {} ms after the capture started ({:.1} s after the demo started, PostgreSQL and the broker included) ==",
        first.len(),
        config.kafka.metadata_topic,
        snapshot_took.as_millis(),
        (demo_started.elapsed() - capture_started.elapsed() + snapshot_took).as_secs_f64()
    );
    dump(&first);

    cluster.psql_file("bookshop", &root.join("demo/changes.sql"));
    poll(&mut capture).await?;
    let all = read_topic(&config.kafka.brokers, &config.kafka.metadata_topic);
    let changes = &all[first.len()..];
    println!(
        "\n== after demo/changes.sql: {} more records ==",
        changes.len()
    );
    dump(changes);
    let classified = read_schema_changes(&config.kafka.brokers, &config.kafka.schema_changes_topic);
    println!(
        "\n== the same changes classified, on topic {} ==",
        config.kafka.schema_changes_topic
    );
    dump_schema_changes(&classified);

    poll(&mut capture).await?;
    let again = read_topic(&config.kafka.brokers, &config.kafka.metadata_topic);
    println!(
        "\n== a poll with nothing changed: {} more records ==",
        again.len() - all.len()
    );

    cluster.psql_file("bookshop", &root.join("demo/workload.sql"));
    poll(&mut capture).await?;
    poll_usage(&mut capture).await?;
    let lineage = read_lineage(&config.kafka.brokers, &config.kafka.lineage_topic);
    let mut live = std::collections::BTreeMap::new();
    for (key, event) in lineage {
        match event {
            Some(e) if e.op != pgmeta::event::LineageOp::Delete => {
                live.insert(key, e);
            }
            _ => {
                live.remove(&key);
            }
        }
    }
    println!(
        "\n== lineage on topic {}: {} live edges ==",
        config.kafka.lineage_topic,
        live.len()
    );
    for e in live.values() {
        let columns: Vec<String> = e
            .column_lineage
            .iter()
            .map(|c| format!("{}->{}", c.from_column, c.to_column))
            .collect();
        let via = match &e.routine_fqn {
            Some(r) => format!(" via {r}"),
            None => String::new(),
        };
        println!(
            "  {:<8} {} -> {}{via}\n{:<11}columns: {}",
            format!("{:?}", e.origin).to_uppercase(),
            short(&e.from_fqn),
            short(&e.to_fqn),
            "",
            if columns.is_empty() {
                "-".to_owned()
            } else {
                columns.join(", ")
            }
        );
    }
    let usage = read_usage(&config.kafka.brokers, &config.kafka.usage_topic);
    println!(
        "\n== usage on topic {} (one bucket: the workload) ==",
        config.kafka.usage_topic
    );
    for u in usage.iter().filter_map(|u| u.table.as_ref()) {
        println!(
            "  {:<30} {} statements ({} reads, {} writes) by {}; with {}",
            short(&u.fqn),
            u.query_count,
            u.read_count,
            u.write_count,
            u.users.join(", "),
            if u.join_partners.is_empty() {
                "-".to_owned()
            } else {
                u.join_partners
                    .iter()
                    .map(|p| short(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }

    catalog_summary(&cluster, &broker, &config).await?;

    if let Some(update) = changes
        .iter()
        .filter_map(|r| r.event.as_ref())
        .find(|e| e.op == Op::Update && e.table.is_some())
    {
        let mut shown = update.clone();
        if let Some(t) = &mut shown.table {
            t.ddl = t
                .ddl
                .as_ref()
                .map(|d| format!("{}... (elided)", d.lines().next().unwrap_or_default()));
        }
        println!(
            "\n== one event in full (Avro on the wire; schemas/MetadataEvent.avsc) ==\n{}",
            serde_json::to_string_pretty(&shown)?
        );
    }

    // A breaking change with something downstream: the view and the statements that read the
    // column, known from view lineage and the workload's query log.
    cluster.psql_file("bookshop", &root.join("demo/breaking.sql"));
    poll(&mut capture).await?;
    let after = read_schema_changes(&config.kafka.brokers, &config.kafka.schema_changes_topic);
    println!("\n== demo/breaking.sql, classified with what it reaches ==");
    dump_schema_changes(&after[classified.len()..]);
    Ok(())
}

fn dump_schema_changes(changes: &[pgmeta::event::SchemaChangeEvent]) {
    for c in changes {
        println!(
            "  {:<20} {:<26} {}\n{:<49}{}",
            c.change_class.as_str(),
            c.rule,
            c.object_fqn,
            "",
            c.reason
        );
        for i in &c.impact {
            let columns = if i.columns.is_empty() {
                String::new()
            } else {
                format!(" ({})", i.columns.join(", "))
            };
            println!(
                "{:<49}reaches {} {}{columns}, depth {}",
                "",
                format!("{:?}", i.origin).to_uppercase(),
                short(&i.fqn),
                i.depth
            );
        }
    }
}

async fn poll(capture: &mut Capture<KafkaSink>) -> Result<(), Box<dyn std::error::Error>> {
    let cycle = capture.poll_once().await;
    match cycle.errors.into_iter().next() {
        Some((db, e)) => Err(format!("poll of {db} failed: {e}").into()),
        None => Ok(()),
    }
}

/// `schema.table` of a table fqn (`service.database.schema.table`).
fn short(fqn: &str) -> String {
    let parts = pgmeta::model::Fqn::from_raw(fqn.to_owned()).parts();
    parts[parts.len().saturating_sub(2)..].join(".")
}

async fn poll_usage(capture: &mut Capture<KafkaSink>) -> Result<(), Box<dyn std::error::Error>> {
    for (db, result) in capture.poll_usage_once().await {
        result.map_err(|e| format!("usage poll of {db} failed: {e}"))?;
    }
    Ok(())
}

fn dump(records: &[Record]) {
    for r in records {
        let Some(e) = &r.event else {
            println!("  {:<9} {:<16} {}", "TOMBSTONE", "", r.key);
            continue;
        };
        let detail = match (&e.table, &e.routine) {
            (Some(t), _) => format!(
                "{:?}, {} columns, {} constraints, {} indexes",
                t.table_type,
                t.columns.len(),
                t.constraints.len(),
                t.indexes.len()
            ),
            (_, Some(r)) => format!("{:?} in {}", r.kind, r.language),
            _ => String::new(),
        };
        let mut line = format!(
            "  {:<9} {:<16} {}  {detail}",
            format!("{:?}", e.op).to_uppercase(),
            e.entity_type.as_str(),
            e.fqn
        );
        if let Some(prev) = &e.previous_fqn {
            line.push_str(&format!("  (was {prev})"));
        }
        if !e.changed_fields.is_empty() {
            line.push_str(&format!(
                "\n{:<29}changed: {}",
                "",
                e.changed_fields.join(", ")
            ));
        }
        println!("{line}");
    }
}

/// Runs pgmeta-apply into pgmeta-catalog until every record is applied, then prints what the
/// catalog's API answers.
async fn catalog_summary(
    cluster: &PgCluster,
    broker: &Broker,
    config: &CaptureConfig,
) -> Result<(), Box<dyn std::error::Error>> {
    cluster.create_database("catalog").await;
    let catalog = CatalogServer::start(&cluster.url("catalog"), Some("demo-token"));
    let metrics = free_port();
    let args: Vec<String> = [
        "--brokers",
        &broker.bootstrap(),
        "--group",
        "demo",
        "--metadata-topic",
        &config.kafka.metadata_topic,
        "--usage-topic",
        &config.kafka.usage_topic,
        "--lineage-topic",
        &config.kafka.lineage_topic,
        "--server-url",
        &catalog.api(),
        "--metrics-listen",
        &format!("127.0.0.1:{metrics}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    println!(
        "\n== pgmeta-apply -> pgmeta-catalog (OpenMetadata API on {}) ==",
        catalog.api()
    );
    let apply = Service::start(
        "pgmeta-apply",
        &args,
        &[("PGMETA_APPLY_TOKEN", "demo-token")],
    );
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}/v1/{path}", catalog.api());
        async move {
            let r = http.get(url).bearer_auth("demo-token").send().await.ok()?;
            r.json::<Value>().await.ok()
        }
    };
    // Caught up when every record on the three topics has been consumed.
    let records: usize = [
        &config.kafka.metadata_topic,
        &config.kafka.lineage_topic,
        &config.kafka.usage_topic,
    ]
    .iter()
    .map(|t| pgmeta::testkit::read_raw(&broker.bootstrap(), t).len())
    .sum();
    let started = Instant::now();
    let mut consumed = 0;
    while consumed < records {
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!("pgmeta-apply did not catch up; its log:\n{}", apply.log()).into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let text = http
            .get(format!("http://127.0.0.1:{metrics}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        consumed = text
            .lines()
            .filter(|l| l.starts_with("pgmeta_apply_events_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as usize;
    }
    println!(
        "applied {records} records in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let tables = get("tables?limit=100&include=all&fields=*".into())
        .await
        .unwrap_or(Value::Null);
    let mut by_type = std::collections::BTreeMap::new();
    for t in tables["data"].as_array().into_iter().flatten() {
        let deleted = t["deleted"] == true;
        let key = format!(
            "{}{}",
            t["tableType"].as_str().unwrap_or("?"),
            if deleted { " (deleted)" } else { "" }
        );
        *by_type.entry(key).or_insert(0) += 1;
    }
    println!("tables read back from GET /api/v1/tables: {by_type:?}");
    for t in tables["data"].as_array().into_iter().flatten() {
        if t["version"].as_f64().unwrap_or(0.0) > 0.1 {
            let changed: Vec<&str> = ["fieldsAdded", "fieldsUpdated", "fieldsDeleted"]
                .iter()
                .flat_map(|k| t["changeDescription"][k].as_array().into_iter().flatten())
                .filter_map(|f| f["name"].as_str())
                .collect();
            println!(
                "  {:<32} version {:<4} {}last change: {}",
                short(t["fullyQualifiedName"].as_str().unwrap_or("")),
                t["version"],
                if t["deleted"] == true {
                    "deleted; "
                } else {
                    ""
                },
                changed.join(", ")
            );
        }
    }
    let view = "demo.bookshop.reporting.book_sales";
    if let Some(g) = get(format!(
        "lineage/table/name/{view}?upstreamDepth=1&downstreamDepth=1"
    ))
    .await
    {
        let names = |edges: &Value, end: &str| -> Vec<String> {
            edges
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let id = e[end].as_str()?;
                    g["nodes"].as_array()?.iter().find(|n| n["id"] == id)?["fullyQualifiedName"]
                        .as_str()
                        .map(short)
                })
                .collect()
        };
        println!(
            "lineage of {} from GET /api/v1/lineage: upstream {:?}, downstream {:?}",
            short(view),
            names(&g["upstreamEdges"], "fromEntity"),
            names(&g["downstreamEdges"], "toEntity")
        );
    }
    if let Some(t) = get("tables/name/demo.bookshop.catalog.books?fields=usageSummary".into()).await
    {
        println!(
            "usage of catalog.books from usageSummary: {} statements on {}",
            t["usageSummary"]["dailyStats"]["count"], t["usageSummary"]["date"]
        );
    }
    let procedures = get("storedProcedures?limit=100".into())
        .await
        .unwrap_or(Value::Null);
    let names: Vec<&str> = procedures["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    println!("stored procedures: {names:?}");
    let log = apply.log();
    let dead: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event dead-lettered"))
        .collect();
    println!("dead-lettered: {}", dead.len());
    for line in dead {
        println!("  {line}");
    }
    println!(
        "\nThis demo ran on tansu, a light Kafka-compatible broker. Against Apache Kafka (or MSK,
Confluent Cloud, Redpanda): pgmeta-capture --url postgres://... --brokers kafka:9092 run
(transactions are used when the broker has them; kafka.serialization = \"confluent\" with
[kafka.schema_registry] writes the Schema Registry format), then pgmeta-apply --brokers
kafka:9092 --server-url http://openmetadata:8585/api. See deploy/pgmeta-capture.example.toml."
    );
    Ok(())
}
