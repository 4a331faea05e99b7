/* lib/quant/awq_pick.c — the scale search's candidate loop, once for the
 * dense groups (awq_search.c) and the mixture-of-experts groups
 * (moe_awq.c): the RTN baseline, every candidate's loss (screened or not),
 * the finalists, the pick. The callers own the block and its loss; this
 * file owns which candidates are evaluated on which sequences and which
 * one wins.
 *
 * Screening (awq_quantize_params.screen): every candidate on the screening
 * sequences, then the `finalists` lowest of those on the rest. A
 * finalist's full loss is (screening sums + rest sums) / count, the sums an
 * unscreened search makes in one pass, so the pick is the unscreened one
 * whenever the unscreened best is a finalist (up to the rounding of the
 * split sums). */
#include "quant/awq_search.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t awq_search_screen_split(const awq_quantize_params *p, int n_cand, int64_t B) {
    if (!(p->screen > 0) || n_cand <= p->finalists || B < 2) return B;
    int64_t q = (int64_t)floor(p->screen * (double)B + 0.5);
    return AWQ_MIN(B - 1, AWQ_MAX(1, q));
}

double awq_search_direct_evals(const awq_quantize_params *p, int n_cand, int64_t B) {
    int64_t split = awq_search_screen_split(p, n_cand, B);
    if (split >= B) return 1.0 + n_cand;
    double f = (double)split / (double)B;
    return 1.0 + n_cand * f + p->finalists * (1.0 - f);
}

static double mean_of(awq_part_sum s) { return s.n ? s.sse / (double)s.n : 0; }

/* Candidate i's scales into s; whether they are all 1 (plain ratio 0:
 * Q(W·1)/1 is Q(W) bit for bit, the RTN baseline). */
static bool candidate_scales(const awq_quantize_params *p, const float *xm, const float *wm,
                             int64_t K, int i, float *s, double *ratio, bool *duo) {
    awq_search_candidate(p->duo_scaling, p->n_grid, i, ratio, duo);
    awq_search_scales_ref(xm, wm, K, *ratio, *duo, s);
    bool ones = true;
    for (int64_t k = 0; k < K && ones; k++) ones = s[k] == 1.0f;
    return ones;
}

void awq_search_pick_free(awq_search_pick *pk) {
    if (!pk) return;
    free(pk->scales);
    free(pk->cand_loss);
    free(pk->screen_loss);
    memset(pk, 0, sizeof *pk);
}

awq_status awq_search_pick_run(awq_ctx *ctx, const awq_quantize_params *p, const float *xm,
                               const float *wm, int64_t K, bool screen, awq_cand_eval_fn eval,
                               void *user, const char *what, awq_group_report *rep,
                               awq_search_pick *out) {
    memset(out, 0, sizeof *out);
    const int n_cand = awq_search_n_candidates(p->duo_scaling, p->n_grid);
    const size_t nc = (size_t)(n_cand > 0 ? n_cand : 1);
    float *s = malloc((size_t)K * sizeof(float));
    awq_part_sum *scr = calloc(nc, sizeof *scr);
    /* known: the full loss is known (a finished finalist, or the identity);
     * fin: chosen as a finalist */
    bool *known = calloc(2 * nc, sizeof *known), *fin = known ? known + nc : NULL;
    out->scales = malloc((size_t)K * sizeof(float));
    out->cand_loss = malloc(nc * sizeof(double));
    if (screen) out->screen_loss = malloc(nc * sizeof(double));
    awq_status st = AWQ_OK;
    if (!s || !scr || !known || !out->scales || !out->cand_loss || (screen && !out->screen_loss)) {
        st = awq_fail_nomem(ctx, "scale candidates", (uint64_t)K * 8u + (uint64_t)nc * 33u);
        goto done;
    }
    out->n_cand = n_cand;
    for (int i = 0; i < n_cand; i++) {
        out->cand_loss[i] = NAN;
        if (screen) out->screen_loss[i] = NAN;
    }

    /* RTN over every sequence (as its two sides when screening, so the
     * identity candidate reuses the screening side) */
    awq_part_sum rtn_scr = {0, 0}, rtn_all;
    st = eval(user, NULL, screen ? AWQ_PART_SCREEN : AWQ_PART_ALL, &rtn_scr);
    rtn_all = rtn_scr;
    if (st == AWQ_OK && screen) st = eval(user, NULL, AWQ_PART_REST, &rtn_all);
    if (st != AWQ_OK) goto done;
    rep->loss_rtn = mean_of(rtn_all);

    for (int i = 0; i < n_cand; i++) {
        double ratio;
        bool duo;
        if (candidate_scales(p, xm, wm, K, i, s, &ratio, &duo)) {
            /* the baseline passed the quantizer, so this cannot fail */
            scr[i] = rtn_scr;
            out->cand_loss[i] = rep->loss_rtn;
            known[i] = true;
        } else {
            st = eval(user, s, screen ? AWQ_PART_SCREEN : AWQ_PART_ALL, &scr[i]);
            out->n_evals++;
            if (st == AWQ_ERR_RANGE) {
                /* e.g. a scaled weight beyond the FP16 range: skip it */
                awq_debug(ctx, "%s ratio %.2f%s skipped: %s", what, ratio, duo ? " duo" : "",
                          awq_ctx_errmsg(ctx));
                st = AWQ_OK;
                continue;
            }
            if (st != AWQ_OK) goto done;
            if (!screen) out->cand_loss[i] = mean_of(scr[i]);
        }
        if (screen) out->screen_loss[i] = mean_of(scr[i]);
    }

    /* The finalists: the lowest screening losses (ties: the earlier
     * candidate), finished on the rest of the sequences. */
    for (int f = 0; screen && f < p->finalists; f++) {
        int pick = -1;
        for (int i = 0; i < n_cand; i++)
            if (!fin[i] && isfinite(out->screen_loss[i]) &&
                (pick < 0 || out->screen_loss[i] < out->screen_loss[pick]))
                pick = i;
        if (pick < 0) break;
        fin[pick] = true;
        if (known[pick]) continue;
        double ratio;
        bool duo;
        awq_part_sum rest = {0, 0};
        candidate_scales(p, xm, wm, K, pick, s, &ratio, &duo);
        st = eval(user, s, AWQ_PART_REST, &rest);
        out->n_finished++;
        if (st != AWQ_OK) goto done; /* the screening side quantized these scales */
        out->cand_loss[pick] =
            mean_of((awq_part_sum){scr[pick].sse + rest.sse, scr[pick].n + rest.n});
        known[pick] = true;
    }

    if (screen)
        awq_debug(ctx, "%s: %d candidates screened, %d finalists finished on the rest", what,
                  out->n_evals, out->n_finished);

    /* The lowest loss over every sequence wins (ties: the earlier one). */
    int best = -1;
    for (int i = 0; i < n_cand; i++)
        if (isfinite(out->cand_loss[i]) && (best < 0 || out->cand_loss[i] < out->cand_loss[best]))
            best = i;
    rep->searched = true;
    if (best < 0) {
        awq_warn(ctx, "%s: every scale candidate failed; using scale 1", what);
        for (int64_t k = 0; k < K; k++) out->scales[k] = 1.0f;
        rep->fallback = true;
        rep->ratio = 0;
        rep->duo = false;
        rep->loss_best = rep->loss_rtn;
    } else {
        candidate_scales(p, xm, wm, K, best, out->scales, &rep->ratio, &rep->duo);
        rep->loss_best = out->cand_loss[best];
    }
done:
    free(s);
    free(scr);
    free(known);
    if (st != AWQ_OK) awq_search_pick_free(out);
    return st;
}
