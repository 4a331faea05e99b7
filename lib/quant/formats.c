/*
 * lib/quant/formats.c — the format table: how each quantized layout's
 * tensors are recognised and resolved from header shapes + config, and what
 * each layout is called (see formats.h).
 *
 * Layouts (b bits, p = 32/b codes per int32 word, K in, N out, g group,
 * G = ceil(K/g)); the shapes are those the producers write:
 *   AWQ GEMM  qweight [K, N/p]   qzeros [G, N/p]          scales [G, N]
 *   AWQ GEMV  qweight [N, K/p]   qzeros [N, ceil(G/p)]    scales [N, p*ceil(G/p)]
 *   GPTQ      qweight [K*b/32, N] qzeros [G, N*b/32]      scales [G, N]  g_idx [K]
 *   compressed-tensors pack-quantized (compressed_tensors/compressors/
 *     quantized_compressors/pack_quantized.py): weight_packed I32 [N, ceil(K/p)],
 *     weight_scale [N, G] (channel: [N, 1]), weight_zero_point I32
 *     [ceil(N/p), G] when asymmetric, weight_g_idx [K] with actorder,
 *     weight_shape I64 [2] (the true [N, K]; data, so not read: K is
 *     taken as p x columns, exact whenever K is a multiple of p)
 *   naive / int-quantized: weight I8 [N, K] + weight_scale (+ zero_point)
 *   float-quantized / fp8: weight F8_E4M3 [N, K] + weight_scale [1] (tensor),
 *     [N, 1] (channel), [ceil(N/bn), ceil(K/bk)] (block) (+ input_scale)
 *   fp8 block (DeepSeek-V3, Qwen3-FP8): weight F8_E4M3 [N, K] +
 *     weight_scale_inv F32 [ceil(N/bn), ceil(K/bk)], block from
 *     quantization_config.weight_block_size (default 128 x 128)
 *   nvfp4-pack-quantized: weight_packed U8 [N, K/2], weight_scale F8_E4M3
 *     [N, K/16], weight_global_scale F32 [1] (+ input_global_scale)
 *   mxfp4: compressed-tensors weight_packed U8 [N, K/2] + weight_scale U8
 *     [N, K/32]; gpt-oss NAME_blocks U8 [..., N, K/32, 16] + NAME_scales U8
 *     [..., N, K/32] (experts stacked in the leading dimensions)
 *   bitsandbytes 4-bit (bitsandbytes/nn/modules.py Params4bit and
 *     functional.py QuantState.as_dict): weight U8 [ceil(N*K/2), 1] (the
 *     codes of the flattened matrix, two per byte), weight.absmax (F32, or
 *     U8 with weight.nested_absmax / nested_quant_map when double-quantized)
 *     one per block, weight.quant_map F32 [16],
 *     weight.quant_state.bitsandbytes__nf4 / __fp4 U8 (the packed JSON that
 *     holds the shape: data, so not read — the logical count is 2 x bytes)
 *   bitsandbytes 8-bit (Linear8bitLt): weight I8 [N, K], SCB F32 [N],
 *     weight_format U8 (scalar)
 *   MLX affine (mlx/nn/layers/quantized.py, mlx_lm utils): weight U32
 *     [N, K*b/32], scales [N, K/g], biases [N, K/g]; b and g from config.json
 *     "quantization" {"bits", "group_size", per-module overrides}
 *   AWQ / GPTQ share the names qweight/qzeros/scales/g_idx: one family whose
 *   resolver tries each layout against lib/quant/layouts.h, config first.
 */
#include "quant/formats.h"
#include "quant/ctconfig.h"
#include "quant/layouts.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <string.h>

#define DT(x) (1u << (x))

typedef struct {
    const awq_tensor_info *qw, *qz, *sc, *gi;
} packed_set;

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static awq_qformat lay_format(awq_pack_kind k) {
    return k == AWQ_PACK_AWQ_GEMM   ? AWQ_QFMT_AWQ_GEMM
           : k == AWQ_PACK_AWQ_GEMV ? AWQ_QFMT_AWQ_GEMV
                                    : AWQ_QFMT_GPTQ;
}

static bool shape_is(const awq_tensor_info *t, int64_t a, int64_t b) {
    return t->ndim == 2 && t->shape[0] == a && t->shape[1] == b;
}

/* Do the stored tensors have exactly the shapes layouts.h gives for this
 * (format, K, N, bits, group)? */
