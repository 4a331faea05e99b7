/*
 * lib/audit/audit.c — `awqkit audit`: the configuration grid, checks done
 * before any long work, and the loop that quantizes and measures each
 * configuration (measure.c holds the measurements, report.c / svg.c /
 * html.c the renderers). The AWQ algorithm, the packed layouts, perplexity and the
 * size calculator are the library's; nothing here re-implements them.
 */
#include "audit/audit_internal.h"

#include "awqkit/count.h"
#include "awqkit/text.h"
#include "model/forward.h" /* awq_model_load_lm_head */
#include "quant/ct.h"

#include <dirent.h>
#include <sys/stat.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char k_default_grid[] =
    "fp16,rtn-4-g128,awq-4-g128,rtn-4-g64,awq-4-g64,rtn-4-g32,awq-4-g32,"
    "rtn-4-pc,awq-4-pc,rtn-3-g128,awq-3-g128,rtn-8-g128,awq-8-g128";

const char *awq_audit_default_grid(void) { return k_default_grid; }

const char *awq_audit_kind_name(awq_audit_kind k) {
    switch (k) {
    case AWQ_AUDIT_FP16: return "fp16";
    case AWQ_AUDIT_QUANTIZED: return "quantized";
    case AWQ_AUDIT_COMPARE: return "compare";
    }
    return "unknown";
}

const char *awq_audit_state_name(awq_audit_state s) {
    switch (s) {
    case AWQ_AUDIT_MEASURED: return "ok";
    case AWQ_AUDIT_NOT_APPLICABLE: return "not_applicable";
    case AWQ_AUDIT_FAILED: return "failed";
    }
    return "unknown";
}

awq_audit_params awq_audit_default_params(void) {
    awq_audit_params p;
    memset(&p, 0, sizeof p);
    p.eval = awq_ppl_default_params();
    p.quantize = awq_quantize_default_params();
    p.keep_checkpoints = true;
    static const double budgets[] = {8, 12, 16, 24, 48, 80};
    p.n_budgets = (int)AWQ_ARRAY_LEN(budgets);
    for (int i = 0; i < p.n_budgets; i++) p.budgets_gib[i] = budgets[i];
    static const int64_t ctxs[] = {2048, 8192, 32768};
    p.n_contexts = (int)AWQ_ARRAY_LEN(ctxs);
    for (int i = 0; i < p.n_contexts; i++) p.contexts[i] = ctxs[i];
    p.fp_cache_bytes = (uint64_t)1 << 30;
    return p;
}

/* ------------------------------------------------------------ spec names */

static bool parse_uint(const char **s, long *out) {
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
        if (v > 100000000) return false;
        v = v * 10 + (*p++ - '0');
    }
    *s = p;
    *out = v;
    return true;
}

static awq_qformat default_format(int bits) {
    return bits == 4 ? AWQ_QFMT_AWQ_GEMM : AWQ_QFMT_GPTQ_V2;
}

awq_status awq_audit_parse_spec(awq_ctx *ctx, const char *text, awq_audit_spec *out) {
    if (!text || !out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: spec is NULL");
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    if (len == 0) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "empty configuration name");
    if (len >= 96)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "configuration name '%.40s...' is too long",
                        text);
    if (strcmp(text, "fp16") == 0) {
        snprintf(out->name, sizeof out->name, "fp16");
        out->kind = AWQ_AUDIT_FP16;
        out->bits = 16;
        out->group_size = 0;
        out->format = AWQ_QFMT_AWQ_GEMM;
        return AWQ_OK;
    }
    const char *p = text;
    const char *hint = " (expected fp16 or METHOD-BITS-GROUP, e.g. awq-4-g128, rtn-4-pc, "
                       "awq-3-g128, awq-4-g128-gptq-v2)";
    if (strncmp(p, "awq-", 4) == 0) {
        out->method = AWQ_METHOD_AWQ;
    } else if (strncmp(p, "rtn-", 4) == 0) {
        out->method = AWQ_METHOD_RTN;
    } else {
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "configuration '%s': method must be awq or rtn%s", text, hint);
    }
    p += 4;
    long bits;
    if (!parse_uint(&p, &bits) || (bits != 2 && bits != 3 && bits != 4 && bits != 8))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "configuration '%s': bits must be 2, 3, 4 or 8%s", text, hint);
    if (strncmp(p, "bit", 3) == 0) p += 3;
    if (*p != '-')
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "configuration '%s': expected '-' and a group size after the bits%s",
                        text, hint);
    p++;
    long group;
    if (strncmp(p, "pc", 2) == 0) {
        group = -1;
        p += 2;
    } else if (strncmp(p, "g-1", 3) == 0) {
        group = -1;
        p += 3;
    } else if (*p == 'g') {
        p++;
        if (!parse_uint(&p, &group) || group <= 0 || group > (1L << 20))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "configuration '%s': group size must be gN with 0 < N <= 1048576, "
                            "or pc (per channel)", text);
    } else {
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "configuration '%s': group size must be gN or pc (per channel)%s",
                        text, hint);
    }
    out->kind = AWQ_AUDIT_QUANTIZED;
    out->bits = (int)bits;
    out->group_size = (int)group;
    out->format = default_format((int)bits);
    if (*p == '-') {
        const awq_format_info *f = awq_format_by_name(p + 1);
        if (!f)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "configuration '%s': unknown format '%s' (awq, awq-gemv, gptq, "
                            "gptq-v2)", text, p + 1);
        out->format = f->id;
        p += strlen(p);
    }
    if (*p)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "configuration '%s': unexpected '%s'%s",
                        text, p, hint);
    char g[16];
    if (group < 0) snprintf(g, sizeof g, "pc");
    else snprintf(g, sizeof g, "g%ld", group);
    snprintf(out->name, sizeof out->name, "%s-%ld-%s%s%s", awq_method_name(out->method), bits,
             g, out->format != default_format((int)bits) ? "-" : "",
             out->format != default_format((int)bits) ? awq_format_get(out->format)->name : "");
    return AWQ_OK;
}

