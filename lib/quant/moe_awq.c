/* lib/quant/moe_awq.c — the AWQ search on a mixture-of-experts MLP (see
 * moe_awq.h).
 *
 * Routing is computed once per layer on the captured MoE input (it does
 * not depend on the experts, and the norm fold leaves it unchanged since
 * the router's columns take the scales). The per-expert rows are kept as a
 * CSR list (ascending rows per expert), and every computation walks the
 * experts one at a time: a candidate of the norm group quantizes one
 * expert's gate and up into two scratch buffers, runs that expert on its
 * rows and accumulates; the up -> down search of expert e builds e's down
 * inputs from its rows only. Backend memory beyond the layer's weights is
 * then a few [rows, hidden] buffers and one expert's scratch, whatever the
 * expert count. */
#include "quant/moe_awq.h"

#include "core/core.h"
#include "model/forward.h"
#include "model/moe_lset.h"
#include "quant/clip.h"
#include "quant/quantize_job.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Routing of all calibration rows: expert e's rows are rows[off[e] ..
 * off[e + 1]) (ascending), with their routing weights wt[..]. */
typedef struct {
    int64_t *off;              /* [E + 1] */
    int64_t *rows;             /* [R * k] */
    float *wt;                 /* [R * k] */
} routing;

typedef struct {
    float *gx, *g, *u, *y, *sw;   /* gathered rows, gate, up, out, weights */
    float *qg, *qu, *qd;          /* candidate weights of one expert */
    float *s_dev;                 /* candidate scales */
    float *out;                   /* block output of one chunk */
    float *sg_h;                  /* host: shared gate weights of a chunk */
    float *zero_h;                /* host zeros [rows, hidden] */
    int64_t max_rows;
} moe_scratch;

static void routing_free(routing *r) {
    free(r->off);
    free(r->rows);
    free(r->wt);
    memset(r, 0, sizeof *r);
}

static void scratch_free(awq_model *m, moe_scratch *s) {
    float *b[] = {s->gx, s->g, s->u, s->y, s->sw, s->qg, s->qu, s->qd, s->s_dev, s->out};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(b); i++) awq_model_free_buf(m, b[i]);
    free(s->sg_h);
    free(s->zero_h);
    memset(s, 0, sizeof *s);
}

static awq_status balloc(awq_model *m, int64_t n, float **out) {
    return awq_model_alloc(m, (size_t)(n > 0 ? n : 1) * sizeof(float), (void **)out);
}

void awq_moe_search_free(awq_moe_search *s) {
    if (!s) return;
    free(s->tokens);
    free(s->norm_scales);
    for (int64_t e = 0; s->down_scales && e <= s->n_experts; e++) free(s->down_scales[e]);
    free(s->down_scales);
    free(s->down_len);
    memset(s, 0, sizeof *s);
}

/* Route every row of the capture slot `in` (chunk by chunk). */
static awq_status route_all(awq_model *m, awq_layer *l, awq_search_acts *c, int in, routing *r) {
    awq_ctx *ctx = awq_model_ctx(m);
    const awq_model_config *cfg = awq_model_get_config(m);
    const int64_t E = cfg->n_experts, K = cfg->n_experts_per_tok, R = c->rows;
    int32_t *idx = malloc((size_t)(R * K) * sizeof(int32_t));
    float *w = malloc((size_t)(R * K) * sizeof(float));
    r->off = calloc((size_t)E + 1, sizeof(int64_t));
    r->rows = malloc((size_t)(R * K) * sizeof(int64_t));
    r->wt = malloc((size_t)(R * K) * sizeof(float));
    awq_status st = AWQ_OK;
    if (!idx || !w || !r->off || !r->rows || !r->wt)
        st = awq_fail_nomem(ctx, "expert routing", (uint64_t)(R * K) * 20);
    awq_moe_weights *mw = awq_layer_moe_weights(l);
    int64_t row0 = 0;
    for (int64_t ch = 0; st == AWQ_OK && ch < awq_act_store_n_chunks(c->st); ch++) {
        float *x = NULL;
        int64_t n = awq_act_store_chunk_rows(c->st, ch);
        st = awq_act_store_get(c->st, in, ch, true, &x);
        if (st == AWQ_OK)
            st = awq_moe_route(awq_model_backend(m), cfg, mw, x, n, idx + row0 * K, w + row0 * K);
        row0 += n;
    }
    /* counting sort by expert; rows stay ascending within an expert */
    for (int64_t i = 0; st == AWQ_OK && i < R * K; i++) {
        if (idx[i] < 0 || idx[i] >= E)
            st = awq_fail(ctx, AWQ_ERR_INTERNAL, "routing picked expert %d of %lld", idx[i],
                          (long long)E);
        else
            r->off[idx[i] + 1]++;
    }
    for (int64_t e = 0; st == AWQ_OK && e < E; e++) r->off[e + 1] += r->off[e];
    int64_t *fill = st == AWQ_OK ? malloc((size_t)E * sizeof(int64_t)) : NULL;
    if (st == AWQ_OK && !fill) st = awq_fail_nomem(ctx, "routing", (uint64_t)E * 8);
    if (st == AWQ_OK) memcpy(fill, r->off, (size_t)E * sizeof(int64_t));
    for (int64_t i = 0; st == AWQ_OK && i < R * K; i++) {
        int64_t pos = fill[idx[i]]++;
        r->rows[pos] = i / K;
        r->wt[pos] = w[i];
    }
    free(fill);
    free(idx);
    free(w);
    return st;
}

