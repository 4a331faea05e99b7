/* tests/unit/test_count.c — the logical counter and checkpoint-kind
 * detection, against hand-computed figures: the bundled tiny-llama (FP16:
 * all three counts equal) and small hand-made AWQ GEMM / GEMV / GPTQ
 * checkpoints written with the writer (shapes written out by hand here,
 * independent of lib/quant/layouts.h). */
#include "awq_test.h"
#include "core/core.h"

#include <sys/stat.h>

/* ------------------------------------------------------------ fixtures */

typedef struct {
    const char *name;
    awq_dtype dt;
    int ndim;
    int64_t shape[3];
    uint32_t fill;    /* 32-bit pattern for I32 tensors; F16 tensors get 0x3c00 (1.0) */
    const int32_t *data; /* explicit I32 data (overrides fill) */
} tdef;

static uint64_t tdef_elems(const tdef *t) {
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (uint64_t)t->shape[i];
    return n;
}

/* Write a checkpoint of the given tensors (+ config.json text if not NULL). */
static void write_ckpt(awq_ctx *ctx, const char *dir, const tdef *ts, size_t n, const char *config) {
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, dir, &wp, &w));
    if (!w) return;
    for (size_t i = 0; i < n; i++)
        CHECK_OK(ctx, awq_writer_declare(w, ts[i].name, ts[i].dt, ts[i].ndim, ts[i].shape));
    if (config) CHECK_OK(ctx, awq_writer_add_file(w, "config.json", config, strlen(config)));
    for (size_t i = 0; i < n; i++) {
        uint64_t ne = tdef_elems(&ts[i]), nb = ne * awq_dtype_size(ts[i].dt);
        unsigned char *buf = malloc(nb ? nb : 1);
        if (ts[i].dt == AWQ_DT_I32) {
            for (uint64_t k = 0; k < ne; k++) {
                uint32_t v = ts[i].data ? (uint32_t)ts[i].data[k] : ts[i].fill;
                memcpy(buf + 4 * k, &v, 4);
            }
        } else {
            for (uint64_t k = 0; k < ne; k++) {
                uint16_t v = 0x3c00;
                memcpy(buf + 2 * k, &v, 2);
            }
        }
        CHECK_OK(ctx, awq_writer_write(w, ts[i].name, buf, nb));
        free(buf);
    }
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
}

static awq_checkpoint *open_ck(awq_ctx *ctx, const char *dir) {
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    return ck;
}

static bool has_note(const awq_detect_result *d, const char *needle) {
    for (int i = 0; i < d->n_notes; i++)
        if (strstr(d->notes[i], needle)) return true;
    return false;
}

static void dump_notes(const awq_detect_result *d) {
    for (int i = 0; i < d->n_notes; i++) fprintf(stderr, "    note: %s\n", d->notes[i]);
}

/* --------------------------------------------------------- tiny-llama */

