/* lib/io/checkpoint.c — opening a checkpoint: directory layout, the shard
 * index, config.json, mmap'd shards, name lookup and fp32 conversion.
 *
 * Directory rules (first match wins, as transformers looks them up):
 *  1. model.safetensors                       -> one file
 *  2. model.safetensors.index.json            -> sharded, the index says which
 *                                                shard holds each tensor
 *  3. exactly one other *.safetensors.index.json -> sharded, that index
 *  4. exactly one other *.safetensors file    -> one file (e.g. a renamed
 *                                                single-file checkpoint)
 *  Several index files, or several .safetensors files without an index, are
 *  refused: the shard set would be a guess. Hidden files (".name", our own
 *  temporaries) are ignored. config.json is read when present.
 *
 * Index rules: weight_map maps every tensor to a plain file name inside the
 * directory (no '/', no "..", no absolute path); every shard it names
 * exists; each tensor it lists is in the shard it names; every tensor of
 * every listed shard is listed (an unlisted tensor would be silently lost by
 * loaders that trust the index, so it is an error, not a warning); no tensor
 * appears in two shards. metadata.total_size, when it disagrees with the sum
 * of the tensor sizes, only gets a warning: writers compute it differently.
 */
#include "io/fp8src.h"
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CK_MAX_CONFIG_BYTES (64ull << 20)
#define CK_MAX_INDEX_BYTES (256ull << 20)
/* Tensors at least this large are converted to fp32 on the thread pool. */
#define CK_PARALLEL_MIN_ELEMENTS (1u << 18)

typedef struct ck_name {
    const char *name;
    size_t idx;                /* into awq_checkpoint.tensors */
} ck_name;

typedef struct ck_shard {
    char *path;
    unsigned char *map;        /* whole file, PROT_READ */
    uint64_t size;
    awq_st_header hdr;
} ck_shard;

struct awq_checkpoint {
    char *dir;
    ck_shard *shards;
    size_t n_shards;
    awq_tensor_info *tensors;  /* (shard, offset) order */
    size_t n_tensors;
    struct ck_name *by_name;   /* sorted by name, for awq_checkpoint_find */
    uint64_t total_bytes;
    cJSON *config;
    bool fp8;                  /* FP8 weights bound (lib/io/fp8src.c) */
};

/* ------------------------------------------------------------ helpers */

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

static bool is_regular_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* 1-based line and column of byte `off` in text, for JSON errors. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col) {
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Read and parse a JSON file whose top level must be an object. */
static awq_status read_json_object(awq_ctx *ctx, const char *path, uint64_t cap, cJSON **out) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    AWQ_TRY(awq_read_file(ctx, path, cap, &buf, &len));
    const char *nul = memchr(buf, 0, len);
    if (nul) {
        size_t line, col;
        line_col(buf, (size_t)(nul - buf), &line, &col);
        free(buf);
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: NUL byte at line %zu, column %zu (not JSON text)",
                        path, line, col);
    }
    /* len + 1: cJSON checks "nothing but whitespace follows" by finding the
     * terminating NUL inside the given length */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
    if (!root) {
        size_t off = end && end >= buf ? (size_t)(end - buf) : 0, line, col;
        line_col(buf, off, &line, &col);
        free(buf);
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON at line %zu, column %zu", path,
                        line, col);
    }
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: the top level must be a JSON object", path);
    }
    *out = root;
    return AWQ_OK;
}

static void shard_release(ck_shard *s) {
    if (s->map) munmap(s->map, (size_t)s->size);
    awq_st_header_free(&s->hdr);
    free(s->path);
    memset(s, 0, sizeof *s);
}

void awq_checkpoint_release(const awq_checkpoint *ck, const void *data, uint64_t n_bytes) {
    if (!ck || !data || n_bytes == 0) return;
    const unsigned char *p = data;
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0) return;
    for (size_t i = 0; i < ck->n_shards; i++) {
        const unsigned char *m = ck->shards[i].map;
        uint64_t size = ck->shards[i].size;
        /* only our own read-only file mappings: MADV_DONTNEED on them drops
         * clean pages, never data */
        if (!m || p < m || (uint64_t)(p - m) + n_bytes > size) continue;
        uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
        uintptr_t b = ((uintptr_t)p + (uintptr_t)n_bytes + (uintptr_t)pg - 1) &
                      ~(uintptr_t)(pg - 1);
        (void)madvise((void *)a, (size_t)(b - a), MADV_DONTNEED);
        return;
    }
}

