/* tests/unit/test_writer.c — the sharded atomic writer: round trips through
 * the reader (single, sharded with hand-computed shard assignment, every
 * dtype, out-of-order writes, the bundled model), the on-disk format (index,
 * alignment, metadata), force / no-force, rollback on free and on I/O
 * errors, and that nothing looks complete before finish. */
#include "awq_test.h"
#include "core/core.h"
#include "st_helpers.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <sys/resource.h>

static awq_ctx *ctx;
static char *root;
static int case_no;

static char *fresh_dir(const char *tag, bool create) {
    char name[96];
    snprintf(name, sizeof name, "%s%03d", tag, ++case_no);
    char *d = st_join(root, name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'%s%s%s", d, create ? " && mkdir -p '" : "",
             create ? d : "", create ? "'" : "");
    if (system(cmd) != 0) exit(2);
    return d;
}

/* Deterministic bytes for tensor k. */
static unsigned char *tensor_bytes(size_t k, uint64_t n) {
    unsigned char *b = malloc(n ? n : 1);
    for (uint64_t i = 0; i < n; i++) b[i] = (unsigned char)((i * 31 + k * 17 + (i >> 8)) & 0xff);
    return b;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    b[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

typedef struct tdesc {
    const char *name;
    awq_dtype dt;
    int ndim;
    int64_t shape[4];
} tdesc;

static uint64_t tbytes(const tdesc *t) {
    uint64_t n = awq_dtype_size(t->dt);
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    return n;
}

/* Check a written checkpoint against the descriptions, byte for byte. */
static void verify(const char *dir, const tdesc *v, size_t n) {
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    if (!ck) return;
    CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), n);
    for (size_t k = 0; k < n; k++) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, v[k].name);
        CHECK_MSG(t != NULL, "%s missing", v[k].name);
        if (!t) continue;
        bool ok = t->dtype == v[k].dt && t->ndim == v[k].ndim && t->n_bytes == tbytes(&v[k]);
        for (int d = 0; d < v[k].ndim; d++) ok &= t->shape[d] == v[k].shape[d];
        CHECK_MSG(ok, "%s: dtype/shape differ", v[k].name);
        unsigned char *want = tensor_bytes(k, t->n_bytes);
        CHECK_MSG(t->n_bytes == 0 || memcmp(want, t->data, t->n_bytes) == 0, "%s: bytes differ",
                  v[k].name);
        free(want);
    }
    /* every shard: 8-aligned data area, __metadata__ format pt first */
    for (size_t s = 0; s < awq_checkpoint_n_shards(ck); s++) {
        size_t len;
        char *img = read_all(awq_checkpoint_shard_path(ck, s), &len);
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)img[i];
        CHECK_MSG((8 + hl) % 8 == 0, "shard %zu: data area at %llu", s,
                  (unsigned long long)(8 + hl));
        CHECK(strncmp(img + 8, "{\"__metadata__\":{\"format\":\"pt\"}", 31) == 0);
        const cJSON *m = awq_checkpoint_metadata(ck, s);
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(m, "format");
        CHECK(cJSON_IsString(f) && strcmp(f->valuestring, "pt") == 0);
        free(img);
    }
    awq_checkpoint_free(ck);
}

/* Declare all, write in `order`, finish. */
static void write_all(awq_writer *w, const tdesc *v, size_t n, const size_t *order) {
    for (size_t k = 0; k < n; k++)
        CHECK_OK(ctx, awq_writer_declare(w, v[k].name, v[k].dt, v[k].ndim, v[k].shape));
    for (size_t j = 0; j < n; j++) {
        size_t k = order ? order[j] : j;
        uint64_t nb = tbytes(&v[k]);
        unsigned char *b = tensor_bytes(k, nb);
        CHECK_OK(ctx, awq_writer_write(w, v[k].name, b, nb));
        free(b);
    }
}