static bool shapes_match(awq_pack_kind k, int64_t K, int64_t N, int bits, int g,
                         const packed_set *ps) {
    awq_lay_shapes sh;
    if (awq_lay_get_shapes((int)lay_format(k), K, N, bits, g, &sh) != AWQ_LAY_OK) return false;
    if (!shape_is(ps->qw, sh.qweight[0], sh.qweight[1])) return false;
    if (!shape_is(ps->sc, sh.scales[0], sh.scales[1])) return false;
    if (ps->qz && !shape_is(ps->qz, sh.qzeros[0], sh.qzeros[1])) return false;
    if (ps->gi && !(sh.g_idx > 0 && ps->gi->ndim == 1 && ps->gi->shape[0] == sh.g_idx))
        return false;
    return true;
}

/* Try one (layout, bits) reading of a packed set. K and N come from the
 * dimensions the layout keeps whole; the group size is g_hint when that is
 * > 0 or -1, else inferred from the number of scale rows (GEMV: the usual
 * sizes, as its padded width hides G); layouts.h then has the last word on
 * every shape. */
static bool try_layout(awq_pack_kind k, int bits, int g_hint, const packed_set *ps,
                       int64_t *K, int64_t *N, int *g, bool *g_hinted) {
    const awq_tensor_info *qw = ps->qw, *sc = ps->sc, *gi = ps->gi;
    if (qw->ndim != 2 || sc->ndim != 2) return false;
    if (qw->dtype != AWQ_DT_I32 && qw->dtype != AWQ_DT_U32) return false;
    if (gi && k != AWQ_PACK_GPTQ) return false;
    int64_t q0 = qw->shape[0], q1 = qw->shape[1], s0 = sc->shape[0];
    if (q0 <= 0 || q1 <= 0 || s0 <= 0 || q0 > AWQ_LAY_MAX_DIM || q1 > AWQ_LAY_MAX_DIM)
        return false;
    int64_t kk, nn;
    switch (k) {
    case AWQ_PACK_AWQ_GEMM:
        kk = q0;
        nn = sc->shape[1];
        break;
    case AWQ_PACK_AWQ_GEMV:
        if (32 % bits) return false;
        nn = q0;
        kk = q1 * (32 / bits);
        break;
    case AWQ_PACK_GPTQ:
        nn = q1;
        if (gi) {
            if (gi->ndim != 1) return false;
            kk = gi->shape[0];
        } else {
            if ((q0 * 32) % bits) return false;
            kk = q0 * 32 / bits;
        }
        break;
    default:
        return false;
    }
    if (kk <= 0 || nn <= 0) return false;
    int cand[6], nc = 0;
    if (g_hint > 0 || g_hint == -1) {
        cand[nc++] = g_hint;
    } else if (k == AWQ_PACK_AWQ_GEMV) {
        static const int common[] = {128, 64, 32, 256, -1};
        for (size_t i = 0; i < AWQ_ARRAY_LEN(common); i++) cand[nc++] = common[i];
    } else if (s0 == 1) {
        cand[nc++] = -1;
    } else {
        int64_t gg = cdiv(kk, s0);
        if (gg > 0 && gg <= AWQ_LAY_MAX_DIM && gg < kk) cand[nc++] = (int)gg;
    }
    for (int i = 0; i < nc; i++) {
        if (!shapes_match(k, kk, nn, bits, cand[i], ps)) continue;
        *K = kk;
        *N = nn;
        *g = cand[i];
        *g_hinted = g_hint != 0 || k == AWQ_PACK_AWQ_GEMV;
        return true;
    }
    return false;
}

/* Resolve a packed linear trying the config first (method, bits, group),
 * then every other reading. */