void awq_checkpoint_free(awq_checkpoint *ck) {
    if (!ck) return;
    for (size_t i = 0; i < ck->n_shards; i++) shard_release(&ck->shards[i]);
    free(ck->shards);
    free(ck->tensors);
    free(ck->by_name);
    cJSON_Delete(ck->config);
    free(ck->dir);
    free(ck);
}

/* Map and validate one shard. `path` is taken over by the shard. */
static awq_status shard_open(awq_ctx *ctx, ck_shard *s, char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return awq_fail(ctx, errno == ENOENT ? AWQ_ERR_NOT_FOUND : AWQ_ERR_IO,
                        "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return awq_fail(ctx, AWQ_ERR_IO, "%s is not a regular file", path);
    }
    s->size = (uint64_t)st.st_size;
    if ((uint64_t)(size_t)s->size != s->size) {
        close(fd);
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: too large to map on this platform", path);
    }
    if (s->size > 0) {
        void *m = mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            awq_status r = awq_fail(ctx, AWQ_ERR_IO, "cannot mmap %s (%llu bytes): %s", path,
                                    (unsigned long long)s->size, strerror(errno));
            close(fd);
            return r;
        }
        s->map = m;
    }
    close(fd);
    return awq_st_parse(ctx, path, s->map, s->size, &s->hdr);
}

static awq_checkpoint *ck_alloc(const char *dir) {
    awq_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) return NULL;
    ck->dir = awq_strdup(dir);
    if (!ck->dir) {
        free(ck);
        return NULL;
    }
    return ck;
}

static int cmp_ck_name(const void *a, const void *b) {
    return strcmp(((const ck_name *)a)->name, ((const ck_name *)b)->name);
}

/* Merge the shards' tables into ck->tensors, build the name index and
 * refuse a tensor present in two shards. */
static awq_status build_tensors(awq_ctx *ctx, awq_checkpoint *ck) {
    size_t n = 0;
    for (size_t i = 0; i < ck->n_shards; i++) n += ck->shards[i].hdr.n_tensors;
    ck->tensors = calloc(n ? n : 1, sizeof *ck->tensors);
    ck->by_name = malloc((n ? n : 1) * sizeof *ck->by_name);
    if (!ck->tensors || !ck->by_name)
        return awq_fail_nomem(ctx, "tensor table", (uint64_t)n * sizeof *ck->tensors);
    size_t k = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < ck->n_shards; i++) {
        const ck_shard *s = &ck->shards[i];
        for (size_t j = 0; j < s->hdr.n_tensors; j++, k++) {
            const awq_st_tensor *st = &s->hdr.tensors[j];
            awq_tensor_info *t = &ck->tensors[k];
            t->name = st->name;
            t->dtype = st->dtype;
            t->ndim = st->ndim;
            memcpy(t->shape, st->shape, sizeof t->shape);
            t->n_elements = st->n_elements;
            t->n_bytes = st->n_bytes;
            t->shard = (int)i;
            t->file_offset = s->hdr.data_start + st->begin;
            t->data = s->map + t->file_offset;
            /* sum of validated, file-bounded sizes: cannot overflow */
            total += st->n_bytes;
            ck->by_name[k].name = st->name;
            ck->by_name[k].idx = k;
        }
    }
    ck->n_tensors = n;
    ck->total_bytes = total;
    qsort(ck->by_name, n, sizeof *ck->by_name, cmp_ck_name);
    for (size_t i = 1; i < n; i++) {
        const awq_tensor_info *a = &ck->tensors[ck->by_name[i - 1].idx];
        const awq_tensor_info *b = &ck->tensors[ck->by_name[i].idx];
        if (strcmp(a->name, b->name) == 0) {
            char q[256];
            return awq_fail(ctx, AWQ_ERR_FORMAT, "tensor '%s' appears in two shards: %s and %s",
                            awq_st_quote(a->name, q, sizeof q), ck->shards[a->shard].path,
                            ck->shards[b->shard].path);
        }
    }
    return AWQ_OK;
}

