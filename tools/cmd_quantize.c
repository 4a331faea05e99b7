/* tools/cmd_quantize.c — `awqkit quantize MODEL -o OUT`. */
#include "cli.h"
#include "api/api_json.h"

#include "awqkit/quantize.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void help(void) {
    printf(
        "Usage: awqkit quantize MODEL -o OUT [options]\n\n"
        "Quantize an FP16/BF16 Hugging Face checkpoint to 4-bit with AWQ (activation-aware\n"
        "weight quantization) and write a checkpoint that transformers, vLLM and SGLang\n"
        "load unchanged. Layers are streamed one at a time from the memory-mapped input;\n"
        "the output is written atomically and verified (logical parameter count).\n"
        "MODEL is a model directory or a .safetensors file (with config.json beside it).\n\n"
        "Method and format:\n"
        "  --method awq|rtn       AWQ search (default) or plain round-to-nearest\n"
        "  --format F             awq (AutoAWQ GEMM, default), awq-gemv, gptq, gptq-v2,\n"
        "                         compressed-tensors (pack-quantized, llm-compressor's)\n"
        "  --bits N               2, 3, 4 (default) or 8 (AWQ layouts: 4 only)\n"
        "  --group-size N         32, 64, 128 (default) or -1 (per channel)\n"
        "  --sym                  symmetric quantization (default: zero point)\n"
        "  --allow-lossy          GPTQ v1: re-quantize groups whose zero point is 0\n"
        "  --allow-unservable     write a layout no serving engine loads (GPTQ with zero\n"
        "                         points, AWQ GEMV); refused by default\n\n"
        "Calibration (AutoAWQ's recipe: documents in order, skip empty and longer than\n"
        "--seqlen, keep --samples, concatenate, cut into --seqlen blocks):\n"
        "  --calib FILE           .txt (blank-line separated), .jsonl, either .zst;\n"
        "                         default: the bundled WikiText-2 validation text\n"
        "  --text-field NAME      JSON Lines field (default text)\n"
        "  --samples N            documents to keep (default 128)\n"
        "  --seqlen N             block length in tokens (default 512)\n"
        "  --shuffle              shuffle documents (with --seed N, default 42)\n"
        "  --calib-tokens FILE    pre-tokenized ids (text or .npy) instead of text\n\n"
        "Search:\n"
        "  --n-grid N             scale ratios tried per group (default 20)\n"
        "  --duo-scaling off|on|both  the candidate scales:\n"
        "                         off  s = x_mean^r (default; the AWQ paper, llm-awq):\n"
        "                              r = 0 is plain RTN, so the search never ends\n"
        "                              above RTN's loss\n"
        "                         on   s = x_mean^r / w_mean^(1-r) (AutoAWQ's default)\n"
        "                         both n-grid/2 ratios of each (llm-compressor)\n"
        "                         (why off: BENCHMARKS.md, \"Which scale candidates\")\n"
        "  --no-duo-scaling       same as --duo-scaling off\n"
        "  --precision fp32|bf16  inputs of the GEMMs of every layer forward: the\n"
        "                         calibration forward, the search's candidates, the\n"
        "                         report's (fp32 accumulation; bf16 needs oneDNN +\n"
        "                         AVX512-BF16 or a GPU; else fp32 is used) (default\n"
        "                         bf16); on the CPU attention's p.v follows it\n"
        "                         (CUDA's attention stays fp32); the Gram losses and\n"
        "                         the clip search are fp32 either way\n"
        "  --screen F             race the scale candidates in stages of F of the\n"
        "                         calibration sequences: all run the first stage,\n"
        "                         and after each stage any candidate whose loss is\n"
        "                         above the leader's by more than --race-z standard\n"
        "                         errors (paired over 64-token segments) drops out;\n"
        "                         the last one left, or the lowest loss over every\n"
        "                         sequence, wins (default 0.125; 0 tries every\n"
        "                         candidate on every sequence). The scale table and\n"
        "                         the per-layer MSE report cover the first stage's\n"
        "                         sequences (BENCHMARKS.md, \"Sixth round\")\n"
        "  --race-z Z             the race's drop threshold in standard errors\n"
        "                         (default 4; 0: no test, the --finalists cap only)\n"
        "  --finalists K          at most K candidates stay after the first stage\n"
        "                         (default 0: no cap)\n"
        "  --no-clip              skip the clipping search\n"
        "  --clip-tokens N        tokens sampled for the clip search (default 512)\n"
        "  --propagate fp|quantized  next layer's inputs: FP outputs (default, AutoAWQ)\n"
        "                         or the quantized layer's outputs (llm-compressor)\n"
        "  --dump-scales FILE     write the searched scales and clips as JSON\n"
        "  --load-scales FILE     reuse scales/clips from such a file (no search)\n"
        "  --device cpu|cuda[:N]  compute device (default: cuda when this build has CUDA\n"
        "                         and a GPU is present, else cpu)\n"
        "  --chunk-seqs N         calibration sequences per forward/loss pass (default:\n"
        "                         all); smaller bounds scratch memory\n"
        "  --offload-activations  keep calibration activations zstd-compressed on disk\n"
        "                         (in OUT/.awqkit-partial), one chunk in memory\n\n"
        "Output:\n"
        "  -o, --output DIR       output directory (required; not the input)\n"
        "  --max-shard-size SIZE  shard size cap (default 5GB)\n"
        "  --force                overwrite a non-empty output directory\n"
        "  --resume               continue an interrupted run in DIR (same options)\n"
        "  --stop-after-layers N  stop (resumably) after N layers; for testing resume\n\n");
    awq_cli_print_common_help(stdout);
    printf("\nExamples:\n"
           "  awqkit quantize data/tiny-llama -o out/tiny-awq\n"
           "  awqkit quantize ~/models/Llama-2-7b-hf -o llama-7b-awq --samples 64\n"
           "  awqkit quantize MODEL -o OUT --method rtn --format gptq-v2\n");
}