static void resolve_packed(const awq_scan *s, const packed_set *ps, awq_scan_linear *L) {
    awq_pack_kind order[3];
    int n = 0;
    const awq_quant_config *qc = &s->qc;
    bool gptq_hint = strcmp(qc->quant_method, "gptq") == 0 || ps->gi;
    bool gemv_hint = strcmp(qc->quant_method, "awq") == 0 && strcmp(qc->version, "gemv") == 0;
    if (gptq_hint) order[n++] = AWQ_PACK_GPTQ;
    if (gemv_hint) order[n++] = AWQ_PACK_AWQ_GEMV;
    order[n++] = AWQ_PACK_AWQ_GEMM;
    if (!gemv_hint) order[n++] = AWQ_PACK_AWQ_GEMV;
    if (!gptq_hint && n < 3) order[n++] = AWQ_PACK_GPTQ;
    int bits_try[5], nb = 0;
    if (qc->bits >= 2 && qc->bits <= 8) bits_try[nb++] = qc->bits;
    static const int defaults[] = {4, 8, 2, 3};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(defaults); i++)
        if (defaults[i] != qc->bits) bits_try[nb++] = defaults[i];
    int g_try[2], ng = 0;
    if (qc->group_size > 0 || qc->group_size == -1) g_try[ng++] = qc->group_size;
    g_try[ng++] = 0;
    for (int gi = 0; gi < ng; gi++) {
        for (int oi = 0; oi < n; oi++) {
            for (int bi = 0; bi < nb; bi++) {
                int64_t K, N;
                int g;
                bool g_hinted;
                if (try_layout(order[oi], bits_try[bi], g_try[gi], ps, &K, &N, &g, &g_hinted)) {
                    L->pack = order[oi];
                    L->bits = bits_try[bi];
                    L->K = K;
                    L->N = N;
                    L->group_size = g;
                    L->group_from_hint = g_hinted;
                    /* GEMM fixes bits by N / (qweight columns); GPTQ by
                     * g_idx; GEMV never. */
                    L->bits_from_hint =
                        order[oi] == AWQ_PACK_AWQ_GEMV || (order[oi] == AWQ_PACK_GPTQ && !ps->gi);
                    return;
                }
            }
        }
    }
    L->pack = AWQ_PACK_UNKNOWN;
}


/* ------------------------------------------------------------ resolvers */

static bool set_kn(awq_scan_linear *L, awq_pack_kind pack, int64_t K, int64_t N, int bits) {
    uint64_t kn;
    if (K <= 0 || N <= 0 || !awq_mul_u64((uint64_t)K, (uint64_t)N, &kn)) {
        L->pack = AWQ_PACK_UNKNOWN;
        return false;
    }
    L->pack = pack;
    L->K = K;
    L->N = N;
    L->bits = bits;
    L->logical = kn;
    return true;
}

static void res_qweight(const awq_scan *s, const char *module, awq_role role,
                        const awq_fam_tensors *t, awq_scan_linear *L) {
    (void)module;
    (void)role;
    if (!t->sib[1]) {
        L->pack = AWQ_PACK_UNKNOWN;
        return;
    }
    packed_set ps = {t->main, t->sib[0], t->sib[1], t->sib[2]};
    resolve_packed(s, &ps, L);
    if (L->pack == AWQ_PACK_UNKNOWN) return;
    L->gran = L->group_size == -1 ? AWQ_GRAN_CHANNEL : AWQ_GRAN_GROUP;
    set_kn(L, L->pack, L->K, L->N, L->bits);
}

static const awq_ct_scheme *ct_scheme(const awq_scan *s, const char *module, awq_role role) {
    if (!s->ct) return NULL;
    return awq_ct_scheme_for(s->ct, module,
                             role == AWQ_ROLE_EMBED ? AWQ_CT_MOD_EMBEDDING : AWQ_CT_MOD_LINEAR);
}

/* Scale granularity of a [N, K] matrix from its scale tensor's shape.
 * blk: the expected block (0 = derive). */
static bool scale_gran(const awq_tensor_info *sc, int64_t K, int64_t N, int want_group,
                       const int *blk, awq_scan_linear *L) {
    if (!sc) return false;
    if (sc->n_elements == 1) {
        L->gran = AWQ_GRAN_TENSOR;
        L->group_size = 0;
        return true;
    }
    int64_t r = sc->ndim >= 1 ? sc->shape[0] : 0, c = sc->ndim == 2 ? sc->shape[1] : 1;
    if (sc->ndim > 2) return false;
    if (r == N && c == 1) {
        L->gran = AWQ_GRAN_CHANNEL;
        L->group_size = -1;
        return true;
    }
    if (r == N && c > 1) {
        int64_t g = want_group > 0 ? want_group : (K % c == 0 ? K / c : cdiv(K, c));
        if (g <= 0 || cdiv(K, g) != c || g > AWQ_LAY_MAX_DIM) return false;
        L->gran = AWQ_GRAN_GROUP;
        L->group_size = (int)g;
        return true;
    }
    int b0 = blk && blk[0] > 0 ? blk[0] : 0, b1 = blk && blk[1] > 0 ? blk[1] : 0;
    if (!b0 && r > 0) b0 = (int)AWQ_MIN(cdiv(N, r), AWQ_LAY_MAX_DIM);
    if (!b1 && c > 0) b1 = (int)AWQ_MIN(cdiv(K, c), AWQ_LAY_MAX_DIM);
    if (b0 > 0 && b1 > 0 && cdiv(N, b0) == r && cdiv(K, b1) == c) {
        L->gran = AWQ_GRAN_BLOCK;
        L->block[0] = b0;
        L->block[1] = b1;
        L->group_size = b1;
        return true;
    }
    return false;
}

