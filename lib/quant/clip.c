/*
 * lib/quant/clip.c — the clip search, its clamp, in-place and batched
 * candidate pseudo-quantization: the plain C oracles (_ref), the CPU
 * backend paths (_cpu) and the dispatchers to the CUDA kernels.
 *
 * Bit-exactness. The per-element math is lib/quant/qmath.h (shared with
 * kernels/quant.cu); the dot products use explicit fmaf in increasing k and
 * the token reduction has the fixed run/chunk order of clip.h, so the
 * oracle, the threaded path (any thread count) and the CUDA kernels agree
 * bit for bit. This file is compiled with -ffp-contract=off (see
 * lib/quant/sources.cmake): a contracted (q_w - w) in the x86-64-v3 clone
 * would round differently from the GPU's __fsub_rn.
 *
 * Speed of the CPU clip search: x is transposed once to xT [K][Tp] (tokens
 * padded to a multiple of 32 with zeros) so that 32 tokens' dot products
 * advance together with one broadcast of d[k]: the inner loop is 32
 * independent fmaf chains, vectorised to FMA instructions in the
 * x86-64-v3 clone (the baseline clone calls libm's fmaf, which gives the
 * same values). Zero-padded tokens give e = 0 and add +0.0 to their run,
 * which leaves every partial sum unchanged.
 */
#include "quant/clip.h"
#include "quant/clip_impl.h"

#include "backend/cuda_quant.h"
#include "core/core.h"
#include "quant/layouts.h"
#include "quant/qmath.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AWQ_CLIP_CLONES __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define AWQ_CLIP_CLONES
#endif

/* Tokens advanced together by the CPU path (divides AWQ_CLIP_CHUNK and is
 * a multiple of AWQ_CLIP_RUN). */
#define TB 32

_Static_assert(AWQ_CLIP_CHUNK % TB == 0 && TB % AWQ_CLIP_RUN == 0,
               "token block must tile the reduction order");

/* ------------------------------------------------------------- checks */

awq_status awq_clip_check_args(awq_ctx *ctx, const char *what, int64_t N,
                               int64_t K, const awq_quant_params *q) {
    if (!q)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL quantization parameters", what);
    if (!awq_lay_bits_ok(q->bits))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: bits must be 2, 3, 4 or 8 (got %d)",
                        what, q->bits);
    if (q->group_size != -1 && q->group_size < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: group_size must be > 0 or -1 (got %d)", what, q->group_size);
    if (N < 1 || K < 1 || N > AWQ_LAY_MAX_DIM || K > AWQ_LAY_MAX_DIM ||
        K > AWQ_LAY_MAX_ELEMS / N)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: shape [%lld, %lld] out of range (1..2^31-1 each, at most "
                        "2^40 elements)",
                        what, (long long)N, (long long)K);
    return AWQ_OK;
}

awq_status clip_check(awq_ctx *ctx, const char *what, const void *w, const void *x,
                      const void *max_val, int64_t N, int64_t K, int64_t T,
                      const awq_quant_params *q, int n_grid, int n_steps) {
    AWQ_TRY(awq_clip_check_args(ctx, what, N, K, q));
    if (!w || !x || !max_val)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL buffer", what);
    if (n_grid < 1 || n_steps < 0 || n_steps > n_grid || n_steps > AWQ_CLIP_MAX_STEPS)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: need 1 <= n_grid and 0 <= n_steps <= min(n_grid, %d) "
                        "(got n_grid %d, n_steps %d)",
                        what, AWQ_CLIP_MAX_STEPS, n_grid, n_steps);
    if (T < 1 || T > AWQ_LAY_MAX_DIM || K > AWQ_LAY_MAX_ELEMS / T)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: %lld sampled tokens of %lld features out of range (need "
                        ">= 1 token, at most 2^40 values)",
                        what, (long long)T, (long long)K);
    return AWQ_OK;
}

/* Message for a group that cannot be quantized: first non-finite weight,
 * else the scale overflow (the oracle quantizer's wording). */
