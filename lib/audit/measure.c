/*
 * lib/audit/measure.c — the audit's measurements:
 *   audit_eval          perplexity, KL(FP16 || config) and top-1 agreement
 *                       over the same windows, window batch by window batch;
 *   audit_linear_error  a linear's weight error after undoing the per-row /
 *                       per-column scales a checkpoint folded in.
 * Both stream: logits are made a chunk of rows at a time, weights a chunk
 * of rows at a time. Results do not depend on the thread count (each row
 * or column is reduced by one worker, sums are taken in index order).
 */
#include "audit/audit_internal.h"

#include <math.h>
#include <string.h>

/* Window tokens per forward when the batch is automatic (as lib/model/ppl.c). */
#define EVAL_AUTO_BATCH_TOKENS 8192
/* Logit rows made at once, per model. */
#define EVAL_LOGIT_CHUNK_BYTES ((uint64_t)32 << 20)
/* Rows of a linear converted at once. */
#define WERR_CHUNK_BYTES ((uint64_t)8 << 20)

/* ------------------------------------------------------------- reference */

awq_status audit_ref_init(awq_ctx *ctx, audit_ref *ref, awq_model *fp, const int32_t *ids,
                          int64_t n_ids, const awq_ppl_params *pp, uint64_t cache_bytes) {
    memset(ref, 0, sizeof *ref);
    ref->m = fp;
    ref->ids = ids;
    ref->n_ids = n_ids;
    ref->pp = *pp;
    ref->n_windows = awq_ppl_n_windows(n_ids, pp);
    if (ref->n_windows <= 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "the text has %lld tokens, fewer than one window of %lld",
                        (long long)n_ids, (long long)pp->seqlen);
    const awq_model_config *c = awq_model_get_config(fp);
    if (pp->add_bos && (c->bos_token_id < 0 || c->bos_token_id >= c->vocab))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "add_bos: the model config has no valid bos_token_id");
    uint64_t n, bytes;
    if (awq_mul_u64((uint64_t)ref->n_windows, (uint64_t)pp->seqlen, &n) &&
        awq_mul_u64(n, (uint64_t)c->hidden * sizeof(float), &bytes) && bytes <= cache_bytes) {
        ref->cache = awq_alloc((size_t)n, (size_t)c->hidden * sizeof(float));
        if (!ref->cache) awq_warn(ctx, "no memory for the FP16 hidden-state cache; the FP16 "
                                       "model will run once per configuration");
    }
    return AWQ_OK;
}

void audit_ref_free(audit_ref *ref) {
    if (!ref) return;
    awq_free(ref->cache);
    memset(ref, 0, sizeof *ref);
}

/* ------------------------------------------------------------------- KL */

double audit_row_kl(const float *lp, const float *lq, int64_t V, bool *agree) {
    float mp = lp[0], mq = lq[0];
    int64_t ap = 0, aq = 0;
    for (int64_t v = 1; v < V; v++) {
        if (lp[v] > mp) {
            mp = lp[v];
            ap = v;
        }
        if (lq[v] > mq) {
            mq = lq[v];
            aq = v;
        }
    }
    /* KL = sum_v p_v (lp_v - lq_v) - (lse_p - lse_q), with p_v = e_v / sp:
     * one exp per logit of each side, exactly 0 for identical rows. */
    double sp = 0, sq = 0, sd = 0;
    for (int64_t v = 0; v < V; v++) {
        double e = exp((double)lp[v] - (double)mp);
        sp += e;
        sd += e * ((double)lp[v] - (double)lq[v]);
        sq += exp((double)lq[v] - (double)mq);
    }
    double lse_p = (double)mp + log(sp), lse_q = (double)mq + log(sq);
    double kl = sd / sp - (lse_p - lse_q);
    if (agree) *agree = ap == aq;
    return kl > 0 ? kl : 0.0; /* rounding can give -1e-16 */
}

typedef struct kl_job {
    const float *lp, *lq;      /* [rows, V] host */
    int64_t V, row0, T;        /* row0: global row of lp[0]; T: window length */
    double *kl;                /* [rows] */
    unsigned char *agree;      /* [rows] */
} kl_job;

static void kl_rows(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    const kl_job *j = arg;
    for (int64_t r = b; r < e; r++) {
        if ((j->row0 + r) % j->T == j->T - 1) { /* last position: nothing predicted */
            j->kl[r] = 0;
            j->agree[r] = 0;
            continue;
        }
        bool ag;
        j->kl[r] = audit_row_kl(j->lp + r * j->V, j->lq + r * j->V, j->V, &ag);
        j->agree[r] = ag;
    }
}

