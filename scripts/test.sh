#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds everything and runs every test
# suite (unit suites and end-to-end tests through the API and the CLI).
#
# --full, what CI runs (.ci/run), also installs clang, clang-tidy, cppcheck
# and shellcheck and runs, each as a stage:
#   format, shellcheck   .clang-format over the C files; shellcheck over
#                        scripts/ and .ci/run
#   build, ctest         the build above (./build or $BUILD_DIR), every suite
#   asan-gcc, asan-clang the suites again under ASan + UBSan (PSB_SANITIZE,
#                        -fno-sanitize-recover=all), built with gcc in
#                        ./build-asan-gcc and with clang in ./build-asan-clang
#   clang-tidy, cppcheck over the compile_commands.json of a clang build
#                        (./build-tidy); any finding fails
#   install              an install into a temporary prefix, with
#                        examples/simple_demo.c built against it through
#                        pkg-config and CMake and run
#   deb                  the Debian packages (CPack, ./build-deb) installed
#                        with apt-get, doctor, a run and simple_demo.c from
#                        them, and dpkg -r leaving nothing behind
#   fuzz                 each libFuzzer target for $FUZZ_SECONDS (default
#                        60) from tests/fuzz/corpus (./build-fuzz)
# There every ctest runs $TEST_JOBS (default 2) suites at once, so races
# between them show up. A failed stage does not stop the others; a table
# of the stages, their results and times ends the run, which fails if any
# stage did.
# shellcheck disable=SC2317 # the stage functions are called through "$@"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
"")
  "$root/scripts/setup-debian.sh"
  "$root/scripts/check-format.sh"
  "$root/scripts/build.sh"
  cd "${BUILD_DIR:-$root/build}"
  ctest --output-on-failure -j"${TEST_JOBS:-1}"
  exit 0
  ;;
--full) ;;
*)
  echo "usage: $0 [--full]" >&2
  exit 2
  ;;
esac

build="${BUILD_DIR:-$root/build}"
jobs="${TEST_JOBS:-2}"
names=()
results=()
times=()

# Runs one stage: a name, then the command. Records its result and time.
# The command runs in a subshell with errexit on: under `||` or `if`, bash
# would ignore errexit in every function the command calls.
stage() {
  local name="$1" start=$SECONDS rc
  shift
  echo
  echo "== $name"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  names+=("$name")
  times+=($((SECONDS - start)))
  if ((rc == 0)); then
    results+=(ok)
  else
    results+=("FAILED ($rc)")
    echo "== $name: FAILED (exit $rc)" >&2
  fi
}

run_ctest() { # build dir
  (cd "$1" && ctest --output-on-failure -j"$jobs")
}

check_shell() {
  shellcheck "$root"/scripts/*.sh "$root/.ci/run"
  shellcheck -s bash "$root/completion/pysandbox.bash"
  echo "shellcheck: scripts/*.sh, .ci/run and the bash completion clean"
}

# A Debug build under ASan + UBSan with the given compiler, and its suites.
build_sanitized() { # compiler
  cmake -S "$root" -B "$root/build-asan-$1" -DCMAKE_C_COMPILER="$1" -DCMAKE_BUILD_TYPE=Debug \
    -DPSB_SANITIZE=ON >/dev/null
  cmake --build "$root/build-asan-$1" -j"$(nproc)"
}
test_sanitized() { # compiler
  UBSAN_OPTIONS=print_stacktrace=1 run_ctest "$root/build-asan-$1"
}

fuzz() {
  FUZZ_SECONDS="${FUZZ_SECONDS:-60}" FUZZ_BUILD_DIR="$root/build-fuzz" "$root/scripts/fuzz.sh"
}

stage setup "$root/scripts/setup-debian.sh" --full
stage format "$root/scripts/check-format.sh"
stage shellcheck check_shell
stage build env BUILD_DIR="$build" "$root/scripts/build.sh"
stage ctest run_ctest "$build"
stage clang-tidy env TIDY_BUILD_DIR="$root/build-tidy" "$root/scripts/check-tidy.sh"
stage cppcheck env TIDY_BUILD_DIR="$root/build-tidy" "$root/scripts/check-cppcheck.sh"
stage install env BUILD_DIR="$build" "$root/scripts/check-install.sh"
stage deb "$root/scripts/check-deb.sh"
stage "asan-gcc build" build_sanitized gcc
stage "asan-gcc ctest" test_sanitized gcc
stage "asan-clang build" build_sanitized clang
stage "asan-clang ctest" test_sanitized clang
stage fuzz fuzz

echo
echo "== summary (ctest -j$jobs, fuzz ${FUZZ_SECONDS:-60} s per target)"
failed=0
for i in "${!names[@]}"; do
  printf '%-18s %-12s %3d:%02d\n' "${names[$i]}" "${results[$i]}" $((times[i] / 60)) $((times[i] % 60))
  [[ ${results[$i]} == ok ]] || failed=1
done
printf '%-18s %-12s %3d:%02d\n' total "" $((SECONDS / 60)) $((SECONDS % 60))
exit "$failed"
