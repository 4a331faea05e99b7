/* lib/quant/awq_search.h — the AWQ search on one decoder layer (internal).
 *
 * Written once against the backend ops (lib/backend/backend.h) and the
 * layer API (awqkit/runtime.h), so the CPU and the CUDA backends run the
 * same algorithm. Steps, as AutoAWQ (awq/quantize/quantizer.py):
 *   1. the FP layer runs with captures: the inputs of q/k/v, o, gate/up
 *      and down are stored (awq_search_forward), chunk by chunk;
 *   2. awq_search_layer: for each scaling group of the architecture, the
 *      ratio r/n_grid whose scales s minimise the block-output MSE of
 *      Q(W·s)/s, all groups searched on the unscaled layer (one-linear
 *      groups through the Gram form of lib/quant/awq_gram.h where cheaper;
 *      candidate forwards at p->precision, the backend back at fp32 on
 *      return; the candidates race over stages of the sequences, the
 *      clearly worse leaving early: awq_search_pick_run, awq_pick.c);
 *   3. awq_search_apply: fold s into the previous norm / linear, multiply
 *      the linears' input columns, divide the captured inputs;
 *   4. awq_search_clip: per (output row, group) max-abs clamp search for
 *      every linear but q/k, then clamp the weights.
 */
#ifndef AWQ_LIB_QUANT_AWQ_SEARCH_H
#define AWQ_LIB_QUANT_AWQ_SEARCH_H

#include "awqkit/quantize.h"
#include "awqkit/runtime.h"
#include "quant/actstore.h"

/* Activation slots of the store (lib/quant/actstore.h). */
enum {
    AWQ_SLOT_X = 0,            /* layer input [rows, hidden] */
    AWQ_SLOT_Y = 1,            /* FP layer output [rows, hidden] */
    AWQ_SLOT_CAP = 2,          /* + awq_capture_point: captured inputs (not
                                  AWQ_CAPTURE_MLP_OUT: see AWQ_SLOT_FP) */
    AWQ_SLOT_FP = AWQ_SLOT_CAP + AWQ_CAPTURE_COUNT, /* FP output of the block
                                                       being searched; after a
                                                       capturing forward, the
                                                       MLP's outputs */
    /* [rows, hidden] scratch (replay outputs). The same buffer as
     * AWQ_SLOT_FP: FP is live only inside one group's search, TMP only
     * after the layer's search and clip (quantize.c, step 6), so one
     * buffer serves both and peak memory is rows x hidden floats lower. */
    AWQ_SLOT_TMP = AWQ_SLOT_FP,
    AWQ_SLOT_COUNT
};

/* The calibration activations of the current layer, in chunks of whole
 * sequences (attention never crosses a sequence, so chunking is exact). */
typedef struct awq_search_acts {
    awq_act_store *st;
    int64_t B, T, rows;
    int64_t seqs_per_chunk;
    /* AWQ_SLOT_FP holds the dense MLP's FP outputs of every sequence, as
     * the capturing forward computed them: the reference of the groups
     * judged on that output (gate/up -> MLP, up -> down), which then need
     * no reference forward of their own. Cleared by anything else that
     * writes the slot. fp_mlp_bf16: its GEMMs took bf16 inputs (the
     * capture is used only by a search at the same precision). */
    bool fp_is_mlp_out, fp_mlp_bf16;
} awq_search_acts;

/* Create the store for the model's dims: B sequences of T tokens, chunks
 * of seqs_per_chunk sequences (0 = all), in memory or offloaded to `dir`. */
awq_status awq_search_acts_create(awq_model *m, int64_t B, int64_t T, int64_t seqs_per_chunk,
                                  bool offload, const char *dir, awq_search_acts *a);
void awq_search_acts_free(awq_search_acts *a);
/* Sequences in chunk c. */
int64_t awq_search_chunk_seqs(const awq_search_acts *a, int64_t c);

/* Run the layer over slot `in` into slot `out` chunk by chunk; with
 * capture, the four linear inputs are stored in the capture slots. */
awq_status awq_search_forward(awq_model *m, awq_layer *l, awq_search_acts *a, int in, int out,
                              bool capture);
/* The same over the first n_seqs sequences only (n_seqs <= B): the rest of
 * `out` is left as it was (the report's estimates, quantize.c). */
awq_status awq_search_forward_first(awq_model *m, awq_layer *l, awq_search_acts *a, int in,
                                    int out, bool capture, int64_t n_seqs);
/* Mean squared difference of two [rows, hidden] slots over all rows, or
 * over the rows of the first n_seqs sequences. */
