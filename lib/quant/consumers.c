/*
 * lib/quant/consumers.c — the consumer table: which loader accepts which
 * quantized layout (see awqkit/consumers.h). Read from the consumers' own
 * source (2026):
 *  - vLLM: AWQ through awq / awq_marlin (the GEMM layout, zero points or
 *    not); GPTQ through gptq_marlin, whose type map holds symmetric 4- and
 *    8-bit only (uint4b8 / uint8b128); compressed-tensors WNA16 with the
 *    symmetric types and, with weight_zero_point, the uint types, 2 to 8
 *    bits (dense linears; fused MoE since 2026); fp8 (weight_scale_inv
 *    blocks), MXFP4 (gpt-oss), bitsandbytes. The AWQ / GPTQ / CT rows are
 *    checked against vLLM 0.33 itself (tests/ref/check_vllm_configs.py,
 *    tests/unit/test_consumers_ref.c), where awq and gptq both map to the
 *    auto_awq / auto_gptq configs with the same type maps.
 *  - SGLang: the same AWQ and gptq_marlin paths; its compressed-tensors WNA16
 *    scheme takes 4 and 8 bits, symmetric or with zero points (uint4 /
 *    uint8; checked against SGLang 0.5.23 by the same script).
 *  - transformers 5: AWQ and GPTQ through gptqmodel, compressed-tensors
 *    through the compressed-tensors package, fp8 / mxfp4 / bitsandbytes
 *    natively. gptqmodel refuses asymmetric GPTQ v1: v1 stores zero - 1,
 *    so a zero point of 0 has no code.
 *  - llama.cpp convert_hf_to_gguf.py: dequantizes quant_method gptq (2/4/8
 *    bits, checkpoint_format read), compressed-tensors pack-quantized, fp8
 *    weight_scale_inv, gpt-oss mxfp4; any other quant_method (awq,
 *    bitsandbytes) stops the conversion.
 * Rows are matched first to last; a consumer with no matching row is
 * "unknown".
 */
#include "awqkit/consumers.h"
#include "awqkit/quant.h"

#include "core/core.h"
#include "quant/skiplist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define B(x) (1u << (x))
#define BITS_ANY 0xffffu

enum { SYM_ANY = 0, SYM_ONLY = 1, ASYM_ONLY = 2 };
enum { MOE_ANY = 0, MOE_NO = 1, MOE_YES = 2 };

typedef struct rule {
    awq_consumer who;
    awq_ckpt_kind kind;
    unsigned bits;             /* mask of bit widths */
    int sym, moe;
    awq_load_verdict loads;
    const char *how;
    const char *instead;
} rule;

#define USE_AWQ "awq (GEMM) or --sym; compressed-tensors asymmetric W4A16 loads in vLLM and SGLang"

