/* tests/unit/test_audit_run.c — awq_audit_run on the bundled tiny model with
 * a small grid (fp16, rtn-4-g128, a not-applicable group size) and short
 * windows: perplexity equals awq_model_perplexity's on the same checkpoint
 * bit for bit, FP16's KL is 0 and its top-1 agreement 1, the KL pass gives
 * the same numbers with and without the FP16 hidden-state cache and for any
 * window batch, per-linear errors are those of 4-bit RTN, sizes equal
 * awq_count's, and the checks before any work (bad names, duplicates, a
 * --compare checkpoint of another model, a non-empty report directory). */
#include "awq_test.h"

#include "core/core.h" /* awq_free */

#include <cjson/cJSON.h>

#define MODEL AWQ_TEST_DATA "/tiny-llama"
#define TEXT AWQ_TEST_DATA "/text/wiki.test.raw"
#define CALIB AWQ_TEST_DATA "/text/calib-wikitext2-valid.jsonl.zst"

static awq_audit_params small_params(void) {
    awq_audit_params p = awq_audit_default_params();
    p.configs = "fp16,rtn-4-g128,rtn-4-g96";
    p.text = TEXT;
    p.eval.seqlen = 64;
    p.eval.max_windows = 6;
    p.quantize.calib.path = CALIB;
    p.quantize.calib.n_samples = 4;
    p.quantize.calib.seqlen = 64;
    p.n_contexts = 1;
    p.contexts[0] = 4096;
    return p;
}

