/* tests/e2e/test_quantize_moe.c — AWQ end to end on mixture-of-experts
 * models: Mixtral (w1/w3/w2 experts), Qwen2-MoE (experts + a shared expert
 * with its sigmoid gate), Qwen3-MoE (q/k norms, norm_topk_prob).
 *
 * Per family, on a synthetic model with outlier channels (awqkit synth):
 *   quantize (RTN and AWQ) -> verify --against the source OK, logical
 *   count preserved; every layer's output MSE and the held-out logits MSE
 *   vs the FP16 model lower with AWQ than with RTN; the MoE groups searched
 *   (norm -> every expert's gate/up, experts' up -> down); per-expert
 *   tensors packed under their on-disk names (experts.N.*); the router and
 *   the shared expert gate kept in the source dtype and listed in
 *   modules_to_not_convert; tokens per expert reported, summing to rows x
 *   top-k.
 * Starved experts: 32 experts, top-1, 128 calibration tokens: the experts
 * under the threshold are reported and get no up -> down scales (the
 * layer's search.json), the others do.
 * Refusals: an expert count disagreeing with the router, a missing expert:
 * clear errors, nothing written. */
#include "awq_test.h"
#include "e2e_quant.h"
#include "api/api_json.h"
#include "core/core.h"

#include "awqkit/checkpoint.h"
#include "awqkit/quant.h"
#include "awqkit/quantize.h"
#include "awqkit/runtime.h"
#include "awqkit/synth.h"

#include <cjson/cJSON.h>

#define VOCAB 512
#define EVAL_T 64
#define EVAL_B 2
#define MIN_TOKENS 16 /* lib/quant/moe_awq.h AWQ_MOE_MIN_SEARCH_TOKENS */

static uint64_t rng = 0x2545f4914f6cdd1dull; /* awq_test_rand_u32_b11 (awq_test.h) */

static awq_status quantize(awq_ctx *ctx, const char *model, const char *out, awq_method m,
                           const char *ids, int seqlen, bool keep_partial,
                           awq_quantize_report *rep) {
    awq_quantize_params p = e2e_quantize_params(m, ids);
    p.quant.group_size = 64;
    p.calib.seqlen = seqlen;
    p.keep_partial = keep_partial;
    return e2e_quantize_with(ctx, model, out, &p, rep);
}

typedef struct {
    const char *arch;
    const char *experts;       /* expert prefix in a layer */
    const char *linears[3];    /* gate, up, down */
    const char *router;
    const char *shared_gate;   /* NULL: none */
    const char *shared;        /* shared expert prefix or NULL */
} family;

static void write_model(awq_ctx *ctx, const char *dir, const char *arch, int64_t experts,
                        int64_t top_k) {
    awq_synth_params sp = awq_synth_default_params();
    sp.arch = arch;
    sp.hidden = 128;
    sp.intermediate = 256;
    sp.n_layers = 2;
    sp.n_heads = 4;
    sp.n_kv_heads = 2;
    sp.vocab = VOCAB;
    sp.max_pos = 1024;
    sp.n_experts = experts;
    sp.n_experts_per_tok = top_k;
    sp.moe_intermediate = 128;
    sp.shared_intermediate = 128;
    sp.n_outliers = 4;
    sp.outlier_scale = 40.0;
    sp.seed = 5;
    sp.force = true;
    awq_synth_result sr;
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &sp, &sr));
}

static bool list_has(const cJSON *arr, const char *s) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (cJSON_IsString(e) && !strcmp(e->valuestring, s)) return true;
    return false;
}

/* Whether two files hold the same bytes. */
static bool same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* The race on the MoE groups (the norm -> experts block, each expert's
 * up -> down), in two settings that finish every candidate but at most
 * the worst one, so that the picks, and the bytes, are the unraced
 * search's: no test and 19 finalists of 20 (two stages); and a test that
 * drops nothing (race_z 1000) over four stages, so the segments of every
 * stage are cut and paired. Wrong row ranges of a stage would change the
 * finished losses and so the picks; segments beyond their room fail. */
