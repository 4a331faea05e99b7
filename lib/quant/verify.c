/*
 * lib/quant/verify.c — structural and numerical checks of a packed
 * checkpoint, optionally against the FP16/BF16 checkpoint it came from.
 * Findings are collected (not returned as failures) so one run lists
 * everything that is wrong.
 */
#include "core/core.h"
#include "io/publish.h"
#include "quant/ctconfig.h"
#include "quant/layouts.h"
#include "quant/verify_impl.h"
#include "quant/werr.h"

#include "awqkit/checkpoint.h"
#include "awqkit/count.h"
#include "awqkit/model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VF_MAX_NAME 1024

awq_verify_params awq_verify_default_params(void) {
    awq_verify_params p;
    memset(&p, 0, sizeof p);
    p.zeros = AWQ_ZEROS_AUTO;
    return p;
}

double awq_verify_default_bound(int bits, int group_size) {
    double g = group_size > 0 ? (double)group_size : 4096.0;
    if (g < 2) g = 2;
    if (bits < 1 || bits > 16) bits = 4;
    double range = 2.0 * sqrt(2.0 * log(g));
    double est = range / ((double)((1 << bits) - 1) * sqrt(12.0));
    return fmin(0.9, 3.0 * est);
}

void awq_verify_result_free(awq_verify_result *r) {
    if (!r) return;
    free(r->linears);
    r->linears = NULL;
}

void awq_vf_problem(awq_verify_result *r, const char *fmt, ...) {
    r->ok = false;
    if (r->n_problems < AWQ_VERIFY_MAX_PROBLEMS) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->problems[r->n_problems], sizeof r->problems[0], fmt, ap);
        va_end(ap);
        r->n_problems++;
    }
    r->n_problems_total++;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

static bool has_suffix(const awq_checkpoint *ck, const char *suf) {
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++)
        if (ends_with(awq_checkpoint_tensor(ck, i)->name, suf)) return true;
    return false;
}

static inline uint32_t ld32(const void *base, int64_t i) {
    uint32_t v;
    memcpy(&v, (const unsigned char *)base + i * 4, 4);
    return v;
}
static inline uint16_t ld16(const void *base, int64_t i) {
    uint16_t v;
    memcpy(&v, (const unsigned char *)base + i * 2, 2);
    return v;
}

/* GEMV pads zeros and scales beyond G; AutoAWQ writes zeros there. */
static int64_t gemv_bad_padding(const awq_checkpoint *ck, const char *prefix,
                                const awq_qtensor *t, const awq_qckpt *q) {
    awq_lay_shapes s;
    if (awq_lay_get_shapes(AWQ_QFMT_AWQ_GEMV, t->K, t->N, 4, q->group_size, &s) != AWQ_LAY_OK)
        return 0;
    char name[VF_MAX_NAME + 16];
    snprintf(name, sizeof name, "%s.qzeros", prefix);
    const awq_tensor_info *qz = awq_checkpoint_find(ck, name);
    snprintf(name, sizeof name, "%s.scales", prefix);
    const awq_tensor_info *sc = awq_checkpoint_find(ck, name);
    if (!qz || !sc) return 0;
    int64_t bad = 0;
    for (int64_t n = 0; n < t->N; n++) {
        for (int64_t g = s.n_groups; g < 8 * s.zeros_width; g++) {
            awq_lay_pos p = awq_lay_qzeros_pos(AWQ_QFMT_AWQ_GEMV, t->N, 4, s.zeros_width, g, n);
            bad += ((ld32(qz->data, p.word) >> p.shift) & 15u) != 0;
            bad += ld16(sc->data, awq_lay_scale_index(AWQ_QFMT_AWQ_GEMV, t->N, s.zeros_width, g, n)) != 0;
        }
    }
    return bad;
}

/* ------------------------------------------------ error vs the source */

/* rel_err: ||W' - W|| / ||W||; rel_err_scaled: after fitting the row and
 * column scales AWQ folds in (quant/werr.h). Both relative to the source. */
