/*
 * awqkit/quant.h — the group quantizer, the canonical quantized tensor, and
 * the packed on-disk formats (AWQ GEMM, AWQ GEMV, GPTQ v1, GPTQ v2).
 *
 * Vocabulary used throughout (PyTorch nn.Linear conventions):
 *   W      the weight, row-major [N, K] fp32: N = out_features (rows),
 *          K = in_features (columns).
 *   group  a run of `group_size` consecutive input columns of one row; the
 *          last group of a row is shorter when group_size does not divide K.
 *          group_size -1 means one group per row ("per channel").
 *   G      number of groups per row = ceil(K / group_len).
 *   code   the unsigned integer q in [0, 2^bits - 1] stored for one weight.
 *   zero   the unsigned zero point z in [0, 2^bits - 1] of one group.
 *   scale  the FP16 step of one group (stored as IEEE binary16 bits).
 *   dequantized weight  w' = (q - z) * scale, computed in fp32 as
 *          (float)(q - z) * (float)scale.
 *
 * Quantization rule (matches AutoAWQ's pseudo_quantize_tensor, in fp32 with
 * the scale rounded to FP16 before codes are chosen — see quantizer.c):
 *   asymmetric  range = max(max - min, 1e-5); scale = f16(range / (2^b - 1));
 *               z = clamp(-rint(min / scale), 0, 2^b - 1);
 *               q = clamp(rint(w / scale) + z, 0, 2^b - 1)
 *   symmetric   amax = max(max|w|, 1e-5); scale = f16(amax / (2^(b-1) - 1));
 *               q = clamp(rint(w / scale), -2^(b-1), 2^(b-1) - 1) + 2^(b-1);
 *               z = 2^(b-1)  (stored in the unsigned zero-point form)
 *   rint rounds half to even. min and max are taken over the group as is:
 *   min <= 0 <= max is NOT forced (AutoAWQ does not force it either).
 *
 * Thread-safety: as for the whole library (awqkit/core.h): one thread per
 * awq_ctx at a time; the functions taking a ctx use its worker threads.
 * Results never depend on the thread count (bit-identical).
 */
#ifndef AWQKIT_QUANT_H
#define AWQKIT_QUANT_H

#include "awqkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* Scale floor (the clamp AutoAWQ applies to max - min, or to max|w|). */
#define AWQ_QUANT_RANGE_FLOOR 1e-5f

/* ---------------------------------------------------- canonical tensor */

/* The canonical unpacked representation exchanged between the quantizer,
 * the packers and the unpackers. Index order (all row-major):
 *   q[n * K + k]        code of W[n, k]                 (N*K bytes)
 *   scales[g * N + n]   FP16 bits of group g of row n   ([G, N])
 *   zeros[g * N + n]    zero point of group g of row n  ([G, N])
 *   g_idx[k]            group of input column k ([K]); NULL means the
 *                       default k / group_len. Non-NULL only for GPTQ
 *                       act-order (desc_act) checkpoints.
 * Dequantized: W'[n, k] = (q[n*K+k] - zeros[g*N+n]) * f16(scales[g*N+n])
 * with g = g_idx ? g_idx[k] : k / group_len.
 * Buffers are owned by the struct (awq_alloc'd) when they come from
 * awq_qtensor_alloc / awq_quantize / awq_unpack; free with awq_qtensor_free. */
typedef struct awq_qtensor {
    int64_t N, K;      /* out_features, in_features */
    int bits;          /* 2, 3, 4 or 8 */
    int group_size;    /* > 0, or -1: one group per row (group_len = K) */
    int64_t n_groups;  /* G = ceil(K / group_len) */
    bool sym;          /* quantized symmetrically: every zero is 2^(bits-1).
                          Informational (it selects the sym / zero_point
                          config fields); dequantization ignores it. */
    uint8_t *q;
    uint16_t *scales;
    uint8_t *zeros;
    int32_t *g_idx;
} awq_qtensor;

/* Length of a group: group_size, or K when group_size is -1. */
int64_t awq_group_len(int64_t K, int group_size);
/* G = ceil(K / group_len) (0 for invalid arguments). */
int64_t awq_n_groups(int64_t K, int group_size);

/* Allocate the buffers of a tensor (contents zero). with_g_idx allocates an
 * explicit g_idx filled with the default k / group_len. Validates bits (2, 3,
 * 4, 8), group_size (> 0 or -1), 1 <= N, K and N*K <= 2^40. */
