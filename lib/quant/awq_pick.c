/* lib/quant/awq_pick.c — the scale search's candidate loop, once for the
 * dense groups (awq_search.c) and the mixture-of-experts groups
 * (moe_awq.c): the RTN baseline, every candidate's loss, the race, the
 * pick. The callers own the block and its loss; this file owns which
 * candidates are evaluated on which units and which one wins.
 *
 * The race (awq_quantize_params.screen, race_z, finalists): the units are
 * cut into stages; every candidate runs the first stage, and after each
 * stage a candidate leaves when its loss so far is above the leader's by
 * more than race_z standard errors of their paired difference. The samples
 * are the segments' sums of squared errors (AWQ_SEG_TOKENS tokens each, the
 * same cut for every candidate), so what both candidates share (a hard
 * sequence, an outlier token) cancels, and the test sees the difference the
 * scales make. A candidate that runs every stage has the loss an unraced
 * search computes (the same sums, stage by stage, up to the rounding of the
 * split sums), so the pick is the unraced one unless that one was dropped.
 *
 * Why a race: the candidates' losses on the first stage already rank the
 * far ones out with a margin of tens of standard errors; only the few near
 * the best need more tokens. Over 72 groups of five models (BENCHMARKS.md,
 * "Sixth round") the race at 1/8 stages and 4 standard errors ran about 4
 * candidate-forwards per group instead of 8 for the screen-and-finish it
 * replaces, and picked the exhaustive best in all of them. */
#include "quant/awq_search.h"

#include "backend/backend.h"
#include "core/core.h"
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t awq_search_screen_split(const awq_quantize_params *p, int n_cand, int64_t B) {
    if (!(p->screen > 0) || (p->finalists > 0 && n_cand <= p->finalists) || B < 2) return B;
    int64_t q = (int64_t)floor(p->screen * (double)B + 0.5);
    return AWQ_MIN(B - 1, AWQ_MAX(1, q));
}

double awq_search_direct_evals(const awq_quantize_params *p, int n_cand, int64_t B) {
    int64_t split = awq_search_screen_split(p, n_cand, B);
    if (split >= B) return 1.0 + n_cand;
    double f = (double)split / (double)B;
    double rest = p->race_z > 0 ? 2.0 : n_cand;
    if (p->finalists > 0 && p->finalists < rest) rest = p->finalists;
    return (1.0 + n_cand) * f + rest * (1.0 - f);
}

static double mean_of(const awq_part_sum *s) { return s->n ? s->sse / (double)s->n : 0; }

/* Candidate i's scales into s; whether they are all 1 (plain ratio 0:
 * Q(W·1)/1 is Q(W) bit for bit, the RTN baseline, evaluated as such). */
static bool candidate_scales(const awq_quantize_params *p, const float *xm, const float *wm,
                             int64_t K, int i, float *s, double *ratio, bool *duo) {
    awq_search_candidate(p->duo_scaling, p->n_grid, i, ratio, duo);
    awq_search_scales_ref(xm, wm, K, *ratio, *duo, s);
    bool ones = true;
    for (int64_t k = 0; k < K && ones; k++) ones = s[k] == 1.0f;
    return ones;
}

/* The paired t statistic of b's segments minus a's (both n long): mean
 * difference over its standard error; +inf when every difference is the
 * same positive number, 0 when b is not above a. */
static double paired_t(const double *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t u = 0; u < n; u++) m += b[u] - a[u];
    m /= (double)n;
    if (!(m > 0)) return 0;
    double v = 0;
    for (int64_t u = 0; u < n; u++) {
        double d = b[u] - a[u] - m;
        v += d * d;
    }
    v /= (double)(n - 1);
    return v > 0 ? m / sqrt(v / (double)n) : INFINITY;
}

