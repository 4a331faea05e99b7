/* tests/unit/test_formats.c — the format table: every quantized format a
 * Hub user meets is counted (logical = the source's 6,819,072 parameters of
 * data/tiny-llama), named and given its effective bits per weight, from
 * headers only. Fixtures: tests/ref/formats/<name>/ hold config.json and
 * the header of the real model.safetensors made by the producing library
 * (tests/ref/make_format_fixtures.py, make_format_headers.py); the test
 * rebuilds a sparse file of the full size around that header, so nothing
 * but the header can be read. Also: the compressed-tensors scheme lookup
 * (targets, ignore, re: patterns, classes), configs that contradict the
 * tensors, unknown layouts, and linears stored both dense and quantized. */
#include "awq_test.h"
#include "core/core.h"
#include "quant/ctconfig.h"
#include "unit/st_helpers.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <unistd.h>

#define TINY_LLAMA_PARAMS 6819072u

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* dir/model.safetensors = the fixture's header, sparse-extended to the size
 * its data_offsets need; dir/config.json = config (or the fixture's). */
static char *materialize(const char *fixture, const char *config) {
    char *dir = awq_test_tmpdir(fixture);
    char src[1024];
    snprintf(src, sizeof src, "%s/ref/formats/%s/model.safetensors.hdr", AWQ_TEST_SRC, fixture);
    size_t n = 0;
    char *hdr = slurp(src, &n);
    if (!hdr || n < 8) {
        fprintf(stderr, "missing fixture %s\n", src);
        exit(2);
    }
    uint64_t end = 0;
    for (const char *p = hdr + 8; (p = strstr(p, "\"data_offsets\":[")) != NULL;) {
        p += strlen("\"data_offsets\":[");
        const char *c = strchr(p, ',');
        if (!c) break;
        uint64_t e = strtoull(c + 1, NULL, 10);
        if (e > end) end = e;
    }
    char *out = st_join(dir, "model.safetensors");
    int fd = open(out, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0 || write(fd, hdr, n) != (ssize_t)n || ftruncate(fd, (off_t)(n + end)) != 0) exit(2);
    close(fd);
    free(out);
    free(hdr);
    char *cfgp = st_join(dir, "config.json");
    if (config) {
        st_put_text(cfgp, config);
    } else {
        snprintf(src, sizeof src, "%s/ref/formats/%s/config.json", AWQ_TEST_SRC, fixture);
        char *c = slurp(src, &n);
        if (!c) exit(2);
        st_put_text(cfgp, c);
        free(c);
    }
    free(cfgp);
    return dir;
}

static char *fixture_config(const char *fixture) {
    char src[1024];
    size_t n;
    snprintf(src, sizeof src, "%s/ref/formats/%s/config.json", AWQ_TEST_SRC, fixture);
    return slurp(src, &n);
}

/* Replace the first `from` in s by `to` (s freed). */
static char *replace1(char *s, const char *from, const char *to) {
    char *p = strstr(s, from);
    if (!p) {
        fprintf(stderr, "replace1: '%s' not in config\n", from);
        exit(2);
    }
    size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to), sl = strlen(s);
    char *r = malloc(sl - fl + tl + 1);
    memcpy(r, s, a);
    memcpy(r + a, to, tl);
    memcpy(r + a + tl, p + fl, sl - a - fl + 1);
    free(s);
    return r;
}

static bool has_note(const awq_detect_result *d, const char *needle) {
    for (int i = 0; i < d->n_notes; i++)
        if (strstr(d->notes[i], needle)) return true;
    return false;
}

static void dump(const awq_detect_result *d) {
    fprintf(stderr, "    kind %s, format '%s'\n", awq_ckpt_kind_name(d->kind), d->format);
    for (int i = 0; i < d->n_notes; i++) fprintf(stderr, "    note: %s\n", d->notes[i]);
}

typedef struct {
    const char *fixture;
    awq_pack_kind pack;
    awq_ckpt_kind kind;
    int bits;               /* of the first quantized linear */
    int n_quant;            /* quantized linears */
    double bpw_lo, bpw_hi;  /* effective bits per weight */
    const char *format;     /* substring of the description */
} fmt_case;

