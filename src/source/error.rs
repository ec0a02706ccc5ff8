//! What stops a capture: the database, the sink, the state file, the target or the
//! configuration, each with its cause; and whether trying again can help.

use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
use crate::pg::{ErrorClass, PgError, TargetError};
use crate::sink::SinkError;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Replication(#[from] super::ReplicationError),
}

impl CaptureError {
    /// Whether waiting and trying again can help.
    pub fn class(&self) -> ErrorClass {
        match self {
            CaptureError::Pg(e) => e.class(),
            CaptureError::Sink(SinkError::Delivery { .. }) => ErrorClass::Transient,
            _ => ErrorClass::Fatal,
        }
    }
}
