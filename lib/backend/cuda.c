/*
 * lib/backend/cuda.c — host glue of the CUDA backend: device selection,
 * the stream, the allocator and its statistics, cuBLAS GEMM, and the
 * validation + launch of every op of backend.h (kernels in kernels/).
 * See lib/backend/cuda.h for the contract (memory, streams, numerics).
 *
 * Validation mirrors the CPU backend (lib/backend/cpu.c) so both accept and
 * reject the same arguments with the same statuses. Every CUDA / cuBLAS
 * call is checked (cuda_check.h).
 *
 * Built without CUDA, this file only provides awq_backend_cuda_create and
 * the option calls, which return AWQ_ERR_NO_DEVICE.
 */
#include "backend/cuda.h"

#include "core/core.h"

#include <string.h>

#ifndef AWQ_HAVE_CUDA

awq_status awq_backend_cuda_create(awq_ctx *ctx, int device, awq_backend **out) {
    (void)device;
    if (out) *out = NULL;
    return awq_fail(ctx, AWQ_ERR_NO_DEVICE,
                    "this awqkit was built without the CUDA backend (configure with "
                    "-DAWQ_CUDA=ON on a machine with the CUDA Toolkit)");
}

awq_status awq_backend_cuda_set_gemm_mode(awq_backend *be, awq_cuda_gemm_mode m) {
    (void)m;
    return awq_fail(be ? be->ctx : NULL, AWQ_ERR_NO_DEVICE,
                    "this awqkit was built without the CUDA backend");
}

awq_status awq_backend_cuda_mem_stats(awq_backend *be, awq_cuda_mem_stats *out) {
    if (out) memset(out, 0, sizeof *out);
    return awq_fail(be ? be->ctx : NULL, AWQ_ERR_NO_DEVICE,
                    "this awqkit was built without the CUDA backend");
}

const char *awq_backend_cuda_device_desc(const awq_backend *be) {
    (void)be;
    return "";
}

#else /* AWQ_HAVE_CUDA */

#include "awq_kernels.h"
#include "backend/cuda_impl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#define AWQ_CUDA_TOMB ((void *)(uintptr_t)1)

/* Scratch for converting activations to fp16/bf16 per GEMM chunk. */
#define GEMM_HALF_CHUNK_BYTES ((size_t)64 << 20)

static const char *src_name(const char *file) { return awq_path_basename(file); }

awq_status awq_cuda_fail(awq_ctx *ctx, cudaError_t err, const char *call,
                         const char *file, int line) {
    (void)cudaGetLastError(); /* clear a non-sticky error */
    return awq_fail(ctx, AWQ_ERR_CUDA, "CUDA error in %s (%s:%d): %s: %s", call,
                    src_name(file), line, cudaGetErrorName(err), cudaGetErrorString(err));
}

awq_status awq_cublas_fail(awq_ctx *ctx, cublasStatus_t st, const char *call,
                           const char *file, int line) {
    return awq_fail(ctx, AWQ_ERR_CUDA, "cuBLAS error in %s (%s:%d): %s (%d)", call,
                    src_name(file), line, cublasGetStatusString(st), (int)st);
}

static awq_cuda_impl *impl_of(awq_backend *be) { return (awq_cuda_impl *)be->impl; }

awq_cuda_impl *awq_cuda_enter(awq_backend *be, const char *op, awq_status *st) {
    if (!be || be->kind != AWQ_BACKEND_CUDA || !be->impl) {
        *st = awq_fail(be ? be->ctx : NULL, AWQ_ERR_INVALID_ARG,
                       "%s: not a CUDA backend", op);
        return NULL;
    }
    awq_cuda_impl *im = impl_of(be);
    cudaError_t e = cudaSetDevice(im->device);
    if (e != cudaSuccess) {
        *st = awq_cuda_fail(be->ctx, e, "cudaSetDevice", __FILE__, __LINE__);
        return NULL;
    }
    *st = AWQ_OK;
    return im;
}

#define ENTER(be, op)                                                          \
    awq_status enter_st_;                                                      \
    awq_cuda_impl *im = awq_cuda_enter((be), (op), &enter_st_);                \
    if (!im) return enter_st_;                                                 \
    AWQ_CUDA_PROF_SCOPE(im, op);                                               \
    awq_ctx *ctx = (be)->ctx;                                                  \
    (void)im;                                                                  \
    (void)ctx

/* ------------------------------------------------- allocation table */

static size_t ptr_slot(const void *p, size_t mask) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & mask;
}

