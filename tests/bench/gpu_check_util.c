/* tests/bench/gpu_check_util.c — the measurements of tests/bench/gpu_check.sh
 * that a shell cannot make by itself (no Python on the GPU machine's path is
 * assumed). Each subcommand prints one JSON object on stdout:
 *
 *   awq_gpu_check_util ratios A.json B.json
 *       Compare two `awqkit quantize --dump-scales` files group by group:
 *       chosen ratio and duo flag, the searched scale vectors, the clip
 *       maxima. Groups whose ratios differ are listed with both devices'
 *       best losses, so a near-tie (float summation order) can be told from
 *       a real divergence.
 *   awq_gpu_check_util weights DIR_A DIR_B
 *       Dequantize every packed linear of two quantized checkpoints and
 *       measure |a - b| in quantization steps of its group (the larger of
 *       the two fp16 scales); compare the float tensors (norms with folded
 *       scales, embeddings, lm_head) by relative difference.
 *   awq_gpu_check_util rss OUT.json -- CMD [ARGS...]
 *       Run CMD, wait for it with wait4() and write its peak resident set
 *       (ru_maxrss, which covers the waited-for descendants too, as
 *       /usr/bin/time -v reports it), wall seconds and exit status to
 *       OUT.json; exit with CMD's status (128 + signal when killed).
 *
 * Exit: 0 when the comparison was made (its verdict is the "ok" field), 1
 * when an input cannot be read, 2 on bad usage.
 */
#include "awqkit/checkpoint.h"
#include "awqkit/core.h"
#include "awqkit/quant.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A weight within one quantization step of the other device's: the step
 * itself plus fp32 rounding of the dequantization. */
#define STEP_SLACK 1e-4
/* Two devices' best losses this close (relative) are a tie in float noise. */
#define TIE_REL 1e-3
#define MAX_LISTED 8

static int fail(const char *what, const char *a, const char *b) {
    fprintf(stderr, "awq_gpu_check_util: %s%s%s%s%s\n", what, a[0] ? " " : "", a,
            b[0] ? " " : "", b);
    return 1;
}

static cJSON *load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    cJSON *j = b ? cJSON_ParseWithLength(b, len) : NULL;
    free(b);
    return j;
}

static void print_json(cJSON *j) {
    char *s = cJSON_Print(j);
    if (s) printf("%s\n", s);
    cJSON_free(s);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double rel_diff(double a, double b) {
    double m = fmax(fabs(a), fabs(b));
    return m > 0 ? fabs(a - b) / m : 0.0;
}

/* Largest relative difference of two float arrays (NAN: lengths differ). */
static double arr_rel_diff(const cJSON *a, const cJSON *b) {
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b)) return (a || b) ? NAN : 0.0;
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return NAN;
    double m = 0;
    for (const cJSON *x = a->child, *y = b->child; x && y; x = x->next, y = y->next)
        m = fmax(m, rel_diff(x->valuedouble, y->valuedouble));
    return m;
}

