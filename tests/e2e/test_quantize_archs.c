/* tests/e2e/test_quantize_archs.c — AWQ end to end on the architectures
 * beyond the Llama family: Phi-3 (fused qkv_proj / gate_up_proj, scaled as
 * one linear; with and without GQA), Gemma 2 and Gemma 3 ((1 + w) norms
 * folded as (w + 1)/s - 1, the MLP group on pre_feedforward_layernorm,
 * sandwich norms, soft-capping, sliding layers; Gemma 3 also as
 * Gemma3ForConditionalGeneration with its SigLIP tower).
 *
 * Per family, on a synthetic model with outlier channels (awqkit synth):
 *   quantize (RTN and AWQ) -> verify --against the source OK, logical
 *   count preserved; every layer's output MSE and the held-out logits MSE
 *   vs the FP16 model lower with AWQ than with RTN; the expected groups
 *   searched (v -> o only without GQA); the output runs in the forward. */
#include "awq_test.h"
#include "core/core.h"
#include "e2e/e2e_quant.h"

#include "awqkit/checkpoint.h"
#include "awqkit/quant.h"
#include "awqkit/quantize.h"
#include "awqkit/runtime.h"
#include "awqkit/synth.h"

#include <cjson/cJSON.h>

#define VOCAB 512
#define EVAL_T 64
#define EVAL_B 2

/* The group size of quantize() below (run_gemma3_vl uses 32: hidden 32). */
static int g_group = 128;

static awq_status quantize(awq_ctx *ctx, const char *model, const char *out, awq_method m,
                           const char *ids, awq_quantize_report *rep) {
    awq_quantize_params p = e2e_quantize_params(m, ids);
    p.quant.group_size = g_group;
    return e2e_quantize_with(ctx, model, out, &p, rep);
}

typedef struct {
    const char *arch;
    int64_t heads, kv_heads;
    int64_t head_dim;          /* 0: hidden / heads */
    int vo_groups;             /* layers where group 1 (v -> o) is searched */
    const char *packed[4];     /* linears that must be packed in layer 0 */
    const char *norm;          /* the MLP group's norm, written with the fold */
    const char *prefix;        /* decoder tensors (NULL: "model.") */
} family;

