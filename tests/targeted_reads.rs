//! Issue 16's proof of equivalence: after a DDL transaction, the targeted read of what its
//! trigger messages name leaves nothing for a full read of the catalog to emit.
//!
//! Random DDL (tables, columns, constraints, indexes, views, materialized views, types,
//! schemas, partitions, routines, triggers, policies, comments, owners, grants, sequences) in
//! random transaction groupings runs on a real PostgreSQL with the DDL trigger installed. The
//! trigger's messages are read back from a logical slot of the test's own (pgoutput, as the
//! replication listener receives them), folded into what the transaction touched, and handed
//! to the capture's targeted read; then a full read of the same state must find no change.
//! `PGMETA_TARGETED_STEPS` (default 40) and `PGMETA_TARGETED_SEED` set the run (`make
//! targeted-reads` runs 1,000 steps); a failure names its seed, step and statements.

use crate::common::{Rng, TestEnv};
use pgmeta::pg::touched::Touched;
use pgmeta::sink::JsonlSink;

/// A pgoutput logical message (`M`): flags, LSN, prefix, content. Transactional messages of
/// a non-streamed transaction carry no xid.
fn message_content(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(b"M")?.get(1 + 8..)?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let (prefix, rest) = (&rest[..nul], &rest[nul + 1..]);
    if prefix != b"pgmeta" {
        return None;
    }
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    rest.get(4..4 + len)
}

/// What the transactions since the last call touched, from the test's slot.
async fn touched_since(client: &tokio_postgres::Client, slot: &str) -> Touched {
    let rows = client
        .query(
            "SELECT data FROM pg_catalog.pg_logical_slot_get_binary_changes($1, NULL, NULL,
               'proto_version', '1', 'publication_names', 'pgmeta_ddl', 'messages', 'true')",
            &[&slot],
        )
        .await
        .expect("slot changes");
    let mut touched = Touched::default();
    for row in rows {
        let data: Vec<u8> = row.get(0);
        if let Some(content) = message_content(&data) {
            let json = serde_json::from_slice::<serde_json::Value>(content).ok();
            touched.note(json.as_ref());
        }
    }
    touched
}

/// The current user relations and their columns, to write DDL against.
struct Model {
    tables: Vec<(String, Vec<String>)>,
    views: Vec<String>,
    partitioned: Vec<String>,
    partitions: Vec<String>,
    schemas: Vec<String>,
    indexes: Vec<String>,
    constraints: Vec<(String, String)>,
    types: Vec<String>,
    sequences: Vec<String>,
    functions: Vec<String>,
}

async fn model(client: &tokio_postgres::Client) -> Model {
    let names = |sql: String| async move {
        client
            .query(&sql, &[])
            .await
            .expect("model")
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<String>>()
    };
    const USER: &str =
        "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgmeta') AND n.nspname !~ '^pg_'";
    let tables = client
        .query(
            &format!(
                "SELECT format('%I.%I', n.nspname, c.relname),
                        array_agg(quote_ident(a.attname) ORDER BY a.attnum) FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_attribute a ON a.attrelid = c.oid
                 WHERE c.relkind = 'r' AND NOT c.relispartition AND {USER} GROUP BY 1 ORDER BY 1"
            ),
            &[],
        )
        .await
        .expect("tables")
        .iter()
        .map(|r| (r.get(0), r.get::<_, Option<Vec<String>>>(1).unwrap_or_default()))
        .collect();
    Model {
        tables,
        views: names(format!("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND {USER} ORDER BY 1")).await,
        partitioned: names("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'p' ORDER BY 1".into()).await,
        partitions: names("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relispartition AND c.relkind = 'r' ORDER BY 1".into()).await,
        schemas: names(format!("SELECT quote_ident(nspname) FROM pg_namespace n WHERE {USER} ORDER BY 1")).await,
        indexes: names(format!("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid WHERE NOT i.indisprimary AND {USER} AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid) ORDER BY 1")).await,
        constraints: client
            .query(&format!("SELECT format('%I.%I', n.nspname, c.relname), quote_ident(k.conname) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype IN ('c', 'f', 'u') AND k.conparentid = 0 AND {USER} ORDER BY 1, 2"), &[])
            .await
            .expect("constraints")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        types: names(format!("SELECT format('%I.%I', n.nspname, t.typname) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'e' AND {USER} ORDER BY 1")).await,
        sequences: names(format!("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) AND {USER} ORDER BY 1")).await,
        functions: names(format!("SELECT format('%I.%I', n.nspname, p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind = 'f' AND p.prorettype <> 'trigger'::regtype AND {USER} ORDER BY 1")).await,
    }
}

