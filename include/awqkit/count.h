/*
 * awqkit/count.h — what a checkpoint holds: its kind (dense / AWQ / GPTQ),
 * its parameters counted three ways, and what it would weigh in each format.
 *
 * Why three counts. A packed 4-bit linear stores its K x N weights as int32
 * words (8 codes per word) plus per-group scales and zeros. Tools that sum
 * tensor element counts, or PyTorch's model.parameters() (where the packed
 * tensors are buffers, not parameters), therefore report a fraction of the
 * model: an AWQ Qwen2.5-VL-3B-Instruct "has 0.98B parameters". The logical
 * count undoes the packing from the shapes and the format:
 *
 *   stored   every tensor's element count in the files (packed int32 words
 *            counted once each) — what safetensors metadata sums.
 *   loaded   stored minus the packed quantization tensors of each packed
 *            linear (qweight, qzeros, scales, g_idx) — what model.parameters()
 *            reports after loading; the surprising figure.
 *   logical  each packed linear's weight counted as in_features x
 *            out_features, reconstructed from the packed shapes; every other
 *            tensor as stored. For a dense checkpoint the three agree.
 *
 * Tied embeddings: when config.json says tie_word_embeddings and
 * lm_head.weight is stored anyway, the duplicate is counted once in loaded
 * and logical (PyTorch shares the tensor) and the result says so
 * (tied_duplicate_dropped); `stored` still includes it.
 *
 * Effective bits per weight of the quantized linears:
 *   8 x bytes(qweight + qzeros + scales + g_idx) / logical weights.
 * Biases are excluded: they are not part of the weight matrix and stay FP16
 * in every format (a Qwen2 q_proj bias is 1/K of the weight's elements).
 * For the whole checkpoint: 8 x (all tensor data bytes) / logical params
 * (file headers excluded; file_bytes reports them separately).
 *
 * Everything here reads safetensors headers and config.json only, except
 * awq_detect, which samples a few qzeros / g_idx words to tell GPTQ v1 from
 * v2 and act-order from plain order. No function keeps pointers into the
 * checkpoint after it returns. Thread-safety: as any call on a ctx.
 */
#ifndef AWQKIT_COUNT_H
#define AWQKIT_COUNT_H

#include "awqkit/checkpoint.h"
#include "awqkit/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ tensor roles */

/* Role of a tensor, from its name alone (architecture-independent):
 *   VISION   anything under a vision tower / projector: a path component
 *            "visual", "vision_tower", "vision_model", "multi_modal_projector"
 *            or "mm_projector" (checked first: a vision norm is VISION)
 *   LM_HEAD  a component "lm_head"
 *   EMBED    a component "embed_tokens", "wte", "word_embeddings",
 *            "tok_embeddings"
 *   NORM     a component containing "norm", or starting with "ln_"
 *   LINEAR   the remaining 2-D ".weight" tensors, their ".bias", and every
 *            tensor of a packed linear (qweight/qzeros/scales/g_idx/bias)
 *   OTHER    the rest (rotary inv_freq buffers, scalars, ...)
 * LINEAR counts the decoder's linears whether they are packed or not, so an
 * FP16 model and its AWQ version show the same logical figure per role. */
typedef enum awq_role {
    AWQ_ROLE_LINEAR = 0,
    AWQ_ROLE_EMBED = 1,
    AWQ_ROLE_LM_HEAD = 2,
    AWQ_ROLE_NORM = 3,
    AWQ_ROLE_VISION = 4,
    AWQ_ROLE_OTHER = 5,
    AWQ_ROLE_COUNT = 6
} awq_role;

/* "linear", "embed", "lm_head", "norm", "vision", "other" (static). */
const char *awq_role_name(awq_role r);

/* Packed-linear layouts (shapes for bits b, p = 32 / b codes per int32 word,
 * K = in_features, N = out_features, g = group size, G = ceil(K / g)):
 *   AWQ_GEMM  qweight [K, N/p]  qzeros [G, N/p]  scales [G, N]
 *   AWQ_GEMV  qweight [N, K/p]  qzeros [N, ceil(G/p)]  scales [N, p*ceil(G/p)]
 *   GPTQ      qweight [K/p, N]  qzeros [G, N/p]  scales [G, N]  g_idx [K]
 * GPTQ v1 and v2 share shapes; they differ in the stored zeros (v1 stores
 * zero - 1). The exact shapes (GEMV padding included) are those of
 * lib/quant/layouts.h, which the detection checks every reading against. */
