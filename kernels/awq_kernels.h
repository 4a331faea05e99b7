/*
 * kernels/awq_kernels.h — C entry points of the kernels (the launchers),
 * called by the host glue lib/backend/cuda.c and cuda_quant.c.
 *
 * Conventions: every pointer is device memory; launchers only queue work on
 * `st` and return cudaGetLastError() (a launch-configuration error), never
 * synchronise, and validate nothing: the host glue checks shapes first.
 * Error words (uint64 "first failing item") must be set to all ones
 * (cudaMemsetAsync 0xff) before the launch; a kernel lowers them with
 * atomicMin, so the smallest failing index wins whatever the schedule.
 */
#ifndef AWQ_KERNELS_AWQ_KERNELS_H
#define AWQ_KERNELS_AWQ_KERNELS_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cudaSuccess when this binary has kernels the current device can run;
 * cudaErrorNoKernelImageForDevice (or another error) otherwise. */
cudaError_t awq_k_probe(void);

/* ------------------------------------------------------ elementwise.cu */

/* y[i, :] = bias for every row of y [M, N]. */
cudaError_t awq_k_bias_rows(cudaStream_t st, float *y, const float *bias,
                            int64_t M, int64_t N);
/* y[i] = fp16 (bf16 != 0: bf16) bits of x[i], round to nearest even. */
cudaError_t awq_k_to_half(cudaStream_t st, const float *x, uint16_t *y,
                          int64_t n, int bf16);
cudaError_t awq_k_rmsnorm(cudaStream_t st, const float *x, const float *w,
                          float *y, int64_t M, int64_t D, float eps);
cudaError_t awq_k_rope(cudaStream_t st, float *x, int64_t B, int64_t T,
                       int64_t n_heads, int64_t head_dim, const float *cos,
                       const float *sin, int64_t pos0);
cudaError_t awq_k_silu_mul(cudaStream_t st, const float *gate, const float *up,
                           float *out, int64_t n);
/* out[i] = act(gate[i]) * up[i], act: 1 = GELU tanh, 2 = GELU erf (SiLU
 * is awq_k_silu_mul). */
cudaError_t awq_k_gelu_mul(cudaStream_t st, const float *gate, const float *up,
                           float *out, int64_t n, int exact);
/* x[i] = cap * tanh(x[i] / cap). */
cudaError_t awq_k_softcap(cudaStream_t st, float *x, int64_t n, float cap);
cudaError_t awq_k_add(cudaStream_t st, float *y, const float *x, int64_t n);
cudaError_t awq_k_scale_cols(cudaStream_t st, float *x, const float *s,
                             int64_t M, int64_t N, int divide);
cudaError_t awq_k_scale_rows(cudaStream_t st, float *x, const float *s,
                             int64_t M, int64_t N, int divide);
cudaError_t awq_k_col_mean_abs(cudaStream_t st, const float *x, int64_t M,
                               int64_t N, float *out);
/* mean((a-b)^2) into *result (device double). partials: device scratch of
 * awq_k_mse_n_partials(n) doubles. */
int64_t awq_k_mse_n_partials(int64_t n);
cudaError_t awq_k_mse(cudaStream_t st, const float *a, const float *b,
                      int64_t n, double *partials, double *result);
/* *result (device double) = sum of a[i] * b[i] in the dot op's order
 * (blocks of `block` elements in index order, then the block sums in
 * order). partials: device scratch of ceil(n / block) doubles. */
cudaError_t awq_k_dot(cudaStream_t st, const float *a, const float *b,
                      int64_t n, int64_t block, double *partials,
                      double *result);
/* out[s] (device doubles, ceil(n / seg_len)) = sum of (a-b)^2 over segment
 * s, each with the bits of awq_k_mse's sum over that segment alone.
 * partials: device scratch of awq_k_sq_err_segs_n_partials(n, seg_len). */
int64_t awq_k_sq_err_segs_n_partials(int64_t n, int64_t seg_len);
cudaError_t awq_k_sq_err_segs(cudaStream_t st, const float *a, const float *b,
                              int64_t n, int64_t seg_len, double *partials,
                              double *out);
