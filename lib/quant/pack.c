/*
 * lib/quant/pack.c — the format table: one entry per packed format with its
 * pack / unpack functions, tensor suffixes, shape rule and
 * quantization_config writer, and awq_pack / awq_unpack around them. The
 * word loops of each layout are in pack_layouts.c.
 *
 * Packed inputs are hostile (they come from checkpoints): shapes and dtypes
 * are checked against the layout before any word is read, reads go through
 * memcpy (mmap'd data may be unaligned), and decoded zeros are range-checked.
 */
#include "core/core.h"
#include "quant/pack_impl.h"
#include "quant/skiplist.h"
#include "quant/ct.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static const char *lay_reason(int code, int format) {
    switch (code) {
    case AWQ_LAY_OK: return "ok";
    case AWQ_LAY_E_FORMAT: return "unknown packed format";
    case AWQ_LAY_E_BITS:
        if (format == AWQ_QFMT_CT)
            return "awqkit writes compressed-tensors with 2, 4 or 8-bit codes "
                   "only (3-bit packing differs between the compressed-tensors "
                   "library, 10 codes per word, and vLLM, a dense stream; use "
                   "gptq for 3 bits)";
        return format == AWQ_QFMT_GPTQ || format == AWQ_QFMT_GPTQ_V2
                   ? "GPTQ stores 2, 3, 4 or 8-bit codes only"
                   : "the AWQ layouts store 4-bit codes only (use gptq for "
                     "2, 3 or 8 bits)";
    case AWQ_LAY_E_GROUP: return "group_size must be > 0 or -1";
    case AWQ_LAY_E_GROUP_DIV:
        return "the group size does not divide in_features (K)";
    case AWQ_LAY_E_GEMV_GROUP:
        return "AWQ GEMV supports group sizes 32, 64 or >= 128 only "
               "(AutoAWQ calculate_zeros_width)";
    case AWQ_LAY_E_N:
        return (format == AWQ_QFMT_GPTQ || format == AWQ_QFMT_GPTQ_V2 ||
                format == AWQ_QFMT_CT)
                   ? "out_features (N) is not a multiple of 32/bits (32 for "
                     "3-bit)"
                   : "out_features (N) is not a multiple of 8";
    case AWQ_LAY_E_K:
        return (format == AWQ_QFMT_GPTQ || format == AWQ_QFMT_GPTQ_V2 ||
                format == AWQ_QFMT_CT)
                   ? "in_features (K) is not a multiple of 32/bits (32 for "
                     "3-bit)"
                   : "in_features (K) is not a multiple of 8";
    case AWQ_LAY_E_SIZE:
        return "dimensions out of range (1..2^31-1 each, at most 2^40 "
               "elements)";
    default: return "unknown layout error";
    }
}

/* ------------------------------------------------------ format table */

typedef struct fmt_entry {
    awq_format_info info;
    const char *suffixes[AWQ_PT_MAX];
    awq_status (*pack)(awq_ctx *, struct pk_job *);
} fmt_entry;

static const fmt_entry k_fmts[AWQ_QFMT_COUNT] = {
    [AWQ_QFMT_AWQ_GEMM] = {{AWQ_QFMT_AWQ_GEMM, "awq", "awq", "gemm", NULL, 3,
                            "AutoAWQ GEMM (vLLM/SGLang/transformers default): "
                            "4-bit, qweight [K, N/8] interleaved"},
                           {"qweight", "qzeros", "scales", NULL},
                           awq_gemm_pack},
    [AWQ_QFMT_AWQ_GEMV] = {{AWQ_QFMT_AWQ_GEMV, "awq-gemv", "awq", "gemv", NULL, 3,
                            "AutoAWQ GEMV: 4-bit, qweight [N, K/8], padded "
                            "zeros/scales"},
                           {"qweight", "qzeros", "scales", NULL},
                           awq_gemv_pack},
    [AWQ_QFMT_GPTQ] = {{AWQ_QFMT_GPTQ, "gptq", "gptq", NULL, "gptq", 4,
                        "GPTQ v1: 2/3/4/8-bit, qweight [K*b/32, N], qzeros "
                        "store zero-1"},
                       {"qweight", "qzeros", "scales", "g_idx"},
                       awq_gptq_pack},
    [AWQ_QFMT_GPTQ_V2] = {{AWQ_QFMT_GPTQ_V2, "gptq-v2", "gptq", NULL, "gptq_v2", 4,
                           "GPTQ v2: as v1 but qzeros store the true zero"},
                          {"qweight", "qzeros", "scales", "g_idx"},
                          awq_gptq_pack},
    [AWQ_QFMT_CT] = {{AWQ_QFMT_CT, "compressed-tensors", "compressed-tensors", NULL, NULL, 5,
                      "compressed-tensors pack-quantized (llm-compressor; vLLM, "
                      "SGLang, transformers): 2/3/4/8-bit, weight_packed [N, K*b/32]"},
                     {"weight_packed", "weight_zero_point", "weight_scale", "weight_g_idx",
                      "weight_shape"},
                     awq_ct_pack},
};

