/*
 * lib/model/synth.c — synthetic checkpoints (see include/awqkit/synth.h for
 * what is written and why). Packed formats are laid out through
 * lib/quant/layouts.h (shapes, field positions) and quant.h
 * (quantization_config), so they can never drift from what the packers
 * and loaders expect.
 */
#include "awqkit/synth.h"

#include "awqkit/checkpoint.h"
#include "awqkit/model.h"
#include "core/core.h"
#include "model/synth_mla.h"
#include "quant/layouts.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- presets */

awq_synth_params awq_synth_default_params(void) {
    awq_synth_params p;
    memset(&p, 0, sizeof p);
    awq_synth_preset(NULL, "tiny", &p);
    p.dtype = AWQ_DT_F16;
    p.seed = 0;
    p.n_outliers = 4;
    p.outlier_scale = 20.0;
    p.max_shard_bytes = 5000000000ull;
    p.quantized = false;
    p.qformat = AWQ_QFMT_AWQ_GEMM;
    p.bits = 4;
    p.group_size = 128;
    p.n_experts = 8;
    p.n_experts_per_tok = 2;
    return p;
}

const char *awq_synth_preset_list(void) { return "tiny, 0.5b, 7b, 70b-layer, qwen2.5-vl-3b"; }

static void set_dims(awq_synth_params *p, const char *arch, int64_t h, int64_t inter,
                     int64_t layers, int64_t heads, int64_t kv, int64_t vocab, bool tie,
                     int64_t max_pos, double theta, double eps) {
    p->arch = arch;
    p->hidden = h;
    p->intermediate = inter;
    p->n_layers = layers;
    p->n_heads = heads;
    p->n_kv_heads = kv;
    p->head_dim = 0;
    p->vocab = vocab;
    p->tie_word_embeddings = tie;
    p->max_pos = max_pos;
    p->rope_theta = theta;
    p->rms_eps = eps;
    /* A small tower for any qwen2.5-vl shape; the 3B preset sets the real one. */
    p->vision_depth = 2;
    p->vision_hidden = 64;
    p->vision_intermediate = 128;
    p->vision_heads = 2;
}

awq_status awq_synth_preset(awq_ctx *ctx, const char *name, awq_synth_params *p) {
    if (!name || !p) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "synth preset: NULL argument");
    if (strcmp(name, "tiny") == 0) {
        set_dims(p, "llama", 256, 768, 6, 4, 2, 4096, false, 2048, 10000.0, 1e-5);
    } else if (strcmp(name, "0.5b") == 0) {
        set_dims(p, "qwen2", 896, 4864, 24, 14, 2, 151936, true, 32768, 1000000.0, 1e-6);
    } else if (strcmp(name, "7b") == 0) {
        set_dims(p, "llama", 4096, 11008, 32, 32, 32, 32000, false, 4096, 10000.0, 1e-5);
    } else if (strcmp(name, "70b-layer") == 0) {
        set_dims(p, "llama", 8192, 28672, 2, 64, 8, 32000, false, 4096, 10000.0, 1e-5);
    } else if (strcmp(name, "qwen2.5-vl-3b") == 0) {
        set_dims(p, "qwen2.5-vl", 2048, 11008, 36, 16, 2, 151936, true, 128000, 1000000.0, 1e-6);
        p->vision_depth = 32;
        p->vision_hidden = 1280;
        p->vision_intermediate = 3420;
        p->vision_heads = 16;
    } else {
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown synth preset '%s' (presets: %s)", name,
                        awq_synth_preset_list());
    }
    return AWQ_OK;
}

typedef struct {
    const char *name;          /* --arch spelling */
    const char *hf_name;       /* arch table key */
    const char *model_type;
    bool vision;               /* a Qwen2.5-VL tower */
    bool siglip;               /* a SigLIP tower + Gemma 3 projector */
} arch_map;

static const arch_map k_archs[] = {
    {"llama", "LlamaForCausalLM", "llama", false, false},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", false, false},
    {"qwen3", "Qwen3ForCausalLM", "qwen3", false, false},
    {"qwen2.5-vl", "Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl", true, false},
    {"phi3", "Phi3ForCausalLM", "phi3", false, false},
    {"gemma2", "Gemma2ForCausalLM", "gemma2", false, false},
    {"gemma3", "Gemma3ForCausalLM", "gemma3_text", false, false},
    {"gemma3-vl", "Gemma3ForConditionalGeneration", "gemma3", false, true},
    {"mixtral", "MixtralForCausalLM", "mixtral", false, false},
    {"qwen2-moe", "Qwen2MoeForCausalLM", "qwen2_moe", false, false},
    {"qwen3-moe", "Qwen3MoeForCausalLM", "qwen3_moe", false, false},
    {"deepseek-v2", "DeepseekV2ForCausalLM", "deepseek_v2", false, false},
    {"deepseek-v3", "DeepseekV3ForCausalLM", "deepseek_v3", false, false},
};

#define SYNTH_ARCHS                                                                         \
    "llama, qwen2, qwen3, qwen2.5-vl, phi3, gemma2, gemma3, gemma3-vl, mixtral, qwen2-moe, " \
    "qwen3-moe, deepseek-v2, deepseek-v3"

static const arch_map *find_arch(const char *name) {
    for (size_t i = 0; name && i < AWQ_ARRAY_LEN(k_archs); i++)
        if (strcmp(k_archs[i].name, name) == 0) return &k_archs[i];
    return NULL;
}

/* ---------------------------------------------------------------- PRNG */

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* splitmix64: one add and a mix per 64 bits; streams are independent
 * enough for synthetic weights and trivially seekable by seed. */
static inline uint64_t next64(uint64_t *s) {
    *s += 0x9E3779B97F4A7C15ull;
    return mix64(*s);
}

static uint64_t hash_str(uint64_t seed, const char *s) {
    uint64_t h = 0xcbf29ce484222325ull ^ mix64(seed + 0x1234567ull);
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return mix64(h);
}

/* Irwin–Hall(4) from one 64-bit draw: the sum of four 16-bit uniforms,
 * kept to 16 bits (a in [0, 65535]) so a 64K-entry table can map it
 * straight to FP16/BF16 bits; z(a) has mean 0, variance 1, |z| < 3.47.
 * 2^16 levels over ±3.5σ are far finer than FP16's 11-bit mantissa. */
