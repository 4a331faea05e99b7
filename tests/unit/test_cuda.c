/* tests/unit/test_cuda.c — every op of the CUDA backend against the _ref
 * oracles of backend.h (named tolerances) or the CPU backend (bit-identical
 * where lib/backend/cuda.h promises it), and the quantization kernels
 * against the CPU quantizer, clip search and packers (bit-identical).
 *
 * Built twice:
 *   test_cuda      (label cuda) against the real CUDA backend; exits 77
 *                  (skipped) when the build has no CUDA or no GPU is usable;
 *   test_cuda_emu  (label unit, CPU-only builds) against the same host glue
 *                  and kernels running on the CPU emulation of
 *                  tests/unit/cuda_emu/ (AWQ_CUDA_EMU), which also checks
 *                  that every copy's pointers are on the right side and that
 *                  nothing leaks.
 * Inputs are random (fixed seed), never zeros; outputs are poisoned with
 * NaN before each op so unwritten elements fail. */
#include "awq_test.h"

#include "backend/backend.h"
#include "backend/cuda.h"
#include "backend/cuda_quant.h"
#include "core/core.h"
#include "quant/clip.h"
#include "quant/layouts.h"

#ifdef AWQ_CUDA_EMU
#include "cublas_v2.h"
#include "cuda_runtime_api.h"
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#define EMU 1
#else
#define EMU 0
#endif

/* Named tolerances (relative to the magnitude noted at each use). */
#define AWQ_TOL_GEMM_REL 1e-5      /* |y - ref| / sum_k |x_k w_k| (fp32 sums), */
#define AWQ_TOL_GEMM_ULP_PER_K 2.0 /* or 2 K ulp(1) when larger: the worst
                                      case of any summation order with
                                      round-to-nearest or truncating adds
                                      (tensor-core accumulation) */
#define AWQ_TOL_GEMM_TF32_REL 3e-3 /* the same with TF32 inputs */
#define AWQ_TOL_ROWOP_REL 1e-6     /* rmsnorm, rope vs the double oracles */
#define AWQ_TOL_EXP_REL 1e-6       /* silu_mul: CUDA expf is within 2 ulp */
#define AWQ_TOL_ATTN_REL 2e-5      /* attention, relative to max |v| */
#define AWQ_TOL_MSE_REL 1e-12      /* double sums in another order */
#define AWQ_TOL_NLL_ABS 1e-9       /* nats */

static awq_ctx *ctx;
static awq_backend *be, *cpu;

/* ------------------------------------------------------------ helpers */

static uint64_t rng = 0x243f6a8885a308d3ull; /* awq_test_rand_* (awq_test.h) */

static float *rnd_vec(int64_t n, float scale) {
    float *v = awq_alloc((size_t)(n > 0 ? n : 1), sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = scale * awq_test_rand_normal(&rng);
    return v;
}

static void *dev(size_t bytes) {
    void *d = NULL;
    awq_status s = be->ops->alloc(be, bytes, &d);
    if (s != AWQ_OK) {
        fprintf(stderr, "device alloc of %zu bytes: %s\n", bytes, awq_ctx_errmsg(ctx));
        exit(1);
    }
    return d;
}

static void *to_dev(const void *h, size_t bytes) {
    void *d = dev(bytes);
    if (bytes && be->ops->upload(be, d, h, bytes) != AWQ_OK) {
        fprintf(stderr, "upload: %s\n", awq_ctx_errmsg(ctx));
        exit(1);
    }
    return d;
}

/* device buffer of n floats filled with NaN */
static float *dev_nan(int64_t n) {
    float *h = awq_alloc((size_t)(n > 0 ? n : 1), sizeof(float));
    for (int64_t i = 0; i < n; i++) h[i] = NAN;
    float *d = to_dev(h, (size_t)n * sizeof(float));
    awq_free(h);
    return d;
}

static void from_dev(void *h, const void *d, size_t bytes) {
    if (bytes && be->ops->download(be, h, d, bytes) != AWQ_OK) {
        fprintf(stderr, "download: %s\n", awq_ctx_errmsg(ctx));
        exit(1);
    }
}

static float *dl_floats(const float *d, int64_t n) {
    float *h = awq_alloc((size_t)(n > 0 ? n : 1), sizeof(float));
    from_dev(h, d, (size_t)n * sizeof(float));
    return h;
}

static void dfree(void *d) { be->ops->free(be, d); }

static bool bits_equal(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* ------------------------------------------------------------- memory */

static void test_memory(void) {
    void *z = NULL;
    CHECK_OK(ctx, be->ops->alloc(be, 0, &z));
    CHECK(z != NULL);
    dfree(z);
    dfree(NULL);
    const int64_t n = 1000;
    float *h = rnd_vec(n, 1.0f), *back = awq_alloc((size_t)n, 4);
    float *d = to_dev(h, (size_t)n * 4u);
    from_dev(back, d, (size_t)n * 4u);
    CHECK(bits_equal(h, back, (size_t)n * 4u));
    /* a large transfer at an odd offset, both ways */
    {
        const size_t nb = ((size_t)70 << 20) + 13;
        unsigned char *hb = awq_alloc(nb, 1), *hb2 = awq_alloc(nb, 1);
        for (size_t i = 0; i < nb; i++) hb[i] = (unsigned char)((uint64_t)i * 0x9E3779B97F4A7C15ull >> 56);
        unsigned char *db = NULL;
        CHECK_OK(ctx, be->ops->alloc(be, nb + 1, (void **)&db));
        CHECK_OK(ctx, be->ops->upload(be, db + 1, hb, nb));
        memset(hb2, 0, nb);
        CHECK_OK(ctx, be->ops->download(be, hb2, db + 1, nb));
        CHECK(memcmp(hb, hb2, nb) == 0);
        dfree(db);
        awq_free(hb);
        awq_free(hb2);
    }
    /* copy, including overlapping ranges (memmove semantics) */
    float *d2 = dev_nan(n);
    CHECK_OK(ctx, be->ops->copy(be, d2, d, (size_t)n * 4u));
    from_dev(back, d2, (size_t)n * 4u);
    CHECK(bits_equal(h, back, (size_t)n * 4u));
    CHECK_OK(ctx, be->ops->copy(be, d2 + 10, d2, 500u * 4u));
    from_dev(back, d2, (size_t)n * 4u);
    CHECK(bits_equal(back + 10, h, 500u * 4u) && bits_equal(back, h, 10u * 4u));
    CHECK_OK(ctx, be->ops->sync(be));
    awq_cuda_mem_stats ms;
    CHECK_OK(ctx, awq_backend_cuda_mem_stats(be, &ms));
    CHECK(ms.in_use >= 2u * (uint64_t)n * 4u && ms.peak_in_use >= ms.in_use);
    CHECK(ms.device_total > 0);
    dfree(d);
    dfree(d2);
    /* out of memory (twice the device): the bytes and the hint. Skipped
     * under compute-sanitizer (cuda_memcheck.sh), which counts the
     * intentional API error as a failure. */
    if (!getenv("AWQ_TEST_SKIP_OOM")) {
        void *huge = NULL;
        const size_t big = (size_t)ms.device_total * 2u;
        char want[64];
        snprintf(want, sizeof want, "needs %llu bytes", (unsigned long long)big);
        CHECK_FAILS(ctx, be->ops->alloc(be, big, &huge), AWQ_ERR_CUDA, want);
        CHECK(strstr(awq_ctx_errmsg(ctx), "use fewer calibration samples (--samples) or "
                                          "--offload-activations") != NULL);
        CHECK(huge == NULL);
    }
    /* the backend still works after the failure */
    d = to_dev(h, 16);
    from_dev(back, d, 16);
    CHECK(bits_equal(h, back, 16));
    dfree(d);
    CHECK(strlen(awq_backend_cuda_device_desc(be)) > 0);
    awq_free(h);
    awq_free(back);
}

/* --------------------------------------------------------------- GEMM */

static int gemm_bad(const float *y, const float *x, const float *w, const float *bias, int64_t M,
                    int64_t N, int64_t K, double tol) {
    int bad = 0;
    tol = fmax(tol, AWQ_TOL_GEMM_ULP_PER_K * (double)K * 5.9604644775390625e-08);
    for (int64_t i = 0; i < M; i++)
        for (int64_t n = 0; n < N; n++) {
            double ref = bias ? bias[n] : 0.0, mag = bias ? fabs(bias[n]) : 0.0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)x[i * K + k] * (double)w[n * K + k];
                ref += p;
                mag += fabs(p);
            }
            if (!(fabs((double)y[i * N + n] - ref) <= tol * mag + 1e-30)) bad++;
        }
    return bad;
}

