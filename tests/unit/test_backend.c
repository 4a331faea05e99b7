/* tests/unit/test_backend.c — the CPU backend ops (lib/backend) against
 * values worked out by hand and against straightforward double-precision
 * implementations written here (independent of lib/, including of the
 * library's own _ref oracles, which are checked too); bit-identical results
 * for 1, 2 and 3 threads; argument errors.
 *
 * Tolerances: fp32 ops vs double references, relative to the magnitude of
 * the values compared: TOL_OP = 2e-6 for single reductions (gemm rows of a
 * few hundred products, rmsnorm, rope); attention TOL_ATTN = 1e-5 (two
 * chained reductions plus the online-softmax rescaling and the polynomial
 * exp, |rel err| < 2e-7); nll_rows TOL_NLL = 2e-7 relative (fp32 partial
 * sums of the polynomial exp, double across runs). */
#include "awq_test.h"
#include "backend/backend.h"
#include "core/core.h"

#include <stdint.h>

#define TOL_OP 2e-6
#define TOL_ATTN 1e-5
/* nll_rows: the polynomial exp summed in fp32 runs of 256 values */
#define TOL_NLL 2e-7

static uint32_t rng = 2463534242u;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)((double)rng / 2147483648.0 - 1.0);
}
static float *rand_buf(int64_t n, float scale) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

/* max |a - b| / max(max |b|, floor) */
static double rel_err(const float *a, const float *b, int64_t n, double floor_) {
    double md = 0, mb = floor_;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

/* ------------------------------------------------ independent references */

static void naive_gemm(const float *x, const float *w, const float *bias, float *y, int64_t M,
                       int64_t N, int64_t K) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0.0;
            for (int64_t k = 0; k < K; k++) s += (double)x[i * K + k] * w[n * K + k];
            y[i * N + n] = (float)s;
        }
}

/* Full causal softmax attention of one sequence set, in double. */
static void naive_attention(const float *q, const float *k, const float *v, float *out,
                            int64_t B, int64_t T, int64_t nh, int64_t nkv, int64_t hd,
                            double scale) {
    int64_t qd = nh * hd, kd = nkv * hd;
    double *w = malloc(sizeof(double) * (size_t)T);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < nh; h++) {
            int64_t g = h / (nh / nkv);
            for (int64_t i = 0; i < T; i++) {
                double mx = -1e300, sum = 0;
                for (int64_t j = 0; j <= i; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < hd; e++)
                        s += (double)q[(b * T + i) * qd + h * hd + e] *
                             k[(b * T + j) * kd + g * hd + e];
                    w[j] = s * scale;
                    if (w[j] > mx) mx = w[j];
                }
                for (int64_t j = 0; j <= i; j++) sum += (w[j] = exp(w[j] - mx));
                for (int64_t e = 0; e < hd; e++) {
                    double a = 0;
                    for (int64_t j = 0; j <= i; j++) a += w[j] * v[(b * T + j) * kd + g * hd + e];
                    out[(b * T + i) * qd + h * hd + e] = (float)(a / sum);
                }
            }
        }
    free(w);
}

/* ------------------------------------------------------------------ tests */

static awq_backend *cpu(awq_ctx *ctx) {
    awq_backend *be = NULL;
    CHECK_OK(ctx, awq_backend_create(ctx, AWQ_BACKEND_CPU, 0, &be));
    return be;
}