const char *awq_format_suffix(awq_qformat format, int part) {
    const fmt_entry *e = ((unsigned)format < AWQ_QFMT_COUNT) ? &k_fmts[format] : NULL;
    return e && part >= 0 && part < AWQ_PT_MAX ? e->suffixes[part] : NULL;
}

static const fmt_entry *fmt_get(awq_qformat f) {
    return ((unsigned)f < AWQ_QFMT_COUNT) ? &k_fmts[f] : NULL;
}

const awq_format_info *awq_format_get(awq_qformat f) {
    const fmt_entry *e = fmt_get(f);
    return e ? &e->info : NULL;
}

const awq_format_info *awq_format_by_name(const char *name) {
    if (!name) return NULL;
    if (strcmp(name, "awq-gemm") == 0) return &k_fmts[AWQ_QFMT_AWQ_GEMM].info;
    if (strcmp(name, "gptq_v2") == 0) return &k_fmts[AWQ_QFMT_GPTQ_V2].info;
    if (strcmp(name, "ct") == 0 || strcmp(name, "compressed_tensors") == 0 ||
        strcmp(name, "pack-quantized") == 0)
        return &k_fmts[AWQ_QFMT_CT].info;
    for (int i = 0; i < AWQ_QFMT_COUNT; i++)
        if (strcmp(name, k_fmts[i].info.name) == 0) return &k_fmts[i].info;
    return NULL;
}

bool awq_linear_packable(awq_qformat format, int64_t K, int64_t N, int bits,
                         int group_size, const char **why) {
    awq_lay_shapes s;
    int r = awq_lay_get_shapes((int)format, K, N, bits, group_size, &s);
    if (why) *why = r == AWQ_LAY_OK ? NULL : lay_reason(r, (int)format);
    return r == AWQ_LAY_OK;
}

static void fill_shapes(const fmt_entry *e, const awq_lay_shapes *s,
                        awq_packed *out) {
    memset(out, 0, sizeof *out);
    out->format = e->info.id;
    out->n_tensors = e->info.n_tensors;
    const int64_t *dims[AWQ_PT_MAX] = {s->qweight, s->qzeros, s->scales, NULL};
    for (int i = 0; i < e->info.n_tensors; i++) {
        awq_packed_tensor *t = &out->t[i];
        t->suffix = e->suffixes[i];
        t->dtype = i == AWQ_PT_SCALES ? AWQ_DT_F16 : AWQ_DT_I32;
        if (i == AWQ_PT_SHAPE) {
            t->dtype = AWQ_DT_I64;
            t->ndim = 1;
            t->shape[0] = 2;
            t->n_bytes = 16;
        } else if (i == AWQ_PT_G_IDX) {
            t->ndim = 1;
            t->shape[0] = s->g_idx;
            t->shape[1] = 0;
            t->n_bytes = (uint64_t)s->g_idx * 4u;
        } else {
            t->ndim = 2;
            t->shape[0] = dims[i][0];
            t->shape[1] = dims[i][1];
            t->n_bytes = (uint64_t)(dims[i][0] * dims[i][1]) *
                         awq_dtype_size(t->dtype);
        }
    }
}

