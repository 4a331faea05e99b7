/* lib/quant/awq_search.h — the AWQ search on one decoder layer (internal).
 *
 * Written once against the backend ops (lib/backend/backend.h) and the
 * layer API (awqkit/runtime.h), so the CPU and the CUDA backends run the
 * same algorithm. Steps, as AutoAWQ (awq/quantize/quantizer.py):
 *   1. the caller runs the FP layer with captures: the inputs of q/k/v,
 *      o, gate/up and down (awq_search_captures);
 *   2. awq_search_layer: for each scaling group of the architecture, the
 *      ratio r/n_grid whose scales s minimise the block-output MSE of
 *      Q(W·s)/s, all groups searched on the unscaled layer;
 *   3. awq_search_apply: fold s into the previous norm / linear, multiply
 *      the linears' input columns, divide the captured inputs;
 *   4. awq_search_clip: per (output row, group) max-abs clamp search for
 *      every linear but q/k, then clamp the weights.
 */
#ifndef AWQ_LIB_QUANT_AWQ_SEARCH_H
#define AWQ_LIB_QUANT_AWQ_SEARCH_H

#include "awqkit/quantize.h"
#include "awqkit/runtime.h"

/* Captured linear inputs of one layer, in backend memory. */
typedef struct awq_search_captures {
    float *x[AWQ_CAPTURE_COUNT];   /* [rows, cols[p]] */
    int64_t cols[AWQ_CAPTURE_COUNT];
    int64_t rows;                  /* B*T */
    int64_t B, T;
} awq_search_captures;

/* Allocate capture buffers for the model's dims and B*T rows. */
awq_status awq_search_captures_alloc(awq_model *m, int64_t B, int64_t T,
                                     awq_search_captures *c);
void awq_search_captures_free(awq_model *m, awq_search_captures *c);
/* The capture callback to install on a layer (user = awq_search_captures*;
 * it also needs the model: see awq_search_capture_ctx). */
typedef struct awq_search_capture_ctx {
    awq_model *m;
    awq_search_captures *c;
} awq_search_capture_ctx;
awq_status awq_search_capture_fn(void *user, int64_t layer,
                                 awq_capture_point point, int64_t row0,
                                 int64_t n_rows, int64_t n_cols,
                                 const float *x);

/* The capture point whose buffer is the input of linear `lin`. */
awq_capture_point awq_search_point_of_linear(int lin);

/* Result of the search on one layer (host memory, owned). */
typedef struct awq_layer_search {
    int n_groups;
    bool used[4];              /* group applies to this layer */
    int64_t len[4];            /* scale vector length (K of the linears) */
    float *scales[4];          /* [len] (NULL when !used) */
    awq_group_report rep[4];
    float *clip[AWQ_MAX_LINEARS]; /* [N, G] max |w| per (row, group); NULL
                                     when not clipped */
    int64_t clip_rows[AWQ_MAX_LINEARS], clip_groups[AWQ_MAX_LINEARS];
} awq_layer_search;

void awq_layer_search_free(awq_layer_search *s);

/* Step 2: search every group's scales on the (unscaled) layer. */
awq_status awq_search_layer(awq_model *m, awq_layer *l,
                            const awq_search_captures *c,
                            const awq_quantize_params *p, awq_layer_search *out,
                            double *t_search);

/* Step 3: apply the searched scales (l and the captures are modified). */
awq_status awq_search_apply(awq_model *m, awq_layer *l,
                            awq_search_captures *c, const awq_layer_search *s);

/* Step 4: search (when s->clip[lin] is NULL and p->clip) and apply the
 * clamps for every linear except q/k. */
awq_status awq_search_clip(awq_model *m, awq_layer *l,
                           const awq_search_captures *c,
                           const awq_quantize_params *p, awq_layer_search *s);

/* The scale vector for ratio `ratio` (host): AutoAWQ's formula with the
 * sqrt(max*min) normalisation and non-finite entries set to 1. Exposed for
 * the unit tests. */
void awq_search_scales_ref(const float *x_mean, const float *w_mean, int64_t K,
                           double ratio, bool duo, float *s);
/* w_mean of AutoAWQ: |W| divided by its group's max |W| (+1e-6), averaged
 * over all rows of all the group's linears (host arrays, each [N_j, K]). */
void awq_search_w_mean_ref(const float *const *w, const int64_t *n_rows,
                           int n_w, int64_t K, int64_t group_len,
                           float *w_mean);

#endif
