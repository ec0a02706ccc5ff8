//! What `pgmeta-capture lineage` prints: one JSON object per statement of a script.

use super::{Resolver, Session, split};
use serde::Serialize;

/// One statement's lineage as the `lineage` command prints it.
#[derive(Debug, Serialize)]
pub struct StatementReport {
    pub sources: Vec<String>,
    pub targets: Vec<String>,
    pub column_lineage: Vec<[String; 2]>,
    pub error: Option<String>,
    pub kind: &'static str,
    /// Names that did not resolve against the catalog (shown as written).
    pub unresolved: Vec<String>,
    /// Column references that matched no relation in scope, or several.
    pub unattributed: Vec<String>,
    /// INSERT targets whose column lineage was matched by output name because no catalog
    /// gave their columns (with `--catalog-from` or `--schema`, PostgreSQL's positional rule).
    pub assumed_columns: Vec<String>,
    pub statement: String,
}

/// Analyses a script statement by statement in one session (so temporary tables carry
/// lineage from one statement to the next).
pub fn report_script(sql: &str, resolver: &Resolver) -> Vec<StatementReport> {
    let mut session = Session::new(resolver);
    split::split_statements(sql)
        .into_iter()
        .map(|statement| match session.analyze(&statement) {
            Ok(l) => StatementReport {
                sources: l.sources.iter().map(ToString::to_string).collect(),
                targets: l.targets.iter().map(ToString::to_string).collect(),
                column_lineage: l
                    .column_lineage
                    .iter()
                    .map(|(f, t)| [f.to_string(), t.to_string()])
                    .collect(),
                error: None,
                kind: l.kind,
                unresolved: l.unresolved.iter().map(ToString::to_string).collect(),
                unattributed: l.unattributed.into_iter().collect(),
                assumed_columns: l.assumed_columns.iter().map(ToString::to_string).collect(),
                statement,
            },
            Err(e) => StatementReport {
                sources: Vec::new(),
                targets: Vec::new(),
                column_lineage: Vec::new(),
                error: Some(e.to_string()),
                kind: "OTHER",
                unresolved: Vec::new(),
                unattributed: Vec::new(),
                assumed_columns: Vec::new(),
                statement,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_statement_in_the_documented_shape() {
        let reports = report_script(
            "insert into a.t (x) select y from b.u; selekt;",
            &Resolver::without_catalog(),
        );
        let lines: Vec<String> = reports
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with(
                r#"{"sources":["b.u"],"targets":["a.t"],"column_lineage":[["b.u.y","a.t.x"]],"error":null"#
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(r#""error":"cannot parse SQL: "#),
            "{}",
            lines[1]
        );
    }
}