awq_status awq_qtensor_alloc(awq_ctx *ctx, int64_t N, int64_t K, int bits,
                             int group_size, bool with_g_idx,
                             awq_qtensor *out);
/* Release the buffers and zero the struct. NULL and zeroed structs are OK. */
void awq_qtensor_free(awq_qtensor *t);
/* Deep copy (dst is overwritten, not freed first). */
awq_status awq_qtensor_copy(awq_ctx *ctx, const awq_qtensor *src,
                            awq_qtensor *dst);
/* Same shape, bits, group size and bit-identical codes, scales, zeros and
 * group assignment (a NULL g_idx equals an explicit default one). `sym` is
 * not compared. */
bool awq_qtensor_equal(const awq_qtensor *a, const awq_qtensor *b);
/* Structural validation: codes and zeros <= 2^bits - 1, scales finite and
 * > 0, g_idx entries in [0, G), sym => every zero == 2^(bits-1). Errors are
 * AWQ_ERR_RANGE / AWQ_ERR_INVALID_ARG naming `name` and the index. */
awq_status awq_qtensor_check(awq_ctx *ctx, const char *name,
                             const awq_qtensor *t);
/* True when g_idx is NULL or equals k / group_len for every k. */
bool awq_qtensor_default_g_idx(const awq_qtensor *t);

/* ---------------------------------------------------------- quantizer */

typedef struct awq_quant_params {
    int bits;          /* 2, 3, 4 (default) or 8 */
    int group_size;    /* default 128; any value > 0, or -1 = per channel */
    bool sym;          /* default false: asymmetric with zero point (AWQ) */
} awq_quant_params;

awq_quant_params awq_quant_default_params(void);

/* The oracle for one group: quantize w[0..n) (n >= 1). Writes the FP16 bits
 * of the scale, the zero point and n codes. Returns AWQ_ERR_RANGE when an
 * input is NaN/Inf or the scale exceeds 65504, AWQ_ERR_INVALID_ARG for bad
 * bits / n; it has no context, so it sets no message (awq_quantize_ref does,
 * naming the tensor, row and column). */
awq_status awq_quantize_group_ref(const float *w, int64_t n, int bits,
                                  bool sym, uint16_t *scale, uint8_t *zero,
                                  uint8_t *q);

/* Quantize W [N, K] (fp32, row-major) into *out (allocated here; the caller
 * frees it with awq_qtensor_free; on failure *out is left zeroed). `name`
 * names the tensor in messages (may be NULL). Errors: AWQ_ERR_RANGE for
 * NaN/Inf input ("<name>: non-finite weight at (row, column)") or a scale
 * above the FP16 range ("<name>: group g of row n: scale ... exceeds 65504").
 * awq_quantize_ref is the plain single-threaded oracle; awq_quantize is the
 * threaded, vectorised path and gives bit-identical results. */
awq_status awq_quantize_ref(awq_ctx *ctx, const char *name, const float *w,
                            int64_t N, int64_t K, const awq_quant_params *p,
                            awq_qtensor *out);
awq_status awq_quantize(awq_ctx *ctx, const char *name, const float *w,
                        int64_t N, int64_t K, const awq_quant_params *p,
                        awq_qtensor *out);

/* Pseudo-quantize: out = dequantize(quantize(w)), bit-identical to that
 * composition, without materialising codes. out may equal w (in place).
 * Same errors as awq_quantize (on failure out's contents are unspecified).
 * awq_pseudo_quantize is threaded over rows; _ref is the composition. */
awq_status awq_pseudo_quantize(awq_ctx *ctx, const char *name, const float *w,
                               float *out, int64_t N, int64_t K,
                               const awq_quant_params *p);
awq_status awq_pseudo_quantize_ref(awq_ctx *ctx, const char *name,
                                   const float *w, float *out, int64_t N,
                                   int64_t K, const awq_quant_params *p);

/* Dequantize the canonical form into out [N, K] fp32 (the oracle every
 * packed path is compared against). Threaded; exact formula above. */
awq_status awq_dequantize(awq_ctx *ctx, const awq_qtensor *t, float *out);
/* Rows [r0, r0 + nr) only, into out [nr, K] (same formula; bounded memory
 * for callers that stream a large linear). */
awq_status awq_dequantize_rows(awq_ctx *ctx, const awq_qtensor *t, int64_t r0,
                               int64_t nr, float *out);

