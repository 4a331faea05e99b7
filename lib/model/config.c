/* lib/model/config.c — config.json -> awq_model_config.
 *
 * Fields are read the way transformers reads them, including defaults that
 * differ per model_type (Qwen2 always has q/k/v biases; Llama only with
 * attention_bias). Vision-language models keep the text decoder's fields in
 * `text_config` (newer transformers) or at top level (older): a field is
 * taken from text_config when present there, else from the top level. */
#include "core/core.h"
#include "awqkit/checkpoint.h"
#include "awqkit/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    awq_ctx *ctx;
    const cJSON *root, *text;
    const char *where;
} reader;

static const cJSON *field(const reader *r, const char *name) {
    const cJSON *v = NULL;
    if (r->text) v = cJSON_GetObjectItemCaseSensitive(r->text, name);
    if (!v || cJSON_IsNull(v)) v = cJSON_GetObjectItemCaseSensitive(r->root, name);
    if (v && cJSON_IsNull(v)) v = NULL;
    return v;
}

/* Integer field: must be an exact non-negative integer below 2^53. */
static awq_status get_int(const reader *r, const char *name, bool required,
                          int64_t def, int64_t min, int64_t *out) {
    const cJSON *v = field(r, name);
    if (!v) {
        if (required)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: missing required field \"%s\"",
                            r->where, name);
        *out = def;
        return AWQ_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9007199254740992.0)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: field \"%s\" must be an integer",
                        r->where, name);
    int64_t x = (int64_t)v->valuedouble;
    if (x < min)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: field \"%s\" = %lld, must be >= %lld",
                        r->where, name, (long long)x, (long long)min);
    *out = x;
    return AWQ_OK;
}

static awq_status get_num(const reader *r, const cJSON *obj, const char *name,
                          double def, double *out) {
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : field(r, name);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return AWQ_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: field \"%s\" must be a number",
                        r->where, name);
    *out = v->valuedouble;
    return AWQ_OK;
}

static awq_status get_bool(const reader *r, const cJSON *obj, const char *name,
                           bool def, bool *out) {
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : field(r, name);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return AWQ_OK;
    }
    if (!cJSON_IsBool(v))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: field \"%s\" must be true or false",
                        r->where, name);
    *out = cJSON_IsTrue(v);
    return AWQ_OK;
}

static void copy_str(char *dst, size_t n, const cJSON *v) {
    dst[0] = 0;
    if (v && cJSON_IsString(v) && v->valuestring) snprintf(dst, n, "%s", v->valuestring);
}

/* rope_parameters of the global (full-attention) layers: transformers 5
 * writes one object, or (Gemma 3) one per layer type. NULL when absent. */
static const cJSON *global_rope_params(const reader *r) {
    const cJSON *rp = field(r, "rope_parameters");
    if (!rp || !cJSON_IsObject(rp)) return NULL;
    const cJSON *fa = cJSON_GetObjectItemCaseSensitive(rp, "full_attention");
    return (fa && cJSON_IsObject(fa)) ? fa : rp;
}

