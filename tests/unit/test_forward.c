/* tests/unit/test_forward.c — the decoder forward pass (lib/model/forward.c,
 * rope.c, ppl.c) end to end.
 *
 * 1. RoPE: inv_freq / attention factor / cos-sin of every rope_scaling type
 *    against transformers' ROPE_INIT_FUNCTIONS + LlamaRotaryEmbedding
 *    (tests/ref/rope_ref.json).
 * 2. Small models written by this test (a hand-made hidden-4 model, a Qwen2-
 *    like model with biases and tied embeddings at T = 300 with 16-row
 *    attention blocks, a Qwen3-like model with q/k norms) against a
 *    straightforward double-precision forward written below, independent of
 *    lib/.
 * 3. data/tiny-llama against transformers (tests/ref/tiny_llama_ref.json and
 *    tiny_llama_logits.f32, made by tests/ref/make_forward_ref.py:
 *    LlamaForCausalLM in float32 on the CPU): logits at 4 positions of a
 *    64-token sequence, every position's NLL, the per-token NLL of two 256-
 *    token WikiText-2 windows, and their perplexity.
 * 4. Tiny random transformers models (tests/ref/models/NAME: Qwen2 tied FP16,
 *    Qwen3 BF16, Llama llama3-rope, Llama yarn-rope, Mistral linear-rope MQA,
 *    Qwen2.5-VL text decoder under model.language_model.*, Llama with exact
 *    GELU, Phi-3 fused qkv/gate_up, Gemma 2 with soft-capping and sliding
 *    layers, Gemma 3 text with a local rope, Gemma3ForConditionalGeneration's
 *    decoder under language_model.model.*): all logits.
 * 5. 1 vs 2 threads bit-identical; the per-layer API composes to the layer;
 *    capture hooks; weight substitution; quantized checkpoints (AWQ GEMM/
 *    GEMV, GPTQ v1/v2) give exactly the logits of their dequantized weights;
 *    errors.
 * 6. The forward on an emulated device backend (AWQ_MEM_DEVICE; its buffers
 *    are mprotect'ed PROT_NONE except while one of its ops runs, so any
 *    host access by lib/model to device memory crashes the test): same bits
 *    as on the CPU backend, for FP16 and quantized checkpoints.
 *
 * Tolerance: logits relative error = max|ours - ref| / max|ref| <= 1e-4
 * (TOL_LOGITS, fp32 vs fp32 or double); NLL absolute <= 1e-4 nats. */
#include "awq_test.h"
#include "ref_fixture.h"
#include "backend/backend.h"
#include "core/core.h"
#include "model/forward.h"
#include "model/rope.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define TOL_LOGITS 1e-4
#define TOL_NLL 1e-4

static uint32_t rng = 88172645u;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)((double)rng / 2147483648.0 - 1.0);
}

static double jnum(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return (v && cJSON_IsNumber(v)) ? v->valuedouble : dflt;
}

/* ------------------------------------------------------------ 1. RoPE */

static void test_rope_fixture(awq_ctx *ctx) {
    cJSON *r = ref_load_json(ctx, AWQ_TEST_SRC "/ref/rope_ref.json");
    const cJSON *pos = cJSON_GetObjectItem(r, "positions");
    int np = cJSON_GetArraySize(pos);
    const cJSON *c;
    int n_cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(r, "cases")) {
        n_cases++;
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int64_t hd = (int64_t)jnum(c, "head_dim", 0), half = hd / 2;
        awq_rope_scaling rs;
        memset(&rs, 0, sizeof rs);
        rs.type = AWQ_ROPE_DEFAULT;
        rs.factor = 1;
        const cJSON *sc = cJSON_GetObjectItem(c, "rope_scaling");
        if (sc && cJSON_IsObject(sc)) {
            const char *t = cJSON_GetObjectItem(sc, "rope_type")->valuestring;
            rs.type = strcmp(t, "linear") == 0   ? AWQ_ROPE_LINEAR
                      : strcmp(t, "llama3") == 0 ? AWQ_ROPE_LLAMA3
                                                 : AWQ_ROPE_YARN;
            rs.factor = jnum(sc, "factor", 1);
            rs.low_freq_factor = jnum(sc, "low_freq_factor", 1);
            rs.high_freq_factor = jnum(sc, "high_freq_factor", 4);
            rs.original_max_pos = jnum(sc, "original_max_position_embeddings", 0);
            rs.beta_fast = jnum(sc, "beta_fast", 32);
            rs.beta_slow = jnum(sc, "beta_slow", 1);
            rs.attention_factor = jnum(sc, "attention_factor", 0);
            rs.mscale = jnum(sc, "mscale", 0);
            rs.mscale_all_dim = jnum(sc, "mscale_all_dim", 0);
            rs.no_truncate = cJSON_IsFalse(cJSON_GetObjectItem(sc, "truncate"));
        }
        float inv[256], af = 0;
        CHECK_OK(ctx, awq_rope_inv_freq(ctx, &rs, jnum(c, "rope_theta", 0), hd,
                                        (int64_t)jnum(c, "max_position_embeddings", 0), inv,
                                        &af));
        const cJSON *ri = cJSON_GetObjectItem(c, "inv_freq");
        double worst = 0;
        float rinv[256];
        for (int64_t i = 0; i < half; i++) {
            rinv[i] = (float)cJSON_GetArrayItem(ri, (int)i)->valuedouble;
            worst = fmax(worst, fabs((double)inv[i] - rinv[i]) / rinv[i]);
        }
        /* fp32 pow may differ from torch's by an ulp */
        CHECK_MSG(worst <= 2.5e-7, "rope %s: inv_freq rel err %g", name, worst);
        CHECK_MSG(fabs(af - jnum(c, "attention_factor", 0)) <= 1e-7,
                  "rope %s: attention factor %g vs %g", name, af,
                  jnum(c, "attention_factor", 0));
        /* tables from the reference inv_freq: only cos/sin rounding differs */
        int64_t maxp = (int64_t)cJSON_GetArrayItem(pos, np - 1)->valuedouble + 1;
        float *cs = malloc(sizeof(float) * (size_t)(maxp * half));
        float *sn = malloc(sizeof(float) * (size_t)(maxp * half));
        float *cs2 = malloc(sizeof(float) * (size_t)(maxp * half));
        float *sn2 = malloc(sizeof(float) * (size_t)(maxp * half));
        awq_rope_tables(rinv, half, af, maxp, cs, sn);
        awq_rope_tables(inv, half, af, maxp, cs2, sn2);
        const cJSON *rc = cJSON_GetObjectItem(c, "cos"), *rsn = cJSON_GetObjectItem(c, "sin");
        double wt = 0, wt2 = 0;
        for (int k = 0; k < np; k++) {
            int64_t p = (int64_t)cJSON_GetArrayItem(pos, k)->valuedouble;
            for (int64_t i = 0; i < half; i++) {
                double ec = cJSON_GetArrayItem(rc, (int)(k * half + i))->valuedouble;
                double es = cJSON_GetArrayItem(rsn, (int)(k * half + i))->valuedouble;
                wt = fmax(wt, fmax(fabs(cs[p * half + i] - ec), fabs(sn[p * half + i] - es)));
                /* with our own inv_freq an ulp of it moves the angle by up to
                 * p * 6e-8 rad */
                double allow = 2e-7 + (double)p * 1.2e-7 * fabs(af);
                double d2 = fmax(fabs(cs2[p * half + i] - ec), fabs(sn2[p * half + i] - es));
                wt2 = fmax(wt2, d2 / allow);
            }
        }
        CHECK_MSG(wt <= 2.5e-7, "rope %s: cos/sin abs err %g", name, wt);
        CHECK_MSG(wt2 <= 1.0, "rope %s: cos/sin from own inv_freq off by %g allowances", name,
                  wt2);
        free(cs), free(sn), free(cs2), free(sn2);
    }
    CHECK_EQ_INT(n_cases, 8);
    /* bad arguments */
    float inv[4], af;
    CHECK_FAILS(ctx, awq_rope_inv_freq(ctx, NULL, 10000, 7, 0, inv, &af), AWQ_ERR_INVALID_ARG,
                "head_dim");
    awq_rope_scaling bad = {.type = AWQ_ROPE_LINEAR, .factor = 0};
    CHECK_FAILS(ctx, awq_rope_inv_freq(ctx, &bad, 10000, 8, 0, inv, &af), AWQ_ERR_INVALID_ARG,
                "factor");
    cJSON_Delete(r);
}

