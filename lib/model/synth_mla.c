/* lib/model/synth_mla.c — DeepSeek-V2 / V3 for `synth` (see synth_mla.h). */
#include "model/synth_mla.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <string.h>

void awq_synth_mla_dims(const awq_synth_params *p, int64_t hd, awq_model_config *mc) {
    int64_t rope = p->qk_rope_head_dim > 0 ? p->qk_rope_head_dim : AWQ_MAX(2, (hd / 2) & ~1);
    mc->q_lora_rank = p->q_lora_rank;
    mc->kv_lora_rank = p->kv_lora_rank > 0 ? p->kv_lora_rank : AWQ_MAX(1, p->hidden / 4);
    mc->qk_rope_head_dim = rope;
    mc->qk_nope_head_dim = p->qk_nope_head_dim > 0 ? p->qk_nope_head_dim : AWQ_MAX(1, hd / 2);
    mc->v_head_dim = p->v_head_dim > 0 ? p->v_head_dim : hd;
}

awq_status awq_synth_mla_check(awq_ctx *ctx, const awq_synth_params *p, int64_t hd,
                               const awq_arch **arch) {
    awq_model_config mc;
    memset(&mc, 0, sizeof mc);
    awq_synth_mla_dims(p, hd, &mc);
    const struct {
        const char *n;
        int64_t v, min, max;
    } dims[] = {
        {"q-lora-rank", mc.q_lora_rank, 0, 1 << 16},
        {"kv-lora-rank", mc.kv_lora_rank, 1, 1 << 16},
        {"qk-rope-head-dim", mc.qk_rope_head_dim, 2, 1024},
        {"qk-nope-head-dim", mc.qk_nope_head_dim, 1, 1024},
        {"v-head-dim", mc.v_head_dim, 1, 1024},
        {"first-k-dense", p->first_k_dense, 0, p->n_layers},
        {"shared-experts", p->n_shared_experts, 0, 64},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(dims); i++)
        if (dims[i].v < dims[i].min || dims[i].v > dims[i].max)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s = %lld out of [%lld, %lld]",
                            dims[i].n, (long long)dims[i].v, (long long)dims[i].min,
                            (long long)dims[i].max);
    if (mc.qk_rope_head_dim % 2)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "qk-rope-head-dim = %lld must be even",
                        (long long)mc.qk_rope_head_dim);
    if (mc.v_head_dim > mc.qk_rope_head_dim + mc.qk_nope_head_dim)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "v-head-dim = %lld wider than qk-nope-head-dim + qk-rope-head-dim",
                        (long long)mc.v_head_dim);
    if (mc.q_lora_rank == 0 && (*arch)->no_q_lora) *arch = (*arch)->no_q_lora;
    return AWQ_OK;
}

void awq_synth_mla_config(cJSON *c, const awq_synth_params *p, int64_t hd, int64_t moe_inter) {
    awq_model_config mc;
    memset(&mc, 0, sizeof mc);
    awq_synth_mla_dims(p, hd, &mc);
    bool v3 = strcmp(p->arch, "deepseek-v3") == 0;
    cJSON_ReplaceItemInObject(c, "head_dim", cJSON_CreateNumber((double)mc.qk_rope_head_dim));
    cJSON_ReplaceItemInObject(c, "num_key_value_heads", cJSON_CreateNumber((double)p->n_heads));
    if (mc.q_lora_rank)
        cJSON_AddNumberToObject(c, "q_lora_rank", (double)mc.q_lora_rank);
    else
        cJSON_AddNullToObject(c, "q_lora_rank");
    cJSON_AddNumberToObject(c, "kv_lora_rank", (double)mc.kv_lora_rank);
    cJSON_AddNumberToObject(c, "qk_rope_head_dim", (double)mc.qk_rope_head_dim);
    cJSON_AddNumberToObject(c, "qk_nope_head_dim", (double)mc.qk_nope_head_dim);
    cJSON_AddNumberToObject(c, "v_head_dim", (double)mc.v_head_dim);
    cJSON_AddBoolToObject(c, "attention_bias", false);
    if (v3) cJSON_AddBoolToObject(c, "rope_interleave", true);
    cJSON_AddNumberToObject(c, "n_routed_experts", (double)p->n_experts);
    cJSON_AddNumberToObject(c, "num_experts_per_tok", (double)p->n_experts_per_tok);
    cJSON_AddNumberToObject(c, "moe_intermediate_size", (double)moe_inter);
    cJSON_AddNumberToObject(c, "n_shared_experts", (double)p->n_shared_experts);
    cJSON_AddNumberToObject(c, "first_k_dense_replace", (double)p->first_k_dense);
    cJSON_AddNumberToObject(c, "moe_layer_freq", 1);
    cJSON_AddStringToObject(c, "scoring_func", v3 ? "sigmoid" : "softmax");
    cJSON_AddStringToObject(c, "topk_method", v3 ? "noaux_tc" : "greedy");
    cJSON_AddNumberToObject(c, "n_group", 1);
    cJSON_AddNumberToObject(c, "topk_group", 1);
    cJSON_AddBoolToObject(c, "norm_topk_prob", v3);
    /* cJSON writes 1.0 and 0.0 as integers, which DeepseekV2Config's strict
     * float fields refuse: V2's 1.0 and attention_dropout (synth.c) are
     * left to the defaults */
    if (v3) cJSON_AddNumberToObject(c, "routed_scaling_factor", 2.5);
}