/* ---------------------------------------------------------------- result */

static void config_free(awq_audit_config *c) {
    free(c->path);
    awq_free(c->layer_mse);
    awq_free(c->layer_mse_rtn);
    awq_free(c->layer_werr);
    awq_free(c->lin_err);
    awq_free(c->lin_err_raw);
    awq_free(c->window_nll);
}

void awq_audit_result_free(awq_audit_result *r) {
    if (!r) return;
    for (int i = 0; r->configs && i < r->n_configs; i++) config_free(&r->configs[i]);
    free(r->configs);
    free(r->model);
    free(r->text);
    free(r->calib);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------ run helpers */

typedef struct audit_run {
    awq_ctx *ctx;
    const awq_audit_params *p;
    awq_audit_result *r;
    const char *model_dir;
    const char *report_dir;
    awq_checkpoint *src;
    awq_model_config cfg;
    char prefix[128];
    audit_ref ref;
    awq_model *fp;
    /* copies in the report directory of calibration inputs that are not
     * regular files (see keep_input), else NULL */
    char *calib_copy, *tokens_copy;
} audit_run;

/* Statuses that stop the whole audit (the machine, not one configuration,
 * is the problem). */
static bool fatal_status(awq_status s) {
    return s == AWQ_ERR_NOMEM || s == AWQ_ERR_IO || s == AWQ_ERR_CANCELLED ||
           s == AWQ_ERR_INTERNAL || s == AWQ_ERR_CUDA || s == AWQ_ERR_NO_DEVICE;
}

static void stage(audit_run *a, int i, const char *what) {
    if (a->p->on_stage)
        a->p->on_stage(a->p->stage_user, i, a->r->n_configs, a->r->configs[i].spec.name, what);
}

static awq_status same_model(awq_ctx *ctx, const awq_model_config *a,
                             const awq_model_config *b, const char *path) {
    if (strcmp(a->architecture, b->architecture) != 0)
        return awq_fail(ctx, AWQ_ERR_MISMATCH,
                        "--compare %s: architecture %s differs from the model's %s (a "
                        "checkpoint of another model?)", path, b->architecture, a->architecture);
    struct {
        const char *name;
        int64_t x, y;
    } f[] = {{"vocab_size", a->vocab, b->vocab},
             {"hidden_size", a->hidden, b->hidden},
             {"num_hidden_layers", a->n_layers, b->n_layers},
             {"intermediate_size", a->intermediate, b->intermediate},
             {"num_attention_heads", a->n_heads, b->n_heads},
             {"num_key_value_heads", a->n_kv_heads, b->n_kv_heads},
             {"head_dim", a->head_dim, b->head_dim}};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(f); i++)
        if (f[i].x != f[i].y)
            return awq_fail(ctx, AWQ_ERR_MISMATCH,
                            "--compare %s: %s %lld differs from the model's %lld (a checkpoint "
                            "of another model?)", path, f[i].name, (long long)f[i].y,
                            (long long)f[i].x);
    return AWQ_OK;
}

static void compare_name(const awq_audit_result *r, int n, const char *path, char *out,
                         size_t cap) {
    char base[48];
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t s = len;
    while (s > 0 && path[s - 1] != '/') s--;
    size_t bl = AWQ_MIN(len - s, (size_t)40);
    memcpy(base, path + s, bl);
    base[bl] = 0;
    /* dots and other punctuation would break dotted JSON paths and file
     * names: keep [A-Za-z0-9_-] */
    for (size_t i = 0; i < bl; i++) {
        char ch = base[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
        if (!ok) base[i] = '_';
    }
    if (!bl) snprintf(base, sizeof base, "checkpoint");
    for (int k = 1;; k++) {
        if (k == 1) snprintf(out, cap, "cmp-%s", base);
        else snprintf(out, cap, "cmp-%s-%d", base, k);
        bool dup = false;
        for (int i = 0; i < n; i++) dup |= strcmp(r->configs[i].spec.name, out) == 0;
        if (!dup) return;
    }
}

/* Whether every decoder linear can be stored with this spec; *why gets the
 * reason. The K % group rule is the serving kernels' (vLLM and the AWQ
 * kernels need whole groups), stricter than GPTQ's storable-but-partial. */
static bool spec_packable(const awq_model_config *cfg, const awq_audit_spec *s, char *why,
                          size_t cap) {
    const awq_arch *arch = cfg->arch;
    for (int j = 0; j < arch->n_linears; j++) {
        const awq_linear_desc *d = &arch->linears[j];
        int64_t K = awq_model_dim(cfg, d->in_dim), N = awq_model_dim(cfg, d->out_dim);
        const char *reason = NULL;
        if (!awq_linear_packable(s->format, K, N, s->bits, s->group_size, &reason)) {
            snprintf(why, cap, "%s [%lld x %lld] cannot be stored as %s %d-bit group %d: %s",
                     d->name, (long long)N, (long long)K, awq_format_get(s->format)->name,
                     s->bits, s->group_size, reason ? reason : "not packable");
            return false;
        }
        if (s->group_size > 0 && K % s->group_size != 0) {
            snprintf(why, cap,
                     "group size %d does not divide in_features %lld of %s (serving kernels "
                     "need whole groups)", s->group_size, (long long)K, d->name);
            return false;
        }
    }
    return true;
}

/* Remove a checkpoint directory the audit wrote: its plain files, then the
 * directory. Anything else inside (a sub-directory) is left with a
 * warning rather than removed recursively. */
static awq_status remove_checkpoint_dir(awq_ctx *ctx, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return awq_fail(ctx, AWQ_ERR_IO, "cannot open %s: %s", dir, strerror(errno));
    struct dirent *e;
    awq_status st = AWQ_OK;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = awq_path_join(dir, e->d_name);
        if (!p) {
            st = awq_fail_nomem(ctx, "path", strlen(dir) + 256);
            break;
        }
        if (awq_path_is_dir(p)) awq_warn(ctx, "--no-keep: leaving directory %s", p);
        else if (unlink(p) != 0) awq_warn(ctx, "cannot remove %s: %s", p, strerror(errno));
        free(p);
    }
    closedir(d);
    if (st == AWQ_OK && rmdir(dir) != 0 && errno != ENOTEMPTY)
        awq_warn(ctx, "cannot remove %s: %s", dir, strerror(errno));
    return st;
}

