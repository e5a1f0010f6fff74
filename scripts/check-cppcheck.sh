#!/usr/bin/env bash
# Runs cppcheck (warning, performance and portability checks) over every
# file of a build's compile_commands.json and fails on any finding. A
# finding that is wrong is suppressed on its line with the reason
# (/* cppcheck-suppress id ; why */). The build is $TIDY_BUILD_DIR (default
# ./build-tidy, shared with check-tidy.sh), configured here with clang when
# it has no compile_commands.json yet; only the generated headers are built.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TIDY_BUILD_DIR:-$root/build-tidy}"
if ! command -v cppcheck >/dev/null; then
  echo "check-cppcheck: cppcheck is not installed (scripts/setup-debian.sh --full installs it)" >&2
  exit 1
fi
if [[ ! -f $build/compile_commands.json ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fi
cmake --build "$build" --target psb_presets psb_pyshim psb_hostshim >/dev/null

# cppcheck reads no system header, so it is told what it needs instead:
# - posix, gnu, python: what libc and CPython functions do (_exit never
#   returns, open() makes an fd to close, Py_RETURN_NONE returns);
# - jansson.h itself, for json_object_foreach and its kin;
# - the target's architecture macro, which the compiler predefines
#   (seccomp.c's SIGSYS handler has no #else but #error).
# readdirCalled is off: posix.cfg recommends readdir_r, which glibc
# deprecated in 2.24 because readdir is thread-safe on a DIR of one's own,
# which is how every caller here uses it.
jansson_h="$(pkg-config --variable=includedir jansson)/jansson.h"
mkdir -p "$build/cppcheck" # its results per file, for the next run
if cppcheck --project="$build/compile_commands.json" --quiet -j"$(nproc)" \
  --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
  --library=posix,gnu,python --include="$jansson_h" -D"__$(uname -m)__" \
  --suppress=readdirCalled \
  --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
  --cppcheck-build-dir="$build/cppcheck"; then
  echo "check-cppcheck: no findings"
  exit 0
fi
echo "check-cppcheck: findings above" >&2
exit 1
