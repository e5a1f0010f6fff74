#!/usr/bin/env bash
# The man pages against the tool: every flag that `pysandbox COMMAND --help`
# names appears in man/pysandbox.1.scd, and every page renders with scdoc.
#   scripts/check-man.sh PATH_TO_PYSANDBOX
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cli="${1:?usage: $0 PATH_TO_PYSANDBOX}"
page="$root/man/pysandbox.1.scd"
missing=0
for cmd in run serve mcp kernel "kernel install" repl layer doctor; do
  # shellcheck disable=SC2086 # "kernel install" is two words on purpose
  help="$("$cli" $cmd --help)"
  while IFS= read -r flag; do
    if ! grep -qF -- "*$flag*" "$page"; then
      echo "check-man: '$flag' of 'pysandbox $cmd --help' is not in man/pysandbox.1.scd" >&2
      missing=1
    fi
  done < <(grep -oE '(^|[ ,[|])(-[a-zA-Z]|--[a-z][a-z-]+)' <<<"$help" | sed -E 's/^[ ,[|]//' | sort -u)
done
if command -v scdoc >/dev/null; then
  for src in "$root"/man/*.scd; do
    scdoc <"$src" >/dev/null || { echo "check-man: scdoc refuses $src" >&2; missing=1; }
  done
else
  echo "check-man: scdoc is not installed (scripts/setup-debian.sh installs it)" >&2
  missing=1
fi
((missing == 0)) && echo "check-man: every flag of every command's --help is in pysandbox(1)"
exit "$missing"
