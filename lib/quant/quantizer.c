/*
 * lib/quant/quantizer.c — the group quantizer: the plain-C oracle
 * (awq_quantize_group_ref / awq_quantize_ref), the threaded vectorisable
 * path (awq_quantize, awq_pseudo_quantize) that must match it bit for bit,
 * dequantization, and the canonical awq_qtensor helpers.
 *
 * The rule follows AutoAWQ's AwqQuantizer.pseudo_quantize_tensor
 * (casper-hansen/AutoAWQ awq/quantize/quantizer.py), checked line by line:
 *   zero point:  max_val = w.amax(dim=1); min_val = w.amin(dim=1)
 *                scales = (max_val - min_val).clamp(min=1e-5) / max_int
 *                zeros  = (-torch.round(min_val / scales)).clamp_(0, max_int)
 *                w = (clamp(round(w / scales) + zeros, 0, max_int) - zeros)
 *                    * scales
 *   symmetric:   max_val = w.abs().amax(dim=1).clamp(min=1e-5)
 *                scales = max_val / (2^(b-1) - 1)
 *                w = clamp(round(w / scales), -2^(b-1), 2^(b-1) - 1) * scales
 * Note the floor applies to the range (max - min), not to the scale, and
 * min/max are taken over the group as is: AutoAWQ does not extend the range
 * to include 0, so an all-positive group gets zero = clamp(negative) = 0 and
 * its codes saturate at the top (and an all-negative group saturates at 0
 * with zero = 2^b - 1). We keep that behaviour so results match AutoAWQ.
 * torch.round rounds half to even: rintf in the default rounding mode.
 * Deliberate difference: AutoAWQ computes in fp16 end to end; we compute in
 * fp32 but round the scale to FP16 first and choose zero and codes with that
 * rounded scale, so the stored (q, z, scale) dequantize to exactly what the
 * pseudo-quantizer returns.
 */
#include "core/core.h"
#include "quant/layouts.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

awq_quant_params awq_quant_default_params(void) {
    awq_quant_params p;
    p.bits = 4;
    p.group_size = 128;
    p.sym = false;
    return p;
}

int64_t awq_group_len(int64_t K, int group_size) {
    if (K < 1 || (group_size != -1 && group_size < 1)) return 0;
    return awq_lay_group_len(K, group_size);
}

int64_t awq_n_groups(int64_t K, int group_size) {
    int64_t g = awq_group_len(K, group_size);
    return g ? (K + g - 1) / g : 0;
}

static const char *nm(const char *name) { return name ? name : "weight"; }

static awq_status check_dims(awq_ctx *ctx, const char *name, int64_t N,
                             int64_t K, int bits, int group_size) {
    if (!awq_lay_bits_ok(bits))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: bits must be 2, 3, 4 or 8 (got %d)", nm(name),
                        bits);
    if (group_size != -1 && group_size < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: group_size must be > 0 or -1 (got %d)", nm(name),
                        group_size);
    if (N < 1 || K < 1 || N > AWQ_LAY_MAX_DIM || K > AWQ_LAY_MAX_DIM ||
        K > AWQ_LAY_MAX_ELEMS / N)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: shape [%lld, %lld] out of range (1..2^31-1 each, "
                        "at most 2^40 elements)",
                        nm(name), (long long)N, (long long)K);
    return AWQ_OK;
}

void awq_qtensor_free(awq_qtensor *t) {
    if (!t) return;
    awq_free(t->q);
    awq_free(t->scales);
    awq_free(t->zeros);
    awq_free(t->g_idx);
    memset(t, 0, sizeof *t);
}

