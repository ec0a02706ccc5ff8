//! Statement-level lineage: what a statement writes (its targets) and how its query's output
//! columns land in the target's columns.

use super::names::{ColumnName, TableName, last_part, normalize, object_parts};
use super::query::{OutputColumn, QueryWalker, TempRelation, output_name};
use super::resolver::Resolution;
use sqlparser::ast::{
    AlterTableOperation, Assignment, AssignmentTarget, CreateTable, CreateView, Delete, Expr,
    FromTable, Insert, Merge, MergeAction, MergeInsertKind, MergeUpdateKind, ObjectName, Query,
    RenameTableNameKind, SelectInto, SelectItem, SetExpr, Statement, TableFactor, TableObject,
    Update, UpdateTableFromKind,
};
use std::collections::BTreeSet;

/// A short name for the kind of statement, as lineage output reports it.
pub(super) fn statement_kind(st: &Statement) -> &'static str {
    match st {
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Insert(_) => "INSERT",
            SetExpr::Update(_) => "UPDATE",
            SetExpr::Delete(_) => "DELETE",
            SetExpr::Merge(_) => "MERGE",
            body if select_into(body).is_some() => "SELECT_INTO",
            _ => "SELECT",
        },
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::CreateTable(ct) if ct.query.is_some() => "CREATE_TABLE_AS",
        Statement::CreateTable(_) => "CREATE_TABLE",
        Statement::CreateView(v) if v.materialized => "CREATE_MATERIALIZED_VIEW",
        Statement::CreateView(_) => "CREATE_VIEW",
        Statement::AlterTable(_) => "ALTER_TABLE",
        _ => "OTHER",
    }
}

