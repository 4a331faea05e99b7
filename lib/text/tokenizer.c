/* lib/text/tokenizer.c — tokenizer.json loading, the encode pipeline and
 * decode.
 *
 * The pipeline mirrors the tokenizers library (TokenizerImpl::encode):
 *   1. added tokens with normalized=false are cut out of the raw text
 *      (leftmost-longest, single_word / lstrip / rstrip applied);
 *   2. every remaining piece is normalized on its own, then the added tokens
 *      with normalized=true are cut out of the normalized text;
 *   3. the pre-tokenizer steps split (and for ByteLevel, byte-map) the rest;
 *   4. each pre-token goes through the BPE model (with a word cache);
 *   5. the post-processor's special tokens are added when asked.
 * Empty pieces are dropped at every stage, as the reference does. */
#include "text/text_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------- structures */

typedef struct added_tok {
    char *content;  /* the string matched (normalized when `normalized`) */
    size_t len;
    char *raw;      /* as written in the file */
    int32_t id;
    size_t order;   /* position in the file, for stable ordering */
    bool special, single_word, lstrip, rstrip, normalized;
} added_tok;

/* Added-token matcher: patterns sorted by (first byte, length descending,
 * file order), so the first hit at a position is the longest. */
typedef struct matcher {
    const added_tok **pat;
    size_t n;
    uint32_t first[257];
} matcher;

typedef enum { N_NF, N_PREPEND, N_REPLACE, N_STRIP, N_LOWER } norm_kind;
typedef struct norm_step {
    norm_kind kind;
    tx_nf nf;
    char *s; /* prepend text / replacement content */
    size_t slen;
    tx_pattern *pat;
    bool left, right;
} norm_step;

typedef enum { B_REMOVED, B_ISOLATED, B_MERGED_PREV, B_MERGED_NEXT, B_CONTIGUOUS } split_beh;
typedef enum { PS_ALWAYS, PS_FIRST, PS_NEVER } prepend_scheme;
typedef enum { P_BYTELEVEL, P_SPLIT, P_METASPACE, P_DIGITS } pt_kind;
typedef struct pt_step {
    pt_kind kind;
    bool add_prefix_space, use_regex; /* ByteLevel */
    tx_pattern *pat;                  /* Split */
    split_beh beh;
    bool invert;
    char *rep;                        /* Metaspace replacement (UTF-8) */
    size_t rep_len;
    prepend_scheme scheme;
    bool split;
    bool individual;                  /* Digits */
} pt_step;

typedef enum { D_BYTELEVEL, D_METASPACE, D_REPLACE, D_BYTEFALLBACK, D_FUSE, D_STRIP } dec_kind;
typedef struct dec_step {
    dec_kind kind;
    char *rep; /* Metaspace replacement */
    size_t rep_len;
    prepend_scheme scheme;
    tx_pattern *pat; /* Replace */
    char *content;
    size_t content_len;
    uint32_t strip_cp;
    size_t strip_start, strip_stop;
} dec_step;

typedef struct piece {
    size_t off, len;
    bool first; /* starts at offset 0 of the original text */
} piece;

typedef struct piece_vec {
    piece *p;
    size_t len, cap;
} piece_vec;

typedef struct cov {
    size_t s, e;
    bool m;
} cov;

struct awq_tokenizer {
    awq_ctx *ctx;
    char *name;
    tx_bpe bpe;
    bool unk_missing;
    char *unk_token;
    added_tok *added;
    size_t n_added;
    matcher m_raw, m_norm;
    norm_step *norm;
    size_t n_norm;
    pt_step *pt;
    size_t n_pt;
    dec_step *dec;
    size_t n_dec;
    bool has_decoder;
    tx_pattern *bl_regex; /* the GPT-2 split regex, when a step uses it */
    tx_ivec prefix, suffix;
    int32_t vocab_size;
    const char **id_str;
    uint32_t *id_len;
    uint8_t *id_flags; /* bit 0: special, bit 1: added */
    int32_t bos, eos;
    bool byte_level, spm_style;
    char desc[192];
    /* scratch, reused between calls (hence one thread at a time) */
    tx_buf nb[2];
    tx_buf arena;
    piece_vec pa, pb;
    tx_spans spans;
    cov *cov, *cov2;
    size_t cov_cap;
    bool warned_dropped;
};

/* The ByteLevel pre-tokenizer's split regex (GPT-2). */
static const char k_gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

#define META_SPACE "\xE2\x96\x81" /* U+2581 ▁ */

/* ----------------------------------------------------------- JSON helpers */

static const char *tname(const awq_tokenizer *t) { return t->name ? t->name : "tokenizer.json"; }

static const cJSON *jget(const cJSON *o, const char *k) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

/* Optional bool: absent / null -> def; anything but a bool is an error. */
static awq_status jbool(awq_tokenizer *t, const cJSON *o, const char *k, bool def,
                        const char *where, bool *out) {
    const cJSON *v = jget(o, k);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return AWQ_OK;
    }
    if (!cJSON_IsBool(v))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s must be true or false",
                        tname(t), where, k);
    *out = cJSON_IsTrue(v);
    return AWQ_OK;
}

/* Optional string: absent / null -> NULL. */
static awq_status jstr(awq_tokenizer *t, const cJSON *o, const char *k,
                       const char *where, const char **out) {
    const cJSON *v = jget(o, k);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return AWQ_OK;
    if (!cJSON_IsString(v) || !v->valuestring)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s must be a string", tname(t),
                        where, k);
    size_t n = strlen(v->valuestring);
    if (tx_utf8_first_invalid(v->valuestring, n) != n)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s is not valid UTF-8", tname(t),
                        where, k);
    *out = v->valuestring;
    return AWQ_OK;
}

