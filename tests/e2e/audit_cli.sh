#!/usr/bin/env bash
# `awqkit audit`: usage errors; the default grid on data/tiny-llama with
# reduced calibration (every configuration measured, AWQ <= RTN in KL at
# each bit width / group size and in perplexity where the gap is large, no
# pair worse by the paired statistics, report.json equal to --json
# output, perplexity / size / parameter count equal to what `awqkit ppl`
# and `awqkit count` print for a kept checkpoint, FP16 against itself);
# a not-applicable group size beside working configurations; an external
# checkpoint (--compare: the AWQ checkpoint repacked to GPTQ measures the
# same); --no-keep; and the refusals (a --compare checkpoint of another
# architecture or vocabulary, a non-empty report directory).
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}
M=$AWQ_DATA/tiny-llama
W=$AWQ_DATA/text/wiki.test.raw
C=$AWQ_DATA/text/calib-wikitext2-valid.jsonl.zst
# Evaluation: 16 windows of 256 tokens (4080 predicted tokens), the
# calibration reduced to 16 documents in blocks of 256: the whole grid runs
# in about a minute on 2 cores.
# On the CPU, also in CUDA builds: the figures compared below were checked
# there, and `awqkit ppl` is pinned the same way.
EVAL=(--seqlen 256 --max-chunks 16 --device cpu)
CAL=(--calib "$C" --samples 16 --calib-seqlen 256)

expect_exit 0 "help" "$AWQKIT" audit --help
stdout_has "--configs LIST"
stdout_has "fp16,rtn-4-g128,awq-4-g128,rtn-4-g64"
stdout_has "--compare DIR"
stdout_has "not applicable"
expect_exit 2 "no -o" "$AWQKIT" audit "$M"
stderr_has "-o REPORT_DIR"
expect_exit 2 "bad --screen" "$AWQKIT" audit "$M" -o "$T/x" --screen 2
stderr_has "--screen 2: expected a fraction in [0, 1)"
expect_exit 2 "no model" "$AWQKIT" audit -o "$T/x"
stderr_has "MODEL"
expect_exit 2 "bad config name" "$AWQKIT" audit "$M" -o "$T/x" --configs fp16,awq-5-g128
stderr_has "--configs"
stderr_has "bits must be 2, 3, 4 or 8"
expect_exit 2 "empty config entry" "$AWQKIT" audit "$M" -o "$T/x" --configs fp16,,rtn-4-g128
stderr_has "--configs"
expect_exit 2 "bad budgets" "$AWQKIT" audit "$M" -o "$T/x" --budgets 8,abc
stderr_has "--budgets"
expect_exit 2 "bad contexts" "$AWQKIT" audit "$M" -o "$T/x" --contexts 2k,-5
stderr_has "--contexts"
expect_exit 2 "unknown option" "$AWQKIT" audit "$M" -o "$T/x" --frobnicate
stderr_has "--frobnicate"
expect_exit 2 "two models" "$AWQKIT" audit "$M" "$M" -o "$T/x"
stderr_has "--compare"
expect_exit 2 "output is the model" "$AWQKIT" audit "$M" -o "$M"
stderr_has "-o"
check "refusals wrote nothing" test ! -e "$T/x"

# ------------------------------------------------------ the default grid
t0=$(date +%s)
expect_exit 0 "default grid" "$AWQKIT" audit "$M" -o "$T/r" --text "$W" "${CAL[@]}" "${EVAL[@]}" \
    --json
t1=$(date +%s)
echo "default grid: $((t1 - t0)) s"
cp "$T/out" "$T/stdout.json"
R=$T/r/report.json
check "--json prints report.json" cmp -s "$T/stdout.json" "$R"
for f in report.md report.html ppl_vs_size.svg kl_vs_bpw.svg heatmap.svg; do
    check "$f written" test -s "$T/r/$f"