#define IH_MEAN 32767.5f
#define IH_INV_SD (1.0f / 9459.3f)
static inline uint32_t ih_index(uint64_t *s) {
    uint64_t r = next64(s);
    return ((uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) +
            (uint32_t)((r >> 32) & 0xffff) + (uint32_t)(r >> 48)) >> 2;
}
static inline float ih_z(uint32_t a) { return ((float)a - IH_MEAN) * IH_INV_SD; }
static inline float normal01(uint64_t *s) { return ih_z(ih_index(s)); }

static inline float uniform01(uint64_t *s) { return (float)(next64(s) >> 40) * (1.0f / 16777216.0f); }

/* -------------------------------------------------------- tensor specs */

typedef enum { G_NORMAL, G_NORM, G_QWEIGHT, G_QZEROS, G_SCALES, G_GIDX } gen_kind;

typedef struct {
    char name[192];
    awq_dtype dtype;
    int ndim;
    int64_t shape[5];
    uint64_t n_elements, n_bytes;
    gen_kind kind;
    float std;
    bool outlier_cols;         /* embed: hidden outlier columns x4 */
    bool outlier_rows;         /* up_proj: intermediate outlier rows */
    bool hidden_norm;          /* a norm over the hidden dim: outliers */
    float norm_offset;         /* G_NORM: stored = effective - offset (Gemma
                                  multiplies by 1 + w) */
    int64_t outlier_row0;      /* outlier_rows: rows [row0, row0 + inter) are
                                  the up rows (a fused gate_up: row0 = inter) */
    /* packed parts */
    awq_qformat fmt;
    int64_t K, N;
    int bits, group;
    uint64_t logical;          /* parameters this tensor stands for */
} tspec;

typedef struct {
    tspec *v;
    size_t n, cap;
    bool oom;
} tlist;

static tspec *tl_add(tlist *l, awq_dtype dt, int ndim, const int64_t *shape, gen_kind kind,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static tspec *tl_add(tlist *l, awq_dtype dt, int ndim, const int64_t *shape, gen_kind kind,
                     const char *fmt, ...) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        tspec *p = realloc(l->v, nc * sizeof *p);
        if (!p) {
            l->oom = true;
            return NULL;
        }
        l->v = p;
        l->cap = nc;
    }
    tspec *t = &l->v[l->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->dtype = dt;
    t->ndim = ndim;
    t->n_elements = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->n_elements *= (uint64_t)shape[i];
    }
    t->n_bytes = t->n_elements * awq_dtype_size(dt);
    t->logical = t->n_elements;
    t->kind = kind;
    t->std = 0.02f;
    return t;
}

static tspec *add1(tlist *l, awq_dtype dt, int64_t a, gen_kind k, const char *name) {
    int64_t s[1] = {a};
    return tl_add(l, dt, 1, s, k, "%s", name);
}

static tspec *add2(tlist *l, awq_dtype dt, int64_t a, int64_t b, gen_kind k, const char *name) {
    int64_t s[2] = {a, b};
    return tl_add(l, dt, 2, s, k, "%s", name);
}

typedef struct {
    const awq_synth_params *p;
    const arch_map *am;
    const awq_arch *arch;
    int64_t head_dim;
    int64_t moe_inter, shared_inter; /* MoE widths (resolved defaults) */
    const char *prefix;        /* decoder tensors: "model." or (Gemma 3 VL, the
                                  Hub layout) "language_model.model." */
    const char *lm_head;
} plan_ctx;

/* A linear `prefix` of K -> N: dense weight, or the packed tensors.
 * outlier_rows: rows from outlier_row0 on carry the intermediate outliers. */
static awq_status add_linear_at(awq_ctx *ctx, tlist *l, const plan_ctx *pc, const char *prefix,
                                int64_t K, int64_t N, bool bias, bool packed, float std,
                                bool outlier_rows, int64_t outlier_row0) {
    const awq_synth_params *p = pc->p;
    char nm[192];
    if (!packed) {
        snprintf(nm, sizeof nm, "%s.weight", prefix);
        tspec *t = add2(l, p->dtype, N, K, G_NORMAL, nm);
        if (t) {
            t->std = std;
            t->outlier_rows = outlier_rows;
            t->outlier_row0 = outlier_row0;
        }
    } else {
        const char *why = NULL;
        if (!awq_linear_packable(p->qformat, K, N, p->bits, p->group_size, &why))
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s [K %lld -> N %lld] cannot be stored as %s: %s",
                            prefix, (long long)K, (long long)N,
                            awq_format_get(p->qformat)->name, why ? why : "not packable");
        if (p->group_size > 0 && K % p->group_size)
            return awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                            "%s: K = %lld is not a multiple of group size %d (serving kernels "
                            "need whole groups)",
                            prefix, (long long)K, p->group_size);
        awq_packed pk;
        AWQ_TRY(awq_packed_shapes(ctx, p->qformat, K, N, p->bits, p->group_size, &pk));
        for (int i = 0; i < pk.n_tensors; i++) {
            const awq_packed_tensor *pt = &pk.t[i];
            gen_kind k = i == AWQ_PT_QWEIGHT  ? G_QWEIGHT
                         : i == AWQ_PT_QZEROS ? G_QZEROS
                         : i == AWQ_PT_SCALES ? G_SCALES
                                              : G_GIDX;
            tspec *t = tl_add(l, pt->dtype, pt->ndim, pt->shape, k, "%s.%s", prefix, pt->suffix);
            if (!t) break;
            t->fmt = p->qformat;
            t->K = K;
            t->N = N;
            t->bits = p->bits;
            t->group = p->group_size;
            t->logical = i == AWQ_PT_QWEIGHT ? (uint64_t)K * (uint64_t)N : 0;
        }
    }
    if (bias) {
        snprintf(nm, sizeof nm, "%s.bias", prefix);
        add1(l, p->dtype, N, G_NORMAL, nm);
    }
    return AWQ_OK;
}

static awq_status add_linear(awq_ctx *ctx, tlist *l, const plan_ctx *pc, const char *prefix,
                             int64_t K, int64_t N, bool bias, bool packed, float std,
                             bool outlier_rows) {
    return add_linear_at(ctx, l, pc, prefix, K, N, bias, packed, std, outlier_rows, 0);
}

/* A norm over the hidden dim of layer L, with the outlier channels when
 * `outliers` (the norms the scaling groups fold into). */
static void add_norm(tlist *l, const plan_ctx *pc, int64_t L, const char *what, int64_t n,
                     bool outliers) {
    char pre[160];
    snprintf(pre, sizeof pre, "%slayers.%lld.%s.weight", pc->prefix, (long long)L, what);
    tspec *t = add1(l, pc->p->dtype, n, G_NORM, pre);
    if (t) {
        t->hidden_norm = outliers;
        t->norm_offset = pc->arch->norm_offset;
    }
}

