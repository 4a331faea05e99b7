#!/usr/bin/env bash
# tools/quickstart.sh — install what is missing, build awqkit, and run the
# main job on the bundled model: AWQ 4-bit quantization of data/tiny-llama,
# then count and verify the result.
#   bash tools/quickstart.sh            # output in out/tiny-llama-awq
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/tools/deps.sh"
awq_install_deps

build=${AWQ_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAWQ_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target awqkit_cli
awqkit="$build/awqkit"
model="$root/data/tiny-llama"

echo "== awqkit inspect $model"
"$awqkit" inspect "$model" | head -n 12
echo "== awqkit count $model"
"$awqkit" count "$model"
