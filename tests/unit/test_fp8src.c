/* tests/unit/test_fp8src.c — FP8 block sources (lib/io/fp8src.c) on the
 * fixture of tests/ref/make_fp8_fixtures.py (a tiny Qwen3 cast to FP8 E4M3
 * with 128x128 weight_scale_inv, partial edge blocks):
 *  - the dequantized weights are bit-identical to torch's (fp8.float() *
 *    the block's F32 scale: one correctly rounded fp32 product each), whole
 *    and by row ranges crossing a block boundary;
 *  - awq_checkpoint_open leaves the FP8 weights unbound (inspect / count
 *    describe them as stored); awq_checkpoint_open_model binds them;
 *  - hostile input: unknown fmt, an unsupported or missing
 *    weight_block_size, an unknown activation_scheme (each naming the config
 *    field); a block size the scales do not fit, a missing scale (naming
 *    the tensor); a negative, zero or NaN
 *    scale (naming tensor and element); an E4M3 NaN code (naming tensor and
 *    element, at conversion). */
#include "awq_test.h"

#include "awqkit/checkpoint.h"

#include <stdint.h>
#include <unistd.h>

#define FIX AWQ_TEST_SRC "/ref/fp8"

static const char *const k_ref[] = {"model.layers.0.mlp.down_proj.weight",
                                    "model.layers.1.self_attn.k_proj.weight"};

static void check_dequant(awq_ctx *ctx) {
    awq_checkpoint *ck = NULL, *ref = NULL;
    CHECK_OK(ctx, awq_checkpoint_open_model(ctx, FIX "/tiny-qwen3-fp8", &ck));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, FIX "/dequant_ref.safetensors", &ref));
    if (!ck || !ref) goto out;
    CHECK(awq_checkpoint_is_fp8_source(ck));
    for (int i = 0; i < 2; i++) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, k_ref[i]);
        const awq_tensor_info *r = awq_checkpoint_find(ref, k_ref[i]);
        CHECK(t && r && t->scale_inv && r->dtype == AWQ_DT_F32);
        if (!t || !r || !t->scale_inv) continue;
        CHECK(t->block[0] == 128 && t->block[1] == 128);
        const int64_t N = t->shape[0], K = t->shape[1];
        CHECK(N % 128 != 0 && K % 128 != 0); /* partial edge blocks */
        float *w = malloc(sizeof(float) * (size_t)(N * K));
        float *want = malloc(sizeof(float) * (size_t)(N * K));
        CHECK_OK(ctx, awq_tensor_to_f32(ctx, r, want));
        memset(w, 0, sizeof(float) * (size_t)(N * K));
        CHECK_OK(ctx, awq_tensor_to_f32_finite(ctx, t, w));
        int64_t bad = -1;
        for (int64_t j = 0; j < N * K && bad < 0; j++)
            if (memcmp(&w[j], &want[j], 4) != 0) bad = j;
        CHECK_MSG(bad < 0, "%s: element %lld: %.9g vs torch %.9g", k_ref[i], (long long)bad,
                  bad >= 0 ? w[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
        /* rows crossing the block boundary at 128 (and the partial tail) */
        const int64_t r0 = N > 130 ? 100 : 10, nr = N - r0;
        memset(w, 0, sizeof(float) * (size_t)(N * K));
        CHECK_OK(ctx, awq_tensor_rows_to_f32(ctx, t, r0, nr, w));
        CHECK(memcmp(w, want + r0 * K, sizeof(float) * (size_t)(nr * K)) == 0);
        free(w);
        free(want);
    }
out:
    awq_checkpoint_free(ck);
    awq_checkpoint_free(ref);

    /* a plain open describes, it does not bind */
    ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, FIX "/tiny-qwen3-fp8", &ck));
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, k_ref[0]);
        CHECK(t && !t->scale_inv && !awq_checkpoint_is_fp8_source(ck));
        float *w = malloc(sizeof(float) * (size_t)t->n_elements);
        CHECK_FAILS(ctx, awq_tensor_to_f32(ctx, t, w), AWQ_ERR_UNSUPPORTED, "F8_E4M3");
        free(w);
        /* binding afterwards works too */
        CHECK_OK(ctx, awq_checkpoint_bind_fp8(ctx, ck));
        CHECK(t->scale_inv && awq_checkpoint_is_fp8_source(ck));
    }
    awq_checkpoint_free(ck);
    /* a BF16 model is left alone */
    ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open_model(ctx, FIX "/tiny-qwen3", &ck));
    CHECK(ck && !awq_checkpoint_is_fp8_source(ck));
    awq_checkpoint_free(ck);
}

/* ------------------------------------------------------------ hostile */

static char g_dir[1200];

/* A fresh copy of the FP8 fixture with `from` replaced by `to` in its
 * config.json (NULL: unchanged). */
static void fresh_copy(const char *tmp, const char *from, const char *to) {
    snprintf(g_dir, sizeof g_dir, "%s/m", tmp);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/tiny-qwen3-fp8' '%s'", g_dir, FIX,
             g_dir);
    if (system(cmd) != 0) exit(2);
    if (!from) return;
    char path[1300];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    FILE *f = fopen(path, "rb");
    if (!f) exit(2);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *at = strstr(buf, from);
    CHECK_MSG(at != NULL, "config lacks '%s'", from);
    if (!at) return;
    f = fopen(path, "wb");
    fwrite(buf, 1, (size_t)(at - buf), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
}

