use super::*;
use crate::model::*;
use std::collections::HashSet;

use crate::model::fixtures::column;

fn table(oid: i64, name: &str) -> Table {
    Table {
        row_estimate: Some(10.0),
        size_bytes: Some(8192),
        columns: vec![column(1, "id", "integer"), column(2, "email", "text")],
        ..crate::model::fixtures::table(oid, name, TableType::Table)
    }
}

fn snapshot(tables: Vec<Table>) -> CatalogSnapshot {
    let mut all_keys: HashSet<EntityKey> = tables
        .iter()
        .map(|t| EntityKey {
            entity_type: EntityType::Table,
            oid: t.oid,
        })
        .collect();
    all_keys.insert(EntityKey {
        entity_type: EntityType::DatabaseSchema,
        oid: 2200,
    });
    CatalogSnapshot {
        server_version: "15.19".into(),
        database: Database {
            oid: 5,
            name: "app".into(),
            owner: "postgres".into(),
            description: None,
            encoding: "UTF8".into(),
            collation: "C".into(),
            extensions: vec![],
        },
        schemas: vec![DatabaseSchema {
            oid: 2200,
            name: "public".into(),
            owner: "postgres".into(),
            description: None,
            privileges: vec![],
            sequences: vec![],
        }],
        tables,
        routines: vec![],
        all_keys,
        search_path: vec!["public".into()],
        view_dependencies: Default::default(),
    }
}

const OPTS: DiffOptions = DiffOptions {
    mark_deleted_tables: true,
    full: false,
};

/// State after emitting `tables` once.
fn emitted(tables: Vec<Table>) -> DatabaseState {
    let mut state = DatabaseState::default();
    let mut d = diff(&state, snapshot(tables), "svc", OPTS);
    state.apply(&mut d);
    state
}

fn source() -> crate::event::SourceInfo {
    crate::event::SourceInfo {
        service: "svc".into(),
        database: "app".into(),
        server_version: "15.19".into(),
        capture_mode: crate::event::CaptureMode::Poll,
        pgmeta_version: "0".into(),
    }
}

fn ops(d: &Diff) -> Vec<(Op, String)> {
    d.changes
        .iter()
        .map(|c| (c.op, c.fqn.to_string()))
        .collect()
}

#[test]
fn first_run_emits_everything_as_snapshot_parents_first() {
    let mut part = table(12, "p1");
    part.partition_of = Some(PartitionOf {
        parent_schema: "public".into(),
        parent_table: "t".into(),
        bound: "DEFAULT".into(),
    });
    let d = diff(
        &DatabaseState::default(),
        snapshot(vec![part, table(11, "t")]),
        "svc",
        OPTS,
    );
    assert_eq!(
        ops(&d),
        vec![
            (Op::Snapshot, "svc.app".into()),
            (Op::Snapshot, "svc.app.public".into()),
            (Op::Snapshot, "svc.app.public.t".into()),
            (Op::Snapshot, "svc.app.public.p1".into()),
        ]
    );
    assert!(
        d.changes
            .iter()
            .all(|c| c.version == 1 && c.entity.is_some())
    );
}

#[test]
fn unchanged_snapshot_yields_nothing() {
    let state = emitted(vec![table(11, "t")]);
    let d = diff(&state, snapshot(vec![table(11, "t")]), "svc", OPTS);
    assert!(d.changes.is_empty() && d.forgotten.is_empty());
}

#[test]
fn statistics_alone_are_not_a_change() {
    let state = emitted(vec![table(11, "t")]);
    let mut t = table(11, "t");
    t.row_estimate = Some(1e6);
    t.size_bytes = Some(1 << 30);
    assert!(
        diff(&state, snapshot(vec![t]), "svc", OPTS)
            .changes
            .is_empty()
    );
}

#[test]
fn new_table_after_first_run_is_create() {
    let state = emitted(vec![table(11, "t")]);
    let d = diff(
        &state,
        snapshot(vec![table(11, "t"), table(13, "u")]),
        "svc",
        OPTS,
    );
    assert_eq!(ops(&d), vec![(Op::Create, "svc.app.public.u".into())]);
}

