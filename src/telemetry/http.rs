//! `/metrics` (Prometheus text format), `/healthz` (the process is alive) and `/readyz` (its
//! dependencies answer and its work is not stalled), on `telemetry.listen`.

use super::Readiness;
use crate::shutdown::Shutdown;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use std::net::SocketAddr;

/// Serves the capture's metrics until shutdown. Binding errors are returned at once, naming
/// the address.
pub async fn serve(listen: SocketAddr, shutdown: Shutdown, ready: Readiness) -> Result<(), String> {
    serve_with(listen, shutdown, || super::metrics().render(), ready).await
}

/// `/metrics` (`render()`), `/healthz` and `/readyz` (200 while `check` passes, else 503 with
/// its reason): the routes every binary serves, whatever its state type `S`.
pub fn health_routes<S, F, Fut>(render: fn() -> String, check: F) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    Router::new()
        .route("/metrics", get(move || async move { render() }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let check = check.clone();
                async move {
                    match check().await {
                        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
                        Err(reason) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {reason}\n"),
                        ),
                    }
                }
            }),
        )
}

/// Serves `render()` on `/metrics`, `/healthz` and `/readyz` until shutdown.
pub async fn serve_with(
    listen: SocketAddr,
    mut shutdown: Shutdown,
    render: fn() -> String,
    ready: Readiness,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("telemetry.listen: cannot listen on {listen}: {e}"))?;
    let app: Router = health_routes(render, move || {
        let ready = ready.clone();
        async move { ready.get() }
    });
    tracing::info!(listen = %listen, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        let server =
            axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.wait().await });
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(())
}
