/* tests/unit/test_awq_race.c — the candidate loop's race
 * (awq_search_pick_run, lib/quant/awq_pick.c) on a synthetic block whose
 * losses the test sets, so that every rule is checked apart from a model:
 *  - a clear winner: everything else leaves after the first stage, the race
 *    ends there, nothing finishes, the winner is picked;
 *  - a near tie: the two tied run every stage and finish with their losses
 *    over every unit, the far ones leave after the first stage;
 *  - too few segments on a stage: nobody leaves on it;
 *  - race_z 0 with a cap: exactly the `finalists` lowest first-stage losses
 *    finish;
 *  - candidates whose weights cannot be quantized (AWQ_ERR_RANGE) or whose
 *    loss is not finite are skipped and never picked; another error ends
 *    the search;
 *  - the units each candidate ran form a prefix of whole stages, each unit
 *    once, and the identity candidate (plain ratio 0) is evaluated as RTN
 *    (s == NULL);
 *  - the report's losses are the first stage's. */
#include "awq_test.h"
#include "core/core.h"
#include "quant/awq_search.h"

#include <math.h>

enum { NG = 20, K = 2, U = 32, SEGS = 2 /* per unit */ };

typedef struct {
    double mean[NG];           /* a candidate's loss per element */
    double noise;              /* per-candidate noise amplitude (relative) */
    double shared;             /* per-unit noise shared by all (relative) */
    int range_fail, nan_at;    /* candidate skipped by range / NaN; -1 none */
    int hard_fail;             /* candidate whose eval fails hard; -1 none */
    int runs[NG][U];           /* evaluations of each (candidate, unit) */
    bool null_s[NG];           /* evaluated with s == NULL */
} fake;

/* The candidate index from its scales: x_mean = {1, e}, w_mean = {1, 1}
 * give s = {e^(-r/2), e^(r/2)} for ratio r (plain family). */
static int index_of(const float *s) {
    if (!s) return 0;
    double r = 2.0 * log((double)s[1]);
    return (int)lround(r * NG);
}

static double hash01(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (double)(x >> 11) / 9007199254740992.0;
}

static awq_status fake_eval(void *user, const float *s, int64_t u0, int64_t u1,
                            awq_part_sum *acc) {
    fake *f = user;
    const int i = index_of(s);
    if (i < 0 || i >= NG) return AWQ_ERR_INTERNAL;
    if (i == f->range_fail) return AWQ_ERR_RANGE;
    if (i == f->hard_fail) return AWQ_ERR_IO;
    f->null_s[i] |= s == NULL;
    for (int64_t u = u0; u < u1; u++) {
        f->runs[i][u]++;
        for (int k = 0; k < SEGS; k++) {
            const double common = 1.0 + f->shared * (2 * hash01((uint64_t)(u * SEGS + k)) - 1);
            const double own =
                f->noise * (2 * hash01((uint64_t)(1000003 * (i + 1) + u * SEGS + k)) - 1);
            double v = 100.0 * (f->mean[i] * common + f->mean[i] * own);
            if (i == f->nan_at) v = NAN;
            if (acc->seg) {
                if (acc->n_seg >= acc->cap_seg) return AWQ_ERR_INTERNAL;
                acc->seg[acc->n_seg++] = v;
            }
            acc->sse += v;
            acc->n += 100;
        }
    }
    return AWQ_OK;
}

static void fake_init(fake *f) {
    memset(f, 0, sizeof *f);
    f->range_fail = f->nan_at = f->hard_fail = -1;
    f->noise = 0.002;
    f->shared = 0.3;
    for (int i = 0; i < NG; i++) f->mean[i] = 1.0 + 0.05 * fabs(i - 7.0);
}

typedef struct {
    awq_search_pick pk;
    awq_group_report rep;
    awq_status st;
} result;

static result run(awq_ctx *ctx, fake *f, double screen, double z, int finalists) {
    awq_quantize_params p = awq_quantize_default_params();
    p.n_grid = NG;
    p.duo_scaling = AWQ_DUO_OFF;
    p.screen = screen;
    p.race_z = z;
    p.finalists = finalists;
    const float xm[K] = {1.0f, (float)M_E}, wm[K] = {1.0f, 1.0f};
    const awq_race_plan plan = {.units = U,
                                .stage = awq_search_screen_split(&p, NG, U),
                                .cap_seg = U * SEGS};
    result r;
    memset(&r, 0, sizeof r);
    r.st = awq_search_pick_run(ctx, &p, xm, wm, K, &plan, fake_eval, f, "fake", &r.rep, &r.pk);
    return r;
}

/* Every candidate's units: a prefix of whole stages, each unit once. */
static int units_run(const fake *f, int i, int64_t stage) {
    int n = 0;
    while (n < U && f->runs[i][n] == 1) n++;
    for (int u = n; u < U; u++) CHECK_MSG(f->runs[i][u] == 0, "candidate %d unit %d ran", i, u);
    CHECK_MSG(n == 0 || n == U || n % stage == 0, "candidate %d ran %d units", i, n);
    return n;
}