done
grid="fp16 rtn-4-g128 awq-4-g128 rtn-4-g64 awq-4-g64 rtn-4-g32 awq-4-g32 rtn-4-pc awq-4-pc"
grid="$grid rtn-3-g128 awq-3-g128 rtn-8-g128 awq-8-g128"
for c in $grid; do
    check "$c measured" test "$("$J" "$R" configs.$c.status)" = ok
done
check "13 configurations" test "$("$J" "$R" options.configs)" = "<array 13>"
check "version recorded" test -n "$("$J" "$R" awqkit_version)"
check "options recorded" test "$("$J" "$R" options.seqlen options.max_chunks options.calibration.samples \
    options.calibration.seqlen | tr '\n' ' ')" = "256 16 16 256 "
check "3-bit written as gptq-v2" test "$("$J" "$R" configs.awq-3-g128.format)" = gptq-v2
check "8-bit written as gptq-v2" test "$("$J" "$R" configs.rtn-8-g128.format)" = gptq-v2
check "4-bit written as awq" test "$("$J" "$R" configs.awq-4-pc.format)" = awq
check "FP16 KL 0, top-1 1" test "$("$J" "$R" configs.fp16.kl configs.fp16.top1_agreement | tr '\n' ' ')" = "0 1 "
check "4080 predicted tokens" test "$("$J" "$R" evaluation.predicted_tokens)" = 4080

# AWQ against RTN at each bit width / group size. The KL of the next-token
# distribution over the evaluation tokens (a paired, per-token measure) is
# lower with AWQ for every pair, and the paired per-window statistics call
# no pair worse. With 16 calibration documents and 16 windows, perplexity
# differences are inside the evaluation's noise except where the gap is
# large (4-bit g128, 3-bit): there AWQ must win. AWQ <= RTN in perplexity
# for every pair is asserted at full fidelity by the long test audit_full
# (default calibration, all 1544 windows); BENCHMARKS.md, "Which scale
# candidates", has the figures.
check "six AWQ/RTN pairs" test "$("$J" "$R" awq_vs_rtn)" = "<array 6>"
for i in 0 1 2 3 4 5; do
    read -r a r aw rt < <("$J" "$R" awq_vs_rtn.$i.awq awq_vs_rtn.$i.rtn awq_vs_rtn.$i.awq_ppl \
        awq_vs_rtn.$i.rtn_ppl | tr '\n' ' ')
    read -r z v d < <("$J" "$R" awq_vs_rtn.$i.z awq_vs_rtn.$i.verdict awq_vs_rtn.$i.awq_minus_rtn | tr '\n' ' ')
    echo "  $a ppl $aw (KL $("$J" "$R" awq_vs_rtn.$i.awq_kl)) vs $r ppl $rt (KL $("$J" "$R" awq_vs_rtn.$i.rtn_kl)): z $z, $v"
    check "$a KL <= $r KL" awk -v a="$("$J" "$R" awq_vs_rtn.$i.awq_kl)" \
        -v b="$("$J" "$R" awq_vs_rtn.$i.rtn_kl)" 'BEGIN { exit !(a <= b) }'
    check "$a verdict is one of better/tie/worse" grep -qxE 'better|tie|worse' <<<"$v"
    check "$a not worse by the paired statistics (z $z)" test "$v" != worse
    check "$a: z has the sign of AWQ - RTN" awk -v z="$z" -v d="$d" \
        'BEGIN { exit !((z < 0 && d < 0) || (z > 0 && d > 0) || (z == 0 && d == 0)) }'
    case $a in awq-4-g128 | awq-3-g128)
        check "$a ppl ($aw) <= $r ppl ($rt)" test "$("$J" "$R" awq_vs_rtn.$i.awq_not_worse)" = true ;;
    esac
done
check "report.md explains z" grep -q "paired verdict" "$T/r/report.md"
check "report.html shows z" grep -q "paired verdict" "$T/r/report.html"
check "search options recorded" test "$("$J" "$R" options.search.duo_scaling)" = off
# the 3-bit loss is larger than the 4-bit one, the 8-bit one smaller
check "KL: 3-bit > 4-bit g128 > 8-bit" awk -v a="$("$J" "$R" configs.rtn-3-g128.kl)" \
    -v b="$("$J" "$R" configs.rtn-4-g128.kl)" -v c="$("$J" "$R" configs.rtn-8-g128.kl)" \
    'BEGIN { exit !(a > b && b > c) }'