static int cmd_ratios(const char *pa, const char *pb) {
    cJSON *a = load_json(pa), *b = load_json(pb);
    if (!a || !b) {
        cJSON_Delete(a);
        cJSON_Delete(b);
        return fail("cannot read as JSON:", pa, pb);
    }
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(a, "layers");
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(b, "layers");
    cJSON *out = cJSON_CreateObject();
    cJSON *listed = cJSON_CreateArray();
    long groups = 0, equal = 0, differ = 0, ties = 0, clips = 0, clips_differ = 0;
    double max_ratio_diff = 0, scales_rel = 0, clips_rel = 0;
    bool shape_ok = cJSON_IsArray(la) && cJSON_IsArray(lb) &&
                    cJSON_GetArraySize(la) == cJSON_GetArraySize(lb);
    for (const cJSON *x = shape_ok ? la->child : NULL, *y = shape_ok ? lb->child : NULL; x && y;
         x = x->next, y = y->next) {
        const cJSON *ga = cJSON_GetObjectItemCaseSensitive(x, "groups");
        const cJSON *gb = cJSON_GetObjectItemCaseSensitive(y, "groups");
        if (cJSON_GetArraySize(ga) != cJSON_GetArraySize(gb)) shape_ok = false;
        for (const cJSON *g = ga ? ga->child : NULL, *h = gb ? gb->child : NULL; g && h;
             g = g->next, h = h->next) {
            if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "searched"))) continue;
            groups++;
            double ra = num(g, "ratio"), rb = num(h, "ratio");
            bool same = ra == rb && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "duo")) ==
                                        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "duo"));
            max_ratio_diff = fmax(max_ratio_diff, fabs(ra - rb));
            if (same) {
                equal++;
                double d = arr_rel_diff(cJSON_GetObjectItemCaseSensitive(g, "scales"),
                                        cJSON_GetObjectItemCaseSensitive(h, "scales"));
                scales_rel = isnan(d) || isnan(scales_rel) ? NAN : fmax(scales_rel, d);
                continue;
            }
            differ++;
            double lsa = num(g, "loss_best"), lsb = num(h, "loss_best");
            bool tie = rel_diff(lsa, lsb) <= TIE_REL;
            ties += tie;
            if (cJSON_GetArraySize(listed) < MAX_LISTED) {
                cJSON *d = cJSON_CreateObject();
                cJSON_AddNumberToObject(d, "layer", num(x, "layer"));
                cJSON_AddStringToObject(d, "group", str(g, "name"));
                cJSON_AddNumberToObject(d, "ratio_a", ra);
                cJSON_AddNumberToObject(d, "ratio_b", rb);
                cJSON_AddNumberToObject(d, "loss_a", lsa);
                cJSON_AddNumberToObject(d, "loss_b", lsb);
                cJSON_AddBoolToObject(d, "near_tie", tie);
                cJSON_AddItemToArray(listed, d);
            }
        }
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(x, "clips");
        const cJSON *cb = cJSON_GetObjectItemCaseSensitive(y, "clips");
        if (cJSON_GetArraySize(ca) != cJSON_GetArraySize(cb)) shape_ok = false;
        for (const cJSON *c = ca ? ca->child : NULL, *e = cb ? cb->child : NULL; c && e;
             c = c->next, e = e->next) {
            clips++;
            double d = arr_rel_diff(cJSON_GetObjectItemCaseSensitive(c, "max"),
                                    cJSON_GetObjectItemCaseSensitive(e, "max"));
            if (isnan(d) || d > 0) clips_differ++;
            clips_rel = isnan(d) || isnan(clips_rel) ? NAN : fmax(clips_rel, d);
        }
    }
    cJSON_AddBoolToObject(out, "same_shape", shape_ok);
    cJSON_AddNumberToObject(out, "groups", (double)groups);
    cJSON_AddNumberToObject(out, "equal", (double)equal);
    cJSON_AddNumberToObject(out, "differ", (double)differ);
    cJSON_AddNumberToObject(out, "differ_near_tie", (double)ties);
    cJSON_AddNumberToObject(out, "max_abs_ratio_diff", max_ratio_diff);
    /* NaN is not JSON: a length mismatch is reported as -1 */
    cJSON_AddNumberToObject(out, "scales_max_rel_diff", isnan(scales_rel) ? -1 : scales_rel);
    cJSON_AddNumberToObject(out, "clips", (double)clips);
    cJSON_AddNumberToObject(out, "clips_differ", (double)clips_differ);
    cJSON_AddNumberToObject(out, "clips_max_rel_diff", isnan(clips_rel) ? -1 : clips_rel);
    cJSON_AddItemToObject(out, "differences", listed);
    /* every searched group picked the same ratio, or one within float noise
     * of the other device's best */
    cJSON_AddBoolToObject(out, "ok", shape_ok && groups > 0 && differ == ties);
    print_json(out);
    cJSON_Delete(out);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return 0;
}

/* ---------------------------------------------------------------- weights */

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, f;
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return s ? -v : v;
    }
    if (e == 31) f = s | 0x7f800000u | (m << 13);
    else f = s | ((e + 112) << 23) | (m << 13);
    float v;
    memcpy(&v, &f, sizeof v);
    return v;
}

typedef struct {
    long linears, floats, over;
    double elements, max_steps, float_rel;
    char worst[512], worst_float[512];
} wstats;

