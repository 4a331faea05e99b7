/*
 * kernels/elementwise.cu — the row and elementwise ops of the CUDA backend:
 * bias broadcast, fp32 -> fp16/bf16, RMSNorm, RoPE, silu·mul, add, the
 * per-channel scalings, column mean |x|, MSE and per-row NLL.
 *
 * Arithmetic order. Where the CUDA backend promises results bit-identical
 * to the CPU backend (rope, add, scale_cols / scale_rows, col_mean_abs:
 * lib/backend/cpu.c), each value is computed with the same correctly
 * rounded operations in the same order, written with the __f*_rn
 * intrinsics so that no multiply-add is ever fused (they are also compiled
 * with -fmad=false: kernels/sources.cmake). Reductions (rmsnorm, mse,
 * nll_rows) accumulate in double in a fixed tree: deterministic, within
 * rounding of the CPU's sequential sums.
 */
#include "kcommon.cuh"

#include "awq_kernels.h"
#include "quant/qmath.h"

#include <math.h>

#define EW_THREADS 256
#define ROW_THREADS 256

/* -------------------------------------------------------------- probe */

static __global__ void k_probe(int *p) {
    if (p) *p = 1;
}

extern "C" cudaError_t awq_k_probe(void) {
    cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, (const void *)k_probe);
}

/* ---------------------------------------------------- bias, conversion */

static __global__ void k_bias_rows(float *y, const float *bias, int64_t M, int64_t N) {
    const int64_t n = M * N;
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride()) y[i] = bias[i % N];
}

extern "C" cudaError_t awq_k_bias_rows(cudaStream_t st, float *y, const float *bias,
                                       int64_t M, int64_t N) {
    AWQ_LAUNCH(k_bias_rows, awq_grid_for(M * N, EW_THREADS), EW_THREADS, 0, st, y, bias, M, N);
    return cudaGetLastError();
}

/* core's awq_f32_to_bf16: round to nearest even, NaN kept quiet. */
static __device__ __forceinline__ uint16_t f32_to_bf16(float f) {
    uint32_t u = awq_qm_f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

static __global__ void k_to_half(const float *x, uint16_t *y, int64_t n, int bf16) {
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride())
        y[i] = bf16 ? f32_to_bf16(x[i]) : awq_qm_f32_to_f16(x[i]);
}

extern "C" cudaError_t awq_k_to_half(cudaStream_t st, const float *x, uint16_t *y, int64_t n,
                                     int bf16) {
    AWQ_LAUNCH(k_to_half, awq_grid_for(n, EW_THREADS), EW_THREADS, 0, st, x, y, n, bf16);
    return cudaGetLastError();
}

/* ------------------------------------------------------------ rmsnorm */

/* One block per row (grid-stride over rows). As cpu.c: var = (float)(ss /
 * D), inv = (float)(1 / sqrt((double)(var + eps))), y = w * (x * inv). */
static __global__ void __launch_bounds__(ROW_THREADS)
    k_rmsnorm(const float *x, const float *w, float *y, int64_t M, int64_t D, float eps) {
    __shared__ double red[ROW_THREADS];
    for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double ss = 0.0;
        for (int64_t i = threadIdx.x; i < D; i += ROW_THREADS) {
            double v = (double)xr[i];
            ss = __dadd_rn(ss, __dmul_rn(v, v));
        }
        ss = awq_block_sum_d<ROW_THREADS>(ss, red);
        const float var = (float)(ss / (double)D);
        const float inv = (float)(1.0 / sqrt((double)__fadd_rn(var, eps)));
        for (int64_t i = threadIdx.x; i < D; i += ROW_THREADS) {
            float v = __fmul_rn(xr[i], inv);
            yr[i] = w ? __fmul_rn(w[i], v) : v;
        }
    }
}