static void test_gemm(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    /* by hand: x = [[1, 2, 3], [4, 5, 6]], W = [[1, 0, -1], [2, 1, 0]], b = [10, 20]
     * y = [[1-3+10, 2+2+20], [4-6+10, 8+5+20]] = [[8, 24], [8, 33]] */
    float x[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, -1, 2, 1, 0}, b[2] = {10, 20}, y[4];
    CHECK_OK(ctx, be->ops->gemm(be, x, w, AWQ_DT_F32, b, y, 2, 2, 3));
    CHECK(y[0] == 8 && y[1] == 24 && y[2] == 8 && y[3] == 33);
    CHECK_OK(ctx, be->ops->gemm(be, x, w, AWQ_DT_F32, NULL, y, 2, 2, 3));
    CHECK(y[0] == -2 && y[1] == 4 && y[2] == -2 && y[3] == 13);
    /* K = 0: bias only */
    CHECK_OK(ctx, be->ops->gemm(be, x, w, AWQ_DT_F32, b, y, 2, 2, 0));
    CHECK(y[0] == 10 && y[1] == 20 && y[2] == 10 && y[3] == 20);

    /* random shapes covering both slicings (rows of x for M >= 256, rows of
     * W below) and ragged tails */
    static const int64_t shapes[][3] = {{1, 7, 5}, {37, 29, 53}, {600, 300, 64},
                                        {3, 700, 33}, {1100, 40, 17}, {256, 20, 9},
                                        {300, 600, 40} /* one slice of x, W cut */};
    for (size_t s = 0; s < AWQ_ARRAY_LEN(shapes); s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *X = rand_buf(M * K, 1), *W = rand_buf(N * K, 1), *B = rand_buf(N, 1);
        float *Y = rand_buf(M * N, 1), *R = rand_buf(M * N, 1), *R2 = rand_buf(M * N, 1);
        CHECK_OK(ctx, be->ops->gemm(be, X, W, AWQ_DT_F32, B, Y, M, N, K));
        naive_gemm(X, W, B, R, M, N, K);
        awq_gemm_ref(X, W, B, R2, M, N, K);
        double e = rel_err(Y, R, M * N, 1.0);
        CHECK_MSG(e <= TOL_OP, "gemm %lldx%lldx%lld rel err %g", (long long)M, (long long)N,
                  (long long)K, e);
        CHECK(rel_err(R2, R, M * N, 1.0) <= 1e-7);
        free(X), free(W), free(B), free(Y), free(R), free(R2);
    }
    /* a 256-row-aligned block of rows gets the same bits whether it is
     * computed alone or inside a larger call (ppl does not depend on the
     * batch) */
    {
        int64_t M = 1100, N = 300, K = 70;
        float *X = rand_buf(M * K, 1), *W = rand_buf(N * K, 1), *B = rand_buf(N, 1);
        float *Y = rand_buf(M * N, 1), *Y2 = rand_buf(256 * N, 1);
        CHECK_OK(ctx, be->ops->gemm(be, X, W, AWQ_DT_F32, B, Y, M, N, K));
        CHECK_OK(ctx, be->ops->gemm(be, X + 512 * K, W, AWQ_DT_F32, B, Y2, 256, N, K));
        CHECK(memcmp(Y + 512 * N, Y2, sizeof(float) * (size_t)(256 * N)) == 0);
        free(X), free(W), free(B), free(Y), free(Y2);
    }
    CHECK_FAILS(ctx, be->ops->gemm(be, x, w, AWQ_DT_F16, NULL, y, 2, 2, 3),
                AWQ_ERR_UNSUPPORTED, "fp32");
    CHECK_FAILS(ctx, be->ops->gemm(be, x, w, AWQ_DT_F32, NULL, y, -1, 2, 3),
                AWQ_ERR_INVALID_ARG, "gemm");
    awq_backend_free(be);
}

static void test_rmsnorm(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    /* by hand: mean(x^2) = (1 + 4 + 9 + 16) / 4 = 7.5 */
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 0.5f}, y[4];
    CHECK_OK(ctx, be->ops->rmsnorm(be, x, w, y, 1, 4, 0.0f));
    double r = 1.0 / sqrt(7.5);
    CHECK_NEAR(y[0], 1 * r, 1e-7);
    CHECK_NEAR(y[1], 2 * r, 1e-7);
    CHECK_NEAR(y[2], 6 * r, 1e-6);
    CHECK_NEAR(y[3], 2 * r, 1e-7);
    /* eps enters under the root: mean 7.5 + eps 0.5 = 8 */
    CHECK_OK(ctx, be->ops->rmsnorm(be, x, NULL, y, 1, 4, 0.5f));
    CHECK_NEAR(y[3], 4 / sqrt(8.0), 1e-7);
    /* random rows, in place, vs a double computation and the lib oracle */
    int64_t M = 33, D = 200;
    float *X = rand_buf(M * D, 3), *W = rand_buf(D, 1), *Y = rand_buf(M * D, 1);
    float *R = rand_buf(M * D, 1), *R2 = rand_buf(M * D, 1);
    for (int64_t i = 0; i < M; i++) {
        double ss = 0;
        for (int64_t d = 0; d < D; d++) ss += (double)X[i * D + d] * X[i * D + d];
        double inv = 1.0 / sqrt(ss / D + 1e-5);
        for (int64_t d = 0; d < D; d++) R[i * D + d] = (float)(X[i * D + d] * inv * W[d]);
    }
    awq_rmsnorm_ref(X, W, R2, M, D, 1e-5f);
    memcpy(Y, X, sizeof(float) * (size_t)(M * D));
    CHECK_OK(ctx, be->ops->rmsnorm(be, Y, W, Y, M, D, 1e-5f));
    CHECK(rel_err(Y, R, M * D, 1) <= TOL_OP);
    CHECK(rel_err(R2, R, M * D, 1) <= 1e-7);
    CHECK_FAILS(ctx, be->ops->rmsnorm(be, x, w, y, 1, 0, 0.0f), AWQ_ERR_INVALID_ARG, "rmsnorm");
    free(X), free(W), free(Y), free(R), free(R2);
    awq_backend_free(be);
}

