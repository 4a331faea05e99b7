/*
 * lib/quant/formats.h — the table of quantized-checkpoint formats (internal).
 *
 * Two tables, one concern: what a quantized linear looks like on disk.
 *  - awq_qfamily: how the scan recognises the tensors of one quantized
 *    linear (the tensor that claims it: suffix + dtypes, a sibling that must
 *    be there, every sibling's part) and how it resolves in/out features,
 *    bits and scale granularity from the shapes and the config.
 *  - awq_qfmt_info: per awq_pack_kind, its name, a one-line description,
 *    the quant_method values that declare it, and whether awqkit computes
 *    on it or only counts it.
 * Adding a format = one row in each (lib/quant/formats.c).
 */
#ifndef AWQ_LIB_QUANT_FORMATS_H
#define AWQ_LIB_QUANT_FORMATS_H

#include "quant/count_impl.h"

#define AWQ_FAM_MAX_SIB 8

typedef struct awq_fam_tensors {
    const awq_tensor_info *main;
    const awq_tensor_info *sib[AWQ_FAM_MAX_SIB]; /* NULL when absent */
} awq_fam_tensors;

typedef struct awq_qfamily {
    const char *main_suffix;   /* ".qweight", ".weight_packed", "_blocks" */
    uint32_t dtypes;           /* allowed dtypes of the main tensor (bits) */
    int key_sibling;           /* index into sib that must be present to
                                  claim (-1: the suffix is enough) */
    struct {
        const char *suffix;    /* appended to the module stem */
        awq_scan_part part;
    } sib[AWQ_FAM_MAX_SIB];
    /* Fill L->pack, bits, K, N, logical, gran, group_size, ... from the
     * shapes (pack = AWQ_PACK_UNKNOWN when they fit nothing). `module` is
     * the name without the main suffix. */
    void (*resolve)(const awq_scan *s, const char *module, awq_role role,
                    const awq_fam_tensors *t, awq_scan_linear *L);
} awq_qfamily;

const awq_qfamily *awq_qfamilies(size_t *n);

typedef struct awq_qfmt_info {
    awq_pack_kind pack;
    awq_ckpt_kind kind;
    const char *name;          /* awq_pack_kind_name */
    const char *describe;      /* awq_pack_kind_describe */
    const char *methods[4];    /* quant_method values declaring the format
                                  ("mlx": config.json "quantization") */
    bool computable;           /* ppl, verify, audit compute on it ... */
    const char *computed_with; /* ... when declared by this quant_method
                                  (NULL: whatever declares it). FP8 and
                                  NVFP4 are read through compressed-tensors'
                                  config (lib/quant/ctconfig.h) only */
    bool zeros_sampled;        /* AWQ / GPTQ: detect decides the kind from
                                  a sample of qzeros / g_idx (v1 vs v2,
                                  act-order); the others from the table and
                                  their config (compressed-tensors: its
                                  config_groups, per linear) */
} awq_qfmt_info;

/* NULL for NONE / MIXED / UNKNOWN. */
const awq_qfmt_info *awq_qfmt_info_of(awq_pack_kind k);

/* Whether awqkit computes on layout k declared by quant_method `method`
 * ("" or NULL: no quantization_config). */
bool awq_qfmt_computable(awq_pack_kind k, const char *method);

#endif
