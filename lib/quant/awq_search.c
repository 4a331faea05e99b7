/* lib/quant/awq_search.c — the AWQ scale and clip search on one layer.
 *
 * Everything heavy runs through the backend ops (gemm inside the layer
 * blocks, pseudo_quant, scale_cols, mse, clip_search), so this file is the
 * algorithm for every backend. Small per-channel vectors (x_mean, w_mean,
 * the candidate scales) are computed on the host: they are K floats.
 *
 * Fidelity to AutoAWQ (awq/quantize/quantizer.py, _search_best_scale and
 * _compute_best_scale): w_mean uses |W| / (group max + 1e-6) averaged over
 * the rows of all the group's linears; x_mean is mean |x| over all tokens;
 * candidates r = 0..n_grid-1, ratio r/n_grid; s = x^ratio / (w^(1-ratio) +
 * 1e-4) (duo) or x^ratio (or both families interleaved, llm-compressor's
 * duo_scaling="both"; see awq_search_candidate), clamped >= 1e-4, divided by sqrt(max(s)·min(s)),
 * non-finite entries set to 1; loss = mean squared error of the block
 * output vs the FP output; the first strict minimum wins. All groups are
 * searched on the unscaled layer and applied afterwards (AutoAWQ computes
 * scales_list before apply_scale). Differences, on purpose: the candidate
 * GEMMs take bf16 inputs with fp32 accumulation (p->precision, default) or
 * fp32 (AutoAWQ runs the candidates in fp16), everything else is fp32; a
 * one-linear group's loss may come from the Gram form (awq_gram.h), equal
 * to the forward's up to rounding; a non-finite candidate loss is skipped
 * instead of aborting; and the candidates race over stages of the
 * sequences, the clearly worse leaving early (awq_pick.c). */
#include "quant/awq_search.h"

#include "core/core.h"
#include "model/forward.h"
#include "quant/awq_gram.h"
#include "quant/clip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

awq_capture_point awq_search_point_of_linear(const awq_arch *a, int lin) {
    switch (a->linears[lin].kind) {
    case AWQ_LIN_KIND_Q:
    case AWQ_LIN_KIND_K:
    case AWQ_LIN_KIND_V:
    case AWQ_LIN_KIND_QKV: return AWQ_CAPTURE_QKV_IN;
    case AWQ_LIN_KIND_O: return AWQ_CAPTURE_O_IN;
    case AWQ_LIN_KIND_GATE:
    case AWQ_LIN_KIND_UP:
    case AWQ_LIN_KIND_GATE_UP: return AWQ_CAPTURE_GATE_UP_IN;
    case AWQ_LIN_KIND_Q_A:
    case AWQ_LIN_KIND_KV_A: return AWQ_CAPTURE_QKV_IN;
    case AWQ_LIN_KIND_Q_B: return AWQ_CAPTURE_Q_B_IN;
    case AWQ_LIN_KIND_KV_B: return AWQ_CAPTURE_KV_B_IN;
    default: return AWQ_CAPTURE_DOWN_IN;
    }
}

awq_status awq_search_acts_create(awq_model *m, int64_t B, int64_t T, int64_t seqs_per_chunk,
                                  bool offload, const char *dir, awq_search_acts *a) {
    memset(a, 0, sizeof *a);
    const awq_model_config *cfg = awq_model_get_config(m);
    if (seqs_per_chunk <= 0 || seqs_per_chunk > B) seqs_per_chunk = B;
    a->B = B;
    a->T = T;
    a->rows = B * T;
    a->seqs_per_chunk = seqs_per_chunk;
    awq_act_store_params p;
    memset(&p, 0, sizeof p);
    p.n_slots = AWQ_SLOT_COUNT;
    p.cols[AWQ_SLOT_X] = cfg->hidden;
    p.cols[AWQ_SLOT_Y] = cfg->hidden;
    p.cols[AWQ_SLOT_CAP + AWQ_CAPTURE_QKV_IN] = cfg->hidden;
    p.cols[AWQ_SLOT_CAP + AWQ_CAPTURE_O_IN] =
        cfg->arch && cfg->arch->mla ? cfg->n_heads * cfg->v_head_dim : cfg->n_heads * cfg->head_dim;
    /* MLA's low-rank inputs (0 columns, never captured, elsewhere) */
    p.cols[AWQ_SLOT_CAP + AWQ_CAPTURE_Q_B_IN] = cfg->q_lora_rank;
    p.cols[AWQ_SLOT_CAP + AWQ_CAPTURE_KV_B_IN] = cfg->kv_lora_rank;
    p.cols[AWQ_SLOT_CAP + AWQ_CAPTURE_GATE_UP_IN] = cfg->hidden;
    p.cols[AWQ_SLOT_CAP + AWQ_CAPTURE_DOWN_IN] = cfg->intermediate;
    /* the MLP's output goes to AWQ_SLOT_FP (awq_search_acts.fp_is_mlp_out) */
    p.cols[AWQ_SLOT_CAP + AWQ_CAPTURE_MLP_OUT] = 0;
    /* every block's output is [rows, hidden] in the Llama family; the
     * linear blocks (o, down) too */
    p.cols[AWQ_SLOT_FP] = cfg->hidden;
    p.cols[AWQ_SLOT_TMP] = cfg->hidden;
    p.n_rows = a->rows;
    p.chunk_rows = seqs_per_chunk * T;
    p.offload = offload;
    p.dir = dir;
    p.zstd_level = 1;
    return awq_act_store_create(m, &p, &a->st);
}

void awq_search_acts_free(awq_search_acts *a) {
    awq_act_store_free(a->st);
    memset(a, 0, sizeof *a);
}

int64_t awq_search_chunk_seqs(const awq_search_acts *a, int64_t c) {
    return awq_act_store_chunk_rows(a->st, c) / a->T;
}

