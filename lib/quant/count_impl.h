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
    AWQ_PART_TIED_DUP = 7,     /* lm_head.weight stored though tied */
    AWQ_PART_QAUX = 8,         /* any other tensor of a quantized linear's
                                  format (weight_shape, absmax, quant_map,
                                  quant_state, SCB, global / input scales) */
    AWQ_PART_DENSE_TWIN = 9    /* a dense .weight stored next to the packed
                                  tensors of the same linear (ambiguous) */
} awq_scan_part;

/* The tensor belongs to a quantized linear's format (not its bias). */
static inline bool awq_scan_part_is_quant(awq_scan_part p) {
    return p == AWQ_PART_QWEIGHT || p == AWQ_PART_QZEROS || p == AWQ_PART_SCALES ||
           p == AWQ_PART_G_IDX || p == AWQ_PART_QAUX;
}

/* Granularity of a quantized linear's scales. */
typedef enum awq_scan_gran {
    AWQ_GRAN_NONE = 0,         /* dense, or not determined */
    AWQ_GRAN_GROUP = 1,        /* groups of group_size along K */
    AWQ_GRAN_CHANNEL = 2,      /* one scale per output row */
    AWQ_GRAN_TENSOR = 3,       /* one scale for the whole matrix */
    AWQ_GRAN_BLOCK = 4         /* 2-D blocks block[0] x block[1] (N x K) */
} awq_scan_gran;

#define AWQ_SCAN_MAX_AUX 6

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
    int64_t aux[AWQ_SCAN_MAX_AUX]; /* AWQ_PART_QAUX tensors, n_aux of them */
    int n_aux;
    int64_t dense_twin;        /* a dense .weight of the same module stored
                                  as well (-1 when none) */
    uint64_t logical;          /* weights of the linear (K x N, or for a
                                  flat layout such as bitsandbytes 4-bit the
                                  element count it stands for) */
    awq_scan_gran gran;
    int block[2];              /* AWQ_GRAN_BLOCK: rows x cols of a block */
    bool is_float;             /* FP8 / FP4 codes (not integers) */
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
    size_t n_dense_twins;      /* dense .weight stored next to a packed one */
    awq_pack_kind pack;        /* over packed linears: one kind, MIXED, or
                                  NONE */
    bool has_config;
    bool tie;                  /* tie_word_embeddings */
    awq_quant_config qc;       /* lenient parse; qc.present false if none */
    char qc_source[32];        /* "config.json", "quantize_config.json" */
    struct awq_ct_config *ct;  /* compressed-tensors schemes (NULL unless
                                  quant_method is compressed-tensors) */
    int mlx_bits, mlx_group;   /* config.json "quantization" (MLX), 0 if none */
    const struct cJSON *mlx_q; /* that object (per-module overrides), or NULL */
    const struct cJSON *qc_json; /* the quantization_config object, or NULL
                                  (owned by the checkpoint or by qc_doc) */
    struct cJSON *qc_doc;      /* a stand-alone config file's parse, owned */
    /* config.json as a model config, when it parses and names a known
     * architecture (NULL otherwise): gives flat layouts (bitsandbytes
     * 4-bit) their in / out features back. Owned. */
    awq_model_config *mcfg;
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
