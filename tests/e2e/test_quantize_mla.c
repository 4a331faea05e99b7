/* tests/e2e/test_quantize_mla.c — AWQ end to end on DeepSeek-V3 / V2
 * (multi-head latent attention) with every layer dense
 * (first_k_dense_replace = num_hidden_layers), on synthetic models with
 * outlier channels (awqkit synth):
 *   the plan names the skipped v -> o group; quantize (RTN and AWQ) ->
 *   verify --against the source OK, logical count preserved; the MLA
 *   groups searched (input_layernorm -> q_a / q + kv_a, q_a_layernorm ->
 *   q_b, kv_a_layernorm -> kv_b) with the MLP's; every layer's output MSE
 *   and the held-out logits MSE vs the FP16 model lower with AWQ than with
 *   RTN; the low-rank norms written folded. A model with expert layers
 *   goes through the MoE path (moe_quantized below). */
#include "awq_test.h"
#include "e2e_quant.h"
#include "core/core.h"

#include "awqkit/checkpoint.h"
#include "awqkit/quant.h"
#include "awqkit/quantize.h"
#include "awqkit/runtime.h"
#include "awqkit/synth.h"

#include <math.h>

#define VOCAB 512
#define EVAL_T 64
#define EVAL_B 2

static uint64_t rng = 0x243f6a8885a308d3ull; /* awq_test_rand_u32_b11 (awq_test.h) */

static awq_status quantize(awq_ctx *ctx, const char *model, const char *out, awq_method m,
                           const char *ids, awq_quantize_report *rep, const char **skipped) {
    awq_quantize_params p = e2e_quantize_params(m, ids);
    awq_quantize_job *job = NULL;
    awq_status s = awq_quantize_prepare(ctx, model, out, &p, &job);
    if (s == AWQ_OK && skipped) *skipped = awq_quantize_job_plan(job)->skipped_groups;
    if (s == AWQ_OK) s = awq_quantize_run(job, rep);
    awq_quantize_job_free(job);
    return s;
}

typedef struct {
    const char *arch;
    int64_t q_lora;            /* 0: a plain q_proj */
    int n_groups;              /* searched per layer */
    const char *packed[6];     /* linears packed in layer 0 */
} family;

static void synth(awq_ctx *ctx, const char *dir, const family *f, int64_t first_dense) {
    awq_synth_params sp = awq_synth_default_params();
    sp.arch = f->arch;
    sp.hidden = 256;
    sp.intermediate = 512;
    sp.n_layers = 2;
    sp.n_heads = 4;
    sp.n_kv_heads = 4;
    sp.head_dim = 64;
    sp.vocab = VOCAB;
    sp.max_pos = 1024;
    sp.q_lora_rank = f->q_lora;
    sp.kv_lora_rank = 128;
    sp.first_k_dense = first_dense;
    sp.n_experts = 4;
    sp.n_experts_per_tok = 2;
    sp.n_shared_experts = 1;
    sp.n_outliers = 4;
    sp.outlier_scale = 40.0;
    sp.seed = 21;
    sp.force = true;
    awq_synth_result sr;
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &sp, &sr));
}

/* Held-out logits of the FP16 model, its RTN and its AWQ output on fresh
 * random ids: AWQ's MSE vs FP16 must be below `factor` x RTN's. */
static void held_out(awq_ctx *ctx, const char *label, const char *model, const char *rtn,
                     const char *awq, double factor) {
    int32_t ids[EVAL_B * EVAL_T];
    for (int i = 0; i < EVAL_B * EVAL_T; i++)
        ids[i] = (int32_t)(awq_test_rand_u32_b11(&rng) % VOCAB);
    float *lf = e2e_logits(ctx, model, ids, EVAL_B, EVAL_T, VOCAB);
    float *lr = e2e_logits(ctx, rtn, ids, EVAL_B, EVAL_T, VOCAB);
    float *la = e2e_logits(ctx, awq, ids, EVAL_B, EVAL_T, VOCAB);
    CHECK(lf && lr && la);
    if (lf && lr && la) {
        size_t n = (size_t)EVAL_B * EVAL_T * VOCAB;
        double er = e2e_mse(lf, lr, n), ea = e2e_mse(lf, la, n);
        printf("%s: held-out logits MSE vs FP16: rtn %.4g awq %.4g\n", label, er, ea);
        CHECK_MSG(ea < factor * er, "%s logits: AWQ %g vs RTN %g", label, ea, er);
    }
    free(lf);
    free(lr);
    free(la);
}

