/*
 * lib/audit/report.c — report.json and report.md from an awq_audit_result,
 * plus the helpers the renderers share (escaping, Pareto front, number
 * formats). Rendering reads only the result struct, so a hand-made result
 * renders exactly like a measured one (tests/unit/test_audit.c).
 */
#include "audit/audit_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------------- helpers */

void audit_sb_xml(awq_strbuf *b, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '&': awq_sb_puts(b, "&amp;"); break;
        case '<': awq_sb_puts(b, "&lt;"); break;
        case '>': awq_sb_puts(b, "&gt;"); break;
        case '"': awq_sb_puts(b, "&quot;"); break;
        case '\'': awq_sb_puts(b, "&#39;"); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') awq_sb_puts(b, "?");
            else awq_sb_append(b, p, 1);
        }
    }
}

void audit_sb_md(awq_strbuf *b, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '|') awq_sb_puts(b, "\\|");
        else if (*p == '\n' || *p == '\r') awq_sb_puts(b, " ");
        else if (*p == '<') awq_sb_puts(b, "&lt;"); /* GitHub renders HTML in cells */
        else awq_sb_append(b, p, 1);
    }
}

awq_status audit_sb_take(awq_ctx *ctx, awq_strbuf *b, char **out, size_t *len) {
    if (b->oom || !b->s) {
        awq_sb_free(b);
        return awq_fail_nomem(ctx, "report text", b->cap);
    }
    *out = b->s;
    if (len) *len = b->len;
    b->s = NULL;
    b->len = b->cap = 0;
    return AWQ_OK;
}

bool audit_config_has_metrics(const awq_audit_config *c) {
    return c->state == AWQ_AUDIT_MEASURED && isfinite(c->ppl);
}

void awq_audit_pareto(int n, const double *x, const double *y, bool *front) {
    for (int i = 0; i < n; i++) {
        front[i] = isfinite(x[i]) && isfinite(y[i]);
        for (int j = 0; j < n && front[i]; j++) {
            if (j == i || !isfinite(x[j]) || !isfinite(y[j])) continue;
            if (x[j] <= x[i] && y[j] <= y[i] && (x[j] < x[i] || y[j] < y[i])) front[i] = false;
        }
    }
}

void audit_front(const awq_audit_result *r, bool *front) {
    double *x = malloc(sizeof(double) * (size_t)(r->n_configs ? r->n_configs : 1));
    double *y = malloc(sizeof(double) * (size_t)(r->n_configs ? r->n_configs : 1));
    if (!x || !y) {
        for (int i = 0; i < r->n_configs; i++) front[i] = false;
        free(x);
        free(y);
        return;
    }
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        bool ok = audit_config_has_metrics(c) && c->file_bytes > 0;
        x[i] = ok ? (double)c->file_bytes : NAN;
        y[i] = ok ? c->ppl : NAN;
    }
    awq_audit_pareto(r->n_configs, x, y, front);
    free(x);
    free(y);
}

void audit_fmt_bytes(char *buf, size_t n, double b) {
    if (b >= 1e12) snprintf(buf, n, "%.2f TB", b / 1e12);
    else if (b >= 1e9) snprintf(buf, n, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, n, "%.2f MB", b / 1e6);
    else if (b >= 1e3) snprintf(buf, n, "%.1f kB", b / 1e3);
    else snprintf(buf, n, "%.0f B", b);
}

void audit_fmt_group(char *buf, size_t n, const awq_audit_spec *s) {
    if (s->kind == AWQ_AUDIT_FP16 || s->group_size == 0) snprintf(buf, n, "-");
    else if (s->group_size < 0) snprintf(buf, n, "per-channel");
    else snprintf(buf, n, "g%d", s->group_size);
}

static const char *method_label(const awq_audit_spec *s) {
    switch (s->kind) {
    case AWQ_AUDIT_FP16: return "fp16";
    case AWQ_AUDIT_COMPARE: return "external";
    default: return awq_method_name(s->method);
    }
}

static const char *format_label(const awq_audit_config *c) {
    if (c->spec.kind == AWQ_AUDIT_FP16) return "dense";
    if (c->spec.kind == AWQ_AUDIT_COMPARE && c->spec.bits >= 16) return "dense";
    const awq_format_info *f = awq_format_get(c->spec.format);
    return f ? f->name : "?";
}

static const awq_audit_config *find_fp16(const awq_audit_result *r) {
    for (int i = 0; i < r->n_configs; i++)
        if (r->configs[i].spec.kind == AWQ_AUDIT_FP16 && audit_config_has_metrics(&r->configs[i]))
            return &r->configs[i];
    return NULL;
}

