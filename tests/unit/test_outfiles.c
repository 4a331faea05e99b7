/*
 * tests/unit/test_outfiles.c — lib/quant/outfiles.c: config.json patched
 * as text (source numbers kept, 2-space style), the model card's
 * base_model front matter, and the auxiliary file copy rules shared by
 * quantize and repack (no stale quantizer files, no size cap, a warning per
 * sub-directory).
 */
#include "awq_test.h"
#include "core/core.h"
#include "quant/outfiles.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <unistd.h>

static char *patch(awq_ctx *ctx, const char *src, const char *qc_json) {
    cJSON *qc = cJSON_Parse(qc_json);
    char *out = NULL;
    CHECK_OK(ctx, awq_config_text_with_qc(ctx, src, strlen(src), "t", qc, &out));
    cJSON_Delete(qc);
    return out;
}

static void test_config(awq_ctx *ctx) {
    const char *src = "{\n  \"rope_theta\": 10000.0,\n  \"rms_norm_eps\": 1e-05,\n"
                      "  \"s\": \"a,}\\\"]\",\n  \"quantization_config\": {\"bits\": 8,\n"
                      "  \"x\": [1, {\"y\": 2}]},\n  \"vocab_size\": 32000\n}";
    char *o = patch(ctx, src, "{\"bits\":4,\"zero_point\":true,\"m\":[],\"e\":{}}");
    CHECK(o && strcmp(o, "{\n  \"rope_theta\": 10000.0,\n  \"rms_norm_eps\": 1e-05,\n"
                         "  \"s\": \"a,}\\\"]\",\n  \"quantization_config\": {\n"
                         "    \"bits\": 4,\n    \"zero_point\": true,\n    \"m\": [],\n"
                         "    \"e\": {}\n  },\n  \"vocab_size\": 32000\n}\n") == 0);
    cJSON *back = o ? cJSON_Parse(o) : NULL;
    CHECK_MSG(back != NULL, "%s", o ? o : "");
    cJSON_Delete(back);
    free(o);
    /* absent: appended after the last member, at the members' indentation */
    o = patch(ctx, "{\n    \"a\": 1.50\n}\n", "{\"bits\":4}");
    CHECK(o && strcmp(o, "{\n    \"a\": 1.50,\n    \"quantization_config\": {\n"
                         "      \"bits\": 4\n    }\n}\n") == 0);
    free(o);
    o = patch(ctx, "{}", "{\"bits\":4}");
    CHECK(o && strcmp(o, "{\n  \"quantization_config\": {\n    \"bits\": 4\n  }\n}\n") == 0);
    free(o);
    /* a nested quantization_config (text_config) is not the top-level one */
    o = patch(ctx, "{\"t\": {\"quantization_config\": 1}}", "{\"b\":2}");
    CHECK(o && strstr(o, "{\"t\": {\"quantization_config\": 1},") != NULL);
    free(o);
    char *bad = NULL;
    cJSON *qc = cJSON_CreateObject();
    CHECK_FAILS(ctx, awq_config_text_with_qc(ctx, "[1]", 3, "cfg.json", qc, &bad),
                AWQ_ERR_FORMAT, "cfg.json");
    CHECK_FAILS(ctx, awq_config_text_with_qc(ctx, "{\"a\" 1}", 7, "cfg.json", qc, &bad),
                AWQ_ERR_FORMAT, "malformed");
    cJSON_Delete(qc);
}