/* ---------------------------------------------------------- evaluation */

typedef struct eval_bufs {
    int32_t *win, *tg;          /* host [B*T] */
    double *nll;                /* host [B*T] */
    float *xq, *xf;             /* backend [B*T*H] (q model / fp model) */
    float *lq, *lf;             /* backend [cr*V] */
    float *hq, *hf;             /* host copies of the logits (non-host backends) */
    double *kl;                 /* host [cr] */
    unsigned char *agree;       /* host [cr] */
} eval_bufs;

static void bufs_free(awq_model *q, awq_model *fp, eval_bufs *b) {
    awq_free(b->win);
    awq_free(b->tg);
    awq_free(b->nll);
    awq_model_free_buf(q, b->xq);
    awq_model_free_buf(q, b->lq);
    awq_model_free_buf(fp, b->xf);
    awq_model_free_buf(fp, b->lf);
    awq_free(b->hq);
    awq_free(b->hf);
    awq_free(b->kl);
    awq_free(b->agree);
}

/* Logits of rows [r0, r0+n) of hidden states h (backend memory of m) as a
 * host pointer: straight into `dev` on the CPU, else downloaded to `host`. */
static awq_status logits_host(awq_model *m, const float *h, int64_t n, float *dev,
                              float *host, const float **out) {
    const int64_t V = awq_model_get_config(m)->vocab;
    AWQ_TRY(awq_model_logits(m, h, dev, n));
    if (awq_model_host_memory(m)) {
        *out = dev;
        return AWQ_OK;
    }
    AWQ_TRY(awq_model_download(m, host, dev, (size_t)(n * V) * sizeof(float)));
    *out = host;
    return AWQ_OK;
}

