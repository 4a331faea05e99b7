/*
 * lib/quant/size.c — what a model weighs in each storage format, and what
 * serving it takes.
 *
 * Exact bytes per K x N linear (bits b, p = 32/b, g group, G = K/g, or 1
 * per channel), the packed tensors exactly as lib/quant/layouts.h shapes
 * them (awq_lay_get_shapes):
 *   awq       K*(N/p)*4 + G*(N/p)*4 + G*N*2
 *   awq-gemv  N*(K/p)*4 + N*Z*4 + N*p*Z*2, Z = ceil(G/p) rounded up to a
 *             multiple of 1 / 2 / 4 for g >= 128 / 64 / 32 (AutoAWQ's
 *             calculate_zeros_width: zeros and scales padded)
 *   gptq(-v2) (K/p)*N*4 + G*(N/p)*4 + G*N*2 + K*4           (g_idx)
 *   int8      K*N + N*2       (symmetric, one F16 scale per output row)
 *   fp8       K*N + 4         (E4M3, one F32 scale per tensor)
 *   fp16/bf16 K*N*2, fp32 K*N*4
 * Biases, norms, embeddings, lm_head and vision towers stay 16-bit (FP32
 * format: 32-bit), as AWQ / GPTQ tooling leaves them.
 *
 * Serving memory = weights + KV cache + overhead, where
 *   KV = 2 (K and V) x layers x kv_heads x head_dim x context x batch x
 *        bytes per element (2 for FP16/BF16, 1 for FP8)
 *   overhead = 1 GiB + 10% of (weights + KV)   (defaults)
 * Why those numbers: a CUDA context with cuBLAS / cuBLASLt loaded takes
 * roughly 0.3–0.6 GiB of device memory before any tensor exists, and
 * cuBLAS's workspace plus a serving engine's graph/sampler buffers bring
 * the fixed part to about 1 GiB; activations and allocator fragmentation
 * grow with the model and the batch — vLLM by default plans with
 * gpu_memory_utilization = 0.9, i.e. keeps 10% of the card outside
 * weights + KV for exactly these. The model is deliberately a round,
 * stated estimate: `fits` means "fits with that headroom", not a promise.
 */
#include "quant/count_impl.h"
#include "quant/layouts.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>
#include <strings.h>

static const char *const k_fmt_names[AWQ_SIZE_FORMAT_COUNT] = {
    "fp32", "fp16", "bf16", "fp8", "int8", "awq", "awq-gemv", "gptq", "gptq-v2"};

const char *awq_size_format_name(awq_size_format f) {
    return (unsigned)f < AWQ_SIZE_FORMAT_COUNT ? k_fmt_names[f] : "unknown";
}

bool awq_size_format_from_name(const char *name, awq_size_format *out) {
    if (!name) return false;
    for (int i = 0; i < AWQ_SIZE_FORMAT_COUNT; i++) {
        if (strcasecmp(name, k_fmt_names[i]) == 0) {
            *out = (awq_size_format)i;
            return true;
        }
    }
    /* Common spellings. */
    static const struct { const char *s; awq_size_format f; } alias[] = {
        {"awq-gemm", AWQ_SIZE_AWQ}, {"gemm", AWQ_SIZE_AWQ}, {"gemv", AWQ_SIZE_AWQ_GEMV},
        {"gptq-v1", AWQ_SIZE_GPTQ}, {"gptq_v2", AWQ_SIZE_GPTQ_V2}, {"f16", AWQ_SIZE_FP16},
        {"f32", AWQ_SIZE_FP32}, {"float16", AWQ_SIZE_FP16}, {"bfloat16", AWQ_SIZE_BF16},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(alias); i++) {
        if (strcasecmp(name, alias[i].s) == 0) {
            *out = alias[i].f;
            return true;
        }
    }
    return false;
}

