/* tests/unit/test_synth.c — synthetic checkpoints: round trip through the
 * reader and the config parser, byte-identical output for 1 and 2 threads
 * and for any shard size, outlier channels where the result says, packed
 * formats that detect / count / unpack as what they claim, and the
 * Qwen2.5-VL-3B shape counted against hand-computed figures. */
#include "awq_test.h"
#include "awqkit/runtime.h"
#include "core/core.h"

#include <sys/stat.h>

static char *g_tmp;

static char *tmp_path(const char *name) { return awq_path_join(g_tmp, name); }

static awq_checkpoint *open_ck(awq_ctx *ctx, const char *dir) {
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    return ck;
}

static bool files_equal(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool ok = awq_read_file(NULL, a, 1ull << 31, &x, &nx) == AWQ_OK &&
              awq_read_file(NULL, b, 1ull << 31, &y, &ny) == AWQ_OK && nx == ny &&
              memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return ok;
}

static const awq_tensor_info *find(const awq_checkpoint *ck, const char *name) {
    const awq_tensor_info *t = awq_checkpoint_find(ck, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    return t;
}

static bool shape2(const awq_tensor_info *t, int64_t a, int64_t b) {
    return t && t->ndim == 2 && t->shape[0] == a && t->shape[1] == b;
}

static float f16_at(const awq_tensor_info *t, size_t i) {
    uint16_t h;
    memcpy(&h, (const unsigned char *)t->data + 2 * i, 2);
    return awq_f16_to_f32(h);
}

/* ------------------------------------------------------- round trip */

static void test_round_trip(awq_ctx *ctx) {
    awq_synth_params p = awq_synth_default_params();
    p.seed = 5;
    char *dir = tmp_path("rt");
    awq_synth_result r;
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, &r));
    CHECK_EQ_INT(r.n_tensors, 57);
    CHECK_EQ_INT(r.n_shards, 1);
    CHECK_EQ_INT(r.logical_params, 6819072);
    CHECK_EQ_INT(r.tensor_bytes, 2 * 6819072);
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        awq_model_config c;
        CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &c));
        CHECK(strcmp(c.architecture, "LlamaForCausalLM") == 0 && c.arch != NULL);
        CHECK_EQ_INT(c.hidden, 256);
        CHECK_EQ_INT(c.intermediate, 768);
        CHECK_EQ_INT(c.n_layers, 6);
        CHECK_EQ_INT(c.n_heads, 4);
        CHECK_EQ_INT(c.n_kv_heads, 2);
        CHECK_EQ_INT(c.head_dim, 64);
        CHECK_EQ_INT(c.vocab, 4096);
        CHECK_EQ_INT(c.max_pos, 2048);
        CHECK_NEAR(c.rope_theta, 10000.0, 0);
        CHECK_NEAR(c.rms_eps, 1e-5, 0);
        CHECK(!c.tie_word_embeddings);
        CHECK(c.torch_dtype == AWQ_DT_F16);
        CHECK(!c.quant.present);
        char pre[64];
        CHECK_OK(ctx, awq_model_find_prefix(ctx, ck, pre, sizeof pre));
        CHECK(strcmp(pre, "model.") == 0);
        /* every linear of every layer with the shape the arch table gives */
        for (int L = 0; L < 6; L++) {
            for (int i = 0; i < c.arch->n_linears; i++) {
                const awq_linear_desc *d = &c.arch->linears[i];
                char nm[128];
                snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", L, d->name);
                const awq_tensor_info *t = find(ck, nm);
                CHECK_MSG(shape2(t, awq_model_dim(&c, d->out_dim), awq_model_dim(&c, d->in_dim)),
                          "%s shape", nm);
                CHECK(t && t->dtype == AWQ_DT_F16);
            }
        }
        CHECK(shape2(find(ck, "model.embed_tokens.weight"), 4096, 256));
        CHECK(shape2(find(ck, "lm_head.weight"), 4096, 256));
        /* weights ~ N(0, 0.02): q_proj of layer 0 */
        const awq_tensor_info *q = find(ck, "model.layers.0.self_attn.q_proj.weight");
        if (q) {
            double s = 0, s2 = 0;
            for (size_t i = 0; i < q->n_elements; i++) {
                double v = f16_at(q, i);
                s += v;
                s2 += v * v;
            }
            double mean = s / (double)q->n_elements, sd = sqrt(s2 / (double)q->n_elements - mean * mean);
            CHECK_NEAR(mean, 0.0, 0.001);
            CHECK_NEAR(sd, 0.02, 0.001);
        }
        /* o_proj scaled by 1/sqrt(2 * layers) */
        const awq_tensor_info *o = find(ck, "model.layers.0.self_attn.o_proj.weight");
        if (o) {
            double s2 = 0;
            for (size_t i = 0; i < o->n_elements; i++) s2 += (double)f16_at(o, i) * f16_at(o, i);
            CHECK_NEAR(sqrt(s2 / (double)o->n_elements), 0.02 / sqrt(12.0), 0.0005);
        }
        awq_count_result cr;
        CHECK_OK(ctx, awq_count(ctx, ck, &cr));
        CHECK_EQ_INT(cr.logical, 6819072);
        awq_checkpoint_free(ck);
    }
    /* exists without force */
    CHECK_FAILS(ctx, awq_synth_write(ctx, dir, &p, NULL), AWQ_ERR_EXISTS, dir);
    p.force = true;
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
    free(dir);
}

