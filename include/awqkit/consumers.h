/*
 * awqkit/consumers.h — which program loads which quantized layout: one table
 * (lib/quant/consumers.c, mirrored in README "Where outputs load") that
 * `inspect` prints from and that `quantize` / `repack` consult before they
 * write an output no serving engine loads.
 *
 * Consumers: vLLM and SGLang (the serving engines), transformers 5 (through
 * the gptqmodel and compressed-tensors packages), GPTQModel, and llama.cpp's
 * convert_hf_to_gguf.py (which dequantizes a quantized checkpoint before
 * writing GGUF). Each verdict is "loads", "refuses" (with the reason), or
 * "unknown" (the table makes no claim).
 */
#ifndef AWQKIT_CONSUMERS_H
#define AWQKIT_CONSUMERS_H

#include "awqkit/count.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum awq_consumer {
    AWQ_CONSUMER_VLLM = 0,
    AWQ_CONSUMER_SGLANG = 1,
    AWQ_CONSUMER_TRANSFORMERS = 2,
    AWQ_CONSUMER_GPTQMODEL = 3,
    AWQ_CONSUMER_LLAMACPP = 4,
    AWQ_CONSUMER_COUNT = 5
} awq_consumer;

/* "vLLM", "SGLang", "transformers", "GPTQModel", "llama.cpp convert" (static). */
const char *awq_consumer_name(awq_consumer c);
/* vLLM and SGLang. */
bool awq_consumer_is_server(awq_consumer c);

/* What a checkpoint's quantized linears are, as far as loaders care. */
typedef struct awq_layout_desc {
    awq_ckpt_kind kind;        /* AWQ_CKPT_AWQ_GEMM, _GPTQ_V1, _CT_INT, ... */
    int bits;
    bool symmetric;            /* no zero points (or all at the midpoint) */
    bool moe;                  /* the quantized linears include experts */
} awq_layout_desc;

typedef enum awq_load_verdict {
    AWQ_LOADS_UNKNOWN = -1,
    AWQ_LOADS_NO = 0,
    AWQ_LOADS_YES = 1
} awq_load_verdict;

typedef struct awq_consumer_verdict {
    awq_consumer consumer;
    awq_load_verdict loads;
    const char *how;           /* the loader path ("gptq_marlin", ...) or the
                                  reason it refuses (static; "" if unknown) */
    const char *instead;       /* a format that works there ("" if none) */
} awq_consumer_verdict;

/* One verdict per consumer, in awq_consumer order. */
void awq_consumers_judge(const awq_layout_desc *d,
                         awq_consumer_verdict out[AWQ_CONSUMER_COUNT]);

/* The layout awqkit writes for a packed format (AWQ_QFMT_*), bits and
 * symmetry (for quantize / repack before they write). */
awq_layout_desc awq_layout_for_output(int qformat, int bits, bool symmetric);

/* The layout of a detected checkpoint (kind, bits; symmetric from the
 * stored zeros or the config). */
awq_layout_desc awq_layout_from_detect(const awq_detect_result *d);

/* AWQ_OK when at least one serving engine (vLLM, SGLang) loads d. Else
 * AWQ_ERR_UNSUPPORTED with a message naming each serving engine, its reason
 * and the format that works instead (what `--allow-unservable` overrides). */
awq_status awq_check_servable(awq_ctx *ctx, const awq_layout_desc *d);

/* The same check for `repack IN --to qformat`: the output keeps IN's bits
 * and zero points, so they are read from IN (awq_detect). Errors opening IN
 * are left to the repack itself (AWQ_OK, no message). */
awq_status awq_check_repack_servable(awq_ctx *ctx, const char *in, int qformat);

#ifdef __cplusplus
}
#endif
#endif
