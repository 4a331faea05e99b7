/*
 * lib/quant/qckpt.c — packed checkpoints: which format a checkpoint holds
 * (quantization_config checked against the tensor shapes, GPTQ zero
 * convention) and reading one packed linear into the canonical form.
 */
#include "core/core.h"
#include "quant/ctconfig.h"
#include "quant/layouts.h"

#include "awqkit/checkpoint.h"
#include "awqkit/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest linear prefix accepted (tensor names are capped by the reader;
 * this only bounds our name buffers). */
#define QK_MAX_PREFIX 1024

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* View of one checkpoint tensor as a packed tensor; false when it has more
 * than 2 dims (no layout has). */
static bool view_of(const awq_tensor_info *ti, const char *suffix,
                    awq_packed_tensor *pt) {
    memset(pt, 0, sizeof *pt);
    pt->suffix = suffix;
    if (!ti) return true;
    if (ti->ndim < 1 || ti->ndim > 2) return false;
    pt->dtype = ti->dtype;
    pt->ndim = ti->ndim;
    pt->shape[0] = ti->shape[0];
    pt->shape[1] = ti->ndim > 1 ? ti->shape[1] : 0;
    pt->n_bytes = ti->n_bytes;
    pt->data = (void *)(uintptr_t)ti->data;
    return true;
}

/* Look up <prefix>.<suffix> for every packed part of `format`. */
static void find_parts(const awq_checkpoint *ck, const char *prefix, int format,
                       const awq_tensor_info *parts[AWQ_PT_MAX]) {
    char name[QK_MAX_PREFIX + 32];
    for (int i = 0; i < AWQ_PT_MAX; i++) {
        const char *sfx = awq_format_suffix((awq_qformat)format, i);
        parts[i] = NULL;
        if (!sfx) continue;
        snprintf(name, sizeof name, "%s.%s", prefix, sfx);
        parts[i] = awq_checkpoint_find(ck, name);
    }
}

/* "qweight" or "weight_packed": the tensor that marks a packed linear. */
static const char *qw_sfx(int format) {
    return awq_format_suffix((awq_qformat)format, AWQ_PT_QWEIGHT);
}

/* Does the set of shapes fit `format` with these bits / group size? */
static bool shapes_fit(int format, int bits, int gs,
                       const awq_tensor_info *const parts[AWQ_PT_MAX]) {
    const awq_tensor_info *qw = parts[AWQ_PT_QWEIGHT], *qz = parts[AWQ_PT_QZEROS],
                          *sc = parts[AWQ_PT_SCALES];
    /* compressed-tensors leaves the zero point of symmetric linears out */
    const bool zopt = format == AWQ_QFMT_CT && !qz;
    if (!qw || (!qz && !zopt) || !sc || qw->ndim != 2 || (qz && qz->ndim != 2) || sc->ndim != 2)
        return false;
    int64_t K, N;
    awq_lay_shapes s;
    if (!awq_lay_dims_from_qweight(format, bits, qw->shape[0], qw->shape[1], &K, &N) ||
        awq_lay_get_shapes(format, K, N, bits, gs, &s) != AWQ_LAY_OK)
        return false;
    return (zopt || (qz->shape[0] == s.qzeros[0] && qz->shape[1] == s.qzeros[1])) &&
           sc->shape[0] == s.scales[0] && sc->shape[1] == s.scales[1];
}

static const char *layout_name(int f) {
    switch (f) {
    case AWQ_QFMT_AWQ_GEMM: return "AWQ GEMM";
    case AWQ_QFMT_AWQ_GEMV: return "AWQ GEMV";
    case AWQ_QFMT_CT: return "compressed-tensors";
    default: return "GPTQ";
    }
}

/* Copy prefix of `name` without the ".<sfx>" suffix. */
static bool prefix_of(const char *name, const char *sfx, char *buf, size_t cap) {
    size_t n = strlen(name) - strlen(sfx) - 1;
    if (n == 0 || n >= cap) return false;
    memcpy(buf, name, n);
    buf[n] = 0;
    return true;
}

