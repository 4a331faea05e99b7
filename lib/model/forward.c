/* lib/model/forward.c — the decoder forward pass of the Llama family
 * (Llama, Mistral, Qwen2, Qwen3, the Qwen2-VL / Qwen2.5-VL text decoder),
 * written only against the backend ops (lib/backend/backend.h) and the
 * architecture table (awqkit/model.h): a new Llama-like architecture is a
 * table entry, not code here.
 *
 * It computes what transformers computes in float32 (modeling_llama.py):
 *   h = embed_tokens[ids]
 *   per layer:  x = input_layernorm(h)
 *               q, k, v = q_proj(x), k_proj(x), v_proj(x)     (+ biases)
 *               Qwen3: q, k = q_norm(q), k_norm(k) per head    (RMSNorm over
 *                                                               head_dim)
 *               q, k = rope(q), rope(k)                        (rotate-half)
 *               a = softmax(q k^T / sqrt(head_dim), causal) v  (GQA)
 *               h = h + o_proj(a)
 *               h = h + down(silu(gate(y)) * up(y)),  y = post_attention_
 *                                                          layernorm(h)
 *   logits = lm_head(norm(h))      (lm_head = embed_tokens when tied)
 *
 * Memory: a layer's weights are converted to fp32 when it is loaded (from
 * the mmap'd checkpoint: FP16/BF16/F32 converted, AWQ/GPTQ linears unpacked
 * and dequantized), so the peak is about one layer plus activations, plus
 * the optional layer cache (awq_runtime_params.layer_cache_bytes) and the
 * fp32 lm_head [vocab, hidden] once logits are asked for. Activations are
 * processed in chunks of whole sequences (attention) and of rows (MLP, the
 * logits), so scratch memory is bounded independently of B.
 *
 * Loading (open, checks, awq_layer_load) is in model_load.c; the structs
 * they share are in model_impl.h.
 */
#include "model/forward.h"
#include "quant/ct.h"

#include "awqkit/checkpoint.h"
#include "awqkit/quant.h"
#include "core/core.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/moe_lset.h"
#include "model/rope.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "model/model_impl.h"

/* ---------------------------------------------------------- scratch */

static awq_status ensure_ws(awq_model *m, uint64_t floats) {
    uint64_t bytes;
    if (!awq_mul_u64(floats, sizeof(float), &bytes) || bytes > SIZE_MAX)
        return awq_fail(m->ctx, AWQ_ERR_NOMEM, "scratch of %llu floats is too large",
                        (unsigned long long)floats);
    if (bytes <= m->ws_bytes) return AWQ_OK;
    awq_fwd_free(m, m->ws);
    m->ws = NULL;
    m->ws_bytes = 0;
    AWQ_TRY(m->be->ops->alloc(m->be, (size_t)bytes, (void **)&m->ws));
    m->ws_bytes = (size_t)bytes;
    return AWQ_OK;
}

/* Sequences per attention chunk for B sequences of T tokens. */
static int64_t attn_chunk_seqs(int64_t B, int64_t T) {
    int64_t n = ATTN_CHUNK_ROWS / (T > 0 ? T : 1);
    if (n < 1) n = 1;
    return n < B ? n : B;
}

/* Rope tables of rope state `which` covering positions [0, n). */
static awq_status ensure_rope(awq_model *m, int which, int64_t n) {
    rope_state *rs = &m->rope[which];
    if (n <= rs->n) return AWQ_OK;
    int64_t cap = rs->n ? rs->n : 256;
    while (cap < n) cap *= 2;
    int64_t half = m->cfg.head_dim / 2;
    uint64_t cnt = (uint64_t)cap * (uint64_t)half;
    float *hc = awq_alloc((size_t)cnt, sizeof(float)), *hs = awq_alloc((size_t)cnt, sizeof(float));
    float *c = NULL, *s = NULL;
    awq_status st = (hc && hs) ? AWQ_OK : awq_fail_nomem(m->ctx, "rope tables", cnt * 8);
    if (st == AWQ_OK) {
        awq_rope_tables(rs->inv_freq, half, rs->attn_factor, cap, hc, hs);
        st = awq_fwd_alloc_f(m, cnt, &c);
    }
    if (st == AWQ_OK) st = awq_fwd_alloc_f(m, cnt, &s);
    if (st == AWQ_OK) st = m->be->ops->upload(m->be, c, hc, (size_t)cnt * sizeof(float));
    if (st == AWQ_OK) st = m->be->ops->upload(m->be, s, hs, (size_t)cnt * sizeof(float));
    awq_free(hc);
    awq_free(hs);
    if (st != AWQ_OK) {
        awq_fwd_free(m, c);
        awq_fwd_free(m, s);
        return st;
    }
    awq_fwd_free(m, rs->cos);
    awq_fwd_free(m, rs->sin);
    rs->cos = c;
    rs->sin = s;
    rs->n = cap;
    return AWQ_OK;
}