static void run_screen(awq_ctx *ctx, const char *model, const char *ids) {
    static const struct {
        double screen, z;
        int finalists;
    } v[] = {{0.5, 0, 19}, {0.25, 1000, 0}};
    char a[1100], fa[1200];
    snprintf(a, sizeof a, "%s-screen0", model);
    snprintf(fa, sizeof fa, "%s/model.safetensors", a);
    awq_quantize_params p = e2e_quantize_params(AWQ_METHOD_AWQ, ids);
    p.quant.group_size = 64;
    p.calib.seqlen = 128;
    awq_quantize_report ra;
    memset(&ra, 0, sizeof ra);
    p.screen = 0;
    CHECK_OK(ctx, e2e_quantize_with(ctx, model, a, &p, &ra));
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char b[1100], fb[1200];
        snprintf(b, sizeof b, "%s-screen%zu", model, i + 1);
        snprintf(fb, sizeof fb, "%s/model.safetensors", b);
        awq_quantize_report rb;
        memset(&rb, 0, sizeof rb);
        p.screen = v[i].screen;
        p.race_z = v[i].z;
        p.finalists = v[i].finalists;
        CHECK_OK(ctx, e2e_quantize_with(ctx, model, b, &p, &rb));
        CHECK_MSG(same_file(fa, fb),
                  "%s: raced (screen %g, race_z %g, finalists %d) differs from unraced", model,
                  v[i].screen, v[i].z, v[i].finalists);
        /* the report covers the first stage: fewer sequences than all */
        CHECK_MSG(rb.report_seqs < rb.calib_seqs && ra.report_seqs == ra.calib_seqs,
                  "%s: report over %lld / %lld sequences, unraced %lld / %lld", model,
                  (long long)rb.report_seqs, (long long)rb.calib_seqs,
                  (long long)ra.report_seqs, (long long)ra.calib_seqs);
        CHECK_EQ_INT(ra.n_groups, rb.n_groups);
        for (int64_t g = 0; g < ra.n_groups && g < rb.n_groups; g++)
            CHECK_MSG(!rb.groups[g].searched || (rb.groups[g].loss_rtn > 0 &&
                                                 isfinite(rb.groups[g].loss_best)),
                      "%s group %lld: losses %g / %g", model, (long long)g,
                      rb.groups[g].loss_rtn, rb.groups[g].loss_best);
        awq_quantize_report_free(&rb);
    }
    awq_quantize_report_free(&ra);
}

