/* tests/fault/quantize_verify.c — a run whose final verification fails
 * leaves no checkpoint that looks finished (library level):
 *  - the assembled checkpoint is corrupted (a NaN in a kept tensor) in its
 *    staging directory just before verification: the run fails naming the
 *    problem, OUT holds no weights and no config.json, awq_verify refuses
 *    OUT, the finished layers stay, and --resume then gives the bytes of an
 *    uninterrupted run;
 *  - two jobs of one process into one OUT: the second is refused (the lock
 *    is per open file, not per process), and succeeds once the first is
 *    freed;
 *  - a prepared job freed without running leaves nothing behind. */
#include "awq_test.h"

#include "awqkit/synth.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

typedef struct {
    const char *staging;
    bool done;
} corrupt_state;

/* Progress callback: at the first "verify" report, put a NaN into the
 * assembled model.norm.weight. */
static bool corrupt_at_verify(void *u, const char *phase, uint64_t done, uint64_t total) {
    (void)done;
    (void)total;
    corrupt_state *cs = u;
    if (cs->done || strcmp(phase, "verify") != 0) return true;
    cs->done = true;
    awq_ctx *c = awq_test_ctx(1);
    awq_checkpoint *ck = NULL;
    if (awq_checkpoint_open(c, cs->staging, &ck) == AWQ_OK) {
        const awq_tensor_info *t = awq_checkpoint_find(ck, "model.norm.weight");
        if (t) {
            char path[2048];
            snprintf(path, sizeof path, "%s", awq_checkpoint_shard_path(ck, (size_t)t->shard));
            uint64_t off = t->file_offset + 2 * 5;
            awq_checkpoint_free(ck);
            ck = NULL;
            unsigned char nan16[2] = {0x00, 0x7e};
            int fd = open(path, O_WRONLY);
            if (fd >= 0) {
                if (pwrite(fd, nan16, 2, (off_t)off) != 2) fprintf(stderr, "pwrite failed\n");
                close(fd);
            }
        }
    }
    awq_checkpoint_free(ck);
    awq_ctx_free(c);
    return true;
}

static awq_quantize_params params(const char *ids) {
    awq_quantize_params p = awq_quantize_default_params();
    p.calib_tokens = ids;
    p.calib.seqlen = 32;
    p.n_grid = 4;
    p.quant.group_size = 64;
    return p;
}

static awq_status run(awq_ctx *ctx, const char *model, const char *out,
                      const awq_quantize_params *p) {
    awq_quantize_job *job = NULL;
    awq_status s = awq_quantize_prepare(ctx, model, out, p, &job);
    if (s == AWQ_OK) s = awq_quantize_run(job, NULL);
    awq_quantize_job_free(job);
    return s;
}

static bool any_weights_or_config(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool any = false;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        any |= !strcmp(e->d_name, "config.json") ||
               (n > 12 && !strcmp(e->d_name + n - 12, ".safetensors")) ||
               strstr(e->d_name, ".index.json") != NULL;
    }
    closedir(d);
    return any;
}

static bool same_dir(const char *a, const char *b) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "diff -r '%s' '%s' >/dev/null", a, b);
    return system(cmd) == 0;
}

int main(void) {
    char *tmp = awq_test_tmpdir("quantize_fault_verify");
    char model[1024], ids[1024], ref[1024], bad[1024], staging[1200], p1[1200], lk[1024];
    snprintf(model, sizeof model, "%s/model", tmp);
    snprintf(ids, sizeof ids, "%s/ids.txt", tmp);
    snprintf(ref, sizeof ref, "%s/ref", tmp);
    snprintf(bad, sizeof bad, "%s/bad", tmp);
    snprintf(lk, sizeof lk, "%s/locked", tmp);
    snprintf(staging, sizeof staging, "%s/.awqkit-partial/final", bad);
    awq_ctx *ctx = awq_test_ctx(1);

    awq_synth_params sp = awq_synth_default_params();
    sp.arch = "llama";
    sp.hidden = 128;
    sp.intermediate = 256;
    sp.n_layers = 3;
    sp.n_heads = 4;
    sp.n_kv_heads = 2;
    sp.vocab = 512;
    sp.seed = 3;
    awq_synth_result sr;
    CHECK_OK(ctx, awq_synth_write(ctx, model, &sp, &sr));
    FILE *f = fopen(ids, "w");
    for (int i = 1; i <= 256; i++) fprintf(f, "%d ", (i * 37) % 512);
    fclose(f);

    awq_quantize_params p = params(ids);
    CHECK_OK(ctx, run(ctx, model, ref, &p));

    /* Verification fails: nothing published. */
    corrupt_state cs = {staging, false};
    awq_ctx_params cp = awq_ctx_default_params();
    cp.n_threads = 1;
    cp.progress = corrupt_at_verify;
    cp.progress_user = &cs;
    awq_ctx *cc = NULL;
    CHECK(awq_ctx_create(&cp, &cc) == AWQ_OK);
    CHECK_FAILS(cc, run(cc, model, bad, &p), AWQ_ERR_INTERNAL, "nothing was written");
    CHECK_MSG(strstr(awq_ctx_errmsg(cc), "model.norm.weight") != NULL, "message: %s",
              awq_ctx_errmsg(cc));
    CHECK(cs.done);
    CHECK_MSG(!any_weights_or_config(bad), "a failed run left weights or config.json in %s", bad);
    CHECK(!awq_test_path_exists(staging));
    snprintf(p1, sizeof p1, "%s/.awqkit-lock", bad);
    CHECK(!awq_test_path_exists(p1));
    snprintf(p1, sizeof p1, "%s/.awqkit-partial/layer-00002/model.safetensors", bad);
    CHECK_MSG(awq_test_path_exists(p1), "the finished layers must stay for --resume");
    awq_verify_params vp = awq_verify_default_params();
    awq_verify_result vr;
    awq_status vs = awq_verify(ctx, bad, &vp, &vr);
    CHECK_MSG(vs != AWQ_OK || !vr.ok, "awq_verify accepted the output of a failed run");
    awq_verify_result_free(&vr);
    awq_ctx_free(cc);

    /* The same command with resume completes it, byte for byte. */
    p.resume = true;
    CHECK_OK(ctx, run(ctx, model, bad, &p));
    CHECK_MSG(same_dir(ref, bad), "resumed output differs from the uninterrupted run");
    p.resume = false;

    /* One writer per output, within one process too. */
    awq_quantize_job *a = NULL, *b = NULL;
    CHECK_OK(ctx, awq_quantize_prepare(ctx, model, lk, &p, &a));
    CHECK_FAILS(ctx, awq_quantize_prepare(ctx, model, lk, &p, &b), AWQ_ERR_EXISTS, "locked");
    CHECK_MSG(strstr(awq_ctx_errmsg(ctx), "pid ") != NULL, "holder not named: %s",
              awq_ctx_errmsg(ctx));
    CHECK(b == NULL);
    awq_quantize_job_free(a);
    /* prepared and freed, never run: nothing left */
    CHECK_MSG(!awq_test_path_exists(lk), "prepare + free left %s behind", lk);
    CHECK_OK(ctx, awq_quantize_prepare(ctx, model, lk, &p, &b));
    CHECK_OK(ctx, awq_quantize_run(b, NULL));
    awq_quantize_job_free(b);
    CHECK_MSG(same_dir(ref, lk), "output after a refused second writer differs");

    awq_ctx_free(ctx);
    free(tmp);
    return awq_test_summary();
}
