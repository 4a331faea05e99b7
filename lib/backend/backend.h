/*
 * lib/backend/backend.h — the compute ops the decoder forward (lib/model/
 * forward.c) and the AWQ search run on, as a table of function pointers.
 * The CPU backend (cpu.c: OpenBLAS + the context's thread pool) and a GPU
 * backend (cuda.c + the .cu files of kernels/: cuBLAS + CUDA kernels) implement the same
 * table, so algorithms are written once against it.
 *
 * Memory. Every buffer argument lives in the backend's memory space
 * (`ops->mem`): host memory for the CPU backend, device memory for CUDA.
 * Buffers come from ops->alloc and move with upload/download. Arguments
 * marked "host" are host memory whatever the backend.
 *
 * Layout conventions (row-major, fp32 unless stated):
 *   x      [M, K] activations, M = rows (B*T tokens), K = features
 *   W      [N, K] weights (PyTorch nn.Linear: out_features x in_features)
 *   q      [B*T, n_heads*head_dim], head h in columns [h*hd, (h+1)*hd)
 *   k, v   [B*T, n_kv_heads*head_dim]
 *
 * Determinism contract: every op gives bit-identical results for any thread
 * count (static work splits; each output element produced by one worker
 * with a fixed reduction order; multi-worker reductions combine fixed-size
 * partial sums in index order). Ops are synchronous from the caller's point
 * of view (a GPU backend may queue work on its stream; download and sync
 * wait for it).
 *
 * Errors: ops return awq_status and set the message on be->ctx naming the op
 * and the offending argument. Dimensions are int64_t and validated (>= 0,
 * products without overflow).
 */
#ifndef AWQ_LIB_BACKEND_H
#define AWQ_LIB_BACKEND_H

#include "awqkit/core.h"
#include "awqkit/runtime.h"

typedef enum awq_mem_space {
    AWQ_MEM_HOST = 0,          /* plain host pointers */
    AWQ_MEM_DEVICE = 1         /* GPU device pointers */
} awq_mem_space;

typedef struct awq_backend awq_backend;

/* Input precision of the gemm op (fp32 accumulation and output always). */
typedef enum awq_gemm_precision {
    AWQ_GEMM_FP32 = 0,         /* fp32 inputs (the oracle) */
    AWQ_GEMM_BF16 = 1,         /* x and W rounded to bf16 (nearest even);
                                  CPU: oneDNN, CUDA: tensor cores. The CPU
                                  attention's p·v follows it where the CPU
                                  has AVX512-BF16 (awq_attention_bf16_ref;
                                  q·k stays fp32); CUDA's stays fp32 */
    AWQ_GEMM_BF16_LINEAR = 2   /* the gemm as BF16, attention fp32 on every
                                  backend: quantize's calibration forward,
                                  whose captures and outputs then differ
                                  between backends by summation order only */
} awq_gemm_precision;

/* Shape of a causal self-attention call. */
typedef struct awq_attn_desc {
    int64_t B, T;              /* sequences, tokens per sequence */
    int64_t n_heads;           /* query heads */
    int64_t n_kv_heads;        /* key/value heads; n_heads % n_kv_heads == 0:
                                  query head h reads kv head
                                  h / (n_heads / n_kv_heads) (GQA) */
    int64_t head_dim;
    float scale;               /* softmax scale, 1/sqrt(head_dim) */
    int block;                 /* query and key block (rows); 0 = default */
    /* Gemma 2: scores s = q·k * scale become cap * tanh(s / cap) before the
     * mask and softmax; 0 = none. */
    float softcap;
    /* Sliding window: query t sees keys t - window < j <= t (transformers'
     * sliding_window_overlay); 0 = full causal attention. */
    int64_t window;
} awq_attn_desc;