/* The RTN configuration matching an AWQ one (same bits, group, format). */
static const awq_audit_config *audit_rtn_twin(const awq_audit_result *r,
                                              const awq_audit_config *c) {
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *o = &r->configs[i];
        if (o->spec.kind == AWQ_AUDIT_QUANTIZED && o->spec.method == AWQ_METHOD_RTN &&
            o->spec.bits == c->spec.bits && o->spec.group_size == c->spec.group_size &&
            o->spec.format == c->spec.format)
            return o;
    }
    return NULL;
}

/* ------------------------------------------------------------------ JSON */

bool awq_audit_compare_rtn(const awq_audit_result *r, const awq_audit_config *c,
                           awq_audit_comparison *out) {
    memset(out, 0, sizeof *out);
    out->nll_diff = out->nll_diff_se = out->z = NAN;
    out->verdict = "tie";
    if (!r || !c || c->spec.kind != AWQ_AUDIT_QUANTIZED || c->spec.method != AWQ_METHOD_AWQ ||
        !audit_config_has_metrics(c))
        return false;
    const awq_audit_config *t = audit_rtn_twin(r, c);
    if (!t || !audit_config_has_metrics(t)) return false;
    out->rtn = t;
    out->ppl_diff = c->ppl - t->ppl;
    /* paired over the windows: mean and standard error of the differences */
    const int64_t n = r->n_windows;
    if (!c->window_nll || !t->window_nll || n < 2) return true;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += c->window_nll[i] - t->window_nll[i];
    const double mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = c->window_nll[i] - t->window_nll[i] - mean;
        s2 += d * d;
    }
    out->has_z = true;
    out->nll_diff = mean;
    out->nll_diff_se = sqrt(s2 / (double)(n - 1) / (double)n);
    out->z = out->nll_diff_se > 0 ? mean / out->nll_diff_se
                                  : (mean == 0 ? 0 : copysign(INFINITY, mean));
    out->verdict = out->z <= -AUDIT_TIE_Z ? "better" : out->z >= AUDIT_TIE_Z ? "worse" : "tie";
    return true;
}

