//! The DDL signal in the WAL. PostgreSQL's logical decoding carries no DDL, so an event trigger
//! on `ddl_command_end` and `sql_drop` writes one transactional logical message per affected
//! object (`pg_logical_emit_message(true, 'pgmeta', json)`). The messages travel through the
//! slot between the transaction's BEGIN and COMMIT, and a rolled-back DDL leaves none. Each
//! names its object (catalog and OID; a dropped object by its address), so the capture reads
//! only what the transaction touched (`source::touched`).
//!
//! The same trigger marks each transaction that runs DDL in `pgmeta.ddl_backend`: one row per
//! backend (keyed by its pid, so concurrent DDL never waits on another session's row), holding
//! the transaction's xid. Written in the DDL's transaction, a marker becomes visible exactly
//! when the change does, so the catalog poller can tell whether DDL committed since its last
//! check from a few index rows instead of the catalogs' fingerprint, which scans all of
//! `pg_attribute` (see `pg::catalog::signature`). Rows of backends that are gone are pruned by
//! [`prune`], which the poller calls.
//!
//! Everything lives in the `pgmeta` schema (excluded from capture) plus an empty publication,
//! which `pgoutput` needs to start but which publishes no table changes.

use super::PgError;
use tokio_postgres::Client;

pub const SCHEMA: &str = "pgmeta";
pub const PUBLICATION: &str = "pgmeta_ddl";
pub const MESSAGE_PREFIX: &str = "pgmeta";

const INSTALL: &str = r#"
CREATE SCHEMA IF NOT EXISTS pgmeta;
COMMENT ON SCHEMA pgmeta IS 'pgmeta-capture: DDL event trigger (pgmeta-capture uninstall removes it)';
CREATE TABLE IF NOT EXISTS pgmeta.ddl_backend (
  pid int4 PRIMARY KEY,
  xid int8 NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ddl_backend_xid ON pgmeta.ddl_backend (xid);
COMMENT ON TABLE pgmeta.ddl_backend IS 'pgmeta-capture: the last transaction of each backend that ran DDL';
GRANT USAGE ON SCHEMA pgmeta TO PUBLIC;
GRANT SELECT ON pgmeta.ddl_backend TO PUBLIC;
-- Security definer: the event trigger runs as whoever runs the DDL, who may not write here.
CREATE OR REPLACE FUNCTION pgmeta.note_ddl() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  INSERT INTO pgmeta.ddl_backend AS b (pid, xid, at)
  VALUES (pg_backend_pid(), txid_current(), clock_timestamp())
  ON CONFLICT (pid) DO UPDATE SET xid = excluded.xid, at = excluded.at
  WHERE b.xid <> excluded.xid
$fn$;
-- Deletes the markers of backends that are gone, made by transactions that the snapshot
-- `horizon` (taken by a poller at least ten minutes ago) sees and last written ten minutes
-- ago or more: every poller that still trusts the markers has checked since.
CREATE OR REPLACE FUNCTION pgmeta.prune_ddl_backends(horizon text) RETURNS int8
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  WITH gone AS (
    DELETE FROM pgmeta.ddl_backend
    WHERE ctid = ANY (ARRAY(
      SELECT b.ctid FROM pgmeta.ddl_backend b
      WHERE txid_visible_in_snapshot(b.xid, horizon::txid_snapshot)
        AND b.at < now() - interval '10 minutes'
        AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = b.pid)
      FOR UPDATE SKIP LOCKED))
    RETURNING 1)
  SELECT count(*) FROM gone
$fn$;
CREATE OR REPLACE FUNCTION pgmeta.emit_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE r record;
BEGIN
  PERFORM pgmeta.note_ddl();
  IF TG_EVENT = 'ddl_command_end' THEN
    FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
      PERFORM pg_catalog.pg_logical_emit_message(true, 'pgmeta', pg_catalog.json_build_object(
        'event', TG_EVENT, 'tag', r.command_tag, 'object_type', r.object_type,
        'identity', r.object_identity, 'schema', r.schema_name, 'xid', pg_catalog.txid_current(),
        'classid', r.classid::pg_catalog.regclass::text, 'objid', r.objid::int8)::text);
    END LOOP;
  ELSE
    FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() LOOP
      PERFORM pg_catalog.pg_logical_emit_message(true, 'pgmeta', pg_catalog.json_build_object(
        'event', TG_EVENT, 'tag', TG_TAG, 'object_type', r.object_type,
        'identity', r.object_identity, 'schema', r.schema_name, 'xid', pg_catalog.txid_current(),
        'original', r.original, 'address_names', r.address_names,
        'classid', r.classid::pg_catalog.regclass::text, 'objid', r.objid::int8)::text);
    END LOOP;
  END IF;