static void test_tiny_llama(awq_ctx *ctx) {
    awq_checkpoint *ck = open_ck(ctx, AWQ_TEST_DATA "/tiny-llama");
    if (!ck) return;
    awq_count_result r;
    CHECK_OK(ctx, awq_count(ctx, ck, &r));
    /* hidden 256, inter 768, 6 layers, 4 heads x 64, 2 kv heads, vocab 4096:
     * per layer q 256*256 + k 256*128 + v 256*128 + o 256*256
     *           + gate/up/down 3 * 256*768 + 2 norms * 256 */
    const uint64_t attn = 256 * 256 + 256 * 128 + 256 * 128 + 256 * 256; /* 196,608 */
    const uint64_t mlp = 3 * 256 * 768;                                   /* 589,824 */
    const uint64_t per_layer = attn + mlp + 2 * 256;                      /* 786,944 */
    const uint64_t embed = 4096 * 256, lm_head = 4096 * 256, final_norm = 256;
    const uint64_t want = 6 * per_layer + embed + lm_head + final_norm;
    CHECK_EQ_INT(want, 6819072);
    CHECK_EQ_INT(r.stored, want);
    CHECK_EQ_INT(r.loaded, want);
    CHECK_EQ_INT(r.logical, want);
    CHECK_EQ_INT(r.n_tensors, 6 * 9 + 3);
    CHECK_EQ_INT(r.n_shards, 1);
    CHECK_EQ_INT(r.tensor_bytes, 2 * want);
    struct stat st;
    CHECK(stat(AWQ_TEST_DATA "/tiny-llama/model.safetensors", &st) == 0);
    CHECK_EQ_INT(r.file_bytes, (uint64_t)st.st_size);
    CHECK_EQ_INT(r.by_role[AWQ_ROLE_LINEAR].logical, 6 * (attn + mlp));
    CHECK_EQ_INT(r.by_role[AWQ_ROLE_LINEAR].n_tensors, 42);
    CHECK_EQ_INT(r.by_role[AWQ_ROLE_EMBED].logical, embed);
    CHECK_EQ_INT(r.by_role[AWQ_ROLE_LM_HEAD].logical, lm_head);
    CHECK_EQ_INT(r.by_role[AWQ_ROLE_NORM].logical, 6 * 2 * 256 + final_norm);
    CHECK_EQ_INT(r.by_role[AWQ_ROLE_VISION].n_tensors, 0);
    CHECK_EQ_INT(r.by_role[AWQ_ROLE_OTHER].n_tensors, 0);
    CHECK_EQ_INT(r.by_dtype[AWQ_DT_F16].stored, want);
    CHECK_EQ_INT(r.n_quant_linears, 0);
    CHECK(r.pack == AWQ_PACK_NONE);
    CHECK_NEAR(r.bits_per_param, 16.0, 1e-12);
    CHECK(r.has_config && !r.tie_word_embeddings && r.lm_head_stored && !r.tied_duplicate_dropped);

    awq_detect_result d;
    CHECK_OK(ctx, awq_detect(ctx, ck, &d));
    CHECK(d.kind == AWQ_CKPT_DENSE_F16);
    CHECK(d.float_dtype == AWQ_DT_F16);
    CHECK(d.config_agrees);
    CHECK_EQ_INT(d.n_packed_linears, 0);
    awq_checkpoint_free(ck);
}

/* ------------------------------------------------ hand-made AWQ / GPTQ */

/* One linear K=256 -> N=64 (group 128: G = 2) plus an embedding [64, 256],
 * a norm [256] and a final norm; the linear has a bias [64]. */
#define K_ 256
#define N_ 64

static const char *cfg_awq(const char *version, int bits) {
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
             "\"tie_word_embeddings\":false,\"quantization_config\":{\"quant_method\":\"awq\","
             "\"bits\":%d,\"group_size\":128,\"zero_point\":true,\"version\":\"%s\"}}",
             bits, version);
    return buf;
}

static void check_small_counts(const awq_count_result *r, uint64_t packed_stored,
                               uint64_t packed_bytes) {
    const uint64_t other = 64 * 256 /* embed */ + 256 /* norm */ + 64 /* bias */;
    CHECK_EQ_INT(r->stored, other + packed_stored);
    CHECK_EQ_INT(r->loaded, other);
    CHECK_EQ_INT(r->logical, other + (uint64_t)K_ * N_);
    CHECK_EQ_INT(r->n_quant_linears, 1);
    CHECK_EQ_INT(r->quant_logical, (uint64_t)K_ * N_);
    CHECK_EQ_INT(r->quant_bytes, packed_bytes);
    CHECK_NEAR(r->quant_bits_per_weight, 8.0 * (double)packed_bytes / (K_ * N_), 1e-12);
    CHECK_EQ_INT(r->by_role[AWQ_ROLE_LINEAR].logical, (uint64_t)K_ * N_ + 64);
    CHECK_EQ_INT(r->by_role[AWQ_ROLE_LINEAR].loaded, 64);
    CHECK_EQ_INT(r->n_unresolved, 0);
}

