/* tests/unit/test_clip_gram.c — the Gram form of the clip search
 * (lib/quant/clip_gram.c):
 *  - the threaded CPU path is bit-identical to its oracle
 *    (awq_clip_search_gram_ref) for 1..3 threads: partial groups,
 *    per-channel groups, odd group lengths, step counts that do not fill a
 *    tile, one token;
 *  - its errors equal the direct form's (awq_clip_search_ref, the oracle of
 *    the clip search) within AWQ_CLIP_GRAM_REL_TOL, also on activations with
 *    a large common offset (a nearly rank-1 Gram matrix: the case where the
 *    quadratic form loses the most digits), and every clamp it picks is as
 *    good as the direct form's best by the direct form's own errors;
 *  - awq_clip_search_fast takes the Gram form exactly where
 *    awq_clip_gram_cheaper says so on the CPU backend;
 *  - errors name the weight / group, non-finite activations clip nothing. */
#include "awq_test.h"

#include "backend/backend.h"
#include "core/core.h"
#include "quant/clip.h"
#include "quant/qmath.h"

#include <stdint.h>

static uint64_t rng = 0x2545f4914f6cdd1dull; /* awq_test_rand_* (awq_test.h) */

/* Weights with heavy tails (clipping helps some groups), activations with
 * salient channels; offset > 0 adds a common positive shift to every third
 * channel (post-SiLU / post-norm activations look like that). */
static void make_case(float *w, float *x, int64_t N, int64_t K, int64_t T, float offset) {
    for (int64_t i = 0; i < N * K; i++) {
        float r = awq_test_rand_normal(&rng);
        w[i] = (awq_test_rand_u32(&rng) % 97 == 0) ? 0.5f * r : 0.02f * r;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t k = 0; k < K; k++)
            x[t * K + k] = awq_test_rand_normal(&rng) * (1.0f + (float)(k % 7)) +
                           (k % 3 == 0 ? offset : 0.0f);
}

typedef struct {
    int64_t N, K, T;
    int gs, bits, sym, n_grid, n_steps;
} gcase;

static const gcase k_cases[] = {
    {8, 128, 64, 128, 4, 0, 20, 10},  {5, 100, 33, 32, 4, 0, 20, 10},
    {7, 96, 130, -1, 3, 1, 20, 10},   {3, 64, 1, 64, 2, 0, 20, 10},
    {9, 72, 300, 24, 8, 1, 10, 5},    {4, 256, 129, 128, 4, 1, 20, 20},
    {6, 200, 520, 128, 4, 0, 20, 10}, {2, 17, 40, -1, 4, 0, 20, 7},
    {33, 384, 512, 128, 4, 0, 20, 10},
};

/* ---------------------------------------- threaded == its oracle */

static void test_gram_cpu_exact(void) {
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(k_cases); ci++) {
        const gcase *c = &k_cases[ci];
        awq_quant_params q = awq_quant_default_params();
        q.group_size = c->gs;
        q.bits = c->bits;
        q.sym = c->sym;
        const int64_t G = awq_n_groups(c->K, q.group_size), ne = c->n_steps * c->N * G;
        float *w = awq_alloc((size_t)(c->N * c->K), 4), *x = awq_alloc((size_t)(c->T * c->K), 4);
        make_case(w, x, c->N, c->K, c->T, 0.0f);
        float *a = awq_alloc((size_t)(c->N * G), 4), *b = awq_alloc((size_t)(c->N * G), 4);
        double *ea = awq_alloc((size_t)ne, 8), *eb = awq_alloc((size_t)ne, 8);
        awq_ctx *c1 = awq_test_ctx(1);
        CHECK_OK(c1, awq_clip_search_gram_ref(c1, w, x, c->N, c->K, c->T, &q, c->n_grid,
                                              c->n_steps, a, ea));
        for (int nt = 1; nt <= 3; nt++) {
            awq_ctx *cx = awq_test_ctx(nt);
            awq_backend *be = NULL;
            CHECK_OK(cx, awq_backend_cpu_create(cx, &be));
            memset(b, 0xff, (size_t)(c->N * G) * 4u);
            memset(eb, 0xff, (size_t)ne * 8u);
            CHECK_OK(cx, awq_clip_search_gram_cpu(be, w, x, c->N, c->K, c->T, &q, c->n_grid,
                                                  c->n_steps, b, eb));
            CHECK_MSG(memcmp(a, b, (size_t)(c->N * G) * 4u) == 0, "case %zu threads %d", ci, nt);
            CHECK_MSG(memcmp(ea, eb, (size_t)ne * 8u) == 0, "errors: case %zu threads %d", ci,
                      nt);
            awq_backend_free(be);
            awq_ctx_free(cx);
        }
        awq_ctx_free(c1);
        awq_free(w);
        awq_free(x);
        awq_free(a);
        awq_free(b);
        awq_free(ea);
        awq_free(eb);
    }
}

