# CUDA sources of the GPU backend (compiled only when AWQ_HAVE_CUDA).
list(APPEND AWQ_CUDA_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/elementwise.cu
  ${CMAKE_CURRENT_LIST_DIR}/attention.cu
  ${CMAKE_CURRENT_LIST_DIR}/quant.cu
)
# -fmad=false: no multiply-add is ever contracted into an FMA, so every
# kernel computes exactly the correctly rounded operations it spells out.
# The quantizer and clip search must be bit-identical to the C oracles
# (lib/quant/qmath.h) and rope / scale / add to the CPU backend; FMAs that
# are wanted (dot products) are written as explicit fmaf, which the flag
# does not touch. Strict warnings for the device and host passes (errors
# with AWQ_WERROR).
set_source_files_properties(
  ${CMAKE_CURRENT_LIST_DIR}/elementwise.cu
  ${CMAKE_CURRENT_LIST_DIR}/attention.cu
  ${CMAKE_CURRENT_LIST_DIR}/quant.cu
  PROPERTIES COMPILE_OPTIONS "-fmad=false;-Xcompiler=-Wall,-Wextra,-Wno-unused-parameter;$<$<BOOL:${AWQ_WERROR}>:-Werror=all-warnings>")