static awq_status compare_linear(awq_ctx *ctx, const awq_qtensor *t,
                                 const awq_tensor_info *src, awq_verify_linear *rec) {
    awq_werr e;
    AWQ_TRY(awq_weight_error(ctx, src, t, NULL, &e));
    rec->rel_err = e.w2 > 0 ? sqrt(e.raw2 / e.w2) : (e.raw2 > 0 ? INFINITY : 0.0);
    rec->rel_err_scaled = e.w2 > 0 ? sqrt(e.err2 / e.w2) : (e.err2 > 0 ? INFINITY : 0.0);
    return AWQ_OK;
}

/* compressed-tensors scales stored in the model's dtype (BF16 / F32 from a
 * BF16 model): the packed path's FP16 form refuses the values FP16 cannot
 * hold, the per-linear path reads them as stored. */
static bool ct_scales_not_f16(const awq_checkpoint *ck) {
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        if (ends_with(t->name, ".weight_scale") && t->dtype != AWQ_DT_F16) return true;
    }
    return false;
}

/* ------------------------------------------------------------- main */

awq_status awq_verify(awq_ctx *ctx, const char *dir, const awq_verify_params *params,
                      awq_verify_result *res) {
    if (!res) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "verify: result is NULL");
    memset(res, 0, sizeof *res);
    res->ok = true;
    if (!dir) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "verify: directory is NULL");
    awq_verify_params p = params ? *params : awq_verify_default_params();
    /* A quantize run stopped while moving its checkpoint into place: the
     * files there may be a mix; the run's --resume finishes the move. */
    char *marker = awq_path_is_dir(dir) ? awq_path_join(dir, AWQ_INCOMPLETE_MARKER) : NULL;
    bool incomplete = marker && awq_path_exists(marker);
    free(marker);
    if (incomplete) {
        awq_vf_problem(res, "%s holds %s: an awqkit quantize run was interrupted while publishing "
                "this checkpoint, which is not complete; rerun it with --resume",
                dir, AWQ_INCOMPLETE_MARKER);
        return AWQ_OK;
    }
    awq_checkpoint *ck = NULL, *src = NULL;
    AWQ_TRY(awq_checkpoint_open(ctx, dir, &ck));
    awq_status st = AWQ_OK;
    if (p.against) {
        st = awq_checkpoint_open(ctx, p.against, &src);
        if (st == AWQ_OK) st = awq_checkpoint_bind_fp8(ctx, src); /* FP8 source: dequantized */
        if (st != AWQ_OK) st = awq_fail_wrap(ctx, st, "source checkpoint (--against)");
        if (st != AWQ_OK) {
            awq_checkpoint_free(ck);
            return st;
        }
        res->have_against = true;
    }
    const size_t nt = awq_checkpoint_n_tensors(ck);
    res->n_tensors = (int64_t)nt;

    /* What inspect calls DISAGREES fails verify (a config contradicting the
     * tensors, a linear stored dense and packed), unless the caller chose
     * how GPTQ zeros are read. */
    awq_detect_result *det = malloc(sizeof *det);
    if (!det) {
        st = awq_fail_nomem(ctx, "detection", sizeof *det);
        goto done;
    }
    if (awq_detect(ctx, ck, det) == AWQ_OK && !det->config_agrees) {
        bool zeros_only = p.zeros != AWQ_ZEROS_AUTO && det->n_notes > 0 &&
                          strstr(det->notes[0], "the stored zeros read as") != NULL;
        if (!zeros_only) awq_vf_problem(res, "config: inspect says DISAGREES: %.200s", det->notes[0]);
    }
    awq_clear_error(ctx);
    free(det);
    {
        /* compressed-tensors that the packed-integer path does not read (FP8,
         * NVFP4, int8 naive, several schemes) but the per-linear readers do:
         * verify_ct.c */
        awq_ct_config *ctc = NULL;
        const awq_ct_scheme *one = NULL;
        const char *why = NULL;
        bool per_linear = awq_ct_config_load(ctx, ck, &ctc) == AWQ_OK && ctc &&
                          awq_ct_computable(ctc, &why) &&
                          (awq_ct_int_scheme(ctx, ctc, &one) == AWQ_ERR_UNSUPPORTED ||
                           ct_scales_not_f16(ck));
        awq_clear_error(ctx);
        if (per_linear) st = awq_verify_ct(ctx, ck, src, ctc, &p, res);
        awq_ct_config_free(ctc);
        if (per_linear) goto done;
    }
    awq_status ds = awq_qckpt_detect(ctx, ck, p.zeros, &res->q);
    const bool decodable = ds == AWQ_OK;
    if (!decodable) awq_vf_problem(res, "format: %s", awq_ctx_errmsg(ctx));
    const awq_qckpt *q = &res->q;
    if (decodable && q->zeros_reinterpreted && p.zeros == AWQ_ZEROS_AUTO)
        awq_vf_problem(res, "config: %s (loaders will read the zeros wrongly; relabel as gptq_v2 "
                     "or repack)", q->zeros_note);
    res->bound = p.max_rel_err > 0 ? p.max_rel_err
                                   : awq_verify_default_bound(q->bits ? q->bits : 4,
                                                              q->group_size ? q->group_size : 128);

    /* packed linears and orphans; the tensor suffixes of the detected
     * format (AWQ / GPTQ: .qweight ..., compressed-tensors: .weight_packed
     * ...), AWQ's when the format is unknown */
    char dot_qw[32], parts[4][32];
    {
        awq_qformat f = decodable ? q->format : AWQ_QFMT_AWQ_GEMM;
        if (!decodable && has_suffix(ck, ".weight_packed")) f = AWQ_QFMT_CT;
        snprintf(dot_qw, sizeof dot_qw, ".%s", awq_format_suffix(f, AWQ_PT_QWEIGHT));
        static const char *const gptq_like[3] = {".qzeros", ".scales", ".g_idx"};
        for (int k = 0; k < 4; k++) {
            const char *sx = awq_format_suffix(f, k + 1);
            if (f != AWQ_QFMT_CT && k < 3) sx = gptq_like[k] + 1; /* g_idx: an orphan in AWQ */
            snprintf(parts[k], sizeof parts[k], "%s%s", sx ? "." : "", sx ? sx : "");
        }
    }
    const int n_parts = 4;
    int64_t n_lin = 0;
    for (size_t i = 0; i < nt; i++)
        n_lin += ends_with(awq_checkpoint_tensor(ck, i)->name, dot_qw);
    res->linears = calloc((size_t)(n_lin ? n_lin : 1), sizeof *res->linears);
    if (!res->linears) {
        st = awq_fail_nomem(ctx, "verify records", (uint64_t)n_lin * sizeof *res->linears);
        goto done;
    }
    char name[VF_MAX_NAME + 32], pre[VF_MAX_NAME];
    for (size_t i = 0; i < nt; i++) {
        const char *nm = awq_checkpoint_tensor(ck, i)->name;
        for (int k = 0; k < n_parts; k++) {
            if (!parts[k][0] || !ends_with(nm, parts[k])) continue;
            size_t n = strlen(nm) - strlen(parts[k]);
            if (n >= sizeof pre) continue;
            memcpy(pre, nm, n);
            pre[n] = 0;
            snprintf(name, sizeof name, "%s%s", pre, dot_qw);
            if (!awq_checkpoint_find(ck, name))
                awq_vf_problem(res, "%s: packed tensor without %s", nm, name);
        }
    }

    double sum_err = 0;
    int64_t n_err = 0;
    for (size_t i = 0; st == AWQ_OK && i < nt; i++) {
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        if (!ends_with(ti->name, dot_qw)) {
            /* plain tensors: finite values; present in the source */
            bool packed_part = false;
            for (int k = 0; k < n_parts; k++)
                packed_part |= parts[k][0] && ends_with(ti->name, parts[k]);
            /* the scales are a packed linear's floats: named here by tensor
             * and element, the linear's own check below says which group */
            if (packed_part && awq_dtype_is_float(ti->dtype) &&
                awq_tensor_check_finite(ctx, ti) != AWQ_OK)
                awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
            if (packed_part) continue;
            if (awq_dtype_is_float(ti->dtype) && awq_tensor_check_finite(ctx, ti) != AWQ_OK)
                awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
            if (src) {
                const awq_tensor_info *si = awq_checkpoint_find(src, ti->name);
                bool same = si && si->ndim == ti->ndim;
                for (int d = 0; same && d < ti->ndim; d++) same = si->shape[d] == ti->shape[d];
                if (!si)
                    awq_vf_problem(res, "%s: not in the source checkpoint %s", ti->name, p.against);
                else if (!same)
                    awq_vf_problem(res, "%s: shape differs from the source checkpoint", ti->name);
            }
            continue;
        }
        size_t n = strlen(ti->name) - strlen(dot_qw);
        if (n >= sizeof pre) {
            awq_vf_problem(res, "%s: name too long", ti->name);
            continue;
        }
        memcpy(pre, ti->name, n);
        pre[n] = 0;
        awq_verify_linear *rec = &res->linears[res->n_linears++];
        snprintf(rec->name, sizeof rec->name, "%.*s", (int)sizeof rec->name - 1, pre);
        rec->rel_err = rec->rel_err_scaled = -1;
        rec->n_off_step = -1;
        rec->worst_step = -1;
        rec->ok = false;
        if (!decodable) continue;
        awq_qtensor t;
        awq_status ls = awq_qlinear_read(ctx, ck, pre, q, &t);
        if (ls == AWQ_ERR_NOMEM) {
            st = ls;
            break;
        }
        if (ls != AWQ_OK) {
            awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
            continue;
        }
        rec->K = t.K;
        rec->N = t.N;
        rec->ok = true;
        res->linear_params += (uint64_t)(t.K * t.N);
        if (awq_qtensor_check(ctx, pre, &t) != AWQ_OK) {
            awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
            rec->ok = false;
        }
        if (t.g_idx && !q->desc_act)
            awq_vf_problem(res, "%s: act-order g_idx, but quantization_config.desc_act is false "
                         "(kernels would ignore g_idx)", pre);
        if (q->format == AWQ_QFMT_AWQ_GEMV) {
            int64_t bad = gemv_bad_padding(ck, pre, &t, q);
            if (bad) awq_vf_problem(res, "%s: %lld non-zero GEMV padding fields", pre, (long long)bad);
        }
        snprintf(name, sizeof name, "%s.bias", pre);
        const awq_tensor_info *bias = awq_checkpoint_find(ck, name);
        if (bias && (bias->ndim != 1 || bias->shape[0] != t.N))
            awq_vf_problem(res, "%s: shape is not [%lld]", name, (long long)t.N);
        if (src) {
            snprintf(name, sizeof name, "%s.weight", pre);
            const awq_tensor_info *sw = awq_checkpoint_find(src, name);
            if (!sw) {
                awq_vf_problem(res, "%s: not in the source checkpoint %s", name, p.against);
                rec->ok = false;
            } else if (sw->ndim != 2 || sw->shape[0] != t.N || sw->shape[1] != t.K) {
                awq_vf_problem(res, "%s: source shape [%lld, %lld], packed linear is [%lld, %lld]",
                        name, (long long)sw->shape[0],
                        (long long)(sw->ndim > 1 ? sw->shape[1] : 0), (long long)t.N,
                        (long long)t.K);
                rec->ok = false;
            } else if (awq_tensor_check_finite(ctx, sw) != AWQ_OK) {
                awq_vf_problem(res, "source %s: %s", p.against, awq_ctx_errmsg(ctx));
                rec->ok = false;
            } else {
                ls = compare_linear(ctx, &t, sw, rec);
                if (ls == AWQ_ERR_NOMEM) {
                    st = ls;
                } else if (ls != AWQ_OK) {
                    awq_vf_problem(res, "%s: %s", pre, awq_ctx_errmsg(ctx));
                    rec->ok = false;
                } else {
                    sum_err += rec->rel_err_scaled;
                    n_err++;
                    res->max_rel_err_scaled = fmax(res->max_rel_err_scaled, rec->rel_err_scaled);
                    if (!(rec->rel_err_scaled <= res->bound)) {
                        rec->ok = false;
                        awq_vf_problem(res, "%s: relative error %.4f (scale-corrected %.4f) exceeds "
                                     "the bound %.4f", pre, rec->rel_err, rec->rel_err_scaled,
                                res->bound);
                    }
                }
            }
        }
        if (!rec->ok) res->n_failed_linears++;
        awq_qtensor_free(&t);
        if (st == AWQ_OK) st = awq_progress(ctx, "verify", (uint64_t)res->n_linears, (uint64_t)n_lin);
    }
    if (st != AWQ_OK) goto done;
    res->mean_rel_err_scaled = n_err ? sum_err / (double)n_err : 0.0;
    /* every source tensor is here, as is or as a packed linear */
    for (size_t i = 0; src && i < awq_checkpoint_n_tensors(src); i++) {
        const char *nm = awq_checkpoint_tensor(src, i)->name;
        if (awq_checkpoint_find(ck, nm)) continue;
        size_t n = strlen(nm);
        if (ends_with(nm, ".weight") && n - 7 < sizeof pre) {
            memcpy(pre, nm, n - 7);
            pre[n - 7] = 0;
            snprintf(name, sizeof name, "%s%s", pre, dot_qw);
            if (awq_checkpoint_find(ck, name)) continue;
        }
        /* an FP8 source's block scales go with the weight they scale */
        if (awq_checkpoint_is_fp8_source(src) &&
            (ends_with(nm, ".weight_scale_inv") || ends_with(nm, ".input_scale")))
            continue;
        awq_vf_problem(res, "%s: in the source checkpoint but missing here", nm);
    }

    /* logical parameter counts */
    awq_count_result cnt;
    st = awq_count(ctx, ck, &cnt);
    if (st != AWQ_OK) goto done;
    res->logical_params = cnt.logical;
    if (decodable && cnt.n_quant_linears == 0 && res->n_linears > 0) {
        /* the header-only counter does not resolve this format's linears and
         * counts their packed tensors as plain elements: count them from
         * the decoded linears instead */
        uint64_t packed_elems = 0;
        for (size_t i = 0; i < nt; i++) {
            const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
            bool part = ends_with(ti->name, dot_qw);
            for (int k = 0; k < n_parts && !part; k++)
                part = parts[k][0] && ends_with(ti->name, parts[k]);
            if (part) packed_elems += ti->n_elements;
        }
        res->logical_params = cnt.logical = cnt.logical - packed_elems + res->linear_params;
        awq_info(ctx, "%s: logical parameters counted from the %lld decoded linears", dir,
                 (long long)res->n_linears);
    } else if (decodable && cnt.quant_logical != res->linear_params)
        awq_vf_problem(res, "count: the logical counter gives %llu quantized weights, the unpacked "
                     "linears hold %llu", (unsigned long long)cnt.quant_logical,
                (unsigned long long)res->linear_params);
    if (src) {
        awq_count_result sc;
        st = awq_count(ctx, src, &sc);
        if (st != AWQ_OK) goto done;
        res->against_logical_params = sc.logical;
        res->params_equal = sc.logical == cnt.logical;
        if (!res->params_equal)
            awq_vf_problem(res, "parameters: %llu logical here, %llu in %s",
                    (unsigned long long)cnt.logical, (unsigned long long)sc.logical,
                    p.against);
    }
done:
    awq_checkpoint_free(ck);
    awq_checkpoint_free(src);
    if (st != AWQ_OK) {
        awq_verify_result_free(res);
        res->ok = false;
    }
    return st;
}
