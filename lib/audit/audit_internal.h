/*
 * lib/audit/audit_internal.h — pieces shared by the audit's files:
 * measurement (measure.c), rendering (report.c, svg.c, html.c), orchestration
 * (audit.c). Not installed; tests include it for the helpers below.
 */
#ifndef AWQ_LIB_AUDIT_INTERNAL_H
#define AWQ_LIB_AUDIT_INTERNAL_H

#include "awqkit/audit.h"
#include "awqkit/checkpoint.h"
#include "core/core.h"
#include "quant/werr.h"

/* ------------------------------------------------------------ evaluation */

/* The FP16 reference of the KL pass: the source model, the evaluation ids
 * and (when it fits) the final hidden states of every window. */
typedef struct audit_ref {
    awq_model *m;              /* FP16 model (borrowed) */
    const int32_t *ids;        /* evaluation text ids (borrowed) */
    int64_t n_ids;
    awq_ppl_params pp;         /* seqlen, max_windows, add_bos, batch */
    int64_t n_windows;
    float *cache;              /* host [n_windows * seqlen * hidden] or NULL */
    bool cache_ready;
} audit_ref;

typedef struct audit_eval_out {
    double mean_nll, ppl, kl_mean, kl_max, top1;
    int64_t n_windows, n_predicted;
    double *window_nll;         /* [n_windows] mean NLL of each window;
                                   awq_alloc'd, the caller frees it */
} audit_eval_out;

/* Set up the reference (allocates the cache when it fits in cache_bytes). */
awq_status audit_ref_init(awq_ctx *ctx, audit_ref *ref, awq_model *fp,
                          const int32_t *ids, int64_t n_ids,
                          const awq_ppl_params *pp, uint64_t cache_bytes);
void audit_ref_free(audit_ref *ref);

/* Perplexity (awq_model_perplexity's windows, NLL and summation order, so
 * the value is the same), KL(FP16 || q) and top-1 agreement over the same
 * predicted tokens, window batch by window batch; logits are made in row
 * chunks, never for all windows at once. q may be ref->m (FP16 itself). */
awq_status audit_eval(awq_ctx *ctx, audit_ref *ref, awq_model *q,
                      audit_eval_out *out);

/* KL(p || q) in nats and whether the argmaxes agree, for one row of logits
 * (double accumulation; exactly 0 for identical rows). The oracle for the
 * row loop of audit_eval, exposed for the unit test. NaN when either row
 * holds a NaN or +-Inf logit (never 0: the caller reports it). */
double audit_row_kl(const float *lp, const float *lq, int64_t V, bool *agree);

/* Per-linear weight error: quant/werr.h (awq_weight_error). */

/* ------------------------------------------------------------- rendering */

/* Escape for XML / HTML text and attribute values. */
void audit_sb_xml(awq_strbuf *b, const char *s);
/* Escape a Markdown table cell ('|' and newlines). */
void audit_sb_md(awq_strbuf *b, const char *s);

/* "nice" axis ticks covering [lo, hi]: *n ticks from *t0 step *step
 * (n <= 12). */
void audit_nice_ticks(double lo, double hi, int max_ticks, double *t0,
                      double *step, int *n);

/* Sequential colour map for t in [0, 1] (clamped): "#rrggbb". */
void audit_colormap(double t, char out[8]);

/* Append the SVG of one chart to b (svg.c; report.html inlines it). */
awq_status audit_render_svg(awq_ctx *ctx, const awq_audit_result *r, awq_audit_chart chart,
                            awq_strbuf *b);

/* Hand the buffer to the caller as a NUL-terminated awq_free-able string. */
awq_status audit_sb_take(awq_ctx *ctx, awq_strbuf *b, char **out, size_t *len);

/* Shared between the renderers. */
bool audit_config_has_metrics(const awq_audit_config *c);
/* Pareto front over measured configurations (file size, perplexity);
 * front has r->n_configs entries. */
void audit_front(const awq_audit_result *r, bool *front);
/* A number: mode 'f' fixed with dec decimals, '+' the same signed, 'g'
 * dec significant digits, '%' 100*v fixed with a % sign; "-" when not
 * finite. */
void audit_fmt_num(char *buf, size_t n, double v, char mode, int dec);
/* Human byte count, e.g. "6.65 MB" (decimal) */
void audit_fmt_bytes(char *buf, size_t n, double bytes);
/* Short description of a configuration's group: "g128", "per-channel", "-". */
void audit_fmt_group(char *buf, size_t n, const awq_audit_spec *s);
/* |z| below this: the paired verdict is a tie (awq_audit_compare_rtn). */
#define AUDIT_TIE_Z 2.0



/* The definitions of the numbers (Markdown with **bold** and `code`),
 * shared by report.md and report.html. */
int audit_n_meanings(void);
const char *audit_meaning(int i);

#endif