# the kept checkpoint, measured again by the other commands
K=$T/r/checkpoints/awq-4-g128
check "checkpoint kept" test -s "$K/config.json"
check "checkpoint path in the report" test "$("$J" "$R" configs.awq-4-g128.checkpoint)" = "$K"
expect_exit 0 "ppl of the kept checkpoint" "$AWQKIT" ppl "$K" --text "$W" "${EVAL[@]}" --json
check "ppl equals the report's" test "$("$J" "$T/out" ppl)" = "$("$J" "$R" configs.awq-4-g128.ppl)"
check "mean NLL equals the report's" \
    test "$("$J" "$T/out" mean_nll)" = "$("$J" "$R" configs.awq-4-g128.mean_nll)"
expect_exit 0 "ppl of the model" "$AWQKIT" ppl "$M" --text "$W" "${EVAL[@]}" --json
check "FP16 ppl equals the report's" test "$("$J" "$T/out" ppl)" = "$("$J" "$R" configs.fp16.ppl)"
expect_exit 0 "count of the kept checkpoint" "$AWQKIT" count "$K" --json
check "logical parameters equal" \
    test "$("$J" "$T/out" logical)" = "$("$J" "$R" configs.awq-4-g128.size.logical_parameters)"
check "file bytes equal" \
    test "$("$J" "$T/out" file_bytes)" = "$("$J" "$R" configs.awq-4-g128.size.file_bytes)"
check "bits per weight equal" test "$("$J" "$T/out" quantized.bits_per_weight)" = \
    "$("$J" "$R" configs.awq-4-g128.size.bits_per_weight)"
check "logical parameters = the model's" \
    test "$("$J" "$R" configs.awq-4-g128.size.logical_parameters)" = "$("$J" "$R" model.logical_parameters)"
expect_exit 0 "count of the 3-bit checkpoint" "$AWQKIT" count "$T/r/checkpoints/awq-3-g128" --json
check "3-bit bits per weight equal" test "$("$J" "$T/out" quantized.bits_per_weight)" = \
    "$("$J" "$R" configs.awq-3-g128.size.bits_per_weight)"
# per-layer figures: 6 layers x 7 linears, output MSE from the quantizer
check "layers" test "$("$J" "$R" configs.awq-4-g128.layers)" = "<array 6>"
check "layer output MSE: AWQ below RTN" awk -v a="$("$J" "$R" configs.awq-4-g128.layers.3.output_mse)" \
    -v b="$("$J" "$R" configs.awq-4-g128.layers.3.output_mse_rtn)" 'BEGIN { exit !(a > 0 && a < b) }'
check "weight error ~0.1 at 4 bits" awk -v a="$("$J" "$R" configs.awq-4-g128.layers.2.linears.down_proj.rel_err)" \
    'BEGIN { exit !(a > 0.06 && a < 0.15) }'
# memory: the tiny model fits every budget
check "memory table" test "$("$J" "$R" configs.rtn-4-g128.memory.serving.2.context)" = 32768
check "fits 8 GiB" test "$("$J" "$R" configs.fp16.memory.serving.0.fits.0)" = true
f0=$("$J" "$R" pareto_front.0)
check "Pareto front marked ($f0)" test "$("$J" "$R" configs.$f0.pareto_front)" = true
check "report.md: results table" grep -q '^| config | method | bits | group | format | size' "$T/r/report.md"
check "report.md: AWQ vs RTN" grep -q '^## AWQ vs RTN' "$T/r/report.md"
check "report.md: meanings" grep -q '^## What the numbers mean' "$T/r/report.md"

