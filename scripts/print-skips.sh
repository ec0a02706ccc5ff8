#!/usr/bin/env bash
# Prints the tests that skipped during `make test` (one line each, recorded by
# pgmeta::testkit::skip into the file named here), then removes the file.
set -euo pipefail
log="${1:?usage: print-skips.sh SKIP_LOG}"
if [ -s "$log" ]; then
  echo "== $(wc -l < "$log") test(s) skipped =="
  sort "$log"
else
  echo "== no test skipped =="
fi
rm -f "$log"
