#!/usr/bin/env bash
# `awqkit repack` and `awqkit verify` on the packed fixtures of
# tests/ref/quant (made by tests/ref/make_quant_fixtures.py): help and usage
# errors (exit 2, naming the flag), refusals (exit 1, nothing written),
# a chain through all four formats whose awqkit-written files come back
# byte-identical, --json, and verify's exit status.
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}
F=$AWQ_TESTS/ref/quant

expect_exit 0 "repack help" "$AWQKIT" repack --help
stdout_has "gptq-v2"
expect_exit 0 "verify help" "$AWQKIT" verify --help
stdout_has "--against"
expect_exit 2 "no --to" "$AWQKIT" repack "$F/awq-gemm" -o "$T/x"
stderr_has "--to"
expect_exit 2 "bad --to" "$AWQKIT" repack "$F/awq-gemm" -o "$T/x" --to marlin
stderr_has "marlin"
expect_exit 2 "no -o" "$AWQKIT" repack "$F/awq-gemm" --to gptq
stderr_has "-o"
expect_exit 2 "bad shard size" "$AWQKIT" repack "$F/awq-gemm" -o "$T/x" --to gptq --max-shard-size 12XB
stderr_has "--max-shard-size"
expect_exit 2 "bad --gptq-zeros" "$AWQKIT" repack "$F/gptq" -o "$T/x" --to awq --gptq-zeros v3
stderr_has "--gptq-zeros"
expect_exit 2 "unknown flag" "$AWQKIT" repack "$F/awq-gemm" -o "$T/x" --to awq --bogus
stderr_has "--bogus"
expect_exit 2 "verify: no dir" "$AWQKIT" verify
stderr_has "DIR"
expect_exit 2 "verify: bad bound" "$AWQKIT" verify "$F/awq-gemm" --max-rel-err -1
stderr_has "--max-rel-err"
check "nothing written by usage errors" test ! -e "$T/x"

# refusals
cp -r "$F/awq-gemm" "$T/in"
expect_exit 2 "output = input" "$AWQKIT" repack "$T/in" -o "$T/in" --to gptq
stderr_has "is the input"
mkdir -p "$T/busy" && echo keep >"$T/busy/notes.txt"
expect_exit 1 "non-empty output" "$AWQKIT" repack "$T/in" -o "$T/busy" --to gptq --allow-unservable
stderr_has "not empty"
check "busy dir untouched" test "$(ls "$T/busy")" = notes.txt
expect_exit 0 "--force" "$AWQKIT" repack "$T/in" -o "$T/busy" --to gptq --force --allow-unservable
check "forced output has config" test -f "$T/busy/config.json"
expect_exit 1 "dense input" "$AWQKIT" repack "$F/fp16" -o "$T/dense-out" --to awq
stderr_has "quantization_config"
check "no output after refusal" test ! -e "$T/dense-out"
expect_exit 1 "missing input" "$AWQKIT" repack "$T/nope" -o "$T/nope-out" --to awq
check "no output for missing input" test ! -e "$T/nope-out"

# outputs no serving engine loads are refused, naming engine, reason and
# the format that works (asymmetric AWQ -> GPTQ; GEMV)
expect_exit 2 "unservable gptq" "$AWQKIT" repack "$T/in" -o "$T/unserv" --to gptq
stderr_has "vLLM: gptq_marlin accepts symmetric 4/8-bit only"
stderr_has "use awq (GEMM)"
stderr_has "--allow-unservable"
check "no output after the refusal" test ! -e "$T/unserv"
expect_exit 2 "unservable gemv" "$AWQKIT" repack "$T/in" -o "$T/unserv" --to awq-gemv
stderr_has "reads the GEMM layout only"