/// One random DDL statement against `m` (`n` makes new names unique); no routine or trigger
/// unless `routines`.
fn statement(rng: &mut Rng, m: &Model, n: usize, owner: &str, routines: bool) -> String {
    let schema = rng.pick(&m.schemas).clone();
    let fresh = |kind: &str| format!("{schema}.{kind}{n}");
    let Some((table, columns)) = (!m.tables.is_empty()).then(|| rng.pick(&m.tables).clone()) else {
        return format!(
            "CREATE TABLE {} (id serial PRIMARY KEY, a text, b int)",
            fresh("t")
        );
    };
    let column = rng.pick(&columns).clone();
    let other = rng.pick(&m.tables).0.clone();
    match rng.below(30) {
        25 | 26 if !routines => format!("COMMENT ON TABLE {table} IS 'no routine {n}'"),
        0..=2 => format!(
            "CREATE TABLE {} (id {} PRIMARY KEY, a text, b int{})",
            fresh("t"),
            if rng.below(2) == 0 { "serial" } else { "int" },
            if rng.below(2) == 0 {
                format!(", ref int REFERENCES {other} (id)")
            } else {
                String::new()
            }
        ),
        3 => format!(
            "ALTER TABLE {table} ADD COLUMN c{n} {}",
            rng.pick(&["text", "int", "numeric(10,2)", "timestamptz", "jsonb"])
        ),
        4 if columns.len() > 2 && column != "id" => {
            format!("ALTER TABLE {table} DROP COLUMN {column} CASCADE")
        }
        5 if column != "id" => format!("ALTER TABLE {table} RENAME COLUMN {column} TO r{n}"),
        6 if column != "id" => {
            format!("ALTER TABLE {table} ALTER COLUMN {column} TYPE text USING {column}::text")
        }
        7 => format!("ALTER TABLE {table} RENAME TO r{n}"),
        8 => format!("DROP TABLE {table} CASCADE"),
        9 | 10 => {
            let (kind, no_data) = match rng.below(4) {
                0 => ("MATERIALIZED VIEW", " WITH NO DATA"),
                1 => ("MATERIALIZED VIEW", ""),
                _ => ("VIEW", ""),
            };
            format!(
                "CREATE {kind} {} AS SELECT x.id, x.{column} AS c FROM {table} x JOIN {other} y ON y.id = x.id{no_data}",
                fresh("v")
            )
        }
        11 if !m.views.is_empty() => format!("DROP VIEW IF EXISTS {} CASCADE", rng.pick(&m.views)),
        12 => format!("COMMENT ON TABLE {table} IS 'table ''{n}''\n\tnote'"),
        13 => format!("COMMENT ON COLUMN {table}.{column} IS 'column {n}'"),
        14 => format!("CREATE INDEX i{n} ON {table} ({column})"),
        15 if !m.indexes.is_empty() => format!("DROP INDEX {}", rng.pick(&m.indexes)),
        16 => format!("ALTER TABLE {table} ADD CONSTRAINT k{n} CHECK (id > -{n})"),
        17 if !m.constraints.is_empty() => {
            let (t, k) = rng.pick(&m.constraints);
            format!("ALTER TABLE {t} DROP CONSTRAINT {k}")
        }
        18 => format!("CREATE SCHEMA s{n}"),
        19 if schema != "public" => format!("ALTER SCHEMA {schema} RENAME TO s{n}"),
        20 => format!("ALTER TABLE {table} SET SCHEMA {schema}"),
        21 => {
            if m.types.is_empty() || rng.below(2) == 0 {
                format!("CREATE TYPE {} AS ENUM ('a', 'b')", fresh("e"))
            } else {
                let ty = rng.pick(&m.types);
                match rng.below(2) {
                    0 => format!("ALTER TABLE {table} ADD COLUMN c{n} {ty}"),
                    _ => format!("ALTER TYPE {ty} RENAME VALUE 'a' TO 'a{n}'"),
                }
            }
        }
        22 => {
            if m.partitioned.is_empty() || rng.below(3) == 0 {
                format!(
                    "CREATE TABLE {} (id int, k int) PARTITION BY LIST (k)",
                    fresh("p")
                )
            } else {
                let parent = rng.pick(&m.partitioned);
                match (rng.below(3), m.partitions.is_empty()) {
                    (0, false) => format!(
                        "ALTER TABLE {parent} DETACH PARTITION {}",
                        rng.pick(&m.partitions)
                    ),
                    (1, _) => format!("ALTER TABLE {parent} ADD COLUMN c{n} text"),
                    _ => format!(
                        "CREATE TABLE {} PARTITION OF {parent} FOR VALUES IN ({n})",
                        fresh("q")
                    ),
                }
            }
        }
        23 => format!("ALTER TABLE {table} OWNER TO {owner}"),
        24 => format!("GRANT SELECT ON {table} TO PUBLIC"),
        25 => {
            if m.functions.is_empty() || rng.below(2) == 0 {
                format!(
                    "CREATE FUNCTION {}() RETURNS bigint LANGUAGE sql AS $f$ SELECT count(*) FROM {table} $f$",
                    fresh("f")
                )
            } else {
                format!("ALTER FUNCTION {}() RENAME TO f{n}", rng.pick(&m.functions))
            }
        }
        26 => format!(
            "CREATE TRIGGER g{n} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION public.touch()"
        ),
        27 => format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; CREATE POLICY o{n} ON {table} USING (id > 0)"
        ),
        28 if column != "id" => format!(
            "ALTER TABLE {table} ALTER COLUMN {column} {}",
            rng.pick(&[
                "SET NOT NULL",
                "DROP NOT NULL",
                "SET DEFAULT NULL",
                "DROP DEFAULT"
            ])
        ),
        29 => {
            if m.sequences.is_empty() || rng.below(2) == 0 {
                format!("CREATE SEQUENCE {}", fresh("sq"))
            } else {
                format!("DROP SEQUENCE {}", rng.pick(&m.sequences))
            }
        }
        _ => format!("COMMENT ON TABLE {table} IS 'step {n}'"),
    }
}