/* ---------------------------------------------- determinism, sharding */

static void test_determinism(void) {
    awq_ctx *c1 = awq_test_ctx(1), *c2 = awq_test_ctx(2);
    awq_synth_params p = awq_synth_default_params();
    p.seed = 11;
    char *a = tmp_path("det1"), *b = tmp_path("det2");
    CHECK_OK(c1, awq_synth_write(c1, a, &p, NULL));
    CHECK_OK(c2, awq_synth_write(c2, b, &p, NULL));
    char *fa = awq_path_join(a, "model.safetensors"), *fb = awq_path_join(b, "model.safetensors");
    CHECK(files_equal(fa, fb));
    free(fa);
    free(fb);
    fa = awq_path_join(a, "config.json");
    fb = awq_path_join(b, "config.json");
    CHECK(files_equal(fa, fb));
    free(fa);
    free(fb);
    /* a different seed gives different data */
    char *c = tmp_path("det3");
    p.seed = 12;
    CHECK_OK(c2, awq_synth_write(c2, c, &p, NULL));
    fa = awq_path_join(a, "model.safetensors");
    fb = awq_path_join(c, "model.safetensors");
    CHECK(!files_equal(fa, fb));
    free(fa);
    free(fb);

    /* sharded: many shards, each tensor byte-identical to the single file */
    p.seed = 11;
    p.max_shard_bytes = 1500000;
    char *s = tmp_path("sharded");
    awq_synth_result r;
    CHECK_OK(c2, awq_synth_write(c2, s, &p, &r));
    /* embed and lm_head (2 MiB each) exceed the cap: shards of their own */
    CHECK(r.n_shards >= 9);
    char *idx = awq_path_join(s, "model.safetensors.index.json");
    CHECK(awq_path_exists(idx));
    free(idx);
    awq_checkpoint *k1 = open_ck(c1, a), *k2 = open_ck(c1, s);
    if (k1 && k2) {
        CHECK_EQ_INT(awq_checkpoint_n_shards(k2), r.n_shards);
        CHECK_EQ_INT(awq_checkpoint_n_tensors(k2), 57);
        for (size_t i = 0; i < awq_checkpoint_n_tensors(k1); i++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(k1, i);
            const awq_tensor_info *u = awq_checkpoint_find(k2, t->name);
            CHECK_MSG(u && u->n_bytes == t->n_bytes && memcmp(u->data, t->data, t->n_bytes) == 0,
                      "%s differs when sharded", t->name);
        }
        for (size_t i = 0; i < awq_checkpoint_n_shards(k2); i++)
            CHECK(awq_checkpoint_shard_bytes(k2, i) <= 1500000 + 4096 ||
                  awq_checkpoint_tensor(k2, 0)->n_bytes > 1500000);
    }
    awq_checkpoint_free(k1);
    awq_checkpoint_free(k2);
    free(a);
    free(b);
    free(c);
    free(s);
    awq_ctx_free(c1);
    awq_ctx_free(c2);
}

