/*
 * lib/backend/cuda_quant.c — host glue of the quantization kernels
 * (kernels/quant.cu): argument checks shared with the CPU paths
 * (quant/clip.h), scratch carving, error words read back into the oracle's
 * messages. See lib/backend/cuda_quant.h for the contract.
 *
 * Built without CUDA, every entry point returns AWQ_ERR_NO_DEVICE.
 */
#include "backend/cuda_quant.h"

#include "core/core.h"
#include "quant/clip.h"

#include <string.h>

bool awq_cuda_pack_writes(awq_qformat format) {
    /* the kernels write the AWQ and GPTQ layouts (awq_k_pack) */
    return format == AWQ_QFMT_AWQ_GEMM || format == AWQ_QFMT_AWQ_GEMV ||
           format == AWQ_QFMT_GPTQ || format == AWQ_QFMT_GPTQ_V2;
}

#ifndef AWQ_HAVE_CUDA

static awq_status no_cuda(awq_backend *be) {
    return awq_fail(be ? be->ctx : NULL, AWQ_ERR_NO_DEVICE,
                    "this awqkit was built without the CUDA backend");
}

awq_status awq_cuda_quantize(awq_backend *be, const char *name, const float *w, int64_t N,
                             int64_t K, const awq_quant_params *p, uint8_t *q,
                             uint16_t *scales, uint8_t *zeros) {
    (void)name, (void)w, (void)N, (void)K, (void)p, (void)q, (void)scales, (void)zeros;
    return no_cuda(be);
}

awq_status awq_cuda_pseudo_quant(awq_backend *be, float *w, int64_t N, int64_t K,
                                 const awq_quant_params *p) {
    (void)w, (void)N, (void)K, (void)p;
    return no_cuda(be);
}

awq_status awq_cuda_pseudo_quant_scaled(awq_backend *be, const float *w, int64_t N, int64_t K,
                                        const float *scales, int64_t n_cand,
                                        const awq_quant_params *p, float *out,
                                        uint8_t *failed) {
    (void)w, (void)N, (void)K, (void)scales, (void)n_cand, (void)p, (void)out, (void)failed;
    return no_cuda(be);
}

awq_status awq_cuda_clip_search(awq_backend *be, const float *w, const float *x, int64_t N,
                                int64_t K, int64_t T, const awq_quant_params *p, int n_grid,
                                int n_steps, float *max_val) {
    (void)w, (void)x, (void)N, (void)K, (void)T, (void)p, (void)n_grid, (void)n_steps,
        (void)max_val;
    return no_cuda(be);
}

awq_status awq_cuda_clip_search_ex(awq_backend *be, const float *w, const float *x, int64_t N,
                                   int64_t K, int64_t T, const awq_quant_params *p, int n_grid,
                                   int n_steps, float *max_val, double *errs) {
    (void)w, (void)x, (void)N, (void)K, (void)T, (void)p, (void)n_grid, (void)n_steps,
        (void)max_val, (void)errs;
    return no_cuda(be);
}

awq_status awq_cuda_clip_apply(awq_backend *be, float *w, int64_t N, int64_t K, int group_size,
                               const float *max_val) {
    (void)w, (void)N, (void)K, (void)group_size, (void)max_val;
    return no_cuda(be);
}

awq_status awq_cuda_clip_set_budget(awq_backend *be, size_t bytes) {
    (void)bytes;
    return no_cuda(be);
}

awq_status awq_cuda_pack(awq_backend *be, const char *name, awq_qformat format, int64_t N,
                         int64_t K, int bits, int group_size, bool sym, const uint8_t *q,
                         const uint16_t *scales, const uint8_t *zeros, awq_packed *out) {
    (void)name, (void)format, (void)N, (void)K, (void)bits, (void)group_size, (void)sym, (void)q,
        (void)scales, (void)zeros;
    if (out) memset(out, 0, sizeof *out);
    return no_cuda(be);
}

void awq_cuda_packed_free(awq_backend *be, awq_packed *p) {
    (void)be;
    if (p) memset(p, 0, sizeof *p);
}

#else /* AWQ_HAVE_CUDA */

#include "awq_kernels.h"
#include "backend/cuda_impl.h"
#include "quant/qmath.h"

#include <math.h>

#define NO_ERR (~0ull)

/* Largest device scratch for the clip search's deltas (rows per pass are
 * chosen to fit). */
