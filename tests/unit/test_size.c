/* tests/unit/test_size.c — size estimates against hand-computed bytes:
 * the 70.6e9 example, exact per-format bytes for the tiny-llama dims (from
 * its config and from its checkpoint: they must agree), packability notes,
 * the KV-cache figure and the fits verdict. */
#include "awq_test.h"
#include "core/core.h"

#include <cjson/cJSON.h>

static void test_params(awq_ctx *ctx) {
    CHECK_NEAR(awq_size_bits_per_weight(AWQ_SIZE_AWQ, 4, 128), 4.15625, 1e-12);
    CHECK_NEAR(awq_size_bits_per_weight(AWQ_SIZE_GPTQ, 4, 128), 4.15625, 1e-12);
    CHECK_NEAR(awq_size_bits_per_weight(AWQ_SIZE_GPTQ, 8, 64), 8.375, 1e-12);
    CHECK_NEAR(awq_size_bits_per_weight(AWQ_SIZE_FP16, 4, 128), 16, 0);
    awq_size_params p = awq_size_default_params();
    awq_size_result r;
    CHECK_OK(ctx, awq_size_from_params(ctx, 70.6e9, &p, &r));
    CHECK(!r.exact);
    /* 70.6e9 x (4 + 20/128) / 8 = 36,679,296,875 bytes = 36.68 GB */
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].weight_bytes, 36678906250ull);
    CHECK_NEAR(r.formats[AWQ_SIZE_AWQ].weight_bytes / 1e9, 36.68, 0.005);
    CHECK_EQ_INT(r.formats[AWQ_SIZE_FP16].weight_bytes, 141200000000ull);
    CHECK_EQ_INT(r.formats[AWQ_SIZE_FP32].weight_bytes, 282400000000ull);
    /* serving: weights + 1 GiB + 10% of weights */
    const awq_size_format_result *a = &r.formats[AWQ_SIZE_AWQ];
    CHECK_EQ_INT(a->overhead_bytes, 1073741824ull + 3667890625ull);
    CHECK_EQ_INT(a->serving_bytes, a->weight_bytes + a->overhead_bytes);
    CHECK_EQ_INT(a->fits, -1);
    /* fits: 24 GiB no, 48 GB yes (41.42 GB needed) */
    p.vram_bytes = 24ull << 30;
    CHECK_OK(ctx, awq_size_from_params(ctx, 70.6e9, &p, &r));
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].fits, 0);
    p.vram_bytes = 48000000000ull;
    CHECK_OK(ctx, awq_size_from_params(ctx, 70.6e9, &p, &r));
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].fits, 1);
    CHECK_EQ_INT(r.formats[AWQ_SIZE_FP16].fits, 0);
    /* AWQ layouts are 4-bit only */
    p = awq_size_default_params();
    p.bits = 8;
    CHECK_OK(ctx, awq_size_from_params(ctx, 1e9, &p, &r));
    CHECK(!r.formats[AWQ_SIZE_AWQ].supported);
    CHECK(r.formats[AWQ_SIZE_GPTQ].supported);
    CHECK_EQ_INT(r.formats[AWQ_SIZE_GPTQ].weight_bytes, 1023437500ull); /* 1e9*(8+24/128)/8 */
    /* bad parameters */
    p = awq_size_default_params();
    p.bits = 5;
    CHECK_FAILS(ctx, awq_size_from_params(ctx, 1e9, &p, &r), AWQ_ERR_INVALID_ARG, "bits 5");
    p = awq_size_default_params();
    CHECK_FAILS(ctx, awq_size_from_params(ctx, -1, &p, &r), AWQ_ERR_INVALID_ARG, "parameter count");
}

