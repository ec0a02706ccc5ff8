//! Which tables and columns a table is joined with, from the usage workflow's query log:
//! `PUT /tables/{id}/joins` stores one day's `TableJoins`; a table read with `fields=joins`
//! carries the sum of the last 30 days, as OpenMetadata's does.

use super::api::{ApiError, Shared, bad, rejected};
use super::store::{Include, Store, StoreError};
use crate::openmetadata::kind;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The window `fields=joins` sums over.
const DAYS: i32 = 30;

pub(super) fn router() -> axum::Router<Shared> {
    axum::Router::new().route("/api/v1/tables/{id}/joins", put(put_joins))
}

async fn put_joins(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(rejected)?;
    let day = body
        .get("startDate")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("startDate is required (YYYY-MM-DD)"))?
        .to_owned();
    for list in ["columnJoins", "directTableJoins"] {
        if body
            .get(list)
            .is_some_and(|v| !v.is_array() && !v.is_null())
        {
            return Err(bad(format!("{list} must be an array")));
        }
    }
    app.store
        .get(&kind::TABLE, false, &id, Include::NonDeleted)
        .await?;
    app.store.put_joins(&id, &day, &body).await?;
    let joins = joins_of(&app.store, &id).await?;
    Ok(Json(json!({"id": id, "joins": joins})).into_response())
}

/// The `joins` field of a table: the last 30 days summed; null when it has none.
pub(super) async fn joins_of(store: &Store, id: &str) -> Result<Value, StoreError> {
    Ok(sum(&store.joins(id, DAYS).await?))
}

/// Sums days of `TableJoins` (newest first) into one, counts added per joined column and
/// per directly joined table.
fn sum(days: &[(String, Value)]) -> Value {
    let Some((latest, _)) = days.first() else {
        return Value::Null;
    };
    let mut columns: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut direct: BTreeMap<String, i64> = BTreeMap::new();
    let count = |j: &Value| j.get("joinCount").and_then(Value::as_i64).unwrap_or(0);
    let fqn = |j: &Value| {
        j.get("fullyQualifiedName")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    for (_, day) in days {
        for c in day
            .get("columnJoins")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = c.get("columnName").and_then(Value::as_str) else {
                continue;
            };
            let with = columns.entry(name.to_owned()).or_default();
            for j in c
                .get("joinedWith")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(f) = fqn(j) {
                    *with.entry(f).or_default() += count(j);
                }
            }
        }
        for j in day
            .get("directTableJoins")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(f) = fqn(j) {
                *direct.entry(f).or_default() += count(j);
            }
        }
    }
    let joined = |m: BTreeMap<String, i64>| -> Vec<Value> {
        m.into_iter()
            .map(|(f, n)| json!({"fullyQualifiedName": f, "joinCount": n}))
            .collect()
    };
    json!({
        "startDate": latest,
        "dayCount": DAYS,
        "columnJoins": columns.into_iter().map(|(c, m)| json!({"columnName": c, "joinedWith": joined(m)})).collect::<Vec<_>>(),
        "directTableJoins": joined(direct),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_sum_per_joined_column_and_table() {
        let day = |d: &str, n: i64| {
            (
                d.to_owned(),
                json!({"startDate": d, "columnJoins": [
                    {"columnName": "author_id", "joinedWith": [{"fullyQualifiedName": "s.d.c.authors.author_id", "joinCount": n}]}],
                    "directTableJoins": [{"fullyQualifiedName": "s.d.c.books", "joinCount": 1}]}),
            )
        };
        let total = sum(&[day("2026-11-30", 2), day("2026-11-29", 3)]);
        assert_eq!(total["startDate"], "2026-11-30");
        assert_eq!(total["columnJoins"][0]["joinedWith"][0]["joinCount"], 5);
        assert_eq!(total["directTableJoins"][0]["joinCount"], 2);
        assert_eq!(sum(&[]), Value::Null);
    }
}