impl QueryWalker<'_> {
    /// Walks one statement; returns its output columns (a query's, or RETURNING's).
    pub(super) fn statement(&mut self, st: &Statement) -> Vec<OutputColumn> {
        match st {
            Statement::Query(q) => self.top_query(q),
            Statement::Insert(insert) => self.insert(insert),
            Statement::Update(update) => self.update(update),
            Statement::Delete(delete) => self.delete(delete),
            Statement::Merge(merge) => {
                self.merge(merge);
                Vec::new()
            }
            Statement::CreateTable(ct) => {
                self.create_table(ct);
                Vec::new()
            }
            Statement::CreateView(cv) => {
                self.create_view(cv);
                Vec::new()
            }
            Statement::AlterTable(alter) => {
                for op in &alter.operations {
                    if let AlterTableOperation::RenameTable { table_name } = op {
                        let (RenameTableNameKind::To(new) | RenameTableNameKind::As(new)) =
                            table_name;
                        self.rename(&alter.name, new);
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn top_query(&mut self, q: &Query) -> Vec<OutputColumn> {
        let into = if self.plpgsql {
            None
        } else {
            select_into(&q.body)
        };
        let out = self.query(q);
        if let Some(into) = into {
            let target = into.targets.first().and_then(expr_parts);
            if let Some(parts) = target {
                let columns: Vec<Option<String>> = out.iter().map(|c| c.name.clone()).collect();
                self.write_new_relation(&parts, into.temporary, &columns, &out);
            }
            return Vec::new();
        }
        out
    }

    fn insert(&mut self, insert: &Insert) -> Vec<OutputColumn> {
        let TableObject::TableName(name) = &insert.table else {
            return Vec::new();
        };
        if let Some(temp) = self.temp_target(name) {
            // Filling a temporary table: later statements that read it read these sources.
            if let Some(source) = &insert.source {
                let out = self.query(source);
                let names: Vec<String> = insert.columns.iter().filter_map(last_part).collect();
                let columns = out
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| OutputColumn {
                        name: names.get(i).cloned().or(c.name),
                        sources: c.sources,
                    })
                    .collect();
                let sources = self.sources.clone();
                self.temp_writes
                    .push((temp, TempRelation { columns, sources }));
            }
            return Vec::new();
        }
        let Some(target) = self.target(name) else {
            return Vec::new();
        };
        let target_columns: Option<Vec<String>> = if insert.columns.is_empty() {
            self.catalog_columns(&target)
        } else {
            insert.columns.iter().map(last_part).collect()
        };
        if let Some(source) = &insert.source {
            let out = self.query(source);
            match target_columns {
                Some(columns) => self.map_positionally(&target, Some(&columns), &out),
                None => {
                    // No catalog knows the target's columns: match by output name, flagged.
                    let names: Option<Vec<String>> = out
                        .iter()
                        .map(|c| c.name.clone().filter(|n| n != "*"))
                        .collect();
                    if let Some(names) = names.filter(|n| !n.is_empty()) {
                        self.assumed_columns.insert(target.clone());
                        self.map_positionally(&target, Some(&names), &out);
                    } else {
                        self.map_positionally(&target, None, &out);
                    }
                }
            }
        }
        self.returning(&target, insert.returning.as_deref())
    }

    fn update(&mut self, update: &Update) -> Vec<OutputColumn> {
        let TableFactor::Table { name, alias, .. } = &update.table.relation else {
            return Vec::new();
        };
        let Some(target) = self.target(name) else {
            return Vec::new();
        };
        let parts = object_parts(name).unwrap_or_default();
        let read_before = self.sources.contains(&target);
        self.scope_push(&parts, alias.as_ref());
        match &update.from {
            Some(UpdateTableFromKind::BeforeSet(items) | UpdateTableFromKind::AfterSet(items)) => {
                self.extend_scope(items)
            }
            None => {}
        }
        self.table_joins(&update.table.joins);
        self.assignments(&target, &update.assignments);
        if let Some(selection) = &update.selection {
            self.expr_sources(selection, false);
        }
        let out = self.returning_in_scope(update.returning.as_deref());
        self.pop_scope();
        // With RETURNING the updated rows flow on: the target is then read too.
        if !read_before && update.returning.is_none() {
            self.sources.remove(&target);
        }
        out
    }

    fn delete(&mut self, delete: &Delete) -> Vec<OutputColumn> {
        let (FromTable::WithFromKeyword(items) | FromTable::WithoutKeyword(items)) = &delete.from;
        let mut targets = Vec::new();
        for item in items {
            if let TableFactor::Table { name, .. } = &item.relation {
                if let Some(t) = self.target(name) {
                    targets.push(t);
                }
            }
        }
        let read_before: Vec<bool> = targets.iter().map(|t| self.sources.contains(t)).collect();
        self.extend_scope(items);
        if let Some(using) = &delete.using {
            self.extend_scope(using);
        }
        if let Some(selection) = &delete.selection {
            self.expr_sources(selection, false);
        }
        let out = match targets.first() {
            Some(_) => self.returning_in_scope(delete.returning.as_deref()),
            None => Vec::new(),
        };
        self.pop_scope();
        for (t, before) in targets.iter().zip(read_before) {
            if !before && delete.returning.is_none() {
                self.sources.remove(t);
            }
        }
        out
    }

    fn merge(&mut self, merge: &Merge) {
        let TableFactor::Table { name, alias, .. } = &merge.table else {
            return;
        };
        let Some(target) = self.target(name) else {
            return;
        };
        let parts = object_parts(name).unwrap_or_default();
        let read_before = self.sources.contains(&target);
        self.scope_push(&parts, alias.as_ref());
        self.extend_scope_factor(&merge.source);
        self.expr_sources(&merge.on, false);
        for clause in &merge.clauses {
            if let Some(p) = &clause.predicate {
                self.expr_sources(p, false);
            }
            match &clause.action {
                MergeAction::Update(u) => {
                    if let MergeUpdateKind::Set(assignments) = &u.kind {
                        self.assignments(&target, assignments);
                    }
                }
                MergeAction::Insert(ins) => {
                    let columns: Option<Vec<String>> = if ins.columns.is_empty() {
                        self.catalog_columns(&target)
                    } else {
                        ins.columns.iter().map(last_part).collect()
                    };
                    if let MergeInsertKind::Values(values) = &ins.kind {
                        for row in &values.rows {
                            let out: Vec<OutputColumn> = row
                                .content
                                .iter()
                                .map(|e| OutputColumn {
                                    name: output_name(e),
                                    sources: self.expr_sources(e, true),
                                })
                                .collect();
                            self.map_positionally(&target, columns.as_deref(), &out);
                        }
                    }
                }
                MergeAction::Delete { .. } | MergeAction::DoNothing { .. } => {}
            }
        }
        self.pop_scope();
        if !read_before {
            self.sources.remove(&target);
        }
    }

    fn create_table(&mut self, ct: &CreateTable) {
        let Some(query) = &ct.query else {
            if ct.temporary {
                if let Some(name) = last_part(&ct.name) {
                    let columns = ct
                        .columns
                        .iter()
                        .map(|c| OutputColumn {
                            name: Some(normalize(&c.name)),
                            sources: BTreeSet::new(),
                        })
                        .collect();
                    self.created_temp.push((
                        name,
                        TempRelation {
                            columns,
                            sources: BTreeSet::new(),
                        },
                    ));
                }
            }
            return;
        };
        let Some(parts) = object_parts(&ct.name) else {
            return;
        };
        let out = self.query(query);
        let names: Vec<Option<String>> = if ct.columns.is_empty() {
            out.iter().map(|c| c.name.clone()).collect()
        } else {
            let given: Vec<Option<String>> = ct
                .columns
                .iter()
                .map(|c| Some(normalize(&c.name)))
                .collect();
            given
                .into_iter()
                .chain(out.iter().skip(ct.columns.len()).map(|c| c.name.clone()))
                .collect()
        };
        self.write_new_relation(&parts, ct.temporary, &names, &out);
    }

    fn create_view(&mut self, cv: &CreateView) {
        let Some(parts) = object_parts(&cv.name) else {
            return;
        };
        let out = self.query(&cv.query);
        let names: Vec<Option<String>> = out
            .iter()
            .enumerate()
            .map(|(i, c)| match cv.columns.get(i) {
                Some(def) => Some(normalize(&def.name)),
                None => c.name.clone(),
            })
            .collect();
        self.write_new_relation(&parts, cv.temporary, &names, &out);
    }

    fn rename(&mut self, old: &ObjectName, new: &ObjectName) {
        let (Some(old_parts), Some(new_name)) = (object_parts(old), last_part(new)) else {
            return;
        };
        let old = self.new_relation_name(&old_parts);
        let new = TableName {
            name: new_name,
            ..old.clone()
        };
        self.renames.push((old, new));
    }

    /// A relation this statement creates (CREATE TABLE AS, CREATE VIEW, SELECT INTO); a
    /// temporary one is remembered by the session instead of being a target.
    fn write_new_relation(
        &mut self,
        parts: &[String],
        temporary: bool,
        names: &[Option<String>],
        out: &[OutputColumn],
    ) {
        let temporary = temporary || matches!(parts, [schema, _] if schema == "pg_temp");
        if temporary {
            let Some(name) = parts.last() else { return };
            let columns = out
                .iter()
                .zip(names)
                .map(|(c, n)| OutputColumn {
                    name: n.clone(),
                    sources: c.sources.clone(),
                })
                .collect();
            self.created_temp.push((
                name.clone(),
                TempRelation {
                    columns,
                    sources: self.sources.clone(),
                },
            ));
            return;
        }
        let target = self.new_relation_name(parts);
        self.targets.insert(target.clone());
        for (col, name) in out.iter().zip(names) {
            if let Some(name) = name {
                self.add_column_edges(&target, name, &col.sources);
            }
        }
    }

    /// The name a new relation gets: as written when qualified, else in the first schema of
    /// the search path that exists (as PostgreSQL creates it).
    fn new_relation_name(&mut self, parts: &[String]) -> TableName {
        match self.resolver().resolve(parts) {
            Resolution::Relation { name, .. } | Resolution::System(name) => name,
            Resolution::Unresolved(name) => match parts {
                [table] => match self.resolver().creation_schema() {
                    Some(schema) => TableName::new(schema, table),
                    None => name,
                },
                _ => name,
            },
        }
    }

    /// The session's temporary table that `name` refers to, if any.
    fn temp_target(&self, name: &ObjectName) -> Option<String> {
        match object_parts(name)?.as_slice() {
            [n] | [_, n] if self.is_temp(n) => Some(n.clone()),
            _ => None,
        }
    }

    /// The existing relation a DML statement writes; `None` for a temporary one.
    fn target(&mut self, name: &ObjectName) -> Option<TableName> {
        let parts = object_parts(name)?;
        if let [single] = parts.as_slice() {
            if self.is_temp(single) {
                return None;
            }
        }
        let target = match self.resolver().resolve(&parts) {
            Resolution::Relation { name, .. } => name,
            Resolution::System(_) => return None,
            Resolution::Unresolved(name) => {
                self.unresolved.insert(name.clone());
                name
            }
        };
        self.targets.insert(target.clone());
        Some(target)
    }

    fn catalog_columns(&self, table: &TableName) -> Option<Vec<String>> {
        let mut parts = Vec::new();
        parts.extend(table.schema.clone());
        parts.push(table.name.clone());
        match self.resolver().resolve(&parts) {
            Resolution::Relation {
                columns: Some(columns),
                ..
            } => Some(columns.to_vec()),
            _ => None,
        }
    }

    /// INSERT's rule: the query's columns fill the target's columns in order. A `table.*`
    /// placeholder (columns unknown) ends what can be mapped, except onto an unknown target.
    fn map_positionally(
        &mut self,
        target: &TableName,
        target_columns: Option<&[String]>,
        out: &[OutputColumn],
    ) {
        match target_columns {
            Some(columns) => {
                for (col, name) in out.iter().zip(columns) {
                    if col.name.as_deref() == Some("*") {
                        break;
                    }
                    self.add_column_edges(target, name, &col.sources);
                }
            }
            None => {
                for col in out.iter().filter(|c| c.name.as_deref() == Some("*")) {
                    self.add_column_edges(target, "*", &col.sources);
                }
            }
        }
    }

    fn assignments(&mut self, target: &TableName, assignments: &[Assignment]) {
        for a in assignments {
            let columns: Vec<String> = match &a.target {
                AssignmentTarget::ColumnName(n) => last_part(n).into_iter().collect(),
                AssignmentTarget::Tuple(names) => names.iter().filter_map(last_part).collect(),
            };
            match (&a.value, columns.len()) {
                // `SET (a, b) = (SELECT x, y FROM ...)`: column by column.
                (Expr::Subquery(q), n) if n > 1 => {
                    let out = self.query(q);
                    for (col, name) in out.iter().zip(&columns) {
                        self.add_column_edges(target, name, &col.sources);
                    }
                }
                (Expr::Tuple(values), n) if n > 1 => {
                    for (value, name) in values.iter().zip(&columns) {
                        let sources = self.expr_sources(value, true);
                        self.add_column_edges(target, name, &sources);
                    }
                }
                _ => {
                    let sources = self.expr_sources(&a.value, true);
                    for name in &columns {
                        self.add_column_edges(target, name, &sources);
                    }
                }
            }
        }
    }

    /// Column edges into `target.column`. Edges within one table (`SET a = b`) are not
    /// lineage between datasets and are left out.
    fn add_column_edges(
        &mut self,
        target: &TableName,
        column: &str,
        sources: &BTreeSet<ColumnName>,
    ) {
        let to = target.column(column);
        for from in sources {
            if &from.table != target {
                self.column_lineage.insert((from.clone(), to.clone()));
            }
        }
    }

    fn returning(&mut self, target: &TableName, items: Option<&[SelectItem]>) -> Vec<OutputColumn> {
        let Some(items) = items else {
            return Vec::new();
        };
        let mut parts = Vec::new();
        parts.extend(target.schema.clone());
        parts.push(target.name.clone());
        let read_before = self.sources.contains(target);
        self.scope_push(&parts, None);
        let out = self.returning_in_scope(Some(items));
        self.pop_scope();
        if !read_before {
            // RETURNING gives back the inserted rows: the target is not read.
            self.sources.remove(target);
        }
        out
    }

    /// RETURNING's columns, read from the statement's scope.
    fn returning_in_scope(&mut self, items: Option<&[SelectItem]>) -> Vec<OutputColumn> {
        items.map_or_else(Vec::new, |items| self.select_items(items))
    }

    fn table_joins(&mut self, joins: &[sqlparser::ast::Join]) {
        if joins.is_empty() {
            return;
        }
        let items: Vec<sqlparser::ast::TableWithJoins> = joins
            .iter()
            .map(|j| sqlparser::ast::TableWithJoins {
                relation: j.relation.clone(),
                joins: Vec::new(),
            })
            .collect();
        self.extend_scope(&items);
    }
}

/// The `INTO` of a top-level `SELECT ... INTO` (the leftmost SELECT of a set operation).
pub(super) fn select_into(body: &SetExpr) -> Option<&SelectInto> {
    match body {
        SetExpr::Select(s) => s.into.as_ref(),
        SetExpr::SetOperation { left, .. } => select_into(left),
        SetExpr::Query(q) => select_into(&q.body),
        _ => None,
    }
}

fn expr_parts(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Identifier(i) => Some(vec![normalize(i)]),
        Expr::CompoundIdentifier(ids) => Some(ids.iter().map(normalize).collect()),
        _ => None,
    }
}
