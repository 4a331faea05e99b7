/*
 * tests/unit/test_ct.c — compressed-tensors (AWQ_QFMT_CT, lib/quant/ct.c)
 * against the real library and transformers (fixtures made by
 * tests/ref/make_ct_fixtures.py):
 *   1. the layout: golden words and every field against layouts.h;
 *      symmetric linears carry no zero point; BF16 scales convert exactly
 *      or are refused;
 *   2. config_groups / targets / ignore ("re:" patterns) and the schemes
 *      awqkit cannot compute with are refused naming the group;
 *   3. an llm-compressor AWQ checkpoint of data/tiny-llama (W4A16_ASYM):
 *      awqkit's perplexity equals transformers' within TOL_PPL_REL, logits
 *      within TOL_LOGITS; repack compressed-tensors -> AWQ ->
 *      compressed-tensors is byte-identical in tensors;
 *   4. awqkit's own compressed-tensors output, loaded by transformers +
 *      compressed-tensors: awqkit's forward gives the same logits;
 *   5. llm-compressor's weight-only NVFP4, FP8 (channel, block) and
 *      mixed-scheme integer ("re:" targets: int8 channel attention, int4
 *      group MLP) checkpoints: awqkit's forward against the library's
 *      decompression run by transformers;
 *   6. pack-quantized with F32 scales: the forward reads them (FP16-exact
 *      ones give the same logits bit for bit), repack's FP16 form refuses
 *      the others;
 *   7. the NVFP4, FP8 and mixed-scheme checkpoints of 5: inspect agrees and
 *      computes on them; verify passes them alone and against their source
 *      (FP8 / NVFP4 codes within half a grid step), and fails a scaled
 *      source, a NaN scale, a zero global scale, scales that contradict the
 *      strategy / group size, a zero point a symmetric scheme has not;
 *      repack refuses them naming the tensor and what works, writing
 *      nothing.
 */
#include "awq_test.h"
#include "ref_fixture.h"
#include "core/core.h"
#include "quant/ct.h"
#include "quant/layouts.h"

#include "awqkit/checkpoint.h"
#include "awqkit/model.h"
#include "awqkit/runtime.h"

#include <cjson/cJSON.h>
#include <math.h>

/* perplexity: the acceptance bound (0.1%); logits: fp32 both sides, the
 * same dequantized weights (FP16 scales), so only summation order differs */
#define TOL_PPL_REL 1e-3
#define TOL_LOGITS 1e-4

#define LLMC AWQ_TEST_SRC "/ref/ct/llmc-awq-w4a16-asym"

/* Same tensor names, dtypes, shapes and bytes. */
static int same_tensors(awq_ctx *ctx, const char *a, const char *b) {
    awq_checkpoint *ca = NULL, *cb = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, a, &ca));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, b, &cb));
    if (!ca || !cb) return 1;
    int bad = awq_checkpoint_n_tensors(ca) != awq_checkpoint_n_tensors(cb);
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ca); i++) {
        const awq_tensor_info *x = awq_checkpoint_tensor(ca, i);
        const awq_tensor_info *y = awq_checkpoint_find(cb, x->name);
        bool same = y && x->dtype == y->dtype && x->ndim == y->ndim && x->n_bytes == y->n_bytes;
        for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == y->shape[d];
        same = same && memcmp(x->data, y->data, (size_t)x->n_bytes) == 0;
        if (!same && bad++ < 3) fprintf(stderr, "%s vs %s: %s differs\n", a, b, x->name);
    }
    awq_checkpoint_free(ca);
    awq_checkpoint_free(cb);
    return bad;
}

/* ------------------------------------------------------ 1. the layout */

