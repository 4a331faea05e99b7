/* lib/text/tok_decode.c — decoding: the decoder chain parsed from
 * tokenizer.json's "decoder", and awq_tokenizer_decode(), which runs the ids'
 * strings through it (or joins them with spaces when there is none, as the
 * reference does). */
#include "text/tokenizer_internal.h"

#include <stdlib.h>

static awq_status add_dec(awq_tokenizer *t, dec_step st) {
    dec_step *n = realloc(t->dec, (t->n_dec + 1) * sizeof *n);
    if (!n) {
        free(st.rep);
        free(st.content);
        tx_pattern_free(st.pat);
        return awq_fail_nomem(t->ctx, "tokenizer", sizeof *n);
    }
    t->dec = n;
    t->dec[t->n_dec++] = st;
    return AWQ_OK;
}

awq_status tx_parse_decoder(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: decoders nested too deeply", tx_tname(t));
    const char *ty = tx_jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: decoder without a \"type\"", tx_tname(t));
    t->has_decoder = true;
    dec_step st = {0};
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = tx_jget(o, "decoders"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence decoder without a list", tx_tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(tx_parse_decoder(t, it, depth + 1));
        return AWQ_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        st.kind = D_BYTELEVEL;
        return add_dec(t, st);
    }
    if (strcmp(ty, "ByteFallback") == 0) {
        st.kind = D_BYTEFALLBACK;
        return add_dec(t, st);
    }
    if (strcmp(ty, "Fuse") == 0) {
        st.kind = D_FUSE;
        return add_dec(t, st);
    }
    if (strcmp(ty, "Metaspace") == 0) {
        st.kind = D_METASPACE;
        AWQ_TRY(tx_parse_scheme(t, o, "Metaspace decoder", &st.scheme));
        AWQ_TRY(tx_metaspace_rep(t, o, "Metaspace decoder", &st.rep, &st.rep_len));
        return add_dec(t, st);
    }
    if (strcmp(ty, "Replace") == 0) {
        const char *c;
        AWQ_TRY(tx_jstr(t, o, "content", "Replace decoder", &c));
        if (!c)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Replace decoder without \"content\"",
                            tx_tname(t));
        st.kind = D_REPLACE;
        AWQ_TRY(tx_parse_pattern(t, tx_jget(o, "pattern"), "Replace decoder", &st.pat));
        st.content_len = strlen(c);
        st.content = tx_dupn(c, st.content_len);
        if (!st.content) {
            tx_pattern_free(st.pat);
            return awq_fail_nomem(t->ctx, "tokenizer", st.content_len);
        }
        return add_dec(t, st);
    }
    if (strcmp(ty, "Strip") == 0) {
        const char *c;
        AWQ_TRY(tx_jstr(t, o, "content", "Strip decoder", &c));
        size_t n = c ? strlen(c) : 0;
        if (!c || n == 0 || tx_utf8_decode(c, n, &st.strip_cp) != n)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Strip decoder content must be one character",
                            tx_tname(t));
        int64_t a = 0, b = 0;
        const cJSON *js = tx_jget(o, "start"), *je = tx_jget(o, "stop");
        if (js) AWQ_TRY(tx_jint(t, js, 0, 1 << 20, "Strip decoder start", &a));
        if (je) AWQ_TRY(tx_jint(t, je, 0, 1 << 20, "Strip decoder stop", &b));
        st.kind = D_STRIP;
        st.strip_start = (size_t)a;
        st.strip_stop = (size_t)b;
        return add_dec(t, st);
    }
    return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                    "%s: decoder type \"%s\" is not supported (supported: ByteLevel, Metaspace, "
                    "Replace, ByteFallback, Fuse, Strip, Sequence)",
                    tx_tname(t), ty);
}

typedef struct toklist {
    tx_buf data;
    size_t *off, *len;
    size_t n, cap;
} toklist;

static bool tl_push(toklist *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        size_t *o = realloc(l->off, nc * sizeof *o);
        if (!o) return false;
        l->off = o;
        size_t *q = realloc(l->len, nc * sizeof *q);
        if (!q) return false;
        l->len = q;
        l->cap = nc;
    }
    l->off[l->n] = l->data.len;
    l->len[l->n] = n;
    if (!tx_buf_append(&l->data, s, n)) return false;
    l->n++;
    return true;
}

