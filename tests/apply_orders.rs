//! pgmeta-apply's applier against pgmeta-catalog, fed the events of a real capture in many
//! orders: the orders a consumer may see them in. Events of one key keep their order (a key
//! is one partition, and the consumer's lanes and parked events keep a key's order); across
//! keys and topics anything goes, and a restart replays what was not committed yet, with the
//! applier's caches empty. Whatever the order, the catalog must end as the source is.
//!
//! The chaos test meets such orders by chance; this one walks many of them on purpose, for
//! the case the chaos test once ended wrong on: a view's table renamed along a chain
//! (`t0` -> `t1` -> `t2` -> `t3`), each name's edge added and deleted under its own key.

use crate::apply::{Pipeline, TOKEN, assert_view_lineage_equals_source};
use crate::common::{Rng, poll_ok};
use pgmeta::apply::{Applier, ApplierConfig, ApplyError, HttpMetadataClient};
use pgmeta::config::Secret;
use pgmeta::event::{LineageEvent, MetadataEvent};
use std::collections::BTreeMap;
use std::time::Duration;

enum Event {
    Metadata(Box<MetadataEvent>),
    Lineage(Box<LineageEvent>),
}

impl Event {
    fn describe(&self) -> String {
        match self {
            Event::Metadata(e) => format!("metadata {} {}", e.op.as_str(), e.fqn),
            Event::Lineage(e) => format!("lineage {:?} {} -> {}", e.op, e.from_fqn, e.to_fqn),
        }
    }
}

/// One key's events in topic order, and how far the applier got.
struct Key {
    events: Vec<Event>,
    next: usize,
}

fn applier(p: &Pipeline) -> Applier {
    let client = HttpMetadataClient::new(
        &p.catalog.api(),
        Some(Secret::new(TOKEN.into())),
        Duration::from_secs(10),
    )
    .expect("client");
    Applier::new(
        client,
        ApplierConfig {
            hard_delete: false,
            override_metadata: true,
            service_type: "Postgres".into(),
        },
    )
}

/// The events of this test's topics, by key (tombstones left out: nothing to apply).
fn keys(p: &Pipeline) -> Vec<Key> {
    let mut by_key: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for r in p.env.records() {
        if let Some(e) = r.event {
            by_key
                .entry(format!("metadata {}", r.key))
                .or_default()
                .push(Event::Metadata(Box::new(e)));
        }
    }
    for (key, e) in p.env.lineage() {
        if let Some(e) = e {
            by_key
                .entry(format!("lineage {key}"))
                .or_default()
                .push(Event::Lineage(Box::new(e)));
        }
    }
    by_key
        .into_values()
        .map(|events| Key { events, next: 0 })
        .collect()
}

/// Applies every event once in an order drawn from `rng`, with restarts; returns the order
/// applied, for a failure's report.
async fn apply_in_some_order(p: &Pipeline, keys: &mut [Key], rng: &mut Rng) -> Vec<String> {
    let mut applier = applier(p);
    let mut order = Vec::new();
    let mut waiting = 0;
    loop {
        let open: Vec<usize> = (0..keys.len())
            .filter(|&k| keys[k].next < keys[k].events.len())
            .collect();
        if open.is_empty() {
            return order;
        }
        let k = *rng.pick(&open);
        let key = &mut keys[k];
        let event = &key.events[key.next];
        let result = match event {
            Event::Metadata(e) => applier.metadata(e).await,
            Event::Lineage(e) => applier.lineage(e).await,
        };
        match result {
            Ok(applied) => {
                order.push(format!("{} ({applied:?})", event.describe()));
                key.next += 1;
                waiting = 0;
            }
            // Waits for another key's event (parked, or waiting in place): try another.
            Err(ApplyError::Missing(_) | ApplyError::Transient { .. }) => {
                waiting += 1;
                assert!(
                    waiting < 500,
                    "stuck: every key left waits ({}); applied so far:\n{}",
                    event.describe(),
                    order.join("\n")
                );
            }
            Err(e @ ApplyError::Definite { .. }) => panic!(
                "{} would be dead-lettered: {e}; applied before it:\n{}",
                event.describe(),
                order.join("\n")
            ),
        }
        // A restart: caches gone, and each key replays from its last commit, up to two
        // events back.
        if rng.below(12) == 0 {
            order.push("-- restart".into());
            applier = self::applier(p);
            for key in keys.iter_mut() {
                key.next -= rng.below(key.next.min(2) + 1);
            }
        }
    }
}

#[tokio::test]
async fn a_rename_chain_applied_in_any_order_leaves_the_view_edge_from_the_last_name() {
    let p = Pipeline::new("apply_orders").await;
    p.env
        .sql("CREATE TABLE t0 (id int PRIMARY KEY, v text); CREATE VIEW v AS SELECT id, v FROM t0;")
        .await;
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    for (i, step) in [
        "ALTER TABLE t0 RENAME TO t1",
        "COMMENT ON TABLE t1 IS 'one'",
        "ALTER TABLE t1 RENAME TO t2",
        "ALTER TABLE t2 ADD COLUMN c int",
        "ALTER TABLE t2 RENAME TO t3",
    ]
    .iter()
    .enumerate()
    {
        p.env.sql(step).await;
        let reports = poll_ok(&mut capture).await;
        assert!(
            reports.iter().any(|r| r.changes > 0),
            "step {i} ({step}) emitted nothing"
        );
    }
    let mut keys = keys(&p);
    let renames = keys
        .iter()
        .flat_map(|k| &k.events)
        .filter(|e| matches!(e, Event::Metadata(m) if m.previous_fqn.is_some()))
        .count();
    assert_eq!(renames, 3, "three renames captured");
    let trials = std::env::var("PGMETA_APPLY_ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let service = pgmeta::apply::encode_path("svc");
    for trial in 0..trials {
        // A clean catalog for each order.
        let r = p
            .http
            .delete(format!(
                "{}/v1/services/databaseServices/name/{service}?hardDelete=true&recursive=true",
                p.catalog.api()
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("DELETE service");
        assert!(
            [200, 404].contains(&r.status().as_u16()),
            "trial {trial}: DELETE service: {}",
            r.status()
        );
        for k in keys.iter_mut() {
            k.next = 0;
        }
        let mut rng = Rng::new(0x0d3e_0000 + trial);
        let order = apply_in_some_order(&p, &mut keys, &mut rng).await;
        if let Err(gap) = assert_view_lineage_equals_source(&p, Duration::ZERO).await {
            panic!(
                "trial {trial}: {gap}; applied in this order:\n{}",
                order.join("\n")
            );
        }
        for (name, deleted) in [
            ("t0", true),
            ("t1", true),
            ("t2", true),
            ("t3", false),
            ("v", false),
        ] {
            let state = p.table_state(&p.fqn("public", name)).await;
            assert!(
                state.contains(&format!("deleted {deleted}")),
                "trial {trial}: {name}: {state}; applied in this order:\n{}",
                order.join("\n")
            );
        }
    }
}