static awq_status add_vision(awq_ctx *ctx, tlist *l, const plan_ctx *pc) {
    const awq_synth_params *p = pc->p;
    int64_t vh = p->vision_hidden, vi = p->vision_intermediate, mh = vh * 4;
    char pre[128];
    int64_t conv[5] = {vh, 3, 2, 14, 14};
    tl_add(l, p->dtype, 5, conv, G_NORMAL, "visual.patch_embed.proj.weight");
    for (int64_t b = 0; b < p->vision_depth; b++) {
        snprintf(pre, sizeof pre, "visual.blocks.%lld.norm1.weight", (long long)b);
        add1(l, p->dtype, vh, G_NORM, pre);
        snprintf(pre, sizeof pre, "visual.blocks.%lld.norm2.weight", (long long)b);
        add1(l, p->dtype, vh, G_NORM, pre);
        static const struct { const char *n; int k, o; } lin[] = {
            {"attn.qkv", 0, 3}, {"attn.proj", 0, 0}, {"mlp.gate_proj", 0, 1},
            {"mlp.up_proj", 0, 1}, {"mlp.down_proj", 1, 0}};
        for (size_t i = 0; i < AWQ_ARRAY_LEN(lin); i++) {
            int64_t K = lin[i].k ? vi : vh;
            int64_t N = lin[i].o == 3 ? 3 * vh : lin[i].o == 1 ? vi : vh;
            snprintf(pre, sizeof pre, "visual.blocks.%lld.%s", (long long)b, lin[i].n);
            AWQ_TRY(add_linear(ctx, l, pc, pre, K, N, true, false, 0.02f, false));
        }
    }
    add1(l, p->dtype, vh, G_NORM, "visual.merger.ln_q.weight");
    AWQ_TRY(add_linear(ctx, l, pc, "visual.merger.mlp.0", mh, mh, true, false, 0.02f, false));
    AWQ_TRY(add_linear(ctx, l, pc, "visual.merger.mlp.2", mh, p->hidden, true, false, 0.02f, false));
    return AWQ_OK;
}

/* Gemma 3's SigLIP tower and projector, kept dense, named as the Hub's
 * checkpoints name them (vision_tower.vision_model.*,
 * multi_modal_projector.*): patch 14 on 224 px images (256 patches), the
 * vision_* dims of the params. */
static awq_status add_siglip(awq_ctx *ctx, tlist *l, const plan_ctx *pc) {
    const awq_synth_params *p = pc->p;
    int64_t vh = p->vision_hidden, vi = p->vision_intermediate;
    char pre[160];
    int64_t conv[4] = {vh, 3, 14, 14};
    tl_add(l, p->dtype, 4, conv, G_NORMAL, "vision_tower.vision_model.embeddings.patch_embedding.weight");
    add1(l, p->dtype, vh, G_NORMAL, "vision_tower.vision_model.embeddings.patch_embedding.bias");
    add2(l, p->dtype, 256, vh, G_NORMAL, "vision_tower.vision_model.embeddings.position_embedding.weight");
    for (int64_t b = 0; b < p->vision_depth; b++) {
        static const char *const norms[] = {"layer_norm1", "layer_norm2"};
        for (int k = 0; k < 2; k++) {
            snprintf(pre, sizeof pre, "vision_tower.vision_model.encoder.layers.%lld.%s.weight",
                     (long long)b, norms[k]);
            add1(l, p->dtype, vh, G_NORM, pre);
            snprintf(pre, sizeof pre, "vision_tower.vision_model.encoder.layers.%lld.%s.bias",
                     (long long)b, norms[k]);
            add1(l, p->dtype, vh, G_NORMAL, pre);
        }
        static const struct { const char *n; int k, o; } lin[] = {
            {"self_attn.q_proj", 0, 0}, {"self_attn.k_proj", 0, 0}, {"self_attn.v_proj", 0, 0},
            {"self_attn.out_proj", 0, 0}, {"mlp.fc1", 0, 1}, {"mlp.fc2", 1, 0}};
        for (size_t i = 0; i < AWQ_ARRAY_LEN(lin); i++) {
            snprintf(pre, sizeof pre, "vision_tower.vision_model.encoder.layers.%lld.%s",
                     (long long)b, lin[i].n);
            AWQ_TRY(add_linear(ctx, l, pc, pre, lin[i].k ? vi : vh, lin[i].o ? vi : vh, true, false,
                               0.02f, false));
        }
    }
    add1(l, p->dtype, vh, G_NORM, "vision_tower.vision_model.post_layernorm.weight");
    add1(l, p->dtype, vh, G_NORMAL, "vision_tower.vision_model.post_layernorm.bias");
    add2(l, p->dtype, vh, p->hidden, G_NORMAL, "multi_modal_projector.mm_input_projection_weight");
    tspec *t = add1(l, p->dtype, vh, G_NORM, "multi_modal_projector.mm_soft_emb_norm.weight");
    if (t) t->norm_offset = 1.0f;
    return AWQ_OK;
}

/* A MoE layer's router (dense), experts and shared expert. */
static awq_status add_experts(awq_ctx *ctx, tlist *l, const plan_ctx *pc, int64_t L,
                              float out_std) {
    const awq_synth_params *p = pc->p;
    const awq_moe_desc *d = pc->arch->moe;
    int64_t H = p->hidden, I = pc->moe_inter;
    char pre[192];
    snprintf(pre, sizeof pre, "%slayers.%lld.%s.weight", pc->prefix, (long long)L, d->router);
    add2(l, p->dtype, p->n_experts, H, G_NORMAL, pre);
    for (int64_t e = 0; e < p->n_experts; e++)
        for (int k = 0; k < 3; k++) {
            snprintf(pre, sizeof pre, "%slayers.%lld.%s.%lld.%s", pc->prefix, (long long)L, d->experts,
                     (long long)e, d->expert_linears[k]);
            /* up rows carry the intermediate outliers, as a dense up_proj's
             * (the mask covers intermediate rows) */
            AWQ_TRY(add_linear(ctx, l, pc, pre, k == 2 ? I : H, k == 2 ? H : I, false,
                               p->quantized, k == 2 ? out_std : 0.02f,
                               k == 1 && I <= p->intermediate));
        }
    if (d->shared_expert && pc->shared_inter > 0) {
        static const char *const parts[3] = {"gate_proj", "up_proj", "down_proj"};
        int64_t S = pc->shared_inter;
        for (int k = 0; k < 3; k++) {
            snprintf(pre, sizeof pre, "%slayers.%lld.%s.%s", pc->prefix, (long long)L, d->shared_expert,
                     parts[k]);
            AWQ_TRY(add_linear(ctx, l, pc, pre, k == 2 ? S : H, k == 2 ? H : S, false,
                               p->quantized, k == 2 ? out_std : 0.02f,
                               k == 1 && S <= p->intermediate));
        }
        if (d->shared_gate) {
            snprintf(pre, sizeof pre, "%slayers.%lld.%s.weight", pc->prefix, (long long)L,
                     d->shared_gate);
            add2(l, p->dtype, 1, H, G_NORMAL, pre);
        }
    }
    if (d->router_bias) {
        snprintf(pre, sizeof pre, "%slayers.%lld.%s.e_score_correction_bias", pc->prefix,
                 (long long)L, d->router);
        tspec *t = add1(l, p->dtype, p->n_experts, G_NORMAL, pre);
        if (t) t->std = 0.02f;
    }
    return AWQ_OK;
}