typedef struct {
    awq_model *m;
    float *dst[AWQ_CAPTURE_COUNT];
    int64_t cols[AWQ_CAPTURE_COUNT];
    int64_t rows;
    int64_t mlp_rows; /* rows of AWQ_CAPTURE_MLP_OUT delivered */
} capture_ctx;

/* The store slot of a capture point: its own, but the MLP's output goes to
 * the FP slot (its reference for the search, and never live with another
 * block's FP outputs: see awq_search_acts.fp_is_mlp_out). */
static int capture_slot(int point) {
    return point == AWQ_CAPTURE_MLP_OUT ? AWQ_SLOT_FP : AWQ_SLOT_CAP + point;
}

static awq_status capture_fn(void *user, int64_t layer, awq_capture_point point, int64_t row0,
                             int64_t n_rows, int64_t n_cols, const float *x) {
    (void)layer;
    capture_ctx *cc = user;
    if ((int)point < 0 || point >= AWQ_CAPTURE_COUNT || n_cols != cc->cols[point] || row0 < 0 ||
        row0 + n_rows > cc->rows)
        return awq_fail(awq_model_ctx(cc->m), AWQ_ERR_INTERNAL,
                        "capture point %d: unexpected block rows [%lld, %lld) x %lld", (int)point,
                        (long long)row0, (long long)(row0 + n_rows), (long long)n_cols);
    awq_backend *be = awq_model_backend(cc->m);
    if (point == AWQ_CAPTURE_MLP_OUT) cc->mlp_rows += n_rows;
    return be->ops->copy(be, cc->dst[point] + row0 * n_cols, x,
                         (size_t)n_rows * (size_t)n_cols * sizeof(float));
}

awq_status awq_search_forward(awq_model *m, awq_layer *l, awq_search_acts *a, int in, int out,
                              bool capture) {
    return awq_search_forward_first(m, l, a, in, out, capture, a->B);
}

awq_status awq_search_forward_first(awq_model *m, awq_layer *l, awq_search_acts *a, int in,
                                    int out, bool capture, int64_t n_seqs) {
    awq_status st = AWQ_OK;
    int64_t seq0 = 0, mlp_rows = 0;
    /* a capturing forward over every sequence refills the FP slot with the
     * MLP's outputs (dense layers); any other use of the slot voids them */
    if (in == AWQ_SLOT_FP || out == AWQ_SLOT_FP || capture) a->fp_is_mlp_out = false;
    for (int64_t c = 0; c < awq_act_store_n_chunks(a->st) && st == AWQ_OK && seq0 < n_seqs;
         c++) {
        int64_t lo, seqs;
        awq_unit_range(0, n_seqs, seq0, awq_search_chunk_seqs(a, c), &lo, &seqs);
        seq0 += awq_search_chunk_seqs(a, c);
        float *x = NULL, *y = NULL;
        capture_ctx cc;
        memset(&cc, 0, sizeof cc);
        cc.m = m;
        cc.rows = seqs * a->T;
        st = awq_act_store_get(a->st, in, c, true, &x);
        if (st == AWQ_OK) st = awq_act_store_get(a->st, out, c, false, &y);
        for (int p = 0; capture && p < AWQ_CAPTURE_COUNT && st == AWQ_OK; p++) {
            cc.cols[p] = awq_act_store_cols(a->st, capture_slot(p));
            if (cc.cols[p] > 0)
                st = awq_act_store_get(a->st, capture_slot(p), c, false, &cc.dst[p]);
        }
        if (st != AWQ_OK) break;
        if (capture)
            awq_layer_set_capture(l, capture_fn, &cc, (1u << AWQ_CAPTURE_COUNT) - 1u);
        st = awq_layer_forward(l, x, y, seqs, a->T);
        if (capture) awq_layer_set_capture(l, NULL, NULL, 0);
        if (st == AWQ_OK) st = awq_act_store_put(a->st, out, c, y);
        for (int p = 0; capture && p < AWQ_CAPTURE_COUNT && st == AWQ_OK; p++)
            if (cc.cols[p] > 0) st = awq_act_store_put(a->st, capture_slot(p), c, cc.dst[p]);
        mlp_rows += cc.mlp_rows;
    }
    if (st == AWQ_OK && capture && n_seqs >= a->B && mlp_rows == a->rows) {
        a->fp_is_mlp_out = true;
        a->fp_mlp_bf16 = awq_model_backend(m)->precision != AWQ_GEMM_FP32;
    }
    return st;
}

awq_status awq_search_slot_mse(awq_model *m, awq_search_acts *a, int s1, int s2, double *mse) {
    return awq_search_slot_mse_first(m, a, s1, s2, a->B, mse);
}

awq_status awq_search_slot_mse_first(awq_model *m, awq_search_acts *a, int s1, int s2,
                                     int64_t n_seqs, double *mse) {
    awq_backend *be = awq_model_backend(m);
    double sse = 0;
    int64_t n_total = 0, seq0 = 0;
    for (int64_t c = 0; c < awq_act_store_n_chunks(a->st) && seq0 < n_seqs; c++) {
        int64_t lo, seqs;
        awq_unit_range(0, n_seqs, seq0, awq_search_chunk_seqs(a, c), &lo, &seqs);
        seq0 += awq_search_chunk_seqs(a, c);
        float *p1, *p2;
        AWQ_TRY(awq_act_store_get(a->st, s1, c, true, &p1));
        AWQ_TRY(awq_act_store_get(a->st, s2, c, true, &p2));
        int64_t n = seqs * a->T * awq_act_store_cols(a->st, s1);
        double v;
        AWQ_TRY(be->ops->mse(be, p1, p2, n, &v));
        sse += v * (double)n;
        n_total += n;
    }
    *mse = n_total ? sse / (double)n_total : 0;
    return AWQ_OK;
}

void awq_layer_search_free(awq_layer_search *s) {
    if (!s) return;
    for (int g = 0; g < AWQ_MAX_GROUPS; g++) {
        free(s->scales[g]);
        free(s->cand_loss[g]);
        free(s->screen_loss[g]);
        free(s->screen_seg[g]);
    }
    for (int i = 0; i < AWQ_MAX_LINEARS; i++) free(s->clip[i]);
    memset(s, 0, sizeof *s);
}

