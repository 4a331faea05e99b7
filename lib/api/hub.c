/* lib/api/hub.c — Hugging Face Hub ids (org/name[@revision]) resolved from
 * the local cache that huggingface_hub fills, with no network access.
 *
 * Cache layout (huggingface_hub's file_download): under the hub cache dir,
 *   models--ORG--NAME/refs/<branch or tag>    a file holding a commit hash
 *   models--ORG--NAME/snapshots/<commit>/...  the files (symlinks to blobs)
 * A revision is looked up in refs/ first (branches and tags are names);
 * a hex string with no such ref is taken as a commit (snapshot name). */
#include "awqkit/api.h"
#include "core/core.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static bool name_ok(const char *s, size_t n) {
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
    /* ".." anywhere would be an odd repo name and a path trick here */
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '.' && s[i + 1] == '.') return false;
    return true;
}

bool awq_hub_id_syntax(const char *s) {
    if (!s) return false;
    const char *slash = strchr(s, '/');
    if (!slash) return false;
    const char *at = strchr(slash, '@');
    const char *end = at ? at : s + strlen(s);
    if (memchr(slash + 1, '/', (size_t)(end - slash - 1))) return false;
    if (!name_ok(s, (size_t)(slash - s)) || !name_ok(slash + 1, (size_t)(end - slash - 1)))
        return false;
    if (at) {
        const char *r = at + 1;
        if (!r[0] || strlen(r) > 255 || r[0] == '.') return false;
        for (; *r; r++)
            if (*r == '/' || isspace((unsigned char)*r) || (unsigned char)*r < 0x20) return false;
    }
    return true;
}

/* The hub cache directory, malloc'd. */
static char *cache_dir(void) {
    const char *v = getenv("HF_HUB_CACHE");
    if (v && v[0]) return awq_strdup(v);
    v = getenv("HUGGINGFACE_HUB_CACHE"); /* huggingface_hub's older name */
    if (v && v[0]) return awq_strdup(v);
    v = getenv("HF_HOME");
    if (v && v[0]) return awq_path_join(v, "hub");
    v = getenv("XDG_CACHE_HOME");
    if (v && v[0]) return awq_path_join(v, "huggingface/hub");
    v = getenv("HOME");
    return awq_path_join(v && v[0] ? v : "/", ".cache/huggingface/hub");
}

static bool is_hex(const char *s) {
    if (strlen(s) < 7) return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s)) return false;
    return true;
}

/* Read refs/<rev> into a commit string (malloc'd) or NULL. */
static char *read_ref(const char *repo, const char *rev) {
    char *refs = awq_path_join(repo, "refs");
    char *f = refs ? awq_path_join(refs, rev) : NULL;
    free(refs);
    if (!f) return NULL;
    char *data = NULL;
    size_t len = 0;
    awq_status s = awq_read_file(NULL, f, 4096, &data, &len);
    free(f);
    if (s != AWQ_OK) return NULL;
    while (len && isspace((unsigned char)data[len - 1])) data[--len] = 0;
    if (!len || strchr(data, '/') || data[0] == '.') {
        free(data);
        return NULL;
    }
    return data;
}

/* The only directory in snapshots/, or NULL (none, or several). */
static char *only_snapshot(const char *snaps) {
    DIR *d = opendir(snaps);
    if (!d) return NULL;
    char *found = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = awq_path_join(snaps, e->d_name);
        if (p && awq_path_is_dir(p)) {
            n++;
            free(found);
            found = awq_strdup(e->d_name);
        }
        free(p);
    }
    closedir(d);
    if (n != 1) {
        free(found);
        return NULL;
    }
    return found;
}

static awq_status not_cached(awq_ctx *ctx, const char *model, const char *id,
                             const char *rev, const char *where, const char *why) {
    return awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                    "%s: no such file or directory, and as a Hugging Face Hub id it is not in "
                    "the local cache (%s: %s); awqkit does not download: fetch it with "
                    "`hf download %s%s%s` (or `huggingface-cli download %s%s%s`), or set "
                    "HF_HUB_CACHE / HF_HOME to the cache that holds it",
                    model, where, why, id, rev ? " --revision " : "", rev ? rev : "", id,
                    rev ? " --revision " : "", rev ? rev : "");
}

awq_status awq_hub_resolve(awq_ctx *ctx, const char *model, char **path_out) {
    if (!model || !path_out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "hub: NULL argument");
    *path_out = NULL;
    if (awq_path_exists(model) || !awq_hub_id_syntax(model)) {
        /* a missing plain path is for the open that follows to report */
        *path_out = awq_strdup(model);
        return *path_out ? AWQ_OK : awq_fail_nomem(ctx, "a path", strlen(model));
    }
    awq_status st = AWQ_OK;
    char id[256], org[128], name[128];
    const char *at = strchr(model, '@');
    const char *rev = at ? at + 1 : NULL;
    size_t idlen = at ? (size_t)(at - model) : strlen(model);
    memcpy(id, model, idlen);
    id[idlen] = 0;
    const char *slash = strchr(id, '/');
    snprintf(org, sizeof org, "%.*s", (int)(slash - id), id);
    snprintf(name, sizeof name, "%s", slash + 1);

    char *cache = cache_dir(), *repo = NULL, *snaps = NULL, *commit = NULL, *snap = NULL;
    char repo_name[300];
    snprintf(repo_name, sizeof repo_name, "models--%s--%s", org, name);
    if (!cache || !(repo = awq_path_join(cache, repo_name)) ||
        !(snaps = awq_path_join(repo, "snapshots"))) {
        st = awq_fail_nomem(ctx, "a cache path", 4096);
        goto done;
    }
    if (!awq_path_is_dir(repo)) {
        st = not_cached(ctx, model, id, rev, repo, "no such directory");
        goto done;
    }
    commit = read_ref(repo, rev ? rev : "main");
    if (!commit && rev && is_hex(rev)) commit = awq_strdup(rev);
    if (!commit && !rev) commit = only_snapshot(snaps);
    if (!commit) {
        char why[300];
        if (rev)
            snprintf(why, sizeof why, "no refs/%.200s and no snapshot of that name", rev);
        else
            snprintf(why, sizeof why, "no refs/main, and not exactly one snapshot");
        st = not_cached(ctx, model, id, rev, repo, why);
        goto done;
    }
    snap = awq_path_join(snaps, commit);
    if (!snap) {
        st = awq_fail_nomem(ctx, "a cache path", 4096);
        goto done;
    }
    if (!awq_path_is_dir(snap)) {
        char why[300];
        snprintf(why, sizeof why, "snapshot %.64s is missing (partial download?)", commit);
        st = not_cached(ctx, model, id, rev, repo, why);
        goto done;
    }
    awq_debug(ctx, "%s: from the Hugging Face cache, %s", model, snap);
    *path_out = snap;
    snap = NULL;
done:
    free(cache);
    free(repo);
    free(snaps);
    free(commit);
    free(snap);
    return st;
}