static void run_family(awq_ctx *ctx, const char *tmp, const char *ids_path, const family *f) {
    char model[1024], rtn[1100], awq[1100];
    snprintf(model, sizeof model, "%s/%s-%lld", tmp, f->arch, (long long)f->kv_heads);
    snprintf(rtn, sizeof rtn, "%s-rtn", model);
    snprintf(awq, sizeof awq, "%s-awq", model);
    awq_synth_params sp = awq_synth_default_params();
    sp.arch = f->arch;
    sp.hidden = 128;
    sp.intermediate = 256;
    sp.n_layers = 2;
    sp.n_heads = f->heads;
    sp.n_kv_heads = f->kv_heads;
    sp.head_dim = f->head_dim;
    sp.vocab = VOCAB;
    sp.max_pos = 1024;
    sp.n_outliers = 4;
    sp.outlier_scale = 40.0;
    sp.seed = 11;
    sp.force = true;
    sp.tie_word_embeddings = strncmp(f->arch, "gemma", 5) == 0;
    awq_synth_result sr;
    CHECK_OK(ctx, awq_synth_write(ctx, model, &sp, &sr));

    awq_quantize_report rr, ra;
    memset(&rr, 0, sizeof rr);
    memset(&ra, 0, sizeof ra);
    CHECK_OK(ctx, quantize(ctx, model, rtn, AWQ_METHOD_RTN, ids_path, &rr));
    CHECK_OK(ctx, quantize(ctx, model, awq, AWQ_METHOD_AWQ, ids_path, &ra));
    CHECK_EQ_INT(ra.n_layers, 2);
    CHECK_MSG(ra.logical_in == ra.logical_out, "%s: logical count %llu -> %llu", f->arch,
              (unsigned long long)ra.logical_in, (unsigned long long)ra.logical_out);
    for (int64_t i = 0; i < ra.n_layers; i++) {
        printf("%s kv%lld layer %lld: output MSE rtn %.4g awq %.4g\n", f->arch,
               (long long)f->kv_heads, (long long)i, ra.layers[i].mse_rtn,
               ra.layers[i].mse_quant);
        CHECK_MSG(ra.layers[i].mse_quant < 0.8 * ra.layers[i].mse_rtn,
                  "%s layer %lld: AWQ %g vs RTN %g", f->arch, (long long)i,
                  ra.layers[i].mse_quant, ra.layers[i].mse_rtn);
    }
    int vo = 0, searched = 0;
    for (int64_t i = 0; i < ra.n_groups; i++) {
        vo += ra.groups[i].group == 1 && ra.groups[i].searched;
        searched += ra.groups[i].searched;
    }
    CHECK_MSG(vo == f->vo_groups, "%s: v -> o searched in %d layers, expected %d", f->arch, vo,
              f->vo_groups);
    CHECK_EQ_INT(searched, 2 * 3 + f->vo_groups);

    /* verify --against the source */
    awq_verify_params vp = awq_verify_default_params();
    vp.against = model;
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, awq, &vp, &vr));
    CHECK_MSG(vr.ok && vr.params_equal, "%s: verify --against: ok %d, params equal %d, worst "
              "%g (bound %g)", f->arch, vr.ok, vr.params_equal, vr.max_rel_err_scaled, vr.bound);
    awq_verify_result_free(&vr);

    /* fused linears stay fused on disk; the folded norm keeps its name */
    awq_checkpoint *ck = NULL;
    const char *pre = f->prefix ? f->prefix : "model.";
    CHECK_OK(ctx, awq_checkpoint_open(ctx, awq, &ck));
    if (ck) {
        char name[256];
        for (int i = 0; i < 4 && f->packed[i]; i++) {
            snprintf(name, sizeof name, "%slayers.0.%s.qweight", pre, f->packed[i]);
            CHECK_MSG(awq_checkpoint_find(ck, name) != NULL, "%s: %s missing", f->arch, name);
        }
        snprintf(name, sizeof name, "%slayers.1.%s.weight", pre, f->norm);
        CHECK_MSG(awq_checkpoint_find(ck, name) != NULL, "%s: %s missing", f->arch, name);
    }
    awq_checkpoint_free(ck);

    int32_t ids[EVAL_B * EVAL_T];
    for (int i = 0; i < EVAL_B * EVAL_T; i++) ids[i] = (int32_t)(e2e_rand_u32() % VOCAB);
    float *lf = e2e_logits(ctx, model, ids, EVAL_B, EVAL_T, VOCAB);
    float *lr = e2e_logits(ctx, rtn, ids, EVAL_B, EVAL_T, VOCAB);
    float *la = e2e_logits(ctx, awq, ids, EVAL_B, EVAL_T, VOCAB);
    CHECK(lf && lr && la);
    if (lf && lr && la) {
        size_t n = (size_t)EVAL_B * EVAL_T * VOCAB;
        double er = e2e_mse(lf, lr, n), ea = e2e_mse(lf, la, n);
        printf("%s kv%lld: held-out logits MSE vs FP16: rtn %.4g awq %.4g\n", f->arch,
               (long long)f->kv_heads, er, ea);
        CHECK_MSG(ea < 0.8 * er, "%s logits: AWQ %g vs RTN %g", f->arch, ea, er);
    }
    free(lf);
    free(lr);
    free(la);
    awq_quantize_report_free(&rr);
    awq_quantize_report_free(&ra);
}

/* Gemma3ForConditionalGeneration (the transformers fixture: decoder under
 * language_model.model.*, a SigLIP tower): the decoder is quantized, the
 * vision tower and projector are copied byte for byte and listed in
 * modules_to_not_convert, and the output verifies and runs. */
