#!/usr/bin/env bash
# The man pages and bash completion generated from --help at build time
# (cmake/docs.cmake): every command has a page with its options, and the
# completion offers commands, each command's flags and fixed flag values.
. "$AWQ_TESTS/e2e/lib.sh"
: "${AWQ_BUILD:?}"
man=$AWQ_BUILD/man comp=$AWQ_BUILD/completion/awqkit
check "awqkit.1" test -s "$man/awqkit.1"
for c in $("$AWQKIT" help | awk '/^Commands:/{on=1; next} on && /^$/{exit} on && /^  [a-z]/{print $1}'); do
    [ "$c" = help ] && continue
    check "awqkit-$c.1" test -s "$man/awqkit-$c.1"
    check "awqkit-$c.1 NAME" grep -q "^awqkit\\\\-$c \\\\- " "$man/awqkit-$c.1"
    check "awqkit-$c.1 SYNOPSIS" grep -q "^\.SH SYNOPSIS" "$man/awqkit-$c.1"
    check "awqkit-$c.1 has --help" grep -qF '\fB\-\-help\fR' "$man/awqkit-$c.1"
done
check "quantize page lists --group-size" grep -qF '\fB\-\-group\-size\fR' "$man/awqkit-quantize.1"
check "quantize page has an OPTIONS-like section" grep -q '^\.SH OUTPUT' "$man/awqkit-quantize.1"
check "main page lists the commands" grep -qF '\fBrepack\fR' "$man/awqkit.1"
check "main page sees also" grep -qF '.BR awqkit\-verify (1)' "$man/awqkit.1"
if command -v groff >/dev/null; then
    check "groff renders without warnings" sh -c "groff -man -Tutf8 -ww '$man/awqkit-quantize.1' 2>&1 >/dev/null | grep -c . | grep -qx 0"
fi

complete_line() { # words... -> the completions of the last word
    bash -c 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _awqkit; printf "%s\n" "${COMPREPLY[@]}"' "$comp" "$@"
}
check "commands" test "$(complete_line awqkit qu)" = quantize
check "help COMMAND" test "$(complete_line awqkit help rep)" = repack
check "flags of quantize" test "$(complete_line awqkit quantize m -o x --group)" = --group-size
check "flags are per command" test -z "$(complete_line awqkit count --group)"
check "--to values" test "$(complete_line awqkit repack in --to gptq | tr '\n' ' ')" = "gptq gptq-v2 "
check "--method values" test "$(complete_line awqkit quantize m --method r)" = rtn
check "synth presets" sh -c "complete_line() { bash -c 'source \"\$0\"; COMP_WORDS=(awqkit synth --preset ''); COMP_CWORD=3; _awqkit; printf \"%s\n\" \"\${COMPREPLY[@]}\"' '$comp'; }; complete_line | grep -qx tiny"
mkdir -p "$T/dir" && touch "$T/dir/model.safetensors"
check "files for positionals" test "$(complete_line awqkit count "$T/dir/mo")" = "$T/dir/model.safetensors"
finish
