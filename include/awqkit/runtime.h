/*
 * awqkit/runtime.h — the decoder forward pass (the same computation as
 * transformers' modeling_llama / qwen2 / qwen3 in float32) and perplexity.
 *
 * Shape of the API. The model is run one decoder layer at a time so that
 * peak memory is about one layer's weights plus activations: the caller (the
 * AWQ search, `awqkit ppl`) loads layer i, runs it over a batch of hidden
 * states, inspects or changes its weights, frees it, goes on to layer i+1.
 * Convenience calls (awq_model_forward_logits, awq_model_nll) do that loop.
 *
 * Memory spaces. Activations and weights live in the memory of the model's
 * backend: host memory for AWQ_BACKEND_CPU, device memory for a GPU
 * backend. Every `float *` documented as "backend memory" must come from
 * awq_model_alloc (or from a layer accessor) and may only be touched on the
 * host when awq_model_host_memory() is true; otherwise copy with
 * awq_model_upload / awq_model_download. Arguments documented as "host"
 * are ordinary host pointers.
 *
 * Layouts (all row-major, fp32):
 *   hidden states  [B*T, hidden]: B sequences of T tokens, sequence b at rows
 *                  b*T .. b*T+T-1; token t of every sequence has position t.
 *   linear weight  [out_features, in_features] (PyTorch nn.Linear layout).
 *
 * Numerics: fp32 everywhere; RMSNorm, RoPE tables, softmax statistics and
 * log-softmax reductions accumulate in double or fp32 as transformers does
 * (documented per function in lib/model/forward.c). Results are
 * bit-identical for any thread count.
 *
 * Thread-safety: a model and its layers are used by one thread at a time
 * (they share the model's scratch buffers and the context).
 */
#ifndef AWQKIT_RUNTIME_H
#define AWQKIT_RUNTIME_H

#include "awqkit/core.h"
#include "awqkit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

struct awq_checkpoint;

/* Values pinned (CLI --json). */
typedef enum awq_backend_kind {
    AWQ_BACKEND_CPU = 0,   /* OpenBLAS sgemm + the context's worker threads */
    AWQ_BACKEND_CUDA = 1   /* cuBLAS + kernels/ (AWQ_ERR_NO_DEVICE when the
                              build has no CUDA or no GPU is present) */
} awq_backend_kind;

/* "cpu" / "cuda" (static). */
const char *awq_backend_kind_name(awq_backend_kind k);

typedef struct awq_runtime_params {
    awq_backend_kind backend;  /* default AWQ_BACKEND_CPU */
    int device;                /* GPU index (CUDA only); default 0 */
    /* When all decoder layers converted to fp32 fit in this many bytes they
     * are kept after their first use, so awq_model_run_layers and the calls
     * built on it convert each layer once instead of once per call;
     * otherwise every pass converts each layer again (peak: one layer).
     * 0 disables the cache. Default 1 GiB. */
    uint64_t layer_cache_bytes;
    /* Query/key block of the blocked attention (rows); 0 = default 64.
     * Exposed for tests; results do not depend on it beyond rounding. */
    int attn_block;
} awq_runtime_params;

awq_runtime_params awq_runtime_default_params(void);

typedef struct awq_model awq_model;

/* Prepare the model in checkpoint `ck` for running: reads config.json
 * (awq_model_config_from_checkpoint), checks the architecture is supported
 * and that every tensor the forward needs exists with the right shape and a
 * readable dtype (F16/BF16/F32, or the packed tensors of an AWQ GEMM/GEMV or
 * GPTQ v1/v2 quantization_config), creates the backend. Weights are not
 * converted yet. `ck` is borrowed: it must outlive the model. Errors name
 * the tensor or field. */
awq_status awq_model_open(awq_ctx *ctx, const struct awq_checkpoint *ck,
                          const awq_runtime_params *params, awq_model **out);
void awq_model_free(awq_model *m);