static void run_gemma3_vl(awq_ctx *ctx, const char *tmp) {
    char src[1024], out[1024], ids_path[1100];
    snprintf(src, sizeof src, "%s/ref/models/gemma3_vl", AWQ_TEST_SRC);
    snprintf(out, sizeof out, "%s/gemma3_vl-awq", tmp);
    snprintf(ids_path, sizeof ids_path, "%s/calib-ids-vl.txt", tmp);
    /* text ids only (120.. are the image tokens) */
    CHECK(e2e_write_calib_ids(ids_path, 8 * 128, 100));
    g_group = 32; /* hidden 32 */
    awq_quantize_report ra;
    memset(&ra, 0, sizeof ra);
    CHECK_OK(ctx, quantize(ctx, src, out, AWQ_METHOD_AWQ, ids_path, &ra));
    g_group = 128;
    CHECK(ra.logical_in == ra.logical_out && ra.n_kept == 0);
    awq_verify_params vp = awq_verify_default_params();
    vp.against = src;
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, out, &vp, &vr));
    CHECK_MSG(vr.ok && vr.params_equal, "gemma3_vl: verify --against");
    awq_verify_result_free(&vr);
    awq_checkpoint *a = NULL, *b = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, src, &a));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, out, &b));
    int n_vision = 0;
    for (size_t i = 0; a && b && i < awq_checkpoint_n_tensors(a); i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(a, i);
        if (strncmp(t->name, "vision_tower.", 13) && strncmp(t->name, "multi_modal_projector.", 22))
            continue;
        const awq_tensor_info *u = awq_checkpoint_find(b, t->name);
        CHECK_MSG(u && u->dtype == t->dtype && u->n_bytes == t->n_bytes &&
                      memcmp(u->data, t->data, (size_t)t->n_bytes) == 0,
                  "%s not copied as is", t->name);
        n_vision++;
    }
    CHECK(n_vision > 10);
    CHECK(b && awq_checkpoint_find(b, "language_model.model.layers.0.self_attn.q_proj.qweight"));
    const cJSON *qc = b ? cJSON_GetObjectItem(awq_checkpoint_config(b), "quantization_config") : NULL;
    const cJSON *mods = qc ? cJSON_GetObjectItem(qc, "modules_to_not_convert") : NULL;
    bool vt = false, mp = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, mods) {
        vt |= cJSON_IsString(e) && !strcmp(e->valuestring, "vision_tower");
        mp |= cJSON_IsString(e) && !strcmp(e->valuestring, "multi_modal_projector");
    }
    CHECK_MSG(vt && mp, "modules_to_not_convert lacks the vision tower or the projector");
    awq_checkpoint_free(a);
    awq_checkpoint_free(b);
    int32_t ids[EVAL_B * EVAL_T];
    for (int i = 0; i < EVAL_B * EVAL_T; i++) ids[i] = (int32_t)(e2e_rand_u32() % 100);
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    awq_runtime_params rp = awq_runtime_default_params();
    float *lg = malloc(sizeof(float) * EVAL_B * EVAL_T * 128);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, out, &ck));
    if (ck) CHECK_OK(ctx, awq_model_open(ctx, ck, &rp, &m));
    if (m) CHECK_OK(ctx, awq_model_forward_logits(m, ids, EVAL_B, EVAL_T, lg));
    free(lg);
    awq_model_free(m);
    awq_checkpoint_free(ck);
    awq_quantize_report_free(&ra);
}

int main(void) {
    char *tmp = awq_test_tmpdir("e2e_quantize_archs");
    char ids_path[1024];
    snprintf(ids_path, sizeof ids_path, "%s/calib-ids.txt", tmp);
    awq_ctx *ctx = awq_test_ctx(2);
    CHECK(e2e_write_calib_ids(ids_path, 16 * 128, VOCAB));

    static const family fams[] = {
        /* no GQA: qkv_proj -> o_proj folds into the v rows */
        {"phi3", 4, 4, 0, 2, {"self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj",
                           "mlp.down_proj"}, "post_attention_layernorm", NULL},
        /* GQA (as Phi-4): o's input is not v's output, the group is skipped */
        {"phi3", 4, 2, 0, 0, {"self_attn.qkv_proj", "mlp.gate_up_proj", NULL, NULL},
         "post_attention_layernorm", NULL},
        /* head_dim 64 x 2 heads = hidden: v -> o has the same shape */
        {"gemma2", 2, 2, 64, 2, {"self_attn.q_proj", "self_attn.v_proj", "mlp.up_proj",
                              "mlp.down_proj"}, "pre_feedforward_layernorm", NULL},
        {"gemma3", 2, 1, 64, 0, {"self_attn.k_proj", "self_attn.o_proj", "mlp.gate_proj", NULL},
         "pre_feedforward_layernorm", NULL},
        /* Gemma3ForConditionalGeneration as on the Hub: language_model.model.*
         * beside a SigLIP tower */
        {"gemma3-vl", 2, 2, 64, 2, {"self_attn.q_proj", "mlp.down_proj", NULL, NULL},
         "pre_feedforward_layernorm", "language_model.model."},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(fams); i++) run_family(ctx, tmp, ids_path, &fams[i]);
    run_gemma3_vl(ctx, tmp);
    awq_ctx_free(ctx);
    free(tmp);
    return awq_test_summary();
}
