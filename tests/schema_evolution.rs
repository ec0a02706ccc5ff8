//! The event schemas as a public contract: every released version is kept in
//! `schemas/history/`, the current schema reads data written with each of them (Avro's schema
//! resolution, checked by the rules and by decoding a datum that fills every field), and each
//! schema's fingerprint is the one stock readers compute (fastavro and Java's Apache Avro, run
//! here when installed).

use apache_avro::schema::{Name, Schema};
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::types::Value;
use pgmeta::codec::history::{self, RELEASED};
use pgmeta::codec::{self as codec, AvroCodec};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

const SCHEMAS: [(&str, &str); 4] = [
    ("MetadataEvent", codec::METADATA_EVENT_SCHEMA),
    ("UsageEvent", codec::USAGE_EVENT_SCHEMA),
    ("LineageEvent", codec::LINEAGE_EVENT_SCHEMA),
    ("SchemaChangeEvent", codec::SCHEMA_CHANGE_EVENT_SCHEMA),
];

fn schemas_dir() -> PathBuf {
    pgmeta::testkit::project_dir().join("schemas")
}

#[test]
fn every_released_version_is_kept_and_the_last_is_the_current_schema() {
    let mut on_disk = Vec::new();
    for dir in std::fs::read_dir(schemas_dir().join("history")).expect("schemas/history") {
        let dir = dir.expect("entry").path();
        for file in std::fs::read_dir(&dir).expect("schema dir") {
            let file = file.expect("entry").path();
            let name = dir
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let version = file
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix('v'))
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or_else(|| panic!("{} is not v<n>.avsc", file.display()));
            let text = std::fs::read_to_string(&file).expect("read");
            on_disk.push((name, version, text));
        }
    }
    on_disk.sort();
    let mut compiled: Vec<(String, u32, String)> = RELEASED
        .iter()
        .map(|r| (r.name.to_owned(), r.version, r.text.to_owned()))
        .collect();
    compiled.sort();
    assert_eq!(
        on_disk, compiled,
        "schemas/history and codec::history::RELEASED list the same versions"
    );
    for (name, current) in SCHEMAS {
        let versions: Vec<u32> = history::versions(name).map(|r| r.version).collect();
        assert_eq!(
            versions,
            (1..=versions.len() as u32).collect::<Vec<_>>(),
            "{name}: versions 1..n"
        );
        let last = history::versions(name).last().expect("a released version");
        assert_eq!(
            codec::parsing_canonical_form(last.text).expect("pcf"),
            codec::parsing_canonical_form(current).expect("pcf"),
            "schemas/{name}.avsc changed: release it as schemas/history/{name}/v{}.avsc (and in codec::history::RELEASED) once it passes this test",
            last.version + 1
        );
    }
}

#[test]
fn the_current_schemas_read_data_of_every_released_version() {
    for (name, current_text) in SCHEMAS {
        let current = Schema::parse_str(current_text).expect("current schema");
        let reader = match name {
            "MetadataEvent" => AvroCodec::metadata(),
            "UsageEvent" => AvroCodec::usage(),
            "SchemaChangeEvent" => AvroCodec::schema_change(),
            _ => AvroCodec::lineage(),
        }
        .expect("codec");
        for old in history::versions(name) {
            let writer = Schema::parse_str(old.text).expect("released schema");
            if let Err(e) = SchemaCompatibility::can_read(&writer, &current) {
                panic!("{name} cannot read v{}: {e}", old.version);
            }
            let mut named = HashMap::new();
            collect_named(&writer, &mut named);
            let datum = apache_avro::to_avro_datum(&writer, full_value(&writer, &named))
                .unwrap_or_else(|e| panic!("{name} v{}: sample datum: {e}", old.version));
            let mut legacy = [0u8; 8];
            legacy.copy_from_slice(&writer.fingerprint::<apache_avro::rabin::Rabin>().bytes[..8]);
            for fingerprint in [codec::fingerprint(old.text).expect("fingerprint"), legacy] {
                let mut message = vec![0xC3, 0x01];
                message.extend_from_slice(&fingerprint);
                message.extend_from_slice(&datum);
                let decoded = match name {
                    "MetadataEvent" => reader.decode(&message).map(|_| ()),
                    "UsageEvent" => reader
                        .decode_value::<pgmeta::event::UsageEvent>(&message)
                        .map(|_| ()),
                    "SchemaChangeEvent" => reader
                        .decode_value::<pgmeta::event::SchemaChangeEvent>(&message)
                        .map(|_| ()),
                    _ => reader
                        .decode_value::<pgmeta::event::LineageEvent>(&message)
                        .map(|_| ()),
                };
                if let Err(e) = decoded {
                    panic!(
                        "{name} v{} (fingerprint {fingerprint:02x?}) does not decode: {e}",
                        old.version
                    );
                }
            }
        }
    }
}

