/* lib/model/model_load.c — opening a model and loading its layers: the
 * checkpoint's tensors are checked against the architecture table and the
 * config (names, shapes, dtypes, biases, finiteness), quantized linears
 * (AWQ, GPTQ, compressed-tensors int / FP8 / NVFP4) are dequantized, and a
 * layer's weights are converted to fp32 on the backend when it is loaded
 * (awq_layer_load), so the peak is about one layer. The compute is in
 * forward.c. */

#include "model/forward.h"
#include "quant/ct.h"

#include "awqkit/checkpoint.h"
#include "awqkit/quant.h"
#include "core/core.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/rope.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "model/model_impl.h"


/* ------------------------------------------------------------ helpers */

static const char *const k_norm_names[AWQ_NORM_COUNT] = {
    "input_layernorm", "post_attention_layernorm", "self_attn.q_norm",
    "self_attn.k_norm", "pre_feedforward_layernorm", "post_feedforward_layernorm",
    "self_attn.q_a_layernorm", "self_attn.kv_a_layernorm"};

const char *awq_layer_norm_name(awq_layer_norm_id which) {
    return ((int)which >= 0 && which < AWQ_NORM_COUNT) ? k_norm_names[which] : NULL;
}

int awq_layer_norm_find(const char *name) {
    for (int k = 0; name && k < AWQ_NORM_COUNT; k++)
        if (strcmp(k_norm_names[k], name) == 0) return k;
    return -1;
}

static void layer_tensor_name(const awq_model *m, int64_t layer, const char *what,
                              const char *suffix, char *buf, size_t n);

/* Whether linear `lin` is one of the dense MLP's (absent from MoE layers). */
static bool is_mlp_linear(const awq_arch *a, int lin) {
    return !awq_arch_linear_is_attn(a, lin);
}

/* The items after the experts: the shared expert's gate, up, down (0..2,
 * when it has a width), its sigmoid gate, the router's correction bias;
 * -1 past the end. */
enum { MOE_TAIL_SHARED_GATE = 3, MOE_TAIL_ROUTER_BIAS = 4 };
static int moe_tail(const awq_model *m, int64_t j) {
    const awq_moe_desc *d = m->arch->moe;
    bool shared = d->shared_expert && m->cfg.shared_intermediate > 0;
    if (shared) {
        if (j < 3) return (int)j;
        j -= 3;
        if (d->shared_gate) {
            if (j == 0) return MOE_TAIL_SHARED_GATE;
            j--;
        }
    }
    if (d->router_bias && j == 0) return MOE_TAIL_ROUTER_BIAS;
    return -1;
}

/* The tensors of a MoE layer, in a fixed order: router, expert e's gate,
 * up, down (3 per expert), then the shared expert's three, its gate and
 * the router's correction bias (moe_tail).
 * Name and shape [n0, n1] of item `it`; false past the end. */
/* `what` (>= 96 bytes) receives the name relative to the layer; *linear:
 * whether the item is an expert linear (packed in a quantized checkpoint;
 * the router and the shared expert's gate stay dense). */
static bool moe_item(const awq_model *m, int64_t layer, int64_t it, char *name, size_t n,
                     int64_t *n0, int64_t *n1, char *what, bool *linear) {
    const awq_model_config *c = &m->cfg;
    const awq_moe_desc *d = m->arch->moe;
    int64_t E = c->n_experts, H = c->hidden, I = c->moe_intermediate, SI = c->shared_intermediate;
    *linear = false;
    if (it == 0) {
        snprintf(what, 96, "%s", d->router);
        layer_tensor_name(m, layer, what, "weight", name, n);
        *n0 = E;
        *n1 = H;
        return true;
    }
    it--;
    if (it < 3 * E) {
        snprintf(what, 96, "%s.%lld.%s", d->experts, (long long)(it / 3),
                 d->expert_linears[it % 3]);
        layer_tensor_name(m, layer, what, "weight", name, n);
        *n0 = it % 3 == 2 ? H : I;
        *n1 = it % 3 == 2 ? I : H;
        *linear = true;
        return true;
    }
    it -= 3 * E;
    int tail = moe_tail(m, it);
    if (tail < 0) return false;
    if (tail == MOE_TAIL_ROUTER_BIAS) {
        /* DeepSeek-V3: 1-D [E] */
        snprintf(what, 96, "%s", d->router);
        layer_tensor_name(m, layer, what, "e_score_correction_bias", name, n);
        *n0 = E;
        *n1 = -1;
        return true;
    }
    if (tail == MOE_TAIL_SHARED_GATE) {
        snprintf(what, 96, "%s", d->shared_gate);
        layer_tensor_name(m, layer, what, "weight", name, n);
        *n0 = 1;
        *n1 = H;
        return true;
    }
    it = tail;
    static const char *const k_parts[3] = {"gate_proj", "up_proj", "down_proj"};
    snprintf(what, 96, "%s.%s", d->shared_expert, k_parts[it]);
    layer_tensor_name(m, layer, what, "weight", name, n);
    *n0 = it == 2 ? H : SI;
    *n1 = it == 2 ? SI : H;
    *linear = true;
    return true;
}

/* Slot of item `it` in a layer's awq_moe_weights. */
static float **moe_slot(const awq_model *m, awq_moe_weights *w, int64_t E, int64_t it) {
    if (it == 0) return &w->router;
    if (it <= 3 * E) return &w->experts[it - 1];
    int tail = moe_tail(m, it - 3 * E - 1);
    return tail == MOE_TAIL_ROUTER_BIAS   ? &w->router_bias
           : tail == MOE_TAIL_SHARED_GATE ? &w->shared_gate
                                          : &w->shared[tail];
}