static bool tab_grow(awq_cuda_impl *im) {
    size_t cap = im->tab_cap ? im->tab_cap : 64;
    if ((im->tab_len + 1) * 2 > cap) cap *= 2;
    awq_cuda_alloc_entry *nt = awq_calloc(cap, sizeof *nt);
    if (!nt) return false;
    for (size_t i = 0; i < im->tab_cap; i++) {
        void *p = im->tab[i].p;
        if (!p || p == AWQ_CUDA_TOMB) continue;
        size_t j = ptr_slot(p, cap - 1);
        while (nt[j].p) j = (j + 1) & (cap - 1);
        nt[j] = im->tab[i];
    }
    awq_free(im->tab);
    im->tab = nt;
    im->tab_cap = cap;
    im->tab_tombs = 0;
    return true;
}

/* Make room for one more entry (before allocating on the device, so a
 * host allocation failure leaves nothing behind). */
static bool tab_reserve(awq_cuda_impl *im) {
    if (im->tab_cap && (im->tab_len + im->tab_tombs + 1) * 2 <= im->tab_cap) return true;
    return tab_grow(im);
}

static void tab_put(awq_cuda_impl *im, void *p, size_t n) {
    size_t mask = im->tab_cap - 1, j = ptr_slot(p, mask);
    while (im->tab[j].p && im->tab[j].p != AWQ_CUDA_TOMB) j = (j + 1) & mask;
    if (im->tab[j].p == AWQ_CUDA_TOMB) im->tab_tombs--;
    im->tab[j].p = p;
    im->tab[j].n = n;
    im->tab_len++;
}

/* Remove p; returns its size (0 when unknown). */
static size_t tab_take(awq_cuda_impl *im, void *p) {
    if (!im->tab_cap) return 0;
    size_t mask = im->tab_cap - 1, j = ptr_slot(p, mask);
    for (size_t probes = 0; im->tab[j].p && probes < im->tab_cap; probes++) {
        if (im->tab[j].p == p) {
            size_t n = im->tab[j].n;
            im->tab[j].p = AWQ_CUDA_TOMB;
            im->tab_len--;
            im->tab_tombs++;
            return n;
        }
        j = (j + 1) & mask;
    }
    return 0;
}

/* ------------------------------------------------------------ memory */

static awq_status oom(awq_backend *be, awq_cuda_impl *im, size_t bytes, const char *what) {
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) {
        (void)cudaGetLastError();
        fr = tot = 0;
    }
    const double gib = 1024.0 * 1024.0 * 1024.0;
    return awq_fail(be->ctx, AWQ_ERR_CUDA,
                    "CUDA out of memory on device %d: %s needs %llu bytes (%.2f GiB); the "
                    "device has %.2f GiB free of %.2f GiB and awqkit holds %.2f GiB: use "
                    "fewer calibration samples (--samples) or --offload-activations",
                    im->device, what, (unsigned long long)bytes, (double)bytes / gib,
                    (double)fr / gib, (double)tot / gib, (double)im->in_use / gib);
}

static cudaError_t raw_alloc(awq_cuda_impl *im, void **p, size_t n) {
    return im->pools ? cudaMallocAsync(p, n, im->stream) : cudaMalloc(p, n);
}

awq_status awq_cuda_alloc_bytes(awq_backend *be, size_t bytes, const char *what,
                                void **out) {
    *out = NULL;
    ENTER(be, "alloc");
    const size_t n = bytes ? bytes : 1;
    if (!tab_reserve(im)) return awq_fail_nomem(ctx, "CUDA allocation table", 0);
    void *p = NULL;
    cudaError_t e = raw_alloc(im, &p, n);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        /* Freed blocks cached by the pool may be fragmented: release them
         * and retry once. */
        if (im->pools) {
            AWQ_CU(ctx, cudaStreamSynchronize(im->stream));
            AWQ_CU(ctx, cudaMemPoolTrimTo(im->pool, 0));
            e = raw_alloc(im, &p, n);
        }
        if (e == cudaErrorMemoryAllocation) {
            (void)cudaGetLastError();
            return oom(be, im, bytes, what);
        }
    }
    if (e != cudaSuccess)
        return awq_cuda_fail(ctx, e, im->pools ? "cudaMallocAsync" : "cudaMalloc", __FILE__,
                             __LINE__);
    tab_put(im, p, n);
    im->in_use += n;
    if (im->in_use > im->peak) im->peak = im->in_use;
    *out = p;
    return AWQ_OK;
}

