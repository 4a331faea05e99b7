/* lib/backend/cpu_bf16.c — the CPU backend's gemm at AWQ_GEMM_BF16: x and W
 * rounded to bf16 (nearest even), products accumulated in fp32 by oneDNN's
 * matmul (brgemm kernels: AVX512-BF16 vdpbf16ps, or AMX where present).
 *
 * Why oneDNN: Debian's OpenBLAS 0.3.21 is built without BUILD_BFLOAT16 (no
 * cblas_sbgemm), and on the machines measured oneDNN's bf16 matmul runs the
 * search's shapes at 2.5-5x OpenBLAS sgemm (tests/bench/bench_gemm_lp.c,
 * BENCHMARKS.md).
 *
 * Determinism: the same fixed slices as the fp32 path (lib/backend/cpu.c:
 * 256 rows of x, or below that 256 rows of W), each slice one oneDNN call
 * on one thread (its OpenMP team is set to 1 on every pool worker), so an
 * output element is computed by the same kernel call whatever the thread
 * count.
 *
 * gemm_multi (q, k, v; gate, up: one x, several W) runs the same slices and
 * the same oneDNN calls, but rounds each slice of x to bf16 once for all
 * the W: the rounding of x was ~5% of a tiny-llama quantize, done 3 and 2
 * times over (memory: see awq_cpu_gemm_bf16_multi). Without oneDNN in the
 * build this file only reports that. */
#include "backend/cpu_bf16.h"
#include "backend/cpu_simd.h"
#include "core/core.h"

#include <string.h>

#define SLICE 256

/* The bits of awq_round_bf16(f), 8 lanes at a time: the same integer
 * rounding (nearest even; Inf kept; NaN quieted, sign and top payload
 * kept), written without branches so it vectorises. The conversion of x and
 * W ran scalar before and cost about as much as the bf16 GEMM itself. */
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));

static uint16_t bf16_bits1(float f) {
    float r = awq_round_bf16(f);
    uint32_t u;
    memcpy(&u, &r, 4);
    return (uint16_t)(u >> 16);
}

AWQ_CLONES
void awq_cpu_cvt_bf16(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8u u;
        memcpy(&u, src + i, sizeof u);
        v8u special = (v8u)((u & 0x7f800000u) == 0x7f800000u);
        v8u nan = (v8u)((u & 0x7fffffffu) > 0x7f800000u);
        v8u rne = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
        v8u sp = (u & 0xffff0000u) | (nan & 0x00400000u);
        v8u o = (special & sp) | (~special & rne);
        v8h h = __builtin_convertvector(o >> 16, v8h);
        memcpy(dst + i, &h, sizeof h);
    }
    for (; i < n; i++) dst[i] = bf16_bits1(src[i]);
}

#ifdef AWQ_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>
#include <pthread.h>

static dnnl_engine_t g_engine;
static dnnl_status_t g_engine_st = dnnl_runtime_error;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void engine_init(void) { g_engine_st = dnnl_engine_create(&g_engine, dnnl_cpu, 0); }

typedef struct {
    const float *x;
    int n;                            /* GEMMs sharing x */
    const float *w[AWQ_GEMM_MULTI_MAX], *bias[AWQ_GEMM_MULTI_MAX];
    float *y[AWQ_GEMM_MULTI_MAX];
    int64_t N[AWQ_GEMM_MULTI_MAX];
    const uint16_t *wb[AWQ_GEMM_MULTI_MAX]; /* each W in bf16 */
    const uint16_t *xb;               /* whole x in bf16 (by_n only) */
    const uint16_t *xall;             /* by_m: x already in bf16 (or NULL) */
    int64_t M, K;
    bool by_m;
    /* cvt_rows: the weight being converted */
    const float *cw;
    uint16_t *cwb;
    int err;                          /* first dnnl_status_t != success, or -1 nomem */
    pthread_mutex_t mu;
} bf_job;

static void set_err(bf_job *j, int e) {
    pthread_mutex_lock(&j->mu);
    if (!j->err) j->err = e;
    pthread_mutex_unlock(&j->mu);
}

