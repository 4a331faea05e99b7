/*
 * kernels/attention.cu — causal self-attention with grouped-query heads,
 * tiled with an online softmax (flash-attention style) in fp32.
 *
 * Work split: one block of 4 warps per (32-row query tile, query head,
 * sequence); each warp owns 8 query rows. Key/value tiles of 32 rows are
 * staged in shared memory (K rows padded by one float so that lane j
 * reading key j's element e hits bank (j + e) % 32: conflict-free), with
 * the query tile beside them. For one query row, lane j scores key j
 * (fmaf dot over head_dim), the warp's max and sum come from butterflies,
 * and the output row (head_dim values, HDL per lane) is rescaled and
 * accumulated with the probabilities broadcast by shuffles. Memory per
 * block: (32 hd + 32 (hd+1) + 32 hd) floats; no T x T matrix exists.
 *
 * Why this shape: attention is about 1% of the FLOPs of a calibration
 * forward (the linears dominate), so a simple SIMT kernel that is exact in
 * fp32 and obviously correct beats a tensor-core kernel that would need
 * TF32/bf16 and its own tolerances.
 *
 * Numerics: scores s = fmaf-dot(q, k) * scale; running max m, running sum
 * l, accumulators rescaled by expf(m_old - m_new) (0 on the first tile:
 * expf(-inf) = 0), output acc / l. Fully masked (row, tile) pairs are
 * skipped. Deterministic (fixed orders, butterflies give identical bits in
 * every lane).
 */
#include "kcommon.cuh"

#include "awq_kernels.h"

#include <math.h>

#define ATT_TILE 32                     /* query rows per block, keys per tile */
#define ATT_WARPS 4
#define ATT_THREADS (ATT_WARPS * 32)
#define ATT_ROWS (ATT_TILE / ATT_WARPS) /* query rows per warp */

extern "C" size_t awq_k_attention_smem(int64_t head_dim) {
    if (head_dim < 1 || head_dim > AWQ_K_ATTN_MAX_HEAD_DIM) return 0;
    return sizeof(float) * (size_t)(ATT_TILE * head_dim + ATT_TILE * (head_dim + 1) +
                                    ATT_TILE * head_dim);
}