awq_status audit_eval(awq_ctx *ctx, audit_ref *ref, awq_model *q, audit_eval_out *out) {
    memset(out, 0, sizeof *out);
    awq_model *fp = ref->m;
    const awq_model_config *cq = awq_model_get_config(q), *cf = awq_model_get_config(fp);
    if (cq->vocab != cf->vocab || cq->hidden != cf->hidden)
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "evaluation: vocab/hidden %lld/%lld differ from FP16's %lld/%lld",
                        (long long)cq->vocab, (long long)cq->hidden, (long long)cf->vocab,
                        (long long)cf->hidden);
    const bool same = q == fp;
    const awq_ppl_params *pp = &ref->pp;
    const int64_t T = pp->seqlen, P = T - 1, L = pp->add_bos ? T - 1 : T;
    const int64_t H = cf->hidden, V = cf->vocab, nw = ref->n_windows;
    int64_t B = pp->batch > 0 ? pp->batch : AWQ_MAX((int64_t)1, EVAL_AUTO_BATCH_TOKENS / T);
    if (B > nw) B = nw;
    int64_t cr = (int64_t)(EVAL_LOGIT_CHUNK_BYTES / ((uint64_t)V * sizeof(float)));
    cr = AWQ_MAX((int64_t)1, AWQ_MIN(cr, B * T));
    const bool fp_host = awq_model_host_memory(fp), q_host = awq_model_host_memory(q);

    eval_bufs b;
    memset(&b, 0, sizeof b);
    awq_status st = AWQ_OK;
    b.win = awq_alloc((size_t)(B * T), sizeof(int32_t));
    b.tg = awq_alloc((size_t)(B * T), sizeof(int32_t));
    b.nll = awq_alloc((size_t)(B * T), sizeof(double));
    b.kl = awq_alloc((size_t)cr, sizeof(double));
    b.agree = awq_alloc((size_t)cr, 1);
    if (!b.win || !b.tg || !b.nll || !b.kl || !b.agree)
        st = awq_fail_nomem(ctx, "evaluation buffers", (uint64_t)(B * T) * 16);
    if (st == AWQ_OK) st = awq_model_alloc(q, (size_t)(B * T * H) * sizeof(float), (void **)&b.xq);
    if (st == AWQ_OK && !same)
        st = awq_model_alloc(fp, (size_t)(B * T * H) * sizeof(float), (void **)&b.xf);
    if (st == AWQ_OK) st = awq_model_alloc(q, (size_t)(cr * V) * sizeof(float), (void **)&b.lq);
    if (st == AWQ_OK && !same)
        st = awq_model_alloc(fp, (size_t)(cr * V) * sizeof(float), (void **)&b.lf);
    if (st == AWQ_OK && (!q_host || !fp_host)) {
        b.hq = awq_alloc((size_t)(cr * V), sizeof(float));
        b.hf = awq_alloc((size_t)(cr * V), sizeof(float));
        if (!b.hq || !b.hf) st = awq_fail_nomem(ctx, "logit copies", (uint64_t)(cr * V) * 8);
    }

    double total = 0, kl_sum = 0, kl_max = 0;
    int64_t n_agree = 0;
    double *wnll = NULL;
    if (st == AWQ_OK && !(wnll = awq_alloc((size_t)nw, sizeof(double))))
        st = awq_fail_nomem(ctx, "per-window NLL", (uint64_t)nw * 8);
    if (st == AWQ_OK) st = awq_progress(ctx, "evaluate", 0, (uint64_t)nw);
    for (int64_t w0 = 0; w0 < nw && st == AWQ_OK; w0 += B) {
        const int64_t nb = AWQ_MIN(B, nw - w0), rows = nb * T;
        for (int64_t k = 0; k < nb; k++) {
            int32_t *dst = b.win + k * T;
            const int32_t *src = ref->ids + (w0 + k) * L;
            if (pp->add_bos) {
                dst[0] = (int32_t)cf->bos_token_id;
                memcpy(dst + 1, src, sizeof(int32_t) * (size_t)L);
            } else {
                memcpy(dst, src, sizeof(int32_t) * (size_t)L);
            }
            for (int64_t t = 0; t < T; t++) b.tg[k * T + t] = t + 1 < T ? dst[t + 1] : -1;
        }
        /* the configuration's final hidden states */
        st = awq_model_embed(q, b.win, rows, b.xq);
        if (st == AWQ_OK) st = awq_model_run_layers(q, b.xq, nb, T);
        /* FP16's: from the cache, or computed (and cached) */
        const float *xf = NULL; /* FP16 hidden states, fp's memory */
        float *cache = ref->cache ? ref->cache + (size_t)(w0 * T * H) : NULL;
        if (st == AWQ_OK) {
            if (same) {
                xf = b.xq;
                if (cache && !ref->cache_ready)
                    st = awq_model_download(q, cache, b.xq, (size_t)(rows * H) * sizeof(float));
            } else if (cache && ref->cache_ready) {
                if (fp_host) {
                    xf = cache;
                } else {
                    st = awq_model_upload(fp, b.xf, cache, (size_t)(rows * H) * sizeof(float));
                    xf = b.xf;
                }
            } else {
                st = awq_model_embed(fp, b.win, rows, b.xf);
                if (st == AWQ_OK) st = awq_model_run_layers(fp, b.xf, nb, T);
                if (st == AWQ_OK && cache)
                    st = awq_model_download(fp, cache, b.xf, (size_t)(rows * H) * sizeof(float));
                xf = b.xf;
            }
        }
        /* NLL exactly as awq_model_perplexity computes and sums it */
        if (st == AWQ_OK) st = awq_model_nll_from_hidden(q, b.xq, b.tg, rows, b.nll);
        if (st == AWQ_OK)
            for (int64_t k = 0; k < nb; k++) {
                double ws = 0.0;
                for (int64_t t = 0; t < P; t++) ws += b.nll[k * T + t];
                total += ws;
                wnll[w0 + k] = ws / (double)P;
            }
        /* KL and top-1, a chunk of rows at a time */
        for (int64_t r0 = 0; r0 < rows && st == AWQ_OK; r0 += cr) {
            int64_t n = AWQ_MIN(cr, rows - r0);
            const float *lq = NULL, *lf = NULL;
            st = logits_host(q, b.xq + r0 * H, n, b.lq, b.hq, &lq);
            if (st == AWQ_OK && same) lf = lq;
            else if (st == AWQ_OK)
                st = logits_host(fp, xf + r0 * H, n, b.lf, b.hf, &lf);
            if (st != AWQ_OK) break;
            kl_job j = {lf, lq, V, r0, T, b.kl, b.agree};
            awq_parallel_for(ctx, n, kl_rows, &j);
            for (int64_t r = 0; r < n; r++) {
                if ((r0 + r) % T == T - 1) continue;
                kl_sum += b.kl[r];
                if (b.kl[r] > kl_max) kl_max = b.kl[r];
                n_agree += b.agree[r];
            }
        }
        if (st == AWQ_OK) st = awq_progress(ctx, "evaluate", (uint64_t)(w0 + nb), (uint64_t)nw);
    }
    if (st == AWQ_OK && ref->cache) ref->cache_ready = true; /* every window stored */
    bufs_free(q, fp, &b);
    if (st != AWQ_OK) {
        awq_free(wnll);
        return st;
    }
    out->window_nll = wnll;
    const double np = (double)(nw * P);
    out->n_windows = nw;
    out->n_predicted = nw * P;
    out->mean_nll = total / np;
    out->ppl = exp(out->mean_nll);
    out->kl_mean = kl_sum / np;
    out->kl_max = kl_max;
    out->top1 = (double)n_agree / np;
    return AWQ_OK;
}