int64_t awq_layer_index(const awq_layer *l) { return l->index; }
uint64_t awq_layer_bytes(const awq_layer *l) { return l->bytes; }

static bool lin_ok(const awq_layer *l, int lin) {
    return lin >= 0 && lin < l->m->arch->n_linears;
}

float *awq_layer_weight(awq_layer *l, int lin, int64_t *n_out, int64_t *n_in) {
    if (!lin_ok(l, lin)) return NULL;
    if (n_out) *n_out = l->n_out[lin];
    if (n_in) *n_in = l->n_in[lin];
    return l->w[lin];
}

float *awq_layer_bias(awq_layer *l, int lin) { return lin_ok(l, lin) ? l->b[lin] : NULL; }

awq_status awq_layer_set_weight(awq_layer *l, int lin, float *w) {
    if (!lin_ok(l, lin))
        return awq_fail(l->m->ctx, AWQ_ERR_INVALID_ARG, "linear index %d is out of range", lin);
    l->w[lin] = w ? w : l->w_own[lin];
    return AWQ_OK;
}

float *awq_layer_norm_weight(awq_layer *l, awq_layer_norm_id which, int64_t *n) {
    if ((int)which < 0 || which >= AWQ_NORM_COUNT) return NULL;
    if (n) *n = l->norm[which] ? l->norm_n[which] : 0;
    return l->norm[which];
}

awq_moe_weights *awq_layer_moe_weights(awq_layer *l) { return l->is_moe ? &l->moe : NULL; }
const awq_model_config *awq_layer_model_config(const awq_layer *l) { return &l->m->cfg; }

void awq_layer_set_capture(awq_layer *l, awq_capture_fn fn, void *user, unsigned mask) {
    l->cap = fn;
    l->cap_user = fn ? user : NULL;
    l->cap_mask = fn ? mask : 0;
}

static awq_status capture(awq_layer *l, awq_capture_point pt, int64_t row0, int64_t rows,
                          int64_t cols, const float *x) {
    if (!l->cap || !(l->cap_mask & (1u << pt)) || rows == 0) return AWQ_OK;
    awq_status s = l->cap(l->cap_user, l->index, pt, row0, rows, cols, x);
    if (s != AWQ_OK)
        return awq_fail_wrap(l->m->ctx, s, "layer %lld: capture callback",
                             (long long)l->index);
    return AWQ_OK;
}

static awq_status linear(awq_layer *l, int lin, const float *x, float *y, int64_t rows) {
    awq_backend *be = l->m->be;
    return be->ops->gemm(be, x, l->w[lin], AWQ_DT_F32, l->b[lin], y, rows, l->n_out[lin],
                         l->n_in[lin]);
}

/* Rows [row0, row0 + rows) of linear `lin` (a part of a fused linear):
 * y [n, rows] = x W[row0:row0+rows]^T (+ the bias slice). */
static awq_status linear_rows(awq_layer *l, int lin, int64_t row0, int64_t rows, const float *x,
                              float *y, int64_t n) {
    awq_backend *be = l->m->be;
    const float *w = l->w[lin] + row0 * l->n_in[lin];
    const float *b = l->b[lin] ? l->b[lin] + row0 : NULL;
    return be->ops->gemm(be, x, w, AWQ_DT_F32, b, y, n, rows, l->n_in[lin]);
}

/* n linears, or row slices [row0[i], row0[i] + rows[i]) of fused ones
 * (rows[i] < 0: the whole linear), reading the same x: one gemm_multi
 * call, so the backend prepares x once for all of them. */
