//! The torture schema (`fixtures/torture.sql`: exclusion constraints on expressions and
//! ranges, inheritance, typed and zero-column tables, multi-level partitions with an FK to a
//! partitioned table, keyword and unicode names, routines of every shape, recursive and
//! check-option views, a materialized view WITH NO DATA) and pagila:
//! 1. captured completely, each relation compared with independent catalog queries;
//! 2. every emitted table and view DDL replays on an empty database, and a capture of that
//!    database equals the first, DDL text included.

use crate::common::{TestEnv, poll_ok};
use pgmeta::event::MetadataEvent;
use pgmeta::model::{Table, TableType};
use std::collections::{BTreeMap, BTreeSet};

const TORTURE: &str = include_str!("fixtures/torture.sql");

/// The torture schema, with the parts newer servers add.
pub(crate) fn torture_sql(major: u32) -> String {
    let mut sql = TORTURE.to_owned();
    if major >= 14 {
        sql.push_str(
            "CREATE TABLE torture.spans (id int, s int4multirange, f torture.floatmultirange);\n",
        );
        sql = sql.replace(
            "CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);",
            "CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8mi, multirange_type_name = floatmultirange);",
        );
    }
    sql
}

async fn captured_tables(env: &TestEnv) -> BTreeMap<(String, String), Table> {
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    env.records()
        .into_iter()
        .filter_map(|r| r.event)
        .filter_map(|e: MetadataEvent| e.table)
        .map(|t| ((t.schema.clone(), t.name.clone()), t))
        .collect()
}

async fn column_list(env: &TestEnv, oid: i64) -> Vec<(String, String)> {
    env.client
        .query(
            "SELECT attname::text, pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute \
             WHERE attrelid = $1::int8::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&oid],
        )
        .await
        .expect("columns")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn names(env: &TestEnv, sql: &str, oid: i64) -> BTreeSet<String> {
    env.client
        .query(sql, &[&oid])
        .await
        .expect(sql)
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Relations, columns, constraints, indexes and routines of the captured snapshot against
/// the server's own catalog, queried independently.
async fn assert_complete(env: &TestEnv, tables: &BTreeMap<(String, String), Table>) {
    let relations: BTreeSet<(String, String)> = env
        .client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'",
            &[],
        )
        .await
        .expect("relations")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let captured: BTreeSet<(String, String)> = tables.keys().cloned().collect();
    assert_eq!(captured, relations, "every relation, nothing else");
    for t in tables.values() {
        let what = format!("{}.{}", t.schema, t.name);
        let columns: Vec<(String, String)> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.to_string()))
            .collect();
        assert_eq!(columns, column_list(env, t.oid).await, "{what}: columns");
        let constraints: BTreeSet<String> = t.constraints.iter().map(|c| c.name.clone()).collect();
        // pg_dump's rule: an FK that references a partitioned table gets internal clones on
        // the referencing table (parent constraint on the same table); they are not shown.
        let want = names(
            env,
            "SELECT conname::text FROM pg_catalog.pg_constraint co WHERE conrelid = $1::int8::oid \
             AND contype IN ('p', 'u', 'f', 'c', 'x') AND NOT (contype = 'f' AND conparentid <> 0 AND EXISTS ( \
               SELECT 1 FROM pg_catalog.pg_constraint pc WHERE pc.oid = co.conparentid AND pc.conrelid = co.conrelid))",
            t.oid,
        )
        .await;
        assert_eq!(constraints, want, "{what}: constraints");
        let indexes: BTreeSet<String> = t.indexes.iter().map(|i| i.name.clone()).collect();
        let want = names(
            env,
            "SELECT c.relname::text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = $1::int8::oid",
            t.oid,
        )
        .await;
        assert_eq!(indexes, want, "{what}: indexes");
        let triggers: BTreeSet<String> = t.triggers.iter().map(|t| t.name.clone()).collect();
        let not_clone = if env.cluster.major_version() >= 13 {
            " AND tgparentid = 0"
        } else {
            ""
        };
        let want = names(
            env,
            &format!(
                "SELECT tgname::text FROM pg_catalog.pg_trigger WHERE tgrelid = $1::int8::oid \
                 AND NOT tgisinternal{not_clone}"
            ),
            t.oid,
        )
        .await;
        assert_eq!(triggers, want, "{what}: triggers");
        let policies: BTreeSet<String> = t.policies.iter().map(|p| p.name.clone()).collect();
        let want = names(
            env,
            "SELECT polname::text FROM pg_catalog.pg_policy WHERE polrelid = $1::int8::oid",
            t.oid,
        )
        .await;
        assert_eq!(policies, want, "{what}: policies");
        let grants: BTreeSet<String> = t
            .privileges
            .iter()
            .flat_map(|g| {
                g.privileges.iter().map(move |p| {
                    let option = if g.grantable.contains(p) { "*" } else { "" };
                    format!("{}:{p}{option}", g.grantee)
                })
            })
            .collect();
        let want = names(
            env,
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE (SELECT rolname::text FROM pg_catalog.pg_roles WHERE oid = a.grantee) END \
                    || ':' || a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END \
             FROM pg_catalog.pg_class c, \
                  pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) a \
             WHERE c.oid = $1::int8::oid",
            t.oid,
        )
        .await;
        assert_eq!(grants, want, "{what}: privileges");
        let rls: bool = env
            .client
            .query_one(
                "SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = $1::int8::oid",
                &[&t.oid],
            )
            .await
            .expect("rls")
            .get(0);
        assert_eq!(t.row_level_security, rls, "{what}: row-level security");
        assert!(t.ddl.is_some(), "{what}: no DDL");
    }
}

