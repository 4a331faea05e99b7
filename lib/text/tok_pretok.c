/* lib/text/tok_pretok.c — the pre-tokenizers: parsed from tokenizer.json's
 * "pre_tokenizer" into steps (ByteLevel, Split, Metaspace, Digits), and run
 * on a normalized piece to cut it into the pre-tokens the model sees (the
 * third stage of the encode pipeline, tokenizer.c). Splits follow the
 * reference's NormalizedString::split and SplitDelimiterBehavior. */
#include "text/tokenizer_internal.h"

#include <stdlib.h>

/* The ByteLevel pre-tokenizer's split regex (GPT-2). */
static const char k_gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";


static awq_status add_pt(awq_tokenizer *t, pt_step st) {
    pt_step *n = realloc(t->pt, (t->n_pt + 1) * sizeof *n);
    if (!n) {
        tx_pattern_free(st.pat);
        free(st.rep);
        return awq_fail_nomem(t->ctx, "tokenizer", sizeof *n);
    }
    t->pt = n;
    t->pt[t->n_pt++] = st;
    return AWQ_OK;
}

awq_status tx_parse_pretok(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: pre-tokenizers nested too deeply", tx_tname(t));
    const char *ty = tx_jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: pre_tokenizer without a \"type\"", tx_tname(t));
    pt_step st = {0};
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = tx_jget(o, "pretokenizers"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence pre_tokenizer without a list",
                            tx_tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(tx_parse_pretok(t, it, depth + 1));
        return AWQ_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        st.kind = P_BYTELEVEL;
        AWQ_TRY(tx_jbool(t, o, "add_prefix_space", true, "ByteLevel pre_tokenizer", &st.add_prefix_space));
        AWQ_TRY(tx_jbool(t, o, "use_regex", true, "ByteLevel pre_tokenizer", &st.use_regex));
        if (st.use_regex && !t->bl_regex)
            AWQ_TRY(tx_pattern_regex(t->ctx, k_gpt2_regex, sizeof k_gpt2_regex - 1,
                                     "ByteLevel", &t->bl_regex));
        t->byte_level = true;
        return add_pt(t, st);
    }
    if (strcmp(ty, "Split") == 0) {
        st.kind = P_SPLIT;
        const char *beh;
        AWQ_TRY(tx_jstr(t, o, "behavior", "Split pre_tokenizer", &beh));
        if (!beh)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Split pre_tokenizer without \"behavior\"",
                            tx_tname(t));
        if (strcmp(beh, "Removed") == 0) st.beh = B_REMOVED;
        else if (strcmp(beh, "Isolated") == 0) st.beh = B_ISOLATED;
        else if (strcmp(beh, "MergedWithPrevious") == 0) st.beh = B_MERGED_PREV;
        else if (strcmp(beh, "MergedWithNext") == 0) st.beh = B_MERGED_NEXT;
        else if (strcmp(beh, "Contiguous") == 0) st.beh = B_CONTIGUOUS;
        else
            return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED, "%s: Split behavior \"%s\" is not supported",
                            tx_tname(t), beh);
        AWQ_TRY(tx_jbool(t, o, "invert", false, "Split pre_tokenizer", &st.invert));
        AWQ_TRY(tx_parse_pattern(t, tx_jget(o, "pattern"), "Split pre_tokenizer", &st.pat));
        return add_pt(t, st);
    }
    if (strcmp(ty, "Metaspace") == 0) {
        st.kind = P_METASPACE;
        AWQ_TRY(tx_parse_scheme(t, o, "Metaspace pre_tokenizer", &st.scheme));
        AWQ_TRY(tx_jbool(t, o, "split", true, "Metaspace pre_tokenizer", &st.split));
        AWQ_TRY(tx_metaspace_rep(t, o, "Metaspace pre_tokenizer", &st.rep, &st.rep_len));
        t->spm_style = true;
        return add_pt(t, st);
    }
    if (strcmp(ty, "Digits") == 0) {
        st.kind = P_DIGITS;
        AWQ_TRY(tx_jbool(t, o, "individual_digits", false, "Digits pre_tokenizer", &st.individual));
        return add_pt(t, st);
    }
    return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                    "%s: pre_tokenizer type \"%s\" is not supported (supported: ByteLevel, "
                    "Split, Metaspace, Digits, Sequence)",
                    tx_tname(t), ty);
}