static void test_card(awq_ctx *ctx) {
    char *o = NULL;
    const char *c1 = "# Model\ntext\n";
    CHECK_OK(ctx, awq_model_card_quantized(ctx, c1, strlen(c1), "org/base", &o));
    CHECK(o && strcmp(o, "---\nbase_model: org/base\nbase_model_relation: quantized\n---\n"
                         "# Model\ntext\n") == 0);
    free(o);
    const char *c2 = "---\nlicense: mit\nbase_model:\n- other/one\n- other/two\n"
                     "base_model_relation: finetune\ntags:\n- x\n---\nbody\n";
    CHECK_OK(ctx, awq_model_card_quantized(ctx, c2, strlen(c2), "me/fine tuned", &o));
    CHECK_MSG(o && strcmp(o, "---\nlicense: mit\ntags:\n- x\nbase_model: \"me/fine tuned\"\n"
                             "base_model_relation: quantized\n---\nbody\n") == 0,
              "%s", o ? o : "");
    free(o);
    /* "---" opening a card without a closing line is not front matter */
    const char *c3 = "---\nno end";
    CHECK_OK(ctx, awq_model_card_quantized(ctx, c3, strlen(c3), "a/b", &o));
    CHECK(o && strcmp(o, "---\nbase_model: a/b\nbase_model_relation: quantized\n---\n"
                         "---\nno end") == 0);
    free(o);
    cJSON *cfg = cJSON_Parse("{\"_name_or_path\": \"Qwen/Qwen2.5-7B\"}");
    char *id = awq_base_model_id("/m/x", cfg);
    CHECK(id && strcmp(id, "Qwen/Qwen2.5-7B") == 0);
    free(id);
    cJSON_Delete(cfg);
    cfg = cJSON_Parse("{\"_name_or_path\": \"/home/u/models/llama\"}");
    id = awq_base_model_id("/data/models/my-model/", cfg);
    CHECK(id && strcmp(id, "my-model") == 0);
    free(id);
    cJSON_Delete(cfg);
}

static int n_warn;
static void count_warn(void *u, awq_log_level l, const char *m) {
    (void)u;
    if (l == AWQ_LOG_WARN && strstr(m, "sub-directory not copied")) n_warn++;
}

static void put(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) exit(2);
    fputs(text, f);
    fclose(f);
}

static void test_aux(void) {
    awq_ctx_params cp = awq_ctx_default_params();
    cp.log = count_warn;
    cp.log_level = AWQ_LOG_WARN;
    cp.n_threads = 1;
    awq_ctx *ctx = NULL;
    if (awq_ctx_create(&cp, &ctx) != AWQ_OK) exit(2);
    char *in = awq_test_tmpdir("outfiles_in"), *out = awq_test_tmpdir("outfiles_out");
    put(in, "config.json", "{}");
    put(in, "quantize_config.json", "{\"bits\": 4}");
    put(in, "quant_config.json", "{\"w_bit\": 4}");
    put(in, "tokenizer.json", "{}");
    put(in, "README.md", "# card\n");
    put(in, "model.safetensors.index.json", "{}");
    put(in, ".hidden", "x");
    char p[1024];
    snprintf(p, sizeof p, "%s/sub", in);
    mkdir(p, 0755);
    /* 64 MiB + 1: the old quantize cap dropped such files silently */
    snprintf(p, sizeof p, "%s/tokenizer.model", in);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (64 << 20) + 1) == 0);
    close(fd);
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, out, &wp, &w));
    int64_t n = 0;
    CHECK_OK(ctx, awq_copy_aux_files(ctx, w, in, "org/src", &n));
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(n_warn, 1);
    static const char *const gone[] = {"quantize_config.json", "quant_config.json", "config.json",
                                       "model.safetensors.index.json", ".hidden", "sub"};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(gone); i++) {
        snprintf(p, sizeof p, "%s/%s", out, gone[i]);
        CHECK_MSG(!awq_test_path_exists(p), "%s copied", gone[i]);
    }
    snprintf(p, sizeof p, "%s/tokenizer.model", out);
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && sb.st_size == (64 << 20) + 1);
    snprintf(p, sizeof p, "%s/README.md", out);
    char *card = NULL;
    size_t len = 0;
    CHECK_OK(ctx, awq_read_file(ctx, p, 1 << 20, &card, &len));
    CHECK(card && strstr(card, "base_model: org/src\n") && strstr(card, "# card\n"));
    free(card);
    free(in);
    free(out);
    awq_ctx_free(ctx);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    test_config(ctx);
    test_card(ctx);
    test_aux();
    awq_ctx_free(ctx);
    return awq_test_summary();
}
