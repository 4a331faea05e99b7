/* lib/text/calib.c — calibration documents (plain text / JSON Lines, either
 * optionally zstd-compressed and streamed), AutoAWQ's block builder, and
 * pre-tokenized id files (text or .npy). */
#include "text/text_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#define TX_MAX_LINE ((size_t)256 << 20)
#define TX_MAX_DOC ((size_t)256 << 20)
#define TX_IO_CHUNK ((size_t)1 << 17)

/* ------------------------------------------------------------ doc reader */

struct awq_doc_reader {
    awq_ctx *ctx;
    char *path;
    FILE *f;
    awq_text_format fmt;
    bool zst;
    ZSTD_DCtx *z;
    char *zin;
    ZSTD_inBuffer in;
    size_t z_last;      /* last ZSTD_decompressStream return (0: frame done) */
    bool file_eof;
    char *buf;          /* bytes of the (decompressed) stream */
    size_t buf_len, buf_pos;
    bool src_eof;
    tx_buf line;
    uint64_t line_no;   /* lines consumed so far */
    uint64_t doc_line;
    tx_buf doc;
    char *field;
    cJSON *json;
};

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static awq_status rd_fill(awq_doc_reader *r) {
    r->buf_len = r->buf_pos = 0;
    if (!r->zst) {
        size_t got = fread(r->buf, 1, TX_IO_CHUNK, r->f);
        if (got == 0) {
            if (ferror(r->f))
                return awq_fail(r->ctx, AWQ_ERR_IO, "read error on %s: %s", r->path, strerror(errno));
            r->src_eof = true;
        }
        r->buf_len = got;
        return AWQ_OK;
    }
    for (;;) {
        if (r->in.pos == r->in.size && !r->file_eof) {
            size_t got = fread(r->zin, 1, TX_IO_CHUNK, r->f);
            if (got == 0) {
                if (ferror(r->f))
                    return awq_fail(r->ctx, AWQ_ERR_IO, "read error on %s: %s", r->path,
                                    strerror(errno));
                r->file_eof = true;
            }
            r->in = (ZSTD_inBuffer){r->zin, got, 0};
        }
        ZSTD_outBuffer out = {r->buf, TX_IO_CHUNK, 0};
        size_t in_before = r->in.pos;
        size_t ret = ZSTD_decompressStream(r->z, &out, &r->in);
        if (ZSTD_isError(ret))
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s: corrupt zstd data: %s", r->path,
                            ZSTD_getErrorName(ret));
        /* a call that moved nothing only says how much a next frame would
         * need; the state of the last frame is what decides truncation */
        if (out.pos || r->in.pos != in_before) r->z_last = ret;
        if (out.pos) {
            r->buf_len = out.pos;
            return AWQ_OK;
        }
        if (r->file_eof && r->in.pos == r->in.size) {
            if (r->z_last != 0)
                return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                                "%s: truncated zstd stream (the file ends inside a frame)",
                                r->path);
            r->src_eof = true;
            return AWQ_OK;
        }
    }
}

/* Next line without its '\n' in r->line; *eof at the end of the stream. */
static awq_status rd_line(awq_doc_reader *r, bool *eof) {
    r->line.len = 0;
    bool any = false;
    for (;;) {
        if (r->buf_pos == r->buf_len) {
            if (r->src_eof) break;
            AWQ_TRY(rd_fill(r));
            continue;
        }
        any = true;
        const char *p = r->buf + r->buf_pos;
        size_t avail = r->buf_len - r->buf_pos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        if (r->line.len + take > TX_MAX_LINE)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s:%llu: line longer than %zu bytes", r->path,
                            (unsigned long long)r->line_no + 1, TX_MAX_LINE);
        if (!tx_buf_append(&r->line, p, take)) return awq_fail_nomem(r->ctx, "line", take);
        r->buf_pos += take + (nl ? 1 : 0);
        if (nl) break;
    }
    *eof = !any;
    if (any) r->line_no++;
    if (!tx_buf_reserve(&r->line, 1)) return awq_fail_nomem(r->ctx, "line", 1);
    r->line.p[r->line.len] = 0;
    return AWQ_OK;
}

