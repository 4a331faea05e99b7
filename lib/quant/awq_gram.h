/* lib/quant/awq_gram.h — the Gram-matrix form of the AWQ search loss for
 * groups whose block is one linear (v -> o, up -> down). Internal.
 *
 * The direct loss of a candidate is mean((X Wq^T - X W^T)^2) over the R
 * calibration tokens and the N outputs (the bias cancels). With
 * dW = Wq - W and G = X^T X [K, K] it equals
 *     sum_n dW_n G dW_n^T / (R N) = tr(dW G dW^T) / (R N),
 * so G is built once per group (R K^2 flops, the upper triangle) and each
 * candidate costs one [N, K] x [K, K] GEMM (2 N K^2) instead of a forward
 * over every token (2 R N K) plus the FP forward it is compared with. It is
 * also the better-conditioned sum: the direct form subtracts two rounded
 * outputs of similar size, the Gram form squares dW itself. */
#ifndef AWQ_LIB_QUANT_AWQ_GRAM_H
#define AWQ_LIB_QUANT_AWQ_GRAM_H

#include "awqkit/quantize.h"
#include "quant/awq_search.h"

/* The cost model. n_evals: loss evaluations of the group (candidates + the
 * RTN baseline); direct_evals: the same counted in forwards over all R rows
 * (n_evals unscreened; less when the direct form screens its candidates on
 * a fraction of the rows). Direct: (direct_evals + 1) forwards of 2 R N K
 * flops (the +1 is the FP output). Gram: R K (K + 64) flops for G (upper triangle in slices
 * of 64 rows) + n_evals (2 N K^2 + 4 N K). Memory: G and its two [N, K]
 * scratch buffers must not exceed what the direct form holds per chunk (the
 * chunk's input and its block output, chunk_rows (K + N) floats), so a
 * huge K with a small chunk (--offload-activations) stays direct. The Gram
 * form is taken when both hold. */
typedef struct awq_gram_cost {
    double direct_flops, gram_flops;
    double gram_floats, chunk_floats;
    bool use_gram;
} awq_gram_cost;

awq_gram_cost awq_gram_cost_model(int64_t rows, int64_t chunk_rows, int64_t N, int64_t K,
                                  int n_evals, double direct_evals);

/* Per-group state, in backend memory. */
typedef struct awq_gram_state {
    float *g;                  /* [K, K] = X^T X over all chunks */
    float *negw;               /* [N, K] = -W (the unscaled weight) */
    float *d, *h;              /* [N, K] scratch: dW, dW G */
    int64_t N, K, rows;
} awq_gram_state;

/* Build G from capture slot `in` (chunk by chunk, chunk order) and -W. */
awq_status awq_gram_build(awq_model *m, awq_search_acts *a, int in, const float *w,
                          int64_t N, int64_t K, awq_gram_state *gs);
/* *loss = tr((wq - W) G (wq - W)^T) / (rows N), wq [N, K] backend memory. */
awq_status awq_gram_loss(awq_model *m, awq_gram_state *gs, const float *wq, double *loss);
void awq_gram_free(awq_model *m, awq_gram_state *gs);

/* Oracles (host, double): the direct form over the tokens x [R, K], and
 * the Gram form from g [K, K]. */
double awq_gram_loss_direct_ref(const float *x, int64_t R, const float *w, const float *wq,
                                int64_t N, int64_t K);
double awq_gram_loss_ref(const float *g, int64_t R, const float *w, const float *wq, int64_t N,
                         int64_t K);

#endif
