/*
 * lib/quant/detect.c — the checkpoint scan (roles, linears, packed layouts
 * resolved from shapes) and checkpoint-kind detection for `inspect`.
 *
 * Layouts (bits b, p = 32/b codes per int32 word, K in, N out, g group,
 * G = ceil(K/g)):
 *   AWQ GEMM  qweight [K, N/p]   qzeros [G, N/p]          scales [G, N]
 *   AWQ GEMV  qweight [N, K/p]   qzeros [N, ceil(G/p)]    scales [N, p*ceil(G/p)]
 *   GPTQ      qweight [K*b/32, N] qzeros [G, N*b/32]      scales [G, N]  g_idx [K]
 * (exact shapes, GEMV padding rules included: lib/quant/layouts.h, which
 * has the last word on every candidate reading). Each layout keeps some
 * dimensions whole, which gives the candidate K and N: GEMM K = qweight
 * rows, N = scales columns; GEMV N = qweight rows, K = p x qweight columns;
 * GPTQ N = qweight columns, K = g_idx length (or 32/b x qweight rows). A
 * candidate (layout, bits, group) is accepted only when layouts.h gives
 * exactly the stored shapes. The config's method, bits and group size are
 * tried first; where the shapes leave bits or the group size open (GEMV's
 * padded zeros hide G; GPTQ without g_idx hides K), the config's value is
 * used and the linear says so (…_from_hint).
 */
#include "quant/count_impl.h"
#include "quant/layouts.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

const char *awq_role_name(awq_role r) {
    switch (r) {
    case AWQ_ROLE_LINEAR: return "linear";
    case AWQ_ROLE_EMBED: return "embed";
    case AWQ_ROLE_LM_HEAD: return "lm_head";
    case AWQ_ROLE_NORM: return "norm";
    case AWQ_ROLE_VISION: return "vision";
    case AWQ_ROLE_OTHER: return "other";
    default: return "unknown";
    }
}

const char *awq_pack_kind_name(awq_pack_kind k) {
    switch (k) {
    case AWQ_PACK_NONE: return "none";
    case AWQ_PACK_AWQ_GEMM: return "awq-gemm";
    case AWQ_PACK_AWQ_GEMV: return "awq-gemv";
    case AWQ_PACK_GPTQ: return "gptq";
    case AWQ_PACK_MIXED: return "mixed";
    default: return "unknown";
    }
}

const char *awq_ckpt_kind_name(awq_ckpt_kind k) {
    switch (k) {
    case AWQ_CKPT_DENSE_F16: return "fp16";
    case AWQ_CKPT_DENSE_BF16: return "bf16";
    case AWQ_CKPT_DENSE_F32: return "fp32";
    case AWQ_CKPT_DENSE_MIXED: return "dense-mixed";
    case AWQ_CKPT_AWQ_GEMM: return "awq-gemm";
    case AWQ_CKPT_AWQ_GEMV: return "awq-gemv";
    case AWQ_CKPT_GPTQ_V1: return "gptq-v1";
    case AWQ_CKPT_GPTQ_V2: return "gptq-v2";
    case AWQ_CKPT_GPTQ: return "gptq";
    case AWQ_CKPT_PACKED_OTHER: return "packed-other";
    default: return "unknown";
    }
}

void awq_note_add(char (*notes)[AWQ_DETECT_NOTE_LEN], int *n, int max,
                  const char *fmt, ...) {
    if (*n >= max) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes[*n], AWQ_DETECT_NOTE_LEN, fmt, ap);
    va_end(ap);
    (*n)++;
}

/* Does the dotted name have a component equal to (or, with prefix, starting
 * with) `word`? */
