/* lib/io/safetensors.c — strict, single-pass safetensors header parser.
 * The rules it enforces are listed in safetensors.h. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* A header holding more metadata entries than this is refused: real files
 * carry a handful, and each entry costs a cJSON node (bounded memory for
 * hostile input). */
#define ST_MAX_METADATA_ENTRIES 65536

typedef struct st_parser {
    awq_ctx *ctx;
    const char *where;
    const unsigned char *s;    /* header text (not NUL-terminated) */
    size_t len, pos;
    uint64_t data_size;
    awq_strbuf scratch;        /* decoded string with escapes */
    awq_strbuf names;          /* arena: tensor names, NUL-separated */
    awq_st_tensor *t;
    size_t *name_off;          /* offset of each tensor's name in `names` */
    size_t n, cap;
    cJSON *meta;
    size_t n_meta;
    bool seen_meta;
} st_parser;

const char *awq_st_quote(const char *name, char *buf, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    const size_t limit = 160; /* bytes of the name shown before "..." */
    size_t o = 0, i = 0;
    if (cap == 0) return buf;
    if (!name) name = "";
    for (; name[i] && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        if (i >= limit && (c & 0xc0) != 0x80) break; /* cut on a lead byte */
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    if (name[i] && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* ------------------------------------------------------------- messages */

static awq_status perr(st_parser *p, const char *fmt, ...) AWQ_PRINTF(2, 3);
static awq_status perr(st_parser *p, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return awq_fail(p->ctx, AWQ_ERR_FORMAT,
                    "%s: invalid header JSON at byte %llu of the file: %s", p->where,
                    (unsigned long long)(p->pos + 8), msg);
}

static awq_status terr(st_parser *p, const char *name, const char *fmt, ...)
    AWQ_PRINTF(3, 4);
static awq_status terr(st_parser *p, const char *name, const char *fmt, ...) {
    char msg[768], q[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return awq_fail(p->ctx, AWQ_ERR_FORMAT, "%s: tensor '%s': %s", p->where,
                    awq_st_quote(name, q, sizeof q), msg);
}

static void fmt_shape(const awq_st_tensor *t, char *buf, size_t cap) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "",
                              (long long)t->shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* ------------------------------------------------------------- lexing */

static void skip_ws(st_parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int peek(const st_parser *p) { return p->pos < p->len ? p->s[p->pos] : -1; }

static void describe(const st_parser *p, char *buf, size_t cap) {
    int c = peek(p);
    if (c < 0)
        snprintf(buf, cap, "end of header");
    else if (c >= 0x20 && c < 0x7f)
        snprintf(buf, cap, "'%c'", c);
    else
        snprintf(buf, cap, "byte 0x%02x", (unsigned)c);
}

static awq_status expect(st_parser *p, char want, const char *what) {
    skip_ws(p);
    if (peek(p) == (unsigned char)want) {
        p->pos++;
        return AWQ_OK;
    }
    char got[32];
    describe(p, got, sizeof got);
    return perr(p, "expected %s, found %s", what, got);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(st_parser *p, uint32_t *out) {
    if (p->len - p->pos < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + (size_t)i]);
        if (h < 0) return false;
        v = (v << 4) | (uint32_t)h;
    }
    p->pos += 4;
    *out = v;
    return true;
}

static void put_utf8(awq_strbuf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    awq_sb_append(b, u, n);
}

/* Non-ASCII bytes are legal only inside strings (anywhere else the grammar
 * rejects them), and a run of string bytes between ASCII delimiters never
 * splits a UTF-8 sequence, so validating each run validates the header. */
static awq_status bad_utf8(st_parser *p, size_t run_start) {
    p->pos = run_start;
    return perr(p, "the header is not valid UTF-8 (bad sequence in the string starting here)");
}

/* Parse a JSON string at p->pos (after optional whitespace). On success
 * *out and *out_len hold the decoded bytes: either a slice of the header (no
 * escapes) or p->scratch (valid until the next string). *has_nul reports a
 * \u0000 escape. */
static awq_status parse_string(st_parser *p, const char *what, const char **out,
                               size_t *out_len, bool *has_nul) {
    skip_ws(p);
    if (peek(p) != '"') {
        char got[32];
        describe(p, got, sizeof got);
        return perr(p, "expected %s (a string), found %s", what, got);
    }
    p->pos++;
    size_t start = p->pos;
    *has_nul = false;
    /* fast path: no escapes */
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            if (!awq_utf8_valid((const char *)p->s + start, p->pos - start)) return bad_utf8(p, start);
            *out = (const char *)p->s + start;
            *out_len = p->pos - start;
            p->pos++;
            return AWQ_OK;
        }
        if (c == '\\' || c < 0x20) break;
        p->pos++;
    }
    if (!awq_utf8_valid((const char *)p->s + start, p->pos - start)) return bad_utf8(p, start);
    p->scratch.len = 0;
    p->scratch.oom = false;
    awq_sb_append(&p->scratch, (const char *)p->s + start, p->pos - start);
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            if (p->scratch.oom) return awq_fail_nomem(p->ctx, "header string", p->scratch.len);
            *out = p->scratch.s ? p->scratch.s : "";
            *out_len = p->scratch.len;
            return AWQ_OK;
        }
        if (c < 0x20) return perr(p, "unescaped control character 0x%02x in a string", c);
        if (c != '\\') {
            size_t run = p->pos;
            while (run < p->len && p->s[run] != '"' && p->s[run] != '\\' && p->s[run] >= 0x20)
                run++;
            if (!awq_utf8_valid((const char *)p->s + p->pos, run - p->pos)) return bad_utf8(p, p->pos);
            awq_sb_append(&p->scratch, (const char *)p->s + p->pos, run - p->pos);
            p->pos = run;
            continue;
        }
        p->pos++;
        int e = peek(p);
        p->pos++;
        char ch;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (!read_hex4(p, &cp)) return perr(p, "invalid \\u escape (need 4 hex digits)");
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return perr(p, "lone low surrogate \\u%04x in a string", (unsigned)cp);
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return perr(p, "lone high surrogate \\u%04x in a string", (unsigned)cp);
                p->pos += 2;
                if (!read_hex4(p, &lo)) return perr(p, "invalid \\u escape (need 4 hex digits)");
                if (lo < 0xdc00 || lo > 0xdfff)
                    return perr(p, "high surrogate \\u%04x not followed by a low surrogate",
                                (unsigned)cp);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) *has_nul = true;
            put_utf8(&p->scratch, cp);
            continue;
        }
        default:
            p->pos--;
            if (e < 0) return perr(p, "unterminated string");
            return perr(p, "invalid escape sequence in a string");
        }
        awq_sb_append(&p->scratch, &ch, 1);
    }
    return perr(p, "unterminated string");
}