awq_status awq_search_slot_mse(awq_model *m, awq_search_acts *a, int s1, int s2, double *mse);
awq_status awq_search_slot_mse_first(awq_model *m, awq_search_acts *a, int s1, int s2,
                                     int64_t n_seqs, double *mse);

/* The capture point whose buffer is the input of linear `lin`. */
awq_capture_point awq_search_point_of_linear(const awq_arch *a, int lin);

/* Result of the search on one layer (host memory, owned). */
typedef struct awq_layer_search {
    int n_groups;
    bool used[AWQ_MAX_GROUPS]; /* group applies to this layer */
    int64_t len[AWQ_MAX_GROUPS]; /* scale vector length (K of the linears) */
    float *scales[AWQ_MAX_GROUPS]; /* [len] (NULL when !used) */
    double *cand_loss[AWQ_MAX_GROUPS];      /* [n_cand[g]] every candidate's loss over
                                  all sequences, in the search's order
                                  (NaN: skipped or screened out) */
    double *screen_loss[AWQ_MAX_GROUPS];    /* [n_cand[g]] losses on the first-stage
                                  sequences (NaN: skipped); NULL unless
                                  the group was screened */
    double *screen_seg[AWQ_MAX_GROUPS];     /* [n_cand[g]][n_seg[g]] the first stage
                                  side's segment sums; NULL when none */
    int64_t n_seg[AWQ_MAX_GROUPS];
    int n_cand[AWQ_MAX_GROUPS];
    awq_group_report rep[AWQ_MAX_GROUPS];
    float *clip[AWQ_MAX_LINEARS]; /* [N, G] max |w| per (row, group); NULL
                                     when not clipped */
    int64_t clip_rows[AWQ_MAX_LINEARS], clip_groups[AWQ_MAX_LINEARS];
} awq_layer_search;

void awq_layer_search_free(awq_layer_search *s);

/* Step 2: search every group's scales on the (unscaled) layer. */
/* Progress: reported to the context as phase "layer i/L: <group>", units
 * of prog_base + groups done out of prog_total. */
awq_status awq_search_layer(awq_model *m, awq_layer *l, awq_search_acts *c,
                            const awq_quantize_params *p, awq_layer_search *out,
                            double *t_search, uint64_t prog_base, uint64_t prog_total);

/* Step 3: apply the searched scales (l and the captures are modified). */
awq_status awq_search_apply(awq_model *m, awq_layer *l, awq_search_acts *c,
                            const awq_layer_search *s);

/* Step 4: search (when s->clip[lin] is NULL and p->clip) and apply the
 * clamps for every linear except q/k. */
awq_status awq_search_clip(awq_model *m, awq_layer *l, awq_search_acts *c,
                           const awq_quantize_params *p, awq_layer_search *s);

/* The scale vector for ratio `ratio` (host): AutoAWQ's formula with the
 * sqrt(max*min) normalisation and non-finite entries set to 1. Exposed for
 * the unit tests. */
void awq_search_scales_ref(const float *x_mean, const float *w_mean, int64_t K,
                           double ratio, bool duo, float *s);
/* The search's candidates in the order they are tried: how many there are
 * for (mode, n_grid), and candidate i's ratio and family. ON / OFF: ratio
 * i/n_grid; BOTH (llm-compressor's order): ratio (i/2)/(n_grid/2), plain for
 * even i, duo for odd i. Ties keep the first. */
int awq_search_n_candidates(awq_duo_scaling mode, int n_grid);
void awq_search_candidate(awq_duo_scaling mode, int n_grid, int i, double *ratio, bool *duo);
/* ------------------------------------------------ the candidate loop
 * (lib/quant/awq_pick.c), shared by the dense and the MoE groups. */

/* The units of [u0, u0 + n) (a chunk's sequences, or rows) that fall in
 * [r0, r1): [u0 + *lo, u0 + *hi), empty when *lo >= *hi. */
static inline void awq_unit_range(int64_t r0, int64_t r1, int64_t u0, int64_t n, int64_t *lo,
                                  int64_t *hi) {
    int64_t a = r0 - u0, b = r1 - u0;
    *lo = a < 0 ? 0 : (a > n ? n : a);
    *hi = b < 0 ? 0 : (b > n ? n : b);
}

/* Tokens (rows) per segment of the race's paired samples. */
#define AWQ_SEG_TOKENS 64
/* The fewest paired segments the race drops a candidate on. */
#define AWQ_RACE_MIN_SEGS 8