/* Overwrite element idx (of width w bytes) of tensor `name` in the copy. */
static void poke(awq_ctx *ctx, const char *name, uint64_t idx, const void *v, size_t w) {
    awq_checkpoint *ck = NULL;
    if (awq_checkpoint_open(ctx, g_dir, &ck) != AWQ_OK) exit(2);
    const awq_tensor_info *t = awq_checkpoint_find(ck, name);
    if (!t) exit(2);
    char path[1300];
    snprintf(path, sizeof path, "%s", awq_checkpoint_shard_path(ck, (size_t)t->shard));
    uint64_t off = t->file_offset + idx * w;
    awq_checkpoint_free(ck);
    FILE *f = fopen(path, "r+b");
    if (!f || fseek(f, (long)off, SEEK_SET) != 0 || fwrite(v, 1, w, f) != w) exit(2);
    fclose(f);
}

static void expect_open_fails(awq_ctx *ctx, awq_status st, const char *n1, const char *n2) {
    awq_checkpoint *ck = NULL;
    awq_status s = awq_checkpoint_open_model(ctx, g_dir, &ck);
    CHECK_MSG(s == st, "open -> %s (want %s): %s", awq_strerror(s), awq_strerror(st),
              awq_ctx_errmsg(ctx));
    CHECK_MSG(strstr(awq_ctx_errmsg(ctx), n1) != NULL, "message '%s' lacks '%s'",
              awq_ctx_errmsg(ctx), n1);
    if (n2)
        CHECK_MSG(strstr(awq_ctx_errmsg(ctx), n2) != NULL, "message '%s' lacks '%s'",
                  awq_ctx_errmsg(ctx), n2);
    CHECK(ck == NULL);
    awq_checkpoint_free(ck);
}

static void check_hostile(awq_ctx *ctx) {
    char *tmp = awq_test_tmpdir("fp8src");
    const char *wb = "\"weight_block_size\": [\n      128,\n      128\n    ]";

    fresh_copy(tmp, "\"e4m3\"", "\"e5m2\"");
    expect_open_fails(ctx, AWQ_ERR_UNSUPPORTED, "quantization_config.fmt", "e5m2");
    fresh_copy(tmp, wb, "\"weight_block_size\": [100, 128]");
    expect_open_fails(ctx, AWQ_ERR_UNSUPPORTED, "quantization_config.weight_block_size[0]",
                      NULL);
    fresh_copy(tmp, wb, "\"weight_block_size\": [128]");
    expect_open_fails(ctx, AWQ_ERR_FORMAT, "quantization_config.weight_block_size", NULL);
    fresh_copy(tmp, wb, "\"weight_block_size\": null");
    expect_open_fails(ctx, AWQ_ERR_UNSUPPORTED, "quantization_config.weight_block_size", NULL);
    fresh_copy(tmp, "\"dynamic\"", "\"per-token\"");
    expect_open_fails(ctx, AWQ_ERR_UNSUPPORTED, "quantization_config.activation_scheme", NULL);
    /* scales of 128x128 blocks read with 64x128: the shape disagrees */
    fresh_copy(tmp, wb, "\"weight_block_size\": [64, 128]");
    expect_open_fails(ctx, AWQ_ERR_MISMATCH, "_scale_inv' has shape", "[64, 128]");

    /* scale values: negative, zero, NaN, too large */
    const char *sc = "model.layers.1.mlp.up_proj.weight_scale_inv";
    const float vals[] = {-0.5f, 0.0f, NAN, 1e37f};
    for (int i = 0; i < 4; i++) {
        fresh_copy(tmp, NULL, NULL);
        poke(ctx, sc, 3, &vals[i], 4); /* [1, 1] of [3, 2] */
        expect_open_fails(ctx, AWQ_ERR_RANGE, sc, "element [1, 1]");
    }
    /* a missing scale: the F32 scale renamed in the header (same length) */
    fresh_copy(tmp, NULL, NULL);
    {
        char path[1300], cmd[2000];
        snprintf(path, sizeof path, "%s/model.safetensors", g_dir);
        snprintf(cmd, sizeof cmd,
                 "sed -i 's/layers.0.self_attn.o_proj.weight_scale_inv/layers.0.self_attn.o_proj.weight_scale_XXX/' '%s'",
                 path);
        CHECK(system(cmd) == 0);
        expect_open_fails(ctx, AWQ_ERR_NOT_FOUND, "model.layers.0.self_attn.o_proj.weight",
                          "_scale_inv' is missing");
    }

    /* an E4M3 NaN code: binding reads no weight; conversion names it */
    fresh_copy(tmp, NULL, NULL);
    const char *wn = "model.layers.0.mlp.gate_proj.weight";
    const uint8_t nan_code = 0xff;
    poke(ctx, wn, 5 * 160 + 130, &nan_code, 1); /* [5, 130] of [288, 160] */
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open_model(ctx, g_dir, &ck));
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, wn);
        float *w = malloc(sizeof(float) * (size_t)t->n_elements);
        CHECK_FAILS(ctx, awq_tensor_to_f32(ctx, t, w), AWQ_ERR_RANGE, "element [5, 130]");
        CHECK(strstr(awq_ctx_errmsg(ctx), wn) != NULL);
        CHECK_FAILS(ctx, awq_tensor_rows_to_f32(ctx, t, 4, 3, w), AWQ_ERR_RANGE,
                    "NaN code at element [5, 130]");
        CHECK_OK(ctx, awq_tensor_rows_to_f32(ctx, t, 6, 10, w));
        free(w);
    }
    awq_checkpoint_free(ck);
    free(tmp);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    check_dequant(ctx);
    check_hostile(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