void awq_cuda_free_ptr(awq_backend *be, void *p) {
    if (!p || !be || !be->impl) return;
    awq_cuda_impl *im = impl_of(be);
    if (cudaSetDevice(im->device) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    size_t n = tab_take(im, p);
    im->in_use -= n <= im->in_use ? n : im->in_use;
    cudaError_t e = im->pools ? cudaFreeAsync(p, im->stream) : cudaFree(p);
    if (e != cudaSuccess) {
        /* free cannot report; the next checked call will if it matters */
        (void)cudaGetLastError();
        awq_debug(be->ctx, "CUDA free of %p failed: %s", p, cudaGetErrorString(e));
    }
}

awq_status awq_cuda_workspace(awq_backend *be, size_t bytes, const char *what,
                              void **out) {
    *out = NULL;
    ENTER(be, "workspace");
    if (im->ws && im->ws_bytes >= bytes) {
        *out = im->ws;
        return AWQ_OK;
    }
    if (im->ws) {
        awq_cuda_free_ptr(be, im->ws);
        im->ws = NULL;
        im->ws_bytes = 0;
    }
    size_t want = awq_cuda_align(bytes ? bytes : 1);
    AWQ_TRY(awq_cuda_alloc_bytes(be, want, what, &im->ws));
    im->ws_bytes = want;
    *out = im->ws;
    return AWQ_OK;
}

awq_status awq_cuda_wait(awq_backend *be, const char *what) {
    ENTER(be, what);
    cudaError_t e = cudaStreamSynchronize(im->stream);
    if (e != cudaSuccess) {
        awq_cuda_fail(ctx, e, "cudaStreamSynchronize", __FILE__, __LINE__);
        return awq_fail_wrap(ctx, AWQ_ERR_CUDA, "while waiting for %s", what);
    }
    return AWQ_OK;
}

static awq_status cu_alloc(awq_backend *be, size_t bytes, void **out) {
    return awq_cuda_alloc_bytes(be, bytes, "backend buffer", out);
}

static void cu_free(awq_backend *be, void *p) { awq_cuda_free_ptr(be, p); }

static awq_status cu_upload(awq_backend *be, void *dst, const void *host_src, size_t bytes) {
    ENTER(be, "upload");
    if (!bytes) return AWQ_OK;
    if (!dst || !host_src) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "upload: NULL buffer");
    awq_cuda_prof_bytes(im, bytes);
    AWQ_CU(ctx, cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, im->stream));
    /* the caller may reuse host_src at once (pinned sources copy
     * asynchronously) */
    return awq_cuda_wait(be, "upload");
}

static awq_status cu_download(awq_backend *be, void *host_dst, const void *src, size_t bytes) {
    ENTER(be, "download");
    if (!bytes) return AWQ_OK;
    if (!host_dst || !src) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "download: NULL buffer");
    awq_cuda_prof_bytes(im, bytes);
    AWQ_CU(ctx, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, im->stream));
    return awq_cuda_wait(be, "download");
}

static awq_status cu_copy(awq_backend *be, void *dst, const void *src, size_t bytes) {
    ENTER(be, "copy");
    if (!bytes || dst == src) return AWQ_OK;
    if (!dst || !src) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "copy: NULL buffer");
    const char *d = dst, *s = src;
    if (d < s + bytes && s < d + bytes) {
        /* overlapping (the CPU backend's memmove semantics): stage */
        void *tmp;
        AWQ_TRY(awq_cuda_workspace(be, bytes, "overlapping copy", &tmp));
        AWQ_CU(ctx, cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, im->stream));
        AWQ_CU(ctx, cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, im->stream));
        return AWQ_OK;
    }
    AWQ_CU(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, im->stream));
    return AWQ_OK;
}

static awq_status cu_sync(awq_backend *be) { return awq_cuda_wait(be, "queued work"); }

static void cu_destroy(awq_backend *be) {
    if (!be) return;
    awq_cuda_impl *im = impl_of(be);
    if (im) {
        awq_cuda_prof_finish(im, be->ctx);
        if (cudaSetDevice(im->device) == cudaSuccess && im->stream) {
            if (im->ws) awq_cuda_free_ptr(be, im->ws);
            (void)cudaStreamSynchronize(im->stream);
        }
        if (im->blas) (void)cublasDestroy(im->blas);
        if (im->stream) (void)cudaStreamDestroy(im->stream);
        /* the pool keeps freed blocks (release threshold): give them back */
        if (im->pools) (void)cudaMemPoolTrimTo(im->pool, 0);
        (void)cudaGetLastError();
        awq_free(im->tab);
        awq_free(im);
    }
    awq_free(be);
}

/* -------------------------------------------------------------- checks */

static bool dims_ok(int64_t a, int64_t b) {
    if (a < 0 || b < 0) return false;
    uint64_t p;
    return awq_mul_u64((uint64_t)a, (uint64_t)b, &p) && p <= ((uint64_t)1 << 46);
}

/* ---------------------------------------------------------------- GEMM */