/* A line of whitespace only (White_Space characters). */
static bool is_blank(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (!(c == ' ' || (c >= 0x09 && c <= 0x0D))) return false;
            i++;
            continue;
        }
        size_t l = tx_utf8_len(c);
        if (l > n - i || tx_utf8_first_invalid(s + i, l) != l) return false;
        uint32_t cp;
        tx_utf8_decode(s + i, l, &cp);
        if (!tx_is_whitespace(cp)) return false;
        i += l;
    }
    return true;
}

awq_status awq_doc_reader_open(awq_ctx *ctx, const char *path, awq_text_format format,
                               const char *text_field, awq_doc_reader **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "doc reader: NULL output");
    *out = NULL;
    if (!path) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "doc reader: NULL path");
    if (format != AWQ_TEXT_AUTO && format != AWQ_TEXT_PLAIN && format != AWQ_TEXT_JSONL)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "doc reader: unknown format %d", (int)format);
    awq_doc_reader *r = calloc(1, sizeof *r);
    if (!r) return awq_fail_nomem(ctx, "doc reader", sizeof *r);
    r->ctx = ctx;
    r->path = awq_strdup(path);
    r->field = awq_strdup(text_field ? text_field : "text");
    r->buf = malloc(TX_IO_CHUNK);
    r->zin = malloc(TX_IO_CHUNK);
    awq_status s = AWQ_OK;
    if (!r->path || !r->field || !r->buf || !r->zin) {
        s = awq_fail_nomem(ctx, "doc reader", TX_IO_CHUNK);
        goto fail;
    }
    if (awq_path_is_dir(path)) {
        s = awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s is a directory, not a calibration text file", path);
        goto fail;
    }
    r->f = fopen(path, "rb");
    if (!r->f) {
        s = awq_fail(ctx, errno == ENOENT ? AWQ_ERR_NOT_FOUND : AWQ_ERR_IO, "cannot open %s: %s",
                     path, strerror(errno));
        goto fail;
    }
    /* sniff: the first chunk decides whether this is zstd */
    size_t got = fread(r->zin, 1, TX_IO_CHUNK, r->f);
    if (got == 0 && ferror(r->f)) {
        s = awq_fail(ctx, AWQ_ERR_IO, "read error on %s: %s", path, strerror(errno));
        goto fail;
    }
    const unsigned char *m = (const unsigned char *)r->zin;
    uint32_t magic = got >= 4 ? (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                                    (uint32_t)m[3] << 24
                              : 0;
    r->zst = magic == 0xFD2FB528u || (magic & 0xFFFFFFF0u) == 0x184D2A50u;
    bool named_zst = ends_with(path, ".zst");
    if (named_zst && !r->zst) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s is named .zst but is not zstd-compressed data", path);
        goto fail;
    }
    if (r->zst) {
        r->z = ZSTD_createDCtx();
        if (!r->z) {
            s = awq_fail_nomem(ctx, "zstd context", 0);
            goto fail;
        }
        r->in = (ZSTD_inBuffer){r->zin, got, 0};
        if (got < TX_IO_CHUNK) r->file_eof = feof(r->f) != 0;
    } else {
        memcpy(r->buf, r->zin, got);
        r->buf_len = got;
        if (got == 0) r->src_eof = true;
    }
    if (format == AWQ_TEXT_AUTO) {
        char *base = awq_strdup(path);
        if (!base) {
            s = awq_fail_nomem(ctx, "path", strlen(path));
            goto fail;
        }
        if (ends_with(base, ".zst")) base[strlen(base) - 4] = 0;
        format = (ends_with(base, ".jsonl") || ends_with(base, ".json") ||
                  ends_with(base, ".ndjson"))
                     ? AWQ_TEXT_JSONL
                     : AWQ_TEXT_PLAIN;
        free(base);
    }
    r->fmt = format;
    *out = r;
    return AWQ_OK;
fail:
    awq_doc_reader_close(r);
    return s;
}

