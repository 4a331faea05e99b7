/* tests/unit/test_qmath_lane.c — the quantizer's lane form
 * (awq_qm_pseudo_lane, lib/quant/qmath.h) against awq_qm_pseudo, bit for
 * bit, and the CPU loops built on it against their oracles:
 *  - every code boundary (c +- 1/2) * s and its float neighbours, codes
 *    past both ends, +-0, subnormals, values whose w / s overflows, for
 *    bits 2..8, asym with every zero point and sym, on scales from the
 *    FP16 subnormal range to 65504;
 *  - groups made by awq_qm_params from random statistics;
 *  - awq_pseudo_quant_scaled (CPU) == awq_pseudo_quant_scaled_ref and the
 *    clip searches (direct and Gram) == their oracles, for sym / asym and
 *    3, 4, 8 bits (the default 4-bit asym case is in test_clip*). */
#include "awq_test.h"

#include "backend/backend.h"
#include "core/core.h"
#include "quant/clip.h"
#include "quant/qmath.h"

#include <float.h>
#include <stdint.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull; /* awq_test_rand_* (awq_test.h) */

static float rnd_unif(void) { return awq_test_rand_unif(&rng); }

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static int n_mismatch;

static void same(float w, const awq_qm_group *g, int bits, int sym) {
    const awq_qm_lane l = awq_qm_lane_of(g, bits, sym);
    const float a = awq_qm_pseudo(w, g, bits, sym), b = awq_qm_pseudo_lane(w, &l);
    if (bits_of(a) != bits_of(b)) {
        if (n_mismatch++ < 10)
            fprintf(stderr, "bits %d sym %d s %a z %d: w %a: pseudo %a, lane %a\n", bits, sym,
                    (double)g->s, g->z, (double)w, (double)a, (double)b);
    }
}

/* w around every code boundary of group g, and the odd values. */
static void sweep(const awq_qm_group *g, int bits, int sym) {
    const int maxq = (1 << bits) - 1;
    const int lo = sym ? -(1 << (bits - 1)) : -g->z, hi = sym ? (1 << (bits - 1)) - 1 : maxq - g->z;
    for (int c = lo - 3; c <= hi + 3; c++) {
        for (int h = -1; h <= 1; h++) {
            float w = ((float)c + 0.5f * (float)h) * g->s;
            same(w, g, bits, sym);
            same(nextafterf(w, INFINITY), g, bits, sym);
            same(nextafterf(w, -INFINITY), g, bits, sym);
            same(-w, g, bits, sym);
        }
    }
    const float odd[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f, FLT_MAX, -FLT_MAX,
                         1e30f, -1e30f, 0.49f * g->s, -0.49f * g->s, 0.5f * g->s, -0.5f * g->s};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(odd); i++) same(odd[i], g, bits, sym);
    for (int i = 0; i < 200; i++) same((rnd_unif() * 2.0f - 1.0f) * (float)(maxq + 4) * g->s, g,
                                       bits, sym);
}

static void test_scalar_equal(void) {
    const float scales[] = {5.96e-8f /* FP16's smallest subnormal */, 6.1e-5f, 1e-3f, 0.0667f,
                            0.1f, 1.0f, 3.0f, 4367.0f, 65504.0f};
    for (int bits = 2; bits <= 8; bits++) {
        const int maxq = (1 << bits) - 1;
        for (size_t si = 0; si < AWQ_ARRAY_LEN(scales); si++) {
            awq_qm_group g;
            g.h = awq_qm_f32_to_f16(scales[si]);
            g.s = awq_qm_f16_to_f32(g.h);
            for (int z = 0; z <= maxq; z++) {
                g.z = z;
                sweep(&g, bits, 0);
            }
            g.z = 1 << (bits - 1);
            sweep(&g, bits, 1);
        }
        /* groups as the quantizer makes them */
        for (int i = 0; i < 300; i++) {
            for (int sym = 0; sym < 2; sym++) {
                awq_qm_stats st;
                float a = (rnd_unif() - 0.7f) * 4.0f, b = a + rnd_unif() * 3.0f;
                awq_qm_stats_init(&st, a);
                awq_qm_stats_add(&st, b);
                awq_qm_group g;
                if (!awq_qm_params(&st, bits, sym, &g)) continue;
                sweep(&g, bits, sym);
            }
        }
    }
    CHECK_MSG(n_mismatch == 0, "%d lane / pseudo mismatches", n_mismatch);
}