void awq_search_scales_ref(const float *x_mean, const float *w_mean, int64_t K, double ratio,
                           bool duo, float *s) {
    float r = (float)ratio;
    float smax = -INFINITY, smin = INFINITY;
    for (int64_t k = 0; k < K; k++) {
        float v;
        if (duo)
            v = powf(x_mean[k], r) / (powf(w_mean[k], 1.0f - r) + 1e-4f);
        else
            v = powf(x_mean[k], r);
        if (v < 1e-4f) v = 1e-4f; /* clamp(min=1e-4); NaN stays NaN */
        s[k] = v;
        if (v > smax) smax = v;
        if (v < smin) smin = v;
    }
    float norm = sqrtf(smax * smin);
    for (int64_t k = 0; k < K; k++) {
        float v = s[k] / norm;
        s[k] = isfinite(v) ? v : 1.0f;
    }
}

int awq_search_n_candidates(awq_duo_scaling mode, int n_grid) {
    if (n_grid < 1) return 0;
    return mode == AWQ_DUO_BOTH ? 2 * (n_grid / 2) : n_grid;
}

void awq_search_candidate(awq_duo_scaling mode, int n_grid, int i, double *ratio, bool *duo) {
    if (mode == AWQ_DUO_BOTH) {
        int half = n_grid / 2;
        *ratio = (double)(i / 2) / (double)half;
        *duo = (i % 2) == 1;
    } else {
        *ratio = (double)i / (double)n_grid;
        *duo = mode == AWQ_DUO_ON;
    }
}

void awq_search_w_mean_ref(const float *const *w, const int64_t *n_rows, int n_w, int64_t K,
                           int64_t group_len, float *w_mean) {
    double *acc = calloc((size_t)K, sizeof(double));
    int64_t total = 0;
    for (int j = 0; j < n_w; j++) {
        for (int64_t n = 0; n < n_rows[j]; n++) {
            const float *row = w[j] + n * K;
            for (int64_t g0 = 0; g0 < K; g0 += group_len) {
                int64_t g1 = AWQ_MIN(K, g0 + group_len);
                float mx = 0;
                for (int64_t k = g0; k < g1; k++) mx = fmaxf(mx, fabsf(row[k]));
                float den = mx + 1e-6f;
                for (int64_t k = g0; k < g1; k++) acc[k] += (double)(fabsf(row[k]) / den);
            }
        }
        total += n_rows[j];
    }
    for (int64_t k = 0; k < K; k++) w_mean[k] = acc ? (float)(acc[k] / (double)total) : 1.0f;
    free(acc);
}

/* Block output of a group on `seqs` whole sequences of input x (backend
 * memory) into out. */
static awq_status run_block(awq_layer *l, const awq_scale_group *g, const float *x,
                            float *out, const awq_search_acts *a, int64_t seqs) {
    int64_t rows = seqs * a->T;
    switch (g->block) {
    case AWQ_BLOCK_ATTN: return awq_layer_attn(l, x, out, seqs, a->T);
    case AWQ_BLOCK_MLP: return awq_layer_mlp(l, x, out, rows);
    case AWQ_BLOCK_LINEAR: return awq_layer_linear(l, g->linears[0], x, out, rows);
    }
    return AWQ_ERR_INTERNAL;
}

static int64_t block_out_cols(const awq_model_config *cfg, const awq_arch *a,
                              const awq_scale_group *g) {
    if (g->block == AWQ_BLOCK_LINEAR)
        return awq_model_dim(cfg, a->linears[g->linears[0]].out_dim);
    return cfg->hidden;
}

/* Whether group g's block output is the dense MLP's output: the MLP block
 * itself (gate/up), or its down projection alone (up -> down). */
static bool ref_is_mlp_out(const awq_model_config *cfg, const awq_arch *a, awq_layer *l,
                           const awq_scale_group *g) {
    if (awq_model_layer_moe(cfg, awq_layer_index(l))) return false;
    if (g->block == AWQ_BLOCK_MLP) return true;
    return g->block == AWQ_BLOCK_LINEAR && g->n_linears == 1 &&
           a->linears[g->linears[0]].kind == AWQ_LIN_KIND_DOWN;
}

/* Whether group g applies to this layer (its awq_group_cond). */
static bool group_applies(const awq_model_config *cfg, awq_layer *l, const awq_scale_group *g) {
    if (g->cond == AWQ_GROUP_IF_NO_GQA) return cfg->n_heads == cfg->n_kv_heads;
    if (g->cond != AWQ_GROUP_IF_SAME_SHAPE || g->prev_linear < 0) return true;
    int64_t pn, pk, ln, lk;
    awq_layer_weight(l, g->prev_linear, &pn, &pk);
    awq_layer_weight(l, g->linears[0], &ln, &lk);
    return pn == ln && pk == lk;
}

static void group_name(const awq_arch *a, const awq_scale_group *g, char *buf, size_t n) {
    const char *prev = g->prev_norm ? g->prev_norm : a->linears[g->prev_linear].name;
    size_t pos = (size_t)snprintf(buf, n, "%s->", prev);
    for (int j = 0; j < g->n_linears && pos < n; j++) {
        const char *nm = a->linears[g->linears[j]].name;
        const char *dot = strrchr(nm, '.');
        pos += (size_t)snprintf(buf + pos, n - pos, "%s%s", j ? "," : "", dot ? dot + 1 : nm);
    }
}

/* Host copy of a backend buffer (for the small host-side reductions). */
static awq_status to_host(awq_model *m, const float *src, size_t n, float **out) {
    *out = NULL;
    float *h = awq_alloc(n, sizeof(float));
    if (!h) return awq_fail_nomem(awq_model_ctx(m), "host copy", n * sizeof(float));
    awq_status s = awq_model_download(m, h, src, n * sizeof(float));
    if (s != AWQ_OK) {
        awq_free(h);
        return s;
    }
    *out = h;
    return AWQ_OK;
}