/* Whether the architecture has norm k in every layer. */
static bool norm_present(const awq_arch *a, int k) {
    if (k == AWQ_NORM_Q_A) return a->mla && awq_arch_linear_of(a, AWQ_LIN_KIND_Q_A) >= 0;
    if (k == AWQ_NORM_KV_A) return a->mla;
    if (k == AWQ_NORM_Q || k == AWQ_NORM_K) return a->qk_norm;
    if (k == AWQ_NORM_PRE_FFN || k == AWQ_NORM_POST_FFN) return a->sandwich_norms;
    return true;
}

/* Length of norm k: per head, an MLA low rank, else hidden. */
static int64_t norm_len(const awq_model_config *c, int k) {
    if (k == AWQ_NORM_Q || k == AWQ_NORM_K) return c->head_dim;
    if (k == AWQ_NORM_Q_A) return c->q_lora_rank;
    if (k == AWQ_NORM_KV_A) return c->kv_lora_rank;
    return c->hidden;
}

awq_runtime_params awq_runtime_default_params(void) {
    awq_runtime_params p;
    memset(&p, 0, sizeof p);
    p.backend = AWQ_BACKEND_CPU;
    p.device = 0;
    p.layer_cache_bytes = (uint64_t)1 << 30;
    p.attn_block = 0;
    return p;
}

awq_backend *awq_model_backend(awq_model *m) { return m->be; }
awq_ctx *awq_model_ctx(awq_model *m) { return m->ctx; }
const awq_model_config *awq_model_get_config(const awq_model *m) { return &m->cfg; }
const char *awq_model_prefix(const awq_model *m) { return m->prefix; }
awq_backend_kind awq_model_backend_kind(const awq_model *m) { return m->be->kind; }
bool awq_model_host_memory(const awq_model *m) { return m->host; }

awq_status awq_model_alloc(awq_model *m, size_t bytes, void **out) {
    return m->be->ops->alloc(m->be, bytes, out);
}
void awq_model_free_buf(awq_model *m, void *p) {
    if (p) m->be->ops->free(m->be, p);
}
awq_status awq_model_upload(awq_model *m, void *dst, const void *src, size_t bytes) {
    return m->be->ops->upload(m->be, dst, src, bytes);
}
awq_status awq_model_download(awq_model *m, void *dst, const void *src, size_t bytes) {
    return m->be->ops->download(m->be, dst, src, bytes);
}

awq_status awq_fwd_alloc_f(awq_model *m, uint64_t n, float **out) {
    uint64_t bytes;
    if (!awq_mul_u64(n, sizeof(float), &bytes) || bytes > SIZE_MAX)
        return awq_fail(m->ctx, AWQ_ERR_NOMEM, "buffer of %llu floats is too large",
                        (unsigned long long)n);
    return m->be->ops->alloc(m->be, (size_t)bytes, (void **)out);
}

void awq_fwd_free(awq_model *m, void *p) {
    if (p) m->be->ops->free(m->be, p);
}


static void layer_tensor_name(const awq_model *m, int64_t layer, const char *what,
                              const char *suffix, char *buf, size_t n) {
    snprintf(buf, n, "%slayers.%lld.%s.%s", m->prefix, (long long)layer, what, suffix);
}

/* A floating tensor of exactly this shape (1-D when n1 < 0). */
static awq_status check_float_tensor(awq_model *m, const awq_tensor_info *t,
                                     int64_t n0, int64_t n1) {
    /* FP8 weights bound to block scales convert like FP16 (lib/io/fp8src.c) */
    if ((!awq_dtype_is_float(t->dtype) || t->dtype == AWQ_DT_F8_E4M3 ||
         t->dtype == AWQ_DT_F8_E5M2) && !t->scale_inv)
        return awq_fail(m->ctx, AWQ_ERR_UNSUPPORTED,
                        "tensor '%s': dtype %s is not supported (F16, BF16, F32, F64)",
                        t->name, awq_dtype_name(t->dtype));
    bool ok = n1 < 0 ? (t->ndim == 1 && t->shape[0] == n0)
                     : (t->ndim == 2 && t->shape[0] == n0 && t->shape[1] == n1);
    if (!ok) {
        char have[96];
        if (t->ndim == 1)
            snprintf(have, sizeof have, "[%lld]", (long long)t->shape[0]);
        else if (t->ndim == 2)
            snprintf(have, sizeof have, "[%lld, %lld]", (long long)t->shape[0],
                     (long long)t->shape[1]);
        else
            snprintf(have, sizeof have, "%d-D", t->ndim);
        if (n1 < 0)
            return awq_fail(m->ctx, AWQ_ERR_MISMATCH,
                            "tensor '%s' has shape %s, the config implies [%lld]", t->name,
                            have, (long long)n0);
        return awq_fail(m->ctx, AWQ_ERR_MISMATCH,
                        "tensor '%s' has shape %s, the config implies [%lld, %lld]",
                        t->name, have, (long long)n0, (long long)n1);
    }
    return AWQ_OK;
}

/* Fail when a host buffer just written at load holds NaN / Inf (never per
 * token): a non-finite weight would otherwise be swallowed by max/clamp
 * code downstream (NaN fails every comparison) or turn the whole result
 * into NaN. */
static awq_status check_loaded(awq_model *m, const char *what, int ndim, const int64_t *shape,
                               const float *x, int64_t n) {
    int64_t i = awq_f32_first_nonfinite(x, n);
    if (i < 0) return AWQ_OK;
    return awq_fail_nonfinite(m->ctx, what, ndim, shape, i, x[i]);
}

/* Convert a whole floating tensor into backend memory dst, checked finite
 * in the same pass (awq_tensor_to_f32_finite). */
