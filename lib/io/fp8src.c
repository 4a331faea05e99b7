/*
 * lib/io/fp8src.c — FP8 block sources (DeepSeek-V3, Qwen3-FP8) read as
 * FP16/BF16 ones are: each FP8 linear dequantized to fp32 when it is
 * converted (awq_tensor_to_f32 and friends), a tensor at a time from the
 * mmap, so quantize / ppl / audit keep streaming one layer at a time.
 *
 * The layout (as the checkpoints ship it, and as transformers'
 * FineGrainedFP8 integration and vLLM's block-FP8 linear read it):
 *   config.json  quantization_config {"quant_method": "fp8",
 *                "fmt": "e4m3", "weight_block_size": [bn, bk],
 *                "activation_scheme": "dynamic" | "static"}
 *   <p>.weight           F8_E4M3 [N, K]
 *   <p>.weight_scale_inv F32 / BF16 / F16 [ceil(N/bn), ceil(K/bk)]
 *   (<p>.input_scale     static activation scales: not needed for weights)
 *   w[r][c] = fp8[r][c] * scale_inv[r / bn][c / bk]; the last block row /
 *   column covers what is left (partial blocks).
 * Which tensors form such linears is the format table's call
 * (lib/quant/formats.c, AWQ_PACK_FP8_BLOCK, through awq_scan_checkpoint);
 * this file checks what the table matched and binds the weight to its
 * scale. Everything is treated as hostile: an unknown fmt or block size is
 * refused naming the config field; a scale of the wrong shape or dtype, a
 * non-finite or non-positive scale, an FP8 weight without a scale, a scale
 * without an FP8 weight and an E4M3 NaN code are refused naming the tensor
 * (and element).
 */
#include "io/fp8src.h"
#include "io/safetensors.h"
#include "quant/count_impl.h"
#include "quant/ct.h" /* awq_f8e4m3_to_f32 */

#include "core/core.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows dequantized on the thread pool at or above this many elements. */
#define FP8_PARALLEL_MIN_ELEMENTS (1u << 18)
/* Block sizes accepted per dimension: powers of two up to this (128 is
 * what DeepSeek-V3 and Qwen3-FP8 ship; the kernels that serve block FP8
 * need powers of two). */
#define FP8_MAX_BLOCK 1024

static const char k_scale_suffix[] = "_scale_inv";

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static float scale_value(const awq_tensor_info *t, int64_t i) {
    const unsigned char *d = t->data;
    uint16_t h;
    float f;
    switch (t->dtype) {
    case AWQ_DT_F16: memcpy(&h, d + 2 * i, 2); return awq_f16_to_f32(h);
    case AWQ_DT_BF16: memcpy(&h, d + 2 * i, 2); return awq_bf16_to_f32(h);
    default: memcpy(&f, d + 4 * i, 4); return f;
    }
}

/* ------------------------------------------------------------- config */

/* The config's block [bn, bk], or an error naming the field. */
static awq_status read_config(awq_ctx *ctx, const char *where, const cJSON *qc, int blk[2]) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(qc, "fmt");
    if (fmt && (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "e4m3") != 0)) {
        char got[64];
        snprintf(got, sizeof got, "%s", cJSON_IsString(fmt) ? fmt->valuestring : "(not a string)");
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: quantization_config.fmt \"%s\" is not supported (FP8 sources are "
                        "read in \"e4m3\" only)",
                        where, got);
    }
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(qc, "activation_scheme");
    if (as && !cJSON_IsNull(as) &&
        (!cJSON_IsString(as) ||
         (strcmp(as->valuestring, "dynamic") != 0 && strcmp(as->valuestring, "static") != 0)))
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: quantization_config.activation_scheme must be \"dynamic\" or "
                        "\"static\"",
                        where);
    const cJSON *wb = cJSON_GetObjectItemCaseSensitive(qc, "weight_block_size");
    if (!wb || cJSON_IsNull(wb))
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: quantization_config.weight_block_size is missing: only block-wise "
                        "FP8 sources (weight_scale_inv per block) are read",
                        where);
    if (!cJSON_IsArray(wb) || cJSON_GetArraySize(wb) != 2)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: quantization_config.weight_block_size must be a list of two "
                        "integers [rows, cols]",
                        where);
    for (int i = 0; i < 2; i++) {
        const cJSON *e = cJSON_GetArrayItem(wb, i);
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        bool pow2 = v >= 1 && v <= FP8_MAX_BLOCK && v == floor(v) &&
                    (((int)v & ((int)v - 1)) == 0);
        if (!pow2)
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: quantization_config.weight_block_size[%d] must be a power of "
                            "two in [1, %d] (got %s)",
                            where, i, FP8_MAX_BLOCK,
                            cJSON_IsNumber(e) ? "an unsupported number" : "a non-number");
        blk[i] = (int)v;
    }
    return AWQ_OK;
}