/* Outcome of parsing a JSON number meant as a u64. */
typedef enum { NUM_OK, NUM_NOT_NUMBER, NUM_NEGATIVE, NUM_NOT_INTEGER, NUM_TOO_BIG } num_kind;

/* Parse one JSON number token exactly. *tok and *tok_len give its text for
 * messages. The full JSON number grammar is consumed so that "1.5" reports
 * "not an integer" rather than a syntax error. */
static num_kind parse_u64(st_parser *p, uint64_t *out, const char **tok, size_t *tok_len) {
    skip_ws(p);
    size_t st = p->pos;
    *tok = (const char *)p->s + st;
    *tok_len = 0;
    bool neg = false, frac = false;
    if (peek(p) == '-') {
        neg = true;
        p->pos++;
    }
    int c = peek(p);
    if (c < '0' || c > '9') {
        p->pos = st;
        return NUM_NOT_NUMBER;
    }
    uint64_t v = 0;
    bool big = false;
    if (c == '0') {
        p->pos++;
    } else {
        while ((c = peek(p)) >= '0' && c <= '9') {
            if (!awq_mul_u64(v, 10, &v) || !awq_add_u64(v, (uint64_t)(c - '0'), &v)) big = true;
            p->pos++;
        }
    }
    if (peek(p) == '.') {
        p->pos++;
        if ((c = peek(p)) < '0' || c > '9') {
            p->pos = st;
            return NUM_NOT_NUMBER;
        }
        while ((c = peek(p)) >= '0' && c <= '9') p->pos++;
        frac = true;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if ((c = peek(p)) < '0' || c > '9') {
            p->pos = st;
            return NUM_NOT_NUMBER;
        }
        while ((c = peek(p)) >= '0' && c <= '9') p->pos++;
        frac = true;
    }
    *tok_len = p->pos - st;
    /* A leading zero followed by digits ("01") is not JSON. */
    c = peek(p);
    if (c >= '0' && c <= '9') return NUM_NOT_NUMBER;
    if (neg) return NUM_NEGATIVE;
    if (frac) return NUM_NOT_INTEGER;
    if (big) return NUM_TOO_BIG;
    *out = v;
    return NUM_OK;
}