static awq_status cu_gemm(awq_backend *be, const float *x, const void *w, awq_dtype w_dtype,
                          const float *bias, float *y, int64_t M, int64_t N, int64_t K) {
    ENTER(be, "gemm");
    if (w_dtype != AWQ_DT_F32 && w_dtype != AWQ_DT_F16 && w_dtype != AWQ_DT_BF16)
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "gemm: the CUDA backend takes F32, F16 or BF16 weights, not %s",
                        awq_dtype_name(w_dtype));
    if (M < 0 || N < 0 || K < 0 || N > INT_MAX || K > INT_MAX || !dims_ok(M, N) ||
        !dims_ok(M, K) || !dims_ok(N, K))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "gemm: bad shape M=%lld N=%lld K=%lld",
                        (long long)M, (long long)N, (long long)K);
    if (M == 0 || N == 0) return AWQ_OK;
    /* bias first, then the product accumulated onto it (beta = 1), as the
     * CPU backend and torch.addmm */
    if (bias) AWQ_CU(ctx, awq_k_bias_rows(im->stream, y, bias, M, N));
    if (K == 0) {
        if (!bias) AWQ_CU(ctx, cudaMemsetAsync(y, 0, sizeof(float) * (size_t)(M * N), im->stream));
        return AWQ_OK;
    }
    const float alpha = 1.0f, beta = bias ? 1.0f : 0.0f;
    /* Row-major y[M,N] = x[M,K] W[N,K]^T is column-major y^T[N,M] =
     * op_T(W^T stored K x N, ld K) * (x^T stored K x M, ld K). */
    if (w_dtype == AWQ_DT_F32 && im->gemm_mode != AWQ_CUDA_GEMM_BF16) {
        const cublasComputeType_t ct = im->gemm_mode == AWQ_CUDA_GEMM_TF32
                                           ? CUBLAS_COMPUTE_32F_FAST_TF32
                                           : CUBLAS_COMPUTE_32F;
        const int64_t step = INT_MAX / 2;
        for (int64_t m0 = 0; m0 < M; m0 += step) {
            const int mm = (int)AWQ_MIN(step, M - m0);
            AWQ_CUBLAS(ctx, cublasGemmEx(im->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, mm, (int)K,
                                         &alpha, w, CUDA_R_32F, (int)K, x + m0 * K, CUDA_R_32F,
                                         (int)K, &beta, y + m0 * N, CUDA_R_32F, (int)N, ct,
                                         CUBLAS_GEMM_DEFAULT));
        }
        return AWQ_OK;
    }
    /* F16 / BF16 weights: GemmEx needs both inputs in the same type, so the
     * activations are rounded to it, a chunk of rows at a time. fp32
     * weights in the BF16 mode (the search's --precision bf16) are rounded
     * to bf16 here too, by the same nearest-even conversion as the CPU's
     * oneDNN path, so both backends compute the same product of rounded
     * inputs with fp32 accumulation (cuBLAS's CUBLAS_COMPUTE_32F_FAST_16BF
     * leaves the rounding to the library, and measured outside the fp32
     * oracle's tolerance on an H200). */
    const int round_w = w_dtype == AWQ_DT_F32;
    const int bf = w_dtype != AWQ_DT_F16;
    const cudaDataType_t dt = bf ? CUDA_R_16BF : CUDA_R_16F;
    int64_t rows = (int64_t)(GEMM_HALF_CHUNK_BYTES / ((size_t)K * 2u));
    if (rows < 1) rows = 1;
    if (rows > M) rows = M;
    if (rows > INT_MAX / 2) rows = INT_MAX / 2;
    const size_t wbytes = round_w ? awq_cuda_align((size_t)N * (size_t)K * 2u) : 0;
    void *ws, *xh;
    AWQ_TRY(awq_cuda_workspace(be, wbytes + (size_t)rows * (size_t)K * 2u,
                               round_w ? "gemm bf16 operands" : "gemm fp16 activations", &ws));
    xh = (char *)ws + wbytes;
    if (round_w) {
        AWQ_CU(ctx, awq_k_to_half(im->stream, (const float *)w, (uint16_t *)ws, N * K, 1));
        w = ws;
    }
    for (int64_t m0 = 0; m0 < M; m0 += rows) {
        const int mm = (int)AWQ_MIN(rows, M - m0);
        AWQ_CU(ctx, awq_k_to_half(im->stream, x + m0 * K, (uint16_t *)xh, (int64_t)mm * K, bf));
        AWQ_CUBLAS(ctx, cublasGemmEx(im->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, mm, (int)K,
                                     &alpha, w, dt, (int)K, xh, dt, (int)K, &beta, y + m0 * N,
                                     CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
    }
    return AWQ_OK;
}

/* ------------------------------------------------------------- row ops */

static awq_status cu_rmsnorm(awq_backend *be, const float *x, const float *w, float *y,
                             int64_t M, int64_t D, float eps) {
    ENTER(be, "rmsnorm");
    if (!dims_ok(M, D) || D == 0 || !(eps >= 0))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "rmsnorm: bad shape M=%lld D=%lld or eps",
                        (long long)M, (long long)D);
    AWQ_CU(ctx, awq_k_rmsnorm(im->stream, x, w, y, M, D, eps));
    return AWQ_OK;
}

