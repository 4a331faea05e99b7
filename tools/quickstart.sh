#!/usr/bin/env bash
# tools/quickstart.sh — install what is missing, build awqkit, and run the
# main job on the bundled model: AWQ 4-bit quantization of data/tiny-llama
# with the bundled calibration text, then verify the result and compare its
# perplexity with the FP16 original on held-out WikiText-2 text.
#   bash tools/quickstart.sh            # output in out/tiny-llama-awq
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/tools/deps.sh"
awq_install_deps

build=${AWQ_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target awqkit_cli
awqkit="$build/awqkit"
model="$root/data/tiny-llama"
out="$root/out/tiny-llama-awq"
wiki="$root/data/text/wiki.test.raw"

echo "== awqkit quantize (AWQ, 4-bit, group 128, 128 calibration documents)"
"$awqkit" quantize "$model" -o "$out" --force
echo
echo "== awqkit verify: structure, logical parameters and error against the FP16 source"
"$awqkit" verify "$out" --against "$model"
echo
echo "== awqkit count"
"$awqkit" count "$out"
echo
echo "== perplexity on WikiText-2 test (16 windows of 256 tokens): FP16, then AWQ"
"$awqkit" ppl "$model" --text "$wiki" --seqlen 256 --max-chunks 16
"$awqkit" ppl "$out" --text "$wiki" --seqlen 256 --max-chunks 16