awq_status awq_fwd_load_f32(awq_model *m, const awq_tensor_info *t, float *dst) {
    if (m->host) return awq_tensor_to_f32_finite(m->ctx, t, dst);
    float *tmp = awq_alloc((size_t)t->n_elements, sizeof(float));
    if (!tmp) return awq_fail_nomem(m->ctx, t->name, t->n_elements * 4);
    awq_status s = awq_tensor_to_f32_finite(m->ctx, t, tmp);
    if (s == AWQ_OK)
        s = m->be->ops->upload(m->be, dst, tmp, (size_t)t->n_elements * sizeof(float));
    awq_free(tmp);
    return s;
}

/* A norm weight as the forward multiplies by it: offset + w (Gemma's
 * (1 + w), added in fp32 as transformers does), into backend memory. */
static awq_status load_norm(awq_model *m, const awq_tensor_info *t, float *dst) {
    float off = m->arch->norm_offset;
    if (off == 0) return awq_fwd_load_f32(m, t, dst);
    float *tmp = awq_alloc((size_t)t->n_elements, sizeof(float));
    if (!tmp) return awq_fail_nomem(m->ctx, t->name, t->n_elements * 4);
    awq_status s = awq_tensor_to_f32(m->ctx, t, tmp);
    for (uint64_t i = 0; s == AWQ_OK && i < t->n_elements; i++) tmp[i] += off;
    if (s == AWQ_OK)
        s = m->be->ops->upload(m->be, dst, tmp, (size_t)t->n_elements * sizeof(float));
    awq_free(tmp);
    return s;
}

/* ------------------------------------------------------ quantized linears */

static awq_status quant_setup(awq_model *m) {
    const awq_quant_config *q = &m->cfg.quant;
    /* an FP8 block source is read as a dense model (lib/io/fp8src.c) */
    if (!q->present || awq_checkpoint_is_fp8_source(m->ck)) return AWQ_OK;
    m->quantized = true;
    if (strcmp(q->quant_method, "awq") == 0) {
        if (q->version[0] == 0 || strcmp(q->version, "gemm") == 0)
            m->qfmt = AWQ_QFMT_AWQ_GEMM;
        else if (strcmp(q->version, "gemv") == 0)
            m->qfmt = AWQ_QFMT_AWQ_GEMV;
        else
            return awq_fail(m->ctx, AWQ_ERR_UNSUPPORTED,
                            "quantization_config: AWQ version \"%s\" is not supported "
                            "(gemm, gemv)", q->version);
        m->qup.sym = !q->zero_point;
    } else if (strcmp(q->quant_method, "gptq") == 0) {
        m->qfmt = strcmp(q->checkpoint_format, "gptq_v2") == 0 ? AWQ_QFMT_GPTQ_V2
                                                                : AWQ_QFMT_GPTQ;
        m->qup.sym = q->sym;
        /* A v1 label whose zeros read as v2 somewhere is refused whole
         * (awq_qckpt_detect), never guessed linear by linear. */
        awq_qckpt qk;
        if (m->qfmt == AWQ_QFMT_GPTQ &&
            awq_qckpt_detect(m->ctx, m->ck, AWQ_ZEROS_AUTO, &qk) == AWQ_ERR_MISMATCH)
            return AWQ_ERR_MISMATCH;
        awq_clear_error(m->ctx);
    } else if (awq_ct_is(cJSON_GetObjectItemCaseSensitive(awq_checkpoint_config(m->ck),
                                                          "quantization_config"))) {
        /* config_groups, not bits / group_size: lib/quant/ct.c */
        const cJSON *qj = cJSON_GetObjectItemCaseSensitive(
            awq_checkpoint_config(m->ck), "quantization_config");
        awq_ct_config *cfg = NULL;
        const awq_ct_scheme *sch = NULL;
        AWQ_TRY(awq_ct_config_parse(m->ctx, qj, "config.json", &cfg));
        awq_status ist = awq_ct_int_scheme(m->ctx, cfg, &sch);
        const char *why = NULL;
        if (ist != AWQ_OK && awq_ct_computable(cfg, &why)) {
            awq_ct_config_free(cfg);
            m->ct_float = true; /* dequantized per linear at load */
            return AWQ_OK;
        }
        if (ist == AWQ_OK) {
            m->qfmt = AWQ_QFMT_CT;
            m->qup.sym = sch->symmetric;
            m->qup.bits = sch->num_bits;
            m->qup.group_size = sch->group_size;
        }
        awq_ct_config_free(cfg);
        return ist;
    } else {
        return awq_fail(m->ctx, AWQ_ERR_UNSUPPORTED,
                        "quantization_config: quant_method \"%s\" is not supported "
                        "(awq, gptq, compressed-tensors)", q->quant_method);
    }
    m->qup.bits = q->bits;
    m->qup.group_size = q->group_size;
    return AWQ_OK;
}

/* Fill a packed view of linear `lin` of `layer` from the checkpoint. g_idx
 * missing from a GPTQ checkpoint is synthesised (default order) into
 * *g_idx_own (caller frees). */
static awq_status quant_view_named(awq_model *m, int64_t layer, const char *what, int64_t K,
                                   int64_t N, awq_packed *pk, int32_t **g_idx_own);

static awq_status quant_view(awq_model *m, int64_t layer, int lin, awq_packed *pk,
                             int32_t **g_idx_own) {
    const awq_linear_desc *d = &m->arch->linears[lin];
    return quant_view_named(m, layer, d->name, awq_model_dim(&m->cfg, d->in_dim),
                            awq_model_dim(&m->cfg, d->out_dim), pk, g_idx_own);
}