/* ------------------------------------------- 2. independent reference */

typedef struct {
    int64_t hidden, inter, layers, nh, nkv, hd, vocab;
    double eps, theta;
    bool qkv_bias, qk_norm, tied;
    awq_dtype store; /* dtype written to the checkpoint; weights are rounded */
    float *embed, *lm_head, *fnorm;
    struct {
        float *w[7], *b[7], *ln1, *ln2, *qn, *kn;
    } L[3];
} nmodel;

static const char *const k_lin[7] = {"self_attn.q_proj", "self_attn.k_proj",
                                     "self_attn.v_proj", "self_attn.o_proj",
                                     "mlp.gate_proj",    "mlp.up_proj",
                                     "mlp.down_proj"};

static float round_to(awq_dtype t, float x) {
    if (t == AWQ_DT_F16) return awq_f16_to_f32(awq_f32_to_f16(x));
    if (t == AWQ_DT_BF16) return awq_bf16_to_f32(awq_f32_to_bf16(x));
    return x;
}

static float *nbuf(nmodel *m, int64_t n, double scale, double offset) {
    float *p = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = round_to(m->store, (float)(offset + scale * frand()));
    return p;
}

static void lin_dims(const nmodel *m, int l, int64_t *N, int64_t *K) {
    int64_t q = m->nh * m->hd, kv = m->nkv * m->hd;
    static const int outs[7] = {0, 1, 1, 2, 3, 3, 2}, ins[7] = {2, 2, 2, 0, 2, 2, 3};
    int64_t d[4] = {q, kv, m->hidden, m->inter};
    *N = d[outs[l]];
    *K = d[ins[l]];
}

static void nmodel_random(nmodel *m) {
    m->embed = nbuf(m, m->vocab * m->hidden, 1.0, 0);
    m->lm_head = m->tied ? m->embed : nbuf(m, m->vocab * m->hidden, 0.5, 0);
    m->fnorm = nbuf(m, m->hidden, 0.2, 1.0);
    for (int64_t i = 0; i < m->layers; i++) {
        for (int l = 0; l < 7; l++) {
            int64_t N, K;
            lin_dims(m, l, &N, &K);
            m->L[i].w[l] = nbuf(m, N * K, 1.7 / sqrt((double)K), 0);
            m->L[i].b[l] = (m->qkv_bias && l < 3) ? nbuf(m, N, 0.5, 0) : NULL;
        }
        m->L[i].ln1 = nbuf(m, m->hidden, 0.2, 1.0);
        m->L[i].ln2 = nbuf(m, m->hidden, 0.2, 1.0);
        m->L[i].qn = m->qk_norm ? nbuf(m, m->hd, 0.3, 1.0) : NULL;
        m->L[i].kn = m->qk_norm ? nbuf(m, m->hd, 0.3, 1.0) : NULL;
    }
}

static void nmodel_free(nmodel *m) {
    free(m->embed);
    if (!m->tied) free(m->lm_head);
    free(m->fnorm);
    for (int64_t i = 0; i < m->layers; i++) {
        for (int l = 0; l < 7; l++) free(m->L[i].w[l]), free(m->L[i].b[l]);
        free(m->L[i].ln1), free(m->L[i].ln2), free(m->L[i].qn), free(m->L[i].kn);
    }
}

static void d_rms(const double *x, const float *w, double *y, int64_t n, double eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + eps);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * r * w[i];
}

static void d_lin(const float *w, const float *b, const double *x, double *y, int64_t N,
                  int64_t K) {
    for (int64_t n = 0; n < N; n++) {
        double s = b ? b[n] : 0;
        for (int64_t k = 0; k < K; k++) s += (double)w[n * K + k] * x[k];
        y[n] = s;
    }
}

/* The textbook forward in double (one sequence): logits [T, vocab]. */
static void naive_forward(const nmodel *m, const int32_t *ids, int64_t T, float *logits) {
    int64_t H = m->hidden, hd = m->hd, qd = m->nh * hd, kd = m->nkv * hd;
    double *h = calloc((size_t)(T * H), sizeof(double)), *x = malloc(sizeof(double) * H);
    double *q = malloc(sizeof(double) * (size_t)(T * qd));
    double *k = malloc(sizeof(double) * (size_t)(T * kd));
    double *v = malloc(sizeof(double) * (size_t)(T * kd));
    double *a = malloc(sizeof(double) * (size_t)qd), *o = malloc(sizeof(double) * H);
    double *g = malloc(sizeof(double) * (size_t)m->inter), *u = malloc(sizeof(double) * (size_t)m->inter);
    double *w = malloc(sizeof(double) * (size_t)T), *tmp = malloc(sizeof(double) * (size_t)hd);
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < H; i++) h[t * H + i] = m->embed[ids[t] * H + i];
    for (int64_t l = 0; l < m->layers; l++) {
        for (int64_t t = 0; t < T; t++) {
            d_rms(h + t * H, m->L[l].ln1, x, H, m->eps);
            d_lin(m->L[l].w[0], m->L[l].b[0], x, q + t * qd, qd, H);
            d_lin(m->L[l].w[1], m->L[l].b[1], x, k + t * kd, kd, H);
            d_lin(m->L[l].w[2], m->L[l].b[2], x, v + t * kd, kd, H);
            for (int pass = 0; pass < 2; pass++) {
                double *base = pass ? k + t * kd : q + t * qd;
                int64_t nheads = pass ? m->nkv : m->nh;
                for (int64_t hh = 0; hh < nheads; hh++) {
                    double *e = base + hh * hd;
                    if (m->qk_norm) {
                        d_rms(e, pass ? m->L[l].kn : m->L[l].qn, tmp, hd, m->eps);
                        memcpy(e, tmp, sizeof(double) * (size_t)hd);
                    }
                    for (int64_t i = 0; i < hd / 2; i++) {
                        double ang = (double)t * pow(m->theta, -2.0 * (double)i / (double)hd);
                        double c = cos(ang), s = sin(ang), x1 = e[i], x2 = e[i + hd / 2];
                        e[i] = x1 * c - x2 * s;
                        e[i + hd / 2] = x2 * c + x1 * s;
                    }
                }
            }
        }
        for (int64_t t = 0; t < T; t++) {
            for (int64_t hh = 0; hh < m->nh; hh++) {
                int64_t gk = hh / (m->nh / m->nkv);
                double mx = -1e300, sum = 0;
                for (int64_t j = 0; j <= t; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < hd; e++) s += q[t * qd + hh * hd + e] * k[j * kd + gk * hd + e];
                    w[j] = s / sqrt((double)hd);
                    mx = fmax(mx, w[j]);
                }
                for (int64_t j = 0; j <= t; j++) sum += (w[j] = exp(w[j] - mx));
                for (int64_t e = 0; e < hd; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j <= t; j++) acc += w[j] * v[j * kd + gk * hd + e];
                    a[hh * hd + e] = acc / sum;
                }
            }
            d_lin(m->L[l].w[3], m->L[l].b[3], a, o, H, qd);
            for (int64_t i = 0; i < H; i++) h[t * H + i] += o[i];
            d_rms(h + t * H, m->L[l].ln2, x, H, m->eps);
            d_lin(m->L[l].w[4], NULL, x, g, m->inter, H);
            d_lin(m->L[l].w[5], NULL, x, u, m->inter, H);
            for (int64_t i = 0; i < m->inter; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            d_lin(m->L[l].w[6], NULL, g, o, H, m->inter);
            for (int64_t i = 0; i < H; i++) h[t * H + i] += o[i];
        }
    }
    double *lg = malloc(sizeof(double) * (size_t)m->vocab);
    for (int64_t t = 0; t < T; t++) {
        d_rms(h + t * H, m->fnorm, x, H, m->eps);
        d_lin(m->lm_head, NULL, x, lg, m->vocab, H);
        for (int64_t i = 0; i < m->vocab; i++) logits[t * m->vocab + i] = (float)lg[i];
    }
    free(h), free(x), free(q), free(k), free(v), free(a), free(o), free(g), free(u), free(w);
    free(tmp), free(lg);
}

/* ------------------------------------------------ checkpoint writing */

typedef struct {
    char name[128];
    awq_dtype dt;
    int ndim;
    int64_t shape[2];
    const float *f32;   /* converted to dt, or */
    const void *raw;    /* written as is (n_bytes) */
    uint64_t n_bytes;
} wtensor;

