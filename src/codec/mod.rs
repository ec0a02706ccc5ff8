//! Avro encoding of pgmeta's events, in one of two framings:
//!
//! - the Avro specification's single-object encoding: `C3 01`, the 8-byte little-endian
//!   CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then the binary
//!   datum. A reader in any language finds the schema by fingerprint among the
//!   `schemas/*.avsc` files, with no schema registry;
//! - the Schema Registry wire format stream processors read: byte `00`, the 4-byte big-endian
//!   id the registry gave the writer schema, then the datum.
//!
//! A reader takes either, and resolves a record written with an earlier schema version to the
//! current one.

mod canonical;
pub mod history;

pub use canonical::{CanonicalError, fingerprint, parsing_canonical_form};

use crate::event::MetadataEvent;
use apache_avro::{Schema, types::Value};
use std::collections::HashMap;

/// The topics' writer schemas, compiled in so the binary and the contract cannot drift.
pub const METADATA_EVENT_SCHEMA: &str = include_str!("../../schemas/MetadataEvent.avsc");
pub const USAGE_EVENT_SCHEMA: &str = include_str!("../../schemas/UsageEvent.avsc");
pub const LINEAGE_EVENT_SCHEMA: &str = include_str!("../../schemas/LineageEvent.avsc");
pub const SCHEMA_CHANGE_EVENT_SCHEMA: &str = include_str!("../../schemas/SchemaChangeEvent.avsc");

const MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = 10;
/// The Schema Registry framing: magic byte 0 and a 4-byte schema id.
const REGISTRY_MAGIC: u8 = 0;
const REGISTRY_HEADER_LEN: usize = 5;

/// How [`AvroCodec::encode_value`] frames a datum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    SingleObject,
    /// Schema Registry framing with the id the registry gave this codec's schema.
    Registry {
        schema_id: u32,
    },
}

type Registered = Result<Option<Schema>, String>;

/// The schema id of a record in the Schema Registry framing, `None` for any other bytes.
pub fn registry_schema_id(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [REGISTRY_MAGIC, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("invalid Avro schema {name}: {source}")]
    Schema {
        name: &'static str,
        source: Box<apache_avro::Error>,
    },
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    #[error("cannot encode event {fqn}: {source}")]
    Encode {
        fqn: String,
        source: Box<apache_avro::Error>,
    },
    #[error(
        "not a pgmeta Avro record (expected single-object framing, C3 01 and an 8-byte fingerprint, or Schema Registry framing, 00 and a 4-byte schema id; got {got} bytes starting {head:02x?})"
    )]
    NotSingleObject { got: usize, head: Vec<u8> },
    #[error(
        "record in Schema Registry framing with schema id {0}, which this reader has not fetched (is pgmeta-apply given --schema-registry-url?)"
    )]
    UnknownSchemaId(u32),
    #[error("schema id {id} of the registry cannot be read: {reason}")]
    ForeignSchema { id: u32, reason: String },
    #[error(
        "message written with schema fingerprint {found}, neither the current schema's ({expected}) nor a released earlier version's: was it written by a newer pgmeta?"
    )]
    UnknownFingerprint { found: String, expected: String },
    #[error("cannot decode Avro datum: {0}")]
    Decode(Box<apache_avro::Error>),
    #[error("the Avro datum is truncated")]
    Truncated,
    #[error("{0} bytes left over after the Avro datum")]
    TrailingBytes(usize),
}

/// apache-avro's datum reader treats running out of input in some places (a union's branch
/// index) as a zero rather than an error, so a truncated message could decode into a different
/// event. This reader remembers any short read so `decode` can reject it.
struct StrictReader<'a> {
    data: &'a [u8],
    short_read: bool,
}

impl std::io::Read for StrictReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.data.len());
        if n < buf.len() {
            self.short_read = true;
        }
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[derive(Debug, Clone)]
pub struct AvroCodec {
    schema: Schema,
    fingerprint: [u8; 8],
    /// Earlier released versions of the schema, by fingerprint: records they wrote are
    /// resolved to `schema`. Each is known by its specification fingerprint and by the one
    /// pgmeta wrote before it computed the specification's (apache-avro's, which differs for
    /// schemas with logical types), so records already on a topic still decode.
    writers: Vec<([u8; 8], Schema)>,
    framing: Framing,
    /// Writer schemas by registry id, as fetched (`None`: the current schema itself), or why
    /// the registry's schema under that id cannot be read.
    registered: std::sync::Arc<std::sync::RwLock<HashMap<u32, Registered>>>,
    text: &'static str,
}

