/*
 * lib/quant/ctconfig.c — compressed-tensors quantization_config: parse,
 * scheme table, target / ignore matching, and which commands can take a
 * config (see ctconfig.h).
 */
#include "quant/ctconfig.h"

#include "core/core.h"
#include "quant/layouts.h"

#include "awqkit/checkpoint.h"

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
    char source[1100];         /* for messages */
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
    if (!cJSON_IsArray(arr))
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: quantization_config.%s is not a list of strings", source, field);
    size_t n = (size_t)cJSON_GetArraySize(arr);
    ct_pattern *p = calloc(n ? n : 1, sizeof *p);
    if (!p) return awq_fail_nomem(ctx, "compressed-tensors patterns", n * sizeof *p);
    *out = p;
    for (size_t i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(arr, (int)i);
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

static const char *const k_strategies[] = {"unknown", "tensor", "channel", "group", "block",
                                           "tensor_group"};

const char *awq_ct_strategy_name(awq_ct_strategy s) {
    return (unsigned)s < AWQ_ARRAY_LEN(k_strategies) ? k_strategies[s] : "unknown";
}

/* QuantizationArgs with its defaults: num_bits 8, type int, symmetric
 * true, strategy implied by group_size (validate_model_after). */
static awq_status parse_weights(awq_ctx *ctx, const cJSON *w, const char *source,
                                awq_ct_scheme *s) {
    if (!w || cJSON_IsNull(w)) return AWQ_OK;
    if (!cJSON_IsObject(w))
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: quantization_config.config_groups.%s.weights is not an object",
                        source, s->name);
    s->has_weights = true;
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(w, "num_bits");
    s->num_bits = 8;
    if (nb && !cJSON_IsNull(nb)) {
        if (!cJSON_IsNumber(nb) || nb->valuedouble < 1 || nb->valuedouble > 32 ||
            nb->valuedouble != (double)(int)nb->valuedouble)
            return awq_fail(ctx, AWQ_ERR_FORMAT,
                            "%s: config_groups.%s.weights.num_bits must be an integer in 1..32",
                            source, s->name);
        s->num_bits = (int)nb->valuedouble;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(w, "type");
    s->is_float = cJSON_IsString(t) && strcmp(t->valuestring, "float") == 0;
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(w, "group_size");
    if (cJSON_IsNumber(gs)) {
        if (gs->valuedouble < 1 || gs->valuedouble > 1e9)
            return awq_fail(ctx, AWQ_ERR_FORMAT,
                            "%s: config_groups.%s.weights.group_size %g is not positive", source,
                            s->name, gs->valuedouble);
        s->group_size = (int)gs->valuedouble;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(w, "strategy");
    if (cJSON_IsString(st)) {
        s->strategy = AWQ_CT_STRAT_UNKNOWN;
        for (size_t i = 1; i < AWQ_ARRAY_LEN(k_strategies); i++)
            if (strcmp(st->valuestring, k_strategies[i]) == 0) s->strategy = (awq_ct_strategy)i;
    } else {
        s->strategy = s->group_size > 0 ? AWQ_CT_STRAT_GROUP : AWQ_CT_STRAT_TENSOR;
    }
    if (s->strategy == AWQ_CT_STRAT_CHANNEL) s->group_size = -1;
    else if (s->strategy != AWQ_CT_STRAT_GROUP && s->strategy != AWQ_CT_STRAT_TENSOR_GROUP)
        s->group_size = 0;
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
    s->symmetric = !cJSON_IsBool(sym) || cJSON_IsTrue(sym);
    /* "group" stores weight_g_idx; "weight" / "static" reorder while
     * quantizing and store nothing extra */
    const cJSON *ao = cJSON_GetObjectItemCaseSensitive(w, "actorder");
    s->actorder = cJSON_IsTrue(ao) || (cJSON_IsString(ao) && strcmp(ao->valuestring, "group") == 0);
    return AWQ_OK;
}

awq_status awq_ct_config_parse(awq_ctx *ctx, const cJSON *qc, const char *source,
                               awq_ct_config **out) {
    *out = NULL;
    if (!cJSON_IsObject(qc))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: quantization_config is not an object", source);
    awq_ct_config *c = calloc(1, sizeof *c);
    if (!c) return awq_fail_nomem(ctx, "compressed-tensors config", sizeof *c);
    snprintf(c->source, sizeof c->source, "%s", source);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(qc, "format");
    c->format = format_from(cJSON_IsString(f) ? f->valuestring : NULL);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    awq_status st = AWQ_OK;
    if (groups && !cJSON_IsObject(groups) && !cJSON_IsNull(groups)) {
        st = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: quantization_config.config_groups is not an object",
                      source);
        goto done;
    }
    size_t ng = cJSON_IsObject(groups) ? (size_t)cJSON_GetArraySize(groups) : 0;
    c->groups = calloc(ng ? ng : 1, sizeof *c->groups);
    if (!c->groups) {
        st = awq_fail_nomem(ctx, "config_groups", ng * sizeof *c->groups);
        goto done;
    }
    const cJSON *g;
    for (g = ng ? groups->child : NULL; g; g = g->next) {
        ct_group *G = &c->groups[c->n_groups++];
        snprintf(G->s.name, sizeof G->s.name, "%s", g->string ? g->string : "?");
        if (!cJSON_IsObject(g)) {
            st = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: config_groups.%s is not an object", source,
                          G->s.name);
            goto done;
        }
        const cJSON *gf = cJSON_GetObjectItemCaseSensitive(g, "format");
        if (!cJSON_IsString(gf)) gf = f;
        if (cJSON_IsString(gf)) snprintf(G->s.format_text, sizeof G->s.format_text, "%s", gf->valuestring);
        G->s.format = format_from(cJSON_IsString(gf) ? gf->valuestring : NULL);
        const cJSON *ia = cJSON_GetObjectItemCaseSensitive(g, "input_activations");
        G->s.act_quant = ia && !cJSON_IsNull(ia);
        char field[96];
        snprintf(field, sizeof field, "config_groups.%s.targets", G->s.name);
        if ((st = compile_list(ctx, cJSON_GetObjectItemCaseSensitive(g, "targets"), source, field,
                               &G->targets, &G->n_targets)) != AWQ_OK)
            goto done;
        if ((st = parse_weights(ctx, cJSON_GetObjectItemCaseSensitive(g, "weights"), source,
                                &G->s)) != AWQ_OK)
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

awq_status awq_ct_config_load(awq_ctx *ctx, const awq_checkpoint *ck, awq_ct_config **out) {
    *out = NULL;
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(awq_checkpoint_config(ck),
                                                       "quantization_config");
    if (!awq_ct_is(qc)) return AWQ_OK;
    char where[1100];
    snprintf(where, sizeof where, "%s/config.json", awq_checkpoint_dir(ck));
    return awq_ct_config_parse(ctx, qc, where, out);
}

bool awq_ct_is(const cJSON *qc) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    return cJSON_IsString(m) && strcmp(m->valuestring, "compressed-tensors") == 0;
}

size_t awq_ct_config_n_schemes(const awq_ct_config *c) { return c ? c->n_groups : 0; }
const awq_ct_scheme *awq_ct_config_scheme(const awq_ct_config *c, size_t i) {
    return c && i < c->n_groups ? &c->groups[i].s : NULL;
}
awq_ct_format awq_ct_config_format(const awq_ct_config *c) {
    return c ? c->format : AWQ_CT_FMT_UNKNOWN;
}
const char *awq_ct_config_source(const awq_ct_config *c) { return c ? c->source : "?"; }

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

void awq_ct_scheme_describe(const awq_ct_scheme *s, char *buf, size_t n) {
    char gran[48];
    switch (s->strategy) {
    case AWQ_CT_STRAT_GROUP:
    case AWQ_CT_STRAT_TENSOR_GROUP: snprintf(gran, sizeof gran, "group %d", s->group_size); break;
    case AWQ_CT_STRAT_BLOCK:
        snprintf(gran, sizeof gran, "block %dx%d", s->block[0], s->block[1]);
        break;
    default: snprintf(gran, sizeof gran, "%s", awq_ct_strategy_name(s->strategy)); break;
    }
    if (!s->has_weights) {
        snprintf(buf, n, "%s: no weight quantization", s->name);
        return;
    }
    const char *fmt = s->format != AWQ_CT_FMT_UNKNOWN ? awq_ct_format_name(s->format)
                      : s->format_text[0]             ? s->format_text
                                                      : "no format";
    snprintf(buf, n, "%s: %s %s%d %s%s%s", s->name, fmt, s->is_float ? "fp" : "int", s->num_bits,
             gran, s->is_float || s->symmetric ? "" : " asymmetric",
             s->act_quant ? ", activations quantized" : "");
}

awq_status awq_ct_int_scheme(awq_ctx *ctx, const awq_ct_config *c, const awq_ct_scheme **out) {
    *out = NULL;
    char d[160], d2[160];
    for (size_t i = 0; i < c->n_groups; i++) {
        const awq_ct_scheme *s = &c->groups[i].s;
        if (!s->has_weights) continue;
        const char *why = NULL;
        if (s->format != AWQ_CT_FMT_PACK_QUANTIZED)
            why = "its format is not pack-quantized (the packed-integer path reads integer "
                  "pack-quantized weights only)";
        else if (s->is_float)
            why = "its weights are not integers";
        else if (!awq_lay_bits_ok(s->num_bits))
            why = "num_bits is not 2, 3, 4 or 8";
        else if (s->strategy != AWQ_CT_STRAT_GROUP && s->strategy != AWQ_CT_STRAT_CHANNEL)
            why = "its strategy is not group or channel";
        else if (s->act_quant)
            why = "it quantizes activations too (W*A8), which awqkit's forward does not";
        if (why) {
            awq_ct_scheme_describe(s, d, sizeof d);
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: compressed-tensors config group %s: %s",
                            c->source, d, why);
        }
        if (*out && ((*out)->num_bits != s->num_bits || (*out)->group_size != s->group_size ||
                     (*out)->symmetric != s->symmetric)) {
            awq_ct_scheme_describe(*out, d, sizeof d);
            awq_ct_scheme_describe(s, d2, sizeof d2);
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: config groups quantize with different schemes (%s; %s): a "
                            "mixed-scheme checkpoint", c->source, d, d2);
        }
        if (!*out) *out = s;
    }
    if (!*out)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: compressed-tensors quantization_config has no config group "
                        "with weights", c->source);
    return AWQ_OK;
}

