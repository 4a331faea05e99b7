/* tests/unit/test_repack.c — packed checkpoints end to end, against the
 * fixtures of tests/ref/make_quant_fixtures.py (packed by a Python
 * transcription of AutoAWQ's and AutoGPTQ's packing loops, independent of
 * the C code):
 *   - every fixture format detects and decodes to the Python canonical codes,
 *     and awq_quantize of the FP16 weights reproduces them bit for bit;
 *   - repack through every ordered pair of formats gives tensors
 *     byte-identical to the Python-packed fixture of the target format, and
 *     back again to the source fixture; aux files copied, stale
 *     quantize_config.json dropped, config.json changed only in
 *     quantization_config; sharding;
 *   - refusals leave nothing behind: zero points of 0 into v1, act-order
 *     into AWQ (and their --allow-lossy paths), truncated shard, missing
 *     scales, group size not dividing K, wrong quantization_config, output
 *     equal to / inside the input, non-empty output without force;
 *   - a v1-labelled checkpoint storing true zeros is detected and converted;
 *   - verify: fixtures pass, also against the FP16 source; broken ones fail.
 */
#include "awq_test.h"
#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX AWQ_TEST_SRC "/ref/quant"

static const char *const k_fmt_dirs[AWQ_QFMT_COUNT] = {"awq-gemm", "awq-gemv", "gptq", "gptq-v2",
                                                        "compressed-tensors"};
static const char *const k_linears[] = {
    "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
    "model.layers.0.self_attn.v_proj", "model.layers.0.self_attn.o_proj",
    "model.layers.0.mlp.gate_proj",    "model.layers.0.mlp.up_proj",
    "model.layers.0.mlp.down_proj"};
#define N_LIN 7

static char *g_tmp;

static char *path2(const char *a, const char *b) {
    char *p = malloc(strlen(a) + strlen(b) + 2);
    sprintf(p, "%s/%s", a, b);
    return p;
}

static char *fix(const char *name) { return path2(FIX, name); }
static char *tmp(const char *name) { return path2(g_tmp, name); }

static void sh(const char *fmt, ...) AWQ_PRINTF(1, 2);
static void sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(2);
    }
}

/* Tensors of two checkpoints: same names, dtypes, shapes, bytes. */
static int compare_ckpts(awq_ctx *ctx, const char *a, const char *b) {
    awq_checkpoint *ca = NULL, *cb = NULL;
    if (awq_checkpoint_open(ctx, a, &ca) != AWQ_OK || awq_checkpoint_open(ctx, b, &cb) != AWQ_OK) {
        fprintf(stderr, "cannot open %s or %s: %s\n", a, b, awq_ctx_errmsg(ctx));
        awq_checkpoint_free(ca);
        awq_checkpoint_free(cb);
        return 1;
    }
    int bad = 0;
    if (awq_checkpoint_n_tensors(ca) != awq_checkpoint_n_tensors(cb)) {
        fprintf(stderr, "%s vs %s: %zu vs %zu tensors\n", a, b, awq_checkpoint_n_tensors(ca),
                awq_checkpoint_n_tensors(cb));
        bad++;
    }
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ca); i++) {
        const awq_tensor_info *x = awq_checkpoint_tensor(ca, i);
        const awq_tensor_info *y = awq_checkpoint_find(cb, x->name);
        bool same = y && x->dtype == y->dtype && x->ndim == y->ndim && x->n_bytes == y->n_bytes;
        for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == y->shape[d];
        same = same && memcmp(x->data, y->data, (size_t)x->n_bytes) == 0;
        if (!same) {
            if (bad < 5) fprintf(stderr, "%s vs %s: tensor %s differs\n", a, b, x->name);
            bad++;
        }
    }
    awq_checkpoint_free(ca);
    awq_checkpoint_free(cb);
    return bad;
}

static void copy_dir(const char *src, const char *dst) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(2);
    }
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    size_t got = fread(s, 1, (size_t)len, f);
    fclose(f);
    s[got] = 0;
    if (n) *n = got;
    return s;
}

static bool same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* ------------------------------------------------------ variants */

/* A copy of checkpoint src in dst with edits: drop a tensor, replace a
 * tensor's bytes, substitute text in config.json, shard cap. */
