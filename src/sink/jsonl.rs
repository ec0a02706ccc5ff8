//! One JSON object per line, to standard output or a file: pgmeta without Kafka, for trying
//! it out and for debugging. Tombstones are written as `{"tombstone": "<key>"}`.

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
        let mut text = String::new();
        for item in batch {
            let line = match item {
                Outbound::Event(event) => serde_json::to_string(event),
                Outbound::Tombstone { key } => {
                    serde_json::to_string(&serde_json::json!({ "tombstone": key }))
                }
            }
            .map_err(|e| SinkError::Write {
                path: self.label(),
                source: e.into(),
            })?;
            text.push_str(&line);
            text.push('\n');
        }
        let write = |text: &str| -> std::io::Result<()> {
            match &self.path {
                Some(path) => {
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?;
                    f.write_all(text.as_bytes())?;
                    f.sync_data()
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())?;
                    out.flush()
                }
            }
        };
        write(&text).map_err(|source| SinkError::Write {
            path: self.label(),
            source,
        })
    }
}

impl JsonlSink {
    fn label(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "stdout".into(), |p| p.display().to_string())
    }
}
