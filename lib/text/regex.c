/* lib/text/regex.c — the pre-tokenizer / normalizer patterns: PCRE2 (UTF +
 * UCP, JIT when the library has it) or plain literals.
 *
 * The tokenizers library runs its regexes on Oniguruma. The patterns of
 * real tokenizer files use \p{L}, \p{N}, \s, lookahead, (?i:...) and {1,3},
 * which PCRE2 reads the same way with one exception: Oniguruma's \s is the
 * Unicode White_Space property while PCRE2's UCP \s lacks U+0085 (NEL).
 * tx_regex_translate() therefore spells \s and \S out as explicit classes
 * before compiling. */
#define _GNU_SOURCE /* memmem */
#include "text/text_internal.h"

#include <pcre2.h>
#include <stdlib.h>

struct tx_pattern {
    bool is_regex;
    char *lit;
    size_t lit_len;
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    char *source; /* for messages */
};

/* Oniguruma's \s (White_Space) as the inside of a character class. */
static const char k_ws_inner[] =
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"
    "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

char *tx_regex_translate(const char *p, size_t n, size_t *out_len) {
    tx_buf o = {0};
    bool in_class = false;
    bool ok = true;
    size_t i = 0;
    while (ok && i < n) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 'Q') { /* \Q...\E: copied verbatim */
                size_t j = i + 2;
                while (j + 1 < n && !(p[j] == '\\' && p[j + 1] == 'E')) j++;
                size_t end = (j + 1 < n) ? j + 2 : n;
                ok = tx_buf_append(&o, p + i, end - i);
                i = end;
                continue;
            }
            if (d == 's') {
                if (in_class) {
                    ok = tx_buf_append(&o, k_ws_inner, sizeof k_ws_inner - 1);
                } else {
                    ok = tx_buf_append(&o, "[", 1) &&
                         tx_buf_append(&o, k_ws_inner, sizeof k_ws_inner - 1) &&
                         tx_buf_append(&o, "]", 1);
                }
                i += 2;
                continue;
            }
            if (d == 'S' && !in_class) {
                ok = tx_buf_append(&o, "[^", 2) &&
                     tx_buf_append(&o, k_ws_inner, sizeof k_ws_inner - 1) &&
                     tx_buf_append(&o, "]", 1);
                i += 2;
                continue;
            }
            ok = tx_buf_append(&o, p + i, 2);
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            ok = tx_buf_append(&o, p + i, 1);
            i++;
            if (i < n && p[i] == '^') ok = ok && tx_buf_append(&o, p + i++, 1);
            /* a ']' right after '[' or '[^' is a literal */
            if (i < n && p[i] == ']') ok = ok && tx_buf_append(&o, p + i++, 1);
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') {
            /* POSIX class [:name:] inside a class */
            size_t j = i + 2;
            while (j + 1 < n && !(p[j] == ':' && p[j + 1] == ']')) j++;
            size_t end = (j + 1 < n) ? j + 2 : n;
            ok = tx_buf_append(&o, p + i, end - i);
            i = end;
            continue;
        }
        if (in_class && c == ']') in_class = false;
        ok = tx_buf_append(&o, p + i, 1);
        i++;
    }
    if (!ok || !tx_buf_reserve(&o, 1)) {
        tx_buf_free(&o);
        return NULL;
    }
    o.p[o.len] = 0;
    *out_len = o.len;
    return o.p;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

