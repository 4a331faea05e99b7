/* tools/cmd_verify.c — `awqkit verify DIR [--against FP16_DIR]`: structural
 * checks of a packed checkpoint and, against its source, parameter counts
 * and per-linear dequantization error (library: awq_verify in
 * lib/quant/verify.c). Exit 0 when everything passes, 1 otherwise. */
#include "cli.h"
#include "api/api_json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit verify DIR [--against FP16_DIR] [options]\n\n"
            "Check a packed (AWQ / GPTQ / compressed-tensors: pack-quantized, FP8\n"
            "float-quantized, NVFP4, int8 naive, mixed schemes) checkpoint:\n"
            "  - quantization_config agrees with the tensors (format, bits, group size,\n"
            "    GPTQ zero convention: a v1 label over true zeros is reported)\n"
            "  - every packed linear is complete and decodes: shapes, dtypes, zero fields,\n"
            "    g_idx in range (and desc_act set when g_idx is act-order), scales finite\n"
            "    and > 0, GEMV padding zero, bias [out_features]\n"
            "  - float tensors are finite\n"
            "With --against (the FP16/BF16 checkpoint it was made from):\n"
            "  - the same tensors (each dense linear.weight present as a packed linear)\n"
            "  - equal logical parameter counts (packed linears counted as in x out)\n"
            "  - per linear, the relative error of the dequantized weight,\n"
            "    ||W' - W|| / ||W||, and the same after the best rescaling of W's rows\n"
            "    and columns (AWQ scales a linear's input channels and folds the\n"
            "    inverse into the previous op: a norm, or up_proj / v_proj's output\n"
            "    rows); the rescaled error must stay within the bound\n"
            "  - compressed-tensors FP8 / NVFP4 weights: every source weight within\n"
            "    half the format's grid step of its stored code (times its scale)\n\n"
            "Options:\n"
            "  --against DIR       source checkpoint to compare with\n"
            "  --max-rel-err X     bound on the rescaled relative error per linear\n"
            "                      (default: 3x the round-to-nearest error of Gaussian\n"
            "                      weights for the bits / group size, capped at 0.9;\n"
            "                      0.36 for 4-bit, group 128)\n"
            "  --gptq-zeros MODE   read GPTQ zeros as auto (default), v1 or v2\n"
            "  --all               list every linear (default: the 10 worst)\n");
    awq_cli_print_common_help(f);
    fprintf(f, "\nExample:\n  awqkit verify Llama-3-8B-AWQ --against Llama-3-8B\n");
}

static int cmp_err(const void *a, const void *b) {
    const awq_verify_linear *x = *(const awq_verify_linear *const *)a,
                            *y = *(const awq_verify_linear *const *)b;
    return (x->rel_err_scaled < y->rel_err_scaled) - (x->rel_err_scaled > y->rel_err_scaled);
}