typedef struct variant {
    const char *drop;
    const char *repl_name;
    const void *repl_data;
    const char *cfg_from, *cfg_to;
    uint64_t shard;
} variant;

static void make_variant(awq_ctx *ctx, const char *src, const char *dst, const variant *v) {
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, src, &ck));
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    if (v->shard) wp.max_shard_bytes = v->shard;
    awq_writer *w = NULL;
    sh("rm -rf '%s'", dst);
    CHECK_OK(ctx, awq_writer_create(ctx, dst, &wp, &w));
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        if (v->drop && strcmp(t->name, v->drop) == 0) continue;
        CHECK_OK(ctx, awq_writer_declare(w, t->name, t->dtype, t->ndim, t->shape));
    }
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        if (v->drop && strcmp(t->name, v->drop) == 0) continue;
        const void *d = (v->repl_name && strcmp(t->name, v->repl_name) == 0) ? v->repl_data : t->data;
        CHECK_OK(ctx, awq_writer_write(w, t->name, d, t->n_bytes));
    }
    char *cp = path2(src, "config.json");
    char *cfg = slurp(cp, NULL);
    free(cp);
    if (v->cfg_from) {
        char *at = strstr(cfg, v->cfg_from);
        CHECK_MSG(at != NULL, "config lacks %s", v->cfg_from);
        if (at) {
            size_t n = strlen(cfg) + strlen(v->cfg_to) + 1;
            char *nc = malloc(n);
            snprintf(nc, n, "%.*s%s%s", (int)(at - cfg), cfg, v->cfg_to, at + strlen(v->cfg_from));
            free(cfg);
            cfg = nc;
        }
    }
    CHECK_OK(ctx, awq_writer_add_file(w, "config.json", cfg, strlen(cfg)));
    free(cfg);
    CHECK_OK(ctx, awq_writer_finish(w));
    awq_writer_free(w);
    awq_checkpoint_free(ck);
}

/* --------------------------------------------------------- tests */

static void test_decode_fixtures(awq_ctx *ctx) {
    char *cpath = fix("canonical.safetensors"), *fp = fix("fp16");
    awq_checkpoint *canon = NULL, *fck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, cpath, &canon));
    CHECK_OK(ctx, awq_checkpoint_open(ctx, fp, &fck));
    char name[256];
    for (int f = 0; f < AWQ_QFMT_COUNT; f++) {
        char *d = fix(k_fmt_dirs[f]);
        awq_checkpoint *ck = NULL;
        CHECK_OK(ctx, awq_checkpoint_open(ctx, d, &ck));
        awq_qckpt q;
        CHECK_OK(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q));
        CHECK_EQ_INT(q.format, f);
        CHECK_EQ_INT(q.labelled, f);
        CHECK_EQ_INT(q.bits, 4);
        CHECK_EQ_INT(q.group_size, 32);
        CHECK_EQ_INT(q.n_linears, N_LIN);
        CHECK(!q.zeros_reinterpreted);
        for (int l = 0; l < N_LIN; l++) {
            awq_qtensor t;
            CHECK_OK(ctx, awq_qlinear_read(ctx, ck, k_linears[l], &q, &t));
            snprintf(name, sizeof name, "%s.q", k_linears[l]);
            const awq_tensor_info *cq = awq_checkpoint_find(canon, name);
            snprintf(name, sizeof name, "%s.zeros", k_linears[l]);
            const awq_tensor_info *cz = awq_checkpoint_find(canon, name);
            snprintf(name, sizeof name, "%s.scales", k_linears[l]);
            const awq_tensor_info *cs = awq_checkpoint_find(canon, name);
            CHECK(cq && cz && cs);
            if (!cq || !cz || !cs || !t.q) continue;
            CHECK(t.N == cq->shape[0] && t.K == cq->shape[1]);
            CHECK_MSG(memcmp(t.q, cq->data, (size_t)cq->n_bytes) == 0, "%s %s codes",
                      k_fmt_dirs[f], k_linears[l]);
            CHECK_MSG(memcmp(t.zeros, cz->data, (size_t)cz->n_bytes) == 0, "%s %s zeros",
                      k_fmt_dirs[f], k_linears[l]);
            CHECK_MSG(memcmp(t.scales, cs->data, (size_t)cs->n_bytes) == 0, "%s %s scales",
                      k_fmt_dirs[f], k_linears[l]);
            CHECK(t.g_idx == NULL);
            if (f == 0) {
                /* the quantizer reproduces the independent reference */
                snprintf(name, sizeof name, "%s.weight", k_linears[l]);
                const awq_tensor_info *wt = awq_checkpoint_find(fck, name);
                float *w = malloc(sizeof(float) * (size_t)wt->n_elements);
                CHECK_OK(ctx, awq_tensor_to_f32(ctx, wt, w));
                awq_quant_params qp = awq_quant_default_params();
                qp.group_size = 32;
                awq_qtensor mine;
                CHECK_OK(ctx, awq_quantize(ctx, name, w, t.N, t.K, &qp, &mine));
                CHECK_MSG(awq_qtensor_equal(&mine, &t), "awq_quantize differs from the Python "
                          "reference on %s", k_linears[l]);
                awq_qtensor_free(&mine);
                free(w);
            }
            awq_qtensor_free(&t);
        }
        awq_checkpoint_free(ck);
        free(d);
    }
    awq_checkpoint_free(canon);
    awq_checkpoint_free(fck);
    free(cpath);
    free(fp);
}

