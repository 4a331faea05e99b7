/*
 * lib/quant/ct.c — compressed-tensors quantization_config: parse, match
 * modules against config_groups targets / ignore, and write awqkit's own
 * (see ct.h for the fields and where they were read from).
 */
#include "quant/ct.h"
#include "quant/layouts.h"

#include "core/core.h"

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

/* The compressed-tensors release whose format awqkit reads and writes
 * (written as quantization_config.version, as the library does). */
#define AWQ_CT_VERSION "0.19.0"

bool awq_ct_is(const cJSON *qc) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    return cJSON_IsString(m) && strcmp(m->valuestring, "compressed-tensors") == 0;
}

static void copy_str(char *dst, size_t n, const cJSON *v) {
    dst[0] = 0;
    if (cJSON_IsString(v)) snprintf(dst, n, "%s", v->valuestring);
}

static awq_status parse_weights(awq_ctx *ctx, const cJSON *w, const char *where,
                                awq_ct_scheme *s) {
    if (cJSON_IsNull(w) || !w) return AWQ_OK;
    if (!cJSON_IsObject(w))
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: quantization_config.config_groups.%s.weights is not an object",
                        where, s->name);
    s->has_weights = true;
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(w, "num_bits");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(w, "type");
    const cJSON *sy = cJSON_GetObjectItemCaseSensitive(w, "symmetric");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(w, "strategy");
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(w, "group_size");
    const cJSON *ao = cJSON_GetObjectItemCaseSensitive(w, "actorder");
    /* QuantizationArgs defaults: num_bits 8, type int, symmetric true */
    s->bits = 8;
    if (nb) {
        if (!cJSON_IsNumber(nb) || nb->valuedouble < 1 || nb->valuedouble > 64 ||
            nb->valuedouble != (int)nb->valuedouble)
            return awq_fail(ctx, AWQ_ERR_FORMAT,
                            "%s: config_groups.%s.weights.num_bits is not an integer in "
                            "1..64", where, s->name);
        s->bits = (int)nb->valuedouble;
    }
    s->is_int = !ty || (cJSON_IsString(ty) && strcmp(ty->valuestring, "int") == 0);
    s->sym = !sy || cJSON_IsTrue(sy);
    copy_str(s->strategy, sizeof s->strategy, st);
    if (cJSON_IsNumber(gs)) {
        if (gs->valuedouble < 1 || gs->valuedouble > 1e9)
            return awq_fail(ctx, AWQ_ERR_FORMAT,
                            "%s: config_groups.%s.weights.group_size %g is not positive",
                            where, s->name, gs->valuedouble);
        s->group_size = (int)gs->valuedouble;
    }
    /* a strategy left out is implied by group_size (QuantizationArgs
     * validate_model_after): group when set, else tensor */
    if (!s->strategy[0]) snprintf(s->strategy, sizeof s->strategy, "%s", s->group_size > 0 ? "group" : "tensor");
    if (strcmp(s->strategy, "channel") == 0) s->group_size = -1;
    else if (strcmp(s->strategy, "group") != 0 && strcmp(s->strategy, "tensor_group") != 0)
        s->group_size = 0;
    s->actorder_group = (cJSON_IsString(ao) && strcmp(ao->valuestring, "group") == 0) ||
                        cJSON_IsTrue(ao);
    return AWQ_OK;
}

