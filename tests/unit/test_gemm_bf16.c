/* tests/unit/test_gemm_bf16.c — the gemm op at AWQ_GEMM_BF16 (CPU backend,
 * oneDNN) against the plain-C oracles:
 *  - vs awq_gemm_bf16_ref (the same bf16-rounded inputs, double sums):
 *    within AWQ_TOL_BF16_ACC of sum_k |x_k w_k| (fp32 accumulation only);
 *  - vs awq_gemm_ref in fp32 (the oracle of the search): within
 *    AWQ_TOL_BF16_VS_FP32 of sum_k |x_k w_k| (two roundings to 8-bit
 *    mantissas, 2^-9 relative each);
 *  - bit-identical for 1 and 2 threads, both slicings (M >= 256: rows of
 *    x; below: rows of W), with and without bias;
 *  - gemm_multi (one x, several W: q, k, v) is bit-identical to separate
 *    gemm calls, for 1..AWQ_GEMM_MULTI_MAX GEMMs, with and without biases,
 *    in both of its orders (all W at once; whole x first), both slicings,
 *    2 and 3 threads, at bf16 and at fp32;
 *  - switching back to FP32 gives OpenBLAS's bits again.
 * Where the build or the CPU cannot (no oneDNN, no AVX512-BF16) the switch
 * must fail with AWQ_ERR_UNSUPPORTED and a message, and the gemm must stay
 * fp32: that is checked instead. */
#include "awq_test.h"
#include "backend/backend.h"
#include "core/core.h"

#define AWQ_TOL_BF16_ACC 1e-5
#define AWQ_TOL_BF16_VS_FP32 (1.0 / 128.0)

static uint32_t g_rng = 99u;
static float frand(void) {
    g_rng = g_rng * 1664525u + 1013904223u;
    return ((float)(g_rng >> 8) / 16777216.0f - 0.5f) * 2.0f;
}

static void check_shape(awq_backend *b1, awq_backend *b2, int64_t M, int64_t N, int64_t K,
                        bool with_bias) {
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
    float *bias = malloc(sizeof(float) * N);
    float *y1 = malloc(sizeof(float) * M * N), *y2 = malloc(sizeof(float) * M * N);
    float *rb = malloc(sizeof(float) * M * N), *rf = malloc(sizeof(float) * M * N);
    for (int64_t i = 0; i < M * K; i++) x[i] = frand() * (i % 17 == 0 ? 20.0f : 1.0f);
    for (int64_t i = 0; i < N * K; i++) w[i] = 0.1f * frand();
    for (int64_t i = 0; i < N; i++) bias[i] = frand();
    const float *bp = with_bias ? bias : NULL;
    CHECK_OK(b1->ctx, b1->ops->gemm(b1, x, w, AWQ_DT_F32, bp, y1, M, N, K));
    CHECK_OK(b2->ctx, b2->ops->gemm(b2, x, w, AWQ_DT_F32, bp, y2, M, N, K));
    CHECK_MSG(memcmp(y1, y2, sizeof(float) * M * N) == 0,
              "bf16 gemm %lldx%lldx%lld: 1 and 2 threads differ", (long long)M, (long long)N,
              (long long)K);
    awq_gemm_bf16_ref(x, w, bp, rb, M, N, K);
    awq_gemm_ref(x, w, bp, rf, M, N, K);
    double worst_acc = 0, worst_fp = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t n = 0; n < N; n++) {
            double mag = 1e-30;
            for (int64_t k = 0; k < K; k++) mag += fabs((double)x[i * K + k] * w[n * K + k]);
            double ea = fabs((double)y1[i * N + n] - rb[i * N + n]) / mag;
            double ef = fabs((double)y1[i * N + n] - rf[i * N + n]) / mag;
            worst_acc = ea > worst_acc ? ea : worst_acc;
            worst_fp = ef > worst_fp ? ef : worst_fp;
        }
    CHECK_MSG(worst_acc <= AWQ_TOL_BF16_ACC, "%lldx%lldx%lld: vs bf16 ref %g", (long long)M,
              (long long)N, (long long)K, worst_acc);
    CHECK_MSG(worst_fp <= AWQ_TOL_BF16_VS_FP32, "%lldx%lldx%lld: vs fp32 ref %g", (long long)M,
              (long long)N, (long long)K, worst_fp);
    /* and it is not fp32: the bf16 rounding must show */
    CHECK_MSG(worst_fp > 1e-5, "%lldx%lldx%lld: no bf16 rounding visible (%g)", (long long)M,
              (long long)N, (long long)K, worst_fp);
    printf("bf16 gemm %lld x %lld x %lld%s: vs bf16 ref %.2g, vs fp32 ref %.2g (of sum |x w|)\n",
           (long long)M, (long long)N, (long long)K, with_bias ? " +bias" : "", worst_acc,
           worst_fp);
    free(x), free(w), free(bias), free(y1), free(y2), free(rb), free(rf);
}

