/*
 * lib/quant/ctconfig.c — compressed-tensors quantization_config: scheme
 * table and target / ignore matching (see ctconfig.h).
 */
#include "quant/ctconfig.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ct_pattern {
    char *text;                /* as written, "re:" included */
    pcre2_code *re;            /* for "re:" entries */
    int cls;                   /* class entry: 1 linear, 2 embedding, 3 other
                                  class; 0 = a name or a regex */
} ct_pattern;

typedef struct ct_group {
    awq_ct_scheme s;
    ct_pattern *targets;
    size_t n_targets;
} ct_group;

struct awq_ct_config {
    awq_ct_format format;
    ct_group *groups;
    size_t n_groups;
    ct_pattern *ignore;
    size_t n_ignore;
    pcre2_match_data *md;
};

static const struct {
    const char *name;
    awq_ct_format f;
} k_formats[] = {
    {"pack-quantized", AWQ_CT_FMT_PACK_QUANTIZED},
    {"naive-quantized", AWQ_CT_FMT_NAIVE_QUANTIZED},
    {"float-quantized", AWQ_CT_FMT_FLOAT_QUANTIZED},
    {"nvfp4-pack-quantized", AWQ_CT_FMT_NVFP4_PACK},
    {"mxfp4-pack-quantized", AWQ_CT_FMT_MXFP4_PACK},
    {"int-quantized", AWQ_CT_FMT_INT_QUANTIZED},
    {"dense", AWQ_CT_FMT_DENSE},
};

const char *awq_ct_format_name(awq_ct_format f) {
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k_formats); i++)
        if (k_formats[i].f == f) return k_formats[i].name;
    return "unknown";
}

static awq_ct_format format_from(const char *s) {
    for (size_t i = 0; s && i < AWQ_ARRAY_LEN(k_formats); i++)
        if (strcmp(k_formats[i].name, s) == 0) return k_formats[i].f;
    return AWQ_CT_FMT_UNKNOWN;
}

static void pattern_free(ct_pattern *p) {
    free(p->text);
    pcre2_code_free(p->re);
}

void awq_ct_config_free(awq_ct_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_groups; i++) {
        for (size_t j = 0; j < c->groups[i].n_targets; j++) pattern_free(&c->groups[i].targets[j]);
        free(c->groups[i].targets);
    }
    for (size_t j = 0; j < c->n_ignore; j++) pattern_free(&c->ignore[j]);
    free(c->groups);
    free(c->ignore);
    pcre2_match_data_free(c->md);
    free(c);
}

/* A class name: no dot, starts upper-case (module names are lower-case
 * paths: "lm_head", "model.layers.0.mlp"). */
static int class_of(const char *t) {
    if (strchr(t, '.') || !(t[0] >= 'A' && t[0] <= 'Z')) return 0;
    size_t n = strlen(t);
    if (n >= 6 && strcmp(t + n - 6, "Linear") == 0) return 1;
    if (strcmp(t, "LinearBase") == 0) return 1;
    if (n >= 9 && strcmp(t + n - 9, "Embedding") == 0) return 2;
    return 3;
}

static awq_status compile_list(awq_ctx *ctx, const cJSON *arr, const char *source,
                               const char *field, ct_pattern **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!arr || cJSON_IsNull(arr)) return AWQ_OK;
    const cJSON *single = cJSON_IsString(arr) ? arr : NULL;
    if (!single && !cJSON_IsArray(arr))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: quantization_config.%s must be a list of strings",
                        source, field);
    size_t n = single ? 1 : (size_t)cJSON_GetArraySize(arr);
    ct_pattern *p = calloc(n ? n : 1, sizeof *p);
    if (!p) return awq_fail_nomem(ctx, "compressed-tensors patterns", n * sizeof *p);
    *out = p;
    for (size_t i = 0; i < n; i++) {
        const cJSON *e = single ? single : cJSON_GetArrayItem(arr, (int)i);
        if (!cJSON_IsString(e))
            return awq_fail(ctx, AWQ_ERR_FORMAT,
                            "%s: quantization_config.%s[%zu] is not a string", source, field, i);
        p[i].text = strdup(e->valuestring);
        if (!p[i].text) return awq_fail_nomem(ctx, "pattern", strlen(e->valuestring));
        (*n_out)++;
        if (strncmp(e->valuestring, "re:", 3) == 0) {
            int err = 0;
            PCRE2_SIZE off = 0;
            /* re.match semantics: anchored at the start only. */
            p[i].re = pcre2_compile((PCRE2_SPTR)(e->valuestring + 3), PCRE2_ZERO_TERMINATED,
                                    PCRE2_ANCHORED | PCRE2_UTF, &err, &off, NULL);
            if (!p[i].re) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(err, msg, sizeof msg);
                return awq_fail(ctx, AWQ_ERR_FORMAT,
                                "%s: quantization_config.%s[%zu] \"%.120s\": bad regex at "
                                "offset %zu: %s",
                                source, field, i, e->valuestring, (size_t)off, (const char *)msg);
            }
        } else {
            p[i].cls = class_of(e->valuestring);
        }
    }
    return AWQ_OK;
}

static int get_int(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && v->valuedouble >= -1e6 && v->valuedouble <= 1e6 ? (int)v->valuedouble
                                                                                : 0;
}