/* ------------------------------------------------------------- binding */

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

/* The weight a "<p>.weight_scale_inv" belongs to ("<p>.weight"). */
static const awq_tensor_info *weight_of_scale(const awq_checkpoint *ck, const char *scale) {
    char w[1024];
    size_t n = strlen(scale) - strlen(k_scale_suffix);
    if (n >= sizeof w) return NULL;
    memcpy(w, scale, n);
    w[n] = 0;
    return awq_checkpoint_find(ck, w);
}

/* Check one FP8 weight and its scale; bind them. */
static awq_status bind_one(awq_ctx *ctx, awq_tensor_info *w, const awq_tensor_info *sc,
                           const int blk[2]) {
    char q[256], q2[256];
    awq_st_quote(w->name, q, sizeof q);
    if (w->dtype != AWQ_DT_F8_E4M3)
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "tensor '%s' is %s but quantization_config.fmt is \"e4m3\" (F8_E4M3)", q,
                        awq_dtype_name(w->dtype));
    if (w->ndim != 2 || w->shape[0] < 1 || w->shape[1] < 1)
        return awq_fail(ctx, AWQ_ERR_FORMAT, "tensor '%s': an FP8 weight must be 2-D [N, K]", q);
    if (!sc)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                        "tensor '%s' is F8_E4M3 but '%s%s' is missing (every FP8 weight of a "
                        "block-FP8 source has its scales)",
                        q, q, k_scale_suffix);
    awq_st_quote(sc->name, q2, sizeof q2);
    if (sc->dtype != AWQ_DT_F32 && sc->dtype != AWQ_DT_BF16 && sc->dtype != AWQ_DT_F16)
        return awq_fail(ctx, AWQ_ERR_FORMAT, "tensor '%s': dtype %s (expected F32, BF16 or F16)",
                        q2, awq_dtype_name(sc->dtype));
    const int64_t N = w->shape[0], K = w->shape[1];
    const int64_t R = cdiv(N, blk[0]), C = cdiv(K, blk[1]);
    if (sc->ndim != 2 || sc->shape[0] != R || sc->shape[1] != C) {
        char have[64];
        if (sc->ndim == 2)
            snprintf(have, sizeof have, "[%lld, %lld]", (long long)sc->shape[0],
                     (long long)sc->shape[1]);
        else
            snprintf(have, sizeof have, "%d-D", sc->ndim);
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "tensor '%s' has shape %s; weight '%s' [%lld, %lld] with "
                        "quantization_config.weight_block_size [%d, %d] needs "
                        "[ceil(%lld/%d), ceil(%lld/%d)] = [%lld, %lld]",
                        q2, have, q, (long long)N, (long long)K, blk[0], blk[1], (long long)N,
                        blk[0], (long long)K, blk[1], (long long)R, (long long)C);
    }
    /* finite and positive, and small enough that no product overflows
     * (|fp8| <= 448): a hostile scale fails here, naming the element,
     * rather than as an Inf deep in the forward */
    for (int64_t i = 0; i < R * C; i++) {
        float s = scale_value(sc, i);
        if (!(s > 0) || !isfinite(s) || !isfinite(s * AWQ_F8E4M3_MAX)) {
            char idx[64];
            awq_format_index(2, sc->shape, i, idx, sizeof idx);
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "tensor '%s' holds %g at element %s: FP8 block scales must be "
                            "finite, positive and at most %g",
                            q2, (double)s, idx, (double)(FLT_MAX / AWQ_F8E4M3_MAX));
        }
    }
    w->scale_inv = sc;
    w->block[0] = blk[0];
    w->block[1] = blk[1];
    return AWQ_OK;
}

