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
    /* op profile (AWQKIT_CUDA_PROFILE, a developer's aid: cuda.c) */
    struct awq_cuda_prof *prof;
} awq_cuda_impl;

/* The op profile: when the environment variable AWQKIT_CUDA_PROFILE names
 * a file at backend creation, every op (the ENTER of cuda.c and
 * cuda_quant.c) waits for the stream before and after itself, and its
 * wall time is added to its name's row; the backend's destruction writes
 * the table (op, calls, seconds, share of the backend's lifetime; the time
 * outside every op is the host's own work) to that file. The waits change
 * the timing they measure (no overlap of host and device work), so a
 * profiled run is for attribution, never for a reported figure. */
typedef struct awq_cuda_prof_scope {
    struct awq_cuda_impl *im;  /* NULL: not profiling */
    const char *op;
    double t0;
    bool outer;                /* not inside another op (those count) */
} awq_cuda_prof_scope;

/* From AWQKIT_CUDA_PROFILE at creation (no profile when unset or when
 * memory is short); finish writes the table and frees the profile. */
void awq_cuda_prof_init(struct awq_cuda_impl *im);
void awq_cuda_prof_finish(struct awq_cuda_impl *im, awq_ctx *ctx);
awq_cuda_prof_scope awq_cuda_prof_begin(struct awq_cuda_impl *im, const char *op);
void awq_cuda_prof_end(awq_cuda_prof_scope *s);
/* Bytes moved by the op in progress (transfers; nothing when not
 * profiling). */
void awq_cuda_prof_bytes(struct awq_cuda_impl *im, uint64_t bytes);

/* In an ENTER: the rest of the function is one profiled op (the cleanup
 * attribute of GCC and Clang runs awq_cuda_prof_end on every return). */
#define AWQ_CUDA_PROF_SCOPE(im, op)                                            \
    awq_cuda_prof_scope prof_scope_ __attribute__((cleanup(awq_cuda_prof_end))) = \
        awq_cuda_prof_begin((im), (op));                                       \
    (void)prof_scope_

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
