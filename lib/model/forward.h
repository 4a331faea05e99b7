/* lib/model/forward.h — internal access to a running model for other
 * library modules (the AWQ search in lib/quant runs its loss computations
 * on the same backend as the forward). */
#ifndef AWQ_LIB_MODEL_FORWARD_H
#define AWQ_LIB_MODEL_FORWARD_H

#include "awqkit/runtime.h"
#include "backend/backend.h"

/* The backend the model computes on (owned by the model). */
awq_backend *awq_model_backend(awq_model *m);
/* The context the model was opened with. */
awq_ctx *awq_model_ctx(awq_model *m);

#endif
