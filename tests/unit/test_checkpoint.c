/* tests/unit/test_checkpoint.c — model directories: the index, config.json,
 * which weights a directory holds, the bundled tiny model, and opening a
 * 70B-shaped sharded checkpoint (sparse files) in well under a second. */
#include "awq_test.h"
#include "core/core.h"
#include "st_helpers.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static awq_ctx *ctx;
static char *root;
static int case_no;

#define S1 "model-00001-of-00002.safetensors"
#define S2 "model-00002-of-00002.safetensors"
#define IDX "model.safetensors.index.json"
#define T(n, dt, shape, b, e) "\"" n "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

/* shard 1: a (F16 [2,2], 8 B), b (F32 [3], 12 B); shard 2: c (U8 [5]) */
static const char *H1 = "{\"__metadata__\":{\"format\":\"pt\"}," T("a", "F16", "[2,2]", 0, 8) ","
                        T("b", "F32", "[3]", 8, 20) "}";
static const char *H2 = "{" T("c", "U8", "[5]", 0, 5) "}";
static const char *GOOD_INDEX =
    "{\"metadata\":{\"total_size\":25},\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1
    "\",\"c\":\"" S2 "\"}}";
static const char *CONFIG = "{\"model_type\":\"llama\",\"hidden_size\":4}";

/* A fresh directory holding the good two-shard checkpoint, with `index`
 * (NULL: none) and `config` (NULL: none). */
