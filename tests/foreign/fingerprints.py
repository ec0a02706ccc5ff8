"""Prints `<path> <fingerprint>` for each Avro schema file given: fastavro's CRC-64-AVRO
fingerprint of the schema's Parsing Canonical Form, as 16 hex digits of the little-endian
bytes a single-object message carries. Run by tests/schema_evolution.rs."""
import json
import sys

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        schema = parse_schema(json.load(f))
    print(path, fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