static void round_to_half(float *v, int64_t n, bool bf16) {
    for (int64_t i = 0; i < n; i++)
        v[i] = bf16 ? awq_bf16_to_f32(awq_f32_to_bf16(v[i])) : awq_f16_to_f32(awq_f32_to_f16(v[i]));
}

static void test_gemm(void) {
    const int64_t shapes[][3] = {{37, 29, 53}, {1, 1, 1}, {64, 96, 128}, {5, 8, 300}, {3, 7, 0}};
    for (size_t si = 0; si < AWQ_ARRAY_LEN(shapes); si++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
            float *x = rnd_vec(M * K, 1.0f), *w = rnd_vec(N * K, 0.1f), *b = rnd_vec(N, 0.5f);
            float *dx = to_dev(x, (size_t)(M * K) * 4u), *dw = to_dev(w, (size_t)(N * K) * 4u);
            float *db = to_dev(b, (size_t)N * 4u), *dy = dev_nan(M * N);
            const float *bias = with_bias ? b : NULL;
            CHECK_OK(ctx, be->ops->gemm(be, dx, dw, AWQ_DT_F32, with_bias ? db : NULL, dy, M, N, K));
            float *y = dl_floats(dy, M * N);
            CHECK_MSG(gemm_bad(y, x, w, bias, M, N, K, AWQ_TOL_GEMM_REL) == 0,
                      "gemm f32 %lldx%lldx%lld bias %d", (long long)M, (long long)N,
                      (long long)K, with_bias);
            awq_free(y);

            /* F16 / BF16 weights: equal to the fp32 product of the
             * half-rounded activations and weights */
            for (int bf = 0; bf < 2 && K > 0; bf++) {
                uint16_t *wh = awq_alloc((size_t)(N * K), 2);
                float *wr = awq_alloc((size_t)(N * K), 4), *xr = awq_alloc((size_t)(M * K), 4);
                for (int64_t i = 0; i < N * K; i++) {
                    wh[i] = bf ? awq_f32_to_bf16(w[i]) : awq_f32_to_f16(w[i]);
                    wr[i] = bf ? awq_bf16_to_f32(wh[i]) : awq_f16_to_f32(wh[i]);
                }
                memcpy(xr, x, (size_t)(M * K) * 4u);
                round_to_half(xr, M * K, bf);
                void *dwh = to_dev(wh, (size_t)(N * K) * 2u);
                float *dy2 = dev_nan(M * N);
                CHECK_OK(ctx, be->ops->gemm(be, dx, dwh, bf ? AWQ_DT_BF16 : AWQ_DT_F16,
                                            with_bias ? db : NULL, dy2, M, N, K));
                y = dl_floats(dy2, M * N);
                CHECK_MSG(gemm_bad(y, xr, wr, bias, M, N, K, AWQ_TOL_GEMM_REL) == 0,
                          "gemm %s %lldx%lldx%lld", bf ? "bf16" : "f16", (long long)M,
                          (long long)N, (long long)K);
                awq_free(y);
                awq_free(wh);
                awq_free(wr);
                awq_free(xr);
                dfree(dwh);
                dfree(dy2);
            }
            awq_free(x);
            awq_free(w);
            awq_free(b);
            dfree(dx);
            dfree(dw);
            dfree(db);
            dfree(dy);
        }
    /* TF32 only when asked, with its own tolerance */
    const int64_t M = 16, N = 24, K = 96;
    float *x = rnd_vec(M * K, 1.0f), *w = rnd_vec(N * K, 0.1f);
    float *dx = to_dev(x, (size_t)(M * K) * 4u), *dw = to_dev(w, (size_t)(N * K) * 4u);
    float *dy = dev_nan(M * N);
    CHECK_OK(ctx, awq_backend_cuda_set_gemm_mode(be, AWQ_CUDA_GEMM_TF32));
    CHECK_OK(ctx, be->ops->gemm(be, dx, dw, AWQ_DT_F32, NULL, dy, M, N, K));
    float *y = dl_floats(dy, M * N);
    CHECK(gemm_bad(y, x, w, NULL, M, N, K, AWQ_TOL_GEMM_TF32_REL) == 0);
    awq_free(y);
    /* BF16 through the backend-neutral switch (the search's --precision
     * bf16): inputs rounded to bf16, so the oracle on rounded inputs holds
     * to fp32 accumulation, and the op reports the precision */
    CHECK_OK(ctx, be->ops->set_gemm_precision(be, AWQ_GEMM_BF16));
    CHECK(be->precision == AWQ_GEMM_BF16);
    CHECK_OK(ctx, be->ops->gemm(be, dx, dw, AWQ_DT_F32, NULL, dy, M, N, K));
    y = dl_floats(dy, M * N);
    {
        float *xr = awq_alloc((size_t)(M * K), sizeof(float));
        float *wr = awq_alloc((size_t)(N * K), sizeof(float));
        memcpy(xr, x, sizeof(float) * (size_t)(M * K));
        memcpy(wr, w, sizeof(float) * (size_t)(N * K));
        round_to_half(xr, M * K, true);
        round_to_half(wr, N * K, true);
        CHECK(gemm_bad(y, xr, wr, NULL, M, N, K, AWQ_TOL_GEMM_REL) == 0);
        awq_free(xr);
        awq_free(wr);
    }
    /* BF16_LINEAR (quantize's calibration forward) is the same gemm, bit
     * for bit, and reads back as itself */
    {
        CHECK_OK(ctx, be->ops->set_gemm_precision(be, AWQ_GEMM_BF16_LINEAR));
        CHECK(be->precision == AWQ_GEMM_BF16_LINEAR);
        CHECK_OK(ctx, be->ops->gemm(be, dx, dw, AWQ_DT_F32, NULL, dy, M, N, K));
        float *y2 = dl_floats(dy, M * N);
        CHECK_MSG(memcmp(y, y2, sizeof(float) * (size_t)(M * N)) == 0,
                  "gemm at BF16_LINEAR differs from BF16");
        awq_free(y2);
    }
    awq_free(y);
    CHECK_OK(ctx, be->ops->set_gemm_precision(be, AWQ_GEMM_FP32));
    CHECK(be->precision == AWQ_GEMM_FP32);
    /* gram and dot (the search's Gram loss) against their oracles */
    {
        float *g = dev_nan(K * K);
        CHECK_OK(ctx, be->ops->gram(be, dx, M, K, g, false));
        CHECK_OK(ctx, be->ops->gram(be, dx, M, K, g, true)); /* 2 x^T x */
        float *gh = dl_floats(g, K * K), *gr = awq_alloc((size_t)(K * K), sizeof(float));
        awq_gram_ref(x, M, K, gr, false);
        int bad = 0;
        for (int64_t i = 0; i < K * K; i++)
            bad += !(fabs((double)gh[i] - 2.0 * gr[i]) <=
                     1e-5 * (fabs(2.0 * gr[i]) + 2.0 * sqrt((double)gr[(i / K) * K + i / K] *
                                                            gr[(i % K) * K + i % K])));
        CHECK_MSG(bad == 0, "gram: %d entries off", bad);
        double d = 0;
        CHECK_OK(ctx, be->ops->dot(be, dx, dx, M * K, &d));
        CHECK(d == awq_dot_ref(x, x, M * K));
        awq_free(gh);
        awq_free(gr);
        dfree(g);
    }
    CHECK_OK(ctx, awq_backend_cuda_set_gemm_mode(be, AWQ_CUDA_GEMM_FP32));
    CHECK_FAILS(ctx, be->ops->gemm(be, dx, dw, AWQ_DT_F64, NULL, dy, M, N, K), AWQ_ERR_UNSUPPORTED,
                "F64");
    CHECK_FAILS(ctx, be->ops->gemm(be, dx, dw, AWQ_DT_F32, NULL, dy, -1, N, K),
                AWQ_ERR_INVALID_ARG, "bad shape");
    awq_free(x);
    awq_free(w);
    dfree(dx);
    dfree(dw);
    dfree(dy);
}

