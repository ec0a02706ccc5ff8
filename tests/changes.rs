//! Changes after the first snapshot: exactly the right CREATE / UPDATE / DELETE events, with
//! tombstones, and nothing repeated across restarts.

use crate::common::{Record, TestEnv, poll_ok, summary};
use pgmeta::event::Op;

fn s(op: &str, fqn: String) -> (String, String) {
    (op.to_string(), fqn)
}

fn event<'a>(records: &'a [Record], fqn: &str, op: Op) -> &'a pgmeta::event::MetadataEvent {
    records
        .iter()
        .filter_map(|r| r.event.as_ref())
        .find(|e| e.fqn == fqn && e.op == op)
        .unwrap_or_else(|| panic!("no {op:?} event for {fqn}"))
}

#[tokio::test]
async fn alter_drop_create_and_rename_emit_exactly_the_changes() {
    let env = TestEnv::new("changes").await;
    let role = format!("{}_owner", env.db);
    env.sql(&format!(
        "CREATE ROLE {role} NOLOGIN;
         CREATE SCHEMA app;
         CREATE TABLE app.accounts (id int PRIMARY KEY, email text, legacy text, amount int);
         CREATE TABLE app.orders (id int PRIMARY KEY, account_id int);
         CREATE TABLE app.doomed (id int);
         CREATE TABLE app.old_name (id int);
         CREATE VIEW app.rich AS SELECT id FROM app.accounts WHERE id > 100;
         CREATE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
         CREATE FUNCTION app.g() RETURNS int LANGUAGE sql AS 'SELECT 1';"
    ))
    .await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let first = env.records();
    let fqn = |name: &str| format!("svc.{}.app.{name}", env.db);

    env.sql(&format!(
        "ALTER TABLE app.accounts ADD COLUMN phone text;
         ALTER TABLE app.accounts DROP COLUMN legacy;
         ALTER TABLE app.accounts RENAME COLUMN email TO mail;
         ALTER TABLE app.accounts ALTER COLUMN amount TYPE bigint;
         COMMENT ON TABLE app.accounts IS 'customer accounts';
         ALTER TABLE app.accounts OWNER TO {role};
         ALTER TABLE app.orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES app.accounts(id);
         DROP TABLE app.doomed;
         CREATE TABLE app.fresh (id int);
         ALTER TABLE app.old_name RENAME TO new_name;
         CREATE OR REPLACE VIEW app.rich AS SELECT id FROM app.accounts WHERE id > 1000;
         CREATE OR REPLACE FUNCTION app.f(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 1';
         DROP FUNCTION app.g();"
    ))
    .await;
    poll_ok(&mut capture).await;
    let second = env.records_since(&first);
    assert_eq!(
        summary(&second),
        vec![
            s("CREATE", fqn("fresh")),
            s("DELETE", fqn("doomed")),
            s("DELETE", fqn("g()")),
            s("TOMBSTONE", fqn("doomed")),
            s("TOMBSTONE", fqn("g()")),
            s("TOMBSTONE", fqn("old_name")),
            s("UPDATE", fqn("accounts")),
            s("UPDATE", fqn("f(x integer)")),
            s("UPDATE", fqn("new_name")),
            s("UPDATE", fqn("orders")),
            s("UPDATE", fqn("rich")),
        ]
    );
    let accounts = event(&second, &fqn("accounts"), Op::Update);
    assert_eq!(
        accounts.changed_fields,
        vec![
            "owner",
            "description",
            "ddl",
            // The owner's own rights moved with the table.
            "privileges",
            "columns.mail.name",
            "columns.amount.data_type",
            "columns.phone",
            "columns.legacy"
        ]
    );
    assert_eq!(accounts.entity_version, 2);
    let t = accounts.table.as_ref().expect("table state");
    assert_eq!(
        (t.owner.as_str(), t.description.as_deref()),
        (role.as_str(), Some("customer accounts"))
    );
    assert_eq!(
        t.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["id", "mail", "amount", "phone"]
    );
    assert_eq!(
        event(&second, &fqn("orders"), Op::Update).changed_fields,
        vec!["ddl", "constraints.orders_account_fk"]
    );
    let renamed = event(&second, &fqn("new_name"), Op::Update);
    assert_eq!(
        (renamed.previous_fqn.clone(), renamed.changed_fields.clone()),
        (
            Some(fqn("old_name")),
            vec!["name".to_string(), "ddl".to_string()]
        )
    );
    assert_eq!(
        renamed.object_id,
        event(&first, &fqn("old_name"), Op::Snapshot).object_id,
        "a rename keeps the entity"
    );
    assert_eq!(
        event(&second, &fqn("rich"), Op::Update).changed_fields,
        vec!["view_definition", "ddl"]
    );
    assert_eq!(
        event(&second, &fqn("f(x integer)"), Op::Update).changed_fields,
        vec!["body"]
    );
    let deleted = event(&second, &fqn("doomed"), Op::Delete);
    assert!(deleted.table.is_none() && deleted.entity_version == 2);
    // On each key, the DELETE comes before its tombstone.
    let doomed: Vec<&Record> = second.iter().filter(|r| r.key == fqn("doomed")).collect();
    assert!(
        doomed[0].event.is_some()
            && doomed[1].event.is_none()
            && doomed[1].event_type == "tombstone"
    );

    // Nothing changed: the signature query says so and nothing is sent.
    let reports = poll_ok(&mut capture).await;
    assert!(reports[0].unchanged);

    // Drop and re-create under the same name: DELETE + tombstone, then CREATE, in that order.
    env.sql("DROP TABLE app.fresh; CREATE TABLE app.fresh (id int, extra int);")
        .await;
    poll_ok(&mut capture).await;
    let third = env.records();
    let fresh: Vec<String> = third
        .iter()
        .filter(|r| r.key == fqn("fresh"))
        .map(|r| {
            r.event
                .as_ref()
                .map_or("TOMBSTONE".to_string(), |e| format!("{:?}", e.op))
        })
        .collect();
    assert_eq!(
        fresh,
        vec!["Create", "Delete", "TOMBSTONE", "Create"],
        "history of the key, in order"
    );
    drop(capture);

    // A restart with nothing changed repeats nothing.
    let before = env.records();
    let mut capture = env.capture().await;
    let reports = poll_ok(&mut capture).await;
    assert_eq!((reports[0].changes, reports[0].records), (0, 0));
    drop(capture);
    assert_eq!(env.records().len(), before.len());

    // Changes made while the capture was down arrive exactly once at the next start.
    env.sql("COMMENT ON COLUMN app.orders.id IS 'order number'; ALTER SCHEMA app RENAME TO shop;")
        .await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let after = env.records_since(&before);
    let shop = |name: &str| format!("svc.{}.shop.{name}", env.db);
    let updates: Vec<(String, Option<String>)> = after
        .iter()
        .filter_map(|r| r.event.as_ref())
        .map(|e| (e.fqn.clone(), e.previous_fqn.clone()))
        .collect();
    assert!(updates.contains(&(
        format!("svc.{}.shop", env.db),
        Some(format!("svc.{}.app", env.db))
    )));
    assert!(updates.contains(&(shop("orders"), Some(fqn("orders")))));
    let orders = event(&after, &shop("orders"), Op::Update);
    // The FK and index definitions name the schema, so they change with it.
    assert_eq!(
        orders.changed_fields,
        vec![
            "schema",
            "ddl",
            "columns.id.description",
            "constraints.orders_account_fk.definition",
            "constraints.orders_account_fk.references",
            "indexes.orders_pkey.definition",
        ]
    );
    // Every entity of the renamed schema moved: one UPDATE and one tombstone each.
    let moved = after.iter().filter(|r| r.event.is_some()).count();
    let tombstones = after.iter().filter(|r| r.event.is_none()).count();
    assert_eq!(moved, tombstones);
    assert_eq!(
        moved,
        1 + 6,
        "schema + accounts, orders, new_name, fresh, rich, f(x integer)"
    );
}

#[tokio::test]
async fn other_databases_and_roles_do_not_disturb_an_unchanged_poll() {
    let env = TestEnv::new("quiet").await;
    env.sql("CREATE TABLE t (id int)").await;
    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    assert!(poll_ok(&mut capture).await[0].unchanged);
    let role = format!("{}_bystander", env.db);
    let other = format!("{}_other", env.db);
    env.sql(&format!(
        "CREATE ROLE {role}; COMMENT ON ROLE {role} IS 'elsewhere'"
    ))
    .await;
    // CREATE DATABASE cannot share a transaction with other statements.
    env.sql(&format!("CREATE DATABASE {other}")).await;
    env.sql(&format!("COMMENT ON DATABASE {other} IS 'not ours'"))
        .await;
    assert!(
        poll_ok(&mut capture).await[0].unchanged,
        "server-wide changes that do not touch this database"
    );
    // But renaming a role that owns something here is a change of every object it owns.
    env.sql(&format!("ALTER TABLE t OWNER TO {role}")).await;
    poll_ok(&mut capture).await;
    env.sql(&format!("ALTER ROLE {role} RENAME TO {role}_renamed"))
        .await;
    let reports = poll_ok(&mut capture).await;
    assert!(!reports[0].unchanged);
    assert_eq!(reports[0].changes, 1, "t's owner");
}
