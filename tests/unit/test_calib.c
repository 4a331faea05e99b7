/* test_calib — calibration data: the document readers (plain text, JSON
 * Lines, zstd: the bundled file, multi-frame, truncated, corrupt), the
 * AutoAWQ block builder against a hand computation on a character-level
 * tokenizer and against tests/ref/calib_ref.json (a Python reimplementation
 * of AutoAWQ's get_calib_dataset on the bundled calibration file with the
 * Hugging Face tokenizers library, made by tests/ref/make_tokenizer_ref.py),
 * and pre-tokenized id files (text and .npy) with their validation errors. */
#include "awq_test.h"
#include "text/text_internal.h"

#include <cjson/cJSON.h>
#include <zstd.h>

static char *g_tmp;

static char *tmp_path(const char *name) {
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 4096, "%s/%s", g_tmp, name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) exit(2);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (fread(b, 1, (size_t)sz, f) != (size_t)sz) exit(2);
    fclose(f);
    b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

static void write_zst(const char *path, const char *text, size_t n, int frames) {
    /* `frames` independent frames, as `cat a.zst b.zst` would give */
    tx_buf out = {0};
    size_t per = (n + (size_t)frames - 1) / (size_t)frames;
    for (size_t off = 0; off < n; off += per) {
        size_t len = n - off < per ? n - off : per;
        size_t cap = ZSTD_compressBound(len);
        tx_buf_reserve(&out, cap);
        size_t w = ZSTD_compress(out.p + out.len, cap, text + off, len, 3);
        if (ZSTD_isError(w)) exit(2);
        out.len += w;
    }
    write_file(path, out.p, out.len);
    tx_buf_free(&out);
}

typedef struct {
    int n;
    char text[16][256];
    uint64_t line[16];
} docs;

static awq_status read_docs(awq_ctx *ctx, const char *path, awq_text_format fmt,
                            const char *field, docs *d) {
    memset(d, 0, sizeof *d);
    awq_doc_reader *r = NULL;
    awq_status s = awq_doc_reader_open(ctx, path, fmt, field, &r);
    if (s != AWQ_OK) return s;
    for (;;) {
        const char *t;
        size_t n;
        bool eof;
        s = awq_doc_reader_next(r, &t, &n, &eof);
        if (s != AWQ_OK || eof) break;
        if (d->n < 16) {
            snprintf(d->text[d->n], sizeof d->text[0], "%.*s", (int)n, t);
            d->line[d->n] = awq_doc_reader_line(r);
        }
        d->n++;
    }
    awq_doc_reader_close(r);
    return s;
}

