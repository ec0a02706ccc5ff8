#!/usr/bin/env bash
# Apache Kafka's broker jars (org.apache.kafka:kafka_2.13, as scripts/kafka/pom.xml pins them),
# in the cache outside the clone. Without Java or Maven the test suite runs against tansu only
# and `make test` says so.
set -euo pipefail
CACHE="${PGMETA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
exec "$HERE/scripts/install-maven-libs.sh" "$HERE/scripts/kafka/pom.xml" \
  "$CACHE/kafka/lib" "Apache Kafka (tests run against tansu only)"