static awq_status jint(awq_tokenizer *t, const cJSON *v, int64_t lo, int64_t hi,
                       const char *what, int64_t *out) {
    if (!cJSON_IsNumber(v))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s must be a number", tname(t), what);
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s = %g is not an integer in [%lld, %lld]",
                        tname(t), what, d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return AWQ_OK;
}

static const char *jtype(const cJSON *o) {
    const cJSON *ty = jget(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* A {"String": s} / {"Regex": r} pattern object. */
static awq_status parse_pattern(awq_tokenizer *t, const cJSON *o, const char *where,
                                tx_pattern **out) {
    const cJSON *s = jget(o, "String"), *r = jget(o, "Regex");
    if (cJSON_IsString(s)) {
        size_t n = strlen(s->valuestring);
        if (tx_utf8_first_invalid(s->valuestring, n) != n)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s pattern is not valid UTF-8",
                            tname(t), where);
        return tx_pattern_literal(t->ctx, s->valuestring, n, out);
    }
    if (cJSON_IsString(r)) {
        awq_status st = tx_pattern_regex(t->ctx, r->valuestring, strlen(r->valuestring),
                                         where, out);
        if (st != AWQ_OK) return awq_fail_wrap(t->ctx, st, "%s", tname(t));
        return AWQ_OK;
    }
    return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                    "%s: %s pattern must be {\"String\": ...} or {\"Regex\": ...}", tname(t),
                    where);
}

static awq_status parse_scheme(awq_tokenizer *t, const cJSON *o, const char *where,
                               prepend_scheme *out) {
    const cJSON *ps = jget(o, "prepend_scheme");
    if (cJSON_IsString(ps)) {
        if (strcmp(ps->valuestring, "always") == 0) *out = PS_ALWAYS;
        else if (strcmp(ps->valuestring, "first") == 0) *out = PS_FIRST;
        else if (strcmp(ps->valuestring, "never") == 0) *out = PS_NEVER;
        else
            return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED, "%s: %s prepend_scheme \"%s\" is not supported",
                            tname(t), where, ps->valuestring);
        return AWQ_OK;
    }
    /* files written before prepend_scheme existed: add_prefix_space */
    bool aps;
    AWQ_TRY(jbool(t, o, "add_prefix_space", true, where, &aps));
    *out = aps ? PS_ALWAYS : PS_NEVER;
    return AWQ_OK;
}

static awq_status metaspace_rep(awq_tokenizer *t, const cJSON *o, const char *where,
                                char **rep, size_t *rep_len) {
    const char *r;
    AWQ_TRY(jstr(t, o, "replacement", where, &r));
    if (!r) r = META_SPACE;
    size_t n = strlen(r);
    uint32_t cp;
    if (n == 0 || tx_utf8_decode(r, n, &cp) != n)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s replacement must be one character",
                        tname(t), where);
    *rep = dupn(r, n);
    if (!*rep) return awq_fail_nomem(t->ctx, "tokenizer", n);
    *rep_len = n;
    return AWQ_OK;
}

/* ------------------------------------------------------------ normalizers */

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

static awq_status parse_normalizer(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: normalizers nested too deeply", tname(t));
    const char *ty = jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: normalizer without a \"type\"", tname(t));
    norm_step st = {0};
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = jget(o, "normalizers"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence normalizer without a list",
                            tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(parse_normalizer(t, it, depth + 1));
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
        AWQ_TRY(jstr(t, o, "prepend", "Prepend normalizer", &p));
        if (!p)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Prepend normalizer without \"prepend\"",
                            tname(t));
        st.kind = N_PREPEND;
        st.slen = strlen(p);
        st.s = dupn(p, st.slen);
        if (!st.s) return awq_fail_nomem(t->ctx, "tokenizer", st.slen);
        return add_norm(t, st);
    }
    if (strcmp(ty, "Replace") == 0) {
        const char *c;
        AWQ_TRY(jstr(t, o, "content", "Replace normalizer", &c));
        if (!c)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Replace normalizer without \"content\"",
                            tname(t));
        st.kind = N_REPLACE;
        AWQ_TRY(parse_pattern(t, jget(o, "pattern"), "Replace normalizer", &st.pat));
        st.slen = strlen(c);
        st.s = dupn(c, st.slen);
        if (!st.s) {
            tx_pattern_free(st.pat);
            return awq_fail_nomem(t->ctx, "tokenizer", st.slen);
        }
        return add_norm(t, st);
    }
    if (strcmp(ty, "Strip") == 0) {
        st.kind = N_STRIP;
        AWQ_TRY(jbool(t, o, "strip_left", true, "Strip normalizer", &st.left));
        AWQ_TRY(jbool(t, o, "strip_right", true, "Strip normalizer", &st.right));
        return add_norm(t, st);
    }
    if (strcmp(ty, "Lowercase") == 0) {
        st.kind = N_LOWER;
        return add_norm(t, st);
    }
    return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                    "%s: normalizer type \"%s\" is not supported (supported: NFC, NFD, NFKC, "
                    "NFKD, Prepend, Replace, Strip, Lowercase, Sequence)",
                    tname(t), ty);
}

/* --------------------------------------------------------- pre-tokenizers */

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