awq_status awq_checkpoint_bind_fp8(awq_ctx *ctx, awq_checkpoint *ck) {
    if (!ck) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_checkpoint_bind_fp8: ck is NULL");
    const cJSON *cfg = awq_checkpoint_config(ck);
    const cJSON *qc = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config") : NULL;
    const cJSON *qm = cJSON_IsObject(qc) ? cJSON_GetObjectItemCaseSensitive(qc, "quant_method")
                                         : NULL;
    if (!cJSON_IsString(qm) || strcmp(qm->valuestring, "fp8") != 0) return AWQ_OK;
    char *where = awq_path_join(awq_checkpoint_dir(ck), "config.json");
    if (!where) return awq_fail_nomem(ctx, "path", 0);
    int blk[2];
    awq_status st = read_config(ctx, where, qc, blk);
    free(where);
    AWQ_TRY(st);

    /* which tensors form FP8-block linears: the format table's answer */
    awq_scan scan;
    memset(&scan, 0, sizeof scan);
    st = awq_scan_checkpoint(ctx, ck, &scan);
    size_t n = 0;
    awq_tensor_info *tv = awq_checkpoint_tensors_mut(ck, &n);
    size_t n_bound = 0;
    for (size_t i = 0; st == AWQ_OK && i < scan.n_lin; i++) {
        const awq_scan_linear *L = &scan.lin[i];
        if (L->pack != AWQ_PACK_FP8_BLOCK || L->weight < 0 || (size_t)L->weight >= n) continue;
        const awq_tensor_info *sc =
            L->scales >= 0 && (size_t)L->scales < n ? &tv[L->scales] : NULL;
        if (sc && !has_suffix(sc->name, k_scale_suffix)) sc = NULL;
        st = bind_one(ctx, &tv[L->weight], sc, blk);
        if (st == AWQ_OK) n_bound++;
    }
    awq_scan_free(&scan);
    AWQ_TRY(st);
    /* what the table did not match: FP8 weights whose scale is missing or
     * of the wrong shape, scales without an FP8 weight */
    for (size_t i = 0; i < n; i++) {
        awq_tensor_info *t = &tv[i];
        if ((t->dtype == AWQ_DT_F8_E4M3 || t->dtype == AWQ_DT_F8_E5M2) && !t->scale_inv) {
            char sname[1100];
            snprintf(sname, sizeof sname, "%s%s", t->name, k_scale_suffix);
            AWQ_TRY(bind_one(ctx, t, awq_checkpoint_find(ck, sname), blk));
            n_bound++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const awq_tensor_info *t = &tv[i];
        char q[256];
        if (has_suffix(t->name, k_scale_suffix)) {
            const awq_tensor_info *w = weight_of_scale(ck, t->name);
            if (!w || !w->scale_inv)
                return awq_fail(ctx, AWQ_ERR_FORMAT,
                                "tensor '%s' has no F8_E4M3 weight beside it (%s)",
                                awq_st_quote(t->name, q, sizeof q),
                                w ? awq_dtype_name(w->dtype) : "the weight is missing");
        }
    }
    if (n_bound == 0)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: config.json says quant_method \"fp8\" but no tensor is an F8_E4M3 "
                        "weight with a weight_scale_inv",
                        awq_checkpoint_dir(ck));
    awq_checkpoint_mark_fp8(ck);
    return AWQ_OK;
}

