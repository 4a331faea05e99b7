#!/usr/bin/env bash
# Everything `awqkit quantize` can check before the first layer is checked
# then, and a refusal writes nothing: options that pack no linear, a bad
# --dump-scales path, -o '' and -o MODEL/newsub, flags that would be
# silently ignored, NaN/Inf in a source tensor (named, with its element),
# a bias the model does not use. A single .safetensors file as MODEL works.
. "$AWQ_TESTS/fault/quantize_lib.sh"

# refused CODE "description" TEXT [args...]: exit CODE, stderr has TEXT,
# and neither $T/x nor $T/dump.json was created.
refused() {
    local code=$1 d=$2 text=$3; shift 3
    rm -rf "$T/x" "$T/dump.json"
    expect_exit "$code" "$d" "$@"
    stderr_has "$text"
    check "$d: nothing written" test ! -e "$T/x" -a ! -e "$T/dump.json"
}

refused 1 "--bits 8 with the AWQ layout" "any one of these would pack every linear: --bits 4, --format gptq" \
    quantize "$T/x" --bits 8
refused 1 "--group-size 7" "--group-size 32, --group-size 64" quantize "$T/x" --group-size 7
refused 1 "--group-size 100000" "cannot pack any decoder linear" quantize "$T/x" --group-size 100000
"$AWQKIT" synth -o "$T/m72" --layers 2 --hidden 72 --intermediate 200 --heads 4 --kv-heads 2 \
    --vocab 512 >/dev/null
refused 1 "hidden size 72" "--group-size -1, --format gptq" \
    "$AWQKIT" quantize "$T/m72" -o "$T/x" --calib-tokens "$T/ids.txt" --seqlen 32
refused 1 "--dump-scales in a missing directory" "$T/nodir/s.json" \
    quantize "$T/x" --dump-scales "$T/nodir/s.json"
mkdir -p "$T/adir"
refused 1 "--dump-scales naming a directory" "is a directory" quantize "$T/x" --dump-scales "$T/adir"
refused 2 "-o ''" "-o: empty path" quantize ""
refused 2 "-o MODEL/newsub" "is the input" quantize "$M/newsub"
check "-o MODEL/newsub: not created" test ! -e "$M/newsub"
refused 2 "--load-scales with --method rtn" "--load-scales" quantize "$T/x" --method rtn \
    --load-scales "$T/adir"
stderr_has "--method rtn"
refused 2 "--samples with --calib-tokens" "--samples" quantize "$T/x" --samples 4
stderr_has "--calib-tokens"
refused 2 "--shuffle with --calib-tokens" "--shuffle" quantize "$T/x" --shuffle

# NaN / Inf in a source tensor: refused before the first layer, named.
cp -r "$M" "$T/nan"
"$POKE" set "$T/nan" model.layers.1.mlp.up_proj.weight 300 7e00 >/dev/null
refused 1 "NaN in a weight" "model.layers.1.mlp.up_proj.weight' element 300 (row 2, column 44) is NaN" \
    "$AWQKIT" quantize "$T/nan" -o "$T/x" "${Q[@]}"
cp -r "$M" "$T/inf"
"$POKE" set "$T/inf" model.layers.2.post_attention_layernorm.weight 7 fc00 >/dev/null
refused 1 "-Inf in a norm weight" "model.layers.2.post_attention_layernorm.weight' element 7 is -Inf" \
    "$AWQKIT" quantize "$T/inf" -o "$T/x" "${Q[@]}"

# A bias the architecture does not use would vanish from the output.
"$POKE" add "$M" "$T/bias" model.layers.1.self_attn.o_proj.bias 128
refused 1 "an unused o_proj bias" "model.layers.1.self_attn.o_proj.bias' is not part of the model" \
    "$AWQKIT" quantize "$T/bias" -o "$T/x" "${Q[@]}"

# An existing (empty) output and a failure before the first layer (ids out
# of the vocabulary; a GPTQ v1 zero point at layer 0): OUT is left as it
# was, and the corrected rerun needs no --force.
mkdir -p "$T/empty"
printf '1 2 3 99999\n' > "$T/badids.txt"
expect_exit 1 "bad calibration ids" "$AWQKIT" quantize "$M" -o "$T/empty" "${Q[@]}" \
    --calib-tokens "$T/badids.txt"
check "bad ids: OUT left empty" test -z "$(ls -A "$T/empty")"
expect_exit 1 "gptq v1 zero point refused at layer 0" quantize "$T/early" --format gptq --group-size 7 --allow-unservable
stderr_has "zero point"
check "layer-0 failure: nothing left" test ! -e "$T/early"
expect_exit 0 "the corrected rerun" quantize "$T/early" --format gptq-v2 --group-size 7 --allow-unservable

# A single .safetensors file as MODEL: quantize (same bytes as the
# directory) and ppl.
"$AWQKIT" synth -o "$T/one" --layers 3 --hidden 128 --intermediate 256 --heads 4 --kv-heads 2 \
    --vocab 512 --seed 3 >/dev/null
expect_exit 0 "quantize a directory" "$AWQKIT" quantize "$T/one" -o "$T/one-dir" "${Q[@]}"
expect_exit 0 "quantize a .safetensors file" "$AWQKIT" quantize "$T/one/model.safetensors" \
    -o "$T/one-file" "${Q[@]}"
check "file and directory give the same output" same_output "$T/one-dir" "$T/one-file"
head -c 4000 "$AWQ_DATA/text/wiki.test.raw" > "$T/wiki.txt"
expect_exit 0 "ppl of a .safetensors file" "$AWQKIT" ppl "$AWQ_DATA/tiny-llama/model.safetensors" \
    --text "$T/wiki.txt" --seqlen 64 --max-chunks 2
stdout_has "ppl"
finish
