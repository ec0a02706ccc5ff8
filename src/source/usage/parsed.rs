//! The statements of `pg_stat_statements`' view as the usage poller keeps them between polls:
//! each text parsed once, what it reads and writes kept for the life of the process (or until
//! the catalog's names change).

use crate::lineage::{Resolver, Session, StatementLineage, TableName, mask_quoted};
use crate::usage::Reading;
use std::collections::HashMap;

/// What identifies a statement of the view: (userid, queryid).
type Key = (u32, i64);

/// The statements of the view, each parsed once.
///
/// A statement that parses and reads or writes no relation is kept as its key alone, in a
/// sorted list (16 bytes instead of a map's entry of 64 and its slack): `LOCK TABLE`, of which
/// pg_dump leaves one per table it dumps, `SET`, `BEGIN`. After a pg_dump of 100,000 tables
/// with `pg_stat_statements.max` at 50,000, the view held 48,275 statements, nearly all of
/// them such locks, and their entries were 5 MB of an idle capture's 14.6 MB allocated.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    /// Statements that name relations, give lineage, or do not parse.
    named: HashMap<Key, Result<ParsedStatement, Unparsed>>,
    /// Statements that parse and name no relation, sorted.
    bare: Vec<Key>,
}

impl Parsed {
    /// Whether the statement was parsed (it is parsed again after a [`Parsed::clear`]).
    pub(super) fn contains(&self, key: &Key) -> bool {
        self.bare.binary_search(key).is_ok() || self.named.contains_key(key)
    }

    /// What a statement reads and writes, or why it does not parse; `None` for one that
    /// names nothing (or was never parsed).
    pub(super) fn get(&self, key: &Key) -> Option<&Result<ParsedStatement, Unparsed>> {
        self.named.get(key)
    }

    /// The lineage of every statement that keeps one.
    pub(super) fn lineages(&self) -> impl Iterator<Item = &StatementLineage> {
        self.named
            .values()
            .flatten()
            .filter_map(|p| p.lineage.as_deref())
    }

    /// Forgets every parse: names resolve differently once the catalog changed.
    pub(super) fn clear(&mut self) {
        self.named.clear();
        self.bare.clear();
    }

    /// Adds statements that name nothing, keeping the list sorted and no longer than it is.
    /// `keys` come sorted (in the view's order): the stable sort merges two sorted runs.
    fn add_bare(&mut self, keys: Vec<Key>) {
        if keys.is_empty() {
            return;
        }
        self.bare.extend(keys);
        self.bare.sort();
        self.bare.dedup();
        self.bare.shrink_to_fit();
    }

    /// Forgets the statements that left the view; parses those not seen before with `resolver`
    /// (given whenever there are such statements, see `UsageSource::refresh_relations`).
    pub(super) fn parse_new(&mut self, reading: &Reading, resolver: Option<&Resolver>) {
        let m = crate::telemetry::metrics();
        let in_view = |&(userid, queryid): &Key| reading.holds(userid, queryid);
        self.named.retain(|k, _| in_view(k));
        self.bare.retain(in_view);
        let Some(resolver) = resolver else {
            return;
        };
        let mut bare = Vec::new();
        for e in reading.entries() {
            let key = (e.userid, e.queryid);
            // A statement run both at top level and inside functions is two adjacent entries.
            if self.contains(&key) || bare.last() == Some(&key) {
                continue;
            }
            let for_user = resolver.for_user(&e.role);
            let result = Session::new(&for_user).analyze(&e.query);
            match &result {
                Ok(_) => m.statements_parsed.with_label_values(&["ok"]).inc(),
                Err(err) => {
                    m.statements_parsed.with_label_values(&["error"]).inc();
                    tracing::debug!(queryid = e.queryid, error = %err, "statement does not parse; no lineage from it");
                }
            }
            let parse = result.map(ParsedStatement::new).map_err(|err| Unparsed {
                // sqlparser quotes the token it stopped at, which may be a literal.
                error: mask_quoted(&err.to_string()),
                named: crate::lineage::fallback::tables_named(&e.query, &for_user)
                    .into_iter()
                    .collect(),
            });
            match parse {
                Ok(p) if p.names_nothing() => bare.push(key),
                parse => {
                    self.named.insert(key, parse);
                }
            }
        }
        self.add_bare(bare);
    }
}

/// A statement that parses, as the poller keeps it between polls (every statement of the
/// view, 5,000 by default, for the life of the process): the relations it reads and writes,
/// and its whole lineage only when that makes edges (it writes one relation from another, and
/// is no CREATE VIEW, whose lineage comes from the catalog) or renames. Names are held in
/// boxed slices: a `BTreeSet` of one name allocates a node for eleven (about 900 bytes), which
/// made 5,000 held statements 5 MB of an idle capture.
#[derive(Debug)]
pub(super) struct ParsedStatement {
    pub(super) reads: Box<[TableName]>,
    pub(super) writes: Box<[TableName]>,
    pub(super) lineage: Option<Box<StatementLineage>>,
}

impl ParsedStatement {
    fn new(lineage: StatementLineage) -> Self {
        ParsedStatement {
            reads: lineage.sources.iter().cloned().collect(),
            writes: lineage.targets.iter().cloned().collect(),
            lineage: makes_edges(&lineage).then(|| Box::new(lineage)),
        }
    }

    /// Reads and writes no relation and gives no lineage: `LOCK TABLE`, `SET`, `BEGIN`, ...
    fn names_nothing(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty() && self.lineage.is_none()
    }
}