/* A gated MLP on n rows: y = down(act(gate(x)) * up(x)); h (optional)
 * keeps act(gate) * up. */
static awq_status gated(awq_backend *be, const awq_model_config *cfg, const float *wg,
                        const float *wu, const float *wd, int64_t I, const float *x, float *g,
                        float *u, float *y, int64_t n) {
    int64_t H = cfg->hidden;
    AWQ_TRY(be->ops->gemm(be, x, wg, AWQ_DT_F32, NULL, g, n, I, H));
    AWQ_TRY(be->ops->gemm(be, x, wu, AWQ_DT_F32, NULL, u, n, I, H));
    if (cfg->act == AWQ_ACT_SILU)
        AWQ_TRY(be->ops->silu_mul(be, g, u, g, n * I));
    else
        AWQ_TRY(be->ops->act_mul(be, cfg->act, g, u, g, n * I));
    if (!wd) return AWQ_OK;
    return be->ops->gemm(be, g, wd, AWQ_DT_F32, NULL, y, n, H, I);
}

/* The weights a candidate computes with: w itself (mode FP), Q(w) (s ==
 * NULL), or Q(w s) / s. */
typedef enum { W_FP = 0, W_RTN = 1, W_SCALED = 2 } wmode;

static awq_status cand_weight(awq_model *m, const float *w, int64_t N, int64_t K, wmode mode,
                              const float *s_dev, const awq_quantize_params *p, float *tmp,
                              const float **use) {
    awq_backend *be = awq_model_backend(m);
    if (mode == W_FP) {
        *use = w;
        return AWQ_OK;
    }
    *use = tmp;
    if (mode == W_RTN) {
        AWQ_TRY(be->ops->copy(be, tmp, w, (size_t)N * (size_t)K * sizeof(float)));
        return awq_pseudo_quant(be, tmp, N, K, &p->quant);
    }
    uint8_t failed = 0;
    AWQ_TRY(awq_pseudo_quant_scaled(be, w, N, K, s_dev, 1, &p->quant, tmp, &failed));
    return failed ? awq_fail(awq_model_ctx(m), AWQ_ERR_RANGE, "scaled expert weights cannot be "
                             "quantized")
                  : AWQ_OK;
}