awq_status clip_group_fail(awq_ctx *ctx, const char *what, const float *wg, int64_t len,
                           const awq_quant_params *q, int64_t row, int64_t col0,
                           int64_t group) {
    for (int64_t i = 0; i < len; i++)
        if (!awq_qm_isfinite(wg[i]))
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: non-finite weight %g at (row %lld, column %lld)", what,
                            (double)wg[i], (long long)row, (long long)(col0 + i));
    awq_qm_stats st;
    awq_qm_stats_init(&st, wg[0]);
    for (int64_t i = 1; i < len; i++) awq_qm_stats_add(&st, wg[i]);
    double sc = q->sym ? (double)st.amax / (double)((1 << (q->bits - 1)) - 1)
                       : ((double)st.mx - (double)st.mn) / (double)((1 << q->bits) - 1);
    return awq_fail(ctx, AWQ_ERR_RANGE,
                    "%s: group %lld of row %lld (columns %lld..%lld): scale %g exceeds "
                    "the FP16 maximum 65504 (weights %g..%g)",
                    what, (long long)group, (long long)row, (long long)col0,
                    (long long)(col0 + len - 1), sc, (double)st.mn, (double)st.mx);
}

/* Statistics of one group; false (with stats->bad or an overflowing
 * scale) when it cannot be quantized. */
/* Why not awq_qm_stats_add here: its fmaxf / fminf are libm calls on the
 * CPU (GCC inlines them only when it may ignore NaNs), and they cost more
 * than the rest of the clip search's per-weight work. For finite weights
 * comparisons give the same minimum, maximum and max |w|, except perhaps
 * the sign of a zero minimum / maximum, which never changes the group's
 * parameters (quant/qmath.h, awq_qm_params). A group with a non-finite
 * weight takes the oracle's path (its message names the weight). */
AWQ_CLIP_CLONES
static bool stats_finite(const float *wg, int64_t len, awq_qm_stats *st) {
    float mn = wg[0], mx = wg[0], am = fabsf(wg[0]);
    int fin = 1;
    for (int64_t i = 0; i < len; i++) {
        const float w = wg[i], a = fabsf(w);
        fin &= a <= 3.4028234663852886e38f;
        mn = w < mn ? w : mn;
        mx = w > mx ? w : mx;
        am = a > am ? a : am;
    }
    st->mn = mn;
    st->mx = mx;
    st->amax = am;
    st->bad = !fin;
    return fin != 0;
}

bool clip_group_ok(const float *wg, int64_t len, const awq_quant_params *q,
                   awq_qm_stats *st, awq_qm_group *gp) {
    if (!stats_finite(wg, len, st)) {
        awq_qm_stats_init(st, wg[0]);
        for (int64_t i = 1; i < len; i++) awq_qm_stats_add(st, wg[i]);
        if (st->bad) return false;
    }
    return awq_qm_params(st, q->bits, q->sym, gp) != 0;
}

/* d[k] = Q(clamp(w, mv)) - w for step i of a group; false if the clamped
 * group cannot be quantized (impossible when the unclamped one can: the
 * clamped range is never larger). */
/* Its clamp is written with comparisons rather than awq_qm_clamp's
 * fminf / fmaxf (libm calls, see stats_finite): the groups here are finite
 * (clip_group_ok) and mv >= 0, where both give the same value up to the
 * sign of a zero, and Q(+0) == Q(-0); d subtracts the unclamped weight. */
AWQ_CLIP_CLONES
bool clip_delta(const float *wg, int64_t len, const awq_qm_stats *st,
                const awq_quant_params *q, int i, int n_grid, bool lane, float *mv_out,
                float *d) {
    float mv = awq_qm_clip_max(st->amax, i, n_grid);
    awq_qm_stats cs = awq_qm_stats_clamped(st, mv);
    awq_qm_group gp;
    *mv_out = mv;
    if (!awq_qm_params(&cs, q->bits, q->sym, &gp)) return false;
    const float lo = -mv;
    if (lane) {
        const awq_qm_lane L = awq_qm_lane_of(&gp, q->bits, q->sym);
        for (int64_t k = 0; k < len; k++) {
            const float w = wg[k], c = w < lo ? lo : (w > mv ? mv : w);
            d[k] = AWQ_QM_SUB(awq_qm_pseudo_lane(c, &L), w);
        }
        return true;
    }
    for (int64_t k = 0; k < len; k++) {
        const float w = wg[k], c = w < lo ? lo : (w > mv ? mv : w);
        float qw = awq_qm_pseudo(c, &gp, q->bits, q->sym);
        d[k] = AWQ_QM_SUB(qw, w);
    }
    return true;
}

/* The fixed-order sum of e_t^2 (clip.h), streaming: feed consecutive
 * blocks of tokens whose first token index is a multiple of AWQ_CLIP_RUN;
 * a block never crosses a chunk boundary. */