static void run_family(awq_ctx *ctx, const char *tmp, const char *ids_path, const family *f) {
    char model[1024], rtn[1100], awq[1100];
    snprintf(model, sizeof model, "%s/%s-%lld", tmp, f->arch, (long long)f->q_lora);
    snprintf(rtn, sizeof rtn, "%s-rtn", model);
    snprintf(awq, sizeof awq, "%s-awq", model);
    synth(ctx, model, f, 2);

    awq_quantize_report rr, ra;
    memset(&rr, 0, sizeof rr);
    memset(&ra, 0, sizeof ra);
    const char *skipped = NULL;
    CHECK_OK(ctx, quantize(ctx, model, rtn, AWQ_METHOD_RTN, ids_path, &rr, NULL));
    CHECK_OK(ctx, quantize(ctx, model, awq, AWQ_METHOD_AWQ, ids_path, &ra, &skipped));
    CHECK_MSG(skipped && strstr(skipped, "v -> o_proj") && strstr(skipped, "kv_b_proj"),
              "%s: the plan does not name the skipped v -> o group", f->arch);
    CHECK_EQ_INT(ra.n_layers, 2);
    CHECK_EQ_INT(ra.n_kept, 0);
    CHECK_MSG(ra.logical_in == ra.logical_out, "%s: logical count %llu -> %llu", f->arch,
              (unsigned long long)ra.logical_in, (unsigned long long)ra.logical_out);
    for (int64_t i = 0; i < ra.n_layers; i++) {
        printf("%s q_lora %lld layer %lld: output MSE rtn %.4g awq %.4g\n", f->arch,
               (long long)f->q_lora, (long long)i, ra.layers[i].mse_rtn, ra.layers[i].mse_quant);
        CHECK_MSG(ra.layers[i].mse_quant < 0.8 * ra.layers[i].mse_rtn,
                  "%s layer %lld: AWQ %g vs RTN %g", f->arch, (long long)i,
                  ra.layers[i].mse_quant, ra.layers[i].mse_rtn);
    }
    int searched = 0, kvb = 0, qb = 0;
    for (int64_t i = 0; i < ra.n_groups; i++) {
        searched += ra.groups[i].searched;
        kvb += ra.groups[i].searched && strstr(ra.groups[i].name, "kv_a_layernorm->kv_b_proj");
        qb += ra.groups[i].searched && strstr(ra.groups[i].name, "q_a_layernorm->q_b_proj");
    }
    CHECK_EQ_INT(searched, 2 * f->n_groups);
    CHECK_EQ_INT(kvb, 2);
    CHECK_EQ_INT(qb, f->q_lora ? 2 : 0);

    awq_verify_params vp = awq_verify_default_params();
    vp.against = model;
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, awq, &vp, &vr));
    CHECK_MSG(vr.ok && vr.params_equal, "%s: verify --against: ok %d, params equal %d, worst "
              "%g (bound %g)", f->arch, vr.ok, vr.params_equal, vr.max_rel_err_scaled, vr.bound);
    awq_verify_result_free(&vr);

    /* packed under the names on disk; the low-rank norms folded, not equal
     * to the source's (the searched scales are never all 1) */
    awq_checkpoint *ck = NULL, *src = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, awq, &ck));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, model, &src));
    if (ck && src) {
        char name[256];
        for (int i = 0; i < 6 && f->packed[i]; i++) {
            snprintf(name, sizeof name, "model.layers.0.%s.qweight", f->packed[i]);
            CHECK_MSG(awq_checkpoint_find(ck, name) != NULL, "%s: %s missing", f->arch, name);
        }
        const char *nm = "model.layers.1.self_attn.kv_a_layernorm.weight";
        const awq_tensor_info *a = awq_checkpoint_find(ck, nm), *b = awq_checkpoint_find(src, nm);
        CHECK(a && b && a->n_bytes == b->n_bytes);
        if (a && b && a->n_bytes == b->n_bytes)
            CHECK_MSG(memcmp(a->data, b->data, (size_t)a->n_bytes) != 0,
                      "%s: kv_a_layernorm written unscaled", f->arch);
    }
    awq_checkpoint_free(ck);
    awq_checkpoint_free(src);

    char label[96];
    snprintf(label, sizeof label, "%s q_lora %lld", f->arch, (long long)f->q_lora);
    held_out(ctx, label, model, rtn, awq, 0.8);
    awq_quantize_report_free(&rr);
    awq_quantize_report_free(&ra);
}

