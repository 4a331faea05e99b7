/*
 * kernels/quant.cu — quantization on the GPU: the group quantizer, pseudo-
 * quantization (single and batched over candidate scale vectors), the clip
 * search and its clamp, and the packers of the four on-disk layouts.
 *
 * Bit-exactness with the C oracles (lib/quant/quantizer.c, clip.c, pack.c):
 *  - per-element math comes from lib/quant/qmath.h (scale, zero, code,
 *    dequantized value, clip factor, clamp), whose device spellings are
 *    the correctly rounded __f*_rn intrinsics and rintf (half to even);
 *    this file is also compiled with -fmad=false (kernels/sources.cmake), so
 *    no multiply-add anywhere is fused behind our back;
 *  - group statistics (min, max, max|w|) are exact in any order, so warp
 *    butterflies give the oracle's values;
 *  - the clip error uses explicit fmaf in increasing k and the run / chunk
 *    token order of lib/quant/clip.h, which the tile shape below realises;
 *  - field positions come from lib/quant/layouts.h (the packers' single
 *    definition): each thread builds one whole output word from the
 *    positions of the values that fall into it, so no word is shared and no
 *    atomics are needed.
 * Errors (non-finite weight, scale beyond FP16) lower a 64-bit "first
 * failing item" word with atomicMin: the host reports the same (row, group)
 * as the sequential oracle whatever the schedule.
 */
#include "kcommon.cuh"

#include "awq_kernels.h"
#include "quant/layouts.h"
#include "quant/qmath.h"

#include <math.h>

#define Q_THREADS 256
#define Q_WARPS (Q_THREADS / 32)

static __device__ __forceinline__ int64_t imin64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Statistics of one group, computed by a warp: lanes stride the columns
 * (coalesced), then butterflies merge them. sg (optional) multiplies each
 * weight by its column's scale first (fp32, as the host's w * s). */
static __device__ __forceinline__ awq_qm_stats warp_group_stats(const float *wg, const float *sg,
                                                                int64_t len, int lane) {
    awq_qm_stats st;
    st.mn = INFINITY;
    st.mx = -INFINITY;
    st.amax = 0.0f;
    st.bad = 0;
    for (int64_t i = lane; i < len; i += 32) {
        const float v = sg ? AWQ_QM_MUL(wg[i], sg[i]) : wg[i];
        awq_qm_stats_add(&st, v);
    }
    st.mn = awq_warp_min(st.mn);
    st.mx = awq_warp_max(st.mx);
    st.amax = awq_warp_max(st.amax);
    st.bad = awq_warp_or(st.bad);
    return st;
}

/* ------------------------------------------------- quantize / pseudo */

/* One warp per (candidate, row, group). Modes:
 *   q != NULL       codes, scales, zeros (awq_qtensor layout)
 *   else            out[c] = Q(w * s_c) / s_c (scales != NULL) or Q(w). */
static __global__ void __launch_bounds__(Q_THREADS)
    k_quant(const float *w, const float *scales, int64_t n_cand, float *out, uint8_t *q,
            uint16_t *sc_out, uint8_t *z_out, int64_t N, int64_t K, int64_t gl, int64_t G,
            int bits, int sym, unsigned long long *err) {
    const int lane = (int)(threadIdx.x & 31);
    const int64_t NG = N * G, items = n_cand * NG;
    const int64_t nwarps = (int64_t)gridDim.x * Q_WARPS;
    for (int64_t it = (int64_t)blockIdx.x * Q_WARPS + (threadIdx.x >> 5); it < items;
         it += nwarps) {
        const int64_t c = it / NG, rem = it % NG, n = rem / G, g = rem % G;
        const int64_t k0 = g * gl, len = imin64(gl, K - k0);
        const float *wg = w + n * K + k0;
        const float *sg = scales ? scales + c * K + k0 : NULL;
        const awq_qm_stats st = warp_group_stats(wg, sg, len, lane);
        awq_qm_group gp;
        const int ok = !st.bad && awq_qm_params(&st, bits, sym, &gp);
        if (!ok) { /* warp-uniform */
            if (lane == 0) atomicMin(&err[c], (unsigned long long)rem);
            continue;
        }
        if (q) {
            if (lane == 0) {
                sc_out[g * N + n] = gp.h;
                z_out[g * N + n] = (uint8_t)gp.z;
            }
            uint8_t *qg = q + n * K + k0;
            for (int64_t i = lane; i < len; i += 32)
                qg[i] = (uint8_t)awq_qm_code(wg[i], &gp, bits, sym);
        } else {
            float *og = out + (c * N + n) * K + k0;
            for (int64_t i = lane; i < len; i += 32) {
                if (sg) {
                    const float v = AWQ_QM_MUL(wg[i], sg[i]);
                    og[i] = AWQ_QM_DIV(awq_qm_pseudo(v, &gp, bits, sym), sg[i]);
                } else {
                    og[i] = awq_qm_pseudo(wg[i], &gp, bits, sym);
                }
            }
        }
    }
}

