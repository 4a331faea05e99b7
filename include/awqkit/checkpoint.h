/*
 * awqkit/checkpoint.h — reading and writing safetensors checkpoints.
 *
 * Reading: awq_checkpoint_open() takes a model directory (config.json plus
 * model.safetensors, or model-0000k-of-0000n.safetensors shards with
 * model.safetensors.index.json) or a single .safetensors file. Every header
 * is validated as hostile input before any tensor is exposed (see
 * lib/io/safetensors.h for the full list of rules). Tensor bytes are
 * mmap'd: nothing is read until it is touched, so opening a 70B checkpoint
 * reads only its headers. The files must not be truncated or rewritten
 * while the checkpoint is open (a shrunk mapping faults on access).
 *
 * Which weights a directory holds (first match wins, as in transformers):
 *  1. model.safetensors
 *  2. model.safetensors.index.json and the shards it names
 *  3. exactly one other *.safetensors.index.json (e.g. another base name)
 *  4. exactly one other *.safetensors file
 * Several index files, or several .safetensors files and no index, are
 * AWQ_ERR_FORMAT (the shard set would be a guess); no weights at all is
 * AWQ_ERR_NOT_FOUND. Hidden files (".x") are ignored. The index must name
 * plain files inside the directory, every shard it names must exist, each
 * tensor must be in the shard it names, and every tensor of those shards
 * must be listed (an unlisted tensor is an error, not a warning: loaders
 * that trust the index would drop it); a tensor in two shards is an error.
 * A metadata.total_size that disagrees with the tensors only warns.
 * config.json is parsed when present (malformed: AWQ_ERR_FORMAT naming it).
 *
 * Writing: awq_writer lays out a sharded checkpoint from a declared list of
 * tensors, accepts their bytes in any order, and commits atomically: data
 * goes to temporary names in the output directory, is fsync'd, then renamed;
 * the file that makes the checkpoint look complete (the index, or the single
 * model.safetensors) is renamed last. A writer freed before
 * awq_writer_finish() removes its temporaries.
 *
 * Files written: one shard -> <base>.safetensors; several ->
 * <base>-00001-of-0000N.safetensors plus <base>.safetensors.index.json
 * ({"metadata":{"total_size":N},"weight_map":{...}}, keys sorted, as
 * transformers writes it). Each header starts with
 * "__metadata__":{"format":"pt"}, lists its tensors in declaration order and
 * is space-padded so the data area is 8-byte aligned. Temporaries are hidden
 * files ".<final name>.tmp.<pid>" in the output directory; shard files are
 * preallocated when the layout is fixed (first write), so a disk too small
 * for the checkpoint fails then, not at the end. Any I/O error
 * (AWQ_ERR_IO, naming the file) removes every temporary, and the writer
 * then refuses further calls.
 *
 * A writer and its ctx are used by one thread at a time; messages go to the
 * ctx passed to awq_writer_create.
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
    /* FP8 block sources only (awq_checkpoint_bind_fp8): this F8_E4M3
     * weight's <name>_scale_inv tensor and its block [rows, cols]; the fp32
     * conversions below then dequantize. NULL / 0 otherwise. */
    const struct awq_tensor_info *scale_inv;
    int32_t block[2];
} awq_tensor_info;

typedef struct awq_checkpoint awq_checkpoint;

/* Open `path`: a directory, a .safetensors file (bare: no config), or a
 * *.index.json file (read like its directory, config included). On success
 * *out owns the mappings; free with awq_checkpoint_free. Errors name the
 * file and tensor. */
awq_status awq_checkpoint_open(awq_ctx *ctx, const char *path,
                               awq_checkpoint **out);
void awq_checkpoint_free(awq_checkpoint *ck);

/* As awq_checkpoint_open, for commands that run the model (quantize, ppl):
 * a bare .safetensors file also reads the config.json beside it, when
 * there is one. Directories and indexes open exactly as above. */
awq_status awq_checkpoint_open_model(awq_ctx *ctx, const char *path,
                                     awq_checkpoint **out);

