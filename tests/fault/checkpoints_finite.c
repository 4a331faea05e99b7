/* tests/fault/checkpoints_finite.c — the library pieces that keep NaN / Inf
 * from being swallowed (issue 13, class 5), and reading an input exactly
 * once (class 8), one unit at a time:
 *   - awq_f32_first_nonfinite / awq_format_index / awq_fail_nonfinite
 *     (lib/core/finite.c): every position of a block, the exact message;
 *   - awq_tensor_first_nonfinite / awq_tensor_check_finite on stored F16,
 *     BF16, F32 and F64 bits (lib/io/tensor_check.c);
 *   - nll_rows of the CPU backend and of the _ref oracle: NaN for a row
 *     with a NaN, +Inf or -Inf logit (the clamped polynomial exp and the
 *     max used to drop a NaN and give the clean row's value), unchanged
 *     finite rows;
 *   - audit_row_kl: NaN, not 0, for a non-finite row;
 *   - awq_model_open / awq_model_nll_from_hidden on a small synthetic
 *     model: a NaN weight fails the load naming tensor and element, and an
 *     overflowed hidden state fails the NLL naming row and token id;
 *   - awq_read_file on a FIFO (one open; the writer is a child process).
 */
#include "audit/audit_internal.h"
#include "awq_test.h"
#include "awqkit/checkpoint.h"
#include "awqkit/runtime.h"
#include "awqkit/synth.h"
#include "backend/backend.h"
#include "core/core.h"
#include "unit/st_helpers.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_f32_scan(awq_ctx *ctx) {
    enum { N = 3000 };
    float *x = calloc(N, sizeof(float));
    for (int i = 0; i < N; i++) x[i] = (float)i * 0.5f - 100.0f;
    CHECK_EQ_INT(awq_f32_first_nonfinite(x, N), -1);
    CHECK_EQ_INT(awq_f32_first_nonfinite(x, 0), -1);
    /* block edges of the OR-reduced scan, and the first of two hits */
    const int at[] = {0, 1, 1023, 1024, 1025, 2047, 2048, N - 1};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        float keep = x[at[k]];
        x[at[k]] = k % 3 == 0 ? NAN : k % 3 == 1 ? INFINITY : -INFINITY;
        CHECK_EQ_INT(awq_f32_first_nonfinite(x, N), at[k]);
        x[N - 1] = NAN;
        CHECK_EQ_INT(awq_f32_first_nonfinite(x, N), at[k]);
        x[N - 1] = (float)(N - 1) * 0.5f - 100.0f;
        x[at[k]] = keep;
    }
    /* the largest finite float is finite */
    x[5] = 3.4028235e38f;
    CHECK_EQ_INT(awq_f32_first_nonfinite(x, N), -1);
    free(x);
    double d[4] = {1, 2, -INFINITY, NAN};
    CHECK_EQ_INT(awq_f64_first_nonfinite(d, 4), 2);
    CHECK_EQ_INT(awq_f64_first_nonfinite(d, 2), -1);

    char buf[64];
    const int64_t shape2[2] = {4096, 128};
    awq_format_index(2, shape2, 1000, buf, sizeof buf);
    CHECK(strcmp(buf, "[7, 104]") == 0);
    const int64_t shape3[3] = {2, 3, 4};
    awq_format_index(3, shape3, 23, buf, sizeof buf);
    CHECK(strcmp(buf, "[1, 2, 3]") == 0);
    awq_format_index(0, NULL, 0, buf, sizeof buf);
    CHECK(strcmp(buf, "[0]") == 0);
    CHECK(strcmp(awq_nonfinite_name(NAN), "NaN") == 0);
    CHECK(strcmp(awq_nonfinite_name(INFINITY), "+Inf") == 0);
    CHECK(strcmp(awq_nonfinite_name(-INFINITY), "-Inf") == 0);
    CHECK_FAILS(ctx, awq_fail_nonfinite(ctx, "tensor 'lm_head.weight'", 2, shape2, 1000, NAN),
                AWQ_ERR_RANGE, "tensor 'lm_head.weight' holds NaN at element [7, 104]");
}

/* One safetensors file with a 2x3 tensor of each floating dtype; element 4
 * ([1, 1]) of each is set to `bad` (its stored bits), unless bad == 0. */