END
$fn$;
DROP EVENT TRIGGER IF EXISTS pgmeta_ddl_command_end;
CREATE EVENT TRIGGER pgmeta_ddl_command_end ON ddl_command_end EXECUTE FUNCTION pgmeta.emit_ddl();
DROP EVENT TRIGGER IF EXISTS pgmeta_sql_drop;
CREATE EVENT TRIGGER pgmeta_sql_drop ON sql_drop EXECUTE FUNCTION pgmeta.emit_ddl();
DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'pgmeta_ddl') THEN
    CREATE PUBLICATION pgmeta_ddl;
  END IF;
END $do$;
"#;

const UNINSTALL: &str = "
DROP EVENT TRIGGER IF EXISTS pgmeta_ddl_command_end;
DROP EVENT TRIGGER IF EXISTS pgmeta_sql_drop;
DROP PUBLICATION IF EXISTS pgmeta_ddl;
DROP SCHEMA IF EXISTS pgmeta CASCADE;
";

/// Why the DDL signal cannot be installed, in words that say what to grant.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "creating the DDL event trigger needs a superuser (CREATE EVENT TRIGGER is superuser-only); ask one to run `pgmeta-capture install` once, or leave replication.enabled off to capture by polling"
    )]
    NotSuperuser,
    #[error(transparent)]
    Pg(#[from] PgError),
}

/// Installs (or refreshes) the trigger, its function and the publication. Idempotent.
pub async fn install(client: &Client, target: &str) -> Result<(), InstallError> {
    let row = client
        .query_one(
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| PgError::query("install", target, &e))?;
    if !row.get::<_, bool>(0) {
        return Err(InstallError::NotSuperuser);
    }
    client
        .batch_execute(&format!("BEGIN; {INSTALL} COMMIT;"))
        .await
        .map_err(|e| PgError::query("install", target, &e))?;
    Ok(())
}

/// How old a poller's snapshot must be before markers it sees are pruned: twice
/// [`catalog::FINGERPRINT_EVERY`](crate::pg::catalog::FINGERPRINT_EVERY), the longest a
/// poller trusts the markers without a check in between, so no poller that trusts them can
/// have missed a pruned one. `pgmeta.prune_ddl_backends` keeps the same ten minutes.
pub const PRUNE_HORIZON: std::time::Duration =
    std::time::Duration::from_secs(2 * crate::pg::catalog::FINGERPRINT_EVERY.as_secs());

/// Deletes the markers of backends that are gone and of transactions that `horizon`, a
/// snapshot of the caller's at least [`PRUNE_HORIZON`] old, sees. The number deleted.
pub async fn prune(client: &Client, target: &str, horizon: &str) -> Result<i64, PgError> {
    let row = client
        .query_one("SELECT pgmeta.prune_ddl_backends($1)", &[&horizon])
        .await
        .map_err(|e| PgError::query("prune DDL markers", target, &e))?;
    row.try_get(0).map_err(|e| PgError::Decode {
        query: "prune DDL markers",
        reason: format!("column 0: {e}"),
    })
}

/// Removes the trigger, schema and publication, and `slot` if given and present. Idempotent.
pub async fn uninstall(client: &Client, target: &str, slot: Option<&str>) -> Result<(), PgError> {
    client
        .batch_execute(UNINSTALL)
        .await
        .map_err(|e| PgError::query("uninstall", target, &e))?;
    if let Some(slot) = slot {
        client
            .execute(
                "SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .map_err(|e| PgError::query("drop slot", target, &e))?;
    }
    Ok(())
}