typedef struct {
    const char *model, *out, *device;
    awq_quantize_params p;
    awq_cli_common common;
    /* the last text-calibration flag given (they mean nothing with
     * --calib-tokens) */
    const char *text_only_flag;
    bool allow_unservable;
} opts;

static void parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->p = awq_quantize_default_params();
    o->p.calib.path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        double d;
        uint64_t b;
        if (awq_cli_is_help(a)) {
            help();
            exit(AWQ_EXIT_OK);
        } else if (awq_cli_opt_common(argc, argv, &i, &o->common)) {
        } else if (awq_cli_opt_str(argc, argv, &i, "-o", &v) ||
                   awq_cli_opt_str(argc, argv, &i, "--output", &v)) {
            o->out = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--method", &v)) {
            if (!strcmp(v, "awq")) o->p.method = AWQ_METHOD_AWQ;
            else if (!strcmp(v, "rtn")) o->p.method = AWQ_METHOD_RTN;
            else awq_cli_usage_error("--method %s: expected awq or rtn", v);
        } else if (awq_cli_opt_str(argc, argv, &i, "--format", &v)) {
            const awq_format_info *f = awq_format_by_name(v);
            if (!f) awq_cli_usage_error("--format %s: expected awq, awq-gemv, gptq, gptq-v2 or "
                                    "compressed-tensors", v);
            o->p.format = f->id;
        } else if (awq_cli_opt_int(argc, argv, &i, "--bits", 2, 8, &n)) {
            if (n != 2 && n != 3 && n != 4 && n != 8)
                awq_cli_usage_error("--bits %lld: expected 2, 3, 4 or 8", n);
            o->p.quant.bits = (int)n;
        } else if (awq_cli_opt_int(argc, argv, &i, "--group-size", -1, 1 << 20, &n)) {
            if (n == 0 || n < -1) awq_cli_usage_error("--group-size %lld: expected > 0 or -1", n);
            o->p.quant.group_size = (int)n;
        } else if (!strcmp(a, "--sym")) {
            o->p.quant.sym = true;
        } else if (!strcmp(a, "--allow-lossy")) {
            o->p.allow_lossy = true;
        } else if (!strcmp(a, "--allow-unservable")) {
            o->allow_unservable = true;
        } else if (awq_cli_opt_str(argc, argv, &i, "--calib", &v)) {
            o->p.calib.path = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--text-field", &v)) {
            o->p.calib.text_field = v;
            o->text_only_flag = "--text-field";
        } else if (awq_cli_opt_int(argc, argv, &i, "--samples", 1, 1 << 24, &n)) {
            o->p.calib.n_samples = (int)n;
            o->text_only_flag = "--samples";
        } else if (awq_cli_opt_int(argc, argv, &i, "--seqlen", 2, 1 << 20, &n)) {
            o->p.calib.seqlen = (int)n;
        } else if (!strcmp(a, "--shuffle")) {
            o->p.calib.shuffle = true;
            o->text_only_flag = "--shuffle";
        } else if (awq_cli_opt_int(argc, argv, &i, "--seed", 0, (1LL << 62), &n)) {
            o->p.calib.seed = (uint64_t)n;
        } else if (awq_cli_opt_str(argc, argv, &i, "--calib-tokens", &v)) {
            o->p.calib_tokens = v;
        } else if (awq_cli_opt_int(argc, argv, &i, "--n-grid", 1, 1000, &n)) {
            o->p.n_grid = (int)n;
        } else if (awq_cli_opt_str(argc, argv, &i, "--precision", &v)) {
            if (!strcmp(v, "fp32")) o->p.precision = AWQ_PRECISION_FP32;
            else if (!strcmp(v, "bf16")) o->p.precision = AWQ_PRECISION_BF16;
            else awq_cli_usage_error("--precision %s: expected fp32 or bf16", v);
        } else if (!strcmp(a, "--no-duo-scaling")) {
            o->p.duo_scaling = AWQ_DUO_OFF;
        } else if (awq_cli_opt_str(argc, argv, &i, "--duo-scaling", &v)) {
            o->p.duo_scaling = awq_cli_parse_duo("--duo-scaling", v);
        } else if (!strcmp(a, "--no-clip")) {
            o->p.clip = false;
        } else if (awq_cli_opt_fraction(argc, argv, &i, "--screen", &o->p.screen)) {
        } else if (awq_cli_opt_double(argc, argv, &i, "--race-z", &o->p.race_z)) {
            if (!(o->p.race_z >= 0 && o->p.race_z <= 1000))
                awq_cli_usage_error("--race-z %g: expected standard errors in [0, 1000]",
                                    o->p.race_z);
        } else if (awq_cli_opt_int(argc, argv, &i, "--finalists", 0, 1000, &n)) {
            o->p.finalists = (int)n;
        } else if (awq_cli_opt_int(argc, argv, &i, "--clip-tokens", 1, 1 << 24, &n)) {
            o->p.clip_tokens = (int)n;
        } else if (awq_cli_opt_str(argc, argv, &i, "--propagate", &v)) {
            if (!strcmp(v, "fp")) o->p.propagate = AWQ_PROPAGATE_FP;
            else if (!strcmp(v, "quantized")) o->p.propagate = AWQ_PROPAGATE_QUANTIZED;
            else awq_cli_usage_error("--propagate %s: expected fp or quantized", v);
        } else if (awq_cli_opt_str(argc, argv, &i, "--dump-scales", &v)) {
            o->p.dump_scales = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--load-scales", &v)) {
            o->p.load_scales = v;
        } else if (awq_cli_opt_str(argc, argv, &i, "--device", &v)) {
            o->device = v;
            awq_cli_parse_device("--device", v, &o->p.runtime.backend, &o->p.runtime.device);
        } else if (awq_cli_opt_bytes(argc, argv, &i, "--max-shard-size", &b)) {
            if (b < 1024) awq_cli_usage_error("--max-shard-size: at least 1KiB (1024 bytes)");
            o->p.max_shard_bytes = b;
        } else if (awq_cli_opt_int(argc, argv, &i, "--chunk-seqs", 1, 1 << 24, &n)) {
            o->p.chunk_seqs = n;
        } else if (!strcmp(a, "--offload-activations")) {
            o->p.offload_activations = true;
        } else if (!strcmp(a, "--force")) {
            o->p.force = true;
        } else if (!strcmp(a, "--resume")) {
            o->p.resume = true;
        } else if (awq_cli_opt_int(argc, argv, &i, "--stop-after-layers", 1, 1 << 20, &n)) {
            o->p.stop_after_layers = n;
        } else if (awq_cli_opt_double(argc, argv, &i, "--clip-max-shrink", &d)) {
            if (!(d > 0 && d < 1)) awq_cli_usage_error("--clip-max-shrink: expected (0, 1)");
            o->p.clip_max_shrink = d;
        } else {
            awq_cli_positional(a, &o->model, "quantize takes one MODEL");
        }
    }
    if (!o->model) awq_cli_usage_error("missing MODEL (a model directory or .safetensors file)");
    if (!o->out) awq_cli_usage_error("missing -o OUT (the output directory)");
    if (!o->out[0]) awq_cli_usage_error("-o: empty path (give the output directory)");
    if (o->p.dump_scales && !o->p.dump_scales[0])
        awq_cli_usage_error("--dump-scales: empty path (give a file name)");
    if (o->p.calib_tokens && o->p.calib.path)
        awq_cli_usage_error("--calib and --calib-tokens are exclusive");
    /* Options that would be silently ignored are refused instead. */
    if (o->p.calib_tokens && o->text_only_flag)
        awq_cli_usage_error("%s shapes text calibration, but --calib-tokens gives the ids "
                            "as they are: drop one of the two",
                            o->text_only_flag);
    if (o->p.load_scales && o->p.method == AWQ_METHOD_RTN)
        awq_cli_usage_error("--load-scales applies searched AWQ scales, which --method rtn "
                            "never uses: drop one of the two");
    if (!o->p.calib_tokens && !o->p.calib.path) {
        o->p.calib.path = awq_default_calib_path();
        if (!o->p.calib.path)
            awq_cli_usage_error("no default calibration text found (no AWQKIT_CALIB, no "
                                "share/awqkit/text beside the program): pass --calib FILE");
    }
    if (o->p.calib.text_field == NULL) o->p.calib.text_field = "text";
    o->model = awq_cli_model(o->model);
    awq_cli_refuse_same_path(o->model, o->out, "-o");
}