static void write_floats(const char *dir, int bad) {
    /* F16 1.0 = 0x3c00, BF16 1.0 = 0x3f80, F32 1.0 = 0x3f800000, F64 1.0 */
    unsigned char data[6 * 2 + 6 * 2 + 6 * 4 + 6 * 8];
    unsigned char *p = data;
    for (int i = 0; i < 6; i++, p += 2) {
        uint16_t v = i == 4 && bad ? (bad == 1 ? 0x7e00 : bad == 2 ? 0x7c00 : 0xfc00) : 0x3c00;
        memcpy(p, &v, 2);
    }
    for (int i = 0; i < 6; i++, p += 2) {
        uint16_t v = i == 4 && bad ? (bad == 1 ? 0x7fc1 : bad == 2 ? 0x7f80 : 0xff80) : 0x3f80;
        memcpy(p, &v, 2);
    }
    for (int i = 0; i < 6; i++, p += 4) {
        float v = i == 4 && bad ? (bad == 1 ? NAN : bad == 2 ? INFINITY : -INFINITY) : 1.0f;
        memcpy(p, &v, 4);
    }
    for (int i = 0; i < 6; i++, p += 8) {
        double v = i == 4 && bad ? (bad == 1 ? NAN : bad == 2 ? INFINITY : -INFINITY) : 1.0;
        memcpy(p, &v, 8);
    }
    const char *hdr =
        "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[12,24]},"
        "\"f\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,48]},"
        "\"d\":{\"dtype\":\"F64\",\"shape\":[2,3],\"data_offsets\":[48,96]}}";
    size_t n;
    unsigned char *img = st_image(hdr, strlen(hdr), data, sizeof data, &n);
    char *path = st_join(dir, "model.safetensors");
    st_put_raw(path, img, n);
    free(path);
    free(img);
}

static void test_tensor_scan(awq_ctx *ctx, const char *tmp) {
    static const char *const names[4] = {"h", "b", "f", "d"};
    static const char *const what[4] = {"", "NaN", "+Inf", "-Inf"};
    for (int bad = 0; bad < 4; bad++) {
        write_floats(tmp, bad);
        awq_checkpoint *ck = NULL;
        char *file = st_join(tmp, "model.safetensors");
        CHECK_OK(ctx, awq_checkpoint_open(ctx, file, &ck));
        free(file);
        if (!ck) continue;
        for (int k = 0; k < 4; k++) {
            const awq_tensor_info *t = awq_checkpoint_find(ck, names[k]);
            CHECK(t != NULL);
            if (!t) continue;
            CHECK_EQ_INT(awq_tensor_first_nonfinite(t), bad ? 4 : -1);
            CHECK_NEAR(awq_tensor_element_f64(t, 0), 1.0, 0);
            if (!bad) {
                CHECK_OK(ctx, awq_tensor_check_finite(ctx, t));
                continue;
            }
            char want[96];
            snprintf(want, sizeof want, "tensor '%s' holds %s at element [1, 1]", names[k],
                     what[bad]);
            CHECK_FAILS(ctx, awq_tensor_check_finite(ctx, t), AWQ_ERR_RANGE, want);
        }
        awq_checkpoint_free(ck);
    }
}

/* Large tensors: the scan and the checked conversion run on the thread pool
 * and must report the smallest index whatever worker finds it. */
