/*
 * lib/quant/pack_layouts.c — the word loops of each packed layout: AWQ
 * GEMM, AWQ GEMV, GPTQ v1 / v2 and compressed-tensors pack-quantized, one
 * pack / unpack pair each (called through pack.c's format table). The bit
 * positions come from layouts.h (the single definition shared with the CUDA
 * kernels); the loops build or split whole words at a time, and the unit
 * tests check every element against the per-element position functions of
 * layouts.h. Reads go through memcpy (mmap'd data may be unaligned).
 */
#include "quant/pack_impl.h"

/* ------------------------------------------------------ AWQ GEMM */

/* qweight [K, N/8]; one worker range = a range of 8-column packs j. Reads 8
 * code rows in order, writes one word per (k, j). */
static void gemm_pack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->t->K, NJ = j->s->qweight[1];
    uint32_t *qw = j->out->t[AWQ_PT_QWEIGHT].data;
    for (int64_t pj = b; pj < e; pj++) {
        const uint8_t *rows[8];
        for (int i = 0; i < 8; i++)
            rows[i] = j->t->q + (8 * pj + AWQ_GEMM_COL_OF_FIELD(i)) * K;
        for (int64_t k = 0; k < K; k++) {
            uint32_t w = 0;
            for (int i = 0; i < 8; i++) w |= (uint32_t)rows[i][k] << (4 * i);
            qw[k * NJ + pj] = w;
        }
    }
}

static void gemm_unpack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->qt->K, NJ = j->s->qweight[1];
    const void *qw = j->in->t[AWQ_PT_QWEIGHT].data;
    for (int64_t pj = b; pj < e; pj++) {
        uint8_t *rows[8];
        for (int i = 0; i < 8; i++)
            rows[i] = j->qt->q + (8 * pj + AWQ_GEMM_COL_OF_FIELD(i)) * K;
        for (int64_t k = 0; k < K; k++) {
            uint32_t w = ld32(qw, k * NJ + pj);
            for (int i = 0; i < 8; i++) rows[i][k] = (uint8_t)((w >> (4 * i)) & 15u);
        }
    }
}

awq_status awq_gemm_pack(awq_ctx *ctx, struct pk_job *j) {
    const awq_qtensor *t = j->t;
    const int64_t N = t->N, G = t->n_groups, NJ = N / 8;
    awq_parallel_for(ctx, NJ, gemm_pack_w, j);
    uint32_t *qz = j->out->t[AWQ_PT_QZEROS].data;
    for (int64_t g = 0; g < G; g++)
        for (int64_t pj = 0; pj < NJ; pj++) {
            uint32_t w = 0;
            for (int i = 0; i < 8; i++)
                w |= (uint32_t)t->zeros[g * N + 8 * pj + AWQ_GEMM_COL_OF_FIELD(i)]
                     << (4 * i);
            qz[g * NJ + pj] = w;
        }
    memcpy(j->out->t[AWQ_PT_SCALES].data, t->scales, (size_t)(G * N) * 2u);
    return AWQ_OK;
}

awq_status awq_gemm_unpack(awq_ctx *ctx, struct pk_job *j) {
    awq_qtensor *t = j->qt;
    const int64_t N = t->N, G = t->n_groups, NJ = N / 8;
    awq_parallel_for(ctx, NJ, gemm_unpack_w, j);
    const void *qz = j->in->t[AWQ_PT_QZEROS].data;
    for (int64_t g = 0; g < G; g++)
        for (int64_t pj = 0; pj < NJ; pj++) {
            uint32_t w = ld32(qz, g * NJ + pj);
            for (int i = 0; i < 8; i++)
                t->zeros[g * N + 8 * pj + AWQ_GEMM_COL_OF_FIELD(i)] =
                    (uint8_t)((w >> (4 * i)) & 15u);
        }
    memcpy(t->scales, j->in->t[AWQ_PT_SCALES].data, (size_t)(G * N) * 2u);
    return AWQ_OK;
}

/* ------------------------------------------------------ AWQ GEMV */

static void gemv_pack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->t->K, KW = K / 8;
    uint32_t *qw = j->out->t[AWQ_PT_QWEIGHT].data;
    for (int64_t n = b; n < e; n++) {
        const uint8_t *row = j->t->q + n * K;
        for (int64_t c = 0; c < KW; c++) {
            uint32_t w = 0;
            for (int i = 0; i < 8; i++) w |= (uint32_t)row[8 * c + i] << (4 * i);
            qw[n * KW + c] = w;
        }
    }
}

