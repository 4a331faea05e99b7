/* lib/model/rope.h — rotary position embedding tables (internal).
 *
 * Reproduces transformers' ROPE_INIT_FUNCTIONS (modeling_rope_utils.py,
 * v5: default, linear, llama3, yarn) step by step in fp32, the precision
 * torch computes them in, and LlamaRotaryEmbedding.forward's tables:
 *   angle[p][i] = fp32(p * inv_freq[i]);  cos = fp32(cos(angle)) * af,
 *   sin likewise, af = the attention factor (yarn's mscale; 1 otherwise).
 * Only the first head_dim/2 columns are stored (transformers concatenates
 * the same values twice). */
#ifndef AWQ_LIB_MODEL_ROPE_H
#define AWQ_LIB_MODEL_ROPE_H

#include "awqkit/model.h"

/* inv_freq [head_dim / 2] and the attention factor for the rope settings
 * `rs` (NULL = default), base `theta`, rotary dimension head_dim (even) and
 * max_position_embeddings `max_pos` (used by llama3 / yarn when
 * original_max_position_embeddings is absent, as transformers'
 * standardize_rope_params does). Errors: AWQ_ERR_INVALID_ARG naming the
 * parameter. */
awq_status awq_rope_inv_freq(awq_ctx *ctx, const awq_rope_scaling *rs,
                             double theta, int64_t head_dim, int64_t max_pos,
                             float *inv_freq, float *attention_factor);

/* cos/sin tables [n_pos][head_dim/2] for positions 0 .. n_pos-1. */
void awq_rope_tables(const float *inv_freq, int64_t half,
                     float attention_factor, int64_t n_pos, float *cos_out,
                     float *sin_out);

#endif