static void test_readers(awq_ctx *ctx) {
    /* plain text: blank (whitespace-only) lines separate documents */
    const char *txt = "doc one line 1\ndoc one line 2\n\n \t\n\ndoc two\r\n\n  indented three\nend";
    write_file(tmp_path("a.txt"), txt, strlen(txt));
    docs d;
    CHECK_OK(ctx, read_docs(ctx, tmp_path("a.txt"), AWQ_TEXT_AUTO, NULL, &d));
    CHECK_EQ_INT(d.n, 3);
    CHECK(strcmp(d.text[0], "doc one line 1\ndoc one line 2") == 0);
    CHECK(strcmp(d.text[1], "doc two\r") == 0);
    CHECK(strcmp(d.text[2], "  indented three\nend") == 0);
    CHECK_EQ_INT(d.line[0], 1);
    CHECK_EQ_INT(d.line[1], 6);
    CHECK_EQ_INT(d.line[2], 8);

    /* the same, zstd-compressed in three frames */
    write_zst(tmp_path("a.txt.zst"), txt, strlen(txt), 3);
    docs dz;
    CHECK_OK(ctx, read_docs(ctx, tmp_path("a.txt.zst"), AWQ_TEXT_AUTO, NULL, &dz));
    CHECK_EQ_INT(dz.n, 3);
    CHECK(memcmp(&d, &dz, sizeof d) == 0);

    /* JSON Lines with another field name, blank lines skipped */
    const char *jl = "{\"body\": \"first\", \"text\": \"x\"}\n\n{\"body\": \"sec\\u00f6nd\\nline\"}\n  \n"
                     "{\"body\": \"\"}";
    write_file(tmp_path("b.jsonl"), jl, strlen(jl));
    CHECK_OK(ctx, read_docs(ctx, tmp_path("b.jsonl"), AWQ_TEXT_AUTO, "body", &d));
    CHECK_EQ_INT(d.n, 3);
    CHECK(strcmp(d.text[0], "first") == 0);
    CHECK(strcmp(d.text[1], "sec\xC3\xB6nd\nline") == 0);
    CHECK(strcmp(d.text[2], "") == 0);
    CHECK_EQ_INT(d.line[1], 3);
    CHECK_EQ_INT(d.line[2], 5);

    /* the bundled calibration file: 1841 JSON lines, zstd */
    awq_doc_reader *r = NULL;
    CHECK_OK(ctx, awq_doc_reader_open(ctx, AWQ_TEST_DATA "/text/calib-wikitext2-valid.jsonl.zst",
                                      AWQ_TEXT_AUTO, NULL, &r));
    if (r) {
        CHECK(awq_doc_reader_format(r) == AWQ_TEXT_JSONL);
        CHECK(awq_doc_reader_compressed(r));
        size_t n = 0, bytes = 0;
        bool first_ok = false;
        for (;;) {
            const char *t;
            size_t len;
            bool eof;
            awq_status s = awq_doc_reader_next(r, &t, &len, &eof);
            CHECK_OK(ctx, s);
            if (s != AWQ_OK || eof) break;
            if (n == 0) first_ok = strncmp(t, "Homarus gammarus , known as", 27) == 0;
            n++;
            bytes += len;
        }
        CHECK_EQ_INT(n, 1841);
        CHECK(first_ok);
        CHECK(bytes > 1000000);
        CHECK_EQ_INT(awq_doc_reader_line(r), 1841);
        awq_doc_reader_close(r);
    }

    /* truncated .zst: a clear error, not a short read */
    size_t zn;
    char *z = slurp(AWQ_TEST_DATA "/text/calib-wikitext2-valid.jsonl.zst", &zn);
    write_file(tmp_path("trunc.jsonl.zst"), z, zn / 2);
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("trunc.jsonl.zst"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_FORMAT, "truncated zstd");
    write_file(tmp_path("trunc2.jsonl.zst"), z, zn - 1);
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("trunc2.jsonl.zst"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_FORMAT, "truncated");
    /* corrupt frame body */
    for (size_t i = 100; i < 140 && i < zn; i++) z[i] ^= 0x5A;
    write_file(tmp_path("corrupt.jsonl.zst"), z, zn);
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("corrupt.jsonl.zst"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_FORMAT, "zstd");
    free(z);
    write_file(tmp_path("fake.txt.zst"), "plain words\n", 12);
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("fake.txt.zst"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_FORMAT, "not zstd");

    /* malformed JSONL: the line number is named */
    const char *bad = "{\"text\": \"ok\"}\n\n{\"text\": \"broken\"\n{\"text\": \"x\"}\n";
    write_file(tmp_path("bad.jsonl"), bad, strlen(bad));
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("bad.jsonl"), AWQ_TEXT_AUTO, NULL, &d), AWQ_ERR_FORMAT,
                "bad.jsonl:3: malformed JSON");
    const char *nof = "{\"text\": \"ok\"}\n{\"content\": \"x\"}\n";
    write_file(tmp_path("nofield.jsonl"), nof, strlen(nof));
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("nofield.jsonl"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_FORMAT, ":2: no \"text\" field");
    const char *nos = "{\"text\": 5}\n";
    write_file(tmp_path("nostr.jsonl"), nos, strlen(nos));
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("nostr.jsonl"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_FORMAT, ":1: field \"text\" is not a string");
    const char *arr = "[1, 2]\n";
    write_file(tmp_path("arr.jsonl"), arr, strlen(arr));
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("arr.jsonl"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_FORMAT, ":1: JSON line is not an object");
    /* forcing the format */
    CHECK_OK(ctx, read_docs(ctx, tmp_path("bad.jsonl"), AWQ_TEXT_PLAIN, NULL, &d));
    CHECK_EQ_INT(d.n, 2);
    CHECK_FAILS(ctx, read_docs(ctx, tmp_path("missing.txt"), AWQ_TEXT_AUTO, NULL, &d),
                AWQ_ERR_NOT_FOUND, "missing.txt");
}