static bool dir_nonempty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool any = false;
    while (!any && (e = readdir(d)) != NULL)
        any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return any;
}

static awq_size_format size_format_of(const awq_audit_config *c, awq_dtype dense) {
    if (c->spec.kind == AWQ_AUDIT_FP16 || c->n_quant_linears == 0)
        return dense == AWQ_DT_BF16 ? AWQ_SIZE_BF16
               : dense == AWQ_DT_F32 ? AWQ_SIZE_FP32
                                     : AWQ_SIZE_FP16;
    switch (c->spec.format) {
    case AWQ_QFMT_AWQ_GEMM: return AWQ_SIZE_AWQ;
    case AWQ_QFMT_AWQ_GEMV: return AWQ_SIZE_AWQ_GEMV;
    case AWQ_QFMT_GPTQ: return AWQ_SIZE_GPTQ;
    default: return AWQ_SIZE_GPTQ_V2;
    }
}

/* Size, bits per weight, serving memory of the checkpoint at c->path. */
static awq_status measure_size(audit_run *a, awq_audit_config *c, const awq_checkpoint *ck) {
    awq_count_result cnt;
    AWQ_TRY(awq_count(a->ctx, ck, &cnt));
    c->file_bytes = cnt.file_bytes;
    c->tensor_bytes = cnt.tensor_bytes;
    c->logical_params = cnt.logical;
    c->n_quant_linears = (int64_t)cnt.n_quant_linears;
    c->bits_per_param = cnt.bits_per_param;
    const awq_count_row *lin = &cnt.by_role[AWQ_ROLE_LINEAR];
    c->bits_per_weight = cnt.n_quant_linears ? cnt.quant_bits_per_weight
                         : lin->logical    ? 8.0 * (double)lin->bytes / (double)lin->logical
                                           : 0.0;
    awq_detect_result det;
    AWQ_TRY(awq_detect(a->ctx, ck, &det));
    snprintf(c->detected, sizeof c->detected, "%s", awq_ckpt_kind_name(det.kind));

    awq_size_format f = size_format_of(c, det.float_dtype);
    awq_size_result *sr = malloc(sizeof *sr);
    if (!sr) return awq_fail_nomem(a->ctx, "size result", sizeof *sr);
    awq_status st = AWQ_OK;
    for (int i = 0; i < a->r->n_contexts && st == AWQ_OK; i++) {
        awq_size_params sp = awq_size_default_params();
        if (c->spec.bits > 0 && c->spec.bits <= 8) sp.bits = c->spec.bits;
        if (c->spec.group_size != 0) sp.group_size = c->spec.group_size;
        sp.context = a->r->contexts[i];
        sp.batch = 1;
        st = awq_size_from_checkpoint(a->ctx, ck, &sp, sr);
        if (st != AWQ_OK) break;
        const awq_size_format_result *fr = &sr->formats[f];
        if (fr->supported) {
            c->predicted_weight_bytes = fr->weight_bytes;
            c->serving_bytes[i] = fr->serving_bytes;
        } else {
            /* the calculator does not model this layout: the real weights
             * with the calculator's KV cache and overhead rule */
            double w = (double)c->tensor_bytes, kv = (double)fr->kv_bytes;
            c->predicted_weight_bytes = 0;
            c->serving_bytes[i] = (uint64_t)(w + kv + (double)sp.overhead_fixed_bytes +
                                             sp.overhead_frac * (w + kv));
        }
        if (i == 0) a->r->kv_bytes_per_token = sr->kv_bytes_per_token;
    }
    free(sr);
    return st;
}

static awq_status alloc_layer_arrays(audit_run *a, awq_audit_config *c) {
    size_t L = (size_t)a->r->n_layers, J = (size_t)a->r->n_linears;
    c->layer_werr = awq_calloc(L, sizeof(double));
    c->lin_err = awq_calloc(L * J, sizeof(double));
    c->lin_err_raw = awq_calloc(L * J, sizeof(double));
    if (!c->layer_werr || !c->lin_err || !c->lin_err_raw)
        return awq_fail_nomem(a->ctx, "per-linear errors", L * J * 16);
    return AWQ_OK;
}

/* Weight error of a compressed-tensors linear the forward dequantizes per
 * linear (lib/quant/ct_float.c), against the source. */