awq_status awq_race_add_sq_err(awq_model *m, const float *y, const float *fp, int64_t rows,
                               int64_t cols, int64_t cut_rows, awq_part_sum *acc) {
    awq_backend *be = awq_model_backend(m);
    if (!acc->seg) {
        const int64_t n = rows * cols;
        double v = 0;
        if (n > 0) AWQ_TRY(be->ops->mse(be, y, fp, n, &v));
        acc->sse += v * (double)n;
        acc->n += n;
        return AWQ_OK;
    }
    /* cuts at whole segments change nothing: one piece */
    if (cut_rows <= 0 || cut_rows % AWQ_SEG_TOKENS == 0) cut_rows = rows;
    for (int64_t r0 = 0; r0 < rows; r0 += cut_rows) {
        const int64_t pr = AWQ_MIN(cut_rows, rows - r0), n = pr * cols;
        const int64_t k = (pr + AWQ_SEG_TOKENS - 1) / AWQ_SEG_TOKENS, seg = AWQ_SEG_TOKENS * cols;
        const float *a = y + r0 * cols, *b = fp + r0 * cols;
        if (acc->n_seg + k > acc->cap_seg)
            return awq_fail(awq_model_ctx(m), AWQ_ERR_INTERNAL,
                            "race segments beyond %lld", (long long)acc->cap_seg);
        double *out = acc->seg + acc->n_seg;
        if (be->ops->sq_err_segs) {
            AWQ_TRY(be->ops->sq_err_segs(be, a, b, n, seg, out));
        } else {
            for (int64_t s = 0; s < k; s++) {
                const int64_t cnt = AWQ_MIN(seg, n - s * seg);
                double v;
                AWQ_TRY(be->ops->mse(be, a + s * seg, b + s * seg, cnt, &v));
                out[s] = v * (double)cnt;
            }
        }
        for (int64_t s = 0; s < k; s++) acc->sse += out[s];
        acc->n_seg += k;
        acc->n += n;
    }
    return AWQ_OK;
}

void awq_search_pick_free(awq_search_pick *pk) {
    if (!pk) return;
    free(pk->scales);
    free(pk->cand_loss);
    free(pk->screen_loss);
    free(pk->screen_seg);
    memset(pk, 0, sizeof *pk);
}

/* The lowest loss so far among the alive candidates (ties: the earlier). */
static int leader_of(const awq_part_sum *acc, const bool *alive, int n) {
    int a = -1;
    for (int i = 0; i < n; i++)
        if (alive[i] && (a < 0 || mean_of(&acc[i]) < mean_of(&acc[a]))) a = i;
    return a;
}