awq_status awq_packed_shapes(awq_ctx *ctx, awq_qformat format, int64_t K,
                             int64_t N, int bits, int group_size,
                             awq_packed *out) {
    const fmt_entry *e = fmt_get(format);
    if (!e || !out)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown packed format %d", (int)format);
    awq_lay_shapes s;
    int r = awq_lay_get_shapes((int)format, K, N, bits, group_size, &s);
    if (r != AWQ_LAY_OK)
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s cannot store a [%lld, %lld] linear with %d bits, "
                        "group size %d: %s",
                        e->info.name, (long long)N, (long long)K, bits, group_size,
                        lay_reason(r, (int)format));
    fill_shapes(e, &s, out);
    return AWQ_OK;
}

void awq_packed_omit_optional(awq_packed *p, bool sym, bool default_g_idx) {
    if (!p || p->format != AWQ_QFMT_CT) return;
    if (sym) {
        awq_free(p->t[AWQ_PT_QZEROS].data);
        p->t[AWQ_PT_QZEROS].data = NULL;
        p->t[AWQ_PT_QZEROS].ndim = 0;
        p->t[AWQ_PT_QZEROS].n_bytes = 0;
    }
    if (default_g_idx) {
        awq_free(p->t[AWQ_PT_G_IDX].data);
        p->t[AWQ_PT_G_IDX].data = NULL;
        p->t[AWQ_PT_G_IDX].ndim = 0;
        p->t[AWQ_PT_G_IDX].n_bytes = 0;
    }
}

void awq_packed_free(awq_packed *p) {
    if (!p) return;
    for (int i = 0; i < AWQ_PT_MAX; i++) awq_free(p->t[i].data);
    memset(p, 0, sizeof *p);
}

awq_pack_params awq_pack_default_params(void) {
    awq_pack_params p;
    p.allow_lossy = false;
    return p;
}

/* ------------------------------------------ GPTQ v1: zero point of 0 */

static inline int64_t grp_of(const awq_qtensor *t, int64_t gl, int64_t k) {
    return t->g_idx ? t->g_idx[k] : k / gl;
}

/* Re-quantize every group with zero point 0 to zero point 1 (see
 * awq_pack_params.allow_lossy). t is a private copy. Per row, the squared
 * change of both candidates is accumulated per group, then the better one is
 * applied (ties keep candidate A, which leaves the scale alone). */