/* FP8 block sources (DeepSeek-V3, Qwen3-FP8: config.json
 * quantization_config {quant_method "fp8", fmt "e4m3", weight_block_size
 * [bn, bk]}, each linear a F8_E4M3 .weight [N, K] plus a .weight_scale_inv
 * [ceil(N/bn), ceil(K/bk)]): check the config and every FP8 linear (scale
 * shape, dtype, finite positive scales) and bind each weight to its scale,
 * so that awq_tensor_to_f32 and friends return w = fp8 * scale_inv of the
 * element's block, one tensor at a time from the mmap. AWQ_OK and nothing
 * done when the config is not quant_method "fp8". Errors name the config
 * field or the tensor and element. awq_checkpoint_open_model calls it;
 * commands reading a source through awq_checkpoint_open (verify --against,
 * audit) call it themselves. Lives in lib/io/fp8src.c. */
awq_status awq_checkpoint_bind_fp8(awq_ctx *ctx, awq_checkpoint *ck);

/* ck is a bound FP8 block source (awq_checkpoint_bind_fp8 bound a weight). */
bool awq_checkpoint_is_fp8_source(const awq_checkpoint *ck);

/* Directory holding the checkpoint (for a single file: its directory). */
const char *awq_checkpoint_dir(const awq_checkpoint *ck);

size_t awq_checkpoint_n_shards(const awq_checkpoint *ck);
/* Full path of shard i. */
const char *awq_checkpoint_shard_path(const awq_checkpoint *ck, size_t i);

/* Drop the mapped pages holding bytes [data, data + n_bytes) of one of ck's
 * tensors from this process's resident memory (a hint: the bytes stay
 * readable, a later read maps them again from the file). For streaming
 * readers, so host RSS holds the part being worked on rather than every
 * byte read so far. A range outside ck's mapped shards is ignored. */
void awq_checkpoint_release(const awq_checkpoint *ck, const void *data, uint64_t n_bytes);
/* Size in bytes of shard i on disk. */
uint64_t awq_checkpoint_shard_bytes(const awq_checkpoint *ck, size_t i);

/* Sum of n_bytes over all tensors (what an index calls total_size). */
uint64_t awq_checkpoint_total_bytes(const awq_checkpoint *ck);

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
 * n_elements floats. Other dtypes: AWQ_ERR_UNSUPPORTED naming the tensor.
 * Large tensors are converted on the context's thread pool; the result does
 * not depend on the thread count. F64 narrows with IEEE rounding (values
 * beyond the float range become +-inf). */
awq_status awq_tensor_to_f32(awq_ctx *ctx, const awq_tensor_info *t,
                             float *dst);
/* awq_tensor_to_f32 that also checks the result in the same pass (each run
 * scanned while in cache, on the same threads): a NaN / Inf is
 * AWQ_ERR_RANGE "tensor 'NAME' holds NaN at element [i, j]" (the first one;
 * F64 values beyond the float range count, as they become Inf). dst is
 * then only partly converted. */
awq_status awq_tensor_to_f32_finite(awq_ctx *ctx, const awq_tensor_info *t,
                                    float *dst);
/* Same for a contiguous run of rows of a 2-D tensor: rows [r0, r0+nr), `dst`
 * holding nr * shape[1] floats. Not 2-D or rows out of range:
 * AWQ_ERR_INVALID_ARG. */
awq_status awq_tensor_rows_to_f32(awq_ctx *ctx, const awq_tensor_info *t,
                                  int64_t r0, int64_t nr, float *dst);

/* NaN / Inf in a stored floating tensor (F16, BF16, F32, F64), found on the
 * stored bits without converting: the flat index of the first one, or -1
 * (none, or not a floating dtype). */
int64_t awq_tensor_first_nonfinite(const awq_tensor_info *t);
/* Element i of a floating tensor as a double (NaN / +-Inf as stored). */
double awq_tensor_element_f64(const awq_tensor_info *t, int64_t i);
/* AWQ_OK when the tensor holds no NaN / Inf; else AWQ_ERR_RANGE with
 * "tensor 'NAME' holds NaN at element [i, j]" (the first such element). */
