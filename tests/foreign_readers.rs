//! The topics as a downstream team reads them, with stock libraries and none of pgmeta's code:
//! `tests/foreign/read_topics.py` (confluent-kafka's consumer; fastavro for single-object
//! framing, confluent-kafka's AvroDeserializer with the real registry for Schema Registry
//! framing) decodes every record of the metadata, lineage, usage and dead-letter topics, and
//! each value must equal what pgmeta meant to send. With Schema Registry framing the records also reach
//! the catalog through pgmeta-apply, and the registry's refusals and absences are handled.

use crate::apply::{Pipeline, TOKEN};
use crate::common::{TestEnv, capture_with, poll_ok};
use pgmeta::codec::AvroCodec;
use pgmeta::config::{CaptureConfig, SchemaRegistryConfig, Serialization};
use pgmeta::testkit::{SchemaRegistryServer, Service, free_port, read_raw};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const WORKLOAD: &str = "
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE SCHEMA sales;
CREATE TABLE sales.customers (id int PRIMARY KEY, name text NOT NULL, since timestamptz DEFAULT now());
CREATE TABLE sales.orders (id bigint PRIMARY KEY, customer_id int REFERENCES sales.customers, amount numeric(12,2), tags text[]);
COMMENT ON TABLE sales.orders IS 'één order per row';
CREATE VIEW sales.revenue AS SELECT c.name, sum(o.amount) AS total FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id GROUP BY c.name;
CREATE FUNCTION sales.total(c int) RETURNS numeric LANGUAGE sql AS 'SELECT sum(amount) FROM sales.orders WHERE customer_id = c';
INSERT INTO sales.customers VALUES (1, 'a'), (2, 'b');
INSERT INTO sales.orders VALUES (1, 1, 10, '{x}'), (2, 2, 20, NULL);";

fn avro_python() -> Option<PathBuf> {
    pgmeta::testkit::venv_program("venv-avro", "python")
}

fn registry_config(url: &str) -> SchemaRegistryConfig {
    SchemaRegistryConfig {
        timeout: Duration::from_secs(5),
        ..SchemaRegistryConfig::new(url)
    }
}

fn topics(env: &TestEnv) -> Vec<String> {
    vec![
        env.topic.clone(),
        format!("{}.lineage", env.db),
        format!("{}.usage", env.db),
        format!("{}.schema-changes", env.db),
    ]
}

/// The event a topic carries: lineage, usage, or metadata (the metadata and dead-letter
/// topics).
fn codec_of(topic: &str) -> AvroCodec {
    if topic.ends_with(".lineage") {
        AvroCodec::lineage()
    } else if topic.ends_with(".usage") {
        AvroCodec::usage()
    } else if topic.ends_with(".schema-changes") {
        AvroCodec::schema_change()
    } else {
        AvroCodec::metadata()
    }
    .expect("codec")
}

/// Captures the workload (metadata, lineage, usage, then a rename and a drop) with `config`.
async fn capture_workload(env: &TestEnv, config: &CaptureConfig) {
    env.sql(WORKLOAD).await;
    let mut capture = capture_with(config).await;
    poll_ok(&mut capture).await;
    // The first usage read is the baseline; the queries after it are the next bucket's.
    for (_, result) in capture.poll_usage_once().await {
        result.expect("usage baseline");
    }
    for _ in 0..3 {
        env.sql("SELECT c.name, sum(o.amount) FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id GROUP BY c.name")
            .await;
    }
    for (_, result) in capture.poll_usage_once().await {
        result.expect("usage poll");
    }
    env.sql("ALTER TABLE sales.customers RENAME TO clients; DROP FUNCTION sales.total(int);")
        .await;
    poll_ok(&mut capture).await;
}