static awq_status fix_zero0(awq_ctx *ctx, const char *name, awq_qtensor *t,
                            awq_pack_report *rep) {
    const int64_t N = t->N, K = t->K, G = t->n_groups;
    const int64_t gl = awq_group_len(K, t->group_size);
    const int maxq = (1 << t->bits) - 1;
    double *sse = awq_alloc((size_t)G * 2u, sizeof(double));
    uint16_t *sb = awq_alloc((size_t)G, sizeof(uint16_t));
    if (!sse || !sb) {
        awq_free(sse);
        awq_free(sb);
        return awq_fail_nomem(ctx, "lossy re-quantization scratch", (uint64_t)G * 18u);
    }
    for (int64_t n = 0; n < N; n++) {
        bool any = false;
        for (int64_t g = 0; g < G; g++) {
            sse[2 * g] = sse[2 * g + 1] = 0.0;
            if (t->zeros[g * N + n] != 0) continue;
            any = true;
            float s = awq_f16_to_f32(t->scales[g * N + n]);
            float sbf = s * (float)maxq / (float)(maxq - 1);
            /* candidate B needs a finite FP16 scale; else it loses */
            sb[g] = sbf <= AWQ_F16_MAX ? awq_f32_to_f16(sbf) : 0;
        }
        if (!any) continue;
        uint8_t *q = t->q + n * K;
        for (int64_t k = 0; k < K; k++) {
            int64_t g = grp_of(t, gl, k);
            if (t->zeros[g * N + n] != 0) continue;
            float s = awq_f16_to_f32(t->scales[g * N + n]);
            float v = (float)q[k] * s;
            float va = (float)(AWQ_MIN((int)q[k] + 1, maxq) - 1) * s;
            sse[2 * g] += ((double)va - v) * ((double)va - v);
            if (sb[g]) {
                float s2 = awq_f16_to_f32(sb[g]);
                float c = rintf(v / s2) + 1.0f;
                c = c < 0.0f ? 0.0f : c > (float)maxq ? (float)maxq : c;
                float vb = (c - 1.0f) * s2;
                sse[2 * g + 1] += ((double)vb - v) * ((double)vb - v);
            } else {
                sse[2 * g + 1] = INFINITY;
            }
        }
        for (int64_t k = 0; k < K; k++) {
            int64_t g = grp_of(t, gl, k);
            if (t->zeros[g * N + n] != 0) continue;
            float s = awq_f16_to_f32(t->scales[g * N + n]);
            float v = (float)q[k] * s, nv;
            bool use_b = sse[2 * g + 1] < sse[2 * g];
            if (use_b) {
                float s2 = awq_f16_to_f32(sb[g]);
                float c = rintf(v / s2) + 1.0f;
                c = c < 0.0f ? 0.0f : c > (float)maxq ? (float)maxq : c;
                q[k] = (uint8_t)(int)c;
                nv = (c - 1.0f) * s2;
            } else {
                q[k] = (uint8_t)AWQ_MIN((int)q[k] + 1, maxq);
                nv = (float)((int)q[k] - 1) * s;
            }
            if (nv != v) {
                rep->n_changed_codes++;
                double d = fabs((double)nv - (double)v);
                if (d > rep->max_abs_change) rep->max_abs_change = d;
            }
        }
        for (int64_t g = 0; g < G; g++) {
            if (t->zeros[g * N + n] != 0) continue;
            if (sse[2 * g + 1] < sse[2 * g]) t->scales[g * N + n] = sb[g];
            t->zeros[g * N + n] = 1;
            rep->n_lossy_groups++;
        }
    }
    awq_free(sse);
    awq_free(sb);
    awq_info(ctx,
             "%s: GPTQ v1 cannot store zero point 0: re-quantized %lld groups "
             "with zero point 1 (%lld weights changed, max change %g)",
             nm(name), (long long)rep->n_lossy_groups,
             (long long)rep->n_changed_codes, rep->max_abs_change);
    return AWQ_OK;
}

/* ------------------------------------------------------------ pack */

/* What packing needs of the canonical tensor (scales may be anything: they
 * are copied bit for bit, awq_verify judges them). */
static awq_status pack_check(awq_ctx *ctx, const char *name, const awq_qtensor *t) {
    if (!t || !t->q || !t->scales || !t->zeros)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: quantized tensor has no buffers",
                        nm(name));
    if (!awq_lay_bits_ok(t->bits) || t->n_groups != awq_n_groups(t->K, t->group_size) ||
        t->n_groups < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: inconsistent quantized tensor (bits %d, group size %d, "
                        "%lld groups for K %lld)",
                        nm(name), t->bits, t->group_size, (long long)t->n_groups,
                        (long long)t->K);
    const unsigned maxq = (1u << t->bits) - 1u;
    const int64_t NK = t->N * t->K, GN = t->n_groups * t->N;
    for (int64_t i = 0; i < NK; i++)
        if (t->q[i] > maxq)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: code %u at (row %lld, column %lld) exceeds %d bits",
                            nm(name), t->q[i], (long long)(i / t->K),
                            (long long)(i % t->K), t->bits);
    for (int64_t i = 0; i < GN; i++)
        if (t->zeros[i] > maxq)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: zero point %u of group %lld, row %lld exceeds %d bits",
                            nm(name), t->zeros[i], (long long)(i / t->N),
                            (long long)(i % t->N), t->bits);
    if (t->g_idx)
        for (int64_t k = 0; k < t->K; k++)
            if (t->g_idx[k] < 0 || t->g_idx[k] >= t->n_groups)
                return awq_fail(ctx, AWQ_ERR_RANGE, "%s: g_idx[%lld] = %d outside [0, %lld)",
                                nm(name), (long long)k, (int)t->g_idx[k],
                                (long long)t->n_groups);
    return AWQ_OK;
}

