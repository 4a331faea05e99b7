/* tests/unit/test_clip.c — the shared quantizer math (lib/quant/qmath.h),
 * the clip search, its clamp, and the batched candidate pseudo-quantizer
 * (lib/quant/clip.c) on the CPU:
 *  - qmath's per-group functions and fp16 conversion are bit-identical to
 *    the oracle quantizer (awq_quantize_group_ref) and to core's
 *    awq_f32_to_f16 / awq_f16_to_f32 (what makes the CUDA kernels exact);
 *  - the clip search on hand-computed cases (errors and choice);
 *  - the clip search against a naive AutoAWQ-style implementation written
 *    here (double dot products of x·q_w and x·w, the quant helper's
 *    awq_pseudo_quantize_ref on the clamped group);
 *  - the threaded CPU path bit-identical to the oracle for 1..3 threads,
 *    partial groups, per-channel groups, odd token counts;
 *  - batched Q(W·s)/s equal to scale / pseudo-quantize / unscale;
 *  - errors name the weight, the group or the candidate. */
#include "awq_test.h"

#include "backend/backend.h"
#include "core/core.h"
#include "quant/clip.h"
#include "quant/qmath.h"

#include <stdint.h>

/* ------------------------------------------------------------ random */

static uint64_t rng = 0x9e3779b97f4a7c15ull; /* awq_test_rand_* (awq_test.h) */

/* A group of `n` weights of kind `kind` (shapes that exercise every branch
 * of the quantizer). */
static void fill_group(float *w, int n, int kind) {
    for (int i = 0; i < n; i++) {
        float r = awq_test_rand_normal(&rng);
        switch (kind) {
        case 0: w[i] = 0.05f * r; break;                      /* typical */
        case 1: w[i] = 0.01f + fabsf(r) * 0.02f; break;       /* all positive */
        case 2: w[i] = -0.3f - fabsf(r); break;               /* all negative */
        case 3: w[i] = 0.125f; break;                         /* constant */
        case 4: w[i] = 1e-7f * r; break;                      /* below the floor */
        case 5: w[i] = (i % 3 == 0) ? 0.0f : (i % 3 == 1 ? -0.0f : 0.2f * r); break;
        case 6: w[i] = 50000.0f * r; break;                   /* large scales */
        case 7: w[i] = (i == 0) ? 3.0f : 0.01f * r; break;    /* one outlier */
        default: w[i] = (float)((int)(r * 4.0f)) * 0.5f; break; /* ties at .5 */
        }
    }
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0; }

/* ------------------------------------------------ qmath vs the oracle */

