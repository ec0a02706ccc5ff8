"""A foreign consumer of pgmeta's topics, as a downstream team would write it with stock
libraries: confluent-kafka's Consumer, and for values either confluent-kafka's AvroDeserializer
with its SchemaRegistryClient (Schema Registry framing) or fastavro with the .avsc files looked
up by their single-object fingerprint. Prints one JSON object per record:
{"topic", "partition", "offset", "key", "value"} (value null for a tombstone; Avro longs with
a timestamp-millis logical type as epoch milliseconds). Exits 1 on any record it cannot decode.

usage: read_topics.py BROKERS (registry URL | single-object SCHEMAS_DIR) TOPIC...
Run by tests/foreign_readers.rs."""
import datetime
import glob
import io
import json
import sys

from confluent_kafka import Consumer, TopicPartition

brokers, mode, *topics = sys.argv[1:]


def plain(value):
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


if mode == "single-object":
    from fastavro import parse_schema, schemaless_reader
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    schemas_dir = topics.pop(0)
    by_fingerprint = {}
    for path in glob.glob(f"{schemas_dir}/*.avsc") + glob.glob(f"{schemas_dir}/history/*/*.avsc"):
        with open(path, encoding="utf-8") as f:
            schema = parse_schema(json.load(f))
        by_fingerprint[bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))] = schema

    def decode(topic, payload):
        if payload[:2] != b"\xc3\x01":
            raise ValueError(f"not single-object: {payload[:4].hex()}")
        schema = by_fingerprint.get(payload[2:10])
        if schema is None:
            raise ValueError(f"unknown fingerprint {payload[2:10].hex()}")
        return schemaless_reader(io.BytesIO(payload[10:]), schema)
else:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserializer = AvroDeserializer(SchemaRegistryClient({"url": mode}))

    def decode(topic, payload):
        return deserializer(payload, SerializationContext(topic, MessageField.VALUE))


failed = 0
for topic in topics:
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"foreign-{topic}", "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    for partition in sorted(metadata.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if high <= low:
            continue
        consumer.assign([TopicPartition(topic, partition, low)])
        offset = low
        while offset < high:
            message = consumer.poll(10)
            if message is None:
                print(f"timed out reading {topic}/{partition} at {offset}", file=sys.stderr)
                sys.exit(1)
            if message.error():
                continue
            offset = message.offset() + 1
            payload = message.value()
            try:
                value = None if payload is None else plain(decode(topic, payload))
            except Exception as e:  # report every record that does not decode
                failed += 1
                print(f"{topic}/{partition}@{message.offset()}: {e}", file=sys.stderr)
                continue
            key = message.key().decode("utf-8") if message.key() is not None else None
            print(json.dumps({"topic": topic, "partition": partition, "offset": message.offset(), "key": key, "value": value}))
    consumer.close()
sys.exit(1 if failed else 0)