impl AvroCodec {
    pub fn metadata() -> Result<Self, CodecError> {
        Self::new("MetadataEvent", METADATA_EVENT_SCHEMA)
    }

    pub fn usage() -> Result<Self, CodecError> {
        Self::new("UsageEvent", USAGE_EVENT_SCHEMA)
    }

    pub fn lineage() -> Result<Self, CodecError> {
        Self::new("LineageEvent", LINEAGE_EVENT_SCHEMA)
    }

    pub fn schema_change() -> Result<Self, CodecError> {
        Self::new("SchemaChangeEvent", SCHEMA_CHANGE_EVENT_SCHEMA)
    }

    fn new(name: &'static str, text: &'static str) -> Result<Self, CodecError> {
        let schema = Schema::parse_str(text).map_err(|e| CodecError::Schema {
            name,
            source: Box::new(e),
        })?;
        let fingerprint = fingerprint(text)?;
        let mut writers = Vec::new();
        for old in history::versions(name) {
            let writer = Schema::parse_str(old.text).map_err(|e| CodecError::Schema {
                name,
                source: Box::new(e),
            })?;
            let mut legacy = [0u8; 8];
            legacy.copy_from_slice(&writer.fingerprint::<apache_avro::rabin::Rabin>().bytes[..8]);
            for known in [canonical::fingerprint(old.text)?, legacy] {
                if known != fingerprint && !writers.iter().any(|(f, _)| *f == known) {
                    writers.push((known, writer.clone()));
                }
            }
        }
        Ok(AvroCodec {
            schema,
            fingerprint,
            writers,
            framing: Framing::SingleObject,
            registered: Default::default(),
            text,
        })
    }

