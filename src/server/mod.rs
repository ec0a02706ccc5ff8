//! pgmeta-catalog: a small metadata server that speaks the subset of OpenMetadata's REST API an
//! ingestion of PostgreSQL uses (services, databases, schemas, tables, stored procedures,
//! users, queries, lineage, usage), persisting in PostgreSQL. It is the embedded default for
//! `make demo` and the real server of the tests; in production pgmeta-apply points at
//! OpenMetadata itself.
//!
//! ```text
//!  PUT /api/v1/tables ─► request::validate ─► Store::put (row lock) ─► merge_curated ─► changes
//!                                                 │ changed: version +0.1 (+1.0 breaking), changeDescription
//!                                                 └ unchanged: same version, nothing written
//! ```

mod access;
mod api;
mod changes;
mod entity;
mod ingestion;
mod joins;
mod limits;
mod lineage;
mod patch;
mod queries;
mod request;
mod routes;
mod search;
mod serve;
mod store;
mod usage;

pub use access::Access;
pub use api::AppState;
pub use limits::DEFAULT_MAX_BODY_BYTES;
pub use request::validate;
pub use serve::{ConnectionLimits, serve};
pub use store::{Include, PoolLimits, Store, StoreError};

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use std::sync::{Arc, LazyLock};

/// The OpenMetadata release whose API shapes this server follows (the version
/// `GET /system/version` reports; clients compare major.minor with their own).
pub const OPENMETADATA_VERSION: &str = "1.13.0";

/// pgmeta-catalog's metrics.
#[derive(Debug)]
pub struct CatalogMetrics {
    registry: Registry,
    /// Requests by `method` (a fixed set, else `other`), `route` (the route template, else
    /// `unmatched`) and `status` class: labels a client cannot grow.
    pub requests: IntCounterVec,
    pub request_duration: Histogram,
    /// Entity writes by `entity_type` and `outcome` (created, updated, unchanged, soft_deleted, ...).
    pub entity_writes: IntCounterVec,
}

static METRICS: LazyLock<CatalogMetrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "pgmeta_catalog_requests_total",
            "API requests by method, route template and status class",
        ),
        &["method", "route", "status"],
    )
    .expect("valid metric");
    let request_duration = Histogram::with_opts(HistogramOpts::new(
        "pgmeta_catalog_request_duration_seconds",
        "Time to answer one API request",
    ))
    .expect("valid metric");
    let entity_writes = IntCounterVec::new(
        Opts::new(
            "pgmeta_catalog_entity_writes_total",
            "Entity writes by entity type and outcome",
        ),
        &["entity_type", "outcome"],
    )
    .expect("valid metric");
    for m in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(request_duration.clone()),
        Box::new(entity_writes.clone()),
    ] {
        registry.register(m).expect("metric registered once");
    }
    CatalogMetrics {
        registry,
        requests,
        request_duration,
        entity_writes,
    }
});

pub fn metrics() -> &'static CatalogMetrics {
    &METRICS
}

impl CatalogMetrics {
    pub fn render(&self) -> String {
        crate::telemetry::render(&self.registry)
    }
}

/// Runs CPU-heavy work (parsing, diffing, serializing a wide entity) on a blocking thread, so
/// the async workers keep answering `/healthz` and other requests meanwhile.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Internal(format!("a worker thread failed: {e}")))
}

/// The label of a request method: the methods HTTP defines, else `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every request. Router layers run after routing, so the request carries
/// the route template it matched (none for the fallback).
async fn observe(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // The request log (`RUST_LOG=pgmeta::server=debug`): what a client calls, to serve it.
    let uri = req.uri().clone();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    tracing::debug!(method, uri = %uri, route = %route, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    let status = format!("{}xx", response.status().as_u16() / 100);
    let m = metrics();
    m.requests
        .with_label_values(&[method, route.as_str(), status.as_str()])
        .inc();
    m.request_duration.observe(started.elapsed().as_secs_f64());
    response
}

/// A handler that runs past the request timeout is dropped (its transaction rolls back) and
/// answered 503.
async fn deadline(
    axum::extract::State(app): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(app.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => api::ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request did not finish within {} s",
                app.request_timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// Every error answer is OpenMetadata's JSON `{code, message}`, including the ones the
/// framework makes (unknown route, wrong method, unreadable path).
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    let mut out = api::ApiError(status, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Token or Host/Origin check (`access`), for every route.
async fn admit(
    axum::extract::State(app): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    match app.access.check(req.headers()) {
        Ok(()) => next.run(req).await,
        // Probes and scrapes need no token; the Host/Origin rule still holds for them.
        Err(access::Refusal::Unauthorized) if !is_api => next.run(req).await,
        Err(access::Refusal::Unauthorized) => api::ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".into(),
        )
        .into_response(),
        Err(access::Refusal::ForeignName { header: name }) => {
            let value = req.headers().get(name).map(HeaderValue::as_bytes);
            tracing::warn!(header = name, value = ?value.map(String::from_utf8_lossy), "refused a request naming this server by a foreign name");
            api::ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "the {name} header names this server by a name it does not answer to without a token; use an IP address, localhost or the public URL"
                ),
            )
            .into_response()
        }
    }
}

/// The whole app: the API (behind the access check), `/metrics`, `/healthz` and `/readyz`
/// (ready while a pooled connection to the catalog's database answers).
pub fn app(state: AppState) -> axum::Router {
    let state = Arc::new(state);
    let ready = state.clone();
    let health = crate::telemetry::health_routes(
        || metrics().render(),
        move || {
            let ready = ready.clone();
            async move { ready.store.ping().await }
        },
    );
    routes::router()
        .merge(health)
        .fallback(|| async { api::ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            deadline,
        ))
        .layer(axum::middleware::from_fn(observe))
        .with_state(state)
}
