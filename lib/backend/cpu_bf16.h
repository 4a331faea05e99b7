/* lib/backend/cpu_bf16.h — the CPU gemm at AWQ_GEMM_BF16 (cpu_bf16.c,
 * oneDNN when built with it). Internal to lib/backend. */
#ifndef AWQ_LIB_BACKEND_CPU_BF16_H
#define AWQ_LIB_BACKEND_CPU_BF16_H

#include "backend/backend.h"

/* Whether bf16 GEMMs can run here; when not, *why is the status of the
 * message set on ctx (no oneDNN in the build, no AVX512-BF16). */
bool awq_cpu_bf16_available(awq_ctx *ctx, awq_status *why);
/* y = x W^T (+ bias) with x, W rounded to bf16, fp32 accumulation; shapes
 * already validated by the caller (cpu_gemm), M, N, K > 0. */
awq_status awq_cpu_gemm_bf16(awq_backend *be, const float *x, const float *w,
                             const float *bias, float *y, int64_t M, int64_t N,
                             int64_t K);

/* gemm_multi at bf16 (backend.h): each slice of x rounded to bf16 once for
 * the n GEMMs; bit-identical to n awq_cpu_gemm_bf16 calls. Only where
 * awq_cpu_bf16_multi_ok(M) (x cut in row slices; below that a GEMM slices
 * W instead); N[i], K > 0, shapes validated by the caller. */
bool awq_cpu_bf16_multi_ok(int64_t M);
awq_status awq_cpu_gemm_bf16_multi(awq_backend *be, const float *x, int n, const float *const *w,
                                   const float *const *bias, float *const *y, const int64_t *N,
                                   int64_t M, int64_t K);

/* dst[i] = the bf16 bits of awq_round_bf16(src[i]) (vectorised; any build). */
void awq_cpu_cvt_bf16(const float *src, uint16_t *dst, int64_t n);

#endif