extern "C" cudaError_t awq_k_rmsnorm(cudaStream_t st, const float *x, const float *w, float *y,
                                     int64_t M, int64_t D, float eps) {
    if (M == 0) return cudaSuccess;
    unsigned g = (unsigned)(M < 65535 ? M : 65535);
    AWQ_LAUNCH(k_rmsnorm, g, ROW_THREADS, 0, st, x, w, y, M, D, eps);
    return cudaGetLastError();
}

/* --------------------------------------------------------------- rope */

/* One thread per (row, head, i < half), as cpu.c's rope_rows. */
static __global__ void k_rope(float *x, int64_t rows, int64_t T, int64_t n_heads, int64_t hd,
                              const float *cos, const float *sin, int64_t pos0) {
    const int64_t half = hd / 2, per_row = n_heads * half, n = rows * per_row;
    for (int64_t idx = awq_gtid(); idx < n; idx += awq_gstride()) {
        const int64_t r = idx / per_row, rem = idx % per_row;
        const int64_t h = rem / half, i = rem % half;
        const int64_t pos = pos0 + r % T;
        const float c = cos[pos * half + i], s = sin[pos * half + i];
        float *v = x + r * n_heads * hd + h * hd;
        const float a = v[i], b = v[i + half];
        const float ac = __fmul_rn(a, c), bs = __fmul_rn(b, s);
        const float bc = __fmul_rn(b, c), as = __fmul_rn(a, s);
        v[i] = __fsub_rn(ac, bs);
        v[i + half] = __fadd_rn(bc, as);
    }
}

extern "C" cudaError_t awq_k_rope(cudaStream_t st, float *x, int64_t B, int64_t T,
                                  int64_t n_heads, int64_t head_dim, const float *cos,
                                  const float *sin, int64_t pos0) {
    const int64_t n = B * T * n_heads * (head_dim / 2);
    if (n == 0) return cudaSuccess;
    AWQ_LAUNCH(k_rope, awq_grid_for(n, EW_THREADS), EW_THREADS, 0, st, x, B * T, T, n_heads,
               head_dim, cos, sin, pos0);
    return cudaGetLastError();
}

/* -------------------------------------------------------- elementwise */

static __global__ void k_silu_mul(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride()) {
        const float g = gate[i];
        const float sg = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
        out[i] = __fmul_rn(sg, up[i]);
    }
}

extern "C" cudaError_t awq_k_silu_mul(cudaStream_t st, const float *gate, const float *up,
                                      float *out, int64_t n) {
    if (n == 0) return cudaSuccess;
    AWQ_LAUNCH(k_silu_mul, awq_grid_for(n, EW_THREADS), EW_THREADS, 0, st, gate, up, out, n);
    return cudaGetLastError();
}

static __global__ void k_gelu_mul(const float *gate, const float *up, float *out, int64_t n,
                                  int exact) {
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride()) {
        const float g = gate[i];
        float t;
        if (exact) {
            t = erff(__fmul_rn(g, 0.7071067811865476f));
        } else {
            const float g3 = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, g), g), g);
            t = tanhf(__fmul_rn(0.7978845608028654f, __fadd_rn(g, g3)));
        }
        const float a = __fmul_rn(__fmul_rn(0.5f, g), __fadd_rn(1.0f, t));
        out[i] = __fmul_rn(a, up[i]);
    }
}

extern "C" cudaError_t awq_k_gelu_mul(cudaStream_t st, const float *gate, const float *up,
                                      float *out, int64_t n, int exact) {
    if (n == 0) return cudaSuccess;
    AWQ_LAUNCH(k_gelu_mul, awq_grid_for(n, EW_THREADS), EW_THREADS, 0, st, gate, up, out, n,
               exact);
    return cudaGetLastError();
}

static __global__ void k_softcap(float *x, int64_t n, float cap) {
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride())
        x[i] = __fmul_rn(cap, tanhf(__fdiv_rn(x[i], cap)));
}