static void test_rope(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    /* by hand, head_dim 4 (half 2), one head, two positions:
     * pos 0: cos 1, sin 0 -> unchanged; pos 1: cos [0.5, 0.8], sin [0.25, 0.6]
     * x = [1, 2, 3, 4]: x1 = [1, 2], x2 = [3, 4]
     * out = [x1*c - x2*s, x2*c + x1*s] = [0.5-0.75, 1.6-2.4, 1.5+0.25, 3.2+1.2] */
    float cs[4] = {1, 1, 0.5f, 0.8f}, sn[4] = {0, 0, 0.25f, 0.6f};
    float x[8] = {1, 2, 3, 4, 1, 2, 3, 4};
    CHECK_OK(ctx, be->ops->rope(be, x, 1, 2, 1, 4, cs, sn, 2, 0));
    CHECK(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);
    CHECK_NEAR(x[4], -0.25, 1e-7);
    CHECK_NEAR(x[5], -0.8, 1e-7);
    CHECK_NEAR(x[6], 1.75, 1e-7);
    CHECK_NEAR(x[7], 4.4, 1e-6);
    /* pos0 offset: both tokens at position 1 .. 2 need 3 table rows */
    CHECK_FAILS(ctx, be->ops->rope(be, x, 1, 2, 1, 4, cs, sn, 2, 1), AWQ_ERR_INVALID_ARG,
                "rope");
    /* random: B = 3 sequences, 5 heads, head_dim 6, pos0 = 2 */
    int64_t B = 3, T = 7, H = 5, hd = 6, np = 9;
    float *X = rand_buf(B * T * H * hd, 2), *R = malloc(sizeof(float) * (size_t)(B * T * H * hd));
    float *R2 = malloc(sizeof(float) * (size_t)(B * T * H * hd));
    float *C = rand_buf(np * hd / 2, 1), *S = rand_buf(np * hd / 2, 1);
    for (int64_t r = 0; r < B * T; r++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < hd / 2; i++) {
                int64_t p = 2 + r % T, o = (r * H + h) * hd;
                double a = X[o + i], b = X[o + i + hd / 2];
                double c = C[p * hd / 2 + i], s = S[p * hd / 2 + i];
                R[o + i] = (float)(a * c - b * s);
                R[o + i + hd / 2] = (float)(b * c + a * s);
            }
    memcpy(R2, X, sizeof(float) * (size_t)(B * T * H * hd));
    awq_rope_ref(R2, B, T, H, hd, C, S, 2);
    CHECK_OK(ctx, be->ops->rope(be, X, B, T, H, hd, C, S, np, 2));
    CHECK(rel_err(X, R, B * T * H * hd, 1) <= TOL_OP);
    CHECK(rel_err(R2, R, B * T * H * hd, 1) <= 1e-7);
    free(X), free(R), free(R2), free(C), free(S);
    awq_backend_free(be);
}

static void test_attention_hand(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    /* one head, head_dim 2, T = 2, scale 1:
     * token 0 sees only itself -> out0 = v0
     * token 1: scores q1.k0 = 1, q1.k1 = 3 -> weights 1/(1+e^2), e^2/(1+e^2) */
    float q[4] = {5, 5, 1, 1}, k[4] = {1, 0, 1, 2}, v[4] = {10, -2, 4, 6}, out[4];
    awq_attn_desc d = {.B = 1, .T = 2, .n_heads = 1, .n_kv_heads = 1, .head_dim = 2,
                       .scale = 1.0f};
    CHECK_OK(ctx, be->ops->attention(be, q, k, v, out, &d));
    double w1 = exp(2.0) / (1 + exp(2.0)), w0 = 1 - w1;
    CHECK_NEAR(out[0], 10, 1e-5);
    CHECK_NEAR(out[1], -2, 1e-5);
    CHECK_NEAR(out[2], w0 * 10 + w1 * 4, 1e-5);
    CHECK_NEAR(out[3], w0 * -2 + w1 * 6, 1e-5);
    /* bad shapes */
    d.n_kv_heads = 3;
    CHECK_FAILS(ctx, be->ops->attention(be, q, k, v, out, &d), AWQ_ERR_INVALID_ARG, "attention");
    awq_backend_free(be);
}