/* Parsed configuration (owned by m). */
const awq_model_config *awq_model_get_config(const awq_model *m);
/* Tensor-name prefix of the decoder ("model." or "model.language_model."). */
const char *awq_model_prefix(const awq_model *m);
/* Backend the model runs on. */
awq_backend_kind awq_model_backend_kind(const awq_model *m);
/* Whether backend memory is host memory (CPU backend). */
bool awq_model_host_memory(const awq_model *m);

/* Backend memory helpers (bytes). awq_model_alloc'd buffers are freed with
 * awq_model_free_buf (NULL OK) before the model is freed. */
awq_status awq_model_alloc(awq_model *m, size_t bytes, void **out);
void awq_model_free_buf(awq_model *m, void *p);
awq_status awq_model_upload(awq_model *m, void *dst, const void *host_src,
                            size_t bytes);
awq_status awq_model_download(awq_model *m, void *host_dst, const void *src,
                              size_t bytes);

/* ------------------------------------------------------------ one layer */

typedef struct awq_layer awq_layer;

/* Norm weights of a layer ([hidden], or [head_dim] for q/k norms). */
typedef enum awq_layer_norm_id {
    AWQ_NORM_INPUT = 0,        /* input_layernorm (before attention) */
    AWQ_NORM_POST_ATTN = 1,    /* post_attention_layernorm (before MLP) */
    AWQ_NORM_Q = 2,            /* self_attn.q_norm (Qwen3; else absent) */
    AWQ_NORM_K = 3,            /* self_attn.k_norm (Qwen3; else absent) */
    AWQ_NORM_PRE_FFN = 4,      /* pre_feedforward_layernorm (Gemma 2/3: the
                                  MLP's input norm; post_attention_layernorm
                                  then normalizes the attention output) */
    AWQ_NORM_POST_FFN = 5,     /* post_feedforward_layernorm (Gemma 2/3) */
    AWQ_NORM_Q_A = 6,          /* self_attn.q_a_layernorm [q_lora_rank] (MLA) */
    AWQ_NORM_KV_A = 7,         /* self_attn.kv_a_layernorm [kv_lora_rank] (MLA) */
    AWQ_NORM_COUNT = 8
} awq_layer_norm_id;

/* The checkpoint name of a norm ("input_layernorm", "self_attn.q_norm",
 * ...; static) and the id of a name (-1 when none). */
const char *awq_layer_norm_name(awq_layer_norm_id which);
int awq_layer_norm_find(const char *name);

/* Points where a layer's linear inputs (and the MLP's output) can be
 * observed (capture hooks). */
typedef enum awq_capture_point {
    AWQ_CAPTURE_QKV_IN = 0,    /* normed input shared by q/k/v_proj [rows, hidden] */
    AWQ_CAPTURE_O_IN = 1,      /* attention output, input of o_proj [rows, q_dim] */
    AWQ_CAPTURE_GATE_UP_IN = 2,/* normed input shared by gate/up_proj [rows, hidden] */
    AWQ_CAPTURE_DOWN_IN = 3,   /* silu(gate)*up, input of down_proj [rows, inter] */
    /* MLA: q_a_layernorm's output, input of q_b_proj [rows, q_lora_rank];
     * kv_a_layernorm's output, input of kv_b_proj [rows, kv_lora_rank] */
    AWQ_CAPTURE_Q_B_IN = 4,
    AWQ_CAPTURE_KV_B_IN = 5,
    /* the dense MLP's output, down_proj's [rows, hidden] (before a
     * post-feedforward norm; not delivered by mixture-of-experts layers) */
    AWQ_CAPTURE_MLP_OUT = 6,
    AWQ_CAPTURE_COUNT = 7
} awq_capture_point;

/* Capture callback: `x` (backend memory, valid only during the call) holds
 * rows [row0, row0 + n_rows) of the point's input, n_cols columns. One
 * forward call may deliver a point in several consecutive row ranges, in
 * increasing row0 order, together covering all B*T rows. `layer` is the
 * decoder layer index. A non-OK return stops the forward with that status
 * (set a message with the context you own; the forward wraps it). */
typedef awq_status (*awq_capture_fn)(void *user, int64_t layer,
                                     awq_capture_point point, int64_t row0,
                                     int64_t n_rows, int64_t n_cols,
                                     const float *x);

