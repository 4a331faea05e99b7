/*
 * lib/quant/qmath.h — the per-element arithmetic of the group quantizer,
 * written once for the host (C) and the GPU (kernels/quant.cu, compiled by nvcc
 * as C++), so the CUDA kernels produce bit-identical scales, zeros, codes
 * and pseudo-quantized values to the C oracle awq_quantize_group_ref
 * (lib/quant/quantizer.c) for the same fp32 inputs.
 *
 * The operation order is exactly the oracle's (quantizer.c documents why it
 * follows AutoAWQ's pseudo_quantize_tensor):
 *   asymmetric  range = max(mx - mn, 1e-5); sc = range / (2^b - 1)
 *               h = f16(sc); s = f32(h)
 *               z = clamp(-rint(mn / s), 0, 2^b - 1)          (an integer)
 *               q = clamp(rint(w / s) + z, 0, 2^b - 1)
 *   symmetric   sc = max(amax, 1e-5) / (2^(b-1) - 1); z = 2^(b-1)
 *               q = clamp(rint(w / s), -2^(b-1), 2^(b-1) - 1) + 2^(b-1)
 *   dequantized w' = (float)(q - z) * s
 * Group statistics (min, max, max |w|) are exact whatever order they are
 * accumulated in, so a GPU reduction tree gives the oracle's values. (The
 * sign of a zero minimum or maximum may differ between orders; it cannot
 * change the scale, the zero point or any code: see awq_qm_params.)
 *
 * Bit-exactness rules, for both compilers:
 *  - every fp32 operation is one IEEE operation rounded to nearest even:
 *    on the device the AWQ_QM_* macros use the __f*_rn intrinsics, which the
 *    compiler never contracts into FMA and which stay correctly rounded even
 *    under -use_fast_math; on the host they are plain operators (callers
 *    compile with -ffp-contract=off where FMA instructions exist);
 *  - rintf rounds half to even in the default rounding mode on both sides;
 *  - fp32 -> fp16 uses the integer routine below, a copy of core's
 *    awq_f32_to_f16 (tests/unit/test_clip.c compares the two over a sweep of
 *    bit patterns).
 *
 * Nothing here allocates or reports errors: functions return 0 on failure.
 */
#ifndef AWQ_LIB_QUANT_QMATH_H
#define AWQ_LIB_QUANT_QMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "awqkit/quant.h"

#if defined(__CUDACC__)
#define AWQ_QM_FN static inline __host__ __device__
#else
#define AWQ_QM_FN static inline
#endif

#if defined(__CUDA_ARCH__)
#define AWQ_QM_ADD(a, b) __fadd_rn((a), (b))
#define AWQ_QM_SUB(a, b) __fsub_rn((a), (b))
#define AWQ_QM_MUL(a, b) __fmul_rn((a), (b))
#define AWQ_QM_DIV(a, b) __fdiv_rn((a), (b))
#else
#define AWQ_QM_ADD(a, b) ((a) + (b))
#define AWQ_QM_SUB(a, b) ((a) - (b))
#define AWQ_QM_MUL(a, b) ((a) * (b))
#define AWQ_QM_DIV(a, b) ((a) / (b))
#endif

AWQ_QM_FN uint32_t awq_qm_f2u(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
#endif
}

AWQ_QM_FN float awq_qm_u2f(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

/* NaN and +-inf are not finite (exponent all ones). */
AWQ_QM_FN int awq_qm_isfinite(float f) {
    return (awq_qm_f2u(f) & 0x7f800000u) != 0x7f800000u;
}

/* fp16 bits -> fp32, exact (same algorithm as core's awq_f16_to_f32). */
AWQ_QM_FN float awq_qm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (e == 0x1f) return awq_qm_u2f(sign | 0x7f800000u | (man << 13));
    if (e == 0) {
        if (man == 0) return awq_qm_u2f(sign);
        float v = AWQ_QM_MUL((float)man, 5.9604644775390625e-08f); /* exact */
        return sign ? -v : v;
    }
    return awq_qm_u2f(sign | ((e + 112u) << 23) | (man << 13));
}

/* fp32 -> fp16 bits, round to nearest even, overflow to inf (same algorithm
 * and results as core's awq_f32_to_f16). */
