/* test_tokenizer_api — the tokenizer API around encode: loading errors
 * (missing files, bad JSON, unsupported features named in the message),
 * tokenizer_config.json's add_bos_token / add_eos_token rule, BOS/EOS ids,
 * token strings, decode, invalid input, and the internal helpers (UTF-8
 * validation and lossy repair, the \s rewrite, the empty-match rule of the
 * regex iterator, the split behaviours) against hand-computed values. */
#include "awq_test.h"
#include "text/text_internal.h"

#include <cjson/cJSON.h>

static char *g_tmp;

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s, 1, strlen(s), f) != strlen(s)) exit(2);
    fclose(f);
}

/* A small valid byte-free tokenizer to patch: characters a..e, merges
 * "a b" -> ab, "ab c" -> abc. */
static const char *k_base =
    "{\"added_tokens\":[{\"id\":7,\"content\":\"<s>\",\"special\":true,\"normalized\":false},"
    "{\"id\":8,\"content\":\"</s>\",\"special\":true,\"normalized\":false}],"
    "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"d\":3,\"e\":4,\"ab\":5,"
    "\"abc\":6,\"<s>\":7,\"</s>\":8,\" \":9},\"merges\":[\"a b\",\"ab c\"]}}";

static char *patched(const char *key, const char *json_value) {
    cJSON *root = cJSON_Parse(k_base);
    cJSON *v = cJSON_Parse(json_value);
    if (!v) {
        fprintf(stderr, "bad test JSON: %s\n", json_value);
        exit(2);
    }
    if (strncmp(key, "model.", 6) == 0) {
        cJSON *m = cJSON_GetObjectItem(root, "model");
        cJSON_DeleteItemFromObject(m, key + 6);
        cJSON_AddItemToObject(m, key + 6, v);
    } else {
        cJSON_DeleteItemFromObject(root, key);
        cJSON_AddItemToObject(root, key, v);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static awq_status load_str(awq_ctx *ctx, const char *js, const char *cfg, awq_tokenizer **t) {
    return awq_tokenizer_load_json(ctx, js, strlen(js), cfg, cfg ? strlen(cfg) : 0, "test.json", t);
}

static awq_status load_patched(awq_ctx *ctx, const char *key, const char *val) {
    char *js = patched(key, val);
    awq_tokenizer *t = NULL;
    awq_status s = load_str(ctx, js, NULL, &t);
    free(js);
    if (s == AWQ_OK && !t) return AWQ_ERR_INTERNAL;
    if (s != AWQ_OK && t) return AWQ_ERR_INTERNAL;
    awq_tokenizer_free(t);
    return s;
}

static void test_load_errors(awq_ctx *ctx) {
    awq_tokenizer *t = NULL;
    char p[4096];
    snprintf(p, sizeof p, "%s/nothere/tokenizer.json", g_tmp);
    CHECK_FAILS(ctx, awq_tokenizer_load(ctx, p, &t), AWQ_ERR_NOT_FOUND, "does not exist");
    /* a model directory without tokenizer.json: says which file and what to do */
    CHECK_FAILS(ctx, awq_tokenizer_load(ctx, g_tmp, &t), AWQ_ERR_NOT_FOUND, "has no tokenizer.json");
    CHECK(strstr(awq_ctx_errmsg(ctx), "--calib-tokens") != NULL);
    CHECK(t == NULL);
    snprintf(p, sizeof p, "%s/bad.json", g_tmp);
    write_file(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [");
    CHECK_FAILS(ctx, awq_tokenizer_load(ctx, p, &t), AWQ_ERR_FORMAT, "malformed JSON");
    CHECK(strstr(awq_ctx_errmsg(ctx), "bad.json") != NULL);
    CHECK_FAILS(ctx, load_str(ctx, "[1,2]", NULL, &t), AWQ_ERR_FORMAT, "not a JSON object");
    CHECK_FAILS(ctx, load_str(ctx, "{}", NULL, &t), AWQ_ERR_FORMAT, "no \"model\"");

    /* unsupported features, each named */
    CHECK_FAILS(ctx, load_patched(ctx, "model.type", "\"WordPiece\""), AWQ_ERR_UNSUPPORTED,
                "model type \"WordPiece\"");
    CHECK_FAILS(ctx, load_str(ctx, "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1.0]]}}", NULL, &t),
                AWQ_ERR_UNSUPPORTED, "\"Unigram\"");
    CHECK_FAILS(ctx, load_patched(ctx, "model.type", "\"WordLevel\""), AWQ_ERR_UNSUPPORTED, "WordLevel");
    CHECK_FAILS(ctx, load_patched(ctx, "normalizer", "{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"\"}"),
                AWQ_ERR_UNSUPPORTED, "normalizer type \"Precompiled\"");
    CHECK_FAILS(ctx, load_patched(ctx, "normalizer", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"BertNormalizer\"}]}"),
                AWQ_ERR_UNSUPPORTED, "\"BertNormalizer\"");
    CHECK_FAILS(ctx, load_patched(ctx, "pre_tokenizer", "{\"type\":\"BertPreTokenizer\"}"),
                AWQ_ERR_UNSUPPORTED, "pre_tokenizer type \"BertPreTokenizer\"");
    CHECK_FAILS(ctx, load_patched(ctx, "pre_tokenizer", "{\"type\":\"Whitespace\"}"),
                AWQ_ERR_UNSUPPORTED, "\"Whitespace\"");
    CHECK_FAILS(ctx, load_patched(ctx, "decoder", "{\"type\":\"WordPiece\",\"prefix\":\"##\"}"),
                AWQ_ERR_UNSUPPORTED, "decoder type \"WordPiece\"");
    CHECK_FAILS(ctx, load_patched(ctx, "post_processor", "{\"type\":\"Weird\"}"),
                AWQ_ERR_UNSUPPORTED, "post_processor type \"Weird\"");
    CHECK_FAILS(ctx, load_patched(ctx, "model.continuing_subword_prefix", "\"##\""),
                AWQ_ERR_UNSUPPORTED, "continuing_subword_prefix \"##\"");
    CHECK_FAILS(ctx, load_patched(ctx, "model.end_of_word_suffix", "\"</w>\""),
                AWQ_ERR_UNSUPPORTED, "end_of_word_suffix");
    CHECK_FAILS(ctx, load_patched(ctx, "model.dropout", "0.1"), AWQ_ERR_UNSUPPORTED, "dropout");
    CHECK_OK(ctx, load_patched(ctx, "model.dropout", "null"));
    CHECK_OK(ctx, load_patched(ctx, "model.continuing_subword_prefix", "\"\""));
    CHECK_FAILS(ctx, load_patched(ctx, "pre_tokenizer", "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(oops\"},\"behavior\":\"Isolated\"}"),
                AWQ_ERR_UNSUPPORTED, "regex \"(oops\"");
    CHECK_FAILS(ctx, load_patched(ctx, "pre_tokenizer", "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Sideways\"}"),
                AWQ_ERR_UNSUPPORTED, "Split behavior \"Sideways\"");
    CHECK_FAILS(ctx, load_patched(ctx, "pre_tokenizer", "{\"type\":\"Metaspace\",\"prepend_scheme\":\"sometimes\"}"),
                AWQ_ERR_UNSUPPORTED, "prepend_scheme \"sometimes\"");

    /* malformed content */
    CHECK_FAILS(ctx, load_patched(ctx, "model.merges", "[\"a b\",\"q z\"]"), AWQ_ERR_FORMAT,
                "merge 2 names token \"q\" which is not in the vocabulary");
    CHECK_FAILS(ctx, load_patched(ctx, "model.merges", "[\"c d\"]"), AWQ_ERR_FORMAT,
                "token \"cd\" which is not in the vocabulary");
    CHECK_FAILS(ctx, load_patched(ctx, "model.merges", "[\"a b c\"]"), AWQ_ERR_FORMAT,
                "not two tokens separated by one space");
    CHECK_FAILS(ctx, load_patched(ctx, "model.merges", "[[\"a\"]]"), AWQ_ERR_FORMAT, "merge 1");
    CHECK_FAILS(ctx, load_patched(ctx, "model.vocab", "{\"a\":-1}"), AWQ_ERR_FORMAT, "vocabulary id");
    CHECK_FAILS(ctx, load_patched(ctx, "model.vocab", "{\"a\":1.5}"), AWQ_ERR_FORMAT, "vocabulary id");
    CHECK_FAILS(ctx, load_patched(ctx, "model.vocab", "{\"a\":\"x\"}"), AWQ_ERR_FORMAT, "must be a number");
    CHECK_FAILS(ctx, load_patched(ctx, "model.vocab", "{}"), AWQ_ERR_FORMAT, "not in the vocabulary");
    CHECK_FAILS(ctx, load_patched(ctx, "model.byte_fallback", "\"yes\""), AWQ_ERR_FORMAT,
                "byte_fallback must be true or false");
    CHECK_FAILS(ctx, load_patched(ctx, "added_tokens", "[{\"id\":99999999,\"content\":\"x\"}]"),
                AWQ_ERR_FORMAT, "added_tokens[].id");
    CHECK_FAILS(ctx, load_patched(ctx, "post_processor",
                                  "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<x>\"}},"
                                  "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{}}"),
                AWQ_ERR_FORMAT, "special token \"<x>\" has no \"ids\"");
    CHECK_FAILS(ctx, load_patched(ctx, "post_processor",
                                  "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"B\"}}]}"),
                AWQ_ERR_FORMAT, "sequence A");
    CHECK_FAILS(ctx, load_patched(ctx, "normalizer", "{\"type\":\"Replace\",\"content\":\"x\"}"),
                AWQ_ERR_FORMAT, "pattern must be");
    CHECK_FAILS(ctx, load_patched(ctx, "normalizer", "{\"nope\":1}"), AWQ_ERR_FORMAT, "without a \"type\"");
}

static void expect_ids(awq_ctx *ctx, awq_tokenizer *t, const char *text, bool sp,
                       const int32_t *want, size_t nw) {
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(ctx, awq_tokenizer_encode(t, text, strlen(text), sp, &ids, &n));
    bool same = n == nw && (n == 0 || memcmp(ids, want, n * 4) == 0);
    CHECK_MSG(same, "\"%s\" (special %d): got %zu ids", text, (int)sp, n);
    if (!same) {
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    awq_free(ids);
}

static void test_config_rule(awq_ctx *ctx) {
    const char *tmpl =
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
        "\"ids\":[7],\"tokens\":[\"<s>\"]}}}";
    char *js = patched("post_processor", tmpl);
    awq_tokenizer *t = NULL;
    /* the template alone: <s> A */
    CHECK_OK(ctx, load_str(ctx, js, NULL, &t));
    static const int32_t abc[] = {6}, s_abc[] = {7, 6}, s_abc_e[] = {7, 6, 8}, abc_e[] = {6, 8};
    expect_ids(ctx, t, "abc", false, abc, 1);
    expect_ids(ctx, t, "abc", true, s_abc, 2);
    CHECK_EQ_INT(awq_tokenizer_bos_id(t), 7); /* from the template */
    CHECK_EQ_INT(awq_tokenizer_eos_id(t), -1);
    awq_tokenizer_free(t);
    /* config: add_eos_token true adds </s>; add_bos_token absent keeps <s> */
    CHECK_OK(ctx, load_str(ctx, js, "{\"eos_token\":\"</s>\",\"add_eos_token\":true}", &t));
    expect_ids(ctx, t, "abc", true, s_abc_e, 3);
    CHECK_EQ_INT(awq_tokenizer_eos_id(t), 8);
    awq_tokenizer_free(t);
    /* add_bos_token false removes it (transformers' Llama rule) */
    CHECK_OK(ctx, load_str(ctx, js,
                           "{\"bos_token\":{\"content\":\"<s>\"},\"eos_token\":\"</s>\","
                           "\"add_bos_token\":false,\"add_eos_token\":true}",
                           &t));
    expect_ids(ctx, t, "abc", true, abc_e, 2);
    CHECK_EQ_INT(awq_tokenizer_bos_id(t), 7);
    size_t np = 99, ns = 99;
    awq_tokenizer_special_prefix(t, &np);
    awq_tokenizer_special_suffix(t, &ns);
    CHECK_EQ_INT(np, 0);
    CHECK_EQ_INT(ns, 1);
    awq_tokenizer_free(t);
    /* add_bos_token true with an unknown bos_token: an error */
    CHECK_FAILS(ctx, load_str(ctx, js, "{\"bos_token\":\"<bos>\",\"add_bos_token\":true}", &t),
                AWQ_ERR_FORMAT, "bos_token \"<bos>\" is not a token");
    CHECK_FAILS(ctx, load_str(ctx, js, "{\"bos_token\":", &t), AWQ_ERR_FORMAT, "tokenizer_config.json");
    free(js);

    /* on disk: tokenizer_config.json beside tokenizer.json is read */
    char d[4096], p[4200];
    snprintf(d, sizeof d, "%s/model", g_tmp);
    awq_mkdir_p(ctx, d);
    snprintf(p, sizeof p, "%s/tokenizer.json", d);
    write_file(p, k_base);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", d);
    write_file(p, "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"add_bos_token\":true}");
    CHECK_OK(ctx, awq_tokenizer_load(ctx, d, &t));
    if (t) {
        expect_ids(ctx, t, "abc", true, s_abc, 2);
        awq_tokenizer_free(t);
    }
    snprintf(p, sizeof p, "%s/tokenizer.json", d);
    CHECK_OK(ctx, awq_tokenizer_load(ctx, p, &t)); /* the file path finds it too */
    if (t) {
        expect_ids(ctx, t, "abc", true, s_abc, 2);
        awq_tokenizer_free(t);
    }

    /* the bundled tokenizers */
    CHECK_OK(ctx, awq_tokenizer_load(ctx, AWQ_TEST_DATA "/tiny-llama", &t));
    if (t) {
        CHECK_EQ_INT(awq_tokenizer_vocab_size(t), 4096);
        CHECK_EQ_INT(awq_tokenizer_bos_id(t), 4095);
        CHECK_EQ_INT(awq_tokenizer_eos_id(t), 4095);
        CHECK(awq_tokenizer_is_special(t, 4095));
        CHECK(!awq_tokenizer_is_special(t, 100));
        CHECK(strcmp(awq_tokenizer_token_str(t, 4095), "<|endoftext|>") == 0);
        CHECK_EQ_INT(awq_tokenizer_token_id(t, "<|endoftext|>"), 4095);
        CHECK_EQ_INT(awq_tokenizer_token_id(t, "no such token"), -1);
        CHECK(awq_tokenizer_token_str(t, 4096) == NULL);
        CHECK(awq_tokenizer_token_str(t, -1) == NULL);
        CHECK(strstr(awq_tokenizer_describe(t), "byte-level") != NULL);
        static const int32_t hw[] = {72, 583, 111, 1599}; /* "Hello world", no BOS */
        expect_ids(ctx, t, "Hello world", true, hw, 4);
        /* decode round trip of arbitrary UTF-8 through byte-level BPE */
        const char *txt = "naïve 東京 🦙\n\t x<|endoftext|>y";
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(ctx, awq_tokenizer_encode(t, txt, strlen(txt), false, &ids, &n));
        char *back = NULL;
        size_t bl = 0;
        CHECK_OK(ctx, awq_tokenizer_decode(t, ids, n, false, &back, &bl));
        CHECK(back && bl == strlen(txt) && strcmp(back, txt) == 0);
        awq_free(back);
        CHECK_OK(ctx, awq_tokenizer_decode(t, ids, n, true, &back, &bl));
        CHECK(back && strcmp(back, "naïve 東京 🦙\n\t xy") == 0);
        awq_free(back);
        /* a lone continuation byte token decodes to U+FFFD */
        int32_t half = ids[2];
        CHECK_OK(ctx, awq_tokenizer_decode(t, &half, 1, false, &back, &bl));
        CHECK(back != NULL);
        awq_free(back);
        int32_t badid[2] = {5, 4096};
        CHECK_FAILS(ctx, awq_tokenizer_decode(t, badid, 2, false, &back, &bl), AWQ_ERR_INVALID_ARG,
                    "id 4096 (position 1)");
        awq_free(ids);
        /* invalid UTF-8 in the text */
        CHECK_FAILS(ctx, awq_tokenizer_encode(t, "abc\xC3(", 5, false, &ids, &n), AWQ_ERR_INVALID_ARG,
                    "byte offset 3");
        CHECK_FAILS(ctx, awq_tokenizer_encode(t, "\xED\xA0\x80", 3, false, &ids, &n),
                    AWQ_ERR_INVALID_ARG, "byte offset 0");
        /* empty text: no ids, NULL array */
        CHECK_OK(ctx, awq_tokenizer_encode(t, "", 0, true, &ids, &n));
        CHECK(n == 0 && ids == NULL);
        /* text with NUL bytes is text like any other */
        CHECK_OK(ctx, awq_tokenizer_encode(t, "a\0b", 3, false, &ids, &n));
        CHECK(n >= 3);
        awq_free(ids);
        awq_tokenizer_free(t);
    }
    CHECK_OK(ctx, awq_tokenizer_load(ctx, AWQ_TEST_DATA "/tokenizers/llama-spm", &t));
    if (t) {
        CHECK_EQ_INT(awq_tokenizer_bos_id(t), 1);
        CHECK_EQ_INT(awq_tokenizer_eos_id(t), 2);
        static const int32_t hw[] = {1, 15043, 3186};
        expect_ids(ctx, t, "Hello world", true, hw, 3);
        CHECK(strstr(awq_tokenizer_describe(t), "SentencePiece") != NULL);
        int32_t ids[] = {1, 15043, 3186, 29871, 243, 162, 169, 156, 2};
        char *back = NULL;
        CHECK_OK(ctx, awq_tokenizer_decode(t, ids, 9, true, &back, NULL));
        CHECK(back && strcmp(back, "Hello world 🦙") == 0);
        awq_free(back);
        awq_tokenizer_free(t);
    }
    /* unk_token named but missing from the vocabulary: an error once needed */
    js = patched("model.unk_token", "\"<unk>\"");
    CHECK_OK(ctx, load_str(ctx, js, NULL, &t));
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(ctx, awq_tokenizer_encode(t, "abc", 3, false, &ids, &n));
        awq_free(ids);
        CHECK_FAILS(ctx, awq_tokenizer_encode(t, "abz", 3, false, &ids, &n), AWQ_ERR_FORMAT,
                    "unk_token \"<unk>\"");
        awq_tokenizer_free(t);
    }
    free(js);
}

static void test_helpers(awq_ctx *ctx) {
    /* UTF-8 validation */
    CHECK_EQ_INT(tx_utf8_first_invalid("abc", 3), 3);
    CHECK_EQ_INT(tx_utf8_first_invalid("a\xC0\xAF", 3), 1);     /* overlong */
    CHECK_EQ_INT(tx_utf8_first_invalid("ab\xF4\x90\x80\x80", 6), 2); /* > U+10FFFF */
    CHECK_EQ_INT(tx_utf8_first_invalid("\xE2\x82", 2), 0);       /* truncated */
    CHECK_EQ_INT(tx_utf8_first_invalid("\xF0\x9F\xA6\x99", 4), 4);
    /* lossy repair: one U+FFFD per maximal invalid subpart */
    tx_buf b = {0};
    tx_utf8_lossy_append(&b, "a\xE2\x82" "b\xFF\xF0\x9F\xA6", 8);
    tx_buf_append(&b, "", 1);
    CHECK(strcmp(b.p, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD") == 0);
    tx_buf_free(&b);
    /* \s rewrite keeps escapes and classes apart */
    size_t n;
    static const char pat[] = "\\s+[^\\s\\p{L}]\\\\s\\S[\\S]";
    char *r = tx_regex_translate(pat, strlen(pat), &n);
    CHECK(r && strstr(r, "[\\t\\n") == r);
    CHECK(r && strstr(r, "\\\\s") != NULL);   /* the escaped backslash stays */
    CHECK(r && strstr(r, "[^\\t\\n") != NULL); /* \S outside a class */
    CHECK(r && strstr(r, "[\\S]") != NULL);    /* \S inside a class untouched */
    free(r);
    /* regex iteration: NEL is whitespace (Oniguruma), empty matches never
     * directly follow a match */
    tx_pattern *p = NULL;
    CHECK_OK(ctx, tx_pattern_regex(ctx, "\\s+", 3, "test", &p));
    tx_spans sp = {0};
    CHECK_OK(ctx, tx_pattern_find(ctx, p, "a\xC2\x85" "b", 4, &sp));
    CHECK(sp.len == 1 && sp.p[0].s == 1 && sp.p[0].e == 3);
    tx_pattern_free(p);
    CHECK_OK(ctx, tx_pattern_regex(ctx, "x*", 2, "test", &p));
    CHECK_OK(ctx, tx_pattern_find(ctx, p, "axxb", 4, &sp));
    /* Rust/onig find_iter: (0,0) (1,3) (4,4) */
    CHECK_EQ_INT(sp.len, 3);
    if (sp.len == 3) {
        CHECK(sp.p[0].s == 0 && sp.p[0].e == 0);
        CHECK(sp.p[1].s == 1 && sp.p[1].e == 3);
        CHECK(sp.p[2].s == 4 && sp.p[2].e == 4);
    }
    tx_pattern_free(p);
    CHECK_OK(ctx, tx_pattern_literal(ctx, "ab", 2, &p));
    CHECK_OK(ctx, tx_pattern_find(ctx, p, "abab_aab", 8, &sp));
    CHECK(sp.len == 3 && sp.p[2].s == 6);
    tx_pattern_free(p);
    tx_spans_free(&sp);
    /* Unicode predicates */
    CHECK(tx_is_whitespace(0x85) && tx_is_whitespace(0x3000) && !tx_is_whitespace(0x200B));
    CHECK(tx_py_isspace(0x1F) && !tx_is_whitespace(0x1F));
    CHECK(tx_is_numeric(0xBD) && tx_is_numeric(0x0663) && !tx_is_numeric('a'));
    CHECK(tx_is_word_char(0x4E2D) && tx_is_word_char('_') && tx_is_word_char(0x301) &&
          tx_is_word_char(0x200D) && !tx_is_word_char('-') && !tx_is_word_char(0xB2));
    /* byte-level table: 256 distinct code points, printable ASCII fixed */
    const tx_bytelevel *bl = tx_bytelevel_table();
    CHECK(bl->enc_len['A'] == 1 && bl->enc['A'][0] == 'A');
    CHECK(bl->enc_len[' '] == 2 && memcmp(bl->enc[' '], "\xC4\xA0", 2) == 0); /* Ġ */
    int distinct = 0;
    for (int i = 0; i < 0x144; i++) distinct += bl->dec[i] >= 0;
    CHECK_EQ_INT(distinct, 256);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    g_tmp = awq_test_tmpdir("test_tokenizer_api");
    test_load_errors(ctx);
    test_config_rule(ctx);
    test_helpers(ctx);
    free(g_tmp);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
