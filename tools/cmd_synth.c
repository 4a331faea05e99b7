/* tools/cmd_synth.c — `awqkit synth -o DIR`: write a synthetic checkpoint
 * of a given shape (library: include/awqkit/synth.h). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit synth -o DIR [options]\n\n"
            "Write a random Llama / Qwen2 / Qwen3 / Qwen2.5-VL checkpoint of a given shape,\n"
            "sharded like real ones, with a transformers-loadable config.json. Weights\n"
            "~ N(0, 0.02); LLM-like activation outliers (a few hidden channels with large\n"
            "norm weights and embedding columns, a few intermediate channels with large\n"
            "up_proj rows). Deterministic for a --seed, whatever --threads.\n\n"
            "Options:\n"
            "  -o, --output DIR        output directory (required)\n"
            "  --preset P              %s (default tiny)\n"
            "  --arch A                llama, qwen2, qwen3, qwen2.5-vl, phi3, gemma2, gemma3,\n"
            "                          gemma3-vl, mixtral, qwen2-moe, qwen3-moe, deepseek-v2,\n"
            "                          deepseek-v3 (default: the preset's)\n"
            "  --experts N --experts-per-tok K --moe-intermediate N --shared-intermediate N\n"
            "                          MoE shape (default 8 experts, top 2, width\n"
            "                          intermediate/4; Mixtral: intermediate)\n"
            "  --q-lora-rank N --kv-lora-rank N --qk-rope-head-dim N --qk-nope-head-dim N\n"
            "  --v-head-dim N          DeepSeek MLA widths (q-lora-rank 0: a plain q_proj;\n"
            "                          defaults 0, hidden/4, head_dim/2, head_dim/2, head_dim)\n"
            "  --first-k-dense N --shared-experts N\n"
            "                          DeepSeek: dense layers before the experts (default 0;\n"
            "                          --layers: all dense), shared experts (default 0)\n"
            "  --hidden N --intermediate N --layers N --heads N --kv-heads N\n"
            "  --head-dim N --vocab N  override the preset's dims\n"
            "  --tie / --no-tie        tie lm_head to the embeddings (default: preset's)\n"
            "  --dtype D               f16 (default) or bf16\n"
            "  --seed N                PRNG seed (default 0)\n"
            "  --outliers N            outlier channels (default 4; 0 = none)\n"
            "  --outlier-scale X       norm weight on outlier channels (default 20)\n"
            "  --max-shard-size SIZE   shard cap, e.g. 5GB (default), 200MB\n"
            "  --format F              fp16 (dense, default), awq, awq-gemv, gptq, gptq-v2:\n"
            "                          decoder linears packed with random codes / scales\n"
            "  --bits B                bits of a packed format (default 4)\n"
            "  --group-size G          group size of a packed format (default 128)\n"
            "  --zero-data             all-zero data as sparse files (instant, any size)\n"
            "  --force                 overwrite a checkpoint in DIR\n\n",
            awq_synth_preset_list());
    awq_cli_print_common_help(f);
    fprintf(f,
            "\nExamples:\n"
            "  awqkit synth -o /tmp/tiny --preset tiny --seed 1\n"
            "  awqkit synth -o /tmp/vl3b --preset qwen2.5-vl-3b --format awq --zero-data\n");
}

int awq_cmd_synth(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *out = NULL, *preset = "tiny", *arch = NULL, *dtype = NULL, *format = NULL;
    long long hidden = -1, inter = -1, layers = -1, heads = -1, kv = -1, hd = -1, vocab = -1;
    long long seed = 0, outliers = -1, bits = 4, group = 128;
    long long experts = -1, per_tok = -1, moe_inter = -1, shared_inter = -1;
    long long q_lora = -1, kv_lora = -1, rope_hd = -1, nope_hd = -1, v_hd = -1, first_dense = -1,
              n_shared = -1;
    double oscale = -1;
    uint64_t shard = 0;
    int tie = -1;
    bool zero = false, force = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "-o", &out)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--output", &out)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--preset", &preset)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--arch", &arch)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--hidden", 1, 1 << 16, &hidden)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--intermediate", 1, 1 << 18, &inter)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--layers", 1, 1024, &layers)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--heads", 1, 1024, &heads)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--kv-heads", 1, 1024, &kv)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--head-dim", 2, 1024, &hd)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--vocab", 1, 1 << 22, &vocab)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--dtype", &dtype)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--experts", 1, 1024, &experts)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--experts-per-tok", 1, 1024, &per_tok)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--moe-intermediate", 1, 1 << 18, &moe_inter)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--shared-intermediate", 1, 1 << 18, &shared_inter))
            continue;
        if (awq_cli_opt_int(argc, argv, &i, "--q-lora-rank", 0, 1 << 16, &q_lora)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--kv-lora-rank", 1, 1 << 16, &kv_lora)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--qk-rope-head-dim", 2, 1024, &rope_hd)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--qk-nope-head-dim", 1, 1024, &nope_hd)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--v-head-dim", 1, 1024, &v_hd)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--first-k-dense", 0, 1024, &first_dense)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--shared-experts", 0, 64, &n_shared)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--seed", 0, INT64_MAX, &seed)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--outliers", 0, AWQ_SYNTH_MAX_OUTLIERS, &outliers)) continue;
        if (awq_cli_opt_double(argc, argv, &i, "--outlier-scale", &oscale)) {
            if (!(oscale > 0 && oscale <= 1000))
                awq_cli_usage_error("option --outlier-scale: %g is out of range (0, 1000]", oscale);
            continue;
        }
        if (awq_cli_opt_bytes(argc, argv, &i, "--max-shard-size", &shard)) {
            if (!shard) awq_cli_usage_error("option --max-shard-size: must be > 0");
            continue;
        }
        if (awq_cli_opt_str(argc, argv, &i, "--format", &format)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--bits", 2, 8, &bits)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--group-size", -1, 1 << 20, &group)) {
            if (group == 0) awq_cli_usage_error("option --group-size: 0 is invalid (-1 = per channel)");
            continue;
        }
        if (strcmp(a, "--tie") == 0) {
            tie = 1;
            continue;
        }
        if (strcmp(a, "--no-tie") == 0) {
            tie = 0;
            continue;
        }
        if (strcmp(a, "--zero-data") == 0) {
            zero = true;
            continue;
        }
        if (strcmp(a, "--force") == 0) {
            force = true;
            continue;
        }
        if (a[0] == '-' && a[1]) awq_cli_usage_error("unknown option '%s'", a);
        awq_cli_usage_error("unexpected argument '%s' (the output goes after -o)", a);
    }
    if (!out) awq_cli_usage_error("missing -o DIR (the output directory)");

    awq_synth_params p = awq_synth_default_params();
    if (awq_synth_preset(NULL, preset, &p) != AWQ_OK)
        awq_cli_usage_error("option --preset: unknown preset '%s' (%s)", preset,
                            awq_synth_preset_list());
    if (arch) {
        static const char *const known[] = {"llama",  "qwen2",   "qwen3",     "qwen2.5-vl",
                                            "phi3",   "gemma2",  "gemma3",    "gemma3-vl",
                                            "mixtral", "qwen2-moe", "qwen3-moe",
                                            "deepseek-v2", "deepseek-v3"};
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= strcmp(arch, known[k]) == 0;
        if (!ok)
            awq_cli_usage_error("option --arch: unknown arch '%s' (llama, qwen2, qwen3, "
                                "qwen2.5-vl, phi3, gemma2, gemma3, gemma3-vl, mixtral, "
                                "qwen2-moe, qwen3-moe, deepseek-v2, deepseek-v3)", arch);
        p.arch = arch;
    }
    if (experts > 0) p.n_experts = experts;
    if (per_tok > 0) p.n_experts_per_tok = per_tok;
    if (moe_inter > 0) p.moe_intermediate = moe_inter;
    if (shared_inter > 0) p.shared_intermediate = shared_inter;
    if (q_lora >= 0) p.q_lora_rank = q_lora;
    if (kv_lora > 0) p.kv_lora_rank = kv_lora;
    if (rope_hd > 0) p.qk_rope_head_dim = rope_hd;
    if (nope_hd > 0) p.qk_nope_head_dim = nope_hd;
    if (v_hd > 0) p.v_head_dim = v_hd;
    if (first_dense >= 0) p.first_k_dense = first_dense;
    if (n_shared >= 0) p.n_shared_experts = n_shared;
    if (hidden > 0) p.hidden = hidden;
    if (inter > 0) p.intermediate = inter;
    if (layers > 0) p.n_layers = layers;
    if (heads > 0) p.n_heads = heads;
    if (kv > 0) p.n_kv_heads = kv;
    if (hd > 0) p.head_dim = hd;
    else if (hidden > 0 || heads > 0) p.head_dim = 0; /* derive from the new dims */
    if (vocab > 0) p.vocab = vocab;
    if (tie >= 0) p.tie_word_embeddings = tie == 1;
    if (dtype) {
        if (strcmp(dtype, "f16") == 0 || strcmp(dtype, "fp16") == 0 || strcmp(dtype, "float16") == 0)
            p.dtype = AWQ_DT_F16;
        else if (strcmp(dtype, "bf16") == 0 || strcmp(dtype, "bfloat16") == 0)
            p.dtype = AWQ_DT_BF16;
        else
            awq_cli_usage_error("option --dtype: '%s' is not f16 or bf16", dtype);
    }
    p.seed = (uint64_t)seed;
    if (outliers >= 0) p.n_outliers = (int)outliers;
    if (oscale > 0) p.outlier_scale = oscale;
    if (shard) p.max_shard_bytes = shard;
    if (format && strcmp(format, "fp16") != 0 && strcmp(format, "dense") != 0) {
        const awq_format_info *fi = awq_format_by_name(format);
        if (!fi)
            awq_cli_usage_error("option --format: unknown format '%s' (fp16, awq, awq-gemv, gptq, "
                                "gptq-v2)",
                                format);
        p.quantized = true;
        p.qformat = fi->id;
    }
    p.bits = (int)bits;
    p.group_size = (int)group;
    p.zero_data = zero;
    p.force = force;

    awq_ctx *ctx = awq_cli_ctx(&c);
    double t0 = awq_cli_now();
    awq_synth_result r;
    awq_status s = awq_synth_write(ctx, out, &p, &r);
    if (s == AWQ_ERR_INVALID_ARG) {
        /* a parameter combination the flags allowed but the library refuses */
        fprintf(stderr, "awqkit synth: %s\nTry 'awqkit synth --help'.\n", awq_ctx_errmsg(ctx));
        awq_cli_ctx_free(ctx);
        return AWQ_EXIT_USAGE;
    }
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, out);
    double el = awq_cli_now() - t0;
    if (c.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", out);
        cJSON_AddStringToObject(o, "arch", p.arch);
        cJSON_AddStringToObject(o, "format", p.quantized ? awq_format_get(p.qformat)->name : "fp16");
        cJSON_AddNumberToObject(o, "tensors", (double)r.n_tensors);
        cJSON_AddNumberToObject(o, "tensor_bytes", (double)r.tensor_bytes);
        cJSON_AddNumberToObject(o, "shards", (double)r.n_shards);
        cJSON_AddNumberToObject(o, "logical_params", (double)r.logical_params);
        cJSON_AddBoolToObject(o, "zero_data", p.zero_data);
        cJSON_AddNumberToObject(o, "seed", (double)p.seed);
        cJSON *oc = cJSON_AddArrayToObject(o, "outlier_channels");
        for (int i = 0; i < r.n_outliers; i++)
            cJSON_AddItemToArray(oc, cJSON_CreateNumber((double)r.outlier_channels[i]));
        cJSON *oi = cJSON_AddArrayToObject(o, "outlier_intermediate_channels");
        for (int i = 0; i < r.n_outliers; i++)
            cJSON_AddItemToArray(oi, cJSON_CreateNumber((double)r.outlier_inter_channels[i]));
        cJSON_AddNumberToObject(o, "seconds", el);
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        char b[32], n[32];
        awq_cli_fmt_bytes(b, sizeof b, (double)r.tensor_bytes);
        awq_cli_fmt_count(n, sizeof n, (double)r.logical_params);
        printf("wrote %s: %s %s, %s parameters, %llu tensors, %s in %zu shard%s%s\n", out, p.arch,
               p.quantized ? awq_format_get(p.qformat)->name : awq_dtype_name(p.dtype), n,
               (unsigned long long)r.n_tensors, b, r.n_shards, r.n_shards == 1 ? "" : "s",
               p.zero_data ? " (zero data, sparse)" : "");
        if (r.n_outliers) {
            printf("outlier channels (hidden):");
            for (int i = 0; i < r.n_outliers; i++) printf(" %lld", (long long)r.outlier_channels[i]);
            printf("\n");
        }
        awq_cli_print_elapsed(stdout, "done", el);
    }
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
