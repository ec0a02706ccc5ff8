#!/usr/bin/env bash
# Installs the Kafka-compatible broker `tansu` (crates.io, Apache-2.0) into a cache outside the
# clone and reuses it when the pinned version is already there. Prints the binary's path.
# The default features have no storage engine, hence `dynostore,libsql` (memory:// and sqlite://).
set -euo pipefail
TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
TOOLS="${PGMETA_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta/tools}"
BIN="$TOOLS/bin/tansu"
if [ -x "$BIN" ] && [ "$(cat "$TOOLS/tansu.version" 2>/dev/null)" = "$TANSU_VERSION" ]; then
  echo "$BIN"; exit 0
fi
mkdir -p "$TOOLS"
echo "installing tansu $TANSU_VERSION into $TOOLS (takes ~11 min on 2 cores, once)" >&2
cargo install tansu --version "=$TANSU_VERSION" --locked --features dynostore,libsql \
  --root "$TOOLS" --target-dir "$TOOLS/target" >&2
rm -rf "$TOOLS/target"
echo "$TANSU_VERSION" > "$TOOLS/tansu.version"
echo "$BIN"
