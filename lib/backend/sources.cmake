# Sources of lib/backend, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/backend.c
  ${CMAKE_CURRENT_LIST_DIR}/cpu.c
  ${CMAKE_CURRENT_LIST_DIR}/cpu_attn.c
  ${CMAKE_CURRENT_LIST_DIR}/cpu_attn_bf16.c
  ${CMAKE_CURRENT_LIST_DIR}/cpu_bf16.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda_prof.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda_quant.c
)
# The CPU kernels are written to be vectorised; -O3 also in the default
# RelWithDebInfo build (-O2). They use GCC vector extensions in always-
# inlined helpers (cpu_simd.h): -Wno-psabi silences the note about the
# (unused) out-of-line vector ABI. cpu.c: -ffp-contract=off keeps every
# product and sum separately rounded, the operation order the CUDA backend
# reproduces bit for bit (rope, scale_cols/rows, add).
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu.c
  PROPERTIES COMPILE_OPTIONS "-O3;-Wno-psabi;-ffp-contract=off")
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu_attn.c
  PROPERTIES COMPILE_OPTIONS "-O3;-Wno-psabi")
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu_attn_bf16.c
  PROPERTIES COMPILE_OPTIONS "-O3;-Wno-psabi")
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/cpu_bf16.c
  PROPERTIES COMPILE_OPTIONS "-O3;-Wno-psabi")