static void gemv_unpack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->qt->K, KW = K / 8;
    const void *qw = j->in->t[AWQ_PT_QWEIGHT].data;
    for (int64_t n = b; n < e; n++) {
        uint8_t *row = j->qt->q + n * K;
        for (int64_t c = 0; c < KW; c++) {
            uint32_t w = ld32(qw, n * KW + c);
            for (int i = 0; i < 8; i++) row[8 * c + i] = (uint8_t)((w >> (4 * i)) & 15u);
        }
    }
}

awq_status awq_gemv_pack(awq_ctx *ctx, struct pk_job *j) {
    const awq_qtensor *t = j->t;
    const int64_t N = t->N, G = t->n_groups, Z = j->s->zeros_width;
    awq_parallel_for(ctx, N, gemv_pack_w, j);
    uint32_t *qz = j->out->t[AWQ_PT_QZEROS].data;
    uint16_t *sc = j->out->t[AWQ_PT_SCALES].data;
    /* buffers are zeroed: padding beyond G stays 0, as AutoAWQ writes it */
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < G; g++) {
            awq_lay_pos p = awq_lay_qzeros_pos(AWQ_QFMT_AWQ_GEMV, N, 4, Z, g, n);
            qz[p.word] |= (uint32_t)t->zeros[g * N + n] << p.shift;
            sc[awq_lay_scale_index(AWQ_QFMT_AWQ_GEMV, N, Z, g, n)] =
                t->scales[g * N + n];
        }
    }
    return AWQ_OK;
}

awq_status awq_gemv_unpack(awq_ctx *ctx, struct pk_job *j) {
    awq_qtensor *t = j->qt;
    const int64_t N = t->N, G = t->n_groups, Z = j->s->zeros_width;
    awq_parallel_for(ctx, N, gemv_unpack_w, j);
    const void *qz = j->in->t[AWQ_PT_QZEROS].data;
    const unsigned char *sc = j->in->t[AWQ_PT_SCALES].data;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < G; g++) {
            awq_lay_pos p = awq_lay_qzeros_pos(AWQ_QFMT_AWQ_GEMV, N, 4, Z, g, n);
            t->zeros[g * N + n] = (uint8_t)((ld32(qz, p.word) >> p.shift) & 15u);
            memcpy(&t->scales[g * N + n],
                   sc + 2 * awq_lay_scale_index(AWQ_QFMT_AWQ_GEMV, N, Z, g, n), 2);
        }
    }
    return AWQ_OK;
}

/* ------------------------------------------------------------ GPTQ */

/* Write `count` values (bits wide) as the little-endian bit stream of
 * layouts.h: value i at stream bit bits*i, words `stride` apart. count*bits
 * is a multiple of 32 (guaranteed by the shape rule). */
static inline void stream_put(uint32_t *dst, int64_t stride, const uint8_t *v,
                              int64_t vstride, int64_t count, int bits) {
    uint64_t acc = 0;
    int nacc = 0;
    int64_t w = 0;
    for (int64_t i = 0; i < count; i++) {
        acc |= (uint64_t)v[i * vstride] << nacc;
        nacc += bits;
        if (nacc >= 32) {
            dst[w * stride] = (uint32_t)acc;
            w++;
            acc >>= 32;
            nacc -= 32;
        }
    }
}


/* qweight [K*b/32, N]: column n is a stream over k. Workers take column
 * ranges; within one, rows of codes are streamed in blocks of 8 columns so
 * the strided word writes of neighbouring columns share cache lines. */
static void gptq_pack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->t->K, N = j->t->N;
    uint32_t *qw = j->out->t[AWQ_PT_QWEIGHT].data;
    for (int64_t n = b; n < e; n++)
        stream_put(qw + n, N, j->t->q + n * K, 1, K, j->t->bits);
}

static void gptq_unpack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->qt->K, N = j->qt->N;
    const void *qw = j->in->t[AWQ_PT_QWEIGHT].data;
    for (int64_t n = b; n < e; n++)
        stream_get(qw, n, N, j->qt->q + n * K, 1, K, j->qt->bits);
}

