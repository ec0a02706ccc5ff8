//! Lineage of queries: which relations a query reads and which source columns each of its
//! output columns is computed from.
//!
//! Walks the sqlparser AST with PostgreSQL's scoping rules: a SELECT's FROM items (tables,
//! derived tables, CTEs, functions, VALUES) form a scope; a column reference resolves in the
//! innermost scope that has it and otherwise in the enclosing ones (correlated subqueries).
//! Column lineage follows data: what a projection expression computes from. Columns that only
//! filter, join, group or order (WHERE, ON, GROUP BY...) do not feed an output column, but the
//! tables they come from are still sources of the statement.

use super::names::{ColumnName, TableName, normalize, object_parts};
use super::resolver::{Resolution, Resolver};
use sqlparser::ast::{
    Cte, Expr, JoinConstraint, JoinOperator, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableAlias, TableFactor, TableWithJoins, Visit,
    Visitor,
};
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

/// One output column of a query and the source columns it is computed from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputColumn {
    /// `None` where PostgreSQL would say `?column?`.
    pub name: Option<String>,
    pub sources: BTreeSet<ColumnName>,
}

/// A temporary relation known to the current session (routine body or script): reading it
/// reads what it was built from.
#[derive(Debug, Clone, Default)]
pub(super) struct TempRelation {
    pub columns: Vec<OutputColumn>,
    pub sources: BTreeSet<TableName>,
}

/// A FROM item as seen by column references.
#[derive(Debug, Clone)]
pub(super) struct Relation {
    /// How the relation is referred to: its alias, or its unqualified name.
    alias: String,
    /// The table's schema when it is referred to by its own name (for `schema.table.col`).
    schema: Option<String>,
    kind: RelationKind,
}

#[derive(Debug, Clone)]
pub(super) enum RelationKind {
    /// A table or view; `columns` are known from the catalog.
    Base {
        table: TableName,
        columns: Option<Vec<String>>,
    },
    /// A derived table, CTE, temp relation, VALUES list or set-returning function.
    Derived { columns: Vec<OutputColumn> },
    /// A relation whose columns cannot be known (system catalog, unresolved name, function).
    Opaque,
}

/// Walks queries for one statement, collecting the relations read.
#[derive(Debug)]
pub(super) struct QueryWalker<'r> {
    resolver: &'r Resolver,
    temp: &'r HashMap<String, TempRelation>,
    ctes: Vec<(String, Vec<OutputColumn>)>,
    scopes: Vec<Vec<Relation>>,
    pub sources: BTreeSet<TableName>,
    pub targets: BTreeSet<TableName>,
    pub column_lineage: BTreeSet<(ColumnName, ColumnName)>,
    pub unresolved: BTreeSet<TableName>,
    /// Column references that matched no relation, or several: reported, not guessed.
    pub unattributed: BTreeSet<String>,
    /// `ALTER TABLE ... RENAME TO ...` seen: (old, new).
    pub renames: Vec<(TableName, TableName)>,
    /// INSERT targets whose columns no catalog gave, so the query's output columns were
    /// matched to them by name (as other lineage tools do) instead of by position.
    pub assumed_columns: BTreeSet<TableName>,
    /// Temporary relations this statement created.
    pub created_temp: Vec<(String, TempRelation)>,
    /// Rows this statement added to existing temporary relations.
    pub temp_writes: Vec<(String, TempRelation)>,
    /// Inside a PL/pgSQL body `SELECT ... INTO` assigns variables, it creates no table.
    pub plpgsql: bool,
}

impl<'r> QueryWalker<'r> {
    pub(super) fn new(resolver: &'r Resolver, temp: &'r HashMap<String, TempRelation>) -> Self {
        QueryWalker {
            resolver,
            temp,
            ctes: Vec::new(),
            scopes: Vec::new(),
            sources: BTreeSet::new(),
            targets: BTreeSet::new(),
            column_lineage: BTreeSet::new(),
            unresolved: BTreeSet::new(),
            unattributed: BTreeSet::new(),
            renames: Vec::new(),
            assumed_columns: BTreeSet::new(),
            created_temp: Vec::new(),
            temp_writes: Vec::new(),
            plpgsql: false,
        }
    }

