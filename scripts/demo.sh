#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds pysandbox and runs the demos: the
# basics and security refusals (simple_demo), then the data analysis with
# pandas and matplotlib (data_analysis), whose charts land in
# ./pysandbox-demo-output/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup-debian.sh"
"$root/scripts/build.sh"
build="${BUILD_DIR:-$root/build}"
export PYSANDBOX_HELPER="$build/pysandbox-helper"
echo "== simple_demo: a calculation, JSON processing, and what the sandbox refuses"
"$build/simple_demo"
echo
echo "== data_analysis: synthetic sales, pandas statistics, matplotlib charts"
"$build/data_analysis" "${DEMO_OUTPUT_DIR:-$PWD/pysandbox-demo-output}"
