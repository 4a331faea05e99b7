#!/usr/bin/env bash
# `awqkit size`: the 70.6e9 example, exact bytes for tiny-llama from its
# checkpoint and from its config.json alone, KV cache, fits verdict,
# packability notes, usage errors.
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}
M=$AWQ_DATA/tiny-llama

expect_exit 0 "help" "$AWQKIT" size --help
stdout_has "--vram"
expect_exit 2 "unknown flag" "$AWQKIT" size --params 7e9 --wat
stderr_has "--wat"
expect_exit 2 "nothing to size" "$AWQKIT" size
stderr_has "--params"
expect_exit 2 "bad format" "$AWQKIT" size --params 7e9 --format q4_k
stderr_has "--format"
expect_exit 2 "bad number" "$AWQKIT" size --params lots
stderr_has "--params"
expect_exit 2 "context needs a model" "$AWQKIT" size --params 7e9 --context 8192
stderr_has "--context"
expect_exit 2 "awq is 4-bit only" "$AWQKIT" size --params 7e9 --format awq --bits 8
stderr_has "4-bit"
expect_exit 2 "bad kv dtype" "$AWQKIT" size "$M" --kv-dtype int4
stderr_has "--kv-dtype"
expect_exit 1 "missing path" "$AWQKIT" size "$T/nowhere"
stderr_has "$T/nowhere"

# 70.6e9 x (4 + (16 + 4)/128) / 8 = 36,678,906,250 bytes = 36.68 GB = 34.16 GiB
expect_exit 0 "70.6e9 awq" "$AWQKIT" size --params 70.6e9 --format awq
stdout_has "36.679"
stdout_has "34.160"
stdout_has "4.156"
expect_exit 0 "70.6e9 awq --json" "$AWQKIT" size --params 70.6e9 --format awq --json
check "70.6e9 awq bytes" test "$("$J" "$T/out" formats.0.weight_bytes)" = 36678906250
expect_exit 0 "70.6e9 table" "$AWQKIT" size --params 70.6e9 --vram 48GB
for f in fp32 fp16 bf16 fp8 int8 awq awq-gemv gptq gptq-v2; do stdout_has "$f "; done
stdout_has "VRAM: 48.00 GB (44.70 GiB)"
expect_exit 0 "70.6e9 table --json" "$AWQKIT" size --params 70.6e9 --vram 24GiB --json
check "json 9 formats" test "$("$J" "$T/out" formats)" = "<array 9>"
check "fp16 141.2 GB" test "$("$J" "$T/out" formats.1.weight_bytes)" = 141200000000
check "awq does not fit 24 GiB" test "$("$J" "$T/out" formats.5.fits)" = false

# tiny-llama, exact (hand-computed in tests/unit/test_size.c):
#   awq 6 x 408,576 + 2 x 2,100,480 = 6,652,416 bytes
#   KV 2 x 6 layers x 2 kv heads x 64 x 2 B = 3072 B/token x 2048 x 4 = 25,165,824
expect_exit 0 "tiny awq json" "$AWQKIT" size "$M" --format awq --context 2048 --batch 4 --json
check "tiny awq bytes" test "$("$J" "$T/out" formats.0.weight_bytes)" = 6652416
check "tiny kv per token" test "$("$J" "$T/out" kv_bytes_per_token)" = 3072
check "tiny kv bytes" test "$("$J" "$T/out" formats.0.kv_bytes)" = 25165824
check "tiny source checkpoint" test "$("$J" "$T/out" source)" = checkpoint
expect_exit 0 "tiny from config.json alone" "$AWQKIT" size "$M/config.json" --format awq --context 2048 --batch 4 --json
check "config: same bytes" test "$("$J" "$T/out" formats.0.weight_bytes)" = 6652416
check "config: source" test "$("$J" "$T/out" source)" = config
mkdir -p "$T/cfgonly" && cp "$M/config.json" "$T/cfgonly/"
expect_exit 0 "dir with config.json only" "$AWQKIT" size "$T/cfgonly" --format gptq --json
check "gptq bytes (+ g_idx)" test "$("$J" "$T/out" formats.0.weight_bytes)" = 6707712
expect_exit 0 "fits 1.5 GB" "$AWQKIT" size "$M" --format awq --context 2048 --batch 4 --vram 1.5GB --json
check "fits" test "$("$J" "$T/out" formats.0.fits)" = true
expect_exit 0 "does not fit 1 GB" "$AWQKIT" size "$M" --format awq --context 2048 --batch 4 --vram 1GB
stdout_has "  no"
expect_exit 0 "fp8 kv" "$AWQKIT" size "$M" --format awq --context 2048 --batch 4 --kv-dtype fp8 --json
check "fp8 kv halves" test "$("$J" "$T/out" formats.0.kv_bytes)" = 12582912

# Packability: intermediate 700 -> gate/up N % 8, down K % 128: FP16 + notes.
expect_exit 0 "synth unpackable shape" "$AWQKIT" synth -o "$T/odd" --intermediate 700 --layers 2
expect_exit 0 "size unpackable" "$AWQKIT" size "$T/odd" --format awq
stdout_has "linears stay FP16"
stdout_has "mlp.gate_proj"
stdout_has "multiple of 8"
stdout_has "group size"
expect_exit 0 "size unpackable json" "$AWQKIT" size "$T/odd" --format awq --json
check "6 unpackable" test "$("$J" "$T/out" formats.0.linears_unpackable)" = 6

# A VL config alone cannot size the vision tower: said so.
expect_exit 0 "synth VL" "$AWQKIT" synth -o "$T/vl" --preset qwen2.5-vl-3b --zero-data
expect_exit 0 "size VL config" "$AWQKIT" size "$T/vl/config.json" --format awq
stdout_has "vision tower is not in these figures"
expect_exit 0 "size VL checkpoint" "$AWQKIT" size "$T/vl" --format awq --json
check "VL checkpoint has the tower" test "$("$J" "$T/out" vision_missing)" = false
rm -rf "$T/vl"
finish
