/* lib/backend/cpu_attn.h — what the fp32 attention kernel (cpu_attn.c) and
 * its bf16 variant (cpu_attn_bf16.c) share: the job, and the per-key-block
 * softmax update. Shared (always inlined into each kernel) so that scale,
 * softcap, mask, running max, exp and sums are the same code in both: only
 * the two products differ between the precisions. Module-internal. */
#ifndef AWQ_LIB_BACKEND_CPU_ATTN_H
#define AWQ_LIB_BACKEND_CPU_ATTN_H

#include "backend/backend.h"
#include "backend/cpu_simd.h"
#include "core/core.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

typedef struct {
    const float *q, *k, *v;
    float *out;
    const awq_attn_desc *d;
    int64_t QB;       /* block (query and key), multiple of 16 */
    int64_t Tp;       /* T rounded up to QB */
    int64_t hdp;      /* head_dim rounded up to 16 */
    int64_t nqb;      /* query blocks per sequence */
    bool bf16;        /* products in bf16 (cpu_attn_bf16.c) */
    float *kt;        /* [B][nkv][Tp/QB][hdp][QB] */
    /* fp32: [B][nkv][Tp][hdp]; bf16: [B][nkv][Tp/2][hdp][2] */
    void *vp;
    float *scratch;   /* per worker: scratch_floats */
    int64_t scratch_floats;
} attn_job;

/* cpu_attn_bf16.c: whether this CPU runs the bf16 p·v kernel (AVX512-BF16),
 * its prepass (same items as the fp32 one) and its query block. */
bool cpu_attn_bf16_supported(void);
void cpu_attn_bf16_prepass(void *arg, int64_t b0, int64_t b1, int worker);
void cpu_attn_bf16_block(const attn_job *j, int64_t b, int64_t h, int64_t qb, float *ws);
/* floats of per-worker scratch the bf16 kernel needs beyond the fp32 one's */
int64_t cpu_attn_bf16_extra_floats(int64_t QB, int64_t hdp);

/* K of item it = (sequence, kv head) into Kt, block-major: [key block][hdp][QB],
 * zero-padded. */
AWQ_SIMD_INLINE void attn_pack_k(const attn_job *j, int64_t it) {
    const awq_attn_desc *d = j->d;
    const int64_t T = d->T, hd = d->head_dim, kvd = d->n_kv_heads * hd;
    const int64_t b = it / d->n_kv_heads, g = it % d->n_kv_heads;
    float *kt = j->kt + it * j->hdp * j->Tp;
    memset(kt, 0, sizeof(float) * (size_t)(j->hdp * j->Tp));
    for (int64_t t = 0; t < T; t++) {
        const float *kr = j->k + (b * T + t) * kvd + g * hd;
        float *kb = kt + (t / j->QB) * j->hdp * j->QB + t % j->QB;
        for (int64_t e = 0; e < hd; e++) kb[e * j->QB] = kr[e];
    }
}

/* fp32 scores (both kernels) of 4 query rows (qs, stride hdp) against 16 keys:
 * s[r][0..16) = sum_d qs[r][d] * kt[d * ldk + 0..16). */
AWQ_SIMD_INLINE void attn_score_tile(const float *qs, int64_t hdp, const float *kt,
                                     int64_t ldk, float *s, int64_t ldS) {
    v8f a00 = bcast(0), a01 = bcast(0), a10 = bcast(0), a11 = bcast(0);
    v8f a20 = bcast(0), a21 = bcast(0), a30 = bcast(0), a31 = bcast(0);
    for (int64_t e = 0; e < hdp; e++) {
        /* vector * scalar: GCC broadcasts the scalar (vbroadcastss) */
        v8f k0 = ld(kt + e * ldk), k1 = ld(kt + e * ldk + 8);
        float q0 = qs[e], q1 = qs[hdp + e], q2 = qs[2 * hdp + e], q3 = qs[3 * hdp + e];
        a00 += q0 * k0; a01 += q0 * k1;
        a10 += q1 * k0; a11 += q1 * k1;
        a20 += q2 * k0; a21 += q2 * k1;
        a30 += q3 * k0; a31 += q3 * k1;
    }
    st(s, a00); st(s + 8, a01);
    st(s + ldS, a10); st(s + ldS + 8, a11);
    st(s + 2 * ldS, a20); st(s + 2 * ldS + 8, a21);
    st(s + 3 * ldS, a30); st(s + 3 * ldS + 8, a31);
}