typedef struct {
    float *tmp[AWQ_MAX_GROUP_LINEARS]; /* candidate weights (backend) */
    float *s_dev;                       /* candidate scales (backend) */
    float *out;                         /* candidate block output (chunk) */
    int64_t fp_upto;                    /* AWQ_SLOT_FP holds sequences [0, fp_upto) */
} group_scratch;

/* The FP block outputs (the layer's own weights) of sequences [fp_upto, u1)
 * into AWQ_SLOT_FP, on demand: a race that ends early never needs the FP
 * outputs of the stages it did not reach, and they cost a forward of their
 * own. Each stage's outputs are computed on the same pieces (a chunk's
 * sequences of one stage) as the candidates' forwards they are compared
 * with; one stage (no race) is whole chunks, as before. */
static awq_status fp_outputs_upto(awq_layer *l, const awq_scale_group *g, int in,
                                  awq_search_acts *a, group_scratch *gs, int64_t u1) {
    const int64_t K_in = awq_act_store_cols(a->st, in);
    const int64_t cols = awq_act_store_cols(a->st, AWQ_SLOT_FP);
    int64_t seq0 = 0;
    for (int64_t c = 0; c < awq_act_store_n_chunks(a->st) && gs->fp_upto < u1; c++) {
        const int64_t seqs = awq_search_chunk_seqs(a, c);
        int64_t lo, hi;
        awq_unit_range(gs->fp_upto, u1, seq0, seqs, &lo, &hi);
        if (lo < hi) {
            float *x = NULL, *fp = NULL;
            AWQ_TRY(awq_act_store_get(a->st, in, c, true, &x));
            /* a chunk begun on an earlier stage keeps its first sequences */
            AWQ_TRY(awq_act_store_get(a->st, AWQ_SLOT_FP, c, lo > 0, &fp));
            AWQ_TRY(run_block(l, g, x + lo * a->T * K_in, fp + lo * a->T * cols, a, hi - lo));
            AWQ_TRY(awq_act_store_put(a->st, AWQ_SLOT_FP, c, fp));
            gs->fp_upto = seq0 + hi;
        }
        seq0 += seqs;
    }
    return AWQ_OK;
}

/* Loss of the block with linears W_j replaced by Q(W_j·s)/s (s == NULL:
 * plain Q(W_j), the RTN baseline), over sequences [u0, u1) of the group's
 * input (capture slot `in`) against the FP outputs in AWQ_SLOT_FP. The
 * direct form adds the sums to *acc chunk by chunk (and each sequence's
 * segments when acc->seg); the Gram form (every sequence) adds its mean
 * loss with n = 1. */
static awq_status eval_candidate(awq_model *m, awq_layer *l, const awq_scale_group *g, int in,
                                 awq_search_acts *a, const awq_quantize_params *p,
                                 const float *s_host, int64_t K, group_scratch *gs,
                                 awq_gram_state *gram, int64_t u0, int64_t u1,
                                 awq_part_sum *acc) {
    awq_backend *be = awq_model_backend(m);
    awq_status st = AWQ_OK;
    /* the reference first, while the layer holds its own weights */
    if (!gram && gs->fp_upto < u1) AWQ_TRY(fp_outputs_upto(l, g, in, a, gs, u1));
    if (s_host) AWQ_TRY(awq_model_upload(m, gs->s_dev, s_host, (size_t)K * sizeof(float)));
    for (int j = 0; j < g->n_linears && st == AWQ_OK; j++) {
        int64_t N, Kj;
        float *w = awq_layer_weight(l, g->linears[j], &N, &Kj);
        if (s_host) {
            /* Q(W·s)/s, the same arithmetic on every backend */
            uint8_t failed = 0;
            st = awq_pseudo_quant_scaled(be, w, N, Kj, gs->s_dev, 1, &p->quant, gs->tmp[j],
                                         &failed);
            if (st == AWQ_OK && failed)
                st = awq_fail(awq_model_ctx(m), AWQ_ERR_RANGE,
                              "scaled weights of %s cannot be quantized",
                              awq_model_get_config(m)->arch->linears[g->linears[j]].name);
        } else {
            st = be->ops->copy(be, gs->tmp[j], w, (size_t)N * (size_t)Kj * sizeof(float));
            if (st == AWQ_OK) st = awq_pseudo_quant(be, gs->tmp[j], N, Kj, &p->quant);
        }
        if (st == AWQ_OK && !gram) st = awq_layer_set_weight(l, g->linears[j], gs->tmp[j]);
    }
    if (gram) {
        /* one linear: tr(dW G dW^T) / (rows N), no forward (awq_gram.h) */
        double v = 0;
        if (st == AWQ_OK) st = awq_gram_loss(m, gram, gs->tmp[0], &v);
        acc->sse += v;
        acc->n += 1;
        return st;
    }
    /* Sum of squared errors chunk by chunk (chunk means x sizes, in chunk
     * order; with segments, one mse per segment, summed in order): fixed
     * for a given chunk size and stage cut, whatever the thread count. A
     * chunk straddling a stage boundary is run as two pieces. */
    const int64_t K_in = awq_act_store_cols(a->st, in);
    const int64_t cols = awq_act_store_cols(a->st, AWQ_SLOT_FP);
    int64_t seq0 = 0;          /* global index of the chunk's first sequence */
    for (int64_t c = 0; c < awq_act_store_n_chunks(a->st) && st == AWQ_OK; c++) {
        const int64_t seqs = awq_search_chunk_seqs(a, c);
        /* this chunk's sequences [lo, hi) in [u0, u1) */
        int64_t lo, hi;
        awq_unit_range(u0, u1, seq0, seqs, &lo, &hi);
        seq0 += seqs;
        if (lo >= hi) continue;
        float *x = NULL, *fp = NULL;
        st = awq_act_store_get(a->st, in, c, true, &x);
        if (st == AWQ_OK)
            st = run_block(l, g, x + lo * a->T * K_in, gs->out, a, hi - lo);
        if (st == AWQ_OK) st = awq_act_store_get(a->st, AWQ_SLOT_FP, c, true, &fp);
        if (st == AWQ_OK)
            st = awq_race_add_sq_err(m, gs->out, fp + lo * a->T * cols, (hi - lo) * a->T, cols,
                                     a->T, acc);
    }
    for (int j = 0; j < g->n_linears; j++) awq_layer_set_weight(l, g->linears[j], NULL);
    return st;
}