/* ------------------------------------------------------ single / index */

static awq_status open_single(awq_ctx *ctx, awq_checkpoint *ck, const char *file) {
    char *path = awq_strdup(file);
    ck->shards = calloc(1, sizeof *ck->shards);
    if (!path || !ck->shards) {
        free(path);
        return awq_fail_nomem(ctx, "checkpoint", 0);
    }
    ck->n_shards = 1;
    AWQ_TRY(shard_open(ctx, &ck->shards[0], path));
    return build_tensors(ctx, ck);
}

typedef struct idx_entry {
    const char *name;
    const char *file;
} idx_entry;

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const idx_entry *)a)->name, ((const idx_entry *)b)->name);
}
static int cmp_entry_file(const void *a, const void *b) {
    const idx_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

static int cmp_name_key(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const idx_entry *)elem)->name);
}

static awq_status open_index(awq_ctx *ctx, awq_checkpoint *ck, const char *index_path) {
    cJSON *root = NULL;
    AWQ_TRY(read_json_object(ctx, index_path, CK_MAX_INDEX_BYTES, &root));
    awq_status s = AWQ_OK;
    idx_entry *e = NULL, *byfile = NULL;
    size_t n = 0;
    char q[256], q2[256];
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    const cJSON *total = NULL;
    if (!cJSON_IsObject(wm)) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: missing \"weight_map\" object", index_path);
        goto done;
    }
    if (meta && !cJSON_IsObject(meta) && !cJSON_IsNull(meta)) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: \"metadata\" must be an object", index_path);
        goto done;
    }
    if (cJSON_IsObject(meta)) {
        total = cJSON_GetObjectItemCaseSensitive(meta, "total_size");
        if (total && (!cJSON_IsNumber(total) || total->valuedouble < 0)) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT,
                         "%s: metadata.total_size must be a non-negative number", index_path);
            goto done;
        }
    }
    for (const cJSON *it = wm->child; it; it = it->next) n++;
    if (n == 0) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: \"weight_map\" is empty", index_path);
        goto done;
    }
    e = malloc(n * sizeof *e);
    byfile = malloc(n * sizeof *byfile);
    if (!e || !byfile) {
        s = awq_fail_nomem(ctx, "index", n * sizeof *e);
        goto done;
    }
    n = 0;
    for (const cJSON *it = wm->child; it; it = it->next, n++) {
        const char *name = it->string ? it->string : "";
        if (!cJSON_IsString(it) || !it->valuestring) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT,
                         "%s: weight_map entry for tensor '%s' must be a string (a shard file "
                         "name)",
                         index_path, awq_st_quote(name, q, sizeof q));
            goto done;
        }
        if (!awq_is_plain_filename(it->valuestring)) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT,
                         "%s: tensor '%s' maps to shard '%s', which is not a plain file name "
                         "inside the model directory (no '/', '..' or absolute paths)",
                         index_path, awq_st_quote(name, q, sizeof q),
                         awq_st_quote(it->valuestring, q2, sizeof q2));
            goto done;
        }
        e[n].name = name;
        e[n].file = it->valuestring;
    }
    qsort(e, n, sizeof *e, cmp_entry_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(e[i - 1].name, e[i].name) == 0) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: tensor '%s' appears twice in weight_map",
                         index_path, awq_st_quote(e[i].name, q, sizeof q));
            goto done;
        }
    }
    /* the distinct shard files, in name order */
    memcpy(byfile, e, n * sizeof *e);
    qsort(byfile, n, sizeof *byfile, cmp_entry_file);
    size_t nf = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(byfile[i - 1].file, byfile[i].file) != 0) nf++;
    ck->shards = calloc(nf, sizeof *ck->shards);
    if (!ck->shards) {
        s = awq_fail_nomem(ctx, "shard table", nf * sizeof *ck->shards);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(byfile[i - 1].file, byfile[i].file) == 0) continue;
        char *path = awq_path_join(ck->dir, byfile[i].file);
        if (!path) {
            s = awq_fail_nomem(ctx, "path", 0);
            goto done;
        }
        if (!is_regular_file(path)) {
            s = awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                         "%s: shard '%s' (holding tensor '%s') does not exist in %s",
                         index_path, awq_st_quote(byfile[i].file, q2, sizeof q2),
                         awq_st_quote(byfile[i].name, q, sizeof q), ck->dir);
            free(path);
            goto done;
        }
        s = shard_open(ctx, &ck->shards[ck->n_shards++], path);
        if (s != AWQ_OK) goto done;
    }
    s = build_tensors(ctx, ck);
    if (s != AWQ_OK) goto done;
    /* every index entry is in the shard it names */
    for (size_t i = 0; i < n; i++) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, e[i].name);
        if (!t) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT,
                         "%s: tensor '%s' is mapped to shard '%s', which does not contain it",
                         index_path, awq_st_quote(e[i].name, q, sizeof q),
                         awq_st_quote(e[i].file, q2, sizeof q2));
            goto done;
        }
        if (strcmp(awq_path_basename(ck->shards[t->shard].path), e[i].file) != 0) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT,
                         "%s: tensor '%s' is mapped to shard '%s', which does not contain it "
                         "(it is in %s)",
                         index_path, awq_st_quote(e[i].name, q, sizeof q),
                         awq_st_quote(e[i].file, q2, sizeof q2), ck->shards[t->shard].path);
            goto done;
        }
    }
    /* every tensor of the shards is in the index */
    if (ck->n_tensors != n) {
        for (size_t i = 0; i < ck->n_tensors; i++) {
            const awq_tensor_info *t = &ck->tensors[i];
            if (!bsearch(t->name, e, n, sizeof *e, cmp_name_key)) {
                s = awq_fail(ctx, AWQ_ERR_FORMAT,
                             "%s: tensor '%s' is not listed in %s (every tensor of a sharded "
                             "checkpoint must be in its weight_map)",
                             ck->shards[t->shard].path, awq_st_quote(t->name, q, sizeof q),
                             index_path);
                goto done;
            }
        }
        s = awq_fail(ctx, AWQ_ERR_INTERNAL, "%s: index and shards disagree", index_path);
        goto done;
    }
    if (total && total->valuedouble != (double)ck->total_bytes)
        awq_warn(ctx, "%s: metadata.total_size is %.0f but the tensors hold %llu bytes",
                 index_path, total->valuedouble, (unsigned long long)ck->total_bytes);
