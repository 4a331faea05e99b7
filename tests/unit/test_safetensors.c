/* tests/unit/test_safetensors.c — the header validator: one hand-built bad
 * file per rule (each must fail with its own message), good edge cases, and
 * fp32 conversion against scalar references.
 *
 * `test_safetensors --dump-corpus DIR` writes every case as a fuzz seed. */
#include "awq_test.h"
#include "io/safetensors.h"
#include "st_helpers.h"

#include <cjson/cJSON.h>
#include <errno.h>

static awq_ctx *ctx;
static char *tmp;
static const char *dump_dir;

typedef struct bad_case {
    const char *id;
    const char *hdr;
    size_t data_len;
    const char *needle;
} bad_case;

#define T(n, dt, shape, b, e) "\"" n "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static const bad_case bad[] = {
    /* JSON shape of the header */
    {"not_object", "[]", 0, "must be a JSON object (starting with '{'), found '['"},
    {"only_spaces", "        ", 0, "must be a JSON object (starting with '{'), found end of header"},
    {"bom", "\xef\xbb\xbf{}", 0, "must be a JSON object"},
    {"trailing_garbage", "{}x", 0, "after the JSON object"},
    {"trailing_nul", "{}\0\0", 0, "byte 0x00"},
    {"trailing_second_object", "{}{}", 0, "after the JSON object"},
    {"truncated_json", "{\"a\":{\"dtype\":\"F16\"", 0, "expected"},
    {"missing_colon", "{\"a\" {}}", 0, "expected ':'"},
    {"trailing_comma", "{" T("a", "U8", "[1]", 0, 1) ",}", 1, "a tensor name"},
    {"unquoted_key", "{a:1}", 0, "a tensor name"},
    {"unterminated_string", "{\"abc", 0, "unterminated string"},
    {"raw_control_char", "{\"a\tb\":{}}", 0, "unescaped control character"},
    {"bad_escape", "{\"a\\qb\":{}}", 0, "invalid escape"},
    {"bad_unicode_escape", "{\"a\\u12G4\":{}}", 0, "4 hex digits"},
    {"lone_high_surrogate", "{\"a\\ud800b\":{}}", 0, "lone high surrogate"},
    {"lone_low_surrogate", "{\"a\\udc00\":{}}", 0, "lone low surrogate"},
    {"nul_in_name", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "NUL character"},
    /* __metadata__ */
    {"metadata_not_object", "{\"__metadata__\":\"pt\"}", 0, "must be an object mapping strings"},
    {"metadata_value_number", "{\"__metadata__\":{\"format\":1}}", 0, "must be a string"},
    {"metadata_value_null", "{\"__metadata__\":{\"format\":null}}", 0, "must be a string"},
    {"metadata_dup_key", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0,
     "key 'k' appears twice"},
    {"metadata_twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
     "\"__metadata__\" appears twice"},
    /* tensor entries */
    {"tensor_not_object", "{\"t\":[1]}", 0, "value must be an object"},
    {"tensor_unknown_key",
     "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":1}}", 1,
     "unexpected key 'extra'"},
    {"tensor_missing_dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "missing \"dtype\""},
    {"tensor_missing_shape", "{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1,
     "missing \"shape\""},
    {"tensor_missing_offsets", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1,
     "missing \"data_offsets\""},
    {"tensor_empty_object", "{\"t\":{}}", 0, "missing \"dtype\""},
    {"tensor_dup_key", "{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
     1, "key 'dtype' appears twice"},
    {"dtype_unknown", "{" T("t", "F4", "[1]", 0, 1) "}", 1, "unknown dtype 'F4'"},
    {"dtype_lowercase", "{" T("t", "f16", "[1]", 0, 2) "}", 2, "unknown dtype 'f16'"},
    {"dtype_not_string", "{\"t\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     "dtype must be a string"},
    {"shape_not_array", "{\"t\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1,
     "shape must be an array"},
    {"shape_negative", "{" T("t", "U8", "[-1]", 0, 1) "}", 1, "-1 is negative"},
    {"shape_minus_zero", "{" T("t", "U8", "[-0]", 0, 0) "}", 0, "is negative"},
    {"shape_fraction", "{" T("t", "U8", "[1.5]", 0, 1) "}", 1, "1.5 is not an integer"},
    {"shape_float_integral", "{" T("t", "U8", "[2.0]", 0, 2) "}", 2, "2.0 is not an integer"},
    {"shape_exponent", "{" T("t", "U8", "[1e1]", 0, 10) "}", 10, "1e1 is not an integer"},
    {"shape_leading_zero", "{" T("t", "U8", "[01]", 0, 1) "}", 1, "expected a non-negative integer"},
    {"shape_string", "{" T("t", "U8", "[\"1\"]", 0, 1) "}", 1, "expected a non-negative integer"},
    {"shape_u64_overflow", "{" T("t", "U8", "[18446744073709551616]", 0, 1) "}", 1,
     "18446744073709551616 does not fit in 64 bits"},
    {"shape_over_int64", "{" T("t", "U8", "[9223372036854775808]", 0, 1) "}", 1,
     "9223372036854775808 does not fit in int64"},
    {"shape_rank_9", "{" T("t", "U8", "[1,1,1,1,1,1,1,1,1]", 0, 1) "}", 1,
     "more than 8 dimensions"},
    {"shape_unclosed", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1 2],\"data_offsets\":[0,1]}}", 1,
     "',' or ']' in shape"},
    {"offsets_one", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", 1,
     "exactly two integers"},
    {"offsets_three", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1,
     "exactly two integers"},
    {"offsets_empty", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[]}}", 1,
     "exactly two integers"},
    {"offsets_not_array", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":0}}", 1,
     "data_offsets must be an array"},
    {"offsets_negative", "{" T("t", "U8", "[1]", -1, 0) "}", 1, "data_offsets: -1 is negative"},
    {"offsets_fraction", "{" T("t", "U8", "[1]", 0, 1.0) "}", 1, "1.0 is not an integer"},
    {"offsets_reversed", "{" T("t", "U8", "[0]", 4, 0) "}", 4, "are reversed"},
    {"size_mismatch",
     "{" T("model.layers.0.mlp.up_proj.weight", "F16", "[4,4]", 0, 10) "}", 10,
     "model.layers.0.mlp.up_proj.weight': data_offsets [0, 10] cover 10 bytes but F16 [4, 4] "
     "needs 32"},
    {"elements_overflow", "{" T("t", "U8", "[4294967296,4294967296,2]", 0, 0) "}", 0,
     "element count overflows 64 bits"},
    {"elements_overflow_before_zero", "{" T("t", "U8", "[4294967296,4294967296,2,0]", 0, 0) "}", 0,
     "element count overflows 64 bits"},
    {"bytes_overflow", "{" T("t", "F32", "[4611686018427387904]", 0, 0) "}", 0,
     "byte size overflows 64 bits"},
    {"exact_beyond_2p53", "{" T("t", "U8", "[9007199254740993]", 0, 9007199254740993) "}", 4,
     "[0, 9007199254740993] extend past the end of the data area (4 bytes)"},
    {"offsets_past_end", "{" T("t", "U8", "[8]", 0, 8) "}", 4, "extend past the end"},
    /* layout of the data area */
    {"overlap", "{" T("a", "U8", "[4]", 0, 4) "," T("b", "U8", "[4]", 2, 6) "}", 6,
     "tensor 'b' data_offsets [2, 6] overlap tensor 'a' [0, 4]"},
    {"zero_size_inside_other", "{" T("a", "U8", "[4]", 0, 4) "," T("z", "U8", "[0]", 2, 2) "}", 4,
     "tensor 'z' data_offsets [2, 2] overlap tensor 'a'"},
    {"same_range_twice", "{" T("a", "U8", "[4]", 0, 4) "," T("b", "U8", "[4]", 0, 4) "}", 4,
     "overlap"},
    {"hole", "{" T("a", "U8", "[4]", 0, 4) "," T("b", "U8", "[4]", 6, 10) "}", 10,
     "bytes [4, 6) between tensor 'a' and tensor 'b' are not covered"},
    {"gap_at_start", "{" T("a", "U8", "[4]", 4, 8) "}", 8, "bytes [0, 4) of the data area"},
    {"trailing_data", "{" T("a", "U8", "[4]", 0, 4) "}", 7, "3 trailing bytes"},
    {"data_without_tensors", "{}", 2, "2 trailing bytes"},
    {"duplicate_tensor", "{" T("a", "U8", "[4]", 0, 4) "," T("a", "U8", "[4]", 4, 8) "}", 8,
     "tensor 'a' is defined twice"},
    {"duplicate_tensor_escaped", "{" T("ab", "U8", "[4]", 0, 4) ",\"a\\u0062\":{\"dtype\":\"U8\","
     "\"shape\":[4],\"data_offsets\":[4,8]}}", 8, "tensor 'ab' is defined twice"},
};