/* Blocked attention (several block sizes, so query and key blocks cross
 * sequence and causal boundaries) against the full-softmax reference. */
static void attention_case(awq_ctx *ctx, int64_t B, int64_t T, int64_t nh, int64_t nkv,
                           int64_t hd, int block) {
    awq_backend *be = cpu(ctx);
    int64_t nq = B * T * nh * hd, nk = B * T * nkv * hd;
    float *q = rand_buf(nq, 2), *k = rand_buf(nk, 2), *v = rand_buf(nk, 1);
    float *out = rand_buf(nq, 1), *ref = rand_buf(nq, 1), *ref2 = rand_buf(nq, 1);
    awq_attn_desc d = {.B = B, .T = T, .n_heads = nh, .n_kv_heads = nkv, .head_dim = hd,
                       .scale = (float)(1.0 / sqrt((double)hd)), .block = block};
    CHECK_OK(ctx, be->ops->attention(be, q, k, v, out, &d));
    naive_attention(q, k, v, ref, B, T, nh, nkv, hd, d.scale);
    awq_attention_ref(q, k, v, ref2, &d);
    double e = rel_err(out, ref, nq, 1);
    CHECK_MSG(e <= TOL_ATTN, "attention B%lld T%lld h%lld/%lld hd%lld block %d: rel err %g",
              (long long)B, (long long)T, (long long)nh, (long long)nkv, (long long)hd, block, e);
    CHECK(rel_err(ref2, ref, nq, 1) <= 1e-6);
    free(q), free(k), free(v), free(out), free(ref), free(ref2);
    awq_backend_free(be);
}

/* Sliding window and logit soft-capping (Gemma 2/3) against the reference,
 * windows smaller and larger than the block, crossing block boundaries;
 * and a window of 1 by hand (each token sees only itself: out = v). */
static void test_attention_window(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    const int64_t cases[][6] = {
        /* B, T, heads, kv heads, window, block */
        {2, 70, 4, 2, 5, 16}, {1, 100, 2, 1, 33, 32}, {1, 64, 2, 2, 64, 16},
        {1, 90, 4, 4, 17, 0}, {2, 40, 2, 1, 1000, 16},
    };
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(cases); ci++) {
        int64_t B = cases[ci][0], T = cases[ci][1], nh = cases[ci][2], nkv = cases[ci][3];
        int64_t hd = 16, nq = B * T * nh * hd, nk = B * T * nkv * hd;
        for (int capped = 0; capped < 2; capped++) {
            float *q = rand_buf(nq, 3), *k = rand_buf(nk, 3), *v = rand_buf(nk, 1);
            float *out = rand_buf(nq, 1), *ref = rand_buf(nq, 1);
            awq_attn_desc d = {.B = B, .T = T, .n_heads = nh, .n_kv_heads = nkv,
                               .head_dim = hd, .scale = 0.25f, .block = (int)cases[ci][5],
                               .softcap = capped ? 2.0f : 0.0f, .window = cases[ci][4]};
            CHECK_OK(ctx, be->ops->attention(be, q, k, v, out, &d));
            awq_attention_ref(q, k, v, ref, &d);
            double e = rel_err(out, ref, nq, 1);
            CHECK_MSG(e <= TOL_ATTN, "window case %zu cap %d: rel err %g", ci, capped, e);
            /* the window changes the result (except the 1000 case) */
            d.window = 0;
            awq_attention_ref(q, k, v, out, &d);
            if (cases[ci][4] < T)
                CHECK_MSG(rel_err(out, ref, nq, 1) > 1e-3, "window case %zu has no effect", ci);
            free(q), free(k), free(v), free(out), free(ref);
        }
    }
    float q[4] = {5, 5, 1, 1}, k[4] = {1, 0, 1, 2}, v[4] = {10, -2, 4, 6}, out[4];
    awq_attn_desc d1 = {.B = 1, .T = 2, .n_heads = 1, .n_kv_heads = 1, .head_dim = 2,
                        .scale = 1.0f, .window = 1};
    CHECK_OK(ctx, be->ops->attention(be, q, k, v, out, &d1));
    CHECK(out[0] == 10 && out[1] == -2 && out[2] == 4 && out[3] == 6);
    awq_backend_free(be);
}