/* ------------------------------------------------------ packed formats */

/* Values pinned (CLI --json, layouts.h). */
typedef enum awq_qformat {
    AWQ_QFMT_AWQ_GEMM = 0, /* AutoAWQ "gemm" (default): 4-bit only */
    AWQ_QFMT_AWQ_GEMV = 1, /* AutoAWQ "gemv": 4-bit only */
    AWQ_QFMT_GPTQ = 2,     /* GPTQ v1 (checkpoint_format "gptq"): qzeros
                              store zero - 1; bits 2, 3, 4, 8 */
    AWQ_QFMT_GPTQ_V2 = 3,  /* GPTQ v2 ("gptq_v2"): qzeros store the zero */
    AWQ_QFMT_CT = 4,       /* compressed-tensors "pack-quantized" (int
                              weights, W4A16 / W8A16 of llm-compressor):
                              weight_packed / weight_zero_point /
                              weight_scale / weight_g_idx / weight_shape;
                              bits 2, 3, 4, 8; zero point omitted when
                              symmetric, g_idx when in group order */
    AWQ_QFMT_COUNT = 5
} awq_qformat;

/* One row of the format table (lib/quant/pack.c). Static. */
typedef struct awq_format_info {
    awq_qformat id;
    const char *name;              /* CLI spelling: "awq", "awq-gemv",
                                      "gptq", "gptq-v2" */
    const char *quant_method;      /* quantization_config.quant_method */
    const char *version;           /* AWQ "gemm" / "gemv"; NULL for GPTQ */
    const char *checkpoint_format; /* GPTQ "gptq" / "gptq_v2"; NULL for AWQ */
    int n_tensors;                 /* 3 (AWQ), 4 (GPTQ: + g_idx) or 5
                                      (compressed-tensors: + weight_shape) */
    const char *description;       /* one line, for --help and errors */
} awq_format_info;

/* NULL when out of range. */
const awq_format_info *awq_format_get(awq_qformat f);
/* By CLI name; also accepts "awq-gemm" and "gptq_v2". NULL when unknown. */
const awq_format_info *awq_format_by_name(const char *name);

/* Index of each packed tensor in awq_packed.t[]. Suffixes are appended to
 * the linear's prefix: "<prefix>.qweight" etc. The bias ("<prefix>.bias",
 * F16 [N]) is not part of the packed set: it is copied as is. */
enum {
    AWQ_PT_QWEIGHT = 0, /* I32 */
    AWQ_PT_QZEROS = 1,  /* I32 */
    AWQ_PT_SCALES = 2,  /* F16 */
    AWQ_PT_G_IDX = 3,   /* I32 [K], GPTQ and compressed-tensors */
    AWQ_PT_SHAPE = 4,   /* I64 [2] = [N, K], compressed-tensors only */
    AWQ_PT_MAX = 5
};

/* Tensor suffix of packed part `part` in `format` ("qweight",
 * "weight_packed", ...); NULL when the format has no such part. */
const char *awq_format_suffix(awq_qformat format, int part);



typedef struct awq_packed_tensor {
    const char *suffix;   /* "qweight", "qzeros", "scales", "g_idx" (static) */
    awq_dtype dtype;      /* AWQ_DT_I32 or AWQ_DT_F16 */
    int ndim;             /* 2, or 1 for g_idx */
    int64_t shape[2];
    uint64_t n_bytes;
    void *data;           /* awq_pack: owned (awq_alloc, 64-byte aligned).
                             awq_unpack input: borrowed, may be unaligned
                             (e.g. mmap'd safetensors data). */
} awq_packed_tensor;

typedef struct awq_packed {
    awq_qformat format;
    int n_tensors;                   /* entries [0, n_tensors) are used */
    awq_packed_tensor t[AWQ_PT_MAX];
} awq_packed;

/* An entry of awq_packed that a format leaves out for this linear
 * (compressed-tensors: the zero point of a symmetric linear, the g_idx of
 * one in group order) has ndim 0, n_bytes 0 and data NULL: writers skip
 * it, readers treat it as absent. awq_packed_omit_optional marks them, for
 * shapes planned with awq_packed_shapes (awq_pack marks them itself). */
static inline bool awq_packed_part_absent(const awq_packed_tensor *t) {
    return t->ndim == 0;
}
void awq_packed_omit_optional(awq_packed *p, bool sym, bool default_g_idx);

