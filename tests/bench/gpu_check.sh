#!/usr/bin/env bash
# tests/bench/gpu_check.sh — the first run of the CUDA backend on a GPU, in
# one time-bounded command that yields every result even past failures
# (issue 15; BENCHMARKS.md, "GPU check").
#
# On the development machine (no GPU needed), build for sm_90 and pack what
# the GPU machine needs into a folder for the device tool's `carry`:
#   bash tests/bench/gpu_check.sh --prepare [DIR]        (default DIR: build-gpu)
# It prints the size of what must travel (the working tree + DIR; the limit
# is 64 MiB). DIR holds payload.tar.xz (awqkit, test_cuda, the helpers, the
# CTest files of the cuda tests, the shared libraries they need that a CUDA
# image lacks, the dependencies' headers and pkg-config for a rebuild there)
# and stamp, the hash of the sources it was built from.
#
# On the GPU machine:
#   bash tests/bench/gpu_check.sh --carried build-gpu [--budget S]
# Steps, each under its own time limit, all within --budget seconds
# (default 470):
#   build        use the carried build when its stamp matches these sources
#                and its awqkit runs with CUDA; otherwise build here
#                (CMAKE_CUDA_ARCHITECTURES=90, only the targets needed), with
#                the carried dependency headers when the machine lacks them
#   ctest_cuda   ctest -L cuda (except the sanitizer, which runs last)
#   tiny_*       data/tiny-llama quantized on cuda and on cpu: chosen ratios
#                (--dump-scales), dequantized weights (within one
#                quantization step), perplexity (within 0.5%), and the
#                perplexity of one model evaluated on cuda and on cpu
#   speed_7b     3 Llama-2-7B-shaped synthetic layers (random weights,
#                128 x 512 calibration tokens of real text) quantized on
#                cuda: per-layer time, extrapolated 32-layer model time, GPU
#                memory (nvidia-smi polling) and host RSS (wait4)
#   speed_70b    one Llama-2-70B-shaped layer, likewise (64 x 512 tokens;
#                80 layers)
#   target_*     the issue's acceptance thresholds on the 7B figures
#   memcheck     ctest -L cuda -R memcheck: test_cuda under
#                compute-sanitizer memcheck
#   racecheck    the same with the racecheck and synccheck tools, with
#                whatever time is left
# Results: one JSON file, gpu_check.json, in $OUT when set (the device tool
# returns what is there), else in --out DIR (default $WORK/out), rewritten
# after every step so that a run killed from outside still leaves one; with
# it gpu_check.log (this transcript) and logs.tar.gz (every step's output).
# Exit 0 when no check failed, 1 otherwise; the last line is the summary.
#
# Rehearsal on any machine (no GPU): every step's plumbing with reduced
# sizes on an existing build: the cuda legs of the tiny step run on
# awqkit_cuda_emu (the CLI on the CUDA emulation, device memory guarded;
# CPU-only builds), else on the CPU; the timed legs on the CPU; the
# emulator test (test_cuda_emu) runs beside the cuda-labelled ones:
#   bash tests/bench/gpu_check.sh --rehearse --build-dir build
# It packs that build as --prepare would (fast compression), then runs the
# GPU steps from the packed copy. The ctest gpu_check_rehearse runs it.
#
# Other options:
#   --build-dir DIR  where to build (prepare: build-gpu-full; GPU machine:
#                    build-gpu-device; rehearsal: the build to pack)
#   --work DIR       scratch, ~12 GB on a GPU (default $WORK or
#                    /tmp/awqkit-gpu-check); emptied first
#   --out DIR        results folder when $OUT is unset
#   --budget S       seconds for the whole run (default 470)
#   --only LIST      run only these of ctest,tiny,7b,memcheck,70b,racecheck (a rerun
#                    after a fix; the build step always runs)
#   --profile        after each timed run, the same run again with the CUDA
#                    op profile (AWQKIT_CUDA_PROFILE; NAME.prof.tsv in the
#                    results): where the time goes, op by op
#   --stamp          print the source stamp and exit
#   --verify-stamp DIR  exit 0 when DIR's stamp matches the sources, 1 if not
set -u
set -o pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=tests/bench/gpu_lib.sh
. "$here/gpu_lib.sh"

ACTION=run
MODE=gpu
CARRY=""
BUILD=""
RESULTS="${OUT:-}"
SCRATCH="${WORK:-/tmp/awqkit-gpu-check}"
BUDGET=470
NO_BUILD=0
PROFILE=0
ONLY=""

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die_usage() { echo "gpu_check: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --prepare) ACTION=prepare
      if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then CARRY=$2; shift; fi ;;
    --carried) [ $# -gt 1 ] || die_usage "--carried needs a folder"; CARRY=$2; shift ;;
    --rehearse) MODE=rehearse ;;
    --build-dir) [ $# -gt 1 ] || die_usage "--build-dir needs a folder"; BUILD=$2; shift ;;
    --work) [ $# -gt 1 ] || die_usage "--work needs a folder"; SCRATCH=$2; shift ;;
    --out) [ $# -gt 1 ] || die_usage "--out needs a folder"; RESULTS=${RESULTS:-$2}; shift ;;
    --budget) [ $# -gt 1 ] && [[ $2 =~ ^[0-9]+$ ]] || die_usage "--budget needs seconds"
      BUDGET=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    --profile) PROFILE=1 ;;
    --only) [ $# -gt 1 ] && [[ $2 =~ ^(ctest|tiny|7b|memcheck|70b|racecheck)(,(ctest|tiny|7b|memcheck|70b|racecheck))*$ ]] ||
        die_usage "--only takes a comma-separated list of ctest, tiny, 7b, memcheck, 70b, racecheck"
      ONLY=$2; shift ;;
    --stamp) ACTION=stamp ;;
    --verify-stamp) [ $# -gt 1 ] || die_usage "--verify-stamp needs a folder"
      ACTION=verify; CARRY=$2; shift ;;
    *) die_usage "unknown option '$1' (see --help)" ;;
  esac
  shift
done

abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

# ------------------------------------------------------------- source stamp

# Hash of every file that goes into the binaries, by content, over the same
# file list here and on the GPU machine (which may have no .git): what the
# device tool sends, i.e. without git-ignored files. A carried build is used
# only when it was built from exactly these sources.
source_files() {
  local dirs=(CMakeLists.txt include lib kernels tools tests)
  if git -C "$root" rev-parse HEAD >/dev/null 2>&1; then
    git -C "$root" ls-files -co --exclude-standard -z -- "${dirs[@]}"
  else
    (cd "$root" && find "${dirs[@]}" -type f -print0 2>/dev/null)
  fi | grep -zE '(\.(c|h|cu|cuh|cpp|cmake)|(^|/)CMakeLists\.txt)$' |
    while IFS= read -r -d '' f; do [ -f "$root/$f" ] && printf '%s\0' "$f"; done
}
source_stamp() {
  source_files | LC_ALL=C sort -z | (cd "$root" && xargs -0 sha256sum) | sha256sum | cut -c1-24
}

git_desc() {
  if git -C "$root" rev-parse HEAD >/dev/null 2>&1; then
    local head dirty
    head=$(git -C "$root" rev-parse --short=12 HEAD)
    dirty=$(git -C "$root" diff HEAD 2>/dev/null | sha256sum | cut -c1-12)
    if git -C "$root" diff --quiet HEAD 2>/dev/null; then echo "$head"
    else echo "$head+dirty-$dirty"; fi
  else echo "none"; fi
}

case "$ACTION" in
  stamp) source_stamp; exit 0 ;;
  verify)
    [ -f "$CARRY/stamp" ] || { echo "gpu_check: $CARRY/stamp not found" >&2; exit 1; }
    want=$(source_stamp); have=$(cat "$CARRY/stamp")
    if [ "$want" = "$have" ]; then echo "stamp matches ($have)"; exit 0; fi
    echo "stale: $CARRY was built from $have, the sources are $want" >&2; exit 1 ;;
