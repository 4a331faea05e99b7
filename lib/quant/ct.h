/*
 * lib/quant/ct.h — compressed-tensors quantization_config (llm-compressor's
 * format, quant_method "compressed-tensors"): reading its config_groups /
 * targets / ignore for the compute commands, and writing the config of
 * awqkit's own pack-quantized output. The tensor layout itself is a row
 * of the format table (AWQ_QFMT_CT, lib/quant/layouts.h and pack.c).
 *
 * Read from the compressed-tensors package's own source:
 *   quantization/quant_config.py  QuantizationConfig: config_groups (name ->
 *       scheme: targets, weights, input_activations, format), format,
 *       ignore, quant_method, quantization_status, version;
 *   quantization/quant_args.py    weights: num_bits, type ("int" |
 *       "float"), symmetric, strategy ("tensor" | "channel" | "group" |
 *       "block" | "tensor_group"), group_size, block_structure, actorder;
 *   utils/match.py                a target or ignore entry matches a module
 *       when it equals the module's name, or its class name ("Linear"), or
 *       starts with "re:" and the rest matches the start of the name
 *       (Python re.match; PCRE2 with PCRE2_ANCHORED here).
 */
#ifndef AWQ_LIB_QUANT_CT_H
#define AWQ_LIB_QUANT_CT_H

#include "awqkit/quant.h"

#include <cjson/cJSON.h>

#define AWQ_CT_MAX_GROUPS 32
#define AWQ_CT_MAX_NAMES 256

/* The weight scheme of one config group. */
typedef struct awq_ct_scheme {
    char name[64];      /* config_groups key */
    char format[32];    /* the group's "format", else the config's */
    bool has_weights;
    bool is_int;        /* weights.type "int" */
    int bits;           /* weights.num_bits */
    bool sym;           /* weights.symmetric */
    char strategy[16];  /* weights.strategy */
    int group_size;     /* group: > 0; channel: -1; others 0 */
    bool actorder_group;
    bool act_quant;     /* input_activations present (W*A8 schemes) */
    const cJSON *targets; /* borrowed from the parsed config */
} awq_ct_scheme;

typedef struct awq_ct_config {
    char format[32];
    int n_schemes;
    awq_ct_scheme schemes[AWQ_CT_MAX_GROUPS];
    const cJSON *ignore;  /* borrowed */
} awq_ct_config;

/* quantization_config.quant_method is "compressed-tensors". */
bool awq_ct_is(const cJSON *qc);

/* Parse a quantization_config object (borrowed: keep it alive while cfg is
 * used). `where` names the file in messages. AWQ_ERR_FORMAT for malformed
 * fields, naming the field. */
awq_status awq_ct_parse(awq_ctx *ctx, const cJSON *qc, const char *where,
                        awq_ct_config *cfg);

/* Does a target / ignore entry match a module (name, class name)?
 * *bad_regex set when an "re:" pattern does not compile. */
bool awq_ct_match(const char *target, const char *module, const char *cls,
                  bool *bad_regex);

/* The scheme of a Linear module, or NULL when ignored or not targeted. */
const awq_ct_scheme *awq_ct_scheme_match(const awq_ct_config *cfg,
                                       const char *module);

/* The single integer pack-quantized scheme every quantized Linear uses, or
 * an error naming the group and what awqkit cannot compute with (float
 * weights, activation quantization, other strategies, mixed schemes). */
awq_status awq_ct_int_scheme(awq_ctx *ctx, const awq_ct_config *cfg,
                             const char *where, const awq_ct_scheme **out);

/* The quantization_config awqkit writes for AWQ_QFMT_CT (a new object):
 * one config group targeting Linear with the int weights scheme (group or
 * channel, symmetric or not, actorder "group" when desc_act), format
 * pack-quantized, ignore = lm_head plus every module kept unquantized
 * (exact names as is, substrings as "re:.*<escaped>"). */
awq_status awq_ct_quant_config(awq_ctx *ctx, const awq_qconfig_fields *f,
                               cJSON **out);

/* ------------------------------------------ float weights (ct_float.c) */

struct awq_checkpoint;

/* FP8 E4M3 (E4M3FN) byte to fp32. */
float awq_f8e4m3_to_f32(uint8_t v);

/* Every weight scheme of cfg can be computed per linear from its tensors
 * (ct_float.c): weight-only float-quantized / naive-quantized (FP8 or int8
 * weights stored whole), nvfp4-pack-quantized, or integer pack-quantized
 * group / channel (config groups of different schemes); else false and
 * *why says what is not. */
bool awq_ct_float_config(const awq_ct_config *cfg, const char **why);

/* Linear `prefix` is stored as FP8 / int8 (<p>.weight F8_E4M3 / I8 +
 * weight_scale), NVFP4 (<p>.weight_packed U8 + weight_scale +
 * weight_global_scale) or packed integers (<p>.weight_packed I32 +
 * weight_scale). */
bool awq_ct_float_linear(const struct awq_checkpoint *ck, const char *prefix);

/* Dequantize such a linear into out [N, K] fp32 (layouts: ct_float.c).
 * Shapes and dtypes are checked (AWQ_ERR_MISMATCH / AWQ_ERR_FORMAT naming
 * the tensor). */
awq_status awq_ct_float_dequant(awq_ctx *ctx, const struct awq_checkpoint *ck,
                                const char *prefix, int64_t N, int64_t K, float *out);

#endif /* AWQ_LIB_QUANT_CT_H */