static void test_parallel_scan(awq_ctx *ctx, const char *tmp) {
    enum { R = 1024, C = 1100 }; /* 1,126,400 elements: split over workers */
    size_t n = (size_t)R * C;
    uint16_t *h = malloc(n * 2);
    for (size_t i = 0; i < n; i++) h[i] = (uint16_t)(0x3800 + (i % 512)); /* finite */
    const char *hdr = "{\"w\":{\"dtype\":\"F16\",\"shape\":[1024,1100],"
                      "\"data_offsets\":[0,2252800]}}";
    char *path = st_join(tmp, "big.safetensors");
    const size_t cases[][2] = {{1000000, 0}, {300000, 1000000}, {0, 0}};
    for (int k = 0; k < 3; k++) {
        for (int q = 0; q < 2; q++)
            if (cases[k][q]) h[cases[k][q]] = q ? 0x7c00 : 0x7e00;
        size_t len;
        unsigned char *img = st_image(hdr, strlen(hdr), h, n * 2, &len);
        st_put_raw(path, img, len);
        free(img);
        awq_checkpoint *ck = NULL;
        CHECK_OK(ctx, awq_checkpoint_open(ctx, path, &ck));
        const awq_tensor_info *t = ck ? awq_checkpoint_find(ck, "w") : NULL;
        float *f = malloc(n * sizeof(float));
        if (t) {
            int64_t want = cases[k][0] ? (int64_t)cases[k][0] : -1;
            CHECK_EQ_INT(awq_tensor_first_nonfinite(t), want);
            char msg[96];
            snprintf(msg, sizeof msg, "tensor 'w' holds NaN at element [%lld, %lld]",
                     (long long)(want / C), (long long)(want % C));
            if (want < 0) {
                CHECK_OK(ctx, awq_tensor_check_finite(ctx, t));
                CHECK_OK(ctx, awq_tensor_to_f32_finite(ctx, t, f));
                CHECK(f[n - 1] == awq_f16_to_f32(h[n - 1]));
            } else {
                CHECK_FAILS(ctx, awq_tensor_check_finite(ctx, t), AWQ_ERR_RANGE, msg);
                CHECK_FAILS(ctx, awq_tensor_to_f32_finite(ctx, t, f), AWQ_ERR_RANGE, msg);
            }
        }
        free(f);
        awq_checkpoint_free(ck);
        for (int q = 0; q < 2; q++)
            if (cases[k][q]) h[cases[k][q]] = 0x3800;
    }
    free(path);
    free(h);
}

static void test_nll_rows(awq_ctx *ctx) {
    enum { V = 37, M = 5 };
    float z[M * V];
    for (int r = 0; r < M; r++)
        for (int v = 0; v < V; v++) z[r * V + v] = (float)((r * 7 + v * 3) % 11) * 0.25f - 1.0f;
    z[1 * V + 3] = NAN;        /* vectorised part */
    z[2 * V + 36] = INFINITY;  /* the tail past the last full vector */
    z[3 * V + 0] = -INFINITY;  /* exp(-inf) = 0 would hide it */
    const int32_t tg[M] = {1, 2, 3, 4, 5};
    double got[M], ref[M];
    awq_backend *be = NULL;
    CHECK_OK(ctx, awq_backend_create(ctx, AWQ_BACKEND_CPU, 0, &be));
    if (!be) return;
    CHECK_OK(ctx, be->ops->nll_rows(be, z, tg, M, V, got));
    awq_nll_rows_ref(z, tg, M, V, ref);
    for (int r = 0; r < M; r++) {
        bool bad = r >= 1 && r <= 3;
        CHECK_MSG(bad ? isnan(got[r]) : isfinite(got[r]), "cpu row %d: %g", r, got[r]);
        CHECK_MSG(bad ? isnan(ref[r]) : isfinite(ref[r]), "ref row %d: %g", r, ref[r]);
        if (!bad) CHECK_NEAR(got[r], ref[r], 2e-7 * fabs(ref[r]) + 1e-12);
    }
    awq_backend_free(be);

    /* the audit's KL: NaN, never the 0 a clamp would give */
    float a[4] = {0.5f, 1.0f, -1.0f, 2.0f}, b[4] = {0.5f, 1.0f, -1.0f, 2.0f};
    bool agree = true;
    CHECK(audit_row_kl(a, b, 4, &agree) == 0.0 && agree);
    b[2] = NAN;
    CHECK(isnan(audit_row_kl(a, b, 4, &agree)) && !agree);
    b[2] = -1.0f;
    a[3] = INFINITY;
    CHECK(isnan(audit_row_kl(a, b, 4, NULL)));
}