static void write_ckpt(awq_ctx *ctx, const char *dir, const char *config, const wtensor *ts,
                       int n) {
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    awq_writer *w = NULL;
    CHECK_OK(ctx, awq_writer_create(ctx, dir, &wp, &w));
    if (!w) return;
    for (int i = 0; i < n; i++)
        CHECK_OK(ctx, awq_writer_declare(w, ts[i].name, ts[i].dt, ts[i].ndim, ts[i].shape));
    for (int i = 0; i < n; i++) {
        if (ts[i].raw) {
            CHECK_OK(ctx, awq_writer_write(w, ts[i].name, ts[i].raw, ts[i].n_bytes));
            continue;
        }
        int64_t cnt = ts[i].shape[0] * (ts[i].ndim > 1 ? ts[i].shape[1] : 1);
        size_t es = awq_dtype_size(ts[i].dt);
        void *buf = malloc((size_t)cnt * es);
        if (ts[i].dt == AWQ_DT_F16) awq_f32_to_f16_n(ts[i].f32, buf, (size_t)cnt);
        else if (ts[i].dt == AWQ_DT_BF16) awq_f32_to_bf16_n(ts[i].f32, buf, (size_t)cnt);
        else memcpy(buf, ts[i].f32, (size_t)cnt * 4);
        CHECK_OK(ctx, awq_writer_write(w, ts[i].name, buf, (uint64_t)cnt * es));
        free(buf);
    }
    CHECK_OK(ctx, awq_writer_add_file(w, "config.json", config, strlen(config)));
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
}

static void add_t(wtensor *ts, int *n, awq_dtype dt, const float *f, int64_t r, int64_t c,
                  const char *fmt, ...) AWQ_PRINTF(7, 8);
static void add_t(wtensor *ts, int *n, awq_dtype dt, const float *f, int64_t r, int64_t c,
                  const char *fmt, ...) {
    wtensor *t = &ts[(*n)++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->dt = dt;
    t->f32 = f;
    t->ndim = c > 0 ? 2 : 1;
    t->shape[0] = r;
    t->shape[1] = c;
}

static const char *arch_of(const nmodel *m) {
    return m->qk_norm ? "Qwen3ForCausalLM" : m->qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
}

static void config_json(const nmodel *m, const char *extra, char *buf, size_t n) {
    snprintf(buf, n,
             "{\"architectures\": [\"%s\"], \"hidden_size\": %lld, \"intermediate_size\": "
             "%lld, \"num_hidden_layers\": %lld, \"num_attention_heads\": %lld, "
             "\"num_key_value_heads\": %lld, \"head_dim\": %lld, \"vocab_size\": %lld, "
             "\"rms_norm_eps\": %.17g, \"rope_theta\": %.17g, \"max_position_embeddings\": "
             "4096, \"tie_word_embeddings\": %s, \"bos_token_id\": 1, \"torch_dtype\": "
             "\"float32\"%s}\n",
             arch_of(m), (long long)m->hidden, (long long)m->inter, (long long)m->layers,
             (long long)m->nh, (long long)m->nkv, (long long)m->hd, (long long)m->vocab,
             m->eps, m->theta, m->tied ? "true" : "false", extra ? extra : "");
}

/* Tensors of an nmodel; `skip_linears` leaves the linear weights out (the
 * quantized test adds packed ones). Returns the count. */
static int nmodel_tensors(const nmodel *m, wtensor *ts, bool skip_linears, const char *omit) {
    int n = 0;
    add_t(ts, &n, m->store, m->embed, m->vocab, m->hidden, "model.embed_tokens.weight");
    if (!m->tied) add_t(ts, &n, m->store, m->lm_head, m->vocab, m->hidden, "lm_head.weight");
    add_t(ts, &n, m->store, m->fnorm, m->hidden, 0, "model.norm.weight");
    for (int64_t i = 0; i < m->layers; i++) {
        for (int l = 0; l < 7; l++) {
            int64_t N, K;
            lin_dims(m, l, &N, &K);
            if (!skip_linears)
                add_t(ts, &n, m->store, m->L[i].w[l], N, K, "model.layers.%lld.%s.weight",
                      (long long)i, k_lin[l]);
            if (m->L[i].b[l])
                add_t(ts, &n, m->store, m->L[i].b[l], N, 0, "model.layers.%lld.%s.bias",
                      (long long)i, k_lin[l]);
        }
        add_t(ts, &n, m->store, m->L[i].ln1, m->hidden, 0,
              "model.layers.%lld.input_layernorm.weight", (long long)i);
        add_t(ts, &n, m->store, m->L[i].ln2, m->hidden, 0,
              "model.layers.%lld.post_attention_layernorm.weight", (long long)i);
        if (m->qk_norm) {
            add_t(ts, &n, m->store, m->L[i].qn, m->hd, 0, "model.layers.%lld.self_attn.q_norm.weight",
                  (long long)i);
            add_t(ts, &n, m->store, m->L[i].kn, m->hd, 0, "model.layers.%lld.self_attn.k_norm.weight",
                  (long long)i);
        }
    }
    if (omit)
        for (int i = 0; i < n; i++)
            if (strcmp(ts[i].name, omit) == 0) {
                ts[i] = ts[n - 1];
                n--;
                break;
            }
    return n;
}

typedef struct {
    awq_checkpoint *ck;
    awq_model *m;
} opened;

static bool open_model(awq_ctx *ctx, const char *dir, const awq_runtime_params *rp, opened *o) {
    memset(o, 0, sizeof *o);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &o->ck));
    if (!o->ck) return false;
    CHECK_OK(ctx, awq_model_open(ctx, o->ck, rp, &o->m));
    return o->m != NULL;
}

static void close_model(opened *o) {
    awq_model_free(o->m);
    awq_checkpoint_free(o->ck);
}

static void naive_case(awq_ctx *ctx, const char *name, nmodel *m, int64_t T, int block,
                       bool handmade) {
    if (!handmade) nmodel_random(m);
    char *dir = awq_test_tmpdir(name);
    wtensor ts[64];
    int n = nmodel_tensors(m, ts, false, NULL);
    char cfg[2048];
    config_json(m, NULL, cfg, sizeof cfg);
    write_ckpt(ctx, dir, cfg, ts, n);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)T);
    for (int64_t t = 0; t < T; t++) ids[t] = (int32_t)((t * 7 + 3) % m->vocab);
    float *ref = malloc(sizeof(float) * (size_t)(T * m->vocab));
    float *got = malloc(sizeof(float) * (size_t)(T * m->vocab));
    naive_forward(m, ids, T, ref);
    awq_runtime_params rp = awq_runtime_default_params();
    rp.attn_block = block;
    opened o;
    if (open_model(ctx, dir, &rp, &o)) {
        CHECK_OK(ctx, awq_model_forward_logits(o.m, ids, 1, T, got));
        double e = ref_rel_err(got, ref, T * m->vocab);
        CHECK_MSG(e <= TOL_LOGITS, "%s: logits rel err %g vs the double reference", name, e);
        /* NLL path (chunked logits) agrees with log-softmax of the logits */
        double *nll = malloc(sizeof(double) * (size_t)(T - 1));
        CHECK_OK(ctx, awq_model_nll(o.m, ids, 1, T, nll));
        double worst = 0;
        for (int64_t t = 0; t + 1 < T; t++) {
            const float *z = ref + t * m->vocab;
            double mx = -1e300, s = 0;
            for (int64_t i = 0; i < m->vocab; i++) mx = fmax(mx, z[i]);
            for (int64_t i = 0; i < m->vocab; i++) s += exp(z[i] - mx);
            worst = fmax(worst, fabs(nll[t] - (mx + log(s) - z[ids[t + 1]])));
        }
        CHECK_MSG(worst <= TOL_NLL, "%s: nll abs err %g", name, worst);
        free(nll);
    }
    close_model(&o);
    free(ids), free(ref), free(got), free(dir);
}

/* Hand-made values: weights (7c + 3) mod 11 - 5 over 4 (c counts every
 * value written), norm weights 1, 1.25, 1.5 repeating. */
static float *pattern(int64_t n, bool norm, int *c) {
    float *p = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++, (*c)++)
        p[i] = norm ? 1.0f + 0.25f * (float)(*c % 3) : (float)((*c * 7 + 3) % 11 - 5) / 4.0f;
    return p;
}