/* compressed-tensors pack-quantized: sib 0 weight_scale, 1 weight_zero_point,
 * 2 weight_g_idx, 3 weight_shape. */
static void res_ct_int(const awq_scan *s, const char *module, awq_role role,
                       const awq_fam_tensors *t, awq_scan_linear *L) {
    const awq_tensor_info *qw = t->main, *sc = t->sib[0], *zp = t->sib[1], *gi = t->sib[2];
    L->pack = AWQ_PACK_UNKNOWN;
    if (qw->ndim != 2 || !sc) return;
    const awq_ct_scheme *sch = ct_scheme(s, module, role);
    int64_t N = qw->shape[0], W = qw->shape[1];
    int cand[4], nc = 0;
    bool zp_fixes = false;
    if (zp && zp->ndim == 2 && N > 0) {
        /* the zero points are packed along N: rows = ceil(N * b / 32) */
        for (int b = 2; b <= 8; b++)
            if (32 % b == 0 && cdiv(N, 32 / b) == zp->shape[0]) {
                cand[nc++] = b;
                zp_fixes = true;
                break;
            }
    }
    if (!nc && sch && sch->num_bits >= 2 && sch->num_bits <= 8) cand[nc++] = sch->num_bits;
    if (!nc) {
        cand[nc++] = 4;
        cand[nc++] = 8;
    }
    for (int i = 0; i < nc; i++) {
        int b = cand[i];
        if (32 % b) continue;
        int64_t K = W * (32 / b);
        if (gi) {
            if (gi->ndim != 1 || gi->shape[0] > K || gi->shape[0] <= K - 32 / b) continue;
            K = gi->shape[0];
        }
        awq_scan_linear tmp = *L;
        int want = sch && sch->strategy == AWQ_CT_STRAT_GROUP ? sch->group_size : 0;
        /* the config's group first; else what the scales say (inspect
         * then reports the contradiction) */
        if (!scale_gran(sc, K, N, want, NULL, &tmp) && (!want || !scale_gran(sc, K, N, 0, NULL, &tmp)))
            continue;
        *L = tmp;
        set_kn(L, AWQ_PACK_CT_INT, K, N, b);
        L->bits_from_hint = !zp_fixes && !gi;
        L->group_from_hint = want > 0;
        return;
    }
}

/* compressed-tensors naive / int-quantized: I8 codes one per byte. */
static void res_ct_naive(const awq_scan *s, const char *module, awq_role role,
                         const awq_fam_tensors *t, awq_scan_linear *L) {
    const awq_tensor_info *w = t->main;
    L->pack = AWQ_PACK_UNKNOWN;
    if (w->ndim != 2) return;
    const awq_ct_scheme *sch = ct_scheme(s, module, role);
    int want = sch && sch->strategy == AWQ_CT_STRAT_GROUP ? sch->group_size : 0;
    if (!scale_gran(t->sib[0], w->shape[1], w->shape[0], want, sch ? sch->block : NULL, L)) return;
    int b = sch && sch->num_bits >= 2 && sch->num_bits <= 8 ? sch->num_bits : 8;
    set_kn(L, AWQ_PACK_CT_NAIVE, w->shape[1], w->shape[0], b);
    L->bits_from_hint = true;
}

/* FP8 E4M3 weight + weight_scale: per tensor / channel / block / group. */
static void res_fp8(const awq_scan *s, const char *module, awq_role role,
                    const awq_fam_tensors *t, awq_scan_linear *L) {
    const awq_tensor_info *w = t->main;
    L->pack = AWQ_PACK_UNKNOWN;
    if (w->ndim != 2) return;
    const awq_ct_scheme *sch = ct_scheme(s, module, role);
    if (!scale_gran(t->sib[0], w->shape[1], w->shape[0], 0, sch ? sch->block : NULL, L)) return;
    set_kn(L, AWQ_PACK_FP8, w->shape[1], w->shape[0], 8);
    L->is_float = true;
}