/* HDL = ceil(head_dim / 32): output elements per lane (1, 2, 4 or 8). */
template <int HDL>
static __global__ void __launch_bounds__(ATT_THREADS)
    k_attention(const float *q, const float *k, const float *v, float *out, int64_t B, int64_t T,
                int64_t n_heads, int64_t n_kv_heads, int64_t hd, float scale, float cap,
                int64_t window) {
    AWQ_DYN_SMEM(float, smem);
    float *Qs = smem;                        /* [ATT_TILE][hd] */
    float *Ks = Qs + ATT_TILE * hd;          /* [ATT_TILE][hd + 1] */
    float *Vs = Ks + ATT_TILE * (hd + 1);    /* [ATT_TILE][hd] */
    const int64_t kstride = hd + 1;
    const int tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t qd = n_heads * hd, kvd = n_kv_heads * hd;
    const int64_t h = blockIdx.y;
    const int64_t kvh = h / (n_heads / n_kv_heads);
    const int64_t q0 = (int64_t)blockIdx.x * ATT_TILE;

    for (int64_t b = blockIdx.z; b < B; b += gridDim.z) {
        const float *qb = q + b * T * qd + h * hd;
        const float *kb = k + b * T * kvd + kvh * hd;
        const float *vb = v + b * T * kvd + kvh * hd;
        float *ob = out + b * T * qd + h * hd;

        /* the query tile (rows beyond T are zeros and never used) */
        for (int64_t i = tid; i < ATT_TILE * hd; i += ATT_THREADS) {
            const int64_t r = i / hd, e = i % hd;
            Qs[i] = (q0 + r < T) ? qb[(q0 + r) * qd + e] : 0.0f;
        }

        float m[ATT_ROWS], l[ATT_ROWS], acc[ATT_ROWS][HDL];
#pragma unroll
        for (int i = 0; i < ATT_ROWS; i++) {
            m[i] = -INFINITY;
            l[i] = 0.0f;
#pragma unroll
            for (int c = 0; c < HDL; c++) acc[i][c] = 0.0f;
        }

        const int64_t last_q = (q0 + ATT_TILE - 1 < T - 1) ? q0 + ATT_TILE - 1 : T - 1;
        const int64_t n_kt = last_q / ATT_TILE + 1;
        /* sliding window: tiles wholly below the first row's window are
         * skipped (block-uniform) */
        const int64_t kt0 = (window > 0 && q0 - window + 1 > 0) ? (q0 - window + 1) / ATT_TILE : 0;
        for (int64_t kt = kt0; kt < n_kt; kt++) {
            const int64_t k0 = kt * ATT_TILE;
            __syncthreads(); /* previous tile fully consumed (and Qs written) */
            for (int64_t i = tid; i < ATT_TILE * hd; i += ATT_THREADS) {
                const int64_t j = i / hd, e = i % hd;
                const bool in = k0 + j < T;
                Ks[j * kstride + e] = in ? kb[(k0 + j) * kvd + e] : 0.0f;
                Vs[i] = in ? vb[(k0 + j) * kvd + e] : 0.0f;
            }
            __syncthreads();
#pragma unroll
            for (int i = 0; i < ATT_ROWS; i++) {
                const int64_t rr = (int64_t)warp * ATT_ROWS + i; /* row in tile */
                const int64_t r = q0 + rr;                       /* query position */
                if (r >= T || k0 > r) continue;                  /* warp-uniform */
                /* the whole tile is below this row's window (warp-uniform);
                 * otherwise some key in [max(k0, r - window + 1), r] is seen */
                if (window > 0 && k0 + ATT_TILE - 1 <= r - window) continue;
                const float *qr = Qs + rr * hd;
                const float *kr = Ks + (int64_t)lane * kstride;
                float s = 0.0f;
                for (int64_t e = 0; e < hd; e++) s = fmaf(qr[e], kr[e], s);
                s = __fmul_rn(s, scale);
                if (cap > 0.0f) s = __fmul_rn(cap, tanhf(__fdiv_rn(s, cap)));
                const int64_t key = k0 + lane;
                /* also < T, since r < T */
                const bool vis = key <= r && (window <= 0 || key > r - window);
                const float sv = vis ? s : -INFINITY;
                const float tmax = awq_warp_max(sv); /* finite: key k0 <= r */
                const float mn = fmaxf(m[i], tmax);
                const float p = vis ? expf(__fsub_rn(sv, mn)) : 0.0f;
                const float corr = expf(__fsub_rn(m[i], mn));
                l[i] = __fadd_rn(__fmul_rn(l[i], corr), awq_warp_sum(p));
                m[i] = mn;
#pragma unroll
                for (int c = 0; c < HDL; c++) acc[i][c] = __fmul_rn(acc[i][c], corr);
                for (int jj = 0; jj < ATT_TILE; jj++) {
                    const float pj = __shfl_sync(AWQ_FULL_MASK, p, jj);
                    const float *vr = Vs + (int64_t)jj * hd;
#pragma unroll
                    for (int c = 0; c < HDL; c++) {
                        const int64_t e = lane + 32 * c;
                        if (e < hd) acc[i][c] = fmaf(pj, vr[e], acc[i][c]);
                    }
                }
            }
        }
#pragma unroll
        for (int i = 0; i < ATT_ROWS; i++) {
            const int64_t r = q0 + (int64_t)warp * ATT_ROWS + i;
            if (r >= T) continue;
#pragma unroll
            for (int c = 0; c < HDL; c++) {
                const int64_t e = lane + 32 * c;
                if (e < hd) ob[r * qd + e] = __fdiv_rn(acc[i][c], l[i]);
            }
        }
        __syncthreads(); /* before the next sequence overwrites Qs */
    }
}

template <int HDL>
static cudaError_t launch_attention(cudaStream_t st, const float *q, const float *k,
                                    const float *v, float *out, int64_t B, int64_t T,
                                    int64_t n_heads, int64_t n_kv_heads, int64_t hd,
                                    float scale, float cap, int64_t window) {
    const size_t smem = awq_k_attention_smem(hd);
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute((const void *)k_attention<HDL>,
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)smem);
        if (e != cudaSuccess) return e;
    }
    dim3 grid((unsigned)((T + ATT_TILE - 1) / ATT_TILE), (unsigned)n_heads,
              (unsigned)(B < 65535 ? B : 65535));
    AWQ_LAUNCH(k_attention<HDL>, grid, ATT_THREADS, smem, st, q, k, v, out, B, T, n_heads,
               n_kv_heads, hd, scale, cap, window);
    return cudaGetLastError();
}

extern "C" cudaError_t awq_k_attention(cudaStream_t st, const float *q, const float *k,
                                       const float *v, float *out, int64_t B, int64_t T,
                                       int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                                       float scale, float cap, int64_t window) {
    if (B == 0 || T == 0) return cudaSuccess;
    if (head_dim <= 32)
        return launch_attention<1>(st, q, k, v, out, B, T, n_heads, n_kv_heads, head_dim, scale, cap,
                                   window);
    if (head_dim <= 64)
        return launch_attention<2>(st, q, k, v, out, B, T, n_heads, n_kv_heads, head_dim, scale, cap,
                                   window);
    if (head_dim <= 128)
        return launch_attention<4>(st, q, k, v, out, B, T, n_heads, n_kv_heads, head_dim, scale, cap,
                                   window);
    return launch_attention<8>(st, q, k, v, out, B, T, n_heads, n_kv_heads, head_dim, scale, cap,
                                   window);
}