awq_status tx_pattern_regex(awq_ctx *ctx, const char *pattern, size_t len,
                            const char *what, tx_pattern **out) {
    *out = NULL;
    tx_pattern *p = calloc(1, sizeof *p);
    if (!p) return awq_fail_nomem(ctx, "regex", sizeof *p);
    p->is_regex = true;
    p->source = dup_n(pattern, len);
    size_t tl = 0;
    char *tr = tx_regex_translate(pattern, len, &tl);
    if (!p->source || !tr) {
        free(tr);
        tx_pattern_free(p);
        return awq_fail_nomem(ctx, "regex", len);
    }
    int err = 0;
    PCRE2_SIZE eoff = 0;
    p->code = pcre2_compile((PCRE2_SPTR)tr, tl,
                            PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &err,
                            &eoff, NULL);
    free(tr);
    if (!p->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        awq_status s = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                                "%s regex \"%.200s\" is not supported: %s", what,
                                p->source, (const char *)msg);
        tx_pattern_free(p);
        return s;
    }
    p->md = pcre2_match_data_create_from_pattern(p->code, NULL);
    p->mctx = pcre2_match_context_create(NULL);
    if (!p->md || !p->mctx) {
        tx_pattern_free(p);
        return awq_fail_nomem(ctx, "regex match data", 0);
    }
    /* bound the work of one match on hostile patterns / text */
    pcre2_set_match_limit(p->mctx, 10u * 1000u * 1000u);
    pcre2_set_depth_limit(p->mctx, 1000u * 1000u);
    if (pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0) {
        p->jit = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
        if (p->jit) pcre2_jit_stack_assign(p->mctx, NULL, p->jit);
    }
    *out = p;
    return AWQ_OK;
}

awq_status tx_pattern_literal(awq_ctx *ctx, const char *lit, size_t len,
                              tx_pattern **out) {
    *out = NULL;
    tx_pattern *p = calloc(1, sizeof *p);
    if (!p) return awq_fail_nomem(ctx, "pattern", sizeof *p);
    p->lit = dup_n(lit, len);
    p->lit_len = len;
    p->source = dup_n(lit, len);
    if (!p->lit || !p->source) {
        tx_pattern_free(p);
        return awq_fail_nomem(ctx, "pattern", len);
    }
    *out = p;
    return AWQ_OK;
}

void tx_pattern_free(tx_pattern *p) {
    if (!p) return;
    if (p->md) pcre2_match_data_free(p->md);
    if (p->mctx) pcre2_match_context_free(p->mctx);
    if (p->jit) pcre2_jit_stack_free(p->jit);
    if (p->code) pcre2_code_free(p->code);
    free(p->lit);
    free(p->source);
    free(p);
}

void tx_spans_free(tx_spans *s) {
    free(s->p);
    s->p = NULL;
    s->len = s->cap = 0;
}

static bool spans_push(tx_spans *v, size_t s, size_t e) {
    if (v->len == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        if (nc > SIZE_MAX / sizeof(tx_span)) return false;
        tx_span *q = realloc(v->p, nc * sizeof *q);
        if (!q) return false;
        v->p = q;
        v->cap = nc;
    }
    v->p[v->len].s = s;
    v->p[v->len].e = e;
    v->len++;
    return true;
}

awq_status tx_pattern_find(awq_ctx *ctx, tx_pattern *p, const char *s, size_t n,
                           tx_spans *out) {
    out->len = 0;
    if (!p->is_regex) {
        /* a literal: leftmost non-overlapping occurrences; an empty literal
         * matches nothing (the reference's rule for &str patterns) */
        if (p->lit_len == 0 || p->lit_len > n) return AWQ_OK;
        size_t i = 0;
        while (i + p->lit_len <= n) {
            const char *hit = memmem(s + i, n - i, p->lit, p->lit_len);
            if (!hit) break;
            size_t st = (size_t)(hit - s);
            if (!spans_push(out, st, st + p->lit_len))
                return awq_fail_nomem(ctx, "regex matches", n);
            i = st + p->lit_len;
        }
        return AWQ_OK;
    }
    size_t start = 0;
    bool have_last = false;
    size_t last_end = 0;
    while (start <= n) {
        int rc = pcre2_match(p->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK,
                             p->md, p->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "regex \"%.200s\" failed on the text: %s", p->source,
                            (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms || me > n)
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "regex \"%.200s\": \\K before the match start is not supported",
                            p->source);
        if (ms == me && have_last && last_end == me) {
            /* no empty match right after the previous match: step one char */
            if (start >= n) break;
            start += tx_utf8_len((unsigned char)s[start]);
            continue;
        }
        if (!spans_push(out, ms, me)) return awq_fail_nomem(ctx, "regex matches", n);
        have_last = true;
        last_end = me;
        /* after an empty match the next search starts at the same place,
         * finds it again and takes the step-one-char branch above */
        start = me;
    }
    return AWQ_OK;
}