/* ------------------------------------------------------------ row ops */

static int rel_bad(const float *y, const float *ref, int64_t n, double rel, double abs_tol) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)y[i] - (double)ref[i]) <= rel * fabs((double)ref[i]) + abs_tol)) bad++;
    return bad;
}

static void test_rmsnorm(void) {
    const int64_t M = 5, D = 300;
    float *x = rnd_vec(M * D, 2.0f), *w = rnd_vec(D, 1.0f), *ref = awq_alloc((size_t)(M * D), 4);
    float *dx = to_dev(x, (size_t)(M * D) * 4u), *dw = to_dev(w, (size_t)D * 4u);
    for (int with_w = 0; with_w < 2; with_w++) {
        float *dy = dev_nan(M * D);
        CHECK_OK(ctx, be->ops->rmsnorm(be, dx, with_w ? dw : NULL, dy, M, D, 1e-6f));
        awq_rmsnorm_ref(x, with_w ? w : NULL, ref, M, D, 1e-6f);
        float *y = dl_floats(dy, M * D);
        CHECK(rel_bad(y, ref, M * D, AWQ_TOL_ROWOP_REL, 1e-7) == 0);
        awq_free(y);
        dfree(dy);
    }
    /* in place */
    CHECK_OK(ctx, be->ops->rmsnorm(be, dx, dw, dx, M, D, 1e-5f));
    awq_rmsnorm_ref(x, w, ref, M, D, 1e-5f);
    float *y = dl_floats(dx, M * D);
    CHECK(rel_bad(y, ref, M * D, AWQ_TOL_ROWOP_REL, 1e-7) == 0);
    CHECK_FAILS(ctx, be->ops->rmsnorm(be, dx, dw, dx, M, 0, 1e-5f), AWQ_ERR_INVALID_ARG, "rmsnorm");
    awq_free(y);
    awq_free(x);
    awq_free(w);
    awq_free(ref);
    dfree(dx);
    dfree(dw);
}

static void test_rope(void) {
    const int64_t B = 2, T = 5, H = 3, hd = 8, pos0 = 2, n_pos = 9, half = hd / 2;
    const int64_t n = B * T * H * hd;
    float *x = rnd_vec(n, 1.0f), *cs = awq_alloc((size_t)(n_pos * half), 4);
    float *sn = awq_alloc((size_t)(n_pos * half), 4);
    for (int64_t i = 0; i < n_pos * half; i++) {
        float a = awq_test_rand_unif(&rng) * 6.2831853f;
        cs[i] = cosf(a);
        sn[i] = sinf(a);
    }
    float *dx = to_dev(x, (size_t)n * 4u), *dc = to_dev(cs, (size_t)(n_pos * half) * 4u);
    float *ds = to_dev(sn, (size_t)(n_pos * half) * 4u);
    CHECK_OK(ctx, be->ops->rope(be, dx, B, T, H, hd, dc, ds, n_pos, pos0));
    float *y = dl_floats(dx, n);
    float *c = awq_alloc((size_t)n, 4), *r = awq_alloc((size_t)n, 4);
    memcpy(c, x, (size_t)n * 4u);
    memcpy(r, x, (size_t)n * 4u);
    CHECK_OK(ctx, cpu->ops->rope(cpu, c, B, T, H, hd, cs, sn, n_pos, pos0));
    awq_rope_ref(r, B, T, H, hd, cs, sn, pos0);
    CHECK(bits_equal(y, c, (size_t)n * 4u)); /* promised: the CPU backend's bits */
    CHECK(rel_bad(y, r, n, AWQ_TOL_ROWOP_REL, 1e-6) == 0);
    CHECK_FAILS(ctx, be->ops->rope(be, dx, B, T, H, hd, dc, ds, 6, pos0), AWQ_ERR_INVALID_ARG,
                "rope");
    awq_free(x);
    awq_free(cs);
    awq_free(sn);
    awq_free(y);
    awq_free(c);
    awq_free(r);
    dfree(dx);
    dfree(dc);
    dfree(ds);
}