typedef struct {
    double total, chunk;
} ord_sum;

static inline void ord_feed(ord_sum *o, const float *e, int64_t t0, int64_t n,
                            int64_t T) {
    for (int64_t r = 0; r < n; r += AWQ_CLIP_RUN) {
        double run = 0.0;
        int64_t re = AWQ_MIN(r + AWQ_CLIP_RUN, n);
        for (int64_t t = r; t < re; t++) run += (double)e[t] * (double)e[t];
        o->chunk += run;
    }
    int64_t end = t0 + n;
    if (end % AWQ_CLIP_CHUNK == 0 || end >= T) {
        o->total += o->chunk;
        o->chunk = 0.0;
    }
}

/* ------------------------------------------------------------ oracle */

awq_status awq_clip_search_ref(awq_ctx *ctx, const float *w, const float *x,
                               int64_t N, int64_t K, int64_t T,
                               const awq_quant_params *q, int n_grid,
                               int n_steps, float *max_val, double *errs) {
    const char *what = "clip search";
    AWQ_TRY(clip_check(ctx, what, w, x, max_val, N, K, T, q, n_grid, n_steps));
    const int64_t gl = awq_group_len(K, q->group_size), G = awq_n_groups(K, q->group_size);
    float *d = awq_alloc((size_t)gl, sizeof(float));
    float *e = awq_alloc((size_t)T, sizeof(float));
    if (!d || !e) {
        awq_free(d);
        awq_free(e);
        return awq_fail_nomem(ctx, "clip search scratch", (uint64_t)(gl + T) * 4u);
    }
    awq_status st = AWQ_OK;
    for (int64_t n = 0; n < N && st == AWQ_OK; n++) {
        for (int64_t g = 0; g < G; g++) {
            const int64_t k0 = g * gl, len = AWQ_MIN(gl, K - k0);
            const float *wg = w + n * K + k0;
            awq_qm_stats gs;
            awq_qm_group gp;
            if (!clip_group_ok(wg, len, q, &gs, &gp)) {
                st = clip_group_fail(ctx, what, wg, len, q, n, k0, g);
                break;
            }
            double best_err = INFINITY;
            float best = gs.amax;
            for (int i = 0; i < n_steps; i++) {
                float mv;
                double err = NAN;
                if (clip_delta(wg, len, &gs, q, i, n_grid, false, &mv, d)) {
                    for (int64_t t = 0; t < T; t++) {
                        const float *xr = x + t * K + k0;
                        float acc = 0.0f;
                        for (int64_t k = 0; k < len; k++) acc = fmaf(xr[k], d[k], acc);
                        e[t] = acc;
                    }
                    /* the fixed order, written out plainly */
                    double total = 0.0;
                    for (int64_t c0 = 0; c0 < T; c0 += AWQ_CLIP_CHUNK) {
                        double chunk = 0.0;
                        int64_t c1 = AWQ_MIN(c0 + AWQ_CLIP_CHUNK, T);
                        for (int64_t r0 = c0; r0 < c1; r0 += AWQ_CLIP_RUN) {
                            double run = 0.0;
                            int64_t r1 = AWQ_MIN(r0 + AWQ_CLIP_RUN, c1);
                            for (int64_t t = r0; t < r1; t++)
                                run += (double)e[t] * (double)e[t];
                            chunk += run;
                        }
                        total += chunk;
                    }
                    err = total / (double)T;
                }
                if (errs) errs[((int64_t)i * N + n) * G + g] = err;
                if (err < best_err) {
                    best_err = err;
                    best = mv;
                }
            }
            max_val[n * G + g] = best;
        }
    }
    awq_free(d);
    awq_free(e);
    return st;
}

/* ----------------------------------------------------------- CPU path */

typedef struct {
    const float *w, *xT;
    float *max_val;
    double *errs;          /* optional [n_steps][N][G] */
    int64_t N, K, T, Tp, gl, G;
    const awq_quant_params *q;
    int n_grid, n_steps;
    float *scratch;        /* per worker: scratch_floats (d, mv, e) */
    int64_t scratch_floats;
    ord_sum *os;           /* per worker: n_steps */
    uint8_t *okv;          /* per worker: n_steps */
    int64_t *fail;         /* per worker: first failing item, -1 none */
} clip_job;

/* xT [K][Tp] = x [T][K] transposed, tokens T..Tp-1 zero. */
typedef struct {
    const float *x;
    float *xT;
    int64_t K, T, Tp;
} xpose_job;

