/* lib/model/moe.c — the mixture-of-experts MLP (see moe.h).
 *
 * Routing runs on the host: the router logits [R, n_experts] are small next
 * to the experts' gemms, and top-k with exact tie order is simpler there.
 * Each expert then runs on the rows routed to it, gathered into a dense
 * block (one gemm per linear per expert), scaled by the routing weights and
 * added back into the output rows. On a GPU the per-row gathers and adds
 * are device-to-device ops; the forward pays them once per routed row. */
#include "model/moe.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

typedef struct {
    float *lg, *gx, *g, *u, *y, *s;  /* backend scratch */
    float *lg_h, *w_h;              /* host: logits, per-row weights */
    int32_t *idx_h;                 /* host: per-row top-k experts */
    int64_t *rows_h;                /* host: rows routed to one expert */
    float *zero_h;
} moe_scratch;

static void scratch_free(awq_backend *be, moe_scratch *sc) {
    float *dev[] = {sc->lg, sc->gx, sc->g, sc->u, sc->y, sc->s};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(dev); i++)
        if (dev[i]) be->ops->free(be, dev[i]);
    awq_free(sc->lg_h);
    awq_free(sc->w_h);
    awq_free(sc->idx_h);
    awq_free(sc->rows_h);
    awq_free(sc->zero_h);
}

static awq_status dev_alloc(awq_backend *be, int64_t n, float **out) {
    return be->ops->alloc(be, (size_t)n * sizeof(float), (void **)out);
}

/* Top-k routing of row r: probabilities from the logits, the k largest
 * (lower index first among equals), renormalized when asked. */
static void route_row(const float *lg, int64_t E, int64_t K, bool renorm, int32_t *idx,
                      float *wt) {
    double mx = lg[0];
    for (int64_t e = 1; e < E; e++) mx = lg[e] > mx ? lg[e] : mx;
    double sum = 0;
    for (int64_t e = 0; e < E; e++) sum += exp((double)lg[e] - mx);
    for (int64_t k = 0; k < K; k++) {
        int32_t best = -1;
        float bp = -1.0f;
        for (int64_t e = 0; e < E; e++) {
            bool taken = false;
            for (int64_t j = 0; j < k; j++) taken |= idx[j] == (int32_t)e;
            if (taken) continue;
            float p = (float)(exp((double)lg[e] - mx) / sum);
            if (best < 0 || p > bp) {
                best = (int32_t)e;
                bp = p;
            }
        }
        idx[k] = best;
        wt[k] = bp;
    }
    if (renorm) {
        float s = 0;
        for (int64_t k = 0; k < K; k++) s += wt[k];
        for (int64_t k = 0; k < K; k++) wt[k] /= s;
    }
}

/* The k largest of v[0..E) not already in idx[0..k) (ties: lower index;
 * -inf entries are never picked while others remain). */
static int32_t argmax_excluding(const float *v, int64_t E, const int32_t *idx, int64_t k) {
    int32_t best = -1;
    for (int64_t e = 0; e < E; e++) {
        bool taken = false;
        for (int64_t j = 0; j < k; j++) taken |= idx[j] == (int32_t)e;
        if (!taken && (best < 0 || v[e] > v[best])) best = (int32_t)e;
    }
    return best;
}

/* Groups kept by a group-limited route: the topk_group best of gs[n_group]. */
static void keep_groups(const float *gs, int64_t G, int64_t keep, bool *kept) {
    for (int64_t g = 0; g < G; g++) kept[g] = false;
    for (int64_t k = 0; k < keep && k < G; k++) {
        int64_t best = -1;
        for (int64_t g = 0; g < G; g++)
            if (!kept[g] && (best < 0 || gs[g] > gs[best])) best = g;
        kept[best] = true;
    }
}

typedef struct {
    const float *lg;     /* router logits [E] */
    const float *bias;   /* e_score_correction_bias [E] or NULL */
    float *tmp;          /* [3 E] scratch */
    bool *kept;          /* [n_group] scratch */
} route_in;

static void route_softmax(const awq_model_config *c, const route_in *in, int32_t *idx,
                          float *wt) {
    route_row(in->lg, c->n_experts, c->n_experts_per_tok, c->norm_topk_prob, idx, wt);
}

/* DeepSeek-V2 group_limited_greedy: softmax; a group's score is its best
 * probability; the experts of the other groups count as 0. */
