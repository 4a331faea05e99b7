/* tests/e2e/test_quantize_synth.c — AWQ vs RTN on a synthetic model with
 * strong activation outliers (awqkit synth: a few hidden channels with large
 * norm weights), where the gap is large and the test robust.
 *
 * The model has no GQA (n_kv_heads == n_heads), so all four scaling groups
 * run, including v_proj -> o_proj. Calibration uses pre-tokenized random
 * ids (--calib-tokens path); the held-out evaluation uses other random ids.
 * Checks: every layer's output MSE with AWQ is well below RTN's, and the
 * final logits are closer to the FP16 model's. */
#include "awq_test.h"
#include "core/core.h"

#include "awqkit/quantize.h"
#include "awqkit/runtime.h"
#include "awqkit/synth.h"

#define VOCAB 512
#define EVAL_T 64
#define EVAL_B 4

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static awq_status quantize(awq_ctx *ctx, const char *model, const char *out, awq_method m,
                           const char *ids, awq_quantize_report *rep) {
    awq_quantize_params p = awq_quantize_default_params();
    p.method = m;
    p.calib_tokens = ids;
    p.calib.seqlen = 128;
    p.force = true;
    awq_quantize_job *job = NULL;
    awq_status s = awq_quantize_prepare(ctx, model, out, &p, &job);
    if (s == AWQ_OK) s = awq_quantize_run(job, rep);
    awq_quantize_job_free(job);
    return s;
}

static float *logits(awq_ctx *ctx, const char *dir, const int32_t *ids) {
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    awq_runtime_params rp = awq_runtime_default_params();
    float *out = malloc(sizeof(float) * EVAL_B * EVAL_T * VOCAB);
    if (awq_checkpoint_open(ctx, dir, &ck) != AWQ_OK ||
        awq_model_open(ctx, ck, &rp, &m) != AWQ_OK ||
        awq_model_forward_logits(m, ids, EVAL_B, EVAL_T, out) != AWQ_OK) {
        fprintf(stderr, "logits of %s: %s\n", dir, awq_ctx_errmsg(ctx));
        free(out);
        out = NULL;
    }
    awq_model_free(m);
    awq_checkpoint_free(ck);
    return out;
}

static double mse(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}

