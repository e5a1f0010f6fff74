# bash completion for pysandbox: commands, each command's flags (read from its
# own --help, so they never drift), policy presets and files, module layer
# names, interpreters and files. Installed as
# share/bash-completion/completions/pysandbox.

_pysandbox_flags() {
    # The flags `pysandbox CMD --help` names, one per line.
    # shellcheck disable=SC2086 # "kernel install" is two words on purpose
    "$1" $2 --help 2>/dev/null | grep -oE -- '(^|[ ,[|])--[a-z][a-z-]+' | sed -E 's/^[ ,[|]//' | sort -u
}

_pysandbox_layers() {
    "$1" layer list 2>/dev/null | cut -d' ' -f1
}

_pysandbox() {
    local cur prev cmd prog
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD - 1]}"
    prog="${COMP_WORDS[0]}"
    cmd="${COMP_WORDS[1]:-}"
    COMPREPLY=()
    local commands="run serve mcp kernel repl layer doctor help"
    if ((COMP_CWORD == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "$commands --help --version" -- "$cur")
        return
    fi
    case "$prev" in
    --policy)
        mapfile -t COMPREPLY < <(compgen -W "default data-science strict" -- "$cur")
        local f
        while IFS= read -r f; do COMPREPLY+=("$f"); done < <(compgen -f -X '!*.json' -- "$cur")
        compopt -o filenames 2>/dev/null
        return
        ;;
    --layer)
        mapfile -t COMPREPLY < <(compgen -W "$(_pysandbox_layers "$prog")" -- "$cur")
        return
        ;;
    --python)
        mapfile -t COMPREPLY < <(compgen -c -- "$cur"; compgen -f -- "$cur")
        compopt -o filenames 2>/dev/null
        return
        ;;
    --layers-dir | --output-dir | --figures-dir | --prefix)
        mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        compopt -o filenames 2>/dev/null
        return
        ;;
    --inputs-file | --stdin-file | --prelude-file | -f | --connection-file)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        compopt -o filenames 2>/dev/null
        return
        ;;
    --interrupt-mode)
        mapfile -t COMPREPLY < <(compgen -W "message signal" -- "$cur")
        return
        ;;
    esac
    if [[ $cmd == help ]]; then
        ((COMP_CWORD == 2)) && mapfile -t COMPREPLY < <(compgen -W "${commands% help}" -- "$cur")
        return
    fi
    if [[ $cmd == layer ]] && ((COMP_CWORD == 2)); then
        mapfile -t COMPREPLY < <(compgen -W "create install list remove" -- "$cur")
        return
    fi
    if [[ $cmd == layer && ${COMP_WORDS[2]} =~ ^(install|remove)$ ]] && ((COMP_CWORD == 3)); then
        mapfile -t COMPREPLY < <(compgen -W "$(_pysandbox_layers "$prog")" -- "$cur")
        return
    fi
    if [[ $cur == -* ]]; then
        local sub="$cmd"
        [[ $cmd == kernel && ${COMP_WORDS[2]:-} == install ]] && sub="kernel install"
        mapfile -t COMPREPLY < <(compgen -W "$(_pysandbox_flags "$prog" "$sub")" -- "$cur")
        return
    fi
    # Positional words: code files for run, wheels and directories for layer install.
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    compopt -o filenames 2>/dev/null
}

complete -F _pysandbox pysandbox
