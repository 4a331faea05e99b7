#!/usr/bin/env bash
# tools/docs/gen_man.sh AWQKIT OUTDIR — man pages from the program's own
# --help: OUTDIR/awqkit.1 (from `awqkit help`) and awqkit-CMD.1 for every
# command. Run at build time (cmake/docs.cmake), so the pages never drift
# from the help text.
set -euo pipefail
exe=$1 out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
version=$("$exe" --version | awk '{print $2}')
help=$("$exe" help)
# the command list: "  name   summary" lines under "Commands:"
mapfile -t rows < <(printf '%s\n' "$help" |
    awk '/^Commands:/{on=1; next} on && /^$/{exit} on && /^  [a-z]/{print}')
see="" cmds=()
for r in "${rows[@]}"; do
    c=$(awk '{print $1}' <<<"$r")
    [ "$c" = help ] && continue
    cmds+=("$c")
    see+="${see:+,
}.BR awqkit\\-$c (1)"
done
# the banner line ("awqkit 0.1.0 — ...") is the NAME line already
printf '%s\n' "$help" | sed '1{/^awqkit /d;}' | sed '1{/^$/d;}' | awk -v title=AWQKIT -v name=awqkit -v version="$version" \
    -v summary="AWQ 4-bit quantization for Hugging Face checkpoints" -v seealso="$see" \
    -f "$here/help2roff.awk" >"$out/awqkit.1.tmp"
mv "$out/awqkit.1.tmp" "$out/awqkit.1"
for r in "${rows[@]}"; do
    c=$(awk '{print $1}' <<<"$r")
    [ "$c" = help ] && continue
    summary=$(sed -E 's/^ +[a-z]+ +//' <<<"$r")
    upper=$(tr a-z A-Z <<<"$c")
    "$exe" "$c" --help | awk -v title="AWQKIT-$upper" -v name="awqkit-$c" \
        -v version="$version" -v summary="$summary" -v seealso=".BR awqkit (1)" \
        -f "$here/help2roff.awk" >"$out/awqkit-$c.1.tmp"
    mv "$out/awqkit-$c.1.tmp" "$out/awqkit-$c.1"
done