static char *path_of(const char *id) {
    char name[128];
    snprintf(name, sizeof name, "%s.safetensors", id);
    return st_join(tmp, name);
}

static void dump(const char *id, const void *img, size_t n) {
    if (!dump_dir || n > 65536) return; /* seeds stay small */
    char *p = st_join(dump_dir, id);
    st_put_raw(p, img, n);
    free(p);
}

/* Write `hdr` + data as a file and expect awq_checkpoint_open to fail. */
static void expect_bad_bytes(const char *id, const void *img, size_t n, awq_status want,
                             const char *needle) {
    dump(id, img, n);
    char *p = path_of(id);
    st_put_raw(p, img, n);
    awq_checkpoint *ck = (awq_checkpoint *)0x1;
    awq_status s = awq_checkpoint_open(ctx, p, &ck);
    CHECK_MSG(s == want, "%s: got %s (%s)", id, awq_strerror(s), awq_ctx_errmsg(ctx));
    CHECK_MSG(ck == NULL, "%s: out not cleared", id);
    const char *m = awq_ctx_errmsg(ctx);
    CHECK_MSG(strstr(m, needle) != NULL, "%s: message '%s' lacks '%s'", id, m, needle);
    /* every file error names the file */
    CHECK_MSG(strstr(m, p) != NULL, "%s: message '%s' does not name the file", id, m);
    free(p);
}