#[test]
fn added_dropped_retyped_and_renamed_columns_are_named() {
    let state = emitted(vec![table(11, "t")]);
    let mut t = table(11, "t");
    t.columns[0].data_type = "bigint".into();
    t.columns[1].name = "mail".into();
    t.columns.push(column(3, "phone", "text"));
    let mut d = diff(&state, snapshot(vec![t.clone()]), "svc", OPTS);
    assert_eq!(ops(&d), vec![(Op::Update, "svc.app.public.t".into())]);
    assert_eq!(
        d.changes[0].changed_fields,
        vec!["columns.id.data_type", "columns.mail.name", "columns.phone"]
    );
    assert_eq!(d.changes[0].version, 2);

    let mut state = state;
    state.apply(&mut d);
    t.columns.remove(2);
    let d = diff(&state, snapshot(vec![t]), "svc", OPTS);
    assert_eq!(d.changes[0].changed_fields, vec!["columns.phone"]);
    assert_eq!(d.changes[0].version, 3);
}

#[test]
fn owner_comment_and_constraint_changes() {
    let state = emitted(vec![table(11, "t")]);
    let mut t = table(11, "t");
    t.owner = "someone".into();
    t.description = Some("now documented".into());
    t.columns[1].description = Some("where to write".into());
    t.constraints.push(Constraint {
        name: "t_fk".into(),
        constraint_type: ConstraintType::ForeignKey,
        columns: vec!["id".into()],
        definition: "FOREIGN KEY (id) REFERENCES u(id)".into(),
        references: None,
        deferrable: false,
        description: None,
        local: true,
    });
    let d = diff(&state, snapshot(vec![t]), "svc", OPTS);
    assert_eq!(
        d.changes[0].changed_fields,
        vec![
            "owner",
            "description",
            "columns.email.description",
            "constraints.t_fk"
        ]
    );
}

#[test]
fn rename_is_an_update_of_the_same_entity() {
    let state = emitted(vec![table(11, "t")]);
    let d = diff(&state, snapshot(vec![table(11, "renamed")]), "svc", OPTS);
    assert_eq!(ops(&d), vec![(Op::Update, "svc.app.public.renamed".into())]);
    assert_eq!(
        d.changes[0].previous_fqn.as_ref().map(|f| f.to_string()),
        Some("svc.app.public.t".into())
    );
    assert_eq!(d.changes[0].changed_fields, vec!["name"]);
}

#[test]
fn drop_and_recreate_under_the_same_name_is_delete_then_create() {
    let state = emitted(vec![table(11, "t")]);
    let mut s = snapshot(vec![table(99, "t")]);
    s.all_keys.remove(&EntityKey {
        entity_type: EntityType::Table,
        oid: 11,
    });
    let d = diff(&state, s, "svc", OPTS);
    let mut got = ops(&d);
    got.sort();
    assert_eq!(
        got,
        vec![
            (Op::Create, "svc.app.public.t".into()),
            (Op::Delete, "svc.app.public.t".into())
        ]
    );
    let delete = d
        .changes
        .iter()
        .find(|c| c.op == Op::Delete)
        .expect("delete");
    assert!(delete.entity.is_none());
    assert_eq!(delete.key.oid, 11);
}

#[test]
fn filtered_out_is_not_deleted_and_is_remembered() {
    let state = emitted(vec![table(11, "t"), table(12, "u")]);
    let mut s = snapshot(vec![table(11, "t")]);
    s.all_keys.insert(EntityKey {
        entity_type: EntityType::Table,
        oid: 12,
    });
    let mut d = diff(&state, s, "svc", OPTS);
    assert!(d.changes.is_empty() && d.forgotten.is_empty());
    let mut state = state;
    state.apply(&mut d);
    assert!(state.entities.contains_key(&EntityKey {
        entity_type: EntityType::Table,
        oid: 12
    }));
}

