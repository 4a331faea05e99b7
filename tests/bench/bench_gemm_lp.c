/* tests/bench/bench_gemm_lp.c — GEMM rates of the candidate-forward shapes
 * of the AWQ search, one thread (the CPU backend runs its GEMM slices one
 * thread each, see lib/backend/cpu.c), for the libraries considered for a
 * reduced-precision search:
 *   sgemm    OpenBLAS cblas_sgemm, fp32 (today's path)
 *   bf16     oneDNN matmul, bf16 x and W, fp32 accumulate and output; the
 *            fp32 -> bf16 conversions of x and W are timed apart ("cvt")
 *   f32dnnl  oneDNN matmul in fp32 (to separate library from precision)
 * "peak" is each path's rate on a large square GEMM (2048^3) in the same
 * run: the measured peak the issue asks the search GEMMs to be held to.
 * Rates are GFLOP per CPU-second of the one calling thread.
 * OpenBLAS's sbgemm is absent from Debian's OpenBLAS 0.3.21 (built without
 * BUILD_BFLOAT16: no cblas_sbgemm symbol), so it is not measured.
 * Usage: bench_gemm_lp [--reps N]. Prints a table; no pass/fail. */
#include "backend/cpu_bf16.h"

#include <cblas.h>
#include <dnnl.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The calling thread's CPU time: every GEMM here runs on this one thread,
 * so rates per CPU-second stay meaningful when other jobs share the cores
 * (wall-clock rates on a shared machine are not). */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}


#define OK(x)                                                                  \
    do {                                                                       \
        dnnl_status_t s_ = (x);                                                \
        if (s_ != dnnl_success) {                                              \
            fprintf(stderr, "%s failed: %d\n", #x, (int)s_);                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
    const char *impl;
} mm;

/* y[M,N] = x[M,K] W[N,K]^T with x, W in `dt`, y fp32; W read as [K, N]
 * through the "ba" tag (no reorder). */
static void mm_init(mm *p, dnnl_engine_t eng, dnnl_data_type_t dt, int64_t M, int64_t N,
                    int64_t K, void *x, void *w, float *y) {
    dnnl_memory_desc_t sm, wm, dm;
    dnnl_dims_t sd = {M, K}, wd = {K, N}, dd = {M, N};
    OK(dnnl_memory_desc_init_by_tag(&sm, 2, sd, dt, dnnl_ab));
    OK(dnnl_memory_desc_init_by_tag(&wm, 2, wd, dt, dnnl_ba));
    OK(dnnl_memory_desc_init_by_tag(&dm, 2, dd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    OK(dnnl_matmul_desc_init(&md, &sm, &wm, NULL, &dm));
    dnnl_primitive_desc_t pd;
    OK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    OK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &p->impl));
    OK(dnnl_primitive_create(&p->prim, pd));
    OK(dnnl_memory_create(&p->src, &sm, eng, x));
    OK(dnnl_memory_create(&p->wei, &wm, eng, w));
    OK(dnnl_memory_create(&p->dst, &dm, eng, y));
}

static void mm_run(mm *p, dnnl_stream_t s) {
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->wei},
                            {DNNL_ARG_DST, p->dst}};
    OK(dnnl_primitive_execute(p->prim, s, 3, a));
    OK(dnnl_stream_wait(s));
}

static void shape(const char *name, int64_t M, int64_t N, int64_t K, int reps,
                  dnnl_engine_t eng, dnnl_stream_t st) {
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
    float *y = malloc(sizeof(float) * M * N), *y2 = malloc(sizeof(float) * M * N);
    uint16_t *xb = malloc(2 * M * K), *wb = malloc(2 * N * K);
    uint32_t r = 7;
    for (int64_t i = 0; i < M * K; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    }
    for (int64_t i = 0; i < N * K; i++) {
        r = r * 1664525u + 1013904223u;
        w[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    }
    const double fl = 2.0 * (double)M * (double)N * (double)K;
    double t0 = now();
    for (int i = 0; i < reps; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x,
                    (int)K, w, (int)K, 0.0f, y, (int)N);
    double ts = (now() - t0) / reps;
    mm f, b;
    mm_init(&f, eng, dnnl_f32, M, N, K, x, w, y2);
    mm_run(&f, st);
    t0 = now();
    for (int i = 0; i < reps; i++) mm_run(&f, st);
    double tf = (now() - t0) / reps;
    mm_init(&b, eng, dnnl_bf16, M, N, K, xb, wb, y2);
    t0 = now();
    for (int i = 0; i < reps; i++) {
        /* the backend's own conversion (vectorised, awq_round_bf16's bits) */
        awq_cpu_cvt_bf16(x, xb, M * K);
        awq_cpu_cvt_bf16(w, wb, N * K);
    }
    double tc = (now() - t0) / reps;
    mm_run(&b, st);
    t0 = now();
    for (int i = 0; i < reps; i++) mm_run(&b, st);
    double tb = (now() - t0) / reps;
    double err = 0, den = 0;
    for (int64_t i = 0; i < M * N; i++) {
        err += ((double)y2[i] - y[i]) * ((double)y2[i] - y[i]);
        den += (double)y[i] * y[i];
    }
    printf("| %s | %lld x %lld x %lld | %.1f | %.1f | %.1f | %.1f | %.2f | %.1e | %s |\n", name,
           (long long)M, (long long)N, (long long)K, fl / ts * 1e-9, fl / tf * 1e-9,
           fl / tb * 1e-9, fl / (tb + tc) * 1e-9, tb / ts, sqrt(err / den), b.impl);
    free(x), free(w), free(y), free(y2), free(xb), free(wb);
}

int main(int argc, char **argv) {
    int reps = 20;
    if (argc == 3 && strcmp(argv[1], "--reps") == 0) reps = atoi(argv[2]);
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    dnnl_engine_t eng;
    dnnl_stream_t st;
    OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    OK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    printf("| shape | M x N x K | sgemm GF/cpu-s | f32 oneDNN | bf16 oneDNN | bf16 incl. "
           "cvt | bf16/sgemm time | bf16 rel. err | oneDNN impl |\n|---|---|---|---|---|"
           "---|---|---|---|\n");
    shape("peak (square)", 2048, 2048, 2048, reps > 4 ? 4 : reps, eng, st);
    /* tiny-llama: 256-row slices of the candidate forwards */
    shape("tiny q/k/v, o", 256, 256, 256, reps * 8, eng, st);
    shape("tiny gate/up", 256, 768, 256, reps * 4, eng, st);
    shape("tiny down", 256, 256, 768, reps * 4, eng, st);
    /* Qwen2-0.5B (hidden 896, intermediate 4864) */
    shape("0.5B gate/up", 256, 4864, 896, reps, eng, st);
    shape("0.5B down", 256, 896, 4864, reps, eng, st);
    /* Gram loss: dW [N, K] x G [K, K], tiny-llama down */
    shape("Gram dW G (tiny down)", 256, 768, 768, reps * 2, eng, st);
    dnnl_stream_destroy(st);
    dnnl_engine_destroy(eng);
    return 0;
}
