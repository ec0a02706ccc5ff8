//! The same database, two ways, into one pgmeta-catalog: OpenMetadata's own Postgres connector
//! (`metadata ingest`, lineage and usage workflows) as service `om`, and pgmeta (capture ->
//! broker -> apply) as service `svc`. Every table is compared field by field; the test fails on
//! any difference that is not in `DELIBERATE`, each with its reason.

use crate::apply::{Pipeline, TOKEN, bookshop_sql};
use crate::common::poll_ok;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every table of a service, by `schema.table`, with all fields.
async fn tables_of(p: &Pipeline, service: &str) -> BTreeMap<String, Value> {
    entities_of(p, "tables", service).await
}

/// Every live entity of `collection` under a service, with all fields, by its name within
/// the database: `schema.name` (a routine's without its argument types: the connector names
/// routines without them), `schema`, or the database's name.
async fn entities_of(p: &Pipeline, collection: &str, service: &str) -> BTreeMap<String, Value> {
    let (status, page) = p
        .get(&format!("{collection}?service={service}&limit=10000"))
        .await;
    assert_eq!(status, 200, "{collection} of {service}: {page}");
    let mut out = BTreeMap::new();
    for t in page["data"].as_array().into_iter().flatten() {
        let Some(fqn) = t["fullyQualifiedName"].as_str() else {
            continue;
        };
        let (_, full) = p
            .get(&format!(
                "{collection}/name/{}?fields=*",
                pgmeta::apply::encode_path(fqn)
            ))
            .await;
        let name = full["name"].as_str().unwrap_or_default();
        let name = name.split('(').next().unwrap_or(name);
        let key = match full["databaseSchema"]["name"].as_str() {
            Some(schema) => format!("{schema}.{name}"),
            None => name.to_owned(),
        };
        out.insert(key, full);
    }
    out
}

/// `schema.table[.column]` of an FQN of this service and database (`svc.db.s.t[.c]`).
fn local(fqn: &str) -> String {
    fqn.splitn(3, '.').nth(2).unwrap_or(fqn).to_owned()
}

