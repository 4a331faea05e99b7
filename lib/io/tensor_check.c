/* lib/io/tensor_check.c — NaN / Inf in a stored floating tensor, found on
 * the stored bits (an exponent field of all ones), so the scan needs no
 * conversion and costs one read of the mapped bytes. */
#include "awqkit/checkpoint.h"
#include "core/core.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* Elements per block: the exponent test of a block is OR-reduced without a
 * branch, and only a block with a hit is searched for its first element. */
#define SCAN_BLOCK 2048

static inline uint16_t ld16(const unsigned char *p, int64_t i) {
    uint16_t v;
    memcpy(&v, p + i * 2, 2);
    return v;
}
static inline uint32_t ld32(const unsigned char *p, int64_t i) {
    uint32_t v;
    memcpy(&v, p + i * 4, 4);
    return v;
}
static inline uint64_t ld64(const unsigned char *p, int64_t i) {
    uint64_t v;
    memcpy(&v, p + i * 8, 8);
    return v;
}

#define SCAN(LOAD, MASK)                                                       \
    for (int64_t b = b0; b < e0; b += SCAN_BLOCK) {                            \
        int64_t e = e0 - b < SCAN_BLOCK ? e0 : b + SCAN_BLOCK;                 \
        unsigned any = 0;                                                      \
        for (int64_t i = b; i < e; i++) any |= (LOAD(d, i) & (MASK)) == (MASK); \
        if (!any) continue;                                                    \
        for (int64_t i = b; i < e; i++)                                        \
            if ((LOAD(d, i) & (MASK)) == (MASK)) return i;                     \
    }                                                                          \
    return -1

/* AVX2 where the CPU has it (chosen at load time), as the CPU kernels */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SCAN_CLONES __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define SCAN_CLONES
#endif

/* First non-finite element in [b0, e0), or -1. */
SCAN_CLONES static int64_t scan_range(const awq_tensor_info *t, int64_t b0, int64_t e0) {
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case AWQ_DT_F16: SCAN(ld16, 0x7c00u);
    case AWQ_DT_BF16: SCAN(ld16, 0x7f80u);
    case AWQ_DT_F32: SCAN(ld32, 0x7f800000u);
    case AWQ_DT_F64: SCAN(ld64, 0x7ff0000000000000ull);
    default: return -1;
    }
}

int64_t awq_tensor_first_nonfinite(const awq_tensor_info *t) {
    if (!t || !t->data) return -1;
    return scan_range(t, 0, (int64_t)t->n_elements);
}

/* Elements from which the scan is split over the context's threads. */
#define SCAN_PARALLEL_MIN (1 << 20)

typedef struct scan_job {
    const awq_tensor_info *t;
    _Atomic int_least64_t bad; /* smallest index found, INT64_MAX while none */
} scan_job;

static void scan_fn(void *arg, int64_t b, int64_t e, int worker) {
    (void)worker;
    scan_job *j = arg;
    int64_t i = scan_range(j->t, b, e);
    if (i < 0) return;
    int_least64_t cur = atomic_load(&j->bad);
    while (i < cur && !atomic_compare_exchange_weak(&j->bad, &cur, (int_least64_t)i)) {
    }
}

double awq_tensor_element_f64(const awq_tensor_info *t, int64_t i) {
    const unsigned char *d = t->data;
    switch (t->dtype) {
    case AWQ_DT_F16: {
        uint16_t h = ld16(d, i);
        double sgn = (h & 0x8000u) ? -1.0 : 1.0;
        int ex = (h >> 10) & 31;
        int man = h & 1023;
        if (ex == 31) return man ? NAN : sgn * INFINITY;
        if (ex == 0) return sgn * ldexp((double)man, -24);
        return sgn * ldexp((double)(man | 1024), ex - 25);
    }
    case AWQ_DT_BF16: {
        uint32_t u = (uint32_t)ld16(d, i) << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case AWQ_DT_F32: {
        uint32_t u = ld32(d, i);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case AWQ_DT_F64: {
        uint64_t u = ld64(d, i);
        double f;
        memcpy(&f, &u, 8);
        return f;
    }
    default: return 0.0;
    }
}

awq_status awq_tensor_check_finite(awq_ctx *ctx, const awq_tensor_info *t) {
    if (!t || !t->data) return AWQ_OK;
    int64_t i;
    if ((int64_t)t->n_elements >= SCAN_PARALLEL_MIN && ctx && awq_ctx_n_threads(ctx) > 1) {
        scan_job j = {t, INT64_MAX};
        awq_parallel_for(ctx, (int64_t)t->n_elements, scan_fn, &j);
        int_least64_t bad = atomic_load(&j.bad);
        i = bad == INT64_MAX ? -1 : (int64_t)bad;
    } else {
        i = awq_tensor_first_nonfinite(t);
    }
    if (i < 0) return AWQ_OK;
    char what[320];
    snprintf(what, sizeof what, "tensor '%s'", t->name);
    return awq_fail_nonfinite(ctx, what, t->ndim, t->shape, i, awq_tensor_element_f64(t, i));
}