static void fmt_mib(char *b, size_t n, uint64_t v) {
    snprintf(b, n, "%.1f MiB", (double)v / 1048576.0);
}

static void print_summary(const opts *o, const awq_quantize_report *r) {
    int ng = (int)(r->n_groups / (r->n_layers ? r->n_layers : 1));
    if (o->p.method == AWQ_METHOD_AWQ && ng > 0) {
        printf("\nScale search (ratio chosen%s; block-output MSE: RTN -> AWQ",
               o->p.duo_scaling == AWQ_DUO_BOTH ? ", d = duo / x = plain family" : "");
        if (r->report_seqs < r->calib_seqs)
            printf("; raced groups over the %lld first-stage sequences of %lld",
                   (long long)r->report_seqs,
                   (long long)r->calib_seqs);
        printf(")\n");
        printf("%-6s", "layer");
        for (int g = 0; g < ng; g++) printf("  %-34s", r->groups[g].name);
        printf("\n");
        for (int64_t i = 0; i < r->n_layers; i++) {
            printf("%-6lld", (long long)i);
            for (int g = 0; g < ng; g++) {
                const awq_group_report *gr = &r->groups[i * ng + g];
                char cell[64];
                if (gr->searched)
                    snprintf(cell, sizeof cell, "%.2f%s  %.3g -> %.3g", gr->ratio,
                             o->p.duo_scaling != AWQ_DUO_BOTH ? "" : gr->duo ? "d" : "x",
                             gr->loss_rtn, gr->loss_best);
                else
                    snprintf(cell, sizeof cell, "(skipped)");
                printf("  %-34s", cell);
            }
            printf("\n");
        }
    }
    if (r->expert_tokens) {
        /* mixture of experts: what each expert was calibrated on */
        printf("\nExperts: calibration tokens routed to each (* = starved, under %lld tokens: "
               "scale 1, round-to-nearest)\n", (long long)r->moe_min_tokens);
        for (int64_t i = 0; i < r->n_layers; i++) {
            const int64_t *et = r->expert_tokens + i * r->n_experts;
            if (r->n_experts <= 0 || et[0] < 0) continue; /* a dense layer */
            int64_t ns = 0;
            printf("%-6lld", (long long)i);
            for (int64_t e = 0; e < r->n_experts; e++) {
                bool st = et[e] < r->moe_min_tokens;
                ns += st;
                printf(" %lld%s", (long long)et[e], st ? "*" : "");
            }
            printf("  (%lld starved)\n", (long long)ns);
        }
    }
    printf("\nLayer output MSE vs FP16");
    if (r->report_seqs < r->calib_seqs)
        printf(" (over the %lld first-stage sequences of %lld; --screen 0: all)",
               (long long)r->report_seqs, (long long)r->calib_seqs);
    printf("\n%-6s  %-12s  %-12s  %s\n", "layer", "RTN",
           o->p.method == AWQ_METHOD_AWQ ? "AWQ" : "written", "ratio");
    for (int64_t i = 0; i < r->n_layers; i++) {
        const awq_layer_report *lr = &r->layers[i];
        printf("%-6lld  %-12.4g  %-12.4g  %.3f\n", (long long)i, lr->mse_rtn, lr->mse_quant,
               lr->mse_rtn > 0 ? lr->mse_quant / lr->mse_rtn : 0.0);
    }
    char b[64];
    awq_cli_fmt_bytes(b, sizeof b, (double)r->out_bytes);
    printf("\nOutput: %s in %zu shard(s), %lld linears packed, %lld kept, %.3f bits per "
           "quantized weight, %.0f logical parameters (= input)\n",
           b, r->out_shards, (long long)r->n_packed, (long long)r->n_kept, r->bits_per_weight,
           (double)r->logical_out);
    printf("Time: load %.2f s, forward %.2f s, search %.2f s, clip %.2f s, pack %.2f s, "
           "write %.2f s, verify %.2f s\n",
           r->t_load, r->t_forward, r->t_search, r->t_clip, r->t_pack, r->t_write, r->t_verify);
}

