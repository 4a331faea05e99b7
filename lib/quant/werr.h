/* lib/quant/werr.h — weight error of a quantized (or dense) linear against
 * its source, after undoing folded per-row / per-column scales (internal). */
#ifndef AWQ_QUANT_WERR_H
#define AWQ_QUANT_WERR_H

#include "awqkit/checkpoint.h"
#include "awqkit/quant.h"

/* Squared errors and the squared source norm, so callers can aggregate
 * several linears (a layer): relative error = sqrt(err2 / w2). */
typedef struct awq_werr {
    double err2;               /* ||D_r W' D_c - W||^2, D fitted */
    double raw2;               /* ||W' - W||^2 */
    double w2;                 /* ||W||^2 */
} awq_werr;

/* src: the source [N, K] weight; the candidate is either packed (qt) or a
 * dense tensor (dense), exactly one of them. Threaded through ctx. */
awq_status awq_weight_error(awq_ctx *ctx, const awq_tensor_info *src,
                            const awq_qtensor *qt, const awq_tensor_info *dense,
                            awq_werr *out);

/* Same from two fp32 matrices in memory ([N, K] row-major), single-threaded:
 * the oracle the streaming version is tested against. NaNs on allocation
 * failure. */
void awq_weight_error_ref(const float *w, const float *wq, int64_t N, int64_t K,
                          awq_werr *out);

#endif