static awq_status ct_weight_error(awq_ctx *ctx, const awq_checkpoint *ck, const char *name,
                                  const awq_tensor_info *src, awq_werr *we) {
    if (src->ndim != 2) return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s: source is not 2-D", name);
    const size_t nk = (size_t)(src->shape[0] * src->shape[1]);
    float *w = awq_alloc(nk, sizeof(float));
    if (!w) return awq_fail_nomem(ctx, "dequantized weight", (uint64_t)nk * 4u);
    awq_status st = awq_ct_float_dequant(ctx, ck, name, src->shape[0], src->shape[1], w);
    awq_tensor_info d = *src;
    d.dtype = AWQ_DT_F32;
    d.n_bytes = (uint64_t)nk * 4u;
    d.data = w;
    if (st == AWQ_OK) st = awq_weight_error(ctx, src, NULL, &d, we);
    awq_free(w);
    return st;
}

/* Per-linear weight errors of checkpoint ck against the source. */
static awq_status measure_weights(audit_run *a, awq_audit_config *c, const awq_checkpoint *ck) {
    awq_ctx *ctx = a->ctx;
    char prefix[128];
    AWQ_TRY(awq_model_find_prefix(ctx, ck, prefix, sizeof prefix));
    awq_qckpt q;
    bool packed = awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q) == AWQ_OK;
    AWQ_TRY(alloc_layer_arrays(a, c));
    const awq_arch *arch = a->cfg.arch;
    char name[320], sname[320];
    for (int64_t l = 0; l < a->r->n_layers; l++) {
        double e2 = 0, w2 = 0;
        for (int j = 0; j < arch->n_linears; j++) {
            const char *ln = arch->linears[j].name;
            snprintf(sname, sizeof sname, "%slayers.%lld.%s.weight", a->prefix, (long long)l, ln);
            const awq_tensor_info *src = awq_checkpoint_find(a->src, sname);
            if (!src) return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "source tensor %s not found", sname);
            snprintf(name, sizeof name, "%slayers.%lld.%s", prefix, (long long)l, ln);
            awq_werr we;
            size_t nl = strlen(name);
            /* ".qweight", or compressed-tensors' ".weight_packed" */
            snprintf(name + nl, sizeof name - nl, ".%s",
                     awq_format_suffix(packed ? q.format : AWQ_QFMT_AWQ_GEMM, AWQ_PT_QWEIGHT));
            bool is_packed = awq_checkpoint_find(ck, name) != NULL;
            name[nl] = 0;
            if (!is_packed && awq_ct_float_linear(ck, name)) {
                /* compressed-tensors read per linear (FP8, NVFP4, mixed) */
                AWQ_TRY(ct_weight_error(ctx, ck, name, src, &we));
            } else if (is_packed) {
                if (!packed)
                    return awq_fail(ctx, AWQ_ERR_FORMAT,
                                    "%s: packed linear %s but no usable quantization_config",
                                    awq_checkpoint_dir(ck), name);
                awq_qtensor t;
                AWQ_TRY(awq_qlinear_read(ctx, ck, name, &q, &t));
                awq_status st = AWQ_OK;
                if (t.N != src->shape[0] || t.K != src->shape[1])
                    st = awq_fail(ctx, AWQ_ERR_MISMATCH,
                                  "%s is [%lld, %lld] but the source %s is [%lld, %lld]", name,
                                  (long long)t.N, (long long)t.K, sname,
                                  (long long)src->shape[0], (long long)src->shape[1]);
                if (st == AWQ_OK) st = awq_weight_error(ctx, src, &t, NULL, &we);
                awq_qtensor_free(&t);
                AWQ_TRY(st);
            } else {
                snprintf(name + nl, sizeof name - nl, ".weight");
                const awq_tensor_info *d = awq_checkpoint_find(ck, name);
                if (!d)
                    return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s: no %s (nor a packed linear)",
                                    awq_checkpoint_dir(ck), name);
                if (d->ndim != 2 || d->shape[0] != src->shape[0] ||
                    d->shape[1] != src->shape[1])
                    return awq_fail(ctx, AWQ_ERR_MISMATCH, "%s: shape differs from the source",
                                    name);
                AWQ_TRY(awq_weight_error(ctx, src, NULL, d, &we));
            }
            size_t k = (size_t)(l * a->r->n_linears + j);
            c->lin_err[k] = we.w2 > 0 ? sqrt(we.err2 / we.w2) : 0.0;
            c->lin_err_raw[k] = we.w2 > 0 ? sqrt(we.raw2 / we.w2) : 0.0;
            e2 += we.err2;
            w2 += we.w2;
        }
        c->layer_werr[l] = w2 > 0 ? sqrt(e2 / w2) : 0.0;
        AWQ_TRY(awq_progress(ctx, "weights", (uint64_t)(l + 1), (uint64_t)a->r->n_layers));
    }
    return AWQ_OK;
}

static awq_status evaluate(audit_run *a, awq_audit_config *c, awq_model *m) {
    double t0 = awq_now();
    audit_eval_out ev;
    AWQ_TRY(audit_eval(a->ctx, &a->ref, m, &ev));
    c->ppl = ev.ppl;
    c->mean_nll = ev.mean_nll;
    c->kl_mean = ev.kl_mean;
    c->kl_max = ev.kl_max;
    c->top1 = ev.top1;
    c->n_predicted = ev.n_predicted;
    awq_free(c->window_nll);
    c->window_nll = ev.window_nll;
    a->r->n_windows = ev.n_windows;
    a->r->n_predicted = ev.n_predicted;
    c->eval_seconds = awq_now() - t0;
    return AWQ_OK;
}

