#!/usr/bin/env bash
# Installs rivven-schema (crates.io, Apache-2.0), a server of the Confluent Schema Registry REST
# API, into the tools cache outside the clone, reused when the pinned version is there. Prints
# the binary's path. Only the Avro and server parts are built (~4 min on 2 cores, once).
#
# Why this registry: Apicurio Registry (Maven Central) cannot be resolved here (its module
# apicurio-registry-schema-util-provider is served in no version), Karapace is not on PyPI,
# and Confluent's own registry is not on Maven Central.
set -euo pipefail
RIVVEN_VERSION="${RIVVEN_VERSION:-0.0.22}"
TOOLS="${PGMETA_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta/tools}"
BIN="$TOOLS/bin/rivven-schema"
if [ -x "$BIN" ] && [ "$(cat "$TOOLS/rivven-schema.version" 2>/dev/null)" = "$RIVVEN_VERSION" ]; then
  echo "$BIN"; exit 0
fi
mkdir -p "$TOOLS"
echo "installing rivven-schema $RIVVEN_VERSION into $TOOLS (about 4 min on 2 cores, once)" >&2
cargo install rivven-schema --version "=$RIVVEN_VERSION" --locked --no-default-features \
  --features server,avro,cli --root "$TOOLS" --target-dir "$TOOLS/target-rivven" >&2
rm -rf "$TOOLS/target-rivven"
echo "$RIVVEN_VERSION" > "$TOOLS/rivven-schema.version"
echo "$BIN"
