/* tests/bench/bench_forward.c — forward-pass throughput on the CPU backend,
 * as a fraction of OpenBLAS sgemm's FLOP rate measured in the same run.
 *
 *   bench_forward [--threads N] [--model DIR] [--quick]
 *
 * Reference rate: cblas_sgemm with OpenBLAS' own threading (N threads) on
 * x[2048, K] · W[N, K]^T for the shapes of each model's linears, best of
 * several runs: the fastest a plain BLAS call does here. (The backend itself
 * runs OpenBLAS single-threaded on fixed slices for determinism; its GEMM
 * rate is printed too.)
 *
 * Workloads:
 *   tiny-llama     data/tiny-llama (or --model), all layers + final norm +
 *                  NLL through lm_head (awq_model_nll), B x T tokens
 *   qwen2-0.5b x4  a synthetic Qwen2-0.5B-shaped stack (hidden 896,
 *                  intermediate 4864, 14 heads, 2 KV heads, head_dim 64,
 *                  q/k/v biases), 4 layers of random FP16 weights written to a
 *                  temporary checkpoint by this program; decoder layers only
 *                  (awq_model_run_layers)
 * FLOPs counted: 2 * tokens * (linear weights) + causal attention
 * 2 * B * T * (T + 1) * head_dim * n_heads (+ 2 * tokens * vocab * hidden for
 * the lm_head). Time per op class comes from wrapping the backend's op table
 * (lib/backend/backend.h). Output: a table per workload with the ratio
 * "forward GFLOP/s / sgemm GFLOP/s" on wall time, and the same on process
 * CPU time (GFLOP per CPU-second), which stays meaningful when other
 * processes share the cores. */
#include "awqkit.h"
#include "backend/backend.h"
#include "core/core.h"
#include "model/forward.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Process CPU time (user + system, all threads): unlike wall time it does
 * not grow when other processes compete for the cores. */
static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* ---------------------------------------------- timing proxy of the ops */

enum { OP_GEMM, OP_ATTN, OP_NORM, OP_ROPE, OP_SILU, OP_ADD, OP_NLL, OP_N };
static double g_op_s[OP_N];
static double g_gemm_flops;
static const awq_backend_ops *g_real;
static awq_backend_ops g_proxy;

static awq_status p_gemm(awq_backend *be, const float *x, const void *w, awq_dtype t,
                         const float *b, float *y, int64_t M, int64_t N, int64_t K) {
    double t0 = awq_now();
    awq_status s = g_real->gemm(be, x, w, t, b, y, M, N, K);
    g_op_s[OP_GEMM] += awq_now() - t0;
    g_gemm_flops += 2.0 * (double)M * (double)N * (double)K;
    return s;
}
static awq_status p_attn(awq_backend *be, const float *q, const float *k, const float *v,
                         float *o, const awq_attn_desc *d) {
    double t0 = awq_now();
    awq_status s = g_real->attention(be, q, k, v, o, d);
    g_op_s[OP_ATTN] += awq_now() - t0;
    return s;
}
static awq_status p_norm(awq_backend *be, const float *x, const float *w, float *y, int64_t M,
                         int64_t D, float eps) {
    double t0 = awq_now();
    awq_status s = g_real->rmsnorm(be, x, w, y, M, D, eps);
    g_op_s[OP_NORM] += awq_now() - t0;
    return s;
}
static awq_status p_rope(awq_backend *be, float *x, int64_t B, int64_t T, int64_t nh,
                         int64_t hd, const float *c, const float *sn, int64_t np, int64_t p0) {
    double t0 = awq_now();
    awq_status s = g_real->rope(be, x, B, T, nh, hd, c, sn, np, p0);
    g_op_s[OP_ROPE] += awq_now() - t0;
    return s;
}
static awq_status p_silu(awq_backend *be, const float *g, const float *u, float *o, int64_t n) {
    double t0 = awq_now();
    awq_status s = g_real->silu_mul(be, g, u, o, n);
    g_op_s[OP_SILU] += awq_now() - t0;
    return s;
}
static awq_status p_add(awq_backend *be, float *y, const float *x, int64_t n) {
    double t0 = awq_now();
    awq_status s = g_real->add(be, y, x, n);
    g_op_s[OP_ADD] += awq_now() - t0;
    return s;
}
static awq_status p_nll(awq_backend *be, const float *l, const int32_t *t, int64_t M,
                        int64_t V, double *n) {
    double t0 = awq_now();
    awq_status s = g_real->nll_rows(be, l, t, M, V, n);
    g_op_s[OP_NLL] += awq_now() - t0;
    return s;
}

