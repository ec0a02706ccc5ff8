//! Table- and column-level lineage from SQL text.
//!
//! ```text
//!  SQL ──► split ──► sqlparser (PostgreSQL dialect) ──► statement / query walker ──► StatementLineage
//!                                                              ▲
//!                                      Resolver (catalog + search_path) names relations
//! ```
//!
//! A [`Session`] analyses statements in order, the way one database session runs them: a
//! temporary table created by one statement is read by later ones as what it was built from,
//! so lineage goes through it (routine bodies and scripts). Names are resolved as PostgreSQL
//! would, and a name that resolves to nothing is reported in `unresolved` instead of becoming
//! an edge. Unparseable statements are an error of that statement only.

pub mod edges;
pub mod fallback;
mod identifiers;
mod mask;
mod names;
mod query;
mod relation_names;
pub mod report;
mod resolver;
pub mod schema_file;
pub mod split;
mod statement;

pub use identifiers::identifiers;
pub use mask::{mask_literals, mask_quoted};
pub use names::{ColumnName, TableName};
pub use query::OutputColumn;
pub use relation_names::RelationNames;
pub use resolver::{Resolution, Resolver, is_system_schema, parse_search_path};

use query::{QueryWalker, TempRelation};
use serde::Serialize;
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::collections::{BTreeSet, HashMap};

/// What one statement reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatementLineage {
    /// `SELECT`, `INSERT`, `CREATE_VIEW`, ... (`OTHER` for statements without lineage).
    pub kind: &'static str,
    pub sources: BTreeSet<TableName>,
    pub targets: BTreeSet<TableName>,
    /// `[from, to]` column pairs: `to` is computed from `from`.
    pub column_lineage: BTreeSet<(ColumnName, ColumnName)>,
    /// Relation names that matched nothing in the catalog: no edge is made from them.
    pub unresolved: BTreeSet<TableName>,
    /// Column references that matched no relation in scope, or several.
    pub unattributed: BTreeSet<String>,
    /// `ALTER TABLE old RENAME TO new`.
    pub renames: Vec<(TableName, TableName)>,
    /// INSERT targets without a column list whose columns no catalog knows: their column
    /// lineage maps the query's output columns by name, an assumption PostgreSQL's positional
    /// rule may contradict.
    pub assumed_columns: BTreeSet<TableName>,
}

impl StatementLineage {
    /// Adds what `other` reads, writes and reports (the kind stays this one's).
    pub fn absorb(&mut self, other: StatementLineage) {
        self.sources.extend(other.sources);
        self.targets.extend(other.targets);
        self.column_lineage.extend(other.column_lineage);
        self.unresolved.extend(other.unresolved);
        self.unattributed.extend(other.unattributed);
        self.renames.extend(other.renames);
        self.assumed_columns.extend(other.assumed_columns);
    }

    /// Table-level edges: every source to every target, without self-loops.
    pub fn table_edges(&self) -> impl Iterator<Item = (&TableName, &TableName)> {
        self.sources
            .iter()
            .flat_map(|s| self.targets.iter().map(move |t| (s, t)))
            .filter(|(s, t)| s != t)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineageError {
    #[error("cannot parse SQL: {0}")]
    Parse(String),
}

/// Parses PostgreSQL SQL text.
pub fn parse(sql: &str) -> Result<Vec<Statement>, LineageError> {
    Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| LineageError::Parse(e.to_string()))
}

/// Statements analysed in order, as one database session runs them.
#[derive(Debug)]
pub struct Session<'r> {
    resolver: &'r Resolver,
    temp: HashMap<String, TempRelation>,
    plpgsql: bool,
}

impl<'r> Session<'r> {
    pub fn new(resolver: &'r Resolver) -> Self {
        Session {
            resolver,
            temp: HashMap::new(),
            plpgsql: false,
        }
    }

    /// A PL/pgSQL body's session: `SELECT ... INTO` assigns variables.
    pub fn plpgsql(resolver: &'r Resolver) -> Self {
        Session {
            plpgsql: true,
            ..Session::new(resolver)
        }
    }

