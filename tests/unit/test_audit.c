/* tests/unit/test_audit.c — lib/audit without a model: configuration names,
 * the Pareto front, axis ticks, the colour map, the per-token KL, the
 * weight-error fit (streaming vs the in-memory oracle, and against known
 * folded scales), and the renderers (SVG, Markdown, JSON, HTML) on a
 * hand-made result: escaping, counts of points / cells, well-formed XML,
 * no script or network reference. */
#include "awq_test.h"

#include "audit/audit_internal.h"

#include <cjson/cJSON.h>

/* ------------------------------------------------------------ helpers */

static int count_str(const char *hay, const char *needle) {
    int n = 0;
    size_t k = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + k, needle)) n++;
    return n;
}

/* Tag nesting checker for the SVG / HTML we write: every start tag is
 * closed in order (void HTML elements and self-closing tags excepted),
 * attribute values are quoted and contain no raw '<'. Returns NULL when
 * well-formed, else a static description. */
static const char *xml_check(const char *s) {
    static char why[160];
    static const char *const voids[] = {"meta", "br", "hr", "img", "input", "link", NULL};
    char stack[256][32];
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p != '<') continue;
        if (!strncmp(p, "<!--", 4)) {
            const char *e = strstr(p, "-->");
            if (!e) return "unclosed comment";
            p = e + 2;
            continue;
        }
        if (p[1] == '!' || p[1] == '?') {
            const char *e = strchr(p, '>');
            if (!e) return "unclosed declaration";
            p = e;
            continue;
        }
        bool close = p[1] == '/';
        const char *n = p + 1 + close;
        size_t k = strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:");
        if (k == 0 || k >= 32) return "bad tag name";
        char name[32];
        memcpy(name, n, k);
        name[k] = 0;
        /* scan to '>' honouring quotes */
        const char *q = n + k;
        char quote = 0;
        for (; *q && (quote || *q != '>'); q++) {
            if (quote) {
                if (*q == quote) quote = 0;
                else if (*q == '<') return "raw '<' in an attribute value";
            } else if (*q == '"' || *q == '\'') {
                quote = *q;
            }
        }
        if (!*q) return "unterminated tag";
        bool self = q[-1] == '/';
        if (close) {
            if (depth == 0) return "close tag without open";
            if (strcmp(stack[depth - 1], name) != 0) {
                snprintf(why, sizeof why, "</%s> closes <%s>", name, stack[depth - 1]);
                return why;
            }
            depth--;
        } else if (!self) {
            bool v = false;
            for (int i = 0; voids[i]; i++) v |= !strcmp(voids[i], name);
            if (!v) {
                if (depth == 256) return "too deep";
                snprintf(stack[depth++], 32, "%s", name);
            }
        }
        p = q;
    }
    if (depth) {
        snprintf(why, sizeof why, "<%s> never closed", stack[depth - 1]);
        return why;
    }
    return NULL;
}

/* ------------------------------------------------------------ specs */

