#!/usr/bin/env bash
# Checks the layout rules of HACKING.md over the #include lines of the tree:
# every folder includes only the folders it may depend on (dependencies run
# one way), and no source file outside tests/ grows past the size limit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

max_lines=600
fail=0

# The folders a folder's files may include from (besides system headers).
# Generated headers (psb_*_sources.h) are named without a folder.
allowed() {
  case "$1" in
  include) echo "include" ;;
  base) echo "include base" ;;
  policy) echo "include base policy" ;;
  policy/confine) echo "include base policy policy/confine" ;;
  hooks) echo "include base policy hooks" ;;
  host) echo "include base policy host" ;;
  embed) echo "include base policy policy/confine hooks embed" ;;
  cli) echo "include base cli" ;;
  jupyter) echo "include base cli jupyter" ;;
  bench) echo "include bench" ;;
  examples) echo "include" ;;
  *) echo "" ;;
  esac
}

# The folder an included path names: "policy/confine/confine.h" ->
# policy/confine; a bare name is the public header or a generated one.
folder_of() {
  case "$1" in
  pysandbox.h) echo "include" ;;
  psb_*_sources.h) echo "generated" ;;
  */*) dirname "$1" ;;
  *) echo "?" ;;
  esac
}

for dir in include base policy policy/confine hooks host embed cli jupyter bench examples; do
  ok=" $(allowed "$dir") "
  for f in "$dir"/*.c "$dir"/*.h; do
    [[ -e $f ]] || continue
    while IFS= read -r line; do
      inc="${line#*[\"<]}"
      inc="${inc%%[\">]*}"
      [[ $line == *'"'* || $inc == pysandbox.h ]] || continue
      from="$(folder_of "$inc")"
      # The embedded Python (pyshim/, pyshim/host/) and presets (policy/presets/).
      if [[ $from == generated && ($dir == embed || $dir == policy || $dir == host) ]]; then
        continue
      fi
      if [[ $ok != *" $from "* ]]; then
        echo "check-deps: $f includes $inc: $dir/ may include only from: $(allowed "$dir")" >&2
        fail=1
      fi
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$f" || true)
    # The library never links Python; only embed/ and hooks/ run it.
    if [[ $dir != embed && $dir != hooks ]] && grep -qE '#[[:space:]]*include[[:space:]]*<Python\.h>' "$f"; then
      echo "check-deps: $f includes Python.h: only embed/ and hooks/ run the interpreter" >&2
      fail=1
    fi
    # Only the kernel facilities compile seccomp filters.
    if [[ $dir != policy/confine ]] && grep -qE '#[[:space:]]*include[[:space:]]*<seccomp\.h>' "$f"; then
      echo "check-deps: $f includes seccomp.h: only policy/confine/ builds filters" >&2
      fail=1
    fi
  done
done

# No file outside tests/ past the limit: split along its seams instead. The
# public header is the exception: the whole API is one header by design,
# each function with its contract comment.
while IFS= read -r f; do
  n=$(wc -l <"$f")
  if ((n > max_lines)); then
    echo "check-deps: $f has $n lines (limit $max_lines outside tests/)" >&2
    fail=1
  fi
done < <(git ls-files '*.c' '*.h' '*.sh' '*.py' '*.js' '*.mjs' '*.cjs' '*.ts' '*.rs' | grep -v '^tests/' | grep -vx 'include/pysandbox.h')

if ((fail)); then
  exit 1
fi
echo "check-deps: includes follow HACKING.md; no file outside tests/ over $max_lines lines"
