/*
 * lib/quant/clip_gram.c — the Gram form of the clip search (CPU): the plain
 * C oracle (awq_clip_search_gram_ref), the threaded path
 * (awq_clip_search_gram_cpu) and the quantizer's dispatcher
 * (awq_clip_search_fast). The arithmetic is written down in clip.h.
 *
 * Why: the direct form measures each of the 10 clamp candidates of each
 * (row, group) on every sampled token, T * len multiply-adds; the error
 * sum_t (x_t . d)^2 is the quadratic form d^T (X^T X) d, so with the group's
 * Gram matrix built once per linear a candidate costs len^2. At AutoAWQ's
 * T = 512 and group 128 that is 4x less work, and the kernel below runs it
 * at the FMA units' rate (G stays in L2 while all rows of a group pass).
 *
 * Precision: G is summed in double and rounded once to float; y = G d is a
 * float fma chain of len terms, the final dot is in double. Both forms are
 * fp32 approximations of one exact value: where two candidates' errors are
 * closer than ~1e-5 relative the forms can pick differently (equally good
 * picks by either measure).
 *
 * Determinism: an item (group, row) is computed by one worker with a fixed
 * order, G_g by one worker per group, so results do not depend on the thread
 * count. The tile kernel has an AVX2+FMA version and a scalar one using
 * fmaf: the same fused operations in the same order, so every machine gets
 * the oracle's bits. This file is compiled without contraction (sources
 * .cmake): G's double sums must not become FMAs in one build and not in
 * another.
 */
#include "quant/clip.h"
#include "quant/clip_impl.h"

#include "core/core.h"
#include "quant/layouts.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CG_X86 1
#endif

#define CT 5  /* candidates per tile */
#define KW 16 /* columns per tile: two 8-lane vectors */

static int64_t pad16(int64_t n) { return (n + 15) & ~(int64_t)15; }

bool awq_clip_gram_cheaper(int64_t K, int64_t T, const awq_quant_params *q) {
    if (!q || K < 1 || T < 1) return false;
    const int64_t len = awq_group_len(K, q->group_size), lp = pad16(len);
    if (lp > AWQ_CLIP_GRAM_MAX_LEN) return false;
    /* per (row, group, step): direct T * len, Gram lp * lp multiply-adds
     * (plus rounding candidates up to CT); G's cost, K * lp * T / 2, is
     * spread over the N rows and negligible for any linear with N >= lp */
    return (double)T * (double)len > 1.25 * (double)lp * (double)lp;
}

/* ------------------------------------------------- G of one group */

/* gf [lp][lp] = the rounded Gram matrix of columns k0..k0+len of x [T][K];
 * gd [lp][lp] double scratch. */
static void gram_group(const float *x, int64_t K, int64_t T, int64_t k0, int64_t len,
                       int64_t lp, double *gd, float *gf) {
    memset(gd, 0, sizeof(double) * (size_t)(lp * lp));
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * K + k0;
        for (int64_t j = 0; j < len; j++) {
            const double a = xr[j];
            double *row = gd + j * lp;
            for (int64_t k = j; k < len; k++) row[k] += a * (double)xr[k];
        }
    }
    memset(gf, 0, sizeof(float) * (size_t)(lp * lp));
    for (int64_t j = 0; j < len; j++)
        for (int64_t k = j; k < len; k++) gf[j * lp + k] = gf[k * lp + j] = (float)gd[j * lp + k];
}

/* ---------------------------------------------- y = D G, one tile */

/* y[c][k0..k0+KW) = fmaf chain over j < lp of d[c][j] * g[j][k0..], for
 * c < CT; d and y have row stride lp. */
static void tile_scalar(const float *d, const float *g, int64_t lp, int64_t k0, float *y) {
    for (int c = 0; c < CT; c++)
        for (int64_t k = k0; k < k0 + KW; k++) {
            float acc = 0.0f;
            for (int64_t j = 0; j < lp; j++) acc = fmaf(d[c * lp + j], g[j * lp + k], acc);
            y[c * lp + k] = acc;
        }
}