static void test_all_pairs(awq_ctx *ctx) {
    int pairs = 0;
    for (int a = 0; a < AWQ_QFMT_COUNT; a++)
        for (int b = 0; b < AWQ_QFMT_COUNT; b++) {
            char *src = fix(k_fmt_dirs[a]), *want = fix(k_fmt_dirs[b]);
            char n1[64], n2[64];
            snprintf(n1, sizeof n1, "pair-%d-%d", a, b);
            snprintf(n2, sizeof n2, "pair-%d-%d-back", a, b);
            char *out = tmp(n1), *back = tmp(n2);
            awq_repack_params p = awq_repack_default_params();
            p.to = (awq_qformat)b;
            awq_repack_result r;
            CHECK_OK(ctx, awq_repack(ctx, src, out, &p, &r));
            CHECK_EQ_INT(r.n_linears, N_LIN);
            CHECK_EQ_INT(r.n_lossy_groups, 0);
            CHECK_EQ_INT(r.n_shards, 1);
            CHECK_MSG(compare_ckpts(ctx, out, want) == 0, "%s -> %s differs from the fixture",
                      k_fmt_dirs[a], k_fmt_dirs[b]);
            p.to = (awq_qformat)a;
            CHECK_OK(ctx, awq_repack(ctx, out, back, &p, &r));
            CHECK_MSG(compare_ckpts(ctx, back, src) == 0, "%s -> %s -> back differs",
                      k_fmt_dirs[a], k_fmt_dirs[b]);
            /* aux files */
            char *t1 = path2(out, "tokenizer_config.json"), *t2 = path2(src, "tokenizer_config.json");
            CHECK(same_file(t1, t2));
            free(t1);
            free(t2);
            char *qc = path2(out, "quantize_config.json");
            CHECK(!awq_path_exists(qc)); /* stale format description dropped */
            free(qc);
            /* config.json: only quantization_config changed */
            char *c1 = path2(out, "config.json"), *c2 = path2(want, "config.json");
            char *s1 = slurp(c1, NULL), *s2 = slurp(c2, NULL);
            cJSON *j1 = cJSON_Parse(s1), *j2 = cJSON_Parse(s2);
            CHECK(j1 && j2);
            cJSON *q1 = cJSON_DetachItemFromObject(j1, "quantization_config");
            cJSON *q2 = cJSON_DetachItemFromObject(j2, "quantization_config");
            CHECK(cJSON_Compare(j1, j2, true));
            CHECK(strstr(s1, "\n  \"hidden_size\": 64,") != NULL); /* 2-space style */
            const char *keys[] = {"quant_method", "bits", "group_size", "version", "checkpoint_format"};
            for (size_t k = 0; k < 5; k++) {
                cJSON *x = cJSON_GetObjectItem(q1, keys[k]), *y = cJSON_GetObjectItem(q2, keys[k]);
                CHECK_MSG((!x && !y) || (x && y && cJSON_Compare(x, y, true)), "%s -> %s: %s",
                          k_fmt_dirs[a], k_fmt_dirs[b], keys[k]);
            }
            cJSON_Delete(q1);
            cJSON_Delete(q2);
            cJSON_Delete(j1);
            cJSON_Delete(j2);
            free(s1);
            free(s2);
            free(c1);
            free(c2);
            free(src);
            free(want);
            free(out);
            free(back);
            pairs++;
        }
    CHECK_EQ_INT(pairs, AWQ_QFMT_COUNT * AWQ_QFMT_COUNT);
}