static unsigned warp_grid(int64_t items) { return awq_grid_for(items, Q_WARPS); }

extern "C" cudaError_t awq_k_quantize(cudaStream_t st, const float *w, int64_t N, int64_t K,
                                      int64_t gl, int bits, int sym, uint8_t *q,
                                      uint16_t *scales, uint8_t *zeros,
                                      unsigned long long *err) {
    const int64_t G = (K + gl - 1) / gl;
    AWQ_LAUNCH(k_quant, warp_grid(N * G), Q_THREADS, 0, st, w, (const float *)NULL, (int64_t)1,
               (float *)NULL, q, scales, zeros, N, K, gl, G, bits, sym, err);
    return cudaGetLastError();
}

extern "C" cudaError_t awq_k_pseudo(cudaStream_t st, const float *w, float *out, int64_t N,
                                    int64_t K, int64_t gl, int bits, int sym,
                                    unsigned long long *err) {
    const int64_t G = (K + gl - 1) / gl;
    AWQ_LAUNCH(k_quant, warp_grid(N * G), Q_THREADS, 0, st, w, (const float *)NULL, (int64_t)1,
               out, (uint8_t *)NULL, (uint16_t *)NULL, (uint8_t *)NULL, N, K, gl, G, bits, sym,
               err);
    return cudaGetLastError();
}

extern "C" cudaError_t awq_k_pseudo_scaled(cudaStream_t st, const float *w, const float *scales,
                                           int64_t n_cand, float *out, int64_t N, int64_t K,
                                           int64_t gl, int bits, int sym,
                                           unsigned long long *err) {
    const int64_t G = (K + gl - 1) / gl;
    AWQ_LAUNCH(k_quant, warp_grid(n_cand * N * G), Q_THREADS, 0, st, w, scales, n_cand, out,
               (uint8_t *)NULL, (uint16_t *)NULL, (uint8_t *)NULL, N, K, gl, G, bits, sym, err);
    return cudaGetLastError();
}

/* ------------------------------------------------------- clip search */

/* stats [3][N*G]: min, max, max|w| per group; err: first group that is
 * non-finite or whose unclipped scale overflows FP16. */
static __global__ void __launch_bounds__(Q_THREADS)
    k_clip_stats(const float *w, int64_t N, int64_t K, int64_t gl, int64_t G, int bits, int sym,
                 float *stats, unsigned long long *err) {
    const int lane = (int)(threadIdx.x & 31);
    const int64_t NG = N * G, nwarps = (int64_t)gridDim.x * Q_WARPS;
    for (int64_t it = (int64_t)blockIdx.x * Q_WARPS + (threadIdx.x >> 5); it < NG;
         it += nwarps) {
        const int64_t n = it / G, g = it % G, k0 = g * gl, len = imin64(gl, K - k0);
        const awq_qm_stats st = warp_group_stats(w + n * K + k0, NULL, len, lane);
        awq_qm_group gp;
        const int ok = !st.bad && awq_qm_params(&st, bits, sym, &gp);
        if (lane == 0) {
            stats[it] = st.mn;
            stats[NG + it] = st.mx;
            stats[2 * NG + it] = st.amax;
            if (!ok) atomicMin(err, (unsigned long long)it);
        }
    }
}

extern "C" cudaError_t awq_k_clip_stats(cudaStream_t st, const float *w, int64_t N, int64_t K,
                                        int64_t gl, int bits, int sym, float *stats,
                                        unsigned long long *err) {
    const int64_t G = (K + gl - 1) / gl;
    AWQ_LAUNCH(k_clip_stats, warp_grid(N * G), Q_THREADS, 0, st, w, N, K, gl, G, bits, sym,
               stats, err);
    return cudaGetLastError();
}