/* The packed view of the linear `what` (K -> N) of `layer`. */
static awq_status quant_view_named(awq_model *m, int64_t layer, const char *what, int64_t K,
                                   int64_t N, awq_packed *pk, int32_t **g_idx_own) {
    *g_idx_own = NULL;
    AWQ_TRY(awq_packed_shapes(m->ctx, m->qfmt, K, N, m->qup.bits, m->qup.group_size, pk));
    for (int i = 0; i < pk->n_tensors; i++) {
        awq_packed_tensor *pt = &pk->t[i];
        char name[256];
        layer_tensor_name(m, layer, what, pt->suffix, name, sizeof name);
        const awq_tensor_info *t = awq_checkpoint_find(m->ck, name);
        if (!t && i == AWQ_PT_G_IDX) {
            int32_t *g = awq_alloc((size_t)K, sizeof(int32_t));
            if (!g) return awq_fail_nomem(m->ctx, "g_idx", (uint64_t)K * 4);
            int64_t gl = awq_group_len(K, m->qup.group_size);
            for (int64_t k = 0; k < K; k++) g[k] = (int32_t)(k / gl);
            pt->data = g;
            *g_idx_own = g;
            continue;
        }
        if (!t && i == AWQ_PT_QZEROS && m->qfmt == AWQ_QFMT_CT && m->qup.sym) {
            /* symmetric compressed-tensors store no zero point */
            memset(pt, 0, sizeof *pt);
            pt->suffix = "weight_zero_point";
            continue;
        }
        if (!t)
            return awq_fail(m->ctx, AWQ_ERR_NOT_FOUND,
                            "tensor '%s' is missing (quantized checkpoint, %s)", name,
                            awq_format_get(m->qfmt)->name);
        /* compressed-tensors scales are in the model's dtype (awq_unpack
         * converts them to FP16 exactly, or refuses) */
        bool dt_ok = t->dtype == pt->dtype ||
                     (m->qfmt == AWQ_QFMT_CT && i == AWQ_PT_SCALES &&
                      (t->dtype == AWQ_DT_BF16 || t->dtype == AWQ_DT_F32));
        if (dt_ok && t->dtype != pt->dtype) {
            pt->dtype = t->dtype;
            pt->n_bytes = t->n_bytes;
        }
        bool ok = dt_ok && t->ndim == pt->ndim && t->shape[0] == pt->shape[0] &&
                  (pt->ndim < 2 || t->shape[1] == pt->shape[1]);
        if (!ok)
            return awq_fail(m->ctx, AWQ_ERR_MISMATCH,
                            "tensor '%s': %s %dD [%lld, %lld], expected %s [%lld, %lld] "
                            "for a %lldx%lld linear (%s, %d bits, group %d)",
                            name, awq_dtype_name(t->dtype), t->ndim, (long long)t->shape[0],
                            (long long)(t->ndim > 1 ? t->shape[1] : 0),
                            awq_dtype_name(pt->dtype), (long long)pt->shape[0],
                            (long long)(pt->ndim > 1 ? pt->shape[1] : 0), (long long)N,
                            (long long)K, awq_format_get(m->qfmt)->name, m->qup.bits,
                            m->qup.group_size);
        /* the scales are the only floats of a packed linear: checked on the
         * stored bits (small: one per group and output) */
        if (i == AWQ_PT_SCALES) AWQ_TRY(awq_tensor_check_finite(m->ctx, t));
        pt->data = (void *)t->data;
    }
    return AWQ_OK;
}

/* Is linear `lin` of `layer` stored as compressed-tensors FP8 / NVFP4? */
static bool ct_float_at(const awq_model *m, int64_t layer, int lin) {
    char name[256];
    snprintf(name, sizeof name, "%slayers.%lld.%s", m->prefix, (long long)layer,
             m->arch->linears[lin].name);
    return awq_ct_float_linear(m->ck, name);
}

/* A compressed-tensors FP8 / NVFP4 linear, dequantized to fp32. */
static awq_status load_ct_float(awq_model *m, const char *name, int64_t N, int64_t K,
                                float *dst) {
    float *host = m->host ? dst : awq_alloc((size_t)(N * K), sizeof(float));
    if (!host) return awq_fail_nomem(m->ctx, name, (uint64_t)(N * K) * 4);
    awq_status s = awq_ct_float_dequant(m->ctx, m->ck, name, N, K, host);
    if (s == AWQ_OK && !m->host)
        s = m->be->ops->upload(m->be, dst, host, (size_t)(N * K) * sizeof(float));
    if (!m->host) awq_free(host);
    return s;
}

static awq_status load_quantized_named(awq_model *m, int64_t layer, const char *what,
                                       int64_t K, int64_t N, float *dst) {
    char name[256];
    snprintf(name, sizeof name, "%slayers.%lld.%s", m->prefix, (long long)layer, what);
    if (m->ct_float) return load_ct_float(m, name, N, K, dst);
    if (m->qfmt == AWQ_QFMT_CT) {
        /* BF16 / F32 scales (the model's dtype): straight from the words,
         * without the FP16 canonical form, which refuses scales FP16
         * cannot hold */
        char sname[300];
        snprintf(sname, sizeof sname, "%s.weight_scale", name);
        const awq_tensor_info *st = awq_checkpoint_find(m->ck, sname);
        if (st && st->dtype != AWQ_DT_F16) return load_ct_float(m, name, N, K, dst);
    }
    awq_packed pk;
    memset(&pk, 0, sizeof pk);
    int32_t *gown = NULL;
    awq_status s = quant_view_named(m, layer, what, K, N, &pk, &gown);
    awq_qformat fmt = m->qfmt;
    awq_qtensor qt;
    memset(&qt, 0, sizeof qt);
    if (s == AWQ_OK) s = awq_unpack(m->ctx, name, fmt, &pk, &m->qup, &qt);
    awq_free(gown);
    if (s != AWQ_OK) return s;
    float *host = dst;
    if (!m->host) {
        host = awq_alloc((size_t)(qt.N * qt.K), sizeof(float));
        if (!host) {
            awq_qtensor_free(&qt);
            return awq_fail_nomem(m->ctx, name, (uint64_t)(qt.N * qt.K) * 4);
        }
    }
    s = awq_dequantize(m->ctx, &qt, host);
    if (s == AWQ_OK) {
        /* the scales were checked on their stored bits; this checks what
         * the gemm will actually read (scales times codes minus zeros),
         * once, at load */
        char wdesc[320];
        snprintf(wdesc, sizeof wdesc, "the dequantized weight of '%s'", name);
        int64_t shape[2] = {qt.N, qt.K};
        s = check_loaded(m, wdesc, 2, shape, host, qt.N * qt.K);
    }
    if (s == AWQ_OK && !m->host)
        s = m->be->ops->upload(m->be, dst, host, (size_t)(qt.N * qt.K) * sizeof(float));
    if (!m->host) awq_free(host);
    awq_qtensor_free(&qt);
    return s;
}