bool awq_size_format_is_grouped(awq_size_format f) {
    return f == AWQ_SIZE_AWQ || f == AWQ_SIZE_AWQ_GEMV || f == AWQ_SIZE_GPTQ ||
           f == AWQ_SIZE_GPTQ_V2;
}

awq_size_params awq_size_default_params(void) {
    awq_size_params p;
    memset(&p, 0, sizeof p);
    p.bits = 4;
    p.group_size = 128;
    p.context = 4096;
    p.batch = 1;
    p.kv_dtype = AWQ_DT_F16;
    p.vram_bytes = 0;
    p.overhead_fixed_bytes = 1ull << 30;
    p.overhead_frac = 0.10;
    return p;
}

/* Per-channel has no dimension to divide by here; 4096 is a typical K. */
#define PER_CHANNEL_K_ESTIMATE 4096.0

double awq_size_bits_per_weight(awq_size_format f, int bits, int group_size) {
    double g = group_size > 0 ? (double)group_size : PER_CHANNEL_K_ESTIMATE;
    switch (f) {
    case AWQ_SIZE_FP32: return 32;
    case AWQ_SIZE_FP16:
    case AWQ_SIZE_BF16: return 16;
    case AWQ_SIZE_FP8: return 8;
    case AWQ_SIZE_INT8: return 8 + 16 / PER_CHANNEL_K_ESTIMATE;
    case AWQ_SIZE_AWQ:
    case AWQ_SIZE_AWQ_GEMV:
    case AWQ_SIZE_GPTQ:
    case AWQ_SIZE_GPTQ_V2: return bits + (16.0 + bits) / g;
    default: return 0;
    }
}

static bool bits_ok(int bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

static awq_qformat qfmt(awq_size_format f) {
    return f == AWQ_SIZE_AWQ        ? AWQ_QFMT_AWQ_GEMM
           : f == AWQ_SIZE_AWQ_GEMV ? AWQ_QFMT_AWQ_GEMV
           : f == AWQ_SIZE_GPTQ     ? AWQ_QFMT_GPTQ
                                    : AWQ_QFMT_GPTQ_V2;
}

bool awq_size_format_supported(awq_size_format f, int bits, int group_size, const char **why) {
    const char *w = NULL;
    if ((unsigned)f >= AWQ_SIZE_FORMAT_COUNT) w = "unknown format";
    else if (!awq_size_format_is_grouped(f)) w = NULL;
    else if (!bits_ok(bits)) w = "bits must be 2, 3, 4 or 8";
    else if (group_size != -1 && group_size < 1) w = "group size must be -1 or > 0";
    else if ((f == AWQ_SIZE_AWQ || f == AWQ_SIZE_AWQ_GEMV) && bits != AWQ_LAY_AWQ_BITS)
        w = "AWQ layouts are 4-bit only";
    else if (f == AWQ_SIZE_AWQ_GEMV && group_size != -1 && group_size != 32 && group_size != 64 &&
             group_size < 128)
        w = "AWQ GEMV needs group size 32, 64 or >= 128 (AutoAWQ calculate_zeros_width)";
    if (why) *why = w;
    return w == NULL;
}

bool awq_size_packable(awq_size_format f, int bits, int group_size, int64_t K, int64_t N,
                       const char **why) {
    if (why) *why = NULL;
    if (K <= 0 || N <= 0 || K > AWQ_LAY_MAX_DIM || N > AWQ_LAY_MAX_DIM) {
        if (why) *why = "dimensions out of range";
        return false;
    }
    if (!awq_size_format_is_grouped(f)) return true;
    if (!awq_size_format_supported(f, bits, group_size, why)) return false;
    /* Serving kernels (vLLM's AWQ / GPTQ / Marlin) need whole groups, even
     * where GPTQ's file format could store a partial last group. */
    if (group_size > 0 && K % group_size) {
        if (why) *why = "K is not a multiple of the group size";
        return false;
    }
    return awq_linear_packable(qfmt(f), K, N, bits, group_size, why);
}

uint64_t awq_size_linear_bytes(awq_size_format f, int bits, int group_size, int64_t K, int64_t N) {
    if (!awq_size_packable(f, bits, group_size, K, N, NULL)) return 0;
    uint64_t k = (uint64_t)K, n = (uint64_t)N;
    switch (f) {
    case AWQ_SIZE_FP32: return k * n * 4;
    case AWQ_SIZE_FP16:
    case AWQ_SIZE_BF16: return k * n * 2;
    case AWQ_SIZE_FP8: return k * n + 4;
    case AWQ_SIZE_INT8: return k * n + n * 2;
    default: break;
    }
    /* The packed tensors exactly as layouts.h shapes them. */
    awq_lay_shapes sh;
    if (awq_lay_get_shapes((int)qfmt(f), K, N, bits, group_size, &sh) != AWQ_LAY_OK) return 0;
    uint64_t words = (uint64_t)sh.qweight[0] * (uint64_t)sh.qweight[1] +
                     (uint64_t)sh.qzeros[0] * (uint64_t)sh.qzeros[1] + (uint64_t)sh.g_idx;
    return words * 4 + (uint64_t)sh.scales[0] * (uint64_t)sh.scales[1] * 2;
}

/* ----------------------------------------------------------- accumulation */

#define NOTE(r, ...) awq_note_add((r)->notes, &(r)->n_notes, AWQ_SIZE_MAX_NOTES, __VA_ARGS__)

static awq_status check_params(awq_ctx *ctx, const awq_size_params *p) {
    if (!bits_ok(p->bits))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "bits %d: must be 2, 3, 4 or 8", p->bits);
    if (!(p->group_size == -1 || p->group_size > 0))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "group_size %d: must be -1 (per channel) or > 0", p->group_size);
    if (p->context < 0 || p->batch < 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "context and batch must be >= 0");
    if (p->kv_dtype != AWQ_DT_F16 && p->kv_dtype != AWQ_DT_BF16 && p->kv_dtype != AWQ_DT_F8_E4M3 &&
        p->kv_dtype != AWQ_DT_F8_E5M2)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "kv dtype must be F16, BF16 or F8");
    if (!(p->overhead_frac >= 0 && p->overhead_frac <= 10))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "overhead fraction %g out of [0, 10]", p->overhead_frac);
    return AWQ_OK;
}

