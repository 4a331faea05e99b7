#!/usr/bin/env bash
# tests/bench/bench_gpu.sh — end-to-end GPU benchmark of `awqkit quantize`.
#
# On a machine with an NVIDIA GPU and the CUDA Toolkit:
#   1. builds awqkit with the CUDA backend (Release, this GPU's arch);
#   2. measures the cuBLAS GEMM ceilings (tests/bench/gemm_peak.cu);
#   3. synthesizes a 7B-shaped FP16 checkpoint (awqkit synth --preset 7b)
#      and quantizes it with --device cuda (calibration: SAMPLES x SEQLEN
#      token ids of real text, since synthetic checkpoints have no
#      tokenizer; see gpu_lib.sh), printing wall time per phase,
#      calibration tokens/s, achieved TFLOP/s against the measured fp32
#      cuBLAS peak, peak GPU memory (nvidia-smi polling) and peak host RSS
#      (/usr/bin/time -v);
#   4. quantizes a 70B-shaped layer stack (--preset 70b-layer) with 2 and
#      with 4 layers: time should double and peak memory stay flat, since
#      layers are streamed one at a time.
# Prints a table at the end; raw outputs stay in $WORK.
# The time-bounded first check of a GPU machine (correctness, then a few
# layers of each shape) is tests/bench/gpu_check.sh; this is the full run.
#
# Usage: tests/bench/bench_gpu.sh [--quick]
#   --quick            fewer calibration samples (16) for a fast smoke run
# Environment:
#   BUILD=dir          build directory (default build-bench-gpu in the repo)
#   WORK=dir           scratch for checkpoints and logs (default
#                      /tmp/awqkit-bench-gpu; needs ~30 GB for the 7B pair)
#   GPU=N              GPU index (default 0)
#   SAMPLES=N SEQLEN=N calibration blocks x tokens (default 128 x 512)
#   ARCH=list          CMAKE_CUDA_ARCHITECTURES (default: native)
#   QUANT_ARGS="..."   extra arguments for awqkit quantize
#   SKIP_7B=1 / SKIP_70B=1  skip a part
#
# The achieved TFLOP/s is an estimate of the useful work (formula below),
# divided by the wall time of the whole run (I/O included); it is a
# utilisation figure, not a kernel measurement.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=tests/bench/gpu_lib.sh
. "$here/gpu_lib.sh"
BUILD="${BUILD:-$root/build-bench-gpu}"
WORK="${WORK:-/tmp/awqkit-bench-gpu}"
GPU="${GPU:-0}"
SAMPLES="${SAMPLES:-128}"
SEQLEN="${SEQLEN:-512}"
ARCH="${ARCH:-native}"
QUANT_ARGS="${QUANT_ARGS:-}"
if [ "${1:-}" = "--quick" ]; then SAMPLES=16; fi

die() { echo "bench_gpu: $*" >&2; exit 1; }
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this benchmark needs an NVIDIA GPU"
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || die "nvcc not found (CUDA Toolkit)"
NVCC="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time): needed for peak RSS"
nvidia-smi -i "$GPU" >/dev/null || die "GPU $GPU not usable"
mkdir -p "$WORK"
export CUDA_VISIBLE_DEVICES="$GPU" # awqkit and gemm_peak then see it as device 0

echo "== GPU"
nvidia-smi -i 0 --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv

echo "== build ($BUILD)"
cmake -S "$root" -B "$BUILD" -DAWQ_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DAWQ_BUILD_TESTS=OFF >"$WORK/cmake.log" 2>&1 ||
  { tail -20 "$WORK/cmake.log"; die "configure failed"; }
cmake --build "$BUILD" -j"$(nproc)" >"$WORK/build.log" 2>&1 ||
  { tail -40 "$WORK/build.log"; die "build failed"; }
AWQKIT="$BUILD/awqkit"
[ -x "$AWQKIT" ] || die "no $AWQKIT after the build"
"$AWQKIT" --version 2>/dev/null | grep -q cuda || echo "warning: awqkit --version does not mention cuda"

echo "== cuBLAS GEMM ceilings"
arch_flag="-arch=native"
if [ "$ARCH" != native ]; then arch_flag="-arch=sm_${ARCH%%[-;]*}"; fi
"$NVCC" -O2 "$arch_flag" "$here/gemm_peak.cu" -lcublas -o "$BUILD/gemm_peak"
"$BUILD/gemm_peak" | tee "$WORK/gemm_peak.txt"
peak_fp32="$(sed -n 's/^peak fp32=\([0-9.]*\).*/\1/p' "$WORK/gemm_peak.txt")"
peak_tf32="$(sed -n 's/^peak .*tf32=\([0-9.]*\).*/\1/p' "$WORK/gemm_peak.txt")"
[ -n "$peak_fp32" ] || die "could not read the fp32 peak"

# First number after "key": in a JSON file (awqkit --json output).
jnum() { grep -o "\"$1\"[[:space:]]*:[[:space:]]*[-0-9.eE+]*" "$2" | head -1 | sed 's/.*:[[:space:]]*//'; }

