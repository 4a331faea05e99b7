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
        {"self_attn.q_proj", AWQ_DIM_HIDDEN, AWQ_DIM_Q, qkv_bias,              \
         AWQ_LIN_KIND_Q},                                                      \
        {"self_attn.k_proj", AWQ_DIM_HIDDEN, AWQ_DIM_KV, qkv_bias,             \
         AWQ_LIN_KIND_K},                                                      \
        {"self_attn.v_proj", AWQ_DIM_HIDDEN, AWQ_DIM_KV, qkv_bias,             \
         AWQ_LIN_KIND_V},                                                      \
        {"self_attn.o_proj", AWQ_DIM_Q, AWQ_DIM_HIDDEN, false, AWQ_LIN_KIND_O},\
        {"mlp.gate_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false,                \
         AWQ_LIN_KIND_GATE},                                                   \
        {"mlp.up_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false, AWQ_LIN_KIND_UP},\
        {"mlp.down_proj", AWQ_DIM_INTER, AWQ_DIM_HIDDEN, false,                \
         AWQ_LIN_KIND_DOWN},                                                   \
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

/* Gemma 2/3 (awq/models/gemma2.py): the Llama groups, but the MLP's input
 * norm is pre_feedforward_layernorm (post_attention_layernorm normalizes the
 * attention output and has no linear after it to fold into). */
#define GEMMA_GROUPS                                                           \
    .groups = {                                                                \
        {"input_layernorm", -1, {AWQ_LIN_Q, AWQ_LIN_K, AWQ_LIN_V}, 3,          \
         AWQ_BLOCK_ATTN, AWQ_GROUP_ALWAYS},                                    \
        {NULL, AWQ_LIN_V, {AWQ_LIN_O, 0, 0}, 1, AWQ_BLOCK_LINEAR,              \
         AWQ_GROUP_IF_SAME_SHAPE},                                             \
        {"pre_feedforward_layernorm", -1, {AWQ_LIN_GATE, AWQ_LIN_UP, 0}, 2,    \
         AWQ_BLOCK_MLP, AWQ_GROUP_ALWAYS},                                     \
        {NULL, AWQ_LIN_UP, {AWQ_LIN_DOWN, 0, 0}, 1, AWQ_BLOCK_LINEAR,          \
         AWQ_GROUP_ALWAYS},                                                    \
    },                                                                         \
    .n_groups = 4

#define GEMMA_COMMON                                                           \
    LLAMA_LINEARS(false), GEMMA_GROUPS, .norm_offset = 1.0f,                   \
        .sandwich_norms = true, .embed_scale = true, .gemma_attn = true,       \
        .act_field = "hidden_activation", .act_default = "gelu_pytorch_tanh",  \
        .tie_default = true

/* Phi-3 / Phi-4: fused qkv_proj and gate_up_proj, each scaled and stored as
 * one linear (awq/models/phi3.py). The fused linear's last rows are v (of
 * qkv) and up (of gate_up), so qkv -> o and gate_up -> down fold into
 * those rows; qkv -> o only without GQA (Phi-4 has 40 query, 10 kv heads:
 * o's input is then not v's output). */
