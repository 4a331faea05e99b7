/* lib/model/mla.c — multi-head latent attention (see mla.h).
 *
 * The projections run as backend gemms; the per-head assembly between them
 * (splitting nope / rope parts, rope on the rope part only, the rope key
 * shared by all heads, v padded to the query-key width so the backend's
 * attention, which takes one head width, can run) is row-local index work
 * done on the host, in place on a host backend. The padded v columns are
 * zero, so the attention output's extra columns are zero and are dropped
 * before o_proj. The per-head buffers are built for a block of heads at a
 * time (awq_mla_ops.head_block, default: as many as fit MLA_BLOCK_FLOATS
 * per buffer), so their scratch stays bounded for DeepSeek-V3's 128 heads
 * of 192; heads are independent, so any block size gives the same bits.
 * Both rope layouts rotate pair i = (a_i, b_i) into
 * (a c - b s, b c + a s) and write the results de-interleaved: q and k use
 * the same permutation, so q . k is unchanged (transformers' interleaved
 * V3 rope writes exactly this layout; V2's complex rotation keeps pairs
 * adjacent, the same products summed in another order). */
#include "model/mla.h"

#include "core/core.h"
#include "model/rope.h"

#include <math.h>
#include <string.h>

/* Floats per head-block buffer (Q, K, V, attention output): 64 MB. */
#define MLA_BLOCK_FLOATS ((int64_t)1 << 24)

double awq_mla_softmax_scale(const awq_model_config *c) {
    double s = 1.0 / sqrt((double)(c->qk_nope_head_dim + c->qk_rope_head_dim));
    /* transformers' yarn_apply_mscale: any non-default rope type with a
     * non-zero mscale_all_dim */
    if (c->rope.type != AWQ_ROPE_DEFAULT && c->rope.mscale_all_dim != 0) {
        double f = c->rope.factor;
        double m = f <= 1 ? 1.0 : 0.1 * c->rope.mscale_all_dim * log(f) + 1.0;
        s *= m * m;
    }
    return s;
}

typedef struct {
    /* backend */
    float *qa, *q, *lat, *kr, *kvb, *Q, *K, *V, *att, *o_in;
    /* host views (the backend buffers on a host backend) */
    float *hq, *hkr, *hkvb, *hQ, *hK, *hV, *hatt, *ho;
    float *krot;               /* host: the rotated rope key [R, rope] */
    float *cos, *sin, *inv;
} mla_buf;

static awq_status alloc_f(awq_backend *be, int64_t n, float **out) {
    return be->ops->alloc(be, (size_t)(n > 0 ? n : 1) * sizeof(float), (void **)out);
}

static void buf_free(awq_backend *be, bool host, mla_buf *b) {
    float *dev[] = {b->qa, b->q, b->lat, b->kr, b->kvb, b->Q, b->K, b->V, b->att, b->o_in};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(dev); i++)
        if (dev[i]) be->ops->free(be, dev[i]);
    if (!host) {
        float *h[] = {b->hq, b->hkr, b->hkvb, b->hQ, b->hK, b->hV, b->hatt, b->ho};
        for (size_t i = 0; i < AWQ_ARRAY_LEN(h); i++) awq_free(h[i]);
    }
    awq_free(b->krot);
    awq_free(b->cos);
    awq_free(b->sin);
    awq_free(b->inv);
}

/* Host mirror of backend buffer `d` of n floats (itself on a host backend). */
static awq_status host_of(awq_ctx *ctx, bool host, float *d, int64_t n, float **out) {
    if (host) {
        *out = d;
        return AWQ_OK;
    }
    *out = awq_alloc((size_t)(n > 0 ? n : 1), sizeof(float));
    return *out ? AWQ_OK : awq_fail_nomem(ctx, "MLA host buffer", (uint64_t)n * 4);
}

static awq_status down(awq_backend *be, bool host, float *h, const float *d, int64_t n) {
    return host ? AWQ_OK : be->ops->download(be, h, d, (size_t)n * sizeof(float));
}

static awq_status up(awq_backend *be, bool host, float *d, const float *h, int64_t n) {
    return host ? AWQ_OK : be->ops->upload(be, d, h, (size_t)n * sizeof(float));
}

/* Rotate the rope part src [rope] at position-row (cs, sn) into dst. */
static void rope_part(const float *src, float *dst, int64_t half, bool interleave,
                      const float *cs, const float *sn) {
    for (int64_t i = 0; i < half; i++) {
        float a = interleave ? src[2 * i] : src[i];
        float b = interleave ? src[2 * i + 1] : src[half + i];
        /* each product rounded to fp32, as torch computes them */
        float ac = a * cs[i], bs = b * sn[i], bc = b * cs[i], as = a * sn[i];
        dst[i] = ac - bs;
        dst[half + i] = bc + as;
    }
}

