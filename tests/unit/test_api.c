/* tests/unit/test_api.c — awqkit/api.h: the JSON-result calls (options
 * checked and named), the bundled-data lookup, and Hub ids resolved from a
 * Hugging Face cache laid out here (refs, snapshots, blob symlinks). */
#include "awq_test.h"

#include <limits.h>
#include <unistd.h>

#define TINY AWQ_TEST_DATA "/tiny-llama"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(s, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void test_syntax(void) {
    CHECK(awq_hub_id_syntax("Qwen/Qwen2.5-7B-Instruct"));
    CHECK(awq_hub_id_syntax("meta-llama/Llama-3.1-8B@main"));
    CHECK(awq_hub_id_syntax("a/b@" COMMIT));
    CHECK(awq_hub_id_syntax("org_1/name.v2@refs-pr-3"));
    CHECK(!awq_hub_id_syntax("name-only"));
    CHECK(!awq_hub_id_syntax("/abs/path"));
    CHECK(!awq_hub_id_syntax("./rel/x"));
    CHECK(!awq_hub_id_syntax("a/b/c"));
    CHECK(!awq_hub_id_syntax("a/../b"));
    CHECK(!awq_hub_id_syntax("a/.."));
    CHECK(!awq_hub_id_syntax("a/b@"));
    CHECK(!awq_hub_id_syntax("a/b@x/y"));
    CHECK(!awq_hub_id_syntax("a/b@x y"));
    CHECK(!awq_hub_id_syntax("a b/c"));
    CHECK(!awq_hub_id_syntax("-a/b"));
    CHECK(!awq_hub_id_syntax("a/"));
    CHECK(!awq_hub_id_syntax(NULL));
}

static void test_hub(awq_ctx *ctx) {
    char *tmp = awq_test_tmpdir("api_hub");
    char repo[1024], p[1200], cmd[8192];
    snprintf(repo, sizeof repo, "%s/hub/models--acme--tiny", tmp);
    /* the files are blobs; the snapshot holds relative symlinks to them */
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/blobs' '%s/snapshots/" COMMIT "' '%s/refs' '%s/snapshots/deadbeef0' && "
             "for f in config.json model.safetensors; do "
             "  h=$(sha256sum \"" TINY "/$f\" | cut -c1-64); cp \"" TINY "/$f\" '%s'/blobs/$h; "
             "  ln -s ../../blobs/$h '%s/snapshots/" COMMIT "'/$f; done",
             repo, repo, repo, repo, repo, repo);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot lay out the cache\n");
        exit(2);
    }
    snprintf(p, sizeof p, "%s/refs/main", repo);
    write_text(p, COMMIT "\n");
    snprintf(p, sizeof p, "%s/refs/v1.0", repo);
    write_text(p, COMMIT);
    snprintf(p, sizeof p, "%s/hub", tmp);
    setenv("HF_HUB_CACHE", p, 1);
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    if (chdir(tmp) != 0) exit(2); /* acme/tiny must not be a local path */

    char want[1200];
    snprintf(want, sizeof want, "%s/snapshots/" COMMIT, repo);
    const char *ids[] = {"acme/tiny", "acme/tiny@v1.0", "acme/tiny@" COMMIT};
    for (size_t i = 0; i < 3; i++) {
        char *path = NULL;
        CHECK_OK(ctx, awq_hub_resolve(ctx, ids[i], &path));
        CHECK_MSG(path && strcmp(path, want) == 0, "%s -> %s", ids[i], path ? path : "NULL");
        awq_api_free(path);
    }
    /* the older variable name */
    unsetenv("HF_HUB_CACHE");
    setenv("HUGGINGFACE_HUB_CACHE", p, 1);
    char *path = NULL;
    CHECK_OK(ctx, awq_hub_resolve(ctx, "acme/tiny", &path));
    CHECK(path && strcmp(path, want) == 0);
    awq_api_free(path);
    path = NULL;
    unsetenv("HUGGINGFACE_HUB_CACHE");
    /* HF_HOME/hub when neither is set */
    setenv("HF_HOME", tmp, 1);
    char *json = NULL;
    CHECK_OK(ctx, awq_api_count(ctx, "acme/tiny", &json));
    CHECK(json && strstr(json, "\"logical\":\t6819072"));
    awq_api_free(json);

    CHECK_FAILS(ctx, awq_hub_resolve(ctx, "acme/absent", &path), AWQ_ERR_NOT_FOUND,
                "`hf download acme/absent`");
    CHECK(path == NULL);
    CHECK_FAILS(ctx, awq_hub_resolve(ctx, "acme/tiny@v2", &path), AWQ_ERR_NOT_FOUND,
                "hf download acme/tiny --revision v2");
    /* a ref naming a snapshot that is not there (interrupted download) */
    snprintf(p, sizeof p, "%s/refs/pr", repo);
    write_text(p, "feedface00");
    CHECK_FAILS(ctx, awq_hub_resolve(ctx, "acme/tiny@pr", &path), AWQ_ERR_NOT_FOUND,
                "snapshot feedface00 is missing");
    /* no refs/main and two snapshots: which one is a guess */
    snprintf(p, sizeof p, "%s/refs/main", repo);
    unlink(p);
    CHECK_FAILS(ctx, awq_hub_resolve(ctx, "acme/tiny", &path), AWQ_ERR_NOT_FOUND,
                "not exactly one snapshot");
    /* a missing plain path passes through for the open to report */
    CHECK_OK(ctx, awq_hub_resolve(ctx, "/no/such/dir", &path));
    CHECK(path && strcmp(path, "/no/such/dir") == 0);
    awq_api_free(path);
    unsetenv("HF_HOME");
    free(tmp);
}

