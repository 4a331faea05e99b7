/* lib/text/tok_added.c — added tokens: parsed from tokenizer.json's
 * "added_tokens", the leftmost-longest matchers over them, and the split of
 * a piece of text around their matches (single_word / lstrip / rstrip
 * applied as the reference's AddedVocabulary does). */
#include "text/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

awq_status tx_parse_added(awq_tokenizer *t, const cJSON *arr, int32_t *max_id) {
    if (!arr || cJSON_IsNull(arr)) return AWQ_OK;
    if (!cJSON_IsArray(arr))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: added_tokens must be a list", tx_tname(t));
    int n = cJSON_GetArraySize(arr);
    if (n > AWQ_TOKENIZER_MAX_VOCAB)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: too many added tokens", tx_tname(t));
    t->added = calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added) return awq_fail_nomem(t->ctx, "added tokens", (uint64_t)n);
    const cJSON *it;
    size_t order = 0;
    cJSON_ArrayForEach(it, arr) {
        const char *content;
        AWQ_TRY(tx_jstr(t, it, "content", "added_tokens[]", &content));
        int64_t id;
        AWQ_TRY(tx_jint(t, tx_jget(it, "id"), 0, AWQ_TOKENIZER_MAX_VOCAB - 1, "added_tokens[].id", &id));
        if (!content)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: added token %lld has no content",
                            tx_tname(t), (long long)id);
        added_tok a = {0};
        AWQ_TRY(tx_jbool(t, it, "special", false, "added_tokens[]", &a.special));
        AWQ_TRY(tx_jbool(t, it, "single_word", false, "added_tokens[]", &a.single_word));
        AWQ_TRY(tx_jbool(t, it, "lstrip", false, "added_tokens[]", &a.lstrip));
        AWQ_TRY(tx_jbool(t, it, "rstrip", false, "added_tokens[]", &a.rstrip));
        AWQ_TRY(tx_jbool(t, it, "normalized", !a.special, "added_tokens[]", &a.normalized));
        a.id = (int32_t)id;
        a.order = order++;
        size_t cl = strlen(content);
        if (cl == 0) continue; /* the reference ignores empty added tokens */
        /* the id written in the file is used (the reference renumbers added
         * tokens missing from the vocabulary consecutively after it, which
         * is the same for every file it wrote); an id the model already
         * gives to this string: the model's wins, as in the reference */
        int32_t vid = tx_strmap_get(&t->bpe.vocab, content, cl);
        if (vid >= 0 && vid != a.id) {
            awq_warn(t->ctx, "%s: added token \"%.40s\" has id %d but the vocabulary says %d; using %d",
                     tx_tname(t), content, a.id, vid, vid);
            a.id = vid;
        }
        a.raw = tx_dupn(content, cl);
        if (!a.raw) return awq_fail_nomem(t->ctx, "added tokens", cl);
        /* a later entry with the same content replaces the earlier one */
        size_t k;
        for (k = 0; k < t->n_added; k++)
            if (strcmp(t->added[k].raw, a.raw) == 0) break;
        if (k < t->n_added) {
            free(t->added[k].raw);
            free(t->added[k].content);
            t->added[k] = a;
        } else {
            t->added[t->n_added++] = a;
        }
        if (a.id > *max_id) *max_id = a.id;
    }
    return AWQ_OK;
}

static int cmp_pat(const void *x, const void *y) {
    const added_tok *a = *(const added_tok *const *)x, *b = *(const added_tok *const *)y;
    unsigned ca = (unsigned char)a->content[0], cb = (unsigned char)b->content[0];
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    /* special tokens come first in the reference's trie, then file order */
    if (a->special != b->special) return a->special ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

awq_status tx_build_matcher(awq_tokenizer *t, matcher *m, bool normalized) {
    m->pat = calloc(t->n_added + 1, sizeof *m->pat);
    if (!m->pat) return awq_fail_nomem(t->ctx, "added tokens", t->n_added);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized && t->added[i].len)
            m->pat[m->n++] = &t->added[i];
    qsort(m->pat, m->n, sizeof *m->pat, cmp_pat);
    size_t k = 0;
    for (unsigned c = 0; c < 256; c++) {
        m->first[c] = (uint32_t)k;
        while (k < m->n && (unsigned char)m->pat[k]->content[0] == c) k++;
    }
    m->first[256] = (uint32_t)k;
    return AWQ_OK;
}

/* Leftmost-longest match at or after `from`. */
static bool matcher_find(const matcher *m, const char *s, size_t n, size_t from, size_t *ms,
                         size_t *me, const added_tok **tok) {
    for (size_t p = from; p < n; p++) {
        unsigned c = (unsigned char)s[p];
        uint32_t a = m->first[c], b = m->first[c + 1];
        for (uint32_t k = a; k < b; k++) {
            const added_tok *x = m->pat[k];
            if (x->len <= n - p && memcmp(s + p, x->content, x->len) == 0) {
                *ms = p;
                *me = p + x->len;
                *tok = x;
                return true;
            }
        }
    }
    return false;
}

static bool last_char_word(const char *s, size_t n) {
    if (!n) return false;
    size_t q = n - 1;
    while (q > 0 && ((unsigned char)s[q] & 0xC0) == 0x80) q--;
    uint32_t cp;
    tx_utf8_decode(s + q, n - q, &cp);
    return tx_is_word_char(cp);
}

static bool first_char_word(const char *s, size_t n) {
    if (!n) return false;
    uint32_t cp;
    tx_utf8_decode(s, n, &cp);
    return tx_is_word_char(cp);
}

awq_status tx_split_added(awq_tokenizer *t, const matcher *m, const char *s, size_t n,
                              bool first, gap_fn fn, tx_ivec *out) {
    if (m->n == 0) return fn(t, s, n, first, out);
    size_t pos = 0, seg = 0, ms, me;
    const added_tok *a;
    while (pos < n && matcher_find(m, s, n, pos, &ms, &me, &a)) {
        pos = me;
        if (a->single_word) {
            bool start_space = ms == 0 || !last_char_word(s, ms);
            bool stop_space = me == n || !first_char_word(s + me, n - me);
            if (!start_space || !stop_space) continue;
        }
        size_t st = ms, en = me;
        if (a->lstrip) {
            size_t q = ms;
            while (q > 0) {
                size_t r = q - 1;
                while (r > 0 && ((unsigned char)s[r] & 0xC0) == 0x80) r--;
                uint32_t cp;
                tx_utf8_decode(s + r, q - r, &cp);
                if (!tx_is_whitespace(cp)) break;
                q = r;
            }
            st = q > seg ? q : seg;
        }
        if (a->rstrip) {
            while (en < n) {
                uint32_t cp;
                size_t l = tx_utf8_decode(s + en, n - en, &cp);
                if (!tx_is_whitespace(cp)) break;
                en += l;
            }
        }
        if (seg < st) AWQ_TRY(fn(t, s + seg, st - seg, first && seg == 0, out));
        if (!tx_ivec_push(out, a->id)) return awq_fail_nomem(t->ctx, "token ids", out->len);
        seg = en;
    }
    if (seg < n) AWQ_TRY(fn(t, s + seg, n - seg, first && seg == 0, out));
    return AWQ_OK;
}