static void jnum(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void jstr(cJSON *o, const char *k, const char *v) {
    if (v) cJSON_AddStringToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *config_json(const awq_audit_result *r, const awq_audit_config *c, bool front) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", awq_audit_kind_name(c->spec.kind));
    cJSON_AddStringToObject(o, "status", awq_audit_state_name(c->state));
    if (c->state != AWQ_AUDIT_MEASURED) cJSON_AddStringToObject(o, "reason", c->why);
    cJSON_AddStringToObject(o, "method", method_label(&c->spec));
    cJSON_AddNumberToObject(o, "bits", c->spec.bits);
    cJSON_AddNumberToObject(o, "group_size", c->spec.group_size);
    cJSON_AddStringToObject(o, "format", format_label(c));
    jstr(o, "checkpoint", c->path);
    cJSON_AddBoolToObject(o, "kept", c->kept);
    if (c->state != AWQ_AUDIT_MEASURED) return o;
    cJSON_AddStringToObject(o, "detected", c->detected);
    cJSON *s = cJSON_AddObjectToObject(o, "size");
    cJSON_AddNumberToObject(s, "file_bytes", (double)c->file_bytes);
    cJSON_AddNumberToObject(s, "file_gb", (double)c->file_bytes / 1e9);
    cJSON_AddNumberToObject(s, "tensor_bytes", (double)c->tensor_bytes);
    cJSON_AddNumberToObject(s, "logical_parameters", (double)c->logical_params);
    jnum(s, "bits_per_weight", c->bits_per_weight);
    jnum(s, "bits_per_param", c->bits_per_param);
    cJSON_AddNumberToObject(s, "quantized_linears", (double)c->n_quant_linears);
    jnum(o, "ppl", c->ppl);
    jnum(o, "mean_nll", c->mean_nll);
    jnum(o, "kl", c->kl_mean);
    jnum(o, "kl_max", c->kl_max);
    jnum(o, "top1_agreement", c->top1);
    cJSON_AddNumberToObject(o, "predicted_tokens", (double)c->n_predicted);
    cJSON_AddBoolToObject(o, "pareto_front", front);
    cJSON *t = cJSON_AddObjectToObject(o, "seconds");
    cJSON_AddNumberToObject(t, "quantize", c->quant_seconds);
    cJSON_AddNumberToObject(t, "evaluate", c->eval_seconds);
    cJSON_AddNumberToObject(t, "weights", c->weight_seconds);
    if (c->layer_mse) {
        cJSON_AddNumberToObject(o, "output_mse_sequences", (double)c->mse_seqs);
        cJSON_AddNumberToObject(o, "calibration_sequences", (double)c->calib_seqs);
    }
    if (c->layer_mse || c->lin_err) {
        cJSON *ls = cJSON_AddArrayToObject(o, "layers");
        for (int64_t l = 0; l < r->n_layers; l++) {
            cJSON *lo = cJSON_CreateObject();
            cJSON_AddNumberToObject(lo, "layer", (double)l);
            if (c->layer_mse) jnum(lo, "output_mse", c->layer_mse[l]);
            if (c->layer_mse_rtn) jnum(lo, "output_mse_rtn", c->layer_mse_rtn[l]);
            if (c->layer_werr) jnum(lo, "weight_rel_err", c->layer_werr[l]);
            if (c->lin_err) {
                cJSON *lin = cJSON_AddObjectToObject(lo, "linears");
                for (int j = 0; j < r->n_linears; j++) {
                    cJSON *e = cJSON_AddObjectToObject(lin, r->linear_names[j]);
                    size_t k = (size_t)(l * r->n_linears + j);
                    jnum(e, "rel_err", c->lin_err[k]);
                    if (c->lin_err_raw) jnum(e, "rel_err_raw", c->lin_err_raw[k]);
                }
            }
            cJSON_AddItemToArray(ls, lo);
        }
    }
    cJSON *m = cJSON_AddObjectToObject(o, "memory");
    cJSON_AddNumberToObject(m, "predicted_weight_bytes", (double)c->predicted_weight_bytes);
    cJSON *sv = cJSON_AddArrayToObject(m, "serving");
    for (int i = 0; i < r->n_contexts; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "context", (double)r->contexts[i]);
        cJSON_AddNumberToObject(e, "serving_bytes", (double)c->serving_bytes[i]);
        cJSON_AddNumberToObject(e, "serving_gib", (double)c->serving_bytes[i] / 1073741824.0);
        cJSON *f = cJSON_AddArrayToObject(e, "fits");
        for (int b = 0; b < r->n_budgets; b++)
            cJSON_AddItemToArray(f, cJSON_CreateBool(c->serving_bytes[i] > 0 &&
                                                     (double)c->serving_bytes[i] <=
                                                         r->budgets_gib[b] * 1073741824.0));
        cJSON_AddItemToArray(sv, e);
    }
    return o;
}

