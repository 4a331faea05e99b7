/*
 * lib/quant/ct.c — the compressed-tensors quantization_config awqkit writes
 * for its own pack-quantized output (the fields are those ctconfig.h reads).
 */
#include "quant/ct.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* The compressed-tensors release whose format awqkit reads and writes
 * (written as quantization_config.version, as the library does). */
#define AWQ_CT_VERSION "0.19.0"

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
