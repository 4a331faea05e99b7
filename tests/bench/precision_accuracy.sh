#!/usr/bin/env bash
# The default bf16 quantize (--precision bf16: the calibration forward and
# the search's candidate forwards with bf16 GEMM inputs) against the fp32
# oracle (--precision fp32) on one model: both quantizations, the scale
# ratios that differ, whether the outputs are byte-identical, both
# perplexities and their relative difference (the issue's bound: 0.1%).
# Not part of CI (minutes per model).
#
#   tests/bench/precision_accuracy.sh MODEL [--ppl "PPL ARGS"] [QUANTIZE ARGS...]
#
#   AWQ_BUILD   awqkit build directory [<repo>/build]
#   OUT         scratch directory [/tmp/awq-precision-accuracy]
#   TEXT        evaluation text [<repo>/data/text/wiki.test.raw]
#
# Examples (BENCHMARKS.md, "Accuracy of the bf16 search vs the fp32 search"):
#   tests/bench/precision_accuracy.sh data/tiny-llama
#   tests/bench/precision_accuracy.sh SYN2 --ppl "--seqlen 256 --max-chunks 400"
#   tests/bench/precision_accuracy.sh QWEN4 --ppl "--seqlen 512 --max-chunks 16" \
#       --calib-tokens qwen.ids --seqlen 512
set -euo pipefail
. "$(dirname "$0")/accuracy_args.sh"
acc_args "$0" 2,19 /tmp/awq-precision-accuracy "$@"
set -- ${qargs[@]+"${qargs[@]}"}
text=${TEXT:-$root/data/text/wiki.test.raw}
[ -r "$text" ] || { echo "precision_accuracy: cannot read TEXT=$text" >&2; exit 1; }
ppl() { # DIR -> perplexity
    # shellcheck disable=SC2086
    "$awqkit" ppl "$1" --text "$text" $ppl_args --json |
        python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ppl"])'
}
declare -A pp
for prec in fp32 bf16; do
    o=$out/$name-$prec
    "$awqkit" quantize "$model" -o "$o" --force --no-progress --precision "$prec" \
        --dump-scales "$o.json" "$@" >/dev/null
    pp[$prec]=$(ppl "$o")
done
same=no
if cmp -s "$out/$name-fp32/model.safetensors" "$out/$name-bf16/model.safetensors"; then same=yes; fi
python3 - "$out/$name-fp32.json" "$out/$name-bf16.json" "${pp[fp32]}" "${pp[bf16]}" "$same" "$name" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
pa, pb, same, name = float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
def ratios(d):
    out = {}
    for L in d["layers"]:
        for g in L["groups"]:
            if "ratio" in g:
                out[(L["layer"], g["name"])] = (g["ratio"], g.get("duo"))
    return out
ra, rb = ratios(a), ratios(b)
diff = [k for k in ra if ra[k] != rb.get(k)]
print("| model | ppl fp32 | ppl bf16 | delta | ratios that differ | output |")
print("|---|---|---|---|---|---|")
print("| %s | %.4f | %.4f | %+.3f%% | %d of %d | %s |" % (
    name, pa, pb, 100 * (pb - pa) / pa, len(diff), len(ra),
    "byte-identical" if same == "yes" else "differs"))
for k in diff:
    print("  layer %s %s: fp32 %s, bf16 %s" % (k[0], k[1], ra[k], rb.get(k)))
PY