typedef enum awq_pack_kind {
    AWQ_PACK_NONE = 0,         /* no packed linears (dense checkpoint) */
    AWQ_PACK_AWQ_GEMM = 1,
    AWQ_PACK_AWQ_GEMV = 2,
    AWQ_PACK_GPTQ = 3,
    AWQ_PACK_MIXED = 4,        /* packed linears in more than one layout */
    AWQ_PACK_UNKNOWN = 5,      /* quantization tensors (a qweight, an
                                  integer / FP8 .weight, ...) whose shapes
                                  or names fit no known layout: never dense */
    /* Formats counted and described (not computed on) — the format table
     * in lib/quant/formats.c has each one's tensors and shapes: */
    AWQ_PACK_CT_INT = 6,       /* compressed-tensors pack-quantized */
    AWQ_PACK_CT_NAIVE = 7,     /* compressed-tensors naive / int-quantized */
    AWQ_PACK_FP8 = 8,          /* F8_E4M3 weight + weight_scale (tensor /
                                  channel / block): compressed-tensors
                                  float-quantized, vLLM / ModelOpt fp8 */
    AWQ_PACK_FP8_BLOCK = 9,    /* F8_E4M3 weight + weight_scale_inv blocks
                                  (DeepSeek-V3, Qwen3-FP8) */
    AWQ_PACK_NVFP4 = 10,       /* compressed-tensors nvfp4-pack-quantized */
    AWQ_PACK_MXFP4 = 11,       /* gpt-oss *_blocks / *_scales, and
                                  compressed-tensors mxfp4-pack-quantized */
    AWQ_PACK_BNB_4BIT = 12,    /* bitsandbytes nf4 / fp4 */
    AWQ_PACK_BNB_8BIT = 13,    /* bitsandbytes LLM.int8 (SCB) */
    AWQ_PACK_MLX = 14,         /* MLX affine: uint32 weight, scales, biases */
    AWQ_PACK_KIND_COUNT = 15
} awq_pack_kind;

/* "none", "awq-gemm", "awq-gemv", "gptq", "mixed", "unknown", "ct-int",
 * "ct-naive", "fp8", "fp8-block", "nvfp4", "mxfp4", "bnb-4bit", "bnb-8bit",
 * "mlx" (static). */
const char *awq_pack_kind_name(awq_pack_kind k);

/* One line saying what the layout stores, e.g. "compressed-tensors
 * pack-quantized: int codes in int32 weight_packed [N, K*b/32],
 * weight_scale, weight_zero_point (asymmetric)" (static). */
const char *awq_pack_kind_describe(awq_pack_kind k);

/* Whether awqkit computes on the layout (ppl, verify, repack, audit) or
 * only counts and describes it. */
bool awq_pack_kind_computable(awq_pack_kind k);

/* ------------------------------------------------------------- counting */

/* One row of a breakdown. Element counts, not bytes, except `bytes`. */
typedef struct awq_count_row {
    uint64_t n_tensors;
    uint64_t stored;           /* elements as stored */
    uint64_t loaded;           /* see the top of this file */
    uint64_t logical;
    uint64_t bytes;            /* tensor data bytes */
} awq_count_row;

typedef struct awq_count_result {
    uint64_t n_tensors;
    size_t n_shards;
    uint64_t stored;           /* stored elements */
    uint64_t loaded;           /* loaded parameters */
    uint64_t logical;          /* logical parameters */
    uint64_t tensor_bytes;     /* sum of tensor data bytes */
    uint64_t file_bytes;       /* sum of shard file sizes (headers included) */

    awq_count_row by_role[AWQ_ROLE_COUNT];
    awq_count_row by_dtype[AWQ_DT_COUNT]; /* by stored dtype */

    /* Packed linears. quant_bytes covers qweight + qzeros + scales + g_idx
     * (not bias); quant_logical is the sum of K x N. */
    uint64_t n_quant_linears;
    uint64_t quant_logical;
    uint64_t quant_bytes;
    double quant_bits_per_weight; /* 8 * quant_bytes / quant_logical; 0 if none */
    double bits_per_param;     /* 8 * tensor_bytes / logical; 0 if empty */
    int quant_bits;            /* bits per code used to unpack; 0 if none */
    awq_pack_kind pack;        /* layout of the packed linears */
    /* Packed linears whose shapes fit no layout: their tensors are counted
     * as stored (logical = stored) so the total stays a lower bound. */
    uint64_t n_unresolved;

    /* Tied embeddings. */
    bool has_config;           /* config.json was found */
    bool tie_word_embeddings;  /* as config.json says (top level or
                                  text_config); false without a config */
    bool lm_head_stored;       /* an lm_head weight is in the files */
    bool tied_duplicate_dropped; /* stored and tied: counted once */
} awq_count_result;