static awq_status parse_pretok(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: pre-tokenizers nested too deeply", tname(t));
    const char *ty = jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: pre_tokenizer without a \"type\"", tname(t));
    pt_step st = {0};
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = jget(o, "pretokenizers"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence pre_tokenizer without a list",
                            tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(parse_pretok(t, it, depth + 1));
        return AWQ_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        st.kind = P_BYTELEVEL;
        AWQ_TRY(jbool(t, o, "add_prefix_space", true, "ByteLevel pre_tokenizer", &st.add_prefix_space));
        AWQ_TRY(jbool(t, o, "use_regex", true, "ByteLevel pre_tokenizer", &st.use_regex));
        if (st.use_regex && !t->bl_regex)
            AWQ_TRY(tx_pattern_regex(t->ctx, k_gpt2_regex, sizeof k_gpt2_regex - 1,
                                     "ByteLevel", &t->bl_regex));
        t->byte_level = true;
        return add_pt(t, st);
    }
    if (strcmp(ty, "Split") == 0) {
        st.kind = P_SPLIT;
        const char *beh;
        AWQ_TRY(jstr(t, o, "behavior", "Split pre_tokenizer", &beh));
        if (!beh)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Split pre_tokenizer without \"behavior\"",
                            tname(t));
        if (strcmp(beh, "Removed") == 0) st.beh = B_REMOVED;
        else if (strcmp(beh, "Isolated") == 0) st.beh = B_ISOLATED;
        else if (strcmp(beh, "MergedWithPrevious") == 0) st.beh = B_MERGED_PREV;
        else if (strcmp(beh, "MergedWithNext") == 0) st.beh = B_MERGED_NEXT;
        else if (strcmp(beh, "Contiguous") == 0) st.beh = B_CONTIGUOUS;
        else
            return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED, "%s: Split behavior \"%s\" is not supported",
                            tname(t), beh);
        AWQ_TRY(jbool(t, o, "invert", false, "Split pre_tokenizer", &st.invert));
        AWQ_TRY(parse_pattern(t, jget(o, "pattern"), "Split pre_tokenizer", &st.pat));
        return add_pt(t, st);
    }
    if (strcmp(ty, "Metaspace") == 0) {
        st.kind = P_METASPACE;
        AWQ_TRY(parse_scheme(t, o, "Metaspace pre_tokenizer", &st.scheme));
        AWQ_TRY(jbool(t, o, "split", true, "Metaspace pre_tokenizer", &st.split));
        AWQ_TRY(metaspace_rep(t, o, "Metaspace pre_tokenizer", &st.rep, &st.rep_len));
        t->spm_style = true;
        return add_pt(t, st);
    }
    if (strcmp(ty, "Digits") == 0) {
        st.kind = P_DIGITS;
        AWQ_TRY(jbool(t, o, "individual_digits", false, "Digits pre_tokenizer", &st.individual));
        return add_pt(t, st);
    }
    return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                    "%s: pre_tokenizer type \"%s\" is not supported (supported: ByteLevel, "
                    "Split, Metaspace, Digits, Sequence)",
                    tname(t), ty);
}

/* --------------------------------------------------------- post-processor */

static awq_status special_ids_of(awq_tokenizer *t, const cJSON *special, const char *name,
                                 tx_ivec *out) {
    const cJSON *e = jget(special, name);
    const cJSON *ids = jget(e, "ids"), *it;
    if (!cJSON_IsArray(ids))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                        "%s: TemplateProcessing special token \"%s\" has no \"ids\" list",
                        tname(t), name);
    cJSON_ArrayForEach(it, ids) {
        int64_t id;
        AWQ_TRY(jint(t, it, 0, AWQ_TOKENIZER_MAX_VOCAB - 1, "TemplateProcessing special token id", &id));
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
    const cJSON *a = jget(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 2)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: %s.%s must be [token, id]", tname(t), ty, key);
    int64_t id;
    AWQ_TRY(jint(t, cJSON_GetArrayItem(a, 1), 0, AWQ_TOKENIZER_MAX_VOCAB - 1, key, &id));
    if (!tx_ivec_push(out, (int32_t)id)) return awq_fail_nomem(t->ctx, "tokenizer", 4);
    return AWQ_OK;
}

static awq_status parse_post(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: post-processors nested too deeply", tname(t));
    const char *ty = jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: post_processor without a \"type\"", tname(t));
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = jget(o, "processors"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence post_processor without a list",
                            tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(parse_post(t, it, depth + 1));
        return AWQ_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) return AWQ_OK; /* offsets only */
    tx_ivec pre = {0}, suf = {0};
    awq_status s = AWQ_OK;
    if (strcmp(ty, "TemplateProcessing") == 0) {
        const cJSON *single = jget(o, "single"), *special = jget(o, "special_tokens"), *it;
        if (!cJSON_IsArray(single))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: TemplateProcessing without \"single\"",
                            tname(t));
        int seen_a = 0;
        cJSON_ArrayForEach(it, single) {
            const cJSON *sp = jget(it, "SpecialToken"), *sq = jget(it, "Sequence");
            if (sp) {
                const cJSON *id = jget(sp, "id");
                if (!cJSON_IsString(id)) {
                    s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                                 "%s: TemplateProcessing SpecialToken without an id", tname(t));
                    break;
                }
                s = special_ids_of(t, special, id->valuestring, seen_a ? &suf : &pre);
                if (s != AWQ_OK) break;
            } else if (sq) {
                const cJSON *id = jget(sq, "id");
                if (!cJSON_IsString(id) || strcmp(id->valuestring, "A") != 0 || seen_a) {
                    s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                                 "%s: TemplateProcessing \"single\" must hold sequence A once",
                                 tname(t));
                    break;
                }
                seen_a = 1;
            } else {
                s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                             "%s: TemplateProcessing item is neither SpecialToken nor Sequence",
                             tname(t));
                break;
            }
        }
        if (s == AWQ_OK && !seen_a)
            s = awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: TemplateProcessing \"single\" lacks $A",
                         tname(t));
    } else if (strcmp(ty, "RobertaProcessing") == 0 || strcmp(ty, "BertProcessing") == 0) {
        s = cls_sep(t, o, "cls", ty, &pre);
        if (s == AWQ_OK) s = cls_sep(t, o, "sep", ty, &suf);
    } else {
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: post_processor type \"%s\" is not supported (supported: "
                        "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, "
                        "Sequence)",
                        tname(t), ty);
    }
    if (s == AWQ_OK) s = wrap_ids(t, &pre, &suf);
    tx_ivec_free(&pre);
    tx_ivec_free(&suf);
    return s;
}