/* GELU variants and soft-capping against the double references and
 * closed-form values. */
static void test_act(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    int64_t n = 40000;
    float *g = rand_buf(n, 6), *u = rand_buf(n, 2), *o = rand_buf(n, 1), *r = rand_buf(n, 1);
    for (int a = 0; a < 3; a++) {
        CHECK_OK(ctx, be->ops->act_mul(be, (awq_act)a, g, u, o, n));
        awq_act_mul_ref((awq_act)a, g, u, r, n);
        CHECK_MSG(rel_err(o, r, n, 1) <= TOL_OP, "act %d: rel err %g", a, rel_err(o, r, n, 1));
    }
    /* silu through act_mul is silu_mul, bit for bit */
    CHECK_OK(ctx, be->ops->act_mul(be, AWQ_ACT_SILU, g, u, o, n));
    CHECK_OK(ctx, be->ops->silu_mul(be, g, u, r, n));
    CHECK(memcmp(o, r, sizeof(float) * (size_t)n) == 0);
    /* gelu(1) = 0.8413447 (erf), 0.8411920 (tanh); gelu(-1) = -0.1586553 */
    float x[2] = {1, -1}, one[2] = {1, 1}, y[2];
    CHECK_OK(ctx, be->ops->act_mul(be, AWQ_ACT_GELU, x, one, y, 2));
    CHECK_NEAR(y[0], 0.8413447, 1e-6);
    CHECK_NEAR(y[1], -0.1586553, 1e-6);
    CHECK_OK(ctx, be->ops->act_mul(be, AWQ_ACT_GELU_TANH, x, one, y, 2));
    CHECK_NEAR(y[0], 0.8411920, 1e-6);
    CHECK_FAILS(ctx, be->ops->act_mul(be, (awq_act)7, x, one, y, 2), AWQ_ERR_INVALID_ARG,
                "activation");
    /* softcap: cap * tanh(x / cap), in place */
    memcpy(r, g, sizeof(float) * (size_t)n);
    CHECK_OK(ctx, be->ops->softcap(be, g, n, 3.0f));
    awq_softcap_ref(r, n, 3.0f);
    CHECK(rel_err(g, r, n, 1) <= TOL_OP);
    float big[2] = {1000, -1000};
    CHECK_OK(ctx, be->ops->softcap(be, big, 2, 30.0f));
    CHECK(big[0] == 30.0f && big[1] == -30.0f);
    CHECK_FAILS(ctx, be->ops->softcap(be, big, 2, 0.0f), AWQ_ERR_INVALID_ARG, "softcap");
    free(g), free(u), free(o), free(r);
    awq_backend_free(be);
}

