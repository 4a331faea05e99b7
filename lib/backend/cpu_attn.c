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
 * (-inf) give exactly 0.
 *
 * Precision: while be->precision is AWQ_GEMM_BF16 (the AWQ search's
 * candidate forwards, whose GEMMs already run in bf16) and the CPU has
 * AVX512-BF16, the query blocks run cpu_attn_bf16.c instead: p·v with bf16
 * inputs and fp32 sums (vdpbf16ps: twice the multiply-adds of an fp32 FMA
 * per cycle; the fp32 kernel was ~24% of a quantize). q·k stays fp32 there
 * (bf16 scores moved the search's picks: see that file). Scores, scale,
 * softcap, mask, max, exp and sums are the code shared in cpu_attn.h, and
 * that kernel is deterministic the same way (thread count never changes
 * its bits). At AWQ_GEMM_FP32 (ppl, --precision fp32) and
 * AWQ_GEMM_BF16_LINEAR (quantize's calibration forward: its captures stay
 * those of CUDA's fp32 attention up to summation order) or without
 * AVX512-BF16 this fp32 kernel runs, unchanged. */
#include "backend/cpu_attn.h"

static void prepass(void *arg, int64_t b0, int64_t b1, int worker) {
    (void)worker;
    attn_job *j = arg;
    const awq_attn_desc *d = j->d;
    int64_t T = d->T, hd = d->head_dim, kvd = d->n_kv_heads * hd;
    for (int64_t it = b0; it < b1; it++) {
        int64_t b = it / d->n_kv_heads, g = it % d->n_kv_heads;
        attn_pack_k(j, it);
        float *vp = (float *)j->vp + it * j->Tp * j->hdp;
        memset(vp, 0, sizeof(float) * (size_t)(j->hdp * j->Tp));
        for (int64_t t = 0; t < T; t++) {
            const float *vr = j->v + (b * T + t) * kvd + g * hd;
            memcpy(vp + t * j->hdp, vr, sizeof(float) * (size_t)hd);
        }
    }
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

/* Query block `qb` of head h of sequence b: the skeleton of cpu_attn.h
 * with the fp32 p·v above. */
AWQ_CLONES
static void attn_block(const attn_job *j, int64_t b, int64_t h, int64_t qb,
                       float *ws) {
    const int64_t T = j->d->T, QB = j->QB, hdp = j->hdp;
    const attn_qblock a = attn_qblock_begin(j, b, h, qb, ws);
    const float *vp = (const float *)j->vp + a.kvh * j->Tp * hdp;
    for (int64_t kb = a.first_kb; kb <= a.last_kb; kb++) {
        attn_qblock_softmax(j, &a, kb);
        const int64_t k0 = kb * QB, nk = AWQ_MIN(QB, T - k0);
        for (int64_t i = 0; i < a.nq4; i += 4)
            for (int64_t e = 0; e < hdp; e += 16)
                pv_tile(a.S + i * QB, QB, nk, vp + k0 * hdp + e, hdp,
                        a.acc + i * hdp + e);
    }
    attn_qblock_store(j, &a, b, h);
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
        if (j->bf16)
            cpu_attn_bf16_block(j, bh / d->n_heads, bh % d->n_heads, qb, ws);
        else
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
    /* the bf16 products only while the backend's search precision asks for
     * them and the CPU has vdpbf16ps; else fp32 (no error) */
    j.bf16 = be->precision == AWQ_GEMM_BF16 && cpu_attn_bf16_supported();
    /* bf16: V in bf16 pairs; K stays fp32 (the scores are fp32's) */
    const size_t esz = j.bf16 ? sizeof(uint16_t) : sizeof(float);
    j.scratch_floats = j.QB * j.QB + 2 * j.QB * j.hdp + 2 * j.QB;
    if (j.bf16) j.scratch_floats += cpu_attn_bf16_extra_floats(j.QB, j.hdp);
    j.scratch_floats = (j.scratch_floats + 15) & ~(int64_t)15;
    j.kt = awq_alloc((size_t)kv_all, sizeof(float));
    j.vp = awq_alloc((size_t)kv_all, esz);
    j.scratch = awq_alloc((size_t)(j.scratch_floats * nt), sizeof(float));
    if (!j.kt || !j.vp || !j.scratch) {
        awq_free(j.kt);
        awq_free(j.vp);
        awq_free(j.scratch);
        return awq_fail_nomem(ctx, "attention buffers",
                              (uint64_t)(kv_all * (sizeof(float) + esz)));
    }
    awq_parallel_for(ctx, d->B * d->n_kv_heads, j.bf16 ? cpu_attn_bf16_prepass : prepass, &j);
    awq_parallel_for(ctx, d->B * d->n_heads * j.nqb, attn_items, &j);
    awq_free(j.kt);
    awq_free(j.vp);
    awq_free(j.scratch);
    return AWQ_OK;
}
