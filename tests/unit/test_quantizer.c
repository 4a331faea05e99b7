/* tests/unit/test_quantizer.c — the group quantizer against hand-computed
 * groups (ties to even, constant / all-negative / all-positive / outlier
 * groups, the FP16-rounded-scale rule, symmetric), bits 2/3/4/8, group
 * sizes 32/64/128/-1 and a non-dividing one, NaN/Inf and scale-overflow
 * errors naming the tensor, and the fast path == the _ref oracle bit for bit
 * (codes, scales, zeros, pseudo-quantized values incl. the sign of zero) for
 * 1 and 3 threads. */
#include "awq_test.h"
#include "core/core.h"

#include <stdint.h>

static uint32_t rng_state = 2463534242u;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
/* uniform in [-1, 1) */
static float rndf(void) { return (float)((double)rnd() / 2147483648.0 - 1.0); }

/* Quantize one row of n values as a single group with both paths and check
 * they agree; returns the ref result in the out params. */
static void quant1(awq_ctx *ctx, const float *w, int n, int bits, bool sym,
                   uint8_t *q, uint16_t *scale, uint8_t *zero) {
    awq_quant_params p = awq_quant_default_params();
    p.bits = bits;
    p.sym = sym;
    p.group_size = -1;
    awq_qtensor a, b;
    CHECK_OK(ctx, awq_quantize_ref(ctx, "t", w, 1, n, &p, &a));
    CHECK_OK(ctx, awq_quantize(ctx, "t", w, 1, n, &p, &b));
    CHECK(awq_qtensor_equal(&a, &b));
    /* the single-group oracle agrees as well */
    uint8_t q2[64];
    uint16_t s2 = 0;
    uint8_t z2 = 0;
    CHECK_EQ_INT(awq_quantize_group_ref(w, n, bits, sym, &s2, &z2, q2), AWQ_OK);
    CHECK(s2 == a.scales[0] && z2 == a.zeros[0] && memcmp(q2, a.q, (size_t)n) == 0);
    memcpy(q, a.q, (size_t)n);
    *scale = a.scales[0];
    *zero = a.zeros[0];
    awq_qtensor_free(&a);
    awq_qtensor_free(&b);
}

static void check_codes(const uint8_t *q, const uint8_t *want, int n, const char *what) {
    for (int i = 0; i < n; i++)
        CHECK_MSG(q[i] == want[i], "%s: code %d is %u, want %u", what, i, q[i], want[i]);
}

