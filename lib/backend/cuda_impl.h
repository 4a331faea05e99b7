/*
 * lib/backend/cuda_impl.h — private state of the CUDA backend, shared by
 * the host glue files cuda.c (ops) and cuda_quant.c (quantization entry
 * points). Only compiled with AWQ_HAVE_CUDA.
 */
#ifndef AWQ_LIB_BACKEND_CUDA_IMPL_H
#define AWQ_LIB_BACKEND_CUDA_IMPL_H

#include "backend/cuda.h"
#include "backend/cuda_check.h"

typedef struct awq_cuda_alloc_entry {
    void *p;                   /* NULL: empty; AWQ_CUDA_TOMB: deleted */
    size_t n;
} awq_cuda_alloc_entry;

typedef struct awq_cuda_impl {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    bool pools;                /* stream-ordered allocator available */
    cudaMemPool_t pool;
    awq_cuda_gemm_mode gemm_mode;
    size_t clip_budget;        /* clip search delta scratch; 0 = default */
    size_t smem_optin;         /* sharedMemPerBlockOptin */
    /* live allocations (pointer -> size), open addressing */
    awq_cuda_alloc_entry *tab;
    size_t tab_cap, tab_len, tab_tombs;
    uint64_t in_use, peak;
    /* scratch owned by the backend, grown on demand; valid until the next
     * awq_cuda_workspace call (all users are ordered on the one stream) */
    void *ws;
    size_t ws_bytes;
    char desc[256];
} awq_cuda_impl;

/* The impl of a CUDA backend after making its device current; sets a
 * message and returns NULL (with *st) when be is not a CUDA backend or the
 * device cannot be selected. */
awq_cuda_impl *awq_cuda_enter(awq_backend *be, const char *op, awq_status *st);

/* Device allocation through the backend's allocator (recorded for the
 * memory statistics). `what` names the buffer in the out-of-memory
 * message. bytes 0 gives a valid 1-byte buffer. */
awq_status awq_cuda_alloc_bytes(awq_backend *be, size_t bytes, const char *what,
                                void **out);
void awq_cuda_free_ptr(awq_backend *be, void *p);

/* Backend scratch of at least `bytes` (256-byte aligned). */
awq_status awq_cuda_workspace(awq_backend *be, size_t bytes, const char *what,
                              void **out);

/* Wait for the stream; an asynchronous failure is reported as happening
 * while waiting for `what`. */
awq_status awq_cuda_wait(awq_backend *be, const char *what);

/* Round up to a multiple of 256 (carving workspaces). */
static inline size_t awq_cuda_align(size_t n) { return (n + 255u) & ~(size_t)255u; }

#endif /* AWQ_LIB_BACKEND_CUDA_IMPL_H */