static awq_status next_jsonl(awq_doc_reader *r, const char **text, size_t *len, bool *eof) {
    for (;;) {
        bool e;
        AWQ_TRY(rd_line(r, &e));
        if (e) {
            *eof = true;
            return AWQ_OK;
        }
        if (is_blank(r->line.p, r->line.len)) continue;
        cJSON_Delete(r->json);
        r->json = cJSON_ParseWithLength(r->line.p, r->line.len);
        unsigned long long ln = (unsigned long long)r->line_no;
        if (!r->json)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s:%llu: malformed JSON line", r->path, ln);
        if (!cJSON_IsObject(r->json))
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s:%llu: JSON line is not an object", r->path,
                            ln);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, r->field);
        if (!v)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT,
                            "%s:%llu: no \"%s\" field (choose the text field with --text-field)",
                            r->path, ln, r->field);
        if (!cJSON_IsString(v) || !v->valuestring)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s:%llu: field \"%s\" is not a string",
                            r->path, ln, r->field);
        r->doc_line = r->line_no;
        *text = v->valuestring;
        *len = strlen(v->valuestring);
        *eof = false;
        return AWQ_OK;
    }
}

static awq_status next_plain(awq_doc_reader *r, const char **text, size_t *len, bool *eof) {
    r->doc.len = 0;
    bool started = false;
    for (;;) {
        bool e = false;
        AWQ_TRY(rd_line(r, &e));
        if (e) break;
        bool blank = is_blank(r->line.p, r->line.len);
        if (blank) {
            if (started) break;
            continue;
        }
        if (!started) {
            started = true;
            r->doc_line = r->line_no;
        } else if (!tx_buf_append(&r->doc, "\n", 1)) {
            return awq_fail_nomem(r->ctx, "document", r->doc.len);
        }
        if (r->doc.len + r->line.len > TX_MAX_DOC)
            return awq_fail(r->ctx, AWQ_ERR_FORMAT, "%s:%llu: document longer than %zu bytes",
                            r->path, (unsigned long long)r->doc_line, TX_MAX_DOC);
        if (!tx_buf_append(&r->doc, r->line.p, r->line.len))
            return awq_fail_nomem(r->ctx, "document", r->doc.len);
    }
    if (!started) {
        *eof = true;
        return AWQ_OK;
    }
    if (!tx_buf_reserve(&r->doc, 1)) return awq_fail_nomem(r->ctx, "document", 1);
    r->doc.p[r->doc.len] = 0;
    *text = r->doc.p;
    *len = r->doc.len;
    *eof = false;
    return AWQ_OK;
}

awq_status awq_doc_reader_next(awq_doc_reader *r, const char **text, size_t *len, bool *eof) {
    if (!r || !text || !len || !eof) return AWQ_ERR_INVALID_ARG;
    *text = NULL;
    *len = 0;
    *eof = false;
    if (r->fmt == AWQ_TEXT_JSONL) return next_jsonl(r, text, len, eof);
    return next_plain(r, text, len, eof);
}

uint64_t awq_doc_reader_line(const awq_doc_reader *r) { return r ? r->doc_line : 0; }
awq_text_format awq_doc_reader_format(const awq_doc_reader *r) { return r ? r->fmt : AWQ_TEXT_AUTO; }
bool awq_doc_reader_compressed(const awq_doc_reader *r) { return r && r->zst; }

void awq_doc_reader_close(awq_doc_reader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    if (r->z) ZSTD_freeDCtx(r->z);
    cJSON_Delete(r->json);
    free(r->zin);
    free(r->buf);
    tx_buf_free(&r->line);
    tx_buf_free(&r->doc);
    free(r->field);
    free(r->path);
    free(r);
}

/* ---------------------------------------------------------------- blocks */

awq_calib_params awq_calib_default_params(void) {
    awq_calib_params p;
    memset(&p, 0, sizeof p);
    p.format = AWQ_TEXT_AUTO;
    p.text_field = "text";
    p.n_samples = 128;
    p.seqlen = 512;
    p.add_special = true;
    p.shuffle = false;
    p.seed = 42;
    return p;
}

void awq_calib_blocks_free(awq_calib_blocks *b) {
    if (!b) return;
    free(b->ids);
    free(b);
}