static void run_family(awq_ctx *ctx, const char *tmp, const char *ids, const family *f) {
    char model[1024], rtn[1100], awq[1100];
    snprintf(model, sizeof model, "%s/%s", tmp, f->arch);
    snprintf(rtn, sizeof rtn, "%s-rtn", model);
    snprintf(awq, sizeof awq, "%s-awq", model);
    write_model(ctx, model, f->arch, 8, 2);

    awq_quantize_report rr, ra;
    memset(&rr, 0, sizeof rr);
    memset(&ra, 0, sizeof ra);
    CHECK_OK(ctx, quantize(ctx, model, rtn, AWQ_METHOD_RTN, ids, 128, false, &rr));
    CHECK_OK(ctx, quantize(ctx, model, awq, AWQ_METHOD_AWQ, ids, 128, false, &ra));
    CHECK_EQ_INT(ra.n_layers, 2);
    if (f->shared) run_screen(ctx, model, ids);
    CHECK_MSG(ra.logical_in == ra.logical_out && ra.logical_in > 0, "%s: logical count %llu -> %llu",
              f->arch, (unsigned long long)ra.logical_in, (unsigned long long)ra.logical_out);
    CHECK_MSG(ra.n_kept == 0, "%s: %lld linears kept", f->arch, (long long)ra.n_kept);
    /* attention q/k/v/o + 8 experts x 3 (+ the shared expert's 3) per layer */
    CHECK_EQ_INT(ra.n_packed, 2 * (4 + 24 + (f->shared ? 3 : 0)));
    for (int64_t i = 0; i < ra.n_layers; i++) {
        printf("%s layer %lld: output MSE rtn %.4g awq %.4g\n", f->arch, (long long)i,
               ra.layers[i].mse_rtn, ra.layers[i].mse_quant);
        CHECK_MSG(ra.layers[i].mse_quant < 0.8 * ra.layers[i].mse_rtn,
                  "%s layer %lld: AWQ %g vs RTN %g", f->arch, (long long)i,
                  ra.layers[i].mse_quant, ra.layers[i].mse_rtn);
    }
    /* the MoE groups fill the MLP groups' report slots (2: norm, 3: up -> down) */
    int ng = (int)(ra.n_groups / ra.n_layers);
    for (int64_t i = 0; i < ra.n_layers; i++) {
        const awq_group_report *gn = &ra.groups[i * ng + 2], *gd = &ra.groups[i * ng + 3];
        CHECK_MSG(gn->searched && strstr(gn->name, "experts gate,up") &&
                      gn->loss_best <= gn->loss_rtn,
                  "%s layer %lld: norm group '%s' searched %d", f->arch, (long long)i, gn->name,
                  gn->searched);
        CHECK_MSG(gd->searched && strstr(gd->name, "experts up->down"),
                  "%s layer %lld: up->down group '%s'", f->arch, (long long)i, gd->name);
    }
    /* tokens per expert: every row routed to top-k experts */
    CHECK(ra.expert_tokens != NULL && ra.n_experts == 8 && ra.moe_min_tokens == MIN_TOKENS);
    for (int64_t i = 0; ra.expert_tokens && i < ra.n_layers; i++) {
        int64_t sum = 0, starved = 0;
        for (int64_t e = 0; e < 8; e++) {
            sum += ra.expert_tokens[i * 8 + e];
            starved += ra.expert_tokens[i * 8 + e] < MIN_TOKENS;
        }
        CHECK_MSG(sum == 16 * 128 * 2, "%s layer %lld: %lld routed tokens", f->arch,
                  (long long)i, (long long)sum);
        CHECK_EQ_INT(starved, 0);
    }
    CHECK_EQ_INT(ra.n_starved, 0);

    awq_verify_params vp = awq_verify_default_params();
    vp.against = model;
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, awq, &vp, &vr));
    CHECK_MSG(vr.ok && vr.params_equal, "%s: verify --against: ok %d, params equal %d, worst "
              "%g (bound %g)", f->arch, vr.ok, vr.params_equal, vr.max_rel_err_scaled, vr.bound);
    awq_verify_result_free(&vr);

    /* names as on disk; router and shared gate dense, listed as unconverted */
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, awq, &ck));
    if (ck) {
        char name[256];
        for (int layer = 0; layer < 2; layer++) {
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "model.layers.%d.%s.7.%s.qweight", layer, f->experts,
                         f->linears[k]);
                CHECK_MSG(awq_checkpoint_find(ck, name) != NULL, "%s missing", name);
            }
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", layer, f->router);
            const awq_tensor_info *t = awq_checkpoint_find(ck, name);
            CHECK_MSG(t && t->dtype == AWQ_DT_F16 && t->shape[0] == 8, "%s not kept in F16", name);
            if (f->shared) {
                snprintf(name, sizeof name, "model.layers.%d.%s.up_proj.qweight", layer, f->shared);
                CHECK_MSG(awq_checkpoint_find(ck, name) != NULL, "%s missing", name);
                snprintf(name, sizeof name, "model.layers.%d.%s.weight", layer, f->shared_gate);
                t = awq_checkpoint_find(ck, name);
                CHECK_MSG(t && t->dtype == AWQ_DT_F16, "%s not kept in F16", name);
            }
        }
        const cJSON *qc = cJSON_GetObjectItem(awq_checkpoint_config(ck), "quantization_config");
        const cJSON *mods = qc ? cJSON_GetObjectItem(qc, "modules_to_not_convert") : NULL;
        for (int layer = 0; layer < 2; layer++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", layer, f->router);
            CHECK_MSG(list_has(mods, name), "%s: modules_to_not_convert lacks %s", f->arch, name);
            if (f->shared_gate) {
                snprintf(name, sizeof name, "model.layers.%d.%s", layer, f->shared_gate);
                CHECK_MSG(list_has(mods, name), "%s: modules_to_not_convert lacks %s", f->arch,
                          name);
            }
        }
        CHECK_EQ_INT(cJSON_GetArraySize(mods), f->shared_gate ? 4 : 2);
    }
    awq_checkpoint_free(ck);

    int32_t ev[EVAL_B * EVAL_T];
    for (int i = 0; i < EVAL_B * EVAL_T; i++)
        ev[i] = (int32_t)(awq_test_rand_u32_b11(&rng) % VOCAB);
    float *lf = e2e_logits(ctx, model, ev, EVAL_B, EVAL_T, VOCAB);
    float *lr = e2e_logits(ctx, rtn, ev, EVAL_B, EVAL_T, VOCAB);
    float *la = e2e_logits(ctx, awq, ev, EVAL_B, EVAL_T, VOCAB);
    CHECK(lf && lr && la);
    if (lf && lr && la) {
        size_t n = (size_t)EVAL_B * EVAL_T * VOCAB;
        double er = e2e_mse(lf, lr, n), ea = e2e_mse(lf, la, n);
        printf("%s: held-out logits MSE vs FP16: rtn %.4g awq %.4g\n", f->arch, er, ea);
        CHECK_MSG(ea < 0.8 * er, "%s logits: AWQ %g vs RTN %g", f->arch, ea, er);
    }
    free(lf);
    free(lr);
    free(la);
    awq_quantize_report_free(&rr);
    awq_quantize_report_free(&ra);
}

