#!/usr/bin/env bash
# tools/docs/gen_completion.sh AWQKIT OUT — bash completion for awqkit,
# written from the program's own help at build time (cmake/docs.cmake):
# the commands from `awqkit help`, each command's flags from its --help,
# and the values of the flags that take a fixed set (the table below).
set -euo pipefail
exe=$1 out=$2
mapfile -t cmds < <("$exe" help | awk '/^Commands:/{on=1; next} on && /^$/{exit} on && /^  [a-z]/{print $1}')

# The comma-separated values an option line lists before "(default":
#   "  --preset P   tiny, 0.5b, 7b (default tiny)" -> "tiny 0.5b 7b"
listed() {
    "$exe" "$1" --help | grep -E "^ +$2 " | head -1 |
        sed -E "s/^ +$2 [A-Z]+ +//; s/ *\(.*//; s/,//g"
}

# Flags with a fixed set of values: "command:flag" or "*:flag" -> values.
values() {
    case "$1" in
        quantize:--format | audit:--format) echo "awq awq-gemv gptq gptq-v2" ;;
        repack:--to) echo "awq awq-gemv gptq gptq-v2" ;;
        size:--format) echo "fp32 fp16 bf16 fp8 int8 awq awq-gemv gptq gptq-v2" ;;
        size:--kv-dtype) echo "fp16 bf16 fp8" ;;
        tokenize:--format) echo "auto text jsonl" ;;
        *:--method) echo "awq rtn" ;;
        *:--device | *:--ppl-device) echo "cpu cuda" ;;
        *:--duo-scaling) echo "on off both" ;;
        *:--propagate) echo "fp quantized" ;;
        *:--gptq-zeros) echo "auto v1 v2" ;;
        *:--bits) echo "2 3 4 8" ;;
        synth:--preset | synth:--arch) listed synth "${1#*:}" ;;
        synth:--dtype) echo "f16 bf16" ;;
        synth:--format) echo "fp16 awq awq-gemv gptq gptq-v2" ;;
    esac
}

tmp=$out.tmp
{
    echo "# bash completion for awqkit (generated from its --help by tools/docs/gen_completion.sh)"
    echo "_awqkit() {"
    echo '    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}'
    printf '    local cmds="%s"\n' "${cmds[*]}"
    echo '    if [ "$COMP_CWORD" -eq 1 ]; then'
    echo '        COMPREPLY=($(compgen -W "$cmds --version --help" -- "$cur"))'
    echo '        return'
    echo '    fi'
    echo '    local opts="" vals=""'
    echo '    case ${COMP_WORDS[1]} in'
    for c in "${cmds[@]}"; do
        if [ "$c" = help ]; then
            echo '        help) COMPREPLY=($(compgen -W "$cmds" -- "$cur")); return ;;'
            continue
        fi
        flags=$("$exe" "$c" --help | grep -E '^ +--?[A-Za-z]' |
            grep -oE '(^|[ ,])--?[A-Za-z][A-Za-z0-9-]*' | tr -d ' ,' | sort -u | tr '\n' ' ')
        printf '        %s)\n            opts="%s"\n' "$c" "${flags% }"
        printf '            case $prev in\n'
        for f in $flags; do
            v=$(values "$c:$f")
            [ -n "$v" ] && printf '                %s) vals="%s" ;;\n' "$f" "${v% }"
        done
        printf '            esac ;;\n'
    done
    echo '    esac'
    echo '    if [ -n "$vals" ]; then'
    echo '        COMPREPLY=($(compgen -W "$vals" -- "$cur"))'
    echo '    elif [[ $cur == -* ]]; then'
    echo '        COMPREPLY=($(compgen -W "$opts" -- "$cur"))'
    echo '    else'
    echo '        compopt -o filenames 2>/dev/null'
    echo '        COMPREPLY=($(compgen -f -- "$cur"))'
    echo '    fi'
    echo "}"
    echo "complete -F _awqkit awqkit"
} >"$tmp"
bash -n "$tmp"
mv "$tmp" "$out"
