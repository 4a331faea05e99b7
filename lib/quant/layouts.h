/*
 * lib/quant/layouts.h — the packed on-disk layouts, defined once.
 *
 * Included by the C packers (lib/quant/pack.c), by the tests, and by the
 * CUDA kernels (the .cu files under kernels/, compiled by nvcc as C++):
 * plain C, static inline functions (host+device under nvcc), static
 * assertions that work in both languages. Nothing here allocates or fails loudly: functions return
 * AWQ_LAY_OK or an AWQ_LAY_E_* reason code (awq_lay_get_shapes).
 *
 * K = in_features, N = out_features, g = group_len (group_size, or K for
 * -1), G = ceil(K / g). Codes / zeros are unsigned fields of `bits` bits.
 * A "word" is one int32 element of a tensor; bit 0 is its least significant
 * bit (two's complement storage, so the top field may make it negative).
 *
 * AWQ GEMM (AutoAWQ WQLinear_GEMM.from_linear, checked against
 * casper-hansen/AutoAWQ awq/modules/linear/gemm.py and
 * awq/utils/packing_utils.py: AWQ_ORDER = [0,2,4,6,1,3,5,7]):
 *   qweight I32 [K, N/8]  field i (bits 4i..4i+3) of word [k, j] holds the
 *                         code of W[8j + AWQ_GEMM_COL_OF_FIELD(i), k]
 *   qzeros  I32 [G, N/8]  same interleave along N, zeros stored as is
 *   scales  F16 [G, N]
 *   Golden: codes 0..7 in columns 0..7 pack to 0x75316420.
 *
 * AWQ GEMV (AutoAWQ WQLinear_GEMV.from_linear and calculate_zeros_width,
 * checked against casper-hansen/AutoAWQ awq/modules/linear/gemv.py):
 *   qweight I32 [N, K/8]  field i of word [n, c] holds W[n, 8c + i]
 *                         (natural order along K). Golden: 0x76543210.
 *   qzeros  I32 [N, Z]    field i of word [n, c] holds the zero of group
 *                         8c + i; fields of groups >= G are 0.
 *   scales  F16 [N, 8*Z]  scales[n, g] for g < G; columns >= G are 0
 *                         (AutoAWQ allocates calculate_zeros_width * pack_num
 *                         columns and copies the G real ones to the front).
 *   Z = calculate_zeros_width(K, g): ceil(G / 8) rounded up to a multiple of
 *   m, where m = 1 for g >= 128, 2 for g == 64, 4 for g == 32; AutoAWQ
 *   raises NotImplementedError for any other g, and so do we. K % g == 0
 *   and N % 8 == 0 are asserted by AutoAWQ's constructor.
 *
 * GPTQ v1 / v2 (AutoGPTQ QuantLinear.pack in qlinear_cuda_old.py): values
 * are a little-endian bit stream of 32-bit words, value j at stream bit
 * b*j. For b = 2, 4, 8 that is word j / (32/b), field j % (32/b); for b = 3
 * a value may straddle two words (AutoGPTQ's 10 + 1 + 10 + 1 + 10 layout of
 * 32 values in 3 words is exactly this stream).
 *   qweight I32 [K*b/32, N]  stream down each column n: value k = W[n, k]
 *   qzeros  I32 [G, N*b/32]  stream along each row g: value n = stored zero
 *                            v1: zero - 1 (AutoGPTQ `zeros -= 1`);
 *                            v2: the zero itself
 *   scales  F16 [G, N]
 *   g_idx   I32 [K]          group of input column k (act-order), default
 *                            k / g
 *
 * compressed-tensors pack-quantized (compressors/pack_quantized of the
 * compressed-tensors package: pack_to_int32 / unpack_from_int32, and
 * quantization/lifecycle/initialize.py for the scale shapes). Codes are
 * signed there, q_s in [-2^(b-1), 2^(b-1) - 1], and stored offset by
 * 2^(b-1); that stored value is exactly awqkit's unsigned code (and the
 * stored zero point awqkit's unsigned zero: (q - z) = (q_s - z_s)). Each
 * row is a little-endian bit stream as for GPTQ, but along K:
 *   weight_packed      I32 [N, K*b/32]  stream along row n: value k = W[n, k]
 *   weight_zero_point  I32 [N*b/32, G]  stream down column g: value n = zero
 *                                       (packed along out-features; absent
 *                                       when symmetric)
 *   weight_scale       F16 [N, G]       (BF16 / F32 when the model was)
 *   weight_g_idx       I32 [K]          optional (act-order "group")
 *   weight_shape       I64 [2]          [N, K]
 * The library pads a row to whole words; awqkit reads and writes rows
 * whose K*b and N*b are multiples of 32 (every real checkpoint), so the
 * stream is the GPTQ one. Golden: codes 0..7 along K pack to 0x76543210.
 */
