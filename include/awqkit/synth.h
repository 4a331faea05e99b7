/*
 * awqkit/synth.h — synthetic checkpoints of any Llama / Qwen2 / Qwen3 /
 * Qwen2.5-VL / Phi-3 / Gemma 2 / Gemma 3 / Mixtral / Qwen2-MoE / Qwen3-MoE /
 * DeepSeek-V2 / DeepSeek-V3 shape, for tests and benchmarks.
 *
 * awq_synth_write lays out a checkpoint the way transformers saves one:
 * config.json (architectures, model_type, dims, rope_theta, rms_norm_eps,
 * torch_dtype, tie_word_embeddings, max_position_embeddings, plus a
 * quantization_config for packed formats) and safetensors shards of at most
 * max_shard_bytes with an index.
 *
 * Data. Weights are approximately N(0, 0.02) (Irwin–Hall sum of four
 * uniforms: bounded at ±3.5σ, cheap), o_proj / down_proj scaled by
 * 1/sqrt(2·layers) as in GPT-2-style init; biases N(0, 0.02); norm weights
 * 1 + N(0, 0.02). Activation outliers like real LLMs: `n_outliers` hidden
 * channels (chosen from the seed) get norm weights of `outlier_scale` in
 * every input_layernorm / post_attention_layernorm and the final norm, and
 * 4x larger embedding columns (a large residual channel), so the inputs of
 * q/k/v/gate/up show salient channels; `n_outliers` intermediate channels
 * get up_proj rows scaled by sqrt(outlier_scale), so down_proj inputs do
 * too. Packed formats hold random codes, zeros near the middle of the code
 * range (GPTQ: symmetric, 2^(b-1) stored as v1 or v2 requires), positive
 * scales of the size a 0.02-std group would get, and g_idx = k / g.
 *
 * Determinism: every tensor is generated from (seed, tensor name) in
 * fixed-size row blocks with their own PRNG streams, so the files are
 * byte-identical for any thread count and any shard size (per tensor).
 *
 * zero_data: nothing is generated; the writer leaves every tensor as a hole
 * (awq_writer_params.sparse), so a 3.75B-parameter checkpoint takes
 * milliseconds and no disk blocks. Its values are all zero.
 */
#ifndef AWQKIT_SYNTH_H
#define AWQKIT_SYNTH_H

#include "awqkit/core.h"
#include "awqkit/quant.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AWQ_SYNTH_MAX_OUTLIERS 64

typedef struct awq_synth_params {
    /* "llama", "qwen2", "qwen3", "qwen2.5-vl", "phi3", "gemma2", "gemma3",
     * "gemma3-vl", "mixtral", "qwen2-moe", "qwen3-moe", "deepseek-v2" or
     * "deepseek-v3" (the arch table entries of LlamaForCausalLM, ...,
     * DeepseekV3ForCausalLM). Gemma norms
     * are stored as w with 1 + w the effective weight (outliers included);
     * gemma3-vl is laid out as the Hub's Gemma3ForConditionalGeneration
     * (language_model.model.*, a SigLIP tower of the vision_* dims under
     * vision_tower.vision_model.*, multi_modal_projector.*). */
    const char *arch;
    int64_t hidden, intermediate, n_layers, n_heads, n_kv_heads;
    int64_t head_dim;          /* 0 = hidden / n_heads */
    int64_t vocab;
    int64_t max_pos;           /* max_position_embeddings */
    double rope_theta, rms_eps;
    bool tie_word_embeddings;  /* no lm_head.weight when true */
    awq_dtype dtype;           /* AWQ_DT_F16 or AWQ_DT_BF16 (dense tensors;
                                  packed formats keep F16 scales and store
                                  the rest in this dtype) */
    uint64_t seed;
    int n_outliers;            /* 0..AWQ_SYNTH_MAX_OUTLIERS, <= hidden/2 */
    double outlier_scale;      /* > 0 */
    uint64_t max_shard_bytes;  /* > 0 */
    bool quantized;            /* write the decoder linears packed */
    awq_qformat qformat;       /* when quantized */
    int bits;                  /* when quantized (AWQ: 4) */
    int group_size;            /* when quantized; -1 = per channel */
    bool zero_data;
    bool force;                /* overwrite a checkpoint in out_dir */
    /* Vision tower (arch "qwen2.5-vl"; "gemma3-vl": depth, hidden,
     * intermediate, heads of its SigLIP tower), kept dense: Qwen2.5-VL's
     * tensor names and shapes (patch_embed Conv3d [vh, 3, 2, 14, 14],
     * blocks with norm1/norm2, attn.qkv/proj, mlp gate/up/down with
     * biases, merger ln_q + mlp.0 [4vh, 4vh] + mlp.2 [hidden, 4vh]). */
    int64_t vision_depth, vision_hidden, vision_intermediate, vision_heads;
    /* Mixture of experts (arch "mixtral", "qwen2-moe", "qwen3-moe"): expert
     * count, experts per token, each expert's width (0 = intermediate / 4),
     * the shared expert's width (qwen2-moe; 0 = intermediate). Every layer
     * is sparse; the router is dense, the experts packed when quantized. */
    int64_t n_experts, n_experts_per_tok, moe_intermediate, shared_intermediate;
    /* DeepSeek (arch "deepseek-v2", "deepseek-v3"; lib/model/synth_mla.c):
     * q_lora_rank (0: a plain q_proj), kv_lora_rank (0: hidden / 4), the
     * qk rope / nope and v head dims (0: head_dim / 2, head_dim / 2,
     * head_dim), first_k_dense dense layers before the experts (n_layers:
     * all dense), n_shared_experts (shared width n_shared x the expert
     * width). The config routes as the Hub's models (V3: sigmoid, noaux_tc,
     * n_group 1 / topk_group 1; V2: softmax greedy). */
    int64_t q_lora_rank, kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim, v_head_dim;
    int64_t first_k_dense, n_shared_experts;
} awq_synth_params;