static void xpose_rows(void *arg, int64_t k0, int64_t k1, int worker) {
    (void)worker;
    const xpose_job *j = arg;
    for (int64_t k = k0; k < k1; k++) {
        float *dst = j->xT + k * j->Tp;
        for (int64_t t = 0; t < j->T; t++) dst[t] = j->x[t * j->K + k];
        for (int64_t t = j->T; t < j->Tp; t++) dst[t] = 0.0f;
    }
}

/* acc[0..TB) = dot products of TB tokens (xT columns t0..t0+TB) with d. */
AWQ_CLIP_CLONES
static void dot_block(const float *restrict xT, int64_t Tp, int64_t t0,
                      const float *restrict d, int64_t len, float *restrict acc) {
    float a[TB];
    for (int j = 0; j < TB; j++) a[j] = 0.0f;
    for (int64_t k = 0; k < len; k++) {
        const float *restrict xv = xT + k * Tp + t0;
        const float dk = d[k];
        for (int j = 0; j < TB; j++) a[j] = fmaf(xv[j], dk, a[j]);
    }
    for (int j = 0; j < TB; j++) acc[j] = a[j];
}

static void clip_items(void *arg, int64_t i0, int64_t i1, int worker) {
    const clip_job *j = arg;
    const int S = j->n_steps;
    float *d = j->scratch + (int64_t)worker * j->scratch_floats; /* [S][gl] */
    float *mv = d + (int64_t)S * j->gl;                         /* [S] */
    float *e = mv + S;                                          /* [TB] */
    ord_sum *os = j->os + (int64_t)worker * S;
    uint8_t *okv = j->okv + (int64_t)worker * S;
    for (int64_t it = i0; it < i1; it++) {
        const int64_t n = it / j->G, g = it % j->G;
        const int64_t k0 = g * j->gl, len = AWQ_MIN(j->gl, j->K - k0);
        const float *wg = j->w + n * j->K + k0;
        awq_qm_stats gs;
        awq_qm_group gp;
        if (!clip_group_ok(wg, len, j->q, &gs, &gp)) {
            j->fail[worker] = it;
            return;
        }
        for (int s = 0; s < S; s++) {
            okv[s] = (uint8_t)clip_delta(wg, len, &gs, j->q, s, j->n_grid, true, &mv[s],
                                          d + s * j->gl);
            os[s].total = os[s].chunk = 0.0;
        }
        for (int64_t t0 = 0; t0 < j->T; t0 += TB) {
            const int64_t nt = AWQ_MIN((int64_t)TB, j->T - t0);
            for (int s = 0; s < S; s++) {
                if (!okv[s]) continue;
                dot_block(j->xT + k0 * j->Tp, j->Tp, t0, d + s * j->gl, len, e);
                ord_feed(&os[s], e, t0, nt, j->T);
            }
        }
        double best_err = INFINITY;
        float best = gs.amax;
        for (int s = 0; s < S; s++) {
            double err = okv[s] ? os[s].total / (double)j->T : NAN;
            if (j->errs) j->errs[((int64_t)s * j->N + n) * j->G + g] = err;
            if (err < best_err) {
                best_err = err;
                best = mv[s];
            }
        }
        j->max_val[n * j->G + g] = best;
    }
}

awq_status awq_clip_search_cpu(awq_backend *be, const float *w,
                               const float *x, int64_t N, int64_t K,
                               int64_t T, const awq_quant_params *q,
                               int n_grid, int n_steps, float *max_val) {
    return awq_clip_search_cpu_ex(be, w, x, N, K, T, q, n_grid, n_steps, max_val, NULL);
}

