/* lib/model/synth_mla.h — the DeepSeek-V2 / V3 parts of `synth`
 * (lib/model/synth.c): dims, checks and config fields of multi-head latent
 * attention and DeepSeek's experts. Internal. */
#ifndef AWQ_LIB_MODEL_SYNTH_MLA_H
#define AWQ_LIB_MODEL_SYNTH_MLA_H

#include "awqkit/model.h"
#include "awqkit/synth.h"

struct cJSON;

/* The MLA widths of p with its defaults resolved (awq_synth_params), into
 * mc (q_lora_rank .. v_head_dim). head_dim: hidden / heads or p->head_dim. */
void awq_synth_mla_dims(const awq_synth_params *p, int64_t head_dim, awq_model_config *mc);

/* Validate the DeepSeek parameters (AWQ_ERR_INVALID_ARG naming one) and
 * pick the table entry: *arch becomes the plain-q_proj entry when
 * q_lora_rank is 0. */
awq_status awq_synth_mla_check(awq_ctx *ctx, const awq_synth_params *p, int64_t head_dim,
                               const awq_arch **arch);

/* Add the MLA and DeepSeek MoE fields to config object c (head_dim and
 * num_key_value_heads rewritten as transformers writes them). */
void awq_synth_mla_config(struct cJSON *c, const awq_synth_params *p, int64_t head_dim,
                          int64_t moe_inter);

#endif