awq_status awq_qckpt_detect(awq_ctx *ctx, const awq_checkpoint *ck,
                            awq_zeros_mode mode, awq_qckpt *out) {
    if (!ck || !out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_qckpt_detect: NULL argument");
    memset(out, 0, sizeof *out);
    const char *dir = awq_checkpoint_dir(ck);
    const cJSON *root = awq_checkpoint_config(ck);
    if (!root)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                        "%s: no config.json, so no quantization_config to say the format",
                        dir);
    awq_model_config mc;
    /* from_checkpoint: also a legacy quantize_config.json / quant_config.json */
    awq_status st = awq_model_config_from_checkpoint(ctx, ck, &mc);
    if (st != AWQ_OK) return st; /* the message names the file */
    const awq_quant_config *qc = &mc.quant;
    if (!qc->present)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                        "%s/config.json has no quantization_config: not a packed (AWQ / GPTQ / "
                        "compressed-tensors) "
                        "checkpoint", dir);
    const cJSON *qj = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    int bits = qc->bits, group_size = qc->group_size;
    if (awq_ct_is(qj)) {
        awq_ct_config *cfg = NULL;
        const awq_ct_scheme *sch;
        AWQ_TRY(awq_ct_config_load(ctx, ck, &cfg));
        awq_status cs = awq_ct_int_scheme(ctx, cfg, &sch);
        if (cs == AWQ_OK) {
            out->labelled = AWQ_QFMT_CT;
            out->sym = sch->symmetric;
            out->sym_given = true;
            out->desc_act = sch->actorder;
            bits = sch->num_bits;
            group_size = sch->group_size;
        }
        awq_ct_config_free(cfg);
        AWQ_TRY(cs);
    } else if (strcasecmp(qc->quant_method, "awq") == 0) {
        if (qc->version[0] == 0 || strcmp(qc->version, "gemm") == 0)
            out->labelled = AWQ_QFMT_AWQ_GEMM;
        else if (strcmp(qc->version, "gemv") == 0)
            out->labelled = AWQ_QFMT_AWQ_GEMV;
        else
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s/config.json: AWQ version \"%s\" is not supported (awqkit "
                            "reads gemm and gemv)", dir, qc->version);
        out->sym = !qc->zero_point;
        out->sym_given = cJSON_GetObjectItemCaseSensitive(qj, "zero_point") != NULL;
    } else if (strcasecmp(qc->quant_method, "gptq") == 0) {
        if (qc->checkpoint_format[0] == 0 || strcmp(qc->checkpoint_format, "gptq") == 0)
            out->labelled = AWQ_QFMT_GPTQ;
        else if (strcmp(qc->checkpoint_format, "gptq_v2") == 0)
            out->labelled = AWQ_QFMT_GPTQ_V2;
        else
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s/config.json: GPTQ checkpoint_format \"%s\" is not supported "
                            "(awqkit reads gptq and gptq_v2)", dir, qc->checkpoint_format);
        out->sym = qc->sym;
        out->sym_given = cJSON_GetObjectItemCaseSensitive(qj, "sym") != NULL;
        out->desc_act = qc->desc_act;
    } else {
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s/config.json: quant_method \"%s\" is not supported (awqkit reads "
                        "awq, gptq and compressed-tensors)", dir, qc->quant_method);
    }
    out->format = out->labelled;
    out->bits = bits;
    out->group_size = group_size;
    if (!awq_lay_bits_ok(out->bits))
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s/config.json: quantization_config.bits is %d (expected 2, 3, 4 or 8)",
                        dir, out->bits);
    if (out->group_size == 0)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s/config.json: quantization_config has no group_size", dir);

    /* the packed linears */
    char first[QK_MAX_PREFIX] = "", dot_qw[32];
    snprintf(dot_qw, sizeof dot_qw, ".%s", qw_sfx(out->labelled));
    size_t nt = awq_checkpoint_n_tensors(ck);
    for (size_t i = 0; i < nt; i++) {
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        if (!ends_with(ti->name, dot_qw)) continue;
        if (out->n_linears == 0 && !prefix_of(ti->name, dot_qw + 1, first, sizeof first))
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: tensor name \"%s\" is too long or empty",
                            dir, ti->name);
        out->n_linears++;
    }
    if (out->n_linears == 0)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                        "%s: config.json says %s, but no tensor is named <module>%s",
                        dir, qc->quant_method, dot_qw);
    const awq_tensor_info *parts[AWQ_PT_MAX];
    find_parts(ck, first, out->labelled, parts);
    for (int i = 1; i < 3; i++)
        if (!parts[i] && !(i == AWQ_PT_QZEROS && out->labelled == AWQ_QFMT_CT && out->sym))
            return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s.%s: missing (%s%s exists)", first,
                            awq_format_suffix(out->labelled, i), first, dot_qw);
    {
        /* a config that cannot describe this linear at all (e.g. a group size
         * that does not divide in_features) */
        int64_t K, N;
        const char *why = NULL;
        const awq_tensor_info *qw = parts[AWQ_PT_QWEIGHT];
        if (qw->ndim == 2 &&
            awq_lay_dims_from_qweight((int)out->labelled, out->bits, qw->shape[0], qw->shape[1],
                                      &K, &N) &&
            !awq_linear_packable(out->labelled, K, N, out->bits, out->group_size, &why))
            return awq_fail(ctx, AWQ_ERR_MISMATCH,
                            "%s: quantization_config (%s, %d bits, group size %d) cannot "
                            "describe %s (in_features %lld, out_features %lld from its "
                            "qweight): %s",
                            dir, awq_format_get(out->labelled)->name, out->bits,
                            out->group_size, first, (long long)K, (long long)N, why);
    }
    if (!shapes_fit(out->labelled, out->bits, out->group_size, parts)) {
        const int cands[3] = {AWQ_QFMT_AWQ_GEMM, AWQ_QFMT_AWQ_GEMV, AWQ_QFMT_GPTQ};
        const char *fits = NULL;
        for (int c = 0; c < 3; c++)
            if (cands[c] != (int)out->labelled && shapes_fit(cands[c], out->bits, out->group_size, parts))
                fits = layout_name(cands[c]);
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "%s: quantization_config says %s (%d bits, group size %d), but the "
                        "shapes of %s (qweight [%lld, %lld], qzeros [%lld, %lld], scales "
                        "[%lld, %lld]) %s%s",
                        dir, awq_format_get(out->labelled)->name, out->bits, out->group_size,
                        first, (long long)parts[0]->shape[0],
                        (long long)(parts[0]->ndim > 1 ? parts[0]->shape[1] : 0),
                        (long long)(parts[1] ? parts[1]->shape[0] : 0),
                        (long long)(parts[1] && parts[1]->ndim > 1 ? parts[1]->shape[1] : 0),
                        (long long)parts[2]->shape[0],
                        (long long)(parts[2]->ndim > 1 ? parts[2]->shape[1] : 0),
                        fits ? "are those of the layout " : "fit no known layout",
                        fits ? fits : "");
    }

    /* GPTQ zero convention */
    if (out->labelled == AWQ_QFMT_GPTQ || out->labelled == AWQ_QFMT_GPTQ_V2) {
        if (mode == AWQ_ZEROS_AS_V1 || mode == AWQ_ZEROS_AS_V2) {
            out->format = mode == AWQ_ZEROS_AS_V1 ? AWQ_QFMT_GPTQ : AWQ_QFMT_GPTQ_V2;
            out->zeros_reinterpreted = out->format != out->labelled;
            snprintf(out->zeros_note, sizeof out->zeros_note,
                     "qzeros read as %s, as asked", mode == AWQ_ZEROS_AS_V1
                                                         ? "zero - 1 (v1)"
                                                         : "true zeros (v2)");
        } else if (out->labelled == AWQ_QFMT_GPTQ_V2) {
            snprintf(out->zeros_note, sizeof out->zeros_note,
                     "labelled gptq_v2: qzeros read as true zeros");
        } else {
            int64_t n_true = 0, n_v1sym = 0, n_amb = 0;
            const char *why_true = NULL;
            char ex_true[QK_MAX_PREFIX] = "", ex_sym[QK_MAX_PREFIX] = "";
            for (size_t i = 0; i < nt; i++) {
                const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
                char pre[QK_MAX_PREFIX];
                if (!ends_with(ti->name, ".qweight") ||
                    !prefix_of(ti->name, "qweight", pre, sizeof pre))
                    continue;
                find_parts(ck, pre, AWQ_QFMT_GPTQ, parts);
                awq_packed v;
                memset(&v, 0, sizeof v);
                v.format = AWQ_QFMT_GPTQ;
                v.n_tensors = 4;
                if (!parts[AWQ_PT_QZEROS] ||
                    !view_of(parts[AWQ_PT_QZEROS], "qzeros", &v.t[AWQ_PT_QZEROS]))
                    continue; /* awq_qlinear_read reports it */
                const char *why = NULL;
                switch (awq_gptq_detect_zeros(&v, out->bits, out->sym, &why)) {
                case AWQ_GPTQ_ZEROS_TRUE:
                    if (!n_true++) {
                        why_true = why;
                        snprintf(ex_true, sizeof ex_true, "%s", pre);
                    }
                    break;
                case AWQ_GPTQ_ZEROS_V1_SYM:
                    if (!n_v1sym++) snprintf(ex_sym, sizeof ex_sym, "%s", pre);
                    break;
                case AWQ_GPTQ_ZEROS_AMBIGUOUS: n_amb++; break;
                default: break;
                }
            }
            if (n_true > 0 && n_v1sym > 0)
                return awq_fail(ctx, AWQ_ERR_FORMAT,
                                "%s: conflicting GPTQ zero conventions: %s stores true zeros "
                                "but %s stores v1 zeros (zero - 1); choose one explicitly "
                                "(read zeros as v1 or v2)", dir, ex_true, ex_sym);
            if (n_true > 0) {
                /* The label and the data disagree. Reading the whole
                 * checkpoint as v2 because some linear looks like it turns
                 * one corrupted nibble into a silently different model:
                 * the caller must choose. */
                int64_t n_lin = 0;
                for (size_t i = 0; i < nt; i++)
                    n_lin += ends_with(awq_checkpoint_tensor(ck, i)->name, ".qweight");
                return awq_fail(ctx, AWQ_ERR_MISMATCH,
                                "%s: labelled gptq (v1)%s, but the qzeros of %lld of %lld linears "
                                "hold true zeros (first %.72s: %.100s): the label and the data "
                                "disagree; choose how to read them (--gptq-zeros v1 or v2), or "
                                "fix checkpoint_format",
                                dir, qc->checkpoint_format[0] ? "" : " by default",
                                (long long)n_true, (long long)n_lin, ex_true, why_true);
            } else if (n_amb > 0) {
                snprintf(out->zeros_note, sizeof out->zeros_note,
                         "labelled gptq (v1); %lld linears store zero fields of 2^bits - 1, "
                         "which v1 cannot mean (overflowed zero 0, or true zeros)",
                         (long long)n_amb);
            } else {
                snprintf(out->zeros_note, sizeof out->zeros_note,
                         "labelled gptq (v1): qzeros read as zero - 1%s",
                         n_v1sym ? " (symmetric zeros stored as 2^(bits-1) - 1 confirm it)"
                                 : "");
            }
        }
        awq_info(ctx, "%s: %s", dir, out->zeros_note);
    }
    return AWQ_OK;
}