static void test_layout(awq_ctx *ctx) {
    /* N 8, K 64, 4-bit, group 32: codes (n + k) % 16, zeros n % 16 */
    awq_qtensor t;
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 8, 64, 4, 32, false, &t));
    for (int64_t n = 0; n < 8; n++)
        for (int64_t k = 0; k < 64; k++) t.q[n * 64 + k] = (uint8_t)((n + k) % 16);
    for (int64_t i = 0; i < 2 * 8; i++) {
        t.zeros[i] = (uint8_t)(i % 8 + 3);
        t.scales[i] = awq_f32_to_f16(0.01f * (float)(i + 1));
    }
    awq_packed p;
    CHECK_OK(ctx, awq_pack(ctx, "l", AWQ_QFMT_CT, &t, NULL, &p, NULL));
    CHECK_EQ_INT(p.n_tensors, 5);
    CHECK(strcmp(p.t[AWQ_PT_QWEIGHT].suffix, "weight_packed") == 0);
    CHECK(p.t[AWQ_PT_QWEIGHT].shape[0] == 8 && p.t[AWQ_PT_QWEIGHT].shape[1] == 8);
    CHECK(p.t[AWQ_PT_QZEROS].shape[0] == 1 && p.t[AWQ_PT_QZEROS].shape[1] == 2);
    CHECK(p.t[AWQ_PT_SCALES].shape[0] == 8 && p.t[AWQ_PT_SCALES].shape[1] == 2);
    CHECK(awq_packed_part_absent(&p.t[AWQ_PT_G_IDX])); /* group order: no g_idx */
    const uint32_t *qw = p.t[AWQ_PT_QWEIGHT].data, *qz = p.t[AWQ_PT_QZEROS].data;
    /* golden: row 0 holds codes 0..7 in its first word, natural order */
    CHECK_EQ_INT(qw[0], 0x76543210u);
    /* zeros of group 0, rows 0..7 = 3..10 down column 0 */
    CHECK_EQ_INT(qz[0], 0xA9876543u);
    const int64_t *shp = p.t[AWQ_PT_SHAPE].data;
    CHECK(shp[0] == 8 && shp[1] == 64);
    /* every field where layouts.h says */
    int bad = 0;
    for (int64_t n = 0; n < 8; n++)
        for (int64_t k = 0; k < 64; k++) {
            awq_lay_pos ps = awq_lay_qweight_pos(AWQ_QFMT_CT, 64, 8, 4, n, k);
            bad += awq_lay_field_get(qw[ps.word], 0, ps.shift, 4) != t.q[n * 64 + k];
        }
    for (int64_t g = 0; g < 2; g++)
        for (int64_t n = 0; n < 8; n++) {
            awq_lay_pos ps = awq_lay_qzeros_pos(AWQ_QFMT_CT, 8, 4, 2, g, n);
            bad += awq_lay_field_get(qz[ps.word], 0, ps.shift, 4) != t.zeros[g * 8 + n];
            bad += ((const uint16_t *)p.t[AWQ_PT_SCALES].data)[awq_lay_scale_index(
                       AWQ_QFMT_CT, 8, 2, g, n)] != t.scales[g * 8 + n];
        }
    CHECK_EQ_INT(bad, 0);
    awq_qtensor u;
    CHECK_OK(ctx, awq_unpack(ctx, "l", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, false}, &u));
    CHECK(awq_qtensor_equal(&t, &u));
    awq_qtensor_free(&u);

    /* weight_shape must agree with weight_packed */
    ((int64_t *)p.t[AWQ_PT_SHAPE].data)[1] = 60;
    CHECK_FAILS(ctx, awq_unpack(ctx, "l", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, false}, &u),
                AWQ_ERR_MISMATCH, "weight_shape");
    ((int64_t *)p.t[AWQ_PT_SHAPE].data)[1] = 64;

    /* BF16 scales: exact ones convert, others are refused */
    uint16_t *bf = malloc(2 * 16);
    for (int i = 0; i < 16; i++) bf[i] = awq_f32_to_bf16(0.25f * (float)(i + 1));
    awq_packed_tensor keep = p.t[AWQ_PT_SCALES];
    p.t[AWQ_PT_SCALES].data = bf;
    p.t[AWQ_PT_SCALES].dtype = AWQ_DT_BF16;
    CHECK_OK(ctx, awq_unpack(ctx, "l", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, false}, &u));
    CHECK(u.scales && awq_f16_to_f32(u.scales[8]) == 0.25f * 2); /* row 0, group 1 */
    awq_qtensor_free(&u);
    bf[3] = awq_f32_to_bf16(1e-7f); /* below FP16's normal range: not exact */
    CHECK_FAILS(ctx, awq_unpack(ctx, "l", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, false}, &u),
                AWQ_ERR_LOSSY, "weight_scale");
    p.t[AWQ_PT_SCALES] = keep;
    free(bf);
    awq_packed_free(&p);

    /* symmetric: no weight_zero_point written, zeros 2^(b-1) read back */
    memset(t.zeros, 8, 16);
    t.sym = true;
    CHECK_OK(ctx, awq_pack(ctx, "s", AWQ_QFMT_CT, &t, NULL, &p, NULL));
    CHECK(awq_packed_part_absent(&p.t[AWQ_PT_QZEROS]) && !p.t[AWQ_PT_QZEROS].data);
    CHECK_OK(ctx, awq_unpack(ctx, "s", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, true}, &u));
    CHECK(awq_qtensor_equal(&t, &u) && u.sym);
    awq_qtensor_free(&u);
    /* asymmetric config, zero point missing: refused */
    CHECK_FAILS(ctx, awq_unpack(ctx, "s", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, false}, &u),
                AWQ_ERR_NOT_FOUND, "weight_zero_point");
    awq_packed_free(&p);
    awq_qtensor_free(&t);

    /* act-order: weight_g_idx written and read back */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 8, 64, 4, 32, true, &t));
    for (int64_t k = 0; k < 64; k++) t.g_idx[k] = (int32_t)((k * 7) % 2);
    for (int64_t i = 0; i < 8 * 64; i++) t.q[i] = (uint8_t)(i % 13);
    for (int64_t i = 0; i < 16; i++) {
        t.zeros[i] = (uint8_t)(i % 16);
        t.scales[i] = awq_f32_to_f16(0.125f);
    }
    CHECK_OK(ctx, awq_pack(ctx, "a", AWQ_QFMT_CT, &t, NULL, &p, NULL));
    CHECK(!awq_packed_part_absent(&p.t[AWQ_PT_G_IDX]) && p.t[AWQ_PT_G_IDX].shape[0] == 64);
    CHECK_OK(ctx, awq_unpack(ctx, "a", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, false}, &u));
    CHECK(u.g_idx && awq_qtensor_equal(&t, &u));
    awq_qtensor_free(&u);
    ((int32_t *)p.t[AWQ_PT_G_IDX].data)[5] = 2; /* beyond G */
    CHECK_FAILS(ctx, awq_unpack(ctx, "a", AWQ_QFMT_CT, &p, &(awq_unpack_params){4, 32, false}, &u),
                AWQ_ERR_RANGE, "weight_g_idx");
    awq_packed_free(&p);
    awq_qtensor_free(&t);

    /* 8-bit channel strategy: [N, K/4] words, one group */
    CHECK_OK(ctx, awq_qtensor_alloc(ctx, 4, 8, 8, -1, false, &t));
    for (int i = 0; i < 32; i++) t.q[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 4; i++) {
        t.zeros[i] = (uint8_t)(120 + i);
        t.scales[i] = awq_f32_to_f16(0.5f);
    }
    CHECK_OK(ctx, awq_pack(ctx, "c", AWQ_QFMT_CT, &t, NULL, &p, NULL));
    CHECK(p.t[AWQ_PT_QWEIGHT].shape[1] == 2 && p.t[AWQ_PT_SCALES].shape[1] == 1);
    CHECK_EQ_INT(((uint32_t *)p.t[AWQ_PT_QWEIGHT].data)[0], 0x150E0700u);
    CHECK_OK(ctx, awq_unpack(ctx, "c", AWQ_QFMT_CT, &p, &(awq_unpack_params){8, -1, false}, &u));
    CHECK(awq_qtensor_equal(&t, &u));
    awq_qtensor_free(&u);
    awq_packed_free(&p);
    awq_qtensor_free(&t);
}