static void cvt_rows(void *arg, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    bf_job *j = arg;
    awq_cpu_cvt_bf16(j->cw + r0 * j->K, j->cwb + r0 * j->K, (r1 - r0) * j->K);
}

/* y[m, n] (row stride N) = xb[m, K] wb[n, K]^T (+ bias[n]). */
static dnnl_status_t matmul(const uint16_t *xb, const uint16_t *wb, const float *bias, float *y,
                            int64_t m, int64_t n, int64_t K, int64_t N) {
    dnnl_memory_desc_t sm, wm, dm, bm;
    dnnl_dims_t sd = {m, K}, wd = {K, n}, dd = {m, n}, ds = {N, 1}, bd = {1, n};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&sm, 2, sd, dnnl_bf16, dnnl_ab);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&wm, 2, wd, dnnl_bf16, dnnl_ba);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_strides(&dm, 2, dd, dnnl_f32, ds);
    if (s == dnnl_success && bias) s = dnnl_memory_desc_init_by_tag(&bm, 2, bd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    if (s == dnnl_success) s = dnnl_matmul_desc_init(&md, &sm, &wm, bias ? &bm : NULL, &dm);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_stream_t st = NULL;
    dnnl_memory_t ms = NULL, mw = NULL, mdst = NULL, mb = NULL;
    /* oneDNN's primitive cache makes the repeated creation cheap */
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &md, NULL, g_engine, NULL);
    if (s == dnnl_success) s = dnnl_primitive_create(&prim, pd);
    if (s == dnnl_success) s = dnnl_stream_create(&st, g_engine, dnnl_stream_default_flags);
    if (s == dnnl_success) s = dnnl_memory_create(&ms, &sm, g_engine, (void *)xb);
    if (s == dnnl_success) s = dnnl_memory_create(&mw, &wm, g_engine, (void *)wb);
    if (s == dnnl_success) s = dnnl_memory_create(&mdst, &dm, g_engine, y);
    if (s == dnnl_success && bias) s = dnnl_memory_create(&mb, &bm, g_engine, (void *)bias);
    if (s == dnnl_success) {
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw},
                                {DNNL_ARG_DST, mdst}, {DNNL_ARG_BIAS, mb}};
        s = dnnl_primitive_execute(prim, st, bias ? 4 : 3, a);
    }
    if (s == dnnl_success) s = dnnl_stream_wait(st);
    if (mb) dnnl_memory_destroy(mb);
    if (mdst) dnnl_memory_destroy(mdst);
    if (mw) dnnl_memory_destroy(mw);
    if (ms) dnnl_memory_destroy(ms);
    if (st) dnnl_stream_destroy(st);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return s;
}

/* by_m: slice s is rows [256 s, 256 s + 256) of x, rounded to bf16 once
 * and multiplied by every W (the same oneDNN call per (slice, W) as a single
 * GEMM makes, so gemm_multi's outputs are gemm's bits); by_n (one GEMM):
 * slice s is rows [256 s, ...) of W against the whole x. */
static void bf_slices(void *arg, int64_t s0, int64_t s1, int worker) {
    (void)worker;
    bf_job *j = arg;
    omp_set_num_threads(1); /* this pool worker's oneDNN calls: one thread */
    uint16_t *xs = NULL;
    if (j->by_m && !j->xall) {
        xs = awq_alloc((size_t)(SLICE * j->K), sizeof(uint16_t));
        if (!xs) {
            set_err(j, -1);
            return;
        }
    }
    for (int64_t s = s0; s < s1; s++) {
        int64_t a = s * SLICE;
        dnnl_status_t e = dnnl_success;
        if (j->by_m) {
            int64_t m = AWQ_MIN(SLICE, j->M - a);
            const uint16_t *xsl = j->xall ? j->xall + a * j->K : xs;
            if (!j->xall) awq_cpu_cvt_bf16(j->x + a * j->K, xs, m * j->K);
            for (int i = 0; i < j->n && e == dnnl_success; i++)
                e = matmul(xsl, j->wb[i], j->bias[i], j->y[i] + a * j->N[i], m, j->N[i], j->K,
                           j->N[i]);
        } else {
            int64_t n = AWQ_MIN(SLICE, j->N[0] - a);
            e = matmul(j->xb, j->wb[0] + a * j->K, j->bias[0] ? j->bias[0] + a : NULL,
                       j->y[0] + a, j->M, n, j->K, j->N[0]);
        }
        if (e != dnnl_success) {
            set_err(j, (int)e);
            break;
        }
    }
    awq_free(xs);
}