/* A character-level BPE (no merges): every character is one token, so the
 * recipe can be computed by hand. */
static awq_tokenizer *char_tokenizer(awq_ctx *ctx, bool bos) {
    char js[2048];
    snprintf(js, sizeof js,
             "{\"added_tokens\":[{\"id\":4,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
             "\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
             "\"post_processor\":%s,"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\" \":3,\"<s>\":4,"
             "\"\\n\":5},\"merges\":[]}}",
             bos ? "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\","
                   "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                   "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[4],\"tokens\":[\"<s>\"]}}}"
                 : "null");
    awq_tokenizer *t = NULL;
    CHECK_OK(ctx, awq_tokenizer_load_json(ctx, js, strlen(js), NULL, 0, "char-tokenizer", &t));
    return t;
}

static void check_block(const awq_calib_blocks *b, int64_t row, const int32_t *want) {
    CHECK_MSG(memcmp(b->ids + row * b->seqlen, want, (size_t)b->seqlen * 4) == 0,
              "block %lld differs", (long long)row);
}

static void test_builder_hand(awq_ctx *ctx) {
    /* docs: "aaaa" (4), 11 b's (too long for seqlen 5), "  ab  " -> "ab"
     * (2), "abcab" (5), "cc" (2) */
    const char *txt = "aaaa\n\nbbbbbbbbbbb\n\n  ab  \n\nabcab\n\ncc\n";
    write_file(tmp_path("hand.txt"), txt, strlen(txt));
    awq_tokenizer *t = char_tokenizer(ctx, false);
    awq_calib_params p = awq_calib_default_params();
    p.path = tmp_path("hand.txt");
    p.n_samples = 3;
    p.seqlen = 5;
    awq_calib_blocks *b = NULL;
    CHECK_OK(ctx, awq_calib_build(ctx, t, &p, &b));
    if (b) {
        /* kept aaaa, ab, abcab = 11 ids -> 2 blocks of 5, 1 dropped; reading
         * stops after the third kept document (cc is never read) */
        CHECK_EQ_INT(b->stats.docs_read, 4);
        CHECK_EQ_INT(b->stats.docs_kept, 3);
        CHECK_EQ_INT(b->stats.docs_too_long, 1);
        CHECK_EQ_INT(b->stats.docs_empty, 0);
        CHECK_EQ_INT(b->stats.tokens, 11);
        CHECK_EQ_INT(b->stats.blocks, 2);
        CHECK_EQ_INT(b->stats.tokens_dropped, 1);
        CHECK_EQ_INT(b->n_blocks, 2);
        CHECK_EQ_INT(b->seqlen, 5);
        static const int32_t b0[] = {0, 0, 0, 0, 0}, b1[] = {1, 0, 1, 2, 0};
        check_block(b, 0, b0);
        check_block(b, 1, b1);
        awq_calib_blocks_free(b);
    }
    awq_tokenizer_free(t);

    /* with a BOS per document: aaaa -> 5, ab -> 3, abcab -> 6 (too long),
     * cc -> 3: kept 5 + 3 + 3 = 11 -> 2 blocks */
    t = char_tokenizer(ctx, true);
    b = NULL;
    CHECK_OK(ctx, awq_calib_build(ctx, t, &p, &b));
    if (b) {
        CHECK_EQ_INT(b->stats.docs_read, 5);
        CHECK_EQ_INT(b->stats.docs_kept, 3);
        CHECK_EQ_INT(b->stats.docs_too_long, 2);
        CHECK_EQ_INT(b->stats.tokens, 11);
        CHECK_EQ_INT(b->n_blocks, 2);
        static const int32_t b0[] = {4, 0, 0, 0, 0}, b1[] = {4, 0, 1, 4, 2};
        check_block(b, 0, b0);
        check_block(b, 1, b1);
        awq_calib_blocks_free(b);
    }
    /* add_special off: as the first run */
    p.add_special = false;
    b = NULL;
    CHECK_OK(ctx, awq_calib_build(ctx, t, &p, &b));
    if (b) {
        CHECK_EQ_INT(b->stats.docs_kept, 3);
        CHECK_EQ_INT(b->stats.tokens, 11);
        awq_calib_blocks_free(b);
    }
    p.add_special = true;

    /* JSONL with whitespace-only texts: "   " strips to "" -> no ids, so
     * skipped as empty without BOS; with BOS it is [<s>] and kept (AutoAWQ
     * only skips zero-length encodings). \x1f is Python whitespace. */
    const char *jl = "{\"text\":\"   \"}\n{\"text\":\"\\u001f\"}\n{\"text\":\"ab\"}\n";
    write_file(tmp_path("ws.jsonl"), jl, strlen(jl));
    p.path = tmp_path("ws.jsonl");
    p.seqlen = 2;
    p.n_samples = 10;
    b = NULL;
    CHECK_OK(ctx, awq_calib_build(ctx, t, &p, &b));
    if (b) {
        CHECK_EQ_INT(b->stats.docs_read, 3);
        CHECK_EQ_INT(b->stats.docs_kept, 2); /* [<s>] [<s>] ; "ab" -> 3 > 2 */
        CHECK_EQ_INT(b->stats.docs_too_long, 1);
        CHECK_EQ_INT(b->stats.docs_empty, 0);
        CHECK_EQ_INT(b->n_blocks, 1);
        awq_calib_blocks_free(b);
    }
    awq_tokenizer_free(t);
    t = char_tokenizer(ctx, false);
    b = NULL;
    CHECK_OK(ctx, awq_calib_build(ctx, t, &p, &b));
    if (b) {
        CHECK_EQ_INT(b->stats.docs_empty, 2);
        CHECK_EQ_INT(b->stats.docs_kept, 1);
        CHECK_EQ_INT(b->n_blocks, 1);
        awq_calib_blocks_free(b);
    }

    /* too little text: an error with the counts */
    p.path = tmp_path("hand.txt");
    p.seqlen = 100;
    p.n_samples = 2;
    b = NULL;
    CHECK_FAILS(ctx, awq_calib_build(ctx, t, &p, &b), AWQ_ERR_INVALID_ARG,
                "hand.txt: 2 document(s) kept, 15 tokens in all, fewer than one block of "
                "seqlen 100 tokens; give more text or a smaller seqlen");
    CHECK(b == NULL);
    /* zero blocks says which of the three things happened: an empty file, */
    write_file(tmp_path("blank.txt"), " \n\n\t\n", 5);
    p.path = tmp_path("blank.txt");
    CHECK_FAILS(ctx, awq_calib_build(ctx, t, &p, &b), AWQ_ERR_INVALID_ARG,
                "blank.txt holds no documents: the file is empty or has only blank lines");
    /* every document skipped, naming the JSON field read, */
    write_file(tmp_path("emptyfield.jsonl"), "{\"body\": \"\"}\n{\"body\": \"\"}\n", 26);
    p.path = tmp_path("emptyfield.jsonl");
    p.text_field = "body";
    CHECK_FAILS(ctx, awq_calib_build(ctx, t, &p, &b), AWQ_ERR_INVALID_ARG,
                "emptyfield.jsonl: all 2 documents were skipped (2 with an empty \"body\" field, "
                "0 longer than seqlen 100 tokens)");
    p.text_field = NULL;
    /* and the format read is in the stats (callers never reopen the file) */
    write_file(tmp_path("ok.jsonl"), "{\"text\": \"abcabc\"}\n", 19);
    p.path = tmp_path("ok.jsonl");
    p.seqlen = 6;
    CHECK_OK(ctx, awq_calib_build(ctx, t, &p, &b));
    if (b) {
        CHECK(b->stats.format == AWQ_TEXT_JSONL && !b->stats.compressed);
        awq_calib_blocks_free(b);
        b = NULL;
    }
    p.seqlen = 100;
    p.seqlen = 0;
    CHECK_FAILS(ctx, awq_calib_build(ctx, t, &p, &b), AWQ_ERR_INVALID_ARG, "seqlen");
    /* invalid UTF-8 in a document names the file and line */
    write_file(tmp_path("badutf.txt"), "ab\n\nba \xff cab\n", 14);
    p.path = tmp_path("badutf.txt");
    p.seqlen = 2;
    CHECK_FAILS(ctx, awq_calib_build(ctx, t, &p, &b), AWQ_ERR_INVALID_ARG, "badutf.txt:3");
    awq_tokenizer_free(t);
}