/* gemm_multi == n gemm calls, bit for bit, on backend b (and backend b3,
 * another thread count, gives the same bits). */
static void check_multi(awq_backend *b, awq_backend *b3, int n, int64_t M, int64_t K,
                        bool with_bias) {
    const int64_t Ns[AWQ_GEMM_MULTI_MAX] = {400, 320, 64, 200};
    float *x = malloc(sizeof(float) * M * K);
    for (int64_t i = 0; i < M * K; i++) x[i] = frand() * (i % 13 == 0 ? 8.0f : 1.0f);
    const float *w[AWQ_GEMM_MULTI_MAX], *bias[AWQ_GEMM_MULTI_MAX];
    float *ya[AWQ_GEMM_MULTI_MAX], *yb[AWQ_GEMM_MULTI_MAX], *yc[AWQ_GEMM_MULTI_MAX];
    for (int i = 0; i < n; i++) {
        float *wi = malloc(sizeof(float) * Ns[i] * K), *bi = malloc(sizeof(float) * Ns[i]);
        for (int64_t e = 0; e < Ns[i] * K; e++) wi[e] = 0.1f * frand();
        for (int64_t e = 0; e < Ns[i]; e++) bi[e] = frand();
        w[i] = wi;
        /* a bias on some GEMMs only (a fused qkv with a bias on q alone) */
        bias[i] = (with_bias && i != 1) ? bi : NULL;
        if (!bias[i]) free(bi);
        ya[i] = malloc(sizeof(float) * M * Ns[i]);
        yb[i] = malloc(sizeof(float) * M * Ns[i]);
        yc[i] = malloc(sizeof(float) * M * Ns[i]);
        memset(yb[i], 0xff, sizeof(float) * M * Ns[i]);
        CHECK_OK(b->ctx, b->ops->gemm(b, x, w[i], AWQ_DT_F32, bias[i], ya[i], M, Ns[i], K));
    }
    CHECK_OK(b->ctx, awq_backend_gemm_multi(b, x, n, w, with_bias ? bias : NULL, yb, Ns, M, K));
    CHECK_OK(b3->ctx, awq_backend_gemm_multi(b3, x, n, w, with_bias ? bias : NULL, yc, Ns, M, K));
    for (int i = 0; i < n; i++) {
        CHECK_MSG(memcmp(ya[i], yb[i], sizeof(float) * M * Ns[i]) == 0,
                  "gemm_multi %s: GEMM %d of %d (M %lld K %lld%s) differs from gemm",
                  b->precision == AWQ_GEMM_BF16 ? "bf16" : "fp32", i, n, (long long)M,
                  (long long)K, with_bias ? " +bias" : "");
        CHECK_MSG(memcmp(yb[i], yc[i], sizeof(float) * M * Ns[i]) == 0,
                  "gemm_multi: GEMM %d of %d: thread counts differ", i, n);
        free((void *)w[i]), free((void *)bias[i]), free(ya[i]), free(yb[i]), free(yc[i]);
    }
    free(x);
}