static void test_hand_groups(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    uint8_t q[64];
    uint16_t s;
    uint8_t z;

    /* basic: range 7.5 -> scale 0.5 (exact), zero = -rint(-1/0.5) = 2 */
    {
        const float w[8] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 2.0f, 3.5f, 6.5f};
        const uint8_t want[8] = {0, 1, 2, 3, 4, 6, 9, 15};
        quant1(ctx, w, 8, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3800); /* 0.5 */
        CHECK_EQ_INT(z, 2);
        check_codes(q, want, 8, "basic");
    }
    /* ties at .5 round to even, in the zero point too: range 15 -> scale 1;
     * zero = -rint(-2.5) = 2; 12.5 -> 12 + 2 = 14 (not 15) */
    {
        const float w[6] = {-2.5f, 12.5f, -1.5f, 0.5f, 1.5f, 2.5f};
        const uint8_t want[6] = {0, 14, 0, 2, 4, 4};
        quant1(ctx, w, 6, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3c00); /* 1.0 */
        CHECK_EQ_INT(z, 2);
        check_codes(q, want, 6, "ties");
    }
    /* constant positive group: range floored to 1e-5, scale 1e-5/15 =
     * 6.67e-7 -> FP16 subnormal 11 * 2^-24; zero = clamp(-rint(0.3/s)) = 0,
     * codes saturate at 15 (AutoAWQ does the same: it does not force
     * min <= 0) */
    {
        float w[5];
        for (int i = 0; i < 5; i++) w[i] = 0.3f;
        const uint8_t want[5] = {15, 15, 15, 15, 15};
        quant1(ctx, w, 5, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x000b);
        CHECK_EQ_INT(z, 0);
        check_codes(q, want, 5, "const+");
        for (int i = 0; i < 5; i++) w[i] = -0.3f;
        const uint8_t want2[5] = {0, 0, 0, 0, 0};
        quant1(ctx, w, 5, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x000b);
        CHECK_EQ_INT(z, 15);
        check_codes(q, want2, 5, "const-");
        for (int i = 0; i < 5; i++) w[i] = 0.0f;
        quant1(ctx, w, 5, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x000b);
        CHECK_EQ_INT(z, 0);
        check_codes(q, want2, 5, "const0");
    }
    /* all-negative: range 7 -> scale f16(7/15) = 0.466552734375 (0x3777);
     * zero = -rint(-8/s) = 17 -> clamped to 15 */
    {
        const float w[8] = {-8, -7, -6, -5, -4, -3, -2, -1};
        const uint8_t want[8] = {0, 0, 2, 4, 6, 9, 11, 13};
        quant1(ctx, w, 8, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3777);
        CHECK_EQ_INT(z, 15);
        check_codes(q, want, 8, "all-negative");
    }
    /* all-positive: zero = clamp(-rint(1/s) = -2) = 0; top codes saturate */
    {
        const float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        const uint8_t want[8] = {2, 4, 6, 9, 11, 13, 15, 15};
        quant1(ctx, w, 8, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3777);
        CHECK_EQ_INT(z, 0);
        check_codes(q, want, 8, "all-positive");
    }
    /* single outlier: scale f16(100/15) = 6.66796875; 100/s = 14.997 -> 15 */
    {
        const float w[8] = {0, 0, 0, 0, 0, 0, 0, 100};
        const uint8_t want[8] = {0, 0, 0, 0, 0, 0, 0, 15};
        quant1(ctx, w, 8, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x46ab);
        CHECK_NEAR(awq_f16_to_f32(s), 6.66796875, 0);
        CHECK_EQ_INT(z, 0);
        check_codes(q, want, 8, "outlier");
    }
    /* the FP16-rounded scale decides codes: range 7, scale 7/15 in fp32 would
     * put 1.1666666 at 2.5 -> 2 (tie to even); the stored scale 0.46655...
     * puts it at 2.5006 -> 3 */
    {
        const float w[3] = {0.0f, 7.0f, 1.1666666f};
        quant1(ctx, w, 3, 4, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3777);
        CHECK_EQ_INT(z, 0);
        CHECK_EQ_INT(q[2], 3);
        CHECK(rintf(w[2] / (7.0f / 15.0f)) == 2.0f); /* the fp32 scale differs */
    }
    /* symmetric 4-bit: scale f16(1/7) = 0.142822265625; codes q + 8 */
    {
        const float w[8] = {-1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 0.1f};
        const uint8_t want[8] = {1, 4, 8, 10, 12, 13, 15, 9};
        quant1(ctx, w, 8, 4, true, q, &s, &z);
        CHECK_NEAR(awq_f16_to_f32(s), 0.142822265625, 0);
        CHECK_EQ_INT(z, 8);
        check_codes(q, want, 8, "sym4");
    }
    /* symmetric ties: amax 7 -> scale 1; -2.5 -> -2, 3.5 -> 4, 0.5 -> 0 */
    {
        const float w[5] = {7.0f, -2.5f, 3.5f, 0.5f, -7.0f};
        const uint8_t want[5] = {15, 6, 12, 8, 1};
        quant1(ctx, w, 5, 4, true, q, &s, &z);
        CHECK_EQ_INT(s, 0x3c00);
        check_codes(q, want, 5, "sym ties");
    }
    /* other widths, scale 1 each: 2-bit (maxq 3), 3-bit (maxq 7), 8-bit */
    {
        const float w2[4] = {0, 1, 2, 3};
        const uint8_t want2[4] = {0, 1, 2, 3};
        quant1(ctx, w2, 4, 2, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3c00);
        CHECK_EQ_INT(z, 0);
        check_codes(q, want2, 4, "2-bit");
        const float w3[8] = {-3, -2, -1, 0, 1, 2, 3, 4};
        const uint8_t want3[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        quant1(ctx, w3, 8, 3, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3c00);
        CHECK_EQ_INT(z, 3);
        check_codes(q, want3, 8, "3-bit");
        /* 3-bit symmetric: scale amax/3 */
        const float w3s[4] = {-3, 3, 1.5f, -1.5f};
        const uint8_t want3s[4] = {1, 7, 6, 2}; /* 1.5 -> 2 (even), -1.5 -> -2 */
        quant1(ctx, w3s, 4, 3, true, q, &s, &z);
        CHECK_EQ_INT(z, 4);
        check_codes(q, want3s, 4, "3-bit sym");
        /* 2-bit symmetric: maxq_pos 1, scale amax */
        const float w2s[4] = {-1, 1, 0.5f, -0.4f};
        const uint8_t want2s[4] = {1, 3, 2, 2}; /* 0.5 -> 0 (even) */
        quant1(ctx, w2s, 4, 2, true, q, &s, &z);
        CHECK_EQ_INT(z, 2);
        check_codes(q, want2s, 4, "2-bit sym");
    }
    {
        float w8[64];
        uint8_t want8[64];
        for (int i = 0; i < 64; i++) {
            w8[i] = (float)(i * 4) - 60.0f; /* -60 .. 192: range 252 */
            want8[i] = 0;
        }
        w8[63] = 195.0f; /* range 255 -> scale 1, zero 60 */
        for (int i = 0; i < 63; i++) want8[i] = (uint8_t)(i * 4);
        want8[63] = 255;
        quant1(ctx, w8, 64, 8, false, q, &s, &z);
        CHECK_EQ_INT(s, 0x3c00);
        CHECK_EQ_INT(z, 60);
        check_codes(q, want8, 64, "8-bit");
    }
    awq_ctx_free(ctx);
}