static void test_awq_gemm(awq_ctx *ctx, const char *tmp) {
    /* GEMM: qweight [K, N/8] = [256, 8], qzeros [K/g, N/8] = [2, 8],
     * scales [K/g, N] = [2, 64] */
    tdef ts[] = {
        {"model.embed_tokens.weight", AWQ_DT_F16, 2, {64, 256}, 0, NULL},
        {"model.layers.0.input_layernorm.weight", AWQ_DT_F16, 1, {256}, 0, NULL},
        {"model.layers.0.self_attn.q_proj.qweight", AWQ_DT_I32, 2, {256, 8}, 0x12345678u, NULL},
        {"model.layers.0.self_attn.q_proj.qzeros", AWQ_DT_I32, 2, {2, 8}, 0x87878787u, NULL},
        {"model.layers.0.self_attn.q_proj.scales", AWQ_DT_F16, 2, {2, 64}, 0, NULL},
        {"model.layers.0.self_attn.q_proj.bias", AWQ_DT_F16, 1, {64}, 0, NULL},
    };
    char *dir = awq_path_join(tmp, "awq_gemm");
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_awq("gemm", 4));
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        /* stored packed: 256*8 + 2*8 + 2*64 = 2192 elements;
         * bytes: (2048 + 16) * 4 + 128 * 2 = 8512 = 4.15625 bits/weight */
        check_small_counts(&r, 2192, 8512);
        CHECK_NEAR(r.quant_bits_per_weight, 4.0 + 20.0 / 128.0, 1e-12);
        CHECK(r.pack == AWQ_PACK_AWQ_GEMM);
        CHECK_EQ_INT(r.quant_bits, 4);

        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_AWQ_GEMM);
        CHECK_EQ_INT(d.bits, 4);
        CHECK_EQ_INT(d.group_size, 128);
        CHECK(d.config_agrees);
        if (!d.config_agrees) dump_notes(&d);
        awq_checkpoint_free(ck);
    }
    /* The same tensors under a config that says gemv, then 8 bits, then
     * group 64: each is reported as a disagreement naming the field. */
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_awq("gemv", 4));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_AWQ_GEMM);
        CHECK(!d.config_agrees);
        CHECK(has_note(&d, "version 'gemv'"));
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        CHECK_EQ_INT(r.logical, 64 * 256 + 256 + 64 + K_ * N_); /* shapes decide, not config */
        awq_checkpoint_free(ck);
    }
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_awq("gemm", 8));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(!d.config_agrees);
        CHECK(has_note(&d, "bits 8"));
        CHECK_EQ_INT(d.bits, 4);
        awq_checkpoint_free(ck);
    }
    static const char cfg_g64[] =
        "{\"quantization_config\":{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":64,"
        "\"version\":\"gemm\"}}";
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_g64);
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(!d.config_agrees);
        CHECK(has_note(&d, "group_size 64"));
        CHECK_EQ_INT(d.group_size, 128);
        awq_checkpoint_free(ck);
    }
    /* No config at all (fresh directory: --force keeps an old config.json):
     * still counted and detected from the shapes. */
    free(dir);
    dir = awq_path_join(tmp, "awq_gemm_noconfig");
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), NULL);
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        check_small_counts(&r, 2192, 8512);
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_AWQ_GEMM);
        CHECK(!d.config_agrees);
        CHECK(has_note(&d, "no quantization_config"));
        awq_checkpoint_free(ck);
    }
    free(dir);
}