/* First index in rows[lo, hi) with value >= v. */
static int64_t lower_bound(const int64_t *rows, int64_t lo, int64_t hi, int64_t v) {
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rows[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The MoE block's output on chunk ch (input x, row0 its first row) into
 * sc->out, with every expert's (and the shared expert's) gate and up in
 * `mode`; down, the router and the shared gate as they are. */
static awq_status block_chunk(awq_model *m, awq_layer *l, const routing *r, const float *x,
                              int64_t row0, int64_t n, wmode mode, const awq_quantize_params *p,
                              moe_scratch *sc) {
    awq_backend *be = awq_model_backend(m);
    const awq_model_config *cfg = awq_model_get_config(m);
    const int64_t E = cfg->n_experts, H = cfg->hidden, I = cfg->moe_intermediate;
    awq_moe_weights *mw = awq_layer_moe_weights(l);
    AWQ_TRY(awq_model_upload(m, sc->out, sc->zero_h, (size_t)(n * H) * sizeof(float)));
    for (int64_t e = 0; e < E; e++) {
        int64_t a = lower_bound(r->rows, r->off[e], r->off[e + 1], row0);
        int64_t b = lower_bound(r->rows, a, r->off[e + 1], row0 + n);
        int64_t ne = b - a;
        if (ne == 0) continue;
        for (int64_t i = 0; i < ne; i++)
            AWQ_TRY(be->ops->copy(be, sc->gx + i * H, x + (r->rows[a + i] - row0) * H,
                                  (size_t)H * sizeof(float)));
        const float *wg, *wu;
        AWQ_TRY(cand_weight(m, mw->experts[e * 3], I, H, mode, sc->s_dev, p, sc->qg, &wg));
        AWQ_TRY(cand_weight(m, mw->experts[e * 3 + 1], I, H, mode, sc->s_dev, p, sc->qu, &wu));
        AWQ_TRY(gated(be, cfg, wg, wu, mw->experts[e * 3 + 2], I, sc->gx, sc->g, sc->u, sc->y,
                      ne));
        AWQ_TRY(awq_model_upload(m, sc->sw, r->wt + a, (size_t)ne * sizeof(float)));
        AWQ_TRY(be->ops->scale_rows(be, sc->y, sc->sw, ne, H, false));
        for (int64_t i = 0; i < ne; i++)
            AWQ_TRY(be->ops->add(be, sc->out + (r->rows[a + i] - row0) * H, sc->y + i * H, H));
    }
    if (mw->shared[0]) {
        const int64_t SI = cfg->shared_intermediate;
        const float *wg, *wu;
        AWQ_TRY(cand_weight(m, mw->shared[0], SI, H, mode, sc->s_dev, p, sc->qg, &wg));
        AWQ_TRY(cand_weight(m, mw->shared[1], SI, H, mode, sc->s_dev, p, sc->qu, &wu));
        AWQ_TRY(gated(be, cfg, wg, wu, mw->shared[2], SI, x, sc->g, sc->u, sc->y, n));
        if (mw->shared_gate) {
            AWQ_TRY(be->ops->gemm(be, x, mw->shared_gate, AWQ_DT_F32, NULL, sc->sw, n, 1, H));
            AWQ_TRY(awq_model_download(m, sc->sg_h, sc->sw, (size_t)n * sizeof(float)));
            for (int64_t i = 0; i < n; i++)
                sc->sg_h[i] = (float)(1.0 / (1.0 + exp(-(double)sc->sg_h[i])));
            AWQ_TRY(awq_model_upload(m, sc->sw, sc->sg_h, (size_t)n * sizeof(float)));
            AWQ_TRY(be->ops->scale_rows(be, sc->y, sc->sw, n, H, false));
        }
        AWQ_TRY(be->ops->add(be, sc->out, sc->y, n * H));
    }
    return AWQ_OK;
}

/* The block's squared errors (gate/up in `mode`) vs AWQ_SLOT_FP over global
 * rows [r0, r1), added to *acc. The MoE block is row-wise, so a chunk is
 * cut at any row. */
static awq_status block_loss(awq_model *m, awq_layer *l, awq_search_acts *c, int in,
                             const routing *r, wmode mode, const awq_quantize_params *p,
                             moe_scratch *sc, int64_t r0, int64_t r1, awq_part_sum *acc) {
    const int64_t cols = awq_act_store_cols(c->st, AWQ_SLOT_FP);
    const int64_t kin = awq_act_store_cols(c->st, in);
    int64_t row0 = 0;
    for (int64_t ch = 0; ch < awq_act_store_n_chunks(c->st); ch++) {
        float *x = NULL, *fp = NULL;
        const int64_t n = awq_act_store_chunk_rows(c->st, ch);
        int64_t lo, hi;
        awq_unit_range(r0, r1, row0, n, &lo, &hi); /* rows of this chunk */
        if (lo < hi) {
            AWQ_TRY(awq_act_store_get(c->st, in, ch, true, &x));
            AWQ_TRY(block_chunk(m, l, r, x + lo * kin, row0 + lo, hi - lo, mode, p, sc));
            AWQ_TRY(awq_act_store_get(c->st, AWQ_SLOT_FP, ch, true, &fp));
            AWQ_TRY(awq_race_add_sq_err(m, sc->out, fp + lo * cols, hi - lo, cols, 0, acc));
        }
        row0 += n;
    }
    return AWQ_OK;
}

/* Accumulate AutoAWQ's w_mean terms of w [N, K] (host) into acc. */
static void w_mean_acc(const float *w, int64_t N, int64_t K, int64_t glen, double *acc) {
    for (int64_t n = 0; n < N; n++) {
        const float *row = w + n * K;
        for (int64_t g0 = 0; g0 < K; g0 += glen) {
            int64_t g1 = AWQ_MIN(K, g0 + glen);
            float mx = 0;
            for (int64_t k = g0; k < g1; k++) mx = fmaxf(mx, fabsf(row[k]));
            float den = mx + 1e-6f;
            for (int64_t k = g0; k < g1; k++) acc[k] += (double)(fabsf(row[k]) / den);
        }
    }
}

static awq_status w_mean_of(awq_model *m, const float *const *w, const int64_t *rows, int n_w,
                            int64_t K, const awq_quantize_params *p, float *wm) {
    awq_ctx *ctx = awq_model_ctx(m);
    if (p->duo_scaling == AWQ_DUO_OFF) {
        /* read by no candidate: skip the host copy of the weights */
        for (int64_t k = 0; k < K; k++) wm[k] = 1.0f;
        return AWQ_OK;
    }
    double *acc = calloc((size_t)K, sizeof(double));
    int64_t maxr = 0, total = 0;
    for (int j = 0; j < n_w; j++) maxr = AWQ_MAX(maxr, rows[j]);
    float *h = awq_alloc((size_t)(maxr * K), sizeof(float));
    awq_status st = acc && h ? AWQ_OK : awq_fail_nomem(ctx, "w_mean", (uint64_t)(maxr * K) * 4);
    int64_t glen = awq_group_len(K, p->quant.group_size);
    for (int j = 0; j < n_w && st == AWQ_OK; j++) {
        st = awq_model_download(m, h, w[j], (size_t)(rows[j] * K) * sizeof(float));
        if (st == AWQ_OK) w_mean_acc(h, rows[j], K, glen, acc);
        total += rows[j];
    }
    for (int64_t k = 0; k < K && st == AWQ_OK; k++) wm[k] = (float)(acc[k] / (double)total);
    free(acc);
    awq_free(h);
    return st;
}

/* x_mean (mean |x| per column) of rows [n, K] in backend memory. */
static awq_status x_mean_of(awq_model *m, const float *x, int64_t n, int64_t K, float *xm) {
    awq_backend *be = awq_model_backend(m);
    float *d = NULL;
    AWQ_TRY(balloc(m, K, &d));
    awq_status st = be->ops->col_mean_abs(be, x, n, K, d);
    if (st == AWQ_OK) st = awq_model_download(m, xm, d, (size_t)K * sizeof(float));
    awq_model_free_buf(m, d);
    return st;
}

/* Both group kinds through the shared candidate loop (awq_pick.c);
 * *scales: the winner's (owned by the caller). */
static awq_status search_scales(awq_model *m, const awq_quantize_params *p, const float *xm,
                                const float *wm, int64_t K, const awq_race_plan *plan,
                                awq_cand_eval_fn eval, void *u, const char *what,
                                awq_group_report *rep, float **scales) {
    awq_search_pick pk;
    AWQ_TRY(awq_search_pick_run(awq_model_ctx(m), p, xm, wm, K, plan, eval, u, what, rep, &pk));
    *scales = pk.scales;
    pk.scales = NULL;
    awq_search_pick_free(&pk);
    return AWQ_OK;
}

/* ------------------------------------------- norm -> every gate / up */

typedef struct {
    awq_model *m;
    awq_layer *l;
    awq_search_acts *c;
    int in;
    const routing *r;
    const awq_quantize_params *p;
    moe_scratch *sc;
    int64_t K;
} norm_eval;

/* units: sequences (rows [u0 T, u1 T)) */
static awq_status norm_eval_fn(void *u, const float *s_host, int64_t u0, int64_t u1,
                               awq_part_sum *acc) {
    norm_eval *ne = u;
    if (s_host)
        AWQ_TRY(awq_model_upload(ne->m, ne->sc->s_dev, s_host, (size_t)ne->K * sizeof(float)));
    return block_loss(ne->m, ne->l, ne->c, ne->in, ne->r, s_host ? W_SCALED : W_RTN, ne->p,
                      ne->sc, u0 * ne->c->T, u1 * ne->c->T, acc);
}

/* The norm the table's MLP input group folds into (post_attention_layernorm,
 * Gemma's pre_feedforward_layernorm). */
static const char *mlp_norm(const awq_arch *a) {
    for (int g = 0; g < a->n_groups; g++) {
        const awq_scale_group *gr = &a->groups[g];
        if (!gr->prev_norm) continue;
        awq_lin_kind k = a->linears[gr->linears[0]].kind;
        if (k == AWQ_LIN_KIND_GATE || k == AWQ_LIN_KIND_UP || k == AWQ_LIN_KIND_GATE_UP)
            return gr->prev_norm;
    }
    return NULL;
}

static awq_status norm_group(awq_model *m, awq_layer *l, awq_search_acts *c, int in,
                             const routing *r, const awq_quantize_params *p, moe_scratch *sc,
                             awq_moe_search *out) {
    const awq_model_config *cfg = awq_model_get_config(m);
    awq_ctx *ctx = awq_model_ctx(m);
    awq_backend *be = awq_model_backend(m);
    const int64_t H = cfg->hidden, E = cfg->n_experts, I = cfg->moe_intermediate;
    awq_moe_weights *mw = awq_layer_moe_weights(l);
    const char *norm = mlp_norm(cfg->arch);
    if (!norm) return AWQ_OK;
    snprintf(out->norm_rep.name, sizeof out->norm_rep.name, "%s->experts gate,up%s", norm,
             mw->shared[0] ? "+shared" : "");
    float *xm = awq_alloc((size_t)H, sizeof(float)), *wm = awq_alloc((size_t)H, sizeof(float));
    int n_w = (int)(2 * E) + (mw->shared[0] ? 2 : 0);
    const float **ws = malloc((size_t)n_w * sizeof *ws);
    int64_t *wr = malloc((size_t)n_w * sizeof *wr);
    awq_status st = xm && wm && ws && wr ? AWQ_OK : awq_fail_nomem(ctx, "norm group", 0);
    for (int64_t e = 0; st == AWQ_OK && e < E; e++) {
        ws[2 * e] = mw->experts[e * 3];
        ws[2 * e + 1] = mw->experts[e * 3 + 1];
        wr[2 * e] = wr[2 * e + 1] = I;
    }
    if (st == AWQ_OK && mw->shared[0]) {
        ws[2 * E] = mw->shared[0];
        ws[2 * E + 1] = mw->shared[1];
        wr[2 * E] = wr[2 * E + 1] = cfg->shared_intermediate;
    }
    /* x_mean over every calibration row, chunk means weighted by rows */
    double *acc = st == AWQ_OK ? calloc((size_t)H, sizeof(double)) : NULL;
    if (st == AWQ_OK && !acc) st = awq_fail_nomem(ctx, "x_mean", (uint64_t)H * 8);
    for (int64_t ch = 0; st == AWQ_OK && ch < awq_act_store_n_chunks(c->st); ch++) {
        float *x = NULL;
        int64_t n = awq_act_store_chunk_rows(c->st, ch);
        st = awq_act_store_get(c->st, in, ch, true, &x);
        if (st == AWQ_OK) st = x_mean_of(m, x, n, H, xm);
        for (int64_t k = 0; st == AWQ_OK && k < H; k++) acc[k] += (double)xm[k] * (double)n;
    }
    for (int64_t k = 0; st == AWQ_OK && k < H; k++) xm[k] = (float)(acc[k] / (double)c->rows);
    free(acc);
    if (st == AWQ_OK) st = w_mean_of(m, ws, wr, n_w, H, p, wm);
    /* FP outputs of the block (the slot's MLP outputs, if any, are void) */
    c->fp_is_mlp_out = false;
    int64_t row0 = 0;
    for (int64_t ch = 0; st == AWQ_OK && ch < awq_act_store_n_chunks(c->st); ch++) {
        float *x = NULL, *fp = NULL;
        int64_t n = awq_act_store_chunk_rows(c->st, ch);
        st = awq_act_store_get(c->st, in, ch, true, &x);
        if (st == AWQ_OK) st = block_chunk(m, l, r, x, row0, n, W_FP, p, sc);
        if (st == AWQ_OK) st = awq_act_store_get(c->st, AWQ_SLOT_FP, ch, false, &fp);
        if (st == AWQ_OK) st = be->ops->copy(be, fp, sc->out, (size_t)(n * H) * sizeof(float));
        if (st == AWQ_OK) st = awq_act_store_put(c->st, AWQ_SLOT_FP, ch, fp);
        row0 += n;
    }
    /* the race over sequences; segments are cut in each piece (a chunk's
     * rows of a stage, at most 2 B pieces) */
    const awq_race_plan plan = {
        .units = c->B,
        .stage =
            awq_search_screen_split(p, awq_search_n_candidates(p->duo_scaling, p->n_grid), c->B),
        .cap_seg = c->B * c->T / AWQ_SEG_TOKENS + 2 * c->B + 1,
    };
    norm_eval ne = {m, l, c, in, r, p, sc, H};
    char what[96];
    snprintf(what, sizeof what, "layer %lld %s", (long long)awq_layer_index(l),
             out->norm_rep.name);
    if (st == AWQ_OK)
        st = search_scales(m, p, xm, wm, H, &plan, norm_eval_fn, &ne, what,
                           &out->norm_rep, &out->norm_scales);
    out->hidden = H;
    /* apply: norm / s; router, shared gate and every gate / up columns x s;
     * the captured input / s */
    float *sd = NULL;
    if (st == AWQ_OK) st = balloc(m, H, &sd);
    if (st == AWQ_OK) st = awq_model_upload(m, sd, out->norm_scales, (size_t)H * sizeof(float));
    if (st == AWQ_OK) {
        int which = awq_layer_norm_find(norm);
        int64_t nn = 0;
        float *nw = which < 0 ? NULL : awq_layer_norm_weight(l, (awq_layer_norm_id)which, &nn);
        st = nw && nn == H ? be->ops->scale_cols(be, nw, sd, 1, H, true)
                           : awq_fail(ctx, AWQ_ERR_INTERNAL, "layer %lld: norm %s missing",
                                      (long long)awq_layer_index(l), norm);
    }
    if (st == AWQ_OK) st = be->ops->scale_cols(be, mw->router, sd, E, H, false);
    if (st == AWQ_OK && mw->shared_gate)
        st = be->ops->scale_cols(be, mw->shared_gate, sd, 1, H, false);
    for (int j = 0; j < n_w && st == AWQ_OK; j++)
        st = be->ops->scale_cols(be, (float *)ws[j], sd, wr[j], H, false);
    for (int64_t ch = 0; st == AWQ_OK && ch < awq_act_store_n_chunks(c->st); ch++) {
        float *x = NULL;
        st = awq_act_store_get(c->st, in, ch, true, &x);
        if (st == AWQ_OK)
            st = be->ops->scale_cols(be, x, sd, awq_act_store_chunk_rows(c->st, ch), H, true);
        if (st == AWQ_OK) st = awq_act_store_put(c->st, in, ch, x);
    }
    awq_model_free_buf(m, sd);
    awq_free(xm);
    awq_free(wm);
    free(ws);
    free(wr);
    return st;
}

/* --------------------------------------------- one expert: up -> down */

typedef struct {
    awq_model *m;
    const float *h;            /* [n, K] down inputs */
    const float *wd;           /* down [H, K] */
    const float *fp;           /* [n, H] FP down outputs */
    int64_t n, K, H;
    const awq_quantize_params *p;
    float *qd, *y, *s_dev;
    const int64_t *row_of;     /* [n] the rows' global indices (ascending);
                                  NULL: row i is global row i */
    int64_t T;
} down_eval;

/* The first of d's rows at or after global row g. */
static int64_t first_row_from(const down_eval *d, int64_t g) {
    if (!d->row_of) return AWQ_MIN(d->n, AWQ_MAX(0, g));
    return lower_bound(d->row_of, 0, d->n, g);
}

/* units: sequences (the expert's rows routed from them) */
static awq_status down_eval_fn(void *u, const float *s_host, int64_t u0, int64_t u1,
                               awq_part_sum *acc) {
    down_eval *d = u;
    awq_backend *be = awq_model_backend(d->m);
    const float *w;
    const int64_t lo = first_row_from(d, u0 * d->T), hi = first_row_from(d, u1 * d->T);
    if (s_host) AWQ_TRY(awq_model_upload(d->m, d->s_dev, s_host, (size_t)d->K * sizeof(float)));
    AWQ_TRY(cand_weight(d->m, d->wd, d->H, d->K, s_host ? W_SCALED : W_RTN, d->s_dev, d->p, d->qd,
                        &w));
    if (hi <= lo) return AWQ_OK;
    AWQ_TRY(be->ops->gemm(be, d->h + lo * d->K, w, AWQ_DT_F32, NULL, d->y, hi - lo, d->H, d->K));
    return awq_race_add_sq_err(d->m, d->y, d->fp + lo * d->H, hi - lo, d->H, 0, acc);
}

/* Clip search + clamp of w [N, K] on the rows of x [n, K]. */
static awq_status clip_linear(awq_model *m, float *w, int64_t N, int64_t K, const float *x,
                              int64_t n, const awq_quantize_params *p) {
    awq_backend *be = awq_model_backend(m);
    int64_t glen = awq_group_len(K, p->quant.group_size);
    if (K % glen != 0) return AWQ_OK; /* not packable: stays in the source dtype */
    int64_t G = K / glen;
    int64_t step = p->clip_tokens > 0 ? n / p->clip_tokens : 1;
    if (step < 1) step = 1;
    int64_t ns = (n + step - 1) / step;
    float *xs = NULL, *mx = NULL;
    awq_status st = AWQ_OK;
    if (step > 1) {
        st = balloc(m, ns * K, &xs);
        for (int64_t i = 0; i < ns && st == AWQ_OK; i++)
            st = be->ops->copy(be, xs + i * K, x + i * step * K, (size_t)K * sizeof(float));
    }
    if (st == AWQ_OK) st = balloc(m, N * G, &mx);
    int n_steps = (int)(p->clip_max_shrink * p->clip_n_grid);
    if (st == AWQ_OK)
        st = awq_clip_search_fast(be, w, xs ? xs : x, N, K, ns, &p->quant, p->clip_n_grid,
                                  n_steps, mx);
    if (st == AWQ_OK) st = awq_clip_apply(be, w, N, K, p->quant.group_size, mx);
    awq_model_free_buf(m, xs);
    awq_model_free_buf(m, mx);
    return st;
}

/* Expert e (e == E: the shared expert, every row with weight 1): gather its
 * rows of the (scaled) MoE input, build down's inputs, search up -> down
 * when it saw enough tokens, apply, clip its three linears. */
static awq_status expert_group(awq_model *m, awq_layer *l, awq_search_acts *c, int in,
                               const routing *r, const awq_quantize_params *p, int64_t e,
                               awq_moe_search *out) {
    awq_ctx *ctx = awq_model_ctx(m);
    awq_backend *be = awq_model_backend(m);
    const awq_model_config *cfg = awq_model_get_config(m);
    const int64_t E = cfg->n_experts, H = cfg->hidden;
    awq_moe_weights *mw = awq_layer_moe_weights(l);
    const bool shared = e == E;
    float *wg = shared ? mw->shared[0] : mw->experts[e * 3];
    float *wu = shared ? mw->shared[1] : mw->experts[e * 3 + 1];
    float *wd = shared ? mw->shared[2] : mw->experts[e * 3 + 2];
    const int64_t I = shared ? cfg->shared_intermediate : cfg->moe_intermediate;
    const int64_t n = shared ? c->rows : r->off[e + 1] - r->off[e];
    if (n == 0) return AWQ_OK;
    float *x = NULL, *h = NULL, *u = NULL, *fp = NULL, *y = NULL, *qd = NULL, *sd = NULL;
    float *xm = NULL, *wm = NULL;
    awq_status st = balloc(m, n * H, &x);
    if (st == AWQ_OK) st = balloc(m, n * I, &h);
    if (st == AWQ_OK) st = balloc(m, n * I, &u);
    /* gather: rows ascending, so each chunk is fetched once */
    int64_t crows = awq_act_store_chunk_rows(c->st, 0), cur = -1;
    float *xc = NULL;
    for (int64_t i = 0; i < n && st == AWQ_OK; i++) {
        int64_t row = shared ? i : r->rows[r->off[e] + i], ch = row / crows;
        if (ch != cur) {
            st = awq_act_store_get(c->st, in, ch, true, &xc);
            cur = ch;
        }
        if (st == AWQ_OK)
            st = be->ops->copy(be, x + i * H, xc + (row - ch * crows) * H,
                               (size_t)H * sizeof(float));
    }
    if (st == AWQ_OK) st = gated(be, cfg, wg, wu, NULL, I, x, h, u, NULL, n);
    awq_model_free_buf(m, u);
    u = NULL;
    bool search = p->method == AWQ_METHOD_AWQ && n >= AWQ_MOE_MIN_SEARCH_TOKENS;
    if (search && st == AWQ_OK) {
        xm = awq_alloc((size_t)I, sizeof(float));
        wm = awq_alloc((size_t)I, sizeof(float));
        if (!xm || !wm) st = awq_fail_nomem(ctx, "expert search", (uint64_t)I * 8);
        if (st == AWQ_OK) st = x_mean_of(m, h, n, I, xm);
        const float *wl[1] = {wd};
        int64_t rl[1] = {H};
        if (st == AWQ_OK) st = w_mean_of(m, wl, rl, 1, I, p, wm);
        if (st == AWQ_OK) st = balloc(m, n * H, &fp);
        if (st == AWQ_OK) st = balloc(m, n * H, &y);
        if (st == AWQ_OK) st = balloc(m, H * I, &qd);
        if (st == AWQ_OK) st = balloc(m, I, &sd);
        if (st == AWQ_OK) st = be->ops->gemm(be, h, wd, AWQ_DT_F32, NULL, fp, n, H, I);
        awq_group_report rep;
        memset(&rep, 0, sizeof rep);
        /* the race over sequences (the expert's rows from them; its rows
         * ascend), when the first stage holds enough tokens to rank */
        const int64_t stage =
            awq_search_screen_split(p, awq_search_n_candidates(p->duo_scaling, p->n_grid), c->B);
        down_eval de = {m, h, wd, fp, n, I, H, p, qd, y, sd,
                        shared ? NULL : r->rows + r->off[e], c->T};
        const int64_t n_scr = first_row_from(&de, stage * c->T);
        const int64_t n_stages = (c->B + stage - 1) / stage;
        /* a stage's rows give ceil(rows / seg) segments: at most
         * n / seg + 1 per stage */
        const awq_race_plan plan = {
            .units = c->B,
            .stage = n_scr >= AWQ_MOE_MIN_SEARCH_TOKENS && n - n_scr >= 1 ? stage : c->B,
            .cap_seg = n / AWQ_SEG_TOKENS + n_stages,
        };
        float *sc = NULL;
        char what[96];
        snprintf(what, sizeof what, "layer %lld expert %lld up->down",
                 (long long)awq_layer_index(l), (long long)e);
        if (st == AWQ_OK)
            st = search_scales(m, p, xm, wm, I, &plan, down_eval_fn, &de, what, &rep, &sc);
        if (st == AWQ_OK) {
            out->down_scales[e] = sc;
            out->down_len[e] = I;
            out->n_down_searched++;
            out->down_ratio_sum += rep.ratio;
            out->down_loss_rtn_sum += rep.loss_rtn;
            out->down_loss_best_sum += rep.loss_best;
            /* apply: up rows / s, down columns x s, down's inputs / s */
            st = awq_model_upload(m, sd, sc, (size_t)I * sizeof(float));
            if (st == AWQ_OK) st = be->ops->scale_rows(be, wu, sd, I, H, true);
            if (st == AWQ_OK) st = be->ops->scale_cols(be, wd, sd, H, I, false);
            if (st == AWQ_OK) st = be->ops->scale_cols(be, h, sd, n, I, true);
        }
    }
    /* clip (AutoAWQ clips every expert linear on its own inputs) */
    if (st == AWQ_OK && p->clip && n >= AWQ_MOE_MIN_CLIP_TOKENS) {
        st = clip_linear(m, wg, I, H, x, n, p);
        if (st == AWQ_OK) st = clip_linear(m, wu, I, H, x, n, p);
        if (st == AWQ_OK) st = clip_linear(m, wd, H, I, h, n, p);
    }
    float *bufs[] = {x, h, u, fp, y, qd, sd};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(bufs); i++) awq_model_free_buf(m, bufs[i]);
    awq_free(xm);
    awq_free(wm);
    if (st != AWQ_OK)
        return awq_fail_wrap(ctx, st, "layer %lld, %s", (long long)awq_layer_index(l),
                             shared ? "the shared expert" : "an expert");
    return AWQ_OK;
}