/* Append to the last token (which must be the most recent data). */
static bool tl_extend(toklist *l, const char *s, size_t n) {
    if (!tx_buf_append(&l->data, s, n)) return false;
    l->len[l->n - 1] += n;
    return true;
}

static void tl_free(toklist *l) {
    tx_buf_free(&l->data);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "<0xNN>" -> byte (u8::from_str_radix rules: two hex digits, or '+' and
 * one digit). */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    if (s[3] == '+') return hexval(s[4]);
    int a = hexval(s[3]), b = hexval(s[4]);
    return a < 0 || b < 0 ? -1 : a * 16 + b;
}

static awq_status dec_step_apply(awq_tokenizer *t, const dec_step *st, toklist *in,
                                 toklist *out) {
    const tx_bytelevel *bl = tx_bytelevel_table();
    tx_buf tmp = {0};
    bool ok = true;
    switch (st->kind) {
    case D_BYTELEVEL: {
        for (size_t i = 0; ok && i < in->n; i++) {
            const char *s = in->data.p + in->off[i];
            size_t n = in->len[i], j = 0, mark = tmp.len;
            bool all = true;
            while (j < n) {
                uint32_t cp;
                j += tx_utf8_decode(s + j, n - j, &cp);
                int b = cp < 0x144 ? bl->dec[cp] : -1;
                if (b < 0) {
                    all = false;
                    break;
                }
                char c = (char)b;
                ok = ok && tx_buf_append(&tmp, &c, 1);
            }
            if (!all) {
                tmp.len = mark;
                ok = ok && tx_buf_append(&tmp, s, n);
            }
        }
        tx_buf lossy = {0};
        ok = ok && tx_utf8_lossy_append(&lossy, tmp.p ? tmp.p : "", tmp.len) &&
             tl_push(out, lossy.p ? lossy.p : "", lossy.len);
        tx_buf_free(&lossy);
        break;
    }
    case D_METASPACE:
        for (size_t i = 0; ok && i < in->n; i++) {
            const char *s = in->data.p + in->off[i];
            size_t n = in->len[i], j = 0;
            ok = tl_push(out, "", 0);
            while (ok && j < n) {
                if (n - j >= st->rep_len && memcmp(s + j, st->rep, st->rep_len) == 0) {
                    if (!(i == 0 && st->scheme != PS_NEVER)) ok = tl_extend(out, " ", 1);
                    j += st->rep_len;
                } else {
                    size_t l = tx_utf8_len((unsigned char)s[j]);
                    if (l > n - j) l = n - j;
                    ok = tl_extend(out, s + j, l);
                    j += l;
                }
            }
        }
        break;
    case D_REPLACE:
        for (size_t i = 0; ok && i < in->n; i++) {
            const char *s = in->data.p + in->off[i];
            size_t n = in->len[i];
            AWQ_TRY(tx_pattern_find(t->ctx, st->pat, s, n, &t->spans));
            ok = tl_push(out, "", 0);
            size_t prev = 0;
            for (size_t k = 0; ok && k < t->spans.len; k++) {
                ok = tl_extend(out, s + prev, t->spans.p[k].s - prev) &&
                     tl_extend(out, st->content, st->content_len);
                prev = t->spans.p[k].e;
            }
            ok = ok && tl_extend(out, s + prev, n - prev);
        }
        break;
    case D_BYTEFALLBACK: {
        for (size_t i = 0; ok && i <= in->n; i++) {
            int b = i < in->n ? byte_token(in->data.p + in->off[i], in->len[i]) : -1;
            if (b >= 0) {
                char c = (char)b;
                ok = tx_buf_append(&tmp, &c, 1);
                continue;
            }
            if (tmp.len) {
                if (tx_utf8_first_invalid(tmp.p, tmp.len) == tmp.len) {
                    ok = tl_push(out, tmp.p, tmp.len);
                } else {
                    for (size_t k = 0; ok && k < tmp.len; k++)
                        ok = tl_push(out, "\xEF\xBF\xBD", 3);
                }
                tmp.len = 0;
            }
            if (ok && i < in->n) ok = tl_push(out, in->data.p + in->off[i], in->len[i]);
        }
        break;
    }
    case D_FUSE:
        ok = tl_push(out, "", 0);
        for (size_t i = 0; ok && i < in->n; i++)
            ok = tl_extend(out, in->data.p + in->off[i], in->len[i]);
        break;
    case D_STRIP:
        for (size_t i = 0; ok && i < in->n; i++) {
            const char *s = in->data.p + in->off[i];
            size_t n = in->len[i], a = 0, b = n;
            for (size_t k = 0; k < st->strip_start && a < b; k++) {
                uint32_t cp;
                size_t l = tx_utf8_decode(s + a, b - a, &cp);
                if (cp != st->strip_cp) break;
                a += l;
            }
            for (size_t k = 0; k < st->strip_stop && b > a; k++) {
                size_t q = b - 1;
                while (q > a && ((unsigned char)s[q] & 0xC0) == 0x80) q--;
                uint32_t cp;
                tx_utf8_decode(s + q, b - q, &cp);
                if (cp != st->strip_cp) break;
                b = q;
            }
            ok = tl_push(out, s + a, b - a);
        }
        break;
    }
    tx_buf_free(&tmp);
    if (!ok) return awq_fail_nomem(t->ctx, "decode", in->data.len);
    return AWQ_OK;
}