/* Cut ids (taking ownership of the vector) into blocks. */
static awq_status cut_blocks(awq_ctx *ctx, tx_ivec *cat, int seqlen, awq_calib_stats st,
                             awq_calib_blocks **out) {
    st.tokens = cat->len;
    st.blocks = cat->len / (size_t)seqlen;
    st.tokens_dropped = cat->len - st.blocks * (size_t)seqlen;
    awq_calib_blocks *b = calloc(1, sizeof *b);
    if (!b) {
        tx_ivec_free(cat);
        return awq_fail_nomem(ctx, "calibration blocks", sizeof *b);
    }
    b->n_blocks = (int64_t)st.blocks;
    b->seqlen = seqlen;
    b->stats = st;
    size_t keep = st.blocks * (size_t)seqlen;
    if (keep == 0) {
        tx_ivec_free(cat);
    } else {
        int32_t *p = realloc(cat->p, keep * sizeof *p); /* shrink: drop the tail */
        b->ids = p ? p : cat->p;
        cat->p = NULL;
        cat->len = cat->cap = 0;
    }
    *out = b;
    return AWQ_OK;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Python str.strip(): drop leading / trailing str.isspace() characters. */
static void py_strip(const char *s, size_t n, size_t *a, size_t *b) {
    size_t i = 0, j = n;
    while (i < j) {
        size_t l = tx_utf8_len((unsigned char)s[i]);
        if (l > j - i || tx_utf8_first_invalid(s + i, l) != l) break;
        uint32_t cp;
        tx_utf8_decode(s + i, l, &cp);
        if (!tx_py_isspace(cp)) break;
        i += l;
    }
    while (j > i) {
        size_t q = j - 1;
        while (q > i && ((unsigned char)s[q] & 0xC0) == 0x80 && j - q < 4) q--;
        if (tx_utf8_first_invalid(s + q, j - q) != j - q) break;
        uint32_t cp;
        tx_utf8_decode(s + q, j - q, &cp);
        if (!tx_py_isspace(cp)) break;
        j = q;
    }
    *a = i;
    *b = j;
}

typedef struct doc_store {
    tx_buf text;
    size_t *off, *len;
    uint64_t *line;
    size_t n, cap;
} doc_store;

static void ds_free(doc_store *d) {
    tx_buf_free(&d->text);
    free(d->off);
    free(d->len);
    free(d->line);
}

static bool ds_push(doc_store *d, const char *s, size_t n, uint64_t line) {
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 256;
        size_t *o = realloc(d->off, nc * sizeof *o);
        if (!o) return false;
        d->off = o;
        size_t *l = realloc(d->len, nc * sizeof *l);
        if (!l) return false;
        d->len = l;
        uint64_t *ln = realloc(d->line, nc * sizeof *ln);
        if (!ln) return false;
        d->line = ln;
        d->cap = nc;
    }
    d->off[d->n] = d->text.len;
    d->len[d->n] = n;
    d->line[d->n] = line;
    if (!tx_buf_append(&d->text, s, n)) return false;
    d->n++;
    return true;
}

/* One document of the recipe; *stop when n_samples are kept. */
static awq_status take_doc(awq_ctx *ctx, awq_tokenizer *tok, const awq_calib_params *p,
                           const char *text, size_t len, uint64_t line, tx_ivec *cat,
                           awq_calib_stats *st, bool *stop) {
    st->docs_read++;
    size_t a, b;
    py_strip(text, len, &a, &b);
    int32_t *ids = NULL;
    size_t n = 0;
    awq_status s = awq_tokenizer_encode(tok, text + a, b - a, p->add_special, &ids, &n);
    if (s != AWQ_OK) return awq_fail_wrap(ctx, s, "%s:%llu", p->path, (unsigned long long)line);
    if (n > (size_t)p->seqlen) {
        st->docs_too_long++;
    } else if (n == 0) {
        st->docs_empty++;
    } else {
        if (!tx_ivec_append(cat, ids, n)) {
            awq_free(ids);
            return awq_fail_nomem(ctx, "calibration ids", n);
        }
        st->docs_kept++;
        s = awq_progress(ctx, "calibration", st->docs_kept, (uint64_t)p->n_samples);
        if (s != AWQ_OK) {
            awq_free(ids);
            return awq_fail(ctx, s, "calibration cancelled");
        }
        if (st->docs_kept >= (uint64_t)p->n_samples) *stop = true;
    }
    awq_free(ids);
    return AWQ_OK;
}

/* Zero blocks: say which of the three things happened (nothing in the
 * file, every document skipped, too few tokens kept), naming the JSON field
 * a JSONL file is read from. */