#define CLIP_DELTA_BUDGET ((size_t)256 << 20)

static const char *nm(const char *name) { return name ? name : "weight"; }

#define ENTER(be, op)                                                          \
    awq_status enter_st_;                                                      \
    awq_cuda_impl *im = awq_cuda_enter((be), (op), &enter_st_);                \
    if (!im) return enter_st_;                                                 \
    AWQ_CUDA_PROF_SCOPE(im, op);                                               \
    awq_ctx *ctx = (be)->ctx

/* Read `n` error words back (after the kernels that set them). */
static awq_status read_errs(awq_backend *be, awq_cuda_impl *im, const unsigned long long *d,
                            unsigned long long *h, size_t n, const char *what) {
    AWQ_CU(be->ctx, cudaMemcpyAsync(h, d, n * sizeof *h, cudaMemcpyDeviceToHost, im->stream));
    return awq_cuda_wait(be, what);
}

/* The oracle's message for the failing group (row n, group g) of w (device,
 * row stride K), optionally scaled by s (device, [K]). */
static awq_status group_message(awq_backend *be, awq_cuda_impl *im, const char *what,
                                const float *w, const float *s, int64_t K, int64_t gl,
                                const awq_quant_params *p, int64_t n, int64_t g) {
    awq_ctx *ctx = be->ctx;
    const int64_t k0 = g * gl, len = AWQ_MIN(gl, K - k0);
    float *h = awq_alloc((size_t)len * 2u, sizeof(float));
    if (!h) return awq_fail_nomem(ctx, "error message scratch", (uint64_t)len * 8u);
    awq_status st = AWQ_OK;
    cudaError_t e = cudaMemcpyAsync(h, w + n * K + k0, (size_t)len * 4u, cudaMemcpyDeviceToHost,
                                    im->stream);
    if (e == cudaSuccess && s)
        e = cudaMemcpyAsync(h + len, s + k0, (size_t)len * 4u, cudaMemcpyDeviceToHost, im->stream);
    if (e != cudaSuccess) {
        st = awq_cuda_fail(ctx, e, "cudaMemcpyAsync", __FILE__, __LINE__);
        goto done;
    }
    st = awq_cuda_wait(be, "error report");
    if (st != AWQ_OK) goto done;
    if (s)
        for (int64_t i = 0; i < len; i++) h[i] = AWQ_QM_MUL(h[i], h[len + i]);
    for (int64_t i = 0; i < len; i++)
        if (!awq_qm_isfinite(h[i])) {
            st = awq_fail(ctx, AWQ_ERR_RANGE, "%s: non-finite weight %g at (row %lld, column %lld)",
                          what, (double)h[i], (long long)n, (long long)(k0 + i));
            goto done;
        }
    {
        awq_qm_stats q;
        awq_qm_stats_init(&q, h[0]);
        for (int64_t i = 1; i < len; i++) awq_qm_stats_add(&q, h[i]);
        double sc = p->sym ? (double)q.amax / (double)((1 << (p->bits - 1)) - 1)
                           : ((double)q.mx - (double)q.mn) / (double)((1 << p->bits) - 1);
        st = awq_fail(ctx, AWQ_ERR_RANGE,
                      "%s: group %lld of row %lld (columns %lld..%lld): scale %g exceeds the "
                      "FP16 maximum 65504 (weights %g..%g)",
                      what, (long long)g, (long long)n, (long long)k0, (long long)(k0 + len - 1),
                      sc, (double)q.mn, (double)q.mx);
    }
done:
    awq_free(h);
    return st;
}

/* ---------------------------------------------------------- quantize */

awq_status awq_cuda_quantize(awq_backend *be, const char *name, const float *w, int64_t N,
                             int64_t K, const awq_quant_params *p, uint8_t *q,
                             uint16_t *scales, uint8_t *zeros) {
    ENTER(be, "quantize");
    AWQ_TRY(awq_clip_check_args(ctx, nm(name), N, K, p));
    if (!w || !q || !scales || !zeros)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL buffer", nm(name));
    const int64_t gl = awq_group_len(K, p->group_size), G = awq_n_groups(K, p->group_size);
    void *ws;
    AWQ_TRY(awq_cuda_workspace(be, sizeof(unsigned long long), "error word", &ws));
    unsigned long long *derr = ws, herr = NO_ERR;
    AWQ_CU(ctx, cudaMemsetAsync(derr, 0xff, sizeof *derr, im->stream));
    AWQ_CU(ctx, awq_k_quantize(im->stream, w, N, K, gl, p->bits, p->sym, q, scales, zeros, derr));
    AWQ_TRY(read_errs(be, im, derr, &herr, 1, "quantize"));
    if (herr != NO_ERR)
        return group_message(be, im, nm(name), w, NULL, K, gl, p, (int64_t)(herr / (uint64_t)G),
                             (int64_t)(herr % (uint64_t)G));
    return AWQ_OK;
}

