/* tests/unit/test_mla.c — DeepSeek-V2 / V3 beyond the logits fixtures
 * (those are in test_forward): the MLA layer API the AWQ search uses
 * (capture points and widths; norm + attention + norm + MLP blocks
 * reproduce the layer), the configs' MLA and routing fields, and bad
 * inputs refused naming the field or tensor. Fixtures:
 * tests/ref/models/deepseek_* (tests/ref/make_forward_ref.py deepseek). */
#include "awq_test.h"
#include "ref_fixture.h"
#include "core/core.h"
#include "model/forward.h"
#include "model/mla.h"

#include "awqkit/checkpoint.h"
#include "awqkit/model.h"
#include "awqkit/runtime.h"

#include <math.h>

static awq_status open_dir(awq_ctx *ctx, const char *dir, awq_checkpoint **ck, awq_model **m) {
    *m = NULL;
    awq_status s = awq_checkpoint_open(ctx, dir, ck);
    if (s == AWQ_OK) s = awq_model_open(ctx, *ck, NULL, m);
    return s;
}

static void test_config(awq_ctx *ctx) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ref/models/deepseek_v3", AWQ_TEST_SRC);
    awq_checkpoint *ck = NULL;
    awq_model_config c;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    if (!ck) return;
    CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &c));
    CHECK(c.arch && c.arch->mla && c.arch->moe && c.arch->moe->router_bias);
    CHECK(awq_arch_linear_of(c.arch, AWQ_LIN_KIND_Q_A) == 0);
    CHECK_EQ_INT(c.q_lora_rank, 24);
    CHECK_EQ_INT(c.kv_lora_rank, 16);
    CHECK_EQ_INT(c.head_dim, 8); /* qk_rope_head_dim, as transformers */
    CHECK_EQ_INT(awq_model_dim(&c, AWQ_DIM_MLA_KV_B), 4 * (8 + 12));
    CHECK(c.route == AWQ_ROUTE_SIGMOID_GROUP && c.n_group == 4 && c.topk_group == 2);
    CHECK(c.norm_topk_prob && fabs(c.routed_scale - 2.5) < 1e-12 && c.rope_interleave);
    CHECK(!awq_model_layer_moe(&c, 0) && awq_model_layer_moe(&c, 1) && awq_model_layer_moe(&c, 2));
    CHECK_EQ_INT(c.shared_intermediate, 16);
    awq_checkpoint_free(ck);
    /* no q_lora_rank: the plain-q_proj entry of the same architecture */
    snprintf(dir, sizeof dir, "%s/ref/models/deepseek_v2", AWQ_TEST_SRC);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    if (!ck) return;
    CHECK_OK(ctx, awq_model_config_from_checkpoint(ctx, ck, &c));
    CHECK(c.arch && c.arch->mla && awq_arch_linear_of(c.arch, AWQ_LIN_KIND_Q) == 0);
    CHECK(awq_arch_linear_of(c.arch, AWQ_LIN_KIND_Q_A) < 0);
    CHECK(strcmp(c.arch->hf_name, "DeepseekV2ForCausalLM") == 0);
    CHECK(c.route == AWQ_ROUTE_SOFTMAX && !c.norm_topk_prob && c.q_lora_rank == 0);
    CHECK_EQ_INT(c.shared_intermediate, 32);
    awq_checkpoint_free(ck);
}

typedef struct {
    int64_t rows[AWQ_CAPTURE_COUNT], cols[AWQ_CAPTURE_COUNT];
} capt;

static awq_status on_capture(void *user, int64_t layer, awq_capture_point p, int64_t row0,
                             int64_t n_rows, int64_t n_cols, const float *x) {
    (void)layer, (void)x;
    capt *c = user;
    c->rows[p] = row0 + n_rows;
    c->cols[p] = n_cols;
    return AWQ_OK;
}

/* The AWQ search runs the blocks separately: they must compose to the
 * layer, and each MLA capture point must fire with its width. */
