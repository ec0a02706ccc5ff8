//! What a change reaches downstream: the views, materialized views, routines and query-log
//! statements that read the changed object, followed through the lineage graph transitively,
//! column by column where column lineage is known.

use super::SchemaChange;
use crate::event::{Impact, ImpactOrigin, LineageOrigin};
use crate::lineage::edges::SentEdge;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How far a change is followed: deeper chains are rare and the nearest objects matter most.
const MAX_DEPTH: i32 = 10;

/// The objects `change` reaches through `edges` (view, routine and query edges, as sent),
/// nearest first. A change of a whole object (no columns) reaches everything that reads it; a
/// column change reaches what reads that column, or the whole object where an edge carries no
/// column lineage.
pub fn reached(change: &SchemaChange, edges: &[&SentEdge]) -> Vec<Impact> {
    let mut from: BTreeMap<&str, Vec<&SentEdge>> = BTreeMap::new();
    for e in edges {
        from.entry(e.from.as_str()).or_default().push(e);
    }
    // (object, its columns reached; empty: all of it) to visit, with its depth.
    let mut queue: VecDeque<(String, BTreeSet<String>, i32)> = VecDeque::new();
    queue.push_back((
        change.entity_fqn.clone(),
        change.columns.iter().cloned().collect(),
        0,
    ));
    let mut out: Vec<Impact> = Vec::new();
    let mut seen: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    while let Some((object, columns, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH {
            continue;
        }
        for edge in from.get(object.as_str()).into_iter().flatten() {
            let reached: BTreeSet<String> = if columns.is_empty() || edge.columns.is_empty() {
                BTreeSet::new()
            } else {
                let hit: BTreeSet<String> = edge
                    .columns
                    .iter()
                    .filter(|(f, _)| columns.contains(f))
                    .map(|(_, t)| t.clone())
                    .collect();
                if hit.is_empty() {
                    continue;
                }
                hit
            };
            let key = (edge.to.clone(), edge.routine.clone());
            if let Some(&i) = seen.get(&key) {
                // Reached already, nearer: add the columns this path reaches.
                let known: &mut Vec<String> = &mut out[i].columns;
                if !known.is_empty() {
                    if reached.is_empty() {
                        known.clear();
                    } else {
                        for c in &reached {
                            if !known.contains(c) {
                                known.push(c.clone());
                            }
                        }
                    }
                }
                continue;
            }
            seen.insert(key, out.len());
            out.push(Impact {
                fqn: edge.to.clone(),
                origin: match edge.origin {
                    LineageOrigin::View => ImpactOrigin::View,
                    LineageOrigin::Query => ImpactOrigin::Query,
                    LineageOrigin::Routine => ImpactOrigin::Routine,
                },
                columns: reached.iter().cloned().collect(),
                routine_fqn: edge.routine.clone(),
                depth: depth + 1,
                last_seen: edge.last_seen,
            });
            queue.push_back((edge.to.clone(), reached, depth + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_change::{ChangeClass, ChangedObjectType};

    fn edge(from: &str, to: &str, origin: LineageOrigin, columns: &[(&str, &str)]) -> SentEdge {
        SentEdge {
            version: 1,
            digest: 0,
            origin,
            from: from.into(),
            to: to.into(),
            routine: None,
            columns: columns
                .iter()
                .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
                .collect(),
            queryids: vec![],
            sql: None,
            last_seen: None,
        }
    }

    fn change(columns: &[&str]) -> SchemaChange {
        SchemaChange {
            rule: "column.dropped",
            class: ChangeClass::Breaking,
            reason: String::new(),
            object_type: ChangedObjectType::Column,
            object_fqn: "s.d.sales.orders.amount".into(),
            entity_fqn: "s.d.sales.orders".into(),
            schema: "sales".into(),
            name: "orders".into(),
            path: "columns.amount".into(),
            before: None,
            after: None,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn summary(impact: &[Impact]) -> Vec<(String, ImpactOrigin, Vec<String>, i32)> {
        impact
            .iter()
            .map(|i| (i.fqn.clone(), i.origin, i.columns.clone(), i.depth))
            .collect()
    }

    #[test]
    fn a_dropped_column_reaches_the_view_and_the_statement_reading_it_transitively() {
        let edges = [
            edge(
                "s.d.sales.orders",
                "s.d.reporting.revenue",
                LineageOrigin::View,
                &[("amount", "total"), ("id", "order_id")],
            ),
            edge(
                "s.d.reporting.revenue",
                "s.d.mart.ltv",
                LineageOrigin::Query,
                &[("total", "ltv")],
            ),
            // Reads only another column: not reached.
            edge(
                "s.d.sales.orders",
                "s.d.reporting.ids",
                LineageOrigin::View,
                &[("id", "id")],
            ),
            // No column lineage: reached as a whole.
            edge(
                "s.d.sales.orders",
                "s.d.etl.copy",
                LineageOrigin::Routine,
                &[],
            ),
        ];
        let refs: Vec<&SentEdge> = edges.iter().collect();
        assert_eq!(
            summary(&reached(&change(&["amount"]), &refs)),
            vec![
                (
                    "s.d.reporting.revenue".into(),
                    ImpactOrigin::View,
                    vec!["total".into()],
                    1
                ),
                ("s.d.etl.copy".into(), ImpactOrigin::Routine, vec![], 1),
                (
                    "s.d.mart.ltv".into(),
                    ImpactOrigin::Query,
                    vec!["ltv".into()],
                    2
                ),
            ]
        );
        // A change of the whole table reaches every reader.
        assert_eq!(reached(&change(&[]), &refs).len(), 4);
    }

    #[test]
    fn a_cycle_ends_and_nothing_downstream_is_nothing() {
        let edges = [
            edge("s.d.sales.orders", "s.d.a.x", LineageOrigin::Query, &[]),
            edge("s.d.a.x", "s.d.sales.orders", LineageOrigin::Query, &[]),
        ];
        let refs: Vec<&SentEdge> = edges.iter().collect();
        let impact = reached(&change(&[]), &refs);
        assert_eq!(
            impact.iter().map(|i| i.fqn.as_str()).collect::<Vec<_>>(),
            vec!["s.d.a.x", "s.d.sales.orders"]
        );
        assert!(reached(&change(&[]), &[]).is_empty());
    }
}
