/*
 * awqkit/quantize.h — whole-model quantization: AWQ (activation-aware scale
 * search + clipping, AutoAWQ's defaults) or round-to-nearest, writing a
 * checkpoint that transformers / vLLM / SGLang load unchanged.
 *
 * Two steps, so a program can show the plan before the long part:
 *   awq_quantize_prepare()  opens the model, builds the calibration blocks
 *                           and computes the memory plan (fast);
 *   awq_quantize_run()      searches, quantizes and writes, layer by layer.
 *
 * Streaming: decoder layers are read from the mmap'd checkpoint one at a
 * time; peak memory is about one layer's fp32 weights plus the calibration
 * activations of that layer (awq_quantize_plan.peak_bytes).
 *
 * Resumable: each finished layer is stored durably under
 * OUT/.awqkit-partial/ together with a fingerprint of (model: config and
 * every byte of every tensor, calibration ids, options). With
 * params.resume a rerun after a crash, kill -9 or a stop continues after
 * the last finished layer (or only assembles, when all are finished); the
 * final checkpoint is bit-identical to an uninterrupted run. A mismatched
 * fingerprint is AWQ_ERR_MISMATCH.
 *
 * One writer per output: a job holds an exclusive lock on OUT/.awqkit-lock
 * from prepare to awq_quantize_job_free; another job (in this process or
 * another) into the same OUT fails in prepare with AWQ_ERR_EXISTS naming
 * the holder (pid, host, start time, command line).
 *
 * Nothing half-written: the checkpoint is assembled and verified in
 * OUT/.awqkit-partial/final and only then renamed into OUT (README.md,
 * "Guarantees"). A failed or cancelled run removes its temporaries and
 * keeps only the finished layers; one that fails before its first layer is
 * durable leaves OUT as it found it.
 *
 * Deterministic: the same inputs and options give byte-identical output
 * on the same machine, whatever the thread count.
 *
 * Thread-safety: a job is used by one thread at a time; it borrows ctx.
 */
#ifndef AWQKIT_QUANTIZE_H
#define AWQKIT_QUANTIZE_H

#include "awqkit/core.h"
#include "awqkit/quant.h"
#include "awqkit/runtime.h"
#include "awqkit/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values pinned (CLI --json). */
typedef enum awq_method {
    AWQ_METHOD_AWQ = 0,        /* activation-aware scales + clipping */
    AWQ_METHOD_RTN = 1         /* plain round-to-nearest (the baseline) */
} awq_method;

typedef enum awq_propagate {
    /* Layer i+1 sees the full-precision outputs of layer i (AutoAWQ,
     * llm-awq). */
    AWQ_PROPAGATE_FP = 0,
    /* Layer i+1 sees the outputs of the quantized layer i (llm-compressor):
     * later layers compensate for earlier quantization error. */
    AWQ_PROPAGATE_QUANTIZED = 1
} awq_propagate;

/* The family of scale candidates the search tries (values pinned; 0 and 1
 * read as the old bool). With x̄ the mean |activation| per input channel and
 * w̄ the mean group-normalised |weight|, candidate r of n is ratio r/n and
 *   plain: s = x̄^ratio                           (the AWQ paper, llm-awq;
 *                                                 ratio 0 is s = 1, RTN)
 *   duo:   s = x̄^ratio / (w̄^(1-ratio) + 1e-4)   (AutoAWQ's default)
 * BOTH is llm-compressor's duo_scaling="both": n_grid/2 ratios, each tried
 * plain then duo. Plain and both hold the identity among their candidates,
 * so the search's block loss never ends above RTN's; duo's ratio 0 is
 * s = 1/w̄, not the identity. awqkit defaults to plain: on the bundled model
 * it was the only family at or below RTN's perplexity in all six audited
 * configurations (BENCHMARKS.md); AWQ_DUO_ON reproduces AutoAWQ. */
