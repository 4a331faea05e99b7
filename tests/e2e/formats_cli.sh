#!/usr/bin/env bash
# tests/e2e/formats_cli.sh — the format and consumer tables through the CLI
# (inspect / count on header-only copies of llm-compressor, bitsandbytes and
# MLX checkpoints of data/tiny-llama), and ambiguous quantized checkpoints
# refused rather than guessed (issue 13 class 6): a checkpoint_format that
# contradicts the stored zeros fails verify and repack; --gptq-zeros is the
# explicit choice.
. "$(dirname "$0")/lib.sh"
J=$AWQ_JSON
FX=$AWQ_TESTS/ref/formats
Q=$AWQ_TESTS/ref/quant

# sparse checkpoint of the full size around a committed header
mk() { # mk NAME -> $T/NAME
    local d=$T/$1 hdr=$FX/$1/model.safetensors.hdr end
    mkdir -p "$d"
    cp "$FX/$1/config.json" "$d/"
    cp "$hdr" "$d/model.safetensors"
    end=$(grep -ao '"data_offsets":\[[0-9]*,[0-9]*\]' "$hdr" | sed 's/.*,\([0-9]*\)\]/\1/' | sort -n | tail -1)
    truncate -s $(( $(stat -c %s "$hdr") + end )) "$d/model.safetensors"
}

for f in ct-w4a16-asym ct-fp8-block bnb-nf4 mlx-4bit mxfp4-gptoss; do
    mk $f
    expect_exit 0 "count $f" "$AWQKIT" count "$T/$f" --json
    cp "$T/out" "$T/c.json"
    check "count $f: logical = tiny-llama's" test "$("$J" "$T/c.json" logical)" = 6819072
done
# AWQ GEMM / GEMV and GPTQ v1 / v2 in tiny-llama's shape (synth --preset tiny)
for f in awq awq-gemv gptq gptq-v2; do
    expect_exit 0 "synth $f" "$AWQKIT" synth -o "$T/s-$f" --format $f --zero-data
    expect_exit 0 "count $f" "$AWQKIT" count "$T/s-$f" --json
    cp "$T/out" "$T/c.json"
    check "count $f: logical = tiny-llama's" test "$("$J" "$T/c.json" logical)" = 6819072
done
expect_exit 0 "inspect ct asym" "$AWQKIT" inspect "$T/ct-w4a16-asym"
stdout_has "format:  compressed-tensors pack-quantized int4 asymmetric, group 128, 4.157 bits per weight"
stdout_has "loads:   vLLM yes; SGLang yes; transformers yes"  # both engines checked: tests/ref/vllm/accept.json
# compressed-tensors is computed on (lib/quant/ct.c); bitsandbytes only described
check "ct asym: computed on" sh -c "! grep -qF 'not computed on' '$T/out'"
expect_exit 0 "inspect bnb --json" "$AWQKIT" inspect "$T/bnb-nf4" --json
cp "$T/out" "$T/i.json"
check "json: kind bnb-4bit" test "$("$J" "$T/i.json" kind)" = bnb-4bit
check "json: bnb not computable" test "$("$J" "$T/i.json" computable)" = false
check "json: agrees" test "$("$J" "$T/i.json" config_agrees)" = true

# bitsandbytes 4-bit stores flat codes: in x out come back from the
# architecture table, so size re-packs every linear
expect_exit 0 "size bnb-nf4" "$AWQKIT" size "$T/bnb-nf4"
check "bnb linears packable" sh -c "! grep -q 'stay FP16' '$T/out'"

# unknown layouts are never dense: an int8 .weight with no scales
mkdir -p "$T/unk"
cp "$FX/ct-naive-w8/config.json" "$T/unk/"
sed 's/weight_scale/weight_zcale/g' "$FX/ct-naive-w8/model.safetensors.hdr" >"$T/unk/model.safetensors"
end=$(grep -ao '"data_offsets":\[[0-9]*,[0-9]*\]' "$T/unk/model.safetensors" | sed 's/.*,\([0-9]*\)\]/\1/' | sort -n | tail -1)
truncate -s $(( $(stat -c %s "$FX/ct-naive-w8/model.safetensors.hdr") + end )) "$T/unk/model.safetensors"
expect_exit 0 "inspect unknown" "$AWQKIT" inspect "$T/unk"
stdout_has "kind:    packed-other"
stdout_has "fits no known layout"

# checkpoint_format gptq_v2 on v1 zeros: inspect DISAGREES, verify fails
cp -r "$Q/gptq" "$T/relabel"
sed -i 's/"checkpoint_format": "gptq"/"checkpoint_format": "gptq_v2"/' "$T/relabel/config.json"
expect_exit 0 "inspect relabelled" "$AWQKIT" inspect "$T/relabel"
stdout_has "DISAGREES"
stdout_has "checkpoint_format 'gptq_v2' but the stored zeros read as v1"
expect_exit 1 "verify relabelled" "$AWQKIT" verify "$T/relabel"
stdout_has "inspect says DISAGREES"
# v1 label on v2 zeros: refused everywhere until the caller chooses
expect_exit 1 "verify mislabelled" "$AWQKIT" verify "$Q/gptq-sym-mislabelled"
expect_exit 1 "repack mislabelled" "$AWQKIT" repack "$Q/gptq-sym-mislabelled" -o "$T/mis" --to awq
stderr_has "the label and the data disagree"
check "nothing written" test ! -e "$T/mis"
expect_exit 0 "repack mislabelled, explicit v2" "$AWQKIT" repack "$Q/gptq-sym-mislabelled" -o "$T/mis" --to awq --gptq-zeros v2
expect_exit 0 "verify the explicit conversion" "$AWQKIT" verify "$T/mis"
finish