static char *make_dir(const char *index, const char *config) {
    char name[64];
    snprintf(name, sizeof name, "case%03d", ++case_no);
    char *d = st_join(root, name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    if (system(cmd) != 0) exit(2);
    free(st_put(d, S1, H1, 20));
    free(st_put(d, S2, H2, 5));
    if (index) {
        char *p = st_join(d, IDX);
        st_put_text(p, index);
        free(p);
    }
    if (config) {
        char *p = st_join(d, "config.json");
        st_put_text(p, config);
        free(p);
    }
    return d;
}

static void expect_dir_fails(const char *dir, awq_status want, const char *needle,
                             const char *names) {
    awq_checkpoint *ck = NULL;
    awq_status s = awq_checkpoint_open(ctx, dir, &ck);
    CHECK_MSG(s == want, "%s: got %s (%s), want %s", dir, awq_strerror(s), awq_ctx_errmsg(ctx),
              awq_strerror(want));
    CHECK(ck == NULL);
    const char *m = awq_ctx_errmsg(ctx);
    CHECK_MSG(strstr(m, needle) != NULL, "message '%s' lacks '%s'", m, needle);
    if (names) CHECK_MSG(strstr(m, names) != NULL, "message '%s' does not name '%s'", m, names);
}

static const char *warned;
static char warn_buf[1024];
static void capture_log(void *u, awq_log_level l, const char *m) {
    (void)u;
    if (l == AWQ_LOG_WARN) {
        snprintf(warn_buf, sizeof warn_buf, "%s", m);
        warned = warn_buf;
    }
}

static void test_good_sharded(void) {
    char *d = make_dir(GOOD_INDEX, CONFIG);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) {
        CHECK_EQ_INT(awq_checkpoint_n_shards(ck), 2);
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), 3);
        CHECK(strcmp(awq_checkpoint_dir(ck), d) == 0);
        CHECK(strstr(awq_checkpoint_shard_path(ck, 0), S1) != NULL);
        CHECK(strstr(awq_checkpoint_shard_path(ck, 1), S2) != NULL);
        CHECK_EQ_INT(awq_checkpoint_shard_bytes(ck, 0), 8 + strlen(H1) + 20);
        CHECK_EQ_INT(awq_checkpoint_total_bytes(ck), 25);
        const awq_tensor_info *c = awq_checkpoint_find(ck, "c");
        CHECK(c && c->shard == 1 && c->file_offset == 8 + strlen(H2) && c->n_bytes == 5);
        /* data points into the mapping: byte i of shard 2's data area */
        if (c) {
            const unsigned char *p = c->data;
            CHECK(p[0] == 3 && p[1] == 10 && p[4] == 31);
        }
        const awq_tensor_info *b = awq_checkpoint_find(ck, "b");
        if (b) CHECK(((const unsigned char *)b->data)[0] == (8 * 7 + 3));
        CHECK(awq_checkpoint_tensor(ck, 0) == awq_checkpoint_find(ck, "a"));
        CHECK(awq_checkpoint_tensor(ck, 2) == c);
        CHECK(awq_checkpoint_tensor(ck, 3) == NULL);
        const cJSON *cfg = awq_checkpoint_config(ck);
        const cJSON *hs = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_size");
        CHECK(cJSON_IsNumber(hs) && hs->valueint == 4);
        const cJSON *m0 = awq_checkpoint_metadata(ck, 0);
        CHECK(m0 && cJSON_GetObjectItemCaseSensitive(m0, "format"));
        CHECK(awq_checkpoint_metadata(ck, 1) == NULL);
        awq_checkpoint_free(ck);
    }
    /* the index file itself as the path: same checkpoint, with config */
    char *ip = st_join(d, IDX);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, ip, &ck));
    if (ck) {
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), 3);
        CHECK(awq_checkpoint_config(ck) != NULL);
        awq_checkpoint_free(ck);
    }
    free(ip);
    /* a trailing slash on the directory */
    char *ds = malloc(strlen(d) + 2);
    sprintf(ds, "%s/", d);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, ds, &ck));
    if (ck) CHECK(strcmp(awq_checkpoint_dir(ck), d) == 0);
    awq_checkpoint_free(ck);
    free(ds);
    /* one shard opened as a bare file: no config, its own tensors only */
    char *sp = st_join(d, S2);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, sp, &ck));
    if (ck) {
        CHECK(awq_checkpoint_config(ck) == NULL && awq_checkpoint_n_tensors(ck) == 1);
        CHECK(strcmp(awq_checkpoint_dir(ck), d) == 0);
        awq_checkpoint_free(ck);
    }
    free(sp);
    free(d);

    /* no config.json: allowed, config is NULL */
    d = make_dir(GOOD_INDEX, NULL);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) CHECK(awq_checkpoint_config(ck) == NULL);
    awq_checkpoint_free(ck);
    free(d);

    /* total_size that disagrees only warns */
    awq_ctx_params p = awq_ctx_default_params();
    p.log = capture_log;
    p.log_level = AWQ_LOG_WARN;
    p.n_threads = 1;
    awq_ctx *wctx = NULL;
    awq_ctx_create(&p, &wctx);
    d = make_dir("{\"metadata\":{\"total_size\":999},\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1
                 "\",\"c\":\"" S2 "\"}}",
                 CONFIG);
    warned = NULL;
    CHECK_OK(wctx, awq_checkpoint_open(wctx, d, &ck));
    CHECK(warned && strstr(warned, "total_size is 999 but the tensors hold 25 bytes"));
    awq_checkpoint_free(ck);
    awq_ctx_free(wctx);
    free(d);

    /* no metadata at all in the index */
    d = make_dir("{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1 "\",\"c\":\"" S2 "\"}}", CONFIG);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    awq_checkpoint_free(ck);
    free(d);
}