/* ------------------------------------------------- 2. config_groups */

#define LIN AWQ_CT_MOD_LINEAR

static void test_config(awq_ctx *ctx) {
    cJSON *qc = cJSON_Parse(
        "{\"quant_method\":\"compressed-tensors\",\"format\":\"pack-quantized\","
        "\"ignore\":[\"lm_head\",\"re:.*visual\\\\.\",\"re:model\\\\.layers\\\\.0\\\\.mlp\\\\.gate$\"],"
        "\"config_groups\":{"
        "\"attn\":{\"targets\":[\"re:.*self_attn\\\\.(q|k|v|o)_proj$\"],"
        "\"weights\":{\"num_bits\":8,\"type\":\"int\",\"symmetric\":true,\"strategy\":\"channel\"}},"
        "\"rest\":{\"targets\":[\"Linear\"],"
        "\"weights\":{\"num_bits\":4,\"type\":\"int\",\"symmetric\":false,\"strategy\":\"group\","
        "\"group_size\":128}}}}");
    CHECK(qc && awq_ct_is(qc));
    awq_ct_config *cfg = NULL;
    CHECK_OK(ctx, awq_ct_config_parse(ctx, qc, "t", &cfg));
    CHECK_EQ_INT(awq_ct_config_n_schemes(cfg), 2);
    const awq_ct_scheme *s = awq_ct_scheme_for(cfg, "model.layers.3.self_attn.k_proj", LIN);
    CHECK(s && s->num_bits == 8 && s->group_size == -1 && s->symmetric);
    s = awq_ct_scheme_for(cfg, "model.layers.3.mlp.down_proj", LIN);
    CHECK(s && s->num_bits == 4 && s->group_size == 128 && !s->symmetric &&
          s->format == AWQ_CT_FMT_PACK_QUANTIZED);
    CHECK(awq_ct_scheme_for(cfg, "lm_head", LIN) == NULL);
    CHECK(awq_ct_scheme_for(cfg, "model.visual.blocks.0.attn.qkv", LIN) == NULL);
    CHECK(awq_ct_scheme_for(cfg, "model.layers.0.mlp.gate", LIN) == NULL);
    /* re: matches from the start of the name (Python re.match) */
    CHECK(awq_ct_scheme_for(cfg, "model.layers.10.mlp.gate", LIN) != NULL);
    /* two schemes: the packed-integer path refuses, naming both groups */
    const awq_ct_scheme *one;
    CHECK_FAILS(ctx, awq_ct_int_scheme(ctx, cfg, &one), AWQ_ERR_UNSUPPORTED, "attn");
    const char *why = NULL;
    CHECK(awq_ct_computable(cfg, &why));
    awq_ct_config_free(cfg);
    cJSON_Delete(qc);

    static const char *const refused[][2] = {
        {"{\"quant_method\":\"compressed-tensors\",\"format\":\"float-quantized\",\"config_groups\":"
         "{\"g\":{\"targets\":[\"Linear\"],\"weights\":{\"num_bits\":8,\"type\":\"float\","
         "\"strategy\":\"channel\"}}}}", "float-quantized"},
        {"{\"quant_method\":\"compressed-tensors\",\"format\":\"nvfp4-pack-quantized\","
         "\"config_groups\":{\"g\":{\"targets\":[\"Linear\"],\"weights\":{\"num_bits\":4,"
         "\"type\":\"float\",\"strategy\":\"tensor_group\",\"group_size\":16}}}}",
         "nvfp4-pack-quantized"},
        {"{\"quant_method\":\"compressed-tensors\",\"format\":\"pack-quantized\",\"config_groups\":"
         "{\"g\":{\"targets\":[\"Linear\"],\"weights\":{\"num_bits\":4,\"strategy\":\"tensor\"}}}}",
         "strategy is not group or channel"},
        {"{\"quant_method\":\"compressed-tensors\",\"config_groups\":{\"g\":{\"targets\":\"Linear\"}}}",
         "targets is not a list"},
        {"{\"quant_method\":\"compressed-tensors\",\"config_groups\":{\"g\":{\"targets\":[\"Linear\"]}}}",
         "no config group with weights"},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(refused); i++) {
        qc = cJSON_Parse(refused[i][0]);
        cfg = NULL;
        awq_status st = awq_ct_config_parse(ctx, qc, "t", &cfg);
        if (st == AWQ_OK) st = awq_ct_int_scheme(ctx, cfg, &one);
        CHECK_MSG(st != AWQ_OK && strstr(awq_ctx_errmsg(ctx), refused[i][1]),
                  "case %zu: %s", i, awq_ctx_errmsg(ctx));
        awq_ct_config_free(cfg);
        cJSON_Delete(qc);
    }

    /* awqkit's own config: one group, lm_head and kept modules ignored */
    const char *keep[] = {"visual", "lm_head"};
    awq_qconfig_fields f = {4, 64, true, false, keep, 2};
    CHECK_OK(ctx, awq_format_quant_config(ctx, AWQ_QFMT_CT, &f, &qc));
    CHECK_OK(ctx, awq_ct_config_parse(ctx, qc, "w", &cfg));
    CHECK_OK(ctx, awq_ct_int_scheme(ctx, cfg, &one));
    CHECK(one->num_bits == 4 && one->group_size == 64 && one->symmetric);
    CHECK(awq_ct_scheme_for(cfg, "model.visual.merger.mlp.0", LIN) == NULL);
    CHECK(awq_ct_scheme_for(cfg, "lm_head", LIN) == NULL);
    CHECK(awq_ct_scheme_for(cfg, "model.layers.0.mlp.up_proj", LIN) == one);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(qc, "ignore")), 2);
    awq_ct_config_free(cfg);
    cJSON_Delete(qc);
}

