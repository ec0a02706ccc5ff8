//! A metadata server's lineage read back as edges, for `pgmeta-capture impact --lineage-from`:
//! what reads a table downstream, as OpenMetadata's `GET /lineage/table/name/{fqn}` answers
//! (pgmeta-catalog or OpenMetadata), with column lineage where the edge has it.

use super::client::{ApplyError, HttpMetadataClient};
use super::name::column_of;
use crate::event::LineageOrigin;
use crate::lineage::edges::SentEdge;
use serde_json::Value;
use std::collections::HashMap;

/// How deep the graph below a changed table is read.
const DEPTH: u32 = 10;

/// The edges downstream of each table of `fqns` (deduplicated; a table the server does not
/// know has none).
pub async fn downstream_edges(
    client: &HttpMetadataClient,
    fqns: &[String],
) -> Result<Vec<SentEdge>, ApplyError> {
    let mut out: Vec<SentEdge> = Vec::new();
    for fqn in fqns {
        if let Some(graph) = client.downstream_lineage(fqn, DEPTH).await? {
            for edge in edges_of(&graph) {
                if !out.iter().any(|e| e.from == edge.from && e.to == edge.to) {
                    out.push(edge);
                }
            }
        }
    }
    Ok(out)
}

/// The downstream edges of one lineage graph answer, by FQN.
fn edges_of(graph: &Value) -> Vec<SentEdge> {
    let fqn_of: HashMap<&str, &str> = graph["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&graph["entity"]))
        .filter_map(|n| Some((n["id"].as_str()?, n["fullyQualifiedName"].as_str()?)))
        .collect();
    graph["downstreamEdges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let from = *fqn_of.get(e["fromEntity"].as_str()?)?;
            let to = *fqn_of.get(e["toEntity"].as_str()?)?;
            let details = &e["lineageDetails"];
            let origin = match (details["source"].as_str(), details["pipeline"].is_object()) {
                (_, true) => LineageOrigin::Routine,
                (Some("ViewLineage"), _) => LineageOrigin::View,
                _ => LineageOrigin::Query,
            };
            let columns = details["columnsLineage"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| {
                    let to_column = c["toColumn"].as_str().and_then(|t| column_of(t, to));
                    c["fromColumns"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(move |f| {
                            Some((column_of(f.as_str()?, from)?, to_column.clone()?))
                        })
                })
                .collect();
            Some(SentEdge {
                version: 0,
                digest: 0,
                origin,
                from: from.to_owned(),
                to: to.to_owned(),
                routine: None,
                columns,
                queryids: vec![],
                sql: None,
                last_seen: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_servers_graph_becomes_edges_with_their_column_pairs_and_origin() {
        let graph = json!({
            "entity": {"id": "t", "fullyQualifiedName": "s.d.sales.orders"},
            "nodes": [
                {"id": "v", "fullyQualifiedName": "s.d.reporting.\"re.venue\""},
                {"id": "q", "fullyQualifiedName": "s.d.mart.ltv"}
            ],
            "upstreamEdges": [],
            "downstreamEdges": [
                {"fromEntity": "t", "toEntity": "v", "lineageDetails": {
                    "source": "ViewLineage",
                    "columnsLineage": [{"fromColumns": ["s.d.sales.orders.amount"],
                                        "toColumn": "s.d.reporting.\"re.venue\".\"to.tal\""}]}},
                {"fromEntity": "v", "toEntity": "q", "lineageDetails": {"source": "QueryLineage"}},
                {"fromEntity": "t", "toEntity": "unknown"}
            ]
        });
        let edges = edges_of(&graph);
        assert_eq!(edges.len(), 2, "an edge to a node not listed is left out");
        assert_eq!(
            (edges[0].origin, edges[0].to.as_str()),
            (LineageOrigin::View, "s.d.reporting.\"re.venue\"")
        );
        assert_eq!(edges[0].columns, vec![("amount".into(), "to.tal".into())]);
        assert_eq!(
            (
                edges[1].origin,
                edges[1].from.as_str(),
                edges[1].columns.len()
            ),
            (LineageOrigin::Query, "s.d.reporting.\"re.venue\"", 0)
        );
    }
}
