# The one-command GPU check (tests/bench/gpu_check.sh; BENCHMARKS.md, "GPU
# check"): its measurement helper, and an e2e test of the script's CPU
# rehearsal (every step's plumbing, reduced sizes, --device cpu standing in
# for cuda, the CUDA emulator for the kernel tests), which checks that the
# JSON report has every field.
add_executable(awq_gpu_check_util bench/gpu_check_util.c)
target_compile_options(awq_gpu_check_util PRIVATE ${AWQ_WARNINGS})
target_link_libraries(awq_gpu_check_util PRIVATE awqkit)
awq_add_script_test(gpu_check_rehearse SCRIPT bench/gpu_check_rehearse.sh LABELS e2e TIMEOUT 120)
set_property(TEST gpu_check_rehearse APPEND PROPERTY ENVIRONMENT
  "AWQ_JSON=$<TARGET_FILE:awq_json_get>;AWQ_GPU_UTIL=$<TARGET_FILE:awq_gpu_check_util>;AWQ_BUILD_DIR=${PROJECT_BINARY_DIR}")