awq_status awq_moe_search_layer(awq_model *m, awq_layer *l, awq_search_acts *c,
                                const awq_quantize_params *p, awq_moe_search *out) {
    memset(out, 0, sizeof *out);
    awq_ctx *ctx = awq_model_ctx(m);
    awq_backend *be = awq_model_backend(m);
    const awq_model_config *cfg = awq_model_get_config(m);
    awq_moe_weights *mw = awq_layer_moe_weights(l);
    if (!mw)
        return awq_fail(ctx, AWQ_ERR_INTERNAL, "layer %lld is not a mixture-of-experts layer",
                        (long long)awq_layer_index(l));
    const int64_t E = cfg->n_experts, H = cfg->hidden;
    const int in = AWQ_SLOT_CAP + AWQ_CAPTURE_GATE_UP_IN;
    out->n_experts = E;
    out->has_shared = mw->shared[0] != NULL;
    out->norm_rep.layer = awq_layer_index(l);
    out->tokens = calloc((size_t)E, sizeof(int64_t));
    out->down_scales = calloc((size_t)E + 1, sizeof(float *));
    out->down_len = calloc((size_t)E + 1, sizeof(int64_t));
    if (!out->tokens || !out->down_scales || !out->down_len) {
        awq_moe_search_free(out);
        return awq_fail_nomem(ctx, "expert search", (uint64_t)E * 24);
    }
    routing r;
    memset(&r, 0, sizeof r);
    moe_scratch sc;
    memset(&sc, 0, sizeof sc);
    awq_status st = route_all(m, l, c, in, &r);
    for (int64_t e = 0; st == AWQ_OK && e < E; e++) {
        out->tokens[e] = r.off[e + 1] - r.off[e];
        out->n_starved += out->tokens[e] < AWQ_MOE_MIN_SEARCH_TOKENS;
    }
    bool bf16 = false;
    if (st == AWQ_OK && p->method == AWQ_METHOD_AWQ) {
        if (p->precision == AWQ_PRECISION_BF16 && be->ops->set_gemm_precision)
            bf16 = be->ops->set_gemm_precision(be, AWQ_GEMM_BF16) == AWQ_OK;
        int64_t rows = awq_act_store_chunk_rows(c->st, 0);
        int64_t W = AWQ_MAX(cfg->moe_intermediate, cfg->shared_intermediate);
        sc.max_rows = rows;
        st = balloc(m, rows * H, &sc.gx);
        if (st == AWQ_OK) st = balloc(m, rows * W, &sc.g);
        if (st == AWQ_OK) st = balloc(m, rows * W, &sc.u);
        if (st == AWQ_OK) st = balloc(m, rows * H, &sc.y);
        if (st == AWQ_OK) st = balloc(m, rows, &sc.sw);
        if (st == AWQ_OK) st = balloc(m, W * H, &sc.qg);
        if (st == AWQ_OK) st = balloc(m, W * H, &sc.qu);
        if (st == AWQ_OK) st = balloc(m, H, &sc.s_dev);
        if (st == AWQ_OK) st = balloc(m, rows * H, &sc.out);
        if (st == AWQ_OK && (!(sc.sg_h = malloc((size_t)rows * sizeof(float))) ||
                             !(sc.zero_h = calloc((size_t)(rows * H), sizeof(float)))))
            st = awq_fail_nomem(ctx, "block scratch", (uint64_t)(rows * H) * 4);
        if (st == AWQ_OK) st = norm_group(m, l, c, in, &r, p, &sc, out);
        scratch_free(m, &sc);
        if (st != AWQ_OK)
            st = awq_fail_wrap(ctx, st, "layer %lld, group %s", (long long)awq_layer_index(l),
                               out->norm_rep.name);
    }
    for (int64_t e = 0; st == AWQ_OK && e <= E; e++) {
        if (e == E && !out->has_shared) break;
        char phase[96];
        snprintf(phase, sizeof phase, "layer %lld/%lld: experts", (long long)awq_layer_index(l) + 1,
                 (long long)cfg->n_layers);
        st = awq_progress(ctx, phase, (uint64_t)e, (uint64_t)E + 1);
        if (st == AWQ_OK && p->method == AWQ_METHOD_AWQ)
            st = expert_group(m, l, c, in, &r, p, e, out);
    }
    if (bf16) {
        awq_status s2 = be->ops->set_gemm_precision(be, AWQ_GEMM_FP32);
        if (st == AWQ_OK) st = s2;
    }
    routing_free(&r);
    if (st != AWQ_OK) awq_moe_search_free(out);
    return st;
}