bool awq_ct_computable(const awq_ct_config *c, const char **why) {
    bool any = false;
    for (size_t i = 0; i < c->n_groups; i++) {
        const awq_ct_scheme *s = &c->groups[i].s;
        if (!s->has_weights) continue;
        bool fl = s->format == AWQ_CT_FMT_FLOAT_QUANTIZED ||
                  s->format == AWQ_CT_FMT_NAIVE_QUANTIZED ||
                  s->format == AWQ_CT_FMT_INT_QUANTIZED || s->format == AWQ_CT_FMT_NVFP4_PACK;
        /* integer pack-quantized groups of different schemes: each linear's
         * bits, group and zero points come from its own tensors */
        bool ipack = s->format == AWQ_CT_FMT_PACK_QUANTIZED && !s->is_float &&
                     (s->strategy == AWQ_CT_STRAT_GROUP || s->strategy == AWQ_CT_STRAT_CHANNEL);
        if (!fl && !ipack) {
            *why = "uses a format or strategy awqkit does not compute with";
            return false;
        }
        if (s->act_quant) {
            *why = "quantizes activations too (W8A8 / W4A4: the forward would not match a "
                   "server's); weight-only float schemes are computed with";
            return false;
        }
        any = true;
    }
    if (!any) *why = "has no weight scheme";
    return any;
}

bool awq_ct_scheme_fits(const awq_ct_scheme *s, awq_pack_kind k) {
    switch (k) {
    case AWQ_PACK_CT_INT: return s->format == AWQ_CT_FMT_PACK_QUANTIZED;
    case AWQ_PACK_CT_NAIVE:
        return s->format == AWQ_CT_FMT_NAIVE_QUANTIZED || s->format == AWQ_CT_FMT_INT_QUANTIZED;
    case AWQ_PACK_FP8:
        return s->format == AWQ_CT_FMT_FLOAT_QUANTIZED ||
               (s->format == AWQ_CT_FMT_NAIVE_QUANTIZED && s->is_float);
    case AWQ_PACK_NVFP4: return s->format == AWQ_CT_FMT_NVFP4_PACK;
    case AWQ_PACK_MXFP4: return s->format == AWQ_CT_FMT_MXFP4_PACK;
    case AWQ_PACK_NONE: return s->format == AWQ_CT_FMT_DENSE;
    default: return false;
    }
}
