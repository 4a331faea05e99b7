/* tools/cmd_count.c — `awqkit count MODEL`: stored / loaded / logical
 * parameter counts side by side (definitions: include/awqkit/count.h). */
#include "cli.h"
#include "api/api_json.h"

#include <cjson/cJSON.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit count MODEL [--json]\n\n"
            "Count a checkpoint's parameters three ways (reads headers only):\n"
            "  stored   every tensor's element count in the files, packed int32 words\n"
            "           counted once each (what safetensors metadata sums)\n"
            "  loaded   stored minus the quantization tensors (qweight, qzeros, scales,\n"
            "           g_idx; weight_packed, weight_scale, ...; absmax, quant_state;\n"
            "           SCB): what model.parameters() reports after loading\n"
            "  logical  each packed linear counted as in_features x out_features\n"
            "           (unpacked from its shapes); everything else as stored\n"
            "Formats: AWQ, GPTQ, compressed-tensors, FP8, NVFP4/MXFP4, bitsandbytes,\n"
            "MLX (README \"Formats\"); quantized tensors of no known layout are counted\n"
            "as stored and reported as unresolved, never as dense.\n"
            "For a dense FP16/BF16 checkpoint the three agree. A stored lm_head.weight\n"
            "that config.json ties to the embeddings is counted once (loaded, logical).\n"
            "Also: breakdowns by role and dtype, bytes on disk, and effective bits per\n"
            "weight: 8 x bytes(quantization tensors) / logical weights for the\n"
            "quantized linears (biases excluded), 8 x tensor bytes / logical params for\n"
            "the whole checkpoint.\n\n"
            "MODEL is a model directory, a .safetensors file, or a Hub id org/name[@rev]\n"
            "in the local Hugging Face cache.\n\n");
    awq_cli_print_common_help(f);
    fprintf(f, "\nExample:\n  awqkit count Qwen2.5-VL-3B-Instruct-AWQ\n");
}

static void fmt_int(char *buf, size_t n, uint64_t v) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < n; i++) {
        if (i && (len - i) % 3 == 0 && o + 1 < n) buf[o++] = ',';
        if (o + 1 < n) buf[o++] = tmp[i];
    }
    buf[o] = 0;
}

static void print_row(const char *name, const awq_count_row *r) {
    char a[32], b[32], c[32], d[32];
    awq_cli_fmt_count(a, sizeof a, (double)r->stored);
    awq_cli_fmt_count(b, sizeof b, (double)r->loaded);
    awq_cli_fmt_count(c, sizeof c, (double)r->logical);
    awq_cli_fmt_bytes(d, sizeof d, (double)r->bytes);
    printf("  %-10s %8llu %10s %10s %10s %11s\n", name, (unsigned long long)r->n_tensors, a, b,
           c, d);
}

int awq_cmd_count(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        awq_cli_positional(a, &path, "count takes one MODEL");
    }
    if (!path) awq_cli_usage_error("missing MODEL (a model directory or .safetensors file)");
    path = awq_cli_model(path);

    awq_ctx *ctx = awq_cli_ctx(&c);
    double t0 = awq_cli_now();
    awq_checkpoint *ck = NULL;
    awq_status s = awq_checkpoint_open(ctx, path, &ck);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    awq_count_result r;
    s = awq_count(ctx, ck, &r);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    double el = awq_cli_now() - t0;

    if (c.json) {
        cJSON *o = awq_json_count(path, &r, el);
        if (!o) awq_cli_fail("out of memory");
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        char h[32], e[32], fb[32], tb[32];
        awq_cli_fmt_bytes(fb, sizeof fb, (double)r.file_bytes);
        awq_cli_fmt_bytes(tb, sizeof tb, (double)r.tensor_bytes);
        printf("%s: %llu tensors in %zu shard%s, %s on disk (%s of tensor data)\n\n", path,
               (unsigned long long)r.n_tensors, r.n_shards, r.n_shards == 1 ? "" : "s", fb, tb);
        struct { const char *name; uint64_t v; const char *what; } lines[] = {
            {"stored elements", r.stored, "tensor element counts as stored (packed words once)"},
            {"loaded parameters", r.loaded, "stored minus the quantization tensors"},
            {"logical parameters", r.logical, "packed linears counted as in x out features"},
        };
        for (size_t i = 0; i < 3; i++) {
            awq_cli_fmt_count(h, sizeof h, (double)lines[i].v);
            fmt_int(e, sizeof e, lines[i].v);
            printf("%-20s %9s %17s   %s\n", lines[i].name, h, e, lines[i].what);
        }
        printf("\nby role      tensors     stored     loaded    logical       bytes\n");
        for (int i = 0; i < AWQ_ROLE_COUNT; i++)
            if (r.by_role[i].n_tensors) print_row(awq_role_name((awq_role)i), &r.by_role[i]);
        printf("\nby dtype     tensors     stored     loaded    logical       bytes\n");
        for (int i = 0; i < AWQ_DT_COUNT; i++)
            if (r.by_dtype[i].n_tensors) print_row(awq_dtype_name((awq_dtype)i), &r.by_dtype[i]);
        printf("\n");
        if (r.n_quant_linears) {
            char w[32], b[32];
            awq_cli_fmt_count(w, sizeof w, (double)r.quant_logical);
            awq_cli_fmt_bytes(b, sizeof b, (double)r.quant_bytes);
            printf("quantized linears: %llu (%s, %d-bit): %s weights in %s = %.3f bits/weight\n"
                   "  (codes + scales + zeros + g_idx / aux tensors; biases excluded)\n",
                   (unsigned long long)r.n_quant_linears, awq_pack_kind_name(r.pack), r.quant_bits,
                   w, b, r.quant_bits_per_weight);
        } else {
            printf("quantized linears: none (dense checkpoint)\n");
        }
        if (r.n_unresolved)
            printf("warning: %llu packed linears fit no known layout; counted as stored\n",
                   (unsigned long long)r.n_unresolved);
        printf("whole checkpoint: %.3f bits per logical parameter (tensor bytes x 8 / logical)\n",
               r.bits_per_param);
        if (r.tied_duplicate_dropped)
            printf("tied embeddings: lm_head.weight is stored but config.json ties it to the "
                   "embeddings: counted once\n");
        else if (r.tie_word_embeddings && !r.lm_head_stored)
            printf("tied embeddings: lm_head shares the embedding matrix (counted once)\n");
    }
    awq_checkpoint_free(ck);
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