static awq_status parse_rope(const reader *r, awq_model_config *c) {
    awq_rope_scaling *rs = &c->rope;
    memset(rs, 0, sizeof *rs);
    rs->type = AWQ_ROPE_DEFAULT;
    rs->factor = 1.0;
    /* transformers >= 5 writes rope_theta / rope_type and the scaling
     * parameters in one "rope_parameters" object; 4.x uses rope_scaling. */
    const cJSON *s = field(r, "rope_scaling");
    const cJSON *rp = global_rope_params(r);
    if (!s && rp) s = rp;
    if (!s) return AWQ_OK;
    if (!cJSON_IsObject(s))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: \"rope_scaling\" must be an object or null",
                        r->where);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(s, "type");
    const char *type = (t && cJSON_IsString(t)) ? t->valuestring : "default";
    /* Qwen2-VL's multimodal rope reduces to plain rope for text-only input:
     * all three position streams equal the token position. */
    if (strcmp(type, "default") == 0 || strcmp(type, "mrope") == 0) {
        rs->type = AWQ_ROPE_DEFAULT;
    } else if (strcmp(type, "linear") == 0) {
        rs->type = AWQ_ROPE_LINEAR;
    } else if (strcmp(type, "llama3") == 0) {
        rs->type = AWQ_ROPE_LLAMA3;
    } else if (strcmp(type, "yarn") == 0) {
        rs->type = AWQ_ROPE_YARN;
    } else {
        return awq_fail(r->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: rope_scaling type \"%s\" is not supported (supported: default, "
                        "linear, llama3, yarn, mrope)", r->where, type);
    }
    /* Keys transformers requires for the type (modeling_rope_utils
     * _validate_*_rope_parameters): a config without them is refused there,
     * so defaults here would compute a model transformers never runs. */
    static const char *const k_llama3_keys[] = {"factor", "low_freq_factor",
                                                "high_freq_factor",
                                                "original_max_position_embeddings"};
    size_t n_req = rs->type == AWQ_ROPE_LLAMA3 ? AWQ_ARRAY_LEN(k_llama3_keys)
                   : (rs->type == AWQ_ROPE_LINEAR || rs->type == AWQ_ROPE_YARN) ? 1 : 0;
    for (size_t i = 0; i < n_req; i++) {
        const cJSON *kv = cJSON_GetObjectItemCaseSensitive(s, k_llama3_keys[i]);
        if (!kv || cJSON_IsNull(kv))
            return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                            "%s: rope_scaling of type \"%s\" lacks the required key \"%s\"",
                            r->where, type, k_llama3_keys[i]);
    }
    AWQ_TRY(get_num(r, s, "factor", 1.0, &rs->factor));
    AWQ_TRY(get_num(r, s, "low_freq_factor", 1.0, &rs->low_freq_factor));
    AWQ_TRY(get_num(r, s, "high_freq_factor", 4.0, &rs->high_freq_factor));
    double omp;
    AWQ_TRY(get_num(r, s, "original_max_position_embeddings", 0.0, &omp));
    rs->original_max_pos = omp;
    AWQ_TRY(get_num(r, s, "beta_fast", 32.0, &rs->beta_fast));
    AWQ_TRY(get_num(r, s, "beta_slow", 1.0, &rs->beta_slow));
    AWQ_TRY(get_num(r, s, "attention_factor", 0.0, &rs->attention_factor));
    AWQ_TRY(get_num(r, s, "mscale", 0.0, &rs->mscale));
    AWQ_TRY(get_num(r, s, "mscale_all_dim", 0.0, &rs->mscale_all_dim));
    bool truncate;
    AWQ_TRY(get_bool(r, s, "truncate", true, &truncate));
    rs->no_truncate = !truncate;
    if (rs->type != AWQ_ROPE_DEFAULT && !(rs->factor > 0))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: rope_scaling.factor must be > 0",
                        r->where);
    return AWQ_OK;
}

/* A number that may be explicitly null (= none, 0) or absent (= def). */
static awq_status get_num_or_null(const reader *r, const char *name, double def, double *out) {
    const cJSON *v = NULL;
    if (r->text) v = cJSON_GetObjectItemCaseSensitive(r->text, name);
    if (!v) v = cJSON_GetObjectItemCaseSensitive(r->root, name);
    if (!v) {
        *out = def;
        return AWQ_OK;
    }
    if (cJSON_IsNull(v)) {
        *out = 0;
        return AWQ_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: field \"%s\" must be a number >= 0 or null",
                        r->where, name);
    *out = v->valuedouble;
    return AWQ_OK;
}

/* layer_types (transformers 5): which layers attend within the window. */
static awq_status parse_layer_types(const reader *r, awq_model_config *c, const cJSON *lt) {
    if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != (int)c->n_layers)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                        "%s: \"layer_types\" must be an array of num_hidden_layers (%lld) "
                        "strings", r->where, (long long)c->n_layers);
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, lt) {
        const char *t = cJSON_IsString(e) ? e->valuestring : "";
        if (strcmp(t, "sliding_attention") == 0)
            c->sliding_layers[i / 64] |= (uint64_t)1 << (i % 64);
        else if (strcmp(t, "full_attention") != 0)
            return awq_fail(r->ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: layer_types[%lld] \"%s\" is not supported "
                            "(sliding_attention, full_attention)", r->where, (long long)i, t);
        i++;
    }
    return AWQ_OK;
}

/* Sliding-window attention of the other families, as transformers 5 sets
 * it: Mistral / Phi-3 apply `sliding_window` in every layer; the Qwen2
 * family only with use_sliding_window, in layers >= max_window_layers;
 * layer_types, when written, says it per layer. */
static awq_status parse_window(const reader *r, awq_model_config *c) {
    memset(c->sliding_layers, 0, sizeof c->sliding_layers);
    c->sliding_window = 0;
    const cJSON *sw = field(r, "sliding_window");
    if (!sw || !cJSON_IsNumber(sw) || sw->valuedouble < 1) return AWQ_OK;
    const cJSON *use = field(r, "use_sliding_window");
    bool opt_in = c->arch->window_opt_in;
    if ((use || opt_in) && !cJSON_IsTrue(use)) return AWQ_OK;
    AWQ_TRY(get_int(r, "sliding_window", false, 0, 1, &c->sliding_window));
    const cJSON *lt = field(r, "layer_types");
    if (lt) return parse_layer_types(r, c, lt);
    int64_t first = 0;
    if (opt_in) AWQ_TRY(get_int(r, "max_window_layers", false, 0, 0, &first));
    for (int64_t i = first; i < c->n_layers; i++)
        c->sliding_layers[i / 64] |= (uint64_t)1 << (i % 64);
    return AWQ_OK;
}