/* ------------------------------------- 3. llm-compressor, transformers */

static void test_llmc(awq_ctx *ctx) {
    cJSON *r = ref_load_json(ctx, LLMC ".ref.json");
    int n = 0, T = 0;
    int32_t *ids = ref_json_ids(cJSON_GetObjectItem(r, "window_ids"), &n);
    int32_t *prompt = ref_json_ids(cJSON_GetObjectItem(r, "prompt_ids"), &T);
    const int64_t L = (int64_t)cJSON_GetObjectItem(r, "seqlen")->valuedouble;
    const int64_t V = (int64_t)cJSON_GetObjectItem(r, "vocab")->valuedouble;
    const double ref_ppl = cJSON_GetObjectItem(r, "ppl")->valuedouble;
    size_t nref = 0;
    float *ref = ref_load_f32(ctx, LLMC ".logits.f32", &nref);
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, LLMC, &ck));
    if (ck) CHECK_OK(ctx, awq_model_open(ctx, ck, NULL, &m));
    if (m) {
        awq_ppl_params pp = awq_ppl_default_params();
        pp.seqlen = L;
        awq_ppl_result res;
        CHECK_OK(ctx, awq_model_perplexity(m, ids, n, &pp, &res, NULL));
        CHECK_EQ_INT(res.n_windows, n / L);
        CHECK_MSG(fabs(res.ppl / ref_ppl - 1) <= TOL_PPL_REL,
                  "llm-compressor AWQ checkpoint: awqkit ppl %.6f, transformers %.6f", res.ppl,
                  ref_ppl);
        float *lg = malloc(sizeof(float) * (size_t)(T * V));
        CHECK_OK(ctx, awq_model_forward_logits(m, prompt, 1, T, lg));
        const cJSON *pos = cJSON_GetObjectItem(r, "logits_positions");
        CHECK_EQ_INT(nref, (size_t)(cJSON_GetArraySize(pos) * V));
        for (int k = 0; k < cJSON_GetArraySize(pos); k++) {
            int p = cJSON_GetArrayItem(pos, k)->valueint;
            double e = ref_rel_err(lg + (int64_t)p * V, ref + (int64_t)k * V, V);
            CHECK_MSG(e <= TOL_LOGITS, "position %d: logits rel err %g", p, e);
        }
        free(lg);
    }
    awq_model_free(m);

    /* the format as read: 42 linears, W4A16 asymmetric group 128 */
    awq_qckpt q;
    if (ck) {
        CHECK_OK(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q));
        CHECK(q.format == AWQ_QFMT_CT && q.bits == 4 && q.group_size == 128 && !q.sym &&
              q.n_linears == 42);
    }
    awq_checkpoint_free(ck);

    /* compressed-tensors -> AWQ -> compressed-tensors: the same tensors */
    char *a = awq_test_tmpdir("ct_llmc_awq"), *b = awq_test_tmpdir("ct_llmc_back");
    awq_repack_params rp = awq_repack_default_params();
    rp.force = true;
    awq_repack_result rr;
    CHECK_OK(ctx, awq_repack(ctx, LLMC, a, &rp, &rr));
    CHECK_EQ_INT(rr.n_linears, 42);
    rp.to = AWQ_QFMT_CT;
    CHECK_OK(ctx, awq_repack(ctx, a, b, &rp, &rr));
    CHECK_MSG(same_tensors(ctx, b, LLMC) == 0, "CT -> AWQ -> CT changed tensors");
    /* and the ignore list keeps lm_head out */
    awq_checkpoint *cb = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, b, &cb));
    const cJSON *qj = cb ? cJSON_GetObjectItem(awq_checkpoint_config(cb), "quantization_config")
                         : NULL;
    awq_ct_config *cfg = NULL;
    CHECK_OK(ctx, awq_ct_config_parse(ctx, qj, "back", &cfg));
    CHECK(cfg && awq_ct_scheme_for(cfg, "lm_head", LIN) == NULL);
    awq_ct_config_free(cfg);
    awq_checkpoint_free(cb);
    free(a);
    free(b);
    free(ids);
    free(prompt);
    free(ref);
    cJSON_Delete(r);
}

