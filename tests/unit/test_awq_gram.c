/* tests/unit/test_awq_gram.c — the Gram form of the one-linear AWQ loss
 * (lib/quant/awq_gram.h) against the direct form it replaces:
 *  - the backend ops gram and dot against their plain-C oracles, and bit
 *    for bit across 1 and 2 threads;
 *  - s = 1 through the scaled pseudo-quantizer is Q(W) bit for bit (the
 *    search reuses the RTN baseline's loss for that candidate);
 *  - the Gram loss (backend, fp32 G) equals the direct loss (double,
 *    token by token) within AWQ_TOL_GRAM_LOSS_REL, and the two forms pick
 *    the same candidate on synthetic shapes with outlier channels;
 *  - the whole search with the Gram form picks the same ratios as the
 *    direct form on every layer of data/tiny-llama and of a synthetic
 *    outlier model with v -> o, and is bit-identical for 1 and 2 threads
 *    (first layer);
 *  - the search at the default bf16 precision picks, by the fp32 oracle's
 *    own candidate losses, within AWQ_TOL_BF16_PICK of the fp32 best on
 *    those models (where bf16 GEMMs are available; else it runs fp32 and
 *    picks the same);
 *  - the cost model's choices on known shapes. */
#include "awq_test.h"
#include "backend/backend.h"
#include "core/core.h"
#include "model/forward.h"
#include "quant/awq_gram.h"
#include "quant/awq_search.h"
#include "quant/clip.h"

#include "awqkit/synth.h"

/* Relative difference allowed between the Gram loss (G summed in fp32 by
 * sgemm over up to a few thousand tokens, dW G in fp32) and the direct
 * loss in double: fp32 sums of that length stay within ~1e-6 relative on
 * these positive-definite forms; 2e-5 leaves an order of magnitude. */
#define AWQ_TOL_GRAM_LOSS_REL 2e-5
/* The bf16 search's pick, evaluated by the fp32 search, may exceed the
 * fp32 best by this much (near-ties only: bf16 inputs shift every block
 * loss by ~0.3% on tiny-llama). */
#define AWQ_TOL_BF16_PICK 2e-3
/* gram vs awq_gram_ref (double sums), per element relative to the row's
 * diagonal scale. */
#define AWQ_TOL_GRAM_REL 1e-5

static uint32_t g_rng = 12345u;
static float frand(void) {
    g_rng = g_rng * 1664525u + 1013904223u;
    return ((float)(g_rng >> 8) / 16777216.0f - 0.5f) * 2.0f;
}

/* x [R, K] with a few outlier channels (x 30), w [N, K]. */
static void make_data(float *x, int64_t R, float *w, int64_t N, int64_t K, int n_out) {
    for (int64_t i = 0; i < R * K; i++) x[i] = frand();
    for (int o = 0; o < n_out; o++) {
        int64_t k = (o * 37 + 5) % K;
        for (int64_t r = 0; r < R; r++) x[r * K + k] *= 30.0f;
    }
    for (int64_t i = 0; i < N * K; i++) w[i] = 0.05f * frand();
}