/* Group boundaries: group j of every row holds (j+1) * ramp(0..15), so its
 * scale is j+1 (exact in FP16), zero 0 and codes the ramp. */
static void test_group_sizes(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    const int64_t N = 3, K = 256;
    float *w = malloc(sizeof(float) * N * K);
    const int sizes[5] = {32, 64, 128, -1, 48};
    for (int si = 0; si < 5; si++) {
        int gs = sizes[si];
        int64_t gl = gs == -1 ? K : gs, G = (K + gl - 1) / gl;
        CHECK_EQ_INT(awq_n_groups(K, gs), G);
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) {
                int64_t g = k / gl, r = (k - g * gl) % 16;
                /* every group (also the short last one) holds 0 and 15 */
                if (k - g * gl == 1 || k == K - 1) r = 15;
                w[n * K + k] = (float)((g + 1) * (n + 1)) * (float)r;
            }
        awq_quant_params p = awq_quant_default_params();
        p.group_size = gs;
        awq_qtensor t;
        CHECK_OK(ctx, awq_quantize(ctx, "layer", w, N, K, &p, &t));
        CHECK_EQ_INT(t.n_groups, G);
        int bad = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t g = 0; g < G; g++) {
                float sc = awq_f16_to_f32(t.scales[g * N + n]);
                bad += sc != (float)((g + 1) * (n + 1)) || t.zeros[g * N + n] != 0;
            }
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) {
                int64_t g = k / gl;
                float want = w[n * K + k] / (float)((g + 1) * (n + 1));
                bad += t.q[n * K + k] != (uint8_t)want;
            }
        CHECK_MSG(bad == 0, "group size %d: %d mismatches", gs, bad);
        /* dequantization reproduces the exact inputs */
        float *d = malloc(sizeof(float) * N * K);
        CHECK_OK(ctx, awq_dequantize(ctx, &t, d));
        CHECK(memcmp(d, w, sizeof(float) * N * K) == 0);
        free(d);
        awq_qtensor_free(&t);
    }
    free(w);
    awq_ctx_free(ctx);
}

