//! Rows of what hangs off tables, schemas, routines and the database: privileges (ACLs),
//! triggers, row-level security policies, sequences and extensions.

use super::rows::get;
use crate::model::{Extension, Grant, Policy, Sequence, Trigger};
use crate::pg::PgError;
use tokio_postgres::Row;

/// One grantee's privileges on the object `oid` (relation, schema or routine).
pub(super) fn grant(row: &Row, q: &'static str) -> Result<(u32, Grant), PgError> {
    Ok((
        get(row, 0, q)?,
        Grant {
            grantee: get(row, 1, q)?,
            privileges: get(row, 2, q)?,
            grantable: get(row, 3, q)?,
        },
    ))
}

/// `pg_trigger.tgtype` bits (PostgreSQL's `TRIGGER_TYPE_*`).
const ROW: i32 = 1 << 0;
const BEFORE: i32 = 1 << 1;
const INSERT: i32 = 1 << 2;
const DELETE: i32 = 1 << 3;
const UPDATE: i32 = 1 << 4;
const TRUNCATE: i32 = 1 << 5;
const INSTEAD: i32 = 1 << 6;

/// A trigger and its table's OID.
pub(super) fn trigger(row: &Row) -> Result<(u32, Trigger), PgError> {
    let q = "triggers";
    let relid: u32 = get(row, 0, q)?;
    let name: String = get(row, 1, q)?;
    let tgtype: i32 = get(row, 2, q)?;
    let Some(definition) = get::<Option<String>>(row, 5, q)? else {
        return Err(PgError::ConcurrentDdl {
            what: format!("trigger {name} was dropped"),
        });
    };
    let timing = if tgtype & INSTEAD != 0 {
        "INSTEAD OF"
    } else if tgtype & BEFORE != 0 {
        "BEFORE"
    } else {
        "AFTER"
    };
    let events = [
        (INSERT, "INSERT"),
        (UPDATE, "UPDATE"),
        (DELETE, "DELETE"),
        (TRUNCATE, "TRUNCATE"),
    ]
    .iter()
    .filter(|(bit, _)| tgtype & bit != 0)
    .map(|(_, e)| (*e).to_owned())
    .collect();
    let enabled = match get::<String>(row, 3, q)?.as_str() {
        "D" => "DISABLED",
        "R" => "REPLICA",
        "A" => "ALWAYS",
        _ => "ORIGIN",
    };
    Ok((
        relid,
        Trigger {
            name,
            timing: timing.to_owned(),
            events,
            level: if tgtype & ROW != 0 {
                "ROW"
            } else {
                "STATEMENT"
            }
            .to_owned(),
            function: get(row, 6, q)?,
            enabled: enabled.to_owned(),
            is_constraint: get(row, 4, q)?,
            definition,
        },
    ))
}

/// A row-level security policy and its table's OID.
pub(super) fn policy(row: &Row) -> Result<(u32, Policy), PgError> {
    let q = "policies";
    let command = match get::<String>(row, 2, q)?.as_str() {
        "r" => "SELECT",
        "a" => "INSERT",
        "w" => "UPDATE",
        "d" => "DELETE",
        _ => "ALL",
    };
    Ok((
        get(row, 0, q)?,
        Policy {
            name: get(row, 1, q)?,
            command: command.to_owned(),
            permissive: get(row, 3, q)?,
            roles: get(row, 4, q)?,
            using: get(row, 5, q)?,
            with_check: get(row, 6, q)?,
        },
    ))
}

/// A sequence, its OID and its schema's name.
pub(super) fn sequence(row: &Row) -> Result<(u32, String, Sequence), PgError> {
    let q = "sequences";
    Ok((
        get(row, 0, q)?,
        get(row, 1, q)?,
        Sequence {
            name: get(row, 2, q)?,
            data_type: get(row, 3, q)?,
            start: get(row, 4, q)?,
            increment: get(row, 5, q)?,
            min_value: get(row, 6, q)?,
            max_value: get(row, 7, q)?,
            cycle: get(row, 8, q)?,
            owner: get(row, 9, q)?,
            owned_by: get(row, 10, q)?,
            description: get(row, 11, q)?,
            privileges: Vec::new(),
        },
    ))
}

pub(super) fn extension(row: &Row) -> Result<Extension, PgError> {
    let q = "extensions";
    Ok(Extension {
        name: get(row, 0, q)?,
        version: get(row, 1, q)?,
        schema: get(row, 2, q)?,
    })
}