/* Tensors in the order transformers' state_dict lists them. */
static awq_status plan(awq_ctx *ctx, const plan_ctx *pc, tlist *l) {
    const awq_synth_params *p = pc->p;
    if (pc->am->vision) AWQ_TRY(add_vision(ctx, l, pc));
    if (pc->am->siglip) AWQ_TRY(add_siglip(ctx, l, pc));
    char top[96];
    snprintf(top, sizeof top, "%sembed_tokens.weight", pc->prefix);
    tspec *e = add2(l, p->dtype, p->vocab, p->hidden, G_NORMAL, top);
    if (e) e->outlier_cols = true;
    awq_model_config mc;
    memset(&mc, 0, sizeof mc);
    mc.hidden = p->hidden;
    mc.intermediate = p->intermediate;
    mc.n_heads = p->n_heads;
    mc.n_kv_heads = p->n_kv_heads;
    mc.head_dim = pc->head_dim;
    if (pc->arch->mla) awq_synth_mla_dims(p, pc->head_dim, &mc);
    float out_std = (float)(0.02 / sqrt(2.0 * (double)p->n_layers));
    char pre[160];
    for (int64_t L = 0; L < p->n_layers && !l->oom; L++) {
        /* DeepSeek: the first first_k_dense layers are dense */
        const awq_moe_desc *moe =
            pc->arch->moe && (!pc->arch->mla || L >= p->first_k_dense) ? pc->arch->moe : NULL;
        if (moe) AWQ_TRY(add_experts(ctx, l, pc, L, out_std));
        for (int i = 0; i < pc->arch->n_linears; i++) {
            const awq_linear_desc *d = &pc->arch->linears[i];
            if (moe && !awq_arch_linear_is_attn(pc->arch, i)) continue; /* all layers sparse */
            snprintf(pre, sizeof pre, "%slayers.%lld.%s", pc->prefix, (long long)L, d->name);
            bool out_proj = d->kind == AWQ_LIN_KIND_O || d->kind == AWQ_LIN_KIND_DOWN;
            /* up rows: all of up_proj, the second half of a fused gate_up */
            bool up = d->kind == AWQ_LIN_KIND_UP || d->kind == AWQ_LIN_KIND_GATE_UP;
            AWQ_TRY(add_linear_at(ctx, l, pc, pre, awq_model_dim(&mc, d->in_dim),
                                  awq_model_dim(&mc, d->out_dim), d->bias, p->quantized,
                                  out_proj ? out_std : 0.02f, up,
                                  d->kind == AWQ_LIN_KIND_GATE_UP ? p->intermediate : 0));
        }
        if (pc->arch->mla) {
            if (mc.q_lora_rank)
                add_norm(l, pc, L, "self_attn.q_a_layernorm", mc.q_lora_rank, false);
            add_norm(l, pc, L, "self_attn.kv_a_layernorm", mc.kv_lora_rank, false);
        }
        if (pc->arch->qk_norm) {
            add_norm(l, pc, L, "self_attn.q_norm", pc->head_dim, false);
            add_norm(l, pc, L, "self_attn.k_norm", pc->head_dim, false);
        }
        /* outliers in the norms before q/k/v and gate/up (Gemma's
         * post_attention_layernorm normalizes the attention output) */
        bool sw = pc->arch->sandwich_norms;
        add_norm(l, pc, L, "input_layernorm", p->hidden, true);
        add_norm(l, pc, L, "post_attention_layernorm", p->hidden, !sw);
        if (sw) {
            add_norm(l, pc, L, "pre_feedforward_layernorm", p->hidden, true);
            add_norm(l, pc, L, "post_feedforward_layernorm", p->hidden, false);
        }
    }
    snprintf(top, sizeof top, "%snorm.weight", pc->prefix);
    tspec *fn = add1(l, p->dtype, p->hidden, G_NORM, top);
    if (fn) {
        fn->hidden_norm = true;
        fn->norm_offset = pc->arch->norm_offset;
    }
    if (!p->tie_word_embeddings) add2(l, p->dtype, p->vocab, p->hidden, G_NORMAL, pc->lm_head);
    if (l->oom) return awq_fail_nomem(ctx, "synth tensor list", l->cap * sizeof(tspec));
    return AWQ_OK;
}

/* ---------------------------------------------------------- validation */