static void test_errors(void) {
    awq_ctx *ctx1 = awq_test_ctx(1), *ctx3 = awq_test_ctx(3);
    const int64_t N = 8, K = 64;
    float *w = malloc(sizeof(float) * N * K);
    float *o = malloc(sizeof(float) * N * K);
    for (int64_t i = 0; i < N * K; i++) w[i] = rndf();
    awq_quant_params p = awq_quant_default_params();
    p.group_size = 32;
    const char *name = "model.layers.3.mlp.up_proj.weight";
    awq_qtensor t;
    /* two bad values: the first in row-major order is reported, whatever the
     * thread split */
    w[6 * K + 40] = INFINITY;
    w[2 * K + 37] = NAN;
    for (int c = 0; c < 2; c++) {
        awq_ctx *ctx = c ? ctx3 : ctx1;
        CHECK_FAILS(ctx, awq_quantize_ref(ctx, name, w, N, K, &p, &t), AWQ_ERR_RANGE,
                    "model.layers.3.mlp.up_proj.weight: non-finite weight nan at (row 2, column 37)");
        CHECK(t.q == NULL);
        CHECK_FAILS(ctx, awq_quantize(ctx, name, w, N, K, &p, &t), AWQ_ERR_RANGE,
                    "model.layers.3.mlp.up_proj.weight: non-finite weight nan at (row 2, column 37)");
        CHECK(t.q == NULL);
        CHECK_FAILS(ctx, awq_pseudo_quantize(ctx, name, w, o, N, K, &p), AWQ_ERR_RANGE,
                    "(row 2, column 37)");
        CHECK_FAILS(ctx, awq_pseudo_quantize_ref(ctx, name, w, o, N, K, &p), AWQ_ERR_RANGE,
                    "(row 2, column 37)");
    }
    w[2 * K + 37] = 0.5f;
    CHECK_FAILS(ctx3, awq_quantize(ctx3, name, w, N, K, &p, &t), AWQ_ERR_RANGE,
                "non-finite weight inf at (row 6, column 40)");
    w[6 * K + 40] = -INFINITY;
    p.sym = true;
    CHECK_FAILS(ctx3, awq_quantize(ctx3, name, w, N, K, &p, &t), AWQ_ERR_RANGE,
                "non-finite weight -inf at (row 6, column 40)");
    w[6 * K + 40] = 0.0f;
    /* scale overflow: range 2e6 / 15 > 65504 */
    p.sym = false;
    w[5 * K + 33] = 1e6f;
    w[5 * K + 34] = -1e6f;
    CHECK_FAILS(ctx1, awq_quantize_ref(ctx1, name, w, N, K, &p, &t), AWQ_ERR_RANGE,
                "group 1 of row 5 (columns 32..63): scale");
    CHECK_FAILS(ctx3, awq_quantize(ctx3, name, w, N, K, &p, &t), AWQ_ERR_RANGE,
                "model.layers.3.mlp.up_proj.weight: group 1 of row 5 (columns 32..63): scale");
    CHECK(strstr(awq_ctx_errmsg(ctx3), "65504") != NULL);
    /* symmetric: amax 1e6 / 7 overflows too; 4e5/7 = 57142 does not */
    p.sym = true;
    CHECK_FAILS(ctx3, awq_quantize(ctx3, name, w, N, K, &p, &t), AWQ_ERR_RANGE, "scale");
    w[5 * K + 33] = 4e5f;
    w[5 * K + 34] = -4e5f;
    CHECK_OK(ctx3, awq_quantize(ctx3, name, w, N, K, &p, &t));
    CHECK(awq_f16_to_f32(t.scales[1 * N + 5]) == awq_f16_to_f32(awq_f32_to_f16(4e5f / 7.0f)));
    awq_qtensor_free(&t);
    /* bad parameters */
    p.bits = 5;
    CHECK_FAILS(ctx1, awq_quantize(ctx1, name, w, N, K, &p, &t), AWQ_ERR_INVALID_ARG, "bits");
    p.bits = 4;
    p.group_size = 0;
    CHECK_FAILS(ctx1, awq_quantize(ctx1, name, w, N, K, &p, &t), AWQ_ERR_INVALID_ARG,
                "group_size");
    free(w);
    free(o);
    awq_ctx_free(ctx1);
    awq_ctx_free(ctx3);
}

/* Random matrices with hostile details: exact ties, signed zeros, constant
 * rows, outliers, tiny and large magnitudes. */
static void fill_random(float *w, int64_t N, int64_t K, int flavour) {
    for (int64_t n = 0; n < N; n++) {
        int kind = (int)(rnd() % 6);
        for (int64_t k = 0; k < K; k++) {
            float v;
            switch (kind) {
            case 0: v = rndf(); break;
            case 1: v = (float)((int)(rnd() % 33) - 16) * 0.5f; break; /* ties */
            case 2: v = 0.25f; break;                                 /* constant */
            case 3: v = (k % 7 == 0) ? -0.0f : rndf() * 1e-6f; break; /* tiny */
            case 4: v = rndf() * (k == 5 ? 300.0f : 1.0f); break;      /* outlier */
            default: v = rndf() * 1000.0f + (flavour ? 500.0f : 0.0f); break;
            }
            w[n * K + k] = v;
        }
    }
}

