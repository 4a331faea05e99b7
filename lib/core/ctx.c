/* lib/core/ctx.c — status strings, the context, error messages, logging. */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *awq_strerror(awq_status s) {
    switch (s) {
    case AWQ_OK: return "success";
    case AWQ_ERR_INVALID_ARG: return "invalid argument";
    case AWQ_ERR_NOMEM: return "out of memory";
    case AWQ_ERR_IO: return "I/O error";
    case AWQ_ERR_FORMAT: return "malformed input";
    case AWQ_ERR_UNSUPPORTED: return "unsupported";
    case AWQ_ERR_NOT_FOUND: return "not found";
    case AWQ_ERR_RANGE: return "value out of range";
    case AWQ_ERR_MISMATCH: return "mismatch";
    case AWQ_ERR_EXISTS: return "already exists";
    case AWQ_ERR_LOSSY: return "conversion would be lossy";
    case AWQ_ERR_CUDA: return "CUDA error";
    case AWQ_ERR_NO_DEVICE: return "no CUDA device";
    case AWQ_ERR_CANCELLED: return "cancelled";
    case AWQ_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

bool awq_built_with_cuda(void) {
#ifdef AWQ_HAVE_CUDA
    return true;
#else
    return false;
#endif
}

const char *awq_version(void) {
#ifdef AWQ_HAVE_CUDA
    return AWQ_VERSION_STRING " (openblas cuda)";
#else
    return AWQ_VERSION_STRING " (openblas)";
#endif
}

awq_ctx_params awq_ctx_default_params(void) {
    awq_ctx_params p;
    memset(&p, 0, sizeof p);
    p.log_level = AWQ_LOG_INFO;
    p.n_threads = 0;
    return p;
}

awq_status awq_ctx_create(const awq_ctx_params *params, awq_ctx **out) {
    if (!out) return AWQ_ERR_INVALID_ARG;
    *out = NULL;
    awq_ctx *c = calloc(1, sizeof *c);
    if (!c) return AWQ_ERR_NOMEM;
    c->p = params ? *params : awq_ctx_default_params();
    if (c->p.n_threads < 0) {
        free(c);
        return AWQ_ERR_INVALID_ARG;
    }
    int n = c->p.n_threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    if (n > 256) n = 256;
    c->n_threads = n;
    *out = c;
    return AWQ_OK;
}

void awq_ctx_free(awq_ctx *ctx) {
    if (!ctx) return;
    awq_pool_destroy(ctx->pool);
    free(ctx);
}

const char *awq_ctx_errmsg(const awq_ctx *ctx) { return ctx ? ctx->errmsg : ""; }

int awq_ctx_n_threads(const awq_ctx *ctx) { return ctx ? ctx->n_threads : 1; }

static void emit(awq_ctx *ctx, awq_log_level lvl, const char *msg) {
    if (ctx && ctx->p.log && lvl <= ctx->p.log_level)
        ctx->p.log(ctx->p.log_user, lvl, msg);
}

awq_status awq_fail(awq_ctx *ctx, awq_status status, const char *fmt, ...) {
    if (!ctx) return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    va_end(ap);
    ctx->last = status;
    emit(ctx, AWQ_LOG_DEBUG, ctx->errmsg);
    return status;
}

awq_status awq_fail_wrap(awq_ctx *ctx, awq_status status, const char *fmt, ...) {
    if (!ctx) return status;
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof ctx->errmsg];
    memcpy(old, ctx->errmsg, sizeof old);
    /* A prefix ending in a path that the message starts with already
     * ("--compare X" + "X/config.json: ...") gives "--compare X/config.json:
     * ...", not the path twice; a prefix that is that path alone adds
     * nothing. */
    size_t np = strlen(prefix);
    const char *sep = ": ";
    const char *tail = strrchr(prefix, ' ');
    tail = tail ? tail + 1 : prefix;
    size_t nt = strlen(tail);
    if (nt > 1 && strchr(tail, '/') && strncmp(old, tail, nt) == 0) {
        np = (size_t)(tail - prefix);
        while (np > 0 && prefix[np - 1] == ' ') np--;
        if (np == 0) {
            ctx->last = status;
            return status;
        }
        sep = " ";
    }
    /* Truncation of very long messages is acceptable (they stay readable). */
    if (np > sizeof ctx->errmsg - 3) np = sizeof ctx->errmsg - 3;
    memcpy(ctx->errmsg, prefix, np);
    size_t pos = np;
    if (old[0]) {
        size_t ns = strlen(sep);
        memcpy(ctx->errmsg + pos, sep, ns);
        pos += ns;
        size_t no = strlen(old);
        if (no > sizeof ctx->errmsg - 1 - pos) no = sizeof ctx->errmsg - 1 - pos;
        memcpy(ctx->errmsg + pos, old, no);
        pos += no;
    }
    ctx->errmsg[pos] = 0;
    ctx->last = status;
    return status;
}

awq_status awq_fail_nomem(awq_ctx *ctx, const char *what, uint64_t bytes) {
    return awq_fail(ctx, AWQ_ERR_NOMEM, "out of memory allocating %s (%.1f MiB)",
                    what, (double)bytes / (1024.0 * 1024.0));
}

void awq_clear_error(awq_ctx *ctx) {
    if (!ctx) return;
    ctx->errmsg[0] = 0;
    ctx->last = AWQ_OK;
}

void awq_log(awq_ctx *ctx, awq_log_level lvl, const char *fmt, ...) {
    if (!ctx || !ctx->p.log || lvl > ctx->p.log_level) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->p.log(ctx->p.log_user, lvl, buf);
}

awq_status awq_progress(awq_ctx *ctx, const char *phase, uint64_t done,
                        uint64_t total) {
    if (!ctx || !ctx->p.progress) return AWQ_OK;
    if (!ctx->p.progress(ctx->p.progress_user, phase, done, total))
        return awq_fail(ctx, AWQ_ERR_CANCELLED, "cancelled during %s", phase);
    return AWQ_OK;
}
