/* lib/model/moe.h — the mixture-of-experts MLP of a decoder layer (Mixtral,
 * Qwen2-MoE, Qwen3-MoE), computed with the backend ops. Internal to
 * lib/model: forward.c loads the weights, this computes the block. */
#ifndef AWQ_LIB_MODEL_MOE_H
#define AWQ_LIB_MODEL_MOE_H

#include "awqkit/model.h"
#include "backend/backend.h"

/* A MoE layer's weights in backend memory, fp32 (owned by the layer). */
typedef struct awq_moe_weights {
    float *router;             /* [n_experts, hidden] */
    float **experts;           /* [n_experts * 3]: gate [I, H], up [I, H],
                                  down [H, I] of each expert, I =
                                  moe_intermediate */
    float *shared[3];          /* shared expert gate/up/down (width
                                  shared_intermediate) or NULL */
    float *shared_gate;        /* [hidden] or NULL (DeepSeek: ungated) */
    float *router_bias;        /* [n_experts] e_score_correction_bias or NULL */
} awq_moe_weights;

/* out [R, hidden] = the MoE block on x_normed [R, hidden] (no residual):
 *   routing by cfg->route (awq_route; ties: lower index first), e.g.
 *   p = softmax(x Wr^T) per row (in double, rounded to fp32 as torch's
 *   float softmax), the top n_experts_per_tok, renormalized when
 *   cfg->norm_topk_prob, times cfg->routed_scale;
 *   out = sum_k p_k * down_e(act(gate_e(x)) * up_e(x))
 *         (+ sigmoid(x . w_sg) * shared(x))
 * Experts accumulate in expert order, as transformers' index_add_. out must
 * not overlap x. Scratch is allocated per call. */
awq_status awq_moe_forward(awq_backend *be, const awq_model_config *cfg,
                           const awq_moe_weights *w, const float *x, float *out,
                           int64_t R);

/* The routing awq_moe_forward applies, for callers that run the experts
 * themselves (the AWQ search, lib/quant/moe_awq.c): for each of the R rows
 * of x [R, hidden] (backend), idx[r * k ..] (host) receives its top-k
 * experts and wt[r * k ..] (host) their weights, k = n_experts_per_tok. */
awq_status awq_moe_route(awq_backend *be, const awq_model_config *cfg,
                         const awq_moe_weights *w, const float *x, int64_t R,
                         int32_t *idx, float *wt);

#endif