/// The lineage into each table of a service, as `from -> to` lines: one per edge and one per
/// column pair of its column lineage.
async fn lineage_of(p: &Pipeline, tables: &BTreeMap<String, Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (name, t) in tables {
        let Some(fqn) = t["fullyQualifiedName"].as_str() else {
            continue;
        };
        let (_, g) = p
            .get(&format!(
                "lineage/table/name/{}?upstreamDepth=1&downstreamDepth=0",
                pgmeta::apply::encode_path(fqn)
            ))
            .await;
        let nodes: BTreeMap<&str, String> = g["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n["id"].as_str()?, local(n["fullyQualifiedName"].as_str()?))))
            .collect();
        let tag = kind_tag(t);
        for e in g["upstreamEdges"].as_array().into_iter().flatten() {
            let Some(from) = e["fromEntity"].as_str().and_then(|id| nodes.get(id)) else {
                continue;
            };
            out.insert(format!("lineage {from} -> {name}{tag}"));
            let pairs = e["lineageDetails"]["columnsLineage"]
                .as_array()
                .into_iter()
                .flatten();
            for c in pairs {
                let to = c["toColumn"].as_str().map(local).unwrap_or_default();
                for f in c["fromColumns"].as_array().into_iter().flatten() {
                    let from = f.as_str().map(local).unwrap_or_default();
                    out.insert(format!("lineage {from} -> {to}{tag}"));
                }
            }
        }
    }
    out
}

/// A difference pgmeta makes on purpose: which differences it covers, and why.
struct Deliberate {
    covers: fn(&str) -> bool,
    reason: &'static str,
}

/// The differences between OpenMetadata's connector and pgmeta that are deliberate (the
/// README's comparison table says the same). Any other difference fails the test.
const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        covers: |d| {
            d.ends_with(": only in om")
                && d.split_whitespace()
                    .any(|w| w.starts_with("information_schema"))
        },
        reason: "PostgreSQL's own schemas (information_schema, pg_catalog) are not the database's data: pgmeta never captures them; the connector ingests information_schema unless a filter excludes it",
    },
    Deliberate {
        covers: |d| d.contains("public.pg_stat_statements") && d.ends_with(": only in om"),
        reason: "objects an extension owns (pg_depend 'e') belong to the extension, not to the schema: pgmeta leaves them out",
    },
    Deliberate {
        covers: |d| d.ends_with(": only in pgmeta (partition)"),
        reason: "partitions: the connector lists only tables that are not partitions; pgmeta captures each partition (its bounds in the DDL, its parent's tablePartition)",
    },
    Deliberate {
        covers: |d| d.ends_with(": only in pgmeta (materialized view)"),
        reason: "materialized views: the connector does not list them; pgmeta captures them as tableType MaterializedView with their definition and lineage",
    },
    Deliberate {
        covers: |d| {
            d.starts_with("lineage ") && d.ends_with(" (materialized view): only in pgmeta")
        },
        reason: "a materialized view's lineage: the connector has no materialized views",
    },
    Deliberate {
        covers: |d| d.contains(".schemaDefinition: om=absent pgmeta=\"CREATE TABLE"),
        reason: "pgmeta gives every table its DDL; the connector only with includeDDL",
    },
    Deliberate {
        covers: |d| d.contains(".dataLength: om=1 pgmeta=absent"),
        reason: "OpenMetadata's schema defines dataLength for char, varchar, binary and varbinary; the connector writes 1 for every other type, pgmeta leaves it out",
    },
    Deliberate {
        covers: |d| d.contains(".ordinalPosition: om=absent pgmeta="),
        reason: "pgmeta fills ordinalPosition (pg_attribute.attnum); the connector leaves it empty",
    },
    Deliberate {
        covers: |d| {
            d.contains(".dataType: om=\"VARCHAR\" pgmeta=\"ENUM\"")
                || (d.contains(".dataLength: om=") && d.ends_with(" pgmeta=absent [ENUM]"))
        },
        reason: "an enum column is ENUM (OpenMetadata has the type); the connector reads it as a VARCHAR as long as its longest label",
    },
    Deliberate {
        covers: |d| d.contains(".dataType: om=\"NULL\" pgmeta="),
        reason: "a column of a domain type: pgmeta maps the domain's base type; the connector cannot resolve a domain and writes NULL",
    },
    Deliberate {
        covers: |d| d.contains(".dataType: om=\"TIMESTAMP\" pgmeta=\"TIMESTAMPZ\""),
        reason: "timestamp with time zone is TIMESTAMPZ (OpenMetadata has the type); the connector writes TIMESTAMP and loses the time zone",
    },
    Deliberate {
        covers: |d| {
            d.contains(".tableConstraints: ")
                && d.contains("\"FOREIGN_KEY\"")
                && ((d.ends_with(" only in om") && d.contains("\"MANY_TO_MANY\""))
                    || (d.ends_with(" only in pgmeta") && d.contains("\"MANY_TO_ONE\"")))
        },
        reason: "a foreign key's relationshipType: PostgreSQL requires the referred columns to be a primary or unique key, so it is MANY_TO_ONE (ONE_TO_ONE when its own columns are a key too); the connector checks uniqueness one column at a time and says MANY_TO_MANY for a key of several columns",
    },
    Deliberate {
        covers: |d| d.contains(".tableConstraints: ") && d.ends_with(" only in pgmeta"),
        reason: "constraints of a table with a foreign key to a table the connector ingests after it: the connector adds such keys at the end by a PATCH made from the table read without fields=tableConstraints (which pgmeta-catalog returns only when asked), so the PATCH replaces all of the table's constraints, its primary key and earlier foreign keys included, and only the last foreign key stays; pgmeta sends every constraint with its table (the apply tests check them against pg_constraint)",
    },
    Deliberate {
        covers: |d| {
            d.starts_with("lineage ")
                && d.contains("-> reporting.author_revenue")
                && d.ends_with(": only in pgmeta")
        },
        reason: "lineage from a procedure's body (reporting.load_author_revenue inserts into author_revenue): pgmeta parses routine bodies; the connector sees only the CALL in the query log",
    },
    Deliberate {
        covers: |d| d.contains(".usage: om="),
        reason: "usage: pgmeta counts the calls since its first reading of pg_stat_statements, interval by interval; pg_stat_statements keeps no time, so the connector counts every statement it holds at each run, the schema's own DDL and loads included",
    },
    Deliberate {
        covers: |d| {
            let text = d.strip_prefix("query ").unwrap_or_default();
            d.ends_with(": only in om")
                && ["CREATE ", "ALTER ", "COMMENT ", "DROP ", "INSERT INTO "]
                    .iter()
                    .any(|s| text.starts_with(s))
                && (!text.starts_with("INSERT INTO ") || text.contains(" VALUES ("))
        },
        reason: "queries: pgmeta makes no Query of a DDL statement (what it defines is the entity itself: its schemaDefinition, columns and lineage), and its queries begin at its first reading of pg_stat_statements; the connector makes a Query of every statement pg_stat_statements holds that names a table, the schema's DDL and its load (INSERT … VALUES) included",
    },
    Deliberate {
        covers: |d| d.starts_with("query ") && d.contains(": pgmeta also used in "),
        reason: "queries: pgmeta links a statement to every table it reads or writes (both tables of a join, a CREATE TABLE AS's source and target); the connector links it to one of them",
    },
    Deliberate {
        covers: |d| d.ends_with(".storedProcedureCode.language: om=absent pgmeta=\"SQL\""),
        reason: "stored procedures: pgmeta says each routine's language (OpenMetadata's SQL, Python, JavaScript or External, from pg_proc.prolang); the connector leaves it out",
    },
];

