/*
 * lib/audit/html.c — report.html (the charts of svg.c inlined with the
 * tables and the definitions of the numbers; one file, no script, no
 * external reference), and awq_audit_write, which writes every report file
 * into the report directory.
 */
#include "audit/audit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ HTML */

/* Markdown subset of the meanings: **bold**, `code`. */
static void html_inline_md(awq_strbuf *b, const char *s) {
    bool bold = false, code = false;
    for (const char *p = s; *p; p++) {
        if (p[0] == '*' && p[1] == '*') {
            awq_sb_puts(b, bold ? "</b>" : "<b>");
            bold = !bold;
            p++;
        } else if (*p == '`') {
            awq_sb_puts(b, code ? "</code>" : "<code>");
            code = !code;
        } else {
            char one[2] = {*p, 0};
            audit_sb_xml(b, one);
        }
    }
    if (bold) awq_sb_puts(b, "</b>");
    if (code) awq_sb_puts(b, "</code>");
}

static void td_num(awq_strbuf *b, double v, char mode, int dec) {
    char t[48];
    audit_fmt_num(t, sizeof t, v, mode, dec);
    awq_sb_printf(b, "<td>%s</td>", t);
}

static void td_text(awq_strbuf *b, const char *s, const char *cls) {
    awq_sb_printf(b, "<td class=\"%s\">", cls ? cls : "l");
    audit_sb_xml(b, s);
    awq_sb_puts(b, "</td>");
}

static const awq_audit_config *html_fp16(const awq_audit_result *r) {
    for (int i = 0; i < r->n_configs; i++)
        if (r->configs[i].spec.kind == AWQ_AUDIT_FP16 && audit_config_has_metrics(&r->configs[i]))
            return &r->configs[i];
    return NULL;
}

static void html_results(awq_strbuf *b, const awq_audit_result *r, const bool *front) {
    const awq_audit_config *fp = html_fp16(r);
    awq_sb_puts(b, "<table><thead><tr><th class=\"l\">config</th><th class=\"l\">method</th>"
                   "<th>bits</th><th class=\"l\">group</th><th class=\"l\">format</th>"
                   "<th>size</th><th>bits/weight</th><th>ppl</th><th>&Delta;ppl</th>"
                   "<th>KL</th><th>top-1</th><th>quantize s</th><th>front</th></tr></thead>"
                   "<tbody>\n");
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state != AWQ_AUDIT_MEASURED) continue;
        char g[24], sz[32];
        audit_fmt_group(g, sizeof g, &c->spec);
        audit_fmt_bytes(sz, sizeof sz, (double)c->file_bytes);
        awq_sb_printf(b, "<tr%s>", front[i] ? " class=\"front\"" : "");
        td_text(b, c->spec.name, "l");
        td_text(b, c->spec.kind == AWQ_AUDIT_FP16      ? "fp16"
                   : c->spec.kind == AWQ_AUDIT_COMPARE ? "external"
                                                       : awq_method_name(c->spec.method),
                "l");
        awq_sb_printf(b, "<td>%d</td>", c->spec.bits);
        td_text(b, g, "l");
        const awq_format_info *fi = awq_format_get(c->spec.format);
        td_text(b, c->spec.kind == AWQ_AUDIT_FP16 || c->spec.bits >= 16 ? "dense"
                   : fi                                             ? fi->name
                                                                    : "?",
                "l");
        awq_sb_printf(b, "<td>%s</td>", sz);
        td_num(b, c->bits_per_weight, 'f', 3);
        td_num(b, c->ppl, 'f', 4);
        td_num(b, fp && fp != c ? c->ppl - fp->ppl : NAN, '+', 4);
        td_num(b, c->kl_mean, 'f', 5);
        td_num(b, c->top1, '%', 2);
        td_num(b, c->spec.kind == AWQ_AUDIT_QUANTIZED ? c->quant_seconds : NAN, 'f', 1);
        awq_sb_printf(b, "<td>%s</td></tr>\n", front[i] ? "&#9733;" : "");
    }
    awq_sb_puts(b, "</tbody></table>\n");
    bool any = false;
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state == AWQ_AUDIT_MEASURED) continue;
        if (!any) awq_sb_puts(b, "<p>Not measured:</p><ul class=\"na\">\n");
        any = true;
        awq_sb_puts(b, "<li><code>");
        audit_sb_xml(b, c->spec.name);
        awq_sb_printf(b, "</code>: %s &mdash; ",
                      c->state == AWQ_AUDIT_NOT_APPLICABLE ? "not applicable" : "failed");
        audit_sb_xml(b, c->why);
        awq_sb_puts(b, "</li>\n");
    }
    if (any) awq_sb_puts(b, "</ul>\n");
}

