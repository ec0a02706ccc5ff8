//! `/readyz`: a prober checks, every few seconds, what the process depends on (PostgreSQL, the
//! broker, the metadata server) and whether its work is stalled; the endpoint answers 200 or
//! 503 with the first failing dependency. The probe never blocks the work itself.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Not ready (with the reason) until the first probe passes.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<Mutex<Result<(), String>>>);

impl Default for Readiness {
    fn default() -> Self {
        Readiness(Arc::new(Mutex::new(Err("starting".into()))))
    }
}

impl Readiness {
    pub fn get(&self) -> Result<(), String> {
        self.0
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|_| Err("readiness lock poisoned".into()))
    }

    fn set(&self, state: Result<(), String>) {
        if let Ok(mut r) = self.0.lock() {
            if r.is_ok() != state.is_ok() {
                match &state {
                    Ok(()) => tracing::info!("ready"),
                    Err(reason) => tracing::warn!(reason = %reason, "not ready"),
                }
            }
            *r = state;
        }
    }

    /// Runs `probe` every `every` until shutdown, recording its outcome.
    pub fn spawn_prober<F, Fut>(
        &self,
        every: Duration,
        mut shutdown: crate::shutdown::Shutdown,
        probe: F,
    ) where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let state =
                    match tokio::time::timeout(every.max(Duration::from_secs(2)), probe()).await {
                        Ok(r) => r,
                        Err(_) => Err("probe timed out".into()),
                    };
                me.set(state);
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        });
    }
}

/// Whether the broker answers a metadata request (on a blocking thread: librdkafka's call is
/// synchronous).
pub async fn broker_reachable(
    brokers: String,
    options: Vec<(String, String)>,
) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &brokers).set("log_level", "0");
        for (k, v) in &options {
            c.set(k, v);
        }
        let consumer: BaseConsumer = c.create().map_err(|e| format!("kafka: {e}"))?;
        consumer
            .fetch_metadata(None, Duration::from_secs(3))
            .map(|_| ())
            .map_err(|e| format!("kafka brokers {brokers} unreachable: {e}"))
    })
    .await
    .map_err(|e| format!("kafka probe: {e}"))?
}