/* ---------------------------------------------------------------- decoder */

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

static awq_status parse_decoder(awq_tokenizer *t, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return AWQ_OK;
    if (depth > 16)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: decoders nested too deeply", tname(t));
    const char *ty = jtype(o);
    if (!ty)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: decoder without a \"type\"", tname(t));
    t->has_decoder = true;
    dec_step st = {0};
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *arr = jget(o, "decoders"), *it;
        if (!cJSON_IsArray(arr))
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Sequence decoder without a list", tname(t));
        cJSON_ArrayForEach(it, arr) AWQ_TRY(parse_decoder(t, it, depth + 1));
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
        AWQ_TRY(parse_scheme(t, o, "Metaspace decoder", &st.scheme));
        AWQ_TRY(metaspace_rep(t, o, "Metaspace decoder", &st.rep, &st.rep_len));
        return add_dec(t, st);
    }
    if (strcmp(ty, "Replace") == 0) {
        const char *c;
        AWQ_TRY(jstr(t, o, "content", "Replace decoder", &c));
        if (!c)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Replace decoder without \"content\"",
                            tname(t));
        st.kind = D_REPLACE;
        AWQ_TRY(parse_pattern(t, jget(o, "pattern"), "Replace decoder", &st.pat));
        st.content_len = strlen(c);
        st.content = dupn(c, st.content_len);
        if (!st.content) {
            tx_pattern_free(st.pat);
            return awq_fail_nomem(t->ctx, "tokenizer", st.content_len);
        }
        return add_dec(t, st);
    }
    if (strcmp(ty, "Strip") == 0) {
        const char *c;
        AWQ_TRY(jstr(t, o, "content", "Strip decoder", &c));
        size_t n = c ? strlen(c) : 0;
        if (!c || n == 0 || tx_utf8_decode(c, n, &st.strip_cp) != n)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: Strip decoder content must be one character",
                            tname(t));
        int64_t a = 0, b = 0;
        const cJSON *js = jget(o, "start"), *je = jget(o, "stop");
        if (js) AWQ_TRY(jint(t, js, 0, 1 << 20, "Strip decoder start", &a));
        if (je) AWQ_TRY(jint(t, je, 0, 1 << 20, "Strip decoder stop", &b));
        st.kind = D_STRIP;
        st.strip_start = (size_t)a;
        st.strip_stop = (size_t)b;
        return add_dec(t, st);
    }
    return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                    "%s: decoder type \"%s\" is not supported (supported: ByteLevel, Metaspace, "
                    "Replace, ByteFallback, Fuse, Strip, Sequence)",
                    tname(t), ty);
}

/* ------------------------------------------------------------------ model */