awq_status awq_cuda_pseudo_quant(awq_backend *be, float *w, int64_t N, int64_t K,
                                 const awq_quant_params *p) {
    ENTER(be, "pseudo-quantize");
    AWQ_TRY(awq_clip_check_args(ctx, "pseudo-quantize", N, K, p));
    if (!w) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "pseudo-quantize: NULL buffer");
    const int64_t gl = awq_group_len(K, p->group_size), G = awq_n_groups(K, p->group_size);
    void *ws;
    AWQ_TRY(awq_cuda_workspace(be, sizeof(unsigned long long), "error word", &ws));
    unsigned long long *derr = ws, herr = NO_ERR;
    AWQ_CU(ctx, cudaMemsetAsync(derr, 0xff, sizeof *derr, im->stream));
    AWQ_CU(ctx, awq_k_pseudo(im->stream, w, w, N, K, gl, p->bits, p->sym, derr));
    AWQ_TRY(read_errs(be, im, derr, &herr, 1, "pseudo-quantize"));
    /* in place: a failing group's weights are untouched by the kernel (it
     * skips failing groups), so the message sees the original values */
    if (herr != NO_ERR)
        return group_message(be, im, "weight", w, NULL, K, gl, p, (int64_t)(herr / (uint64_t)G),
                             (int64_t)(herr % (uint64_t)G));
    return AWQ_OK;
}

awq_status awq_cuda_pseudo_quant_scaled(awq_backend *be, const float *w, int64_t N, int64_t K,
                                        const float *scales, int64_t n_cand,
                                        const awq_quant_params *p, float *out,
                                        uint8_t *failed) {
    ENTER(be, "pseudo-quantize candidates");
    const char *what = "pseudo-quantize candidates";
    AWQ_TRY(awq_clip_check_args(ctx, what, N, K, p));
    if (!w || !scales || !out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL buffer", what);
    if (n_cand < 1 || n_cand > (int64_t)1 << 20 || (N * K) > ((int64_t)1 << 40) / n_cand)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: %lld candidates of [%lld, %lld] out of range",
                        what, (long long)n_cand, (long long)N, (long long)K);
    const int64_t gl = awq_group_len(K, p->group_size), G = awq_n_groups(K, p->group_size);
    const size_t eb = (size_t)n_cand * sizeof(unsigned long long);
    unsigned long long *herr = awq_alloc((size_t)n_cand, sizeof *herr);
    if (!herr) return awq_fail_nomem(ctx, "candidate error words", eb);
    awq_status st = AWQ_OK;
    void *ws;
    st = awq_cuda_workspace(be, eb, "candidate error words", &ws);
    if (st != AWQ_OK) goto done;
    unsigned long long *derr = ws;
    AWQ_CU_GOTO(ctx, st, done, cudaMemsetAsync(derr, 0xff, eb, im->stream));
    AWQ_CU_GOTO(ctx, st, done,
                awq_k_pseudo_scaled(im->stream, w, scales, n_cand, out, N, K, gl, p->bits, p->sym,
                                    derr));
    st = read_errs(be, im, derr, herr, (size_t)n_cand, what);
    if (st != AWQ_OK) goto done;
    for (int64_t c = 0; c < n_cand; c++) {
        const bool bad = herr[c] != NO_ERR;
        if (failed) {
            failed[c] = bad ? 1 : 0;
        } else if (bad) {
            char w_what[64];
            snprintf(w_what, sizeof w_what, "scale candidate %lld", (long long)c);
            st = group_message(be, im, w_what, w, scales + c * K, K, gl, p,
                               (int64_t)(herr[c] / (uint64_t)G), (int64_t)(herr[c] % (uint64_t)G));
            break;
        }
    }
done:
    awq_free(herr);
    return st;
}

/* -------------------------------------------------------- clip search */