extern "C" cudaError_t awq_k_softcap(cudaStream_t st, float *x, int64_t n, float cap) {
    if (n == 0) return cudaSuccess;
    AWQ_LAUNCH(k_softcap, awq_grid_for(n, EW_THREADS), EW_THREADS, 0, st, x, n, cap);
    return cudaGetLastError();
}

static __global__ void k_add(float *y, const float *x, int64_t n) {
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride()) y[i] = __fadd_rn(y[i], x[i]);
}

extern "C" cudaError_t awq_k_add(cudaStream_t st, float *y, const float *x, int64_t n) {
    if (n == 0) return cudaSuccess;
    AWQ_LAUNCH(k_add, awq_grid_for(n, EW_THREADS), EW_THREADS, 0, st, y, x, n);
    return cudaGetLastError();
}

/* per_col: s indexed by column (scale_cols), else by row (scale_rows). */
static __global__ void k_scale(float *x, const float *s, int64_t M, int64_t N, int divide,
                               int per_col) {
    const int64_t n = M * N;
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride()) {
        const float f = per_col ? s[i % N] : s[i / N];
        x[i] = divide ? __fdiv_rn(x[i], f) : __fmul_rn(x[i], f);
    }
}

extern "C" cudaError_t awq_k_scale_cols(cudaStream_t st, float *x, const float *s, int64_t M,
                                        int64_t N, int divide) {
    if (M * N == 0) return cudaSuccess;
    AWQ_LAUNCH(k_scale, awq_grid_for(M * N, EW_THREADS), EW_THREADS, 0, st, x, s, M, N, divide,
               1);
    return cudaGetLastError();
}

extern "C" cudaError_t awq_k_scale_rows(cudaStream_t st, float *x, const float *s, int64_t M,
                                        int64_t N, int divide) {
    if (M * N == 0) return cudaSuccess;
    AWQ_LAUNCH(k_scale, awq_grid_for(M * N, EW_THREADS), EW_THREADS, 0, st, x, s, M, N, divide,
               0);
    return cudaGetLastError();
}

/* ------------------------------------------------------- col_mean_abs */

/* One thread per column summing its rows in order in double: exactly the
 * CPU's order (backend.h: "accumulated in double in row order"), so the
 * result is bit-identical to it. Rows are read 8 at a time so several
 * loads are in flight while the dependent adds run. */
#define CM_THREADS 128

static __global__ void __launch_bounds__(CM_THREADS)
    k_col_mean_abs(const float *x, int64_t M, int64_t N, float *out) {
    for (int64_t c = awq_gtid(); c < N; c += awq_gstride()) {
        double acc = 0.0;
        int64_t r = 0;
        for (; r + 8 <= M; r += 8) {
            float v[8];
#pragma unroll
            for (int u = 0; u < 8; u++) v[u] = x[(r + u) * N + c];
#pragma unroll
            for (int u = 0; u < 8; u++) acc = __dadd_rn(acc, fabs((double)v[u]));
        }
        for (; r < M; r++) acc = __dadd_rn(acc, fabs((double)x[r * N + c]));
        out[c] = M ? (float)(acc / (double)M) : 0.0f;
    }
}

extern "C" cudaError_t awq_k_col_mean_abs(cudaStream_t st, const float *x, int64_t M, int64_t N,
                                          float *out) {
    if (N == 0) return cudaSuccess;
    AWQ_LAUNCH(k_col_mean_abs, awq_grid_for(N, CM_THREADS), CM_THREADS, 0, st, x, M, N, out);
    return cudaGetLastError();
}

/* ---------------------------------------------------------------- mse */

/* Chunks of MSE_CHUNK elements; one block per chunk: each thread sums its
 * strided elements in order, then a fixed tree; then one block sums the
 * chunk partials (strided per thread, then the tree). */
#define MSE_CHUNK 8192
#define MSE_THREADS 256

extern "C" int64_t awq_k_mse_n_partials(int64_t n) {
    return n <= 0 ? 1 : (n + MSE_CHUNK - 1) / MSE_CHUNK;
}