static void install_proxy(awq_model *m) {
    awq_backend *be = awq_model_backend(m);
    g_real = be->ops;
    g_proxy = *be->ops;
    g_proxy.gemm = p_gemm;
    g_proxy.attention = p_attn;
    g_proxy.rmsnorm = p_norm;
    g_proxy.rope = p_rope;
    g_proxy.silu_mul = p_silu;
    g_proxy.add = p_add;
    g_proxy.nll_rows = p_nll;
    be->ops = &g_proxy;
}

static void reset_ops(void) {
    memset(g_op_s, 0, sizeof g_op_s);
    g_gemm_flops = 0;
}

/* ------------------------------------------------------ sgemm reference */

/* Best-of-4 rate over the shapes: wall GFLOP/s (returned) and GFLOP per
 * CPU-second (*cpu_rate). */
static double sgemm_rate(int threads, const int64_t (*shapes)[2], int n_shapes, int64_t M,
                         double *cpu_rate) {
    openblas_set_num_threads(threads);
    double best_total = 0, flops_total = 0, best_cpu_total = 0;
    for (int s = 0; s < n_shapes; s++) {
        int64_t N = shapes[s][0], K = shapes[s][1];
        float *x = awq_alloc((size_t)(M * K), 4), *w = awq_alloc((size_t)(N * K), 4);
        float *y = awq_alloc((size_t)(M * N), 4);
        for (int64_t i = 0; i < M * K; i++) x[i] = (float)((i % 97) - 48) / 97.0f;
        for (int64_t i = 0; i < N * K; i++) w[i] = (float)((i % 89) - 44) / 89.0f;
        double best = 1e30, best_cpu = 1e30;
        for (int r = 0; r < 4; r++) {
            double t0 = awq_now(), c0 = cpu_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f,
                        x, (int)K, w, (int)K, 0.0f, y, (int)N);
            double t = awq_now() - t0, c = cpu_now() - c0;
            if (r > 0 && t < best) best = t;
            if (r > 0 && c < best_cpu) best_cpu = c;
        }
        best_total += best;
        best_cpu_total += best_cpu;
        flops_total += 2.0 * (double)M * (double)N * (double)K;
        awq_free(x), awq_free(w), awq_free(y);
    }
    openblas_set_num_threads(1);
    *cpu_rate = flops_total / best_cpu_total / 1e9;
    return flops_total / best_total / 1e9;
}

/* -------------------------------------------------------- workloads */

typedef struct {
    const char *name;
    int64_t B, T;
} shape;

static double model_flops(const awq_model_config *c, int64_t B, int64_t T, bool lm_head) {
    double lin = (double)c->n_layers *
                 ((double)c->hidden * (double)(c->n_heads + 2 * c->n_kv_heads) * c->head_dim +
                  (double)c->n_heads * c->head_dim * c->hidden +
                  3.0 * (double)c->hidden * c->intermediate);
    double tok = (double)(B * T);
    double f = 2.0 * tok * lin;
    f += (double)c->n_layers * 2.0 * (double)B * (double)T * (double)(T + 1) *
         (double)c->head_dim * (double)c->n_heads;
    if (lm_head) f += 2.0 * tok * (double)c->vocab * (double)c->hidden;
    return f;
}