/* Message for a failed integer in tensor `name`, field `field`. */
static awq_status num_err(st_parser *p, const char *name, const char *field, num_kind k,
                          const char *tok, size_t tok_len) {
    int n = (int)AWQ_MIN(tok_len, (size_t)40);
    switch (k) {
    case NUM_NEGATIVE:
        return terr(p, name, "%s: %.*s is negative (must be a non-negative integer)", field, n, tok);
    case NUM_NOT_INTEGER:
        return terr(p, name, "%s: %.*s is not an integer", field, n, tok);
    case NUM_TOO_BIG:
        return terr(p, name, "%s: %.*s%s does not fit in 64 bits", field, n, tok,
                    tok_len > 40 ? "..." : "");
    default: {
        char got[32];
        describe(p, got, sizeof got);
        return terr(p, name, "%s: expected a non-negative integer, found %s", field, got);
    }
    }
}

static bool key_is(const char *k, size_t kl, const char *lit) {
    size_t n = strlen(lit);
    return kl == n && memcmp(k, lit, n) == 0;
}

/* ------------------------------------------------------------ entries */

static int cmp_cstr_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static awq_status parse_metadata(st_parser *p) {
    if (p->seen_meta) return perr(p, "\"__metadata__\" appears twice");
    p->seen_meta = true;
    skip_ws(p);
    if (peek(p) != '{') return perr(p, "\"__metadata__\" must be an object mapping strings to strings");
    p->pos++;
    p->meta = cJSON_CreateObject();
    if (!p->meta) return awq_fail_nomem(p->ctx, "header metadata", 0);
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        return AWQ_OK;
    }
    for (;;) {
        const char *k, *v;
        size_t kl, vl;
        bool nul;
        AWQ_TRY(parse_string(p, "a \"__metadata__\" key", &k, &kl, &nul));
        if (nul) return perr(p, "a \"__metadata__\" key contains a NUL character");
        char *key = malloc(kl + 1);
        if (!key) return awq_fail_nomem(p->ctx, "header metadata", kl);
        memcpy(key, k, kl);
        key[kl] = 0;
        awq_status s = expect(p, ':', "':' after a \"__metadata__\" key");
        if (s == AWQ_OK) {
            skip_ws(p);
            if (peek(p) != '"') {
                char q[256];
                s = perr(p, "\"__metadata__\" value of '%s' must be a string",
                         awq_st_quote(key, q, sizeof q));
            } else {
                s = parse_string(p, "a \"__metadata__\" value", &v, &vl, &nul);
                if (s == AWQ_OK && nul) {
                    char q[256];
                    s = perr(p, "\"__metadata__\" value of '%s' contains a NUL character",
                             awq_st_quote(key, q, sizeof q));
                }
            }
        }
        if (s == AWQ_OK && ++p->n_meta > ST_MAX_METADATA_ENTRIES)
            s = perr(p, "\"__metadata__\" has more than %d entries", ST_MAX_METADATA_ENTRIES);
        if (s == AWQ_OK) {
            char *val = malloc(vl + 1);
            cJSON *item = NULL;
            if (val) {
                memcpy(val, v, vl);
                val[vl] = 0;
                item = cJSON_CreateString(val);
            }
            if (item)
                cJSON_AddItemToObject(p->meta, key, item);
            else
                s = awq_fail_nomem(p->ctx, "header metadata", vl);
            free(val);
        }
        free(key);
        AWQ_TRY(s);
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == '}') {
            p->pos++;
            break;
        }
        return expect(p, '}', "',' or '}' in \"__metadata__\"");
    }
    /* duplicate keys: cJSON keeps them all, so sort and compare */
    const char **keys = malloc(p->n_meta * sizeof *keys);
    if (!keys) return awq_fail_nomem(p->ctx, "header metadata", p->n_meta);
    size_t i = 0;
    for (cJSON *it = p->meta->child; it; it = it->next) keys[i++] = it->string;
    qsort(keys, p->n_meta, sizeof *keys, cmp_cstr_ptr);
    for (i = 1; i < p->n_meta; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            char q[256];
            awq_status s = awq_fail(p->ctx, AWQ_ERR_FORMAT,
                                    "%s: \"__metadata__\" key '%s' appears twice", p->where,
                                    awq_st_quote(keys[i], q, sizeof q));
            free(keys);
            return s;
        }
    }
    free(keys);
    return AWQ_OK;
}

