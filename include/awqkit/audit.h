/*
 * awqkit/audit.h — quantize one model under a grid of configurations and
 * measure each: size, perplexity, divergence from FP16, per-layer and
 * per-linear error, quantization time and whether it fits a GPU budget.
 *
 * Two steps:
 *   awq_audit_run()    quantizes the model once per configuration into
 *                      REPORT_DIR/checkpoints/<name>/, measures every
 *                      configuration (and any existing checkpoint passed in
 *                      params.compare) and fills an awq_audit_result;
 *   awq_audit_write()  renders that result as report.json, report.md,
 *                      report.html and three standalone .svg charts.
 * The renderers are also exposed one by one (awq_audit_render_*) and take
 * only the result struct, so a result built by hand renders the same way.
 *
 * What the numbers mean (also written into every report.md):
 *   file size        bytes of the checkpoint's safetensors files (headers
 *                    included), as `awqkit count` reports file_bytes.
 *   bits per weight  of the decoder linears: 8 x (qweight + qzeros + scales
 *                    + g_idx bytes) / logical weights (16 for FP16), as
 *                    `awqkit count` reports it.
 *   perplexity       exactly awq_model_perplexity's protocol and value
 *                    (`awqkit ppl` with the same --seqlen / --max-chunks /
 *                    --add-bos on the kept checkpoint prints the same).
 *   KL               mean over the predicted tokens of the same windows of
 *                    KL(P_fp16 || P_config) in nats, P the next-token
 *                    distribution (softmax of the logits, in double).
 *   top-1 agreement  fraction of those tokens where argmax P_config equals
 *                    argmax P_fp16 (first index on ties).
 *   layer output MSE the quantizer's own figure (awq_layer_report.mse_quant):
 *                    mean squared error of the decoder layer's output with
 *                    the written weights against the FP16 layer, both fed
 *                    the FP16 inputs of the calibration blocks. Only for
 *                    configurations quantized by the audit.
 *   weight error     per linear: ||W_eff - W||_F / ||W||_F, W the FP16
 *                    source weight, W_eff = diag(t) W' diag(u), W' the
 *                    dequantized stored weight and t (per output row), u
 *                    (per input column) positive factors minimising
 *                    ||W_eff - W|| (three rounds of alternating least
 *                    squares). AWQ multiplies input columns by s and folds
 *                    1/s into the previous norm (u = 1/s) or the previous
 *                    linear's output rows (t = s for up_proj / v_proj);
 *                    undoing both leaves the rounding and clipping error
 *                    the network sees, in the source's coordinates, for
 *                    any checkpoint (AWQ, GPTQ, ours or not). As a minimum
 *                    over rescalings it is about 1% below the plain error
 *                    when nothing was folded (RTN). "raw" is
 *                    ||W' - W|| / ||W|| with nothing undone.
 *                    Per layer: the same ratio over all linears of the
 *                    layer together (sqrt of summed squared errors over
 *                    summed squared weights).
 *   serving memory   awq_size_from_checkpoint's estimate (weights + KV
 *                    cache for the context, batch 1, FP16 KV + overhead)
 *                    for the configuration's format / bits / group size.
 *
 * Thread-safety: one call at a time per ctx (as the rest of the library).
 */
#ifndef AWQKIT_AUDIT_H
#define AWQKIT_AUDIT_H

#include "awqkit/core.h"
#include "awqkit/model.h"
#include "awqkit/quant.h"
#include "awqkit/quantize.h"
#include "awqkit/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AWQ_AUDIT_NAME_MAX 64      /* configuration names, NUL included */
#define AWQ_AUDIT_MAX_CONFIGS 64   /* grid + --compare */
#define AWQ_AUDIT_MAX_BUDGETS 16
#define AWQ_AUDIT_MAX_CONTEXTS 8
#define AWQ_AUDIT_WHY_MAX 512

/* ------------------------------------------------------- configurations */

/* Values pinned (report.json "kind"). */
typedef enum awq_audit_kind {
    AWQ_AUDIT_FP16 = 0,        /* the source model itself, unquantized */
    AWQ_AUDIT_QUANTIZED = 1,   /* quantized by the audit (RTN or AWQ) */
    AWQ_AUDIT_COMPARE = 2      /* an existing checkpoint (params.compare) */
} awq_audit_kind;

/* "fp16", "quantized", "compare" (static). */
const char *awq_audit_kind_name(awq_audit_kind k);

