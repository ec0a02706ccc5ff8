//! Table-driven lineage cases: `cases.sql` holds each statement with the lineage expected
//! from it, written by hand for this project (see the file's header for the format).

use super::*;

/// The catalog the cases resolve against (search_path: public).
fn fixture() -> Resolver {
    const RELATIONS: &[(&str, &str, &[&str])] = &[
        (
            "public",
            "customers",
            &["id", "name", "email", "created_at"],
        ),
        (
            "public",
            "orders",
            &["id", "customer_id", "amount", "status", "ordered_at"],
        ),
        (
            "public",
            "order_items",
            &["order_id", "product_id", "qty", "price"],
        ),
        ("public", "products", &["id", "name", "category", "price"]),
        (
            "public",
            "payments",
            &["id", "order_id", "amount", "paid_at"],
        ),
        (
            "public",
            "employees",
            &["id", "manager_id", "name", "dept_id"],
        ),
        ("public", "depts", &["id", "name"]),
        ("public", "events", &["id", "kind", "payload", "at"]),
        ("public", "audit_log", &["id", "tbl", "op", "at"]),
        ("public", "t1", &["a", "b", "c"]),
        ("public", "t2", &["a", "b", "c"]),
        ("public", "t3", &["x", "y"]),
        ("sales", "orders", &["id", "customer_id", "total", "region"]),
        ("sales", "daily", &["day", "region", "total"]),
        ("sales", "targets", &["region", "goal"]),
        ("sales", "summary", &["region", "total", "orders"]),
        ("analytics", "customer_ltv", &["customer_id", "ltv"]),
        (
            "analytics",
            "order_facts",
            &["order_id", "customer_id", "amount", "day"],
        ),
        ("analytics", "stage", &["id", "val"]),
        ("Odd Schema", "Mixed Case", &["Id", "Value Col", "ü"]),
        ("public", "ünïcode", &["naïve", "id"]),
    ];
    Resolver::from_relations("shop", &["public"], RELATIONS.iter().copied())
}

#[derive(Debug, Default)]
struct Case {
    title: String,
    sql: String,
    no_catalog: bool,
    expect_error: bool,
    kind: Option<String>,
    sources: Option<Vec<String>>,
    targets: Option<Vec<String>>,
    columns: Option<Vec<String>>,
    unresolved: Option<Vec<String>>,
    renames: Option<Vec<String>>,
    assumed: Option<Vec<String>>,
}

fn list(value: &str) -> Vec<String> {
    let mut v: Vec<String> = value
        .split(" | ")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-")
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("-- case: ") {
            cases.extend(current.take());
            current = Some(Case {
                title: title.to_owned(),
                ..Case::default()
            });
            continue;
        }
        let Some(case) = current.as_mut() else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("-- ") {
            let (key, value) = rest.split_once(':').unwrap_or((rest, ""));
            match key {
                "no catalog" => case.no_catalog = true,
                "error" => case.expect_error = true,
                "kind" => case.kind = Some(value.trim().to_owned()),
                "sources" => case.sources = Some(list(value)),
                "targets" => case.targets = Some(list(value)),
                "columns" => case.columns = Some(list(value)),
                "unresolved" => case.unresolved = Some(list(value)),
                "renames" => case.renames = Some(list(value)),
                "assumed" => case.assumed = Some(list(value)),
                _ => panic!("case {:?}: unknown key {key:?}", case.title),
            }
        } else if !line.trim().is_empty() {
            case.sql.push_str(line);
            case.sql.push('\n');
        }
    }
    cases.extend(current);
    cases
}

fn strings<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().map(|x| x.to_string()).collect();
    v.sort();
    v
}

