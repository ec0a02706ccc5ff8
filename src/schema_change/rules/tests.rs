use super::*;
use crate::model::fixtures;
use crate::model::{ConstraintType, PartitionOf};
use std::collections::BTreeSet;

fn fqn() -> Fqn {
    Fqn::new(["svc", "db", "public", "orders"])
}

fn orders() -> Table {
    let mut t = fixtures::table(1, "orders", TableType::Table);
    let mut id = fixtures::column(1, "id", "integer");
    id.nullable = false;
    let mut amount = fixtures::column(2, "amount", "numeric(10,2)");
    amount.default = Some("0".into());
    let mut status = fixtures::column(3, "status", "order_status");
    status.enum_labels = vec!["new".into(), "paid".into()];
    let note = fixtures::column(4, "note", "character varying(50)");
    t.columns = vec![id, amount, status, note];
    t.constraints = vec![constraint(
        "orders_pkey",
        ConstraintType::PrimaryKey,
        "PRIMARY KEY (id)",
    )];
    t
}

fn constraint(name: &str, t: ConstraintType, definition: &str) -> Constraint {
    Constraint {
        name: name.into(),
        constraint_type: t,
        columns: vec!["id".into()],
        definition: definition.into(),
        references: None,
        deferrable: false,
        description: None,
        local: true,
    }
}

/// The (rule, class) of each change from `orders()` to what `edit` makes of it.
fn classify(edit: impl FnOnce(&mut Table)) -> Vec<(&'static str, ChangeClass)> {
    let old = orders();
    let mut new = orders();
    edit(&mut new);
    relation_changed(&fqn(), None, &Shape::of_table(&old), &new, &[])
        .into_iter()
        .map(|c| (c.rule, c.class))
        .collect()
}

fn col<'a>(t: &'a mut Table, name: &str) -> &'a mut Column {
    t.columns
        .iter_mut()
        .find(|c| c.name == name)
        .expect("column")
}

#[test]
fn unchanged_is_no_change() {
    assert_eq!(classify(|_| {}), vec![]);
}

#[test]
fn dropped_and_renamed_columns_are_breaking_with_before_values() {
    let old = orders();
    let mut new = orders();
    new.columns.retain(|c| c.name != "amount");
    let changes = relation_changed(&fqn(), None, &Shape::of_table(&old), &new, &[]);
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!((c.rule, c.class), ("column.dropped", ChangeClass::Breaking));
    assert_eq!(c.object_fqn, "svc.db.public.orders.amount");
    assert_eq!(c.before.as_deref(), Some("amount numeric(10,2) DEFAULT 0"));
    assert_eq!(c.columns, vec!["amount"]);
    assert_eq!(
        classify(|t| col(t, "note").name = "remark".into()),
        vec![("column.renamed", B)]
    );
}

#[test]
fn type_changes_by_direction() {
    assert_eq!(
        classify(|t| col(t, "amount").data_type = "numeric(12,2)".into()),
        vec![("column.type_widened", N)]
    );
    assert_eq!(
        classify(|t| col(t, "note").data_type = "character varying(20)".into()),
        vec![("column.type_narrowed", B)]
    );
    assert_eq!(
        classify(|t| col(t, "note").data_type = "text".into()),
        vec![("column.type_widened", N)]
    );
    assert_eq!(
        classify(|t| col(t, "note").data_type = "integer".into()),
        vec![("column.type_family_changed", B)]
    );
    assert_eq!(
        classify(|t| col(t, "id").data_type = "bigint".into()),
        vec![("column.type_widened", N)]
    );
    assert_eq!(
        classify(|t| col(t, "amount").data_type = "numeric(10,4)".into()),
        vec![("column.type_changed", P)]
    );
}

#[test]
fn array_element_types_are_compared_and_a_scalar_becoming_an_array_is_another_family() {
    let mut old = orders();
    let tags = col(&mut old, "note");
    tags.data_type = "integer[]".into();
    tags.is_array = true;
    tags.element_type = Some("integer".into());
    let mut new = old.clone();
    let n = col(&mut new, "note");
    n.data_type = "bigint[]".into();
    n.element_type = Some("bigint".into());
    let rules: Vec<_> = relation_changed(&fqn(), None, &Shape::of_table(&old), &new, &[])
        .into_iter()
        .map(|c| c.rule)
        .collect();
    assert_eq!(rules, vec!["column.type_widened"]);
    assert_eq!(
        classify(|t| {
            let c = col(t, "id");
            c.data_type = "integer[]".into();
            c.is_array = true;
        }),
        vec![("column.type_family_changed", B)]
    );
}

