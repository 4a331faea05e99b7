/*
 * awqkit/model.h — model hyper-parameters and the architecture table.
 *
 * An architecture is one table entry (lib/model/arch.c): the names of the
 * decoder linears and their shapes in terms of the config, the four AWQ
 * scaling groups, norms, biases. Adding a Llama-like model = adding an entry.
 */
#ifndef AWQKIT_MODEL_H
#define AWQKIT_MODEL_H

#include "awqkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;
struct awq_checkpoint;

typedef enum awq_rope_type {
    AWQ_ROPE_DEFAULT = 0,
    AWQ_ROPE_LINEAR = 1,
    AWQ_ROPE_LLAMA3 = 2,
    AWQ_ROPE_YARN = 3
} awq_rope_type;

/* Activation of the gated MLP: out = act(gate) * up. Values pinned. */
typedef enum awq_act {
    AWQ_ACT_SILU = 0,          /* "silu", "swish": x * sigmoid(x) */
    AWQ_ACT_GELU_TANH = 1,     /* "gelu_pytorch_tanh", "gelu_new": the tanh
                                  approximation 0.5x(1 + tanh(sqrt(2/pi)
                                  (x + 0.044715 x^3))) */
    AWQ_ACT_GELU = 2           /* "gelu": exact, 0.5x(1 + erf(x / sqrt 2)) */
} awq_act;

/* The activation named `name` as transformers' ACT2FN spells it; false for
 * a name awqkit does not compute. */
bool awq_act_from_name(const char *name, awq_act *out);
/* "silu", "gelu_pytorch_tanh", "gelu" (static). */
const char *awq_act_name(awq_act a);

/* Dimension symbols used by the architecture table for linear shapes. */
typedef enum awq_dim {
    AWQ_DIM_HIDDEN = 0,        /* hidden_size */
    AWQ_DIM_Q = 1,             /* n_heads * head_dim */
    AWQ_DIM_KV = 2,            /* n_kv_heads * head_dim */
    AWQ_DIM_INTER = 3,         /* intermediate_size */
    AWQ_DIM_QKV = 4,           /* Q + 2 KV: a fused qkv_proj (Phi-3) */
    AWQ_DIM_INTER2 = 5,        /* 2 intermediate: a fused gate_up_proj */
    /* multi-head latent attention (DeepSeek-V2/V3, awq_arch.mla): */
    AWQ_DIM_Q_LORA = 6,        /* q_lora_rank */
    AWQ_DIM_KV_LORA = 7,       /* kv_lora_rank */
    AWQ_DIM_MLA_Q = 8,         /* n_heads * (qk_nope + qk_rope head dims) */
    AWQ_DIM_MLA_KV_A = 9,      /* kv_lora_rank + qk_rope_head_dim */
    AWQ_DIM_MLA_KV_B = 10,     /* n_heads * (qk_nope_head_dim + v_head_dim) */
    AWQ_DIM_MLA_O = 11         /* n_heads * v_head_dim */
} awq_dim;

/* What a linear computes; the forward finds its linears by kind. A fused
 * linear is one weight [sum of the parts' outputs, in] that is scaled,
 * quantized and stored as one; the forward reads its parts as row slices
 * (q, k, v / gate, up, in that order). */
typedef enum awq_lin_kind {
    AWQ_LIN_KIND_Q = 0,
    AWQ_LIN_KIND_K = 1,
    AWQ_LIN_KIND_V = 2,
    AWQ_LIN_KIND_O = 3,
    AWQ_LIN_KIND_GATE = 4,
    AWQ_LIN_KIND_UP = 5,
    AWQ_LIN_KIND_DOWN = 6,
    AWQ_LIN_KIND_QKV = 7,      /* fused q, k, v */
    AWQ_LIN_KIND_GATE_UP = 8,  /* fused gate, up */
    /* MLA (DeepSeek): the query through a low-rank pair q_a -> q_a_layernorm
     * -> q_b (or one plain q_proj, KIND_Q, without q_lora_rank); the
     * compressed kv latent plus the shared rope key from kv_a_proj_with_mqa,
     * kv_a_layernorm on the latent, kv_b expanding it into per-head k_nope
     * and v. */
    AWQ_LIN_KIND_Q_A = 9,
    AWQ_LIN_KIND_Q_B = 10,
    AWQ_LIN_KIND_KV_A = 11,
    AWQ_LIN_KIND_KV_B = 12,
    AWQ_LIN_KIND_COUNT = 13
} awq_lin_kind;

