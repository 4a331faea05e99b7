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

/* ---------------------------------------------------------------- dot */

/* The dot op's fixed order (backend.h): blocks of AWQ_DOT_BLOCK elements,
 * each summed in index order, the block sums added in block order; the
 * same bits as awq_dot_ref on the host. One thread per block does its
 * sequential sum (the order leaves no room for a tree), one thread adds
 * the block sums. */
#define DOT_THREADS 128

static __global__ void __launch_bounds__(DOT_THREADS)
    k_dot_blocks(const float *a, const float *b, int64_t n, int64_t block, double *part) {
    const int64_t nb = (n + block - 1) / block;
    for (int64_t j = awq_gtid(); j < nb; j += awq_gstride()) {
        const int64_t s = j * block, e = s + block < n ? s + block : n;
        double acc = 0.0;
        for (int64_t i = s; i < e; i++) acc = __dadd_rn(acc, __dmul_rn((double)a[i], (double)b[i]));
        part[j] = acc;
    }
}

static __global__ void k_dot_final(const double *part, int64_t nb, double *out) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double s = 0.0;
    for (int64_t j = 0; j < nb; j++) s = __dadd_rn(s, part[j]);
    *out = s;
}

extern "C" cudaError_t awq_k_dot(cudaStream_t st, const float *a, const float *b, int64_t n,
                                 int64_t block, double *partials, double *result) {
    const int64_t nb = n > 0 && block > 0 ? (n + block - 1) / block : 0;
    if (nb > 0) {
        AWQ_LAUNCH(k_dot_blocks, awq_grid_for(nb, DOT_THREADS), DOT_THREADS, 0, st, a, b, n, block,
                   partials);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    AWQ_LAUNCH(k_dot_final, 1, 32, 0, st, partials, nb, result);
    return cudaGetLastError();
}

/* Per-segment sums of squared differences (the race's paired samples):
 * segment s is elements [s * seg_len, min(n, (s + 1) * seg_len)). Each
 * segment's chunks of MSE_CHUNK are summed by k_mse_partial into its own
 * run of `per` partials, then one block per segment sums them as
 * k_mse_final does: a segment's sum has the bits of awq_k_mse's sum over
 * that segment alone (awq_k_mse's result is that sum / its length). When
 * seg_len is a multiple of MSE_CHUNK no chunk straddles two segments and
 * one partial pass over the whole range does every segment's chunks. */
extern "C" int64_t awq_k_sq_err_segs_n_partials(int64_t n, int64_t seg_len) {
    if (n <= 0 || seg_len <= 0) return 1;
    const int64_t n_seg = (n + seg_len - 1) / seg_len, per = (seg_len + MSE_CHUNK - 1) / MSE_CHUNK;
    return n_seg * per;
}

static __global__ void __launch_bounds__(MSE_THREADS)
    k_seg_final(const double *part, int64_t n, int64_t seg_len, int64_t per, double *out) {
    __shared__ double red[MSE_THREADS];
    const int64_t n_seg = (n + seg_len - 1) / seg_len;
    for (int64_t sg = blockIdx.x; sg < n_seg; sg += gridDim.x) {
        const int64_t off = sg * seg_len, cnt = n - off < seg_len ? n - off : seg_len;
        const int64_t nch = (cnt + MSE_CHUNK - 1) / MSE_CHUNK;
        const double *p = part + sg * per;
        double acc = 0.0;
        for (int64_t i = threadIdx.x; i < nch; i += MSE_THREADS) acc = __dadd_rn(acc, p[i]);
        acc = awq_block_sum_d<MSE_THREADS>(acc, red);
        if (threadIdx.x == 0) out[sg] = acc;
    }
}

extern "C" cudaError_t awq_k_sq_err_segs(cudaStream_t st, const float *a, const float *b,
                                         int64_t n, int64_t seg_len, double *partials,
                                         double *out) {
    if (n <= 0 || seg_len <= 0) return cudaSuccess;
    const int64_t n_seg = (n + seg_len - 1) / seg_len, per = (seg_len + MSE_CHUNK - 1) / MSE_CHUNK;
    if (seg_len % MSE_CHUNK == 0) {
        const int64_t nch = (n + MSE_CHUNK - 1) / MSE_CHUNK;
        unsigned g = (unsigned)(nch < 65535 ? nch : 65535);
        AWQ_LAUNCH(k_mse_partial, g, MSE_THREADS, 0, st, a, b, n, partials);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    } else {
        for (int64_t sg = 0; sg < n_seg; sg++) {
            const int64_t off = sg * seg_len, cnt = n - off < seg_len ? n - off : seg_len;
            unsigned g = (unsigned)((cnt + MSE_CHUNK - 1) / MSE_CHUNK);
            AWQ_LAUNCH(k_mse_partial, g, MSE_THREADS, 0, st, a + off, b + off, cnt,
                       partials + sg * per);
            cudaError_t e = cudaGetLastError();
            if (e != cudaSuccess) return e;
        }
    }
    unsigned g = (unsigned)(n_seg < 65535 ? n_seg : 65535);
    AWQ_LAUNCH(k_seg_final, g, MSE_THREADS, 0, st, partials, n, seg_len, per, out);
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