/* Gemma 2/3 attention: scale, soft-capping, which layers slide, the local
 * rope base (Gemma 3). Defaults are the transformers config classes'. */
static awq_status parse_gemma(const reader *r, awq_model_config *c) {
    const awq_arch *a = c->arch;
    AWQ_TRY(get_num_or_null(r, "query_pre_attn_scalar", 256.0, &c->query_pre_attn_scalar));
    AWQ_TRY(get_num_or_null(r, "attn_logit_softcapping", a->def_attn_softcap, &c->attn_softcap));
    AWQ_TRY(get_num_or_null(r, "final_logit_softcapping", a->def_final_softcap,
                            &c->final_softcap));
    int64_t sw;
    AWQ_TRY(get_int(r, "sliding_window", false, 4096, 0, &sw));
    c->sliding_window = sw;
    memset(c->sliding_layers, 0, sizeof c->sliding_layers);
    const cJSON *lt = field(r, "layer_types");
    if (lt) {
        AWQ_TRY(parse_layer_types(r, c, lt));
    } else {
        int64_t pat;
        AWQ_TRY(get_int(r, "sliding_window_pattern", false, a->def_sliding_pattern, 1, &pat));
        for (int64_t i = 0; i < c->n_layers; i++)
            if ((i + 1) % pat != 0) c->sliding_layers[i / 64] |= (uint64_t)1 << (i % 64);
    }
    c->rope_local_theta = 0;
    if (a->local_rope) {
        /* 5.x: rope_parameters.sliding_attention.rope_theta; 4.x:
         * rope_local_base_freq; Gemma3TextConfig's default 10000 */
        const cJSON *rp = field(r, "rope_parameters");
        const cJSON *sa = rp ? cJSON_GetObjectItemCaseSensitive(rp, "sliding_attention") : NULL;
        if (sa && cJSON_IsObject(sa)) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(sa, "rope_type");
            if (t && (!cJSON_IsString(t) || strcmp(t->valuestring, "default") != 0))
                return awq_fail(r->ctx, AWQ_ERR_UNSUPPORTED,
                                "%s: rope_parameters.sliding_attention.rope_type must be "
                                "\"default\"", r->where);
            AWQ_TRY(get_num(r, sa, "rope_theta", 10000.0, &c->rope_local_theta));
        } else {
            AWQ_TRY(get_num(r, NULL, "rope_local_base_freq", 10000.0, &c->rope_local_theta));
        }
        if (!(c->rope_local_theta > 0))
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: rope_local_base_freq must be > 0",
                            r->where);
    }
    return AWQ_OK;
}

/* A string field, or def when absent / null; not a string is an error. */
static awq_status get_str(const reader *r, const char *name, const char *def,
                          const char **out) {
    const cJSON *v = field(r, name);
    if (v && !cJSON_IsString(v))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: field \"%s\" must be a string", r->where,
                        name);
    *out = v ? v->valuestring : def;
    return AWQ_OK;
}

/* Routing of a MoE architecture with a table of accepted (scoring_func,
 * topk_method) pairs (DeepSeek), its groups and routed_scaling_factor. */