awq_status awq_tensor_check_finite(awq_ctx *ctx, const awq_tensor_info *t);

/* ----------------------------------------------------------- the writer */

typedef struct awq_writer_params {
    /* Shard size cap in bytes of tensor data. Tensors are assigned in
     * declaration order; a new shard starts when the next tensor would push
     * the current one past the cap, and a tensor larger than the cap gets a
     * shard of its own (the next tensor then starts a new one). > 0.
     * Default 5e9, as transformers. */
    uint64_t max_shard_bytes;
    /* Write into a directory that already holds a checkpoint (config.json,
     * *.safetensors or *.safetensors.index.json). At finish, the weights
     * files of the old checkpoint that the new one does not replace are
     * removed, so the directory holds one consistent checkpoint; other
     * files (README, old tokenizer files) are left alone. Default false. */
    bool force;
    /* Base name: "model" gives model.safetensors or
     * model-00001-of-00003.safetensors + model.safetensors.index.json.
     * A plain file name not starting with '.'; NULL = "model". */
    const char *base_name;
    /* Sparse output: tensors never written read back as zeros. finish()
     * accepts them, and shard files get their size with ftruncate instead
     * of being preallocated, so unwritten data are holes taking no disk
     * blocks (synthetic checkpoints of any shape, written instantly).
     * Default false: every declared tensor must be written. */
    bool sparse;
} awq_writer_params;

awq_writer_params awq_writer_default_params(void);

typedef struct awq_writer awq_writer;

/* Prepare writing into out_dir (created if missing). Fails with
 * AWQ_ERR_EXISTS when out_dir holds a checkpoint and !force. params NULL:
 * defaults. */
awq_status awq_writer_create(awq_ctx *ctx, const char *out_dir,
                             const awq_writer_params *params,
                             awq_writer **out);
/* Abort (when not finished) and release. Removes temporaries, and the
 * output directory when this writer created it and it is empty again. */
void awq_writer_free(awq_writer *w);

/* Declare a tensor. All declarations come before the first write. Names
 * must be unique, non-empty, valid UTF-8 and not "__metadata__"; shape has
 * ndim (0..AWQ_MAX_DIMS) non-negative entries (NULL allowed when ndim is 0).
 * Tensors are laid out in declaration order. The name and shape are
 * copied. */
awq_status awq_writer_declare(awq_writer *w, const char *name, awq_dtype dtype,
                              int ndim, const int64_t *shape);

/* Write the bytes of a declared tensor (exactly its n_bytes, else
 * AWQ_ERR_MISMATCH), once, in any order. The data is handed to the kernel
 * (pwrite at its final offset) before return; the caller keeps its buffer. */
awq_status awq_writer_write(awq_writer *w, const char *name, const void *data,
                            uint64_t n_bytes);

/* Add a small auxiliary file (config.json, tokenizer.json, ...) committed
 * with the checkpoint, before the weights. `name` is a plain file name, not
 * hidden, unique, and not a weights name (*.safetensors,
 * *.safetensors.index.json). Bytes are written to a temporary now. Allowed
 * any time before finish. */
awq_status awq_writer_add_file(awq_writer *w, const char *name,
                               const void *data, size_t n_bytes);
/* Same, copying the contents of an existing file. */
awq_status awq_writer_copy_file(awq_writer *w, const char *name,
                                const char *src_path);

/* Check every declared tensor was written (else AWQ_ERR_INVALID_ARG naming
 * the first missing one; the writer stays usable), fsync, rename into place
 * (aux files, shards, then the index or single shard last), remove stale
 * files of an old checkpoint (force), fsync the directory. A failure during
 * the renames can leave some new files in place but never an index or
 * model.safetensors that is not complete. */
awq_status awq_writer_finish(awq_writer *w);

/* Total tensor bytes (valid after the declarations), number of shards
 * (valid once the layout is fixed: after the first write or finish). */
uint64_t awq_writer_total_bytes(const awq_writer *w);
size_t awq_writer_n_shards(const awq_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_CHECKPOINT_H */