static awq_status parse_model(awq_tokenizer *t, const cJSON *m, int32_t *max_id) {
    if (!cJSON_IsObject(m))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: no \"model\" object", tname(t));
    const char *ty = jtype(m);
    const cJSON *vocab = jget(m, "vocab"), *merges = jget(m, "merges");
    if (ty && strcmp(ty, "BPE") != 0)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: tokenizer model type \"%s\" is not supported (awqkit supports BPE "
                        "models: byte-level and SentencePiece-style)",
                        tname(t), ty);
    if (!ty && !merges)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: tokenizer model without \"type\" and without merges is not a BPE "
                        "model (only BPE is supported)",
                        tname(t));
    if (!cJSON_IsObject(vocab))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: model.vocab must be an object", tname(t));
    if (!cJSON_IsArray(merges))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: model.merges must be a list", tname(t));

    const cJSON *dropout = jget(m, "dropout");
    if (dropout && !cJSON_IsNull(dropout) &&
        !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0.0))
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: BPE dropout is not supported (tokenization would be random)",
                        tname(t));
    const char *csp, *eows;
    AWQ_TRY(jstr(t, m, "continuing_subword_prefix", "model", &csp));
    AWQ_TRY(jstr(t, m, "end_of_word_suffix", "model", &eows));
    if (csp && *csp)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: BPE continuing_subword_prefix \"%s\" is not supported", tname(t), csp);
    if (eows && *eows)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: BPE end_of_word_suffix \"%s\" is not supported", tname(t), eows);

    int nv = cJSON_GetArraySize(vocab), nm = cJSON_GetArraySize(merges);
    if (nv > AWQ_TOKENIZER_MAX_VOCAB)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: vocabulary of %d tokens exceeds the limit %d",
                        tname(t), nv, AWQ_TOKENIZER_MAX_VOCAB);
    if (!tx_bpe_init(&t->bpe, (size_t)nv, (size_t)nm))
        return awq_fail_nomem(t->ctx, "vocabulary", (uint64_t)nv);
    AWQ_TRY(jbool(t, m, "fuse_unk", false, "model", &t->bpe.fuse_unk));
    AWQ_TRY(jbool(t, m, "byte_fallback", false, "model", &t->bpe.byte_fallback));
    AWQ_TRY(jbool(t, m, "ignore_merges", false, "model", &t->bpe.ignore_merges));

    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        int64_t id;
        AWQ_TRY(jint(t, it, 0, AWQ_TOKENIZER_MAX_VOCAB - 1, "vocabulary id", &id));
        const char *k = it->string ? it->string : "";
        if (!tx_strmap_put(&t->bpe.vocab, k, strlen(k), (int32_t)id))
            return awq_fail_nomem(t->ctx, "vocabulary", (uint64_t)nv);
        if ((int32_t)id > *max_id) *max_id = (int32_t)id;
    }

    tx_buf cat = {0};
    uint32_t rank = 0;
    awq_status s = AWQ_OK;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t la, lb;
        const char *sp = NULL;
        if (cJSON_IsString(it)) {
            /* "a b": exactly one space, as the reference requires */
            a = it->valuestring;
            sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                             "%s: merge %u \"%.80s\" is not two tokens separated by one space",
                             tname(t), rank + 1, a);
                break;
            }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else {
            s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                         "%s: merge %u must be \"a b\" or [\"a\", \"b\"]", tname(t), rank + 1);
            break;
        }
        int32_t ia = tx_strmap_get(&t->bpe.vocab, a, la);
        int32_t ib = tx_strmap_get(&t->bpe.vocab, b, lb);
        cat.len = 0;
        if (!tx_buf_append(&cat, a, la) || !tx_buf_append(&cat, b, lb)) {
            s = awq_fail_nomem(t->ctx, "merges", la + lb);
            break;
        }
        int32_t ic = tx_strmap_get(&t->bpe.vocab, cat.p, cat.len);
        if (ia < 0 || ib < 0 || ic < 0) {
            const char *miss = ia < 0 ? a : ib < 0 ? b : NULL;
            int ml = ia < 0 ? (int)la : ib < 0 ? (int)lb : (int)cat.len;
            if (!miss) miss = cat.p;
            s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                         "%s: merge %u names token \"%.*s\" which is not in the vocabulary",
                         tname(t), rank + 1, ml > 80 ? 80 : ml, miss);
            break;
        }
        if (!tx_bpe_add_merge(&t->bpe, ia, ib, rank, ic)) {
            s = awq_fail_nomem(t->ctx, "merges", (uint64_t)nm);
            break;
        }
        rank++;
    }
    tx_buf_free(&cat);
    if (s != AWQ_OK) return s;
    if (!tx_bpe_finalize(&t->bpe, (size_t)*max_id + 1))
        return awq_fail_nomem(t->ctx, "merges", (uint64_t)*max_id);

    const char *unk;
    AWQ_TRY(jstr(t, m, "unk_token", "model", &unk));
    if (unk) {
        t->unk_token = dupn(unk, strlen(unk));
        if (!t->unk_token) return awq_fail_nomem(t->ctx, "tokenizer", strlen(unk));
        t->bpe.unk_id = tx_strmap_get(&t->bpe.vocab, unk, strlen(unk));
        /* the reference only fails when the unk token is actually needed */
        t->unk_missing = t->bpe.unk_id < 0;
    }
    if (t->bpe.byte_fallback) {
        for (int b = 0; b < 256; b++) {
            char code[8];
            snprintf(code, sizeof code, "<0x%02X>", b);
            t->bpe.byte_id[b] = tx_strmap_get(&t->bpe.vocab, code, 6);
        }
        t->spm_style = true;
    }
    return AWQ_OK;
}

/* ----------------------------------------------------------- added tokens */

static awq_status parse_added(awq_tokenizer *t, const cJSON *arr, int32_t *max_id) {
    if (!arr || cJSON_IsNull(arr)) return AWQ_OK;
    if (!cJSON_IsArray(arr))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: added_tokens must be a list", tname(t));
    int n = cJSON_GetArraySize(arr);
    if (n > AWQ_TOKENIZER_MAX_VOCAB)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: too many added tokens", tname(t));
    t->added = calloc((size_t)n + 1, sizeof *t->added);
    if (!t->added) return awq_fail_nomem(t->ctx, "added tokens", (uint64_t)n);
    const cJSON *it;
    size_t order = 0;
    cJSON_ArrayForEach(it, arr) {
        const char *content;
        AWQ_TRY(jstr(t, it, "content", "added_tokens[]", &content));
        int64_t id;
        AWQ_TRY(jint(t, jget(it, "id"), 0, AWQ_TOKENIZER_MAX_VOCAB - 1, "added_tokens[].id", &id));
        if (!content)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: added token %lld has no content",
                            tname(t), (long long)id);
        added_tok a = {0};
        AWQ_TRY(jbool(t, it, "special", false, "added_tokens[]", &a.special));
        AWQ_TRY(jbool(t, it, "single_word", false, "added_tokens[]", &a.single_word));
        AWQ_TRY(jbool(t, it, "lstrip", false, "added_tokens[]", &a.lstrip));
        AWQ_TRY(jbool(t, it, "rstrip", false, "added_tokens[]", &a.rstrip));
        AWQ_TRY(jbool(t, it, "normalized", !a.special, "added_tokens[]", &a.normalized));
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
                     tname(t), content, a.id, vid, vid);
            a.id = vid;
        }
        a.raw = dupn(content, cl);
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

/* ------------------------------------------------------------ normalizing */