static void test_single_all_dtypes(void) {
    tdesc v[AWQ_DT_COUNT + 3];
    static char names[AWQ_DT_COUNT][32];
    size_t n = 0;
    for (int dt = 0; dt < AWQ_DT_COUNT; dt++) {
        snprintf(names[dt], sizeof names[dt], "t.%s", awq_dtype_name((awq_dtype)dt));
        v[n] = (tdesc){names[dt], (awq_dtype)dt, 2, {3, 5 + dt}};
        n++;
    }
    v[n++] = (tdesc){"scalar", AWQ_DT_F64, 0, {0}};
    v[n++] = (tdesc){"empty", AWQ_DT_F32, 2, {0, 4}};
    v[n++] = (tdesc){"caf\xc3\xa9 \"quoted\"\n", AWQ_DT_U8, 1, {3}};
    size_t order[AWQ_DT_COUNT + 3];
    for (size_t i = 0; i < n; i++) order[i] = n - 1 - i; /* reverse */

    char *d = fresh_dir("single", false);
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, NULL, &w));
    if (!w) return;
    write_all(w, v, n, order);
    CHECK_OK(ctx, awq_writer_add_file(w, "config.json", "{\"x\":1}", 7));
    /* before finish: only hidden temporaries */
    int hidden = 0;
    int all = st_count_entries(d, &hidden);
    CHECK_MSG(all == 2 && hidden == 2, "%d entries, %d hidden", all, hidden);
    CHECK(!st_exists(d, "model.safetensors") && !st_exists(d, "config.json"));
    CHECK_OK(ctx, awq_writer_finish(w));
    CHECK_EQ_INT(awq_writer_n_shards(w), 1);
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++) total += tbytes(&v[k]);
    CHECK_EQ_INT(awq_writer_total_bytes(w), total);
    awq_writer_free(w);
    all = st_count_entries(d, &hidden);
    CHECK_MSG(all == 2 && hidden == 0, "%d entries, %d hidden", all, hidden);
    CHECK(st_exists(d, "model.safetensors") && st_exists(d, "config.json"));
    CHECK(!st_exists(d, "model.safetensors.index.json"));
    verify(d, v, n);
    /* header lists tensors in declaration order with exact JSON */
    char *p = st_join(d, "model.safetensors");
    char *img = read_all(p, NULL);
    CHECK(strstr(img + 8, ",\"t.F16\":{\"dtype\":\"F16\",\"shape\":[3,5],\"data_offsets\":[0,30]},"
                      "\"t.BF16\":{\"dtype\":\"BF16\",\"shape\":[3,6],\"data_offsets\":[30,66]}"));
    CHECK(strstr(img + 8, "\"caf\xc3\xa9 \\\"quoted\\\"\\n\":{\"dtype\":\"U8\"") != NULL);
    free(img);
    free(p);
    free(d);
}