static void test_bad_headers(void) {
    for (size_t i = 0; i < AWQ_ARRAY_LEN(bad); i++) {
        const bad_case *c = &bad[i];
        size_t hl = strlen(c->hdr);
        if (strcmp(c->id, "trailing_nul") == 0) hl = 4; /* "{}\0\0" */
        size_t n;
        unsigned char *img = st_image(c->hdr, hl, NULL, c->data_len, &n);
        expect_bad_bytes(c->id, img, n, AWQ_ERR_FORMAT, c->needle);
        free(img);
    }
}

static void test_bad_length_field(void) {
    unsigned char b[64];
    memset(b, 0, sizeof b);
    /* fewer than 8 bytes */
    memcpy(b, "\x02\0\0\0", 4);
    expect_bad_bytes("too_small", b, 5, AWQ_ERR_FORMAT, "file too small (5 bytes)");
    expect_bad_bytes("empty_file", b, 0, AWQ_ERR_FORMAT, "file too small (0 bytes)");
    /* N over the cap (100,000,001), and the u64 maximum */
    uint64_t n = 100000001;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, "{}", 2);
    expect_bad_bytes("header_too_large", b, 10, AWQ_ERR_FORMAT, "exceeds the limit of 100000000");
    memset(b, 0xff, 8);
    expect_bad_bytes("header_len_max", b, 10, AWQ_ERR_FORMAT, "exceeds the limit");
    /* N exactly at the cap but past the end of the file */
    n = 100000000;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    expect_bad_bytes("header_past_eof", b, 10, AWQ_ERR_FORMAT, "exceeds the file size");
    /* N = 3 with only 2 header bytes present */
    memset(b, 0, 8);
    b[0] = 3;
    expect_bad_bytes("header_truncated", b, 10, AWQ_ERR_FORMAT, "exceeds the file size");
    /* N = 0 */
    memset(b, 0, 8);
    expect_bad_bytes("header_zero", b, 8, AWQ_ERR_FORMAT, "empty header");
    /* invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate */
    const char *bad_utf8[] = {"{\"\x80\":{}}", "{\"\xc0\xaf\":{}}", "{\"\xed\xa0\x80\":{}}",
                              "{\"a\xff\":{}}", "{\"__metadata__\":{\"k\":\"\xe2\x82\"}}",
                              "{\"a\\n\xf8\x88\x80\x80\x80\":{}}"};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(bad_utf8); i++) {
        size_t len;
        unsigned char *img = st_image(bad_utf8[i], strlen(bad_utf8[i]), NULL, 0, &len);
        char id[32];
        snprintf(id, sizeof id, "bad_utf8_%zu", i);
        expect_bad_bytes(id, img, len, AWQ_ERR_FORMAT, "not valid UTF-8");
        free(img);
    }
}

