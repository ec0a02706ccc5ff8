//! `/metrics` (Prometheus text format) and `/healthz` (the process is alive), on
//! `telemetry.listen`.

use crate::shutdown::Shutdown;
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;

/// Serves the capture's metrics until shutdown. Binding errors are returned at once, naming
/// the address.
pub async fn serve(listen: SocketAddr, shutdown: Shutdown) -> Result<(), String> {
    serve_with(listen, shutdown, || super::metrics().render()).await
}

/// Serves `render()` on `/metrics` until shutdown.
pub async fn serve_with(
    listen: SocketAddr,
    mut shutdown: Shutdown,
    render: fn() -> String,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("telemetry.listen: cannot listen on {listen}: {e}"))?;
    let app = Router::new()
        .route("/metrics", get(move || async move { render() }))
        .route("/healthz", get(|| async { "ok\n" }));
    tracing::info!(listen = %listen, "serving /metrics and /healthz");
    tokio::spawn(async move {
        let server =
            axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.wait().await });
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(())
}
