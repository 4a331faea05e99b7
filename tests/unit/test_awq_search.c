/* tests/unit/test_awq_search.c — the AWQ search's steps against hand
 * computations and invariants:
 *  - the scale formula (duo and plain), its sqrt(max*min) normalisation and
 *    the non-finite -> 1 rule, on hand-computed vectors;
 *  - the candidate order of each duo_scaling mode, and that "both" never
 *    ends above RTN's or the duo search's block loss;
 *  - w_mean (|W| over its group's max + 1e-6, averaged over all rows of the
 *    group's linears) on a hand-computed case;
 *  - which of the four groups run: v->o is skipped with GQA (tiny-llama:
 *    4 heads, 2 KV heads) and runs without it (a synthetic model);
 *  - apply-scale invariance: folding random positive scales into the norms
 *    and linears (no quantization) leaves the layer's output unchanged to
 *    1e-5, and the captured inputs divided by s reproduce the scaled
 *    linears' outputs. */
#include "awq_test.h"
#include "core/core.h"
#include "model/forward.h"
#include "quant/awq_search.h"

#include "awqkit/synth.h"

/* Whole-slot copies in and out of the (possibly chunked/offloaded) store;
 * CPU backend, so backend memory is host memory. */
static void put_slot(awq_ctx *ctx, awq_search_acts *a, int slot, const float *src) {
    int64_t cols = awq_act_store_cols(a->st, slot);
    for (int64_t c = 0; c < awq_act_store_n_chunks(a->st); c++) {
        float *p;
        CHECK_OK(ctx, awq_act_store_get(a->st, slot, c, false, &p));
        memcpy(p, src + awq_act_store_chunk_row0(a->st, c) * cols,
               sizeof(float) * awq_act_store_chunk_rows(a->st, c) * cols);
        CHECK_OK(ctx, awq_act_store_put(a->st, slot, c, p));
    }
}

static void get_slot(awq_ctx *ctx, awq_search_acts *a, int slot, float *dst) {
    int64_t cols = awq_act_store_cols(a->st, slot);
    for (int64_t c = 0; c < awq_act_store_n_chunks(a->st); c++) {
        float *p;
        CHECK_OK(ctx, awq_act_store_get(a->st, slot, c, true, &p));
        memcpy(dst + awq_act_store_chunk_row0(a->st, c) * cols, p,
               sizeof(float) * awq_act_store_chunk_rows(a->st, c) * cols);
    }
}

static void test_scales_formula(void) {
    const float xm[4] = {1.0f, 4.0f, 0.25f, 2.0f};
    const float wm[4] = {0.5f, 0.5f, 1.0f, 0.25f};
    float s[4];
    /* ratio 0.5, duo: v = sqrt(x) / (sqrt(w) + 1e-4) */
    awq_search_scales_ref(xm, wm, 4, 0.5, true, s);
    double v[4], mx = 0, mn = 1e30;
    for (int k = 0; k < 4; k++) {
        v[k] = sqrt(xm[k]) / (sqrt(wm[k]) + 1e-4);
        if (v[k] > mx) mx = v[k];
        if (v[k] < mn) mn = v[k];
    }
    for (int k = 0; k < 4; k++) CHECK_NEAR(s[k], v[k] / sqrt(mx * mn), 1e-5);
    /* normalised: max * min == 1 */
    float smax = 0, smin = 1e30f;
    for (int k = 0; k < 4; k++) {
        smax = fmaxf(smax, s[k]);
        smin = fminf(smin, s[k]);
    }
    CHECK_NEAR(smax * smin, 1.0, 1e-5);
    /* ratio 0 without duo: all ones */
    awq_search_scales_ref(xm, wm, 4, 0.0, false, s);
    for (int k = 0; k < 4; k++) CHECK_NEAR(s[k], 1.0, 0);
    /* plain x^r */
    awq_search_scales_ref(xm, wm, 4, 1.0, false, s);
    /* x = 1, 4, .25, 2 -> / sqrt(4 * .25) = 1 */
    CHECK_NEAR(s[0], 1.0, 1e-6);
    CHECK_NEAR(s[1], 4.0, 1e-6);
    CHECK_NEAR(s[2], 0.25, 1e-6);
    /* clamp at 1e-4: x = 0 -> 1e-4 before normalisation */
    const float xz[2] = {0.0f, 1.0f}, wz[2] = {1.0f, 1.0f};
    awq_search_scales_ref(xz, wz, 2, 1.0, false, s);
    CHECK_NEAR(s[0], 1e-4 / sqrt(1e-4), 1e-7);
    CHECK_NEAR(s[1], 1.0 / sqrt(1e-4), 1e-3);
    /* non-finite entries -> 1, as AutoAWQ (scales[isinf|isnan] = 1): with
     * x = inf the normaliser is inf, inf/inf is NaN -> 1, and 1/inf = 0
     * stays (finite). */
    const float xi[2] = {INFINITY, 1.0f};
    awq_search_scales_ref(xi, wz, 2, 1.0, false, s);
    CHECK(s[0] == 1.0f && s[1] == 0.0f);
}

