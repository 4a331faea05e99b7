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
#include "e2e/e2e_quant.h"

#include "awqkit/quantize.h"
#include "awqkit/runtime.h"
#include "awqkit/synth.h"

#define VOCAB 512
#define EVAL_T 64
#define EVAL_B 4

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

    CHECK(e2e_write_calib_ids(ids_path, 16 * 128, VOCAB));

    awq_quantize_report rr, ra;
    CHECK_OK(ctx, e2e_quantize(ctx, model, rtn, AWQ_METHOD_RTN, ids_path, &rr));
    CHECK_OK(ctx, e2e_quantize(ctx, model, awq, AWQ_METHOD_AWQ, ids_path, &ra));
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
    for (int i = 0; i < EVAL_B * EVAL_T; i++) ids[i] = (int32_t)(e2e_rand_u32() % VOCAB);
    float *lf = e2e_logits(ctx, model, ids, EVAL_B, EVAL_T, VOCAB);
    float *lr = e2e_logits(ctx, rtn, ids, EVAL_B, EVAL_T, VOCAB);
    float *la = e2e_logits(ctx, awq, ids, EVAL_B, EVAL_T, VOCAB);
    CHECK(lf && lr && la);
    if (lf && lr && la) {
        size_t n = (size_t)EVAL_B * EVAL_T * VOCAB;
        double er = e2e_mse(lf, lr, n), ea = e2e_mse(lf, la, n);
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
    CHECK_OK(ctx, e2e_quantize(ctx, mb, ob, AWQ_METHOD_AWQ, ids_path, &rb));
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
    CHECK_OK(ctx, e2e_quantize(ctx, mu, ou, AWQ_METHOD_AWQ, ids_path, &ru));
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
    float *lu = e2e_logits(ctx, ou, ids, EVAL_B, EVAL_T, VOCAB);
    CHECK(lu != NULL);
    free(lu);
    awq_quantize_report_free(&ru);
    awq_quantize_report_free(&rr);
    awq_quantize_report_free(&ra);
    awq_ctx_free(ctx);
    free(tmp);
    return awq_test_summary();
}