awq_status awq_tokenizer_decode(awq_tokenizer *t, const int32_t *ids, size_t n_ids,
                                bool skip_special, char **text, size_t *len) {
    if (!text) return AWQ_ERR_INVALID_ARG;
    *text = NULL;
    if (len) *len = 0;
    if (!t || (!ids && n_ids))
        return awq_fail(t ? t->ctx : NULL, AWQ_ERR_INVALID_ARG, "decode: NULL argument");
    toklist a = {0}, b = {0};
    awq_status s = AWQ_OK;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->vocab_size || !t->id_str[id]) {
            s = awq_fail(t->ctx, AWQ_ERR_INVALID_ARG, "decode: id %d (position %zu) is not a token of %s",
                         id, i, tx_tname(t));
            goto done;
        }
        if (skip_special && (t->id_flags[id] & 1)) continue;
        if (!tl_push(&a, t->id_str[id], t->id_len[id])) {
            s = awq_fail_nomem(t->ctx, "decode", n_ids);
            goto done;
        }
    }
    if (!t->has_decoder) {
        /* no decoder: the reference joins the tokens with spaces */
        tx_buf o = {0};
        bool ok = true;
        for (size_t i = 0; ok && i < a.n; i++)
            ok = (i == 0 || tx_buf_append(&o, " ", 1)) &&
                 tx_buf_append(&o, a.data.p + a.off[i], a.len[i]);
        if (!ok || !tx_buf_reserve(&o, 1)) {
            tx_buf_free(&o);
            s = awq_fail_nomem(t->ctx, "decode", n_ids);
            goto done;
        }
        o.p[o.len] = 0;
        *text = o.p;
        if (len) *len = o.len;
        goto done;
    }
    for (size_t k = 0; k < t->n_dec; k++) {
        b.n = 0;
        b.data.len = 0;
        s = dec_step_apply(t, &t->dec[k], &a, &b);
        if (s != AWQ_OK) goto done;
        toklist tmp = a;
        a = b;
        b = tmp;
    }
    {
        tx_buf o = {0};
        bool ok = true;
        for (size_t i = 0; ok && i < a.n; i++) ok = tx_buf_append(&o, a.data.p + a.off[i], a.len[i]);
        if (!ok || !tx_buf_reserve(&o, 1)) {
            tx_buf_free(&o);
            s = awq_fail_nomem(t->ctx, "decode", n_ids);
            goto done;
        }
        o.p[o.len] = 0;
        *text = o.p;
        if (len) *len = o.len;
    }
done:
    tl_free(&a);
    tl_free(&b);
    return s;
}