static void test_bad_index(void) {
    struct {
        const char *index;
        awq_status st;
        const char *needle;
        const char *names;
    } cases[] = {
        {"{\"weight_map\":{\"a\":\"../" S1 "\",\"b\":\"" S1 "\",\"c\":\"" S2 "\"}}",
         AWQ_ERR_FORMAT, "maps to shard '../" S1 "', which is not a plain file name", "'a'"},
        {"{\"weight_map\":{\"a\":\"/etc/passwd\",\"b\":\"" S1 "\",\"c\":\"" S2 "\"}}",
         AWQ_ERR_FORMAT, "not a plain file name", "/etc/passwd"},
        {"{\"weight_map\":{\"a\":\"sub/x.safetensors\",\"b\":\"" S1 "\",\"c\":\"" S2 "\"}}",
         AWQ_ERR_FORMAT, "not a plain file name", "sub/x"},
        {"{\"weight_map\":{\"a\":\"..\",\"b\":\"" S1 "\",\"c\":\"" S2 "\"}}", AWQ_ERR_FORMAT,
         "not a plain file name", "'..'"},
        {"{\"weight_map\":{\"a\":\"\",\"b\":\"" S1 "\",\"c\":\"" S2 "\"}}", AWQ_ERR_FORMAT,
         "not a plain file name", "'a'"},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1 "\",\"c\":\"" S2
         "\",\"d\":\"model-00003-of-00003.safetensors\"}}",
         AWQ_ERR_NOT_FOUND, "shard 'model-00003-of-00003.safetensors' (holding tensor 'd') does not exist",
         IDX},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1 "\",\"c\":\"" S2 "\",\"d\":\"" S2 "\"}}",
         AWQ_ERR_FORMAT, "tensor 'd' is mapped to shard '" S2 "', which does not contain it", IDX},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S2 "\",\"c\":\"" S2 "\"}}", AWQ_ERR_FORMAT,
         "tensor 'b' is mapped to shard '" S2 "', which does not contain it (it is in", S1},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1 "\",\"c\":\"" S1 "\"}}", AWQ_ERR_FORMAT,
         "tensor 'c' is mapped to shard '" S1 "', which does not contain it", IDX},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\"c\":\"" S2 "\"}}", AWQ_ERR_FORMAT,
         "tensor 'b' is not listed in", S1},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1 "\",\"c\":\"" S2 "\",\"a\":\"" S1 "\"}}",
         AWQ_ERR_FORMAT, "tensor 'a' appears twice in weight_map", IDX},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1 "\",\"c\":\"" S2 "\"}", AWQ_ERR_FORMAT,
         "malformed JSON at line 1", IDX},
        {"{\"weight_map\":{\"a\":\"" S1 "\",\n\"b\":\"" S1 "\",\n\"c\":\"" S2 "\",}}",
         AWQ_ERR_FORMAT, "malformed JSON at line 3", IDX},
        {"{\"weight_map\":{}} trailing", AWQ_ERR_FORMAT, "malformed JSON", IDX},
        {"", AWQ_ERR_FORMAT, "malformed JSON", IDX},
        {"[1,2]", AWQ_ERR_FORMAT, "top level must be a JSON object", IDX},
        {"{\"metadata\":{}}", AWQ_ERR_FORMAT, "missing \"weight_map\" object", IDX},
        {"{\"weight_map\":[]}", AWQ_ERR_FORMAT, "missing \"weight_map\" object", IDX},
        {"{\"weight_map\":{}}", AWQ_ERR_FORMAT, "\"weight_map\" is empty", IDX},
        {"{\"weight_map\":{\"a\":1,\"b\":\"" S1 "\",\"c\":\"" S2 "\"}}", AWQ_ERR_FORMAT,
         "weight_map entry for tensor 'a' must be a string", IDX},
        {"{\"metadata\":{\"total_size\":\"big\"},\"weight_map\":{\"a\":\"" S1 "\"}}",
         AWQ_ERR_FORMAT, "total_size must be a non-negative number", IDX},
        {"{\"metadata\":5,\"weight_map\":{\"a\":\"" S1 "\"}}", AWQ_ERR_FORMAT,
         "\"metadata\" must be an object", IDX},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(cases); i++) {
        char *d = make_dir(cases[i].index, CONFIG);
        expect_dir_fails(d, cases[i].st, cases[i].needle, cases[i].names);
        free(d);
    }
    /* a tensor in two shards (the index lists it once) */
    char *d = make_dir(GOOD_INDEX, CONFIG);
    free(st_put(d, S2, "{" T("c", "U8", "[5]", 0, 5) "," T("a", "F16", "[2,2]", 5, 13) "}", 13));
    expect_dir_fails(d, AWQ_ERR_FORMAT, "tensor 'a' appears in two shards", S1);
    free(d);
    /* a bad shard header: the message names that shard */
    d = make_dir(GOOD_INDEX, CONFIG);
    free(st_put(d, S2, "{" T("c", "U8", "[5]", 0, 4) "}", 5));
    expect_dir_fails(d, AWQ_ERR_FORMAT, "cover 4 bytes but U8 [5] needs 5", S2);
    free(d);
    /* a shard name that is a directory */
    d = make_dir("{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S1 "\",\"c\":\"sub\"}}", CONFIG);
    char *sub = st_join(d, "sub");
    mkdir(sub, 0755);
    free(sub);
    expect_dir_fails(d, AWQ_ERR_NOT_FOUND, "shard 'sub'", IDX);
    free(d);
}

