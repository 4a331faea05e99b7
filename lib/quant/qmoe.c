/* lib/quant/qmoe.c — the quantize pipeline's mixture-of-experts
 * bookkeeping: tokens per expert in the report and the log, the MoE groups
 * in the per-layer group reports (see quantize_job.h). */
#include "core/core.h"
#include "quant/awq_search.h"
#include "quant/moe_awq.h"
#include "quant/quantize_job.h"

#include <stdlib.h>
#include <string.h>

awq_status awq_qz_moe_report_init(awq_quantize_job *job, awq_quantize_report *rep) {
    const awq_model_config *c = &job->cfg;
    if (!c->arch || !c->arch->moe) return AWQ_OK;
    int64_t n = c->n_layers * c->n_experts;
    rep->expert_tokens = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!rep->expert_tokens) return awq_fail_nomem(job->ctx, "expert report", (uint64_t)n * 8);
    for (int64_t i = 0; i < n; i++) rep->expert_tokens[i] = -1;
    rep->n_experts = c->n_experts;
    rep->moe_min_tokens = AWQ_MOE_MIN_SEARCH_TOKENS;
    return AWQ_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void awq_qz_moe_note(awq_quantize_job *job, int64_t layer, const awq_moe_search *ms,
                     awq_layer_search *srch, awq_quantize_report *rep) {
    const awq_model_config *c = &job->cfg;
    const awq_arch *a = c->arch;
    const int64_t E = ms->n_experts;
    if (rep->expert_tokens && E == rep->n_experts) {
        memcpy(rep->expert_tokens + layer * E, ms->tokens, (size_t)E * sizeof(int64_t));
        rep->n_starved += ms->n_starved;
    }
    /* The table's MLP groups (norm -> gate/up, up -> down) have no dense
     * linears in a MoE layer: their report slots carry the MoE groups. */
    for (int g = 0; g < a->n_groups && g < 4; g++) {
        const awq_scale_group *gr = &a->groups[g];
        if (awq_arch_linear_is_attn(a, gr->linears[0])) continue;
        awq_group_report *r = &srch->rep[g];
        if (gr->prev_norm) {
            *r = ms->norm_rep;
        } else if (ms->n_down_searched > 0) {
            double n = (double)ms->n_down_searched;
            memset(r, 0, sizeof *r);
            snprintf(r->name, sizeof r->name, "experts up->down (mean of %lld)",
                     (long long)ms->n_down_searched);
            r->searched = true;
            r->ratio = ms->down_ratio_sum / n;
            r->loss_rtn = ms->down_loss_rtn_sum / n;
            r->loss_best = ms->down_loss_best_sum / n;
        }
        r->layer = layer;
        r->group = g;
    }
    /* the log: tokens per expert, the starved ones */
    int64_t *sorted = malloc((size_t)(E > 0 ? E : 1) * sizeof(int64_t));
    char *list = malloc((size_t)(E > 0 ? E : 1) * 24 + 1);
    char *starved = malloc((size_t)(E > 0 ? E : 1) * 24 + 1);
    if (!sorted || !list || !starved) {
        free(sorted);
        free(list);
        free(starved);
        return;
    }
    size_t pl = 0, ps = 0;
    list[0] = starved[0] = 0;
    for (int64_t e = 0; e < E; e++) {
        pl += (size_t)snprintf(list + pl, 24, "%s%lld", e ? " " : "", (long long)ms->tokens[e]);
        if (ms->tokens[e] < AWQ_MOE_MIN_SEARCH_TOKENS)
            ps += (size_t)snprintf(starved + ps, 24, "%s%lld", ps ? "," : "", (long long)e);
    }
    memcpy(sorted, ms->tokens, (size_t)E * sizeof(int64_t));
    qsort(sorted, (size_t)E, sizeof(int64_t), cmp_i64);
    awq_info(job->ctx, "layer %lld: %lld experts saw %lld..%lld calibration tokens (median %lld); "
             "%lld starved (< %d tokens: scale 1, round-to-nearest)%s%s",
             (long long)layer, (long long)E, (long long)(E ? sorted[0] : 0),
             (long long)(E ? sorted[E - 1] : 0), (long long)(E ? sorted[E / 2] : 0),
             (long long)ms->n_starved, AWQ_MOE_MIN_SEARCH_TOKENS, ps ? ": experts " : "",
             starved);
    awq_info(job->ctx, "layer %lld: tokens per expert: %s", (long long)layer, list);
    free(sorted);
    free(list);
    free(starved);
}