    pub(super) fn resolver(&self) -> &'r Resolver {
        self.resolver
    }

    /// The output columns of `query`.
    pub(super) fn query(&mut self, query: &Query) -> Vec<OutputColumn> {
        let pushed = self.push_ctes(query);
        let out = self.set_expr(&query.body);
        if let Some(order_by) = &query.order_by {
            // ORDER BY may hold subqueries: their tables are read.
            self.scopes.push(Vec::new());
            self.filter_expressions(order_by);
            self.scopes.pop();
        }
        self.ctes.truncate(self.ctes.len() - pushed);
        out
    }

    /// Registers a query's CTEs (in order, each seeing the ones before it; a recursive CTE
    /// sees itself with the columns of its non-recursive term). Returns how many were pushed.
    fn push_ctes(&mut self, query: &Query) -> usize {
        let Some(with) = &query.with else { return 0 };
        for cte in &with.cte_tables {
            let columns = self.cte(cte, with.recursive);
            self.ctes.push((normalize(&cte.alias.name), columns));
        }
        with.cte_tables.len()
    }

    fn cte(&mut self, cte: &Cte, recursive: bool) -> Vec<OutputColumn> {
        let name = normalize(&cte.alias.name);
        if recursive {
            if let SetExpr::SetOperation { left, .. } = cte.query.body.as_ref() {
                // The recursive reference resolves to the non-recursive term's columns.
                let seed = self.set_expr(left);
                let seed = rename_columns(seed, &cte.alias);
                self.ctes.push((name.clone(), seed));
                let full = self.query(&cte.query);
                self.ctes.pop();
                return rename_columns(full, &cte.alias);
            }
        }
        let out = self.query(&cte.query);
        rename_columns(out, &cte.alias)
    }

    fn set_expr(&mut self, body: &SetExpr) -> Vec<OutputColumn> {
        match body {
            SetExpr::Select(select) => self.select(select),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                let l = self.set_expr(left);
                let r = self.set_expr(right);
                merge_positionally(l, r)
            }
            SetExpr::Values(values) => {
                self.scopes.push(Vec::new());
                let mut cols: Vec<OutputColumn> = Vec::new();
                for row in &values.rows {
                    for (i, e) in row.content.iter().enumerate() {
                        let sources = self.expr_sources(e, true);
                        if cols.len() <= i {
                            cols.push(OutputColumn {
                                name: Some(format!("column{}", i + 1)),
                                sources: BTreeSet::new(),
                            });
                        }
                        cols[i].sources.extend(sources);
                    }
                }
                self.scopes.pop();
                cols
            }
            SetExpr::Table(t) => {
                let Some(name) = &t.table_name else {
                    return Vec::new();
                };
                let mut parts = Vec::new();
                if let Some(schema) = &t.schema_name {
                    parts.push(schema.clone());
                }
                parts.push(name.clone());
                let rel = self.named_relation(&parts, None);
                wildcard_columns(std::slice::from_ref(&rel))
            }
            // A data-modifying statement inside a query (`WITH d AS (DELETE ... RETURNING *)`):
            // its output is what RETURNING gives.
            SetExpr::Insert(st)
            | SetExpr::Update(st)
            | SetExpr::Delete(st)
            | SetExpr::Merge(st) => self.statement(st),
        }
    }

    fn select(&mut self, select: &Select) -> Vec<OutputColumn> {
        let mut scope = Vec::new();
        self.scopes.push(Vec::new());
        for item in &select.from {
            self.table_with_joins(item, &mut scope);
        }
        self.set_scope(scope);

        let out = self.select_items(&select.projection);

        if let Some(selection) = &select.selection {
            self.expr_sources(selection, false);
        }
        if let Some(having) = &select.having {
            self.expr_sources(having, false);
        }
        if let sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &select.group_by {
            for e in exprs {
                self.expr_sources(e, false);
            }
        }
        self.scopes.pop();
        out
    }

    /// The output columns of a select list (or a RETURNING list), in the current scope.
    pub(super) fn select_items(&mut self, items: &[SelectItem]) -> Vec<OutputColumn> {
        let mut out = Vec::new();
        for item in items {
            match item {
                SelectItem::UnnamedExpr(e) => out.push(OutputColumn {
                    name: output_name(e),
                    sources: self.expr_sources(e, true),
                }),
                SelectItem::ExprWithAlias { expr, alias } => out.push(OutputColumn {
                    name: Some(normalize(alias)),
                    sources: self.expr_sources(expr, true),
                }),
                SelectItem::ExprWithAliases { expr, aliases } => {
                    let sources = self.expr_sources(expr, true);
                    for alias in aliases {
                        out.push(OutputColumn {
                            name: Some(normalize(alias)),
                            sources: sources.clone(),
                        });
                    }
                }
                SelectItem::Wildcard(_) => out.extend(self.scope_wildcard()),
                SelectItem::QualifiedWildcard(kind, _) => match kind {
                    SelectItemQualifiedWildcardKind::ObjectName(name) => {
                        let parts = object_parts(name).unwrap_or_default();
                        match self.find_qualifier(&parts) {
                            Some(rel) => out.extend(wildcard_columns(std::slice::from_ref(&rel))),
                            None => {
                                self.unattributed.insert(format!("{}.*", parts.join(".")));
                            }
                        }
                    }
                    SelectItemQualifiedWildcardKind::Expr(e) => out.push(OutputColumn {
                        name: None,
                        sources: self.expr_sources(e, true),
                    }),
                },
            }
        }
        out
    }

    /// Adds a FROM item and its joins to `scope` (LATERAL items see the ones before them).
    pub(super) fn table_with_joins(&mut self, twj: &TableWithJoins, scope: &mut Vec<Relation>) {
        self.table_factor(&twj.relation, scope);
        for join in &twj.joins {
            self.table_factor(&join.relation, scope);
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => Some(c),
                JoinOperator::AsOf { constraint, .. } => Some(constraint),
                _ => None,
            };
            if let Some(JoinConstraint::On(on)) = constraint {
                self.set_scope(scope.clone());
                self.expr_sources(on, false);
            }
        }
    }

    fn table_factor(&mut self, factor: &TableFactor, scope: &mut Vec<Relation>) {
        // Lateral items and join conditions see what is already in the FROM list.
        self.set_scope(scope.clone());
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    // `FROM schema.func(args)` parsed as a table with arguments.
                    scope.push(function_relation(name_alias(name), alias.as_ref()));
                    return;
                }
                let parts = object_parts(name).unwrap_or_default();
                let rel = self.named_relation(&parts, alias.as_ref());
                scope.push(rel);
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let columns = self.query(subquery);
                let (alias_name, columns) = match alias {
                    Some(a) => (normalize(&a.name), rename_columns(columns, a)),
                    None => (String::new(), columns),
                };
                scope.push(Relation {
                    alias: alias_name,
                    schema: None,
                    kind: RelationKind::Derived { columns },
                });
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut inner = Vec::new();
                self.table_with_joins(table_with_joins, &mut inner);
                self.set_scope(scope.clone());
                match alias {
                    Some(a) => {
                        let columns = rename_columns(wildcard_columns(&inner), a);
                        scope.push(Relation {
                            alias: normalize(&a.name),
                            schema: None,
                            kind: RelationKind::Derived { columns },
                        });
                    }
                    None => scope.extend(inner),
                }
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                for arg in args {
                    if let sqlparser::ast::FunctionArg::Unnamed(
                        sqlparser::ast::FunctionArgExpr::Expr(e),
                    ) = arg
                    {
                        self.expr_sources(e, false);
                    }
                }
                scope.push(function_relation(name_alias(name), alias.as_ref()));
            }
            TableFactor::TableFunction { expr, alias } => {
                let sources = self.expr_sources(expr, true);
                scope.push(sourced_function(alias.as_ref(), sources));
            }
            TableFactor::UNNEST {
                alias, array_exprs, ..
            } => {
                let mut sources = BTreeSet::new();
                for e in array_exprs {
                    sources.extend(self.expr_sources(e, true));
                }
                scope.push(sourced_function(alias.as_ref(), sources));
            }
            other => {
                // Dialect constructs PostgreSQL does not have (PIVOT, JSON_TABLE, ...): their
                // tables are still read.
                let mut names = RelationNames::default();
                let _ = other.visit(&mut names);
                for parts in names.0 {
                    self.named_relation(&parts, None);
                }
                scope.push(Relation {
                    alias: String::new(),
                    schema: None,
                    kind: RelationKind::Opaque,
                });
            }
        }
    }

    /// Resolves a relation name used in FROM: CTE, temp relation, or catalog relation.
    pub(super) fn named_relation(
        &mut self,
        parts: &[String],
        alias: Option<&TableAlias>,
    ) -> Relation {
        let alias_name = alias.map(|a| normalize(&a.name));
        let rename = |columns: Vec<OutputColumn>| match alias {
            Some(a) => rename_columns(columns, a),
            None => columns,
        };
        if let [name] = parts {
            if let Some((_, columns)) = self.ctes.iter().rev().find(|(n, _)| n == name) {
                return Relation {
                    alias: alias_name.unwrap_or_else(|| name.clone()),
                    schema: None,
                    kind: RelationKind::Derived {
                        columns: rename(columns.clone()),
                    },
                };
            }
        }
        let temp_name = match parts {
            [name] => Some(name),
            [schema, name] if schema == "pg_temp" => Some(name),
            _ => None,
        };
        if let Some(temp) = temp_name.and_then(|n| self.temp.get(n)) {
            self.sources.extend(temp.sources.iter().cloned());
            return Relation {
                alias: alias_name.unwrap_or_else(|| parts.last().cloned().unwrap_or_default()),
                schema: None,
                kind: RelationKind::Derived {
                    columns: rename(temp.columns.clone()),
                },
            };
        }
        let own_name = parts.last().cloned().unwrap_or_default();
        match self.resolver.resolve(parts) {
            Resolution::Relation { name, columns } => {
                self.sources.insert(name.clone());
                let schema = name.schema.clone();
                let kind = match alias.filter(|a| !a.columns.is_empty()) {
                    Some(a) => {
                        let base = base_columns(&name, columns);
                        RelationKind::Derived {
                            columns: rename_columns(base, a),
                        }
                    }
                    None => RelationKind::Base {
                        table: name,
                        columns: columns.map(<[String]>::to_vec),
                    },
                };
                Relation {
                    alias: alias_name.unwrap_or(own_name),
                    schema: if alias.is_some() { None } else { schema },
                    kind,
                }
            }
            Resolution::System(_) => Relation {
                alias: alias_name.unwrap_or(own_name),
                schema: None,
                kind: RelationKind::Opaque,
            },
            Resolution::Unresolved(name) => {
                self.unresolved.insert(name);
                Relation {
                    alias: alias_name.unwrap_or(own_name),
                    schema: None,
                    kind: RelationKind::Opaque,
                }
            }
        }
    }

    /// The relation a qualifier (`t` in `t.col` or `t.*`, or `s.t`) names, innermost first.
    fn find_qualifier(&self, qualifier: &[String]) -> Option<Relation> {
        for scope in self.scopes.iter().rev() {
            let found = scope.iter().rev().find(|r| match qualifier {
                [alias] => &r.alias == alias,
                [schema, name] => &r.alias == name && r.schema.as_deref() == Some(schema),
                [_, schema, name] => &r.alias == name && r.schema.as_deref() == Some(schema),
                _ => false,
            });
            if let Some(r) = found {
                return Some(r.clone());
            }
        }
        None
    }

    /// The source columns a column reference stands for.
    fn column_ref(&mut self, parts: &[String]) -> BTreeSet<ColumnName> {
        let Some((column, qualifier)) = parts.split_last() else {
            return BTreeSet::new();
        };
        if !qualifier.is_empty() {
            if let Some(rel) = self.find_qualifier(qualifier) {
                return relation_column(&rel, column).unwrap_or_default();
            }
            // `composite_col.field` or `table.composite_col.field`: try a shorter qualifier.
            if let Some(found) = self.unqualified(&qualifier[0]) {
                return found;
            }
            if qualifier.len() >= 2 {
                if let Some(rel) = self.find_qualifier(&qualifier[..1]) {
                    return relation_column(&rel, &qualifier[1]).unwrap_or_default();
                }
            }
            self.unattributed.insert(parts.join("."));
            return BTreeSet::new();
        }
        match self.unqualified(column) {
            Some(found) => found,
            None => {
                self.unattributed.insert(column.clone());
                BTreeSet::new()
            }
        }
    }

    /// An unqualified column: the innermost scope with exactly one relation that has it (or
    /// may have it, when its columns are unknown) decides.
    fn unqualified(&self, column: &str) -> Option<BTreeSet<ColumnName>> {
        for scope in self.scopes.iter().rev() {
            let definite: Vec<&Relation> = scope
                .iter()
                .filter(|r| has_column(r, column) == Some(true))
                .collect();
            if definite.len() == 1 {
                return relation_column(definite[0], column);
            }
            if definite.len() > 1 {
                // Ambiguous in PostgreSQL too, except for USING/NATURAL join keys, which
                // come from all the joined relations.
                let mut all = BTreeSet::new();
                for r in definite {
                    all.extend(relation_column(r, column).unwrap_or_default());
                }
                return Some(all);
            }
            let maybe: Vec<&Relation> = scope
                .iter()
                .filter(|r| has_column(r, column).is_none())
                .collect();
            if maybe.len() == 1 {
                return relation_column(maybe[0], column);
            }
            if maybe.len() > 1 {
                return None;
            }
        }
        None
    }

    /// The source columns an expression reads. Subqueries are walked for their tables; with
    /// `data` their output columns count as read (a scalar subquery), without it the
    /// expression only filters and its result is discarded.
    pub(super) fn expr_sources(&mut self, expr: &Expr, data: bool) -> BTreeSet<ColumnName> {
        let mut refs = ExprRefs::default();
        let _ = expr.visit(&mut refs);
        self.absorb(refs, data)
    }

    fn filter_expressions(&mut self, node: &impl Visit) {
        let mut refs = ExprRefs::default();
        let _ = node.visit(&mut refs);
        self.absorb(refs, false);
    }

    fn absorb(&mut self, refs: ExprRefs, data: bool) -> BTreeSet<ColumnName> {
        let mut out = BTreeSet::new();
        for parts in refs.columns {
            let found = self.column_ref(&parts);
            if data {
                out.extend(found);
            }
        }
        for (subquery, feeds) in refs.subqueries {
            let cols = self.query(&subquery);
            if data && feeds {
                for c in cols {
                    out.extend(c.sources);
                }
            }
        }
        out
    }

    /// Opens a scope holding the relation a DML statement writes (UPDATE, DELETE, MERGE).
    pub(super) fn scope_push(&mut self, parts: &[String], alias: Option<&TableAlias>) {
        let rel = self.named_relation(parts, alias);
        self.scopes.push(vec![rel]);
    }

    /// Adds FROM items (UPDATE ... FROM, DELETE ... USING) to the current scope.
    pub(super) fn extend_scope(&mut self, items: &[TableWithJoins]) {
        if self.scopes.is_empty() {
            self.scopes.push(Vec::new());
        }
        let mut scope = self.scopes.last().cloned().unwrap_or_default();
        for item in items {
            self.table_with_joins(item, &mut scope);
        }
        self.set_scope(scope);
    }

    /// Adds one FROM item (MERGE ... USING) to the current scope.
    pub(super) fn extend_scope_factor(&mut self, factor: &TableFactor) {
        if self.scopes.is_empty() {
            self.scopes.push(Vec::new());
        }
        let mut scope = self.scopes.last().cloned().unwrap_or_default();
        self.table_factor(factor, &mut scope);
        self.set_scope(scope);
    }

    pub(super) fn set_scope(&mut self, scope: Vec<Relation>) {
        match self.scopes.last_mut() {
            Some(top) => *top = scope,
            None => self.scopes.push(scope),
        }
    }

    pub(super) fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    pub(super) fn is_temp(&self, name: &str) -> bool {
        self.temp.contains_key(name)
    }

    /// `*` over the current scope.
    pub(super) fn scope_wildcard(&self) -> Vec<OutputColumn> {
        self.scopes
            .last()
            .map(|scope| wildcard_columns(scope))
            .unwrap_or_default()
    }
}