static void test_ops(void) {
    const int64_t M = 300, K = 200; /* K not a multiple of the 64-row slice; 4 slices */
    float *x = malloc(sizeof(float) * M * K), *g1 = malloc(sizeof(float) * K * K),
          *g2 = malloc(sizeof(float) * K * K), *gr = malloc(sizeof(float) * K * K);
    for (int64_t i = 0; i < M * K; i++) x[i] = frand();
    awq_ctx *c1 = awq_test_ctx(1), *c2 = awq_test_ctx(2);
    awq_backend *b1 = NULL, *b2 = NULL;
    CHECK_OK(c1, awq_backend_cpu_create(c1, &b1));
    CHECK_OK(c2, awq_backend_cpu_create(c2, &b2));
    /* two chunks accumulated, as the search does */
    CHECK_OK(c1, b1->ops->gram(b1, x, 100, K, g1, false));
    CHECK_OK(c1, b1->ops->gram(b1, x + 100 * K, M - 100, K, g1, true));
    CHECK_OK(c2, b2->ops->gram(b2, x, 100, K, g2, false));
    CHECK_OK(c2, b2->ops->gram(b2, x + 100 * K, M - 100, K, g2, true));
    CHECK_MSG(memcmp(g1, g2, sizeof(float) * K * K) == 0, "gram: 1 and 2 threads differ");
    awq_gram_ref(x, M, K, gr, false);
    double worst = 0;
    bool sym = true;
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = 0; j < K; j++) {
            double scale = sqrt((double)gr[i * K + i] * gr[j * K + j]);
            double e = fabs((double)g1[i * K + j] - gr[i * K + j]) / scale;
            worst = e > worst ? e : worst;
            sym = sym && g1[i * K + j] == g1[j * K + i];
        }
    CHECK_MSG(worst <= AWQ_TOL_GRAM_REL, "gram vs ref: %g", worst);
    CHECK_MSG(sym, "gram not exactly symmetric");
    /* dot: the reference's order exactly, any thread count */
    const int64_t n = 3 * AWQ_DOT_BLOCK + 17;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) {
        a[i] = frand();
        b[i] = frand();
    }
    double d1, d2;
    CHECK_OK(c1, b1->ops->dot(b1, a, b, n, &d1));
    CHECK_OK(c2, b2->ops->dot(b2, a, b, n, &d2));
    CHECK(d1 == d2 && d1 == awq_dot_ref(a, b, n));
    CHECK_FAILS(c1, b1->ops->gram(b1, x, -1, K, g1, false), AWQ_ERR_INVALID_ARG, "gram");
    awq_backend_free(b1);
    awq_backend_free(b2);
    awq_ctx_free(c1);
    awq_ctx_free(c2);
    free(x), free(g1), free(g2), free(gr), free(a), free(b);
}

/* s = 1 through the scaled path is the plain pseudo-quantizer, bit for bit. */
static void test_identity_candidate(void) {
    const int64_t N = 48, K = 256;
    float *w = malloc(sizeof(float) * N * K), *q1 = malloc(sizeof(float) * N * K),
          *q2 = malloc(sizeof(float) * N * K), *s = malloc(sizeof(float) * K);
    float *xd = malloc(sizeof(float) * 4 * K);
    make_data(xd, 4, w, N, K, 0);
    for (int64_t k = 0; k < K; k++) s[k] = 1.0f;
    awq_ctx *ctx = awq_test_ctx(2);
    awq_backend *be = NULL;
    CHECK_OK(ctx, awq_backend_cpu_create(ctx, &be));
    awq_quant_params q = awq_quant_default_params();
    uint8_t failed = 1;
    CHECK_OK(ctx, awq_pseudo_quant_scaled(be, w, N, K, s, 1, &q, q1, &failed));
    CHECK(!failed);
    memcpy(q2, w, sizeof(float) * N * K);
    CHECK_OK(ctx, awq_pseudo_quant(be, q2, N, K, &q));
    CHECK_MSG(memcmp(q1, q2, sizeof(float) * N * K) == 0, "Q(W*1)/1 differs from Q(W)");
    awq_backend_free(be);
    awq_ctx_free(ctx);
    free(w), free(q1), free(q2), free(s), free(xd);
}