static void test_attention(void) {
    struct {
        int64_t B, T, H, KVH, hd;
        bool big;
    } cases[] = {
        {2, 37, 4, 2, 16, false}, {1, 70, 2, 1, 40, false}, {1, 33, 2, 2, 128, false},
        {1, 40, 1, 1, 256, false}, {1, 1, 1, 1, 8, false},  {2, 300, 8, 2, 128, true},
        {1, 513, 4, 4, 64, true},
    };
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(cases); ci++) {
        if (cases[ci].big && EMU) continue; /* the emulation is slow */
        awq_attn_desc d = {cases[ci].B, cases[ci].T, cases[ci].H, cases[ci].KVH,
                           cases[ci].hd, 0.0f, 0, 0.0f, 0};
        d.scale = 1.0f / sqrtf((float)d.head_dim);
        const int64_t rows = d.B * d.T, nq = rows * d.n_heads * d.head_dim;
        const int64_t nkv = rows * d.n_kv_heads * d.head_dim;
        float *q = rnd_vec(nq, 1.0f), *k = rnd_vec(nkv, 1.0f), *v = rnd_vec(nkv, 1.0f);
        float *ref = awq_alloc((size_t)nq, 4);
        float *dq = to_dev(q, (size_t)nq * 4u), *dk = to_dev(k, (size_t)nkv * 4u);
        float *dv = to_dev(v, (size_t)nkv * 4u), *dout = dev_nan(nq);
        CHECK_OK(ctx, be->ops->attention(be, dq, dk, dv, dout, &d));
        awq_attention_ref(q, k, v, ref, &d);
        float *o = dl_floats(dout, nq);
        float vmax = 0.0f;
        for (int64_t i = 0; i < nkv; i++) vmax = fmaxf(vmax, fabsf(v[i]));
        int bad = 0;
        for (int64_t i = 0; i < nq; i++)
            if (!(fabs((double)o[i] - (double)ref[i]) <= AWQ_TOL_ATTN_REL * vmax)) bad++;
        CHECK_MSG(bad == 0, "attention case %zu: %d bad", ci, bad);
        /* deterministic */
        float *dout2 = dev_nan(nq);
        CHECK_OK(ctx, be->ops->attention(be, dq, dk, dv, dout2, &d));
        float *o2 = dl_floats(dout2, nq);
        CHECK(bits_equal(o, o2, (size_t)nq * 4u));
        awq_free(q);
        awq_free(k);
        awq_free(v);
        awq_free(ref);
        awq_free(o);
        awq_free(o2);
        dfree(dq);
        dfree(dk);
        dfree(dv);
        dfree(dout);
        dfree(dout2);
    }
    /* sliding window and soft-capping (Gemma): windows below, at and across
     * the 32-key tile */
    const int64_t wcases[][5] = {{2, 70, 4, 2, 5}, {1, 100, 2, 1, 33}, {1, 64, 2, 2, 32}};
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(wcases); ci++) {
        awq_attn_desc d = {.B = wcases[ci][0], .T = wcases[ci][1], .n_heads = wcases[ci][2],
                           .n_kv_heads = wcases[ci][3], .head_dim = 16, .scale = 0.25f,
                           .softcap = ci == 1 ? 0.0f : 2.0f, .window = wcases[ci][4]};
        const int64_t rows = d.B * d.T, nq = rows * d.n_heads * 16, nkv = rows * d.n_kv_heads * 16;
        float *q = rnd_vec(nq, 3.0f), *k = rnd_vec(nkv, 3.0f), *v = rnd_vec(nkv, 1.0f);
        float *ref = awq_alloc((size_t)nq, 4);
        float *dq = to_dev(q, (size_t)nq * 4u), *dk = to_dev(k, (size_t)nkv * 4u);
        float *dv = to_dev(v, (size_t)nkv * 4u), *dout = dev_nan(nq);
        CHECK_OK(ctx, be->ops->attention(be, dq, dk, dv, dout, &d));
        awq_attention_ref(q, k, v, ref, &d);
        float *o = dl_floats(dout, nq);
        int bad = 0;
        for (int64_t i = 0; i < nq; i++)
            if (!(fabs((double)o[i] - (double)ref[i]) <= AWQ_TOL_ATTN_REL * 1.0)) bad++;
        CHECK_MSG(bad == 0, "attention window case %zu: %d bad", ci, bad);
        awq_free(q), awq_free(k), awq_free(v), awq_free(ref), awq_free(o);
        dfree(dq), dfree(dk), dfree(dv), dfree(dout);
    }
    awq_attn_desc bad = {1, 4, 3, 2, 16, 0.25f, 0, 0.0f, 0};
    float *dummy = dev_nan(1024);
    CHECK_FAILS(ctx, be->ops->attention(be, dummy, dummy, dummy, dummy, &bad),
                AWQ_ERR_INVALID_ARG, "attention");
    awq_attn_desc wide = {1, 4, 1, 1, 512, 0.25f, 0, 0.0f, 0};
    CHECK_FAILS(ctx, be->ops->attention(be, dummy, dummy, dummy, dummy, &wide),
                AWQ_ERR_UNSUPPORTED, "head_dim 512");
    awq_attn_desc empty = {0, 4, 1, 1, 16, 0.25f, 0, 0.0f, 0};
    CHECK_OK(ctx, be->ops->attention(be, dummy, dummy, dummy, dummy, &empty));
    dfree(dummy);
}

/* -------------------------------------------------------- elementwise */