#ifndef AWQ_LIB_QUANT_LAYOUTS_H
#define AWQ_LIB_QUANT_LAYOUTS_H

#include <stdint.h>

#include "awqkit/quant.h"

#if defined(__CUDACC__)
#define AWQ_LAY_FN static inline __host__ __device__
#else
#define AWQ_LAY_FN static inline
#endif

#ifdef __cplusplus
#define AWQ_LAY_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define AWQ_LAY_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Values per 32-bit word for the AWQ layouts (4-bit only). */
#define AWQ_LAY_AWQ_BITS 4
#define AWQ_LAY_AWQ_PACK 8

/* The AWQ GEMM interleave. Field i of a word holds column
 * COL_OF_FIELD(i) of its 8-column pack; column c sits in field
 * FIELD_OF_COL(c). As integer formulas so they are constant expressions:
 *   COL_OF_FIELD: [0,2,4,6,1,3,5,7] (AutoAWQ AWQ_ORDER)
 *   FIELD_OF_COL: [0,4,1,5,2,6,3,7] (AutoAWQ AWQ_REVERSE_ORDER) */
#define AWQ_GEMM_COL_OF_FIELD(i) ((((i) & 3) << 1) | (((i) >> 2) & 1))
#define AWQ_GEMM_FIELD_OF_COL(c) ((((c) & 1) << 2) | (((c) >> 1) & 3))

#define AWQ_LAY_CHECK_INV_(c)                                                  \
    AWQ_LAY_STATIC_ASSERT(AWQ_GEMM_COL_OF_FIELD(AWQ_GEMM_FIELD_OF_COL(c)) ==  \
                              (c),                                             \
                          "AWQ GEMM order is not a permutation")
AWQ_LAY_CHECK_INV_(0);
AWQ_LAY_CHECK_INV_(1);
AWQ_LAY_CHECK_INV_(2);
AWQ_LAY_CHECK_INV_(3);
AWQ_LAY_CHECK_INV_(4);
AWQ_LAY_CHECK_INV_(5);
AWQ_LAY_CHECK_INV_(6);
AWQ_LAY_CHECK_INV_(7);
#undef AWQ_LAY_CHECK_INV_
/* Golden word: code c in column c packs to 0x75316420. */
#define AWQ_LAY_GF_(i) ((uint32_t)AWQ_GEMM_COL_OF_FIELD(i) << (4 * (i)))
AWQ_LAY_STATIC_ASSERT((AWQ_LAY_GF_(0) | AWQ_LAY_GF_(1) | AWQ_LAY_GF_(2) |
                       AWQ_LAY_GF_(3) | AWQ_LAY_GF_(4) | AWQ_LAY_GF_(5) |
                       AWQ_LAY_GF_(6) | AWQ_LAY_GF_(7)) == 0x75316420u,
                      "AWQ GEMM golden word");
#undef AWQ_LAY_GF_
AWQ_LAY_STATIC_ASSERT(sizeof(int32_t) == 4 && sizeof(uint16_t) == 2,
                      "word sizes");
AWQ_LAY_STATIC_ASSERT(AWQ_QFMT_AWQ_GEMM == 0 && AWQ_QFMT_AWQ_GEMV == 1 &&
                          AWQ_QFMT_GPTQ == 2 && AWQ_QFMT_GPTQ_V2 == 3 &&
                          AWQ_QFMT_CT == 4,
                      "format ids are pinned");

