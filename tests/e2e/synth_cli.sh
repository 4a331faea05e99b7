#!/usr/bin/env bash
# `awqkit synth`: usage errors, a round trip through count / inspect,
# identical bytes for --threads 1 and 2, sharding, --force.
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}

expect_exit 0 "help" "$AWQKIT" synth --help
stdout_has "--zero-data"
expect_exit 2 "missing -o" "$AWQKIT" synth --preset tiny
stderr_has "-o"
expect_exit 2 "unknown flag" "$AWQKIT" synth -o "$T/x" --layerz 3
stderr_has "--layerz"
expect_exit 2 "bad preset" "$AWQKIT" synth -o "$T/x" --preset 13b
stderr_has "--preset"
expect_exit 2 "bad arch" "$AWQKIT" synth -o "$T/x" --arch gpt2
stderr_has "--arch"
expect_exit 2 "bad format" "$AWQKIT" synth -o "$T/x" --format q4
stderr_has "--format"
expect_exit 2 "heads vs kv-heads" "$AWQKIT" synth -o "$T/x" --kv-heads 3
stderr_has "kv-heads"
check "nothing written on usage errors" test ! -e "$T/x/model.safetensors"
expect_exit 1 "unwritable output" "$AWQKIT" synth -o /dev/null/sub
stderr_has "/dev/null/sub"

expect_exit 0 "synth t1" "$AWQKIT" synth -o "$T/t1" --seed 9 --threads 1 --json
check "json tensors" test "$("$J" "$T/out" tensors)" = 57
check "json outliers" test "$("$J" "$T/out" outlier_channels)" = "<array 4>"
expect_exit 0 "synth t2" "$AWQKIT" synth -o "$T/t2" --seed 9 --threads 2
stdout_has "6.82M parameters"
check "threads 1 == threads 2" cmp -s "$T/t1/model.safetensors" "$T/t2/model.safetensors"
check "same config" cmp -s "$T/t1/config.json" "$T/t2/config.json"
expect_exit 1 "exists without --force" "$AWQKIT" synth -o "$T/t1" --seed 9
stderr_has "--force"
expect_exit 0 "--force" "$AWQKIT" synth -o "$T/t1" --seed 10 --force
check "new seed, new bytes" sh -c "! cmp -s '$T/t1/model.safetensors' '$T/t2/model.safetensors'"

expect_exit 0 "sharded" "$AWQKIT" synth -o "$T/sh" --seed 9 --max-shard-size 2MB
check "index written" test -e "$T/sh/model.safetensors.index.json"
check "several shards" test "$(ls "$T/sh"/model-*.safetensors | wc -l)" -ge 5
expect_exit 0 "count sharded" "$AWQKIT" count "$T/sh" --json
check "sharded: same logical" test "$("$J" "$T/out" logical)" = 6819072
expect_exit 0 "inspect sharded" "$AWQKIT" inspect "$T/sh" --json
check "sharded kind" test "$("$J" "$T/out" kind)" = fp16

expect_exit 0 "qwen3 bf16" "$AWQKIT" synth -o "$T/q3" --arch qwen3 --dtype bf16 --layers 2
expect_exit 0 "inspect qwen3" "$AWQKIT" inspect "$T/q3"
stdout_has "kind:    bf16"
stdout_has "self_attn.q_norm.weight"
check "config names Qwen3" grep -q Qwen3ForCausalLM "$T/q3/config.json"

expect_exit 0 "deepseek-v3" "$AWQKIT" synth -o "$T/ds3" --arch deepseek-v3 --layers 2 \
    --q-lora-rank 96 --kv-lora-rank 64 --first-k-dense 1 --shared-experts 1 --experts 4
expect_exit 0 "inspect deepseek-v3" "$AWQKIT" inspect "$T/ds3"
stdout_has "self_attn.q_a_layernorm.weight"
stdout_has "mlp.gate.e_score_correction_bias"
check "config: first_k_dense_replace" grep -q '"first_k_dense_replace":.1' "$T/ds3/config.json"
expect_exit 2 "deepseek: v wider than q.k" "$AWQKIT" synth -o "$T/ds-bad" --arch deepseek-v2 \
    --v-head-dim 200
stderr_has "v-head-dim"
expect_exit 2 "deepseek: first-k-dense past the layers" "$AWQKIT" synth -o "$T/ds-bad" \
    --arch deepseek-v3 --layers 2 --first-k-dense 3
stderr_has "first-k-dense"
check "nothing written for deepseek usage errors" test ! -e "$T/ds-bad/model.safetensors"
finish