static void test_sharding(awq_ctx *ctx) {
    char *src = fix("awq-gemm"), *out = tmp("sharded"), *back = tmp("sharded-back");
    awq_repack_params p = awq_repack_default_params();
    p.to = AWQ_QFMT_GPTQ_V2;
    p.max_shard_bytes = 9000;
    awq_repack_result r;
    CHECK_OK(ctx, awq_repack(ctx, src, out, &p, &r));
    CHECK(r.n_shards > 2);
    char *idx = path2(out, "model.safetensors.index.json");
    CHECK(awq_path_exists(idx));
    free(idx);
    /* default cap: the input's largest shard, so the layout is kept */
    p.to = AWQ_QFMT_GPTQ;
    p.max_shard_bytes = 0;
    awq_repack_result r2;
    CHECK_OK(ctx, awq_repack(ctx, out, back, &p, &r2));
    CHECK(r2.n_shards >= r.n_shards - 1 && r2.n_shards <= r.n_shards + 1);
    char *want = fix("gptq");
    CHECK(compare_ckpts(ctx, back, want) == 0);
    free(want);
    free(src);
    free(out);
    free(back);
}

static void test_refusals(awq_ctx *ctx) {
    awq_repack_params p = awq_repack_default_params();
    awq_repack_result r;
    char *gemm = fix("awq-gemm");
    /* a private copy to aim at itself */
    char *own = tmp("own-copy");
    copy_dir(gemm, own);
    CHECK_FAILS(ctx, awq_repack(ctx, own, own, &p, &r), AWQ_ERR_INVALID_ARG, "is the same directory as");
    char *inside = path2(own, "sub");
    CHECK_FAILS(ctx, awq_repack(ctx, own, inside, &p, &r), AWQ_ERR_INVALID_ARG, "inside");
    CHECK(!awq_path_exists(inside));
    CHECK(compare_ckpts(ctx, own, gemm) == 0);
    free(inside);
    /* non-empty output */
    char *busy = tmp("busy");
    sh("mkdir -p '%s' && echo keep > '%s/notes.txt'", busy, busy);
    CHECK_FAILS(ctx, awq_repack(ctx, gemm, busy, &p, &r), AWQ_ERR_EXISTS, "not empty");
    char *cfg = path2(busy, "config.json");
    CHECK(!awq_path_exists(cfg));
    p.force = true;
    p.to = AWQ_QFMT_GPTQ_V2;
    CHECK_OK(ctx, awq_repack(ctx, gemm, busy, &p, &r));
    CHECK(awq_path_exists(cfg));
    char *keep = path2(busy, "notes.txt");
    CHECK(awq_path_exists(keep));
    free(keep);
    free(cfg);
    p = awq_repack_default_params();

    /* truncated shard */
    char *trunc = tmp("truncated"), *out = tmp("out-truncated");
    copy_dir(gemm, trunc);
    sh("truncate -s -100 '%s/model.safetensors'", trunc);
    awq_status s = awq_repack(ctx, trunc, out, &p, &r);
    CHECK_MSG(s != AWQ_OK, "truncated shard accepted");
    CHECK(strstr(awq_ctx_errmsg(ctx), "model.safetensors") != NULL);
    CHECK(!awq_path_exists(out));

    /* missing scales */
    char *nos = tmp("no-scales");
    variant v = {0};
    v.drop = "model.layers.0.mlp.up_proj.scales";
    make_variant(ctx, gemm, nos, &v);
    CHECK_FAILS(ctx, awq_repack(ctx, nos, out, &p, &r), AWQ_ERR_NOT_FOUND,
                "model.layers.0.mlp.up_proj.scales: missing");
    CHECK(!awq_path_exists(out));

    /* group size not dividing K */
    char *g48 = tmp("group48");
    variant v2 = {0};
    v2.cfg_from = "\"group_size\": 32";
    v2.cfg_to = "\"group_size\": 48";
    make_variant(ctx, gemm, g48, &v2);
    CHECK_FAILS(ctx, awq_repack(ctx, g48, out, &p, &r), AWQ_ERR_MISMATCH,
                "does not divide in_features");
    CHECK(!awq_path_exists(out));

    /* wrong quantization_config: AWQ tensors labelled GPTQ */
    char *wrong = tmp("wrong-label");
    variant v3 = {0};
    v3.cfg_from = "\"quant_method\": \"awq\"";
    v3.cfg_to = "\"quant_method\": \"gptq\"";
    make_variant(ctx, gemm, wrong, &v3);
    CHECK_FAILS(ctx, awq_repack(ctx, wrong, out, &p, &r), AWQ_ERR_MISMATCH,
                "are those of the layout AWQ GEMM");
    CHECK(!awq_path_exists(out));
    /* unknown AWQ version */
    char *marlin = tmp("marlin");
    variant v4 = {0};
    v4.cfg_from = "\"version\": \"gemm\"";
    v4.cfg_to = "\"version\": \"marlin\"";
    make_variant(ctx, gemm, marlin, &v4);
    CHECK_FAILS(ctx, awq_repack(ctx, marlin, out, &p, &r), AWQ_ERR_UNSUPPORTED, "marlin");
    /* a dense checkpoint */
    char *fp = fix("fp16");
    CHECK_FAILS(ctx, awq_repack(ctx, fp, out, &p, &r), AWQ_ERR_NOT_FOUND, "no quantization_config");
    CHECK(!awq_path_exists(out));
    free(fp);
    free(marlin);
    free(wrong);
    free(g48);
    free(nos);
    free(trunc);
    free(out);
    free(busy);
    free(own);
    free(gemm);
}