/// What pgmeta meant to send: every record of the four topics decoded by pgmeta's codec,
/// by (topic, partition, offset), with the value as JSON (null for a tombstone); and the
/// registry schema id of each topic's records (`None` in single-object framing).
#[allow(clippy::type_complexity)]
fn sent(
    env: &TestEnv,
    topics: &[String],
) -> (BTreeMap<(String, i32, i64), Value>, Vec<Option<u32>>) {
    let mut out = BTreeMap::new();
    let mut ids = Vec::new();
    for topic in topics {
        let codec = codec_of(topic);
        let records = read_raw(&env.brokers, topic);
        let topic_ids: std::collections::BTreeSet<Option<u32>> = records
            .iter()
            .filter_map(|r| r.payload.as_deref())
            .map(pgmeta::codec::registry_schema_id)
            .collect();
        assert_eq!(
            topic_ids.len(),
            1,
            "{topic}: one framing and schema id: {topic_ids:?}"
        );
        let id = topic_ids.into_iter().next().flatten();
        if let Some(id) = id {
            codec.learn_registry_schema(id, Ok(codec.schema_text()));
        }
        ids.push(id);
        for record in records {
            let value = match &record.payload {
                None => Value::Null,
                Some(bytes) => match codec.record_name().as_str() {
                    "io.pgmeta.LineageEvent" => codec
                        .decode_value::<pgmeta::event::LineageEvent>(bytes)
                        .map(serde_json::to_value),
                    "io.pgmeta.UsageEvent" => codec
                        .decode_value::<pgmeta::event::UsageEvent>(bytes)
                        .map(serde_json::to_value),
                    "io.pgmeta.SchemaChangeEvent" => codec
                        .decode_value::<pgmeta::event::SchemaChangeEvent>(bytes)
                        .map(serde_json::to_value),
                    _ => codec.decode(bytes).map(serde_json::to_value),
                }
                .expect("pgmeta decodes")
                .expect("json"),
            };
            out.insert((topic.clone(), record.partition, record.offset), value);
        }
    }
    (out, ids)
}

/// Runs the foreign reader and checks it decoded every record to the value pgmeta sent.
fn assert_foreign_reader_agrees(
    env: &TestEnv,
    topics: &[String],
    python: &PathBuf,
    mode: &[&str],
    expected: &BTreeMap<(String, i32, i64), Value>,
) {
    let out = std::process::Command::new(python)
        .arg(pgmeta::testkit::project_dir().join("tests/foreign/read_topics.py"))
        .arg(&env.brokers)
        .args(mode)
        .args(topics)
        .output()
        .expect("run the foreign reader");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the foreign reader failed:\n{stderr}");
    let mut read = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let record: Value = serde_json::from_str(line).expect("a JSON line");
        if record["key"] == pgmeta::testkit::END_MARKER {
            continue; // written by read_raw, not by pgmeta
        }
        let at = (
            record["topic"].as_str().expect("topic").to_owned(),
            record["partition"].as_i64().expect("partition") as i32,
            record["offset"].as_i64().expect("offset"),
        );
        read.insert(at, record["value"].clone());
    }
    assert_eq!(
        read.len(),
        expected.len(),
        "records read by the foreign reader"
    );
    for (at, value) in expected {
        let got = read
            .get(at)
            .unwrap_or_else(|| panic!("record {at:?} not read"));
        assert!(
            same(got, value),
            "record {at:?}:\n read {got}\n sent {value}"
        );
    }
    for topic in topics {
        let values = expected.keys().filter(|(t, _, _)| t == topic).count();
        assert!(values > 0, "{topic} has records");
    }
}

/// Runs Apache Avro for Java (`tests/foreign/ReadRecords.java`) over every non-tombstone
/// record and checks each decodes to the value pgmeta sent.
fn assert_java_reader_agrees(
    env: &TestEnv,
    topics: &[String],
    registry: Option<&str>,
    expected: &BTreeMap<(String, i32, i64), Value>,
) {
    let Some(classpath) = crate::common::java_classpath() else {
        pgmeta::testkit::skip(
            "the Java reader of the topics",
            pgmeta::testkit::Missing::Tool,
            "no Java or no Apache Avro jars (run scripts/install-java-tools.sh)",
        );
        return;
    };
    let mut lines = String::new();
    for topic in topics {
        for r in read_raw(&env.brokers, topic) {
            if let Some(p) = r.payload {
                let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
                lines.push_str(&format!("{topic} {} {} {hex}\n", r.partition, r.offset));
            }
        }
    }
    let file = tempfile::NamedTempFile::new().expect("records file");
    std::fs::write(file.path(), lines).expect("write records");
    let out = std::process::Command::new("java")
        .arg("-cp")
        .arg(classpath)
        .arg(pgmeta::testkit::project_dir().join("tests/foreign/ReadRecords.java"))
        .arg(file.path())
        .arg(pgmeta::testkit::project_dir().join("schemas"))
        .args(registry)
        .output()
        .expect("run java");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Java reader failed:\n{stderr}");
    let mut decoded = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("Java printed no JSON ({e}): {line}"));
        let at = (
            record["topic"].as_str().expect("topic").to_owned(),
            record["partition"].as_i64().expect("partition") as i32,
            record["offset"].as_i64().expect("offset"),
        );
        let sent = expected
            .get(&at)
            .unwrap_or_else(|| panic!("{at:?} was not sent"));
        assert!(
            same(&record["value"], sent),
            "record {at:?}:\n Java read {}\n sent {sent}",
            record["value"]
        );
        decoded += 1;
    }
    let values = expected.values().filter(|v| !v.is_null()).count();
    assert_eq!(decoded, values, "every record decoded by Java");
}

