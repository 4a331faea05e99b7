/*
 * lib/quant/clip.h — AutoAWQ's clip search (_compute_best_clip), the clamp
 * that applies its result, and pseudo-quantization of weights scaled by
 * several candidate scale vectors at once (the scale search's Q(W·s)/s),
 * for every backend.
 *
 * Entry points come in three flavours with the same arithmetic:
 *   awq_*_ref   plain single-threaded C on host memory: the oracle;
 *   awq_*_cpu   the CPU backend's threaded, vectorised path (host memory),
 *               bit-identical to the oracle for any thread count;
 *   awq_*       dispatch on be->kind to the CPU path or to the CUDA kernels
 *               (lib/backend/cuda_quant.h); buffers in backend memory.
 * The `_cpu` and CUDA functions have the signatures of backend ops
 * (awq_backend_ops style: backend first, status returned) so a backend
 * table can point at them directly.
 *
 * Clip search (per output row n and group g of W [N, K], given sampled
 * activations x [T, K]):
 *   org_max = max |w| over the group
 *   for step i in 0 .. n_steps-1 (AutoAWQ: n_grid 20, max_shrink 0.5, so
 *   n_steps = 10):
 *     mv  = org_max * f32(1 - i / n_grid)            (awq_qm_clip_max)
 *     q_w = pseudo-quantize(clamp(w, -mv, mv))       (lib/quant/qmath.h)
 *     d   = q_w - w                                  (fp32)
 *     e_t = sum over the group's columns k, in increasing k, of
 *           fmaf(x[t, k], d[k], e_t), starting from 0.0f, for each token t
 *     err = (sum over tokens of (double)e_t^2) / T, summed in the fixed
 *           order: runs of AWQ_CLIP_RUN consecutive tokens (sequential),
 *           runs of a chunk of AWQ_CLIP_CHUNK tokens (sequential), chunks
 *           (sequential), each partial sum starting from 0.0
 *   the first step with the strictly smallest err wins (initial best: err
 *   +inf and mv = org_max, so all-NaN errors keep the unclipped group).
 * e_t equals AutoAWQ's (cur_out - org_out) = sum x·q_w - sum x·w
 * mathematically; one dot of the difference avoids the cancellation and
 * half the work. The fixed reduction order and the explicit fmaf make the
 * CPU and CUDA results (errors and chosen max_val) bit-identical.
 * Token sampling (AutoAWQ's input_feat[:, ::step]) is the caller's: pass
 * the sampled rows.
 *
 * Errors: a non-finite weight or a group whose (unclipped) scale exceeds
 * the FP16 range is AWQ_ERR_RANGE naming row, column / group; non-finite
 * activations only make errors NaN (such steps never win).
 *
 * Thread-safety: as the backend (one thread at a time per context).
 */
#ifndef AWQ_LIB_QUANT_CLIP_H
#define AWQ_LIB_QUANT_CLIP_H

#include "awqkit/quant.h"
#include "backend/backend.h"

/* Token reduction order of the clip error (see above). The CUDA kernel's
 * tiles are built around these values: changing them changes results. */
#define AWQ_CLIP_RUN 4
#define AWQ_CLIP_CHUNK 128

/* AutoAWQ defaults. */
#define AWQ_CLIP_N_GRID_DEFAULT 20
#define AWQ_CLIP_MAX_SHRINK_DEFAULT 0.5
#define AWQ_CLIP_N_SAMPLE_DEFAULT 512

/* Largest n_steps accepted (n_steps <= n_grid as well). */
#define AWQ_CLIP_MAX_STEPS 1024

/* ------------------------------------------------------------ clip search */

/* Oracle. w [N, K], x [T, K] (host). max_val [N, G] receives the chosen
 * clamp per (row, group), G = awq_n_groups(K, q->group_size). errs
 * (optional, host) receives every step's error, [n_steps][N][G]. The last
 * group of a row is shorter when the group size does not divide K.
 * Requires 1 <= n_steps <= n_grid, T >= 1. */
awq_status awq_clip_search_ref(awq_ctx *ctx, const float *w, const float *x,
                               int64_t N, int64_t K, int64_t T,
                               const awq_quant_params *q, int n_grid,
                               int n_steps, float *max_val, double *errs);

/* CPU backend path (host memory; threads of be->ctx). Same results as the
 * oracle, bit for bit. */
awq_status awq_clip_search_cpu(awq_backend *be, const float *w,
                               const float *x, int64_t N, int64_t K,
                               int64_t T, const awq_quant_params *q,
                               int n_grid, int n_steps, float *max_val);

/* Dispatch: w, x, max_val in backend memory. */
awq_status awq_clip_search(awq_backend *be, const float *w, const float *x,
                           int64_t N, int64_t K, int64_t T,
                           const awq_quant_params *q, int n_grid, int n_steps,
                           float *max_val);

/* As the two above, also writing every step's error to errs (optional,
 * [n_steps][N][G] doubles, backend memory for the dispatcher): the values
 * the oracle's errs receives, bit for bit (what the tests compare). */
awq_status awq_clip_search_cpu_ex(awq_backend *be, const float *w,
                                  const float *x, int64_t N, int64_t K,
                                  int64_t T, const awq_quant_params *q,
                                  int n_grid, int n_steps, float *max_val,
                                  double *errs);
awq_status awq_clip_search_ex(awq_backend *be, const float *w, const float *x,
                              int64_t N, int64_t K, int64_t T,
                              const awq_quant_params *q, int n_grid,
                              int n_steps, float *max_val, double *errs);

/* ------------------------------------------- the Gram form (CPU) */