/* Count `ck` (headers and config.json only; no tensor data is read).
 * *out is fully overwritten. Fails only on hostile shapes (element counts
 * overflowing 64 bits): AWQ_ERR_FORMAT naming the tensor. */
awq_status awq_count(awq_ctx *ctx, const awq_checkpoint *ck,
                     awq_count_result *out);

/* ------------------------------------------------------------- detection */

/* Kind of a whole checkpoint. DENSE_* when no packed linear exists (the
 * dtype holding most floating-point bytes; MIXED when no dtype holds 90%). */
typedef enum awq_ckpt_kind {
    AWQ_CKPT_UNKNOWN = 0,      /* no floating tensors and nothing packed */
    AWQ_CKPT_DENSE_F16 = 1,
    AWQ_CKPT_DENSE_BF16 = 2,
    AWQ_CKPT_DENSE_F32 = 3,
    AWQ_CKPT_DENSE_MIXED = 4,
    AWQ_CKPT_AWQ_GEMM = 5,
    AWQ_CKPT_AWQ_GEMV = 6,
    AWQ_CKPT_GPTQ_V1 = 7,
    AWQ_CKPT_GPTQ_V2 = 8,
    AWQ_CKPT_GPTQ = 9,         /* GPTQ, v1/v2 undecided (neither zeros nor
                                  config tell) */
    AWQ_CKPT_PACKED_OTHER = 10,/* mixed layouts, or shapes fitting none */
    /* One per counted-only layout (awq_pack_kind 6..14, same order): */
    AWQ_CKPT_CT_INT = 11,
    AWQ_CKPT_CT_NAIVE = 12,
    AWQ_CKPT_FP8 = 13,
    AWQ_CKPT_FP8_BLOCK = 14,
    AWQ_CKPT_NVFP4 = 15,
    AWQ_CKPT_MXFP4 = 16,
    AWQ_CKPT_BNB_4BIT = 17,
    AWQ_CKPT_BNB_8BIT = 18,
    AWQ_CKPT_MLX = 19
} awq_ckpt_kind;

/* "fp16", "bf16", "fp32", "dense-mixed", "awq-gemm", "awq-gemv",
 * "gptq-v1", "gptq-v2", "gptq", "packed-other", "unknown", and for 11..19
 * the awq_pack_kind_name of the layout (static). */
const char *awq_ckpt_kind_name(awq_ckpt_kind k);

#define AWQ_DETECT_MAX_NOTES 24
#define AWQ_DETECT_NOTE_LEN 256

typedef struct awq_detect_result {
    awq_ckpt_kind kind;
    awq_pack_kind pack;
    awq_dtype float_dtype;     /* dtype with most floating bytes (F16 if none) */

    /* From the tensors (0 / -2 when not determinable; group_size -1 means
     * one group per input row = per-channel). */
    int n_packed_linears;
    int bits;
    int group_size;
    bool has_g_idx;
    bool act_order;            /* some sampled g_idx[k] != k / g */
    /* GPTQ zeros: 1 or 2 when the sampled qzeros decide (every code equal
     * to 2^(b-1) - 1: v1 symmetric; 2^(b-1): v2 symmetric; asymmetric: mean
     * code below 2^(b-1) - 1.25 reads as v1, above 2^(b-1) - 0.75 as v2 —
     * a heuristic, see notes — unless a stored word proves true zeros);
     * 0 when undecided (blank data, mixed codes near the threshold). */
    int gptq_version;
    bool zeros_symmetric;      /* every sampled code equal; for the
                                  counted-only formats: no zero-point tensor */
    bool data_blank;           /* sampled qzeros and g_idx all zero */

    /* The format in words ("compressed-tensors pack-quantized int4
     * asymmetric, group 128", "bitsandbytes nf4, blocksize 64", "fp16
     * dense") and its effective bits per weight over the quantized linears
     * (8 x bytes of their quantization tensors / their logical weights; 0
     * for a dense checkpoint), both from headers and config alone. */
    char format[128];
    double bits_per_weight;
    /* Linears stored both dense (.weight) and quantized: loaders disagree
     * on which one wins (awqkit reads neither: see awq_detect_ambiguous). */
    int n_dense_twins;

    /* config.json quantization_config (or quantize_config.json), parsed
     * leniently: fields absent stay 0 / "" (quant.present false when none). */
    awq_quant_config config;
    /* Every checked field of the config agrees with the tensors (true when
     * there is nothing to compare: dense without quantization_config). */
    bool config_agrees;

    /* Findings, disagreements first, each one line (NUL-terminated). */
    int n_notes;
    char notes[AWQ_DETECT_MAX_NOTES][AWQ_DETECT_NOTE_LEN];
} awq_detect_result;