bool awq_cpu_bf16_available(awq_ctx *ctx, awq_status *why) {
    pthread_once(&g_once, engine_init);
    if (g_engine_st != dnnl_success) {
        *why = awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "bf16 GEMMs: oneDNN engine: status %d",
                        (int)g_engine_st);
        return false;
    }
    /* bf16 through oneDNN without AVX512-BF16/AMX is emulated and slower
     * than fp32: refuse it */
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16")) {
        *why = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "bf16 GEMMs: this CPU has no AVX512-BF16 (nor AMX) matrix support");
        return false;
    }
    return true;
}

/* The GEMMs of j (x, n, w, bias, y, N, M, K and by_m set). */
static awq_status run_job(awq_backend *be, bf_job *j) {
    awq_ctx *ctx = be->ctx;
    const int64_t M = j->M, K = j->K;
    pthread_mutex_init(&j->mu, NULL);
    uint16_t *wb[AWQ_GEMM_MULTI_MAX] = {NULL};
    uint16_t *xb = NULL;
    uint64_t bytes = j->by_m ? 0 : (uint64_t)(M * K) * 2u;
    bool ok = true;
    for (int i = 0; i < j->n; i++) {
        wb[i] = awq_alloc((size_t)(j->N[i] * K), sizeof(uint16_t));
        bytes += (uint64_t)(j->N[i] * K) * 2u;
        ok = ok && wb[i];
    }
    if (!j->by_m) {
        xb = awq_alloc((size_t)(M * K), sizeof(uint16_t));
        ok = ok && xb;
    }
    awq_status st = AWQ_OK;
    if (!ok) {
        st = awq_fail_nomem(ctx, "gemm bf16 operands", bytes);
    } else {
        for (int i = 0; i < j->n; i++) {
            j->cw = j->w[i], j->cwb = wb[i];
            awq_parallel_for(ctx, j->N[i], cvt_rows, j);
            j->wb[i] = wb[i];
        }
        if (xb) awq_cpu_cvt_bf16(j->x, xb, M * K);
        j->xb = xb;
        int64_t n_slices = j->by_m ? (M + SLICE - 1) / SLICE : (j->N[0] + SLICE - 1) / SLICE;
        awq_parallel_for(ctx, n_slices, bf_slices, j);
        if (j->err == -1)
            st = awq_fail_nomem(ctx, "gemm bf16 slice", (uint64_t)SLICE * (uint64_t)K * 2u);
        else if (j->err) {
            /* every GEMM of the job: N of each (q, k, v share one x) */
            char ns[AWQ_GEMM_MULTI_MAX * 24] = "";
            size_t at = 0;
            for (int i = 0; i < j->n && at < sizeof ns; i++)
                at += (size_t)snprintf(ns + at, sizeof ns - at, "%s%lld", i ? "," : "",
                                       (long long)j->N[i]);
            st = awq_fail(ctx, AWQ_ERR_INTERNAL, "gemm bf16: oneDNN matmul M=%lld N=%s K=%lld "
                          "failed: status %d", (long long)M, ns, (long long)K, j->err);
        }
    }
    pthread_mutex_destroy(&j->mu);
    for (int i = 0; i < j->n; i++) awq_free(wb[i]);
    awq_free(xb);
    return st;
}

