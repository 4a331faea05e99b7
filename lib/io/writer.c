/* lib/io/writer.c — sharded, atomic safetensors checkpoint writer.
 *
 * Life of a writer:
 *  create   checks/creates the output directory (refuses an existing
 *           checkpoint unless force).
 *  declare  records name, dtype, shape; names are unique (hash set, so
 *           models with 100k tensors declare in linear time).
 *  layout   (first write or finish) splits the declared tensors into shards
 *           in declaration order, transformers style: a new shard starts when
 *           the next tensor would push the current one past the cap; a tensor
 *           larger than the cap gets a shard of its own. Each shard's header
 *           is written to a hidden temporary file (".<final>.tmp.<pid>") and
 *           the file is preallocated to its final size, so a disk that is too
 *           small fails here, before hours of quantization, not at the end.
 *  write    pwrite()s one tensor at its final offset straight from the
 *           caller's buffer: any order, no copies, memory bounded by the
 *           caller's one tensor.
 *  finish   fsyncs the shards, writes the index, then commits: aux files,
 *           then the shards, fsync of the directory, then the file that makes
 *           the checkpoint look complete (the index, or the single
 *           model.safetensors), then (force) removes stale shards and indexes
 *           of the checkpoint that was there before, then fsyncs the
 *           directory again. Old index files are removed before any shard is
 *           renamed over an old one, so no reader ever sees an index pointing
 *           at a mix of old and new shards.
 *  failure  any I/O error removes every temporary; the writer then refuses
 *           further calls. awq_writer_free() before finish does the same and
 *           removes the output directory if the writer created it (and it is
 *           still empty).
 */
#define _GNU_SOURCE 1
#include "io/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WR_COPY_CHUNK (1u << 20)
#define WR_MAX_NAME_BYTES 65536

typedef struct wr_tensor {
    char *name;
    awq_dtype dtype;
    int ndim;
    int64_t shape[AWQ_MAX_DIMS];
    uint64_t n_bytes;
    size_t shard;
    uint64_t begin;            /* relative to the shard's data area */
    bool written;
} wr_tensor;

typedef struct wr_file {
    char *name;                /* final plain name */
    char *final_path;
    char *tmp_path;
    bool tmp_exists;
    uint64_t data_start;       /* shards: 8 + header length */
    uint64_t data_bytes;       /* shards: sum of tensor bytes */
} wr_file;

typedef enum { W_DECLARE, W_WRITE, W_DONE, W_FAILED } wr_state;

struct awq_writer {
    awq_ctx *ctx;
    char *dir;
    bool created_dir;
    bool force;
    bool sparse;               /* params.sparse: unwritten tensors are holes */
    uint64_t cap;
    char *base;
    wr_state state;

    wr_tensor *t;
    size_t n, t_cap;
    size_t *ht;                /* open addressing: tensor index + 1, 0 = empty */
    size_t ht_cap;
    size_t n_written;
    uint64_t total;

    wr_file *shards;
    size_t n_shards;
    int fd;                    /* cached descriptor of shard fd_shard */
    size_t fd_shard;

    wr_file *aux;
    size_t n_aux, aux_cap;

    wr_file index;             /* name NULL when single-shard */
};

awq_writer_params awq_writer_default_params(void) {
    awq_writer_params p;
    memset(&p, 0, sizeof p);
    p.max_shard_bytes = 5000000000ull;
    p.force = false;
    p.base_name = "model";
    return p;
}

/* ------------------------------------------------------------ helpers */

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static wr_tensor *lookup(const awq_writer *w, const char *name) {
    if (!w->ht_cap) return NULL;
    size_t m = w->ht_cap - 1;
    for (size_t i = (size_t)hash_name(name) & m;; i = (i + 1) & m) {
        size_t v = w->ht[i];
        if (!v) return NULL;
        if (strcmp(w->t[v - 1].name, name) == 0) return &w->t[v - 1];
    }
}