static void test_dir_layouts(void) {
    char cmd[4096];
    /* no weights at all */
    char *d = st_join(root, "noweights");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    if (system(cmd) != 0) exit(2);
    char *cp = st_join(d, "config.json");
    st_put_text(cp, CONFIG);
    expect_dir_fails(d, AWQ_ERR_NOT_FOUND, "no weights found", d);
    /* a hidden temporary shard does not count */
    free(st_put(d, ".model.safetensors.tmp.123", "{}", 0));
    expect_dir_fails(d, AWQ_ERR_NOT_FOUND, "no weights found", d);
    /* malformed config.json, with the weights fine */
    free(st_put(d, "model.safetensors", H2, 5));
    st_put_text(cp, "{\"model_type\": \"llama\",\n  \"hidden_size\": 4,,\n}");
    expect_dir_fails(d, AWQ_ERR_FORMAT, "config.json: malformed JSON at line 2", cp);
    st_put_text(cp, "[\"not an object\"]");
    expect_dir_fails(d, AWQ_ERR_FORMAT, "config.json: the top level must be a JSON object", cp);
    st_put_text(cp, "{\"a\":1} {\"b\":2}");
    expect_dir_fails(d, AWQ_ERR_FORMAT, "config.json: malformed JSON", cp);
    st_put_text(cp, CONFIG);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    awq_checkpoint_free(ck);
    free(cp);
    free(d);

    /* shards without an index */
    d = make_dir(NULL, CONFIG);
    expect_dir_fails(d, AWQ_ERR_FORMAT, "2 .safetensors files", "no model.safetensors.index.json");
    free(d);

    /* exactly one other .safetensors file: accepted */
    d = st_join(root, "renamed");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    if (system(cmd) != 0) exit(2);
    free(st_put(d, "weights.safetensors", H2, 5));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) CHECK(awq_checkpoint_n_tensors(ck) == 1 && awq_checkpoint_config(ck) == NULL);
    awq_checkpoint_free(ck);
    free(d);

    /* another base name with its index: accepted */
    d = make_dir(NULL, CONFIG);
    char *ip = st_join(d, "other.safetensors.index.json");
    st_put_text(ip, GOOD_INDEX);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) CHECK(awq_checkpoint_n_tensors(ck) == 3);
    awq_checkpoint_free(ck);
    /* ... but two index files and no model.safetensors.index.json: refused */
    char *ip2 = st_join(d, "third.safetensors.index.json");
    st_put_text(ip2, GOOD_INDEX);
    expect_dir_fails(d, AWQ_ERR_FORMAT, "several shard index files", "other.safetensors.index.json");
    /* model.safetensors.index.json settles it */
    char *ip3 = st_join(d, IDX);
    st_put_text(ip3, GOOD_INDEX);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    awq_checkpoint_free(ck);
    /* and model.safetensors wins over the index, as in transformers */
    free(st_put(d, "model.safetensors", H2, 5));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (ck) CHECK(awq_checkpoint_n_shards(ck) == 1 && awq_checkpoint_n_tensors(ck) == 1);
    awq_checkpoint_free(ck);
    free(ip);
    free(ip2);
    free(ip3);
    free(d);
}

