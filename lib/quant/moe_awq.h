/* lib/quant/moe_awq.h — the AWQ search on a mixture-of-experts layer's MLP
 * (internal; lib/quant/moe_awq.c).
 *
 * The scaling groups of a MoE layer are sized at run time from the config
 * and named by the architecture table's awq_moe_desc (model/moe_lset.h), as
 * AutoAWQ's and llm-compressor's MoE mappings:
 *   - the MLP's input norm (the table's norm -> gate/up group) scales every
 *     expert's gate and up together with the shared expert's, the loss
 *     measured on the whole MoE block's output (routing included);
 *   - expert e: up -> down, the loss on down's output over the calibration
 *     tokens routed to e (its inputs are built from the captured MoE input
 *     and the routing, expert by expert, never all at once);
 *   - the shared expert: up -> down over every token.
 * Deliberate difference: the norm's fold (w / s) is compensated in the
 * router's and the shared expert gate's input columns (x s), so routing is
 * unchanged; AutoAWQ leaves the router reading x / s.
 * An expert routed fewer than AWQ_MOE_MIN_SEARCH_TOKENS calibration tokens
 * is "starved": its up -> down scales stay 1 (plain round-to-nearest),
 * and its linears are clipped only with AWQ_MOE_MIN_CLIP_TOKENS or more. */
#ifndef AWQ_LIB_QUANT_MOE_AWQ_H
#define AWQ_LIB_QUANT_MOE_AWQ_H

#include "awqkit/quantize.h"
#include "quant/awq_search.h"

/* Per-channel means from fewer tokens are noise: AutoAWQ's x_mean over a
 * handful of rows picks scales that fit those rows only. 16 routed tokens
 * is one token per 8 channels of a 128-wide quantization group. */
#define AWQ_MOE_MIN_SEARCH_TOKENS 16
/* The clip search fits one clamp per (row, group): with under 8 tokens the
 * clamp follows them rather than the weights' distribution. */
#define AWQ_MOE_MIN_CLIP_TOKENS 8

typedef struct awq_moe_search {
    int64_t n_experts;         /* routed experts E */
    bool has_shared;
    int64_t *tokens;           /* [E]: calibration tokens routed to each */
    int64_t n_starved;         /* experts with < AWQ_MOE_MIN_SEARCH_TOKENS */
    int64_t n_down_searched;   /* up -> down groups searched (shared too) */
    double down_ratio_sum, down_loss_rtn_sum, down_loss_best_sum; /* over them */
    awq_group_report norm_rep; /* norm -> every expert's gate/up */
    int64_t hidden;
    float *norm_scales;        /* [hidden], NULL when not searched */
    float **down_scales;       /* [E + 1] (last: shared expert), each
                                  [width] or NULL (neutral) */
    int64_t *down_len;         /* [E + 1] */
} awq_moe_search;

/* Search, apply and clip the MoE part of layer l (which must be a MoE
 * layer) after the attention groups were searched and applied; the
 * capture slot of the MLP input holds the layer's calibration MoE input.
 * AWQ_METHOD_RTN only counts the routed tokens. Modifies l's MoE weights,
 * its MLP norm and the capture slot. out is freed with awq_moe_search_free. */
awq_status awq_moe_search_layer(awq_model *m, awq_layer *l, awq_search_acts *c,
                                const awq_quantize_params *p, awq_moe_search *out);
void awq_moe_search_free(awq_moe_search *s);

struct cJSON;
/* The record written into the layer's search.json ("moe"): tokens per
 * expert, the starved ones, the norm group, the searched scales. */
struct cJSON *awq_moe_search_json(const awq_moe_search *s);
/* Tokens per expert back from a layer's search.json (resumed layers):
 * false when absent or malformed. tokens has n_experts entries. */
bool awq_moe_tokens_from_json(const struct cJSON *layer_json, int64_t n_experts,
                              int64_t *tokens);

/* Bytes of backend memory a MoE layer's weights take at fp32 (0 for a
 * dense model): the plan's peak estimate adds it to the dense part. */
uint64_t awq_moe_layer_bytes(const awq_model_config *cfg);
/* Extra scratch of the MoE search for `rows` calibration rows. */
uint64_t awq_moe_search_bytes(const awq_model_config *cfg, uint64_t rows);

#endif