/* Overwrite element `idx` of F16 tensor `name` of the checkpoint in dir. */
static void patch_f16(awq_ctx *ctx, const char *dir, const char *name, int64_t idx,
                      uint16_t bits) {
    awq_checkpoint *ck = NULL;
    if (awq_checkpoint_open(ctx, dir, &ck) != AWQ_OK) exit(2);
    const awq_tensor_info *t = awq_checkpoint_find(ck, name);
    if (!t || t->dtype != AWQ_DT_F16) exit(2);
    int fd = open(awq_checkpoint_shard_path(ck, (size_t)t->shard), O_WRONLY);
    unsigned char b[2] = {(unsigned char)bits, (unsigned char)(bits >> 8)};
    if (fd < 0 || pwrite(fd, b, 2, (off_t)(t->file_offset + (uint64_t)idx * 2)) != 2) exit(2);
    close(fd);
    awq_checkpoint_free(ck);
}

static awq_status open_model(awq_ctx *ctx, const char *dir, awq_checkpoint **ck,
                             awq_model **m) {
    *m = NULL;
    awq_status s = awq_checkpoint_open(ctx, dir, ck);
    if (s != AWQ_OK) return s;
    awq_runtime_params rp = awq_runtime_default_params();
    return awq_model_open(ctx, *ck, &rp, m);
}

static void test_model(awq_ctx *ctx, const char *tmp) {
    awq_synth_params sp = awq_synth_default_params();
    CHECK_OK(ctx, awq_synth_preset(ctx, "tiny", &sp));
    sp.n_layers = 1;
    sp.hidden = 64;
    sp.intermediate = 128;
    sp.n_heads = 2;
    sp.n_kv_heads = 1;
    sp.head_dim = 32;
    sp.vocab = 96;
    sp.tie_word_embeddings = false;
    char *dir = st_join(tmp, "m");
    awq_synth_result sr;
    CHECK_OK(ctx, awq_synth_write(ctx, dir, &sp, &sr));

    /* clean: loads, and an Inf in the hidden state fails the NLL by row and
     * token id (rmsnorm of the row gives NaN, so every logit is NaN) */
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    CHECK_OK(ctx, open_model(ctx, dir, &ck, &m));
    if (m) {
        enum { R = 3 };
        float h[R * 64];
        for (int i = 0; i < R * 64; i++) h[i] = (float)((i * 13) % 7) * 0.1f - 0.3f;
        int32_t tg[R] = {1, 2, 3};
        double nll[R];
        CHECK_OK(ctx, awq_model_nll_from_hidden(m, h, tg, R, nll));
        h[64 + 5] = INFINITY;
        CHECK_FAILS(ctx, awq_model_nll_from_hidden(m, h, tg, R, nll), AWQ_ERR_RANGE,
                    "the logits of row 1 hold NaN at token id 0");
        awq_model_free(m);
    }
    awq_checkpoint_free(ck);

    /* a NaN / Inf in each kind of tensor: the load (or the first use of the
     * lazily loaded lm_head / layer) fails naming tensor and element */
    static const struct {
        const char *tensor;
        int64_t idx;
        uint16_t bits;
        const char *want;
    } cases[] = {
        {"model.embed_tokens.weight", 64 * 5 + 7, 0x7e00,
         "tensor 'model.embed_tokens.weight' holds NaN at element [5, 7]"},
        {"model.norm.weight", 9, 0x7c00, "tensor 'model.norm.weight' holds +Inf at element [9]"},
        {"lm_head.weight", 64 * 2 + 1, 0xfc00,
         "tensor 'lm_head.weight' holds -Inf at element [2, 1]"},
        {"model.layers.0.mlp.down_proj.weight", 128 * 3 + 4, 0x7e00,
         "tensor 'model.layers.0.mlp.down_proj.weight' holds NaN at element [3, 4]"},
        {"model.layers.0.input_layernorm.weight", 0, 0x7e00,
         "tensor 'model.layers.0.input_layernorm.weight' holds NaN at element [0]"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "m%zu", k);
        char *d = st_join(tmp, name);
        CHECK_OK(ctx, awq_synth_write(ctx, d, &sp, &sr));
        patch_f16(ctx, d, cases[k].tensor, cases[k].idx, cases[k].bits);
        ck = NULL;
        awq_status s = open_model(ctx, d, &ck, &m);
        if (s == AWQ_OK) {
            /* lazily loaded parts: the first NLL loads the layers and lm_head */
            int32_t ids[4] = {1, 2, 3, 4};
            double nll[3];
            s = awq_model_nll(m, ids, 1, 4, nll);
        }
        CHECK_MSG(s == AWQ_ERR_RANGE, "%s: %s", cases[k].tensor, awq_strerror(s));
        CHECK_MSG(strstr(awq_ctx_errmsg(ctx), cases[k].want) != NULL, "'%s' lacks '%s'",
                  awq_ctx_errmsg(ctx), cases[k].want);
        awq_model_free(m);
        m = NULL;
        awq_checkpoint_free(ck);
        free(d);
    }
    free(dir);
}