static void init_result(awq_size_result *r, const awq_size_params *p) {
    memset(r, 0, sizeof *r);
    for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++) {
        awq_size_format_result *fr = &r->formats[f];
        fr->format = (awq_size_format)f;
        fr->fits = -1;
        fr->supported = awq_size_format_supported(fr->format, p->bits, p->group_size,
                                                  &fr->unsupported_why);
    }
}

/* One linear into every format. */
static void add_linear(awq_size_result *r, const awq_size_params *p, int64_t K, int64_t N) {
    r->n_linears++;
    uint64_t kn = (uint64_t)K * (uint64_t)N;
    r->linear_params += kn;
    for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++) {
        awq_size_format_result *fr = &r->formats[f];
        if (!fr->supported) continue;
        uint64_t b = awq_size_linear_bytes((awq_size_format)f, p->bits, p->group_size, K, N);
        if (b) {
            fr->linear_bytes += b;
            fr->packed_params += kn;
            fr->n_packed++;
        } else {
            fr->other_bytes += kn * 2;
            fr->n_unpackable++;
        }
    }
}

/* Elements kept unquantized: 16-bit, 32-bit in the FP32 format. */
static void add_other(awq_size_result *r, uint64_t elements) {
    for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++)
        r->formats[f].other_bytes += elements * (f == AWQ_SIZE_FP32 ? 4u : 2u);
}