static void test_specs(awq_ctx *ctx) {
    awq_audit_spec s;
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "awq-4-g128", &s));
    CHECK(s.kind == AWQ_AUDIT_QUANTIZED && s.method == AWQ_METHOD_AWQ && s.bits == 4 &&
          s.group_size == 128 && s.format == AWQ_QFMT_AWQ_GEMM);
    CHECK(!strcmp(s.name, "awq-4-g128"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "rtn-4bit-g64", &s));
    CHECK(s.method == AWQ_METHOD_RTN && s.group_size == 64 && !strcmp(s.name, "rtn-4-g64"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "awq-4-pc", &s));
    CHECK(s.group_size == -1 && !strcmp(s.name, "awq-4-pc"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "awq-4-g-1", &s));
    CHECK(s.group_size == -1 && !strcmp(s.name, "awq-4-pc"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "rtn-3-g128", &s));
    CHECK(s.bits == 3 && s.format == AWQ_QFMT_GPTQ_V2 && !strcmp(s.name, "rtn-3-g128"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "awq-8-g128", &s));
    CHECK(s.bits == 8 && s.format == AWQ_QFMT_GPTQ_V2);
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "awq-4-g128-gptq-v2", &s));
    CHECK(s.format == AWQ_QFMT_GPTQ_V2 && !strcmp(s.name, "awq-4-g128-gptq-v2"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "awq-4-g128-awq", &s)); /* default format */
    CHECK(!strcmp(s.name, "awq-4-g128"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "awq-4bit-g96", &s));
    CHECK(s.group_size == 96 && !strcmp(s.name, "awq-4-g96"));
    CHECK_OK(ctx, awq_audit_parse_spec(ctx, "fp16", &s));
    CHECK(s.kind == AWQ_AUDIT_FP16 && s.bits == 16 && s.group_size == 0);

    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "", &s), AWQ_ERR_INVALID_ARG, "empty");
    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "gptq-4-g128", &s), AWQ_ERR_INVALID_ARG,
                "method");
    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "awq-5-g128", &s), AWQ_ERR_INVALID_ARG, "bits");
    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "awq-4", &s), AWQ_ERR_INVALID_ARG, "group");
    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "awq-4-g0", &s), AWQ_ERR_INVALID_ARG, "group");
    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "awq-4-q128", &s), AWQ_ERR_INVALID_ARG, "group");
    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "awq-4-g128-foo", &s), AWQ_ERR_INVALID_ARG,
                "format 'foo'");
    CHECK_FAILS(ctx, awq_audit_parse_spec(ctx, "awq-4-g128x", &s), AWQ_ERR_INVALID_ARG,
                "unexpected 'x'");

    /* the default grid: 13 distinct names, FP16 first, 6 RTN/AWQ pairs */
    const char *g = awq_audit_default_grid();
    char names[16][AWQ_AUDIT_NAME_MAX];
    int n = 0, rtn = 0, awq = 0;
    for (const char *p = g; n < 16;) {
        size_t k = strcspn(p, ",");
        char item[64];
        memcpy(item, p, k);
        item[k] = 0;
        CHECK_OK(ctx, awq_audit_parse_spec(ctx, item, &s));
        CHECK_MSG(!strcmp(s.name, item), "default grid name %s is not canonical", item);
        for (int i = 0; i < n; i++) CHECK(strcmp(names[i], s.name) != 0);
        snprintf(names[n++], AWQ_AUDIT_NAME_MAX, "%s", s.name);
        rtn += s.kind == AWQ_AUDIT_QUANTIZED && s.method == AWQ_METHOD_RTN;
        awq += s.kind == AWQ_AUDIT_QUANTIZED && s.method == AWQ_METHOD_AWQ;
        if (!p[k]) break;
        p += k + 1;
    }
    CHECK_EQ_INT(n, 13);
    CHECK_EQ_INT(rtn, 6);
    CHECK_EQ_INT(awq, 6);
    CHECK(!strcmp(names[0], "fp16"));
}

/* ------------------------------------------------------ Pareto, ticks */

static void test_pareto(void) {
    const double x[] = {1, 2, 3, 4, 2, NAN, 0.5, 5, 6};
    const double y[] = {5, 3, 4, 1, 3, 0, 10, 1, INFINITY};
    const bool want[] = {true, true, false, true, true, false, true, false, false};
    bool f[9];
    awq_audit_pareto(9, x, y, f);
    for (int i = 0; i < 9; i++) CHECK_MSG(f[i] == want[i], "point %d", i);
    awq_audit_pareto(0, x, y, f); /* no points: no crash */
    const double one_x[] = {7}, one_y[] = {8};
    awq_audit_pareto(1, one_x, one_y, f);
    CHECK(f[0]);
}

static void test_ticks_colours(void) {
    double t0, step;
    int n;
    audit_nice_ticks(0, 1, 7, &t0, &step, &n); /* rough 1/6 -> step 0.2 */
    CHECK_NEAR(t0, 0, 1e-12);
    CHECK_NEAR(step, 0.2, 1e-12);
    CHECK_EQ_INT(n, 6);
    audit_nice_ticks(115.3, 133.2, 7, &t0, &step, &n); /* rough 2.98 -> 5 */
    CHECK_NEAR(step, 5, 1e-12);
    CHECK_NEAR(t0, 120, 1e-9);
    CHECK_EQ_INT(n, 3);
    audit_nice_ticks(0.0001, 0.0213, 7, &t0, &step, &n); /* rough 0.00353 -> 0.005 */
    CHECK_NEAR(step, 0.005, 1e-15);
    CHECK_NEAR(t0, 0.005, 1e-15);
    CHECK_EQ_INT(n, 4);
    audit_nice_ticks(3, 3, 7, &t0, &step, &n); /* degenerate */
    CHECK_EQ_INT(n, 1);

    char c[8];
    audit_colormap(0, c);
    CHECK(!strcmp(c, "#440154"));
    audit_colormap(1, c);
    CHECK(!strcmp(c, "#fde725"));
    audit_colormap(-3, c);
    CHECK(!strcmp(c, "#440154"));
    audit_colormap(NAN, c);
    CHECK(!strcmp(c, "#440154"));
    audit_colormap(0.5, c); /* anchor 4 exactly: (33,144,141) */
    CHECK(!strcmp(c, "#21908d"));
}