/* Open the checkpoint at c->path and measure everything but quantization. */
static awq_status measure_checkpoint(audit_run *a, int i, bool weights) {
    awq_audit_config *c = &a->r->configs[i];
    awq_checkpoint *ck = NULL;
    AWQ_TRY(awq_checkpoint_open(a->ctx, c->path, &ck));
    awq_status st = measure_size(a, c, ck);
    if (st == AWQ_OK) {
        stage(a, i, "evaluate");
        awq_model *m = NULL;
        st = awq_model_open(a->ctx, ck, &a->p->quantize.runtime, &m);
        if (st == AWQ_OK) st = evaluate(a, c, m);
        awq_model_free(m);
    }
    if (st == AWQ_OK && weights) {
        stage(a, i, "weights");
        double t0 = awq_now();
        st = measure_weights(a, c, ck);
        c->weight_seconds = awq_now() - t0;
    }
    awq_checkpoint_free(ck);
    return st;
}

static awq_status run_quantized(audit_run *a, int i) {
    awq_audit_config *c = &a->r->configs[i];
    char why[AWQ_AUDIT_WHY_MAX];
    if (!spec_packable(&a->cfg, &c->spec, why, sizeof why)) {
        c->state = AWQ_AUDIT_NOT_APPLICABLE;
        snprintf(c->why, sizeof c->why, "%s", why);
        stage(a, i, "not applicable");
        return AWQ_OK;
    }
    char *ckdir = awq_path_join(a->report_dir, "checkpoints");
    char *dir = ckdir ? awq_path_join(ckdir, c->spec.name) : NULL;
    free(ckdir);
    if (!dir) return awq_fail_nomem(a->ctx, "path", 4096);
    c->path = dir;
    awq_quantize_params qp = a->p->quantize;
    qp.method = c->spec.method;
    qp.quant.bits = c->spec.bits;
    qp.quant.group_size = c->spec.group_size;
    qp.format = c->spec.format;
    qp.force = true; /* the report directory was checked (or --force given) */
    qp.resume = false;
    qp.stop_after_layers = 0;
    if (a->calib_copy) qp.calib.path = a->calib_copy;
    if (a->tokens_copy) qp.calib_tokens = a->tokens_copy;

    stage(a, i, "quantize");
    double t0 = awq_now();
    awq_quantize_job *job = NULL;
    AWQ_TRY(awq_quantize_prepare(a->ctx, a->model_dir, dir, &qp, &job));
    a->r->calib_blocks = awq_quantize_job_plan(job)->n_blocks;
    awq_quantize_report rep;
    memset(&rep, 0, sizeof rep);
    awq_status st = awq_quantize_run(job, &rep);
    awq_quantize_job_free(job);
    c->quant_seconds = awq_now() - t0;
    if (st == AWQ_OK && rep.n_layers == a->r->n_layers) {
        size_t L = (size_t)rep.n_layers;
        c->mse_seqs = rep.report_seqs;
        c->calib_seqs = rep.calib_seqs;
        c->layer_mse = awq_alloc(L ? L : 1, sizeof(double));
        c->layer_mse_rtn = awq_alloc(L ? L : 1, sizeof(double));
        if (!c->layer_mse || !c->layer_mse_rtn) st = awq_fail_nomem(a->ctx, "layer MSE", L * 16);
        for (size_t l = 0; st == AWQ_OK && l < L; l++) {
            c->layer_mse[l] = rep.layers[l].mse_quant;
            c->layer_mse_rtn[l] = rep.layers[l].mse_rtn;
        }
    }
    awq_quantize_report_free(&rep);
    AWQ_TRY(st);
    c->kept = true;
    st = measure_checkpoint(a, i, true);
    if (!a->p->keep_checkpoints) {
        awq_status rs = remove_checkpoint_dir(a->ctx, dir);
        c->kept = false;
        if (st == AWQ_OK) st = rs;
    }
    return st;
}

static awq_status run_config(audit_run *a, int i) {
    awq_audit_config *c = &a->r->configs[i];
    switch (c->spec.kind) {
    case AWQ_AUDIT_FP16: {
        c->path = awq_strdup(a->model_dir);
        if (!c->path) return awq_fail_nomem(a->ctx, "path", strlen(a->model_dir));
        c->kept = true;
        awq_status st = measure_size(a, c, a->src);
        if (st == AWQ_OK) {
            stage(a, i, "evaluate");
            st = evaluate(a, c, a->fp);
        }
        return st;
    }
    case AWQ_AUDIT_COMPARE:
        c->path = awq_strdup(c->spec.path);
        if (!c->path) return awq_fail_nomem(a->ctx, "path", strlen(c->spec.path));
        c->kept = true;
        return measure_checkpoint(a, i, true);
    case AWQ_AUDIT_QUANTIZED:
        return run_quantized(a, i);
    }
    return awq_fail(a->ctx, AWQ_ERR_INTERNAL, "audit: unknown configuration kind");
}

/* ---------------------------------------------------------- preparation */

static awq_status add_spec(audit_run *a, const awq_audit_spec *s) {
    awq_audit_result *r = a->r;
    for (int i = 0; i < r->n_configs; i++)
        if (strcmp(r->configs[i].spec.name, s->name) == 0)
            return awq_fail(a->ctx, AWQ_ERR_INVALID_ARG,
                            "configuration %s is listed twice", s->name);
    if (r->n_configs >= AWQ_AUDIT_MAX_CONFIGS)
        return awq_fail(a->ctx, AWQ_ERR_INVALID_ARG, "more than %d configurations",
                        AWQ_AUDIT_MAX_CONFIGS);
    awq_audit_config *c = &r->configs[r->n_configs++];
    memset(c, 0, sizeof *c);
    c->spec = *s;
    c->ppl = c->mean_nll = c->kl_mean = c->kl_max = c->top1 = NAN;
    return AWQ_OK;
}

