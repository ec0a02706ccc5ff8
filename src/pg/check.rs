//! `pgmeta-capture check`: what pgmeta would use on this server, each with the grant or
//! setting that fixes it (OpenMetadata's "Test Connection", with the fix spelled out).

use super::{PgError, PgTarget};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Capability {
    pub name: &'static str,
    /// Capture cannot run without it (the others enable optional features).
    pub required: bool,
    pub status: Status,
    /// What was found, or what to run to fix it.
    pub detail: String,
}

#[derive(Debug)]
pub struct Report {
    pub capabilities: Vec<Capability>,
}

impl Report {
    /// True when every required capability passed.
    pub fn ok(&self) -> bool {
        self.capabilities
            .iter()
            .all(|c| !c.required || c.status == Status::Pass)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:<6} {:<9} DETAIL",
            "CAPABILITY", "RESULT", "NEEDED BY"
        )?;
        for c in &self.capabilities {
            let result = match c.status {
                Status::Pass => "ok",
                Status::Fail => "FAIL",
            };
            let needed = if c.required { "capture" } else { "optional" };
            writeln!(f, "{:<28} {:<6} {:<9} {}", c.name, result, needed, c.detail)?;
        }
        Ok(())
    }
}

fn cap(name: &'static str, required: bool, pass: bool, ok: String, fix: String) -> Capability {
    Capability {
        name,
        required,
        status: if pass { Status::Pass } else { Status::Fail },
        detail: if pass { ok } else { fix },
    }
}

/// Connects and checks. A failed connection is itself a report (with the GRANT it needs).
pub async fn check(target: &PgTarget) -> Report {
    let client = match target.connect().await {
        Ok(c) => c,
        Err(e) => {
            let fix = match &e {
                PgError::Connect { reason, .. }
                    if reason.contains("42501")
                        || reason.contains("permission denied for database") =>
                {
                    format!(
                        "{e}; fix: GRANT CONNECT ON DATABASE {} TO <role>",
                        target.dbname()
                    )
                }
                _ => e.to_string(),
            };
            return Report {
                capabilities: vec![cap("connect", true, false, String::new(), fix)],
            };
        }
    };
    let mut out = Vec::new();
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), current_user::text, r.rolsuper, r.rolreplication,
                    pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'),
                    current_setting('wal_level'),
                    current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_stat_statements'),
                    EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = 'pgmeta_ddl_command_end'),
                    (SELECT string_agg(quote_ident(nspname), ', ' ORDER BY nspname) FROM pg_catalog.pg_namespace
                      WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
                        AND NOT pg_catalog.has_schema_privilege(oid, 'USAGE')),
                    current_setting('server_version_num')::int4,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = 'pgmeta' AND c.relname = 'ddl_backend')
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await;
    let row = match row {
        Ok(r) => r,
        Err(e) => {
            out.push(cap(
                "catalog readable",
                true,
                false,
                String::new(),
                PgError::query("check", &target.to_string(), &e).to_string(),
            ));
            return Report { capabilities: out };
        }
    };
    let (version, user): (String, String) = (row.get(0), row.get(1));
    let (superuser, replication, read_stats): (bool, bool, bool) =
        (row.get(2), row.get(3), row.get(4));
    out.push(cap(
        "connect",
        true,
        true,
        format!("PostgreSQL {version}, as {user}"),
        String::new(),
    ));
    let catalog = client
        .query_one(&super::catalog::fingerprint_sql(), &[])
        .await;
    out.push(cap(
        "catalog readable",
        true,
        catalog.is_ok(),
        "pg_catalog queries answer".into(),
        catalog
            .err()
            .map(|e| PgError::query("catalog", &target.to_string(), &e).to_string())
            .unwrap_or_default(),
    ));
    let no_usage: Option<String> = row.get(9);
    out.push(cap(
        "USAGE on schemas",
        false,
        no_usage.is_none(),
        "on every schema".into(),
        format!("none on {}: GRANT USAGE ON SCHEMA <schema> TO {user} (their objects are still listed; some definitions may be hidden)", no_usage.unwrap_or_default()),
    ));
    let version_num: i32 = row.get(10);
    out.push(cap(
        "DDL messages (PG 14+)",
        false,
        version_num >= 140_000,
        "pgoutput carries the trigger's messages".into(),
        format!("PostgreSQL {version} has no pgoutput messages: replication capture polls instead (upgrade to 14+ for streaming)"),
    ));
    let wal_level: String = row.get(5);
    out.push(cap("wal_level = logical", false, wal_level == "logical", "logical".into(), format!("is {wal_level}: ALTER SYSTEM SET wal_level = logical, then restart (replication capture)")));
    out.push(cap(
        "REPLICATION",
        false,
        superuser || replication,
        "role may replicate".into(),
        format!("ALTER ROLE {user} REPLICATION (replication capture)"),
    ));
    let free_slots: i32 = row.get(6);
    out.push(cap(
        "free replication slots",
        false,
        free_slots > 0,
        format!("{free_slots} free"),
        "none free: raise max_replication_slots or drop unused slots".into(),
    ));
    let installed: bool = row.get(8);
    let marker: bool = row.get(11);
    out.push(cap(
        "DDL event trigger",
        false,
        installed || superuser,
        match (installed, marker) {
            (true, true) => "installed".into(),
            (true, false) => "installed by an older pgmeta, without the DDL marker that makes a busy database's unchanged poll cheap: run pgmeta-capture install again".into(),
            (false, _) => "can be installed (superuser): pgmeta-capture install".into(),
        },
        "not installed, and CREATE EVENT TRIGGER needs a superuser: have one run pgmeta-capture install".into(),
    ));
    let pgss: bool = row.get(7);
    out.push(cap("pg_stat_statements", false, pgss, "installed".into(), "CREATE EXTENSION pg_stat_statements (with shared_preload_libraries = 'pg_stat_statements') for usage".into()));
    out.push(cap(
        "pg_read_all_stats",
        false,
        superuser || read_stats,
        "may read all statistics".into(),
        format!("GRANT pg_read_all_stats TO {user} (other users' query texts, for usage)"),
    ));
    Report { capabilities: out }
}
