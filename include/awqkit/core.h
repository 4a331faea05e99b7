/*
 * awqkit/core.h — status codes, the library context, logging, dtypes.
 *
 * Conventions that hold for the whole public API:
 *  - Every fallible function returns `awq_status`; AWQ_OK (0) is success.
 *    On failure the context's message (awq_ctx_errmsg) says what went wrong,
 *    naming the file / tensor / parameter involved.
 *  - The library never prints, exits or aborts. Diagnostics go through the
 *    log callback of the context (NULL callback: silent).
 *  - Opaque handles come in create/free pairs; every free accepts NULL.
 *  - Ownership: pointers returned by `const` getters are owned by the handle
 *    they came from and stay valid until that handle is freed. Pointers the
 *    caller passes in are borrowed for the duration of the call unless the
 *    function's comment says otherwise.
 *  - Thread-safety: an awq_ctx and the handles created from it may be used by
 *    one thread at a time. Distinct contexts are independent. The library
 *    runs its own worker threads internally (awq_ctx_params.n_threads).
 */
#ifndef AWQKIT_CORE_H
#define AWQKIT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AWQ_VERSION_MAJOR 0
#define AWQ_VERSION_MINOR 1
#define AWQ_VERSION_PATCH 0
#define AWQ_VERSION_STRING "0.1.0"

/* Status codes. Values are pinned: they are part of the ABI and of the CLI's
 * --json output. Never renumber; append only. */
typedef enum awq_status {
    AWQ_OK = 0,
    AWQ_ERR_INVALID_ARG = 1,   /* a parameter is out of its documented range */
    AWQ_ERR_NOMEM = 2,         /* host allocation failed */
    AWQ_ERR_IO = 3,            /* open/read/write/fsync/rename/mmap failed */
    AWQ_ERR_FORMAT = 4,        /* a file is malformed (header, JSON, index) */
    AWQ_ERR_UNSUPPORTED = 5,   /* valid input using a feature awqkit lacks */
    AWQ_ERR_NOT_FOUND = 6,     /* a file or tensor that must exist does not */
    AWQ_ERR_RANGE = 7,         /* NaN/Inf or a value outside a dtype's range */
    AWQ_ERR_MISMATCH = 8,      /* shapes, dtypes or config disagree */
    AWQ_ERR_EXISTS = 9,        /* output exists and overwrite was not asked */
    AWQ_ERR_LOSSY = 10,        /* conversion would lose information */
    AWQ_ERR_CUDA = 11,         /* a CUDA / cuBLAS call failed */
    AWQ_ERR_NO_DEVICE = 12,    /* no usable GPU, or built without CUDA */
    AWQ_ERR_CANCELLED = 13,    /* the progress callback asked to stop */
    AWQ_ERR_INTERNAL = 14      /* a bug in awqkit: please report it */
} awq_status;

/* Static English description of a status ("invalid argument", ...). Never
 * NULL; unknown values give "unknown status". */
const char *awq_strerror(awq_status s);

/* "0.1.0" plus build features, e.g. "0.1.0 (cuda openblas)". Static. */
const char *awq_version(void);

/* Whether this build contains the CUDA backend (it may still find no GPU). */
bool awq_built_with_cuda(void);

typedef enum awq_log_level {
    AWQ_LOG_ERROR = 0,
    AWQ_LOG_WARN = 1,
    AWQ_LOG_INFO = 2,
    AWQ_LOG_DEBUG = 3
} awq_log_level;

/* Log callback: `msg` is one line without trailing newline, valid only during
 * the call. Called from the thread that called into the library. */
typedef void (*awq_log_fn)(void *user, awq_log_level level, const char *msg);

/* Progress callback for long jobs. `phase` is a short static label
 * ("calibration", "layer", "write", ...); done/total are in phase units
 * (total 0 = unknown). Return false to cancel: the job then stops at the next
 * safe point and returns AWQ_ERR_CANCELLED, leaving no partial output. */
typedef bool (*awq_progress_fn)(void *user, const char *phase, uint64_t done,
                                uint64_t total);

typedef struct awq_ctx_params {
    awq_log_fn log;            /* NULL: no logging */
    void *log_user;
    awq_log_level log_level;   /* messages above this level are dropped */
    awq_progress_fn progress;  /* NULL: no progress reports */
    void *progress_user;
    int n_threads;             /* worker threads; 0 = number of online CPUs */
} awq_ctx_params;

awq_ctx_params awq_ctx_default_params(void);

/* The library context: log sink, thread pool, last error message.
 * One thread at a time (see top of file). */
typedef struct awq_ctx awq_ctx;

awq_status awq_ctx_create(const awq_ctx_params *params, awq_ctx **out);
void awq_ctx_free(awq_ctx *ctx);

/* Message of the most recent failure in this context ("" if none). Owned by
 * ctx; valid until the next call that fails or awq_ctx_free. */
const char *awq_ctx_errmsg(const awq_ctx *ctx);

/* Number of worker threads the context actually uses (>= 1). */
int awq_ctx_n_threads(const awq_ctx *ctx);

/* ------------------------------------------------------------------ dtypes */

/* Element types of safetensors files. Values pinned. */
typedef enum awq_dtype {
    AWQ_DT_F16 = 0,
    AWQ_DT_BF16 = 1,
    AWQ_DT_F32 = 2,
    AWQ_DT_F64 = 3,
    AWQ_DT_I8 = 4,
    AWQ_DT_U8 = 5,
    AWQ_DT_I16 = 6,
    AWQ_DT_U16 = 7,
    AWQ_DT_I32 = 8,
    AWQ_DT_U32 = 9,
    AWQ_DT_I64 = 10,
    AWQ_DT_U64 = 11,
    AWQ_DT_BOOL = 12,
    AWQ_DT_F8_E4M3 = 13,
    AWQ_DT_F8_E5M2 = 14,
    AWQ_DT_COUNT = 15
} awq_dtype;

/* Size of one element in bytes (0 for out-of-range values). */
size_t awq_dtype_size(awq_dtype t);
/* safetensors spelling: "F16", "BF16", "F8_E4M3", ... (static). */
const char *awq_dtype_name(awq_dtype t);
/* Parse a safetensors dtype string. Returns false when unknown. */
bool awq_dtype_from_name(const char *name, awq_dtype *out);
/* F16, BF16, F32, F64, F8_*. */
bool awq_dtype_is_float(awq_dtype t);

/* Scalar conversions; round to nearest even, inf/NaN preserved, FP16
 * overflow becomes inf (callers that must not store inf check first). */
float awq_f16_to_f32(uint16_t h);
uint16_t awq_f32_to_f16(float f);
float awq_bf16_to_f32(uint16_t h);
uint16_t awq_f32_to_bf16(float f);
#define AWQ_F16_MAX 65504.0f

/* Bulk conversions; src may be unaligned. */
void awq_f16_to_f32_n(const void *src, float *dst, size_t n);
void awq_bf16_to_f32_n(const void *src, float *dst, size_t n);
void awq_f32_to_f16_n(const float *src, void *dst, size_t n);
void awq_f32_to_bf16_n(const float *src, void *dst, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_CORE_H */