static awq_status linears_shared(awq_layer *l, int n, const int *lin, const int64_t *row0,
                                 const int64_t *rows, const float *x, float *const *y,
                                 int64_t R) {
    const float *w[AWQ_GEMM_MULTI_MAX], *b[AWQ_GEMM_MULTI_MAX];
    int64_t N[AWQ_GEMM_MULTI_MAX];
    bool any_bias = false;
    for (int i = 0; i < n; i++) {
        const int li = lin[i];
        const int64_t r0 = rows[i] < 0 ? 0 : row0[i];
        N[i] = rows[i] < 0 ? l->n_out[li] : rows[i];
        w[i] = l->w[li] + r0 * l->n_in[li];
        b[i] = l->b[li] ? l->b[li] + r0 : NULL;
        any_bias |= b[i] != NULL;
        if (l->n_in[li] != l->n_in[lin[0]])
            return awq_fail(l->m->ctx, AWQ_ERR_INTERNAL, "layer %lld: linears sharing an input "
                            "differ in width", (long long)l->index);
    }
    return awq_backend_gemm_multi(l->m->be, x, n, w, any_bias ? b : NULL, y, N, R,
                                  l->n_in[lin[0]]);
}

static awq_status check_bt(awq_model *m, int64_t B, int64_t T) {
    if (B < 0 || T < 0 || (B > 0 && T > INT64_MAX / B) || B * T > ((int64_t)1 << 40))
        return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG, "bad batch shape B=%lld T=%lld",
                        (long long)B, (long long)T);
    return AWQ_OK;
}

/* Scratch layout: attention part for R = chunk rows, then MLP part. */
typedef struct {
    float *xn, *tmp, *q, *k, *v, *att, *gate, *up;
} scratch;

static awq_status get_scratch(awq_model *m, int64_t R, scratch *sc) {
    const awq_model_config *c = &m->cfg;
    int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    int64_t Rm = AWQ_MIN(R, (int64_t)MLP_CHUNK_ROWS);
    uint64_t per_row = (uint64_t)(2 * c->hidden + 2 * qd + 2 * kvd);
    uint64_t total = per_row * (uint64_t)R + (uint64_t)(2 * c->intermediate) * (uint64_t)Rm;
    AWQ_TRY(ensure_ws(m, total));
    float *p = m->ws;
    sc->xn = p; p += R * c->hidden;
    sc->tmp = p; p += R * c->hidden;
    sc->q = p; p += R * qd;
    sc->att = p; p += R * qd;
    sc->k = p; p += R * kvd;
    sc->v = p; p += R * kvd;
    sc->gate = p; p += Rm * c->intermediate;
    sc->up = p;
    return AWQ_OK;
}