static const fmt_case k_cases[] = {
    {"ct-w4a16", AWQ_PACK_CT_INT, AWQ_CKPT_CT_INT, 4, 42, 4.12, 4.13,
     "pack-quantized int4, group 128"},
    {"ct-w4a16-asym", AWQ_PACK_CT_INT, AWQ_CKPT_CT_INT, 4, 42, 4.15, 4.16, "int4 asymmetric"},
    {"ct-awq", AWQ_PACK_CT_INT, AWQ_CKPT_CT_INT, 4, 42, 4.15, 4.16, "int4 asymmetric"},
    {"ct-w4a16-actorder", AWQ_PACK_CT_INT, AWQ_CKPT_CT_INT, 4, 42, 4.12, 4.13, "int4"},
    {"ct-w8a16", AWQ_PACK_CT_INT, AWQ_CKPT_CT_INT, 8, 42, 8.12, 8.13, "int8"},
    {"ct-ignore-re", AWQ_PACK_CT_INT, AWQ_CKPT_CT_INT, 4, 39, 4.12, 4.13, "int4"},
    {"ct-naive-w8", AWQ_PACK_CT_NAIVE, AWQ_CKPT_CT_NAIVE, 8, 42, 8.12, 8.13, "naive-quantized"},
    {"ct-fp8", AWQ_PACK_FP8, AWQ_CKPT_FP8, 8, 42, 8.0, 8.001, "per-tensor scale"},
    {"ct-fp8-dynamic", AWQ_PACK_FP8, AWQ_CKPT_FP8, 8, 42, 8.05, 8.06, "per-channel scales"},
    {"ct-fp8-block", AWQ_PACK_FP8, AWQ_CKPT_FP8, 8, 42, 8.0, 8.002, "128x128 block scales"},
    {"ct-nvfp4a16", AWQ_PACK_NVFP4, AWQ_CKPT_NVFP4, 4, 42, 4.5, 4.501, "group 16"},
    {"fp8-block", AWQ_PACK_FP8_BLOCK, AWQ_CKPT_FP8_BLOCK, 8, 42, 8.0, 8.003, "128x128 block"},
    {"mxfp4-gptoss", AWQ_PACK_MXFP4, AWQ_CKPT_MXFP4, 4, 12, 4.25, 4.251, "group 32"},
    {"bnb-nf4", AWQ_PACK_BNB_4BIT, AWQ_CKPT_BNB_4BIT, 4, 42, 4.5, 4.52, "nf4, blocksize 64"},
    {"bnb-fp4-double", AWQ_PACK_BNB_4BIT, AWQ_CKPT_BNB_4BIT, 4, 42, 4.2, 4.22, "fp4, blocksize 64"},
    {"bnb-8bit", AWQ_PACK_BNB_8BIT, AWQ_CKPT_BNB_8BIT, 8, 42, 8.1, 8.11, "LLM.int8"},
    {"mlx-4bit", AWQ_PACK_MLX, AWQ_CKPT_MLX, 4, 44, 4.5, 4.5001, "MLX affine int4"},
    {"mlx-8bit-g32", AWQ_PACK_MLX, AWQ_CKPT_MLX, 8, 44, 9.0, 9.0001, "group 32"},
    {"mlx-mixed-3-6", AWQ_PACK_MLX, AWQ_CKPT_MLX, 0, 44, 4.1, 4.2, "MLX affine"},
};

static void test_every_format(awq_ctx *ctx) {
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k_cases); i++) {
        const fmt_case *k = &k_cases[i];
        char *dir = materialize(k->fixture, NULL);
        awq_checkpoint *ck = NULL;
        CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
        if (!ck) continue;
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        CHECK_MSG(r.logical == TINY_LLAMA_PARAMS, "%s: logical %llu", k->fixture,
                  (unsigned long long)r.logical);
        CHECK_MSG(r.pack == k->pack, "%s: pack %s", k->fixture, awq_pack_kind_name(r.pack));
        CHECK_MSG(r.n_quant_linears == (uint64_t)k->n_quant, "%s: %llu quantized linears",
                  k->fixture, (unsigned long long)r.n_quant_linears);
        CHECK_EQ_INT(r.n_unresolved, 0);
        if (k->bits) CHECK_MSG(r.quant_bits == k->bits, "%s: bits %d", k->fixture, r.quant_bits);
        CHECK_MSG(r.loaded < r.logical, "%s: loaded %llu", k->fixture, (unsigned long long)r.loaded);
        awq_detect_result *d = calloc(1, sizeof *d);
        CHECK_OK(ctx, awq_detect(ctx, ck, d));
        bool ok = d->kind == k->kind && d->config_agrees && strstr(d->format, k->format) &&
                  d->bits_per_weight >= k->bpw_lo && d->bits_per_weight <= k->bpw_hi &&
                  /* the table: compressed-tensors int / naive / FP8 / NVFP4 and
                   * DeepSeek-style FP8 block sources are computed on; MXFP4,
                   * bitsandbytes, MLX counted */
                  awq_detect_computable(d) == (strncmp(k->fixture, "ct-", 3) == 0 ||
                                               strcmp(k->fixture, "fp8-block") == 0);
        CHECK_MSG(ok, "%s: kind %s agrees %d bpw %.4f format '%s'", k->fixture,
                  awq_ckpt_kind_name(d->kind), d->config_agrees, d->bits_per_weight, d->format);
        if (!ok) dump(d);
        free(d);
        awq_checkpoint_free(ck);
        free(dir);
    }
}