/* D[s][nl][k] = Q(clamp(w, mv_s)) - w for rows n0 + nl, one warp per
 * (step, row, group). A clamped group that cannot be quantized (impossible
 * once the unclamped one passed k_clip_stats) gets NaN, so its error is NaN
 * and never wins, as in the oracle. */
static __global__ void __launch_bounds__(Q_THREADS)
    k_clip_delta(const float *w, const float *stats, int64_t n0, int64_t nc, int64_t N,
                 int64_t K, int64_t gl, int64_t G, int bits, int sym, int n_grid, int n_steps,
                 float *D) {
    const int lane = (int)(threadIdx.x & 31);
    const int64_t NG = N * G, per_s = nc * G, items = (int64_t)n_steps * per_s;
    const int64_t nwarps = (int64_t)gridDim.x * Q_WARPS;
    for (int64_t it = (int64_t)blockIdx.x * Q_WARPS + (threadIdx.x >> 5); it < items;
         it += nwarps) {
        const int s = (int)(it / per_s);
        const int64_t rem = it % per_s, nl = rem / G, g = rem % G, n = n0 + nl;
        const int64_t k0 = g * gl, len = imin64(gl, K - k0), si = n * G + g;
        awq_qm_stats st;
        st.mn = stats[si];
        st.mx = stats[NG + si];
        st.amax = stats[2 * NG + si];
        st.bad = 0;
        const float mv = awq_qm_clip_max(st.amax, s, n_grid);
        const awq_qm_stats cs = awq_qm_stats_clamped(&st, mv);
        awq_qm_group gp;
        const int ok = awq_qm_params(&cs, bits, sym, &gp);
        const float *wg = w + n * K + k0;
        float *dg = D + ((int64_t)s * nc + nl) * K + k0;
        for (int64_t i = lane; i < len; i += 32) {
            const float wv = wg[i];
            dg[i] = ok ? AWQ_QM_SUB(awq_qm_pseudo(awq_qm_clamp(wv, mv), &gp, bits, sym), wv)
                       : NAN;
        }
    }
}

extern "C" cudaError_t awq_k_clip_delta(cudaStream_t st, const float *w, const float *stats,
                                        int64_t n0, int64_t nc, int64_t N, int64_t K,
                                        int64_t gl, int bits, int sym, int n_grid, int n_steps,
                                        float *D) {
    const int64_t G = (K + gl - 1) / gl;
    if (n_steps < 1 || nc < 1) return cudaSuccess;
    AWQ_LAUNCH(k_clip_delta, warp_grid((int64_t)n_steps * nc * G), Q_THREADS, 0, st, w, stats,
               n0, nc, N, K, gl, G, bits, sym, n_grid, n_steps, D);
    return cudaGetLastError();
}

/* The error tiles. Block = 256 threads computing e for 128 rows x 128
 * tokens of one (group, step); thread (tx, ty) = (tid % 16, tid / 16) owns
 * rows {4ty..4ty+3, 64+4ty..64+4ty+3} and tokens {4tx..4tx+3,
 * 64+4tx..64+4tx+3}: each thread's token quadruples are exactly the runs of
 * AWQ_CLIP_RUN = 4 consecutive tokens, and one 128-token tile is one chunk
 * of AWQ_CLIP_CHUNK = 128. The dot over the group advances in k order
 * (CT_KC columns per shared-memory stage), fmaf from 0.0f. Padding (rows
 * beyond nc, tokens beyond T, columns beyond the group) is zero: a padded
 * token's e is 0 and adds +0.0 to its run, a padded column adds
 * fmaf(0, 0, acc) = acc (up to the sign of a zero, squared away). */
#define CT_ROWS 128
#define CT_TOK 128
#define CT_KC 8
#define CT_LD (CT_ROWS + 4) /* padded: conflict-free transposing stores */
#define CT_THREADS 256