done:
    free(e);
    free(byfile);
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------- layout */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static bool nl_push(name_list *l, const char *s) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return false;
        l->v = nv;
        l->cap = nc;
    }
    if (!(l->v[l->n] = awq_strdup(s))) return false;
    l->n++;
    return true;
}

static void nl_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void nl_join(const name_list *l, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < l->n && o + 8 < cap; i++) {
        if (i == 4) {
            snprintf(buf + o, cap - o, ", ...");
            return;
        }
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", l->v[i]);
        if (w < 0) return;
        o += (size_t)w;
    }
}

/* Pick the weights of a directory (see the rules at the top). */
static awq_status open_dir(awq_ctx *ctx, awq_checkpoint *ck) {
    char *p = awq_path_join(ck->dir, "model.safetensors");
    if (!p) return awq_fail_nomem(ctx, "path", 0);
    if (is_regular_file(p)) {
        awq_status s = open_single(ctx, ck, p);
        free(p);
        return s;
    }
    free(p);
    p = awq_path_join(ck->dir, "model.safetensors.index.json");
    if (!p) return awq_fail_nomem(ctx, "path", 0);
    if (is_regular_file(p)) {
        awq_status s = open_index(ctx, ck, p);
        free(p);
        return s;
    }
    free(p);

    DIR *d = opendir(ck->dir);
    if (!d) return awq_fail(ctx, AWQ_ERR_IO, "cannot list %s: %s", ck->dir, strerror(errno));
    name_list idx = {0}, st = {0};
    bool oom = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (ends_with(de->d_name, ".safetensors.index.json"))
            oom |= !nl_push(&idx, de->d_name);
        else if (ends_with(de->d_name, ".safetensors"))
            oom |= !nl_push(&st, de->d_name);
    }
    closedir(d);
    awq_status s;
    char list[512];
    if (oom) {
        s = awq_fail_nomem(ctx, "directory listing", 0);
        goto out;
    }
    if (idx.n > 1) qsort(idx.v, idx.n, sizeof *idx.v, cmp_str);
    if (st.n > 1) qsort(st.v, st.n, sizeof *st.v, cmp_str);
    if (idx.n > 1) {
        nl_join(&idx, list, sizeof list);
        s = awq_fail(ctx, AWQ_ERR_FORMAT,
                     "%s: several shard index files (%s) and no model.safetensors.index.json: "
                     "cannot tell which checkpoint to read",
                     ck->dir, list);
    } else if (idx.n == 1) {
        p = awq_path_join(ck->dir, idx.v[0]);
        s = p ? open_index(ctx, ck, p) : awq_fail_nomem(ctx, "path", 0);
        free(p);
    } else if (st.n == 1) {
        p = awq_path_join(ck->dir, st.v[0]);
        s = p ? open_single(ctx, ck, p) : awq_fail_nomem(ctx, "path", 0);
        free(p);
    } else if (st.n > 1) {
        nl_join(&st, list, sizeof list);
        s = awq_fail(ctx, AWQ_ERR_FORMAT,
                     "%s: %zu .safetensors files (%s) but no model.safetensors.index.json to say "
                     "which tensors each holds",
                     ck->dir, st.n, list);
    } else {
        s = awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                     "%s: no weights found (expected model.safetensors, or "
                     "model.safetensors.index.json and its shards)",
                     ck->dir);
    }
