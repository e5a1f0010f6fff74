#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into ./build-fuzz
# (or $FUZZ_BUILD_DIR) and runs each for $FUZZ_SECONDS (default 60) from a
# scratch copy of tests/fuzz/corpus/, so new inputs do not land in the repo
# (set FUZZ_KEEP_CORPUS=1 to keep the scratch copy). Fails if any target
# crashes; the crash input is left in $FUZZ_ARTIFACTS (default
# ./build-fuzz/artifacts). Targets: all, or those named as arguments.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
artifacts="${FUZZ_ARTIFACTS:-$build/artifacts}"
all=(json_check status request policy frames claim)
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=("${all[@]}")
fi

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPSB_FUZZ=ON -DPSB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

work="$(mktemp -d "${TMPDIR:-/tmp}/psb-fuzz.XXXXXX")"
cleanup() {
  if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
    echo "fuzz: corpus kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$artifacts"

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp -R "$root/tests/fuzz/corpus/$t/." "$work/$t/"
  echo "fuzz: $t for ${seconds}s"
  log="$build/fuzz_$t.log"
  if "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/${t}-" "$work/$t" >"$log" 2>&1; then
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    echo "fuzz: $t ok: ${execs:-?} runs, ${speed:-?} exec/s, corpus $(find "$work/$t" -type f | wc -l) files"
  else
    echo "fuzz: $t FAILED (log: $log, inputs: $artifacts/${t}-*)" >&2
    tail -n 40 "$log" >&2
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets passed"