/* Zero points of 0 into GPTQ v1: refused with the count, or re-quantized. */
static void test_zero0(awq_ctx *ctx) {
    char *gemm = fix("awq-gemm"), *var = tmp("zero0"), *out = tmp("zero0-out");
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, gemm, &ck));
    awq_qckpt q;
    CHECK_OK(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q));
    awq_qtensor t;
    CHECK_OK(ctx, awq_qlinear_read(ctx, ck, "model.layers.0.mlp.up_proj", &q, &t));
    t.zeros[0] = 0;
    t.zeros[5] = 0;
    t.zeros[t.N + 7] = 0;
    awq_packed pk;
    CHECK_OK(ctx, awq_pack(ctx, "x", AWQ_QFMT_AWQ_GEMM, &t, NULL, &pk, NULL));
    variant v = {0};
    v.repl_name = "model.layers.0.mlp.up_proj.qzeros";
    v.repl_data = pk.t[AWQ_PT_QZEROS].data;
    make_variant(ctx, gemm, var, &v);
    awq_packed_free(&pk);
    awq_qtensor_free(&t);
    awq_checkpoint_free(ck);
    awq_repack_params p = awq_repack_default_params();
    p.to = AWQ_QFMT_GPTQ;
    awq_repack_result r;
    CHECK_FAILS(ctx, awq_repack(ctx, var, out, &p, &r), AWQ_ERR_LOSSY,
                "3 groups in 1 linears (first: model.layers.0.mlp.up_proj) have zero point 0");
    CHECK(strstr(awq_ctx_errmsg(ctx), "gptq-v2") != NULL);
    CHECK(!awq_path_exists(out));
    /* v2 holds them */
    p.to = AWQ_QFMT_GPTQ_V2;
    CHECK_OK(ctx, awq_repack(ctx, var, out, &p, &r));
    CHECK_EQ_INT(r.n_lossy_groups, 0);
    sh("rm -rf '%s'", out);
    p.to = AWQ_QFMT_GPTQ;
    p.allow_lossy = true;
    CHECK_OK(ctx, awq_repack(ctx, var, out, &p, &r));
    CHECK_EQ_INT(r.n_lossy_groups, 3);
    CHECK(r.n_changed_codes > 0 && r.max_abs_change > 0);
    /* the result is a valid v1 checkpoint with zero points >= 1 */
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, out, NULL, &vr));
    CHECK_MSG(vr.ok, "%s", vr.n_problems ? vr.problems[0] : "");
    awq_verify_result_free(&vr);
    free(gemm);
    free(var);
    free(out);
}

