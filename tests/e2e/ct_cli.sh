#!/usr/bin/env bash
# compressed-tensors from the command line: quantize --format
# compressed-tensors (symmetric: no zero point written), verify, ppl,
# repack to GPTQ and back (same bytes), a symmetric GPTQ input, and the
# output files (config.json text kept, no stale quantize_config.json, a
# warning per sub-directory, base_model in the model card).
. "$AWQ_TESTS/e2e/lib.sh"
M=$AWQ_DATA/tiny-llama
for i in $(seq 1 512); do printf '%d ' $(( (i * 37) % 4096 )); done > "$T/ids.txt"

# a source with a stale quantizer file and a sub-directory
cp -r "$M" "$T/src"
printf '{"bits": 4, "desc_act": false}\n' > "$T/src/quantize_config.json"
mkdir "$T/src/original" && printf 'x\n' > "$T/src/original/params.json"

expect_exit 2 "bad --format" "$AWQKIT" quantize "$T/src" -o "$T/x" --format nope
stderr_has "compressed-tensors"
expect_exit 0 "quantize --format compressed-tensors --sym" "$AWQKIT" quantize "$T/src" \
    -o "$T/ct" --method rtn --format compressed-tensors --sym --group-size 64 \
    --calib-tokens "$T/ids.txt"
stderr_has "original: sub-directory not copied"
check "quant_method" grep -q '"quant_method": "compressed-tensors"' "$T/ct/config.json"
check "symmetric" grep -q '"symmetric": true' "$T/ct/config.json"
check "lm_head ignored" bash -c "grep -A1 '\"ignore\"' '$T/ct/config.json' | grep -q lm_head"
check "source numbers kept (10000.0)" grep -q '"rope_theta": 10000.0,' "$T/ct/config.json"
check "2-space config" grep -q '^  "hidden_size": 256,' "$T/ct/config.json"
check "no tabs in config" bash -c "! grep -qP '\t' '$T/ct/config.json'"
check "no stale quantize_config.json" test ! -e "$T/ct/quantize_config.json"
check "model card: base_model" grep -q '^base_model: src$' "$T/ct/README.md"
check "model card: relation" grep -q '^base_model_relation: quantized$' "$T/ct/README.md"
check "weight_packed written" grep -aq 'self_attn.q_proj.weight_packed' "$T/ct/model.safetensors"
check "symmetric: no weight_zero_point" bash -c "! grep -aq weight_zero_point '$T/ct/model.safetensors'"
expect_exit 0 "verify" "$AWQKIT" verify "$T/ct" --against "$M"
stdout_has "verify: OK"
expect_exit 0 "ppl" "$AWQKIT" ppl "$T/ct" --text "$AWQ_DATA/text/wiki.test.raw" --seqlen 128 \
    --max-chunks 2

# symmetric compressed-tensors -> GPTQ v1 (servable) -> compressed-tensors
expect_exit 0 "repack ct -> gptq" "$AWQKIT" repack "$T/ct" -o "$T/gptq" --to gptq
expect_exit 0 "repack gptq -> ct" "$AWQKIT" repack "$T/gptq" -o "$T/ct2" --to compressed-tensors
check "ct -> gptq -> ct: same weights file" cmp -s "$T/ct/model.safetensors" "$T/ct2/model.safetensors"

# asymmetric AWQ -> compressed-tensors -> AWQ: the same file
expect_exit 0 "quantize awq" "$AWQKIT" quantize "$M" -o "$T/awq" --method rtn \
    --calib-tokens "$T/ids.txt"
expect_exit 0 "repack awq -> ct" "$AWQKIT" repack "$T/awq" -o "$T/act" --to compressed-tensors
check "asymmetric: weight_zero_point" grep -aq weight_zero_point "$T/act/model.safetensors"
expect_exit 0 "repack ct -> awq" "$AWQKIT" repack "$T/act" -o "$T/awq2" --to awq
check "awq -> ct -> awq: same weights file" cmp -s "$T/awq/model.safetensors" "$T/awq2/model.safetensors"
expect_exit 0 "verify of the ct repack" "$AWQKIT" verify "$T/act" --against "$M"
stdout_has "verify: OK"

# a float-quantized (FP8) checkpoint: ppl computes, repack refuses naming why
F=$AWQ_TESTS/ref/ct/tiny-qwen2-fp8-channel
expect_exit 1 "repack of FP8 weights" "$AWQKIT" repack "$F" -o "$T/f" --to awq
stderr_has "not pack-quantized"
finish