#ifdef CG_X86
__attribute__((target("avx2,fma"))) static void tile_avx2(const float *d, const float *g,
                                                           int64_t lp, int64_t k0, float *y) {
    __m256 a[CT][2];
    for (int c = 0; c < CT; c++) a[c][0] = a[c][1] = _mm256_setzero_ps();
    for (int64_t j = 0; j < lp; j++) {
        const __m256 g0 = _mm256_loadu_ps(g + j * lp + k0);
        const __m256 g1 = _mm256_loadu_ps(g + j * lp + k0 + 8);
        for (int c = 0; c < CT; c++) {
            const __m256 dc = _mm256_broadcast_ss(d + c * lp + j);
            a[c][0] = _mm256_fmadd_ps(dc, g0, a[c][0]);
            a[c][1] = _mm256_fmadd_ps(dc, g1, a[c][1]);
        }
    }
    for (int c = 0; c < CT; c++) {
        _mm256_storeu_ps(y + c * lp + k0, a[c][0]);
        _mm256_storeu_ps(y + c * lp + k0 + 8, a[c][1]);
    }
}

static bool have_avx2_fma(void) {
    static int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return v != 0;
}
#endif

/* ------------------------------------------------- one (row, group) */

typedef struct {
    float *d;   /* [S rounded up to CT][lp] deltas, zero-padded */
    float *y;   /* same shape: D G */
    float *mv;  /* [S] */
    uint8_t *ok;/* [S] */
} item_ws;

static int64_t ws_floats(int S, int64_t lp) {
    const int64_t sp = (S + CT - 1) / CT * CT;
    return 2 * sp * lp + S + (S + 3) / 4 + 16;
}

static void ws_bind(item_ws *w, float *base, int S, int64_t lp) {
    const int64_t sp = (S + CT - 1) / CT * CT;
    w->d = base;
    w->y = w->d + sp * lp;
    w->mv = w->y + sp * lp;
    w->ok = (uint8_t *)(w->mv + S);
}

/* Errors of the n_steps candidates of group wg (statistics gs) against gf;
 * writes max_val and (optional) err_out[s]. */
static float item_search(const float *wg, int64_t len, int64_t lp, const awq_qm_stats *gs,
                         const awq_quant_params *q, int n_grid, int S, const float *gf,
                         int64_t T, bool vec, item_ws *w, double *err_out) {
    const int64_t sp = (S + CT - 1) / CT * CT;
    memset(w->d, 0, sizeof(float) * (size_t)(sp * lp));
    for (int s = 0; s < S; s++)
        w->ok[s] = (uint8_t)clip_delta(wg, len, gs, q, s, n_grid, vec, &w->mv[s], w->d + s * lp);
    for (int64_t c0 = 0; c0 < sp; c0 += CT)
        for (int64_t k0 = 0; k0 < lp; k0 += KW) {
#ifdef CG_X86
            if (vec) {
                tile_avx2(w->d + c0 * lp, gf, lp, k0, w->y + c0 * lp);
                continue;
            }
#endif
            (void)vec;
            tile_scalar(w->d + c0 * lp, gf, lp, k0, w->y + c0 * lp);
        }
    double best_err = INFINITY;
    float best = gs->amax;
    for (int s = 0; s < S; s++) {
        double err = NAN;
        if (w->ok[s]) {
            const float *d = w->d + s * lp, *y = w->y + s * lp;
            double p[4] = {0.0, 0.0, 0.0, 0.0};
            for (int64_t k = 0; k < lp; k += 4)
                for (int r = 0; r < 4; r++) p[r] += (double)d[k + r] * (double)y[k + r];
            err = ((p[0] + p[1]) + (p[2] + p[3])) / (double)T;
        }
        if (err_out) err_out[s] = err;
        if (err < best_err) {
            best_err = err;
            best = w->mv[s];
        }
    }
    return best;
}

/* ------------------------------------------------------------ oracle */

