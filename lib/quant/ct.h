/*
 * lib/quant/ct.h — compressed-tensors tensors: float weights (FP8, NVFP4,
 * int8 naive, integer pack-quantized of any scheme) dequantized per linear
 * (ct_float.c). The quantization_config (parse, schemes, target / ignore
 * matching, awqkit's own config) is lib/quant/ctconfig.h; the packed
 * integer layout a row of the format table (AWQ_QFMT_CT, layouts.h).
 */
#ifndef AWQ_LIB_QUANT_CT_H
#define AWQ_LIB_QUANT_CT_H

#include "quant/ctconfig.h"

#include <stdint.h>

/* ------------------------------------------ float weights (ct_float.c) */

struct awq_checkpoint;

/* FP8 E4M3 (E4M3FN) byte to fp32. */
float awq_f8e4m3_to_f32(uint8_t v);

/* Linear `prefix` is stored as FP8 / int8 (<p>.weight F8_E4M3 / I8 +
 * weight_scale), NVFP4 (<p>.weight_packed U8 + weight_scale +
 * weight_global_scale) or packed integers (<p>.weight_packed I32 +
 * weight_scale). */
bool awq_ct_float_linear(const struct awq_checkpoint *ck, const char *prefix);

/* Dequantize such a linear into out [N, K] fp32 (layouts: ct_float.c).
 * Shapes and dtypes are checked (AWQ_ERR_MISMATCH / AWQ_ERR_FORMAT naming
 * the tensor). */
awq_status awq_ct_float_dequant(awq_ctx *ctx, const struct awq_checkpoint *ck,
                                const char *prefix, int64_t N, int64_t K, float *out);

/* "Within the format's own step": each element of the source src [N, K]
 * against the stored code of the same linear. Round-to-nearest puts every
 * source weight within half a grid step of its code (times its scale):
 * FP8 E4M3 steps 2^(e-3) (2^-9 among subnormals), FP4 E2M1 steps 0.5 / 1 /
 * 2, integers 1; the larger step around a code is taken, with 1/32 of
 * slack for a producer dividing in FP16 / BF16. */
typedef struct awq_ct_steps {
    int64_t n_off;             /* source weights outside half a step */
    int64_t first_row;         /* row of the first such weight, -1 */
    double worst;              /* largest |w' - w| in half steps */
} awq_ct_steps;

awq_status awq_ct_float_steps(awq_ctx *ctx, const struct awq_checkpoint *ck, const char *prefix,
                              int64_t N, int64_t K, const float *src, awq_ct_steps *out);

#endif /* AWQ_LIB_QUANT_CT_H */