#[test]
fn dropped_objects_are_deleted_children_first() {
    let state = emitted(vec![table(11, "t")]);
    let mut s = snapshot(vec![]);
    s.schemas.clear();
    s.all_keys.clear();
    let d = diff(&state, s, "svc", OPTS);
    assert_eq!(
        ops(&d),
        vec![
            (Op::Delete, "svc.app.public.t".into()),
            (Op::Delete, "svc.app.public".into())
        ]
    );
}

#[test]
fn mark_deleted_tables_off_forgets_silently() {
    let state = emitted(vec![table(11, "t")]);
    let mut s = snapshot(vec![]);
    s.all_keys.clear();
    s.all_keys.insert(EntityKey {
        entity_type: EntityType::DatabaseSchema,
        oid: 2200,
    });
    let mut d = diff(
        &state,
        s,
        "svc",
        DiffOptions {
            mark_deleted_tables: false,
            full: false,
        },
    );
    assert!(d.changes.is_empty());
    assert_eq!(
        d.forgotten,
        vec![EntityKey {
            entity_type: EntityType::Table,
            oid: 11
        }]
    );
    let mut state = state;
    state.apply(&mut d);
    assert!(!state.entities.contains_key(&EntityKey {
        entity_type: EntityType::Table,
        oid: 11
    }));
}

#[test]
fn full_re_emits_everything_keeping_versions() {
    let state = emitted(vec![table(11, "t")]);
    let mut t = table(11, "t");
    t.owner = "other".into();
    let d = diff(
        &state,
        snapshot(vec![t, table(12, "u")]),
        "svc",
        DiffOptions {
            mark_deleted_tables: true,
            full: true,
        },
    );
    assert!(d.changes.iter().all(|c| c.op == Op::Snapshot));
    let versions: Vec<(String, i64)> = d
        .changes
        .iter()
        .map(|c| (c.fqn.to_string(), c.version))
        .collect();
    assert_eq!(
        versions,
        vec![
            ("svc.app".into(), 1),
            ("svc.app.public".into(), 1),
            ("svc.app.public.t".into(), 2),
            ("svc.app.public.u".into(), 1),
        ]
    );
}

#[test]
fn applying_a_diff_makes_the_same_snapshot_quiet() {
    let mut state = emitted(vec![table(11, "t")]);
    let mut t = table(11, "t");
    t.columns.push(column(3, "x", "int"));
    let mut d = diff(&state, snapshot(vec![t.clone()]), "svc", OPTS);
    assert_eq!(d.changes.len(), 1);
    state.apply(&mut d);
    assert!(
        diff(&state, snapshot(vec![t]), "svc", OPTS)
            .changes
            .is_empty()
    );
}

