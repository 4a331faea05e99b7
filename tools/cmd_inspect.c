/* tools/cmd_inspect.c — `awqkit inspect MODEL`: the checkpoint's kind, how
 * its quantization_config agrees with the tensors, and the tensor table. */
#include "cli.h"
#include "api/api_json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit inspect MODEL [--json]\n\n"
            "List the tensors of a checkpoint (name, dtype, shape, bytes, shard) and\n"
            "detect its kind: dense fp16 / bf16 / fp32, AWQ GEMM or GEMV, GPTQ v1 / v2\n"
            "(with or without act-order g_idx), compressed-tensors (pack-quantized,\n"
            "naive-quantized, float-quantized FP8, nvfp4 / mxfp4), FP8 with\n"
            "weight_scale_inv blocks, bitsandbytes 4-bit / 8-bit, MLX, gpt-oss MXFP4;\n"
            "name the format and its effective bits per weight (from the headers).\n"
            "Quantized tensors of no known layout are reported as unknown.\n"
            "Checks that config.json's\n"
            "quantization_config agrees with the tensors: quant_method and AWQ\n"
            "version against the packed layouts, bits and group_size against the\n"
            "qweight / qzeros / scales shapes, GPTQ checkpoint_format and desc_act\n"
            "against a small sample of the stored zeros and g_idx. Disagreements come\n"
            "first in the notes; exit status stays 0 (inspect reports, it does not\n"
            "judge).\n\n"
            "Output: a summary (kind, tensor count, total bytes, shards), the notes,\n"
            "then the table. --json has everything.\n\n");
    awq_cli_print_common_help(f);
    fprintf(f, "\nExample:\n  awqkit inspect data/tiny-llama\n");
}

static void shape_str(const awq_tensor_info *t, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static const char *group_str(int g, char *buf, size_t n) {
    if (g == -1) snprintf(buf, n, "per-channel");
    else if (g > 0) snprintf(buf, n, "group %d", g);
    else snprintf(buf, n, "group ?");
    return buf;
}

int awq_cmd_inspect(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        awq_cli_positional(a, &path, "inspect takes one MODEL");
    }
    if (!path) awq_cli_usage_error("missing MODEL (a model directory or .safetensors file)");
    path = awq_cli_model(path);

    awq_ctx *ctx = awq_cli_ctx(&c);
    awq_checkpoint *ck = NULL;
    awq_status s = awq_checkpoint_open(ctx, path, &ck);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    awq_detect_result *d = malloc(sizeof *d);
    if (!d) awq_cli_fail("out of memory");
    s = awq_detect(ctx, ck, d);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    size_t nt = awq_checkpoint_n_tensors(ck), ns = awq_checkpoint_n_shards(ck);
    uint64_t total = 0;
    for (size_t i = 0; i < nt; i++) total += awq_checkpoint_tensor(ck, i)->n_bytes;
    const awq_quant_config *qc = &d->config;

    if (c.json) {
        cJSON *o = awq_json_inspect(path, ck, d);
        if (!o) awq_cli_fail("out of memory");
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        char b[32], g[32];
        printf("%s\n", path);
        printf("kind:    %s", awq_ckpt_kind_name(d->kind));
        if (d->n_packed_linears)
            printf(" (%d-bit, %s, %d packed linears%s)", d->bits, group_str(d->group_size, g, sizeof g),
                   d->n_packed_linears,
                   d->has_g_idx ? (d->act_order ? ", act-order g_idx" : ", g_idx") : "");
        else
            printf(" (dense, %s)", awq_dtype_name(d->float_dtype));
        printf("\n");
        if (d->bits_per_weight > 0)
            printf("format:  %s, %.3f bits per weight%s\n", d->format, d->bits_per_weight,
                   awq_detect_computable(d) ? "" : " (counted and described; not computed on)");
        else
            printf("format:  %s\n", d->format);
        if (qc->present && !qc->bits && !qc->group_size) /* per-module schemes (ct, bnb) */
            printf("config:  quantization_config %s (%s)\n",
                   d->config_agrees ? "agrees with the tensors" : "DISAGREES with the tensors",
                   qc->quant_method[0] ? qc->quant_method : "?");
        else if (qc->present)
            printf("config:  quantization_config %s (%s, bits %d, group_size %d%s%s%s%s)\n",
                   d->config_agrees ? "agrees with the tensors" : "DISAGREES with the tensors",
                   qc->quant_method[0] ? qc->quant_method : "?", qc->bits, qc->group_size,
                   qc->version[0] ? ", version " : "", qc->version,
                   qc->checkpoint_format[0] ? ", checkpoint_format " : "", qc->checkpoint_format);
        else
            printf("config:  no quantization_config%s\n",
                   d->config_agrees ? "" : " (but packed tensors are stored)");
        if (d->n_packed_linears) {
            awq_layout_desc ld = awq_layout_from_detect(d);
            awq_consumer_verdict v[AWQ_CONSUMER_COUNT];
            awq_consumers_judge(&ld, v);
            printf("loads:  ");
            for (int k = 0; k < AWQ_CONSUMER_COUNT; k++)
                printf(" %s %s%s", awq_consumer_name(v[k].consumer),
                       v[k].loads == AWQ_LOADS_YES  ? "yes"
                       : v[k].loads == AWQ_LOADS_NO ? "NO"
                                                    : "?",
                       k + 1 < AWQ_CONSUMER_COUNT ? ";" : "\n");
            for (int k = 0; k < AWQ_CONSUMER_COUNT; k++)
                if (v[k].loads == AWQ_LOADS_NO)
                    printf("         %s: %s%s%s\n", awq_consumer_name(v[k].consumer), v[k].how,
                           v[k].instead[0] ? "; works there: " : "", v[k].instead);
        }
        awq_cli_fmt_bytes(b, sizeof b, (double)total);
        printf("tensors: %zu, %s of tensor data, %zu shard%s\n", nt, b, ns, ns == 1 ? "" : "s");
        for (size_t i = 0; i < ns; i++) {
            awq_cli_fmt_bytes(b, sizeof b, (double)awq_checkpoint_shard_bytes(ck, i));
            printf("  shard %zu: %s (%s)\n", i, awq_checkpoint_shard_path(ck, i), b);
        }
        if (d->n_notes) printf("notes:\n");
        for (int i = 0; i < d->n_notes; i++) printf("  - %s\n", d->notes[i]);
        size_t w = 4;
        for (size_t i = 0; i < nt; i++) {
            size_t l = strlen(awq_checkpoint_tensor(ck, i)->name);
            if (l > w) w = l;
        }
        if (w > 80) w = 80;
        printf("\n%-*s  %-7s %-22s %14s  %s\n", (int)w, "name", "dtype", "shape", "bytes", "shard");
        for (size_t i = 0; i < nt; i++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
            char sh[96];
            shape_str(t, sh, sizeof sh);
            printf("%-*s  %-7s %-22s %14llu  %d\n", (int)w, t->name, awq_dtype_name(t->dtype), sh,
                   (unsigned long long)t->n_bytes, t->shard);
        }
    }
    free(d);
    awq_checkpoint_free(ck);
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