#[tokio::test]
async fn single_object_records_decode_with_fastavro_and_java() {
    let Some(python) = avro_python() else {
        pgmeta::testkit::skip(
            "single_object_records_decode_with_fastavro_and_java",
            pgmeta::testkit::Missing::Tool,
            "no venv-avro (run scripts/install-python-tools.sh)",
        );
        return;
    };
    let env = TestEnv::new("foreign_single").await;
    capture_workload(&env, &env.config()).await;
    let topics = topics(&env);
    let (expected, ids) = sent(&env, &topics);
    assert_eq!(ids, [None, None, None, None], "single-object framing");
    let schemas = pgmeta::testkit::project_dir().join("schemas");
    assert_foreign_reader_agrees(
        &env,
        &topics,
        &python,
        &["single-object", &schemas.to_string_lossy()],
        &expected,
    );
    assert_java_reader_agrees(&env, &topics, None, &expected);
}

#[tokio::test]
async fn registry_framed_records_decode_with_confluent_kafka_and_java_and_reach_the_catalog() {
    let (Some(python), Some(registry)) =
        (avro_python(), SchemaRegistryServer::start_on(free_port()))
    else {
        pgmeta::testkit::skip(
            "registry_framed_records_decode_with_confluent_kafka_and_java_and_reach_the_catalog",
            pgmeta::testkit::Missing::Tool,
            "no venv-avro or rivven-schema (run scripts/install-python-tools.sh and scripts/install-rivven-schema.sh)",
        );
        return;
    };
    let mut p = Pipeline::new("foreign_registry").await;
    let mut config = p.env.config();
    config.kafka.serialization = Serialization::Confluent;
    config.kafka.schema_registry = Some(registry_config(&registry.url()));
    capture_workload(&p.env, &config).await;

    let topics = topics(&p.env);
    let (_, ids) = sent(&p.env, &topics);
    let ids: Vec<u32> = ids.into_iter().flatten().collect();
    assert_eq!(ids.len(), 4, "registry framing on every topic: {ids:?}");
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        4,
        "one schema id per topic's subject: {ids:?}"
    );

    // An event the catalog refuses (a 300-character table name) goes to the dead-letter topic
    // as it was written; foreign readers read that topic too.
    let codec = AvroCodec::metadata()
        .expect("codec")
        .with_registry_id(ids[0]);
    let mut refused = read_raw(&p.env.brokers, &p.env.topic)
        .into_iter()
        .filter_map(|r| r.payload)
        .map(|b| codec.decode(&b).expect("decodes"))
        .find(|e| e.table.as_ref().is_some_and(|t| t.name == "orders"))
        .expect("the orders table's event");
    let long = "x".repeat(300);
    if let Some(t) = refused.table.as_mut() {
        t.name = long.clone();
    }
    refused.fqn = p.fqn("sales", &long);
    crate::apply::produce_raw(
        &p.env.brokers,
        &p.env.topic,
        &refused.fqn,
        &codec.encode(&refused).expect("encodes"),
    );

    // pgmeta-apply fetches the writer schemas from the registry and applies the records.
    let mut args = p.apply_args(&format!("{}-apply", p.env.db));
    args.extend(["--schema-registry-url".to_owned(), registry.url()]);
    p.apply = Some(Service::start(
        "pgmeta-apply",
        &args,
        &[("PGMETA_APPLY_TOKEN", TOKEN)],
    ));
    let orders = p.fqn("sales", "orders");
    let clients = p.fqn("sales", "clients");
    p.wait_for(
        "sales.orders and the renamed clients in the catalog",
        Duration::from_secs(60),
        || async {
            p.table(&orders, "non-deleted").await.is_some()
                && p.table(&clients, "non-deleted").await.is_some()
        },
    )
    .await;
    let view = p.fqn("sales", "revenue");
    p.wait_for(
        "the view's lineage in the catalog",
        Duration::from_secs(60),
        || async {
            let (status, body) = p
                .get(&format!(
                    "lineage/table/name/{}?upstreamDepth=1&downstreamDepth=0",
                    pgmeta::apply::encode_path(&view)
                ))
                .await;
            status == 200
                && body["upstreamEdges"]
                    .as_array()
                    .is_some_and(|e| e.len() >= 2)
        },
    )
    .await;
    let dlq = p.dlq.clone();
    p.wait_for(
        "the refused event on the dead-letter topic",
        Duration::from_secs(60),
        || async { !read_raw(&p.env.brokers, &dlq).is_empty() },
    )
    .await;

    let mut all = topics.clone();
    all.push(dlq);
    let (expected, _) = sent(&p.env, &all);
    assert_foreign_reader_agrees(&p.env, &all, &python, &[&registry.url()], &expected);
    assert_java_reader_agrees(&p.env, &all, Some(&registry.url()), &expected);
}