static void scratch_free(awq_model *m, group_scratch *gs) {
    for (int j = 0; j < AWQ_MAX_GROUP_LINEARS; j++) awq_model_free_buf(m, gs->tmp[j]);
    awq_model_free_buf(m, gs->s_dev);
    awq_model_free_buf(m, gs->out);
    memset(gs, 0, sizeof *gs);
}

/* The candidate loop's view of one dense group (awq_cand_eval_fn). */
typedef struct {
    awq_model *m;
    awq_layer *l;
    const awq_scale_group *g;
    int in;
    awq_search_acts *c;
    const awq_quantize_params *p;
    int64_t K;
    group_scratch *gs;
    awq_gram_state *gram;
} cand_ctx;

static awq_status cand_eval(void *user, const float *s, int64_t u0, int64_t u1,
                            awq_part_sum *acc) {
    cand_ctx *cc = user;
    return eval_candidate(cc->m, cc->l, cc->g, cc->in, cc->c, cc->p, s, cc->K, cc->gs, cc->gram,
                          u0, u1, acc);
}

static awq_status search_group(awq_model *m, awq_layer *l, int gi, awq_search_acts *c,
                               const awq_quantize_params *p, awq_layer_search *out) {
    awq_ctx *ctx = awq_model_ctx(m);
    awq_backend *be = awq_model_backend(m);
    const awq_model_config *cfg = awq_model_get_config(m);
    const awq_arch *a = cfg->arch;
    const awq_scale_group *g = &a->groups[gi];
    awq_group_report *rep = &out->rep[gi];
    const int in = AWQ_SLOT_CAP + (int)awq_search_point_of_linear(a, g->linears[0]);
    const int64_t K = awq_act_store_cols(c->st, in);
    const int64_t chunk_rows = awq_act_store_chunk_rows(c->st, 0);
    const int64_t ocols = block_out_cols(cfg, a, g);
    group_scratch gs;
    memset(&gs, 0, sizeof gs);
    awq_gram_state gram;
    memset(&gram, 0, sizeof gram);
    bool restore_bf16 = false;
    float *xm = NULL, *wm = NULL;
    float *wh[AWQ_MAX_GROUP_LINEARS] = {0};
    int64_t wn[AWQ_MAX_GROUP_LINEARS] = {0};
    awq_status st = AWQ_OK;

    xm = awq_alloc((size_t)K, sizeof(float));
    wm = awq_alloc((size_t)K, sizeof(float));
    if (!xm || !wm) {
        st = awq_fail_nomem(ctx, "scale search vectors", (uint64_t)K * 16);
        goto done;
    }
    /* x_mean: per-chunk means on the backend, combined on the host weighted
     * by rows (in double, chunk order). */
    {
        float *xm_dev = NULL;
        double *acc = calloc((size_t)K, sizeof(double));
        int64_t total = 0;
        if (!acc) st = awq_fail_nomem(ctx, "x_mean", (uint64_t)K * 8);
        if (st == AWQ_OK) st = awq_model_alloc(m, (size_t)K * sizeof(float), (void **)&xm_dev);
        for (int64_t ch = 0; ch < awq_act_store_n_chunks(c->st) && st == AWQ_OK; ch++) {
            float *x = NULL;
            int64_t r = awq_act_store_chunk_rows(c->st, ch);
            st = awq_act_store_get(c->st, in, ch, true, &x);
            if (st == AWQ_OK) st = be->ops->col_mean_abs(be, x, r, K, xm_dev);
            if (st == AWQ_OK) st = awq_model_download(m, xm, xm_dev, (size_t)K * sizeof(float));
            for (int64_t k = 0; k < K && st == AWQ_OK; k++) acc[k] += (double)xm[k] * (double)r;
            total += r;
        }
        for (int64_t k = 0; k < K && st == AWQ_OK; k++) xm[k] = (float)(acc[k] / (double)total);
        free(acc);
        awq_model_free_buf(m, xm_dev);
        if (st != AWQ_OK) goto done;
    }

    /* w_mean over the concatenated linears, only where a candidate uses it
     * (duo scaling): a host copy of the group's weights, which on a GPU
     * cost more than the search's own GEMMs of the group. */
    const bool need_wm = p->duo_scaling != AWQ_DUO_OFF;
    for (int j = 0; j < g->n_linears && st == AWQ_OK; j++) {
        int64_t N, Kj;
        float *w = awq_layer_weight(l, g->linears[j], &N, &Kj);
        wn[j] = N;
        if (need_wm) st = to_host(m, w, (size_t)N * (size_t)Kj, &wh[j]);
    }
    if (st != AWQ_OK) goto done;
    if (need_wm)
        awq_search_w_mean_ref((const float *const *)wh, wn, g->n_linears, K,
                              awq_group_len(K, p->quant.group_size), wm);
    else
        for (int64_t k = 0; k < K; k++) wm[k] = 1.0f; /* read by no candidate */

    /* Scratch: candidate weights, scales, block outputs. */
    for (int j = 0; j < g->n_linears && st == AWQ_OK; j++)
        st = awq_model_alloc(m, (size_t)wn[j] * (size_t)K * sizeof(float), (void **)&gs.tmp[j]);
    if (st == AWQ_OK) st = awq_model_alloc(m, (size_t)K * sizeof(float), (void **)&gs.s_dev);
    if (st == AWQ_OK)
        st = awq_model_alloc(m, (size_t)chunk_rows * (size_t)ocols * sizeof(float),
                             (void **)&gs.out);
    if (st != AWQ_OK) goto done;

    /* The loss form: the Gram shortcut for a one-linear block where the
     * cost model (awq_gram.h) or the caller asks for it and the backend
     * has the ops; otherwise candidate forwards against the FP outputs. */
    const int n_cand = awq_search_n_candidates(p->duo_scaling, p->n_grid);
    bool use_gram = false;
    if (g->block == AWQ_BLOCK_LINEAR && g->n_linears == 1 && be->ops->gram && be->ops->dot &&
        p->search_loss != AWQ_SEARCH_LOSS_DIRECT) {
        /* the direct form's expected work in whole forwards: every
         * candidate on the race's first stage, about two on the rest
         * (awq_search_direct_evals) */
        awq_gram_cost cost = awq_gram_cost_model(c->rows, chunk_rows, wn[0], K, n_cand + 1,
                                                 awq_search_direct_evals(p, n_cand, c->B));
        use_gram = p->search_loss == AWQ_SEARCH_LOSS_GRAM || cost.use_gram;
        awq_debug(ctx, "layer %lld %s: loss form %s (direct %.3g flop, gram %.3g flop, "
                  "%.3g of %.3g floats)", (long long)awq_layer_index(l), rep->name,
                  use_gram ? "gram" : "direct", cost.direct_flops, cost.gram_flops,
                  cost.gram_floats, cost.chunk_floats);
    }
    if (use_gram && be->precision != AWQ_GEMM_FP32) {
        /* dW is small next to W: its product with G stays fp32 */
        st = be->ops->set_gemm_precision(be, AWQ_GEMM_FP32);
        if (st != AWQ_OK) goto done;
        restore_bf16 = true;
    }
    if (use_gram) {
        int64_t N0, K0;
        float *w0 = awq_layer_weight(l, g->linears[0], &N0, &K0);
        st = awq_gram_build(m, c, in, w0, N0, K0, &gram);
        if (st != AWQ_OK) goto done;
    }

    /* The FP outputs of the block go into AWQ_SLOT_FP stage by stage, as
     * the race reaches them (fp_outputs_upto), unless the slot already holds
     * them: the MLP's outputs from the capturing forward. */
    const bool fp_given = !use_gram && c->fp_is_mlp_out && ref_is_mlp_out(cfg, a, l, g) &&
                          c->fp_mlp_bf16 == (be->precision != AWQ_GEMM_FP32);
    gs.fp_upto = fp_given ? c->B : 0;
    if (!use_gram && !fp_given) c->fp_is_mlp_out = false;

    /* The candidate loop (awq_pick.c), raced over the sequences where the
     * loss is a forward over them (the Gram form's cost does not depend on
     * them). */
    const awq_race_plan plan = {
        .units = c->B,
        .stage = use_gram ? c->B : awq_search_screen_split(p, n_cand, c->B),
        .cap_seg = c->B * ((c->T + AWQ_SEG_TOKENS - 1) / AWQ_SEG_TOKENS),
    };
    cand_ctx cc = {m, l, g, in, c, p, K, &gs, use_gram ? &gram : NULL};
    char what[96];
    snprintf(what, sizeof what, "layer %lld %s", (long long)awq_layer_index(l), rep->name);
    awq_search_pick pk;
    st = awq_search_pick_run(ctx, p, xm, wm, K, &plan, cand_eval, &cc, what, rep, &pk);
    if (st != AWQ_OK) goto done;
    out->scales[gi] = pk.scales;
    out->cand_loss[gi] = pk.cand_loss;
    out->screen_loss[gi] = pk.screen_loss;
    out->screen_seg[gi] = pk.screen_seg;
    out->n_seg[gi] = pk.n_seg;
    out->n_cand[gi] = pk.n_cand;
    out->len[gi] = K;
done:
    for (int j = 0; j < AWQ_MAX_GROUP_LINEARS; j++) awq_free(wh[j]);
    scratch_free(m, &gs);
    awq_gram_free(m, &gram);
    if (restore_bf16) {
        awq_status s2 = be->ops->set_gemm_precision(be, AWQ_GEMM_BF16);
        if (st == AWQ_OK) st = s2;
    }
    awq_free(xm);
    awq_free(wm);
    return st;
}

