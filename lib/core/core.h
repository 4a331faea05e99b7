/*
 * lib/core/core.h — internal helpers shared by every module of libawqkit.
 * Not installed; tools/ and tests/ may include it (tests do, for oracles).
 */
#ifndef AWQ_LIB_CORE_H
#define AWQ_LIB_CORE_H

#include "awqkit/core.h"

#include <stdarg.h>
#include <stdio.h>

#if defined(__GNUC__)
#define AWQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define AWQ_NODISCARD __attribute__((warn_unused_result))
#else
#define AWQ_PRINTF(a, b)
#define AWQ_NODISCARD
#endif

#define AWQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define AWQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AWQ_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Propagate a failing status. */
#define AWQ_TRY(expr)                                                          \
    do {                                                                       \
        awq_status awq_try_s_ = (expr);                                        \
        if (awq_try_s_ != AWQ_OK) return awq_try_s_;                           \
    } while (0)

struct awq_pool;

struct awq_ctx {
    awq_ctx_params p;
    int n_threads;
    awq_status last;
    char errmsg[4096];
    struct awq_pool *pool;     /* created lazily on first parallel call */
};

/* ---------------------------------------------------------------- errors */

/* Record `status` with a printf-style message in ctx and log it at DEBUG.
 * Returns status so callers can `return awq_fail(...)`. ctx may be NULL. */
awq_status awq_fail(awq_ctx *ctx, awq_status status, const char *fmt, ...)
    AWQ_PRINTF(3, 4);
/* Prepend context to the current message: "<prefix>: <old message>". When
 * the prefix ends in a path (a word with '/') that the message starts with,
 * the path is not repeated: "--compare X" + "X/config.json: bad" gives
 * "--compare X/config.json: bad", and a prefix that is that path alone
 * leaves the message as it is. */
awq_status awq_fail_wrap(awq_ctx *ctx, awq_status status, const char *fmt, ...)
    AWQ_PRINTF(3, 4);
/* Out-of-memory helper naming what was being allocated. */
awq_status awq_fail_nomem(awq_ctx *ctx, const char *what, uint64_t bytes);
void awq_clear_error(awq_ctx *ctx);

/* ------------------------------------------------------- NaN / Inf (finite.c) */
/* Index of the first NaN or +-Inf in x[0..n), or -1. */
int64_t awq_f32_first_nonfinite(const float *x, int64_t n);
int64_t awq_f64_first_nonfinite(const double *x, int64_t n);
/* "NaN", "+Inf" or "-Inf" for a non-finite value. */
const char *awq_nonfinite_name(double v);
/* The row-major multi-index of element `flat` of a tensor of this shape,
 * as "[i, j]" (ndim 0: "[flat]"). */
void awq_format_index(int ndim, const int64_t *shape, int64_t flat, char *buf, size_t n);
/* Fail with AWQ_ERR_RANGE: "<what> holds NaN at element [i, j]". `what`
 * names the tensor, e.g. "tensor 'lm_head.weight'". */
awq_status awq_fail_nonfinite(awq_ctx *ctx, const char *what, int ndim, const int64_t *shape,
                              int64_t flat, double value);

/* --------------------------------------------------------------- logging */
void awq_log(awq_ctx *ctx, awq_log_level lvl, const char *fmt, ...)
    AWQ_PRINTF(3, 4);
#define awq_warn(ctx, ...) awq_log((ctx), AWQ_LOG_WARN, __VA_ARGS__)
#define awq_info(ctx, ...) awq_log((ctx), AWQ_LOG_INFO, __VA_ARGS__)
#define awq_debug(ctx, ...) awq_log((ctx), AWQ_LOG_DEBUG, __VA_ARGS__)

/* Report progress; returns AWQ_ERR_CANCELLED when the callback says stop. */
awq_status awq_progress(awq_ctx *ctx, const char *phase, uint64_t done,
                        uint64_t total);

/* ---------------------------------------------------------------- memory */
/* 64-byte aligned allocation (cache lines / AVX-512); free with awq_free.
 * Returns NULL on failure or overflow of n*size. */
void *awq_alloc(size_t n, size_t size);
void *awq_calloc(size_t n, size_t size);
void awq_free(void *p);
char *awq_strdup(const char *s);

/* Overflow-checked arithmetic: return false on overflow. */
static inline bool awq_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool awq_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* ------------------------------------------------------------- threading */

/* Run fn(arg, begin, end, worker) over [0, n) split into contiguous static
 * chunks, one per worker, on the context's pool; returns when all are done.
 * The split depends only on n and the thread count, and callers must make
 * results independent of it (each index written by one worker) so output is
 * bit-identical for any thread count. Safe to call with n == 0. Not
 * reentrant: fn must not call awq_parallel_for on the same ctx. */
typedef void (*awq_range_fn)(void *arg, int64_t begin, int64_t end,
                             int worker);
void awq_parallel_for(awq_ctx *ctx, int64_t n, awq_range_fn fn, void *arg);
void awq_pool_destroy(struct awq_pool *pool);

/* Monotonic wall clock in seconds. */
double awq_now(void);

/* ------------------------------------------------------------ files/paths */

/* Join two path parts with one '/'. Returns malloc'd string (free()). */
char *awq_path_join(const char *a, const char *b);
/* Directory part of a path (malloc'd; "." when none). */
char *awq_path_dirname(const char *p);
/* Last component (pointer into p). */
const char *awq_path_basename(const char *p);
bool awq_path_is_dir(const char *p);
bool awq_path_exists(const char *p);
/* A "plain" file name: non-empty, no '/', not "." or "..", no NUL. */
bool awq_is_plain_filename(const char *name);
/* Create directory and parents (0755). */
awq_status awq_mkdir_p(awq_ctx *ctx, const char *path);

/* Read a whole file (at most max_bytes, else AWQ_ERR_FORMAT naming it),
 * opening it once: a pipe or FIFO is read to its end. *out is malloc'd and
 * NUL-terminated (free()). */
awq_status awq_read_file(awq_ctx *ctx, const char *path, uint64_t max_bytes,
                         char **out, size_t *out_len);

/* Write `data` to `path` atomically: path.tmp.<pid> in the same directory,
 * fsync, rename, fsync the directory. */
awq_status awq_write_file_atomic(awq_ctx *ctx, const char *path,
                                 const void *data, size_t len);
/* fsync a directory (after renames inside it). */
awq_status awq_fsync_dir(awq_ctx *ctx, const char *dir);

/* Growable string buffer for building JSON/text. */
typedef struct awq_strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} awq_strbuf;
void awq_sb_init(awq_strbuf *b);
void awq_sb_free(awq_strbuf *b);
void awq_sb_append(awq_strbuf *b, const char *s, size_t n);
void awq_sb_puts(awq_strbuf *b, const char *s);
void awq_sb_printf(awq_strbuf *b, const char *fmt, ...) AWQ_PRINTF(2, 3);
/* Append s as a JSON string literal with quotes and escapes. */
void awq_sb_json_str(awq_strbuf *b, const char *s);

/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
bool awq_utf8_valid(const char *s, size_t n);

#endif /* AWQ_LIB_CORE_H */