static bool ht_insert(awq_writer *w, size_t idx) {
    if ((w->n + 1) * 2 > w->ht_cap) {
        size_t nc = w->ht_cap ? w->ht_cap * 2 : 256;
        size_t *nh = calloc(nc, sizeof *nh);
        if (!nh) return false;
        for (size_t k = 0; k < w->ht_cap; k++) {
            size_t v = w->ht[k];
            if (!v) continue;
            size_t i = (size_t)hash_name(w->t[v - 1].name) & (nc - 1);
            while (nh[i]) i = (i + 1) & (nc - 1);
            nh[i] = v;
        }
        free(w->ht);
        w->ht = nh;
        w->ht_cap = nc;
    }
    size_t i = (size_t)hash_name(w->t[idx].name) & (w->ht_cap - 1);
    while (w->ht[i]) i = (i + 1) & (w->ht_cap - 1);
    w->ht[i] = idx + 1;
    return true;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

/* A file name that belongs to a safetensors checkpoint. */
static bool is_weights_name(const char *name) {
    return name[0] != '.' &&
           (ends_with(name, ".safetensors") || ends_with(name, ".safetensors.index.json"));
}

static int pwrite_all(int fd, const void *buf, uint64_t n, uint64_t off) {
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t r = pwrite(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno;
        if (r == 0) return EIO;
        p += r;
        n -= (uint64_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static bool file_init(awq_writer *w, wr_file *f, const char *name) {
    memset(f, 0, sizeof *f);
    size_t n = strlen(name) + 40;
    f->name = awq_strdup(name);
    f->final_path = awq_path_join(w->dir, name);
    char *tmpname = malloc(n);
    if (tmpname) snprintf(tmpname, n, ".%s.tmp.%ld", name, (long)getpid());
    f->tmp_path = tmpname ? awq_path_join(w->dir, tmpname) : NULL;
    free(tmpname);
    return f->name && f->final_path && f->tmp_path;
}

static void file_free(wr_file *f) {
    free(f->name);
    free(f->final_path);
    free(f->tmp_path);
    memset(f, 0, sizeof *f);
}

static void close_cached(awq_writer *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}

/* Remove every temporary this writer created. */
static void remove_temps(awq_writer *w) {
    close_cached(w);
    for (size_t i = 0; i < w->n_shards; i++)
        if (w->shards[i].tmp_exists && unlink(w->shards[i].tmp_path) == 0)
            w->shards[i].tmp_exists = false;
    for (size_t i = 0; i < w->n_aux; i++)
        if (w->aux[i].tmp_exists && unlink(w->aux[i].tmp_path) == 0) w->aux[i].tmp_exists = false;
    if (w->index.tmp_exists && unlink(w->index.tmp_path) == 0) w->index.tmp_exists = false;
}

/* Enter the failed state: temporaries go, the message stays. */
static awq_status poison(awq_writer *w, awq_status s) {
    remove_temps(w);
    w->state = W_FAILED;
    return s;
}

static awq_status check_usable(awq_writer *w, const char *what) {
    if (w->state == W_FAILED)
        return awq_fail(w->ctx, AWQ_ERR_INVALID_ARG,
                        "%s: the writer for %s failed earlier and was rolled back", what, w->dir);
    if (w->state == W_DONE)
        return awq_fail(w->ctx, AWQ_ERR_INVALID_ARG, "%s: the checkpoint in %s is already finished",
                        what, w->dir);
    return AWQ_OK;
}

/* Write a complete small file to a temporary (data, fsync, close). */
static awq_status write_tmp_file(awq_writer *w, wr_file *f, const void *data, size_t len) {
    int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return awq_fail(w->ctx, AWQ_ERR_IO, "cannot create %s: %s", f->tmp_path, strerror(errno));
    f->tmp_exists = true;
    int e = pwrite_all(fd, data, len, 0);
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (e)
        return awq_fail(w->ctx, AWQ_ERR_IO, "cannot write %s (temporary %s): %s", f->final_path,
                        f->tmp_path, strerror(e));
    return AWQ_OK;
}

/* ------------------------------------------------------------- create */

static awq_status scan_existing(awq_writer *w, bool *has_ckpt, char *example, size_t cap) {
    *has_ckpt = false;
    DIR *d = opendir(w->dir);
    if (!d) return awq_fail(w->ctx, AWQ_ERR_IO, "cannot list %s: %s", w->dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, "config.json") == 0 || is_weights_name(de->d_name)) {
            *has_ckpt = true;
            snprintf(example, cap, "%s", de->d_name);
            break;
        }
    }
    closedir(d);
    return AWQ_OK;
}

awq_status awq_writer_create(awq_ctx *ctx, const char *out_dir, const awq_writer_params *params,
                             awq_writer **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_writer_create: out is NULL");
    *out = NULL;
    if (!out_dir || !out_dir[0])
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_writer_create: empty output directory");
    awq_writer_params p = params ? *params : awq_writer_default_params();
    if (p.max_shard_bytes == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "max_shard_bytes must be > 0");
    const char *base = p.base_name ? p.base_name : "model";
    if (!awq_is_plain_filename(base) || base[0] == '.' || strlen(base) > 200)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "base_name '%s' must be a plain file name not starting with '.'", base);

    awq_writer *w = calloc(1, sizeof *w);
    if (!w) return awq_fail_nomem(ctx, "writer", sizeof *w);
    w->ctx = ctx;
    w->fd = -1;
    w->force = p.force;
    w->sparse = p.sparse;
    w->cap = p.max_shard_bytes;
    w->dir = awq_strdup(out_dir);
    w->base = awq_strdup(base);
    if (!w->dir || !w->base) {
        awq_writer_free(w);
        return awq_fail_nomem(ctx, "writer", 0);
    }
    size_t dl = strlen(w->dir);
    while (dl > 1 && w->dir[dl - 1] == '/') w->dir[--dl] = 0;

    awq_status s = AWQ_OK;
    struct stat st;
    if (stat(w->dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            s = awq_fail(ctx, AWQ_ERR_EXISTS, "%s exists and is not a directory", w->dir);
        } else {
            bool has = false;
            char ex[256];
            s = scan_existing(w, &has, ex, sizeof ex);
            if (s == AWQ_OK && has && !w->force)
                s = awq_fail(ctx, AWQ_ERR_EXISTS,
                             "%s already holds a checkpoint (%s); use --force to overwrite it",
                             w->dir, ex);
        }
    } else if (errno == ENOENT) {
        s = awq_mkdir_p(ctx, w->dir);
        if (s == AWQ_OK) w->created_dir = true;
    } else {
        s = awq_fail(ctx, AWQ_ERR_IO, "cannot access %s: %s", w->dir, strerror(errno));
    }
    if (s != AWQ_OK) {
        awq_writer_free(w);
        return s;
    }
    *out = w;
    return AWQ_OK;
}

void awq_writer_free(awq_writer *w) {
    if (!w) return;
    if (w->state != W_DONE) {
        remove_temps(w);
        if (w->created_dir) rmdir(w->dir); /* only succeeds when empty */
    }
    close_cached(w);
    for (size_t i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    free(w->ht);
    for (size_t i = 0; i < w->n_shards; i++) file_free(&w->shards[i]);
    free(w->shards);
    for (size_t i = 0; i < w->n_aux; i++) file_free(&w->aux[i]);
    free(w->aux);
    file_free(&w->index);
    free(w->dir);
    free(w->base);
    free(w);
}

/* ------------------------------------------------------------ declare */

awq_status awq_writer_declare(awq_writer *w, const char *name, awq_dtype dtype, int ndim,
                              const int64_t *shape) {
    if (!w) return AWQ_ERR_INVALID_ARG;
    AWQ_TRY(check_usable(w, "declare"));
    awq_ctx *ctx = w->ctx;
    char q[256];
    if (!name || !name[0])
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "declare: empty tensor name");
    awq_st_quote(name, q, sizeof q);
    if (w->state != W_DECLARE)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "declare: tensor '%s' declared after the first write (declare every "
                        "tensor first)",
                        q);
    size_t nl = strlen(name);
    if (nl > WR_MAX_NAME_BYTES || !awq_utf8_valid(name, nl))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "declare: tensor name '%s' is not valid UTF-8 or longer than %d bytes", q,
                        WR_MAX_NAME_BYTES);
    if (strcmp(name, "__metadata__") == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "declare: '__metadata__' is reserved");
    if ((int)dtype < 0 || dtype >= AWQ_DT_COUNT)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "declare: tensor '%s': invalid dtype %d", q,
                        (int)dtype);
    if (ndim < 0 || ndim > AWQ_MAX_DIMS || (ndim > 0 && !shape))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "declare: tensor '%s': rank %d outside 0..%d (AWQ_MAX_DIMS)", q, ndim,
                        AWQ_MAX_DIMS);
    uint64_t ne = 1, nb;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "declare: tensor '%s': negative dimension %lld", q,
                            (long long)shape[d]);
        if (!awq_mul_u64(ne, (uint64_t)shape[d], &ne))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "declare: tensor '%s': size overflows", q);
    }
    if (!awq_mul_u64(ne, awq_dtype_size(dtype), &nb) || !awq_add_u64(w->total, nb, &w->total))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "declare: tensor '%s': size overflows", q);
    if (lookup(w, name)) {
        w->total -= nb;
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "declare: tensor '%s' declared twice", q);
    }
    if (w->n == w->t_cap) {
        size_t nc = w->t_cap ? w->t_cap * 2 : 64;
        wr_tensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt) {
            w->total -= nb;
            return awq_fail_nomem(ctx, "tensor table", nc * sizeof *nt);
        }
        w->t = nt;
        w->t_cap = nc;
    }
    wr_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = awq_strdup(name);
    if (!t->name) {
        w->total -= nb;
        return awq_fail_nomem(ctx, "tensor name", nl);
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->n_bytes = nb;
    if (!ht_insert(w, w->n)) {
        free(t->name);
        w->total -= nb;
        return awq_fail_nomem(ctx, "tensor table", w->ht_cap);
    }
    w->n++;
    return AWQ_OK;
}

