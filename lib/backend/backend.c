/* lib/backend/backend.c — backend selection and the plain C oracles of the
 * ops (the reference the optimised CPU and CUDA paths are tested against). */
#include "backend/backend.h"
#include "core/core.h"

#include <math.h>
#include <string.h>

#ifdef AWQ_HAVE_CUDA
awq_status awq_backend_cuda_create(awq_ctx *ctx, int device, awq_backend **out);
#endif

const char *awq_backend_kind_name(awq_backend_kind k) {
    switch (k) {
    case AWQ_BACKEND_CPU: return "cpu";
    case AWQ_BACKEND_CUDA: return "cuda";
    }
    return "unknown";
}

awq_status awq_backend_create(awq_ctx *ctx, awq_backend_kind kind, int device,
                              awq_backend **out) {
    *out = NULL;
    switch (kind) {
    case AWQ_BACKEND_CPU:
        return awq_backend_cpu_create(ctx, out);
    case AWQ_BACKEND_CUDA:
#ifdef AWQ_HAVE_CUDA
        return awq_backend_cuda_create(ctx, device, out);
#else
        (void)device;
        return awq_fail(ctx, AWQ_ERR_NO_DEVICE,
                        "this awqkit was built without the CUDA backend");
#endif
    }
    return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown backend %d", (int)kind);
}

void awq_backend_free(awq_backend *be) {
    if (be) be->ops->destroy(be);
}

awq_status awq_backend_gemm_multi(awq_backend *be, const float *x, int n,
                                  const float *const *w, const float *const *bias,
                                  float *const *y, const int64_t *N, int64_t M,
                                  int64_t K) {
    if (n < 1 || n > AWQ_GEMM_MULTI_MAX)
        return awq_fail(be->ctx, AWQ_ERR_INVALID_ARG, "gemm_multi: %d GEMMs (1..%d)", n,
                        AWQ_GEMM_MULTI_MAX);
    if (n > 1 && be->ops->gemm_multi)
        return be->ops->gemm_multi(be, x, n, w, bias, y, N, M, K);
    for (int i = 0; i < n; i++)
        AWQ_TRY(be->ops->gemm(be, x, w[i], AWQ_DT_F32, bias ? bias[i] : NULL, y[i], M, N[i],
                              K));
    return AWQ_OK;
}

/* ------------------------------------------------------------- oracles */

void awq_gemm_ref(const float *x, const float *w, const float *bias, float *y,
                  int64_t M, int64_t N, int64_t K) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)x[i * K + k] * (double)w[n * K + k];
            if (bias) acc += bias[n];
            y[i * N + n] = (float)acc;
        }
}

void awq_rmsnorm_ref(const float *x, const float *w, float *y, int64_t M,
                     int64_t D, float eps) {
    for (int64_t i = 0; i < M; i++) {
        double ss = 0.0;
        for (int64_t d = 0; d < D; d++) ss += (double)x[i * D + d] * x[i * D + d];
        double inv = 1.0 / sqrt(ss / (double)D + (double)eps);
        for (int64_t d = 0; d < D; d++)
            y[i * D + d] = (float)((double)x[i * D + d] * inv * (w ? w[d] : 1.0f));
    }
}

void awq_rope_ref(float *x, int64_t B, int64_t T, int64_t n_heads,
                  int64_t head_dim, const float *cos, const float *sin,
                  int64_t pos0) {
    int64_t half = head_dim / 2;
    for (int64_t r = 0; r < B * T; r++) {
        int64_t p = pos0 + r % T;
        for (int64_t h = 0; h < n_heads; h++) {
            float *v = x + (r * n_heads + h) * head_dim;
            for (int64_t i = 0; i < half; i++) {
                double c = cos[p * half + i], s = sin[p * half + i];
                double a = v[i], b = v[i + half];
                v[i] = (float)(a * c - b * s);
                v[i + half] = (float)(b * c + a * s);
            }
        }
    }
}

void awq_attention_ref(const float *q, const float *k, const float *v,
                       float *out, const awq_attn_desc *d) {
    int64_t T = d->T, hd = d->head_dim, qd = d->n_heads * hd;
    int64_t kvd = d->n_kv_heads * hd, group = d->n_heads / d->n_kv_heads;
    double *p = awq_alloc((size_t)(T ? T : 1), sizeof(double));
    if (!p) return;
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < d->n_heads; h++)
            for (int64_t i = 0; i < T; i++) {
                const float *qi = q + (b * T + i) * qd + h * hd;
                double mx = -INFINITY;
                /* first visible key: the sliding window's lower end */
                int64_t j0 = d->window > 0 && i - d->window + 1 > 0 ? i - d->window + 1 : 0;
                for (int64_t j = j0; j <= i; j++) {
                    const float *kj = k + (b * T + j) * kvd + (h / group) * hd;
                    double s = 0.0;
                    for (int64_t e = 0; e < hd; e++) s += (double)qi[e] * kj[e];
                    p[j] = s * d->scale;
                    if (d->softcap > 0) p[j] = d->softcap * tanh(p[j] / d->softcap);
                    if (p[j] > mx) mx = p[j];
                }
                for (int64_t j = 0; j < j0; j++) p[j] = 0.0;
                double sum = 0.0;
                for (int64_t j = j0; j <= i; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                float *o = out + (b * T + i) * qd + h * hd;
                for (int64_t e = 0; e < hd; e++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j <= i; j++)
                        acc += p[j] * v[(b * T + j) * kvd + (h / group) * hd + e];
                    o[e] = (float)(acc / sum);
                }
            }
    awq_free(p);
}

void awq_silu_mul_ref(const float *gate, const float *up, float *out,
                      int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
    }
}

