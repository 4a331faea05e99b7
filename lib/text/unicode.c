/* lib/text/unicode.c — growable vectors, UTF-8, the Unicode properties the
 * tokenizer pipeline needs, NFC & co. (utf8proc) and the byte-level table. */
#include "text/text_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- vectors */

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return false;
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem) return false;
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

bool tx_buf_reserve(tx_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return false;
    /* +1 keeps room for a NUL terminator callers may add */
    return grow((void **)&b->p, &b->cap, b->len + extra + 1, 1);
}

bool tx_buf_append(tx_buf *b, const void *s, size_t n) {
    if (!tx_buf_reserve(b, n)) return false;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

void tx_buf_free(tx_buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

bool tx_ivec_reserve(tx_ivec *v, size_t extra) {
    if (extra > SIZE_MAX / 4 - v->len) return false;
    return grow((void **)&v->p, &v->cap, v->len + extra, sizeof(int32_t));
}

bool tx_ivec_push(tx_ivec *v, int32_t x) {
    if (v->len == v->cap && !tx_ivec_reserve(v, 1)) return false;
    v->p[v->len++] = x;
    return true;
}

bool tx_ivec_append(tx_ivec *v, const int32_t *x, size_t n) {
    if (!tx_ivec_reserve(v, n)) return false;
    if (n) memcpy(v->p + v->len, x, n * sizeof *x);
    v->len += n;
    return true;
}

void tx_ivec_free(tx_ivec *v) {
    free(v->p);
    v->p = NULL;
    v->len = v->cap = 0;
}

/* ------------------------------------------------------------------ UTF-8 */

size_t tx_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t l = tx_utf8_len(u[0]);
    if (l > n) l = 1;
    switch (l) {
    case 1: *cp = u[0]; break;
    case 2: *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); break;
    case 3:
        *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) |
              (u[2] & 0x3F);
        break;
    default:
        *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
              ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
        break;
    }
    return l;
}

size_t tx_utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid sequence at s, or 0 when invalid; *sub then gets the
 * length of the maximal invalid subpart (the bytes accepted before the
 * sequence broke, >= 1). */
static size_t utf8_valid_at(const unsigned char *s, size_t n, size_t *sub) {
    unsigned c = s[0];
    *sub = 1;
    if (c < 0x80) return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) return 0;
        unsigned d = s[i];
        unsigned l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (d < l || d > h) return 0;
        *sub = i + 1;
    }
    return need;
}

size_t tx_utf8_first_invalid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* fast path over ASCII */
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t sub;
        size_t l = utf8_valid_at(u + i, n - i, &sub);
        if (!l) return i;
        i += l;
    }
    return n;
}

bool tx_utf8_lossy_append(tx_buf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        size_t sub;
        size_t l = u[i] < 0x80 ? 1 : utf8_valid_at(u + i, n - i, &sub);
        if (l) {
            i += l;
            continue;
        }
        if (!tx_buf_append(b, s + run, i - run)) return false;
        if (!tx_buf_append(b, "\xEF\xBF\xBD", 3)) return false;
        /* skip the maximal invalid subpart: the lead plus the continuation
         * bytes accepted before the sequence broke (sub >= 1) */
        size_t skip = sub;
        i += skip;
        run = i;
    }
    return tx_buf_append(b, s + run, n - run);
}

/* ---------------------------------------------------------------- Unicode */

bool tx_is_whitespace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool tx_py_isspace(uint32_t c) {
    return tx_is_whitespace(c) || (c >= 0x1C && c <= 0x1F);
}

bool tx_is_word_char(uint32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
    if (c == 0x200C || c == 0x200D) return true; /* Join_Control */
    /* Other_Alphabetic symbols (So): circled / squared Latin letters */
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return true;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return false;
    }
}

bool tx_is_numeric(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

awq_status tx_normalize_nf(awq_ctx *ctx, tx_nf form, const char *s, size_t n,
                           tx_buf *out) {
    /* ASCII is invariant under every normalisation form */
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n) {
        if (!tx_buf_append(out, s, n)) return awq_fail_nomem(ctx, "normalizer", n);
        return AWQ_OK;
    }
    int opt = UTF8PROC_STABLE;
    switch (form) {
    case TX_NFC: opt |= UTF8PROC_COMPOSE; break;
    case TX_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case TX_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case TX_NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    if (n > (size_t)PTRDIFF_MAX / 8)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "text too large to normalise");
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s,
                                      (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)opt);
    if (r < 0) {
        free(dst);
        if (r == UTF8PROC_ERROR_NOMEM) return awq_fail_nomem(ctx, "normalizer", n);
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "Unicode normalisation failed: %s",
                        utf8proc_errmsg(r));
    }
    bool ok = tx_buf_append(out, dst, (size_t)r);
    free(dst);
    if (!ok) return awq_fail_nomem(ctx, "normalizer", (uint64_t)r);
    return AWQ_OK;
}

bool tx_lowercase(const char *s, size_t n, tx_buf *out) {
    if (!tx_buf_reserve(out, n)) return false;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = tx_utf8_decode(s + i, n - i, &cp);
        i += l;
        char enc[8];
        size_t el;
        if (cp == 0x130) {
            /* İ lowercases to "i̇" (two code points), the one unconditional
             * multi-character mapping of SpecialCasing.txt */
            memcpy(enc, "i\xCC\x87", 3);
            el = 3;
        } else {
            utf8proc_int32_t lc = utf8proc_tolower((utf8proc_int32_t)cp);
            el = tx_utf8_encode((uint32_t)lc, enc);
        }
        if (!tx_buf_append(out, enc, el)) return false;
    }
    return true;
}

/* ------------------------------------------------------------ byte level */

static tx_bytelevel g_bl;
static pthread_once_t g_bl_once = PTHREAD_ONCE_INIT;

static void bl_init(void) {
    /* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves,
     * the other 68 bytes to U+0100.. in byte order. */
    int n = 0;
    for (int i = 0; i < 0x144; i++) g_bl.dec[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
                    (b >= 0xAE && b <= 0xFF);
        uint32_t cp = keep ? (uint32_t)b : (uint32_t)(256 + n++);
        char tmp[4];
        size_t l = tx_utf8_encode(cp, tmp);
        memcpy(g_bl.enc[b], tmp, l);
        g_bl.enc_len[b] = (uint8_t)l;
        g_bl.dec[cp] = (int16_t)b;
    }
}

const tx_bytelevel *tx_bytelevel_table(void) {
    pthread_once(&g_bl_once, bl_init);
    return &g_bl;
}
