/*
 * lib/backend/cuda.h — the CUDA backend: cuBLAS for the linears, the
 * kernels in kernels/ for everything else (lib/backend/cuda.c is the
 * host glue). Implements every op of awq_backend_ops (backend.h) with
 * device memory (ops->mem == AWQ_MEM_DEVICE).
 *
 * Memory: buffers come from the stream-ordered allocator (cudaMallocAsync on
 * the backend's stream, with the device's default pool caching freed
 * blocks; plain cudaMalloc where the device has no memory pools). Never
 * managed memory. Out of memory is AWQ_ERR_CUDA with the bytes asked, the
 * device's free / total memory and the hint "use fewer calibration samples
 * (--samples) or --offload-activations".
 *
 * Execution: one non-blocking stream per backend; kernels and cuBLAS are
 * queued on it. Ops return once their work is queued (launch errors are
 * reported at once); download, sync and the ops returning host values
 * (mse, nll_rows) wait for the stream, and report asynchronous errors
 * naming the call that noticed them.
 *
 * Numerics (what tests/unit/test_cuda.c checks):
 *   gemm       cublasGemmEx, fp32 output, CUBLAS_COMPUTE_32F (full fp32
 *              products and sums; no TF32 unless awq_backend_cuda_set_gemm
 *              asks for it). F16 / BF16 weights: the activations are rounded
 *              to the weight's type first (cuBLAS has no mixed fp32 x fp16
 *              GemmEx), so the result equals the fp32-accumulated product of
 *              f16(x) and W: relative error per input about 2^-11 (F16) or
 *              2^-8 (BF16); activations beyond 65504 overflow in F16.
 *   rope, add, scale_cols, scale_rows, col_mean_abs: the CPU backend's
 *              operations in the same order, bit-identical to it.
 *   rmsnorm, mse, nll_rows: double accumulations in a fixed tree order
 *              (deterministic run to run; not the CPU's summation order).
 *   silu_mul, attention: CUDA's expf (<= 2 ulp); attention is a tiled
 *              online-softmax kernel (32 x 32 tiles, fp32, fmaf dot
 *              products), never a T x T matrix.
 * Every result is deterministic: fixed reduction orders, no floating-point
 * atomics; cuBLAS is deterministic on one stream for a given GPU model and
 * library version.
 *
 * Thread-safety: one thread at a time per backend (as the context).
 */
#ifndef AWQ_LIB_BACKEND_CUDA_H
#define AWQ_LIB_BACKEND_CUDA_H

#include "backend/backend.h"

/* Create the backend on GPU `device` (0-based). AWQ_ERR_NO_DEVICE when the
 * build has no CUDA, the driver or the GPU is missing, `device` is out of
 * range, or the GPU is older than this build's kernels (compute capability
 * 8.0). ctx is borrowed. */
awq_status awq_backend_cuda_create(awq_ctx *ctx, int device, awq_backend **out);

/* GEMM arithmetic for fp32 weights. */
typedef enum awq_cuda_gemm_mode {
    AWQ_CUDA_GEMM_FP32 = 0,    /* CUBLAS_COMPUTE_32F (default) */
    AWQ_CUDA_GEMM_TF32 = 1,    /* CUBLAS_COMPUTE_32F_FAST_TF32: tensor cores,
                                  inputs rounded to 10-bit mantissas:
                                  relative error ~5e-4, not within the CPU
                                  tolerances. Explicit opt-in only. */
    AWQ_CUDA_GEMM_BF16 = 2     /* tensor cores: x and W rounded to bf16
                                  (nearest even, by awqkit's kernel), fp32
                                  accumulation (CUBLAS_COMPUTE_32F)
                                  (the search's --precision bf16; set
                                  through ops->set_gemm_precision) */
} awq_cuda_gemm_mode;

awq_status awq_backend_cuda_set_gemm_mode(awq_backend *be, awq_cuda_gemm_mode m);

/* Memory statistics of a CUDA backend (bytes). */
typedef struct awq_cuda_mem_stats {
    uint64_t in_use;           /* live buffers of this backend */
    uint64_t peak_in_use;      /* high-water mark of in_use */
    uint64_t device_free;      /* cudaMemGetInfo, whole device */
    uint64_t device_total;
} awq_cuda_mem_stats;

awq_status awq_backend_cuda_mem_stats(awq_backend *be, awq_cuda_mem_stats *out);

/* "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)"; "" for other backends. Owned by
 * the backend. */
const char *awq_backend_cuda_device_desc(const awq_backend *be);

#endif /* AWQ_LIB_BACKEND_CUDA_H */