static void test_calls(awq_ctx *ctx) {
    char *json = NULL;
    CHECK_OK(ctx, awq_api_count(ctx, TINY, &json));
    CHECK(json && strstr(json, "\"logical\":\t6819072") && strstr(json, "\"by_role\""));
    awq_api_free(json);
    json = NULL;
    CHECK_OK(ctx, awq_api_inspect(ctx, TINY, &json));
    CHECK(json && strstr(json, "\"kind\":\t\"fp16\"") && strstr(json, "\"tensors\":\t["));
    awq_api_free(json);

    json = (char *)"untouched";
    CHECK_FAILS(ctx, awq_api_count(ctx, AWQ_TEST_DATA "/no-such-model", &json),
                AWQ_ERR_NOT_FOUND, "no-such-model");
    CHECK(json == NULL);

    char *tmp = awq_test_tmpdir("api_calls");
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/q", tmp);
    CHECK_FAILS(ctx, awq_api_quantize(ctx, TINY, out, "{\"bits\": 5}", &json),
                AWQ_ERR_INVALID_ARG, "option bits");
    CHECK_FAILS(ctx, awq_api_quantize(ctx, TINY, out, "{\"group_size\": \"64\"}", &json),
                AWQ_ERR_INVALID_ARG, "option group_size: expected an integer");
    CHECK_FAILS(ctx, awq_api_quantize(ctx, TINY, out, "{\"nbits\": 4}", &json),
                AWQ_ERR_INVALID_ARG, "unknown option 'nbits'");
    CHECK_FAILS(ctx, awq_api_quantize(ctx, TINY, out, "[4]", &json), AWQ_ERR_INVALID_ARG,
                "not a JSON object");
    CHECK_FAILS(ctx, awq_api_quantize(ctx, TINY, out, "{\"device\": \"tpu\"}", &json),
                AWQ_ERR_INVALID_ARG, "option device");
    CHECK_FAILS(ctx, awq_api_quantize(ctx, TINY, out, "{\"calib\": \"x\", \"calib_tokens\": \"y\"}",
                                      &json),
                AWQ_ERR_INVALID_ARG, "exclusive");
    CHECK(!awq_test_path_exists(out));
    CHECK_FAILS(ctx, awq_api_repack(ctx, TINY, out, "{}", &json), AWQ_ERR_INVALID_ARG,
                "option to is required");
    CHECK_FAILS(ctx, awq_api_verify(ctx, TINY, "{\"max_rel_err\": -1}", &json),
                AWQ_ERR_INVALID_ARG, "max_rel_err");

    /* RTN over the bundled calibration text (found through awq_data_dir),
     * then the two-way repack and verify through the same calls */
    CHECK_OK(ctx, awq_api_quantize(ctx, TINY, out,
                                   "{\"method\": \"rtn\", \"samples\": 2, \"seqlen\": 32, "
                                   "\"max_shard_size\": 1000000000}",
                                   &json));
    CHECK(json && strstr(json, "\"method\":\t\"rtn\"") &&
          strstr(json, "\"logical_parameters\":\t6819072"));
    awq_api_free(json);
    char g[PATH_MAX];
    snprintf(g, sizeof g, "%s/g", tmp);
    CHECK_OK(ctx, awq_api_repack(ctx, out, g, "{\"to\": \"gptq\", \"force\": false}", &json));
    CHECK(json && strstr(json, "\"lossless\":\ttrue"));
    awq_api_free(json);
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "{\"against\": \"%s\"}", TINY);
    CHECK_OK(ctx, awq_api_verify(ctx, g, opts, &json));
    CHECK(json && strstr(json, "\"ok\":\ttrue") && strstr(json, "\"params_equal\":\ttrue"));
    awq_api_free(json);
    free(tmp);
}

static void test_data(void) {
    /* tests run from BUILD/tests: BUILD/share/awqkit is one level up */
    const char *d = awq_data_dir();
    CHECK_MSG(d != NULL, "no data directory found");
    char *calib = awq_data_file("text/calib-wikitext2-valid.jsonl.zst");
    CHECK(calib != NULL);
    CHECK(awq_data_file("text/no-such-file") == NULL);
    unsetenv("AWQKIT_CALIB");
    char *def = awq_default_calib_path();
    CHECK(def && calib && strcmp(def, calib) == 0);
    awq_api_free(def);
    setenv("AWQKIT_CALIB", "/elsewhere/c.jsonl", 1);
    def = awq_default_calib_path();
    CHECK(def && strcmp(def, "/elsewhere/c.jsonl") == 0);
    awq_api_free(def);
    unsetenv("AWQKIT_CALIB");
    char *text = awq_default_text_path();
    CHECK(text && strstr(text, "/text/wiki.test.raw"));
    awq_api_free(text);
    awq_api_free(calib);
}

int main(void) {
    awq_ctx *ctx = NULL;
    CHECK_OK(ctx, awq_api_ctx_create(2, AWQ_LOG_WARN, awq_test_log, NULL, NULL, &ctx));
    if (!ctx) return 1;
    test_syntax();
    test_data();
    test_calls(ctx);
    test_hub(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