awq_status awq_qlinear_read(awq_ctx *ctx, const awq_checkpoint *ck,
                            const char *prefix, const awq_qckpt *q,
                            awq_qtensor *out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_qlinear_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!ck || !prefix || !q)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_qlinear_read: NULL argument");
    if (strlen(prefix) >= QK_MAX_PREFIX)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "linear name too long (%zu bytes)",
                        strlen(prefix));
    const awq_tensor_info *parts[AWQ_PT_MAX];
    find_parts(ck, prefix, q->format, parts);
    const bool ct = q->format == AWQ_QFMT_CT;
    for (int i = 0; i < 3; i++)
        if (!parts[i] && !(ct && i == AWQ_PT_QZEROS && q->sym))
            return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s.%s: missing%s", prefix,
                            awq_format_suffix(q->format, i),
                            i ? " (the linear's packed weight exists)" : "");
    if (ct && !parts[AWQ_PT_SHAPE])
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s.weight_shape: missing", prefix);
    awq_packed v;
    memset(&v, 0, sizeof v);
    v.format = q->format;
    v.n_tensors = awq_format_get(q->format)->n_tensors;
    for (int i = 0; i < v.n_tensors; i++) {
        const char *sfx = awq_format_suffix(q->format, i);
        if (!view_of(parts[i], sfx, &v.t[i]))
            return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s.%s: %d dims (expected 2)", prefix,
                            sfx, parts[i]->ndim);
    }
    awq_unpack_params up = {q->bits, q->group_size, q->sym && q->sym_given};
    return awq_unpack(ctx, prefix, q->format, &v, &up, out);
}