/* ------------------------------------------------------------ outliers */

static int cmp_f(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

static void test_outliers(awq_ctx *ctx) {
    awq_synth_params p = awq_synth_default_params();
    p.seed = 7;
    p.n_outliers = 3;
    p.outlier_scale = 25;
    char *dir = tmp_path("outliers");
    awq_synth_result r;
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, &r));
    CHECK_EQ_INT(r.n_outliers, 3);
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (!ck) return;
    bool is_out[256] = {0};
    for (int i = 0; i < r.n_outliers; i++) {
        CHECK(r.outlier_channels[i] >= 0 && r.outlier_channels[i] < 256);
        is_out[r.outlier_channels[i]] = true;
    }
    for (int L = 0; L < 6; L++) {
        static const char *const norms[] = {"input_layernorm", "post_attention_layernorm"};
        for (int k = 0; k < 2; k++) {
            char nm[96];
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", L, norms[k]);
            const awq_tensor_info *t = find(ck, nm);
            if (!t) continue;
            int bad = 0;
            for (int c = 0; c < 256; c++) {
                float v = f16_at(t, (size_t)c);
                if (is_out[c] ? v != 25.0f : fabsf(v - 1.0f) > 0.1f) bad++;
            }
            CHECK_MSG(bad == 0, "%s: %d channels off", nm, bad);
        }
    }
    /* embedding columns of the outlier channels ~4x the typical column */
    const awq_tensor_info *e = find(ck, "model.embed_tokens.weight");
    if (e) {
        float col[256], sorted[256];
        for (int c = 0; c < 256; c++) {
            double s = 0;
            for (int v = 0; v < 4096; v++) s += fabs(f16_at(e, (size_t)v * 256 + (size_t)c));
            col[c] = sorted[c] = (float)(s / 4096);
        }
        qsort(sorted, 256, sizeof(float), cmp_f);
        float med = sorted[128];
        for (int i = 0; i < r.n_outliers; i++)
            CHECK_NEAR(col[r.outlier_channels[i]] / med, 4.0, 0.3);
    }
    /* up_proj rows of the intermediate outliers ~sqrt(25) = 5x */
    const awq_tensor_info *u = find(ck, "model.layers.2.mlp.up_proj.weight");
    if (u) {
        for (int i = 0; i < r.n_outliers; i++) {
            int64_t row = r.outlier_inter_channels[i];
            int64_t ref = (row + 1) % 768;
            double s = 0, sr = 0;
            for (int k = 0; k < 256; k++) {
                s += fabs(f16_at(u, (size_t)(row * 256 + k)));
                sr += fabs(f16_at(u, (size_t)(ref * 256 + k)));
            }
            CHECK_NEAR(s / sr, 5.0, 1.0);
        }
    }
    awq_checkpoint_free(ck);
    free(dir);
}

/* ------------------------------------------------------- packed formats */