/* --------------------------- 4. awqkit writes, transformers reads it */

static void test_awqkit_output(awq_ctx *ctx) {
    const char *fixed = AWQ_TEST_SRC "/ref/ct/awqkit-qwen2-ct";
    char *out = awq_test_tmpdir("ct_awqkit_out");
    awq_repack_params rp = awq_repack_default_params();
    rp.force = true;
    rp.to = AWQ_QFMT_CT;
    awq_repack_result rr;
    CHECK_OK(ctx, awq_repack(ctx, AWQ_TEST_SRC "/ref/quant/awq-gemm", out, &rp, &rr));
    /* what transformers loaded is what awqkit writes today */
    CHECK_MSG(same_tensors(ctx, out, fixed) == 0, "repack output differs from %s", fixed);
    cJSON *r = ref_load_json(ctx, AWQ_TEST_SRC "/ref/ct/awqkit-qwen2-ct.ref.json");
    int T = 0;
    int32_t *ids = ref_json_ids(cJSON_GetObjectItem(r, "ids"), &T);
    const int64_t V = (int64_t)cJSON_GetObjectItem(r, "vocab")->valuedouble;
    size_t nref = 0;
    float *ref = ref_load_f32(ctx, AWQ_TEST_SRC "/ref/ct/awqkit-qwen2-ct.logits.f32", &nref);
    CHECK_EQ_INT(nref, (size_t)(T * V));
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, out, &ck));
    if (ck) CHECK_OK(ctx, awq_model_open(ctx, ck, NULL, &m));
    if (m) {
        float *lg = malloc(sizeof(float) * (size_t)(T * V));
        CHECK_OK(ctx, awq_model_forward_logits(m, ids, 1, T, lg));
        double e = ref_rel_err(lg, ref, (int64_t)T * V);
        CHECK_MSG(e <= TOL_LOGITS, "awqkit's CT output: logits rel err %g vs transformers", e);
        free(lg);
    }
    awq_model_free(m);
    awq_checkpoint_free(ck);
    free(ids);
    free(ref);
    free(out);
    cJSON_Delete(r);
}

/* ------------------------- 5. FP8 / NVFP4 / int8 weights (ct_float.c) */

/* The library dequantizes in the scale's dtype (FP16 here) and rounds NVFP4
 * weights to BF16; awqkit forms the products in fp32. Relative logits
 * error from that rounding alone (measured: fp8 4e-4, nvfp4 2.6e-3; the
 * integer mixed-scheme model under TOL_LOGITS_FP8 too), with headroom; a
 * wrong layout gives errors of order 1. */
#define TOL_LOGITS_FP8 1e-3
#define TOL_LOGITS_NVFP4 1e-2

static void test_float(awq_ctx *ctx) {
    static const char *const names[] = {"nvfp4a16", "fp8-channel", "fp8-block", "mixed-int"};
    for (size_t f = 0; f < AWQ_ARRAY_LEN(names); f++) {
        char dir[512], path[600];
        snprintf(dir, sizeof dir, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-%s", names[f]);
        snprintf(path, sizeof path, "%s.ref.json", dir);
        cJSON *r = ref_load_json(ctx, path);
        int T = 0;
        int32_t *ids = ref_json_ids(cJSON_GetObjectItem(r, "ids"), &T);
        const int64_t V = (int64_t)cJSON_GetObjectItem(r, "vocab")->valuedouble;
        size_t nref = 0;
        snprintf(path, sizeof path, "%s.logits.f32", dir);
        float *ref = ref_load_f32(ctx, path, &nref);
        CHECK_EQ_INT(nref, (size_t)(T * V));
        awq_checkpoint *ck = NULL;
        awq_model *m = NULL;
        CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
        if (ck) CHECK_OK(ctx, awq_model_open(ctx, ck, NULL, &m));
        if (m) {
            float *lg = malloc(sizeof(float) * (size_t)(T * V));
            CHECK_OK(ctx, awq_model_forward_logits(m, ids, 1, T, lg));
            double e = ref_rel_err(lg, ref, (int64_t)T * V);
            double tol = f == 0 ? TOL_LOGITS_NVFP4 : TOL_LOGITS_FP8;
            printf("%s: logits rel err %.3g (tolerance %g)\n", names[f], e, tol);
            CHECK_MSG(e <= tol, "%s: logits rel err %g", names[f], e);
            free(lg);
        }
        awq_model_free(m);
        /* the packed-integer path (awq_qckpt) needs one integer
         * pack-quantized scheme: a clear refusal naming the groups (verify,
         * repack and audit take these checkpoints their own way: section 7) */
        awq_qckpt q;
        if (ck)
            CHECK_FAILS(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q), AWQ_ERR_UNSUPPORTED,
                        f == 3 ? "different schemes" : "not pack-quantized");
        awq_checkpoint_free(ck);
        free(ids);
        free(ref);
        cJSON_Delete(r);
    }
    /* E4M3FN decoding: normal, subnormal, max, NaN, sign */
    CHECK(awq_f8e4m3_to_f32(0x38) == 1.0f);
    CHECK(awq_f8e4m3_to_f32(0x01) == ldexpf(1.0f, -9));
    CHECK(awq_f8e4m3_to_f32(0x7E) == 448.0f);
    CHECK(isnan(awq_f8e4m3_to_f32(0x7F)));
    CHECK(awq_f8e4m3_to_f32(0xB8) == -1.0f);
}