static awq_status parse_route(const reader *r, awq_model_config *c) {
    const awq_moe_desc *d = c->arch->moe;
    c->route = AWQ_ROUTE_SOFTMAX;
    c->routed_scale = 1.0;
    c->n_group = c->topk_group = 0;
    if (!d->routes || d->n_routes < 1) return AWQ_OK;
    const char *scoring, *method;
    AWQ_TRY(get_str(r, "scoring_func", d->routes[0].scoring, &scoring));
    AWQ_TRY(get_str(r, "topk_method", d->routes[0].topk_method, &method));
    char list[160] = "";
    bool scoring_known = false;
    int hit = -1;
    for (int i = 0; i < d->n_routes; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s/%s", i ? ", " : "", d->routes[i].scoring,
                 d->routes[i].topk_method);
        scoring_known |= strcmp(scoring, d->routes[i].scoring) == 0;
        if (strcmp(scoring, d->routes[i].scoring) == 0 &&
            strcmp(method, d->routes[i].topk_method) == 0)
            hit = i;
    }
    if (!scoring_known)
        return awq_fail(r->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: scoring_func \"%s\" is not supported for %s (scoring_func/"
                        "topk_method: %s)", r->where, scoring, c->architecture, list);
    if (hit < 0)
        return awq_fail(r->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: topk_method \"%s\" is not supported for %s with scoring_func "
                        "\"%s\" (scoring_func/topk_method: %s)", r->where, method,
                        c->architecture, scoring, list);
    c->route = d->routes[hit].route;
    AWQ_TRY(get_num(r, NULL, "routed_scaling_factor",
                    d->def_routed_scale > 0 ? d->def_routed_scale : 1.0, &c->routed_scale));
    if (!(c->routed_scale > 0))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: routed_scaling_factor must be > 0",
                        r->where);
    if (c->route == AWQ_ROUTE_SOFTMAX) return AWQ_OK;
    AWQ_TRY(get_int(r, "n_group", d->def_n_group == 0, d->def_n_group, 1, &c->n_group));
    AWQ_TRY(get_int(r, "topk_group", d->def_topk_group == 0, d->def_topk_group, 1,
                    &c->topk_group));
    /* each group needs two members for the sigmoid route's top-2 sums */
    int64_t min_per = c->route == AWQ_ROUTE_SIGMOID_GROUP ? 2 : 1;
    if (c->n_experts % c->n_group != 0 || c->n_experts / c->n_group < min_per)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                        "%s: n_group %lld does not divide %s %lld into groups of at least %lld",
                        r->where, (long long)c->n_group, d->n_experts_field,
                        (long long)c->n_experts, (long long)min_per);
    if (c->topk_group > c->n_group ||
        c->n_experts_per_tok > c->topk_group * (c->n_experts / c->n_group))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                        "%s: topk_group %lld of n_group %lld leaves fewer than "
                        "num_experts_per_tok %lld experts", r->where, (long long)c->topk_group,
                        (long long)c->n_group, (long long)c->n_experts_per_tok);
    return AWQ_OK;
}

/* Multi-head latent attention (DeepSeek-V2/V3): the low-rank widths and the
 * head split; defaults are DeepseekV2Config's / V3Config's. A null
 * q_lora_rank selects the table's plain-q_proj entry. */
static awq_status parse_mla(const reader *r, awq_model_config *c) {
    const awq_arch *a = c->arch;
    const cJSON *q = NULL;
    if (r->text) q = cJSON_GetObjectItemCaseSensitive(r->text, "q_lora_rank");
    if (!q) q = cJSON_GetObjectItemCaseSensitive(r->root, "q_lora_rank");
    if (q && cJSON_IsNull(q))
        c->q_lora_rank = 0;
    else
        AWQ_TRY(get_int(r, "q_lora_rank", false, 1536, 1, &c->q_lora_rank));
    AWQ_TRY(get_int(r, "kv_lora_rank", false, 512, 1, &c->kv_lora_rank));
    AWQ_TRY(get_int(r, "qk_nope_head_dim", false, 128, 0, &c->qk_nope_head_dim));
    AWQ_TRY(get_int(r, "qk_rope_head_dim", false, 64, 2, &c->qk_rope_head_dim));
    AWQ_TRY(get_int(r, "v_head_dim", false, 128, 1, &c->v_head_dim));
    if (c->q_lora_rank > (1 << 20) || c->kv_lora_rank > (1 << 20) ||
        c->qk_nope_head_dim > 4096 || c->qk_rope_head_dim > 4096 || c->v_head_dim > 4096)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                        "%s: q_lora_rank, kv_lora_rank or a head dim is implausibly large",
                        r->where);
    if (c->qk_rope_head_dim % 2 != 0)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: qk_rope_head_dim %lld must be even",
                        r->where, (long long)c->qk_rope_head_dim);
    /* transformers: head_dim = qk_rope_head_dim (the rotary width); keys
     * and values are per query head after kv_b_proj */
    c->head_dim = c->qk_rope_head_dim;
    c->n_kv_heads = c->n_heads;
    c->rope_interleave = a->def_rope_interleave;
    if (!a->rope_interleave_fixed)
        AWQ_TRY(get_bool(r, NULL, "rope_interleave", a->def_rope_interleave,
                         &c->rope_interleave));
    bool bias;
    AWQ_TRY(get_bool(r, NULL, "attention_bias", false, &bias));
    if (bias)
        return awq_fail(r->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: attention_bias true is not supported for %s (multi-head latent "
                        "attention without biases only)", r->where, c->architecture);
    if (c->q_lora_rank == 0 && a->no_q_lora) c->arch = a->no_q_lora;
    return AWQ_OK;
}