static void test_packed(awq_ctx *ctx) {
    static const struct {
        awq_qformat f;
        awq_ckpt_kind kind;
    } cases[] = {
        {AWQ_QFMT_AWQ_GEMM, AWQ_CKPT_AWQ_GEMM},
        {AWQ_QFMT_AWQ_GEMV, AWQ_CKPT_AWQ_GEMV},
        {AWQ_QFMT_GPTQ, AWQ_CKPT_GPTQ_V1},
        {AWQ_QFMT_GPTQ_V2, AWQ_CKPT_GPTQ_V2},
    };
    for (size_t ci = 0; ci < AWQ_ARRAY_LEN(cases); ci++) {
        awq_synth_params p = awq_synth_default_params();
        p.n_layers = 2;
        p.quantized = true;
        p.qformat = cases[ci].f;
        p.force = true;
        char *dir = tmp_path("packed");
        awq_synth_result r;
        CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, &r));
        /* logical: the dense tiny shape with 2 layers */
        CHECK_EQ_INT(r.logical_params, 2 * 786944 + 2 * 4096 * 256 + 256);
        awq_checkpoint *ck = open_ck(ctx, dir);
        if (!ck) continue;
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK_MSG(d.kind == cases[ci].kind, "%s detected as %s", awq_format_get(cases[ci].f)->name,
                  awq_ckpt_kind_name(d.kind));
        CHECK(d.config_agrees);
        CHECK_EQ_INT(d.n_packed_linears, 14);
        CHECK_EQ_INT(d.bits, 4);
        CHECK_EQ_INT(d.group_size, 128);
        if (!d.config_agrees)
            for (int i = 0; i < d.n_notes; i++) fprintf(stderr, "  note: %s\n", d.notes[i]);
        awq_count_result cr;
        CHECK_OK(ctx, awq_count(ctx, ck, &cr));
        CHECK_EQ_INT(cr.logical, r.logical_params);
        CHECK_EQ_INT(cr.n_quant_linears, 14);
        awq_model_config c;
        CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &c));
        CHECK(c.quant.present && c.quant.bits == 4 && c.quant.group_size == 128);
        /* the packed tensors decode with the packers' own unpacker */
        const awq_format_info *fi = awq_format_get(cases[ci].f);
        awq_packed in;
        memset(&in, 0, sizeof in);
        in.format = cases[ci].f;
        in.n_tensors = fi->n_tensors;
        static const char *const suf[] = {"qweight", "qzeros", "scales", "g_idx"};
        bool all = true;
        for (int i = 0; i < fi->n_tensors; i++) {
            char nm[128];
            snprintf(nm, sizeof nm, "model.layers.1.mlp.down_proj.%s", suf[i]);
            const awq_tensor_info *t = find(ck, nm);
            if (!t) {
                all = false;
                break;
            }
            in.t[i].suffix = suf[i];
            in.t[i].dtype = t->dtype;
            in.t[i].ndim = t->ndim;
            in.t[i].shape[0] = t->shape[0];
            in.t[i].shape[1] = t->ndim > 1 ? t->shape[1] : 0;
            in.t[i].n_bytes = t->n_bytes;
            in.t[i].data = (void *)t->data;
        }
        if (all) {
            awq_unpack_params up = {4, 128, cases[ci].f >= AWQ_QFMT_GPTQ};
            awq_qtensor q;
            CHECK_OK(ctx, awq_unpack(ctx, "down_proj", cases[ci].f, &in, &up, &q));
            CHECK_EQ_INT(q.K, 768);
            CHECK_EQ_INT(q.N, 256);
            int bad = 0;
            for (int64_t i = 0; i < q.n_groups * q.N; i++) {
                float s = awq_f16_to_f32(q.scales[i]);
                if (!(s > 0.003f && s < 0.012f)) bad++;
                if (q.zeros[i] < 6 || q.zeros[i] > 9) bad++;
            }
            CHECK_EQ_INT(bad, 0);
            awq_qtensor_free(&q);
        }
        awq_checkpoint_free(ck);
        free(dir);
    }
    /* a linear the format cannot store: refused, naming it */
    awq_synth_params p = awq_synth_default_params();
    p.intermediate = 700;
    p.quantized = true;
    p.qformat = AWQ_QFMT_AWQ_GEMM;
    char *dir = tmp_path("unpackable");
    CHECK_FAILS(ctx, awq_synth_write(ctx, dir, &p, NULL), AWQ_ERR_UNSUPPORTED, "gate_proj");
    char *m = awq_path_join(dir, "model.safetensors");
    CHECK(!awq_path_exists(m));
    free(m);
    free(dir);
}