/* ------------------------------------------------------------------ KL */

static void test_kl(void) {
    const float a[2] = {0, 0}, b[2] = {0, (float)log(3.0)};
    bool agree = true;
    /* p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln (2/3) = 1/2 ln (4/3) */
    CHECK_NEAR(audit_row_kl(a, b, 2, &agree), 0.5 * log(4.0 / 3.0), 1e-7);
    CHECK(!agree); /* tie in p -> index 0; q -> 1 */
    float r[1000], s[1000];
    for (int i = 0; i < 1000; i++) {
        r[i] = (float)sin(i * 0.37) * 8;
        s[i] = r[i] + 50; /* a constant shift leaves the softmax unchanged */
    }
    CHECK(audit_row_kl(r, r, 1000, &agree) == 0.0);
    CHECK(agree);
    CHECK_NEAR(audit_row_kl(r, s, 1000, &agree), 0.0, 1e-9);
    CHECK(agree);
    /* against a plain two-pass formula */
    for (int i = 0; i < 1000; i++) s[i] = r[i] + (float)cos(i * 1.3);
    double mp = -1e30, mq = -1e30, zp = 0, zq = 0, kl = 0;
    for (int i = 0; i < 1000; i++) mp = fmax(mp, r[i]), mq = fmax(mq, s[i]);
    for (int i = 0; i < 1000; i++) zp += exp(r[i] - mp), zq += exp(s[i] - mq);
    for (int i = 0; i < 1000; i++) {
        double lp = r[i] - mp - log(zp), lq = s[i] - mq - log(zq);
        kl += exp(lp) * (lp - lq);
    }
    CHECK_NEAR(audit_row_kl(r, s, 1000, NULL), kl, 1e-9);
}

/* ------------------------------------------------------- weight error */

