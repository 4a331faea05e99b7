/*
 * lib/text/tokenizer_internal.h — the tokenizer handle and its pipeline
 * steps, shared by the files of the tokenizer: tokenizer.c (load, model,
 * encode pipeline), tok_json.c, tok_normalizer.c, tok_pretok.c,
 * tok_added.c, tok_post.c, tok_decode.c. Not installed.
 */
#ifndef AWQ_LIB_TEXT_TOKENIZER_INTERNAL_H
#define AWQ_LIB_TEXT_TOKENIZER_INTERNAL_H

#include "text/text_internal.h"

#include <cjson/cJSON.h>

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


#define META_SPACE "\xE2\x96\x81" /* U+2581 ▁ */

/* ---------------------------------------------- JSON readers (tok_json.c) */

/* The file name for messages. */
const char *tx_tname(const awq_tokenizer *t);
/* Member k of object o; NULL when o is not an object or lacks it. */
const cJSON *tx_jget(const cJSON *o, const char *k);
/* Optional bool: absent / null -> def; anything but a bool is an error. */
awq_status tx_jbool(awq_tokenizer *t, const cJSON *o, const char *k, bool def,
                    const char *where, bool *out);
/* Optional valid-UTF-8 string: absent / null -> NULL (borrowed from o). */
awq_status tx_jstr(awq_tokenizer *t, const cJSON *o, const char *k,
                   const char *where, const char **out);
/* An integral number in [lo, hi]; `what` names it in the error. */
awq_status tx_jint(awq_tokenizer *t, const cJSON *v, int64_t lo, int64_t hi,
                   const char *what, int64_t *out);
/* The "type" string of o, or NULL. */
const char *tx_jtype(const cJSON *o);
/* malloc'd NUL-terminated copy of s[0..n), or NULL on OOM. */
char *tx_dupn(const char *s, size_t n);
/* A {"String": s} / {"Regex": r} pattern object; *out owned by the caller. */
awq_status tx_parse_pattern(awq_tokenizer *t, const cJSON *o, const char *where,
                            tx_pattern **out);
/* Metaspace prepend_scheme (or the older add_prefix_space). */
awq_status tx_parse_scheme(awq_tokenizer *t, const cJSON *o, const char *where,
                           prepend_scheme *out);
/* Metaspace replacement: one character, default U+2581; *rep malloc'd. */
awq_status tx_metaspace_rep(awq_tokenizer *t, const cJSON *o, const char *where,
                            char **rep, size_t *rep_len);

/* ------------------------------------------------------ pipeline components */

/* Parse o (NULL / null: none) and append its steps to t (tok_normalizer.c,
 * tok_pretok.c, tok_post.c, tok_decode.c). */
awq_status tx_parse_normalizer(awq_tokenizer *t, const cJSON *o, int depth);
awq_status tx_parse_pretok(awq_tokenizer *t, const cJSON *o, int depth);
awq_status tx_parse_post(awq_tokenizer *t, const cJSON *o, int depth);
awq_status tx_parse_decoder(awq_tokenizer *t, const cJSON *o, int depth);
/* added_tokens list; raises *max_id to the largest id (tok_added.c). */
awq_status tx_parse_added(awq_tokenizer *t, const cJSON *arr, int32_t *max_id);
/* tokenizer_config.json (cfg may be NULL): bos/eos ids, add_bos_token /
 * add_eos_token overriding the post-processor (tok_post.c). */
awq_status tx_apply_config(awq_tokenizer *t, const cJSON *cfg);

/* Apply the normalizer chain to s; the result lives in one of t->nb. */
awq_status tx_normalize(awq_tokenizer *t, const char *s, size_t n, const char **out,
                        size_t *out_len);
/* Run the pre-tokenizer steps on one normalized piece (n > 0). The
 * pre-tokens are left in t->pa, their bytes in t->arena. */
awq_status tx_pretokenize(awq_tokenizer *t, const char *s, size_t n, bool first);

/* Matcher over the added tokens with this `normalized` flag (their content
 * must be final). */
awq_status tx_build_matcher(awq_tokenizer *t, matcher *m, bool normalized);

/* Split a piece on the added tokens of matcher m; gaps go to fn. */
typedef awq_status (*gap_fn)(awq_tokenizer *t, const char *s, size_t n, bool first,
                             tx_ivec *out);
awq_status tx_split_added(awq_tokenizer *t, const matcher *m, const char *s, size_t n,
                          bool first, gap_fn fn, tx_ivec *out);

#endif /* AWQ_LIB_TEXT_TOKENIZER_INTERNAL_H */