/* Stopped by SIGINT/SIGTERM: the library has removed its temporaries; say
 * what is left and die of the signal. */
static void exit_if_interrupted(const opts *o) {
    int sig = awq_cli_signal_received();
    if (!sig) return;
    fprintf(stderr,
            "awqkit quantize: interrupted (%s); temporary files removed. Finished layers, if "
            "any, are kept in %s/.awqkit-partial: rerun the same command with --resume to "
            "continue\n",
            sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal", o->out);
    awq_cli_exit_on_signal();
}

int awq_cmd_quantize(int argc, char **argv) {
    opts o;
    parse(argc, argv, &o);
    double t0 = awq_cli_now();
    awq_ctx *ctx = awq_cli_ctx(&o.common);
    awq_cli_stop_on_signals();
    awq_layout_desc lay = awq_layout_for_output(o.p.format, o.p.quant.bits, o.p.quant.sym);
    if (!o.allow_unservable && awq_check_servable(ctx, &lay) != AWQ_OK)
        awq_cli_usage_error("--format %s: %s", awq_format_get(o.p.format)->name, awq_ctx_errmsg(ctx));
    awq_quantize_job *job = NULL;
    /* No --device: the GPU when there is one, else the CPU. */
    bool auto_device = !o.device && awq_built_with_cuda();
    if (auto_device) o.p.runtime.backend = AWQ_BACKEND_CUDA;
    awq_status s = awq_quantize_prepare(ctx, o.model, o.out, &o.p, &job);
    if (s == AWQ_ERR_NO_DEVICE && auto_device) {
        if (!o.common.quiet)
            fprintf(stderr, "awqkit quantize: no usable GPU (%s); running on the CPU\n",
                    awq_ctx_errmsg(ctx));
        o.p.runtime.backend = AWQ_BACKEND_CPU;
        s = awq_quantize_prepare(ctx, o.model, o.out, &o.p, &job);
    }
    if (s != AWQ_OK) {
        exit_if_interrupted(&o);
        awq_cli_fail_status(ctx, s, o.model);
    }
    const awq_quantize_plan *pl = awq_quantize_job_plan(job);
    if (!o.common.json) {
        char w[32], act[32], peak[32];
        fmt_mib(w, sizeof w, pl->layer_weight_bytes);
        fmt_mib(act, sizeof act, pl->activation_bytes);
        fmt_mib(peak, sizeof peak, pl->peak_bytes);
        printf("awqkit quantize: %s -> %s (%s, %d-bit, group %d, %s, %s)\n", o.model, o.out,
               awq_method_name(o.p.method), o.p.quant.bits, o.p.quant.group_size,
               o.p.quant.sym ? "symmetric" : "zero point", awq_format_get(o.p.format)->name);
        if (o.p.calib_tokens) /* pre-tokenized: there are no documents to count */
            printf("calibration: %lld blocks x %lld tokens (pre-tokenized ids from %s)\n",
                   (long long)pl->n_blocks, (long long)pl->seqlen, o.p.calib_tokens);
        else
            printf("calibration: %lld blocks x %lld tokens (%llu of %llu documents kept)\n",
                   (long long)pl->n_blocks, (long long)pl->seqlen,
                   (unsigned long long)pl->calib.docs_kept, (unsigned long long)pl->calib.docs_read);
        printf("plan: %lld layers, %lld/%lld linears packable; memory: layer weights %s + "
               "activations %s, peak about %s\n",
               (long long)pl->n_layers, (long long)pl->n_packable, (long long)pl->n_linears, w,
               act, peak);
        if (pl->skipped_groups) printf("scaling groups skipped: %s\n", pl->skipped_groups);
        if (pl->resume_from > 0)
            printf("resuming after layer %lld\n", (long long)pl->resume_from - 1);
        fflush(stdout);
    }
    awq_quantize_report rep;
    s = awq_quantize_run(job, &rep);
    if (s != AWQ_OK) {
        awq_quantize_job_free(job);
        exit_if_interrupted(&o);
        awq_cli_fail_status(ctx, s, o.model);
    }
    if (o.common.json) {
        cJSON *j = awq_json_quantize(o.model, o.out, &o.p, pl, &rep);
        if (!j) awq_cli_fail("out of memory");
        awq_cli_print_json(j);
        cJSON_Delete(j);
    } else {
        print_summary(&o, &rep);
        awq_cli_print_elapsed(stdout, "quantized", awq_cli_now() - t0);
    }
    awq_quantize_report_free(&rep);
    awq_quantize_job_free(job);
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