int awq_cmd_verify(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *dir = NULL, *zeros = NULL;
    bool all = false;
    awq_verify_params p = awq_verify_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--against", &p.against)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--gptq-zeros", &zeros)) continue;
        if (awq_cli_opt_double(argc, argv, &i, "--max-rel-err", &p.max_rel_err)) {
            if (!(p.max_rel_err > 0))
                awq_cli_usage_error("--max-rel-err: must be > 0 (got %g)", p.max_rel_err);
            continue;
        }
        if (strcmp(a, "--all") == 0) {
            all = true;
            continue;
        }
        awq_cli_positional(a, &dir, "verify takes one DIR");
    }
    if (!dir) awq_cli_usage_error("missing DIR (a packed checkpoint directory)");
    if (zeros) {
        if (strcmp(zeros, "auto") == 0) p.zeros = AWQ_ZEROS_AUTO;
        else if (strcmp(zeros, "v1") == 0) p.zeros = AWQ_ZEROS_AS_V1;
        else if (strcmp(zeros, "v2") == 0) p.zeros = AWQ_ZEROS_AS_V2;
        else awq_cli_usage_error("--gptq-zeros: expected auto, v1 or v2 (got '%s')", zeros);
    }

    dir = awq_cli_model(dir);
    if (p.against) p.against = awq_cli_model(p.against);

    awq_ctx *ctx = awq_cli_ctx(&c);
    double t0 = awq_cli_now();
    awq_verify_result r;
    awq_status s = awq_verify(ctx, dir, &p, &r);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, dir);
    double el = awq_cli_now() - t0;
    const bool fmt_known = r.q.bits != 0;

    /* worst first */
    const awq_verify_linear **order = malloc(sizeof *order * (size_t)(r.n_linears + 1));
    if (!order) awq_cli_fail("out of memory");
    for (int64_t i = 0; i < r.n_linears; i++) order[i] = &r.linears[i];
    if (r.have_against) qsort(order, (size_t)r.n_linears, sizeof *order, cmp_err);

    if (c.json) {
        cJSON *o = awq_json_verify(dir, &p, &r, el);
        if (!o) awq_cli_fail("out of memory");
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        if (fmt_known)
            printf("%s: %s, %d-bit, group size %d%s, %lld packed linears, %lld tensors\n", dir,
                   awq_format_get(r.q.format)->name, r.q.bits, r.q.group_size,
                   r.q.sym ? ", symmetric" : "", (long long)r.n_linears, (long long)r.n_tensors);
        else if (r.scheme[0])
            printf("%s: compressed-tensors (%s), %lld quantized linears, %lld tensors\n", dir,
                   r.scheme, (long long)r.n_linears, (long long)r.n_tensors);
        char a[32], b[32];
        awq_cli_fmt_count(a, sizeof a, (double)r.logical_params);
        printf("logical parameters: %s (%llu)", a, (unsigned long long)r.logical_params);
        if (r.have_against) {
            awq_cli_fmt_count(b, sizeof b, (double)r.against_logical_params);
            printf("; source %s (%llu): %s", b, (unsigned long long)r.against_logical_params,
                   r.params_equal ? "equal" : "DIFFERENT");
        }
        printf("\n");
        if (r.have_against && r.n_linears) {
            if (r.bound > 0)
                printf("relative error per linear (bound %.4f on the rescaled error%s):\n",
                       r.bound, r.scheme[0] ? " of integer codes" : "");
            if (r.scheme[0])
                printf("FP8 / NVFP4 codes: every source weight within half a grid step of its "
                       "code\n");
            printf("  %-56s %10s %10s\n", "linear", "rel_err", "rescaled");
            int64_t shown = all || r.n_linears < 10 ? r.n_linears : 10;
            for (int64_t i = 0; i < shown; i++) {
                const awq_verify_linear *l = order[i];
                printf("  %-56s %10.4f %10.4f %s", l->name, l->rel_err, l->rel_err_scaled,
                       l->ok ? "" : "FAIL");
                if (l->n_off_step >= 0)
                    printf("%s%lld off-step, worst %.2f half steps", l->ok ? "" : " ",
                           (long long)l->n_off_step, l->worst_step);
                printf("\n");
            }
            if (shown < r.n_linears)
                printf("  ... %lld more (--all lists them)\n", (long long)(r.n_linears - shown));
            printf("rescaled error: mean %.4f, worst %.4f\n", r.mean_rel_err_scaled,
                   r.max_rel_err_scaled);
        }
        for (int i = 0; i < r.n_problems; i++) printf("problem: %s\n", r.problems[i]);
        if (r.n_problems_total > r.n_problems)
            printf("... %lld more problems\n", (long long)(r.n_problems_total - r.n_problems));
        printf("%s\n", r.ok ? "verify: OK" : "verify: FAILED");
        awq_cli_print_elapsed(stdout, "checked", el);
    }
    free(order);
    bool ok = r.ok;
    awq_verify_result_free(&r);
    awq_cli_ctx_free(ctx);
    return ok ? AWQ_EXIT_OK : AWQ_EXIT_FAIL;
}