/* ------------------------------------------------ compressed-tensors config */

static void test_ct_lookup(awq_ctx *ctx) {
    const char *js =
        "{\"quant_method\":\"compressed-tensors\",\"format\":\"pack-quantized\","
        "\"config_groups\":{"
        "\"g8\":{\"targets\":[\"re:.*mlp\\\\.down_proj$\",\"model.layers.1.self_attn.o_proj\"],"
        "\"weights\":{\"num_bits\":8,\"strategy\":\"channel\",\"symmetric\":true}},"
        "\"g4\":{\"targets\":[\"Linear\"],\"format\":\"naive-quantized\","
        "\"weights\":{\"num_bits\":4,\"strategy\":\"group\",\"group_size\":64,"
        "\"symmetric\":false,\"actorder\":\"group\"}}},"
        "\"ignore\":[\"lm_head\",\"re:.*visual.*\",\"re:layers\"]}";
    cJSON *j = cJSON_Parse(js);
    awq_ct_config *c = NULL;
    CHECK_OK(ctx, awq_ct_config_parse(ctx, j, "config.json", &c));
    CHECK_EQ_INT(awq_ct_config_n_schemes(c), 2);
    const awq_ct_scheme *s;
    s = awq_ct_scheme_for(c, "model.layers.0.mlp.down_proj", AWQ_CT_MOD_LINEAR);
    CHECK(s && s->num_bits == 8 && s->strategy == AWQ_CT_STRAT_CHANNEL &&
          s->format == AWQ_CT_FMT_PACK_QUANTIZED);
    s = awq_ct_scheme_for(c, "model.layers.1.self_attn.o_proj", AWQ_CT_MOD_LINEAR);
    CHECK(s && s->num_bits == 8);
    /* a name is whole-name equality, not a substring */
    s = awq_ct_scheme_for(c, "model.layers.11.self_attn.o_proj", AWQ_CT_MOD_LINEAR);
    CHECK(s && s->num_bits == 4 && s->group_size == 64 && !s->symmetric && s->actorder &&
          s->format == AWQ_CT_FMT_NAIVE_QUANTIZED);
    /* re: is anchored at the start (re.match), not at the end */
    CHECK(awq_ct_scheme_for(c, "model.layers.0.mlp.down_proj_x", AWQ_CT_MOD_LINEAR)->num_bits == 4);
    CHECK(awq_ct_scheme_for(c, "lm_head", AWQ_CT_MOD_LINEAR) == NULL);
    CHECK(awq_ct_scheme_for(c, "model.visual.blocks.0.attn.qkv", AWQ_CT_MOD_LINEAR) == NULL);
    /* "re:layers" does not match "model.layers..." (anchored at 0) */
    CHECK(awq_ct_scheme_for(c, "model.layers.2.mlp.up_proj", AWQ_CT_MOD_LINEAR) != NULL);
    CHECK(awq_ct_scheme_for(c, "layers.2.mlp.up_proj", AWQ_CT_MOD_LINEAR) == NULL);
    /* class targets: Linear matches linears only */
    CHECK(awq_ct_scheme_for(c, "model.embed_tokens", AWQ_CT_MOD_EMBEDDING) == NULL);
    awq_ct_config_free(c);
    cJSON_Delete(j);

    j = cJSON_Parse("{\"config_groups\":{\"g\":{\"targets\":[\"re:(unclosed\"]}}}");
    c = NULL;
    CHECK_FAILS(ctx, awq_ct_config_parse(ctx, j, "config.json", &c), AWQ_ERR_FORMAT,
              "config_groups.g.targets[0]");
    CHECK(c == NULL);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"config_groups\":{\"g\":{\"targets\":[\"Linear\"],"
                    "\"weights\":{\"num_bits\":0}}}}");
    CHECK_FAILS(ctx, awq_ct_config_parse(ctx, j, "config.json", &c), AWQ_ERR_FORMAT, "num_bits");
    cJSON_Delete(j);
    awq_ct_config_free(NULL);
}

