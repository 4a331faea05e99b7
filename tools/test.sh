#!/usr/bin/env bash
# tools/test.sh — install what is missing, build, run the whole test suite.
#   bash tools/test.sh             # everything (ctest summary at the end)
# Environment: AWQ_BUILD_DIR (default build/), AWQ_JOBS (default nproc),
# AWQ_SKIP_ASAN=1 skips the sanitizer pass, AWQ_SKIP_PYTHON=1 the Python package.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$root/tools/deps.sh"
awq_install_deps chromium # + headless Chromium for the audit report render test

jobs=${AWQ_JOBS:-$(nproc)}
build=${AWQ_BUILD_DIR:-$root/build}
t0=$(date +%s)

# 1) The normal build (CUDA kernels compiled when nvcc is present; CUDA tests
#    skip without a GPU) with warnings as errors, and the full suite.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAWQ_WERROR=ON >/dev/null
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs"

# 2) AddressSanitizer + UBSan build of the library, running the unit and
#    fuzz-corpus tests: every parser must survive hostile input.
if [ "${AWQ_SKIP_ASAN:-0}" != 1 ]; then
    asan="$build-asan"
    cmake -S "$root" -B "$asan" -DCMAKE_BUILD_TYPE=Debug -DAWQ_SANITIZE=ON -DAWQ_CUDA=OFF \
          -DAWQ_WERROR=ON >/dev/null
    cmake --build "$asan" -j"$jobs"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --test-dir "$asan" --output-on-failure -j"$jobs" -L 'unit|fuzz'
fi
# 3) The Python package: `pip install .` (its own fresh CMake build) into a
#    new venv with pytest from PyPI, then the pytest suite. AWQ_SKIP_PYTHON=1
#    skips.
if [ "${AWQ_SKIP_PYTHON:-0}" != 1 ]; then
    venv="$build-venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    CMAKE_BUILD_PARALLEL_LEVEL=$jobs "$venv/bin/pip" install -q --disable-pip-version-check \
        "$root" pytest
    (cd "$root" && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python)
fi
echo "awqkit: test suite finished in $(( $(date +%s) - t0 )) s"