/* One synthetic linear: every candidate's loss by both forms, same pick. */
static void check_synth_linear(awq_ctx *ctx, int64_t R, int64_t N, int64_t K, int n_out) {
    awq_backend *be = NULL;
    CHECK_OK(ctx, awq_backend_cpu_create(ctx, &be));
    float *x = malloc(sizeof(float) * R * K), *w = malloc(sizeof(float) * N * K);
    float *wq = malloc(sizeof(float) * N * K), *s = malloc(sizeof(float) * K);
    float *xm = malloc(sizeof(float) * K), *wm = malloc(sizeof(float) * K);
    float *g = malloc(sizeof(float) * K * K);
    make_data(x, R, w, N, K, n_out);
    awq_quant_params q = awq_quant_default_params();
    for (int64_t k = 0; k < K; k++) {
        double acc = 0;
        for (int64_t r = 0; r < R; r++) acc += fabs(x[r * K + k]);
        xm[k] = (float)(acc / (double)R);
    }
    const float *wl[1] = {w};
    int64_t nr[1] = {N};
    awq_search_w_mean_ref(wl, nr, 1, K, q.group_size, wm);
    CHECK_OK(ctx, be->ops->gram(be, x, R, K, g, false));
    awq_gram_state gs = {g, NULL, malloc(sizeof(float) * N * K), malloc(sizeof(float) * N * K),
                         N, K, R};
    gs.negw = malloc(sizeof(float) * N * K);
    for (int64_t i = 0; i < N * K; i++) gs.negw[i] = -w[i];
    int best_d = -1, best_g = -1;
    double bd = INFINITY, bg = INFINITY, worst = 0;
    for (int i = 0; i < 20; i++) {
        awq_search_scales_ref(xm, wm, K, i / 20.0, true, s);
        uint8_t failed = 0;
        CHECK_OK(ctx, awq_pseudo_quant_scaled(be, w, N, K, s, 1, &q, wq, &failed));
        double ld = awq_gram_loss_direct_ref(x, R, w, wq, N, K), lg = 0;
        /* awq_gram_loss only needs the backend through awq_model: compute
         * its three steps with the ops directly */
        memcpy(gs.d, wq, sizeof(float) * N * K);
        CHECK_OK(ctx, be->ops->add(be, gs.d, gs.negw, N * K));
        CHECK_OK(ctx, be->ops->gemm(be, gs.d, g, AWQ_DT_F32, NULL, gs.h, N, K, K));
        CHECK_OK(ctx, be->ops->dot(be, gs.d, gs.h, N * K, &lg));
        lg /= (double)R * (double)N;
        double e = fabs(lg - ld) / ld;
        worst = e > worst ? e : worst;
        if (ld < bd) bd = ld, best_d = i;
        if (lg < bg) bg = lg, best_g = i;
        if (i == 7) {
            double lr = awq_gram_loss_ref(g, R, w, wq, N, K);
            CHECK_MSG(fabs(lr - ld) / ld < AWQ_TOL_GRAM_LOSS_REL, "gram ref %g vs direct %g",
                      lr, ld);
        }
    }
    CHECK_MSG(worst <= AWQ_TOL_GRAM_LOSS_REL, "R %lld N %lld K %lld: gram vs direct loss %g",
              (long long)R, (long long)N, (long long)K, worst);
    CHECK_MSG(best_d == best_g, "R %lld N %lld K %lld: direct picks %d, gram %d",
              (long long)R, (long long)N, (long long)K, best_d, best_g);
    printf("synthetic R %lld N %lld K %lld outliers %d: ratio %d/20 both, loss rel diff %.2g\n",
           (long long)R, (long long)N, (long long)K, n_out, best_d, worst);
    awq_backend_free(be);
    free(x), free(w), free(wq), free(s), free(xm), free(wm), free(g);
    free(gs.negw), free(gs.d), free(gs.h);
}

/* Captures of every layer of a model on embeddings of pseudo-random
 * tokens, propagated through the FP layers; the search on each layer with
 * the direct and the Gram form (and Gram with 2 threads). */
