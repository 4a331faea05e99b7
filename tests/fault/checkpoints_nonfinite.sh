#!/usr/bin/env bash
# Issue 13, class 5: a NaN / Inf in any kind of tensor is never swallowed.
# A small synthetic FP16 model (awqkit synth) and its RTN-quantized AWQ and
# GPTQ checkpoints (awqkit quantize --method rtn) get one element patched
# (checkpoints_patch: NaN, +Inf or -Inf) in each kind of tensor: embedding,
# norms, a linear weight, lm_head, AWQ scales, GPTQ scales, and the FP16
# tensors a quantized checkpoint keeps. `ppl`, `verify` and
# `audit --compare` must each exit nonzero naming the tensor and the element
# (before the fix ppl gave the clean model's perplexity for a NaN in
# lm_head, -nan with exit 0 for NaN scales, and audit KL 0 / "ok").
. "$AWQ_TESTS/e2e/lib.sh"
P=${AWQ_PATCH:?AWQ_PATCH not set}
TOK=$AWQ_DATA/tiny-llama/tokenizer.json

# 2 layers, hidden 128, intermediate 256, the tokenizer's vocabulary (4096)
"$AWQKIT" synth -o "$T/fp" --preset tiny --layers 2 --hidden 128 --intermediate 256 \
    --heads 2 --kv-heads 1 --seed 3 -q >/dev/null || { echo "synth failed"; exit 1; }
cp "$TOK" "$T/fp/"
seq 1 2048 | awk '{ print ($1 * 37) % 4000 + 10 }' > "$T/ids.txt"
for f in awq gptq; do
    "$AWQKIT" quantize "$T/fp" -o "$T/$f" --method rtn --format $f --group-size 64 --allow-unservable \
        --calib-tokens "$T/ids.txt" --seqlen 64 -q --no-progress >/dev/null ||
        { echo "quantize $f failed"; exit 1; }
done
head -c 30000 "$AWQ_DATA/text/wiki.test.raw" > "$T/text.txt"

# the clean checkpoints pass (so the failures below are the patches')
expect_exit 0 "clean fp16 ppl" "$AWQKIT" ppl "$T/fp" --text "$T/text.txt" --seqlen 64 --max-chunks 2
expect_exit 0 "clean awq verify" "$AWQKIT" verify "$T/awq"
expect_exit 0 "clean gptq ppl" "$AWQKIT" ppl "$T/gptq" --text "$T/text.txt" --seqlen 64 --max-chunks 2

n=0
# case SOURCE TENSOR INDEX VALUE "expected message"
case_() {
    local src=$1 tensor=$2 idx=$3 val=$4 want=$5
    n=$((n + 1))
    local d=$T/c$n
    cp -r "$T/$src" "$d"
    "$P" "$d" "$tensor" "$idx" "$val" || { bad "patch $tensor"; return; }
    expect_exit 1 "ppl, $src $tensor $val" "$AWQKIT" ppl "$d" --text "$T/text.txt" \
        --seqlen 64 --max-chunks 2
    stderr_has "$want"
    if grep -qi "perplexity\|nan" "$T/out"; then bad "ppl printed a result for $tensor"; else ok; fi
    expect_exit 1 "verify, $src $tensor $val" "$AWQKIT" verify "$d"
    stdout_has "problem: $want"
    stdout_has "verify: FAILED"
    expect_exit 1 "audit --compare, $src $tensor $val" "$AWQKIT" audit "$T/fp" -o "$T/rep$n" \
        --configs fp16 --compare "$d" --text "$T/text.txt" --seqlen 64 --max-chunks 1 \
        --no-progress
    stderr_has "$want"
    if grep -q "KL\|ok" "$T/out" && ! grep -q FAILED "$T/out"; then
        bad "audit reported a measurement for $tensor"; else ok; fi
}

# FP16 model: embedding, final norm, lm_head, a layer's norm and linear
case_ fp model.embed_tokens.weight 647 nan \
    "tensor 'model.embed_tokens.weight' holds NaN at element [5, 7]"
case_ fp model.norm.weight 9 inf "tensor 'model.norm.weight' holds +Inf at element [9]"
case_ fp lm_head.weight 1000 nan "tensor 'lm_head.weight' holds NaN at element [7, 104]"
case_ fp model.layers.1.post_attention_layernorm.weight 0 -inf \
    "tensor 'model.layers.1.post_attention_layernorm.weight' holds -Inf at element [0]"
case_ fp model.layers.1.self_attn.o_proj.weight 300 nan \
    "tensor 'model.layers.1.self_attn.o_proj.weight' holds NaN at element [2, 44]"
# packed checkpoints: scales (down_proj: K 256 / group 64 = 4 groups x 128)
case_ awq model.layers.1.mlp.down_proj.scales 135 nan \
    "tensor 'model.layers.1.mlp.down_proj.scales' holds NaN at element [1, 7]"
case_ gptq model.layers.0.self_attn.q_proj.scales 3 inf \
    "tensor 'model.layers.0.self_attn.q_proj.scales' holds +Inf at element [0, 3]"
# the FP16 tensors a quantized checkpoint keeps
case_ awq lm_head.weight 130 -inf "tensor 'lm_head.weight' holds -Inf at element [1, 2]"
case_ gptq model.layers.0.input_layernorm.weight 17 nan \
    "tensor 'model.layers.0.input_layernorm.weight' holds NaN at element [17]"

# a NaN in the audited MODEL itself stops the audit before any work
cp -r "$T/fp" "$T/fpbad"
"$P" "$T/fpbad" lm_head.weight 5 nan
expect_exit 1 "audit of a NaN model" "$AWQKIT" audit "$T/fpbad" -o "$T/repbad" --configs fp16 \
    --text "$T/text.txt" --seqlen 64 --max-chunks 1 --no-progress
stderr_has "tensor 'lm_head.weight' holds NaN at element [0, 5]"
# verify --against a source holding a NaN names the source tensor
"$P" "$T/fpbad" model.layers.0.mlp.up_proj.weight 260 inf
expect_exit 1 "verify --against a NaN source" "$AWQKIT" verify "$T/awq" --against "$T/fpbad"
stdout_has "tensor 'model.layers.0.mlp.up_proj.weight' holds +Inf at element [2, 4]"
finish