void awq_act_mul_ref(awq_act act, const float *gate, const float *up, float *out,
                     int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double g = gate[i], a;
        switch (act) {
        case AWQ_ACT_GELU_TANH:
            a = 0.5 * g * (1.0 + tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)));
            break;
        case AWQ_ACT_GELU: a = 0.5 * g * (1.0 + erf(g * 0.7071067811865476)); break;
        default: a = g / (1.0 + exp(-g)); break;
        }
        out[i] = (float)(a * up[i]);
    }
}

void awq_softcap_ref(float *x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(cap * tanh((double)x[i] / cap));
}

void awq_nll_rows_ref(const float *logits, const int32_t *targets, int64_t M,
                      int64_t V, double *nll) {
    for (int64_t r = 0; r < M; r++) {
        if (targets[r] < 0) {
            nll[r] = 0.0;
            continue;
        }
        const float *z = logits + r * V;
        bool bad = false;
        for (int64_t i = 0; i < V; i++) bad |= !isfinite(z[i]);
        if (bad) { /* the contract: NaN for a row with a NaN / Inf logit */
            nll[r] = NAN;
            continue;
        }
        double mx = z[0];
        for (int64_t i = 1; i < V; i++) mx = z[i] > mx ? z[i] : mx;
        double s = 0.0;
        for (int64_t i = 0; i < V; i++) s += exp(z[i] - mx);
        nll[r] = mx + log(s) - z[targets[r]];
    }
}

void awq_gram_ref(const float *x, int64_t M, int64_t K, float *g,
                  bool accumulate) {
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = i; j < K; j++) {
            double acc = accumulate ? (double)g[i * K + j] : 0.0;
            for (int64_t r = 0; r < M; r++)
                acc += (double)x[r * K + i] * (double)x[r * K + j];
            g[i * K + j] = (float)acc;
            g[j * K + i] = (float)acc;
        }
}

double awq_dot_ref(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t b0 = 0; b0 < n; b0 += AWQ_DOT_BLOCK) {
        int64_t b1 = b0 + AWQ_DOT_BLOCK < n ? b0 + AWQ_DOT_BLOCK : n;
        double acc = 0.0;
        for (int64_t i = b0; i < b1; i++) acc += (double)a[i] * (double)b[i];
        s += acc;
    }
    return s;
}

float awq_round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) {
        u &= 0xffff0000u; /* Inf stays Inf; NaN keeps a payload bit */
        if (f != f) u |= 0x00400000u;
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
    }
    memcpy(&f, &u, 4);
    return f;
}

void awq_gemm_bf16_ref(const float *x, const float *w, const float *bias,
                       float *y, int64_t M, int64_t N, int64_t K) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)awq_round_bf16(x[i * K + k]) *
                       (double)awq_round_bf16(w[n * K + k]);
            if (bias) acc += bias[n];
            y[i * N + n] = (float)acc;
        }
}

void awq_attention_bf16_ref(const float *q, const float *k, const float *v,
                            float *out, const awq_attn_desc *d) {
    const int64_t T = d->T, hd = d->head_dim, qd = d->n_heads * hd;
    const int64_t kvd = d->n_kv_heads * hd, group = d->n_heads / d->n_kv_heads;
    int64_t blk = d->block > 0 ? d->block : AWQ_ATTN_BLOCK_DEFAULT;
    if (blk > 4096) blk = 4096;
    const int64_t QB = (blk + 15) & ~(int64_t)15;
    float *p = awq_alloc((size_t)QB, sizeof(float));
    double *acc = awq_alloc((size_t)hd, sizeof(double));
    if (!p || !acc) {
        awq_free(p);
        awq_free(acc);
        return;
    }
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < d->n_heads; h++)
            for (int64_t i = 0; i < T; i++) {
                const float *qi = q + (b * T + i) * qd + h * hd;
                const int64_t kvo = (h / group) * hd;
                const int64_t j0 = d->window > 0 && i - d->window + 1 > 0 ? i - d->window + 1 : 0;
                float m = -INFINITY;
                double l = 0.0;
                for (int64_t e = 0; e < hd; e++) acc[e] = 0.0;
                for (int64_t k0 = 0; k0 <= i; k0 += QB) {
                    int64_t lo = k0 > j0 ? k0 : j0, hi = k0 + QB - 1 < i ? k0 + QB - 1 : i;
                    if (lo > hi) continue; /* no visible key: the state stays */
                    float mx = m;
                    for (int64_t j = lo; j <= hi; j++) {
                        const float *kj = k + (b * T + j) * kvd + kvo;
                        double s = 0.0;
                        for (int64_t e = 0; e < hd; e++)
                            s += (double)qi[e] * (double)kj[e];
                        float x = (float)s * d->scale;
                        if (d->softcap > 0) x = d->softcap * tanhf(x / d->softcap);
                        p[j - k0] = x;
                        if (x > mx) mx = x;
                    }
                    float corr = expf(m - mx); /* 0 on the first block */
                    m = mx;
                    l *= corr;
                    for (int64_t e = 0; e < hd; e++) acc[e] *= corr;
                    for (int64_t j = lo; j <= hi; j++) {
                        float pj = expf(p[j - k0] - mx);
                        l += pj;
                        double pb = awq_round_bf16(pj);
                        const float *vj = v + (b * T + j) * kvd + kvo;
                        for (int64_t e = 0; e < hd; e++)
                            acc[e] += pb * (double)awq_round_bf16(vj[e]);
                    }
                }
                float *o = out + (b * T + i) * qd + h * hd;
                for (int64_t e = 0; e < hd; e++) o[e] = (float)(acc[e] / l);
            }
    awq_free(p);
    awq_free(acc);
}
