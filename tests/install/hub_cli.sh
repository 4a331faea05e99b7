#!/usr/bin/env bash
# MODEL arguments given as Hugging Face Hub ids (org/name[@revision]),
# resolved from a cache laid out here as huggingface_hub lays it out:
# blobs, snapshots/<commit> of relative symlinks, refs/<name>.
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?}
M=$AWQ_DATA/tiny-llama
C=0123456789abcdef0123456789abcdef01234567
repo=$T/hf/hub/models--acme--tiny-llama
mkdir -p "$repo/blobs" "$repo/snapshots/$C" "$repo/refs"
for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json; do
    h=$(sha256sum "$M/$f" | cut -c1-64)
    cp "$M/$f" "$repo/blobs/$h"
    ln -s "../../blobs/$h" "$repo/snapshots/$C/$f"
done
printf '%s' "$C" >"$repo/refs/main"
printf '%s\n' "$C" >"$repo/refs/v1"
cd "$T" # acme/... is not a path here
export HF_HUB_CACHE=$T/hf/hub
unset HF_HOME HUGGINGFACE_HUB_CACHE

expect_exit 0 "count a Hub id" "$AWQKIT" count acme/tiny-llama --json
check "logical count" test "$("$J" "$T/out" logical)" = 6819072
check "path is the snapshot" test "$("$J" "$T/out" path)" = "$repo/snapshots/$C"
expect_exit 0 "inspect @tag" "$AWQKIT" inspect acme/tiny-llama@v1
stdout_has "fp16"
expect_exit 0 "inspect @commit" "$AWQKIT" inspect "acme/tiny-llama@$C"
expect_exit 0 "size a Hub id" "$AWQKIT" size acme/tiny-llama
expect_exit 0 "HF_HOME/hub" env -u HF_HUB_CACHE HF_HOME="$T/hf" "$AWQKIT" count acme/tiny-llama
expect_exit 0 "~/.cache/huggingface/hub" env -u HF_HUB_CACHE -u XDG_CACHE_HOME HOME="$T/home" \
    sh -c "mkdir -p '$T/home/.cache' && ln -sfn '$T/hf' '$T/home/.cache/huggingface' && \"\$0\" count acme/tiny-llama" "$AWQKIT"

expect_exit 0 "quantize from the cache" "$AWQKIT" quantize acme/tiny-llama -o "$T/q" \
    --method rtn --samples 2 --seqlen 32
check "tokenizer copied as a file, not a link" test -f "$T/q/tokenizer.json" -a ! -L "$T/q/tokenizer.json"
expect_exit 0 "verify --against a Hub id" "$AWQKIT" verify "$T/q" --against acme/tiny-llama
expect_exit 0 "tokenize a Hub id" "$AWQKIT" tokenize acme/tiny-llama --string "hello world"

expect_exit 1 "absent model" "$AWQKIT" count acme/absent
stderr_has "hf download acme/absent"
stderr_has "huggingface-cli download acme/absent"
stderr_has "models--acme--absent"
expect_exit 1 "absent revision" "$AWQKIT" quantize acme/tiny-llama@v2 -o "$T/x"
stderr_has "--revision v2"
check "nothing written for an absent model" test ! -e "$T/x"
# a local directory of that name wins over the cache
mkdir -p "$T/acme" && ln -s "$M" "$T/acme/tiny-llama"
expect_exit 0 "local path wins" "$AWQKIT" count acme/tiny-llama --json
check "local path kept" test "$("$J" "$T/out" path)" = acme/tiny-llama
finish
