/*
 * lib/quant/ct_float.c — compressed-tensors float weights, dequantized to
 * fp32 for the forward pass (read from the compressed-tensors package:
 * compressors/naive_quantized (float-quantized), compressors/nvfp4 and
 * nvfp4/helpers.py, quantization/lifecycle/forward.py _dequantize):
 *   float-quantized       <p>.weight F8_E4M3 [N, K], <p>.weight_scale:
 *                         [1] (tensor), [N, 1] (channel), [N, K/g] (group)
 *                         or [ceil(N/bn), ceil(K/bk)] (block);
 *                         w = fp8 * scale
 *   naive-quantized       the same with F8_E4M3 weights (what llm-compressor
 *                         writes for FP8 weight schemes), or I8 weights
 *                         with an optional I8 <p>.weight_zero_point of the
 *                         scale's shape: w = (q - z) * scale
 *   nvfp4-pack-quantized  <p>.weight_packed U8 [N, K/2], two FP4 E2M1 codes
 *                         a byte (element 2j in the low nibble; bit 3 the
 *                         sign, bits 0-2 index {0, .5, 1, 1.5, 2, 3, 4, 6}),
 *                         <p>.weight_scale F8_E4M3 [N, K/16],
 *                         <p>.weight_global_scale F32 [1];
 *                         w = fp4 * (scale / global_scale)
 *   pack-quantized        (integers, layouts.h) when its scales are BF16 / F32
 *                         values FP16 cannot hold exactly, which the packed
 *                         formats' canonical form (FP16 scales) refuses, or
 *                         when config groups use different schemes (bits
 *                         from the word count, group from the scale shape,
 *                         symmetric when weight_zero_point is absent):
 *                         w = (q - z) * scale straight from the stored words
 * Products are formed in fp32 (the library forms them in the scale's dtype
 * and, for NVFP4, rounds the weight to BF16; tests name the tolerance).
 */
#include "quant/ct.h"
#include "quant/layouts.h"

#include "core/core.h"

#include "awqkit/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float awq_f8e4m3_to_f32(uint8_t v) {
    const int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
    float x;
    if (e == 15 && m == 7) x = NAN; /* E4M3FN: no infinities, one NaN */
    else if (e == 0) x = ldexpf((float)m / 8.0f, -6);
    else x = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -x : x;
}

static const float k_e2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

static const awq_tensor_info *part(const awq_checkpoint *ck, const char *prefix,
                                   const char *sfx) {
    char name[1100];
    if (snprintf(name, sizeof name, "%s.%s", prefix, sfx) >= (int)sizeof name) return NULL;
    return awq_checkpoint_find(ck, name);
}

/* One scale value as fp32 (F8_E4M3, F16, BF16 or F32 storage). */
static float scale_at(const awq_tensor_info *t, int64_t i) {
    const unsigned char *d = t->data;
    uint16_t h;
    float f;
    switch (t->dtype) {
    case AWQ_DT_F8_E4M3: return awq_f8e4m3_to_f32(d[i]);
    case AWQ_DT_F16: memcpy(&h, d + 2 * i, 2); return awq_f16_to_f32(h);
    case AWQ_DT_BF16: memcpy(&h, d + 2 * i, 2); return awq_bf16_to_f32(h);
    default: memcpy(&f, d + 4 * i, 4); return f;
    }
}

static bool scale_dtype_ok(awq_dtype d) {
    return d == AWQ_DT_F8_E4M3 || d == AWQ_DT_F16 || d == AWQ_DT_BF16 || d == AWQ_DT_F32;
}

/* Smallest power of two b with ceil(n / b) == blocks (0 when none). */
static int64_t block_len(int64_t n, int64_t blocks) {
    for (int64_t b = 1; b <= n * 2 && b > 0; b <<= 1)
        if ((n + b - 1) / b == blocks) return b;
    return 0;
}

/* Where the scale of W[r, c] is: out row / column divisors for the stored
 * scale shape (see the header comment). */
typedef struct scale_map {
    int64_t rdiv, cdiv, cols; /* index = (r / rdiv) * cols + c / cdiv */
} scale_map;