    /// Parses and analyses one statement's text.
    pub fn analyze(&mut self, sql: &str) -> Result<StatementLineage, LineageError> {
        let statements = parse(&split::parser_compat(sql))?;
        let mut merged = StatementLineage {
            kind: "OTHER",
            ..StatementLineage::default()
        };
        for (i, st) in statements.iter().enumerate() {
            let one = self.statement(st);
            if i == 0 {
                merged.kind = one.kind;
            }
            merged.absorb(one);
        }
        Ok(merged)
    }

    /// Analyses a parsed statement.
    pub fn statement(&mut self, st: &Statement) -> StatementLineage {
        let mut walker = QueryWalker::new(self.resolver, &self.temp);
        walker.plpgsql = self.plpgsql;
        walker.statement(st);
        let created = std::mem::take(&mut walker.created_temp);
        let writes = std::mem::take(&mut walker.temp_writes);
        let lineage = StatementLineage {
            kind: statement::statement_kind(st),
            sources: walker.sources,
            targets: walker.targets,
            column_lineage: walker.column_lineage,
            unresolved: walker.unresolved,
            unattributed: walker.unattributed,
            renames: walker.renames,
            assumed_columns: walker.assumed_columns,
        };
        for (name, relation) in created {
            self.temp.insert(name, relation);
        }
        for (name, written) in writes {
            let Some(temp) = self.temp.get_mut(&name) else {
                continue;
            };
            temp.sources.extend(written.sources);
            for (i, col) in written.columns.into_iter().enumerate() {
                let slot = match &col.name {
                    Some(n) => temp.columns.iter().position(|c| c.name.as_ref() == Some(n)),
                    None => None,
                }
                .unwrap_or(i);
                if let Some(existing) = temp.columns.get_mut(slot) {
                    existing.sources.extend(col.sources);
                }
            }
        }
        lineage
    }
}

/// Analyses one statement in a fresh session.
pub fn analyze(sql: &str, resolver: &Resolver) -> Result<StatementLineage, LineageError> {
    Session::new(resolver).analyze(sql)
}

/// The output columns of a query (a view definition) and the relations it reads.
pub fn query_columns(
    sql: &str,
    resolver: &Resolver,
) -> Result<(Vec<OutputColumn>, BTreeSet<TableName>), LineageError> {
    let statements = parse(&split::parser_compat(sql))?;
    let Some(Statement::Query(q)) = statements.first() else {
        return Err(LineageError::Parse(
            "a view definition must be a query".to_owned(),
        ));
    };
    let temp = HashMap::new();
    let mut walker = QueryWalker::new(resolver, &temp);
    let out = walker.query(q);
    Ok((out, walker.sources))
}

/// What a routine body does, statement by statement (with each statement's text).
#[derive(Debug, Default)]
pub struct RoutineLineage {
    pub statements: Vec<(String, StatementLineage)>,
    /// Statements that did not parse (their errors are logged by the caller at debug).
    pub errors: Vec<LineageError>,
    /// `EXECUTE` of dynamic SQL: not knowable from the text.
    pub dynamic: usize,
}

/// The lineage of a SQL or PL/pgSQL routine body. Other languages have none that SQL can tell.
pub fn routine_lineage(language: &str, body: &str, resolver: &Resolver) -> RoutineLineage {
    let mut out = RoutineLineage::default();
    match language {
        "sql" => {
            let mut session = Session::new(resolver);
            for sql in split::split_statements(body) {
                match session.analyze(&sql) {
                    Ok(l) => out.statements.push((sql, l)),
                    Err(e) => out.errors.push(e),
                }
            }
        }
        "plpgsql" => {
            let mut session = Session::plpgsql(resolver);
            let (statements, dynamic) = split::plpgsql_statements(body);
            out.dynamic = dynamic;
            for st in statements {
                match session.analyze(&st.sql) {
                    Ok(l) => out.statements.push((st.sql, l)),
                    Err(e) => out.errors.push(e),
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests;