/* Act-order GPTQ: kept by GPTQ formats, refused by AWQ unless lossy. */
static void test_act_order(awq_ctx *ctx) {
    char *src = fix("gptq-v2"), *var = tmp("actorder"), *out = tmp("actorder-out"),
         *g1 = tmp("actorder-v1"), *back = tmp("actorder-back");
    int32_t gi[64];
    for (int k = 0; k < 64; k++) gi[k] = (k * 7 + 3) % 2;
    variant v = {0};
    v.repl_name = "model.layers.0.self_attn.o_proj.g_idx";
    v.repl_data = gi;
    v.cfg_from = "\"desc_act\": false";
    v.cfg_to = "\"desc_act\": true";
    make_variant(ctx, src, var, &v);
    awq_repack_params p = awq_repack_default_params();
    awq_repack_result r;
    CHECK_FAILS(ctx, awq_repack(ctx, var, out, &p, &r), AWQ_ERR_LOSSY,
                "1 linears (first: model.layers.0.self_attn.o_proj) use GPTQ act-order");
    CHECK(!awq_path_exists(out));
    p.to = AWQ_QFMT_GPTQ;
    CHECK_OK(ctx, awq_repack(ctx, var, g1, &p, &r));
    p.to = AWQ_QFMT_GPTQ_V2;
    CHECK_OK(ctx, awq_repack(ctx, g1, back, &p, &r));
    CHECK(compare_ckpts(ctx, back, var) == 0);
    char *cfgp = path2(back, "config.json");
    char *cfg = slurp(cfgp, NULL);
    CHECK(strstr(cfg, "\"desc_act\": true") != NULL);
    free(cfg);
    free(cfgp);
    p.to = AWQ_QFMT_AWQ_GEMM;
    p.allow_lossy = true;
    CHECK_OK(ctx, awq_repack(ctx, var, out, &p, &r));
    CHECK_EQ_INT(r.n_requantized, 1);
    CHECK(r.max_requant_rel_err > 0 && r.max_requant_rel_err < 0.3);
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, out, NULL, &vr));
    CHECK_MSG(vr.ok, "%s", vr.n_problems ? vr.problems[0] : "");
    awq_verify_result_free(&vr);
    free(src);
    free(var);
    free(out);
    free(g1);
    free(back);
}

static void test_mislabelled(awq_ctx *ctx) {
    char *src = fix("gptq-sym-mislabelled"), *out = tmp("mis-v2"), *out1 = tmp("mis-v1");
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, src, &ck));
    awq_qckpt q;
    /* labelled v1, zeros of v2: refused, not guessed; reading them as v2
     * is the caller's explicit choice */
    CHECK_FAILS(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AUTO, &q), AWQ_ERR_MISMATCH,
                "the label and the data disagree");
    CHECK_OK(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AS_V2, &q));
    CHECK_EQ_INT(q.labelled, AWQ_QFMT_GPTQ);
    CHECK_EQ_INT(q.format, AWQ_QFMT_GPTQ_V2);
    CHECK(q.zeros_reinterpreted);
    awq_qtensor t;
    CHECK_OK(ctx, awq_qlinear_read(ctx, ck, k_linears[0], &q, &t));
    for (int64_t i = 0; i < t.n_groups * t.N; i++) CHECK(t.zeros[i] == 8);
    awq_qtensor_free(&t);
    /* read as labelled (v1), the zeros decode to 9: the symmetric config
     * catches it */
    awq_qckpt q1;
    CHECK_OK(ctx, awq_qckpt_detect(ctx, ck, AWQ_ZEROS_AS_V1, &q1));
    CHECK_FAILS(ctx, awq_qlinear_read(ctx, ck, k_linears[0], &q1, &t), AWQ_ERR_MISMATCH,
                "says symmetric");
    awq_checkpoint_free(ck);
    awq_repack_params p = awq_repack_default_params();
    p.to = AWQ_QFMT_GPTQ;
    awq_repack_result r;
    CHECK_FAILS(ctx, awq_repack(ctx, src, out1, &p, &r), AWQ_ERR_MISMATCH, "--gptq-zeros");
    CHECK(!awq_test_path_exists(out1));
    p.zeros = AWQ_ZEROS_AS_V2;
    CHECK_OK(ctx, awq_repack(ctx, src, out1, &p, &r));
    CHECK(r.in.zeros_reinterpreted);
    /* proper v1 now stores 7 = 8 - 1 */
    awq_checkpoint *c1 = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, out1, &c1));
    const awq_tensor_info *qz = awq_checkpoint_find(c1, "model.layers.0.self_attn.q_proj.qzeros");
    uint32_t w0;
    memcpy(&w0, qz->data, 4);
    CHECK_EQ_INT(w0, 0x77777777u);
    awq_qckpt qq;
    CHECK_OK(ctx, awq_qckpt_detect(ctx, c1, AWQ_ZEROS_AUTO, &qq));
    CHECK(!qq.zeros_reinterpreted && qq.sym);
    awq_checkpoint_free(c1);
    p.to = AWQ_QFMT_GPTQ_V2;
    CHECK_OK(ctx, awq_repack(ctx, src, out, &p, &r));
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, src, NULL, &vr));
    CHECK(!vr.ok);
    CHECK(vr.n_problems > 0 && strstr(vr.problems[0], "DISAGREES") != NULL);
    awq_verify_result_free(&vr);
    CHECK_OK(ctx, awq_verify(ctx, out, NULL, &vr));
    CHECK_MSG(vr.ok, "%s", vr.n_problems ? vr.problems[0] : "");
    awq_verify_result_free(&vr);
    free(src);
    free(out);
    free(out1);
}