awq_status awq_qtensor_alloc(awq_ctx *ctx, int64_t N, int64_t K, int bits,
                             int group_size, bool with_g_idx,
                             awq_qtensor *out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_qtensor_alloc: out is NULL");
    memset(out, 0, sizeof *out);
    AWQ_TRY(check_dims(ctx, "quantized tensor", N, K, bits, group_size));
    int64_t G = awq_n_groups(K, group_size);
    out->N = N;
    out->K = K;
    out->bits = bits;
    out->group_size = group_size;
    out->n_groups = G;
    out->q = awq_calloc((size_t)(N * K), 1);
    out->scales = awq_calloc((size_t)(G * N), sizeof(uint16_t));
    out->zeros = awq_calloc((size_t)(G * N), 1);
    if (with_g_idx) {
        out->g_idx = awq_alloc((size_t)K, sizeof(int32_t));
        if (out->g_idx) {
            int64_t g = awq_group_len(K, group_size);
            for (int64_t k = 0; k < K; k++) out->g_idx[k] = (int32_t)(k / g);
        }
    }
    if (!out->q || !out->scales || !out->zeros || (with_g_idx && !out->g_idx)) {
        uint64_t bytes = (uint64_t)(N * K) + (uint64_t)(G * N) * 3u;
        awq_qtensor_free(out);
        return awq_fail_nomem(ctx, "quantized tensor", bytes);
    }
    return AWQ_OK;
}

awq_status awq_qtensor_copy(awq_ctx *ctx, const awq_qtensor *src,
                            awq_qtensor *dst) {
    AWQ_TRY(awq_qtensor_alloc(ctx, src->N, src->K, src->bits, src->group_size,
                              src->g_idx != NULL, dst));
    dst->sym = src->sym;
    memcpy(dst->q, src->q, (size_t)(src->N * src->K));
    memcpy(dst->scales, src->scales, (size_t)(src->n_groups * src->N) * 2u);
    memcpy(dst->zeros, src->zeros, (size_t)(src->n_groups * src->N));
    if (src->g_idx) memcpy(dst->g_idx, src->g_idx, (size_t)src->K * 4u);
    return AWQ_OK;
}

bool awq_qtensor_default_g_idx(const awq_qtensor *t) {
    if (!t->g_idx) return true;
    int64_t g = awq_group_len(t->K, t->group_size);
    for (int64_t k = 0; k < t->K; k++)
        if (t->g_idx[k] != (int32_t)(k / g)) return false;
    return true;
}

bool awq_qtensor_equal(const awq_qtensor *a, const awq_qtensor *b) {
    if (a->N != b->N || a->K != b->K || a->bits != b->bits ||
        a->group_size != b->group_size || a->n_groups != b->n_groups)
        return false;
    if (memcmp(a->q, b->q, (size_t)(a->N * a->K)) != 0) return false;
    size_t gn = (size_t)(a->n_groups * a->N);
    if (memcmp(a->scales, b->scales, gn * 2u) != 0) return false;
    if (memcmp(a->zeros, b->zeros, gn) != 0) return false;
    if (a->g_idx && b->g_idx)
        return memcmp(a->g_idx, b->g_idx, (size_t)a->K * 4u) == 0;
    if (a->g_idx) return awq_qtensor_default_g_idx(a);
    if (b->g_idx) return awq_qtensor_default_g_idx(b);
    return true;
}

awq_status awq_qtensor_check(awq_ctx *ctx, const char *name,
                             const awq_qtensor *t) {
    if (!t || !t->q || !t->scales || !t->zeros)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: quantized tensor has no buffers",
                        nm(name));
    AWQ_TRY(check_dims(ctx, name, t->N, t->K, t->bits, t->group_size));
    if (t->n_groups != awq_n_groups(t->K, t->group_size))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: n_groups %lld does not match K %lld / group size %d",
                        nm(name), (long long)t->n_groups, (long long)t->K,
                        t->group_size);
    const unsigned maxq = (1u << t->bits) - 1u;
    const int64_t NK = t->N * t->K;
    for (int64_t i = 0; i < NK; i++) {
        if (t->q[i] > maxq)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: code %u at (row %lld, column %lld) exceeds %u-bit range",
                            nm(name), t->q[i], (long long)(i / t->K),
                            (long long)(i % t->K), (unsigned)t->bits);
    }
    const int64_t GN = t->n_groups * t->N;
    const unsigned half = 1u << (t->bits - 1);
    for (int64_t i = 0; i < GN; i++) {
        long long g = (long long)(i / t->N), n = (long long)(i % t->N);
        if (t->zeros[i] > maxq)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: zero point %u of group %lld, row %lld exceeds %u-bit range",
                            nm(name), t->zeros[i], g, n, (unsigned)t->bits);
        if (t->sym && t->zeros[i] != half)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: symmetric tensor has zero point %u (not %u) at group %lld, row %lld",
                            nm(name), t->zeros[i], half, g, n);
        float s = awq_f16_to_f32(t->scales[i]);
        if (!(s > 0.0f) || !isfinite(s))
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: scale %g of group %lld, row %lld is not finite and positive",
                            nm(name), (double)s, g, n);
    }
    if (t->g_idx) {
        for (int64_t k = 0; k < t->K; k++)
            if (t->g_idx[k] < 0 || t->g_idx[k] >= t->n_groups)
                return awq_fail(ctx, AWQ_ERR_RANGE,
                                "%s: g_idx[%lld] = %d outside [0, %lld)", nm(name),
                                (long long)k, (int)t->g_idx[k],
                                (long long)t->n_groups);
    }
    return AWQ_OK;
}

