#!/usr/bin/env bash
# `awqkit inspect`: help / usage / path errors, the tensor table of
# tiny-llama, kind detection of synthetic AWQ GEMM / GEMV and GPTQ v1 / v2
# checkpoints, and a quantization_config that disagrees with the tensors.
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}
M=$AWQ_DATA/tiny-llama

expect_exit 0 "help" "$AWQKIT" inspect --help
stdout_has "GPTQ"
expect_exit 2 "unknown flag" "$AWQKIT" inspect "$M" --frobnicate
stderr_has "--frobnicate"
expect_exit 2 "no model" "$AWQKIT" inspect
stderr_has "MODEL"
expect_exit 1 "missing path" "$AWQKIT" inspect "$T/missing.safetensors"
stderr_has "missing.safetensors"

expect_exit 0 "inspect tiny" "$AWQKIT" inspect "$M"
stdout_has "kind:    fp16"
stdout_has "tensors: 57"
stdout_has "model.layers.5.mlp.down_proj.weight"
stdout_has "[256, 768]"
expect_exit 0 "inspect tiny --json" "$AWQKIT" inspect "$M" --json
cp "$T/out" "$T/tiny.json"
check "json kind" test "$("$J" "$T/tiny.json" kind)" = fp16
check "json tensors array" test "$("$J" "$T/tiny.json" tensors)" = "<array 57>"
check "json n_tensors" test "$("$J" "$T/tiny.json" n_tensors)" = 57
check "json total_bytes" test "$("$J" "$T/tiny.json" total_bytes)" = 13638144
check "json first tensor has a shape" test "$("$J" "$T/tiny.json" tensors.0.shape)" = "<array 2>"
check "json shard path" "$J" "$T/tiny.json" shards.0.path
check "json config agrees" test "$("$J" "$T/tiny.json" config_agrees)" = true

for f in awq:awq-gemm awq-gemv:awq-gemv gptq:gptq-v1 gptq-v2:gptq-v2; do
    fmt=${f%%:*} kind=${f#*:}
    expect_exit 0 "synth $fmt" "$AWQKIT" synth -o "$T/$fmt" --layers 2 --format "$fmt"
    expect_exit 0 "inspect $fmt" "$AWQKIT" inspect "$T/$fmt" --json
    check "$fmt detected as $kind" test "$("$J" "$T/out" kind)" = "$kind"
    check "$fmt config agrees" test "$("$J" "$T/out" config_agrees)" = true
    check "$fmt 14 packed linears" test "$("$J" "$T/out" packed_linears)" = 14
    check "$fmt bits" test "$("$J" "$T/out" bits)" = 4
    check "$fmt group size" test "$("$J" "$T/out" group_size)" = 128
done
expect_exit 0 "inspect gptq text" "$AWQKIT" inspect "$T/gptq"
stdout_has "gptq-v1"
stdout_has "v1 stores zero - 1"

# GEMM tensors under a config that says gemv.
sed -i 's/"version":[[:space:]]*"gemm"/"version": "gemv"/' "$T/awq/config.json"
check "config edited" grep -q gemv "$T/awq/config.json"
expect_exit 0 "inspect mislabelled" "$AWQKIT" inspect "$T/awq"
stdout_has "DISAGREES"
stdout_has "version 'gemv'"
expect_exit 0 "inspect mislabelled --json" "$AWQKIT" inspect "$T/awq" --json
check "json config_agrees false" test "$("$J" "$T/out" config_agrees)" = false
check "json note names the field" sh -c "'$J' '$T/out' notes.0 | grep -q version"
finish