/* Whether awqkit computes on the detected checkpoint (ppl, verify, audit):
 * the format table's answer for d->pack declared by d's quant_method
 * (compressed-tensors int / naive / FP8 / NVFP4 are; FP8 and NVFP4 only
 * under compressed-tensors' config). d is borrowed. */
bool awq_detect_computable(const awq_detect_result *d);

/* Detect the kind of `ck` from shapes + config + a sample of qzeros / g_idx
 * data (the first 8 KiB of each of at most 8 packed linears spread over the
 * model). GPTQ v1 vs v2: the symmetric patterns above, else the packers'
 * evidence test (awq_gptq_detect_zeros: an all-ones field followed by other
 * values in its word cannot come from a v1 writer), else the mean-code
 * heuristic. *out is fully overwritten. Disagreements are reported in the
 * result, not as failures; fails only on allocation. */
awq_status awq_detect(awq_ctx *ctx, const awq_checkpoint *ck,
                      awq_detect_result *out);

/* -------------------------------------------------------------- sizing */

/* Storage formats `size` knows. Linear weights use the format; everything
 * else (embeddings, lm_head, norms, biases, vision tower, linears that
 * cannot be packed) stays 16-bit (FP32 format: 32-bit). */
typedef enum awq_size_format {
    AWQ_SIZE_FP32 = 0,
    AWQ_SIZE_FP16 = 1,
    AWQ_SIZE_BF16 = 2,
    AWQ_SIZE_FP8 = 3,          /* E4M3 weight + one F32 scale per tensor */
    AWQ_SIZE_INT8 = 4,         /* int8 weight + one F16 scale per out row */
    AWQ_SIZE_AWQ = 5,          /* AWQ GEMM layout (above) */
    AWQ_SIZE_AWQ_GEMV = 6,
    AWQ_SIZE_GPTQ = 7,         /* with g_idx */
    AWQ_SIZE_GPTQ_V2 = 8,      /* same bytes as GPTQ */
    AWQ_SIZE_FORMAT_COUNT = 9
} awq_size_format;

/* "fp32", "fp16", "bf16", "fp8", "int8", "awq", "awq-gemv", "gptq",
 * "gptq-v2" (static). */
const char *awq_size_format_name(awq_size_format f);
bool awq_size_format_from_name(const char *name, awq_size_format *out);
/* Uses bits / group_size (the group-quantized formats). */
bool awq_size_format_is_grouped(awq_size_format f);

/* Estimated bits per weight for a bare parameter count, scales and zeros
 * included: grouped formats b + (16 + b) / g (one F16 scale and one b-bit
 * zero per group of g; g = -1, per channel, counts as g = 4096 — the
 * dimension is unknown here); int8 8 + 16/4096; fp8 8; fp16/bf16 16;
 * fp32 32. GPTQ's g_idx (32 bits per input row, 32/N per weight) and
 * GEMV's group padding are not in this estimate: they need the shapes
 * (awq_size_from_config / _from_checkpoint are exact). */
double awq_size_bits_per_weight(awq_size_format f, int bits, int group_size);

/* Whether format f can be used at all with these bits / group size: AWQ
 * layouts are 4-bit only, GEMV needs group 32, 64, >= 128 or -1 (AutoAWQ's
 * calculate_zeros_width), GPTQ takes 2, 3, 4, 8 bits. *why (optional) gets
 * a static reason on false. Non-grouped formats: always. */
bool awq_size_format_supported(awq_size_format f, int bits, int group_size,
                               const char **why);
/* Whether a K x N linear can be stored in format f: the format is
 * supported, K % group_size == 0 (serving kernels need whole groups) and
 * the layout's own rules (lib/quant/layouts.h, awq_linear_packable: N a
 * multiple of 32/bits, GEMV and GPTQ also K). *why as above. */