/* Apply the normalizer chain to s; the result lives in one of t->nb. */
static awq_status normalize(awq_tokenizer *t, const char *s, size_t n, const char **out,
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

/* ------------------------------------------------------- added-token match */

static int cmp_pat(const void *x, const void *y) {
    const added_tok *a = *(const added_tok *const *)x, *b = *(const added_tok *const *)y;
    unsigned ca = (unsigned char)a->content[0], cb = (unsigned char)b->content[0];
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    /* special tokens come first in the reference's trie, then file order */
    if (a->special != b->special) return a->special ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static awq_status build_matcher(awq_tokenizer *t, matcher *m, bool normalized) {
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

/* ------------------------------------------------------------ pre-tokenize */

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

/* Pre-tokenize one normalized piece and run the model on every pre-token. */
static awq_status pretok_and_model(awq_tokenizer *t, const char *s, size_t n, bool first,
                                   tx_ivec *out) {
    if (n == 0) return AWQ_OK;
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
    uint64_t dropped0 = t->bpe.dropped_chars;
    for (size_t i = 0; i < t->pa.len; i++)
        AWQ_TRY(tx_bpe_word(t->ctx, &t->bpe, t->arena.p + t->pa.p[i].off, t->pa.p[i].len, out));
    if (t->bpe.dropped_chars != dropped0) {
        if (t->unk_missing)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                            "%s: the text needs unk_token \"%s\", which is not in the vocabulary",
                            tname(t), t->unk_token);
        if (!t->warned_dropped) {
            t->warned_dropped = true;
            awq_warn(t->ctx,
                     "%s: characters with no token and no unk_token were dropped (as the "
                     "reference tokenizer does)",
                     tname(t));
        }
    }
    return AWQ_OK;
}

/* Split a piece on the added tokens of matcher m; gaps go to fn. */
typedef awq_status (*gap_fn)(awq_tokenizer *t, const char *s, size_t n, bool first,
                             tx_ivec *out);

static awq_status split_added(awq_tokenizer *t, const matcher *m, const char *s, size_t n,
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

static awq_status normalized_gap(awq_tokenizer *t, const char *s, size_t n, bool first,
                                 tx_ivec *out) {
    return pretok_and_model(t, s, n, first, out);
}

static awq_status raw_gap(awq_tokenizer *t, const char *s, size_t n, bool first,
                          tx_ivec *out) {
    if (n == 0) return AWQ_OK;
    const char *ns;
    size_t nn;
    AWQ_TRY(normalize(t, s, n, &ns, &nn));
    if (nn == 0) return AWQ_OK;
    return split_added(t, &t->m_norm, ns, nn, first, normalized_gap, out);
}

awq_status awq_tokenizer_encode(awq_tokenizer *t, const char *text, size_t len,
                                bool add_special, int32_t **ids, size_t *n_ids) {
    if (!ids || !n_ids) return awq_fail(t ? t->ctx : NULL, AWQ_ERR_INVALID_ARG, "encode: NULL output");
    *ids = NULL;
    *n_ids = 0;
    if (!t) return AWQ_ERR_INVALID_ARG;
    if (!text && len) return awq_fail(t->ctx, AWQ_ERR_INVALID_ARG, "encode: NULL text");
    if (len > AWQ_TEXT_MAX_BYTES)
        return awq_fail(t->ctx, AWQ_ERR_INVALID_ARG, "encode: text of %zu bytes exceeds the %zu limit",
                        len, (size_t)AWQ_TEXT_MAX_BYTES);
    size_t bad = tx_utf8_first_invalid(text, len);
    if (bad != len)
        return awq_fail(t->ctx, AWQ_ERR_INVALID_ARG, "text is not valid UTF-8 (byte offset %zu)",
                        bad);
    tx_ivec out = {0};
    if (!tx_ivec_reserve(&out, len / 3 + 16)) return awq_fail_nomem(t->ctx, "token ids", len);
    awq_status s = AWQ_OK;
    if (add_special && !tx_ivec_append(&out, t->prefix.p, t->prefix.len))
        s = awq_fail_nomem(t->ctx, "token ids", len);
    if (s == AWQ_OK && len) s = split_added(t, &t->m_raw, text, len, true, raw_gap, &out);
    if (s == AWQ_OK && add_special && !tx_ivec_append(&out, t->suffix.p, t->suffix.len))
        s = awq_fail_nomem(t->ctx, "token ids", len);
    /* keep scratch from ballooning after one huge call */
    if (t->arena.cap > ((size_t)64 << 20)) tx_buf_free(&t->arena);
    if (s != AWQ_OK) {
        tx_ivec_free(&out);
        return s;
    }
    if (out.len == 0) {
        tx_ivec_free(&out);
        return AWQ_OK;
    }
    *ids = out.p;
    *n_ids = out.len;
    return AWQ_OK;
}

awq_status awq_tokenizer_encode_file(awq_tokenizer *t, const char *path, bool add_special,
                                     int32_t **ids, size_t *n_ids) {
    if (!ids || !n_ids) return AWQ_ERR_INVALID_ARG;
    *ids = NULL;
    *n_ids = 0;
    if (!t || !path) return awq_fail(t ? t->ctx : NULL, AWQ_ERR_INVALID_ARG, "encode_file: NULL argument");
    char *buf = NULL;
    size_t n = 0;
    AWQ_TRY(awq_read_file(t->ctx, path, AWQ_TEXT_MAX_BYTES, &buf, &n));
    awq_status s = awq_tokenizer_encode(t, buf, n, add_special, ids, n_ids);
    free(buf);
    if (s != AWQ_OK) return awq_fail_wrap(t->ctx, s, "%s", path);
    return AWQ_OK;
}

/* ----------------------------------------------------------------- decode */

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
                         id, i, tname(t));
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

/* ------------------------------------------------------------------ load */

static awq_status cfg_token(awq_tokenizer *t, const cJSON *cfg, const char *key,
                            const char **out) {
    const cJSON *v = jget(cfg, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return AWQ_OK;
    if (cJSON_IsString(v)) {
        *out = v->valuestring;
        return AWQ_OK;
    }
    const cJSON *c = jget(v, "content");
    if (cJSON_IsString(c)) {
        *out = c->valuestring;
        return AWQ_OK;
    }
    return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                    "tokenizer_config.json: %s must be a string or an object with \"content\"", key);
}

static awq_status apply_config(awq_tokenizer *t, const cJSON *cfg) {
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
        const cJSON *ab = jget(cfg, "add_bos_token"), *ae = jget(cfg, "add_eos_token");
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

static awq_status finish_tables(awq_tokenizer *t, int32_t max_id) {
    t->vocab_size = max_id + 1;
    size_t n = (size_t)t->vocab_size;
    t->id_str = calloc(n ? n : 1, sizeof *t->id_str);
    t->id_len = calloc(n ? n : 1, sizeof *t->id_len);
    t->id_flags = calloc(n ? n : 1, 1);
    if (!t->id_str || !t->id_len || !t->id_flags) return awq_fail_nomem(t->ctx, "id table", n);
    const tx_strmap *v = &t->bpe.vocab;
    for (size_t i = 0; i < v->n; i++) {
        int32_t id = v->ent[i].val;
        t->id_str[id] = tx_strmap_key(v, i);
        t->id_len[id] = v->ent[i].len;
    }
    for (size_t i = 0; i < t->n_added; i++) {
        const added_tok *a = &t->added[i];
        t->id_str[a->id] = a->raw;
        t->id_len[a->id] = (uint32_t)strlen(a->raw);
        t->id_flags[a->id] |= (uint8_t)(2 | (a->special ? 1 : 0));
    }
    /* the content matched for normalized tokens is their normalized form */
    for (size_t i = 0; i < t->n_added; i++) {
        added_tok *a = &t->added[i];
        size_t rl = strlen(a->raw);
        if (a->normalized && t->n_norm) {
            const char *ns;
            size_t nn;
            AWQ_TRY(normalize(t, a->raw, rl, &ns, &nn));
            a->content = dupn(ns, nn);
            a->len = nn;
        } else {
            a->content = dupn(a->raw, rl);
            a->len = rl;
        }
        if (!a->content) return awq_fail_nomem(t->ctx, "added tokens", rl);
    }
    AWQ_TRY(build_matcher(t, &t->m_raw, false));
    AWQ_TRY(build_matcher(t, &t->m_norm, true));
    /* SentencePiece-style exports spell the space with ▁ in the normalizer */
    for (size_t i = 0; i < t->n_norm; i++)
        if ((t->norm[i].kind == N_PREPEND || t->norm[i].kind == N_REPLACE) && t->norm[i].s &&
            strstr(t->norm[i].s, META_SPACE))
            t->spm_style = true;
    snprintf(t->desc, sizeof t->desc, "BPE %s, %d ids (%zu vocabulary + %zu added), %zu merges%s%s",
             t->byte_level ? "byte-level" : t->spm_style ? "SentencePiece-style" : "(characters)",
             t->vocab_size, t->bpe.vocab.n, t->n_added, t->bpe.n_merges,
             t->bpe.byte_fallback ? ", byte_fallback" : "",
             t->bpe.ignore_merges ? ", ignore_merges" : "");
    return AWQ_OK;
}

awq_status awq_tokenizer_load_json(awq_ctx *ctx, const char *json, size_t len,
                                   const char *config_json, size_t config_len,
                                   const char *name, awq_tokenizer **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL output");
    *out = NULL;
    if (!json) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL JSON");
    awq_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return awq_fail_nomem(ctx, "tokenizer", sizeof *t);
    t->ctx = ctx;
    t->name = awq_strdup(name ? name : "tokenizer.json");
    t->bos = t->eos = -1;
    cJSON *root = NULL, *cfg = NULL;
    awq_status s = AWQ_OK;
    if (!t->name) {
        s = awq_fail_nomem(ctx, "tokenizer", 64);
        goto fail;
    }
    root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t off = ep && ep >= json && ep <= json + len ? (size_t)(ep - json) : 0;
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON near byte %zu", t->name, off);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: top level is not a JSON object", t->name);
        goto fail;
    }
    if (config_json) {
        cfg = cJSON_ParseWithLength(config_json, config_len);
        if (!cfg) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT, "tokenizer_config.json beside %s: malformed JSON",
                         t->name);
            goto fail;
        }
    }
    int32_t max_id = -1;
    if ((s = parse_model(t, jget(root, "model"), &max_id)) != AWQ_OK) goto fail;
    if ((s = parse_normalizer(t, jget(root, "normalizer"), 0)) != AWQ_OK) goto fail;
    if ((s = parse_pretok(t, jget(root, "pre_tokenizer"), 0)) != AWQ_OK) goto fail;
    if ((s = parse_added(t, jget(root, "added_tokens"), &max_id)) != AWQ_OK) goto fail;
    if ((s = parse_post(t, jget(root, "post_processor"), 0)) != AWQ_OK) goto fail;
    if ((s = parse_decoder(t, jget(root, "decoder"), 0)) != AWQ_OK) goto fail;
    if (max_id < 0) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: empty vocabulary", t->name);
        goto fail;
    }
    if ((s = finish_tables(t, max_id)) != AWQ_OK) goto fail;
    for (int side = 0; side < 2; side++) {
        const tx_ivec *v = side ? &t->suffix : &t->prefix;
        for (size_t i = 0; i < v->len; i++)
            if (v->p[i] >= t->vocab_size || !t->id_str[v->p[i]]) {
                s = awq_fail(ctx, AWQ_ERR_FORMAT,
                             "%s: post_processor adds id %d, which is not a token", t->name,
                             v->p[i]);
                goto fail;
            }
    }
    if ((s = apply_config(t, cfg)) != AWQ_OK) goto fail;
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    *out = t;
    return AWQ_OK;