/* Attention block on nb sequences of T rows: x_normed -> out. */
static awq_status attn_core(awq_layer *l, const scratch *sc, const float *xn, float *out,
                            int64_t nb, int64_t T, int64_t row0) {
    awq_model *m = l->m;
    awq_backend *be = m->be;
    const awq_model_config *c = &m->cfg;
    int64_t R = nb * T;
    if (m->arch->mla) {
        awq_mla_ops o = {l, linear, linear_rows, capture, m->li, l->norm[AWQ_NORM_Q_A],
                         l->norm[AWQ_NORM_KV_A], m->params.attn_block, 0};
        return awq_mla_attn(be, c, &o, xn, out, nb, T, row0);
    }
    AWQ_TRY(capture(l, AWQ_CAPTURE_QKV_IN, row0, R, c->hidden, xn));
    int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    if (m->li[AWQ_LIN_KIND_QKV] >= 0) {
        /* fused qkv_proj: q, k, v are its row slices [0, qd), [qd, qd+kvd),
         * [qd+kvd, qd+2kvd) */
        const int qkv = m->li[AWQ_LIN_KIND_QKV], lin[3] = {qkv, qkv, qkv};
        const int64_t off[3] = {0, qd, qd + kvd}, rows[3] = {qd, kvd, kvd};
        float *const parts[3] = {sc->q, sc->k, sc->v};
        AWQ_TRY(linears_shared(l, 3, lin, off, rows, xn, parts, R));
    } else {
        const int lin[3] = {m->li[AWQ_LIN_KIND_Q], m->li[AWQ_LIN_KIND_K], m->li[AWQ_LIN_KIND_V]};
        const int64_t whole[3] = {-1, -1, -1};
        float *const parts[3] = {sc->q, sc->k, sc->v};
        AWQ_TRY(linears_shared(l, 3, lin, whole, whole, xn, parts, R));
    }
    if (m->arch->qk_norm) {
        /* Qwen3, Gemma 3: RMSNorm over head_dim of each head, before RoPE */
        float eps = (float)c->rms_eps;
        AWQ_TRY(be->ops->rmsnorm(be, sc->q, l->norm[AWQ_NORM_Q], sc->q, R * c->n_heads,
                                 c->head_dim, eps));
        AWQ_TRY(be->ops->rmsnorm(be, sc->k, l->norm[AWQ_NORM_K], sc->k, R * c->n_kv_heads,
                                 c->head_dim, eps));
    }
    /* sliding layers (Mistral, Phi-3, Gemma's alternate layers, ...) see
     * the last sliding_window keys; Gemma 3's use their own rope */
    bool sliding = awq_model_layer_sliding(c, l->index);
    int ri = (sliding && m->rope[1].inv_freq) ? 1 : 0;
    const rope_state *rs = &m->rope[ri];
    AWQ_TRY(ensure_rope(m, ri, T));
    AWQ_TRY(be->ops->rope(be, sc->q, nb, T, c->n_heads, c->head_dim, rs->cos, rs->sin, rs->n,
                          0));
    AWQ_TRY(be->ops->rope(be, sc->k, nb, T, c->n_kv_heads, c->head_dim, rs->cos, rs->sin,
                          rs->n, 0));
    double qs = c->query_pre_attn_scalar > 0 ? c->query_pre_attn_scalar : (double)c->head_dim;
    awq_attn_desc d = {.B = nb,
                       .T = T,
                       .n_heads = c->n_heads,
                       .n_kv_heads = c->n_kv_heads,
                       .head_dim = c->head_dim,
                       .scale = (float)(1.0 / sqrt(qs)),
                       .block = m->params.attn_block,
                       .softcap = (float)c->attn_softcap,
                       .window = sliding ? c->sliding_window : 0};
    AWQ_TRY(be->ops->attention(be, sc->q, sc->k, sc->v, sc->att, &d));
    AWQ_TRY(capture(l, AWQ_CAPTURE_O_IN, row0, R, qd, sc->att));
    return linear(l, m->li[AWQ_LIN_KIND_O], sc->att, out, R);
}

/* MLP block on R rows: x_normed -> out, in row chunks. */
static awq_status mlp_core(awq_layer *l, const scratch *sc, const float *xn, float *out,
                           int64_t R, int64_t row0) {
    awq_backend *be = l->m->be;
    const awq_model_config *c = &l->m->cfg;
    AWQ_TRY(capture(l, AWQ_CAPTURE_GATE_UP_IN, row0, R, c->hidden, xn));
    if (l->is_moe) return awq_moe_forward(be, c, &l->moe, xn, out, R);
    for (int64_t r = 0; r < R; r += MLP_CHUNK_ROWS) {
        int64_t n = AWQ_MIN((int64_t)MLP_CHUNK_ROWS, R - r);
        const float *x = xn + r * c->hidden;
        int gu = l->m->li[AWQ_LIN_KIND_GATE_UP];
        float *const gate_up[2] = {sc->gate, sc->up};
        if (gu >= 0) {
            /* fused gate_up_proj: gate rows first, then up (chunk(2)) */
            const int lin[2] = {gu, gu};
            const int64_t off[2] = {0, c->intermediate}, rows[2] = {c->intermediate,
                                                                    c->intermediate};
            AWQ_TRY(linears_shared(l, 2, lin, off, rows, x, gate_up, n));
        } else {
            const int lin[2] = {l->m->li[AWQ_LIN_KIND_GATE], l->m->li[AWQ_LIN_KIND_UP]};
            const int64_t whole[2] = {-1, -1};
            AWQ_TRY(linears_shared(l, 2, lin, whole, whole, x, gate_up, n));
        }
        if (c->act == AWQ_ACT_SILU)
            AWQ_TRY(be->ops->silu_mul(be, sc->gate, sc->up, sc->gate, n * c->intermediate));
        else
            AWQ_TRY(be->ops->act_mul(be, c->act, sc->gate, sc->up, sc->gate,
                                     n * c->intermediate));
        AWQ_TRY(capture(l, AWQ_CAPTURE_DOWN_IN, row0 + r, n, c->intermediate, sc->gate));
        AWQ_TRY(linear(l, l->m->li[AWQ_LIN_KIND_DOWN], sc->gate, out + r * c->hidden, n));
        AWQ_TRY(capture(l, AWQ_CAPTURE_MLP_OUT, row0 + r, n, c->hidden, out + r * c->hidden));
    }
    return AWQ_OK;
}