static awq_status cu_rope(awq_backend *be, float *x, int64_t B, int64_t T, int64_t n_heads,
                          int64_t head_dim, const float *cos, const float *sin, int64_t n_pos,
                          int64_t pos0) {
    ENTER(be, "rope");
    if (B < 0 || T < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2 || pos0 < 0 ||
        n_pos < pos0 + T || !dims_ok(B, T) || !dims_ok(B * T, n_heads * head_dim))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "rope: bad shape (B=%lld T=%lld heads=%lld head_dim=%lld pos0=%lld "
                        "table rows %lld)",
                        (long long)B, (long long)T, (long long)n_heads, (long long)head_dim,
                        (long long)pos0, (long long)n_pos);
    AWQ_CU(ctx, awq_k_rope(im->stream, x, B, T, n_heads, head_dim, cos, sin, pos0));
    return AWQ_OK;
}

static awq_status cu_attention(awq_backend *be, const float *q, const float *k, const float *v,
                               float *out, const awq_attn_desc *d) {
    ENTER(be, "attention");
    if (!d || d->B < 0 || d->T < 0 || d->n_heads <= 0 || d->n_kv_heads <= 0 ||
        d->head_dim <= 0 || d->n_heads % d->n_kv_heads != 0 || d->head_dim > 65536 ||
        d->n_heads > 65535 || d->block < 0 || !dims_ok(d->B, d->T) ||
        !dims_ok(d->B * d->T, d->n_heads * d->head_dim))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "attention: bad shape (heads %lld, kv heads %lld, head_dim %lld)",
                        d ? (long long)d->n_heads : 0LL, d ? (long long)d->n_kv_heads : 0LL,
                        d ? (long long)d->head_dim : 0LL);
    if (d->B == 0 || d->T == 0) return AWQ_OK;
    if (!q || !k || !v || !out)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "attention: NULL buffer");
    const size_t smem = awq_k_attention_smem(d->head_dim);
    if (smem == 0 || smem > im->smem_optin)
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "attention: head_dim %lld is beyond the CUDA kernel (at most %d, and "
                        "%zu bytes of shared memory per block on this GPU)",
                        (long long)d->head_dim, AWQ_K_ATTN_MAX_HEAD_DIM, im->smem_optin);
    /* d->block only sets the CPU kernel's tile; the GPU tile is fixed */
    AWQ_CU(ctx, awq_k_attention(im->stream, q, k, v, out, d->B, d->T, d->n_heads, d->n_kv_heads,
                                d->head_dim, d->scale, d->softcap, d->window));
    return AWQ_OK;
}

/* --------------------------------------------------------- elementwise */

static awq_status cu_silu_mul(awq_backend *be, const float *gate, const float *up, float *out,
                              int64_t n) {
    ENTER(be, "silu_mul");
    if (n < 0) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "silu_mul: n < 0");
    AWQ_CU(ctx, awq_k_silu_mul(im->stream, gate, up, out, n));
    return AWQ_OK;
}

static awq_status cu_act_mul(awq_backend *be, awq_act act, const float *gate,
                             const float *up, float *out, int64_t n) {
    if (act == AWQ_ACT_SILU) return cu_silu_mul(be, gate, up, out, n);
    ENTER(be, "act_mul");
    if (n < 0) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "act_mul: n < 0");
    if (act != AWQ_ACT_GELU_TANH && act != AWQ_ACT_GELU)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "act_mul: unknown activation %d", (int)act);
    AWQ_CU(ctx, awq_k_gelu_mul(im->stream, gate, up, out, n, act == AWQ_ACT_GELU));
    return AWQ_OK;
}

static awq_status cu_softcap(awq_backend *be, float *x, int64_t n, float cap) {
    ENTER(be, "softcap");
    if (n < 0 || !(cap > 0))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "softcap: n < 0 or cap <= 0");
    AWQ_CU(ctx, awq_k_softcap(im->stream, x, n, cap));
    return AWQ_OK;
}

static awq_status cu_add(awq_backend *be, float *y, const float *x, int64_t n) {
    ENTER(be, "add");
    if (n < 0) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "add: n < 0");
    AWQ_CU(ctx, awq_k_add(im->stream, y, x, n));
    return AWQ_OK;
}

static awq_status cu_scale_cols(awq_backend *be, float *x, const float *s, int64_t M, int64_t N,
                                bool divide) {
    ENTER(be, "scale_cols");
    if (!dims_ok(M, N)) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "scale_cols: bad shape");
    AWQ_CU(ctx, awq_k_scale_cols(im->stream, x, s, M, N, divide));
    return AWQ_OK;
}