static bool pv_push(piece_vec *v, size_t off, size_t len, bool first) {
    if (v->len == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        piece *p = realloc(v->p, nc * sizeof *p);
        if (!p) return false;
        v->p = p;
        v->cap = nc;
    }
    v->p[v->len++] = (piece){off, len, first};
    return true;
}

static bool cov_reserve(awq_tokenizer *t, size_t n) {
    if (n <= t->cov_cap) return true;
    size_t nc = t->cov_cap ? t->cov_cap : 64;
    while (nc < n) nc *= 2;
    cov *c = realloc(t->cov, nc * sizeof *c);
    if (!c) return false;
    t->cov = c;
    cov *c2 = realloc(t->cov2, nc * sizeof *c2);
    if (!c2) return false;
    t->cov2 = c2;
    t->cov_cap = nc;
    return true;
}

/* Matches -> the covering list of (span, is_match) of the reference's
 * Pattern::find_matches. */
static bool spans_to_cov(awq_tokenizer *t, const tx_spans *sp, size_t len, size_t *nc) {
    if (!cov_reserve(t, 2 * sp->len + 2)) return false;
    size_t k = 0, prev = 0;
    for (size_t i = 0; i < sp->len; i++) {
        if (prev != sp->p[i].s) t->cov[k++] = (cov){prev, sp->p[i].s, false};
        t->cov[k++] = (cov){sp->p[i].s, sp->p[i].e, true};
        prev = sp->p[i].e;
    }
    if (prev != len) t->cov[k++] = (cov){prev, len, false};
    *nc = k;
    return true;
}

/* SplitDelimiterBehavior, as NormalizedString::split folds it. Rewrites
 * t->cov in place to the kept spans (m = false) and pushes the non-empty ones
 * as pieces based at `base`. */
static bool apply_behavior(awq_tokenizer *t, size_t nc, split_beh beh, size_t base,
                           bool first, piece_vec *out) {
    cov *c = t->cov;
    size_t k = 0;
    switch (beh) {
    case B_ISOLATED:
        for (size_t i = 0; i < nc; i++) c[k++] = (cov){c[i].s, c[i].e, false};
        break;
    case B_REMOVED:
        for (size_t i = 0; i < nc; i++)
            if (!c[i].m) c[k++] = c[i];
        break;
    case B_CONTIGUOUS: {
        bool prevm = false;
        for (size_t i = 0; i < nc; i++) {
            bool m = c[i].m;
            if (m == prevm && k > 0)
                c[k - 1].e = c[i].e;
            else
                c[k++] = (cov){c[i].s, c[i].e, false};
            prevm = m;
        }
        break;
    }
    case B_MERGED_PREV: {
        bool prevm = false;
        for (size_t i = 0; i < nc; i++) {
            bool m = c[i].m;
            if (m && !prevm && k > 0)
                c[k - 1].e = c[i].e;
            else
                c[k++] = (cov){c[i].s, c[i].e, false};
            prevm = m;
        }
        break;
    }
    case B_MERGED_NEXT: {
        /* fold from the end into the second buffer, then read it backwards */
        cov *r = t->cov2;
        bool prevm = false;
        for (size_t ii = nc; ii-- > 0;) {
            cov x = c[ii];
            if (x.m && !prevm && k > 0)
                r[k - 1].s = x.s;
            else
                r[k++] = (cov){x.s, x.e, false};
            prevm = x.m;
        }
        for (size_t i = 0; i < k; i++) c[i] = r[k - 1 - i];
        break;
    }
    }
    for (size_t i = 0; i < k; i++) {
        if (c[i].e <= c[i].s) continue;
        if (!pv_push(out, base + c[i].s, c[i].e - c[i].s, first && c[i].s == 0)) return false;
    }
    return true;
}

