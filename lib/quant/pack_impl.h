/*
 * lib/quant/pack_impl.h — shared by the packer's files (internal):
 * pack.c (the format table, awq_pack / awq_unpack and their checks) and
 * pack_layouts.c (the word loops of each layout, one pack / unpack pair per
 * layout). Bit positions: layouts.h.
 */
#ifndef AWQ_LIB_QUANT_PACK_IMPL_H
#define AWQ_LIB_QUANT_PACK_IMPL_H

#include "core/core.h"
#include "quant/layouts.h"

#include <string.h>

static inline const char *nm(const char *name) { return name ? name : "linear"; }

static inline uint32_t ld32(const void *base, int64_t i) {
    uint32_t v;
    memcpy(&v, (const unsigned char *)base + i * 4, 4);
    return v;
}
static inline void st32(void *base, int64_t i, uint32_t v) {
    memcpy((unsigned char *)base + i * 4, &v, 4);
}

/* Read `count` values (bits wide) of the little-endian bit stream of
 * layouts.h starting at word `base`, words `stride` apart (the inverse of
 * stream_put in pack_layouts.c). */
static inline void stream_get(const void *src, int64_t base, int64_t stride,
                              uint8_t *v, int64_t vstride, int64_t count,
                              int bits) {
    uint64_t acc = 0;
    int nacc = 0;
    int64_t w = 0;
    const uint64_t mask = (1u << bits) - 1u;
    for (int64_t i = 0; i < count; i++) {
        if (nacc < bits) {
            acc |= (uint64_t)ld32(src, base + w * stride) << nacc;
            w++;
            nacc += 32;
        }
        v[i * vstride] = (uint8_t)(acc & mask);
        acc >>= bits;
        nacc -= bits;
    }
}

/* One pack or unpack call: the layout's shapes, and the canonical tensor
 * and packed tensors it reads and writes (pack: t -> out, whose buffers the
 * caller allocated zeroed; unpack: in -> qt, allocated by the caller). */
struct pk_job {
    const awq_qtensor *t;
    const awq_lay_shapes *s;
    awq_packed *out;
    const awq_packed *in;   /* unpack */
    awq_qtensor *qt;        /* unpack */
    int format;
};

/* Pack j->t into j->out (pack) or j->in into j->qt (unpack), for the AWQ
 * GEMM, AWQ GEMV, GPTQ (v1 / v2 by j->format) and compressed-tensors
 * layouts. Inputs are already checked against the layout's shapes; unpack
 * range-checks decoded zeros / g_idx (messages name `name`). */
awq_status awq_gemm_pack(awq_ctx *ctx, struct pk_job *j);
awq_status awq_gemm_unpack(awq_ctx *ctx, struct pk_job *j);
awq_status awq_gemv_pack(awq_ctx *ctx, struct pk_job *j);
awq_status awq_gemv_unpack(awq_ctx *ctx, struct pk_job *j);
awq_status awq_gptq_pack(awq_ctx *ctx, struct pk_job *j);
awq_status awq_gptq_unpack(awq_ctx *ctx, const char *name, struct pk_job *j);
awq_status awq_ct_pack(awq_ctx *ctx, struct pk_job *j);
awq_status awq_ct_unpack(awq_ctx *ctx, const char *name, struct pk_job *j);

#endif /* AWQ_LIB_QUANT_PACK_IMPL_H */
