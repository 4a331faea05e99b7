/*
 * lib/quant/verify_impl.h — shared by verify.c (packed AWQ / GPTQ /
 * single-scheme compressed-tensors) and verify_ct.c (compressed-tensors read
 * per linear: FP8, NVFP4, int8 naive, several schemes) (internal).
 */
#ifndef AWQ_LIB_QUANT_VERIFY_IMPL_H
#define AWQ_LIB_QUANT_VERIFY_IMPL_H

#include "awqkit/checkpoint.h"
#include "awqkit/quant.h"
#include "core/core.h"
#include "quant/ctconfig.h"

/* Record a finding (clears r->ok; keeps the first AWQ_VERIFY_MAX_PROBLEMS). */
void awq_vf_problem(awq_verify_result *r, const char *fmt, ...) AWQ_PRINTF(2, 3);

/* The rest of awq_verify for a compressed-tensors checkpoint whose config
 * awq_ct_computable accepts but awq_ct_int_scheme does not: every tensor,
 * every quantized linear against the scheme its config group gives it,
 * counts; with src, the source comparison. res is set up by the caller
 * (ok, n_tensors, have_against); findings go to res. */
awq_status awq_verify_ct(awq_ctx *ctx, const awq_checkpoint *ck, const awq_checkpoint *src,
                         const awq_ct_config *cfg, const awq_verify_params *p,
                         awq_verify_result *res);

#endif