awq_status awq_layer_forward(awq_layer *l, const float *x, float *out, int64_t B, int64_t T) {
    awq_model *m = l->m;
    awq_backend *be = m->be;
    const awq_model_config *c = &m->cfg;
    AWQ_TRY(check_bt(m, B, T));
    if (B == 0 || T == 0) return AWQ_OK;
    if (out != x)
        AWQ_TRY(be->ops->copy(be, out, x, (size_t)(B * T * c->hidden) * sizeof(float)));
    int64_t nbc = attn_chunk_seqs(B, T);
    scratch sc;
    AWQ_TRY(get_scratch(m, nbc * T, &sc));
    float eps = (float)c->rms_eps;
    /* Gemma 2/3: norms on the attention and MLP outputs too, and the MLP's
     * input norm is pre_feedforward_layernorm */
    bool sandwich = m->arch->sandwich_norms;
    awq_layer_norm_id mlp_norm = sandwich ? AWQ_NORM_PRE_FFN : AWQ_NORM_POST_ATTN;
    for (int64_t b0 = 0; b0 < B; b0 += nbc) {
        int64_t nb = AWQ_MIN(nbc, B - b0), R = nb * T, row0 = b0 * T;
        float *h = out + row0 * c->hidden;
        AWQ_TRY(be->ops->rmsnorm(be, h, l->norm[AWQ_NORM_INPUT], sc.xn, R, c->hidden, eps));
        AWQ_TRY(attn_core(l, &sc, sc.xn, sc.tmp, nb, T, row0));
        if (sandwich)
            AWQ_TRY(be->ops->rmsnorm(be, sc.tmp, l->norm[AWQ_NORM_POST_ATTN], sc.tmp, R,
                                     c->hidden, eps));
        AWQ_TRY(be->ops->add(be, h, sc.tmp, R * c->hidden));
        AWQ_TRY(be->ops->rmsnorm(be, h, l->norm[mlp_norm], sc.xn, R, c->hidden, eps));
        AWQ_TRY(mlp_core(l, &sc, sc.xn, sc.tmp, R, row0));
        if (sandwich)
            AWQ_TRY(be->ops->rmsnorm(be, sc.tmp, l->norm[AWQ_NORM_POST_FFN], sc.tmp, R,
                                     c->hidden, eps));
        AWQ_TRY(be->ops->add(be, h, sc.tmp, R * c->hidden));
    }
    return AWQ_OK;
}

awq_status awq_layer_norm(awq_layer *l, awq_layer_norm_id which, const float *x, float *out,
                          int64_t rows) {
    awq_model *m = l->m;
    if ((which != AWQ_NORM_INPUT && which != AWQ_NORM_POST_ATTN && which != AWQ_NORM_PRE_FFN &&
         which != AWQ_NORM_POST_FFN) || !l->norm[which])
        return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG,
                        "awq_layer_norm: norm %d does not apply to hidden states of %s",
                        (int)which, m->cfg.architecture);
    return m->be->ops->rmsnorm(m->be, x, l->norm[which], out, rows, m->cfg.hidden,
                               (float)m->cfg.rms_eps);
}