static void test_tiny_llama(void) {
    const char *d = AWQ_TEST_DATA "/tiny-llama";
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    if (!ck) return;
    /* 6 layers x 9 tensors + embed + final norm + lm_head */
    CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), 57);
    CHECK_EQ_INT(awq_checkpoint_n_shards(ck), 1);
    const cJSON *cfg = awq_checkpoint_config(ck);
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_size");
    CHECK(cJSON_IsNumber(hs) && hs->valueint == 256);
    struct {
        const char *name;
        int64_t r, c;
    } want[] = {
        {"model.embed_tokens.weight", 4096, 256},
        {"lm_head.weight", 4096, 256},
        {"model.layers.0.self_attn.q_proj.weight", 256, 256},
        {"model.layers.0.self_attn.k_proj.weight", 128, 256},
        {"model.layers.5.mlp.down_proj.weight", 256, 768},
        {"model.layers.3.mlp.gate_proj.weight", 768, 256},
        {"model.norm.weight", 256, -1},
        {"model.layers.2.input_layernorm.weight", 256, -1},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(want); i++) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, want[i].name);
        CHECK_MSG(t != NULL, "%s missing", want[i].name);
        if (!t) continue;
        CHECK_MSG(t->dtype == AWQ_DT_F16, "%s dtype %s", t->name, awq_dtype_name(t->dtype));
        if (want[i].c < 0)
            CHECK_MSG(t->ndim == 1 && t->shape[0] == want[i].r, "%s shape", t->name);
        else
            CHECK_MSG(t->ndim == 2 && t->shape[0] == want[i].r && t->shape[1] == want[i].c,
                      "%s shape", t->name);
    }
    CHECK(awq_checkpoint_find(ck, "model.layers.6.mlp.up_proj.weight") == NULL);
    CHECK(awq_checkpoint_find(ck, "model.embed_tokens") == NULL);
    /* every tensor is found by its name, inside the mapping, in offset order */
    uint64_t sum = 0, prev_end = 0;
    bool ok = true;
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        ok &= awq_checkpoint_find(ck, t->name) == t;
        ok &= t->file_offset >= prev_end || i == 0;
        ok &= t->file_offset + t->n_bytes <= awq_checkpoint_shard_bytes(ck, 0);
        prev_end = t->file_offset + t->n_bytes;
        sum += t->n_bytes;
    }
    CHECK(ok);
    CHECK(prev_end == awq_checkpoint_shard_bytes(ck, 0));
    CHECK(sum == awq_checkpoint_total_bytes(ck));
    /* the embedding converts to finite values, rows agree with the whole */
    const awq_tensor_info *e = awq_checkpoint_find(ck, "model.embed_tokens.weight");
    if (e) {
        float *all = malloc(e->n_elements * sizeof *all);
        CHECK_OK(ctx, awq_tensor_to_f32(ctx, e, all));
        size_t bad = 0;
        double ss = 0;
        for (uint64_t i = 0; i < e->n_elements; i++) {
            if (!isfinite(all[i])) bad++;
            ss += (double)all[i] * all[i];
        }
        CHECK_EQ_INT(bad, 0);
        CHECK(ss > 0);
        float rows[3 * 256];
        CHECK_OK(ctx, awq_tensor_rows_to_f32(ctx, e, 100, 3, rows));
        CHECK(memcmp(rows, all + 100 * 256, sizeof rows) == 0);
        uint16_t h;
        memcpy(&h, (const unsigned char *)e->data + 2 * (100 * 256 + 7), 2);
        CHECK(rows[7] == awq_f16_to_f32(h));
        free(all);
    }
    awq_checkpoint_free(ck);
}

/* ------------------------------------- files written by the reference */

static cJSON *load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* tests/ref/io: a file from safetensors.torch.save_file (every dtype) and a
 * checkpoint sharded by transformers' save_pretrained (gen_io_ref.py). */
