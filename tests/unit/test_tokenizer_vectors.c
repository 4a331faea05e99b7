/* test_tokenizer_vectors — tokenizer.json encoding against llama.cpp's
 * tokenizer test vectors (data/tokenizers/{gpt2,llama-spm}/vectors.*) and
 * the bundled model's expected ids (data/tiny-llama/vectors.out for the same
 * strings), plus the BPE merge loop against its O(n^2) oracle and speed on
 * the 1.3 MB WikiText-2 test file.
 *
 * File format (llama.cpp tests/test-tokenizer-0.cpp read_tests): the .inp
 * file holds the test strings separated by "\n__ggml_vocab_test__\n" (the
 * file ends with that separator, so there is no empty last string); the .out
 * file holds one line of space-separated ids per string. 46 strings. The
 * tiny-llama vectors.out ends with one extra empty line, which is not a test
 * (there is no 47th string). */
#include "awq_test.h"
#include "text/text_internal.h"

#include <time.h>

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
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

typedef struct {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} vcase;

static size_t read_vectors(const char *inp, const char *outp, vcase **cases) {
    size_t ni, no;
    char *si = slurp(inp, &ni), *so = slurp(outp, &no);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t cap = 64, n = 0;
    vcase *c = calloc(cap, sizeof *c);
    size_t pos = 0;
    while (pos < ni) {
        char *next = strstr(si + pos, sep);
        size_t end = next ? (size_t)(next - si) : ni;
        c[n].len = end - pos;
        c[n].text = malloc(c[n].len + 1);
        memcpy(c[n].text, si + pos, c[n].len);
        c[n].text[c[n].len] = 0;
        n++;
        if (!next) break;
        pos = end + sizeof sep - 1;
    }
    /* output lines */
    size_t line = 0;
    char *p = so;
    while (*p && line < n) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        int32_t *ids = malloc(4096 * sizeof *ids);
        size_t k = 0;
        char *q = p;
        while (*q) {
            while (*q == ' ') q++;
            if (!*q) break;
            ids[k++] = (int32_t)strtol(q, &q, 10);
        }
        c[line].ids = ids;
        c[line].n = k;
        line++;
        if (!nl) break;
        p = nl + 1;
    }
    /* any remaining lines must be empty (tiny-llama's trailing blank line) */
    while (*p == '\n') p++;
    CHECK_MSG(line == n && *p == 0, "%s: %zu strings but %zu id lines", outp, n, line);
    free(si);
    free(so);
    *cases = c;
    return n;
}

static void check_vectors(awq_ctx *ctx, const char *tok_path, const char *inp,
                          const char *outp) {
    awq_tokenizer *tok = NULL;
    CHECK_OK(ctx, awq_tokenizer_load(ctx, tok_path, &tok));
    if (!tok) return;
    vcase *c;
    size_t n = read_vectors(inp, outp, &c);
    CHECK_EQ_INT(n, 46);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t *ids = NULL;
        size_t m = 0;
        CHECK_OK(ctx, awq_tokenizer_encode(tok, c[i].text, c[i].len, false, &ids, &m));
        bool same = m == c[i].n && (m == 0 || memcmp(ids, c[i].ids, m * 4) == 0);
        if (!same) {
            bad++;
            fprintf(stderr, "%s case %zu '%s':\n  got ", tok_path, i, c[i].text);
            for (size_t k = 0; k < m; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n  want");
            for (size_t k = 0; k < c[i].n; k++) fprintf(stderr, " %d", c[i].ids[k]);
            fprintf(stderr, "\n");
        }
        CHECK(same);
        awq_free(ids);
        free(c[i].text);
        free(c[i].ids);
    }
    printf("%s: %zu/%zu vectors match\n", tok_path, n - (size_t)bad, n);
    free(c);
    awq_tokenizer_free(tok);
}

/* The heap merge loop against the O(n^2) textbook loop on every word of a
 * text (words as the GPT-2 regex cuts them, byte-mapped). */
