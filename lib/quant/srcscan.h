/* lib/quant/srcscan.h — one pass over every byte of a source checkpoint
 * before quantizing it: a content hash (the resume fingerprint's model
 * part) and the finiteness of every floating tensor. Internal.
 *
 * The hash is XXH3-64 of each 8 MiB block of each tensor (blocks hashed in
 * parallel, so the result does not depend on the thread count), combined
 * in tensor order with the names, dtypes and shapes. Every byte counts: a
 * fine-tune that changed one weight in the middle of one tensor gets
 * another fingerprint. */
#ifndef AWQ_QUANT_SRCSCAN_H
#define AWQ_QUANT_SRCSCAN_H

#include "awqkit/checkpoint.h"
#include "core/core.h"

/* Hash every tensor of ck into *hash and fail with AWQ_ERR_RANGE on the
 * first NaN/Inf of a floating tensor (in checkpoint order), naming the
 * tensor, the element and (for 2-D tensors) its row and column. Progress
 * phase "source" (MiB); AWQ_ERR_CANCELLED when the callback says stop. */
awq_status awq_source_scan(awq_ctx *ctx, const awq_checkpoint *ck, uint64_t *hash);
/* awq_checkpoint_release every tensor of decoder layer `layer` (names
 * "<prefix>layers.<layer>."): the quantizer is done with it. */
void awq_source_release_layer(const awq_checkpoint *ck, const char *prefix, int64_t layer);

#endif