static void run_workload(awq_ctx *ctx, const char *label, awq_model *m, const shape *sh,
                         int n_sh, bool with_nll, double ref_rate, double ref_cpu, int reps) {
    const awq_model_config *c = awq_model_get_config(m);
    printf("\n%s (%s, %lld layers, hidden %lld, %s)\n", label, c->architecture,
           (long long)c->n_layers, (long long)c->hidden,
           with_nll ? "layers + final norm + lm_head NLL" : "decoder layers only");
    printf("  %-9s %6s %9s %8s %8s | %8s %8s | %7s | %5s %5s %5s %5s\n", "B x T", "tokens",
           "tokens/s", "GFLOP/s", "of sgemm", "GF/cpu-s", "of sgemm", "gemm GF", "gemm",
           "attn", "nll", "other");
    for (int i = 0; i < n_sh; i++) {
        int64_t B = sh[i].B, T = sh[i].T, n = B * T;
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
        for (int64_t k = 0; k < n; k++) ids[k] = (int32_t)((k * 2654435761u) % (uint64_t)c->vocab);
        double *nll = malloc(sizeof(double) * (size_t)n);
        float *x = NULL;
        if (!with_nll) awq_model_alloc(m, sizeof(float) * (size_t)(n * c->hidden), (void **)&x);
        double best = 1e30, best_cpu = 1e30, op_best[OP_N] = {0}, gf_best = 0;
        for (int r = 0; r < reps + 1; r++) {
            reset_ops();
            double t0 = awq_now(), c0 = cpu_now();
            awq_status s;
            if (with_nll) {
                s = awq_model_nll(m, ids, B, T, nll);
            } else {
                s = awq_model_embed(m, ids, n, x);
                if (s == AWQ_OK) s = awq_model_run_layers(m, x, B, T);
            }
            double t = awq_now() - t0, ct = cpu_now() - c0;
            if (s != AWQ_OK) {
                fprintf(stderr, "forward failed: %s\n", awq_ctx_errmsg(ctx));
                exit(1);
            }
            /* the first run converts and caches the layers: not timed */
            if (r > 0 && ct < best_cpu) best_cpu = ct;
            if (r > 0 && t < best) {
                best = t;
                memcpy(op_best, g_op_s, sizeof op_best);
                gf_best = g_gemm_flops / g_op_s[OP_GEMM] / 1e9;
            }
        }
        double f = model_flops(c, B, T, with_nll);
        double gfs = f / best / 1e9;
        double other = best - op_best[OP_GEMM] - op_best[OP_ATTN] - op_best[OP_NLL];
        char bt[32];
        snprintf(bt, sizeof bt, "%lldx%lld", (long long)B, (long long)T);
        double gfc = f / best_cpu / 1e9;
        printf("  %-9s %6lld %9.0f %8.1f %7.0f%% | %8.1f %7.0f%% | %7.1f | %4.0f%% %4.0f%% %4.0f%% "
               "%4.0f%%\n",
               bt, (long long)n, (double)n / best, gfs, 100.0 * gfs / ref_rate, gfc,
               100.0 * gfc / ref_cpu, gf_best, 100 * op_best[OP_GEMM] / best,
               100 * op_best[OP_ATTN] / best, 100 * op_best[OP_NLL] / best, 100 * other / best);
        free(ids), free(nll);
        awq_model_free_buf(m, x);
    }
}