static uint64_t rng_state = 0x1234567;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double grand(void) {
    double u = urand() + 1e-12, v = urand();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static awq_tensor_info f32_info(const char *name, const float *d, int64_t N, int64_t K) {
    awq_tensor_info t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = AWQ_DT_F32;
    t.ndim = 2;
    t.shape[0] = N;
    t.shape[1] = K;
    t.n_elements = (uint64_t)(N * K);
    t.n_bytes = t.n_elements * 4;
    t.data = d;
    return t;
}

static void test_weight_error(awq_ctx *ctx) {
    const int64_t N = 96, K = 256;
    float *w = malloc(sizeof(float) * N * K), *q = malloc(sizeof(float) * N * K);
    float *e = malloc(sizeof(float) * N * K), *deq = malloc(sizeof(float) * N * K);
    double r[96], c[256];
    for (int64_t n = 0; n < N; n++) r[n] = 0.5 + urand();      /* folded row scales */
    for (int64_t k = 0; k < K; k++) c[k] = exp(1.5 * grand()); /* AWQ-like column scales */
    double ee = 0, ww = 0;
    for (int64_t i = 0; i < N * K; i++) {
        w[i] = (float)(0.02 * grand());
        e[i] = (float)(0.002 * grand());
        ee += (double)e[i] * e[i];
        ww += (double)w[i] * w[i];
    }
    awq_werr a, b;
    /* exact folding, no rounding: nothing left after undoing the scales */
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) q[n * K + k] = (float)(r[n] * w[n * K + k] * c[k]);
    awq_weight_error_ref(w, q, N, K, &a);
    CHECK_MSG(sqrt(a.err2 / a.w2) < 1e-4, "exact folding leaves %g", sqrt(a.err2 / a.w2));
    CHECK(sqrt(a.raw2 / a.w2) > 0.5);
    CHECK_NEAR(a.w2, ww, 1e-9 * ww);
    /* folded scales plus a rounding-like error: the error is what remains */
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            q[n * K + k] = (float)(r[n] * ((double)w[n * K + k] + e[n * K + k]) * c[k]);
    awq_weight_error_ref(w, q, N, K, &a);
    double want = sqrt(ee / ww), got = sqrt(a.err2 / a.w2);
    CHECK_MSG(fabs(got - want) < 0.03 * want, "scale-corrected %g vs ||E||/||W|| %g", got, want);
    /* no scales: the fit changes the plain error by O(1/K) at most */
    for (int64_t i = 0; i < N * K; i++) q[i] = w[i] + e[i];
    awq_weight_error_ref(w, q, N, K, &a);
    CHECK_NEAR(sqrt(a.raw2 / a.w2), want, 1e-6 * want);
    CHECK_MSG(sqrt(a.err2 / a.w2) <= sqrt(a.raw2 / a.w2) &&
                  sqrt(a.err2 / a.w2) > 0.97 * want,
              "%g vs raw %g", sqrt(a.err2 / a.w2), sqrt(a.raw2 / a.w2));

    /* streaming (dense and packed) == the in-memory oracle, bit for bit */
    awq_tensor_info ts = f32_info("w", w, N, K), tq = f32_info("q", q, N, K);
    CHECK_OK(ctx, awq_weight_error(ctx, &ts, NULL, &tq, &b));
    CHECK(a.err2 == b.err2 && a.raw2 == b.raw2 && a.w2 == b.w2);
    awq_quant_params qp = awq_quant_default_params();
    awq_qtensor qt;
    CHECK_OK(ctx, awq_quantize(ctx, "w", w, N, K, &qp, &qt));
    CHECK_OK(ctx, awq_dequantize(ctx, &qt, deq));
    awq_weight_error_ref(w, deq, N, K, &a);
    CHECK_OK(ctx, awq_weight_error(ctx, &ts, &qt, NULL, &b));
    CHECK(a.err2 == b.err2 && a.raw2 == b.raw2 && a.w2 == b.w2);
    double rel = sqrt(b.err2 / b.w2);
    /* 4-bit g128 RTN on Gaussian weights: about 0.1 (awq_verify_default_bound / 3) */
    CHECK_MSG(rel > 0.05 && rel < 0.15, "4-bit g128 relative error %g", rel);
    /* bad arguments */
    awq_tensor_info small = f32_info("s", q, N, K - 1);
    CHECK_FAILS(ctx, awq_weight_error(ctx, &ts, NULL, &small, &b), AWQ_ERR_MISMATCH, "shapes");
    CHECK_FAILS(ctx, awq_weight_error(ctx, &ts, &qt, &tq, &b), AWQ_ERR_INVALID_ARG, "bad");
    awq_qtensor_free(&qt);
    free(w);
    free(q);
    free(e);
    free(deq);
}

/* ----------------------------------------------------------- rendering */

static void set_config(awq_audit_config *c, const char *name, awq_audit_kind kind,
                       awq_method m, int bits, int group, awq_qformat f, double ppl,
                       uint64_t size, double bpw, double kl) {
    memset(c, 0, sizeof *c);
    snprintf(c->spec.name, sizeof c->spec.name, "%s", name);
    c->spec.kind = kind;
    c->spec.method = m;
    c->spec.bits = bits;
    c->spec.group_size = group;
    c->spec.format = f;
    c->state = AWQ_AUDIT_MEASURED;
    c->ppl = ppl;
    c->mean_nll = log(ppl);
    c->file_bytes = size;
    c->tensor_bytes = size - 100;
    c->logical_params = 1000;
    c->bits_per_weight = bpw;
    c->kl_mean = kl;
    c->kl_max = 10 * kl;
    c->top1 = 1 - kl * 5;
    c->n_predicted = 510;
    c->serving_bytes[0] = (uint64_t)(size * 1e6);        /* 1 GB class */
    c->serving_bytes[1] = (uint64_t)(size * 3e7);        /* 30 GB class */
}