static awq_status check(awq_ctx *ctx, const awq_synth_params *p, const arch_map **am_out,
                        const awq_arch **arch_out, int64_t *hd_out) {
    const arch_map *am = find_arch(p->arch);
    if (!am)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "unknown arch '%s' (" SYNTH_ARCHS ")",
                        p->arch ? p->arch : "(null)");
    const awq_arch *arch = awq_arch_find(am->hf_name);
    if (!arch) return awq_fail(ctx, AWQ_ERR_INTERNAL, "%s missing from the arch table", am->hf_name);
    struct { const char *n; int64_t v, max; } dims[] = {
        {"hidden", p->hidden, 1 << 16},         {"intermediate", p->intermediate, 1 << 18},
        {"layers", p->n_layers, 1024},          {"heads", p->n_heads, 1024},
        {"kv-heads", p->n_kv_heads, 1024},      {"vocab", p->vocab, 1 << 22},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(dims); i++)
        if (dims[i].v < 1 || dims[i].v > dims[i].max)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "%s = %lld out of [1, %lld]", dims[i].n,
                            (long long)dims[i].v, (long long)dims[i].max);
    if (p->n_heads % p->n_kv_heads)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "heads (%lld) must be a multiple of kv-heads (%lld)",
                        (long long)p->n_heads, (long long)p->n_kv_heads);
    int64_t hd = p->head_dim;
    if (hd == 0) {
        if (p->hidden % p->n_heads)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "hidden (%lld) is not a multiple of heads (%lld); give head-dim",
                            (long long)p->hidden, (long long)p->n_heads);
        hd = p->hidden / p->n_heads;
    }
    if (hd < 2 || hd > 1024 || hd % 2)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "head-dim = %lld must be even, in [2, 1024]",
                        (long long)hd);
    if (p->dtype != AWQ_DT_F16 && p->dtype != AWQ_DT_BF16)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "dtype must be F16 or BF16");
    if (p->n_outliers < 0 || p->n_outliers > AWQ_SYNTH_MAX_OUTLIERS ||
        p->n_outliers > p->hidden / 2 || p->n_outliers > p->intermediate / 2)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "outliers = %d out of [0, min(%d, hidden/2, intermediate/2)]",
                        p->n_outliers, AWQ_SYNTH_MAX_OUTLIERS);
    if (!(p->outlier_scale > 0 && p->outlier_scale <= 1000))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "outlier-scale = %g out of (0, 1000]",
                        p->outlier_scale);
    if (p->max_shard_bytes == 0)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "max shard size must be > 0");
    if (!(p->rope_theta > 0) || !(p->rms_eps > 0) || p->max_pos < 1)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "rope_theta, rms_eps and max_position_embeddings must be > 0");
    if (p->quantized && !awq_format_get(p->qformat))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown packed format %d", (int)p->qformat);
    if (am->vision || am->siglip) {
        if (p->vision_depth < 1 || p->vision_depth > 256 || p->vision_hidden < 1 ||
            p->vision_hidden > 16384 || p->vision_intermediate < 1 ||
            p->vision_intermediate > 65536 || p->vision_heads < 1 ||
            p->vision_hidden % p->vision_heads)
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "vision tower dims out of range (depth %lld, hidden %lld, "
                            "intermediate %lld, heads %lld)",
                            (long long)p->vision_depth, (long long)p->vision_hidden,
                            (long long)p->vision_intermediate, (long long)p->vision_heads);
    }
    *am_out = am;
    *arch_out = arch;
    *hd_out = hd;
    return AWQ_OK;
}

/* -------------------------------------------------------------- config */

static void bos_eos(int64_t vocab, int64_t *bos, int64_t *eos) {
    if (vocab == 32000) {
        *bos = 1;
        *eos = 2;
    } else if (vocab > 151645) {
        *bos = 151643;
        *eos = 151645;
    } else {
        *bos = *eos = vocab - 1;
    }
}

