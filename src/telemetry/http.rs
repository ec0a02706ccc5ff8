//! `/metrics` (Prometheus text format) and `/healthz` (the process is alive), on
//! `telemetry.listen`.

use crate::shutdown::Shutdown;
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;

/// Serves until shutdown. Binding errors are returned at once, naming the address.
pub async fn serve(listen: SocketAddr, mut shutdown: Shutdown) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("telemetry.listen: cannot listen on {listen}: {e}"))?;
    let app = Router::new()
        .route("/metrics", get(|| async { super::metrics().render() }))
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