/* ------------------------------------------------------------- layout */

static awq_status build_header(awq_writer *w, size_t shard, awq_strbuf *b) {
    awq_sb_init(b);
    awq_sb_append(b, "\0\0\0\0\0\0\0\0", 8); /* length, patched below */
    awq_sb_puts(b, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < w->n; i++) {
        const wr_tensor *t = &w->t[i];
        if (t->shard != shard) continue;
        awq_sb_puts(b, ",");
        awq_sb_json_str(b, t->name);
        awq_sb_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", awq_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            awq_sb_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        awq_sb_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)t->begin,
                      (unsigned long long)(t->begin + t->n_bytes));
    }
    awq_sb_puts(b, "}");
    /* space padding so the data area starts 8-byte aligned */
    while (b->len % 8) awq_sb_puts(b, " ");
    if (b->oom) return awq_fail_nomem(w->ctx, "shard header", b->len);
    uint64_t n = b->len - 8;
    if (n > AWQ_MAX_HEADER_BYTES)
        return awq_fail(w->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: header of %llu bytes exceeds the safetensors limit of %u; lower the "
                        "shard size",
                        w->shards[shard].final_path, (unsigned long long)n,
                        (unsigned)AWQ_MAX_HEADER_BYTES);
    for (int i = 0; i < 8; i++) b->s[i] = (char)((n >> (8 * i)) & 0xff);
    return AWQ_OK;
}