#define AWQ_MAX_LINEARS 8
#define AWQ_MAX_GROUP_LINEARS 3
#define AWQ_MAX_GROUPS 6

/* One linear of a decoder layer, e.g. "self_attn.q_proj". */
typedef struct awq_linear_desc {
    const char *name;          /* relative to the layer prefix */
    awq_dim in_dim, out_dim;   /* K = in_features, N = out_features */
    bool bias;                 /* has a bias in this architecture */
    awq_lin_kind kind;
} awq_linear_desc;

typedef enum awq_group_cond {
    AWQ_GROUP_ALWAYS = 0,
    /* only when prev and linear weights have the same shape (v->o, no GQA) */
    AWQ_GROUP_IF_SAME_SHAPE = 1,
    /* only without grouped-query attention (n_heads == n_kv_heads): the v
     * rows of a fused qkv_proj -> o_proj */
    AWQ_GROUP_IF_NO_GQA = 2
} awq_group_cond;

typedef enum awq_block {
    AWQ_BLOCK_ATTN = 0,        /* loss on the attention block's output */
    AWQ_BLOCK_MLP = 1,         /* loss on the MLP block's output */
    AWQ_BLOCK_LINEAR = 2       /* loss on the group's single linear */
} awq_block;

/* An AWQ scaling group: the scales s are folded into `prev` (a norm: its
 * weight divided by s; a linear: its LAST len(s) output rows and bias
 * divided by s -- all rows of a plain linear, the v rows of a fused
 * qkv_proj, the up rows of a fused gate_up_proj) and multiplied into the
 * input columns of `linears`. Indices into linears[]. A norm with an offset
 * (Gemma's (1 + w)) folds as (offset + w) / s - offset. */
typedef struct awq_scale_group {
    const char *prev_norm;     /* "input_layernorm", or NULL when prev is a
                                  linear */
    int prev_linear;           /* index when prev is a linear, else -1 */
    int linears[AWQ_MAX_GROUP_LINEARS];
    int n_linears;
    awq_block block;
    awq_group_cond cond;
} awq_scale_group;

/* How a router turns its logits into the top-k experts and their weights
 * (lib/model/moe.c has one function per kind). Values pinned. */
typedef enum awq_route {
    /* softmax over all experts, top-k, renormalized when norm_topk_prob
     * (Mixtral, Qwen-MoE; DeepSeek-V2 "greedy": never renormalized) */
    AWQ_ROUTE_SOFTMAX = 0,
    /* DeepSeek-V2 "group_limited_greedy": softmax, the topk_group groups
     * (of n_group) with the largest member kept, top-k among them */
    AWQ_ROUTE_SOFTMAX_GROUP = 1,
    /* DeepSeek-V3 "noaux_tc": sigmoid scores; the choice uses score +
     * e_score_correction_bias, groups ranked by the sum of their two
     * largest; weights are the plain scores, renormalized when
     * norm_topk_prob */
    AWQ_ROUTE_SIGMOID_GROUP = 2
} awq_route;

/* One accepted (scoring_func, topk_method) pair of an architecture. */
typedef struct awq_route_name {
    const char *scoring;       /* config "scoring_func" */
    const char *topk_method;   /* config "topk_method" */
    awq_route route;
} awq_route_name;

/* A mixture-of-experts MLP: a router (a linear hidden -> n_experts, kept
 * in the source dtype), experts that are each a gated MLP of
 * moe_intermediate, an optional shared expert. Tensor names are relative to
 * the layer prefix; expert e's linears are "<experts>.<e>.<name>". */