static void test_elementwise(void) {
    const int64_t n = 3001;
    float *g = rnd_vec(n, 4.0f), *u = rnd_vec(n, 1.0f), *ref = awq_alloc((size_t)n, 4);
    float *dg = to_dev(g, (size_t)n * 4u), *du = to_dev(u, (size_t)n * 4u), *dy = dev_nan(n);
    CHECK_OK(ctx, be->ops->silu_mul(be, dg, du, dy, n));
    awq_silu_mul_ref(g, u, ref, n);
    float *y = dl_floats(dy, n);
    CHECK(rel_bad(y, ref, n, AWQ_TOL_EXP_REL, 1e-30) == 0);
    awq_free(y);
    /* in place (out == gate) */
    CHECK_OK(ctx, be->ops->silu_mul(be, dg, du, dg, n));
    y = dl_floats(dg, n);
    CHECK(rel_bad(y, ref, n, AWQ_TOL_EXP_REL, 1e-30) == 0);
    awq_free(y);

    /* GELU variants and soft-capping against the double references */
    for (int a = 1; a < 3; a++) {
        float *dg0 = to_dev(g, (size_t)n * 4u); /* dg was overwritten in place */
        CHECK_OK(ctx, be->ops->act_mul(be, (awq_act)a, dg0, du, dy, n));
        dfree(dg0);
        awq_act_mul_ref((awq_act)a, g, u, ref, n);
        y = dl_floats(dy, n);
        CHECK_MSG(rel_bad(y, ref, n, 4 * AWQ_TOL_EXP_REL, 1e-6) == 0, "act %d", a);
        awq_free(y);
    }
    {
        float *dc = to_dev(g, (size_t)n * 4u);
        CHECK_OK(ctx, be->ops->softcap(be, dc, n, 3.0f));
        memcpy(ref, g, (size_t)n * 4u);
        awq_softcap_ref(ref, n, 3.0f);
        y = dl_floats(dc, n);
        CHECK(rel_bad(y, ref, n, 4 * AWQ_TOL_EXP_REL, 1e-6) == 0);
        awq_free(y);
        dfree(dc);
    }

    /* add: the CPU backend's bits */
    float *a = rnd_vec(n, 1.0f), *c = awq_alloc((size_t)n, 4);
    float *da = to_dev(a, (size_t)n * 4u);
    memcpy(c, a, (size_t)n * 4u);
    CHECK_OK(ctx, be->ops->add(be, da, du, n));
    CHECK_OK(ctx, cpu->ops->add(cpu, c, u, n));
    y = dl_floats(da, n);
    CHECK(bits_equal(y, c, (size_t)n * 4u));
    awq_free(y);
    CHECK_FAILS(ctx, be->ops->add(be, da, du, -1), AWQ_ERR_INVALID_ARG, "add");

    /* scale_cols / scale_rows, multiply and divide */
    const int64_t M = 31, N = 97;
    float *x = rnd_vec(M * N, 1.0f), *sc = awq_alloc((size_t)N, 4), *sr = awq_alloc((size_t)M, 4);
    for (int64_t i = 0; i < N; i++) sc[i] = 0.1f + 3.0f * awq_test_rand_unif(&rng);
    for (int64_t i = 0; i < M; i++) sr[i] = 0.1f + 3.0f * awq_test_rand_unif(&rng);
    float *dsc = to_dev(sc, (size_t)N * 4u), *dsr = to_dev(sr, (size_t)M * 4u);
    for (int rows = 0; rows < 2; rows++)
        for (int div = 0; div < 2; div++) {
            float *dx = to_dev(x, (size_t)(M * N) * 4u), *h = awq_alloc((size_t)(M * N), 4);
            memcpy(h, x, (size_t)(M * N) * 4u);
            if (rows) {
                CHECK_OK(ctx, be->ops->scale_rows(be, dx, dsr, M, N, div));
                CHECK_OK(ctx, cpu->ops->scale_rows(cpu, h, sr, M, N, div));
            } else {
                CHECK_OK(ctx, be->ops->scale_cols(be, dx, dsc, M, N, div));
                CHECK_OK(ctx, cpu->ops->scale_cols(cpu, h, sc, M, N, div));
            }
            y = dl_floats(dx, M * N);
            CHECK_MSG(bits_equal(y, h, (size_t)(M * N) * 4u), "scale rows %d divide %d", rows, div);
            awq_free(y);
            awq_free(h);
            dfree(dx);
        }

    /* col_mean_abs: the CPU backend's bits (same order, double) */
    float *dx = to_dev(x, (size_t)(M * N) * 4u), *dm = dev_nan(N), *cm = awq_alloc((size_t)N, 4);
    CHECK_OK(ctx, be->ops->col_mean_abs(be, dx, M, N, dm));
    CHECK_OK(ctx, cpu->ops->col_mean_abs(cpu, x, M, N, cm));
    y = dl_floats(dm, N);
    CHECK(bits_equal(y, cm, (size_t)N * 4u));
    awq_free(y);
    CHECK_OK(ctx, be->ops->col_mean_abs(be, dx, 0, N, dm));
    y = dl_floats(dm, N);
    int nz = 0;
    for (int64_t i = 0; i < N; i++) nz += y[i] != 0.0f;
    CHECK_EQ_INT(nz, 0);
    awq_free(y);

    /* mse */
    const int64_t nm = 20007;
    float *p = rnd_vec(nm, 1.0f), *q = rnd_vec(nm, 1.0f);
    float *dp = to_dev(p, (size_t)nm * 4u), *dq = to_dev(q, (size_t)nm * 4u);
    double got = -1.0, want = 0.0;
    for (int64_t i = 0; i < nm; i++) want += ((double)p[i] - q[i]) * ((double)p[i] - q[i]);
    want /= (double)nm;
    CHECK_OK(ctx, be->ops->mse(be, dp, dq, nm, &got));
    CHECK_NEAR(got, want, AWQ_TOL_MSE_REL * want);
    double again = -2.0;
    CHECK_OK(ctx, be->ops->mse(be, dp, dq, nm, &again));
    CHECK(got == again);
    CHECK_OK(ctx, be->ops->mse(be, dp, dq, 0, &got));
    CHECK(got == 0.0);

    /* sq_err_segs (the race's samples): each segment's sum / its length
     * has the bits of mse over that segment alone; on segments that are
     * whole mse chunks (one partial pass) and on others (a pass per
     * segment), from an offset pointer, the last segment shorter */
    {
        const int64_t nsq = 16384 * 3 + 5000;
        float *sp = rnd_vec(nsq + 1, 1.0f), *sq = rnd_vec(nsq + 1, 1.0f);
        float *dsp = to_dev(sp, (size_t)(nsq + 1) * 4u), *dsq = to_dev(sq, (size_t)(nsq + 1) * 4u);
        const int64_t lens[] = {16384, 3001, nsq + 7};
        for (size_t li = 0; li < AWQ_ARRAY_LEN(lens); li++) {
            const int64_t L = lens[li], nseg = (nsq + L - 1) / L;
            double *segs = awq_alloc((size_t)nseg, sizeof(double));
            CHECK_OK(ctx, be->ops->sq_err_segs(be, dsp + 1, dsq + 1, nsq, L, segs));
            double total = 0.0, sref = 0.0;
            for (int64_t sg = 0; sg < nseg; sg++) {
                const int64_t off = sg * L, cnt = AWQ_MIN(L, nsq - off);
                double m = -1.0;
                CHECK_OK(ctx, be->ops->mse(be, dsp + 1 + off, dsq + 1 + off, cnt, &m));
                CHECK_MSG(segs[sg] / (double)cnt == m, "sq_err_segs len %lld segment %lld",
                          (long long)L, (long long)sg);
                total += segs[sg];
            }
            for (int64_t i = 1; i <= nsq; i++) sref += ((double)sp[i] - sq[i]) * ((double)sp[i] - sq[i]);
            CHECK_NEAR(total, sref, AWQ_TOL_MSE_REL * sref);
            awq_free(segs);
        }
        /* dot over several blocks, the last one partial, from an offset
         * pointer: the host reference's bits */
        double dd = 0.0;
        CHECK_OK(ctx, be->ops->dot(be, dsp + 1, dsq + 1, nsq, &dd));
        CHECK(dd == awq_dot_ref(sp + 1, sq + 1, nsq));
        double none = -3.0;
        CHECK_OK(ctx, be->ops->sq_err_segs(be, dsp, dsq, 0, 64, &none));
        CHECK(none == -3.0); /* no segments: nothing written */
        CHECK_FAILS(ctx, be->ops->sq_err_segs(be, dsp, dsq, 10, 0, &none), AWQ_ERR_INVALID_ARG,
                    "seg_len");
        awq_free(sp);
        awq_free(sq);
        dfree(dsp);
        dfree(dsq);
    }

    /* nll_rows */
    const int64_t R = 6, V = 1000;
    float *lg = rnd_vec(R * V, 3.0f);
    int32_t tg[6] = {5, -1, 999, 0, 123, -7};
    double nll[6], nref[6];
    float *dl = to_dev(lg, (size_t)(R * V) * 4u);
    CHECK_OK(ctx, be->ops->nll_rows(be, dl, tg, R, V, nll));
    awq_nll_rows_ref(lg, tg, R, V, nref);
    for (int i = 0; i < 6; i++) CHECK_NEAR(nll[i], nref[i], AWQ_TOL_NLL_ABS);
    CHECK(nll[1] == 0.0 && nll[5] == 0.0);
    tg[2] = 1000;
    CHECK_FAILS(ctx, be->ops->nll_rows(be, dl, tg, R, V, nll), AWQ_ERR_RANGE, ">= vocab");

    awq_free(g);
    awq_free(u);
    awq_free(ref);
    awq_free(a);
    awq_free(c);
    awq_free(x);
    awq_free(sc);
    awq_free(sr);
    awq_free(cm);
    awq_free(p);
    awq_free(q);
    awq_free(lg);
    dfree(dg);
    dfree(du);
    dfree(dy);
    dfree(da);
    dfree(dsc);
    dfree(dsr);
    dfree(dx);
    dfree(dm);
    dfree(dp);
    dfree(dq);
    dfree(dl);
}

