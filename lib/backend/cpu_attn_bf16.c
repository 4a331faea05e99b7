/* lib/backend/cpu_attn_bf16.c — the CPU attention's p·v product in bf16
 * with fp32 accumulation (AVX512-BF16 vdpbf16ps), used while the backend's
 * precision is AWQ_GEMM_BF16 (the AWQ search's candidate forwards).
 *
 * Why: the search's candidate GEMMs already run in bf16; the fp32 attention
 * was then the largest single cost (~24% of a tiny-llama quantize). On Zen 4
 * AVX-512 is double-pumped, so fp32 FMAs run no faster in zmm than in ymm,
 * but vdpbf16ps does two multiply-adds per fp32 lane.
 *
 * Why only p·v: with q·k in bf16 too (q and k rounded: 2^-9 relative each,
 * on sums of |q_i k_i| much larger than the score, then amplified by exp)
 * the candidate losses of the q,k,v group moved by ~0.7% on tiny-llama
 * (~0.3% from the bf16 GEMMs alone), and the search picked a ratio 1.3%
 * worse by the fp32 losses (test_awq_gram, AWQ_TOL_BF16_PICK 0.2%). p and v
 * rounded to bf16 add errors that average over the keys: the loss noise
 * stayed that of the GEMMs. So the scores are the fp32 kernel's (the same
 * tile, cpu_attn.h), and out += p·v with p and v rounded to bf16 (nearest
 * even, as awq_round_bf16); the products of two bf16 are exact in fp32 and
 * are summed in fp32. Scale, softcap, mask, running max, exp, the sums of
 * p and the final division are the fp32 kernel's code (cpu_attn.h). The
 * oracle is awq_attention_bf16_ref (backend.c).
 *
 * Layout (vdpbf16ps multiplies adjacent bf16 pairs into one fp32 lane):
 *   V [Tp/2][hdp][2]  pairs along keys: 16 output columns for one pair of
 *        keys are one zmm load; p is read as 32-bit pairs and broadcast.
 *   Keys are padded to Tp with zeros (v = 0, p = 0), head_dim to hdp.
 *
 * Determinism: as the fp32 kernel (one worker per output row, fixed order
 * of key blocks, of pairs and of the lanes' sums). p goes to bf16 by
 * vcvtneps2bf16, which rounds to nearest even like awq_round_bf16 and
 * differs from it only on fp32 denormals (flushed to 0), which vdpbf16ps
 * would read as 0 anyway. */
#include "backend/cpu_attn.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512bf16")))
#define BF16_INLINE static inline __attribute__((always_inline)) BF16_TARGET

bool cpu_attn_bf16_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

/* Pb [QB][QB] bf16, after the fp32 kernel's scratch. */
int64_t cpu_attn_bf16_extra_floats(int64_t QB, int64_t hdp) {
    (void)hdp;
    return QB * QB / 2 + 16;
}

/* awq_round_bf16's bits (the same integer rounding). */
static inline uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        u &= 0xffff0000u;
        if (f != f) u |= 0x00400000u;
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
    }
    return (uint16_t)(u >> 16);
}

void cpu_attn_bf16_prepass(void *arg, int64_t b0, int64_t b1, int worker) {
    (void)worker;
    attn_job *j = arg;
    const awq_attn_desc *d = j->d;
    const int64_t T = d->T, hd = d->head_dim, kvd = d->n_kv_heads * hd;
    const int64_t hdp = j->hdp, Tp = j->Tp;
    for (int64_t it = b0; it < b1; it++) {
        int64_t b = it / d->n_kv_heads, g = it % d->n_kv_heads;
        attn_pack_k(j, it);
        uint16_t *vp = (uint16_t *)j->vp + it * Tp * hdp;
        memset(vp, 0, sizeof(uint16_t) * (size_t)(hdp * Tp));
        for (int64_t t = 0; t < T; t++) {
            const float *vr = j->v + (b * T + t) * kvd + g * hd;
            /* V: [t / 2][e][t % 2] */
            uint16_t *vb = vp + (t / 2) * hdp * 2 + (t & 1);
            for (int64_t e = 0; e < hd; e++) vb[e * 2] = bf16_bits(vr[e]);
        }
    }
}