/* --------------------------------------------------------- weight error */

/* Fitted factors outside this range (or of the wrong sign) do not undo a
 * folded scale (AWQ clamps its scales far inside it): use 1. */
static double sane_scale(double num, double den) {
    double s = den > 0 ? num / den : 0.0;
    return s > 1e-12 && s < 1e12 ? s : 1.0;
}

typedef struct werr_job {
    const float *w, *q;        /* [nr, K] source / candidate rows */
    int64_t nr, K, r0;         /* r0: first row's index */
    double *t, *u;             /* [N] row factors, [K] column factors */
    double *num, *den;         /* [K] column accumulators */
    double *e2, *raw2, *w2;    /* [K] column accumulators (final pass) */
} werr_job;

/* Row factors given the column factors: t_n minimises
 * sum_k (t_n u_k q_nk - w_nk)^2. */
static void fit_rows(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    const werr_job *j = arg;
    for (int64_t i = b; i < e; i++) {
        const float *w = j->w + i * j->K, *q = j->q + i * j->K;
        double num = 0, den = 0;
        for (int64_t k = 0; k < j->K; k++) {
            double uq = j->u[k] * (double)q[k];
            num += uq * (double)w[k];
            den += uq * uq;
        }
        j->t[j->r0 + i] = sane_scale(num, den);
    }
}

/* Column accumulators given the row factors. */
static void acc_cols(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    const werr_job *j = arg;
    for (int64_t i = 0; i < j->nr; i++) {
        const float *w = j->w + i * j->K, *q = j->q + i * j->K;
        const double tt = j->t[j->r0 + i];
        for (int64_t k = b; k < e; k++) {
            double tq = tt * (double)q[k];
            j->num[k] += tq * (double)w[k];
            j->den[k] += tq * tq;
        }
    }
}

/* Final pass: squared errors per column. */
static void acc_err(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    const werr_job *j = arg;
    for (int64_t i = 0; i < j->nr; i++) {
        const float *w = j->w + i * j->K, *q = j->q + i * j->K;
        const double tt = j->t[j->r0 + i];
        for (int64_t k = b; k < e; k++) {
            double x = (double)w[k], y = (double)q[k];
            double d = tt * j->u[k] * y - x, d0 = y - x;
            j->e2[k] += d * d;
            j->raw2[k] += d0 * d0;
            j->w2[k] += x * x;
        }
    }
}

/* Rounds of alternating least squares: three take an exactly rescaled
 * matrix (rows and columns, AWQ-like spreads) to ~1e-5 and a noisy one to
 * its minimum (tests/unit/test_audit.c). */
enum { WERR_ROUNDS = 3 };

/* The pass sequence shared by the streaming and the in-memory versions:
 * ROUNDS x {columns given rows, rows given columns}, then the error pass.
 * pass(): run fn over all rows in order (by rows or by columns). */
typedef awq_status (*werr_pass_fn)(void *user, awq_range_fn fn, bool by_rows, werr_job *j);

static awq_status werr_run(void *user, werr_pass_fn pass, werr_job *j, int64_t N, int64_t K,
                           audit_werr *out) {
    for (int64_t k = 0; k < K; k++) j->u[k] = 1.0;
    for (int64_t n = 0; n < N; n++) j->t[n] = 1.0;
    for (int round = 0; round < WERR_ROUNDS; round++) {
        memset(j->num, 0, sizeof(double) * (size_t)K);
        memset(j->den, 0, sizeof(double) * (size_t)K);
        AWQ_TRY(pass(user, acc_cols, false, j));
        for (int64_t k = 0; k < K; k++) j->u[k] = sane_scale(j->num[k], j->den[k]);
        AWQ_TRY(pass(user, fit_rows, true, j));
    }
    memset(j->e2, 0, sizeof(double) * (size_t)K);
    memset(j->raw2, 0, sizeof(double) * (size_t)K);
    memset(j->w2, 0, sizeof(double) * (size_t)K);
    AWQ_TRY(pass(user, acc_err, false, j));
    memset(out, 0, sizeof *out);
    for (int64_t k = 0; k < K; k++) {
        out->err2 += j->e2[k];
        out->raw2 += j->raw2[k];
        out->w2 += j->w2[k];
    }
    return AWQ_OK;
}

