/* tools/cmd_audit.c — `awqkit audit MODEL -o REPORT_DIR`: quantize under a
 * grid of configurations, measure each, write report.{json,md,html} and
 * charts (lib/audit, include/awqkit/audit.h). */
#include "cli.h"
#include "core/core.h" /* awq_free, awq_path_dirname */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void help(void) {
    printf(
        "Usage: awqkit audit MODEL -o REPORT_DIR [options]\n\n"
        "Quantize MODEL (FP16/BF16) under a grid of configurations and measure each one:\n"
        "file size and bits per weight, perplexity (as `awqkit ppl`), KL divergence and\n"
        "top-1 agreement of the next-token distribution against FP16 over the same windows,\n"
        "per-layer output MSE, per-linear weight error, quantization time, and which GPU\n"
        "budgets it fits with its KV cache. Writes REPORT_DIR/report.json, report.md,\n"
        "report.html (self-contained: inline SVG, no script, no network) and the charts\n"
        "ppl_vs_size.svg, kl_vs_bpw.svg, heatmap.svg; quantized checkpoints are kept in\n"
        "REPORT_DIR/checkpoints/<config>/ (unless --no-keep).\n"
        "Each AWQ configuration is compared with its RTN twin: the perplexity difference,\n"
        "and z, the mean per-window NLL difference over its standard error (|z| < 2: a tie\n"
        "the evaluation windows cannot resolve; use more windows to settle it).\n\n"
        "Configurations:\n"
        "  --configs LIST         comma-separated names, e.g. fp16,rtn-4-g128,awq-4-g128,awq-4-pc\n"
        "                         NAME = fp16 | METHOD-BITS-GROUP[-FORMAT]\n"
        "                           fp16: MODEL itself, as stored (FP16 or BF16)\n"
        "                           METHOD rtn or awq; BITS 2, 3, 4 or 8 (\"4bit\" also reads)\n"
        "                           GROUP gN (group size N) or pc (per channel)\n"
        "                           FORMAT awq, awq-gemv, gptq, gptq-v2 (default: awq for\n"
        "                           4 bits, gptq-v2 otherwise: AWQ layouts are 4-bit only)\n"
        "                         default: %s\n"
        "                         A name that cannot be built (e.g. a group size that does\n"
        "                         not divide a linear's in_features) is reported as not\n"
        "                         applicable; the rest still run.\n"
        "  --compare DIR          also measure an existing AWQ / GPTQ / compressed-tensors\n"
        "                         (or dense) checkpoint of the same model (repeatable);\n"
        "                         named cmp-<dir name>\n\n"
        "Evaluation (the `awqkit ppl` protocol):\n"
        "  --text FILE            evaluation text   [the bundled wiki.test.raw, or $AWQKIT_TEXT]\n"
        "  --seqlen N             window length in tokens                    [2048]\n"
        "  --max-chunks N         evaluate only the first N windows          [all]\n"
        "  --add-bos              start every window with BOS\n"
        "  --batch N              windows run through each layer together   [auto]\n\n"
        "Calibration and search (as `awqkit quantize`):\n"
        "  --calib FILE           calibration text   [the bundled WikiText-2 validation text]\n"
        "  --text-field NAME      JSON Lines field                           [text]\n"
        "  --samples N            documents kept                             [128]\n"
        "  --calib-seqlen N       calibration block length in tokens         [512]\n"
        "  --shuffle, --seed N    shuffle the documents                      [no, 42]\n"
        "  --calib-tokens FILE    pre-tokenized calibration ids instead of text\n"
        "  --n-grid N             scale ratios tried per group               [20]\n"
        "  --duo-scaling off|on|both  candidate scales (see quantize --help)  [off]\n"
        "  --screen F, --race-z Z, --finalists K  the scale candidates' race (see\n"
        "                         quantize --help); the layer MSEs cover the first\n"
        "                         stage's sequences                  [0.125, 4, 0]\n"
        "  --no-duo-scaling, --no-clip, --clip-tokens N, --propagate fp|quantized\n"
        "  --device cpu|cuda[:N]  quantization and evaluation device (default: cuda when\n"
        "                         this build has CUDA and a GPU is present, else cpu)\n\n"
        "Report:\n"
        "  -o, --output DIR       report directory (required; empty unless --force)\n"
        "  --heatmap-config NAME  configuration of the per-layer heat map    [awq-4-g128]\n"
        "  --budgets LIST         GPU budgets in GiB                         [8,12,16,24,48,80]\n"
        "  --contexts LIST        KV-cache contexts, e.g. 2k,8k,32k          [2048,8192,32768]\n"
        "  --no-keep              remove each quantized checkpoint once measured\n"
        "  --force                write into a non-empty REPORT_DIR\n"
        "  --json                 print report.json on stdout\n\n",
        awq_audit_default_grid());
    awq_cli_print_common_help(stdout);
    printf("\nExit status: 0 when every configuration was measured or is not applicable,\n"
           "1 when one failed (the report is still written) or on an error, 2 on bad usage.\n"
           "\nExamples:\n"
           "  awqkit audit data/tiny-llama -o audit-tiny --samples 16 --calib-seqlen 256 \\\n"
           "      --seqlen 256 --max-chunks 16\n"
           "  awqkit audit MODEL -o out --configs fp16,rtn-4-g128,awq-4-g128 --compare MODEL-AWQ\n");
}