static void route_softmax_group(const awq_model_config *c, const route_in *in, int32_t *idx,
                                float *wt) {
    const int64_t E = c->n_experts, K = c->n_experts_per_tok, G = c->n_group, per = E / G;
    float *p = in->tmp, *gs = in->tmp + E;
    double mx = in->lg[0], sum = 0;
    for (int64_t e = 1; e < E; e++) mx = in->lg[e] > mx ? in->lg[e] : mx;
    for (int64_t e = 0; e < E; e++) sum += exp((double)in->lg[e] - mx);
    for (int64_t e = 0; e < E; e++) p[e] = (float)(exp((double)in->lg[e] - mx) / sum);
    for (int64_t g = 0; g < G; g++) {
        gs[g] = p[g * per];
        for (int64_t j = 1; j < per; j++) gs[g] = fmaxf(gs[g], p[g * per + j]);
    }
    keep_groups(gs, G, c->topk_group, in->kept);
    for (int64_t e = 0; e < E; e++)
        if (!in->kept[e / per]) p[e] = 0.0f;
    for (int64_t k = 0; k < K; k++) {
        idx[k] = argmax_excluding(p, E, idx, k);
        wt[k] = p[idx[k]];
    }
    if (c->norm_topk_prob) {
        float s = 0;
        for (int64_t k = 0; k < K; k++) s += wt[k];
        for (int64_t k = 0; k < K; k++) wt[k] /= s;
    }
}

/* DeepSeek-V3 noaux_tc: sigmoid scores; the choice ranks score + bias, a
 * group by the sum of its two best; the weights are the plain scores,
 * renormalized (sum + 1e-20) when norm_topk_prob. */
static void route_sigmoid_group(const awq_model_config *c, const route_in *in, int32_t *idx,
                                float *wt) {
    const int64_t E = c->n_experts, K = c->n_experts_per_tok, G = c->n_group, per = E / G;
    float *s = in->tmp, *ch = in->tmp + E, *gs = in->tmp + 2 * E;
    for (int64_t e = 0; e < E; e++) {
        s[e] = (float)(1.0 / (1.0 + exp(-(double)in->lg[e])));
        ch[e] = in->bias ? s[e] + in->bias[e] : s[e];
    }
    for (int64_t g = 0; g < G; g++) {
        int32_t two[2];
        two[0] = argmax_excluding(ch + g * per, per, two, 0);
        two[1] = argmax_excluding(ch + g * per, per, two, 1);
        gs[g] = ch[g * per + two[0]] + ch[g * per + two[1]];
    }
    keep_groups(gs, G, c->topk_group, in->kept);
    for (int64_t e = 0; e < E; e++)
        if (!in->kept[e / per]) ch[e] = -INFINITY;
    for (int64_t k = 0; k < K; k++) {
        idx[k] = argmax_excluding(ch, E, idx, k);
        wt[k] = s[idx[k]];
    }
    if (c->norm_topk_prob) {
        float sum = 0;
        for (int64_t k = 0; k < K; k++) sum += wt[k];
        sum += 1e-20f;
        for (int64_t k = 0; k < K; k++) wt[k] /= sum;
    }
}

/* One router per awq_route, indexed by it. */
typedef void (*router_fn)(const awq_model_config *c, const route_in *in, int32_t *idx,
                          float *wt);
static const router_fn k_routers[] = {
    [AWQ_ROUTE_SOFTMAX] = route_softmax,
    [AWQ_ROUTE_SOFTMAX_GROUP] = route_softmax_group,
    [AWQ_ROUTE_SIGMOID_GROUP] = route_sigmoid_group,
};

/* A gated MLP on n rows of x: y = down(act(gate(x)) * up(x)). */
static awq_status gated_mlp(awq_backend *be, const awq_model_config *c, float *const w[3],
                            int64_t I, const float *x, float *g, float *u, float *y,
                            int64_t n) {
    int64_t H = c->hidden;
    AWQ_TRY(be->ops->gemm(be, x, w[0], AWQ_DT_F32, NULL, g, n, I, H));
    AWQ_TRY(be->ops->gemm(be, x, w[1], AWQ_DT_F32, NULL, u, n, I, H));
    if (c->act == AWQ_ACT_SILU)
        AWQ_TRY(be->ops->silu_mul(be, g, u, g, n * I));
    else
        AWQ_TRY(be->ops->act_mul(be, c->act, g, u, g, n * I));
    return be->ops->gemm(be, g, w[2], AWQ_DT_F32, NULL, y, n, H, I);
}

