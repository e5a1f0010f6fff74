#!/usr/bin/env bash
# Runs clang-tidy (clang-tidy 14, the checks of .clang-tidy and
# tests/.clang-tidy) over every source file in a build's
# compile_commands.json: library, helper, CLI, bench, examples and tests.
# Fails on any finding. The build is $TIDY_BUILD_DIR (default ./build-tidy),
# configured here with clang when it has no compile_commands.json yet; only
# the generated headers are built.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TIDY_BUILD_DIR:-$root/build-tidy}"
if ! command -v clang-tidy >/dev/null; then
  echo "check-tidy: clang-tidy is not installed (scripts/setup-debian.sh --full installs it)" >&2
  exit 1
fi
if [[ ! -f $build/compile_commands.json ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fi
cmake --build "$build" --target psb_presets psb_pyshim psb_hostshim >/dev/null

mapfile -t files < <(python3 -c '
import json, sys
for f in sorted({e["file"] for e in json.load(open(sys.argv[1]))}):
    print(f)' "$build/compile_commands.json")
log="$build/clang-tidy.log"
# clang-tidy exits non-zero on a finding (WarningsAsErrors), so xargs does.
if printf '%s\0' "${files[@]}" |
  xargs -0 -n 4 -P "$(nproc)" clang-tidy -p "$build" --quiet >"$log" 2>&1; then
  echo "check-tidy: ${#files[@]} files clean"
  exit 0
fi
# The findings, each once (a header's come from every file that includes
# it), with the length of each function that is too long.
findings="$(grep -E '(warning|error): |note: [0-9]+ lines including' "$log" | sort -u)" || true
if [[ -z $findings ]]; then
  cat "$log" >&2
else
  printf '%s\n' "$findings" >&2
fi
echo "check-tidy: $(grep -cE '(warning|error): ' <<<"$findings") findings in ${#files[@]} files (log: $log)" >&2
exit 1