awq_status awq_ct_parse(awq_ctx *ctx, const cJSON *qc, const char *where,
                        awq_ct_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(qc))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: quantization_config is not an object", where);
    copy_str(cfg->format, sizeof cfg->format, cJSON_GetObjectItemCaseSensitive(qc, "format"));
    cfg->ignore = cJSON_GetObjectItemCaseSensitive(qc, "ignore");
    if (cfg->ignore && !cJSON_IsArray(cfg->ignore) && !cJSON_IsNull(cfg->ignore))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: quantization_config.ignore is not a list",
                        where);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups");
    if (!cJSON_IsObject(groups))
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: compressed-tensors quantization_config has no config_groups "
                        "object", where);
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) {
        if (cfg->n_schemes >= AWQ_CT_MAX_GROUPS)
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: more than %d config_groups", where, AWQ_CT_MAX_GROUPS);
        awq_ct_scheme *s = &cfg->schemes[cfg->n_schemes];
        snprintf(s->name, sizeof s->name, "%s", g->string ? g->string : "?");
        if (!cJSON_IsObject(g))
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: config_groups.%s is not an object",
                            where, s->name);
        s->targets = cJSON_GetObjectItemCaseSensitive(g, "targets");
        if (!cJSON_IsArray(s->targets))
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: config_groups.%s.targets is not a list",
                            where, s->name);
        copy_str(s->format, sizeof s->format, cJSON_GetObjectItemCaseSensitive(g, "format"));
        if (!s->format[0]) memcpy(s->format, cfg->format, sizeof s->format);
        const cJSON *ia = cJSON_GetObjectItemCaseSensitive(g, "input_activations");
        s->act_quant = ia && !cJSON_IsNull(ia);
        AWQ_TRY(parse_weights(ctx, cJSON_GetObjectItemCaseSensitive(g, "weights"), where, s));
        cfg->n_schemes++;
    }
    return AWQ_OK;
}

bool awq_ct_match(const char *target, const char *module, const char *cls,
                  bool *bad_regex) {
    if (strncmp(target, "re:", 3) != 0)
        return strcmp(target, module) == 0 || (cls && strcmp(target, cls) == 0);
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(target + 3), PCRE2_ZERO_TERMINATED,
                                   PCRE2_ANCHORED, &err, &off, NULL);
    if (!re) {
        if (bad_regex) *bad_regex = true;
        return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = md ? pcre2_match(re, (PCRE2_SPTR)module, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL)
                : -1;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

static bool any_match(const cJSON *list, const char *module) {
    const cJSON *t;
    cJSON_ArrayForEach(t, list) {
        if (cJSON_IsString(t) && awq_ct_match(t->valuestring, module, "Linear", NULL))
            return true;
    }
    return false;
}

const awq_ct_scheme *awq_ct_scheme_match(const awq_ct_config *cfg, const char *module) {
    if (cJSON_IsArray(cfg->ignore) && any_match(cfg->ignore, module)) return NULL;
    for (int i = 0; i < cfg->n_schemes; i++)
        if (any_match(cfg->schemes[i].targets, module)) return &cfg->schemes[i];
    return NULL;
}

awq_status awq_ct_int_scheme(awq_ctx *ctx, const awq_ct_config *cfg, const char *where,
                             const awq_ct_scheme **out) {
    *out = NULL;
    for (int i = 0; i < cfg->n_schemes; i++) {
        const awq_ct_scheme *s = &cfg->schemes[i];
        if (!s->has_weights) continue;
        const char *why = NULL;
        if (strcmp(s->format, "pack-quantized") != 0)
            why = "its format is not pack-quantized (repack and verify read integer "
                  "pack-quantized weights; naive-quantized / float-quantized FP8 and "
                  "nvfp4-pack-quantized weights are read by ppl and the forward only)";
        else if (!s->is_int)
            why = "its weights are not integers";
        else if (!awq_lay_bits_ok(s->bits))
            why = "num_bits is not 2, 3, 4 or 8";
        else if (s->group_size == 0)
            why = "its strategy is not group or channel";
        else if (s->act_quant)
            why = "it quantizes activations too (W*A8), which awqkit's forward does not";
        if (why)
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: compressed-tensors config group %s (%s, %d-bit %s, strategy "
                            "%s): %s", where, s->name, s->format, s->bits,
                            s->is_int ? "int" : "float", s->strategy, why);
        if (*out && ((*out)->bits != s->bits || (*out)->group_size != s->group_size ||
                     (*out)->sym != s->sym))
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: config groups %s and %s quantize with different schemes "
                            "(%d-bit group %d %s vs %d-bit group %d %s); awqkit reads one "
                            "scheme per checkpoint", where, (*out)->name, s->name,
                            (*out)->bits, (*out)->group_size, (*out)->sym ? "sym" : "asym",
                            s->bits, s->group_size, s->sym ? "sym" : "asym");
        if (!*out) *out = s;
    }
    if (!*out)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: compressed-tensors quantization_config has no config group "
                        "with weights", where);
    return AWQ_OK;
}