/* Reserve the final size of a shard: real blocks where the filesystem can
 * (an early, clear "no space"), a sparse file where it cannot. */
static int preallocate(int fd, uint64_t size) {
    if (size == 0) return 0;
    if (fallocate(fd, 0, 0, (off_t)size) == 0) return 0;
    int e = errno;
    if (e != EOPNOTSUPP && e != ENOSYS && e != EINVAL) return e;
    return ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
}

static awq_status layout(awq_writer *w) {
    awq_ctx *ctx = w->ctx;
    /* assign shards in declaration order */
    size_t ns = 0;
    uint64_t cur = 0;
    bool open_shard = false;
    for (size_t i = 0; i < w->n; i++) {
        wr_tensor *t = &w->t[i];
        if (t->n_bytes > w->cap) {
            /* a shard of its own; the next tensor starts a fresh one */
            t->shard = ns++;
            t->begin = 0;
            open_shard = false;
            continue;
        }
        if (!open_shard || cur + t->n_bytes > w->cap) {
            ns++;
            cur = 0;
            open_shard = true;
        }
        t->shard = ns - 1;
        t->begin = cur;
        cur += t->n_bytes;
    }
    if (ns == 0) ns = 1; /* no tensors: one empty model.safetensors */

    w->shards = calloc(ns, sizeof *w->shards);
    if (!w->shards) return awq_fail_nomem(ctx, "shard table", ns * sizeof *w->shards);
    w->n_shards = ns;
    size_t nl = strlen(w->base) + 64;
    char *name = malloc(nl);
    if (!name) return awq_fail_nomem(ctx, "shard name", nl);
    bool ok = true;
    for (size_t i = 0; i < ns && ok; i++) {
        if (ns == 1)
            snprintf(name, nl, "%s.safetensors", w->base);
        else
            snprintf(name, nl, "%s-%05zu-of-%05zu.safetensors", w->base, i + 1, ns);
        ok = file_init(w, &w->shards[i], name);
    }
    if (ok && ns > 1) {
        snprintf(name, nl, "%s.safetensors.index.json", w->base);
        ok = file_init(w, &w->index, name);
    }
    free(name);
    if (!ok) return awq_fail_nomem(ctx, "shard names", 0);
    for (size_t i = 0; i < w->n; i++) w->shards[w->t[i].shard].data_bytes += w->t[i].n_bytes;

    for (size_t i = 0; i < ns; i++) {
        wr_file *f = &w->shards[i];
        awq_strbuf hb;
        awq_status s = build_header(w, i, &hb);
        if (s != AWQ_OK) {
            awq_sb_free(&hb);
            return s;
        }
        f->data_start = hb.len;
        int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            awq_sb_free(&hb);
            return awq_fail(ctx, AWQ_ERR_IO, "cannot create %s: %s", f->tmp_path,
                            strerror(errno));
        }
        f->tmp_exists = true;
        int e = w->sparse ? (ftruncate(fd, (off_t)(f->data_start + f->data_bytes)) == 0 ? 0 : errno)
                          : preallocate(fd, f->data_start + f->data_bytes);
        if (!e) e = pwrite_all(fd, hb.s, hb.len, 0);
        awq_sb_free(&hb);
        if (close(fd) != 0 && !e) e = errno;
        if (e)
            return awq_fail(ctx, AWQ_ERR_IO, "cannot write %s (temporary %s, %llu bytes): %s",
                            f->final_path, f->tmp_path,
                            (unsigned long long)(f->data_start + f->data_bytes), strerror(e));
    }
    w->state = W_WRITE;
    return AWQ_OK;
}

