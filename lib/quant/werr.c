/* lib/quant/werr.c — a linear's weight error after undoing the per-row and
 * per-column scales a checkpoint folded in.
 *
 * AWQ multiplies a linear's input columns by s and divides the previous op
 * by s: a norm's weight, or the output rows of up_proj / v_proj. A correct
 * AWQ checkpoint therefore matches its source only up to a row and a column
 * diagonal: the error is ||D_r W' D_c - W|| with D_r, D_c fitted by
 * alternating least squares. Used by `awqkit verify --against` and by the
 * audit's per-linear weight error. Streams a chunk of rows at a time;
 * results do not depend on the thread count (each row or column is reduced
 * by one worker, sums are taken in index order). */
#include "quant/werr.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

/* Rows of a linear converted at once. */
#define WERR_CHUNK_BYTES ((uint64_t)8 << 20)

/* Fitted factors outside this range (or of the wrong sign) do not undo a
 * folded scale (AWQ clamps its scales far inside it): use 1. */
static double sane_scale(double num, double den) {
    double s = den > 0 ? num / den : 0.0;
    return s > 1e-12 && s < 1e12 ? s : 1.0;
}

typedef struct werr_job {
    const float *w, *q;        /* [nr, K] source / candidate rows */
    int64_t nr, K, r0;         /* r0: first row's index */
    double *t, *u;             /* [N] row factors, [K] column factors */
    double *num, *den;         /* [K] column accumulators */
    double *e2, *raw2, *w2;    /* [K] column accumulators (final pass) */
} werr_job;

/* Row factors given the column factors: t_n minimises
 * sum_k (t_n u_k q_nk - w_nk)^2. */
static void fit_rows(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    const werr_job *j = arg;
    for (int64_t i = b; i < e; i++) {
        const float *w = j->w + i * j->K, *q = j->q + i * j->K;
        double num = 0, den = 0;
        for (int64_t k = 0; k < j->K; k++) {
            double uq = j->u[k] * (double)q[k];
            num += uq * (double)w[k];
            den += uq * uq;
        }
        j->t[j->r0 + i] = sane_scale(num, den);
    }
}

/* Column accumulators given the row factors. */
static void acc_cols(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    const werr_job *j = arg;
    for (int64_t i = 0; i < j->nr; i++) {
        const float *w = j->w + i * j->K, *q = j->q + i * j->K;
        const double tt = j->t[j->r0 + i];
        for (int64_t k = b; k < e; k++) {
            double tq = tt * (double)q[k];
            j->num[k] += tq * (double)w[k];
            j->den[k] += tq * tq;
        }
    }
}

/* Final pass: squared errors per column. */
static void acc_err(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    const werr_job *j = arg;
    for (int64_t i = 0; i < j->nr; i++) {
        const float *w = j->w + i * j->K, *q = j->q + i * j->K;
        const double tt = j->t[j->r0 + i];
        for (int64_t k = b; k < e; k++) {
            double x = (double)w[k], y = (double)q[k];
            double d = tt * j->u[k] * y - x, d0 = y - x;
            j->e2[k] += d * d;
            j->raw2[k] += d0 * d0;
            j->w2[k] += x * x;
        }
    }
}

/* Rounds of alternating least squares: three take an exactly rescaled
 * matrix (rows and columns, AWQ-like spreads) to ~1e-5 and a noisy one to
 * its minimum (tests/unit/test_audit.c). */
enum { WERR_ROUNDS = 3 };

/* The pass sequence shared by the streaming and the in-memory versions:
 * ROUNDS x {columns given rows, rows given columns}, then the error pass.
 * pass(): run fn over all rows in order (by rows or by columns). */
typedef awq_status (*werr_pass_fn)(void *user, awq_range_fn fn, bool by_rows, werr_job *j);

static awq_status werr_run(void *user, werr_pass_fn pass, werr_job *j, int64_t N, int64_t K,
                           awq_werr *out) {
    for (int64_t k = 0; k < K; k++) j->u[k] = 1.0;
    for (int64_t n = 0; n < N; n++) j->t[n] = 1.0;
    for (int round = 0; round < WERR_ROUNDS; round++) {
        memset(j->num, 0, sizeof(double) * (size_t)K);
        memset(j->den, 0, sizeof(double) * (size_t)K);
        AWQ_TRY(pass(user, acc_cols, false, j));
        for (int64_t k = 0; k < K; k++) j->u[k] = sane_scale(j->num[k], j->den[k]);
        AWQ_TRY(pass(user, fit_rows, true, j));
    }
    memset(j->e2, 0, sizeof(double) * (size_t)K);
    memset(j->raw2, 0, sizeof(double) * (size_t)K);
    memset(j->w2, 0, sizeof(double) * (size_t)K);
    AWQ_TRY(pass(user, acc_err, false, j));
    memset(out, 0, sizeof *out);
    for (int64_t k = 0; k < K; k++) {
        out->err2 += j->e2[k];
        out->raw2 += j->raw2[k];
        out->w2 += j->w2[k];
    }
    return AWQ_OK;
}

