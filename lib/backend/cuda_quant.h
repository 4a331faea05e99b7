/*
 * lib/backend/cuda_quant.h — the quantization kernels of the CUDA backend
 * (kernels/quant.cu) as C entry points: group quantizer, pseudo-quantize,
 * batched candidate pseudo-quantize, clip search and clamp, packers.
 *
 * Every buffer argument is device memory of `be` (a backend from
 * awq_backend_cuda_create) unless marked host. Results are bit-identical to
 * the CPU oracles for the same fp32 inputs:
 *   awq_cuda_quantize            == awq_quantize_ref      (codes, scales, zeros)
 *   awq_cuda_pseudo_quant        == awq_pseudo_quantize_ref
 *   awq_cuda_pseudo_quant_scaled == awq_pseudo_quant_scaled_ref (quant/clip.h)
 *   awq_cuda_clip_search         == awq_clip_search_ref   (max_val)
 *   awq_cuda_clip_apply          == awq_clip_apply_cpu
 *   awq_cuda_pack                == awq_pack (the words of every tensor)
 * because the per-element math is lib/quant/qmath.h and the bit positions
 * are lib/quant/layouts.h, shared with the C code, and the kernels use only
 * correctly rounded operations in the oracle's order (see kernels/quant.cu).
 *
 * Errors carry the same wording as the CPU paths (non-finite weight at
 * (row, column); scale beyond FP16 naming row and group). A build without
 * CUDA, or a backend of another kind, gives AWQ_ERR_NO_DEVICE /
 * AWQ_ERR_INVALID_ARG.
 */
#ifndef AWQ_LIB_BACKEND_CUDA_QUANT_H
#define AWQ_LIB_BACKEND_CUDA_QUANT_H

#include "awqkit/quant.h"
#include "backend/backend.h"

/* Quantize W [N, K] into the canonical layout of awq_qtensor (awqkit/
 * quant.h): q [N*K] codes, scales [G*N] FP16 bits, zeros [G*N]. `name`
 * names the tensor in messages (may be NULL). */
awq_status awq_cuda_quantize(awq_backend *be, const char *name, const float *w,
                             int64_t N, int64_t K, const awq_quant_params *p,
                             uint8_t *q, uint16_t *scales, uint8_t *zeros);

/* In place: w <- dequantize(quantize(w)). */
awq_status awq_cuda_pseudo_quant(awq_backend *be, float *w, int64_t N,
                                 int64_t K, const awq_quant_params *p);

/* out[c] = Q(W * s_c) / s_c for n_cand scale vectors (scales [n_cand, K]);
 * see awq_pseudo_quant_scaled in quant/clip.h. failed: host, optional. */
awq_status awq_cuda_pseudo_quant_scaled(awq_backend *be, const float *w,
                                        int64_t N, int64_t K,
                                        const float *scales, int64_t n_cand,
                                        const awq_quant_params *p, float *out,
                                        uint8_t *failed);

/* AutoAWQ's clip search (quant/clip.h): w [N, K], x [T, K] sampled tokens,
 * max_val [N, G]. Device scratch: about n_steps * min(N, rows per pass) * K
 * floats (passes of output rows keep it under 256 MiB) plus
 * n_steps * N * G doubles. */
awq_status awq_cuda_clip_search(awq_backend *be, const float *w,
                                const float *x, int64_t N, int64_t K,
                                int64_t T, const awq_quant_params *p,
                                int n_grid, int n_steps, float *max_val);
/* Also copies every step's error into errs (device, optional,
 * [n_steps][N][G] doubles). */
awq_status awq_cuda_clip_search_ex(awq_backend *be, const float *w,
                                   const float *x, int64_t N, int64_t K,
                                   int64_t T, const awq_quant_params *p,
                                   int n_grid, int n_steps, float *max_val,
                                   double *errs);

/* Device scratch budget (bytes) for the clip search's per-step weight
 * deltas; the rows of W are processed in passes that fit it (at least 128
 * rows per pass). 0 restores the default, 256 MiB. */
awq_status awq_cuda_clip_set_budget(awq_backend *be, size_t bytes);

/* w[n, k] = clamp(w, -m, m), m = max_val[n * G + k / group_len]. */
awq_status awq_cuda_clip_apply(awq_backend *be, float *w, int64_t N, int64_t K,
                               int group_size, const float *max_val);

/* Pack the canonical tensor (q, scales, zeros in device memory, shape and
 * bits / group size / sym from the arguments; default g_idx) into `format`.
 * out receives the shapes (awq_packed_shapes) and device buffers allocated
 * with be->ops->alloc: release them with awq_cuda_packed_free. GPTQ v1
 * cannot store a zero point of 0: such groups give AWQ_ERR_LOSSY with their
 * count (the CPU packer's allow_lossy re-quantization is host-only: pack on
 * the host, or use gptq-v2). Codes and zeros are assumed in range (they come
 * from awq_cuda_quantize). AWQ_QFMT_CT is AWQ_ERR_UNSUPPORTED (awq_pack
 * writes it on the host). */
awq_status awq_cuda_pack(awq_backend *be, const char *name, awq_qformat format,
                         int64_t N, int64_t K, int bits, int group_size,
                         bool sym, const uint8_t *q, const uint16_t *scales,
                         const uint8_t *zeros, awq_packed *out);
/* Whether awq_cuda_pack writes `format` (true for the AWQ and GPTQ
 * layouts, in any build). */
bool awq_cuda_pack_writes(awq_qformat format);
/* Free the device buffers of an awq_cuda_pack result and zero it. */
void awq_cuda_packed_free(awq_backend *be, awq_packed *p);

#endif /* AWQ_LIB_BACKEND_CUDA_QUANT_H */