static bool has_component(const char *name, const char *word, bool prefix,
                          bool contains) {
    size_t wl = strlen(word);
    const char *c = name;
    while (*c) {
        const char *e = strchr(c, '.');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        if (contains) {
            for (size_t i = 0; i + wl <= cl; i++)
                if (memcmp(c + i, word, wl) == 0) return true;
        } else if (prefix ? (cl >= wl && memcmp(c, word, wl) == 0)
                          : (cl == wl && memcmp(c, word, wl) == 0)) {
            return true;
        }
        if (!e) break;
        c = e + 1;
    }
    return false;
}

awq_role awq_role_from_name(const char *name) {
    static const char *const vision[] = {"visual", "vision_tower", "vision_model",
                                         "multi_modal_projector", "mm_projector"};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(vision); i++)
        if (has_component(name, vision[i], false, false)) return AWQ_ROLE_VISION;
    if (has_component(name, "lm_head", false, false)) return AWQ_ROLE_LM_HEAD;
    static const char *const embed[] = {"embed_tokens", "wte", "word_embeddings",
                                        "tok_embeddings"};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(embed); i++)
        if (has_component(name, embed[i], false, false)) return AWQ_ROLE_EMBED;
    if (has_component(name, "norm", false, true) || has_component(name, "ln_", true, false))
        return AWQ_ROLE_NORM;
    return AWQ_ROLE_LINEAR;
}

/* --------------------------------------------------------------- config */

static void copy_lower(char *dst, size_t n, const char *src) {
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = 0;
}

static bool json_int(const cJSON *o, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= -1e9 && d <= 1e9)) return false;
    *out = (int)d;
    return true;
}

static bool json_bool(const cJSON *o, const char *key, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsBool(v)) return false;
    *out = cJSON_IsTrue(v);
    return true;
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void awq_quant_config_lenient(const cJSON *qc, awq_quant_config *out) {
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(qc)) return;
    out->present = true;
    copy_lower(out->quant_method, sizeof out->quant_method, json_str(qc, "quant_method"));
    if (!json_int(qc, "bits", &out->bits)) json_int(qc, "w_bit", &out->bits);
    if (!json_int(qc, "group_size", &out->group_size))
        json_int(qc, "q_group_size", &out->group_size);
    json_bool(qc, "zero_point", &out->zero_point);
    json_bool(qc, "sym", &out->sym);
    json_bool(qc, "desc_act", &out->desc_act);
    copy_lower(out->version, sizeof out->version, json_str(qc, "version"));
    const char *fmt = json_str(qc, "checkpoint_format");
    copy_lower(out->checkpoint_format, sizeof out->checkpoint_format, fmt);
    if (!out->quant_method[0]) {
        /* Stand-alone files of older quantizers carry no quant_method:
         * AutoGPTQ's quantize_config.json has desc_act / damp_percent,
         * AutoAWQ's quant_config.json has w_bit / zero_point. */
        if (cJSON_GetObjectItemCaseSensitive(qc, "desc_act") ||
            cJSON_GetObjectItemCaseSensitive(qc, "damp_percent"))
            strcpy(out->quant_method, "gptq");
        else if (cJSON_GetObjectItemCaseSensitive(qc, "w_bit") ||
                 cJSON_GetObjectItemCaseSensitive(qc, "zero_point"))
            strcpy(out->quant_method, "awq");
    }
}

/* quantization_config from config.json, else a stand-alone quantizer file
 * next to the shards (read only if small). */