# run_quant NAME MODEL_DIR -> sets R_* variables, writes $WORK/NAME.{json,time,mem}
run_quant() {
  local name=$1 model=$2 out="$WORK/$1-awq"
  rm -rf "$out"
  local base
  base="$(nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits)"
  # shellcheck disable=SC2086
  /usr/bin/time -v -o "$WORK/$name.time" "$AWQKIT" quantize "$model" -o "$out" \
      --device cuda --calib-tokens "$IDS" --seqlen "$SEQLEN" --force --json --no-progress \
      $QUANT_ARGS >"$WORK/$name.json" 2>"$WORK/$name.log" &
  local pid=$!
  awq_gpu_poll "$pid" "$WORK/$name.mem" &
  local poller=$!
  local rc=0
  wait "$pid" || rc=$?
  wait "$poller" || true
  if [ $rc -ne 0 ]; then tail -20 "$WORK/$name.log"; die "$name: awqkit quantize failed ($rc)"; fi
  R_TOTAL="$(jnum total "$WORK/$name.json")"
  R_BLOCKS="$(jnum blocks "$WORK/$name.json")"
  R_SEQLEN="$(jnum seqlen "$WORK/$name.json")"
  R_RSS_KB="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/$name.time")"
  R_GPU_PEAK="$(awk '$2 != "-" && $2 > m {m = $2} END {print m + 0}' "$WORK/$name.mem")"
  R_GPU_BASE="$base"
  R_PHASES=""
  for p in load forward search clip pack write verify total; do
    R_PHASES="$R_PHASES $p=$(jnum "$p" "$WORK/$name.json")s"
  done
}

report() { # name n_layers h i heads kvheads hd
  local name=$1 L=$2
  local ntok=$((R_BLOCKS * R_SEQLEN))
  local ts=$(( ntok < 512 ? ntok : 512 ))
  local fl
  fl="$(awq_gpu_flops_per_layer "$3" "$4" "$5" "$6" "$7" "$ntok" "$R_SEQLEN" 20 10 "$ts")"
  awk -v name="$name" -v L="$L" -v t="$R_TOTAL" -v ntok="$ntok" -v fl="$fl" -v pk="$peak_fp32" \
      -v pk32="$peak_tf32" -v rss="$R_RSS_KB" -v gp="$R_GPU_PEAK" -v gb="$R_GPU_BASE" 'BEGIN {
    tf = fl * L / t / 1e12;
    printf "%-14s layers %3d  wall %8.1f s  %7.1f s/layer  %9.0f tokens/s  ", name, L, t, t / L, ntok * L / t;
    printf "%6.2f TFLOP/s (%5.1f%% of fp32 cuBLAS %.1f, %4.1f%% of tf32 %.1f)  ", tf, 100 * tf / pk, pk, 100 * tf / pk32, pk32;
    printf "GPU peak %6.2f GiB (+%.2f over idle)  host RSS %6.2f GiB\n", gp / 1024, (gp - gb) / 1024, rss / 1048576 }'
  echo "               phases:$R_PHASES"
}

IDS="$WORK/calib-$SAMPLES-$SEQLEN.ids"
awq_gpu_calib_ids "$AWQKIT" "$root/data/tiny-llama" "$root/data/text/wiki.test.raw" "$IDS" \
    "$SAMPLES" "$SEQLEN" || die "cannot make $SAMPLES x $SEQLEN calibration ids"

summary=()

if [ "${SKIP_7B:-0}" != 1 ]; then
  echo "== 7B-shaped FP16 checkpoint"
  if [ ! -f "$WORK/7b/config.json" ]; then
    "$AWQKIT" synth -o "$WORK/7b" --preset 7b --dtype f16 --force --no-progress
  fi
  echo "== quantize 7B on cuda ($SAMPLES x $SEQLEN)"
  run_quant 7b "$WORK/7b"
  summary+=("$(report 7b 32 4096 11008 32 32 128)")
fi

if [ "${SKIP_70B:-0}" != 1 ]; then
  for L in 2 4; do
    echo "== 70B-shaped layer stack, $L layers"
    if [ ! -f "$WORK/70b-$L/config.json" ]; then
      "$AWQKIT" synth -o "$WORK/70b-$L" --preset 70b-layer --layers "$L" --dtype f16 --force \
          --no-progress
    fi
    run_quant "70b-$L" "$WORK/70b-$L"
    summary+=("$(report "70b-layer x$L" "$L" 8192 28672 64 8 128)")
    # per-layer seconds, when the JSON report carries them
    if grep -q '"seconds"[[:space:]]*:[[:space:]]*[0-9]' "$WORK/70b-$L.json"; then
      echo "per-layer seconds: $(grep -o '"seconds"[[:space:]]*:[[:space:]]*[0-9.eE+-]*' \
          "$WORK/70b-$L.json" | sed 's/.*:[[:space:]]*//' | tr '\n' ' ')"
    fi
  done
fi

echo
echo "== summary (GPU $(nvidia-smi -i 0 --query-gpu=name --format=csv,noheader))"
echo "calibration: $SAMPLES samples x $SEQLEN tokens; peaks measured by gemm_peak"
for line in "${summary[@]}"; do echo "$line"; done
echo "flat per-layer memory: compare 'GPU peak' of the x2 and x4 stacks (equal when layers"
echo "stream); time per layer should match. Raw outputs: $WORK"