/* A config that contradicts the tensors: DISAGREES, with the reason. */
static void expect_disagree(awq_ctx *ctx, const char *fixture, char *cfg, const char *needle) {
    char *dir = materialize(fixture, cfg);
    free(cfg);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    awq_detect_result *d = calloc(1, sizeof *d);
    if (ck) CHECK_OK(ctx, awq_detect(ctx, ck, d));
    bool ok = !d->config_agrees && has_note(d, needle);
    CHECK_MSG(ok, "%s: agrees %d, note '%s' expected", fixture, d->config_agrees, needle);
    if (!ok) dump(d);
    free(d);
    awq_checkpoint_free(ck);
    free(dir);
}

static void test_ct_disagreements(awq_ctx *ctx) {
    char *c = fixture_config("ct-w4a16");
    expect_disagree(ctx, "ct-w4a16", replace1(c, "\"group_size\": 128", "\"group_size\": 64"),
                    "group_size 64 but the scales give 128");
    c = fixture_config("ct-w4a16");
    expect_disagree(ctx, "ct-w4a16", replace1(c, "\"symmetric\": true", "\"symmetric\": false"),
                    "weight_zero_point is absent");
    c = fixture_config("ct-w4a16");
    expect_disagree(ctx, "ct-w4a16",
                    replace1(c, "\"lm_head\"", "\"lm_head\", \"re:.*layers\\\\.3\\\\..*\""),
                    "no config_groups target matches it");
    /* lm_head stored dense but targeted */
    c = fixture_config("ct-w4a16");
    expect_disagree(ctx, "ct-w4a16", replace1(c, "\"ignore\": [\n      \"lm_head\"\n    ]", "\"ignore\": []"),
                    "lm_head: config_groups.group_0 (pack-quantized) targets it but it is stored dense");
    c = fixture_config("ct-w4a16");
    expect_disagree(ctx, "ct-w4a16", replace1(c, "\"pack-quantized\"", "\"float-quantized\""),
                    "says float-quantized but the tensors are ct-int");
    c = fixture_config("bnb-8bit");
    expect_disagree(ctx, "bnb-8bit", replace1(c, "\"bitsandbytes\"", "\"awq\""),
                    "quant_method 'awq' but the tensors are bnb-8bit");
    c = fixture_config("mlx-4bit");
    c = replace1(c, "\"quantization\"", "\"q_unused\"");
    expect_disagree(ctx, "mlx-4bit", replace1(c, "\"quantization_config\"", "\"q_unused2\""),
                    "no quantization_config in config.json, but 44 linears are stored as mlx");
}

/* Integer codes no family knows: unknown, never dense. */
static void test_unknown_layout(awq_ctx *ctx) {
    char *dir = awq_test_tmpdir("fmt_unknown");
    const char *hdr =
        "{\"model.layers.0.mlp.up_proj.weight\":{\"dtype\":\"I8\",\"shape\":[8,16],"
        "\"data_offsets\":[0,128]},"
        "\"model.layers.0.mlp.down_proj.weight\":{\"dtype\":\"F16\",\"shape\":[16,8],"
        "\"data_offsets\":[128,384]}}";
    free(st_put(dir, "model.safetensors", hdr, 384));
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    awq_count_result r;
    CHECK_OK(ctx, awq_count(ctx, ck, &r));
    CHECK(r.pack == AWQ_PACK_UNKNOWN);
    CHECK_EQ_INT(r.n_unresolved, 1);
    awq_detect_result *d = calloc(1, sizeof *d);
    CHECK_OK(ctx, awq_detect(ctx, ck, d));
    CHECK(d->kind == AWQ_CKPT_PACKED_OTHER && !d->config_agrees);
    CHECK(has_note(d, "model.layers.0.mlp.up_proj.weight: I8 [8, 16]"));
    CHECK(has_note(d, "fits no known layout"));
    free(d);
    awq_checkpoint_free(ck);
    free(dir);
}