static awq_status cu_scale_rows(awq_backend *be, float *x, const float *s, int64_t M, int64_t N,
                                bool divide) {
    ENTER(be, "scale_rows");
    if (!dims_ok(M, N)) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "scale_rows: bad shape");
    AWQ_CU(ctx, awq_k_scale_rows(im->stream, x, s, M, N, divide));
    return AWQ_OK;
}

static awq_status cu_col_mean_abs(awq_backend *be, const float *x, int64_t M, int64_t N,
                                  float *out) {
    ENTER(be, "col_mean_abs");
    if (!dims_ok(M, N)) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "col_mean_abs: bad shape");
    AWQ_CU(ctx, awq_k_col_mean_abs(im->stream, x, M, N, out));
    return AWQ_OK;
}

static awq_status cu_mse(awq_backend *be, const float *a, const float *b, int64_t n,
                         double *out) {
    ENTER(be, "mse");
    if (n < 0) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "mse: n < 0");
    *out = 0.0;
    if (n == 0) return AWQ_OK;
    const int64_t np = awq_k_mse_n_partials(n);
    void *ws;
    AWQ_TRY(awq_cuda_workspace(be, (size_t)(np + 1) * sizeof(double), "mse partial sums", &ws));
    double *part = ws, *res = part + np;
    AWQ_CU(ctx, awq_k_mse(im->stream, a, b, n, part, res));
    AWQ_CU(ctx, cudaMemcpyAsync(out, res, sizeof(double), cudaMemcpyDeviceToHost, im->stream));
    return awq_cuda_wait(be, "mse");
}

/* The race's segment sums in two launches and one wait (instead of one
 * mse, and one wait, per segment). */
static awq_status cu_sq_err_segs(awq_backend *be, const float *a, const float *b, int64_t n,
                                 int64_t seg_len, double *out) {
    ENTER(be, "sq_err_segs");
    if (n < 0 || seg_len < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "sq_err_segs: n %lld, seg_len %lld",
                        (long long)n, (long long)seg_len);
    if (n == 0) return AWQ_OK;
    const int64_t n_seg = (n + seg_len - 1) / seg_len;
    const int64_t np = awq_k_sq_err_segs_n_partials(n, seg_len);
    void *ws;
    AWQ_TRY(awq_cuda_workspace(be, (size_t)(np + n_seg) * sizeof(double), "segment sums", &ws));
    double *part = ws, *res = part + np;
    AWQ_CU(ctx, awq_k_sq_err_segs(im->stream, a, b, n, seg_len, part, res));
    AWQ_CU(ctx, cudaMemcpyAsync(out, res, sizeof(double) * (size_t)n_seg, cudaMemcpyDeviceToHost,
                                im->stream));
    return awq_cuda_wait(be, "sq_err_segs");
}

/* g = x^T x in one cuBLAS call per INT_MAX/2 rows (fp32 compute; the two
 * triangles come from the same GEMM and may differ in the last bit). */
static awq_status cu_gram(awq_backend *be, const float *x, int64_t M, int64_t K, float *g,
                          bool accumulate) {
    ENTER(be, "gram");
    if (M < 0 || K < 0 || K > INT_MAX || !dims_ok(M, K) || !dims_ok(K, K))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "gram: bad shape M=%lld K=%lld",
                        (long long)M, (long long)K);
    if (K == 0) return AWQ_OK;
    if (M == 0) {
        if (!accumulate)
            AWQ_CU(ctx, cudaMemsetAsync(g, 0, sizeof(float) * (size_t)(K * K), im->stream));
        return AWQ_OK;
    }
    const float alpha = 1.0f;
    const int64_t step = INT_MAX / 2;
    for (int64_t m0 = 0; m0 < M; m0 += step) {
        const int mm = (int)AWQ_MIN(step, M - m0);
        const float beta = (accumulate || m0 > 0) ? 1.0f : 0.0f;
        /* row-major x [mm, K] is column-major x^T [K, mm]: g = x^T (x^T)^T */
        AWQ_CUBLAS(ctx, cublasGemmEx(im->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)K, (int)K, mm,
                                     &alpha, x + m0 * K, CUDA_R_32F, (int)K, x + m0 * K,
                                     CUDA_R_32F, (int)K, &beta, g, CUDA_R_32F, (int)K,
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    return AWQ_OK;
}

/* The dot product on the host, in the reference's order: the search calls
 * it once per candidate on [N, K] weight-sized buffers, small next to the
 * GEMM it follows; staging keeps the sum bit-identical to the CPU's. */
static awq_status cu_dot(awq_backend *be, const float *a, const float *b, int64_t n,
                         double *out) {
    ENTER(be, "dot");
    if (n < 0 || !dims_ok(n, 2)) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "dot: bad n");
    *out = 0.0;
    if (n == 0) return AWQ_OK;
    /* on the device, in awq_dot_ref's order (the first GPU run found the
     * host copy of both operands behind half of a 7B layer's search time) */
    const int64_t nb = (n + AWQ_DOT_BLOCK - 1) / AWQ_DOT_BLOCK;
    void *ws;
    AWQ_TRY(awq_cuda_workspace(be, (size_t)(nb + 1) * sizeof(double), "dot block sums", &ws));
    double *part = ws, *res = part + nb;
    AWQ_CU(ctx, awq_k_dot(im->stream, a, b, n, AWQ_DOT_BLOCK, part, res));
    AWQ_CU(ctx, cudaMemcpyAsync(out, res, sizeof(double), cudaMemcpyDeviceToHost, im->stream));
    return awq_cuda_wait(be, "dot");
}