typedef struct awq_moe_desc {
    const char *router;        /* "block_sparse_moe.gate" / "mlp.gate" */
    const char *experts;       /* "block_sparse_moe.experts" / "mlp.experts" */
    const char *expert_linears[3]; /* gate, up, down: "w1", "w3", "w2" /
                                      "gate_proj", "up_proj", "down_proj" */
    const char *shared_expert; /* "mlp.shared_expert" (Qwen2-MoE) or NULL */
    const char *shared_gate;   /* its sigmoid gate [1, hidden] or NULL */
    bool always_renorm;        /* Mixtral: top-k weights renormalized; else
                                  the config's norm_topk_prob */
    const char *n_experts_field;   /* "num_local_experts" / "num_experts" */
    const char *inter_field;       /* expert width: "intermediate_size" /
                                      "moe_intermediate_size" */
    bool sparse_step;          /* Qwen: decoder_sparse_step / mlp_only_layers
                                  pick the MoE layers, the others are dense
                                  MLPs of intermediate_size */
    /* the config class's defaults for absent fields: expert count, top-k,
     * expert and shared-expert widths */
    int64_t def_n_experts, def_top_k, def_inter, def_shared;
    /* DeepSeek: the shared expert has no gate and is n_shared_experts
     * experts wide (moe_intermediate * n_shared_experts) when shared_field
     * names that count; else shared_expert_intermediate_size. */
    const char *shared_field;  /* "n_shared_experts" or NULL */
    /* the router's extra tensor: "<router>.e_score_correction_bias" [E]
     * added to the scores for the choice only (DeepSeek-V3) */
    bool router_bias;
    /* layers [0, first_k_dense_replace) are dense MLPs of intermediate_size,
     * then every moe_layer_freq-th layer is the experts (DeepSeek) */
    bool first_k_dense;
    int64_t def_first_k_dense;
    /* routing: the accepted (scoring_func, topk_method) pairs, the first is
     * the default when the config names neither (NULL: AWQ_ROUTE_SOFTMAX);
     * routed weights are multiplied by routed_scaling_factor (default
     * def_routed_scale, 0 = 1) and n_group / topk_group default to def_n_group
     * / def_topk_group (0 = none) */
    const awq_route_name *routes;
    int n_routes;
    double def_routed_scale;
    int64_t def_n_group, def_topk_group;
    /* norm_topk_prob when absent (DeepSeek-V3: true); no_renorm: the
     * config's norm_topk_prob is ignored, never renormalized (transformers'
     * DeepseekV2 router) */
    bool def_norm_topk, no_renorm;
} awq_moe_desc;

typedef struct awq_arch {
    const char *hf_name;       /* "LlamaForCausalLM" */
    const char *model_type;    /* "llama" */
    awq_linear_desc linears[AWQ_MAX_LINEARS]; /* q,k,v,o,gate,up,down order */
    int n_linears;
    awq_scale_group groups[AWQ_MAX_GROUPS];
    int n_groups;
    bool qk_norm;              /* Qwen3, Gemma 3: self_attn.q_norm / k_norm */
    bool is_vl;                /* text decoder of a vision-language model */
    /* RMSNorm computes x_normed * (norm_offset + w): 0 for Llama, 1 for
     * Gemma (every norm of the model, q/k norms and the final one too). */
    float norm_offset;
    /* Gemma 2/3: post_attention_layernorm normalizes the attention OUTPUT
     * before the residual add; pre_feedforward_layernorm is the MLP's input
     * norm, post_feedforward_layernorm normalizes its output. */
    bool sandwich_norms;
    /* Gemma: the embeddings are multiplied by sqrt(hidden_size) */
    bool embed_scale;
    /* Gemma: attention scale query_pre_attn_scalar^-1/2, attention and
     * final logit soft-capping, and per-layer sliding-window / global
     * attention (layer_types, else sliding_window_pattern) are read from the
     * config; these are the defaults when the fields are absent (as the
     * transformers config classes default them; 0 = none). */
    bool gemma_attn;
    double def_attn_softcap, def_final_softcap;
    int def_sliding_pattern;
    /* Gemma 3: sliding layers use a plain rope with rope_local_base_freq */
    bool local_rope;
    /* Qwen family: sliding_window applies only with use_sliding_window, from
     * layer max_window_layers on (else: to every layer when given) */
    bool window_opt_in;
    /* tie_word_embeddings when config.json does not say (Gemma: true) */
    bool tie_default;
    /* mixture-of-experts MLP (NULL: dense); the MLP linears of `linears`
     * are then those of the dense layers, if any */
    const awq_moe_desc *moe;
    /* config field naming the MLP activation (NULL = "hidden_act") and its
     * default when absent (NULL = "silu") */
    const char *act_field;
    const char *act_default;
    /* multi-head latent attention (DeepSeek-V2/V3, lib/model/mla.c): the
     * attention linears are q_a/q_b (or q), kv_a, kv_b, o with the norms
     * self_attn.q_a_layernorm / kv_a_layernorm; rope on the
     * qk_rope_head_dim part of each head only */
    bool mla;
    /* the entry used instead when the config's q_lora_rank is null (a plain
     * self_attn.q_proj): same hf_name, other linears and groups */
    const struct awq_arch *no_q_lora;
    /* rope_interleave when the config does not say (DeepSeek-V3: true; V2
     * always rotates interleaved pairs, rope_interleave_fixed) */
    bool def_rope_interleave;
    bool rope_interleave_fixed;
    /* scaling groups the references have that this entry cannot fold, and
     * why (printed with the quantize plan); NULL: none */
    const char *skipped_groups;
} awq_arch;

