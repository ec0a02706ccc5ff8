//! `make demo`: the main job on its embedded default. Starts a throwaway PostgreSQL loaded
//! with pgmeta's own bookshop sample and a local tansu broker, runs the capture (first snapshot,
//! then a round of schema changes, then a workload), and prints what landed on the Kafka
//! topics, decoded: metadata, lineage and usage.

use pgmeta::capture::Capture;
use pgmeta::config::CaptureConfig;
use pgmeta::event::Op;
use pgmeta::pg::PgTarget;
use pgmeta::sink::KafkaSink;
use pgmeta::testkit::{Broker, PgCluster, Record, free_port, read_lineage, read_topic, read_usage};
use std::path::Path;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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

    poll(&mut capture).await?;
    poll_usage(&mut capture).await?;
    let first = read_topic(&config.kafka.brokers, &config.kafka.metadata_topic);
    println!(
        "== first snapshot: {} records on topic {} ==",
        first.len(),
        config.kafka.metadata_topic
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
    Ok(())
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
