//! The Parsing Canonical Form of an Avro schema and its CRC-64-AVRO fingerprint, as the Avro
//! specification defines them ("Schema Resolution" > "Parsing Canonical Form for Schemas").
//!
//! Written here rather than taken from apache-avro: its 0.21 canonical form keeps a
//! logical-typed primitive as an object (`{"type":"long"}` for a `timestamp-millis`) where
//! the specification's PRIMITIVES rule, Java's `SchemaNormalization` and fastavro give
//! `"long"`, so a stock reader looking the writer schema up by fingerprint would not find it.
//! The fingerprint itself is apache-avro's CRC-64-AVRO over these bytes. Golden tests pin each
//! schema's fingerprint to the values Java and fastavro compute.

use apache_avro::rabin::Rabin;
use serde_json::Value;
use sha2::Digest;
use std::collections::HashSet;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

#[derive(Debug, thiserror::Error)]
#[error("schema is not valid Avro JSON at {at}: {reason}")]
pub struct CanonicalError {
    at: String,
    reason: String,
}

/// The Parsing Canonical Form of the schema `text`: the specification's rules PRIMITIVES,
/// FULLNAMES, STRIP, ORDER, STRINGS, INTEGERS and WHITESPACE, with each named type written out
/// at its first occurrence and by full name after that.
pub fn parsing_canonical_form(text: &str) -> Result<String, CanonicalError> {
    let schema: Value = serde_json::from_str(text).map_err(|e| CanonicalError {
        at: "the top".into(),
        reason: e.to_string(),
    })?;
    let mut out = String::new();
    build(&schema, "", &mut HashSet::new(), &mut out)?;
    Ok(out)
}

/// The CRC-64-AVRO (Rabin) fingerprint of the canonical form, in the byte order the
/// single-object encoding writes (little-endian).
pub fn fingerprint(text: &str) -> Result<[u8; 8], CanonicalError> {
    let pcf = parsing_canonical_form(text)?;
    let mut rabin = Rabin::default();
    rabin.update(pcf.as_bytes());
    let mut fingerprint = [0u8; 8];
    fingerprint.copy_from_slice(&rabin.finalize()[..8]);
    Ok(fingerprint)
}

fn invalid(at: &str, reason: &str) -> CanonicalError {
    CanonicalError {
        at: at.to_owned(),
        reason: reason.to_owned(),
    }
}

fn quoted(s: &str) -> String {
    // serde_json writes non-ASCII as UTF-8, never as \u escapes: rule STRINGS.
    Value::String(s.to_owned()).to_string()
}

/// `name` made full: kept when it has a dot, else prefixed by the explicit or the enclosing
/// namespace.
fn full_name(name: &str, namespace: Option<&str>, enclosing: &str) -> String {
    if name.contains('.') {
        return name.to_owned();
    }
    match namespace.unwrap_or(enclosing) {
        "" => name.to_owned(),
        ns => format!("{ns}.{name}"),
    }
}

