/* lib/core/pool.c — a small persistent thread pool with static partitioning.
 *
 * Why static chunks: results must be bit-identical whatever the thread count
 * (the quantizer's determinism promise), so work is split by index and every
 * output element is produced by exactly one worker with a fixed summation
 * order. The pool is persistent because the forward pass calls it per layer
 * and per op; spawning threads each time costs more than small ops take.
 *
 * Why a short spin before sleeping: a quantize calls the pool ~25,000 times
 * a minute of work, many ops lasting tens of microseconds, and a condition
 * variable's wake-up took about as long (on a 2-core VM a tiny-llama run had
 * ~0.8 s of wall time with one core idle, in 72,000 futex calls). Each side
 * first polls the shared counter for up to SPIN_ROUNDS pause instructions
 * (tens of microseconds), then sleeps as before; the predicates are always
 * re-checked under the mutex, so the spin only shortens the wait. */
#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ROUNDS 2048

struct awq_pool {
    int n;                     /* workers including the caller (index 0) */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    uint64_t generation;
    int pending;
    bool quit;
    /* current job */
    awq_range_fn fn;
    void *arg;
    int64_t total;
    int n_active;
};

typedef struct {
    struct awq_pool *pool;
    int index;
} worker_arg;

static void chunk(int64_t n, int parts, int i, int64_t *b, int64_t *e) {
    int64_t base = n / parts, rem = n % parts;
    *b = i * base + (i < rem ? i : rem);
    *e = *b + base + (i < rem ? 1 : 0);
}

static void *worker_main(void *p) {
    worker_arg wa = *(worker_arg *)p;
    free(p);
    struct awq_pool *pool = wa.pool;
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS &&
                        __atomic_load_n(&pool->generation, __ATOMIC_ACQUIRE) == seen &&
                        !__atomic_load_n(&pool->quit, __ATOMIC_ACQUIRE);
             i++)
            CPU_RELAX();
        pthread_mutex_lock(&pool->mu);
        while (!pool->quit && pool->generation == seen)
            pthread_cond_wait(&pool->start_cv, &pool->mu);
        if (pool->quit) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = pool->generation;
        awq_range_fn fn = pool->fn;
        void *arg = pool->arg;
        int64_t total = pool->total;
        int n_active = pool->n_active;
        pthread_mutex_unlock(&pool->mu);

        if (wa.index < n_active) {
            int64_t b, e;
            chunk(total, n_active, wa.index, &b, &e);
            if (e > b) fn(arg, b, e, wa.index);
        }
        pthread_mutex_lock(&pool->mu);
        if (__atomic_sub_fetch(&pool->pending, 1, __ATOMIC_RELEASE) == 0)
            pthread_cond_signal(&pool->done_cv);
        pthread_mutex_unlock(&pool->mu);
    }
}

static struct awq_pool *pool_create(int n) {
    struct awq_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = n;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->start_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    pool->threads = calloc((size_t)n, sizeof(pthread_t));
    if (!pool->threads) {
        free(pool);
        return NULL;
    }
    int started = 1;
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        wa->pool = pool;
        wa->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
        started++;
    }
    pool->n = started; /* degrade gracefully if threads could not start */
    return pool;
}

void awq_pool_destroy(struct awq_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    __atomic_store_n(&pool->quit, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n; i++) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->start_cv);
    pthread_cond_destroy(&pool->done_cv);
    free(pool->threads);
    free(pool);
}

void awq_parallel_for(awq_ctx *ctx, int64_t n, awq_range_fn fn, void *arg) {
    if (n <= 0) return;
    int nt = ctx ? ctx->n_threads : 1;
    if (nt > n) nt = (int)n;
    if (nt <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    if (!ctx->pool) ctx->pool = pool_create(ctx->n_threads);
    struct awq_pool *pool = ctx->pool;
    if (!pool || pool->n < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    if (nt > pool->n) nt = pool->n;
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->total = n;
    pool->n_active = nt;
    __atomic_store_n(&pool->pending, pool->n - 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&pool->generation, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->mu);

    int64_t b, e;
    chunk(n, nt, 0, &b, &e);
    if (e > b) fn(arg, b, e, 0);

    for (int i = 0; i < SPIN_ROUNDS && __atomic_load_n(&pool->pending, __ATOMIC_ACQUIRE) > 0;
         i++)
        CPU_RELAX();
    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done_cv, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}

double awq_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