/* nll[r] (device double) for logits [M, V], targets (device int32). */
cudaError_t awq_k_nll_rows(cudaStream_t st, const float *logits,
                           const int32_t *targets, int64_t M, int64_t V,
                           double *nll);

/* -------------------------------------------------------- attention.cu */

/* Largest head_dim the attention kernel takes, and the dynamic shared
 * memory it needs for head_dim (0 when unsupported). */
#define AWQ_K_ATTN_MAX_HEAD_DIM 256
size_t awq_k_attention_smem(int64_t head_dim);
/* Causal GQA attention (layout of backend.h). max_smem: the device's
 * sharedMemPerBlockOptin; the caller checks awq_k_attention_smem fits. */
cudaError_t awq_k_attention(cudaStream_t st, const float *q, const float *k,
                            const float *v, float *out, int64_t B, int64_t T,
                            int64_t n_heads, int64_t n_kv_heads,
                            int64_t head_dim, float scale, float cap,
                            int64_t window);

/* ------------------------------------------------------------ quant.cu */

/* Quantize W [N, K] (groups of gl columns, G = ceil(K/gl)): q [N*K],
 * scales/zeros [G*N] (awq_qtensor layout). err: first failing n*G+g. */
cudaError_t awq_k_quantize(cudaStream_t st, const float *w, int64_t N,
                           int64_t K, int64_t gl, int bits, int sym,
                           uint8_t *q, uint16_t *scales, uint8_t *zeros,
                           unsigned long long *err);
/* out = pseudo-quantized w (out may equal w). err as above. */
cudaError_t awq_k_pseudo(cudaStream_t st, const float *w, float *out,
                         int64_t N, int64_t K, int64_t gl, int bits, int sym,
                         unsigned long long *err);
/* out[c] = Q(w * s_c) / s_c; err[c] = first failing n*G+g of candidate c. */
cudaError_t awq_k_pseudo_scaled(cudaStream_t st, const float *w,
                                const float *scales, int64_t n_cand,
                                float *out, int64_t N, int64_t K, int64_t gl,
                                int bits, int sym, unsigned long long *err);

/* Clip search, in four launches (see kernels/quant.cu):
 *   stats  [3][N*G] floats: min, max, max|w| of each group; err as above
 *          (non-finite weight, or unclipped scale beyond FP16);
 *   delta  D [n_steps][nc][K] for output rows n0 .. n0+nc-1;
 *   err    errs [n_steps][N][G] doubles for those rows;
 *   select max_val [N*G]. */
cudaError_t awq_k_clip_stats(cudaStream_t st, const float *w, int64_t N,
                             int64_t K, int64_t gl, int bits, int sym,
                             float *stats, unsigned long long *err);
cudaError_t awq_k_clip_delta(cudaStream_t st, const float *w,
                             const float *stats, int64_t n0, int64_t nc,
                             int64_t N, int64_t K, int64_t gl, int bits,
                             int sym, int n_grid, int n_steps, float *D);
cudaError_t awq_k_clip_err(cudaStream_t st, const float *D, const float *x,
                           int64_t n0, int64_t nc, int64_t N, int64_t K,
                           int64_t T, int64_t gl, int n_steps, double *errs);
cudaError_t awq_k_clip_select(cudaStream_t st, const float *stats,
                              const double *errs, int64_t N, int64_t G,
                              int n_grid, int n_steps, float *max_val);
cudaError_t awq_k_clip_apply(cudaStream_t st, float *w, int64_t N, int64_t K,
                             int64_t gl, const float *max_val);

/* Pack into `format` (awq_qformat). Z: GEMV zeros width (0 otherwise).
 * g_idx may be NULL (AWQ). zero0: count of zero points equal to 0 (GPTQ v1
 * cannot store them; set to 0 before). Output words are fully written. */
cudaError_t awq_k_pack(cudaStream_t st, int format, int64_t N, int64_t K,
                       int bits, int64_t gl, int64_t Z, const uint8_t *q,
                       const uint16_t *scales, const uint8_t *zeros,
                       uint32_t *qweight, uint32_t *qzeros,
                       uint16_t *scales_out, int32_t *g_idx,
                       unsigned long long *zero0);

#ifdef __cplusplus
}
#endif
#endif /* AWQ_KERNELS_AWQ_KERNELS_H */