static awq_status ensure_layout(awq_writer *w) {
    if (w->state != W_DECLARE) return AWQ_OK;
    awq_status s = layout(w);
    return s == AWQ_OK ? s : poison(w, s);
}

/* -------------------------------------------------------------- write */

awq_status awq_writer_write(awq_writer *w, const char *name, const void *data, uint64_t n_bytes) {
    if (!w) return AWQ_ERR_INVALID_ARG;
    AWQ_TRY(check_usable(w, "write"));
    awq_ctx *ctx = w->ctx;
    char q[256];
    wr_tensor *t = name ? lookup(w, name) : NULL;
    if (!t)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "write: tensor '%s' was not declared",
                        awq_st_quote(name, q, sizeof q));
    awq_st_quote(name, q, sizeof q);
    if (t->written)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "write: tensor '%s' written twice", q);
    if (n_bytes != t->n_bytes)
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "write: tensor '%s': got %llu bytes, its declared %s shape needs %llu", q,
                        (unsigned long long)n_bytes, awq_dtype_name(t->dtype),
                        (unsigned long long)t->n_bytes);
    if (!data && n_bytes)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "write: tensor '%s': data is NULL", q);
    AWQ_TRY(ensure_layout(w));
    wr_file *f = &w->shards[t->shard];
    if (n_bytes) {
        if (w->fd < 0 || w->fd_shard != t->shard) {
            close_cached(w);
            w->fd = open(f->tmp_path, O_WRONLY | O_CLOEXEC);
            if (w->fd < 0)
                return poison(w, awq_fail(ctx, AWQ_ERR_IO, "cannot open %s: %s", f->tmp_path,
                                          strerror(errno)));
            w->fd_shard = t->shard;
        }
        int e = pwrite_all(w->fd, data, n_bytes, f->data_start + t->begin);
        if (e)
            return poison(w, awq_fail(ctx, AWQ_ERR_IO,
                                      "cannot write tensor '%s' to %s (temporary %s): %s", q,
                                      f->final_path, f->tmp_path, strerror(e)));
    }
    t->written = true;
    w->n_written++;
    return AWQ_OK;
}