enum { K_DTYPE = 1, K_SHAPE = 2, K_OFFSETS = 4 };

static awq_status parse_tensor(st_parser *p, const char *name, awq_st_tensor *t) {
    skip_ws(p);
    if (peek(p) != '{')
        return terr(p, name, "value must be an object with dtype, shape and data_offsets");
    p->pos++;
    unsigned seen = 0;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            const char *k;
            size_t kl;
            bool nul;
            AWQ_TRY(parse_string(p, "a key", &k, &kl, &nul));
            unsigned which = key_is(k, kl, "dtype")          ? K_DTYPE
                             : key_is(k, kl, "shape")        ? K_SHAPE
                             : key_is(k, kl, "data_offsets") ? K_OFFSETS
                                                             : 0;
            if (!which) {
                char kb[64], q[160];
                size_t n = AWQ_MIN(kl, sizeof kb - 1);
                memcpy(kb, k, n);
                kb[n] = 0;
                return terr(p, name, "unexpected key '%s' (allowed: dtype, shape, data_offsets)",
                            awq_st_quote(kb, q, sizeof q));
            }
            if (seen & which)
                return terr(p, name, "key '%s' appears twice",
                            which == K_DTYPE ? "dtype" : which == K_SHAPE ? "shape" : "data_offsets");
            seen |= which;
            AWQ_TRY(expect(p, ':', "':' after a key"));
            if (which == K_DTYPE) {
                skip_ws(p);
                if (peek(p) != '"') return terr(p, name, "dtype must be a string");
                const char *v;
                size_t vl;
                AWQ_TRY(parse_string(p, "dtype", &v, &vl, &nul));
                char db[16];
                bool ok = vl < sizeof db && !nul;
                if (ok) {
                    memcpy(db, v, vl);
                    db[vl] = 0;
                    ok = awq_dtype_from_name(db, &t->dtype);
                }
                if (!ok) {
                    char vb[48], q[96];
                    size_t n = AWQ_MIN(vl, sizeof vb - 1);
                    memcpy(vb, v, n);
                    vb[n] = 0;
                    return terr(p, name, "unknown dtype '%s'", awq_st_quote(vb, q, sizeof q));
                }
            } else if (which == K_SHAPE) {
                skip_ws(p);
                if (peek(p) != '[') return terr(p, name, "shape must be an array of integers");
                p->pos++;
                skip_ws(p);
                t->ndim = 0;
                if (peek(p) == ']') {
                    p->pos++;
                } else {
                    for (;;) {
                        uint64_t v;
                        const char *tok;
                        size_t tl;
                        num_kind nk = parse_u64(p, &v, &tok, &tl);
                        if (nk != NUM_OK) return num_err(p, name, "shape", nk, tok, tl);
                        if (v > (uint64_t)INT64_MAX)
                            return terr(p, name, "shape: dimension %llu does not fit in int64",
                                        (unsigned long long)v);
                        if (t->ndim == AWQ_MAX_DIMS)
                            return terr(p, name,
                                        "shape has more than %d dimensions (AWQ_MAX_DIMS)",
                                        AWQ_MAX_DIMS);
                        t->shape[t->ndim++] = (int64_t)v;
                        skip_ws(p);
                        if (peek(p) == ',') {
                            p->pos++;
                            continue;
                        }
                        if (peek(p) == ']') {
                            p->pos++;
                            break;
                        }
                        return expect(p, ']', "',' or ']' in shape");
                    }
                }
            } else {
                skip_ws(p);
                if (peek(p) != '[')
                    return terr(p, name, "data_offsets must be an array of two integers");
                p->pos++;
                uint64_t v[2];
                for (int i = 0; i < 2; i++) {
                    const char *tok;
                    size_t tl;
                    skip_ws(p);
                    if (peek(p) == ']')
                        return terr(p, name, "data_offsets must hold exactly two integers");
                    num_kind nk = parse_u64(p, &v[i], &tok, &tl);
                    if (nk != NUM_OK) return num_err(p, name, "data_offsets", nk, tok, tl);
                    skip_ws(p);
                    if (i == 0) {
                        if (peek(p) != ',')
                            return terr(p, name, "data_offsets must hold exactly two integers");
                        p->pos++;
                    }
                }
                skip_ws(p);
                if (peek(p) != ']')
                    return terr(p, name, "data_offsets must hold exactly two integers");
                p->pos++;
                t->begin = v[0];
                t->end = v[1];
            }
            skip_ws(p);
            int c = peek(p);
            if (c == ',') {
                p->pos++;
                continue;
            }
            if (c == '}') {
                p->pos++;
                break;
            }
            return expect(p, '}', "',' or '}' in a tensor entry");
        }
    }
    if (!(seen & K_DTYPE)) return terr(p, name, "missing \"dtype\"");
    if (!(seen & K_SHAPE)) return terr(p, name, "missing \"shape\"");
    if (!(seen & K_OFFSETS)) return terr(p, name, "missing \"data_offsets\"");

    /* semantics of the entry alone (the shape text only for messages) */
    char sh[256];
    if (t->begin > t->end)
        return terr(p, name, "data_offsets [%llu, %llu] are reversed (begin > end)",
                    (unsigned long long)t->begin, (unsigned long long)t->end);
    uint64_t ne = 1;
    for (int d = 0; d < t->ndim; d++)
        if (!awq_mul_u64(ne, (uint64_t)t->shape[d], &ne)) {
            fmt_shape(t, sh, sizeof sh);
            return terr(p, name, "shape %s: element count overflows 64 bits", sh);
        }
    uint64_t nb;
    if (!awq_mul_u64(ne, awq_dtype_size(t->dtype), &nb)) {
        fmt_shape(t, sh, sizeof sh);
        return terr(p, name, "%s %s: byte size overflows 64 bits", awq_dtype_name(t->dtype), sh);
    }
    t->n_elements = ne;
    t->n_bytes = nb;
    if (t->end - t->begin != nb) {
        fmt_shape(t, sh, sizeof sh);
        return terr(p, name, "data_offsets [%llu, %llu] cover %llu bytes but %s %s needs %llu",
                    (unsigned long long)t->begin, (unsigned long long)t->end,
                    (unsigned long long)(t->end - t->begin), awq_dtype_name(t->dtype), sh,
                    (unsigned long long)nb);
    }
    if (t->end > p->data_size)
        return terr(p, name,
                    "data_offsets [%llu, %llu] extend past the end of the data area (%llu bytes)",
                    (unsigned long long)t->begin, (unsigned long long)t->end,
                    (unsigned long long)p->data_size);
    return AWQ_OK;
}