/* ------------------------------------------------------- quantization */

/* A weight matrix with varied groups: normal, one all-positive row, one
 * constant row, an outlier. */
static float *make_weights(int64_t N, int64_t K) {
    float *w = rnd_vec(N * K, 0.05f);
    if (N > 2) {
        for (int64_t k = 0; k < K; k++) {
            w[1 * K + k] = 0.01f + fabsf(w[1 * K + k]);
            w[2 * K + k] = 0.125f;
        }
    }
    w[0] = 1.5f;
    return w;
}

static void test_quantize(void) {
    const int64_t N = 24, K = 320;
    const int groups[] = {32, 64, 128, -1, 96};
    const int bits_list[] = {2, 3, 4, 8};
    float *w = make_weights(N, K);
    float *dw = to_dev(w, (size_t)(N * K) * 4u);
    for (size_t gi = 0; gi < AWQ_ARRAY_LEN(groups); gi++)
        for (size_t bi = 0; bi < AWQ_ARRAY_LEN(bits_list); bi++)
            for (int sym = 0; sym < 2; sym++) {
                awq_quant_params p = awq_quant_default_params();
                p.group_size = groups[gi];
                p.bits = bits_list[bi];
                p.sym = sym;
                awq_qtensor ref;
                CHECK_OK(ctx, awq_quantize_ref(ctx, "w", w, N, K, &p, &ref));
                const int64_t G = ref.n_groups;
                uint8_t *dq = dev((size_t)(N * K)), *dz = dev((size_t)(G * N));
                uint16_t *ds = dev((size_t)(G * N) * 2u);
                CHECK_OK(ctx, awq_cuda_quantize(be, "w", dw, N, K, &p, dq, ds, dz));
                uint8_t *q = awq_alloc((size_t)(N * K), 1), *z = awq_alloc((size_t)(G * N), 1);
                uint16_t *s = awq_alloc((size_t)(G * N), 2);
                from_dev(q, dq, (size_t)(N * K));
                from_dev(z, dz, (size_t)(G * N));
                from_dev(s, ds, (size_t)(G * N) * 2u);
                CHECK_MSG(bits_equal(q, ref.q, (size_t)(N * K)) &&
                              bits_equal(z, ref.zeros, (size_t)(G * N)) &&
                              bits_equal(s, ref.scales, (size_t)(G * N) * 2u),
                          "quantize group %d bits %d sym %d", groups[gi], bits_list[bi], sym);
                /* pseudo-quantize in place == the oracle */
                float *pref = awq_alloc((size_t)(N * K), 4);
                CHECK_OK(ctx, awq_pseudo_quantize_ref(ctx, "w", w, pref, N, K, &p));
                float *dpw = to_dev(w, (size_t)(N * K) * 4u);
                CHECK_OK(ctx, awq_pseudo_quant(be, dpw, N, K, &p));
                float *pq = dl_floats(dpw, N * K);
                CHECK(bits_equal(pq, pref, (size_t)(N * K) * 4u));
                awq_free(pref);
                awq_free(pq);
                dfree(dpw);
                awq_qtensor_free(&ref);
                awq_free(q);
                awq_free(z);
                awq_free(s);
                dfree(dq);
                dfree(dz);
                dfree(ds);
            }
    /* errors: the oracle's wording */
    awq_quant_params p = awq_quant_default_params();
    uint8_t *dq = dev((size_t)(N * K)), *dz = dev((size_t)(3 * N));
    uint16_t *ds = dev((size_t)(3 * N) * 2u);
    w[5 * K + 200] = NAN;
    float *dbad = to_dev(w, (size_t)(N * K) * 4u);
    CHECK_FAILS(ctx, awq_cuda_quantize(be, "layer.w", dbad, N, K, &p, dq, ds, dz), AWQ_ERR_RANGE,
                "layer.w: non-finite weight nan at (row 5, column 200)");
    CHECK_FAILS(ctx, awq_pseudo_quant(be, dbad, N, K, &p), AWQ_ERR_RANGE, "(row 5, column 200)");
    dfree(dbad);
    w[5 * K + 200] = 0.0f;
    w[7 * K + 130] = 3e6f;
    dbad = to_dev(w, (size_t)(N * K) * 4u);
    CHECK_FAILS(ctx, awq_cuda_quantize(be, "layer.w", dbad, N, K, &p, dq, ds, dz), AWQ_ERR_RANGE,
                "group 1 of row 7");
    dfree(dbad);
    w[7 * K + 130] = 0.0f;
    dfree(dq);
    dfree(dz);
    dfree(ds);
    awq_free(w);
    dfree(dw);
}

static void test_scaled(void) {
    const int64_t N = 10, K = 192, C = 5;
    float *w = make_weights(N, K), *s = awq_alloc((size_t)(C * K), 4);
    for (int64_t i = 0; i < C * K; i++) s[i] = 0.05f + 4.0f * awq_test_rand_unif(&rng);
    for (int64_t k = 0; k < K; k++) s[3 * K + k] = 1e9f; /* overflows FP16 */
    awq_quant_params p = awq_quant_default_params();
    p.group_size = 64;
    float *ref = awq_alloc((size_t)(C * N * K), 4);
    uint8_t fr[5], fg[5];
    CHECK_OK(ctx, awq_pseudo_quant_scaled_ref(ctx, w, N, K, s, C, &p, ref, fr));
    float *dw = to_dev(w, (size_t)(N * K) * 4u), *ds = to_dev(s, (size_t)(C * K) * 4u);
    float *dout = dev_nan(C * N * K);
    CHECK_OK(ctx, awq_pseudo_quant_scaled(be, dw, N, K, ds, C, &p, dout, fg));
    CHECK(bits_equal(fr, fg, 5) && fg[3] == 1 && fg[0] == 0);
    float *out = dl_floats(dout, C * N * K);
    for (int64_t c = 0; c < C; c++)
        if (!fr[c])
            CHECK_MSG(bits_equal(out + c * N * K, ref + c * N * K, (size_t)(N * K) * 4u),
                      "candidate %lld", (long long)c);
    CHECK_FAILS(ctx, awq_pseudo_quant_scaled(be, dw, N, K, ds, C, &p, dout, NULL), AWQ_ERR_RANGE,
                "scale candidate 3");
    awq_free(w);
    awq_free(s);
    awq_free(ref);
    awq_free(out);
    dfree(dw);
    dfree(ds);
    dfree(dout);
}