/// With routines in the database, a relation created, renamed or dropped takes the full read
/// (routine lineage resolves names in their bodies); everything else is read targeted.
#[tokio::test]
async fn targeted_reads_leave_nothing_for_the_full_read() {
    equivalence("targeted_reads_leave_nothing_for_the_full_read", true).await;
}

/// Without routines, creates, renames and drops are read targeted too.
#[tokio::test]
async fn targeted_reads_without_routines_leave_nothing_for_the_full_read() {
    equivalence(
        "targeted_reads_without_routines_leave_nothing_for_the_full_read",
        false,
    )
    .await;
}

/// A capture of `env`'s database after its first poll, with the DDL trigger installed and a
/// logical slot of the test's own (its name returned) to read the trigger's messages from.
async fn traced_capture(env: &TestEnv) -> (pgmeta::capture::Capture<JsonlSink>, String) {
    pgmeta::pg::ddl_trigger::install(&env.client, "test")
        .await
        .expect("install");
    let slot = format!("{}_prop", env.db);
    env.sql(&format!(
        "SELECT pg_catalog.pg_create_logical_replication_slot('{slot}', 'pgoutput')"
    ))
    .await;
    let mut capture = jsonl_capture(env);
    let baseline = capture.poll_once().await;
    assert!(baseline.errors.is_empty(), "{:?}", baseline.errors);
    (capture, slot)
}