static void test_fp16_conversion(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = awq_f16_to_f32((uint16_t)h), b = awq_qm_f16_to_f32((uint16_t)h);
        if (!same_bits(a, b)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    bad = 0;
    /* a sweep over all exponents with many mantissas, plus boundaries */
    for (uint64_t u = 0; u < 0x100000000ull; u += 4093) {
        float f;
        uint32_t v = (uint32_t)u;
        memcpy(&f, &v, 4);
        if (awq_f32_to_f16(f) != awq_qm_f32_to_f16(f)) bad++;
    }
    const uint32_t edges[] = {0x33000000u, 0x33000001u, 0x337fffffu, 0x38800000u, 0x387fffffu,
                              0x38000000u, 0x477fefffu, 0x477ff000u, 0x477fe000u, 0x7f800000u,
                              0x7fc00000u, 0x80000000u, 0xb3000001u, 0x3f800000u, 0x3f801000u,
                              0x3f803000u, 0x3f802000u};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(edges); i++) {
        float f;
        memcpy(&f, &edges[i], 4);
        if (awq_f32_to_f16(f) != awq_qm_f32_to_f16(f)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

/* qmath's functions composed like the kernels == awq_quantize_group_ref. */
static void test_qmath_matches_oracle(void) {
    static const int bits_list[] = {2, 3, 4, 8};
    static const int lens[] = {1, 7, 32, 128};
    float w[128];
    uint8_t q_ref[128];
    int mismatches = 0, checked = 0, failures_agree = 0;
    for (int kind = 0; kind < 9; kind++)
        for (size_t bi = 0; bi < 4; bi++)
            for (int sym = 0; sym < 2; sym++)
                for (size_t li = 0; li < 4; li++)
                    for (int rep = 0; rep < 6; rep++) {
                        const int n = lens[li], bits = bits_list[bi];
                        fill_group(w, n, kind);
                        uint16_t h;
                        uint8_t z;
                        awq_status s = awq_quantize_group_ref(w, n, bits, sym, &h, &z, q_ref);
                        /* the kernels' order: stats in any order (reverse
                         * here), then params, codes, dequantized values */
                        awq_qm_stats st;
                        awq_qm_stats_init(&st, w[n - 1]);
                        for (int i = n - 2; i >= 0; i--) awq_qm_stats_add(&st, w[i]);
                        awq_qm_group gp;
                        int ok = !st.bad && awq_qm_params(&st, bits, sym, &gp);
                        if (s != AWQ_OK) {
                            failures_agree += !ok;
                            mismatches += ok;
                            continue;
                        }
                        checked++;
                        if (!ok || gp.h != h || gp.z != z) {
                            mismatches++;
                            continue;
                        }
                        for (int i = 0; i < n; i++) {
                            int c = awq_qm_code(w[i], &gp, bits, sym);
                            float d = awq_qm_pseudo(w[i], &gp, bits, sym);
                            float dref = (float)((int)q_ref[i] - (int)z) * awq_f16_to_f32(h);
                            if (c != q_ref[i] || !same_bits(d, dref)) mismatches++;
                        }
                    }
    CHECK_EQ_INT(mismatches, 0);
    CHECK(checked > 1000);
    CHECK(failures_agree > 0); /* kind 6 overflows FP16 at 2-3 bits */

    /* non-finite input */
    float nanw[3] = {0.1f, NAN, 0.2f};
    awq_qm_stats st;
    awq_qm_stats_init(&st, nanw[0]);
    awq_qm_stats_add(&st, nanw[1]);
    awq_qm_stats_add(&st, nanw[2]);
    CHECK(st.bad);
    float infw = INFINITY;
    awq_qm_stats_init(&st, infw);
    CHECK(st.bad);
}

/* pseudo-quantize of whole tensors: qmath composition == the oracle. */
static void test_pseudo_whole(awq_ctx *ctx, awq_backend *be) {
    const int64_t N = 13, K = 200;
    float *w = awq_alloc((size_t)(N * K), 4), *a = awq_alloc((size_t)(N * K), 4);
    float *b = awq_alloc((size_t)(N * K), 4);
    for (int64_t i = 0; i < N * K; i++) w[i] = 0.1f * awq_test_rand_normal(&rng);
    const int gs_list[] = {32, 64, 128, -1, 48};
    for (size_t gi = 0; gi < AWQ_ARRAY_LEN(gs_list); gi++)
        for (int sym = 0; sym < 2; sym++) {
            awq_quant_params q = awq_quant_default_params();
            q.group_size = gs_list[gi];
            q.sym = sym;
            CHECK_OK(ctx, awq_pseudo_quantize_ref(ctx, "w", w, a, N, K, &q));
            memcpy(b, w, (size_t)(N * K) * 4u);
            CHECK_OK(ctx, awq_pseudo_quant(be, b, N, K, &q));
            CHECK(memcmp(a, b, (size_t)(N * K) * 4u) == 0);
        }
    awq_free(w);
    awq_free(a);
    awq_free(b);
}

/* ------------------------------------------------------ hand-computed */

static void test_clip_hand(awq_ctx *ctx) {
    /* One group of 4, 2-bit asymmetric, n_grid 4, 2 steps (1.0, 0.75).
     * step 0: mv 8, range 9, scale 3, zero 0: q_w = [9, 0, 0, 0],
     *         d = [1, -1, -0.5, 1]
     * step 1: mv 6, w = [6, 1, .5, -1], range 7, scale f16(7/3) =
     *         2.333984375, zero 0: q_w = [3 * 2.333984375 = 7.001953125, 0,
     *         0, 0], d = [-0.998046875, -1, -0.5, 1] */
    const float w[4] = {8.0f, 1.0f, 0.5f, -1.0f};
    const float x1[4] = {1, 0, 0, 0};
    const float x2[8] = {1, 0, 0, 0, 0, 1, 1, 1};
    const float x0[8] = {0};
    awq_quant_params q = awq_quant_default_params();
    q.bits = 2;
    q.group_size = 4;
    float mv;
    double errs[2];
    CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x1, 1, 4, 1, &q, 4, 2, &mv, errs));
    CHECK(errs[0] == 1.0);
    CHECK(errs[1] == 0.998046875 * 0.998046875);
    CHECK(mv == 6.0f);
    /* two tokens: e = [1, -0.5] then [-0.998046875, -0.5] */
    CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x2, 1, 4, 2, &q, 4, 2, &mv, errs));
    CHECK(errs[0] == 0.625);
    CHECK(errs[1] == (0.998046875 * 0.998046875 + 0.25) / 2.0);
    CHECK(mv == 6.0f);
    /* all errors equal (x = 0): the first step, mv = max|w|, wins */
    CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x0, 1, 4, 2, &q, 4, 2, &mv, errs));
    CHECK(errs[0] == 0.0 && errs[1] == 0.0);
    CHECK(mv == 8.0f);
    /* no steps: nothing is clipped */
    CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x1, 1, 4, 1, &q, 4, 0, &mv, NULL));
    CHECK(mv == 8.0f);
    /* the factor is rounded once to fp32 as torch does */
    CHECK(awq_qm_clip_factor(3, 20) == (float)(1.0 - 3.0 / 20.0));
    CHECK(awq_qm_clip_max(2.0f, 5, 20) == 2.0f * 0.75f);
}

