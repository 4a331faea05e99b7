# Forward-pass throughput benchmark (not a test: run it by hand, see
# BENCHMARKS.md):  <build>/tests/bench_forward [--threads N] [--quick]
add_executable(bench_forward bench/bench_forward.c)
target_include_directories(bench_forward PRIVATE ${PROJECT_SOURCE_DIR}/lib)
target_compile_options(bench_forward PRIVATE ${AWQ_WARNINGS})
target_compile_definitions(bench_forward PRIVATE AWQ_BENCH_DATA="${PROJECT_SOURCE_DIR}/data")
target_link_libraries(bench_forward PRIVATE awqkit)
