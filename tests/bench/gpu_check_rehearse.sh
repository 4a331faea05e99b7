#!/usr/bin/env bash
# tests/bench/gpu_check_rehearse.sh — ctest gpu_check_rehearse: runs
# tests/bench/gpu_check.sh --rehearse on this build (every step of the GPU
# check, reduced sizes; the cuda legs on the CUDA emulation in CPU-only
# builds, else on the CPU; the timed legs on the CPU) and checks that it passes and that its JSON report has every field the
# real run fills, so that the one GPU run cannot fail for a typo; then the
# carried-build stamp: it matches these sources and a tampered one is
# refused.
# Environment (tests/bench/gpu_check.cmake): AWQ_JSON (awq_json_get),
# AWQ_BUILD_DIR (this build), plus lib.sh's.
. "$AWQ_TESTS/e2e/lib.sh"
: "${AWQ_JSON:?}" "${AWQ_BUILD_DIR:?}"
script="$AWQ_TESTS/bench/gpu_check.sh"

expect_exit 0 "rehearsal passes" \
  bash "$script" --rehearse --build-dir "$AWQ_BUILD_DIR" --work "$T/work" --out "$T/res"
sed 's/^/  | /' "$T/out"
stdout_has "gpu_check: "
stdout_has " 0 fail"
j="$T/res/gpu_check.json"
check "the JSON report exists" test -s "$j"
check "the transcript exists" test -s "$T/res/gpu_check.log"
check "the logs archive exists" test -s "$T/res/logs.tar.gz"

# eq PATH VALUE: the report's value at PATH
eq() {
  local v
  v=$("$AWQ_JSON" "$j" "$1" 2>&1)
  if [ "$v" = "$2" ]; then ok; else bad "$1 = '$v', want '$2'"; fi
}
# has PATH...: every path is present
has() {
  local p
  for p in "$@"; do
    if "$AWQ_JSON" "$j" "$p" >/dev/null 2>&1; then ok; else bad "report lacks $p"; fi
  done
}
# num PATH...: a number (not null)
num() {
  local p v
  for p in "$@"; do
    v=$("$AWQ_JSON" "$j" "$p" 2>/dev/null)
    if [[ $v =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then ok; else bad "$p = '$v', not a number"; fi
  done
}

eq schema awqkit-gpu-check/1
eq mode rehearse
# a CPU-only build runs the cuda legs on the CUDA emulation (awqkit_cuda_emu)
if [ -x "$AWQ_BUILD_DIR/tests/awqkit_cuda_emu" ]; then
  eq cuda_runs_on emulator
  eq checks.tiny_quantize.device cuda
else
  eq cuda_runs_on cpu
fi
eq summary.fail 0
eq summary.complete true
num elapsed_seconds budget_seconds summary.pass summary.skip
has source.stamp source.git machine.gpu machine.driver machine.cuda_driver_version \
    machine.nvcc machine.cpu_cores machine.host_memory_kib thresholds.model_7b_seconds \
    thresholds.gpu_memory_bytes thresholds.host_rss_bytes thresholds.ppl_rel_diff
eq source.stamp "$(bash "$script" --stamp)"

# every check, in order, with its status
checks="build ctest_cuda ctest_cuda_emu tiny_quantize tiny_ratios tiny_weights tiny_ppl
        tiny_ppl_device speed_7b target_7b_seconds target_7b_gpu_memory target_7b_host_rss
        memcheck speed_70b racecheck"
for c in $checks; do has "checks.$c.status" "checks.$c.seconds"; done
eq checks.build.status pass
eq checks.build.how carried
eq checks.build.stamp_match true
num checks.build.sizes.payload_bytes checks.build.sizes.carry_bytes checks.build.sizes.total_bytes
# the cuda tests are skipped without a GPU; the emulator runs every kernel
eq checks.ctest_cuda.status pass
eq checks.ctest_cuda.tests.0.name test_cuda
eq checks.ctest_cuda.tests.0.status skip
if [ -x "$AWQ_BUILD_DIR/tests/test_cuda_emu" ]; then eq checks.ctest_cuda_emu.passed 1
else eq checks.ctest_cuda_emu.status skip; fi # a CUDA build has no emulator test
eq checks.memcheck.tests.0.name test_cuda_memcheck
for c in tiny_quantize tiny_ratios tiny_weights tiny_ppl tiny_ppl_device speed_7b speed_70b; do
  eq "checks.$c.status" pass
done
num checks.tiny_quantize.cuda.wall_seconds checks.tiny_quantize.cpu.search_seconds
eq checks.tiny_ratios.compare.ok true
num checks.tiny_ratios.compare.groups checks.tiny_ratios.compare.differ
eq checks.tiny_weights.compare.ok true
num checks.tiny_weights.compare.max_steps checks.tiny_weights.compare.linears
num checks.tiny_ppl.ppl_fp16 checks.tiny_ppl.ppl_quantized_on_cuda checks.tiny_ppl.rel_diff
num checks.tiny_ppl_device.ppl_on_cuda checks.tiny_ppl_device.rel_diff
for c in speed_7b speed_70b; do
  num "checks.$c.calibration.blocks" "checks.$c.phase_seconds.total" "checks.$c.phase_seconds.search" \
      "checks.$c.layer_seconds.0" "checks.$c.steady_layer_seconds" \
      "checks.$c.extrapolated_model_seconds" "checks.$c.host_max_rss_kib" \
      "checks.$c.host_rss_mib_peak_sampled" "checks.$c.layers_done"
  has "checks.$c.gpu_used_mib_peak" "checks.$c.series_seconds_gpu_mib_rss_mib"
done
eq checks.speed_7b.calibration.blocks 4
num checks.speed_7b.achieved_tflops_estimate checks.speed_7b.layer_flops_estimate
eq checks.speed_7b.model_layers 32
eq checks.speed_70b.model_layers 80
eq checks.speed_7b.layers_done 2
num checks.target_7b_seconds.value checks.target_7b_host_rss.value
for c in target_7b_seconds target_7b_gpu_memory target_7b_host_rss; do eq "checks.$c.status" skip; done
has checks.target_7b_seconds.limit checks.target_7b_gpu_memory.limit

# the stamp of a carried build
expect_exit 0 "the packed build's stamp matches" bash "$script" --verify-stamp "$T/work/carry"
cp -r "$T/work/carry" "$T/stale"
echo 0123456789abcdef01234567 >"$T/stale/stamp"
expect_exit 1 "a stale stamp is refused" bash "$script" --verify-stamp "$T/stale"
stderr_has "stale"
expect_exit 2 "an unknown option is a usage error" bash "$script" --bogus
stderr_has "--bogus"
finish