/// A capture of `env`'s database on its state directory, writing to `events.jsonl` there.
fn jsonl_capture(env: &TestEnv) -> pgmeta::capture::Capture<JsonlSink> {
    let out = env.state.path().join("events.jsonl");
    let mut config = env.config();
    config.output.path = Some(out.clone());
    let target = pgmeta::pg::PgTarget::resolve(&config.source, &|_| None).expect("target");
    pgmeta::capture::Capture::new(&config, target, JsonlSink::new(Some(out)), false)
        .expect("capture")
}

/// A start that read nothing (the catalog was as kept with the state) still knows that the
/// catalog has routine bodies, whose lineage resolves relation names: a rename after it is
/// read whole, as it is after a start that read the catalog.
#[tokio::test]
async fn a_rename_after_a_start_that_read_nothing_updates_routine_lineage() {
    let env = TestEnv::new("kept_routines").await;
    if crate::common::skip_before_14(
        &env,
        "a_rename_after_a_start_that_read_nothing_updates_routine_lineage",
    ) {
        return;
    }
    env.sql(
        "CREATE TABLE public.src (id int PRIMARY KEY);
         CREATE TABLE public.dst (id int PRIMARY KEY);
         CREATE FUNCTION public.copy() RETURNS void LANGUAGE sql
           AS $$ INSERT INTO public.dst (id) SELECT id FROM public.src $$;",
    )
    .await;
    let (capture, slot) = traced_capture(&env).await;
    drop(capture);
    let mut capture = jsonl_capture(&env);
    let start = capture.poll_once().await;
    assert!(start.errors.is_empty(), "start: {:?}", start.errors);
    assert!(start.reports[0].unchanged, "the start read the catalog");

    env.sql("ALTER TABLE public.src RENAME TO source").await;
    let touched = touched_since(&env.client, &slot).await;
    let read = capture.read_touched_once(&touched).await;
    assert!(read.errors.is_empty(), "rename: {:?}", read.errors);
    let report = &read.reports[0];
    assert!(
        !report.targeted && report.lineage_changes > 0,
        "the rename was not read whole, or the routine's lineage was not updated: {report:?}"
    );
    let full = capture.poll_once().await;
    assert!(full.errors.is_empty(), "full: {:?}", full.errors);
    let report = &full.reports[0];
    assert!(
        report.unchanged || (report.changes == 0 && report.lineage_changes == 0),
        "the full read after the rename emitted {report:?}"
    );
}