static double ppl_of(awq_ctx *ctx, const char *dir, const awq_ppl_params *pp) {
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    awq_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    double ppl = NAN;
    awq_runtime_params rp = awq_runtime_default_params();
    if (awq_checkpoint_open(ctx, dir, &ck) == AWQ_OK && awq_model_open(ctx, ck, &rp, &m) == AWQ_OK &&
        awq_tokenizer_load(ctx, MODEL, &tok) == AWQ_OK &&
        awq_tokenizer_encode_file(tok, TEXT, false, &ids, &n) == AWQ_OK) {
        awq_ppl_result res;
        if (awq_model_perplexity(m, ids, (int64_t)n, pp, &res, NULL) == AWQ_OK) ppl = res.ppl;
    }
    awq_free(ids);
    awq_tokenizer_free(tok);
    awq_model_free(m);
    awq_checkpoint_free(ck);
    return ppl;
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    char *dir = awq_test_tmpdir("test_audit_run");
    char out[4096];
    snprintf(out, sizeof out, "%s/r1", dir);

    awq_audit_params p = small_params();
    awq_audit_result r;
    CHECK_OK(ctx, awq_audit_run(ctx, MODEL, out, &p, &r));
    CHECK_EQ_INT(r.n_configs, 3);
    CHECK_EQ_INT(r.n_windows, 6);
    CHECK_EQ_INT(r.n_predicted, 6 * 63);
    CHECK_EQ_INT(r.n_layers, 6);
    CHECK_EQ_INT(r.n_linears, 7);
    CHECK(!strcmp(r.linear_names[6], "down_proj"));
    const awq_audit_config *fp = &r.configs[0], *rtn = &r.configs[1], *na = &r.configs[2];
    CHECK(fp->state == AWQ_AUDIT_MEASURED && rtn->state == AWQ_AUDIT_MEASURED);
    CHECK(na->state == AWQ_AUDIT_NOT_APPLICABLE);
    CHECK_MSG(strstr(na->why, "96") != NULL, "%s", na->why);
    /* FP16 against itself */
    CHECK(fp->kl_mean == 0.0 && fp->kl_max == 0.0 && fp->top1 == 1.0);
    /* the quantized model differs a little */
    CHECK_MSG(rtn->kl_mean > 1e-4 && rtn->kl_mean < 0.05, "kl %g", rtn->kl_mean);
    CHECK_MSG(rtn->top1 > 0.85 && rtn->top1 < 1.0, "top1 %g", rtn->top1);
    CHECK(rtn->kl_max >= rtn->kl_mean);
    /* perplexity: exactly awq_model_perplexity on the same checkpoints */
    awq_ppl_params pp = awq_ppl_default_params();
    pp.seqlen = 64;
    pp.max_windows = 6;
    double want_fp = ppl_of(ctx, MODEL, &pp);
    char ckdir[8600];
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints/rtn-4-g128", out);
    double want_rtn = ppl_of(ctx, ckdir, &pp);
    CHECK_MSG(fp->ppl == want_fp, "fp16 %.17g vs %.17g", fp->ppl, want_fp);
    CHECK_MSG(rtn->ppl == want_rtn, "rtn %.17g vs %.17g", rtn->ppl, want_rtn);
    CHECK(rtn->ppl > fp->ppl * 0.98 && rtn->ppl < fp->ppl * 1.2);
    /* sizes: awq_count of the checkpoints */
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, ckdir, &ck));
    awq_count_result cnt;
    CHECK_OK(ctx, awq_count(ctx, ck, &cnt));
    CHECK(rtn->file_bytes == cnt.file_bytes && rtn->logical_params == cnt.logical);
    CHECK_NEAR(rtn->bits_per_weight, cnt.quant_bits_per_weight, 1e-12);
    CHECK_NEAR(rtn->bits_per_weight, 4.15625, 1e-9);
    CHECK(rtn->logical_params == fp->logical_params);
    CHECK_NEAR(fp->bits_per_weight, 16.0, 1e-12);
    awq_checkpoint_free(ck);
    /* weight errors of 4-bit RTN: about 0.1, layer = all its linears */
    CHECK(rtn->lin_err && rtn->lin_err_raw && rtn->layer_werr && rtn->layer_mse);
    for (int64_t k = 0; rtn->lin_err && k < r.n_layers * r.n_linears; k++) {
        CHECK_MSG(rtn->lin_err[k] > 0.07 && rtn->lin_err[k] < 0.13, "linear %lld: %g",
                  (long long)k, rtn->lin_err[k]);
        /* nothing folded: the best rescaling is within ~2% of the plain error */
        CHECK(rtn->lin_err[k] <= rtn->lin_err_raw[k] &&
              rtn->lin_err[k] > 0.97 * rtn->lin_err_raw[k]);
    }
    for (int64_t l = 0; rtn->layer_mse && l < r.n_layers; l++) {
        CHECK(rtn->layer_mse[l] > 0);
        CHECK(rtn->layer_mse[l] == rtn->layer_mse_rtn[l]); /* RTN: the same weights */
    }
    CHECK(fp->lin_err == NULL && fp->layer_mse == NULL);
    /* serving memory: the size calculator's figure for the config */
    CHECK(rtn->serving_bytes[0] > rtn->tensor_bytes && fp->serving_bytes[0] > rtn->serving_bytes[0]);
    CHECK_EQ_INT(rtn->predicted_weight_bytes, rtn->tensor_bytes);
    CHECK(!strcmp(r.heatmap, "rtn-4-g128")); /* awq-4-g128 absent: first quantized one */
    CHECK_OK(ctx, awq_audit_write(ctx, &r, out));

    /* no FP16 cache: the same numbers */
    awq_audit_params p2 = small_params();
    p2.configs = "rtn-4-g128";
    p2.fp_cache_bytes = 0;
    p2.keep_checkpoints = false;
    char out2[4300];
    snprintf(out2, sizeof out2, "%s/r2", dir);
    awq_audit_result r2;
    CHECK_OK(ctx, awq_audit_run(ctx, MODEL, out2, &p2, &r2));
    CHECK_EQ_INT(r2.n_configs, 1);
    CHECK_MSG(r2.configs[0].ppl == rtn->ppl, "%.17g vs %.17g", r2.configs[0].ppl, rtn->ppl);
    CHECK_MSG(r2.configs[0].kl_mean == rtn->kl_mean, "%.17g vs %.17g", r2.configs[0].kl_mean, rtn->kl_mean);
    CHECK(r2.configs[0].top1 == rtn->top1);
    CHECK(!r2.configs[0].kept);
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", out2);
    CHECK_MSG(!awq_test_path_exists(ckdir), "--no-keep left %s", ckdir);
    awq_audit_result_free(&r2);

    /* the kept checkpoint as --compare: the same figures under its own name.
     * Another window batch changes the forward's rounding (OpenBLAS blocks
     * by the row count; `awqkit ppl --batch` shows the same), not more. */
    awq_audit_params p3 = small_params();
    p3.configs = "fp16";
    p3.eval.batch = 4;
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints/rtn-4-g128", out);
    const char *cmp[1] = {ckdir};
    p3.compare = cmp;
    p3.n_compare = 1;
    snprintf(out2, sizeof out2, "%s/r3", dir);
    CHECK_OK(ctx, awq_audit_run(ctx, MODEL, out2, &p3, &r2));
    CHECK_EQ_INT(r2.n_configs, 2);
    CHECK(!strcmp(r2.configs[1].spec.name, "cmp-rtn-4-g128"));
    CHECK(r2.configs[1].spec.kind == AWQ_AUDIT_COMPARE && r2.configs[1].spec.bits == 4 &&
          r2.configs[1].spec.group_size == 128);
    CHECK_NEAR(r2.configs[1].ppl, rtn->ppl, 1e-6 * rtn->ppl);
    CHECK_NEAR(r2.configs[1].kl_mean, rtn->kl_mean, 1e-5 * rtn->kl_mean);
    CHECK_NEAR(r2.configs[1].top1, rtn->top1, 2.0 / (double)r.n_predicted);
    CHECK(r2.configs[1].lin_err && r2.configs[1].lin_err[3] == rtn->lin_err[3]);
    CHECK(r2.configs[1].layer_mse == NULL);
    awq_audit_result_free(&r2);

    /* checks before any work */
    awq_audit_params bad = small_params();
    snprintf(out2, sizeof out2, "%s/r4", dir);
    bad.configs = "fp16,awq-5-g128";
    CHECK_FAILS(ctx, awq_audit_run(ctx, MODEL, out2, &bad, &r2), AWQ_ERR_INVALID_ARG, "bits");
    awq_audit_result_free(&r2);
    bad.configs = "rtn-4-g128,rtn-4bit-g128";
    CHECK_FAILS(ctx, awq_audit_run(ctx, MODEL, out2, &bad, &r2), AWQ_ERR_INVALID_ARG, "twice");
    awq_audit_result_free(&r2);
    bad.configs = "fp16";
    bad.heatmap_config = "awq-4-g64";
    CHECK_FAILS(ctx, awq_audit_run(ctx, MODEL, out2, &bad, &r2), AWQ_ERR_INVALID_ARG,
                "not in the grid");
    awq_audit_result_free(&r2);
    bad = small_params();
    CHECK_FAILS(ctx, awq_audit_run(ctx, MODEL, out, &bad, &r2), AWQ_ERR_EXISTS, "not empty");
    awq_audit_result_free(&r2);
    bad.text = AWQ_TEST_DATA "/text/nothing.raw";
    CHECK_FAILS(ctx, awq_audit_run(ctx, MODEL, out2, &bad, &r2), AWQ_ERR_NOT_FOUND, "nothing.raw");
    awq_audit_result_free(&r2);
    /* a checkpoint of another model */
    char other[4200];
    snprintf(other, sizeof other, "%s/other", dir);
    awq_synth_params sp = awq_synth_default_params(); /* preset tiny: the model's dims */
    sp.vocab = 1000;
    awq_status ss = awq_synth_write(ctx, other, &sp, NULL);
    CHECK_OK(ctx, ss);
    if (ss == AWQ_OK) {
        bad = small_params();
        const char *o1[1] = {other};
        bad.compare = o1;
        bad.n_compare = 1;
        CHECK_FAILS(ctx, awq_audit_run(ctx, MODEL, out2, &bad, &r2), AWQ_ERR_MISMATCH,
                    "vocab_size 1000 differs from the model's 4096");
        awq_audit_result_free(&r2);
        CHECK_MSG(!awq_test_path_exists(out2), "a refused run created %s", out2);
    }
    awq_audit_result_free(&r);
    free(dir);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