static awq_status step_bytelevel(awq_tokenizer *t, const pt_step *st, piece_vec *in,
                                 piece_vec *out) {
    const tx_bytelevel *bl = tx_bytelevel_table();
    for (size_t i = 0; i < in->len; i++) {
        piece pc = in->p[i];
        size_t off = pc.off, len = pc.len;
        if (st->add_prefix_space && t->arena.p[off] != ' ') {
            if (!tx_buf_reserve(&t->arena, len + 1)) goto oom;
            size_t no = t->arena.len;
            t->arena.p[t->arena.len++] = ' ';
            memcpy(t->arena.p + t->arena.len, t->arena.p + off, len);
            t->arena.len += len;
            off = no;
            len += 1;
        }
        size_t nc;
        if (st->use_regex) {
            AWQ_TRY(tx_pattern_find(t->ctx, t->bl_regex, t->arena.p + off, len, &t->spans));
            if (!spans_to_cov(t, &t->spans, len, &nc)) goto oom;
        } else {
            if (!cov_reserve(t, 1)) goto oom;
            t->cov[0] = (cov){0, len, false};
            nc = 1;
        }
        for (size_t k = 0; k < nc; k++) {
            size_t s = t->cov[k].s, e = t->cov[k].e;
            if (e <= s) continue;
            if (!tx_buf_reserve(&t->arena, 2 * (e - s))) goto oom;
            size_t no = t->arena.len;
            const unsigned char *src = (const unsigned char *)t->arena.p + off + s;
            char *dst = t->arena.p + t->arena.len;
            size_t w = 0;
            for (size_t j = 0; j < e - s; j++) {
                unsigned b = src[j];
                dst[w++] = bl->enc[b][0];
                if (bl->enc_len[b] == 2) dst[w++] = bl->enc[b][1];
            }
            t->arena.len += w;
            if (!pv_push(out, no, w, pc.first && s == 0)) goto oom;
        }
    }
    return AWQ_OK;
oom:
    return awq_fail_nomem(t->ctx, "pre-tokenizer", t->arena.len);
}

static awq_status step_split(awq_tokenizer *t, const pt_step *st, piece_vec *in,
                             piece_vec *out) {
    for (size_t i = 0; i < in->len; i++) {
        piece pc = in->p[i];
        AWQ_TRY(tx_pattern_find(t->ctx, st->pat, t->arena.p + pc.off, pc.len, &t->spans));
        size_t nc;
        if (!spans_to_cov(t, &t->spans, pc.len, &nc)) goto oom;
        if (st->invert)
            for (size_t k = 0; k < nc; k++) t->cov[k].m = !t->cov[k].m;
        if (!apply_behavior(t, nc, st->beh, pc.off, pc.first, out)) goto oom;
    }
    return AWQ_OK;
oom:
    return awq_fail_nomem(t->ctx, "pre-tokenizer", t->arena.len);
}