awq_status awq_search_layer(awq_model *m, awq_layer *l, awq_search_acts *c,
                            const awq_quantize_params *p, awq_layer_search *out,
                            double *t_search, uint64_t prog_base, uint64_t prog_total) {
    memset(out, 0, sizeof *out);
    const awq_model_config *cfg = awq_model_get_config(m);
    const awq_arch *a = cfg->arch;
    double t0 = awq_now();
    out->n_groups = a->n_groups;
    /* Candidate forwards at the asked precision (fp32 accumulation); the
     * backend goes back to fp32 before returning. */
    awq_backend *be = awq_model_backend(m);
    if (p->precision == AWQ_PRECISION_BF16 && p->method == AWQ_METHOD_AWQ) {
        awq_status ps = be->ops->set_gemm_precision
                            ? be->ops->set_gemm_precision(be, AWQ_GEMM_BF16)
                            : awq_fail(awq_model_ctx(m), AWQ_ERR_UNSUPPORTED,
                                       "the %s backend has fp32 GEMMs only", be->ops->name);
        if (ps != AWQ_OK) {
            if (awq_layer_index(l) == 0)
                awq_info(awq_model_ctx(m), "note: --precision bf16: %s; the search runs in fp32",
                         awq_ctx_errmsg(awq_model_ctx(m)));
        }
    }
    /* Every group is searched on the unscaled layer, so the order is free:
     * the groups judged on the MLP's output go first, while the FP slot
     * still holds that output from the capturing forward (the other groups'
     * reference forwards overwrite it). */
    int order[AWQ_MAX_GROUPS], n_order = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int gi = 0; gi < a->n_groups && gi < AWQ_MAX_GROUPS; gi++)
            if (ref_is_mlp_out(cfg, a, l, &a->groups[gi]) == (pass == 0)) order[n_order++] = gi;
    for (int k = 0; k < n_order; k++) {
        const int gi = order[k];
        const awq_scale_group *g = &a->groups[gi];
        awq_group_report *rep = &out->rep[gi];
        rep->layer = awq_layer_index(l);
        rep->group = gi;
        group_name(a, g, rep->name, sizeof rep->name);
        /* a MoE layer has no dense MLP: its groups are lib/quant/moe_awq.c's */
        out->used[gi] = p->method == AWQ_METHOD_AWQ && group_applies(cfg, l, g) &&
                        awq_layer_weight(l, g->linears[0], NULL, NULL) != NULL;
        if (!out->used[gi]) continue;
        char phase[96];
        snprintf(phase, sizeof phase, "layer %lld/%lld: %s", (long long)awq_layer_index(l) + 1,
                 (long long)cfg->n_layers, rep->name);
        awq_status st = awq_progress(awq_model_ctx(m), phase, prog_base + (uint64_t)k,
                                     prog_total);
        if (st == AWQ_OK) st = search_group(m, l, gi, c, p, out);
        if (st != AWQ_OK) {
            if (be->ops->set_gemm_precision) be->ops->set_gemm_precision(be, AWQ_GEMM_FP32);
            awq_layer_search_free(out);
            return awq_fail_wrap(awq_model_ctx(m), st, "layer %lld, group %s",
                                 (long long)awq_layer_index(l), rep->name);
        }
    }
    if (t_search) *t_search += awq_now() - t0;
    if (be->precision != AWQ_GEMM_FP32) AWQ_TRY(be->ops->set_gemm_precision(be, AWQ_GEMM_FP32));
    return AWQ_OK;
}