static void test_reference_files(void) {
    awq_checkpoint *ck = NULL;
    cJSON *ref = load_json(AWQ_TEST_SRC "/ref/io/ref_all_dtypes.json");
    CHECK(ref != NULL);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, AWQ_TEST_SRC "/ref/io/ref_all_dtypes.safetensors", &ck));
    if (ck && ref) {
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), cJSON_GetArraySize(ref));
        for (const cJSON *e = ref->child; e; e = e->next) {
            const awq_tensor_info *t = awq_checkpoint_find(ck, e->string);
            CHECK_MSG(t != NULL, "%s missing", e->string);
            if (!t) continue;
            const char *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring;
            const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
            const char *hex = cJSON_GetObjectItemCaseSensitive(e, "hex")->valuestring;
            bool ok = strcmp(awq_dtype_name(t->dtype), dt) == 0 &&
                      t->ndim == cJSON_GetArraySize(shape) && strlen(hex) == 2 * t->n_bytes;
            for (int d = 0; ok && d < t->ndim; d++)
                ok &= t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
            const unsigned char *p = t->data;
            for (uint64_t i = 0; ok && i < t->n_bytes; i++)
                ok &= p[i] == (unsigned char)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
            CHECK_MSG(ok, "%s differs from the reference", e->string);
        }
        const cJSON *m = awq_checkpoint_metadata(ck, 0);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(m, "origin");
        CHECK(cJSON_IsString(o) && strcmp(o->valuestring, "gen_io_ref.py") == 0);
        /* the reference's F32 values through the converter */
        float f[7];
        CHECK_OK(ctx, awq_tensor_to_f32(ctx, awq_checkpoint_find(ck, "f32"), f));
        const awq_tensor_info *t32 = awq_checkpoint_find(ck, "f32");
        CHECK(t32 && memcmp(f, t32->data, sizeof f) == 0);
    }
    awq_checkpoint_free(ck);
    cJSON_Delete(ref);

    ref = load_json(AWQ_TEST_SRC "/ref/io/hf_sharded.json");
    CHECK(ref != NULL);
    ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, AWQ_TEST_SRC "/ref/io/hf_sharded", &ck));
    if (ck && ref) {
        CHECK_EQ_INT(awq_checkpoint_n_shards(ck), 4);
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), cJSON_GetArraySize(ref));
        CHECK(awq_checkpoint_config(ck) != NULL);
        for (const cJSON *e = ref->child; e; e = e->next) {
            const awq_tensor_info *t = awq_checkpoint_find(ck, e->string);
            const char *shard = cJSON_GetObjectItemCaseSensitive(e, "shard")->valuestring;
            const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
            bool ok = t && t->dtype == AWQ_DT_F16 && t->ndim == cJSON_GetArraySize(shape) &&
                      strcmp(awq_path_basename(awq_checkpoint_shard_path(ck, (size_t)t->shard)),
                             shard) == 0;
            for (int d = 0; ok && d < t->ndim; d++)
                ok &= t->shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
            CHECK_MSG(ok, "%s differs from the reference", e->string);
        }
    }
    awq_checkpoint_free(ck);
    cJSON_Delete(ref);
}

/* ------------------------------------------------- 70B-shaped headers */

typedef struct spec {
    char name[96];
    int64_t r, c; /* c < 0: 1-D */
} spec;

/* Llama-3-70B: the tensors of a real checkpoint, in transformers order. */
static size_t llama70b_specs(spec *v) {
    const int64_t H = 8192, I = 28672, KV = 1024, V = 128256;
    size_t n = 0;
    snprintf(v[n].name, sizeof v[n].name, "model.embed_tokens.weight");
    v[n].r = V, v[n].c = H, n++;
    for (int l = 0; l < 80; l++) {
        static const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                    "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                    "mlp.down_proj"};
        const int64_t rr[] = {H, KV, KV, H, I, I, H}, cc[] = {H, H, H, H, H, H, I};
        for (int k = 0; k < 7; k++) {
            snprintf(v[n].name, sizeof v[n].name, "model.layers.%d.%s.weight", l, lin[k]);
            v[n].r = rr[k], v[n].c = cc[k], n++;
        }
        snprintf(v[n].name, sizeof v[n].name, "model.layers.%d.input_layernorm.weight", l);
        v[n].r = H, v[n].c = -1, n++;
        snprintf(v[n].name, sizeof v[n].name, "model.layers.%d.post_attention_layernorm.weight", l);
        v[n].r = H, v[n].c = -1, n++;
    }
    snprintf(v[n].name, sizeof v[n].name, "model.norm.weight");
    v[n].r = H, v[n].c = -1, n++;
    snprintf(v[n].name, sizeof v[n].name, "lm_head.weight");
    v[n].r = V, v[n].c = H, n++;
    return n;
}

