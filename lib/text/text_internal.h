/*
 * lib/text/text_internal.h — shared internals of lib/text: UTF-8 and Unicode
 * helpers, the PCRE2 wrapper, growable vectors and the BPE model core.
 * Not installed; tests include it to reach the oracles.
 */
#ifndef AWQ_LIB_TEXT_INTERNAL_H
#define AWQ_LIB_TEXT_INTERNAL_H

#include "awqkit/text.h"
#include "core/core.h"

#include <stdint.h>
#include <string.h>

/* --------------------------------------------------------------- vectors */

/* Growable byte buffer (never shrinks; `len` bytes used). */
typedef struct tx_buf {
    char *p;
    size_t len, cap;
} tx_buf;

/* Growable int32 vector. */
typedef struct tx_ivec {
    int32_t *p;
    size_t len, cap;
} tx_ivec;

/* Reserve room for `extra` more elements; false on overflow / OOM. */
bool tx_buf_reserve(tx_buf *b, size_t extra);
bool tx_buf_append(tx_buf *b, const void *s, size_t n);
void tx_buf_free(tx_buf *b);
bool tx_ivec_reserve(tx_ivec *v, size_t extra);
bool tx_ivec_push(tx_ivec *v, int32_t x);
bool tx_ivec_append(tx_ivec *v, const int32_t *x, size_t n);
void tx_ivec_free(tx_ivec *v);

/* ------------------------------------------------------------------ UTF-8 */

/* Length of the UTF-8 sequence starting with lead byte c (1 for invalid
 * leads, so loops always advance). */
static inline size_t tx_utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xF0) return c < 0xF8 ? 4 : 1;
    if (c >= 0xE0) return 3;
    if (c >= 0xC0) return 2;
    return 1;
}

/* Decode one code point of VALID UTF-8 at s (n bytes available > 0);
 * returns its length. */
size_t tx_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Encode cp (<= 0x10FFFF) into out[4]; returns 1..4. */
size_t tx_utf8_encode(uint32_t cp, char *out);
/* Offset of the first byte that starts invalid UTF-8 (RFC 3629), or n when
 * the whole buffer is valid. */
size_t tx_utf8_first_invalid(const char *s, size_t n);
/* Append s to b, replacing invalid UTF-8 by U+FFFD per maximal invalid
 * subpart (the rule of Rust's String::from_utf8_lossy). */
bool tx_utf8_lossy_append(tx_buf *b, const char *s, size_t n);

/* ---------------------------------------------------------------- Unicode */

/* White_Space property: Rust char::is_whitespace and Oniguruma \s. */
bool tx_is_whitespace(uint32_t cp);
/* Python str.isspace (White_Space plus U+001C..U+001F). */
bool tx_py_isspace(uint32_t cp);
/* A word character as the Rust regex crate's Unicode \w sees it
 * (Alphabetic, marks, Nd, Pc, Join_Control): the test the reference applies
 * around single_word added tokens. */
bool tx_is_word_char(uint32_t cp);

/* Number general category Nd / Nl / No (Rust char::is_numeric). */
bool tx_is_numeric(uint32_t cp);

typedef enum { TX_NFC, TX_NFD, TX_NFKC, TX_NFKD } tx_nf;
/* Unicode normalisation of valid UTF-8 (utf8proc); appends to out. */
awq_status tx_normalize_nf(awq_ctx *ctx, tx_nf form, const char *s, size_t n,
                           tx_buf *out);
/* Per-character lowercase (Rust char::to_lowercase); appends to out. */
bool tx_lowercase(const char *s, size_t n, tx_buf *out);

/* GPT-2 bytes_to_unicode table: byte -> UTF-8 of its visible code point. */
typedef struct tx_bytelevel {
    char enc[256][2];
    uint8_t enc_len[256];
    int16_t dec[0x144]; /* code point -> byte, -1 if not in the table */
} tx_bytelevel;
const tx_bytelevel *tx_bytelevel_table(void);

/* ------------------------------------------------------------------ regex */

/* A compiled pattern: a PCRE2 regex (UTF + UCP, JIT when available; `\s`
 * and `\S` rewritten to Oniguruma's White_Space set so that matches agree
 * with the tokenizers library), or a literal string. */
typedef struct tx_pattern tx_pattern;

typedef struct tx_span {
    size_t s, e;
} tx_span;

typedef struct tx_spans {
    tx_span *p;
    size_t len, cap;
} tx_spans;

awq_status tx_pattern_regex(awq_ctx *ctx, const char *pattern, size_t len,
                            const char *what, tx_pattern **out);
awq_status tx_pattern_literal(awq_ctx *ctx, const char *lit, size_t len,
                              tx_pattern **out);