typedef struct awq_audit_spec {
    char name[AWQ_AUDIT_NAME_MAX]; /* canonical: "fp16", "awq-4-g128",
                                      "rtn-4-pc", "awq-3-g128", "cmp-<dir>" */
    awq_audit_kind kind;
    awq_method method;         /* QUANTIZED */
    int bits;                  /* 2, 3, 4, 8; FP16: 16; COMPARE: detected */
    int group_size;            /* > 0, -1 = per channel; FP16: 0 */
    awq_qformat format;        /* QUANTIZED: AWQ GEMM for 4 bits, GPTQ v2
                                  otherwise, unless a format suffix says */
    char path[4096];           /* COMPARE: the checkpoint directory */
} awq_audit_spec;

/* Parse one configuration name:
 *   fp16 | METHOD-BITS[bit]-GROUP[-FORMAT]
 *   METHOD rtn | awq;  BITS 2 | 3 | 4 | 8;  GROUP gN (N > 0) | pc | g-1
 *   FORMAT awq | awq-gemv | gptq | gptq-v2 (default: awq for 4 bits,
 *          gptq-v2 otherwise: the AWQ layouts are 4-bit only)
 * e.g. "awq-4-g128", "rtn-4bit-g64", "awq-4-pc", "rtn-3-g128",
 * "awq-4-g128-gptq-v2". The canonical name drops "bit" and a default
 * format. Bad names are AWQ_ERR_INVALID_ARG naming the part. */
awq_status awq_audit_parse_spec(awq_ctx *ctx, const char *text,
                                awq_audit_spec *out);

/* The default grid, a comma-separated list (static): FP16; RTN and AWQ at
 * 4-bit g128, g64, g32 and per channel; 3-bit g128; 8-bit g128. */
const char *awq_audit_default_grid(void);

/* ------------------------------------------------------------- params */

/* Stage callback: called when configuration `index` (0-based, of n) enters
 * a stage: "quantize", "evaluate", "weights", "done", "not applicable",
 * "failed". `name` and `stage` are valid during the call only. */
typedef void (*awq_audit_stage_fn)(void *user, int index, int n,
                                   const char *name, const char *stage);

typedef struct awq_audit_params {
    const char *configs;       /* comma-separated specs; NULL = default grid */
    const char *const *compare;/* existing checkpoints measured too */
    int n_compare;
    const char *text;          /* evaluation text (required), tokenized with
                                  the model's tokenizer, no special tokens */
    awq_ppl_params eval;       /* windows (seqlen 2048, max_windows, add_bos,
                                  batch) for perplexity, KL and top-1 */
    /* Template for the quantized configurations: calibration (calib.path
     * required), search options, runtime (also used for evaluation).
     * method, quant.bits / group_size, format, force and resume are set per
     * configuration. */
    awq_quantize_params quantize;
    bool keep_checkpoints;     /* keep REPORT_DIR/checkpoints/<name>
                                  (default true); false: each is removed
                                  once measured */
    bool force;                /* write into a non-empty REPORT_DIR */
    /* Configuration of the heat map; NULL = "awq-4-g128", falling back to
     * the first measured quantized configuration when absent. A name given
     * here must be in the grid (AWQ_ERR_INVALID_ARG otherwise). */
    const char *heatmap_config;
    int n_budgets;             /* GPU budgets in GiB: default 8 12 16 24 48 80 */
    double budgets_gib[AWQ_AUDIT_MAX_BUDGETS];
    int n_contexts;            /* KV-cache contexts: default 2048 8192 32768 */
    int64_t contexts[AWQ_AUDIT_MAX_CONTEXTS];
    /* FP16 final hidden states of all evaluation windows are kept (host
     * memory) when they fit in this many bytes, so the FP16 model runs
     * once; otherwise it runs again for every configuration. 1 GiB. */
    uint64_t fp_cache_bytes;
    awq_audit_stage_fn on_stage;
    void *stage_user;
} awq_audit_params;

awq_audit_params awq_audit_default_params(void);

/* ------------------------------------------------------------- result */

/* Values pinned (report.json "status"). */
typedef enum awq_audit_state {
    AWQ_AUDIT_MEASURED = 0,
    AWQ_AUDIT_NOT_APPLICABLE = 1, /* cannot be built (e.g. the group size
                                     does not divide a linear's K) */
    AWQ_AUDIT_FAILED = 2          /* building or measuring failed: `why` */
} awq_audit_state;