static awq_status parse_top(st_parser *p) {
    /* leading whitespace is accepted, as the reference crate does */
    skip_ws(p);
    if (peek(p) != '{') {
        char got[32];
        describe(p, got, sizeof got);
        return perr(p, "the header must be a JSON object (starting with '{'), found %s", got);
    }
    p->pos++;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
    } else {
        for (;;) {
            const char *k;
            size_t kl;
            bool nul;
            AWQ_TRY(parse_string(p, "a tensor name", &k, &kl, &nul));
            if (key_is(k, kl, "__metadata__")) {
                AWQ_TRY(expect(p, ':', "':' after a key"));
                AWQ_TRY(parse_metadata(p));
            } else {
                if (nul) {
                    char q[256];
                    return perr(p, "tensor name '%s' contains a NUL character (\\u0000)",
                                awq_st_quote(k, q, sizeof q));
                }
                if (p->n == p->cap) {
                    size_t nc = p->cap ? p->cap * 2 : 64;
                    awq_st_tensor *nt = realloc(p->t, nc * sizeof *nt);
                    if (!nt) return awq_fail_nomem(p->ctx, "tensor table", nc * sizeof *nt);
                    p->t = nt;
                    size_t *no = realloc(p->name_off, nc * sizeof *no);
                    if (!no) return awq_fail_nomem(p->ctx, "tensor table", nc * sizeof *no);
                    p->name_off = no;
                    p->cap = nc;
                }
                size_t off = p->names.len;
                awq_sb_append(&p->names, k, kl);
                awq_sb_append(&p->names, "", 1);
                if (p->names.oom) return awq_fail_nomem(p->ctx, "tensor names", p->names.len);
                awq_st_tensor *t = &p->t[p->n];
                memset(t, 0, sizeof *t);
                p->name_off[p->n] = off;
                p->n++;
                AWQ_TRY(expect(p, ':', "':' after a tensor name"));
                AWQ_TRY(parse_tensor(p, p->names.s + off, t));
            }
            skip_ws(p);
            int c = peek(p);
            if (c == ',') {
                p->pos++;
                continue;
            }
            if (c == '}') {
                p->pos++;
                break;
            }
            return expect(p, '}', "',' or '}' after an entry");
        }
    }
    skip_ws(p);
    if (p->pos != p->len) {
        char got[32];
        describe(p, got, sizeof got);
        return perr(p, "unexpected %s after the JSON object (only whitespace padding may follow)",
                    got);
    }
    return AWQ_OK;
}