awq_status awq_clip_search_cpu_ex(awq_backend *be, const float *w,
                                  const float *x, int64_t N, int64_t K,
                                  int64_t T, const awq_quant_params *q,
                                  int n_grid, int n_steps, float *max_val,
                                  double *errs) {
    awq_ctx *ctx = be->ctx;
    const char *what = "clip search";
    AWQ_TRY(clip_check(ctx, what, w, x, max_val, N, K, T, q, n_grid, n_steps));
    clip_job j;
    memset(&j, 0, sizeof j);
    j.N = N;
    j.K = K;
    j.T = T;
    j.Tp = (T + TB - 1) / TB * TB;
    j.gl = awq_group_len(K, q->group_size);
    j.G = awq_n_groups(K, q->group_size);
    j.q = q;
    j.n_grid = n_grid;
    j.n_steps = n_steps;
    j.max_val = max_val;
    j.errs = errs;
    const int nw = awq_ctx_n_threads(ctx) > 0 ? awq_ctx_n_threads(ctx) : 1;
    /* d [S][gl], mv [S], e [TB] */
    const int64_t fl = (int64_t)n_steps * j.gl + n_steps + TB;
    j.scratch_floats = (fl + 15) & ~(int64_t)15;
    const size_t s1 = (size_t)(n_steps > 0 ? n_steps : 1) * (size_t)nw;
    uint64_t xt_floats = (uint64_t)K * (uint64_t)j.Tp;
    float *xT = awq_alloc((size_t)xt_floats, sizeof(float));
    j.scratch = awq_alloc((size_t)(j.scratch_floats * nw), sizeof(float));
    j.os = awq_alloc(s1, sizeof(ord_sum));
    j.okv = awq_alloc(s1, 1);
    j.fail = clip_fail_slots(nw);
    if (!xT || !j.scratch || !j.os || !j.okv || !j.fail) {
        awq_free(xT);
        awq_free(j.scratch);
        awq_free(j.os);
        awq_free(j.okv);
        awq_free(j.fail);
        return awq_fail_nomem(ctx, "clip search buffers",
                              xt_floats * 4u + (uint64_t)(j.scratch_floats * nw) * 4u);
    }
    xpose_job tj = {x, xT, K, T, j.Tp};
    awq_parallel_for(ctx, K, xpose_rows, &tj);
    j.w = w;
    j.xT = xT;
    awq_parallel_for(ctx, N * j.G, clip_items, &j);
    /* items row-major: n = it / G, g = it % G */
    const int64_t bad = clip_first_fail(j.fail, nw);
    const awq_status st =
        bad < 0 ? AWQ_OK : clip_item_fail(ctx, what, w, K, j.gl, q, bad / j.G, bad % j.G);
    awq_free(xT);
    awq_free(j.scratch);
    awq_free(j.os);
    awq_free(j.okv);
    awq_free(j.fail);
    return st;
}

/* ------------------------------------------------------------ clamp */

typedef struct {
    float *w;
    const float *mv;
    int64_t K, gl, G;
} apply_job;

static void apply_rows(void *arg, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const apply_job *j = arg;
    for (int64_t n = r0; n < r1; n++) {
        float *row = j->w + n * j->K;
        for (int64_t k = 0; k < j->K; k++)
            row[k] = awq_qm_clamp(row[k], j->mv[n * j->G + k / j->gl]);
    }
}

awq_status awq_clip_apply_cpu(awq_backend *be, float *w, int64_t N, int64_t K,
                              int group_size, const float *max_val) {
    awq_quant_params q = awq_quant_default_params();
    q.group_size = group_size;
    AWQ_TRY(awq_clip_check_args(be->ctx, "clip apply", N, K, &q));
    if (!w || !max_val)
        return awq_fail(be->ctx, AWQ_ERR_INVALID_ARG, "clip apply: NULL buffer");
    apply_job j = {w, max_val, K, awq_group_len(K, group_size), awq_n_groups(K, group_size)};
    awq_parallel_for(be->ctx, N, apply_rows, &j);
    return AWQ_OK;
}

/* -------------------------------------- pseudo-quantization in place */

awq_status awq_pseudo_quant_cpu(awq_backend *be, float *w, int64_t N,
                                int64_t K, const awq_quant_params *q) {
    AWQ_TRY(awq_clip_check_args(be->ctx, "pseudo-quantize", N, K, q));
    return awq_pseudo_quantize(be->ctx, "weight", w, w, N, K, q);
}

/* ------------------------------------------------ scaled candidates */

/* One row of one candidate: out[k] = Q(w[k]*s[k]) / s[k] per group, using
 * ws (len K) as scratch. Returns the failing group or -1. */
