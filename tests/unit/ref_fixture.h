/* tests/unit/ref_fixture.h — reading the reference fixtures under
 * tests/ref (JSON, raw float32 logits, token ids) and comparing against
 * them, shared by the tests that check awqkit against transformers
 * (test_forward, test_ct, test_mla). A fixture that cannot be read is a
 * broken checkout: the helpers exit(2) rather than report a test failure. */
#ifndef AWQ_REF_FIXTURE_H
#define AWQ_REF_FIXTURE_H

#include "awq_test.h"
#include "core/core.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* max |a - b| / max |b| over n values (NaN in a difference: INFINITY). */
static inline double ref_rel_err(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

/* The parsed JSON file at path (caller: cJSON_Delete). */
static inline cJSON *ref_load_json(awq_ctx *ctx, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    if (awq_read_file(ctx, path, 64u << 20, &buf, &len) != AWQ_OK) {
        fprintf(stderr, "cannot read %s: %s\n", path, awq_ctx_errmsg(ctx));
        exit(2);
    }
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!j) {
        fprintf(stderr, "bad JSON %s\n", path);
        exit(2);
    }
    return j;
}

/* The raw float32 file at path, *n values (caller frees). */
static inline float *ref_load_f32(awq_ctx *ctx, const char *path, size_t *n) {
    char *buf = NULL;
    size_t len = 0;
    if (awq_read_file(ctx, path, 64u << 20, &buf, &len) != AWQ_OK) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    *n = len / 4;
    float *f = malloc(len ? len : 4);
    memcpy(f, buf, len);
    free(buf);
    return f;
}

/* A JSON array of token ids as int32 (caller frees), *n of them. */
static inline int32_t *ref_json_ids(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++) ids[i] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
    return ids;
}

/* A copy of model fixture tests/ref/models/<name> in a fresh temporary
 * directory (tag names it) with the first `from` replaced by `to`: in
 * config.json, else in the safetensors header (give a same-length
 * replacement there). The directory's path; the caller frees it. A `from`
 * found nowhere is a test failure. */
static inline char *ref_fixture_variant(awq_ctx *ctx, const char *name, const char *tag,
                                        const char *from, const char *to) {
    char *dir = awq_test_tmpdir(tag);
    static const char *const files[] = {"config.json", "model.safetensors"};
    bool done = false;
    for (int f = 0; f < 2; f++) {
        char src[512], path[1024];
        snprintf(src, sizeof src, "%s/ref/models/%s/%s", AWQ_TEST_SRC, name, files[f]);
        char *buf = NULL;
        size_t n = 0;
        CHECK_OK(ctx, awq_read_file(ctx, src, 64u << 20, &buf, &n));
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        FILE *fp = fopen(path, "wb");
        char *at = NULL;
        size_t lf = strlen(from);
        for (size_t k = 0; buf && !done && !at && k + lf <= n; k++)
            if (memcmp(buf + k, from, lf) == 0) at = buf + k;
        if (fp && at) {
            done = true;
            fwrite(buf, 1, (size_t)(at - buf), fp);
            fwrite(to, 1, strlen(to), fp);
            fwrite(at + lf, 1, n - (size_t)(at - buf) - lf, fp);
        } else if (fp && buf) {
            fwrite(buf, 1, n, fp);
        }
        if (fp) fclose(fp);
        free(buf);
    }
    CHECK_MSG(done, "%s: '%s' not found", name, from);
    return dir;
}

#endif