static awq_status load_quantized(awq_model *m, int64_t layer, int lin, float *dst) {
    const awq_linear_desc *d = &m->arch->linears[lin];
    return load_quantized_named(m, layer, d->name, awq_model_dim(&m->cfg, d->in_dim),
                                awq_model_dim(&m->cfg, d->out_dim), dst);
}

/* ------------------------------------------------------- model open */

/* Whether linear `lin` must carry a bias (arch table + config flags). */
static bool bias_expected(const awq_model *m, int lin) {
    if (m->arch->linears[lin].bias) return true;
    if (awq_arch_linear_is_attn(m->arch, lin))
        return m->cfg.attention_bias && !m->arch->linears[AWQ_LIN_Q].bias;
    return m->cfg.mlp_bias;
}

/* Check that every tensor layer `i` needs exists with the right shape. */
static awq_status check_layer_tensors(awq_model *m, int64_t i) {
    char name[256];
    const awq_model_config *c = &m->cfg;
    bool moe = awq_model_layer_moe(c, i);
    for (int64_t it = 0; moe; it++) {
        int64_t n0, n1;
        char what[96];
        bool lin;
        if (!moe_item(m, i, it, name, sizeof name, &n0, &n1, what, &lin)) break;
        const awq_tensor_info *t = awq_checkpoint_find(m->ck, name);
        if (!t && lin && m->quantized) {
            awq_packed pk;
            memset(&pk, 0, sizeof pk);
            int32_t *gown = NULL;
            awq_status s = quant_view_named(m, i, what, n1, n0, &pk, &gown);
            awq_free(gown);
            AWQ_TRY(s);
            continue;
        }
        if (!t)
            return awq_fail(m->ctx, AWQ_ERR_NOT_FOUND,
                            "tensor '%s' is missing (config: %s = %lld experts)", name,
                            m->arch->moe->n_experts_field, (long long)c->n_experts);
        AWQ_TRY(check_float_tensor(m, t, n0, n1));
    }
    if (moe) {
        /* more experts on disk than the config states */
        char what[96];
        snprintf(what, sizeof what, "%s.%lld.%s", m->arch->moe->experts, (long long)c->n_experts,
                 m->arch->moe->expert_linears[0]);
        layer_tensor_name(m, i, what, "weight", name, sizeof name);
        if (awq_checkpoint_find(m->ck, name))
            return awq_fail(m->ctx, AWQ_ERR_MISMATCH,
                            "tensor '%s' exists but the config states %s = %lld", name,
                            m->arch->moe->n_experts_field, (long long)c->n_experts);
    }
    for (int lin = 0; lin < m->arch->n_linears; lin++) {
        const awq_linear_desc *d = &m->arch->linears[lin];
        if (moe && is_mlp_linear(m->arch, lin)) continue;
        int64_t N = awq_model_dim(c, d->out_dim), K = awq_model_dim(c, d->in_dim);
        layer_tensor_name(m, i, d->name, "weight", name, sizeof name);
        const awq_tensor_info *t = awq_checkpoint_find(m->ck, name);
        if (t && m->quantized) {
            /* serving engines read the packed copy: which one is meant? */
            layer_tensor_name(m, i, d->name, "qweight", name, sizeof name);
            if (awq_checkpoint_find(m->ck, name))
                return awq_fail(m->ctx, AWQ_ERR_FORMAT,
                                "%s and %s.weight are both stored: the linear is dense and "
                                "packed at once (serving engines read the packed one); "
                                "remove one",
                                name, d->name);
            layer_tensor_name(m, i, d->name, "weight", name, sizeof name);
        }
        if (m->ct_float && ct_float_at(m, i, lin)) {
            /* shapes are checked when the linear is dequantized */
        } else if (t) {
            AWQ_TRY(check_float_tensor(m, t, N, K));
        } else if (m->quantized) {
            awq_packed pk;
            memset(&pk, 0, sizeof pk);
            int32_t *gown = NULL;
            awq_status s = quant_view(m, i, lin, &pk, &gown);
            awq_free(gown);
            AWQ_TRY(s);
        } else {
            return awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
        }
        layer_tensor_name(m, i, d->name, "bias", name, sizeof name);
        t = awq_checkpoint_find(m->ck, name);
        if (m->bias[lin]) {
            if (!t)
                return awq_fail(m->ctx, AWQ_ERR_NOT_FOUND,
                                "tensor '%s' is missing (%s has a bias on %s)", name,
                                c->architecture, d->name);
            AWQ_TRY(check_float_tensor(m, t, N, -1));
        } else if (t && i == 0) {
            awq_warn(m->ctx, "tensor '%s' is ignored: %s has no bias on %s (as in "
                     "transformers)", name, c->architecture, d->name);
        }
    }
    for (int k = 0; k < AWQ_NORM_COUNT; k++) {
        if (!norm_present(m->arch, k)) continue;
        layer_tensor_name(m, i, k_norm_names[k], "weight", name, sizeof name);
        const awq_tensor_info *t = awq_checkpoint_find(m->ck, name);
        if (!t) return awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
        AWQ_TRY(check_float_tensor(m, t, norm_len(c, k), -1));
    }
    return AWQ_OK;
}