awq_status awq_mla_attn(awq_backend *be, const awq_model_config *c, const awq_mla_ops *o,
                        const float *xn, float *out, int64_t nb, int64_t T, int64_t row0) {
    awq_ctx *ctx = be->ctx;
    const int64_t R = nb * T, H = c->n_heads, D = c->hidden;
    const int64_t nope = c->qk_nope_head_dim, rope = c->qk_rope_head_dim,
                  vd = c->v_head_dim, qk = nope + rope, kvl = c->kv_lora_rank,
                  ql = c->q_lora_rank, half = rope / 2;
    const bool host = be->ops->mem == AWQ_MEM_HOST;
    const int *li = o->li;
    mla_buf b;
    memset(&b, 0, sizeof b);
    awq_status st = o->capture(o->l, AWQ_CAPTURE_QKV_IN, row0, R, D, xn);
    /* query */
    if (st == AWQ_OK) st = alloc_f(be, R * H * qk, &b.q);
    if (st == AWQ_OK && li[AWQ_LIN_KIND_Q_A] >= 0) {
        st = alloc_f(be, R * ql, &b.qa);
        if (st == AWQ_OK) st = o->linear(o->l, li[AWQ_LIN_KIND_Q_A], xn, b.qa, R);
        if (st == AWQ_OK)
            st = be->ops->rmsnorm(be, b.qa, o->q_a_norm, b.qa, R, ql, (float)c->rms_eps);
        if (st == AWQ_OK) st = o->capture(o->l, AWQ_CAPTURE_Q_B_IN, row0, R, ql, b.qa);
        if (st == AWQ_OK) st = o->linear(o->l, li[AWQ_LIN_KIND_Q_B], b.qa, b.q, R);
    } else if (st == AWQ_OK) {
        st = o->linear(o->l, li[AWQ_LIN_KIND_Q], xn, b.q, R);
    }
    /* compressed kv: the latent rows and the rope key rows of kv_a */
    if (st == AWQ_OK) st = alloc_f(be, R * kvl, &b.lat);
    if (st == AWQ_OK) st = alloc_f(be, R * rope, &b.kr);
    if (st == AWQ_OK) st = o->linear_rows(o->l, li[AWQ_LIN_KIND_KV_A], 0, kvl, xn, b.lat, R);
    if (st == AWQ_OK)
        st = o->linear_rows(o->l, li[AWQ_LIN_KIND_KV_A], kvl, rope, xn, b.kr, R);
    if (st == AWQ_OK)
        st = be->ops->rmsnorm(be, b.lat, o->kv_a_norm, b.lat, R, kvl, (float)c->rms_eps);
    if (st == AWQ_OK) st = o->capture(o->l, AWQ_CAPTURE_KV_B_IN, row0, R, kvl, b.lat);
    if (st == AWQ_OK) st = alloc_f(be, R * H * (nope + vd), &b.kvb);
    if (st == AWQ_OK) st = o->linear(o->l, li[AWQ_LIN_KIND_KV_B], b.lat, b.kvb, R);
    /* v wider than q.k: attention on the v width with q and k zero-padded
     * (the scores are unchanged) would also work; DeepSeek never has it */
    if (st == AWQ_OK && vd > qk)
        st = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                      "%s: v_head_dim %lld wider than qk_nope_head_dim + qk_rope_head_dim "
                      "%lld is not supported", c->architecture, (long long)vd, (long long)qk);
    /* per-head assembly on the host, a block of hb heads at a time */
    int64_t hb = o->head_block > 0 ? o->head_block : MLA_BLOCK_FLOATS / AWQ_MAX(R * qk, 1);
    hb = AWQ_MAX(1, AWQ_MIN(hb, H));
    const int64_t nblk = R * hb * qk;
    if (st == AWQ_OK) st = alloc_f(be, nblk, &b.Q);
    if (st == AWQ_OK) st = alloc_f(be, nblk, &b.K);
    if (st == AWQ_OK) st = alloc_f(be, nblk, &b.V);
    if (st == AWQ_OK) st = alloc_f(be, nblk, &b.att);
    if (st == AWQ_OK) st = alloc_f(be, R * H * vd, &b.o_in);
    if (st == AWQ_OK) st = host_of(ctx, host, b.q, R * H * qk, &b.hq);
    if (st == AWQ_OK) st = host_of(ctx, host, b.kr, R * rope, &b.hkr);
    if (st == AWQ_OK) st = host_of(ctx, host, b.kvb, R * H * (nope + vd), &b.hkvb);
    if (st == AWQ_OK) st = host_of(ctx, host, b.Q, nblk, &b.hQ);
    if (st == AWQ_OK) st = host_of(ctx, host, b.K, nblk, &b.hK);
    if (st == AWQ_OK) st = host_of(ctx, host, b.V, nblk, &b.hV);
    if (st == AWQ_OK) st = host_of(ctx, host, b.att, nblk, &b.hatt);
    if (st == AWQ_OK) st = host_of(ctx, host, b.o_in, R * H * vd, &b.ho);
    if (st == AWQ_OK) {
        b.inv = awq_alloc((size_t)half, sizeof(float));
        b.cos = awq_alloc((size_t)(T * half), sizeof(float));
        b.sin = awq_alloc((size_t)(T * half), sizeof(float));
        b.krot = awq_alloc((size_t)(R * rope), sizeof(float));
        if (!b.inv || !b.cos || !b.sin || !b.krot)
            st = awq_fail_nomem(ctx, "MLA rope tables", (uint64_t)(T * half + R * rope) * 8);
    }
    float af = 1.0f;
    if (st == AWQ_OK)
        st = awq_rope_inv_freq(ctx, &c->rope, c->rope_theta, rope, c->max_pos, b.inv, &af);
    if (st == AWQ_OK) awq_rope_tables(b.inv, half, af, T, b.cos, b.sin);
    if (st == AWQ_OK) st = down(be, host, b.hq, b.q, R * H * qk);
    if (st == AWQ_OK) st = down(be, host, b.hkr, b.kr, R * rope);
    if (st == AWQ_OK) st = down(be, host, b.hkvb, b.kvb, R * H * (nope + vd));
    /* the rope key is shared by every head: rotated once */
    for (int64_t r = 0; st == AWQ_OK && r < R; r++)
        rope_part(b.hkr + r * rope, b.krot + r * rope, half, c->rope_interleave,
                  b.cos + (r % T) * half, b.sin + (r % T) * half);
    for (int64_t h0 = 0; st == AWQ_OK && h0 < H; h0 += hb) {
        const int64_t nh = AWQ_MIN(hb, H - h0);
        for (int64_t r = 0; r < R; r++) {
            const float *cs = b.cos + (r % T) * half, *sn = b.sin + (r % T) * half;
            for (int64_t j = 0; j < nh; j++) {
                const int64_t h = h0 + j;
                const float *qs = b.hq + (r * H + h) * qk;
                const float *kv = b.hkvb + (r * H + h) * (nope + vd);
                float *Q = b.hQ + (r * nh + j) * qk, *K = b.hK + (r * nh + j) * qk,
                      *V = b.hV + (r * nh + j) * qk;
                memcpy(Q, qs, (size_t)nope * sizeof(float));
                rope_part(qs + nope, Q + nope, half, c->rope_interleave, cs, sn);
                memcpy(K, kv, (size_t)nope * sizeof(float));
                memcpy(K + nope, b.krot + r * rope, (size_t)rope * sizeof(float));
                memcpy(V, kv + nope, (size_t)vd * sizeof(float));
                if (vd < qk) memset(V + vd, 0, (size_t)(qk - vd) * sizeof(float));
            }
        }
        const int64_t n = R * nh * qk;
        st = up(be, host, b.Q, b.hQ, n);
        if (st == AWQ_OK) st = up(be, host, b.K, b.hK, n);
        if (st == AWQ_OK) st = up(be, host, b.V, b.hV, n);
        if (st == AWQ_OK) {
            awq_attn_desc d = {.B = nb,
                               .T = T,
                               .n_heads = nh,
                               .n_kv_heads = nh,
                               .head_dim = qk,
                               .scale = (float)awq_mla_softmax_scale(c),
                               .block = o->attn_block};
            st = be->ops->attention(be, b.Q, b.K, b.V, b.att, &d);
        }
        if (st == AWQ_OK) st = down(be, host, b.hatt, b.att, n);
        /* the v columns of each head into o_proj's input */
        for (int64_t r = 0; st == AWQ_OK && r < R; r++)
            for (int64_t j = 0; j < nh; j++)
                memcpy(b.ho + (r * H + h0 + j) * vd, b.hatt + (r * nh + j) * qk,
                       (size_t)vd * sizeof(float));
    }
    if (st == AWQ_OK) st = up(be, host, b.o_in, b.ho, R * H * vd);
    if (st == AWQ_OK) st = o->capture(o->l, AWQ_CAPTURE_O_IN, row0, R, H * vd, b.o_in);
    if (st == AWQ_OK) st = o->linear(o->l, li[AWQ_LIN_KIND_O], b.o_in, out, R);
    buf_free(be, host, &b);
    return st;
}