static void test_sharded(void) {
    /* cap 100: sizes 40 40 | 40 | 150 (alone) | 10 | 100 0 | 1 */
    tdesc v[] = {
        {"t0", AWQ_DT_F32, 1, {10}}, {"t1", AWQ_DT_F16, 2, {4, 5}}, {"t2", AWQ_DT_U8, 1, {40}},
        {"t3", AWQ_DT_F64, 2, {3, 6}}, /* 144 > 100: its own shard */
        {"t4", AWQ_DT_I16, 1, {5}}, {"t5", AWQ_DT_I32, 2, {5, 5}}, {"t6", AWQ_DT_F32, 1, {0}},
        {"t7", AWQ_DT_BOOL, 0, {0}},
    };
    const int want_shard[] = {1, 1, 2, 3, 4, 5, 5, 6};
    const size_t n = AWQ_ARRAY_LEN(v);
    const size_t order[] = {5, 3, 7, 0, 6, 2, 4, 1};
    char *d = fresh_dir("sharded", false);
    awq_writer_params p = awq_writer_default_params();
    p.max_shard_bytes = 100;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, &p, &w));
    if (!w) return;
    write_all(w, v, n, order);
    CHECK_EQ_INT(awq_writer_n_shards(w), 6);
    /* nothing looks complete yet */
    int hidden = 0, all = st_count_entries(d, &hidden);
    CHECK_MSG(all == hidden && all == 6, "%d entries, %d hidden", all, hidden);
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    all = st_count_entries(d, &hidden);
    CHECK_MSG(all == 7 && hidden == 0, "%d entries, %d hidden", all, hidden);
    verify(d, v, n);

    /* the index: total_size, sorted keys, transformers shard names */
    char *ip = st_join(d, "model.safetensors.index.json");
    char *text = read_all(ip, NULL);
    cJSON *idx = cJSON_Parse(text);
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(idx, "metadata"), "total_size");
    uint64_t total = 0;
    for (size_t k = 0; k < n; k++) total += tbytes(&v[k]);
    CHECK_EQ_INT(total, 80 + 40 + 144 + 10 + 100 + 1);
    CHECK(cJSON_IsNumber(ts) && ts->valuedouble == (double)total);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    CHECK_EQ_INT(cJSON_GetArraySize(wm), n);
    for (size_t k = 0; k < n; k++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(wm, v[k].name);
        char want[64];
        snprintf(want, sizeof want, "model-%05d-of-00006.safetensors", want_shard[k]);
        CHECK_MSG(cJSON_IsString(e) && strcmp(e->valuestring, want) == 0, "%s -> %s (want %s)",
                  v[k].name, cJSON_IsString(e) ? e->valuestring : "?", want);
    }
    const char *prev = "";
    for (const cJSON *e = wm ? wm->child : NULL; e; e = e->next) {
        CHECK_MSG(strcmp(prev, e->string) < 0, "weight_map not sorted at %s", e->string);
        prev = e->string;
    }
    cJSON_Delete(idx);
    free(text);
    free(ip);
    free(d);
}

static void test_force(void) {
    tdesc a[] = {{"x", AWQ_DT_F32, 1, {30}}, {"y", AWQ_DT_F32, 1, {30}}, {"z", AWQ_DT_F32, 1, {30}}};
    tdesc b[] = {{"only", AWQ_DT_U8, 1, {7}}};
    char *d = fresh_dir("force", true);
    char *readme = st_join(d, "README.md");
    st_put_text(readme, "hello");
    /* a directory with unrelated files is not a checkpoint */
    awq_writer_params p = awq_writer_default_params();
    p.max_shard_bytes = 128;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, &p, &w));
    write_all(w, a, 3, NULL);
    CHECK_OK(ctx, awq_writer_add_file(w, "config.json", "{}", 2));
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    CHECK(st_exists(d, "model-00003-of-00003.safetensors"));
    verify(d, a, 3);

    /* now it is: refused without force, naming --force */
    w = NULL;
    CHECK_FAILS(ctx, awq_writer_create(ctx, d, NULL, &w), AWQ_ERR_EXISTS, "use --force");
    CHECK(w == NULL);
    CHECK(strstr(awq_ctx_errmsg(ctx), d) != NULL);
    /* with force, a single-file checkpoint replaces the sharded one */
    awq_writer_params pf = awq_writer_default_params();
    pf.force = true;
    pf.max_shard_bytes = 128;
    CHECK_OK(ctx, awq_writer_create(ctx, d, &pf, &w));
    write_all(w, b, 1, NULL);
    /* the old checkpoint is intact until finish */
    CHECK(st_exists(d, "model.safetensors.index.json") && st_exists(d, "model-00001-of-00003.safetensors"));
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    int hidden, all = st_count_entries(d, &hidden);
    CHECK_MSG(all == 3 && hidden == 0, "%d entries", all); /* README, config, model */
    CHECK(st_exists(d, "README.md") && st_exists(d, "config.json") &&
          st_exists(d, "model.safetensors"));
    verify(d, b, 1);

    /* and back: sharded replaces single */
    CHECK_OK(ctx, awq_writer_create(ctx, d, &pf, &w));
    write_all(w, a, 3, NULL);
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    CHECK(!st_exists(d, "model.safetensors"));
    all = st_count_entries(d, &hidden);
    CHECK_MSG(all == 6, "%d entries", all); /* README, config, 3 shards, index */
    verify(d, a, 3);

    /* fewer shards than before: the stale third one goes */
    tdesc c[] = {{"x", AWQ_DT_F32, 1, {30}}, {"q", AWQ_DT_F32, 1, {30}}};
    CHECK_OK(ctx, awq_writer_create(ctx, d, &pf, &w));
    write_all(w, c, 2, NULL);
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    CHECK(!st_exists(d, "model-00003-of-00003.safetensors"));
    CHECK(st_exists(d, "model-00002-of-00002.safetensors"));
    all = st_count_entries(d, &hidden);
    CHECK_MSG(all == 5, "%d entries", all);
    verify(d, c, 2);

    /* the same layout twice: every shard name exists and gets replaced */
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(ctx, awq_writer_create(ctx, d, &pf, &w));
        write_all(w, a, 3, NULL);
        CHECK_OK(ctx, awq_writer_finish(w));
        awq_writer_free(w);
    }
    all = st_count_entries(d, &hidden);
    CHECK_MSG(all == 6 && hidden == 0, "%d entries", all);
    verify(d, a, 3);

    /* only a config.json also counts as a checkpoint */
    char *d2 = fresh_dir("cfgonly", true);
    char *cp = st_join(d2, "config.json");
    st_put_text(cp, "{}");
    CHECK_FAILS(ctx, awq_writer_create(ctx, d2, NULL, &w), AWQ_ERR_EXISTS, "config.json");
    /* a file where the directory should be */
    CHECK_FAILS(ctx, awq_writer_create(ctx, cp, &pf, &w), AWQ_ERR_EXISTS, "not a directory");
    free(cp);
    free(d2);
    free(readme);
    free(d);
}

