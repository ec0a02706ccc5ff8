//! Very large entities: a 1,600-column table (PostgreSQL's maximum) and a view whose definition
//! is over 1 MB. Both arrive on the topic; what does not fit under kafka.max_event_bytes is
//! named in `truncated_fields` instead of blocking the capture on a broker size error.

use crate::common::{TestEnv, poll_ok};

#[tokio::test]
async fn widest_table_and_megabyte_view_definition_arrive() {
    let env = TestEnv::new("limits").await;
    let columns: Vec<String> = (1..1600).map(|i| format!("c{i} integer")).collect();
    env.sql(&format!(
        "CREATE TABLE wide (id integer, {})",
        columns.join(", ")
    ))
    .await;
    let values: Vec<String> = (100_000..250_000).map(|i| i.to_string()).collect();
    env.sql(&format!(
        "CREATE VIEW huge AS SELECT id FROM wide WHERE id IN ({})",
        values.join(", ")
    ))
    .await;
    let definition_len: i64 = env
        .client
        .query_one(
            "SELECT length(pg_get_viewdef('huge'::regclass, true))::int8",
            &[],
        )
        .await
        .expect("length")
        .get(0);
    assert!(
        definition_len > 1_000_000,
        "the fixture is over 1 MB ({definition_len})"
    );

    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let records = env.records();
    let table = |name: &str| {
        records
            .iter()
            .filter_map(|r| r.event.as_ref())
            .find(|e| e.table.as_ref().is_some_and(|t| t.name == name))
            .unwrap_or_else(|| panic!("no event for {name}"))
            .clone()
    };
    let wide = table("wide");
    assert_eq!(wide.table.as_ref().map(|t| t.columns.len()), Some(1600));
    assert!(
        wide.truncated_fields.is_empty() && wide.table.as_ref().is_some_and(|t| t.ddl.is_some())
    );
    let huge = table("huge");
    assert_eq!(
        huge.truncated_fields,
        vec!["table.ddl", "table.view_definition"]
    );
    assert_eq!(huge.table.as_ref().map(|t| t.columns.len()), Some(1));

    // The full definition still drives change detection.
    env.sql(&format!(
        "CREATE OR REPLACE VIEW huge AS SELECT id FROM wide WHERE id IN ({}, 1)",
        values.join(", ")
    ))
    .await;
    poll_ok(&mut capture).await;
    let update = env.records_since(&records);
    let e = update
        .iter()
        .find_map(|r| r.event.as_ref())
        .expect("an update");
    assert_eq!(
        (e.fqn.ends_with(".huge"), e.changed_fields.clone()),
        (true, vec!["view_definition".to_string(), "ddl".to_string()])
    );
}
