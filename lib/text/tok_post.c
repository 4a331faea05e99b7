/* lib/text/tok_post.c — the special ids placed around an encoded
 * sequence: tokenizer.json's "post_processor" (TemplateProcessing,
 * Roberta/BertProcessing) and tokenizer_config.json's bos/eos tokens and
 * add_bos_token / add_eos_token, which override it. */
#include "text/tokenizer_internal.h"

#include <cjson/cJSON.h>

static awq_status special_ids_of(awq_tokenizer *t, const cJSON *special, const char *name,
                                 tx_ivec *out) {
    const cJSON *e = tx_jget(special, name);
    const cJSON *ids = tx_jget(e, "ids"), *it;
    if (!cJSON_IsArray(ids))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                        "%s: TemplateProcessing special token \"%s\" has no \"ids\" list",
                        tx_tname(t), name);
    cJSON_ArrayForEach(it, ids) {
        int64_t id;
        AWQ_TRY(tx_jint(t, it, 0, AWQ_TOKENIZER_MAX_VOCAB - 1, "TemplateProcessing special token id", &id));
        if (!tx_ivec_push(out, (int32_t)id)) return awq_fail_nomem(t->ctx, "tokenizer", 4);
    }
    return AWQ_OK;
}

/* A processor wraps what the previous ones produced: prefix = own + prefix,
 * suffix = suffix + own. */
static awq_status wrap_ids(awq_tokenizer *t, const tx_ivec *pre, const tx_ivec *suf) {
    tx_ivec np = {0};
    if (!tx_ivec_append(&np, pre->p, pre->len) ||
        !tx_ivec_append(&np, t->prefix.p, t->prefix.len) ||
        !tx_ivec_append(&t->suffix, suf->p, suf->len)) {
        tx_ivec_free(&np);
        return awq_fail_nomem(t->ctx, "tokenizer", 64);
    }
    tx_ivec_free(&t->prefix);
    t->prefix = np;
    return AWQ_OK;
}

static awq_status cls_sep(awq_tokenizer *t, const cJSON *o, const char *key, const char *ty,
                          tx_ivec *out) {
    const cJSON *a = tx_jget(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 2)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s must be [token, id]", tx_tname(t), ty, key);
    int64_t id;
    AWQ_TRY(tx_jint(t, cJSON_GetArrayItem(a, 1), 0, AWQ_TOKENIZER_MAX_VOCAB - 1, key, &id));
    if (!tx_ivec_push(out, (int32_t)id)) return awq_fail_nomem(t->ctx, "tokenizer", 4);
    return AWQ_OK;
}

awq_status tx_parse_post(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: post-processors nested too deeply", tx_tname(t));
    const char *ty = tx_jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: post_processor without a \"type\"", tx_tname(t));
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = tx_jget(o, "processors"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence post_processor without a list",
                            tx_tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(tx_parse_post(t, it, depth + 1));
        return AWQ_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) return AWQ_OK; /* offsets only */
    tx_ivec pre = {0}, suf = {0};
    awq_status s = AWQ_OK;
    if (strcmp(ty, "TemplateProcessing") == 0) {
        const cJSON *single = tx_jget(o, "single"), *special = tx_jget(o, "special_tokens"), *it;
        if (!cJSON_IsArray(single))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: TemplateProcessing without \"single\"",
                            tx_tname(t));
        int seen_a = 0;
        cJSON_ArrayForEach(it, single) {
            const cJSON *sp = tx_jget(it, "SpecialToken"), *sq = tx_jget(it, "Sequence");
            if (sp) {
                const cJSON *id = tx_jget(sp, "id");
                if (!cJSON_IsString(id)) {
                    s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                                 "%s: TemplateProcessing SpecialToken without an id", tx_tname(t));
                    break;
                }
                s = special_ids_of(t, special, id->valuestring, seen_a ? &suf : &pre);
                if (s != AWQ_OK) break;
            } else if (sq) {
                const cJSON *id = tx_jget(sq, "id");
                if (!cJSON_IsString(id) || strcmp(id->valuestring, "A") != 0 || seen_a) {
                    s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                                 "%s: TemplateProcessing \"single\" must hold sequence A once",
                                 tx_tname(t));
                    break;
                }
                seen_a = 1;
            } else {
                s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                             "%s: TemplateProcessing item is neither SpecialToken nor Sequence",
                             tx_tname(t));
                break;
            }
        }
        if (s == AWQ_OK && !seen_a)
            s = awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: TemplateProcessing \"single\" lacks $A",
                         tx_tname(t));
    } else if (strcmp(ty, "RobertaProcessing") == 0 || strcmp(ty, "BertProcessing") == 0) {
        s = cls_sep(t, o, "cls", ty, &pre);
        if (s == AWQ_OK) s = cls_sep(t, o, "sep", ty, &suf);
    } else {
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: post_processor type \"%s\" is not supported (supported: "
                        "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, "
                        "Sequence)",
                        tx_tname(t), ty);
    }
    if (s == AWQ_OK) s = wrap_ids(t, &pre, &suf);
    tx_ivec_free(&pre);
    tx_ivec_free(&suf);
    return s;
}

static awq_status cfg_token(awq_tokenizer *t, const cJSON *cfg, const char *key,
                            const char **out) {
    const cJSON *v = tx_jget(cfg, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return AWQ_OK;
    if (cJSON_IsString(v)) {
        *out = v->valuestring;
        return AWQ_OK;
    }
    const cJSON *c = tx_jget(v, "content");
    if (cJSON_IsString(c)) {
        *out = c->valuestring;
        return AWQ_OK;
    }
    return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                    "tokenizer_config.json: %s must be a string or an object with \"content\"", key);
}

awq_status tx_apply_config(awq_tokenizer *t, const cJSON *cfg) {
    const char *bos_s = NULL, *eos_s = NULL;
    if (cfg) {
        if (!cJSON_IsObject(cfg))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "tokenizer_config.json is not a JSON object");
        AWQ_TRY(cfg_token(t, cfg, "bos_token", &bos_s));
        AWQ_TRY(cfg_token(t, cfg, "eos_token", &eos_s));
    }
    t->bos = bos_s ? awq_tokenizer_token_id(t, bos_s) : -1;
    t->eos = eos_s ? awq_tokenizer_token_id(t, eos_s) : -1;
    if (cfg) {
        const cJSON *ab = tx_jget(cfg, "add_bos_token"), *ae = tx_jget(cfg, "add_eos_token");
        if (cJSON_IsBool(ab)) {
            t->prefix.len = 0;
            if (cJSON_IsTrue(ab)) {
                if (t->bos < 0)
                    return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                                    "tokenizer_config.json: add_bos_token is true but bos_token "
                                    "\"%s\" is not a token",
                                    bos_s ? bos_s : "(none)");
                if (!tx_ivec_push(&t->prefix, t->bos)) return awq_fail_nomem(t->ctx, "tokenizer", 4);
            }
        }
        if (cJSON_IsBool(ae)) {
            t->suffix.len = 0;
            if (cJSON_IsTrue(ae)) {
                if (t->eos < 0)
                    return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                                    "tokenizer_config.json: add_eos_token is true but eos_token "
                                    "\"%s\" is not a token",
                                    eos_s ? eos_s : "(none)");
                if (!tx_ivec_push(&t->suffix, t->eos)) return awq_fail_nomem(t->ctx, "tokenizer", 4);
            }
        }
    }
    if (t->bos < 0 && t->prefix.len) t->bos = t->prefix.p[0];
    if (t->eos < 0 && t->suffix.len) t->eos = t->suffix.p[t->suffix.len - 1];
    return AWQ_OK;
}
