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

# llm-compressor's FP8 (channel, block), NVFP4 and mixed-scheme checkpoints
# of tests/ref/quant/fp16: verify checks them (against their source: FP8 /
# NVFP4 codes within half a grid step), repack refuses them naming the
# tensor, the reason and what works, writing nothing
R=$AWQ_TESTS/ref/ct
SRC=$AWQ_TESTS/ref/quant/fp16
for f in fp8-channel fp8-block nvfp4a16 mixed-int; do
    expect_exit 0 "verify $f" "$AWQKIT" verify "$R/tiny-qwen2-$f" --against "$SRC" --json
    cp "$T/out" "$T/v.json"
    check "verify $f: ok" test "$("$AWQ_JSON" "$T/v.json" ok)" = true
    check "verify $f: 7 linears" test "$("$AWQ_JSON" "$T/v.json" linears)" = 7
    check "verify $f: params equal" test "$("$AWQ_JSON" "$T/v.json" params_equal)" = true
done
expect_exit 0 "verify fp8 text" "$AWQKIT" verify "$R/tiny-qwen2-fp8-block" --against "$SRC"
stdout_has "compressed-tensors (group_0: naive-quantized fp8 block 32x32), 7 quantized linears"
stdout_has "0 off-step"
stdout_has "verify: OK"
expect_exit 0 "verify mixed text" "$AWQKIT" verify "$R/tiny-qwen2-mixed-int"
stdout_has "group_0: pack-quantized int8 channel; group_1: pack-quantized int4 group 32 asymmetric"

expect_exit 1 "repack of FP8 weights" "$AWQKIT" repack "$R/tiny-qwen2-fp8-channel" -o "$T/f" --to awq
stderr_has "repack $R/tiny-qwen2-fp8-channel -> awq: model.layers.0.mlp.down_proj.weight (config group group_0: naive-quantized fp8 channel): FP8 E4M3 codes lie on a non-uniform (floating-point) grid"
stderr_has "Serve it as it is (vLLM, SGLang and transformers load this compressed-tensors scheme), or quantize the original 16-bit checkpoint: awqkit quantize ORIGINAL -o OUT --format awq"
check "FP8 refusal: nothing written" test ! -e "$T/f"
expect_exit 1 "repack of NVFP4 weights" "$AWQKIT" repack "$R/tiny-qwen2-nvfp4a16" -o "$T/n" --to compressed-tensors
stderr_has "model.layers.0.mlp.down_proj.weight_packed (config group group_0: nvfp4-pack-quantized fp4 group 16): NVFP4 codes"
check "NVFP4 refusal: nothing written" test ! -e "$T/n"
expect_exit 1 "repack of mixed schemes" "$AWQKIT" repack "$R/tiny-qwen2-mixed-int" -o "$T/m" --to awq
stderr_has "a mixed-scheme checkpoint (group_0: pack-quantized int8 channel, first model.layers.0.self_attn.k_proj.weight_packed; group_1: pack-quantized int4 group 32 asymmetric, first model.layers.0.mlp.down_proj.weight_packed): the awq quantization_config holds one bits / group_size / sym for every linear"
stderr_has "Keep it as compressed-tensors (vLLM, SGLang and transformers load mixed schemes)"
check "mixed refusal: nothing written" test ! -e "$T/m"

# audit --compare measures them against their source (tests/ref/quant/fp16
# with a 32-character BPE tokenizer, so a text can be evaluated)
cp -r "$SRC" "$T/tq"
V='"a":0,"b":1,"c":2,"d":3,"e":4,"f":5,"g":6,"h":7,"i":8,"j":9,"k":10,"l":11,"m":12,"n":13'
V=$V',"o":14,"p":15,"q":16,"r":17,"s":18,"t":19,"u":20,"v":21,"w":22,"x":23,"y":24,"z":25'
V=$V'," ":26,".":27,",":28,";":29,"!":30,"?":31'
printf '{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,"model":{"type":"BPE","unk_token":null,"vocab":{%s},"merges":[]}}\n' "$V" > "$T/tq/tokenizer.json"
for i in $(seq 1 120); do printf 'the cat sat on a mat and was fed. '; done > "$T/tq.txt"
expect_exit 0 "audit --compare FP8 / NVFP4 / mixed" "$AWQKIT" audit "$T/tq" -o "$T/aud" --configs fp16 \
    --compare "$R/tiny-qwen2-fp8-channel" --compare "$R/tiny-qwen2-nvfp4a16" \
    --compare "$R/tiny-qwen2-mixed-int" --text "$T/tq.txt" --calib "$T/tq.txt" --seqlen 64 \
    --max-chunks 4 --device cpu
check "audit: FP8 row" grep -q '^| cmp-tiny-qwen2-fp8-channel | external | 8 | per-channel | compressed-tensors |' "$T/aud/report.md"
check "audit: NVFP4 row" grep -q '^| cmp-tiny-qwen2-nvfp4a16 | external | 4 | g16 | compressed-tensors |' "$T/aud/report.md"
check "audit: mixed row (main scheme int4 g32)" grep -q '^| cmp-tiny-qwen2-mixed-int | external | 4 | g32 | compressed-tensors |' "$T/aud/report.md"
finish
