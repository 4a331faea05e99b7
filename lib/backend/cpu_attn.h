/* lib/backend/cpu_attn.h — what the fp32 attention kernel (cpu_attn.c) and
 * its bf16 variant (cpu_attn_bf16.c) share: the job, the K packing, the
 * score tile, the per-key-block softmax update and the query-block
 * skeleton around them. Shared (always inlined into each kernel) so that scale,
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

/* The query-block skeleton both kernels run; only their p·v differs:
 *
 *   attn_qblock a = attn_qblock_begin(j, b, h, qb, ws);
 *   for (int64_t kb = a.first_kb; kb <= a.last_kb; kb++) {
 *       attn_qblock_softmax(j, &a, kb);   S = p of key block kb
 *       acc += p·v of key block kb        (the kernel's own)
 *   }
 *   attn_qblock_store(j, &a, b, h);
 *
 * Inlined into each kernel (compiled there for its target), so the state
 * lives in registers as when the loop was written out in both. */
typedef struct {
    float *S;            /* [QB][QB] scores, then probabilities */
    float *acc;          /* [QB][hdp] output accumulators */
    float *qs;           /* [QB][hdp] the block's queries, zero-padded */
    float *mrow, *lrow;  /* [QB] running max, running sum */
    float *extra;        /* after lrow: cpu_attn_bf16_extra_floats */
    const float *kt;     /* Kt of the head's kv head */
    int64_t kvh;         /* that kv head's item: b * n_kv_heads + g */
    int64_t q0, nq, nq4; /* first query, rows, rows rounded up to 4 (tiles) */
    int64_t first_kb, last_kb;
} attn_qblock;

/* Query block qb of head h of sequence b in the worker's scratch ws: the
 * queries copied, accumulators 0, running max -inf and sums 0 (the padding
 * rows up to nq4 too). */
AWQ_SIMD_INLINE attn_qblock attn_qblock_begin(const attn_job *j, int64_t b, int64_t h,
                                              int64_t qb, float *ws) {
    const awq_attn_desc *d = j->d;
    const int64_t T = d->T, hd = d->head_dim, QB = j->QB, hdp = j->hdp;
    const int64_t qd = d->n_heads * hd;
    attn_qblock a;
    a.kvh = b * d->n_kv_heads + h / (d->n_heads / d->n_kv_heads);
    a.kt = j->kt + a.kvh * hdp * j->Tp;
    a.S = ws;
    a.acc = a.S + QB * QB;
    a.qs = a.acc + QB * hdp;
    a.mrow = a.qs + QB * hdp;
    a.lrow = a.mrow + QB;
    a.extra = a.lrow + QB;
    a.q0 = qb * QB;
    a.nq = AWQ_MIN(QB, T - a.q0);
    a.nq4 = (a.nq + 3) & ~(int64_t)3;
    memset(a.qs, 0, sizeof(float) * (size_t)(QB * hdp));
    memset(a.acc, 0, sizeof(float) * (size_t)(QB * hdp));
    for (int64_t i = 0; i < a.nq; i++)
        memcpy(a.qs + i * hdp, j->q + (b * T + a.q0 + i) * qd + h * hd,
               sizeof(float) * (size_t)hd);
    for (int64_t i = 0; i < a.nq4; i++) {
        a.mrow[i] = -INFINITY;
        a.lrow[i] = 0.0f;
    }
    a.last_kb = (a.q0 + a.nq - 1) / QB;
    a.first_kb = attn_first_kb(a.q0, d->window, QB);
    return a;
}

/* Key block kb: the fp32 scores q·k into S (4-row tiles), then
 * attn_softmax_block: S holds p, acc is rescaled, ready for the p·v. */
AWQ_SIMD_INLINE void attn_qblock_softmax(const attn_job *j, const attn_qblock *a, int64_t kb) {
    const awq_attn_desc *d = j->d;
    const int64_t QB = j->QB, hdp = j->hdp;
    const float *ktb = a->kt + kb * hdp * QB;
    for (int64_t i = 0; i < a->nq4; i += 4)
        for (int64_t jj = 0; jj < QB; jj += 16)
            attn_score_tile(a->qs + i * hdp, hdp, ktb + jj, QB, a->S + i * QB + jj, QB);
    attn_softmax_block(a->S, a->acc, a->mrow, a->lrow, QB, hdp, a->nq, a->nq4, a->q0, kb * QB,
                       d->window, d->scale, d->softcap);
}

/* The block's output rows: acc / the softmax sums. */
AWQ_SIMD_INLINE void attn_qblock_store(const attn_job *j, const attn_qblock *a, int64_t b,
                                       int64_t h) {
    const awq_attn_desc *d = j->d;
    const int64_t T = d->T, hd = d->head_dim, qd = d->n_heads * hd;
    for (int64_t i = 0; i < a->nq; i++) {
        float *o = j->out + (b * T + a->q0 + i) * qd + h * hd;
        const float *acc = a->acc + i * j->hdp;
        const float l = a->lrow[i];
        for (int64_t e = 0; e < hd; e++) o[e] = acc[e] / l;
    }
}

#endif /* AWQ_LIB_BACKEND_CPU_ATTN_H */
