#!/usr/bin/env bash
# Java libraries the foreign-reader tests use (Apache Avro for Java, as
# tests/foreign/java/pom.xml pins them), in the cache outside the clone. Without Java or Maven
# those tests report a skip.
set -euo pipefail
CACHE="${PGMETA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
exec "$HERE/scripts/install-maven-libs.sh" "$HERE/tests/foreign/java/pom.xml" \
  "$CACHE/java-avro/lib" "Apache Avro for Java (the Java foreign-reader tests will skip)"
