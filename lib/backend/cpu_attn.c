/* lib/backend/cpu_attn.c — causal GQA attention on the CPU, blocked with an
 * online softmax (flash-attention style).
 *
 * Why blocked: a T x T score matrix at T = 32k is 4 GB per head; here each
 * worker holds one block of scores (block x block) and one block of output
 * accumulators (block x head_dim), so memory is O(T * head_dim) overall.
 *
 * Layout work done once per call (the "prepass"), per (sequence, kv head):
 *   Kt [Tp/block][hdp][block]  K transposed per key block, so a row of
 *                 scores is a sum over d of q[d] * Kt[b][d][j..j+16), with
 *                 contiguous vector loads, and one block is contiguous (a
 *                 [hdp][Tp] layout would put the rows of a block 4*Tp bytes
 *                 apart: the same L1 set for Tp = 2048, thrashing it);
 *   Vp [Tp][hdp]  V with head_dim padded to a multiple of 16;
 * zero-padded to Tp (multiple of the block) and hdp (multiple of 16), so the
 * register-tiled kernels below have no tails. Padded keys are masked.
 *
 * Determinism: work items are (sequence, head, query block); each output row
 * is produced by one worker with a fixed order of key blocks and of the sums
 * inside them, so results do not depend on the thread count. The kernels are
 * compiled twice (baseline x86-64 and x86-64-v3 with AVX2/FMA) and chosen at
 * load time by the CPU; a given machine always runs the same clone.
 *
 * exp: the 8-lane polynomial of cpu_simd.h (|rel err| < 2e-7); masked keys
 * (-inf) give exactly 0. */
#include "backend/backend.h"
#include "backend/cpu_simd.h"
#include "core/core.h"

#include <math.h>
#include <string.h>

typedef struct {
    const float *q, *k, *v;
    float *out;
    const awq_attn_desc *d;
    int64_t QB;       /* block (query and key), multiple of 16 */
    int64_t Tp;       /* T rounded up to QB */
    int64_t hdp;      /* head_dim rounded up to 16 */
    int64_t nqb;      /* query blocks per sequence */
    float *kt;        /* [B][nkv][Tp/QB][hdp][QB] */
    float *vp;        /* [B][nkv][Tp][hdp] */
    float *scratch;   /* per worker: scratch_floats */
    int64_t scratch_floats;
} attn_job;

static void prepass(void *arg, int64_t b0, int64_t b1, int worker) {
    (void)worker;
    attn_job *j = arg;
    const awq_attn_desc *d = j->d;
    int64_t T = d->T, hd = d->head_dim, kvd = d->n_kv_heads * hd;
    for (int64_t it = b0; it < b1; it++) {
        int64_t b = it / d->n_kv_heads, g = it % d->n_kv_heads;
        float *kt = j->kt + it * j->hdp * j->Tp;
        float *vp = j->vp + it * j->Tp * j->hdp;
        memset(kt, 0, sizeof(float) * (size_t)(j->hdp * j->Tp));
        memset(vp, 0, sizeof(float) * (size_t)(j->hdp * j->Tp));
        for (int64_t t = 0; t < T; t++) {
            const float *kr = j->k + (b * T + t) * kvd + g * hd;
            const float *vr = j->v + (b * T + t) * kvd + g * hd;
            /* block-major: [key block][hdp][QB] */
            float *kb = kt + (t / j->QB) * j->hdp * j->QB + t % j->QB;
            for (int64_t e = 0; e < hd; e++) kb[e * j->QB] = kr[e];
            memcpy(vp + t * j->hdp, vr, sizeof(float) * (size_t)hd);
        }
    }
}

/* Scores of 4 query rows (qs, stride hdp) against 16 keys:
 * s[r][0..16) = sum_d qs[r][d] * kt[d * ldk + 0..16). */
