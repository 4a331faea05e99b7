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

#endif /* AWQ_LIB_QUANT_CT_H */
