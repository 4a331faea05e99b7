/* tests/e2e/e2e_quant.c — see e2e_quant.h. */
#include "e2e/e2e_quant.h"
#include "awq_test.h"

#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;

uint32_t e2e_rand_u32(void) { return awq_test_rand_u32_b11(&rng); }

bool e2e_write_calib_ids(const char *path, int n, uint32_t vocab) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    for (int i = 0; i < n; i++) fprintf(f, "%u%c", e2e_rand_u32() % vocab, i % 32 == 31 ? '\n' : ' ');
    return fclose(f) == 0;
}

awq_quantize_params e2e_quantize_params(awq_method m, const char *calib_ids) {
    awq_quantize_params p = awq_quantize_default_params();
    p.method = m;
    p.calib_tokens = calib_ids;
    p.calib.seqlen = 128;
    p.force = true;
    return p;
}

awq_status e2e_quantize_with(awq_ctx *ctx, const char *model, const char *out,
                             const awq_quantize_params *p, awq_quantize_report *rep) {
    awq_quantize_job *job = NULL;
    awq_status s = awq_quantize_prepare(ctx, model, out, p, &job);
    if (s == AWQ_OK) s = awq_quantize_run(job, rep);
    awq_quantize_job_free(job);
    return s;
}

awq_status e2e_quantize(awq_ctx *ctx, const char *model, const char *out, awq_method m,
                        const char *calib_ids, awq_quantize_report *rep) {
    awq_quantize_params p = e2e_quantize_params(m, calib_ids);
    return e2e_quantize_with(ctx, model, out, &p, rep);
}

float *e2e_logits(awq_ctx *ctx, const char *dir, const int32_t *ids, int64_t B, int64_t T,
                  int64_t vocab) {
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    awq_runtime_params rp = awq_runtime_default_params();
    float *out = malloc(sizeof(float) * (size_t)(B * T * vocab));
    if (!out || awq_checkpoint_open(ctx, dir, &ck) != AWQ_OK ||
        awq_model_open(ctx, ck, &rp, &m) != AWQ_OK ||
        awq_model_forward_logits(m, ids, B, T, out) != AWQ_OK) {
        fprintf(stderr, "logits of %s: %s\n", dir, awq_ctx_errmsg(ctx));
        free(out);
        out = NULL;
    }
    awq_model_free(m);
    awq_checkpoint_free(ck);
    return out;
}

double e2e_mse(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}