static uint64_t fnv64(const int32_t *ids, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) {
            h ^= ((uint32_t)ids[i] >> (8 * k)) & 0xFF;
            h *= 0x100000001b3ull;
        }
    return h;
}

static void test_builder_ref(awq_ctx *ctx) {
    size_t n;
    char *js = slurp(AWQ_TEST_SRC "/ref/calib_ref.json", &n);
    cJSON *root = cJSON_Parse(js);
    free(js);
    CHECK(root != NULL);
    if (!root) return;
    CHECK_EQ_INT(cJSON_GetObjectItem(root, "docs_in_file")->valuedouble, 1841);
    const cJSON *run;
    int runs = 0;
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(root, "runs")) {
        const char *name = cJSON_GetObjectItem(run, "name")->valuestring;
        char tp[4096], cp[4096];
        snprintf(tp, sizeof tp, "%s/%s", AWQ_TEST_DATA, cJSON_GetObjectItem(run, "tokenizer")->valuestring);
        snprintf(cp, sizeof cp, "%s/%s", AWQ_TEST_DATA, cJSON_GetObjectItem(run, "path")->valuestring);
        awq_tokenizer *t = NULL;
        CHECK_OK(ctx, awq_tokenizer_load(ctx, tp, &t));
        if (!t) continue;
        awq_calib_params p = awq_calib_default_params();
        p.path = cp;
        p.n_samples = (int)cJSON_GetObjectItem(run, "n_samples")->valuedouble;
        p.seqlen = (int)cJSON_GetObjectItem(run, "seqlen")->valuedouble;
        p.shuffle = cJSON_IsTrue(cJSON_GetObjectItem(run, "shuffle"));
        p.seed = (uint64_t)cJSON_GetObjectItem(run, "seed")->valuedouble;
        awq_calib_blocks *b = NULL;
        CHECK_OK(ctx, awq_calib_build(ctx, t, &p, &b));
        if (b) {
            const awq_calib_stats *s = &b->stats;
#define FIELD(k) ((uint64_t)cJSON_GetObjectItem(run, k)->valuedouble)
            CHECK_MSG(s->docs_read == FIELD("docs_read") && s->docs_kept == FIELD("docs_kept") &&
                          s->docs_empty == FIELD("docs_empty") &&
                          s->docs_too_long == FIELD("docs_too_long") &&
                          s->tokens == FIELD("tokens") && s->blocks == FIELD("blocks"),
                      "%s: read %llu kept %llu empty %llu long %llu tokens %llu blocks %llu", name,
                      (unsigned long long)s->docs_read, (unsigned long long)s->docs_kept,
                      (unsigned long long)s->docs_empty, (unsigned long long)s->docs_too_long,
                      (unsigned long long)s->tokens, (unsigned long long)s->blocks);
#undef FIELD
            size_t total = (size_t)b->n_blocks * (size_t)b->seqlen;
            char hex[32];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv64(b->ids, total));
            CHECK_MSG(strcmp(hex, cJSON_GetObjectItem(run, "fnv64")->valuestring) == 0,
                      "%s: block checksum %s", name, hex);
            const cJSON *x;
            size_t i = 0;
            bool first = true, last = true;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(run, "first_ids")) first &= b->ids[i++] == (int32_t)x->valuedouble;
            int nl = cJSON_GetArraySize(cJSON_GetObjectItem(run, "last_ids"));
            i = total - (size_t)nl;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(run, "last_ids")) last &= b->ids[i++] == (int32_t)x->valuedouble;
            CHECK_MSG(first && last, "%s: first/last ids differ", name);
            printf("calib %-36s %lld blocks x %d, checksum %s\n", name, (long long)b->n_blocks,
                   b->seqlen, hex);
            awq_calib_blocks_free(b);
        }
        awq_tokenizer_free(t);
        runs++;
    }
    CHECK(runs >= 5);
    cJSON_Delete(root);
}