/* "ok", "not_applicable", "failed" (static). */
const char *awq_audit_state_name(awq_audit_state s);

typedef struct awq_audit_config {
    awq_audit_spec spec;
    awq_audit_state state;
    char why[AWQ_AUDIT_WHY_MAX];  /* reason (not applicable / failed) */
    char *path;                /* checkpoint measured (owned; NULL if none) */
    bool kept;                 /* path still exists after the run */
    char detected[24];         /* awq_ckpt_kind_name of the checkpoint */

    /* Size (awq_count of the checkpoint). */
    uint64_t file_bytes;
    uint64_t tensor_bytes;
    uint64_t logical_params;
    int64_t n_quant_linears;
    double bits_per_weight;    /* decoder linears (see top) */
    double bits_per_param;     /* 8 x tensor bytes / logical parameters */

    /* Quality over the evaluation windows. */
    double ppl, mean_nll;
    double kl_mean;            /* nats per predicted token */
    double kl_max;             /* largest per-token KL */
    double top1;               /* agreement rate in [0, 1] */
    int64_t n_predicted;
    /* Mean NLL of each evaluation window (result.n_windows entries; NULL
     * when not measured; owned): the paired AWQ-vs-RTN statistics. */
    double *window_nll;

    /* Wall seconds. */
    double quant_seconds;      /* quantization (QUANTIZED), else 0 */
    double eval_seconds;       /* perplexity + KL pass */
    double weight_seconds;     /* weight-error measurement */

    /* Per layer (result.n_layers entries) and per linear
     * ([layer * result.n_linears + j]); NULL when not measured. Owned. */
    double *layer_mse;         /* quantizer's output MSE (QUANTIZED) */
    double *layer_mse_rtn;     /* same layer with RTN weights (QUANTIZED) */
    int64_t mse_seqs, calib_seqs; /* the MSEs cover the first mse_seqs of the
                                     calib_seqs calibration sequences */
    double *layer_werr;        /* layer weight error, scale-corrected */
    double *lin_err;           /* scale-corrected (see top) */
    double *lin_err_raw;       /* as stored */

    /* Serving memory per result.contexts[i] (0 = unknown). */
    uint64_t predicted_weight_bytes; /* the size calculator's weights */
    uint64_t serving_bytes[AWQ_AUDIT_MAX_CONTEXTS];
} awq_audit_config;

typedef struct awq_audit_result {
    char version[64];          /* awq_version() */
    char *model;               /* owned strings (NULL allowed) */
    char *text;
    char *calib;
    char architecture[96];
    int64_t n_layers, hidden, vocab;
    uint64_t logical_params;   /* of the source model */
    int n_linears;             /* decoder linears per layer */
    char linear_names[AWQ_MAX_LINEARS][48]; /* "q_proj", ... */

    /* Options used. */
    awq_ppl_params eval;
    int calib_samples, calib_seqlen;
    int64_t calib_blocks;      /* of the last quantized configuration */
    int n_grid;
    double screen;             /* the search's race (quantize.h) */
    double race_z;
    int finalists;
    bool clip;
    awq_duo_scaling duo_scaling;
    char backend[16];
    int threads;
    bool keep_checkpoints;
    char heatmap[AWQ_AUDIT_NAME_MAX]; /* configuration shown ("" = none) */
    int n_budgets;
    double budgets_gib[AWQ_AUDIT_MAX_BUDGETS];
    int n_contexts;
    int64_t contexts[AWQ_AUDIT_MAX_CONTEXTS];
    uint64_t kv_bytes_per_token; /* FP16 KV cache, all layers */

    /* Evaluation windows. */
    int64_t n_text_tokens, n_windows, n_predicted;

    int n_configs;
    awq_audit_config *configs; /* owned (calloc'd array) */
    double seconds_total;
} awq_audit_result;

