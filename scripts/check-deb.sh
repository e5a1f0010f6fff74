#!/usr/bin/env bash
# The Debian packages as a user meets them: builds them with CPack
# (cmake/package.cmake) in ./build-deb (or $DEB_BUILD_DIR; prefix /usr,
# release, no tests), installs them into this machine with apt-get, runs
# `pysandbox doctor`, a run, and examples/simple_demo.c built with
# pkg-config, then removes them with dpkg -r and checks that nothing they
# installed is left. Needs root; refuses to touch packages installed before.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${DEB_BUILD_DIR:-$root/build-deb}"
packages=(pysandbox libpysandbox-dev libpysandbox1)
if [[ $(id -u) -ne 0 ]]; then
  echo "check-deb: needs root (apt-get install, dpkg -r)" >&2
  exit 1
fi
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "check-deb: $p is installed already; remove it first" >&2
    exit 1
  fi
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DPSB_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB >/dev/null)
debs=("$build"/*.deb)
for d in "${debs[@]}"; do
  echo "check-deb: $(basename "$d"): $(dpkg-deb -f "$d" Depends)"
done

work="$(mktemp -d)"
installed=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if ((installed)); then dpkg -r "${packages[@]}" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${debs[@]}" >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; exit 1; }
installed=1
dpkg -L "${packages[@]}" | sort -u >"$work/files"
echo "check-deb: installed $(wc -l <"$work/files") paths"

# As installed: the command finds its helper, the library its presets.
unset PYSANDBOX_HELPER
cd "$work"
if ! /usr/bin/pysandbox doctor >"$work/doctor.log" 2>&1; then
  cat "$work/doctor.log" >&2
  echo "check-deb: pysandbox doctor failed" >&2
  exit 1
fi
out="$(/usr/bin/pysandbox run -c 'import numpy; result = int(numpy.arange(7).sum()) * 2')"
[[ $out == "result: 42" ]] || { echo "check-deb: pysandbox run said: $out" >&2; exit 1; }
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -std=c11 -Wall -Wextra -Werror -o "$work/demo" "$root/examples/simple_demo.c" \
  $(pkg-config --cflags --libs pysandbox)
"$work/demo" >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; exit 1; }
for f in /usr/share/man/man1/pysandbox.1 /usr/share/bash-completion/completions/pysandbox \
  /usr/share/doc/libpysandbox1/copyright \
  /lib/systemd/system/pysandbox.socket /usr/share/pysandbox/presets/default.json; do
  [[ -e $f || -e $f.gz ]] || { echo "check-deb: $f is not installed" >&2; exit 1; }
done
echo "check-deb: doctor, run, and simple_demo (pkg-config) work from the packages"

dpkg -r "${packages[@]}" >/dev/null
installed=0
left=0
while IFS= read -r f; do
  if [[ -e $f && ! -d $f ]]; then
    echo "check-deb: $f is left after dpkg -r" >&2
    left=1
  fi
done <"$work/files"
for d in /usr/libexec/pysandbox /usr/share/pysandbox /usr/include/pysandbox.h; do
  [[ ! -e $d ]] || { echo "check-deb: $d is left after dpkg -r" >&2; left=1; }
done
((left == 0)) && echo "check-deb: dpkg -r left nothing behind"
exit "$left"
