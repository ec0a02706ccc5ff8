//! One JSON object per line, to standard output or a file: pgmeta without Kafka, for trying
//! it out and for debugging. Tombstones are written as `{"tombstone": "<key>"}` (metadata)
//! and `{"lineage_tombstone": "<key>"}`; usage and lineage events as their own objects.

use super::{Sink, SinkError};
use crate::event::Outbound;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug)]
pub struct JsonlSink {
    path: Option<PathBuf>,
}

impl JsonlSink {
    /// `None` or `-` writes to standard output.
    pub fn new(path: Option<PathBuf>) -> Self {
        JsonlSink {
            path: path.filter(|p| p.as_os_str() != "-"),
        }
    }
}

impl Sink for JsonlSink {
    async fn send(&mut self, batch: &[Outbound]) -> Result<(), SinkError> {
        // Serialized here, written (and fsynced) on a blocking thread: file and terminal
        // writes do not belong on the async runtime's threads.
        let mut lines = Vec::with_capacity(batch.len() * 512);
        let path = self.path.clone();
        let result = match write_lines(&mut lines, batch) {
            Err(e) => Err(e),
            Ok(()) => tokio::task::spawn_blocking(move || write_out(path.as_deref(), &lines))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e))),
        };
        result.map_err(|source| SinkError::Write {
            path: self.label(),
            source,
        })
    }
}

/// Appends `lines` to the file (synced, so the batch is durable before the state advances),
/// or writes them to standard output.
fn write_out(path: Option<&std::path::Path>, lines: &[u8]) -> std::io::Result<()> {
    match path {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            (&file).write_all(lines)?;
            // Devices such as /dev/null refuse fsync and need not be synced.
            if file.metadata()?.is_file() {
                file.sync_data()
            } else {
                Ok(())
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(lines).and_then(|()| out.flush())
        }
    }
}

/// One line per record.
fn write_lines(out: &mut impl Write, batch: &[Outbound]) -> std::io::Result<()> {
    for item in batch {
        match item {
            Outbound::Event(event) => serde_json::to_writer(&mut *out, event),
            Outbound::Usage(u) => serde_json::to_writer(&mut *out, u),
            Outbound::Lineage(l) => serde_json::to_writer(&mut *out, l),
            Outbound::SchemaChange(c) => serde_json::to_writer(&mut *out, c),
            Outbound::Tombstone { key } => {
                serde_json::to_writer(&mut *out, &serde_json::json!({ "tombstone": key }))
            }
            Outbound::LineageTombstone { key } => {
                serde_json::to_writer(&mut *out, &serde_json::json!({ "lineage_tombstone": key }))
            }
        }
        .map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

impl JsonlSink {
    fn label(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "stdout".into(), |p| p.display().to_string())
    }
}
