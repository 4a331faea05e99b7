/* tests/fuzz/fuzz_tokenizer.c — the tokenizer.json parser and the encoder.
 *
 * The input is tried two ways:
 *  1. as a tokenizer.json: loading must give AWQ_OK or an error with a
 *     message; an accepted tokenizer then encodes fixed strings (with and
 *     without special tokens) into ids inside its vocabulary, which decode
 *     without error;
 *  2. as text for two fixed tokenizers built at start-up (a byte-level BPE
 *     with the GPT-2 regex, Digits and added tokens; a SentencePiece-style
 *     BPE with byte fallback): valid UTF-8 must encode, invalid UTF-8 must be
 *     refused with AWQ_ERR_INVALID_ARG, and byte-level ids must decode back
 *     to exactly the input. */
#define _GNU_SOURCE /* memmem */
#include "awqkit.h"
#include "text/text_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static awq_ctx *g_ctx;
static awq_tokenizer *g_bytelevel, *g_spm;

static void json_str(tx_buf *b, const char *s, size_t n) {
    tx_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            tx_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            tx_buf_append(b, esc, 6);
        } else {
            tx_buf_append(b, s + i, 1);
        }
    }
    tx_buf_append(b, "\"", 1);
}

static awq_tokenizer *build_bytelevel(void) {
    const tx_bytelevel *bl = tx_bytelevel_table();
    tx_buf b = {0};
    const char *head =
        "{\"added_tokens\":[{\"id\":262,\"content\":\"<|endoftext|>\",\"special\":true,"
        "\"normalized\":false},{\"id\":263,\"content\":\"<mask>\",\"special\":true,"
        "\"lstrip\":true,\"normalized\":false},{\"id\":264,\"content\":\"  \",\"special\":false,"
        "\"normalized\":true}],\"normalizer\":{\"type\":\"NFC\"},"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\","
        "\"individual_digits\":true},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
        "\"use_regex\":true}]},\"post_processor\":{\"type\":\"RobertaProcessing\","
        "\"sep\":[\"<|endoftext|>\",262],\"cls\":[\"<|endoftext|>\",262]},"
        "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{";
    tx_buf_append(&b, head, strlen(head));
    for (int i = 0; i < 256; i++) {
        if (i) tx_buf_append(&b, ",", 1);
        json_str(&b, bl->enc[i], bl->enc_len[i]);
        char num[16];
        int l = snprintf(num, sizeof num, ":%d", i);
        tx_buf_append(&b, num, (size_t)l);
    }
    const char *tail = ",\"\xC4\xA0t\":256,\"he\":257,\"\xC4\xA0the\":258,\"in\":259,\"\xC4\xA0th\":260,"
                       "\"<|endoftext|>\":262},\"merges\":[\"\xC4\xA0 t\",\"h e\",\"i n\","
                       "[\"\xC4\xA0t\",\"h\"],\"\xC4\xA0th e\"]}}";
    tx_buf_append(&b, tail, strlen(tail));
    awq_tokenizer *t = NULL;
    if (awq_tokenizer_load_json(g_ctx, b.p, b.len, NULL, 0, "fuzz-bytelevel", &t) != AWQ_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", awq_ctx_errmsg(g_ctx));
        abort();
    }
    tx_buf_free(&b);
    return t;
}

