/*
 * lib/quant/verify_ct.c — verify for compressed-tensors checkpoints that are
 * read per linear (FP8 float-quantized, NVFP4, int8 naive-quantized, config
 * groups of different schemes): the scan (formats table) groups the
 * tensors into linears and resolves their shapes from the headers; each
 * quantized linear is then held to the scheme its config group gives it
 * (format, bits, scale shape per strategy, zero point, global scale,
 * weight_shape), its scales must be finite and > 0 and its dequantized
 * weights finite; with --against, integer codes are held to the same
 * rescaled-error bound as the packed formats, float codes (FP8, NVFP4) to
 * the format's own grid: every source weight within half a step of its
 * stored code (ct.h awq_ct_float_steps).
 */
#include "core/core.h"
#include "quant/count_impl.h"
#include "quant/ct.h"
#include "quant/verify_impl.h"
#include "quant/werr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VC_NAME 1100

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* A compressed-tensors part of a quantized linear, by name. */
static const char *const k_parts[] = {".weight_scale",        ".weight_zero_point",
                                      ".weight_global_scale", ".weight_g_idx",
                                      ".weight_shape",        ".input_global_scale",
                                      ".weight_packed"};

static const awq_tensor_info *sib(const awq_checkpoint *ck, const char *mod, const char *sfx) {
    char n[VC_NAME];
    if (snprintf(n, sizeof n, "%s%s", mod, sfx) >= (int)sizeof n) return NULL;
    return awq_checkpoint_find(ck, n);
}