out:
    nl_free(&idx);
    nl_free(&st);
    return s;
}

awq_status awq_checkpoint_open(awq_ctx *ctx, const char *path, awq_checkpoint **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_checkpoint_open: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "empty path: expected a model directory, a .safetensors file or an index.json");
    struct stat st;
    if (stat(path, &st) != 0)
        return awq_fail(ctx, errno == ENOENT ? AWQ_ERR_NOT_FOUND : AWQ_ERR_IO, "cannot open %s: %s",
                        path, strerror(errno));
    bool is_dir = S_ISDIR(st.st_mode);
    if (!is_dir && !S_ISREG(st.st_mode))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s is neither a directory nor a regular file",
                        path);
    char *dir = is_dir ? awq_strdup(path) : awq_path_dirname(path);
    if (!dir) return awq_fail_nomem(ctx, "path", strlen(path));
    /* keep "dir/" as given but without a trailing slash */
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = 0;
    awq_checkpoint *ck = ck_alloc(dir);
    free(dir);
    if (!ck) return awq_fail_nomem(ctx, "checkpoint", sizeof *ck);

    awq_status s;
    bool with_config = is_dir;
    if (is_dir) {
        s = open_dir(ctx, ck);
    } else if (ends_with(path, ".index.json")) {
        /* the index of a sharded checkpoint: as good as its directory */
        with_config = true;
        s = open_index(ctx, ck, path);
    } else {
        s = open_single(ctx, ck, path);
    }
    if (s == AWQ_OK && with_config) {
        char *cfg = awq_path_join(ck->dir, "config.json");
        if (!cfg) {
            s = awq_fail_nomem(ctx, "path", 0);
        } else {
            if (awq_path_exists(cfg)) s = read_json_object(ctx, cfg, CK_MAX_CONFIG_BYTES, &ck->config);
            free(cfg);
        }
    }
    if (s != AWQ_OK) {
        awq_checkpoint_free(ck);
        return s;
    }
    *out = ck;
    return AWQ_OK;
}

awq_status awq_checkpoint_open_model(awq_ctx *ctx, const char *path, awq_checkpoint **out) {
    AWQ_TRY(awq_checkpoint_open(ctx, path, out));
    awq_checkpoint *ck = *out;
    awq_status s = AWQ_OK;
    if (!ck->config) {
        char *cfg = awq_path_join(ck->dir, "config.json");
        s = cfg ? AWQ_OK : awq_fail_nomem(ctx, "path", 0);
        if (s == AWQ_OK && awq_path_exists(cfg))
            s = read_json_object(ctx, cfg, CK_MAX_CONFIG_BYTES, &ck->config);
        free(cfg);
    }
    /* FP8 block sources are computed on as dense ones (lib/io/fp8src.c) */
    if (s == AWQ_OK) s = awq_checkpoint_bind_fp8(ctx, ck);
    if (s != AWQ_OK) {
        awq_checkpoint_free(ck);
        *out = NULL;
    }
    return s;
}