esac

# Shared libraries a CUDA container image cannot be assumed to have: all but
# the C runtime and the CUDA / driver libraries (which must come from the
# GPU machine's own installation, matching its driver).
is_system_lib() {
  case "$(basename "$1")" in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libgcc_s.so*|\
    libstdc++.so*|libcuda.so*|libcudart.so*|libcublas*|libnvidia*|libnvrtc*) return 0 ;;
  esac
  return 1
}

# ---------------------------------------------------------------- prepare

# Targets the GPU run needs, and where they sit in a build tree.
TARGETS="awqkit_cli test_cuda awq_gpu_check_util awq_json_get"
BINS="awqkit tests/test_cuda tests/awq_gpu_check_util tests/awq_json_get"

tree_bytes() { # what the device tool sends besides carried paths
  if git -C "$root" rev-parse HEAD >/dev/null 2>&1; then
    (cd "$root" && git ls-files -co --exclude-standard -z |
      xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}')
  else echo 0; fi
}

prepare() { # prepare CARRY_DIR BUILD_DIR XZ_LEVEL
  local carry=$1 b=$2 level=$3
  local stamp0; stamp0=$(source_stamp)
  if [ "$NO_BUILD" = 0 ]; then
    local cuda=ON arch=(-DCMAKE_CUDA_ARCHITECTURES=90)
    if [ "$MODE" = rehearse ]; then cuda=OFF; arch=(); fi
    echo "== build ($b, CUDA $cuda${arch:+, sm_90 only})"
    mkdir -p "$b" || return 1
    : >"$b/gpu_check.build.log"
    # DT_RPATH (not RUNPATH: it also serves the libraries' own
    # dependencies, e.g. OpenBLAS's libgfortran): the carried lib/ folder
    # beside the binaries (awqkit) or above them (tests/*)
    cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DAWQ_CUDA=$cuda "${arch[@]}" \
          -DAWQ_BUILD_TESTS=ON '-DCMAKE_BUILD_RPATH=$ORIGIN/lib;$ORIGIN/../lib' \
          -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags >"$b/gpu_check.configure.log" 2>&1 ||
      { tail -30 "$b/gpu_check.configure.log"; echo "gpu_check: configure failed" >&2; return 1; }
    local t targets=$TARGETS
    [ "$MODE" = rehearse ] && [ "$cuda" = OFF ] && targets="$targets test_cuda_emu awqkit_cuda_emu"
    for t in $targets; do
      cmake --build "$b" -j"${JOBS:-2}" --target "$t" >>"$b/gpu_check.build.log" 2>&1 ||
        { tail -40 "$b/gpu_check.build.log"; echo "gpu_check: building $t failed" >&2; return 1; }
    done
  fi
  local stage; stage=$(mktemp -d "${TMPDIR:-/tmp}/gpu-carry.XXXXXX")
  local bins=$BINS f lib
  if [ "$MODE" = rehearse ]; then
    for f in tests/test_cuda_emu tests/awqkit_cuda_emu; do [ -x "$b/$f" ] && bins="$bins $f"; done
  fi
  mkdir -p "$stage/tests" "$stage/lib" "$stage/sysroot/include" "$stage/sysroot/bin"
  for f in $bins; do
    [ -x "$b/$f" ] || { echo "gpu_check: $b/$f is missing (build it first)" >&2; rm -rf "$stage"; return 1; }
    cp "$b/$f" "$stage/$f"
    # debug sections are most of a RelWithDebInfo binary
    command -v strip >/dev/null 2>&1 && strip --strip-debug "$stage/$f"
  done
  cp "$b/CTestTestfile.cmake" "$stage/"
  cp "$b/tests/CTestTestfile.cmake" "$stage/tests/"
  # the libraries the binaries load, and pkg-config's, for a rebuild there
  local pc; pc=$(command -v pkgconf || command -v pkg-config || true)
  for f in $bins ${pc:+"$pc"}; do
    case "$f" in /*) ;; *) f="$b/$f" ;; esac
    ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
  done | sort -u | while read -r lib; do
    is_system_lib "$lib" || cp -L "$lib" "$stage/lib/"
  done
  # unversioned names for the linker
  (cd "$stage/lib" && shopt -s nullglob && for lib in *.so.*; do ln -sf "$lib" "${lib%%.so.*}.so"; done)
  [ -n "$pc" ] && cp -L "$pc" "$stage/sysroot/bin/pkg-config"
  # headers of the dependencies (see CMakeLists.txt); a rebuild there
  # generates .pc files pointing here
  local m d
  for m in openblas libcjson libzstd libpcre2-8 libutf8proc; do
    for d in $(pkg-config --cflags-only-I "$m" 2>/dev/null | sed 's/-I//g'); do
      mkdir -p "$stage/sysroot/inc-$m" && cp -rL "$d"/. "$stage/sysroot/inc-$m/" 2>/dev/null
    done
  done
  for f in zstd.h zstd_errors.h zdict.h pcre2.h utf8proc.h; do
    [ -f "/usr/include/$f" ] && cp -L "/usr/include/$f" "$stage/sysroot/include/"
  done
  [ -d /usr/include/cjson ] && cp -rL /usr/include/cjson "$stage/sysroot/include/"
  {
    echo "SRC_ROOT=$root"
    echo "BUILD_DIR=$(cd "$b" && pwd)"
    echo "GIT=$(git_desc)"
    echo "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "BUILT_ON=$(uname -n) $(ldd --version 2>/dev/null | head -1)"
    echo "NVCC=$( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | tail -1)"
    echo "GLIBC_NEEDED=$(objdump -T "$stage/awqkit" "$stage/tests/test_cuda" 2>/dev/null |
      grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
  } >"$stage/meta.env"
  mkdir -p "$carry"
  rm -f "$carry/payload.tar.xz" "$carry/stamp" "$carry/sizes.txt"
  tar -C "$stage" -cf - . | xz -"$level" -T2 >"$carry/payload.tar.xz" ||
    { rm -rf "$stage"; echo "gpu_check: packing failed" >&2; return 1; }
  rm -rf "$stage"
  local stamp1; stamp1=$(source_stamp)
  if [ "$stamp0" != "$stamp1" ]; then
    echo "gpu_check: the sources changed during the build; run --prepare again" >&2; return 1
  fi
  echo "$stamp1" >"$carry/stamp"
  local pb cb tb total
  pb=$(stat -c %s "$carry/payload.tar.xz")
  cb=$(du -sb "$carry" | cut -f1)
  tb=$(tree_bytes)
  total=$((cb + tb))
  {
    echo "payload_bytes=$pb"
    echo "carry_bytes=$cb"
    echo "tree_bytes=$tb"
    echo "total_bytes=$total"
  } >"$carry/sizes.txt"
  awk -v p="$pb" -v c="$cb" -v t="$tb" -v s="$total" -v d="$carry" 'BEGIN {
    m = 1048576
    printf "carry %s: %.1f MiB (payload %.1f MiB); working tree %.1f MiB; total %.1f MiB of 64 MiB\n",
      d, c / m, p / m, t / m, s / m }'
  echo "stamp $stamp1 ($(git_desc))"
  if [ "$total" -gt $((64 * 1048576)) ]; then
    echo "gpu_check: over the device tool's 64 MiB" >&2; return 1
  fi
  return 0
}

if [ "$ACTION" = prepare ]; then
  carry=$(abspath "${CARRY:-$root/build-gpu}")
  b=$(abspath "${BUILD:-$root/build-gpu-full}")
  prepare "$carry" "$b" 6
  exit $?
fi

# ===================================================================== run

START=$(date +%s)
DEADLINE=$((START + BUDGET))
W=$(abspath "$SCRATCH")
case "$W" in /|"$root"|"$HOME") die_usage "refusing to use $W as scratch" ;; esac
rm -rf "$W" && mkdir -p "$W/logs" "$W/checks" || die_usage "cannot create $W"
RESULTS=$(abspath "${RESULTS:-$W/out}")
mkdir -p "$RESULTS" || die_usage "cannot create $RESULTS"
JSON="$RESULTS/gpu_check.json"
TRANSCRIPT="$RESULTS/gpu_check.log"
: >"$TRANSCRIPT"

say() { printf '%s\n' "$*" | tee -a "$TRANSCRIPT"; }
left() { echo $((DEADLINE - $(date +%s))); }
now() { awq_gpu_now; }
since() { awq_gpu_since "$1"; }
# seconds a step may take: its own cap, less what later steps need at least
cap() { # cap WANT RESERVE
  local l; l=$(( $(left) - $2 ))
  if [ "$l" -lt "$1" ]; then echo "$l"; else echo "$1"; fi
}

# ------------------------------------------------------------ JSON output

jstr() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/}; s=${s//$'\t'/ }
  s=$(printf '%s' "$s" | tr -d '\000-\037')
  printf '"%s"' "$s"
}
jnum() {
  if [[ ${1:-} =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then printf '%s' "$1"
  else printf null; fi
}
jbool() { if [ "$1" = 1 ] || [ "$1" = true ]; then printf true; else printf false; fi; }
# embed a JSON document from a file when it parses, else null
jraw() {
  if [ -s "$1" ] && "$JSONGET" "$1" >/dev/null 2>&1; then cat "$1"; else printf null; fi
}
# jget FILE PATH: one value of a JSON file (empty when absent)
jget() { [ -s "$1" ] && "$JSONGET" "$1" "$2" 2>/dev/null || true; }

NCHECK=0
# record NAME STATUS SECONDS 'more members, each starting with a comma'
record() {
  NCHECK=$((NCHECK + 1))
  local f; f=$(printf '%s/checks/%02d' "$W" "$NCHECK")
  printf '%s: {"status": %s, "seconds": %s%s}' "$(jstr "$1")" "$(jstr "$2")" "$(jnum "$3")" \
    "${4:-}" >"$f"
  say "-- $1: $2 ($3 s)"
  write_json
}

MACHINE_JSON=null
SOURCE_JSON=null
THRESHOLDS='{"model_7b_seconds": 60, "gpu_memory_bytes": 16000000000, "host_rss_bytes": 4000000000, "ppl_rel_diff": 0.005, "weight_steps": 1}'

write_json() {
  local pass=0 fail=0 skip=0 f s
  for f in "$W"/checks/*; do
    [ -f "$f" ] || continue
    s=$(sed -n 's/^[^:]*: {"status": "\([a-z]*\)".*/\1/p' "$f" | head -1)
    case "$s" in pass) pass=$((pass + 1)) ;; skip) skip=$((skip + 1)) ;; *) fail=$((fail + 1)) ;; esac
  done
  {
    printf '{\n"schema": "awqkit-gpu-check/1",\n"mode": %s,\n"cuda_runs_on": %s,\n"only": %s,\n' \
      "$(jstr "$MODE")" "$(jstr "${CUDA_RUNS_ON:-}")" "$(jstr "${ONLY:-all}")"
    printf '"started_utc": %s,\n' "$(jstr "$(date -u -d "@$START" +%Y-%m-%dT%H:%M:%SZ)")"
    printf '"elapsed_seconds": %s,\n"budget_seconds": %s,\n' "$(( $(date +%s) - START ))" "$BUDGET"
    printf '"source": %s,\n"machine": %s,\n"thresholds": %s,\n' "$SOURCE_JSON" "$MACHINE_JSON" \
      "$THRESHOLDS"
    printf '"checks": {'
    local first=1
    for f in "$W"/checks/*; do
      [ -f "$f" ] || continue
      [ $first = 1 ] || printf ','
      first=0
      printf '\n'
      cat "$f"
    done
    printf '\n},\n"summary": {"pass": %d, "fail": %d, "skip": %d, "complete": %s}\n}\n' \
      "$pass" "$fail" "$skip" "$(jbool "${COMPLETE:-0}")"
  } >"$JSON.tmp" && mv "$JSON.tmp" "$JSON"
  SUM_PASS=$pass SUM_FAIL=$fail SUM_SKIP=$skip
}

# ---------------------------------------------------------------- helpers

DEV=cuda
HAVE_SMI=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && HAVE_SMI=1

# run_bounded NAME SECONDS CMD...: run with a time limit (the whole process
# group is killed), output in logs/NAME.out / .err; returns the status
# (124 on timeout).
run_bounded() {
  local name=$1 secs=$2; shift 2
  if [ "$secs" -lt 5 ]; then echo "no time left" >"$W/logs/$name.err"; return 124; fi
  timeout -k 10 "$secs" "$@" >"$W/logs/$name.out" 2>"$W/logs/$name.err"
}

tail_of() { tail -c 600 "$1" 2>/dev/null | tr -d '\000'; }
# why RC ERRFILE: what went wrong with a bounded run, for the report
why() {
  case "$1" in
    0) ;;
    124|137) echo "timed out (the step's time limit); $(tail_of "$2")" ;;
    *) tail_of "$2" ;;
  esac
}

# ----------------------------------------------------------- machine info

machine_info() {
  local gpu=null driver=null cudav=null mem=null cc=null nvccv smi_line=""
  if [ "$HAVE_SMI" = 1 ]; then
    smi_line=$(nvidia-smi -i 0 --query-gpu=name,driver_version,memory.total,compute_cap \
      --format=csv,noheader,nounits 2>/dev/null | head -1)
    gpu=$(jstr "$(echo "$smi_line" | cut -d, -f1 | sed 's/^ *//')")
    driver=$(jstr "$(echo "$smi_line" | cut -d, -f2 | tr -d ' ')")
    mem=$(jnum "$(echo "$smi_line" | cut -d, -f3 | tr -d ' ')")
    cc=$(jstr "$(echo "$smi_line" | cut -d, -f4 | tr -d ' ')")
    cudav=$(jstr "$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: *[0-9.]*' | grep -o '[0-9.]*$' | head -1)")
  fi
  nvccv=$( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) |
    grep -o 'release [0-9.]*' | head -1)
  MACHINE_JSON=$(printf '{"gpu": %s, "driver": %s, "cuda_driver_version": %s, "gpu_memory_mib": %s, "compute_capability": %s, "nvcc": %s, "cpu_cores": %s, "host_memory_kib": %s, "kernel": %s, "glibc": %s, "cmake": %s}' \
    "$gpu" "$driver" "$cudav" "$mem" "$cc" "$(jstr "${nvccv:-none}")" "$(jnum "$(nproc)")" \
    "$(jnum "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)")" "$(jstr "$(uname -r)")" \
    "$(jstr "$(ldd --version 2>/dev/null | head -1 | grep -o '[0-9.]*$')")" \
    "$(jstr "$(cmake --version 2>/dev/null | head -1 | grep -o '[0-9.]*$')")")
  say "machine: ${smi_line:-no nvidia-smi} | nvcc ${nvccv:-none} | $(nproc) cores"
}

