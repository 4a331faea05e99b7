/*
 * lib/quant/detect.c — checkpoint-kind detection for `inspect`: the scan
 * (scan.c) says which linears are quantized in which layout; this file
 * samples a few qzeros / g_idx words (GPTQ v1 vs v2, act-order) and checks
 * the declared quantization config against the tensors.
 */
#include "quant/count_impl.h"
#include "quant/ctconfig.h"
#include "quant/formats.h"
#include "quant/layouts.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- detection */

#define SAMPLE_LINEARS 8
#define SAMPLE_BYTES_PER_LINEAR (8u * 1024u)

static uint32_t rd_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Pick up to SAMPLE_LINEARS packed linears of a layout, spread evenly. */
static size_t pick_sample(const awq_scan *s, awq_pack_kind k, size_t *idx) {
    size_t total = 0;
    for (size_t i = 0; i < s->n_lin; i++) total += s->lin[i].pack == k;
    if (!total) return 0;
    size_t step = total > SAMPLE_LINEARS ? total / SAMPLE_LINEARS : 1, m = 0, seen = 0;
    for (size_t i = 0; i < s->n_lin && m < SAMPLE_LINEARS; i++) {
        if (s->lin[i].pack != k) continue;
        if (seen++ % step == 0) idx[m++] = i;
    }
    return m;
}

typedef struct {
    uint64_t hist[256];
    uint64_t n_codes, n_words_nonzero, n_words;
    int bits;
} zero_stats;

static void sample_zeros(const awq_checkpoint *ck, const awq_scan *s, const size_t *pick,
                         size_t m, zero_stats *zs) {
    memset(zs, 0, sizeof *zs);
    for (size_t j = 0; j < m; j++) {
        const awq_scan_linear *L = &s->lin[pick[j]];
        if (L->qzeros < 0 || (L->bits != 2 && L->bits != 4 && L->bits != 8)) continue;
        const awq_tensor_info *z = awq_checkpoint_tensor(ck, (size_t)L->qzeros);
        if (!z->data || (z->dtype != AWQ_DT_I32 && z->dtype != AWQ_DT_U32)) continue;
        zs->bits = L->bits;
        uint64_t nb = AWQ_MIN(z->n_bytes, (uint64_t)SAMPLE_BYTES_PER_LINEAR) & ~(uint64_t)3;
        const unsigned char *p = z->data;
        uint32_t mask = (1u << L->bits) - 1;
        for (uint64_t o = 0; o < nb; o += 4) {
            uint32_t w = rd_u32(p + o);
            zs->n_words++;
            if (w) zs->n_words_nonzero++;
            for (int sh = 0; sh < 32; sh += L->bits) {
                zs->hist[(w >> sh) & mask]++;
                zs->n_codes++;
            }
        }
    }
}

/* The packers' own v1/v2 evidence test (awq_gptq_detect_zeros) on the
 * first rows of each sampled qzeros (at most SAMPLE_BYTES_PER_LINEAR):
 * a stored all-ones field followed by other values in its word cannot
 * come from a v1 writer. Returns how many sampled linears show that
 * evidence, and the reason of the first. */
static int gptq_true_zero_evidence(const awq_checkpoint *ck, const awq_scan *s, const size_t *pick,
                                   size_t m, const char **why) {
    int n = 0;
    for (size_t j = 0; j < m; j++) {
        const awq_scan_linear *L = &s->lin[pick[j]];
        if (L->qzeros < 0) continue;
        const awq_tensor_info *z = awq_checkpoint_tensor(ck, (size_t)L->qzeros);
        if (!z->data || z->dtype != AWQ_DT_I32 || z->ndim != 2 || z->shape[1] < 1) continue;
        int64_t row_bytes = z->shape[1] * 4;
        int64_t rows = AWQ_MIN(z->shape[0], AWQ_MAX(1, (int64_t)SAMPLE_BYTES_PER_LINEAR / row_bytes));
        awq_packed view;
        memset(&view, 0, sizeof view);
        view.format = AWQ_QFMT_GPTQ;
        view.n_tensors = 4;
        awq_packed_tensor *t = &view.t[AWQ_PT_QZEROS];
        t->suffix = "qzeros";
        t->dtype = AWQ_DT_I32;
        t->ndim = 2;
        t->shape[0] = rows;
        t->shape[1] = z->shape[1];
        t->n_bytes = (uint64_t)(rows * row_bytes);
        t->data = (void *)z->data;
        const char *w = NULL;
        if (awq_gptq_detect_zeros(&view, L->bits, false, &w) == AWQ_GPTQ_ZEROS_TRUE) {
            if (!n) *why = w;
            n++;
        }
    }
    return n;
}

