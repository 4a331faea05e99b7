#!/usr/bin/env bash
# Issue 13, class 8: every input is read exactly once, so a named pipe
# works wherever a file does. `tokenize --calib FIFO` used to open the file a
# second time after reading it and block forever. Each command runs under
# `timeout` (a hang fails the test instead of CI), with the pipe fed by a
# background writer that is also bounded.
. "$AWQ_TESTS/e2e/lib.sh"
M=$AWQ_DATA/tiny-llama
CALIB=$AWQ_DATA/text/calib-wikitext2-valid.jsonl.zst
command -v timeout >/dev/null || { echo "SKIP: no timeout(1)"; exit 77; }
mkfifo "$T/p.jsonl.zst" "$T/p.txt" "$T/p.ids" 2>/dev/null || { echo "SKIP: mkfifo failed"; exit 77; }

# feed FIFO FILE: write FILE into the pipe in the background (at most 30 s)
feed() { timeout 120 cp "$2" "$1" 2>/dev/null & }
# run DESC CMD...: exit 0 within 90 s (generous for a loaded CI machine) (124 = killed by timeout: the hang)
run() {
    local d=$1; shift
    expect_exit 0 "$d" timeout 90 "$@"
}

# the jsonl.zst calibration file through a pipe: the same figures as the file
run "tokenize --calib file" "$AWQKIT" tokenize "$M" --calib "$CALIB" --samples 16 --seqlen 128
cp "$T/out" "$T/file.out"
feed "$T/p.jsonl.zst" "$CALIB"
run "tokenize --calib FIFO" "$AWQKIT" tokenize "$M" --calib "$T/p.jsonl.zst" --samples 16 --seqlen 128
stdout_has "(jsonl, zstd)"
check "FIFO and file give the same blocks" \
    test "$(grep -E 'documents|tokens|blocks' "$T/out")" = "$(grep -E 'documents|tokens|blocks' "$T/file.out")"
wait

# shuffled (reads every document) and --save from a pipe
feed "$T/p.jsonl.zst" "$CALIB"
run "tokenize --calib FIFO --shuffle --save" "$AWQKIT" tokenize "$M" --calib "$T/p.jsonl.zst" \
    --samples 8 --seqlen 64 --shuffle --save "$T/blocks.ids"
check "blocks saved" test -s "$T/blocks.ids"
wait

# pre-tokenized ids, ppl --text and tokenize --text from pipes
feed "$T/p.ids" "$T/blocks.ids"
run "tokenize --calib-tokens FIFO" "$AWQKIT" tokenize "$M" --calib-tokens "$T/p.ids" --seqlen 64
stdout_has "blocks"
wait
head -c 40000 "$AWQ_DATA/text/wiki.test.raw" > "$T/w.txt"
feed "$T/p.txt" "$T/w.txt"
run "ppl --text FIFO" "$AWQKIT" ppl "$M" --text "$T/p.txt" --seqlen 128 --max-chunks 2
stdout_has "perplexity"
wait
feed "$T/p.txt" "$T/w.txt"
run "tokenize --text FIFO" "$AWQKIT" tokenize "$M" --text "$T/p.txt" --json
wait

# quantize's calibration text from a pipe (read once by the calibration
# build), RTN on a 1-layer synthetic model to keep it short
"$AWQKIT" synth -o "$T/m" --preset tiny --layers 1 --hidden 64 --intermediate 128 --heads 2 \
    --kv-heads 1 -q >/dev/null
cp "$M/tokenizer.json" "$T/m/"
feed "$T/p.txt" "$T/w.txt"
run "quantize --calib FIFO" "$AWQKIT" quantize "$T/m" -o "$T/q" --method rtn --group-size 64 \
    --calib "$T/p.txt" --samples 8 --seqlen 64 -q --no-progress
check "quantized from a pipe" test -s "$T/q/config.json"
wait

# audit quantizes once per configuration: a piped calibration text is read
# once into the report directory (and removed at the end), not once each
feed "$T/p.txt" "$T/w.txt"
run "audit --calib FIFO, two configurations" "$AWQKIT" audit "$T/m" -o "$T/rep" --device cpu \
    --configs fp16,rtn-4-g64,rtn-4-pc --calib "$T/p.txt" --samples 8 --calib-seqlen 64 \
    --seqlen 64 --max-chunks 1 --text "$T/w.txt" --no-progress
stdout_has "rtn-4-pc"
check "no input copy left" test -z "$(ls -A "$T/rep" | grep awqkit-input)"
wait
finish