static awq_status too_small(awq_ctx *ctx, const awq_calib_params *p, const awq_calib_stats *st,
                            size_t tokens) {
    const bool jsonl = st->format == AWQ_TEXT_JSONL;
    const char *field = p->text_field ? p->text_field : "text";
    if (st->docs_read == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "calibration data %s holds no documents: the file is empty or has only "
                        "blank lines", p->path);
    if (st->docs_kept == 0) {
        char empty[160];
        if (jsonl)
            snprintf(empty, sizeof empty, "%llu with an empty \"%s\" field",
                     (unsigned long long)st->docs_empty, field);
        else
            snprintf(empty, sizeof empty, "%llu empty", (unsigned long long)st->docs_empty);
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "calibration data %s: all %llu documents were skipped (%s, %llu longer "
                        "than seqlen %d tokens); give shorter documents or a larger seqlen",
                        p->path, (unsigned long long)st->docs_read, empty,
                        (unsigned long long)st->docs_too_long, p->seqlen);
    }
    return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                    "calibration data %s: %llu document(s) kept, %zu tokens in all, fewer than "
                    "one block of seqlen %d tokens; give more text or a smaller seqlen",
                    p->path, (unsigned long long)st->docs_kept, tokens, p->seqlen);
}

awq_status awq_calib_build(awq_ctx *ctx, awq_tokenizer *tok, const awq_calib_params *p,
                           awq_calib_blocks **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "calibration: NULL output");
    *out = NULL;
    if (!tok || !p || !p->path)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "calibration: tokenizer and params->path are required");
    if (p->n_samples < 1 || p->n_samples > 100000000)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "calibration: n_samples %d is outside [1, 1e8]",
                        p->n_samples);
    if (p->seqlen < 1 || p->seqlen > (1 << 20))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "calibration: seqlen %d is outside [1, 1048576]",
                        p->seqlen);
    awq_doc_reader *r = NULL;
    AWQ_TRY(awq_doc_reader_open(ctx, p->path, p->format, p->text_field, &r));
    awq_calib_stats st = {0};
    st.format = awq_doc_reader_format(r);
    st.compressed = awq_doc_reader_compressed(r);
    tx_ivec cat = {0};
    doc_store ds = {0};
    awq_status s = AWQ_OK;
    bool stop = false;
    if (!p->shuffle) {
        while (!stop) {
            const char *text;
            size_t len;
            bool eof;
            if ((s = awq_doc_reader_next(r, &text, &len, &eof)) != AWQ_OK) goto done;
            if (eof) break;
            s = take_doc(ctx, tok, p, text, len, awq_doc_reader_line(r), &cat, &st, &stop);
            if (s != AWQ_OK) goto done;
        }
    } else {
        for (;;) {
            const char *text;
            size_t len;
            bool eof;
            if ((s = awq_doc_reader_next(r, &text, &len, &eof)) != AWQ_OK) goto done;
            if (eof) break;
            if (!ds_push(&ds, text, len, awq_doc_reader_line(r))) {
                s = awq_fail_nomem(ctx, "calibration documents", ds.text.len);
                goto done;
            }
        }
        size_t *perm = malloc((ds.n ? ds.n : 1) * sizeof *perm);
        if (!perm) {
            s = awq_fail_nomem(ctx, "calibration documents", ds.n);
            goto done;
        }
        for (size_t i = 0; i < ds.n; i++) perm[i] = i;
        uint64_t seed = p->seed;
        for (size_t i = ds.n; i-- > 1;) {
            size_t j = (size_t)(splitmix64(&seed) % (uint64_t)(i + 1));
            size_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        for (size_t k = 0; k < ds.n && !stop; k++) {
            size_t i = perm[k];
            s = take_doc(ctx, tok, p, ds.text.p + ds.off[i], ds.len[i], ds.line[i], &cat, &st,
                         &stop);
            if (s != AWQ_OK) break;
        }
        free(perm);
        if (s != AWQ_OK) goto done;
    }
    if (cat.len / (size_t)p->seqlen == 0) {
        s = too_small(ctx, p, &st, cat.len);
        goto done;
    }
    s = cut_blocks(ctx, &cat, p->seqlen, st, out);
done:
    tx_ivec_free(&cat);
    ds_free(&ds);
    awq_doc_reader_close(r);
    return s;
}

/* ------------------------------------------------------------ token files */