/// The demo's differences on PostgreSQL 14 and later.
const SQL_BODY_DELIBERATE: &[Deliberate] = &[Deliberate {
    covers: |d| d.contains(".storedProcedureCode.code: om=\"\" pgmeta=\"BEGIN ATOMIC"),
    reason: "stored procedures: a SQL-standard body (BEGIN ATOMIC, PostgreSQL 14) is not in pg_proc.prosrc; pgmeta reads it with pg_get_function_sqlbody, the connector reads prosrc and stores an empty body",
}];

/// The demo's differences before PostgreSQL 16, whose pg_stat_statements keeps the constants
/// of utility statements (`CREATE TABLE … AS … LIMIT 10`).
const UTILITY_CONSTANTS_DELIBERATE: &[Deliberate] = &[Deliberate {
    covers: |d| d.starts_with("query ") && d.ends_with(" (used in {}): only in om"),
    reason: "queries: the connector also stores a statement's unmasked text, used in no table, beside the masked one; pgmeta stores each statement once, its literals masked",
}];

/// The fields compared, per table and per column.
const TABLE_FIELDS: [&str; 6] = [
    "tableType",
    "description",
    "tableConstraints",
    "tablePartition",
    "schemaDefinition",
    "owners",
];
const COLUMN_FIELDS: [&str; 9] = [
    "dataType",
    "dataLength",
    "precision",
    "scale",
    "arrayDataType",
    "dataTypeDisplay",
    "constraint",
    "ordinalPosition",
    "description",
];

