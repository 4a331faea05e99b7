/* lib/model/moe_lset.h — the linears of one decoder layer as the quantizer
 * sees them, sized at run time (internal).
 *
 * A dense layer's linears are the architecture table's (awq_arch.linears).
 * A mixture-of-experts layer has n_experts x 3 expert linears, a router and
 * optionally a shared expert with its gate: their number comes from the
 * config and their names from the table's awq_moe_desc, so every MoE family
 * (and any entry added later) gets the same treatment without code of its
 * own. Index order:
 *   [0, a->n_linears)   the table's linears; in a MoE layer the dense MLP's
 *                       are absent (present = false)
 *   then, MoE layers only, the order the forward loads them in:
 *                       router; expert e's gate, up, down (e ascending);
 *                       the shared expert's gate, up, down; its gate.
 * The router and the shared expert's gate are never packed (vLLM and
 * transformers run them in the source dtype). */
#ifndef AWQ_LIB_MODEL_MOE_LSET_H
#define AWQ_LIB_MODEL_MOE_LSET_H

#include "awqkit/runtime.h"
#include "model/moe.h"

typedef enum awq_lset_role {
    AWQ_LSET_TABLE = 0,        /* a linear of awq_arch.linears */
    AWQ_LSET_ROUTER = 1,
    AWQ_LSET_EXPERT = 2,
    AWQ_LSET_SHARED = 3,       /* the shared expert's gate / up / down */
    AWQ_LSET_SHARED_GATE = 4
} awq_lset_role;

typedef struct awq_lset_item {
    char name[128];            /* relative to the layer prefix, no suffix */
    awq_lset_role role;
    int64_t expert;            /* AWQ_LSET_EXPERT: its index, else -1 */
    int part;                  /* expert / shared: 0 gate, 1 up, 2 down;
                                  table: the linear's index; else -1 */
    int64_t n_out, n_in;
    bool present;              /* the layer has this linear */
    bool packed;               /* quantized and packed by `quantize` */
} awq_lset_item;

/* Number of entries of layer `layer`'s set (cfg->arch must be set). */
int awq_lset_count(const awq_model_config *cfg, int64_t layer);
/* Entry i; false when i is out of range. */
bool awq_lset_get(const awq_model_config *cfg, int64_t layer, int i, awq_lset_item *out);
/* Index of the entry named `rel` (relative to the layer prefix, without
 * ".weight"), -1 when the layer has no such linear. */
int awq_lset_find(const awq_model_config *cfg, int64_t layer, const char *rel);
/* Index of expert e's part (0 gate, 1 up, 2 down); e == n_experts: the
 * shared expert's. */
int awq_lset_expert_index(const awq_model_config *cfg, int64_t e, int part);

/* Weight of entry i in backend memory (owned by the layer; NULL when the
 * layer does not hold it). n_out / n_in may be NULL. */
float *awq_layer_lset_weight(awq_layer *l, int i, int64_t *n_out, int64_t *n_in);

/* The MoE weights of layer l (NULL for a dense layer), and the config of
 * its model. Defined in forward.c, which owns the layer. */
awq_moe_weights *awq_layer_moe_weights(awq_layer *l);
const awq_model_config *awq_layer_model_config(const awq_layer *l);

#endif