enum { PHI3_QKV = 0, PHI3_O, PHI3_GATE_UP, PHI3_DOWN };
#define PHI3_LINEARS                                                           \
    .linears = {                                                               \
        {"self_attn.qkv_proj", AWQ_DIM_HIDDEN, AWQ_DIM_QKV, false,             \
         AWQ_LIN_KIND_QKV},                                                    \
        {"self_attn.o_proj", AWQ_DIM_Q, AWQ_DIM_HIDDEN, false, AWQ_LIN_KIND_O},\
        {"mlp.gate_up_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER2, false,            \
         AWQ_LIN_KIND_GATE_UP},                                                \
        {"mlp.down_proj", AWQ_DIM_INTER, AWQ_DIM_HIDDEN, false,                \
         AWQ_LIN_KIND_DOWN},                                                   \
    },                                                                         \
    .n_linears = 4,                                                            \
    .groups = {                                                                \
        {"input_layernorm", -1, {PHI3_QKV, 0, 0}, 1, AWQ_BLOCK_ATTN,           \
         AWQ_GROUP_ALWAYS},                                                    \
        {NULL, PHI3_QKV, {PHI3_O, 0, 0}, 1, AWQ_BLOCK_LINEAR,                  \
         AWQ_GROUP_IF_NO_GQA},                                                 \
        {"post_attention_layernorm", -1, {PHI3_GATE_UP, 0, 0}, 1,              \
         AWQ_BLOCK_MLP, AWQ_GROUP_ALWAYS},                                     \
        {NULL, PHI3_GATE_UP, {PHI3_DOWN, 0, 0}, 1, AWQ_BLOCK_LINEAR,           \
         AWQ_GROUP_ALWAYS},                                                    \
    },                                                                         \
    .n_groups = 4

/* Mixtral: block_sparse_moe with w1 (gate), w3 (up), w2 (down) experts,
 * softmax -> top-k -> renormalized. */
static const awq_moe_desc k_mixtral_moe = {
    .router = "block_sparse_moe.gate",
    .experts = "block_sparse_moe.experts",
    .expert_linears = {"w1", "w3", "w2"},
    .always_renorm = true,
    .n_experts_field = "num_local_experts",
    .inter_field = "intermediate_size",
    .def_n_experts = 8,
    .def_top_k = 2,
};
/* Qwen2-MoE: mlp.experts plus a shared expert scaled by sigmoid(gate). */
static const awq_moe_desc k_qwen2_moe = {
    .router = "mlp.gate",
    .experts = "mlp.experts",
    .expert_linears = {"gate_proj", "up_proj", "down_proj"},
    .shared_expert = "mlp.shared_expert",
    .shared_gate = "mlp.shared_expert_gate",
    .n_experts_field = "num_experts",
    .inter_field = "moe_intermediate_size",
    .sparse_step = true,
    .def_n_experts = 60,
    .def_top_k = 4,
    .def_inter = 1408,
    .def_shared = 5632,
};
/* Qwen3-MoE: as Qwen2-MoE without the shared expert. */
static const awq_moe_desc k_qwen3_moe = {
    .router = "mlp.gate",
    .experts = "mlp.experts",
    .expert_linears = {"gate_proj", "up_proj", "down_proj"},
    .n_experts_field = "num_experts",
    .inter_field = "moe_intermediate_size",
    .sparse_step = true,
    .def_n_experts = 128,
    .def_top_k = 8,
    .def_inter = 768,
};

/* DeepSeek-V2 / V3: multi-head latent attention, then dense MLPs for
 * the first first_k_dense_replace layers and experts after. Groups as
 * AutoAWQ's deepseek_v3.py / llm-compressor's DeepSeek mapping: the input
 * norm scales everything reading the normed input (q_a or q, and
 * kv_a_proj_with_mqa), measured on the attention block; each low-rank
 * norm scales the linear after it. There is no v -> o group: v is a row
 * slice of every head of kv_b_proj, not the last rows (and kv_b is also
 * k_nope), so no fold of the table's kind exists; AutoAWQ has none either. */
#define DS_SKIPPED                                                             \
    "v -> o_proj (v is a per-head row slice of kv_b_proj, which also yields "  \
    "k_nope: no fold into a previous op exists)"
enum { DSQ_QA = 0, DSQ_QB, DSQ_KVA, DSQ_KVB, DSQ_O, DSQ_GATE, DSQ_UP, DSQ_DOWN };
#define DS_MLP_LINEARS                                                         \
    {"mlp.gate_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false, AWQ_LIN_KIND_GATE},\
        {"mlp.up_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false, AWQ_LIN_KIND_UP},\
        {"mlp.down_proj", AWQ_DIM_INTER, AWQ_DIM_HIDDEN, false,                \
         AWQ_LIN_KIND_DOWN}
#define DS_KV_LINEARS                                                          \
    {"self_attn.kv_a_proj_with_mqa", AWQ_DIM_HIDDEN, AWQ_DIM_MLA_KV_A, false,  \
     AWQ_LIN_KIND_KV_A},                                                       \
        {"self_attn.kv_b_proj", AWQ_DIM_KV_LORA, AWQ_DIM_MLA_KV_B, false,      \
         AWQ_LIN_KIND_KV_B},                                                   \
        {"self_attn.o_proj", AWQ_DIM_MLA_O, AWQ_DIM_HIDDEN, false, AWQ_LIN_KIND_O}
#define DS_QLORA                                                               \
    .linears = {                                                               \
        {"self_attn.q_a_proj", AWQ_DIM_HIDDEN, AWQ_DIM_Q_LORA, false,          \
         AWQ_LIN_KIND_Q_A},                                                    \
        {"self_attn.q_b_proj", AWQ_DIM_Q_LORA, AWQ_DIM_MLA_Q, false,           \
         AWQ_LIN_KIND_Q_B},                                                    \
        DS_KV_LINEARS,                                                         \
        DS_MLP_LINEARS,                                                        \
    },                                                                         \
    .n_linears = 8,                                                            \
    .groups = {                                                                \
        {"input_layernorm", -1, {DSQ_QA, DSQ_KVA, 0}, 2, AWQ_BLOCK_ATTN,       \
         AWQ_GROUP_ALWAYS},                                                    \
        {"self_attn.q_a_layernorm", -1, {DSQ_QB, 0, 0}, 1, AWQ_BLOCK_LINEAR,   \
         AWQ_GROUP_ALWAYS},                                                    \
        {"self_attn.kv_a_layernorm", -1, {DSQ_KVB, 0, 0}, 1, AWQ_BLOCK_LINEAR, \
         AWQ_GROUP_ALWAYS},                                                    \
        {"post_attention_layernorm", -1, {DSQ_GATE, DSQ_UP, 0}, 2,             \
         AWQ_BLOCK_MLP, AWQ_GROUP_ALWAYS},                                     \
        {NULL, DSQ_UP, {DSQ_DOWN, 0, 0}, 1, AWQ_BLOCK_LINEAR, AWQ_GROUP_ALWAYS},\
    },                                                                         \
    .n_groups = 5, .mla = true, .skipped_groups = DS_SKIPPED
/* without q_lora_rank: one plain q_proj */
enum { DSP_Q = 0, DSP_KVA, DSP_KVB, DSP_O, DSP_GATE, DSP_UP, DSP_DOWN };
#define DS_PLAIN_Q                                                             \
    .linears = {                                                               \
        {"self_attn.q_proj", AWQ_DIM_HIDDEN, AWQ_DIM_MLA_Q, false,             \
         AWQ_LIN_KIND_Q},                                                      \
        DS_KV_LINEARS,                                                         \
        DS_MLP_LINEARS,                                                        \
    },                                                                         \
    .n_linears = 7,                                                            \
    .groups = {                                                                \
        {"input_layernorm", -1, {DSP_Q, DSP_KVA, 0}, 2, AWQ_BLOCK_ATTN,        \
         AWQ_GROUP_ALWAYS},                                                    \
        {"self_attn.kv_a_layernorm", -1, {DSP_KVB, 0, 0}, 1, AWQ_BLOCK_LINEAR, \
         AWQ_GROUP_ALWAYS},                                                    \
        {"post_attention_layernorm", -1, {DSP_GATE, DSP_UP, 0}, 2,             \
         AWQ_BLOCK_MLP, AWQ_GROUP_ALWAYS},                                     \
        {NULL, DSP_UP, {DSP_DOWN, 0, 0}, 1, AWQ_BLOCK_LINEAR, AWQ_GROUP_ALWAYS},\
    },                                                                         \
    .n_groups = 4, .mla = true, .skipped_groups = DS_SKIPPED

/* DeepSeek-V3: sigmoid scores + e_score_correction_bias, groups ranked by
 * their two best, top-k renormalized, times routed_scaling_factor; the
 * shared experts are one MLP of n_shared_experts * moe_intermediate_size
 * without a gate. */
static const awq_route_name k_ds3_routes[] = {{"sigmoid", "noaux_tc", AWQ_ROUTE_SIGMOID_GROUP}};
static const awq_moe_desc k_deepseek_v3_moe = {
    .router = "mlp.gate",
    .experts = "mlp.experts",
    .expert_linears = {"gate_proj", "up_proj", "down_proj"},
    .shared_expert = "mlp.shared_experts",
    .n_experts_field = "n_routed_experts",
    .inter_field = "moe_intermediate_size",
    .def_n_experts = 256,
    .def_top_k = 8,
    .def_inter = 2048,
    .def_shared = 1,
    .shared_field = "n_shared_experts",
    .router_bias = true,
    .first_k_dense = true,
    .def_first_k_dense = 3,
    .routes = k_ds3_routes,
    .n_routes = 1,
    .def_routed_scale = 2.5,
    .def_n_group = 8,
    .def_topk_group = 4,
    .def_norm_topk = true,
};
/* DeepSeek-V2: softmax, "greedy" or "group_limited_greedy" (groups ranked
 * by their best), never renormalized, times routed_scaling_factor. */
static const awq_route_name k_ds2_routes[] = {
    {"softmax", "greedy", AWQ_ROUTE_SOFTMAX},
    {"softmax", "group_limited_greedy", AWQ_ROUTE_SOFTMAX_GROUP}};
static const awq_moe_desc k_deepseek_v2_moe = {
    .router = "mlp.gate",
    .experts = "mlp.experts",
    .expert_linears = {"gate_proj", "up_proj", "down_proj"},
    .shared_expert = "mlp.shared_experts",
    .n_experts_field = "n_routed_experts",
    .inter_field = "moe_intermediate_size",
    .def_n_experts = 64,
    .def_top_k = 0, /* DeepseekV2Config: None; required */
    .def_inter = 1407,
    .def_shared = 2,
    .shared_field = "n_shared_experts",
    .first_k_dense = true,
    .def_first_k_dense = 0,
    .routes = k_ds2_routes,
    .n_routes = 2,
    .def_routed_scale = 1.0,
    .no_renorm = true,
};
static const awq_arch k_deepseek_v3_plain = {
    .hf_name = "DeepseekV3ForCausalLM", .model_type = "deepseek_v3", DS_PLAIN_Q,
    .moe = &k_deepseek_v3_moe, .def_rope_interleave = true};
static const awq_arch k_deepseek_v2_plain = {
    .hf_name = "DeepseekV2ForCausalLM", .model_type = "deepseek_v2", DS_PLAIN_Q,
    .moe = &k_deepseek_v2_moe, .def_rope_interleave = true, .rope_interleave_fixed = true};

static const awq_arch k_arches[] = {
    {.hf_name = "LlamaForCausalLM", .model_type = "llama", LLAMA_LINEARS(false),
     LLAMA_GROUPS},
    {.hf_name = "MistralForCausalLM", .model_type = "mistral", LLAMA_LINEARS(false),
     LLAMA_GROUPS},
    {.hf_name = "Qwen2ForCausalLM", .model_type = "qwen2", LLAMA_LINEARS(true),
     LLAMA_GROUPS, .window_opt_in = true},
    {.hf_name = "Qwen3ForCausalLM", .model_type = "qwen3", LLAMA_LINEARS(false),
     LLAMA_GROUPS, .qk_norm = true, .window_opt_in = true},
    {.hf_name = "Qwen2_5_VLForConditionalGeneration", .model_type = "qwen2_5_vl",
     LLAMA_LINEARS(true), LLAMA_GROUPS, .is_vl = true, .window_opt_in = true},
    {.hf_name = "Qwen2VLForConditionalGeneration", .model_type = "qwen2_vl",
     LLAMA_LINEARS(true), LLAMA_GROUPS, .is_vl = true, .window_opt_in = true},
    {.hf_name = "Phi3ForCausalLM", .model_type = "phi3", PHI3_LINEARS},
    {.hf_name = "Gemma2ForCausalLM", .model_type = "gemma2", GEMMA_COMMON,
     .def_attn_softcap = 50.0, .def_final_softcap = 30.0, .def_sliding_pattern = 2},
    {.hf_name = "Gemma3ForCausalLM", .model_type = "gemma3_text", GEMMA_COMMON,
     .qk_norm = true, .local_rope = true, .def_sliding_pattern = 6},
    {.hf_name = "Gemma3ForConditionalGeneration", .model_type = "gemma3", GEMMA_COMMON,
     .qk_norm = true, .local_rope = true, .def_sliding_pattern = 6, .is_vl = true},
    {.hf_name = "MixtralForCausalLM", .model_type = "mixtral", LLAMA_LINEARS(false),
     LLAMA_GROUPS, .moe = &k_mixtral_moe},
    {.hf_name = "Qwen2MoeForCausalLM", .model_type = "qwen2_moe", LLAMA_LINEARS(true),
     LLAMA_GROUPS, .moe = &k_qwen2_moe, .window_opt_in = true},
    {.hf_name = "Qwen3MoeForCausalLM", .model_type = "qwen3_moe", LLAMA_LINEARS(false),
     LLAMA_GROUPS, .qk_norm = true, .moe = &k_qwen3_moe, .window_opt_in = true},
    {.hf_name = "DeepseekV3ForCausalLM", .model_type = "deepseek_v3", DS_QLORA,
     .moe = &k_deepseek_v3_moe, .no_q_lora = &k_deepseek_v3_plain,
     .def_rope_interleave = true},
    {.hf_name = "DeepseekV2ForCausalLM", .model_type = "deepseek_v2", DS_QLORA,
     .moe = &k_deepseek_v2_moe, .no_q_lora = &k_deepseek_v2_plain,
     .def_rope_interleave = true, .rope_interleave_fixed = true},
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
           "Qwen2VLForConditionalGeneration, Phi3ForCausalLM, Gemma2ForCausalLM, "
           "Gemma3ForCausalLM, Gemma3ForConditionalGeneration, MixtralForCausalLM, "
           "Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, DeepseekV3ForCausalLM, "
           "DeepseekV2ForCausalLM";
}

int64_t awq_model_dim(const awq_model_config *cfg, awq_dim d) {
    switch (d) {
    case AWQ_DIM_HIDDEN: return cfg->hidden;
    case AWQ_DIM_Q: return cfg->n_heads * cfg->head_dim;
    case AWQ_DIM_KV: return cfg->n_kv_heads * cfg->head_dim;
    case AWQ_DIM_INTER: return cfg->intermediate;
    case AWQ_DIM_QKV: return (cfg->n_heads + 2 * cfg->n_kv_heads) * cfg->head_dim;
    case AWQ_DIM_INTER2: return 2 * cfg->intermediate;
    case AWQ_DIM_Q_LORA: return cfg->q_lora_rank;
    case AWQ_DIM_KV_LORA: return cfg->kv_lora_rank;
    case AWQ_DIM_MLA_Q: return cfg->n_heads * (cfg->qk_nope_head_dim + cfg->qk_rope_head_dim);
    case AWQ_DIM_MLA_KV_A: return cfg->kv_lora_rank + cfg->qk_rope_head_dim;
    case AWQ_DIM_MLA_KV_B: return cfg->n_heads * (cfg->qk_nope_head_dim + cfg->v_head_dim);
    case AWQ_DIM_MLA_O: return cfg->n_heads * cfg->v_head_dim;
    }
    return 0;
}

bool awq_model_layer_sliding(const awq_model_config *cfg, int64_t layer) {
    if (cfg->sliding_window <= 0 || layer < 0 || layer >= 4096) return false;
    return (cfg->sliding_layers[layer / 64] >> (layer % 64)) & 1u;
}

bool awq_model_layer_moe(const awq_model_config *cfg, int64_t layer) {
    if (!cfg->arch || !cfg->arch->moe || layer < 0 || layer >= 4096) return false;
    return (cfg->moe_layers[layer / 64] >> (layer % 64)) & 1u;
}

int awq_arch_linear_of(const awq_arch *a, awq_lin_kind kind) {
    for (int i = 0; a && i < a->n_linears; i++)
        if (a->linears[i].kind == kind) return i;
    return -1;
}

bool awq_arch_linear_is_attn(const awq_arch *a, int lin) {
    if (!a || lin < 0 || lin >= a->n_linears) return false;
    awq_lin_kind k = a->linears[lin].kind;
    return k == AWQ_LIN_KIND_Q || k == AWQ_LIN_KIND_K || k == AWQ_LIN_KIND_V ||
           k == AWQ_LIN_KIND_QKV || k == AWQ_LIN_KIND_O || k == AWQ_LIN_KIND_Q_A ||
           k == AWQ_LIN_KIND_Q_B || k == AWQ_LIN_KIND_KV_A || k == AWQ_LIN_KIND_KV_B;
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

int awq_arch_folded_norms(const awq_arch *a, const char **names, int max) {
    int n = 0;
    for (int g = 0; a && g < a->n_groups; g++) {
        const char *p = a->groups[g].prev_norm;
        bool seen = false;
        for (int i = 0; p && i < n; i++) seen |= strcmp(names[i], p) == 0;
        if (p && !seen && n < max) names[n++] = p;
    }
    return n;
}