/* The CPU loops on the lane form (vectorised) against the oracles (scalar
 * awq_qm_pseudo), bit for bit. */
static void test_loops(awq_ctx *ctx, awq_backend *be) {
    const int64_t N = 10, K = 200, T = 37, C = 5;
    float *w = awq_alloc((size_t)(N * K), 4), *x = awq_alloc((size_t)(T * K), 4);
    float *s = awq_alloc((size_t)(C * K), 4);
    float *a = awq_alloc((size_t)(C * N * K), 4), *b = awq_alloc((size_t)(C * N * K), 4);
    for (int64_t i = 0; i < N * K; i++) w[i] = (rnd_unif() - 0.5f) * (i % 13 == 0 ? 0.8f : 0.1f);
    for (int64_t i = 0; i < T * K; i++) x[i] = (rnd_unif() - 0.5f) * (float)(1 + i % 5);
    for (int64_t i = 0; i < C * K; i++) s[i] = 0.25f + 3.0f * rnd_unif();
    const struct {
        int bits, sym, group;
    } cfg[] = {{4, 1, 64}, {3, 0, 64}, {3, 1, 128}, {8, 0, 32}, {8, 1, -1}, {2, 0, 50}};
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(cfg); ci++) {
        awq_quant_params q = awq_quant_default_params();
        q.bits = cfg[ci].bits;
        q.sym = cfg[ci].sym;
        q.group_size = cfg[ci].group;
        memset(a, 0, (size_t)(C * N * K) * 4u);
        memset(b, 0xff, (size_t)(C * N * K) * 4u);
        CHECK_OK(ctx, awq_pseudo_quant_scaled_ref(ctx, w, N, K, s, C, &q, a, NULL));
        CHECK_OK(ctx, awq_pseudo_quant_scaled_cpu(be, w, N, K, s, C, &q, b, NULL));
        CHECK_MSG(memcmp(a, b, (size_t)(C * N * K) * 4u) == 0, "scaled, bits %d sym %d group %d",
                  q.bits, q.sym, q.group_size);

        const int64_t G = awq_n_groups(K, q.group_size);
        const int n_grid = 20, n_steps = 10;
        float *m1 = awq_alloc((size_t)(N * G), 4), *m2 = awq_alloc((size_t)(N * G), 4);
        double *e1 = awq_alloc((size_t)(n_steps * N * G), 8);
        double *e2 = awq_alloc((size_t)(n_steps * N * G), 8);
        CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x, N, K, T, &q, n_grid, n_steps, m1, e1));
        CHECK_OK(ctx, awq_clip_search_cpu_ex(be, w, x, N, K, T, &q, n_grid, n_steps, m2, e2));
        CHECK_MSG(memcmp(m1, m2, (size_t)(N * G) * 4u) == 0 &&
                      memcmp(e1, e2, (size_t)(n_steps * N * G) * 8u) == 0,
                  "clip direct, bits %d sym %d group %d", q.bits, q.sym, q.group_size);
        if (awq_group_len(K, q.group_size) <= AWQ_CLIP_GRAM_MAX_LEN) {
            CHECK_OK(ctx, awq_clip_search_gram_ref(ctx, w, x, N, K, T, &q, n_grid, n_steps, m1,
                                                   e1));
            CHECK_OK(ctx, awq_clip_search_gram_cpu(be, w, x, N, K, T, &q, n_grid, n_steps, m2,
                                                   e2));
            CHECK_MSG(memcmp(m1, m2, (size_t)(N * G) * 4u) == 0 &&
                          memcmp(e1, e2, (size_t)(n_steps * N * G) * 8u) == 0,
                      "clip Gram, bits %d sym %d group %d", q.bits, q.sym, q.group_size);
        }
        awq_free(m1);
        awq_free(m2);
        awq_free(e1);
        awq_free(e2);
    }
    awq_free(w);
    awq_free(x);
    awq_free(s);
    awq_free(a);
    awq_free(b);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    awq_backend *be = NULL;
    CHECK_OK(ctx, awq_backend_cpu_create(ctx, &be));
    test_scalar_equal();
    test_loops(ctx, be);
    awq_backend_free(be);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