/* A linear stored dense and quantized: counted once, DISAGREES. */
static void test_dense_twin(awq_ctx *ctx) {
    char *dir = awq_test_tmpdir("fmt_twin");
    const char *hdr =
        "{\"m.layers.0.mlp.up_proj.weight_packed\":{\"dtype\":\"I32\",\"shape\":[32,8],"
        "\"data_offsets\":[0,1024]},"
        "\"m.layers.0.mlp.up_proj.weight_scale\":{\"dtype\":\"F16\",\"shape\":[32,1],"
        "\"data_offsets\":[1024,1088]},"
        "\"m.layers.0.mlp.up_proj.weight\":{\"dtype\":\"F16\",\"shape\":[32,64],"
        "\"data_offsets\":[1088,5184]}}";
    free(st_put(dir, "model.safetensors", hdr, 5184));
    char *cfg = st_join(dir, "config.json");
    st_put_text(cfg, "{\"quantization_config\":{\"quant_method\":\"compressed-tensors\","
                     "\"format\":\"pack-quantized\",\"config_groups\":{\"g\":{\"targets\":"
                     "[\"Linear\"],\"weights\":{\"num_bits\":4,\"strategy\":\"channel\","
                     "\"symmetric\":true}}}}}");
    free(cfg);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    awq_count_result r;
    CHECK_OK(ctx, awq_count(ctx, ck, &r));
    CHECK_EQ_INT(r.logical, 32 * 64);
    CHECK_EQ_INT(r.stored, 32 * 8 + 32 + 32 * 64);
    awq_detect_result *d = calloc(1, sizeof *d);
    CHECK_OK(ctx, awq_detect(ctx, ck, d));
    CHECK(d->n_dense_twins == 1 && !d->config_agrees);
    CHECK(has_note(d, "stored both dense and quantized (first: m.layers.0.mlp.up_proj.weight)"));
    free(d);
    awq_checkpoint_free(ck);
    free(dir);
}

/* Copy a quantized fixture of tests/ref/quant with an extra dense .weight for
 * one packed linear and config.json replaced by `config` (NULL: kept). */
static char *copy_quant_fixture(awq_ctx *ctx, const char *fixture, const char *dst_name,
                                bool add_twin, const char *config) {
    char src[1024];
    snprintf(src, sizeof src, "%s/ref/quant/%s", AWQ_TEST_SRC, fixture);
    awq_checkpoint *in = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, src, &in));
    char *dir = awq_test_tmpdir(dst_name);
    if (!in) return dir;
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, dir, &wp, &w));
    size_t n = awq_checkpoint_n_tensors(in);
    const awq_tensor_info *qw = awq_checkpoint_find(in, "model.layers.0.mlp.up_proj.qweight");
    int64_t twin_shape[2] = {128, 64}; /* up_proj: N = intermediate, K = hidden */
    for (size_t i = 0; i < n; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(in, i);
        CHECK_OK(ctx, awq_writer_declare(w, t->name, t->dtype, t->ndim, t->shape));
    }
    if (add_twin)
        CHECK_OK(ctx, awq_writer_declare(w, "model.layers.0.mlp.up_proj.weight", AWQ_DT_F16, 2,
                                         twin_shape));
    char *cfg = NULL;
    size_t cl = 0;
    if (!config) {
        char cp[1100];
        snprintf(cp, sizeof cp, "%s/config.json", src);
        cfg = slurp(cp, &cl);
    }
    const char *ct = config ? config : cfg;
    CHECK_OK(ctx, awq_writer_add_file(w, "config.json", ct, strlen(ct)));
    free(cfg);
    for (size_t i = 0; i < n; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(in, i);
        CHECK_OK(ctx, awq_writer_write(w, t->name, t->data, t->n_bytes));
    }
    if (add_twin) {
        uint16_t *z = calloc(128 * 64, 2);
        CHECK_OK(ctx, awq_writer_write(w, "model.layers.0.mlp.up_proj.weight", z, 128 * 64 * 2));
        free(z);
    }
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    CHECK(qw != NULL || !add_twin);
    awq_checkpoint_free(in);
    return dir;
}

/* A linear stored dense and packed in a real AWQ checkpoint: the forward
 * (what ppl runs) refuses it instead of reading the dense copy. */