/* Indices into awq_arch.linears for the Llama family (all entries use this
 * order). */
enum { AWQ_LIN_Q = 0, AWQ_LIN_K, AWQ_LIN_V, AWQ_LIN_O, AWQ_LIN_GATE,
       AWQ_LIN_UP, AWQ_LIN_DOWN };

/* Index of the linear of `kind` in a->linears, -1 when the architecture
 * has none (a Phi-3 layer has QKV, not Q/K/V). */
int awq_arch_linear_of(const awq_arch *a, awq_lin_kind kind);
/* The distinct norms the scaling groups fold into (the group order;
 * static strings), at most max; returns how many. */
int awq_arch_folded_norms(const awq_arch *a, const char **names, int max);
/* Whether linear `lin` belongs to the attention block (q/k/v/qkv/o). */
bool awq_arch_linear_is_attn(const awq_arch *a, int lin);

/* Look up by the `architectures[0]` string; NULL when unsupported. */
const awq_arch *awq_arch_find(const char *hf_name);
/* Comma-separated list of supported architectures (static), for errors. */
const char *awq_arch_supported_list(void);

typedef struct awq_quant_config {
    bool present;
    char quant_method[32];     /* "awq", "gptq", "compressed-tensors", ... */
    int bits;
    int group_size;            /* -1 = per channel */
    bool zero_point;           /* awq */
    bool sym;                  /* gptq */
    bool desc_act;             /* gptq act-order */
    char version[16];          /* awq: "gemm" / "gemv" */
    char checkpoint_format[16];/* gptq: "gptq" / "gptq_v2" */
} awq_quant_config;

typedef struct awq_rope_scaling {
    awq_rope_type type;
    double factor;             /* linear / llama3 / yarn */
    double low_freq_factor;    /* llama3 */
    double high_freq_factor;   /* llama3 */
    double original_max_pos;   /* llama3 / yarn */
    double beta_fast, beta_slow; /* yarn */
    double attention_factor;   /* yarn (0 = derived from factor) */
    /* yarn, when attention_factor is 0 and both are non-zero (DeepSeek):
     * attention factor = m(factor, mscale) / m(factor, mscale_all_dim),
     * m(f, s) = 0.1 s ln f + 1 (1 for f <= 1); else m(factor, 1). */
    double mscale, mscale_all_dim;
    bool no_truncate;          /* yarn "truncate": false (0 = the default,
                                  floor/ceil the correction range) */
} awq_rope_scaling;

/* Hyper-parameters of the text decoder. For VL models read from
 * `text_config` when the fields are not at top level. */
