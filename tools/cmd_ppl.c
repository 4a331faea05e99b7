/* tools/cmd_ppl.c — `awqkit ppl MODEL --text FILE`: perplexity over
 * non-overlapping windows (the protocol is documented in lib/model/ppl.c
 * and include/awqkit/runtime.h). */
#include "cli.h"
#include "core/core.h" /* awq_alloc / awq_free */

#include <cjson/cJSON.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit ppl MODEL --text FILE [--seqlen N] [--max-chunks N] [--add-bos]\n"
            "                  [--batch N] [--device cpu|cuda[:N]] [--json] [--threads N]\n\n"
            "Perplexity of MODEL (FP16/BF16/FP32, or an AWQ / GPTQ / compressed-tensors\n"
            "quantized checkpoint: int4/int8 pack-quantized, FP8, NVFP4, int8 naive)\n"
            "on a text file, as the standard WikiText-2 scripts of AutoAWQ and GPTQ compute\n"
            "it, in float32 on the CPU:\n"
            "  1. FILE is read as bytes and tokenized as ONE text with MODEL's\n"
            "     tokenizer.json, without special tokens (so no BOS).\n"
            "  2. The ids are cut into consecutive non-overlapping windows of --seqlen\n"
            "     tokens; the tail that does not fill a window is dropped.\n"
            "  3. Each window is run on its own; its first token is context only, the\n"
            "     other seqlen - 1 tokens are predicted.\n"
            "  4. ppl = exp(mean NLL over all predicted tokens of all windows).\n"
            "With --add-bos every window is the model's BOS token followed by seqlen - 1\n"
            "text tokens (the text is cut into runs of seqlen - 1) and all seqlen - 1 text\n"
            "tokens are predicted, the first one from BOS alone.\n\n"
            "Options:\n"
            "  --text FILE       the evaluation text (e.g. wiki.test.raw)   [required]\n"
            "  --seqlen N        window length in tokens                    [2048]\n"
            "  --max-chunks N    evaluate only the first N windows          [all]\n"
            "  --add-bos         start every window with BOS (see above)\n"
            "  --batch N         windows run through each layer together    [auto]\n"
            "  --device D        cpu, or cuda[:N] when built with it\n"
            "                    [cuda when built with it and a GPU is present, else cpu]\n\n");
    awq_cli_print_common_help(f);
    fprintf(f,
            "\nExamples:\n"
            "  awqkit ppl data/tiny-llama --text data/text/wiki.test.raw --seqlen 256 "
            "--max-chunks 16\n"
            "  awqkit ppl Qwen2.5-0.5B-AWQ --text wiki.test.raw --json\n");
}