static void test_awq_gemv(awq_ctx *ctx, const char *tmp) {
    /* GEMV: qweight [N, K/8] = [64, 32], qzeros [N, ceil(ceil(K/g)/8)] =
     * [64, 1], scales [N, 8 * 1] = [64, 8] */
    tdef ts[] = {
        {"model.embed_tokens.weight", AWQ_DT_F16, 2, {64, 256}, 0, NULL},
        {"model.layers.0.input_layernorm.weight", AWQ_DT_F16, 1, {256}, 0, NULL},
        {"model.layers.0.mlp.up_proj.qweight", AWQ_DT_I32, 2, {64, 32}, 0x12345678u, NULL},
        {"model.layers.0.mlp.up_proj.qzeros", AWQ_DT_I32, 2, {64, 1}, 0x00000087u, NULL},
        {"model.layers.0.mlp.up_proj.scales", AWQ_DT_F16, 2, {64, 8}, 0, NULL},
        {"model.layers.0.mlp.up_proj.bias", AWQ_DT_F16, 1, {64}, 0, NULL},
    };
    char *dir = awq_path_join(tmp, "awq_gemv");
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_awq("gemv", 4));
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        /* stored packed: 64*32 + 64 + 64*8 = 2624; bytes (2048+64)*4 + 512*2 = 9472 */
        check_small_counts(&r, 2624, 9472);
        CHECK(r.pack == AWQ_PACK_AWQ_GEMV);
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_AWQ_GEMV);
        CHECK_EQ_INT(d.group_size, 128);
        CHECK(d.config_agrees);
        if (!d.config_agrees) dump_notes(&d);
        awq_checkpoint_free(ck);
    }
    /* labelled gemm: disagreement */
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_awq("gemm", 4));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_AWQ_GEMV);
        CHECK(!d.config_agrees);
        CHECK(has_note(&d, "version 'gemm'"));
        awq_checkpoint_free(ck);
    }
    free(dir);
}

static const char *cfg_gptq(int bits, bool desc_act, const char *fmt) {
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"architectures\":[\"LlamaForCausalLM\"],\"quantization_config\":{"
             "\"quant_method\":\"gptq\",\"bits\":%d,\"group_size\":128,\"desc_act\":%s,"
             "\"sym\":true%s%s%s}}",
             bits, desc_act ? "true" : "false", fmt ? ",\"checkpoint_format\":\"" : "",
             fmt ? fmt : "", fmt ? "\"" : "");
    return buf;
}