static awq_status cu_nll_rows(awq_backend *be, const float *logits, const int32_t *targets,
                              int64_t M, int64_t V, double *nll) {
    ENTER(be, "nll_rows");
    if (!dims_ok(M, V) || V == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "nll_rows: bad shape");
    for (int64_t r = 0; r < M; r++)
        if (targets[r] >= V)
            return awq_fail(ctx, AWQ_ERR_RANGE, "nll_rows: target %ld of row %lld is >= vocab %lld",
                            (long)targets[r], (long long)r, (long long)V);
    if (M == 0) return AWQ_OK;
    const size_t tb = awq_cuda_align((size_t)M * sizeof(int32_t));
    void *ws;
    AWQ_TRY(awq_cuda_workspace(be, tb + (size_t)M * sizeof(double), "nll targets", &ws));
    int32_t *dt = ws;
    double *dn = (double *)(void *)((char *)ws + tb);
    AWQ_CU(ctx, cudaMemcpyAsync(dt, targets, (size_t)M * sizeof(int32_t), cudaMemcpyHostToDevice,
                                im->stream));
    AWQ_CU(ctx, awq_k_nll_rows(im->stream, logits, dt, M, V, dn));
    AWQ_CU(ctx, cudaMemcpyAsync(nll, dn, (size_t)M * sizeof(double), cudaMemcpyDeviceToHost,
                                im->stream));
    return awq_cuda_wait(be, "nll_rows");
}

/* The backend-neutral precision switch: BF16 rounds the fp32 operands to
 * bf16 (nearest even) and multiplies them on the tensor cores with fp32
 * accumulation (cu_gemm); FP32 restores CUBLAS_COMPUTE_32F. */
static awq_status cu_set_gemm_precision(awq_backend *be, awq_gemm_precision p) {
    if (p != AWQ_GEMM_FP32 && p != AWQ_GEMM_BF16 && p != AWQ_GEMM_BF16_LINEAR)
        return awq_fail(be->ctx, AWQ_ERR_INVALID_ARG, "gemm precision %d", (int)p);
    /* the attention is fp32 here at every precision: BF16_LINEAR is BF16 */
    AWQ_TRY(awq_backend_cuda_set_gemm_mode(be, p == AWQ_GEMM_FP32 ? AWQ_CUDA_GEMM_FP32
                                                                  : AWQ_CUDA_GEMM_BF16));
    be->precision = p;
    return AWQ_OK;
}

/* ---------------------------------------------------------- the table */

static const awq_backend_ops k_cuda_ops = {
    .name = "cuda",
    .mem = AWQ_MEM_DEVICE,
    .destroy = cu_destroy,
    .alloc = cu_alloc,
    .free = cu_free,
    .upload = cu_upload,
    .download = cu_download,
    .copy = cu_copy,
    .sync = cu_sync,
    .gemm = cu_gemm,
    .rmsnorm = cu_rmsnorm,
    .rope = cu_rope,
    .attention = cu_attention,
    .silu_mul = cu_silu_mul,
    .act_mul = cu_act_mul,
    .softcap = cu_softcap,
    .add = cu_add,
    .scale_cols = cu_scale_cols,
    .scale_rows = cu_scale_rows,
    .col_mean_abs = cu_col_mean_abs,
    .mse = cu_mse,
    .sq_err_segs = cu_sq_err_segs,
    .gram = cu_gram,
    .dot = cu_dot,
    .set_gemm_precision = cu_set_gemm_precision,
    .nll_rows = cu_nll_rows,
};