static void test_layer_api(awq_ctx *ctx, const char *name, int64_t layer) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ref/models/%s", AWQ_TEST_SRC, name);
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    CHECK_OK(ctx, open_dir(ctx, dir, &ck, &m));
    if (!m) {
        awq_checkpoint_free(ck);
        return;
    }
    const awq_model_config *c = awq_model_get_config(m);
    const int64_t B = 2, T = 24, R = B * T, H = c->hidden;
    int32_t ids[48];
    for (int i = 0; i < 48; i++) ids[i] = (int32_t)((i * 37 + 5) % c->vocab);
    const size_t nb = sizeof(float) * (size_t)(R * H);
    float *x = malloc(nb), *ref = malloc(nb), *xn = malloc(nb), *a = malloc(nb), *h = malloc(nb);
    CHECK_OK(ctx, awq_model_embed(m, ids, R, x));
    awq_layer *l = NULL;
    CHECK_OK(ctx, awq_layer_load(m, layer, &l));
    if (l) {
        capt cap;
        memset(&cap, 0, sizeof cap);
        awq_layer_set_capture(l, on_capture, &cap, (1u << AWQ_CAPTURE_COUNT) - 1u);
        CHECK_OK(ctx, awq_layer_forward(l, x, ref, B, T));
        awq_layer_set_capture(l, NULL, NULL, 0);
        CHECK_EQ_INT(cap.rows[AWQ_CAPTURE_QKV_IN], R);
        CHECK_EQ_INT(cap.cols[AWQ_CAPTURE_KV_B_IN], c->kv_lora_rank);
        CHECK_EQ_INT(cap.rows[AWQ_CAPTURE_KV_B_IN], R);
        CHECK_EQ_INT(cap.rows[AWQ_CAPTURE_Q_B_IN], c->q_lora_rank ? R : 0);
        if (c->q_lora_rank) CHECK_EQ_INT(cap.cols[AWQ_CAPTURE_Q_B_IN], c->q_lora_rank);
        CHECK_EQ_INT(cap.cols[AWQ_CAPTURE_O_IN], c->n_heads * c->v_head_dim);
        CHECK_EQ_INT(cap.rows[AWQ_CAPTURE_GATE_UP_IN], R);
        /* the MLP's output: dense layers only (a MoE layer's is not the
         * dense groups' reference) */
        CHECK_EQ_INT(cap.rows[AWQ_CAPTURE_MLP_OUT], awq_model_layer_moe(c, layer) ? 0 : R);
        int64_t nq = 0;
        CHECK(awq_layer_norm_weight(l, AWQ_NORM_KV_A, &nq) != NULL && nq == c->kv_lora_rank);
        CHECK((awq_layer_norm_weight(l, AWQ_NORM_Q_A, &nq) != NULL) == (c->q_lora_rank > 0));
        /* norm, attention, residual, norm, MLP, residual */
        memcpy(h, x, sizeof(float) * (size_t)(R * H));
        CHECK_OK(ctx, awq_layer_norm(l, AWQ_NORM_INPUT, h, xn, R));
        CHECK_OK(ctx, awq_layer_attn(l, xn, a, B, T));
        for (int64_t i = 0; i < R * H; i++) h[i] += a[i];
        CHECK_OK(ctx, awq_layer_norm(l, AWQ_NORM_POST_ATTN, h, xn, R));
        CHECK_OK(ctx, awq_layer_mlp(l, xn, a, R));
        double worst = 0;
        for (int64_t i = 0; i < R * H; i++) {
            float sum = h[i] + a[i];
            worst = fmax(worst, fabs((double)sum - ref[i]));
        }
        CHECK_MSG(worst == 0, "%s layer %lld: blocks differ from the layer by %g", name,
                  (long long)layer, worst);
    }
    awq_layer_free(l);
    free(x);
    free(ref);
    free(xn);
    free(a);
    free(h);
    awq_model_free(m);
    awq_checkpoint_free(ck);
}

/* awq_mla_attn driven directly through the layer API: the heads are
 * independent, so assembling them in blocks of any size gives the same
 * bits as the layer's own attention block. */