static __global__ void __launch_bounds__(CT_THREADS)
    k_clip_err(const float *D, const float *x, int64_t n0, int64_t nc, int64_t N, int64_t K,
               int64_t T, int64_t gl, int64_t G, double *errs) {
    __shared__ __align__(16) float Ds[CT_KC][CT_LD];
    __shared__ __align__(16) float Xs[CT_KC][CT_LD];
    __shared__ double P[CT_ROWS][33];
    const int tid = (int)threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int64_t r0 = (int64_t)blockIdx.x * CT_ROWS; /* first row of the tile (in chunk) */
    const int s = (int)blockIdx.z;
    const float *Dg = D + (int64_t)s * nc * K;
    for (int64_t g = blockIdx.y; g < G; g += gridDim.y) {
        const int64_t k0 = g * gl, k1 = imin64(K, k0 + gl);
        double total = 0.0;
        for (int64_t t0 = 0; t0 < T; t0 += CT_TOK) {
            float acc[8][8];
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;
            for (int64_t kc = k0; kc < k1; kc += CT_KC) {
#pragma unroll
                for (int r = 0; r < (CT_ROWS * CT_KC) / CT_THREADS; r++) {
                    const int idx = r * CT_THREADS + tid;
                    const int row = idx / CT_KC, kk = idx % CT_KC;
                    const int64_t k = kc + kk;
                    const bool kin = k < k1;
                    const int64_t oc = r0 + row, t = t0 + row;
                    Ds[kk][row] = (kin && oc < nc) ? Dg[oc * K + k] : 0.0f;
                    Xs[kk][row] = (kin && t < T) ? x[t * K + k] : 0.0f;
                }
                __syncthreads();
#pragma unroll
                for (int kk = 0; kk < CT_KC; kk++) {
                    float a[8], b[8];
                    AWQ_LD4(a, &Ds[kk][ty * 4]);
                    AWQ_LD4(a + 4, &Ds[kk][64 + ty * 4]);
                    AWQ_LD4(b, &Xs[kk][tx * 4]);
                    AWQ_LD4(b + 4, &Xs[kk][64 + tx * 4]);
#pragma unroll
                    for (int i = 0; i < 8; i++)
#pragma unroll
                        for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
                }
                __syncthreads();
            }
            /* runs of 4 tokens, then the chunk's 32 runs in token order */
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const int row = i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4);
                double ra = 0.0, rb = 0.0;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const double ea = (double)acc[i][j], eb = (double)acc[i][j + 4];
                    ra = __dadd_rn(ra, __dmul_rn(ea, ea));
                    rb = __dadd_rn(rb, __dmul_rn(eb, eb));
                }
                P[row][tx] = ra;
                P[row][16 + tx] = rb;
            }
            __syncthreads();
            if (tid < CT_ROWS) {
                double chunk = 0.0;
                for (int r = 0; r < 32; r++) chunk = __dadd_rn(chunk, P[tid][r]);
                total = __dadd_rn(total, chunk);
            }
            __syncthreads();
        }
        if (tid < CT_ROWS && r0 + tid < nc)
            errs[((int64_t)s * N + n0 + r0 + tid) * G + g] = total / (double)T;
    }
}

extern "C" cudaError_t awq_k_clip_err(cudaStream_t st, const float *D, const float *x,
                                      int64_t n0, int64_t nc, int64_t N, int64_t K, int64_t T,
                                      int64_t gl, int n_steps, double *errs) {
    const int64_t G = (K + gl - 1) / gl;
    if (n_steps < 1 || nc < 1) return cudaSuccess;
    dim3 grid((unsigned)((nc + CT_ROWS - 1) / CT_ROWS), (unsigned)(G < 65535 ? G : 65535),
              (unsigned)n_steps);
    AWQ_LAUNCH(k_clip_err, grid, CT_THREADS, 0, st, D, x, n0, nc, N, K, T, gl, G, errs);
    return cudaGetLastError();
}

/* First strict minimum over the steps; start: err +inf, max = org max. */
static __global__ void k_clip_select(const float *stats, const double *errs, int64_t N,
                                     int64_t G, int n_grid, int n_steps, float *max_val) {
    const int64_t NG = N * G;
    for (int64_t i = awq_gtid(); i < NG; i += awq_gstride()) {
        const float amax = stats[2 * NG + i];
        double best_err = INFINITY;
        float best = amax;
        for (int s = 0; s < n_steps; s++) {
            const double e = errs[(int64_t)s * NG + i];
            if (e < best_err) {
                best_err = e;
                best = awq_qm_clip_max(amax, s, n_grid);
            }
        }
        max_val[i] = best;
    }
}

