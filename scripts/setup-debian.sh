#!/usr/bin/env bash
# Installs the Debian packages pysandbox needs to build, test and run its
# demos (as root; a no-op when everything is already there). With --full,
# also what `scripts/test.sh --full` runs: clang with its sanitizer and
# libFuzzer runtimes, clang-tidy, cppcheck and shellcheck.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libpython3-dev python3.11 libjansson-dev libseccomp-dev check python3-pytest
  python3-numpy python3-pandas python3-matplotlib
  python3-pip python3-setuptools python3-wheel python3-pip-whl python3-setuptools-whl python3-wheel-whl
  bubblewrap clang-format libedit-dev scdoc
  libzmq3-dev libssl-dev python3-jupyter-client python3-nbclient python3-nbformat python3-ipykernel
)
case "${1:-}" in
--full)
  # libclang-rt-dev is only a recommendation of clang, and recommendations
  # are not installed here: without it clang cannot link ASan or libFuzzer.
  packages+=(clang libclang-rt-dev clang-tidy cppcheck shellcheck)
  ;;
"") ;;
*)
  echo "usage: $0 [--full]" >&2
  exit 2
  ;;
esac

# Node.js (18 or later) runs the MCP tests with the official TypeScript SDK;
# a node already on PATH (from any source) is used as it is.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

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

# The MCP tests' client, at the versions the committed lockfile pins.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -d $root/tests/mcp/node_modules/@modelcontextprotocol/sdk ]]; then
  echo "setup: npm ci in tests/mcp"
  npm ci --prefix "$root/tests/mcp" --no-audit --no-fund --loglevel=error >/dev/null
fi
