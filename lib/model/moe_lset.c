/* lib/model/moe_lset.c — the run-time linear set of a decoder layer (see
 * moe_lset.h). Names come from the architecture table only. */
#include "model/moe_lset.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shared expert's linears, as transformers names them in every MoE
 * family with a shared expert (the forward reads the same names). */
static const char *const k_shared_parts[3] = {"gate_proj", "up_proj", "down_proj"};

static bool layer_is_moe(const awq_model_config *c, int64_t layer) {
    return c->arch && c->arch->moe && awq_model_layer_moe(c, layer);
}

int awq_lset_count(const awq_model_config *c, int64_t layer) {
    if (!c->arch) return 0;
    int n = c->arch->n_linears;
    if (layer_is_moe(c, layer)) {
        n += 1 + 3 * (int)c->n_experts;
        if (c->arch->moe->shared_expert) n += c->arch->moe->shared_gate ? 4 : 3;
    }
    return n;
}

int awq_lset_expert_index(const awq_model_config *c, int64_t e, int part) {
    return c->arch->n_linears + 1 + 3 * (int)e + part;
}

bool awq_lset_get(const awq_model_config *c, int64_t layer, int i, awq_lset_item *o) {
    const awq_arch *a = c->arch;
    if (!a || i < 0 || i >= awq_lset_count(c, layer)) return false;
    memset(o, 0, sizeof *o);
    o->expert = -1;
    o->part = -1;
    if (i < a->n_linears) {
        const awq_linear_desc *d = &a->linears[i];
        snprintf(o->name, sizeof o->name, "%s", d->name);
        o->role = AWQ_LSET_TABLE;
        o->part = i;
        o->n_out = awq_model_dim(c, d->out_dim);
        o->n_in = awq_model_dim(c, d->in_dim);
        o->present = !layer_is_moe(c, layer) || awq_arch_linear_is_attn(a, i);
        o->packed = o->present;
        return true;
    }
    const awq_moe_desc *d = a->moe;
    int64_t it = i - a->n_linears, E = c->n_experts, H = c->hidden;
    int64_t I = c->moe_intermediate, SI = c->shared_intermediate;
    o->present = true;
    if (it == 0) {
        snprintf(o->name, sizeof o->name, "%s", d->router);
        o->role = AWQ_LSET_ROUTER;
        o->n_out = E;
        o->n_in = H;
        return true;
    }
    it--;
    if (it < 3 * E) {
        o->role = AWQ_LSET_EXPERT;
        o->expert = it / 3;
        o->part = (int)(it % 3);
        snprintf(o->name, sizeof o->name, "%s.%lld.%s", d->experts, (long long)o->expert,
                 d->expert_linears[o->part]);
        o->n_out = o->part == 2 ? H : I;
        o->n_in = o->part == 2 ? I : H;
        o->packed = true;
        return true;
    }
    it -= 3 * E;
    if (it < 3) {
        o->role = AWQ_LSET_SHARED;
        o->part = (int)it;
        snprintf(o->name, sizeof o->name, "%s.%s", d->shared_expert, k_shared_parts[it]);
        o->n_out = it == 2 ? H : SI;
        o->n_in = it == 2 ? SI : H;
        o->packed = true;
        return true;
    }
    o->role = AWQ_LSET_SHARED_GATE;
    snprintf(o->name, sizeof o->name, "%s", d->shared_gate);
    o->n_out = 1;
    o->n_in = H;
    return true;
}

/* rel == prefix + "." + rest: returns rest, else NULL. */
static const char *after(const char *rel, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(rel, prefix, n) == 0 && rel[n] == '.' ? rel + n + 1 : NULL;
}

int awq_lset_find(const awq_model_config *c, int64_t layer, const char *rel) {
    const awq_arch *a = c->arch;
    if (!a) return -1;
    bool moe = layer_is_moe(c, layer);
    for (int i = 0; i < a->n_linears; i++)
        if (!strcmp(rel, a->linears[i].name))
            return (!moe || awq_arch_linear_is_attn(a, i)) ? i : -1;
    if (!moe) return -1;
    const awq_moe_desc *d = a->moe;
    if (!strcmp(rel, d->router)) return a->n_linears;
    const char *r = after(rel, d->experts);
    if (r) {
        char *end;
        long long e = strtoll(r, &end, 10);
        if (end == r || *end != '.' || e < 0 || e >= c->n_experts) return -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(end + 1, d->expert_linears[k])) return awq_lset_expert_index(c, e, k);
        return -1;
    }
    if (d->shared_expert && (r = after(rel, d->shared_expert)) != NULL) {
        for (int k = 0; k < 3; k++)
            if (!strcmp(r, k_shared_parts[k])) return awq_lset_expert_index(c, c->n_experts, k);
        return -1;
    }
    if (d->shared_expert && d->shared_gate && !strcmp(rel, d->shared_gate))
        return awq_lset_expert_index(c, c->n_experts, 3);
    return -1;
}

float *awq_layer_lset_weight(awq_layer *l, int i, int64_t *n_out, int64_t *n_in) {
    const awq_model_config *c = awq_layer_model_config(l);
    awq_lset_item it;
    if (!awq_lset_get(c, awq_layer_index(l), i, &it) || !it.present) return NULL;
    if (it.role == AWQ_LSET_TABLE) return awq_layer_weight(l, i, n_out, n_in);
    awq_moe_weights *w = awq_layer_moe_weights(l);
    if (!w) return NULL;
    if (n_out) *n_out = it.n_out;
    if (n_in) *n_in = it.n_in;
    switch (it.role) {
    case AWQ_LSET_ROUTER: return w->router;
    case AWQ_LSET_EXPERT: return w->experts ? w->experts[it.expert * 3 + it.part] : NULL;
    case AWQ_LSET_SHARED: return w->shared[it.part];
    case AWQ_LSET_SHARED_GATE: return w->shared_gate;
    default: return NULL;
    }
}
