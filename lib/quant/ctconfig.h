/*
 * lib/quant/ctconfig.h — the quantization_config of a compressed-tensors
 * checkpoint (quant_method "compressed-tensors", written by llm-compressor),
 * parsed into a scheme table, and the lookup "which scheme quantizes the
 * module called NAME" (internal; used by the checkpoint scan to count, and
 * meant for every reader of the format).
 *
 * The config names the quantized modules by `config_groups.*.targets` and
 * exempts some by `ignore`. Each entry is one of
 *   "re:PATTERN"   a regex matched at the start of the module name (the
 *                  library uses Python's re.match: anchored at the start,
 *                  not at the end); compiled once with PCRE2
 *   a module name  equal to the whole name
 *   a class name   "Linear" (every linear module), "Embedding"; awqkit sees
 *                  names and shapes, not classes, so a class is matched by
 *                  the role of the module (other class names match nothing)
 * A module is quantized by the first group whose targets match, unless an
 * ignore entry matches it.
 */
#ifndef AWQ_LIB_QUANT_CTCONFIG_H
#define AWQ_LIB_QUANT_CTCONFIG_H

#include "awqkit/core.h"

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* Storage format of a group (its "format", else the top-level "format"). */
typedef enum awq_ct_format {
    AWQ_CT_FMT_UNKNOWN = 0,
    AWQ_CT_FMT_PACK_QUANTIZED = 1,     /* int codes in int32 words */
    AWQ_CT_FMT_NAIVE_QUANTIZED = 2,    /* int codes one per int8 */
    AWQ_CT_FMT_FLOAT_QUANTIZED = 3,    /* FP8 E4M3 weights */
    AWQ_CT_FMT_NVFP4_PACK = 4,         /* FP4 E2M1, two per byte, FP8 scales */
    AWQ_CT_FMT_MXFP4_PACK = 5,         /* FP4 E2M1, two per byte, E8M0 scales */
    AWQ_CT_FMT_INT_QUANTIZED = 6,      /* int8 weights (W8A8 int-quantized) */
    AWQ_CT_FMT_DENSE = 7               /* "dense": stored unquantized */
} awq_ct_format;

/* "pack-quantized", ... (static); "unknown" for AWQ_CT_FMT_UNKNOWN. */
const char *awq_ct_format_name(awq_ct_format f);

typedef enum awq_ct_strategy {
    AWQ_CT_STRAT_UNKNOWN = 0,
    AWQ_CT_STRAT_TENSOR = 1,
    AWQ_CT_STRAT_CHANNEL = 2,
    AWQ_CT_STRAT_GROUP = 3,
    AWQ_CT_STRAT_BLOCK = 4,
    AWQ_CT_STRAT_TENSOR_GROUP = 5      /* nvfp4: groups of 16 + a global scale */
} awq_ct_strategy;

typedef struct awq_ct_scheme {
    char name[32];             /* the config_groups key ("group_0") */
    awq_ct_format format;
    bool has_weights;          /* a "weights" object is present */
    int num_bits;
    bool is_float;             /* weights.type "float" (else "int") */
    awq_ct_strategy strategy;
    int group_size;            /* 0 when absent */
    int block[2];              /* block_structure, 0 when absent */
    bool symmetric;
    bool actorder;             /* actorder "group" / "weight" / true */
} awq_ct_scheme;

typedef struct awq_ct_config awq_ct_config;

/* Parse `qc` (the quantization_config object, quant_method already known
 * to be compressed-tensors). Fails with AWQ_ERR_FORMAT naming `source` and
 * the field on a malformed group or an uncompilable `re:` pattern. *out is
 * owned by the caller (awq_ct_config_free). */
awq_status awq_ct_config_parse(awq_ctx *ctx, const struct cJSON *qc, const char *source,
                               awq_ct_config **out);
void awq_ct_config_free(awq_ct_config *c);

size_t awq_ct_config_n_schemes(const awq_ct_config *c);
const awq_ct_scheme *awq_ct_config_scheme(const awq_ct_config *c, size_t i);
/* The top-level "format" (AWQ_CT_FMT_UNKNOWN when absent). */
awq_ct_format awq_ct_config_format(const awq_ct_config *c);

/* What a target or ignore entry may match by class: awqkit knows a module
 * only as a linear, an embedding or something else. */
typedef enum awq_ct_module_kind {
    AWQ_CT_MOD_LINEAR = 0,
    AWQ_CT_MOD_EMBEDDING = 1,
    AWQ_CT_MOD_OTHER = 2
} awq_ct_module_kind;

/* The scheme quantizing `module` (a module name such as
 * "model.layers.0.mlp.down_proj", no ".weight"), or NULL when no group
 * targets it or an ignore entry matches it. The pointer lives as long as c. */
const awq_ct_scheme *awq_ct_scheme_for(const awq_ct_config *c, const char *module,
                                       awq_ct_module_kind kind);

#endif