/* Whether `format` can store a linear with these dimensions. On false,
 * *why (if not NULL) points to a static English reason. Rules:
 *   AWQ GEMM  bits 4; group_size -1 or > 0 dividing K; N % 8 == 0.
 *   AWQ GEMV  as GEMM, plus K % 8 == 0 and group_len 32, 64 or >= 128
 *             (AutoAWQ's calculate_zeros_width supports nothing else).
 *   GPTQ v1/v2  bits 2, 4, 8: K and N multiples of 32/bits; bits 3: K and
 *             N multiples of 32 (3-bit fields cross word boundaries).
 *             group_size -1 or > 0; K % group_size != 0 is storable (the
 *             last group is partial, G = ceil(K/g), as AutoGPTQ does), but
 *             inference kernels such as vLLM's require K % g == 0. */
bool awq_linear_packable(awq_qformat format, int64_t K, int64_t N, int bits,
                         int group_size, const char **why);

/* Fill out's suffixes, dtypes, shapes and byte sizes for a linear (data
 * NULL). Fails like awq_linear_packable, with the reason as message. */
awq_status awq_packed_shapes(awq_ctx *ctx, awq_qformat format, int64_t K,
                             int64_t N, int bits, int group_size,
                             awq_packed *out);

typedef struct awq_pack_params {
    /* GPTQ v1 stores zero - 1 in an unsigned field, so a zero point of 0
     * cannot be stored (it would become -1 and spill into the neighbouring
     * fields). false (default): awq_pack fails with AWQ_ERR_LOSSY and the
     * number of such groups. true: those groups are re-quantized with a
     * zero point of 1: the better (smaller squared change of the dequantized
     * values) of (a) codes q+1 capped at 2^b-1 with the same scale and (b)
     * scale' = f16(scale * maxq / (maxq - 1)) with codes re-rounded from
     * the dequantized values. The report says how much changed. */
    bool allow_lossy;
} awq_pack_params;

awq_pack_params awq_pack_default_params(void);

typedef struct awq_pack_report {
    int64_t n_lossy_groups;   /* groups re-quantized (allow_lossy) */
    int64_t n_changed_codes;  /* weights whose dequantized value changed */
    double max_abs_change;    /* largest |w'_new - w'_old| */
} awq_pack_report;

/* Pack the canonical tensor t into `format`. out's buffers are allocated
 * here (free with awq_packed_free; on failure out is zeroed). rep may be
 * NULL. Errors: not packable (AWQ_ERR_UNSUPPORTED with the reason); AWQ
 * layouts with a non-default g_idx (act-order) -> AWQ_ERR_LOSSY; GPTQ v1
 * with zero points of 0 and !allow_lossy -> AWQ_ERR_LOSSY with the count.
 * For AWQ layouts, zeros are stored as is and scales as given; GPTQ
 * writes g_idx (the default one when t->g_idx is NULL). t is validated with
 * awq_qtensor_check first. `name` names the linear in messages. */
awq_status awq_pack(awq_ctx *ctx, const char *name, awq_qformat format,
                    const awq_qtensor *t, const awq_pack_params *p,
                    awq_packed *out, awq_pack_report *rep);
/* Free owned buffers and zero the struct (NULL OK). Only for awq_pack
 * results: views built by the caller own nothing. */
void awq_packed_free(awq_packed *p);

typedef struct awq_unpack_params {
    int bits;          /* from quantization_config */
    int group_size;    /* from quantization_config (-1 = per channel) */
    bool sym;          /* config says symmetric (GPTQ sym / AWQ !zero_point):
                          every decoded zero must then be 2^(bits-1) */
} awq_unpack_params;

/* Decode packed tensors (in->t[i].data borrowed; may be unaligned) into
 * the canonical form *out (allocated here). K and N are derived from the
 * shapes and checked for consistency between the tensors (AWQ_ERR_MISMATCH
 * naming the tensor and both shapes). GEMV padding (scales / qzeros beyond
 * G) is ignored. GPTQ: g_idx is validated ([0, G)); a default g_idx gives
 * out->g_idx == NULL. GPTQ v1: a stored zero field of 2^bits - 1 would mean
 * a zero of 2^bits, which is AWQ_ERR_RANGE (either a v1 writer overflowed a
 * zero of 0 or the file stores true zeros: see awq_gptq_detect_zeros).
 * To read a v1-labelled checkpoint that stores true zeros, unpack it as
 * AWQ_QFMT_GPTQ_V2 (the layouts are otherwise identical). */