#[test]
fn schema_rename_updates_its_tables_fqns() {
    let state = emitted(vec![table(11, "t")]);
    let mut s = snapshot(vec![]);
    let mut t = table(11, "t");
    t.schema = "sales".into();
    s.tables.push(t);
    s.schemas[0].name = "sales".into();
    let d = diff(&state, s, "svc", OPTS);
    let got: Vec<(String, Option<String>)> = d
        .changes
        .iter()
        .map(|c| {
            (
                c.fqn.to_string(),
                c.previous_fqn.as_ref().map(|f| f.to_string()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("svc.app.sales".into(), Some("svc.app.public".into())),
            ("svc.app.sales.t".into(), Some("svc.app.public.t".into())),
        ]
    );
}

/// The shapes the state keeps come from the events sent (or the entities): a later change has
/// its before values and its classification; a state without shapes gives neither.
#[test]
fn shapes_kept_from_the_sent_events_give_the_next_change_its_before_values() {
    let source = source();
    let mut state = DatabaseState::default();
    let mut first = diff(&state, snapshot(vec![table(10, "users")]), "svc", OPTS);
    let records = outbound(&mut first.changes, &source, 1);
    first.keep_shapes_from(records);
    state.apply(&mut first);
    assert!(state.entities.values().all(|d| d.shape.is_some()));

    let mut changed = table(10, "users");
    changed.columns[1].data_type = "character varying(20)".into();
    let second = diff(&state, snapshot(vec![changed.clone()]), "svc", OPTS);
    let c = &second.changes[0];
    assert_eq!(
        c.field_changes,
        vec![FieldChange {
            path: "columns.email.data_type".into(),
            before: Some("text".into()),
            after: Some("character varying(20)".into()),
        }]
    );
    assert_eq!(c.schema_changes[0].rule, "column.type_narrowed");

    // The same change against a state written before shapes were kept: no before values.
    let bare = emitted(vec![table(10, "users")]);
    let second = diff(&bare, snapshot(vec![changed]), "svc", OPTS);
    assert!(second.changes[0].field_changes.is_empty());
    assert!(second.changes[0].schema_changes.is_empty());
}

/// A snapshot without table 11 anywhere (dropped, not filtered out).
fn without_11(tables: Vec<Table>) -> CatalogSnapshot {
    let mut s = snapshot(tables);
    s.all_keys.remove(&EntityKey {
        entity_type: EntityType::Table,
        oid: 11,
    });
    s
}

/// What a capture killed after sending `tables`' diff against `state`, before saving, noted.
fn noted(state: &DatabaseState, tables: Vec<Table>) -> Vec<SentAhead> {
    let d = diff(state, snapshot(tables), "svc", OPTS);
    sent_ahead(state, &d.changes)
}

fn retracted(state: &DatabaseState, d: &Diff, sent: &[SentAhead]) -> Vec<(Op, String, i64)> {
    retractions(state, d, sent, OPTS)
        .iter()
        .map(|c| (c.op, c.fqn.to_string(), c.version))
        .collect()
}

#[test]
fn a_create_sent_before_a_crash_and_dropped_since_is_retracted() {
    let state = emitted(vec![table(10, "keep")]);
    let sent = noted(&state, vec![table(10, "keep"), table(11, "t")]);
    assert_eq!(sent.len(), 1, "only the name the state does not hold");
    let d = diff(&state, without_11(vec![table(10, "keep")]), "svc", OPTS);
    assert!(d.changes.is_empty(), "the diff alone knows nothing of it");
    assert_eq!(
        retracted(&state, &d, &sent),
        vec![(Op::Delete, "svc.app.public.t".into(), 1)]
    );
}

#[test]
fn a_create_sent_before_a_crash_and_still_there_is_sent_again_not_retracted() {
    let state = emitted(vec![]);
    let sent = noted(&state, vec![table(11, "t")]);
    let d = diff(&state, snapshot(vec![table(11, "t")]), "svc", OPTS);
    assert_eq!(ops(&d), vec![(Op::Create, "svc.app.public.t".into())]);
    assert!(retracted(&state, &d, &sent).is_empty());
}

#[test]
fn a_rename_sent_before_a_crash_and_renamed_again_since_retracts_the_middle_name() {
    let state = emitted(vec![table(11, "a")]);
    let sent = noted(&state, vec![table(11, "b")]);
    let d = diff(&state, snapshot(vec![table(11, "c")]), "svc", OPTS);
    assert_eq!(ops(&d), vec![(Op::Update, "svc.app.public.c".into())]);
    assert_eq!(
        retracted(&state, &d, &sent),
        vec![(Op::Delete, "svc.app.public.b".into(), 2)]
    );
    // Renamed back to the name sent: nothing to retract.
    let d = diff(&state, snapshot(vec![table(11, "b")]), "svc", OPTS);
    assert!(retracted(&state, &d, &sent).is_empty());
}

#[test]
fn a_rename_sent_before_a_crash_and_dropped_since_deletes_both_names_with_distinct_ids() {
    let state = emitted(vec![table(11, "a")]);
    let sent = noted(&state, vec![table(11, "b")]);
    let d = diff(&state, without_11(vec![]), "svc", OPTS);
    assert_eq!(ops(&d), vec![(Op::Delete, "svc.app.public.a".into())]);
    let mut r = retractions(&state, &d, &sent, OPTS);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].fqn.as_str(), r[0].version),
        ("svc.app.public.b", d.changes[0].version)
    );
    let records = retraction_records(&mut r, &source(), 1);
    let ids: Vec<String> = records
        .iter()
        .filter_map(|o| match o {
            Outbound::Event(e) => Some(e.event_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], event_id(&d.changes[0], &source()));
    assert!(
        records
            .iter()
            .any(|o| matches!(o, Outbound::Tombstone { key } if key == "svc.app.public.b")),
        "the retracted name is tombstoned too"
    );
}

