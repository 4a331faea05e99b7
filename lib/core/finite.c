/* lib/core/finite.c — finding NaN / Inf in float buffers and the one error
 * message every module uses for them. A non-finite weight, scale or logit
 * is never averaged, clamped or compared away (NaN fails every comparison,
 * so max/min/clamp code silently drops it): the loaders and the consumers
 * of logits call these and fail naming the tensor and the element. */
#include "core/core.h"

#include <math.h>
#include <string.h>

/* Elements per block of the fast scan: the block's exponent test runs on
 * 8-lane vectors (GCC vector extensions, split into what the target has)
 * OR-reduced without a branch, and only a block with a hit is searched
 * again for its first element. It runs at load over every weight, so it
 * must stay well below the cost of the conversion it follows. */
#define FINITE_BLOCK 1024

typedef uint32_t fin_v8u __attribute__((vector_size(32)));

/* AVX2 where the CPU has it (chosen at load time), as the CPU kernels */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FIN_CLONES __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define FIN_CLONES
#endif

FIN_CLONES static bool block_has_nonfinite(const float *x, int64_t n) {
    const fin_v8u mask = {0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u,
                          0x7f800000u, 0x7f800000u, 0x7f800000u, 0x7f800000u};
    fin_v8u acc = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        fin_v8u v;
        memcpy(&v, x + i, sizeof v);
        acc |= (fin_v8u)((v & mask) == mask);
    }
    uint32_t any = 0;
    for (int k = 0; k < 8; k++) any |= acc[k];
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        any |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return any != 0;
}

int64_t awq_f32_first_nonfinite(const float *x, int64_t n) {
    for (int64_t b = 0; b < n; b += FINITE_BLOCK) {
        int64_t m = n - b < FINITE_BLOCK ? n - b : FINITE_BLOCK;
        if (!block_has_nonfinite(x + b, m)) continue;
        for (int64_t i = b; i < b + m; i++)
            if (!isfinite(x[i])) return i;
    }
    return -1;
}

int64_t awq_f64_first_nonfinite(const double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

const char *awq_nonfinite_name(double v) {
    return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}

void awq_format_index(int ndim, const int64_t *shape, int64_t flat, char *buf, size_t n) {
    /* row-major multi-index of a flat element index */
    int64_t idx[16];
    if (ndim < 1 || ndim > 16) {
        snprintf(buf, n, "[%lld]", (long long)flat);
        return;
    }
    int64_t rest = flat;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t s = shape[d] > 0 ? shape[d] : 1;
        idx[d] = rest % s;
        rest /= s;
    }
    size_t pos = 0;
    for (int d = 0; d < ndim && pos < n; d++) {
        int w = snprintf(buf + pos, n - pos, "%s%lld", d ? ", " : "[", (long long)idx[d]);
        if (w < 0) break;
        pos += (size_t)w;
    }
    if (pos < n) snprintf(buf + pos, n - pos, "]");
}

awq_status awq_fail_nonfinite(awq_ctx *ctx, const char *what, int ndim, const int64_t *shape,
                              int64_t flat, double value) {
    char at[160];
    awq_format_index(ndim, shape, flat, at, sizeof at);
    return awq_fail(ctx, AWQ_ERR_RANGE, "%s holds %s at element %s", what,
                    awq_nonfinite_name(value), at);
}
