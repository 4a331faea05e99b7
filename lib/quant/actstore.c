/* lib/quant/actstore.c — chunked activation storage (see actstore.h). */
#include "quant/actstore.h"

#include "core/core.h"
#include "model/forward.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

typedef struct {
    uint64_t offset;   /* extent start in the file */
    uint64_t size;     /* compressed bytes stored (0 = never written) */
} extent;

struct awq_act_store {
    awq_model *m;
    awq_act_store_params p;
    int64_t n_chunks;
    float *buf[AWQ_ACT_MAX_SLOTS];     /* in memory: whole slot; else staging */
    extent *ext[AWQ_ACT_MAX_SLOTS];    /* offloaded: per chunk */
    int fd;
    uint64_t file_end;
    void *host;                        /* host bounce buffer (offload) */
    void *zbuf;                        /* compressed staging */
    size_t zcap;
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    uint64_t disk_bytes;
};

int64_t awq_act_store_n_chunks(const awq_act_store *s) { return s->n_chunks; }

int64_t awq_act_store_chunk_row0(const awq_act_store *s, int64_t c) {
    return c * s->p.chunk_rows;
}

int64_t awq_act_store_chunk_rows(const awq_act_store *s, int64_t c) {
    int64_t r0 = c * s->p.chunk_rows;
    return AWQ_MIN(s->p.chunk_rows, s->p.n_rows - r0);
}

int64_t awq_act_store_cols(const awq_act_store *s, int slot) { return s->p.cols[slot]; }

bool awq_act_store_offloaded(const awq_act_store *s) { return s->p.offload; }

static size_t chunk_bytes(const awq_act_store *s, int slot) {
    return (size_t)s->p.chunk_rows * (size_t)s->p.cols[slot] * sizeof(float);
}

void awq_act_store_free(awq_act_store *s) {
    if (!s) return;
    for (int i = 0; i < s->p.n_slots; i++) {
        awq_model_free_buf(s->m, s->buf[i]);
        free(s->ext[i]);
    }
    if (s->fd >= 0) close(s->fd);
    awq_free(s->host);
    free(s->zbuf);
    ZSTD_freeCCtx(s->cctx);
    ZSTD_freeDCtx(s->dctx);
    free(s);
}

awq_status awq_act_store_create(awq_model *m, const awq_act_store_params *p,
                                awq_act_store **out) {
    awq_ctx *ctx = awq_model_ctx(m);
    *out = NULL;
    if (p->n_slots < 1 || p->n_slots > AWQ_ACT_MAX_SLOTS || p->n_rows < 1 || p->chunk_rows < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "activation store: bad shape");
    awq_act_store *s = calloc(1, sizeof *s);
    if (!s) return awq_fail_nomem(ctx, "activation store", sizeof *s);
    s->m = m;
    s->p = *p;
    s->fd = -1;
    if (s->p.chunk_rows > s->p.n_rows) s->p.chunk_rows = s->p.n_rows;
    s->n_chunks = (s->p.n_rows + s->p.chunk_rows - 1) / s->p.chunk_rows;
    awq_status st = AWQ_OK;
    size_t max_chunk = 0;
    for (int i = 0; i < p->n_slots && st == AWQ_OK; i++) {
        size_t bytes = p->offload ? chunk_bytes(s, i)
                                  : (size_t)p->n_rows * (size_t)p->cols[i] * sizeof(float);
        if (chunk_bytes(s, i) > max_chunk) max_chunk = chunk_bytes(s, i);
        st = awq_model_alloc(m, bytes, (void **)&s->buf[i]);
    }
    if (st == AWQ_OK && p->offload) {
        char path[4096];
        snprintf(path, sizeof path, "%s/awqkit-activations-XXXXXX", p->dir ? p->dir : "/tmp");
        s->fd = mkstemp(path);
        if (s->fd < 0) {
            st = awq_fail(ctx, AWQ_ERR_IO, "cannot create the activation spill file in %s: %s",
                          p->dir ? p->dir : "/tmp", strerror(errno));
        } else {
            unlink(path); /* anonymous: gone with the process, even after kill -9 */
        }
        s->zcap = ZSTD_compressBound(max_chunk);
        s->zbuf = malloc(s->zcap);
        s->host = awq_alloc(max_chunk ? max_chunk : 1, 1);
        s->cctx = ZSTD_createCCtx();
        s->dctx = ZSTD_createDCtx();
        if (st == AWQ_OK && (!s->zbuf || !s->host || !s->cctx || !s->dctx))
            st = awq_fail_nomem(ctx, "activation spill buffers", s->zcap + max_chunk);
        for (int i = 0; i < p->n_slots && st == AWQ_OK; i++) {
            s->ext[i] = calloc((size_t)s->n_chunks, sizeof(extent));
            if (!s->ext[i]) st = awq_fail_nomem(ctx, "spill index", (uint64_t)s->n_chunks * 16);
            for (int64_t c = 0; c < s->n_chunks && st == AWQ_OK; c++) {
                s->ext[i][c].offset = s->file_end;
                s->file_end += ZSTD_compressBound(chunk_bytes(s, i));
            }
        }
        if (st == AWQ_OK && ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel,
                                                                 p->zstd_level ? p->zstd_level : 1)))
            st = awq_fail(ctx, AWQ_ERR_INTERNAL, "zstd: cannot set the compression level");
    }
    if (st != AWQ_OK) {
        awq_act_store_free(s);
        return st;
    }
    *out = s;
    return AWQ_OK;
}

