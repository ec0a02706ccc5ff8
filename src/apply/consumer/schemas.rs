//! Writer schemas of records in Schema Registry framing: before a batch is applied, each
//! schema id it holds that the stream's codec has not seen is fetched from the registry, so
//! decoding stays synchronous. A registry that is down holds the batch (nothing is skipped);
//! an id the registry does not have, or a schema that is not a version of the topic's, makes
//! those records fail to decode and go to the dead-letter topic with that reason. So do such
//! records when no registry is configured: one record must not stop the stream.

use super::{ApplyConsumer, Stream};
use crate::codec::{AvroCodec, registry_schema_id};
use crate::registry::RegistryError;
use crate::shutdown::Shutdown;
use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use std::collections::BTreeSet;
use std::time::Duration;

impl ApplyConsumer {
    fn codec(&self) -> &AvroCodec {
        match self.stream {
            Stream::Metadata => &self.codecs.metadata,
            Stream::Usage => &self.codecs.usage,
            Stream::Lineage => &self.codecs.lineage,
        }
    }

    /// Fetches the writer schemas of `batch` the codec lacks. False when shutdown came while
    /// the registry was down.
    pub(super) async fn learn_schemas(
        &self,
        batch: &[OwnedMessage],
        shutdown: &Shutdown,
    ) -> Result<bool, String> {
        let codec = self.codec();
        let missing: BTreeSet<u32> = batch
            .iter()
            .filter_map(|m| m.payload().and_then(registry_schema_id))
            .filter(|id| !codec.knows_registry_id(*id))
            .collect();
        if missing.is_empty() {
            return Ok(true);
        }
        let Some(registry) = &self.registry else {
            let topic = batch
                .first()
                .map(|m| m.topic().to_owned())
                .unwrap_or_default();
            tracing::warn!(topic = %topic, schema_ids = ?missing, "records in Schema Registry framing, but no --schema-registry-url: they are dead-lettered");
            for id in missing {
                codec.learn_registry_schema(
                    id,
                    Err("pgmeta-apply has no --schema-registry-url to fetch it from".into()),
                );
            }
            return Ok(true);
        };
        let mut wait = Duration::from_millis(250);
        for id in missing {
            loop {
                match registry.schema(id).await {
                    Ok(text) => {
                        codec.learn_registry_schema(id, Ok(&text));
                        break;
                    }
                    Err(e) if e.is_transient() => {
                        super::metrics()
                            .errors
                            .with_label_values(&["schema_registry", "unavailable"])
                            .inc();
                        tracing::warn!(registry = %registry.url(), schema_id = id, error = %e, retry_in = ?wait, "schema registry unavailable; the batch waits");
                        let mut shutdown = shutdown.clone();
                        tokio::select! {
                            _ = shutdown.wait() => return Ok(false),
                            _ = tokio::time::sleep(wait) => {}
                        }
                        wait = (wait * 2).min(self.config.max_backoff);
                    }
                    Err(e @ (RegistryError::UnknownId(_) | RegistryError::Refused { .. })) => {
                        codec.learn_registry_schema(id, Err(e.to_string()));
                        break;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(true)
    }
}
