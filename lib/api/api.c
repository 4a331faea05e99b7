/* lib/api/api.c — awq_api_*: one call per CLI command, options as a JSON
 * object, the result as the command's --json document (awqkit/api.h).
 * Option checks mirror the CLI's flag checks (tools/cmd_*.c) so a value
 * the CLI refuses is refused here too, naming the key. */
#include "api/api_json.h"
#include "awqkit/api.h"
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

awq_status awq_api_ctx_create(int n_threads, awq_log_level log_level, awq_log_fn log,
                              awq_progress_fn progress, void *user, awq_ctx **out) {
    awq_ctx_params p = awq_ctx_default_params();
    p.n_threads = n_threads;
    p.log_level = log_level;
    p.log = log;
    p.log_user = user;
    p.progress = progress;
    p.progress_user = user;
    return awq_ctx_create(&p, out);
}

/* ------------------------------------------------------------- options */

typedef struct opts {
    awq_ctx *ctx;
    const char *cmd;
    cJSON *root;
} opts;

static awq_status opts_parse(awq_ctx *ctx, const char *cmd, const char *json, opts *o) {
    o->ctx = ctx;
    o->cmd = cmd;
    o->root = NULL;
    if (!json || !json[0]) return AWQ_OK;
    o->root = cJSON_Parse(json);
    if (!o->root || !cJSON_IsObject(o->root)) {
        cJSON_Delete(o->root);
        o->root = NULL;
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: options are not a JSON object", cmd);
    }
    return AWQ_OK;
}

static awq_status bad(const opts *o, const cJSON *it, const char *want) {
    return awq_fail(o->ctx, AWQ_ERR_INVALID_ARG, "%s: option %s: expected %s", o->cmd,
                    it->string, want);
}

static awq_status get_bool(const opts *o, const cJSON *it, bool *out) {
    if (!cJSON_IsBool(it)) return bad(o, it, "true or false");
    *out = cJSON_IsTrue(it);
    return AWQ_OK;
}

static awq_status get_int(const opts *o, const cJSON *it, double min, double max, long long *out) {
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble))
        return bad(o, it, "an integer");
    if (it->valuedouble < min || it->valuedouble > max)
        return awq_fail(o->ctx, AWQ_ERR_INVALID_ARG, "%s: option %s: %.17g is out of range [%.17g, %.17g]",
                        o->cmd, it->string, it->valuedouble, min, max);
    *out = (long long)it->valuedouble;
    return AWQ_OK;
}

static awq_status get_str(const opts *o, const cJSON *it, const char **out) {
    if (!cJSON_IsString(it)) return bad(o, it, "a string");
    *out = it->valuestring;
    return AWQ_OK;
}

static awq_status unknown(const opts *o, const cJSON *it) {
    return awq_fail(o->ctx, AWQ_ERR_INVALID_ARG, "%s: unknown option '%s'", o->cmd, it->string);
}

static awq_status get_zeros(const opts *o, const cJSON *it, awq_zeros_mode *z) {
    const char *v = NULL;
    AWQ_TRY(get_str(o, it, &v));
    if (!strcmp(v, "auto")) *z = AWQ_ZEROS_AUTO;
    else if (!strcmp(v, "v1")) *z = AWQ_ZEROS_AS_V1;
    else if (!strcmp(v, "v2")) *z = AWQ_ZEROS_AS_V2;
    else return bad(o, it, "\"auto\", \"v1\" or \"v2\"");
    return AWQ_OK;
}

static awq_status get_shard(const opts *o, const cJSON *it, uint64_t min, uint64_t *out) {
    long long n;
    AWQ_TRY(get_int(o, it, (double)min, 1.8e19, &n));
    *out = (uint64_t)n;
    return AWQ_OK;
}

/* ------------------------------------------------------------- results */

static awq_status emit(awq_ctx *ctx, cJSON *root, char **json_out) {
    *json_out = awq_json_print_free(root);
    return *json_out ? AWQ_OK : awq_fail_nomem(ctx, "the JSON result", 0);
}

static awq_status start(awq_ctx *ctx, const char *what, const char *model, char **json_out,
                        char **path) {
    if (!ctx || !json_out) return AWQ_ERR_INVALID_ARG;
    *json_out = NULL;
    if (!model) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: NULL path", what);
    return awq_hub_resolve(ctx, model, path);
}

awq_status awq_api_count(awq_ctx *ctx, const char *model, char **json_out) {
    char *path = NULL;
    AWQ_TRY(start(ctx, "count", model, json_out, &path));
    double t0 = awq_now();
    awq_checkpoint *ck = NULL;
    awq_count_result r;
    awq_status s = awq_checkpoint_open(ctx, path, &ck);
    if (s == AWQ_OK) s = awq_count(ctx, ck, &r);
    if (s == AWQ_OK) s = emit(ctx, awq_json_count(path, &r, awq_now() - t0), json_out);
    awq_checkpoint_free(ck);
    free(path);
    return s;
}

