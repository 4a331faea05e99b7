/*
 * lib/quant/layer_saver.h — finished layers written on a thread of their
 * own while the next layer is searched (layer_saver.c).
 */
#ifndef AWQ_LIB_QUANT_LAYER_SAVER_H
#define AWQ_LIB_QUANT_LAYER_SAVER_H

#include "quant/quantize_job.h"

#include <pthread.h>
#include <stdbool.h>

struct cJSON;

/* Zero-initialise; awq_qz_saver_free when done. */
typedef struct awq_qz_saver {
    awq_quantize_job *job;
    awq_ctx *wctx;             /* the thread's own context */
    pthread_t th;
    bool running;
    int64_t layer;
    awq_qz_out_list outl;      /* the layer in flight (owned; read only
                                  meanwhile, e.g. by its replay) */
    struct cJSON *sj;          /* its search.json (owned) */
    awq_status st;
} awq_qz_saver;

/* Wait for the layer in flight, then write `layer` (its outputs and
 * search record, both taken over: *outl is left empty, sj is freed by the
 * saver): in the background when `background`, else (or when no thread
 * can be started) before this returns. s->outl holds the outputs (read
 * only) until awq_qz_saver_settle or the next start. An error of the
 * previous layer's write is returned (and set on job->ctx) and nothing
 * more is started. */
awq_status awq_qz_saver_start(awq_qz_saver *s, awq_quantize_job *job, int64_t layer,
                              awq_qz_out_list *outl, struct cJSON *sj, bool background);
/* Release the outputs of a layer already written (not one in flight). */
void awq_qz_saver_settle(awq_qz_saver *s);
/* Wait for the layer in flight (durable once this returns AWQ_OK) and
 * release its outputs. report: copy its error onto the job's ctx. */
awq_status awq_qz_saver_wait(awq_qz_saver *s, bool report);
/* Wait (errors dropped) and free the thread's context. */
void awq_qz_saver_free(awq_qz_saver *s);

#endif