bool awq_size_packable(awq_size_format f, int bits, int group_size,
                       int64_t K, int64_t N, const char **why);
/* Exact bytes of one K x N linear's weight in format f (bias excluded):
 * the packed tensors exactly as lib/quant/layouts.h shapes them (GEMV
 * padding and GPTQ g_idx included); 0 when not packable. */
uint64_t awq_size_linear_bytes(awq_size_format f, int bits, int group_size,
                               int64_t K, int64_t N);

typedef struct awq_size_params {
    int bits;                  /* 2, 3, 4 or 8 (default 4) */
    int group_size;            /* default 128; -1 = per channel */
    int64_t context;           /* KV-cache tokens per sequence (default 4096) */
    int64_t batch;             /* concurrent sequences (default 1) */
    awq_dtype kv_dtype;        /* F16 (default), BF16 or F8_E4M3 */
    uint64_t vram_bytes;       /* 0 = no fits verdict */
    /* Runtime overhead model: fixed + frac * (weights + KV). Defaults
     * 1 GiB + 10% (see lib/quant/size.c for the reasoning). */
    uint64_t overhead_fixed_bytes;
    double overhead_frac;
} awq_size_params;

awq_size_params awq_size_default_params(void);

/* One format's figures. Bytes are exact tensor data bytes (safetensors
 * headers excluded). */
typedef struct awq_size_format_result {
    awq_size_format format;
    bool supported;            /* awq_size_format_supported(bits, group) */
    const char *unsupported_why; /* static reason when !supported */
    double bits_per_weight;    /* exact: 8 * linear_bytes / packed_params;
                                  from a bare count: the estimate */
    uint64_t linear_bytes;     /* linears stored in the format */
    uint64_t other_bytes;      /* everything kept 16-bit (32 for FP32),
                                  unpackable linears included */
    uint64_t weight_bytes;     /* linear_bytes + other_bytes */
    uint64_t n_packed;         /* linears stored in the format */
    uint64_t packed_params;    /* sum of their K x N */
    uint64_t n_unpackable;     /* linears kept 16-bit because of shapes */
    uint64_t kv_bytes;         /* KV cache for context x batch (0 unknown) */
    uint64_t overhead_bytes;
    uint64_t serving_bytes;    /* weight + kv + overhead */
    int fits;                  /* 1 fits vram, 0 does not, -1 no verdict */
} awq_size_format_result;

#define AWQ_SIZE_MAX_NOTES 16

typedef struct awq_size_result {
    bool exact;                /* from shapes (config / checkpoint) */
    bool from_checkpoint;      /* real non-linear tensors were used */
    bool vision_missing;       /* a VL config without its checkpoint: the
                                  vision tower is not in the figures */
    double params;             /* total parameters the figures cover */
    uint64_t linear_params;    /* sum of K x N of the quantizable linears */
    uint64_t n_linears;
    uint64_t kv_bytes_per_token; /* per sequence, all layers, K and V */
    awq_size_format_result formats[AWQ_SIZE_FORMAT_COUNT];
    int n_notes;
    char notes[AWQ_SIZE_MAX_NOTES][AWQ_DETECT_NOTE_LEN];
} awq_size_result;

/* From a bare parameter count (> 0): every parameter at the format's
 * estimated bits per weight; no KV cache (no dims), overhead on weights. */
awq_status awq_size_from_params(awq_ctx *ctx, double n_params,
                                const awq_size_params *params,
                                awq_size_result *out);
/* From the architecture alone: the decoder linears of cfg (arch table, or
 * the Llama set when cfg->arch is NULL) are quantized, embeddings / lm_head
 * (unless tied) / norms / biases computed from dims stay 16-bit. A VL
 * config sets vision_missing (its tower needs the checkpoint). */
awq_status awq_size_from_config(awq_ctx *ctx, const awq_model_config *cfg,
                                const awq_size_params *params,
                                awq_size_result *out);
/* From a checkpoint (dense or packed): the LINEAR-role tensors (see
 * awq_role; packed ones unpacked to K x N) are the quantizable linears,
 * every other tensor counts with its real element count at 16 bits. KV
 * cache needs config.json (else kv_bytes 0 and a note). */
awq_status awq_size_from_checkpoint(awq_ctx *ctx, const awq_checkpoint *ck,
                                    const awq_size_params *params,
                                    awq_size_result *out);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_COUNT_H */