typedef struct {
    const char *model, *out, *configs, *heatmap, *device;
    const char *compare[AWQ_AUDIT_MAX_CONFIGS];
    int n_compare;
    awq_audit_params p;
    awq_cli_common common;
    bool tty;
} opts;

/* "8,12,16" -> doubles > 0; "2k,8k,32768" -> integers (k = 1024). */
static int parse_list(const char *flag, const char *v, double *out, int cap, bool k_suffix) {
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p) awq_cli_usage_error("%s %s: '%s' is not a number", flag, v, p);
        if (k_suffix && (*end == 'k' || *end == 'K')) {
            x *= 1024;
            end++;
        }
        if (!(x > 0) || !isfinite(x) || x > 1e9)
            awq_cli_usage_error("%s %s: values must be positive", flag, v);
        if (k_suffix && x != floor(x))
            awq_cli_usage_error("%s %s: token counts must be whole numbers", flag, v);
        if (n == cap) awq_cli_usage_error("%s: at most %d values", flag, cap);
        out[n++] = x;
        if (*end == ',') end++;
        else if (*end) awq_cli_usage_error("%s %s: expected a comma-separated list", flag, v);
        p = end;
    }
    if (n == 0) awq_cli_usage_error("%s: empty list", flag);
    return n;
}

static void parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->p = awq_audit_default_params();
    awq_quantize_params *q = &o->p.quantize;
    q->calib.path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        if (awq_cli_is_help(a)) {
            help();
            exit(AWQ_EXIT_OK);
        } else if (awq_cli_opt_common(argc, argv, &i, &o->common)) {
        } else if (awq_cli_opt_str(argc, argv, &i, "-o", &v) ||
                   awq_cli_opt_str(argc, argv, &i, "--output", &v)) {
            o->out = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--configs", &v)) {
            o->configs = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--compare", &v)) {
            if (o->n_compare == AWQ_AUDIT_MAX_CONFIGS)
                awq_cli_usage_error("--compare: at most %d checkpoints", AWQ_AUDIT_MAX_CONFIGS);
            o->compare[o->n_compare++] = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--text", &v)) {
            o->p.text = v;
        } else if (awq_cli_opt_int(argc, argv, &i, "--seqlen", 2, 1 << 24, &n)) {
            o->p.eval.seqlen = n;
        } else if (awq_cli_opt_int(argc, argv, &i, "--max-chunks", 1, 1LL << 40, &n)) {
            o->p.eval.max_windows = n;
        } else if (!strcmp(a, "--add-bos")) {
            o->p.eval.add_bos = true;
        } else if (awq_cli_opt_int(argc, argv, &i, "--batch", 1, 1 << 20, &n)) {
            o->p.eval.batch = n;
        } else if (awq_cli_opt_str(argc, argv, &i, "--calib", &v)) {
            q->calib.path = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--text-field", &v)) {
            q->calib.text_field = v;
        } else if (awq_cli_opt_int(argc, argv, &i, "--samples", 1, 1 << 24, &n)) {
            q->calib.n_samples = (int)n;
        } else if (awq_cli_opt_int(argc, argv, &i, "--calib-seqlen", 2, 1 << 20, &n)) {
            q->calib.seqlen = (int)n;
        } else if (!strcmp(a, "--shuffle")) {
            q->calib.shuffle = true;
        } else if (awq_cli_opt_int(argc, argv, &i, "--seed", 0, (1LL << 62), &n)) {
            q->calib.seed = (uint64_t)n;
        } else if (awq_cli_opt_str(argc, argv, &i, "--calib-tokens", &v)) {
            q->calib_tokens = v;
        } else if (awq_cli_opt_int(argc, argv, &i, "--n-grid", 1, 1000, &n)) {
            q->n_grid = (int)n;
        } else if (!strcmp(a, "--no-duo-scaling")) {
            q->duo_scaling = AWQ_DUO_OFF;
        } else if (awq_cli_opt_str(argc, argv, &i, "--duo-scaling", &v)) {
            q->duo_scaling = awq_cli_parse_duo("--duo-scaling", v);
        } else if (awq_cli_opt_fraction(argc, argv, &i, "--screen", &q->screen)) {
        } else if (awq_cli_opt_double(argc, argv, &i, "--race-z", &q->race_z)) {
            if (!(q->race_z >= 0 && q->race_z <= 1000))
                awq_cli_usage_error("--race-z %g: expected standard errors in [0, 1000]",
                                    q->race_z);
        } else if (awq_cli_opt_int(argc, argv, &i, "--finalists", 0, 1000, &n)) {
            q->finalists = (int)n;
        } else if (!strcmp(a, "--no-clip")) {
            q->clip = false;
        } else if (awq_cli_opt_int(argc, argv, &i, "--clip-tokens", 1, 1 << 24, &n)) {
            q->clip_tokens = (int)n;
        } else if (awq_cli_opt_str(argc, argv, &i, "--propagate", &v)) {
            if (!strcmp(v, "fp")) q->propagate = AWQ_PROPAGATE_FP;
            else if (!strcmp(v, "quantized")) q->propagate = AWQ_PROPAGATE_QUANTIZED;
            else awq_cli_usage_error("--propagate %s: expected fp or quantized", v);
        } else if (awq_cli_opt_str(argc, argv, &i, "--device", &v)) {
            o->device = v;
            awq_cli_parse_device("--device", v, &q->runtime.backend, &q->runtime.device);
        } else if (awq_cli_opt_str(argc, argv, &i, "--heatmap-config", &v)) {
            o->heatmap = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--budgets", &v)) {
            o->p.n_budgets =
                parse_list("--budgets", v, o->p.budgets_gib, AWQ_AUDIT_MAX_BUDGETS, false);
        } else if (awq_cli_opt_str(argc, argv, &i, "--contexts", &v)) {
            double c[AWQ_AUDIT_MAX_CONTEXTS];
            o->p.n_contexts = parse_list("--contexts", v, c, AWQ_AUDIT_MAX_CONTEXTS, true);
            for (int k = 0; k < o->p.n_contexts; k++) o->p.contexts[k] = (int64_t)c[k];
        } else if (!strcmp(a, "--no-keep")) {
            o->p.keep_checkpoints = false;
        } else if (!strcmp(a, "--force")) {
            o->p.force = true;
        } else {
            awq_cli_positional(a, &o->model,
                               "audit takes one MODEL; use --compare DIR for existing checkpoints");
        }
    }
    if (!o->model) awq_cli_usage_error("missing MODEL (an FP16/BF16 model directory)");
    if (!o->out) awq_cli_usage_error("missing -o REPORT_DIR (the report directory)");
    if (!o->p.text) o->p.text = awq_default_text_path(); /* bundled text/wiki.test.raw */
    if (!o->p.text) awq_cli_usage_error("missing --text FILE (the evaluation text)");
    if (q->calib_tokens && q->calib.path)
        awq_cli_usage_error("--calib and --calib-tokens are exclusive");
    if (!q->calib_tokens && !q->calib.path) {
        q->calib.path = awq_default_calib_path(); /* NULL is fine for fp16 / --compare only */
    }
    if (!q->calib.text_field) q->calib.text_field = "text";
    /* check the names now: a typo is a usage error, not a failure after an hour */
    const char *list = o->configs ? o->configs : awq_audit_default_grid();
    char item[128];
    for (const char *p = list;;) {
        size_t k = strcspn(p, ",");
        if (k == 0 || k >= sizeof item)
            awq_cli_usage_error("--configs %s: empty or overlong entry", list);
        memcpy(item, p, k);
        item[k] = 0;
        awq_audit_spec s;
        if (awq_audit_parse_spec(NULL, item, &s) != AWQ_OK) {
            awq_ctx *tmp = NULL;
            awq_ctx_params cp = awq_ctx_default_params();
            if (awq_ctx_create(&cp, &tmp) == AWQ_OK) {
                awq_audit_parse_spec(tmp, item, &s);
                awq_cli_usage_error("--configs: %s", awq_ctx_errmsg(tmp));
            }
            awq_cli_usage_error("--configs: bad configuration '%s'", item);
        }
        if (!p[k]) break;
        p += k + 1;
    }
    o->model = awq_cli_model(o->model);
    for (int k = 0; k < o->n_compare; k++) o->compare[k] = awq_cli_model(o->compare[k]);
    o->p.configs = o->configs;
    o->p.compare = o->compare;
    o->p.n_compare = o->n_compare;
    o->p.heatmap_config = o->heatmap;
    awq_cli_refuse_same_path(o->model, o->out, "-o");
}