awq_status awq_clip_search_gram_ref(awq_ctx *ctx, const float *w, const float *x,
                                    int64_t N, int64_t K, int64_t T,
                                    const awq_quant_params *q, int n_grid, int n_steps,
                                    float *max_val, double *errs) {
    const char *what = "clip search";
    AWQ_TRY(clip_check(ctx, what, w, x, max_val, N, K, T, q, n_grid, n_steps));
    const int64_t gl = awq_group_len(K, q->group_size), G = awq_n_groups(K, q->group_size);
    const int64_t lp = pad16(gl);
    if (lp > AWQ_CLIP_GRAM_MAX_LEN)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: Gram form: group of %lld columns exceeds %d", what, (long long)gl,
                        AWQ_CLIP_GRAM_MAX_LEN);
    double *gd = awq_alloc((size_t)(lp * lp), sizeof(double));
    float *gf = awq_alloc((size_t)(lp * lp), sizeof(float));
    float *wsb = awq_alloc((size_t)ws_floats(n_steps, lp), sizeof(float));
    double *e1 = awq_alloc((size_t)(n_steps > 0 ? n_steps : 1), sizeof(double));
    awq_status st = AWQ_OK;
    if (!gd || !gf || !wsb || !e1) {
        st = awq_fail_nomem(ctx, "clip search (Gram) scratch",
                            (uint64_t)(lp * lp) * 12u + (uint64_t)ws_floats(n_steps, lp) * 4u);
        goto out;
    }
    item_ws ws;
    ws_bind(&ws, wsb, n_steps, lp);
    for (int64_t g = 0; g < G && st == AWQ_OK; g++) {
        const int64_t k0 = g * gl, len = AWQ_MIN(gl, K - k0);
        gram_group(x, K, T, k0, len, lp, gd, gf);
        for (int64_t n = 0; n < N; n++) {
            const float *wg = w + n * K + k0;
            awq_qm_stats gs;
            awq_qm_group gp;
            if (!clip_group_ok(wg, len, q, &gs, &gp)) {
                st = clip_group_fail(ctx, what, wg, len, q, n, k0, g);
                break;
            }
            max_val[n * G + g] =
                item_search(wg, len, lp, &gs, q, n_grid, n_steps, gf, T, false, &ws, e1);
            if (errs)
                for (int s = 0; s < n_steps; s++) errs[((int64_t)s * N + n) * G + g] = e1[s];
        }
    }
out:
    awq_free(gd);
    awq_free(gf);
    awq_free(wsb);
    awq_free(e1);
    return st;
}

/* ----------------------------------------------------------- CPU path */

typedef struct {
    const float *w, *x;
    float *gf;          /* [G][lp][lp] */
    double *gd;         /* per worker [lp][lp] */
    float *ws;          /* per worker ws_floats */
    double *e1;         /* per worker [S] */
    float *max_val;
    double *errs;
    int64_t N, K, T, gl, lp, G, wsf;
    const awq_quant_params *q;
    int n_grid, n_steps;
    bool vec;
    int64_t *fail;      /* per worker: first failing item (g-major), -1 none */
} gram_job;

static void gram_groups(void *arg, int64_t g0, int64_t g1, int worker) {
    const gram_job *j = arg;
    for (int64_t g = g0; g < g1; g++) {
        const int64_t k0 = g * j->gl, len = AWQ_MIN(j->gl, j->K - k0);
        gram_group(j->x, j->K, j->T, k0, len, j->lp, j->gd + (int64_t)worker * j->lp * j->lp,
                   j->gf + g * j->lp * j->lp);
    }
}

/* items in group-major order, so that consecutive items share G_g */
static void gram_items(void *arg, int64_t i0, int64_t i1, int worker) {
    const gram_job *j = arg;
    item_ws ws;
    ws_bind(&ws, j->ws + (int64_t)worker * j->wsf, j->n_steps, j->lp);
    double *e1 = j->e1 + (int64_t)worker * j->n_steps;
    for (int64_t it = i0; it < i1; it++) {
        const int64_t g = it / j->N, n = it % j->N;
        const int64_t k0 = g * j->gl, len = AWQ_MIN(j->gl, j->K - k0);
        const float *wg = j->w + n * j->K + k0;
        awq_qm_stats gs;
        awq_qm_group gp;
        if (!clip_group_ok(wg, len, j->q, &gs, &gp)) {
            if (j->fail[worker] < 0) j->fail[worker] = it;
            continue;
        }
        j->max_val[n * j->G + g] = item_search(wg, len, j->lp, &gs, j->q, j->n_grid, j->n_steps,
                                               j->gf + g * j->lp * j->lp, j->T, j->vec, &ws, e1);
        if (j->errs)
            for (int s = 0; s < j->n_steps; s++)
                j->errs[((int64_t)s * j->N + n) * j->G + g] = e1[s];
    }
}