static inline __attribute__((always_inline)) void score_tile(const float *qs, int64_t hdp, const float *kt,
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

/* acc[r][c..c+16) += sum_j p[r][j] * vp[j][c..c+16) for 4 rows. */
static inline __attribute__((always_inline)) void pv_tile(const float *p, int64_t ldP, int64_t nk,
                           const float *vp, int64_t hdp, float *acc) {
    v8f a00 = ld(acc), a01 = ld(acc + 8);
    v8f a10 = ld(acc + hdp), a11 = ld(acc + hdp + 8);
    v8f a20 = ld(acc + 2 * hdp), a21 = ld(acc + 2 * hdp + 8);
    v8f a30 = ld(acc + 3 * hdp), a31 = ld(acc + 3 * hdp + 8);
    for (int64_t jj = 0; jj < nk; jj++) {
        v8f v0 = ld(vp + jj * hdp), v1 = ld(vp + jj * hdp + 8);
        float p0 = p[jj], p1 = p[ldP + jj], p2 = p[2 * ldP + jj], p3 = p[3 * ldP + jj];
        a00 += p0 * v0; a01 += p0 * v1;
        a10 += p1 * v0; a11 += p1 * v1;
        a20 += p2 * v0; a21 += p2 * v1;
        a30 += p3 * v0; a31 += p3 * v1;
    }
    st(acc, a00); st(acc + 8, a01);
    st(acc + hdp, a10); st(acc + hdp + 8, a11);
    st(acc + 2 * hdp, a20); st(acc + 2 * hdp + 8, a21);
    st(acc + 3 * hdp, a30); st(acc + 3 * hdp + 8, a31);
}

/* Query block `qb` of head h of sequence b. */
AWQ_CLONES
static void attn_block(const attn_job *j, int64_t b, int64_t h, int64_t qb,
                       float *ws) {
    const awq_attn_desc *d = j->d;
    const int64_t T = d->T, hd = d->head_dim, QB = j->QB, hdp = j->hdp;
    const int64_t Tp = j->Tp;
    const int64_t group = d->n_heads / d->n_kv_heads, g = h / group;
    const int64_t qd = d->n_heads * hd;
    const float *kt = j->kt + (b * d->n_kv_heads + g) * hdp * Tp;
    const float *vp = j->vp + (b * d->n_kv_heads + g) * Tp * hdp;

    float *S = ws;                 /* [QB][QB] scores, then probabilities */
    float *acc = S + QB * QB;      /* [QB][hdp] */
    float *qs = acc + QB * hdp;    /* [QB][hdp] */
    float *mrow = qs + QB * hdp;   /* [QB] running max */
    float *lrow = mrow + QB;       /* [QB] running sum */

    const int64_t q0 = qb * QB;
    const int64_t nq = AWQ_MIN(QB, T - q0);
    memset(qs, 0, sizeof(float) * (size_t)(QB * hdp));
    memset(acc, 0, sizeof(float) * (size_t)(QB * hdp));
    for (int64_t i = 0; i < nq; i++) {
        memcpy(qs + i * hdp, j->q + (b * T + q0 + i) * qd + h * hd,
               sizeof(float) * (size_t)hd);
        mrow[i] = -INFINITY;
        lrow[i] = 0.0f;
    }
    /* rows are processed in tiles of 4: pad to a multiple of 4 */
    const int64_t nq4 = (nq + 3) & ~(int64_t)3;
    for (int64_t i = nq; i < nq4; i++) {
        mrow[i] = -INFINITY;
        lrow[i] = 0.0f;
    }
    const float scale = d->scale, cap = d->softcap;
    const int64_t last_kb = (q0 + nq - 1) / QB;
    /* sliding window: keys below the first row's window are never seen */
    const int64_t W = d->window;
    const int64_t first_kb = (W > 0 && q0 - W + 1 > 0) ? (q0 - W + 1) / QB : 0;
    for (int64_t kb = first_kb; kb <= last_kb; kb++) {
        const int64_t k0 = kb * QB;
        const float *ktb = kt + kb * hdp * QB;
        for (int64_t i = 0; i < nq4; i += 4)
            for (int64_t jj = 0; jj < QB; jj += 16)
                score_tile(qs + i * hdp, hdp, ktb + jj, QB, S + i * QB + jj, QB);
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
        const int64_t nk = AWQ_MIN(QB, T - k0);
        for (int64_t i = 0; i < nq4; i += 4)
            for (int64_t e = 0; e < hdp; e += 16)
                pv_tile(S + i * QB, QB, nk, vp + k0 * hdp + e, hdp,
                        acc + i * hdp + e);
    }
    for (int64_t i = 0; i < nq; i++) {
        float *o = j->out + (b * T + q0 + i) * qd + h * hd;
        const float *a = acc + i * hdp;
        const float l = lrow[i];
        for (int64_t e = 0; e < hd; e++) o[e] = a[e] / l;
    }
}

static void attn_items(void *arg, int64_t i0, int64_t i1, int worker) {
    const attn_job *j = arg;
    const awq_attn_desc *d = j->d;
    float *ws = j->scratch + (int64_t)worker * j->scratch_floats;
    const int64_t nqb = j->nqb;
    for (int64_t it = i0; it < i1; it++) {
        /* item = (b, h) major, then a folded query-block order 0, n-1, 1,
         * n-2, ... so any run of consecutive items mixes cheap (early) and
         * expensive (late, causal) blocks and static splits balance. */
        int64_t bh = it / nqb, slot = it % nqb;
        int64_t qb = (slot % 2 == 0) ? slot / 2 : nqb - 1 - slot / 2;
        attn_block(j, bh / d->n_heads, bh % d->n_heads, qb, ws);
    }
}

awq_status awq_cpu_attention(awq_backend *be, const float *q, const float *k,
                             const float *v, float *out,
                             const awq_attn_desc *d);

awq_status awq_cpu_attention(awq_backend *be, const float *q, const float *k,
                             const float *v, float *out,
                             const awq_attn_desc *d) {
    awq_ctx *ctx = be->ctx;
    if (!d || d->B < 0 || d->T < 0 || d->n_heads <= 0 || d->n_kv_heads <= 0 ||
        d->head_dim <= 0 || d->n_heads % d->n_kv_heads != 0 ||
        d->head_dim > 65536 || d->n_heads > 65536 || d->block < 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "attention: bad shape (heads %lld, kv heads %lld, "
                        "head_dim %lld)",
                        d ? (long long)d->n_heads : 0LL,
                        d ? (long long)d->n_kv_heads : 0LL,
                        d ? (long long)d->head_dim : 0LL);
    if (d->B == 0 || d->T == 0) return AWQ_OK;
    if (!q || !k || !v || !out)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "attention: NULL buffer");

    attn_job j;
    memset(&j, 0, sizeof j);
    j.q = q;
    j.k = k;
    j.v = v;
    j.out = out;
    j.d = d;
    int64_t blk = d->block > 0 ? d->block : AWQ_ATTN_BLOCK_DEFAULT;
    j.QB = (AWQ_MIN(blk, (int64_t)4096) + 15) & ~(int64_t)15;
    j.nqb = (d->T + j.QB - 1) / j.QB;
    j.Tp = j.nqb * j.QB;
    j.hdp = (d->head_dim + 15) & ~(int64_t)15;

    uint64_t kv_floats, kv_all;
    if (!awq_mul_u64((uint64_t)j.hdp, (uint64_t)j.Tp, &kv_floats) ||
        !awq_mul_u64(kv_floats, (uint64_t)(d->B * d->n_kv_heads), &kv_all) ||
        kv_all > ((uint64_t)1 << 40))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "attention: B=%lld T=%lld too large",
                        (long long)d->B, (long long)d->T);
    int nt = awq_ctx_n_threads(ctx);
    j.scratch_floats = j.QB * j.QB + 2 * j.QB * j.hdp + 2 * j.QB;
    j.scratch_floats = (j.scratch_floats + 15) & ~(int64_t)15;
    j.kt = awq_alloc((size_t)kv_all, sizeof(float));
    j.vp = awq_alloc((size_t)kv_all, sizeof(float));
    j.scratch = awq_alloc((size_t)(j.scratch_floats * nt), sizeof(float));
    if (!j.kt || !j.vp || !j.scratch) {
        awq_free(j.kt);
        awq_free(j.vp);
        awq_free(j.scratch);
        return awq_fail_nomem(ctx, "attention buffers",
                              (uint64_t)(2 * kv_all * sizeof(float)));
    }
    awq_parallel_for(ctx, d->B * d->n_kv_heads, prepass, &j);
    awq_parallel_for(ctx, d->B * d->n_heads * j.nqb, attn_items, &j);
    awq_free(j.kt);
    awq_free(j.vp);
    awq_free(j.scratch);
    return AWQ_OK;
}