awq_status awq_cpu_gemm_bf16(awq_backend *be, const float *x, const float *w, const float *bias,
                             float *y, int64_t M, int64_t N, int64_t K) {
    bf_job j;
    memset(&j, 0, sizeof j);
    j.x = x, j.n = 1, j.w[0] = w, j.bias[0] = bias, j.y[0] = y, j.N[0] = N;
    j.M = M, j.K = K;
    j.by_m = M >= SLICE;
    return run_job(be, &j);
}

bool awq_cpu_bf16_multi_ok(int64_t M) { return M >= SLICE; }

/* x is rounded once either way; of the two orders, the one holding less
 * memory beyond what n separate calls hold (one W in bf16 at a time):
 *   all the W in bf16, each slice of x rounded once for all of them
 *   (extra: the other W; q, k, v over many rows), or
 *   the whole x in bf16, then the W one after the other (extra: x; gate,
 *   up over an MLP chunk of 1024 rows, where W is the larger).
 * Peak memory stays within the separate calls' plus the smaller of the
 * two; both run the same oneDNN calls on the same bf16 slices. */
awq_status awq_cpu_gemm_bf16_multi(awq_backend *be, const float *x, int n, const float *const *w,
                                   const float *const *bias, float *const *y, const int64_t *N,
                                   int64_t M, int64_t K) {
    int64_t sum_n = 0, max_n = 0;
    for (int i = 0; i < n; i++) {
        sum_n += N[i];
        max_n = AWQ_MAX(max_n, N[i]);
    }
    bf_job j;
    memset(&j, 0, sizeof j);
    j.x = x, j.M = M, j.K = K, j.by_m = true;
    if (sum_n - max_n <= M) {
        j.n = n;
        for (int i = 0; i < n; i++) {
            j.w[i] = w[i], j.bias[i] = bias ? bias[i] : NULL, j.y[i] = y[i], j.N[i] = N[i];
        }
        return run_job(be, &j);
    }
    uint16_t *xall = awq_alloc((size_t)(M * K), sizeof(uint16_t));
    if (!xall) return awq_fail_nomem(be->ctx, "gemm bf16 input", (uint64_t)(M * K) * 2u);
    j.cw = x, j.cwb = xall;
    awq_parallel_for(be->ctx, M, cvt_rows, &j);
    awq_status st = AWQ_OK;
    for (int i = 0; i < n && st == AWQ_OK; i++) {
        memset(&j, 0, sizeof j);
        j.x = x, j.M = M, j.K = K, j.by_m = true, j.xall = xall, j.n = 1;
        j.w[0] = w[i], j.bias[0] = bias ? bias[i] : NULL, j.y[0] = y[i], j.N[0] = N[i];
        st = run_job(be, &j);
    }
    awq_free(xall);
    return st;
}

#else /* !AWQ_HAVE_DNNL */

bool awq_cpu_bf16_available(awq_ctx *ctx, awq_status *why) {
    *why = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                    "bf16 GEMMs: awqkit was built without oneDNN (libdnnl-dev)");
    return false;
}

awq_status awq_cpu_gemm_bf16(awq_backend *be, const float *x, const float *w, const float *bias,
                             float *y, int64_t M, int64_t N, int64_t K) {
    (void)x, (void)w, (void)bias, (void)y, (void)M, (void)N, (void)K;
    return awq_fail(be->ctx, AWQ_ERR_UNSUPPORTED,
                    "gemm: bf16 needs oneDNN, absent from this build");
}

bool awq_cpu_bf16_multi_ok(int64_t M) {
    (void)M;
    return false;
}

awq_status awq_cpu_gemm_bf16_multi(awq_backend *be, const float *x, int n, const float *const *w,
                                   const float *const *bias, float *const *y, const int64_t *N,
                                   int64_t M, int64_t K) {
    (void)x, (void)n, (void)w, (void)bias, (void)y, (void)N, (void)M, (void)K;
    return awq_fail(be->ctx, AWQ_ERR_UNSUPPORTED,
                    "gemm: bf16 needs oneDNN, absent from this build");
}

#endif