/* Route R rows from their router logits lg_h (host [R, E]): the table's
 * router kind (c->route), then routed_scaling_factor. Shared by the forward
 * and awq_moe_route so the quantizer sees exactly the forward's routing. */
static awq_status route_rows(awq_backend *be, const awq_model_config *c, const awq_moe_weights *w,
                             const float *lg_h, int64_t R, int32_t *idx, float *wgt) {
    awq_ctx *ctx = be->ctx;
    const int64_t E = c->n_experts, K = c->n_experts_per_tok;
    awq_status st = AWQ_OK;
    float *rb = NULL, *rtmp = NULL;
    bool *kept = NULL;
    if (st == AWQ_OK) {
        rb = w->router_bias ? awq_alloc((size_t)E, sizeof(float)) : NULL;
        rtmp = awq_alloc((size_t)(3 * E + 1), sizeof(float));
        kept = awq_calloc((size_t)(c->n_group + 1), sizeof(bool));
        if ((w->router_bias && !rb) || !rtmp || !kept)
            st = awq_fail_nomem(ctx, "expert routing", (uint64_t)E * 12);
    }
    if (st == AWQ_OK && rb)
        st = be->ops->download(be, rb, w->router_bias, (size_t)E * sizeof(float));
    if (st == AWQ_OK && ((int)c->route < 0 || (size_t)c->route >= AWQ_ARRAY_LEN(k_routers) ||
                         (c->route != AWQ_ROUTE_SOFTMAX &&
                          (c->n_group < 1 || c->n_group > 4096 || E % c->n_group != 0))))
        st = awq_fail(ctx, AWQ_ERR_INTERNAL, "routing %d with %lld groups of %lld experts",
                      (int)c->route, (long long)c->n_group, (long long)E);
    for (int64_t r = 0; st == AWQ_OK && r < R; r++) {
        route_in in = {lg_h + r * E, rb, rtmp, kept};
        k_routers[c->route](c, &in, idx + r * K, wgt + r * K);
        if (c->routed_scale != 1.0 && c->routed_scale > 0)
            for (int64_t k = 0; k < K; k++) wgt[r * K + k] *= (float)c->routed_scale;
    }
    awq_free(rb);
    awq_free(rtmp);
    awq_free(kept);
    return st;
}

