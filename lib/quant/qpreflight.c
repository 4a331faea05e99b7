/* lib/quant/qpreflight.c — what `awqkit quantize` checks before it writes
 * anything or computes the first layer (quant/quantize_job.h): a mistake
 * that can be seen now must not cost the whole search and then leave a
 * half-written directory behind. Also the check of OUT's state under the
 * writer lock. */
#include "quant/quantize_job.h"

#include "awqkit/quant.h"
#include "io/publish.h"
#include "model/forward.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------- paths */

/* Absolute, symlink-free form of `p`, which need not exist: its deepest
 * existing ancestor through realpath(3), the rest appended lexically
 * ("." dropped, ".." taking one component back). False when it cannot be
 * resolved (an ancestor that exists but cannot be read). */
static bool resolve(const char *p, char *out, size_t cap) {
    char abs[PATH_MAX * 2];
    if (p[0] == '/') {
        snprintf(abs, sizeof abs, "%s", p);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return false;
        snprintf(abs, sizeof abs, "%s/%s", cwd, p);
    }
    char res[PATH_MAX * 2] = "";
    size_t rl = 0;
    bool existing = true; /* res is a real, existing path so far */
    for (char *save = NULL, *c = strtok_r(abs, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        if (!strcmp(c, "..")) {
            char *sl = strrchr(res, '/');
            if (sl) *sl = 0;
            rl = strlen(res);
            continue;
        }
        if (rl + strlen(c) + 2 >= sizeof res) return false;
        res[rl++] = '/';
        snprintf(res + rl, sizeof res - rl, "%s", c);
        rl = strlen(res);
        if (existing) {
            char real[PATH_MAX];
            if (realpath(res, real)) {
                snprintf(res, sizeof res, "%s", strcmp(real, "/") ? real : "");
                rl = strlen(res);
            } else if (errno == ENOENT) {
                existing = false;
            } else {
                return false;
            }
        }
    }
    if (!res[0]) snprintf(res, sizeof res, "/");
    if (strlen(res) >= cap) return false;
    snprintf(out, cap, "%s", res);
    return true;
}

static bool inside_or_equal(const char *inner, const char *outer) {
    size_t n = strlen(outer);
    if (!strcmp(outer, "/")) return true;
    return !strcmp(inner, outer) || (!strncmp(inner, outer, n) && inner[n] == '/');
}

/* The deepest existing ancestor of p (p itself when it exists). */
static void existing_ancestor(const char *p, char *out, size_t cap) {
    char *cur = awq_strdup(p);
    while (cur && !awq_path_exists(cur)) {
        char *up = awq_path_dirname(cur);
        if (!up || !strcmp(up, cur)) {
            free(up);
            break;
        }
        free(cur);
        cur = up;
    }
    snprintf(out, cap, "%s", cur ? cur : ".");
    free(cur);
}

static awq_status check_output_path(awq_quantize_job *job) {
    awq_ctx *ctx = job->ctx;
    const char *out = job->out_dir;
    char rin[PATH_MAX], rout[PATH_MAX];
    const char *in_dir = awq_checkpoint_dir(job->ck);
    if (resolve(in_dir, rin, sizeof rin) && resolve(out, rout, sizeof rout) &&
        inside_or_equal(rout, rin))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "output %s is the input model directory %s or inside it: writing there "
                        "would mix the quantized checkpoint with its source; choose a "
                        "directory outside %s",
                        out, in_dir, in_dir);
    struct stat st;
    if (stat(out, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return awq_fail(ctx, AWQ_ERR_EXISTS, "output %s exists and is not a directory", out);
        if (access(out, W_OK | X_OK) != 0)
            return awq_fail(ctx, AWQ_ERR_IO, "output directory %s is not writable: %s", out,
                            strerror(errno));
        return AWQ_OK;
    }
    if (errno != ENOENT)
        return awq_fail(ctx, AWQ_ERR_IO, "cannot use output %s: %s", out, strerror(errno));
    char anc[PATH_MAX];
    existing_ancestor(out, anc, sizeof anc);
    if (!awq_path_is_dir(anc))
        return awq_fail(ctx, AWQ_ERR_IO, "cannot create output directory %s: %s is not a "
                        "directory", out, anc);
    if (access(anc, W_OK | X_OK) != 0)
        return awq_fail(ctx, AWQ_ERR_IO, "cannot create output directory %s: %s is not "
                        "writable (%s)", out, anc, strerror(errno));
    return AWQ_OK;
}

/* --dump-scales: written at the very end, so a bad path must be seen now. */
static awq_status check_dump_path(awq_quantize_job *job) {
    awq_ctx *ctx = job->ctx;
    const char *d = job->s_dump;
    if (!d) return AWQ_OK;
    if (!d[0])
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "--dump-scales: empty file name");
    struct stat st;
    if (stat(d, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "--dump-scales %s is a directory; give a file name", d);
    } else if (errno != ENOENT) {
        return awq_fail(ctx, AWQ_ERR_IO, "--dump-scales %s: %s", d, strerror(errno));
    }
    char *dir = awq_path_dirname(d);
    if (!dir) return awq_fail_nomem(ctx, "path", 0);
    awq_status s = AWQ_OK;
    char rd[PATH_MAX], ro[PATH_MAX];
    bool into_out = resolve(dir, rd, sizeof rd) && resolve(job->out_dir, ro, sizeof ro) &&
                    !strcmp(rd, ro);
    if (into_out) {
        /* beside the checkpoint: OUT is created (and checked) with the lock */
    } else if (!awq_path_is_dir(dir))
        s = awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                     "--dump-scales %s: directory %s does not exist (create it first)", d, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        s = awq_fail(ctx, AWQ_ERR_IO, "--dump-scales %s: cannot write in %s: %s", d, dir,
                     strerror(errno));
    free(dir);
    return s;
}

