/*
 * lib/io/fp8src.h — FP8 block sources read as dense ones (internal; the
 * public side is awq_checkpoint_bind_fp8 in awqkit/checkpoint.h).
 */
#ifndef AWQ_LIB_IO_FP8SRC_H
#define AWQ_LIB_IO_FP8SRC_H

#include "awqkit/checkpoint.h"

/* checkpoint.c's tensor table, writable, for binding (n tensors). */
awq_tensor_info *awq_checkpoint_tensors_mut(awq_checkpoint *ck, size_t *n);
void awq_checkpoint_mark_fp8(awq_checkpoint *ck);

/* Rows [r0, r0 + nr) of a bound FP8 weight (t->scale_inv set) into dst
 * [nr, K] fp32: w = fp8 * scale_inv[r / bn][c / bk]. An E4M3 NaN code is
 * refused naming the tensor and element. */
awq_status awq_fp8src_rows(awq_ctx *ctx, const awq_tensor_info *t, int64_t r0, int64_t nr,
                           float *dst);

/* Largest finite E4M3 (E4M3FN) magnitude. */
#define AWQ_F8E4M3_MAX 448.0f

#endif