extern "C" cudaError_t awq_k_clip_select(cudaStream_t st, const float *stats, const double *errs,
                                         int64_t N, int64_t G, int n_grid, int n_steps,
                                         float *max_val) {
    AWQ_LAUNCH(k_clip_select, awq_grid_for(N * G, 256), 256, 0, st, stats, errs, N, G, n_grid,
               n_steps, max_val);
    return cudaGetLastError();
}

static __global__ void k_clip_apply(float *w, int64_t N, int64_t K, int64_t gl, int64_t G,
                                    const float *max_val) {
    const int64_t n = N * K;
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride()) {
        const int64_t r = i / K, k = i % K;
        w[i] = awq_qm_clamp(w[i], max_val[r * G + k / gl]);
    }
}

extern "C" cudaError_t awq_k_clip_apply(cudaStream_t st, float *w, int64_t N, int64_t K,
                                        int64_t gl, const float *max_val) {
    const int64_t G = (K + gl - 1) / gl;
    AWQ_LAUNCH(k_clip_apply, awq_grid_for(N * K, 256), 256, 0, st, w, N, K, gl, G, max_val);
    return cudaGetLastError();
}

/* ------------------------------------------------------------ packers */

/* OR the value v (`bits` wide) at position p into word `idx`: its low part
 * when the field starts in this word, its spill-over when it started in
 * the previous one (3-bit GPTQ fields crossing a word boundary). */
static __device__ __forceinline__ uint32_t place(awq_lay_pos p, int64_t idx, uint32_t v) {
    const uint64_t wide = (uint64_t)v << p.shift;
    if (p.word == idx) return (uint32_t)wide;
    if (p.word2 == idx) return (uint32_t)(wide >> 32);
    return 0u;
}

/* One thread per qweight word. */
static __global__ void k_pack_qweight(int format, int64_t N, int64_t K, int bits,
                                      const uint8_t *q, uint32_t *qw, int64_t n_words) {
    for (int64_t idx = awq_gtid(); idx < n_words; idx += awq_gstride()) {
        uint32_t word = 0;
        if (format == AWQ_QFMT_AWQ_GEMM) { /* [K, N/8] */
            const int64_t NJ = N / 8, k = idx / NJ, j = idx % NJ;
            for (int f = 0; f < 8; f++) {
                const int64_t n = 8 * j + AWQ_GEMM_COL_OF_FIELD(f);
                word |= place(awq_lay_qweight_pos(format, K, N, 4, n, k), idx, q[n * K + k]);
            }
        } else if (format == AWQ_QFMT_AWQ_GEMV) { /* [N, K/8] */
            const int64_t KW = K / 8, n = idx / KW, c = idx % KW;
            for (int f = 0; f < 8; f++) {
                const int64_t k = 8 * c + f;
                word |= place(awq_lay_qweight_pos(format, K, N, 4, n, k), idx, q[n * K + k]);
            }
        } else { /* GPTQ [K*b/32, N]: stream r of column n */
            const int64_t r = idx / N, n = idx % N;
            const int64_t kf = (32 * r) / bits, kl = (32 * r + 31) / bits;
            for (int64_t k = kf; k <= kl && k < K; k++)
                word |= place(awq_lay_qweight_pos(format, K, N, bits, n, k), idx, q[n * K + k]);
        }
        qw[idx] = word;
    }
}