/* Reasons a linear does not fit a layout (awq_lay_get_shapes). */
enum {
    AWQ_LAY_OK = 0,
    AWQ_LAY_E_FORMAT = 1,     /* unknown format */
    AWQ_LAY_E_BITS = 2,       /* bits not supported by the format */
    AWQ_LAY_E_GROUP = 3,      /* group_size not -1 / > 0 */
    AWQ_LAY_E_GROUP_DIV = 4,  /* group_len does not divide K (AWQ) */
    AWQ_LAY_E_GEMV_GROUP = 5, /* GEMV: group_len not 32, 64 or >= 128 */
    AWQ_LAY_E_N = 6,          /* N not a multiple of the pack */
    AWQ_LAY_E_K = 7,          /* K not a multiple of the pack */
    AWQ_LAY_E_SIZE = 8        /* K, N < 1 or too large */
};

/* Largest K or N accepted (2^31 - 1: shapes and g_idx fit int32) and the
 * largest K*N (2^40 codes). */
#define AWQ_LAY_MAX_DIM 2147483647LL
#define AWQ_LAY_MAX_ELEMS (1LL << 40)

typedef struct awq_lay_shapes {
    int64_t group_len;      /* g */
    int64_t n_groups;       /* G */
    int64_t zeros_width;    /* GEMV Z; 0 for other formats */
    int64_t qweight[2];
    int64_t qzeros[2];
    int64_t scales[2];
    int64_t g_idx;          /* K for GPTQ, 0 (absent) for AWQ */
} awq_lay_shapes;

AWQ_LAY_FN int64_t awq_lay_group_len(int64_t K, int group_size) {
    return group_size == -1 ? K : (int64_t)group_size;
}

AWQ_LAY_FN int awq_lay_bits_ok(int bits) {
    return bits == 2 || bits == 3 || bits == 4 || bits == 8;
}

/* Number of values a GPTQ dimension must be a multiple of: 32/bits for 2,
 * 4, 8 bits; 32 for 3 bits (the stream realigns every 32 values). */
AWQ_LAY_FN int64_t awq_lay_gptq_multiple(int bits) {
    return bits == 3 ? 32 : 32 / bits;
}

/* AutoAWQ calculate_zeros_width(in_features, group_size, pack_num=8);
 * 0 when AutoAWQ raises NotImplementedError. */
AWQ_LAY_FN int64_t awq_lay_gemv_zeros_width(int64_t K, int64_t group_len) {
    int64_t m;
    if (group_len >= 128) m = 1;
    else if (group_len == 64) m = 2;
    else if (group_len == 32) m = 4;
    else return 0;
    int64_t base = (K / group_len + 7) / 8;
    return (base + m - 1) / m * m;
}

/* Shapes of the packed tensors of a linear, or the reason it cannot be
 * stored in `format`. */