fail:
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    awq_tokenizer_free(t);
    return s;
}

awq_status awq_tokenizer_load(awq_ctx *ctx, const char *path, awq_tokenizer **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL output");
    *out = NULL;
    if (!path) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL path");
    char *file = NULL, *dir = NULL;
    if (awq_path_is_dir(path)) {
        file = awq_path_join(path, "tokenizer.json");
        dir = awq_strdup(path);
    } else {
        file = awq_strdup(path);
        dir = awq_path_dirname(path);
    }
    char *cfg_path = dir ? awq_path_join(dir, "tokenizer_config.json") : NULL;
    char *json = NULL, *cfg = NULL;
    size_t jn = 0, cn = 0;
    awq_status s = AWQ_OK;
    if (!file || !dir || !cfg_path) {
        s = awq_fail_nomem(ctx, "path", strlen(path));
        goto done;
    }
    if (!awq_path_exists(file)) {
        if (awq_path_is_dir(path))
            s = awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                         "%s has no tokenizer.json (the Hugging Face fast-tokenizer file; "
                         "tokenizer.model / vocab.json alone are not supported); pre-tokenized "
                         "calibration ids can be given instead (awqkit quantize --calib-tokens FILE)",
                         path);
        else
            s = awq_fail(ctx, AWQ_ERR_NOT_FOUND, "tokenizer file %s does not exist", file);
        goto done;
    }
    if ((s = awq_read_file(ctx, file, AWQ_TOKENIZER_MAX_FILE_BYTES, &json, &jn)) != AWQ_OK)
        goto done;
    if (awq_path_exists(cfg_path) &&
        (s = awq_read_file(ctx, cfg_path, 64u << 20, &cfg, &cn)) != AWQ_OK)
        goto done;
    s = awq_tokenizer_load_json(ctx, json, jn, cfg, cn, file, out);