/* ---------------------------------------------------------- aux files */

static awq_status aux_new(awq_writer *w, const char *name, wr_file **out) {
    AWQ_TRY(check_usable(w, "add file"));
    awq_ctx *ctx = w->ctx;
    char q[256];
    if (!awq_is_plain_filename(name) || name[0] == '.')
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "aux file name '%s' must be a plain file name not starting with '.'",
                        awq_st_quote(name ? name : "", q, sizeof q));
    if (is_weights_name(name))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "aux file '%s' would collide with the checkpoint's weights (declare "
                        "tensors instead)",
                        awq_st_quote(name, q, sizeof q));
    for (size_t i = 0; i < w->n_aux; i++)
        if (strcmp(w->aux[i].name, name) == 0)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "aux file '%s' added twice",
                            awq_st_quote(name, q, sizeof q));
    if (w->n_aux == w->aux_cap) {
        size_t nc = w->aux_cap ? w->aux_cap * 2 : 8;
        wr_file *na = realloc(w->aux, nc * sizeof *na);
        if (!na) return awq_fail_nomem(ctx, "aux files", nc * sizeof *na);
        w->aux = na;
        w->aux_cap = nc;
    }
    wr_file *f = &w->aux[w->n_aux];
    if (!file_init(w, f, name)) {
        file_free(f);
        return awq_fail_nomem(ctx, "aux file", 0);
    }
    w->n_aux++;
    *out = f;
    return AWQ_OK;
}

awq_status awq_writer_add_file(awq_writer *w, const char *name, const void *data, size_t n_bytes) {
    if (!w) return AWQ_ERR_INVALID_ARG;
    if (!data && n_bytes) return awq_fail(w->ctx, AWQ_ERR_INVALID_ARG, "add file: data is NULL");
    wr_file *f;
    AWQ_TRY(aux_new(w, name, &f));
    awq_status s = write_tmp_file(w, f, data, n_bytes);
    return s == AWQ_OK ? s : poison(w, s);
}

