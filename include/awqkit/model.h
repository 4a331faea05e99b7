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

/* Dimension symbols used by the architecture table for linear shapes. */
typedef enum awq_dim {
    AWQ_DIM_HIDDEN = 0,        /* hidden_size */
    AWQ_DIM_Q = 1,             /* n_heads * head_dim */
    AWQ_DIM_KV = 2,            /* n_kv_heads * head_dim */
    AWQ_DIM_INTER = 3          /* intermediate_size */
} awq_dim;

#define AWQ_MAX_LINEARS 8
#define AWQ_MAX_GROUP_LINEARS 3

/* One linear of a decoder layer, e.g. "self_attn.q_proj". */
typedef struct awq_linear_desc {
    const char *name;          /* relative to the layer prefix */
    awq_dim in_dim, out_dim;   /* K = in_features, N = out_features */
    bool bias;                 /* has a bias in this architecture */
} awq_linear_desc;

typedef enum awq_group_cond {
    AWQ_GROUP_ALWAYS = 0,
    /* only when prev and linear weights have the same shape (v->o, no GQA) */
    AWQ_GROUP_IF_SAME_SHAPE = 1
} awq_group_cond;

typedef enum awq_block {
    AWQ_BLOCK_ATTN = 0,        /* loss on the attention block's output */
    AWQ_BLOCK_MLP = 1,         /* loss on the MLP block's output */
    AWQ_BLOCK_LINEAR = 2       /* loss on the group's single linear */
} awq_block;

/* An AWQ scaling group: the scales s are folded into `prev` (a norm: its
 * weight divided by s; a linear: its output rows and bias divided by s) and
 * multiplied into the input columns of `linears`. Indices into linears[]. */
typedef struct awq_scale_group {
    const char *prev_norm;     /* "input_layernorm", or NULL when prev is a
                                  linear */
    int prev_linear;           /* index when prev is a linear, else -1 */
    int linears[AWQ_MAX_GROUP_LINEARS];
    int n_linears;
    awq_block block;
    awq_group_cond cond;
} awq_scale_group;

typedef struct awq_arch {
    const char *hf_name;       /* "LlamaForCausalLM" */
    const char *model_type;    /* "llama" */
    awq_linear_desc linears[AWQ_MAX_LINEARS]; /* q,k,v,o,gate,up,down order */
    int n_linears;
    awq_scale_group groups[4];
    int n_groups;
    bool qk_norm;              /* Qwen3: self_attn.q_norm / k_norm */
    bool is_vl;                /* text decoder of a vision-language model */
} awq_arch;

/* Indices into awq_arch.linears for the Llama family (all entries use this
 * order). */
enum { AWQ_LIN_Q = 0, AWQ_LIN_K, AWQ_LIN_V, AWQ_LIN_O, AWQ_LIN_GATE,
       AWQ_LIN_UP, AWQ_LIN_DOWN };

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