/// Named types of `schema` by full name, to follow references.
fn collect_named(schema: &Schema, named: &mut HashMap<Name, Schema>) {
    match schema {
        Schema::Record(r) => {
            named.insert(r.name.clone(), schema.clone());
            for f in &r.fields {
                collect_named(&f.schema, named);
            }
        }
        Schema::Enum(e) => {
            named.insert(e.name.clone(), schema.clone());
        }
        Schema::Fixed(f) => {
            named.insert(f.name.clone(), schema.clone());
        }
        Schema::Array(a) => collect_named(&a.items, named),
        Schema::Map(m) => collect_named(&m.types, named),
        Schema::Union(u) => u.variants().iter().for_each(|v| collect_named(v, named)),
        _ => {}
    }
}

/// A value of `schema` with every optional field present and every collection non-empty,
/// so decoding it exercises every field the writer had.
fn full_value(schema: &Schema, named: &HashMap<Name, Schema>) -> Value {
    match schema {
        Schema::Null => Value::Null,
        Schema::Boolean => Value::Boolean(true),
        Schema::Int => Value::Int(7),
        Schema::Long => Value::Long(7),
        Schema::Float => Value::Float(1.5),
        Schema::Double => Value::Double(1.5),
        Schema::Bytes => Value::Bytes(vec![1, 2]),
        Schema::String => Value::String("s".into()),
        Schema::TimestampMillis => Value::TimestampMillis(1_700_000_000_000),
        Schema::Array(a) => Value::Array(vec![full_value(&a.items, named)]),
        Schema::Map(m) => Value::Map(HashMap::from([("k".into(), full_value(&m.types, named))])),
        Schema::Union(u) => {
            let (i, branch) = u
                .variants()
                .iter()
                .enumerate()
                .rfind(|(_, v)| **v != Schema::Null)
                .expect("a union with a non-null branch");
            Value::Union(i as u32, Box::new(full_value(branch, named)))
        }
        Schema::Record(r) => Value::Record(
            r.fields
                .iter()
                .map(|f| (f.name.clone(), full_value(&f.schema, named)))
                .collect(),
        ),
        Schema::Enum(e) => Value::Enum(0, e.symbols[0].clone()),
        Schema::Fixed(f) => Value::Fixed(f.size, vec![0; f.size]),
        Schema::Ref { name } => full_value(
            named
                .get(name)
                .unwrap_or_else(|| panic!("unresolved reference {name}")),
            named,
        ),
        other => panic!("no sample value for {other:?}"),
    }
}

/// Every schema file, current and released.
fn all_schema_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = SCHEMAS
        .iter()
        .map(|(name, _)| schemas_dir().join(format!("{name}.avsc")))
        .collect();
    for r in RELEASED {
        files.push(
            schemas_dir()
                .join("history")
                .join(r.name)
                .join(format!("v{}.avsc", r.version)),
        );
    }
    files
}

/// Compares `output` (lines `<path> <fingerprint hex>`) with pgmeta's fingerprints.
fn assert_same_fingerprints(tool: &str, output: &std::process::Output) {
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{tool} failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let files = all_schema_files();
    let mut compared = 0;
    for line in text.lines() {
        let (path, theirs) = line.rsplit_once(' ').expect("<path> <hex>");
        let ours = codec::fingerprint(&std::fs::read_to_string(path).expect("schema"))
            .expect("fingerprint");
        let ours: String = ours.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ours, theirs, "{tool} fingerprint of {path}");
        compared += 1;
    }
    assert_eq!(compared, files.len(), "{tool} printed: {text}");
}