/* Write a Qwen2-0.5B-shaped checkpoint with n_layers random FP16 layers. */
static void write_synthetic(awq_ctx *ctx, const char *dir, int n_layers, int64_t vocab) {
    const int64_t HID = 896, INTER = 4864, nh = 14, nkv = 2, hd = 64;
    awq_writer_params wp = awq_writer_default_params();
    wp.force = true;
    awq_writer *w = NULL;
    if (awq_writer_create(ctx, dir, &wp, &w) != AWQ_OK) {
        fprintf(stderr, "writer: %s\n", awq_ctx_errmsg(ctx));
        exit(1);
    }
    typedef struct {
        char name[96];
        int64_t r, c;
        float scale, offset;
    } t_;
    t_ ts[256];
    int n = 0;
#define T_(nm, R, C, S, O)                                                                 \
    do {                                                                                   \
        snprintf(ts[n].name, sizeof ts[n].name, "%s", nm);                                 \
        ts[n].r = R, ts[n].c = C, ts[n].scale = S, ts[n].offset = O;                       \
        n++;                                                                               \
    } while (0)
    T_("model.embed_tokens.weight", vocab, HID, 1.0f, 0);
    T_("lm_head.weight", vocab, HID, 0.03f, 0);
    T_("model.norm.weight", HID, 0, 0.1f, 1);
    for (int l = 0; l < n_layers; l++) {
        char p[64], nm[96];
        snprintf(p, sizeof p, "model.layers.%d.", l);
        static const char *const lin[7] = {"self_attn.q_proj", "self_attn.k_proj",
                                           "self_attn.v_proj", "self_attn.o_proj",
                                           "mlp.gate_proj",    "mlp.up_proj",
                                           "mlp.down_proj"};
        int64_t outs[7] = {nh * hd, nkv * hd, nkv * hd, HID, INTER, INTER, HID};
        int64_t ins[7] = {HID, HID, HID, nh * hd, HID, HID, INTER};
        for (int k = 0; k < 7; k++) {
            snprintf(nm, sizeof nm, "%s%s.weight", p, lin[k]);
            T_(nm, outs[k], ins[k], 1.5f / sqrtf((float)ins[k]), 0);
            if (k < 3) {
                snprintf(nm, sizeof nm, "%s%s.bias", p, lin[k]);
                T_(nm, outs[k], 0, 0.1f, 0);
            }
        }
        snprintf(nm, sizeof nm, "%sinput_layernorm.weight", p);
        T_(nm, HID, 0, 0.1f, 1);
        snprintf(nm, sizeof nm, "%spost_attention_layernorm.weight", p);
        T_(nm, HID, 0, 0.1f, 1);
    }
#undef T_
    for (int i = 0; i < n; i++) {
        int64_t shp[2] = {ts[i].r, ts[i].c};
        awq_writer_declare(w, ts[i].name, AWQ_DT_F16, ts[i].c ? 2 : 1, shp);
    }
    uint32_t st = 12345;
    for (int i = 0; i < n; i++) {
        int64_t cnt = ts[i].r * (ts[i].c ? ts[i].c : 1);
        float *f = malloc(sizeof(float) * (size_t)cnt);
        uint16_t *h = malloc(sizeof(uint16_t) * (size_t)cnt);
        for (int64_t k = 0; k < cnt; k++) {
            st ^= st << 13, st ^= st >> 17, st ^= st << 5;
            f[k] = ts[i].offset + ts[i].scale * (float)((double)st / 2147483648.0 - 1.0);
        }
        awq_f32_to_f16_n(f, h, (size_t)cnt);
        if (awq_writer_write(w, ts[i].name, h, (uint64_t)cnt * 2) != AWQ_OK) {
            fprintf(stderr, "write: %s\n", awq_ctx_errmsg(ctx));
            exit(1);
        }
        free(f), free(h);
    }
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\", "
             "\"hidden_size\": %lld, \"intermediate_size\": %lld, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %lld, \"num_key_value_heads\": %lld, \"vocab_size\": "
             "%lld, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, "
             "\"max_position_embeddings\": 32768, \"tie_word_embeddings\": false, "
             "\"torch_dtype\": \"float16\"}\n",
             (long long)HID, (long long)INTER, n_layers, (long long)nh, (long long)nkv,
             (long long)vocab);
    awq_writer_add_file(w, "config.json", cfg, strlen(cfg));
    if (awq_writer_finish(w) != AWQ_OK) {
        fprintf(stderr, "finish: %s\n", awq_ctx_errmsg(ctx));
        exit(1);
    }
    awq_writer_free(w);
}