awq_tensor_info *awq_checkpoint_tensors_mut(awq_checkpoint *ck, size_t *n) {
    *n = ck ? ck->n_tensors : 0;
    return ck ? ck->tensors : NULL;
}

void awq_checkpoint_mark_fp8(awq_checkpoint *ck) {
    if (ck) ck->fp8 = true;
}

bool awq_checkpoint_is_fp8_source(const awq_checkpoint *ck) { return ck && ck->fp8; }

/* ------------------------------------------------------------ getters */

const char *awq_checkpoint_dir(const awq_checkpoint *ck) { return ck ? ck->dir : NULL; }

size_t awq_checkpoint_n_shards(const awq_checkpoint *ck) { return ck ? ck->n_shards : 0; }

const char *awq_checkpoint_shard_path(const awq_checkpoint *ck, size_t i) {
    return ck && i < ck->n_shards ? ck->shards[i].path : NULL;
}

uint64_t awq_checkpoint_shard_bytes(const awq_checkpoint *ck, size_t i) {
    return ck && i < ck->n_shards ? ck->shards[i].size : 0;
}

size_t awq_checkpoint_n_tensors(const awq_checkpoint *ck) { return ck ? ck->n_tensors : 0; }

uint64_t awq_checkpoint_total_bytes(const awq_checkpoint *ck) { return ck ? ck->total_bytes : 0; }

const awq_tensor_info *awq_checkpoint_tensor(const awq_checkpoint *ck, size_t i) {
    return ck && i < ck->n_tensors ? &ck->tensors[i] : NULL;
}

const awq_tensor_info *awq_checkpoint_find(const awq_checkpoint *ck, const char *name) {
    if (!ck || !name) return NULL;
    size_t lo = 0, hi = ck->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, ck->by_name[mid].name);
        if (c == 0) return &ck->tensors[ck->by_name[mid].idx];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const struct cJSON *awq_checkpoint_config(const awq_checkpoint *ck) {
    return ck ? ck->config : NULL;
}

const struct cJSON *awq_checkpoint_metadata(const awq_checkpoint *ck, size_t i) {
    return ck && i < ck->n_shards ? ck->shards[i].hdr.metadata : NULL;
}

/* ------------------------------------------------------- to fp32 */

typedef struct cvt_job {
    const unsigned char *src;
    float *dst;
    awq_dtype dt;
    bool check;                  /* find the first NaN / Inf of the result */
    _Atomic int_least64_t bad;   /* its index, INT64_MAX while none */
} cvt_job;

/* Elements converted then scanned while still in cache (check mode). */
#define CVT_CHECK_RUN 4096

static void cvt_run(const cvt_job *j, size_t b, size_t n) {
    switch (j->dt) {
    case AWQ_DT_F16: awq_f16_to_f32_n(j->src + 2 * b, j->dst + b, n); break;
    case AWQ_DT_BF16: awq_bf16_to_f32_n(j->src + 2 * b, j->dst + b, n); break;
    case AWQ_DT_F32: memcpy(j->dst + b, j->src + 4 * b, 4 * n); break;
    case AWQ_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, j->src + 8 * (b + i), 8);
            /* IEEE 754 narrowing: rounds to nearest, overflows to +-inf */
            j->dst[b + i] = (float)d;
        }
        break;
    default: break;
    }
}

static void cvt_range(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    cvt_job *j = arg;
    if (!j->check) {
        cvt_run(j, (size_t)begin, (size_t)(end - begin));
        return;
    }
    for (int64_t b = begin; b < end; b += CVT_CHECK_RUN) {
        int64_t n = AWQ_MIN((int64_t)CVT_CHECK_RUN, end - b);
        cvt_run(j, (size_t)b, (size_t)n);
        int64_t i = awq_f32_first_nonfinite(j->dst + b, n);
        if (i < 0) continue;
        /* the smallest index over workers, whatever the split */
        int_least64_t want = b + i, cur = atomic_load(&j->bad);
        while (want < cur && !atomic_compare_exchange_weak(&j->bad, &cur, want)) {
        }
        return; /* the result is an error: the rest need not be converted */
    }
}

