/* lib/core/dtype.c — dtype table and FP16 / BF16 conversions.
 * Conversions are done bitwise so they are exact and identical on every
 * compiler and CPU (the CUDA kernels use the hardware instructions, which
 * follow the same IEEE round-to-nearest-even rule). */
#include "core/core.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
} k_dtypes[AWQ_DT_COUNT] = {
    [AWQ_DT_F16] = {"F16", 2},       [AWQ_DT_BF16] = {"BF16", 2},
    [AWQ_DT_F32] = {"F32", 4},       [AWQ_DT_F64] = {"F64", 8},
    [AWQ_DT_I8] = {"I8", 1},         [AWQ_DT_U8] = {"U8", 1},
    [AWQ_DT_I16] = {"I16", 2},       [AWQ_DT_U16] = {"U16", 2},
    [AWQ_DT_I32] = {"I32", 4},       [AWQ_DT_U32] = {"U32", 4},
    [AWQ_DT_I64] = {"I64", 8},       [AWQ_DT_U64] = {"U64", 8},
    [AWQ_DT_BOOL] = {"BOOL", 1},     [AWQ_DT_F8_E4M3] = {"F8_E4M3", 1},
    [AWQ_DT_F8_E5M2] = {"F8_E5M2", 1},
};

size_t awq_dtype_size(awq_dtype t) {
    return ((unsigned)t < AWQ_DT_COUNT) ? k_dtypes[t].size : 0;
}

const char *awq_dtype_name(awq_dtype t) {
    return ((unsigned)t < AWQ_DT_COUNT) ? k_dtypes[t].name : "?";
}

bool awq_dtype_from_name(const char *name, awq_dtype *out) {
    if (!name) return false;
    for (int i = 0; i < AWQ_DT_COUNT; i++) {
        if (strcmp(name, k_dtypes[i].name) == 0) {
            if (out) *out = (awq_dtype)i;
            return true;
        }
    }
    return false;
}

bool awq_dtype_is_float(awq_dtype t) {
    return t == AWQ_DT_F16 || t == AWQ_DT_BF16 || t == AWQ_DT_F32 ||
           t == AWQ_DT_F64 || t == AWQ_DT_F8_E4M3 || t == AWQ_DT_F8_E5M2;
}

static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float awq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / nan (keep payload) */
        return u2f(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return u2f(sign);
        /* subnormal: value = man * 2^-24, exact in fp32 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t awq_f32_to_f16(float f) {
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
    if (a >= 0x477ff000u) /* >= 65520 rounds to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: subnormal or zero */
        if (a < 0x33000000u) return sign; /* < 2^-25 rounds to 0 (tie -> 0) */
        uint32_t e = a >> 23;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    /* normal: rebias exponent, round mantissa 23 -> 10 bits, RNE; a carry
     * into the exponent is the correct result (incl. rounding up to inf is
     * excluded above). */
    uint32_t v = a - 0x38000000u; /* exp - 112 */
    uint32_t r = v >> 13;
    uint32_t rem = v & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

float awq_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t awq_f32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* nan: keep quiet nan */
        return (uint16_t)((u >> 16) | 0x40u);
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((u + rounding) >> 16);
}

void awq_f16_to_f32_n(const void *src, float *dst, size_t n) {
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = awq_f16_to_f32(h);
    }
}

void awq_bf16_to_f32_n(const void *src, float *dst, size_t n) {
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = awq_bf16_to_f32(h);
    }
}

void awq_f32_to_f16_n(const float *src, void *dst, size_t n) {
    unsigned char *p = dst;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = awq_f32_to_f16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

void awq_f32_to_bf16_n(const float *src, void *dst, size_t n) {
    unsigned char *p = dst;
    for (size_t i = 0; i < n; i++) {
        uint16_t h = awq_f32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}