awq_status awq_api_inspect(awq_ctx *ctx, const char *model, char **json_out) {
    char *path = NULL;
    AWQ_TRY(start(ctx, "inspect", model, json_out, &path));
    awq_checkpoint *ck = NULL;
    awq_detect_result *d = malloc(sizeof *d);
    awq_status s = d ? awq_checkpoint_open(ctx, path, &ck)
                     : awq_fail_nomem(ctx, "the detection result", sizeof *d);
    if (s == AWQ_OK) s = awq_detect(ctx, ck, d);
    if (s == AWQ_OK) s = emit(ctx, awq_json_inspect(path, ck, d), json_out);
    awq_checkpoint_free(ck);
    free(d);
    free(path);
    return s;
}

awq_status awq_api_verify(awq_ctx *ctx, const char *dir, const char *options_json,
                          char **json_out) {
    char *path = NULL, *against = NULL;
    AWQ_TRY(start(ctx, "verify", dir, json_out, &path));
    awq_verify_params p = awq_verify_default_params();
    opts o;
    awq_status s = opts_parse(ctx, "verify", options_json, &o);
    for (cJSON *it = o.root ? o.root->child : NULL; it && s == AWQ_OK; it = it->next) {
        if (!strcmp(it->string, "against")) s = get_str(&o, it, &p.against);
        else if (!strcmp(it->string, "gptq_zeros")) s = get_zeros(&o, it, &p.zeros);
        else if (!strcmp(it->string, "max_rel_err")) {
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) || !isfinite(it->valuedouble))
                s = bad(&o, it, "a number > 0");
            else p.max_rel_err = it->valuedouble;
        } else s = unknown(&o, it);
    }
    if (s == AWQ_OK && p.against) {
        s = awq_hub_resolve(ctx, p.against, &against);
        p.against = against;
    }
    double t0 = awq_now();
    awq_verify_result r;
    bool have = false;
    if (s == AWQ_OK) s = awq_verify(ctx, path, &p, &r);
    have = s == AWQ_OK;
    if (s == AWQ_OK) s = emit(ctx, awq_json_verify(path, &p, &r, awq_now() - t0), json_out);
    if (have) awq_verify_result_free(&r);
    cJSON_Delete(o.root);
    free(against);
    free(path);
    return s;
}

awq_status awq_api_repack(awq_ctx *ctx, const char *in, const char *out,
                          const char *options_json, char **json_out) {
    char *path = NULL;
    AWQ_TRY(start(ctx, "repack", in, json_out, &path));
    awq_repack_params p = awq_repack_default_params();
    opts o;
    bool have_to = false;
    awq_status s = out ? opts_parse(ctx, "repack", options_json, &o)
                       : awq_fail(ctx, AWQ_ERR_INVALID_ARG, "repack: NULL output");
    if (!out) o.root = NULL;
    for (cJSON *it = o.root ? o.root->child : NULL; it && s == AWQ_OK; it = it->next) {
        const char *v = NULL;
        if (!strcmp(it->string, "to")) {
            s = get_str(&o, it, &v);
            const awq_format_info *f = s == AWQ_OK ? awq_format_by_name(v) : NULL;
            if (s == AWQ_OK && !f) s = bad(&o, it, "\"awq\", \"awq-gemv\", \"gptq\" or \"gptq-v2\"");
            if (f) {
                p.to = f->id;
                have_to = true;
            }
        } else if (!strcmp(it->string, "allow_lossy")) s = get_bool(&o, it, &p.allow_lossy);
        else if (!strcmp(it->string, "force")) s = get_bool(&o, it, &p.force);
        else if (!strcmp(it->string, "max_shard_size")) s = get_shard(&o, it, 1, &p.max_shard_bytes);
        else if (!strcmp(it->string, "gptq_zeros")) s = get_zeros(&o, it, &p.zeros);
        else s = unknown(&o, it);
    }
    if (s == AWQ_OK && !have_to)
        s = awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                     "repack: option to is required (awq, awq-gemv, gptq or gptq-v2)");
    double t0 = awq_now();
    awq_repack_result r;
    if (s == AWQ_OK) s = awq_repack(ctx, path, out, &p, &r);
    if (s == AWQ_OK) s = emit(ctx, awq_json_repack(path, out, &r, awq_now() - t0), json_out);
    cJSON_Delete(o.root);
    free(path);
    return s;
}