/* One corrupted qzeros nibble in one linear of a real v1 checkpoint must
 * not turn the whole checkpoint into v2 (and a "lossless" repack): the
 * label and the data disagree, so it is refused until the caller chooses. */
static void test_corrupted_nibble(awq_ctx *ctx) {
    char *src = fix("gptq"), *cp = tmp("nibble"), *out = tmp("nibble-out");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", cp, src, cp);
    CHECK(system(cmd) == 0);
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, cp, &ck));
    const awq_tensor_info *qz =
        ck ? awq_checkpoint_find(ck, "model.layers.0.mlp.up_proj.qzeros") : NULL;
    CHECK(qz != NULL);
    uint64_t off = qz ? qz->file_offset : 0;
    awq_checkpoint_free(ck);
    if (!qz) return;
    char *path = malloc(strlen(cp) + 32);
    sprintf(path, "%s/model.safetensors", cp);
    FILE *f = fopen(path, "r+b");
    unsigned char w[4];
    CHECK(f && fseek(f, (long)off, SEEK_SET) == 0 && fread(w, 1, 4, f) == 4);
    /* lowest field all ones, the rest of the word a v1 writer's values */
    w[0] = (unsigned char)(w[0] | 0x0f);
    w[1] = (unsigned char)((w[1] & 0xf0) == 0xf0 ? w[1] & 0x7f : w[1]);
    CHECK(fseek(f, (long)off, SEEK_SET) == 0 && fwrite(w, 1, 4, f) == 4 && fclose(f) == 0);
    awq_repack_params p = awq_repack_default_params();
    p.to = AWQ_QFMT_AWQ_GEMM;
    awq_repack_result r;
    CHECK_FAILS(ctx, awq_repack(ctx, cp, out, &p, &r), AWQ_ERR_MISMATCH,
                "1 of 7 linears hold true zeros");
    CHECK(!awq_test_path_exists(out));
    awq_verify_result vr;
    CHECK_OK(ctx, awq_verify(ctx, cp, NULL, &vr));
    CHECK(!vr.ok);
    awq_verify_result_free(&vr);
    free(path);
    free(src);
    free(cp);
    free(out);
}