/* ------------------------------------------------------------- writer */

static bool add_null(cJSON *o, const char *k) { return cJSON_AddNullToObject(o, k) != NULL; }

static bool add_str_item(cJSON *arr, const char *s) {
    cJSON *v = cJSON_CreateString(s);
    return v && cJSON_AddItemToArray(arr, v);
}

awq_status awq_ct_quant_config(awq_ctx *ctx, const awq_qconfig_fields *f, cJSON **out) {
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return awq_fail_nomem(ctx, "quantization_config", 512);
    cJSON *groups = cJSON_AddObjectToObject(o, "config_groups");
    cJSON *g0 = groups ? cJSON_AddObjectToObject(groups, "group_0") : NULL;
    cJSON *tg = g0 ? cJSON_AddArrayToObject(g0, "targets") : NULL;
    cJSON *w = g0 ? cJSON_AddObjectToObject(g0, "weights") : NULL;
    bool ok = tg && w && add_str_item(tg, "Linear") &&
              cJSON_AddStringToObject(g0, "format", "pack-quantized") &&
              add_null(g0, "input_activations") && add_null(g0, "output_activations");
    const bool channel = f->group_size == -1;
    ok = ok && cJSON_AddNumberToObject(w, "num_bits", f->bits) &&
         cJSON_AddStringToObject(w, "type", "int") &&
         cJSON_AddBoolToObject(w, "symmetric", f->sym) &&
         cJSON_AddStringToObject(w, "strategy", channel ? "channel" : "group") &&
         (channel ? add_null(w, "group_size")
                  : cJSON_AddNumberToObject(w, "group_size", f->group_size) != NULL) &&
         add_null(w, "block_structure") && cJSON_AddBoolToObject(w, "dynamic", false) &&
         (f->desc_act ? cJSON_AddStringToObject(w, "actorder", "group") != NULL
                      : add_null(w, "actorder")) &&
         cJSON_AddStringToObject(w, "observer", "minmax") &&
         cJSON_AddObjectToObject(w, "observer_kwargs") && add_null(w, "scale_dtype") &&
         (f->sym ? add_null(w, "zp_dtype")
                 : cJSON_AddStringToObject(w, "zp_dtype", "torch.int8") != NULL);
    ok = ok && cJSON_AddStringToObject(o, "format", "pack-quantized");
    cJSON *ign = ok ? cJSON_AddArrayToObject(o, "ignore") : NULL;
    ok = ign && add_str_item(ign, "lm_head");
    for (int i = 0; ok && i < f->n_modules_to_not_convert; i++) {
        const char *m = f->modules_to_not_convert[i];
        if (strcmp(m, "lm_head") == 0) continue;
        /* AutoAWQ's entries are substrings of module names: an anchored
         * "re:.*<m>" means the same to compressed-tensors, vLLM and SGLang */
        awq_strbuf b;
        awq_sb_init(&b);
        awq_sb_puts(&b, "re:.*");
        for (const char *c = m; *c; c++) {
            if (strchr("\\.^$|?*+()[]{}", *c)) awq_sb_append(&b, "\\", 1);
            awq_sb_append(&b, c, 1);
        }
        ok = !b.oom && add_str_item(ign, b.s);
        awq_sb_free(&b);
    }
    ok = ok && add_null(o, "global_compression_ratio") && add_null(o, "kv_cache_scheme") &&
         cJSON_AddStringToObject(o, "quant_method", "compressed-tensors") &&
         cJSON_AddStringToObject(o, "quantization_status", "compressed") &&
         cJSON_AddObjectToObject(o, "sparsity_config") &&
         cJSON_AddObjectToObject(o, "transform_config") &&
         cJSON_AddStringToObject(o, "version", AWQ_CT_VERSION);
    if (!ok) {
        cJSON_Delete(o);
        return awq_fail_nomem(ctx, "quantization_config", 512);
    }
    *out = o;
    return AWQ_OK;
}