awq_status awq_layer_attn(awq_layer *l, const float *x_normed, float *out, int64_t B,
                          int64_t T) {
    awq_model *m = l->m;
    AWQ_TRY(check_bt(m, B, T));
    if (B == 0 || T == 0) return AWQ_OK;
    int64_t nbc = attn_chunk_seqs(B, T);
    scratch sc;
    AWQ_TRY(get_scratch(m, nbc * T, &sc));
    int64_t H = m->cfg.hidden;
    for (int64_t b0 = 0; b0 < B; b0 += nbc) {
        int64_t nb = AWQ_MIN(nbc, B - b0), row0 = b0 * T;
        AWQ_TRY(attn_core(l, &sc, x_normed + row0 * H, out + row0 * H, nb, T, row0));
    }
    return AWQ_OK;
}

awq_status awq_layer_mlp(awq_layer *l, const float *x_normed, float *out, int64_t rows) {
    awq_model *m = l->m;
    if (rows < 0 || rows > ((int64_t)1 << 40))
        return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG, "awq_layer_mlp: bad row count %lld",
                        (long long)rows);
    if (rows == 0) return AWQ_OK;
    scratch sc;
    AWQ_TRY(get_scratch(m, AWQ_MIN(rows, (int64_t)MLP_CHUNK_ROWS), &sc));
    return mlp_core(l, &sc, x_normed, out, rows, 0);
}

awq_status awq_layer_linear(awq_layer *l, int lin, const float *x, float *out, int64_t rows) {
    if (!lin_ok(l, lin))
        return awq_fail(l->m->ctx, AWQ_ERR_INVALID_ARG, "linear index %d is out of range", lin);
    return linear(l, lin, x, out, rows);
}

/* ------------------------------------------------------------- model */

awq_status awq_model_embed(awq_model *m, const int32_t *ids, int64_t n, float *out) {
    const int64_t H = m->cfg.hidden, V = m->cfg.vocab;
    if (n < 0) return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG, "embed: n < 0");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return awq_fail(m->ctx, AWQ_ERR_RANGE,
                            "token id %ld at position %lld is outside the vocabulary [0, "
                            "%lld)", (long)ids[i], (long long)i, (long long)V);
    float *host = out;
    if (!m->host) {
        host = awq_alloc((size_t)(n * H), sizeof(float));
        if (!host) return awq_fail_nomem(m->ctx, "embeddings", (uint64_t)(n * H) * 4);
    }
    awq_status s = AWQ_OK;
    for (int64_t i = 0; i < n && s == AWQ_OK; i++)
        s = awq_tensor_rows_to_f32(m->ctx, m->embed_t, ids[i], 1, host + i * H);
    if (s == AWQ_OK && m->arch->embed_scale) {
        /* Gemma: embeddings * sqrt(hidden), the factor rounded to fp32 */
        float f = (float)sqrt((double)H);
        for (int64_t i = 0; i < n * H; i++) host[i] *= f;
    }
    if (s == AWQ_OK && !m->host)
        s = m->be->ops->upload(m->be, out, host, (size_t)(n * H) * sizeof(float));
    if (!m->host) awq_free(host);
    return s;
}

awq_status awq_model_load_lm_head(awq_model *m) {
    if (m->lm_head) return AWQ_OK;
    const awq_tensor_info *t = m->lm_head_t ? m->lm_head_t : m->embed_t;
    float *w = NULL;
    AWQ_TRY(awq_fwd_alloc_f(m, t->n_elements, &w));
    awq_status s = awq_fwd_load_f32(m, t, w);
    if (s != AWQ_OK) {
        awq_fwd_free(m, w);
        return s;
    }
    m->lm_head = w;
    return AWQ_OK;
}

static int64_t logit_chunk_rows(const awq_model *m) {
    int64_t r = (int64_t)(LOGIT_CHUNK_BYTES / ((uint64_t)m->cfg.vocab * sizeof(float)));
    return r < 1 ? 1 : r;
}