/* DeepSeek-V3 style: weight_scale_inv blocks from weight_block_size. */
static void res_fp8_block(const awq_scan *s, const char *module, awq_role role,
                          const awq_fam_tensors *t, awq_scan_linear *L) {
    (void)module;
    (void)role;
    const awq_tensor_info *w = t->main;
    L->pack = AWQ_PACK_UNKNOWN;
    if (w->ndim != 2) return;
    int blk[2] = {128, 128};
    const cJSON *wb = s->qc_json ? cJSON_GetObjectItemCaseSensitive(s->qc_json, "weight_block_size")
                                 : NULL;
    if (cJSON_IsArray(wb) && cJSON_GetArraySize(wb) == 2)
        for (int i = 0; i < 2; i++) {
            const cJSON *e = cJSON_GetArrayItem(wb, i);
            if (cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 65536)
                blk[i] = (int)e->valuedouble;
        }
    if (!scale_gran(t->sib[0], w->shape[1], w->shape[0], 0, blk, L)) return;
    set_kn(L, AWQ_PACK_FP8_BLOCK, w->shape[1], w->shape[0], 8);
    L->is_float = true;
}

/* FP4 (E2M1) two per byte: nvfp4 (FP8 scales, groups of 16) or mxfp4 (U8
 * E8M0 scales, groups of 32), told apart by the scale dtype. */
static void res_fp4_packed(const awq_scan *s, const char *module, awq_role role,
                           const awq_fam_tensors *t, awq_scan_linear *L) {
    (void)s;
    (void)module;
    (void)role;
    const awq_tensor_info *w = t->main, *sc = t->sib[0];
    L->pack = AWQ_PACK_UNKNOWN;
    if (w->ndim != 2 || !sc) return;
    int64_t K = w->shape[1] * 2, N = w->shape[0];
    if (!scale_gran(sc, K, N, 0, NULL, L) || L->gran != AWQ_GRAN_GROUP) return;
    awq_pack_kind k = sc->dtype == AWQ_DT_F8_E4M3 ? AWQ_PACK_NVFP4
                      : sc->dtype == AWQ_DT_U8     ? AWQ_PACK_MXFP4
                                                   : AWQ_PACK_UNKNOWN;
    if (k == AWQ_PACK_UNKNOWN) return;
    set_kn(L, k, K, N, 4);
    L->is_float = true;
}

/* gpt-oss: NAME_blocks [..., N, K/32, 16] + NAME_scales [..., N, K/32]. */
static void res_mxfp4_blocks(const awq_scan *s, const char *module, awq_role role,
                             const awq_fam_tensors *t, awq_scan_linear *L) {
    (void)s;
    (void)module;
    (void)role;
    const awq_tensor_info *b = t->main, *sc = t->sib[0];
    L->pack = AWQ_PACK_UNKNOWN;
    if (b->ndim < 3 || !sc || sc->ndim != b->ndim - 1) return;
    for (int d = 0; d < sc->ndim; d++)
        if (sc->shape[d] != b->shape[d]) return;
    int64_t K = b->shape[b->ndim - 2] * b->shape[b->ndim - 1] * 2;
    uint64_t N = 1;
    for (int d = 0; d < b->ndim - 2; d++)
        if (!awq_mul_u64(N, (uint64_t)b->shape[d], &N) || N > (uint64_t)INT64_MAX) return;
    if (b->shape[b->ndim - 1] * 2 != 32) return; /* 32 codes per scale */
    L->gran = AWQ_GRAN_GROUP;
    L->group_size = 32;
    set_kn(L, AWQ_PACK_MXFP4, K, (int64_t)N, 4);
    L->is_float = true;
}

/* bitsandbytes 4-bit: sib 0 weight.absmax, 4/5 the quant_state blobs. The
 * weight is the flattened matrix: K x N is known only as 2 x bytes. */