static awq_status step_metaspace(awq_tokenizer *t, const pt_step *st, piece_vec *in,
                                 piece_vec *out) {
    for (size_t i = 0; i < in->len; i++) {
        piece pc = in->p[i];
        size_t spaces = 0;
        for (size_t k = 0; k < pc.len; k++) spaces += t->arena.p[pc.off + k] == ' ';
        if (!tx_buf_reserve(&t->arena, pc.len + (spaces + 1) * st->rep_len)) goto oom;
        size_t no = t->arena.len;
        char *dst = t->arena.p + no;
        const char *src = t->arena.p + pc.off;
        size_t w = 0;
        bool starts = pc.len >= st->rep_len && memcmp(src, st->rep, st->rep_len) == 0;
        if (!starts && src[0] == ' ') starts = true; /* ' ' becomes the replacement */
        bool prepend = st->scheme == PS_ALWAYS || (st->scheme == PS_FIRST && pc.first);
        if (prepend && !starts) {
            memcpy(dst, st->rep, st->rep_len);
            w += st->rep_len;
        }
        for (size_t k = 0; k < pc.len; k++) {
            if (src[k] == ' ') {
                memcpy(dst + w, st->rep, st->rep_len);
                w += st->rep_len;
            } else {
                dst[w++] = src[k];
            }
        }
        t->arena.len += w;
        if (!st->split) {
            if (!pv_push(out, no, w, pc.first)) goto oom;
            continue;
        }
        /* split on the replacement, MergedWithNext */
        t->spans.len = 0;
        tx_spans *sp = &t->spans;
        const char *s = t->arena.p + no;
        for (size_t k = 0; k + st->rep_len <= w;) {
            if (memcmp(s + k, st->rep, st->rep_len) == 0) {
                if (sp->len == sp->cap) {
                    size_t ncap = sp->cap ? sp->cap * 2 : 64;
                    tx_span *q = realloc(sp->p, ncap * sizeof *q);
                    if (!q) goto oom;
                    sp->p = q;
                    sp->cap = ncap;
                }
                sp->p[sp->len++] = (tx_span){k, k + st->rep_len};
                k += st->rep_len;
            } else {
                k += tx_utf8_len((unsigned char)s[k]);
            }
        }
        size_t nc;
        if (!spans_to_cov(t, sp, w, &nc)) goto oom;
        if (!apply_behavior(t, nc, B_MERGED_NEXT, no, pc.first, out)) goto oom;
    }
    return AWQ_OK;
oom:
    return awq_fail_nomem(t->ctx, "pre-tokenizer", t->arena.len);
}

static awq_status step_digits(awq_tokenizer *t, const pt_step *st, piece_vec *in,
                              piece_vec *out) {
    for (size_t i = 0; i < in->len; i++) {
        piece pc = in->p[i];
        const char *s = t->arena.p + pc.off;
        /* each numeric character (char::is_numeric: Nd, Nl, No) is its own
         * match, as for the reference's char-predicate patterns */
        if (!cov_reserve(t, 2 * pc.len + 2)) goto oom;
        size_t k = 0, prev = 0, j = 0;
        while (j < pc.len) {
            uint32_t cp;
            size_t l = tx_utf8_decode(s + j, pc.len - j, &cp);
            if (tx_is_numeric(cp)) {
                if (prev != j) t->cov[k++] = (cov){prev, j, false};
                t->cov[k++] = (cov){j, j + l, true};
                prev = j + l;
            }
            j += l;
        }
        if (prev != pc.len) t->cov[k++] = (cov){prev, pc.len, false};
        if (!apply_behavior(t, k, st->individual ? B_ISOLATED : B_CONTIGUOUS, pc.off, pc.first,
                            out))
            goto oom;
    }
    return AWQ_OK;
oom:
    return awq_fail_nomem(t->ctx, "pre-tokenizer", t->arena.len);
}

/* Run the pre-tokenizer steps on one normalized piece (n > 0). The
 * pre-tokens are left in t->pa, their bytes in t->arena. */
awq_status tx_pretokenize(awq_tokenizer *t, const char *s, size_t n, bool first) {
    t->arena.len = 0;
    t->pa.len = 0;
    if (!tx_buf_append(&t->arena, s, n) || !pv_push(&t->pa, 0, n, first))
        return awq_fail_nomem(t->ctx, "pre-tokenizer", n);
    for (size_t i = 0; i < t->n_pt; i++) {
        const pt_step *st = &t->pt[i];
        t->pb.len = 0;
        switch (st->kind) {
        case P_BYTELEVEL: AWQ_TRY(step_bytelevel(t, st, &t->pa, &t->pb)); break;
        case P_SPLIT: AWQ_TRY(step_split(t, st, &t->pa, &t->pb)); break;
        case P_METASPACE: AWQ_TRY(step_metaspace(t, st, &t->pa, &t->pb)); break;
        case P_DIGITS: AWQ_TRY(step_digits(t, st, &t->pa, &t->pb)); break;
        }
        piece_vec tmp = t->pa;
        t->pa = t->pb;
        t->pb = tmp;
    }
    return AWQ_OK;
}