/* --------------------------------------------------- archs, validation */

static void test_archs(awq_ctx *ctx) {
    awq_synth_params p = awq_synth_default_params();
    p.arch = "qwen3";
    p.dtype = AWQ_DT_BF16;
    p.tie_word_embeddings = true;
    p.force = true;
    char *dir = tmp_path("qwen3");
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        awq_model_config c;
        CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &c));
        CHECK(c.arch && c.arch->qk_norm);
        CHECK(c.torch_dtype == AWQ_DT_BF16 && c.tie_word_embeddings);
        const awq_tensor_info *t = find(ck, "model.layers.5.self_attn.k_norm.weight");
        CHECK(t && t->ndim == 1 && t->shape[0] == 64 && t->dtype == AWQ_DT_BF16);
        CHECK(awq_checkpoint_find(ck, "lm_head.weight") == NULL);
        CHECK(awq_checkpoint_find(ck, "model.layers.0.self_attn.q_proj.bias") == NULL);
        awq_checkpoint_free(ck);
    }
    free(dir);
    p = awq_synth_default_params();
    p.arch = "qwen2";
    p.force = true;
    dir = tmp_path("qwen2");
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
    ck = open_ck(ctx, dir);
    if (ck) {
        const awq_tensor_info *b = find(ck, "model.layers.0.self_attn.k_proj.bias");
        CHECK(b && b->ndim == 1 && b->shape[0] == 128);
        CHECK(awq_checkpoint_find(ck, "model.layers.0.self_attn.o_proj.bias") == NULL);
        awq_checkpoint_free(ck);
    }
    free(dir);

    dir = tmp_path("invalid");
    p = awq_synth_default_params();
    p.arch = "gpt2";
    CHECK_FAILS(ctx, awq_synth_write(ctx, dir, &p, NULL), AWQ_ERR_INVALID_ARG, "gpt2");
    p = awq_synth_default_params();
    p.n_kv_heads = 3;
    CHECK_FAILS(ctx, awq_synth_write(ctx, dir, &p, NULL), AWQ_ERR_INVALID_ARG, "kv-heads");
    p = awq_synth_default_params();
    p.n_outliers = 200;
    CHECK_FAILS(ctx, awq_synth_write(ctx, dir, &p, NULL), AWQ_ERR_INVALID_ARG, "outliers");
    CHECK_FAILS(ctx, awq_synth_preset(ctx, "13b", &p), AWQ_ERR_INVALID_ARG, "qwen2.5-vl-3b");
    free(dir);
}

/* ------------------------------------------------- Qwen2.5-VL-3B shape */

/* The new families: each opens in the forward and gives finite logits;
 * MoE experts are named per expert as on the Hub, the router stays dense
 * when the experts are packed; Gemma norms are stored as w (the forward
 * multiplies by 1 + w), so the outlier channels sit at outlier_scale - 1. */