/* ---------------------------------------------------------- packability */

/* How many of the decoder's linears pack with these options. */
static int n_pack(const awq_quantize_job *job, awq_qformat f, int bits, int g) {
    const awq_arch *a = job->cfg.arch;
    int n = 0;
    for (int i = 0; i < a->n_linears; i++) {
        int64_t K = awq_model_dim(&job->cfg, a->linears[i].in_dim);
        int64_t N = awq_model_dim(&job->cfg, a->linears[i].out_dim);
        n += awq_linear_packable(f, K, N, bits, g, NULL);
    }
    return n;
}

/* Append to b the single-option changes that pack `want` linears or more
 * (want = all: every linear; 1: some). */
static void alternatives(const awq_quantize_job *job, int want, awq_strbuf *b) {
    const awq_quant_params *q = &job->p.quant;
    static const int groups[] = {32, 64, 128, -1};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(groups); i++)
        if (groups[i] != q->group_size && n_pack(job, job->p.format, q->bits, groups[i]) >= want)
            awq_sb_printf(b, "%s--group-size %d", b->len ? ", " : "", groups[i]);
    static const int bits[] = {4, 8, 3, 2};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(bits); i++)
        if (bits[i] != q->bits && n_pack(job, job->p.format, bits[i], q->group_size) >= want)
            awq_sb_printf(b, "%s--bits %d", b->len ? ", " : "", bits[i]);
    for (int f = 0; f < AWQ_QFMT_COUNT; f++)
        if (f != (int)job->p.format && n_pack(job, (awq_qformat)f, q->bits, q->group_size) >= want)
            awq_sb_printf(b, "%s--format %s", b->len ? ", " : "",
                          awq_format_get((awq_qformat)f)->name);
}

/* A format / bit width / group size that can pack none of the decoder's
 * linears would write an FP16 model labelled as quantized: refuse, and say
 * which single change would pack every linear. Some linears unpackable is
 * fine (they stay in the source dtype with a warning, as documented). */