static const rule k_rules[] = {
    /* vLLM */
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_AWQ_GEMM, B(4), SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "awq / awq_marlin", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_AWQ_GEMV, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "its AWQ loader reads the GEMM layout only", "awq (GEMM)"},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_GPTQ_V1, B(4) | B(8), SYM_ONLY, MOE_ANY, AWQ_LOADS_YES,
     "gptq_marlin", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_GPTQ_V2, B(4) | B(8), SYM_ONLY, MOE_ANY, AWQ_LOADS_YES,
     "gptq_marlin", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_GPTQ_V1, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "gptq_marlin accepts symmetric 4/8-bit only", USE_AWQ},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_GPTQ_V2, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "gptq_marlin accepts symmetric 4/8-bit only", USE_AWQ},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_CT_INT, B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | B(8), SYM_ANY,
     MOE_ANY, AWQ_LOADS_YES,
     "compressed-tensors WNA16 (zero points: uint2..uint8 types; MoE since 2026)", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_CT_INT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "compressed-tensors WNA16 takes 2 to 8 bits", "4-bit"},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_FP8, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "compressed-tensors / fp8", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_FP8_BLOCK, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "fp8 (block scales)", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_MXFP4, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES, "mxfp4", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_BNB_4BIT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "bitsandbytes", ""},
    {AWQ_CONSUMER_VLLM, AWQ_CKPT_MLX, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "no MLX loader (mlx-lm serves these)", "awq (GEMM)"},
    /* SGLang */
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_AWQ_GEMM, B(4), SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "awq / awq_marlin", ""},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_AWQ_GEMV, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "its AWQ loader reads the GEMM layout only", "awq (GEMM)"},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_GPTQ_V1, B(4) | B(8), SYM_ONLY, MOE_ANY, AWQ_LOADS_YES,
     "gptq_marlin", ""},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_GPTQ_V2, B(4) | B(8), SYM_ONLY, MOE_ANY, AWQ_LOADS_YES,
     "gptq_marlin", ""},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_GPTQ_V1, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "gptq_marlin accepts symmetric 4/8-bit only", "awq (GEMM)"},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_GPTQ_V2, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "gptq_marlin accepts symmetric 4/8-bit only", "awq (GEMM)"},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_CT_INT, B(4) | B(8), SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "compressed-tensors WNA16 (zero points: uint4 / uint8 types)", ""},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_CT_INT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "its compressed-tensors WNA16 scheme takes 4 or 8 bits only", "4-bit"},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_FP8, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "compressed-tensors / fp8", ""},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_FP8_BLOCK, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "fp8 (block scales)", ""},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_MXFP4, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES, "mxfp4", ""},
    {AWQ_CONSUMER_SGLANG, AWQ_CKPT_MLX, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "no MLX loader", "awq (GEMM)"},
    /* transformers 5 */
    /* transformers 5 fuses a layer's experts into 3-D tensors on load; its
     * AWQ path converts plain linears only, and the compressed-tensors
     * expert merge (5.17) never reads weight_zero_point
     * (tests/ref/make_load_fixtures.py) */
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_AWQ_GEMM, B(4), SYM_ANY, MOE_YES, AWQ_LOADS_NO,
     "its AWQ path converts plain linears, not the fused 3-D experts it builds on load",
     "compressed-tensors --sym"},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_CT_INT, BITS_ANY, ASYM_ONLY, MOE_YES, AWQ_LOADS_NO,
     "its expert merge ignores weight_zero_point (asymmetric experts load as missing)",
     "compressed-tensors --sym"},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_AWQ_GEMM, B(4), SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "via gptqmodel", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_GPTQ_V1, BITS_ANY, SYM_ONLY, MOE_ANY, AWQ_LOADS_YES,
     "via gptqmodel", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_GPTQ_V1, BITS_ANY, ASYM_ONLY, MOE_ANY, AWQ_LOADS_NO,
     "gptqmodel refuses asymmetric GPTQ v1 (v1 stores zero - 1)", "gptq-v2"},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_GPTQ_V2, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "via gptqmodel", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_CT_INT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "via compressed-tensors", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_CT_NAIVE, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "via compressed-tensors", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_FP8, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "via compressed-tensors / fp8", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_NVFP4, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "via compressed-tensors", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_FP8_BLOCK, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "fine-grained fp8", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_MXFP4, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "mxfp4", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_BNB_4BIT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "bitsandbytes", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_BNB_8BIT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "bitsandbytes", ""},
    {AWQ_CONSUMER_TRANSFORMERS, AWQ_CKPT_MLX, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "no MLX loader", ""},
    /* GPTQModel */
    {AWQ_CONSUMER_GPTQMODEL, AWQ_CKPT_AWQ_GEMM, B(4), SYM_ANY, MOE_ANY, AWQ_LOADS_YES, "AWQ GEMM", ""},
    {AWQ_CONSUMER_GPTQMODEL, AWQ_CKPT_GPTQ_V1, BITS_ANY, SYM_ONLY, MOE_ANY, AWQ_LOADS_YES,
     "converts v1 to v2 on load", ""},
    {AWQ_CONSUMER_GPTQMODEL, AWQ_CKPT_GPTQ_V1, BITS_ANY, ASYM_ONLY, MOE_ANY, AWQ_LOADS_NO,
     "refuses asymmetric v1 (v1 stores zero - 1)", "gptq-v2"},
    {AWQ_CONSUMER_GPTQMODEL, AWQ_CKPT_GPTQ_V2, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES, "v2", ""},
    /* llama.cpp's converter */
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_GPTQ_V1, B(2) | B(4) | B(8), SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "dequantizes gptq, then writes GGUF", ""},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_GPTQ_V2, B(2) | B(4) | B(8), SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "dequantizes gptq (checkpoint_format read), then writes GGUF", ""},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_GPTQ_V1, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "its GPTQ dequantizer stops at 3-bit codes (2, 4, 8 only)", "4-bit"},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_GPTQ_V2, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "its GPTQ dequantizer stops at 3-bit codes (2, 4, 8 only)", "4-bit"},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_AWQ_GEMM, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "quant_method awq is not supported by the converter", "gptq or compressed-tensors"},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_AWQ_GEMV, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "quant_method awq is not supported by the converter", "gptq or compressed-tensors"},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_CT_INT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "dequantizes pack-quantized, then writes GGUF", ""},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_FP8_BLOCK, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "dequantizes weight_scale_inv blocks", ""},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_MXFP4, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_YES,
     "keeps gpt-oss MXFP4", ""},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_BNB_4BIT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "quant_method bitsandbytes is not supported by the converter", ""},
    {AWQ_CONSUMER_LLAMACPP, AWQ_CKPT_BNB_8BIT, BITS_ANY, SYM_ANY, MOE_ANY, AWQ_LOADS_NO,
     "quant_method bitsandbytes is not supported by the converter", ""},
};