static void check_model(const char *dir, int64_t B, int64_t T, int *n_gram_groups) {
    awq_ctx *ctx = awq_test_ctx(1), *ctx2 = awq_test_ctx(2);
    awq_checkpoint *ck = NULL, *ck2 = NULL;
    awq_model *m = NULL, *m2 = NULL;
    awq_runtime_params rp = awq_runtime_default_params();
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    CHECK_OK(ctx, awq_model_open(ctx, ck, &rp, &m));
    CHECK_OK(ctx2, awq_checkpoint_open(ctx2, dir, &ck2));
    CHECK_OK(ctx2, awq_model_open(ctx2, ck2, &rp, &m2));
    if (!m || !m2) return;
    const awq_model_config *cfg = awq_model_get_config(m);
    const int64_t rows = B * T, H = cfg->hidden;
    int32_t *ids = malloc(sizeof(int32_t) * rows);
    for (int64_t i = 0; i < rows; i++) ids[i] = (int32_t)((g_rng = g_rng * 1664525u + 1013904223u) >> 8) % (int32_t)cfg->vocab;
    float *x = malloc(sizeof(float) * rows * H);
    CHECK_OK(ctx, awq_model_embed(m, ids, rows, x));
    awq_search_acts a, a2;
    CHECK_OK(ctx, awq_search_acts_create(m, B, T, 0, false, NULL, &a));
    CHECK_OK(ctx2, awq_search_acts_create(m2, B, T, 0, false, NULL, &a2));
    float *p = NULL;
    CHECK_OK(ctx, awq_act_store_get(a.st, AWQ_SLOT_X, 0, false, &p));
    memcpy(p, x, sizeof(float) * rows * H);
    CHECK_OK(ctx, awq_act_store_put(a.st, AWQ_SLOT_X, 0, p));
    awq_quantize_params pd = awq_quantize_default_params(), pg = pd;
    /* fp32 is the oracle; the bf16 search (the default) must pick the
     * same ratios on these inputs too */
    pd.precision = pg.precision = AWQ_PRECISION_FP32;
    pd.search_loss = AWQ_SEARCH_LOSS_DIRECT;
    pg.search_loss = AWQ_SEARCH_LOSS_GRAM;
    awq_quantize_params pb = awq_quantize_default_params();
    pb.precision = AWQ_PRECISION_BF16;
    /* the forms and precisions over every sequence (screening has its own
     * test, test_awq_screen.c) */
    pd.screen = pg.screen = pb.screen = 0;
    for (int64_t li = 0; li < cfg->n_layers; li++) {
        awq_layer *l = NULL, *l2 = NULL;
        CHECK_OK(ctx, awq_layer_load(m, li, &l));
        CHECK_OK(ctx2, awq_layer_load(m2, li, &l2));
        if (!l || !l2) break;
        CHECK_OK(ctx, awq_search_forward(m, l, &a, AWQ_SLOT_X, AWQ_SLOT_Y, true));
        /* same captures in the 2-thread store */
        for (int s = 0; li == 0 && s < AWQ_SLOT_COUNT; s++) {
            float *src = NULL, *dst = NULL;
            CHECK_OK(ctx, awq_act_store_get(a.st, s, 0, true, &src));
            CHECK_OK(ctx2, awq_act_store_get(a2.st, s, 0, false, &dst));
            memcpy(dst, src, sizeof(float) * rows * awq_act_store_cols(a.st, s));
            CHECK_OK(ctx2, awq_act_store_put(a2.st, s, 0, dst));
        }
        awq_layer_search sd, sg, sg2, sb;
        CHECK_OK(ctx, awq_search_layer(m, l, &a, &pd, &sd, NULL, 0, 0));
        CHECK_OK(ctx, awq_search_layer(m, l, &a, &pb, &sb, NULL, 0, 0));
        CHECK_OK(ctx, awq_search_layer(m, l, &a, &pg, &sg, NULL, 0, 0));
        /* the 2-thread run on the first layer only (test time) */
        if (li == 0) CHECK_OK(ctx2, awq_search_layer(m2, l2, &a2, &pg, &sg2, NULL, 0, 0));
        else memset(&sg2, 0, sizeof sg2);
        for (int gi = 0; gi < sd.n_groups; gi++) {
            if (!sd.used[gi]) continue;
            const awq_scale_group *grp = &cfg->arch->groups[gi];
            bool one = grp->block == AWQ_BLOCK_LINEAR;
            *n_gram_groups += one;
            CHECK_MSG(sd.rep[gi].ratio == sg.rep[gi].ratio && sd.rep[gi].duo == sg.rep[gi].duo,
                      "%s layer %lld %s: direct ratio %.2f, gram %.2f", dir, (long long)li,
                      sd.rep[gi].name, sd.rep[gi].ratio, sg.rep[gi].ratio);
            double e = fabs(sg.rep[gi].loss_best - sd.rep[gi].loss_best) / sd.rep[gi].loss_best;
            CHECK_MSG(e <= (one ? AWQ_TOL_GRAM_LOSS_REL : 0), "%s layer %lld %s: loss %g vs %g",
                      dir, (long long)li, sd.rep[gi].name, sg.rep[gi].loss_best,
                      sd.rep[gi].loss_best);
            CHECK(memcmp(sd.scales[gi], sg.scales[gi], sizeof(float) * sd.len[gi]) == 0);
            /* bf16's pick, by the fp32 oracle's own losses, is within
             * AWQ_TOL_BF16_PICK of fp32's best (it differs only where the
             * loss curve is that flat) */
            int ib = (int)lround(sb.rep[gi].ratio * pd.n_grid);
            CHECK(sd.n_cand[gi] == pd.n_grid && ib >= 0 && ib < sd.n_cand[gi]);
            if (ib >= 0 && ib < sd.n_cand[gi]) {
                double lf = sd.cand_loss[gi][ib], rel = (lf - sd.rep[gi].loss_best) /
                                                        sd.rep[gi].loss_best;
                CHECK_MSG(rel <= AWQ_TOL_BF16_PICK, "%s layer %lld %s: bf16 picks %.2f, %g "
                          "above fp32's best %.2f", dir, (long long)li, sd.rep[gi].name,
                          sb.rep[gi].ratio, rel, sd.rep[gi].ratio);
                if (sb.rep[gi].ratio != sd.rep[gi].ratio)
                    printf("%s layer %lld %s: bf16 picks %.2f, fp32 %.2f; fp32 loss of "
                           "bf16's pick %.3g%% above the best\n", dir, (long long)li,
                           sd.rep[gi].name, sb.rep[gi].ratio, sd.rep[gi].ratio, 100 * rel);
            }
            /* 1 vs 2 threads: the same bits */
            if (li == 0)
                CHECK(sg.rep[gi].loss_best == sg2.rep[gi].loss_best &&
                      sg.rep[gi].loss_rtn == sg2.rep[gi].loss_rtn);
            if (one)
                printf("%s layer %lld %s: ratio %.2f, loss direct %.9g gram %.9g\n", dir,
                       (long long)li, sd.rep[gi].name, sd.rep[gi].ratio, sd.rep[gi].loss_best,
                       sg.rep[gi].loss_best);
        }
        awq_layer_search_free(&sd);
        awq_layer_search_free(&sg);
        awq_layer_search_free(&sg2);
        awq_layer_search_free(&sb);
        CHECK_OK(ctx, awq_act_store_swap(a.st, AWQ_SLOT_X, AWQ_SLOT_Y));
        awq_layer_free(l);
        awq_layer_free(l2);
    }
    awq_search_acts_free(&a);
    awq_search_acts_free(&a2);
    awq_model_free(m);
    awq_model_free(m2);
    awq_checkpoint_free(ck);
    awq_checkpoint_free(ck2);
    awq_ctx_free(ctx);
    awq_ctx_free(ctx2);
    free(ids);
    free(x);
}