static awq_status alloc_job(awq_ctx *ctx, werr_job *j, int64_t N, int64_t K) {
    memset(j, 0, sizeof *j);
    j->K = K;
    j->t = awq_alloc((size_t)N, sizeof(double));
    j->u = awq_alloc((size_t)K, sizeof(double));
    j->num = awq_alloc((size_t)K * 5, sizeof(double));
    if (!j->t || !j->u || !j->num) return awq_fail_nomem(ctx, "weight-error scratch", (uint64_t)(N + 6 * K) * 8);
    j->den = j->num + K;
    j->e2 = j->num + 2 * K;
    j->raw2 = j->num + 3 * K;
    j->w2 = j->num + 4 * K;
    return AWQ_OK;
}

static void free_job(werr_job *j) {
    awq_free(j->t);
    awq_free(j->u);
    awq_free(j->num);
}

/* In memory, single-threaded: the oracle. */
typedef struct mem_src {
    const float *w, *q;
    int64_t N;
} mem_src;

static awq_status mem_pass(void *user, awq_range_fn fn, bool by_rows, werr_job *j) {
    const mem_src *m = user;
    j->w = m->w;
    j->q = m->q;
    j->nr = m->N;
    j->r0 = 0;
    fn(j, 0, by_rows ? m->N : j->K, 0);
    return AWQ_OK;
}

void awq_weight_error_ref(const float *w, const float *wq, int64_t N, int64_t K,
                            awq_werr *out) {
    memset(out, 0, sizeof *out);
    werr_job j;
    if (alloc_job(NULL, &j, N, K) != AWQ_OK) {
        free_job(&j);
        out->err2 = out->raw2 = out->w2 = NAN;
        return;
    }
    mem_src m = {w, wq, N};
    werr_run(&m, mem_pass, &j, N, K, out);
    free_job(&j);
}

/* Streaming, threaded: rows converted a chunk at a time. */
typedef struct stream_src {
    awq_ctx *ctx;
    const awq_tensor_info *src, *dense;
    const awq_qtensor *qt;
    int64_t N, K, chunk;
    float *w, *q;
} stream_src;

static awq_status stream_pass(void *user, awq_range_fn fn, bool by_rows, werr_job *j) {
    stream_src *s = user;
    for (int64_t r0 = 0; r0 < s->N; r0 += s->chunk) {
        int64_t nr = AWQ_MIN(s->chunk, s->N - r0);
        AWQ_TRY(awq_tensor_rows_to_f32(s->ctx, s->src, r0, nr, s->w));
        if (s->qt) AWQ_TRY(awq_dequantize_rows(s->ctx, s->qt, r0, nr, s->q));
        else AWQ_TRY(awq_tensor_rows_to_f32(s->ctx, s->dense, r0, nr, s->q));
        j->w = s->w;
        j->q = s->q;
        j->nr = nr;
        j->r0 = r0;
        awq_parallel_for(s->ctx, by_rows ? nr : s->K, fn, j);
    }
    return AWQ_OK;
}

awq_status awq_weight_error(awq_ctx *ctx, const awq_tensor_info *src, const awq_qtensor *qt,
                              const awq_tensor_info *dense, awq_werr *out) {
    memset(out, 0, sizeof *out);
    if (!src || src->ndim != 2 || (!qt) == (!dense))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "weight error: bad arguments");
    const int64_t N = src->shape[0], K = src->shape[1];
    if (N < 1 || K < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "weight error: %s is empty", src->name);
    if (qt ? (qt->N != N || qt->K != K)
           : (dense->ndim != 2 || dense->shape[0] != N || dense->shape[1] != K))
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "weight error: %s: shapes differ", src->name);
    stream_src s = {ctx, src, dense, qt, N, K, 0, NULL, NULL};
    s.chunk = (int64_t)(WERR_CHUNK_BYTES / ((uint64_t)K * sizeof(float)));
    s.chunk = AWQ_MAX((int64_t)1, AWQ_MIN(s.chunk, N));
    werr_job j;
    awq_status st = alloc_job(ctx, &j, N, K);
    if (st == AWQ_OK) {
        s.w = awq_alloc((size_t)(s.chunk * K), sizeof(float));
        s.q = awq_alloc((size_t)(s.chunk * K), sizeof(float));
        if (!s.w || !s.q) st = awq_fail_nomem(ctx, "weight-error rows", (uint64_t)(s.chunk * K) * 8);
    }
    if (st == AWQ_OK) st = werr_run(&s, stream_pass, &j, N, K, out);
    if (st != AWQ_OK && st != AWQ_ERR_NOMEM)
        st = awq_fail_wrap(ctx, st, "weight error of %s", src->name);
    awq_free(s.w);
    awq_free(s.q);
    free_job(&j);
    return st;
}