static void test_elementwise(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    int64_t n = 40000; /* > one ELEM_CHUNK */
    float *g = rand_buf(n, 8), *u = rand_buf(n, 2), *o = rand_buf(n, 1), *r = rand_buf(n, 1);
    CHECK_OK(ctx, be->ops->silu_mul(be, g, u, o, n));
    for (int64_t i = 0; i < n; i++) r[i] = (float)(g[i] / (1.0 + exp(-(double)g[i])) * u[i]);
    CHECK(rel_err(o, r, n, 1) <= TOL_OP);
    awq_silu_mul_ref(g, u, o, n);
    CHECK(rel_err(o, r, n, 1) <= 1e-7);
    /* silu(0) = 0, silu(x) -> x for large x */
    float z[2] = {0, 30}, one[2] = {1, 1}, zo[2];
    CHECK_OK(ctx, be->ops->silu_mul(be, z, one, zo, 2));
    CHECK(zo[0] == 0 && fabsf(zo[1] - 30) < 1e-5f);
    for (int64_t i = 0; i < n; i++) r[i] = g[i] + u[i];
    CHECK_OK(ctx, be->ops->add(be, g, u, n));
    CHECK(memcmp(g, r, sizeof(float) * (size_t)n) == 0);
    free(g), free(u), free(o), free(r);

    /* per-channel ops by hand */
    float x[4] = {1, 2, 3, 4}, s[2] = {2, 4};
    CHECK_OK(ctx, be->ops->scale_cols(be, x, s, 2, 2, false));
    CHECK(x[0] == 2 && x[1] == 8 && x[2] == 6 && x[3] == 16);
    CHECK_OK(ctx, be->ops->scale_cols(be, x, s, 2, 2, true));
    CHECK(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);
    CHECK_OK(ctx, be->ops->scale_rows(be, x, s, 2, 2, false));
    CHECK(x[0] == 2 && x[1] == 4 && x[2] == 12 && x[3] == 16);
    CHECK_OK(ctx, be->ops->scale_rows(be, x, s, 2, 2, true));
    CHECK(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);
    float y[4] = {1, -2, -3, 4}, cm[2];
    CHECK_OK(ctx, be->ops->col_mean_abs(be, y, 2, 2, cm));
    CHECK(cm[0] == 2 && cm[1] == 3);
    float a3[3] = {1, 2, 3}, b3[3] = {1, 0, 0};
    double mse = 0;
    CHECK_OK(ctx, be->ops->mse(be, a3, b3, 3, &mse));
    CHECK_NEAR(mse, 13.0 / 3.0, 1e-15);
    /* larger, vs double sums */
    int64_t M = 300, N = 130;
    float *X = rand_buf(M * N, 3), *Y = rand_buf(M * N, 3), *C = rand_buf(N, 1);
    CHECK_OK(ctx, be->ops->col_mean_abs(be, X, M, N, C));
    double worst = 0;
    for (int64_t c = 0; c < N; c++) {
        double acc = 0;
        for (int64_t i = 0; i < M; i++) acc += fabs(X[i * N + c]);
        worst = fmax(worst, fabs(C[c] - acc / M) / (acc / M));
    }
    CHECK(worst <= 1e-7);
    double ref = 0;
    for (int64_t i = 0; i < M * N; i++) ref += ((double)X[i] - Y[i]) * ((double)X[i] - Y[i]);
    ref /= (double)(M * N);
    CHECK_OK(ctx, be->ops->mse(be, X, Y, M * N, &mse));
    CHECK_NEAR(mse, ref, 1e-12 * ref);
    free(X), free(Y), free(C);
    awq_backend_free(be);
}

/* mse and dot: blocks of 8192 elements (AWQ_DOT_BLOCK) each summed in
 * index order in double, the block sums added in block order — the exact
 * bits of that recipe, for 1..3 threads, with runs of whole blocks the CPU
 * sums side by side and a short last block. */
static void test_pair_reductions(void) {
    const int64_t n = AWQ_DOT_BLOCK * 19 + 123;
    float *a = rand_buf(n, 5), *b = rand_buf(n, 2);
    double ref_mse = 0.0, ref_dot = 0.0;
    for (int64_t s = 0; s < n; s += AWQ_DOT_BLOCK) {
        double m = 0.0, d = 0.0;
        for (int64_t i = s; i < s + AWQ_DOT_BLOCK && i < n; i++) {
            double e = (double)a[i] - (double)b[i];
            m += e * e;
            d += (double)a[i] * (double)b[i];
        }
        ref_mse += m;
        ref_dot += d;
    }
    ref_mse /= (double)n;
    for (int t = 1; t <= 3; t++) {
        awq_ctx *ctx = awq_test_ctx(t);
        awq_backend *be = cpu(ctx);
        double mse = 0.0, dot = 0.0;
        CHECK_OK(ctx, be->ops->mse(be, a, b, n, &mse));
        CHECK_OK(ctx, be->ops->dot(be, a, b, n, &dot));
        CHECK_MSG(memcmp(&mse, &ref_mse, 8) == 0, "mse, %d threads: %.17g vs %.17g", t, mse,
                  ref_mse);
        CHECK_MSG(memcmp(&dot, &ref_dot, 8) == 0, "dot, %d threads: %.17g vs %.17g", t, dot,
                  ref_dot);
        awq_backend_free(be);
        awq_ctx_free(ctx);
    }
    free(a), free(b);
}

/* sq_err_segs: each segment's sum has the bits of the same recipe over that
 * segment alone (mse's blocks, restarted at the segment), for 1..3 threads,
 * with segments of whole blocks (one pass) and of 1.5 blocks (one
 * reduction per segment), a short last segment in both; bad sizes are
 * refused. */