static awq_status build_config(awq_ctx *ctx, const plan_ctx *pc, char **out) {
    const awq_synth_params *p = pc->p;
    cJSON *c = cJSON_CreateObject();
    if (!c) return awq_fail_nomem(ctx, "config.json", 4096);
    cJSON *archs = cJSON_AddArrayToObject(c, "architectures");
    if (archs) cJSON_AddItemToArray(archs, cJSON_CreateString(pc->am->hf_name));
    cJSON_AddStringToObject(c, "model_type", pc->am->model_type);
    int64_t bos, eos;
    bos_eos(p->vocab, &bos, &eos);
    cJSON_AddNumberToObject(c, "hidden_size", (double)p->hidden);
    cJSON_AddNumberToObject(c, "intermediate_size", (double)p->intermediate);
    cJSON_AddNumberToObject(c, "num_hidden_layers", (double)p->n_layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", (double)p->n_heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", (double)p->n_kv_heads);
    cJSON_AddNumberToObject(c, "head_dim", (double)pc->head_dim);
    cJSON_AddNumberToObject(c, "vocab_size", (double)p->vocab);
    cJSON_AddNumberToObject(c, "max_position_embeddings", (double)p->max_pos);
    cJSON_AddNumberToObject(c, "rms_norm_eps", p->rms_eps);
    cJSON_AddNumberToObject(c, "rope_theta", p->rope_theta);
    cJSON_AddStringToObject(c, "hidden_act", pc->arch->act_default ? pc->arch->act_default
                                                                    : "silu");
    if (pc->arch->act_field)
        cJSON_AddStringToObject(c, pc->arch->act_field, pc->arch->act_default);
    if (pc->arch->mla) {
        awq_synth_mla_config(c, p, pc->head_dim, pc->moe_inter);
    } else if (pc->arch->moe) {
        const awq_moe_desc *d = pc->arch->moe;
        cJSON_AddNumberToObject(c, d->n_experts_field, (double)p->n_experts);
        cJSON_AddNumberToObject(c, "num_experts_per_tok", (double)p->n_experts_per_tok);
        if (strcmp(d->inter_field, "intermediate_size") != 0)
            cJSON_AddNumberToObject(c, d->inter_field, (double)pc->moe_inter);
        if (d->shared_expert)
            cJSON_AddNumberToObject(c, "shared_expert_intermediate_size",
                                    (double)pc->shared_inter);
        if (!d->always_renorm) cJSON_AddBoolToObject(c, "norm_topk_prob", true);
        if (d->sparse_step) {
            cJSON_AddNumberToObject(c, "decoder_sparse_step", 1);
            cJSON_AddArrayToObject(c, "mlp_only_layers");
        }
    }
    if (pc->arch->gemma_attn) {
        /* transformers' defaults written out, as save_pretrained does */
        cJSON_AddNumberToObject(c, "query_pre_attn_scalar", (double)pc->head_dim);
        cJSON_AddNumberToObject(c, "sliding_window", 4096);
        if (pc->arch->def_attn_softcap > 0)
            cJSON_AddNumberToObject(c, "attn_logit_softcapping", pc->arch->def_attn_softcap);
        else
            cJSON_AddNullToObject(c, "attn_logit_softcapping");
        if (pc->arch->def_final_softcap > 0)
            cJSON_AddNumberToObject(c, "final_logit_softcapping", pc->arch->def_final_softcap);
        else
            cJSON_AddNullToObject(c, "final_logit_softcapping");
        cJSON_AddNumberToObject(c, "sliding_window_pattern", pc->arch->def_sliding_pattern);
        if (pc->arch->local_rope) cJSON_AddNumberToObject(c, "rope_local_base_freq", 10000.0);
    }
    cJSON_AddNumberToObject(c, "initializer_range", 0.02);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", p->tie_word_embeddings);
    cJSON_AddStringToObject(c, "torch_dtype", p->dtype == AWQ_DT_BF16 ? "bfloat16" : "float16");
    cJSON_AddNumberToObject(c, "bos_token_id", (double)bos);
    cJSON_AddNumberToObject(c, "eos_token_id", (double)eos);
    cJSON_AddBoolToObject(c, "use_cache", true);
    if (!pc->arch->mla) cJSON_AddNumberToObject(c, "attention_dropout", 0.0);
    if (strcmp(pc->am->name, "llama") == 0 || pc->arch->gemma_attn) {
        cJSON_AddBoolToObject(c, "attention_bias", false);
        cJSON_AddBoolToObject(c, "mlp_bias", false);
    } else if (strcmp(pc->am->name, "phi3") != 0) {
        if (strcmp(pc->am->name, "qwen3") == 0) cJSON_AddBoolToObject(c, "attention_bias", false);
        cJSON_AddBoolToObject(c, "use_sliding_window", false);
        cJSON_AddNumberToObject(c, "sliding_window", (double)p->max_pos);
        cJSON_AddNumberToObject(c, "max_window_layers", (double)p->n_layers);
    }
    if (pc->am->vision) {
        /* Qwen2.5-VL: M-RoPE sections over head_dim / 2 (16, 24, 24 for
         * 128), as the real config states them. */
        int64_t half = pc->head_dim / 2, s1 = half * 3 / 8, s0 = half - 2 * s1;
        cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
        if (rs) {
            cJSON *ms = cJSON_AddArrayToObject(rs, "mrope_section");
            if (ms) {
                cJSON_AddItemToArray(ms, cJSON_CreateNumber((double)s0));
                cJSON_AddItemToArray(ms, cJSON_CreateNumber((double)s1));
                cJSON_AddItemToArray(ms, cJSON_CreateNumber((double)s1));
            }
            cJSON_AddStringToObject(rs, "rope_type", "default");
            cJSON_AddStringToObject(rs, "type", "default");
        }
        cJSON *vc = cJSON_AddObjectToObject(c, "vision_config");
        if (vc) {
            cJSON_AddNumberToObject(vc, "depth", (double)p->vision_depth);
            cJSON_AddNumberToObject(vc, "hidden_size", (double)p->vision_hidden);
            cJSON_AddNumberToObject(vc, "intermediate_size", (double)p->vision_intermediate);
            cJSON_AddNumberToObject(vc, "num_heads", (double)p->vision_heads);
            cJSON_AddStringToObject(vc, "hidden_act", "silu");
            cJSON_AddNumberToObject(vc, "in_chans", 3);
            cJSON_AddNumberToObject(vc, "out_hidden_size", (double)p->hidden);
            cJSON_AddNumberToObject(vc, "patch_size", 14);
            cJSON_AddNumberToObject(vc, "spatial_merge_size", 2);
            cJSON_AddNumberToObject(vc, "spatial_patch_size", 14);
            cJSON_AddNumberToObject(vc, "temporal_patch_size", 2);
            cJSON_AddNumberToObject(vc, "tokens_per_second", 2);
            cJSON_AddNumberToObject(vc, "window_size", 112);
            cJSON *fa = cJSON_AddArrayToObject(vc, "fullatt_block_indexes");
            for (int64_t b = 7; fa && b < p->vision_depth; b += 8)
                cJSON_AddItemToArray(fa, cJSON_CreateNumber((double)b));
            cJSON_AddStringToObject(vc, "model_type", "qwen2_5_vl");
        }
        if (p->vocab > 151656) {
            cJSON_AddNumberToObject(c, "vision_start_token_id", 151652);
            cJSON_AddNumberToObject(c, "vision_end_token_id", 151653);
            cJSON_AddNumberToObject(c, "vision_token_id", 151654);
            cJSON_AddNumberToObject(c, "image_token_id", 151655);
            cJSON_AddNumberToObject(c, "video_token_id", 151656);
        }
    }
    if (pc->am->siglip) {
        /* Gemma3ForConditionalGeneration: the decoder's fields in
         * text_config, a SigLIP vision_config */
        cJSON *root = cJSON_CreateObject();
        if (!root) {
            cJSON_Delete(c);
            return awq_fail_nomem(ctx, "config.json", 4096);
        }
        cJSON *ra = cJSON_AddArrayToObject(root, "architectures");
        if (ra) cJSON_AddItemToArray(ra, cJSON_CreateString(pc->am->hf_name));
        cJSON_AddStringToObject(root, "model_type", "gemma3");
        cJSON_DeleteItemFromObject(c, "architectures");
        cJSON_ReplaceItemInObject(c, "model_type", cJSON_CreateString("gemma3_text"));
        cJSON_AddStringToObject(root, "torch_dtype", p->dtype == AWQ_DT_BF16 ? "bfloat16" : "float16");
        cJSON_AddBoolToObject(root, "tie_word_embeddings", p->tie_word_embeddings);
        cJSON_AddNumberToObject(root, "mm_tokens_per_image", 256);
        cJSON_AddItemToObject(root, "text_config", c);
        cJSON *vc = cJSON_AddObjectToObject(root, "vision_config");
        if (vc) {
            cJSON_AddStringToObject(vc, "model_type", "siglip_vision_model");
            cJSON_AddNumberToObject(vc, "hidden_size", (double)p->vision_hidden);
            cJSON_AddNumberToObject(vc, "intermediate_size", (double)p->vision_intermediate);
            cJSON_AddNumberToObject(vc, "num_hidden_layers", (double)p->vision_depth);
            cJSON_AddNumberToObject(vc, "num_attention_heads", (double)p->vision_heads);
            cJSON_AddNumberToObject(vc, "image_size", 224);
            cJSON_AddNumberToObject(vc, "patch_size", 14);
            cJSON_AddBoolToObject(vc, "vision_use_head", false);
        }
        c = root;
    }
    if (p->quantized) {
        static const char *const skip_vision[] = {"visual"};
        static const char *const skip_siglip[] = {"vision_tower", "multi_modal_projector"};
        awq_qconfig_fields f;
        memset(&f, 0, sizeof f);
        f.bits = p->bits;
        f.group_size = p->group_size;
        /* AWQ: asymmetric with zero points; GPTQ: symmetric, no act-order. */
        f.sym = p->qformat == AWQ_QFMT_GPTQ || p->qformat == AWQ_QFMT_GPTQ_V2;
        f.desc_act = false;
        if (pc->am->vision) {
            f.modules_to_not_convert = skip_vision;
            f.n_modules_to_not_convert = 1;
        }
        if (pc->am->siglip) {
            f.modules_to_not_convert = skip_siglip;
            f.n_modules_to_not_convert = 2;
        }
        cJSON *qc = NULL;
        awq_status s = awq_format_quant_config(ctx, p->qformat, &f, &qc);
        if (s != AWQ_OK) {
            cJSON_Delete(c);
            return s;
        }
        cJSON_AddItemToObject(c, "quantization_config", qc);
    }
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    if (!text) return awq_fail_nomem(ctx, "config.json text", 4096);
    *out = text;
    return AWQ_OK;
}