/* Defaults: preset "tiny", seed 0, 4 outliers of scale 20, F16, shards of
 * 5 GB, dense, bits 4, group 128. */
awq_synth_params awq_synth_default_params(void);

/* Set the architecture, dims, rope/eps, tie and vision tower of a preset,
 * leaving seed / format / outliers / sharding alone:
 *   tiny           llama 256/768, 6 layers, 4 heads, 2 kv, head_dim 64,
 *                  vocab 4096, untied (the dims of data/tiny-llama)
 *   0.5b           qwen2 896/4864, 24 layers, 14 heads, 2 kv, vocab 151936,
 *                  tied (Qwen2-0.5B)
 *   7b             llama 4096/11008, 32 layers, 32 heads, 32 kv, vocab 32000
 *                  (Llama-2-7B)
 *   70b-layer      llama 8192/28672, 64 heads, 8 kv, vocab 32000, 2 layers
 *                  (Llama-2-70B dims)
 *   qwen2.5-vl-3b  qwen2.5-vl 2048/11008, 36 layers, 16 heads, 2 kv, vocab
 *                  151936, tied, vision tower depth 32, hidden 1280,
 *                  intermediate 3420, 16 heads (Qwen2.5-VL-3B-Instruct)
 * Unknown name: AWQ_ERR_INVALID_ARG listing the presets. */
awq_status awq_synth_preset(awq_ctx *ctx, const char *name,
                            awq_synth_params *p);
/* "tiny, 0.5b, 7b, 70b-layer, qwen2.5-vl-3b" (static). */
const char *awq_synth_preset_list(void);

typedef struct awq_synth_result {
    uint64_t n_tensors;
    uint64_t tensor_bytes;     /* data bytes over all shards */
    size_t n_shards;
    uint64_t logical_params;   /* packed linears counted as K x N */
    int n_outliers;
    int64_t outlier_channels[AWQ_SYNTH_MAX_OUTLIERS];       /* hidden dim */
    int64_t outlier_inter_channels[AWQ_SYNTH_MAX_OUTLIERS]; /* intermediate */
} awq_synth_result;

/* Write the checkpoint into out_dir (created if missing; AWQ_ERR_EXISTS
 * when it holds a checkpoint and !force). Validates every parameter first
 * (AWQ_ERR_INVALID_ARG naming it; a linear that the packed format cannot
 * store: AWQ_ERR_UNSUPPORTED naming it and why). Uses the context's
 * threads; reports progress as phase "synth" in tensors. out may be NULL.
 * On failure nothing is left in out_dir (the writer's temporaries are
 * removed). */
awq_status awq_synth_write(awq_ctx *ctx, const char *out_dir,
                           const awq_synth_params *p, awq_synth_result *out);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_SYNTH_H */