/// JSON equality, with floating-point numbers equal to the last bit or two: serde_json's
/// default parser may round the 17th digit of Python's shortest representation differently.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= f64::EPSILON * 4.0 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[tokio::test]
async fn a_schema_the_registry_refuses_stops_the_capture_naming_the_subject() {
    let Some(registry) = SchemaRegistryServer::start_on(free_port()) else {
        pgmeta::testkit::skip(
            "a_schema_the_registry_refuses_stops_the_capture_naming_the_subject",
            pgmeta::testkit::Missing::Tool,
            "no rivven-schema (run scripts/install-rivven-schema.sh)",
        );
        return;
    };
    let env = TestEnv::new("registry_refuses").await;
    // Someone registered another shape under the metadata topic's subject first.
    let subject = format!("{}-value", env.topic);
    let client =
        pgmeta::registry::SchemaRegistry::new(&registry_config(&registry.url())).expect("client");
    client
        .register(
            &subject,
            r#"{"type": "record", "name": "MetadataEvent", "namespace": "io.pgmeta", "fields": [{"name": "event_id", "type": "int"}]}"#,
        )
        .await
        .expect("registered");
    let mut config = env.config();
    config.kafka.serialization = Serialization::Confluent;
    config.kafka.schema_registry = Some(registry_config(&registry.url()));
    let err = pgmeta::sink::KafkaSink::connect(&config.kafka)
        .await
        .expect_err("the registry refuses");
    let message = err.to_string();
    assert!(
        message.contains(&format!("subject {subject} as incompatible")),
        "{message}"
    );
    let cause = pgmeta::capture::CaptureError::Sink(err).cause();
    assert_eq!(
        (cause.system, cause.code.as_str()),
        ("registry", "incompatible")
    );
}

#[tokio::test]
async fn a_registry_down_at_start_is_waited_for() {
    if pgmeta::testkit::rivven_schema_path().is_none() {
        pgmeta::testkit::skip(
            "a_registry_down_at_start_is_waited_for",
            pgmeta::testkit::Missing::Tool,
            "no rivven-schema (run scripts/install-rivven-schema.sh)",
        );
        return;
    }
    let env = TestEnv::new("registry_late").await;
    env.sql("CREATE TABLE t (id int)").await;
    let port = free_port();
    let mut config = env.config();
    config.kafka.serialization = Serialization::Confluent;
    config.kafka.schema_registry = Some(registry_config(&format!("http://127.0.0.1:{port}")));
    let connecting = tokio::spawn({
        let kafka = config.kafka.clone();
        async move { pgmeta::sink::KafkaSink::connect(&kafka).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !connecting.is_finished(),
        "the capture waits for the registry"
    );
    let _registry = SchemaRegistryServer::start_on(port).expect("registry");
    let sink = connecting
        .await
        .expect("task")
        .expect("connects once the registry is up");
    let target = pgmeta::pg::PgTarget::resolve(&config.source, &|_| None).expect("target");
    let mut capture = pgmeta::capture::Capture::new(&config, target, sink, false).expect("capture");
    poll_ok(&mut capture).await;
    let records = read_raw(&env.brokers, &env.topic);
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .filter_map(|r| r.payload.as_deref())
            .all(|p| pgmeta::codec::registry_schema_id(p).is_some()),
        "every record in registry framing"
    );
}