static int compare_linear(awq_ctx *ctx, const awq_checkpoint *ca, const awq_qckpt *qa,
                          const awq_checkpoint *cb, const awq_qckpt *qb, const char *prefix,
                          wstats *s) {
    awq_qtensor ta, tb;
    memset(&ta, 0, sizeof ta);
    memset(&tb, 0, sizeof tb);
    float *da = NULL, *db = NULL;
    int rc = 1;
    if (awq_qlinear_read(ctx, ca, prefix, qa, &ta) != AWQ_OK ||
        awq_qlinear_read(ctx, cb, prefix, qb, &tb) != AWQ_OK) {
        fprintf(stderr, "awq_gpu_check_util: %s: %s\n", prefix, awq_ctx_errmsg(ctx));
        goto done;
    }
    if (ta.N != tb.N || ta.K != tb.K || ta.n_groups != tb.n_groups) {
        fprintf(stderr, "awq_gpu_check_util: %s: shapes differ\n", prefix);
        goto done;
    }
    da = malloc((size_t)(ta.N * ta.K) * sizeof *da);
    db = malloc((size_t)(tb.N * tb.K) * sizeof *db);
    if (!da || !db || awq_dequantize(ctx, &ta, da) != AWQ_OK ||
        awq_dequantize(ctx, &tb, db) != AWQ_OK) {
        fprintf(stderr, "awq_gpu_check_util: %s: cannot dequantize\n", prefix);
        goto done;
    }
    const int64_t gl = awq_group_len(ta.K, ta.group_size);
    for (int64_t n = 0; n < ta.N; n++)
        for (int64_t k = 0; k < ta.K; k++) {
            int64_t g = (ta.g_idx ? ta.g_idx[k] : k / gl) * ta.N + n;
            double step = fmax(half_to_float(ta.scales[g]), half_to_float(tb.scales[g]));
            double d = fabs((double)da[n * ta.K + k] - (double)db[n * ta.K + k]) / step;
            if (d > 1.0 + STEP_SLACK) s->over++;
            if (d > s->max_steps) {
                s->max_steps = d;
                snprintf(s->worst, sizeof s->worst, "%s", prefix);
            }
        }
    s->elements += (double)(ta.N * ta.K);
    s->linears++;
    rc = 0;
done:
    free(da);
    free(db);
    awq_qtensor_free(&ta);
    awq_qtensor_free(&tb);
    return rc;
}

static bool is_float(awq_dtype d) {
    return d == AWQ_DT_F16 || d == AWQ_DT_BF16 || d == AWQ_DT_F32;
}

static int compare_float(awq_ctx *ctx, const awq_tensor_info *a, const awq_tensor_info *b,
                         wstats *s) {
    if (a->n_elements != b->n_elements) {
        fprintf(stderr, "awq_gpu_check_util: %s: sizes differ\n", a->name);
        return 1;
    }
    float *x = malloc((size_t)a->n_elements * sizeof *x);
    float *y = malloc((size_t)b->n_elements * sizeof *y);
    int rc = 1;
    if (x && y && awq_tensor_to_f32(ctx, a, x) == AWQ_OK && awq_tensor_to_f32(ctx, b, y) == AWQ_OK) {
        for (uint64_t i = 0; i < a->n_elements; i++) {
            double d = rel_diff(x[i], y[i]);
            if (d > s->float_rel) {
                s->float_rel = d;
                snprintf(s->worst_float, sizeof s->worst_float, "%s", a->name);
            }
        }
        s->floats++;
        rc = 0;
    } else {
        fprintf(stderr, "awq_gpu_check_util: %s: cannot read\n", a->name);
    }
    free(x);
    free(y);
    return rc;
}

/* The fp16 scales of a packed linear are compared through its weights. */
static bool packed_part(const awq_checkpoint *ck, const char *name) {
    const char *dot = strrchr(name, '.');
    char q[600];
    if (!dot || strcmp(dot, ".scales") != 0) return false;
    snprintf(q, sizeof q, "%.*s.qweight", (int)(dot - name), name);
    return awq_checkpoint_find(ck, q) != NULL;
}