static void finish(awq_size_result *r, const awq_size_params *p, uint64_t kv) {
    for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++) {
        awq_size_format_result *fr = &r->formats[f];
        if (!fr->supported) {
            fr->linear_bytes = fr->other_bytes = 0;
            continue;
        }
        fr->weight_bytes = fr->linear_bytes + fr->other_bytes;
        if (!r->exact)
            fr->bits_per_weight = awq_size_bits_per_weight(fr->format, p->bits, p->group_size);
        else if (fr->packed_params)
            fr->bits_per_weight = 8.0 * (double)fr->linear_bytes / (double)fr->packed_params;
        fr->kv_bytes = kv;
        double base = (double)fr->weight_bytes + (double)kv;
        fr->overhead_bytes = p->overhead_fixed_bytes + (uint64_t)llround(p->overhead_frac * base);
        fr->serving_bytes = fr->weight_bytes + kv + fr->overhead_bytes;
        if (p->vram_bytes) fr->fits = fr->serving_bytes <= p->vram_bytes ? 1 : 0;
    }
}

/* A note for a linear shape that some supported grouped format cannot
 * pack: which formats, and why. Returns whether it noted anything. */
static bool note_unpackable(awq_size_result *r, const awq_size_params *p, const char *name,
                            int64_t K, int64_t N, uint64_t count) {
    char fmts[96] = "";
    const char *why = NULL;
    size_t o = 0;
    for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++) {
        const awq_size_format_result *fr = &r->formats[f];
        const char *w = NULL;
        if (!fr->supported || !awq_size_format_is_grouped(fr->format)) continue;
        if (awq_size_packable(fr->format, p->bits, p->group_size, K, N, &w)) continue;
        if (!why) why = w;
        o += (size_t)snprintf(fmts + o, o < sizeof fmts ? sizeof fmts - o : 0, "%s%s",
                              o ? ", " : "", awq_size_format_name(fr->format));
        if (o >= sizeof fmts) o = sizeof fmts - 1;
    }
    if (!why) return false;
    NOTE(r, "%s [K %lld -> N %lld] (%llu linear%s of this shape) stay%s 16-bit in %s: %s "
            "(group size %d, %d-bit)",
         name, (long long)K, (long long)N, (unsigned long long)count, count == 1 ? "" : "s",
         count == 1 ? "s" : "", fmts, why, p->group_size, p->bits);
    return true;
}

static uint64_t kv_per_token(const awq_model_config *cfg, const awq_size_params *p) {
    uint64_t eb = awq_dtype_size(p->kv_dtype);
    if (cfg->n_layers <= 0 || cfg->n_kv_heads <= 0 || cfg->head_dim <= 0) return 0;
    return 2ull * (uint64_t)cfg->n_layers * (uint64_t)cfg->n_kv_heads * (uint64_t)cfg->head_dim * eb;
}

static awq_status kv_total(awq_ctx *ctx, awq_size_result *r, const awq_size_params *p,
                           uint64_t *kv) {
    uint64_t t;
    if (!awq_mul_u64(r->kv_bytes_per_token, (uint64_t)p->context, &t) ||
        !awq_mul_u64(t, (uint64_t)p->batch, &t))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "KV cache for context %lld x batch %lld overflows",
                        (long long)p->context, (long long)p->batch);
    *kv = t;
    return AWQ_OK;
}

awq_status awq_size_from_params(awq_ctx *ctx, double n_params, const awq_size_params *p,
                                awq_size_result *r) {
    init_result(r, p);
    AWQ_TRY(check_params(ctx, p));
    if (!(n_params > 0 && n_params < 1e15))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "parameter count %g out of (0, 1e15)", n_params);
    r->params = n_params;
    for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++) {
        awq_size_format_result *fr = &r->formats[f];
        if (!fr->supported) continue;
        double bpw = awq_size_bits_per_weight((awq_size_format)f, p->bits, p->group_size);
        fr->linear_bytes = (uint64_t)llround(n_params * bpw / 8.0);
    }
    finish(r, p, 0);
    NOTE(r, "every parameter counted at the format's bits per weight (scales and zeros "
            "included); embeddings and norms that stay 16-bit, GPTQ g_idx and GEMV padding "
            "need the architecture: give a MODEL_DIR for exact bytes");
    NOTE(r, "no KV cache without an architecture; serving = weights + overhead");
    return AWQ_OK;
}