/// Whether a statement's lineage can give query lineage edges (`UsageSource::query_edges`):
/// a relation written from another, or a rename that others' edges follow. A view's lineage is
/// its current definition (VIEW edges from the catalog), not every CREATE VIEW it ever had.
fn makes_edges(lineage: &StatementLineage) -> bool {
    let view = matches!(lineage.kind, "CREATE_VIEW" | "CREATE_MATERIALIZED_VIEW");
    !lineage.renames.is_empty() || (!view && lineage.table_edges().next().is_some())
}

/// A statement text that does not parse: why, and the catalog relations its tokens name
/// (`lineage::fallback`), which its calls are counted for, flagged approximate.
#[derive(Debug)]
pub(super) struct Unparsed {
    pub(super) error: String,
    pub(super) named: Box<[TableName]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineage::analyze;

    fn kept(sql: &str) -> bool {
        let lineage = analyze(sql, &Resolver::without_catalog()).expect(sql);
        ParsedStatement::new(lineage).lineage.is_some()
    }

    #[test]
    fn lineage_is_kept_only_for_statements_that_make_edges_or_rename() {
        for sql in [
            "INSERT INTO public.a SELECT * FROM public.b",
            "CREATE TABLE public.c AS SELECT x FROM public.b",
            "UPDATE public.a SET x = b.x FROM public.b WHERE a.id = b.id",
            "ALTER TABLE public.a__dbt_tmp RENAME TO a",
        ] {
            assert!(kept(sql), "{sql} keeps its lineage");
        }
        for sql in [
            "SELECT * FROM public.a JOIN public.b USING (id)",
            "CREATE TABLE public.ddl_1 (id int)",
            "INSERT INTO public.a VALUES (1)",
            "INSERT INTO public.a SELECT * FROM public.a",
            "CREATE VIEW public.v AS SELECT * FROM public.b",
            "CREATE MATERIALIZED VIEW public.m AS SELECT * FROM public.b",
        ] {
            assert!(!kept(sql), "{sql} keeps its tables alone");
        }
    }

    fn reading(statements: &[(i64, &str)]) -> Reading {
        let both: Vec<_> = statements.iter().map(|&(q, s)| (q, s, true)).collect();
        reading_at_levels(&both)
    }

    fn reading_at_levels(statements: &[(i64, &str, bool)]) -> Reading {
        let entries = statements
            .iter()
            .map(|(queryid, query, toplevel)| crate::usage::Entry {
                userid: 10,
                role: "app".into(),
                queryid: *queryid,
                toplevel: *toplevel,
                query: (*query).into(),
                calls: 1,
                total_time_ms: 1.0,
                rows: 0,
            })
            .collect();
        Reading::new(0, None, None, entries, 0)
    }

    #[test]
    fn a_statement_that_names_no_relation_is_kept_as_its_key_alone() {
        let lock = (1, "LOCK TABLE s1.t1 IN ACCESS SHARE MODE");
        let set = (2, "SET search_path = public");
        let select = (3, "SELECT * FROM public.a");
        let broken = (4, "SELEC oops FROM public.a");
        let mut parsed = Parsed::default();
        parsed.parse_new(
            &reading(&[lock, set, select, broken]),
            Some(&Resolver::without_catalog()),
        );
        assert_eq!(parsed.bare.len(), 2, "{parsed:?}");
        assert_eq!(parsed.named.len(), 2, "{parsed:?}");
        for queryid in [1, 2] {
            assert!(parsed.contains(&(10, queryid)));
            assert!(parsed.get(&(10, queryid)).is_none());
        }
        assert!(matches!(parsed.get(&(10, 3)), Some(Ok(p)) if p.reads.len() == 1));
        assert!(matches!(parsed.get(&(10, 4)), Some(Err(_))));

        // The next read no longer has the lock and the SELECT: both are forgotten, and what
        // is still there is not parsed again (no resolver is needed for it).
        parsed.parse_new(&reading(&[set, broken]), None);
        assert!(!parsed.contains(&(10, 1)) && !parsed.contains(&(10, 3)));
        assert!(parsed.contains(&(10, 2)) && parsed.contains(&(10, 4)));
    }

    #[test]
    fn a_statement_run_at_both_levels_is_held_once() {
        // pg_stat_statements.track = all: the same statement run at top level and inside a
        // function is two entries of the view with one (userid, queryid).
        let mut parsed = Parsed::default();
        parsed.parse_new(
            &reading_at_levels(&[
                (1, "LOCK TABLE s1.t1 IN ACCESS SHARE MODE", true),
                (1, "LOCK TABLE s1.t1 IN ACCESS SHARE MODE", false),
                (2, "INSERT INTO public.a SELECT * FROM public.b", false),
                (2, "INSERT INTO public.a SELECT * FROM public.b", true),
            ]),
            Some(&Resolver::without_catalog()),
        );
        assert_eq!(parsed.bare, [(10, 1)], "{parsed:?}");
        assert_eq!(parsed.named.len(), 1, "{parsed:?}");
        assert_eq!(parsed.lineages().count(), 1);

        // Seen again at one level only, it stays held, and once.
        parsed.parse_new(
            &reading_at_levels(&[(1, "LOCK TABLE s1.t1 IN ACCESS SHARE MODE", false)]),
            None,
        );
        assert_eq!(parsed.bare, [(10, 1)], "{parsed:?}");
        assert!(parsed.named.is_empty(), "{parsed:?}");
    }

    #[test]
    fn a_parsed_statement_keeps_what_it_reads_and_writes() {
        let lineage = analyze(
            "INSERT INTO public.a SELECT * FROM public.b JOIN public.c USING (id)",
            &Resolver::without_catalog(),
        )
        .expect("parses");
        let p = ParsedStatement::new(lineage);
        let names = |t: &[TableName]| t.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&p.reads), ["b", "c"]);
        assert_eq!(names(&p.writes), ["a"]);
    }
}