static void res_bnb4(const awq_scan *s, const char *module, awq_role role,
                     const awq_fam_tensors *t, awq_scan_linear *L) {
    (void)role;
    const awq_tensor_info *w = t->main, *am = t->sib[0];
    L->pack = AWQ_PACK_UNKNOWN;
    if (!am || am->n_elements == 0 || w->n_elements > (UINT64_MAX / 2)) return;
    uint64_t n = w->n_elements * 2;
    uint64_t blk = cdiv((int64_t)n, (int64_t)am->n_elements);
    if (blk == 0 || blk > AWQ_LAY_MAX_DIM || cdiv((int64_t)n, (int64_t)blk) != (int64_t)am->n_elements)
        return;
    /* in x out from the architecture table when the module is one of its
     * linears and the sizes agree; else the flat count */
    int64_t K = (int64_t)n, N = 1;
    const awq_arch *a = s->mcfg ? s->mcfg->arch : NULL;
    size_t ml = strlen(module);
    for (int j = 0; a && j < a->n_linears; j++) {
        size_t ll = strlen(a->linears[j].name);
        if (ml <= ll || module[ml - ll - 1] != '.' || strcmp(module + ml - ll, a->linears[j].name))
            continue;
        int64_t kk = awq_model_dim(s->mcfg, a->linears[j].in_dim);
        int64_t nn = awq_model_dim(s->mcfg, a->linears[j].out_dim);
        if (kk > 0 && nn > 0 && (uint64_t)(kk * nn + 1) / 2 == w->n_elements) {
            K = kk;
            N = nn;
            n = (uint64_t)(kk * nn);
        }
        break;
    }
    set_kn(L, AWQ_PACK_BNB_4BIT, K, N, 4);
    L->gran = AWQ_GRAN_GROUP;
    L->group_size = (int)blk;
    L->is_float = t->sib[5] != NULL; /* fp4 codes; nf4 is a lookup table */
}

/* bitsandbytes LLM.int8: I8 [N, K], SCB [N] one absmax per row. */
static void res_bnb8(const awq_scan *s, const char *module, awq_role role,
                     const awq_fam_tensors *t, awq_scan_linear *L) {
    (void)s;
    (void)module;
    (void)role;
    const awq_tensor_info *w = t->main, *scb = t->sib[0];
    L->pack = AWQ_PACK_UNKNOWN;
    if (w->ndim != 2 || !scb || scb->n_elements != (uint64_t)w->shape[0]) return;
    set_kn(L, AWQ_PACK_BNB_8BIT, w->shape[1], w->shape[0], 8);
    L->gran = AWQ_GRAN_CHANNEL;
    L->group_size = -1;
}

/* MLX affine: U32 [N, K*b/32], scales / biases [N, K/g]. */
static void res_mlx(const awq_scan *s, const char *module, awq_role role,
                    const awq_fam_tensors *t, awq_scan_linear *L) {
    (void)role;
    const awq_tensor_info *w = t->main, *sc = t->sib[0], *bi = t->sib[1];
    L->pack = AWQ_PACK_UNKNOWN;
    if (w->ndim != 2 || !sc || !bi || sc->ndim != 2 || bi->ndim != 2 ||
        sc->shape[0] != w->shape[0] || sc->shape[1] != bi->shape[1] || bi->shape[0] != w->shape[0])
        return;
    int bits = s->mlx_bits, group = s->mlx_group;
    const cJSON *ov = s->mlx_q ? cJSON_GetObjectItemCaseSensitive(s->mlx_q, module) : NULL;
    if (cJSON_IsObject(ov)) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(ov, "bits");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(ov, "group_size");
        if (cJSON_IsNumber(b)) bits = (int)b->valuedouble;
        if (cJSON_IsNumber(g)) group = (int)g->valuedouble;
    }
    static const int try_bits[] = {4, 8, 2, 3, 5, 6};
    int64_t N = w->shape[0], G = sc->shape[1];
    for (size_t i = 0; i < AWQ_ARRAY_LEN(try_bits) + 1; i++) {
        int b = i == 0 ? bits : try_bits[i - 1];
        if (b < 2 || b > 8 || (i > 0 && b == bits)) continue;
        if ((w->shape[1] * 32) % b) continue;
        int64_t K = w->shape[1] * 32 / b;
        if (G <= 0 || K % G) continue;
        int64_t g = K / G;
        if (group > 0 ? g != group : (g != 32 && g != 64 && g != 128)) continue;
        set_kn(L, AWQ_PACK_MLX, K, N, b);
        L->gran = AWQ_GRAN_GROUP;
        L->group_size = (int)g;
        L->bits_from_hint = bits <= 0;
        L->group_from_hint = group <= 0;
        return;
    }
}

