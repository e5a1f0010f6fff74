#!/usr/bin/env bash
# Installs a build (default ./build, or $BUILD_DIR) into a temporary prefix
# and builds examples/simple_demo.c against it out of tree, as a user would:
# through pkg-config, and through CMake's find_package (tests/install/) with
# the shared library, without pkg-config or threads (its consumers need
# neither), and with the static one. Runs the programs with
# $PYSANDBOX_HELPER unset, so the libraries must find the installed helper
# relative to themselves (the static one: relative to the program, which is
# put in PREFIX/bin).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
demo="$root/examples/simple_demo.c"
work="$(mktemp -d "${TMPDIR:-/tmp}/psb-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
unset PYSANDBOX_HELPER

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir="$(find "$prefix" -name pysandbox.pc -printf '%h\n' | head -n 1)"
libdir="${libdir%/pkgconfig}"
echo "check-install: installed into $prefix (libraries in ${libdir#"$prefix"/})"

run() { # name, program: runs it once, quietly unless it fails
  if ! out="$("$2" 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "check-install: $1 failed" >&2
    exit 1
  fi
  echo "check-install: $1: $(tail -n 1 <<<"$out")"
}

# pkg-config, with the run path a packager would set.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -std=c11 -Wall -Wextra -Werror -o "$work/demo-pkgconfig" "$demo" \
  $(pkg-config --cflags --libs pysandbox) -Wl,-rpath,"$(pkg-config --variable=libdir pysandbox)"
run "pkg-config, shared" "$work/demo-pkgconfig"

# find_package: the shared target with neither pkg-config nor threads found.
cmake -S "$root/tests/install" -B "$work/cmake-shared" -DCMAKE_PREFIX_PATH="$prefix" \
  -DPSB_EXAMPLE="$demo" -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Threads=ON >/dev/null
cmake --build "$work/cmake-shared" >/dev/null
run "find_package, shared" "$work/cmake-shared/consumer"

# find_package: the static target, whose dependencies the package finds.
cmake -S "$root/tests/install" -B "$work/cmake-static" -DCMAKE_PREFIX_PATH="$prefix" \
  -DPSB_EXAMPLE="$demo" -DPSB_LINK=static >/dev/null
cmake --build "$work/cmake-static" >/dev/null
cp "$work/cmake-static/consumer" "$prefix/bin/demo-static"
run "find_package, static" "$prefix/bin/demo-static"