typedef struct awq_backend_ops {
    const char *name;          /* "cpu", "cuda" */
    awq_mem_space mem;

    void (*destroy)(awq_backend *be);

    /* ---------------------------------------------------------- memory */
    /* bytes may be 0 (returns a valid pointer that free accepts). */
    awq_status (*alloc)(awq_backend *be, size_t bytes, void **out);
    void (*free)(awq_backend *be, void *p);          /* NULL OK */
    awq_status (*upload)(awq_backend *be, void *dst, const void *host_src,
                         size_t bytes);
    awq_status (*download)(awq_backend *be, void *host_dst, const void *src,
                           size_t bytes);
    awq_status (*copy)(awq_backend *be, void *dst, const void *src,
                       size_t bytes);                /* same space */
    awq_status (*sync)(awq_backend *be);             /* wait for queued work */

    /* ------------------------------------------------------------ GEMM */
    /* y[M, N] = x[M, K] · W[N, K]^T (+ bias[N] when bias != NULL).
     * W is given in `w_dtype`: the CPU backend takes AWQ_DT_F32 only
     * (cblas_sgemm, RowMajor, NoTrans x, Trans W); the CUDA backend also
     * takes AWQ_DT_F16 / AWQ_DT_BF16 (cublasGemmEx, fp32 compute and
     * output). y must not overlap x or W. */
    awq_status (*gemm)(awq_backend *be, const float *x, const void *w,
                       awq_dtype w_dtype, const float *bias, float *y,
                       int64_t M, int64_t N, int64_t K);
    /* n fp32-weight GEMMs reading one input (q, k, v; gate, up):
     * y[i] [M, N[i]] = x [M, K] · w[i] [N[i], K]^T (+ bias[i] when not
     * NULL), each bit-identical to gemm(x, w[i], AWQ_DT_F32, ...). Lets a
     * backend do its work on x once (the CPU's bf16 path rounds each slice
     * of x to bf16 once instead of n times). Optional: call it through
     * awq_backend_gemm_multi, which loops gemm where it is NULL. */
    awq_status (*gemm_multi)(awq_backend *be, const float *x, int n,
                             const float *const *w, const float *const *bias,
                             float *const *y, const int64_t *N, int64_t M,
                             int64_t K);

    /* ------------------------------------------------------ row ops */
    /* RMSNorm as transformers' LlamaRMSNorm in fp32, per row:
     *   y = w * (x * (1 / sqrt(mean(x^2) + eps)))
     * with mean(x^2) accumulated in double. w [D] may be NULL (no weight).
     * y may equal x. */
    awq_status (*rmsnorm)(awq_backend *be, const float *x, const float *w,
                          float *y, int64_t M, int64_t D, float eps);

    /* Rotary embedding in place, transformers' rotate-half convention:
     *   x' = x * cos + rotate_half(x) * sin,  rotate_half(x) = [-x2, x1]
     * on each head of x [B*T, n_heads*head_dim]; token t of each sequence
     * has position pos0 + t. cos/sin [n_pos, head_dim/2] (backend memory)
     * are the tables of lib/model/rope.c (attention factor already
     * applied); rows pos0 .. pos0+T-1 must exist (n_pos >= pos0 + T). */
    awq_status (*rope)(awq_backend *be, float *x, int64_t B, int64_t T,
                       int64_t n_heads, int64_t head_dim, const float *cos,
                       const float *sin, int64_t n_pos, int64_t pos0);

    /* Causal attention per sequence, GQA, softmax(q k^T * scale) v, blocked
     * with an online softmax: memory O(block * (block + head_dim)) per
     * worker, never a T x T matrix. out [B*T, n_heads*head_dim] must not
     * overlap q/k/v. */
    awq_status (*attention)(awq_backend *be, const float *q, const float *k,
                            const float *v, float *out,
                            const awq_attn_desc *d);

    /* ---------------------------------------------------- elementwise */
    /* out[i] = silu(gate[i]) * up[i] = gate / (1 + exp(-gate)) * up.
     * out may equal gate or up. */
    awq_status (*silu_mul)(awq_backend *be, const float *gate,
                           const float *up, float *out, int64_t n);
    /* out[i] = act(gate[i]) * up[i] for the MLP activations of awqkit/
     * model.h: SILU as silu_mul (bit-identical), GELU_TANH
     * 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))), GELU
     * 0.5 g (1 + erf(g / sqrt 2)), in fp32 with libm tanhf / erff.
     * out may equal gate or up. */
    awq_status (*act_mul)(awq_backend *be, awq_act act, const float *gate,
                          const float *up, float *out, int64_t n);
    /* x[i] = cap * tanh(x[i] / cap) in place (logit soft-capping), cap > 0. */
    awq_status (*softcap)(awq_backend *be, float *x, int64_t n, float cap);
    /* y[i] += x[i] (residual). */
    awq_status (*add)(awq_backend *be, float *y, const float *x, int64_t n);

    /* ---------------------------- per-channel ops for the AWQ search */
    /* x[i, j] *= s[j] (divide: x[i, j] /= s[j]) for x [M, N], s [N]. */
    awq_status (*scale_cols)(awq_backend *be, float *x, const float *s,
                             int64_t M, int64_t N, bool divide);
    /* x[i, j] *= s[i] (divide: /= s[i]) for x [M, N], s [M]. */
    awq_status (*scale_rows)(awq_backend *be, float *x, const float *s,
                             int64_t M, int64_t N, bool divide);
    /* out[j] = mean over i of |x[i, j]| for x [M, N]; out [N] (backend
     * memory, fp32), accumulated in double in row order. */
    awq_status (*col_mean_abs)(awq_backend *be, const float *x, int64_t M,
                               int64_t N, float *out);
    /* *out (host) = mean((a - b)^2) over n elements, in double. */
    awq_status (*mse)(awq_backend *be, const float *a, const float *b,
                      int64_t n, double *out);
    /* out[s] (host, ceil(n / seg_len) entries) = the sum of (a - b)^2
     * over segment s of seg_len elements (the last one shorter when n is
     * not a multiple), in double: the race's paired samples
     * (lib/quant/awq_pick.c) in one pass instead of one mse call per
     * segment. Optional (NULL: the callers call mse per segment). */
    awq_status (*sq_err_segs)(awq_backend *be, const float *a, const float *b,
                              int64_t n, int64_t seg_len, double *out);
    /* Gram matrix for the AWQ search's shortcut (lib/quant/awq_gram.c):
     * g[K, K] = x^T x for x [M, K] (accumulate: g += x^T x), fp32
     * products and sums; g is exactly symmetric (the lower triangle is a
     * copy of the upper one). */
    awq_status (*gram)(awq_backend *be, const float *x, int64_t M, int64_t K,
                       float *g, bool accumulate);
    /* *out (host) = sum of a[i] * b[i] over n elements, in double: blocks
     * of AWQ_DOT_BLOCK elements each summed in index order, the block sums
     * added in block order (so every backend gives the same bits). */
    awq_status (*dot)(awq_backend *be, const float *a, const float *b,
                      int64_t n, double *out);
    /* Input precision of later gemm calls with fp32 weights. BF16:
     * AWQ_ERR_UNSUPPORTED (message says why) where the backend cannot (no
     * oneDNN in the build, no AVX512-BF16/AMX on the CPU); optional (NULL =
     * fp32 only). Same determinism contract. */
    awq_status (*set_gemm_precision)(awq_backend *be, awq_gemm_precision p);

    /* -------------------------------------------------------- output */
    /* For each row r of logits [M, V]: when targets[r] >= 0,
     * nll[r] = logsumexp(logits[r, :]) - logits[r, targets[r]] (double
     * result, relative error <= 2e-7: the CPU sums exp(z - max) with a
     * polynomial exp in fp32 runs of 256 values, the runs in double);
     * else 0. A row holding any NaN or +-Inf logit gives NaN (never a
     * finite value that skipped it), for the caller to report. targets
     * (host, M entries, each < V) and nll (host) are host arrays. */
    awq_status (*nll_rows)(awq_backend *be, const float *logits,
                           const int32_t *targets, int64_t M, int64_t V,
                           double *nll);
} awq_backend_ops;

