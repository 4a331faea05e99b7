/* lib/model/mla.h — multi-head latent attention (DeepSeek-V2 / V3),
 * computed with the backend ops. Internal to lib/model: forward.c owns the
 * layer and hands its linears, norms and capture hook over in awq_mla_ops. */
#ifndef AWQ_LIB_MODEL_MLA_H
#define AWQ_LIB_MODEL_MLA_H

#include "awqkit/model.h"
#include "awqkit/runtime.h"
#include "backend/backend.h"

/* What the attention needs from its layer (all borrowed). */
typedef struct awq_mla_ops {
    awq_layer *l;
    /* y [rows, N] = linear `lin` of the layer on x [rows, K] */
    awq_status (*linear)(awq_layer *l, int lin, const float *x, float *y, int64_t rows);
    /* rows [row0, row0 + n_rows) of linear `lin` only */
    awq_status (*linear_rows)(awq_layer *l, int lin, int64_t row0, int64_t n_rows,
                              const float *x, float *y, int64_t rows);
    /* the layer's capture hook (a no-op when none is set) */
    awq_status (*capture)(awq_layer *l, awq_capture_point pt, int64_t row0, int64_t rows,
                          int64_t cols, const float *x);
    const int *li;             /* index of each awq_lin_kind in the table, -1 */
    const float *q_a_norm;     /* [q_lora_rank] (NULL without q_lora) */
    const float *kv_a_norm;    /* [kv_lora_rank] */
    int attn_block;            /* awq_runtime_params.attn_block */
    int64_t head_block;        /* heads per assembled block (0: as many as
                                  fit a bounded scratch) */
} awq_mla_ops;

/* out [nb*T, hidden] = the attention block of DeepSeek-V2/V3
 * (transformers' DeepseekV3Attention, float32) on x_normed [nb*T, hidden]:
 *   q = q_b(q_a_layernorm(q_a(x)))  (or q_proj(x))    [R, H, nope + rope]
 *   lat, k_rot = kv_a_proj_with_mqa(x) split [kv_lora, rope]
 *   k_nope, v = kv_b(kv_a_layernorm(lat)) per head    [R, H, nope + v]
 *   rope on the rope part of q and on k_rot (shared by every head), pairs
 *   interleaved (x0, x1), (x2, x3) .. or halves (rope_interleave false);
 *   softmax scale (nope + rope)^-1/2 times yarn's m(factor,
 *   mscale_all_dim)^2 when the config has rope scaling;
 *   out = o_proj(attention)   (causal, per sequence).
 * Row 0 of the block is row `row0` of the layer's batch (captures). The
 * head layout is assembled on the host (downloaded and uploaded again on a
 * device backend), head_block heads at a time; scratch is allocated per
 * call. */
awq_status awq_mla_attn(awq_backend *be, const awq_model_config *cfg, const awq_mla_ops *o,
                        const float *x_normed, float *out, int64_t nb, int64_t T,
                        int64_t row0);

/* The softmax scale of MLA for this config (see awq_mla_attn). */
double awq_mla_softmax_scale(const awq_model_config *cfg);

#endif
