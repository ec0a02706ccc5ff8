//! The accept loop of pgmeta-catalog, written on hyper directly because `axum::serve` sets no
//! timer: without one a client that sends half its headers, or opens a connection and sends
//! nothing, holds it forever and keeps a graceful shutdown from ending.
//!
//! - Each connection reads its request head within `header_read_timeout`; hyper restarts that
//!   timer while a kept-alive connection waits for its next request, so it also bounds idle
//!   connections.
//! - On shutdown the listener closes at once, open connections finish the request they are
//!   in, and whatever is still open after `shutdown_timeout` is dropped.
//!
//! The request timeout (a handler that runs too long) is a middleware of the app, not here.

use crate::shutdown::Shutdown;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;

/// Connection-level timeouts.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub shutdown_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown`, then drains within the deadline. Returns
/// whether every connection finished in time.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    mut shutdown: Shutdown,
) -> bool {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    match tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => true,
        Err(_) => {
            tracing::warn!(
                timeout_seconds = limits.shutdown_timeout.as_secs_f64(),
                "connections still open at the shutdown deadline; closing them"
            );
            false
        }
    }
}