void tx_pattern_free(tx_pattern *p);
/* All non-overlapping matches, left to right, with the Rust/onig find_iter
 * rule for empty matches (none directly after the previous match). Replaces
 * the contents of *out. `s` must be valid UTF-8. */
awq_status tx_pattern_find(awq_ctx *ctx, tx_pattern *p, const char *s, size_t n,
                           tx_spans *out);
/* Rewrite \s / \S of a pattern (exposed for tests). malloc'd. */
char *tx_regex_translate(const char *pattern, size_t len, size_t *out_len);
void tx_spans_free(tx_spans *s);

/* -------------------------------------------------------------- string map */

/* Open-addressing hash map from byte strings to int32 values. Keys are
 * copied into an internal arena. */
typedef struct tx_strmap {
    uint32_t *slots; /* 0 = empty, else entry index + 1 */
    size_t mask;
    struct tx_strmap_entry {
        uint64_t off;
        uint32_t len;
        uint32_t hash;
        int32_t val;
    } *ent;
    size_t n, cap;
    tx_buf arena;
} tx_strmap;

uint64_t tx_hash_bytes(const void *p, size_t n);
bool tx_strmap_init(tx_strmap *m, size_t expected);
void tx_strmap_free(tx_strmap *m);
/* Insert or overwrite; false on OOM or when the map is full (2^31 keys). */
bool tx_strmap_put(tx_strmap *m, const char *k, size_t n, int32_t val);
/* Value, or -1 when absent. */
int32_t tx_strmap_get(const tx_strmap *m, const char *k, size_t n);
/* Pointer to the stored key of entry i (NUL-terminated). */
static inline const char *tx_strmap_key(const tx_strmap *m, size_t i) {
    return m->arena.p + m->ent[i].off;
}

/* ------------------------------------------------------------------- BPE */

typedef struct tx_merge {
    uint64_t key; /* (a << 32) | b, UINT64_MAX = empty slot */
    uint32_t rank;
    int32_t new_id;
} tx_merge;

typedef struct tx_bpe {
    tx_strmap vocab;          /* token string -> id */
    tx_merge *merges;         /* hash table of pairs */
    size_t merges_mask;
    size_t n_merges;
    int32_t unk_id;           /* -1 none */
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_id[256];     /* <0xNN> token ids for byte_fallback, -1 */
    /* word cache: word bytes -> ids stored in cache_ids */
    tx_strmap cache;
    tx_ivec cache_ids;        /* per entry: count, then ids */
    size_t cache_max_entries;
    uint8_t *mergeable;       /* bitset: id occurs in some merge pair */
    size_t n_ids;
    uint64_t dropped_chars;   /* chars with no token and no unk (dropped, as
                                 the reference does) */
    /* merge-loop scratch */
    struct tx_sym {
        int32_t id;
        int32_t prev, next;
        uint32_t len;
    } *sym;
    size_t sym_cap;
    struct tx_heap_node {
        uint32_t rank;
        uint32_t pos;
        int32_t new_id;
    } *heap;
    size_t heap_cap;
} tx_bpe;

bool tx_bpe_init(tx_bpe *b, size_t n_vocab, size_t n_merges);
void tx_bpe_free(tx_bpe *b);
/* Add merge (a, b) -> new_id with the given rank (later duplicates win, as
 * in the reference's HashMap collect). false on OOM. */
bool tx_bpe_add_merge(tx_bpe *b, int32_t a, int32_t bb, uint32_t rank,
                      int32_t new_id);
/* After the last merge: note which ids take part in merges (see
 * merge_all). n_ids = 1 + the largest id. false on OOM. */
bool tx_bpe_finalize(tx_bpe *b, size_t n_ids);
/* Lookup a pair: true and rank/new_id when it merges. */
bool tx_bpe_find_merge(const tx_bpe *b, int32_t a, int32_t bb, uint32_t *rank,
                       int32_t *new_id);
/* Tokenize one pre-token (valid UTF-8, n > 0) and append its ids to out.
 * Uses the word cache. */
awq_status tx_bpe_word(awq_ctx *ctx, tx_bpe *b, const char *w, size_t n,
                       tx_ivec *out);
/* The same without the cache and with the simple O(n^2) merge loop: the
 * plain-C oracle for tests. */
awq_status tx_bpe_word_ref(awq_ctx *ctx, tx_bpe *b, const char *w, size_t n,
                           tx_ivec *out);

/* Internal handle of the tokenizer (tests peek at it). */
tx_bpe *tx_tokenizer_bpe(awq_tokenizer *tok);

#endif /* AWQ_LIB_TEXT_INTERNAL_H */
