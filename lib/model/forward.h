/* lib/model/forward.h — internal access to a running model for other
 * library modules (the AWQ search in lib/quant runs its loss computations
 * on the same backend as the forward). */
#ifndef AWQ_LIB_MODEL_FORWARD_H
#define AWQ_LIB_MODEL_FORWARD_H

#include "awqkit/runtime.h"
#include "backend/backend.h"

/* awq_model_open on a backend the caller provides (borrowed: it must
 * outlive the model; params->backend / device are then ignored). For tests
 * that wrap or emulate a backend, and tools that share one backend between
 * models. be == NULL is awq_model_open. */
awq_status awq_model_open_backend(awq_ctx *ctx, const struct awq_checkpoint *ck,
                                  const awq_runtime_params *params, awq_backend *be,
                                  awq_model **out);

/* The backend the model computes on (owned by the model unless it was
 * given to awq_model_open_backend). */
awq_backend *awq_model_backend(awq_model *m);
/* The context the model was opened with. */
awq_ctx *awq_model_ctx(awq_model *m);
/* Convert the output layer (lm_head, or the tied embeddings) to fp32 on the
 * backend now rather than at the first logits, checking it finite; a no-op
 * once loaded. For callers that want a bad lm_head reported before any
 * work (perplexity). */
awq_status awq_model_load_lm_head(awq_model *m);
/* Whether decoder linear `lin` carries a bias in this model (architecture
 * table + config flags); a bias tensor in the checkpoint is ignored
 * otherwise, as transformers ignores it. */
bool awq_model_linear_has_bias(const awq_model *m, int lin);

#endif