/* ------------------------------------------------------- the oracle */

awq_status awq_quantize_group_ref(const float *w, int64_t n, int bits,
                                  bool sym, uint16_t *scale, uint8_t *zero,
                                  uint8_t *q) {
    if (!w || n < 1 || !awq_lay_bits_ok(bits) || !scale || !zero || !q)
        return AWQ_ERR_INVALID_ARG;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(w[i])) return AWQ_ERR_RANGE;
    const int maxq = (1 << bits) - 1;
    const int half = 1 << (bits - 1);
    float sc, mn = w[0];
    if (!sym) {
        float mx = w[0];
        for (int64_t i = 1; i < n; i++) {
            mx = fmaxf(mx, w[i]);
            mn = fminf(mn, w[i]);
        }
        float range = mx - mn; /* may overflow to inf: caught below */
        if (range < AWQ_QUANT_RANGE_FLOOR) range = AWQ_QUANT_RANGE_FLOOR;
        sc = range / (float)maxq;
    } else {
        float amax = 0.0f;
        for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[i]));
        if (amax < AWQ_QUANT_RANGE_FLOOR) amax = AWQ_QUANT_RANGE_FLOOR;
        sc = amax / (float)(half - 1);
    }
    if (!(sc <= AWQ_F16_MAX)) return AWQ_ERR_RANGE;
    const uint16_t h = awq_f32_to_f16(sc);
    const float s = awq_f16_to_f32(h);
    int z;
    if (!sym) {
        float zf = -rintf(mn / s);
        z = zf < 0.0f ? 0 : zf > (float)maxq ? maxq : (int)zf;
        for (int64_t i = 0; i < n; i++) {
            float v = rintf(w[i] / s) + (float)z;
            v = v < 0.0f ? 0.0f : v > (float)maxq ? (float)maxq : v;
            q[i] = (uint8_t)(int)v;
        }
    } else {
        z = half;
        for (int64_t i = 0; i < n; i++) {
            float v = rintf(w[i] / s);
            v = v < (float)-half ? (float)-half
                : v > (float)(half - 1) ? (float)(half - 1) : v;
            q[i] = (uint8_t)((int)v + half);
        }
    }
    *scale = h;
    *zero = (uint8_t)z;
    return AWQ_OK;
}

/* Message for a failed group: find out whether an input was non-finite
 * (naming the first such element) or the scale overflowed. */
static awq_status group_error(awq_ctx *ctx, const char *name, const float *w,
                              int64_t n, int bits, bool sym, int64_t row,
                              int64_t col0, int64_t group) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: non-finite weight %g at (row %lld, column %lld)",
                            nm(name), (double)w[i], (long long)row,
                            (long long)(col0 + i));
    float mx = w[0], mn = w[0], amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        mx = fmaxf(mx, w[i]);
        mn = fminf(mn, w[i]);
        amax = fmaxf(amax, fabsf(w[i]));
    }
    double sc = sym ? (double)amax / (double)((1 << (bits - 1)) - 1)
                    : ((double)mx - (double)mn) / (double)((1 << bits) - 1);
    return awq_fail(ctx, AWQ_ERR_RANGE,
                    "%s: group %lld of row %lld (columns %lld..%lld): scale %g "
                    "exceeds the FP16 maximum 65504 (weights %g..%g)",
                    nm(name), (long long)group, (long long)row, (long long)col0,
                    (long long)(col0 + n - 1), sc, (double)mn, (double)mx);
}