static void test_cost_model(void) {
    /* data/tiny-llama, default calibration (47 x 512 tokens): down
     * (N 256, K 768) and o (256 x 256) take the Gram form */
    CHECK(awq_gram_cost_model(24064, 24064, 256, 768, 21, 21).use_gram);
    CHECK(awq_gram_cost_model(24064, 24064, 256, 256, 21, 21).use_gram);
    /* Llama-2-7B down (4096 x 11008), 128 x 512 tokens: Gram */
    CHECK(awq_gram_cost_model(65536, 65536, 4096, 11008, 21, 21).use_gram);
    /* fewer tokens than K: direct */
    CHECK(!awq_gram_cost_model(512, 512, 256, 768, 21, 21).use_gram);
    /* offloaded 16-sequence chunks, a 28672-wide down (70B): G alone
     * would hold more than a chunk: direct */
    CHECK(!awq_gram_cost_model(65536, 8192, 8192, 28672, 21, 21).use_gram);
}

int main(void) {
    test_ops();
    test_identity_candidate();
    test_cost_model();
    awq_ctx *ctx = awq_test_ctx(2);
    check_synth_linear(ctx, 1024, 64, 256, 0);
    check_synth_linear(ctx, 1024, 96, 384, 3);
    check_synth_linear(ctx, 2048, 128, 200, 6); /* K % 128 != 0: a short group */
    awq_ctx_free(ctx);
    int n = 0;
    check_model(AWQ_TEST_DATA "/tiny-llama", 2, 128, &n);
    CHECK_EQ_INT(n, 6); /* down on each layer; v->o skipped (GQA) */
    char *tmp = awq_test_tmpdir("awq_gram_synth");
    awq_synth_params sp = awq_synth_default_params();
    sp.hidden = 128;
    sp.intermediate = 384;
    sp.n_layers = 2;
    sp.n_heads = 2;
    sp.n_kv_heads = 2;
    sp.vocab = 256;
    sp.max_pos = 128;
    sp.n_outliers = 4;
    sp.outlier_scale = 40;
    sp.force = true;
    awq_synth_result sr;
    awq_ctx *sc = awq_test_ctx(1);
    CHECK_OK(sc, awq_synth_write(sc, tmp, &sp, &sr));
    awq_ctx_free(sc);
    n = 0;
    check_model(tmp, 2, 64, &n);
    CHECK_EQ_INT(n, 4); /* v->o and down on both layers */
    free(tmp);
    return awq_test_summary();
}