AWQ_CLIP_CLONES
static int64_t scaled_row(const float *w, const float *s, int64_t K, int64_t gl,
                          const awq_quant_params *q, bool lane, float *ws, float *out) {
    for (int64_t k = 0; k < K; k++) ws[k] = AWQ_QM_MUL(w[k], s[k]);
    for (int64_t k0 = 0, g = 0; k0 < K; k0 += gl, g++) {
        int64_t len = AWQ_MIN(gl, K - k0);
        awq_qm_stats st;
        awq_qm_group gp;
        if (!clip_group_ok(ws + k0, len, q, &st, &gp)) return g;
        if (lane) {
            const awq_qm_lane L = awq_qm_lane_of(&gp, q->bits, q->sym);
            for (int64_t k = k0; k < k0 + len; k++)
                out[k] = AWQ_QM_DIV(awq_qm_pseudo_lane(ws[k], &L), s[k]);
            continue;
        }
        for (int64_t k = k0; k < k0 + len; k++)
            out[k] = AWQ_QM_DIV(awq_qm_pseudo(ws[k], &gp, q->bits, q->sym), s[k]);
    }
    return -1;
}

static awq_status scaled_check(awq_ctx *ctx, const float *w, int64_t N, int64_t K,
                               const float *scales, int64_t n_cand,
                               const awq_quant_params *q, const float *out) {
    const char *what = "pseudo-quantize candidates";
    AWQ_TRY(awq_clip_check_args(ctx, what, N, K, q));
    if (!w || !scales || !out)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL buffer", what);
    if (n_cand < 1 || n_cand > (int64_t)1 << 20 || (N * K) > AWQ_LAY_MAX_ELEMS / n_cand)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: %lld candidates of [%lld, %lld] out of range", what,
                        (long long)n_cand, (long long)N, (long long)K);
    return AWQ_OK;
}

static awq_status scaled_fail(awq_ctx *ctx, const float *w, const float *s,
                              int64_t K, int64_t gl, const awq_quant_params *q,
                              int64_t c, int64_t n, int64_t g) {
    int64_t k0 = g * gl, len = AWQ_MIN(gl, K - k0);
    float *ws = awq_alloc((size_t)len, sizeof(float));
    if (!ws) return awq_fail_nomem(ctx, "message scratch", (uint64_t)len * 4u);
    for (int64_t k = 0; k < len; k++) ws[k] = AWQ_QM_MUL(w[n * K + k0 + k], s[k0 + k]);
    char what[64];
    snprintf(what, sizeof what, "scale candidate %lld", (long long)c);
    awq_status st = clip_group_fail(ctx, what, ws, len, q, n, k0, g);
    awq_free(ws);
    return st;
}

awq_status awq_pseudo_quant_scaled_ref(awq_ctx *ctx, const float *w,
                                       int64_t N, int64_t K,
                                       const float *scales, int64_t n_cand,
                                       const awq_quant_params *q, float *out,
                                       uint8_t *failed) {
    AWQ_TRY(scaled_check(ctx, w, N, K, scales, n_cand, q, out));
    const int64_t gl = awq_group_len(K, q->group_size);
    float *ws = awq_alloc((size_t)K, sizeof(float));
    if (!ws) return awq_fail_nomem(ctx, "candidate scratch", (uint64_t)K * 4u);
    awq_status st = AWQ_OK;
    for (int64_t c = 0; c < n_cand && st == AWQ_OK; c++) {
        const float *s = scales + c * K;
        if (failed) failed[c] = 0;
        for (int64_t n = 0; n < N; n++) {
            int64_t g = scaled_row(w + n * K, s, K, gl, q, false, ws, out + (c * N + n) * K);
            if (g >= 0) {
                if (failed) {
                    failed[c] = 1;
                } else {
                    st = scaled_fail(ctx, w, s, K, gl, q, c, n, g);
                }
                break;
            }
        }
    }
    awq_free(ws);
    return st;
}

typedef struct {
    const float *w, *scales;
    float *out;
    int64_t N, K, gl;
    const awq_quant_params *q;
    float *ws;             /* per worker: K floats */
    int64_t *row_fail;     /* [n_cand * N]: failing group or -1 */
} scaled_job;

static void scaled_rows(void *arg, int64_t r0, int64_t r1, int worker) {
    const scaled_job *j = arg;
    float *ws = j->ws + (int64_t)worker * j->K;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t c = r / j->N, n = r % j->N;
        j->row_fail[r] = scaled_row(j->w + n * j->K, j->scales + c * j->K, j->K, j->gl, j->q,
                                    true, ws, j->out + r * j->K);
    }
}