static void test_naive_models(awq_ctx *ctx) {
    /* hand-made: hidden 4, 1 layer, 2 heads sharing 1 KV head of dim 2,
     * intermediate 3, vocab 6; weights from a fixed pattern */
    nmodel h = {.hidden = 4, .inter = 3, .layers = 1, .nh = 2, .nkv = 1, .hd = 2, .vocab = 6,
                .eps = 1e-6, .theta = 10000, .store = AWQ_DT_F32};
    {
        int c = 0;
        h.embed = pattern(24, false, &c);
        h.lm_head = pattern(24, false, &c);
        h.fnorm = pattern(4, true, &c);
        for (int l = 0; l < 7; l++) {
            int64_t N, K;
            lin_dims(&h, l, &N, &K);
            h.L[0].w[l] = pattern(N * K, false, &c);
        }
        h.L[0].ln1 = pattern(4, true, &c);
        h.L[0].ln2 = pattern(4, true, &c);
    }
    naive_case(ctx, "fwd_hand", &h, 5, 0, true);
    nmodel_free(&h);

    /* Qwen2-like: q/k/v biases, tied embeddings, FP16 storage, T = 300 with
     * 16-row attention blocks (19 query blocks, ragged tail) */
    nmodel q2 = {.hidden = 16, .inter = 24, .layers = 2, .nh = 4, .nkv = 2, .hd = 8,
                 .vocab = 32, .eps = 1e-6, .theta = 1e6, .qkv_bias = true, .tied = true,
                 .store = AWQ_DT_F16};
    naive_case(ctx, "fwd_qwen2like", &q2, 300, 16, false);
    nmodel_free(&q2);

    /* Qwen3-like: q/k norms, untied, BF16 storage, MHA */
    nmodel q3 = {.hidden = 24, .inter = 40, .layers = 2, .nh = 3, .nkv = 3, .hd = 8,
                 .vocab = 40, .eps = 1e-6, .theta = 5e5, .qk_norm = true,
                 .store = AWQ_DT_BF16};
    naive_case(ctx, "fwd_qwen3like", &q3, 70, 0, false);
    nmodel_free(&q3);
}

/* ---------------------------------------------------- 3. tiny-llama */

static void test_tiny_llama(awq_ctx *ctx, awq_ctx *ctx1) {
    cJSON *r = ref_load_json(ctx, AWQ_TEST_SRC "/ref/tiny_llama_ref.json");
    size_t nref = 0;
    float *ref = ref_load_f32(ctx, AWQ_TEST_SRC "/ref/tiny_llama_logits.f32", &nref);
    int T = 0;
    int32_t *ids = ref_json_ids(cJSON_GetObjectItem(r, "ids"), &T);
    const int64_t V = (int64_t)jnum(r, "vocab", 0);
    CHECK_EQ_INT(V, 4096);
    CHECK_EQ_INT(nref, 4 * V);
    opened o, o1;
    if (!open_model(ctx, AWQ_TEST_DATA "/tiny-llama", NULL, &o)) return;
    float *lg = malloc(sizeof(float) * (size_t)(T * V));
    CHECK_OK(ctx, awq_model_forward_logits(o.m, ids, 1, T, lg));
    const cJSON *pos = cJSON_GetObjectItem(r, "full_logits_positions");
    for (int k = 0; k < cJSON_GetArraySize(pos); k++) {
        int p = cJSON_GetArrayItem(pos, k)->valueint;
        double e = ref_rel_err(lg + (int64_t)p * V, ref + (int64_t)k * V, V);
        CHECK_MSG(e <= TOL_LOGITS, "tiny-llama position %d: logits rel err %g", p, e);
    }
    double *nll = malloc(sizeof(double) * (size_t)T);
    CHECK_OK(ctx, awq_model_nll(o.m, ids, 1, T, nll));
    const cJSON *rn = cJSON_GetObjectItem(r, "nll");
    double worst = 0;
    for (int t = 0; t + 1 < T; t++)
        worst = fmax(worst, fabs(nll[t] - cJSON_GetArrayItem(rn, t)->valuedouble));
    CHECK_MSG(worst <= TOL_NLL, "tiny-llama nll abs err %g", worst);

    /* determinism: the same with one thread, bit for bit */
    if (open_model(ctx1, AWQ_TEST_DATA "/tiny-llama", NULL, &o1)) {
        float *lg1 = malloc(sizeof(float) * (size_t)(T * V));
        CHECK_OK(ctx1, awq_model_forward_logits(o1.m, ids, 1, T, lg1));
        CHECK_MSG(memcmp(lg, lg1, sizeof(float) * (size_t)(T * V)) == 0,
                  "logits differ between 1 and 2 threads");
        free(lg1);
    }
    close_model(&o1);
    /* without the layer cache (every pass converts the layers again) */
    awq_runtime_params nc = awq_runtime_default_params();
    nc.layer_cache_bytes = 0;
    if (open_model(ctx, AWQ_TEST_DATA "/tiny-llama", &nc, &o1)) {
        float *lg1 = malloc(sizeof(float) * (size_t)(T * V));
        CHECK_OK(ctx, awq_model_forward_logits(o1.m, ids, 1, T, lg1));
        CHECK_OK(ctx, awq_model_forward_logits(o1.m, ids, 1, T, lg1));
        CHECK(memcmp(lg, lg1, sizeof(float) * (size_t)(T * V)) == 0);
        free(lg1);
    }
    close_model(&o1);

    /* two WikiText-2 windows as one batch; then through the ppl driver */
    const cJSON *wins = cJSON_GetObjectItem(r, "wiki_windows");
    int L = (int)jnum(r, "wiki_seqlen", 0);
    int32_t *wids = malloc(sizeof(int32_t) * (size_t)(2 * L));
    double ref_sum = 0;
    for (int w = 0; w < 2; w++) {
        int n = 0;
        int32_t *x = ref_json_ids(cJSON_GetObjectItem(cJSON_GetArrayItem(wins, w), "ids"), &n);
        CHECK_EQ_INT(n, L);
        memcpy(wids + w * L, x, sizeof(int32_t) * (size_t)L);
        free(x);
        ref_sum += jnum(cJSON_GetArrayItem(wins, w), "mean_nll", 0);
    }
    double *wn = malloc(sizeof(double) * (size_t)(2 * (L - 1)));
    CHECK_OK(ctx, awq_model_nll(o.m, wids, 2, L, wn));
    worst = 0;
    for (int w = 0; w < 2; w++) {
        const cJSON *rw = cJSON_GetObjectItem(cJSON_GetArrayItem(wins, w), "nll");
        for (int t = 0; t < L - 1; t++)
            worst = fmax(worst, fabs(wn[w * (L - 1) + t] - cJSON_GetArrayItem(rw, t)->valuedouble));
    }
    CHECK_MSG(worst <= TOL_NLL, "tiny-llama wiki windows nll abs err %g", worst);
    awq_ppl_params pp = awq_ppl_default_params();
    pp.seqlen = L;
    pp.batch = 1;
    awq_ppl_result res;
    double per[2];
    CHECK_EQ_INT(awq_ppl_n_windows(2 * L + 7, &pp), 2);
    CHECK_OK(ctx, awq_model_perplexity(o.m, wids, 2 * L, &pp, &res, per));
    CHECK_EQ_INT(res.n_windows, 2);
    CHECK_EQ_INT(res.n_predicted, 2 * (L - 1));
    CHECK_NEAR(res.mean_nll, ref_sum / 2, TOL_NLL);
    CHECK_NEAR(res.ppl, exp(ref_sum / 2), 1e-3);
    CHECK_NEAR(per[1], jnum(cJSON_GetArrayItem(wins, 1), "mean_nll", 0), TOL_NLL);
    /* add_bos: windows of BOS + 255 text tokens: 2*256 text tokens -> 2 windows */
    pp.add_bos = true;
    CHECK_EQ_INT(awq_ppl_n_windows(2 * L, &pp), 2);
    CHECK_OK(ctx, awq_model_perplexity(o.m, wids, 2 * L, &pp, &res, NULL));
    CHECK_EQ_INT(res.n_predicted, 2 * (L - 1));
    pp.add_bos = false;
    /* errors: too short, ids outside the vocabulary */
    CHECK_FAILS(ctx, awq_model_perplexity(o.m, wids, L - 1, &pp, &res, NULL),
                AWQ_ERR_INVALID_ARG, "255 tokens, fewer than one window of 256");
    int32_t bad = wids[5];
    wids[5] = (int32_t)V;
    CHECK_FAILS(ctx, awq_model_perplexity(o.m, wids, 2 * L, &pp, &res, NULL), AWQ_ERR_RANGE,
                "position 5");
    CHECK_FAILS(ctx, awq_model_forward_logits(o.m, wids, 1, 8, lg), AWQ_ERR_RANGE, "4096");
    wids[5] = bad;
    free(wn), free(wids), free(nll), free(lg), free(ids), free(ref);
    close_model(&o);
    cJSON_Delete(r);
}

