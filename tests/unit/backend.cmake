# Tests of lib/backend and the forward pass (lib/model/forward.c, rope.c,
# ppl.c). Fixtures: tests/ref (made by tests/ref/make_forward_ref.py).
awq_add_test(test_backend SOURCES unit/test_backend.c LABELS unit)
awq_add_test(test_gemm_bf16 SOURCES unit/test_gemm_bf16.c LABELS unit)
awq_add_test(test_cvt_bf16 SOURCES unit/test_cvt_bf16.c LABELS unit)
awq_add_test(test_attn_bf16 SOURCES unit/test_attn_bf16.c LABELS unit)
awq_add_test(test_forward SOURCES unit/test_forward.c LABELS unit)
awq_add_test(test_mla SOURCES unit/test_mla.c LABELS unit)
awq_add_test(test_clip SOURCES unit/test_clip.c LABELS unit)
awq_add_test(test_clip_gram SOURCES unit/test_clip_gram.c LABELS unit)
awq_add_test(test_qmath_lane SOURCES unit/test_qmath_lane.c LABELS unit)
include(${CMAKE_CURRENT_LIST_DIR}/cuda.cmake)