static int cmd_weights(const char *pa, const char *pb) {
    awq_ctx *ctx = NULL;
    if (awq_ctx_create(NULL, &ctx) != AWQ_OK) return fail("cannot create a context", "", "");
    awq_checkpoint *ca = NULL, *cb = NULL;
    awq_qckpt qa, qb;
    int rc = 1;
    if (awq_checkpoint_open(ctx, pa, &ca) != AWQ_OK ||
        awq_qckpt_detect(ctx, ca, AWQ_ZEROS_AUTO, &qa) != AWQ_OK ||
        awq_checkpoint_open(ctx, pb, &cb) != AWQ_OK ||
        awq_qckpt_detect(ctx, cb, AWQ_ZEROS_AUTO, &qb) != AWQ_OK) {
        fprintf(stderr, "awq_gpu_check_util: %s\n", awq_ctx_errmsg(ctx));
        goto done;
    }
    wstats s;
    memset(&s, 0, sizeof s);
    long missing = 0;
    rc = 0;
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ca) && rc == 0; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ca, i);
        const size_t nl = strlen(t->name);
        const char *suffix = ".qweight";
        if (nl > strlen(suffix) && strcmp(t->name + nl - strlen(suffix), suffix) == 0) {
            char prefix[512];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(nl - strlen(suffix)), t->name);
            rc = compare_linear(ctx, ca, &qa, cb, &qb, prefix, &s);
        } else if (is_float(t->dtype) && !packed_part(ca, t->name)) {
            const awq_tensor_info *u = awq_checkpoint_find(cb, t->name);
            if (!u) missing++;
            else rc = compare_float(ctx, t, u, &s);
        }
    }
    if (awq_checkpoint_n_tensors(ca) != awq_checkpoint_n_tensors(cb)) missing++;
    if (rc == 0) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "linears", (double)s.linears);
        cJSON_AddNumberToObject(out, "elements", s.elements);
        cJSON_AddNumberToObject(out, "max_steps", s.max_steps);
        cJSON_AddNumberToObject(out, "over_one_step", (double)s.over);
        cJSON_AddNumberToObject(out, "over_one_step_fraction",
                                s.elements > 0 ? (double)s.over / s.elements : 0.0);
        cJSON_AddStringToObject(out, "worst_linear", s.worst);
        cJSON_AddNumberToObject(out, "float_tensors", (double)s.floats);
        cJSON_AddNumberToObject(out, "float_max_rel_diff", s.float_rel);
        cJSON_AddStringToObject(out, "worst_float_tensor", s.worst_float);
        cJSON_AddNumberToObject(out, "tensor_set_mismatches", (double)missing);
        cJSON_AddBoolToObject(out, "ok", s.linears > 0 && s.over == 0 && missing == 0);
        print_json(out);
        cJSON_Delete(out);
    }
done:
    awq_checkpoint_free(ca);
    awq_checkpoint_free(cb);
    awq_ctx_free(ctx);
    return rc;
}

/* -------------------------------------------------------------------- rss */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmd_rss(const char *out_path, char **argv) {
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) return fail("fork failed", "", "");
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "awq_gpu_check_util: cannot run %s\n", argv[0]);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
    }
    double wall = now_s() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(out_path, "w");
    if (!f) return fail("cannot write", out_path, "");
    fprintf(f,
            "{\"max_rss_kb\": %ld, \"wall_seconds\": %.3f, \"user_seconds\": %.3f, "
            "\"sys_seconds\": %.3f, \"exit\": %d}\n",
            ru.ru_maxrss, wall, (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec,
            (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec, code);
    fclose(f);
    return code;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "ratios") == 0) return cmd_ratios(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "weights") == 0) return cmd_weights(argv[2], argv[3]);
    if (argc >= 5 && strcmp(argv[1], "rss") == 0 && strcmp(argv[3], "--") == 0)
        return cmd_rss(argv[2], argv + 4);
    fprintf(stderr, "usage: awq_gpu_check_util ratios A.json B.json\n"
                    "       awq_gpu_check_util weights DIR_A DIR_B\n"
                    "       awq_gpu_check_util rss OUT.json -- CMD [ARGS...]\n");
    return 2;
}