/* --------------------------------------------- naive implementation */

/* AutoAWQ's _compute_best_clip, straightforwardly: per (row, group, step)
 * clamp, pseudo-quantize (the quant helper's oracle on a 1-row tensor),
 * org_out and cur_out as double dot products, err = mean (cur - org)^2. */
static void naive_clip(awq_ctx *ctx, const float *w, const float *x, int64_t N, int64_t K,
                       int64_t T, const awq_quant_params *q, int n_grid, int n_steps,
                       double *errs) {
    int64_t gl = awq_group_len(K, q->group_size), G = awq_n_groups(K, q->group_size);
    float *cw = awq_alloc((size_t)gl, 4), *qw = awq_alloc((size_t)gl, 4);
    awq_quant_params q1 = *q;
    q1.group_size = -1;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            int64_t k0 = g * gl, len = AWQ_MIN(gl, K - k0);
            const float *wg = w + n * K + k0;
            float org = 0.0f;
            for (int64_t k = 0; k < len; k++) org = fmaxf(org, fabsf(wg[k]));
            for (int s = 0; s < n_steps; s++) {
                float mv = org * (float)(1.0 - (double)s / n_grid);
                for (int64_t k = 0; k < len; k++)
                    cw[k] = wg[k] > mv ? mv : (wg[k] < -mv ? -mv : wg[k]);
                if (awq_pseudo_quantize_ref(ctx, "naive", cw, qw, 1, len, &q1) != AWQ_OK) {
                    errs[((int64_t)s * N + n) * G + g] = NAN;
                    continue;
                }
                double acc = 0.0;
                for (int64_t t = 0; t < T; t++) {
                    double o = 0.0, c = 0.0;
                    for (int64_t k = 0; k < len; k++) {
                        o += (double)x[t * K + k0 + k] * wg[k];
                        c += (double)x[t * K + k0 + k] * qw[k];
                    }
                    acc += (c - o) * (c - o);
                }
                errs[((int64_t)s * N + n) * G + g] = acc / (double)T;
            }
        }
    awq_free(cw);
    awq_free(qw);
}

static void make_case(float *w, float *x, int64_t N, int64_t K, int64_t T) {
    for (int64_t i = 0; i < N * K; i++) {
        float r = awq_test_rand_normal(&rng);
        /* heavy tails: some groups have outliers clipping helps with */
        w[i] = (awq_test_rand_u32(&rng) % 97 == 0) ? 0.5f * r : 0.02f * r;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t k = 0; k < K; k++)
            x[t * K + k] = awq_test_rand_normal(&rng) * (1.0f + (float)(k % 7)); /* salient channels */
}