awq_status awq_model_logits(awq_model *m, const float *h, float *logits, int64_t rows) {
    const int64_t H = m->cfg.hidden, V = m->cfg.vocab;
    if (rows < 0) return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG, "logits: rows < 0");
    if (rows == 0) return AWQ_OK;
    AWQ_TRY(awq_model_load_lm_head(m));
    int64_t cr = AWQ_MIN(rows, logit_chunk_rows(m));
    float *xn = NULL;
    AWQ_TRY(awq_fwd_alloc_f(m, (uint64_t)(cr * H), &xn));
    awq_status s = AWQ_OK;
    for (int64_t r = 0; r < rows && s == AWQ_OK; r += cr) {
        int64_t n = AWQ_MIN(cr, rows - r);
        s = m->be->ops->rmsnorm(m->be, h + r * H, m->final_norm, xn, n, H,
                                (float)m->cfg.rms_eps);
        if (s == AWQ_OK)
            s = m->be->ops->gemm(m->be, xn, m->lm_head, AWQ_DT_F32, NULL, logits + r * V, n,
                                 V, H);
        if (s == AWQ_OK && m->cfg.final_softcap > 0)
            s = m->be->ops->softcap(m->be, logits + r * V, n * V, (float)m->cfg.final_softcap);
    }
    awq_fwd_free(m, xn);
    return s;
}

/* The consumer's check on logits: nll_rows gives NaN for a row holding any
 * NaN / Inf logit, so a scan of the n doubles finds them; only then is the
 * row searched (downloaded first on a device) to name the element. */
static awq_status check_nll(awq_model *m, const float *lg, int64_t row0, int64_t n,
                            const double *nll) {
    int64_t bad = awq_f64_first_nonfinite(nll, n);
    if (bad < 0) return AWQ_OK;
    const int64_t V = m->cfg.vocab;
    const float *row = lg + bad * V;
    float *host = NULL;
    if (!m->host) {
        host = awq_alloc((size_t)V, sizeof(float));
        if (!host) return awq_fail_nomem(m->ctx, "logits row", (uint64_t)V * 4);
        awq_status s = m->be->ops->download(m->be, host, row, (size_t)V * sizeof(float));
        if (s != AWQ_OK) {
            awq_free(host);
            return s;
        }
        row = host;
    }
    int64_t v = awq_f32_first_nonfinite(row, V);
    awq_status s;
    if (v < 0) /* every logit finite, the sum overflowed: cannot happen in double */
        s = awq_fail(m->ctx, AWQ_ERR_RANGE, "the NLL of row %lld is %s with finite logits",
                     (long long)(row0 + bad), awq_nonfinite_name(nll[bad]));
    else
        s = awq_fail(m->ctx, AWQ_ERR_RANGE,
                     "the logits of row %lld hold %s at token id %lld (lm_head and the "
                     "final norm are finite: an activation overflowed float32)",
                     (long long)(row0 + bad), awq_nonfinite_name(row[v]), (long long)v);
    awq_free(host);
    return s;
}

awq_status awq_model_nll_from_hidden(awq_model *m, const float *h, const int32_t *targets,
                                     int64_t rows, double *nll) {
    const int64_t H = m->cfg.hidden, V = m->cfg.vocab;
    if (rows < 0) return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG, "nll: rows < 0");
    for (int64_t r = 0; r < rows; r++)
        if (targets[r] >= V)
            return awq_fail(m->ctx, AWQ_ERR_RANGE,
                            "target token id %ld at row %lld is outside the vocabulary [0, "
                            "%lld)", (long)targets[r], (long long)r, (long long)V);
    if (rows == 0) return AWQ_OK;
    AWQ_TRY(awq_model_load_lm_head(m));
    int64_t cr = AWQ_MIN(rows, logit_chunk_rows(m));
    float *xn = NULL, *lg = NULL;
    awq_status s = awq_fwd_alloc_f(m, (uint64_t)(cr * H), &xn);
    if (s == AWQ_OK) s = awq_fwd_alloc_f(m, (uint64_t)cr * (uint64_t)V, &lg);
    for (int64_t r = 0; r < rows && s == AWQ_OK; r += cr) {
        int64_t n = AWQ_MIN(cr, rows - r);
        s = m->be->ops->rmsnorm(m->be, h + r * H, m->final_norm, xn, n, H,
                                (float)m->cfg.rms_eps);
        if (s == AWQ_OK)
            s = m->be->ops->gemm(m->be, xn, m->lm_head, AWQ_DT_F32, NULL, lg, n, V, H);
        if (s == AWQ_OK && m->cfg.final_softcap > 0)
            s = m->be->ops->softcap(m->be, lg, n * V, (float)m->cfg.final_softcap);
        if (s == AWQ_OK) s = m->be->ops->nll_rows(m->be, lg, targets + r, n, V, nll + r);
        if (s == AWQ_OK) s = check_nll(m, lg, r, n, nll + r);
    }
    awq_fwd_free(m, xn);
    awq_fwd_free(m, lg);
    return s;
}

