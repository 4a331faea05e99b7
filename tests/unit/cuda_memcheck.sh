#!/usr/bin/env bash
# tests/unit/cuda_memcheck.sh TEST_BINARY — run the CUDA backend test under
# compute-sanitizer's memcheck (out-of-bounds and misaligned device
# accesses, invalid frees, leaks of device memory at exit), failing on any
# report. Skips (exit 77) when compute-sanitizer is not installed or no GPU
# is usable (the test binary's --probe says so).
# AWQ_SANITIZER_TOOLS="memcheck racecheck synccheck initcheck" runs more
# tools, one after another (default: memcheck).
set -u
bin="${1:?usage: cuda_memcheck.sh path/to/test_cuda}"
cs="$(command -v compute-sanitizer || true)"
if [ -z "$cs" ]; then
  for d in "${CUDA_HOME:-}" /usr/local/cuda /opt/cuda; do
    if [ -n "$d" ] && [ -x "$d/bin/compute-sanitizer" ]; then cs="$d/bin/compute-sanitizer"; break; fi
  done
fi
if [ -z "$cs" ]; then
  echo "SKIP: compute-sanitizer not found (install the CUDA Toolkit's sanitizer)"
  exit 77
fi
"$bin" --probe
rc=$?
if [ $rc -eq 77 ]; then
  echo "SKIP: no usable GPU"
  exit 77
elif [ $rc -ne 0 ]; then
  echo "FAIL: $bin --probe exited $rc"
  exit 1
fi
# the test's deliberate out-of-memory call would count as an API error
export AWQ_TEST_SKIP_OOM=1
for tool in ${AWQ_SANITIZER_TOOLS:-memcheck}; do
  extra=()
  if [ "$tool" = memcheck ]; then extra=(--leak-check full); fi
  echo "== compute-sanitizer --tool $tool"
  if ! "$cs" --tool "$tool" "${extra[@]}" --error-exitcode 1 "$bin"; then
    echo "FAIL: compute-sanitizer --tool $tool reported errors"
    exit 1
  fi
done
echo "compute-sanitizer: clean"
