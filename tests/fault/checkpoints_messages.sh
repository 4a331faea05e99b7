#!/usr/bin/env bash
# Issue 13, class 9: error messages say what happened, once, in the user's
# terms. The exact corrected wording of each class, then a sweep of bad
# inputs over every command asserting no path is printed twice and no
# internal function name reaches the user.
. "$AWQ_TESTS/e2e/lib.sh"
M=$AWQ_DATA/tiny-llama
# stderr_is "line": the last command's stderr is exactly this one line
stderr_is() {
    if [ "$(cat "$T/err")" = "$1" ]; then ok; else
        bad "stderr is not '$1'"; sed 's/^/  | /' "$T/err" | head -5 >&2; fi
}

"$AWQKIT" synth -o "$T/m" --preset tiny --layers 1 --hidden 64 --intermediate 128 --heads 2 \
    --kv-heads 1 -q >/dev/null
cp "$M/tokenizer.json" "$T/m/"
mkdir -p "$T/nocfg" "$T/empty"
cp "$T/m/model.safetensors" "$T/nocfg/"

# 1. the path once: "X: X/config.json" was "X: " + a message naming X
expect_exit 1 "no config.json" "$AWQKIT" ppl "$T/nocfg" --text "$T/nocfg/model.safetensors"
stderr_is "awqkit ppl: error: $T/nocfg: no config.json beside the weights"
printf '{\n' > "$T/nocfg/config.json"
expect_exit 1 "malformed config.json" "$AWQKIT" ppl "$T/nocfg" --text "$T/nocfg/config.json"
stderr_is "awqkit ppl: error: $T/nocfg/config.json: malformed JSON at line 2, column 1"
expect_exit 1 "repack, malformed config.json" "$AWQKIT" repack "$T/nocfg" -o "$T/r0" --to gptq
stderr_is "awqkit repack: error: $T/nocfg/config.json: malformed JSON at line 2, column 1"
printf 'Some words for a window of text, enough of them.\n' > "$T/words.txt"
expect_exit 1 "audit --compare, no weights" "$AWQKIT" audit "$T/m" -o "$T/a0" --configs fp16 \
    --compare "$T/empty" --text "$T/words.txt" --seqlen 4
stderr_is "awqkit audit: error: $T/m: --compare $T/empty: no weights found (expected model.safetensors, or model.safetensors.index.json and its shards)"
expect_exit 1 "verify --against, no weights" "$AWQKIT" verify "$T/m" --against "$T/empty"
stderr_is "awqkit verify: error: $T/m: source checkpoint (--against): $T/empty: no weights found (expected model.safetensors, or model.safetensors.index.json and its shards)"
expect_exit 1 "missing model" "$AWQKIT" verify "$T/none"
stderr_is "awqkit verify: error: cannot open $T/none: No such file or directory"
expect_exit 1 "calibration prefix" "$AWQKIT" tokenize "$M" --calib "$T/empty"
stderr_is "awqkit tokenize: error: $T/empty is a directory, not a calibration text file"

mkdir -p "$T/notok"
cp "$T/m/config.json" "$T/m/model.safetensors" "$T/notok/"
expect_exit 1 "ppl without tokenizer.json" "$AWQKIT" ppl "$T/notok" --device cpu --text "$T/nocfg/config.json"
stderr_is "awqkit ppl: error: $T/notok has no tokenizer.json: ppl tokenizes --text with the model's own tokenizer (the Hugging Face fast-tokenizer file)"

# 2. no internal function names: an empty argument is a usage error
for c in count verify inspect size; do
    expect_exit 2 "$c ''" "$AWQKIT" $c ''
    stderr_has "awqkit $c: empty argument ''"
done
expect_exit 2 "tokenize ''" "$AWQKIT" tokenize ''
stderr_has "awqkit tokenize: empty argument '' (tokenize takes one TOKENIZER)"
expect_exit 2 "synth's own prefix once" "$AWQKIT" synth -o "$T/s" --heads 3
stderr_has "awqkit synth: heads (3) must be a multiple of kv-heads (2)"