/// Runs every case; returns the failures as readable text.
fn run_cases(cases: &[Case]) -> Vec<String> {
    let with_catalog = fixture();
    let without = Resolver::without_catalog();
    let mut failures = Vec::new();
    for case in cases {
        let resolver = if case.no_catalog {
            &without
        } else {
            &with_catalog
        };
        let mut session = Session::new(resolver);
        let mut merged = StatementLineage::default();
        let mut error = None;
        for sql in split::split_statements(&case.sql) {
            match session.analyze(&sql) {
                Ok(l) => {
                    merged.kind = l.kind;
                    merged.absorb(l);
                }
                Err(e) => error = Some(e),
            }
        }
        let mut problems = Vec::new();
        if case.expect_error != error.is_some() {
            problems.push(format!(
                "error: expected {}, got {error:?}",
                case.expect_error
            ));
        }
        let mut check = |what: &str, expected: &Option<Vec<String>>, got: Vec<String>| {
            if let Some(expected) = expected {
                if *expected != got {
                    problems.push(format!(
                        "{what}:\n    expected {expected:?}\n    got      {got:?}"
                    ));
                }
            }
        };
        check("sources", &case.sources, strings(&merged.sources));
        check("targets", &case.targets, strings(&merged.targets));
        check(
            "columns",
            &case.columns,
            strings(
                merged
                    .column_lineage
                    .iter()
                    .map(|(f, t)| format!("{f} > {t}")),
            ),
        );
        check("unresolved", &case.unresolved, strings(&merged.unresolved));
        check("assumed", &case.assumed, strings(&merged.assumed_columns));
        check(
            "renames",
            &case.renames,
            strings(merged.renames.iter().map(|(f, t)| format!("{f} > {t}"))),
        );
        if let Some(kind) = &case.kind {
            if kind != merged.kind {
                problems.push(format!("kind: expected {kind}, got {}", merged.kind));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "case {:?}:\n  {}",
                case.title,
                problems.join("\n  ")
            ));
        }
    }
    failures
}

#[test]
fn lineage_cases() {
    let cases = parse_cases(include_str!("cases.sql"));
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let failures = run_cases(&cases);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn a_wrong_expectation_fails() {
    // The case runner itself must be able to fail.
    let cases = parse_cases(
        "-- case: wrong on purpose\nINSERT INTO t1 SELECT * FROM t2;\n-- sources: public.t3\n",
    );
    assert_eq!(run_cases(&cases).len(), 1);
}

#[test]
fn routine_bodies_give_lineage_per_statement() {
    let resolver = fixture();
    let body = "
BEGIN
  CREATE TEMP TABLE recent AS SELECT id, amount FROM orders WHERE ordered_at > now() - interval '1 day';
  INSERT INTO analytics.order_facts (order_id, amount) SELECT id, amount FROM recent;
  UPDATE sales.summary s SET total = d.total FROM sales.daily d WHERE d.region = s.region;
  EXECUTE format('TRUNCATE %I', 'x');
END";
    let r = routine_lineage("plpgsql", body, &resolver);
    assert_eq!(r.dynamic, 1);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let edges: Vec<String> = r
        .statements
        .iter()
        .flat_map(|(_, s)| s.table_edges().map(|(a, b)| format!("{a} > {b}")))
        .collect();
    assert_eq!(
        edges,
        vec![
            "public.orders > analytics.order_facts",
            "sales.daily > sales.summary"
        ]
    );
    let cols: Vec<String> = r
        .statements
        .iter()
        .flat_map(|(_, s)| s.column_lineage.iter().map(|(a, b)| format!("{a} > {b}")))
        .collect();
    assert_eq!(
        cols,
        vec![
            "public.orders.amount > analytics.order_facts.amount",
            "public.orders.id > analytics.order_facts.order_id",
            "sales.daily.total > sales.summary.total"
        ]
    );
}

#[test]
fn sql_function_bodies_and_unknown_languages() {
    let resolver = fixture();
    let r = routine_lineage(
        "sql",
        "INSERT INTO sales.daily SELECT current_date, region, sum(total) FROM sales.orders GROUP BY region; SELECT 1",
        &resolver,
    );
    assert_eq!(r.statements.len(), 2);
    assert_eq!(r.statements[0].1.table_edges().count(), 1);
    assert!(
        routine_lineage("c", "whatever", &resolver)
            .statements
            .is_empty()
    );
    let broken = routine_lineage("sql", "INSERT INTO (", &resolver);
    assert_eq!(broken.errors.len(), 1);
}