static void test_dense_twin_forward(awq_ctx *ctx) {
    char *dir = copy_quant_fixture(ctx, "awq-gemm", "fmt_twin_awq", true, NULL);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    if (ck) {
        awq_runtime_params rp = awq_runtime_default_params();
        awq_model *m = NULL;
        CHECK_FAILS(ctx, awq_model_open(ctx, ck, &rp, &m), AWQ_ERR_FORMAT,
                    "are both stored: the linear is dense and packed at once");
        CHECK(m == NULL);
        awq_model_free(m);
        awq_detect_result *d = calloc(1, sizeof *d);
        CHECK_OK(ctx, awq_detect(ctx, ck, d));
        CHECK(!d->config_agrees && d->n_dense_twins == 1);
        free(d);
        awq_verify_result vr;
        CHECK_OK(ctx, awq_verify(ctx, dir, NULL, &vr));
        CHECK(!vr.ok && vr.n_problems > 0 && strstr(vr.problems[0], "DISAGREES"));
        awq_verify_result_free(&vr);
    }
    awq_checkpoint_free(ck);
    free(dir);
}

/* Legacy inputs: the quantization config only in quantize_config.json
 * (AutoGPTQ) or quant_config.json (AutoAWQ), as vLLM and SGLang read them. */
static void test_legacy_config(awq_ctx *ctx) {
    struct {
        const char *fixture, *file, *text;
        awq_ckpt_kind kind;
    } k[] = {
        {"gptq", "quantize_config.json",
         "{\"bits\":4,\"group_size\":32,\"desc_act\":false,\"sym\":false,\"damp_percent\":0.01}",
         AWQ_CKPT_GPTQ_V1},
        {"awq-gemm", "quant_config.json",
         "{\"w_bit\":4,\"q_group_size\":32,\"zero_point\":true,\"version\":\"GEMM\"}",
         AWQ_CKPT_AWQ_GEMM},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k); i++) {
        /* the fixture's config.json without its quantization_config */
        char cp[1024];
        size_t cl;
        snprintf(cp, sizeof cp, "%s/ref/quant/%s/config.json", AWQ_TEST_SRC, k[i].fixture);
        char *text = slurp(cp, &cl);
        cJSON *cj = cJSON_Parse(text);
        free(text);
        cJSON_DeleteItemFromObjectCaseSensitive(cj, "quantization_config");
        char *plain = cJSON_Print(cj);
        cJSON_Delete(cj);
        char *dir = copy_quant_fixture(ctx, k[i].fixture, "fmt_legacy", false, plain);
        free(plain);
        char *p = st_join(dir, k[i].file);
        st_put_text(p, k[i].text);
        free(p);
        awq_checkpoint *ck = NULL;
        CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
        awq_detect_result *d = calloc(1, sizeof *d);
        if (ck) CHECK_OK(ctx, awq_detect(ctx, ck, d));
        CHECK_MSG(d->kind == k[i].kind && d->config_agrees && d->config.present &&
                      d->config.bits == 4 && d->config.group_size == 32,
                  "%s: kind %s agrees %d", k[i].file, awq_ckpt_kind_name(d->kind),
                  d->config_agrees);
        if (!d->config_agrees) dump(d);
        free(d);
        /* the compute paths read it too (repack, verify, ppl's model) */
        awq_verify_result vr;
        CHECK_OK(ctx, awq_verify(ctx, dir, NULL, &vr));
        CHECK_MSG(vr.ok, "%s: verify: %s", k[i].file, vr.n_problems ? vr.problems[0] : "");
        awq_verify_result_free(&vr);
        awq_model_config mc;
        if (ck) CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &mc));
        CHECK(ck && mc.quant.present && mc.quant.bits == 4 && mc.quant.group_size == 32);
        awq_checkpoint_free(ck);
        free(dir);
    }
    /* a stale stand-alone file beside a dense model changes nothing */
    char *dir = copy_quant_fixture(ctx, "fp16", "fmt_legacy_dense", false, NULL);
    char *p = st_join(dir, "quantize_config.json");
    st_put_text(p, "{\"bits\":4,\"group_size\":128}");
    free(p);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    awq_model_config mc;
    if (ck) CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &mc));
    CHECK(ck && !mc.quant.present);
    awq_checkpoint_free(ck);
    free(dir);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    test_every_format(ctx);
    test_ct_lookup(ctx);
    test_ct_disagreements(ctx);
    test_unknown_layout(ctx);
    test_dense_twin(ctx);
    test_dense_twin_forward(ctx);
    test_legacy_config(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