int main(int argc, char **argv) {
    int threads = 0;
    bool quick = false;
    const char *model = AWQ_BENCH_DATA "/tiny-llama";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0) quick = true;
        else {
            fprintf(stderr, "usage: bench_forward [--threads N] [--model DIR] [--quick]\n");
            return 2;
        }
    }
    awq_ctx_params cp = awq_ctx_default_params();
    cp.n_threads = threads;
    awq_ctx *ctx = NULL;
    if (awq_ctx_create(&cp, &ctx) != AWQ_OK) return 1;
    int nt = awq_ctx_n_threads(ctx);
    int reps = quick ? 1 : 3;
    printf("bench_forward: %d threads, %s, OpenBLAS %s\n", nt, awq_version(),
           openblas_get_config());

    /* --- bundled model */
    awq_checkpoint *ck = NULL;
    awq_model *m = NULL;
    if (awq_checkpoint_open(ctx, model, &ck) != AWQ_OK ||
        awq_model_open(ctx, ck, NULL, &m) != AWQ_OK) {
        fprintf(stderr, "%s: %s\n", model, awq_ctx_errmsg(ctx));
        return 1;
    }
    const awq_model_config *c = awq_model_get_config(m);
    int64_t sh_t[4][2] = {{c->n_heads * c->head_dim, c->hidden},
                          {c->intermediate, c->hidden},
                          {c->hidden, c->intermediate},
                          {c->vocab, c->hidden}};
    double ref_tc = 0, ref_t = sgemm_rate(nt, (const int64_t(*)[2])sh_t, 4, 2048, &ref_tc);
    printf("\nreference: OpenBLAS sgemm (%d threads), M=2048, shapes of %s's linears + "
           "lm_head: %.1f GFLOP/s wall, %.1f GFLOP per CPU-second\n", nt, model, ref_t, ref_tc);
    install_proxy(m);
    shape tiny[] = {{"", 1, 2048}, {"", 16, 256}, {"", 4, 512}, {"", 1, 64}};
    run_workload(ctx, model, m, tiny, quick ? 2 : 4, true, ref_t, ref_tc, reps);
    awq_model_free(m);
    awq_checkpoint_free(ck);

    /* --- synthetic Qwen2-0.5B-shaped stack */
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/awq_bench_qwen05_%d", tmp ? tmp : "/tmp", (int)getpid());
    int layers = 4;
    write_synthetic(ctx, dir, layers, 4096);
    if (awq_checkpoint_open(ctx, dir, &ck) != AWQ_OK ||
        awq_model_open(ctx, ck, NULL, &m) != AWQ_OK) {
        fprintf(stderr, "%s: %s\n", dir, awq_ctx_errmsg(ctx));
        return 1;
    }
    int64_t sh_q[4][2] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}};
    double ref_qc = 0, ref_q = sgemm_rate(nt, (const int64_t(*)[2])sh_q, 4, 2048, &ref_qc);
    printf("\nreference: OpenBLAS sgemm (%d threads), M=2048, Qwen2-0.5B linear shapes: "
           "%.1f GFLOP/s wall, %.1f GFLOP per CPU-second\n", nt, ref_q, ref_qc);
    install_proxy(m);
    shape q05[] = {{"", 1, 2048}, {"", 8, 512}, {"", 1, 4096}};
    run_workload(ctx, "qwen2-0.5b-shaped x4 (synthetic)", m, q05, quick ? 1 : 3, false, ref_q,
                 ref_qc, reps);
    awq_model_free(m);
    awq_checkpoint_free(ck);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    awq_ctx_free(ctx);
    return 0;
}
