//! The classification rules: each change of a table, view, column, constraint, partition or
//! routine gets a stable rule id, a class and a one-line reason. [`RULES`] is the rule table
//! the README shows (a test keeps the two equal).

use super::shape::column_sql;
use super::types::{TypeChange, compare};
use super::{ChangeClass, ChangedObjectType, SchemaChange, Shape};
use crate::model::{Column, Constraint, ConstraintType, Fqn, Routine, Table, TableType};

use ChangeClass::{Breaking as B, NonBreaking as N, PotentiallyBreaking as P};

/// Every rule: id, class, what it means for readers and writers.
pub const RULES: &[(&str, ChangeClass, &str)] = &[
    ("table.dropped", B, "readers and writers of the table fail"),
    ("table.renamed", B, "statements naming the old name fail"),
    ("view.dropped", B, "readers of the view fail"),
    ("view.renamed", B, "statements naming the old name fail"),
    (
        "view.definition_changed",
        N,
        "the view's columns are unchanged; its rows may differ",
    ),
    (
        "materialized_view.dropped",
        B,
        "readers of the materialized view fail",
    ),
    (
        "materialized_view.renamed",
        B,
        "statements naming the old name fail",
    ),
    (
        "column.dropped",
        B,
        "statements selecting or writing the column fail",
    ),
    (
        "column.renamed",
        B,
        "statements naming the old column name fail",
    ),
    (
        "column.added",
        N,
        "a nullable column or one with a default: existing statements still work",
    ),
    (
        "column.added_required",
        P,
        "NOT NULL without a default: INSERTs that do not name it fail",
    ),
    (
        "column.type_widened",
        N,
        "every old value fits the new type",
    ),
    (
        "column.type_narrowed",
        B,
        "values that do not fit the new type are refused; readers may truncate",
    ),
    (
        "column.type_family_changed",
        B,
        "another kind of value: readers' and writers' types no longer match",
    ),
    (
        "column.type_changed",
        P,
        "the same kind of value with other semantics (time zone, precision, representation)",
    ),
    (
        "column.enum_label_removed",
        B,
        "rows or statements using the removed label fail",
    ),
    (
        "column.enum_label_added",
        P,
        "readers that handle every label meet one they do not know",
    ),
    (
        "column.domain_changed",
        P,
        "another domain: its constraints may refuse values the old one took",
    ),
    ("column.not_null_added", P, "writers of NULL fail"),
    ("column.not_null_dropped", P, "readers may now see NULL"),
    (
        "column.default_added",
        N,
        "INSERTs that omit the column get a value instead of NULL",
    ),
    (
        "column.default_dropped",
        P,
        "INSERTs that omit the column get NULL, or fail if it is NOT NULL",
    ),
    (
        "column.default_changed",
        P,
        "INSERTs that omit the column get another value",
    ),
    (
        "constraint.primary_key.added",
        P,
        "writers of duplicate or NULL keys fail",
    ),
    (
        "constraint.primary_key.dropped",
        P,
        "readers lose the guarantee of unique keys",
    ),
    (
        "constraint.primary_key.changed",
        P,
        "the key columns changed: joins and upserts on the old key",
    ),
    ("constraint.unique.added", P, "writers of duplicates fail"),
    (
        "constraint.unique.dropped",
        P,
        "readers lose the guarantee of unique values",
    ),
    (
        "constraint.unique.changed",
        P,
        "other columns are unique now",
    ),
    (
        "constraint.foreign_key.added",
        P,
        "writers of rows without a referenced row fail",
    ),
    (
        "constraint.foreign_key.dropped",
        P,
        "readers lose the guarantee of referenced rows",
    ),
    (
        "constraint.foreign_key.changed",
        P,
        "other references, or other actions on update or delete",
    ),
    (
        "constraint.check.added",
        P,
        "writers of rows the check refuses fail",
    ),
    (
        "constraint.check.dropped",
        P,
        "readers lose the guarantee the check gave",
    ),
    (
        "constraint.check.changed",
        P,
        "the check accepts other rows",
    ),
    (
        "constraint.exclusion.added",
        P,
        "writers of conflicting rows fail",
    ),
    (
        "constraint.exclusion.dropped",
        P,
        "readers lose the guarantee of no conflicting rows",
    ),
    ("constraint.exclusion.changed", P, "other rows conflict"),
    (
        "partition.attached",
        N,
        "the partitioned table's readers see the partition's rows",
    ),
    (
        "partition.detached",
        P,
        "the partitioned table's readers no longer see the partition's rows",
    ),
    ("routine.dropped", B, "callers fail"),
    ("routine.renamed", B, "callers of the old name fail"),
    (
        "routine.signature_changed",
        B,
        "callers with the old argument types fail",
    ),
    (
        "routine.return_type_changed",
        B,
        "callers reading the old result type fail",
    ),
];

