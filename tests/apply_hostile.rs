//! pgmeta-apply against events no capture would send: malformed names, a name of 100,000
//! characters, an `emitted_at` a year ahead, random bytes, and thousands of random valid-Avro
//! events. The process stays up, each record is applied or dead-lettered with its reason, the
//! counts add up, and a change captured afterwards still reaches the catalog.

use crate::apply::Pipeline;
use crate::common::{Rng, poll_ok};
use pgmeta::codec::AvroCodec;
use pgmeta::event::{MetadataEvent, Op};
use pgmeta::model::{EntityType, Fqn};
use pgmeta::testkit::read_raw;
use std::time::Duration;

fn produce(brokers: &str, topic: &str, records: &[(String, Vec<u8>)]) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("queue.buffering.max.messages", "100000")
        .create()
        .expect("producer");
    for (key, payload) in records {
        producer
            .send(BaseRecord::to(topic).key(key).payload(payload))
            .map_err(|(e, _)| e)
            .expect("send");
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// A name made of pieces that break naive FQN code: dots, quotes, spaces, unicode, nothing.
fn random_name(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &["a", ".", "\"", "ü", " ", "", "x", "..", "\"\"", "t1", "😀"];
    (0..rng.below(6)).map(|_| *rng.pick(PIECES)).collect()
}

/// The dead letters: key, error and cause headers.
fn dead_letters(p: &Pipeline) -> Vec<(String, String, String)> {
    read_raw(&p.env.brokers, &p.dlq)
        .into_iter()
        .map(|r| {
            let header = |name: &str| {
                r.headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let (error, cause) = (header("pgmeta.dlq.error"), header("pgmeta.dlq.cause"));
            (r.key, error, cause)
        })
        .collect()
}

/// A captured event of table `public.a`, to derive hostile ones from.
async fn table_a(
    p: &mut Pipeline,
) -> (
    MetadataEvent,
    pgmeta::capture::Capture<pgmeta::sink::KafkaSink>,
) {
    p.env.sql("CREATE TABLE a (id int PRIMARY KEY)").await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    let event = p
        .env
        .records()
        .into_iter()
        .filter_map(|r| r.event)
        .find(|e| e.entity_type == EntityType::Table)
        .expect("the event of table a");
    p.start_apply();
    let fa = p.fqn("public", "a");
    p.wait_for("table a", Duration::from_secs(60), || async {
        p.table(&fa, "all").await.is_some()
    })
    .await;
    (event, capture)
}

#[tokio::test]
async fn hostile_events_are_dead_lettered_and_later_changes_still_apply() {
    let mut p = Pipeline::new("apply_hostile").await;
    let (a, mut capture) = table_a(&mut p).await;
    let codec = AvroCodec::metadata().expect("codec");
    // Key, event, what the error says, and its cause.
    let mut hostile: Vec<(String, MetadataEvent, &str, &str)> = Vec::new();
    let mut one_part = a.clone();
    one_part.fqn = "onepart".into();
    one_part.table = None;
    one_part.op = Op::Delete;
    hostile.push((
        "onepart".into(),
        one_part,
        "has 1 part(s); expected 4",
        "malformed_event",
    ));
    let mut empty = a.clone();
    empty.fqn = format!("svc.{}..a", p.env.db);
    empty.table = None;
    empty.op = Op::Delete;
    hostile.push((
        empty.fqn.clone(),
        empty,
        "part 3 is empty",
        "malformed_event",
    ));
    let mut disagrees = a.clone();
    disagrees.fqn = "svc.elsewhere.public.a".into();
    hostile.push((
        disagrees.fqn.clone(),
        disagrees,
        "disagrees with the entity",
        "malformed_event",
    ));
    let mut long = a.clone();
    let name = "x".repeat(100_000);
    if let Some(t) = long.table.as_mut() {
        t.name = name.clone();
    }
    long.fqn = Fqn::new(["svc", p.env.db.as_str(), "public", name.as_str()]).to_string();
    // Refused by the server (a name past 256 characters) or by HTTP itself (a URL past 64 KiB).
    hostile.push(("long".into(), long, "", ""));
    let mut future = a.clone();
    future.emitted_at += 365 * 24 * 3600 * 1000;
    future.entity_version += 1;
    hostile.push((
        future.fqn.clone(),
        future,
        "ahead of this host's clock",
        "malformed_event",
    ));
    let mut records: Vec<(String, Vec<u8>)> = hostile
        .iter()
        .map(|(key, e, _, _)| (key.clone(), codec.encode(e).expect("encode")))
        .collect();
    records.push(("junk".into(), b"\xc3\x01not avro".to_vec()));
    records.push(("junk".into(), Vec::new()));
    let topic = format!("{}.metadata", p.env.db);
    produce(&p.env.brokers, &topic, &records);

    // A change captured afterwards reaches the catalog.
    p.env.sql("ALTER TABLE a ADD COLUMN later int").await;
    poll_ok(&mut capture).await;
    let fa = p.fqn("public", "a");
    p.wait_for(
        "the change after the hostile events",
        Duration::from_secs(60),
        || async {
            p.table(&fa, "all")
                .await
                .is_some_and(|t| t["columns"].as_array().is_some_and(|c| c.len() == 2))
        },
    )
    .await;
    p.wait_for(
        "every hostile record dead-lettered",
        Duration::from_secs(60),
        || async { dead_letters(&p).len() >= records.len() },
    )
    .await;
    let dead = dead_letters(&p);
    assert_eq!(dead.len(), records.len(), "{dead:?}");
    for (key, _, reason, cause) in &hostile {
        let key = if key.len() > 1000 {
            "long"
        } else {
            key.as_str()
        };
        assert!(
            dead.iter().any(|(k, error, c)| k == key
                && error.contains(reason)
                && c.starts_with(cause)
                && !c.is_empty()),
            "{key}: no dead letter saying {reason:?} with cause {cause:?} in {dead:?}"
        );
    }
    // The name past what the server or HTTP takes: refused by one of them.
    assert!(
        dead.iter()
            .any(|(k, _, c)| k == "long" && (c.starts_with("http_4") || c == "request")),
        "{dead:?}"
    );
    assert_eq!(
        dead.iter()
            .filter(|(k, _, c)| k == "junk" && c == "not_an_event")
            .count(),
        2,
        "{dead:?}"
    );
    assert!(
        p.apply.as_mut().is_some_and(|a| a.is_running()),
        "pgmeta-apply stopped"
    );
}

#[tokio::test]
async fn thousands_of_random_events_and_bytes_are_each_applied_or_dead_lettered() {
    let seed: u64 = std::env::var("PGMETA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xf00d);
    let mut p = Pipeline::new("apply_fuzz").await;
    let (a, _capture) = table_a(&mut p).await;
    // What apply counted before the fuzz, once it has taken everything on the topic (the
    // snapshot and the test reader's end markers): the same count twice, a second apart.
    let mut before = p.consumed(p.metrics_port).await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = p.consumed(p.metrics_port).await;
        if now == before {
            break;
        }
        before = now;
    }
    let codec = AvroCodec::metadata().expect("codec");
    let mut rng = Rng::new(seed);
    let mut records = Vec::new();
    for i in 0..1500 {
        if i % 3 == 2 {
            let len = rng.below(64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            records.push((format!("bytes{i}"), bytes));
            continue;
        }
        let mut e = a.clone();
        e.event_id = format!("fuzz-{i}");
        e.entity_version = rng.below(5) as i64;
        e.op = [Op::Create, Op::Update, Op::Delete, Op::Snapshot][rng.below(4)];
        e.entity_type = [
            EntityType::Database,
            EntityType::DatabaseSchema,
            EntityType::Table,
            EntityType::Routine,
        ][rng.below(4)];
        let parts: Vec<String> = (0..rng.below(6)).map(|_| random_name(&mut rng)).collect();
        e.fqn = if rng.below(2) == 0 {
            Fqn::new(parts.iter().map(String::as_str)).to_string()
        } else {
            parts.join(".")
        };
        if let Some(t) = e.table.as_mut() {
            t.name = random_name(&mut rng);
            t.schema = random_name(&mut rng);
        }
        if rng.below(3) == 0 {
            e.table = None;
        }
        if rng.below(10) == 0 {
            e.previous_fqn = Some(random_name(&mut rng));
        }
        records.push((e.fqn.clone(), codec.encode(&e).expect("encode")));
    }
    produce(&p.env.brokers, &format!("{}.metadata", p.env.db), &records);
    let want = before + records.len();
    p.wait_for(
        "every fuzz record consumed",
        Duration::from_secs(300),
        || async { p.consumed(p.metrics_port).await >= want },
    )
    .await;
    assert!(
        p.apply.as_mut().is_some_and(|a| a.is_running()),
        "pgmeta-apply stopped"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", p.metrics_port))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    let dead_lettered: usize = metrics
        .lines()
        .filter(|l| {
            l.starts_with("pgmeta_apply_events_total{") && l.contains("outcome=\"dead_lettered\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as usize;
    let dead = dead_letters(&p).len();
    let counted: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("pgmeta_apply_events_total{"))
        .collect();
    assert_eq!(
        p.consumed(p.metrics_port).await,
        want,
        "seed {seed}: every record counted once: {counted:?}"
    );
    assert_eq!(
        dead, dead_lettered,
        "seed {seed}: every dead-lettered event is on the topic"
    );
    assert!(
        dead >= 500,
        "seed {seed}: the 500 random byte strings at least: {dead}"
    );
}

/// A lineage edge whose table never arrives is parked, not waited for in place: the edges
/// after it are applied at once, and commits stop at it, so a restarted pgmeta-apply still
/// holds it (and would dead-letter it after `--missing-entity-timeout-secs`, here 300 s).
#[tokio::test]
async fn a_lineage_edge_waiting_for_its_table_does_not_hold_back_the_others() {
    let mut p = Pipeline::new("apply_parked").await;
    p.env
        .sql("CREATE TABLE src (id int); CREATE VIEW first_view AS SELECT id FROM src;")
        .await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    let lineage_topic = format!("{}.lineage", p.env.db);
    let mut orphan = pgmeta::testkit::read_lineage(&p.env.brokers, &lineage_topic)
        .into_iter()
        .find_map(|(_, e)| e)
        .expect("the first view's edge");
    orphan.from_fqn = p.fqn("public", "never_created");
    let key = orphan.key();
    orphan.event_id = pgmeta::event::LineageEvent::id_for(&key, 1, orphan.op);
    let bytes = AvroCodec::lineage()
        .expect("codec")
        .encode_value(&orphan, &key)
        .expect("encodes");
    produce(&p.env.brokers, &lineage_topic, &[(key, bytes)]);
    // Edges behind it in the topic.

    let mut args = p.apply_args_waiting(&format!("{}-apply", p.env.db), 300);
    args.extend([
        "--metrics-listen".to_owned(),
        format!("127.0.0.1:{}", p.metrics_port),
    ]);
    p.apply = Some(pgmeta::testkit::Service::start(
        "pgmeta-apply",
        &args,
        &[("PGMETA_APPLY_TOKEN", crate::apply::TOKEN)],
    ));
    let port = p.metrics_port;
    let parked = "pgmeta_apply_parked_events{stream=\"lineage\"}";
    p.wait_for(
        "the orphan edge parked",
        Duration::from_secs(60),
        || async { p.metric_sum(port, parked).await == 1.0 },
    )
    .await;
    // An edge that comes while the orphan waits.
    p.env
        .sql("CREATE VIEW second_view AS SELECT id FROM src")
        .await;
    poll_ok(&mut capture).await;
    for view in ["first_view", "second_view"] {
        let fqn = p.fqn("public", view);
        p.wait_for(
            &format!("the lineage of {view}"),
            Duration::from_secs(60),
            || async {
                let (_, g) = p
                    .get(&format!(
                        "lineage/table/name/{}?upstreamDepth=1&downstreamDepth=0",
                        pgmeta::apply::encode_path(&fqn)
                    ))
                    .await;
                g["upstreamEdges"].as_array().is_some_and(|e| !e.is_empty())
            },
        )
        .await;
    }
    assert_eq!(p.metric_sum(port, parked).await, 1.0);
    assert!(dead_letters(&p).is_empty());

    // Restarted, it reads the orphan again: the commit did not pass it.
    if let Some(a) = p.apply.as_mut() {
        a.restart();
    }
    p.wait_for(
        "the orphan edge parked again",
        Duration::from_secs(60),
        || async { p.metric_sum(port, parked).await == 1.0 },
    )
    .await;
}