static void html_awq_vs_rtn(awq_strbuf *b, const awq_audit_result *r) {
    bool header = false;
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        awq_audit_comparison ps;
        if (!awq_audit_compare_rtn(r, c, &ps)) continue;
        const awq_audit_config *t = ps.rtn;
        if (!header)
            awq_sb_puts(b, "<h2>AWQ vs RTN</h2><table><thead><tr><th>bits</th><th class=\"l\">"
                           "group</th><th>RTN ppl</th><th>AWQ ppl</th><th>AWQ &minus; RTN</th>"
                           "<th>RTN KL</th><th>AWQ KL</th><th>AWQ &le; RTN</th><th>z</th>"
                           "<th class=\"l\">paired verdict</th></tr></thead><tbody>\n");
        header = true;
        char g[24];
        audit_fmt_group(g, sizeof g, &c->spec);
        bool ok = c->ppl <= t->ppl;
        char z[32];
        if (ps.has_z) snprintf(z, sizeof z, "%+.2f", ps.z);
        else snprintf(z, sizeof z, "&ndash;");
        awq_sb_printf(b, "<tr><td>%d</td><td class=\"l\">%s</td><td>%.4f</td><td>%.4f</td>"
                         "<td>%+.4f</td><td>%.5f</td><td>%.5f</td><td class=\"%s\">%s</td>"
                         "<td>%s</td><td class=\"l\">%s</td></tr>\n",
                      c->spec.bits, g, t->ppl, c->ppl, c->ppl - t->ppl, t->kl_mean, c->kl_mean,
                      ok ? "yes" : "no", ok ? "yes" : "no", z, ps.has_z ? ps.verdict : "&ndash;");
    }
    if (header)
        awq_sb_printf(b, "</tbody></table>\n<p>z: mean per-window NLL difference (AWQ &minus; "
                         "RTN) over its standard error across the %lld evaluation windows; "
                         "|z| &lt; %.0f is a tie these windows cannot resolve.</p>\n",
                      (long long)r->n_windows, AUDIT_TIE_Z);
}

static void html_memory(awq_strbuf *b, const awq_audit_result *r) {
    if (r->n_contexts == 0 || r->n_budgets == 0) return;
    awq_sb_printf(b, "<h2>Memory fit</h2><p>Serving memory (GiB) = weights + FP16 KV cache "
                     "(%llu bytes per token, batch 1) + 1 GiB + 10%%; &#10003; = fits the GPU "
                     "budget.</p>\n<div class=\"mem\">\n",
                  (unsigned long long)r->kv_bytes_per_token);
    for (int i = 0; i < r->n_contexts; i++) {
        awq_sb_printf(b, "<table><caption>context %lld tokens</caption><thead><tr><th "
                         "class=\"l\">config</th><th>GiB</th>", (long long)r->contexts[i]);
        for (int k = 0; k < r->n_budgets; k++) awq_sb_printf(b, "<th>%g</th>", r->budgets_gib[k]);
        awq_sb_puts(b, "</tr></thead><tbody>\n");
        for (int c0 = 0; c0 < r->n_configs; c0++) {
            const awq_audit_config *c = &r->configs[c0];
            if (c->state != AWQ_AUDIT_MEASURED) continue;
            double gib = (double)c->serving_bytes[i] / 1073741824.0;
            awq_sb_puts(b, "<tr>");
            td_text(b, c->spec.name, "l");
            awq_sb_printf(b, "<td>%.2f</td>", gib);
            for (int k = 0; k < r->n_budgets; k++) {
                bool fit = c->serving_bytes[i] > 0 && gib <= r->budgets_gib[k];
                awq_sb_printf(b, "<td class=\"%s\">%s</td>", fit ? "yes" : "no",
                              fit ? "&#10003;" : "&#10007;");
            }
            awq_sb_puts(b, "</tr>\n");
        }
        awq_sb_puts(b, "</tbody></table>\n");
    }
    awq_sb_puts(b, "</div>\n");
}