static bool map_scale(const awq_tensor_info *s, int64_t N, int64_t K, scale_map *m) {
    int64_t s0 = s->ndim >= 1 ? s->shape[0] : 1, s1 = s->ndim >= 2 ? s->shape[1] : 1;
    if (s->ndim > 2) return false;
    if ((uint64_t)s->n_elements == 1) {
        *m = (scale_map){N, K, 1};
        return true;
    }
    if (s0 == N && (s->ndim == 1 || s1 == 1)) {
        *m = (scale_map){1, K, 1};
        return true;
    }
    if (s->ndim == 2 && s0 == N && K % s1 == 0) {
        *m = (scale_map){1, K / s1, s1};
        return true;
    }
    int64_t bn = s->ndim == 2 ? block_len(N, s0) : 0, bk = s->ndim == 2 ? block_len(K, s1) : 0;
    if (bn && bk) {
        *m = (scale_map){bn, bk, s1};
        return true;
    }
    return false;
}

typedef struct fl_job {
    const uint8_t *src;
    const awq_tensor_info *sc;
    const int8_t *zp;     /* naive int8: zero points (scale layout) or NULL */
    bool i8;
    int bits;             /* pack-quantized: code width, else 0 */
    const unsigned char *pz; /* pack-quantized zero words [N*b/32, G] or NULL */
    int64_t G;
    const scale_map *m;
    int64_t K;
    float g;
    bool fp4;
    float *out;           /* dequantized [N, K], or NULL (steps only) */
    const float *ref;     /* source weights [N, K] for the step check, or NULL */
    int64_t *row_off;     /* per row: weights off their step (with ref) */
    float *row_worst;     /* per row: largest error in half steps */
} fl_job;

/* Half-step slack: the producer divides by the scale in the model's
 * dtype (FP16 / BF16) before rounding to the grid. */
#define STEP_TOL (1.0 + 1.0 / 32)

static const float k_e2m1_gap[8] = {0.5f, 0.5f, 0.5f, 0.5f, 1.0f, 1.0f, 2.0f, 2.0f};

/* The grid step above |v| for FP8 E4M3 codes: 2^-9 among subnormals, else
 * 2^(e-3) for |v| in [2^e, 2^(e+1)) (the larger of the two around a power
 * of two, so a value that rounded to it is always inside). */
static float e4m3_gap(float v) {
    float a = fabsf(v);
    if (a < ldexpf(1.0f, -6)) return ldexpf(1.0f, -9);
    int ex;
    frexpf(a, &ex);
    return ldexpf(1.0f, ex - 4);
}

static void fl_rows(void *arg, int64_t b, int64_t e, int worker) {
    const fl_job *j = arg;
    const int64_t K = j->K;
    for (int64_t r = b; r < e; r++)
        for (int64_t c = 0; c < K; c++) {
            float s = scale_at(j->sc, (r / j->m->rdiv) * j->m->cols + c / j->m->cdiv);
            float v, gap = 1.0f;
            if (j->fp4) {
                uint8_t byte = j->src[r * (K / 2) + c / 2];
                uint8_t code = (c & 1) ? (uint8_t)(byte >> 4) : (uint8_t)(byte & 15);
                v = (code & 8) ? -k_e2m1[code & 7] : k_e2m1[code & 7];
                gap = k_e2m1_gap[code & 7];
                s = s / j->g;
            } else if (j->bits) {
                awq_lay_pos ps = awq_lay_qweight_pos(AWQ_QFMT_CT, K, 0, j->bits, r, c);
                uint32_t lo, hi = 0;
                memcpy(&lo, j->src + 4 * ps.word, 4);
                if (ps.word2 >= 0) memcpy(&hi, j->src + 4 * ps.word2, 4);
                int q = (int)awq_lay_field_get(lo, hi, ps.shift, j->bits), z = 1 << (j->bits - 1);
                if (j->pz) {
                    awq_lay_pos pz = awq_lay_qzeros_pos(AWQ_QFMT_CT, 0, j->bits, j->G,
                                                        c / j->m->cdiv, r);
                    memcpy(&lo, j->pz + 4 * pz.word, 4);
                    hi = 0;
                    if (pz.word2 >= 0) memcpy(&hi, j->pz + 4 * pz.word2, 4);
                    z = (int)awq_lay_field_get(lo, hi, pz.shift, j->bits);
                }
                v = (float)(q - z);
            } else if (j->i8) {
                int64_t si = (r / j->m->rdiv) * j->m->cols + c / j->m->cdiv;
                v = (float)((int)(int8_t)j->src[r * K + c] - (j->zp ? (int)j->zp[si] : 0));
            } else {
                v = awq_f8e4m3_to_f32(j->src[r * K + c]);
                gap = e4m3_gap(v);
            }
            const float w = v * s;
            if (j->out) j->out[r * K + c] = w;
            if (j->ref) {
                double d = fabs((double)j->ref[r * K + c] - (double)w);
                double half = 0.5 * (double)gap * fabs((double)s);
                double q = half > 0 ? d / half : (d > 0 ? INFINITY : 0.0);
                if (!(q <= STEP_TOL)) j->row_off[r]++;
                if (!(q <= (double)j->row_worst[r])) j->row_worst[r] = (float)q;
            }
        }
}