awq_status awq_writer_copy_file(awq_writer *w, const char *name, const char *src_path) {
    if (!w) return AWQ_ERR_INVALID_ARG;
    awq_ctx *ctx = w->ctx;
    if (!src_path) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "copy file: source path is NULL");
    int in = open(src_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return awq_fail(ctx, errno == ENOENT ? AWQ_ERR_NOT_FOUND : AWQ_ERR_IO,
                        "cannot open %s: %s", src_path, strerror(errno));
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return awq_fail(ctx, AWQ_ERR_IO, "%s is not a regular file", src_path);
    }
    wr_file *f;
    awq_status s = aux_new(w, name, &f);
    if (s != AWQ_OK) {
        close(in);
        return s;
    }
    char *buf = malloc(WR_COPY_CHUNK);
    int out = buf ? open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (!buf || out < 0) {
        s = buf ? awq_fail(ctx, AWQ_ERR_IO, "cannot create %s: %s", f->tmp_path, strerror(errno))
                : awq_fail_nomem(ctx, "copy buffer", WR_COPY_CHUNK);
        free(buf);
        close(in);
        return poison(w, s);
    }
    f->tmp_exists = true;
    uint64_t off = 0;
    int e = 0;
    bool read_err = false;
    for (;;) {
        ssize_t r = read(in, buf, WR_COPY_CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            e = errno;
            read_err = true;
            break;
        }
        if (r == 0) break;
        if ((e = pwrite_all(out, buf, (uint64_t)r, off)) != 0) break;
        off += (uint64_t)r;
    }
    if (!e && fsync(out) != 0) e = errno;
    if (close(out) != 0 && !e) e = errno;
    close(in);
    free(buf);
    if (e)
        return poison(w, read_err ? awq_fail(ctx, AWQ_ERR_IO, "read error on %s: %s", src_path,
                                             strerror(e))
                                  : awq_fail(ctx, AWQ_ERR_IO, "cannot write %s (temporary %s): %s",
                                             f->final_path, f->tmp_path, strerror(e)));
    return AWQ_OK;
}

/* ------------------------------------------------------------- finish */

static int cmp_tensor_ptr_name(const void *a, const void *b) {
    return strcmp((*(const wr_tensor *const *)a)->name, (*(const wr_tensor *const *)b)->name);
}

static awq_status write_index(awq_writer *w) {
    const wr_tensor **v = malloc((w->n ? w->n : 1) * sizeof *v);
    if (!v) return awq_fail_nomem(w->ctx, "index", w->n * sizeof *v);
    for (size_t i = 0; i < w->n; i++) v[i] = &w->t[i];
    qsort(v, w->n, sizeof *v, cmp_tensor_ptr_name);
    awq_strbuf b;
    awq_sb_init(&b);
    awq_sb_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {",
                  (unsigned long long)w->total);
    for (size_t i = 0; i < w->n; i++) {
        awq_sb_puts(&b, i ? ",\n    " : "\n    ");
        awq_sb_json_str(&b, v[i]->name);
        awq_sb_puts(&b, ": ");
        awq_sb_json_str(&b, w->shards[v[i]->shard].name);
    }
    awq_sb_puts(&b, "\n  }\n}\n");
    free(v);
    if (b.oom) {
        awq_sb_free(&b);
        return awq_fail_nomem(w->ctx, "index", b.len);
    }
    awq_status s = write_tmp_file(w, &w->index, b.s, b.len);
    awq_sb_free(&b);
    return s;
}

static awq_status commit_rename(awq_writer *w, wr_file *f) {
    if (rename(f->tmp_path, f->final_path) != 0)
        return awq_fail(w->ctx, AWQ_ERR_IO, "cannot rename %s to %s: %s", f->tmp_path,
                        f->final_path, strerror(errno));
    f->tmp_exists = false;
    return AWQ_OK;
}

static bool is_new_file(const awq_writer *w, const char *name) {
    for (size_t i = 0; i < w->n_shards; i++)
        if (strcmp(w->shards[i].name, name) == 0) return true;
    return w->index.name && strcmp(w->index.name, name) == 0;
}

/* Names of the weights files of a previous checkpoint in the directory
 * (force mode), split into index files and the rest. */
static awq_status list_stale(awq_writer *w, char ***out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(w->dir);
    if (!d) return awq_fail(w->ctx, AWQ_ERR_IO, "cannot list %s: %s", w->dir, strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    bool oom = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_weights_name(de->d_name)) continue;
        /* an index is always removed before the new shards land (even when
         * a new index of the same name replaces it later) */
        bool index = ends_with(de->d_name, ".safetensors.index.json");
        if (!index && is_new_file(w, de->d_name)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                oom = true;
                break;
            }
            v = nv;
            cap = nc;
        }
        if (!(v[n] = awq_path_join(w->dir, de->d_name))) {
            oom = true;
            break;
        }
        n++;
    }
    closedir(d);
    if (oom) {
        for (size_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return awq_fail_nomem(w->ctx, "directory listing", 0);
    }
    *out = v;
    *n_out = n;
    return AWQ_OK;
}