int main(void) {
    char *tmp = awq_test_tmpdir("e2e_quantize_synth");
    char model[1024], rtn[1024], awq[1024], ids_path[1024];
    snprintf(model, sizeof model, "%s/model", tmp);
    snprintf(rtn, sizeof rtn, "%s/rtn", tmp);
    snprintf(awq, sizeof awq, "%s/awq", tmp);
    snprintf(ids_path, sizeof ids_path, "%s/calib-ids.txt", tmp);
    awq_ctx *ctx = awq_test_ctx(2);

    awq_synth_params sp = awq_synth_default_params();
    sp.arch = "llama";
    sp.hidden = 256;
    sp.intermediate = 512;
    sp.n_layers = 3;
    sp.n_heads = 4;
    sp.n_kv_heads = 4;
    sp.vocab = VOCAB;
    sp.max_pos = 1024;
    sp.n_outliers = 4;
    sp.outlier_scale = 40.0;
    sp.seed = 7;
    sp.force = true;
    awq_synth_result sr;
    CHECK_OK(ctx, awq_synth_write(ctx, model, &sp, &sr));
    CHECK_EQ_INT(sr.n_outliers, 4);

    FILE *f = fopen(ids_path, "w");
    for (int i = 0; i < 16 * 128; i++) fprintf(f, "%u%c", next_u32() % VOCAB, i % 32 == 31 ? '\n' : ' ');
    fclose(f);

    awq_quantize_report rr, ra;
    CHECK_OK(ctx, quantize(ctx, model, rtn, AWQ_METHOD_RTN, ids_path, &rr));
    CHECK_OK(ctx, quantize(ctx, model, awq, AWQ_METHOD_AWQ, ids_path, &ra));
    CHECK_EQ_INT(ra.n_layers, 3);
    for (int64_t i = 0; i < ra.n_layers; i++) {
        printf("layer %lld: output MSE rtn %.4g awq %.4g\n", (long long)i,
               ra.layers[i].mse_rtn, ra.layers[i].mse_quant);
        CHECK_MSG(ra.layers[i].mse_quant < 0.8 * ra.layers[i].mse_rtn,
                  "layer %lld: AWQ %g vs RTN %g", (long long)i, ra.layers[i].mse_quant,
                  ra.layers[i].mse_rtn);
    }
    /* No GQA: the v_proj -> o_proj group is searched in every layer. */
    int vo = 0;
    for (int64_t i = 0; i < ra.n_groups; i++) vo += ra.groups[i].group == 1 && ra.groups[i].searched;
    CHECK_EQ_INT(vo, 3);

    int32_t ids[EVAL_B * EVAL_T];
    for (int i = 0; i < EVAL_B * EVAL_T; i++) ids[i] = (int32_t)(next_u32() % VOCAB);
    float *lf = logits(ctx, model, ids), *lr = logits(ctx, rtn, ids), *la = logits(ctx, awq, ids);
    CHECK(lf && lr && la);
    if (lf && lr && la) {
        size_t n = (size_t)EVAL_B * EVAL_T * VOCAB;
        double er = mse(lf, lr, n), ea = mse(lf, la, n);
        printf("held-out logits MSE vs FP16: rtn %.4g awq %.4g\n", er, ea);
        CHECK_MSG(ea < 0.8 * er, "logits: AWQ %g vs RTN %g", ea, er);
    }
    free(lf);
    free(lr);
    free(la);

    /* BF16 source (Qwen2: q/k/v biases): computed in fp32, never through FP16
     * activations; norms and biases stay BF16, scales are FP16, and the
     * search still wins. */
    char mb[1100], ob[1100];
    snprintf(mb, sizeof mb, "%s/model-bf16", tmp);
    snprintf(ob, sizeof ob, "%s/awq-bf16", tmp);
    sp.arch = "qwen2";
    sp.dtype = AWQ_DT_BF16;
    sp.n_layers = 2;
    CHECK_OK(ctx, awq_synth_write(ctx, mb, &sp, &sr));
    awq_quantize_report rb;
    CHECK_OK(ctx, quantize(ctx, mb, ob, AWQ_METHOD_AWQ, ids_path, &rb));
    for (int64_t i = 0; i < rb.n_layers; i++)
        CHECK_MSG(rb.layers[i].mse_quant < rb.layers[i].mse_rtn, "bf16 layer %lld: %g vs %g",
                  (long long)i, rb.layers[i].mse_quant, rb.layers[i].mse_rtn);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, ob, &ck));
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, "model.layers.0.input_layernorm.weight");
        CHECK(t && t->dtype == AWQ_DT_BF16);
        t = awq_checkpoint_find(ck, "model.layers.0.self_attn.q_proj.bias");
        CHECK(t && t->dtype == AWQ_DT_BF16);
        t = awq_checkpoint_find(ck, "model.layers.0.self_attn.q_proj.scales");
        CHECK(t && t->dtype == AWQ_DT_F16);
        t = awq_checkpoint_find(ck, "model.embed_tokens.weight");
        CHECK(t && t->dtype == AWQ_DT_BF16);
    }
    awq_checkpoint_free(ck);
    awq_quantize_report_free(&rb);

    /* A linear that cannot be packed (down_proj: K = 320 is not a multiple
     * of the group size 128) stays in the source dtype, holding the folded
     * AWQ scales, is listed in modules_to_not_convert, and the checkpoint
     * still runs and counts the same. */
    char mu[1100], ou[1100];
    snprintf(mu, sizeof mu, "%s/model-unpackable", tmp);
    snprintf(ou, sizeof ou, "%s/awq-unpackable", tmp);
    sp.arch = "llama";
    sp.dtype = AWQ_DT_F16;
    sp.intermediate = 320;
    sp.n_layers = 2;
    CHECK_OK(ctx, awq_synth_write(ctx, mu, &sp, &sr));
    awq_quantize_report ru;
    CHECK_OK(ctx, quantize(ctx, mu, ou, AWQ_METHOD_AWQ, ids_path, &ru));
    CHECK_EQ_INT(ru.n_kept, 2);
    CHECK_EQ_INT(ru.n_packed, 2 * 6);
    CHECK(ru.logical_in == ru.logical_out);
    for (int64_t i = 0; i < ru.n_layers; i++)
        CHECK_MSG(ru.layers[i].mse_quant < ru.layers[i].mse_rtn, "unpackable layer %lld", (long long)i);
    ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, ou, &ck));
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, "model.layers.1.mlp.down_proj.weight");
        CHECK(t && t->dtype == AWQ_DT_F16 && t->shape[0] == 256 && t->shape[1] == 320);
        CHECK(awq_checkpoint_find(ck, "model.layers.1.mlp.down_proj.qweight") == NULL);
        CHECK(awq_checkpoint_find(ck, "model.layers.1.mlp.up_proj.qweight") != NULL);
        char *cfgs = NULL;
        size_t n = 0;
        char path[1200];
        snprintf(path, sizeof path, "%s/config.json", ou);
        CHECK_OK(ctx, awq_read_file(ctx, path, 1 << 20, &cfgs, &n));
        CHECK(cfgs && strstr(cfgs, "\"model.layers.1.mlp.down_proj\""));
        free(cfgs);
    }
    awq_checkpoint_free(ck);
    float *lu = logits(ctx, ou, ids);
    CHECK(lu != NULL);
    free(lu);
    awq_quantize_report_free(&ru);
    awq_quantize_report_free(&rr);
    awq_quantize_report_free(&ra);
    awq_ctx_free(ctx);
    free(tmp);
    return awq_test_summary();
}