/* ------------------- 6. pack-quantized with F32 scales (the model's dtype) */

/* tests/ref/quant/compressed-tensors with every weight_scale stored as F32,
 * multiplied by `mul`; config and aux files copied. */
static void f32_scales_copy(awq_ctx *ctx, const char *src, const char *dst, float mul) {
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, src, &ck));
    if (!ck) return;
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, dst, &wp, &w));
    const size_t nt = awq_checkpoint_n_tensors(ck);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nt; i++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
            const size_t nl = strlen(t->name);
            const bool sc = nl > 13 && strcmp(t->name + nl - 13, ".weight_scale") == 0;
            if (pass == 0) {
                CHECK_OK(ctx, awq_writer_declare(w, t->name, sc ? AWQ_DT_F32 : t->dtype, t->ndim,
                                                 t->shape));
            } else if (!sc) {
                CHECK_OK(ctx, awq_writer_write(w, t->name, t->data, t->n_bytes));
            } else {
                float *f = malloc(sizeof(float) * (size_t)t->n_elements);
                CHECK_OK(ctx, awq_tensor_to_f32(ctx, t, f));
                for (uint64_t k = 0; k < (uint64_t)t->n_elements; k++) f[k] *= mul;
                CHECK_OK(ctx, awq_writer_write(w, t->name, f, (uint64_t)t->n_elements * 4));
                free(f);
            }
        }
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", src);
    CHECK_OK(ctx, awq_writer_copy_file(w, "config.json", path));
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    awq_checkpoint_free(ck);
}

static float *logits_of(awq_ctx *ctx, const char *dir, const int32_t *ids, int T, int64_t V) {
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    float *lg = malloc(sizeof(float) * (size_t)(T * V));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    if (ck) CHECK_OK(ctx, awq_model_open(ctx, ck, NULL, &m));
    if (m) CHECK_OK(ctx, awq_model_forward_logits(m, ids, 1, T, lg));
    else memset(lg, 0, sizeof(float) * (size_t)(T * V));
    awq_model_free(m);
    awq_checkpoint_free(ck);
    return lg;
}

static void test_f32_scales(awq_ctx *ctx) {
    const char *src = AWQ_TEST_SRC "/ref/quant/compressed-tensors";
    char *exact = awq_test_tmpdir("ct_f32_exact"), *off = awq_test_tmpdir("ct_f32_off");
    f32_scales_copy(ctx, src, exact, 1.0f);
    f32_scales_copy(ctx, src, off, 1.0f + 1.0f / 4096); /* no FP16 holds these */
    const int T = 12;
    const int64_t V = 32;
    int32_t ids[12];
    for (int t = 0; t < T; t++) ids[t] = (int32_t)((t * 5 + 1) % V);
    float *a = logits_of(ctx, src, ids, T, V), *b = logits_of(ctx, exact, ids, T, V),
          *c = logits_of(ctx, off, ids, T, V);
    /* the word-level path computes (q - z) * scale like awq_dequantize */
    CHECK_MSG(memcmp(a, b, sizeof(float) * (size_t)(T * V)) == 0,
              "F32 scales: logits differ from the F16 fixture's");
    double e = ref_rel_err(c, a, (int64_t)T * V);
    CHECK_MSG(e > 0 && e < 1e-2, "scales x (1 + 2^-12): logits rel err %g", e);
    /* verify reads them as stored (per linear), against the bound */
    awq_verify_params vp = awq_verify_default_params();
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, off, &vp, &vr));
    CHECK_MSG(vr.ok && vr.n_linears > 0 && vr.scheme[0], "F32 scales: verify %s",
              vr.n_problems ? vr.problems[0] : "-");
    awq_verify_result_free(&vr);
    /* the canonical FP16 form (repack) refuses them, naming the tensor */
    awq_checkpoint *ck = NULL;
    awq_qckpt q;
    awq_qtensor t;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, off, &ck));
    if (ck) {
        CHECK_OK(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q));
        CHECK_FAILS(ctx, awq_qlinear_read(ctx, ck, "model.layers.0.mlp.up_proj", &q, &t),
                    AWQ_ERR_LOSSY, "up_proj.weight_scale");
    }
    awq_checkpoint_free(ck);
    free(a);
    free(b);
    free(c);
    free(exact);
    free(off);
}

