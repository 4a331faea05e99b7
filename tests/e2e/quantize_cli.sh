#!/usr/bin/env bash
# `awqkit quantize` from the command line: help, usage errors, refusals,
# a real kill -9 in the middle of a run and --resume giving the same bytes.
. "$AWQ_TESTS/e2e/lib.sh"
M=$AWQ_DATA/tiny-llama
SMALL=(--samples 12 --seqlen 128)
# pre-tokenized calibration ids (RTN needs no search; ids just feed the check)
for i in $(seq 1 512); do printf '%d ' $(( (i * 37) % 4096 )); done > "$T/ids.txt"
printf '1 2 3 99999\n' > "$T/badids.txt"

expect_exit 0 "help" "$AWQKIT" quantize --help
stdout_has "--resume"
expect_exit 2 "unknown flag" "$AWQKIT" quantize "$M" -o "$T/x" --bogus
stderr_has "--bogus"
expect_exit 2 "missing -o" "$AWQKIT" quantize "$M"
stderr_has "-o"
expect_exit 2 "bad --method" "$AWQKIT" quantize "$M" -o "$T/x" --method nope
stderr_has "--method"
expect_exit 2 "bad --duo-scaling" "$AWQKIT" quantize "$M" -o "$T/x" --duo-scaling maybe
stderr_has "--duo-scaling maybe: expected on, off or both"
expect_exit 1 "both needs n-grid >= 2" "$AWQKIT" quantize "$M" -o "$T/x" --duo-scaling both --n-grid 1
stderr_has "n_grid must be >= 2"
expect_exit 2 "--screen 1" "$AWQKIT" quantize "$M" -o "$T/x" --screen 1
stderr_has "--screen 1: expected a fraction in [0, 1)"
expect_exit 2 "--screen abc" "$AWQKIT" quantize "$M" -o "$T/x" --screen abc
stderr_has "--screen"
expect_exit 2 "--finalists -1" "$AWQKIT" quantize "$M" -o "$T/x" --finalists -1
stderr_has "--finalists"
expect_exit 2 "--race-z -1" "$AWQKIT" quantize "$M" -o "$T/x" --race-z -1
stderr_has "--race-z -1: expected standard errors in [0, 1000]"
expect_exit 2 "--race-z x" "$AWQKIT" quantize "$M" -o "$T/x" --race-z x
stderr_has "--race-z"
expect_exit 0 "help names --screen" "$AWQKIT" quantize --help
stdout_has "--finalists K"
stdout_has "--race-z Z"
expect_exit 2 "output == input" "$AWQKIT" quantize "$M" -o "$M"
stderr_has "is the input"
expect_exit 1 "missing model" "$AWQKIT" quantize "$T/nonexistent" -o "$T/x"
stderr_has "nonexistent"
expect_exit 1 "bad calibration file" "$AWQKIT" quantize "$M" -o "$T/x" --calib "$T/nope.jsonl"
stderr_has "nope.jsonl"
check "nothing written on failure" test ! -e "$T/x/model.safetensors"

# Uninterrupted reference run.
expect_exit 0 "quantize" "$AWQKIT" quantize "$M" -o "$T/ref" "${SMALL[@]}" --threads 2
stdout_has "Layer output MSE"
check "config has quantization_config" grep -Eq '"quant_method":[[:space:]]*"awq"' "$T/ref/config.json"
check "tokenizer copied" cmp -s "$M/tokenizer.json" "$T/ref/tokenizer.json"
check "no partial state left" test ! -e "$T/ref/.awqkit-partial"
expect_exit 1 "non-empty output without --force" "$AWQKIT" quantize "$M" -o "$T/ref" "${SMALL[@]}"
stderr_has "--force"

# The written checkpoint passes verify against its source (structure,
# logical parameter count, per-linear error bound), for AWQ and for RTN.
expect_exit 0 "verify AWQ output" "$AWQKIT" verify "$T/ref" --against "$M"
stdout_has "verify: OK"
expect_exit 0 "quantize --method rtn" "$AWQKIT" quantize "$M" -o "$T/rtn" --method rtn --calib-tokens "$T/ids.txt"
expect_exit 0 "verify RTN output" "$AWQKIT" verify "$T/rtn" --against "$M"
stdout_has "verify: OK"
expect_exit 0 "gptq-v2 output" "$AWQKIT" quantize "$M" -o "$T/gptq" --method rtn --format gptq-v2 --calib-tokens "$T/ids.txt" --allow-unservable
expect_exit 0 "verify gptq-v2 output" "$AWQKIT" verify "$T/gptq" --against "$M"
# AWQ at 8 bits folds its scales into up_proj's rows as well as down_proj's
# columns; verify's fit undoes both, so the weight error stays at RTN's
# level (the 8-bit bound is tight: 0.021).
expect_exit 0 "8-bit AWQ output" "$AWQKIT" quantize "$M" -o "$T/awq8" "${SMALL[@]}" --bits 8 \
    --format gptq-v2 --allow-unservable
expect_exit 0 "verify 8-bit AWQ output" "$AWQKIT" verify "$T/awq8" --against "$M"
stdout_has "verify: OK"
expect_exit 2 "unservable: gptq with zero points" "$AWQKIT" quantize "$M" -o "$T/unserv" --format gptq
stderr_has "no serving engine loads gptq-v1 4-bit with zero points"
check "nothing written for an unservable format" test ! -e "$T/unserv"
expect_exit 1 "bad --calib-tokens id" "$AWQKIT" quantize "$M" -o "$T/badids" --calib-tokens "$T/badids.txt"
stderr_has "badids.txt"

# kill -9 once two layers are durable, then resume.
"$AWQKIT" quantize "$M" -o "$T/killed" "${SMALL[@]}" --threads 2 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ -e "$T/killed/.awqkit-partial/layer-00002/model.safetensors" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
check "killed run left no final checkpoint" test ! -e "$T/killed/model.safetensors"
expect_exit 0 "resume" "$AWQKIT" quantize "$M" -o "$T/killed" "${SMALL[@]}" --threads 1 --resume
for f in model.safetensors config.json tokenizer.json; do
    check "resumed $f identical" cmp -s "$T/ref/$f" "$T/killed/$f"
done
finish