static void test_gptq(awq_ctx *ctx, const char *tmp) {
    static int32_t gidx_plain[K_], gidx_perm[K_];
    for (int k = 0; k < K_; k++) {
        gidx_plain[k] = k / 128;
        gidx_perm[k] = (k % 2); /* act-order: groups interleaved */
    }
    /* GPTQ 4-bit: qweight [K/8, N] = [32, 64], qzeros [G, N/8] = [2, 8],
     * scales [G, N] = [2, 64], g_idx [K] = [256] */
    tdef ts[] = {
        {"model.embed_tokens.weight", AWQ_DT_F16, 2, {64, 256}, 0, NULL},
        {"model.layers.0.input_layernorm.weight", AWQ_DT_F16, 1, {256}, 0, NULL},
        {"model.layers.0.self_attn.o_proj.qweight", AWQ_DT_I32, 2, {32, 64}, 0x12345678u, NULL},
        {"model.layers.0.self_attn.o_proj.qzeros", AWQ_DT_I32, 2, {2, 8}, 0x77777777u, NULL},
        {"model.layers.0.self_attn.o_proj.scales", AWQ_DT_F16, 2, {2, 64}, 0, NULL},
        {"model.layers.0.self_attn.o_proj.g_idx", AWQ_DT_I32, 1, {256}, 0, gidx_plain},
        {"model.layers.0.self_attn.o_proj.bias", AWQ_DT_F16, 1, {64}, 0, NULL},
    };
    char *dir = awq_path_join(tmp, "gptq");
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_gptq(4, false, "gptq"));
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        /* stored packed: 32*64 + 2*8 + 2*64 + 256 = 2448;
         * bytes (2048 + 16 + 256) * 4 + 128 * 2 = 9536 */
        check_small_counts(&r, 2448, 9536);
        CHECK(r.pack == AWQ_PACK_GPTQ);
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_GPTQ_V1);
        CHECK_EQ_INT(d.gptq_version, 1);
        CHECK(d.zeros_symmetric);
        CHECK(d.has_g_idx && !d.act_order);
        CHECK(d.config_agrees);
        if (!d.config_agrees) dump_notes(&d);
        awq_checkpoint_free(ck);
    }
    /* v2 zeros (every code 8) under a config claiming v1: detected as v2,
     * disagreement reported. */
    ts[3].fill = 0x88888888u;
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_gptq(4, false, "gptq"));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_GPTQ_V2);
        CHECK(!d.config_agrees);
        CHECK(has_note(&d, "checkpoint_format 'gptq'"));
        awq_checkpoint_free(ck);
    }
    /* Asymmetric zeros, no checkpoint_format: a word whose lowest field is
     * 15 with lower values above it cannot come from a v1 writer (its -1
     * overflow would set every higher field to 15): v2 on evidence. */
    ts[3].fill = 0x8765432Fu;
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_gptq(4, false, NULL));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_GPTQ_V2);
        CHECK(!d.zeros_symmetric);
        CHECK(has_note(&d, "true zeros"));
        awq_checkpoint_free(ck);
    }
    /* Asymmetric codes averaging 5.75 (v2 would centre near 7.5): v1-like. */
    ts[3].fill = 0x65476576u;
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_gptq(4, false, NULL));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_GPTQ_V1);
        CHECK(has_note(&d, "v1-like"));
        awq_checkpoint_free(ck);
    }
    ts[3].fill = 0x88888888u;
    /* act-order g_idx with desc_act true and format v2: agrees. */
    ts[5].data = gidx_perm;
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_gptq(4, true, "gptq_v2"));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_GPTQ_V2);
        CHECK(d.act_order);
        CHECK(d.config_agrees);
        if (!d.config_agrees) dump_notes(&d);
        awq_checkpoint_free(ck);
    }
    /* desc_act false but act-order g_idx: disagreement. */
    write_ckpt(ctx, dir, ts, AWQ_ARRAY_LEN(ts), cfg_gptq(4, false, "gptq_v2"));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(!d.config_agrees);
        CHECK(has_note(&d, "desc_act false"));
        awq_checkpoint_free(ck);
    }
    free(dir);

    /* GPTQ 8-bit: qweight [K*8/32, N] = [64, 64], qzeros [2, N*8/32] =
     * [2, 16], scales [2, 64], g_idx [256]; symmetric v1 zero 127. */
    tdef t8[] = {
        {"model.embed_tokens.weight", AWQ_DT_F16, 2, {64, 256}, 0, NULL},
        {"model.layers.0.input_layernorm.weight", AWQ_DT_F16, 1, {256}, 0, NULL},
        {"model.layers.0.mlp.down_proj.qweight", AWQ_DT_I32, 2, {64, 64}, 0x12345678u, NULL},
        {"model.layers.0.mlp.down_proj.qzeros", AWQ_DT_I32, 2, {2, 16}, 0x7f7f7f7fu, NULL},
        {"model.layers.0.mlp.down_proj.scales", AWQ_DT_F16, 2, {2, 64}, 0, NULL},
        {"model.layers.0.mlp.down_proj.g_idx", AWQ_DT_I32, 1, {256}, 0, gidx_plain},
        {"model.layers.0.mlp.down_proj.bias", AWQ_DT_F16, 1, {64}, 0, NULL},
    };
    dir = awq_path_join(tmp, "gptq8");
    write_ckpt(ctx, dir, t8, AWQ_ARRAY_LEN(t8), cfg_gptq(8, false, NULL));
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        /* stored packed: 64*64 + 2*16 + 2*64 + 256 = 4512;
         * bytes (4096 + 32 + 256) * 4 + 128 * 2 = 17792 */
        check_small_counts(&r, 4512, 17792);
        CHECK_EQ_INT(r.quant_bits, 8);
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_GPTQ_V1);
        CHECK_EQ_INT(d.bits, 8);
        CHECK(d.config_agrees);
        if (!d.config_agrees) dump_notes(&d);
        awq_checkpoint_free(ck);
    }
    free(dir);
}

