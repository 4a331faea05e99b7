/*
 * lib/backend/cuda_check.h — turning CUDA runtime and cuBLAS results into
 * awq_status (AWQ_ERR_CUDA) with a message naming the call, the source file
 * and line, and the library's own error name and text. Only for the host
 * glue of the CUDA backend (built with AWQ_HAVE_CUDA).
 *
 *   AWQ_CU(ctx, cudaMemcpyAsync(...));        returns on failure
 *   AWQ_CUBLAS(ctx, cublasGemmEx(...));
 *
 * Kernel launchers (kernels/awq_kernels.h) return cudaGetLastError(), so
 * wrapping a launcher call reports launch errors by the launcher's name.
 * Errors of work that ran asynchronously surface at the next synchronising
 * call (download, sync, mse, ...), whose message then says so.
 */
#ifndef AWQ_LIB_BACKEND_CUDA_CHECK_H
#define AWQ_LIB_BACKEND_CUDA_CHECK_H

#include "core/core.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

/* Record a failed CUDA runtime call: "CUDA error in <call> (<file>:<line>):
 * <name>: <description>". Clears the runtime's last (non-sticky) error.
 * Returns AWQ_ERR_CUDA. */
awq_status awq_cuda_fail(awq_ctx *ctx, cudaError_t err, const char *call,
                         const char *file, int line);
/* Same for cuBLAS: "cuBLAS error in <call> (<file>:<line>): <status>". */
awq_status awq_cublas_fail(awq_ctx *ctx, cublasStatus_t st, const char *call,
                           const char *file, int line);

#define AWQ_CU(ctx, call)                                                      \
    do {                                                                       \
        cudaError_t awq_cu_e_ = (call);                                        \
        if (awq_cu_e_ != cudaSuccess)                                          \
            return awq_cuda_fail((ctx), awq_cu_e_, #call, __FILE__, __LINE__); \
    } while (0)

#define AWQ_CUBLAS(ctx, call)                                                  \
    do {                                                                       \
        cublasStatus_t awq_cb_s_ = (call);                                     \
        if (awq_cb_s_ != CUBLAS_STATUS_SUCCESS)                                \
            return awq_cublas_fail((ctx), awq_cb_s_, #call, __FILE__,          \
                                   __LINE__);                                  \
    } while (0)

/* Evaluate `call`; on failure store the status in `st` (an awq_status
 * variable) and jump to `label` (cleanup paths). */
#define AWQ_CU_GOTO(ctx, st, label, call)                                      \
    do {                                                                       \
        cudaError_t awq_cu_e_ = (call);                                        \
        if (awq_cu_e_ != cudaSuccess) {                                        \
            (st) = awq_cuda_fail((ctx), awq_cu_e_, #call, __FILE__, __LINE__); \
            goto label;                                                        \
        }                                                                      \
    } while (0)

#endif /* AWQ_LIB_BACKEND_CUDA_CHECK_H */