awq_status awq_search_apply(awq_model *m, awq_layer *l, awq_search_acts *c,
                            const awq_layer_search *s) {
    awq_backend *be = awq_model_backend(m);
    const awq_model_config *cfg = awq_model_get_config(m);
    const awq_arch *a = cfg->arch;
    awq_ctx *ctx = awq_model_ctx(m);
    for (int gi = 0; gi < s->n_groups; gi++) {
        if (!s->used[gi] || !s->scales[gi]) continue;
        const awq_scale_group *g = &a->groups[gi];
        int64_t K = s->len[gi];
        float *sd = NULL;
        AWQ_TRY(awq_model_alloc(m, (size_t)K * sizeof(float), (void **)&sd));
        awq_status st = awq_model_upload(m, sd, s->scales[gi], (size_t)K * sizeof(float));
        /* previous op: norm weight / s, or linear rows (and bias) / s */
        if (st == AWQ_OK && g->prev_norm) {
            /* the layer holds the norm's effective weight (offset + w, Gemma's
             * 1 + w): dividing it by s is the (w + 1) / s - 1 fold once the
             * offset is taken off on output */
            int which = awq_layer_norm_find(g->prev_norm);
            int64_t n = 0;
            float *nw = which < 0 ? NULL : awq_layer_norm_weight(l, (awq_layer_norm_id)which, &n);
            if (!nw || n != K)
                st = awq_fail(ctx, AWQ_ERR_INTERNAL, "layer %lld: norm %s has %lld entries, "
                              "scales %lld", (long long)awq_layer_index(l), g->prev_norm,
                              (long long)n, (long long)K);
            else
                st = be->ops->scale_cols(be, nw, sd, 1, K, true);
        } else if (st == AWQ_OK) {
            /* the last K rows of prev: all of a plain linear, the v rows of a
             * fused qkv_proj, the up rows of a fused gate_up_proj */
            int64_t N, Kp;
            float *w = awq_layer_weight(l, g->prev_linear, &N, &Kp);
            if (N < K)
                st = awq_fail(ctx, AWQ_ERR_INTERNAL, "layer %lld: previous linear has %lld "
                              "outputs, scales %lld", (long long)awq_layer_index(l),
                              (long long)N, (long long)K);
            else
                st = be->ops->scale_rows(be, w + (N - K) * Kp, sd, K, Kp, true);
            float *b = awq_layer_bias(l, g->prev_linear);
            if (st == AWQ_OK && b) st = be->ops->scale_cols(be, b + (N - K), sd, 1, K, true);
        }
        for (int j = 0; j < g->n_linears && st == AWQ_OK; j++) {
            int64_t N, Kj;
            float *w = awq_layer_weight(l, g->linears[j], &N, &Kj);
            st = be->ops->scale_cols(be, w, sd, N, Kj, false);
        }
        /* the group's captured input / s, chunk by chunk */
        int in = AWQ_SLOT_CAP + (int)awq_search_point_of_linear(a, g->linears[0]);
        for (int64_t ch = 0; ch < awq_act_store_n_chunks(c->st) && st == AWQ_OK; ch++) {
            float *x = NULL;
            st = awq_act_store_get(c->st, in, ch, true, &x);
            if (st == AWQ_OK)
                st = be->ops->scale_cols(be, x, sd, awq_act_store_chunk_rows(c->st, ch), K, true);
            if (st == AWQ_OK) st = awq_act_store_put(c->st, in, ch, x);
        }
        awq_model_free_buf(m, sd);
        if (st != AWQ_OK) return st;
    }
    return AWQ_OK;
}

/* Tokens AutoAWQ samples for the clip search: rows 0, step, 2·step, ...
 * with step = max(1, rows / n_sample). */
static int64_t clip_sample_count(int64_t rows, int n_sample, int64_t *step) {
    int64_t st = n_sample > 0 ? rows / n_sample : 1;
    if (st < 1) st = 1;
    *step = st;
    return (rows + st - 1) / st;
}