/* A candidate's block loss accumulated over the race's stages. */
typedef struct awq_part_sum {
    double sse;                /* sum of squared errors */
    int64_t n;                 /* elements summed */
    /* When seg != NULL: each segment's sum of squared errors (at most
     * AWQ_SEG_TOKENS rows of one sequence or one chunk; the same cut for
     * every candidate of a group), appended at seg[n_seg++] in unit order.
     * The samples of the race's paired test (awq_pick.c); room for cap_seg. */
    double *seg;
    int64_t n_seg, cap_seg;
} awq_part_sum;

/* Adds the squared errors of y against fp (backend memory, rows x cols) to
 * *acc: with acc->seg, one sum per segment of AWQ_SEG_TOKENS rows, the
 * segments restarting every cut_rows rows (a sequence; 0: never), through
 * the backend's sq_err_segs where it has one; without, one mse. */
awq_status awq_race_add_sq_err(awq_model *m, const float *y, const float *fp, int64_t rows,
                               int64_t cols, int64_t cut_rows, awq_part_sum *acc);

/* A candidate's block loss over units [u0, u1) (sequences, or rows: the
 * caller's), ADDED to *acc (sse, n, and the segments when acc->seg; a form
 * whose loss is already a mean, the Gram form, adds its mean with n = 1
 * and is only ever asked for every unit, without segments). s: the
 * candidate's scales (host, K floats), NULL for the RTN baseline.
 * AWQ_ERR_RANGE skips the candidate (its scaled weights cannot be
 * quantized); any other error ends the search. */
typedef awq_status (*awq_cand_eval_fn)(void *user, const float *s, int64_t u0, int64_t u1,
                                       awq_part_sum *acc);

/* How the candidate loop may split a group's calibration data. */
typedef struct awq_race_plan {
    int64_t units;             /* sequences (dense) or rows (MoE) */
    int64_t stage;             /* units per stage (awq_search_screen_split);
                                  >= units: one stage, no race */
    int64_t cap_seg;           /* segments one candidate's units give at
                                  most; 0: the eval gives none (no test,
                                  the cap `finalists` alone) */
} awq_race_plan;

/* The race's stage length in units of B for n_cand candidates: the first
 * stage, units [0, split), screens every candidate; split == B means one
 * stage (screen 0, no more candidates than a cap of `finalists`, or one
 * unit). */
int64_t awq_search_screen_split(const awq_quantize_params *p, int n_cand, int64_t B);
/* The candidate loop's expected work in forwards over all B units: every
 * candidate and RTN on the first stage, then about two candidates (the
 * race's usual end, BENCHMARKS.md "Sixth round") or the cap on the rest
 * (1 + n_cand without a race). For the Gram cost model. */
double awq_search_direct_evals(const awq_quantize_params *p, int n_cand, int64_t B);

/* The loop's results (owned; awq_search_pick_free). */
typedef struct awq_search_pick {
    float *scales;             /* [K] the winner's scales (1 on fallback) */
    double *cand_loss;         /* [n_cand] loss over every unit; NaN:
                                  skipped, or dropped from the race */
    double *screen_loss;       /* [n_cand] first-stage losses (NaN:
                                  skipped); NULL unless raced */
    double *screen_seg;        /* [n_cand][n_seg] first-stage segment sums
                                  (NaN: skipped); NULL without segments */
    int64_t n_seg;
    int n_cand;
    int n_evals;               /* candidate evaluations on the first stage */
    int n_finished;            /* candidates that ran every stage */
    int n_stages, last_stage;  /* stages; the last one run (0-based) */
} awq_search_pick;

/* RTN baseline, candidates, the race, pick: fills rep's loss_rtn,
 * loss_best (over the first stage's units: every unit without a race),
 * ratio, duo, fallback, searched. `what` names the group in messages. */
awq_status awq_search_pick_run(awq_ctx *ctx, const awq_quantize_params *p, const float *xm,
                               const float *wm, int64_t K, const awq_race_plan *plan,
                               awq_cand_eval_fn eval, void *user, const char *what,
                               awq_group_report *rep, awq_search_pick *out);
void awq_search_pick_free(awq_search_pick *pk); /* NULL ok */

/* w_mean of AutoAWQ: |W| divided by its group's max |W| (+1e-6), averaged
 * over all rows of all the group's linears (host arrays, each [N_j, K]). */
void awq_search_w_mean_ref(const float *const *w, const int64_t *n_rows,
                           int n_w, int64_t K, int64_t group_len,
                           float *w_mean);

#endif