#[test]
fn enum_labels_domains_nullability_and_defaults() {
    assert_eq!(
        classify(|t| col(t, "status").enum_labels.push("shipped".into())),
        vec![("column.enum_label_added", P)]
    );
    assert_eq!(
        classify(|t| col(t, "status").enum_labels.retain(|l| l != "paid")),
        vec![("column.enum_label_removed", B)]
    );
    assert_eq!(
        classify(|t| {
            let c = col(t, "note");
            c.domain = Some("short_text".into());
            c.data_type = "short_text".into();
        }),
        vec![("column.domain_changed", P)]
    );
    assert_eq!(
        classify(|t| col(t, "note").nullable = false),
        vec![("column.not_null_added", P)]
    );
    assert_eq!(
        classify(|t| col(t, "id").nullable = true),
        vec![("column.not_null_dropped", P)]
    );
    assert_eq!(
        classify(|t| col(t, "note").default = Some("''".into())),
        vec![("column.default_added", N)]
    );
    assert_eq!(
        classify(|t| col(t, "amount").default = None),
        vec![("column.default_dropped", P)]
    );
    assert_eq!(
        classify(|t| col(t, "amount").default = Some("1".into())),
        vec![("column.default_changed", P)]
    );
}

#[test]
fn added_columns_break_writers_only_when_required() {
    assert_eq!(
        classify(|t| t.columns.push(fixtures::column(5, "extra", "text"))),
        vec![("column.added", N)]
    );
    assert_eq!(
        classify(|t| {
            let mut c = fixtures::column(5, "extra", "text");
            c.nullable = false;
            t.columns.push(c);
        }),
        vec![("column.added_required", P)]
    );
    assert_eq!(
        classify(|t| {
            let mut c = fixtures::column(5, "extra", "text");
            c.nullable = false;
            c.default = Some("''".into());
            t.columns.push(c);
        }),
        vec![("column.added", N)]
    );
}

#[test]
fn constraints_added_dropped_and_changed() {
    for (t, kind) in [
        (ConstraintType::Unique, "unique"),
        (ConstraintType::ForeignKey, "foreign_key"),
        (ConstraintType::Check, "check"),
        (ConstraintType::Exclusion, "exclusion"),
    ] {
        let added = classify(|tbl| tbl.constraints.push(constraint("c", t, "X")));
        assert_eq!(
            added,
            vec![(rule(&format!("constraint.{kind}.added")).0, P)]
        );
    }
    assert_eq!(
        classify(|t| t.constraints.clear()),
        vec![("constraint.primary_key.dropped", P)]
    );
    assert_eq!(
        classify(|t| t.constraints[0].definition = "PRIMARY KEY (id, note)".into()),
        vec![("constraint.primary_key.changed", P)]
    );
}

#[test]
fn partitions_attached_and_detached() {
    let parent = PartitionOf {
        parent_schema: "public".into(),
        parent_table: "all orders".into(),
        bound: "FOR VALUES IN (1)".into(),
    };
    let attached = relation_changed(
        &fqn(),
        None,
        &Shape::of_table(&orders()),
        &Table {
            partition_of: Some(parent.clone()),
            ..orders()
        },
        &[],
    );
    assert_eq!(attached[0].rule, "partition.attached");
    assert_eq!(
        attached[0].after.as_deref(),
        Some("public.\"all orders\" FOR VALUES IN (1)")
    );
    let old = Table {
        partition_of: Some(parent),
        ..orders()
    };
    let detached = relation_changed(&fqn(), None, &Shape::of_table(&old), &orders(), &[]);
    assert_eq!(
        (detached[0].rule, detached[0].class),
        ("partition.detached", P)
    );
}

