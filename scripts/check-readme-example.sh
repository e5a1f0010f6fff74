#!/usr/bin/env bash
# Builds the README's C example (the first C block under "## The library")
# as C and as C++ against the built library, and runs the C build: the
# example a user copies must compile in both languages and do what it says.
#   scripts/check-readme-example.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
awk '/^## The library/ {lib = 1} lib && /^```c$/ {on = 1; next} on && /^```$/ {exit} on {print}' \
  "$root/README.md" >"$work/example.c"
[[ -s $work/example.c ]] || { echo "check-readme-example: no C block under '## The library'" >&2; exit 1; }
cp "$work/example.c" "$work/example.cpp"
flags=(-I"$root/include" -Wall -Wextra -Werror)
cc -std=c11 "${flags[@]}" "$work/example.c" -o "$work/example-c" -L"$build" -lpysandbox -Wl,-rpath,"$build"
c++ -std=c++17 "${flags[@]}" "$work/example.cpp" -o "$work/example-cxx" -L"$build" -lpysandbox -Wl,-rpath,"$build"
out="$("$work/example-c")"
[[ $out == *'"north"'*17* ]] || { echo "check-readme-example: unexpected output: $out" >&2; exit 1; }
echo "check-readme-example: C and C++ build; the C program printed $out"
