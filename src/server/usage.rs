//! Usage routes: a daily count per entity. `POST` adds to the day's count (OpenMetadata's
//! report), `PUT` sets it (create or update), so a client that sends day totals is idempotent.

use super::api::{ApiError, Shared, bad, kind_of_type};
use super::store::{Include, Store, StoreError, UsageDay, reference};
use crate::openmetadata::kind;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;

type ApiResult = Result<Response, ApiError>;

pub(super) fn router() -> axum::Router<Shared> {
    axum::Router::new()
        .route(
            "/api/v1/usage/{entity_type}/{id}",
            post(|s, p, b| report(false, s, p, b))
                .put(|s, p, b| report(true, s, p, b))
                .get(read),
        )
        .route(
            "/api/v1/usage/compute.percentile/{entity_type}/{date}",
            post(compute_percentile),
        )
}

/// `POST /usage/compute.percentile/{entityType}/{date}`: ranks the day's counts of every
/// entity of the type (the usage workflow calls it after reporting a day).
async fn compute_percentile(
    State(app): State<Shared>,
    Path((entity_type, date)): Path<(String, String)>,
) -> ApiResult {
    let k = kind_of_type(&entity_type)?;
    let ranked = app.store.compute_percentile(k.collection, &date).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({"entityType": k.entity_type, "date": date, "ranked": ranked})),
    )
        .into_response())
}

async fn report(
    replace: bool,
    State(app): State<Shared>,
    Path((entity_type, id)): Path<(String, String)>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(super::api::rejected)?;
    let k = kind_of_type(&entity_type)?;
    let date = body
        .get("date")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("date is required (YYYY-MM-DD)"))?;
    let count = body
        .get("count")
        .and_then(Value::as_i64)
        .filter(|c| *c >= 0)
        .ok_or_else(|| bad("count is required (a non-negative integer)"))?;
    app.store.get(k, false, &id, Include::NonDeleted).await?;
    app.store.put_usage(&id, date, count, replace).await?;
    super::metrics()
        .entity_writes
        .with_label_values(&["usage", if replace { "updated" } else { "added" }])
        .inc();
    usage_of(&app, k, &id, Some(date), 1).await
}

async fn read(
    State(app): State<Shared>,
    Path((entity_type, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let k = kind_of_type(&entity_type)?;
    let days = match q.get("days") {
        None => 1,
        Some(d) => d
            .parse::<i32>()
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or_else(|| bad("days must be an integer from 1 to 365"))?,
    };
    usage_of(&app, k, &id, q.get("date").map(String::as_str), days).await
}

async fn usage_of(
    app: &Shared,
    k: &'static kind::Kind,
    id: &str,
    date: Option<&str>,
    days: i32,
) -> ApiResult {
    let e = app.store.get(k, false, id, Include::All).await?;
    let rows = app.store.usage(id, date, days).await?;
    let usage: Vec<Value> = rows
        .iter()
        .map(|u| json!({"date": u.day, "dailyStats": {"count": u.count, "percentileRank": u.percentile}}))
        .collect();
    Ok(Json(json!({"entity": reference(k, &e), "usage": usage})).into_response())
}

/// The `usageSummary` field: the latest day, with 7- and 30-day sums ending there.
pub(super) async fn summary(store: &Store, id: &str) -> Result<Value, StoreError> {
    let Some(latest) = store.usage(id, None, 3650).await?.into_iter().next() else {
        return Ok(Value::Null);
    };
    let sum = |rows: Vec<UsageDay>| rows.iter().map(|u| u.count).sum::<i64>();
    let week = sum(store.usage(id, Some(&latest.day), 7).await?);
    let month = sum(store.usage(id, Some(&latest.day), 30).await?);
    Ok(json!({
        "date": latest.day,
        "dailyStats": {"count": latest.count, "percentileRank": latest.percentile},
        "weeklyStats": {"count": week, "percentileRank": latest.weekly_percentile},
        "monthlyStats": {"count": month, "percentileRank": latest.monthly_percentile},
    }))
}
