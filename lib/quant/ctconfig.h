/*
 * lib/quant/ctconfig.h — the quantization_config of a compressed-tensors
 * checkpoint (quant_method "compressed-tensors", written by llm-compressor):
 * the one parser, scheme table and "which scheme quantizes the module
 * called NAME" lookup of awqkit (internal). Every reader of the format uses
 * it: the checkpoint scan (count, inspect, detect), the forward pass,
 * verify, repack and audit; and it says which of those commands can take
 * a given config (awq_ct_int_scheme, awq_ct_computable).
 *
 * Read from the compressed-tensors package's own source:
 *   quantization/quant_config.py  QuantizationConfig: config_groups (name ->
 *       scheme: targets, weights, input_activations, format), format,
 *       ignore, quant_method, quantization_status, version;
 *   quantization/quant_args.py    weights: num_bits (default 8), type ("int"
 *       default | "float"), symmetric (default true), strategy ("tensor" |
 *       "channel" | "group" | "block" | "tensor_group"; when absent: group
 *       if group_size is set, else tensor), group_size, block_structure,
 *       actorder;
 *   utils/match.py                a target or ignore entry matches a module
 *       when it equals the module's name, or its class name ("Linear"), or
 *       starts with "re:" and the rest matches the start of the name.
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
#include "awqkit/count.h"
#include "awqkit/quant.h"

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* Storage format of a group (its "format", else the top-level "format"). */
typedef enum awq_ct_format {
    AWQ_CT_FMT_UNKNOWN = 0,
    AWQ_CT_FMT_PACK_QUANTIZED = 1,     /* int codes in int32 words */
    AWQ_CT_FMT_NAIVE_QUANTIZED = 2,    /* one code per element: int8, or FP8
                                          E4M3 for float weights (what
                                          llm-compressor writes for FP8
                                          weight-only schemes) */
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

/* "tensor", "channel", ... (static); "unknown". */
const char *awq_ct_strategy_name(awq_ct_strategy s);

/* The weight scheme of one config group. */
typedef struct awq_ct_scheme {
    char name[64];             /* the config_groups key ("group_0") */
    awq_ct_format format;
    char format_text[32];      /* the format as written ("" when absent) */
    bool has_weights;          /* a "weights" object is present */
    int num_bits;
    bool is_float;             /* weights.type "float" (else "int") */
    awq_ct_strategy strategy;
    int group_size;            /* group / tensor_group: > 0; channel: -1;
                                  tensor / block: 0 */
    int block[2];              /* block_structure, 0 when absent */
    bool symmetric;
    bool actorder;             /* actorder "group" (or true): g_idx stored */
    bool act_quant;            /* input_activations present (W*A8 / A4) */
} awq_ct_scheme;

typedef struct awq_ct_config awq_ct_config;

/* quantization_config.quant_method is "compressed-tensors". */
bool awq_ct_is(const struct cJSON *qc);

/* Parse `qc` (the quantization_config object). Fails with AWQ_ERR_FORMAT
 * naming `source` and the field on a malformed group, a target / ignore
 * list that is not a list of strings, or an uncompilable `re:` pattern.
 * *out is owned by the caller (awq_ct_config_free); it keeps no pointer
 * into qc. */
awq_status awq_ct_config_parse(awq_ctx *ctx, const struct cJSON *qc, const char *source,
                               awq_ct_config **out);
void awq_ct_config_free(awq_ct_config *c);

struct awq_checkpoint;
/* The config of a checkpoint's config.json: *out NULL (and AWQ_OK) when its
 * quantization_config is not compressed-tensors; messages name
 * "<dir>/config.json". */
awq_status awq_ct_config_load(awq_ctx *ctx, const struct awq_checkpoint *ck,
                              awq_ct_config **out);

size_t awq_ct_config_n_schemes(const awq_ct_config *c);
const awq_ct_scheme *awq_ct_config_scheme(const awq_ct_config *c, size_t i);
/* The top-level "format" (AWQ_CT_FMT_UNKNOWN when absent). */
awq_ct_format awq_ct_config_format(const awq_ct_config *c);
/* The name messages use for the config ("<dir>/config.json"). */
const char *awq_ct_config_source(const awq_ct_config *c);

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

/* Do the tensors of a linear stored as layout k (the format table's,
 * awqkit/count.h) fit the scheme's format? FP8 weights come as
 * float-quantized or, from llm-compressor's weight-only FP8 schemes, as
 * naive-quantized with float weights. */
bool awq_ct_scheme_fits(const awq_ct_scheme *s, awq_pack_kind k);

/* One line naming a scheme: "group_0: float-quantized fp8 channel",
 * "mlp: pack-quantized int4 group 32 asymmetric". */
void awq_ct_scheme_describe(const awq_ct_scheme *s, char *buf, size_t n);

/* ------------------------------------------ what each command can take */

/* The single integer pack-quantized scheme every quantized Linear uses
 * (what the packed-format machinery of repack and verify reads: one bits /
 * group size / symmetry per checkpoint), or AWQ_ERR_UNSUPPORTED naming the
 * group and what it is instead (float weights, activation quantization,
 * another strategy, several schemes); AWQ_ERR_FORMAT when no group has
 * weights. */
awq_status awq_ct_int_scheme(awq_ctx *ctx, const awq_ct_config *c, const awq_ct_scheme **out);

/* Every weight scheme of c can be computed per linear from its tensors
 * (lib/quant/ct_float.c): weight-only float-quantized / naive-quantized
 * (FP8 or int8 weights stored whole), nvfp4-pack-quantized, or integer
 * pack-quantized group / channel (config groups of different schemes);
 * else false and *why says what is not. ppl, audit and verify take such a
 * config. */
bool awq_ct_computable(const awq_ct_config *c, const char **why);

/* repack's question (lib/quant/ctckpt.c): AWQ_OK when ck is not
 * compressed-tensors or one integer pack-quantized scheme covers it; else
 * AWQ_ERR_UNSUPPORTED naming the first tensor of the config group that
 * cannot be converted exactly to `to` (FP8, NVFP4, int8 naive, activation
 * quantization, several schemes), why, and what to use instead. */
awq_status awq_ct_repack_check(awq_ctx *ctx, const struct awq_checkpoint *ck, awq_qformat to);

/* The weight scheme that quantizes most of ck's weights (ctckpt.c); NULL
 * when no group has weights. */
const awq_ct_scheme *awq_ct_main_scheme(const awq_ct_config *c,
                                        const struct awq_checkpoint *ck);

/* ------------------------------------------------------------- writer */

/* The quantization_config awqkit writes for AWQ_QFMT_CT (a new object,
 * lib/quant/ct.c): one config group targeting Linear with the int weights
 * scheme (group or channel, symmetric or not, actorder "group" when
 * desc_act), format pack-quantized, ignore = lm_head plus every module
 * kept unquantized (exact names as is, substrings as "re:.*<escaped>"). */
awq_status awq_ct_quant_config(awq_ctx *ctx, const awq_qconfig_fields *f,
                               struct cJSON **out);

#endif