/* ----------------------------------------- Gram == direct (tolerance) */

static void test_gram_vs_direct(awq_ctx *ctx) {
    const float offsets[] = {0.0f, 20.0f};
    double worst = 0.0;
    int64_t items = 0, differ = 0;
    for (size_t oi = 0; oi < AWQ_ARRAY_LEN(offsets); oi++)
        for (size_t ci = 0; ci < AWQ_ARRAY_LEN(k_cases); ci++) {
            const gcase *c = &k_cases[ci];
            awq_quant_params q = awq_quant_default_params();
            q.group_size = c->gs;
            q.bits = c->bits;
            q.sym = c->sym;
            const int64_t N = c->N, G = awq_n_groups(c->K, q.group_size);
            const int64_t ne = c->n_steps * N * G;
            float *w = awq_alloc((size_t)(N * c->K), 4), *x = awq_alloc((size_t)(c->T * c->K), 4);
            make_case(w, x, N, c->K, c->T, offsets[oi]);
            float *md = awq_alloc((size_t)(N * G), 4), *mg = awq_alloc((size_t)(N * G), 4);
            double *ed = awq_alloc((size_t)ne, 8), *eg = awq_alloc((size_t)ne, 8);
            CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x, N, c->K, c->T, &q, c->n_grid,
                                              c->n_steps, md, ed));
            CHECK_OK(ctx, awq_clip_search_gram_ref(ctx, w, x, N, c->K, c->T, &q, c->n_grid,
                                                   c->n_steps, mg, eg));
            for (int64_t it = 0; it < N * G; it++) {
                /* errors of this (row, group): relative to the largest of
                 * its steps, the scale at which the pick is made */
                double scale = 0.0, best_d = INFINITY, pick_d = NAN;
                for (int s = 0; s < c->n_steps; s++) scale = fmax(scale, ed[s * N * G + it]);
                for (int s = 0; s < c->n_steps; s++) {
                    double d = ed[s * N * G + it], g = eg[s * N * G + it];
                    double rel = fabs(d - g) / (scale > 0 ? scale : 1.0);
                    if (rel > worst) worst = rel;
                    CHECK_MSG(rel <= AWQ_CLIP_GRAM_REL_TOL,
                              "offset %g case %zu item %lld step %d: direct %.9g gram %.9g",
                              (double)offsets[oi], ci, (long long)it, s, d, g);
                    if (d < best_d) best_d = d;
                }
                /* the Gram pick, scored by the direct form */
                float mv_g = mg[it];
                items++;
                if (md[it] != mv_g) {
                    differ++;
                    /* the step whose clamp is the Gram pick (both forms
                     * take clip_delta's clamps: org_max * (1 - s / n_grid)) */
                    for (int s = 0; s < c->n_steps && isnan(pick_d); s++) {
                        const int64_t n = it / G, g = it % G;
                        const int64_t gl = awq_group_len(c->K, q.group_size), k0 = g * gl;
                        float amax = 0.0f;
                        for (int64_t k = k0; k < AWQ_MIN(k0 + gl, c->K); k++)
                            amax = fmaxf(amax, fabsf(w[n * c->K + k]));
                        if (awq_qm_clip_max(amax, s, c->n_grid) == mv_g)
                            pick_d = ed[s * N * G + it];
                    }
                    CHECK_MSG(!isnan(pick_d) &&
                                  pick_d <= best_d + AWQ_CLIP_GRAM_REL_TOL * scale,
                              "case %zu item %lld: Gram pick scores %.9g, direct best %.9g", ci,
                              (long long)it, pick_d, best_d);
                }
            }
            awq_free(w);
            awq_free(x);
            awq_free(md);
            awq_free(mg);
            awq_free(ed);
            awq_free(eg);
        }
    /* most picks agree outright; the rest are near-ties */
    CHECK_MSG(differ * 50 <= items, "%lld of %lld picks differ", (long long)differ,
              (long long)items);
    printf("Gram vs direct: worst relative error difference %.3g (tolerance %g), %lld of %lld "
           "picks differ (near-ties)\n",
           worst, AWQ_CLIP_GRAM_REL_TOL, (long long)differ, (long long)items);
}

/* --------------------------------------------- cost model, dispatch */