/* 16 experts, top-2, 128 calibration tokens: 16 routed tokens per expert
 * on average, the threshold: some experts are starved, others searched. */
static void run_starved(awq_ctx *ctx, const char *tmp) {
    char model[1024], out[1100], ids[1100], sj[1300];
    snprintf(model, sizeof model, "%s/starved", tmp);
    snprintf(out, sizeof out, "%s-awq", model);
    snprintf(ids, sizeof ids, "%s/ids-short.txt", tmp);
    FILE *f = fopen(ids, "w");
    for (int i = 0; i < 4 * 32; i++)
        fprintf(f, "%u%c", awq_test_rand_u32_b11(&rng) % VOCAB, i % 32 == 31 ? '\n' : ' ');
    fclose(f);
    write_model(ctx, model, "qwen3-moe", 16, 2);
    awq_quantize_report r;
    memset(&r, 0, sizeof r);
    CHECK_OK(ctx, quantize(ctx, model, out, AWQ_METHOD_AWQ, ids, 32, true, &r));
    CHECK(r.expert_tokens != NULL && r.n_experts == 16);
    int64_t starved = 0;
    for (int64_t i = 0; r.expert_tokens && i < 2 * 16; i++)
        starved += r.expert_tokens[i] < MIN_TOKENS;
    printf("starved: %lld of 32 (layer, expert) pairs\n", (long long)starved);
    CHECK(starved > 0 && starved < 32 && starved == r.n_starved);
    /* layer 0's record: the starved experts have no up -> down scales */
    snprintf(sj, sizeof sj, "%s/.awqkit-partial/layer-00000/search.json", out);
    char *buf = NULL;
    size_t n = 0;
    CHECK_OK(ctx, awq_read_file(ctx, sj, 1u << 26, &buf, &n));
    cJSON *root = buf ? cJSON_ParseWithLength(buf, n) : NULL;
    const cJSON *moe = cJSON_GetObjectItem(root, "moe");
    const cJSON *tok = cJSON_GetObjectItem(moe, "tokens"), *sv = cJSON_GetObjectItem(moe, "starved");
    const cJSON *ds = cJSON_GetObjectItem(moe, "down_scales");
    CHECK(cJSON_GetArraySize(tok) == 16);
    bool has_scales[16] = {false};
    const cJSON *e;
    cJSON_ArrayForEach(e, ds) {
        int x = (int)cJSON_GetObjectItem(e, "expert")->valuedouble;
        if (x >= 0 && x < 16) has_scales[x] = true;
    }
    int n_starved0 = 0;
    for (int x = 0; x < 16 && r.expert_tokens; x++) {
        bool st = r.expert_tokens[x] < MIN_TOKENS;
        n_starved0 += st;
        CHECK_MSG(has_scales[x] == !st, "expert %d: %lld tokens, scales %d", x,
                  (long long)r.expert_tokens[x], has_scales[x]);
        CHECK((int64_t)cJSON_GetArrayItem(tok, x)->valuedouble == r.expert_tokens[x]);
    }
    CHECK_EQ_INT(cJSON_GetArraySize(sv), n_starved0);
    cJSON_Delete(root);
    free(buf);
    /* --json: layers[].experts.tokens / starved */
    awq_quantize_params qp = awq_quantize_default_params();
    awq_quantize_plan pl;
    memset(&pl, 0, sizeof pl);
    cJSON *j = awq_json_quantize(model, out, &qp, &pl, &r);
    const cJSON *l1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "layers"), 1);
    const cJSON *ex = cJSON_GetObjectItem(l1, "experts");
    const cJSON *jt = cJSON_GetObjectItem(ex, "tokens"), *js = cJSON_GetObjectItem(ex, "starved");
    int n_starved1 = 0;
    for (int x = 0; x < 16 && r.expert_tokens; x++) {
        n_starved1 += r.expert_tokens[16 + x] < MIN_TOKENS;
        CHECK((int64_t)cJSON_GetArrayItem(jt, x)->valuedouble == r.expert_tokens[16 + x]);
    }
    CHECK(cJSON_GetArraySize(jt) == 16 && cJSON_GetArraySize(js) == n_starved1);
    cJSON_Delete(j);
    awq_verify_params vp = awq_verify_default_params();
    vp.against = model;
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, out, &vp, &vr));
    CHECK_MSG(vr.ok && vr.params_equal, "starved: verify --against");
    awq_verify_result_free(&vr);
    awq_quantize_report_free(&r);
}