static void test_rollback(void) {
    tdesc v[] = {{"a", AWQ_DT_F16, 2, {8, 8}}, {"b", AWQ_DT_F16, 2, {8, 8}}};
    awq_writer_params p = awq_writer_default_params();
    p.max_shard_bytes = 128;
    /* a directory the writer created disappears again */
    char *d = fresh_dir("rollback", false);
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, &p, &w));
    for (size_t k = 0; k < 2; k++)
        CHECK_OK(ctx, awq_writer_declare(w, v[k].name, v[k].dt, v[k].ndim, v[k].shape));
    unsigned char *b = tensor_bytes(0, 128);
    CHECK_OK(ctx, awq_writer_write(w, "b", b, 128));
    CHECK_OK(ctx, awq_writer_add_file(w, "tokenizer.json", "{}", 2));
    int hidden;
    CHECK_EQ_INT(st_count_entries(d, &hidden), 3); /* 2 shards + aux, all hidden */
    CHECK_EQ_INT(hidden, 3);
    awq_writer_free(w);
    CHECK(st_count_entries(d, NULL) == -1); /* gone */
    free(d);

    /* an existing directory keeps exactly what it had */
    d = fresh_dir("rollback", true);
    char *keep = st_join(d, "keep.txt");
    st_put_text(keep, "x");
    CHECK_OK(ctx, awq_writer_create(ctx, d, &p, &w));
    for (size_t k = 0; k < 2; k++)
        CHECK_OK(ctx, awq_writer_declare(w, v[k].name, v[k].dt, v[k].ndim, v[k].shape));
    CHECK_OK(ctx, awq_writer_write(w, "a", b, 128));
    /* finish with a tensor missing: refused, naming it; still usable */
    CHECK_FAILS(ctx, awq_writer_finish(w), AWQ_ERR_INVALID_ARG, "tensor 'b' was declared but never written");
    CHECK_EQ_INT(st_count_entries(d, &hidden), 3);
    awq_writer_free(w);
    CHECK_EQ_INT(st_count_entries(d, &hidden), 1);
    CHECK(st_exists(d, "keep.txt"));
    free(keep);
    free(b);
    free(d);
    awq_writer_free(NULL);
}