awq_status awq_audit_render_json(awq_ctx *ctx, const awq_audit_result *r, char **out,
                                 size_t *len) {
    if (!r || !out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "render: NULL argument");
    *out = NULL;
    bool *front = calloc((size_t)(r->n_configs ? r->n_configs : 1), sizeof(bool));
    if (!front) return awq_fail_nomem(ctx, "front", (uint64_t)r->n_configs);
    audit_front(r, front);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "awqkit_version", r->version);
    cJSON *m = cJSON_AddObjectToObject(j, "model");
    jstr(m, "path", r->model);
    cJSON_AddStringToObject(m, "architecture", r->architecture);
    cJSON_AddNumberToObject(m, "layers", (double)r->n_layers);
    cJSON_AddNumberToObject(m, "hidden", (double)r->hidden);
    cJSON_AddNumberToObject(m, "vocab", (double)r->vocab);
    cJSON_AddNumberToObject(m, "logical_parameters", (double)r->logical_params);
    cJSON *ln = cJSON_AddArrayToObject(m, "linears");
    for (int k = 0; k < r->n_linears; k++)
        cJSON_AddItemToArray(ln, cJSON_CreateString(r->linear_names[k]));

    cJSON *op = cJSON_AddObjectToObject(j, "options");
    cJSON *cl = cJSON_AddArrayToObject(op, "configs");
    cJSON *cmp = cJSON_AddArrayToObject(op, "compare");
    for (int i = 0; i < r->n_configs; i++) {
        cJSON_AddItemToArray(cl, cJSON_CreateString(r->configs[i].spec.name));
        if (r->configs[i].spec.kind == AWQ_AUDIT_COMPARE)
            cJSON_AddItemToArray(cmp, cJSON_CreateString(r->configs[i].spec.path));
    }
    jstr(op, "text", r->text);
    cJSON_AddNumberToObject(op, "seqlen", (double)r->eval.seqlen);
    cJSON_AddNumberToObject(op, "max_chunks", (double)r->eval.max_windows);
    cJSON_AddBoolToObject(op, "add_bos", r->eval.add_bos);
    cJSON *ca = cJSON_AddObjectToObject(op, "calibration");
    jstr(ca, "path", r->calib);
    cJSON_AddNumberToObject(ca, "samples", r->calib_samples);
    cJSON_AddNumberToObject(ca, "seqlen", r->calib_seqlen);
    cJSON_AddNumberToObject(ca, "blocks", (double)r->calib_blocks);
    cJSON *se = cJSON_AddObjectToObject(op, "search");
    cJSON_AddNumberToObject(se, "n_grid", r->n_grid);
    cJSON_AddNumberToObject(se, "screen", r->screen);
    cJSON_AddNumberToObject(se, "finalists", r->finalists);
    cJSON_AddNumberToObject(se, "race_z", r->race_z);
    cJSON_AddBoolToObject(se, "clip", r->clip);
    cJSON_AddStringToObject(se, "duo_scaling", awq_duo_scaling_name(r->duo_scaling));
    cJSON_AddStringToObject(op, "backend", r->backend);
    cJSON_AddNumberToObject(op, "threads", r->threads);
    cJSON_AddBoolToObject(op, "keep_checkpoints", r->keep_checkpoints);
    cJSON_AddStringToObject(op, "heatmap_config", r->heatmap);
    cJSON *bg = cJSON_AddArrayToObject(op, "budgets_gib");
    for (int b = 0; b < r->n_budgets; b++)
        cJSON_AddItemToArray(bg, cJSON_CreateNumber(r->budgets_gib[b]));
    cJSON *cx = cJSON_AddArrayToObject(op, "contexts");
    for (int i = 0; i < r->n_contexts; i++)
        cJSON_AddItemToArray(cx, cJSON_CreateNumber((double)r->contexts[i]));

    cJSON *ev = cJSON_AddObjectToObject(j, "evaluation");
    cJSON_AddNumberToObject(ev, "text_tokens", (double)r->n_text_tokens);
    cJSON_AddNumberToObject(ev, "windows", (double)r->n_windows);
    cJSON_AddNumberToObject(ev, "predicted_tokens", (double)r->n_predicted);

    cJSON *cs = cJSON_AddObjectToObject(j, "configs");
    for (int i = 0; i < r->n_configs; i++)
        cJSON_AddItemToObject(cs, r->configs[i].spec.name, config_json(r, &r->configs[i], front[i]));

    cJSON *avr = cJSON_AddArrayToObject(j, "awq_vs_rtn");
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        awq_audit_comparison ps;
        if (!awq_audit_compare_rtn(r, c, &ps)) continue;
        const awq_audit_config *t = ps.rtn;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "bits", c->spec.bits);
        cJSON_AddNumberToObject(e, "group_size", c->spec.group_size);
        cJSON_AddStringToObject(e, "rtn", t->spec.name);
        cJSON_AddStringToObject(e, "awq", c->spec.name);
        jnum(e, "rtn_ppl", t->ppl);
        jnum(e, "awq_ppl", c->ppl);
        jnum(e, "awq_minus_rtn", c->ppl - t->ppl);
        jnum(e, "rtn_kl", t->kl_mean);
        jnum(e, "awq_kl", c->kl_mean);
        cJSON_AddBoolToObject(e, "awq_not_worse", c->ppl <= t->ppl);
        if (ps.has_z) {
            jnum(e, "nll_diff", ps.nll_diff);
            jnum(e, "nll_diff_se", ps.nll_diff_se);
            jnum(e, "z", ps.z);
            cJSON_AddStringToObject(e, "verdict", ps.verdict);
        }
        cJSON_AddItemToArray(avr, e);
    }
    cJSON *pf = cJSON_AddArrayToObject(j, "pareto_front");
    for (int i = 0; i < r->n_configs; i++)
        if (front[i]) cJSON_AddItemToArray(pf, cJSON_CreateString(r->configs[i].spec.name));

    cJSON *mf = cJSON_AddObjectToObject(j, "memory_fit");
    cJSON_AddNumberToObject(mf, "kv_bytes_per_token", (double)r->kv_bytes_per_token);
    cJSON_AddStringToObject(mf, "rule", "weights + FP16 KV cache (batch 1) + 1 GiB + 10%, "
                                        "awq_size_from_checkpoint; budgets in GiB");
    cJSON *tab = cJSON_AddArrayToObject(mf, "table");
    for (int i = 0; i < r->n_contexts; i++)
        for (int b = 0; b < r->n_budgets; b++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "context", (double)r->contexts[i]);
            cJSON_AddNumberToObject(e, "budget_gib", r->budgets_gib[b]);
            cJSON *f = cJSON_AddArrayToObject(e, "fits");
            for (int k = 0; k < r->n_configs; k++) {
                const awq_audit_config *c = &r->configs[k];
                if (c->state == AWQ_AUDIT_MEASURED && c->serving_bytes[i] > 0 &&
                    (double)c->serving_bytes[i] <= r->budgets_gib[b] * 1073741824.0)
                    cJSON_AddItemToArray(f, cJSON_CreateString(c->spec.name));
            }
            cJSON_AddItemToArray(tab, e);
        }

    double tq = 0, te = 0, tw = 0;
    for (int i = 0; i < r->n_configs; i++) {
        tq += r->configs[i].quant_seconds;
        te += r->configs[i].eval_seconds;
        tw += r->configs[i].weight_seconds;
    }
    cJSON *sec = cJSON_AddObjectToObject(j, "seconds");
    cJSON_AddNumberToObject(sec, "total", r->seconds_total);
    cJSON_AddNumberToObject(sec, "quantize", tq);
    cJSON_AddNumberToObject(sec, "evaluate", te);
    cJSON_AddNumberToObject(sec, "weights", tw);
    free(front);

    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return awq_fail_nomem(ctx, "report.json", 0);
    awq_strbuf b;
    awq_sb_init(&b);
    awq_sb_puts(&b, text);
    awq_sb_puts(&b, "\n");
    free(text);
    return audit_sb_take(ctx, &b, out, len);
}