# 3. the size check and its message agree: 1000 bytes is refused as less
# than 1KiB, 1024 bytes is accepted
seq 1 256 | awk '{ print ($1 * 37) % 4000 + 10 }' > "$T/ids.txt"
expect_exit 2 "--max-shard-size 1000" "$AWQKIT" quantize "$T/m" -o "$T/q1" \
    --max-shard-size 1000
stderr_is "awqkit quantize: --max-shard-size: at least 1KiB (1024 bytes)
Try 'awqkit quantize --help'."
expect_exit 0 "--max-shard-size 1024" "$AWQKIT" quantize "$T/m" -o "$T/q2" --method rtn \
    --group-size 64 --calib-tokens "$T/ids.txt" --seqlen 64 --max-shard-size 1024 --no-progress
# 4. pre-tokenized calibration has no documents: it says so
stdout_has "calibration: 4 blocks x 64 tokens (pre-tokenized ids from $T/ids.txt)"
if grep -q "documents kept" "$T/out"; then bad "document count for pre-tokenized ids"; else ok; fi

# 5. zero calibration blocks: which of the three things happened
: > "$T/empty.txt"
printf '\n  \n\n' > "$T/blank.txt"
printf '{"body": ""}\n{"body": "   "}\n' > "$T/emptyfield.jsonl"
printf 'A few words.\n' > "$T/short.txt"
expect_exit 1 "empty calibration file" "$AWQKIT" tokenize "$M" --calib "$T/empty.txt"
stderr_is "awqkit tokenize: error: calibration data $T/empty.txt holds no documents: the file is empty or has only blank lines"
expect_exit 1 "blank calibration file" "$AWQKIT" quantize "$T/m" -o "$T/q3" --method rtn \
    --calib "$T/blank.txt"
stderr_has "calibration data $T/blank.txt holds no documents: the file is empty or has only blank lines"
expect_exit 1 "empty text field" "$AWQKIT" tokenize "$M" --calib "$T/emptyfield.jsonl" \
    --text-field body
stderr_has "calibration data $T/emptyfield.jsonl: all 2 documents were skipped (2 with an empty \"body\" field, 0 longer than seqlen 512 tokens); give shorter documents or a larger seqlen"
expect_exit 1 "too few tokens" "$AWQKIT" tokenize "$M" --calib "$T/short.txt" --seqlen 64
stderr_is "awqkit tokenize: error: calibration data $T/short.txt: 1 document(s) kept, 4 tokens in all, fewer than one block of seqlen 64 tokens; give more text or a smaller seqlen"
expect_exit 1 "no such field" "$AWQKIT" tokenize "$M" --calib "$T/emptyfield.jsonl"
stderr_has "$T/emptyfield.jsonl:1: no \"text\" field (choose the text field with --text-field)"

# 6. a text too short for one window is about the text: named by it
expect_exit 1 "short ppl text" "$AWQKIT" ppl "$T/m" --device cpu --text "$T/short.txt" --seqlen 64
stderr_is "awqkit ppl: error: $T/short.txt: the text has 5 tokens, fewer than one window of 64; give more text or a smaller --seqlen"

# 7. a sweep of bad inputs: never "X: X", never an awq_* function name
printf 'x' > "$T/notst.safetensors"
while IFS= read -r line; do
    eval "set -- $line"
    "$AWQKIT" "$@" >/dev/null 2>"$T/err"
    rc=$?
    if [ "$rc" = 0 ]; then bad "exit 0: $line"; continue; fi
    if grep -qE 'awq_[a-z_]+' "$T/err"; then bad "function name in: $(cat "$T/err")"; else ok; fi
    if grep -qE 'error: ([^ :]+): \1\b' "$T/err"; then bad "path twice: $(cat "$T/err")"; else ok; fi
done <<LIST
count "$T/empty"
inspect "$T/nocfg"
size "$T/notst.safetensors"
verify "$T/empty"
verify "$T/m"
ppl "$T/empty" --text "$T/short.txt"
ppl "$T/m" --text "$T/none.txt"
tokenize "$T/empty" --text "$T/short.txt"
tokenize "$M" --calib-tokens "$T/empty.txt"
tokenize "$M" --calib "$T/none.jsonl"
repack "$T/empty" -o "$T/r" --to gptq
audit "$T/empty" -o "$T/a" --configs fp16
quantize "$T/empty" -o "$T/q4" --method rtn
LIST
finish