# ------------------------------------------------------------------ build

BIN=""       # folder with awqkit, tests/test_cuda, the helpers
CUDA_ARCH=90 # a build here: the H100 / H200's, or what the GPU asks for
CTDIR=""     # folder to run ctest in
SYSROOT=""   # carried dependency headers / libraries (after extraction)

cuda_lib_dirs() { # folders holding libcublas, when the loader does not know it
  local d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 \
           /usr/lib/x86_64-linux-gnu; do
    ls "$d"/libcublas.so.* >/dev/null 2>&1 && printf '%s:' "$d"
  done
  timeout 20 find / -xdev \( -path /proc -o -path /sys \) -prune -o \
    -name 'libcublasLt.so.1[0-9]*' -print 2>/dev/null | head -3 | xargs -r -n1 dirname | tr '\n' ':'
}

# The carried binaries find the carried libraries by their RPATH
# ($ORIGIN/lib, set by --prepare); only cuBLAS must come from this machine:
# when the loader cannot find it, add the folders that hold it.
find_cuda_libs() {
  local extra
  if ldd "$BIN/awqkit" 2>/dev/null | grep -q 'not found'; then
    extra=$(cuda_lib_dirs)
    [ -n "$extra" ] && export LD_LIBRARY_PATH="${extra%:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "libraries not found by the loader; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
    ldd "$BIN/awqkit" 2>&1 | grep 'not found' | tee -a "$TRANSCRIPT"
  fi
  return 0
}

