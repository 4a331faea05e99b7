/* tests/unit/test_attn_bf16.c — the CPU attention while the backend's
 * precision is AWQ_GEMM_BF16 (lib/backend/cpu_attn_bf16.c: p·v in bf16
 * with fp32 accumulation, AVX512-BF16; q·k fp32) against the plain-C
 * oracles:
 *  - vs awq_attention_bf16_ref (the same bf16 roundings of p and v,
 *    products summed in double, the same key blocks for the online
 *    softmax): the mean |difference| within TOL_ATTN_BF16_MEAN of max |v|
 *    (the kernel's fp32 sums), the largest within TOL_ATTN_BF16_MAX (a p
 *    whose exact value lies within the fp32 error of a bf16 rounding
 *    boundary may round the other way: at most 2^-8 of that key's weight);
 *  - vs awq_attention_ref (fp32 attention, the oracle of the FP reference
 *    outputs): the largest |difference| within TOL_ATTN_BF16_VS_FP32 of
 *    max |v| (p and v each rounded to 8-bit mantissas, 2^-9 relative
 *    each), and the mean larger than 4x the bf16 oracle's (the bf16
 *    rounding must show);
 *  - byte-identical for 1, 2 and 3 threads;
 *  - at AWQ_GEMM_FP32 and AWQ_GEMM_BF16_LINEAR (quantize's calibration
 *    forward: bf16 linears, fp32 attention) the op gives the fp32
 *    kernel's bits.
 * Shapes: GQA, T not a multiple of the block, head_dim not a multiple of 16
 * (and odd), head_dim padded to 48 (the 32- and 16-column p·v tiles),
 * sliding windows, softcap, T = 1. Where the CPU has no AVX512-BF16 the
 * bf16 checks are skipped (with a note) and the op must give the fp32
 * kernel's bits at AWQ_GEMM_BF16 too. */
#include "awq_test.h"
#include "backend/backend.h"
#include "core/core.h"

#define TOL_ATTN_BF16_MEAN 1e-6
#define TOL_ATTN_BF16_MAX (1.0 / 256.0)
#define TOL_ATTN_BF16_VS_FP32 2e-2

static uint32_t g_rng = 12345u;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 1664525u + 1013904223u;
    return ((float)(g_rng >> 8) / 16777216.0f - 0.5f) * 2.0f;
}

static bool g_has_bf16;

typedef struct {
    int64_t B, T, nh, nkv, hd;
    int block;
    int64_t window;
    float cap;
} acase;

static awq_status run(awq_ctx *ctx, awq_gemm_precision prec, const float *q, const float *k,
                      const float *v, float *out, const awq_attn_desc *d) {
    awq_backend *be = NULL;
    awq_status s = awq_backend_create(ctx, AWQ_BACKEND_CPU, 0, &be);
    if (s != AWQ_OK) return s;
    /* set directly: the attention needs AVX512-BF16, not oneDNN (which
     * set_gemm_precision also asks for) */
    be->precision = prec;
    s = be->ops->attention(be, q, k, v, out, d);
    awq_backend_free(be);
    return s;
}

/* mean and max |a - b| over n */
static void diff(const float *a, const float *b, int64_t n, double *mean, double *mx) {
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (isnan(e)) e = INFINITY;
        s += e;
        m = e > m ? e : m;
    }
    *mean = s / (double)n, *mx = m;
}