static void make_result(awq_audit_result *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->version, sizeof r->version, "0.1.0 (test)");
    r->model = strdup("models/tiny|<model>");
    r->text = strdup("wiki.test.raw");
    r->calib = strdup("calib.jsonl");
    snprintf(r->architecture, sizeof r->architecture, "LlamaForCausalLM");
    r->n_layers = 3;
    r->hidden = 64;
    r->vocab = 100;
    r->logical_params = 1000;
    r->n_linears = 7;
    const char *ln[7] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                         "down_proj"};
    for (int j = 0; j < 7; j++) snprintf(r->linear_names[j], 48, "%s", ln[j]);
    r->eval = awq_ppl_default_params();
    r->eval.seqlen = 256;
    r->eval.max_windows = 2;
    r->n_windows = 2;
    r->n_predicted = 510;
    r->n_text_tokens = 5000;
    r->calib_samples = 16;
    r->calib_seqlen = 256;
    r->n_grid = 20;
    r->clip = true;
    snprintf(r->backend, sizeof r->backend, "cpu");
    r->threads = 2;
    r->n_budgets = 2;
    r->budgets_gib[0] = 8;
    r->budgets_gib[1] = 24;
    r->n_contexts = 2;
    r->contexts[0] = 2048;
    r->contexts[1] = 32768;
    snprintf(r->heatmap, sizeof r->heatmap, "awq-4-g128");
    r->n_configs = 6;
    r->configs = calloc(6, sizeof *r->configs);
    awq_audit_config *c = r->configs;
    set_config(&c[0], "fp16", AWQ_AUDIT_FP16, AWQ_METHOD_AWQ, 16, 0, AWQ_QFMT_AWQ_GEMM, 10.0,
               1000, 16, 0);
    set_config(&c[1], "rtn-4-g128", AWQ_AUDIT_QUANTIZED, AWQ_METHOD_RTN, 4, 128,
               AWQ_QFMT_AWQ_GEMM, 10.5, 400, 4.156, 0.01);
    set_config(&c[2], "awq-4-g128", AWQ_AUDIT_QUANTIZED, AWQ_METHOD_AWQ, 4, 128,
               AWQ_QFMT_AWQ_GEMM, 10.3, 400, 4.156, 0.008);
    set_config(&c[3], "rtn-3-g128", AWQ_AUDIT_QUANTIZED, AWQ_METHOD_RTN, 3, 128,
               AWQ_QFMT_GPTQ_V2, 12.0, 330, 3.242, 0.05);
    set_config(&c[4], "awq-4-g96", AWQ_AUDIT_QUANTIZED, AWQ_METHOD_AWQ, 4, 96,
               AWQ_QFMT_AWQ_GEMM, NAN, 0, 0, NAN);
    c[4].state = AWQ_AUDIT_NOT_APPLICABLE;
    snprintf(c[4].why, sizeof c[4].why, "group size 96 does not divide in_features 256 | <&>");
    set_config(&c[5], "cmp-a<b&c", AWQ_AUDIT_COMPARE, AWQ_METHOD_AWQ, 4, 128, AWQ_QFMT_GPTQ,
               10.4, 410, 4.5, 0.009);
    /* per-layer data for awq-4-g128 */
    c[2].layer_mse = calloc(3, sizeof(double));
    c[2].layer_mse_rtn = calloc(3, sizeof(double));
    c[2].layer_werr = calloc(3, sizeof(double));
    c[2].lin_err = calloc(21, sizeof(double));
    c[2].lin_err_raw = calloc(21, sizeof(double));
    for (int l = 0; l < 3; l++) {
        c[2].layer_mse[l] = 0.001 * (l + 1);
        c[2].layer_mse_rtn[l] = 0.0015 * (l + 1);
        c[2].layer_werr[l] = 0.1 + 0.001 * l;
        for (int j = 0; j < 7; j++) {
            c[2].lin_err[l * 7 + j] = 0.09 + 0.001 * (l * 7 + j);
            c[2].lin_err_raw[l * 7 + j] = 0.2;
        }
    }
    c[1].layer_mse = calloc(3, sizeof(double));
    for (int l = 0; l < 3; l++) c[1].layer_mse[l] = 0.0015 * (l + 1);
    /* per-window NLL of the AWQ/RTN pair: differences -0.02, -0.03 ->
     * mean -0.025, sd 0.0070711, se 0.005, z -5: "better" */
    c[1].window_nll = calloc(2, sizeof(double));
    c[2].window_nll = calloc(2, sizeof(double));
    c[1].window_nll[0] = 2.32;
    c[1].window_nll[1] = 2.31;
    c[2].window_nll[0] = 2.30;
    c[2].window_nll[1] = 2.28;
}

static void free_result(awq_audit_result *r) {
    /* the result owns calloc'd / strdup'd memory: awq_audit_result_free */
    awq_audit_result_free(r);
}

/* AWQ vs its RTN twin, paired over windows (hand-computed: see
 * make_result), then a tie and a loss. */