/* --------------------------------------------- 4. transformers models */

static void test_device_emulation(awq_ctx *ctx, const char *dir, const int32_t *ids,
                                  int64_t T);

static void test_hf_models(awq_ctx *ctx) {
    static const char *const names[] = {"qwen2-tied", "qwen3", "llama-rope-llama3",
                                        "llama-rope-yarn", "mistral-rope-linear", "qwen2_5_vl",
                                        "llama-gelu", "phi3", "gemma2", "gemma3", "gemma3_vl",
                                        "mixtral", "qwen2_moe", "qwen3_moe", "mistral-window",
                                        "phi3-window", "deepseek_v3", "deepseek_v3-noqlora",
                                        "deepseek_v2", "deepseek_v2-group"};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(names); i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/ref/models/%s/ref.json", AWQ_TEST_SRC, names[i]);
        cJSON *r = ref_load_json(ctx, path);
        snprintf(path, sizeof path, "%s/ref/models/%s/logits.f32", AWQ_TEST_SRC, names[i]);
        size_t n = 0;
        float *ref = ref_load_f32(ctx, path, &n);
        int T = 0;
        int32_t *ids = ref_json_ids(cJSON_GetObjectItem(r, "ids"), &T);
        int64_t V = (int64_t)jnum(r, "vocab", 0);
        CHECK_EQ_INT(n, (int64_t)T * V);
        snprintf(path, sizeof path, "%s/ref/models/%s", AWQ_TEST_SRC, names[i]);
        opened o;
        if (open_model(ctx, path, NULL, &o)) {
            float *lg = malloc(sizeof(float) * n);
            CHECK_OK(ctx, awq_model_forward_logits(o.m, ids, 1, T, lg));
            double e = ref_rel_err(lg, ref, (int64_t)n);
            CHECK_MSG(e <= TOL_LOGITS, "%s: logits rel err %g vs transformers", names[i], e);
            free(lg);
        }
        close_model(&o);
        /* the new families on a device backend: fused-linear row slices,
         * (1 + w) norms, soft-capping, GELU, expert routing use only the
         * backend ops (the emulated device faults on any host access) */
        if (i >= 6) test_device_emulation(ctx, path, ids, T);
        free(ref), free(ids);
        cJSON_Delete(r);
    }
}

/* ------------------------------------------------ 5. per-layer API */

typedef struct {
    float *buf[AWQ_CAPTURE_COUNT];
    int64_t rows[AWQ_CAPTURE_COUNT], cols[AWQ_CAPTURE_COUNT];
    int calls[AWQ_CAPTURE_COUNT];
    bool order_ok;
} capt;

static awq_status on_capture(void *user, int64_t layer, awq_capture_point p, int64_t row0,
                             int64_t n_rows, int64_t n_cols, const float *x) {
    capt *c = user;
    (void)layer;
    if (row0 != c->rows[p]) c->order_ok = false;
    c->buf[p] = realloc(c->buf[p], sizeof(float) * (size_t)((row0 + n_rows) * n_cols));
    memcpy(c->buf[p] + row0 * n_cols, x, sizeof(float) * (size_t)(n_rows * n_cols));
    c->rows[p] = row0 + n_rows;
    c->cols[p] = n_cols;
    c->calls[p]++;
    return AWQ_OK;
}

static awq_status failing_capture(void *user, int64_t layer, awq_capture_point p, int64_t row0,
                                  int64_t n_rows, int64_t n_cols, const float *x) {
    (void)user, (void)layer, (void)p, (void)row0, (void)n_rows, (void)n_cols, (void)x;
    return AWQ_ERR_CANCELLED;
}

static void test_layer_api(awq_ctx *ctx) {
    opened o;
    if (!open_model(ctx, AWQ_TEST_DATA "/tiny-llama", NULL, &o)) return;
    const awq_model_config *c = awq_model_get_config(o.m);
    CHECK(awq_model_host_memory(o.m));
    CHECK(strcmp(awq_model_prefix(o.m), "model.") == 0);
    const int64_t B = 2, T = 40, R = B * T, H = c->hidden;
    int32_t ids[80];
    for (int i = 0; i < 80; i++) ids[i] = (int32_t)((i * 131 + 7) % c->vocab);
    float *x = malloc(sizeof(float) * (size_t)(R * H)), *ref = malloc(sizeof(float) * (size_t)(R * H));
    float *xn = malloc(sizeof(float) * (size_t)(R * H)), *a = malloc(sizeof(float) * (size_t)(R * H));
    float *h = malloc(sizeof(float) * (size_t)(R * H));
    CHECK_OK(ctx, awq_model_embed(o.m, ids, R, x));
    awq_layer *l = NULL;
    CHECK_OK(ctx, awq_layer_load(o.m, 0, &l));
    if (!l) return;
    CHECK_EQ_INT(awq_layer_index(l), 0);
    int64_t no = 0, ni = 0;
    CHECK(awq_layer_weight(l, AWQ_LIN_K, &no, &ni) != NULL && no == 128 && ni == 256);
    CHECK(awq_layer_bias(l, AWQ_LIN_Q) == NULL);
    CHECK(awq_layer_norm_weight(l, AWQ_NORM_Q, NULL) == NULL);
    CHECK(awq_layer_weight(l, 7, NULL, NULL) == NULL);
    CHECK(awq_layer_bytes(l) > 4u * (4 * 256 * 256 + 3 * 256 * 768 - 2 * 256 * 128));

    capt cap;
    memset(&cap, 0, sizeof cap);
    cap.order_ok = true;
    awq_layer_set_capture(l, on_capture, &cap, 0xF | (1u << AWQ_CAPTURE_MLP_OUT));
    CHECK_OK(ctx, awq_layer_forward(l, x, ref, B, T));
    awq_layer_set_capture(l, NULL, NULL, 0);
    CHECK(cap.order_ok);
    /* the four points of a Llama layer and its MLP's output (the MLA ones
     * never fire here) */
    for (int p = 0; p <= AWQ_CAPTURE_DOWN_IN; p++) CHECK_EQ_INT(cap.rows[p], R);
    CHECK_EQ_INT(cap.rows[AWQ_CAPTURE_MLP_OUT], R);
    CHECK_EQ_INT(cap.cols[AWQ_CAPTURE_MLP_OUT], H);
    CHECK_EQ_INT(cap.rows[AWQ_CAPTURE_Q_B_IN] + cap.rows[AWQ_CAPTURE_KV_B_IN], 0);
    CHECK_EQ_INT(cap.cols[AWQ_CAPTURE_DOWN_IN], c->intermediate);

    /* the same layer from its parts: norm, attention block, residual, norm,
     * MLP block, residual -- bit for bit */
    CHECK_OK(ctx, awq_layer_norm(l, AWQ_NORM_INPUT, x, xn, R));
    CHECK(memcmp(xn, cap.buf[AWQ_CAPTURE_QKV_IN], sizeof(float) * (size_t)(R * H)) == 0);
    CHECK_OK(ctx, awq_layer_attn(l, xn, a, B, T));
    for (int64_t i = 0; i < R * H; i++) h[i] = x[i] + a[i];
    /* o_proj applied to the captured attention output gives the block output */
    float *a2 = malloc(sizeof(float) * (size_t)(R * H));
    CHECK_OK(ctx, awq_layer_linear(l, AWQ_LIN_O, cap.buf[AWQ_CAPTURE_O_IN], a2, R));
    CHECK(memcmp(a, a2, sizeof(float) * (size_t)(R * H)) == 0);
    CHECK_OK(ctx, awq_layer_norm(l, AWQ_NORM_POST_ATTN, h, xn, R));
    CHECK(memcmp(xn, cap.buf[AWQ_CAPTURE_GATE_UP_IN], sizeof(float) * (size_t)(R * H)) == 0);
    CHECK_OK(ctx, awq_layer_mlp(l, xn, a, R));
    /* the captured MLP output is the MLP block's, bit for bit (the search's
     * reference for gate/up and down: awq_search_acts.fp_is_mlp_out) */
    CHECK(memcmp(a, cap.buf[AWQ_CAPTURE_MLP_OUT], sizeof(float) * (size_t)(R * H)) == 0);
    for (int64_t i = 0; i < R * H; i++) h[i] += a[i];
    CHECK(memcmp(h, ref, sizeof(float) * (size_t)(R * H)) == 0);
    CHECK_OK(ctx, awq_layer_linear(l, AWQ_LIN_DOWN, cap.buf[AWQ_CAPTURE_DOWN_IN], a2, R));
    CHECK(memcmp(a, a2, sizeof(float) * (size_t)(R * H)) == 0);

    /* batch of 2 = each sequence alone */
    float *one = malloc(sizeof(float) * (size_t)(T * H));
    CHECK_OK(ctx, awq_layer_forward(l, x + T * H, one, 1, T));
    CHECK(ref_rel_err(one, ref + T * H, T * H) <= 1e-6);

    /* substituting q_proj: zero weights change the output, NULL restores */
    int64_t nq = 256 * 256;
    float *zeros = calloc((size_t)nq, sizeof(float));
    CHECK_OK(ctx, awq_layer_set_weight(l, AWQ_LIN_Q, zeros));
    CHECK(awq_layer_weight(l, AWQ_LIN_Q, NULL, NULL) == zeros);
    CHECK_OK(ctx, awq_layer_forward(l, x, h, B, T));
    CHECK(ref_rel_err(h, ref, R * H) > 1e-3);
    CHECK_OK(ctx, awq_layer_set_weight(l, AWQ_LIN_Q, NULL));
    CHECK_OK(ctx, awq_layer_forward(l, x, h, B, T));
    CHECK(memcmp(h, ref, sizeof(float) * (size_t)(R * H)) == 0);
    CHECK_FAILS(ctx, awq_layer_set_weight(l, 9, NULL), AWQ_ERR_INVALID_ARG, "out of range");

    /* a failing capture stops the forward with its status */
    awq_layer_set_capture(l, failing_capture, NULL, 1u << AWQ_CAPTURE_DOWN_IN);
    CHECK_FAILS(ctx, awq_layer_forward(l, x, h, B, T), AWQ_ERR_CANCELLED, "capture");
    awq_layer_free(l);
    awq_layer_free(NULL);
    CHECK_FAILS(ctx, awq_layer_load(o.m, 6, &l), AWQ_ERR_INVALID_ARG, "out of range");

    /* the final norm + lm_head on the model's own output = forward logits */
    float *lg = malloc(sizeof(float) * (size_t)(R * c->vocab));
    float *lg2 = malloc(sizeof(float) * (size_t)(R * c->vocab));
    CHECK_OK(ctx, awq_model_forward_logits(o.m, ids, B, T, lg));
    CHECK_OK(ctx, awq_model_run_layers(o.m, x, B, T));
    CHECK_OK(ctx, awq_model_logits(o.m, x, lg2, R));
    CHECK(memcmp(lg, lg2, sizeof(float) * (size_t)(R * c->vocab)) == 0);
    for (int p = 0; p < AWQ_CAPTURE_COUNT; p++) free(cap.buf[p]);
    free(x), free(ref), free(xn), free(a), free(a2), free(h), free(one), free(zeros), free(lg),
        free(lg2);
    close_model(&o);
}

