# Tests of the CUDA backend (lib/backend/cuda*.c, kernels/), included from
# backend.cmake.
#   test_cuda           every op and quantization kernel on the GPU against
#                       the CPU oracles; skips (77) without CUDA or a GPU.
#   test_cuda_memcheck  test_cuda under compute-sanitizer memcheck; skips
#                       without the sanitizer or a GPU.
#   test_cuda_emu       the same test, host glue and kernels on the CPU
#                       emulation of tests/unit/cuda_emu (C++), so builds
#                       without a GPU still run every kernel. Only in builds
#                       without CUDA: it defines the CUDA runtime / cuBLAS
#                       symbols itself. test_cuda_emu_reverse: the same with
#                       the emulator's reverse schedule.
awq_add_test(test_cuda SOURCES unit/test_cuda.c LABELS cuda TIMEOUT 900)
add_test(NAME test_cuda_memcheck
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cuda_memcheck.sh $<TARGET_FILE:test_cuda>)
set_tests_properties(test_cuda_memcheck PROPERTIES LABELS cuda SKIP_RETURN_CODE 77
                     TIMEOUT 3600)
if(NOT AWQ_HAVE_CUDA)
  enable_language(CXX)
  set(AWQ_EMU_DIR ${CMAKE_CURRENT_LIST_DIR}/cuda_emu)
  awq_add_test(test_cuda_emu LABELS unit TIMEOUT 900 SOURCES
    unit/test_cuda.c
    ${PROJECT_SOURCE_DIR}/lib/backend/cuda.c
    ${PROJECT_SOURCE_DIR}/lib/backend/cuda_prof.c
    ${PROJECT_SOURCE_DIR}/lib/backend/cuda_quant.c
    ${AWQ_EMU_DIR}/cuda_emu.cpp
    ${AWQ_EMU_DIR}/emu_elementwise.cpp
    ${AWQ_EMU_DIR}/emu_attention.cpp
    ${AWQ_EMU_DIR}/emu_quant.cpp)
  # device memory inaccessible to host code outside emulated device
  # operations (cuda_emu.cpp), as on a GPU
  set_property(TEST test_cuda_emu APPEND PROPERTY ENVIRONMENT AWQ_EMU_GUARD_DEVICE=1)
  # again with blocks and threads scheduled in reverse: results that depend
  # on the order (a missing barrier) change, and the exact checks fail
  # (not in the sanitizer build, where it would only double the time)
  if(NOT AWQ_SANITIZE)
    add_test(NAME test_cuda_emu_reverse COMMAND test_cuda_emu)
    set_tests_properties(test_cuda_emu_reverse PROPERTIES LABELS unit TIMEOUT 900
      SKIP_RETURN_CODE 77 ENVIRONMENT
      "AWQ_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp;AWQ_EMU_GUARD_DEVICE=1;AWQ_EMU_SCHEDULE=reverse")
  endif()
  # the fake cuda_runtime_api.h / cublas_v2.h shadow any real ones
  target_include_directories(test_cuda_emu BEFORE PRIVATE ${AWQ_EMU_DIR})
  target_compile_definitions(test_cuda_emu PRIVATE AWQ_HAVE_CUDA=1 AWQ_CUDA_EMU=1)
  set_target_properties(test_cuda_emu PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
  # IEEE single operations, as the GPU with -fmad=false and the intrinsics
  target_compile_options(test_cuda_emu PRIVATE -ffp-contract=off
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-unknown-pragmas>)
  # Under AWQ_SANITIZE the emulated kernels are instrumented too: their
  # device-memory accesses (host buffers here) are bounds-checked.
  if(AWQ_SANITIZE)
    target_compile_options(test_cuda_emu PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer>)
  endif()
endif()