static awq_status check_packable(awq_quantize_job *job) {
    const awq_arch *a = job->cfg.arch;
    const awq_quant_params *q = &job->p.quant;
    const char *why = NULL;
    int64_t K0 = 0, N0 = 0;
    for (int i = 0; i < a->n_linears; i++) {
        int64_t K = awq_model_dim(&job->cfg, a->linears[i].in_dim);
        int64_t N = awq_model_dim(&job->cfg, a->linears[i].out_dim);
        const char *w = NULL;
        if (awq_linear_packable(job->p.format, K, N, q->bits, q->group_size, &w)) return AWQ_OK;
        if (!why) {
            why = w;
            K0 = K;
            N0 = N;
        }
    }
    awq_strbuf alt;
    awq_sb_init(&alt);
    const char *lead = "any one of these would pack every linear: ";
    alternatives(job, a->n_linears, &alt);
    if (!alt.len) {
        lead = "any one of these would pack some of them (the rest would stay unquantized): ";
        alternatives(job, 1, &alt);
    }
    awq_status s = awq_fail(
        job->ctx, AWQ_ERR_INVALID_ARG,
        "--format %s --bits %d --group-size %d cannot pack any decoder linear of %s (the first, "
        "[%lld x %lld]: %s), so the output would not be quantized at all; %s%s",
        awq_format_get(job->p.format)->name, q->bits, q->group_size, job->model_path,
        (long long)N0, (long long)K0, why ? why : "?",
        alt.len ? lead : "no single change of format, bits or group size packs any of them",
        alt.len ? alt.s : "");
    awq_sb_free(&alt);
    return s;
}

/* ------------------------------------------------------- tensor coverage */

/* The output replaces each decoder linear's weight and bias by what the
 * quantized layer holds. A bias tensor the model does not use (an
 * architecture without one, as transformers ignores it) would silently
 * vanish and the output would hold fewer parameters than the source:
 * refuse it now rather than failing the final count. */
static awq_status check_coverage(awq_quantize_job *job) {
    const awq_arch *a = job->cfg.arch;
    size_t nt = awq_checkpoint_n_tensors(job->ck);
    const char *first = NULL;
    int first_lin = -1;
    size_t n_bad = 0;
    for (size_t i = 0; i < nt; i++) {
        const char *name = awq_checkpoint_tensor(job->ck, i)->name;
        int64_t layer;
        if (!awq_qz_is_replaced(job, name, &layer)) continue;
        size_t ln = strlen(name);
        if (ln < 5 || strcmp(name + ln - 5, ".bias") != 0) continue;
        for (int lin = 0; lin < a->n_linears; lin++) {
            char want[320];
            snprintf(want, sizeof want, "%slayers.%lld.%s.bias", job->prefix, (long long)layer,
                     a->linears[lin].name);
            if (strcmp(want, name) != 0 || awq_model_linear_has_bias(job->m, lin)) continue;
            if (!first) {
                first = name;
                first_lin = lin;
            }
            n_bad++;
        }
    }
    if (!n_bad) return AWQ_OK;
    return awq_fail(job->ctx, AWQ_ERR_MISMATCH,
                    "%s: tensor '%s'%s is not part of the model: %s has no bias on %s "
                    "(transformers ignores it too), so the quantized checkpoint could not hold "
                    "it and would not match the source; remove the unused bias tensors, or set "
                    "the config flag that enables them (attention_bias / mlp_bias) if the "
                    "model really uses them",
                    job->model_path, first, n_bad > 1 ? " (and others like it)" : "",
                    job->cfg.architecture, a->linears[first_lin].name);
}

/* An FP8 block source (lib/io/fp8src.c): the output drops the FP8
 * quantization_config, so an FP8 weight outside the decoder linears (which
 * would be copied as stored) could not be read back: refuse it. */