static void test_new_archs(awq_ctx *ctx) {
    static const struct {
        const char *arch, *tensor;
        int64_t n0, n1;
    } cases[] = {
        {"phi3", "model.layers.1.self_attn.qkv_proj.weight", (4 + 2 * 2) * 64, 256},
        {"phi3", "model.layers.0.mlp.gate_up_proj.weight", 2 * 768, 256},
        {"gemma2", "model.layers.1.pre_feedforward_layernorm.weight", 256, -1},
        {"gemma3", "model.layers.0.self_attn.q_norm.weight", 64, -1},
        {"mixtral", "model.layers.1.block_sparse_moe.experts.7.w2.weight", 256, 768},
        {"qwen2-moe", "model.layers.0.mlp.shared_expert_gate.weight", 1, 256},
        {"qwen3-moe", "model.layers.1.mlp.experts.3.up_proj.weight", 192, 256},
        /* DeepSeek defaults: a plain q_proj, kv_lora hidden/4, rope and
         * nope head_dim/2, v head_dim, every layer experts */
        {"deepseek-v3", "model.layers.1.mlp.gate.e_score_correction_bias", 8, -1},
        {"deepseek-v2", "model.layers.0.self_attn.kv_b_proj.weight", 4 * (32 + 64), 64},
        {"deepseek-v2", "model.layers.1.self_attn.q_proj.weight", 4 * (32 + 32), 256},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(cases); i++) {
        awq_synth_params p = awq_synth_default_params();
        p.arch = cases[i].arch;
        p.n_layers = 2;
        p.vocab = 300;
        p.force = true;
        char *dir = tmp_path(cases[i].arch);
        CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
        awq_checkpoint *ck = open_ck(ctx, dir);
        if (ck) {
            const awq_tensor_info *t = find(ck, cases[i].tensor);
            CHECK_MSG(t && t->shape[0] == cases[i].n0 &&
                          (cases[i].n1 < 0 ? t->ndim == 1 : t->shape[1] == cases[i].n1),
                      "%s: %s", cases[i].arch, cases[i].tensor);
            awq_model *m = NULL;
            awq_runtime_params rp = awq_runtime_default_params();
            CHECK_OK(ctx, awq_model_open(ctx, ck, &rp, &m));
            int32_t ids[16];
            for (int k = 0; k < 16; k++) ids[k] = (k * 37) % 300;
            float *lg = malloc(sizeof(float) * 16 * 300);
            if (m) CHECK_OK(ctx, awq_model_forward_logits(m, ids, 1, 16, lg));
            bool finite = m != NULL;
            for (int k = 0; m && k < 16 * 300; k++) finite &= isfinite(lg[k]) != 0;
            CHECK_MSG(finite, "%s: logits not finite", cases[i].arch);
            free(lg);
            awq_model_free(m);
            if (!strcmp(cases[i].arch, "gemma2")) {
                /* outlier channel of input_layernorm: stored outlier_scale - 1 */
                awq_synth_result sr;
                CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, &sr));
                float v[256];
                const awq_tensor_info *n = find(ck, "model.layers.0.input_layernorm.weight");
                if (n && awq_tensor_to_f32(ctx, n, v) == AWQ_OK)
                    CHECK_NEAR(v[sr.outlier_channels[0]], p.outlier_scale - 1, 1e-2);
            }
            awq_checkpoint_free(ck);
        }
        free(dir);
    }
    /* DeepSeek-V3 with q_lora, a dense first layer and a shared expert */
    {
        awq_synth_params p = awq_synth_default_params();
        p.arch = "deepseek-v3";
        p.n_layers = 2;
        p.vocab = 300;
        p.q_lora_rank = 96;
        p.first_k_dense = 1;
        p.n_shared_experts = 2;
        p.force = true;
        char *dir = tmp_path("deepseek-v3-qlora");
        CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
        awq_checkpoint *ck = open_ck(ctx, dir);
        if (ck) {
            const awq_tensor_info *t = find(ck, "model.layers.1.mlp.shared_experts.up_proj.weight");
            CHECK(t && t->shape[0] == 2 * 192 && t->shape[1] == 256);
            t = find(ck, "model.layers.0.self_attn.q_b_proj.weight");
            CHECK(t && t->shape[0] == 4 * 64 && t->shape[1] == 96);
            CHECK(find(ck, "model.layers.0.mlp.gate_proj.weight") != NULL);
            CHECK(awq_checkpoint_find(ck, "model.layers.0.mlp.experts.0.gate_proj.weight") == NULL);
            CHECK(find(ck, "model.layers.1.self_attn.q_a_layernorm.weight") != NULL);
            awq_model *m = NULL;
            awq_runtime_params rp = awq_runtime_default_params();
            CHECK_OK(ctx, awq_model_open(ctx, ck, &rp, &m));
            int32_t ids[16];
            for (int k = 0; k < 16; k++) ids[k] = (k * 37) % 300;
            float *lg = malloc(sizeof(float) * 16 * 300);
            if (m) CHECK_OK(ctx, awq_model_forward_logits(m, ids, 1, 16, lg));
            bool finite = m != NULL;
            for (int k = 0; m && k < 16 * 300; k++) finite &= isfinite(lg[k]) != 0;
            CHECK(finite);
            free(lg);
            awq_model_free(m);
            awq_checkpoint_free(ck);
        }
        free(dir);
    }
    /* packed MoE: experts packed, the router dense */
    awq_synth_params p = awq_synth_default_params();
    p.arch = "mixtral";
    p.n_layers = 1;
    p.quantized = true;
    p.force = true;
    char *dir = tmp_path("mixtral-awq");
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        CHECK(find(ck, "model.layers.0.block_sparse_moe.experts.0.w1.qweight") != NULL);
        CHECK(find(ck, "model.layers.0.block_sparse_moe.gate.weight") != NULL);
        /* the forward reads packed experts (the dense linears' unpacker) */
        awq_model *m = NULL;
        awq_runtime_params rp = awq_runtime_default_params();
        CHECK_OK(ctx, awq_model_open(ctx, ck, &rp, &m));
        int32_t ids[8] = {1, 5, 9, 200, 7, 3, 4095, 0};
        float *lg = malloc(sizeof(float) * 8 * 4096);
        if (m) CHECK_OK(ctx, awq_model_forward_logits(m, ids, 1, 8, lg));
        bool finite = m != NULL;
        for (int k = 0; m && k < 8 * 4096; k++) finite &= isfinite(lg[k]) != 0;
        CHECK(finite);
        free(lg);
        awq_model_free(m);
        awq_checkpoint_free(ck);
    }
    free(dir);
    /* bad MoE shape */
    p.quantized = false;
    p.n_experts_per_tok = 9;
    dir = tmp_path("mixtral-bad");
    CHECK_FAILS(ctx, awq_synth_write(ctx, dir, &p, NULL), AWQ_ERR_INVALID_ARG, "experts-per-tok");
    free(dir);
}

