/* lib/core/finite.c — finding NaN / Inf in float buffers and the one error
 * message every module uses for them. A non-finite weight, scale or logit
 * is never averaged, clamped or compared away (NaN fails every comparison,
 * so max/min/clamp code silently drops it): the loaders and the consumers
 * of logits call these and fail naming the tensor and the element. */
#include "core/core.h"

#include <math.h>
#include <string.h>

/* Elements per block of the fast scan: the block's exponent test is
 * OR-reduced without a branch (it vectorizes), and only a block that has a
 * hit is searched again for its first element. */
#define FINITE_BLOCK 1024

int64_t awq_f32_first_nonfinite(const float *x, int64_t n) {
    for (int64_t b = 0; b < n; b += FINITE_BLOCK) {
        int64_t e = n - b < FINITE_BLOCK ? n : b + FINITE_BLOCK;
        uint32_t any = 0;
        for (int64_t i = b; i < e; i++) {
            uint32_t u;
            memcpy(&u, x + i, 4);
            any |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (!any) continue;
        for (int64_t i = b; i < e; i++)
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
