/* lib/text/tok_json.c — the field readers every tokenizer.json parser
 * shares: typed optional fields with errors naming the file and field, and
 * the small objects several components spell the same way (patterns, the
 * Metaspace prepend_scheme and replacement). */
#include "text/tokenizer_internal.h"

#include <stdlib.h>

const char *tx_tname(const awq_tokenizer *t) { return t->name ? t->name : "tokenizer.json"; }

const cJSON *tx_jget(const cJSON *o, const char *k) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

/* Optional bool: absent / null -> def; anything but a bool is an error. */
awq_status tx_jbool(awq_tokenizer *t, const cJSON *o, const char *k, bool def,
                        const char *where, bool *out) {
    const cJSON *v = tx_jget(o, k);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return AWQ_OK;
    }
    if (!cJSON_IsBool(v))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s must be true or false",
                        tx_tname(t), where, k);
    *out = cJSON_IsTrue(v);
    return AWQ_OK;
}

/* Optional string: absent / null -> NULL. */
awq_status tx_jstr(awq_tokenizer *t, const cJSON *o, const char *k,
                       const char *where, const char **out) {
    const cJSON *v = tx_jget(o, k);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return AWQ_OK;
    if (!cJSON_IsString(v) || !v->valuestring)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s must be a string", tx_tname(t),
                        where, k);
    size_t n = strlen(v->valuestring);
    if (tx_utf8_first_invalid(v->valuestring, n) != n)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s is not valid UTF-8", tx_tname(t),
                        where, k);
    *out = v->valuestring;
    return AWQ_OK;
}

awq_status tx_jint(awq_tokenizer *t, const cJSON *v, int64_t lo, int64_t hi,
                       const char *what, int64_t *out) {
    if (!cJSON_IsNumber(v))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s must be a number", tx_tname(t), what);
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s = %g is not an integer in [%lld, %lld]",
                        tx_tname(t), what, d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return AWQ_OK;
}

const char *tx_jtype(const cJSON *o) {
    const cJSON *ty = tx_jget(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

char *tx_dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* A {"String": s} / {"Regex": r} pattern object. */
awq_status tx_parse_pattern(awq_tokenizer *t, const cJSON *o, const char *where,
                                tx_pattern **out) {
    const cJSON *s = tx_jget(o, "String"), *r = tx_jget(o, "Regex");
    if (cJSON_IsString(s)) {
        size_t n = strlen(s->valuestring);
        if (tx_utf8_first_invalid(s->valuestring, n) != n)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s pattern is not valid UTF-8",
                            tx_tname(t), where);
        return tx_pattern_literal(t->ctx, s->valuestring, n, out);
    }
    if (cJSON_IsString(r)) {
        awq_status st = tx_pattern_regex(t->ctx, r->valuestring, strlen(r->valuestring),
                                         where, out);
        if (st != AWQ_OK) return awq_fail_wrap(t->ctx, st, "%s", tx_tname(t));
        return AWQ_OK;
    }
    return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                    "%s: %s pattern must be {\"String\": ...} or {\"Regex\": ...}", tx_tname(t),
                    where);
}

awq_status tx_parse_scheme(awq_tokenizer *t, const cJSON *o, const char *where,
                               prepend_scheme *out) {
    const cJSON *ps = tx_jget(o, "prepend_scheme");
    if (cJSON_IsString(ps)) {
        if (strcmp(ps->valuestring, "always") == 0) *out = PS_ALWAYS;
        else if (strcmp(ps->valuestring, "first") == 0) *out = PS_FIRST;
        else if (strcmp(ps->valuestring, "never") == 0) *out = PS_NEVER;
        else
            return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED, "%s: %s prepend_scheme \"%s\" is not supported",
                            tx_tname(t), where, ps->valuestring);
        return AWQ_OK;
    }
    /* files written before prepend_scheme existed: add_prefix_space */
    bool aps;
    AWQ_TRY(tx_jbool(t, o, "add_prefix_space", true, where, &aps));
    *out = aps ? PS_ALWAYS : PS_NEVER;
    return AWQ_OK;
}

awq_status tx_metaspace_rep(awq_tokenizer *t, const cJSON *o, const char *where,
                                char **rep, size_t *rep_len) {
    const char *r;
    AWQ_TRY(tx_jstr(t, o, "replacement", where, &r));
    if (!r) r = META_SPACE;
    size_t n = strlen(r);
    uint32_t cp;
    if (n == 0 || tx_utf8_decode(r, n, &cp) != n)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s replacement must be one character",
                        tx_tname(t), where);
    *rep = tx_dupn(r, n);
    if (!*rep) return awq_fail_nomem(t->ctx, "tokenizer", n);
    *rep_len = n;
    return AWQ_OK;
}