const char *awq_consumer_name(awq_consumer c) {
    static const char *const n[AWQ_CONSUMER_COUNT] = {"vLLM", "SGLang", "transformers",
                                                      "GPTQModel", "llama.cpp convert"};
    return (unsigned)c < AWQ_CONSUMER_COUNT ? n[c] : "?";
}

bool awq_consumer_is_server(awq_consumer c) {
    return c == AWQ_CONSUMER_VLLM || c == AWQ_CONSUMER_SGLANG;
}

static bool is_dense(awq_ckpt_kind k) {
    return k == AWQ_CKPT_DENSE_F16 || k == AWQ_CKPT_DENSE_BF16 || k == AWQ_CKPT_DENSE_F32 ||
           k == AWQ_CKPT_DENSE_MIXED;
}

void awq_consumers_judge(const awq_layout_desc *d, awq_consumer_verdict out[AWQ_CONSUMER_COUNT]) {
    for (int c = 0; c < AWQ_CONSUMER_COUNT; c++) {
        out[c].consumer = (awq_consumer)c;
        out[c].loads = AWQ_LOADS_UNKNOWN;
        out[c].how = "";
        out[c].instead = "";
        if (is_dense(d->kind)) {
            out[c].loads = AWQ_LOADS_YES;
            out[c].how = "dense";
            continue;
        }
        for (size_t i = 0; i < AWQ_ARRAY_LEN(k_rules); i++) {
            const rule *r = &k_rules[i];
            if (r->who != (awq_consumer)c || r->kind != d->kind) continue;
            if (d->bits > 0 && d->bits < 16 && !(r->bits & B(d->bits))) continue;
            if ((r->sym == SYM_ONLY && !d->symmetric) || (r->sym == ASYM_ONLY && d->symmetric))
                continue;
            if ((r->moe == MOE_NO && d->moe) || (r->moe == MOE_YES && !d->moe)) continue;
            out[c].loads = r->loads;
            out[c].how = r->how;
            out[c].instead = r->instead;
            break;
        }
    }
}

awq_layout_desc awq_layout_for_output(int qformat, int bits, bool symmetric) {
    awq_layout_desc d = {AWQ_CKPT_UNKNOWN, bits, symmetric, false};
    switch (qformat) {
    case AWQ_QFMT_AWQ_GEMM: d.kind = AWQ_CKPT_AWQ_GEMM; break;
    case AWQ_QFMT_AWQ_GEMV: d.kind = AWQ_CKPT_AWQ_GEMV; break;
    case AWQ_QFMT_GPTQ: d.kind = AWQ_CKPT_GPTQ_V1; break;
    case AWQ_QFMT_GPTQ_V2: d.kind = AWQ_CKPT_GPTQ_V2; break;
    case AWQ_QFMT_CT: d.kind = AWQ_CKPT_CT_INT; break;
    default: break;
    }
    return d;
}