awq_status awq_pack(awq_ctx *ctx, const char *name, awq_qformat format,
                    const awq_qtensor *t, const awq_pack_params *p,
                    awq_packed *out, awq_pack_report *rep) {
    awq_pack_report rep_local;
    if (!rep) rep = &rep_local;
    memset(rep, 0, sizeof *rep);
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: out is NULL", nm(name));
    memset(out, 0, sizeof *out);
    const fmt_entry *e = fmt_get(format);
    if (!e) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: unknown packed format %d",
                            nm(name), (int)format);
    awq_pack_params dp = awq_pack_default_params();
    if (!p) p = &dp;
    AWQ_TRY(pack_check(ctx, name, t));
    awq_lay_shapes s;
    int r = awq_lay_get_shapes((int)format, t->K, t->N, t->bits, t->group_size, &s);
    if (r != AWQ_LAY_OK)
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: %s cannot store this linear ([%lld, %lld], %d bits, "
                        "group size %d): %s",
                        nm(name), e->info.name, (long long)t->N, (long long)t->K,
                        t->bits, t->group_size, lay_reason(r, (int)format));
    bool is_awq = format == AWQ_QFMT_AWQ_GEMM || format == AWQ_QFMT_AWQ_GEMV;
    if (is_awq && !awq_qtensor_default_g_idx(t))
        return awq_fail(ctx, AWQ_ERR_LOSSY,
                        "%s: act-order g_idx (columns not in group order k / %lld) "
                        "cannot be stored in the AWQ layouts, which have no g_idx; "
                        "keep it as GPTQ or dequantize and re-quantize",
                        nm(name), (long long)s.group_len);

    awq_qtensor fixed;
    memset(&fixed, 0, sizeof fixed);
    if (awq_lay_zero_offset((int)format)) {
        int64_t n0 = 0;
        for (int64_t i = 0; i < t->n_groups * t->N; i++) n0 += t->zeros[i] == 0;
        if (n0 > 0) {
            if (!p->allow_lossy)
                return awq_fail(ctx, AWQ_ERR_LOSSY,
                                "%s: %lld of %lld groups have zero point 0, which GPTQ "
                                "v1 cannot store (it stores zero - 1, and -1 spills "
                                "into the neighbouring fields); write gptq-v2 (true "
                                "zeros) instead, or allow lossy re-quantization of "
                                "those groups",
                                nm(name), (long long)n0,
                                (long long)(t->n_groups * t->N));
            AWQ_TRY(awq_qtensor_copy(ctx, t, &fixed));
            awq_status st = fix_zero0(ctx, name, &fixed, rep);
            if (st != AWQ_OK) {
                awq_qtensor_free(&fixed);
                return st;
            }
            t = &fixed;
        }
    }

    fill_shapes(e, &s, out);
    awq_packed_omit_optional(out, t->sym, awq_qtensor_default_g_idx(t));
    for (int i = 0; i < out->n_tensors; i++) {
        if (awq_packed_part_absent(&out->t[i])) continue;
        out->t[i].data = awq_calloc((size_t)out->t[i].n_bytes, 1);
        if (!out->t[i].data) {
            uint64_t nb = out->t[i].n_bytes;
            awq_packed_free(out);
            awq_qtensor_free(&fixed);
            return awq_fail_nomem(ctx, "packed tensor", nb);
        }
    }
    struct pk_job j = {t, &s, out, NULL, NULL, (int)format};
    awq_status st = e->pack(ctx, &j);
    awq_qtensor_free(&fixed);
    if (st != AWQ_OK) awq_packed_free(out);
    return st;
}

/* ---------------------------------------------------------- unpack */