/* ----------------------------------------------------------- ordering */

static int cmp_by_name(const void *a, const void *b) {
    const awq_st_tensor *x = *(const awq_st_tensor *const *)a;
    const awq_st_tensor *y = *(const awq_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_by_offset(const void *a, const void *b) {
    const awq_st_tensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static awq_status check_layout(st_parser *p, awq_st_tensor *t, size_t n) {
    if (n > 1) {
        const awq_st_tensor **v = malloc(n * sizeof *v);
        if (!v) return awq_fail_nomem(p->ctx, "tensor table", n * sizeof *v);
        for (size_t i = 0; i < n; i++) v[i] = &t[i];
        qsort(v, n, sizeof *v, cmp_by_name);
        for (size_t i = 1; i < n; i++) {
            if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
                char q[256];
                awq_status s = awq_fail(p->ctx, AWQ_ERR_FORMAT,
                                        "%s: tensor '%s' is defined twice in the header",
                                        p->where, awq_st_quote(v[i]->name, q, sizeof q));
                free(v);
                return s;
            }
        }
        free(v);
        qsort(t, n, sizeof *t, cmp_by_offset);
    }
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        char q1[256], q2[256];
        if (t[i].begin > pos) {
            if (i == 0)
                return awq_fail(p->ctx, AWQ_ERR_FORMAT,
                                "%s: bytes [0, %llu) of the data area are not covered by any "
                                "tensor (the first, '%s', starts at %llu)",
                                p->where, (unsigned long long)t[i].begin,
                                awq_st_quote(t[i].name, q1, sizeof q1),
                                (unsigned long long)t[i].begin);
            return awq_fail(p->ctx, AWQ_ERR_FORMAT,
                            "%s: hole in the data area: bytes [%llu, %llu) between tensor '%s' "
                            "and tensor '%s' are not covered by any tensor",
                            p->where, (unsigned long long)pos, (unsigned long long)t[i].begin,
                            awq_st_quote(t[i - 1].name, q1, sizeof q1),
                            awq_st_quote(t[i].name, q2, sizeof q2));
        }
        if (t[i].begin < pos)
            return awq_fail(p->ctx, AWQ_ERR_FORMAT,
                            "%s: tensor '%s' data_offsets [%llu, %llu] overlap tensor '%s' "
                            "[%llu, %llu]",
                            p->where, awq_st_quote(t[i].name, q1, sizeof q1),
                            (unsigned long long)t[i].begin, (unsigned long long)t[i].end,
                            awq_st_quote(t[i - 1].name, q2, sizeof q2),
                            (unsigned long long)t[i - 1].begin,
                            (unsigned long long)t[i - 1].end);
        pos = t[i].end;
    }
    if (pos != p->data_size)
        return awq_fail(p->ctx, AWQ_ERR_FORMAT,
                        "%s: the data area holds %llu bytes but the tensors cover only %llu "
                        "(%llu trailing bytes belong to no tensor)",
                        p->where, (unsigned long long)p->data_size, (unsigned long long)pos,
                        (unsigned long long)(p->data_size - pos));
    return AWQ_OK;
}

/* ------------------------------------------------------------- entry */

awq_status awq_st_parse(awq_ctx *ctx, const char *where, const void *buf, uint64_t len,
                        awq_st_header *out) {
    memset(out, 0, sizeof *out);
    if (!where) where = "safetensors";
    const unsigned char *b = buf;
    if (len < 8 || !b)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: file too small (%llu bytes) to hold the 8-byte header length",
                        where, (unsigned long long)len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    if (n > AWQ_MAX_HEADER_BYTES)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: header length %llu exceeds the limit of %u bytes "
                        "(not a safetensors file?)",
                        where, (unsigned long long)n, (unsigned)AWQ_MAX_HEADER_BYTES);
    if (n > len - 8)
        return awq_fail(ctx, AWQ_ERR_FORMAT,
                        "%s: header length %llu exceeds the file size (%llu bytes; truncated?)",
                        where, (unsigned long long)n, (unsigned long long)len);
    if (n == 0) return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: header length is 0 (empty header)", where);
    const char *hdr = (const char *)b + 8;
    st_parser p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    p.where = where;
    p.s = (const unsigned char *)hdr;
    p.len = (size_t)n;
    p.data_size = len - 8 - n;
    awq_sb_init(&p.scratch);
    awq_sb_init(&p.names);
    awq_status s = parse_top(&p);
    if (s == AWQ_OK) {
        /* names arena is final now: turn offsets into pointers */
        for (size_t i = 0; i < p.n; i++) p.t[i].name = p.names.s + p.name_off[i];
        s = check_layout(&p, p.t, p.n);
    }
    awq_sb_free(&p.scratch);
    free(p.name_off);
    if (s != AWQ_OK) {
        free(p.t);
        awq_sb_free(&p.names);
        cJSON_Delete(p.meta);
        return s;
    }
    out->tensors = p.t;
    out->n_tensors = p.n;
    out->names = p.names.s; /* ownership moves to *out */
    out->metadata = p.meta;
    out->header_len = n;
    out->data_start = 8 + n;
    out->data_size = len - 8 - n;
    return AWQ_OK;
}

void awq_st_header_free(awq_st_header *h) {
    if (!h) return;
    free(h->tensors);
    free(h->names);
    cJSON_Delete(h->metadata);
    memset(h, 0, sizeof *h);
}