fn rule(id: &str) -> (&'static str, ChangeClass) {
    let (id, class, _) = RULES
        .iter()
        .find(|(r, _, _)| *r == id)
        .copied()
        .unwrap_or(("unknown", P, ""));
    (id, class)
}

fn relation_kind(table_type: Option<&str>) -> (&'static str, ChangedObjectType) {
    match table_type {
        Some("VIEW") => ("view", ChangedObjectType::View),
        Some("MATERIALIZED_VIEW") => ("materialized_view", ChangedObjectType::MaterializedView),
        _ => ("table", ChangedObjectType::Table),
    }
}

fn table_type_name(t: TableType) -> &'static str {
    match t {
        TableType::View => "VIEW",
        TableType::MaterializedView => "MATERIALIZED_VIEW",
        _ => "TABLE",
    }
}

/// Builds the change of rule `id`.
struct Found<'a> {
    entity: &'a Fqn,
    /// The entity's schema and name.
    schema: String,
    name: String,
    out: Vec<SchemaChange>,
}

impl<'a> Found<'a> {
    fn new(entity: &'a Fqn, schema: &str, name: &str) -> Self {
        Found {
            entity,
            schema: schema.to_owned(),
            name: name.to_owned(),
            out: vec![],
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &str,
        object_type: ChangedObjectType,
        object: Fqn,
        path: String,
        before: Option<String>,
        after: Option<String>,
        columns: Vec<String>,
        reason: String,
    ) {
        let (rule, class) = rule(id);
        self.out.push(SchemaChange {
            rule,
            class,
            reason,
            object_type,
            object_fqn: object.as_str().to_owned(),
            entity_fqn: self.entity.as_str().to_owned(),
            schema: self.schema.clone(),
            name: self.name.clone(),
            path,
            before,
            after,
            columns,
        });
    }
}

/// A table, view or materialized view that is gone (`old` is what was remembered of it).
pub fn relation_dropped(fqn: &Fqn, old: Option<&Shape>) -> SchemaChange {
    let (kind, object_type) = relation_kind(old.and_then(|o| o.value("table_type")).as_deref());
    let field = |f: &str| old.and_then(|o| o.value(f)).unwrap_or_default();
    let mut found = Found::new(fqn, &field("schema"), &field("name"));
    found.push(
        &format!("{kind}.dropped"),
        object_type,
        fqn.clone(),
        String::new(),
        Some(fqn.as_str().to_owned()),
        None,
        vec![],
        format!("{} {fqn} dropped", kind.replace('_', " ")),
    );
    found.out.remove(0)
}

/// The changes of a table, view or materialized view between its remembered shape and now.
pub fn relation_changed(
    fqn: &Fqn,
    previous_fqn: Option<&Fqn>,
    old: &Shape,
    new: &Table,
    changed_fields: &[String],
) -> Vec<SchemaChange> {
    let mut found = Found::new(fqn, &new.schema, &new.name);
    let (kind, object_type) = relation_kind(Some(table_type_name(new.table_type)));
    if let Some(previous) = previous_fqn {
        found.push(
            &format!("{kind}.renamed"),
            object_type,
            fqn.clone(),
            "name".into(),
            Some(previous.as_str().to_owned()),
            Some(fqn.as_str().to_owned()),
            vec![],
            format!("{} {previous} renamed to {fqn}", kind.replace('_', " ")),
        );
    }
    columns(&mut found, &old.columns, &new.columns);
    constraints(&mut found, &old.constraints, &new.constraints);
    let partition_of = new.partition_of.as_ref().map(|p| {
        format!(
            "{}.{} {}",
            crate::model::quote_ident(&p.parent_schema),
            crate::model::quote_ident(&p.parent_table),
            p.bound
        )
    });
    match (old.value("partition_of"), partition_of) {
        (None, Some(parent)) => found.push(
            "partition.attached",
            ChangedObjectType::Partition,
            fqn.clone(),
            "partition_of".into(),
            None,
            Some(parent.clone()),
            vec![],
            format!("{fqn} attached as a partition of {parent}"),
        ),
        (Some(parent), None) => found.push(
            "partition.detached",
            ChangedObjectType::Partition,
            fqn.clone(),
            "partition_of".into(),
            Some(parent.clone()),
            None,
            vec![],
            format!("{fqn} detached from {parent}"),
        ),
        _ => {}
    }
    let columns_changed = found
        .out
        .iter()
        .any(|c| c.object_type == ChangedObjectType::Column);
    if new.table_type.is_view()
        && !columns_changed
        && changed_fields.iter().any(|f| f == "view_definition")
    {
        found.push(
            "view.definition_changed",
            object_type,
            fqn.clone(),
            "view_definition".into(),
            None,
            None,
            vec![],
            format!("the definition of {fqn} changed; its columns did not"),
        );
    }
    found.out
}

fn columns(found: &mut Found, old: &[Column], new: &[Column]) {
    let entity = found.entity.clone();
    for o in old {
        let Some(n) = new.iter().find(|n| n.attnum == o.attnum) else {
            found.push(
                "column.dropped",
                ChangedObjectType::Column,
                entity.child(&o.name),
                format!("columns.{}", o.name),
                Some(column_sql(o)),
                None,
                vec![o.name.clone()],
                format!("column {} dropped from {entity}", o.name),
            );
            continue;
        };
        column_changed(found, &entity, o, n);
    }
    for n in new
        .iter()
        .filter(|n| !old.iter().any(|o| o.attnum == n.attnum))
    {
        let required =
            !n.nullable && n.default.is_none() && n.identity.is_none() && n.generated.is_none();
        let (id, what) = if required {
            ("column.added_required", "NOT NULL without a default")
        } else {
            ("column.added", "")
        };
        found.push(
            id,
            ChangedObjectType::Column,
            entity.child(&n.name),
            format!("columns.{}", n.name),
            None,
            Some(column_sql(n)),
            vec![n.name.clone()],
            format!("column {} added to {entity} {what}", n.name)
                .trim_end()
                .to_owned(),
        );
    }
}

fn column_changed(found: &mut Found, entity: &Fqn, o: &Column, n: &Column) {
    let object = entity.child(&n.name);
    let path = |field: &str| format!("columns.{}.{field}", n.name);
    let col = vec![n.name.clone()];
    if o.name != n.name {
        found.push(
            "column.renamed",
            ChangedObjectType::Column,
            object.clone(),
            path("name"),
            Some(o.name.clone()),
            Some(n.name.clone()),
            vec![o.name.clone()],
            format!("column {} of {entity} renamed to {}", o.name, n.name),
        );
    }
    if o.domain != n.domain {
        found.push(
            "column.domain_changed",
            ChangedObjectType::Column,
            object.clone(),
            path("domain"),
            o.domain.as_deref().map(str::to_owned),
            n.domain.as_deref().map(str::to_owned),
            col.clone(),
            format!(
                "column {} changed domain from {} to {}",
                n.name,
                o.domain.as_deref().unwrap_or("none"),
                n.domain.as_deref().unwrap_or("none")
            ),
        );
    } else if o.data_type != n.data_type {
        let change = match (o.is_array, n.is_array) {
            (false, false) => compare(&o.data_type, &n.data_type),
            (true, true) => compare(
                o.element_type.as_deref().unwrap_or(&o.data_type),
                n.element_type.as_deref().unwrap_or(&n.data_type),
            ),
            _ => TypeChange::FamilyChanged,
        };
        let id = match change {
            TypeChange::Same => None,
            TypeChange::Widened => Some("column.type_widened"),
            TypeChange::Narrowed => Some("column.type_narrowed"),
            TypeChange::FamilyChanged => Some("column.type_family_changed"),
            TypeChange::Changed => Some("column.type_changed"),
        };
        if let Some(id) = id {
            found.push(
                id,
                ChangedObjectType::Column,
                object.clone(),
                path("data_type"),
                Some(o.data_type.to_string()),
                Some(n.data_type.to_string()),
                col.clone(),
                format!(
                    "column {} of {entity}: {} -> {}",
                    n.name, o.data_type, n.data_type
                ),
            );
        }
    }
    if o.data_type == n.data_type && o.enum_labels != n.enum_labels {
        let removed: Vec<&String> = o
            .enum_labels
            .iter()
            .filter(|l| !n.enum_labels.contains(l))
            .collect();
        let added: Vec<&String> = n
            .enum_labels
            .iter()
            .filter(|l| !o.enum_labels.contains(l))
            .collect();
        let (id, what) = if removed.is_empty() {
            (
                "column.enum_label_added",
                format!("labels added: {added:?}"),
            )
        } else {
            (
                "column.enum_label_removed",
                format!("labels removed: {removed:?}"),
            )
        };
        found.push(
            id,
            ChangedObjectType::Column,
            object.clone(),
            path("enum_labels"),
            Some(o.enum_labels.join(",")),
            Some(n.enum_labels.join(",")),
            col.clone(),
            format!("enum of column {} ({}): {what}", n.name, n.data_type),
        );
    }
    if o.nullable != n.nullable {
        let id = if n.nullable {
            "column.not_null_dropped"
        } else {
            "column.not_null_added"
        };
        found.push(
            id,
            ChangedObjectType::Column,
            object.clone(),
            path("nullable"),
            Some(o.nullable.to_string()),
            Some(n.nullable.to_string()),
            col.clone(),
            format!(
                "column {} of {entity} {}",
                n.name,
                if n.nullable {
                    "may be NULL now"
                } else {
                    "is NOT NULL now"
                }
            ),
        );
    }
    let default_rule = match (&o.default, &n.default) {
        (None, Some(_)) => Some("column.default_added"),
        (Some(_), None) => Some("column.default_dropped"),
        (Some(a), Some(b)) if a != b => Some("column.default_changed"),
        _ => None,
    };
    if let Some(id) = default_rule {
        found.push(
            id,
            ChangedObjectType::Column,
            object,
            path("default"),
            o.default.clone(),
            n.default.clone(),
            col,
            format!(
                "default of column {} of {entity}: {} -> {}",
                n.name,
                o.default.as_deref().unwrap_or("none"),
                n.default.as_deref().unwrap_or("none")
            ),
        );
    }
}

fn constraint_kind(t: ConstraintType) -> &'static str {
    match t {
        ConstraintType::PrimaryKey => "primary_key",
        ConstraintType::Unique => "unique",
        ConstraintType::ForeignKey => "foreign_key",
        ConstraintType::Check => "check",
        ConstraintType::Exclusion => "exclusion",
    }
}