/* ------------------------------------------------------------ generation */

#define CHUNK_ELEMS 65536

typedef struct {
    const tspec *t;
    const awq_synth_params *p;
    uint64_t seed;             /* per tensor */
    int64_t rows, cols, rows_per_chunk;
    const uint8_t *hid_mask, *inter_mask;
    float outlier_row_mul;
    const uint16_t *lut;       /* a -> bits of z(a) * std; NULL: compute */
    void *buf;
} fill_job;

static void fill_range(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    const fill_job *j = arg;
    const tspec *t = j->t;
    for (int64_t c = begin; c < end; c++) {
        uint64_t s = mix64(j->seed ^ mix64((uint64_t)c + 0x51ED27ull));
        int64_t r0 = c * j->rows_per_chunk, r1 = AWQ_MIN(j->rows, r0 + j->rows_per_chunk);
        if (t->kind == G_QWEIGHT) {
            uint32_t *w = (uint32_t *)j->buf;
            for (int64_t i = r0 * j->cols; i < r1 * j->cols; i += 2) {
                uint64_t v = next64(&s);
                w[i] = (uint32_t)v;
                if (i + 1 < r1 * j->cols) w[i + 1] = (uint32_t)(v >> 32);
            }
            continue;
        }
        uint16_t *o = (uint16_t *)j->buf;
        bool bf = t->dtype == AWQ_DT_BF16;
        for (int64_t r = r0; r < r1; r++) {
            float rmul = (t->outlier_rows && r >= t->outlier_row0 &&
                          j->inter_mask[r - t->outlier_row0])
                             ? j->outlier_row_mul
                             : 1.0f;
            uint16_t *row = o + r * j->cols;
            if (j->lut && rmul == 1.0f && !t->outlier_cols) {
                for (int64_t k = 0; k < j->cols; k++) row[k] = j->lut[ih_index(&s)];
                continue;
            }
            if (j->lut && rmul == 1.0f) {
                /* embeddings: the table, then the few outlier columns */
                for (int64_t k = 0; k < j->cols; k++) {
                    uint32_t a = ih_index(&s);
                    row[k] = j->lut[a];
                    if (j->hid_mask[k]) {
                        float v = ih_z(a) * t->std * rmul * 4.0f;
                        row[k] = bf ? awq_f32_to_bf16(v) : awq_f32_to_f16(v);
                    }
                }
                continue;
            }
            /* The same float operations as the table (x 1.0f is exact), so
             * both paths give identical bits. */
            for (int64_t k = 0; k < j->cols; k++) {
                float v = ih_z(ih_index(&s)) * t->std * rmul;
                if (t->outlier_cols && j->hid_mask[k]) v *= 4.0f;
                row[k] = bf ? awq_f32_to_bf16(v) : awq_f32_to_f16(v);
            }
        }
    }
}

static void put_field(uint32_t *w, awq_lay_pos pos, int bits, uint32_t v) {
    uint64_t m = ((1ull << bits) - 1) << pos.shift;
    uint64_t cur = w[pos.word] | (pos.word2 >= 0 ? (uint64_t)w[pos.word2] << 32 : 0);
    cur = (cur & ~m) | ((uint64_t)v << pos.shift);
    w[pos.word] = (uint32_t)cur;
    if (pos.word2 >= 0) w[pos.word2] = (uint32_t)(cur >> 32);
}

/* Serial fills of the small per-linear tensors (qzeros, scales, g_idx) and
 * norms, through layouts.h positions (GEMV padding stays zero). */
static void fill_small(const tspec *t, const awq_synth_params *p, uint64_t seed,
                       const uint8_t *hid_mask, void *buf) {
    uint64_t s = seed;
    memset(buf, 0, t->n_bytes);
    if (t->kind == G_NORM) {
        uint16_t *o = buf;
        bool bf = t->dtype == AWQ_DT_BF16;
        for (uint64_t i = 0; i < t->n_elements; i++) {
            float v = 1.0f + 0.02f * normal01(&s);
            if (t->hidden_norm && hid_mask[i]) v = (float)p->outlier_scale;
            v -= t->norm_offset;
            o[i] = bf ? awq_f32_to_bf16(v) : awq_f32_to_f16(v);
        }
        return;
    }
    awq_lay_shapes sh;
    if (awq_lay_get_shapes((int)t->fmt, t->K, t->N, t->bits, t->group, &sh) != AWQ_LAY_OK) return;
    int64_t G = sh.n_groups, Z = sh.zeros_width;
    if (t->kind == G_GIDX) {
        int32_t *g = buf;
        for (int64_t k = 0; k < t->K; k++) g[k] = (int32_t)(k / sh.group_len);
        return;
    }
    int mid = 1 << (t->bits - 1);
    for (int64_t g = 0; g < G; g++) {
        for (int64_t n = 0; n < t->N; n++) {
            if (t->kind == G_QZEROS) {
                uint32_t z;
                if (t->fmt == AWQ_QFMT_GPTQ) z = (uint32_t)(mid - 1); /* v1: zero - 1 */
                else if (t->fmt == AWQ_QFMT_GPTQ_V2) z = (uint32_t)mid;
                else z = (uint32_t)(mid - 2) + (uint32_t)(next64(&s) % 4); /* 6..9 at 4 bits */
                put_field(buf, awq_lay_qzeros_pos((int)t->fmt, t->N, t->bits, Z, g, n), t->bits, z);
            } else {
                /* A 0.02-std group spans about ±2.7σ: scale ≈ 0.108 / (2^b - 1). */
                float sc = 0.108f / (float)((1 << t->bits) - 1) * (0.75f + 0.5f * uniform01(&s));
                ((uint16_t *)buf)[awq_lay_scale_index((int)t->fmt, t->N, Z, g, n)] =
                    awq_f32_to_f16(sc);
            }
        }
    }
}

static void pick_channels(uint64_t seed, int n, int64_t dim, int64_t *out, uint8_t *mask) {
    uint64_t s = seed;
    for (int i = 0; i < n;) {
        int64_t c = (int64_t)(next64(&s) % (uint64_t)dim);
        if (mask[c]) continue;
        mask[c] = 1;
        out[i++] = c;
    }
    /* sorted, for stable reports */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && out[k - 1] > out[k]; k--) {
            int64_t x = out[k];
            out[k] = out[k - 1];
            out[k - 1] = x;
        }
}