static awq_backend *g_be;
static awq_status t_linear(awq_layer *l, int lin, const float *x, float *y, int64_t rows) {
    return awq_layer_linear(l, lin, x, y, rows);
}
static awq_status t_rows(awq_layer *l, int lin, int64_t row0, int64_t n_rows, const float *x,
                         float *y, int64_t rows) {
    int64_t N = 0, K = 0;
    const float *w = awq_layer_weight(l, lin, &N, &K);
    return g_be->ops->gemm(g_be, x, w + row0 * K, AWQ_DT_F32, NULL, y, rows, n_rows, K);
}
static awq_status t_cap(awq_layer *l, awq_capture_point pt, int64_t row0, int64_t rows,
                        int64_t cols, const float *x) {
    (void)l, (void)pt, (void)row0, (void)rows, (void)cols, (void)x;
    return AWQ_OK;
}

static void test_head_blocks(awq_ctx *ctx, const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ref/models/%s", AWQ_TEST_SRC, name);
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    awq_layer *l = NULL;
    CHECK_OK(ctx, open_dir(ctx, dir, &ck, &m));
    if (m) CHECK_OK(ctx, awq_layer_load(m, 0, &l));
    if (l) {
        const awq_model_config *c = awq_model_get_config(m);
        g_be = awq_model_backend(m);
        const int64_t B = 3, T = 17, R = B * T, H = c->hidden;
        const size_t nb = sizeof(float) * (size_t)(R * H);
        float *x = malloc(nb), *xn = malloc(nb), *ref = malloc(nb), *out = malloc(nb);
        int32_t ids[51];
        for (int i = 0; i < 51; i++) ids[i] = (int32_t)((i * 53 + 3) % c->vocab);
        CHECK_OK(ctx, awq_model_embed(m, ids, R, x));
        CHECK_OK(ctx, awq_layer_norm(l, AWQ_NORM_INPUT, x, xn, R));
        CHECK_OK(ctx, awq_layer_attn(l, xn, ref, B, T));
        int li[AWQ_LIN_KIND_COUNT];
        for (int k = 0; k < AWQ_LIN_KIND_COUNT; k++)
            li[k] = awq_arch_linear_of(c->arch, (awq_lin_kind)k);
        awq_mla_ops o = {l, t_linear, t_rows, t_cap, li,
                         awq_layer_norm_weight(l, AWQ_NORM_Q_A, NULL),
                         awq_layer_norm_weight(l, AWQ_NORM_KV_A, NULL), 0, 0};
        for (int64_t hb = 0; hb <= c->n_heads; hb++) {
            o.head_block = hb;
            memset(out, 0, nb);
            CHECK_OK(ctx, awq_mla_attn(g_be, c, &o, xn, out, B, T, 0));
            CHECK_MSG(memcmp(out, ref, nb) == 0, "%s: head blocks of %lld differ", name,
                      (long long)hb);
        }
        free(x), free(xn), free(ref), free(out);
    }
    awq_layer_free(l);
    awq_model_free(m);
    awq_checkpoint_free(ck);
}

