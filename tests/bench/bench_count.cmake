# Header-only 70B compressed-tensors checkpoint for timing `awqkit count`
# (not a test: see BENCHMARKS.md):  <build>/tests/gen_ct_header OUTDIR
add_executable(gen_ct_header bench/gen_ct_header.c)
target_compile_options(gen_ct_header PRIVATE ${AWQ_WARNINGS})
