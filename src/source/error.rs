//! What stops a capture: the database, the sink, the state store, the target or the
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
    #[error(transparent)]
    Migration(#[from] crate::pg::migration::MigrationError),
    /// `pgmeta-capture impact --lineage-from`: the metadata server's lineage cannot be read.
    #[error("cannot read the lineage of the metadata server: {0}")]
    LineageServer(String),
}

/// Where an error arose and its code there: the system (`postgres`, `kafka`, `state`, ...) and
/// a code from a bounded set (a SQLSTATE, a librdkafka error name, an I/O error kind, or a
/// word for pgmeta's own failures). Log fields and metric labels carry it; a message never
/// goes into a label, since it can name objects or grow without bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub system: &'static str,
    pub code: String,
}

impl Cause {
    fn new(system: &'static str, code: impl Into<String>) -> Cause {
        Cause {
            system,
            code: code.into(),
        }
    }
}

impl CaptureError {
    /// Whether waiting and trying again can help.
    pub fn class(&self) -> ErrorClass {
        match self {
            CaptureError::Pg(e) => e.class(),
            CaptureError::Sink(e) if e.is_transient() => ErrorClass::Transient,
            _ => ErrorClass::Fatal,
        }
    }

    /// Counts the error in `pgmeta_capture_errors_total` under `source` (the poller that met it).
    pub(crate) fn count(&self, source: &'static str) {
        let cause = self.cause();
        crate::telemetry::metrics()
            .errors
            .with_label_values(&[source, cause.system, &cause.code])
            .inc();
    }

    /// The error's origin and code, kept from where it arose.
    pub fn cause(&self) -> Cause {
        use super::ReplicationError as R;
        use crate::pg::migration::MigrationError as M;
        match self {
            CaptureError::Pg(e) | CaptureError::Migration(M::Pg(e)) => Cause::new(
                "postgres",
                // A SQLSTATE when the server answered; otherwise what failed on the way.
                e.sqlstate().unwrap_or(match e {
                    PgError::Connect { .. } => "connection",
                    PgError::Query { .. } => "query",
                    PgError::ConcurrentDdl { .. } => "concurrent_ddl",
                    PgError::Decode { .. } => "unexpected_row",
                }),
            ),
            CaptureError::Migration(M::Statement { .. }) => Cause::new("migration", "statement"),
            CaptureError::Migration(M::TransactionControl { .. }) => {
                Cause::new("migration", "transaction_control")
            }
            CaptureError::Migration(M::Empty) => Cause::new("migration", "empty"),
            CaptureError::LineageServer(_) => Cause::new("metadata_server", "lineage"),
            CaptureError::Sink(e) => match (e, e.kafka_code()) {
                (_, Some(code)) => Cause::new("kafka", format!("{code:?}")),
                (SinkError::Write { source, .. }, None) => {
                    Cause::new("jsonl", format!("{:?}", source.kind()))
                }
                (SinkError::Encode(_), None) => Cause::new("kafka", "encode"),
                (SinkError::TooLarge { .. }, None) => Cause::new("kafka", "too_large"),
                (SinkError::Config(_), None) => Cause::new("kafka", "config"),
                (SinkError::Registry(r), None) => Cause::new(
                    "registry",
                    match r {
                        crate::registry::RegistryError::Unreachable { .. } => "unreachable".into(),
                        crate::registry::RegistryError::Tls { .. } => "tls".into(),
                        crate::registry::RegistryError::Incompatible { .. } => {
                            "incompatible".into()
                        }
                        crate::registry::RegistryError::Unauthorized { status, .. }
                        | crate::registry::RegistryError::Refused { status, .. } => {
                            status.to_string()
                        }
                        crate::registry::RegistryError::UnknownId(_) => "unknown_id".into(),
                        crate::registry::RegistryError::Config(_) => "config".into(),
                    },
                ),
                (_, None) => Cause::new("kafka", "unknown"),
            },
            CaptureError::Checkpoint(CheckpointError::Io { source, .. }) => {
                Cause::new("state", format!("{:?}", source.kind()))
            }
            CaptureError::Checkpoint(CheckpointError::Corrupt { .. }) => {
                Cause::new("state", "corrupt")
            }
            CaptureError::Checkpoint(CheckpointError::Store { source, .. }) => Cause::new(
                "state",
                match source.as_ref() {
                    redb::Error::Io(e) => format!("{:?}", e.kind()),
                    redb::Error::Corrupted(_) => "corrupt".into(),
                    redb::Error::DatabaseAlreadyOpen => "in_use".into(),
                    _ => "store".into(),
                },
            ),
            CaptureError::Target(_) => Cause::new("config", "source"),
            CaptureError::Config(_) => Cause::new("config", "file"),
            CaptureError::Replication(e) => Cause::new(
                "replication",
                match e {
                    R::Slot { .. } => "slot",
                    R::Stream { .. } => "stream",
                    R::SlotInUse { .. } => "slot_in_use",
                    R::NotInstalled { .. } => "not_installed",
                    R::NoReplicationPrivilege { .. } => "no_replication_privilege",
                    R::ServerTooOld { .. } => "server_too_old",
                    R::WalRetained { .. } => "wal_retained",
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kafka_failure_keeps_librdkafkas_code() {
        let e = CaptureError::Sink(SinkError::Delivery {
            failed: 1,
            total: 1,
            first_error: "Message production error: MessageTimedOut".into(),
            code: Some(rdkafka::error::RDKafkaErrorCode::MessageTimedOut),
        });
        assert_eq!(e.cause(), Cause::new("kafka", "MessageTimedOut"));
        assert_eq!(e.class(), ErrorClass::Transient);
    }

    #[test]
    fn a_state_failure_keeps_the_io_error_kind() {
        let e = CaptureError::Checkpoint(CheckpointError::Io {
            path: "/state".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
        assert_eq!(e.cause(), Cause::new("state", "PermissionDenied"));
        let e = CaptureError::Checkpoint(CheckpointError::Corrupt {
            path: "/state/x".into(),
            reason: "EOF".into(),
        });
        assert_eq!(e.cause(), Cause::new("state", "corrupt"));
    }

    #[test]
    fn a_concurrent_drop_has_a_code_of_its_own() {
        let e = CaptureError::Pg(PgError::ConcurrentDdl {
            what: "relation 1 vanished".into(),
        });
        assert_eq!(e.cause(), Cause::new("postgres", "concurrent_ddl"));
    }
}
