/*
 * lib/quant/clip_impl.h — what the two forms of the CPU clip search share
 * (lib/quant/clip.c: the direct form, and lib/quant/clip_gram.c: the Gram
 * form). Internal to lib/quant: not exported (no awq_ prefix).
 *
 * clip_delta lives in clip.c on purpose: that file is compiled without FP
 * contraction, so the candidate deltas are the values the CUDA kernel and
 * the oracle compute, whichever form then measures them.
 */
#ifndef AWQ_LIB_QUANT_CLIP_IMPL_H
#define AWQ_LIB_QUANT_CLIP_IMPL_H

#include "awqkit/quant.h"
#include "core/core.h"
#include "quant/qmath.h"

#include <stdbool.h>
#include <stdint.h>

/* Arguments of a clip search (shape, grid, buffers); the message names
 * `what`. */
awq_status clip_check(awq_ctx *ctx, const char *what, const void *w, const void *x,
                      const void *max_val, int64_t N, int64_t K, int64_t T,
                      const awq_quant_params *q, int n_grid, int n_steps);

/* Statistics and quantization parameters of one group of len weights;
 * false when the group cannot be quantized (non-finite weight, or a scale
 * beyond the FP16 range). */
bool clip_group_ok(const float *wg, int64_t len, const awq_quant_params *q,
                   awq_qm_stats *st, awq_qm_group *gp);

/* The error for a group clip_group_ok refused: names the first non-finite
 * weight (row, column) or the overflowing scale (row, group, columns). */
awq_status clip_group_fail(awq_ctx *ctx, const char *what, const float *wg, int64_t len,
                           const awq_quant_params *q, int64_t row, int64_t col0,
                           int64_t group);

/* The parallel CPU searches (clip.c, clip_gram.c) give each worker a slot
 * for the first item (row, group) it could not quantize, -1 for none; the
 * error then names the smallest such item in the oracle's order, whatever
 * the thread count. clip_fail_slots: nw slots set to -1 (NULL: out of
 * memory); clip_first_fail: the smallest failing item, -1 if none. */
static inline int64_t *clip_fail_slots(int nw) {
    int64_t *fail = awq_alloc((size_t)nw, sizeof(int64_t));
    if (fail)
        for (int i = 0; i < nw; i++) fail[i] = -1;
    return fail;
}
static inline int64_t clip_first_fail(const int64_t *fail, int nw) {
    int64_t bad = -1;
    for (int i = 0; i < nw; i++)
        if (fail[i] >= 0 && (bad < 0 || fail[i] < bad)) bad = fail[i];
    return bad;
}

/* clip_group_fail for row n, group g of w [N][K] (groups of gl columns). */
static inline awq_status clip_item_fail(awq_ctx *ctx, const char *what, const float *w,
                                        int64_t K, int64_t gl, const awq_quant_params *q,
                                        int64_t n, int64_t g) {
    const int64_t k0 = g * gl;
    return clip_group_fail(ctx, what, w + n * K + k0, AWQ_MIN(gl, K - k0), q, n, k0, g);
}

/* d[k] = Q(clamp(w, mv)) - w for step i of a group (mv_out receives the
 * clamp); false if the clamped group cannot be quantized. lane: quantize
 * with awq_qm_pseudo_lane (vectorises; the CPU paths) instead of
 * awq_qm_pseudo (the oracles) — the same bits (quant/qmath.h). */
bool clip_delta(const float *wg, int64_t len, const awq_qm_stats *st,
                const awq_quant_params *q, int i, int n_grid, bool lane, float *mv_out,
                float *d);

#endif