awq_status awq_clip_search_gram_cpu(awq_backend *be, const float *w, const float *x,
                                    int64_t N, int64_t K, int64_t T,
                                    const awq_quant_params *q, int n_grid, int n_steps,
                                    float *max_val, double *errs) {
    awq_ctx *ctx = be->ctx;
    const char *what = "clip search";
    AWQ_TRY(clip_check(ctx, what, w, x, max_val, N, K, T, q, n_grid, n_steps));
    gram_job j;
    memset(&j, 0, sizeof j);
    j.w = w;
    j.x = x;
    j.N = N;
    j.K = K;
    j.T = T;
    j.gl = awq_group_len(K, q->group_size);
    j.G = awq_n_groups(K, q->group_size);
    j.lp = pad16(j.gl);
    j.q = q;
    j.n_grid = n_grid;
    j.n_steps = n_steps;
    j.max_val = max_val;
    j.errs = errs;
#ifdef CG_X86
    j.vec = have_avx2_fma();
#endif
    if (j.lp > AWQ_CLIP_GRAM_MAX_LEN)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: Gram form: group of %lld columns exceeds %d", what,
                        (long long)j.gl, AWQ_CLIP_GRAM_MAX_LEN);
    const int nw = awq_ctx_n_threads(ctx) > 0 ? awq_ctx_n_threads(ctx) : 1;
    j.wsf = (ws_floats(n_steps, j.lp) + 15) & ~(int64_t)15;
    const uint64_t gfl = (uint64_t)j.G * (uint64_t)(j.lp * j.lp);
    j.gf = awq_alloc((size_t)gfl, sizeof(float));
    j.gd = awq_alloc((size_t)(j.lp * j.lp * nw), sizeof(double));
    j.ws = awq_alloc((size_t)(j.wsf * nw), sizeof(float));
    j.e1 = awq_alloc((size_t)((n_steps > 0 ? n_steps : 1) * nw), sizeof(double));
    j.fail = clip_fail_slots(nw);
    awq_status st = AWQ_OK;
    if (!j.gf || !j.gd || !j.ws || !j.e1 || !j.fail) {
        st = awq_fail_nomem(ctx, "clip search (Gram) buffers",
                            gfl * 4u + (uint64_t)(j.lp * j.lp * nw) * 8u +
                                (uint64_t)(j.wsf * nw) * 4u);
        goto out;
    }
    awq_parallel_for(ctx, j.G, gram_groups, &j);
    awq_parallel_for(ctx, j.G * N, gram_items, &j);
    /* the oracle stops at the first bad (group, row) in group-major order:
     * g = it / N, n = it % N */
    const int64_t bad = clip_first_fail(j.fail, nw);
    if (bad >= 0) st = clip_item_fail(ctx, what, w, K, j.gl, q, bad % N, bad / N);
out:
    awq_free(j.gf);
    awq_free(j.gd);
    awq_free(j.ws);
    awq_free(j.e1);
    awq_free(j.fail);
    return st;
}

awq_status awq_clip_search_fast(awq_backend *be, const float *w, const float *x,
                                int64_t N, int64_t K, int64_t T,
                                const awq_quant_params *q, int n_grid, int n_steps,
                                float *max_val) {
    if (be && be->kind == AWQ_BACKEND_CPU && awq_clip_gram_cheaper(K, T, q))
        return awq_clip_search_gram_cpu(be, w, x, N, K, T, q, n_grid, n_steps, max_val, NULL);
    return awq_clip_search(be, w, x, N, K, T, q, n_grid, n_steps, max_val);
}