awq_status awq_model_run_layers(awq_model *m, float *x, int64_t B, int64_t T) {
    AWQ_TRY(check_bt(m, B, T));
    for (int64_t i = 0; i < m->cfg.n_layers; i++) {
        awq_layer *l = m->cache[i];
        bool cached = l != NULL;
        if (!l) {
            AWQ_TRY(awq_layer_load(m, i, &l));
            if (m->use_cache) {
                m->cache[i] = l;
                cached = true;
            }
        }
        awq_status s = awq_layer_forward(l, x, x, B, T);
        if (!cached) awq_layer_free(l);
        if (s != AWQ_OK) return awq_fail_wrap(m->ctx, s, "layer %lld", (long long)i);
    }
    return AWQ_OK;
}

static awq_status embed_and_run(awq_model *m, const int32_t *ids, int64_t B, int64_t T,
                                float **x_out) {
    *x_out = NULL;
    AWQ_TRY(check_bt(m, B, T));
    float *x = NULL;
    AWQ_TRY(awq_fwd_alloc_f(m, (uint64_t)(B * T) * (uint64_t)m->cfg.hidden, &x));
    awq_status s = awq_model_embed(m, ids, B * T, x);
    if (s == AWQ_OK) s = awq_model_run_layers(m, x, B, T);
    if (s != AWQ_OK) {
        awq_fwd_free(m, x);
        return s;
    }
    *x_out = x;
    return AWQ_OK;
}

awq_status awq_model_forward_logits(awq_model *m, const int32_t *ids, int64_t B, int64_t T,
                                    float *logits) {
    float *x = NULL;
    AWQ_TRY(embed_and_run(m, ids, B, T, &x));
    int64_t rows = B * T;
    awq_status s;
    if (m->host) {
        s = awq_model_logits(m, x, logits, rows);
    } else {
        float *lg = NULL;
        s = awq_fwd_alloc_f(m, (uint64_t)rows * (uint64_t)m->cfg.vocab, &lg);
        if (s == AWQ_OK) s = awq_model_logits(m, x, lg, rows);
        if (s == AWQ_OK)
            s = m->be->ops->download(m->be, logits, lg,
                                     (size_t)(rows * m->cfg.vocab) * sizeof(float));
        awq_fwd_free(m, lg);
    }
    awq_fwd_free(m, x);
    return s;
}

awq_status awq_model_nll(awq_model *m, const int32_t *ids, int64_t B, int64_t T, double *nll) {
    if (T < 2 || B < 0)
        return awq_fail(m->ctx, AWQ_ERR_INVALID_ARG,
                        "nll needs sequences of at least 2 tokens (T=%lld)", (long long)T);
    if (B == 0) return AWQ_OK;
    int64_t rows = B * T;
    int32_t *tg = awq_alloc((size_t)rows, sizeof(int32_t));
    double *all = awq_alloc((size_t)rows, sizeof(double));
    if (!tg || !all) {
        awq_free(tg);
        awq_free(all);
        return awq_fail_nomem(m->ctx, "nll", (uint64_t)rows * 12);
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            tg[b * T + t] = t + 1 < T ? ids[b * T + t + 1] : -1;
    float *x = NULL;
    awq_status s = embed_and_run(m, ids, B, T, &x);
    if (s == AWQ_OK) s = awq_model_nll_from_hidden(m, x, tg, rows, all);
    if (s == AWQ_OK)
        for (int64_t b = 0; b < B; b++)
            memcpy(nll + b * (T - 1), all + b * T, sizeof(double) * (size_t)(T - 1));
    awq_fwd_free(m, x);
    awq_free(tg);
    awq_free(all);
    return s;
}

bool awq_model_linear_has_bias(const awq_model *m, int lin) {
    return m && lin >= 0 && lin < m->arch->n_linears && m->bias[lin];
}