typedef enum awq_duo_scaling {
    AWQ_DUO_OFF = 0,           /* plain */
    AWQ_DUO_ON = 1,            /* duo (AutoAWQ default) */
    AWQ_DUO_BOTH = 2           /* both families, n_grid/2 ratios each */
} awq_duo_scaling;

/* How the scale search evaluates a candidate's loss for a group whose block
 * is one linear (v -> o, up -> down): the loss is the mean of (x dW^T)^2
 * over tokens and outputs, dW = Q(W s)/s - W, which equals
 * tr(dW G dW^T) / (tokens * N) with G = X^T X built once per group. AUTO
 * takes the Gram form where a flop and memory model says it is cheaper
 * (lib/quant/awq_gram.h); both forms pick the same ratios up to the
 * rounding of near-ties (tests/unit/test_awq_gram.c). */
typedef enum awq_search_loss {
    AWQ_SEARCH_LOSS_AUTO = 0,
    AWQ_SEARCH_LOSS_DIRECT = 1,   /* candidate forward vs the FP output */
    AWQ_SEARCH_LOSS_GRAM = 2      /* tr(dW G dW^T) where the block allows */
} awq_search_loss;

/* Input precision of the GEMMs of quantize's layer forwards (fp32
 * accumulation always): the calibration forward (which captures the
 * linears' inputs and gives the next layer's input), the scale search's
 * candidate forwards and their references, the RTN baseline and the replay
 * of the quantized layer. The Gram forms and the clip search stay fp32.
 * BF16 needs oneDNN and AVX512-BF16/AMX on the CPU, or tensor cores on
 * CUDA; where unavailable everything runs fp32 (an info note). The default
 * is BF16, as the peers' fp16/bf16 forwards: its perplexity is within 0.1%
 * of the fp32 run's on the bundled model and the outlier models measured
 * (BENCHMARKS.md, "Reduced-precision search"); FP32 is the oracle of the
 * tests. */
typedef enum awq_search_precision {
    AWQ_PRECISION_FP32 = 0,
    AWQ_PRECISION_BF16 = 1
} awq_search_precision;

/* "off", "on", "both" (static strings). */
const char *awq_duo_scaling_name(awq_duo_scaling d);