static void test_fifo(awq_ctx *ctx, const char *tmp) {
    char *fifo = st_join(tmp, "fifo");
    if (mkfifo(fifo, 0600) != 0) {
        printf("note: mkfifo failed; FIFO read not tested\n");
        free(fifo);
        return;
    }
    /* 200 kB: more than the first buffer, so the stream read must grow */
    enum { N = 200000 };
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20); /* never outlive a broken reader */
        int fd = open(fifo, O_WRONLY);
        char buf[1000];
        for (int i = 0; i < 1000; i++) buf[i] = (char)('a' + i % 26);
        for (int k = 0; fd >= 0 && k < N / 1000; k++)
            if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) _exit(1);
        _exit(fd >= 0 ? 0 : 1);
    }
    char *data = NULL;
    size_t n = 0;
    CHECK_OK(ctx, awq_read_file(ctx, fifo, 1u << 20, &data, &n));
    CHECK_EQ_INT(n, N);
    CHECK(data && data[0] == 'a' && data[N - 1] == (char)('a' + 999 % 26) && data[N] == 0);
    free(data);
    int wst = 0;
    waitpid(pid, &wst, 0);
    CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

    /* over the limit: refused, naming the file */
    pid = fork();
    if (pid == 0) {
        alarm(20);
        signal(SIGPIPE, SIG_IGN);
        int fd = open(fifo, O_WRONLY);
        char buf[4096] = {0};
        for (int k = 0; fd >= 0 && k < 64; k++)
            if (write(fd, buf, sizeof buf) < 0) break;
        _exit(0);
    }
    CHECK_FAILS(ctx, awq_read_file(ctx, fifo, 100000, &data, &n), AWQ_ERR_FORMAT,
                "fifo is too large (more than 100000 bytes)");
    waitpid(pid, &wst, 0);
    free(fifo);
}

/* awq_fail_wrap never repeats a path the message starts with. */
static void test_wrap(awq_ctx *ctx) {
    awq_fail(ctx, AWQ_ERR_FORMAT, "/m/x/config.json: malformed JSON");
    awq_fail_wrap(ctx, AWQ_ERR_FORMAT, "--compare %s", "/m/x");
    CHECK(strcmp(awq_ctx_errmsg(ctx), "--compare /m/x/config.json: malformed JSON") == 0);
    awq_fail(ctx, AWQ_ERR_FORMAT, "/m/x: no weights found");
    awq_fail_wrap(ctx, AWQ_ERR_FORMAT, "/m/x");
    CHECK(strcmp(awq_ctx_errmsg(ctx), "/m/x: no weights found") == 0);
    /* a message about something else keeps the prefix */
    awq_fail(ctx, AWQ_ERR_RANGE, "tensor 'w' holds NaN at element [0]");
    awq_fail_wrap(ctx, AWQ_ERR_RANGE, "--compare %s", "/m/x");
    CHECK(strcmp(awq_ctx_errmsg(ctx), "--compare /m/x: tensor 'w' holds NaN at element [0]") == 0);
    awq_fail(ctx, AWQ_ERR_RANGE, "3 rows");
    awq_fail_wrap(ctx, AWQ_ERR_RANGE, "layer %d", 3);
    CHECK(strcmp(awq_ctx_errmsg(ctx), "layer 3: 3 rows") == 0);
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(2);
    char *tmp = awq_test_tmpdir("checkpoints_finite");
    test_f32_scan(ctx);
    test_wrap(ctx);
    test_tensor_scan(ctx, tmp);
    test_parallel_scan(ctx, tmp);
    test_nll_rows(ctx);
    test_model(ctx, tmp);
    test_fifo(ctx, tmp);
    free(tmp);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