static void test_tied_and_unresolved(awq_ctx *ctx, const char *tmp) {
    /* lm_head stored although config ties it: counted once. */
    tdef ts[] = {
        {"model.embed_tokens.weight", AWQ_DT_F16, 2, {64, 32}, 0, NULL},
        {"model.norm.weight", AWQ_DT_F16, 1, {32}, 0, NULL},
        {"lm_head.weight", AWQ_DT_F16, 2, {64, 32}, 0, NULL},
    };
    char *dir = awq_path_join(tmp, "tied");
    write_ckpt(ctx, dir, ts, 3, "{\"tie_word_embeddings\":true}");
    awq_checkpoint *ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        CHECK_EQ_INT(r.stored, 64 * 32 * 2 + 32);
        CHECK_EQ_INT(r.loaded, 64 * 32 + 32);
        CHECK_EQ_INT(r.logical, 64 * 32 + 32);
        CHECK(r.tie_word_embeddings && r.lm_head_stored && r.tied_duplicate_dropped);
        CHECK_EQ_INT(r.by_role[AWQ_ROLE_LM_HEAD].stored, 64 * 32);
        CHECK_EQ_INT(r.by_role[AWQ_ROLE_LM_HEAD].logical, 0);
        awq_checkpoint_free(ck);
    }
    /* untied (text_config says false): both counted */
    write_ckpt(ctx, dir, ts, 3, "{\"text_config\":{\"tie_word_embeddings\":false}}");
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        CHECK_EQ_INT(r.logical, 64 * 32 * 2 + 32);
        CHECK(!r.tied_duplicate_dropped);
        awq_checkpoint_free(ck);
    }
    free(dir);

    /* A qweight whose companions fit no layout: counted as stored. */
    tdef bad[] = {
        {"model.layers.0.mlp.up_proj.qweight", AWQ_DT_I32, 2, {10, 3}, 0, NULL},
        {"model.layers.0.mlp.up_proj.scales", AWQ_DT_F16, 2, {7, 5}, 0, NULL},
    };
    dir = awq_path_join(tmp, "unresolved");
    write_ckpt(ctx, dir, bad, 2, NULL);
    ck = open_ck(ctx, dir);
    if (ck) {
        awq_count_result r;
        CHECK_OK(ctx, awq_count(ctx, ck, &r));
        CHECK_EQ_INT(r.n_unresolved, 1);
        CHECK_EQ_INT(r.stored, 30 + 35);
        CHECK_EQ_INT(r.logical, 30 + 35);
        CHECK_EQ_INT(r.loaded, 0);
        CHECK(r.pack == AWQ_PACK_UNKNOWN);
        awq_detect_result d;
        CHECK_OK(ctx, awq_detect(ctx, ck, &d));
        CHECK(d.kind == AWQ_CKPT_PACKED_OTHER);
        CHECK(has_note(&d, "fits no known layout"));
        awq_checkpoint_free(ck);
    }
    free(dir);
}

static void test_roles(void) {
    /* role names are what the CLI and JSON print */
    CHECK(strcmp(awq_role_name(AWQ_ROLE_LINEAR), "linear") == 0);
    CHECK(strcmp(awq_role_name(AWQ_ROLE_VISION), "vision") == 0);
    CHECK(strcmp(awq_ckpt_kind_name(AWQ_CKPT_GPTQ_V2), "gptq-v2") == 0);
    CHECK(strcmp(awq_pack_kind_name(AWQ_PACK_AWQ_GEMV), "awq-gemv") == 0);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    char *tmp = awq_test_tmpdir("test_count");
    test_roles();
    test_tiny_llama(ctx);
    test_awq_gemm(ctx, tmp);
    test_awq_gemv(ctx, tmp);
    test_gptq(ctx, tmp);
    test_tied_and_unresolved(ctx, tmp);
    free(tmp);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
