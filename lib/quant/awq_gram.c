/* lib/quant/awq_gram.c — the Gram form of the one-linear AWQ loss (see
 * awq_gram.h for the identity and the cost model). Heavy work runs on the
 * backend ops gram, gemm and dot, so every backend takes the same path; the
 * summation orders are fixed by those ops' contracts, so the loss has the
 * same bits for any thread count. */
#include "quant/awq_gram.h"

#include "core/core.h"
#include "backend/backend.h"
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

awq_gram_cost awq_gram_cost_model(int64_t rows, int64_t chunk_rows, int64_t N, int64_t K,
                                  int n_evals, double direct_evals) {
    awq_gram_cost c;
    const double R = (double)rows, n = (double)N, k = (double)K, e = (double)n_evals;
    c.direct_flops = (direct_evals + 1.0) * 2.0 * R * n * k;
    c.gram_flops = R * k * (k + 64.0) + e * (2.0 * n * k * k + 4.0 * n * k);
    c.gram_floats = k * k + 3.0 * n * k;
    c.chunk_floats = (double)chunk_rows * (k + n);
    c.use_gram = c.gram_flops < c.direct_flops && c.gram_floats <= c.chunk_floats;
    return c;
}

void awq_gram_free(awq_model *m, awq_gram_state *gs) {
    awq_model_free_buf(m, gs->g);
    awq_model_free_buf(m, gs->negw);
    awq_model_free_buf(m, gs->d);
    awq_model_free_buf(m, gs->h);
    memset(gs, 0, sizeof *gs);
}

awq_status awq_gram_build(awq_model *m, awq_search_acts *a, int in, const float *w,
                          int64_t N, int64_t K, awq_gram_state *gs) {
    awq_backend *be = awq_model_backend(m);
    memset(gs, 0, sizeof *gs);
    gs->N = N;
    gs->K = K;
    gs->rows = a->rows;
    if (!be->ops->gram || !be->ops->dot)
        return awq_fail(awq_model_ctx(m), AWQ_ERR_UNSUPPORTED,
                        "the %s backend has no gram/dot op", be->ops->name);
    const size_t wb = (size_t)N * (size_t)K * sizeof(float);
    awq_status st = awq_model_alloc(m, (size_t)K * (size_t)K * sizeof(float), (void **)&gs->g);
    if (st == AWQ_OK) st = awq_model_alloc(m, wb, (void **)&gs->negw);
    if (st == AWQ_OK) st = awq_model_alloc(m, wb, (void **)&gs->d);
    if (st == AWQ_OK) st = awq_model_alloc(m, wb, (void **)&gs->h);
    for (int64_t c = 0; c < awq_act_store_n_chunks(a->st) && st == AWQ_OK; c++) {
        float *x = NULL;
        st = awq_act_store_get(a->st, in, c, true, &x);
        if (st == AWQ_OK)
            st = be->ops->gram(be, x, awq_act_store_chunk_rows(a->st, c), K, gs->g, c > 0);
    }
    /* -W: negation is exact, so d = wq + (-W) is wq - W rounded once */
    float *neg1 = NULL;
    if (st == AWQ_OK) st = awq_model_alloc(m, (size_t)K * sizeof(float), (void **)&neg1);
    if (st == AWQ_OK) {
        float *h = awq_alloc((size_t)K, sizeof(float));
        if (!h) st = awq_fail_nomem(awq_model_ctx(m), "gram scratch", (uint64_t)K * 4);
        for (int64_t k = 0; h && k < K; k++) h[k] = -1.0f;
        if (st == AWQ_OK) st = awq_model_upload(m, neg1, h, (size_t)K * sizeof(float));
        awq_free(h);
    }
    if (st == AWQ_OK) st = be->ops->copy(be, gs->negw, w, wb);
    if (st == AWQ_OK) st = be->ops->scale_cols(be, gs->negw, neg1, N, K, false);
    awq_model_free_buf(m, neg1);
    if (st != AWQ_OK) awq_gram_free(m, gs);
    return st;
}

awq_status awq_gram_loss(awq_model *m, awq_gram_state *gs, const float *wq, double *loss) {
    awq_backend *be = awq_model_backend(m);
    const int64_t nk = gs->N * gs->K;
    double s = 0;
    AWQ_TRY(be->ops->copy(be, gs->d, wq, (size_t)nk * sizeof(float)));
    AWQ_TRY(be->ops->add(be, gs->d, gs->negw, nk));
    /* h = d G^T = d G (G symmetric) */
    AWQ_TRY(be->ops->gemm(be, gs->d, gs->g, AWQ_DT_F32, NULL, gs->h, gs->N, gs->K, gs->K));
    AWQ_TRY(be->ops->dot(be, gs->d, gs->h, nk, &s));
    *loss = gs->rows && gs->N ? s / ((double)gs->rows * (double)gs->N) : 0;
    return AWQ_OK;
}

double awq_gram_loss_direct_ref(const float *x, int64_t R, const float *w, const float *wq,
                                int64_t N, int64_t K) {
    double sse = 0;
    for (int64_t r = 0; r < R; r++)
        for (int64_t n = 0; n < N; n++) {
            double y = 0, yq = 0;
            for (int64_t k = 0; k < K; k++) {
                y += (double)x[r * K + k] * (double)w[n * K + k];
                yq += (double)x[r * K + k] * (double)wq[n * K + k];
            }
            sse += (yq - y) * (yq - y);
        }
    return R && N ? sse / ((double)R * (double)N) : 0;
}

double awq_gram_loss_ref(const float *g, int64_t R, const float *w, const float *wq, int64_t N,
                         int64_t K) {
    double s = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < K; i++) {
            double di = (double)wq[n * K + i] - (double)w[n * K + i], acc = 0;
            for (int64_t j = 0; j < K; j++)
                acc += (double)g[i * K + j] * ((double)wq[n * K + j] - (double)w[n * K + j]);
            s += di * acc;
        }
    return R && N ? s / ((double)R * (double)N) : 0;
}
