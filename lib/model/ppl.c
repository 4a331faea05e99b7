/* lib/model/ppl.c — perplexity over non-overlapping windows, the protocol of
 * the standard WikiText-2 scripts (AutoAWQ's / GPTQ's eval_ppl): the whole
 * text is tokenized once, cut into windows of `seqlen` tokens (the tail that
 * does not fill a window is dropped), each window is run independently, the
 * first token of a window is context only, and
 *   ppl = exp(sum of NLL over all predicted tokens / their number)
 * with (seqlen - 1) predicted tokens per window. (The scripts average the
 * per-window mean losses times seqlen; with equal windows that is the same
 * mean.) With add_bos every window is BOS + seqlen-1 text tokens and all
 * seqlen-1 text tokens are predicted (see awq_ppl_params). */
#include "model/forward.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

/* Window tokens run through the layers together when batch is automatic. */
#define PPL_AUTO_BATCH_TOKENS 8192

awq_ppl_params awq_ppl_default_params(void) {
    awq_ppl_params p;
    memset(&p, 0, sizeof p);
    p.seqlen = 2048;
    p.max_windows = 0;
    p.add_bos = false;
    p.batch = 0;
    return p;
}

int64_t awq_ppl_n_windows(int64_t n, const awq_ppl_params *p) {
    if (!p || p->seqlen < 2 || n < 0 || p->max_windows < 0) return 0;
    int64_t text_per_window = p->add_bos ? p->seqlen - 1 : p->seqlen;
    int64_t w = n / text_per_window;
    if (p->max_windows > 0 && w > p->max_windows) w = p->max_windows;
    return w;
}

awq_status awq_model_perplexity(awq_model *m, const int32_t *ids, int64_t n,
                                const awq_ppl_params *p, awq_ppl_result *res,
                                double *per_window_nll) {
    awq_ctx *ctx = awq_model_ctx(m);
    memset(res, 0, sizeof *res);
    awq_ppl_params pp = p ? *p : awq_ppl_default_params();
    const awq_model_config *c = awq_model_get_config(m);
    if (pp.seqlen < 2 || pp.seqlen > ((int64_t)1 << 24))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "seqlen %lld is out of range [2, 16777216]",
                        (long long)pp.seqlen);
    if (pp.max_windows < 0 || pp.batch < 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "max_windows and batch must be >= 0");
    if (pp.add_bos && (c->bos_token_id < 0 || c->bos_token_id >= c->vocab))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "add_bos: the model config has no valid bos_token_id");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "token id %ld at position %lld is outside the model's vocabulary "
                            "[0, %lld) (tokenizer and model do not match?)",
                            (long)ids[i], (long long)i, (long long)c->vocab);
    if (c->max_pos > 0 && pp.seqlen > c->max_pos)
        awq_warn(ctx, "seqlen %lld exceeds max_position_embeddings %lld",
                 (long long)pp.seqlen, (long long)c->max_pos);

    const int64_t L = pp.add_bos ? pp.seqlen - 1 : pp.seqlen; /* text per window */
    const int64_t nw = awq_ppl_n_windows(n, &pp);
    if (nw == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "the text has %lld tokens, fewer than one window of %lld%s",
                        (long long)n, (long long)L, pp.add_bos ? " (seqlen - 1 with BOS)" : "");
    int64_t B = pp.batch;
    if (B == 0) B = AWQ_MAX((int64_t)1, PPL_AUTO_BATCH_TOKENS / pp.seqlen);
    if (B > nw) B = nw;
    const int64_t T = pp.seqlen, P = T - 1;

    AWQ_TRY(awq_model_load_lm_head(m));
    int32_t *win = awq_alloc((size_t)(B * T), sizeof(int32_t));
    double *nll = awq_alloc((size_t)(B * P), sizeof(double));
    if (!win || !nll) {
        awq_free(win);
        awq_free(nll);
        return awq_fail_nomem(ctx, "perplexity buffers", (uint64_t)(B * T) * 12);
    }
    awq_status s = awq_progress(ctx, "ppl", 0, (uint64_t)nw);
    double total = 0.0;
    double t0 = awq_now();
    for (int64_t w0 = 0; w0 < nw && s == AWQ_OK; w0 += B) {
        int64_t nb = AWQ_MIN(B, nw - w0);
        for (int64_t b = 0; b < nb; b++) {
            int32_t *dst = win + b * T;
            const int32_t *src = ids + (w0 + b) * L;
            if (pp.add_bos) {
                dst[0] = (int32_t)c->bos_token_id;
                memcpy(dst + 1, src, sizeof(int32_t) * (size_t)L);
            } else {
                memcpy(dst, src, sizeof(int32_t) * (size_t)L);
            }
        }
        s = awq_model_nll(m, win, nb, T, nll);
        if (s == AWQ_ERR_RANGE) /* rows count from the batch's first window */
            s = awq_fail_wrap(ctx, s, "windows %lld-%lld (rows of %lld tokens each)",
                              (long long)w0, (long long)(w0 + nb - 1), (long long)T);
        if (s != AWQ_OK) break;
        for (int64_t b = 0; b < nb; b++) {
            double ws = 0.0;
            for (int64_t t = 0; t < P; t++) ws += nll[b * P + t];
            total += ws;
            if (per_window_nll) per_window_nll[w0 + b] = ws / (double)P;
        }
        s = awq_progress(ctx, "ppl", (uint64_t)(w0 + nb), (uint64_t)nw);
    }
    double secs = awq_now() - t0;
    awq_free(win);
    awq_free(nll);
    if (s != AWQ_OK) return s;
    res->n_tokens_text = n;
    res->n_windows = nw;
    res->n_predicted = nw * P;
    res->mean_nll = total / (double)(nw * P);
    res->ppl = exp(res->mean_nll);
    res->seconds = secs;
    res->tokens_per_s = secs > 0 ? (double)(nw * T) / secs : 0.0;
    return AWQ_OK;
}
