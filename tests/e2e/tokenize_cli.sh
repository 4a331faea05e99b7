#!/usr/bin/env bash
# `awqkit tokenize`: ids match the tokenizer's reference vectors, JSON mode
# round-trips the text, calibration statistics, and error messages.
. "$AWQ_TESTS/e2e/lib.sh"
M=$AWQ_DATA/tiny-llama

expect_exit 0 "help" "$AWQKIT" tokenize --help
stdout_has "--calib"
expect_exit 2 "unknown flag" "$AWQKIT" tokenize "$M" --bogus
stderr_has "--bogus"
# "Hello world" = H | ell | o | " world" in tiny-llama's vocabulary
expect_exit 0 "string" "$AWQKIT" tokenize "$M" --string "Hello world"
check "ids of 'Hello world'" test "$(cat "$T/out")" = "72 583 111 1599"
printf 'Hello world\n' > "$T/hw.txt"
expect_exit 0 "file" "$AWQKIT" tokenize "$M" --text "$T/hw.txt"
check "newline is a token" test "$(cat "$T/out")" = "72 583 111 1599 10"
expect_exit 0 "json" "$AWQKIT" tokenize "$M" --string "Hello world" --json
check "json token count" test "$("$AWQ_JSON" "$T/out" n_tokens)" = 4
check "json second token" test "$("$AWQ_JSON" "$T/out" tokens.1.token)" = "ell"
expect_exit 0 "calibration stats" "$AWQKIT" tokenize "$M" --calib "$AWQ_DATA/text/calib-wikitext2-valid.jsonl.zst" --json
check "AutoAWQ recipe: 47 blocks of 512" test "$("$AWQ_JSON" "$T/out" blocks)" = 47
expect_exit 1 "no tokenizer.json" "$AWQKIT" tokenize "$T" --string x
stderr_has "tokenizer.json"
stderr_has "--calib-tokens"
expect_exit 1 "missing text file" "$AWQKIT" tokenize "$M" --text "$T/none.txt"
stderr_has "none.txt"
finish
