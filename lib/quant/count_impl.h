/*
 * lib/quant/count_impl.h — the checkpoint scan shared by count.c, detect.c
 * and size.c (internal). One pass over the header metadata groups tensors
 * into linears (dense 2-D weights, or packed qweight/qzeros/scales/g_idx
 * families with their K x N resolved from the shapes) and gives every
 * tensor a role. No tensor data is read here.
 */
#ifndef AWQ_LIB_QUANT_COUNT_IMPL_H
#define AWQ_LIB_QUANT_COUNT_IMPL_H

#include "awqkit/count.h"

/* What a tensor is, within the scan. */
typedef enum awq_scan_part {
    AWQ_PART_PLAIN = 0,        /* a tensor of its own (embedding, norm, ...) */
    AWQ_PART_DENSE_WEIGHT = 1, /* 2-D weight of a dense linear */
    AWQ_PART_BIAS = 2,         /* bias of a linear (dense or packed) */
    AWQ_PART_QWEIGHT = 3,      /* packed quantization tensors */
    AWQ_PART_QZEROS = 4,
    AWQ_PART_SCALES = 5,
    AWQ_PART_G_IDX = 6,
    AWQ_PART_TIED_DUP = 7      /* lm_head.weight stored though tied */
} awq_scan_part;

typedef struct awq_scan_tensor {
    awq_role role;
    awq_scan_part part;
    int64_t linear;            /* index into scan.linears, or -1 */
} awq_scan_tensor;

typedef struct awq_scan_linear {
    awq_role role;             /* LINEAR, LM_HEAD or VISION (by name) */
    awq_pack_kind pack;        /* NONE = dense; UNKNOWN = unresolved */
    /* Tensor indices (checkpoint order), -1 when absent. */
    int64_t weight;            /* dense weight, or qweight */
    int64_t qzeros, scales, g_idx, bias;
    int bits;                  /* 0 for dense */
    int group_size;            /* -1 per channel, 0 undetermined */
    bool bits_from_hint;       /* shapes left bits open: config/default used */
    bool group_from_hint;      /* same for the group size */
    int64_t K, N;              /* in / out features (0 when unresolved) */
} awq_scan_linear;

typedef struct awq_scan {
    size_t n_tensors;
    awq_scan_tensor *t;        /* per checkpoint tensor index */
    awq_scan_linear *lin;
    size_t n_lin;
    size_t n_packed;           /* linears with pack != NONE */
    awq_pack_kind pack;        /* over packed linears: one kind, MIXED, or
                                  NONE */
    bool has_config;
    bool tie;                  /* tie_word_embeddings */
    awq_quant_config qc;       /* lenient parse; qc.present false if none */
    char qc_source[32];        /* "config.json", "quantize_config.json" */
} awq_scan;

/* Scan ck. Packed linears are resolved trying the config's method, bits
 * and group size first. *out must be freed with awq_scan_free (also on
 * failure). */
awq_status awq_scan_checkpoint(awq_ctx *ctx, const awq_checkpoint *ck,
                               awq_scan *out);
void awq_scan_free(awq_scan *s);

/* Role of a tensor from its name (see awq_role in count.h), before the
 * 2-D-weight test that separates LINEAR from OTHER. */
awq_role awq_role_from_name(const char *name);

/* Lenient quantization_config reader (fields absent stay 0 / ""). */
void awq_quant_config_lenient(const struct cJSON *qc, awq_quant_config *out);

/* printf into a note slot of a fixed array; drops notes beyond max. */
void awq_note_add(char (*notes)[AWQ_DETECT_NOTE_LEN], int *n, int max,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