int main(void) {
    awq_ctx *c1 = awq_test_ctx(1), *c2 = awq_test_ctx(2);
    awq_backend *b1 = NULL, *b2 = NULL;
    CHECK_OK(c1, awq_backend_cpu_create(c1, &b1));
    CHECK_OK(c2, awq_backend_cpu_create(c2, &b2));
    if (!b1 || !b2) return awq_test_summary();
    CHECK(b1->precision == AWQ_GEMM_FP32);
    awq_status s1 = b1->ops->set_gemm_precision(b1, AWQ_GEMM_BF16);
    if (s1 == AWQ_OK) {
        CHECK_OK(c2, b2->ops->set_gemm_precision(b2, AWQ_GEMM_BF16));
        check_shape(b1, b2, 600, 300, 200, false); /* 3 row slices of x, a short one */
        check_shape(b1, b2, 600, 96, 1000, true);
        check_shape(b1, b2, 40, 700, 136, true);   /* M < 256: slices of W */
        check_shape(b1, b2, 1, 33, 7, false);
        {
            /* BF16_LINEAR (quantize's calibration forward) is BF16 for the
             * gemm, bit for bit, and reads back as itself */
            const int64_t M = 300, N = 80, K = 72;
            float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
            float *ya = malloc(sizeof(float) * M * N), *yb = malloc(sizeof(float) * M * N);
            for (int64_t i = 0; i < M * K; i++) x[i] = frand();
            for (int64_t i = 0; i < N * K; i++) w[i] = frand();
            CHECK_OK(c2, b2->ops->gemm(b2, x, w, AWQ_DT_F32, NULL, ya, M, N, K));
            CHECK_OK(c2, b2->ops->set_gemm_precision(b2, AWQ_GEMM_BF16_LINEAR));
            CHECK(b2->precision == AWQ_GEMM_BF16_LINEAR);
            CHECK_OK(c2, b2->ops->gemm(b2, x, w, AWQ_DT_F32, NULL, yb, M, N, K));
            CHECK_MSG(memcmp(ya, yb, sizeof(float) * M * N) == 0,
                      "gemm at BF16_LINEAR differs from BF16");
            CHECK_OK(c2, b2->ops->set_gemm_precision(b2, AWQ_GEMM_BF16));
            free(x), free(w), free(ya), free(yb);
        }
        awq_ctx *c3 = awq_test_ctx(3);
        awq_backend *b3 = NULL;
        CHECK_OK(c3, awq_backend_cpu_create(c3, &b3));
        CHECK_OK(c3, b3->ops->set_gemm_precision(b3, AWQ_GEMM_BF16));
        for (int pass = 0; pass < 2; pass++) {
            for (int n = 1; n <= AWQ_GEMM_MULTI_MAX; n++) {
                /* rows of x, a short slice: all W in bf16 at once (M large) */
                check_multi(b2, b3, n, 700, 72, n % 2 == 0);
                /* the whole x in bf16, then the W one by one (n > 1: M small) */
                check_multi(b2, b3, n, 300, 56, n % 2 == 1);
                check_multi(b2, b3, n, 100, 40, n % 2 == 1); /* M < 256: separate GEMMs */
            }
            /* the same at fp32 (gemm_multi is n OpenBLAS calls there) */
            CHECK_OK(c2, b2->ops->set_gemm_precision(b2, AWQ_GEMM_FP32));
            CHECK_OK(c3, b3->ops->set_gemm_precision(b3, AWQ_GEMM_FP32));
        }
        CHECK_FAILS(c2, awq_backend_gemm_multi(b2, NULL, 0, NULL, NULL, NULL, NULL, 1, 1),
                    AWQ_ERR_INVALID_ARG, "gemm_multi");
        CHECK_OK(c2, b2->ops->set_gemm_precision(b2, AWQ_GEMM_BF16));
        awq_backend_free(b3);
        awq_ctx_free(c3);
        /* back to fp32: OpenBLAS again, bit for bit */
        const int64_t M = 300, N = 64, K = 48;
        float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
        float *y1 = malloc(sizeof(float) * M * N), *y2 = malloc(sizeof(float) * M * N);
        for (int64_t i = 0; i < M * K; i++) x[i] = frand();
        for (int64_t i = 0; i < N * K; i++) w[i] = frand();
        CHECK_OK(c1, b1->ops->set_gemm_precision(b1, AWQ_GEMM_FP32));
        CHECK_OK(c1, b1->ops->gemm(b1, x, w, AWQ_DT_F32, NULL, y1, M, N, K));
        CHECK_OK(c2, b2->ops->set_gemm_precision(b2, AWQ_GEMM_FP32));
        CHECK_OK(c2, b2->ops->gemm(b2, x, w, AWQ_DT_F32, NULL, y2, M, N, K));
        CHECK(memcmp(y1, y2, sizeof(float) * M * N) == 0);
        free(x), free(w), free(y1), free(y2);
    } else {
        printf("bf16 GEMMs unavailable here: %s\n", awq_ctx_errmsg(c1));
        CHECK_EQ_INT(s1, AWQ_ERR_UNSUPPORTED);
        CHECK(strstr(awq_ctx_errmsg(c1), "bf16") != NULL);
        CHECK(b1->precision == AWQ_GEMM_FP32);
        CHECK_EQ_INT(b1->ops->set_gemm_precision(b1, AWQ_GEMM_BF16_LINEAR), AWQ_ERR_UNSUPPORTED);
        CHECK(b1->precision == AWQ_GEMM_FP32);
    }
    CHECK_FAILS(c1, b1->ops->set_gemm_precision(b1, (awq_gemm_precision)7), AWQ_ERR_INVALID_ARG,
                "precision");
    awq_backend_free(b1);
    awq_backend_free(b2);
    awq_ctx_free(c1);
    awq_ctx_free(c2);
    return awq_test_summary();
}