/* ------------------------------------------ quantized checkpoints */

static void test_device_emulation(awq_ctx *ctx, const char *dir, const int32_t *ids,
                                  int64_t T);

static void test_quantized(awq_ctx *ctx) {
    nmodel m = {.hidden = 64, .inter = 128, .layers = 1, .nh = 4, .nkv = 2, .hd = 16,
                .vocab = 50, .eps = 1e-6, .theta = 10000, .store = AWQ_DT_F32};
    nmodel_random(&m);
    static const awq_qformat fmts[] = {AWQ_QFMT_AWQ_GEMM, AWQ_QFMT_AWQ_GEMV, AWQ_QFMT_GPTQ,
                                       AWQ_QFMT_GPTQ_V2};
    const int64_t T = 20;
    int32_t ids[20];
    for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 17 + 5) % m.vocab);
    for (size_t f = 0; f < AWQ_ARRAY_LEN(fmts); f++) {
        awq_quant_params qp = awq_quant_default_params();
        qp.bits = 4;
        qp.group_size = 32;
        qp.sym = fmts[f] == AWQ_QFMT_GPTQ; /* v1 cannot store zero points of 0 */
        nmodel dq = m; /* same norms/embeddings, dequantized linears */
        wtensor ts[64], tq[64];
        awq_packed pk[7];
        memset(pk, 0, sizeof pk);
        for (int l = 0; l < 7; l++) {
            int64_t N, K;
            lin_dims(&m, l, &N, &K);
            awq_qtensor qt;
            memset(&qt, 0, sizeof qt);
            CHECK_OK(ctx, awq_quantize(ctx, k_lin[l], m.L[0].w[l], N, K, &qp, &qt));
            dq.L[0].w[l] = malloc(sizeof(float) * (size_t)(N * K));
            CHECK_OK(ctx, awq_dequantize(ctx, &qt, dq.L[0].w[l]));
            awq_pack_params pkp = awq_pack_default_params();
            CHECK_OK(ctx, awq_pack(ctx, k_lin[l], fmts[f], &qt, &pkp, &pk[l], NULL));
            awq_qtensor_free(&qt);
        }
        int nq = nmodel_tensors(&m, tq, true, NULL);
        for (int l = 0; l < 7; l++)
            for (int i = 0; i < pk[l].n_tensors; i++) {
                wtensor *t = &tq[nq++];
                memset(t, 0, sizeof *t);
                snprintf(t->name, sizeof t->name, "model.layers.0.%s.%s", k_lin[l],
                         pk[l].t[i].suffix);
                t->dt = pk[l].t[i].dtype;
                t->ndim = pk[l].t[i].ndim;
                t->shape[0] = pk[l].t[i].shape[0];
                t->shape[1] = pk[l].t[i].shape[1];
                t->raw = pk[l].t[i].data;
                t->n_bytes = pk[l].t[i].n_bytes;
            }
        awq_qconfig_fields qf = {.bits = 4, .group_size = 32, .sym = qp.sym};
        cJSON *qc = NULL;
        CHECK_OK(ctx, awq_format_quant_config(ctx, fmts[f], &qf, &qc));
        char *qs = cJSON_PrintUnformatted(qc);
        char extra[1024], cfg[4096];
        snprintf(extra, sizeof extra, ", \"quantization_config\": %s", qs);
        config_json(&m, extra, cfg, sizeof cfg);
        char name[64];
        snprintf(name, sizeof name, "fwd_quant_%d", (int)fmts[f]);
        char *dir = awq_test_tmpdir(name);
        write_ckpt(ctx, dir, cfg, tq, nq);
        int nd = nmodel_tensors(&dq, ts, false, NULL);
        snprintf(name, sizeof name, "fwd_dequant_%d", (int)fmts[f]);
        char *dir2 = awq_test_tmpdir(name);
        config_json(&dq, NULL, cfg, sizeof cfg);
        write_ckpt(ctx, dir2, cfg, ts, nd);
        float *a = malloc(sizeof(float) * (size_t)(T * m.vocab));
        float *b = malloc(sizeof(float) * (size_t)(T * m.vocab));
        opened o1, o2;
        if (open_model(ctx, dir, NULL, &o1) && open_model(ctx, dir2, NULL, &o2)) {
            CHECK_OK(ctx, awq_model_forward_logits(o1.m, ids, 1, T, a));
            CHECK_OK(ctx, awq_model_forward_logits(o2.m, ids, 1, T, b));
            CHECK_MSG(memcmp(a, b, sizeof(float) * (size_t)(T * m.vocab)) == 0,
                      "%s checkpoint differs from its dequantized weights",
                      awq_format_get(fmts[f])->name);
            /* and it is a quantized model, not the original */
            float *c0 = malloc(sizeof(float) * (size_t)(T * m.vocab));
            naive_forward(&m, ids, T, c0);
            CHECK(ref_rel_err(a, c0, T * m.vocab) > 1e-4);
            free(c0);
            /* dequantized on the host, then uploaded, on a device backend */
            test_device_emulation(ctx, dir, ids, T);
        } else {
            CHECK_MSG(false, "%s: cannot open", awq_format_get(fmts[f])->name);
        }
        close_model(&o1);
        close_model(&o2);
        for (int l = 0; l < 7; l++) {
            free(dq.L[0].w[l]);
            awq_packed_free(&pk[l]);
        }
        free(a), free(b), free(dir), free(dir2), free(qs);
        cJSON_Delete(qc);
    }
    nmodel_free(&m);
}


