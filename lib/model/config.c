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

static awq_status parse_rope(const reader *r, awq_model_config *c) {
    awq_rope_scaling *rs = &c->rope;
    memset(rs, 0, sizeof *rs);
    rs->type = AWQ_ROPE_DEFAULT;
    rs->factor = 1.0;
    /* transformers >= 5 writes rope_theta / rope_type and the scaling
     * parameters in one "rope_parameters" object; 4.x uses rope_scaling. */
    const cJSON *s = field(r, "rope_scaling");
    const cJSON *rp = field(r, "rope_parameters");
    if (!s && rp && cJSON_IsObject(rp)) s = rp;
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
        if (out->hidden % out->n_heads != 0)
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

    AWQ_TRY(get_num(&r, NULL, "rms_norm_eps", 1e-6, &out->rms_eps));
    AWQ_TRY(get_num(&r, NULL, "rope_theta", 10000.0, &out->rope_theta));
    const cJSON *rparams = field(&r, "rope_parameters");
    if (rparams && cJSON_IsObject(rparams) &&
        cJSON_GetObjectItemCaseSensitive(rparams, "rope_theta"))
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
        out->tie_word_embeddings = false;
    }

    bool qkv_bias_default = out->arch ? out->arch->linears[AWQ_LIN_Q].bias : false;
    AWQ_TRY(get_bool(&r, NULL, "attention_bias", qkv_bias_default, &out->attention_bias));
    /* Qwen2 family: q/k/v always carry biases whatever attention_bias says. */
    if (qkv_bias_default) out->attention_bias = true;
    AWQ_TRY(get_bool(&r, NULL, "mlp_bias", false, &out->mlp_bias));

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
