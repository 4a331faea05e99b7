/* test_tokenizer_ref — awqkit's tokenizer against the Hugging Face
 * `tokenizers` library (Rust, via its Python binding).
 *
 * The fixture tests/ref/tokenizer_ref.json was made by
 * tests/ref/make_tokenizer_ref.py: for each suite (a tokenizer.json from
 * data/ or tests/ref/tokenizer/, optionally with a JSON patch that swaps in
 * another normalizer / pre-tokenizer / post-processor / decoder / model
 * option / extra added tokens) it holds, for 36 strings covering English,
 * code, numbers, whitespace runs, emoji, CJK, decomposed accents (NFC),
 * Unicode whitespace and special tokens written in the text, the ids
 * tokenizers.Tokenizer.encode gives with and without special tokens and what
 * decode gives back; and for the main tokenizers the ids of the first 20 KB
 * of data/text/wiki.test.raw and a count + FNV-1a-64 checksum of the whole
 * file's ids. This test applies the same patches with cJSON and must agree
 * exactly. Suites: GPT-NeoX (NFC, added whitespace tokens, [a, b] merges),
 * the bundled tiny-llama, GPT-2, Llama-2 SentencePiece-style, a synthetic
 * Llama-3-layout tokenizer (Split + ByteLevel(use_regex=false),
 * ignore_merges), Qwen2 / SmolLM layouts, every Split behaviour, Digits,
 * normalizers, added-token flags, Metaspace prepend schemes, unk / fuse_unk. */
#include "awq_test.h"
#include "text/text_internal.h"

#include <cjson/cJSON.h>

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (fread(b, 1, (size_t)sz, f) != (size_t)sz) exit(2);
    fclose(f);
    b[sz] = 0;
    if (n) *n = (size_t)sz;
    return b;
}

static uint64_t fnv64(const int32_t *ids, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int k = 0; k < 4; k++) {
            h ^= (v >> (8 * k)) & 0xFF;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

static void tokenizer_path(const char *spec, char *out, size_t n) {
    if (strncmp(spec, "ref:", 4) == 0) {
        snprintf(out, n, "%s/ref/%s/tokenizer.json", AWQ_TEST_SRC, spec + 4);
        return;
    }
    snprintf(out, n, "%s/%s", AWQ_TEST_DATA, spec);
}

/* The script's apply_patch: "model" merges keys, "added_tokens_extra"
 * appends, anything else replaces the top-level key. */
static void apply_patch(cJSON *tj, const cJSON *patch) {
    const cJSON *it;
    cJSON_ArrayForEach(it, patch) {
        if (strcmp(it->string, "model") == 0) {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(tj, "model");
            const cJSON *kv;
            cJSON_ArrayForEach(kv, it) {
                cJSON_DeleteItemFromObjectCaseSensitive(m, kv->string);
                cJSON_AddItemToObject(m, kv->string, cJSON_Duplicate(kv, 1));
            }
        } else if (strcmp(it->string, "added_tokens_extra") == 0) {
            cJSON *a = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
            const cJSON *x;
            cJSON_ArrayForEach(x, it) cJSON_AddItemToArray(a, cJSON_Duplicate(x, 1));
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(tj, it->string);
            cJSON_AddItemToObject(tj, it->string, cJSON_Duplicate(it, 1));
        }
    }
}

static size_t ids_of(const cJSON *arr, int32_t **out) {
    size_t n = (size_t)cJSON_GetArraySize(arr);
    int32_t *v = malloc((n ? n : 1) * sizeof *v);
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) v[i++] = (int32_t)x->valuedouble;
    *out = v;
    return n;
}

static void print_ids(const char *label, const int32_t *a, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n && i < 64; i++) fprintf(stderr, " %d", a[i]);
    fprintf(stderr, "%s\n", n > 64 ? " ..." : "");
}

static int suite_failures;

static void compare(const char *suite, const char *text, const char *what, const int32_t *got,
                    size_t ng, const int32_t *want, size_t nw) {
    bool same = ng == nw && (ng == 0 || memcmp(got, want, ng * 4) == 0);
    CHECK_MSG(same, "suite '%s' %s differs for \"%.60s\"", suite, what, text);
    if (!same) {
        print_ids("got ", got, ng);
        print_ids("want", want, nw);
        suite_failures++;
    }
}