static awq_status check_tensor(awq_ctx *ctx, const char *name,
                               const awq_packed_tensor *have,
                               const awq_packed_tensor *want) {
    const char *sfx = want->suffix;
    if (!have->data)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s.%s: missing", nm(name), sfx);
    if (have->dtype != want->dtype)
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.%s: dtype %s, expected %s", nm(name),
                        sfx, awq_dtype_name(have->dtype), awq_dtype_name(want->dtype));
    bool same = have->ndim == want->ndim && have->shape[0] == want->shape[0] &&
                (want->ndim == 1 || have->shape[1] == want->shape[1]);
    if (!same) {
        if (want->ndim == 1)
            return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.%s: shape has %d dims, expected [%lld]",
                            nm(name), sfx, have->ndim, (long long)want->shape[0]);
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "%s.%s: shape [%lld, %lld] (%d dims), expected [%lld, %lld]",
                        nm(name), sfx, (long long)have->shape[0],
                        (long long)(have->ndim > 1 ? have->shape[1] : 0), have->ndim,
                        (long long)want->shape[0], (long long)want->shape[1]);
    }
    if (have->n_bytes != want->n_bytes)
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.%s: %llu bytes, expected %llu",
                        nm(name), sfx, (unsigned long long)have->n_bytes,
                        (unsigned long long)want->n_bytes);
    return AWQ_OK;
}

awq_status awq_unpack(awq_ctx *ctx, const char *name, awq_qformat format,
                      const awq_packed *in, const awq_unpack_params *p,
                      awq_qtensor *out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: out is NULL", nm(name));
    memset(out, 0, sizeof *out);
    const fmt_entry *e = fmt_get(format);
    if (!e || !in || !p)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: bad unpack arguments", nm(name));
    const awq_packed_tensor *qw = &in->t[AWQ_PT_QWEIGHT];
    if (in->n_tensors < 3 || !qw->data)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s.%s: missing", nm(name), e->suffixes[0]);
    if (qw->ndim != 2 || qw->dtype != AWQ_DT_I32)
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.%s: expected a 2-D I32 tensor "
                        "(got %d dims, %s)", nm(name), e->suffixes[0], qw->ndim,
                        awq_dtype_name(qw->dtype));
    if (!awq_lay_bits_ok(p->bits))
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: bits %d (expected 2, 3, 4 or 8)",
                        nm(name), p->bits);
    int64_t K = 0, N = 0;
    if (!awq_lay_dims_from_qweight((int)format, p->bits, qw->shape[0], qw->shape[1], &K, &N))
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "%s.qweight: shape [%lld, %lld] cannot hold %d-bit %s codes",
                        nm(name), (long long)qw->shape[0], (long long)qw->shape[1],
                        p->bits, e->info.name);
    awq_lay_shapes s;
    int r = awq_lay_get_shapes((int)format, K, N, p->bits, p->group_size, &s);
    if (r != AWQ_LAY_OK)
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "%s: %s linear [%lld, %lld] (from qweight) with %d bits, group "
                        "size %d: %s",
                        nm(name), e->info.name, (long long)N, (long long)K, p->bits,
                        p->group_size, lay_reason(r, (int)format));
    awq_packed want;
    fill_shapes(e, &s, &want);
    const bool ct = format == AWQ_QFMT_CT;
    for (int i = 0; i < e->info.n_tensors; i++) {
        const bool have = in->n_tensors > i && in->t[i].data;
        if (i == AWQ_PT_G_IDX && !have)
            continue; /* GPTQ without g_idx: default grouping */
        if (ct && i == AWQ_PT_QZEROS && !have && p->sym)
            continue; /* symmetric compressed-tensors store no zero point */
        if (ct && i == AWQ_PT_SCALES && have &&
            (in->t[i].dtype == AWQ_DT_BF16 || in->t[i].dtype == AWQ_DT_F32)) {
            /* the model's dtype; converted to FP16 exactly or refused */
            want.t[i].dtype = in->t[i].dtype;
            want.t[i].n_bytes = (uint64_t)(s.scales[0] * s.scales[1]) *
                                awq_dtype_size(in->t[i].dtype);
        }
        AWQ_TRY(check_tensor(ctx, name, &in->t[i], &want.t[i]));
    }
    if (ct) {
        int64_t shp[2];
        memcpy(shp, in->t[AWQ_PT_SHAPE].data, sizeof shp);
        if (shp[0] != N || shp[1] != K)
            return awq_fail(ctx, AWQ_ERR_MISMATCH,
                            "%s.weight_shape: [%lld, %lld], but weight_packed [%lld, %lld] "
                            "holds [%lld, %lld] with %d bits (awqkit reads rows of whole "
                            "words)", nm(name), (long long)shp[0], (long long)shp[1],
                            (long long)qw->shape[0], (long long)qw->shape[1], (long long)N,
                            (long long)K, p->bits);
    }
    AWQ_TRY(awq_qtensor_alloc(ctx, N, K, p->bits, p->group_size, false, out));
    out->sym = p->sym;
    struct pk_job j = {NULL, &s, NULL, in, out, (int)format};
    awq_status st;
    if (format == AWQ_QFMT_AWQ_GEMM) st = awq_gemm_unpack(ctx, &j);
    else if (format == AWQ_QFMT_AWQ_GEMV) st = awq_gemv_unpack(ctx, &j);
    else if (ct) st = awq_ct_unpack(ctx, name, &j);
    else st = awq_gptq_unpack(ctx, name, &j);
    if (st == AWQ_OK && p->sym) {
        const unsigned half = 1u << (p->bits - 1);
        for (int64_t i = 0; i < out->n_groups * N; i++)
            if (out->zeros[i] != half) {
                st = awq_fail(ctx, AWQ_ERR_MISMATCH,
                              "%s: quantization_config says symmetric, but group %lld "
                              "of row %lld has zero point %u (symmetric needs %u)",
                              nm(name), (long long)(i / N), (long long)(i % N),
                              out->zeros[i], half);
                break;
            }
    }
    if (st != AWQ_OK) awq_qtensor_free(out);
    return st;
}