static awq_status parse_weights(awq_ctx *ctx, const cJSON *w, const char *source,
                                const char *gname, awq_ct_scheme *s) {
    if (!cJSON_IsObject(w)) return AWQ_OK;
    s->has_weights = true;
    s->num_bits = get_int(w, "num_bits");
    if (s->num_bits < 1 || s->num_bits > 32)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: config_groups.%s.weights.num_bits must be 1..32 (got %d)", source,
                        gname, s->num_bits);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(w, "type");
    s->is_float = cJSON_IsString(t) && strcmp(t->valuestring, "float") == 0;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(w, "strategy");
    const char *sv = cJSON_IsString(st) ? st->valuestring : "";
    s->strategy = !strcmp(sv, "tensor")         ? AWQ_CT_STRAT_TENSOR
                  : !strcmp(sv, "channel")      ? AWQ_CT_STRAT_CHANNEL
                  : !strcmp(sv, "group")        ? AWQ_CT_STRAT_GROUP
                  : !strcmp(sv, "block")        ? AWQ_CT_STRAT_BLOCK
                  : !strcmp(sv, "tensor_group") ? AWQ_CT_STRAT_TENSOR_GROUP
                                                : AWQ_CT_STRAT_UNKNOWN;
    s->group_size = get_int(w, "group_size");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(w, "block_structure");
    if (cJSON_IsArray(bs) && cJSON_GetArraySize(bs) == 2) {
        for (int i = 0; i < 2; i++) {
            const cJSON *e = cJSON_GetArrayItem(bs, i);
            s->block[i] = cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 1e6
                              ? (int)e->valuedouble
                              : 0;
        }
    }
    const cJSON *sym = cJSON_GetObjectItemCaseSensitive(w, "symmetric");
    s->symmetric = !cJSON_IsBool(sym) || cJSON_IsTrue(sym); /* the library's default */
    const cJSON *ao = cJSON_GetObjectItemCaseSensitive(w, "actorder");
    s->actorder = cJSON_IsTrue(ao) || (cJSON_IsString(ao) && strcmp(ao->valuestring, "static") != 0);
    return AWQ_OK;
}

awq_status awq_ct_config_parse(awq_ctx *ctx, const cJSON *qc, const char *source,
                               awq_ct_config **out) {
    *out = NULL;
    awq_ct_config *c = calloc(1, sizeof *c);
    if (!c) return awq_fail_nomem(ctx, "compressed-tensors config", sizeof *c);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(qc, "format");
    c->format = format_from(cJSON_IsString(f) ? f->valuestring : NULL);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    awq_status st = AWQ_OK;
    if (groups && !cJSON_IsObject(groups)) {
        st = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: quantization_config.config_groups must be an object",
                      source);
        goto done;
    }
    size_t ng = groups ? (size_t)cJSON_GetArraySize(groups) : 0;
    c->groups = calloc(ng ? ng : 1, sizeof *c->groups);
    if (!c->groups) {
        st = awq_fail_nomem(ctx, "config_groups", ng * sizeof *c->groups);
        goto done;
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        ct_group *G = &c->groups[c->n_groups++];
        snprintf(G->s.name, sizeof G->s.name, "%s", g->string ? g->string : "?");
        if (!cJSON_IsObject(g)) {
            st = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: config_groups.%s must be an object", source,
                          G->s.name);
            goto done;
        }
        const cJSON *gf = cJSON_GetObjectItemCaseSensitive(g, "format");
        G->s.format = cJSON_IsString(gf) ? format_from(gf->valuestring) : c->format;
        char field[64];
        snprintf(field, sizeof field, "config_groups.%s.targets", G->s.name);
        if ((st = compile_list(ctx, cJSON_GetObjectItemCaseSensitive(g, "targets"), source, field,
                               &G->targets, &G->n_targets)) != AWQ_OK)
            goto done;
        if ((st = parse_weights(ctx, cJSON_GetObjectItemCaseSensitive(g, "weights"), source,
                                G->s.name, &G->s)) != AWQ_OK)
            goto done;
    }
    if ((st = compile_list(ctx, cJSON_GetObjectItemCaseSensitive(qc, "ignore"), source, "ignore",
                           &c->ignore, &c->n_ignore)) != AWQ_OK)
        goto done;
    c->md = pcre2_match_data_create(1, NULL);
    if (!c->md) st = awq_fail_nomem(ctx, "regex match data", 64);
done:
    if (st != AWQ_OK) {
        awq_ct_config_free(c);
        return st;
    }
    *out = c;
    return AWQ_OK;
}

size_t awq_ct_config_n_schemes(const awq_ct_config *c) { return c ? c->n_groups : 0; }
const awq_ct_scheme *awq_ct_config_scheme(const awq_ct_config *c, size_t i) {
    return c && i < c->n_groups ? &c->groups[i].s : NULL;
}
awq_ct_format awq_ct_config_format(const awq_ct_config *c) {
    return c ? c->format : AWQ_CT_FMT_UNKNOWN;
}

static bool matches(const awq_ct_config *c, const ct_pattern *p, const char *name,
                    awq_ct_module_kind kind) {
    if (p->re)
        return pcre2_match(p->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, c->md, NULL) >= 0;
    if (p->cls == 1) return kind == AWQ_CT_MOD_LINEAR;
    if (p->cls == 2) return kind == AWQ_CT_MOD_EMBEDDING;
    if (p->cls == 3) return false;
    return strcmp(p->text, name) == 0;
}

const awq_ct_scheme *awq_ct_scheme_for(const awq_ct_config *c, const char *module,
                                       awq_ct_module_kind kind) {
    if (!c) return NULL;
    for (size_t j = 0; j < c->n_ignore; j++)
        if (matches(c, &c->ignore[j], module, kind)) return NULL;
    for (size_t i = 0; i < c->n_groups; i++)
        for (size_t j = 0; j < c->groups[i].n_targets; j++)
            if (matches(c, &c->groups[i].targets[j], module, kind)) return &c->groups[i].s;
    return NULL;
}