static void shape_str(const awq_tensor_info *t, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static double elem(const awq_tensor_info *t, int64_t i) {
    if (t->dtype == AWQ_DT_F8_E4M3) return awq_f8e4m3_to_f32(((const uint8_t *)t->data)[i]);
    return awq_tensor_element_f64(t, i);
}

static bool scale_dtype_ok(awq_dtype d) {
    return d == AWQ_DT_F8_E4M3 || d == AWQ_DT_F16 || d == AWQ_DT_BF16 || d == AWQ_DT_F32;
}

/* The scale shape the scheme's strategy gives a [N, K] weight; false when
 * the strategy fixes none (block without block_structure). */
static bool want_scale(const awq_ct_scheme *s, int64_t N, int64_t K, int64_t w[2]) {
    switch (s->strategy) {
    case AWQ_CT_STRAT_TENSOR: w[0] = w[1] = 1; return true;
    case AWQ_CT_STRAT_CHANNEL: w[0] = N; w[1] = 1; return true;
    case AWQ_CT_STRAT_GROUP:
    case AWQ_CT_STRAT_TENSOR_GROUP:
        if (s->group_size <= 0) return false;
        w[0] = N;
        w[1] = (K + s->group_size - 1) / s->group_size;
        return true;
    case AWQ_CT_STRAT_BLOCK:
        if (s->block[0] <= 0 || s->block[1] <= 0) return false;
        w[0] = (N + s->block[0] - 1) / s->block[0];
        w[1] = (K + s->block[1] - 1) / s->block[1];
        return true;
    default: return false;
    }
}

static bool shape_is(const awq_tensor_info *t, const int64_t w[2]) {
    if (w[0] == 1 && w[1] == 1) return t->n_elements == 1;
    if (w[1] == 1 && t->ndim == 1) return t->shape[0] == w[0];
    return t->ndim == 2 && t->shape[0] == w[0] && t->shape[1] == w[1];
}

/* Scheme against tensors, before decoding. False when the linear cannot be
 * decoded (the problem is recorded). */
static bool check_structure(const awq_checkpoint *ck, const char *mod, const awq_scan_linear *L,
                            const awq_ct_scheme *sch, awq_verify_result *res) {
    char d[160], sh[64];
    awq_ct_scheme_describe(sch, d, sizeof d);
    bool ok = true;
    if (!awq_ct_scheme_fits(sch, L->pack)) {
        awq_vf_problem(res, "%s: stored as %s, but config group %s", mod,
                       awq_pack_kind_name(L->pack), d);
        return false;
    }
    if (!L->bits_from_hint && L->bits != sch->num_bits)
        awq_vf_problem(res, "%s: the shapes give %d-bit codes, config group %s", mod, L->bits, d);
    const awq_tensor_info *w = awq_checkpoint_tensor(ck, (size_t)L->weight);
    if (L->pack == AWQ_PACK_FP8 && w->dtype != AWQ_DT_F8_E4M3) {
        awq_vf_problem(res, "%s.weight: %s weights (awqkit reads FP8 E4M3)", mod,
                       awq_dtype_name(w->dtype));
        return false;
    }
    const awq_tensor_info *sc = sib(ck, mod, ".weight_scale");
    if (!sc) {
        awq_vf_problem(res, "%s.weight_scale: missing", mod);
        return false;
    }
    if (!scale_dtype_ok(sc->dtype) || (L->pack == AWQ_PACK_NVFP4 && sc->dtype != AWQ_DT_F8_E4M3)) {
        awq_vf_problem(res, "%s.weight_scale: %s (expected %s)", mod, awq_dtype_name(sc->dtype),
                       L->pack == AWQ_PACK_NVFP4 ? "F8_E4M3" : "F8_E4M3, F16, BF16 or F32");
        return false;
    }
    int64_t want[2];
    if (want_scale(sch, L->N, L->K, want) && !shape_is(sc, want)) {
        shape_str(sc, sh, sizeof sh);
        awq_vf_problem(res, "%s.weight_scale: shape %s, but the %s scales of a [%lld, %lld] "
                       "weight are [%lld, %lld] (config group %s)", mod, sh,
                       awq_ct_strategy_name(sch->strategy), (long long)L->N, (long long)L->K,
                       (long long)want[0], (long long)want[1], d);
        ok = false;
    }
    /* scales finite and > 0 (a zero or negative scale decodes every code of
     * its group to 0 or flips it) */
    int64_t n_bad = 0, first = -1;
    for (int64_t i = 0; i < (int64_t)sc->n_elements; i++) {
        double v = elem(sc, i);
        if (!(v > 0) || !isfinite(v)) {
            if (!n_bad++) first = i;
        }
    }
    if (n_bad)
        awq_vf_problem(res, "%s.weight_scale: %lld scales are not finite and > 0 (element %lld "
                       "is %g)", mod, (long long)n_bad, (long long)first, elem(sc, first));
    if (L->pack == AWQ_PACK_NVFP4) {
        const awq_tensor_info *g = sib(ck, mod, ".weight_global_scale");
        double gv = g && g->n_elements == 1 && scale_dtype_ok(g->dtype) ? elem(g, 0) : NAN;
        if (!(gv > 0) || !isfinite(gv)) {
            awq_vf_problem(res, "%s.weight_global_scale: %s", mod,
                           g ? "not one finite float > 0" : "missing (NVFP4 needs it)");
            ok = false;
        }
    }
    if (L->pack == AWQ_PACK_CT_INT) {
        if (sch->symmetric != (L->qzeros < 0))
            awq_vf_problem(res, "%s.weight_zero_point: %s, but config group %s", mod,
                           L->qzeros < 0 ? "absent" : "stored", d);
        if (L->g_idx >= 0 && !sch->actorder)
            awq_vf_problem(res, "%s.weight_g_idx: stored, but config group %s has no actorder "
                           "\"group\" (kernels would ignore it)", mod, sch->name);
    }
    const awq_tensor_info *ws = sib(ck, mod, ".weight_shape");
    if (ws) {
        bool good = ws->n_elements == 2 && (ws->dtype == AWQ_DT_I64 || ws->dtype == AWQ_DT_I32);
        int64_t v[2] = {0, 0};
        for (int i = 0; good && i < 2; i++) {
            if (ws->dtype == AWQ_DT_I64) memcpy(&v[i], (const char *)ws->data + 8 * i, 8);
            else {
                int32_t x;
                memcpy(&x, (const char *)ws->data + 4 * i, 4);
                v[i] = x;
            }
        }
        if (!good || v[0] != L->N || v[1] != L->K)
            awq_vf_problem(res, "%s.weight_shape: says [%lld, %lld], the tensors hold [%lld, "
                           "%lld]", mod, (long long)v[0], (long long)v[1], (long long)L->N,
                           (long long)L->K);
    }
    return ok;
}

typedef struct vc_acc {
    double sum_err;
    int64_t n_err;
} vc_acc;

static void record_err(awq_verify_result *res, vc_acc *acc, awq_verify_linear *rec,
                       const awq_werr *e) {
    rec->rel_err = e->w2 > 0 ? sqrt(e->raw2 / e->w2) : (e->raw2 > 0 ? INFINITY : 0.0);
    rec->rel_err_scaled = e->w2 > 0 ? sqrt(e->err2 / e->w2) : (e->err2 > 0 ? INFINITY : 0.0);
    acc->sum_err += rec->rel_err_scaled;
    acc->n_err++;
    res->max_rel_err_scaled = fmax(res->max_rel_err_scaled, rec->rel_err_scaled);
}

/* The source's <mod>.weight, checked; NULL (problem recorded) when absent,
 * of another shape or not finite. */
static const awq_tensor_info *source_weight(awq_ctx *ctx, const awq_checkpoint *src,
                                            const char *against, const char *mod,
                                            const awq_scan_linear *L, awq_verify_result *res) {
    const awq_tensor_info *sw = sib(src, mod, ".weight");
    if (!sw) {
        awq_vf_problem(res, "%s.weight: not in the source checkpoint %s", mod, against);
    } else if (sw->ndim != 2 || sw->shape[0] != L->N || sw->shape[1] != L->K) {
        awq_vf_problem(res, "%s.weight: source shape [%lld, %lld], quantized linear is [%lld, "
                       "%lld]", mod, (long long)sw->shape[0],
                       (long long)(sw->ndim > 1 ? sw->shape[1] : 0), (long long)L->N,
                       (long long)L->K);
        sw = NULL;
    } else if (awq_tensor_check_finite(ctx, sw) != AWQ_OK) {
        awq_vf_problem(res, "source %s: %s", against, awq_ctx_errmsg(ctx));
        sw = NULL;
    }
    return sw;
}

/* Integer pack-quantized linear through the packed machinery (zero fields,
 * g_idx, FP16 scales). AWQ_ERR_LOSSY: its scales need the float path. */
static awq_status int_linear(awq_ctx *ctx, const awq_checkpoint *ck, const awq_checkpoint *src,
                             const char *against, const char *mod, const awq_scan_linear *L,
                             const awq_ct_scheme *sch, const awq_verify_params *p,
                             awq_verify_result *res, awq_verify_linear *rec, vc_acc *acc) {
    awq_qckpt q;
    memset(&q, 0, sizeof q);
    q.labelled = q.format = AWQ_QFMT_CT;
    q.bits = L->bits;
    q.group_size = sch->strategy == AWQ_CT_STRAT_CHANNEL ? -1 : sch->group_size;
    q.sym = sch->symmetric;
    q.sym_given = true;
    q.desc_act = sch->actorder;
    awq_qtensor t;
    awq_status ls = awq_qlinear_read(ctx, ck, mod, &q, &t);
    if (ls == AWQ_ERR_LOSSY || ls == AWQ_ERR_NOMEM) return ls;
    if (ls != AWQ_OK) {
        awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
        rec->ok = false;
        return AWQ_OK;
    }
    if (awq_qtensor_check(ctx, mod, &t) != AWQ_OK) {
        awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
        rec->ok = false;
    }
    const awq_tensor_info *sw = src ? source_weight(ctx, src, against, mod, L, res) : NULL;
    if (src && !sw) rec->ok = false;
    if (sw) {
        awq_werr e;
        ls = awq_weight_error(ctx, sw, &t, NULL, &e);
        if (ls == AWQ_OK) {
            record_err(res, acc, rec, &e);
            double b = p->max_rel_err > 0 ? p->max_rel_err
                                          : awq_verify_default_bound(q.bits, q.group_size);
            res->bound = fmax(res->bound, b);
            if (!(rec->rel_err_scaled <= b)) {
                rec->ok = false;
                awq_vf_problem(res, "%s: relative error %.4f (scale-corrected %.4f) exceeds the "
                               "bound %.4f (%d-bit codes)", mod, rec->rel_err,
                               rec->rel_err_scaled, b, q.bits);
            }
        } else if (ls != AWQ_ERR_NOMEM) {
            awq_vf_problem(res, "%s: %s", mod, awq_ctx_errmsg(ctx));
            rec->ok = false;
            ls = AWQ_OK;
        }
    }
    awq_qtensor_free(&t);
    return ls;
}

/* Any other linear: dequantized to fp32 by ct_float.c. */
static awq_status float_linear(awq_ctx *ctx, const awq_checkpoint *ck, const awq_checkpoint *src,
                               const char *against, const char *mod, const awq_scan_linear *L,
                               const awq_ct_scheme *sch, const awq_verify_params *p,
                               awq_verify_result *res, awq_verify_linear *rec, vc_acc *acc) {
    const size_t nk = (size_t)(L->N * L->K);
    float *w = awq_alloc(nk, sizeof(float));
    float *sf = NULL;
    if (!w) return awq_fail_nomem(ctx, "dequantized weight", (uint64_t)nk * 4u);
    awq_status st = awq_ct_float_dequant(ctx, ck, mod, L->N, L->K, w);
    if (st != AWQ_OK) {
        awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
        rec->ok = false;
        awq_free(w);
        return AWQ_OK;
    }
    for (size_t i = 0; i < nk; i++)
        if (!isfinite(w[i])) {
            awq_vf_problem(res, "%s: dequantized weight [%lld, %lld] is %g (a NaN code or a "
                           "non-finite scale)", mod, (long long)(i / (size_t)L->K),
                           (long long)(i % (size_t)L->K), (double)w[i]);
            rec->ok = false;
            awq_free(w);
            return AWQ_OK;
        }
    const awq_tensor_info *sw = src ? source_weight(ctx, src, against, mod, L, res) : NULL;
    if (src && !sw) rec->ok = false;
    if (sw) {
        sf = awq_alloc(nk, sizeof(float));
        if (!sf) st = awq_fail_nomem(ctx, "source weight", (uint64_t)nk * 4u);
        if (st == AWQ_OK) st = awq_tensor_to_f32(ctx, sw, sf);
        awq_tensor_info dense = *sw;
        dense.dtype = AWQ_DT_F32;
        dense.n_bytes = (uint64_t)nk * 4u;
        dense.data = w;
        awq_werr e;
        if (st == AWQ_OK) st = awq_weight_error(ctx, sw, NULL, &dense, &e);
        if (st == AWQ_OK) record_err(res, acc, rec, &e);
        if (st == AWQ_OK && L->is_float) {
            /* FP8 / NVFP4: the format's own grid, element by element */
            awq_ct_steps k;
            st = awq_ct_float_steps(ctx, ck, mod, L->N, L->K, sf, &k);
            if (st == AWQ_OK) {
                rec->n_off_step = k.n_off;
                rec->worst_step = k.worst;
                if (k.n_off) {
                    rec->ok = false;
                    awq_vf_problem(res, "%s: %lld of %lld source weights lie farther than half "
                                   "a %s step from their stored code (worst %.2f half steps, "
                                   "first in row %lld): not a round-to-nearest quantization "
                                   "of this source", mod, (long long)k.n_off, (long long)nk,
                                   awq_pack_kind_name(L->pack), k.worst,
                                   (long long)k.first_row);
                }
            }
        } else if (st == AWQ_OK) {
            /* integer codes (int8 naive, pack-quantized with scales FP16
             * cannot hold): the packed formats' bound */
            int g = sch->strategy == AWQ_CT_STRAT_GROUP ? sch->group_size : -1;
            double b = p->max_rel_err > 0 ? p->max_rel_err : awq_verify_default_bound(L->bits, g);
            res->bound = fmax(res->bound, b);
            if (!(rec->rel_err_scaled <= b)) {
                rec->ok = false;
                awq_vf_problem(res, "%s: relative error %.4f (scale-corrected %.4f) exceeds the "
                               "bound %.4f (%d-bit codes)", mod, rec->rel_err,
                               rec->rel_err_scaled, b, L->bits);
            }
        }
        if (st != AWQ_OK && st != AWQ_ERR_NOMEM) {
            awq_vf_problem(res, "%s: %s", mod, awq_ctx_errmsg(ctx));
            rec->ok = false;
            st = AWQ_OK;
        }
    }
    awq_free(sf);
    awq_free(w);
    return st;
}

/* The module of a quantized linear: its main tensor's name without the
 * suffix its family claimed it by. */
static bool module_of(const char *name, char *buf, size_t n) {
    static const char *const suf[] = {".weight_packed", ".weight"};
    size_t l = strlen(name);
    for (size_t i = 0; i < AWQ_ARRAY_LEN(suf); i++)
        if (ends_with(name, suf[i])) {
            l -= strlen(suf[i]);
            break;
        }
    if (l == 0 || l >= n) return false;
    memcpy(buf, name, l);
    buf[l] = 0;
    return true;
}

awq_status awq_verify_ct(awq_ctx *ctx, const awq_checkpoint *ck, const awq_checkpoint *src,
                         const awq_ct_config *cfg, const awq_verify_params *p,
                         awq_verify_result *res) {
    memset(&res->q, 0, sizeof res->q);
    res->q.labelled = res->q.format = AWQ_QFMT_CT;
    res->bound = 0;
    {
        size_t o = 0;
        char d[160];
        for (size_t i = 0; i < awq_ct_config_n_schemes(cfg); i++) {
            const awq_ct_scheme *s = awq_ct_config_scheme(cfg, i);
            if (!s->has_weights || o >= sizeof res->scheme) continue;
            awq_ct_scheme_describe(s, d, sizeof d);
            o += (size_t)snprintf(res->scheme + o, sizeof res->scheme - o, "%s%s", o ? "; " : "",
                                  d);
        }
    }
    awq_scan s;
    awq_status st = awq_scan_checkpoint(ctx, ck, &s);
    if (st != AWQ_OK) {
        awq_scan_free(&s);
        return st;
    }
    res->linears = calloc(s.n_packed ? s.n_packed : 1, sizeof *res->linears);
    if (!res->linears) {
        awq_scan_free(&s);
        return awq_fail_nomem(ctx, "verify records", s.n_packed * sizeof *res->linears);
    }
    const char *against = p->against ? p->against : "";
    char mod[VC_NAME];

    /* tensors of no quantized linear: finite, in the source, no orphans */
    for (size_t i = 0; i < s.n_tensors; i++) {
        const awq_scan_tensor *c = &s.t[i];
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        bool owned = c->linear >= 0 && s.lin[c->linear].pack != AWQ_PACK_NONE &&
                     (awq_scan_part_is_quant(c->part) || c->part == AWQ_PART_BIAS);
        if (owned) {
            if (c->part == AWQ_PART_BIAS) {
                const awq_scan_linear *L = &s.lin[c->linear];
                if (ti->ndim != 1 || ti->shape[0] != L->N)
                    awq_vf_problem(res, "%s: shape is not [%lld]", ti->name, (long long)L->N);
            }
            continue;
        }
        bool orphan = false;
        for (size_t k = 0; k < AWQ_ARRAY_LEN(k_parts) && !orphan; k++)
            orphan = ends_with(ti->name, k_parts[k]);
        if (orphan) {
            awq_vf_problem(res, "%s: a compressed-tensors part of no quantized linear (its "
                           "weight is missing or fits no layout)", ti->name);
            continue;
        }
        if (ti->dtype != AWQ_DT_F8_E4M3 && awq_dtype_is_float(ti->dtype) &&
            awq_tensor_check_finite(ctx, ti) != AWQ_OK)
            awq_vf_problem(res, "%s", awq_ctx_errmsg(ctx));
        if (src) {
            const awq_tensor_info *si = awq_checkpoint_find(src, ti->name);
            bool same = si && si->ndim == ti->ndim;
            for (int d = 0; same && d < ti->ndim; d++) same = si->shape[d] == ti->shape[d];
            if (!si)
                awq_vf_problem(res, "%s: not in the source checkpoint %s", ti->name, against);
            else if (!same)
                awq_vf_problem(res, "%s: shape differs from the source checkpoint", ti->name);
        }
    }

    vc_acc acc = {0, 0};
    int64_t done = 0;
    for (size_t li = 0; st == AWQ_OK && li < s.n_lin; li++) {
        const awq_scan_linear *L = &s.lin[li];
        if (L->pack == AWQ_PACK_NONE) continue;
        const awq_tensor_info *w = awq_checkpoint_tensor(ck, (size_t)L->weight);
        if (!module_of(w->name, mod, sizeof mod)) {
            awq_vf_problem(res, "%s: name too long", w->name);
            continue;
        }
        awq_verify_linear *rec = &res->linears[res->n_linears++];
        snprintf(rec->name, sizeof rec->name, "%.*s", (int)sizeof rec->name - 1, mod);
        rec->rel_err = rec->rel_err_scaled = -1;
        rec->n_off_step = -1;
        rec->worst_step = -1;
        rec->K = L->K;
        rec->N = L->N;
        rec->ok = false;
        if (L->pack == AWQ_PACK_UNKNOWN) {
            awq_vf_problem(res, "%s: quantized tensors that fit no known layout", w->name);
            res->n_failed_linears++;
            continue;
        }
        const awq_ct_scheme *sch = awq_ct_scheme_for(
            cfg, mod, L->role == AWQ_ROLE_EMBED ? AWQ_CT_MOD_EMBEDDING : AWQ_CT_MOD_LINEAR);
        if (!sch || !sch->has_weights) {
            awq_vf_problem(res, "%s: stored quantized (%s), but no config_groups target matches "
                           "it or ignore lists it", mod, awq_pack_kind_name(L->pack));
            res->n_failed_linears++;
            continue;
        }
        res->linear_params += (uint64_t)(L->K * L->N);
        rec->ok = check_structure(ck, mod, L, sch, res);
        if (rec->ok) {
            st = L->pack == AWQ_PACK_CT_INT
                     ? int_linear(ctx, ck, src, against, mod, L, sch, p, res, rec, &acc)
                     : AWQ_ERR_LOSSY;
            if (st == AWQ_ERR_LOSSY) {
                awq_clear_error(ctx);
                st = float_linear(ctx, ck, src, against, mod, L, sch, p, res, rec, &acc);
            }
        }
        if (!rec->ok) res->n_failed_linears++;
        if (st == AWQ_OK) st = awq_progress(ctx, "verify", (uint64_t)++done, s.n_packed);
    }
    if (st == AWQ_OK) res->mean_rel_err_scaled = acc.n_err ? acc.sum_err / (double)acc.n_err : 0;

    /* every source tensor is here, as is or as a quantized linear */
    for (size_t i = 0; st == AWQ_OK && src && i < awq_checkpoint_n_tensors(src); i++) {
        const char *nm = awq_checkpoint_tensor(src, i)->name;
        if (awq_checkpoint_find(ck, nm)) continue;
        size_t n = strlen(nm);
        if (ends_with(nm, ".weight") && n - 7 < sizeof mod) {
            memcpy(mod, nm, n - 7);
            mod[n - 7] = 0;
            if (sib(ck, mod, ".weight_packed")) continue;
        }
        awq_vf_problem(res, "%s: in the source checkpoint but missing here", nm);
    }

    /* logical parameter counts */
    awq_count_result cnt;
    if (st == AWQ_OK) st = awq_count(ctx, ck, &cnt);
    if (st == AWQ_OK) {
        res->logical_params = cnt.logical;
        if (cnt.quant_logical != res->linear_params)
            awq_vf_problem(res, "count: the logical counter gives %llu quantized weights, the "
                           "quantized linears hold %llu", (unsigned long long)cnt.quant_logical,
                           (unsigned long long)res->linear_params);
    }
    if (st == AWQ_OK && src) {
        awq_count_result sc;
        st = awq_count(ctx, src, &sc);
        if (st == AWQ_OK) {
            res->against_logical_params = sc.logical;
            res->params_equal = sc.logical == cnt.logical;
            if (!res->params_equal)
                awq_vf_problem(res, "parameters: %llu logical here, %llu in %s",
                               (unsigned long long)cnt.logical, (unsigned long long)sc.logical,
                               against);
        }
    }
    awq_scan_free(&s);
    return st;
}