/* ------------------------------------------ GPTQ zero convention */

awq_gptq_zeros_kind awq_gptq_detect_zeros(const awq_packed *in, int bits,
                                          bool sym, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    const awq_packed_tensor *qz = in ? &in->t[AWQ_PT_QZEROS] : NULL;
    if (!qz || !qz->data || qz->ndim != 2 || qz->dtype != AWQ_DT_I32 ||
        !awq_lay_bits_ok(bits) || qz->shape[0] < 1 || qz->shape[1] < 1 ||
        (uint64_t)(qz->shape[0] * qz->shape[1]) * 4u != qz->n_bytes) {
        *why = "qzeros missing or malformed";
        return AWQ_GPTQ_ZEROS_AMBIGUOUS;
    }
    const unsigned maxq = (1u << bits) - 1u, half = 1u << (bits - 1);
    const int64_t rows = qz->shape[0], words = qz->shape[1];
    const int64_t N = words * 32 / bits;
    bool all_half = true, all_half1 = true, any_max = false, not_run = false;
    uint8_t *f = awq_alloc((size_t)N, 1);
    if (!f) {
        *why = "out of memory";
        return AWQ_GPTQ_ZEROS_AMBIGUOUS;
    }
    for (int64_t g = 0; g < rows; g++) {
        stream_get(qz->data, g * words, 1, f, 1, N, bits);
        for (int64_t n = 0; n < N; n++) {
            all_half &= f[n] == half;
            all_half1 &= f[n] == half - 1u;
            any_max |= f[n] == maxq;
        }
        if (bits != 3) {
            const int per = 32 / bits;
            for (int64_t w = 0; w < words && !not_run; w++) {
                const uint8_t *fw = f + w * per;
                int first = -1;
                for (int i = 0; i < per; i++)
                    if (fw[i] == maxq) {
                        first = i;
                        break;
                    }
                if (first < 0) continue;
                for (int i = first + 1; i < per; i++)
                    if (fw[i] != maxq) {
                        not_run = true;
                        break;
                    }
            }
        }
    }
    awq_free(f);
    if (sym && all_half) {
        *why = "symmetric, and every stored zero is 2^(bits-1): true zeros (a v1 "
               "writer stores 2^(bits-1) - 1)";
        return AWQ_GPTQ_ZEROS_TRUE;
    }
    if (sym && all_half1) {
        *why = "symmetric, and every stored zero is 2^(bits-1) - 1: v1 (zero - 1)";
        return AWQ_GPTQ_ZEROS_V1_SYM;
    }
    if (not_run) {
        *why = "a stored zero of 2^bits - 1 is followed by other values in its "
               "word, which a v1 writer's overflow of zero 0 cannot produce: "
               "true zeros";
        return AWQ_GPTQ_ZEROS_TRUE;
    }
    if (any_max) {
        *why = "stored zeros of 2^bits - 1: either v1 overflow of zero-0 groups "
               "(already lossy) or true zeros of 2^bits - 1";
        return AWQ_GPTQ_ZEROS_AMBIGUOUS;
    }
    *why = "consistent with v1 (zero - 1)";
    return AWQ_GPTQ_ZEROS_V1;
}