static void test_sq_err_segs(void) {
    const int64_t n = AWQ_DOT_BLOCK * 13 + 77;
    float *a = rand_buf(n, 7), *b = rand_buf(n, 3);
    static const int64_t seg_lens[] = {AWQ_DOT_BLOCK * 2, AWQ_DOT_BLOCK * 3 / 2, 1000};
    for (size_t v = 0; v < sizeof seg_lens / sizeof *seg_lens; v++) {
        const int64_t L = seg_lens[v], k = (n + L - 1) / L;
        double *ref = calloc((size_t)k, sizeof(double)), *out = calloc((size_t)k, sizeof(double));
        for (int64_t s = 0; s < k; s++)
            for (int64_t b0 = s * L; b0 < AWQ_MIN(n, (s + 1) * L); b0 += AWQ_DOT_BLOCK) {
                double m = 0.0;
                for (int64_t i = b0; i < AWQ_MIN(AWQ_MIN(n, (s + 1) * L), b0 + AWQ_DOT_BLOCK); i++) {
                    double e = (double)a[i] - (double)b[i];
                    m += e * e;
                }
                ref[s] += m;
            }
        for (int t = 1; t <= 3; t++) {
            awq_ctx *ctx = awq_test_ctx(t);
            awq_backend *be = cpu(ctx);
            CHECK(be->ops->sq_err_segs != NULL);
            if (be->ops->sq_err_segs) {
                CHECK_OK(ctx, be->ops->sq_err_segs(be, a, b, n, L, out));
                CHECK_MSG(memcmp(out, ref, sizeof(double) * (size_t)k) == 0,
                          "sq_err_segs, segments of %lld, %d threads: %.17g vs %.17g (first)",
                          (long long)L, t, out[0], ref[0]);
                if (t == 1 && v == 0) {
                    CHECK_FAILS(ctx, be->ops->sq_err_segs(be, a, b, n, 0, out),
                                AWQ_ERR_INVALID_ARG, "seg_len");
                    CHECK_FAILS(ctx, be->ops->sq_err_segs(be, a, b, -1, L, out),
                                AWQ_ERR_INVALID_ARG, "sq_err_segs");
                }
            }
            awq_backend_free(be);
            awq_ctx_free(ctx);
        }
        free(ref), free(out);
    }
    free(a), free(b);
}

static void test_nll(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    /* by hand: logits [0, z], z = fp32(ln 3): logsumexp = ln(1 + e^z) ~ ln 4 */
    float lg[4] = {0, (float)log(3.0), 1, 1};
    int32_t t[2] = {1, -1};
    double nll[2];
    CHECK_OK(ctx, be->ops->nll_rows(be, lg, t, 2, 2, nll));
    double z = (double)(float)log(3.0);
    CHECK_NEAR(nll[0], log(1.0 + exp(z)) - z, TOL_NLL);
    CHECK_NEAR(nll[0], log(4.0 / 3.0), 1e-7);
    CHECK(nll[1] == 0.0);
    t[1] = 2;
    CHECK_FAILS(ctx, be->ops->nll_rows(be, lg, t, 2, 2, nll), AWQ_ERR_RANGE, "vocab");
    int64_t M = 20, V = 1000;
    float *L = rand_buf(M * V, 10);
    int32_t *tg = malloc(sizeof(int32_t) * M);
    for (int64_t i = 0; i < M; i++) tg[i] = (int32_t)((i * 37) % V);
    double *a = malloc(sizeof(double) * M), *b = malloc(sizeof(double) * M);
    CHECK_OK(ctx, be->ops->nll_rows(be, L, tg, M, V, a));
    awq_nll_rows_ref(L, tg, M, V, b);
    for (int64_t i = 0; i < M; i++) CHECK_NEAR(a[i], b[i], TOL_NLL * fmax(1.0, fabs(b[i])));
    free(L), free(tg), free(a), free(b);
    awq_backend_free(be);
}