AWQ_LAY_FN int awq_lay_get_shapes(int format, int64_t K, int64_t N, int bits,
                              int group_size, awq_lay_shapes *s) {
    if (K < 1 || N < 1 || K > AWQ_LAY_MAX_DIM || N > AWQ_LAY_MAX_DIM ||
        K > AWQ_LAY_MAX_ELEMS / N)
        return AWQ_LAY_E_SIZE;
    if (group_size != -1 && group_size < 1) return AWQ_LAY_E_GROUP;
    int64_t g = awq_lay_group_len(K, group_size);
    int64_t G = (K + g - 1) / g;
    s->group_len = g;
    s->n_groups = G;
    s->zeros_width = 0;
    s->g_idx = 0;
    switch (format) {
    case AWQ_QFMT_AWQ_GEMM:
        if (bits != AWQ_LAY_AWQ_BITS) return AWQ_LAY_E_BITS;
        if (K % g != 0) return AWQ_LAY_E_GROUP_DIV;
        if (N % AWQ_LAY_AWQ_PACK != 0) return AWQ_LAY_E_N;
        s->qweight[0] = K;
        s->qweight[1] = N / AWQ_LAY_AWQ_PACK;
        s->qzeros[0] = G;
        s->qzeros[1] = N / AWQ_LAY_AWQ_PACK;
        s->scales[0] = G;
        s->scales[1] = N;
        return AWQ_LAY_OK;
    case AWQ_QFMT_AWQ_GEMV: {
        if (bits != AWQ_LAY_AWQ_BITS) return AWQ_LAY_E_BITS;
        if (K % g != 0) return AWQ_LAY_E_GROUP_DIV;
        if (N % AWQ_LAY_AWQ_PACK != 0) return AWQ_LAY_E_N;
        if (K % AWQ_LAY_AWQ_PACK != 0) return AWQ_LAY_E_K;
        int64_t Z = awq_lay_gemv_zeros_width(K, g);
        if (Z == 0) return AWQ_LAY_E_GEMV_GROUP;
        s->zeros_width = Z;
        s->qweight[0] = N;
        s->qweight[1] = K / AWQ_LAY_AWQ_PACK;
        s->qzeros[0] = N;
        s->qzeros[1] = Z;
        s->scales[0] = N;
        s->scales[1] = Z * AWQ_LAY_AWQ_PACK;
        return AWQ_LAY_OK;
    }
    case AWQ_QFMT_GPTQ:
    case AWQ_QFMT_GPTQ_V2: {
        if (!awq_lay_bits_ok(bits)) return AWQ_LAY_E_BITS;
        int64_t m = awq_lay_gptq_multiple(bits);
        if (N % m != 0) return AWQ_LAY_E_N;
        if (K % m != 0) return AWQ_LAY_E_K;
        s->qweight[0] = K * bits / 32;
        s->qweight[1] = N;
        s->qzeros[0] = G;
        s->qzeros[1] = N * bits / 32;
        s->scales[0] = G;
        s->scales[1] = N;
        s->g_idx = K;
        return AWQ_LAY_OK;
    }
    case AWQ_QFMT_CT: {
        /* 3-bit is refused: the compressed-tensors library packs 10 codes
         * per word (2 bits padding) while vLLM reads a dense 3-bit stream,
         * so no 3-bit file loads right in both */
        if (!awq_lay_bits_ok(bits) || bits == 3) return AWQ_LAY_E_BITS;
        /* the library refuses a group that does not divide K */
        if (K % g != 0) return AWQ_LAY_E_GROUP_DIV;
        int64_t m = awq_lay_gptq_multiple(bits);
        if (N % m != 0) return AWQ_LAY_E_N;
        if (K % m != 0) return AWQ_LAY_E_K;
        s->qweight[0] = N;
        s->qweight[1] = K * bits / 32;
        s->qzeros[0] = N * bits / 32;
        s->qzeros[1] = G;
        s->scales[0] = N;
        s->scales[1] = G;
        s->g_idx = K;
        return AWQ_LAY_OK;
    }
    default:
        return AWQ_LAY_E_FORMAT;
    }
}

/* K and N of a linear from its qweight shape [s0, s1] (the inverse of the
 * qweight rule above); 0 when the shape cannot come from the layout. */
AWQ_LAY_FN int awq_lay_dims_from_qweight(int format, int bits, int64_t s0,
                                         int64_t s1, int64_t *K, int64_t *N) {
    if (s0 < 1 || s1 < 1 || s0 > AWQ_LAY_MAX_ELEMS || s1 > AWQ_LAY_MAX_ELEMS)
        return 0;
    switch (format) {
    case AWQ_QFMT_AWQ_GEMM:
        *K = s0;
        *N = s1 * AWQ_LAY_AWQ_PACK;
        return 1;
    case AWQ_QFMT_AWQ_GEMV:
        *N = s0;
        *K = s1 * AWQ_LAY_AWQ_PACK;
        return 1;
    case AWQ_QFMT_GPTQ:
    case AWQ_QFMT_GPTQ_V2:
        if (!awq_lay_bits_ok(bits) || (s0 * 32) % bits != 0) return 0;
        *K = s0 * 32 / bits;
        *N = s1;
        return 1;
    case AWQ_QFMT_CT:
        if (!awq_lay_bits_ok(bits) || bits == 3 || (s1 * 32) % bits != 0) return 0;
        *N = s0;
        *K = s1 * 32 / bits;
        return 1;
    default:
        return 0;
    }
}

