/*
 * lib/quant/layer_saver.c — each finished layer written to its layer
 * directory on a thread of its own, while the next layer is searched.
 *
 * Why: writing a layer durably (the packed tensors, search.json, fsync) is
 * I/O the search does not need to wait for; on the first GPU runs the
 * write phase (the final assembly included) was 2.4 of 13.5 s for three
 * 7B layers. Only with a device backend: on the
 * CPU the search needs every core, the write is a small part of a layer's
 * time, and the extra layer of outputs held would raise the peak RSS; there
 * the layer is written before awq_qz_saver_start returns. The replay of the layer reads its
 * output tensors from memory meanwhile (quantize_replay.c), and everything
 * that reads layer files (the assembly, the next run's --resume) comes
 * after awq_qz_saver_wait.
 *
 * The thread has its own awq_ctx (one thread per ctx: awqkit/core.h; no log
 * or progress callback, one worker), and its error is copied into the job's
 * ctx when the main thread waits for it. It blocks every signal, so that
 * SIGINT / SIGTERM reach the main thread's handlers and never interrupt a
 * write(2) of the layer file. Only one layer is in flight: starting the
 * next waits for the previous, so at most one extra layer of packed output
 * is held in memory.
 */
#include "quant/layer_saver.h"

#include "awqkit/checkpoint.h"
#include "core/core.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* Write a layer's outputs (and its search record) as a one-shard
 * checkpoint in its layer directory: durable once this returns. */
static awq_status save_layer(awq_ctx *ctx, const awq_quantize_job *job, int64_t layer,
                             const awq_qz_out_list *outl, const cJSON *search) {
    char *dir = awq_qz_layer_dir(job, layer);
    if (!dir) return awq_fail_nomem(ctx, "path", 64);
    if (awq_path_exists(dir)) awq_qz_rm_tree(dir); /* a torn earlier attempt */
    awq_writer_params wp = awq_writer_default_params();
    wp.max_shard_bytes = UINT64_MAX;
    wp.force = true;
    awq_writer *w = NULL;
    awq_status st = awq_writer_create(ctx, dir, &wp, &w);
    for (size_t i = 0; i < outl->n && st == AWQ_OK; i++)
        st = awq_writer_declare(w, outl->t[i].name, outl->t[i].dtype, outl->t[i].ndim,
                                outl->t[i].shape);
    for (size_t i = 0; i < outl->n && st == AWQ_OK; i++)
        st = awq_writer_write(w, outl->t[i].name, outl->t[i].data, outl->t[i].n_bytes);
    if (st == AWQ_OK) {
        char *js = cJSON_PrintUnformatted(search);
        if (!js) st = awq_fail_nomem(ctx, "search.json", 0);
        else st = awq_writer_add_file(w, "search.json", js, strlen(js));
        cJSON_free(js);
    }
    if (st == AWQ_OK) st = awq_writer_finish(w);
    awq_writer_free(w);
    free(dir);
    return st == AWQ_OK ? st : awq_fail_wrap(ctx, st, "saving layer %lld", (long long)layer);
}

static void *saver_main(void *arg) {
    awq_qz_saver *s = arg;
    s->st = save_layer(s->wctx, s->job, s->layer, &s->outl, s->sj);
    return NULL;
}

static void saver_release(awq_qz_saver *s) {
    awq_qz_out_list_free(&s->outl);
    cJSON_Delete(s->sj);
    s->sj = NULL;
}

awq_status awq_qz_saver_wait(awq_qz_saver *s, bool report) {
    awq_status st = AWQ_OK;
    if (s->running) {
        pthread_join(s->th, NULL);
        s->running = false;
        st = s->st;
        if (st != AWQ_OK && report)
            awq_fail(s->job->ctx, st, "%s", awq_ctx_errmsg(s->wctx));
    }
    saver_release(s);
    return st;
}

awq_status awq_qz_saver_start(awq_qz_saver *s, awq_quantize_job *job, int64_t layer,
                              awq_qz_out_list *outl, cJSON *sj, bool background) {
    awq_status st = awq_qz_saver_wait(s, true);
    s->job = job;
    s->layer = layer;
    s->outl = *outl;
    s->sj = sj;
    memset(outl, 0, sizeof *outl);
    if (st != AWQ_OK) {
        saver_release(s);
        return st;
    }
    if (background && !s->wctx) {
        awq_ctx_params cp = awq_ctx_default_params();
        cp.n_threads = 1;
        if (awq_ctx_create(&cp, &s->wctx) != AWQ_OK) s->wctx = NULL;
    }
    if (background && s->wctx) {
        /* the thread starts with every signal blocked (it inherits this
         * thread's mask, restored at once) */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        s->running = pthread_create(&s->th, NULL, saver_main, s) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (s->running) return AWQ_OK;
    }
    /* here (no thread wanted, or none could start); the outputs stay for
     * the replay until awq_qz_saver_settle */
    st = save_layer(job->ctx, job, layer, &s->outl, s->sj);
    if (st != AWQ_OK) saver_release(s);
    return st;
}

void awq_qz_saver_settle(awq_qz_saver *s) {
    if (!s->running) saver_release(s);
}

void awq_qz_saver_free(awq_qz_saver *s) {
    (void)awq_qz_saver_wait(s, false);
    awq_ctx_free(s->wctx);
    s->wctx = NULL;
}
