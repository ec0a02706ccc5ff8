//! Rolling statement deltas up into per-table usage.

use super::Delta;
use crate::event::{QueryCalls, TableUsage};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A relation a statement touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    pub fqn: String,
    pub schema: String,
    pub name: String,
}

/// One statement's delta and the tables it reads and writes.
#[derive(Debug)]
pub struct TableStatement<'a> {
    pub delta: &'a Delta,
    pub reads: BTreeSet<TableRef>,
    pub writes: BTreeSet<TableRef>,
    /// The statement did not parse: `reads` are the relations its text names, and whether
    /// each is read or written is unknown.
    pub approximate: bool,
}

/// How many statements a table's usage lists as its top queries.
pub const TOP_QUERIES: usize = 5;

#[derive(Default)]
struct Acc {
    query_count: i64,
    approximate_count: i64,
    read_count: i64,
    write_count: i64,
    users: BTreeSet<String>,
    partners: BTreeSet<String>,
    queries: HashMap<i64, i64>,
}

/// Per-table usage of one bucket, ordered by fqn.
pub fn table_usage(statements: &[TableStatement<'_>]) -> Vec<TableUsage> {
    let mut acc: BTreeMap<TableRef, Acc> = BTreeMap::new();
    for st in statements {
        let touched: BTreeSet<&TableRef> = st.reads.iter().chain(&st.writes).collect();
        for t in &touched {
            let a = acc.entry((*t).clone()).or_default();
            let calls = st.delta.calls;
            a.query_count += calls;
            if st.approximate {
                a.approximate_count += calls;
            } else if st.reads.contains(t) {
                a.read_count += calls;
            }
            if st.writes.contains(t) {
                a.write_count += calls;
            }
            a.users.insert(st.delta.entry.role.clone());
            a.partners
                .extend(touched.iter().filter(|o| o != &t).map(|o| o.fqn.clone()));
            *a.queries.entry(st.delta.entry.queryid).or_default() += calls;
        }
    }
    acc.into_iter()
        .map(|(t, a)| {
            let mut top: Vec<(i64, i64)> = a.queries.into_iter().collect();
            top.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            top.truncate(TOP_QUERIES);
            TableUsage {
                fqn: t.fqn,
                schema: t.schema,
                name: t.name,
                query_count: a.query_count,
                approximate_query_count: a.approximate_count,
                read_count: a.read_count,
                write_count: a.write_count,
                users: a.users.into_iter().collect(),
                join_partners: a.partners.into_iter().collect(),
                top_queries: top
                    .into_iter()
                    .map(|(queryid, calls)| QueryCalls {
                        queryid: queryid.to_string(),
                        calls,
                    })
                    .collect(),
                // Set by the usage source, which keeps the day's running totals.
                day: String::new(),
                day_query_count: 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Entry;

    fn delta(queryid: i64, role: &str, calls: i64) -> Delta {
        Delta {
            entry: Entry {
                userid: 1,
                role: role.into(),
                queryid,
                toplevel: true,
                query: String::new(),
                calls,
                total_time_ms: 0.0,
                rows: 0,
            },
            calls,
            total_time_ms: 0.0,
            rows: 0,
        }
    }

    fn t(name: &str) -> TableRef {
        TableRef {
            fqn: format!("svc.db.public.{name}"),
            schema: "public".into(),
            name: name.into(),
        }
    }

    #[test]
    fn counts_users_partners_and_top_queries() {
        let (d1, d2, d3, d4) = (
            delta(1, "alice", 10),
            delta(2, "bob", 3),
            delta(3, "alice", 10),
            delta(4, "carol", 7),
        );
        let statements = vec![
            TableStatement {
                delta: &d1,
                reads: [t("orders"), t("customers")].into(),
                writes: BTreeSet::new(),
                approximate: false,
            },
            TableStatement {
                delta: &d2,
                reads: [t("orders")].into(),
                writes: [t("summary")].into(),
                approximate: false,
            },
            TableStatement {
                delta: &d3,
                reads: BTreeSet::new(),
                writes: [t("orders")].into(),
                approximate: false,
            },
            // Did not parse; its text names orders.
            TableStatement {
                delta: &d4,
                reads: [t("orders")].into(),
                writes: BTreeSet::new(),
                approximate: true,
            },
        ];
        let usage = table_usage(&statements);
        let names: Vec<&str> = usage.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, vec!["customers", "orders", "summary"]);
        let orders = &usage[1];
        assert_eq!(orders.query_count, 30);
        assert_eq!(orders.approximate_query_count, 7);
        assert_eq!(orders.read_count, 13);
        assert_eq!(orders.write_count, 10);
        assert_eq!(orders.users, vec!["alice", "bob", "carol"]);
        assert_eq!(
            orders.join_partners,
            vec!["svc.db.public.customers", "svc.db.public.summary"]
        );
        let top: Vec<(&str, i64)> = orders
            .top_queries
            .iter()
            .map(|q| (q.queryid.as_str(), q.calls))
            .collect();
        assert_eq!(top, vec![("1", 10), ("3", 10), ("4", 7), ("2", 3)]);
        assert_eq!(usage[0].approximate_query_count, 0);
        assert_eq!(usage[2].write_count, 3);
    }
}