static void write_npy(const char *path, const char *descr, const char *shape, const void *data,
                      size_t nbytes, bool fortran) {
    char h[256];
    int hl = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
                      fortran ? "True" : "False", shape);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    tx_buf b = {0};
    tx_buf_append(&b, "\x93NUMPY\x01\x00", 8);
    uint16_t len = (uint16_t)(hl + pad + 1);
    unsigned char lb[2] = {(unsigned char)(len & 0xFF), (unsigned char)(len >> 8)};
    tx_buf_append(&b, lb, 2);
    tx_buf_append(&b, h, (size_t)hl);
    for (int i = 0; i < pad; i++) tx_buf_append(&b, " ", 1);
    tx_buf_append(&b, "\n", 1);
    tx_buf_append(&b, data, nbytes);
    write_file(path, b.p, b.len);
    tx_buf_free(&b);
}

static void test_token_files(awq_ctx *ctx) {
    awq_calib_blocks *b = NULL;
    const char *ids = "1 2 3\n4  5\n\t6\n";
    write_file(tmp_path("ids.txt"), ids, strlen(ids));
    CHECK_OK(ctx, awq_calib_from_token_file(ctx, tmp_path("ids.txt"), 10, 2, &b));
    if (b) {
        CHECK_EQ_INT(b->n_blocks, 3);
        static const int32_t want[] = {1, 2, 3, 4, 5, 6};
        CHECK(memcmp(b->ids, want, sizeof want) == 0);
        CHECK_EQ_INT(b->stats.tokens, 6);
        awq_calib_blocks_free(b);
    }
    CHECK_OK(ctx, awq_calib_from_token_file(ctx, tmp_path("ids.txt"), 10, 4, &b));
    if (b) {
        CHECK_EQ_INT(b->n_blocks, 1);
        CHECK_EQ_INT(b->stats.tokens_dropped, 2);
        awq_calib_blocks_free(b);
    }
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("ids.txt"), 10, 7, &b),
                AWQ_ERR_INVALID_ARG, "fewer than one block");
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("ids.txt"), 5, 2, &b), AWQ_ERR_RANGE,
                "ids.txt:2:4: id 5 (index 4) is outside the vocabulary [0, 5)");
    write_file(tmp_path("badids.txt"), "1 2\n3 x4 5\n", 11);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("badids.txt"), 10, 2, &b),
                AWQ_ERR_FORMAT, "badids.txt:2:3: 'x4' is not a token id");
    write_file(tmp_path("neg.txt"), "1 -2\n", 5);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("neg.txt"), 10, 1, &b),
                AWQ_ERR_FORMAT, "'-2' is not a token id");

    /* .npy: int32 1-D, int64 2-D (rows become blocks when row = seqlen) */
    int32_t a32[6] = {9, 8, 7, 6, 5, 4};
    write_npy(tmp_path("a.npy"), "<i4", "(6,)", a32, sizeof a32, false);
    CHECK_OK(ctx, awq_calib_from_token_file(ctx, tmp_path("a.npy"), 10, 3, &b));
    if (b) {
        CHECK_EQ_INT(b->n_blocks, 2);
        CHECK(memcmp(b->ids, a32, sizeof a32) == 0);
        awq_calib_blocks_free(b);
    }
    int64_t a64[12];
    for (int i = 0; i < 12; i++) a64[i] = 100 + i;
    write_npy(tmp_path("b.npy"), "<i8", "(3, 4)", a64, sizeof a64, false);
    CHECK_OK(ctx, awq_calib_from_token_file(ctx, tmp_path("b.npy"), 200, 4, &b));
    if (b) {
        CHECK_EQ_INT(b->n_blocks, 3);
        CHECK_EQ_INT(b->ids[4], 104);
        CHECK_EQ_INT(b->ids[11], 111);
        awq_calib_blocks_free(b);
    }
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("b.npy"), 106, 4, &b), AWQ_ERR_RANGE,
                "id 106 at index 6 (row 1, column 2) is outside the vocabulary [0, 106)");
    a64[3] = -1;
    write_npy(tmp_path("c.npy"), "<i8", "(12,)", a64, sizeof a64, false);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("c.npy"), 0, 4, &b), AWQ_ERR_RANGE,
                "id -1 at index 3");
    float f[4] = {1, 2, 3, 4};
    write_npy(tmp_path("f.npy"), "<f4", "(4,)", f, sizeof f, false);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("f.npy"), 0, 2, &b), AWQ_ERR_UNSUPPORTED,
                "dtype '<f4'");
    write_npy(tmp_path("be.npy"), ">i4", "(6,)", a32, sizeof a32, false);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("be.npy"), 0, 2, &b), AWQ_ERR_UNSUPPORTED,
                "little-endian");
    write_npy(tmp_path("short.npy"), "<i4", "(60,)", a32, sizeof a32, false);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("short.npy"), 0, 2, &b), AWQ_ERR_FORMAT,
                "shorter than its shape");
    write_npy(tmp_path("3d.npy"), "<i4", "(1, 2, 3)", a32, sizeof a32, false);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("3d.npy"), 0, 2, &b), AWQ_ERR_UNSUPPORTED,
                "1 or 2 dimensions");
    write_npy(tmp_path("fo.npy"), "<i4", "(2, 3)", a32, sizeof a32, true);
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("fo.npy"), 0, 2, &b), AWQ_ERR_UNSUPPORTED,
                "Fortran");
    CHECK_FAILS(ctx, awq_calib_from_token_file(ctx, tmp_path("nope.npy"), 0, 2, &b),
                AWQ_ERR_NOT_FOUND, "nope.npy");

    int32_t mem[7] = {1, 2, 3, 4, 5, 6, 7};
    CHECK_OK(ctx, awq_calib_from_ids(ctx, mem, 7, 3, &b));
    if (b) {
        CHECK_EQ_INT(b->n_blocks, 2);
        CHECK_EQ_INT(b->stats.tokens_dropped, 1);
        awq_calib_blocks_free(b);
    }
    awq_calib_blocks_free(NULL);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    g_tmp = awq_test_tmpdir("test_calib");
    test_readers(ctx);
    test_builder_hand(ctx);
    test_builder_ref(ctx);
    test_token_files(ctx);
    free(g_tmp);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