fn constraints(found: &mut Found, old: &[Constraint], new: &[Constraint]) {
    let entity = found.entity.clone();
    let push = |found: &mut Found, c: &Constraint, action: &str, before, after| {
        let kind = constraint_kind(c.constraint_type);
        found.push(
            &format!("constraint.{kind}.{action}"),
            ChangedObjectType::Constraint,
            entity.child(&c.name),
            format!("constraints.{}", c.name),
            before,
            after,
            c.columns.clone(),
            format!(
                "{} constraint {} of {entity} {action}",
                kind.replace('_', " "),
                c.name
            ),
        );
    };
    for o in old {
        match new.iter().find(|n| n.name == o.name) {
            None => push(found, o, "dropped", Some(o.definition.clone()), None),
            Some(n) if constraint_changed(o, n) => push(
                found,
                n,
                "changed",
                Some(o.definition.clone()),
                Some(n.definition.clone()),
            ),
            Some(_) => {}
        }
    }
    for n in new.iter().filter(|n| !old.iter().any(|o| o.name == n.name)) {
        push(found, n, "added", None, Some(n.definition.clone()));
    }
}

/// Whether a constraint of the same name means something else now. A foreign key's text
/// names the referenced table, which a rename of that table changes without changing the
/// constraint: its columns, referenced columns and actions are compared instead.
fn constraint_changed(o: &Constraint, n: &Constraint) -> bool {
    if o.constraint_type != n.constraint_type {
        return true;
    }
    match (&o.references, &n.references) {
        (Some(a), Some(b)) if o.constraint_type == ConstraintType::ForeignKey => {
            o.columns != n.columns
                || a.columns != b.columns
                || a.on_update != b.on_update
                || a.on_delete != b.on_delete
                || a.match_type != b.match_type
                || o.deferrable != n.deferrable
        }
        _ => o.definition != n.definition,
    }
}

