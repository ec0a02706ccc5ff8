//! What every route shares: the server's state and the API's error (OpenMetadata's
//! `{code, message}`), with how a store error becomes one.

use super::store::{Store, StoreError};
use crate::openmetadata::kind::{self, Kind};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    /// `http://host:port`, for the entities' `href`.
    pub public_url: String,
    /// The token or Host/Origin rule every request passes.
    pub access: super::Access,
    /// Bound on a request body, and on how much a PATCH may grow an entity.
    pub max_body_bytes: usize,
    /// A request that takes longer is answered 503.
    pub request_timeout: std::time::Duration,
}

pub(super) type Shared = Arc<AppState>;

/// An API error: OpenMetadata's `{code, message}` body.
#[derive(Debug)]
pub(super) struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"code": self.0.as_u16(), "message": self.1});
        let mut response = (self.0, Json(body)).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    /// The status and the message a client sees. A database error is classified by its
    /// SQLSTATE; its text reaches the client only for bad input (class 22: the client's own
    /// value), never connection details: those go to the log, escaped.
    fn from(e: StoreError) -> Self {
        let unavailable = |message: &str| ApiError(StatusCode::SERVICE_UNAVAILABLE, message.into());
        match e {
            StoreError::Invalid(e) => ApiError(StatusCode::BAD_REQUEST, e.0),
            StoreError::NotFound(m) => ApiError(StatusCode::NOT_FOUND, m),
            StoreError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
            StoreError::Busy(m) => ApiError(StatusCode::SERVICE_UNAVAILABLE, m),
            StoreError::Internal(m) => {
                tracing::error!(error = ?m, "stored entity unreadable");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, m)
            }
            StoreError::Pg(e) => {
                let Some(db) = e.as_db_error() else {
                    tracing::warn!(error = ?e.to_string(), "catalog database error");
                    return unavailable("catalog database unavailable");
                };
                let code = db.code().code();
                match code {
                    c if c.starts_with("22") => ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("invalid value: {}", db.message()),
                    ),
                    "23505" => ApiError(
                        StatusCode::CONFLICT,
                        "conflicts with an entity written concurrently; retry".into(),
                    ),
                    "23503" => ApiError(
                        StatusCode::NOT_FOUND,
                        "the parent entity was deleted concurrently".into(),
                    ),
                    "57014" => unavailable(
                        "the catalog database did not answer within the statement timeout",
                    ),
                    "55P03" => unavailable("the entity is locked by another request; retry"),
                    "40001" | "40P01" => unavailable("concurrent update; retry"),
                    _ => {
                        tracing::warn!(sqlstate = code, error = ?db.message(), "catalog database error");
                        unavailable("catalog database unavailable")
                    }
                }
            }
            StoreError::Connect(detail) => {
                tracing::warn!(error = ?detail, "catalog database unreachable");
                unavailable("catalog database unavailable")
            }
        }
    }
}

/// A 400 with `msg`.
pub(super) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// The kind of an entity type named in a path (`table`, `storedProcedure`, ...).
pub(super) fn kind_of_type(entity_type: &str) -> Result<&'static Kind, ApiError> {
    kind::by_entity_type(entity_type)
        .ok_or_else(|| bad(format!("unknown entity type {entity_type}")))
}

/// A body the JSON extractor refused: 413 past the size bound, 415 for another content type,
/// else 400; the message says which.
pub(super) fn rejected(e: axum::extract::rejection::JsonRejection) -> ApiError {
    ApiError(e.status(), e.body_text())
}