# a chain through every format; awqkit's own files come back identical
expect_exit 0 "gemm -> gptq" "$AWQKIT" repack "$T/in" -o "$T/a-gptq" --to gptq --allow-unservable
stdout_has "lossless"
expect_exit 0 "gptq -> gemv" "$AWQKIT" repack "$T/a-gptq" -o "$T/b-gemv" --to awq-gemv --allow-unservable
expect_exit 0 "gemv -> gptq-v2" "$AWQKIT" repack "$T/b-gemv" -o "$T/c-v2" --to gptq-v2 --allow-unservable
expect_exit 0 "gptq-v2 -> gptq" "$AWQKIT" repack "$T/c-v2" -o "$T/d-gptq" --to gptq --json --allow-unservable
cp "$T/out" "$T/d.json"
check "json: lossless" test "$("$J" "$T/d.json" lossless)" = true
check "json: from/to" test "$("$J" "$T/d.json" from to | tr '\n' ' ')" = "gptq-v2 gptq "
check "json: 7 linears" test "$("$J" "$T/d.json" linears)" = 7
check "gptq files identical after the round" cmp -s "$T/a-gptq/model.safetensors" "$T/d-gptq/model.safetensors"
check "config identical after the round" cmp -s "$T/a-gptq/config.json" "$T/d-gptq/config.json"
check "tokenizer_config copied" cmp -s "$F/awq-gemm/tokenizer_config.json" "$T/d-gptq/tokenizer_config.json"
check "generation_config copied" cmp -s "$F/awq-gemm/generation_config.json" "$T/d-gptq/generation_config.json"
check "no temporaries left" test -z "$(ls -A "$T/d-gptq" | grep '^\.')"

# sharding: a small cap gives an index; the next repack keeps the layout
expect_exit 0 "sharded" "$AWQKIT" repack "$T/in" -o "$T/sh" --to gptq-v2 --max-shard-size 9000 --allow-unservable
check "index written" test -f "$T/sh/model.safetensors.index.json"
n1=$(ls "$T/sh" | grep -c '^model-.*\.safetensors$')
expect_exit 0 "sharded -> gptq" "$AWQKIT" repack "$T/sh" -o "$T/sh2" --to gptq --allow-unservable
n2=$(ls "$T/sh2" | grep -c '^model-.*\.safetensors$')
check "shard count kept ($n1 / $n2)" test "$n1" -gt 1 -a "$n2" = "$n1"

# the mislabelled symmetric fixture (v1 label, v2 zeros) is refused, not
# guessed; the caller's explicit choice converts it
expect_exit 1 "mislabelled v1" "$AWQKIT" repack "$F/gptq-sym-mislabelled" -o "$T/mis" --to gptq
stderr_has "the label and the data disagree"
check "no output for the mislabelled input" test ! -e "$T/mis"
expect_exit 0 "mislabelled v1, --gptq-zeros v2" "$AWQKIT" repack "$F/gptq-sym-mislabelled" -o "$T/mis" --to gptq --gptq-zeros v2
stdout_has "true zeros"

# verify
expect_exit 0 "verify gemm" "$AWQKIT" verify "$F/awq-gemm"
stdout_has "verify: OK"
expect_exit 0 "verify chain result against fp16" "$AWQKIT" verify "$T/d-gptq" --against "$F/fp16"
stdout_has "equal"
expect_exit 0 "verify --json" "$AWQKIT" verify "$T/b-gemv" --against "$F/fp16" --json
cp "$T/out" "$T/v.json"
check "verify json ok" test "$("$J" "$T/v.json" ok)" = true
check "verify json params equal" test "$("$J" "$T/v.json" params_equal)" = true
expect_exit 1 "verify mislabelled" "$AWQKIT" verify "$F/gptq-sym-mislabelled"
stdout_has "problem:"
expect_exit 1 "verify dense" "$AWQKIT" verify "$F/fp16"
expect_exit 1 "verify tight bound" "$AWQKIT" verify "$F/awq-gemm" --against "$F/fp16" --max-rel-err 0.001
stdout_has "FAIL"
finish