/* ------------- 7. verify / repack / detect of FP8, NVFP4, mixed schemes */

#define FP16_SRC AWQ_TEST_SRC "/ref/quant/fp16"

/* Copy checkpoint src to dst: tensor `name` (when not NULL) rewritten as F32
 * times mul, its element 0 NaN when nan0; config.json copied with the
 * first `from` replaced by `to` (when from is not NULL). */
static void copy_ck(awq_ctx *ctx, const char *src, const char *dst, const char *name, float mul,
                    bool nan0, const char *from, const char *to) {
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, src, &ck));
    if (!ck) return;
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, dst, &wp, &w));
    const size_t nt = awq_checkpoint_n_tensors(ck);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nt; i++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
            const bool mod = name && strcmp(t->name, name) == 0;
            if (pass == 0) {
                CHECK_OK(ctx, awq_writer_declare(w, t->name, mod ? AWQ_DT_F32 : t->dtype, t->ndim,
                                                 t->shape));
            } else if (!mod) {
                CHECK_OK(ctx, awq_writer_write(w, t->name, t->data, t->n_bytes));
            } else {
                float *f = malloc(sizeof(float) * (size_t)t->n_elements);
                for (uint64_t k = 0; k < t->n_elements; k++)
                    f[k] = (float)(t->dtype == AWQ_DT_F8_E4M3
                                       ? awq_f8e4m3_to_f32(((const uint8_t *)t->data)[k])
                                       : awq_tensor_element_f64(t, (int64_t)k)) * mul;
                if (nan0) f[0] = NAN;
                CHECK_OK(ctx, awq_writer_write(w, t->name, f, (uint64_t)t->n_elements * 4));
                free(f);
            }
        }
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", src);
    char *txt = NULL;
    size_t len = 0;
    CHECK_OK(ctx, awq_read_file(ctx, path, 1u << 20, &txt, &len));
    if (txt && from) {
        char *at = strstr(txt, from);
        CHECK_MSG(at != NULL, "config of %s lacks %s", src, from);
        if (at) {
            size_t fl = strlen(from), tl = strlen(to);
            char *n = malloc(len + tl + 1);
            memcpy(n, txt, (size_t)(at - txt));
            memcpy(n + (at - txt), to, tl);
            memcpy(n + (at - txt) + tl, at + fl, len - (size_t)(at - txt) - fl + 1);
            free(txt);
            txt = n;
            len = strlen(n);
        }
    }
    if (txt) CHECK_OK(ctx, awq_writer_add_file(w, "config.json", txt, len));
    free(txt);
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    awq_checkpoint_free(ck);
}

static bool has_problem(const awq_verify_result *r, const char *needle) {
    for (int i = 0; i < r->n_problems; i++)
        if (strstr(r->problems[i], needle)) return true;
    return false;
}

/* verify of dir (against src when not NULL): ok as expected, and when not
 * ok a problem containing needle. */
static void expect_verify(awq_ctx *ctx, const char *dir, const char *src, bool ok,
                          const char *needle) {
    awq_verify_params vp = awq_verify_default_params();
    vp.against = src;
    awq_verify_result r;
    CHECK_OK(ctx, awq_verify(ctx, dir, &vp, &r));
    CHECK_MSG(r.ok == ok, "verify %s%s%s: ok %d (first problem: %s)", dir, src ? " against " : "",
              src ? src : "", r.ok, r.n_problems ? r.problems[0] : "-");
    if (!ok && needle)
        CHECK_MSG(has_problem(&r, needle), "verify %s: no problem says '%s' (first: %s)", dir,
                  needle, r.n_problems ? r.problems[0] : "-");
    awq_verify_result_free(&r);
}