/* Position of one field: the word index into the tensor (row-major), the
 * bit shift inside it, and for 3-bit GPTQ fields that cross into the next
 * word, that word's index (-1 when the field fits in one word). */
typedef struct awq_lay_pos {
    int64_t word;
    int64_t word2;
    int shift;
} awq_lay_pos;

/* A bit-stream position: value j of a stream of `bits`-bit values whose
 * consecutive words are `stride` words apart, starting at word `base`. */
AWQ_LAY_FN awq_lay_pos awq_lay_stream_pos(int64_t base, int64_t stride,
                                          int64_t j, int bits) {
    awq_lay_pos p;
    int64_t bit = j * bits;
    p.word = base + (bit >> 5) * stride;
    p.shift = (int)(bit & 31);
    p.word2 = (p.shift + bits > 32) ? p.word + stride : -1;
    return p;
}

/* Where the code of W[n, k] lives in qweight. */
AWQ_LAY_FN awq_lay_pos awq_lay_qweight_pos(int format, int64_t K, int64_t N,
                                           int bits, int64_t n, int64_t k) {
    awq_lay_pos p;
    p.word2 = -1;
    switch (format) {
    case AWQ_QFMT_AWQ_GEMM:
        p.word = k * (N / 8) + n / 8;
        p.shift = 4 * AWQ_GEMM_FIELD_OF_COL((int)(n & 7));
        return p;
    case AWQ_QFMT_AWQ_GEMV:
        p.word = n * (K / 8) + k / 8;
        p.shift = 4 * (int)(k & 7);
        return p;
    case AWQ_QFMT_CT: /* stream along row n of a [N, K*b/32] matrix */
        return awq_lay_stream_pos(n * (K * bits / 32), 1, k, bits);
    default: /* GPTQ: stream down column n of a [K*b/32, N] matrix */
        return awq_lay_stream_pos(n, N, k, bits);
    }
}

/* Where the zero of group g of output row n lives in qzeros. Z is the GEMV
 * zeros width, and for compressed-tensors the number of groups G (the
 * row length of its [N*b/32, G] zero matrix); ignored by other formats. */
AWQ_LAY_FN awq_lay_pos awq_lay_qzeros_pos(int format, int64_t N, int bits,
                                          int64_t Z, int64_t g, int64_t n) {
    awq_lay_pos p;
    p.word2 = -1;
    switch (format) {
    case AWQ_QFMT_AWQ_GEMM:
        p.word = g * (N / 8) + n / 8;
        p.shift = 4 * AWQ_GEMM_FIELD_OF_COL((int)(n & 7));
        return p;
    case AWQ_QFMT_AWQ_GEMV:
        p.word = n * Z + g / 8;
        p.shift = 4 * (int)(g & 7);
        return p;
    case AWQ_QFMT_CT: /* stream down column g */
        return awq_lay_stream_pos(g, Z, n, bits);
    default: /* GPTQ: stream along row g of a [G, N*b/32] matrix */
        return awq_lay_stream_pos(g * (N * bits / 32), 1, n, bits);
    }
}

/* Index of the scale of group g of output row n in the scales tensor (Z as
 * for awq_lay_qzeros_pos). */
AWQ_LAY_FN int64_t awq_lay_scale_index(int format, int64_t N, int64_t Z,
                                       int64_t g, int64_t n) {
    if (format == AWQ_QFMT_CT) return n * Z + g;
    return format == AWQ_QFMT_AWQ_GEMV ? n * (Z * 8) + g : g * N + n;
}

/* Read / write a field given its position; words as uint32 values. */
AWQ_LAY_FN uint32_t awq_lay_field_get(uint32_t lo, uint32_t hi, int shift,
                                      int bits) {
    uint64_t v = ((uint64_t)hi << 32) | lo;
    return (uint32_t)(v >> shift) & ((1u << bits) - 1u);
}

/* Stored zero field <-> zero point. GPTQ v1 stores zero - 1 (modulo 2^b
 * when read back: AutoGPTQ masks the field then adds 1). */
AWQ_LAY_FN int awq_lay_zero_offset(int format) {
    return format == AWQ_QFMT_GPTQ ? 1 : 0;
}

#endif /* AWQ_LIB_QUANT_LAYOUTS_H */