/* Run the audit of model_dir (a dense FP16/BF16 checkpoint of a supported
 * architecture) into report_dir. Everything is checked before the first
 * quantization: the grid parses, names are unique, each --compare
 * checkpoint has the model's architecture and dimensions (vocabulary,
 * hidden size, layers, heads, intermediate size; AWQ_ERR_MISMATCH naming
 * the field and both values otherwise), report_dir is empty or absent
 * unless params->force (AWQ_ERR_EXISTS), the texts exist. A configuration
 * that cannot be packed is recorded as not applicable with the reason; a
 * configuration whose quantization or measurement fails with a data error
 * is recorded as failed and the rest still run (out of memory, I/O errors
 * and cancellation stop the run). *out is filled (free with
 * awq_audit_result_free, also after a failure). Progress: the context's
 * callback, phases "audit" (configurations done), "evaluate" (windows),
 * "weights" (layers) and those of awq_quantize_run; params->on_stage for
 * stage changes. */
awq_status awq_audit_run(awq_ctx *ctx, const char *model_dir,
                         const char *report_dir,
                         const awq_audit_params *params,
                         awq_audit_result *out);
void awq_audit_result_free(awq_audit_result *r);

/* ----------------------------------------------------------- rendering */

typedef enum awq_audit_chart {
    AWQ_AUDIT_CHART_PPL_SIZE = 0,  /* perplexity vs file size, Pareto front */
    AWQ_AUDIT_CHART_KL_BPW = 1,    /* KL vs bits per weight */
    AWQ_AUDIT_CHART_HEATMAP = 2,   /* layers x linears weight error */
    AWQ_AUDIT_CHART_COUNT = 3
} awq_audit_chart;

/* File name of a chart in the report directory, e.g. "ppl_vs_size.svg"
 * (static; NULL out of range). */
const char *awq_audit_chart_file(awq_audit_chart c);

/* Pareto front for minimising both x and y: front[i] = true when no other
 * point j has x_j <= x_i and y_j <= y_i with one of them strictly smaller.
 * Points with a non-finite coordinate are never on the front and never
 * dominate. Equal points are all on the front. */
void awq_audit_pareto(int n, const double *x, const double *y, bool *front);

/* An AWQ configuration against its RTN twin (same bits, group size and
 * format), paired over the evaluation windows. nll_diff is the mean of the
 * per-window mean-NLL differences (AWQ - RTN, nats; every window predicts
 * the same number of tokens, so its sign is the perplexity comparison's),
 * nll_diff_se its standard error, z = nll_diff / nll_diff_se, and verdict
 * "better" (z <= -2), "worse" (z >= 2) or "tie" (static string). has_z is
 * false when either side lacks per-window NLL or there is one window; the
 * verdict is then "tie" and the z fields NaN. */
typedef struct awq_audit_comparison {
    const awq_audit_config *rtn;  /* the twin (points into r) */
    double ppl_diff;              /* AWQ ppl - RTN ppl */
    bool has_z;
    double nll_diff, nll_diff_se, z;
    const char *verdict;
} awq_audit_comparison;

/* Fills *out and returns true when c is a measured AWQ configuration of r
 * with a measured RTN twin; false otherwise. Pure; thread-safe. */
bool awq_audit_compare_rtn(const awq_audit_result *r, const awq_audit_config *c,
                           awq_audit_comparison *out);

/* Index of the heat map's configuration in r->configs (-1 when none is
 * measured with per-linear errors). */
int awq_audit_heatmap_index(const awq_audit_result *r);

/* Render r. *out is a NUL-terminated string of *len bytes (len may be
 * NULL), owned by the caller: free with awq_free. Strings from the result
 * (paths, names) are escaped for the target format. Charts are standalone
 * SVG documents (no scripts, no external references); every data point is
 * an element with class "pt" and data-name / data-x / data-y attributes,
 * Pareto-front points carry data-front="1", heat-map cells class "cell".
 * The HTML page embeds the three charts inline and the tables, with no
 * script and no network access. */
awq_status awq_audit_render_json(awq_ctx *ctx, const awq_audit_result *r,
                                 char **out, size_t *len);
awq_status awq_audit_render_markdown(awq_ctx *ctx, const awq_audit_result *r,
                                     char **out, size_t *len);
awq_status awq_audit_render_html(awq_ctx *ctx, const awq_audit_result *r,
                                 char **out, size_t *len);
awq_status awq_audit_render_svg(awq_ctx *ctx, const awq_audit_result *r,
                                awq_audit_chart chart, char **out,
                                size_t *len);

/* Write report.json, report.md, report.html and the three charts into
 * report_dir (created if needed), each file atomically. */
awq_status awq_audit_write(awq_ctx *ctx, const awq_audit_result *r,
                           const char *report_dir);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_AUDIT_H */