static awq_status open_checks(awq_model *m) {
    awq_model_config *c = &m->cfg;
    if (!c->arch)
        return awq_fail(m->ctx, AWQ_ERR_UNSUPPORTED,
                        "architecture \"%s\" is not supported (supported: %s)",
                        c->architecture, awq_arch_supported_list());
    m->arch = c->arch;
    if (c->is_moe && !m->arch->moe)
        return awq_fail(m->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: mixture-of-experts models are not supported by the forward",
                        c->architecture);
    if (c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->head_dim <= 0 || c->intermediate <= 0 || c->vocab <= 0 ||
        c->n_heads % c->n_kv_heads != 0 || c->head_dim % 2 != 0)
        return awq_fail(m->ctx, AWQ_ERR_FORMAT,
                        "config: inconsistent dimensions (hidden %lld, heads %lld, kv heads "
                        "%lld, head_dim %lld, intermediate %lld, vocab %lld)",
                        (long long)c->hidden, (long long)c->n_heads, (long long)c->n_kv_heads,
                        (long long)c->head_dim, (long long)c->intermediate,
                        (long long)c->vocab);
    /* the table names q, k, v (or a fused qkv), o, gate and up (or a fused
     * gate_up), down */
    for (int k = 0; k < AWQ_LIN_KIND_COUNT; k++)
        m->li[k] = awq_arch_linear_of(m->arch, (awq_lin_kind)k);
    bool qkv_ok = m->arch->mla || m->li[AWQ_LIN_KIND_QKV] >= 0 ||
                  (m->li[AWQ_LIN_KIND_Q] >= 0 && m->li[AWQ_LIN_KIND_K] >= 0 &&
                   m->li[AWQ_LIN_KIND_V] >= 0);
    bool gu_ok = m->li[AWQ_LIN_KIND_GATE_UP] >= 0 ||
                 (m->li[AWQ_LIN_KIND_GATE] >= 0 && m->li[AWQ_LIN_KIND_UP] >= 0);
    if (!qkv_ok || !gu_ok || m->li[AWQ_LIN_KIND_O] < 0 || m->li[AWQ_LIN_KIND_DOWN] < 0)
        return awq_fail(m->ctx, AWQ_ERR_INTERNAL, "%s: architecture table entry lacks a linear",
                        c->architecture);
    AWQ_TRY(awq_model_find_prefix(m->ctx, m->ck, m->prefix, sizeof m->prefix));
    AWQ_TRY(quant_setup(m));
    for (int lin = 0; lin < m->arch->n_linears; lin++) m->bias[lin] = bias_expected(m, lin);


    char name[256];
    snprintf(name, sizeof name, "%sembed_tokens.weight", m->prefix);
    m->embed_t = awq_checkpoint_find(m->ck, name);
    if (!m->embed_t) return awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
    AWQ_TRY(check_float_tensor(m, m->embed_t, c->vocab, c->hidden));
    /* rows are converted per token later: scanned once here instead */
    AWQ_TRY(awq_tensor_check_finite(m->ctx, m->embed_t));
    snprintf(name, sizeof name, "%snorm.weight", m->prefix);
    m->final_norm_t = awq_checkpoint_find(m->ck, name);
    if (!m->final_norm_t)
        return awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
    AWQ_TRY(check_float_tensor(m, m->final_norm_t, c->hidden, -1));

    /* lm_head: "lm_head.weight", or beside a "<x>.model." prefix (llava-style
     * "language_model.lm_head.weight"). Tied embeddings use embed_tokens, as
     * transformers does; an untied model without lm_head falls back to the
     * embeddings with a warning. */
    m->lm_head_t = NULL;
    if (!c->tie_word_embeddings) {
        snprintf(m->lm_head_name, sizeof m->lm_head_name, "lm_head.weight");
        m->lm_head_t = awq_checkpoint_find(m->ck, m->lm_head_name);
        size_t pl = strlen(m->prefix);
        if (!m->lm_head_t && pl > 6 && strcmp(m->prefix + pl - 6, "model.") == 0) {
            snprintf(m->lm_head_name, sizeof m->lm_head_name, "%.*slm_head.weight",
                     (int)(pl - 6), m->prefix);
            m->lm_head_t = awq_checkpoint_find(m->ck, m->lm_head_name);
        }
        if (!m->lm_head_t && awq_checkpoint_find(m->ck, "lm_head.qweight"))
            return awq_fail(m->ctx, AWQ_ERR_UNSUPPORTED,
                            "lm_head is quantized (lm_head.qweight): not supported by the "
                            "forward");
        if (!m->lm_head_t)
            awq_warn(m->ctx, "no lm_head.weight and tie_word_embeddings is false: using "
                     "the input embeddings as the output layer");
    }
    if (m->lm_head_t) AWQ_TRY(check_float_tensor(m, m->lm_head_t, c->vocab, c->hidden));

    for (int64_t i = 0; i < c->n_layers; i++) AWQ_TRY(check_layer_tensors(m, i));
    return AWQ_OK;
}

/* fp32 bytes of one loaded layer (linears, biases, norms; a MoE layer's
 * experts when the model has any). */