static awq_status check_params(awq_ctx *ctx, const char *name,
                               const float *w, int64_t N, int64_t K,
                               const awq_quant_params *p) {
    if (!w || !p)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL weight or params",
                        nm(name));
    return check_dims(ctx, name, N, K, p->bits, p->group_size);
}

awq_status awq_quantize_ref(awq_ctx *ctx, const char *name, const float *w,
                            int64_t N, int64_t K, const awq_quant_params *p,
                            awq_qtensor *out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: out is NULL", nm(name));
    memset(out, 0, sizeof *out);
    AWQ_TRY(check_params(ctx, name, w, N, K, p));
    AWQ_TRY(awq_qtensor_alloc(ctx, N, K, p->bits, p->group_size, false, out));
    out->sym = p->sym;
    const int64_t gl = awq_group_len(K, p->group_size), G = out->n_groups;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < G; g++) {
            int64_t k0 = g * gl, len = AWQ_MIN(gl, K - k0);
            const float *src = w + n * K + k0;
            awq_status s = awq_quantize_group_ref(
                src, len, p->bits, p->sym, &out->scales[g * N + n],
                &out->zeros[g * N + n], out->q + n * K + k0);
            if (s != AWQ_OK) {
                awq_qtensor_free(out);
                return group_error(ctx, name, src, len, p->bits, p->sym, n,
                                   k0, g);
            }
        }
    }
    return AWQ_OK;
}

/* ------------------------------------------------------ dequantization */

struct deq_job {
    const awq_qtensor *t;
    float *out;          /* row r0 of the tensor lands at out[0] */
    int64_t gl;
    int64_t r0;
};

static void deq_rows(void *arg, int64_t b, int64_t e, int worker) {
    const struct deq_job *j = arg;
    const awq_qtensor *t = j->t;
    const int64_t K = t->K, N = t->N;
    for (int64_t n = b + j->r0; n < e + j->r0; n++) {
        const uint8_t *q = t->q + n * K;
        float *o = j->out + (n - j->r0) * K;
        if (t->g_idx) {
            for (int64_t k = 0; k < K; k++) {
                int64_t g = t->g_idx[k];
                float s = awq_f16_to_f32(t->scales[g * N + n]);
                o[k] = (float)((int)q[k] - (int)t->zeros[g * N + n]) * s;
            }
            continue;
        }
        for (int64_t g = 0; g < t->n_groups; g++) {
            int64_t k0 = g * j->gl, k1 = AWQ_MIN(K, k0 + j->gl);
            const float s = awq_f16_to_f32(t->scales[g * N + n]);
            const int z = t->zeros[g * N + n];
            for (int64_t k = k0; k < k1; k++) o[k] = (float)((int)q[k] - z) * s;
        }
    }
}

awq_status awq_dequantize(awq_ctx *ctx, const awq_qtensor *t, float *out) {
    if (!t) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_dequantize: NULL argument");
    return awq_dequantize_rows(ctx, t, 0, t->N, out);
}

awq_status awq_dequantize_rows(awq_ctx *ctx, const awq_qtensor *t, int64_t r0,
                               int64_t nr, float *out) {
    if (!t || !out || !t->q || !t->scales || !t->zeros)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_dequantize: NULL argument");
    if (r0 < 0 || nr < 0 || r0 > t->N - nr)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "awq_dequantize_rows: rows [%lld, %lld) outside [0, %lld)",
                        (long long)r0, (long long)(r0 + nr), (long long)t->N);
    AWQ_TRY(check_dims(ctx, "quantized tensor", t->N, t->K, t->bits, t->group_size));
    if (t->g_idx) {
        for (int64_t k = 0; k < t->K; k++)
            if (t->g_idx[k] < 0 || t->g_idx[k] >= t->n_groups)
                return awq_fail(ctx, AWQ_ERR_RANGE, "g_idx[%lld] = %d outside [0, %lld)",
                                (long long)k, (int)t->g_idx[k], (long long)t->n_groups);
    }
    struct deq_job j = {t, out, awq_group_len(t->K, t->group_size), r0};
    awq_parallel_for(ctx, nr, deq_rows, &j);
    return AWQ_OK;
}