/* -------------------------------------------------------------- Markdown */

void audit_fmt_num(char *buf, size_t n, double v, char mode, int dec) {
    if (!isfinite(v)) {
        snprintf(buf, n, "-");
        return;
    }
    switch (mode) {
    case '+': snprintf(buf, n, "%+.*f", dec, v); break;
    case 'g': snprintf(buf, n, "%.*g", dec, v); break;
    case '%': snprintf(buf, n, "%.*f%%", dec, 100.0 * v); break;
    default: snprintf(buf, n, "%.*f", dec, v); break;
    }
}

static void md_num(awq_strbuf *b, double v, char mode, int dec) {
    char t[48];
    audit_fmt_num(t, sizeof t, v, mode, dec);
    awq_sb_puts(b, t);
}

/* The definitions every report carries (audit.h says the same). */
static const char *const k_meanings[] = {
    "**size**: bytes of the checkpoint's safetensors files, headers included (`awqkit count` "
    "file_bytes); GB = 10^9 bytes.",
    "**bits/weight**: of the decoder linears, 8 x (qweight + qzeros + scales + g_idx bytes) / "
    "logical weights (`awqkit count`); 16 for FP16. Embeddings, lm_head and norms stay 16-bit "
    "and are not in this figure (they are in the file size).",
    "**ppl**: perplexity with `awqkit ppl`'s protocol (non-overlapping windows of --seqlen "
    "tokens, the first token of each is context only); the same value as `awqkit ppl` on the "
    "kept checkpoint with the same --seqlen / --max-chunks.",
    "**KL**: mean over the same predicted tokens of KL(P_fp16 || P_config) in nats, P the "
    "next-token softmax; **top-1**: share of those tokens whose most likely next token equals "
    "FP16's.",
    "**layer output MSE**: the quantizer's own measure: mean squared error of a decoder "
    "layer's output with the written weights against the FP16 layer, both fed the FP16 inputs "
    "of the calibration blocks (only for configurations quantized here).",
    "**weight error**: per linear, ||W_eff - W|| / ||W|| (Frobenius), W the FP16 weight, "
    "W_eff the dequantized stored weight with per-input-column and per-output-row factors "
    "divided out, chosen by least squares to minimise that error: this undoes the scales a "
    "checkpoint folds in (AWQ: into the previous norm, or the previous linear's rows) and "
    "leaves the rounding + clipping error the network sees (about 1% below the plain error "
    "when nothing was folded). Per layer: the same over all the layer's linears together. "
    "`rel_err_raw` in report.json: ||W' - W|| / ||W|| with nothing undone.",
    "**serving memory**: `awqkit size`'s estimate: weights + FP16 KV cache for one sequence of "
    "the context + 1 GiB + 10%; budgets in GiB (an \"80 GB\" card has 80 GiB).",
};

