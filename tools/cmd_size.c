/* tools/cmd_size.c — `awqkit size`: file size per storage format from a
 * parameter count, or exactly from an architecture / checkpoint, plus the
 * serving-memory estimate (model: include/awqkit/count.h, lib/quant/size.c). */
#include "cli.h"
#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit size --params N [options]\n"
            "       awqkit size MODEL [options]\n\n"
            "File size of a model in each storage format, scales and zeros included.\n\n"
            "--params N (e.g. 70.6e9): every parameter at the format's bits per weight:\n"
            "  grouped formats b + (16 + b)/g (one FP16 scale and one b-bit zero per\n"
            "  group), e.g. AWQ 4-bit g128 = 4.156 bpw: 70.6e9 x 4.156 / 8 = 36.7 GB.\n"
            "MODEL (a model directory, a checkpoint, or a config.json alone): exact bytes\n"
            "  from the architecture: the decoder linears are packed as the layouts store\n"
            "  them (GEMV padding, GPTQ g_idx included); embeddings, lm_head, norms,\n"
            "  biases and any vision tower stay 16-bit (from a checkpoint: its real\n"
            "  tensors; a bare config cannot size a vision tower and says so). A linear\n"
            "  with K %% group_size != 0 or N %% (32/bits) != 0 stays FP16, with a note.\n\n"
            "Serving memory = weights + KV cache + overhead:\n"
            "  KV = 2 x layers x kv_heads x head_dim x context x batch x bytes (2 for\n"
            "  fp16/bf16, 1 for fp8); overhead = 1 GiB + 10%% of (weights + KV): CUDA\n"
            "  context and cuBLAS workspaces (~1 GiB) plus activations and allocator\n"
            "  slack (vLLM keeps 10%% of the card free by default). An estimate.\n\n"
            "Options:\n"
            "  --params N          parameter count (instead of MODEL)\n"
            "  --format F          one format: fp32 fp16 bf16 fp8 int8 awq awq-gemv gptq\n"
            "                      gptq-v2 (default: a table of all)\n"
            "  --bits B            bits of the grouped formats: 2, 3, 4, 8 (default 4;\n"
            "                      AWQ layouts are 4-bit only)\n"
            "  --group-size G      group size (default 128; -1 = per channel)\n"
            "  --context N         KV-cache tokens per sequence (default 4096)\n"
            "  --batch B           concurrent sequences (default 1)\n"
            "  --kv-dtype D        fp16 (default), bf16 or fp8\n"
            "  --vram SIZE         say whether it fits, e.g. 24GiB or 80GB (GB = 1e9)\n\n");
    awq_cli_print_common_help(f);
    fprintf(f,
            "\nExamples:\n"
            "  awqkit size --params 70.6e9 --format awq\n"
            "  awqkit size data/tiny-llama --context 2048 --batch 4 --vram 24GiB\n");
}

static double gb(uint64_t b) { return (double)b / 1e9; }
static double gib(uint64_t b) { return (double)b / 1073741824.0; }

static cJSON *format_json(const awq_size_format_result *fr) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", awq_size_format_name(fr->format));
    cJSON_AddBoolToObject(o, "supported", fr->supported);
    if (!fr->supported) {
        cJSON_AddStringToObject(o, "unsupported_why", fr->unsupported_why ? fr->unsupported_why : "");
        return o;
    }
    cJSON_AddNumberToObject(o, "bits_per_weight", fr->bits_per_weight);
    cJSON_AddNumberToObject(o, "linear_bytes", (double)fr->linear_bytes);
    cJSON_AddNumberToObject(o, "other_bytes", (double)fr->other_bytes);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)fr->weight_bytes);
    cJSON_AddNumberToObject(o, "weight_gb", gb(fr->weight_bytes));
    cJSON_AddNumberToObject(o, "weight_gib", gib(fr->weight_bytes));
    cJSON_AddNumberToObject(o, "linears_packed", (double)fr->n_packed);
    cJSON_AddNumberToObject(o, "linears_unpackable", (double)fr->n_unpackable);
    cJSON_AddNumberToObject(o, "kv_bytes", (double)fr->kv_bytes);
    cJSON_AddNumberToObject(o, "overhead_bytes", (double)fr->overhead_bytes);
    cJSON_AddNumberToObject(o, "serving_bytes", (double)fr->serving_bytes);
    cJSON_AddNumberToObject(o, "serving_gib", gib(fr->serving_bytes));
    if (fr->fits >= 0) cJSON_AddBoolToObject(o, "fits", fr->fits == 1);
    else cJSON_AddNullToObject(o, "fits");
    return o;
}

