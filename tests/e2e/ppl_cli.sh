#!/usr/bin/env bash
# `awqkit ppl`: usage errors, the README figure for data/tiny-llama (16
# windows of 256 tokens of wiki.test.raw, no BOS) against the value
# transformers computes (tests/ref/tiny_llama_ref.json, made by
# tests/ref/make_forward_ref.py), --json, thread-count independence,
# --add-bos, and the runtime errors (no tokenizer.json, text shorter than a
# window, seqlen beyond max_position_embeddings).
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}
M=$AWQ_DATA/tiny-llama
W=$AWQ_DATA/text/wiki.test.raw
REF=$AWQ_TESTS/ref/tiny_llama_ref.json

expect_exit 0 "help" "$AWQKIT" ppl --help
stdout_has "--seqlen"
stdout_has "first token is context only"
expect_exit 2 "no --text" "$AWQKIT" ppl "$M"
stderr_has "--text"
expect_exit 2 "no model" "$AWQKIT" ppl --text "$W"
stderr_has "MODEL"
expect_exit 2 "seqlen 1" "$AWQKIT" ppl "$M" --text "$W" --seqlen 1
stderr_has "--seqlen"
expect_exit 2 "bad backend" "$AWQKIT" ppl "$M" --text "$W" --backend tpu
stderr_has "--backend"
expect_exit 1 "missing text file" "$AWQKIT" ppl "$M" --text "$T/nothing.txt"
stderr_has "nothing.txt"

# the README / transformers figure
expect_exit 0 "tiny-llama 16x256" "$AWQKIT" ppl "$M" --text "$W" --seqlen 256 --max-chunks 16
stdout_has "119.58"
stdout_has "16 of 256 tokens"
expect_exit 0 "tiny-llama 16x256 --json" "$AWQKIT" ppl "$M" --text "$W" --seqlen 256 \
    --max-chunks 16 --json --threads 2
cp "$T/out" "$T/t2.json"
want=$("$J" "$REF" wiki_16x256_ppl)
got=$("$J" "$T/t2.json" ppl)
check "ppl $got matches transformers $want (1e-5 relative)" \
    awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5 * b) }'
check "token count = transformers'" test "$("$J" "$T/t2.json" n_tokens)" = "$("$J" "$REF" wiki_n_tokens)"
check "windows, predicted" test "$("$J" "$T/t2.json" n_windows n_predicted | tr '\n' ' ')" = "16 4080 "
check "first window NLL" awk -v a="$("$J" "$T/t2.json" window_mean_nll.0)" \
    -v b="$("$J" "$REF" wiki_windows.0.mean_nll)" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4) }'
expect_exit 0 "one thread" "$AWQKIT" ppl "$M" --text "$W" --seqlen 256 --max-chunks 16 --json \
    --threads 1 --batch 3
cp "$T/out" "$T/t1.json"
check "1 vs 2 threads (and batch 3 vs auto): same mean NLL" \
    test "$("$J" "$T/t1.json" mean_nll)" = "$("$J" "$T/t2.json" mean_nll)"

# --add-bos: BOS + 255 text tokens per window, 255 predicted
expect_exit 0 "add-bos" "$AWQKIT" ppl "$M" --text "$W" --seqlen 256 --max-chunks 4 --add-bos --json
check "add-bos predicted" test "$("$J" "$T/out" n_predicted add_bos | tr '\n' ' ')" = "1020 true "

# runtime errors
mkdir -p "$T/notok"
cp "$M/config.json" "$M/model.safetensors" "$T/notok/"
expect_exit 1 "no tokenizer.json" "$AWQKIT" ppl "$T/notok" --text "$W" --seqlen 256
stderr_has "tokenizer.json"
printf 'Just a few words.\n' > "$T/short.txt"
expect_exit 1 "text shorter than a window" "$AWQKIT" ppl "$M" --text "$T/short.txt" --seqlen 256
stderr_has "fewer than one window of 256"
expect_exit 0 "seqlen beyond max_position_embeddings warns" "$AWQKIT" ppl "$M" --text "$W" \
    --seqlen 2100 --max-chunks 1 --threads 2
stderr_has "exceeds max_position_embeddings 2048"
finish