static void on_stage(void *user, int index, int n, const char *name, const char *stage) {
    const opts *o = user;
    if (!o->tty) return;
    fprintf(stderr, "\r\033[K[%*d/%d] %s: %s\n", n >= 10 ? 2 : 1, index + 1, n, name, stage);
    fflush(stderr);
}

static void print_summary(const awq_audit_result *r, const char *out) {
    printf("%-22s %10s %7s %10s %9s %8s %9s\n", "config", "size", "bpw", "ppl", "KL", "top-1",
           "quant s");
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state != AWQ_AUDIT_MEASURED) continue;
        char sz[32];
        awq_cli_fmt_bytes(sz, sizeof sz, (double)c->file_bytes);
        printf("%-22s %10s %7.3f %10.4f %9.5f %7.2f%% ", c->spec.name, sz, c->bits_per_weight,
               c->ppl, c->kl_mean, 100.0 * c->top1);
        if (c->spec.kind == AWQ_AUDIT_QUANTIZED) printf("%9.1f\n", c->quant_seconds);
        else printf("%9s\n", "-");
    }
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state == AWQ_AUDIT_MEASURED) continue;
        printf("%-22s %s: %s\n", c->spec.name,
               c->state == AWQ_AUDIT_NOT_APPLICABLE ? "not applicable" : "FAILED", c->why);
    }
    /* AWQ against RTN at the same bits / group */
    bool head = false;
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        awq_audit_comparison cmp;
        if (!awq_audit_compare_rtn(r, c, &cmp)) continue;
        if (!head)
            printf("\nAWQ vs RTN (perplexity; z: paired over the %lld windows, |z| < 2 is a "
                   "tie):\n", (long long)r->n_windows);
        head = true;
        char z[32] = "";
        if (cmp.has_z) snprintf(z, sizeof z, "  z %+.2f, %s", cmp.z, cmp.verdict);
        printf("  %-16s %10.4f  vs %-16s %10.4f  %s%s\n", c->spec.name, c->ppl,
               cmp.rtn->spec.name, cmp.rtn->ppl, c->ppl <= cmp.rtn->ppl ? "AWQ <= RTN" : "AWQ > RTN",
               z);
    }
    double tq = 0, te = 0, tw = 0;
    for (int i = 0; i < r->n_configs; i++) {
        tq += r->configs[i].quant_seconds;
        te += r->configs[i].eval_seconds;
        tw += r->configs[i].weight_seconds;
    }
    printf("\nReport: %s/report.md, report.html, report.json, %s, %s, %s\n", out,
           awq_audit_chart_file(AWQ_AUDIT_CHART_PPL_SIZE),
           awq_audit_chart_file(AWQ_AUDIT_CHART_KL_BPW),
           awq_audit_chart_file(AWQ_AUDIT_CHART_HEATMAP));
    printf("Time: quantize %.1f s, evaluate %.1f s, weight errors %.1f s (%d threads)\n", tq, te,
           tw, r->threads);
}