/* Load decoder layer `index` (0-based): every linear converted to fp32
 * (FP16/BF16 weights converted; quantized linears dequantized), biases and
 * norm weights, in backend memory. The returned layer is owned by the
 * caller (awq_layer_free) and independent of the model's cache, so it may
 * be modified freely. */
awq_status awq_layer_load(awq_model *m, int64_t index, awq_layer **out);
void awq_layer_free(awq_layer *l);
int64_t awq_layer_index(const awq_layer *l);
/* Bytes of backend memory held by the layer's weights. */
uint64_t awq_layer_bytes(const awq_layer *l);

/* Linear `lin` (AWQ_LIN_Q .. AWQ_LIN_DOWN, the awq_arch.linears order):
 * weight [n_out, n_in] and bias [n_out] (NULL when the linear has none), in
 * backend memory, owned by the layer. The caller may overwrite the values in
 * place; they are what the layer computes with. n_out/n_in may be NULL. */
float *awq_layer_weight(awq_layer *l, int lin, int64_t *n_out, int64_t *n_in);
float *awq_layer_bias(awq_layer *l, int lin);
/* Substitute the weight array of linear `lin` with caller-owned backend
 * memory `w` of the same shape (borrowed until replaced again or the layer
 * is freed); NULL restores the layer's own array. Lets the AWQ search try
 * scaled / pseudo-quantized weights without copying the originals back. */
awq_status awq_layer_set_weight(awq_layer *l, int lin, float *w);
/* Norm weight (backend memory, owned by the layer; NULL when the
 * architecture has no such norm). n may be NULL. */
float *awq_layer_norm_weight(awq_layer *l, awq_layer_norm_id which,
                             int64_t *n);

/* Install a capture callback for this layer's forward calls (NULL removes).
 * `mask` selects points: bit (1u << point). */
void awq_layer_set_capture(awq_layer *l, awq_capture_fn fn, void *user,
                           unsigned mask);

/* Full decoder layer on x [B*T, hidden] -> out [B*T, hidden]:
 *   h   = x + attn(input_layernorm(x))
 *   out = h + mlp(post_attention_layernorm(h))
 * x and out may be the same buffer. Causal attention within each sequence. */
awq_status awq_layer_forward(awq_layer *l, const float *x, float *out,
                             int64_t B, int64_t T);

/* RMSNorm `which` (AWQ_NORM_INPUT / AWQ_NORM_POST_ATTN) of x [rows, hidden]
 * into out (may alias x). */
awq_status awq_layer_norm(awq_layer *l, awq_layer_norm_id which,
                          const float *x, float *out, int64_t rows);

/* The attention block WITHOUT its input norm and WITHOUT the residual:
 * x_normed [B*T, hidden] (already input_layernorm'ed) ->
 * out [B*T, hidden] = o_proj(attention(rope(q), rope(k), v)), with q/k/v
 * biases and Qwen3's q/k norms. This is what AWQ measures for the
 * input_layernorm -> q/k/v group (AutoAWQ's module2inspect = self_attn). */
awq_status awq_layer_attn(awq_layer *l, const float *x_normed, float *out,
                          int64_t B, int64_t T);

/* The MLP block WITHOUT its input norm and WITHOUT the residual:
 * x_normed [rows, hidden] -> out [rows, hidden] =
 * down(silu(gate(x)) * up(x)). AWQ's post_attention_layernorm -> gate/up
 * group measures this. */
awq_status awq_layer_mlp(awq_layer *l, const float *x_normed, float *out,
                         int64_t rows);

/* One linear: out [rows, n_out] = x [rows, n_in] W^T (+ bias). */
awq_status awq_layer_linear(awq_layer *l, int lin, const float *x, float *out,
                            int64_t rows);

/* ----------------------------------------------------------- the model */

/* Embedding rows of `ids` (host, n tokens; each in [0, vocab), else
 * AWQ_ERR_RANGE naming the position and id) into out [n, hidden] (backend
 * memory). */
awq_status awq_model_embed(awq_model *m, const int32_t *ids, int64_t n,
                           float *out);

