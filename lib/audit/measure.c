/*
 * lib/audit/measure.c — the audit's measurements:
 *   audit_eval          perplexity, KL(FP16 || config) and top-1 agreement
 *                       over the same windows, window batch by window batch;
 * (the weight error is lib/quant/werr.c, shared with `awqkit verify`).
 * Logits are made a chunk of rows at a time. Results do not depend on the thread count (each row
 * or column is reduced by one worker, sums are taken in index order).
 */
#include "audit/audit_internal.h"

#include <math.h>
#include <string.h>

/* Window tokens per forward when the batch is automatic (as lib/model/ppl.c). */
#define EVAL_AUTO_BATCH_TOKENS 8192
/* Logit rows made at once, per model. */
#define EVAL_LOGIT_CHUNK_BYTES ((uint64_t)32 << 20)

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
    if (agree) *agree = false;
    /* NaN fails every comparison below and "kl > 0 ? kl : 0" would make a
     * NaN row look identical to FP16 */
    if (awq_f32_first_nonfinite(lp, V) >= 0 || awq_f32_first_nonfinite(lq, V) >= 0) return NAN;
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

/* A row whose KL is NaN: name the model, window, position and token id of
 * the first non-finite logit. */
static awq_status nonfinite_logits(awq_ctx *ctx, const float *lf, const float *lq, int64_t V,
                                   int64_t w0, int64_t row, int64_t T, int64_t r) {
    int64_t vq = awq_f32_first_nonfinite(lq + r * V, V);
    int64_t vf = awq_f32_first_nonfinite(lf + r * V, V);
    bool in_q = vq >= 0;
    int64_t v = in_q ? vq : vf;
    float x = in_q ? lq[r * V + v] : lf[r * V + v];
    return awq_fail(ctx, AWQ_ERR_RANGE,
                    "the logits of %s hold %s at window %lld, position %lld, token id %lld "
                    "(the weights are finite: an activation overflowed float32)",
                    in_q ? "this configuration" : "the FP16 model", awq_nonfinite_name(x),
                    (long long)(w0 + row / T), (long long)(row % T), (long long)v);
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
            for (int64_t r = 0; r < n && st == AWQ_OK; r++) {
                if ((r0 + r) % T == T - 1) continue;
                if (isnan(b.kl[r])) {
                    st = nonfinite_logits(ctx, lf, lq, V, w0, r0 + r, T, r);
                    break;
                }
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