/* Bad inputs: refused at open, naming the field or tensor. */
static void test_errors(awq_ctx *ctx) {
    struct {
        const char *model, *from, *to;
        awq_status st;
        const char *msg;
    } cases[] = {
        /* MLA widths that disagree with the tensors name the tensor */
        {"deepseek_v3", "\"kv_lora_rank\": 16", "\"kv_lora_rank\": 12", AWQ_ERR_MISMATCH,
         "self_attn.kv_a_proj_with_mqa.weight' has shape [24, 32], the config implies [20, 32]"},
        {"deepseek_v3", "\"qk_nope_head_dim\": 8", "\"qk_nope_head_dim\": 6", AWQ_ERR_MISMATCH,
         "layers.0.self_attn.q_b_proj.weight' has shape [64, 24], the config implies [56, 24]"},
        {"deepseek_v3", "\"v_head_dim\": 12", "\"v_head_dim\": 10", AWQ_ERR_MISMATCH,
         "self_attn.kv_b_proj.weight' has shape [80, 16], the config implies [72, 16]"},
        {"deepseek_v2", "\"q_lora_rank\": null", "\"q_lora_rank\": 24", AWQ_ERR_NOT_FOUND,
         "model.layers.0.self_attn.q_a_proj.weight' is missing"},
        {"deepseek_v3", "\"q_lora_rank\": 24", "\"q_lora_rank\": null", AWQ_ERR_NOT_FOUND,
         "model.layers.0.self_attn.q_proj.weight' is missing"},
        {"deepseek_v3", "\"qk_rope_head_dim\": 8", "\"qk_rope_head_dim\": 7", AWQ_ERR_FORMAT,
         "qk_rope_head_dim 7 must be even"},
        /* routing the architecture does not compute */
        {"deepseek_v2", "\"topk_method\": \"greedy\"", "\"topk_method\": \"fancy\"",
         AWQ_ERR_UNSUPPORTED, "topk_method \"fancy\" is not supported for DeepseekV2ForCausalLM"},
        {"deepseek_v3", "\"topk_group\": 2", "\"topk_group\": 2, \"scoring_func\": \"softmax\"",
         AWQ_ERR_UNSUPPORTED, "scoring_func \"softmax\" is not supported"},
        {"deepseek_v3", "\"topk_group\": 2", "\"topk_group\": 2, \"topk_method\": \"greedy\"",
         AWQ_ERR_UNSUPPORTED, "topk_method \"greedy\" is not supported for DeepseekV3ForCausalLM"},
        {"deepseek_v3", "\"topk_group\": 2", "\"topk_group\": 2, \"scoring_func\": 1",
         AWQ_ERR_FORMAT, "field \"scoring_func\" must be a string"},
        {"deepseek_v3", "\"n_group\": 4", "\"n_group\": 3", AWQ_ERR_FORMAT,
         "n_group 3 does not divide n_routed_experts 8"},
        {"deepseek_v3", "\"topk_group\": 2", "\"topk_group\": 1", AWQ_ERR_FORMAT,
         "topk_group 1 of n_group 4 leaves fewer than num_experts_per_tok 3"},
        {"deepseek_v2-group", "\"n_group\": 4", "\"n_groupx\": 4", AWQ_ERR_FORMAT,
         "missing required field \"n_group\""},
        /* the router's correction bias, the shared experts */
        {"deepseek_v3", "layers.2.mlp.gate.e_score_correction_bias",
         "layers.2.mlp.gate.e_score_correction_bixs", AWQ_ERR_NOT_FOUND,
         "'model.layers.2.mlp.gate.e_score_correction_bias' is missing"},
        {"deepseek_v3-noqlora", "\"n_shared_experts\": 2", "\"n_shared_experts\": 1",
         AWQ_ERR_MISMATCH, "mlp.shared_experts.gate_proj.weight' has shape [32, 32], the config "
         "implies [16, 32]"},
        {"deepseek_v3", "\"n_routed_experts\": 8", "\"n_routed_experts\": 16", AWQ_ERR_MISMATCH,
         "mlp.gate.weight' has shape [8, 32], the config implies [16, 32]"},
        /* first_k_dense_replace past the dense layers: layer 1's MLP missing */
        {"deepseek_v3", "\"first_k_dense_replace\": 1", "\"first_k_dense_replace\": 2",
         AWQ_ERR_NOT_FOUND, "model.layers.1.mlp.gate_proj.weight' is missing"},
        /* moe_layer_freq 2: layer 1 is dense (its MLP missing), 2 sparse */
        {"deepseek_v3", "\"first_k_dense_replace\": 1",
         "\"first_k_dense_replace\": 1, \"moe_layer_freq\": 2", AWQ_ERR_NOT_FOUND,
         "model.layers.1.mlp.gate_proj.weight' is missing"},
        {"deepseek_v3", "\"attention_bias\": false", "\"attention_bias\": true",
         AWQ_ERR_UNSUPPORTED, "attention_bias true is not supported"},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(cases); i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "mla_err_%zu", i);
        char *dir = ref_fixture_variant(ctx, cases[i].model, tag, cases[i].from, cases[i].to);
        awq_checkpoint *ck = NULL;
        awq_model *m = NULL;
        CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
        if (ck) CHECK_FAILS(ctx, awq_model_open(ctx, ck, NULL, &m), cases[i].st, cases[i].msg);
        CHECK(m == NULL);
        awq_checkpoint_free(ck);
        free(dir);
    }
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    test_config(ctx);
    test_layer_api(ctx, "deepseek_v3", 0);
    test_layer_api(ctx, "deepseek_v3", 1);
    test_layer_api(ctx, "deepseek_v2", 2);
    test_head_blocks(ctx, "deepseek_v3");
    test_head_blocks(ctx, "deepseek_v3-noqlora");
    test_errors(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