/* Open a good file from a header string; returns the checkpoint or NULL. */
static awq_checkpoint *open_good(const char *id, const char *hdr, size_t hdr_len, const void *data,
                                 size_t data_len) {
    size_t n;
    unsigned char *img = st_image(hdr, hdr_len, data, data_len, &n);
    dump(id, img, n);
    char *p = path_of(id);
    st_put_raw(p, img, n);
    free(img);
    awq_checkpoint *ck = NULL;
    awq_status s = awq_checkpoint_open(ctx, p, &ck);
    CHECK_MSG(s == AWQ_OK, "%s: %s", id, awq_ctx_errmsg(ctx));
    free(p);
    return ck;
}

static void test_good_edge_cases(void) {
    /* scalar */
    const char *h = "{" T("s", "F32", "[]", 0, 4) "}";
    float one = 1.5f;
    awq_checkpoint *ck = open_good("scalar", h, strlen(h), &one, 4);
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, "s");
        CHECK(t && t->ndim == 0 && t->n_elements == 1 && t->n_bytes == 4);
        float f = 0;
        if (t) CHECK_OK(ctx, awq_tensor_to_f32(ctx, t, &f));
        CHECK(f == 1.5f);
        CHECK(awq_checkpoint_config(ck) == NULL); /* a bare file has no config */
        CHECK(awq_checkpoint_metadata(ck, 0) == NULL);
        awq_checkpoint_free(ck);
    }
    /* zero-size tensors (begin == end), including one at the very end */
    h = "{" T("a", "F16", "[2]", 0, 4) "," T("z", "F32", "[0,4]", 4, 4) "," T("b", "U8", "[4]", 4, 8)
        "," T("zz", "I64", "[3,0]", 8, 8) "}";
    ck = open_good("zero_size", h, strlen(h), NULL, 8);
    if (ck) {
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), 4);
        const awq_tensor_info *z = awq_checkpoint_find(ck, "z");
        CHECK(z && z->ndim == 2 && z->shape[0] == 0 && z->shape[1] == 4 && z->n_elements == 0 &&
              z->n_bytes == 0);
        /* (shard, offset) order: a, z, b, zz (z before b: same begin, smaller end) */
        const char *order[] = {"a", "z", "b", "zz"};
        for (size_t i = 0; i < 4; i++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
            CHECK_MSG(t && strcmp(t->name, order[i]) == 0, "tensor %zu is %s", i,
                      t ? t->name : "(null)");
        }
        float dummy;
        CHECK_OK(ctx, awq_tensor_to_f32(ctx, z, &dummy));
        awq_checkpoint_free(ck);
    }
    /* empty header, no data */
    ck = open_good("empty_header", "{}", 2, NULL, 0);
    if (ck) {
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), 0);
        CHECK(awq_checkpoint_find(ck, "x") == NULL);
        awq_checkpoint_free(ck);
    }
    /* whitespace around the object (padding) and inside it */
    h = " \n{ \"a\" : { \"dtype\" : \"U8\" ,\n\t\"shape\" : [ 3 ] , \"data_offsets\" : [ 0 , 3 ] } }"
        "   \n\t\r ";
    ck = open_good("padding", h, strlen(h), NULL, 3);
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, "a");
        CHECK(t && t->n_bytes == 3 && t->file_offset == 8 + strlen(h));
        awq_checkpoint_free(ck);
    }
    /* metadata, escapes in names, entries listed out of offset order */
    h = "{\"b\\u00e9\\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
        "\"__metadata__\":{\"format\":\"pt\",\"note\":\"a\\\"b\",\"\xc3\xbc\":\"\xe2\x82\xac\"},"
        "\"\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    ck = open_good("metadata_escapes", h, strlen(h), NULL, 4);
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, "b\xc3\xa9\xf0\x9f\x98\x80");
        CHECK(t && t->file_offset == 8 + strlen(h) + 2);
        CHECK(awq_checkpoint_find(ck, "") != NULL);
        CHECK(strcmp(awq_checkpoint_tensor(ck, 0)->name, "") == 0);
        const cJSON *m = awq_checkpoint_metadata(ck, 0);
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m, "format");
        const cJSON *note = cJSON_GetObjectItemCaseSensitive(m, "note");
        CHECK(cJSON_IsString(fmt) && strcmp(fmt->valuestring, "pt") == 0);
        CHECK(cJSON_IsString(note) && strcmp(note->valuestring, "a\"b") == 0);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "\xc3\xbc");
        CHECK(cJSON_IsString(u) && strcmp(u->valuestring, "\xe2\x82\xac") == 0);
        awq_checkpoint_free(ck);
    }
    /* every dtype, sizes from the spec (not from awq_dtype_size) */
    static const struct { const char *name; unsigned size; } dts[] = {
        {"F16", 2}, {"BF16", 2}, {"F32", 4}, {"F64", 8}, {"I8", 1}, {"U8", 1}, {"I16", 2},
        {"U16", 2}, {"I32", 4}, {"U32", 4}, {"I64", 8}, {"U64", 8}, {"BOOL", 1},
        {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    awq_strbuf b;
    awq_sb_init(&b);
    awq_sb_puts(&b, "{");
    unsigned off = 0;
    for (size_t i = 0; i < AWQ_ARRAY_LEN(dts); i++) {
        awq_sb_printf(&b, "%s\"t_%s\":{\"dtype\":\"%s\",\"shape\":[3,2],\"data_offsets\":[%u,%u]}",
                      i ? "," : "", dts[i].name, dts[i].name, off, off + 6 * dts[i].size);
        off += 6 * dts[i].size;
    }
    awq_sb_puts(&b, "}");
    ck = open_good("all_dtypes", b.s, b.len, NULL, off);
    if (ck) {
        CHECK_EQ_INT(awq_checkpoint_n_tensors(ck), AWQ_ARRAY_LEN(dts));
        for (size_t i = 0; i < AWQ_ARRAY_LEN(dts); i++) {
            char nm[32];
            snprintf(nm, sizeof nm, "t_%s", dts[i].name);
            const awq_tensor_info *t = awq_checkpoint_find(ck, nm);
            CHECK_MSG(t && strcmp(awq_dtype_name(t->dtype), dts[i].name) == 0 &&
                          t->n_bytes == 6u * dts[i].size && t->n_elements == 6,
                      "%s", nm);
        }
        CHECK_EQ_INT(awq_checkpoint_total_bytes(ck), off);
        awq_checkpoint_free(ck);
    }
    awq_sb_free(&b);
    /* maximum rank */
    h = "{" T("r8", "U8", "[1,2,1,2,1,2,1,2]", 0, 16) "}";
    ck = open_good("rank8", h, strlen(h), NULL, 16);
    if (ck) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, "r8");
        CHECK(t && t->ndim == 8 && t->n_elements == 16 && t->shape[7] == 2);
        awq_checkpoint_free(ck);
    }
}