/* One thread per qzeros word; stored field = (zero - offset) mod 2^bits. */
static __global__ void k_pack_qzeros(int format, int64_t N, int64_t G, int bits, int64_t Z,
                                     const uint8_t *zeros, uint32_t *qz, int64_t n_words) {
    const uint32_t mask = (1u << bits) - 1u;
    const uint32_t off = (uint32_t)awq_lay_zero_offset(format);
    for (int64_t idx = awq_gtid(); idx < n_words; idx += awq_gstride()) {
        uint32_t word = 0;
        if (format == AWQ_QFMT_AWQ_GEMM) { /* [G, N/8] */
            const int64_t NJ = N / 8, g = idx / NJ, j = idx % NJ;
            for (int f = 0; f < 8; f++) {
                const int64_t n = 8 * j + AWQ_GEMM_COL_OF_FIELD(f);
                word |= place(awq_lay_qzeros_pos(format, N, 4, Z, g, n), idx, zeros[g * N + n]);
            }
        } else if (format == AWQ_QFMT_AWQ_GEMV) { /* [N, Z]; groups >= G stay 0 */
            const int64_t n = idx / Z, c = idx % Z;
            for (int f = 0; f < 8; f++) {
                const int64_t g = 8 * c + f;
                if (g < G)
                    word |= place(awq_lay_qzeros_pos(format, N, 4, Z, g, n), idx,
                                  zeros[g * N + n]);
            }
        } else { /* GPTQ [G, N*b/32]: stream along row g */
            const int64_t ZW = N * bits / 32, g = idx / ZW, r = idx % ZW;
            const int64_t nf = (32 * r) / bits, nl = (32 * r + 31) / bits;
            for (int64_t n = nf; n <= nl && n < N; n++) {
                const uint32_t v = ((uint32_t)zeros[g * N + n] - off) & mask;
                word |= place(awq_lay_qzeros_pos(format, N, bits, Z, g, n), idx, v);
            }
        }
        qz[idx] = word;
    }
}

/* scales_out: the layout's scales tensor (GEMV: [N, 8Z], zero padded). */
static __global__ void k_pack_scales(int format, int64_t N, int64_t G, int64_t Z,
                                     const uint16_t *scales, uint16_t *out, int64_t n_out) {
    for (int64_t idx = awq_gtid(); idx < n_out; idx += awq_gstride()) {
        if (format == AWQ_QFMT_AWQ_GEMV) {
            const int64_t n = idx / (8 * Z), g = idx % (8 * Z);
            out[idx] = g < G ? scales[g * N + n] : (uint16_t)0;
        } else {
            out[idx] = scales[idx];
        }
    }
}

static __global__ void k_pack_gidx(int64_t K, int64_t gl, int32_t *g_idx) {
    for (int64_t k = awq_gtid(); k < K; k += awq_gstride()) g_idx[k] = (int32_t)(k / gl);
}

static __global__ void k_count_zero0(const uint8_t *zeros, int64_t n, unsigned long long *count) {
    unsigned long long local = 0;
    for (int64_t i = awq_gtid(); i < n; i += awq_gstride()) local += zeros[i] == 0;
    if (local) atomicAdd(count, local);
}

extern "C" cudaError_t awq_k_pack(cudaStream_t st, int format, int64_t N, int64_t K, int bits,
                                  int64_t gl, int64_t Z, const uint8_t *q,
                                  const uint16_t *scales, const uint8_t *zeros,
                                  uint32_t *qweight, uint32_t *qzeros, uint16_t *scales_out,
                                  int32_t *g_idx, unsigned long long *zero0) {
    const int64_t G = (K + gl - 1) / gl;
    int64_t n_qw, n_qz, n_sc;
    if (format == AWQ_QFMT_AWQ_GEMM) {
        n_qw = K * (N / 8);
        n_qz = G * (N / 8);
        n_sc = G * N;
    } else if (format == AWQ_QFMT_AWQ_GEMV) {
        n_qw = N * (K / 8);
        n_qz = N * Z;
        n_sc = N * 8 * Z;
    } else {
        n_qw = (K * bits / 32) * N;
        n_qz = G * (N * bits / 32);
        n_sc = G * N;
    }
    cudaError_t e;
    if (zero0 && format == AWQ_QFMT_GPTQ) {
        AWQ_LAUNCH(k_count_zero0, awq_grid_for(G * N, 256), 256, 0, st, zeros, G * N, zero0);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    AWQ_LAUNCH(k_pack_qweight, awq_grid_for(n_qw, 256), 256, 0, st, format, N, K, bits, q,
               qweight, n_qw);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    AWQ_LAUNCH(k_pack_qzeros, awq_grid_for(n_qz, 256), 256, 0, st, format, N, G, bits, Z, zeros,
               qzeros, n_qz);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    AWQ_LAUNCH(k_pack_scales, awq_grid_for(n_sc, 256), 256, 0, st, format, N, G, Z, scales,
               scales_out, n_sc);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    if (g_idx) {
        AWQ_LAUNCH(k_pack_gidx, awq_grid_for(K, 256), 256, 0, st, K, gl, g_idx);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    return cudaSuccess;
}
