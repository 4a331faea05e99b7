#!/usr/bin/env bash
# `awqkit count`: help / usage / path errors, tiny-llama (FP16: stored =
# loaded = logical, hand-computed), the Qwen2.5-VL-3B AWQ shape (the
# "0.98B vs 3.75B" case) and its FP16 original, and the header-only speed
# on a 7B checkpoint in many shards.
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}
M=$AWQ_DATA/tiny-llama

expect_exit 0 "help" "$AWQKIT" count --help
stdout_has "logical"
expect_exit 0 "help via awqkit help" "$AWQKIT" help count
stdout_has "loaded"
expect_exit 2 "unknown flag" "$AWQKIT" count "$M" --bogus
stderr_has "--bogus"
expect_exit 2 "no model" "$AWQKIT" count
stderr_has "MODEL"
expect_exit 2 "two models" "$AWQKIT" count "$M" "$M"
stderr_has "unexpected argument"
expect_exit 1 "missing path" "$AWQKIT" count "$T/no-such-model"
stderr_has "$T/no-such-model"

# tiny-llama: 6 x (4 attn + 3 mlp linears + 2 norms) + embed + lm_head + norm
#   per layer 256*256*2 + 256*128*2 + 3*256*768 + 2*256 = 786,944
#   6*786,944 + 2*4096*256 + 256 = 6,819,072
expect_exit 0 "count tiny" "$AWQKIT" count "$M"
stdout_has "6,819,072"
stdout_has "dense checkpoint"
expect_exit 0 "count tiny --json" "$AWQKIT" count "$M" --json
cp "$T/out" "$T/tiny.json"
check "json parses, three counts equal" test "$("$J" "$T/tiny.json" stored loaded logical | tr '\n' ' ')" = "6819072 6819072 6819072 "
check "json by_role.linear.logical" test "$("$J" "$T/tiny.json" by_role.linear.logical)" = 4718592
check "json by_dtype.F16.bytes" test "$("$J" "$T/tiny.json" by_dtype.F16.bytes)" = 13638144
check "json bits_per_param" test "$("$J" "$T/tiny.json" bits_per_param)" = 16

# Qwen2.5-VL-3B-Instruct shape, AWQ GEMM g128, vision tower FP16, tied.
#   vision: 32 blocks x 19,702,200 + patch_embed 1,505,280 + merger 36,708,608
#         = 668,684,288
#   decoder linears: 36 x (2*2048*2048 + 2*2048*256 + 3*2048*11008) = 2,774,532,096
#   embed 151936*2048 = 311,164,928; norms 36*2*2048 + 2048 = 149,504;
#   q/k/v biases 36*2560 = 92,160
#   logical = 3,754,622,976; loaded = logical - linears = 980,090,880
#   stored = loaded + packed words: 36 x 10,311,168 = 371,202,048
#          -> 1,351,292,928
expect_exit 0 "synth VL-3B AWQ" "$AWQKIT" synth -o "$T/vl-awq" --preset qwen2.5-vl-3b --format awq --zero-data
expect_exit 0 "count VL-3B AWQ" "$AWQKIT" count "$T/vl-awq" --json
cp "$T/out" "$T/vl.json"
check "VL AWQ logical 3.75B" test "$("$J" "$T/vl.json" logical)" = 3754622976
check "VL AWQ loaded 0.98B" test "$("$J" "$T/vl.json" loaded)" = 980090880
check "VL AWQ stored" test "$("$J" "$T/vl.json" stored)" = 1351292928
check "VL AWQ vision role" test "$("$J" "$T/vl.json" by_role.vision.logical)" = 668684288
check "VL AWQ layout" test "$("$J" "$T/vl.json" quantized.layout)" = awq-gemm
check "VL AWQ 252 packed linears" test "$("$J" "$T/vl.json" quantized.linears)" = 252
check "VL AWQ tied" test "$("$J" "$T/vl.json" tied_embeddings.tie_word_embeddings)" = true
expect_exit 0 "count VL-3B AWQ text" "$AWQKIT" count "$T/vl-awq"
stdout_has "3.75B"
stdout_has "980.09M"
stdout_has "4.156 bits/weight"
expect_exit 0 "synth VL-3B FP16" "$AWQKIT" synth -o "$T/vl-fp16" --preset qwen2.5-vl-3b --zero-data
expect_exit 0 "count VL-3B FP16" "$AWQKIT" count "$T/vl-fp16" --json
check "FP16 original: same logical" test "$("$J" "$T/out" logical)" = 3754622976
check "FP16 original: loaded = logical" test "$("$J" "$T/out" loaded)" = 3754622976
rm -rf "$T/vl-awq" "$T/vl-fp16"

# Speed: 7B (Llama-2 shape) in ~70 shards, headers only.
expect_exit 0 "synth 7b sharded" "$AWQKIT" synth -o "$T/7b" --preset 7b --zero-data --max-shard-size 200MB
shards=$(ls "$T/7b"/model-*.safetensors | wc -l)
check "7b has many shards ($shards)" test "$shards" -ge 60
t0=$(date +%s%N)
expect_exit 0 "count 7b" "$AWQKIT" count "$T/7b" --json
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
echo "count on 7b ($shards shards): ${ms} ms wall, $("$J" "$T/out" seconds) s in-process"
check "7b logical 6.74B" test "$("$J" "$T/out" logical)" = 6738415616
check "count 7b under a second (${ms} ms)" test "$ms" -lt 1000
rm -rf "$T/7b"
finish