static void test_api_errors(void) {
    char *d = fresh_dir("errors", false);
    awq_writer *w = NULL;
    awq_writer_params p = awq_writer_default_params();
    p.max_shard_bytes = 0;
    CHECK_FAILS(ctx, awq_writer_create(ctx, d, &p, &w), AWQ_ERR_INVALID_ARG, "max_shard_bytes");
    p = awq_writer_default_params();
    p.base_name = "../evil";
    CHECK_FAILS(ctx, awq_writer_create(ctx, d, &p, &w), AWQ_ERR_INVALID_ARG, "base_name");
    CHECK_OK(ctx, awq_writer_create(ctx, d, NULL, &w));
    if (!w) return;
    int64_t sh[] = {2, 3}, neg[] = {-1};
    CHECK_OK(ctx, awq_writer_declare(w, "w", AWQ_DT_F32, 2, sh));
    CHECK_FAILS(ctx, awq_writer_declare(w, "w", AWQ_DT_F16, 2, sh), AWQ_ERR_INVALID_ARG,
                "tensor 'w' declared twice");
    CHECK_FAILS(ctx, awq_writer_declare(w, "", AWQ_DT_F16, 2, sh), AWQ_ERR_INVALID_ARG, "empty");
    CHECK_FAILS(ctx, awq_writer_declare(w, "__metadata__", AWQ_DT_F16, 2, sh), AWQ_ERR_INVALID_ARG,
                "reserved");
    CHECK_FAILS(ctx, awq_writer_declare(w, "bad\xff", AWQ_DT_F16, 2, sh), AWQ_ERR_INVALID_ARG,
                "UTF-8");
    CHECK_FAILS(ctx, awq_writer_declare(w, "n", AWQ_DT_F16, 1, neg), AWQ_ERR_INVALID_ARG,
                "negative dimension -1");
    CHECK_FAILS(ctx, awq_writer_declare(w, "r", AWQ_DT_F16, 9, sh), AWQ_ERR_INVALID_ARG, "rank 9");
    CHECK_FAILS(ctx, awq_writer_declare(w, "d", AWQ_DT_COUNT, 2, sh), AWQ_ERR_INVALID_ARG,
                "invalid dtype");
    int64_t huge[] = {INT64_MAX, 4};
    CHECK_FAILS(ctx, awq_writer_declare(w, "h", AWQ_DT_F16, 2, huge), AWQ_ERR_INVALID_ARG,
                "overflows");
    CHECK_OK(ctx, awq_writer_declare(w, "s", AWQ_DT_U8, 0, NULL));
    float data[6] = {1, 2, 3, 4, 5, 6};
    CHECK_FAILS(ctx, awq_writer_write(w, "nope", data, 24), AWQ_ERR_INVALID_ARG,
                "tensor 'nope' was not declared");
    CHECK_FAILS(ctx, awq_writer_write(w, "w", data, 20), AWQ_ERR_MISMATCH,
                "got 20 bytes, its declared F32 shape needs 24");
    CHECK_OK(ctx, awq_writer_write(w, "w", data, 24));
    CHECK_FAILS(ctx, awq_writer_write(w, "w", data, 24), AWQ_ERR_INVALID_ARG, "written twice");
    CHECK_FAILS(ctx, awq_writer_declare(w, "late", AWQ_DT_F16, 2, sh), AWQ_ERR_INVALID_ARG,
                "after the first write");
    CHECK_FAILS(ctx, awq_writer_add_file(w, "x.safetensors", "a", 1), AWQ_ERR_INVALID_ARG,
                "collide");
    CHECK_FAILS(ctx, awq_writer_add_file(w, "model.safetensors.index.json", "a", 1),
                AWQ_ERR_INVALID_ARG, "collide");
    CHECK_FAILS(ctx, awq_writer_add_file(w, "../x", "a", 1), AWQ_ERR_INVALID_ARG, "plain file name");
    CHECK_FAILS(ctx, awq_writer_add_file(w, ".hidden", "a", 1), AWQ_ERR_INVALID_ARG, "plain file name");
    CHECK_OK(ctx, awq_writer_add_file(w, "a.json", "a", 1));
    CHECK_FAILS(ctx, awq_writer_add_file(w, "a.json", "a", 1), AWQ_ERR_INVALID_ARG, "added twice");
    CHECK_FAILS(ctx, awq_writer_copy_file(w, "b.json", "/nonexistent/file"), AWQ_ERR_NOT_FOUND,
                "/nonexistent/file");
    /* copy a real file */
    CHECK_OK(ctx, awq_writer_copy_file(w, "config.json", AWQ_TEST_DATA "/tiny-llama/config.json"));
    unsigned char one = 1;
    CHECK_OK(ctx, awq_writer_write(w, "s", &one, 1));
    CHECK_OK(ctx, awq_writer_finish(w));
    CHECK_FAILS(ctx, awq_writer_write(w, "s", &one, 1), AWQ_ERR_INVALID_ARG, "already finished");
    CHECK_FAILS(ctx, awq_writer_finish(w), AWQ_ERR_INVALID_ARG, "already finished");
    awq_writer_free(w);
    char *cp = st_join(d, "config.json");
    size_t l1, l2;
    char *c1 = read_all(cp, &l1), *c2 = read_all(AWQ_TEST_DATA "/tiny-llama/config.json", &l2);
    CHECK(c1 && c2 && l1 == l2 && memcmp(c1, c2, l1) == 0);
    free(c1);
    free(c2);
    free(cp);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) {
        CHECK(awq_checkpoint_n_tensors(ck) == 2 && awq_checkpoint_config(ck) != NULL);
        const awq_tensor_info *t = awq_checkpoint_find(ck, "w");
        float back[6];
        if (t) CHECK_OK(ctx, awq_tensor_to_f32(ctx, t, back));
        CHECK(t && memcmp(back, data, sizeof data) == 0);
    }
    awq_checkpoint_free(ck);
    free(d);

    /* no tensors at all: an empty but valid model.safetensors */
    d = fresh_dir("empty", false);
    CHECK_OK(ctx, awq_writer_create(ctx, d, NULL, &w));
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) CHECK(awq_checkpoint_n_tensors(ck) == 0 && awq_checkpoint_n_shards(ck) == 1);
    awq_checkpoint_free(ck);
    free(d);
}

