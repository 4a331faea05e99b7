#!/usr/bin/env bash
# tests/bench/bench_repack.sh — `awqkit repack` throughput against `cp` of the
# same files (the disk-speed floor), on a synthetic AWQ checkpoint.
#   bash tests/bench/bench_repack.sh [BUILD_DIR] [PRESET]   (default build, 0.5b)
# Prints a table: seconds, MB/s and the ratio to cp, for each conversion.
# Caches are dropped between runs only when run as root (echo 3 >
# /proc/sys/vm/drop_caches); otherwise all runs read from the page cache.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
preset=${2:-0.5b}
awqkit=$build/awqkit
[ -x "$awqkit" ] || { echo "build awqkit first (cmake --build $build)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/awq-bench-repack.XXXXXX")
trap 'rm -rf "$work"' EXIT

drop() { [ "$(id -u)" = 0 ] && sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }

"$awqkit" synth -o "$work/src" --preset "$preset" --format awq --seed 1 >/dev/null
bytes=$(du -cb "$work"/src/*.safetensors | tail -1 | cut -f1)
printf 'source: synth --preset %s --format awq, %.1f MB in %d shard(s)\n' "$preset" \
    "$(echo "$bytes / 1000000" | bc -l)" "$(ls "$work"/src/*.safetensors | wc -l)"

drop; t0=$(now); mkdir "$work/cp"; cp "$work"/src/* "$work/cp/"; sync; t1=$(now)
tcp=$(echo "$t1 - $t0" | bc -l)
printf '\n%-22s %9s %9s %8s\n' "operation" "seconds" "MB/s" "vs cp"
printf '%-22s %9.2f %9.0f %8.2f\n' "cp" "$tcp" "$(echo "$bytes / 1000000 / $tcp" | bc -l)" 1
prev=src
for to in gptq-v2 gptq awq-gemv awq; do
    [ "$to" = gptq ] && src=gptq-v2 || src=$prev
    drop; t0=$(now)
    "$awqkit" repack "$work/$src" -o "$work/$to" --to "$to" --allow-lossy >/dev/null 2>&1
    sync; t1=$(now)
    t=$(echo "$t1 - $t0" | bc -l)
    printf '%-22s %9.2f %9.0f %8.2f\n' "$src -> $to" "$t" "$(echo "$bytes / 1000000 / $t" | bc -l)" \
        "$(echo "$t / $tcp" | bc -l)"
    prev=$to
done
# the round trip must be lossless (every tensor byte-identical)
if cmp -s "$work/src/model.safetensors" "$work/awq/model.safetensors" 2>/dev/null ||
   [ "$(cat "$work"/src/*.safetensors | md5sum)" = "$(cat "$work"/awq/*.safetensors | md5sum)" ]; then
    echo "round trip awq -> ... -> awq: byte-identical"
else
    echo "round trip awq -> ... -> awq: DIFFERENT" >&2; exit 1
fi
