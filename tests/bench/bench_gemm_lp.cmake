# GEMM rates of OpenBLAS sgemm vs oneDNN bf16 on the search's shapes (not a
# test: run by hand, see BENCHMARKS.md): <build>/tests/bench_gemm_lp
# Built only where oneDNN was found (AWQ_DNNL_LIB, top-level CMakeLists).
if(AWQ_DNNL_INCLUDE AND AWQ_DNNL_LIB AND OpenMP_C_FOUND)
  add_executable(bench_gemm_lp bench/bench_gemm_lp.c)
  target_include_directories(bench_gemm_lp PRIVATE ${AWQ_DNNL_INCLUDE} ${PROJECT_SOURCE_DIR}/lib)
  target_compile_options(bench_gemm_lp PRIVATE ${AWQ_WARNINGS})
  target_link_libraries(bench_gemm_lp PRIVATE awqkit)
endif()