AWQ_QM_FN uint16_t awq_qm_f32_to_f16(float f) {
    uint32_t u = awq_qm_f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u)
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        if (a < 0x33000000u) return sign;
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t v = a - 0x38000000u;
    uint32_t r = v >> 13;
    uint32_t rem = v & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

/* ------------------------------------------------------ group statistics */

typedef struct awq_qm_stats {
    float mn, mx;   /* min / max over the group */
    float amax;     /* max |w| (starts at 0) */
    int bad;        /* a NaN or +-inf was seen */
} awq_qm_stats;

/* Start with the group's first element. */
AWQ_QM_FN void awq_qm_stats_init(awq_qm_stats *st, float w0) {
    st->mn = w0;
    st->mx = w0;
    st->amax = fabsf(w0);
    st->bad = !awq_qm_isfinite(w0);
}

AWQ_QM_FN void awq_qm_stats_add(awq_qm_stats *st, float w) {
    st->mx = fmaxf(st->mx, w);
    st->mn = fminf(st->mn, w);
    st->amax = fmaxf(st->amax, fabsf(w));
    st->bad |= !awq_qm_isfinite(w);
}

/* Combine two partial statistics (any order: min / max are exact). */
AWQ_QM_FN void awq_qm_stats_merge(awq_qm_stats *st, const awq_qm_stats *o) {
    st->mx = fmaxf(st->mx, o->mx);
    st->mn = fminf(st->mn, o->mn);
    st->amax = fmaxf(st->amax, o->amax);
    st->bad |= o->bad;
}

/* Statistics of the group after clamping every element to [-mv, mv]
 * (AutoAWQ's clip search): clamp is monotone, so the clamped min / max are
 * the clamped min / max, exactly. mv >= 0. */
AWQ_QM_FN awq_qm_stats awq_qm_stats_clamped(const awq_qm_stats *st, float mv) {
    awq_qm_stats c;
    c.mn = fminf(fmaxf(st->mn, -mv), mv);
    c.mx = fminf(fmaxf(st->mx, -mv), mv);
    c.amax = fminf(st->amax, mv);
    c.bad = st->bad;
    return c;
}

/* ------------------------------------------------------- group params */

typedef struct awq_qm_group {
    uint16_t h;     /* FP16 bits of the scale (what is stored) */
    float s;        /* the scale as fp32 (exactly f32(h)) */
    int z;          /* zero point, unsigned form, in [0, 2^bits - 1] */
} awq_qm_group;

/* Scale and zero of a group from its statistics. Returns 0 when the scale
 * exceeds the FP16 range (or is NaN); the caller has already rejected
 * non-finite inputs (st->bad). Signed zeros: mx - mn is +-0 only when both
 * are zeros (then the floor applies), and -rint(+-0 / s) clamps to z = 0,
 * so the sign of a zero min / max never changes the result. */
AWQ_QM_FN int awq_qm_params(const awq_qm_stats *st, int bits, int sym,
                            awq_qm_group *g) {
    const int maxq = (1 << bits) - 1, half = 1 << (bits - 1);
    float sc;
    if (!sym) {
        float range = AWQ_QM_SUB(st->mx, st->mn);
        if (range < AWQ_QUANT_RANGE_FLOOR) range = AWQ_QUANT_RANGE_FLOOR;
        sc = AWQ_QM_DIV(range, (float)maxq);
    } else {
        float a = st->amax;
        if (a < AWQ_QUANT_RANGE_FLOOR) a = AWQ_QUANT_RANGE_FLOOR;
        sc = AWQ_QM_DIV(a, (float)(half - 1));
    }
    if (!(sc <= AWQ_F16_MAX)) return 0;
    g->h = awq_qm_f32_to_f16(sc);
    g->s = awq_qm_f16_to_f32(g->h);
    if (!sym) {
        float zf = -rintf(AWQ_QM_DIV(st->mn, g->s));
        g->z = zf < 0.0f ? 0 : zf > (float)maxq ? maxq : (int)zf;
    } else {
        g->z = half;
    }
    return 1;
}