awq_status awq_backend_cuda_create(awq_ctx *ctx, int device, awq_backend **out) {
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return awq_fail(ctx, AWQ_ERR_NO_DEVICE, "no usable CUDA device: %s (%s)",
                        cudaGetErrorString(e), cudaGetErrorName(e));
    }
    if (count <= 0) return awq_fail(ctx, AWQ_ERR_NO_DEVICE, "no CUDA device found");
    if (device < 0 || device >= count)
        return awq_fail(ctx, AWQ_ERR_NO_DEVICE, "CUDA device %d requested, but %d device%s found",
                        device, count, count == 1 ? " is" : "s are");
    AWQ_CU(ctx, cudaSetDevice(device));
    struct cudaDeviceProp prop;
    AWQ_CU(ctx, cudaGetDeviceProperties(&prop, device));
    e = awq_k_probe();
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return awq_fail(ctx, AWQ_ERR_NO_DEVICE,
                        "the CUDA kernels of this build cannot run on device %d, %s (sm_%d%d): "
                        "%s; rebuild with -DCMAKE_CUDA_ARCHITECTURES=%d%d",
                        device, prop.name, prop.major, prop.minor, cudaGetErrorString(e),
                        prop.major, prop.minor);
    }

    awq_backend *be = awq_calloc(1, sizeof *be);
    awq_cuda_impl *im = awq_calloc(1, sizeof *im);
    if (!be || !im) {
        awq_free(be);
        awq_free(im);
        return awq_fail_nomem(ctx, "CUDA backend", sizeof *be + sizeof *im);
    }
    be->ops = &k_cuda_ops;
    be->ctx = ctx;
    be->kind = AWQ_BACKEND_CUDA;
    be->impl = im;
    im->device = device;
    im->gemm_mode = AWQ_CUDA_GEMM_FP32;
    im->smem_optin = prop.sharedMemPerBlockOptin;
    snprintf(im->desc, sizeof im->desc, "%.160s (sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major,
             prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));

    awq_status st = AWQ_OK;
    AWQ_CU_GOTO(ctx, st, fail, cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking));
    {
        cublasStatus_t bs = cublasCreate(&im->blas);
        if (bs != CUBLAS_STATUS_SUCCESS) {
            im->blas = NULL;
            st = awq_cublas_fail(ctx, bs, "cublasCreate", __FILE__, __LINE__);
            goto fail;
        }
        bs = cublasSetStream(im->blas, im->stream);
        if (bs != CUBLAS_STATUS_SUCCESS) {
            st = awq_cublas_fail(ctx, bs, "cublasSetStream", __FILE__, __LINE__);
            goto fail;
        }
    }
    {
        int pools = 0;
        AWQ_CU_GOTO(ctx, st, fail,
                    cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device));
        if (pools) {
            AWQ_CU_GOTO(ctx, st, fail, cudaDeviceGetDefaultMemPool(&im->pool, device));
            /* keep freed blocks for reuse instead of returning them to the
             * driver at every synchronisation */
            uint64_t keep = UINT64_MAX;
            AWQ_CU_GOTO(ctx, st, fail,
                        cudaMemPoolSetAttribute(im->pool, cudaMemPoolAttrReleaseThreshold, &keep));
            im->pools = true;
        }
    }
    {
        /* cuBLAS would silently use TF32 for the fp32 GEMMs */
        const char *ov = getenv("NVIDIA_TF32_OVERRIDE");
        if (ov && strcmp(ov, "0") != 0)
            awq_warn(ctx, "NVIDIA_TF32_OVERRIDE=%s is set: cuBLAS may use TF32 for fp32 GEMMs, "
                          "outside the CPU tolerances; unset it for reference results",
                     ov);
    }
    awq_cuda_prof_init(im);
    awq_debug(ctx, "CUDA backend on device %d: %s", device, im->desc);
    *out = be;
    return AWQ_OK;
fail:
    cu_destroy(be);
    return st;
}

awq_status awq_backend_cuda_set_gemm_mode(awq_backend *be, awq_cuda_gemm_mode m) {
    ENTER(be, "set_gemm_mode");
    if (m != AWQ_CUDA_GEMM_FP32 && m != AWQ_CUDA_GEMM_TF32 && m != AWQ_CUDA_GEMM_BF16)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown CUDA GEMM mode %d", (int)m);
    im->gemm_mode = m;
    be->precision = m == AWQ_CUDA_GEMM_BF16 ? AWQ_GEMM_BF16 : AWQ_GEMM_FP32;
    return AWQ_OK;
}

awq_status awq_backend_cuda_mem_stats(awq_backend *be, awq_cuda_mem_stats *out) {
    memset(out, 0, sizeof *out);
    ENTER(be, "mem_stats");
    size_t fr = 0, tot = 0;
    AWQ_CU(ctx, cudaMemGetInfo(&fr, &tot));
    out->in_use = im->in_use;
    out->peak_in_use = im->peak;
    out->device_free = fr;
    out->device_total = tot;
    return AWQ_OK;
}

const char *awq_backend_cuda_device_desc(const awq_backend *be) {
    if (!be || be->kind != AWQ_BACKEND_CUDA || !be->impl) return "";
    return ((const awq_cuda_impl *)be->impl)->desc;
}

#endif /* AWQ_HAVE_CUDA */