/* The candidate order: on/off r/n_grid; both (llm-compressor) n_grid/2
 * ratios, plain before duo at each. */
static void test_candidates(void) {
    double r;
    bool duo;
    CHECK_EQ_INT(awq_search_n_candidates(AWQ_DUO_ON, 20), 20);
    CHECK_EQ_INT(awq_search_n_candidates(AWQ_DUO_OFF, 20), 20);
    CHECK_EQ_INT(awq_search_n_candidates(AWQ_DUO_BOTH, 20), 20);
    CHECK_EQ_INT(awq_search_n_candidates(AWQ_DUO_BOTH, 5), 4);
    CHECK_EQ_INT(awq_search_n_candidates(AWQ_DUO_BOTH, 1), 0);
    awq_search_candidate(AWQ_DUO_ON, 20, 7, &r, &duo);
    CHECK(r == 7.0 / 20.0 && duo);
    awq_search_candidate(AWQ_DUO_OFF, 20, 0, &r, &duo);
    CHECK(r == 0.0 && !duo);
    const double want_r[6] = {0, 0, 0.1, 0.1, 0.2, 0.2};
    for (int i = 0; i < 6; i++) {
        awq_search_candidate(AWQ_DUO_BOTH, 20, i, &r, &duo);
        CHECK_NEAR(r, want_r[i], 1e-15);
        CHECK(duo == (i % 2 == 1));
    }
    awq_search_candidate(AWQ_DUO_BOTH, 20, 19, &r, &duo);
    CHECK(r == 0.9 && duo);
    awq_search_candidate(AWQ_DUO_BOTH, 5, 3, &r, &duo);
    CHECK(r == 0.5 && duo);
    CHECK(!strcmp(awq_duo_scaling_name(AWQ_DUO_BOTH), "both"));
}

static void test_w_mean(void) {
    /* two linears (2 rows, 1 row) of K = 4, group 2 */
    const float w1[8] = {1, -2, 3, 0, /**/ -4, 4, 0, 1};
    const float w2[4] = {2, 1, -1, -1};
    const float *w[2] = {w1, w2};
    int64_t rows[2] = {2, 1};
    float m[4];
    awq_search_w_mean_ref(w, rows, 2, 4, 2, m);
    const double e = 1e-6;
    double ex[4] = {(1 / (2 + e) + 4 / (4 + e) + 2 / (2 + e)) / 3,
                    (2 / (2 + e) + 4 / (4 + e) + 1 / (2 + e)) / 3,
                    (3 / (3 + e) + 0 / (1 + e) + 1 / (1 + e)) / 3,
                    (0 / (3 + e) + 1 / (1 + e) + 1 / (1 + e)) / 3};
    for (int k = 0; k < 4; k++) CHECK_NEAR(m[k], ex[k], 1e-6);
}

/* Load layer 0, capture its inputs on random hidden states, check the
 * groups that apply, then fold random scales and check invariance. With
 * chunk_seqs 1 and offload the same runs through the compressed spill
 * file, one sequence per chunk. */