struct awq_backend {
    const awq_backend_ops *ops;
    awq_ctx *ctx;              /* messages, threads; borrowed */
    awq_backend_kind kind;
    void *impl;                /* backend-private state */
    awq_gemm_precision precision; /* see set_gemm_precision; FP32 */
};

/* Create the backend `kind` on ctx (borrowed; must outlive the backend).
 * CUDA: AWQ_ERR_NO_DEVICE when not built in or no GPU. */
awq_status awq_backend_create(awq_ctx *ctx, awq_backend_kind kind, int device,
                              awq_backend **out);
void awq_backend_free(awq_backend *be);

awq_status awq_backend_cpu_create(awq_ctx *ctx, awq_backend **out);

/* Most GEMMs one gemm_multi call takes. */
#define AWQ_GEMM_MULTI_MAX 4

/* ops->gemm_multi where the backend has it (and n > 1), else n gemm calls;
 * 1 <= n <= AWQ_GEMM_MULTI_MAX. bias may be NULL (no bias anywhere). */
awq_status awq_backend_gemm_multi(awq_backend *be, const float *x, int n,
                                  const float *const *w, const float *const *bias,
                                  float *const *y, const int64_t *N, int64_t M,
                                  int64_t K);

/* Default attention block size. */
#define AWQ_ATTN_BLOCK_DEFAULT 64

