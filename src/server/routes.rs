//! The REST routes: OpenMetadata's paths and JSON shapes for the entity collections.

use super::api::{ApiError, AppState, Shared, bad};
use super::entity;
use super::store::{Include, PutOutcome, StoreError};
use crate::openmetadata::kind::{self, Kind};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

type Params = Query<HashMap<String, String>>;

type ApiResult = Result<Response, ApiError>;

/// How often a PUT that raced a concurrent write of the same entity starts again before it
/// answers 409 (each retry waits for the other writer's row lock, so two writers need one).
const PUT_ATTEMPTS: usize = 5;

impl AppState {
    /// Adds `href` to the entity (and drops the optional fields not asked for).
    fn present(&self, kind: &Kind, mut e: Map<String, Value>, fields: Option<&str>) -> Value {
        if let Some(id) = e.get("id").and_then(Value::as_str) {
            let href = format!("{}/api/v1/{}/{id}", self.public_url, kind.collection);
            e.insert("href".into(), Value::String(href));
        }
        entity::select_fields(kind, &mut e, fields.unwrap_or(""));
        if kind.entity_type == "query" {
            // OpenMetadata's Query entity has no `deleted`; its strict clients reject the key.
            e.remove("deleted");
        }
        Value::Object(e)
    }
}

/// The API routes under `/api/v1`.
pub(super) fn router() -> axum::Router<Shared> {
    let mut r = axum::Router::new().route(
        "/api/v1/system/version",
        get(|| async {
            Json(json!({"version": super::OPENMETADATA_VERSION, "revision": env!("CARGO_PKG_VERSION"), "timestamp": 0}))
        }),
    );
    for k in kind::ALL {
        let base = format!("/api/v1/{}", k.collection);
        r = r
            .route(
                &base,
                put(move |s, h, p, b| put_entity(k, s, h, p, b)).get(move |s, p| list(k, s, p)),
            )
            .route(
                &format!("{base}/bulk"),
                put(move |s, h, b| put_bulk(k, s, h, b)),
            )
            .route(
                &format!("{base}/restore"),
                put(move |s, h, b| restore(k, s, h, b)),
            )
            .route(
                &format!("{base}/name/{{*fqn}}"),
                get(move |s, p, q| get_entity(k, true, s, p, q))
                    .delete(move |s, h, p, q| delete(k, true, s, h, p, q))
                    .patch(move |s, h, p, b| patch_by_name(k, s, h, p, b)),
            )
            .route(
                &format!("{base}/{{id}}"),
                get(move |s, p, q| get_entity(k, false, s, p, q))
                    .delete(move |s, h, p, q| delete(k, false, s, h, p, q))
                    .patch(move |s, h, p, b| patch(k, s, h, p, b)),
            )
            .route(
                &format!("{base}/{{id}}/versions"),
                get(move |s, p| versions(k, s, p)),
            )
            .route(
                &format!("{base}/{{id}}/versions/{{version}}"),
                get(move |s, p| version(k, s, p)),
            );
    }
    r.merge(super::lineage::router())
        .merge(super::usage::router())
        .merge(super::ingestion::router())
        .merge(super::search::router())
        .merge(super::joins::router())
        .merge(super::queries::router())
}

fn updated_by(headers: &HeaderMap) -> &'static str {
    // There is no user model: a token-authenticated caller is the ingestion bot.
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        "ingestion-bot"
    } else {
        "admin"
    }
}

/// The request body as JSON, read and parsed on a blocking thread (a wide table's body is
/// megabytes), then handed to `check`.
async fn json_body<T: Send + 'static>(
    headers: &HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    check: impl FnOnce(Value) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let json_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| {
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !json_type {
        return Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json".into(),
        ));
    }
    super::blocking(move || {
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the request body is not valid JSON: {e}")))?;
        check(value)
    })
    .await?
}