static void test_clear_winner(awq_ctx *ctx) {
    fake f;
    fake_init(&f);
    result r = run(ctx, &f, 0.25, 4, 0); /* stages of 8 units, 16 segments */
    CHECK_OK(ctx, r.st);
    CHECK_EQ_INT(r.pk.n_stages, 4);
    CHECK_EQ_INT(r.pk.last_stage, 0);
    CHECK_EQ_INT(r.pk.n_finished, 0);
    CHECK_NEAR(r.rep.ratio, 7.0 / NG, 1e-12);
    for (int i = 0; i < NG; i++) {
        CHECK_EQ_INT(units_run(&f, i, 8), 8);
        CHECK(!isfinite(r.pk.cand_loss[i]) && isfinite(r.pk.screen_loss[i]));
    }
    CHECK(f.null_s[0]);
    for (int i = 1; i < NG; i++) CHECK(!f.null_s[i]);
    CHECK_EQ_INT(r.pk.n_seg, 8 * SEGS);
    CHECK(r.rep.loss_rtn == r.pk.screen_loss[0] && r.rep.loss_best == r.pk.screen_loss[7]);
    awq_search_pick_free(&r.pk);
}

static void test_near_tie(awq_ctx *ctx) {
    fake f;
    fake_init(&f);
    f.mean[8] = f.mean[7]; /* 7 and 8 differ by their own noise alone */
    f.noise = 0.02;
    result r = run(ctx, &f, 0.25, 4, 0);
    CHECK_OK(ctx, r.st);
    CHECK_EQ_INT(r.pk.last_stage, 3);
    CHECK_EQ_INT(r.pk.n_finished, 2);
    for (int i = 0; i < NG; i++) {
        const int n = units_run(&f, i, 8);
        CHECK_EQ_INT(n, i == 7 || i == 8 ? U : 8);
        CHECK(isfinite(r.pk.cand_loss[i]) == (i == 7 || i == 8));
    }
    /* the finished losses are over every unit; the pick is the lower */
    const int want = r.pk.cand_loss[8] < r.pk.cand_loss[7] ? 8 : 7;
    CHECK_NEAR(r.rep.ratio, (double)want / NG, 1e-12);
    CHECK(r.rep.loss_best == r.pk.screen_loss[want]);
    awq_search_pick_free(&r.pk);
}

static void test_few_segments(awq_ctx *ctx) {
    fake f;
    fake_init(&f);
    /* stages of 3 units: 6 segments on the first (below the 8 needed), 12
     * after the second */
    result r = run(ctx, &f, 3.0 / U, 4, 0);
    CHECK_OK(ctx, r.st);
    for (int i = 0; i < NG; i++) CHECK_EQ_INT(units_run(&f, i, 3), 6);
    CHECK_EQ_INT(r.pk.last_stage, 1);
    CHECK_NEAR(r.rep.ratio, 7.0 / NG, 1e-12);
    awq_search_pick_free(&r.pk);
}

static void test_cap_no_test(awq_ctx *ctx) {
    fake f;
    fake_init(&f);
    result r = run(ctx, &f, 0.25, 0, 3);
    CHECK_OK(ctx, r.st);
    CHECK(r.pk.screen_seg == NULL && r.pk.n_seg == 0);
    int fin = 0;
    for (int i = 0; i < NG; i++) {
        const bool lowest3 = i >= 6 && i <= 8;
        CHECK_EQ_INT(units_run(&f, i, 8), lowest3 ? U : 8);
        fin += isfinite(r.pk.cand_loss[i]);
    }
    CHECK_EQ_INT(fin, 3);
    CHECK_NEAR(r.rep.ratio, 7.0 / NG, 1e-12);
    awq_search_pick_free(&r.pk);
}

static void test_skips(awq_ctx *ctx) {
    fake f;
    fake_init(&f);
    f.range_fail = 7; /* the best: skipped */
    f.nan_at = 8;
    result r = run(ctx, &f, 0.25, 4, 0);
    CHECK_OK(ctx, r.st);
    CHECK(!isfinite(r.pk.screen_loss[7]));
    CHECK_EQ_INT(units_run(&f, 8, 8), 8);
    const double ratio = r.rep.ratio;
    CHECK_MSG(fabs(ratio - 6.0 / NG) < 1e-12 || fabs(ratio - 9.0 / NG) < 1e-12,
              "pick %g, want 6 or 9 of %d", ratio * NG, NG);
    awq_search_pick_free(&r.pk);
    /* every candidate skipped but the identity: RTN is picked */
    fake_init(&f);
    f.nan_at = 0;
    result r2 = run(ctx, &f, 0, 4, 0);
    CHECK_OK(ctx, r2.st);
    CHECK(r2.rep.ratio > 0);
    awq_search_pick_free(&r2.pk);
    /* a hard error ends the search, freeing everything */
    fake_init(&f);
    f.hard_fail = 3;
    result r3 = run(ctx, &f, 0.25, 4, 0);
    CHECK(r3.st == AWQ_ERR_IO && r3.pk.scales == NULL && r3.pk.cand_loss == NULL);
}

static void test_unraced(awq_ctx *ctx) {
    fake f;
    fake_init(&f);
    result r = run(ctx, &f, 0, 4, 0);
    CHECK_OK(ctx, r.st);
    CHECK(r.pk.screen_loss == NULL && r.pk.screen_seg == NULL);
    for (int i = 0; i < NG; i++) {
        CHECK_EQ_INT(units_run(&f, i, U), U);
        CHECK(isfinite(r.pk.cand_loss[i]));
    }
    CHECK(r.rep.loss_best == r.pk.cand_loss[7] && r.rep.loss_rtn == r.pk.cand_loss[0]);
    awq_search_pick_free(&r.pk);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    test_clear_winner(ctx);
    test_near_tie(ctx);
    test_few_segments(ctx);
    test_cap_no_test(ctx);
    test_skips(ctx);
    test_unraced(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