static void read_quant_config(awq_ctx *ctx, const awq_checkpoint *ck, awq_scan *s) {
    const cJSON *root = awq_checkpoint_config(ck);
    if (root) {
        const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
        if (!qc) {
            const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
            if (cJSON_IsObject(tc)) qc = cJSON_GetObjectItemCaseSensitive(tc, "quantization_config");
        }
        if (cJSON_IsObject(qc)) {
            awq_quant_config_lenient(qc, &s->qc);
            snprintf(s->qc_source, sizeof s->qc_source, "config.json");
            return;
        }
    }
    static const char *const files[] = {"quantize_config.json", "quant_config.json"};
    const char *dir = awq_checkpoint_dir(ck);
    for (size_t i = 0; dir && i < AWQ_ARRAY_LEN(files); i++) {
        char *p = awq_path_join(dir, files[i]);
        if (!p) return;
        char *text = NULL;
        size_t len = 0;
        if (awq_path_exists(p) && awq_read_file(ctx, p, 1u << 20, &text, &len) == AWQ_OK) {
            cJSON *j = cJSON_ParseWithLength(text, len);
            if (cJSON_IsObject(j)) {
                awq_quant_config_lenient(j, &s->qc);
                snprintf(s->qc_source, sizeof s->qc_source, "%s", files[i]);
            }
            cJSON_Delete(j);
        }
        awq_clear_error(ctx);
        free(text);
        free(p);
        if (s->qc.present) return;
    }
}

static bool read_tie(const awq_checkpoint *ck) {
    const cJSON *root = awq_checkpoint_config(ck);
    if (!root) return false;
    bool tie;
    if (json_bool(root, "tie_word_embeddings", &tie)) return tie;
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (cJSON_IsObject(tc) && json_bool(tc, "tie_word_embeddings", &tie)) return tie;
    return false;
}

/* ------------------------------------------------------- packed layouts */

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

/* ------------------------------------------------------------------ scan */

typedef struct {
    const char *name;
    int64_t idx;
} name_idx;

static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

static int64_t lookup(const name_idx *tab, size_t n, const char *name) {
    name_idx key = {name, -1};
    const name_idx *r = bsearch(&key, tab, n, sizeof *tab, cmp_name_idx);
    return r ? r->idx : -1;
}

static bool ends_with(const char *s, const char *suf, size_t *stem) {
    size_t ls = strlen(s), lf = strlen(suf);
    if (ls <= lf || strcmp(s + ls - lf, suf) != 0) return false;
    *stem = ls - lf;
    return true;
}

/* Look up stem + suffix (stem = the first `stem_len` bytes of name). */
static int64_t lookup_sibling(const name_idx *tab, size_t n, const char *name,
                              size_t stem_len, const char *suffix, char *buf,
                              size_t buf_size) {
    size_t sl = strlen(suffix);
    if (stem_len + sl + 1 > buf_size) return -1;
    memcpy(buf, name, stem_len);
    memcpy(buf + stem_len, suffix, sl + 1);
    return lookup(tab, n, buf);
}

void awq_scan_free(awq_scan *s) {
    if (!s) return;
    free(s->t);
    free(s->lin);
    s->t = NULL;
    s->lin = NULL;
}

static awq_status push_linear(awq_ctx *ctx, awq_scan *s, size_t *cap, awq_scan_linear **out) {
    if (s->n_lin == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        awq_scan_linear *p = realloc(s->lin, nc * sizeof *p);
        if (!p) return awq_fail_nomem(ctx, "linear list", nc * sizeof *p);
        s->lin = p;
        *cap = nc;
    }
    awq_scan_linear *L = &s->lin[s->n_lin++];
    memset(L, 0, sizeof *L);
    L->weight = L->qzeros = L->scales = L->g_idx = L->bias = -1;
    *out = L;
    return AWQ_OK;
}