static void test_open_70b(void) {
    static spec v[800];
    size_t n = llama70b_specs(v);
    char *d = st_join(root, "llama70b");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    if (system(cmd) != 0) exit(2);
    /* 30 shards, ~4.7 GB each as sparse files: only headers hold bytes */
    const size_t n_sh = 30;
    awq_strbuf idx;
    awq_sb_init(&idx);
    awq_sb_puts(&idx, "{\"metadata\":{\"total_size\":141107412992},\"weight_map\":{");
    size_t per = (n + n_sh - 1) / n_sh;
    uint64_t params = 0;
    bool sparse_ok = true;
    for (size_t s = 0; s < n_sh; s++) {
        char fname[64];
        snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", s + 1, n_sh);
        awq_strbuf h;
        awq_sb_init(&h);
        awq_sb_puts(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
        uint64_t off = 0;
        for (size_t i = s * per; i < n && i < (s + 1) * per; i++) {
            uint64_t ne = (uint64_t)v[i].r * (uint64_t)(v[i].c < 0 ? 1 : v[i].c);
            params += ne;
            if (v[i].c < 0)
                awq_sb_printf(&h, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld],", v[i].name,
                              (long long)v[i].r);
            else
                awq_sb_printf(&h, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld,%lld],", v[i].name,
                              (long long)v[i].r, (long long)v[i].c);
            awq_sb_printf(&h, "\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                          (unsigned long long)(off + 2 * ne));
            off += 2 * ne;
            awq_sb_printf(&idx, "%s\"%s\":\"%s\"", i ? "," : "", v[i].name, fname);
        }
        awq_sb_puts(&h, "}");
        while ((h.len + 8) % 8) awq_sb_puts(&h, " ");
        char *p = st_join(d, fname);
        size_t il;
        unsigned char *img = st_image(h.s, h.len, NULL, 0, &il);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        sparse_ok &= fd >= 0 && write(fd, img, il) == (ssize_t)il &&
                     ftruncate(fd, (off_t)(il + off)) == 0;
        if (fd >= 0) close(fd);
        free(img);
        free(p);
        awq_sb_free(&h);
    }
    awq_sb_puts(&idx, "}}");
    char *ip = st_join(d, IDX);
    st_put_text(ip, idx.s);
    free(ip);
    awq_sb_free(&idx);
    if (!sparse_ok) {
        printf("note: no sparse files here, 70B open test skipped\n");
        free(d);
        return;
    }
    CHECK(params == 70553706496ull); /* the published Llama-3-70B count */

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
    uint64_t counted = 0;
    if (ck)
        for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++)
            counted += awq_checkpoint_tensor(ck, i)->n_elements;
    const awq_tensor_info *t = ck ? awq_checkpoint_find(ck, "model.layers.79.mlp.down_proj.weight")
                                  : NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK_EQ_INT(counted, 70553706496ull);
    /* tensor 718 of 723, 25 per shard */
    CHECK(t && t->shape[1] == 28672 && t->shard == (int)(718 / per));
    CHECK_EQ_INT(ck ? awq_checkpoint_n_tensors(ck) : 0, 723);
    CHECK_EQ_INT(ck ? awq_checkpoint_total_bytes(ck) : 0, 2 * 70553706496ull);
    CHECK_MSG(ms < 1000.0, "opening took %.1f ms", ms);
    printf("open+count of a 70B-shaped checkpoint (30 shards, 723 tensors): %.2f ms\n", ms);
    awq_checkpoint_free(ck);
    /* remove the sparse files right away */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", d);
    free(d);
}

int main(void) {
    ctx = awq_test_ctx(2);
    root = awq_test_tmpdir("test_checkpoint");
    test_good_sharded();
    test_bad_index();
    test_dir_layouts();
    test_tiny_llama();
    test_reference_files();
    test_open_70b();
    free(root);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