static uint64_t layer_f32_bytes(const awq_model *m) {
    uint64_t n = 0;
    if (m->arch->moe) {
        const awq_model_config *c = &m->cfg;
        n += (uint64_t)c->n_experts * (uint64_t)(3 * c->moe_intermediate + 1) *
                 (uint64_t)c->hidden +
             (uint64_t)(3 * c->shared_intermediate + 1) * (uint64_t)c->hidden;
    }
    for (int lin = 0; lin < m->arch->n_linears; lin++) {
        const awq_linear_desc *d = &m->arch->linears[lin];
        uint64_t N = (uint64_t)awq_model_dim(&m->cfg, d->out_dim);
        n += N * (uint64_t)awq_model_dim(&m->cfg, d->in_dim) + (m->bias[lin] ? N : 0);
    }
    for (int k = 0; k < AWQ_NORM_COUNT; k++)
        if (norm_present(m->arch, k)) n += (uint64_t)norm_len(&m->cfg, k);
    return n * sizeof(float);
}

awq_status awq_model_open(awq_ctx *ctx, const awq_checkpoint *ck,
                          const awq_runtime_params *params, awq_model **out) {
    return awq_model_open_backend(ctx, ck, params, NULL, out);
}

awq_status awq_model_open_backend(awq_ctx *ctx, const awq_checkpoint *ck,
                                  const awq_runtime_params *params, awq_backend *be,
                                  awq_model **out) {
    *out = NULL;
    if (!ck) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_model_open: checkpoint is NULL");
    awq_model *m = awq_calloc(1, sizeof *m);
    if (!m) return awq_fail_nomem(ctx, "model", sizeof *m);
    m->ctx = ctx;
    m->ck = ck;
    m->params = params ? *params : awq_runtime_default_params();
    if (m->params.attn_block < 0 || m->params.attn_block > 4096) {
        awq_free(m);
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "attn_block %d is out of range [0, 4096]",
                        m->params.attn_block);
    }
    awq_status s = awq_model_config_from_checkpoint(ctx, ck, &m->cfg);
    if (s == AWQ_OK) s = open_checks(m);
    /* Gemma 3's sliding layers: a plain rope with their own base */
    int n_rope = (s == AWQ_OK && m->arch->local_rope && m->cfg.rope_local_theta > 0) ? 2 : 1;
    for (int r = 0; r < n_rope && s == AWQ_OK; r++) {
        rope_state *rs = &m->rope[r];
        rs->inv_freq = awq_alloc((size_t)(m->cfg.head_dim / 2), sizeof(float));
        if (!rs->inv_freq) {
            s = awq_fail_nomem(ctx, "rope", (uint64_t)m->cfg.head_dim * 2);
            break;
        }
        awq_rope_scaling plain;
        memset(&plain, 0, sizeof plain);
        plain.type = AWQ_ROPE_DEFAULT;
        plain.factor = 1.0;
        s = awq_rope_inv_freq(ctx, r == 0 ? &m->cfg.rope : &plain,
                              r == 0 ? m->cfg.rope_theta : m->cfg.rope_local_theta,
                              m->cfg.head_dim, m->cfg.max_pos, rs->inv_freq, &rs->attn_factor);
    }
    if (s == AWQ_OK && be) {
        m->be = be;
    } else if (s == AWQ_OK) {
        s = awq_backend_create(ctx, m->params.backend, m->params.device, &m->be);
        m->own_be = s == AWQ_OK;
    }
    if (s == AWQ_OK) {
        m->host = m->be->ops->mem == AWQ_MEM_HOST;
        s = awq_fwd_alloc_f(m, (uint64_t)m->cfg.hidden, &m->final_norm);
    }
    if (s == AWQ_OK) s = load_norm(m, m->final_norm_t, m->final_norm);
    if (s == AWQ_OK) {
        m->cache = awq_calloc((size_t)m->cfg.n_layers, sizeof(awq_layer *));
        if (!m->cache) s = awq_fail_nomem(ctx, "layer cache", (uint64_t)m->cfg.n_layers * 8);
        /* all layers or none: caching a few of them saves little time and
         * holds their memory for the model's lifetime */
        double total = (double)m->cfg.n_layers * (double)layer_f32_bytes(m);
        m->use_cache = total <= (double)m->params.layer_cache_bytes;
    }
    if (s != AWQ_OK) {
        awq_model_free(m);
        return s;
    }
    *out = m;
    return AWQ_OK;
}

void awq_model_free(awq_model *m) {
    if (!m) return;
    if (m->cache)
        for (int64_t i = 0; i < m->cfg.n_layers; i++) awq_layer_free(m->cache[i]);
    awq_free(m->cache);
    if (m->be) {
        for (int r = 0; r < 2; r++) {
            awq_fwd_free(m, m->rope[r].cos);
            awq_fwd_free(m, m->rope[r].sin);
        }
        awq_fwd_free(m, m->final_norm);
        awq_fwd_free(m, m->lm_head);
        awq_fwd_free(m, m->ws);
        if (m->own_be) awq_backend_free(m->be);
    }
    for (int r = 0; r < 2; r++) awq_free(m->rope[r].inv_freq);
    awq_free(m);
}

/* ------------------------------------------------------------ layers */