#[test]
fn fastavro_computes_the_same_fingerprints() {
    let Some(python) = pgmeta::testkit::venv_program("venv-avro", "python") else {
        pgmeta::testkit::skip(
            "fastavro_computes_the_same_fingerprints",
            pgmeta::testkit::Missing::Tool,
            "no fastavro venv (run scripts/install-python-tools.sh)",
        );
        return;
    };
    let out = Command::new(python)
        .arg(pgmeta::testkit::project_dir().join("tests/foreign/fingerprints.py"))
        .args(all_schema_files())
        .output()
        .expect("run fastavro");
    assert_same_fingerprints("fastavro", &out);
}

#[test]
fn java_avro_computes_the_same_fingerprints() {
    let Some(classpath) = crate::common::java_classpath() else {
        pgmeta::testkit::skip(
            "java_avro_computes_the_same_fingerprints",
            pgmeta::testkit::Missing::Tool,
            "no Java or no Apache Avro jars (run scripts/install-java-tools.sh)",
        );
        return;
    };
    let source = pgmeta::testkit::project_dir().join("tests/foreign/Fingerprints.java");
    // The JDK runs a single source file directly (JEP 330): nothing to compile or cache.
    let out = Command::new("java")
        .arg("-cp")
        .arg(classpath)
        .arg(source)
        .args(all_schema_files())
        .output()
        .expect("run java");
    assert_same_fingerprints("Java SchemaNormalization", &out);
}

/// The check a Confluent-API registry runs at the BACKWARD level (Apache Avro's
/// `SchemaCompatibility`, which Confluent's registry calls for Avro subjects), here over every
/// released version rather than only the last (BACKWARD_TRANSITIVE). rivven-schema, the
/// registry the other tests run, refuses identical `timestamp-millis` fields as incompatible
/// (0.0.22), so its own verdict cannot be used; a control schema proves the check can refuse.
#[test]
fn java_avro_accepts_every_released_version_as_backward_compatible() {
    let Some(classpath) = crate::common::java_classpath() else {
        pgmeta::testkit::skip(
            "java_avro_accepts_every_released_version_as_backward_compatible",
            pgmeta::testkit::Missing::Tool,
            "no Java or no Apache Avro jars (run scripts/install-java-tools.sh)",
        );
        return;
    };
    let scratch = tempfile::tempdir().expect("temp dir");
    for (name, current) in SCHEMAS {
        // Control: a writer whose first string field is an int cannot be read.
        let mut control: serde_json::Value = serde_json::from_str(current).expect("json");
        let fields = control["fields"].as_array_mut().expect("fields");
        let position = fields
            .iter()
            .position(|f| f["type"] == "string")
            .expect("a string field");
        fields[position]["type"] = "int".into();
        let changed = format!("/fields/{position}/type");
        let control_path = scratch.path().join(format!("{name}.control.avsc"));
        std::fs::write(&control_path, control.to_string()).expect("write control");
        let writers: Vec<PathBuf> = history::versions(name)
            .map(|r| {
                schemas_dir()
                    .join("history")
                    .join(r.name)
                    .join(format!("v{}.avsc", r.version))
            })
            .collect();
        let out = Command::new("java")
            .arg("-cp")
            .arg(&classpath)
            .arg(pgmeta::testkit::project_dir().join("tests/foreign/Compatibility.java"))
            .arg(schemas_dir().join(format!("{name}.avsc")))
            .args(&writers)
            .arg(&control_path)
            .output()
            .expect("run java");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let verdicts: HashMap<&str, &str> =
            text.lines().filter_map(|l| l.split_once(' ')).collect();
        for writer in &writers {
            assert_eq!(
                verdicts.get(writer.to_str().expect("utf-8 path")),
                Some(&"COMPATIBLE"),
                "{name} cannot read {}: {text}",
                writer.display()
            );
        }
        let control_verdict = verdicts
            .get(control_path.to_str().expect("utf-8 path"))
            .unwrap_or_else(|| panic!("{name}: no verdict for the control: {text}"));
        assert!(
            control_verdict.starts_with("INCOMPATIBLE") && control_verdict.contains(&changed),
            "{name}: the control must be refused naming its field: {control_verdict}"
        );
    }
}