awq_status awq_search_pick_run(awq_ctx *ctx, const awq_quantize_params *p, const float *xm,
                               const float *wm, int64_t K, const awq_race_plan *plan,
                               awq_cand_eval_fn eval, void *user, const char *what,
                               awq_group_report *rep, awq_search_pick *out) {
    memset(out, 0, sizeof *out);
    const int n_cand = awq_search_n_candidates(p->duo_scaling, p->n_grid);
    const size_t nc = (size_t)(n_cand > 0 ? n_cand : 1);
    const int64_t U = plan->units, stage = AWQ_MAX(1, AWQ_MIN(plan->stage, U));
    const bool race = stage < U;
    const int n_stages = (int)((U + stage - 1) / stage);
    /* every stage's segments are kept: the test pairs all of them */
    const int64_t cap = race && p->race_z > 0 ? plan->cap_seg : 0;
    float *s = malloc((size_t)K * sizeof(float));
    awq_part_sum *acc = calloc(nc + 1, sizeof *acc); /* [n_cand]: RTN alone */
    bool *alive = calloc(3 * nc, sizeof *alive), *ident = alive ? alive + nc : NULL;
    bool *keep = alive ? alive + 2 * nc : NULL;
    double *segs = cap ? malloc((nc + 1) * (size_t)cap * sizeof(double)) : NULL;
    out->scales = malloc((size_t)K * sizeof(float));
    out->cand_loss = malloc(nc * sizeof(double));
    if (race) out->screen_loss = malloc(nc * sizeof(double));
    awq_status st = AWQ_OK;
    if (!s || !acc || !alive || (cap && !segs) || !out->scales || !out->cand_loss ||
        (race && !out->screen_loss)) {
        st = awq_fail_nomem(ctx, "scale candidates",
                            (uint64_t)K * 8u + (uint64_t)(nc + 1) * (43u + 8u * (uint64_t)cap));
        goto done;
    }
    out->n_cand = n_cand;
    out->n_stages = n_stages;
    for (size_t i = 0; i <= nc && cap; i++) {
        acc[i].seg = segs + i * (size_t)cap;
        acc[i].cap_seg = cap;
    }
    /* RTN for the report: the identity candidate's loss when there is one
     * (plain ratio 0), else its own evaluation on the first stage */
    int ident_i = -1;
    for (int i = 0; i < n_cand; i++) {
        double ratio;
        bool duo;
        out->cand_loss[i] = NAN;
        if (race) out->screen_loss[i] = NAN;
        alive[i] = true;
        ident[i] = candidate_scales(p, xm, wm, K, i, s, &ratio, &duo);
        if (ident[i] && ident_i < 0) ident_i = i;
    }

    int last = 0;
    for (int k = 0; k < n_stages; k++) {
        const int64_t u0 = (int64_t)k * stage, u1 = AWQ_MIN(U, u0 + stage);
        last = k;
        if (k == 0 && ident_i < 0) {
            st = eval(user, NULL, u0, u1, &acc[nc]);
            if (st != AWQ_OK) goto done;
        }
        for (int i = 0; i < n_cand; i++) {
            if (!alive[i]) continue;
            double ratio;
            bool duo;
            candidate_scales(p, xm, wm, K, i, s, &ratio, &duo);
            st = eval(user, ident[i] ? NULL : s, u0, u1, &acc[i]);
            if (k == 0) out->n_evals++;
            if (st == AWQ_ERR_RANGE && k == 0) {
                /* e.g. a scaled weight beyond the FP16 range: skip it (every
                 * candidate left was quantized on the first stage, so later
                 * stages cannot fail this way) */
                awq_debug(ctx, "%s ratio %.2f%s skipped: %s", what, ratio, duo ? " duo" : "",
                          awq_ctx_errmsg(ctx));
                st = AWQ_OK;
                alive[i] = false;
                continue;
            }
            if (st != AWQ_OK) goto done;
            if (k == 0 && race) out->screen_loss[i] = mean_of(&acc[i]);
            if (!isfinite(mean_of(&acc[i]))) {
                /* a non-finite loss never wins: out of the race */
                awq_debug(ctx, "%s ratio %.2f%s skipped: non-finite loss", what, ratio,
                          duo ? " duo" : "");
                alive[i] = false;
            }
        }
        if (k == 0) {
            const awq_part_sum *r0 = &acc[ident_i >= 0 ? ident_i : (int)nc];
            rep->loss_rtn = mean_of(r0);
            out->n_seg = r0->n_seg; /* the first stage's, the same for all */
        }
        if (k == n_stages - 1) break;
        /* Who stays: not significantly above the leader (given enough
         * segments); after the first stage, at most the `finalists` lowest. */
        int a = leader_of(acc, alive, n_cand);
        if (a < 0) break;
        if (cap && acc[a].n_seg >= AWQ_RACE_MIN_SEGS)
            for (int i = 0; i < n_cand; i++)
                if (alive[i] && i != a &&
                    paired_t(acc[a].seg, acc[i].seg, acc[a].n_seg) > p->race_z)
                    alive[i] = false;
        if (k == 0 && p->finalists > 0) {
            memset(keep, 0, nc * sizeof *keep);
            for (int f = 0; f < p->finalists; f++) {
                int b = leader_of(acc, alive, n_cand);
                if (b < 0) break;
                keep[b] = true;
                alive[b] = false;
            }
            memcpy(alive, keep, nc * sizeof *keep);
        }
        int n_alive = 0;
        for (int i = 0; i < n_cand; i++) n_alive += alive[i];
        if (n_alive <= 1) break;
    }
    out->last_stage = last;
    if (!cap) out->n_seg = 0;

    /* Full losses of the candidates that ran every stage. */
    for (int i = 0; i < n_cand && last == n_stages - 1; i++)
        if (alive[i]) {
            out->cand_loss[i] = mean_of(&acc[i]);
            out->n_finished++;
        }
    if (cap) {
        /* the first stage's segments: the first n_seg of every candidate */
        out->screen_seg = malloc(nc * (size_t)AWQ_MAX(1, out->n_seg) * sizeof(double));
        if (!out->screen_seg) {
            st = awq_fail_nomem(ctx, "scale candidates", nc * (uint64_t)out->n_seg * 8u);
            goto done;
        }
        for (int i = 0; i < n_cand; i++)
            for (int64_t u = 0; u < out->n_seg; u++)
                out->screen_seg[(size_t)i * (size_t)out->n_seg + (size_t)u] =
                    isfinite(out->screen_loss[i]) ? acc[i].seg[u] : NAN;
    }
    if (race)
        awq_debug(ctx, "%s: %d candidates raced, stage %d of %d reached, %d left", what,
                  out->n_evals, last + 1, n_stages, AWQ_MAX(1, out->n_finished));

    /* The winner: the one left, or the lowest loss over every unit (ties:
     * the earlier candidate). */
    int best = leader_of(acc, alive, n_cand);
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
        rep->loss_best = race ? out->screen_loss[best] : out->cand_loss[best];
    }
done:
    free(s);
    free(acc);
    free(alive);
    free(segs);
    if (st != AWQ_OK) awq_search_pick_free(out);
    return st;
}