static void check_model(awq_ctx *ctx, const char *dir, int want_groups, int64_t chunk_seqs,
                        bool offload) {
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    awq_runtime_params rp = awq_runtime_default_params();
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    CHECK_OK(ctx, awq_model_open(ctx, ck, &rp, &m));
    if (!m) return;
    const awq_model_config *cfg = awq_model_get_config(m);
    const int64_t B = 2, T = 16, rows = B * T, H = cfg->hidden;
    float *x = malloc(sizeof(float) * rows * H), *y = malloc(sizeof(float) * rows * H),
          *y2 = malloc(sizeof(float) * rows * H);
    uint32_t r = 1;
    for (int64_t i = 0; i < rows * H; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
    awq_layer *l = NULL;
    CHECK_OK(ctx, awq_layer_load(m, 0, &l));
    awq_search_acts caps;
    CHECK_OK(ctx, awq_search_acts_create(m, B, T, chunk_seqs, offload, getenv("AWQ_TEST_TMP"),
                                         &caps));
    CHECK_EQ_INT(awq_act_store_n_chunks(caps.st), chunk_seqs ? B / chunk_seqs : 1);
    put_slot(ctx, &caps, AWQ_SLOT_X, x);
    CHECK_OK(ctx, awq_search_forward(m, l, &caps, AWQ_SLOT_X, AWQ_SLOT_Y, true));
    get_slot(ctx, &caps, AWQ_SLOT_Y, y);

    /* The report's forward and MSE over the first sequence only: its rows
     * are the full forward's (GEMM rows do not depend on how many there
     * are, up to the blocking's rounding), the second sequence's rows are
     * left untouched, and the MSE covers only the first sequence's rows. */
    {
        float *t = malloc(sizeof(float) * rows * H);
        for (int64_t i = 0; i < rows * H; i++) t[i] = 1e6f;
        put_slot(ctx, &caps, AWQ_SLOT_TMP, t);
        CHECK_OK(ctx, awq_search_forward_first(m, l, &caps, AWQ_SLOT_X, AWQ_SLOT_TMP, false, 1));
        get_slot(ctx, &caps, AWQ_SLOT_TMP, t);
        double worst = 0, sse = 0;
        for (int64_t i = 0; i < T * H; i++) {
            worst = fmax(worst, fabs((double)t[i] - y[i]) / (fabs((double)y[i]) + 1e-3));
            sse += ((double)t[i] - y[i]) * ((double)t[i] - y[i]);
        }
        CHECK_MSG(worst < 1e-5, "forward over the first sequence: rel %g", worst);
        bool untouched = true;
        for (int64_t i = T * H; i < rows * H; i++) untouched = untouched && t[i] == 1e6f;
        CHECK_MSG(untouched, "forward over the first sequence wrote the second");
        double v1 = -1, v2 = -1;
        CHECK_OK(ctx, awq_search_slot_mse_first(m, &caps, AWQ_SLOT_TMP, AWQ_SLOT_Y, 1, &v1));
        CHECK_NEAR(v1, sse / (double)(T * H), 1e-9 + 1e-6 * sse / (double)(T * H));
        CHECK_OK(ctx, awq_search_slot_mse(m, &caps, AWQ_SLOT_TMP, AWQ_SLOT_Y, &v2));
        CHECK(v2 > 1e9); /* the sentinel rows count there */
        free(t);
    }

    /* Search with a coarse grid: which groups ran. */
    awq_quantize_params p = awq_quantize_default_params();
    p.n_grid = 2;
    p.screen = 0; /* every candidate on every sequence: the exact comparisons
                     below (screening: test_awq_screen.c) */
    awq_layer_search s;
    CHECK_OK(ctx, awq_search_layer(m, l, &caps, &p, &s, NULL, 0, 0));
    int used = 0;
    for (int g = 0; g < s.n_groups; g++) used += s.used[g];
    CHECK_EQ_INT(used, want_groups);
    if (want_groups == 3) CHECK(!s.used[1]); /* GQA: v -> o skipped */
    for (int g = 0; g < s.n_groups; g++)
        if (s.used[g]) CHECK(s.rep[g].searched && isfinite(s.rep[g].loss_best));

    /* duo_scaling both with n_grid 4 tries ratios {0, .5} of each family:
     * a superset of the duo search above (n_grid 2: ratios 0, .5) that also
     * holds s = 1, so its loss can end neither above RTN's nor above the
     * duo search's. Same inputs, same arithmetic: exact comparisons. */
    {
        awq_quantize_params pb = p;
        pb.duo_scaling = AWQ_DUO_BOTH;
        pb.n_grid = 4;
        awq_layer_search sb;
        CHECK_OK(ctx, awq_search_layer(m, l, &caps, &pb, &sb, NULL, 0, 0));
        for (int g = 0; g < sb.n_groups; g++) {
            CHECK_EQ_INT(sb.used[g], s.used[g]);
            if (!sb.used[g]) continue;
            CHECK(sb.rep[g].loss_rtn == s.rep[g].loss_rtn);
            CHECK_MSG(sb.rep[g].loss_best <= sb.rep[g].loss_rtn, "group %d: both %g > RTN %g",
                      g, sb.rep[g].loss_best, sb.rep[g].loss_rtn);
            CHECK_MSG(sb.rep[g].loss_best <= s.rep[g].loss_best, "group %d: both %g > duo %g",
                      g, sb.rep[g].loss_best, s.rep[g].loss_best);
            CHECK(sb.rep[g].ratio == 0.0 || sb.rep[g].ratio == 0.5);
            /* plain ratio 0 is the identity */
            if (!sb.rep[g].duo && sb.rep[g].ratio == 0.0)
                CHECK(sb.rep[g].loss_best == sb.rep[g].loss_rtn);
        }
        awq_layer_search_free(&sb);
    }

    /* Replace the searched scales by random positive ones (far from 1) and
     * fold them in: the layer function must not change. */
    for (int g = 0; g < s.n_groups; g++) {
        if (!s.used[g]) continue;
        for (int64_t k = 0; k < s.len[g]; k++) {
            r = r * 1664525u + 1013904223u;
            s.scales[g][k] = 0.25f + 3.75f * (float)(r >> 8) / 16777216.0f;
        }
    }
    /* Output of o_proj on the captured input, before folding. */
    int64_t qd = cfg->n_heads * cfg->head_dim;
    float *o1 = malloc(sizeof(float) * rows * H), *o2 = malloc(sizeof(float) * rows * H);
    float *oin = malloc(sizeof(float) * rows * qd);
    get_slot(ctx, &caps, AWQ_SLOT_CAP + AWQ_CAPTURE_O_IN, oin);
    CHECK_OK(ctx, awq_layer_linear(l, AWQ_LIN_O, oin, o1, rows));
    CHECK_OK(ctx, awq_search_apply(m, l, &caps, &s));
    CHECK_OK(ctx, awq_search_forward(m, l, &caps, AWQ_SLOT_X, AWQ_SLOT_TMP, false));
    get_slot(ctx, &caps, AWQ_SLOT_TMP, y2);
    double num = 0, den = 0;
    for (int64_t i = 0; i < rows * H; i++) {
        num += ((double)y2[i] - y[i]) * ((double)y2[i] - y[i]);
        den += (double)y[i] * y[i];
    }
    CHECK_MSG(sqrt(num / den) < 1e-5, "layer output changed by folding scales: rel %g",
              sqrt(num / den));
    /* The divided capture through the scaled o_proj gives the same output
     * (when v->o ran; otherwise o_proj is unchanged too). */
    get_slot(ctx, &caps, AWQ_SLOT_CAP + AWQ_CAPTURE_O_IN, oin);
    CHECK_OK(ctx, awq_layer_linear(l, AWQ_LIN_O, oin, o2, rows));
    free(oin);
    num = den = 0;
    for (int64_t i = 0; i < rows * H; i++) {
        num += ((double)o2[i] - o1[i]) * ((double)o2[i] - o1[i]);
        den += (double)o1[i] * o1[i];
    }
    CHECK_MSG(sqrt(num / den) < 1e-5, "o_proj on scaled capture: rel %g", sqrt(num / den));
        free(o1);
    free(o2);
    awq_layer_search_free(&s);
    awq_search_acts_free(&caps);
    awq_layer_free(l);
    awq_model_free(m);
    awq_checkpoint_free(ck);
    free(x);
    free(y);
    free(y2);
}

int main(void) {
    test_scales_formula();
    test_w_mean();
    test_candidates();
    awq_ctx *ctx = awq_test_ctx(2);
    check_model(ctx, AWQ_TEST_DATA "/tiny-llama", 3, 0, false);
    check_model(ctx, AWQ_TEST_DATA "/tiny-llama", 3, 1, true);
    char *tmp = awq_test_tmpdir("awq_search_synth");
    awq_synth_params sp = awq_synth_default_params();
    sp.arch = "qwen2"; /* q/k/v biases: the v->o fold divides v's bias too */
    sp.hidden = 128;
    sp.intermediate = 256;
    sp.n_layers = 1;
    sp.n_heads = 2;
    sp.n_kv_heads = 2;
    sp.vocab = 64;
    sp.max_pos = 64;
    sp.n_outliers = 2;
    sp.outlier_scale = 10;
    sp.force = true;
    awq_synth_result sr;
    CHECK_OK(ctx, awq_synth_write(ctx, tmp, &sp, &sr));
    check_model(ctx, tmp, 4, 0, false);
    check_model(ctx, tmp, 4, 1, false);
    free(tmp);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