/* Mixture of experts: counts, widths, routing, which layers are sparse. */
static awq_status parse_moe(const reader *r, awq_model_config *c) {
    const awq_moe_desc *d = c->arch->moe;
    /* transformers 5 writes Qwen3-MoE's num_experts as num_local_experts
     * (an attribute_map alias): either spelling */
    const char *ef = d->n_experts_field;
    if (!field(r, ef))
        ef = strcmp(ef, "num_experts") == 0 ? "num_local_experts" : "num_experts";
    if (!field(r, ef)) ef = d->n_experts_field;
    AWQ_TRY(get_int(r, ef, false, d->def_n_experts, 1, &c->n_experts));
    AWQ_TRY(get_int(r, "num_experts_per_tok", d->def_top_k == 0, d->def_top_k, 1,
                    &c->n_experts_per_tok));
    AWQ_TRY(get_int(r, d->inter_field, d->def_inter == 0, d->def_inter, 1,
                    &c->moe_intermediate));
    if (c->n_experts > 4096 || c->moe_intermediate > (1 << 22))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: %s = %lld or %s = %lld is implausibly large",
                        r->where, d->n_experts_field, (long long)c->n_experts, d->inter_field,
                        (long long)c->moe_intermediate);
    if (c->n_experts_per_tok > c->n_experts)
        return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                        "%s: num_experts_per_tok %lld exceeds %s %lld", r->where,
                        (long long)c->n_experts_per_tok, d->n_experts_field,
                        (long long)c->n_experts);
    c->shared_intermediate = 0;
    if (d->shared_expert && d->shared_field) {
        /* DeepSeek: n_shared_experts experts fused into one MLP */
        int64_t ns;
        AWQ_TRY(get_int(r, d->shared_field, false, d->def_shared, 0, &ns));
        if (ns > 4096)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: %s = %lld is implausibly large",
                            r->where, d->shared_field, (long long)ns);
        c->shared_intermediate = ns * c->moe_intermediate;
    } else if (d->shared_expert) {
        AWQ_TRY(get_int(r, "shared_expert_intermediate_size", d->def_shared == 0,
                        d->def_shared, 1, &c->shared_intermediate));
    }
    if (c->shared_intermediate > (1 << 22))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                        "%s: shared_expert_intermediate_size is implausibly large", r->where);
    c->norm_topk_prob = true;
    if (!d->always_renorm)
        AWQ_TRY(get_bool(r, NULL, "norm_topk_prob", d->def_norm_topk, &c->norm_topk_prob));
    if (d->no_renorm) c->norm_topk_prob = false;
    AWQ_TRY(parse_route(r, c));
    memset(c->moe_layers, 0, sizeof c->moe_layers);
    int64_t step = 1, first_dense = 0, freq = 1;
    if (d->sparse_step) AWQ_TRY(get_int(r, "decoder_sparse_step", false, 1, 1, &step));
    if (d->first_k_dense) {
        AWQ_TRY(get_int(r, "first_k_dense_replace", false, d->def_first_k_dense, 0,
                        &first_dense));
        AWQ_TRY(get_int(r, "moe_layer_freq", false, 1, 1, &freq));
    }
    for (int64_t i = 0; i < c->n_layers; i++)
        if ((i + 1) % step == 0 && i >= first_dense && i % freq == 0)
            c->moe_layers[i / 64] |= (uint64_t)1 << (i % 64);
    const cJSON *only = d->sparse_step ? field(r, "mlp_only_layers") : NULL;
    if (only && !cJSON_IsArray(only))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: \"mlp_only_layers\" must be an array",
                        r->where);
    const cJSON *e;
    cJSON_ArrayForEach(e, only) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble >= (double)c->n_layers)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                            "%s: mlp_only_layers holds %g, not a layer index in [0, %lld)",
                            r->where, cJSON_IsNumber(e) ? e->valuedouble : -1.0,
                            (long long)c->n_layers);
        int64_t i = (int64_t)e->valuedouble;
        c->moe_layers[i / 64] &= ~((uint64_t)1 << (i % 64));
    }
    return AWQ_OK;
}

/* The MLP activation changes the math: a supported architecture refuses a
 * name it does not compute rather than silently running SiLU. */