/// A JSON answer, serialized on a blocking thread.
async fn answer(status: StatusCode, body: Value) -> ApiResult {
    let bytes = super::blocking(move || serde_json::to_vec(&body)).await?;
    let bytes = bytes.map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

async fn put_entity(
    kind: &'static Kind,
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(_): Params,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult {
    let create = json_body(&headers, body, move |v| {
        super::request::validate(kind, v).map_err(|e| bad(e.0))
    })
    .await?;
    let (status, e) = put_one(kind, &app, &create, updated_by(&headers)).await?;
    answer(status, app.present(kind, e, Some("*"))).await
}

/// One create-or-update, counted; `201` when it created the entity.
async fn put_one(
    kind: &'static Kind,
    app: &AppState,
    create: &super::request::Create,
    by: &str,
) -> Result<(StatusCode, Map<String, Value>), ApiError> {
    // A write that raced another of the same entity (the insert of a concurrent create, or a
    // row changed between the read and the lock) starts again from a fresh read.
    let mut attempts = 0;
    let (outcome, e) = loop {
        match app.store.put(kind, create, by).await {
            Err(StoreError::Conflict(_)) if attempts < PUT_ATTEMPTS => attempts += 1,
            other => break other?,
        }
    };
    let status = match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Updated | PutOutcome::Unchanged => StatusCode::OK,
    };
    super::metrics()
        .entity_writes
        .with_label_values(&[kind.entity_type, outcome_label(outcome)])
        .inc();
    Ok((status, e))
}

/// `PUT /{collection}/bulk`: an array of create requests, each applied as its own PUT (one
/// failing does not stop the others), answered with OpenMetadata's `BulkOperationResult`.
/// Each result's `request` names the entity (its FQN once written, else the request's name).
async fn put_bulk(
    kind: &'static Kind,
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult {
    let requests = json_body(&headers, body, move |v| match v {
        Value::Array(items) => Ok(items
            .into_iter()
            .map(|item| {
                let name = item.get("name").cloned().unwrap_or(Value::Null);
                (name, super::request::validate(kind, item).map_err(|e| e.0))
            })
            .collect::<Vec<_>>()),
        _ => Err(bad("a bulk request is a JSON array of create requests")),
    })
    .await?;
    let by = updated_by(&headers);
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for (name, create) in requests {
        let outcome = match create {
            Ok(create) => put_one(kind, &app, &create, by).await,
            Err(reason) => Err(bad(reason)),
        };
        match outcome {
            Ok((status, e)) => passed.push(json!({
                "request": e.get("fullyQualifiedName").cloned().unwrap_or(name),
                "status": status.as_u16(),
            })),
            Err(ApiError(status, message)) => failed.push(json!({
                "request": name,
                "message": message,
                "status": status.as_u16(),
            })),
        }
    }
    let status = match (passed.is_empty(), failed.is_empty()) {
        (_, true) => "success",
        (true, false) => "failure",
        (false, false) => "partialSuccess",
    };
    answer(
        StatusCode::OK,
        json!({
            "dryRun": false,
            "status": status,
            "numberOfRowsProcessed": passed.len() + failed.len(),
            "numberOfRowsPassed": passed.len(),
            "numberOfRowsFailed": failed.len(),
            "successRequest": passed,
            "failedRequest": failed,
        }),
    )
    .await
}

fn outcome_label(o: PutOutcome) -> &'static str {
    match o {
        PutOutcome::Created => "created",
        PutOutcome::Updated => "updated",
        PutOutcome::Unchanged => "unchanged",
    }
}

async fn get_entity(
    kind: &'static Kind,
    by_name: bool,
    State(app): State<Shared>,
    Path(key): Path<String>,
    Query(q): Params,
) -> ApiResult {
    let include = Include::parse(q.get("include").map(String::as_str));
    let mut e = app.store.get(kind, by_name, &key, include).await?;
    // Only entities that have the field (a service has none: OpenMetadata's strict clients
    // refuse an unknown key, even a null one).
    if kind.optional.contains(&"usageSummary")
        && q.get("fields")
            .is_some_and(|f| f.contains("usageSummary") || f.contains('*'))
    {
        if let Some(id) = e.get("id").and_then(Value::as_str).map(str::to_owned) {
            let summary = super::usage::summary(&app.store, &id).await?;
            e.insert("usageSummary".into(), summary);
        }
    }
    if kind.optional.contains(&"joins")
        && q.get("fields")
            .is_some_and(|f| f.contains("joins") || f.contains('*'))
    {
        if let Some(id) = e.get("id").and_then(Value::as_str).map(str::to_owned) {
            e.insert(
                "joins".into(),
                super::joins::joins_of(&app.store, &id).await?,
            );
        }
    }
    answer(
        StatusCode::OK,
        app.present(kind, e, q.get("fields").map(String::as_str)),
    )
    .await
}

async fn list(kind: &'static Kind, State(app): State<Shared>, Query(q): Params) -> ApiResult {
    let include = Include::parse(q.get("include").map(String::as_str));
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => 10,
        Some(Ok(l)) if (0..=1_000_000).contains(&l) => l,
        Some(_) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "limit must be an integer from 0 to 1000000".into(),
            ));
        }
    };
    let decode = |name: &str| -> Result<Option<String>, ApiError> {
        q.get(name)
            .map(|c| {
                cursor_decode(c).ok_or_else(|| {
                    ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("{name} is not a cursor this server gave"),
                    )
                })
            })
            .transpose()
    };
    let (after, before) = (decode("after")?, decode("before")?);
    // Filter by parent, as OpenMetadata does: `?database=svc.db`, `?databaseSchema=...`, `?service=`.
    let parent = ["databaseSchema", "database", "service"]
        .iter()
        .find_map(|p| q.get(*p))
        .map(String::as_str);
    let (page, total) = app
        .store
        .list(
            kind,
            parent,
            include,
            limit,
            after.as_deref(),
            before.as_deref(),
        )
        .await?;
    let fqn = |e: Option<&Map<String, Value>>| {
        e.and_then(|e| e.get("fullyQualifiedName"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (first, last) = (fqn(page.first()), fqn(page.last()));
    let mut paging = json!({"total": total});
    if let Some(last) = &last {
        if app
            .store
            .has_more(kind, parent, include, last, true)
            .await?
        {
            paging["after"] = Value::String(cursor_encode(last));
        }
    }
    if let Some(first) = &first {
        if app
            .store
            .has_more(kind, parent, include, first, false)
            .await?
        {
            paging["before"] = Value::String(cursor_encode(first));
        }
    }
    let fields = q.get("fields").map(String::as_str);
    let data: Vec<Value> = page
        .into_iter()
        .map(|e| app.present(kind, e, fields))
        .collect();
    Ok(Json(json!({"data": data, "paging": paging})).into_response())
}

/// Paging cursors are opaque to clients: the FQN, hex-encoded.
fn cursor_encode(fqn: &str) -> String {
    fqn.bytes().map(|b| format!("{b:02x}")).collect()
}

fn cursor_decode(cursor: &str) -> Option<String> {
    if cursor.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    q.get(name).is_some_and(|v| v == "true")
}

async fn delete(
    kind: &'static Kind,
    by_name: bool,
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Params,
) -> ApiResult {
    let hard = flag(&q, "hardDelete");
    let e = app
        .store
        .delete(
            kind,
            by_name,
            &key,
            flag(&q, "recursive"),
            hard,
            updated_by(&headers),
        )
        .await?;
    let outcome = if hard { "hard_deleted" } else { "soft_deleted" };
    super::metrics()
        .entity_writes
        .with_label_values(&[kind.entity_type, outcome])
        .inc();
    Ok(Json(app.present(kind, e, Some("*"))).into_response())
}

async fn restore(
    kind: &'static Kind,
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(super::api::rejected)?;
    let Some(id) = body.get("id").and_then(Value::as_str) else {
        return Err(ApiError(StatusCode::BAD_REQUEST, "id is required".into()));
    };
    let e = app.store.restore(kind, id, updated_by(&headers)).await?;
    Ok(Json(app.present(kind, e, Some("*"))).into_response())
}

async fn patch(
    kind: &'static Kind,
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult {
    let ops = json_body(&headers, body, |v| {
        serde_json::from_value::<Vec<json_patch::PatchOperation>>(v)
            .map_err(|e| bad(format!("not an RFC 6902 JSON Patch: {e}")))
    })
    .await?;
    let e = app
        .store
        .patch(kind, &id, ops, updated_by(&headers), app.max_body_bytes)
        .await?;
    answer(StatusCode::OK, app.present(kind, e, Some("*"))).await
}

/// `PATCH /{collection}/name/{fqn}`: the same patch, the entity found by its FQN (the
/// lineage workflow marks views it has read this way).
async fn patch_by_name(
    kind: &'static Kind,
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(fqn): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult {
    let e = app.store.get(kind, true, &fqn, Include::NonDeleted).await?;
    let id = e
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{fqn} has no id"),
            )
        })?
        .to_owned();
    patch(kind, State(app), headers, Path(id), body).await
}

async fn versions(
    kind: &'static Kind,
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult {
    let versions = app.store.versions(kind, &id).await?;
    let versions: Vec<Value> = versions
        .into_iter()
        .map(|v| Value::String(v.to_string()))
        .collect();
    Ok(Json(json!({"entityType": kind.entity_type, "versions": versions})).into_response())
}

async fn version(
    kind: &'static Kind,
    State(app): State<Shared>,
    Path((id, v)): Path<(String, String)>,
) -> ApiResult {
    let v: f64 = v.parse().map_err(|_| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("version {v:?} is not a number"),
        )
    })?;
    let e = app.store.version(kind, &id, v).await?;
    Ok(Json(app.present(kind, e, Some("*"))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        for fqn in ["svc.db.public.film", "s.\"a.b\".ü"] {
            assert_eq!(cursor_decode(&cursor_encode(fqn)).as_deref(), Some(fqn));
        }
        assert_eq!(cursor_decode("abc"), None);
        assert_eq!(cursor_decode("zz"), None);
    }
}