static void test_verify(awq_ctx *ctx) {
    char *fp = fix("fp16");
    awq_verify_params vp = awq_verify_default_params();
    awq_verify_result r;
    for (int f = 0; f < AWQ_QFMT_COUNT; f++) {
        char *d = fix(k_fmt_dirs[f]);
        vp.against = NULL;
        CHECK_OK(ctx, awq_verify(ctx, d, &vp, &r));
        CHECK_MSG(r.ok, "%s: %s", k_fmt_dirs[f], r.n_problems ? r.problems[0] : "");
        CHECK_EQ_INT(r.n_linears, N_LIN);
        awq_verify_result_free(&r);
        vp.against = fp;
        CHECK_OK(ctx, awq_verify(ctx, d, &vp, &r));
        CHECK_MSG(r.ok, "%s: %s", k_fmt_dirs[f], r.n_problems ? r.problems[0] : "");
        CHECK(r.params_equal && r.logical_params == r.against_logical_params);
        CHECK(r.logical_params > 0);
        CHECK_NEAR(r.bound, awq_verify_default_bound(4, 32), 1e-12);
        for (int64_t l = 0; l < r.n_linears; l++) {
            /* real 4-bit error: not zero, well within the bound; without AWQ
             * scaling the rescaled error is no larger */
            CHECK(r.linears[l].rel_err > 0.01 && r.linears[l].rel_err < 0.2);
            CHECK(r.linears[l].rel_err_scaled <= r.linears[l].rel_err * 1.1);
        }
        awq_verify_result_free(&r);
        free(d);
    }
    CHECK_NEAR(awq_verify_default_bound(4, 128), 0.36, 0.01);

    /* swapped weights of two same-shaped linears: error ~1.4 */
    char *gemm = fix("awq-gemm"), *sw = tmp("swapped"), *nan = tmp("nan-scale");
    awq_checkpoint *ck = NULL;
    CHECK_OK(ctx, awq_checkpoint_open(ctx, gemm, &ck));
    const awq_tensor_info *o = awq_checkpoint_find(ck, "model.layers.0.self_attn.o_proj.qweight");
    variant v = {0};
    v.repl_name = "model.layers.0.self_attn.q_proj.qweight";
    v.repl_data = o->data;
    make_variant(ctx, gemm, sw, &v);
    vp.against = fp;
    CHECK_OK(ctx, awq_verify(ctx, sw, &vp, &r));
    CHECK(!r.ok);
    CHECK_EQ_INT(r.n_failed_linears, 1);
    CHECK(r.n_problems > 0 && strstr(r.problems[0], "q_proj: relative error") != NULL);
    awq_verify_result_free(&r);
    /* a NaN scale */
    const awq_tensor_info *sc = awq_checkpoint_find(ck, "model.layers.0.mlp.gate_proj.scales");
    uint16_t *bad = malloc((size_t)sc->n_bytes);
    memcpy(bad, sc->data, (size_t)sc->n_bytes);
    bad[3] = 0x7e00;
    variant v2 = {0};
    v2.repl_name = "model.layers.0.mlp.gate_proj.scales";
    v2.repl_data = bad;
    make_variant(ctx, gemm, nan, &v2);
    vp.against = NULL;
    CHECK_OK(ctx, awq_verify(ctx, nan, &vp, &r));
    CHECK(!r.ok);
    CHECK(r.n_problems > 0 && strstr(r.problems[0], "gate_proj: scale nan") != NULL);
    awq_verify_result_free(&r);
    free(bad);
    awq_checkpoint_free(ck);
    /* missing scales: a finding, not a failure to run */
    char *nos = tmp("no-scales");
    CHECK_OK(ctx, awq_verify(ctx, nos, &vp, &r));
    CHECK(!r.ok);
    awq_verify_result_free(&r);
    /* a dense checkpoint is not a packed one */
    CHECK_OK(ctx, awq_verify(ctx, fp, &vp, &r));
    CHECK(!r.ok && strstr(r.problems[0], "no quantization_config") != NULL);
    awq_verify_result_free(&r);
    free(nos);
    free(gemm);
    free(sw);
    free(nan);
    free(fp);
}

int main(void) {
    g_tmp = awq_test_tmpdir("repack");
    awq_ctx *ctx = awq_test_ctx(2);
    test_decode_fixtures(ctx);
    test_all_pairs(ctx);
    test_sharding(ctx);
    test_refusals(ctx);
    test_zero0(ctx);
    test_act_order(ctx);
    test_mislabelled(ctx);
    test_corrupted_nibble(ctx);
    test_verify(ctx);
    awq_ctx_free(ctx);
    free(g_tmp);
    return awq_test_summary();
}