typedef struct {
    uint64_t n, mismatch, nonzero;
} gidx_stats;

static void sample_gidx(const awq_checkpoint *ck, const awq_scan *s, const size_t *pick, size_t m,
                        gidx_stats *gs) {
    memset(gs, 0, sizeof *gs);
    for (size_t j = 0; j < m; j++) {
        const awq_scan_linear *L = &s->lin[pick[j]];
        if (L->g_idx < 0) continue;
        const awq_tensor_info *g = awq_checkpoint_tensor(ck, (size_t)L->g_idx);
        if (!g->data || (g->dtype != AWQ_DT_I32 && g->dtype != AWQ_DT_U32)) continue;
        int64_t gsz = L->group_size > 0 ? L->group_size : L->K;
        if (gsz <= 0) continue;
        uint64_t nb = AWQ_MIN(g->n_bytes, (uint64_t)SAMPLE_BYTES_PER_LINEAR) & ~(uint64_t)3;
        const unsigned char *p = g->data;
        for (uint64_t o = 0; o < nb; o += 4) {
            int64_t k = (int64_t)(o / 4);
            int32_t v = (int32_t)rd_u32(p + o);
            gs->n++;
            if (v) gs->nonzero++;
            if (v != k / gsz) gs->mismatch++;
        }
    }
}

static awq_ckpt_kind dense_kind(const awq_checkpoint *ck, awq_dtype *dominant) {
    uint64_t by[AWQ_DT_COUNT] = {0}, total = 0;
    size_t n = awq_checkpoint_n_tensors(ck);
    for (size_t i = 0; i < n; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        if ((unsigned)t->dtype < AWQ_DT_COUNT && awq_dtype_is_float(t->dtype)) {
            by[t->dtype] += t->n_bytes;
            total += t->n_bytes;
        }
    }
    awq_dtype best = AWQ_DT_F16;
    for (int d = 0; d < AWQ_DT_COUNT; d++)
        if (by[d] > by[best]) best = (awq_dtype)d;
    *dominant = best;
    if (!total) return AWQ_CKPT_UNKNOWN;
    if ((double)by[best] < 0.9 * (double)total) return AWQ_CKPT_DENSE_MIXED;
    switch (best) {
    case AWQ_DT_F16: return AWQ_CKPT_DENSE_F16;
    case AWQ_DT_BF16: return AWQ_CKPT_DENSE_BF16;
    case AWQ_DT_F32: return AWQ_CKPT_DENSE_F32;
    default: return AWQ_CKPT_DENSE_MIXED;
    }
}

#define NOTE(r, ...) awq_note_add((r)->notes, &(r)->n_notes, AWQ_DETECT_MAX_NOTES, __VA_ARGS__)