awq_status awq_layer_load(awq_model *m, int64_t index, awq_layer **out) {
    *out = NULL;
    const awq_model_config *c = &m->cfg;
    if (index < 0 || index >= c->n_layers)
        return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG, "layer %lld is out of range [0, %lld)",
                        (long long)index, (long long)c->n_layers);
    awq_layer *l = awq_calloc(1, sizeof *l);
    if (!l) return awq_fail_nomem(m->ctx, "layer", sizeof *l);
    l->m = m;
    l->index = index;
    awq_status s = AWQ_OK;
    char name[256];
    l->is_moe = awq_model_layer_moe(c, index);
    if (l->is_moe) {
        l->moe.experts = awq_calloc((size_t)(3 * c->n_experts), sizeof(float *));
        if (!l->moe.experts) s = awq_fail_nomem(m->ctx, "experts", (uint64_t)c->n_experts * 24);
    }
    for (int64_t it = 0; l->is_moe && s == AWQ_OK; it++) {
        int64_t n0, n1;
        char what[96];
        bool lin;
        if (!moe_item(m, index, it, name, sizeof name, &n0, &n1, what, &lin)) break;
        const awq_tensor_info *t = awq_checkpoint_find(m->ck, name);
        float **slot = moe_slot(m, &l->moe, c->n_experts, it);
        bool packed = !t && lin && m->quantized;
        s = (t || packed) ? AWQ_OK
                          : awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
        if (s == AWQ_OK && t) s = check_float_tensor(m, t, n0, n1);
        if (n1 < 0) n1 = 1; /* a 1-D item (the router's correction bias) */
        if (s == AWQ_OK) s = awq_fwd_alloc_f(m, (uint64_t)(n0 * n1), slot);
        if (s == AWQ_OK)
            s = packed ? load_quantized_named(m, index, what, n1, n0, *slot) : awq_fwd_load_f32(m, t, *slot);
        /* Host RSS: the experts are nearly all of a MoE layer, and once
         * converted their mapped source pages would stay resident next to
         * the fp32 copy until the layer is done (half as much again for a
         * BF16 source). Dropping them now leaves one item's pages at a
         * time; a later read of the tensor maps them again from the page
         * cache, so nothing changes but the RSS. */
        if (s == AWQ_OK && t) awq_checkpoint_release(m->ck, t->data, t->n_bytes);
        l->bytes += (uint64_t)(n0 * n1) * sizeof(float);
    }
    for (int lin = 0; lin < m->arch->n_linears && s == AWQ_OK; lin++) {
        const awq_linear_desc *d = &m->arch->linears[lin];
        if (l->is_moe && is_mlp_linear(m->arch, lin)) continue;
        l->n_out[lin] = awq_model_dim(c, d->out_dim);
        l->n_in[lin] = awq_model_dim(c, d->in_dim);
        uint64_t n = (uint64_t)l->n_out[lin] * (uint64_t)l->n_in[lin];
        s = awq_fwd_alloc_f(m, n, &l->w_own[lin]);
        if (s != AWQ_OK) break;
        l->w[lin] = l->w_own[lin];
        l->bytes += n * sizeof(float);
        layer_tensor_name(m, index, d->name, "weight", name, sizeof name);
        const awq_tensor_info *t = awq_checkpoint_find(m->ck, name);
        if (m->ct_float && ct_float_at(m, index, lin)) {
            s = load_quantized(m, index, lin, l->w_own[lin]);
        } else if (t) {
            s = check_float_tensor(m, t, l->n_out[lin], l->n_in[lin]);
            if (s == AWQ_OK) s = awq_fwd_load_f32(m, t, l->w_own[lin]);
        } else if (m->quantized) {
            s = load_quantized(m, index, lin, l->w_own[lin]);
        } else {
            s = awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
        }
        if (s == AWQ_OK && m->bias[lin]) {
            layer_tensor_name(m, index, d->name, "bias", name, sizeof name);
            t = awq_checkpoint_find(m->ck, name);
            if (!t) {
                s = awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
                break;
            }
            s = check_float_tensor(m, t, l->n_out[lin], -1);
            if (s == AWQ_OK) s = awq_fwd_alloc_f(m, (uint64_t)l->n_out[lin], &l->b[lin]);
            if (s == AWQ_OK) s = awq_fwd_load_f32(m, t, l->b[lin]);
            l->bytes += (uint64_t)l->n_out[lin] * sizeof(float);
        }
    }
    for (int k = 0; k < AWQ_NORM_COUNT && s == AWQ_OK; k++) {
        if (!norm_present(m->arch, k)) continue;
        layer_tensor_name(m, index, k_norm_names[k], "weight", name, sizeof name);
        const awq_tensor_info *t = awq_checkpoint_find(m->ck, name);
        int64_t n = norm_len(c, k);
        if (!t) {
            s = awq_fail(m->ctx, AWQ_ERR_NOT_FOUND, "tensor '%s' is missing", name);
            break;
        }
        s = check_float_tensor(m, t, n, -1);
        if (s == AWQ_OK) s = awq_fwd_alloc_f(m, (uint64_t)n, &l->norm[k]);
        if (s == AWQ_OK) s = load_norm(m, t, l->norm[k]);
        l->norm_n[k] = n;
        l->bytes += (uint64_t)n * sizeof(float);
    }
    if (s != AWQ_OK) {
        awq_layer_free(l);
        return s;
    }
    *out = l;
    return AWQ_OK;
}

void awq_layer_free(awq_layer *l) {
    if (!l) return;
    for (int i = 0; i < AWQ_MAX_LINEARS; i++) {
        awq_fwd_free(l->m, l->w_own[i]);
        awq_fwd_free(l->m, l->b[i]);
    }
    for (int k = 0; k < AWQ_NORM_COUNT; k++) awq_fwd_free(l->m, l->norm[k]);
    if (l->moe.experts)
        for (int64_t e = 0; e < 3 * l->m->cfg.n_experts; e++) awq_fwd_free(l->m, l->moe.experts[e]);
    awq_free(l->moe.experts);
    awq_fwd_free(l->m, l->moe.router);
    for (int k = 0; k < 3; k++) awq_fwd_free(l->m, l->moe.shared[k]);
    awq_fwd_free(l->m, l->moe.shared_gate);
    awq_fwd_free(l->m, l->moe.router_bias);
    awq_free(l);
}