awq_status awq_synth_write(awq_ctx *ctx, const char *out_dir, const awq_synth_params *p,
                           awq_synth_result *res) {
    awq_synth_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    if (!out_dir || !p) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "NULL argument");
    plan_ctx pc = {p, NULL, NULL, 0, 0, 0, "model.", "lm_head.weight"};
    AWQ_TRY(check(ctx, p, &pc.am, &pc.arch, &pc.head_dim));
    if (pc.arch->mla) AWQ_TRY(awq_synth_mla_check(ctx, p, pc.head_dim, &pc.arch));
    if (pc.am->siglip) {
        pc.prefix = "language_model.model.";
        pc.lm_head = "language_model.lm_head.weight";
    }
    if (pc.arch->moe) {
        /* Mixtral's experts are intermediate_size wide */
        pc.moe_inter = strcmp(pc.arch->moe->inter_field, "intermediate_size") == 0
                           ? p->intermediate
                           : (p->moe_intermediate > 0 ? p->moe_intermediate
                                                      : AWQ_MAX(p->intermediate / 4, 1));
        pc.shared_inter = p->shared_intermediate > 0 ? p->shared_intermediate : p->intermediate;
        if (pc.arch->mla) pc.shared_inter = p->n_shared_experts * pc.moe_inter;
        if (p->n_experts < 1 || p->n_experts > 1024 || p->n_experts_per_tok < 1 ||
            p->n_experts_per_tok > p->n_experts || pc.moe_inter > (1 << 18) ||
            pc.shared_inter > (1 << 18))
            return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                            "experts = %lld, experts-per-tok = %lld out of range (1 <= "
                            "per-tok <= experts <= 1024)", (long long)p->n_experts,
                            (long long)p->n_experts_per_tok);
    }
    tlist l = {0};
    awq_status st = plan(ctx, &pc, &l);
    uint64_t total = 0;
    for (size_t i = 0; st == AWQ_OK && i < l.n; i++) {
        if (!awq_add_u64(total, l.v[i].n_bytes, &total) ||
            !awq_add_u64(res->logical_params, l.v[i].logical, &res->logical_params))
            st = awq_fail(ctx, AWQ_ERR_INVALID_ARG, "checkpoint size overflows");
    }
    char *config = NULL;
    if (st == AWQ_OK) st = build_config(ctx, &pc, &config);
    uint8_t *hid_mask = calloc((size_t)p->hidden, 1), *inter_mask = calloc((size_t)p->intermediate, 1);
    if (st == AWQ_OK && (!hid_mask || !inter_mask)) st = awq_fail_nomem(ctx, "outlier masks", 0);
    if (st == AWQ_OK) {
        pick_channels(mix64(p->seed ^ 0x0a7ull), p->n_outliers, p->hidden, res->outlier_channels, hid_mask);
        pick_channels(mix64(p->seed ^ 0x1d7ull), p->n_outliers, p->intermediate,
                      res->outlier_inter_channels, inter_mask);
        res->n_outliers = p->n_outliers;
    }
    awq_writer *w = NULL;
    if (st == AWQ_OK) {
        awq_writer_params wp = awq_writer_default_params();
        wp.max_shard_bytes = p->max_shard_bytes;
        wp.force = p->force;
        wp.sparse = p->zero_data;
        st = awq_writer_create(ctx, out_dir, &wp, &w);
    }
    for (size_t i = 0; st == AWQ_OK && i < l.n; i++)
        st = awq_writer_declare(w, l.v[i].name, l.v[i].dtype, l.v[i].ndim, l.v[i].shape);
    if (st == AWQ_OK) st = awq_writer_add_file(w, "config.json", config, strlen(config));
    void *buf = NULL;
    size_t buf_cap = 0;
    uint16_t *lut = malloc(65536 * sizeof *lut);
    if (st == AWQ_OK && !lut) st = awq_fail_nomem(ctx, "synth table", 65536 * sizeof *lut);
    for (size_t i = 0; st == AWQ_OK && i < l.n; i++) {
        const tspec *t = &l.v[i];
        if (!p->zero_data) {
            if (t->n_bytes > buf_cap) {
                awq_free(buf);
                buf_cap = (size_t)t->n_bytes;
                buf = awq_alloc(buf_cap ? buf_cap : 1, 1);
                if (!buf) {
                    st = awq_fail_nomem(ctx, t->name, t->n_bytes);
                    break;
                }
            }
            uint64_t seed = hash_str(p->seed, t->name);
            if (t->kind == G_NORMAL || t->kind == G_QWEIGHT) {
                fill_job j;
                memset(&j, 0, sizeof j);
                j.t = t;
                j.p = p;
                j.seed = seed;
                j.rows = t->ndim >= 1 ? t->shape[0] : 1;
                j.cols = t->ndim >= 1 ? (int64_t)(t->n_elements / (uint64_t)AWQ_MAX(j.rows, 1)) : 1;
                j.rows_per_chunk = AWQ_MAX(1, CHUNK_ELEMS / AWQ_MAX(j.cols, 1));
                j.hid_mask = hid_mask;
                j.inter_mask = inter_mask;
                j.outlier_row_mul = (float)sqrt(p->outlier_scale);
                j.buf = buf;
                if (t->kind == G_NORMAL && t->n_elements >= (1u << 20)) {
                    bool bf = t->dtype == AWQ_DT_BF16;
                    for (uint32_t a = 0; a < 65536; a++) {
                        float v = ih_z(a) * t->std;
                        lut[a] = bf ? awq_f32_to_bf16(v) : awq_f32_to_f16(v);
                    }
                    j.lut = lut;
                }
                if (t->n_elements)
                    awq_parallel_for(ctx, (j.rows + j.rows_per_chunk - 1) / j.rows_per_chunk,
                                     fill_range, &j);
            } else {
                fill_small(t, p, seed, hid_mask, buf);
            }
            st = awq_writer_write(w, t->name, buf, t->n_bytes);
        }
        if (st == AWQ_OK) st = awq_progress(ctx, "synth", i + 1, l.n);
    }
    awq_free(buf);
    free(lut);
    if (st == AWQ_OK) st = awq_writer_finish(w);
    if (st == AWQ_OK) {
        res->n_tensors = l.n;
        res->tensor_bytes = total;
        res->n_shards = awq_writer_n_shards(w);
    }
    awq_writer_free(w);
    free(hid_mask);
    free(inter_mask);
    cJSON_free(config);
    free(l.v);
    return st;
}