awq_status awq_scan_checkpoint(awq_ctx *ctx, const awq_checkpoint *ck, awq_scan *s) {
    memset(s, 0, sizeof *s);
    size_t n = awq_checkpoint_n_tensors(ck);
    s->n_tensors = n;
    s->has_config = awq_checkpoint_config(ck) != NULL;
    s->tie = read_tie(ck);
    read_quant_config(ctx, ck, s);
    s->t = calloc(n ? n : 1, sizeof *s->t);
    name_idx *tab = malloc((n ? n : 1) * sizeof *tab);
    if (!s->t || !tab) {
        free(tab);
        return awq_fail_nomem(ctx, "checkpoint scan", (uint64_t)n * sizeof *tab);
    }
    for (size_t i = 0; i < n; i++) {
        tab[i].name = awq_checkpoint_tensor(ck, i)->name;
        tab[i].idx = (int64_t)i;
        s->t[i].role = AWQ_ROLE_OTHER;
        s->t[i].part = AWQ_PART_PLAIN;
        s->t[i].linear = -1;
    }
    qsort(tab, n, sizeof *tab, cmp_name_idx);

    size_t cap = 0;
    char buf[1024];
    awq_status st = AWQ_OK;
    bool seen_pack[AWQ_PACK_UNKNOWN + 1] = {0};
    /* Pass 1: packed families, claimed by their qweight. */
    for (size_t i = 0; i < n && st == AWQ_OK; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        size_t stem;
        if (!ends_with(t->name, ".qweight", &stem)) continue;
        awq_scan_linear *L;
        if ((st = push_linear(ctx, s, &cap, &L)) != AWQ_OK) break;
        int64_t li = (int64_t)s->n_lin - 1;
        L->weight = (int64_t)i;
        L->qzeros = lookup_sibling(tab, n, t->name, stem, ".qzeros", buf, sizeof buf);
        L->scales = lookup_sibling(tab, n, t->name, stem, ".scales", buf, sizeof buf);
        L->g_idx = lookup_sibling(tab, n, t->name, stem, ".g_idx", buf, sizeof buf);
        L->bias = lookup_sibling(tab, n, t->name, stem, ".bias", buf, sizeof buf);
        if (stem < sizeof buf) {
            memcpy(buf, t->name, stem);
            buf[stem] = 0;
            L->role = awq_role_from_name(buf);
        } else {
            L->role = AWQ_ROLE_LINEAR;
        }
        if (L->scales >= 0) {
            packed_set ps = {t, L->qzeros >= 0 ? awq_checkpoint_tensor(ck, (size_t)L->qzeros) : NULL,
                             awq_checkpoint_tensor(ck, (size_t)L->scales),
                             L->g_idx >= 0 ? awq_checkpoint_tensor(ck, (size_t)L->g_idx) : NULL};
            resolve_packed(s, &ps, L);
        } else {
            L->pack = AWQ_PACK_UNKNOWN;
        }
        seen_pack[L->pack] = true;
        s->n_packed++;
        static const awq_scan_part parts[] = {AWQ_PART_QWEIGHT, AWQ_PART_QZEROS, AWQ_PART_SCALES,
                                              AWQ_PART_G_IDX, AWQ_PART_BIAS};
        int64_t idx[] = {L->weight, L->qzeros, L->scales, L->g_idx, L->bias};
        for (size_t k = 0; k < AWQ_ARRAY_LEN(idx); k++) {
            if (idx[k] < 0) continue;
            s->t[idx[k]].role = L->role;
            s->t[idx[k]].part = parts[k];
            s->t[idx[k]].linear = li;
        }
    }
    /* Pass 2: everything else by name and shape. */
    int64_t embed = -1, lm_head = -1;
    for (size_t i = 0; i < n && st == AWQ_OK; i++) {
        if (s->t[i].linear >= 0) continue;
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        awq_role r = awq_role_from_name(t->name);
        size_t stem;
        if (r == AWQ_ROLE_EMBED && embed < 0 && ends_with(t->name, ".weight", &stem)) embed = (int64_t)i;
        if (r == AWQ_ROLE_LM_HEAD && lm_head < 0 && ends_with(t->name, ".weight", &stem))
            lm_head = (int64_t)i;
        if (r == AWQ_ROLE_LINEAR) {
            bool is_w = ends_with(t->name, ".weight", &stem) && t->ndim == 2;
            if (is_w) {
                awq_scan_linear *L;
                if ((st = push_linear(ctx, s, &cap, &L)) != AWQ_OK) break;
                L->role = AWQ_ROLE_LINEAR;
                L->pack = AWQ_PACK_NONE;
                L->weight = (int64_t)i;
                L->K = t->shape[1];
                L->N = t->shape[0];
                L->bias = lookup_sibling(tab, n, t->name, stem, ".bias", buf, sizeof buf);
                int64_t li = (int64_t)s->n_lin - 1;
                s->t[i].role = AWQ_ROLE_LINEAR;
                s->t[i].part = AWQ_PART_DENSE_WEIGHT;
                s->t[i].linear = li;
                if (L->bias >= 0) {
                    const awq_tensor_info *b = awq_checkpoint_tensor(ck, (size_t)L->bias);
                    if (b->ndim == 1 && b->shape[0] == L->N) {
                        s->t[L->bias].role = AWQ_ROLE_LINEAR;
                        s->t[L->bias].part = AWQ_PART_BIAS;
                        s->t[L->bias].linear = li;
                    } else {
                        L->bias = -1;
                    }
                }
                continue;
            }
            /* A bias whose weight is 2-D is claimed when the weight comes
             * by (it may come later in checkpoint order); anything else
             * that names no known role is OTHER. */
            if (s->t[i].part == AWQ_PART_PLAIN && ends_with(t->name, ".bias", &stem)) {
                int64_t w = lookup_sibling(tab, n, t->name, stem, ".weight", buf, sizeof buf);
                if (w >= 0 && awq_checkpoint_tensor(ck, (size_t)w)->ndim == 2) {
                    s->t[i].role = AWQ_ROLE_LINEAR;
                    continue;
                }
            }
            s->t[i].role = AWQ_ROLE_OTHER;
            continue;
        }
        s->t[i].role = r;
    }
    if (st == AWQ_OK && s->tie && embed >= 0 && lm_head >= 0 && s->t[lm_head].linear < 0)
        s->t[lm_head].part = AWQ_PART_TIED_DUP;
    free(tab);
    if (st != AWQ_OK) return st;
    int kinds = 0;
    for (int k = AWQ_PACK_AWQ_GEMM; k <= AWQ_PACK_UNKNOWN; k++) {
        if (!seen_pack[k]) continue;
        kinds++;
        s->pack = (awq_pack_kind)k;
    }
    if (kinds > 1) s->pack = AWQ_PACK_MIXED;
    return AWQ_OK;
}

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

    if (s.n_packed == 0) {
        r->kind = dk;
        if (qc->present && (cfg_awq || cfg_gptq))
            ADD(bad, "%s quantization_config says quant_method %s but no packed linear "
                     "(.qweight) is stored",
                s.qc_source, qc->quant_method);
        else if (qc->present)
            ADD(info, "%s has quantization_config quant_method '%s' (not checked: awqkit "
                      "reads AWQ and GPTQ)",
                s.qc_source, qc->quant_method);
        else
            ADD(info, "dense checkpoint: no packed linears, no quantization_config");
    } else {
        /* Representative linear: the first resolved one. */
        const awq_scan_linear *L0 = NULL;
        size_t n_unres = 0;
        for (size_t i = 0; i < s.n_lin; i++) {
            if (s.lin[i].pack == AWQ_PACK_NONE) continue;
            if (s.lin[i].pack == AWQ_PACK_UNKNOWN) {
                if (!n_unres++) {
                    const awq_tensor_info *qw = awq_checkpoint_tensor(ck, (size_t)s.lin[i].weight);
                    char sh[64];
                    shape_str(qw, sh, sizeof sh);
                    ADD(bad, "%s: qweight %s with its scales/qzeros fits no known layout "
                             "(AWQ GEMM/GEMV, GPTQ; bits 2/3/4/8)",
                        qw->name, sh);
                }
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
    r->config_agrees = bad->n == 0;
    for (int i = 0; i < bad->n; i++) NOTE(r, "%s", bad->lines[i]);
    for (int i = 0; i < info->n; i++) NOTE(r, "%s", info->lines[i]);
    free(bad);
    free(info);
    awq_scan_free(&s);
    return AWQ_OK;
}