/* Directly through the in-memory parser: the same rule set, no files. */
static void test_parse_buffer(void) {
    const char *h = "{" T("a", "BF16", "[2,3]", 0, 12) "}";
    size_t n;
    unsigned char *img = st_image(h, strlen(h), NULL, 12, &n);
    awq_st_header hd;
    CHECK_OK(ctx, awq_st_parse(ctx, "mem", img, n, &hd));
    CHECK(hd.n_tensors == 1 && hd.data_start == 8 + strlen(h) && hd.data_size == 12);
    CHECK(hd.n_tensors == 1 && hd.tensors[0].dtype == AWQ_DT_BF16 && hd.tensors[0].end == 12);
    awq_st_header_free(&hd);
    /* a prefix of a valid file is never valid */
    for (size_t cut = 0; cut < n; cut++) {
        awq_status s = awq_st_parse(ctx, "mem", img, cut, &hd);
        CHECK_MSG(s == AWQ_ERR_FORMAT, "prefix %zu accepted", cut);
        CHECK(hd.tensors == NULL && hd.metadata == NULL);
    }
    CHECK_FAILS(ctx, awq_st_parse(ctx, "mem", NULL, 0, &hd), AWQ_ERR_FORMAT, "mem: file too small");
    free(img);
    /* quoting of hostile names in messages */
    char q[64];
    awq_st_quote("a\nb'c", q, sizeof q);
    CHECK(strcmp(q, "a\\x0ab\\x27c") == 0);
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    char q2[256];
    awq_st_quote(longname, q2, sizeof q2);
    CHECK(strlen(q2) == 163 && strcmp(q2 + 160, "...") == 0);
}