static awq_status commit(awq_writer *w) {
    awq_ctx *ctx = w->ctx;
    char **stale = NULL;
    size_t n_stale = 0;
    if (w->force) AWQ_TRY(list_stale(w, &stale, &n_stale));
    awq_status s = AWQ_OK;
    /* 1. aux files (config.json, tokenizer, ...) */
    for (size_t i = 0; i < w->n_aux && s == AWQ_OK; i++) s = commit_rename(w, &w->aux[i]);
    /* 2. old index files go first: from now on no index is visible */
    for (size_t i = 0; i < n_stale && s == AWQ_OK; i++) {
        if (!ends_with(stale[i], ".safetensors.index.json")) continue;
        if (unlink(stale[i]) != 0 && errno != ENOENT)
            s = awq_fail(ctx, AWQ_ERR_IO, "cannot remove stale %s: %s", stale[i], strerror(errno));
    }
    /* 3. the shards; the single model.safetensors waits for step 4 */
    if (w->n_shards > 1)
        for (size_t i = 0; i < w->n_shards && s == AWQ_OK; i++) s = commit_rename(w, &w->shards[i]);
    if (s == AWQ_OK) s = awq_fsync_dir(ctx, w->dir);
    /* 4. the file that makes the checkpoint complete */
    if (s == AWQ_OK) s = commit_rename(w, w->n_shards > 1 ? &w->index : &w->shards[0]);
    /* 5. what is left of the previous checkpoint */
    for (size_t i = 0; i < n_stale && s == AWQ_OK; i++) {
        if (ends_with(stale[i], ".safetensors.index.json")) continue;
        if (unlink(stale[i]) != 0 && errno != ENOENT)
            s = awq_fail(ctx, AWQ_ERR_IO, "cannot remove stale %s: %s", stale[i], strerror(errno));
    }
    if (s == AWQ_OK) s = awq_fsync_dir(ctx, w->dir);
    for (size_t i = 0; i < n_stale; i++) free(stale[i]);
    free(stale);
    return s;
}

awq_status awq_writer_finish(awq_writer *w) {
    if (!w) return AWQ_ERR_INVALID_ARG;
    AWQ_TRY(check_usable(w, "finish"));
    awq_ctx *ctx = w->ctx;
    AWQ_TRY(ensure_layout(w));
    if (w->n_written != w->n && !w->sparse) {
        for (size_t i = 0; i < w->n; i++) {
            if (w->t[i].written) continue;
            char q[256];
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "finish: tensor '%s' was declared but never written (%zu of %zu "
                            "missing)",
                            awq_st_quote(w->t[i].name, q, sizeof q), w->n - w->n_written, w->n);
        }
    }
    close_cached(w);
    for (size_t i = 0; i < w->n_shards; i++) {
        wr_file *f = &w->shards[i];
        int fd = open(f->tmp_path, O_WRONLY | O_CLOEXEC);
        int e = fd < 0 ? errno : 0;
        if (!e && fsync(fd) != 0) e = errno;
        if (fd >= 0 && close(fd) != 0 && !e) e = errno;
        if (e)
            return poison(w, awq_fail(ctx, AWQ_ERR_IO, "cannot fsync %s (temporary %s): %s",
                                      f->final_path, f->tmp_path, strerror(e)));
    }
    if (w->n_shards > 1) {
        awq_status s = write_index(w);
        if (s != AWQ_OK) return poison(w, s);
    }
    awq_status s = commit(w);
    if (s != AWQ_OK) return poison(w, s);
    w->state = W_DONE;
    return AWQ_OK;
}

uint64_t awq_writer_total_bytes(const awq_writer *w) { return w ? w->total : 0; }

size_t awq_writer_n_shards(const awq_writer *w) { return w ? w->n_shards : 0; }