/* ---------------------------------------------------------- dequantize */

typedef struct fp8_job {
    const awq_tensor_info *t;
    int64_t r0;
    float *dst;
    float lut[256];
    _Atomic int_least64_t bad;       /* first NaN code (flat, in the tensor) */
} fp8_job;

static void fp8_rows(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    fp8_job *j = arg;
    const awq_tensor_info *t = j->t;
    const int64_t K = t->shape[1], bn = t->block[0], bk = t->block[1];
    const int64_t C = t->scale_inv->shape[1];
    const uint8_t *w = t->data;
    for (int64_t i = begin; i < end; i++) {
        const int64_t r = j->r0 + i;
        const uint8_t *src = w + (size_t)(r * K);
        float *out = j->dst + (size_t)(i * K);
        const int64_t srow = (r / bn) * C;
        for (int64_t c0 = 0, cb = 0; c0 < K; c0 += bk, cb++) {
            const float s = scale_value(t->scale_inv, srow + cb);
            const int64_t c1 = c0 + bk < K ? c0 + bk : K;
            int nan = 0;
            for (int64_t c = c0; c < c1; c++) {
                nan |= (src[c] & 0x7f) == 0x7f;
                out[c] = j->lut[src[c]] * s;
            }
            if (!nan) continue;
            for (int64_t c = c0; c < c1; c++) {
                if ((src[c] & 0x7f) != 0x7f) continue;
                int_least64_t want = r * K + c, cur = atomic_load(&j->bad);
                while (want < cur && !atomic_compare_exchange_weak(&j->bad, &cur, want)) {
                }
                return;
            }
        }
    }
}

awq_status awq_fp8src_rows(awq_ctx *ctx, const awq_tensor_info *t, int64_t r0, int64_t nr,
                           float *dst) {
    char q[256];
    if (!t || !t->scale_inv || t->ndim != 2 || t->block[0] < 1 || t->block[1] < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_fp8src_rows: not a bound FP8 weight");
    if (r0 < 0 || nr < 0 || r0 > t->shape[0] || nr > t->shape[0] - r0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "tensor '%s': rows [%lld, %lld+%lld) outside its %lld rows",
                        awq_st_quote(t->name, q, sizeof q), (long long)r0, (long long)r0,
                        (long long)nr, (long long)t->shape[0]);
    if (nr == 0) return AWQ_OK;
    if (!dst || !t->data)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tensor '%s': NULL buffer",
                        awq_st_quote(t->name, q, sizeof q));
    fp8_job *j = awq_alloc(1, sizeof *j);
    if (!j) return awq_fail_nomem(ctx, "fp8 job", sizeof *j);
    j->t = t;
    j->r0 = r0;
    j->dst = dst;
    for (int v = 0; v < 256; v++) j->lut[v] = awq_f8e4m3_to_f32((uint8_t)v);
    atomic_init(&j->bad, INT64_MAX);
    if ((uint64_t)nr * (uint64_t)t->shape[1] >= FP8_PARALLEL_MIN_ELEMENTS && ctx &&
        awq_ctx_n_threads(ctx) > 1)
        awq_parallel_for(ctx, nr, fp8_rows, j);
    else
        fp8_rows(j, 0, nr, 0);
    int_least64_t bad = atomic_load(&j->bad);
    awq_free(j);
    if (bad == INT64_MAX) return AWQ_OK;
    char idx[64];
    awq_format_index(2, t->shape, (int64_t)bad, idx, sizeof idx);
    return awq_fail(ctx, AWQ_ERR_RANGE, "tensor '%s' holds an E4M3 NaN code at element %s",
                    awq_st_quote(t->name, q, sizeof q), idx);
}
