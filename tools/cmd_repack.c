/* tools/cmd_repack.c — `awqkit repack IN -o OUT --to FORMAT`: convert a
 * packed checkpoint between AWQ GEMM, AWQ GEMV, GPTQ v1 and GPTQ v2
 * (library: awq_repack in lib/quant/repack.c). */
#include "cli.h"
#include "api/api_json.h"

#include <cjson/cJSON.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit repack IN -o OUT --to FORMAT [options]\n\n"
            "Convert a packed (AWQ, GPTQ or compressed-tensors) checkpoint to another\n"
            "packed format.\n"
            "Codes, scales and zero points are reused exactly, so converting back gives\n"
            "bit-identical tensors. Other tensors are copied bit for bit, the tokenizer\n"
            "and other files are copied, config.json gets a new quantization_config, and\n"
            "the shard layout is kept. Nothing is left in OUT if anything fails.\n\n"
            "FORMAT:\n"
            "  awq        AutoAWQ GEMM (vLLM / SGLang / transformers default), 4-bit\n"
            "  awq-gemv   AutoAWQ GEMV, 4-bit\n"
            "  gptq       GPTQ v1 (qzeros store zero - 1), 2/3/4/8-bit\n"
            "  gptq-v2    GPTQ v2 (qzeros store the zero point)\n"
            "  compressed-tensors  llm-compressor pack-quantized, 2/3/4/8-bit\n\n"
            "Options:\n"
            "  -o, --output DIR        output directory (must not be IN, nor inside it)\n"
            "  --to FORMAT             target format (required)\n"
            "  --allow-lossy           accept conversions that change values: zero points\n"
            "                          of 0 into gptq (v1) are re-quantized; act-order GPTQ\n"
            "                          into AWQ is dequantized and re-quantized. The\n"
            "                          number of groups / linears and the error are reported\n"
            "  --force                 write into a non-empty OUT\n"
            "  --allow-unservable      write a layout no serving engine loads (GPTQ with\n"
            "                          zero points, AWQ GEMV; see README \"Where outputs\n"
            "                          load\"); refused by default, naming the format to use\n"
            "  --max-shard-size SIZE   shard cap, e.g. 5GB, 500MB (default: the input's\n"
            "                          largest shard, so the sharding stays the same)\n"
            "  --gptq-zeros MODE       how GPTQ input zeros are read: auto (default: the\n"
            "                          label; a v1 label over true zeros is refused), v1, v2\n");
    awq_cli_print_common_help(f);
    fprintf(f, "\nExamples:\n"
               "  awqkit repack Llama-3-8B-GPTQ -o Llama-3-8B-AWQ --to awq\n"
               "  awqkit repack Qwen2.5-7B-AWQ -o Qwen2.5-7B-GPTQ --to gptq-v2\n");
}

int awq_cmd_repack(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *in = NULL, *out = NULL, *to = NULL, *zeros = NULL;
    uint64_t shard = 0;
    bool allow_lossy = false, force = false, allow_unservable = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "-o", &out)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--output", &out)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--to", &to)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--gptq-zeros", &zeros)) continue;
        if (awq_cli_opt_bytes(argc, argv, &i, "--max-shard-size", &shard)) {
            if (shard == 0) awq_cli_usage_error("--max-shard-size: must be > 0");
            continue;
        }
        if (strcmp(a, "--allow-lossy") == 0) {
            allow_lossy = true;
            continue;
        }
        if (strcmp(a, "--force") == 0) {
            force = true;
            continue;
        }
        if (strcmp(a, "--allow-unservable") == 0) {
            allow_unservable = true;
            continue;
        }
        awq_cli_positional(a, &in, "repack takes one IN");
    }
    if (!in) awq_cli_usage_error("missing IN (a packed AWQ, GPTQ or compressed-tensors "
                                 "checkpoint directory)");
    if (!out) awq_cli_usage_error("missing -o OUT (the output directory)");
    if (!to) awq_cli_usage_error("missing --to FORMAT (awq, awq-gemv, gptq, gptq-v2 or compressed-tensors)");
    const awq_format_info *fi = awq_format_by_name(to);
    if (!fi) awq_cli_usage_error("--to: unknown format '%s' (awq, awq-gemv, gptq, gptq-v2, "
                                 "compressed-tensors)", to);
    awq_repack_params p = awq_repack_default_params();
    p.to = fi->id;
    p.allow_lossy = allow_lossy;
    p.force = force;
    p.max_shard_bytes = shard;
    if (zeros) {
        if (strcmp(zeros, "auto") == 0) p.zeros = AWQ_ZEROS_AUTO;
        else if (strcmp(zeros, "v1") == 0) p.zeros = AWQ_ZEROS_AS_V1;
        else if (strcmp(zeros, "v2") == 0) p.zeros = AWQ_ZEROS_AS_V2;
        else awq_cli_usage_error("--gptq-zeros: expected auto, v1 or v2 (got '%s')", zeros);
    }
    in = awq_cli_model(in);
    awq_cli_refuse_same_path(in, out, "-o");

    awq_ctx *ctx = awq_cli_ctx(&c);
    if (!allow_unservable && awq_check_repack_servable(ctx, in, fi->id) != AWQ_OK)
        awq_cli_usage_error("--to %s: %s", to, awq_ctx_errmsg(ctx));
    double t0 = awq_cli_now();
    awq_repack_result r;
    awq_status s = awq_repack(ctx, in, out, &p, &r);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, in); /* not "repack": the command says it */
    double el = awq_cli_now() - t0;
    const char *from = awq_format_get(r.in.format)->name;

    if (c.json) {
        cJSON *o = awq_json_repack(in, out, &r, el);
        if (!o) awq_cli_fail("out of memory");
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        char b[32];
        awq_cli_fmt_bytes(b, sizeof b, (double)r.bytes_written);
        printf("%s (%s, %d-bit, group size %d) -> %s (%s)\n", in, from, r.in.bits,
               r.in.group_size, out, fi->name);
        if (r.in.zeros_note[0]) printf("GPTQ zeros: %s\n", r.in.zeros_note);
        printf("%lld linears repacked, %lld tensors and %lld files copied, %s in %zu shard%s\n",
               (long long)r.n_linears, (long long)r.n_tensors_copied, (long long)r.n_files_copied,
               b, r.n_shards, r.n_shards == 1 ? "" : "s");
        if (r.n_lossy_groups)
            printf("lossy: %lld groups with zero point 0 re-quantized for gptq (v1): %lld "
                   "weights changed, largest change %.6g\n",
                   (long long)r.n_lossy_groups, (long long)r.n_changed_codes, r.max_abs_change);
        if (r.n_requantized)
            printf("lossy: %lld act-order linears re-quantized for AWQ, worst relative "
                   "error %.4g\n", (long long)r.n_requantized, r.max_requant_rel_err);
        if (!r.n_lossy_groups && !r.n_requantized) printf("lossless: every code, scale and zero point kept\n");
        awq_cli_print_elapsed(stdout, "done", el);
    }
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