static void html_layers(awq_strbuf *b, const awq_audit_result *r) {
    int n = 0;
    for (int i = 0; i < r->n_configs; i++) n += r->configs[i].layer_mse != NULL;
    if (n == 0) return;
    awq_sb_puts(b, "<h2>Layer output MSE by configuration</h2><table><thead><tr><th>layer</th>");
    for (int i = 0; i < r->n_configs; i++)
        if (r->configs[i].layer_mse) {
            awq_sb_puts(b, "<th>");
            audit_sb_xml(b, r->configs[i].spec.name);
            awq_sb_puts(b, "</th>");
        }
    awq_sb_puts(b, "</tr></thead><tbody>\n");
    for (int64_t l = 0; l < r->n_layers; l++) {
        awq_sb_printf(b, "<tr><td>%lld</td>", (long long)l);
        for (int i = 0; i < r->n_configs; i++)
            if (r->configs[i].layer_mse) td_num(b, r->configs[i].layer_mse[l], 'g', 4);
        awq_sb_puts(b, "</tr>\n");
    }
    awq_sb_puts(b, "</tbody></table>\n");
}

static void html_timing(awq_strbuf *b, const awq_audit_result *r) {
    awq_sb_puts(b, "<h2>Timing (wall seconds)</h2><table><thead><tr><th class=\"l\">config</th>"
                   "<th>quantize</th><th>evaluate</th><th>weights</th></tr></thead><tbody>\n");
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state != AWQ_AUDIT_MEASURED) continue;
        awq_sb_puts(b, "<tr>");
        td_text(b, c->spec.name, "l");
        awq_sb_printf(b, "<td>%.2f</td><td>%.2f</td><td>%.2f</td></tr>\n", c->quant_seconds,
                      c->eval_seconds, c->weight_seconds);
    }
    awq_sb_printf(b, "</tbody></table><p>Total %.1f s on %d thread(s), backend %s.</p>\n",
                  r->seconds_total, r->threads, r->backend);
}

