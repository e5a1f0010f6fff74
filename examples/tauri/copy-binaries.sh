#!/usr/bin/env bash
# Puts a built pysandbox and its helper where tauri.conf.json's
# bundle.externalBin expects them: src-tauri/binaries/NAME-<target triple>.
# Usage: copy-binaries.sh [BUILD_DIR]   (default: the tree's build/)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-$here/../../build}"
if command -v rustc >/dev/null; then
  triple="$(rustc -vV | sed -n 's/^host: //p')"
else
  triple="$(uname -m)-unknown-linux-gnu"
fi
mkdir -p "$here/src-tauri/binaries"
for name in pysandbox pysandbox-helper; do
  install -m 0755 "$build/$name" "$here/src-tauri/binaries/$name-$triple"
  echo "src-tauri/binaries/$name-$triple"
done