extract_payload() { # extract_payload CARRY DEST
  mkdir -p "$2"
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1/payload.tar.xz" | tar -C "$2" -xf -
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
      "$1/payload.tar.xz" "$2"
  fi
}

sed_escape() { printf '%s' "$1" | sed 's/[][\.*^$|]/\\&/g'; }
sed_repl() { printf '%s' "$1" | sed 's/[&|\\]/\\&/g'; }

# The carried CTest files name the paths of the machine that built them:
# point them here.
relocate_ctest() { # relocate_ctest X OLD_BUILD OLD_ROOT
  local x=$1 f
  for f in "$x/CTestTestfile.cmake" "$x/tests/CTestTestfile.cmake"; do
    sed -i -e "s|$(sed_escape "$2")|$(sed_repl "$x")|g" \
           -e "s|$(sed_escape "$3")|$(sed_repl "$root")|g" "$f"
  done
  mkdir -p "$x/tests/tmp"
}

# .pc files for the carried headers and libraries, for a configure here.
make_sysroot_pc() { # make_sysroot_pc X
  local x=$1 pcd=$1/sysroot/pkgconfig m inc lib
  mkdir -p "$pcd"
  for m in openblas:openblas libcjson:cjson libzstd:zstd libpcre2-8:pcre2-8 libutf8proc:utf8proc; do
    inc="-I$x/sysroot/include"
    [ -d "$x/sysroot/inc-${m%%:*}" ] && inc="$inc -I$x/sysroot/inc-${m%%:*}"
    [ "${m%%:*}" = libcjson ] && inc="$inc -I$x/sysroot/include/cjson"
    lib=${m#*:}
    printf 'Name: %s\nDescription: carried\nVersion: 1\nCflags: %s\nLibs: -L%s/lib -l%s\n' \
      "${m%%:*}" "$inc" "$x" "$lib" >"$pcd/${m%%:*}.pc"
  done
}

build_here() { # build_here SECONDS -> sets BIN, CTDIR
  local secs=$1 b cuda=ON arch=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH") t0 rc=0
  b=$(abspath "${BUILD:-$root/build-gpu-device}")
  [ "$MODE" = rehearse ] && { cuda=OFF; arch=(); }
  t0=$(date +%s)
  local cfg=(cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=Release -DAWQ_CUDA=$cuda "${arch[@]}"
             -DAWQ_BUILD_TESTS=ON)
  if ! run_bounded configure "$secs" "${cfg[@]}"; then
    if [ -n "$SYSROOT" ]; then
      say "configure failed; again with the carried dependencies"
      rm -rf "$b/CMakeCache.txt" "$b/CMakeFiles"
      make_sysroot_pc "$SYSROOT"
      export PKG_CONFIG_LIBDIR="$SYSROOT/sysroot/pkgconfig" PKG_CONFIG_PATH=""
      local pc; pc=$(command -v pkg-config || true)
      if [ -z "$pc" ]; then
        # the carried pkgconf, with its library (not on the global path:
        # the carried libraries must not replace this machine's own)
        pc="$SYSROOT/sysroot/bin/pkg-config.sh"
        printf '#!/bin/sh\nLD_LIBRARY_PATH="%s/lib" exec "%s/sysroot/bin/pkg-config" "$@"\n' \
          "$SYSROOT" "$SYSROOT" >"$pc"
        chmod +x "$pc"
      fi
      # link against the carried libraries and find them at run time
      run_bounded configure2 $((secs - ($(date +%s) - t0))) "${cfg[@]}" \
        -DPKG_CONFIG_EXECUTABLE="$pc" \
        "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath-link,$SYSROOT/lib" \
        "-DCMAKE_BUILD_RPATH=$SYSROOT/lib" || rc=$?
    else
      rc=1
    fi
  fi
  if [ $rc = 0 ]; then
    run_bounded build $((secs - ($(date +%s) - t0))) \
      cmake --build "$b" -j"$(nproc)" --target $TARGETS || rc=$?
  fi
  BIN=$b
  CTDIR=$b
  return $rc
}

step_build() {
  local t0 how="" detail="" stamp_now stamp_carried="" match=0 rc=0 x meta_git="" built_from=""
  t0=$(now)
  stamp_now=$(source_stamp)
  SOURCE_JSON=$(printf '{"stamp": %s, "git": %s, "root": %s}' "$(jstr "$stamp_now")" \
    "$(jstr "$(git_desc)")" "$(jstr "$root")")
  if [ "$MODE" = rehearse ]; then
    # pack the given build as --prepare would, then use the packed copy
    local b; b=$(abspath "${BUILD:-$root/build}")
    CARRY="$W/carry"
    NO_BUILD=1
    say "== rehearse: pack $b into $CARRY"
    prepare "$CARRY" "$b" 0 >"$W/logs/prepare.out" 2>"$W/logs/prepare.err" ||
      detail="packing failed: $(tail_of "$W/logs/prepare.err")"
  fi
  if [ -n "$CARRY" ]; then
    CARRY=$(abspath "$CARRY")
    if [ -f "$CARRY/payload.tar.xz" ] && [ -f "$CARRY/stamp" ]; then
      stamp_carried=$(cat "$CARRY/stamp")
      x="$W/x"
      if extract_payload "$CARRY" "$x" 2>"$W/logs/extract.err"; then
        SYSROOT=$x
        # shellcheck disable=SC1091
        built_from=$(sed -n 's/^SRC_ROOT=//p' "$x/meta.env")
        meta_git=$(sed -n 's/^GIT=//p' "$x/meta.env")
        if [ "$stamp_carried" = "$stamp_now" ]; then
          match=1
          BIN=$x
          find_cuda_libs
          relocate_ctest "$x" "$(sed -n 's/^BUILD_DIR=//p' "$x/meta.env")" "$built_from"
          if "$x/awqkit" --version >"$W/logs/version.out" 2>&1 &&
             { [ "$MODE" = rehearse ] || grep -q cuda "$W/logs/version.out"; }; then
            how=carried
            CTDIR=$x
            # sm_90 code only: another GPU asks for its own architecture
            local want
            if [ "$MODE" = gpu ] && ! "$x/tests/test_cuda" --probe >"$W/logs/probe.out" 2>&1 &&
               want=$(grep -o 'CMAKE_CUDA_ARCHITECTURES=[0-9]*' "$W/logs/probe.out" | head -1) &&
               [ -n "$want" ]; then
              CUDA_ARCH=${want#*=}
              detail="the carried build's sm_90 code does not run on this GPU"
              how="" BIN="" CTDIR=""
            fi
          else
            detail="carried awqkit does not run here: $(tail_of "$W/logs/version.out")"
            BIN=""
          fi
        else
          detail="carried build is stale (built from $stamp_carried, git $meta_git)"
        fi
      else
        detail="cannot extract $CARRY/payload.tar.xz: $(tail_of "$W/logs/extract.err")"
      fi
    else
      detail="$CARRY has no payload.tar.xz / stamp (run --prepare)"
    fi
  fi
  if [ -z "$how" ]; then
    [ -n "$detail" ] && say "$detail; building here (sm_$CUDA_ARCH)"
    if [ "$MODE" = rehearse ]; then
      # no rebuild on a CPU in the rehearsal: the given build stands in
      BIN=$(abspath "${BUILD:-$root/build}"); CTDIR=$BIN; how=given
      rc=1
    else
      build_here "$(cap 300 200)" || rc=$?
      how=built
      [ $rc = 0 ] || detail="$detail; build failed: $(tail_of "$W/logs/build.err")$(tail_of "$W/logs/configure.err")"
    fi
  fi
  AWQKIT="$BIN/awqkit"
  UTIL="$BIN/tests/awq_gpu_check_util"
  JSONGET="$BIN/tests/awq_json_get"
  local version=""
  [ -x "$AWQKIT" ] && version=$("$AWQKIT" --version 2>&1 | head -1)
  local size_json=null
  [ -f "${CARRY:-/nonexistent}/sizes.txt" ] && size_json=$(awk -F= '
    {v[$1] = $2} END {printf "{\"payload_bytes\": %s, \"carry_bytes\": %s, \"tree_bytes\": %s, \"total_bytes\": %s}",
      v["payload_bytes"], v["carry_bytes"], v["tree_bytes"], v["total_bytes"]}' "$CARRY/sizes.txt")
  local status=pass
  if [ $rc != 0 ] || [ ! -x "$AWQKIT" ] || [ ! -x "$UTIL" ] || [ ! -x "$JSONGET" ]; then status=fail; fi
  record build "$status" "$(since "$t0")" \
    ", \"how\": $(jstr "$how"), \"stamp_match\": $(jbool $match), \"carried_stamp\": $(jstr "$stamp_carried"), \"carried_git\": $(jstr "$meta_git"), \"built_from\": $(jstr "$built_from"), \"sizes\": $size_json, \"awqkit_version\": $(jstr "$version"), \"detail\": $(jstr "$detail")"
}

# ------------------------------------------------------------------ ctest

# ctest_json NAME LOG: the per-test results of a ctest run as JSON members.
ctest_parse() { # ctest_parse LOG -> lines "name status seconds"
  sed -nE 's/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: +([^ ]+) \.*[ *]*([A-Za-z]+)[^0-9]* ([0-9.]+) sec.*$/\1 \2 \3/p' "$1"
}

step_ctest() { # step_ctest CHECK SECONDS CTEST-ARGS...
  local name=$1 secs=$2 t0 rc=0 line n s sec tests="" np=0 nf=0 ns=0
  shift 2
  t0=$(now)
  if [ -z "$CTDIR" ] || [ ! -f "$CTDIR/CTestTestfile.cmake" ]; then
    record "$name" fail 0 ", \"detail\": \"no build to test\""
    return
  fi
  run_bounded "$name" "$secs" ctest --test-dir "$CTDIR" --output-on-failure "$@" || rc=$?
  while read -r n s sec; do
    [ -n "$n" ] || continue
    case "$s" in Passed) np=$((np + 1)); s=pass ;; Skipped) ns=$((ns + 1)); s=skip ;;
      *) nf=$((nf + 1)); s="fail:$s" ;; esac
    tests="$tests${tests:+, }{\"name\": $(jstr "$n"), \"status\": $(jstr "$s"), \"seconds\": $(jnum "$sec")}"
  done < <(ctest_parse "$W/logs/$name.out")
  local status=pass
  # on a GPU a skipped cuda test is a failure (no device, no sanitizer)
  if [ $nf -gt 0 ] || [ $((np + ns)) = 0 ] || { [ "$MODE" = gpu ] && [ $ns -gt 0 ]; }; then status=fail; fi
  [ $rc = 124 ] && status=fail
  record "$name" "$status" "$(since "$t0")" \
    ", \"exit\": $rc, \"passed\": $np, \"failed\": $nf, \"skipped\": $ns, \"tests\": [$tests], \"log_tail\": $(jstr "$(tail_of "$W/logs/$name.out")")"
}

