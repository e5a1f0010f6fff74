#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds pysandbox and runs the main demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-debian.sh"
"$root/scripts/build.sh"
build="${BUILD_DIR:-$root/build}"
export PYSANDBOX_HELPER="$build/pysandbox-helper"
exec "$build/simple_demo"
