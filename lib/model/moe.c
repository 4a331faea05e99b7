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
    for (int64_t r = 0; st == AWQ_OK && r < R; r++)
        route_row(sc.lg_h + r * E, E, K, c->norm_topk_prob, sc.idx_h + r * K, sc.w_h + r * K);
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
    /* shared expert, scaled by sigmoid(x . w_sg) */
    if (st == AWQ_OK && w->shared[0]) {
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
    const int64_t E = c->n_experts, K = c->n_experts_per_tok;
    if (R <= 0) return AWQ_OK;
    float *lg = NULL, *lg_h = awq_alloc((size_t)(R * E), sizeof(float));
    if (!lg_h) return awq_fail_nomem(be->ctx, "router logits", (uint64_t)(R * E) * 4);
    awq_status st = dev_alloc(be, R * E, &lg);
    if (st == AWQ_OK) st = be->ops->gemm(be, x, w->router, AWQ_DT_F32, NULL, lg, R, E, c->hidden);
    if (st == AWQ_OK) st = be->ops->download(be, lg_h, lg, (size_t)(R * E) * sizeof(float));
    for (int64_t r = 0; st == AWQ_OK && r < R; r++)
        route_row(lg_h + r * E, E, K, c->norm_topk_prob, idx + r * K, wt + r * K);
    if (lg) be->ops->free(be, lg);
    awq_free(lg_h);
    return st;
}
