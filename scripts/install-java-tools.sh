#!/usr/bin/env bash
# Java libraries the foreign-reader tests use (Apache Avro for Java), resolved by Maven from
# Maven Central into a cache outside the clone and reused while tests/foreign/java/pom.xml is
# unchanged. Without Java or Maven it says so and exits 0: those tests then report a skip.
set -euo pipefail
CACHE="${PGMETA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
POM="$HERE/tests/foreign/java/pom.xml"
LIB="$CACHE/java-avro/lib"
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  echo "no java or mvn: the Java foreign-reader tests will skip" >&2
  exit 0
fi
STAMP="$(sha256sum "$POM" | cut -c1-16)"
if [ "$(cat "$LIB/READY" 2>/dev/null)" != "$STAMP" ]; then
  echo "resolving the Java test libraries into $LIB" >&2
  rm -rf "$LIB"
  mkdir -p "$LIB"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB" >&2
  echo "$STAMP" > "$LIB/READY"
fi
echo "$LIB"