/* Expert layers (layer 0 dense, layer 1 MoE: DeepSeek-V3's sigmoid,
 * group-limited routing with the correction bias and a shared expert) go
 * through the generic MoE path (lib/quant/moe_awq.c), routed exactly as the
 * forward routes them: verify --against OK, logical count kept, experts
 * packed per expert under their names on disk, the router and its
 * correction bias kept in the source dtype, held-out logits closer to FP16
 * with AWQ than with RTN. */
static void moe_quantized(awq_ctx *ctx, const char *tmp, const char *ids_path) {
    char model[1024], rtn[1100], awq[1100];
    snprintf(model, sizeof model, "%s/deepseek-v3-moe", tmp);
    snprintf(rtn, sizeof rtn, "%s-rtn", model);
    snprintf(awq, sizeof awq, "%s-awq", model);
    static const family f = {"deepseek-v3", 128, 5, {NULL}};
    synth(ctx, model, &f, 1);
    awq_quantize_report rr, ra;
    memset(&rr, 0, sizeof rr);
    memset(&ra, 0, sizeof ra);
    CHECK_OK(ctx, quantize(ctx, model, rtn, AWQ_METHOD_RTN, ids_path, &rr, NULL));
    CHECK_OK(ctx, quantize(ctx, model, awq, AWQ_METHOD_AWQ, ids_path, &ra, NULL));
    CHECK_MSG(ra.logical_in == ra.logical_out, "deepseek-v3 moe: logical count %llu -> %llu",
              (unsigned long long)ra.logical_in, (unsigned long long)ra.logical_out);
    CHECK_EQ_INT(ra.n_experts, 4);

    awq_verify_params vp = awq_verify_default_params();
    vp.against = model;
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, awq, &vp, &vr));
    CHECK_MSG(vr.ok && vr.params_equal, "deepseek-v3 moe: verify --against: ok %d, params "
              "equal %d", vr.ok, vr.params_equal);
    awq_verify_result_free(&vr);

    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, awq, &ck));
    if (ck) {
        static const char *const present[] = {
            "model.layers.1.mlp.experts.0.gate_proj.qweight",
            "model.layers.1.mlp.experts.3.down_proj.qweight",
            "model.layers.1.mlp.shared_experts.up_proj.qweight",
            "model.layers.1.mlp.gate.weight",
            "model.layers.1.mlp.gate.e_score_correction_bias",
            "model.layers.0.mlp.down_proj.qweight"};
        for (size_t i = 0; i < AWQ_ARRAY_LEN(present); i++)
            CHECK_MSG(awq_checkpoint_find(ck, present[i]) != NULL, "deepseek-v3 moe: %s missing",
                      present[i]);
        CHECK(awq_checkpoint_find(ck, "model.layers.1.mlp.gate.qweight") == NULL);
    }
    awq_checkpoint_free(ck);

    held_out(ctx, "deepseek-v3 moe", model, rtn, awq, 1.0);
    awq_quantize_report_free(&rr);
    awq_quantize_report_free(&ra);
}

int main(void) {
    char *tmp = awq_test_tmpdir("e2e_quantize_mla");
    char ids_path[1024];
    snprintf(ids_path, sizeof ids_path, "%s/calib-ids.txt", tmp);
    awq_ctx *ctx = awq_test_ctx(2);
    FILE *f = fopen(ids_path, "w");
    for (int i = 0; i < 16 * 128; i++)
        fprintf(f, "%u%c", awq_test_rand_u32_b11(&rng) % VOCAB, i % 32 == 31 ? '\n' : ' ');
    fclose(f);
    static const family fams[] = {
        {"deepseek-v3", 128, 5, {"self_attn.q_a_proj", "self_attn.q_b_proj",
                                 "self_attn.kv_a_proj_with_mqa", "self_attn.kv_b_proj",
                                 "self_attn.o_proj", "mlp.down_proj"}},
        {"deepseek-v2", 0, 4, {"self_attn.q_proj", "self_attn.kv_a_proj_with_mqa",
                               "self_attn.kv_b_proj", "self_attn.o_proj", "mlp.gate_proj",
                               NULL}},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(fams); i++) run_family(ctx, tmp, ids_path, &fams[i]);
    moe_quantized(ctx, tmp, ids_path);
    awq_ctx_free(ctx);
    free(tmp);
    return awq_test_summary();
}