static void test_clip(void) {
    struct {
        int64_t N, K, T;
        int gs, bits, sym, n_steps;
        size_t budget;
        bool big;
    } cases[] = {
        {24, 256, 70, 128, 4, 0, 10, 0, false},   {130, 96, 131, 32, 4, 0, 10, 0, false},
        {9, 100, 5, 48, 3, 1, 10, 0, false},      {20, 64, 40, -1, 4, 0, 10, 0, false},
        {300, 64, 50, 64, 4, 0, 4, 4u * 64u * 4u * 128u, false},
        {256, 512, 512, 128, 4, 0, 10, 0, true},  {384, 640, 300, 128, 8, 1, 10, 0, true},
    };
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(cases); ci++) {
        if (cases[ci].big && EMU) continue;
        const int64_t N = cases[ci].N, K = cases[ci].K, T = cases[ci].T;
        const int S = cases[ci].n_steps;
        awq_quant_params p = awq_quant_default_params();
        p.group_size = cases[ci].gs;
        p.bits = cases[ci].bits;
        p.sym = cases[ci].sym;
        const int64_t G = awq_n_groups(K, p.group_size);
        float *w = make_weights(N, K), *x = rnd_vec(T * K, 1.0f);
        for (int64_t i = 0; i < N * K; i++)
            if (awq_test_rand_u32(&rng) % 61 == 0) w[i] *= 12.0f; /* outliers worth clipping */
        float *mref = awq_alloc((size_t)(N * G), 4);
        double *eref = awq_alloc((size_t)(S * N * G), 8);
        CHECK_OK(ctx, awq_clip_search_ref(ctx, w, x, N, K, T, &p, 20, S, mref, eref));
        float *dw = to_dev(w, (size_t)(N * K) * 4u), *dx = to_dev(x, (size_t)(T * K) * 4u);
        float *dm = dev_nan(N * G);
        double *de = dev((size_t)(S * N * G) * 8u);
        CHECK_OK(ctx, awq_cuda_clip_set_budget(be, cases[ci].budget));
        CHECK_OK(ctx, awq_clip_search_ex(be, dw, dx, N, K, T, &p, 20, S, dm, de));
        float *m = dl_floats(dm, N * G);
        double *e = awq_alloc((size_t)(S * N * G), 8);
        from_dev(e, de, (size_t)(S * N * G) * 8u);
        CHECK_MSG(bits_equal(m, mref, (size_t)(N * G) * 4u), "clip max_val case %zu", ci);
        CHECK_MSG(bits_equal(e, eref, (size_t)(S * N * G) * 8u), "clip errors case %zu", ci);
        /* the plain entry point and determinism */
        float *dm2 = dev_nan(N * G);
        CHECK_OK(ctx, awq_clip_search(be, dw, dx, N, K, T, &p, 20, S, dm2));
        float *m2 = dl_floats(dm2, N * G);
        CHECK(bits_equal(m, m2, (size_t)(N * G) * 4u));
        /* clamp with the result == the CPU clamp */
        float *wc = awq_alloc((size_t)(N * K), 4);
        memcpy(wc, w, (size_t)(N * K) * 4u);
        CHECK_OK(ctx, awq_clip_apply(cpu, wc, N, K, p.group_size, mref));
        CHECK_OK(ctx, awq_clip_apply(be, dw, N, K, p.group_size, dm));
        float *wg = dl_floats(dw, N * K);
        CHECK(bits_equal(wg, wc, (size_t)(N * K) * 4u));
        awq_free(w);
        awq_free(x);
        awq_free(mref);
        awq_free(eref);
        awq_free(m);
        awq_free(m2);
        awq_free(e);
        awq_free(wc);
        awq_free(wg);
        dfree(dw);
        dfree(dx);
        dfree(dm);
        dfree(dm2);
        dfree(de);
    }
    CHECK_OK(ctx, awq_cuda_clip_set_budget(be, 0));
    /* errors */
    const int64_t N = 4, K = 64, T = 3;
    float *w = make_weights(N, K), *x = rnd_vec(T * K, 1.0f);
    w[2 * K + 9] = INFINITY;
    float *dw = to_dev(w, (size_t)(N * K) * 4u), *dx = to_dev(x, (size_t)(T * K) * 4u);
    float *dm = dev_nan(N);
    awq_quant_params p = awq_quant_default_params();
    p.group_size = -1;
    CHECK_FAILS(ctx, awq_clip_search(be, dw, dx, N, K, T, &p, 20, 10, dm), AWQ_ERR_RANGE,
                "non-finite weight inf at (row 2, column 9)");
    CHECK_FAILS(ctx, awq_clip_search(be, dw, dx, N, K, T, &p, 20, 30, dm), AWQ_ERR_INVALID_ARG,
                "n_steps");
    awq_free(w);
    awq_free(x);
    dfree(dw);
    dfree(dx);
    dfree(dm);
}

/* Canonical tensor from the oracle quantizer, on the device. */
typedef struct {
    awq_qtensor t;
    uint8_t *dq, *dz;
    uint16_t *ds;
} dev_qt;

static void dev_qt_make(dev_qt *d, const float *w, int64_t N, int64_t K, const awq_quant_params *p) {
    CHECK_OK(ctx, awq_quantize_ref(ctx, "w", w, N, K, p, &d->t));
    const int64_t G = d->t.n_groups;
    d->dq = to_dev(d->t.q, (size_t)(N * K));
    d->dz = to_dev(d->t.zeros, (size_t)(G * N));
    d->ds = to_dev(d->t.scales, (size_t)(G * N) * 2u);
}

static void dev_qt_free(dev_qt *d) {
    awq_qtensor_free(&d->t);
    dfree(d->dq);
    dfree(d->dz);
    dfree(d->ds);
}