/* Write errors: a file-size limit makes the kernel refuse with EFBIG, the
 * same path as a full disk. */
static void test_io_errors(void) {
    struct rlimit old;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) return;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = 4096;

    char *d = fresh_dir("ioerr", true);
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, NULL, &w));
    int64_t sh[] = {64, 64};
    CHECK_OK(ctx, awq_writer_declare(w, "big", AWQ_DT_F32, 2, sh));
    unsigned char *b = tensor_bytes(0, 64 * 64 * 4);
    setrlimit(RLIMIT_FSIZE, &lim);
    CHECK_FAILS(ctx, awq_writer_write(w, "big", b, 64 * 64 * 4), AWQ_ERR_IO, "model.safetensors");
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(st_count_entries(d, NULL), 0); /* temporaries removed */
    CHECK_FAILS(ctx, awq_writer_write(w, "big", b, 64 * 64 * 4), AWQ_ERR_INVALID_ARG,
                "failed earlier");
    CHECK_FAILS(ctx, awq_writer_finish(w), AWQ_ERR_INVALID_ARG, "failed earlier");
    awq_writer_free(w);
    CHECK_EQ_INT(st_count_entries(d, NULL), 0);

    /* an aux file that does not fit */
    CHECK_OK(ctx, awq_writer_create(ctx, d, NULL, &w));
    CHECK_OK(ctx, awq_writer_add_file(w, "small.json", "{}", 2));
    setrlimit(RLIMIT_FSIZE, &lim);
    CHECK_FAILS(ctx, awq_writer_add_file(w, "big.bin", b, 64 * 64 * 4), AWQ_ERR_IO, "big.bin");
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(st_count_entries(d, NULL), 0);
    awq_writer_free(w);

    /* copy_file: same */
    char *src = st_join(root, "big-src.bin");
    st_put_raw(src, b, 64 * 64 * 4);
    CHECK_OK(ctx, awq_writer_create(ctx, d, NULL, &w));
    setrlimit(RLIMIT_FSIZE, &lim);
    CHECK_FAILS(ctx, awq_writer_copy_file(w, "tokenizer.json", src), AWQ_ERR_IO, "tokenizer.json");
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_EQ_INT(st_count_entries(d, NULL), 0);
    awq_writer_free(w);
    free(src);
    free(b);
    free(d);
    signal(SIGXFSZ, prev);
}