int awq_cmd_ppl(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *path = NULL, *text = NULL, *backend = NULL, *dev_flag = "--device";
    long long seqlen = 2048, max_chunks = 0, batch = 0;
    bool add_bos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--text", &text)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--seqlen", 2, 1 << 24, &seqlen)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--max-chunks", 1, 1LL << 40, &max_chunks))
            continue;
        if (awq_cli_opt_int(argc, argv, &i, "--batch", 1, 1 << 20, &batch)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--device", &backend)) {
            dev_flag = "--device";
            continue;
        }
        if (awq_cli_opt_str(argc, argv, &i, "--backend", &backend)) { /* older spelling */
            dev_flag = "--backend";
            continue;
        }
        if (strcmp(a, "--add-bos") == 0) {
            add_bos = true;
            continue;
        }
        awq_cli_positional(a, &path, "ppl takes one MODEL");
    }
    if (!path) awq_cli_usage_error("missing MODEL (a model directory or .safetensors file)");
    if (!text) awq_cli_usage_error("missing --text FILE (the text to evaluate)");
    path = awq_cli_model(path);
    awq_runtime_params rp = awq_runtime_default_params();
    /* No --device: the GPU when there is one, else the CPU. */
    bool auto_device = !backend && awq_built_with_cuda();
    if (backend) awq_cli_parse_device(dev_flag, backend, &rp.backend, &rp.device);
    else rp.backend = auto_device ? AWQ_BACKEND_CUDA : AWQ_BACKEND_CPU;

    awq_ctx *ctx = awq_cli_ctx(&c);
    double t0 = awq_cli_now();
    awq_checkpoint *ck = NULL;
    awq_status s = awq_checkpoint_open_model(ctx, path, &ck);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    awq_model *m = NULL;
    s = awq_model_open(ctx, ck, &rp, &m);
    if (s == AWQ_ERR_NO_DEVICE && auto_device) {
        if (!c.quiet)
            fprintf(stderr, "awqkit ppl: no usable GPU (%s); running on the CPU\n",
                    awq_ctx_errmsg(ctx));
        rp.backend = AWQ_BACKEND_CPU;
        s = awq_model_open(ctx, ck, &rp, &m);
    }
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    const awq_model_config *cfg = awq_model_get_config(m);

    awq_tokenizer *tok = NULL;
    const char *dir = awq_checkpoint_dir(ck);
    s = awq_tokenizer_load(ctx, dir, &tok);
    if (s == AWQ_ERR_NOT_FOUND)
        awq_cli_fail("%s has no tokenizer.json: ppl tokenizes --text with the model's own "
                     "tokenizer (the Hugging Face fast-tokenizer file)", dir);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, "tokenizer.json");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    s = awq_tokenizer_encode_file(tok, text, false, &ids, &n_ids);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, text);
    double t_tok = awq_cli_now() - t0;

    awq_ppl_params pp = awq_ppl_default_params();
    pp.seqlen = seqlen;
    pp.max_windows = max_chunks;
    pp.add_bos = add_bos;
    pp.batch = batch;
    int64_t nw = awq_ppl_n_windows((int64_t)n_ids, &pp);
    if (nw == 0) /* about the text, so named by it (not by MODEL) */
        awq_cli_fail("%s: the text has %zu tokens, fewer than one window of %lld%s; give more "
                     "text or a smaller --seqlen", text, n_ids,
                     (long long)(add_bos ? seqlen - 1 : seqlen), add_bos ? " (seqlen - 1 with BOS)" : "");
    double *per = awq_alloc((size_t)(nw ? nw : 1), sizeof(double));
    if (!per) awq_cli_fail("out of memory");
    awq_ppl_result res;
    s = awq_model_perplexity(m, ids, (int64_t)n_ids, &pp, &res, per);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    double total = awq_cli_now() - t0;
    int64_t per_window_text = add_bos ? seqlen - 1 : seqlen;
    int64_t all_windows = (int64_t)n_ids / per_window_text;
    int64_t dropped = (int64_t)n_ids - all_windows * per_window_text;

    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", path);
        cJSON_AddStringToObject(o, "architecture", cfg->architecture);
        cJSON_AddStringToObject(o, "text", text);
        cJSON_AddStringToObject(o, "backend", awq_backend_kind_name(rp.backend));
        cJSON_AddNumberToObject(o, "threads", awq_ctx_n_threads(ctx));
        cJSON_AddNumberToObject(o, "seqlen", (double)seqlen);
        cJSON_AddBoolToObject(o, "add_bos", add_bos);
        cJSON_AddNumberToObject(o, "n_tokens", (double)res.n_tokens_text);
        cJSON_AddNumberToObject(o, "n_windows_available", (double)all_windows);
        cJSON_AddNumberToObject(o, "n_windows", (double)res.n_windows);
        cJSON_AddNumberToObject(o, "n_predicted", (double)res.n_predicted);
        cJSON_AddNumberToObject(o, "mean_nll", res.mean_nll);
        cJSON_AddNumberToObject(o, "ppl", res.ppl);
        cJSON *pw = cJSON_AddArrayToObject(o, "window_mean_nll");
        for (int64_t w = 0; w < res.n_windows; w++)
            cJSON_AddItemToArray(pw, cJSON_CreateNumber(per[w]));
        cJSON *t = cJSON_AddObjectToObject(o, "seconds");
        cJSON_AddNumberToObject(t, "tokenize", t_tok);
        cJSON_AddNumberToObject(t, "forward", res.seconds);
        cJSON_AddNumberToObject(t, "total", total);
        cJSON_AddNumberToObject(o, "tokens_per_s", res.tokens_per_s);
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("awqkit ppl: %s (%s) on %s\n", path, cfg->architecture, text);
        printf("  tokens       %zu in the text, no special tokens%s\n", n_ids,
               add_bos ? " (BOS added per window)" : "");
        printf("  windows      %lld of %lld tokens%s (%lld available, tail of %lld tokens "
               "dropped)\n",
               (long long)res.n_windows, (long long)seqlen, add_bos ? " incl. BOS" : "",
               (long long)all_windows, (long long)dropped);
        printf("  perplexity   %.4f   (mean NLL %.6f nats over %lld predicted tokens)\n",
               res.ppl, res.mean_nll, (long long)res.n_predicted);
        printf("  speed        %.0f tokens/s (%s, %d threads)\n", res.tokens_per_s,
               awq_backend_kind_name(rp.backend), awq_ctx_n_threads(ctx));
        printf("  time         tokenize %.2f s, forward %.2f s\n", t_tok, res.seconds);
        if (!c.quiet) awq_cli_print_elapsed(stdout, "ppl", total);
    }
    awq_free(per);
    awq_free(ids);
    awq_tokenizer_free(tok);
    awq_model_free(m);
    awq_checkpoint_free(ck);
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