awq_status awq_cuda_clip_search(awq_backend *be, const float *w, const float *x, int64_t N,
                                int64_t K, int64_t T, const awq_quant_params *p, int n_grid,
                                int n_steps, float *max_val) {
    return awq_cuda_clip_search_ex(be, w, x, N, K, T, p, n_grid, n_steps, max_val, NULL);
}

awq_status awq_cuda_clip_search_ex(awq_backend *be, const float *w, const float *x, int64_t N,
                                   int64_t K, int64_t T, const awq_quant_params *p, int n_grid,
                                   int n_steps, float *max_val, double *errs) {
    ENTER(be, "clip search");
    const char *what = "clip search";
    AWQ_TRY(awq_clip_check_args(ctx, what, N, K, p));
    if (!w || !x || !max_val) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL buffer", what);
    if (n_grid < 1 || n_steps < 0 || n_steps > n_grid || n_steps > AWQ_CLIP_MAX_STEPS)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: need 1 <= n_grid and 0 <= n_steps <= min(n_grid, %d) (got n_grid "
                        "%d, n_steps %d)",
                        what, AWQ_CLIP_MAX_STEPS, n_grid, n_steps);
    if (T < 1 || T > ((int64_t)1 << 31) - 1 || K > ((int64_t)1 << 40) / T)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s: %lld sampled tokens of %lld features out of range (need >= 1 "
                        "token, at most 2^40 values)",
                        what, (long long)T, (long long)K);
    const int64_t gl = awq_group_len(K, p->group_size), G = awq_n_groups(K, p->group_size);
    const int S = n_steps;
    /* rows per pass: a multiple of 128 (the error tile) keeping the deltas
     * within the budget, at least one tile */
    int64_t nc = N;
    if (S > 0) {
        const size_t budget = im->clip_budget ? im->clip_budget : CLIP_DELTA_BUDGET;
        int64_t fit = (int64_t)(budget / ((size_t)S * (size_t)K * sizeof(float)));
        fit = fit / 128 * 128;
        if (fit < 128) fit = 128;
        if (nc > fit) nc = fit;
    }
    const size_t b_err = awq_cuda_align(sizeof(unsigned long long));
    const size_t b_stats = awq_cuda_align((size_t)3 * (size_t)(N * G) * sizeof(float));
    const size_t b_errs = awq_cuda_align((size_t)S * (size_t)(N * G) * sizeof(double));
    const size_t b_D = (size_t)S * (size_t)nc * (size_t)K * sizeof(float);
    void *ws;
    AWQ_TRY(awq_cuda_workspace(be, b_err + b_stats + b_errs + b_D, "clip search scratch", &ws));
    char *base = ws;
    unsigned long long *derr = (unsigned long long *)(void *)base, herr = NO_ERR;
    float *stats = (float *)(void *)(base + b_err);
    double *errs_d = (double *)(void *)(base + b_err + b_stats);
    float *D = (float *)(void *)(base + b_err + b_stats + b_errs);

    AWQ_CU(ctx, cudaMemsetAsync(derr, 0xff, sizeof *derr, im->stream));
    AWQ_CU(ctx, awq_k_clip_stats(im->stream, w, N, K, gl, p->bits, p->sym, stats, derr));
    AWQ_TRY(read_errs(be, im, derr, &herr, 1, what));
    if (herr != NO_ERR)
        return group_message(be, im, what, w, NULL, K, gl, p, (int64_t)(herr / (uint64_t)G),
                             (int64_t)(herr % (uint64_t)G));
    for (int64_t n0 = 0; n0 < N && S > 0; n0 += nc) {
        const int64_t rows = AWQ_MIN(nc, N - n0);
        AWQ_CU(ctx, awq_k_clip_delta(im->stream, w, stats, n0, rows, N, K, gl, p->bits, p->sym,
                                     n_grid, S, D));
        AWQ_CU(ctx, awq_k_clip_err(im->stream, D, x, n0, rows, N, K, T, gl, S, errs_d));
    }
    AWQ_CU(ctx, awq_k_clip_select(im->stream, stats, errs_d, N, G, n_grid, S, max_val));
    if (errs && S > 0)
        AWQ_CU(ctx, cudaMemcpyAsync(errs, errs_d, (size_t)S * (size_t)(N * G) * sizeof(double),
                                    cudaMemcpyDeviceToDevice, im->stream));
    return awq_cuda_wait(be, what);
}

awq_status awq_cuda_clip_set_budget(awq_backend *be, size_t bytes) {
    ENTER(be, "clip budget");
    (void)ctx;
    im->clip_budget = bytes;
    return AWQ_OK;
}