/// A table in the middle of a chain of FKs is read with its neighbours, whose own FKs
/// reference tables the read leaves out: those keys are named without reading their tables,
/// so the read stays targeted (it fell back to the full read before).
#[tokio::test]
async fn a_table_in_a_chain_of_foreign_keys_is_read_targeted() {
    let env = TestEnv::new("fkchain").await;
    if crate::common::skip_before_14(&env, "a_table_in_a_chain_of_foreign_keys_is_read_targeted") {
        return;
    }
    env.sql(
        "CREATE TABLE public.a (id int PRIMARY KEY);
         CREATE TABLE public.b (id int PRIMARY KEY, a_id int REFERENCES public.a (id));
         CREATE TABLE public.c (id int PRIMARY KEY, b_id int REFERENCES public.b (id));
         CREATE TABLE public.d (id int PRIMARY KEY, c_id int REFERENCES public.c (id));
         CREATE TABLE public.e (id int PRIMARY KEY, d_id int REFERENCES public.d (id));",
    )
    .await;
    let (mut capture, slot) = traced_capture(&env).await;
    for ddl in [
        "ALTER TABLE public.c ADD COLUMN note text",
        "ALTER TABLE public.c RENAME COLUMN id TO c_key",
        "COMMENT ON TABLE public.d IS 'middle'",
    ] {
        env.sql(ddl).await;
        let touched = touched_since(&env.client, &slot).await;
        let read = capture.read_touched_once(&touched).await;
        assert!(read.errors.is_empty(), "{ddl}: {:?}", read.errors);
        let report = &read.reports[0];
        assert!(
            report.targeted && report.changes > 0,
            "{ddl}: {report:?} (touched: {touched:?})"
        );
        let full = capture.poll_once().await;
        assert!(full.errors.is_empty(), "{ddl}: {:?}", full.errors);
        let report = &full.reports[0];
        assert!(
            report.unchanged || report.changes == 0,
            "{ddl}: the full read after the targeted one emitted {report:?}"
        );
    }
}

async fn equivalence(test: &str, routines: bool) {
    let env = TestEnv::new("targeted").await;
    if crate::common::skip_before_14(&env, test) {
        return;
    }
    let steps: usize = std::env::var("PGMETA_TARGETED_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("PGMETA_TARGETED_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let owner = format!("{}_owner", env.db);
    env.sql(&format!(
        "DO $$ BEGIN CREATE ROLE {owner}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         CREATE SCHEMA app;
         CREATE TABLE public.base (id serial PRIMARY KEY, a text, b int);
         CREATE TABLE app.orders (id int PRIMARY KEY, base_id int REFERENCES public.base (id), note text);
         CREATE VIEW app.recent AS SELECT o.id, o.note, b.a FROM app.orders o JOIN public.base b ON b.id = o.base_id;"
    ))
    .await;
    if routines {
        env.sql("CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NEW; END $f$")
            .await;
    }
    let (mut capture, slot) = traced_capture(&env).await;

    let mut rng = Rng::new(seed);
    let (mut targeted, mut read_targeted, mut applied) = (0, 0, 0);
    for step in 0..steps {
        let m = model(&env.client).await;
        let group: Vec<String> = (0..1 + rng.below(3))
            .map(|i| statement(&mut rng, &m, step * 10 + i, &owner, routines))
            .collect();
        let sql = format!("BEGIN; {}; COMMIT;", group.join("; "));
        if env.client.batch_execute(&sql).await.is_err() {
            env.client
                .batch_execute("ROLLBACK")
                .await
                .expect("rollback");
            touched_since(&env.client, &slot).await;
            continue;
        }
        applied += 1;
        let touched = touched_since(&env.client, &slot).await;
        targeted += usize::from(touched.everything.is_none());
        let read = capture.read_touched_once(&touched).await;
        assert!(
            read.errors.is_empty(),
            "seed {seed} step {step}: {sql}\n{:?}",
            read.errors
        );
        read_targeted += usize::from(read.reports.iter().all(|r| r.targeted));
        let full = capture.poll_once().await;
        assert!(
            full.errors.is_empty(),
            "seed {seed} step {step}: {sql}\n{:?}",
            full.errors
        );
        let report = &full.reports[0];
        assert!(
            report.unchanged || (report.changes == 0 && report.lineage_changes == 0),
            "seed {seed} step {step}: after the targeted read of {touched:?}, the full read still emitted {} changes and {} lineage changes for:\n{sql}",
            report.changes,
            report.lineage_changes
        );
    }
    eprintln!(
        "{test}: seed {seed}, {applied} of {steps} transactions applied, {targeted} named only relations, {read_targeted} read targeted"
    );
    assert!(
        applied >= steps / 3 && read_targeted >= applied / 4,
        "seed {seed}: {applied} of {steps} transactions applied, {targeted} named only relations, {read_targeted} read targeted"
    );
}