awq_status awq_unpack(awq_ctx *ctx, const char *name, awq_qformat format,
                      const awq_packed *in, const awq_unpack_params *p,
                      awq_qtensor *out);

/* What the stored GPTQ qzeros of one linear say about their convention. */
typedef enum awq_gptq_zeros_kind {
    AWQ_GPTQ_ZEROS_V1 = 0,        /* consistent with zero - 1 (or no
                                     evidence either way) */
    AWQ_GPTQ_ZEROS_TRUE = 1,      /* evidence of true (v2) zeros */
    AWQ_GPTQ_ZEROS_AMBIGUOUS = 2, /* fields of 2^bits - 1 that are either
                                     v1 overflow of zero-0 groups (corrupt)
                                     or true zeros of 2^bits - 1 */
    AWQ_GPTQ_ZEROS_V1_SYM = 3     /* evidence of v1: symmetric, every field
                                     2^(bits-1) - 1 */
} awq_gptq_zeros_kind;

/* Inspect the stored qzeros fields of a GPTQ linear (in->t[AWQ_PT_QZEROS],
 * shape [G, N*bits/32]) to detect v1-labelled checkpoints storing true
 * zeros. Rules, first match wins:
 *   1. sym and every field == 2^(b-1)       -> TRUE (v1 would store 2^(b-1)-1)
 *   2. sym and every field == 2^(b-1) - 1   -> V1_SYM
 *   3. bits 2/4/8: a field == 2^b - 1 with a lower field above it in the
 *      same word (a v1 writer's -1 overflow sets every higher field of the
 *      word to all-ones, so this cannot come from one)  -> TRUE
 *   4. any field == 2^b - 1                 -> AMBIGUOUS
 *   5. otherwise                            -> V1
 * *why (optional) gets a static explanation. Invalid shapes: AMBIGUOUS. */
awq_gptq_zeros_kind awq_gptq_detect_zeros(const awq_packed *in, int bits,
                                          bool sym, const char **why);

/* quantization_config fields for a format. */
typedef struct awq_qconfig_fields {
    int bits;
    int group_size;                     /* -1 = per channel */
    bool sym;                           /* AWQ: zero_point = !sym */
    bool desc_act;                      /* GPTQ act-order */
    /* Modules kept unquantized (substrings of module names, AutoAWQ's
     * convention); may be NULL. */
    const char *const *modules_to_not_convert;
    int n_modules_to_not_convert;
} awq_qconfig_fields;

/* Build the quantization_config object for `format` (a new cJSON object the
 * caller deletes with cJSON_Delete):
 *   AWQ   {"quant_method":"awq","bits":4,"group_size":128,"zero_point":true,
 *          "version":"gemm"|"gemv","modules_to_not_convert":[...]}
 *   GPTQ  {"quant_method":"gptq","bits":4,"group_size":128,"desc_act":false,
 *          "sym":true,"checkpoint_format":"gptq"|"gptq_v2"}
 *         plus, when modules are kept unquantized, "modules_to_not_convert"
 *         (as AWQ, so a repack back to AWQ restores it) and the GPTQModel /
 *         vLLM "dynamic" skip rules {"-:.*<escaped module>.*": {}}. */
awq_status awq_format_quant_config(awq_ctx *ctx, awq_qformat format,
                                   const awq_qconfig_fields *f,
                                   struct cJSON **out);

/* ------------------------------------------------ quantized checkpoints */

struct awq_checkpoint;

/* How GPTQ qzeros are read. */
typedef enum awq_zeros_mode {
    AWQ_ZEROS_AUTO = 0,  /* the label; true zeros found by
                            awq_gptq_detect_zeros under a v1 label are a
                            mismatch (refused, not guessed) */
    AWQ_ZEROS_AS_V1 = 1, /* zero - 1, whatever the label */
    AWQ_ZEROS_AS_V2 = 2  /* true zeros, whatever the label */
} awq_zeros_mode;

/* The packed format of a checkpoint: quantization_config of config.json,
 * checked against the tensors. */
