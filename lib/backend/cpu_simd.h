/* lib/backend/cpu_simd.h — 8-lane float vectors (GCC vector extensions)
 * for the CPU backend's kernels, and a vector exp.
 *
 * The helpers are always inlined so that each target clone of a kernel
 * (AWQ_CLONES: baseline x86-64 and x86-64-v3 with AVX2/FMA, chosen at load
 * time by the CPU) gets them compiled for its instruction set. Lane-wise
 * operations only: results do not depend on the vector width, and horizontal
 * reductions are written out in a fixed order.
 *
 * exp: Cephes-style range reduction and degree-6 polynomial, |rel err| <
 * 2e-7 on [-88, 88]; arguments below -88 (incl. -inf) give exactly +0,
 * above 88 give e^88. */
#ifndef AWQ_LIB_BACKEND_CPU_SIMD_H
#define AWQ_LIB_BACKEND_CPU_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AWQ_CLONES __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define AWQ_CLONES
#endif

#define AWQ_SIMD_INLINE static inline __attribute__((always_inline))

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

AWQ_SIMD_INLINE v8f ld(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
AWQ_SIMD_INLINE void st(float *p, v8f v) { memcpy(p, &v, sizeof v); }
AWQ_SIMD_INLINE v8f bcast(float x) {
    v8f z = {0};
    return z + x; /* scalar operand: broadcast; z + x == x for every x but -0 */
}

AWQ_SIMD_INLINE v8f vmax(v8f a, v8f b) {
    v8i m = a > b;
    return (v8f)(((v8i)a & m) | ((v8i)b & ~m));
}

/* exp(x) for x <= 88; x < -88 (incl. -inf) gives +0. */
AWQ_SIMD_INLINE v8f vexp(v8f x) {
    const v8f lo = bcast(-88.0f), hi = bcast(88.0f);
    v8i under = x < lo;
    x = vmax(x, lo);
    v8i over = x > hi;
    x = (v8f)(((v8i)hi & over) | ((v8i)x & ~over));
    /* n = round(x / ln 2) by the 1.5 * 2^23 trick (round to nearest even) */
    const v8f magic = bcast(12582912.0f);
    v8f fx = (x * bcast(1.44269504088896341f) + magic) - magic;
    v8f r = x - fx * bcast(0.693359375f) + fx * bcast(2.12194440e-4f);
    v8f r2 = r * r;
    v8f y = bcast(1.9875691500e-4f);
    y = y * r + bcast(1.3981999507e-3f);
    y = y * r + bcast(8.3334519073e-3f);
    y = y * r + bcast(4.1665795894e-2f);
    y = y * r + bcast(1.6666665459e-1f);
    y = y * r + bcast(5.0000001201e-1f);
    y = y * r2 + r + bcast(1.0f);
    v8i n = __builtin_convertvector(fx, v8i);
    v8i e = (n + 127) << 23;
    y = y * (v8f)e;
    return (v8f)((v8i)y & ~under);
}

AWQ_SIMD_INLINE float sexp(float x) {
    v8f v = vexp(bcast(x));
    return v[0];
}

/* Horizontal sum in a fixed order. */
AWQ_SIMD_INLINE float hsum(v8f v) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

#endif
