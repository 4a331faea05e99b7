/* tests/unit/test_core.c — status strings, fp16/bf16 conversion, the thread
 * pool's determinism, UTF-8 validation, path helpers. */
#include "awq_test.h"
#include "core/core.h"

#include <stdint.h>

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_status(void) {
    for (int s = 0; s <= AWQ_ERR_INTERNAL; s++) {
        const char *m = awq_strerror((awq_status)s);
        CHECK(m && m[0] && strcmp(m, "unknown status") != 0);
    }
    CHECK(strcmp(awq_strerror((awq_status)999), "unknown status") == 0);
    /* pinned values */
    CHECK_EQ_INT(AWQ_OK, 0);
    CHECK_EQ_INT(AWQ_ERR_FORMAT, 4);
    CHECK_EQ_INT(AWQ_ERR_INTERNAL, 14);
    awq_ctx *ctx = awq_test_ctx(1);
    CHECK(awq_fail(ctx, AWQ_ERR_IO, "x %d", 3) == AWQ_ERR_IO);
    CHECK(strcmp(awq_ctx_errmsg(ctx), "x 3") == 0);
    awq_fail_wrap(ctx, AWQ_ERR_IO, "file %s", "a.bin");
    CHECK(strcmp(awq_ctx_errmsg(ctx), "file a.bin: x 3") == 0);
    awq_ctx_free(ctx);
    awq_ctx_free(NULL);
}

static void test_dtypes(void) {
    awq_dtype t;
    CHECK(awq_dtype_from_name("BF16", &t) && t == AWQ_DT_BF16);
    CHECK(awq_dtype_from_name("F8_E4M3", &t) && t == AWQ_DT_F8_E4M3);
    CHECK(!awq_dtype_from_name("F17", &t));
    CHECK(!awq_dtype_from_name("f16", &t)); /* case matters in safetensors */
    CHECK_EQ_INT(awq_dtype_size(AWQ_DT_I64), 8);
    CHECK_EQ_INT(awq_dtype_size(AWQ_DT_BOOL), 1);
    for (int i = 0; i < AWQ_DT_COUNT; i++) {
        CHECK(awq_dtype_from_name(awq_dtype_name((awq_dtype)i), &t) && (int)t == i);
    }
}