awq_status awq_audit_render_html(awq_ctx *ctx, const awq_audit_result *r, char **out,
                                 size_t *len) {
    if (!r || !out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "render: NULL argument");
    *out = NULL;
    bool *front = calloc((size_t)(r->n_configs ? r->n_configs : 1), sizeof(bool));
    if (!front) return awq_fail_nomem(ctx, "front", (uint64_t)r->n_configs);
    audit_front(r, front);
    awq_strbuf b;
    awq_sb_init(&b);
    awq_sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<title>awqkit audit: ");
    audit_sb_xml(&b, r->model ? r->model : "model");
    awq_sb_puts(&b,
                "</title>\n<style>\n"
                "body{font-family:\"DejaVu Sans\",Helvetica,Arial,sans-serif;margin:24px;"
                "color:#222;background:#fff;font-size:14px}\n"
                "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid "
                "#ddd}\n"
                "table{border-collapse:collapse;margin:8px 16px 16px 0}\n"
                "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:"
                "nowrap}\n"
                "th{background:#f2f2f2}.l{text-align:left}caption{text-align:left;font-weight:"
                "bold;padding:4px 0}\n"
                "tr.front td{background:#fff4f2}.yes{color:#11772d}.no{color:#b3261e;"
                "font-weight:bold}\n"
                ".charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\n"
                "figure{margin:0;border:1px solid #ddd}figcaption{font-size:12px;color:#555;"
                "padding:4px 8px}\n"
                ".mem{display:flex;flex-wrap:wrap}.na{color:#666}code{background:#f4f4f4;"
                "padding:0 3px}\n"
                "</style></head><body>\n<h1>awqkit audit: ");
    audit_sb_xml(&b, r->model ? r->model : "model");
    awq_sb_printf(&b, "</h1>\n<p>awqkit %s. Model: ", r->version);
    audit_sb_xml(&b, r->architecture);
    awq_sb_printf(&b, ", %lld layers, hidden %lld, vocabulary %lld, %.0f logical parameters."
                      "</p>\n<p>Evaluation: <code>",
                  (long long)r->n_layers, (long long)r->hidden, (long long)r->vocab,
                  (double)r->logical_params);
    audit_sb_xml(&b, r->text ? r->text : "?");
    awq_sb_printf(&b, "</code>, %lld windows of %lld tokens%s (%lld predicted tokens).",
                  (long long)r->n_windows, (long long)r->eval.seqlen,
                  r->eval.add_bos ? " with BOS" : "", (long long)r->n_predicted);
    if (r->calib) {
        awq_sb_puts(&b, " Calibration: <code>");
        audit_sb_xml(&b, r->calib);
        awq_sb_printf(&b, "</code>, %d samples, blocks of %d tokens.", r->calib_samples,
                      r->calib_seqlen);
    }
    awq_sb_puts(&b, "</p>\n<h2>Charts</h2>\n<div class=\"charts\">\n");
    static const char *const captions[AWQ_AUDIT_CHART_COUNT] = {
        "Perplexity against file size; the dashed line joins the Pareto front (nothing else "
        "is both smaller and better).",
        "Mean KL divergence of the next-token distribution from FP16 against the decoder "
        "linears' bits per weight.",
        "Scale-corrected relative weight error of each linear of each layer."};
    awq_status st = AWQ_OK;
    for (int k = 0; k < AWQ_AUDIT_CHART_COUNT && st == AWQ_OK; k++) {
        awq_sb_printf(&b, "<figure id=\"chart-%d\">\n", k);
        st = audit_render_svg(ctx, r, (awq_audit_chart)k, &b);
        awq_sb_printf(&b, "<figcaption>%s</figcaption></figure>\n", captions[k]);
    }
    awq_sb_puts(&b, "</div>\n<h2>Results</h2>\n");
    html_results(&b, r, front);
    html_awq_vs_rtn(&b, r);
    html_memory(&b, r);
    html_layers(&b, r);
    html_timing(&b, r);
    awq_sb_puts(&b, "<h2>What the numbers mean</h2>\n<ul>\n");
    for (int i = 0; i < audit_n_meanings(); i++) {
        awq_sb_puts(&b, "<li>");
        html_inline_md(&b, audit_meaning(i));
        awq_sb_puts(&b, "</li>\n");
    }
    awq_sb_puts(&b, "</ul>\n</body></html>\n");
    free(front);
    if (st != AWQ_OK) {
        awq_sb_free(&b);
        return st;
    }
    return audit_sb_take(ctx, &b, out, len);
}

/* ----------------------------------------------------------------- write */

static awq_status write_one(awq_ctx *ctx, const char *dir, const char *name, char *text,
                            size_t len) {
    char *path = awq_path_join(dir, name);
    if (!path) {
        awq_free(text);
        return awq_fail_nomem(ctx, "path", strlen(dir) + strlen(name));
    }
    awq_status st = awq_write_file_atomic(ctx, path, text, len);
    free(path);
    awq_free(text);
    return st;
}

awq_status awq_audit_write(awq_ctx *ctx, const awq_audit_result *r, const char *report_dir) {
    if (!r || !report_dir) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "write: NULL argument");
    AWQ_TRY(awq_mkdir_p(ctx, report_dir));
    char *t = NULL;
    size_t n = 0;
    AWQ_TRY(awq_audit_render_json(ctx, r, &t, &n));
    AWQ_TRY(write_one(ctx, report_dir, "report.json", t, n));
    AWQ_TRY(awq_audit_render_markdown(ctx, r, &t, &n));
    AWQ_TRY(write_one(ctx, report_dir, "report.md", t, n));
    AWQ_TRY(awq_audit_render_html(ctx, r, &t, &n));
    AWQ_TRY(write_one(ctx, report_dir, "report.html", t, n));
    for (int k = 0; k < AWQ_AUDIT_CHART_COUNT; k++) {
        AWQ_TRY(awq_audit_render_svg(ctx, r, (awq_audit_chart)k, &t, &n));
        AWQ_TRY(write_one(ctx, report_dir, awq_audit_chart_file((awq_audit_chart)k), t, n));
    }
    return AWQ_OK;
}