static awq_tokenizer *build_spm(void) {
    tx_buf b = {0};
    const char *head =
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true,\"normalized\":false},"
        "{\"id\":1,\"content\":\"<s>\",\"special\":true,\"normalized\":false},"
        "{\"id\":2,\"content\":\"</s>\",\"special\":true,\"normalized\":false}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\","
        "\"prepend\":\"\xE2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
        "\"content\":\"\xE2\x96\x81\"}]},\"pre_tokenizer\":null,"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
        "{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
        "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":"
        "{\"String\":\"\xE2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},"
        "{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
        "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,"
        "\"byte_fallback\":true,\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2";
    tx_buf_append(&b, head, strlen(head));
    for (int i = 0; i < 256; i++) {
        char e[32];
        int l = snprintf(e, sizeof e, ",\"<0x%02X>\":%d", i, 3 + i);
        tx_buf_append(&b, e, (size_t)l);
    }
    const char *tail = ",\"\xE2\x96\x81\":259,\"t\":260,\"h\":261,\"e\":262,\"\xE2\x96\x81t\":263,"
                       "\"he\":264,\"\xE2\x96\x81the\":265},\"merges\":[\"\xE2\x96\x81 t\",\"h e\","
                       "\"\xE2\x96\x81t he\"]}}";
    tx_buf_append(&b, tail, strlen(tail));
    awq_tokenizer *t = NULL;
    if (awq_tokenizer_load_json(g_ctx, b.p, b.len, NULL, 0, "fuzz-spm", &t) != AWQ_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", awq_ctx_errmsg(g_ctx));
        abort();
    }
    tx_buf_free(&b);
    return t;
}

static void encode_check(awq_tokenizer *t, const char *s, size_t n, bool roundtrip) {
    bool valid = tx_utf8_first_invalid(s, n) == n;
    for (int sp = 0; sp < 2; sp++) {
        int32_t *ids = NULL;
        size_t m = 0;
        awq_status st = awq_tokenizer_encode(t, s, n, sp == 1, &ids, &m);
        if (!valid) {
            if (st != AWQ_ERR_INVALID_ARG) abort();
            continue;
        }
        if (st != AWQ_OK) {
            /* only a hostile tokenizer's regex may give up on a text */
            if (awq_ctx_errmsg(g_ctx)[0] == 0) abort();
            continue;
        }
        int32_t vs = awq_tokenizer_vocab_size(t);
        for (size_t i = 0; i < m; i++)
            if (ids[i] < 0 || ids[i] >= vs || !awq_tokenizer_token_str(t, ids[i])) abort();
        char *txt = NULL;
        size_t tl = 0;
        if (awq_tokenizer_decode(t, ids, m, true, &txt, &tl) != AWQ_OK) abort();
        if (roundtrip && sp == 0 && (tl != n || memcmp(txt, s, n) != 0)) {
            /* the byte-level tokenizer covers every byte: lossless unless
             * the text holds an added token (decoded as such) or NFC changed
             * it; accept only those */
            bool special = memmem(s, n, "<|endoftext|>", 13) || memmem(s, n, "<mask>", 6);
            tx_buf nf = {0};
            if (tx_normalize_nf(g_ctx, TX_NFC, s, n, &nf) != AWQ_OK) abort();
            bool nfc_changed = nf.len != n || memcmp(nf.p, s, n) != 0;
            tx_buf_free(&nf);
            if (!special && !nfc_changed) abort();
        }
        awq_free(txt);
        awq_free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_ctx) {
        awq_ctx_params p = awq_ctx_default_params();
        p.n_threads = 1;
        if (awq_ctx_create(&p, &g_ctx) != AWQ_OK) abort();
        g_bytelevel = build_bytelevel();
        g_spm = build_spm();
    }
    /* 1. the input as tokenizer.json */
    awq_tokenizer *t = NULL;
    awq_status s = awq_tokenizer_load_json(g_ctx, (const char *)data, size, NULL, 0, "fuzz", &t);
    if (s != AWQ_OK) {
        if (awq_ctx_errmsg(g_ctx)[0] == 0 || t) abort();
    } else {
        static const char *texts[] = {
            "Hello world! It's 2024: naïve café, 東京 🦙 <|endoftext|> <s> x\n\n\t  y",
            "", " ", "3333 ﬁ Cafe\xCC\x81", "\xE2\x96\x81\xE2\x96\x81 a"};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            encode_check(t, texts[i], strlen(texts[i]), false);
        awq_tokenizer_free(t);
    }
    /* 2. the input as text */
    encode_check(g_bytelevel, (const char *)data, size, true);
    encode_check(g_spm, (const char *)data, size, false);
    return 0;
}