static awq_status alloc_job(awq_ctx *ctx, werr_job *j, int64_t N, int64_t K) {
    memset(j, 0, sizeof *j);
    j->K = K;
    j->t = awq_alloc((size_t)N, sizeof(double));
    j->u = awq_alloc((size_t)K, sizeof(double));
    j->num = awq_alloc((size_t)K * 5, sizeof(double));
    if (!j->t || !j->u || !j->num) return awq_fail_nomem(ctx, "weight-error scratch", (uint64_t)(N + 6 * K) * 8);
    j->den = j->num + K;
    j->e2 = j->num + 2 * K;
    j->raw2 = j->num + 3 * K;
    j->w2 = j->num + 4 * K;
    return AWQ_OK;
}

static void free_job(werr_job *j) {
    awq_free(j->t);
    awq_free(j->u);
    awq_free(j->num);
}

/* In memory, single-threaded: the oracle. */
typedef struct mem_src {
    const float *w, *q;
    int64_t N;
} mem_src;

static awq_status mem_pass(void *user, awq_range_fn fn, bool by_rows, werr_job *j) {
    const mem_src *m = user;
    j->w = m->w;
    j->q = m->q;
    j->nr = m->N;
    j->r0 = 0;
    fn(j, 0, by_rows ? m->N : j->K, 0);
    return AWQ_OK;
}

void audit_linear_error_ref(const float *w, const float *wq, int64_t N, int64_t K,
                            audit_werr *out) {
    memset(out, 0, sizeof *out);
    werr_job j;
    if (alloc_job(NULL, &j, N, K) != AWQ_OK) {
        free_job(&j);
        out->err2 = out->raw2 = out->w2 = NAN;
        return;
    }
    mem_src m = {w, wq, N};
    werr_run(&m, mem_pass, &j, N, K, out);
    free_job(&j);
}

/* Streaming, threaded: rows converted a chunk at a time. */
typedef struct stream_src {
    awq_ctx *ctx;
    const awq_tensor_info *src, *dense;
    const awq_qtensor *qt;
    int64_t N, K, chunk;
    float *w, *q;
} stream_src;

static awq_status stream_pass(void *user, awq_range_fn fn, bool by_rows, werr_job *j) {
    stream_src *s = user;
    for (int64_t r0 = 0; r0 < s->N; r0 += s->chunk) {
        int64_t nr = AWQ_MIN(s->chunk, s->N - r0);
        AWQ_TRY(awq_tensor_rows_to_f32(s->ctx, s->src, r0, nr, s->w));
        if (s->qt) AWQ_TRY(awq_dequantize_rows(s->ctx, s->qt, r0, nr, s->q));
        else AWQ_TRY(awq_tensor_rows_to_f32(s->ctx, s->dense, r0, nr, s->q));
        j->w = s->w;
        j->q = s->q;
        j->nr = nr;
        j->r0 = r0;
        awq_parallel_for(s->ctx, by_rows ? nr : s->K, fn, j);
    }
    return AWQ_OK;
}

awq_status audit_linear_error(awq_ctx *ctx, const awq_tensor_info *src, const awq_qtensor *qt,
                              const awq_tensor_info *dense, audit_werr *out) {
    memset(out, 0, sizeof *out);
    if (!src || src->ndim != 2 || (!qt) == (!dense))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "weight error: bad arguments");
    const int64_t N = src->shape[0], K = src->shape[1];
    if (N < 1 || K < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "weight error: %s is empty", src->name);
    if (qt ? (qt->N != N || qt->K != K)
           : (dense->ndim != 2 || dense->shape[0] != N || dense->shape[1] != K))
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "weight error: %s: shapes differ", src->name);
    stream_src s = {ctx, src, dense, qt, N, K, 0, NULL, NULL};
    s.chunk = (int64_t)(WERR_CHUNK_BYTES / ((uint64_t)K * sizeof(float)));
    s.chunk = AWQ_MAX((int64_t)1, AWQ_MIN(s.chunk, N));
    werr_job j;
    awq_status st = alloc_job(ctx, &j, N, K);
    if (st == AWQ_OK) {
        s.w = awq_alloc((size_t)(s.chunk * K), sizeof(float));
        s.q = awq_alloc((size_t)(s.chunk * K), sizeof(float));
        if (!s.w || !s.q) st = awq_fail_nomem(ctx, "weight-error rows", (uint64_t)(s.chunk * K) * 8);
    }
    if (st == AWQ_OK) st = werr_run(&s, stream_pass, &j, N, K, out);
    if (st != AWQ_OK && st != AWQ_ERR_NOMEM)
        st = awq_fail_wrap(ctx, st, "weight error of %s", src->name);
    awq_free(s.w);
    awq_free(s.q);
    free_job(&j);
    return st;
}