/* ---------------------------------------------- quantization_config */

awq_status awq_format_quant_config(awq_ctx *ctx, awq_qformat format,
                                   const awq_qconfig_fields *f,
                                   struct cJSON **out) {
    const fmt_entry *e = fmt_get(format);
    if (!e || !f || !out)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_format_quant_config: bad arguments");
    *out = NULL;
    if (format == AWQ_QFMT_CT) return awq_ct_quant_config(ctx, f, out);
    /* every loader's matcher must skip the same modules (skiplist.h) */
    char **skip = NULL;
    int n_skip = 0;
    if (!awq_skip_expand(f->modules_to_not_convert, f->n_modules_to_not_convert, &skip, &n_skip))
        return awq_fail_nomem(ctx, "modules_to_not_convert", 256);
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        awq_skip_free(skip, n_skip);
        return awq_fail_nomem(ctx, "quantization_config", 256);
    }
    bool ok = cJSON_AddStringToObject(o, "quant_method", e->info.quant_method) &&
              cJSON_AddNumberToObject(o, "bits", f->bits) &&
              cJSON_AddNumberToObject(o, "group_size", f->group_size);
    if (e->info.version) {
        ok = ok && cJSON_AddBoolToObject(o, "zero_point", !f->sym) &&
             cJSON_AddStringToObject(o, "version", e->info.version);
        cJSON *arr = cJSON_AddArrayToObject(o, "modules_to_not_convert");
        ok = ok && arr;
        for (int i = 0; ok && i < n_skip; i++) {
            cJSON *sv = cJSON_CreateString(skip[i]);
            ok = sv && cJSON_AddItemToArray(arr, sv);
        }
    } else {
        ok = ok && cJSON_AddBoolToObject(o, "desc_act", f->desc_act) &&
             cJSON_AddBoolToObject(o, "sym", f->sym) &&
             cJSON_AddStringToObject(o, "checkpoint_format", e->info.checkpoint_format);
        if (ok && n_skip > 0) {
            /* GPTQ has no standard skip list: keep AWQ's (a repack back
             * restores it) and add the GPTQModel / vLLM "dynamic" negative
             * rules, "-:<regex>" matched against module names. */
            cJSON *arr = cJSON_AddArrayToObject(o, "modules_to_not_convert");
            cJSON *dyn = cJSON_AddObjectToObject(o, "dynamic");
            ok = arr && dyn;
            for (int i = 0; ok && i < n_skip; i++) {
                const char *m = skip[i];
                cJSON *sv = cJSON_CreateString(m);
                ok = sv && cJSON_AddItemToArray(arr, sv);
                awq_strbuf b;
                awq_sb_init(&b);
                awq_sb_puts(&b, "-:.*");
                for (const char *c = m; *c; c++) {
                    if (strchr("\\.^$|?*+()[]{}", *c)) awq_sb_append(&b, "\\", 1);
                    awq_sb_append(&b, c, 1);
                }
                awq_sb_puts(&b, ".*");
                ok = ok && !b.oom && cJSON_AddObjectToObject(dyn, b.s) != NULL;
                awq_sb_free(&b);
            }
        }
    }
    awq_skip_free(skip, n_skip);
    if (!ok) {
        cJSON_Delete(o);
        return awq_fail_nomem(ctx, "quantization_config", 256);
    }
    *out = o;
    return AWQ_OK;
}