typedef struct awq_qckpt {
    awq_qformat labelled;  /* what quantization_config says (GPTQ without
                              checkpoint_format: v1) */
    awq_qformat format;    /* how the tensors are decoded: labelled, except
                              a v1 label read as true zeros (GPTQ_V2) */
    int bits;
    int group_size;        /* -1 = per channel */
    bool sym;              /* GPTQ "sym" / AWQ !"zero_point" */
    bool sym_given;        /* the config states it (GPTQ may omit "sym") */
    bool desc_act;
    int64_t n_linears;     /* tensors named <prefix>.qweight */
    bool zeros_reinterpreted; /* labelled v1, decoded as true zeros */
    char zeros_note[256];  /* how the GPTQ zero convention was decided */
} awq_qckpt;

/* Resolve the packed format of `ck`: quant_method "awq" (version "gemm",
 * absent = gemm, or "gemv") or "gptq" (checkpoint_format "gptq", absent =
 * v1, or "gptq_v2"); other methods / versions are AWQ_ERR_UNSUPPORTED. The
 * first packed linear's shapes must fit the labelled layout (else
 * AWQ_ERR_MISMATCH saying which layout the shapes do fit). For a v1 label
 * with mode AUTO, every linear's qzeros are inspected with
 * awq_gptq_detect_zeros: TRUE evidence in any linear is AWQ_ERR_MISMATCH
 * naming how many linears and the first (the label and the data disagree:
 * the caller chooses with AWQ_ZEROS_AS_V1 / _V2). No
 * config / no quantization_config / no packed linear: AWQ_ERR_NOT_FOUND. */
awq_status awq_qckpt_detect(awq_ctx *ctx, const struct awq_checkpoint *ck,
                            awq_zeros_mode mode, awq_qckpt *out);

/* Read the packed linear `prefix` (e.g. "model.layers.0.self_attn.q_proj":
 * tensors <prefix>.qweight/.qzeros/.scales[/.g_idx]) of ck into the
 * canonical form (allocated here). Missing parts are AWQ_ERR_NOT_FOUND
 * naming the tensor; shapes, dtypes and values are checked as awq_unpack
 * does. */
awq_status awq_qlinear_read(awq_ctx *ctx, const struct awq_checkpoint *ck,
                            const char *prefix, const awq_qckpt *q,
                            awq_qtensor *out);

/* ----------------------------------------------------------------- repack */

typedef struct awq_repack_params {
    awq_qformat to;            /* default AWQ_QFMT_AWQ_GEMM */
    /* Accept conversions that change values: GPTQ v1 output of zero-0
     * groups (see awq_pack_params), and act-order GPTQ to AWQ (dequantized
     * and re-quantized with the same bits / group size). Default false:
     * such conversions fail with AWQ_ERR_LOSSY before anything is kept. */
    bool allow_lossy;
    bool force;                /* write into a non-empty output directory */
    uint64_t max_shard_bytes;  /* 0: the input's largest shard (keeps the
                                  shard layout about the same) */
    awq_zeros_mode zeros;      /* how GPTQ input zeros are read */
} awq_repack_params;

awq_repack_params awq_repack_default_params(void);

typedef struct awq_repack_result {
    awq_qckpt in;              /* the input's format, as detected */
    awq_qformat to;
    int64_t n_linears;         /* packed linears converted */
    int64_t n_tensors_copied;  /* other tensors, copied bit for bit */
    int64_t n_files_copied;    /* auxiliary files (tokenizer, ...) */
    int64_t n_lossy_groups;    /* GPTQ v1 zero-0 groups re-quantized */
    int64_t n_changed_codes;   /* weights whose value changed (lossy) */
    double max_abs_change;
    int64_t n_requantized;     /* act-order linears re-quantized for AWQ */
    double max_requant_rel_err;/* worst ||W_new - W_old|| / ||W_old|| */
    uint64_t bytes_written;    /* tensor data bytes */
    size_t n_shards;
} awq_repack_result;

/* Convert the packed checkpoint in_dir to format p->to in out_dir.
 * Quantized linears are decoded to the canonical form and re-packed, so
 * codes, scales and zeros are reused exactly (lossless: repacking back
 * gives bit-identical tensors). Every other tensor is copied bit for bit,
 * in the input's order; every other regular file of in_dir (tokenizer,
 * generation_config.json, chat templates, preprocessor configs, README) is
 * copied, except weights, quantize_config.json / quant_config.json (stale
 * format descriptions) and hidden files; config.json is copied with only
 * quantization_config replaced. Works one linear at a time (peak memory:
 * about 3 bytes per weight of the largest linear, plus mmap'd input).
 * Refuses: out_dir equal to (or inside) in_dir (AWQ_ERR_INVALID_ARG), a
 * non-empty out_dir without p->force (AWQ_ERR_EXISTS), lossy conversions
 * without allow_lossy (AWQ_ERR_LOSSY, after counting all affected groups /
 * linears). On any failure nothing is left in out_dir (temporaries are
 * removed; a directory created here is removed). res may be NULL. */