static void shape_str(const awq_tensor_info *t, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Disagreements are collected first, then findings, so notes[0] is the
 * most important line. */
typedef struct {
    char lines[AWQ_DETECT_MAX_NOTES][AWQ_DETECT_NOTE_LEN];
    int n;
} note_list;

#define ADD(list, ...) awq_note_add((list)->lines, &(list)->n, AWQ_DETECT_MAX_NOTES, __VA_ARGS__)

/* The module name of a linear: its main tensor's name without the suffix
 * the family claimed it by. */
static void module_of(const char *name, char *buf, size_t n) {
    static const char *const suf[] = {".weight_packed", ".qweight", ".weight", "_blocks"};
    size_t l = strlen(name);
    for (size_t i = 0; i < AWQ_ARRAY_LEN(suf); i++) {
        size_t sl = strlen(suf[i]);
        if (l > sl && strcmp(name + l - sl, suf[i]) == 0) {
            l -= sl;
            break;
        }
    }
    if (l >= n) l = n - 1;
    memcpy(buf, name, l);
    buf[l] = 0;
}

/* compressed-tensors: every linear against the scheme config_groups gives
 * it (targets / ignore, `re:` patterns included). */
static void check_ct(const awq_checkpoint *ck, const awq_scan *s, note_list *bad) {
    size_t n_bad = 0;
    char mod[512];
    for (size_t i = 0; i < s->n_lin; i++) {
        const awq_scan_linear *L = &s->lin[i];
        if (L->role == AWQ_ROLE_OTHER || L->pack == AWQ_PACK_UNKNOWN) continue;
        const char *wn = awq_checkpoint_tensor(ck, (size_t)L->weight)->name;
        module_of(wn, mod, sizeof mod);
        const awq_ct_scheme *sch = awq_ct_scheme_for(
            s->ct, mod, L->role == AWQ_ROLE_EMBED ? AWQ_CT_MOD_EMBEDDING : AWQ_CT_MOD_LINEAR);
        char why[200] = "";
        bool quant_cfg = sch && sch->has_weights && sch->format != AWQ_CT_FMT_DENSE;
        if (L->pack == AWQ_PACK_NONE && quant_cfg)
            snprintf(why, sizeof why, "config_groups.%s (%s) targets it but it is stored dense",
                     sch->name, awq_ct_format_name(sch->format));
        else if (L->pack != AWQ_PACK_NONE && !quant_cfg)
            snprintf(why, sizeof why,
                     "stored quantized (%s) but no config_groups target matches it, or "
                     "ignore lists it",
                     awq_pack_kind_name(L->pack));
        else if (quant_cfg && sch->format != AWQ_CT_FMT_UNKNOWN && !awq_ct_scheme_fits(sch, L->pack))
            snprintf(why, sizeof why, "config_groups.%s says %s but the tensors are %s", sch->name,
                     awq_ct_format_name(sch->format), awq_pack_kind_name(L->pack));
        else if (quant_cfg && !L->bits_from_hint && sch->num_bits != L->bits)
            snprintf(why, sizeof why, "config_groups.%s num_bits %d but the shapes give %d-bit codes",
                     sch->name, sch->num_bits, L->bits);
        else if (quant_cfg && sch->strategy == AWQ_CT_STRAT_GROUP && sch->group_size > 0 &&
                 L->gran == AWQ_GRAN_GROUP && L->group_size != sch->group_size)
            snprintf(why, sizeof why, "config_groups.%s group_size %d but the scales give %d",
                     sch->name, sch->group_size, L->group_size);
        else if (quant_cfg && L->pack == AWQ_PACK_CT_INT && sch->symmetric != (L->qzeros < 0))
            snprintf(why, sizeof why, "config_groups.%s symmetric %s but weight_zero_point is %s",
                     sch->name, sch->symmetric ? "true" : "false",
                     L->qzeros < 0 ? "absent" : "stored");
        if (!why[0]) continue;
        if (!n_bad++) ADD(bad, "%s: %s", mod, why);
    }
    /* lm_head / embeddings stored dense are no scan linears: a Linear or
     * Embedding target that reaches them without an ignore is a mismatch. */
    for (size_t i = 0; i < s->n_tensors; i++) {
        const awq_scan_tensor *c = &s->t[i];
        if (c->linear >= 0 || (c->role != AWQ_ROLE_LM_HEAD && c->role != AWQ_ROLE_EMBED)) continue;
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        size_t l = strlen(t->name);
        if (t->ndim != 2 || l < 8 || strcmp(t->name + l - 7, ".weight") != 0) continue;
        module_of(t->name, mod, sizeof mod);
        const awq_ct_scheme *sch = awq_ct_scheme_for(
            s->ct, mod, c->role == AWQ_ROLE_EMBED ? AWQ_CT_MOD_EMBEDDING : AWQ_CT_MOD_LINEAR);
        if (!sch || !sch->has_weights || sch->format == AWQ_CT_FMT_DENSE) continue;
        if (!n_bad++)
            ADD(bad, "%s: config_groups.%s (%s) targets it but it is stored dense", mod, sch->name,
                awq_ct_format_name(sch->format));
    }
    if (n_bad > 1) ADD(bad, "%zu linears disagree with the compressed-tensors config", n_bad);
}

static void unresolved_note(const awq_checkpoint *ck, const awq_scan_linear *L, note_list *bad) {
    const awq_tensor_info *qw = awq_checkpoint_tensor(ck, (size_t)L->weight);
    char sh[64];
    shape_str(qw, sh, sizeof sh);
    ADD(bad, "%s: %s %s with its siblings fits no known layout of quantized weights (awqkit "
             "inspect --help lists them)", qw->name, awq_dtype_name(qw->dtype), sh);
}

/* Layouts of the format table that awqkit counts (compressed-tensors, FP8,
 * NVFP4, MXFP4, bitsandbytes, MLX): kind, shape facts, config check. */
static void detect_table_format(const awq_checkpoint *ck, const awq_scan *s,
                                awq_detect_result *r, note_list *bad, note_list *info) {
    const awq_qfmt_info *F = awq_qfmt_info_of(s->pack);
    r->kind = F ? F->kind : AWQ_CKPT_PACKED_OTHER;
    const awq_scan_linear *L0 = NULL;
    bool bits_var = false;
    int min_bits = 0, max_bits = 0;
    size_t n_unres = 0;
    for (size_t i = 0; i < s->n_lin; i++) {
        const awq_scan_linear *L = &s->lin[i];
        if (L->pack == AWQ_PACK_UNKNOWN && !n_unres++) unresolved_note(ck, L, bad);
        if (L->pack == AWQ_PACK_NONE || L->pack == AWQ_PACK_UNKNOWN) continue;
        if (!L0) L0 = L;
        if (L->bits != L0->bits) bits_var = true;
        if (!min_bits || L->bits < min_bits) min_bits = L->bits;
        if (L->bits > max_bits) max_bits = L->bits;
        if (L->g_idx >= 0) r->has_g_idx = true;
    }
    if (n_unres > 1) ADD(bad, "%zu packed linears fit no known layout", n_unres);
    if (!L0) return;
    r->bits = L0->bits;
    r->group_size = L0->group_size;
    /* no zero-point tensor: symmetric (MLX always stores biases) */
    r->zeros_symmetric = L0->qzeros < 0;
    if (bits_var) ADD(info, "quantized linears use %d to %d bits", min_bits, max_bits);
    const awq_quant_config *qc = &s->qc;
    if (!qc->present) {
        ADD(bad, "no quantization_config in config.json, but %zu linears are stored as %s",
            s->n_packed, F ? F->name : "?");
    } else {
        /* every quantized linear's layout is one the quant_method declares
         * (compressed-tensors config groups may mix layouts) */
        bool ok = true;
        for (size_t j = 0; j < s->n_lin && ok; j++) {
            const awq_qfmt_info *G = awq_qfmt_info_of(s->lin[j].pack);
            if (s->lin[j].pack == AWQ_PACK_NONE || s->lin[j].pack == AWQ_PACK_UNKNOWN) continue;
            bool m = false;
            for (int i = 0; G && i < 4 && G->methods[i]; i++)
                m = m || strcmp(G->methods[i], qc->quant_method) == 0;
            ok = m;
        }
        if (!ok)
            ADD(bad, "%s quant_method '%s' but the tensors are %s (%s)", s->qc_source,
                qc->quant_method[0] ? qc->quant_method : "(none)", F ? F->name : "?",
                awq_checkpoint_tensor(ck, (size_t)L0->weight)->name);
        if (s->ct) check_ct(ck, s, bad);
        if (strcmp(qc->quant_method, "mlx") == 0 && s->mlx_bits && !bits_var &&
            L0->bits != s->mlx_bits)
            ADD(bad, "config.json quantization.bits %d but the shapes give %d-bit codes",
                s->mlx_bits, L0->bits);
    }
    if (L0->bits_from_hint)
        ADD(info, "bits %d taken from the config (the %s layout does not fix it)", L0->bits,
            F ? F->name : "?");
}

static const char *gran_str(const awq_scan_linear *L, char *buf, size_t n) {
    switch (L->gran) {
    case AWQ_GRAN_GROUP: snprintf(buf, n, "group %d", L->group_size); break;
    case AWQ_GRAN_CHANNEL: snprintf(buf, n, "per-channel scales"); break;
    case AWQ_GRAN_TENSOR: snprintf(buf, n, "per-tensor scale"); break;
    case AWQ_GRAN_BLOCK: snprintf(buf, n, "%dx%d block scales", L->block[0], L->block[1]); break;
    default: snprintf(buf, n, "?"); break;
    }
    return buf;
}

/* r->format and r->bits_per_weight from the scan. */
static void describe(const awq_checkpoint *ck, const awq_scan *s, awq_detect_result *r) {
    uint64_t qbytes = 0, qlog = 0;
    const awq_scan_linear *L0 = NULL;
    for (size_t i = 0; i < s->n_tensors; i++) {
        const awq_scan_tensor *c = &s->t[i];
        if (c->linear < 0 || !awq_scan_part_is_quant(c->part)) continue;
        const awq_scan_linear *L = &s->lin[c->linear];
        if (L->pack == AWQ_PACK_UNKNOWN) continue;
        qbytes += awq_checkpoint_tensor(ck, i)->n_bytes;
        if (c->part == AWQ_PART_QWEIGHT) {
            qlog += L->logical;
            if (!L0) L0 = L;
        }
    }
    r->bits_per_weight = qlog ? 8.0 * (double)qbytes / (double)qlog : 0;
    char g[48];
    const char *bw = "";
    char bits[16] = "";
    if (L0) {
        snprintf(bits, sizeof bits, "%s%d", L0->is_float ? "fp" : "int", L0->bits);
        gran_str(L0, g, sizeof g);
    }
    bool asym = L0 && L0->qzeros >= 0;
    switch (r->kind) {
    case AWQ_CKPT_DENSE_F16: case AWQ_CKPT_DENSE_BF16: case AWQ_CKPT_DENSE_F32:
    case AWQ_CKPT_DENSE_MIXED:
        snprintf(r->format, sizeof r->format, "%s dense", awq_ckpt_kind_name(r->kind));
        return;
    case AWQ_CKPT_AWQ_GEMM: bw = "AWQ GEMM"; break;
    case AWQ_CKPT_AWQ_GEMV: bw = "AWQ GEMV"; break;
    case AWQ_CKPT_GPTQ_V1: bw = "GPTQ v1"; break;
    case AWQ_CKPT_GPTQ_V2: bw = "GPTQ v2"; break;
    case AWQ_CKPT_GPTQ: bw = "GPTQ (v1/v2 undecided)"; break;
    case AWQ_CKPT_CT_INT: bw = "compressed-tensors pack-quantized"; break;
    case AWQ_CKPT_CT_NAIVE: bw = "compressed-tensors naive-quantized"; break;
    case AWQ_CKPT_FP8:
        bw = s->ct ? "compressed-tensors float-quantized FP8 E4M3" : "FP8 E4M3";
        asym = false;
        snprintf(bits, sizeof bits, "8-bit");
        break;
    case AWQ_CKPT_FP8_BLOCK: bw = "FP8 E4M3 (weight_scale_inv)"; snprintf(bits, sizeof bits, "8-bit"); break;
    case AWQ_CKPT_NVFP4: bw = "NVFP4 (E2M1 + FP8 scales)"; snprintf(bits, sizeof bits, "4-bit"); break;
    case AWQ_CKPT_MXFP4: bw = "MXFP4 (E2M1 + E8M0 scales)"; snprintf(bits, sizeof bits, "4-bit"); break;
    case AWQ_CKPT_BNB_4BIT:
        bw = L0 && L0->is_float ? "bitsandbytes fp4" : "bitsandbytes nf4";
        bits[0] = 0;
        if (L0) snprintf(g, sizeof g, "blocksize %d", L0->group_size);
        break;
    case AWQ_CKPT_BNB_8BIT: bw = "bitsandbytes LLM.int8"; bits[0] = 0; break;
    case AWQ_CKPT_MLX: bw = "MLX affine"; asym = true; break;
    default:
        snprintf(r->format, sizeof r->format, "%s (%s)", awq_ckpt_kind_name(r->kind),
                 awq_pack_kind_describe(s->pack));
        return;
    }
    if (!L0) {
        snprintf(r->format, sizeof r->format, "%s", bw);
        return;
    }
    snprintf(r->format, sizeof r->format, "%s%s%s%s, %s", bw, bits[0] ? " " : "", bits,
             asym ? " asymmetric" : "", g);
}

awq_status awq_detect(awq_ctx *ctx, const awq_checkpoint *ck, awq_detect_result *r) {
    memset(r, 0, sizeof *r);
    awq_scan s;
    awq_status st = awq_scan_checkpoint(ctx, ck, &s);
    if (st != AWQ_OK) {
        awq_scan_free(&s);
        return st;
    }
    note_list *bad = calloc(1, sizeof *bad), *info = calloc(1, sizeof *info);
    if (!bad || !info) {
        free(bad);
        free(info);
        awq_scan_free(&s);
        return awq_fail_nomem(ctx, "detection notes", sizeof *bad * 2);
    }
    r->config = s.qc;
    r->pack = s.pack;
    awq_ckpt_kind dk = dense_kind(ck, &r->float_dtype);
    r->n_packed_linears = (int)s.n_packed;
    const awq_quant_config *qc = &s.qc;
    bool cfg_awq = strcmp(qc->quant_method, "awq") == 0;
    bool cfg_gptq = strcmp(qc->quant_method, "gptq") == 0;

    /* compressed-tensors (every layout its config_groups name, mixed ones
     * too) and the table's other non-AWQ/GPTQ layouts: per the table and
     * the config; AWQ / GPTQ: from sampled qzeros / g_idx below */
    const awq_qfmt_info *F = awq_qfmt_info_of(s.pack);
    if (s.n_packed > 0 && (s.ct || (F && !F->zeros_sampled))) {
        detect_table_format(ck, &s, r, bad, info);
    } else if (s.n_packed == 0) {
        r->kind = dk;
        if (s.ct) check_ct(ck, &s, bad);
        if (qc->present && (cfg_awq || cfg_gptq))
            ADD(bad, "%s quantization_config says quant_method %s but no packed linear "
                     "(.qweight) is stored",
                s.qc_source, qc->quant_method);
        else if (qc->present && !s.ct)
            ADD(bad, "%s quantization_config quant_method '%s' but every linear is stored dense",
                s.qc_source, qc->quant_method[0] ? qc->quant_method : "(none)");
        else
            ADD(info, "dense checkpoint: no packed linears, no quantization_config");
    } else {
        /* Representative linear: the first resolved one. */
        const awq_scan_linear *L0 = NULL;
        size_t n_unres = 0;
        for (size_t i = 0; i < s.n_lin; i++) {
            if (s.lin[i].pack == AWQ_PACK_NONE) continue;
            if (s.lin[i].pack == AWQ_PACK_UNKNOWN) {
                if (!n_unres++) unresolved_note(ck, &s.lin[i], bad);
            } else if (!L0) {
                L0 = &s.lin[i];
            }
        }
        if (n_unres > 1) ADD(bad, "%zu packed linears fit no known layout", n_unres);
        /* Bits / group size across linears. */
        int bits = 0, g = 0;
        bool bits_var = false, g_var = false;
        bool any_gidx = false;
        for (size_t i = 0; i < s.n_lin; i++) {
            const awq_scan_linear *L = &s.lin[i];
            if (L->pack == AWQ_PACK_NONE || L->pack == AWQ_PACK_UNKNOWN) continue;
            if (!bits) bits = L->bits;
            else if (bits != L->bits) bits_var = true;
            if (!g) g = L->group_size;
            else if (g != L->group_size) g_var = true;
            if (L->g_idx >= 0) any_gidx = true;
        }
        r->bits = bits;
        r->group_size = g;
        r->has_g_idx = any_gidx;
        if (bits_var) ADD(info, "packed linears use different bit widths");
        if (g_var) ADD(info, "packed linears use different group sizes (first: %d)", g);

        size_t pick[SAMPLE_LINEARS];
        size_t m = pick_sample(&s, s.pack == AWQ_PACK_MIXED ? AWQ_PACK_GPTQ : s.pack, pick);
        zero_stats zs;
        gidx_stats gs;
        sample_zeros(ck, &s, pick, m, &zs);
        sample_gidx(ck, &s, pick, m, &gs);
        r->data_blank = zs.n_words > 0 && zs.n_words_nonzero == 0 && gs.nonzero == 0;
        if (r->data_blank)
            ADD(info, "sampled qzeros%s are all zero: blank tensor data (e.g. `awqkit synth "
                      "--zero-data`); zeros and g_idx heuristics skipped",
                any_gidx ? " and g_idx" : "");
        if (gs.n && !r->data_blank) {
            r->act_order = gs.mismatch > 0;
            ADD(info, "g_idx: %s (%llu of %llu sampled entries differ from k / group_size)",
                r->act_order ? "act-order (desc_act) permutation" : "plain order k / group_size",
                (unsigned long long)gs.mismatch, (unsigned long long)gs.n);
        }
        if (zs.n_codes && !r->data_blank) {
            int mid = 1 << (zs.bits - 1);
            int distinct = 0, only = -1;
            double sum = 0;
            for (int v = 0; v < (1 << zs.bits); v++) {
                if (zs.hist[v]) {
                    distinct++;
                    only = v;
                }
                sum += (double)v * (double)zs.hist[v];
            }
            double mean = sum / (double)zs.n_codes;
            int n_true = 0;
            const char *true_why = NULL;
            r->zeros_symmetric = distinct == 1;
            if (s.pack == AWQ_PACK_GPTQ) {
                if (distinct == 1 && only == mid - 1) {
                    r->gptq_version = 1;
                    ADD(info, "qzeros: every code is %d = %d - 1: GPTQ v1, symmetric (v1 stores "
                              "zero - 1)",
                        only, mid);
                } else if (distinct == 1 && only == mid) {
                    r->gptq_version = 2;
                    ADD(info, "qzeros: every code is %d: GPTQ v2, symmetric (v2 stores the zero "
                              "point itself)",
                        only);
                } else if (distinct == 1) {
                    ADD(info, "qzeros: every code is %d, neither v1 (%d) nor v2 (%d) symmetric",
                        only, mid - 1, mid);
                } else if ((n_true = gptq_true_zero_evidence(ck, &s, pick, m, &true_why)) > 0) {
                    r->gptq_version = 2;
                    ADD(info, "qzeros: GPTQ v2 (true zeros) in %d of %zu sampled linears: %s", n_true,
                        m, true_why);
                } else {
                    /* Asymmetric zeros sit near the middle of the code
                     * range: round(-min/scale) ~ 2^(b-1) - 0.5 in v2, one
                     * less in v1. Only a clear offset decides. */
                    if (mean < (double)mid - 1.25) r->gptq_version = 1;
                    else if (mean > (double)mid - 0.75) r->gptq_version = 2;
                    ADD(info, "qzeros: asymmetric, mean code %.2f over %llu codes: %s "
                              "(heuristic: v1 stores zero - 1, so its mean sits about 1 lower)",
                        mean, (unsigned long long)zs.n_codes,
                        r->gptq_version == 1   ? "v1-like"
                        : r->gptq_version == 2 ? "v2-like"
                                               : "undecided");
                }
            } else {
                ADD(info, "qzeros: %d distinct codes, mean %.2f", distinct, mean);
            }
        }

        /* Kind. */
        switch (s.pack) {
        case AWQ_PACK_AWQ_GEMM: r->kind = AWQ_CKPT_AWQ_GEMM; break;
        case AWQ_PACK_AWQ_GEMV: r->kind = AWQ_CKPT_AWQ_GEMV; break;
        case AWQ_PACK_GPTQ:
            if (r->gptq_version == 1) r->kind = AWQ_CKPT_GPTQ_V1;
            else if (r->gptq_version == 2) r->kind = AWQ_CKPT_GPTQ_V2;
            else if (strcmp(qc->checkpoint_format, "gptq_v2") == 0) r->kind = AWQ_CKPT_GPTQ_V2;
            else if (strcmp(qc->checkpoint_format, "gptq") == 0) r->kind = AWQ_CKPT_GPTQ_V1;
            else if (cfg_gptq) {
                r->kind = AWQ_CKPT_GPTQ_V1;
                ADD(info, "GPTQ version from neither zeros nor checkpoint_format: v1 assumed "
                          "(the default of GPTQ loaders)");
            } else {
                r->kind = AWQ_CKPT_GPTQ;
            }
            break;
        default: r->kind = AWQ_CKPT_PACKED_OTHER; break;
        }

        /* Config against tensors. */
        const char *qw0 = L0 ? awq_checkpoint_tensor(ck, (size_t)L0->weight)->name : "";
        if (!qc->present) {
            ADD(bad, "no quantization_config (config.json) or quantize_config.json, but %zu "
                     "packed linears are stored",
                s.n_packed);
        } else {
            bool tens_awq = s.pack == AWQ_PACK_AWQ_GEMM || s.pack == AWQ_PACK_AWQ_GEMV;
            bool tens_gptq = s.pack == AWQ_PACK_GPTQ;
            if (!qc->quant_method[0])
                ADD(bad, "%s has no quant_method", s.qc_source);
            else if ((cfg_awq && !tens_awq) || (cfg_gptq && !tens_gptq) || (!cfg_awq && !cfg_gptq))
                ADD(bad, "%s quant_method '%s' but the packed tensors are %s layout (%s)",
                    s.qc_source, qc->quant_method, awq_pack_kind_name(s.pack), qw0);
            if (L0 && qc->bits && qc->bits != L0->bits)
                ADD(bad, "%s bits %d but %s's shapes give %d-bit codes", s.qc_source, qc->bits,
                    qw0, L0->bits);
            if (L0 && qc->bits && qc->bits == L0->bits && L0->bits_from_hint)
                ADD(info, "bits %d taken from %s (the %s layout does not fix it)", qc->bits,
                    s.qc_source, awq_pack_kind_name(L0->pack));
            if (L0 && qc->group_size && qc->group_size != L0->group_size) {
                const awq_tensor_info *sc = awq_checkpoint_tensor(ck, (size_t)L0->scales);
                char sh[64];
                shape_str(sc, sh, sizeof sh);
                ADD(bad, "%s group_size %d but %s scales %s with K = %lld give group size %d",
                    s.qc_source, qc->group_size, qw0, sh, (long long)L0->K, L0->group_size);
            }
            if (cfg_awq && tens_awq) {
                const char *want = s.pack == AWQ_PACK_AWQ_GEMM ? "gemm" : "gemv";
                if (qc->version[0] && strcmp(qc->version, want) != 0)
                    ADD(bad, "%s version '%s' but the tensors are %s layout (%s)", s.qc_source,
                        qc->version, want, qw0);
                else if (!qc->version[0])
                    ADD(info, "%s has no version; tensors are %s layout", s.qc_source, want);
            }
            if (cfg_gptq && tens_gptq) {
                if (qc->desc_act && !any_gidx)
                    ADD(bad, "%s desc_act true but no g_idx is stored", s.qc_source);
                else if (!r->data_blank && gs.n && qc->desc_act != r->act_order)
                    ADD(bad, "%s desc_act %s but g_idx is %s", s.qc_source,
                        qc->desc_act ? "true" : "false",
                        r->act_order ? "an act-order permutation" : "plain k / group_size");
                int ver = strcmp(qc->checkpoint_format, "gptq_v2") == 0 ? 2
                          : strcmp(qc->checkpoint_format, "gptq") == 0  ? 1
                                                                        : 0;
                if (ver && r->gptq_version && ver != r->gptq_version)
                    ADD(bad, "%s checkpoint_format '%s' but the stored zeros read as v%d",
                        s.qc_source, qc->checkpoint_format, r->gptq_version);
                if (r->zeros_symmetric && !r->data_blank && !qc->sym)
                    ADD(info, "zeros are all equal (symmetric) though sym is not true");
            }
        }
    }
    if (s.n_dense_twins) {
        r->n_dense_twins = (int)s.n_dense_twins;
        const char *tw = "";
        for (size_t i = 0; i < s.n_lin && !tw[0]; i++)
            if (s.lin[i].dense_twin >= 0)
                tw = awq_checkpoint_tensor(ck, (size_t)s.lin[i].dense_twin)->name;
        ADD(bad, "%zu linears are stored both dense and quantized (first: %s): serving engines "
                 "read the quantized tensors, a dense reader the other",
            s.n_dense_twins, tw);
    }
    describe(ck, &s, r);
    r->config_agrees = bad->n == 0;
    for (int i = 0; i < bad->n; i++) NOTE(r, "%s", bad->lines[i]);
    for (int i = 0; i < info->n; i++) NOTE(r, "%s", info->lines[i]);
    free(bad);
    free(info);
    awq_scan_free(&s);
    return AWQ_OK;
}
