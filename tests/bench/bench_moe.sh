#!/usr/bin/env bash
# tests/bench/bench_moe.sh — time per layer and peak host memory of
# `awqkit quantize` (AWQ) on a Qwen3-30B-A3B-shaped mixture-of-experts stack.
#
# The layers have the real model's dims (hidden 2048, 32 query / 4 kv heads
# of 128, q/k norms, 128 experts of width 768, 8 per token); the vocabulary
# is small (the embeddings and lm_head are not what is measured) and the
# stack has a few layers, written by `awqkit synth` (BF16, outlier
# channels). Each stack is quantized on the CPU with pre-tokenized random
# ids as calibration; the wall time of each layer comes from --json, the
# peak RSS from /usr/bin/time -v. Layers are streamed one at a time, so the
# peak should stay flat as the layer count grows, and the time grow
# linearly.
#
# Usage: tests/bench/bench_moe.sh [LAYERS...]      (default: 1 2)
# Environment:
#   BUILD=dir        build directory holding awqkit and tests/awq_json_get
#                    (default: build in the repo)
#   WORK=dir         scratch (default /tmp/awqkit-bench-moe; ~1.3 GB per
#                    layer of checkpoint, removed at the end unless KEEP=1)
#   SAMPLES=N SEQLEN=N  calibration blocks x tokens (default 8 x 128)
#   THREADS=N        worker threads (default: all cores)
#   QUANT_ARGS="..." extra arguments for awqkit quantize
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
BUILD="${BUILD:-$root/build}"
WORK="${WORK:-/tmp/awqkit-bench-moe}"
SAMPLES="${SAMPLES:-8}"
SEQLEN="${SEQLEN:-128}"
THREADS="${THREADS:-$(nproc)}"
QUANT_ARGS="${QUANT_ARGS:-}"
AWQ="$BUILD/awqkit"
JGET="$BUILD/tests/awq_json_get"
layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(1 2)

for t in "$AWQ" "$JGET" /usr/bin/time; do
    [ -x "$t" ] || { echo "bench_moe: $t not found (build first; /usr/bin/time from the time package)" >&2; exit 2; }
done
mkdir -p "$WORK"
VOCAB=4096
# deterministic ids (no tokenizer in a synthetic checkpoint)
awk -v n=$((SAMPLES * SEQLEN)) -v v=$VOCAB 'BEGIN { srand(7); for (i = 0; i < n; i++)
    printf "%d%s", int(rand() * v), (i % 32 == 31) ? "\n" : " " }' >"$WORK/ids.txt"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
echo "calibration: $SAMPLES x $SEQLEN tokens; threads $THREADS"
rows=()
for L in "${layers[@]}"; do
    model="$WORK/qwen3moe-$L"
    out="$WORK/qwen3moe-$L-awq"
    "$AWQ" synth -o "$model" --arch qwen3-moe --hidden 2048 --intermediate 6144 --layers "$L" \
        --heads 32 --kv-heads 4 --head-dim 128 --vocab $VOCAB --experts 128 \
        --experts-per-tok 8 --moe-intermediate 768 --dtype bf16 --force --quiet \
        --threads "$THREADS" >/dev/null
    src_mb=$(du -sm "$model" | cut -f1)
    # shellcheck disable=SC2086
    /usr/bin/time -v "$AWQ" quantize "$model" -o "$out" --calib-tokens "$WORK/ids.txt" \
        --seqlen "$SEQLEN" --threads "$THREADS" --force --json $QUANT_ARGS \
        >"$WORK/q-$L.json" 2>"$WORK/q-$L.err"
    peak_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/q-$L.err")
    wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$WORK/q-$L.err")
    per=""
    for ((i = 0; i < L; i++)); do
        per+="$(printf '%.1f' "$("$JGET" "$WORK/q-$L.json" "layers.$i.seconds")") "
    done
    plan_peak=$(( $("$JGET" "$WORK/q-$L.json" peak_estimate_bytes) / 1048576 ))
    starved=$("$JGET" "$WORK/q-$L.json" layers.0.experts.starved | sed 's/<array \([0-9]*\)>/\1 of 128/')
    rows+=("$(printf '| %d | %d MB | %s| %s | %d MiB | %s MiB | %s |' "$L" "$src_mb" "$per" "$wall" \
        $((peak_kb / 1024)) "$plan_peak" "$starved")")
    [ "${KEEP:-0}" = 1 ] || rm -rf "$model" "$out"
done
echo
echo "| layers | source (BF16) | seconds per layer | wall | peak RSS | plan's peak estimate | layer 0 starved experts |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