awq_status awq_gptq_pack(awq_ctx *ctx, struct pk_job *j) {
    const awq_qtensor *t = j->t;
    const int64_t N = t->N, K = t->K, G = t->n_groups;
    const int bits = t->bits, off = awq_lay_zero_offset(j->format);
    const unsigned mask = (1u << bits) - 1u;
    awq_parallel_for(ctx, N, gptq_pack_w, j);
    uint32_t *qz = j->out->t[AWQ_PT_QZEROS].data;
    const int64_t ZW = j->s->qzeros[1];
    uint8_t *stored = awq_alloc((size_t)N, 1);
    if (!stored) return awq_fail_nomem(ctx, "qzeros row", (uint64_t)N);
    for (int64_t g = 0; g < G; g++) {
        /* v1: zero - 1; zero 0 was rejected or fixed before we get here,
         * the mask only documents the field width */
        for (int64_t n = 0; n < N; n++)
            stored[n] = (uint8_t)(((unsigned)t->zeros[g * N + n] - (unsigned)off) & mask);
        stream_put(qz + g * ZW, 1, stored, 1, N, bits);
    }
    awq_free(stored);
    memcpy(j->out->t[AWQ_PT_SCALES].data, t->scales, (size_t)(G * N) * 2u);
    int32_t *gi = j->out->t[AWQ_PT_G_IDX].data;
    const int64_t gl = awq_group_len(K, t->group_size);
    for (int64_t k = 0; k < K; k++)
        gi[k] = t->g_idx ? t->g_idx[k] : (int32_t)(k / gl);
    return AWQ_OK;
}

awq_status awq_gptq_unpack(awq_ctx *ctx, const char *name, struct pk_job *j) {
    awq_qtensor *t = j->qt;
    const int64_t N = t->N, K = t->K, G = t->n_groups;
    const int bits = t->bits, off = awq_lay_zero_offset(j->format);
    const unsigned maxq = (1u << bits) - 1u;
    awq_parallel_for(ctx, N, gptq_unpack_w, j);
    const void *qz = j->in->t[AWQ_PT_QZEROS].data;
    const int64_t ZW = j->s->qzeros[1];
    for (int64_t g = 0; g < G; g++) {
        uint8_t *zr = t->zeros + g * N;
        stream_get(qz, g * ZW, 1, zr, 1, N, bits);
        if (off) {
            for (int64_t n = 0; n < N; n++) {
                if (zr[n] == maxq)
                    return awq_fail(
                        ctx, AWQ_ERR_RANGE,
                        "%s: GPTQ v1 qzeros field %u at group %lld, column %lld "
                        "decodes to zero point %u, beyond %d bits: either the "
                        "v1 writer overflowed a zero point of 0 (the file is "
                        "already lossy) or the file stores true zeros and is "
                        "really gptq_v2",
                        nm(name), maxq, (long long)g, (long long)n, maxq + 1, bits);
                zr[n] = (uint8_t)(zr[n] + off);
            }
        }
    }
    memcpy(t->scales, j->in->t[AWQ_PT_SCALES].data, (size_t)(G * N) * 2u);
    const void *gi = j->in->n_tensors > AWQ_PT_G_IDX ? j->in->t[AWQ_PT_G_IDX].data : NULL;
    if (gi) {
        const int64_t gl = awq_group_len(K, t->group_size);
        bool def = true;
        for (int64_t k = 0; k < K; k++) {
            int32_t v = (int32_t)ld32(gi, k);
            if (v < 0 || v >= G)
                return awq_fail(ctx, AWQ_ERR_RANGE,
                                "%s.g_idx: entry %lld is %d, outside [0, %lld) groups",
                                nm(name), (long long)k, (int)v, (long long)G);
            if (v != (int32_t)(k / gl)) def = false;
        }
        if (!def) {
            t->g_idx = awq_alloc((size_t)K, sizeof(int32_t));
            if (!t->g_idx) return awq_fail_nomem(ctx, "g_idx", (uint64_t)K * 4u);
            for (int64_t k = 0; k < K; k++) t->g_idx[k] = (int32_t)ld32(gi, k);
        }
    }
    return AWQ_OK;
}


/* ------------------------------------------- compressed-tensors */

/* weight_packed [N, K*b/32]: row n is a stream over k (layouts.h). */
static void ct_pack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->t->K, W = j->s->qweight[1];
    uint32_t *qw = j->out->t[AWQ_PT_QWEIGHT].data;
    for (int64_t n = b; n < e; n++)
        stream_put(qw + n * W, 1, j->t->q + n * K, 1, K, j->t->bits);
}