/* Run a job over the N rows; with ref, the step counts into *steps. */
static awq_status run_job(awq_ctx *ctx, int64_t N, fl_job *j, const float *ref,
                          awq_ct_steps *steps) {
    if (ref) {
        j->ref = ref;
        j->row_off = calloc((size_t)N, sizeof *j->row_off);
        j->row_worst = calloc((size_t)N, sizeof *j->row_worst);
        if (!j->row_off || !j->row_worst) {
            free(j->row_off);
            free(j->row_worst);
            return awq_fail_nomem(ctx, "step check", (uint64_t)N * 12u);
        }
    }
    awq_parallel_for(ctx, N, fl_rows, j);
    if (ref) {
        steps->n_off = 0;
        steps->first_row = -1;
        steps->worst = 0;
        for (int64_t r = 0; r < N; r++) {
            if (j->row_off[r] && steps->first_row < 0) steps->first_row = r;
            steps->n_off += j->row_off[r];
            if (!((double)j->row_worst[r] <= steps->worst)) steps->worst = (double)j->row_worst[r];
        }
        free(j->row_off);
        free(j->row_worst);
    }
    return AWQ_OK;
}

/* pack-quantized straight from the words: codes of `bits` bits along K,
 * bits = 32 * words / K; zero points from weight_zero_point, else
 * 2^(bits-1) (symmetric). */
static awq_status int_pack_dequant(awq_ctx *ctx, const awq_checkpoint *ck, const char *prefix,
                                   int64_t N, int64_t K, const awq_tensor_info *pk,
                                   const awq_tensor_info *sc, float *out, const float *ref,
                                   awq_ct_steps *steps) {
    const awq_tensor_info *zt = part(ck, prefix, "weight_zero_point");
    if (pk->ndim != 2 || pk->shape[0] != N || (pk->shape[1] * 32) % K != 0)
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.weight_packed: shape does not hold [%lld, "
                        "%lld] codes", prefix, (long long)N, (long long)K);
    const int bits = (int)(pk->shape[1] * 32 / K);
    const int64_t G = sc->ndim == 2 ? sc->shape[1] : 0;
    awq_lay_shapes ls;
    if (!awq_lay_bits_ok(bits) || sc->ndim != 2 || sc->shape[0] != N || G < 1 || K % G != 0 ||
        awq_lay_get_shapes(AWQ_QFMT_CT, K, N, bits, (int)(K / G), &ls) != AWQ_LAY_OK)
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "%s: weight_packed [%lld, %lld] / weight_scale fit no %s linear [%lld, "
                        "%lld]", prefix, (long long)pk->shape[0], (long long)pk->shape[1],
                        "pack-quantized", (long long)N, (long long)K);
    if (zt && (zt->dtype != AWQ_DT_I32 || zt->ndim != 2 || zt->shape[0] != ls.qzeros[0] ||
               zt->shape[1] != ls.qzeros[1]))
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.weight_zero_point: expected I32 [%lld, %lld]",
                        prefix, (long long)ls.qzeros[0], (long long)ls.qzeros[1]);
    scale_map m = {1, K / G, G};
    fl_job j = {pk->data, sc, NULL, false, bits, zt ? zt->data : NULL, G, &m, K, 1.0f, false,
                out, NULL, NULL, NULL};
    return run_job(ctx, N, &j, ref, steps);
}