/* ----------------------------------------------------------------- tables */

static const awq_qfamily k_families[] = {
    {".qweight", DT(AWQ_DT_I32) | DT(AWQ_DT_U32), -1,
     {{".qzeros", AWQ_PART_QZEROS}, {".scales", AWQ_PART_SCALES}, {".g_idx", AWQ_PART_G_IDX}},
     res_qweight},
    {".weight_packed", DT(AWQ_DT_I32) | DT(AWQ_DT_U32), -1,
     {{".weight_scale", AWQ_PART_SCALES},
      {".weight_zero_point", AWQ_PART_QZEROS},
      {".weight_g_idx", AWQ_PART_G_IDX},
      {".weight_shape", AWQ_PART_QAUX}},
     res_ct_int},
    {".weight_packed", DT(AWQ_DT_U8), -1,
     {{".weight_scale", AWQ_PART_SCALES},
      {".weight_global_scale", AWQ_PART_QAUX},
      {".input_global_scale", AWQ_PART_QAUX},
      {".weight_shape", AWQ_PART_QAUX}},
     res_fp4_packed},
    {"_blocks", DT(AWQ_DT_U8), 0, {{"_scales", AWQ_PART_SCALES}}, res_mxfp4_blocks},
    {".weight", DT(AWQ_DT_F8_E4M3) | DT(AWQ_DT_F8_E5M2), 0,
     {{".weight_scale_inv", AWQ_PART_SCALES}, {".input_scale", AWQ_PART_QAUX}},
     res_fp8_block},
    {".weight", DT(AWQ_DT_F8_E4M3) | DT(AWQ_DT_F8_E5M2), 0,
     {{".weight_scale", AWQ_PART_SCALES},
      {".input_scale", AWQ_PART_QAUX},
      {".weight_zero_point", AWQ_PART_QZEROS},
      {".output_scale", AWQ_PART_QAUX}},
     res_fp8},
    {".weight", DT(AWQ_DT_I8), 0, {{".SCB", AWQ_PART_SCALES}, {".weight_format", AWQ_PART_QAUX}},
     res_bnb8},
    {".weight", DT(AWQ_DT_I8) | DT(AWQ_DT_U8), 0,
     {{".weight_scale", AWQ_PART_SCALES},
      {".weight_zero_point", AWQ_PART_QZEROS},
      {".input_scale", AWQ_PART_QAUX},
      {".weight_g_idx", AWQ_PART_G_IDX}},
     res_ct_naive},
    {".weight", DT(AWQ_DT_U8), 0,
     {{".weight.absmax", AWQ_PART_SCALES},
      {".weight.quant_map", AWQ_PART_QAUX},
      {".weight.nested_absmax", AWQ_PART_QAUX},
      {".weight.nested_quant_map", AWQ_PART_QAUX},
      {".weight.quant_state.bitsandbytes__nf4", AWQ_PART_QAUX},
      {".weight.quant_state.bitsandbytes__fp4", AWQ_PART_QAUX}},
     res_bnb4},
    {".weight", DT(AWQ_DT_U32), 0, {{".scales", AWQ_PART_SCALES}, {".biases", AWQ_PART_QZEROS}},
     res_mlx},
};

const awq_qfamily *awq_qfamilies(size_t *n) {
    *n = AWQ_ARRAY_LEN(k_families);
    return k_families;
}