awq_status awq_cuda_clip_apply(awq_backend *be, float *w, int64_t N, int64_t K, int group_size,
                               const float *max_val) {
    ENTER(be, "clip apply");
    awq_quant_params q = awq_quant_default_params();
    q.group_size = group_size;
    AWQ_TRY(awq_clip_check_args(ctx, "clip apply", N, K, &q));
    if (!w || !max_val) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "clip apply: NULL buffer");
    AWQ_CU(ctx, awq_k_clip_apply(im->stream, w, N, K, awq_group_len(K, group_size), max_val));
    return AWQ_OK;
}

/* ------------------------------------------------------------- packing */

void awq_cuda_packed_free(awq_backend *be, awq_packed *p) {
    if (!p) return;
    for (int i = 0; i < AWQ_PT_MAX; i++)
        if (p->t[i].data) awq_cuda_free_ptr(be, p->t[i].data);
    memset(p, 0, sizeof *p);
}

awq_status awq_cuda_pack(awq_backend *be, const char *name, awq_qformat format, int64_t N,
                         int64_t K, int bits, int group_size, bool sym, const uint8_t *q,
                         const uint16_t *scales, const uint8_t *zeros, awq_packed *out) {
    if (out) memset(out, 0, sizeof *out);
    ENTER(be, "pack");
    (void)sym;
    if (!out || !q || !scales || !zeros)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL buffer", nm(name));
    if (!awq_cuda_pack_writes(format))
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: %s is packed on the host (awq_pack)",
                        nm(name), format == AWQ_QFMT_CT ? "compressed-tensors" : "this format");
    awq_quant_params qp = awq_quant_default_params();
    qp.bits = bits;
    qp.group_size = group_size;
    AWQ_TRY(awq_clip_check_args(ctx, nm(name), N, K, &qp));
    AWQ_TRY(awq_packed_shapes(ctx, format, K, N, bits, group_size, out));
    const int64_t gl = awq_group_len(K, group_size), G = awq_n_groups(K, group_size);
    const int64_t Z = format == AWQ_QFMT_AWQ_GEMV ? out->t[AWQ_PT_SCALES].shape[1] / 8 : 0;
    awq_status st = AWQ_OK;
    for (int i = 0; i < out->n_tensors && st == AWQ_OK; i++)
        st = awq_cuda_alloc_bytes(be, (size_t)out->t[i].n_bytes, "packed tensor", &out->t[i].data);
    void *ws = NULL;
    if (st == AWQ_OK) st = awq_cuda_workspace(be, sizeof(unsigned long long), "zero count", &ws);
    if (st != AWQ_OK) {
        awq_cuda_packed_free(be, out);
        return st;
    }
    unsigned long long *dcount = ws, hcount = 0;
    AWQ_CU_GOTO(ctx, st, fail, cudaMemsetAsync(dcount, 0, sizeof *dcount, im->stream));
    AWQ_CU_GOTO(ctx, st, fail,
                awq_k_pack(im->stream, (int)format, N, K, bits, gl, Z, q, scales, zeros,
                           out->t[AWQ_PT_QWEIGHT].data, out->t[AWQ_PT_QZEROS].data,
                           out->t[AWQ_PT_SCALES].data,
                           out->n_tensors > AWQ_PT_G_IDX ? out->t[AWQ_PT_G_IDX].data : NULL,
                           dcount));
    AWQ_CU_GOTO(ctx, st, fail,
                cudaMemcpyAsync(&hcount, dcount, sizeof hcount, cudaMemcpyDeviceToHost,
                                im->stream));
    st = awq_cuda_wait(be, "pack");
    if (st != AWQ_OK) goto fail;
    if (format == AWQ_QFMT_GPTQ && hcount > 0) {
        st = awq_fail(ctx, AWQ_ERR_LOSSY,
                      "%s: %llu of %lld groups have zero point 0, which GPTQ v1 cannot store "
                      "(it stores zero - 1, and -1 spills into the neighbouring fields); write "
                      "gptq-v2 (true zeros) instead, or pack on the host with lossy "
                      "re-quantization of those groups",
                      nm(name), hcount, (long long)(G * N));
        goto fail;
    }
    return AWQ_OK;
fail:
    awq_cuda_packed_free(be, out);
    return st;
}

#endif /* AWQ_HAVE_CUDA */