/* Minimal reader of the .npy header dict. */
static const char *npy_key(const char *h, const char *key) {
    const char *p = strstr(h, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ' || *p == ':') p++;
    return p;
}

static awq_status parse_npy(awq_ctx *ctx, const char *path, const char *data, size_t n,
                            int32_t vocab, tx_ivec *out, size_t *row_len) {
    *row_len = 0;
    if (n < 10) return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: truncated .npy header", path);
    unsigned major = (unsigned char)data[6];
    size_t hl, ho;
    if (major == 1) {
        hl = (size_t)(unsigned char)data[8] | (size_t)(unsigned char)data[9] << 8;
        ho = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: truncated .npy header", path);
        hl = (size_t)(unsigned char)data[8] | (size_t)(unsigned char)data[9] << 8 |
             (size_t)(unsigned char)data[10] << 16 | (size_t)(unsigned char)data[11] << 24;
        ho = 12;
    } else {
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: .npy format version %u is not supported",
                        path, major);
    }
    if (hl > n - ho || hl > (1u << 20))
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: .npy header length %zu exceeds the file", path, hl);
    char *h = malloc(hl + 1);
    if (!h) return awq_fail_nomem(ctx, "npy header", hl);
    memcpy(h, data + ho, hl);
    h[hl] = 0;
    awq_status s = AWQ_OK;
    const char *d = npy_key(h, "'descr'");
    const char *fo = npy_key(h, "'fortran_order'");
    const char *sh = npy_key(h, "'shape'");
    size_t isz = 0;
    bool is_signed = true;
    if (!d || !fo || !sh || *d != '\'' || *sh != '(') {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: .npy header lacks descr / fortran_order / shape", path);
        goto done;
    }
    if (strncmp(d, "'<i4'", 5) == 0) isz = 4;
    else if (strncmp(d, "'<i8'", 5) == 0) isz = 8;
    else if (strncmp(d, "'<u4'", 5) == 0) isz = 4, is_signed = false;
    else if (strncmp(d, "'<u2'", 5) == 0) isz = 2, is_signed = false;
    else {
        const char *e = strchr(d + 1, '\'');
        int dl = e ? (int)(e - d - 1) : 8;
        s = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                     "%s: .npy dtype '%.*s' is not supported (use little-endian int32 or int64)",
                     path, dl > 16 ? 16 : dl, d + 1);
        goto done;
    }
    uint64_t dims[3] = {0, 0, 0};
    int nd = 0;
    const char *q = sh + 1;
    for (;;) {
        while (*q == ' ' || *q == ',') q++;
        if (*q == ')') break;
        if (*q < '0' || *q > '9' || nd == 3) {
            s = awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: .npy shape must have 1 or 2 dimensions", path);
            goto done;
        }
        char *e;
        errno = 0;
        unsigned long long v = strtoull(q, &e, 10);
        if (errno || v > (1ull << 40)) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: bad .npy shape", path);
            goto done;
        }
        dims[nd++] = v;
        q = e;
    }
    if (nd < 1 || nd > 2) {
        s = awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: .npy shape must have 1 or 2 dimensions (has %d)",
                     path, nd);
        goto done;
    }
    if (nd == 2 && strncmp(fo, "True", 4) == 0 && dims[0] > 1 && dims[1] > 1) {
        s = awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: Fortran-order 2-D .npy arrays are not supported",
                     path);
        goto done;
    }
    uint64_t count = dims[0], bytes;
    if ((nd == 2 && !awq_mul_u64(count, dims[1], &count)) || !awq_mul_u64(count, isz, &bytes) ||
        bytes > n - ho - hl) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: .npy data is shorter than its shape says", path);
        goto done;
    }
    if (count > (uint64_t)INT32_MAX || !tx_ivec_reserve(out, (size_t)count)) {
        s = awq_fail_nomem(ctx, "token ids", count);
        goto done;
    }
    if (nd == 2) *row_len = (size_t)dims[1];
    const unsigned char *p = (const unsigned char *)data + ho + hl;
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *e = p + i * isz;
        int64_t v;
        if (isz == 2) {
            v = (int64_t)((uint32_t)e[0] | (uint32_t)e[1] << 8);
        } else if (isz == 4) {
            uint32_t u = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 |
                         (uint32_t)e[3] << 24;
            v = is_signed ? (int64_t)(int32_t)u : (int64_t)u;
        } else {
            uint64_t u = 0;
            for (int k = 7; k >= 0; k--) u = u << 8 | e[k];
            v = (int64_t)u;
        }
        if (v < 0 || v > INT32_MAX || (vocab > 0 && v >= vocab)) {
            if (*row_len)
                s = awq_fail(ctx, AWQ_ERR_RANGE,
                             "%s: id %lld at index %llu (row %llu, column %llu) is outside the "
                             "vocabulary [0, %d)",
                             path, (long long)v, (unsigned long long)i,
                             (unsigned long long)(i / *row_len), (unsigned long long)(i % *row_len),
                             vocab > 0 ? vocab : INT32_MAX);
            else
                s = awq_fail(ctx, AWQ_ERR_RANGE,
                             "%s: id %lld at index %llu is outside the vocabulary [0, %d)", path,
                             (long long)v, (unsigned long long)i, vocab > 0 ? vocab : INT32_MAX);
            goto done;
        }
        out->p[out->len++] = (int32_t)v;
    }