/* One quantize option into p (the CLI's checks, tools/cmd_quantize.c). */
static awq_status quantize_opt(const opts *o, const cJSON *it, awq_quantize_params *p,
                               const char **device) {
    const char *k = it->string, *v = NULL;
    long long n;
    if (!strcmp(k, "method")) {
        AWQ_TRY(get_str(o, it, &v));
        if (!strcmp(v, "awq")) p->method = AWQ_METHOD_AWQ;
        else if (!strcmp(v, "rtn")) p->method = AWQ_METHOD_RTN;
        else return bad(o, it, "\"awq\" or \"rtn\"");
    } else if (!strcmp(k, "format")) {
        AWQ_TRY(get_str(o, it, &v));
        const awq_format_info *f = awq_format_by_name(v);
        if (!f) return bad(o, it, "\"awq\", \"awq-gemv\", \"gptq\" or \"gptq-v2\"");
        p->format = f->id;
    } else if (!strcmp(k, "bits")) {
        AWQ_TRY(get_int(o, it, 2, 8, &n));
        if (n != 2 && n != 3 && n != 4 && n != 8) return bad(o, it, "2, 3, 4 or 8");
        p->quant.bits = (int)n;
    } else if (!strcmp(k, "group_size")) {
        AWQ_TRY(get_int(o, it, -1, 1 << 20, &n));
        if (n == 0) return bad(o, it, "> 0 or -1");
        p->quant.group_size = (int)n;
    } else if (!strcmp(k, "sym")) {
        return get_bool(o, it, &p->quant.sym);
    } else if (!strcmp(k, "allow_lossy")) {
        return get_bool(o, it, &p->allow_lossy);
    } else if (!strcmp(k, "calib")) {
        return get_str(o, it, &p->calib.path);
    } else if (!strcmp(k, "text_field")) {
        return get_str(o, it, &p->calib.text_field);
    } else if (!strcmp(k, "samples")) {
        AWQ_TRY(get_int(o, it, 1, 1 << 24, &n));
        p->calib.n_samples = (int)n;
    } else if (!strcmp(k, "seqlen")) {
        AWQ_TRY(get_int(o, it, 2, 1 << 20, &n));
        p->calib.seqlen = (int)n;
    } else if (!strcmp(k, "shuffle")) {
        return get_bool(o, it, &p->calib.shuffle);
    } else if (!strcmp(k, "seed")) {
        AWQ_TRY(get_int(o, it, 0, (double)(1LL << 62), &n));
        p->calib.seed = (uint64_t)n;
    } else if (!strcmp(k, "calib_tokens")) {
        return get_str(o, it, &p->calib_tokens);
    } else if (!strcmp(k, "n_grid")) {
        AWQ_TRY(get_int(o, it, 1, 1000, &n));
        p->n_grid = (int)n;
    } else if (!strcmp(k, "duo_scaling")) {
        AWQ_TRY(get_str(o, it, &v));
        if (!strcmp(v, "on")) p->duo_scaling = AWQ_DUO_ON;
        else if (!strcmp(v, "off")) p->duo_scaling = AWQ_DUO_OFF;
        else if (!strcmp(v, "both")) p->duo_scaling = AWQ_DUO_BOTH;
        else return bad(o, it, "\"on\", \"off\" or \"both\"");
    } else if (!strcmp(k, "screen")) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble < 1))
            return bad(o, it, "a number in [0, 1)");
        p->screen = it->valuedouble;
    } else if (!strcmp(k, "finalists")) {
        AWQ_TRY(get_int(o, it, 0, 1000, &n));
        p->finalists = (int)n;
    } else if (!strcmp(k, "race_z")) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0 && it->valuedouble <= 1000))
            return bad(o, it, "a number in [0, 1000]");
        p->race_z = it->valuedouble;
    } else if (!strcmp(k, "clip")) {
        return get_bool(o, it, &p->clip);
    } else if (!strcmp(k, "clip_tokens")) {
        AWQ_TRY(get_int(o, it, 1, 1 << 24, &n));
        p->clip_tokens = (int)n;
    } else if (!strcmp(k, "clip_max_shrink")) {
        if (!cJSON_IsNumber(it) || !(it->valuedouble > 0 && it->valuedouble < 1))
            return bad(o, it, "a number in (0, 1)");
        p->clip_max_shrink = it->valuedouble;
    } else if (!strcmp(k, "propagate")) {
        AWQ_TRY(get_str(o, it, &v));
        if (!strcmp(v, "fp")) p->propagate = AWQ_PROPAGATE_FP;
        else if (!strcmp(v, "quantized")) p->propagate = AWQ_PROPAGATE_QUANTIZED;
        else return bad(o, it, "\"fp\" or \"quantized\"");
    } else if (!strcmp(k, "dump_scales")) {
        return get_str(o, it, &p->dump_scales);
    } else if (!strcmp(k, "load_scales")) {
        return get_str(o, it, &p->load_scales);
    } else if (!strcmp(k, "device")) {
        AWQ_TRY(get_str(o, it, &v));
        char *end = NULL;
        long idx = 0;
        if (!strcmp(v, "cpu")) {
            p->runtime.backend = AWQ_BACKEND_CPU;
        } else if (!strncmp(v, "cuda", 4) && (v[4] == 0 || v[4] == ':')) {
            if (v[4] == ':') {
                idx = strtol(v + 5, &end, 10);
                if (end == v + 5 || *end || idx < 0 || idx > 64)
                    return bad(o, it, "\"cpu\", \"cuda\" or \"cuda:N\"");
            }
            p->runtime.backend = AWQ_BACKEND_CUDA;
        } else {
            return bad(o, it, "\"cpu\", \"cuda\" or \"cuda:N\"");
        }
        p->runtime.device = (int)idx;
        *device = v;
    } else if (!strcmp(k, "max_shard_size")) {
        return get_shard(o, it, 1024, &p->max_shard_bytes);
    } else if (!strcmp(k, "chunk_seqs")) {
        AWQ_TRY(get_int(o, it, 1, 1 << 24, &n));
        p->chunk_seqs = n;
    } else if (!strcmp(k, "offload_activations")) {
        return get_bool(o, it, &p->offload_activations);
    } else if (!strcmp(k, "force")) {
        return get_bool(o, it, &p->force);
    } else if (!strcmp(k, "resume")) {
        return get_bool(o, it, &p->resume);
    } else if (!strcmp(k, "stop_after_layers")) {
        AWQ_TRY(get_int(o, it, 1, 1 << 20, &n));
        p->stop_after_layers = n;
    } else {
        return unknown(o, it);
    }
    return AWQ_OK;
}