BF16_INLINE __m512bh pair_bcast(const uint16_t *p) {
    int32_t x;
    memcpy(&x, p, 4);
    return (__m512bh)_mm512_set1_epi32(x);
}
BF16_INLINE __m512bh ld_bh(const uint16_t *p) { return (__m512bh)_mm512_loadu_si512(p); }

/* acc[r][0..16 * NC) += sum over key pairs of pb[r][2j..2j+1] · vp[j][c][0..1]
 * for 4 rows (pb stride ldP, acc stride hdp, vp at column 0 of the tile). */
BF16_INLINE void pv_tile(const uint16_t *pb, int64_t ldP, int64_t npairs, const uint16_t *vp,
                         int64_t hdp, float *acc, const int NC) {
    __m512 a[4][2];
    for (int r = 0; r < 4; r++) {
        a[r][0] = _mm512_loadu_ps(acc + r * hdp);
        a[r][1] = NC == 2 ? _mm512_loadu_ps(acc + r * hdp + 16) : a[r][0];
    }
    for (int64_t jp = 0; jp < npairs; jp++) {
        const uint16_t *v = vp + jp * hdp * 2;
        __m512bh v0 = ld_bh(v), v1 = NC == 2 ? ld_bh(v + 32) : v0;
        for (int r = 0; r < 4; r++) {
            __m512bh p = pair_bcast(pb + r * ldP + 2 * jp);
            a[r][0] = _mm512_dpbf16_ps(a[r][0], p, v0);
            if (NC == 2) a[r][1] = _mm512_dpbf16_ps(a[r][1], p, v1);
        }
    }
    for (int r = 0; r < 4; r++) {
        _mm512_storeu_ps(acc + r * hdp, a[r][0]);
        if (NC == 2) _mm512_storeu_ps(acc + r * hdp + 16, a[r][1]);
    }
}

/* Query block `qb` of head h of sequence b: the skeleton of cpu_attn.h
 * (as attn_block of cpu_attn.c) with the p·v product above. */
BF16_TARGET
void cpu_attn_bf16_block(const attn_job *j, int64_t b, int64_t h, int64_t qb, float *ws) {
    const int64_t T = j->d->T, QB = j->QB, hdp = j->hdp;
    const attn_qblock a = attn_qblock_begin(j, b, h, qb, ws);
    const uint16_t *vp = (const uint16_t *)j->vp + a.kvh * j->Tp * hdp;
    uint16_t *pb = (uint16_t *)a.extra; /* [QB][QB] bf16 probabilities */
    for (int64_t kb = a.first_kb; kb <= a.last_kb; kb++) {
        attn_qblock_softmax(j, &a, kb);
        /* p to bf16 (rows without visible keys are 0 in S) */
        for (int64_t i = 0; i < a.nq4; i++)
            for (int64_t jj = 0; jj < QB; jj += 16) {
                __m256bh h16 = _mm512_cvtneps_pbh(_mm512_loadu_ps(a.S + i * QB + jj));
                memcpy(pb + i * QB + jj, &h16, 32);
            }
        const int64_t k0 = kb * QB, nk = AWQ_MIN(QB, T - k0);
        const int64_t npairs = (nk + 1) / 2; /* key k0 + nk: p = 0, v = 0 */
        const uint16_t *vpb = vp + (k0 / 2) * hdp * 2;
        for (int64_t i = 0; i < a.nq4; i += 4) {
            int64_t e = 0;
            for (; e + 32 <= hdp; e += 32)
                pv_tile(pb + i * QB, QB, npairs, vpb + e * 2, hdp, a.acc + i * hdp + e, 2);
            if (e < hdp)
                pv_tile(pb + i * QB, QB, npairs, vpb + e * 2, hdp, a.acc + i * hdp + e, 1);
        }
    }
    attn_qblock_store(j, &a, b, h);
}

#else /* not x86-64 GCC/Clang: never chosen (cpu_attn_bf16_supported) */

bool cpu_attn_bf16_supported(void) { return false; }
int64_t cpu_attn_bf16_extra_floats(int64_t QB, int64_t hdp) {
    (void)hdp;
    return QB * QB / 2 + 16;
}
void cpu_attn_bf16_prepass(void *arg, int64_t b0, int64_t b1, int worker) {
    (void)arg, (void)b0, (void)b1, (void)worker;
}
void cpu_attn_bf16_block(const attn_job *j, int64_t b, int64_t h, int64_t qb, float *ws) {
    (void)j, (void)b, (void)h, (void)qb, (void)ws;
}

#endif