/// FQNs inside a value name the service: `om.db.s.t` and `svc.db.s.t` compare equal.
fn unservice(v: &Value, service: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace(&format!("{service}."), "<service>.")),
        Value::Array(items) => Value::Array(items.iter().map(|i| unservice(i, service)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), unservice(v, service)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every difference between the two services' tables, as `where: om=… pgmeta=…`.
fn differences(om: &BTreeMap<String, Value>, pgmeta: &BTreeMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for name in om.keys().filter(|k| !pgmeta.contains_key(*k)) {
        out.push(format!("{name}: only in om"));
    }
    for (name, t) in pgmeta.iter().filter(|(k, _)| !om.contains_key(*k)) {
        out.push(format!("{name}: only in pgmeta{}", kind_tag(t)));
    }
    for (name, o) in om {
        let Some(g) = pgmeta.get(name) else { continue };
        let (o, g) = (unservice(o, "om"), unservice(g, "svc"));
        // Table constraints one by one: each only on one side is its own difference.
        let constraints = |t: &Value| -> BTreeSet<String> {
            t["tableConstraints"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string)
                .collect()
        };
        let (ok, gk) = (constraints(&o), constraints(&g));
        for k in ok.difference(&gk) {
            out.push(format!("{name}.tableConstraints: {k} only in om"));
        }
        for k in gk.difference(&ok) {
            out.push(format!("{name}.tableConstraints: {k} only in pgmeta"));
        }
        for f in TABLE_FIELDS.iter().filter(|f| **f != "tableConstraints") {
            let f = *f;
            if sorted(o.get(f)) != sorted(g.get(f)) {
                out.push(format!(
                    "{name}.{f}: om={} pgmeta={}",
                    show(o.get(f)),
                    show(g.get(f))
                ));
            }
        }
        let day_count = |t: &Value| t["usageSummary"]["dailyStats"]["count"].as_i64();
        if day_count(&o) != day_count(&g) {
            out.push(format!(
                "{name}.usage: om={:?} pgmeta={:?}",
                day_count(&o),
                day_count(&g)
            ));
        }
        let columns = |t: &Value| -> BTreeMap<String, Value> {
            t["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["name"].as_str()?.to_owned(), c.clone())))
                .collect()
        };
        let (oc, gc) = (columns(&o), columns(&g));
        for c in oc.keys().filter(|c| !gc.contains_key(*c)) {
            out.push(format!("{name}.{c}: column only in om"));
        }
        for c in gc.keys().filter(|c| !oc.contains_key(*c)) {
            out.push(format!("{name}.{c}: column only in pgmeta"));
        }
        for (c, ocol) in &oc {
            let Some(gcol) = gc.get(c) else { continue };
            for f in COLUMN_FIELDS {
                if ocol.get(f) != gcol.get(f) {
                    out.push(format!(
                        "{name}.{c}.{f}: om={} pgmeta={} [{}]",
                        show(ocol.get(f)),
                        show(gcol.get(f)),
                        gcol["dataType"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    out
}

/// What kind of table it is, when the connector has no such kind: a partition (its DDL says
/// `PARTITION OF`) or a materialized view.
fn kind_tag(t: &Value) -> &'static str {
    if t["tableType"] == "MaterializedView" {
        " (materialized view)"
    } else if t["schemaDefinition"]
        .as_str()
        .is_some_and(|d| d.contains(" PARTITION OF "))
    {
        " (partition)"
    } else {
        ""
    }
}

/// Arrays in a canonical order (table constraints come in no particular order).
fn sorted(v: Option<&Value>) -> Option<Value> {
    v.map(|v| match v {
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(Value::to_string);
            Value::Array(items)
        }
        other => other.clone(),
    })
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "absent".to_owned(), Value::to_string)
}

/// A difference as the failure message shows it: at most 400 characters.
fn short(d: &str) -> String {
    d.chars().take(400).collect()
}

/// Ingests the test database both ways into one catalog: pgmeta (its usage baseline read,
/// then `workload` run, then polled and applied) as `svc`, OpenMetadata's workflows as `om`.
/// Returns both services' tables and every difference between them.
async fn both_ways(
    p: &mut Pipeline,
    cli: &std::path::Path,
    workload: &[std::path::PathBuf],
) -> (
    BTreeMap<String, Value>,
    BTreeMap<String, Value>,
    Vec<String>,
) {
    // pgmeta: capture -> broker -> apply, as service svc. Its usage counts what ran since
    // its first reading of pg_stat_statements, so that reading comes before the workload.
    let mut capture = p.env.capture().await;
    poll_ok(&mut capture).await;
    for (db, result) in capture.poll_usage_once().await {
        result.unwrap_or_else(|e| panic!("usage baseline of {db}: {e}"));
    }
    for file in workload {
        p.env.cluster.psql_file(&p.env.db, file);
    }
    poll_ok(&mut capture).await;
    for (db, result) in capture.poll_usage_once().await {
        result.unwrap_or_else(|e| panic!("usage poll of {db}: {e}"));
    }
    p.start_apply();
    p.wait_for_every_relation(Duration::from_secs(120)).await;

    // OpenMetadata's connector, as service om.
    crate::conformance::run_openmetadata_workflows(
        &cli.to_path_buf(),
        &p.env,
        &p.catalog.api(),
        TOKEN,
        "om",
    );

    let om = tables_of(p, "om").await;
    let pgmeta = tables_of(p, "svc").await;
    let mut found = differences(&om, &pgmeta);
    let (om_lineage, pgmeta_lineage) = (lineage_of(p, &om).await, lineage_of(p, &pgmeta).await);
    found.extend(
        om_lineage
            .difference(&pgmeta_lineage)
            .map(|l| format!("{l}: only in om")),
    );
    found.extend(
        pgmeta_lineage
            .difference(&om_lineage)
            .map(|l| format!("{l}: only in pgmeta")),
    );
    for (collection, fields) in OTHER_ENTITIES {
        let (o, g) = (
            entities_of(p, collection, "om").await,
            entities_of(p, collection, "svc").await,
        );
        found.extend(entity_differences(collection, &o, &g, fields));
    }
    let (o, g) = (queries_of(p, "om").await, queries_of(p, "svc").await);
    found.extend(query_differences(&o, &g));
    if std::env::var_os("PGMETA_EQUIVALENCE_DUMP").is_some() {
        for d in &found {
            eprintln!("DIFF {}", short(d));
        }
    }
    (om, pgmeta, found)
}

/// The entities besides tables, and the fields compared on each (JSON pointers).
const OTHER_ENTITIES: [(&str, &[&str]); 3] = [
    ("databases", &["/description", "/owners"]),
    ("databaseSchemas", &["/description", "/owners"]),
    (
        "storedProcedures",
        &[
            "/description",
            "/owners",
            "/storedProcedureType",
            "/storedProcedureCode/code",
            "/storedProcedureCode/language",
        ],
    ),
];

/// Every difference between two services' entities of `collection`, as
/// `collection name[.field]: …`.
fn entity_differences(
    collection: &str,
    om: &BTreeMap<String, Value>,
    pgmeta: &BTreeMap<String, Value>,
    fields: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for name in om.keys().filter(|k| !pgmeta.contains_key(*k)) {
        out.push(format!("{collection} {name}: only in om"));
    }
    for name in pgmeta.keys().filter(|k| !om.contains_key(*k)) {
        out.push(format!("{collection} {name}: only in pgmeta"));
    }
    for (name, o) in om {
        let Some(g) = pgmeta.get(name) else { continue };
        let (o, g) = (unservice(o, "om"), unservice(g, "svc"));
        for f in fields {
            if sorted(o.pointer(f)) != sorted(g.pointer(f)) {
                out.push(format!(
                    "{collection} {name}{}: om={} pgmeta={}",
                    f.replace('/', "."),
                    show(o.pointer(f)),
                    show(g.pointer(f))
                ));
            }
        }
    }
    out
}

/// The queries of a service: text (runs of whitespace as one space) -> the tables it was used
/// in (`schema.table`). A text stored twice (masked and not) keeps the tables of both.
async fn queries_of(p: &Pipeline, service: &str) -> BTreeMap<String, BTreeSet<String>> {
    let (status, page) = p
        .get(&format!(
            "queries?service={service}&limit=10000&fields=queryUsedIn"
        ))
        .await;
    assert_eq!(status, 200, "queries of {service}: {page}");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for q in page["data"].as_array().into_iter().flatten() {
        let text = q["query"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        out.entry(text).or_default().extend(
            q["queryUsedIn"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["fullyQualifiedName"].as_str().map(local)),
        );
    }
    out
}

/// Queries only one side has, and the tables a query was used in where they differ.
fn query_differences(
    om: &BTreeMap<String, BTreeSet<String>>,
    pgmeta: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (text, used) in om {
        match pgmeta.get(text) {
            None => out.push(format!("query {text} (used in {used:?}): only in om")),
            Some(g) if g.is_superset(used) && g != used => out.push(format!(
                "query {text}: pgmeta also used in {:?} (om {used:?})",
                g.difference(used).collect::<Vec<_>>()
            )),
            Some(g) if g != used => {
                out.push(format!("query {text}: used in om={used:?} pgmeta={g:?}"))
            }
            Some(_) => {}
        }
    }
    for (text, used) in pgmeta.iter().filter(|(t, _)| !om.contains_key(*t)) {
        out.push(format!("query {text} (used in {used:?}): only in pgmeta"));
    }
    out
}

/// Fails on a difference that no entry of `shared` or `own` covers, and on an entry of `own`
/// that covers none (a stale entry would hide nothing).
fn assert_deliberate(found: &[String], shared: &[&[Deliberate]], own: &[&[Deliberate]]) {
    let shared = shared.iter().copied().flatten();
    let own: Vec<&Deliberate> = own.iter().copied().flatten().collect();
    let all: Vec<&Deliberate> = shared.chain(own.iter().copied()).collect();
    let unexplained: Vec<String> = found
        .iter()
        .filter(|d| !all.iter().any(|k| (k.covers)(d)))
        .map(|d| short(d))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} differences that are not deliberate:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    for k in own {
        assert!(
            found.iter().any(|d| (k.covers)(d)),
            "no longer a difference: {}",
            k.reason
        );
    }
}

#[tokio::test]
async fn pgmeta_writes_what_openmetadatas_own_connector_writes() {
    let test = "pgmeta_writes_what_openmetadatas_own_connector_writes";
    let Some(cli) = crate::conformance::openmetadata_cli_or_skip(test) else {
        return;
    };
    let mut p = Pipeline::new("equiv").await;
    p.env
        .sql(&bookshop_sql(p.env.cluster.major_version()))
        .await;
    let demo = pgmeta::testkit::project_dir().join("demo");
    let (_, pgmeta, found) = both_ways(
        &mut p,
        &cli,
        &[demo.join("changes.sql"), demo.join("workload.sql")],
    )
    .await;
    // A SQL-standard body exists from PostgreSQL 14 (`bookshop_sql` rewrites it before).
    // pg_stat_statements masks the constants of utility statements from 16.
    let major = p.env.cluster.major_version();
    let (mut shared, mut own) = (vec![], vec![DELIBERATE]);
    for (list, applies) in [
        (SQL_BODY_DELIBERATE, major >= 14),
        (UTILITY_CONSTANTS_DELIBERATE, major < 16),
    ] {
        if applies {
            own.push(list)
        } else {
            shared.push(list)
        }
    }
    assert_deliberate(&found, &shared, &own);
    // pgmeta's day counts are the workload's calls: two reads of books by format and two
    // joins of books and authors; one read of the view and the CTAS that reads it.
    for (table, calls) in [
        ("catalog.books", 4),
        ("catalog.authors", 2),
        ("reporting.book_sales", 2),
    ] {
        assert_eq!(
            pgmeta[table]["usageSummary"]["dailyStats"]["count"].as_i64(),
            Some(calls),
            "{table}'s usage in pgmeta"
        );
    }

    // Dropped at the source: the connector's next run deletes what it no longer lists (its
    // mark-deleted step, through the listing and DELETE routes), pgmeta's capture sends DELETE.
    p.env
        .sql("DROP TABLE reporting.top_books; DROP PROCEDURE reporting.load_author_revenue()")
        .await;
    crate::conformance::run_openmetadata_metadata_workflow(
        &cli,
        &p.env,
        &p.catalog.api(),
        TOKEN,
        "om",
    );
    poll_ok(&mut p.env.capture().await).await;
    let gone = |tables: &BTreeMap<String, Value>, procedures: &BTreeMap<String, Value>| {
        !tables.contains_key("reporting.top_books")
            && !procedures.contains_key("reporting.load_author_revenue")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for service in ["om", "svc"] {
        loop {
            let (t, r) = (
                tables_of(&p, service).await,
                entities_of(&p, "storedProcedures", service).await,
            );
            if gone(&t, &r) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{service} still lists the dropped table or procedure: {:?} {:?}",
                t.keys().collect::<Vec<_>>(),
                r.keys().collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The differences pagila shows beyond the demo database's kinds (its own types and objects).
const PAGILA_DELIBERATE: &[Deliberate] = &[
    Deliberate {
        covers: |d| d.starts_with("lineage ") && d.contains("-> public.actor_info.film_info"),
        reason: "column lineage through a scalar subquery (actor_info.film_info): pgmeta's sources are the columns whose values reach the output (film.title, category.name); the connector also lists the columns the subquery joins and filters on, and misses film.title",
    },
    Deliberate {
        covers: |d| d == "storedProcedures public.group_concat: only in pgmeta",
        reason: "aggregates (CREATE AGGREGATE group_concat): pgmeta captures them as functions (pg_proc.prokind 'a'); the connector lists functions and procedures only",
    },
];

#[tokio::test]
async fn on_pagila_pgmeta_writes_what_openmetadatas_own_connector_writes() {
    let test = "on_pagila_pgmeta_writes_what_openmetadatas_own_connector_writes";
    let Some(cli) = crate::conformance::openmetadata_cli_or_skip(test) else {
        return;
    };
    let Some(corpus) = crate::pagila::corpus_dir() else {
        pgmeta::testkit::skip(
            test,
            pgmeta::testkit::Missing::Corpus,
            "../shared/corpus not found (set PGMETA_CORPUS)",
        );
        return;
    };
    let mut p = Pipeline::new("equiv_pagila").await;
    p.env
        .cluster
        .psql_file(&p.env.db, &corpus.join("pagila/pagila-schema.sql"));
    let (_, _, found) = both_ways(&mut p, &cli, &[]).await;
    assert_deliberate(
        &found,
        &[
            DELIBERATE,
            SQL_BODY_DELIBERATE,
            UTILITY_CONSTANTS_DELIBERATE,
        ],
        &[PAGILA_DELIBERATE],
    );
}

/// The type mapping's differences beyond the demo database's.
const TYPE_DELIBERATE: &[Deliberate] = &[
    Deliberate {
        covers: |d| {
            d == "public.every_type.c_oid.dataType: om=\"UNKNOWN\" pgmeta=\"BIGINT\" [BIGINT]"
        },
        reason: "oid, an unsigned 32-bit integer, is BIGINT; the connector does not know the type",
    },
    Deliberate {
        covers: |d| {
            d == "public.every_type.c_point.dataType: om=\"GEOMETRY\" pgmeta=\"POINT\" [POINT]"
        },
        reason: "point is POINT (OpenMetadata has the type); the connector maps every geometric type to GEOMETRY",
    },
];

/// One column of each PostgreSQL type family, for the type mapping.
const TYPE_FAMILIES: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE every_type (
    c_smallint smallint, c_integer integer, c_bigint bigint, c_numeric numeric(10,2),
    c_numeric_plain numeric, c_real real, c_double double precision, c_money money,
    c_boolean boolean, c_char char(3), c_varchar varchar(20), c_varchar_plain varchar,
    c_text text, c_bytea bytea, c_date date, c_time time, c_timetz timetz,
    c_timestamp timestamp, c_timestamptz timestamptz, c_interval interval, c_uuid uuid,
    c_json json, c_jsonb jsonb, c_xml xml, c_inet inet, c_cidr cidr, c_macaddr macaddr,
    c_bit bit(3), c_varbit varbit(8), c_tsvector tsvector, c_int4range int4range,
    c_point point, c_int_array integer[], c_text_array text[], c_enum mood,
    c_domain positive, c_composite pair, c_oid oid, c_serial serial
);
";

#[tokio::test]
async fn on_every_type_family_pgmeta_writes_what_openmetadatas_own_connector_writes() {
    let test = "on_every_type_family_pgmeta_writes_what_openmetadatas_own_connector_writes";
    let Some(cli) = crate::conformance::openmetadata_cli_or_skip(test) else {
        return;
    };
    let mut p = Pipeline::new("equiv_types").await;
    p.env.sql(TYPE_FAMILIES).await;
    let (_, _, found) = both_ways(&mut p, &cli, &[]).await;
    assert_deliberate(
        &found,
        &[
            DELIBERATE,
            SQL_BODY_DELIBERATE,
            UTILITY_CONSTANTS_DELIBERATE,
        ],
        &[TYPE_DELIBERATE],
    );
}