fn build(
    schema: &Value,
    enclosing: &str,
    seen: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), CanonicalError> {
    match schema {
        Value::String(name) if PRIMITIVES.contains(&name.as_str()) => out.push_str(&quoted(name)),
        // A reference to a named type defined earlier.
        Value::String(name) => out.push_str(&quoted(&full_name(name, None, enclosing))),
        Value::Array(branches) => {
            out.push('[');
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                build(branch, enclosing, seen, out)?;
            }
            out.push(']');
        }
        Value::Object(object) => {
            let kind = object
                .get("type")
                .ok_or_else(|| invalid(enclosing, "an object without \"type\""))?;
            match kind.as_str() {
                // {"type": "long", "logicalType": ...} is "long": rules PRIMITIVES and STRIP.
                Some(p) if PRIMITIVES.contains(&p) => out.push_str(&quoted(p)),
                Some("array") => {
                    let items = object
                        .get("items")
                        .ok_or_else(|| invalid(enclosing, "an array without \"items\""))?;
                    out.push_str(r#"{"type":"array","items":"#);
                    build(items, enclosing, seen, out)?;
                    out.push('}');
                }
                Some("map") => {
                    let values = object
                        .get("values")
                        .ok_or_else(|| invalid(enclosing, "a map without \"values\""))?;
                    out.push_str(r#"{"type":"map","values":"#);
                    build(values, enclosing, seen, out)?;
                    out.push('}');
                }
                Some(named @ ("record" | "error" | "enum" | "fixed")) => {
                    build_named(named, object, enclosing, seen, out)?
                }
                // {"type": {...}} or {"type": "some.Named"}: the inner schema.
                _ => build(kind, enclosing, seen, out)?,
            }
        }
        other => return Err(invalid(enclosing, &format!("unexpected JSON {other}"))),
    }
    Ok(())
}

fn build_named(
    kind: &str,
    object: &serde_json::Map<String, Value>,
    enclosing: &str,
    seen: &mut HashSet<String>,
    out: &mut String,
) -> Result<(), CanonicalError> {
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(enclosing, &format!("a {kind} without a name")))?;
    let namespace = object.get("namespace").and_then(Value::as_str);
    let full = full_name(name, namespace, enclosing);
    if !seen.insert(full.clone()) {
        out.push_str(&quoted(&full));
        return Ok(());
    }
    // Types nested in this one take its namespace.
    let own_namespace = full.rsplit_once('.').map_or("", |(ns, _)| ns);
    out.push_str(&format!(r#"{{"name":{},"type":"#, quoted(&full)));
    match kind {
        "enum" => {
            let symbols = object
                .get("symbols")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(&full, "an enum without symbols"))?;
            let symbols: Vec<String> = symbols
                .iter()
                .map(|s| s.as_str().map(quoted))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid(&full, "a symbol that is not a string"))?;
            out.push_str(&format!(r#""enum","symbols":[{}]}}"#, symbols.join(",")));
        }
        "fixed" => {
            // Rule INTEGERS: the size as a plain number, whether it was written "16" or 16.
            let size = object
                .get("size")
                .and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok()))
                .ok_or_else(|| invalid(&full, "a fixed without a size"))?;
            out.push_str(&format!(r#""fixed","size":{size}}}"#));
        }
        _ => {
            let fields = object
                .get("fields")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(&full, "a record without fields"))?;
            out.push_str(&format!("{},\"fields\":[", quoted(kind)));
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let field_name = field
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&full, "a field without a name"))?;
                let field_type = field.get("type").ok_or_else(|| {
                    invalid(&format!("{full}.{field_name}"), "a field without a type")
                })?;
                out.push_str(&format!(r#"{{"name":{},"type":"#, quoted(field_name)));
                build(field_type, own_namespace, seen, out)?;
                out.push('}');
            }
            out.push_str("]}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(fp: [u8; 8]) -> String {
        fp.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Values from Java's `SchemaNormalization.parsingFingerprint64` (Apache Avro 1.12.1) and
    /// fastavro 1.13 (`fingerprint(to_parsing_canonical_form(...), "CRC-64-AVRO")`), which
    /// agree. A schema change changes these: compute them again with
    /// `tests/foreign/fingerprints.py` (fastavro venv) and `java -cp '<avro jars>/*'
    /// tests/foreign/Fingerprints.java`, never from this code.
    #[test]
    fn the_topics_schemas_have_the_fingerprints_java_and_fastavro_give() {
        for (text, want) in [
            (crate::codec::METADATA_EVENT_SCHEMA, "58fbf00ad3cc798e"),
            (crate::codec::USAGE_EVENT_SCHEMA, "190a5c522c473a39"),
            (crate::codec::LINEAGE_EVENT_SCHEMA, "bd0fd7a7373b7164"),
            (crate::codec::SCHEMA_CHANGE_EVENT_SCHEMA, "1ee833be119e90b7"),
        ] {
            assert_eq!(hex(fingerprint(text).expect("fingerprint")), want);
        }
    }

    #[test]
    fn primitives_have_the_specifications_fingerprints() {
        // From the Avro specification's test vectors (share/test/data/schema-tests.txt), as
        // little-endian bytes.
        assert_eq!(
            hex(fingerprint(r#""int""#).expect("int")),
            "8f5c393f1ad57572"
        );
        assert_eq!(
            fingerprint(r#"{"type": "int"}"#).expect("object"),
            fingerprint(r#""int""#).expect("int")
        );
    }

    #[test]
    fn logical_types_docs_and_defaults_are_stripped() {
        let pcf = parsing_canonical_form(
            r#"{"type": "record", "name": "E", "namespace": "ns", "doc": "d",
                "fields": [{"name": "at", "doc": "x", "default": 0,
                            "type": {"type": "long", "logicalType": "timestamp-millis"}}]}"#,
        )
        .expect("pcf");
        assert_eq!(
            pcf,
            r#"{"name":"ns.E","type":"record","fields":[{"name":"at","type":"long"}]}"#
        );
    }

    #[test]
    fn named_types_are_full_named_and_written_once() {
        let pcf = parsing_canonical_form(
            r#"{"type": "record", "name": "a.Outer", "fields": [
                {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["X", "Y"]}},
                {"name": "again", "type": ["null", "Kind"]},
                {"name": "id", "type": {"type": "fixed", "name": "Id", "namespace": "b", "size": "16"}},
                {"name": "tags", "type": {"type": "map", "values": {"type": "array", "items": "b.Id"}}}
            ]}"#,
        )
        .expect("pcf");
        assert_eq!(
            pcf,
            concat!(
                r#"{"name":"a.Outer","type":"record","fields":["#,
                r#"{"name":"kind","type":{"name":"a.Kind","type":"enum","symbols":["X","Y"]}},"#,
                r#"{"name":"again","type":["null","a.Kind"]},"#,
                r#"{"name":"id","type":{"name":"b.Id","type":"fixed","size":16}},"#,
                r#"{"name":"tags","type":{"type":"map","values":{"type":"array","items":"b.Id"}}}]}"#
            )
        );
    }

    #[test]
    fn a_malformed_schema_is_named_where_it_breaks() {
        let err =
            parsing_canonical_form(r#"{"type": "record", "name": "R", "fields": [{"name": "f"}]}"#)
                .expect_err("no type");
        assert_eq!(
            err.to_string(),
            "schema is not valid Avro JSON at R.f: a field without a type"
        );
    }
}