typedef struct awq_quantize_params {
    awq_method method;         /* default AWQ_METHOD_AWQ */
    awq_quant_params quant;    /* bits 4, group 128, asymmetric */
    awq_qformat format;        /* default AWQ_QFMT_AWQ_GEMM */

    /* Calibration: text through the model's tokenizer (calib.path must be
     * set unless calib_tokens is), or pre-tokenized ids. */
    awq_calib_params calib;
    const char *calib_tokens;  /* ids file (see awq_calib_from_token_file) */

    /* Scale search (AWQ only). */
    int n_grid;                /* ratios r/n_grid, r = 0..n_grid-1; 20
                                  (BOTH: r/(n_grid/2), twice; needs >= 2) */
    awq_duo_scaling duo_scaling; /* candidate family; default AWQ_DUO_OFF */
    awq_search_loss search_loss; /* default AWQ_SEARCH_LOSS_AUTO */
    awq_search_precision precision; /* default AWQ_PRECISION_BF16 */
    /* The race of the candidates of a group searched through candidate
     * forwards (not the Gram form, whose cost does not depend on the
     * tokens). The calibration data is cut into stages of round(screen *
     * units) units (sequences; for an MoE group, rows of the block or of an
     * expert's routed tokens; at least one, at most all but one). Every
     * candidate runs the first stage (the screening); after each stage,
     * every candidate whose loss so far exceeds the leader's by more than
     * race_z standard errors of their paired difference (over segments of
     * 64 tokens, at least 8 of them) leaves the race, and after the first
     * one only the `finalists` lowest stay (0: no cap). The race ends when
     * one candidate is left, or after the last stage, where the lowest
     * loss over every unit wins. Those losses are the unscreened search's
     * (the same sums, stage by stage), so the pick is the unscreened one
     * unless the unscreened best was dropped. screen = 0: one stage, every
     * candidate on every unit. race_z = 0: no test (with finalists K: the
     * K lowest on the first stage finish). Defaults 0.125, 4 and 0,
     * chosen by measured picks and perplexity (BENCHMARKS.md, "Sixth
     * round"). The scale table's and the per-layer report's MSEs cover the
     * first stage's sequences (awq_quantize_report.report_seqs). */
    double screen;             /* in [0, 1); default 0.125 */
    double race_z;             /* in [0, 1000]; default 4 */
    int finalists;             /* in [0, 1000]; default 0 (no cap) */
    /* Clip search (AWQ only; never q/k, as AutoAWQ). */
    bool clip;                 /* default true */
    int clip_n_grid;           /* 20 */
    double clip_max_shrink;    /* 0.5: shrink steps 1.00 .. 0.55 */
    int clip_tokens;           /* sampled tokens, 512 */

    awq_propagate propagate;   /* default AWQ_PROPAGATE_FP */
    /* Calibration sequences processed together in each forward / loss
     * evaluation (0 = all at once). Bounds the search's scratch memory
     * (block outputs, the MLP's [tokens, intermediate] intermediates);
     * results depend on it only through the order of the loss sums. */
    int64_t chunk_seqs;
    /* Keep the calibration activations zstd-compressed in an unlinked
     * temporary file under OUT/.awqkit-partial instead of in memory: memory
     * then holds one chunk per activation slot (set chunk_seqs; default
     * 16 when 0). Slower (every candidate re-reads its inputs). */
    bool offload_activations;
    awq_runtime_params runtime;/* backend (cpu / cuda) */

    /* Output. */
    uint64_t max_shard_bytes;  /* default 5e9 */
    bool force;                /* overwrite a non-empty output directory */
    bool resume;               /* continue from OUT/.awqkit-partial */
    bool allow_lossy;          /* GPTQ v1: re-quantize zero-0 groups */
    bool keep_partial;         /* keep OUT/.awqkit-partial after success
                                  (tests); default false */
    /* Stop after this many layers were finished in this run (0 = no
     * limit) and return AWQ_ERR_CANCELLED, leaving the resumable state:
     * the crash half of the resume test, without a signal. */
    int64_t stop_after_layers;

    const char *dump_scales;   /* write searched scales/clips as JSON */
    const char *load_scales;   /* reuse scales/clips from such a JSON
                                  instead of searching */
} awq_quantize_params;

awq_quantize_params awq_quantize_default_params(void);

typedef struct awq_quantize_job awq_quantize_job;

/* What the job will do, known after prepare. */
typedef struct awq_quantize_plan {
    int64_t n_layers;
    int64_t n_blocks;          /* calibration blocks */
    int64_t seqlen;
    int64_t n_tokens;          /* n_blocks * seqlen */
    awq_calib_stats calib;     /* zero when calib_tokens was used */
    int64_t n_linears;         /* decoder linears */
    int64_t n_packable;        /* of which packed in the chosen format */
    uint64_t layer_weight_bytes; /* fp32 weights of the largest layer */
    uint64_t activation_bytes; /* calibration activations held at once */
    uint64_t peak_bytes;       /* estimated peak (weights + activations +
                                  scratch), host or GPU by backend */
    int64_t resume_from;       /* first layer this run computes (> 0 when
                                  resuming) */
    const char *skipped_groups; /* scaling groups not searched for this
                                  architecture and why (static; NULL) */
} awq_quantize_plan;

/* Open `model_dir` (a directory, or a .safetensors file with config.json
 * beside it), check the architecture (MoE and unknown architectures are
 * AWQ_ERR_UNSUPPORTED naming them), run every check that can run before
 * the work (options that pack no linear, output and dump paths, source
 * tensors the output could not hold: AWQ_ERR_INVALID_ARG / _MISMATCH /
 * _IO, with nothing written), take the output lock (creating out_dir),
 * check out_dir (non-empty without force, or holding more than resumable
 * progress with resume: AWQ_ERR_EXISTS), read every source byte (the
 * fingerprint; NaN/Inf in a floating tensor: AWQ_ERR_RANGE naming tensor
 * and element), build the calibration blocks and the plan. On failure the
 * lock is released and out_dir is left as it was. params and the strings
 * in it are copied. Cancellable (progress phases "source", "calibration"). */