/// Identifiers and subqueries of an expression, not descending into the subqueries (they are
/// walked separately, in their own scope).
#[derive(Default)]
struct ExprRefs {
    depth: usize,
    exists_pending: bool,
    columns: Vec<Vec<String>>,
    subqueries: Vec<(Query, bool)>,
}

impl Visitor for ExprRefs {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            let feeds = !std::mem::take(&mut self.exists_pending);
            self.subqueries.push((query.clone(), feeds));
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Identifier(ident) => self.columns.push(vec![normalize(ident)]),
            Expr::CompoundIdentifier(idents) => {
                self.columns.push(idents.iter().map(normalize).collect())
            }
            Expr::Exists { .. } => self.exists_pending = true,
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Table names inside a FROM construct walked generically.
#[derive(Default)]
struct RelationNames(Vec<Vec<String>>);

impl Visitor for RelationNames {
    type Break = ();
    fn pre_visit_relation(&mut self, relation: &sqlparser::ast::ObjectName) -> ControlFlow<()> {
        if let Some(parts) = object_parts(relation) {
            self.0.push(parts);
        }
        ControlFlow::Continue(())
    }
}

fn has_column(rel: &Relation, column: &str) -> Option<bool> {
    match &rel.kind {
        RelationKind::Base { columns, .. } => {
            columns.as_ref().map(|c| c.iter().any(|n| n == column))
        }
        RelationKind::Derived { columns } => {
            Some(columns.iter().any(|c| c.name.as_deref() == Some(column)))
        }
        RelationKind::Opaque => None,
    }
}

fn relation_column(rel: &Relation, column: &str) -> Option<BTreeSet<ColumnName>> {
    match &rel.kind {
        RelationKind::Base { table, .. } => Some(BTreeSet::from([table.column(column)])),
        RelationKind::Derived { columns } => columns
            .iter()
            .find(|c| c.name.as_deref() == Some(column))
            .map(|c| c.sources.clone()),
        RelationKind::Opaque => Some(BTreeSet::new()),
    }
}

fn base_columns(table: &TableName, columns: Option<&[String]>) -> Vec<OutputColumn> {
    match columns {
        Some(cols) => cols
            .iter()
            .map(|c| OutputColumn {
                name: Some(c.clone()),
                sources: BTreeSet::from([table.column(c)]),
            })
            .collect(),
        None => vec![OutputColumn {
            name: Some("*".to_owned()),
            sources: BTreeSet::from([table.column("*")]),
        }],
    }
}

/// `*` over these relations: every column, or a `table.*` placeholder for a table whose
/// columns are not known.
pub(super) fn wildcard_columns(scope: &[Relation]) -> Vec<OutputColumn> {
    let mut out = Vec::new();
    for rel in scope {
        match &rel.kind {
            RelationKind::Base { table, columns } => {
                out.extend(base_columns(table, columns.as_deref()))
            }
            RelationKind::Derived { columns } => out.extend(columns.iter().cloned()),
            RelationKind::Opaque => {}
        }
    }
    out
}

/// Applies a `AS alias (c1, c2, ...)` column list.
pub(super) fn rename_columns(
    mut columns: Vec<OutputColumn>,
    alias: &TableAlias,
) -> Vec<OutputColumn> {
    for (col, def) in columns.iter_mut().zip(&alias.columns) {
        col.name = Some(normalize(&def.name));
    }
    columns
}

fn merge_positionally(mut left: Vec<OutputColumn>, right: Vec<OutputColumn>) -> Vec<OutputColumn> {
    for (l, r) in left.iter_mut().zip(right) {
        l.sources.extend(r.sources);
    }
    left
}

fn name_alias(name: &sqlparser::ast::ObjectName) -> String {
    object_parts(name)
        .and_then(|mut p| p.pop())
        .unwrap_or_default()
}

fn function_relation(name: String, alias: Option<&TableAlias>) -> Relation {
    sourced_function_named(name, alias, BTreeSet::new())
}

fn sourced_function(alias: Option<&TableAlias>, sources: BTreeSet<ColumnName>) -> Relation {
    sourced_function_named(String::new(), alias, sources)
}

/// A set-returning function in FROM: one column named after the alias (or the function),
/// computed from its arguments.
fn sourced_function_named(
    name: String,
    alias: Option<&TableAlias>,
    sources: BTreeSet<ColumnName>,
) -> Relation {
    let alias_name = alias.map(|a| normalize(&a.name)).unwrap_or(name);
    let columns = match alias {
        Some(a) if !a.columns.is_empty() => a
            .columns
            .iter()
            .map(|c| OutputColumn {
                name: Some(normalize(&c.name)),
                sources: sources.clone(),
            })
            .collect(),
        _ => vec![OutputColumn {
            name: Some(alias_name.clone()),
            sources,
        }],
    };
    Relation {
        alias: alias_name,
        schema: None,
        kind: RelationKind::Derived { columns },
    }
}

/// The name PostgreSQL gives an unaliased output column (`?column?` is `None`).
pub(super) fn output_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(ident) => Some(normalize(ident)),
        Expr::CompoundIdentifier(idents) => idents.last().map(normalize),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => output_name(expr),
        Expr::Function(f) => f.name.0.last().and_then(|p| match p {
            sqlparser::ast::ObjectNamePart::Identifier(i) => Some(normalize(i)),
            sqlparser::ast::ObjectNamePart::Function(_) => None,
        }),
        Expr::Case { .. } => Some("case".to_owned()),
        Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
            Some(sqlparser::ast::AccessExpr::Dot(e)) => output_name(e),
            _ => None,
        },
        _ => None,
    }
}
