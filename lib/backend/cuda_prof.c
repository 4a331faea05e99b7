/*
 * lib/backend/cuda_prof.c — the CUDA backend's op profile, a developer's
 * aid for finding where a GPU run spends its time without Nsight Systems
 * (absent on the project's GPU machines): see cuda_impl.h. Off unless the
 * environment variable AWQKIT_CUDA_PROFILE names a file when the backend is
 * created; costs one pointer test per op otherwise.
 */
#include "core/core.h"

#ifdef AWQ_HAVE_CUDA

#include "backend/cuda_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROF_MAX_OPS 96

typedef struct {
    const char *op;            /* a string literal of the ENTER */
    uint64_t calls;
    double seconds;
    uint64_t bytes, max_bytes; /* transfers: what awq_cuda_prof_bytes said */
} prof_row;

struct awq_cuda_prof {
    char *path;
    double t_create;
    int depth;                 /* ops in progress (nested: awq_cuda_wait) */
    uint64_t pending;          /* bytes of the op in progress */
    int n;
    prof_row rows[PROF_MAX_OPS];
};

void awq_cuda_prof_init(awq_cuda_impl *im) {
    const char *path = getenv("AWQKIT_CUDA_PROFILE");
    if (!path || !*path) return;
    struct awq_cuda_prof *p = awq_calloc(1, sizeof *p);
    if (!p) return; /* a developer's aid: no profile rather than a failure */
    p->path = awq_strdup(path);
    if (!p->path) {
        awq_free(p);
        return;
    }
    p->t_create = awq_now();
    im->prof = p;
}

awq_cuda_prof_scope awq_cuda_prof_begin(awq_cuda_impl *im, const char *op) {
    awq_cuda_prof_scope s = {NULL, op, 0, false};
    if (!im->prof) return s;
    s.im = im;
    s.outer = im->prof->depth++ == 0;
    if (s.outer) {
        /* the work queued before this op is not its own */
        (void)cudaStreamSynchronize(im->stream);
        s.t0 = awq_now();
    }
    return s;
}

void awq_cuda_prof_end(awq_cuda_prof_scope *s) {
    if (!s->im) return;
    struct awq_cuda_prof *p = s->im->prof;
    p->depth--;
    if (!s->outer) return; /* a nested op's time is its caller's */
    (void)cudaStreamSynchronize(s->im->stream);
    const double dt = awq_now() - s->t0;
    int i = 0;
    while (i < p->n && p->rows[i].op != s->op && strcmp(p->rows[i].op, s->op) != 0) i++;
    if (i == p->n && p->n < PROF_MAX_OPS) p->rows[p->n++] = (prof_row){s->op, 0, 0, 0, 0};
    if (i < p->n) {
        p->rows[i].calls++;
        p->rows[i].seconds += dt;
        p->rows[i].bytes += p->pending;
        if (p->pending > p->rows[i].max_bytes) p->rows[i].max_bytes = p->pending;
    }
    p->pending = 0;
}

void awq_cuda_prof_bytes(awq_cuda_impl *im, uint64_t bytes) {
    if (im->prof) im->prof->pending += bytes;
}

static int by_seconds(const void *a, const void *b) {
    const prof_row *x = a, *y = b;
    return (x->seconds < y->seconds) - (x->seconds > y->seconds);
}

void awq_cuda_prof_finish(awq_cuda_impl *im, awq_ctx *ctx) {
    struct awq_cuda_prof *p = im->prof;
    if (!p) return;
    im->prof = NULL;
    const double life = awq_now() - p->t_create;
    double in_ops = 0;
    for (int i = 0; i < p->n; i++) in_ops += p->rows[i].seconds;
    qsort(p->rows, (size_t)p->n, sizeof p->rows[0], by_seconds);
    FILE *f = fopen(p->path, "w");
    if (f) {
        fprintf(f, "# awqkit CUDA op profile (%s): each op waited for before and after\n",
                im->desc);
        fprintf(f, "op\tcalls\tseconds\tshare\tbytes\tmax_bytes\tGB/s\n");
        for (int i = 0; i < p->n; i++) {
            const prof_row *r = &p->rows[i];
            fprintf(f, "%s\t%llu\t%.6f\t%.4f\t%llu\t%llu\t%.2f\n", r->op,
                    (unsigned long long)r->calls, r->seconds, life > 0 ? r->seconds / life : 0.0,
                    (unsigned long long)r->bytes, (unsigned long long)r->max_bytes,
                    r->seconds > 0 ? (double)r->bytes / r->seconds / 1e9 : 0.0);
        }
        fprintf(f, "(outside ops)\t0\t%.6f\t%.4f\t0\t0\t0\n", life - in_ops,
                life > 0 ? (life - in_ops) / life : 0.0);
        fprintf(f, "(backend lifetime)\t0\t%.6f\t1\t0\t0\t0\n", life);
        if (fclose(f) != 0) f = NULL;
    }
    if (!f) /* through the log: a destructor has no status to return */
        awq_warn(ctx, "AWQKIT_CUDA_PROFILE=%s: cannot write the op profile: %s", p->path,
                 strerror(errno));
    awq_free(p->path);
    awq_free(p);
}

#endif /* AWQ_HAVE_CUDA */