awq_status awq_pseudo_quantize_ref(awq_ctx *ctx, const char *name,
                                   const float *w, float *out, int64_t N,
                                   int64_t K, const awq_quant_params *p) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: out is NULL", nm(name));
    awq_qtensor t;
    AWQ_TRY(awq_quantize_ref(ctx, name, w, N, K, p, &t));
    /* The oracle stays single-threaded: dequantize row by row here. */
    struct deq_job j = {&t, out, awq_group_len(K, p->group_size), 0};
    deq_rows(&j, 0, N, 0);
    awq_qtensor_free(&t);
    return AWQ_OK;
}

/* ---------------------------------------------------------- fast path */

/* rint for |x| <= 2^22 without a libm call, so the loop vectorises:
 * adding 1.5 * 2^23 pushes the fraction out of the mantissa, rounding to
 * nearest even in the default mode; subtracting restores the integer
 * exactly. Inputs are first clamped to +-2^22, which cannot change the
 * final clamped code (any |x| >= 2^22 clamps to 0 or maxq either way). */
#define AWQ_Q_LIM 4194304.0f   /* 2^22 */
#define AWQ_Q_MAGIC 12582912.0f /* 1.5 * 2^23 */

/* Per-group statistics: returns false on a non-finite input. Eight
 * independent lanes so the reductions vectorise (a single running min is a
 * loop-carried dependency GCC will not reorder without -ffast-math). The
 * lane order cannot change the result: min / max of finite values are exact
 * and the only ambiguity, the sign of a zero extreme, does not reach the
 * scale or the zero point (range = mx - mn and -rint(mn / s) + clamp give
 * the same values for +0 and -0). */
#define AWQ_Q_LANES 8
static inline bool group_stats(const float *w, int64_t n, float *mn_out,
                               float *mx_out, float *amax_out) {
    float vmn[AWQ_Q_LANES], vmx[AWQ_Q_LANES], vam[AWQ_Q_LANES];
    int vbad[AWQ_Q_LANES];
    for (int l = 0; l < AWQ_Q_LANES; l++) {
        vmn[l] = vmx[l] = w[0];
        vam[l] = 0.0f;
        vbad[l] = 0;
    }
    int64_t i = 0;
    for (; i + AWQ_Q_LANES <= n; i += AWQ_Q_LANES) {
        for (int l = 0; l < AWQ_Q_LANES; l++) {
            float x = w[i + l];
            vmn[l] = x < vmn[l] ? x : vmn[l];
            vmx[l] = x > vmx[l] ? x : vmx[l];
            float a = fabsf(x);
            vam[l] = a > vam[l] ? a : vam[l];
            vbad[l] |= !(x - x == 0.0f); /* NaN or +-inf */
        }
    }
    for (; i < n; i++) {
        float x = w[i];
        vmn[0] = x < vmn[0] ? x : vmn[0];
        vmx[0] = x > vmx[0] ? x : vmx[0];
        float a = fabsf(x);
        vam[0] = a > vam[0] ? a : vam[0];
        vbad[0] |= !(x - x == 0.0f);
    }
    float mn = vmn[0], mx = vmx[0], amax = vam[0];
    int bad = vbad[0];
    for (int l = 1; l < AWQ_Q_LANES; l++) {
        mn = vmn[l] < mn ? vmn[l] : mn;
        mx = vmx[l] > mx ? vmx[l] : mx;
        amax = vam[l] > amax ? vam[l] : amax;
        bad |= vbad[l];
    }
    *mn_out = mn;
    *mx_out = mx;
    *amax_out = amax;
    return !bad;
}

