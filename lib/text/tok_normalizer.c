/* lib/text/tok_normalizer.c — the normalizer chain: parsed from
 * tokenizer.json's "normalizer" into steps, and applied to a piece of text
 * (the second stage of the encode pipeline, tokenizer.c). */
#include "text/tokenizer_internal.h"

#include <stdlib.h>

static awq_status add_norm(awq_tokenizer *t, norm_step st) {
    norm_step *n = realloc(t->norm, (t->n_norm + 1) * sizeof *n);
    if (!n) {
        free(st.s);
        tx_pattern_free(st.pat);
        return awq_fail_nomem(t->ctx, "tokenizer", sizeof *n);
    }
    t->norm = n;
    t->norm[t->n_norm++] = st;
    return AWQ_OK;
}

awq_status tx_parse_normalizer(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: normalizers nested too deeply", tx_tname(t));
    const char *ty = tx_jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: normalizer without a \"type\"", tx_tname(t));
    norm_step st = {0};
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = tx_jget(o, "normalizers"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence normalizer without a list",
                            tx_tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(tx_parse_normalizer(t, it, depth + 1));
        return AWQ_OK;
    }
    if (strcmp(ty, "NFC") == 0 || strcmp(ty, "NFD") == 0 || strcmp(ty, "NFKC") == 0 ||
        strcmp(ty, "NFKD") == 0) {
        st.kind = N_NF;
        st.nf = strcmp(ty, "NFC") == 0    ? TX_NFC
                : strcmp(ty, "NFD") == 0  ? TX_NFD
                : strcmp(ty, "NFKC") == 0 ? TX_NFKC
                                          : TX_NFKD;
        return add_norm(t, st);
    }
    if (strcmp(ty, "Prepend") == 0) {
        const char *p;
        AWQ_TRY(tx_jstr(t, o, "prepend", "Prepend normalizer", &p));
        if (!p)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Prepend normalizer without \"prepend\"",
                            tx_tname(t));
        st.kind = N_PREPEND;
        st.slen = strlen(p);
        st.s = tx_dupn(p, st.slen);
        if (!st.s) return awq_fail_nomem(t->ctx, "tokenizer", st.slen);
        return add_norm(t, st);
    }
    if (strcmp(ty, "Replace") == 0) {
        const char *c;
        AWQ_TRY(tx_jstr(t, o, "content", "Replace normalizer", &c));
        if (!c)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Replace normalizer without \"content\"",
                            tx_tname(t));
        st.kind = N_REPLACE;
        AWQ_TRY(tx_parse_pattern(t, tx_jget(o, "pattern"), "Replace normalizer", &st.pat));
        st.slen = strlen(c);
        st.s = tx_dupn(c, st.slen);
        if (!st.s) {
            tx_pattern_free(st.pat);
            return awq_fail_nomem(t->ctx, "tokenizer", st.slen);
        }
        return add_norm(t, st);
    }
    if (strcmp(ty, "Strip") == 0) {
        st.kind = N_STRIP;
        AWQ_TRY(tx_jbool(t, o, "strip_left", true, "Strip normalizer", &st.left));
        AWQ_TRY(tx_jbool(t, o, "strip_right", true, "Strip normalizer", &st.right));
        return add_norm(t, st);
    }
    if (strcmp(ty, "Lowercase") == 0) {
        st.kind = N_LOWER;
        return add_norm(t, st);
    }
    return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                    "%s: normalizer type \"%s\" is not supported (supported: NFC, NFD, NFKC, "
                    "NFKD, Prepend, Replace, Strip, Lowercase, Sequence)",
                    tx_tname(t), ty);
}
/* Apply the normalizer chain to s; the result lives in one of t->nb. */
awq_status tx_normalize(awq_tokenizer *t, const char *s, size_t n, const char **out,
                            size_t *out_len) {
    const char *cur = s;
    size_t cl = n;
    int w = 0;
    for (size_t i = 0; i < t->n_norm; i++) {
        norm_step *st = &t->norm[i];
        tx_buf *dst = &t->nb[w];
        dst->len = 0;
        bool ok = true;
        switch (st->kind) {
        case N_NF:
            AWQ_TRY(tx_normalize_nf(t->ctx, st->nf, cur, cl, dst));
            break;
        case N_PREPEND:
            if (cl) ok = tx_buf_append(dst, st->s, st->slen) && tx_buf_append(dst, cur, cl);
            break;
        case N_REPLACE: {
            AWQ_TRY(tx_pattern_find(t->ctx, st->pat, cur, cl, &t->spans));
            size_t prev = 0;
            for (size_t k = 0; ok && k < t->spans.len; k++) {
                ok = tx_buf_append(dst, cur + prev, t->spans.p[k].s - prev) &&
                     tx_buf_append(dst, st->s, st->slen);
                prev = t->spans.p[k].e;
            }
            ok = ok && tx_buf_append(dst, cur + prev, cl - prev);
            break;
        }
        case N_STRIP: {
            size_t a = 0, b = cl;
            if (st->left) {
                while (a < b) {
                    uint32_t cp;
                    size_t l = tx_utf8_decode(cur + a, b - a, &cp);
                    if (!tx_is_whitespace(cp)) break;
                    a += l;
                }
            }
            if (st->right) {
                while (b > a) {
                    size_t q = b - 1;
                    while (q > a && ((unsigned char)cur[q] & 0xC0) == 0x80) q--;
                    uint32_t cp;
                    tx_utf8_decode(cur + q, b - q, &cp);
                    if (!tx_is_whitespace(cp)) break;
                    b = q;
                }
            }
            ok = tx_buf_append(dst, cur + a, b - a);
            break;
        }
        case N_LOWER:
            ok = tx_lowercase(cur, cl, dst);
            break;
        }
        if (!ok) return awq_fail_nomem(t->ctx, "normalized text", cl);
        cur = dst->p ? dst->p : "";
        cl = dst->len;
        w ^= 1;
    }
    *out = cur;
    *out_len = cl;
    return AWQ_OK;
}