static void check_case(awq_ctx *const ctxs[3], const acase *c) {
    const int64_t nq = c->B * c->T * c->nh * c->hd, nk = c->B * c->T * c->nkv * c->hd;
    float *q = malloc(sizeof(float) * nq), *k = malloc(sizeof(float) * nk);
    float *v = malloc(sizeof(float) * nk);
    float *o[3], *of = malloc(sizeof(float) * nq), *rb = malloc(sizeof(float) * nq);
    float *rf = malloc(sizeof(float) * nq);
    for (int t = 0; t < 3; t++) o[t] = malloc(sizeof(float) * nq);
    for (int64_t i = 0; i < nq; i++) q[i] = 2.0f * frand();
    for (int64_t i = 0; i < nk; i++) k[i] = 2.0f * frand();
    double vmax = 1e-30;
    for (int64_t i = 0; i < nk; i++) {
        v[i] = frand();
        vmax = fabs(v[i]) > vmax ? fabs(v[i]) : vmax;
    }
    awq_attn_desc d = {.B = c->B, .T = c->T, .n_heads = c->nh, .n_kv_heads = c->nkv,
                       .head_dim = c->hd, .scale = (float)(1.0 / sqrt((double)c->hd)),
                       .block = c->block, .softcap = c->cap, .window = c->window};
    char name[160];
    snprintf(name, sizeof name, "B%lld T%lld h%lld/%lld hd%lld block %d window %lld cap %g",
             (long long)c->B, (long long)c->T, (long long)c->nh, (long long)c->nkv,
             (long long)c->hd, c->block, (long long)c->window, (double)c->cap);
    CHECK_OK(ctxs[1], run(ctxs[1], AWQ_GEMM_FP32, q, k, v, of, &d));
    CHECK_OK(ctxs[1], run(ctxs[1], AWQ_GEMM_BF16_LINEAR, q, k, v, rf, &d));
    CHECK_MSG(memcmp(rf, of, sizeof(float) * nq) == 0,
              "%s: BF16_LINEAR must run the fp32 attention kernel", name);
    for (int t = 0; t < 3; t++) CHECK_OK(ctxs[t], run(ctxs[t], AWQ_GEMM_BF16, q, k, v, o[t], &d));
    for (int t = 1; t < 3; t++)
        CHECK_MSG(memcmp(o[0], o[t], sizeof(float) * nq) == 0,
                  "%s: 1 and %d threads differ", name, t + 1);
    if (!g_has_bf16) {
        CHECK_MSG(memcmp(o[1], of, sizeof(float) * nq) == 0,
                  "%s: without AVX512-BF16 the bf16 precision must run the fp32 kernel", name);
    } else {
        awq_attention_bf16_ref(q, k, v, rb, &d);
        awq_attention_ref(q, k, v, rf, &d);
        double mb, xb, mf, xf;
        diff(o[1], rb, nq, &mb, &xb);
        diff(o[1], rf, nq, &mf, &xf);
        mb /= vmax, xb /= vmax, mf /= vmax, xf /= vmax;
        CHECK_MSG(mb <= TOL_ATTN_BF16_MEAN, "%s: mean vs bf16 ref %g", name, mb);
        CHECK_MSG(xb <= TOL_ATTN_BF16_MAX, "%s: max vs bf16 ref %g", name, xb);
        CHECK_MSG(xf <= TOL_ATTN_BF16_VS_FP32, "%s: max vs fp32 ref %g", name, xf);
        CHECK_MSG(mf > 4 * mb, "%s: no bf16 rounding visible (mean vs fp32 %g, vs bf16 %g)",
                  name, mf, mb);
        printf("%s: vs bf16 ref mean %.2g max %.2g; vs fp32 ref mean %.2g max %.2g (of max|v|)\n",
               name, mb, xb, mf, xf);
    }
    free(q), free(k), free(v), free(of), free(rb), free(rf);
    for (int t = 0; t < 3; t++) free(o[t]);
}

int main(void) {
    __builtin_cpu_init();
    g_has_bf16 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
    if (!g_has_bf16)
        printf("note: this CPU has no AVX512-BF16: bf16 attention checks skipped, the fp32 "
               "kernel must run at AWQ_GEMM_BF16\n");
    awq_ctx *ctxs[3] = {awq_test_ctx(1), awq_test_ctx(2), awq_test_ctx(3)};
    const acase cases[] = {
        /* B, T, heads, kv heads, head_dim, block, window, softcap */
        {2, 300, 4, 2, 64, 0, 0, 0},     /* GQA, default block, T % 64 != 0 */
        {1, 130, 4, 1, 128, 32, 0, 0},   /* MQA, head_dim 128 */
        {3, 37, 3, 3, 6, 16, 0, 0},      /* head_dim 6 (one 16-wide tile), tiny block */
        {2, 77, 4, 2, 7, 48, 0, 0},      /* odd head_dim, block 48 (32 + 16 tiles) */
        {1, 100, 2, 1, 40, 0, 0, 0},     /* head_dim 40: hdp 48 */
        {2, 70, 4, 2, 24, 16, 5, 0},     /* window < block */
        {1, 150, 2, 1, 64, 32, 33, 0},   /* window across blocks */
        {1, 90, 4, 4, 16, 0, 17, 2.0f},  /* window and softcap */
        {2, 65, 2, 1, 33, 0, 0, 1.5f},   /* softcap, odd head_dim, T = block + 1 */
        {1, 1, 2, 2, 16, 0, 0, 0},       /* one token */
        {3, 1, 4, 2, 9, 16, 0, 0},       /* one token per sequence, odd head_dim */
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(cases); i++) check_case(ctxs, &cases[i]);
    for (int t = 0; t < 3; t++) awq_ctx_free(ctxs[t]);
    return awq_test_summary();
}