static awq_status parse_act(const reader *r, awq_model_config *c) {
    const awq_arch *a = c->arch;
    const char *fname = a && a->act_field ? a->act_field : "hidden_act";
    const char *def = a && a->act_default ? a->act_default : "silu";
    const cJSON *v = field(r, fname);
    if (v && !cJSON_IsString(v))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: field \"%s\" must be a string", r->where,
                        fname);
    const char *name = v ? v->valuestring : def;
    snprintf(c->act_name, sizeof c->act_name, "%s", name);
    c->act = AWQ_ACT_SILU;
    if (!awq_act_from_name(name, &c->act) && a)
        return awq_fail(r->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: %s \"%s\" is not supported for %s (supported: silu, swish, "
                        "gelu_pytorch_tanh, gelu_new, gelu)", r->where, fname, name,
                        c->architecture);
    return AWQ_OK;
}

static awq_status parse_quant(const reader *r, awq_model_config *c) {
    awq_quant_config *q = &c->quant;
    memset(q, 0, sizeof *q);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r->root, "quantization_config");
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (!cJSON_IsObject(o))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: \"quantization_config\" must be an object",
                        r->where);
    q->present = true;
    copy_str(q->quant_method, sizeof q->quant_method,
             cJSON_GetObjectItemCaseSensitive(o, "quant_method"));
    /* AutoAWQ writes "w_bit"/"q_group_size" in quant_config.json; config.json
     * uses bits/group_size. Accept both. */
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(o, "bits");
    if (!bits) bits = cJSON_GetObjectItemCaseSensitive(o, "w_bit");
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(o, "group_size");
    if (!gs) gs = cJSON_GetObjectItemCaseSensitive(o, "q_group_size");
    /* Validate before converting: casting an out-of-range double to int is
     * undefined behaviour. */
    if (bits && (!cJSON_IsNumber(bits) || bits->valuedouble != floor(bits->valuedouble) ||
                 bits->valuedouble < 1 || bits->valuedouble > 16))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: quantization_config.bits is invalid",
                        r->where);
    if (gs && (!cJSON_IsNumber(gs) || gs->valuedouble != floor(gs->valuedouble) ||
               (gs->valuedouble < 1 && gs->valuedouble != -1) || gs->valuedouble > 1e9))
        return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                        "%s: quantization_config.group_size is invalid", r->where);
    q->bits = bits ? (int)bits->valuedouble : 0;
    q->group_size = gs ? (int)gs->valuedouble : 0;
    AWQ_TRY(get_bool(r, o, "zero_point", true, &q->zero_point));
    AWQ_TRY(get_bool(r, o, "sym", false, &q->sym));
    AWQ_TRY(get_bool(r, o, "desc_act", false, &q->desc_act));
    copy_str(q->version, sizeof q->version, cJSON_GetObjectItemCaseSensitive(o, "version"));
    copy_str(q->checkpoint_format, sizeof q->checkpoint_format,
             cJSON_GetObjectItemCaseSensitive(o, "checkpoint_format"));
    for (char *p = q->version; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return AWQ_OK;
}

