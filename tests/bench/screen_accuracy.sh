#!/usr/bin/env bash
# The raced scale search (the default) against `--screen 0` on one model:
# both quantizations; per searched group, the rank of the unscreened best
# among the first-stage losses and whether the pick differs (by the
# unscreened run's own losses); whether the outputs are byte-identical, and
# where they are not, both perplexities. Not part of CI (minutes per model).
#
#   tests/bench/screen_accuracy.sh MODEL [--ppl "PPL ARGS"] [QUANTIZE ARGS...]
#
#   AWQ_BUILD   awqkit build directory [<repo>/build]
#   OUT         scratch directory [/tmp/awq-screen-accuracy]
#
# Examples (BENCHMARKS.md, "Fifth round", "Sixth round"):
#   tests/bench/screen_accuracy.sh data/tiny-llama
#   tests/bench/screen_accuracy.sh data/tiny-llama --duo-scaling both
#   tests/bench/screen_accuracy.sh QWEN4 --ppl "--seqlen 512 --max-chunks 16" \
#       --calib-tokens qwen.ids --seqlen 512
set -euo pipefail
. "$(dirname "$0")/accuracy_args.sh"
acc_args "$0" 2,17 /tmp/awq-screen-accuracy "$@"
set -- ${qargs[@]+"${qargs[@]}"}
s=$out/$name-screened
u=$out/$name-unscreened

"$awqkit" quantize "$model" -o "$s" --force --no-progress --dump-scales "$s.json" "$@" >/dev/null
"$awqkit" quantize "$model" -o "$u" --force --no-progress --dump-scales "$u.json" "$@" --screen 0 >/dev/null

python3 - "$s.json" "$u.json" "$*" <<'PY'
import json, sys
from collections import Counter
a, b = (json.load(open(f)) for f in sys.argv[1:3])
both = "both" in sys.argv[3].split()

def index(g, n):
    # the candidate's index in the search's order (awq_search_candidate)
    if both:
        return 2 * round(g["ratio"] * (n // 2)) + (1 if g["duo"] else 0)
    return round(g["ratio"] * n)

n = differ = 0
ranks = Counter()
for la, lb in zip(a["layers"], b["layers"]):
    for ga, gb in zip(la["groups"], lb["groups"]):
        if not ga.get("searched"):
            continue
        n += 1
        # rank of the unscreened best among the screening losses
        sl, fl = ga.get("screen_losses"), gb.get("losses")
        if sl and fl:
            best = min((v, i) for i, v in enumerate(fl) if v is not None)[1]
            order = [i for _, i in sorted((v, i) for i, v in enumerate(sl) if v is not None)]
            ranks[order.index(best)] += 1
        if (ga["ratio"], ga["duo"]) != (gb["ratio"], gb["duo"]):
            differ += 1
            # both picks' losses over every sequence, from the unscreened run
            print("  layer %d %s: ratio %.2f vs %.2f, block loss %+.3f%%" % (
                la["layer"], ga["name"], ga["ratio"], gb["ratio"],
                100 * (fl[index(ga, len(fl))] / fl[index(gb, len(fl))] - 1)))
print("  %d of %d picks differ; rank of the unscreened best among the first-stage "
      "losses (rank: groups): %s" % (differ, n, dict(sorted(ranks.items()))))
PY

if cmp -s "$s/model.safetensors" "$u/model.safetensors"; then
    echo "$name $*: raced output byte-identical to --screen 0"
    exit 0
fi
ppl() {
    # shellcheck disable=SC2086
    "$awqkit" ppl "$1" --text "$root/data/text/wiki.test.raw" $ppl_args --json 2>/dev/null |
        python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["ppl"])'
}
echo "$name $*: perplexity raced $(ppl "$s"), unscreened $(ppl "$u") ($ppl_args)"
