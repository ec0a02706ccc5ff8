//! pgmeta-catalog: a small metadata server that speaks the subset of OpenMetadata's REST API an
//! ingestion of PostgreSQL uses (services, databases, schemas, tables, stored procedures,
//! users, queries, lineage, usage), persisting in PostgreSQL. It is the embedded default for
//! `make demo` and the real server of the tests; in production pgmeta-apply points at
//! OpenMetadata itself.
//!
//! ```text
//!  PUT /api/v1/tables ─► entity::validate ─► Store::put (row lock) ─► merge_curated ─► changes
//!                                                 │ changed: version +0.1 (+1.0 breaking), changeDescription
//!                                                 └ unchanged: same version, nothing written
//! ```

mod entity;
pub mod kind;
mod lineage;
mod routes;
mod store;
mod usage;

pub use entity::{DATA_TYPES, TABLE_TYPES, validate};
pub use routes::AppState;
pub use store::{Include, Store, StoreError};

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use std::sync::{Arc, LazyLock};

/// The OpenMetadata release whose API shapes this server follows (the version
/// `GET /system/version` reports; clients compare major.minor with their own).
pub const OPENMETADATA_VERSION: &str = "1.13.0";

/// pgmeta-catalog's metrics.
#[derive(Debug)]
pub struct CatalogMetrics {
    registry: Registry,
    /// Requests by `method` and `status` class.
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
            "API requests by method and status class",
        ),
        &["method", "status"],
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

async fn observe(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    let m = metrics();
    m.requests.with_label_values(&[&method, &status]).inc();
    m.request_duration.observe(started.elapsed().as_secs_f64());
    response
}

/// The whole app: the API (behind the token check), `/metrics`, `/healthz` and `/readyz`
/// (ready while the catalog's database answers).
pub fn app(state: AppState) -> axum::Router {
    let state = Arc::new(state);
    let api = routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::auth,
        ))
        .layer(axum::middleware::from_fn(observe));
    let ready = state.clone();
    let health = crate::telemetry::health_routes(
        || metrics().render(),
        move || {
            let ready = ready.clone();
            async move {
                if ready.store.ping().await {
                    Ok(())
                } else {
                    Err("catalog database unreachable".to_owned())
                }
            }
        },
    );
    api.merge(health).with_state(state)
}
