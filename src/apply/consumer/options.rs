//! What a consumer is configured with, and the librdkafka options it will not let an operator
//! change.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub brokers: String,
    pub group_id: String,
    pub metadata_topic: String,
    pub usage_topic: String,
    pub lineage_topic: String,
    pub dead_letter_topic: String,
    /// Events applied concurrently (by key, so one entity's events stay in order).
    pub lanes: usize,
    pub batch_size: usize,
    /// How long an event may wait for an entity it refers to before it is dead-lettered.
    pub missing_entity_timeout: Duration,
    /// Longest pause between retries.
    pub max_backoff: Duration,
    /// Static group membership (`group.instance.id` = `<instance_id>.<stream>`): a restarted
    /// instance takes its partitions back at once instead of after the session timeout.
    pub instance_id: Option<String>,
    /// librdkafka settings passed through (security, SASL, ...).
    pub kafka_options: Vec<(String, String)>,
    /// Where the writer schemas of records in Schema Registry framing are fetched.
    pub schema_registry: Option<crate::config::SchemaRegistryConfig>,
}

/// Which stream a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Metadata,
    Usage,
    Lineage,
}

impl Stream {
    pub fn label(self) -> &'static str {
        match self {
            Stream::Metadata => "metadata",
            Stream::Usage => "usage",
            Stream::Lineage => "lineage",
        }
    }
}

/// librdkafka options pgmeta-apply sets itself because its delivery guarantee rests on them,
/// with the only value an operator may also give them: offsets are stored and committed only
/// after an event is applied or dead-lettered, and the dead-letter producer is idempotent
/// with `acks=all`. Anything else would lose or skip events on a crash, so it is refused.
const PINNED_OPTIONS: &[(&str, &[&str])] = &[
    ("enable.auto.commit", &["false"]),
    ("enable.auto.offset.store", &["false"]),
    ("enable.idempotence", &["true"]),
    ("acks", &["all", "-1"]),
    ("isolation.level", &["read_committed"]),
];

/// Refuses `--kafka-option`s that would break at-least-once delivery, naming the option.
pub fn check_kafka_options(options: &[(String, String)]) -> Result<(), String> {
    for (key, value) in options {
        if let Some((_, allowed)) = PINNED_OPTIONS.iter().find(|(k, _)| k == key) {
            if !allowed.contains(&value.trim()) {
                return Err(format!(
                    "--kafka-option {key}={value}: pgmeta-apply commits an offset only after its event is applied or dead-lettered; {key} must stay {}",
                    allowed.join(" or ")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_break_at_least_once_are_refused() {
        let opt = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        for (k, v) in [
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "true"),
            ("enable.idempotence", "false"),
            ("acks", "1"),
            ("isolation.level", "read_uncommitted"),
        ] {
            let err = check_kafka_options(&opt(k, v)).expect_err("refused");
            assert!(err.contains(k) && err.contains("must stay"), "{err}");
        }
        for (k, v) in [
            ("enable.auto.commit", "false"),
            ("acks", "-1"),
            ("security.protocol", "SASL_SSL"),
        ] {
            assert_eq!(check_kafka_options(&opt(k, v)), Ok(()), "{k}={v}");
        }
    }
}