/* One key block (keys k0..k0+QB) of query rows [0, nq4) (nq real rows, the
 * block's first query q0): S [nq4][QB] holds the raw products q·k; on
 * return it holds p = exp(s - running max), s the scaled, capped and masked
 * score (masked keys and rows without visible keys give 0), the running
 * max mrow and sum lrow are updated and the rows of acc [nq4][hdp] are
 * rescaled by the change of the max. */
AWQ_SIMD_INLINE void attn_softmax_block(float *S, float *acc, float *mrow, float *lrow,
                                        int64_t QB, int64_t hdp, int64_t nq, int64_t nq4,
                                        int64_t q0, int64_t k0, int64_t W, float scale,
                                        float cap) {
    for (int64_t i = 0; i < nq4; i++) {
        float *s = S + i * QB;
        /* keys visible to this row: positions <= q0 + i, and < T */
        int64_t nv = (i < nq) ? AWQ_MIN(QB, q0 + i + 1 - k0) : 0;
        /* and >= lo: the window's first key, relative to k0 */
        int64_t lo = (W > 0) ? q0 + i - W + 1 - k0 : 0;
        if (lo < 0) lo = 0;
        if (nv <= 0 || lo >= nv) {
            memset(s, 0, sizeof(float) * (size_t)QB);
            continue;
        }
        /* scale, mask (-inf beyond nv), running max: 8 lanes, then the
         * lanes combined in a fixed order */
        const v8f vscale = bcast(scale), ninf = bcast(-INFINITY);
        v8f vmx = ninf;
        for (int64_t jj = 0; jj < QB; jj += 8) {
            v8f x = ld(s + jj) * vscale;
            if (cap > 0)
                for (int e = 0; e < 8; e++) x[e] = cap * tanhf(x[e] / cap);
            if (jj + 8 > nv || jj < lo) {
                v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
                v8i keep = ((lane + (int32_t)jj) < (int32_t)nv) &
                           ((lane + (int32_t)jj) >= (int32_t)lo);
                x = (v8f)(((v8i)x & keep) | ((v8i)ninf & ~keep));
            }
            st(s + jj, x);
            vmx = vmax(vmx, x);
        }
        float mx = mrow[i];
        for (int e = 0; e < 8; e++) mx = vmx[e] > mx ? vmx[e] : mx;
        float corr = sexp(mrow[i] - mx); /* 0 on the first block */
        mrow[i] = mx;
        const v8f vm = bcast(mx);
        v8f vsum = bcast(0.0f);
        for (int64_t jj = 0; jj < QB; jj += 8) {
            v8f p = vexp(ld(s + jj) - vm);
            st(s + jj, p);
            vsum += p;
        }
        float sum = hsum(vsum);
        lrow[i] = lrow[i] * corr + sum;
        if (corr != 1.0f) {
            float *a = acc + i * hdp;
            v8f vc = bcast(corr);
            for (int64_t e = 0; e < hdp; e += 8) st(a + e, ld(a + e) * vc);
        }
    }
}

/* The first key block a query block sees (sliding window: keys below the
 * first row's window are never seen). */
AWQ_SIMD_INLINE int64_t attn_first_kb(int64_t q0, int64_t W, int64_t QB) {
    return (W > 0 && q0 - W + 1 > 0) ? (q0 - W + 1) / QB : 0;
}

#endif /* AWQ_LIB_BACKEND_CPU_ATTN_H */