awq_status awq_pseudo_quant_scaled_cpu(awq_backend *be, const float *w,
                                       int64_t N, int64_t K,
                                       const float *scales, int64_t n_cand,
                                       const awq_quant_params *q, float *out,
                                       uint8_t *failed) {
    awq_ctx *ctx = be->ctx;
    AWQ_TRY(scaled_check(ctx, w, N, K, scales, n_cand, q, out));
    const int nw = awq_ctx_n_threads(ctx) > 0 ? awq_ctx_n_threads(ctx) : 1;
    scaled_job j = {w, scales, out, N, K, awq_group_len(K, q->group_size), q, NULL, NULL};
    j.ws = awq_alloc((size_t)K * (size_t)nw, sizeof(float));
    j.row_fail = awq_alloc((size_t)(n_cand * N), sizeof(int64_t));
    if (!j.ws || !j.row_fail) {
        awq_free(j.ws);
        awq_free(j.row_fail);
        return awq_fail_nomem(ctx, "candidate scratch",
                              (uint64_t)K * 4u * (uint64_t)nw + (uint64_t)(n_cand * N) * 8u);
    }
    awq_parallel_for(ctx, n_cand * N, scaled_rows, &j);
    awq_status st = AWQ_OK;
    for (int64_t c = 0; c < n_cand && st == AWQ_OK; c++) {
        if (failed) failed[c] = 0;
        for (int64_t n = 0; n < N; n++) {
            int64_t g = j.row_fail[c * N + n];
            if (g < 0) continue;
            if (failed)
                failed[c] = 1;
            else
                st = scaled_fail(ctx, w, scales + c * K, K, j.gl, q, c, n, g);
            break;
        }
    }
    awq_free(j.ws);
    awq_free(j.row_fail);
    return st;
}

/* ---------------------------------------------------------- dispatch */

static awq_status bad_kind(awq_backend *be, const char *what) {
    return awq_fail(be ? be->ctx : NULL, AWQ_ERR_INVALID_ARG, "%s: unknown backend %d", what,
                    be ? (int)be->kind : -1);
}

awq_status awq_clip_search(awq_backend *be, const float *w, const float *x,
                           int64_t N, int64_t K, int64_t T,
                           const awq_quant_params *q, int n_grid, int n_steps,
                           float *max_val) {
    return awq_clip_search_ex(be, w, x, N, K, T, q, n_grid, n_steps, max_val, NULL);
}

awq_status awq_clip_search_ex(awq_backend *be, const float *w, const float *x,
                              int64_t N, int64_t K, int64_t T,
                              const awq_quant_params *q, int n_grid,
                              int n_steps, float *max_val, double *errs) {
    if (be && be->kind == AWQ_BACKEND_CPU)
        return awq_clip_search_cpu_ex(be, w, x, N, K, T, q, n_grid, n_steps, max_val, errs);
    if (be && be->kind == AWQ_BACKEND_CUDA)
        return awq_cuda_clip_search_ex(be, w, x, N, K, T, q, n_grid, n_steps, max_val, errs);
    return bad_kind(be, "clip search");
}

awq_status awq_clip_apply(awq_backend *be, float *w, int64_t N, int64_t K,
                          int group_size, const float *max_val) {
    if (be && be->kind == AWQ_BACKEND_CPU)
        return awq_clip_apply_cpu(be, w, N, K, group_size, max_val);
    if (be && be->kind == AWQ_BACKEND_CUDA)
        return awq_cuda_clip_apply(be, w, N, K, group_size, max_val);
    return bad_kind(be, "clip apply");
}

awq_status awq_pseudo_quant(awq_backend *be, float *w, int64_t N, int64_t K,
                            const awq_quant_params *q) {
    if (be && be->kind == AWQ_BACKEND_CPU) return awq_pseudo_quant_cpu(be, w, N, K, q);
    if (be && be->kind == AWQ_BACKEND_CUDA) return awq_cuda_pseudo_quant(be, w, N, K, q);
    return bad_kind(be, "pseudo-quantize");
}

awq_status awq_pseudo_quant_scaled(awq_backend *be, const float *w, int64_t N,
                                   int64_t K, const float *scales,
                                   int64_t n_cand, const awq_quant_params *q,
                                   float *out, uint8_t *failed) {
    if (be && be->kind == AWQ_BACKEND_CPU)
        return awq_pseudo_quant_scaled_cpu(be, w, N, K, scales, n_cand, q, out, failed);
    if (be && be->kind == AWQ_BACKEND_CUDA)
        return awq_cuda_pseudo_quant_scaled(be, w, N, K, scales, n_cand, q, out, failed);
    return bad_kind(be, "pseudo-quantize candidates");
}