static void test_clip_vs_naive(awq_ctx *ctx) {
    const int64_t N = 24, K = 192, T = 70;
    const int n_grid = 20, n_steps = 10;
    float *w = awq_alloc((size_t)(N * K), 4), *x = awq_alloc((size_t)(T * K), 4);
    make_case(w, x, N, K, T);
    const int gs_list[] = {64, -1, 128};
    for (size_t gi = 0; gi < AWQ_ARRAY_LEN(gs_list); gi++)
        for (int sym = 0; sym < 2; sym++) {
            awq_quant_params q = awq_quant_default_params();
            q.group_size = gs_list[gi];
            q.sym = sym;
            const int64_t G = awq_n_groups(K, q.group_size);
            float *mv = awq_alloc((size_t)(N * G), 4);
            double *e_ref = awq_alloc((size_t)(n_steps * N * G), 8);
            double *e_nv = awq_alloc((size_t)(n_steps * N * G), 8);
            CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x, N, K, T, &q, n_grid, n_steps, mv, e_ref));
            naive_clip(ctx, w, x, N, K, T, &q, n_grid, n_steps, e_nv);
            int far = 0, agree = 0, worse = 0;
            for (int64_t i = 0; i < n_steps * N * G; i++) {
                double tol = 1e-4 * fabs(e_nv[i]) + 1e-12;
                if (!(fabs(e_ref[i] - e_nv[i]) <= tol)) far++;
            }
            for (int64_t i = 0; i < N * G; i++) {
                const int64_t n = i / G, g = i % G;
                float org = 0.0f;
                for (int64_t k = g * awq_group_len(K, q.group_size);
                     k < AWQ_MIN(K, (g + 1) * awq_group_len(K, q.group_size)); k++)
                    org = fmaxf(org, fabsf(w[n * K + k]));
                int best = -1, mine = -1;
                double be = INFINITY;
                for (int s = 0; s < n_steps; s++) {
                    double e = e_nv[((int64_t)s * N + n) * G + g];
                    if (e < be) {
                        be = e;
                        best = s;
                    }
                    if (awq_qm_clip_max(org, s, n_grid) == mv[i]) mine = s;
                }
                if (mine == best) agree++;
                /* a different choice must be a near tie in the naive errors */
                if (mine < 0 || e_nv[((int64_t)mine * N + n) * G + g] > be * (1.0 + 1e-4) + 1e-12)
                    worse++;
            }
            CHECK_EQ_INT(far, 0);
            CHECK_EQ_INT(worse, 0);
            CHECK_MSG(agree >= (int)(N * G) * 9 / 10, "agree %d of %lld", agree,
                      (long long)(N * G));
            awq_free(mv);
            awq_free(e_ref);
            awq_free(e_nv);
        }
    awq_free(w);
    awq_free(x);
}

/* Clipping should reduce the error on outlier groups at 4 bits: sanity of
 * the whole search (the chosen step's error <= step 0's, strictly for
 * some). */
static void test_clip_helps(awq_ctx *ctx) {
    const int64_t N = 16, K = 128, T = 64;
    float *w = awq_alloc((size_t)(N * K), 4), *x = awq_alloc((size_t)(T * K), 4);
    make_case(w, x, N, K, T);
    awq_quant_params q = awq_quant_default_params();
    const int64_t G = 1;
    float mv[16];
    double *errs = awq_alloc((size_t)(10 * N * G), 8);
    CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x, N, K, T, &q, 20, 10, mv, errs));
    int improved = 0, ok = 1;
    for (int64_t n = 0; n < N; n++) {
        double e0 = errs[n], best = e0;
        for (int s = 1; s < 10; s++) best = fmin(best, errs[(int64_t)s * N + n]);
        ok &= best <= e0;
        improved += best < e0;
    }
    CHECK(ok);
    CHECK(improved > 0);
    awq_free(w);
    awq_free(x);
    awq_free(errs);
}

/* -------------------------------------------- threaded == the oracle */