done:
    free(h);
    return s;
}

static awq_status parse_id_text(awq_ctx *ctx, const char *path, const char *s, size_t n,
                                int32_t vocab, tx_ivec *out) {
    size_t i = 0, line = 1, col0 = 0;
    while (i < n) {
        char c = s[i];
        if (c == '\n') {
            line++;
            col0 = i + 1;
            i++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
            i++;
            continue;
        }
        size_t st = i;
        while (i < n && !(s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
        size_t len = i - st;
        int64_t v = 0;
        bool ok = len > 0 && len <= 10;
        for (size_t k = st; ok && k < i; k++) {
            if (s[k] < '0' || s[k] > '9') ok = false;
            else v = v * 10 + (s[k] - '0');
        }
        if (!ok || v > INT32_MAX)
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s:%zu:%zu: '%.*s' is not a token id", path, line,
                            st - col0 + 1, (int)(len > 32 ? 32 : len), s + st);
        if (vocab > 0 && v >= vocab)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s:%zu:%zu: id %lld (index %zu) is outside the vocabulary [0, %d)", path,
                            line, st - col0 + 1, (long long)v, out->len, vocab);
        if (!tx_ivec_push(out, (int32_t)v)) return awq_fail_nomem(ctx, "token ids", out->len);
    }
    return AWQ_OK;
}

awq_status awq_calib_from_token_file(awq_ctx *ctx, const char *path, int32_t vocab_size,
                                     int seqlen, awq_calib_blocks **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "token file: NULL output");
    *out = NULL;
    if (!path) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "token file: NULL path");
    if (seqlen < 1 || seqlen > (1 << 20))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "token file: seqlen %d is outside [1, 1048576]",
                        seqlen);
    char *data = NULL;
    size_t n = 0;
    AWQ_TRY(awq_read_file(ctx, path, (uint64_t)8 << 30, &data, &n));
    tx_ivec ids = {0};
    size_t row_len = 0; /* 2-D .npy: ids per row, for error positions */
    awq_status s;
    if (n >= 6 && memcmp(data, "\x93NUMPY", 6) == 0)
        s = parse_npy(ctx, path, data, n, vocab_size, &ids, &row_len);
    else
        s = parse_id_text(ctx, path, data, n, vocab_size, &ids);
    free(data);
    if (s == AWQ_OK && ids.len / (size_t)seqlen == 0)
        s = awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                     "%s holds %zu token ids, fewer than one block of %d -> 0 blocks", path, ids.len,
                     seqlen);
    if (s != AWQ_OK) {
        tx_ivec_free(&ids);
        return s;
    }
    awq_calib_stats st = {0};
    return cut_blocks(ctx, &ids, seqlen, st, out);
}

awq_status awq_calib_from_ids(awq_ctx *ctx, const int32_t *ids, size_t n, int seqlen,
                              awq_calib_blocks **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "calibration: NULL output");
    *out = NULL;
    if ((!ids && n) || seqlen < 1 || seqlen > (1 << 20))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "calibration: bad ids or seqlen %d", seqlen);
    if (n / (size_t)seqlen == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%zu token ids are fewer than one block of %d", n,
                        seqlen);
    tx_ivec v = {0};
    if (!tx_ivec_append(&v, ids, n)) return awq_fail_nomem(ctx, "token ids", n);
    awq_calib_stats st = {0};
    return cut_blocks(ctx, &v, seqlen, st, out);
}