awq_layout_desc awq_layout_from_detect(const awq_detect_result *r) {
    awq_layout_desc d = {r->kind, r->bits, false, false};
    /* An undecided GPTQ loads as v1 everywhere (the loaders' default). */
    if (d.kind == AWQ_CKPT_GPTQ) d.kind = AWQ_CKPT_GPTQ_V1;
    if (r->pack == AWQ_PACK_AWQ_GEMM || r->pack == AWQ_PACK_AWQ_GEMV)
        d.symmetric = r->config.present ? !r->config.zero_point : r->zeros_symmetric;
    else if (r->pack == AWQ_PACK_GPTQ)
        d.symmetric = r->data_blank ? r->config.sym : r->zeros_symmetric;
    else
        d.symmetric = r->zeros_symmetric;
    return d;
}

awq_status awq_check_servable(awq_ctx *ctx, const awq_layout_desc *d) {
    awq_consumer_verdict v[AWQ_CONSUMER_COUNT];
    awq_consumers_judge(d, v);
    char msg[768];
    size_t o = 0;
    const char *instead = "";
    for (int c = 0; c < AWQ_CONSUMER_COUNT; c++) {
        if (!awq_consumer_is_server((awq_consumer)c)) continue;
        if (v[c].loads != AWQ_LOADS_NO) return AWQ_OK;
        o += (size_t)snprintf(msg + o, o < sizeof msg ? sizeof msg - o : 0, "%s%s: %s",
                              o ? "; " : "", awq_consumer_name((awq_consumer)c), v[c].how);
        if (!instead[0]) instead = v[c].instead;
    }
    return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                    "no serving engine loads %s %d-bit %s (%s); use %s instead, or pass "
                    "--allow-unservable to write it anyway",
                    awq_ckpt_kind_name(d->kind), d->bits,
                    d->symmetric ? "symmetric" : "with zero points", msg,
                    instead[0] ? instead : "another format");
}

awq_status awq_check_repack_servable(awq_ctx *ctx, const char *in, int qformat) {
    awq_checkpoint *ck = NULL;
    if (awq_checkpoint_open(ctx, in, &ck) != AWQ_OK) {
        awq_clear_error(ctx);
        return AWQ_OK;
    }
    awq_detect_result *d = malloc(sizeof *d);
    awq_status st = AWQ_OK;
    if (d && awq_detect(ctx, ck, d) == AWQ_OK && d->n_packed_linears > 0) {
        awq_layout_desc ld = awq_layout_for_output(qformat, d->bits, awq_layout_from_detect(d).symmetric);
        st = awq_check_servable(ctx, &ld);
    } else {
        awq_clear_error(ctx);
    }
    free(d);
    awq_checkpoint_free(ck);
    return st;
}

/* ------------------------------------------------- modules_to_not_convert */

/* Is the last dotted component of m a vision-tower root? */
static bool vision_root(const char *m) {
    static const char *const roots[] = {"visual", "vision_tower", "vision_model",
                                        "multi_modal_projector", "mm_projector"};
    const char *last = strrchr(m, '.');
    last = last ? last + 1 : m;
    for (size_t i = 0; i < AWQ_ARRAY_LEN(roots); i++)
        if (strcmp(last, roots[i]) == 0) return true;
    return false;
}

static bool push_unique(char ***v, int *n, int *cap, const char *s) {
    for (int i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0) return true;
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        char **p = realloc(*v, (size_t)nc * sizeof *p);
        if (!p) return false;
        *v = p;
        *cap = nc;
    }
    (*v)[*n] = strdup(s);
    if (!(*v)[*n]) return false;
    (*n)++;
    return true;
}

void awq_skip_free(char **v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

bool awq_skip_expand(const char *const *in, int n, char ***out, int *n_out) {
    char **v = NULL;
    int nv = 0, cap = 0;
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        const char *m = in[i];
        ok = push_unique(&v, &nv, &cap, m);
        if (!ok || !vision_root(m)) continue;
        if (strncmp(m, "model.", 6) == 0) {
            ok = push_unique(&v, &nv, &cap, m + 6);
        } else {
            size_t l = strlen(m) + 7;
            char *t = malloc(l);
            ok = t != NULL;
            if (ok) {
                snprintf(t, l, "model.%s", m);
                ok = push_unique(&v, &nv, &cap, t);
            }
            free(t);
        }
    }
    if (!ok) {
        awq_skip_free(v, nv);
        *out = NULL;
        *n_out = 0;
        return false;
    }
    *out = v;
    *n_out = nv;
    return true;
}
