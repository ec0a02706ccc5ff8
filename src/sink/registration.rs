//! Registering the topics' value schemas with a Schema Registry (`kafka.serialization =
//! "confluent"`): each topic's subject gets its compatibility level set and the schema
//! registered, and the codec then writes the id the registry gave it. A registry that is down
//! is waited for like a broker that is down (up to `kafka.startup_timeout`); one that refuses
//! the schema stops the capture with the subject and the reason.

use super::SinkError;
use crate::codec::AvroCodec;
use crate::config::{KafkaConfig, SchemaRegistryConfig};
use crate::registry::{RegistryError, SchemaRegistry};
use std::time::{Duration, Instant};

/// The registry client, when the configuration asks for the registry's framing.
pub(super) fn registry(
    cfg: &KafkaConfig,
) -> Result<Option<(SchemaRegistry, &SchemaRegistryConfig)>, SinkError> {
    match (cfg.serialization, &cfg.schema_registry) {
        (crate::config::Serialization::Confluent, Some(registry_cfg)) => {
            Ok(Some((SchemaRegistry::new(registry_cfg)?, registry_cfg)))
        }
        _ => Ok(None),
    }
}

/// `codec` for `topic`, switched to the registry's framing when there is a registry.
pub(super) async fn frame(
    cfg: &KafkaConfig,
    registry: Option<&(SchemaRegistry, &SchemaRegistryConfig)>,
    topic: &str,
    codec: AvroCodec,
) -> Result<AvroCodec, SinkError> {
    let Some((registry, registry_cfg)) = registry else {
        return Ok(codec);
    };
    let subject = registry_cfg
        .subject_name_strategy
        .subject(topic, &codec.record_name());
    let id = with_retry(cfg.startup_timeout, registry, || {
        register(registry, registry_cfg, &subject, codec.schema_text())
    })
    .await?;
    tracing::info!(topic, subject = %subject, schema_id = id, registry = %registry.url(), "value schema registered");
    Ok(codec.with_registry_id(id))
}

async fn register(
    registry: &SchemaRegistry,
    cfg: &SchemaRegistryConfig,
    subject: &str,
    schema: &str,
) -> Result<u32, RegistryError> {
    if !cfg.compatibility.is_empty() {
        registry
            .set_compatibility(subject, &cfg.compatibility)
            .await?;
    }
    registry.register(subject, schema).await
}

/// Runs `call` until it succeeds, fails for good, or the registry stayed down for `timeout`.
async fn with_retry<F, Fut>(
    timeout: Duration,
    registry: &SchemaRegistry,
    mut call: F,
) -> Result<u32, SinkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u32, RegistryError>>,
{
    let started = Instant::now();
    let mut backoff = Duration::from_millis(250);
    loop {
        match call().await {
            Ok(id) => return Ok(id),
            Err(e) if e.is_transient() && started.elapsed() + backoff <= timeout => {
                tracing::warn!(registry = %registry.url(), error = %e, retry_in = ?backoff, "schema registry unavailable, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