/* Many tensors: the name set stays linear, and the layout scales. */
static void test_many(void) {
    enum { N = 20000 };
    char *d = fresh_dir("many", false);
    awq_writer_params p = awq_writer_default_params();
    p.max_shard_bytes = 4096;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, &p, &w));
    char name[64];
    int64_t sh[] = {2};
    bool ok = true;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "layers.%d.weight", i);
        ok &= awq_writer_declare(w, name, AWQ_DT_U8, 1, sh) == AWQ_OK;
    }
    CHECK(ok);
    CHECK_FAILS(ctx, awq_writer_declare(w, "layers.12345.weight", AWQ_DT_U8, 1, sh),
                AWQ_ERR_INVALID_ARG, "declared twice");
    for (int i = N - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "layers.%d.weight", i);
        unsigned char two[2] = {(unsigned char)i, (unsigned char)(i >> 8)};
        ok &= awq_writer_write(w, name, two, 2) == AWQ_OK;
    }
    CHECK(ok);
    CHECK_OK(ctx, awq_writer_finish(w));
    CHECK_EQ_INT(awq_writer_n_shards(w), (N * 2 + 4095) / 4096);
    awq_writer_free(w);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) {
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), N);
        const awq_tensor_info *t = awq_checkpoint_find(ck, "layers.4242.weight");
        CHECK(t && ((const unsigned char *)t->data)[0] == (4242 & 0xff) &&
              ((const unsigned char *)t->data)[1] == (4242 >> 8));
    }
    awq_checkpoint_free(ck);
    free(d);
}

/* The bundled model, re-sharded (4 MB cap) and read back identically. */
static void test_reshard_tiny_llama(void) {
    awq_checkpoint *in = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, AWQ_TEST_DATA "/tiny-llama", &in));
    if (!in) return;
    char *d = fresh_dir("reshard", false);
    awq_writer_params p = awq_writer_default_params();
    p.max_shard_bytes = 4u << 20;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, &p, &w));
    size_t n = awq_checkpoint_n_tensors(in);
    for (size_t i = 0; i < n; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(in, i);
        CHECK_OK(ctx, awq_writer_declare(w, t->name, t->dtype, t->ndim, t->shape));
    }
    for (size_t i = n; i-- > 0;) {
        const awq_tensor_info *t = awq_checkpoint_tensor(in, i);
        CHECK_OK(ctx, awq_writer_write(w, t->name, t->data, t->n_bytes));
    }
    CHECK_OK(ctx, awq_writer_copy_file(w, "config.json", AWQ_TEST_DATA "/tiny-llama/config.json"));
    CHECK_OK(ctx, awq_writer_finish(w));
    CHECK(awq_writer_n_shards(w) >= 3);
    awq_writer_free(w);
    awq_checkpoint *out = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &out));
    if (out) {
        CHECK_EQ_INT(awq_checkpoint_n_tensors(out), n);
        CHECK_EQ_INT(awq_checkpoint_total_bytes(out), awq_checkpoint_total_bytes(in));
        bool same = true;
        for (size_t i = 0; i < n; i++) {
            const awq_tensor_info *a = awq_checkpoint_tensor(in, i);
            const awq_tensor_info *b = awq_checkpoint_find(out, a->name);
            same &= b && b->dtype == a->dtype && b->ndim == a->ndim &&
                    memcmp(a->shape, b->shape, sizeof a->shape) == 0 && b->n_bytes == a->n_bytes &&
                    memcmp(a->data, b->data, a->n_bytes) == 0;
            /* data areas start 8-aligned, so F16 tensors are 2-aligned */
            same &= ((uintptr_t)b->data % 2) == 0;
        }
        CHECK(same);
        CHECK(awq_checkpoint_config(out) != NULL);
    }
    awq_checkpoint_free(out);
    awq_checkpoint_free(in);
    free(d);
}