awq_status awq_model_config_from_json(awq_ctx *ctx, const cJSON *root, const char *where,
                                      awq_model_config *out) {
    memset(out, 0, sizeof *out);
    if (!where) where = "config.json";
    if (!root || !cJSON_IsObject(root))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: not a JSON object", where);
    reader r = {ctx, root, NULL, where};
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (tc && cJSON_IsObject(tc)) r.text = tc;

    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (archs && cJSON_IsArray(archs) && cJSON_GetArraySize(archs) > 0)
        copy_str(out->architecture, sizeof out->architecture, cJSON_GetArrayItem(archs, 0));
    else if (archs && !cJSON_IsNull(archs) && !cJSON_IsArray(archs))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: \"architectures\" must be an array", where);
    copy_str(out->model_type, sizeof out->model_type,
             cJSON_GetObjectItemCaseSensitive(root, "model_type"));
    out->arch = awq_arch_find(out->architecture);

    AWQ_TRY(get_int(&r, "hidden_size", true, 0, 1, &out->hidden));
    AWQ_TRY(get_int(&r, "num_hidden_layers", true, 0, 1, &out->n_layers));
    AWQ_TRY(get_int(&r, "num_attention_heads", true, 0, 1, &out->n_heads));
    AWQ_TRY(get_int(&r, "num_key_value_heads", false, out->n_heads, 1, &out->n_kv_heads));
    AWQ_TRY(get_int(&r, "intermediate_size", true, 0, 1, &out->intermediate));
    AWQ_TRY(get_int(&r, "vocab_size", true, 0, 1, &out->vocab));
    AWQ_TRY(get_int(&r, "max_position_embeddings", false, 0, 0, &out->max_pos));
    int64_t hd;
    AWQ_TRY(get_int(&r, "head_dim", false, 0, 1, &hd));
    if (hd == 0) {
        /* MLA: head_dim is qk_rope_head_dim (parse_mla) */
        if (out->hidden % out->n_heads != 0 && !(out->arch && out->arch->mla))
            return awq_fail(ctx, AWQ_ERR_FORMAT,
                            "%s: hidden_size %lld is not divisible by num_attention_heads %lld "
                            "and no head_dim is given", where, (long long)out->hidden,
                            (long long)out->n_heads);
        hd = out->hidden / out->n_heads;
    }
    out->head_dim = hd;
    if (out->n_heads % out->n_kv_heads != 0)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                        where, (long long)out->n_heads, (long long)out->n_kv_heads);
    /* Caps keep later size arithmetic far from overflow. */
    if (out->hidden > (1 << 20) || out->intermediate > (1 << 22) || out->n_layers > 4096 ||
        out->n_heads > 4096 || out->vocab > (1 << 24) || out->head_dim > 4096)
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: model dimensions are implausibly large", where);

    if (out->arch && out->arch->mla) AWQ_TRY(parse_mla(&r, out));

    AWQ_TRY(get_num(&r, NULL, "rms_norm_eps", 1e-6, &out->rms_eps));
    AWQ_TRY(get_num(&r, NULL, "rope_theta", 10000.0, &out->rope_theta));
    const cJSON *rparams = global_rope_params(&r);
    if (rparams && cJSON_GetObjectItemCaseSensitive(rparams, "rope_theta"))
        AWQ_TRY(get_num(&r, rparams, "rope_theta", 10000.0, &out->rope_theta));
    if (!(out->rms_eps > 0) || !(out->rope_theta > 0))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: rms_norm_eps and rope_theta must be > 0",
                        where);
    AWQ_TRY(parse_rope(&r, out));

    /* tie_word_embeddings: LlamaConfig, MistralConfig, Qwen2/Qwen3Config
     * default to false when the key is absent (PretrainedConfig's own
     * default of true is overridden by each of them); a VL model states it
     * at top level. */
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (!tie && r.text) tie = cJSON_GetObjectItemCaseSensitive(r.text, "tie_word_embeddings");
    if (tie && !cJSON_IsNull(tie)) {
        if (!cJSON_IsBool(tie))
            return awq_fail(ctx, AWQ_ERR_FORMAT,
                            "%s: field \"tie_word_embeddings\" must be true or false", where);
        out->tie_word_embeddings = cJSON_IsTrue(tie);
    } else {
        out->tie_word_embeddings = out->arch && out->arch->tie_default;
    }

    bool qkv_bias_default = out->arch ? out->arch->linears[AWQ_LIN_Q].bias : false;
    AWQ_TRY(get_bool(&r, NULL, "attention_bias", qkv_bias_default, &out->attention_bias));
    /* Qwen2 family: q/k/v always carry biases whatever attention_bias says. */
    if (qkv_bias_default) out->attention_bias = true;
    AWQ_TRY(get_bool(&r, NULL, "mlp_bias", false, &out->mlp_bias));

    AWQ_TRY(parse_act(&r, out));
    if (out->arch && out->arch->gemma_attn)
        AWQ_TRY(parse_gemma(&r, out));
    else if (out->arch)
        AWQ_TRY(parse_window(&r, out));
    if (out->arch && out->arch->moe) AWQ_TRY(parse_moe(&r, out));
    /* Phi-3.5 / Phi-4-mini rotate only part of each head */
    double prf;
    AWQ_TRY(get_num(&r, NULL, "partial_rotary_factor", 1.0, &prf));
    if (prf != 1.0 && out->arch)
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: partial_rotary_factor %g is not supported (rope over the whole "
                        "head only)", where, prf);

    out->is_moe = field(&r, "num_experts") || field(&r, "num_local_experts") ||
                  field(&r, "n_routed_experts");

    out->torch_dtype = AWQ_DT_F16;
    const cJSON *dt = field(&r, "torch_dtype");
    if (!dt) dt = field(&r, "dtype");
    if (dt && cJSON_IsString(dt)) {
        if (strcmp(dt->valuestring, "bfloat16") == 0) out->torch_dtype = AWQ_DT_BF16;
        else if (strcmp(dt->valuestring, "float32") == 0) out->torch_dtype = AWQ_DT_F32;
    }
    const cJSON *bos = field(&r, "bos_token_id"), *eos = field(&r, "eos_token_id");
    /* token ids: only exact integers in [0, 2^31) are meaningful; anything
     * else (and casting it would be undefined) counts as absent */