int awq_cmd_audit(int argc, char **argv) {
    opts o;
    parse(argc, argv, &o);
    o.tty = isatty(2) && !o.common.no_progress && !o.common.quiet && !o.common.json;
    o.p.on_stage = on_stage;
    o.p.stage_user = &o;
    awq_ctx *ctx = awq_cli_ctx(&o.common);
    double t0 = awq_cli_now();
    if (!o.common.json && !o.common.quiet) {
        printf("awqkit audit: %s -> %s\n", o.model, o.out);
        fflush(stdout);
    }
    /* No --device: the GPU when there is one, else the CPU. */
    bool auto_device = !o.device && awq_built_with_cuda();
    if (auto_device) o.p.quantize.runtime.backend = AWQ_BACKEND_CUDA;
    awq_audit_result r;
    awq_status s = awq_audit_run(ctx, o.model, o.out, &o.p, &r);
    if (s == AWQ_ERR_NO_DEVICE && auto_device) {
        /* refused before any work (the report directory is still empty) */
        if (!o.common.quiet)
            fprintf(stderr, "awqkit audit: no usable GPU (%s); running on the CPU\n",
                    awq_ctx_errmsg(ctx));
        awq_audit_result_free(&r);
        o.p.quantize.runtime.backend = AWQ_BACKEND_CPU;
        s = awq_audit_run(ctx, o.model, o.out, &o.p, &r);
    }
    if (s != AWQ_OK) {
        awq_audit_result_free(&r);
        awq_cli_fail_status(ctx, s, o.model);
    }
    s = awq_audit_write(ctx, &r, o.out);
    if (s != AWQ_OK) {
        awq_audit_result_free(&r);
        awq_cli_fail_status(ctx, s, o.out);
    }
    if (o.common.json) {
        char *text = NULL;
        size_t len = 0;
        s = awq_audit_render_json(ctx, &r, &text, &len);
        if (s != AWQ_OK) awq_cli_fail_status(ctx, s, "report.json");
        fwrite(text, 1, len, stdout);
        awq_free(text);
    } else {
        print_summary(&r, o.out);
        if (!o.common.quiet) awq_cli_print_elapsed(stdout, "audited", awq_cli_now() - t0);
    }
    int failed = 0;
    for (int i = 0; i < r.n_configs; i++) failed += r.configs[i].state == AWQ_AUDIT_FAILED;
    awq_audit_result_free(&r);
    awq_cli_ctx_free(ctx);
    if (failed) awq_cli_fail("%d configuration(s) failed; see %s/report.md", failed, o.out);
    return AWQ_EXIT_OK;
}