#[tokio::test]
async fn the_torture_schema_is_captured_completely() {
    let env = TestEnv::new("torture").await;
    env.sql(&torture_sql(env.cluster.major_version())).await;
    let tables = captured_tables(&env).await;
    assert_complete(&env, &tables).await;
    let get = |schema: &str, name: &str| {
        tables
            .get(&(schema.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("{schema}.{name} not captured"))
    };
    let singleton = get("torture", "singleton");
    assert_eq!(
        singleton.constraints[0].columns,
        vec!["(id * 0)".to_owned()]
    );
    let ddl = |t: &Table| t.ddl.clone().unwrap_or_default();
    assert!(
        ddl(get("torture", "dog")).contains("INHERITS (torture.animal)"),
        "{}",
        ddl(get("torture", "dog"))
    );
    assert!(
        ddl(get("torture", "located"))
            .starts_with("CREATE TABLE torture.located OF torture.address"),
        "{}",
        ddl(get("torture", "located"))
    );
    assert!(
        ddl(get("torture", "booking")).contains("\"left\" integer"),
        "{}",
        ddl(get("torture", "booking"))
    );
    assert!(ddl(get("torture", "nothing")).starts_with("CREATE TABLE torture.nothing ()"));
    assert_eq!(
        get("torture", "measurement_2026_eu_1").table_type,
        TableType::Partition
    );
    let routines = env
        .records()
        .into_iter()
        .filter_map(|r| r.event)
        .filter(|e| e.routine.is_some())
        .count() as i64;
    let want: i64 = env
        .client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'torture'",
            &[],
        )
        .await
        .expect("routines")
        .get(0);
    assert_eq!(routines, want, "every routine");

    // Triggers, policies and grants, as captured and as the DDL writes them.
    let booking = get("torture", "booking");
    let stamp = booking
        .triggers
        .iter()
        .find(|t| t.name == "booking_stamp")
        .expect("booking_stamp");
    assert_eq!(
        (
            stamp.timing.as_str(),
            stamp.events.clone(),
            stamp.level.as_str(),
            stamp.function.as_str(),
            stamp.enabled.as_str()
        ),
        (
            "BEFORE",
            vec!["INSERT".to_owned(), "UPDATE".to_owned()],
            "ROW",
            "torture.touch",
            "ORIGIN"
        )
    );
    let audit = booking
        .triggers
        .iter()
        .find(|t| t.name == "booking audit")
        .expect("booking audit");
    assert_eq!(
        (
            audit.level.as_str(),
            audit.enabled.as_str(),
            audit.events.clone()
        ),
        (
            "STATEMENT",
            "DISABLED",
            vec!["DELETE".to_owned(), "TRUNCATE".to_owned()]
        )
    );
    assert!(booking.triggers.iter().any(|t| t.is_constraint));
    assert!(booking.row_level_security && !booking.force_row_level_security);
    let restrictive = booking
        .policies
        .iter()
        .find(|p| p.name == "small rooms")
        .expect("small rooms");
    assert!(!restrictive.permissive && restrictive.command == "INSERT");
    assert_eq!(restrictive.roles, vec!["PUBLIC".to_owned()]);
    let public = booking
        .privileges
        .iter()
        .find(|g| g.grantee == "PUBLIC")
        .expect("PUBLIC grant");
    assert_eq!(public.privileges, ["INSERT", "SELECT"]);
    assert!(public.grantable.is_empty());
    let reader = booking
        .privileges
        .iter()
        .find(|g| g.grantee == "torture reader")
        .expect("a role's grant");
    assert_eq!(reader.grantable, ["SELECT", "UPDATE"]);
    let text = ddl(booking);
    for piece in [
        "ALTER TABLE torture.booking DISABLE TRIGGER \"booking audit\";",
        "ALTER TABLE torture.booking ENABLE ROW LEVEL SECURITY;",
        "CREATE POLICY \"small rooms\" ON torture.booking AS RESTRICTIVE FOR INSERT TO PUBLIC",
        "GRANT SELECT, UPDATE ON TABLE torture.booking TO \"torture reader\" WITH GRANT OPTION;",
    ] {
        assert!(text.contains(piece), "{piece} not in:\n{text}");
    }
    assert_eq!(get("torture", "measurement").triggers.len(), 1);
    assert!(get("torture", "measurement_2026_eu_1").triggers.is_empty());

    // Schemas: their privileges and sequences; the database: its extensions.
    let events: Vec<MetadataEvent> = env.records().into_iter().filter_map(|r| r.event).collect();
    let schema = events
        .iter()
        .filter_map(|e| e.database_schema.as_ref())
        .find(|s| s.name == "torture")
        .expect("torture schema");
    assert!(
        schema
            .privileges
            .iter()
            .any(|g| g.grantee == "PUBLIC" && g.privileges == ["USAGE"]),
        "{:?}",
        schema.privileges
    );
    let sequences: Vec<(&str, Option<&str>)> = schema
        .sequences
        .iter()
        .map(|s| (s.name.as_str(), s.owned_by.as_deref()))
        .collect();
    assert_eq!(
        sequences,
        [
            ("booking_id_seq", Some("torture.booking.id")),
            ("ticket_seq", None)
        ]
    );
    let ticket = &schema.sequences[1];
    assert_eq!(
        (
            ticket.data_type.as_str(),
            ticket.start,
            ticket.increment,
            ticket.cycle
        ),
        ("integer", 100, 5, true)
    );
    assert_eq!(ticket.description.as_deref(), Some("tickets"));
    let area = events
        .iter()
        .filter_map(|e| e.routine.as_ref())
        .find(|r| r.name == "area" && r.arguments == "r double precision")
        .expect("area(float8)");
    assert!(
        area.privileges.iter().all(|g| g.grantee != "PUBLIC"),
        "{:?}",
        area.privileges
    );
    let extensions: BTreeSet<String> = events
        .iter()
        .filter_map(|e| e.database.as_ref())
        .flat_map(|d| d.extensions.iter().map(|x| x.name.clone()))
        .collect();
    let want: BTreeSet<String> = env
        .client
        .query("SELECT extname::text FROM pg_catalog.pg_extension", &[])
        .await
        .expect("extensions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(extensions, want, "every extension");
}

/// The statements of `script` that create what tables and views need but are not tables or
/// views themselves: schemas, types, domains, routines, sequences, wrappers, servers.
fn prelude(script: &str) -> Vec<String> {
    const KEEP: &[&str] = &[
        "CREATE SCHEMA",
        "CREATE TYPE",
        "CREATE DOMAIN",
        "CREATE FUNCTION",
        "CREATE OR REPLACE FUNCTION",
        "CREATE PROCEDURE",
        "CREATE AGGREGATE",
        "CREATE SEQUENCE",
        "CREATE FOREIGN DATA WRAPPER",
        "CREATE SERVER",
        "CREATE EXTENSION",
        "CREATE COLLATION",
        "SET ",
    ];
    pgmeta::lineage::split::split_statements(script)
        .into_iter()
        .filter(|s| {
            let upper = s.trim_start().to_uppercase();
            KEEP.iter().any(|k| upper.starts_with(k))
        })
        .collect()
}

/// Replays the DDL of `tables` on `target` in dependency order: a statement that fails (a
/// relation it needs is not there yet) waits for the next round, until a round makes no
/// progress. Returns the errors of the statements that never ran.
async fn replay(
    target: &tokio_postgres::Client,
    tables: &BTreeMap<(String, String), Table>,
) -> Vec<String> {
    let mut pending: Vec<String> = tables.values().filter_map(|t| t.ddl.clone()).collect();
    loop {
        let before = pending.len();
        let mut errors = Vec::new();
        for ddl in std::mem::take(&mut pending) {
            // One simple-query batch: its statements apply together or not at all.
            if let Err(e) = target.batch_execute(&ddl).await {
                let reason = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned());
                errors.push(format!("{ddl}\n  -> {reason}"));
                pending.push(ddl);
            }
        }
        if pending.is_empty() || pending.len() == before {
            return errors;
        }
    }
}