static awq_status pread_all(awq_ctx *ctx, int fd, void *buf, size_t n, uint64_t off) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return awq_fail(ctx, AWQ_ERR_IO, "activation spill file: read failed: %s",
                            r < 0 ? strerror(errno) : "short read");
        done += (size_t)r;
    }
    return AWQ_OK;
}

static awq_status pwrite_all(awq_ctx *ctx, int fd, const void *buf, size_t n, uint64_t off) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return awq_fail(ctx, AWQ_ERR_IO,
                            "activation spill file: write failed (disk full?): %s",
                            r < 0 ? strerror(errno) : "short write");
        done += (size_t)r;
    }
    return AWQ_OK;
}

awq_status awq_act_store_get(awq_act_store *s, int slot, int64_t c, bool fill, float **out) {
    awq_ctx *ctx = awq_model_ctx(s->m);
    if (slot < 0 || slot >= s->p.n_slots || c < 0 || c >= s->n_chunks)
        return awq_fail(ctx, AWQ_ERR_INTERNAL, "activation store: slot %d chunk %lld", slot,
                        (long long)c);
    if (!s->p.offload) {
        *out = s->buf[slot] + awq_act_store_chunk_row0(s, c) * s->p.cols[slot];
        return AWQ_OK;
    }
    *out = s->buf[slot];
    size_t n = (size_t)awq_act_store_chunk_rows(s, c) * (size_t)s->p.cols[slot] * sizeof(float);
    if (!fill) return AWQ_OK;
    extent *e = &s->ext[slot][c];
    if (e->size == 0) {
        memset(s->host, 0, n);
    } else {
        AWQ_TRY(pread_all(ctx, s->fd, s->zbuf, (size_t)e->size, e->offset));
        size_t r = ZSTD_decompressDCtx(s->dctx, s->host, n, s->zbuf, (size_t)e->size);
        if (ZSTD_isError(r) || r != n)
            return awq_fail(ctx, AWQ_ERR_IO, "activation spill file: corrupt chunk (%s)",
                            ZSTD_isError(r) ? ZSTD_getErrorName(r) : "wrong size");
    }
    return awq_model_upload(s->m, *out, s->host, n);
}

awq_status awq_act_store_put(awq_act_store *s, int slot, int64_t c, const float *src) {
    awq_ctx *ctx = awq_model_ctx(s->m);
    if (slot < 0 || slot >= s->p.n_slots || c < 0 || c >= s->n_chunks)
        return awq_fail(ctx, AWQ_ERR_INTERNAL, "activation store: slot %d chunk %lld", slot,
                        (long long)c);
    size_t n = (size_t)awq_act_store_chunk_rows(s, c) * (size_t)s->p.cols[slot] * sizeof(float);
    if (!s->p.offload) {
        float *dst = s->buf[slot] + awq_act_store_chunk_row0(s, c) * s->p.cols[slot];
        if (dst == src) return AWQ_OK;
        awq_backend *be = awq_model_backend(s->m);
        return be->ops->copy(be, dst, src, n);
    }
    AWQ_TRY(awq_model_download(s->m, s->host, src, n));
    size_t z = ZSTD_compress2(s->cctx, s->zbuf, s->zcap, s->host, n);
    if (ZSTD_isError(z))
        return awq_fail(ctx, AWQ_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(z));
    extent *e = &s->ext[slot][c];
    AWQ_TRY(pwrite_all(ctx, s->fd, s->zbuf, z, e->offset));
    s->disk_bytes += z;
    s->disk_bytes -= e->size;
    e->size = z;
    return AWQ_OK;
}

awq_status awq_act_store_swap(awq_act_store *s, int a, int b) {
    if (s->p.cols[a] != s->p.cols[b])
        return awq_fail(awq_model_ctx(s->m), AWQ_ERR_INTERNAL,
                        "activation store: swapping slots of different widths");
    float *t = s->buf[a];
    s->buf[a] = s->buf[b];
    s->buf[b] = t;
    extent *e = s->ext[a];
    s->ext[a] = s->ext[b];
    s->ext[b] = e;
    return AWQ_OK;
}

uint64_t awq_act_store_mem_bytes(const awq_act_store *s) {
    uint64_t t = 0;
    for (int i = 0; i < s->p.n_slots; i++)
        t += s->p.offload ? chunk_bytes(s, i)
                          : (uint64_t)s->p.n_rows * (uint64_t)s->p.cols[i] * sizeof(float);
    return t;
}

uint64_t awq_act_store_disk_bytes(const awq_act_store *s) { return s->disk_bytes; }