static void md_results(awq_strbuf *b, const awq_audit_result *r, const bool *front) {
    const awq_audit_config *fp = find_fp16(r);
    awq_sb_puts(b, "| config | method | bits | group | format | size | bits/weight | ppl | "
                   "Δppl | KL | top-1 | quantize s | front |\n");
    awq_sb_puts(b, "|---|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|:-:|\n");
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state != AWQ_AUDIT_MEASURED) continue;
        char g[24], sz[32];
        audit_fmt_group(g, sizeof g, &c->spec);
        audit_fmt_bytes(sz, sizeof sz, (double)c->file_bytes);
        awq_sb_puts(b, "| ");
        audit_sb_md(b, c->spec.name);
        awq_sb_printf(b, " | %s | %d | %s | %s | %s | ", method_label(&c->spec), c->spec.bits, g,
                      format_label(c), sz);
        md_num(b, c->bits_per_weight, 'f', 3);
        awq_sb_puts(b, " | ");
        md_num(b, c->ppl, 'f', 4);
        awq_sb_puts(b, " | ");
        if (fp && c != fp) md_num(b, c->ppl - fp->ppl, '+', 4);
        else awq_sb_puts(b, "-");
        awq_sb_puts(b, " | ");
        md_num(b, c->kl_mean, 'f', 5);
        awq_sb_puts(b, " | ");
        md_num(b, c->top1, '%', 2);
        awq_sb_puts(b, " | ");
        if (c->spec.kind == AWQ_AUDIT_QUANTIZED) md_num(b, c->quant_seconds, 'f', 1);
        else awq_sb_puts(b, "-");
        awq_sb_printf(b, " | %s |\n", front[i] ? "★" : "");
    }
    bool any = false;
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state == AWQ_AUDIT_MEASURED) continue;
        if (!any) awq_sb_puts(b, "\nNot measured:\n\n");
        any = true;
        awq_sb_puts(b, "- `");
        audit_sb_md(b, c->spec.name);
        awq_sb_printf(b, "`: %s — ",
                      c->state == AWQ_AUDIT_NOT_APPLICABLE ? "not applicable" : "failed");
        audit_sb_md(b, c->why);
        awq_sb_puts(b, "\n");
    }
}

static void md_awq_vs_rtn(awq_strbuf *b, const awq_audit_result *r) {
    bool header = false;
    int worse = 0;
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        awq_audit_comparison ps;
        if (!awq_audit_compare_rtn(r, c, &ps)) continue;
        const awq_audit_config *t = ps.rtn;
        if (!header) {
            awq_sb_puts(b, "\n## AWQ vs RTN\n\n| bits | group | RTN ppl | AWQ ppl | AWQ − RTN "
                           "| RTN KL | AWQ KL | AWQ ≤ RTN | z | paired verdict |\n"
                           "|--:|---|--:|--:|--:|--:|--:|:-:|--:|---|\n");
            header = true;
        }
        char g[24];
        audit_fmt_group(g, sizeof g, &c->spec);
        bool ok = c->ppl <= t->ppl;
        worse += !ok;
        char z[32];
        if (ps.has_z) snprintf(z, sizeof z, "%+.2f", ps.z);
        else snprintf(z, sizeof z, "–");
        awq_sb_printf(b, "| %d | %s | %.4f | %.4f | %+.4f | %.5f | %.5f | %s | %s | %s |\n",
                      c->spec.bits, g, t->ppl, c->ppl, c->ppl - t->ppl, t->kl_mean, c->kl_mean,
                      ok ? "yes" : "**no**", z, ps.has_z ? ps.verdict : "–");
    }
    if (header)
        awq_sb_printf(b, "\nz: mean per-window NLL difference (AWQ − RTN) over its standard "
                         "error across the %lld evaluation windows; |z| < %.0f is a tie that "
                         "these windows cannot resolve.\n",
                      (long long)r->n_windows, AUDIT_TIE_Z);
    if (header && worse)
        awq_sb_printf(b, "\n%d configuration(s) where AWQ's perplexity is above RTN's: see the "
                         "KL column and the layer output MSE below; with few calibration "
                         "samples or few evaluation windows the difference can be noise.\n",
                      worse);
}