static void ct_unpack_w(void *arg, int64_t b, int64_t e, int worker) {
    const struct pk_job *j = arg;
    const int64_t K = j->qt->K, W = j->s->qweight[1];
    const void *qw = j->in->t[AWQ_PT_QWEIGHT].data;
    for (int64_t n = b; n < e; n++)
        stream_get(qw, n * W, 1, j->qt->q + n * K, 1, K, j->qt->bits);
}

awq_status awq_ct_pack(awq_ctx *ctx, struct pk_job *j) {
    const awq_qtensor *t = j->t;
    const int64_t N = t->N, K = t->K, G = t->n_groups;
    awq_parallel_for(ctx, N, ct_pack_w, j);
    uint32_t *qz = j->out->t[AWQ_PT_QZEROS].data;
    if (qz) /* column g of [N*b/32, G] is the stream of the zeros of group g */
        for (int64_t g = 0; g < G; g++) stream_put(qz + g, G, t->zeros + g * N, 1, N, t->bits);
    uint16_t *sc = j->out->t[AWQ_PT_SCALES].data;
    for (int64_t g = 0; g < G; g++)
        for (int64_t n = 0; n < N; n++) sc[n * G + g] = t->scales[g * N + n];
    int32_t *gi = j->out->t[AWQ_PT_G_IDX].data;
    if (gi)
        for (int64_t k = 0; k < K; k++) gi[k] = t->g_idx[k];
    int64_t *shp = j->out->t[AWQ_PT_SHAPE].data;
    shp[0] = N;
    shp[1] = K;
    return AWQ_OK;
}

/* A compressed-tensors scale as FP16 bits; false when the stored value (BF16
 * or F32, the model's dtype) has no exact FP16 equal. */
static bool ct_scale_f16(const unsigned char *base, awq_dtype dt, int64_t i,
                         uint16_t *out) {
    uint16_t h;
    float f;
    switch (dt) {
    case AWQ_DT_F16: memcpy(out, base + 2 * i, 2); return true;
    case AWQ_DT_BF16: memcpy(&h, base + 2 * i, 2); f = awq_bf16_to_f32(h); break;
    case AWQ_DT_F32: memcpy(&f, base + 4 * i, 4); break;
    default: return false;
    }
    *out = awq_f32_to_f16(f);
    return awq_f16_to_f32(*out) == f;
}

awq_status awq_ct_unpack(awq_ctx *ctx, const char *name, struct pk_job *j) {
    awq_qtensor *t = j->qt;
    const int64_t N = t->N, K = t->K, G = t->n_groups;
    awq_parallel_for(ctx, N, ct_unpack_w, j);
    const awq_packed_tensor *qz = &j->in->t[AWQ_PT_QZEROS];
    if (qz->data) {
        for (int64_t g = 0; g < G; g++) stream_get(qz->data, g, G, t->zeros + g * N, 1, N, t->bits);
    } else {
        memset(t->zeros, 1 << (t->bits - 1), (size_t)(G * N));
        t->sym = true;
    }
    const awq_packed_tensor *sc = &j->in->t[AWQ_PT_SCALES];
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++)
            if (!ct_scale_f16(sc->data, sc->dtype, n * G + g, &t->scales[g * N + n]))
                return awq_fail(ctx, AWQ_ERR_LOSSY,
                                "%s.weight_scale: the %s scale of row %lld, group %lld has no "
                                "exact FP16 value (awqkit's packed formats store FP16 "
                                "scales)", nm(name), awq_dtype_name(sc->dtype),
                                (long long)n, (long long)g);
    const awq_packed_tensor *gt = &j->in->t[AWQ_PT_G_IDX];
    if (gt->data) {
        const int64_t gl = awq_group_len(K, t->group_size);
        bool def = true;
        for (int64_t k = 0; k < K; k++) {
            int32_t v = (int32_t)ld32(gt->data, k);
            if (v < 0 || v >= G)
                return awq_fail(ctx, AWQ_ERR_RANGE,
                                "%s.weight_g_idx: entry %lld is %d, outside [0, %lld) groups",
                                nm(name), (long long)k, (int)v, (long long)G);
            def &= v == (int32_t)(k / gl);
        }
        if (!def) {
            t->g_idx = awq_alloc((size_t)K, sizeof(int32_t));
            if (!t->g_idx) return awq_fail_nomem(ctx, "g_idx", (uint64_t)K * 4u);
            for (int64_t k = 0; k < K; k++) t->g_idx[k] = (int32_t)ld32(gt->data, k);
        }
    }
    return AWQ_OK;
}