static void test_to_f32(void) {
    /* values with exact fp16/bf16 encodings plus specials */
    const float vals[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 0.000061035156f, 1e-7f, 3.140625f,
                          INFINITY, -INFINITY};
    const size_t nv = AWQ_ARRAY_LEN(vals);
    unsigned char data[10 * 2 + 10 * 2 + 10 * 4 + 10 * 8 + 4];
    size_t o = 0;
    for (size_t i = 0; i < nv; i++, o += 2) {
        uint16_t h = awq_f32_to_f16(vals[i]);
        memcpy(data + o, &h, 2);
    }
    for (size_t i = 0; i < nv; i++, o += 2) {
        uint16_t h = awq_f32_to_bf16(vals[i]);
        memcpy(data + o, &h, 2);
    }
    for (size_t i = 0; i < nv; i++, o += 4) memcpy(data + o, &vals[i], 4);
    for (size_t i = 0; i < nv; i++, o += 8) {
        double d = i == 9 ? 1e300 : (double)vals[i]; /* 1e300 narrows to +inf */
        memcpy(data + o, &d, 8);
    }
    memset(data + o, 1, 4);
    o += 4;
    const char *h = "{" T("h", "F16", "[2,5]", 0, 20) "," T("b", "BF16", "[10]", 20, 40) ","
                    T("f", "F32", "[5,2]", 40, 80) "," T("d", "F64", "[10]", 80, 160) ","
                    T("i", "I32", "[1]", 160, 164) "}";
    awq_checkpoint *ck = open_good("to_f32", h, strlen(h), data, o);
    if (!ck) return;
    float out[10];
    const awq_tensor_info *th = awq_checkpoint_find(ck, "h");
    CHECK_OK(ctx, awq_tensor_to_f32(ctx, th, out));
    for (size_t i = 0; i < nv; i++) {
        uint16_t e;
        memcpy(&e, data + 2 * i, 2);
        CHECK_MSG(memcmp(&out[i], &(float){awq_f16_to_f32(e)}, 4) == 0, "f16 %zu", i);
    }
    CHECK(out[2] == 1.0f && out[4] == 65504.0f && isinf(out[8]));
    CHECK_OK(ctx, awq_tensor_to_f32(ctx, awq_checkpoint_find(ck, "b"), out));
    CHECK(out[3] == -2.5f && out[7] == 3.140625f && signbit(out[1]) && isinf(out[9]));
    CHECK_OK(ctx, awq_tensor_to_f32(ctx, awq_checkpoint_find(ck, "f"), out));
    CHECK(memcmp(out, vals, sizeof vals) == 0);
    CHECK_OK(ctx, awq_tensor_to_f32(ctx, awq_checkpoint_find(ck, "d"), out));
    CHECK(memcmp(out, vals, 9 * sizeof(float)) == 0 && isinf(out[9]) && out[9] > 0);
    /* rows of a 2-D tensor */
    float rows[8];
    const awq_tensor_info *tf = awq_checkpoint_find(ck, "f");
    CHECK_OK(ctx, awq_tensor_rows_to_f32(ctx, tf, 1, 2, rows));
    CHECK(memcmp(rows, vals + 2, 4 * sizeof(float)) == 0);
    CHECK_OK(ctx, awq_tensor_rows_to_f32(ctx, th, 1, 1, rows));
    CHECK(rows[0] == vals[5] && rows[2] == vals[7]);
    CHECK_OK(ctx, awq_tensor_rows_to_f32(ctx, tf, 5, 0, rows));
    CHECK_FAILS(ctx, awq_tensor_rows_to_f32(ctx, tf, 4, 2, rows), AWQ_ERR_INVALID_ARG,
                "outside its 5 rows");
    CHECK_FAILS(ctx, awq_tensor_rows_to_f32(ctx, tf, -1, 1, rows), AWQ_ERR_INVALID_ARG, "'f'");
    CHECK_FAILS(ctx, awq_tensor_rows_to_f32(ctx, awq_checkpoint_find(ck, "b"), 0, 1, rows),
                AWQ_ERR_INVALID_ARG, "2-D");
    CHECK_FAILS(ctx, awq_tensor_to_f32(ctx, awq_checkpoint_find(ck, "i"), out),
                AWQ_ERR_UNSUPPORTED, "tensor 'i': cannot convert I32");
    CHECK_FAILS(ctx, awq_tensor_to_f32(ctx, th, NULL), AWQ_ERR_INVALID_ARG, "'h'");
    awq_checkpoint_free(ck);
}