/* Linears of the decoder for cfg: the arch table's list, or the Llama set.
 * Biases: the table's (Qwen2: q/k/v), else Llama's attention_bias (q, k,
 * v and o) and mlp_bias (gate, up, down), as transformers builds them. */
static void decoder_linears(const awq_model_config *cfg, awq_linear_desc *out, int *n) {
    static const awq_linear_desc llama[7] = {
        {"self_attn.q_proj", AWQ_DIM_HIDDEN, AWQ_DIM_Q, false, AWQ_LIN_KIND_Q},
        {"self_attn.k_proj", AWQ_DIM_HIDDEN, AWQ_DIM_KV, false, AWQ_LIN_KIND_K},
        {"self_attn.v_proj", AWQ_DIM_HIDDEN, AWQ_DIM_KV, false, AWQ_LIN_KIND_V},
        {"self_attn.o_proj", AWQ_DIM_Q, AWQ_DIM_HIDDEN, false, AWQ_LIN_KIND_O},
        {"mlp.gate_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false, AWQ_LIN_KIND_GATE},
        {"mlp.up_proj", AWQ_DIM_HIDDEN, AWQ_DIM_INTER, false, AWQ_LIN_KIND_UP},
        {"mlp.down_proj", AWQ_DIM_INTER, AWQ_DIM_HIDDEN, false, AWQ_LIN_KIND_DOWN},
    };
    bool table_bias = false;
    if (cfg->arch && cfg->arch->n_linears > 0) {
        *n = cfg->arch->n_linears;
        memcpy(out, cfg->arch->linears, sizeof(awq_linear_desc) * (size_t)*n);
        for (int i = 0; i < *n; i++) table_bias |= out[i].bias;
    } else {
        *n = 7;
        memcpy(out, llama, sizeof llama);
    }
    for (int i = 0; i < *n; i++) {
        bool attn = out[i].kind <= AWQ_LIN_KIND_O || out[i].kind == AWQ_LIN_KIND_QKV;
        if (attn && !table_bias && cfg->attention_bias) out[i].bias = true;
        if (!attn && cfg->mlp_bias) out[i].bias = true;
    }
}

static bool is_vl(const awq_model_config *cfg) {
    return (cfg->arch && cfg->arch->is_vl) || strstr(cfg->model_type, "_vl") ||
           strstr(cfg->architecture, "VL");
}

awq_status awq_size_from_config(awq_ctx *ctx, const awq_model_config *cfg,
                                const awq_size_params *p, awq_size_result *r) {
    init_result(r, p);
    AWQ_TRY(check_params(ctx, p));
    if (cfg->hidden <= 0 || cfg->n_layers <= 0 || cfg->vocab <= 0 || cfg->intermediate <= 0 ||
        cfg->hidden > (1LL << 24) || cfg->n_layers > (1LL << 16) || cfg->vocab > (1LL << 26) ||
        cfg->intermediate > (1LL << 26))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "config dims out of range (hidden %lld, layers %lld, vocab %lld, "
                        "intermediate %lld)",
                        (long long)cfg->hidden, (long long)cfg->n_layers, (long long)cfg->vocab,
                        (long long)cfg->intermediate);
    r->exact = true;
    awq_linear_desc lin[AWQ_MAX_LINEARS];
    int nl = 0;
    decoder_linears(cfg, lin, &nl);
    if (!cfg->arch)
        NOTE(r, "architecture '%s' not in awqkit's table: assumed the Llama linears "
                "(q, k, v, o, gate, up, down)",
             cfg->architecture);
    const awq_moe_desc *moe = cfg->arch ? cfg->arch->moe : NULL;
    if (cfg->is_moe && !moe) NOTE(r, "mixture-of-experts config: experts are not counted");
    uint64_t L = (uint64_t)cfg->n_layers;
    uint64_t other = 0;
    /* MoE layers (the table's MoE entries): the dense MLP linears only in
     * the dense layers; the experts (and a shared expert) are quantizable
     * linears, the router and the shared expert's gate stay 16-bit */
    uint64_t L_moe = 0;
    for (uint64_t l = 0; moe && l < L; l++) L_moe += awq_model_layer_moe(cfg, (int64_t)l);
    for (int i = 0; i < nl; i++) {
        int64_t K = awq_model_dim(cfg, lin[i].in_dim), N = awq_model_dim(cfg, lin[i].out_dim);
        if (K <= 0 || N <= 0 || K > (1LL << 26) || N > (1LL << 26))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s: dims [%lld -> %lld] out of range",
                            lin[i].name, (long long)K, (long long)N);
        bool mlp = !awq_arch_linear_is_attn(cfg->arch, i);
        uint64_t Ln = (moe && mlp) ? L - L_moe : L;
        for (uint64_t l = 0; l < Ln; l++) add_linear(r, p, K, N);
        if (Ln) note_unpackable(r, p, lin[i].name, K, N, Ln);
        if (lin[i].bias) other += Ln * (uint64_t)N;
    }
    if (moe && L_moe) {
        int64_t H = cfg->hidden, I = cfg->moe_intermediate, SI = cfg->shared_intermediate;
        uint64_t n_exp = L_moe * (uint64_t)cfg->n_experts;
        for (uint64_t e = 0; e < n_exp; e++) {
            add_linear(r, p, H, I);
            add_linear(r, p, H, I);
            add_linear(r, p, I, H);
        }
        note_unpackable(r, p, "experts.*.gate/up", H, I, 2 * n_exp);
        note_unpackable(r, p, "experts.*.down", I, H, n_exp);
        for (uint64_t l = 0; SI > 0 && l < L_moe; l++) {
            add_linear(r, p, H, SI);
            add_linear(r, p, H, SI);
            add_linear(r, p, SI, H);
        }
        other += L_moe * (uint64_t)(cfg->n_experts + (SI > 0 ? 1 : 0)) * (uint64_t)H;
    }
    uint64_t H = (uint64_t)cfg->hidden, V = (uint64_t)cfg->vocab;
    other += V * H;                        /* embed_tokens */
    if (!cfg->tie_word_embeddings) other += V * H; /* lm_head */
    other += L * 2 * H + H;                /* two RMSNorms per layer + final norm */
    if (cfg->arch && cfg->arch->sandwich_norms) other += L * 2 * H; /* Gemma's other two */
    if (cfg->arch && cfg->arch->qk_norm) other += L * 2 * (uint64_t)cfg->head_dim;
    add_other(r, other);
    r->params = (double)(r->linear_params + other);
    r->kv_bytes_per_token = kv_per_token(cfg, p);
    uint64_t kv = 0;
    AWQ_TRY(kv_total(ctx, r, p, &kv));
    finish(r, p, kv);
    if (is_vl(cfg)) {
        r->vision_missing = true;
        NOTE(r, "vision-language config: the vision tower is not in these figures (its shapes "
                "need the checkpoint: give the model directory with its safetensors)");
    }
    return AWQ_OK;
}