/* Code (unsigned form) of one weight. */
AWQ_QM_FN int awq_qm_code(float w, const awq_qm_group *g, int bits, int sym) {
    if (!sym) {
        const float maxq = (float)((1 << bits) - 1);
        float v = AWQ_QM_ADD(rintf(AWQ_QM_DIV(w, g->s)), (float)g->z);
        v = v < 0.0f ? 0.0f : v > maxq ? maxq : v;
        return (int)v;
    } else {
        const int half = 1 << (bits - 1);
        float v = rintf(AWQ_QM_DIV(w, g->s));
        v = v < (float)-half ? (float)-half
            : v > (float)(half - 1) ? (float)(half - 1) : v;
        return (int)v + half;
    }
}

/* Dequantized value of a code. */
AWQ_QM_FN float awq_qm_dequant(int q, int z, float s) {
    return AWQ_QM_MUL((float)(q - z), s);
}

/* quantize + dequantize one weight. */
AWQ_QM_FN float awq_qm_pseudo(float w, const awq_qm_group *g, int bits,
                              int sym) {
    return awq_qm_dequant(awq_qm_code(w, g, bits, sym), g->z, g->s);
}

/* The same quantize + dequantize in "lane form": every step is a float
 * operation (no int conversion, no sym/asym branch), so a loop over a
 * group vectorises — awq_qm_code's (int) casts keep GCC from it, and the
 * scalar loop was the CPU search's largest non-GEMM cost. For finite w
 * (every caller has checked its group) it gives the bits of awq_qm_pseudo:
 *   asym: v = rint(w / s) + z clamped to [0, maxq] is an integer-valued
 *         float, so (v + -z) is exactly (float)(q - z), and +0 (not -0)
 *         when v == z, as x + -x is +0 under round-to-nearest;
 *   sym:  v = rint(w / s) + 0 clamped to [-half, half - 1]; that "+ 0"
 *         (zadd) turns rint's -0 into the +0 that (float)(int)v gives,
 *         and q - z = (int)v + half - half = v (zneg = 0).
 * A w / s that overflows to +-Inf clamps to the same end in both forms.
 * tests/unit/test_qmath_lane.c checks every code of bits 2..8. */
typedef struct awq_qm_lane {
    float s, zadd, zneg, lo, hi;
} awq_qm_lane;

AWQ_QM_FN awq_qm_lane awq_qm_lane_of(const awq_qm_group *g, int bits, int sym) {
    awq_qm_lane l;
    l.s = g->s;
    if (!sym) {
        l.zadd = (float)g->z;
        l.zneg = -(float)g->z;
        l.lo = 0.0f;
        l.hi = (float)((1 << bits) - 1);
    } else {
        const int half = 1 << (bits - 1);
        l.zadd = 0.0f;
        l.zneg = 0.0f;
        l.lo = (float)-half;
        l.hi = (float)(half - 1);
    }
    return l;
}

AWQ_QM_FN float awq_qm_pseudo_lane(float w, const awq_qm_lane *l) {
    float v = AWQ_QM_ADD(rintf(AWQ_QM_DIV(w, l->s)), l->zadd);
    v = v < l->lo ? l->lo : v;
    v = v > l->hi ? l->hi : v;
    return AWQ_QM_MUL(AWQ_QM_ADD(v, l->zneg), l->s);
}

/* -------------------------------------------------------- clip search */

/* Shrink factor of step i of the clip search: 1 - i / n_grid, computed in
 * double as Python does and rounded once to fp32 (torch multiplies an fp32
 * tensor by the Python float). */
AWQ_QM_FN float awq_qm_clip_factor(int i, int n_grid) {
    return (float)(1.0 - (double)i / (double)n_grid);
}

/* max_val of step i for a group whose max |w| is org_max. */
AWQ_QM_FN float awq_qm_clip_max(float org_max, int i, int n_grid) {
    return AWQ_QM_MUL(org_max, awq_qm_clip_factor(i, n_grid));
}

/* w clamped to [-mv, mv] (torch.clamp(w, -max_val, max_val)). */
AWQ_QM_FN float awq_qm_clamp(float w, float mv) {
    return fminf(fmaxf(w, -mv), mv);
}

#endif /* AWQ_LIB_QUANT_QMATH_H */