/* Scale (FP16-rounded, as float), zero; false when the scale overflows. */
static inline bool group_scale(float mn, float mx, float amax, int bits,
                               bool sym, uint16_t *h_out, float *s_out,
                               float *z_out) {
    const int maxq = (1 << bits) - 1, half = 1 << (bits - 1);
    float sc;
    if (!sym) {
        float range = mx - mn;
        if (range < AWQ_QUANT_RANGE_FLOOR) range = AWQ_QUANT_RANGE_FLOOR;
        sc = range / (float)maxq;
    } else {
        float a = amax < AWQ_QUANT_RANGE_FLOOR ? AWQ_QUANT_RANGE_FLOOR : amax;
        sc = a / (float)(half - 1);
    }
    if (!(sc <= AWQ_F16_MAX)) return false;
    uint16_t h = awq_f32_to_f16(sc);
    float s = awq_f16_to_f32(h);
    float z;
    if (!sym) {
        z = -rintf(mn / s);
        z = z < 0.0f ? 0.0f : z > (float)maxq ? (float)maxq : z;
        z += 0.0f; /* -0 -> +0 */
    } else {
        z = (float)half;
    }
    *h_out = h;
    *s_out = s;
    *z_out = z;
    return true;
}

/* Codes of one group into q (unsigned form), and/or dequantized values into
 * d. lo/hi are the clamp bounds of rint(w/s) + off: asymmetric off = z,
 * [0, maxq]; symmetric off = 0, [-half, half-1] then + half. Written as one
 * branch-free loop per mode so GCC vectorises it. */
static inline void group_codes(const float *restrict w, int64_t n, float s,
                               float z, int bits, bool sym,
                               uint8_t *restrict q) {
    const float maxq = (float)((1 << bits) - 1);
    if (!sym) {
        for (int64_t i = 0; i < n; i++) {
            float x = w[i] / s;
            x = x < -AWQ_Q_LIM ? -AWQ_Q_LIM : x;
            x = x > AWQ_Q_LIM ? AWQ_Q_LIM : x;
            float v = ((x + AWQ_Q_MAGIC) - AWQ_Q_MAGIC) + z;
            v = v < 0.0f ? 0.0f : v;
            v = v > maxq ? maxq : v;
            q[i] = (uint8_t)(int)v;
        }
    } else {
        const float lo = -z, hi = z - 1.0f;
        for (int64_t i = 0; i < n; i++) {
            float x = w[i] / s;
            x = x < -AWQ_Q_LIM ? -AWQ_Q_LIM : x;
            x = x > AWQ_Q_LIM ? AWQ_Q_LIM : x;
            float v = (x + AWQ_Q_MAGIC) - AWQ_Q_MAGIC;
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            q[i] = (uint8_t)(int)(v + z);
        }
    }
}

static inline void group_pseudo(const float *w, float *d, int64_t n, float s,
                                float z, int bits, bool sym) {
    const float maxq = (float)((1 << bits) - 1);
    if (!sym) {
        for (int64_t i = 0; i < n; i++) {
            float x = w[i] / s;
            x = x < -AWQ_Q_LIM ? -AWQ_Q_LIM : x;
            x = x > AWQ_Q_LIM ? AWQ_Q_LIM : x;
            float v = ((x + AWQ_Q_MAGIC) - AWQ_Q_MAGIC) + z;
            v = v < 0.0f ? 0.0f : v;
            v = v > maxq ? maxq : v;
            d[i] = (v - z) * s;
        }
    } else {
        const float lo = -z, hi = z - 1.0f;
        for (int64_t i = 0; i < n; i++) {
            float x = w[i] / s;
            x = x < -AWQ_Q_LIM ? -AWQ_Q_LIM : x;
            x = x > AWQ_Q_LIM ? AWQ_Q_LIM : x;
            float v = (x + AWQ_Q_MAGIC) - AWQ_Q_MAGIC;
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            /* via the unsigned code, as the oracle dequantizes: (v + z) - z
             * turns a -0 from rounding into +0 */
            d[i] = ((v + z) - z) * s;
        }
    }
}

