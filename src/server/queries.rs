//! What the usage workflow adds to a Query entity after creating it: the tables it was used
//! in (`PUT /queries/{id}/usage`, entity references) and who ran it (`PUT /queries/{id}/usedBy`,
//! names). Both add to what the query holds (a repeated call changes nothing), through the
//! same guarded patch as any client's.

use super::api::{ApiError, Shared, bad, kind_of_type, rejected};
use super::store::{Include, reference};
use crate::openmetadata::kind;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde_json::{Value, json};

pub(super) fn router() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/api/v1/queries/{id}/usage", put(used_in))
        .route("/api/v1/queries/{id}/usedBy", put(used_by))
}

/// Adds `new` to the array field `field` of query `id` (items already there are kept once).
async fn add_to(
    app: &Shared,
    id: &str,
    field: &str,
    new: Vec<Value>,
) -> Result<Response, ApiError> {
    let query = app
        .store
        .get(&kind::QUERY, false, id, Include::NonDeleted)
        .await?;
    let mut items = query
        .get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for item in new {
        if !items.contains(&item) {
            items.push(item);
        }
    }
    if query.get(field).and_then(Value::as_array) == Some(&items) {
        return Ok(Json(Value::Object(query)).into_response());
    }
    let ops =
        serde_json::from_value(json!([{"op": "add", "path": format!("/{field}"), "value": items}]))
            .map_err(|e| bad(e.to_string()))?;
    let e = app
        .store
        .patch(&kind::QUERY, id, ops, "ingestion-bot", app.max_body_bytes)
        .await?;
    Ok(Json(Value::Object(e)).into_response())
}

/// `PUT /queries/{id}/usage` with `[{"id": …, "type": "table"}, …]`.
async fn used_in(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(rejected)?;
    let refs = body
        .as_array()
        .ok_or_else(|| bad("the body is an array of entity references"))?;
    let mut resolved = Vec::new();
    for r in refs {
        let (Some(ref_id), Some(ref_type)) = (
            r.get("id").and_then(Value::as_str),
            r.get("type").and_then(Value::as_str),
        ) else {
            return Err(bad("each entity reference needs id and type"));
        };
        let k = kind_of_type(ref_type)?;
        let entity = app.store.get(k, false, ref_id, Include::All).await?;
        resolved.push(reference(k, &entity));
    }
    add_to(&app, &id, "queryUsedIn", resolved).await
}

/// `PUT /queries/{id}/usedBy` with `["name", …]`.
async fn used_by(
    State(app): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(rejected)?;
    let names = body
        .as_array()
        .filter(|a| a.iter().all(Value::is_string))
        .ok_or_else(|| bad("the body is an array of names"))?;
    add_to(&app, &id, "usedBy", names.clone()).await
}
