#!/usr/bin/env bash
# Python peers the tests and benchmarks use, each in its own venv in a cache outside the clone,
# reused when it already works:
#   venv-dbt        dbt-core ~1.10 + dbt-postgres ~1.9 (the jaffle_shop lineage test; an unpinned
#                   dbt-postgres resolves to a dbt-core whose build downloads from GitHub)
#   venv-sqllineage sqllineage (the reference in `make bench`'s lineage figures)
#   venv-openmetadata openmetadata-ingestion[postgres], OpenMetadata's official Python client and Postgres connector (the
#                   pgmeta-catalog conformance test), pinned to 1.13 (unpinned, pip backtracks for
#                   most of an hour) with dbt-core < 1.11 because newer
#                   dbt-core pulls a package that downloads from GitHub at build time
#   venv-avro       fastavro and confluent-kafka with its Schema Registry Avro deserializer:
#                   the stock readers a downstream team would use (tests/schema_evolution.rs,
#                   tests/foreign_readers.rs)
set -euo pipefail
CACHE="${PGMETA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta}"
mkdir -p "$CACHE"
if ! "$CACHE/venv-dbt/bin/dbt" --version >/dev/null 2>&1; then
  echo "installing dbt into $CACHE/venv-dbt" >&2
  rm -rf "$CACHE/venv-dbt"
  python3 -m venv "$CACHE/venv-dbt"
  "$CACHE/venv-dbt/bin/pip" install -q "dbt-core~=1.10.0" "dbt-postgres~=1.9.0" >&2
fi
if ! "$CACHE/venv-sqllineage/bin/python" -c 'import sqllineage' >/dev/null 2>&1; then
  echo "installing sqllineage into $CACHE/venv-sqllineage" >&2
  rm -rf "$CACHE/venv-sqllineage"
  python3 -m venv "$CACHE/venv-sqllineage"
  "$CACHE/venv-sqllineage/bin/pip" install -q sqllineage >&2
fi
if ! "$CACHE/venv-avro/bin/python" -c 'import fastavro, confluent_kafka.schema_registry.avro' >/dev/null 2>&1; then
  echo "installing fastavro and confluent-kafka into $CACHE/venv-avro" >&2
  rm -rf "$CACHE/venv-avro"
  python3 -m venv "$CACHE/venv-avro"
  "$CACHE/venv-avro/bin/pip" install -q "fastavro~=1.13" "confluent-kafka[avro,schemaregistry]~=2.16" >&2
fi
# With its postgres extra: the ingestion test runs OpenMetadata's own Postgres connector
# (`metadata ingest`/`metadata usage`) against pgmeta-catalog. A venv from before the extra
# gets it added in place.
if ! "$CACHE/venv-openmetadata/bin/python" -c 'import metadata.ingestion.ometa.ometa_api' >/dev/null 2>&1; then
  echo "installing openmetadata-ingestion into $CACHE/venv-openmetadata (~3 min, once)" >&2
  rm -rf "$CACHE/venv-openmetadata"
  python3 -m venv "$CACHE/venv-openmetadata"
fi
if ! "$CACHE/venv-openmetadata/bin/python" -c 'import metadata.ingestion.ometa.ometa_api, psycopg2' >/dev/null 2>&1; then
  "$CACHE/venv-openmetadata/bin/pip" install -q "openmetadata-ingestion[postgres]~=1.13.0" \
    -c <(echo 'dbt-core<1.11') >&2
fi
echo "$CACHE"