/* First failure found by one worker (rows are scanned in order, so the
 * minimum over workers is the first failure in row-major order, which is
 * what the oracle reports). */
struct q_err {
    int64_t row;   /* -1: none */
    int64_t group;
};

struct q_job {
    const float *w;
    float *dout;         /* pseudo-quantize output, or NULL */
    awq_qtensor *t;      /* quantize output, or NULL */
    int64_t N, K, gl, G;
    int bits;
    bool sym;
    struct q_err *err;   /* one per worker */
};

static void q_rows(void *arg, int64_t b, int64_t e, int worker) {
    const struct q_job *j = arg;
    const int64_t K = j->K, N = j->N;
    for (int64_t n = b; n < e; n++) {
        const float *wr = j->w + n * K;
        for (int64_t g = 0; g < j->G; g++) {
            int64_t k0 = g * j->gl, len = AWQ_MIN(j->gl, K - k0);
            float mn, mx, amax, s, z;
            uint16_t h;
            if (!group_stats(wr + k0, len, &mn, &mx, &amax) ||
                !group_scale(mn, mx, amax, j->bits, j->sym, &h, &s, &z)) {
                j->err[worker].row = n;
                j->err[worker].group = g;
                return;
            }
            if (j->t) {
                j->t->scales[g * N + n] = h;
                j->t->zeros[g * N + n] = (uint8_t)(int)z;
                group_codes(wr + k0, len, s, z, j->bits, j->sym,
                            j->t->q + n * K + k0);
            } else {
                group_pseudo(wr + k0, j->dout + n * K + k0, len, s, z, j->bits,
                             j->sym);
            }
        }
    }
}

static awq_status run_fast(awq_ctx *ctx, const char *name, const float *w,
                           int64_t N, int64_t K, const awq_quant_params *p,
                           awq_qtensor *t, float *dout) {
    int nw = ctx ? awq_ctx_n_threads(ctx) : 1;
    if (nw < 1) nw = 1;
    struct q_err *err = awq_alloc((size_t)nw, sizeof *err);
    if (!err) return awq_fail_nomem(ctx, "quantizer error slots", (uint64_t)nw * sizeof *err);
    for (int i = 0; i < nw; i++) err[i].row = -1;
    struct q_job j = {w, dout, t, N, K, awq_group_len(K, p->group_size),
                      awq_n_groups(K, p->group_size), p->bits, p->sym, err};
    awq_parallel_for(ctx, N, q_rows, &j);
    int64_t row = -1, group = -1;
    for (int i = 0; i < nw; i++)
        if (err[i].row >= 0 && (row < 0 || err[i].row < row)) {
            row = err[i].row;
            group = err[i].group;
        }
    awq_free(err);
    if (row < 0) return AWQ_OK;
    int64_t k0 = group * j.gl, len = AWQ_MIN(j.gl, K - k0);
    return group_error(ctx, name, w + row * K + k0, len, p->bits, p->sym, row,
                       k0, group);
}

awq_status awq_quantize(awq_ctx *ctx, const char *name, const float *w,
                        int64_t N, int64_t K, const awq_quant_params *p,
                        awq_qtensor *out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: out is NULL", nm(name));
    memset(out, 0, sizeof *out);
    AWQ_TRY(check_params(ctx, name, w, N, K, p));
    AWQ_TRY(awq_qtensor_alloc(ctx, N, K, p->bits, p->group_size, false, out));
    out->sym = p->sym;
    awq_status s = run_fast(ctx, name, w, N, K, p, out, NULL);
    if (s != AWQ_OK) awq_qtensor_free(out);
    return s;
}

awq_status awq_pseudo_quantize(awq_ctx *ctx, const char *name, const float *w,
                               float *out, int64_t N, int64_t K,
                               const awq_quant_params *p) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: out is NULL", nm(name));
    AWQ_TRY(check_params(ctx, name, w, N, K, p));
    return run_fast(ctx, name, w, N, K, p, NULL, out);
}