static awq_status clip_one(awq_model *m, awq_layer *l, awq_search_acts *c,
                           const awq_quantize_params *p, awq_layer_search *s, int lin,
                           float **xs_pt);

awq_status awq_search_clip(awq_model *m, awq_layer *l, awq_search_acts *c,
                           const awq_quantize_params *p, awq_layer_search *s) {
    const awq_arch *a = awq_model_get_config(m)->arch;
    /* The sampled tokens of each capture point, gathered once and shared
     * by the linears reading it (gate and up): the captures do not change
     * during the clip step. */
    float *xs_pt[AWQ_CAPTURE_COUNT] = {0};
    awq_status st = AWQ_OK;
    for (int lin = 0; lin < a->n_linears && st == AWQ_OK; lin++)
        st = clip_one(m, l, c, p, s, lin, xs_pt);
    for (int i = 0; i < AWQ_CAPTURE_COUNT; i++) awq_model_free_buf(m, xs_pt[i]);
    return st;
}

/* Search (when needed) and apply the clamps of linear `lin`; xs_pt caches
 * the gathered token samples by capture point (owned by the caller). */
static awq_status clip_one(awq_model *m, awq_layer *l, awq_search_acts *c,
                           const awq_quantize_params *p, awq_layer_search *s, int lin,
                           float **xs_pt) {
    awq_backend *be = awq_model_backend(m);
    awq_ctx *ctx = awq_model_ctx(m);
    const awq_model_config *cfg = awq_model_get_config(m);
    const awq_arch *a = cfg->arch;
    {
        /* q/k feed the q·k product: AutoAWQ does not clip them. */
        /* MLA: the query's q_a / q_b too (AutoAWQ skips every name with
         * "q_"); kv_a / kv_b are clipped, as there */
        awq_lin_kind kd = a->linears[lin].kind;
        if (kd == AWQ_LIN_KIND_Q || kd == AWQ_LIN_KIND_K || kd == AWQ_LIN_KIND_Q_A ||
            kd == AWQ_LIN_KIND_Q_B)
            return AWQ_OK;
        int64_t N, K;
        float *w = awq_layer_weight(l, lin, &N, &K);
        if (!w) return AWQ_OK; /* the dense MLP of a MoE layer: absent */
        int64_t glen = awq_group_len(K, p->quant.group_size);
        if (K % glen != 0) return AWQ_OK; /* not packable: stays FP, nothing to clip */
        int64_t G = K / glen;
        awq_status st = AWQ_OK;
        if (!s->clip[lin]) {
            if (!p->clip) return AWQ_OK;
            awq_capture_point pt = awq_search_point_of_linear(a, lin);
            int64_t step;
            int64_t ns = clip_sample_count(c->rows, p->clip_tokens, &step);
            int in = AWQ_SLOT_CAP + (int)pt;
            int64_t crows = awq_act_store_chunk_rows(c->st, 0), cur = -1;
            float *xc = NULL;
            float *xs = xs_pt[pt], *mx = NULL;
            const bool gather = xs == NULL;
            if (gather) {
                st = awq_model_alloc(m, (size_t)ns * (size_t)K * sizeof(float), (void **)&xs);
                if (st == AWQ_OK) xs_pt[pt] = xs;
            }
            if (st == AWQ_OK)
                st = awq_model_alloc(m, (size_t)N * (size_t)G * sizeof(float), (void **)&mx);
            /* gather rows 0, step, 2*step, ... from their chunks */
            for (int64_t i = 0; gather && i < ns && st == AWQ_OK; i++) {
                int64_t row = i * step, ch = row / crows;
                if (ch != cur) {
                    st = awq_act_store_get(c->st, in, ch, true, &xc);
                    cur = ch;
                }
                if (st == AWQ_OK)
                    st = be->ops->copy(be, xs + i * K, xc + (row - ch * crows) * K,
                                       (size_t)K * sizeof(float));
            }
            int n_steps = (int)(p->clip_max_shrink * p->clip_n_grid);
            if (st == AWQ_OK)
                st = awq_clip_search_fast(be, w, xs, N, K, ns, &p->quant, p->clip_n_grid,
                                          n_steps, mx);
            float *host = NULL;
            if (st == AWQ_OK) st = to_host(m, mx, (size_t)N * (size_t)G, &host);
            awq_model_free_buf(m, mx);
            if (st != AWQ_OK)
                return awq_fail_wrap(ctx, st, "layer %lld, clip search of %s",
                                     (long long)awq_layer_index(l), a->linears[lin].name);
            s->clip[lin] = malloc((size_t)N * (size_t)G * sizeof(float));
            if (!s->clip[lin]) {
                awq_free(host);
                return awq_fail_nomem(ctx, "clip values", (uint64_t)N * G * 4);
            }
            memcpy(s->clip[lin], host, (size_t)N * (size_t)G * sizeof(float));
            awq_free(host);
            s->clip_rows[lin] = N;
            s->clip_groups[lin] = G;
        }
        if (s->clip_rows[lin] != N || s->clip_groups[lin] != G)
            return awq_fail(ctx, AWQ_ERR_MISMATCH, "layer %lld %s: clip table is %lld x %lld, "
                            "expected %lld x %lld", (long long)awq_layer_index(l),
                            a->linears[lin].name, (long long)s->clip_rows[lin],
                            (long long)s->clip_groups[lin], (long long)N, (long long)G);
        /* Apply: clamp each (row, group) to [-max, max]. */
        float *mx = NULL;
        st = awq_model_alloc(m, (size_t)N * (size_t)G * sizeof(float), (void **)&mx);
        if (st == AWQ_OK)
            st = awq_model_upload(m, mx, s->clip[lin], (size_t)N * (size_t)G * sizeof(float));
        if (st == AWQ_OK) st = awq_clip_apply(be, w, N, K, p->quant.group_size, mx);
        awq_model_free_buf(m, mx);
        if (st != AWQ_OK) return st;
    }
    return AWQ_OK;
}