static const awq_qfmt_info k_formats[] = {
    {AWQ_PACK_AWQ_GEMM, AWQ_CKPT_AWQ_GEMM, "awq-gemm",
     "AWQ GEMM: int4 codes in int32 qweight [K, N/8], qzeros [G, N/8], FP16 scales [G, N]",
     {"awq"}, true, NULL, true},
    {AWQ_PACK_AWQ_GEMV, AWQ_CKPT_AWQ_GEMV, "awq-gemv",
     "AWQ GEMV: int4 codes in int32 qweight [N, K/8], padded qzeros and scales per row",
     {"awq"}, true, NULL, true},
    {AWQ_PACK_GPTQ, AWQ_CKPT_GPTQ, "gptq",
     "GPTQ: b-bit codes in int32 qweight [K*b/32, N], qzeros [G, N*b/32], scales [G, N], "
     "g_idx [K]",
     {"gptq"}, true, NULL, true},
    {AWQ_PACK_CT_INT, AWQ_CKPT_CT_INT, "ct-int",
     "compressed-tensors pack-quantized: int codes in int32 weight_packed [N, K*b/32], "
     "weight_scale, weight_zero_point when asymmetric, weight_g_idx with actorder",
     {"compressed-tensors"}, true, NULL, false},
    {AWQ_PACK_CT_NAIVE, AWQ_CKPT_CT_NAIVE, "ct-naive",
     "compressed-tensors naive/int-quantized: one int8 code per weight, weight_scale",
     {"compressed-tensors"}, true, NULL, false},
    {AWQ_PACK_FP8, AWQ_CKPT_FP8, "fp8",
     "FP8 E4M3 weight with weight_scale per tensor, channel or block (compressed-tensors "
     "float-quantized, fp8, modelopt)",
     {"compressed-tensors", "fp8", "modelopt"}, true, "compressed-tensors", false},
    {AWQ_PACK_FP8_BLOCK, AWQ_CKPT_FP8_BLOCK, "fp8-block",
     "FP8 E4M3 weight with weight_scale_inv per block of weight_block_size (DeepSeek-V3, "
     "Qwen3-FP8)",
     /* read as a dense source, dequantized per block (lib/io/fp8src.c) */
     {"fp8"}, true, "fp8", false},
    {AWQ_PACK_NVFP4, AWQ_CKPT_NVFP4, "nvfp4",
     "NVFP4: FP4 E2M1 codes two per byte, FP8 scale per 16 weights, F32 global scale",
     {"compressed-tensors", "modelopt"}, true, "compressed-tensors", false},
    {AWQ_PACK_MXFP4, AWQ_CKPT_MXFP4, "mxfp4",
     "MXFP4: FP4 E2M1 codes two per byte, E8M0 scale per 32 weights (gpt-oss _blocks/_scales, "
     "compressed-tensors mxfp4-pack-quantized)",
     {"mxfp4", "compressed-tensors"}, false, NULL, false},
    {AWQ_PACK_BNB_4BIT, AWQ_CKPT_BNB_4BIT, "bnb-4bit",
     "bitsandbytes 4-bit (nf4/fp4): flattened codes two per byte, absmax per block, quant_state",
     {"bitsandbytes"}, false, NULL, false},
    {AWQ_PACK_BNB_8BIT, AWQ_CKPT_BNB_8BIT, "bnb-8bit",
     "bitsandbytes LLM.int8: int8 weight [N, K], SCB absmax per row",
     {"bitsandbytes"}, false, NULL, false},
    {AWQ_PACK_MLX, AWQ_CKPT_MLX, "mlx",
     "MLX affine: codes in uint32 weight [N, K*b/32], scales and biases [N, K/g]",
     {"mlx"}, false, NULL, false},
};

const awq_qfmt_info *awq_qfmt_info_of(awq_pack_kind k) {
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k_formats); i++)
        if (k_formats[i].pack == k) return &k_formats[i];
    return NULL;
}

const char *awq_pack_kind_name(awq_pack_kind k) {
    const awq_qfmt_info *f = awq_qfmt_info_of(k);
    if (f) return f->name;
    switch (k) {
    case AWQ_PACK_NONE: return "none";
    case AWQ_PACK_MIXED: return "mixed";
    default: return "unknown";
    }
}

const char *awq_pack_kind_describe(awq_pack_kind k) {
    const awq_qfmt_info *f = awq_qfmt_info_of(k);
    if (f) return f->describe;
    switch (k) {
    case AWQ_PACK_NONE: return "dense: every linear stored as a float matrix";
    case AWQ_PACK_MIXED: return "packed linears in more than one layout";
    default: return "quantization tensors that fit no known layout";
    }
}

bool awq_qfmt_computable(awq_pack_kind k, const char *method) {
    if (k == AWQ_PACK_NONE) return true;
    const awq_qfmt_info *f = awq_qfmt_info_of(k);
    if (!f || !f->computable) return false;
    return !f->computed_with || (method && strcmp(method, f->computed_with) == 0);
}

bool awq_pack_kind_computable(awq_pack_kind k) {
    const awq_qfmt_info *f = awq_qfmt_info_of(k);
    return k == AWQ_PACK_NONE || (f && f->computable);
}

bool awq_detect_computable(const awq_detect_result *d) {
    return d && awq_qfmt_computable(d->pack, d->config.present ? d->config.quant_method : NULL);
}