awq_status awq_api_quantize(awq_ctx *ctx, const char *model, const char *out,
                            const char *options_json, char **json_out) {
    char *path = NULL, *calib = NULL;
    AWQ_TRY(start(ctx, "quantize", model, json_out, &path));
    awq_quantize_params p = awq_quantize_default_params();
    p.calib.path = NULL;
    const char *device = NULL;
    opts o;
    awq_status s = out ? opts_parse(ctx, "quantize", options_json, &o)
                       : awq_fail(ctx, AWQ_ERR_INVALID_ARG, "quantize: NULL output");
    if (!out) o.root = NULL;
    for (cJSON *it = o.root ? o.root->child : NULL; it && s == AWQ_OK; it = it->next)
        s = quantize_opt(&o, it, &p, &device);
    if (s == AWQ_OK && p.calib_tokens && p.calib.path)
        s = awq_fail(ctx, AWQ_ERR_INVALID_ARG, "quantize: calib and calib_tokens are exclusive");
    if (s == AWQ_OK && !p.calib_tokens && !p.calib.path) {
        calib = awq_default_calib_path();
        p.calib.path = calib;
        if (!calib)
            s = awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                         "quantize: no default calibration text (no AWQKIT_CALIB, and no "
                         "text/calib-wikitext2-valid.jsonl.zst under the awqkit data "
                         "directory): pass the calib option");
    }
    if (!p.calib.text_field) p.calib.text_field = "text";
    awq_quantize_job *job = NULL;
    /* No device: the GPU when there is one, else the CPU (as the CLI). */
    bool auto_device = !device && awq_built_with_cuda();
    if (auto_device) p.runtime.backend = AWQ_BACKEND_CUDA;
    if (s == AWQ_OK) s = awq_quantize_prepare(ctx, path, out, &p, &job);
    if (s == AWQ_ERR_NO_DEVICE && auto_device) {
        awq_warn(ctx, "no usable GPU (%s); running on the CPU", awq_ctx_errmsg(ctx));
        p.runtime.backend = AWQ_BACKEND_CPU;
        s = awq_quantize_prepare(ctx, path, out, &p, &job);
    }
    awq_quantize_report rep;
    memset(&rep, 0, sizeof rep);
    if (s == AWQ_OK) s = awq_quantize_run(job, &rep);
    if (s == AWQ_OK)
        s = emit(ctx, awq_json_quantize(path, out, &p, awq_quantize_job_plan(job), &rep),
                 json_out);
    awq_quantize_report_free(&rep);
    awq_quantize_job_free(job);
    cJSON_Delete(o.root);
    free(calib);
    free(path);
    return s;
}
