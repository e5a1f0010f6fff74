#!/usr/bin/env bash
# Compares the symbols libpysandbox.so exports with tests/exports.txt: the
# public API and nothing internal (psb__*) or from the libraries it links.
set -euo pipefail
lib="$1"
want="$(dirname "${BASH_SOURCE[0]}")/../tests/exports.txt"
got="$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)"
if ! diff -u "$want" <(printf '%s\n' "$got"); then
  echo "check-exports: $lib exports differ from tests/exports.txt (+ unexpected, - missing)" >&2
  exit 1
fi
echo "check-exports: $(wc -l <"$want") symbols, as listed"