#define TOKEN_ID(v)                                                                \
    (((v) && cJSON_IsNumber(v) && (v)->valuedouble >= 0 && (v)->valuedouble < 2147483648.0) \
         ? (int64_t)(v)->valuedouble                                             \
         : -1)
    out->bos_token_id = TOKEN_ID(bos);
    if (eos && cJSON_IsArray(eos)) eos = cJSON_GetArrayItem(eos, 0);
    out->eos_token_id = TOKEN_ID(eos);
#undef TOKEN_ID

    return parse_quant(&r, out);
}

/* Legacy checkpoints keep the quantization config in a stand-alone file
 * next to the shards, as vLLM and SGLang accept: AutoGPTQ's
 * quantize_config.json, AutoAWQ's quant_config.json (w_bit, q_group_size),
 * neither with a quant_method. Read only when packed tensors (.qweight) are
 * stored, so a stale file beside a dense model changes nothing. */
static awq_status legacy_quant(awq_ctx *ctx, const awq_checkpoint *ck, awq_model_config *out) {
    bool packed = false;
    size_t n = awq_checkpoint_n_tensors(ck);
    for (size_t i = 0; i < n && !packed; i++) {
        const char *nm = awq_checkpoint_tensor(ck, i)->name;
        size_t l = strlen(nm);
        packed = l > 8 && strcmp(nm + l - 8, ".qweight") == 0;
    }
    if (!packed) return AWQ_OK;
    static const char *const files[] = {"quantize_config.json", "quant_config.json"};
    for (size_t f = 0; f < AWQ_ARRAY_LEN(files); f++) {
        char *path = awq_path_join(awq_checkpoint_dir(ck), files[f]);
        if (!path) return awq_fail_nomem(ctx, "path", 256);
        char *text = NULL;
        size_t len = 0;
        awq_status st = AWQ_OK;
        if (awq_path_exists(path) && (st = awq_read_file(ctx, path, 1u << 20, &text, &len)) == AWQ_OK) {
            cJSON *obj = cJSON_ParseWithLength(text, len);
            cJSON *wrap = cJSON_CreateObject();
            if (!cJSON_IsObject(obj)) {
                st = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: not a JSON object", path);
            } else if (!wrap) {
                st = awq_fail_nomem(ctx, files[f], len);
            } else {
                if (!cJSON_GetObjectItemCaseSensitive(obj, "quant_method"))
                    cJSON_AddStringToObject(obj, "quant_method", f == 0 ? "gptq" : "awq");
                cJSON_AddItemReferenceToObject(wrap, "quantization_config", obj);
                reader r = {ctx, wrap, NULL, path};
                st = parse_quant(&r, out);
            }
            cJSON_Delete(wrap);
            cJSON_Delete(obj);
        }
        free(text);
        free(path);
        if (st != AWQ_OK || out->quant.present) return st;
    }
    return AWQ_OK;
}

awq_status awq_model_config_from_checkpoint(awq_ctx *ctx, const awq_checkpoint *ck,
                                            awq_model_config *out) {
    const cJSON *root = awq_checkpoint_config(ck);
    if (!root)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s: no config.json beside the weights",
                        awq_checkpoint_dir(ck));
    char *where = awq_path_join(awq_checkpoint_dir(ck), "config.json");
    awq_status s = awq_model_config_from_json(ctx, root, where ? where : "config.json", out);
    free(where);
    if (s == AWQ_OK && !out->quant.present) s = legacy_quant(ctx, ck, out);
    return s;
}

awq_status awq_model_find_prefix(awq_ctx *ctx, const awq_checkpoint *ck, char *buf,
                                 size_t buf_size) {
    /* Ordered: plain causal LMs, Qwen2.5-VL as saved by transformers >= 4.52,
     * then the older VL/llava layouts. */
    static const char *const k_prefixes[] = {"model.", "model.language_model.",
                                             "language_model.model.", ""};
    size_t n = awq_checkpoint_n_tensors(ck);
    for (size_t p = 0; p < AWQ_ARRAY_LEN(k_prefixes); p++) {
        char probe[96];
        snprintf(probe, sizeof probe, "%slayers.0.", k_prefixes[p]);
        size_t lp = strlen(probe);
        for (size_t i = 0; i < n; i++) {
            if (strncmp(awq_checkpoint_tensor(ck, i)->name, probe, lp) == 0) {
                if (strlen(k_prefixes[p]) + 1 > buf_size)
                    return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "prefix buffer too small");
                snprintf(buf, buf_size, "%s", k_prefixes[p]);
                return AWQ_OK;
            }
        }
    }
    return awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                    "%s: no decoder layers found (looked for model.layers.0.*, "
                    "model.language_model.layers.0.*, language_model.model.layers.0.*)",
                    awq_checkpoint_dir(ck));
}