/* ---------------------------------------- 6. emulated device backend */

/* A backend with device memory semantics built on the CPU backend: buffers
 * are page-aligned mappings kept PROT_NONE while no op of this backend
 * runs. */
typedef struct {
    void *p;
    size_t len;
} region;
static region g_reg[1024];
static int g_nreg;
static awq_backend *g_cpu;

static void prot_all(int prot) {
    for (int i = 0; i < g_nreg; i++)
        if (mprotect(g_reg[i].p, g_reg[i].len, prot) != 0) abort();
}
#define ENTER() prot_all(PROT_READ | PROT_WRITE)
#define LEAVE() prot_all(PROT_NONE)

static awq_status dev_alloc(awq_backend *be, size_t bytes, void **out) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = ((bytes ? bytes : 1) + pg - 1) / pg * pg;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || g_nreg == (int)AWQ_ARRAY_LEN(g_reg))
        return awq_fail(be->ctx, AWQ_ERR_NOMEM, "emulated device: out of memory");
    g_reg[g_nreg].p = p;
    g_reg[g_nreg++].len = len;
    *out = p;
    return AWQ_OK;
}
static void dev_free(awq_backend *be, void *p) {
    (void)be;
    for (int i = 0; i < g_nreg; i++)
        if (g_reg[i].p == p) {
            munmap(p, g_reg[i].len);
            g_reg[i] = g_reg[--g_nreg];
            return;
        }
    if (p) abort(); /* not ours */
}
static awq_status dev_copy(awq_backend *be, void *d, const void *s, size_t n) {
    (void)be;
    ENTER();
    memmove(d, s, n);
    LEAVE();
    return AWQ_OK;
}
static awq_status dev_sync(awq_backend *be) {
    (void)be;
    return AWQ_OK;
}
static void dev_destroy(awq_backend *be) { (void)be; }
static awq_status dev_gemm(awq_backend *be, const float *x, const void *w, awq_dtype t,
                           const float *b, float *y, int64_t M, int64_t N, int64_t K) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->gemm(g_cpu, x, w, t, b, y, M, N, K);
    LEAVE();
    return s;
}
static awq_status dev_rmsnorm(awq_backend *be, const float *x, const float *w, float *y,
                              int64_t M, int64_t D, float eps) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->rmsnorm(g_cpu, x, w, y, M, D, eps);
    LEAVE();
    return s;
}
static awq_status dev_rope(awq_backend *be, float *x, int64_t B, int64_t T, int64_t nh,
                           int64_t hd, const float *c, const float *sn, int64_t np, int64_t p0) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->rope(g_cpu, x, B, T, nh, hd, c, sn, np, p0);
    LEAVE();
    return s;
}
static awq_status dev_attn(awq_backend *be, const float *q, const float *k, const float *v,
                           float *o, const awq_attn_desc *d) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->attention(g_cpu, q, k, v, o, d);
    LEAVE();
    return s;
}
static awq_status dev_silu(awq_backend *be, const float *g, const float *u, float *o,
                           int64_t n) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->silu_mul(g_cpu, g, u, o, n);
    LEAVE();
    return s;
}
static awq_status dev_act(awq_backend *be, awq_act a, const float *g, const float *u, float *o,
                          int64_t n) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->act_mul(g_cpu, a, g, u, o, n);
    LEAVE();
    return s;
}
static awq_status dev_softcap(awq_backend *be, float *x, int64_t n, float cap) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->softcap(g_cpu, x, n, cap);
    LEAVE();
    return s;
}
static awq_status dev_add(awq_backend *be, float *y, const float *x, int64_t n) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->add(g_cpu, y, x, n);
    LEAVE();
    return s;
}
static awq_status dev_scale_cols(awq_backend *be, float *x, const float *sc, int64_t M,
                                 int64_t N, bool div) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->scale_cols(g_cpu, x, sc, M, N, div);
    LEAVE();
    return s;
}
static awq_status dev_scale_rows(awq_backend *be, float *x, const float *sc, int64_t M,
                                 int64_t N, bool div) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->scale_rows(g_cpu, x, sc, M, N, div);
    LEAVE();
    return s;
}
static awq_status dev_colmean(awq_backend *be, const float *x, int64_t M, int64_t N,
                              float *o) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->col_mean_abs(g_cpu, x, M, N, o);
    LEAVE();
    return s;
}
static awq_status dev_mse(awq_backend *be, const float *a, const float *b, int64_t n,
                          double *o) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->mse(g_cpu, a, b, n, o);
    LEAVE();
    return s;
}
static awq_status dev_nll(awq_backend *be, const float *l, const int32_t *t, int64_t M,
                          int64_t V, double *n) {
    (void)be;
    ENTER();
    awq_status s = g_cpu->ops->nll_rows(g_cpu, l, t, M, V, n);
    LEAVE();
    return s;
}

static const awq_backend_ops k_dev_ops = {
    .name = "emulated-device", .mem = AWQ_MEM_DEVICE, .destroy = dev_destroy,
    .alloc = dev_alloc, .free = dev_free, .upload = dev_copy, .download = dev_copy,
    .copy = dev_copy, .sync = dev_sync, .gemm = dev_gemm, .rmsnorm = dev_rmsnorm,
    .rope = dev_rope, .attention = dev_attn, .silu_mul = dev_silu, .add = dev_add,
    .act_mul = dev_act, .softcap = dev_softcap,
    .scale_cols = dev_scale_cols, .scale_rows = dev_scale_rows, .col_mean_abs = dev_colmean,
    .mse = dev_mse, .nll_rows = dev_nll};

static awq_backend g_dev;

static awq_backend *emu_device(awq_ctx *ctx) {
    if (!g_cpu) CHECK_OK(ctx, awq_backend_create(ctx, AWQ_BACKEND_CPU, 0, &g_cpu));
    g_dev.ops = &k_dev_ops;
    g_dev.ctx = ctx;
    g_dev.kind = AWQ_BACKEND_CUDA;
    return &g_dev;
}

/* The same logits, NLL and perplexity on the emulated device as on the
 * CPU backend, bit for bit. */
static void test_device_emulation(awq_ctx *ctx, const char *dir, const int32_t *ids, int64_t T) {
    opened o;
    awq_model *dm = NULL;
    if (!open_model(ctx, dir, NULL, &o)) return;
    CHECK_OK(ctx, awq_model_open_backend(ctx, o.ck, NULL, emu_device(ctx), &dm));
    if (dm) {
        CHECK(!awq_model_host_memory(dm));
        int64_t V = awq_model_get_config(dm)->vocab, H = awq_model_get_config(dm)->hidden;
        float *a = malloc(sizeof(float) * (size_t)(T * V)), *b = malloc(sizeof(float) * (size_t)(T * V));
        CHECK_OK(ctx, awq_model_forward_logits(o.m, ids, 1, T, a));
        CHECK_OK(ctx, awq_model_forward_logits(dm, ids, 1, T, b));
        CHECK_MSG(memcmp(a, b, sizeof(float) * (size_t)(T * V)) == 0,
                  "%s: device logits differ from the CPU's", dir);
        double *na = malloc(sizeof(double) * (size_t)T), *nb = malloc(sizeof(double) * (size_t)T);
        CHECK_OK(ctx, awq_model_nll(o.m, ids, 1, T, na));
        CHECK_OK(ctx, awq_model_nll(dm, ids, 1, T, nb));
        CHECK(memcmp(na, nb, sizeof(double) * (size_t)(T - 1)) == 0);
        /* the layer API with buffers in device memory */
        float *x = NULL, *y = NULL, *hx = malloc(sizeof(float) * (size_t)(T * H));
        float *hy = malloc(sizeof(float) * (size_t)(T * H)), *hz = malloc(sizeof(float) * (size_t)(T * H));
        CHECK_OK(ctx, awq_model_alloc(dm, sizeof(float) * (size_t)(T * H), (void **)&x));
        CHECK_OK(ctx, awq_model_alloc(dm, sizeof(float) * (size_t)(T * H), (void **)&y));
        CHECK_OK(ctx, awq_model_embed(dm, ids, T, x));
        CHECK_OK(ctx, awq_model_embed(o.m, ids, T, hx));
        awq_layer *l = NULL, *hl = NULL;
        CHECK_OK(ctx, awq_layer_load(dm, 0, &l));
        CHECK_OK(ctx, awq_layer_load(o.m, 0, &hl));
        if (l && hl) {
            CHECK_OK(ctx, awq_layer_forward(l, x, y, 1, T));
            CHECK_OK(ctx, awq_layer_forward(hl, hx, hy, 1, T));
            CHECK_OK(ctx, awq_model_download(dm, hz, y, sizeof(float) * (size_t)(T * H)));
            CHECK(memcmp(hy, hz, sizeof(float) * (size_t)(T * H)) == 0);
        }
        awq_layer_free(l);
        awq_layer_free(hl);
        awq_model_free_buf(dm, x);
        awq_model_free_buf(dm, y);
        free(a), free(b), free(na), free(nb), free(hx), free(hy), free(hz);
    }
    awq_model_free(dm);
    CHECK_EQ_INT(g_nreg, 0); /* everything the model allocated was freed */
    close_model(&o);
}