    /// The schema as written in `schemas/` (what is registered).
    pub fn schema_text(&self) -> &'static str {
        self.text
    }

    /// The full name of the schema's record, `io.pgmeta.MetadataEvent`.
    pub fn record_name(&self) -> String {
        match &self.schema {
            Schema::Record(r) => r.name.fullname(None),
            other => format!("{other:?}"),
        }
    }

    /// Encodes in the Schema Registry framing, with the id the registry gave this schema.
    pub fn with_registry_id(mut self, schema_id: u32) -> Self {
        self.framing = Framing::Registry { schema_id };
        self.write_registered().insert(schema_id, Ok(None));
        self
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether records with this registry schema id decode (the schema was learnt).
    pub fn knows_registry_id(&self, id: u32) -> bool {
        self.registered
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&id)
    }

    /// Learns what the registry holds under `id`: `Ok(text)` a schema, `Err(reason)` why
    /// there is none. A schema that is not a readable version of this codec's is refused.
    /// Records with that id then decode, or fail with the reason.
    pub fn learn_registry_schema(&self, id: u32, text: Result<&str, String>) {
        let learnt = text.and_then(|text| {
            if fingerprint(text).is_ok_and(|f| f == self.fingerprint) {
                return Ok(None);
            }
            let writer = Schema::parse_str(text).map_err(|e| e.to_string())?;
            apache_avro::schema_compatibility::SchemaCompatibility::can_read(&writer, &self.schema)
                .map_err(|e| format!("not a readable version of {}: {e}", self.record_name()))?;
            Ok(Some(writer))
        });
        self.write_registered().insert(id, learnt);
    }

    fn write_registered(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u32, Registered>> {
        self.registered
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The schema fingerprint as 16 hex digits (the `pgmeta.schema_fingerprint` header).
    pub fn fingerprint_hex(&self) -> String {
        self.fingerprint
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn encode(&self, event: &MetadataEvent) -> Result<Vec<u8>, CodecError> {
        self.encode_value(event, &event.fqn)
    }

    /// Encodes any value of this codec's schema; `key` names it in an error.
    pub fn encode_value<T: serde::Serialize>(
        &self,
        value: &T,
        key: &str,
    ) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(1024);
        match self.framing {
            Framing::SingleObject => {
                out.extend_from_slice(&MAGIC);
                out.extend_from_slice(&self.fingerprint);
            }
            Framing::Registry { schema_id } => {
                out.push(REGISTRY_MAGIC);
                out.extend_from_slice(&schema_id.to_be_bytes());
            }
        }
        // Straight from serde to bytes under the schema (no intermediate Value tree).
        apache_avro::write_avro_datum_ref(&self.schema, value, &mut out).map_err(|e| {
            CodecError::Encode {
                fqn: key.to_owned(),
                source: Box::new(e),
            }
        })?;
        Ok(out)
    }

    pub fn decode(&self, bytes: &[u8]) -> Result<MetadataEvent, CodecError> {
        self.decode_value(bytes)
    }

    /// Decodes a record of this codec's schema (or an earlier version of it) in either
    /// framing.
    pub fn decode_value<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
    ) -> Result<T, CodecError> {
        if let Some(id) = registry_schema_id(bytes) {
            let registered = self
                .registered
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let writer = match registered.get(&id) {
                None => return Err(CodecError::UnknownSchemaId(id)),
                Some(Err(reason)) => {
                    return Err(CodecError::ForeignSchema {
                        id,
                        reason: reason.clone(),
                    });
                }
                Some(Ok(writer)) => writer.as_ref(),
            };
            return self.decode_datum(&bytes[REGISTRY_HEADER_LEN..], writer);
        }
        if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC {
            return Err(CodecError::NotSingleObject {
                got: bytes.len(),
                head: bytes.iter().take(4).copied().collect(),
            });
        }
        let found = &bytes[2..HEADER_LEN];
        let writer = if found == self.fingerprint {
            None
        } else {
            match self.writers.iter().find(|(f, _)| f == found) {
                Some((_, writer)) => Some(writer),
                None => {
                    return Err(CodecError::UnknownFingerprint {
                        found: found.iter().map(|b| format!("{b:02x}")).collect(),
                        expected: self.fingerprint_hex(),
                    });
                }
            }
        };
        self.decode_datum(&bytes[HEADER_LEN..], writer)
    }

    /// Decodes a datum written with `writer` (`None`: this codec's schema).
    fn decode_datum<T: serde::de::DeserializeOwned>(
        &self,
        datum: &[u8],
        writer: Option<&Schema>,
    ) -> Result<T, CodecError> {
        let mut reader = StrictReader {
            data: datum,
            short_read: false,
        };
        let value = match writer {
            None => apache_avro::from_avro_datum(&self.schema, &mut reader, None),
            Some(writer) => apache_avro::from_avro_datum(writer, &mut reader, Some(&self.schema)),
        }
        .map_err(|e| CodecError::Decode(Box::new(e)))?;
        if reader.short_read {
            return Err(CodecError::Truncated);
        }
        if !reader.data.is_empty() {
            return Err(CodecError::TrailingBytes(reader.data.len()));
        }
        let value = match value {
            // timestamp-millis decodes as its logical type; the model carries plain millis.
            Value::Record(fields) => Value::Record(
                fields
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::TimestampMillis(ms) => (k, Value::Long(ms)),
                        other => (k, other),
                    })
                    .collect(),
            ),
            other => other,
        };
        apache_avro::from_value(&value).map_err(|e| CodecError::Decode(Box::new(e)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{CaptureMode, EntityType, Op, SourceInfo};
    use crate::model::*;

    pub(crate) fn sample_table() -> Table {
        Table {
            oid: 16384,
            schema: "Ünï schema".into(),
            name: "order \"items\"".into(),
            table_type: TableType::Partition,
            owner: "app".into(),
            description: Some("line items".into()),
            row_estimate: Some(1234.0),
            size_bytes: Some(8192),
            columns: vec![Column {
                attnum: 1,
                name: "tags".into(),
                data_type: "public.mood[]".into(),
                type_family: TypeFamily::Enum,
                is_array: true,
                element_type: Some("public.mood".into()),
                domain: None,
                enum_labels: vec!["sad".into(), "ok".into()],
                nullable: false,
                default: Some("'{}'::public.mood[]".into()),
                identity: Some(Identity::ByDefault),
                generated: None,
                collation: None,
                description: Some("how it went".into()),
            }],
            constraints: vec![Constraint {
                name: "fk".into(),
                constraint_type: ConstraintType::ForeignKey,
                columns: vec!["a".into()],
                definition: "FOREIGN KEY (a) REFERENCES b(c)".into(),
                references: Some(ForeignKeyReference {
                    schema: "public".into(),
                    table: "b".into(),
                    columns: vec!["c".into()],
                    on_update: "NO ACTION".into(),
                    on_delete: "CASCADE".into(),
                    match_type: "SIMPLE".into(),
                }),
                deferrable: true,
                description: None,
                local: false,
            }],
            indexes: vec![],
            view_definition: None,
            partitioning: Some(Partitioning {
                strategy: "LIST".into(),
                key: "LIST (a)".into(),
            }),
            partition_of: Some(PartitionOf {
                parent_schema: "public".into(),
                parent_table: "p".into(),
                bound: "DEFAULT".into(),
            }),
            foreign_table: None,
            inherits: vec![],
            of_type: None,
            ddl: Some("CREATE TABLE ...".into()),
            triggers: vec![Trigger {
                name: "audit".into(),
                timing: "AFTER".into(),
                events: vec!["INSERT".into(), "UPDATE".into()],
                level: "ROW".into(),
                function: "public.audit()".into(),
                enabled: "ORIGIN".into(),
                is_constraint: false,
                definition: "CREATE TRIGGER audit ...".into(),
            }],
            row_level_security: true,
            force_row_level_security: false,
            policies: vec![Policy {
                name: "own rows".into(),
                command: "SELECT".into(),
                permissive: true,
                roles: vec!["PUBLIC".into()],
                using: Some("(owner = CURRENT_USER)".into()),
                with_check: None,
            }],
            privileges: vec![Grant {
                grantee: "reader".into(),
                privileges: vec!["SELECT".into(), "UPDATE".into()],
                grantable: vec!["SELECT".into()],
            }],
        }
    }

    pub(crate) fn sample_event() -> MetadataEvent {
        MetadataEvent {
            event_id: "6f1c0f3e-0000-5000-8000-000000000000".into(),
            emitted_at: 1_790_000_000_123,
            source: SourceInfo {
                service: "svc".into(),
                database: "app".into(),
                server_version: "15.19".into(),
                capture_mode: CaptureMode::Poll,
                pgmeta_version: "0.1.0".into(),
            },
            entity_type: EntityType::Table,
            fqn: "svc.app.public.t".into(),
            previous_fqn: Some("svc.app.public.old".into()),
            op: Op::Update,
            changed_fields: vec!["name".into(), "columns.tags.data_type".into()],
            object_id: 16384,
            entity_version: 3,
            database: None,
            database_schema: None,
            table: Some(sample_table()),
            routine: None,
            truncated_fields: vec![],
            capture_epoch: 0,
            field_changes: vec![crate::event::FieldChange {
                path: "columns.tags.data_type".into(),
                before: Some("text".into()),
                after: Some("text[]".into()),
            }],
        }
    }

    #[test]
    fn round_trips_every_entity_kind() {
        let codec = AvroCodec::metadata().expect("schema parses");
        let mut events = vec![sample_event()];
        let mut e = sample_event();
        e.entity_type = EntityType::Database;
        e.table = None;
        e.database = Some(Database {
            oid: 5,
            name: "app".into(),
            owner: "postgres".into(),
            description: None,
            encoding: "UTF8".into(),
            collation: "C.UTF-8".into(),
            extensions: vec![Extension {
                name: "pg_stat_statements".into(),
                version: "1.10".into(),
                schema: "public".into(),
            }],
        });
        events.push(e.clone());
        e.entity_type = EntityType::DatabaseSchema;
        e.database = None;
        e.database_schema = Some(DatabaseSchema {
            oid: 2200,
            name: "public".into(),
            owner: "pg".into(),
            description: Some("d".into()),
            privileges: vec![Grant {
                grantee: "reader".into(),
                privileges: vec!["SELECT".into(), "UPDATE".into()],
                grantable: vec!["SELECT".into()],
            }],
            sequences: vec![Sequence {
                name: "orders_id_seq".into(),
                data_type: "bigint".into(),
                start: 1,
                increment: 1,
                min_value: 1,
                max_value: i64::MAX,
                cycle: false,
                owner: "app".into(),
                owned_by: Some("public.orders.id".into()),
                description: None,
                privileges: vec![Grant {
                    grantee: "reader".into(),
                    privileges: vec!["SELECT".into(), "UPDATE".into()],
                    grantable: vec!["SELECT".into()],
                }],
            }],
        });
        events.push(e.clone());
        e.entity_type = EntityType::Routine;
        e.database_schema = None;
        e.routine = Some(Routine {
            oid: 9,
            schema: "public".into(),
            name: "f".into(),
            kind: RoutineKind::Procedure,
            arguments: "a integer".into(),
            return_type: None,
            language: "plpgsql".into(),
            body: Some("BEGIN END".into()),
            owner: "app".into(),
            description: None,
            volatility: "VOLATILE".into(),
            security_definer: true,
            privileges: vec![],
        });
        events.push(e.clone());
        e.op = Op::Delete;
        e.routine = None;
        events.push(e);
        for event in events {
            let bytes = codec.encode(&event).expect("encodes");
            assert_eq!(&bytes[..2], &[0xC3, 0x01]);
            assert_eq!(codec.decode(&bytes).expect("decodes"), event);
        }
    }

    /// The single-object header is the specification's (`C3 01` and the fingerprint of the
    /// Parsing Canonical Form, which apache-avro's own single-object writer gets wrong for
    /// logical types); the datum after it is the Avro library's.
    #[test]
    fn a_message_is_the_spec_header_then_the_avro_librarys_datum() {
        let codec = AvroCodec::metadata().expect("schema parses");
        let event = sample_event();
        let ours = codec.encode(&event).expect("encodes");
        let value = apache_avro::to_value(&event)
            .expect("value")
            .resolve(&codec.schema)
            .expect("resolves");
        let datum = apache_avro::to_avro_datum(&codec.schema, value).expect("datum");
        assert_eq!(&ours[..2], &[0xC3, 0x01]);
        assert_eq!(
            ours[2..HEADER_LEN],
            fingerprint(METADATA_EVENT_SCHEMA).expect("fingerprint")
        );
        assert_eq!(&ours[HEADER_LEN..], &datum[..]);
    }

    #[test]
    fn registry_framing_carries_the_schema_id_and_decodes_once_the_id_is_known() {
        let writer = AvroCodec::metadata().expect("codec").with_registry_id(258);
        let event = sample_event();
        let bytes = writer.encode(&event).expect("encodes");
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, 2]);
        assert_eq!(registry_schema_id(&bytes), Some(258));
        assert_eq!(writer.decode(&bytes).expect("decodes"), event);

        let reader = AvroCodec::metadata().expect("codec");
        assert!(matches!(
            reader.decode(&bytes),
            Err(CodecError::UnknownSchemaId(258))
        ));
        reader.learn_registry_schema(258, Ok(METADATA_EVENT_SCHEMA));
        assert_eq!(reader.decode(&bytes).expect("decodes"), event);

        // Another topic's schema under an id: its records fail with the reason.
        reader.learn_registry_schema(9, Ok(USAGE_EVENT_SCHEMA));
        let mut foreign = bytes.clone();
        foreign[1..5].copy_from_slice(&9u32.to_be_bytes());
        let err = reader.decode(&foreign).expect_err("not a MetadataEvent");
        assert!(
            err.to_string()
                .contains("not a readable version of io.pgmeta.MetadataEvent"),
            "{err}"
        );
    }

    #[test]
    fn oversized_events_shed_large_text_in_order_and_say_so() {
        let codec = AvroCodec::metadata().expect("schema parses");
        let mut event = sample_event();
        let table = event.table.as_mut().expect("table");
        table.ddl = Some("x".repeat(50_000));
        table.view_definition = Some("y".repeat(50_000));
        table.columns[0].description = Some("z".repeat(50_000));
        let size = |e: &MetadataEvent| codec.encode(e).map(|b| b.len()).unwrap_or(usize::MAX);
        assert!(event.clone().fit(200_000, size) && event.clone().truncated_fields.is_empty());
        assert!(event.fit(60_000, size));
        assert_eq!(
            event.truncated_fields,
            vec!["table.ddl", "table.view_definition"]
        );
        let t = event.table.as_ref().expect("table");
        assert!(
            t.ddl.is_none() && t.view_definition.is_none() && t.columns[0].description.is_some()
        );
        assert_eq!(
            codec
                .decode(&codec.encode(&event).expect("encodes"))
                .expect("decodes"),
            event
        );
        let mut event = sample_event();
        event.table.as_mut().expect("table").name = "n".repeat(10_000);
        assert!(
            !event.fit(1_000, size),
            "a name cannot be shed: the event does not fit"
        );
    }

    #[test]
    fn rejects_foreign_bytes_with_a_clear_error() {
        let codec = AvroCodec::metadata().expect("schema parses");
        let err = codec.decode(b"{\"json\": true}").expect_err("not avro");
        assert!(
            err.to_string().contains("not a pgmeta Avro record"),
            "{err}"
        );
        let mut bytes = codec.encode(&sample_event()).expect("encodes");
        bytes[2] ^= 0xff;
        let err = codec.decode(&bytes).expect_err("wrong fingerprint");
        assert!(err.to_string().contains("schema fingerprint"), "{err}");
        let bytes = codec.encode(&sample_event()).expect("encodes");
        for cut in 1..20 {
            let err = codec
                .decode(&bytes[..bytes.len() - cut])
                .expect_err("truncated");
            assert!(
                matches!(err, CodecError::Truncated | CodecError::Decode(_)),
                "cut {cut}: {err}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            codec.decode(&longer),
            Err(CodecError::TrailingBytes(1))
        ));
    }
}
