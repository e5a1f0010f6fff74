#!/usr/bin/env bash
# Installs the Debian packages pysandbox needs to build, test and run its
# demos (as root; a no-op when everything is already there).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libpython3-dev python3.11 libjansson-dev libseccomp-dev check
  python3-numpy python3-pandas python3-matplotlib
  bubblewrap clang-format
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