/* Same tensors, same order, same cap as transformers' save_pretrained in
 * tests/ref/io/hf_sharded (max_shard_size "4KB" = 4000 bytes): the same
 * shard for every tensor, and the data round-trips. */
static void test_matches_transformers(void) {
    awq_checkpoint *in = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, AWQ_TEST_SRC "/ref/io/hf_sharded", &in));
    char *text = read_all(AWQ_TEST_SRC "/ref/io/hf_sharded.json", NULL);
    cJSON *ref = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(ref != NULL);
    if (!in || !ref) {
        awq_checkpoint_free(in);
        cJSON_Delete(ref);
        return;
    }
    size_t n = awq_checkpoint_n_tensors(in);
    const char **order = calloc(n, sizeof *order);
    for (const cJSON *e = ref->child; e; e = e->next) {
        int k = cJSON_GetObjectItemCaseSensitive(e, "order")->valueint;
        if (k >= 0 && (size_t)k < n) order[k] = e->string;
    }
    char *d = fresh_dir("hf", false);
    awq_writer_params p = awq_writer_default_params();
    p.max_shard_bytes = 4000;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, d, &p, &w));
    for (size_t k = 0; k < n; k++) {
        const awq_tensor_info *t = order[k] ? awq_checkpoint_find(in, order[k]) : NULL;
        CHECK(t != NULL);
        if (t) CHECK_OK(ctx, awq_writer_declare(w, t->name, t->dtype, t->ndim, t->shape));
    }
    for (size_t k = 0; k < n; k++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(in, k);
        CHECK_OK(ctx, awq_writer_write(w, t->name, t->data, t->n_bytes));
    }
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    awq_checkpoint *out = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &out));
    if (out) {
        CHECK_EQ_INT(awq_checkpoint_n_shards(out), 4);
        for (const cJSON *e = ref->child; e; e = e->next) {
            const char *shard = cJSON_GetObjectItemCaseSensitive(e, "shard")->valuestring;
            const awq_tensor_info *a = awq_checkpoint_find(in, e->string);
            const awq_tensor_info *b = awq_checkpoint_find(out, e->string);
            CHECK_MSG(b && strcmp(awq_path_basename(awq_checkpoint_shard_path(out, (size_t)b->shard)),
                                  shard) == 0,
                      "%s: not in %s", e->string, shard);
            CHECK(a && b && a->n_bytes == b->n_bytes && memcmp(a->data, b->data, a->n_bytes) == 0);
        }
    }
    awq_checkpoint_free(out);
    awq_checkpoint_free(in);
    cJSON_Delete(ref);
    free(order);
    free(d);
}

int main(void) {
    ctx = awq_test_ctx(1);
    root = awq_test_tmpdir("test_writer");
    test_single_all_dtypes();
    test_sharded();
    test_force();
    test_rollback();
    test_api_errors();
    test_io_errors();
    test_many();
    test_reshard_tiny_llama();
    test_matches_transformers();
    free(root);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