static void test_qwen25_vl_3b(awq_ctx *ctx) {
    /* Hand computation (hidden 2048, inter 11008, 36 layers, 16 heads x
     * 128, 2 kv heads, vocab 151936, tied; vision depth 32, hidden 1280,
     * inter 3420, merger 5120 -> 2048):
     *   vision block: norms 2*1280 + qkv 3840*1280+3840 + proj 1280*1280+1280
     *                 + gate/up 2*(3420*1280+3420) + down 1280*3420+1280
     *               = 19,702,200;  x32 = 630,470,400
     *   patch_embed 1280*3*2*14*14 = 1,505,280
     *   merger ln_q 1280 + 5120*5120+5120 + 2048*5120+2048 = 36,708,608
     *   vision total 668,684,288
     *   text linears per layer: q,o 2048*2048 x2 + k,v 2048*256 x2
     *                           + 3 * 2048*11008 = 77,070,336; x36 = 2,774,532,096
     *   biases 36*(2048+256+256) = 92,160; norms 36*2*2048 + 2048 = 149,504
     *   embed 151936*2048 = 311,164,928 (lm_head tied: not stored)
     *   logical = 3,754,622,976
     *   loaded = logical - packed linears = 980,090,880
     *   stored (AWQ GEMM g128): per layer q,o 2*(2048*256 + 16*256 + 16*2048)
     *     + k,v 2*(2048*32 + 16*32 + 16*256) + gate,up,down 3*(2048*1376 +
     *     16*1376 + 16*11008) = 10,311,168; x36 = 371,202,048
     *     + 668,684,288 + 311,164,928 + 149,504 + 92,160 = 1,351,292,928 */
    const uint64_t vision = 32ull * 19702200 + 1505280 + 36708608;
    CHECK_EQ_INT(vision, 668684288);
    const uint64_t lin = 36ull * (2 * 2048 * 2048 + 2 * 2048 * 256 + 3ull * 2048 * 11008);
    const uint64_t rest = vision + 36ull * 2560 + 36ull * 2 * 2048 + 2048 + 151936ull * 2048;
    const uint64_t packed = 36ull * (2 * (2048 * 256 + 16 * 256 + 16 * 2048) +
                                     2 * (2048 * 32 + 16 * 32 + 16 * 256) +
                                     3 * (2048ull * 1376 + 16 * 1376 + 16 * 11008));
    CHECK_EQ_INT(lin + rest, 3754622976ull);
    CHECK_EQ_INT(rest, 980090880ull);
    CHECK_EQ_INT(packed + rest, 1351292928ull);

    awq_synth_params p = awq_synth_default_params();
    CHECK_OK(ctx, awq_synth_preset(ctx, "qwen2.5-vl-3b", &p));
    p.zero_data = true;
    p.quantized = true;
    p.qformat = AWQ_QFMT_AWQ_GEMM;
    p.force = true;
    char *dir = tmp_path("vl3b_awq");
    double t0 = awq_now();
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
    CHECK(awq_now() - t0 < 5.0);
    /* sparse: 3.4 GB apparent, (almost) no blocks on disk */
    char *shard = awq_path_join(dir, "model.safetensors");
    struct stat st;
    CHECK(stat(shard, &st) == 0 && st.st_size > 3000000000LL && st.st_blocks * 512LL < (64LL << 20));
    free(shard);
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        CHECK_EQ_INT(r.logical, 3754622976ull);
        CHECK_EQ_INT(r.loaded, 980090880ull);
        CHECK_EQ_INT(r.stored, 1351292928ull);
        CHECK_EQ_INT(r.by_role[AWQ_ROLE_VISION].logical, vision);
        CHECK_EQ_INT(r.quant_logical, lin);
        CHECK(r.tie_word_embeddings && !r.lm_head_stored);
        CHECK(shape2(find(ck, "visual.merger.mlp.2.weight"), 2048, 5120));
        CHECK(shape2(find(ck, "visual.blocks.31.attn.qkv.weight"), 3840, 1280));
        const awq_tensor_info *pe = find(ck, "visual.patch_embed.proj.weight");
        CHECK(pe && pe->ndim == 5 && pe->shape[0] == 1280 && pe->shape[2] == 2 && pe->shape[4] == 14);
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_AWQ_GEMM && d.data_blank && d.config_agrees);
        awq_model_config c;
        CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &c));
        CHECK(c.arch && c.arch->is_vl && c.tie_word_embeddings && c.n_layers == 36);
        awq_checkpoint_free(ck);
    }
    free(dir);
    /* the FP16 original of the same shape: the same logical count */
    p.quantized = false;
    dir = tmp_path("vl3b_fp16");
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &p, NULL));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        CHECK_EQ_INT(r.logical, 3754622976ull);
        CHECK_EQ_INT(r.loaded, 3754622976ull);
        CHECK_EQ_INT(r.stored, 3754622976ull);
        awq_checkpoint_free(ck);
    }
    free(dir);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    g_tmp = awq_test_tmpdir("test_synth");
    test_round_trip(ctx);
    test_determinism();
    test_outliers(ctx);
    test_packed(ctx);
    test_archs(ctx);
    test_new_archs(ctx);
    test_qwen25_vl_3b(ctx);
    free(g_tmp);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
