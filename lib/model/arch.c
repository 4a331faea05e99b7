/* lib/model/arch.c — the architecture table.
 *
 * Every supported decoder is one entry: the linears of a layer with their
 * shapes as dimension symbols, and the four AWQ scaling groups. The search,
 * the forward pass, the counters and the packers all read this table, so a
 * Llama-like architecture is added here and nowhere else. */
#include "core/core.h"
#include "awqkit/model.h"

#include <string.h>

/* The Llama family shares linears and groups; entries differ in flags. */
#define LLAMA_LINEARS(qkv_bias)                                                \
    .linears = {                                                               \
        {"self_attn.q_proj", AWQ_DIM_HIDDEN, AWQ_DIM_Q, qkv_bias},             \
        {"self_attn.k_proj", AWQ_DIM_HIDDEN, AWQ_DIM_KV, qkv_bias},            \
        {"self_attn.v_proj", AWQ_DIM_HIDDEN, AWQ_DIM_KV, qkv_bias},            \
        {"self_attn.o_proj", AWQ_DIM_Q, AWQ_DIM_HIDDEN, false},                \
        {"mlp.gate_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false},               \
        {"mlp.up_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false},                 \
        {"mlp.down_proj", AWQ_DIM_INTER, AWQ_DIM_HIDDEN, false},               \
    },                                                                         \
    .n_linears = 7

/* AutoAWQ's groups for Llama-like layers (awq/models/llama.py
 * get_layers_for_scaling): norm -> qkv measured on the attention block;
 * v -> o only without GQA; norm -> gate/up on the MLP; up -> down. */
#define LLAMA_GROUPS                                                           \
    .groups = {                                                                \
        {"input_layernorm", -1, {AWQ_LIN_Q, AWQ_LIN_K, AWQ_LIN_V}, 3,          \
         AWQ_BLOCK_ATTN, AWQ_GROUP_ALWAYS},                                    \
        {NULL, AWQ_LIN_V, {AWQ_LIN_O, 0, 0}, 1, AWQ_BLOCK_LINEAR,              \
         AWQ_GROUP_IF_SAME_SHAPE},                                             \
        {"post_attention_layernorm", -1, {AWQ_LIN_GATE, AWQ_LIN_UP, 0}, 2,     \
         AWQ_BLOCK_MLP, AWQ_GROUP_ALWAYS},                                     \
        {NULL, AWQ_LIN_UP, {AWQ_LIN_DOWN, 0, 0}, 1, AWQ_BLOCK_LINEAR,          \
         AWQ_GROUP_ALWAYS},                                                    \
    },                                                                         \
    .n_groups = 4

static const awq_arch k_arches[] = {
    {.hf_name = "LlamaForCausalLM", .model_type = "llama", LLAMA_LINEARS(false),
     LLAMA_GROUPS},
    {.hf_name = "MistralForCausalLM", .model_type = "mistral", LLAMA_LINEARS(false),
     LLAMA_GROUPS},
    {.hf_name = "Qwen2ForCausalLM", .model_type = "qwen2", LLAMA_LINEARS(true),
     LLAMA_GROUPS},
    {.hf_name = "Qwen3ForCausalLM", .model_type = "qwen3", LLAMA_LINEARS(false),
     LLAMA_GROUPS, .qk_norm = true},
    {.hf_name = "Qwen2_5_VLForConditionalGeneration", .model_type = "qwen2_5_vl",
     LLAMA_LINEARS(true), LLAMA_GROUPS, .is_vl = true},
    {.hf_name = "Qwen2VLForConditionalGeneration", .model_type = "qwen2_vl",
     LLAMA_LINEARS(true), LLAMA_GROUPS, .is_vl = true},
};

const awq_arch *awq_arch_find(const char *hf_name) {
    if (!hf_name) return NULL;
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k_arches); i++)
        if (strcmp(k_arches[i].hf_name, hf_name) == 0) return &k_arches[i];
    return NULL;
}

const char *awq_arch_supported_list(void) {
    return "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
           "Qwen3ForCausalLM, Qwen2_5_VLForConditionalGeneration, "
           "Qwen2VLForConditionalGeneration";
}

int64_t awq_model_dim(const awq_model_config *cfg, awq_dim d) {
    switch (d) {
    case AWQ_DIM_HIDDEN: return cfg->hidden;
    case AWQ_DIM_Q: return cfg->n_heads * cfg->head_dim;
    case AWQ_DIM_KV: return cfg->n_kv_heads * cfg->head_dim;
    case AWQ_DIM_INTER: return cfg->intermediate;
    }
    return 0;
}

/* transformers' ACT2FN names of the activations the forward computes.
 * "gelu_new" is the same tanh formula as "gelu_pytorch_tanh" (NewGELU). */
static const struct {
    const char *name;
    awq_act act;
} k_acts[] = {
    {"silu", AWQ_ACT_SILU},           {"swish", AWQ_ACT_SILU},
    {"gelu_pytorch_tanh", AWQ_ACT_GELU_TANH}, {"gelu_new", AWQ_ACT_GELU_TANH},
    {"gelu", AWQ_ACT_GELU},
};

bool awq_act_from_name(const char *name, awq_act *out) {
    if (!name) return false;
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k_acts); i++)
        if (strcmp(k_acts[i].name, name) == 0) {
            *out = k_acts[i].act;
            return true;
        }
    return false;
}

const char *awq_act_name(awq_act a) {
    switch (a) {
    case AWQ_ACT_SILU: return "silu";
    case AWQ_ACT_GELU_TANH: return "gelu_pytorch_tanh";
    case AWQ_ACT_GELU: return "gelu";
    }
    return "?";
}