typedef struct awq_model_config {
    char architecture[96];     /* architectures[0] as written */
    char model_type[48];
    const awq_arch *arch;      /* NULL if unsupported (count/size still work
                                  on what the config states) */
    int64_t hidden;
    int64_t intermediate;
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads;
    int64_t head_dim;          /* config head_dim, else hidden / n_heads */
    int64_t vocab;
    int64_t max_pos;           /* max_position_embeddings (0 if absent) */
    double rms_eps;
    double rope_theta;
    awq_rope_scaling rope;
    bool tie_word_embeddings;
    bool attention_bias;       /* q/k/v bias (Qwen2 default true) */
    bool mlp_bias;
    bool is_moe;               /* num_experts / num_local_experts present */
    /* MLP activation: the architecture's activation field (hidden_act, or
     * hidden_activation for Gemma), else its default. An unknown name is
     * an error for a supported architecture; for others act_name keeps it
     * and act is SILU (count/size do not compute). */
    awq_act act;
    char act_name[32];
    /* Gemma attention (awq_arch.gemma_attn), else 0 / none: */
    double query_pre_attn_scalar; /* attention scale = its^-1/2 (0: head_dim) */
    double attn_softcap;       /* attn_logit_softcapping, 0 = none */
    double final_softcap;      /* final_logit_softcapping, 0 = none */
    /* every supported family (Mistral / Phi-3: all layers; Qwen: opt-in;
     * Gemma: alternate layers): */
    int64_t sliding_window;    /* window of the sliding layers, 0 = none */
    uint64_t sliding_layers[64]; /* bit i: layer i is a sliding layer */
    double rope_local_theta;   /* Gemma 3 sliding layers (0: as global) */
    /* mixture of experts (arch->moe): */
    int64_t n_experts, n_experts_per_tok;
    int64_t moe_intermediate;  /* each expert's width */
    int64_t shared_intermediate; /* shared expert's (0: none) */
    bool norm_topk_prob;       /* renormalize the top-k routing weights */
    uint64_t moe_layers[64];   /* bit i: layer i's MLP is the experts */
    /* routing (awq_moe_desc.routes; AWQ_ROUTE_SOFTMAX otherwise) */
    awq_route route;
    int64_t n_group, topk_group; /* group-limited routes */
    double routed_scale;       /* routed_scaling_factor (1 when absent) */
    /* multi-head latent attention (arch->mla), else 0; head_dim is then
     * qk_rope_head_dim, as transformers sets it */
    int64_t q_lora_rank;       /* 0: a plain q_proj */
    int64_t kv_lora_rank;
    int64_t qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    bool rope_interleave;      /* rope pairs (x0, x1), (x2, x3), ... */
    awq_dtype torch_dtype;     /* F16 / BF16 / F32 (F16 when absent) */
    int64_t bos_token_id, eos_token_id; /* -1 when absent */
    awq_quant_config quant;
} awq_model_config;

/* Parse config.json text already loaded as cJSON. `where` names the file for
 * messages. Missing required fields are AWQ_ERR_FORMAT naming the field. */
awq_status awq_model_config_from_json(awq_ctx *ctx, const struct cJSON *root,
                                      const char *where,
                                      awq_model_config *out);

/* Convenience: from an open checkpoint's config.json (AWQ_ERR_NOT_FOUND if
 * it has none). */
awq_status awq_model_config_from_checkpoint(awq_ctx *ctx,
                                            const struct awq_checkpoint *ck,
                                            awq_model_config *out);

/* Value of a dimension symbol for this config. */
int64_t awq_model_dim(const awq_model_config *cfg, awq_dim d);
/* Whether decoder layer i's MLP is the mixture of experts. */
bool awq_model_layer_moe(const awq_model_config *cfg, int64_t layer);
/* Whether decoder layer i attends within cfg->sliding_window only. */
bool awq_model_layer_sliding(const awq_model_config *cfg, int64_t layer);

/* Prefix of the decoder's tensors in a checkpoint: "model." or
 * "model.language_model." (Qwen2.5-VL saved by newer transformers), found by
 * probing for "<prefix>layers.0.". Writes into buf (size >= 64). */
awq_status awq_model_find_prefix(awq_ctx *ctx,
                                 const struct awq_checkpoint *ck,
                                 char *buf, size_t buf_size);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_MODEL_H */