static void test_float_commands(awq_ctx *ctx) {
    static const char *const names[] = {"nvfp4a16", "fp8-channel", "fp8-block", "mixed-int"};
    static const awq_pack_kind packs[] = {AWQ_PACK_NVFP4, AWQ_PACK_FP8, AWQ_PACK_FP8,
                                          AWQ_PACK_CT_INT};
    char dir[512];
    for (size_t f = 0; f < AWQ_ARRAY_LEN(names); f++) {
        snprintf(dir, sizeof dir, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-%s", names[f]);
        /* inspect: the table computes on it, and the config agrees (FP8
         * written as naive-quantized with float weights included) */
        awq_checkpoint *ck = NULL;
        CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
        awq_detect_result *d = calloc(1, sizeof *d);
        if (ck) CHECK_OK(ctx, awq_detect(ctx, ck, d));
        CHECK_MSG(d->pack == packs[f] && d->config_agrees && awq_detect_computable(d),
                  "%s: pack %s, agrees %d, computable %d (%s)", names[f],
                  awq_pack_kind_name(d->pack), d->config_agrees, awq_detect_computable(d),
                  d->n_notes ? d->notes[0] : "");
        free(d);
        awq_checkpoint_free(ck);

        /* verify: structure alone, then against the source */
        awq_verify_params vp = awq_verify_default_params();
        awq_verify_result r;
        CHECK_OK(ctx, awq_verify(ctx, dir, &vp, &r));
        CHECK_MSG(r.ok && r.n_linears == 7 && r.linear_params == 36864 /* q, o 64x64; k, v 32x64; 3 MLP 128x64 */ &&
                      r.q.bits == 0 && strstr(r.scheme, "group_0: "),
                  "%s: ok %d, %lld linears, %llu params, scheme '%s' (%s)", names[f], r.ok,
                  (long long)r.n_linears, (unsigned long long)r.linear_params, r.scheme,
                  r.n_problems ? r.problems[0] : "-");
        awq_verify_result_free(&r);
        vp.against = FP16_SRC;
        CHECK_OK(ctx, awq_verify(ctx, dir, &vp, &r));
        CHECK_MSG(r.ok && r.params_equal && r.n_failed_linears == 0, "%s against fp16: %s",
                  names[f], r.n_problems ? r.problems[0] : "-");
        for (int64_t i = 0; i < r.n_linears; i++) {
            const awq_verify_linear *l = &r.linears[i];
            /* float codes: checked on the grid, every source weight within
             * half a step; integer codes: the bound */
            if (packs[f] == AWQ_PACK_CT_INT)
                CHECK(l->n_off_step == -1 && l->rel_err_scaled <= r.bound);
            else
                CHECK_MSG(l->n_off_step == 0 && l->worst_step > 0.5 && l->worst_step <= 1.04,
                          "%s %s: %lld off step, worst %g", names[f], l->name,
                          (long long)l->n_off_step, l->worst_step);
        }
        awq_verify_result_free(&r);

        /* repack: refused naming the tensor and what works, nothing written */
        char *out = awq_test_tmpdir("ct_float_repack");
        char target[600];
        snprintf(target, sizeof target, "%s/out", out);
        awq_repack_params rp = awq_repack_default_params();
        rp.to = f == 0 ? AWQ_QFMT_CT : AWQ_QFMT_AWQ_GEMM;
        awq_repack_result rr;
        CHECK_FAILS(ctx, awq_repack(ctx, dir, target, &rp, &rr), AWQ_ERR_UNSUPPORTED,
                    f == 3 ? "a mixed-scheme checkpoint (group_0: pack-quantized int8 channel"
                    : f == 0 ? "model.layers.0.mlp.down_proj.weight_packed (config group "
                               "group_0: nvfp4-pack-quantized fp4 group 16): NVFP4 codes"
                             : "model.layers.0.mlp.down_proj.weight (config group group_0: "
                               "naive-quantized fp8");
        CHECK(strstr(awq_ctx_errmsg(ctx), "quantize the original 16-bit checkpoint") != NULL);
        CHECK_MSG(!awq_path_exists(target), "%s: repack refusal wrote %s", names[f], target);
        free(out);
    }

    /* a source the FP8 codes are not a rounding of (one linear x 1.25):
     * that linear is outside the grid step, the others pass */
    char *src = awq_test_tmpdir("ct_src_scaled");
    copy_ck(ctx, FP16_SRC, src, "model.layers.0.mlp.up_proj.weight", 1.25f, false, NULL, NULL);
    expect_verify(ctx, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-fp8-block", src, false,
                  "model.layers.0.mlp.up_proj: ");
    expect_verify(ctx, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-nvfp4a16", src, false,
                  "farther than half a nvfp4 step");
    free(src);

    /* damaged checkpoints: a NaN scale, a global scale of 0, scale shapes
     * that contradict the strategy, a zero point the scheme does not have */
    char *bad = awq_test_tmpdir("ct_bad_scale");
    copy_ck(ctx, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-fp8-channel", bad,
            "model.layers.0.mlp.down_proj.weight_scale", 1.0f, true, NULL, NULL);
    expect_verify(ctx, bad, NULL, false,
                  "model.layers.0.mlp.down_proj.weight_scale: 1 scales are not finite and > 0");
    copy_ck(ctx, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-nvfp4a16", bad,
            "model.layers.0.mlp.down_proj.weight_global_scale", 0.0f, false, NULL, NULL);
    expect_verify(ctx, bad, NULL, false, "down_proj.weight_global_scale: not one finite float > 0");
    copy_ck(ctx, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-fp8-channel", bad, NULL, 1.0f, false,
            "\"strategy\": \"channel\"", "\"strategy\": \"tensor\"");
    expect_verify(ctx, bad, NULL, false,
                  "weight_scale: shape [64, 1], but the tensor scales of a [64, 128] weight are "
                  "[1, 1]");
    copy_ck(ctx, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-nvfp4a16", bad, NULL, 1.0f, false,
            "\"group_size\": 16", "\"group_size\": 32");
    expect_verify(ctx, bad, NULL, false, "the tensor_group scales of a [64, 128] weight are [64, 4]");
    copy_ck(ctx, AWQ_TEST_SRC "/ref/ct/tiny-qwen2-mixed-int", bad, NULL, 1.0f, false,
            "\"symmetric\": false", "\"symmetric\": true");
    expect_verify(ctx, bad, NULL, false, "down_proj.weight_zero_point: stored, but config group");
    free(bad);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    test_layout(ctx);
    test_config(ctx);
    test_llmc(ctx);
    test_awqkit_output(ctx);
    test_float(ctx);
    test_f32_scales(ctx);
    test_float_commands(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