static void test_compare(void) {
    awq_audit_result r;
    make_result(&r);
    awq_audit_comparison cmp;
    CHECK(awq_audit_compare_rtn(&r, &r.configs[2], &cmp));
    CHECK(cmp.rtn == &r.configs[1]);
    CHECK_NEAR(cmp.ppl_diff, -0.2, 1e-12);
    CHECK(cmp.has_z);
    CHECK_NEAR(cmp.nll_diff, -0.025, 1e-12);
    CHECK_NEAR(cmp.nll_diff_se, 0.005, 1e-12);
    CHECK_NEAR(cmp.z, -5.0, 1e-9);
    CHECK(!strcmp(cmp.verdict, "better"));
    CHECK(!awq_audit_compare_rtn(&r, &r.configs[1], &cmp)); /* RTN itself */
    CHECK(!awq_audit_compare_rtn(&r, &r.configs[4], &cmp)); /* not applicable */
    CHECK(!awq_audit_compare_rtn(&r, &r.configs[5], &cmp)); /* --compare */
    /* differences -0.02, +0.03: mean 0.005, se 0.025, z 0.2 */
    r.configs[2].window_nll[1] = 2.34;
    CHECK(awq_audit_compare_rtn(&r, &r.configs[2], &cmp));
    CHECK_NEAR(cmp.z, 0.2, 1e-9);
    CHECK(!strcmp(cmp.verdict, "tie"));
    /* differences +0.02, +0.03: z +5 */
    r.configs[2].window_nll[0] = 2.34;
    r.configs[2].window_nll[1] = 2.34;
    CHECK(awq_audit_compare_rtn(&r, &r.configs[2], &cmp));
    CHECK_NEAR(cmp.z, 5.0, 1e-9);
    CHECK(!strcmp(cmp.verdict, "worse"));
    /* no per-window data: compared, but no z */
    free(r.configs[1].window_nll);
    r.configs[1].window_nll = NULL;
    CHECK(awq_audit_compare_rtn(&r, &r.configs[2], &cmp));
    CHECK(!cmp.has_z && isnan(cmp.z) && !strcmp(cmp.verdict, "tie"));
    free_result(&r);
}

