/* lib/quant/actstore.h — calibration activations of the quantization
 * pipeline, split into chunks of whole sequences (internal).
 *
 * A store has slots (layer input, FP output, the four captured linear
 * inputs, a block's FP output), each [n_rows, cols[slot]] fp32, cut into
 * chunks of chunk_rows rows. Two modes:
 *   in memory  every slot is one backend buffer; a chunk is a pointer into
 *              it (get is free, put is a no-op when given that pointer);
 *   offloaded  chunks live zstd-compressed in an unlinked temporary file;
 *              get decompresses into the slot's staging buffer (one chunk,
 *              backend memory), put compresses and writes it back. Memory
 *              is then one chunk per slot whatever the calibration size.
 * Each (slot, chunk) owns a fixed extent of the file sized for the worst
 * case, so rewriting a chunk never grows the file; unwritten tails are
 * holes, so disk use is the compressed size.
 *
 * Chunking is what bounds the search's scratch (block outputs, the MLP's
 * [rows, intermediate] intermediates) on any backend; results depend on the
 * chunk size only through the order of the loss summation. */
#ifndef AWQ_LIB_QUANT_ACTSTORE_H
#define AWQ_LIB_QUANT_ACTSTORE_H

#include "awqkit/runtime.h"

#define AWQ_ACT_MAX_SLOTS 12

typedef struct awq_act_store awq_act_store;

typedef struct awq_act_store_params {
    int n_slots;
    int64_t cols[AWQ_ACT_MAX_SLOTS];
    int64_t n_rows;
    int64_t chunk_rows;        /* > 0 */
    bool offload;
    const char *dir;           /* offload: directory of the temp file */
    int zstd_level;            /* offload: 1 = fast */
} awq_act_store_params;

awq_status awq_act_store_create(awq_model *m, const awq_act_store_params *p,
                                awq_act_store **out);
void awq_act_store_free(awq_act_store *s);

int64_t awq_act_store_n_chunks(const awq_act_store *s);
/* Rows of chunk c (the last may be shorter) and its first row. */
int64_t awq_act_store_chunk_rows(const awq_act_store *s, int64_t c);
int64_t awq_act_store_chunk_row0(const awq_act_store *s, int64_t c);
int64_t awq_act_store_cols(const awq_act_store *s, int slot);
bool awq_act_store_offloaded(const awq_act_store *s);

/* Backend pointer to chunk c of `slot` (rows x cols). In memory: into the
 * slot's buffer. Offloaded: the slot's staging buffer, filled with the
 * stored chunk (zeros if never written) unless `fill` is false (the caller
 * will overwrite it). Valid until the next get of the same slot. */
awq_status awq_act_store_get(awq_act_store *s, int slot, int64_t c, bool fill,
                             float **out);
/* Store chunk c of `slot` from `src` (backend memory). A no-op when src is
 * the pointer get returned in memory mode. */
awq_status awq_act_store_put(awq_act_store *s, int slot, int64_t c,
                             const float *src);
/* Exchange the contents of two slots of the same width (O(1)). */
awq_status awq_act_store_swap(awq_act_store *s, int a, int b);
/* Bytes held in memory (buffers + staging), and on disk (compressed). */
uint64_t awq_act_store_mem_bytes(const awq_act_store *s);
uint64_t awq_act_store_disk_bytes(const awq_act_store *s);

#endif