/* ------------------------------------------------------------ records */

cJSON *awq_moe_search_json(const awq_moe_search *s) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "experts", (double)s->n_experts);
    cJSON_AddNumberToObject(o, "min_search_tokens", AWQ_MOE_MIN_SEARCH_TOKENS);
    cJSON_AddNumberToObject(o, "min_clip_tokens", AWQ_MOE_MIN_CLIP_TOKENS);
    cJSON *t = cJSON_AddArrayToObject(o, "tokens");
    cJSON *sv = cJSON_AddArrayToObject(o, "starved");
    for (int64_t e = 0; e < s->n_experts; e++) {
        cJSON_AddItemToArray(t, cJSON_CreateNumber((double)s->tokens[e]));
        if (s->tokens[e] < AWQ_MOE_MIN_SEARCH_TOKENS)
            cJSON_AddItemToArray(sv, cJSON_CreateNumber((double)e));
    }
    cJSON_AddNumberToObject(o, "down_searched", (double)s->n_down_searched);
    const awq_group_report *r = &s->norm_rep;
    cJSON *g = cJSON_AddObjectToObject(o, "norm_group");
    cJSON_AddStringToObject(g, "name", r->name);
    cJSON_AddBoolToObject(g, "searched", r->searched);
    cJSON_AddNumberToObject(g, "ratio", r->ratio);
    cJSON_AddBoolToObject(g, "duo", r->duo);
    cJSON_AddNumberToObject(g, "loss_rtn", r->loss_rtn);
    cJSON_AddNumberToObject(g, "loss_best", r->loss_best);
    if (s->norm_scales) cJSON_AddItemToObject(g, "scales", awq_qz_json_floats(s->norm_scales, s->hidden));
    cJSON *ds = cJSON_AddArrayToObject(o, "down_scales");
    for (int64_t e = 0; s->down_scales && e <= s->n_experts; e++) {
        if (!s->down_scales[e]) continue;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "expert", (double)e);
        if (e == s->n_experts) cJSON_AddBoolToObject(d, "shared", true);
        cJSON_AddItemToObject(d, "scales", awq_qz_json_floats(s->down_scales[e], s->down_len[e]));
        cJSON_AddItemToArray(ds, d);
    }
    return o;
}