bool awq_ct_float_linear(const awq_checkpoint *ck, const char *prefix) {
    const awq_tensor_info *w = part(ck, prefix, "weight");
    if (w && (w->dtype == AWQ_DT_F8_E4M3 || w->dtype == AWQ_DT_I8) &&
        part(ck, prefix, "weight_scale"))
        return true;
    const awq_tensor_info *p = part(ck, prefix, "weight_packed");
    if (p && p->dtype == AWQ_DT_I32) return part(ck, prefix, "weight_scale") != NULL;
    return p && p->dtype == AWQ_DT_U8 && part(ck, prefix, "weight_global_scale");
}

static awq_status dequant(awq_ctx *ctx, const awq_checkpoint *ck, const char *prefix, int64_t N,
                          int64_t K, float *out, const float *ref, awq_ct_steps *steps) {
    const awq_tensor_info *sc = part(ck, prefix, "weight_scale");
    const awq_tensor_info *w = part(ck, prefix, "weight");
    const awq_tensor_info *pk = part(ck, prefix, "weight_packed");
    const awq_tensor_info *gs = part(ck, prefix, "weight_global_scale");
    const bool i8 = w && w->dtype == AWQ_DT_I8;
    const bool ipack = !w && pk && pk->dtype == AWQ_DT_I32;
    const bool fp4 = !ipack && !(w && (w->dtype == AWQ_DT_F8_E4M3 || i8));
    if (ipack) return int_pack_dequant(ctx, ck, prefix, N, K, pk, sc, out, ref, steps);
    const awq_tensor_info *zp = i8 ? part(ck, prefix, "weight_zero_point") : NULL;
    if (!sc || !scale_dtype_ok(sc->dtype))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s.weight_scale: %s", prefix,
                        sc ? "not an F8_E4M3 / F16 / BF16 / F32 tensor" : "missing");
    if (fp4) {
        if (!pk || pk->dtype != AWQ_DT_U8 || pk->ndim != 2 || pk->shape[0] != N ||
            pk->shape[1] * 2 != K)
            return awq_fail(ctx, AWQ_ERR_MISMATCH,
                            "%s.weight_packed: expected U8 [%lld, %lld] (two FP4 codes a "
                            "byte)", prefix, (long long)N, (long long)(K / 2));
        if (!gs || gs->n_elements != 1 || !scale_dtype_ok(gs->dtype))
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s.weight_global_scale: expected one float",
                            prefix);
    } else if (w->ndim != 2 || w->shape[0] != N || w->shape[1] != K) {
        return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.weight: expected F8_E4M3 / I8 [%lld, %lld]",
                        prefix, (long long)N, (long long)K);
    }
    if (zp && (zp->dtype != AWQ_DT_I8 || zp->n_elements != sc->n_elements))
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "%s.weight_zero_point: expected I8 with the shape of weight_scale",
                        prefix);
    scale_map m;
    if (!map_scale(sc, N, K, &m))
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "%s.weight_scale: shape fits no tensor / channel / group / block "
                        "scale of a [%lld, %lld] weight", prefix, (long long)N, (long long)K);
    const float g = fp4 ? scale_at(gs, 0) : 1.0f;
    if (!(g != 0.0f) || !isfinite(g))
        return awq_fail(ctx, AWQ_ERR_RANGE, "%s.weight_global_scale is %g", prefix, (double)g);
    fl_job j = {fp4 ? pk->data : w->data, sc, zp ? zp->data : NULL, i8, 0, NULL, 0, &m, K, g,
                fp4, out, NULL, NULL, NULL};
    return run_job(ctx, N, &j, ref, steps);
}

awq_status awq_ct_float_dequant(awq_ctx *ctx, const awq_checkpoint *ck, const char *prefix,
                                int64_t N, int64_t K, float *out) {
    return dequant(ctx, ck, prefix, N, K, out, NULL, NULL);
}

awq_status awq_ct_float_steps(awq_ctx *ctx, const awq_checkpoint *ck, const char *prefix,
                              int64_t N, int64_t K, const float *src, awq_ct_steps *out) {
    memset(out, 0, sizeof *out);
    out->first_row = -1;
    return dequant(ctx, ck, prefix, N, K, NULL, src, out);
}