/* The same search with each step's error computed as a quadratic form:
 * sum_t e_t^2 = d^T G_g d with G_g = X_g^T X_g, the [len, len] Gram matrix
 * of the sampled activations over group g's columns, built once per call.
 * A (row, group, step) then costs len^2 multiply-adds instead of T * len:
 * 4x fewer at AutoAWQ's 512 sampled tokens and group 128. Same choice as
 * the direct form up to the rounding of near-ties (both are fp32
 * approximations of one exact value; tests/unit/test_clip.c bounds the
 * difference at AWQ_CLIP_GRAM_REL_TOL of the error).
 *
 * Arithmetic, fixed so that the oracle and the threaded path agree bit for
 * bit for any thread count:
 *   G_g[j][k] = (float) sum over t ascending of (double)x[t,j] * x[t,k]
 *               (double products and sums, no contraction), rows and
 *               columns padded with zeros to lp = len rounded up to 16;
 *   y[k]      = fmaf chain over j ascending, from 0.0f, of d[j] * G_g[j][k]
 *               (d padded with zeros to lp);
 *   err       = (p0 + p1) + (p2 + p3) with p_r the double sum, k ascending,
 *               of (double)d[k] * y[k] over k = r mod 4; then divided by T.
 * d is clip_delta's (the direct form's) delta. NaN / failure handling as
 * the direct form. */
#define AWQ_CLIP_GRAM_REL_TOL 1e-5
/* Largest group (padded) for which the Gram form is used: G would take
 * K * lp floats. */
#define AWQ_CLIP_GRAM_MAX_LEN 1024

/* True when the Gram form costs fewer multiply-adds for this shape (and its
 * group is at most AWQ_CLIP_GRAM_MAX_LEN columns). */
bool awq_clip_gram_cheaper(int64_t K, int64_t T, const awq_quant_params *q);

awq_status awq_clip_search_gram_ref(awq_ctx *ctx, const float *w, const float *x,
                                    int64_t N, int64_t K, int64_t T,
                                    const awq_quant_params *q, int n_grid, int n_steps,
                                    float *max_val, double *errs);
awq_status awq_clip_search_gram_cpu(awq_backend *be, const float *w, const float *x,
                                    int64_t N, int64_t K, int64_t T,
                                    const awq_quant_params *q, int n_grid, int n_steps,
                                    float *max_val, double *errs);

/* What the quantizer calls: on the CPU backend the Gram form where
 * awq_clip_gram_cheaper says so, else awq_clip_search (the CUDA backend
 * always runs the direct form). */
awq_status awq_clip_search_fast(awq_backend *be, const float *w, const float *x,
                                int64_t N, int64_t K, int64_t T,
                                const awq_quant_params *q, int n_grid, int n_steps,
                                float *max_val);

/* Clamp W [N, K] in place: w[n, k] = clamp(w, -m, m) with
 * m = max_val[n * G + k / group_len] (torch.clamp as AutoAWQ's apply_clip).
 * Buffers in backend memory. */
awq_status awq_clip_apply(awq_backend *be, float *w, int64_t N, int64_t K,
                          int group_size, const float *max_val);
awq_status awq_clip_apply_cpu(awq_backend *be, float *w, int64_t N, int64_t K,
                              int group_size, const float *max_val);

/* --------------------------------- pseudo-quantization, in place */

/* w [N, K] <- dequantize(quantize(w)) with q's bits / group / symmetry:
 * the oracle awq_pseudo_quantize_ref's values. Errors as awq_quantize.
 * Buffers in backend memory. */
awq_status awq_pseudo_quant(awq_backend *be, float *w, int64_t N, int64_t K,
                            const awq_quant_params *q);
awq_status awq_pseudo_quant_cpu(awq_backend *be, float *w, int64_t N,
                                int64_t K, const awq_quant_params *q);

/* ------------------------- batched candidates: Q(W·s_c) / s_c */

/* For each candidate c < n_cand with scale vector s_c = scales[c*K ..]:
 *   out[c][n][k] = pseudo-quantize(w[n][k] * s_c[k]) / s_c[k]
 * (fp32 multiply, the quantizer on the scaled row groups, fp32 divide:
 * AutoAWQ's fc.weight.mul_(scales); pseudo_quantize(...) / scales).
 * out is [n_cand, N, K]. A candidate whose scaled weights cannot be
 * quantized (non-finite, scale beyond FP16): when `failed` (host, n_cand
 * bytes) is given, failed[c] = 1, its output is unspecified and the call
 * still succeeds; without it, the call fails with AWQ_ERR_RANGE naming the
 * candidate. failed[c] = 0 for the others. */
awq_status awq_pseudo_quant_scaled_ref(awq_ctx *ctx, const float *w,
                                       int64_t N, int64_t K,
                                       const float *scales, int64_t n_cand,
                                       const awq_quant_params *q, float *out,
                                       uint8_t *failed);
awq_status awq_pseudo_quant_scaled_cpu(awq_backend *be, const float *w,
                                       int64_t N, int64_t K,
                                       const float *scales, int64_t n_cand,
                                       const awq_quant_params *q, float *out,
                                       uint8_t *failed);
awq_status awq_pseudo_quant_scaled(awq_backend *be, const float *w, int64_t N,
                                   int64_t K, const float *scales,
                                   int64_t n_cand, const awq_quant_params *q,
                                   float *out, uint8_t *failed);

/* Argument checks shared by every implementation (CPU and CUDA): bits,
 * group size, shapes (1 <= N, K; N*K <= 2^40), steps. `what` names the
 * operation in messages. */
awq_status awq_clip_check_args(awq_ctx *ctx, const char *what, int64_t N,
                               int64_t K, const awq_quant_params *q);

#endif /* AWQ_LIB_QUANT_CLIP_H */
