# Sources of lib/quant, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/quantizer.c
  ${CMAKE_CURRENT_LIST_DIR}/actstore.c
  ${CMAKE_CURRENT_LIST_DIR}/awq_search.c
  ${CMAKE_CURRENT_LIST_DIR}/awq_pick.c
  ${CMAKE_CURRENT_LIST_DIR}/awq_gram.c
  ${CMAKE_CURRENT_LIST_DIR}/moe_awq.c
  ${CMAKE_CURRENT_LIST_DIR}/qmoe.c
  ${CMAKE_CURRENT_LIST_DIR}/quantize.c
  ${CMAKE_CURRENT_LIST_DIR}/quantize_prepare.c
  ${CMAKE_CURRENT_LIST_DIR}/quantize_assemble.c
  ${CMAKE_CURRENT_LIST_DIR}/quantize_replay.c
  ${CMAKE_CURRENT_LIST_DIR}/layer_saver.c
  ${CMAKE_CURRENT_LIST_DIR}/qz_device_pack.c
  ${CMAKE_CURRENT_LIST_DIR}/qpreflight.c
  ${CMAKE_CURRENT_LIST_DIR}/srcscan.c
  ${CMAKE_CURRENT_LIST_DIR}/pack.c
  ${CMAKE_CURRENT_LIST_DIR}/pack_layouts.c
  ${CMAKE_CURRENT_LIST_DIR}/qckpt.c
  ${CMAKE_CURRENT_LIST_DIR}/repack.c
  ${CMAKE_CURRENT_LIST_DIR}/verify.c
  ${CMAKE_CURRENT_LIST_DIR}/werr.c
  ${CMAKE_CURRENT_LIST_DIR}/count.c
  ${CMAKE_CURRENT_LIST_DIR}/detect.c
  ${CMAKE_CURRENT_LIST_DIR}/scan.c
  ${CMAKE_CURRENT_LIST_DIR}/formats.c
  ${CMAKE_CURRENT_LIST_DIR}/ctconfig.c
  ${CMAKE_CURRENT_LIST_DIR}/consumers.c
  ${CMAKE_CURRENT_LIST_DIR}/size.c
  ${CMAKE_CURRENT_LIST_DIR}/clip.c
  ${CMAKE_CURRENT_LIST_DIR}/clip_gram.c
  ${CMAKE_CURRENT_LIST_DIR}/ct.c
  ${CMAKE_CURRENT_LIST_DIR}/ct_float.c
  ${CMAKE_CURRENT_LIST_DIR}/verify_ct.c
  ${CMAKE_CURRENT_LIST_DIR}/ctckpt.c
  ${CMAKE_CURRENT_LIST_DIR}/outfiles.c
)
# The quantizer's inner loops are written to be vectorised (branch-free
# clamps, no libm calls). -O2's "very cheap" cost model skips loops with a
# remainder, and GCC will not if-convert float compares while it must keep
# FP exception flags exact (-ftrapping-math, which awqkit never relies on).
# Neither option changes any computed value.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/quantizer.c PROPERTIES
  COMPILE_OPTIONS "$<$<C_COMPILER_ID:GNU,Clang>:-fno-trapping-math>;$<$<AND:$<C_COMPILER_ID:GNU>,$<NOT:$<CONFIG:Debug>>>:-ftree-vectorize;-fvect-cost-model=dynamic>")
# clip.c must round exactly like the CUDA kernels (quant/qmath.h): no
# contraction of a multiply and an add into an FMA in its x86-64-v3 clone.
# Its per-weight loops (statistics, candidate deltas) are vectorised as
# quantizer.c's are; neither option below changes a computed value.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/clip.c PROPERTIES
  COMPILE_OPTIONS "-ffp-contract=off;$<$<C_COMPILER_ID:GNU,Clang>:-fno-trapping-math>;$<$<AND:$<C_COMPILER_ID:GNU>,$<NOT:$<CONFIG:Debug>>>:-ftree-vectorize;-fvect-cost-model=dynamic>")
# clip_gram.c: its results are defined by explicit fmaf / FMA intrinsics and
# uncontracted double sums (quant/clip.h), the same in every build; -O3
# vectorises the Gram matrix's double sums.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/clip_gram.c PROPERTIES
  COMPILE_OPTIONS "-O3;-ffp-contract=off")