static awq_status parse_grid(audit_run *a) {
    const char *list = a->p->configs ? a->p->configs : k_default_grid;
    const char *p = list;
    char item[128];
    while (true) {
        size_t k = strcspn(p, ",");
        const char *b = p, *e = p + k;
        while (b < e && (*b == ' ' || *b == '\t')) b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e == b)
            return awq_fail(a->ctx, AWQ_ERR_INVALID_ARG, "configuration list '%s' has an empty "
                            "entry", list);
        if ((size_t)(e - b) >= sizeof item)
            return awq_fail(a->ctx, AWQ_ERR_INVALID_ARG, "configuration '%.40s...' is too long",
                            b);
        memcpy(item, b, (size_t)(e - b));
        item[e - b] = 0;
        awq_audit_spec s;
        AWQ_TRY(awq_audit_parse_spec(a->ctx, item, &s));
        AWQ_TRY(add_spec(a, &s));
        if (!p[k]) break;
        p += k + 1;
    }
    return AWQ_OK;
}

/* A compressed-tensors checkpoint the forward reads per linear: fill the
 * spec from its main scheme. */
static bool ct_per_linear(awq_ctx *ctx, const awq_checkpoint *ck, awq_audit_spec *s) {
    awq_ct_config *c = NULL;
    const char *why = NULL;
    bool ok = awq_ct_config_load(ctx, ck, &c) == AWQ_OK && c && awq_ct_computable(c, &why);
    const awq_ct_scheme *m = ok ? awq_ct_main_scheme(c, ck) : NULL;
    if (m) {
        s->bits = m->num_bits;
        s->group_size = m->group_size;
        s->format = AWQ_QFMT_CT;
        s->method = AWQ_METHOD_AWQ;
    }
    awq_ct_config_free(c);
    return m != NULL;
}

static awq_status add_compare(audit_run *a, const char *path) {
    awq_ctx *ctx = a->ctx;
    awq_checkpoint *ck = NULL;
    awq_status st = awq_checkpoint_open(ctx, path, &ck);
    if (st != AWQ_OK) return awq_fail_wrap(ctx, st, "--compare %s", path);
    awq_model_config cc;
    st = awq_model_config_from_checkpoint(ctx, ck, &cc);
    if (st != AWQ_OK) st = awq_fail_wrap(ctx, st, "--compare %s", path);
    if (st == AWQ_OK) st = same_model(ctx, &a->cfg, &cc, path);
    awq_audit_spec s;
    memset(&s, 0, sizeof s);
    s.kind = AWQ_AUDIT_COMPARE;
    if (st == AWQ_OK) {
        awq_qckpt q;
        awq_status ds = awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q);
        if (ds == AWQ_OK) {
            s.bits = q.bits;
            s.group_size = q.group_size;
            s.format = q.format;
            s.method = AWQ_METHOD_AWQ;
        } else if (ds == AWQ_ERR_NOT_FOUND) {
            s.bits = 16; /* dense */
        } else if (ds == AWQ_ERR_UNSUPPORTED && ct_per_linear(ctx, ck, &s)) {
            /* compressed-tensors FP8 / NVFP4 / mixed: the forward reads it
             * per linear; labelled by the scheme most weights use */
            awq_clear_error(ctx);
        } else {
            st = awq_fail_wrap(ctx, ds, "--compare %s", path);
        }
    }
    if (st == AWQ_OK) {
        /* the runtime must be able to run it: fail now, not after hours */
        awq_model *m = NULL;
        st = awq_model_open(ctx, ck, &a->p->quantize.runtime, &m);
        if (st != AWQ_OK) st = awq_fail_wrap(ctx, st, "--compare %s", path);
        awq_model_free(m);
    }
    awq_checkpoint_free(ck);
    AWQ_TRY(st);
    if (strlen(path) >= sizeof s.path)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "--compare path is too long");
    snprintf(s.path, sizeof s.path, "%s", path);
    compare_name(a->r, a->r->n_configs, path, s.name, sizeof s.name);
    return add_spec(a, &s);
}

static awq_status check_params(awq_ctx *ctx, const awq_audit_params *p) {
    if (!p->text) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: no evaluation text");
    if (!awq_path_exists(p->text))
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "evaluation text %s not found", p->text);
    if (p->n_compare < 0 || (p->n_compare > 0 && !p->compare))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: bad compare list");
    if (p->n_budgets < 0 || p->n_budgets > AWQ_AUDIT_MAX_BUDGETS)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: at most %d budgets",
                        AWQ_AUDIT_MAX_BUDGETS);
    for (int i = 0; i < p->n_budgets; i++)
        if (!(p->budgets_gib[i] > 0 && p->budgets_gib[i] < 1e6))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: budget %g GiB is out of range",
                            p->budgets_gib[i]);
    if (p->n_contexts < 0 || p->n_contexts > AWQ_AUDIT_MAX_CONTEXTS)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: at most %d contexts",
                        AWQ_AUDIT_MAX_CONTEXTS);
    for (int i = 0; i < p->n_contexts; i++)
        if (p->contexts[i] < 1 || p->contexts[i] > ((int64_t)1 << 30))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: context %lld is out of range",
                            (long long)p->contexts[i]);
    if (p->eval.seqlen < 2)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: seqlen %lld < 2",
                        (long long)p->eval.seqlen);
    return AWQ_OK;
}

static awq_status resolve_heatmap(audit_run *a) {
    awq_audit_result *r = a->r;
    const char *want = a->p->heatmap_config;
    if (!want) {
        snprintf(r->heatmap, sizeof r->heatmap, "awq-4-g128");
        return AWQ_OK;
    }
    awq_audit_spec s;
    const char *name = want;
    if (awq_audit_parse_spec(NULL, want, &s) == AWQ_OK) name = s.name;
    for (int i = 0; i < r->n_configs; i++)
        if (strcmp(r->configs[i].spec.name, name) == 0) {
            snprintf(r->heatmap, sizeof r->heatmap, "%s", name);
            return AWQ_OK;
        }
    return awq_fail(a->ctx, AWQ_ERR_INVALID_ARG,
                    "heat-map configuration '%s' is not in the grid", want);
}