static void test_dispatch(awq_ctx *ctx, awq_backend *be) {
    awq_quant_params q = awq_quant_default_params(); /* group 128 */
    CHECK(awq_clip_gram_cheaper(4096, 512, &q));
    CHECK(!awq_clip_gram_cheaper(4096, 64, &q));      /* few tokens: direct */
    CHECK(!awq_clip_gram_cheaper(4096, 150, &q));
    CHECK(!awq_clip_gram_cheaper(4096, 0, &q));
    CHECK(!awq_clip_gram_cheaper(4096, 512, NULL));
    awq_quant_params pc = q;
    pc.group_size = -1;
    CHECK(!awq_clip_gram_cheaper(4096, 100000, &pc)); /* G would be K x K */
    CHECK(awq_clip_gram_cheaper(512, 4096, &pc));

    const int64_t N = 12, K = 256;
    for (int64_t T = 100; T <= 400; T += 300) {
        float *w = awq_alloc((size_t)(N * K), 4), *x = awq_alloc((size_t)(T * K), 4);
        make_case(w, x, N, K, T, 0.0f);
        const int64_t G = K / 128;
        float mf[24], mr[24];
        CHECK_OK(ctx, awq_clip_search_fast(be, w, x, N, K, T, &q, 20, 10, mf));
        if (awq_clip_gram_cheaper(K, T, &q))
            CHECK_OK(ctx, awq_clip_search_gram_ref(ctx, w, x, N, K, T, &q, 20, 10, mr, NULL));
        else
            CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x, N, K, T, &q, 20, 10, mr, NULL));
        CHECK_MSG(memcmp(mf, mr, sizeof(float) * (size_t)(N * G)) == 0, "T %lld",
                  (long long)T);
        awq_free(w);
        awq_free(x);
    }
}

/* ----------------------------------------------------------- errors */

static void test_errors(awq_ctx *ctx, awq_backend *be) {
    const int64_t N = 2, K = 8, T = 3;
    float w[16], x[24], mv[2];
    double e[20];
    for (int i = 0; i < 16; i++) w[i] = 0.1f * (float)(i % 5);
    for (int i = 0; i < 24; i++) x[i] = 1.0f;
    awq_quant_params q = awq_quant_default_params();
    q.group_size = 8;
    CHECK_FAILS(ctx, awq_clip_search_gram_cpu(be, w, x, N, K, T, &q, 20, 21, mv, NULL),
                AWQ_ERR_INVALID_ARG, "n_steps");
    CHECK_FAILS(ctx, awq_clip_search_gram_ref(ctx, w, x, N, K, 0, &q, 20, 10, mv, NULL),
                AWQ_ERR_INVALID_ARG, "tokens");
    w[11] = NAN;
    CHECK_FAILS(ctx, awq_clip_search_gram_cpu(be, w, x, N, K, T, &q, 20, 10, mv, NULL),
                AWQ_ERR_RANGE, "non-finite weight nan at (row 1, column 3)");
    CHECK_FAILS(ctx, awq_clip_search_gram_ref(ctx, w, x, N, K, T, &q, 20, 10, mv, NULL),
                AWQ_ERR_RANGE, "(row 1, column 3)");
    /* both rows bad, one per worker (2 threads): the error names the first
     * in the oracle's order, whichever worker finishes first */
    const float w3 = w[3];
    w[3] = INFINITY;
    CHECK_FAILS(ctx, awq_clip_search_gram_cpu(be, w, x, N, K, T, &q, 20, 10, mv, NULL),
                AWQ_ERR_RANGE, "non-finite weight inf at (row 0, column 3)");
    w[3] = w3;
    w[11] = 1e7f;
    CHECK_FAILS(ctx, awq_clip_search_gram_cpu(be, w, x, N, K, T, &q, 20, 10, mv, NULL),
                AWQ_ERR_RANGE, "group 0 of row 1");
    w[11] = 0.0f;
    /* non-finite activations: errors are NaN, nothing is clipped */
    x[0] = NAN;
    CHECK_OK(ctx, awq_clip_search_gram_cpu(be, w, x, N, K, T, &q, 20, 10, mv, e));
    CHECK(mv[0] == 0.4f);
    CHECK(isnan(e[0]));
    /* a group too long for a Gram matrix */
    const int64_t K2 = 2000;
    float *w2 = awq_alloc((size_t)K2, 4), *x2 = awq_alloc((size_t)K2, 4);
    for (int64_t k = 0; k < K2; k++) w2[k] = x2[k] = 0.01f * (float)(k % 13);
    q.group_size = -1;
    CHECK_FAILS(ctx, awq_clip_search_gram_cpu(be, w2, x2, 1, K2, 1, &q, 20, 10, mv, NULL),
                AWQ_ERR_INVALID_ARG, "Gram form");
    CHECK_OK(ctx, awq_clip_search_fast(be, w2, x2, 1, K2, 1, &q, 20, 10, mv));
    awq_free(w2);
    awq_free(x2);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    awq_backend *be = NULL;
    CHECK_OK(ctx, awq_backend_cpu_create(ctx, &be));
    test_gram_cpu_exact();
    test_gram_vs_direct(ctx);
    test_dispatch(ctx, be);
    test_errors(ctx, be);
    awq_backend_free(be);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