static __global__ void __launch_bounds__(MSE_THREADS)
    k_mse_partial(const float *a, const float *b, int64_t n, double *part) {
    __shared__ double red[MSE_THREADS];
    const int64_t nch = (n + MSE_CHUNK - 1) / MSE_CHUNK;
    for (int64_t c = blockIdx.x; c < nch; c += gridDim.x) {
        const int64_t s = c * MSE_CHUNK, e = s + MSE_CHUNK < n ? s + MSE_CHUNK : n;
        double acc = 0.0;
        for (int64_t i = s + threadIdx.x; i < e; i += MSE_THREADS) {
            double d = __dsub_rn((double)a[i], (double)b[i]);
            acc = __dadd_rn(acc, __dmul_rn(d, d));
        }
        acc = awq_block_sum_d<MSE_THREADS>(acc, red);
        if (threadIdx.x == 0) part[c] = acc;
    }
}

static __global__ void __launch_bounds__(MSE_THREADS)
    k_mse_final(const double *part, int64_t nch, int64_t n, double *result) {
    __shared__ double red[MSE_THREADS];
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < nch; i += MSE_THREADS) acc = __dadd_rn(acc, part[i]);
    acc = awq_block_sum_d<MSE_THREADS>(acc, red);
    if (threadIdx.x == 0) *result = n > 0 ? acc / (double)n : 0.0;
}

extern "C" cudaError_t awq_k_mse(cudaStream_t st, const float *a, const float *b, int64_t n,
                                 double *partials, double *result) {
    const int64_t nch = n > 0 ? (n + MSE_CHUNK - 1) / MSE_CHUNK : 0;
    if (nch > 0) {
        unsigned g = (unsigned)(nch < 65535 ? nch : 65535);
        AWQ_LAUNCH(k_mse_partial, g, MSE_THREADS, 0, st, a, b, n, partials);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    AWQ_LAUNCH(k_mse_final, 1, MSE_THREADS, 0, st, partials, nch, n, result);
    return cudaGetLastError();
}

/* ----------------------------------------------------------- nll_rows */

/* One block per row: max (exact), sum of exp((double)z - mx) in double
 * (strided, then the tree), nll = mx + log(sum) - z[target]. */
static __global__ void __launch_bounds__(ROW_THREADS)
    k_nll_rows(const float *logits, const int32_t *targets, int64_t M, int64_t V, double *nll) {
    __shared__ double red[ROW_THREADS];
    __shared__ float redf[ROW_THREADS];
    for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
        const int32_t t = targets[r];
        if (t < 0) { /* block-uniform */
            if (threadIdx.x == 0) nll[r] = 0.0;
            continue;
        }
        const float *z = logits + r * V;
        float mx = -INFINITY;
        for (int64_t i = threadIdx.x; i < V; i += ROW_THREADS) mx = fmaxf(mx, z[i]);
        mx = awq_block_max_f<ROW_THREADS>(mx, redf);
        double s = 0.0;
        /* NaN and +Inf already make s NaN; -Inf would add exp(-inf) = 0, so
         * it is turned into NaN too (the contract: NaN for any non-finite
         * logit in the row) */
        for (int64_t i = threadIdx.x; i < V; i += ROW_THREADS)
            s = __dadd_rn(s, isinf(z[i]) ? (double)NAN : exp(__dsub_rn((double)z[i], (double)mx)));
        s = awq_block_sum_d<ROW_THREADS>(s, red);
        if (threadIdx.x == 0) nll[r] = (double)mx + log(s) - (double)z[t];
    }
}

extern "C" cudaError_t awq_k_nll_rows(cudaStream_t st, const float *logits, const int32_t *targets,
                                      int64_t M, int64_t V, double *nll) {
    if (M == 0) return cudaSuccess;
    unsigned g = (unsigned)(M < 65535 ? M : 65535);
    AWQ_LAUNCH(k_nll_rows, g, ROW_THREADS, 0, st, logits, targets, M, V, nll);
    return cudaGetLastError();
}