/// The captured shape of a table, without what differs between two databases (OIDs, owner,
/// statistics).
/// Comments are not DDL (`COMMENT ON` is its own statement; they travel in the events'
/// description fields), so they are left out too.
fn shape(t: &Table) -> String {
    let mut t = t.clone();
    t.oid = 0;
    t.owner = String::new();
    t.row_estimate = None;
    t.size_bytes = None;
    t.description = None;
    for c in &mut t.columns {
        c.description = None;
    }
    for c in &mut t.constraints {
        c.description = None;
    }
    for i in &mut t.indexes {
        i.description = None;
    }
    format!("{t:#?}")
}

/// The lines of `b` that are not in `a`, and the other way round.
fn line_diff(a: &str, b: &str) -> String {
    let (la, lb): (BTreeSet<&str>, BTreeSet<&str>) = (a.lines().collect(), b.lines().collect());
    let only_a: Vec<&&str> = la.difference(&lb).collect();
    let only_b: Vec<&&str> = lb.difference(&la).collect();
    format!("before replay only: {only_a:#?}\nafter replay only: {only_b:#?}")
}

async fn replay_and_compare(env: &TestEnv, script: &str) {
    let tables = captured_tables(env).await;
    let target_db = format!("{}_replay", env.db);
    let target = env.cluster.create_database(&target_db).await;
    for statement in prelude(script) {
        // A routine over a table's row type cannot exist before the table: not needed here.
        let _ = target
            .batch_execute(&format!("SET check_function_bodies = false; {statement}"))
            .await;
    }
    target.batch_execute("RESET ALL").await.expect("reset");
    let errors = replay(&target, &tables).await;
    assert!(
        errors.is_empty(),
        "{} DDL statements do not replay:\n{}",
        errors.len(),
        errors.join("\n\n")
    );
    let replayed_env = TestEnv {
        db: target_db.clone(),
        topic: format!("{target_db}.metadata"),
        client: target,
        state: tempfile::tempdir().expect("state"),
        cluster: env.cluster,
        brokers: env.brokers.clone(),
    };
    let again = captured_tables(&replayed_env).await;
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        tables.keys().collect::<Vec<_>>(),
        "the same relations"
    );
    for (key, t) in &tables {
        let (before, after) = (shape(t), shape(&again[key]));
        assert!(
            before == after,
            "{key:?} differs after replay:\n{}",
            line_diff(&before, &after)
        );
    }
}

#[tokio::test]
async fn the_torture_schemas_ddl_replays_and_recaptures_equal() {
    let env = TestEnv::new("torture_replay").await;
    let sql = torture_sql(env.cluster.major_version());
    env.sql(&sql).await;
    replay_and_compare(&env, &sql).await;
}

#[tokio::test]
async fn pagilas_ddl_replays_and_recaptures_equal() {
    let Some(corpus) = crate::pagila::corpus_dir() else {
        pgmeta::testkit::skip(
            "pagilas_ddl_replays_and_recaptures_equal",
            pgmeta::testkit::Missing::Corpus,
            "../shared/corpus not found (set PGMETA_CORPUS)",
        );
        return;
    };
    let env = TestEnv::new("pagila_replay").await;
    let file = corpus.join("pagila/pagila-schema.sql");
    env.cluster.psql_file(&env.db, &file);
    let script = std::fs::read_to_string(&file).expect("pagila schema");
    replay_and_compare(&env, &script).await;
}