awq_status awq_repack(awq_ctx *ctx, const char *in_dir, const char *out_dir,
                      const awq_repack_params *p, awq_repack_result *res);

/* ----------------------------------------------------------------- verify */

typedef struct awq_verify_params {
    const char *against;       /* FP16/BF16 source checkpoint, or NULL */
    /* Pass bound on each linear's scale-corrected relative error (see
     * awq_verify_linear); 0 = awq_verify_default_bound(bits, group). */
    double max_rel_err;
    awq_zeros_mode zeros;
} awq_verify_params;

awq_verify_params awq_verify_default_params(void);

/* Default bound: 3x the RMS relative error of round-to-nearest on Gaussian
 * weights, 2*sqrt(2 ln g) / ((2^b - 1) * sqrt(12)) (expected group range
 * over the step count), capped at 0.9; g = 4096 for per-channel. 4-bit
 * g128: 0.36. Generous on purpose: it separates working checkpoints
 * (typically 0.05-0.15 at 4 bits) from broken packing (~1). */
double awq_verify_default_bound(int bits, int group_size);

typedef struct awq_verify_linear {
    char name[192];            /* prefix */
    int64_t K, N;
    /* With --against: ||W' - W|| / ||W|| (Frobenius), and the same after
     * undoing the scales AWQ folds in: a linear's input columns are scaled
     * by s, and the previous op (a norm, or up_proj / v_proj's output
     * rows) by 1/s, so a correct AWQ checkpoint matches W only up to a row
     * and a column diagonal: ||D_r W' D_c - W|| / ||W|| with D_r, D_c
     * fitted by alternating least squares (3 rounds). -1 when not
     * computed. */
    double rel_err;
    double rel_err_scaled;
    bool ok;
    /* compressed-tensors float weights (FP8, NVFP4), with --against: source
     * weights farther than half the format's grid step from their stored
     * code (times its scale), and the largest error in half steps; -1 /
     * -1 when not checked (integer codes are held to the bound instead). */
    int64_t n_off_step;
    double worst_step;
} awq_verify_linear;

#define AWQ_VERIFY_MAX_PROBLEMS 32

typedef struct awq_verify_result {
    bool ok;                   /* every check passed */
    awq_qckpt q;
    int64_t n_tensors;
    int64_t n_linears;
    uint64_t logical_params;   /* awq_count logical count of the checkpoint */
    uint64_t linear_params;    /* sum of K x N over packed linears */
    bool have_against;
    uint64_t against_logical_params;
    bool params_equal;         /* logical counts agree (with --against) */
    double bound;
    double max_rel_err_scaled; /* worst linear (with --against) */
    double mean_rel_err_scaled;
    int64_t n_failed_linears;
    awq_verify_linear *linears;/* n_linears records, owned */
    int n_problems;            /* findings, first AWQ_VERIFY_MAX_PROBLEMS */
    int64_t n_problems_total;
    char problems[AWQ_VERIFY_MAX_PROBLEMS][256];
    /* compressed-tensors checkpoints read per linear (FP8, NVFP4, int8
     * naive, several schemes): its config groups, "; "-separated, and q
     * left with bits 0; "" otherwise */
    char scheme[240];
} awq_verify_result;

/* Check the packed checkpoint `dir`: format resolution (awq_qckpt_detect),
 * every packed linear complete and decodable (shapes, dtypes, zero fields,
 * g_idx range), scales finite and > 0, GEMV padding zero, bias [N], no
 * orphan packed tensors, float tensors finite; with p->against: the same
 * tensor set otherwise, logical parameter counts equal (awq_count), and per
 * linear the dequantized weight against the source's <prefix>.weight
 * within the bound. Findings do not fail the call: they clear res->ok and
 * are listed in res->problems. Returns an error only when the check cannot
 * run (unreadable checkpoint, no quantization_config, out of memory).
 * Free res with awq_verify_result_free. */
awq_status awq_verify(awq_ctx *ctx, const char *dir,
                      const awq_verify_params *p, awq_verify_result *res);
void awq_verify_result_free(awq_verify_result *res);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_QUANT_H */