/// A routine that is gone.
pub fn routine_dropped(fqn: &Fqn, old: Option<&Shape>) -> SchemaChange {
    let field = |f: &str| old.and_then(|o| o.value(f)).unwrap_or_default();
    let mut found = Found::new(fqn, &field("schema"), &field("name"));
    found.push(
        "routine.dropped",
        ChangedObjectType::Routine,
        fqn.clone(),
        String::new(),
        Some(fqn.as_str().to_owned()),
        None,
        vec![],
        format!("routine {fqn} dropped"),
    );
    found.out.remove(0)
}

/// A routine renamed in place (`ALTER FUNCTION ... RENAME`).
pub fn routine_renamed(fqn: &Fqn, previous: &Fqn, new: &Routine) -> SchemaChange {
    let mut found = Found::new(fqn, &new.schema, &new.name);
    found.push(
        "routine.renamed",
        ChangedObjectType::Routine,
        fqn.clone(),
        "name".into(),
        Some(previous.as_str().to_owned()),
        Some(fqn.as_str().to_owned()),
        vec![],
        format!("routine {previous} renamed to {fqn}"),
    );
    found.out.remove(0)
}

/// A routine dropped and created again in one change (PostgreSQL cannot change a routine's
/// argument types or result type in place): `old` is the dropped one's shape and FQN.
pub fn routine_replaced(old_fqn: &Fqn, old: &Shape, fqn: &Fqn, new: &Routine) -> SchemaChange {
    let mut found = Found::new(fqn, &new.schema, &new.name);
    if old_fqn != fqn {
        found.push(
            "routine.signature_changed",
            ChangedObjectType::Routine,
            fqn.clone(),
            "arguments".into(),
            old.value("arguments"),
            Some(new.arguments.clone()),
            vec![],
            format!("routine {old_fqn} replaced by {fqn}"),
        );
    } else {
        found.push(
            "routine.return_type_changed",
            ChangedObjectType::Routine,
            fqn.clone(),
            "return_type".into(),
            old.value("return_type"),
            new.return_type.clone(),
            vec![],
            format!(
                "routine {fqn} returns {} instead of {}",
                new.return_type.as_deref().unwrap_or("nothing"),
                old.value("return_type").as_deref().unwrap_or("nothing")
            ),
        );
    }
    found.out.remove(0)
}

#[cfg(test)]
mod tests;