# ------------------------------------------------------------- tiny model

TINY="$root/data/tiny-llama"
CALIB="$root/data/text/calib-wikitext2-valid.jsonl.zst"
TEXT="$root/data/text/wiki.test.raw"

ppl_of() { # ppl_of NAME MODEL DEVICE SECONDS -> prints the perplexity
  local cli=("$AWQKIT")
  [ "$3" = cuda ] && cli=("${CUDA_CLI[@]}")
  run_bounded "$1" "$4" "${cli[@]}" ppl "$2" --text "$TEXT" --seqlen "$PPL_SEQLEN" \
    --max-chunks "$PPL_CHUNKS" --device "$3" --json --no-progress || return 1
  cp "$W/logs/$1.out" "$W/$1.json"
  jget "$W/$1.json" ppl
}

rel() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print ""; else { d = (a - b) / b; if (d < 0) d = -d; printf "%.6g", d } }'; }

step_tiny() {
  local tag=$1 t0 s1 s2 rc1=0 rc2=0 secs model=$TINY
  shift
  t0=$(now)
  secs=$(cap 150 130)
  if [ "$MODE" = rehearse ]; then
    # emulated kernels are slow: a one-layer model with the tiny model's
    # tokenizer stands in for it
    model="$W/tiny-standin"
    "$AWQKIT" synth -o "$model" --vocab 4096 "${TINY_STANDIN[@]}" --seed 2 --force --no-progress \
      >"$W/logs/tiny_standin.out" 2>&1 && cp "$TINY/tokenizer.json" "$TINY/tokenizer_config.json" "$model/"
  fi
  local q=(quantize "$model" --calib "$CALIB" --samples "$TINY_SAMPLES" --seqlen "$TINY_SEQLEN"
           "${SEARCH_ARGS[@]}" "$@" --json --no-progress --force)
  s1=$(now)
  run_bounded tiny${tag}_quant_cuda $((secs / 2)) "${CUDA_CLI[@]}" "${q[@]}" -o "$W/tiny${tag}-cuda" \
    --device "$DEV" "${CUDA_OPTS[@]}" --dump-scales "$W/tiny${tag}-cuda.scales.json" || rc1=$?
  local tc; tc=$(since "$s1")
  cp "$W/logs/tiny${tag}_quant_cuda.out" "$W/tiny${tag}-cuda.report.json" 2>/dev/null
  s2=$(now)
  run_bounded tiny${tag}_quant_cpu $((secs - ${tc%.*})) "$AWQKIT" "${q[@]}" -o "$W/tiny${tag}-cpu" --device cpu \
    --dump-scales "$W/tiny${tag}-cpu.scales.json" || rc2=$?
  local tp; tp=$(since "$s2")
  cp "$W/logs/tiny${tag}_quant_cpu.out" "$W/tiny${tag}-cpu.report.json" 2>/dev/null
  local st=pass; { [ $rc1 != 0 ] || [ $rc2 != 0 ]; } && st=fail
  record tiny${tag}_quantize "$st" "$(since "$t0")" \
    ", \"model\": $(jstr "${model#"$root"/}"), \"device\": $(jstr "$DEV"), \"samples\": $TINY_SAMPLES, \"seqlen\": $TINY_SEQLEN, \"cuda\": {\"exit\": $rc1, \"wall_seconds\": $tc, \"search_seconds\": $(jnum "$(jget "$W/tiny${tag}-cuda.report.json" seconds.search)"), \"clip_seconds\": $(jnum "$(jget "$W/tiny${tag}-cuda.report.json" seconds.clip)"), \"error\": $(jstr "$(why $rc1 "$W/logs/tiny${tag}_quant_cuda.err")")}, \"cpu\": {\"exit\": $rc2, \"wall_seconds\": $tp, \"search_seconds\": $(jnum "$(jget "$W/tiny${tag}-cpu.report.json" seconds.search)"), \"clip_seconds\": $(jnum "$(jget "$W/tiny${tag}-cpu.report.json" seconds.clip)"), \"error\": $(jstr "$(why $rc2 "$W/logs/tiny${tag}_quant_cpu.err")")}"

  # chosen ratios, scales and clips
  t0=$(now)
  if [ -f "$W/tiny${tag}-cuda.scales.json" ] && [ -f "$W/tiny${tag}-cpu.scales.json" ] &&
     "$UTIL" ratios "$W/tiny${tag}-cuda.scales.json" "$W/tiny${tag}-cpu.scales.json" >"$W/ratios${tag}.json" 2>"$W/logs/ratios${tag}.err"; then
    st=fail; [ "$(jget "$W/ratios${tag}.json" ok)" = true ] && st=pass
    record tiny${tag}_ratios "$st" "$(since "$t0")" ", \"compare\": $(jraw "$W/ratios${tag}.json")"
  else
    record tiny${tag}_ratios fail "$(since "$t0")" ", \"detail\": $(jstr "no scales to compare $(tail_of "$W/logs/ratios${tag}.err")")"
  fi

  # the report's per-layer MSEs (the RTN baseline runs in place on a
  # device backend, after reloading on the CPU; the quantized replay starts
  # from the searched layer): the same values within float noise
  t0=$(now)
  # bf16 report forwards: their MSEs move by ~1e-3 of their value with
  # the summation order (quantize.c), so 1% there; 0.1% at fp32
  local nl li ma mb worst=0 cnt=0 lim=0.001
  [ -n "$tag" ] && lim=0.01
  nl=$(jget "$W/tiny${tag}-cuda.report.json" layers); nl=${nl#<array }; nl=${nl%>}
  if [[ $nl =~ ^[0-9]+$ ]] && [ "$nl" -gt 0 ]; then
    for ((li = 0; li < nl; li++)); do
      for key in mse mse_rtn; do
        ma=$(jget "$W/tiny${tag}-cuda.report.json" "layers.$li.$key")
        mb=$(jget "$W/tiny${tag}-cpu.report.json" "layers.$li.$key")
        worst=$(awk -v w="$worst" -v r="$(rel "$ma" "$mb")" 'BEGIN { if (r == "") print "nan"; else print (w == "nan" || r + 0 > w + 0) ? (w == "nan" ? w : r) : w }')
        cnt=$((cnt + 1))
      done
    done
    st=fail
    awk -v w="$worst" -v l="$lim" 'BEGIN {exit !(w != "nan" && w + 0 <= l + 0)}' && st=pass
    record tiny${tag}_report_mse "$st" "$(since "$t0")" ", \"values\": $cnt, \"max_rel_diff\": $(jnum "$worst"), \"limit\": $lim"
  else
    record tiny${tag}_report_mse fail "$(since "$t0")" ', "detail": "no per-layer report to compare"'
  fi

  # dequantized weights
  t0=$(now)
  if [ $rc1 = 0 ] && [ $rc2 = 0 ] &&
     run_bounded weights${tag} "$(cap 60 110)" "$UTIL" weights "$W/tiny${tag}-cuda" "$W/tiny${tag}-cpu"; then
    cp "$W/logs/weights${tag}.out" "$W/weights${tag}.json"
    st=fail; [ "$(jget "$W/weights${tag}.json" ok)" = true ] && st=pass
    record tiny${tag}_weights "$st" "$(since "$t0")" ", \"compare\": $(jraw "$W/weights${tag}.json")"
  else
    record tiny${tag}_weights fail "$(since "$t0")" ", \"detail\": $(jstr "no checkpoints to compare $(tail_of "$W/logs/weights${tag}.err")")"
  fi

  # perplexity of each quantized model, both evaluated on the CPU (so the
  # difference is the quantization's), against the 0.5% threshold
  t0=$(now)
  local pf pa pb pdev ra rd
  secs=$(cap 90 100)
  pf=$(ppl_of ppl_fp16 "$model" cpu "$((secs / 4))")
  pa=$( [ $rc1 = 0 ] && ppl_of ppl${tag}_q_cuda "$W/tiny${tag}-cuda" cpu "$((secs / 4))")
  pb=$( [ $rc2 = 0 ] && ppl_of ppl${tag}_q_cpu "$W/tiny${tag}-cpu" cpu "$((secs / 4))")
  ra=$(rel "$pa" "$pb")
  st=fail
  [ -n "$ra" ] && awk -v r="$ra" 'BEGIN {exit !(r <= 0.005)}' && st=pass
  record tiny${tag}_ppl "$st" "$(since "$t0")" \
    ", \"seqlen\": $PPL_SEQLEN, \"windows\": $PPL_CHUNKS, \"ppl_fp16\": $(jnum "$pf"), \"ppl_quantized_on_cuda\": $(jnum "$pa"), \"ppl_quantized_on_cpu\": $(jnum "$pb"), \"rel_diff\": $(jnum "$ra")"

  # the CUDA forward: one model's perplexity evaluated on cuda and on cpu
  t0=$(now)
  pdev=$( [ $rc1 = 0 ] && ppl_of ppl${tag}_q_cuda_dev "$W/tiny${tag}-cuda" "$DEV" "$(cap 45 90)")
  rd=$(rel "$pdev" "$pa")
  st=fail
  [ -n "$rd" ] && awk -v r="$rd" 'BEGIN {exit !(r <= 0.005)}' && st=pass
  record tiny${tag}_ppl_device "$st" "$(since "$t0")" \
    ", \"ppl_on_cuda\": $(jnum "$pdev"), \"ppl_on_cpu\": $(jnum "$pa"), \"rel_diff\": $(jnum "$rd"), \"error\": $(jstr "$( [ -n "$pdev" ] || tail_of "$W/logs/ppl${tag}_q_cuda_dev.err")")"
}

# ------------------------------------------------------------------ speed

# step_speed NAME LAYERS_IN_MODEL "hidden intermediate heads kv_heads head_dim" BLOCKS SYNTH-ARGS...
step_speed() {
  local name=$1 model_layers=$2 shape=$3 blocks=$4 t0 rc=0 src="$W/$1" out="$W/$1-awq"
  shift 4
  t0=$(now)
  LAST_MODEL="" LAST_GPU_MIB=null LAST_RSS_KIB=""
  local ids="$W/ids-$blocks-$SPEED_SEQLEN.txt"
  if [ ! -s "$ids" ] && ! awq_gpu_calib_ids "$AWQKIT" "$TINY" "$TEXT" "$ids" "$blocks" "$SPEED_SEQLEN"; then
    record "$name" fail "$(since "$t0")" ", \"detail\": \"cannot make the calibration ids\""
    rm -f "$ids"
    return
  fi
  local synth_s; synth_s=$(now)
  run_bounded "${name}_synth" "$(cap 90 "$SPEED_RESERVE")" "$AWQKIT" synth -o "$src" "$@" \
    --dtype f16 --seed 1 --force --no-progress || rc=$?
  synth_s=$(since "$synth_s")
  if [ $rc != 0 ]; then
    record "$name" fail "$(since "$t0")" ", \"detail\": $(jstr "synth failed: $(tail_of "$W/logs/${name}_synth.err")")"
    return
  fi
  local base=null; [ "$HAVE_SMI" = 1 ] && base=$(jnum "$(awq_gpu_used_mib)")
  local secs; secs=$(cap "$SPEED_CAP" "$SPEED_RESERVE")
  if [ "$secs" -lt 5 ]; then
    record "$name" fail "$(since "$t0")" ", \"detail\": \"no time left\""
    rm -rf "$src"
    return
  fi
  "$UTIL" rss "$W/$name.rss.json" -- timeout -k 10 "$secs" "${SPEED_CLI[@]}" quantize "$src" -o "$out" \
    --device "$SPEED_DEV" --calib-tokens "$ids" --seqlen "$SPEED_SEQLEN" "${SEARCH_ARGS[@]}" \
    --json --no-progress -v --force \
    >"$W/logs/$name.out" 2>"$W/logs/$name.err" &
  local pid=$!
  awq_gpu_poll "$pid" "$W/$name.poll" &
  local poller=$!
  wait "$pid" || rc=$?
  wait "$poller" 2>/dev/null
  cp "$W/logs/$name.out" "$W/$name.json"
  # per-layer seconds: the report's, else (killed) the -v lines so far
  local per n i
  n=$(jget "$W/$name.json" layers); n=${n#<array }; n=${n%>}
  if [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ]; then
    per=$(for ((i = 0; i < n; i++)); do jget "$W/$name.json" "layers.$i.seconds"; done)
  else
    per=$(sed -nE 's/.*layer [0-9]+\/[0-9]+: .* in ([0-9.]+) s$/\1/p' "$W/logs/$name.err")
  fi
  local total; total=$(jget "$W/$name.json" seconds.total)
  local est
  est=$(printf '%s\n' "$per" | awk -v L="$model_layers" -v tot="$total" '
    NF { s[n++] = $1; sum += $1 }
    END {
      if (n == 0) { print ""; exit }
      # steady per-layer time: the median of the layers after the first
      # (which also pays for warm-up), or the only one
      m = 0; for (i = (n > 1 ? 1 : 0); i < n; i++) a[m++] = s[i]
      for (i = 0; i < m; i++) for (j = i + 1; j < m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      med = (m % 2) ? a[int(m / 2)] : (a[m / 2 - 1] + a[m / 2]) / 2
      fixed = (tot != "") ? tot - sum : 0
      if (fixed < 0) fixed = 0
      printf "%.3f %.3f %.3f %d\n", med, fixed, fixed + L * med, n }')
  local per_layer fixed model n_done
  read -r per_layer fixed model n_done <<<"${est:-   }"
  # achieved rate on the estimated useful work of one layer (gpu_lib.sh)
  local ntok=$((blocks * SPEED_SEQLEN)) flops tflops=""
  local ts=$((ntok < CLIP_TOKENS ? ntok : CLIP_TOKENS))
  # shellcheck disable=SC2086
  flops=$(awq_gpu_flops_per_layer $shape "$ntok" "$SPEED_SEQLEN" "$N_GRID" $((N_GRID / 2)) "$ts")
  [ -n "${per_layer:-}" ] && tflops=$(awk -v f="$flops" -v t="$per_layer" 'BEGIN {if (t > 0) printf "%.3f", f / t / 1e12}')
  local peak=null rssp=null series="[]"
  if [ -s "$W/$name.poll" ]; then
    [ "$HAVE_SMI" = 1 ] && peak=$(jnum "$(awk '$2 != "-" && $2 > m {m = $2} END {print m + 0}' "$W/$name.poll")")
    rssp=$(jnum "$(awk '$3 > m {m = $3} END {print m + 0}' "$W/$name.poll")")
    series=$(awk 'NR == FNR {n++; next} { if (n <= 60 || (FNR - 1) % int((n + 59) / 60) == 0) printf "%s[%s, %s, %s]", (c++ ? ", " : ""), $1, ($2 == "-" ? "null" : $2), $3 }' \
      "$W/$name.poll" "$W/$name.poll")
    series="[$series]"
  fi
  local maxrss_kb; maxrss_kb=$(jget "$W/$name.rss.json" max_rss_kb)
  local gpu_delta=null
  [ "$peak" != null ] && [ "$base" != null ] && gpu_delta=$(jnum "$(awk -v p="$peak" -v b="$base" 'BEGIN {print p - b}')")
  local st=pass; [ $rc != 0 ] && st=fail
  record "$name" "$st" "$(since "$t0")" \
    ", \"exit\": $rc, \"synth_seconds\": $synth_s, \"synth_args\": $(jstr "$*"), \"calibration\": {\"blocks_requested\": $blocks, \"blocks\": $(jnum "$(jget "$W/$name.json" calibration.blocks)"), \"seqlen\": $(jnum "$(jget "$W/$name.json" calibration.seqlen)")}, \"layers_done\": $(jnum "${n_done:-}"), \"phase_seconds\": $(jraw_obj "$W/$name.json" seconds), \"layer_seconds\": [$(printf '%s\n' "$per" | jlist)], \"steady_layer_seconds\": $(jnum "${per_layer:-}"), \"layer_flops_estimate\": $(jnum "$flops"), \"achieved_tflops_estimate\": $(jnum "$tflops"), \"fixed_seconds\": $(jnum "${fixed:-}"), \"model_layers\": $model_layers, \"extrapolated_model_seconds\": $(jnum "${model:-}"), \"gpu_used_mib_before\": $base, \"gpu_used_mib_peak\": $peak, \"gpu_mib_peak_over_before\": $gpu_delta, \"host_rss_mib_peak_sampled\": $rssp, \"host_max_rss_kib\": $(jnum "$maxrss_kb"), \"series_seconds_gpu_mib_rss_mib\": $series, \"error\": $(jstr "$(why $rc "$W/logs/$name.err")")"
  # --profile: the same run again with the CUDA op profile (the backend
  # waits around every op, so it is for attribution, not timing:
  # lib/backend/cuda_prof.c); the table travels back beside the JSON
  if [ "$PROFILE" = 1 ] && [ $rc = 0 ] && [ "$SPEED_DEV" = cuda ]; then
    local ps prc=0; ps=$(now)
    secs=$(cap "$SPEED_CAP" "$SPEED_RESERVE")
    if [ "$secs" -ge 10 ]; then
      AWQKIT_CUDA_PROFILE="$W/$name.prof.tsv" run_bounded "${name}_profile" "$secs" \
        "${SPEED_CLI[@]}" quantize "$src" -o "$out" --device "$SPEED_DEV" --calib-tokens "$ids" \
        --seqlen "$SPEED_SEQLEN" "${SEARCH_ARGS[@]}" --json --no-progress --force || prc=$?
      [ -s "$W/$name.prof.tsv" ] && cp "$W/$name.prof.tsv" "$RESULTS/"
      st=fail; [ $prc = 0 ] && [ -s "$W/$name.prof.tsv" ] && st=pass
      record "${name}_profile" "$st" "$(since "$ps")" \
        ", \"profiled_seconds\": $(jnum "$(jget "$W/logs/${name}_profile.out" seconds.total)"), \"table\": $(jstr "$name.prof.tsv"), \"error\": $(jstr "$(why $prc "$W/logs/${name}_profile.err")")"
    else
      record "${name}_profile" skip 0 ', "detail": "no time left"'
    fi
  fi
  # the inputs and outputs are large: keep only the reports
  rm -rf "$src" "$out"
  # the targets judge completed runs only
  if [ $rc = 0 ]; then
    LAST_MODEL=${model:-}
    LAST_GPU_MIB=$gpu_delta
    LAST_RSS_KIB=${maxrss_kb:-}
  fi
}

# numbers, one a line, as a JSON list's members (anything else dropped)
jlist() { awk '/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ {printf "%s%s", (n++ ? ", " : ""), $1}'; }

# a sub-object of a JSON file (as JSON), or null
jraw_obj() {
  local keys k v out=""
  [ -s "$1" ] || { printf null; return; }
  keys=$("$JSONGET" "$1" "$2" 2>/dev/null) || { printf null; return; }
  for k in load forward search clip pack write verify total; do
    v=$(jget "$1" "$2.$k")
    out="$out${out:+, }\"$k\": $(jnum "$v")"
  done
  printf '{%s}' "$out"
}

target() { # target NAME VALUE LIMIT UNIT
  local st=fail
  if [ "$MODE" = rehearse ]; then
    st=skip # CPU figures say nothing about the GPU's
  elif [ -n "$2" ] && [ "$2" != null ]; then
    awk -v v="$2" -v l="$3" 'BEGIN {exit !(v <= l)}' && st=pass
  fi
  record "$1" "$st" 0 ", \"value\": $(jnum "$2"), \"limit\": $3, \"unit\": $(jstr "$4")"
}

# ==================================================================== main

if [ "$MODE" = rehearse ]; then
  TINY_SAMPLES=4 TINY_SEQLEN=64 PPL_SEQLEN=64 PPL_CHUNKS=4
  TINY_STANDIN=(--preset tiny --layers 1 --hidden 128 --intermediate 256 --heads 2 --kv-heads 1)
  BLOCKS_7B=4 BLOCKS_70B=4 SPEED_SEQLEN=64 SPEED_CAP=60 SPEED_RESERVE=20
  SYNTH_7B=(--preset tiny --layers 2 --hidden 128 --intermediate 256 --heads 2 --kv-heads 1)
  SYNTH_70B=(--preset tiny --layers 1 --hidden 256 --intermediate 512 --heads 4 --kv-heads 1)
  # a smaller search: the same code paths, a fraction of the work
  N_GRID=4 CLIP_TOKENS=64
  SEARCH_ARGS=(--n-grid "$N_GRID" --clip-tokens "$CLIP_TOKENS")
  SHAPE_7B="128 256 2 1 64" SHAPE_70B="256 512 4 1 64"
else
  TINY_SAMPLES=64 TINY_SEQLEN=256 PPL_SEQLEN=256 PPL_CHUNKS=40
  # 7B: 128 x 512 tokens, the target's; the 70B layer (4.3 times the
  # work per token): 64 x 512, what AutoAWQ's 128 documents usually make
  BLOCKS_7B=128 BLOCKS_70B=64 SPEED_SEQLEN=512 SPEED_CAP=150 SPEED_RESERVE=60
  SYNTH_7B=(--preset 7b --layers 3)
  SYNTH_70B=(--preset 70b-layer --layers 1)
  N_GRID=20 CLIP_TOKENS=512 # the defaults, AutoAWQ's
  SEARCH_ARGS=()
  SHAPE_7B="4096 11008 32 32 128" SHAPE_70B="8192 28672 64 8 128"
fi

say "gpu_check ($MODE): budget ${BUDGET} s, scratch $W, results $JSON"
machine_info
write_json
trap 'say "gpu_check: interrupted"; write_json; exit 1' INT TERM

step_build
# What runs the cuda legs: this awqkit on the GPU; in the rehearsal the
# awqkit built on the CUDA emulation (CPU-only builds; its device memory
# guarded so that host code touching it faults), else this awqkit on the
# CPU with one thread against all (the results must not depend on the
# thread count either).
CUDA_CLI=("${AWQKIT:-awqkit}") CUDA_OPTS=() CUDA_RUNS_ON=gpu
if [ "$MODE" = rehearse ]; then
  if [ -x "$BIN/tests/awqkit_cuda_emu" ]; then
    CUDA_CLI=(env AWQ_EMU_GUARD_DEVICE=1 "$BIN/tests/awqkit_cuda_emu") DEV=cuda CUDA_RUNS_ON=emulator
  else
    CUDA_OPTS=(--threads 1) DEV=cpu CUDA_RUNS_ON=cpu
  fi
fi
# The timed runs: on the GPU; in the rehearsal on the CPU (the emulation
# is too slow to time anything; the tiny step runs the pipeline on it).
SPEED_CLI=("${CUDA_CLI[@]}") SPEED_DEV=$DEV
[ "$MODE" = rehearse ] && SPEED_CLI=("${AWQKIT:-awqkit}") SPEED_DEV=cpu
say "cuda legs run on: $CUDA_RUNS_ON"
write_json
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

if [ -x "${AWQKIT:-}" ] && [ -x "${UTIL:-}" ] && [ -x "${JSONGET:-}" ]; then
  # the reserve keeps time for the steps after it; half of a short budget
  # (a rerun's) so that the tests still get theirs
  want ctest && step_ctest ctest_cuda "$(cap 120 $((BUDGET < 500 ? BUDGET / 2 : 250)))" -L cuda -E memcheck
  want ctest && if [ "$MODE" = rehearse ]; then
    if [ -x "$BIN/tests/test_cuda_emu" ]; then step_ctest ctest_cuda_emu "$(cap 60 200)" -R '^test_cuda_emu$'
    else record ctest_cuda_emu skip 0 ', "detail": "a CUDA build has no emulator test"'; fi
  fi
  # the strict comparison (same ratios except near ties, weights within a
  # step) at fp32, where the backends differ only in summation order, and
  # the default bf16 search; every candidate over every sequence
  # (--screen 0), so that near ties are judged on whole losses
  want tiny && step_tiny "" --precision fp32 --screen 0
  want tiny && step_tiny _bf16 --precision bf16 --screen 0
  SPEED_RESERVE_SAVED=$SPEED_RESERVE
  if want 7b; then
    step_speed speed_7b 32 "$SHAPE_7B" "$BLOCKS_7B" "${SYNTH_7B[@]}"
    M7=$LAST_MODEL G7=$LAST_GPU_MIB R7=$LAST_RSS_KIB
    target target_7b_seconds "$M7" 60 "seconds (extrapolated 32-layer model)"
    target target_7b_gpu_memory "$( [ "$G7" != null ] && awk -v m="$G7" 'BEGIN {print m * 1048576}')" 16000000000 bytes
    target target_7b_host_rss "$( [ -n "$R7" ] && awk -v k="$R7" 'BEGIN {print k * 1024}')" 4000000000 bytes
  fi
  # the sanitizer before the 70B layer: correctness first, and the 70B
  # run gets what is left
  want memcheck && step_ctest memcheck "$(cap 150 "$SPEED_RESERVE_SAVED")" -L cuda -R memcheck
  SPEED_RESERVE=5
  want 70b && step_speed speed_70b 80 "$SHAPE_70B" "$BLOCKS_70B" "${SYNTH_70B[@]}"
  # with the time left: the sanitizer's race and barrier checkers (shared
  # memory races that a missing __syncthreads leaves; the emulation runs
  # threads in an order, so it cannot see them)
  if want racecheck; then
    if [ "$(cap 150 5)" -ge 30 ]; then
      AWQ_SANITIZER_TOOLS="racecheck synccheck" step_ctest racecheck "$(cap 150 5)" -L cuda -R memcheck
    else
      record racecheck skip 0 ', "detail": "no time left"'
    fi
  fi
else
  say "no usable build: the remaining checks cannot run"
fi

COMPLETE=1
write_json
tar -C "$W" -czf "$RESULTS/logs.tar.gz" logs $(cd "$W" && ls *.json *.poll *.tsv 2>/dev/null) 2>/dev/null
summary="gpu_check: $SUM_PASS pass, $SUM_FAIL fail, $SUM_SKIP skip ($MODE, $(( $(date +%s) - START )) s)"
[ -n "${M7:-}" ] && summary="$summary; 7B extrapolated ${M7} s"
[ "${G7:-null}" != null ] && summary="$summary, GPU +${G7} MiB"
[ -n "${R7:-}" ] && summary="$summary, host RSS $((R7 / 1024)) MiB"
say "$summary; JSON: $JSON"
[ "$SUM_FAIL" = 0 ]