bool awq_moe_tokens_from_json(const cJSON *lj, int64_t E, int64_t *tokens) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(lj, "moe");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tokens");
    if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) != E) return false;
    int64_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, t) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) return false;
        tokens[i++] = (int64_t)v->valuedouble;
    }
    return true;
}

uint64_t awq_moe_layer_bytes(const awq_model_config *c) {
    if (!c->arch || !c->arch->moe) return 0;
    uint64_t H = (uint64_t)c->hidden, E = (uint64_t)c->n_experts;
    uint64_t n = E * H + E * 3 * H * (uint64_t)c->moe_intermediate;
    n += 3 * H * (uint64_t)c->shared_intermediate + (c->shared_intermediate ? H : 0);
    return n * 4;
}

uint64_t awq_moe_search_bytes(const awq_model_config *c, uint64_t rows) {
    if (!c->arch || !c->arch->moe) return 0;
    uint64_t H = (uint64_t)c->hidden, K = (uint64_t)c->n_experts_per_tok;
    uint64_t W = (uint64_t)AWQ_MAX(c->moe_intermediate, c->shared_intermediate);
    /* routing (host), the block scratch, one expert's candidate weights and
     * the largest expert's gathered rows (the shared expert: every row) */
    return rows * K * 12 + rows * 4 * (3 * H + 2 * W) + 3 * W * H * 4 + rows * 4 * (3 * H + 2 * W);
}