static void test_clip_cpu_exact(void) {
    struct {
        int64_t N, K, T;
        int gs, bits, sym, n_grid, n_steps;
    } cases[] = {
        {8, 128, 64, 128, 4, 0, 20, 10},  {5, 100, 33, 32, 4, 0, 20, 10},
        {7, 96, 130, -1, 3, 1, 20, 10},   {3, 64, 1, 64, 2, 0, 20, 10},
        {9, 72, 300, 24, 8, 1, 10, 5},    {4, 256, 129, 128, 4, 1, 20, 20},
    };
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(cases); ci++) {
        const int64_t N = cases[ci].N, K = cases[ci].K, T = cases[ci].T;
        awq_quant_params q = awq_quant_default_params();
        q.group_size = cases[ci].gs;
        q.bits = cases[ci].bits;
        q.sym = cases[ci].sym;
        const int64_t G = awq_n_groups(K, q.group_size);
        float *w = awq_alloc((size_t)(N * K), 4), *x = awq_alloc((size_t)(T * K), 4);
        make_case(w, x, N, K, T);
        const int64_t ne = cases[ci].n_steps * N * G;
        float *a = awq_alloc((size_t)(N * G), 4), *b = awq_alloc((size_t)(N * G), 4);
        double *ea = awq_alloc((size_t)ne, 8), *eb = awq_alloc((size_t)ne, 8);
        awq_ctx *c1 = awq_test_ctx(1);
        CHECK_OK(c1, awq_clip_search_ref(c1, w, x, N, K, T, &q, cases[ci].n_grid,
                                         cases[ci].n_steps, a, ea));
        for (int nt = 1; nt <= 3; nt++) {
            awq_ctx *c = awq_test_ctx(nt);
            awq_backend *be = NULL;
            CHECK_OK(c, awq_backend_cpu_create(c, &be));
            memset(b, 0xff, (size_t)(N * G) * 4u);
            memset(eb, 0xff, (size_t)ne * 8u);
            CHECK_OK(c, awq_clip_search_ex(be, w, x, N, K, T, &q, cases[ci].n_grid,
                                           cases[ci].n_steps, b, eb));
            CHECK_MSG(memcmp(a, b, (size_t)(N * G) * 4u) == 0, "case %zu threads %d", ci, nt);
            CHECK_MSG(memcmp(ea, eb, (size_t)ne * 8u) == 0, "errors: case %zu threads %d", ci,
                      nt);
            /* the plain entry point gives the same choice */
            memset(b, 0xff, (size_t)(N * G) * 4u);
            CHECK_OK(c, awq_clip_search(be, w, x, N, K, T, &q, cases[ci].n_grid,
                                        cases[ci].n_steps, b));
            CHECK(memcmp(a, b, (size_t)(N * G) * 4u) == 0);
            awq_backend_free(be);
            awq_ctx_free(c);
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

/* ---------------------------------------------------------- apply */

static void test_clip_apply(awq_ctx *ctx, awq_backend *be) {
    const int64_t N = 3, K = 10;
    float w[30], mv[9];
    for (int i = 0; i < 30; i++) w[i] = (float)(i - 15) * 0.25f;
    for (int i = 0; i < 9; i++) mv[i] = 0.5f + 0.25f * (float)i;
    float want[30];
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) {
            float m = mv[n * 3 + k / 4], v = w[n * K + k];
            want[n * K + k] = v > m ? m : (v < -m ? -m : v);
        }
    CHECK_OK(ctx, awq_clip_apply(be, w, N, K, 4, mv));
    CHECK(memcmp(w, want, sizeof w) == 0);
    CHECK_FAILS(ctx, awq_clip_apply(be, w, N, K, 0, mv), AWQ_ERR_INVALID_ARG, "group_size");
}

/* ---------------------------------------------- scaled candidates */

static void test_scaled(awq_ctx *ctx, awq_backend *be) {
    const int64_t N = 6, K = 96, C = 4;
    float *w = awq_alloc((size_t)(N * K), 4), *s = awq_alloc((size_t)(C * K), 4);
    float *a = awq_alloc((size_t)(C * N * K), 4), *b = awq_alloc((size_t)(C * N * K), 4);
    float *t = awq_alloc((size_t)(N * K), 4);
    for (int64_t i = 0; i < N * K; i++) w[i] = 0.05f * awq_test_rand_normal(&rng);
    for (int64_t i = 0; i < C * K; i++) s[i] = 0.2f + 2.0f * awq_test_rand_unif(&rng);
    awq_quant_params q = awq_quant_default_params();
    q.group_size = 32;
    uint8_t failed[4];
    CHECK_OK(ctx, awq_pseudo_quant_scaled_ref(ctx, w, N, K, s, C, &q, a, failed));
    CHECK(failed[0] == 0 && failed[3] == 0);
    /* == the AWQ search's sequence: W*s, Q(), /s */
    for (int64_t c = 0; c < C; c++) {
        for (int64_t i = 0; i < N * K; i++) t[i] = w[i] * s[c * K + i % K];
        CHECK_OK(ctx, awq_pseudo_quantize_ref(ctx, "t", t, t, N, K, &q));
        for (int64_t i = 0; i < N * K; i++) t[i] = t[i] / s[c * K + i % K];
        CHECK(memcmp(t, a + c * N * K, (size_t)(N * K) * 4u) == 0);
    }
    memset(b, 0, (size_t)(C * N * K) * 4u);
    CHECK_OK(ctx, awq_pseudo_quant_scaled(be, w, N, K, s, C, &q, b, failed));
    CHECK(memcmp(a, b, (size_t)(C * N * K) * 4u) == 0);

    /* candidate 1 overflows FP16, candidate 2 is NaN */
    for (int64_t k = 0; k < K; k++) {
        s[1 * K + k] = 1e9f;
        s[2 * K + k] = k == 5 ? NAN : 1.0f;
    }
    uint8_t f_ref[4], f_cpu[4];
    CHECK_OK(ctx, awq_pseudo_quant_scaled_ref(ctx, w, N, K, s, C, &q, a, f_ref));
    CHECK_OK(ctx, awq_pseudo_quant_scaled(be, w, N, K, s, C, &q, b, f_cpu));
    CHECK(f_ref[0] == 0 && f_ref[1] == 1 && f_ref[2] == 1 && f_ref[3] == 0);
    CHECK(memcmp(f_ref, f_cpu, 4) == 0);
    CHECK(memcmp(a, b, (size_t)(N * K) * 4u) == 0);                   /* candidate 0 */
    CHECK(memcmp(a + 3 * N * K, b + 3 * N * K, (size_t)(N * K) * 4u) == 0);
    CHECK_FAILS(ctx, awq_pseudo_quant_scaled_ref(ctx, w, N, K, s, C, &q, a, NULL), AWQ_ERR_RANGE,
                "scale candidate 1");
    CHECK_FAILS(ctx, awq_pseudo_quant_scaled(be, w, N, K, s, C, &q, b, NULL), AWQ_ERR_RANGE,
                "exceeds the FP16 maximum");
    awq_free(w);
    awq_free(s);
    awq_free(a);
    awq_free(b);
    awq_free(t);
}

/* ----------------------------------------------------------- errors */

static void test_errors(awq_ctx *ctx, awq_backend *be) {
    const int64_t N = 2, K = 8, T = 3;
    float w[16], x[24], mv[2];
    for (int i = 0; i < 16; i++) w[i] = 0.1f * (float)(i % 5);
    for (int i = 0; i < 24; i++) x[i] = 1.0f;
    awq_quant_params q = awq_quant_default_params();
    q.group_size = 8;
    CHECK_FAILS(ctx, awq_clip_search(be, w, x, N, K, T, &q, 20, 21, mv), AWQ_ERR_INVALID_ARG,
                "n_steps");
    CHECK_FAILS(ctx, awq_clip_search(be, w, x, N, K, 0, &q, 20, 10, mv), AWQ_ERR_INVALID_ARG,
                "tokens");
    q.bits = 5;
    CHECK_FAILS(ctx, awq_clip_search(be, w, x, N, K, T, &q, 20, 10, mv), AWQ_ERR_INVALID_ARG,
                "bits");
    q.bits = 4;
    w[11] = NAN;
    CHECK_FAILS(ctx, awq_clip_search(be, w, x, N, K, T, &q, 20, 10, mv), AWQ_ERR_RANGE,
                "non-finite weight nan at (row 1, column 3)");
    CHECK_FAILS(ctx, awq_clip_search_ref(ctx, w, x, N, K, T, &q, 20, 10, mv, NULL),
                AWQ_ERR_RANGE, "(row 1, column 3)");
    /* both rows bad, one per worker (2 threads): the error names the first
     * in the oracle's order, whichever worker finishes first */
    const float w3 = w[3];
    w[3] = INFINITY;
    CHECK_FAILS(ctx, awq_clip_search(be, w, x, N, K, T, &q, 20, 10, mv), AWQ_ERR_RANGE,
                "non-finite weight inf at (row 0, column 3)");
    w[3] = w3;
    w[11] = 1e7f;
    CHECK_FAILS(ctx, awq_clip_search(be, w, x, N, K, T, &q, 20, 10, mv), AWQ_ERR_RANGE,
                "group 0 of row 1");
    w[11] = 0.0f;
    /* non-finite activations: errors are NaN, nothing is clipped */
    x[0] = NAN;
    CHECK_OK(ctx, awq_clip_search(be, w, x, N, K, T, &q, 20, 10, mv));
    CHECK(mv[0] == 0.4f);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    awq_backend *be = NULL;
    CHECK_OK(ctx, awq_backend_cpu_create(ctx, &be));
    test_fp16_conversion();
    test_qmath_matches_oracle();
    test_pseudo_whole(ctx, be);
    test_clip_hand(ctx);
    test_clip_vs_naive(ctx);
    test_clip_helps(ctx);
    test_clip_cpu_exact();
    test_clip_apply(ctx, be);
    test_scaled(ctx, be);
    test_errors(ctx, be);
    awq_backend_free(be);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
