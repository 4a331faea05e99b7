/* tests/awq_test.h — a minimal assertion harness for the unit tests.
 * Each test executable prints one line per failed check and a summary line
 * "N passed, N failed" (the plain line CI reads), and exits non-zero on any
 * failure, or 77 (ctest SKIP_RETURN_CODE) via AWQ_SKIP. */
#ifndef AWQ_TEST_H
#define AWQ_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "awqkit.h"

static int awq_t_pass, awq_t_fail;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) {                                                            \
            awq_t_pass++;                                                      \
        } else {                                                               \
            awq_t_fail++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (cond) {                                                            \
            awq_t_pass++;                                                      \
        } else {                                                               \
            awq_t_fail++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__,   \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld",                \
              (long long)(a), (long long)(b))

#define CHECK_NEAR(a, b, tol)                                                  \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)",\
              (double)(a), (double)(b), (double)(tol))

/* Status check that prints the context message on failure. */
#define CHECK_OK(ctx, expr)                                                    \
    do {                                                                       \
        awq_status s_ = (expr);                                                \
        CHECK_MSG(s_ == AWQ_OK, "%s -> %s: %s", #expr, awq_strerror(s_),       \
                  awq_ctx_errmsg(ctx));                                        \
    } while (0)

/* Expect a given failure status and a message containing `needle`. */
#define CHECK_FAILS(ctx, expr, status, needle)                                 \
    do {                                                                       \
        awq_status s_ = (expr);                                                \
        CHECK_MSG(s_ == (status), "%s -> %s (want %s): %s", #expr,             \
                  awq_strerror(s_), awq_strerror(status), awq_ctx_errmsg(ctx));\
        CHECK_MSG(strstr(awq_ctx_errmsg(ctx), (needle)) != NULL,               \
                  "message '%s' lacks '%s'", awq_ctx_errmsg(ctx), (needle));   \
    } while (0)

#define AWQ_SKIP(why)                                                          \
    do {                                                                       \
        printf("SKIP: %s\n", why);                                             \
        exit(77);                                                              \
    } while (0)

static inline int awq_test_summary(void) {
    printf("%d passed, %d failed\n", awq_t_pass, awq_t_fail);
    return awq_t_fail ? 1 : 0;
}

/* A context that logs warnings to stderr (tests stay quiet otherwise). */
static inline void awq_test_log(void *u, awq_log_level l, const char *m) {
    (void)u;
    if (l <= AWQ_LOG_WARN) fprintf(stderr, "[log %d] %s\n", (int)l, m);
}
static inline awq_ctx *awq_test_ctx(int n_threads) {
    awq_ctx_params p = awq_ctx_default_params();
    p.log = awq_test_log;
    p.log_level = AWQ_LOG_WARN;
    p.n_threads = n_threads;
    awq_ctx *ctx = NULL;
    if (awq_ctx_create(&p, &ctx) != AWQ_OK) {
        fprintf(stderr, "cannot create context\n");
        exit(2);
    }
    return ctx;
}

/* Scratch directory for a test: $AWQ_TEST_TMP/<name>, created fresh. */
static inline char *awq_test_tmpdir(const char *name) {
    const char *base = getenv("AWQ_TEST_TMP");
    if (!base) base = "/tmp";
    size_t n = strlen(base) + strlen(name) + 64;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", base, name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", p, p);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot create %s\n", p);
        exit(2);
    }
    return p;
}

static inline bool awq_test_path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ------------------------------------------------------------- random
 * Deterministic inputs: each test keeps its own state (a seed of its own)
 * and draws fixed sequences, so these must never change: a test's
 * tolerances, fixtures and failure messages were chosen for its numbers.
 *
 * Marsaglia's xorshift64 (shifts 13, 7, 17); the state must be non-zero.
 * Two 32-bit outputs of it are in use, different sequences kept apart:
 * bits 16..47 (awq_test_rand_u32, under the float helpers) and bits 11..42
 * (awq_test_rand_u32_b11: the e2e tests' token ids). */
static inline uint64_t awq_test_xorshift64(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static inline uint32_t awq_test_rand_u32(uint64_t *s) {
    return (uint32_t)(awq_test_xorshift64(s) >> 16);
}
static inline uint32_t awq_test_rand_u32_b11(uint64_t *s) {
    return (uint32_t)(awq_test_xorshift64(s) >> 11);
}
/* uniform in [0, 1): the top 24 bits of awq_test_rand_u32 */
static inline float awq_test_rand_unif(uint64_t *s) {
    return (float)((awq_test_rand_u32(s) >> 8) * (1.0 / 16777216.0));
}
/* standard normal, Box-Muller in float (draws u, then v) */
static inline float awq_test_rand_normal(uint64_t *s) {
    float u = awq_test_rand_unif(s) + 1e-7f, v = awq_test_rand_unif(s);
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

#endif