static void run_suite(awq_ctx *ctx, const cJSON *suite) {
    const char *name = cJSON_GetObjectItem(suite, "name")->valuestring;
    const char *spec = cJSON_GetObjectItem(suite, "tokenizer")->valuestring;
    const cJSON *patch = cJSON_GetObjectItem(suite, "patch");
    char path[4096];
    tokenizer_path(spec, path, sizeof path);
    awq_tokenizer *tok = NULL;
    if (!patch || cJSON_IsNull(patch)) {
        /* the real loader (directory or file, tokenizer_config.json too) */
        CHECK_OK(ctx, awq_tokenizer_load(ctx, path, &tok));
    } else {
        char file[4200];
        if (awq_path_is_dir(path))
            snprintf(file, sizeof file, "%s/tokenizer.json", path);
        else
            snprintf(file, sizeof file, "%s", path);
        char *raw = slurp(file, NULL);
        cJSON *tj = cJSON_Parse(raw);
        free(raw);
        apply_patch(tj, patch);
        char *js = cJSON_PrintUnformatted(tj);
        CHECK_OK(ctx, awq_tokenizer_load_json(ctx, js, strlen(js), NULL, 0, name, &tok));
        free(js);
        cJSON_Delete(tj);
    }
    if (!tok) return;
    int before = suite_failures;
    const cJSON *c;
    size_t ncases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(suite, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        int32_t *want, *want_sp, *got = NULL, *got_sp = NULL;
        size_t nw = ids_of(cJSON_GetObjectItem(c, "ids"), &want);
        size_t nws = ids_of(cJSON_GetObjectItem(c, "ids_special"), &want_sp);
        size_t ng = 0, ngs = 0;
        CHECK_OK(ctx, awq_tokenizer_encode(tok, text, strlen(text), false, &got, &ng));
        CHECK_OK(ctx, awq_tokenizer_encode(tok, text, strlen(text), true, &got_sp, &ngs));
        compare(name, text, "ids", got, ng, want, nw);
        compare(name, text, "ids with special tokens", got_sp, ngs, want_sp, nws);
        char *dec = NULL;
        size_t dl = 0;
        CHECK_OK(ctx, awq_tokenizer_decode(tok, want, nw, false, &dec, &dl));
        const char *wd = cJSON_GetObjectItem(c, "decoded")->valuestring;
        CHECK_MSG(dec && strcmp(dec, wd) == 0, "suite '%s' decode of \"%.40s\": got \"%.60s\" want \"%.60s\"",
                  name, text, dec ? dec : "(null)", wd);
        awq_free(dec);
        free(want);
        free(want_sp);
        awq_free(got);
        awq_free(got_sp);
        ncases++;
    }
    const cJSON *fc;
    cJSON_ArrayForEach(fc, cJSON_GetObjectItem(suite, "file_checks")) {
        char fp[4096];
        snprintf(fp, sizeof fp, "%s/%s", AWQ_TEST_DATA, cJSON_GetObjectItem(fc, "path")->valuestring);
        size_t n;
        char *raw = slurp(fp, &n);
        long long bytes = (long long)cJSON_GetObjectItem(fc, "bytes")->valuedouble;
        if (bytes >= 0) n = (size_t)bytes;
        int32_t *ids = NULL;
        size_t m = 0;
        CHECK_OK(ctx, awq_tokenizer_encode(tok, raw, n, false, &ids, &m));
        size_t want_n = (size_t)cJSON_GetObjectItem(fc, "n")->valuedouble;
        char hex[32];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv64(ids, m));
        const char *want_hex = cJSON_GetObjectItem(fc, "fnv64")->valuestring;
        CHECK_MSG(m == want_n && strcmp(hex, want_hex) == 0,
                  "suite '%s' %s (%lld bytes): %zu ids %s, want %zu ids %s", name, fp, bytes, m, hex,
                  want_n, want_hex);
        const cJSON *wids = cJSON_GetObjectItem(fc, "ids");
        if (wids) {
            int32_t *w;
            size_t nw = ids_of(wids, &w);
            size_t first = 0;
            while (first < m && first < nw && ids[first] == w[first]) first++;
            CHECK_MSG(m == nw && first == nw, "suite '%s' wiki prefix: first difference at id %zu of %zu",
                      name, first, nw);
            free(w);
        }
        printf("suite %-32s %s%s: %zu ids, fnv %s\n", name, cJSON_GetObjectItem(fc, "path")->valuestring,
               bytes >= 0 ? " (prefix)" : "", m, hex);
        awq_free(ids);
        free(raw);
    }
    printf("suite %-32s %zu cases %s\n", name, ncases, suite_failures == before ? "ok" : "FAILED");
    awq_tokenizer_free(tok);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    char *js = slurp(AWQ_TEST_SRC "/ref/tokenizer_ref.json", NULL);
    cJSON *root = cJSON_Parse(js);
    free(js);
    CHECK(root != NULL);
    if (!root) return awq_test_summary();
    const cJSON *suite;
    int n = 0;
    cJSON_ArrayForEach(suite, cJSON_GetObjectItem(root, "suites")) {
        run_suite(ctx, suite);
        n++;
    }
    CHECK(n >= 20);
    cJSON_Delete(root);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
