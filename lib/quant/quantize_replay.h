/*
 * lib/quant/quantize_replay.h — the quantized layer replayed as written,
 * and the RTN baseline of the per-layer report (quantize_replay.c).
 */
#ifndef AWQ_LIB_QUANT_QUANTIZE_REPLAY_H
#define AWQ_LIB_QUANT_QUANTIZE_REPLAY_H

#include "quant/awq_search.h"
#include "quant/quantize_job.h"

/* Run layer `layer` as its output holds it on slot `in` -> slot `out`
 * (the first n_seqs sequences). searched: the layer as the search left it
 * (scaled and clipped; borrowed, left holding the replayed weights), or
 * NULL to load it from the source. dev_packed: with `searched`, per linear
 * of the layer's set, whether awq_qz_pack_on_device packed it (NULL:
 * none). outl: the layer's output tensors (read only), or NULL to read
 * its layer file. */
awq_status awq_qz_replay_layer(awq_quantize_job *job, int64_t layer, awq_search_acts *a, int in,
                               int out, int64_t n_seqs, awq_layer *searched,
                               const uint8_t *dev_packed, const awq_qz_out_list *outl);

/* Whether the RTN baseline runs in place on the loaded layer (device
 * backends: awq_qz_rtn_mse with `loaded`), before the search changes it. */
bool awq_qz_rtn_in_place(const awq_quantize_job *job);

/* MSE of the layer with its packed linears RTN-quantized against
 * AWQ_SLOT_Y over the first n_seqs sequences (output through
 * AWQ_SLOT_TMP). loaded: the layer as loaded (unchanged on return, a copy
 * of each linear held meanwhile), or NULL to load it. */
awq_status awq_qz_rtn_mse(awq_quantize_job *job, int64_t layer, awq_search_acts *acts,
                          int64_t n_seqs, awq_layer *loaded, double *mse);

#endif