/* Hand-computed bytes of one K x N linear at 4 bits, group 128. */
static void test_linear_bytes(void) {
    /* GEMM K=256 N=256: qweight 256*32*4 + qzeros 2*32*4 + scales 2*256*2 */
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_AWQ, 4, 128, 256, 256), 32768 + 256 + 1024);
    /* GEMV K=256 N=256: qweight 256*32*4 + qzeros 256*1*4 + scales 256*8*2 */
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_AWQ_GEMV, 4, 128, 256, 256), 32768 + 1024 + 4096);
    /* GPTQ = GEMM bytes + g_idx 256*4 */
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_GPTQ, 4, 128, 256, 256), 32768 + 256 + 1024 + 1024);
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_GPTQ_V2, 4, 128, 256, 256), 32768 + 256 + 1024 + 1024);
    /* GEMV padding: K=4096 g=128 -> G=32 -> zeros width 4, scales 32 cols;
     * K=1152 -> G=9 -> width 2, 16 scale columns (7 padding) */
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_AWQ_GEMV, 4, 128, 1152, 64),
                 64 * 144 * 4 + 64 * 2 * 4 + 64 * 16 * 2);
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_INT8, 4, 128, 256, 64), 256 * 64 + 64 * 2);
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_FP8, 4, 128, 256, 64), 256 * 64 + 4);
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_BF16, 4, 128, 256, 64), 256 * 64 * 2);
    /* not packable */
    const char *why = NULL;
    CHECK(!awq_size_packable(AWQ_SIZE_AWQ, 4, 128, 700, 256, &why));
    CHECK(why && strstr(why, "group"));
    CHECK(!awq_size_packable(AWQ_SIZE_AWQ, 4, 128, 256, 700, &why));
    CHECK_EQ_INT(awq_size_linear_bytes(AWQ_SIZE_AWQ, 4, 128, 256, 700), 0);
    CHECK(awq_size_packable(AWQ_SIZE_FP16, 4, 128, 700, 700, NULL));
    CHECK(!awq_size_format_supported(AWQ_SIZE_AWQ_GEMV, 4, 96, &why));
}

/* tiny-llama: hidden 256, inter 768, 6 layers, 4 heads x 64, 2 kv heads,
 * vocab 4096, untied. */
#define TL_LAYER_AWQ 408576ull  /* 2*34048 (q,o) + 2*17024 (k,v) + 3*102144 */
#define TL_LAYER_GEMV 444416ull /* 2*37888 + 2*18944 + 2*113664 + 103424 */
#define TL_LAYER_GIDX 9216ull   /* (6*256 + 768) * 4 */
#define TL_OTHER_ELEMS (4096ull * 256 * 2 + 6 * 2 * 256 + 256) /* 2,100,480 */
#define TL_LINEAR_PARAMS (6ull * 786432)                       /* 4,718,592 */

static void check_tiny(const awq_size_result *r) {
    CHECK(r->exact);
    CHECK_EQ_INT(r->n_linears, 42);
    CHECK_EQ_INT(r->linear_params, TL_LINEAR_PARAMS);
    CHECK_NEAR(r->params, 6819072.0, 0);
    const uint64_t other16 = TL_OTHER_ELEMS * 2;
    CHECK_EQ_INT(r->formats[AWQ_SIZE_AWQ].weight_bytes, 6 * TL_LAYER_AWQ + other16);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_AWQ].weight_bytes, 6652416);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_AWQ_GEMV].weight_bytes, 6 * TL_LAYER_GEMV + other16);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_GPTQ].weight_bytes,
                 6 * (TL_LAYER_AWQ + TL_LAYER_GIDX) + other16);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_GPTQ_V2].weight_bytes,
                 r->formats[AWQ_SIZE_GPTQ].weight_bytes);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_FP16].weight_bytes, 13638144); /* the real file's data */
    CHECK_EQ_INT(r->formats[AWQ_SIZE_FP32].weight_bytes, 2 * 13638144);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_INT8].weight_bytes,
                 TL_LINEAR_PARAMS + 6 * 2 * (256 + 128 + 128 + 256 + 768 + 768 + 256) + other16);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_AWQ].n_packed, 42);
    CHECK_EQ_INT(r->formats[AWQ_SIZE_AWQ].n_unpackable, 0);
    CHECK_NEAR(r->formats[AWQ_SIZE_AWQ].bits_per_weight, 8.0 * 6 * TL_LAYER_AWQ / TL_LINEAR_PARAMS,
               1e-12);
    /* KV: 2 x 6 layers x 2 kv heads x 64 x 2 bytes = 3072 bytes per token */
    CHECK_EQ_INT(r->kv_bytes_per_token, 3072);
}