static void test_render(awq_ctx *ctx) {
    awq_audit_result r;
    make_result(&r);
    bool front[6];
    audit_front(&r, front);
    CHECK(front[0] && !front[1] && front[2] && front[3] && !front[4] && !front[5]);
    CHECK_EQ_INT(awq_audit_heatmap_index(&r), 2);

    char *s = NULL;
    size_t n = 0;
    /* perplexity vs size */
    CHECK_OK(ctx, awq_audit_render_svg(ctx, &r, AWQ_AUDIT_CHART_PPL_SIZE, &s, &n));
    CHECK(s && strlen(s) == n);
    CHECK(!strncmp(s, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39));
    CHECK_EQ_INT(count_str(s, "class=\"pt\""), 5);
    CHECK_EQ_INT(count_str(s, "data-front=\"1\""), 3);
    CHECK(strstr(s, "data-name=\"cmp-a&lt;b&amp;c\"") != NULL);
    CHECK(strstr(s, "a<b") == NULL);
    CHECK(strstr(s, "class=\"front\"") != NULL);
    CHECK(strstr(s, "data-name=\"awq-4-g128\" data-x=\"400\" data-y=\"10.3\"") != NULL);
    CHECK(strstr(s, "<script") == NULL);
    const char *bad = xml_check(s);
    CHECK_MSG(bad == NULL, "ppl chart: %s", bad);
    awq_free(s);
    /* KL vs bits per weight */
    CHECK_OK(ctx, awq_audit_render_svg(ctx, &r, AWQ_AUDIT_CHART_KL_BPW, &s, &n));
    CHECK_EQ_INT(count_str(s, "class=\"pt\""), 5);
    CHECK(strstr(s, "data-name=\"rtn-3-g128\" data-x=\"3.242\" data-y=\"0.05\"") != NULL);
    bad = xml_check(s);
    CHECK_MSG(bad == NULL, "KL chart: %s", bad);
    awq_free(s);
    /* heat map: 3 x 7 cells with their values */
    CHECK_OK(ctx, awq_audit_render_svg(ctx, &r, AWQ_AUDIT_CHART_HEATMAP, &s, &n));
    CHECK_EQ_INT(count_str(s, "class=\"cell\""), 21);
    CHECK(strstr(s, "data-layer=\"1\" data-linear=\"k_proj\" data-v=\"0.098\"") != NULL);
    CHECK(strstr(s, "awq-4-g128") != NULL);
    CHECK(strstr(s, "#440154") != NULL && strstr(s, "#fde725") != NULL); /* min, max */
    bad = xml_check(s);
    CHECK_MSG(bad == NULL, "heat map: %s", bad);
    awq_free(s);
    CHECK_FAILS(ctx, awq_audit_render_svg(ctx, &r, AWQ_AUDIT_CHART_COUNT, &s, &n),
                AWQ_ERR_INVALID_ARG, "chart");

    /* Markdown */
    CHECK_OK(ctx, awq_audit_render_markdown(ctx, &r, &s, &n));
    CHECK(strstr(s, "| awq-4-g128 | awq | 4 | g128 | awq | 400 B | 4.156 | 10.3000 | +0.3000 | "
                    "0.00800 | 96.00% |") != NULL);
    CHECK(strstr(s, "| rtn-3-g128 | rtn | 3 | g128 | gptq-v2 |") != NULL);
    CHECK(strstr(s, "| cmp-a&lt;b&c | external | 4 | g128 | gptq |") != NULL);
    CHECK(strstr(s, "`awq-4-g96`: not applicable — group size 96 does not divide in_features "
                    "256 \\| &lt;&>") != NULL);
    CHECK(strstr(s, "| 4 | g128 | 10.5000 | 10.3000 | -0.2000 | 0.01000 | 0.00800 | yes | "
                    "-5.00 | better |") != NULL);
    CHECK(strstr(s, "across the 2 evaluation windows") != NULL);
    CHECK(strstr(s, "Context 32768 tokens") != NULL);
    CHECK(strstr(s, "| fp16 | 0.93 | ✓ | ✓ |") != NULL);   /* 1e9 B = 0.93 GiB */
    CHECK(strstr(s, "| fp16 | 27.94 | ✗ | ✗ |") != NULL);  /* 3e10 B > 24 GiB */
    CHECK(strstr(s, "| rtn-3-g128 | 9.22 | ✗ | ✓ |") != NULL);
    CHECK(strstr(s, "## Per-layer error: awq-4-g128") != NULL);
    CHECK(strstr(s, "| 2 | 0.1040 |") != NULL); /* layer 2, q_proj = 0.09 + 0.014 */
    CHECK(strstr(s, "What the numbers mean") != NULL);
    CHECK(strstr(s, "models/tiny\\|&lt;model>") != NULL);
    awq_free(s);

    /* JSON */
    CHECK_OK(ctx, awq_audit_render_json(ctx, &r, &s, &n));
    cJSON *j = cJSON_Parse(s);
    CHECK(j != NULL);
    if (j) {
        const cJSON *cs = cJSON_GetObjectItem(j, "configs");
        const cJSON *a = cJSON_GetObjectItem(cs, "awq-4-g128");
        CHECK(cJSON_GetObjectItem(a, "ppl")->valuedouble == 10.3);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "pareto_front")));
        CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "size"), "file_bytes")->valuedouble ==
              400);
        const cJSON *l1 = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "layers"), 1);
        CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(l1, "linears"),
                                                           "k_proj"), "rel_err")->valuedouble,
                   0.098, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(l1, "output_mse")->valuedouble, 0.002, 1e-12);
        const cJSON *na = cJSON_GetObjectItem(cs, "awq-4-g96");
        CHECK(!strcmp(cJSON_GetObjectItem(na, "status")->valuestring, "not_applicable"));
        CHECK(strstr(cJSON_GetObjectItem(na, "reason")->valuestring, "96") != NULL);
        CHECK(cJSON_GetObjectItem(na, "ppl") == NULL);
        const cJSON *pf = cJSON_GetObjectItem(j, "pareto_front");
        CHECK_EQ_INT(cJSON_GetArraySize(pf), 3);
        CHECK(!strcmp(cJSON_GetArrayItem(pf, 1)->valuestring, "awq-4-g128"));
        const cJSON *avr = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "awq_vs_rtn"), 0);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(avr, "awq_not_worse")));
        CHECK_NEAR(cJSON_GetObjectItem(avr, "awq_minus_rtn")->valuedouble, -0.2, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(avr, "nll_diff")->valuedouble, -0.025, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(avr, "nll_diff_se")->valuedouble, 0.005, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(avr, "z")->valuedouble, -5.0, 1e-9);
        CHECK(!strcmp(cJSON_GetObjectItem(avr, "verdict")->valuestring, "better"));
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "awq_vs_rtn")), 1);
        const cJSON *sv = cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cs, "rtn-3-g128"),
                                                    "memory"), "serving"), 1);
        const cJSON *fits = cJSON_GetObjectItem(sv, "fits");
        CHECK(cJSON_IsFalse(cJSON_GetArrayItem(fits, 0)) && cJSON_IsTrue(cJSON_GetArrayItem(fits, 1)));
        const cJSON *op = cJSON_GetObjectItem(j, "options");
        CHECK(!strcmp(cJSON_GetObjectItem(op, "heatmap_config")->valuestring, "awq-4-g128"));
        CHECK(cJSON_GetObjectItem(op, "seqlen")->valuedouble == 256);
        CHECK(!strcmp(cJSON_GetObjectItem(j, "awqkit_version")->valuestring, "0.1.0 (test)"));
        /* memory table: 32k context, 24 GiB: everything but fp16 */
        const cJSON *tab = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "memory_fit"), "table");
        CHECK_EQ_INT(cJSON_GetArraySize(tab), 4);
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(tab, 3), "fits")), 4);
    }
    cJSON_Delete(j);
    awq_free(s);

    /* HTML: the three charts inline, tables, nothing external, well-formed */
    CHECK_OK(ctx, awq_audit_render_html(ctx, &r, &s, &n));
    CHECK(!strncmp(s, "<!DOCTYPE html>", 15));
    CHECK_EQ_INT(count_str(s, "<svg "), 3);
    CHECK_EQ_INT(count_str(s, "class=\"pt\""), 10);
    CHECK_EQ_INT(count_str(s, "class=\"cell\""), 21);
    CHECK(strstr(s, "<script") == NULL && strstr(s, "<link") == NULL &&
          strstr(s, "src=") == NULL && strstr(s, "@import") == NULL);
    CHECK_EQ_INT(count_str(s, "http"), count_str(s, "http://www.w3.org/2000/svg"));
    CHECK(strstr(s, "models/tiny|&lt;model&gt;") != NULL);
    CHECK(strstr(s, "<b>weight error</b>") != NULL);
    CHECK(strstr(s, "<td>-5.00</td><td class=\"l\">better</td>") != NULL);
    bad = xml_check(s);
    CHECK_MSG(bad == NULL, "html: %s", bad);
    awq_free(s);

    /* write: six files */
    char *dir = awq_test_tmpdir("test_audit");
    CHECK_OK(ctx, awq_audit_write(ctx, &r, dir));
    const char *files[] = {"report.json", "report.md", "report.html", "ppl_vs_size.svg",
                           "kl_vs_bpw.svg", "heatmap.svg"};
    for (size_t i = 0; i < 6; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        CHECK_MSG(awq_test_path_exists(p), "%s", p);
    }
    free(dir);

    /* nothing measured: every renderer still produces a valid document */
    for (int i = 0; i < r.n_configs; i++) {
        r.configs[i].state = AWQ_AUDIT_FAILED;
        snprintf(r.configs[i].why, sizeof r.configs[i].why, "boom");
    }
    CHECK_EQ_INT(awq_audit_heatmap_index(&r), -1);
    for (int k = 0; k < AWQ_AUDIT_CHART_COUNT; k++) {
        CHECK_OK(ctx, awq_audit_render_svg(ctx, &r, (awq_audit_chart)k, &s, &n));
        CHECK_EQ_INT(count_str(s, "class=\"pt\""), 0);
        bad = xml_check(s);
        CHECK_MSG(bad == NULL, "empty chart %d: %s", k, bad);
        awq_free(s);
    }
    CHECK_OK(ctx, awq_audit_render_markdown(ctx, &r, &s, &n));
    CHECK_EQ_INT(count_str(s, "failed — boom"), 6);
    awq_free(s);
    free_result(&r);

    awq_audit_result z;
    memset(&z, 0, sizeof z);
    CHECK_OK(ctx, awq_audit_render_html(ctx, &z, &s, &n));
    bad = xml_check(s);
    CHECK_MSG(bad == NULL, "empty html: %s", bad);
    awq_free(s);
    awq_audit_result_free(NULL);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    test_specs(ctx);
    test_pareto();
    test_ticks_colours();
    test_kl();
    test_weight_error(ctx);
    test_compare();
    test_render(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
