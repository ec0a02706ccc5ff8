#!/usr/bin/env bash
# Installs Apache Kafka's broker jars (org.apache.kafka:kafka_2.13, from Maven Central, as
# scripts/kafka/pom.xml pins them) into a cache outside the clone, reused while the pom is
# unchanged. Prints the jar directory. Without Java or Maven it says so and exits 0: the test
# suite then runs against tansu only and `make test` says so.
set -euo pipefail
CACHE="${PGMETA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
POM="$HERE/scripts/kafka/pom.xml"
LIB="$CACHE/kafka/lib"
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  echo "no java or mvn: Apache Kafka is not installed; tests run against tansu only" >&2
  exit 0
fi
STAMP="$(sha256sum "$POM" | cut -c1-16)"
if [ "$(cat "$LIB/READY" 2>/dev/null)" != "$STAMP" ]; then
  echo "installing Apache Kafka's jars into $LIB" >&2
  rm -rf "$LIB"
  mkdir -p "$LIB"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB" >&2
  echo "$STAMP" > "$LIB/READY"
fi
echo "$LIB"