static void test_tiny_llama(awq_ctx *ctx) {
    awq_size_params p = awq_size_default_params();
    p.context = 2048;
    p.batch = 4;
    /* from the checkpoint */
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, AWQ_TEST_DATA "/tiny-llama", &ck));
    awq_size_result r;
    if (ck) {
        CHECK_OK(ctx, awq_size_from_checkpoint(ctx, ck, &p, &r));
        CHECK(r.from_checkpoint);
        check_tiny(&r);
        CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].kv_bytes, 3072ull * 2048 * 4); /* 25,165,824 */
        awq_checkpoint_free(ck);
    }
    /* from the config alone: same figures */
    char *buf = NULL;
    size_t n = 0;
    CHECK_OK(ctx, awq_read_file(ctx, AWQ_TEST_DATA "/tiny-llama/config.json", 1 << 20, &buf, &n));
    cJSON *root = cJSON_Parse(buf);
    awq_model_config cfg;
    CHECK_OK(ctx, awq_model_config_from_json(ctx, root, "config.json", &cfg));
    CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
    CHECK(!r.from_checkpoint && !r.vision_missing);
    check_tiny(&r);
    const awq_size_format_result *a = &r.formats[AWQ_SIZE_AWQ];
    CHECK_EQ_INT(a->kv_bytes, 25165824);
    CHECK_EQ_INT(a->serving_bytes, 6652416 + 25165824 + (1ull << 30) + 3181824); /* 10% rounded */
    /* fp8 KV halves it */
    p.kv_dtype = AWQ_DT_F8_E4M3;
    CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].kv_bytes, 12582912);
    /* fits: 1.5 GB yes, 1 GB no (overhead alone is 1 GiB) */
    p.vram_bytes = 1500000000ull;
    CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].fits, 1);
    p.vram_bytes = 1000000000ull;
    CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].fits, 0);

    /* intermediate 700: gate/up N=700 (700 % 8 != 0) and down K=700
     * (700 % 128 != 0) stay FP16 in the grouped formats, with notes. */
    cfg.intermediate = 700;
    p = awq_size_default_params();
    CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].n_unpackable, 18);
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].n_packed, 24);
    CHECK_EQ_INT(r.formats[AWQ_SIZE_FP16].n_unpackable, 0);
    /* bytes: 6 x (q,k,v,o packed: 34048*2 + 17024*2) + 18 x 256*700*2 + other */
    CHECK_EQ_INT(r.formats[AWQ_SIZE_AWQ].weight_bytes,
                 6 * (2 * 34048 + 2 * 17024) + 18ull * 256 * 700 * 2 + TL_OTHER_ELEMS * 2);
    bool note_gate = false, note_down = false;
    for (int i = 0; i < r.n_notes; i++) {
        if (strstr(r.notes[i], "mlp.gate_proj") && strstr(r.notes[i], "multiple of 8")) note_gate = true;
        if (strstr(r.notes[i], "mlp.down_proj") && strstr(r.notes[i], "group size")) note_down = true;
    }
    CHECK(note_gate);
    CHECK(note_down);

    /* tied embeddings: no lm_head bytes */
    cfg.intermediate = 768;
    cfg.tie_word_embeddings = true;
    CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
    CHECK_EQ_INT(r.formats[AWQ_SIZE_FP16].weight_bytes, 13638144 - 4096 * 256 * 2);
    cJSON_Delete(root);
    free(buf);
}

/* Mixture-of-experts configs count their experts (router and shared-expert
 * gate 16-bit): Mixtral-8x7B's published 46,702,792,704; a Qwen2-MoE with
 * a shared expert and a dense layer agrees with its own checkpoint. */
static void test_moe(awq_ctx *ctx) {
    awq_size_params p = awq_size_default_params();
    awq_size_result r;
    cJSON *root = cJSON_Parse(
        "{\"architectures\":[\"MixtralForCausalLM\"],\"hidden_size\":4096,"
        "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":8,\"vocab_size\":32000,\"num_local_experts\":8,"
        "\"num_experts_per_tok\":2,\"tie_word_embeddings\":false}");
    awq_model_config cfg;
    CHECK_OK(ctx, awq_model_config_from_json(ctx, root, "config.json", &cfg));
    CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
    CHECK_EQ_INT((int64_t)r.params, 46702792704LL);
    CHECK_EQ_INT(r.n_linears, 32 * (4 + 8 * 3));
    cJSON_Delete(root);

    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, AWQ_TEST_SRC "/ref/models/qwen2_moe", &ck));
    if (ck) {
        awq_size_result rc;
        CHECK_OK(ctx, awq_size_from_checkpoint(ctx, ck, &p, &rc));
        CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &cfg));
        CHECK_OK(ctx, awq_size_from_config(ctx, &cfg, &p, &r));
        CHECK_MSG(r.params == rc.params, "qwen2_moe: config %g vs checkpoint %g params", r.params,
                  rc.params);
        awq_checkpoint_free(ck);
    }
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    test_moe(ctx);
    test_params(ctx);
    test_linear_bytes();
    test_tiny_llama(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