/* Final RMSNorm then lm_head (or the tied embeddings): h [rows, hidden]
 * (backend memory; left unchanged) -> logits [rows, vocab] (backend
 * memory). */
awq_status awq_model_logits(awq_model *m, const float *h, float *logits,
                            int64_t rows);

/* Per-token negative log-likelihood from final hidden states: for each
 * row r with targets[r] >= 0, nll[r] = logsumexp(logits_r) -
 * logits_r[targets[r]] (double, host); rows with targets[r] < 0 get 0.
 * `targets` and `nll` are host arrays of `rows` entries. Logits are made in
 * chunks of rows, so [rows, vocab] is never held at once. Targets >= vocab
 * are AWQ_ERR_RANGE. */
awq_status awq_model_nll_from_hidden(awq_model *m, const float *h,
                                     const int32_t *targets, int64_t rows,
                                     double *nll);

/* Run all decoder layers over hidden states x [B*T, hidden] (backend
 * memory) in place. Uses the layer cache (awq_runtime_params). */
awq_status awq_model_run_layers(awq_model *m, float *x, int64_t B, int64_t T);

/* Convenience: logits [B*T, vocab] (host) of B sequences of T tokens
 * (ids: host, B*T entries). Holds B*T*vocab floats: for long inputs use
 * awq_model_nll. */
awq_status awq_model_forward_logits(awq_model *m, const int32_t *ids,
                                    int64_t B, int64_t T, float *logits);

/* Convenience for perplexity: B sequences of T tokens (ids: host, B*T);
 * nll[b*(T-1) + t] (host, B*(T-1) entries) = -log p(ids[b*T+t+1] | ids[b*T
 * .. b*T+t]) for t in [0, T-1). T >= 2. Never materialises [B*T, vocab]. */
awq_status awq_model_nll(awq_model *m, const int32_t *ids, int64_t B,
                         int64_t T, double *nll);

/* ---------------------------------------------------------- perplexity */

typedef struct awq_ppl_params {
    int64_t seqlen;        /* window length in tokens (default 2048) */
    int64_t max_windows;   /* evaluate at most this many windows (0 = all) */
    /* Prepend the BOS token (config bos_token_id) to every window: each
     * window then holds BOS + seqlen-1 text tokens, the text is cut into
     * consecutive runs of seqlen-1 tokens, and all seqlen-1 text tokens of a
     * window are predicted (the first one from BOS alone). Default false:
     * windows are seqlen text tokens, the first is context only. */
    bool add_bos;
    /* Windows run through each layer together (more = fewer weight
     * conversions, more activation memory). 0 = automatic. */
    int64_t batch;
} awq_ppl_params;

awq_ppl_params awq_ppl_default_params(void);

/* Number of windows awq_model_perplexity evaluates for n text tokens
 * (0 when the text is shorter than one window or p is invalid). */
int64_t awq_ppl_n_windows(int64_t n, const awq_ppl_params *p);

typedef struct awq_ppl_result {
    int64_t n_tokens_text;     /* tokens of the whole text */
    int64_t n_windows;         /* windows evaluated */
    int64_t n_predicted;       /* predicted tokens (NLL terms) */
    double mean_nll;           /* nats per predicted token */
    double ppl;                /* exp(mean_nll) */
    double seconds;            /* forward wall time */
    double tokens_per_s;       /* window tokens / seconds */
} awq_ppl_result;

/* Perplexity over non-overlapping windows of `ids` (host, n tokens, already
 * tokenized; see awq_ppl_params for the window rule). Windows beyond the
 * last complete one are dropped; fewer tokens than one window is
 * AWQ_ERR_INVALID_ARG stating both counts. Progress is reported to the
 * context's callback in phase "ppl" (windows done / total).
 * per_window_nll (host, optional, n_windows entries of the result) receives
 * each window's mean NLL. */
awq_status awq_model_perplexity(awq_model *m, const int32_t *ids, int64_t n,
                                const awq_ppl_params *p, awq_ppl_result *res,
                                double *per_window_nll);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_RUNTIME_H */
