#!/usr/bin/env bash
# Runs the command given (the integration suite) with PGMETA_BROKER=kafka, so every test that
# talks to a broker talks to Apache Kafka; without Java or the jars scripts/install-kafka.sh
# caches, records the skip in SKIP_LOG instead (a failure in CI, CI=true).
set -euo pipefail
log="${1:?usage: test-apache-kafka.sh SKIP_LOG COMMAND...}"
shift
CACHE="${PGMETA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta}"
if command -v java >/dev/null && [ -f "$CACHE/kafka/lib/READY" ]; then
  version="$(ls "$CACHE"/kafka/lib/kafka_2.13-*.jar | sed 's/.*kafka_2.13-\(.*\)\.jar/\1/')"
  echo "== the integration suite against Apache Kafka $version =="
  PGMETA_BROKER=kafka PGMETA_SKIP_LOG="$log" "$@"
else
  line="SKIPPED the integration suite against Apache Kafka: no Java or no Kafka jars (scripts/install-kafka.sh needs java and mvn)"
  echo "$line"
  echo "$line" >> "$log"
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    echo "CI runs against Apache Kafka; install Java 17 and Maven" >&2
    exit 1
  fi
fi