static void test_memory(awq_ctx *ctx) {
    awq_backend *be = cpu(ctx);
    CHECK(be->ops->mem == AWQ_MEM_HOST);
    void *p = NULL;
    CHECK_OK(ctx, be->ops->alloc(be, 0, &p));
    CHECK(p != NULL);
    be->ops->free(be, p);
    be->ops->free(be, NULL);
    float src[3] = {1, 2, 3}, *d = NULL, back[3];
    CHECK_OK(ctx, be->ops->alloc(be, sizeof src, (void **)&d));
    CHECK_OK(ctx, be->ops->upload(be, d, src, sizeof src));
    CHECK_OK(ctx, be->ops->download(be, back, d, sizeof src));
    CHECK(memcmp(src, back, sizeof src) == 0);
    CHECK_OK(ctx, be->ops->sync(be));
    be->ops->free(be, d);
    awq_backend *none = NULL;
    awq_status s = awq_backend_create(ctx, AWQ_BACKEND_CUDA, 0, &none);
    if (!awq_built_with_cuda()) CHECK(s == AWQ_ERR_NO_DEVICE && none == NULL);
    awq_backend_free(none);
    CHECK(strcmp(awq_backend_kind_name(AWQ_BACKEND_CPU), "cpu") == 0);
    awq_backend_free(be);
}

/* Run the same ops with 1, 2 and 3 threads: outputs must be bit-identical. */
static void test_determinism(void) {
    int64_t M = 700, N = 300, K = 96, B = 2, T = 300, nh = 4, nkv = 2, hd = 32;
    float *X = rand_buf(M * K, 1), *W = rand_buf(N * K, 1), *Bi = rand_buf(N, 1);
    float *X2 = rand_buf(5 * K, 1);
    int64_t nq = B * T * nh * hd, nk = B * T * nkv * hd;
    float *q = rand_buf(nq, 2), *k = rand_buf(nk, 2), *v = rand_buf(nk, 1);
    float *outs[3][5];
    double mses[3];
    for (int t = 0; t < 3; t++) {
        awq_ctx *ctx = awq_test_ctx(t + 1);
        awq_backend *be = cpu(ctx);
        for (int o = 0; o < 5; o++) outs[t][o] = calloc((size_t)(M * N + nq), sizeof(float));
        CHECK_OK(ctx, be->ops->gemm(be, X, W, AWQ_DT_F32, Bi, outs[t][0], M, N, K));
        CHECK_OK(ctx, be->ops->gemm(be, X2, W, AWQ_DT_F32, NULL, outs[t][1], 5, N, K));
        awq_attn_desc d = {.B = B, .T = T, .n_heads = nh, .n_kv_heads = nkv, .head_dim = hd,
                           .scale = 0.17f, .block = 32};
        CHECK_OK(ctx, be->ops->attention(be, q, k, v, outs[t][2], &d));
        CHECK_OK(ctx, be->ops->rmsnorm(be, X, W, outs[t][3], M, K, 1e-6f));
        CHECK_OK(ctx, be->ops->col_mean_abs(be, X, M, K, outs[t][4]));
        CHECK_OK(ctx, be->ops->mse(be, X, outs[t][3], M * K, &mses[t]));
        awq_backend_free(be);
        awq_ctx_free(ctx);
    }
    size_t sizes[5] = {(size_t)(M * N), (size_t)(5 * N), (size_t)nq, (size_t)(M * K), (size_t)K};
    for (int t = 1; t < 3; t++) {
        for (int o = 0; o < 5; o++)
            CHECK_MSG(memcmp(outs[0][o], outs[t][o], sizes[o] * sizeof(float)) == 0,
                      "op %d differs between 1 and %d threads", o, t + 1);
        CHECK(mses[0] == mses[t]);
    }
    for (int t = 0; t < 3; t++)
        for (int o = 0; o < 5; o++) free(outs[t][o]);
    free(X), free(W), free(Bi), free(X2), free(q), free(k), free(v);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    test_gemm(ctx);
    test_rmsnorm(ctx);
    test_rope(ctx);
    test_attention_hand(ctx);
    attention_case(ctx, 2, 300, 4, 2, 8, 16);   /* GQA, padded head_dim, tiny block */
    attention_case(ctx, 1, 130, 2, 1, 64, 0);   /* MQA, default block */
    attention_case(ctx, 3, 37, 3, 3, 6, 16);    /* MHA, odd sizes */
    attention_case(ctx, 1, 1, 2, 2, 16, 0);     /* one token */
    attention_case(ctx, 2, 100, 2, 1, 128, 48); /* head_dim 128 */
    test_attention_window(ctx);
    test_act(ctx);
    test_elementwise(ctx);
    test_nll(ctx);
    test_pair_reductions();
    test_sq_err_segs();
    test_memory(ctx);
    awq_ctx_free(ctx);
    test_determinism();
    return awq_test_summary();
}