/* ------------------------------------------------------ plain C oracles
 * Straightforward single-threaded host implementations of the ops above,
 * the reference every optimised path (CPU and CUDA) is tested against.
 * Same contracts; attention_ref materialises one row of T scores (O(T))
 * and uses libm exp in double. */
void awq_gemm_ref(const float *x, const float *w, const float *bias, float *y,
                  int64_t M, int64_t N, int64_t K);
void awq_rmsnorm_ref(const float *x, const float *w, float *y, int64_t M,
                     int64_t D, float eps);
void awq_rope_ref(float *x, int64_t B, int64_t T, int64_t n_heads,
                  int64_t head_dim, const float *cos, const float *sin,
                  int64_t pos0);
void awq_attention_ref(const float *q, const float *k, const float *v,
                       float *out, const awq_attn_desc *d);
void awq_silu_mul_ref(const float *gate, const float *up, float *out,
                      int64_t n);
void awq_act_mul_ref(awq_act act, const float *gate, const float *up,
                     float *out, int64_t n);
void awq_softcap_ref(float *x, int64_t n, float cap);
void awq_nll_rows_ref(const float *logits, const int32_t *targets, int64_t M,
                      int64_t V, double *nll);
/* gemm with x and W rounded to bf16 (nearest even), products summed in
 * double: the oracle of the BF16 precision. */
void awq_gemm_bf16_ref(const float *x, const float *w, const float *bias,
                       float *y, int64_t M, int64_t N, int64_t K);
float awq_round_bf16(float f);
/* attention with the CPU's bf16 p·v (the attention op while the precision
 * is AWQ_GEMM_BF16, where the CPU has AVX512-BF16): scores q·k from the
 * fp32 inputs (summed in double, then fp32 as the CPU's), out = p·v with p
 * and v rounded to bf16, the products summed in double; the online softmax
 * over key blocks of d->block (as the CPU rounds it: to a multiple of 16,
 * default AWQ_ATTN_BLOCK_DEFAULT), in fp32 with libm expf, since p is
 * rounded to bf16 relative to the running max of the blocks seen so far. */
void awq_attention_bf16_ref(const float *q, const float *k, const float *v,
                            float *out, const awq_attn_desc *d);
void awq_gram_ref(const float *x, int64_t M, int64_t K, float *g,
                  bool accumulate);
/* The exact summation order of the dot op (see above). */
#define AWQ_DOT_BLOCK 8192
double awq_dot_ref(const float *a, const float *b, int64_t n);

#endif /* AWQ_LIB_BACKEND_H */