#[test]
fn a_dropped_table_gets_no_retraction_when_deleted_tables_are_not_marked() {
    let state = emitted(vec![]);
    let sent = noted(&state, vec![table(11, "t")]);
    let opts = DiffOptions {
        mark_deleted_tables: false,
        ..OPTS
    };
    let d = diff(&state, without_11(vec![]), "svc", opts);
    assert!(retractions(&state, &d, &sent, opts).is_empty());
    // A rename away still is: the entity lives on elsewhere.
    let state = emitted(vec![table(11, "a")]);
    let sent = noted(&state, vec![table(11, "b")]);
    let d = diff(&state, snapshot(vec![table(11, "c")]), "svc", opts);
    assert_eq!(retractions(&state, &d, &sent, opts).len(), 1);
}

#[test]
fn a_name_sent_before_a_crash_and_taken_by_another_object_is_retracted_first() {
    let state = emitted(vec![]);
    let sent = noted(&state, vec![table(11, "t")]);
    let d = diff(&state, without_11(vec![table(12, "t")]), "svc", OPTS);
    let mut r = retractions(&state, &d, &sent, OPTS);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].key.oid, 11);
    let mut d = d;
    let mut records = retraction_records(&mut r, &source(), 1);
    records.extend(outbound(&mut d.changes, &source(), 1));
    let last = records
        .iter()
        .rev()
        .find(|o| o.key() == "svc.app.public.t")
        .expect("records for the name");
    assert!(
        matches!(last, Outbound::Event(e) if e.op == Op::Create && e.object_id == 12),
        "the live object's record comes last for its key: {last:?}"
    );
}

/// A state store reads the heads and then only the digests `digests_to_load` names; the diff
/// from that partial state equals the diff from the whole state, for changes, renames, drops,
/// creates, a full re-emit and names sent ahead.
#[test]
fn a_state_holding_only_the_digests_it_names_diffs_like_the_whole_state() {
    let tables: Vec<Table> = (10..30).map(|oid| table(oid, &format!("t{oid}"))).collect();
    let mut whole = DatabaseState::default();
    let mut first = diff(&whole, snapshot(tables.clone()), "svc", OPTS);
    first.keep_shapes();
    whole.apply(&mut first);

    let mut next = tables;
    next[1]
        .columns
        .push(crate::model::fixtures::column(3, "added", "text"));
    next[2].name = "renamed".into();
    next[3].description = Some("commented".into());
    next.remove(4); // t14 dropped
    next.push(table(99, "created"));
    let sent = [EntityKey {
        entity_type: EntityType::Table,
        oid: 20,
    }];
    for opts in [OPTS, DiffOptions { full: true, ..OPTS }] {
        let snap = snapshot(next.clone());
        let mut partial = DatabaseState {
            entities: HashMap::new(),
            ..whole.clone()
        };
        let keys = partial.digests_to_load(&snap, "svc", sent);
        let oids: Vec<i64> = keys.iter().map(|k| k.oid).collect();
        assert_eq!(
            oids,
            vec![11, 12, 13, 14, 20],
            "changed, renamed, dropped, sent ahead"
        );
        assert_eq!(
            partial.unchanged.len(),
            17,
            "the 15 other tables, the database and its schema are unchanged"
        );
        for k in &keys {
            partial.entities.insert(*k, whole.entities[k].clone());
        }
        let expected = diff(&whole, snap.clone(), "svc", opts);
        let got = diff(&partial, snap, "svc", opts);
        assert_eq!(got.changes, expected.changes, "full: {}", opts.full);
        assert_eq!(got.forgotten, expected.forgotten);
        assert!(
            got.changes
                .iter()
                .any(|c| c.op == Op::Delete && !c.schema_changes.is_empty())
        );
    }
}