awq_status awq_size_from_checkpoint(awq_ctx *ctx, const awq_checkpoint *ck,
                                    const awq_size_params *p, awq_size_result *r) {
    init_result(r, p);
    AWQ_TRY(check_params(ctx, p));
    awq_scan s;
    awq_status st = awq_scan_checkpoint(ctx, ck, &s);
    if (st != AWQ_OK) {
        awq_scan_free(&s);
        return st;
    }
    r->exact = true;
    r->from_checkpoint = true;
    uint64_t other = 0, n_unres = 0;
    /* Unpackable linears, grouped by (K, N) for the notes. */
    struct { int64_t K, N; uint64_t n; const char *first; } bad[8];
    int nbad = 0;
    for (size_t i = 0; i < s.n_lin; i++) {
        const awq_scan_linear *L = &s.lin[i];
        if (L->role != AWQ_ROLE_LINEAR || L->pack == AWQ_PACK_UNKNOWN) continue;
        add_linear(r, p, L->K, L->N);
        bool all_ok = true;
        for (int f = 0; f < AWQ_SIZE_FORMAT_COUNT; f++)
            if (r->formats[f].supported &&
                !awq_size_packable((awq_size_format)f, p->bits, p->group_size, L->K, L->N, NULL))
                all_ok = false;
        if (!all_ok) {
            int j = 0;
            while (j < nbad && !(bad[j].K == L->K && bad[j].N == L->N)) j++;
            if (j == nbad && nbad < 8) {
                bad[nbad].K = L->K;
                bad[nbad].N = L->N;
                bad[nbad].n = 0;
                bad[nbad].first = awq_checkpoint_tensor(ck, (size_t)L->weight)->name;
                nbad++;
            }
            if (j < nbad) bad[j].n++;
        }
    }
    bool dropped_dup = false;
    for (size_t i = 0; i < s.n_tensors; i++) {
        const awq_scan_tensor *c = &s.t[i];
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        const awq_scan_linear *L = c->linear >= 0 ? &s.lin[c->linear] : NULL;
        if (c->part == AWQ_PART_DENSE_TWIN) continue; /* the quantized copy counts */
        if (c->part == AWQ_PART_TIED_DUP) {
            dropped_dup = true;
            continue;
        }
        bool qpart = awq_scan_part_is_quant(c->part);
        if (L && L->role == AWQ_ROLE_LINEAR && L->pack != AWQ_PACK_UNKNOWN &&
            (qpart || c->part == AWQ_PART_DENSE_WEIGHT))
            continue; /* counted as a linear above */
        if (L && qpart && L->pack == AWQ_PACK_UNKNOWN) {
            if (c->part == AWQ_PART_QWEIGHT) n_unres++;
            other += t->n_elements;
            continue;
        }
        if (L && qpart && c->part == AWQ_PART_QWEIGHT) {
            /* a packed lm_head / vision linear: kept 16-bit at K x N */
            other += L->logical;
            continue;
        }
        if (L && qpart) continue;
        other += t->n_elements;
    }
    /* Hostile headers can declare sparse tensors of any size: keep every
     * product below 2^64 (x4 bytes for FP32, 10% overhead). */
    if (other > (1ull << 58) || r->linear_params > (1ull << 58)) {
        awq_scan_free(&s);
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: %llu parameters is beyond any real model",
                        awq_checkpoint_dir(ck), (unsigned long long)(other + r->linear_params));
    }
    add_other(r, other);
    r->params = (double)(r->linear_params + other);
    for (int j = 0; j < nbad; j++) note_unpackable(r, p, bad[j].first, bad[j].K, bad[j].N, bad[j].n);
    if (n_unres)
        NOTE(r, "%llu packed linears fit no known layout: counted as stored, kept as they are",
             (unsigned long long)n_unres);
    if (dropped_dup)
        NOTE(r, "lm_head.weight is stored but tied to the embeddings: counted once");
    awq_model_config cfg;
    awq_status cs = awq_model_config_from_checkpoint(ctx, ck, &cfg);
    if (cs == AWQ_OK) {
        r->kv_bytes_per_token = kv_per_token(&cfg, p);
    } else {
        NOTE(r, "no usable config.json (%s): KV cache not computed", awq_ctx_errmsg(ctx));
        awq_clear_error(ctx);
    }
    awq_scan_free(&s);
    uint64_t kv = 0;
    AWQ_TRY(kv_total(ctx, r, p, &kv));
    finish(r, p, kv);
    return AWQ_OK;
}