static void test_pack(void) {
    struct {
        awq_qformat f;
        int bits, gs, sym;
    } cases[] = {
        {AWQ_QFMT_AWQ_GEMM, 4, 128, 0}, {AWQ_QFMT_AWQ_GEMM, 4, 32, 0},
        {AWQ_QFMT_AWQ_GEMM, 4, -1, 1},  {AWQ_QFMT_AWQ_GEMV, 4, 32, 0},
        {AWQ_QFMT_AWQ_GEMV, 4, 64, 0},  {AWQ_QFMT_AWQ_GEMV, 4, 128, 1},
        {AWQ_QFMT_GPTQ, 4, 128, 1},     {AWQ_QFMT_GPTQ, 2, 64, 1},
        {AWQ_QFMT_GPTQ, 3, 96, 1},      {AWQ_QFMT_GPTQ, 8, -1, 1},
        {AWQ_QFMT_GPTQ_V2, 4, 128, 0},  {AWQ_QFMT_GPTQ_V2, 3, 32, 0},
        {AWQ_QFMT_GPTQ_V2, 2, 128, 0},  {AWQ_QFMT_GPTQ_V2, 8, 96, 0},
    };
    const int64_t N = 64, K = 256;
    float *w = make_weights(N, K);
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(cases); ci++) {
        awq_quant_params p = awq_quant_default_params();
        p.bits = cases[ci].bits;
        p.group_size = cases[ci].gs;
        p.sym = cases[ci].sym;
        dev_qt d;
        dev_qt_make(&d, w, N, K, &p);
        awq_packed ref, got;
        CHECK_OK(ctx, awq_pack(ctx, "lin", cases[ci].f, &d.t, NULL, &ref, NULL));
        CHECK_OK(ctx, awq_cuda_pack(be, "lin", cases[ci].f, N, K, p.bits, p.group_size, p.sym,
                                    d.dq, d.ds, d.dz, &got));
        CHECK_EQ_INT(got.n_tensors, ref.n_tensors);
        for (int i = 0; i < ref.n_tensors && i < got.n_tensors; i++) {
            CHECK(got.t[i].n_bytes == ref.t[i].n_bytes && got.t[i].shape[0] == ref.t[i].shape[0] &&
                  got.t[i].shape[1] == ref.t[i].shape[1]);
            void *h = awq_alloc((size_t)ref.t[i].n_bytes, 1);
            from_dev(h, got.t[i].data, (size_t)ref.t[i].n_bytes);
            CHECK_MSG(bits_equal(h, ref.t[i].data, (size_t)ref.t[i].n_bytes),
                      "pack case %zu tensor %s", ci, ref.t[i].suffix);
            awq_free(h);
        }
        awq_packed_free(&ref);
        awq_cuda_packed_free(be, &got);
        dev_qt_free(&d);
    }
    /* GPTQ v1 cannot store zero points of 0 (all-positive groups) */
    awq_quant_params p = awq_quant_default_params();
    dev_qt d;
    dev_qt_make(&d, w, N, K, &p);
    int64_t zeros0 = 0;
    for (int64_t i = 0; i < d.t.n_groups * N; i++) zeros0 += d.t.zeros[i] == 0;
    CHECK(zeros0 > 0);
    awq_packed got;
    char want[64];
    snprintf(want, sizeof want, "%lld of %lld groups have zero point 0", (long long)zeros0,
             (long long)(d.t.n_groups * N));
    CHECK_FAILS(ctx, awq_cuda_pack(be, "lin", AWQ_QFMT_GPTQ, N, K, 4, 128, false, d.dq, d.ds,
                                   d.dz, &got),
                AWQ_ERR_LOSSY, want);
    CHECK(got.n_tensors == 0);
    CHECK_FAILS(ctx, awq_cuda_pack(be, "lin", AWQ_QFMT_AWQ_GEMM, N, K, 3, 128, false, d.dq, d.ds,
                                   d.dz, &got),
                AWQ_ERR_UNSUPPORTED, "4-bit");
    /* compressed-tensors is the host's: refused, and said so up front */
    CHECK(!awq_cuda_pack_writes(AWQ_QFMT_CT));
    CHECK(awq_cuda_pack_writes(AWQ_QFMT_AWQ_GEMM) && awq_cuda_pack_writes(AWQ_QFMT_AWQ_GEMV) &&
          awq_cuda_pack_writes(AWQ_QFMT_GPTQ) && awq_cuda_pack_writes(AWQ_QFMT_GPTQ_V2));
    CHECK_FAILS(ctx, awq_cuda_pack(be, "lin", AWQ_QFMT_CT, N, K, 4, 128, false, d.dq, d.ds, d.dz,
                                   &got),
                AWQ_ERR_UNSUPPORTED, "compressed-tensors is packed on the host");
    CHECK(got.n_tensors == 0);
    dev_qt_free(&d);
    awq_free(w);
}

/* ---------------------------------------------------------------- main */

static awq_status create_cuda(awq_ctx *c, awq_backend **out) {
#if defined(AWQ_HAVE_CUDA) && !EMU
    return awq_backend_create(c, AWQ_BACKEND_CUDA, 0, out);
#else
    return awq_backend_cuda_create(c, 0, out);
#endif
}

#if EMU
static void test_emu_device_errors(void) {
    awq_backend *b = NULL;
    awq_emu_set_device_count(0);
    CHECK_FAILS(ctx, awq_backend_cuda_create(ctx, 0, &b), AWQ_ERR_NO_DEVICE,
                "no usable CUDA device");
    CHECK(b == NULL);
    awq_emu_set_device_count(1);
    CHECK_FAILS(ctx, awq_backend_cuda_create(ctx, 3, &b), AWQ_ERR_NO_DEVICE,
                "CUDA device 3 requested");
    CHECK_FAILS(ctx, awq_backend_cuda_set_gemm_mode(cpu, AWQ_CUDA_GEMM_TF32), AWQ_ERR_INVALID_ARG,
                "not a CUDA backend");
}

/* With the emulator's device guard (AWQ_EMU_GUARD_DEVICE=1, set for
 * test_cuda_emu by cuda.cmake) host code touching device memory faults, as
 * on a GPU: every test above ran under it, and here a child process that
 * stores into a device buffer directly must die, while the copy back still
 * works. */
static void test_emu_guard(void) {
    const char *g = getenv("AWQ_EMU_GUARD_DEVICE");
    if (!g || strcmp(g, "1") != 0) return;
    float *d = dev_nan(64);
    float back[4];
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        *(volatile float *)d = 1.0f; /* a host store into device memory */
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    /* killed by SIGSEGV (or, under AddressSanitizer, its report's exit) */
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
    from_dev(back, d, sizeof back);
    CHECK(isnan(back[0]));
    dfree(d);
}
#endif

int main(int argc, char **argv) {
    ctx = awq_test_ctx(2);
    awq_status st = create_cuda(ctx, &be);
    if (st == AWQ_ERR_NO_DEVICE) {
        char why[512];
        snprintf(why, sizeof why, "no CUDA backend: %s", awq_ctx_errmsg(ctx));
        awq_ctx_free(ctx);
        AWQ_SKIP(why);
    }
    if (st != AWQ_OK) {
        fprintf(stderr, "CUDA backend: %s\n", awq_ctx_errmsg(ctx));
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "--probe") == 0) {
        printf("CUDA device: %s\n", awq_backend_cuda_device_desc(be));
        awq_backend_free(be);
        awq_ctx_free(ctx);
        return 0;
    }
    printf("CUDA device: %s\n", awq_backend_cuda_device_desc(be));
    CHECK_OK(ctx, awq_backend_cpu_create(ctx, &cpu));
    CHECK(be->ops->mem == AWQ_MEM_DEVICE && strcmp(be->ops->name, "cuda") == 0);
    test_memory();
    test_gemm();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_elementwise();
    test_quantize();
    test_scaled();
    test_clip();
    test_pack();
#if EMU
    test_emu_device_errors();
    test_emu_guard();
#endif
    awq_backend_free(be);
    awq_backend_free(cpu);
#if EMU
    CHECK_EQ_INT(awq_emu_live_allocations(), 0);
    CHECK_EQ_INT(awq_emu_misuse_count(), 0);
#endif
    awq_ctx_free(ctx);
    return awq_test_summary();
}