static void test_f16(void) {
    /* Every half round-trips through fp32 exactly (NaNs stay NaN). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = awq_f16_to_f32((uint16_t)h);
        uint16_t back = awq_f32_to_f16(f);
        bool nan = ((h & 0x7c00) == 0x7c00) && (h & 0x3ff);
        if (nan ? !(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* Hand values. */
    CHECK_EQ_INT(awq_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(awq_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(awq_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(awq_f32_to_f16(65519.0f), 0x7bff);  /* below the halfway point */
    CHECK_EQ_INT(awq_f32_to_f16(65520.0f), 0x7c00);  /* ties to even -> inf */
    CHECK_EQ_INT(awq_f32_to_f16(5.9604644775390625e-08f), 0x0001); /* min subnormal */
    CHECK_EQ_INT(awq_f32_to_f16(2.98023223876953125e-08f), 0x0000); /* tie -> even 0 */
    CHECK_EQ_INT(awq_f32_to_f16(1.0f + 1.0f / 2048.0f), 0x3c00);   /* tie -> even */
    CHECK_EQ_INT(awq_f32_to_f16(1.0f + 3.0f / 2048.0f), 0x3c02);   /* tie -> even up */
    CHECK_NEAR(awq_f16_to_f32(0x3555), 0.333251953125, 0);
#if defined(__x86_64__) && defined(__FLT16_MAX__)
    /* Random floats against the compiler's own IEEE conversion. */
    int mism = 0;
    for (int i = 0; i < 2000000; i++) {
        float f = u2f(rnd());
        if (isnan(f)) continue;
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        if (awq_f32_to_f16(f) != hb) mism++;
    }
    CHECK_EQ_INT(mism, 0);
    /* and in the range that matters (|x| < 70000) */
    mism = 0;
    for (int i = 0; i < 2000000; i++) {
        float f = ((float)rnd() / 4294967296.0f - 0.5f) * 140000.0f * u2f(0x30000000u + (rnd() % 0x10000000u));
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        if (awq_f32_to_f16(f) != hb) mism++;
    }
    CHECK_EQ_INT(mism, 0);
#endif
}

static void test_bf16(void) {
    CHECK_EQ_INT(awq_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(awq_f32_to_bf16(u2f(0x3f808000u)), 0x3f80); /* tie -> even */
    CHECK_EQ_INT(awq_f32_to_bf16(u2f(0x3f818000u)), 0x3f82); /* tie -> even up */
    CHECK_EQ_INT(awq_f32_to_bf16(u2f(0x3f808001u)), 0x3f81);
    CHECK(isnan(awq_bf16_to_f32(awq_f32_to_bf16(NAN))));
    CHECK(isinf(awq_bf16_to_f32(awq_f32_to_bf16(INFINITY))));
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if (((h >> 7) & 0xff) == 0xff && (h & 0x7f)) continue;
        if (awq_f32_to_bf16(awq_bf16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* bulk, unaligned source */
    unsigned char buf[9];
    uint16_t v[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
    memcpy(buf + 1, v, 8);
    float out[4];
    awq_f16_to_f32_n(buf + 1, out, 4);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 65504.0f);
}

typedef struct {
    double *out;
    const double *in;
} sum_arg;

static void sum_rows(void *a, int64_t b, int64_t e, int w) {
    sum_arg *s = a;
    for (int64_t i = b; i < e; i++) {
        double acc = 0;
        for (int k = 0; k < 100; k++) acc += s->in[i * 100 + k] * 1.0000001;
        s->out[i] = acc;
    }
}

static void test_pool(void) {
    const int n = 1003;
    double *in = malloc(sizeof(double) * n * 100);
    for (int i = 0; i < n * 100; i++) in[i] = (double)(rnd() % 1000) / 7.0;
    double *ref = calloc(n, sizeof(double));
    double *got = calloc(n, sizeof(double));
    sum_arg a = {ref, in};
    awq_ctx *c1 = awq_test_ctx(1);
    awq_parallel_for(c1, n, sum_rows, &a);
    for (int t = 2; t <= 5; t++) {
        awq_ctx *ct = awq_test_ctx(t);
        for (int rep = 0; rep < 50; rep++) { /* many generations of the pool */
            memset(got, 0, sizeof(double) * n);
            a.out = got;
            awq_parallel_for(ct, n, sum_rows, &a);
            if (memcmp(ref, got, sizeof(double) * n) != 0) {
                CHECK_MSG(0, "threads=%d rep=%d differs", t, rep);
                break;
            }
        }
        awq_parallel_for(ct, 0, sum_rows, &a); /* n = 0 is a no-op */
        awq_parallel_for(ct, 1, sum_rows, &a); /* fewer items than threads */
        awq_ctx_free(ct);
    }
    CHECK(1);
    awq_ctx_free(c1);
    free(in);
    free(ref);
    free(got);
}

static void test_utf8_paths(void) {
    CHECK(awq_utf8_valid("abc", 3));
    CHECK(awq_utf8_valid("\xc3\xa9", 2));
    CHECK(awq_utf8_valid("\xf0\x9f\x98\x80", 4));
    CHECK(!awq_utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!awq_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!awq_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!awq_utf8_valid("\xe2\x82", 2));         /* truncated */
    CHECK(!awq_utf8_valid("\x80", 1));
    CHECK(awq_is_plain_filename("model-00001-of-00002.safetensors"));
    CHECK(!awq_is_plain_filename("../x"));
    CHECK(!awq_is_plain_filename("/etc/passwd"));
    CHECK(!awq_is_plain_filename(".."));
    CHECK(!awq_is_plain_filename(""));
    char *j = awq_path_join("a/", "b");
    CHECK(strcmp(j, "a/b") == 0);
    free(j);
    char *d = awq_path_dirname("x/y/z.json");
    CHECK(strcmp(d, "x/y") == 0);
    free(d);
    CHECK(strcmp(awq_path_basename("x/y/z.json"), "z.json") == 0);
    uint64_t r;
    CHECK(!awq_mul_u64(UINT64_MAX / 2, 3, &r));
    CHECK(awq_mul_u64(1ull << 31, 1ull << 31, &r) && r == (1ull << 62));
    awq_strbuf b;
    awq_sb_init(&b);
    awq_sb_json_str(&b, "a\"b\\\n\x01");
    CHECK(strcmp(b.s, "\"a\\\"b\\\\\\n\\u0001\"") == 0);
    awq_sb_free(&b);
}

static void test_atomic_write(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    char *dir = awq_test_tmpdir("core_atomic");
    char *p = awq_path_join(dir, "f.json");
    CHECK_OK(ctx, awq_write_file_atomic(ctx, p, "{}", 2));
    char *buf;
    size_t n;
    CHECK_OK(ctx, awq_read_file(ctx, p, 100, &buf, &n));
    CHECK(n == 2 && memcmp(buf, "{}", 2) == 0);
    free(buf);
    CHECK_FAILS(ctx, awq_read_file(ctx, p, 1, &buf, &n), AWQ_ERR_FORMAT, "too large");
    char *missing = awq_path_join(dir, "nope");
    CHECK_FAILS(ctx, awq_read_file(ctx, missing, 100, &buf, &n), AWQ_ERR_NOT_FOUND, "nope");
    free(missing);
    free(p);
    free(dir);
    awq_ctx_free(ctx);
}

int main(void) {
    test_status();
    test_dtypes();
    test_f16();
    test_bf16();
    test_pool();
    test_utf8_paths();
    test_atomic_write();
    return awq_test_summary();
}
