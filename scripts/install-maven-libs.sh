#!/usr/bin/env bash
# Resolves the dependencies of POM (with Maven, from Maven Central) into the directory LIB in
# the cache outside the clone, and reuses them while POM is unchanged (a stamp in LIB/READY).
# Prints LIB. Without Java or Maven it says what will not run and exits 0.
# usage: install-maven-libs.sh POM LIB WHAT
set -euo pipefail
POM="$1" LIB="$2" WHAT="$3"
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  echo "no java or mvn: $WHAT not installed" >&2
  exit 0
fi
STAMP="$(sha256sum "$POM" | cut -c1-16)"
if [ "$(cat "$LIB/READY" 2>/dev/null)" != "$STAMP" ]; then
  echo "installing $WHAT into $LIB" >&2
  rm -rf "$LIB"
  mkdir -p "$LIB"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIB" >&2
  echo "$STAMP" > "$LIB/READY"
fi
echo "$LIB"
