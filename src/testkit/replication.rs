//! A capture streaming DDL through its replication slot on a task of its own, as the tests and
//! benchmarks that measure or check that path run it.

use crate::capture::{Capture, CaptureError};
use crate::config::CaptureConfig;
use crate::pg::PgTarget;
use crate::shutdown::ShutdownTrigger;
use crate::sink::KafkaSink;

/// The task running `Capture::run_replication`; it ends after its trigger fires.
pub type ReplicationTask = tokio::task::JoinHandle<Result<(), CaptureError>>;

/// Starts `config`'s capture into Kafka in replication mode on its own task.
pub async fn start_replication(
    config: &CaptureConfig,
) -> Result<(ShutdownTrigger, ReplicationTask), Box<dyn std::error::Error>> {
    let target = PgTarget::resolve(&config.source, &|_| None)?;
    let capture = Capture::new(
        config,
        target,
        KafkaSink::connect(&config.kafka).await?,
        false,
    )?;
    let (trigger, shutdown) = crate::shutdown::channel();
    let replication = config.replication.clone();
    Ok((
        trigger,
        tokio::spawn(async move { capture.run_replication(&replication, shutdown).await }),
    ))
}
