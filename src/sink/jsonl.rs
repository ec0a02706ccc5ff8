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
        let result = match &self.path {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|file| {
                    let mut out = std::io::BufWriter::new(&file);
                    write_lines(&mut out, batch)?;
                    out.flush()?;
                    drop(out);
                    // fsync makes the batch durable before the state advances; devices such as
                    // /dev/null refuse it and need not be synced.
                    if file.metadata()?.is_file() {
                        file.sync_data()
                    } else {
                        Ok(())
                    }
                }),
            None => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                write_lines(&mut out, batch).and_then(|()| out.flush())
            }
        };
        result.map_err(|source| SinkError::Write {
            path: self.label(),
            source,
        })
    }
}

/// One line per record, written as it is serialized (a large snapshot is never one string).
fn write_lines(out: &mut impl Write, batch: &[Outbound]) -> std::io::Result<()> {
    for item in batch {
        match item {
            Outbound::Event(event) => serde_json::to_writer(&mut *out, event),
            Outbound::Usage(u) => serde_json::to_writer(&mut *out, u),
            Outbound::Lineage(l) => serde_json::to_writer(&mut *out, l),
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