/* A bare config.json file, or a directory holding config.json and no
 * weights. */
static bool config_only(const char *path, char **cfg_path) {
    size_t n = strlen(path);
    bool json = n >= 5 && strcmp(path + n - 5, ".json") == 0 &&
                !(n >= 11 && strcmp(path + n - 11, ".index.json") == 0);
    if (json) {
        *cfg_path = strdup(path);
        return true;
    }
    return false;
}

int awq_cmd_size(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *path = NULL, *fmt_name = NULL, *kv_name = NULL;
    double params = 0;
    bool have_params = false, have_ctx = false, have_batch = false;
    awq_size_params sp = awq_size_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        uint64_t bytes;
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        if (awq_cli_opt_double(argc, argv, &i, "--params", &params)) {
            if (!(params > 0 && params < 1e15))
                awq_cli_usage_error("option --params: %g is out of range (0, 1e15)", params);
            have_params = true;
            continue;
        }
        if (awq_cli_opt_str(argc, argv, &i, "--format", &fmt_name)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--bits", 2, 8, &v)) {
            if (v != 2 && v != 3 && v != 4 && v != 8)
                awq_cli_usage_error("option --bits: %lld is not 2, 3, 4 or 8", v);
            sp.bits = (int)v;
            continue;
        }
        if (awq_cli_opt_int(argc, argv, &i, "--group-size", -1, 1 << 20, &v)) {
            if (v == 0) awq_cli_usage_error("option --group-size: 0 is invalid (-1 = per channel)");
            sp.group_size = (int)v;
            continue;
        }
        if (awq_cli_opt_int(argc, argv, &i, "--context", 0, 1LL << 30, &v)) {
            sp.context = v;
            have_ctx = true;
            continue;
        }
        if (awq_cli_opt_int(argc, argv, &i, "--batch", 0, 1 << 20, &v)) {
            sp.batch = v;
            have_batch = true;
            continue;
        }
        if (awq_cli_opt_str(argc, argv, &i, "--kv-dtype", &kv_name)) continue;
        if (awq_cli_opt_bytes(argc, argv, &i, "--vram", &bytes)) {
            if (!bytes) awq_cli_usage_error("option --vram: must be > 0");
            sp.vram_bytes = bytes;
            continue;
        }
        awq_cli_positional(a, &path, "size takes one MODEL");
    }
    if (have_params && path)
        awq_cli_usage_error("give either --params N or MODEL, not both");
    if (!have_params && !path)
        awq_cli_usage_error("missing MODEL or --params N");
    if (have_params && (have_ctx || have_batch))
        awq_cli_usage_error("option %s needs a MODEL (the KV cache depends on the architecture)",
                            have_ctx ? "--context" : "--batch");
    awq_size_format one = AWQ_SIZE_FP16;
    if (fmt_name && !awq_size_format_from_name(fmt_name, &one))
        awq_cli_usage_error("option --format: unknown format '%s' (fp32 fp16 bf16 fp8 int8 awq "
                            "awq-gemv gptq gptq-v2)",
                            fmt_name);
    if (kv_name) {
        if (strcmp(kv_name, "fp16") == 0 || strcmp(kv_name, "f16") == 0) sp.kv_dtype = AWQ_DT_F16;
        else if (strcmp(kv_name, "bf16") == 0) sp.kv_dtype = AWQ_DT_BF16;
        else if (strcmp(kv_name, "fp8") == 0) sp.kv_dtype = AWQ_DT_F8_E4M3;
        else awq_cli_usage_error("option --kv-dtype: '%s' is not fp16, bf16 or fp8", kv_name);
    }
    if (fmt_name && !awq_size_format_supported(one, sp.bits, sp.group_size, NULL)) {
        const char *why = NULL;
        awq_size_format_supported(one, sp.bits, sp.group_size, &why);
        awq_cli_usage_error("option --format %s: %s", fmt_name, why ? why : "unsupported");
    }

    if (path) path = awq_cli_model(path);
    awq_ctx *ctx = awq_cli_ctx(&c);
    awq_size_result *r = malloc(sizeof *r);
    if (!r) awq_cli_fail("out of memory");
    awq_status s;
    const char *source = "estimate";
    if (have_params) {
        s = awq_size_from_params(ctx, params, &sp, r);
        if (s != AWQ_OK) awq_cli_fail_status(ctx, s, "--params");
    } else {
        char *cfg_path = NULL;
        if (!config_only(path, &cfg_path)) {
            awq_checkpoint *ck = NULL;
            s = awq_checkpoint_open(ctx, path, &ck);
            if (s == AWQ_OK) {
                s = awq_size_from_checkpoint(ctx, ck, &sp, r);
                awq_checkpoint_free(ck);
                if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
                source = "checkpoint";
            } else if (s == AWQ_ERR_NOT_FOUND && awq_path_is_dir(path)) {
                /* A directory with config.json and no weights. */
                size_t n = strlen(path) + 16;
                cfg_path = malloc(n);
                if (!cfg_path) awq_cli_fail("out of memory");
                snprintf(cfg_path, n, "%s/config.json", path);
                if (!awq_path_exists(cfg_path)) awq_cli_fail_status(ctx, s, path);
            } else {
                awq_cli_fail_status(ctx, s, path);
            }
        }
        if (cfg_path) {
            char *text = NULL;
            size_t len = 0;
            s = awq_read_file(ctx, cfg_path, 16u << 20, &text, &len);
            if (s != AWQ_OK) awq_cli_fail_status(ctx, s, cfg_path);
            cJSON *root = cJSON_ParseWithLength(text, len);
            if (!root) awq_cli_fail("%s: not valid JSON", cfg_path);
            awq_model_config cfg;
            s = awq_model_config_from_json(ctx, root, cfg_path, &cfg);
            if (s != AWQ_OK) awq_cli_fail_status(ctx, s, cfg_path);
            s = awq_size_from_config(ctx, &cfg, &sp, r);
            if (s != AWQ_OK) awq_cli_fail_status(ctx, s, cfg_path);
            cJSON_Delete(root);
            free(text);
            free(cfg_path);
            source = "config";
        }
    }

    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        if (path) cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "source", source);
        cJSON_AddBoolToObject(o, "exact", r->exact);
        cJSON_AddNumberToObject(o, "params", r->params);
        cJSON_AddNumberToObject(o, "bits", sp.bits);
        cJSON_AddNumberToObject(o, "group_size", sp.group_size);
        if (r->exact) {
            cJSON_AddNumberToObject(o, "linears", (double)r->n_linears);
            cJSON_AddNumberToObject(o, "linear_params", (double)r->linear_params);
            cJSON_AddNumberToObject(o, "kv_bytes_per_token", (double)r->kv_bytes_per_token);
            cJSON_AddNumberToObject(o, "context", (double)sp.context);
            cJSON_AddNumberToObject(o, "batch", (double)sp.batch);
            cJSON_AddStringToObject(o, "kv_dtype", sp.kv_dtype == AWQ_DT_F8_E4M3 ? "fp8"
                                                   : sp.kv_dtype == AWQ_DT_BF16  ? "bf16"
                                                                                 : "fp16");
            cJSON_AddBoolToObject(o, "vision_missing", r->vision_missing);
        }
        cJSON *ov = cJSON_AddObjectToObject(o, "overhead");
        cJSON_AddNumberToObject(ov, "fixed_bytes", (double)sp.overhead_fixed_bytes);
        cJSON_AddNumberToObject(ov, "fraction", sp.overhead_frac);
        if (sp.vram_bytes) cJSON_AddNumberToObject(o, "vram_bytes", (double)sp.vram_bytes);
        cJSON *fs = cJSON_AddArrayToObject(o, "formats");
        for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++)
            if (!fmt_name || f == (int)one) cJSON_AddItemToArray(fs, format_json(&r->formats[f]));
        cJSON *notes = cJSON_AddArrayToObject(o, "notes");
        for (int i = 0; i < r->n_notes; i++) cJSON_AddItemToArray(notes, cJSON_CreateString(r->notes[i]));
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        char pb[32], lb[32];
        awq_cli_fmt_count(pb, sizeof pb, r->params);
        if (!r->exact) {
            printf("%s parameters, bits %d, group size %d (estimate: every parameter at the "
                   "format's bits per weight)\n",
                   pb, sp.bits, sp.group_size);
        } else {
            awq_cli_fmt_count(lb, sizeof lb, (double)r->linear_params);
            printf("%s (from the %s): %s parameters, %s in %llu quantizable linears; bits %d, "
                   "group size %d\n",
                   path, source, pb, lb, (unsigned long long)r->n_linears, sp.bits, sp.group_size);
            if (r->kv_bytes_per_token) {
                char kb[32];
                awq_cli_fmt_bytes(kb, sizeof kb, (double)r->formats[AWQ_SIZE_FP16].kv_bytes);
                printf("KV cache: %llu bytes per token (%s) x context %lld x batch %lld = %s\n",
                       (unsigned long long)r->kv_bytes_per_token,
                       sp.kv_dtype == AWQ_DT_F8_E4M3 ? "fp8" : sp.kv_dtype == AWQ_DT_BF16 ? "bf16" : "fp16",
                       (long long)sp.context, (long long)sp.batch, kb);
            }
        }
        printf("serving = weights + KV + overhead (1 GiB + 10%% of weights + KV)\n");
        if (sp.vram_bytes)
            printf("VRAM: %.2f GB (%.2f GiB)\n", gb(sp.vram_bytes), gib(sp.vram_bytes));
        printf("\n%-9s %8s %10s %10s %11s %11s", "format", "bits/w", "size GB", "size GiB",
               "serving GB", "serving GiB");
        if (sp.vram_bytes) printf("  fits");
        printf("\n");
        for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++) {
            const awq_size_format_result *fr = &r->formats[f];
            if (fmt_name && f != (int)one) continue;
            if (!fr->supported) {
                printf("%-9s  n/a: %s\n", awq_size_format_name(fr->format), fr->unsupported_why);
                continue;
            }
            printf("%-9s %8.3f %10.3f %10.3f %11.3f %11.3f", awq_size_format_name(fr->format),
                   fr->bits_per_weight, gb(fr->weight_bytes), gib(fr->weight_bytes),
                   gb(fr->serving_bytes), gib(fr->serving_bytes));
            if (fr->fits >= 0) printf("  %s", fr->fits ? "yes" : "no");
            if (fr->n_unpackable) printf("  (%llu linears stay FP16)", (unsigned long long)fr->n_unpackable);
            printf("\n");
        }
        if (r->n_notes) printf("\nnotes:\n");
        for (int i = 0; i < r->n_notes; i++) printf("  - %s\n", r->notes[i]);
    }
    free(r);
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
