/* lib/model/model_impl.h — the model and layer structs shared by the
 * loader (model_load.c: open, tensor checks, per-layer weight loading) and
 * the forward pass (forward.c). Internal to lib/model. */
#ifndef AWQ_LIB_MODEL_MODEL_IMPL_H
#define AWQ_LIB_MODEL_MODEL_IMPL_H

#include "model/forward.h"
#include "awqkit/quant.h"
#include "model/moe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


/* Rows per attention chunk (whole sequences; at least one sequence). */
#define ATTN_CHUNK_ROWS 4096
/* Rows per MLP chunk (bounds the [rows, intermediate] scratch). */
#define MLP_CHUNK_ROWS 1024
/* Bytes of logits per chunk when computing NLL. */
#define LOGIT_CHUNK_BYTES (64u << 20)

struct awq_layer {
    awq_model *m;
    int64_t index;
    float *w_own[AWQ_MAX_LINEARS];   /* owned weights [n_out, n_in] */
    float *w[AWQ_MAX_LINEARS];       /* in use (owned or substituted) */
    float *b[AWQ_MAX_LINEARS];       /* owned biases or NULL */
    int64_t n_out[AWQ_MAX_LINEARS], n_in[AWQ_MAX_LINEARS];
    float *norm[AWQ_NORM_COUNT];
    int64_t norm_n[AWQ_NORM_COUNT];
    bool is_moe;                     /* MLP = experts (moe below) */
    awq_moe_weights moe;
    uint64_t bytes;
    awq_capture_fn cap;
    void *cap_user;
    unsigned cap_mask;
};

typedef struct {
    float *inv_freq;                 /* host [head_dim/2] (NULL: unused) */
    float attn_factor;
    float *cos, *sin;                /* backend [n, head_dim/2] */
    int64_t n;
} rope_state;

struct awq_model {
    awq_ctx *ctx;
    const awq_checkpoint *ck;
    awq_model_config cfg;
    const awq_arch *arch;
    char prefix[96];
    char lm_head_name[128];
    awq_backend *be;
    bool own_be;                     /* created by awq_model_open */
    awq_runtime_params params;
    bool host;                       /* backend memory is host memory */

    bool bias[AWQ_MAX_LINEARS];      /* linear has a bias tensor in use */
    int li[AWQ_LIN_KIND_COUNT];      /* index of each kind of linear, -1 */

    /* quantized checkpoints */
    bool quantized;
    bool ct_float;     /* compressed-tensors FP8 / NVFP4 weights (ct_float.c) */
    awq_qformat qfmt;
    awq_unpack_params qup;

    /* rope: [0] the global one, [1] Gemma 3's sliding layers */
    rope_state rope[2];

    const awq_tensor_info *embed_t, *lm_head_t, *final_norm_t;
    float *final_norm;               /* backend [hidden] */
    float *lm_head;                  /* backend [vocab, hidden], lazy */

    float *ws;                       /* backend scratch */
    size_t ws_bytes;

    awq_layer **cache;               /* [n_layers] */
    bool use_cache;                  /* all layers fit layer_cache_bytes */
};

/* Shared between model_load.c and forward.c. */
/* n floats of backend memory, counted against the size limits. */
awq_status awq_fwd_alloc_f(awq_model *m, uint64_t n, float **out);
/* Free backend memory from awq_fwd_alloc_f; NULL is a no-op. */
void awq_fwd_free(awq_model *m, void *p);
/* Tensor t converted to fp32 into backend memory dst, checked finite. */
awq_status awq_fwd_load_f32(awq_model *m, const awq_tensor_info *t, float *dst);

#endif
