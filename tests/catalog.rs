//! Snapshot of every object kind, read back from Kafka and compared with the catalog.

use crate::common::{TestEnv, poll_ok};
use pgmeta::event::{CaptureMode, EntityType, MetadataEvent, Op};
use pgmeta::model::{ConstraintType, Identity, RoutineKind, Table, TableType, TypeFamily};
use std::collections::{BTreeSet, HashMap, HashSet};

const FIXTURE: &str = include_str!("fixtures/every_kind.sql");
const LONG_TABLE: &str = "this_table_name_is_exactly_long_enough_to_be_truncated_by_postgres_x";

fn tables(events: &[MetadataEvent]) -> HashMap<(String, String), Table> {
    events
        .iter()
        .filter_map(|e| e.table.clone())
        .map(|t| ((t.schema.clone(), t.name.clone()), t))
        .collect()
}

#[tokio::test]
async fn snapshot_of_every_object_kind_equals_the_catalog() {
    let env = TestEnv::new("every_kind").await;
    if env.cluster.major_version() < 14 {
        // SQL-standard function bodies are PostgreSQL 14+.
        env.sql(&FIXTURE.replace("BEGIN ATOMIC SELECT x * 2; END;", "AS $$ SELECT x * 2 $$;"))
            .await;
    } else {
        env.sql(FIXTURE).await;
    }
    let mut capture = env.capture().await;
    let reports = poll_ok(&mut capture).await;
    assert_eq!(reports.len(), 1);

    let records = env.records();
    assert_eq!(
        records.len(),
        reports[0].records,
        "every record written is on the topic"
    );
    let events: Vec<MetadataEvent> = records
        .iter()
        .map(|r| r.event.clone().expect("a first snapshot has no tombstones"))
        .collect();
    let fingerprint = pgmeta::codec::AvroCodec::metadata()
        .expect("codec")
        .fingerprint_hex();
    let server_version: String = env
        .client
        .query_one("SHOW server_version", &[])
        .await
        .expect("version")
        .get(0);
    let ids: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    for (r, e) in records.iter().zip(&events) {
        assert_eq!(r.key, e.fqn);
        assert_eq!(r.event_type, format!("{}.snapshot", e.entity_type.as_str()));
        assert_eq!(r.fingerprint, fingerprint);
        assert_eq!((e.op, e.entity_version), (Op::Snapshot, 1));
        assert_eq!(e.source.capture_mode, CaptureMode::Poll);
        assert_eq!(e.source.server_version, server_version);
        assert_eq!(e.source.database, env.db);
    }

    // Database and schemas.
    let db_events: Vec<&MetadataEvent> = events
        .iter()
        .filter(|e| e.entity_type == EntityType::Database)
        .collect();
    assert_eq!(db_events.len(), 1);
    assert_eq!(db_events[0].fqn, format!("svc.{}", env.db));
    let schemas: BTreeSet<String> = events
        .iter()
        .filter_map(|e| e.database_schema.as_ref().map(|s| s.name.clone()))
        .collect();
    let rows = env
        .client
        .query("SELECT schema_name::text FROM information_schema.schemata WHERE schema_name !~ '^pg_' AND schema_name <> 'information_schema'", &[])
        .await
        .expect("schemata");
    let expected: BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(schemas, expected);
    let odd = events
        .iter()
        .find(|e| {
            e.database_schema
                .as_ref()
                .is_some_and(|s| s.name == "Odd Schema.v2")
        })
        .expect("odd schema");
    assert_eq!(odd.fqn, format!("svc.{}.\"Odd Schema.v2\"", env.db));
    assert_eq!(
        odd.database_schema
            .as_ref()
            .and_then(|s| s.description.as_deref()),
        Some("schema with a dot and a space")
    );
    let sales = events
        .iter()
        .find_map(|e| e.database_schema.as_ref().filter(|s| s.name == "sales"))
        .expect("sales");
    assert_eq!(sales.owner, "pgmeta owner");

    // The set of relations equals the catalog's (information_schema plus matviews).
    let by_name = tables(&events);
    let rows = env
        .client
        .query(
            "SELECT table_schema::text, table_name::text FROM information_schema.tables
             WHERE table_schema !~ '^pg_' AND table_schema <> 'information_schema'
             UNION ALL SELECT schemaname::text, matviewname::text FROM pg_matviews",
            &[],
        )
        .await
        .expect("tables");
    let expected: BTreeSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(by_name.keys().cloned().collect::<BTreeSet<_>>(), expected);

    // Field by field, each table against catalog queries keyed by the event's OID.
    for t in by_name.values() {
        let oid = u32::try_from(t.oid).expect("oid");
        let row = env
            .client
            .query_one(
                "SELECT c.relname::text, n.nspname::text, c.relkind::text, c.relispartition, pg_get_userbyid(c.relowner)::text,
                        obj_description(c.oid, 'pg_class'), CASE WHEN c.relkind IN ('v','m') THEN pg_get_viewdef(c.oid, true) END,
                        CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
                &[&oid],
            )
            .await
            .expect("relation by oid");
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, String>(1)),
            (t.name.clone(), t.schema.clone()),
            "object_id names the relation"
        );
        let expected_type = match (row.get::<_, String>(2).as_str(), row.get::<_, bool>(3)) {
            ("v", _) => TableType::View,
            ("m", _) => TableType::MaterializedView,
            ("f", _) => TableType::ForeignTable,
            (_, true) => TableType::Partition,
            ("p", _) => TableType::PartitionedTable,
            _ => TableType::Table,
        };
        assert_eq!(t.table_type, expected_type, "{}", t.name);
        assert_eq!(t.owner, row.get::<_, String>(4));
        assert_eq!(t.description, row.get::<_, Option<String>>(5));
        assert_eq!(t.view_definition, row.get::<_, Option<String>>(6));
        assert_eq!(
            t.partition_of.as_ref().map(|p| p.bound.clone()),
            row.get::<_, Option<String>>(7)
        );
        assert!(
            t.ddl.as_deref().is_some_and(|d| d.starts_with("CREATE ")),
            "ddl of {}",
            t.name
        );

        let cols = env
            .client
            .query(
                "SELECT a.attnum::int4, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
                        pg_get_expr(d.adbin, d.adrelid), a.attgenerated::text, col_description(a.attrelid, a.attnum)
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&oid],
            )
            .await
            .expect("columns");
        assert_eq!(t.columns.len(), cols.len(), "columns of {}", t.name);
        for (c, row) in t.columns.iter().zip(&cols) {
            assert_eq!(c.attnum, row.get::<_, i32>(0));
            assert_eq!(c.name, row.get::<_, String>(1));
            assert_eq!(&*c.data_type, row.get::<_, &str>(2));
            assert_eq!(c.nullable, row.get::<_, bool>(3));
            let expr: Option<String> = row.get(4);
            if row.get::<_, String>(5) == "s" {
                assert_eq!((c.generated.clone(), c.default.clone()), (expr, None));
            } else {
                assert_eq!((c.default.clone(), c.generated.clone()), (expr, None));
            }
            assert_eq!(c.description, row.get::<_, Option<String>>(6));
        }

        let cons = env
            .client
            // Not PostgreSQL's hidden clones of an FK to a partitioned table (same table as parent).
            .query(
                "SELECT conname::text, contype::text FROM pg_constraint c WHERE conrelid = $1 AND contype <> 'n'
                 AND NOT (conparentid <> 0 AND (SELECT conrelid FROM pg_constraint p WHERE p.oid = c.conparentid) = c.conrelid)
                 ORDER BY conname",
                &[&oid],
            )
            .await
            .expect("constraints");
        let got: Vec<(String, ConstraintType)> = t
            .constraints
            .iter()
            .map(|c| (c.name.clone(), c.constraint_type))
            .collect();
        let want: Vec<(String, ConstraintType)> = cons
            .iter()
            .map(|r| {
                let kind = match r.get::<_, String>(1).as_str() {
                    "p" => ConstraintType::PrimaryKey,
                    "u" => ConstraintType::Unique,
                    "f" => ConstraintType::ForeignKey,
                    "c" => ConstraintType::Check,
                    _ => ConstraintType::Exclusion,
                };
                (r.get(0), kind)
            })
            .collect();
        assert_eq!(got, want, "constraints of {}", t.name);

        let idx = env
            .client
            .query("SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1 ORDER BY 1", &[&oid])
            .await
            .expect("indexes");
        let want: Vec<String> = idx.iter().map(|r| r.get(0)).collect();
        assert_eq!(
            t.indexes.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
            want,
            "indexes of {}",
            t.name
        );
    }

    // Odd identifiers survive exactly.
    let long = &LONG_TABLE[..63];
    let t = &by_name[&("Odd Schema.v2".to_string(), long.to_string())];
    assert_eq!(t.columns[0].name.len(), 63);
    let long_event = events
        .iter()
        .find(|e| e.table.as_ref().is_some_and(|x| x.name == long))
        .expect("long");
    assert_eq!(
        long_event.fqn,
        format!("svc.{}.\"Odd Schema.v2\".{long}", env.db)
    );
    let items = &by_name[&("sales".to_string(), "Order \"Items\" Ünï".to_string())];
    let items_event = events
        .iter()
        .find(|e| e.object_id == items.oid)
        .expect("items event");
    assert_eq!(
        items_event.fqn,
        format!("svc.{}.sales.\"Order \"\"Items\"\" Ünï\"", env.db)
    );
    assert_eq!(items.owner, "pgmeta owner");
    let fk = items
        .constraints
        .iter()
        .find(|c| c.constraint_type == ConstraintType::ForeignKey)
        .expect("fk");
    let r = fk.references.as_ref().expect("references");
    assert_eq!(
        (
            r.schema.as_str(),
            r.table.as_str(),
            r.columns.clone(),
            r.on_delete.as_str()
        ),
        ("sales", "customer", vec!["id".to_string()], "CASCADE")
    );
    assert_eq!(fk.columns, vec!["customer_id"]);
    let check = items
        .constraints
        .iter()
        .find(|c| c.name == "qty_positive")
        .expect("check");
    assert_eq!(
        (check.definition.as_str(), check.description.as_deref()),
        ("CHECK (qty > 0)", Some("no negative orders"))
    );

    // Column types: identity, collation, enum (and arrays of it), domain, composite, generated.
    let customer = &by_name[&("sales".to_string(), "customer".to_string())];
    let col = |name: &str| {
        customer
            .columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    assert_eq!(col("id").identity, Some(Identity::Always));
    assert_eq!(col("Full Name").collation.as_deref(), Some("\"C\""));
    assert_eq!(
        col("Full Name").description.as_deref(),
        Some("ünïcödé comment ✓")
    );
    assert_eq!(
        (col("mood").type_family, col("mood").enum_labels.clone()),
        (
            TypeFamily::Enum,
            vec!["sad".into(), "ok".into(), "happy".into()]
        )
    );
    assert_eq!(
        (col("moods").is_array, col("moods").element_type.as_deref()),
        (true, Some("sales.mood"))
    );
    assert_eq!(col("moods").enum_labels.len(), 3);
    assert_eq!(
        (col("tags").is_array, col("tags").type_family),
        (true, TypeFamily::Text)
    );
    assert_eq!(
        (col("score").domain.as_deref(), col("score").type_family),
        (Some("sales.positive_int"), TypeFamily::Integer)
    );
    assert_eq!(col("address").type_family, TypeFamily::Composite);
    assert_eq!(col("doc").type_family, TypeFamily::Json);
    assert_eq!(col("during").type_family, TypeFamily::Range);
    assert_eq!(col("created_at").type_family, TypeFamily::Timestamp);
    assert!(
        col("balance_x2")
            .generated
            .as_deref()
            .is_some_and(|g| g.contains("balance"))
    );
    assert!(
        customer
            .constraints
            .iter()
            .any(|c| c.constraint_type == ConstraintType::Exclusion)
    );
    let partial = customer
        .indexes
        .iter()
        .find(|i| i.name == "customer_lower_email")
        .expect("partial index");
    assert_eq!(
        (
            partial.columns.clone(),
            partial.predicate.as_deref(),
            partial.description.as_deref()
        ),
        (
            vec!["lower(email)".to_string()],
            Some("(email IS NOT NULL)"),
            Some("case-insensitive lookups")
        )
    );
    assert_eq!(
        customer.description.as_deref(),
        Some("People who buy things")
    );

    // Partitions: strategy, key, parent and bounds, sub-partitioning.
    let payment = &by_name[&("sales".to_string(), "payment".to_string())];
    assert_eq!(payment.table_type, TableType::PartitionedTable);
    assert_eq!(
        payment
            .partitioning
            .as_ref()
            .map(|p| (p.strategy.as_str(), p.key.as_str())),
        Some(("RANGE", "RANGE (paid_on)"))
    );
    let p2025 = &by_name[&("sales".to_string(), "payment_2025".to_string())];
    assert_eq!(p2025.table_type, TableType::Partition);
    assert_eq!(
        p2025.partitioning.as_ref().map(|p| p.strategy.as_str()),
        Some("LIST")
    );
    assert_eq!(
        p2025.partition_of.as_ref().map(|p| p.parent_table.as_str()),
        Some("payment")
    );
    let rest = &by_name[&("sales".to_string(), "payment_2025_rest".to_string())];
    assert_eq!(
        rest.partition_of
            .as_ref()
            .map(|p| (p.parent_table.as_str(), p.bound.as_str())),
        Some(("payment_2025", "DEFAULT"))
    );

    let remote = &by_name[&("sales".to_string(), "remote_rates".to_string())];
    let ft = remote.foreign_table.as_ref().expect("foreign");
    assert_eq!(
        (ft.server.as_str(), ft.options.clone()),
        (
            "files server",
            vec![
                "filename=/srv/rates.csv".to_string(),
                "format=csv".to_string()
            ]
        )
    );

    // Routines: overloads apart, bodies, kinds.
    let rows = env
        .client
        .query("SELECT p.oid::int8, proname::text, pg_get_function_identity_arguments(p.oid), l.lanname::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE pronamespace = 'sales'::regnamespace", &[])
        .await
        .expect("routines");
    let want: BTreeSet<(i64, String, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let got: BTreeSet<(i64, String, String, String)> = events
        .iter()
        .filter_map(|e| e.routine.as_ref())
        .map(|r| {
            (
                r.oid,
                r.name.clone(),
                r.arguments.clone(),
                r.language.clone(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let routine = |sig: &str| {
        events
            .iter()
            .find(|e| e.fqn == format!("svc.{}.sales.{sig}", env.db))
            .and_then(|e| e.routine.clone())
            .unwrap_or_else(|| panic!("routine {sig}"))
    };
    let count = routine("customer_count(min_score integer)");
    assert_eq!(
        (
            count.return_type.as_deref(),
            count.volatility.as_str(),
            count.description.as_deref()
        ),
        (Some("bigint"), "STABLE", Some("how many customers"))
    );
    assert!(
        routine("customer_count(min_score integer, max_score integer)")
            .body
            .is_some_and(|b| b.contains("BETWEEN"))
    );
    // PostgreSQL prints argument modes in procedure identities from 14 on.
    let archive = routine(if env.cluster.major_version() >= 14 {
        "archive_orders(IN before date)"
    } else {
        "archive_orders(before date)"
    });
    assert_eq!(
        (archive.kind, archive.security_definer, archive.return_type),
        (RoutineKind::Procedure, true, None)
    );
    assert!(
        routine("double_it(x integer)")
            .body
            .is_some_and(|b| b.contains("x * 2")),
        "BEGIN ATOMIC body"
    );
    assert_eq!(routine("concat_all(text)").kind, RoutineKind::Aggregate);

    // An unchanged catalog: one signature query, nothing emitted.
    let again = poll_ok(&mut capture).await;
    assert!(again[0].unchanged);
    assert_eq!(env.records().len(), records.len());
}

/// Plain indexes' definitions are put together by the reader instead of deparsed (see
/// `queries::indexes`): every kind of index, plain or not, odd names and keyword columns,
/// default and other operator classes and collations, must read as `pg_get_indexdef` says.
#[tokio::test]
async fn every_index_definition_equals_pg_get_indexdef() {
    let env = TestEnv::new("index_defs").await;
    env.sql(
        r#"
CREATE SCHEMA "Idx Schema";
CREATE DOMAIN "Idx Schema".code AS text;
CREATE TABLE "Idx Schema"."Ticket Ü" (
  id integer PRIMARY KEY,
  "order" integer, "user" text, "Mixed Case" text, "with space" int,
  label varchar(20), note text COLLATE "C", body jsonb, tags text[], code "Idx Schema".code,
  amount numeric, at timestamptz, cidr_col cidr, e_col bigint,
  UNIQUE (label, amount)
);
CREATE INDEX plain_two ON "Idx Schema"."Ticket Ü" (amount, at);
CREATE INDEX "Quoted Index" ON "Idx Schema"."Ticket Ü" ("Mixed Case", "with space");
CREATE INDEX keyword_order ON "Idx Schema"."Ticket Ü" ("order");
CREATE INDEX keyword_user ON "Idx Schema"."Ticket Ü" ("user");
CREATE INDEX varchar_col ON "Idx Schema"."Ticket Ü" (label);
CREATE INDEX pattern_ops ON "Idx Schema"."Ticket Ü" (label varchar_pattern_ops);
CREATE INDEX column_collation ON "Idx Schema"."Ticket Ü" (note);
CREATE INDEX other_collation ON "Idx Schema"."Ticket Ü" ("user" COLLATE "C");
CREATE INDEX same_collation ON "Idx Schema"."Ticket Ü" (note COLLATE "C");
CREATE INDEX descending ON "Idx Schema"."Ticket Ü" (at DESC, amount NULLS FIRST);
CREATE INDEX hashed ON "Idx Schema"."Ticket Ü" USING hash (e_col);
CREATE INDEX gin_default ON "Idx Schema"."Ticket Ü" USING gin (body);
CREATE INDEX gin_path ON "Idx Schema"."Ticket Ü" USING gin (body jsonb_path_ops);
CREATE INDEX gin_array ON "Idx Schema"."Ticket Ü" USING gin (tags);
CREATE INDEX brin_at ON "Idx Schema"."Ticket Ü" USING brin (at);
CREATE INDEX on_domain ON "Idx Schema"."Ticket Ü" (code);
CREATE INDEX on_cidr ON "Idx Schema"."Ticket Ü" (cidr_col);
CREATE INDEX with_fillfactor ON "Idx Schema"."Ticket Ü" (e_col) WITH (fillfactor = 70);
CREATE INDEX covering ON "Idx Schema"."Ticket Ü" (id) INCLUDE (amount);
CREATE INDEX partial ON "Idx Schema"."Ticket Ü" (amount) WHERE amount > 0;
CREATE INDEX expression ON "Idx Schema"."Ticket Ü" (lower(note));
CREATE TABLE "Idx Schema".parted (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE "Idx Schema".parted_2026 PARTITION OF "Idx Schema".parted
  FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX parted_at ON "Idx Schema".parted (at);
CREATE MATERIALIZED VIEW "Idx Schema".totals AS SELECT "order", sum(amount) AS s
  FROM "Idx Schema"."Ticket Ü" GROUP BY "order";
CREATE UNIQUE INDEX totals_order ON "Idx Schema".totals ("order");
"#,
    )
    .await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let events: Vec<MetadataEvent> = env
        .records()
        .iter()
        .filter_map(|r| r.event.clone())
        .collect();
    let got: BTreeSet<(String, String)> = tables(&events)
        .into_values()
        .flat_map(|t| t.indexes.into_iter().map(|i| (i.name, i.definition)))
        .collect();
    let want: BTreeSet<(String, String)> = env
        .client
        .query(
            "SELECT ic.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'Idx Schema'",
            &[],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(want.len(), 26, "the fixture's indexes: {want:#?}");
    assert_eq!(got, want);
}

/// Plain keys' and foreign keys' definitions are put together by the reader (see
/// `queries::constraints`): every kind of constraint must read as `pg_get_constraintdef` says,
/// the referenced table qualified exactly when it is not visible in the search path.
#[tokio::test]
async fn every_constraint_definition_equals_pg_get_constraintdef() {
    let env = TestEnv::new("constraint_defs").await;
    let user: String = env
        .client
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("user")
        .get(0);
    let nulls_not_distinct = if env.cluster.major_version() >= 15 {
        r#"CREATE TABLE "Con Schema".nnd (a int, UNIQUE NULLS NOT DISTINCT (a));"#
    } else {
        ""
    };
    env.sql(&format!(
        r#"
CREATE SCHEMA "Con Schema";
CREATE TABLE public.visible (id int PRIMARY KEY);
CREATE TABLE public.shadowed (id int PRIMARY KEY);
CREATE SCHEMA "{user}";
CREATE TABLE "{user}".shadowed (id int PRIMARY KEY);
CREATE TABLE "Con Schema"."Parent Ü" ("Key A" int, "order" int, b text,
  PRIMARY KEY ("Key A", "order"), UNIQUE (b) INCLUDE ("order"));
CREATE TABLE "Con Schema".plain (id int PRIMARY KEY, code text UNIQUE, n int);
CREATE TABLE "Con Schema".child (
  id int PRIMARY KEY,
  plain_id int REFERENCES "Con Schema".plain (id),
  vis_id int REFERENCES public.visible (id),
  sh_id int REFERENCES public.shadowed (id),
  cascade_id int REFERENCES "Con Schema".plain (id) ON DELETE CASCADE,
  full_id int REFERENCES "Con Schema".plain (id) MATCH FULL,
  deferred_id int REFERENCES "Con Schema".plain (id) DEFERRABLE INITIALLY DEFERRED,
  a int, "order" int,
  code text, n int CHECK (n > 0),
  UNIQUE (code) DEFERRABLE,
  FOREIGN KEY (a, "order") REFERENCES "Con Schema"."Parent Ü" ("Key A", "order"),
  EXCLUDE USING btree (n WITH =)
);
ALTER TABLE "Con Schema".child ADD CONSTRAINT not_valid FOREIGN KEY (n) REFERENCES "Con Schema".plain (id) NOT VALID;
{nulls_not_distinct}
"#
    ))
    .await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let events: Vec<MetadataEvent> = env
        .records()
        .iter()
        .filter_map(|r| r.event.clone())
        .collect();
    let got: BTreeSet<(String, String)> = tables(&events)
        .into_values()
        .filter(|t| t.schema == "Con Schema" || t.schema == "public")
        .flat_map(|t| t.constraints.into_iter().map(|c| (c.name, c.definition)))
        .collect();
    let want: BTreeSet<(String, String)> = env
        .client
        .query(
            "SELECT co.conname::text, pg_get_constraintdef(co.oid, true) FROM pg_constraint co
             JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             -- NOT NULL constraints (PostgreSQL 18 keeps them here) are the columns' nullable.
             WHERE n.nspname IN ('Con Schema', 'public') AND co.contype <> 'n'",
            &[],
        )
        .await
        .expect("constraints")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        want.iter()
            .any(|(_, d)| d == "FOREIGN KEY (sh_id) REFERENCES public.shadowed(id)"),
        "the shadowed table is qualified: {want:#?}"
    );
    assert_eq!(got, want);
}

/// The catalog of `db` read against the last signature, as the poller reads it: `None` when
/// it read (the snapshot must hold `table`, and not the `pgmeta` schema), else why it was
/// unchanged; `last` takes the new signature either way.
async fn read_against(
    reader: &mut tokio_postgres::Client,
    db: &str,
    table: &str,
    last: &mut Option<pgmeta::pg::catalog::CatalogSignature>,
) -> Option<pgmeta::pg::catalog::Unchanged> {
    use pgmeta::pg::catalog::{CatalogRead, CatalogScope, read_catalog};
    let scope = CatalogScope {
        service: "svc".into(),
        filters: Default::default(),
        use_fqn_for_filtering: false,
        include_tables: true,
        include_views: true,
        include_stored_procedures: true,
        include_ddl: true,
        statement_timeout: std::time::Duration::from_secs(30),
        part_relations: 5000,
    };
    match read_catalog(reader, db, &scope, last.as_ref())
        .await
        .expect("read")
    {
        CatalogRead::Changed {
            snapshot,
            signature,
        } => {
            assert!(snapshot.tables.iter().any(|t| t.name == table));
            assert!(
                snapshot.schemas.iter().all(|s| s.name != "pgmeta"),
                "the DDL trigger's schema is not captured"
            );
            *last = Some(signature);
            None
        }
        CatalogRead::Unchanged { signature, why } => {
            *last = Some(signature);
            Some(why)
        }
    }
}

/// The unchanged poll skips the fingerprint only while no transaction ends: a write elsewhere
/// makes it compare fingerprints, and DDL that was still running when the last signature was
/// taken (below the snapshot's xmax, in its xip list) is seen once it commits.
#[tokio::test]
async fn the_catalog_signature_sees_every_commit_and_skips_the_fingerprint_while_none_ends() {
    use pgmeta::pg::catalog::Unchanged;
    // A cluster of its own: the shared one's other tests commit all the time. No autovacuum,
    // whose ANALYZE would end transactions of its own.
    let cluster = pgmeta::testkit::PgCluster::start_with_settings(&["autovacuum=off"]);
    let admin = cluster.create_database("signature").await;
    admin
        .batch_execute("CREATE TABLE t (id int); CREATE TABLE writes (n int)")
        .await
        .expect("tables");
    let mut reader = cluster.client("signature").await;
    let mut last = None;
    let mut read =
        async |last: &mut Option<_>| read_against(&mut reader, "signature", "t", last).await;
    assert_eq!(read(&mut last).await, None, "a first read reads");
    assert_eq!(read(&mut last).await, Some(Unchanged::NoTransactionEnded));
    admin
        .batch_execute("INSERT INTO writes VALUES (1)")
        .await
        .expect("write");
    assert_eq!(read(&mut last).await, Some(Unchanged::SameFingerprint));
    assert_eq!(read(&mut last).await, Some(Unchanged::NoTransactionEnded));

    // DDL whose xid is below the snapshot's xmax when the signature is taken: a later
    // transaction (the write) ended first.
    let ddl = cluster.client("signature").await;
    ddl.batch_execute("BEGIN; COMMENT ON TABLE t IS 'late'")
        .await
        .expect("ddl");
    admin
        .batch_execute("INSERT INTO writes VALUES (2)")
        .await
        .expect("write");
    assert_eq!(read(&mut last).await, Some(Unchanged::SameFingerprint));
    assert_eq!(read(&mut last).await, Some(Unchanged::NoTransactionEnded));
    ddl.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(read(&mut last).await, None, "the committed DDL is read");
    // DDL whose xid is the newest when the signature is taken.
    ddl.batch_execute("BEGIN; COMMENT ON TABLE t IS 'newest'")
        .await
        .expect("ddl");
    assert_eq!(read(&mut last).await, Some(Unchanged::NoTransactionEnded));
    ddl.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(read(&mut last).await, None, "the committed DDL is read");
}

/// With the DDL event trigger installed, a write elsewhere costs the unchanged poll the DDL
/// markers, not the fingerprint: each committed DDL is seen (also one that was running when the
/// last check was taken, and one that only renames a column, which only `pg_attribute` shows),
/// a rolled-back one is not, a role renamed (which fires no event trigger) is, and with the
/// trigger disabled the fingerprint is compared again.
#[tokio::test]
async fn the_ddl_marker_sees_every_committed_ddl_without_the_fingerprint() {
    use pgmeta::pg::catalog::Unchanged;
    // A cluster of its own, without autovacuum (see the test above).
    let cluster = pgmeta::testkit::PgCluster::start_with_settings(&["autovacuum=off"]);
    let admin = cluster.create_database("marker").await;
    admin
        .batch_execute(
            "CREATE TABLE t (id int); CREATE TABLE writes (n int); CREATE ROLE marker_owner; \
             ALTER TABLE t OWNER TO marker_owner",
        )
        .await
        .expect("tables");
    pgmeta::pg::ddl_trigger::install(&admin, "marker")
        .await
        .expect("install the trigger");
    let mut reader = cluster.client("marker").await;
    let mut last = None;
    let mut read =
        async |last: &mut Option<_>| read_against(&mut reader, "marker", "t", last).await;
    let write = async |n: i32| {
        admin
            .execute("INSERT INTO writes VALUES ($1)", &[&n])
            .await
            .expect("write");
    };
    assert_eq!(read(&mut last).await, None, "a first read reads");
    write(1).await;
    assert_eq!(read(&mut last).await, Some(Unchanged::NoDdlCommitted));
    assert_eq!(read(&mut last).await, Some(Unchanged::NoTransactionEnded));

    // A column renamed in a transaction that is still running at the next check.
    let ddl = cluster.client("marker").await;
    ddl.batch_execute("BEGIN; ALTER TABLE t RENAME COLUMN id TO ident")
        .await
        .expect("ddl");
    write(2).await;
    assert_eq!(read(&mut last).await, Some(Unchanged::NoDdlCommitted));
    ddl.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(read(&mut last).await, None, "the committed rename is read");
    write(3).await;
    assert_eq!(read(&mut last).await, Some(Unchanged::NoDdlCommitted));

    // DDL rolled back leaves no marker.
    ddl.batch_execute("BEGIN; DROP TABLE t; ROLLBACK")
        .await
        .expect("rolled back");
    assert_eq!(read(&mut last).await, Some(Unchanged::NoDdlCommitted));

    // A role renamed fires no event trigger; the shared catalogs' part sees it.
    admin
        .batch_execute("ALTER ROLE marker_owner RENAME TO marker_owner2")
        .await
        .expect("rename role");
    assert_eq!(read(&mut last).await, None, "the owner's new name is read");

    // The trigger disabled: the markers are not trusted, the fingerprint is compared.
    admin
        .batch_execute("ALTER EVENT TRIGGER pgmeta_ddl_command_end DISABLE")
        .await
        .expect("disable");
    assert_eq!(read(&mut last).await, Some(Unchanged::SameFingerprint));
    admin
        .batch_execute("ALTER TABLE t RENAME COLUMN ident TO id")
        .await
        .expect("rename unmarked");
    assert_eq!(read(&mut last).await, None, "the unmarked rename is read");
}

/// `pgmeta.prune_ddl_backends` deletes only the markers of backends that are gone, of
/// transactions the horizon snapshot sees, last written ten minutes ago or more.
#[tokio::test]
async fn pruning_the_ddl_markers_keeps_every_one_a_poller_may_not_have_seen() {
    let env = crate::common::TestEnv::new("prune_markers").await;
    pgmeta::pg::ddl_trigger::install(&env.client, "test")
        .await
        .expect("install the trigger");
    // One backend's DDL, its pid, and the backend gone.
    let ddl_and_leave = async |sql: &str| -> i32 {
        let client = env.cluster.client(&env.db).await;
        client.batch_execute(sql).await.expect("ddl");
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        drop(client);
        for _ in 0..100 {
            let alive: bool = env
                .client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
                    &[&pid],
                )
                .await
                .expect("activity")
                .get(0);
            if !alive {
                return pid;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("backend {pid} did not exit");
    };
    let gone = ddl_and_leave("CREATE TABLE p1 (id int)").await;
    let recent = ddl_and_leave("CREATE TABLE p2 (id int)").await;
    let live = env.cluster.client(&env.db).await;
    live.batch_execute("CREATE TABLE p3 (id int)")
        .await
        .expect("ddl");
    let live_pid: i32 = live
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let horizon: String = env
        .client
        .query_one("SELECT txid_current_snapshot()::text", &[])
        .await
        .expect("snapshot")
        .get(0);
    let after_horizon = ddl_and_leave("CREATE TABLE p4 (id int)").await;
    // Ten minutes passed for all but `recent`'s marker.
    env.client
        .execute(
            "UPDATE pgmeta.ddl_backend SET at = at - interval '1 hour' WHERE pid <> $1",
            &[&recent],
        )
        .await
        .expect("age the markers");
    let pruned = pgmeta::pg::ddl_trigger::prune(&env.client, "test", &horizon)
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
    let left: Vec<i32> = env
        .client
        .query("SELECT pid FROM pgmeta.ddl_backend", &[])
        .await
        .expect("markers")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!left.contains(&gone), "{gone} pruned: {left:?}");
    for kept in [recent, live_pid, after_horizon] {
        assert!(left.contains(&kept), "{kept} kept: {left:?}");
    }
}