/* Replace the first `from` in dir/config.json by `to`. */
static void edit_config(const char *dir, const char *from, const char *to) {
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    char buf[16384];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    char *p = strstr(buf, from);
    CHECK_MSG(p != NULL, "%s: no '%s'", path, from);
    if (!p) return;
    f = fopen(path, "wb");
    fwrite(buf, 1, (size_t)(p - buf), f);
    fputs(to, f);
    fputs(p + strlen(from), f);
    fclose(f);
}

static void run_refusals(awq_ctx *ctx, const char *tmp, const char *ids) {
    char model[1024], out[1100];
    snprintf(model, sizeof model, "%s/bad", tmp);
    snprintf(out, sizeof out, "%s-out", model);
    write_model(ctx, model, "mixtral", 4, 2);
    edit_config(model, "\"num_local_experts\":\t4", "\"num_local_experts\":\t3");
    awq_quantize_report r;
    memset(&r, 0, sizeof r);
    CHECK_EQ_INT(quantize(ctx, model, out, AWQ_METHOD_AWQ, ids, 128, false, &r), AWQ_ERR_MISMATCH);
    CHECK_MSG(strstr(awq_ctx_errmsg(ctx), "block_sparse_moe.gate.weight' has shape [4, 128], "
                                          "the config implies [3, 128]") != NULL,
              "message: %s", awq_ctx_errmsg(ctx));
    CHECK_MSG(!awq_path_exists(out), "%s was created", out);
    edit_config(model, "\"num_local_experts\":\t3", "\"num_local_experts\":\t5");
    CHECK_EQ_INT(quantize(ctx, model, out, AWQ_METHOD_AWQ, ids, 128, false, &r), AWQ_ERR_MISMATCH);
    CHECK_MSG(!awq_path_exists(out), "%s was created", out);
    edit_config(model, "\"num_local_experts\":\t5", "\"num_local_experts\":\t4");
    /* --load-scales is for dense models */
    awq_quantize_params p = awq_quantize_default_params();
    p.calib_tokens = ids;
    p.calib.seqlen = 128;
    p.load_scales = ids;
    awq_quantize_job *job = NULL;
    CHECK_EQ_INT(awq_quantize_prepare(ctx, model, out, &p, &job), AWQ_ERR_UNSUPPORTED);
    CHECK(strstr(awq_ctx_errmsg(ctx), "mixture-of-experts") != NULL);
    awq_quantize_job_free(job);
    CHECK_MSG(!awq_path_exists(out), "%s was created", out);
}

int main(void) {
    char *tmp = awq_test_tmpdir("e2e_quantize_moe");
    char ids[1024];
    snprintf(ids, sizeof ids, "%s/calib-ids.txt", tmp);
    awq_ctx *ctx = awq_test_ctx(2);
    FILE *f = fopen(ids, "w");
    for (int i = 0; i < 16 * 128; i++)
        fprintf(f, "%u%c", awq_test_rand_u32_b11(&rng) % VOCAB, i % 32 == 31 ? '\n' : ' ');
    fclose(f);
    static const family fams[] = {
        {"mixtral", "block_sparse_moe.experts", {"w1", "w3", "w2"}, "block_sparse_moe.gate",
         NULL, NULL},
        {"qwen2-moe", "mlp.experts", {"gate_proj", "up_proj", "down_proj"}, "mlp.gate",
         "mlp.shared_expert_gate", "mlp.shared_expert"},
        {"qwen3-moe", "mlp.experts", {"gate_proj", "up_proj", "down_proj"}, "mlp.gate", NULL,
         NULL},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(fams); i++) run_family(ctx, tmp, ids, &fams[i]);
    run_starved(ctx, tmp);
    run_refusals(ctx, tmp, ids);
    awq_ctx_free(ctx);
    free(tmp);
    return awq_test_summary();
}