static void test_fast_vs_ref(void) {
    awq_ctx *c1 = awq_test_ctx(1), *c3 = awq_test_ctx(3);
    const int bits_list[4] = {2, 3, 4, 8};
    const int gs_list[6] = {32, 64, 128, -1, 48, 7};
    int mismatches = 0, cases = 0;
    for (int bi = 0; bi < 4; bi++)
        for (int gi = 0; gi < 6; gi++)
            for (int sym = 0; sym < 2; sym++) {
                const int64_t N = 13 + (int64_t)(rnd() % 5), K = 200 + (int64_t)(rnd() % 3) * 56;
                float *w = malloc(sizeof(float) * N * K);
                float *d_ref = malloc(sizeof(float) * N * K);
                float *d_deq = malloc(sizeof(float) * N * K);
                float *d1 = malloc(sizeof(float) * N * K);
                float *d3 = malloc(sizeof(float) * N * K);
                fill_random(w, N, K, (bi + gi) & 1);
                awq_quant_params p = awq_quant_default_params();
                p.bits = bits_list[bi];
                p.group_size = gs_list[gi];
                p.sym = sym;
                awq_qtensor r, f1, f3;
                CHECK_OK(c1, awq_quantize_ref(c1, "r", w, N, K, &p, &r));
                CHECK_OK(c1, awq_quantize(c1, "f", w, N, K, &p, &f1));
                CHECK_OK(c3, awq_quantize(c3, "f", w, N, K, &p, &f3));
                mismatches += !awq_qtensor_equal(&r, &f1) + !awq_qtensor_equal(&r, &f3);
                CHECK_OK(c1, awq_qtensor_check(c1, "r", &r));
                /* pseudo-quantize == dequantize(quantize), bitwise (incl. -0) */
                CHECK_OK(c1, awq_pseudo_quantize_ref(c1, "r", w, d_ref, N, K, &p));
                CHECK_OK(c3, awq_dequantize(c3, &r, d_deq));
                CHECK_OK(c1, awq_pseudo_quantize(c1, "f", w, d1, N, K, &p));
                memcpy(d3, w, sizeof(float) * N * K);
                CHECK_OK(c3, awq_pseudo_quantize(c3, "f", d3, d3, N, K, &p)); /* in place */
                size_t bytes = sizeof(float) * (size_t)(N * K);
                mismatches += memcmp(d_ref, d_deq, bytes) != 0;
                mismatches += memcmp(d_ref, d1, bytes) != 0;
                mismatches += memcmp(d_ref, d3, bytes) != 0;
                if (memcmp(d_ref, d1, bytes) != 0 || !awq_qtensor_equal(&r, &f1))
                    fprintf(stderr, "mismatch: bits %d gs %d sym %d\n", p.bits, p.group_size, sym);
                /* sanity: the error is within half a step where not clamped
                 * (asymmetric groups that contain their own min and max) */
                cases++;
                awq_qtensor_free(&r);
                awq_qtensor_free(&f1);
                awq_qtensor_free(&f3);
                free(w);
                free(d_ref);
                free(d_deq);
                free(d1);
                free(d3);
            }
    CHECK_MSG(mismatches == 0, "%d mismatches over %d cases", mismatches, cases);
    awq_ctx_free(c1);
    awq_ctx_free(c3);
}