#[test]
fn relations_dropped_and_renamed_by_kind() {
    let view = fixtures::table(2, "v", TableType::View);
    assert_eq!(
        relation_dropped(&fqn(), Some(&Shape::of_table(&view))).rule,
        "view.dropped"
    );
    let mv = fixtures::table(3, "m", TableType::MaterializedView);
    assert_eq!(
        relation_dropped(&fqn(), Some(&Shape::of_table(&mv))).rule,
        "materialized_view.dropped"
    );
    assert_eq!(relation_dropped(&fqn(), None).class, B);
    let old = Fqn::new(["svc", "db", "public", "old"]);
    let renamed = relation_changed(
        &fqn(),
        Some(&old),
        &Shape::of_table(&orders()),
        &orders(),
        &[],
    );
    assert_eq!(renamed[0].rule, "table.renamed");
    assert_eq!(renamed[0].before.as_deref(), Some("svc.db.public.old"));
    // A view whose definition changed but whose columns did not.
    let shape = Shape::of_table(&view);
    let changed = relation_changed(&fqn(), None, &shape, &view, &["view_definition".into()]);
    assert_eq!(
        (changed[0].rule, changed[0].class),
        ("view.definition_changed", N)
    );
}

#[test]
fn routines_dropped_renamed_and_replaced() {
    let f = Fqn::new(["svc", "db", "public", "f(integer)"]);
    assert_eq!(routine_dropped(&f, None).rule, "routine.dropped");
    let g = Fqn::new(["svc", "db", "public", "g(integer)"]);
    let mut r = crate::model::Routine {
        oid: 1,
        schema: "public".into(),
        name: "f".into(),
        kind: crate::model::RoutineKind::Function,
        arguments: "integer".into(),
        return_type: Some("integer".into()),
        language: "sql".into(),
        body: None,
        owner: "app".into(),
        description: None,
        volatility: "VOLATILE".into(),
        security_definer: false,
        privileges: vec![],
    };
    assert_eq!(routine_renamed(&g, &f, &r).rule, "routine.renamed");
    assert_eq!(
        (routine_dropped(&f, Some(&Shape::of_routine(&r)))
            .schema
            .as_str()),
        "public"
    );
    let old = Shape::of_routine(&r);
    r.return_type = Some("bigint".into());
    let replaced = routine_replaced(&f, &old, &f, &r);
    assert_eq!(
        (
            replaced.rule,
            replaced.before.as_deref(),
            replaced.after.as_deref()
        ),
        (
            "routine.return_type_changed",
            Some("integer"),
            Some("bigint")
        )
    );
    r.arguments = "bigint".into();
    let h = Fqn::new(["svc", "db", "public", "f(bigint)"]);
    assert_eq!(
        routine_replaced(&f, &old, &h, &r).rule,
        "routine.signature_changed"
    );
}

#[test]
fn every_rule_is_listed_once_and_every_rule_produced_is_listed() {
    let ids: BTreeSet<&str> = RULES.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids.len(), RULES.len(), "a rule listed twice");
    assert!(ids.iter().all(|id| rule(id).0 == *id));
    assert_eq!(rule("no.such.rule").0, "unknown");
}

#[test]
fn the_readme_shows_every_rule_as_the_code_has_it() {
    let readme = include_str!("../../../README.md");
    for (id, class, meaning) in RULES {
        let row = format!("| `{id}` | {} | {meaning} |", class.as_str());
        assert!(readme.contains(&row), "README.md lacks the row: {row}");
    }
}

#[test]
fn a_foreign_key_following_its_tables_rename_is_no_change_but_new_actions_are() {
    let fk = |table: &str, on_delete: &str| Constraint {
        references: Some(crate::model::ForeignKeyReference {
            schema: "public".into(),
            table: table.into(),
            columns: vec!["id".into()],
            on_update: "NO ACTION".into(),
            on_delete: on_delete.into(),
            match_type: "SIMPLE".into(),
        }),
        ..constraint(
            "orders_customer_fkey",
            ConstraintType::ForeignKey,
            &format!("FOREIGN KEY (id) REFERENCES {table}(id)"),
        )
    };
    let with = |c: Constraint| {
        let mut t = orders();
        t.constraints.push(c);
        t
    };
    let old = with(fk("customers", "NO ACTION"));
    let changes = |new: Table| -> Vec<&'static str> {
        relation_changed(&fqn(), None, &Shape::of_table(&old), &new, &[])
            .into_iter()
            .map(|c| c.rule)
            .collect()
    };
    assert!(changes(with(fk("shoppers", "NO ACTION"))).is_empty());
    assert_eq!(
        changes(with(fk("customers", "CASCADE"))),
        vec!["constraint.foreign_key.changed"]
    );
}