static void md_memory(awq_strbuf *b, const awq_audit_result *r) {
    if (r->n_contexts == 0 || r->n_budgets == 0) return;
    awq_sb_printf(b, "\n## Memory fit\n\nServing memory (GiB) = weights + FP16 KV cache "
                     "(%llu bytes per token, batch 1) + 1 GiB + 10%%; ✓ = fits the GPU budget.\n",
                  (unsigned long long)r->kv_bytes_per_token);
    for (int i = 0; i < r->n_contexts; i++) {
        awq_sb_printf(b, "\nContext %lld tokens:\n\n| config | GiB |", (long long)r->contexts[i]);
        for (int k = 0; k < r->n_budgets; k++) awq_sb_printf(b, " %g GiB |", r->budgets_gib[k]);
        awq_sb_puts(b, "\n|---|--:|");
        for (int k = 0; k < r->n_budgets; k++) awq_sb_puts(b, ":-:|");
        awq_sb_puts(b, "\n");
        for (int c0 = 0; c0 < r->n_configs; c0++) {
            const awq_audit_config *c = &r->configs[c0];
            if (c->state != AWQ_AUDIT_MEASURED) continue;
            awq_sb_puts(b, "| ");
            audit_sb_md(b, c->spec.name);
            double gib = (double)c->serving_bytes[i] / 1073741824.0;
            awq_sb_printf(b, " | %.2f |", gib);
            for (int k = 0; k < r->n_budgets; k++)
                awq_sb_puts(b, c->serving_bytes[i] > 0 && gib <= r->budgets_gib[k] ? " ✓ |"
                                                                                   : " ✗ |");
            awq_sb_puts(b, "\n");
        }
    }
}

static void md_layers(awq_strbuf *b, const awq_audit_result *r) {
    int h = awq_audit_heatmap_index(r);
    if (h >= 0) {
        const awq_audit_config *c = &r->configs[h];
        awq_sb_puts(b, "\n## Per-layer error: ");
        audit_sb_md(b, c->spec.name);
        awq_sb_puts(b, "\n\nWeight error per linear (scale-corrected, see below)");
        if (c->layer_mse) {
            awq_sb_puts(b, " and the layer output MSE (this config / RTN");
            if (c->mse_seqs < c->calib_seqs)
                awq_sb_printf(b, "; over the first %lld of %lld calibration sequences, "
                              "quantize's first race stage", (long long)c->mse_seqs,
                              (long long)c->calib_seqs);
            awq_sb_puts(b, ")");
        }
        awq_sb_puts(b, ".\n\n| layer |");
        for (int j = 0; j < r->n_linears; j++) awq_sb_printf(b, " %s |", r->linear_names[j]);
        awq_sb_puts(b, " layer |");
        if (c->layer_mse) awq_sb_puts(b, " output MSE | RTN MSE |");
        awq_sb_puts(b, "\n|--:|");
        for (int j = 0; j <= r->n_linears; j++) awq_sb_puts(b, "--:|");
        if (c->layer_mse) awq_sb_puts(b, "--:|--:|");
        awq_sb_puts(b, "\n");
        for (int64_t l = 0; l < r->n_layers; l++) {
            awq_sb_printf(b, "| %lld |", (long long)l);
            for (int j = 0; j < r->n_linears; j++)
                awq_sb_printf(b, " %.4f |", c->lin_err[l * r->n_linears + j]);
            awq_sb_printf(b, " %.4f |", c->layer_werr ? c->layer_werr[l] : NAN);
            if (c->layer_mse)
                awq_sb_printf(b, " %.4g | %.4g |", c->layer_mse[l],
                              c->layer_mse_rtn ? c->layer_mse_rtn[l] : NAN);
            awq_sb_puts(b, "\n");
        }
    }
    /* layer output MSE of every quantized configuration, side by side */
    int n = 0;
    for (int i = 0; i < r->n_configs; i++) n += r->configs[i].layer_mse != NULL;
    if (n == 0) return;
    awq_sb_puts(b, "\n## Layer output MSE by configuration\n\n");
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (!c->layer_mse || c->mse_seqs >= c->calib_seqs) continue;
        awq_sb_printf(b, "Over the first %lld of %lld calibration sequences (the first "
                      "stage of quantize's race; `--screen 0` for all).\n\n", (long long)c->mse_seqs,
                      (long long)c->calib_seqs);
        break;
    }
    awq_sb_puts(b, "| layer |");
    for (int i = 0; i < r->n_configs; i++)
        if (r->configs[i].layer_mse) {
            awq_sb_puts(b, " ");
            audit_sb_md(b, r->configs[i].spec.name);
            awq_sb_puts(b, " |");
        }
    awq_sb_puts(b, "\n|--:|");
    for (int i = 0; i < n; i++) awq_sb_puts(b, "--:|");
    awq_sb_puts(b, "\n");
    for (int64_t l = 0; l < r->n_layers; l++) {
        awq_sb_printf(b, "| %lld |", (long long)l);
        for (int i = 0; i < r->n_configs; i++)
            if (r->configs[i].layer_mse) awq_sb_printf(b, " %.4g |", r->configs[i].layer_mse[l]);
        awq_sb_puts(b, "\n");
    }
}