# ---------------------- not applicable + --compare + --no-keep, human output
expect_exit 0 "repack to gptq" "$AWQKIT" repack "$K" -o "$T/gptq" --to gptq-v2 --allow-unservable
expect_exit 0 "g96 + compare" "$AWQKIT" audit "$M" -o "$T/r2" --text "$W" "${CAL[@]}" "${EVAL[@]}" \
    --configs fp16,awq-4bit-g96,rtn-4-g128 --compare "$T/gptq" --no-keep --heatmap-config cmp-gptq \
    --contexts 2k,128k --budgets 8,80
R2=$T/r2/report.json
stdout_has "awq-4-g96"
stdout_has "not applicable"
stdout_has "Time: quantize"
check "g96 not applicable" test "$("$J" "$R2" configs.awq-4-g96.status)" = not_applicable
check "reason names the group" grep -q "96" <("$J" "$R2" configs.awq-4-g96.reason)
check "the rest ran" test "$("$J" "$R2" configs.rtn-4-g128.status configs.cmp-gptq.status | tr '\n' ' ')" = "ok ok "
check "same RTN as the default grid" test "$("$J" "$R2" configs.rtn-4-g128.ppl)" = "$("$J" "$R" configs.rtn-4-g128.ppl)"
check "repacked AWQ measures the same" test "$("$J" "$R2" configs.cmp-gptq.ppl configs.cmp-gptq.kl | tr '\n' ' ')" = \
    "$("$J" "$R" configs.awq-4-g128.ppl configs.awq-4-g128.kl | tr '\n' ' ')"
check "same weight error after repacking" test "$("$J" "$R2" configs.cmp-gptq.layers.4.linears.up_proj.rel_err)" = \
    "$("$J" "$R" configs.awq-4-g128.layers.4.linears.up_proj.rel_err)"
check "compare format detected" test "$("$J" "$R2" configs.cmp-gptq.format configs.cmp-gptq.bits | tr '\n' ' ')" = "gptq-v2 4 "
check "heat map of the compared checkpoint" test "$("$J" "$R2" options.heatmap_config)" = cmp-gptq
check "--no-keep removed the checkpoints" test ! -e "$T/r2/checkpoints"
check "contexts 2k,128k" test "$("$J" "$R2" options.contexts.0 options.contexts.1 | tr '\n' ' ')" = "2048 131072 "
check "budgets 8,80" test "$("$J" "$R2" options.budgets_gib | tr '\n' ' ')" = "<array 2> "
check "serving grows with the context" awk -v a="$("$J" "$R2" configs.fp16.memory.serving.0.serving_bytes)" \
    -v b="$("$J" "$R2" configs.fp16.memory.serving.1.serving_bytes)" 'BEGIN { exit !(b > a) }'

check "--compare checkpoint left alone" test -s "$T/gptq/config.json"

# -------------------------------------------------------------- refusals
expect_exit 1 "non-empty report dir" "$AWQKIT" audit "$M" -o "$T/r2" --configs fp16 "${EVAL[@]}"
stderr_has "not empty"
expect_exit 0 "synth other vocab" "$AWQKIT" synth -o "$T/vocab" --preset tiny --vocab 1000
expect_exit 1 "compare: other vocabulary" "$AWQKIT" audit "$M" -o "$T/r3" --configs fp16 "${EVAL[@]}" \
    --compare "$T/vocab"
stderr_has "vocab_size 1000 differs from the model's 4096"
expect_exit 0 "synth other arch" "$AWQKIT" synth -o "$T/qwen" --preset tiny --arch qwen2
expect_exit 1 "compare: other architecture" "$AWQKIT" audit "$M" -o "$T/r3" --configs fp16 \
    "${EVAL[@]}" --compare "$T/qwen"
stderr_has "architecture Qwen2ForCausalLM differs from the model's LlamaForCausalLM"
check "refused runs wrote nothing" test ! -e "$T/r3"
expect_exit 1 "heat map not in the grid" "$AWQKIT" audit "$M" -o "$T/r3" --configs fp16 \
    "${EVAL[@]}" --heatmap-config awq-4-g64
stderr_has "heat-map configuration"
finish