/* ------------------------------------------------------------ errors */

static void test_errors(awq_ctx *ctx) {
    nmodel m = {.hidden = 16, .inter = 16, .layers = 1, .nh = 2, .nkv = 1, .hd = 8,
                .vocab = 20, .eps = 1e-6, .theta = 10000, .store = AWQ_DT_F32};
    nmodel_random(&m);
    wtensor ts[64];
    char cfg[2048];
    awq_checkpoint *ck = NULL;
    awq_model *mod = NULL;

    /* a missing norm weight is named at open */
    char *dir = awq_test_tmpdir("fwd_err_missing");
    int n = nmodel_tensors(&m, ts, false, "model.layers.0.post_attention_layernorm.weight");
    config_json(&m, NULL, cfg, sizeof cfg);
    write_ckpt(ctx, dir, cfg, ts, n);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    CHECK_FAILS(ctx, awq_model_open(ctx, ck, NULL, &mod), AWQ_ERR_NOT_FOUND,
                "model.layers.0.post_attention_layernorm.weight");
    CHECK(mod == NULL);
    awq_checkpoint_free(ck);
    free(dir);

    /* a wrong shape is named with both shapes */
    dir = awq_test_tmpdir("fwd_err_shape");
    n = nmodel_tensors(&m, ts, false, NULL);
    for (int i = 0; i < n; i++)
        if (strcmp(ts[i].name, "model.layers.0.mlp.up_proj.weight") == 0) ts[i].shape[0] = 8;
    write_ckpt(ctx, dir, cfg, ts, n);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    CHECK_FAILS(ctx, awq_model_open(ctx, ck, NULL, &mod), AWQ_ERR_MISMATCH, "[16, 16]");
    awq_checkpoint_free(ck);
    free(dir);

    /* unsupported architecture */
    dir = awq_test_tmpdir("fwd_err_arch");
    n = nmodel_tensors(&m, ts, false, NULL);
    char *p = strstr(cfg, "LlamaForCausalLM");
    memcpy(p, "GemmaForCausalLM", 16);
    write_ckpt(ctx, dir, cfg, ts, n);
    CHECK_OK(ctx, awq_checkpoint_open(ctx, dir, &ck));
    CHECK_FAILS(ctx, awq_model_open(ctx, ck, NULL, &mod), AWQ_ERR_UNSUPPORTED,
                "GemmaForCausalLM");
    awq_checkpoint_free(ck);
    free(dir);

    /* Mistral sliding window shorter than the sequence: computed (it used
     * to be refused), and it changes the logits beyond the window only
     * (transformers agreement: the mistral-window fixture) */
    dir = awq_test_tmpdir("fwd_window");
    char *dir2 = awq_test_tmpdir("fwd_window_none");
    char cfg2[2048];
    config_json(&m, ", \"sliding_window\": 8", cfg, sizeof cfg);
    config_json(&m, "", cfg2, sizeof cfg2);
    char *cfgs[2] = {cfg, cfg2};
    for (int k = 0; k < 2; k++) {
        char tmp[2048];
        char *q = strstr(cfgs[k], "LlamaForCausalLM");
        snprintf(tmp, sizeof tmp, "%.*sMistralForCausalLM%s", (int)(q - cfgs[k]), cfgs[k], q + 16);
        snprintf(cfgs[k], 2048, "%s", tmp);
    }
    write_ckpt(ctx, dir, cfg, ts, n);
    write_ckpt(ctx, dir2, cfg2, ts, n);
    opened o, o2;
    memset(&o, 0, sizeof o);
    memset(&o2, 0, sizeof o2);
    if (open_model(ctx, dir, NULL, &o) && open_model(ctx, dir2, NULL, &o2)) {
        int32_t ids[16];
        for (int i = 0; i < 16; i++) ids[i] = (i * 7) % 20;
        float *lg = malloc(sizeof(float) * 16 * 20), *lf = malloc(sizeof(float) * 16 * 20);
        CHECK_OK(ctx, awq_model_forward_logits(o.m, ids, 1, 16, lg));
        CHECK_OK(ctx, awq_model_forward_logits(o2.m, ids, 1, 16, lf));
        CHECK(memcmp(lg, lf, sizeof(float) * 8 * 20) == 0);   /* positions < 8 */
        CHECK(ref_rel_err(lg + 8 * 20, lf + 8 * 20, 8 * 20) > 1e-4); /* beyond */
        free(lg), free(lf);
    }
    close_model(&o);
    close_model(&o2);
    free(dir);
    free(dir2);
    nmodel_free(&m);
    awq_model_free(NULL);
}

/* Bad mixture-of-experts inputs are refused naming the field or tensor. */
static void test_moe_errors(awq_ctx *ctx) {
    struct {
        const char *model, *from, *to;
        awq_status st;
        const char *msg;
    } cases[] = {
        /* the config states fewer or more experts than the router has */
        {"mixtral", "\"num_local_experts\": 4", "\"num_local_experts\": 3", AWQ_ERR_MISMATCH,
         "block_sparse_moe.gate.weight' has shape [4, 32], the config implies [3, 32]"},
        {"mixtral", "\"num_local_experts\": 4", "\"num_local_experts\": 5", AWQ_ERR_MISMATCH,
         "the config implies [5, 32]"},
        /* a missing expert (renamed in the safetensors header) is named */
        {"mixtral", "layers.1.block_sparse_moe.experts.2.w1.weight",
         "layers.1.block_sparse_moe.experts.2.w9.weight", AWQ_ERR_NOT_FOUND,
         "'model.layers.1.block_sparse_moe.experts.2.w1.weight' is missing (config: "
         "num_local_experts = 4 experts)"},
        {"qwen3_moe", "\"num_experts_per_tok\": 3", "\"num_experts_per_tok\": 9",
         AWQ_ERR_FORMAT, "num_experts_per_tok 9 exceeds"},
        {"qwen2_moe", "\"mlp_only_layers\": [\n    1\n  ]", "\"mlp_only_layers\": [7]",
         AWQ_ERR_FORMAT, "mlp_only_layers holds 7"},
        /* a dense layer where the checkpoint has experts: its MLP is missing */
        {"qwen2_moe", "\"mlp_only_layers\": [\n    1\n  ]", "\"mlp_only_layers\": [0]",
         AWQ_ERR_NOT_FOUND, "model.layers.0.mlp.gate_proj.weight' is missing"},
        /* absent: the config class's default width (5632), not the tensors' */
        {"qwen2_moe", "\"shared_expert_intermediate_size\": 40", "\"shared_expert_x\": 40",
         AWQ_ERR_MISMATCH, "shared_expert.gate_proj.weight' has shape [40, 32], the config "
         "implies [5632, 32]"},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(cases); i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "fwd_moe_err_%zu", i);
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
    awq_ctx *ctx = awq_test_ctx(2), *ctx1 = awq_test_ctx(1);
    test_moe_errors(ctx);
    test_rope_fixture(ctx);
    test_naive_models(ctx);
    test_tiny_llama(ctx, ctx1);
    test_hf_models(ctx);
    test_layer_api(ctx);
    test_quantized(ctx);
    test_errors(ctx);
    {
        int32_t ids[100];
        for (int i = 0; i < 100; i++) ids[i] = (int32_t)((i * 389 + 11) % 4096);
        test_device_emulation(ctx, AWQ_TEST_DATA "/tiny-llama", ids, 100);
    }
    awq_backend_free(g_cpu);
    awq_ctx_free(ctx);
    awq_ctx_free(ctx1);
    return awq_test_summary();
}