/* Every quantized configuration reads the calibration input again. A pipe
 * or FIFO can be read only once (a second open waits forever for a writer
 * that is gone), so such an input is read once here into the report
 * directory, under its own name (the format is told by the name), and the
 * configurations read that copy. Regular files are read in place. */
static awq_status keep_input(audit_run *a, const char *path, char **copy) {
    *copy = NULL;
    struct stat st;
    if (!path || (stat(path, &st) == 0 && S_ISREG(st.st_mode))) return AWQ_OK;
    char *data = NULL;
    size_t n = 0;
    AWQ_TRY(awq_read_file(a->ctx, path, (uint64_t)8 << 30, &data, &n));
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[512];
    snprintf(name, sizeof name, ".awqkit-input-%s", base);
    *copy = awq_path_join(a->report_dir, name);
    awq_status st2 = *copy ? awq_write_file_atomic(a->ctx, *copy, data, n)
                           : awq_fail_nomem(a->ctx, "path", 4096);
    free(data);
    return st2;
}

static void drop_input(char **copy) {
    if (*copy) unlink(*copy);
    free(*copy);
    *copy = NULL;
}

static awq_status prepare(audit_run *a, int32_t **ids, size_t *n_ids) {
    awq_ctx *ctx = a->ctx;
    awq_audit_result *r = a->r;
    const awq_audit_params *p = a->p;
    AWQ_TRY(awq_checkpoint_open(ctx, a->model_dir, &a->src));
    AWQ_TRY(awq_checkpoint_bind_fp8(ctx, a->src)); /* FP8 block sources read as dense */
    AWQ_TRY(awq_model_config_from_checkpoint(ctx, a->src, &a->cfg));
    if (!a->cfg.arch)
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: architecture %s is not supported (%s)",
                        a->model_dir, a->cfg.architecture, awq_arch_supported_list());
    if (a->cfg.quant.present && !awq_checkpoint_is_fp8_source(a->src))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s is already quantized (%s); audit takes the FP16/BF16 model and "
                        "measures quantized checkpoints with --compare", a->model_dir,
                        a->cfg.quant.quant_method);
    AWQ_TRY(awq_model_find_prefix(ctx, a->src, a->prefix, sizeof a->prefix));
    snprintf(r->architecture, sizeof r->architecture, "%s", a->cfg.architecture);
    r->n_layers = a->cfg.n_layers;
    r->hidden = a->cfg.hidden;
    r->vocab = a->cfg.vocab;
    r->n_linears = a->cfg.arch->n_linears;
    for (int j = 0; j < r->n_linears; j++) {
        const char *n = a->cfg.arch->linears[j].name;
        const char *dot = strrchr(n, '.');
        snprintf(r->linear_names[j], sizeof r->linear_names[j], "%s", dot ? dot + 1 : n);
    }
    awq_count_result cnt;
    AWQ_TRY(awq_count(ctx, a->src, &cnt));
    r->logical_params = cnt.logical;

    r->configs = calloc(AWQ_AUDIT_MAX_CONFIGS, sizeof *r->configs);
    if (!r->configs)
        return awq_fail_nomem(ctx, "configurations", AWQ_AUDIT_MAX_CONFIGS * sizeof *r->configs);
    AWQ_TRY(parse_grid(a));
    for (int i = 0; i < p->n_compare; i++) {
        if (!p->compare[i]) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "compare path is NULL");
        AWQ_TRY(add_compare(a, p->compare[i]));
    }
    AWQ_TRY(resolve_heatmap(a));
    bool any_quant = false;
    for (int i = 0; i < r->n_configs; i++)
        any_quant |= r->configs[i].spec.kind == AWQ_AUDIT_QUANTIZED;
    if (any_quant && !p->quantize.calib.path && !p->quantize.calib_tokens)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: no calibration data (calib.path)");
    if (p->quantize.calib.path && !awq_path_exists(p->quantize.calib.path))
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "calibration text %s not found",
                        p->quantize.calib.path);

    /* the output directory */
    char rin[4096], rout[4096];
    if (realpath(a->model_dir, rin) && realpath(a->report_dir, rout)) {
        size_t n = strlen(rin);
        if (strcmp(rin, rout) == 0 || (strncmp(rout, rin, n) == 0 && rout[n] == '/'))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "report directory %s is the model directory (or inside it)",
                            a->report_dir);
    }
    if (awq_path_exists(a->report_dir) && !awq_path_is_dir(a->report_dir))
        return awq_fail(ctx, AWQ_ERR_EXISTS, "%s exists and is not a directory", a->report_dir);
    if (dir_nonempty(a->report_dir) && !p->force)
        return awq_fail(ctx, AWQ_ERR_EXISTS,
                        "report directory %s is not empty (pass force / --force to overwrite)",
                        a->report_dir);
    /* the evaluation text, through the model's tokenizer */
    awq_tokenizer *tok = NULL;
    awq_status st = awq_tokenizer_load(ctx, awq_checkpoint_dir(a->src), &tok);
    if (st != AWQ_OK) return awq_fail_wrap(ctx, st, "tokenizer of %s", a->model_dir);
    st = awq_tokenizer_encode_file(tok, p->text, false, ids, n_ids);
    awq_tokenizer_free(tok);
    AWQ_TRY(st);
    r->n_text_tokens = (int64_t)*n_ids;
    if (awq_ppl_n_windows((int64_t)*n_ids, &p->eval) == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "%s has %zu tokens, fewer than one evaluation window of %lld", p->text,
                        *n_ids, (long long)p->eval.seqlen);
    /* created only once everything above passed: a refused run writes
     * nothing */
    AWQ_TRY(awq_mkdir_p(ctx, a->report_dir));
    if (any_quant) {
        AWQ_TRY(keep_input(a, p->quantize.calib.path, &a->calib_copy));
        AWQ_TRY(keep_input(a, p->quantize.calib_tokens, &a->tokens_copy));
    }
    return AWQ_OK;
}