static awq_status check_fp8_covered(awq_quantize_job *job) {
    if (!awq_checkpoint_is_fp8_source(job->ck)) return AWQ_OK;
    size_t nt = awq_checkpoint_n_tensors(job->ck);
    for (size_t i = 0; i < nt; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(job->ck, i);
        int64_t layer;
        if (t->scale_inv && !awq_qz_is_replaced(job, t->name, &layer))
            return awq_fail(job->ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: tensor '%s' is an FP8 weight outside the decoder's linears "
                            "(%s): quantize writes those as stored, and without the source's "
                            "FP8 quantization_config nothing could read it back",
                            job->model_path, t->name, job->cfg.architecture);
    }
    return AWQ_OK;
}

awq_status awq_qz_preflight(awq_quantize_job *job) {
    awq_ctx *ctx = job->ctx;
    if (job->s_load && job->p.method == AWQ_METHOD_RTN)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "--load-scales applies searched AWQ scales, which --method rtn never "
                        "uses: drop one of the two");
    AWQ_TRY(check_output_path(job));
    AWQ_TRY(check_dump_path(job));
    AWQ_TRY(check_packable(job));
    AWQ_TRY(check_coverage(job));
    AWQ_TRY(check_fp8_covered(job));
    return AWQ_OK;
}

/* ------------------------------------------------------------ OUT state */

static bool name_listed(const cJSON *names, const char *n) {
    const cJSON *e;
    cJSON_ArrayForEach(e, names) {
        if (cJSON_IsString(e) && !strcmp(e->valuestring, n)) return true;
    }
    return false;
}

/* Is OUT/name the --dump-scales file? */
static bool is_dump(const awq_quantize_job *job, const char *name) {
    if (!job->s_dump) return false;
    char *p = awq_path_join(job->out_dir, name);
    char a[PATH_MAX], b[PATH_MAX];
    bool same = p && resolve(p, a, sizeof a) && resolve(job->s_dump, b, sizeof b) && !strcmp(a, b);
    free(p);
    return same;
}

awq_status awq_qz_check_out_dir(awq_quantize_job *job) {
    awq_ctx *ctx = job->ctx;
    if (job->p.force) return AWQ_OK;
    bool has_partial = awq_path_is_dir(job->partial_dir);
    int64_t done = has_partial ? awq_qz_finished_layers(job) : 0;
    cJSON *journal = job->p.resume && done > 0 ? awq_publish_journal_names(ctx, job->journal)
                                               : NULL;
    DIR *d = opendir(job->out_dir);
    if (!d)
        return awq_fail(ctx, AWQ_ERR_IO, "cannot list %s: %s", job->out_dir, strerror(errno));
    char other[256] = "";
    bool progress = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, AWQ_OUT_LOCK_FILE)) continue;
        if (!strcmp(n, AWQ_QZ_PARTIAL_DIR)) {
            /* no finished layer: nothing worth keeping, the run clears it */
            if (done > 0 && !job->p.resume) progress = true;
            continue;
        }
        /* an interrupted publish: these files are the run's own (and so is
         * a --dump-scales file written beside them just before) */
        if (job->p.resume && done > 0 &&
            (!strcmp(n, AWQ_INCOMPLETE_MARKER) || name_listed(journal, n) || is_dump(job, n)))
            continue;
        if (!other[0]) snprintf(other, sizeof other, "%s", n);
    }
    closedir(d);
    cJSON_Delete(journal);
    if (other[0])
        return awq_fail(ctx, AWQ_ERR_EXISTS,
                        "output directory %s is not empty (it holds %s); use --force to "
                        "overwrite it%s",
                        job->out_dir, other,
                        done > 0 && !job->p.resume ? ", or --resume to continue" : "");
    if (progress)
        return awq_fail(ctx, AWQ_ERR_EXISTS,
                        "output directory %s holds an interrupted run (%lld of %lld layers "
                        "done): add --resume to continue it, or --force to start over",
                        job->out_dir, (long long)done, (long long)job->cfg.n_layers);
    return AWQ_OK;
}