done:
    free(json);
    free(cfg);
    free(file);
    free(dir);
    free(cfg_path);
    return s;
}

void awq_tokenizer_free(awq_tokenizer *t) {
    if (!t) return;
    tx_bpe_free(&t->bpe);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].raw);
    }
    free(t->added);
    free(t->m_raw.pat);
    free(t->m_norm.pat);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].s);
        tx_pattern_free(t->norm[i].pat);
    }
    free(t->norm);
    for (size_t i = 0; i < t->n_pt; i++) {
        tx_pattern_free(t->pt[i].pat);
        free(t->pt[i].rep);
    }
    free(t->pt);
    for (size_t i = 0; i < t->n_dec; i++) {
        free(t->dec[i].rep);
        free(t->dec[i].content);
        tx_pattern_free(t->dec[i].pat);
    }
    free(t->dec);
    tx_pattern_free(t->bl_regex);
    tx_ivec_free(&t->prefix);
    tx_ivec_free(&t->suffix);
    free(t->id_str);
    free(t->id_len);
    free(t->id_flags);
    tx_buf_free(&t->nb[0]);
    tx_buf_free(&t->nb[1]);
    tx_buf_free(&t->arena);
    free(t->pa.p);
    free(t->pb.p);
    tx_spans_free(&t->spans);
    free(t->cov);
    free(t->cov2);
    free(t->unk_token);
    free(t->name);
    free(t);
}

/* -------------------------------------------------------------- getters */

int32_t awq_tokenizer_vocab_size(const awq_tokenizer *t) { return t ? t->vocab_size : 0; }

const char *awq_tokenizer_token_str(const awq_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->vocab_size) return NULL;
    return t->id_str[id];
}

int32_t awq_tokenizer_token_id(const awq_tokenizer *t, const char *tok) {
    if (!t || !tok) return -1;
    size_t n = strlen(tok);
    for (size_t i = 0; i < t->n_added; i++)
        if (strcmp(t->added[i].raw, tok) == 0) return t->added[i].id;
    return tx_strmap_get(&t->bpe.vocab, tok, n);
}

int32_t awq_tokenizer_bos_id(const awq_tokenizer *t) { return t ? t->bos : -1; }
int32_t awq_tokenizer_eos_id(const awq_tokenizer *t) { return t ? t->eos : -1; }

bool awq_tokenizer_is_special(const awq_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->vocab_size && (t->id_flags[id] & 1);
}

const int32_t *awq_tokenizer_special_prefix(const awq_tokenizer *t, size_t *n) {
    if (n) *n = t ? t->prefix.len : 0;
    return t ? t->prefix.p : NULL;
}

const int32_t *awq_tokenizer_special_suffix(const awq_tokenizer *t, size_t *n) {
    if (n) *n = t ? t->suffix.len : 0;
    return t ? t->suffix.p : NULL;
}

const char *awq_tokenizer_describe(const awq_tokenizer *t) { return t ? t->desc : ""; }

tx_bpe *tx_tokenizer_bpe(awq_tokenizer *t) { return &t->bpe; }