awq_status awq_audit_run(awq_ctx *ctx, const char *model_dir, const char *report_dir,
                         const awq_audit_params *params, awq_audit_result *out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: result is NULL");
    memset(out, 0, sizeof *out);
    if (!model_dir || !report_dir || !params)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "audit: model, report directory and params "
                        "are required");
    AWQ_TRY(check_params(ctx, params));
    double t_start = awq_now();
    audit_run a;
    memset(&a, 0, sizeof a);
    a.ctx = ctx;
    a.p = params;
    a.r = out;
    a.model_dir = model_dir;
    a.report_dir = report_dir;

    awq_audit_result *r = out;
    snprintf(r->version, sizeof r->version, "%s", awq_version());
    r->model = awq_strdup(model_dir);
    r->text = awq_strdup(params->text);
    r->calib = params->quantize.calib_tokens ? awq_strdup(params->quantize.calib_tokens)
               : params->quantize.calib.path ? awq_strdup(params->quantize.calib.path)
                                             : NULL;
    r->eval = params->eval;
    r->calib_samples = params->quantize.calib.n_samples;
    r->calib_seqlen = params->quantize.calib.seqlen;
    r->n_grid = params->quantize.n_grid;
    r->screen = params->quantize.screen;
    r->finalists = params->quantize.finalists;
    r->race_z = params->quantize.race_z;
    r->clip = params->quantize.clip;
    r->duo_scaling = params->quantize.duo_scaling;
    snprintf(r->backend, sizeof r->backend, "%s",
             awq_backend_kind_name(params->quantize.runtime.backend));
    r->threads = awq_ctx_n_threads(ctx);
    r->keep_checkpoints = params->keep_checkpoints;
    r->n_budgets = params->n_budgets;
    memcpy(r->budgets_gib, params->budgets_gib, sizeof r->budgets_gib);
    r->n_contexts = params->n_contexts;
    memcpy(r->contexts, params->contexts, sizeof r->contexts);
    if (!r->model || !r->text) return awq_fail_nomem(ctx, "strings", 4096);

    int32_t *ids = NULL;
    size_t n_ids = 0;
    awq_status st = prepare(&a, &ids, &n_ids);
    if (st == AWQ_OK) st = awq_model_open(ctx, a.src, &params->quantize.runtime, &a.fp);
    if (st == AWQ_OK) st = awq_model_load_lm_head(a.fp); /* a bad source stops the audit */
    if (st == AWQ_OK)
        st = audit_ref_init(ctx, &a.ref, a.fp, ids, (int64_t)n_ids, &params->eval,
                            params->fp_cache_bytes);
    for (int i = 0; st == AWQ_OK && i < r->n_configs; i++) {
        st = awq_progress(ctx, "audit", (uint64_t)i, (uint64_t)r->n_configs);
        if (st != AWQ_OK) break;
        awq_audit_config *c = &r->configs[i];
        awq_status cs = run_config(&a, i);
        if (cs == AWQ_OK) {
            if (c->state == AWQ_AUDIT_MEASURED) stage(&a, i, "done");
            continue;
        }
        if (fatal_status(cs)) {
            st = awq_fail_wrap(ctx, cs, "configuration %s", c->spec.name);
            break;
        }
        c->state = AWQ_AUDIT_FAILED;
        snprintf(c->why, sizeof c->why, "%s: %s", awq_strerror(cs), awq_ctx_errmsg(ctx));
        awq_warn(ctx, "configuration %s failed: %s", c->spec.name, c->why);
        stage(&a, i, "failed");
    }
    if (st == AWQ_OK) st = awq_progress(ctx, "audit", (uint64_t)r->n_configs, (uint64_t)r->n_configs);
    if (st == AWQ_OK && !params->keep_checkpoints) {
        /* checkpoints/ is empty again: remove it (failure is harmless) */
        char *ckdir = awq_path_join(report_dir, "checkpoints");
        if (ckdir) rmdir(ckdir);
        free(ckdir);
    }
    if (st == AWQ_OK) {
        /* the heat map's configuration: the requested one, else the first
         * measured quantized configuration with per-linear errors */
        int h = awq_audit_heatmap_index(r);
        if (h < 0) r->heatmap[0] = 0;
        else snprintf(r->heatmap, sizeof r->heatmap, "%s", r->configs[h].spec.name);
    }
    r->seconds_total = awq_now() - t_start;
    audit_ref_free(&a.ref);
    awq_model_free(a.fp);
    awq_checkpoint_free(a.src);
    awq_free(ids);
    drop_input(&a.calib_copy);
    drop_input(&a.tokens_copy);
    return st;
}

int awq_audit_heatmap_index(const awq_audit_result *r) {
    if (!r || !r->configs) return -1;
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (strcmp(c->spec.name, r->heatmap) == 0 && c->state == AWQ_AUDIT_MEASURED &&
            c->lin_err)
            return i;
    }
    for (int i = 0; i < r->n_configs; i++) {
        const awq_audit_config *c = &r->configs[i];
        if (c->state == AWQ_AUDIT_MEASURED && c->lin_err && c->spec.kind != AWQ_AUDIT_FP16)
            return i;
    }
    return -1;
}
