#!/usr/bin/env bash
# The bash completion (completion/pysandbox.bash) against the built tool:
# commands, each command's flags, policy presets, layer verbs and names.
#   scripts/check-completion.sh DIR_WITH_PYSANDBOX
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PATH="$(cd "${1:?usage: $0 DIR_WITH_PYSANDBOX}" && pwd):$PATH"
export PATH
layers="$(mktemp -d /var/tmp/psb-completion-XXXXXX)"
trap 'rm -rf "$layers"' EXIT
chmod 755 "$layers"
export PYSANDBOX_LAYERS="$layers/layers"
pysandbox layer create analytics >/dev/null || exit 1
# shellcheck disable=SC1091 # the file under test, outside scripts/
source "$root/completion/pysandbox.bash"
fail=0
# expect WORDS... -- WANT...: completing the last word offers every WANT.
expect() {
    local words=() want=()
    while [[ $1 != -- ]]; do words+=("$1"); shift; done
    shift
    want=("$@")
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$((${#words[@]} - 1))
    COMPREPLY=()
    _pysandbox 2>/dev/null
    for w in "${want[@]}"; do
        if [[ " ${COMPREPLY[*]} " != *" $w "* ]]; then
            echo "check-completion: '${words[*]}' offers '${COMPREPLY[*]}', not '$w'" >&2
            fail=1
        fi
    done
}
expect pysandbox "" -- run serve mcp kernel repl layer doctor help
expect pysandbox run --p -- --policy --prelude-file --python
expect pysandbox run --policy "" -- default data-science strict
expect pysandbox serve --l -- --listen --layers-dir --layer-admin
expect pysandbox layer "" -- create install list remove
expect pysandbox layer install "" -- analytics
expect pysandbox run --layer an -- analytics
expect pysandbox kernel install --d -- --display-name
expect pysandbox help la -- layer
expect pysandbox run --interrupt-mode "" -- message signal
((fail == 0)) && echo "check-completion: commands, flags, presets and layers complete"
exit "$fail"
