/*
 * awqkit/checkpoint.h — reading and writing safetensors checkpoints.
 *
 * Reading: awq_checkpoint_open() takes a model directory (config.json plus
 * model.safetensors, or model-0000k-of-0000n.safetensors shards with
 * model.safetensors.index.json) or a single .safetensors file. Every header
 * is validated as hostile input before any tensor is exposed (see
 * lib/io/safetensors.c for the full list of rules). Tensor bytes are
 * mmap'd: nothing is read until it is touched, so opening a 70B checkpoint
 * reads only its headers.
 *
 * Writing: awq_writer lays out a sharded checkpoint from a declared list of
 * tensors, accepts their bytes in any order, and commits atomically: data
 * goes to temporary names in the output directory, is fsync'd, then renamed;
 * the file that makes the checkpoint look complete (the index, or the single
 * model.safetensors) is renamed last. A writer freed before
 * awq_writer_finish() removes its temporaries.
 */
#ifndef AWQKIT_CHECKPOINT_H
#define AWQKIT_CHECKPOINT_H

#include "awqkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON; /* from <cjson/cJSON.h>; only needed to read config JSON */

#define AWQ_MAX_DIMS 8
/* Hard cap on a safetensors header, as in the reference implementation. */
#define AWQ_MAX_HEADER_BYTES (100u * 1000u * 1000u)

typedef struct awq_tensor_info {
    const char *name;          /* owned by the checkpoint */
    awq_dtype dtype;
    int ndim;                  /* 0..AWQ_MAX_DIMS (0 = scalar) */
    int64_t shape[AWQ_MAX_DIMS];
    uint64_t n_elements;       /* product of shape (1 for a scalar) */
    uint64_t n_bytes;          /* n_elements * dtype size */
    int shard;                 /* index into the checkpoint's shard list */
    uint64_t file_offset;      /* absolute offset of the data in the shard */
    const void *data;          /* mmap'd bytes; may be unaligned; valid until
                                  awq_checkpoint_free */
} awq_tensor_info;

typedef struct awq_checkpoint awq_checkpoint;

/* Open `path` (directory or .safetensors file). On success *out owns the
 * mappings; free with awq_checkpoint_free. Errors name the file and tensor. */
awq_status awq_checkpoint_open(awq_ctx *ctx, const char *path,
                               awq_checkpoint **out);
void awq_checkpoint_free(awq_checkpoint *ck);

/* Directory holding the checkpoint (for a single file: its directory). */
const char *awq_checkpoint_dir(const awq_checkpoint *ck);

size_t awq_checkpoint_n_shards(const awq_checkpoint *ck);
/* Full path of shard i. */
const char *awq_checkpoint_shard_path(const awq_checkpoint *ck, size_t i);
/* Size in bytes of shard i on disk. */
uint64_t awq_checkpoint_shard_bytes(const awq_checkpoint *ck, size_t i);

/* Tensors, in (shard, file offset) order. */
size_t awq_checkpoint_n_tensors(const awq_checkpoint *ck);
const awq_tensor_info *awq_checkpoint_tensor(const awq_checkpoint *ck,
                                             size_t i);
/* Lookup by exact name; NULL when absent. O(log n). */
const awq_tensor_info *awq_checkpoint_find(const awq_checkpoint *ck,
                                           const char *name);

/* Parsed config.json, or NULL when the checkpoint has none (a bare file).
 * Owned by ck. */
const struct cJSON *awq_checkpoint_config(const awq_checkpoint *ck);

/* The `__metadata__` map of shard i as a JSON object (NULL if absent). */
const struct cJSON *awq_checkpoint_metadata(const awq_checkpoint *ck,
                                            size_t i);

/* Convert a floating tensor (F16, BF16, F32, F64) to fp32, `dst` holding
 * n_elements floats. Other dtypes: AWQ_ERR_UNSUPPORTED naming the tensor. */
awq_status awq_tensor_to_f32(awq_ctx *ctx, const awq_tensor_info *t,
                             float *dst);
/* Same for a contiguous run of rows of a 2-D tensor: rows [r0, r0+nr). */
awq_status awq_tensor_rows_to_f32(awq_ctx *ctx, const awq_tensor_info *t,
                                  int64_t r0, int64_t nr, float *dst);

/* ----------------------------------------------------------- the writer */

typedef struct awq_writer_params {
    /* Shard size cap in bytes of tensor data (a single tensor larger than
     * the cap gets a shard of its own). Default 5e9, as transformers. */
    uint64_t max_shard_bytes;
    /* Overwrite an existing non-empty output directory. Default false. */
    bool force;
    /* Base name: "model" gives model.safetensors or
     * model-00001-of-00003.safetensors + model.safetensors.index.json. */
    const char *base_name;
} awq_writer_params;

awq_writer_params awq_writer_default_params(void);

typedef struct awq_writer awq_writer;

/* Prepare writing into out_dir (created if missing). Fails with
 * AWQ_ERR_EXISTS when out_dir holds a checkpoint and !force. */
awq_status awq_writer_create(awq_ctx *ctx, const char *out_dir,
                             const awq_writer_params *params,
                             awq_writer **out);
/* Abort (when not finished) and release. Removes temporaries. */
void awq_writer_free(awq_writer *w);

/* Declare a tensor. All declarations come before the first write. Names
 * must be unique. Tensors are laid out in declaration order. */
awq_status awq_writer_declare(awq_writer *w, const char *name, awq_dtype dtype,
                              int ndim, const int64_t *shape);

/* Write the bytes of a declared tensor (exactly its n_bytes), once, in any
 * order. The data is copied to disk before return. */
awq_status awq_writer_write(awq_writer *w, const char *name, const void *data,
                            uint64_t n_bytes);

/* Add a small auxiliary file (config.json, tokenizer.json, ...) committed
 * with the checkpoint. `name` is a plain file name. Bytes are copied. */
awq_status awq_writer_add_file(awq_writer *w, const char *name,
                               const void *data, size_t n_bytes);
/* Same, copying the contents of an existing file. */
awq_status awq_writer_copy_file(awq_writer *w, const char *name,
                                const char *src_path);

/* Check every declared tensor was written, fsync, rename into place (index
 * or single shard last), fsync the directory. */
awq_status awq_writer_finish(awq_writer *w);

/* After finish: total tensor bytes, number of shards. */
uint64_t awq_writer_total_bytes(const awq_writer *w);
size_t awq_writer_n_shards(const awq_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_CHECKPOINT_H */