/* Dequantization formula on a hand-made tensor, with and without g_idx. */
static void test_dequant(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    awq_qtensor t;
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 2, 4, 4, 2, true, &t));
    CHECK_EQ_INT(t.n_groups, 2);
    CHECK(t.g_idx[0] == 0 && t.g_idx[1] == 0 && t.g_idx[2] == 1 && t.g_idx[3] == 1);
    CHECK(awq_qtensor_default_g_idx(&t));
    const uint8_t q[8] = {0, 15, 7, 8, 3, 4, 5, 6};
    memcpy(t.q, q, 8);
    /* scales [G, N]: g0: rows 0,1 = 0.5, 2; g1: 0.25, 1 */
    t.scales[0] = awq_f32_to_f16(0.5f);
    t.scales[1] = awq_f32_to_f16(2.0f);
    t.scales[2] = awq_f32_to_f16(0.25f);
    t.scales[3] = awq_f32_to_f16(1.0f);
    t.zeros[0] = 8;
    t.zeros[1] = 1;
    t.zeros[2] = 4;
    t.zeros[3] = 0;
    float d[8];
    CHECK_OK(ctx, awq_dequantize(ctx, &t, d));
    const float want[8] = {-4.0f, 3.5f, 0.75f, 1.0f, 4.0f, 6.0f, 5.0f, 6.0f};
    for (int i = 0; i < 8; i++) CHECK_NEAR(d[i], want[i], 0);
    /* act-order: column 0 in group 1, column 3 in group 0 */
    t.g_idx[0] = 1;
    t.g_idx[3] = 0;
    CHECK(!awq_qtensor_default_g_idx(&t));
    CHECK_OK(ctx, awq_dequantize(ctx, &t, d));
    CHECK_NEAR(d[0], (0 - 4) * 0.25, 0);
    CHECK_NEAR(d[3], (8 - 8) * 0.5, 0);
    CHECK_NEAR(d[4], (3 - 0) * 1.0, 0);
    CHECK_NEAR(d[7], (6 - 1) * 2.0, 0);
    /* copy / equal / check */
    awq_qtensor c;
    CHECK_OK(ctx, awq_qtensor_copy(ctx, &t, &c));
    CHECK(awq_qtensor_equal(&t, &c));
    c.q[5] = 9;
    CHECK(!awq_qtensor_equal(&t, &c));
    c.q[5] = 16;
    CHECK_FAILS(ctx, awq_qtensor_check(ctx, "x.weight", &c), AWQ_ERR_RANGE,
                "x.weight: code 16 at (row 1, column 1)");
    c.q[5] = 4;
    c.scales[2] = 0;
    CHECK_FAILS(ctx, awq_qtensor_check(ctx, "x.weight", &c), AWQ_ERR_RANGE,
                "scale 0 of group 1, row 0");
    c.scales[2] = t.scales[2];
    c.g_idx[1] = 2;
    CHECK_FAILS(ctx, awq_qtensor_check(ctx, "x.weight", &c), AWQ_ERR_RANGE, "g_idx[1] = 2");
    c.g_idx[1] = 0;
    c.sym = true;
    CHECK_FAILS(ctx, awq_qtensor_check(ctx, "x.weight", &c), AWQ_ERR_RANGE, "symmetric");
    awq_qtensor_free(&c);
    awq_qtensor_free(&t);
    awq_qtensor_free(&t); /* idempotent */
    awq_qtensor_free(NULL);
    awq_ctx_free(ctx);
}

/* A throughput figure for the pseudo-quantizer (printed, not asserted). */
static void bench_pseudo(void) {
    awq_ctx *c1 = awq_test_ctx(1);
    const int64_t N = 512, K = 4096;
    float *w = malloc(sizeof(float) * N * K), *o = malloc(sizeof(float) * N * K);
    for (int64_t i = 0; i < N * K; i++) w[i] = rndf();
    awq_quant_params p = awq_quant_default_params();
    double t0 = awq_now();
    CHECK_OK(c1, awq_pseudo_quantize_ref(c1, "b", w, o, N, K, &p));
    double t1 = awq_now();
    for (int r = 0; r < 4; r++) CHECK_OK(c1, awq_pseudo_quantize(c1, "b", w, o, N, K, &p));
    double t2 = awq_now();
    printf("pseudo-quantize %lldx%lld g128, 1 thread: ref %.1f ms, fast %.1f ms (%.0f Mweights/s)\n",
           (long long)N, (long long)K, (t1 - t0) * 1e3, (t2 - t1) / 4 * 1e3,
           (double)(N * K) / ((t2 - t1) / 4) / 1e6);
    free(w);
    free(o);
    awq_ctx_free(c1);
}

int main(void) {
    test_hand_groups();
    test_group_sizes();
    test_errors();
    test_fast_vs_ref();
    test_dequant();
    bench_pseudo();
    return awq_test_summary();
}