awq_status awq_quantize_prepare(awq_ctx *ctx, const char *model_dir,
                                const char *out_dir,
                                const awq_quantize_params *params,
                                awq_quantize_job **out);
const awq_quantize_plan *awq_quantize_job_plan(const awq_quantize_job *job);
void awq_quantize_job_free(awq_quantize_job *job);

/* Per scaling group of one layer. */
typedef struct awq_group_report {
    int64_t layer;
    int group;                 /* index into the arch's groups */
    char name[64];             /* e.g. "input_layernorm->q,k,v" */
    bool searched;             /* false: skipped (GQA rule) or RTN */
    double ratio;              /* chosen ratio (r / n_grid) */
    bool duo;                  /* the chosen candidate is a duo one */
    double loss_rtn;           /* block output MSE with scale 1 */
    double loss_best;          /* with the chosen scales */
    bool fallback;             /* every candidate failed: scale 1 used */
} awq_group_report;

typedef struct awq_layer_report {
    int64_t layer;
    double mse_rtn;            /* layer output MSE vs FP, RTN weights */
    double mse_quant;          /* with the written (AWQ or RTN) weights */
    double seconds;
} awq_layer_report;

typedef struct awq_quantize_report {
    /* wall seconds per phase */
    double t_load, t_calib, t_forward, t_search, t_clip, t_pack, t_write,
        t_verify, t_total;
    int64_t n_layers;
    awq_layer_report *layers;  /* n_layers entries, owned */
    int64_t n_groups;
    awq_group_report *groups;  /* n_groups entries, owned */
    int64_t n_packed;          /* linears written packed */
    int64_t n_kept;            /* linears kept in the source dtype */
    uint64_t out_bytes;        /* tensor bytes written */
    size_t out_shards;
    uint64_t logical_in, logical_out; /* logical parameter counts */
    double bits_per_weight;    /* quantized linears' effective bits */
    int64_t resumed_from;      /* first layer computed by this run */
    /* The layers' mse_rtn / mse_quant cover the first report_seqs of the
     * calib_seqs calibration sequences: the race's first stage
     * (awq_quantize_params.screen; all of them with screen 0), for either
     * method. The checkpoint does not depend on it. */
    int64_t report_seqs, calib_seqs;
    /* Mixture-of-experts models (0 / NULL otherwise): calibration tokens
     * routed to each expert, expert_tokens[layer * n_experts + e] (-1 for a
     * dense layer), owned. An expert with fewer than moe_min_tokens is
     * starved: neutral up -> down scales, round-to-nearest. */
    int64_t n_experts;
    int64_t *expert_tokens;
    int64_t moe_min_tokens;
    int64_t n_starved;         /* starved (layer, expert) pairs */
} awq_quantize_report;

/* Run the job: layers, then the checkpoint assembled in the staging
 * directory and verified there (awq_verify's checks, and the logical
 * parameter count of the output equal to the input's: AWQ_ERR_INTERNAL
 * otherwise, with nothing written to out_dir), then published into out_dir
 * by renames, the completing file last. Progress goes to the context's
 * callback (phases "layer ...", "write", "verify", "publish"); a false
 * return stops the run at the next safe point with AWQ_ERR_CANCELLED and
 * the resumable state (publishing itself is not stopped). rep (optional)
 * is filled; free with awq_quantize_report_free. */
awq_status awq_quantize_run(awq_quantize_job *job, awq_quantize_report *rep);
void awq_quantize_report_free(awq_quantize_report *rep);

/* "awq" / "rtn", "fp" / "quantized" (static). */
const char *awq_method_name(awq_method m);
const char *awq_propagate_name(awq_propagate p);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_QUANTIZE_H */