awq_status awq_moe_forward(awq_backend *be, const awq_model_config *c, const awq_moe_weights *w,
                           const float *x, float *out, int64_t R) {
    awq_ctx *ctx = be->ctx;
    const int64_t H = c->hidden, E = c->n_experts, K = c->n_experts_per_tok;
    const int64_t I = c->moe_intermediate, SI = c->shared_intermediate;
    if (R <= 0) return AWQ_OK;
    int64_t Iw = AWQ_MAX(I, SI);
    moe_scratch sc;
    memset(&sc, 0, sizeof sc);
    awq_status st = dev_alloc(be, R * E, &sc.lg);
    if (st == AWQ_OK) st = dev_alloc(be, R * H, &sc.gx);
    if (st == AWQ_OK) st = dev_alloc(be, R * Iw, &sc.g);
    if (st == AWQ_OK) st = dev_alloc(be, R * Iw, &sc.u);
    if (st == AWQ_OK) st = dev_alloc(be, R * H, &sc.y);
    if (st == AWQ_OK) st = dev_alloc(be, R, &sc.s);
    if (st == AWQ_OK) {
        sc.lg_h = awq_alloc((size_t)(R * E), sizeof(float));
        sc.w_h = awq_alloc((size_t)(R * K), sizeof(float));
        sc.idx_h = awq_alloc((size_t)(R * K), sizeof(int32_t));
        sc.rows_h = awq_alloc((size_t)R, sizeof(int64_t));
        sc.zero_h = awq_calloc((size_t)(R * H), sizeof(float));
        if (!sc.lg_h || !sc.w_h || !sc.idx_h || !sc.rows_h || !sc.zero_h)
            st = awq_fail_nomem(ctx, "expert routing", (uint64_t)(R * (E + H)) * 4);
    }
    /* route */
    if (st == AWQ_OK) st = be->ops->gemm(be, x, w->router, AWQ_DT_F32, NULL, sc.lg, R, E, H);
    if (st == AWQ_OK) st = be->ops->download(be, sc.lg_h, sc.lg, (size_t)(R * E) * sizeof(float));
    if (st == AWQ_OK) st = route_rows(be, c, w, sc.lg_h, R, sc.idx_h, sc.w_h);
    if (st == AWQ_OK) st = be->ops->upload(be, out, sc.zero_h, (size_t)(R * H) * sizeof(float));
    /* experts in index order, each on its rows */
    float *wt = sc.lg_h; /* reused: the routed rows' weights */
    for (int64_t e = 0; st == AWQ_OK && e < E; e++) {
        int64_t n = 0;
        for (int64_t r = 0; r < R; r++)
            for (int64_t k = 0; k < K; k++)
                if (sc.idx_h[r * K + k] == (int32_t)e) {
                    sc.rows_h[n] = r;
                    wt[n++] = sc.w_h[r * K + k];
                }
        if (n == 0) continue;
        for (int64_t i = 0; st == AWQ_OK && i < n; i++)
            st = be->ops->copy(be, sc.gx + i * H, x + sc.rows_h[i] * H, (size_t)H * sizeof(float));
        if (st == AWQ_OK)
            st = gated_mlp(be, c, w->experts + e * 3, I, sc.gx, sc.g, sc.u, sc.y, n);
        if (st == AWQ_OK) st = be->ops->upload(be, sc.s, wt, (size_t)n * sizeof(float));
        if (st == AWQ_OK) st = be->ops->scale_rows(be, sc.y, sc.s, n, H, false);
        for (int64_t i = 0; st == AWQ_OK && i < n; i++)
            st = be->ops->add(be, out + sc.rows_h[i] * H, sc.y + i * H, H);
    }
    /* shared expert, scaled by sigmoid(x . w_sg) (DeepSeek: unscaled) */
    if (st == AWQ_OK && w->shared[0] && !w->shared_gate) {
        st = gated_mlp(be, c, (float *const *)w->shared, SI, x, sc.g, sc.u, sc.y, R);
        if (st == AWQ_OK) st = be->ops->add(be, out, sc.y, R * H);
    } else if (st == AWQ_OK && w->shared[0]) {
        st = gated_mlp(be, c, (float *const *)w->shared, SI, x, sc.g, sc.u, sc.y, R);
        if (st == AWQ_OK)
            st = be->ops->gemm(be, x, w->shared_gate, AWQ_DT_F32, NULL, sc.s, R, 1, H);
        if (st == AWQ_OK) st = be->ops->download(be, wt, sc.s, (size_t)R * sizeof(float));
        for (int64_t r = 0; st == AWQ_OK && r < R; r++)
            wt[r] = (float)(1.0 / (1.0 + exp(-(double)wt[r])));
        if (st == AWQ_OK) st = be->ops->upload(be, sc.s, wt, (size_t)R * sizeof(float));
        if (st == AWQ_OK) st = be->ops->scale_rows(be, sc.y, sc.s, R, H, false);
        if (st == AWQ_OK) st = be->ops->add(be, out, sc.y, R * H);
    }
    scratch_free(be, &sc);
    return st;
}

awq_status awq_moe_route(awq_backend *be, const awq_model_config *c, const awq_moe_weights *w,
                         const float *x, int64_t R, int32_t *idx, float *wt) {
    const int64_t E = c->n_experts;
    if (R <= 0) return AWQ_OK;
    float *lg = NULL, *lg_h = awq_alloc((size_t)(R * E), sizeof(float));
    if (!lg_h) return awq_fail_nomem(be->ctx, "router logits", (uint64_t)(R * E) * 4);
    awq_status st = dev_alloc(be, R * E, &lg);
    if (st == AWQ_OK) st = be->ops->gemm(be, x, w->router, AWQ_DT_F32, NULL, lg, R, E, c->hidden);
    if (st == AWQ_OK) st = be->ops->download(be, lg_h, lg, (size_t)(R * E) * sizeof(float));
    if (st == AWQ_OK) st = route_rows(be, c, w, lg_h, R, idx, wt);
    if (lg) be->ops->free(be, lg);
    awq_free(lg_h);
    return st;
}