/* Large tensors go through the thread pool: same bits as one thread and as
 * the scalar reference, for every float dtype. */
static void test_to_f32_parallel(void) {
    const size_t n = (1u << 18) + 12345;
    const char *dts[] = {"F16", "BF16", "F32", "F64"};
    const size_t es[] = {2, 2, 4, 8};
    awq_ctx *c4 = awq_test_ctx(4);
    for (size_t k = 0; k < 4; k++) {
        char h[256];
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}",
                 dts[k], n, n * es[k]);
        /* pattern data: finite values only for F32/F64 */
        unsigned char *data = malloc(n * es[k]);
        uint32_t x = 12345;
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            float f = (float)((int32_t)x >> 8) / 65536.0f;
            if (es[k] == 2) {
                uint16_t v = (uint16_t)(x >> 16);
                memcpy(data + 2 * i, &v, 2);
            } else if (es[k] == 4) {
                memcpy(data + 4 * i, &f, 4);
            } else {
                double d = (double)f * 1.000001;
                memcpy(data + 8 * i, &d, 8);
            }
        }
        char id[32];
        snprintf(id, sizeof id, "par_%s", dts[k]);
        awq_checkpoint *ck = open_good(id, h, strlen(h), data, n * es[k]);
        if (ck) {
            const awq_tensor_info *t = awq_checkpoint_find(ck, "w");
            float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
            CHECK_OK(c4, awq_tensor_to_f32(c4, t, a));
            CHECK_OK(ctx, awq_tensor_to_f32(ctx, t, b));
            CHECK_MSG(memcmp(a, b, n * sizeof *a) == 0, "%s: 4 threads != 1 thread", dts[k]);
            size_t bad_i = n;
            for (size_t i = 0; i < n && bad_i == n; i++) {
                float r;
                uint16_t v;
                double d;
                switch (k) {
                case 0: memcpy(&v, data + 2 * i, 2); r = awq_f16_to_f32(v); break;
                case 1: memcpy(&v, data + 2 * i, 2); r = awq_bf16_to_f32(v); break;
                case 2: memcpy(&r, data + 4 * i, 4); break;
                default: memcpy(&d, data + 8 * i, 8); r = (float)d; break;
                }
                if (!(isnan(r) && isnan(a[i])) && memcmp(&r, &a[i], 4) != 0) bad_i = i;
            }
            CHECK_MSG(bad_i == n, "%s: element %zu differs from the scalar reference", dts[k],
                      bad_i);
            free(a);
            free(b);
            awq_checkpoint_free(ck);
        }
        free(data);
    }
    awq_ctx_free(c4);
}

static void test_api_edges(void) {
    awq_checkpoint *ck = NULL;
    char *missing = st_join(tmp, "does-not-exist");
    CHECK_FAILS(ctx, awq_checkpoint_open(ctx, missing, &ck), AWQ_ERR_NOT_FOUND, missing);
    free(missing);
    CHECK_FAILS(ctx, awq_checkpoint_open(ctx, "", &ck), AWQ_ERR_INVALID_ARG, "empty path");
    CHECK_FAILS(ctx, awq_checkpoint_open(ctx, "/dev/null", &ck), AWQ_ERR_INVALID_ARG,
                "neither a directory nor a regular file");
    awq_checkpoint_free(NULL);
    CHECK(awq_checkpoint_n_tensors(NULL) == 0 && awq_checkpoint_find(NULL, "x") == NULL);
    CHECK(awq_checkpoint_tensor(NULL, 0) == NULL && awq_checkpoint_shard_path(NULL, 0) == NULL);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump-corpus") == 0) dump_dir = argv[2];
    ctx = awq_test_ctx(1);
    tmp = awq_test_tmpdir("test_safetensors");
    test_bad_headers();
    test_bad_length_field();
    test_good_edge_cases();
    test_parse_buffer();
    test_to_f32();
    test_to_f32_parallel();
    test_api_edges();
    free(tmp);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