static void md_timing(awq_strbuf *b, const awq_audit_result *r) {
    awq_sb_puts(b, "\n## Timing (wall seconds)\n\n| config | quantize | evaluate | weights |\n"
                   "|---|--:|--:|--:|\n");
    double tq = 0, te = 0, tw = 0;
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state != AWQ_AUDIT_MEASURED) continue;
        awq_sb_puts(b, "| ");
        audit_sb_md(b, c->spec.name);
        awq_sb_printf(b, " | %.2f | %.2f | %.2f |\n", c->quant_seconds, c->eval_seconds,
                      c->weight_seconds);
        tq += c->quant_seconds;
        te += c->eval_seconds;
        tw += c->weight_seconds;
    }
    awq_sb_printf(b, "| **all** | %.2f | %.2f | %.2f |\n\nTotal %.1f s on %d thread(s), backend "
                     "%s.\n", tq, te, tw, r->seconds_total, r->threads, r->backend);
}

static void md_header(awq_strbuf *b, const awq_audit_result *r) {
    awq_sb_puts(b, "# awqkit audit: ");
    audit_sb_md(b, r->model ? r->model : "model");
    awq_sb_printf(b, "\n\nawqkit %s. Model: %s, %lld layers, hidden %lld, vocabulary %lld, "
                     "%.0f logical parameters.\n\n", r->version, r->architecture,
                  (long long)r->n_layers, (long long)r->hidden, (long long)r->vocab,
                  (double)r->logical_params);
    awq_sb_puts(b, "Evaluation: `");
    audit_sb_md(b, r->text ? r->text : "?");
    awq_sb_printf(b, "`, %lld windows of %lld tokens%s (%lld predicted tokens of %lld in the "
                     "text).",
                  (long long)r->n_windows, (long long)r->eval.seqlen,
                  r->eval.add_bos ? " with BOS" : "", (long long)r->n_predicted,
                  (long long)r->n_text_tokens);
    if (r->calib) {
        awq_sb_puts(b, " Calibration: `");
        audit_sb_md(b, r->calib);
        awq_sb_printf(b, "`, %d samples, blocks of %d tokens (%lld blocks); search grid %d",
                      r->calib_samples, r->calib_seqlen, (long long)r->calib_blocks, r->n_grid);
        if (r->screen > 0) {
            awq_sb_printf(b, " raced in stages of %g of the blocks, drop at %g standard errors",
                          r->screen, r->race_z);
            if (r->finalists > 0) awq_sb_printf(b, ", %d finalists", r->finalists);
        }
        awq_sb_printf(b, "%s.", r->clip ? ", clipping" : ", no clipping");
    }
    awq_sb_puts(b, "\n");
}

awq_status awq_audit_render_markdown(awq_ctx *ctx, const awq_audit_result *r, char **out,
                                     size_t *len) {
    if (!r || !out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "render: NULL argument");
    *out = NULL;
    bool *front = calloc((size_t)(r->n_configs ? r->n_configs : 1), sizeof(bool));
    if (!front) return awq_fail_nomem(ctx, "front", (uint64_t)r->n_configs);
    audit_front(r, front);
    awq_strbuf b;
    awq_sb_init(&b);
    md_header(&b, r);
    awq_sb_puts(&b, "\n## Results\n\n");
    md_results(&b, r, front);
    awq_sb_puts(&b, "\n★ = on the Pareto front of perplexity vs file size (nothing else is both "
                    "smaller and better).\n");
    md_awq_vs_rtn(&b, r);
    md_memory(&b, r);
    md_layers(&b, r);
    md_timing(&b, r);
    awq_sb_puts(&b, "\n## What the numbers mean\n\n");
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k_meanings); i++)
        awq_sb_printf(&b, "- %s\n", k_meanings[i]);
    free(front);
    return audit_sb_take(ctx, &b, out, len);
}

int audit_n_meanings(void) { return (int)AWQ_ARRAY_LEN(k_meanings); }
const char *audit_meaning(int i) {
    return i >= 0 && i < (int)AWQ_ARRAY_LEN(k_meanings) ? k_meanings[i] : "";
}
