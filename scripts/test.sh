#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds everything and runs every test
# suite (unit suites and end-to-end tests through the API and the CLI).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-debian.sh"
"$root/scripts/check-format.sh"
"$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure -j"${TEST_JOBS:-1}"