static awq_status convert(awq_ctx *ctx, const awq_tensor_info *t, const unsigned char *src,
                          uint64_t n, float *dst, int64_t *first_bad) {
    switch (t->dtype) {
    case AWQ_DT_F16: case AWQ_DT_BF16: case AWQ_DT_F32: case AWQ_DT_F64: break;
    default: {
        char q[256];
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "tensor '%s': cannot convert %s to fp32 (only F16, BF16, F32, F64)",
                        awq_st_quote(t->name, q, sizeof q), awq_dtype_name(t->dtype));
    }
    }
    if (n == 0) return AWQ_OK;
    if (!dst || !src) {
        char q[256];
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tensor '%s': NULL %s buffer",
                        awq_st_quote(t->name, q, sizeof q), dst ? "source" : "destination");
    }
    if (n > (uint64_t)INT64_MAX / 8)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tensor too large");
    cvt_job j = {src, dst, t->dtype, first_bad != NULL, INT64_MAX};
    if (n >= CK_PARALLEL_MIN_ELEMENTS && ctx && awq_ctx_n_threads(ctx) > 1)
        awq_parallel_for(ctx, (int64_t)n, cvt_range, &j);
    else
        cvt_range(&j, 0, (int64_t)n, 0);
    if (first_bad) {
        int_least64_t bad = atomic_load(&j.bad);
        *first_bad = bad == INT64_MAX ? -1 : (int64_t)bad;
    }
    return AWQ_OK;
}

awq_status awq_tensor_to_f32(awq_ctx *ctx, const awq_tensor_info *t, float *dst) {
    if (!t) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_tensor_to_f32: tensor is NULL");
    if (t->scale_inv) return awq_fp8src_rows(ctx, t, 0, t->shape[0], dst);
    return convert(ctx, t, t->data, t->n_elements, dst, NULL);
}

awq_status awq_tensor_to_f32_finite(awq_ctx *ctx, const awq_tensor_info *t, float *dst) {
    if (!t) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tensor to convert is NULL");
    /* finite: scales are checked when bound, NaN codes refused */
    if (t->scale_inv) return awq_fp8src_rows(ctx, t, 0, t->shape[0], dst);
    int64_t bad = -1;
    AWQ_TRY(convert(ctx, t, t->data, t->n_elements, dst, &bad));
    if (bad < 0) return AWQ_OK;
    char what[320], q[256];
    snprintf(what, sizeof what, "tensor '%s'", awq_st_quote(t->name, q, sizeof q));
    return awq_fail_nonfinite(ctx, what, t->ndim, t->shape, bad, dst[bad]);
}

awq_status awq_tensor_rows_to_f32(awq_ctx *ctx, const awq_tensor_info *t, int64_t r0,
                                  int64_t nr, float *dst) {
    if (!t) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_tensor_rows_to_f32: tensor is NULL");
    char q[256];
    if (t->ndim != 2)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tensor '%s': rows need a 2-D tensor, not %d-D",
                        awq_st_quote(t->name, q, sizeof q), t->ndim);
    if (r0 < 0 || nr < 0 || r0 > t->shape[0] || nr > t->shape[0] - r0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "tensor '%s': rows [%lld, %lld+%lld) outside its %lld rows",
                        awq_st_quote(t->name, q, sizeof q), (long long)r0, (long long)r0,
                        (long long)nr, (long long)t->shape[0]);
    if (t->scale_inv) return awq_fp8src_rows(ctx, t, r0, nr, dst);
    size_t es = awq_dtype_size(t->dtype);
    /* r0 * cols <= n_elements, so neither product overflows */
    uint64_t cols = (uint64_t)t->shape[1];
    const unsigned char *src = t->data;
    if (src) src += (uint64_t)r0 * cols * es;
    return convert(ctx, t, src, (uint64_t)nr * cols, dst, NULL);
}
