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

# awqkit_cuda_emu: the awqkit CLI built with the CUDA backend on the CPU
# emulation of tests/unit/cuda_emu (builds without CUDA only, as
# test_cuda_emu). The rehearsal runs its `--device cuda` legs with it, so
# the whole pipeline's CUDA path (forward, search, clip, the host/device
# copies) runs before any GPU does; the emulated device memory is guarded
# (AWQ_EMU_GUARD_DEVICE=1) so that host code touching it faults here as it
# would on a GPU.
if(NOT AWQ_HAVE_CUDA AND AWQ_BUILD_TOOLS)
  enable_language(CXX)
  set(AWQ_EMU_DIR ${PROJECT_SOURCE_DIR}/tests/unit/cuda_emu)
  add_executable(awqkit_cuda_emu ${AWQ_TOOL_SOURCES} ${AWQ_LIB_SOURCES}
    ${AWQ_EMU_DIR}/cuda_emu.cpp ${AWQ_EMU_DIR}/emu_elementwise.cpp
    ${AWQ_EMU_DIR}/emu_attention.cpp ${AWQ_EMU_DIR}/emu_quant.cpp)
  # the per-file options of the library's sources (set in the top
  # directory, where they do not reach this target)
  foreach(src ${AWQ_LIB_SOURCES})
    get_source_file_property(opts ${src} DIRECTORY ${PROJECT_SOURCE_DIR} COMPILE_OPTIONS)
    if(opts)
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${opts}")
    endif()
  endforeach()
  target_include_directories(awqkit_cuda_emu BEFORE PRIVATE ${AWQ_EMU_DIR})
  target_include_directories(awqkit_cuda_emu PRIVATE ${PROJECT_SOURCE_DIR}/include
    ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/kernels ${PROJECT_SOURCE_DIR}/tools)
  target_compile_definitions(awqkit_cuda_emu PRIVATE AWQ_HAVE_CUDA=1 AWQ_CUDA_EMU=1
    PCRE2_CODE_UNIT_WIDTH=8
    AWQ_DEFAULT_CALIB="${PROJECT_SOURCE_DIR}/data/text/calib-wikitext2-valid.jsonl.zst")
  set_target_properties(awqkit_cuda_emu PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
  target_compile_options(awqkit_cuda_emu PRIVATE -ffp-contract=off
    $<$<COMPILE_LANGUAGE:C>:${AWQ_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-unknown-pragmas>)
  target_link_libraries(awqkit_cuda_emu PRIVATE PkgConfig::AWQ_OPENBLAS PkgConfig::AWQ_CJSON
    PkgConfig::AWQ_ZSTD PkgConfig::AWQ_PCRE2 PkgConfig::AWQ_UTF8PROC PkgConfig::AWQ_XXHASH
    Threads::Threads ${AWQ_LIBM})
endif()
