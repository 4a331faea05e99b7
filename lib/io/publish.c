/* lib/io/publish.c — staging directory -> output directory (io/publish.h). */
#include "io/publish.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

static bool is_weights_name(const char *n) {
    return n[0] != '.' && (ends_with(n, ".safetensors") || ends_with(n, ".safetensors.index.json"));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct {
    char **v;
    size_t n, cap;
} names;

static void names_free(names *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Non-hidden entries of dir (regular files only when files_only), sorted. */
static awq_status list_dir(awq_ctx *ctx, const char *dir, bool files_only, names *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return awq_fail(ctx, AWQ_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    awq_status s = AWQ_OK;
    while (s == AWQ_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (files_only) {
            char *p = awq_path_join(dir, e->d_name);
            struct stat st;
            bool reg = p && lstat(p, &st) == 0 && S_ISREG(st.st_mode);
            free(p);
            if (!reg) continue;
        }
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 16;
            char **nv = realloc(out->v, nc * sizeof *nv);
            if (!nv) {
                s = awq_fail_nomem(ctx, "directory listing", nc * sizeof *nv);
                break;
            }
            out->v = nv;
            out->cap = nc;
        }
        if (!(out->v[out->n] = awq_strdup(e->d_name))) {
            s = awq_fail_nomem(ctx, "directory listing", 0);
            break;
        }
        out->n++;
    }
    closedir(d);
    if (s != AWQ_OK) {
        names_free(out);
        return s;
    }
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return AWQ_OK;
}

static awq_status write_journal(awq_ctx *ctx, const char *journal, const names *files,
                                const names *before) {
    cJSON *root = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(root, "publishing");
    for (size_t i = 0; i < files->n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(files->v[i]));
    cJSON *b = cJSON_AddArrayToObject(root, "before");
    for (size_t i = 0; i < before->n; i++)
        cJSON_AddItemToArray(b, cJSON_CreateString(before->v[i]));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) return awq_fail_nomem(ctx, "journal", 0);
    awq_status st = awq_write_file_atomic(ctx, journal, s, strlen(s));
    cJSON_free(s);
    return st;
}

static void report(awq_ctx *ctx, uint64_t done, uint64_t total) {
    /* progress is shown (and test hooks see it) but a request to stop is not
     * honoured in the middle of publishing: see publish.h */
    if (ctx && ctx->p.progress) (void)ctx->p.progress(ctx->p.progress_user, "publish", done, total);
}

static awq_status move(awq_ctx *ctx, const char *staging, const char *out, const char *name) {
    char *a = awq_path_join(staging, name), *b = awq_path_join(out, name);
    awq_status s = AWQ_OK;
    if (!a || !b) s = awq_fail_nomem(ctx, "path", 0);
    else if (rename(a, b) != 0)
        s = awq_fail(ctx, AWQ_ERR_IO, "cannot move %s to %s: %s", a, b, strerror(errno));
    free(a);
    free(b);
    return s;
}

awq_status awq_publish_dir(awq_ctx *ctx, const char *staging, const char *out,
                           const char *journal) {
    names files, before;
    AWQ_TRY(list_dir(ctx, staging, true, &files));
    awq_status s = list_dir(ctx, out, false, &before);
    if (s != AWQ_OK) {
        names_free(&files);
        return s;
    }
    /* the completing file: the index when there is one, else the only shard */
    const char *last = NULL;
    for (size_t i = 0; i < files.n; i++)
        if (ends_with(files.v[i], ".safetensors.index.json")) last = files.v[i];
    size_t n_st = 0;
    for (size_t i = 0; i < files.n && !last; i++)
        if (ends_with(files.v[i], ".safetensors")) {
            n_st++;
            last = files.v[i];
        }
    if (!last || n_st > 1)
        s = awq_fail(ctx, AWQ_ERR_INTERNAL, "%s: no single file completes the checkpoint",
                     staging);
    char *marker = awq_path_join(out, AWQ_INCOMPLETE_MARKER);
    if (s == AWQ_OK && !marker) s = awq_fail_nomem(ctx, "path", 0);
    if (s == AWQ_OK && journal) s = write_journal(ctx, journal, &files, &before);
    static const char k_note[] =
        "awqkit is moving a checkpoint into this directory: it is not complete while this "
        "file exists (an interrupted run continues with --resume)\n";
    if (s == AWQ_OK) s = awq_write_file_atomic(ctx, marker, k_note, sizeof k_note - 1);
    for (size_t i = 0; i < before.n && s == AWQ_OK; i++) {
        if (!is_weights_name(before.v[i])) continue;
        char *p = awq_path_join(out, before.v[i]);
        if (!p) s = awq_fail_nomem(ctx, "path", 0);
        else if (unlink(p) != 0 && errno != ENOENT)
            s = awq_fail(ctx, AWQ_ERR_IO, "cannot remove the previous %s: %s", p, strerror(errno));
        free(p);
    }
    if (s == AWQ_OK) s = awq_fsync_dir(ctx, out);
    uint64_t step = 0;
    /* other files first, then the shards, then the completing one */
    for (int pass = 0; pass < 2 && s == AWQ_OK; pass++) {
        for (size_t i = 0; i < files.n && s == AWQ_OK; i++) {
            if (files.v[i] == last || is_weights_name(files.v[i]) != (pass == 1)) continue;
            report(ctx, step++, files.n);
            s = move(ctx, staging, out, files.v[i]);
        }
    }
    if (s == AWQ_OK) s = awq_fsync_dir(ctx, out);
    if (s == AWQ_OK) {
        report(ctx, step++, files.n);
        s = move(ctx, staging, out, last);
    }
    if (s == AWQ_OK) s = awq_fsync_dir(ctx, out);
    if (s == AWQ_OK && unlink(marker) != 0)
        s = awq_fail(ctx, AWQ_ERR_IO, "cannot remove %s: %s", marker, strerror(errno));
    if (s == AWQ_OK) s = awq_fsync_dir(ctx, out);
    if (s == AWQ_OK) report(ctx, files.n, files.n);
    free(marker);
    names_free(&files);
    names_free(&before);
    return s;
}

cJSON *awq_publish_journal_names(awq_ctx *ctx, const char *journal) {
    char *buf = NULL;
    size_t n = 0;
    if (!journal || !awq_path_exists(journal) ||
        awq_read_file(ctx, journal, 1u << 26, &buf, &n) != AWQ_OK)
        return NULL;
    cJSON *root = cJSON_ParseWithLength(buf, n);
    free(buf);
    cJSON *all = root ? cJSON_CreateArray() : NULL;
    static const char *const keys[] = {"publishing", "before"};
    for (size_t k = 0; all && k < AWQ_ARRAY_LEN(keys); k++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, keys[k])) {
            if (cJSON_IsString(e)) cJSON_AddItemToArray(all, cJSON_CreateString(e->valuestring));
        }
    }
    cJSON_Delete(root);
    return all;
}