static void check_bpe_oracle(awq_ctx *ctx) {
    awq_tokenizer *tok = NULL;
    CHECK_OK(ctx, awq_tokenizer_load(ctx, AWQ_TEST_DATA "/tokenizers/gpt2/tokenizer.json", &tok));
    if (!tok) return;
    tx_bpe *b = tx_tokenizer_bpe(tok);
    size_t n;
    char *txt = slurp(AWQ_TEST_DATA "/text/wiki.test.raw", &n);
    if (n > 200000) n = 200000;
    while (n && ((unsigned char)txt[n] & 0xC0) == 0x80) n--;
    tx_pattern *re = NULL;
    static const char pat[] =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    CHECK_OK(ctx, tx_pattern_regex(ctx, pat, sizeof pat - 1, "test", &re));
    tx_spans sp = {0};
    CHECK_OK(ctx, tx_pattern_find(ctx, re, txt, n, &sp));
    const tx_bytelevel *bl = tx_bytelevel_table();
    size_t words = 0, diff = 0;
    tx_ivec a = {0}, r = {0};
    tx_buf w = {0};
    for (size_t i = 0; i < sp.len; i++) {
        w.len = 0;
        for (size_t k = sp.p[i].s; k < sp.p[i].e; k++)
            tx_buf_append(&w, bl->enc[(unsigned char)txt[k]], bl->enc_len[(unsigned char)txt[k]]);
        a.len = r.len = 0;
        CHECK_OK(ctx, tx_bpe_word(ctx, b, w.p, w.len, &a));
        CHECK_OK(ctx, tx_bpe_word_ref(ctx, b, w.p, w.len, &r));
        if (a.len != r.len || memcmp(a.p, r.p, a.len * 4) != 0) diff++;
        words++;
    }
    CHECK_MSG(diff == 0, "%zu of %zu words differ between heap BPE and the oracle", diff, words);
    CHECK(words > 30000);
    tx_ivec_free(&a);
    tx_ivec_free(&r);
    tx_buf_free(&w);
    tx_spans_free(&sp);
    tx_pattern_free(re);
    free(txt);
    awq_tokenizer_free(tok);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Whole-file encode speed (the perplexity path) and determinism: a second
 * encode (warm word cache) must give the same ids. */
static void check_speed(awq_ctx *ctx, const char *tok_path) {
    awq_tokenizer *tok = NULL;
    CHECK_OK(ctx, awq_tokenizer_load(ctx, tok_path, &tok));
    if (!tok) return;
    int32_t *ids = NULL, *ids2 = NULL;
    size_t n = 0, n2 = 0;
    double t0 = now_s();
    CHECK_OK(ctx, awq_tokenizer_encode_file(tok, AWQ_TEST_DATA "/text/wiki.test.raw", false, &ids, &n));
    double t1 = now_s();
    CHECK_OK(ctx, awq_tokenizer_encode_file(tok, AWQ_TEST_DATA "/text/wiki.test.raw", false, &ids2, &n2));
    double t2 = now_s();
    CHECK(n > 200000);
    CHECK(n == n2 && memcmp(ids, ids2, n * 4) == 0);
    printf("%s: wiki.test.raw (1290590 bytes) -> %zu tokens in %.3f s (cold), %.3f s (warm cache)\n",
           tok_path, n, t1 - t0, t2 - t1);
    /* generous bound: sanitizer builds on a loaded 2-core machine */
    CHECK_MSG(t1 - t0 < 20.0, "encoding took %.2f s", t1 - t0);
    awq_free(ids);
    awq_free(ids2);
    awq_tokenizer_free(tok);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    check_vectors(ctx, AWQ_TEST_DATA "/tokenizers/gpt2/tokenizer.json",
                  AWQ_TEST_DATA "/tokenizers/gpt2/vectors.inp",
                  AWQ_TEST_DATA "/tokenizers/gpt2/vectors.out");
    check_vectors(ctx, AWQ_TEST_DATA "/tokenizers/llama-spm/tokenizer.json",
                  AWQ_TEST_DATA "/tokenizers/llama-spm/vectors.inp",
                  AWQ_TEST_DATA "/tokenizers/llama-spm/vectors.out");
    check_vectors(ctx, AWQ_TEST_DATA "/tiny-llama",
                  AWQ_TEST_DATA "/tokenizers/gpt2/vectors.inp",
                  AWQ_TEST_DATA "/tiny-llama/vectors.out");
    check_bpe_oracle(ctx);
    check_speed(ctx, AWQ_TEST_DATA "/tiny-llama");
    check_speed(ctx, AWQ_TEST_DATA "/tokenizers/llama-spm");
    awq_ctx_free(ctx);
    return awq_test_summary();
}
