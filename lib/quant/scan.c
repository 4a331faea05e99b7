/*
 * lib/quant/scan.c — the checkpoint scan shared by count, detect and size:
 * tensor roles from names, the quantization config (config.json, or a
 * stand-alone quantize_config.json / quant_config.json; compressed-tensors
 * schemes; MLX "quantization"), and the grouping of tensors into linears —
 * quantized ones claimed through the format table (formats.c), dense ones
 * by their 2-D float .weight. Header metadata and config only.
 */
#include "quant/count_impl.h"
#include "quant/ctconfig.h"
#include "quant/formats.h"

#include "core/core.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* 16/32/64-bit floats: what a dense linear is stored in (FP8 is a
 * quantized format: it needs its scales). */
static bool dense_float(awq_dtype d) {
    return d == AWQ_DT_F16 || d == AWQ_DT_BF16 || d == AWQ_DT_F32 || d == AWQ_DT_F64;
}

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
    default:
        if (k >= AWQ_CKPT_CT_INT && k <= AWQ_CKPT_MLX)
            return awq_pack_kind_name((awq_pack_kind)(AWQ_PACK_CT_INT + (k - AWQ_CKPT_CT_INT)));
        return "unknown";
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
        const cJSON *mq = cJSON_GetObjectItemCaseSensitive(root, "quantization");
        if (cJSON_IsObject(mq)) {
            /* MLX: {"group_size": 64, "bits": 4, "<module>": {...}}; mlx-lm
             * also writes the same object as quantization_config. */
            json_int(mq, "bits", &s->mlx_bits);
            json_int(mq, "group_size", &s->mlx_group);
            s->mlx_q = mq;
            if (!cJSON_IsObject(qc)) {
                s->qc.present = true;
                strcpy(s->qc.quant_method, "mlx");
                s->qc.bits = s->mlx_bits;
                s->qc.group_size = s->mlx_group;
                snprintf(s->qc_source, sizeof s->qc_source, "config.json");
                return;
            }
        }
        if (cJSON_IsObject(qc)) {
            awq_quant_config_lenient(qc, &s->qc);
            if (s->mlx_q && !s->qc.quant_method[0]) strcpy(s->qc.quant_method, "mlx");
            s->qc_json = qc;
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
                s->qc_doc = j;
                s->qc_json = j;
                j = NULL;
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
    awq_ct_config_free(s->ct);
    free(s->mcfg);
    s->mcfg = NULL;
    cJSON_Delete(s->qc_doc);
    s->t = NULL;
    s->lin = NULL;
    s->ct = NULL;
    s->qc_doc = NULL;
    s->qc_json = NULL;
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
    L->weight = L->qzeros = L->scales = L->g_idx = L->bias = L->dense_twin = -1;
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
    if (strcmp(s->qc.quant_method, "bitsandbytes") == 0 && s->has_config) {
        s->mcfg = malloc(sizeof *s->mcfg);
        if (s->mcfg && (awq_model_config_from_checkpoint(ctx, ck, s->mcfg) != AWQ_OK ||
                        !s->mcfg->arch)) {
            free(s->mcfg);
            s->mcfg = NULL;
        }
        awq_clear_error(ctx);
    }
    if (s->qc_json && strcmp(s->qc.quant_method, "compressed-tensors") == 0) {
        awq_status cs = awq_ct_config_parse(ctx, s->qc_json, s->qc_source, &s->ct);
        if (cs != AWQ_OK) return cs;
    }
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
    char buf[1024], bbuf[1024];
    awq_status st = AWQ_OK;
    bool seen_pack[AWQ_PACK_KIND_COUNT] = {0};
    /* Pass 1: quantized linears, each claimed by the main tensor of a
     * family of the format table (formats.c), first family first. */
    size_t n_fam;
    const awq_qfamily *fams = awq_qfamilies(&n_fam);
    for (size_t i = 0; i < n && st == AWQ_OK; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        if (s->t[i].linear >= 0) continue;
        for (size_t f = 0; f < n_fam && st == AWQ_OK; f++) {
            const awq_qfamily *F = &fams[f];
            size_t stem;
            if ((unsigned)t->dtype >= 32 || !(F->dtypes & (1u << t->dtype))) continue;
            if (!ends_with(t->name, F->main_suffix, &stem) || stem >= sizeof buf) continue;
            int64_t sib[AWQ_FAM_MAX_SIB];
            awq_fam_tensors ft;
            memset(&ft, 0, sizeof ft);
            ft.main = t;
            for (int k = 0; k < AWQ_FAM_MAX_SIB; k++) {
                sib[k] = F->sib[k].suffix ? lookup_sibling(tab, n, t->name, stem, F->sib[k].suffix,
                                                           buf, sizeof buf)
                                          : -1;
                if (sib[k] >= 0 && s->t[sib[k]].linear >= 0) sib[k] = -1;
                ft.sib[k] = sib[k] >= 0 ? awq_checkpoint_tensor(ck, (size_t)sib[k]) : NULL;
            }
            if (F->key_sibling >= 0 && sib[F->key_sibling] < 0) continue;
            awq_scan_linear *L;
            if ((st = push_linear(ctx, s, &cap, &L)) != AWQ_OK) break;
            int64_t li = (int64_t)s->n_lin - 1;
            L->weight = (int64_t)i;
            memcpy(buf, t->name, stem);
            buf[stem] = 0;
            L->role = awq_role_from_name(buf);
            L->bias = lookup_sibling(tab, n, t->name, stem, ".bias", bbuf, sizeof bbuf);
            F->resolve(s, buf, L->role, &ft, L);
            seen_pack[L->pack] = true;
            s->n_packed++;
            s->t[i].role = L->role;
            s->t[i].part = AWQ_PART_QWEIGHT;
            s->t[i].linear = li;
            for (int k = 0; k < AWQ_FAM_MAX_SIB; k++) {
                if (sib[k] < 0) continue;
                awq_scan_part p = F->sib[k].part;
                if (p == AWQ_PART_QZEROS && L->qzeros < 0) L->qzeros = sib[k];
                else if (p == AWQ_PART_SCALES && L->scales < 0) L->scales = sib[k];
                else if (p == AWQ_PART_G_IDX && L->g_idx < 0) L->g_idx = sib[k];
                else if (L->n_aux < AWQ_SCAN_MAX_AUX) L->aux[L->n_aux++] = sib[k];
                else p = AWQ_PART_QAUX;
                s->t[sib[k]].role = L->role;
                s->t[sib[k]].part = p;
                s->t[sib[k]].linear = li;
            }
            if (L->bias >= 0 && s->t[L->bias].linear < 0) {
                s->t[L->bias].role = L->role;
                s->t[L->bias].part = AWQ_PART_BIAS;
                s->t[L->bias].linear = li;
            } else {
                L->bias = -1;
            }
            break;
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
        if (r != AWQ_ROLE_OTHER && ends_with(t->name, ".weight", &stem) && stem < 480) {
            /* The same module stored quantized as well: ambiguous, the
             * packed one is what serving engines read. */
            static const char *const qsuf[] = {".qweight", ".weight_packed"};
            int64_t q = -1;
            for (size_t k = 0; k < AWQ_ARRAY_LEN(qsuf) && q < 0; k++) {
                q = lookup_sibling(tab, n, t->name, stem, qsuf[k], buf, sizeof buf);
                if (q >= 0 && s->t[q].linear < 0) q = -1;
            }
            if (q >= 0) {
                awq_scan_linear *Q = &s->lin[s->t[q].linear];
                if (Q->dense_twin < 0) Q->dense_twin = (int64_t)i;
                s->t[i].role = Q->role;
                s->t[i].part = AWQ_PART_DENSE_TWIN;
                s->t[i].linear = s->t[q].linear;
                s->n_dense_twins++;
                continue;
            }
        }
        if (r == AWQ_ROLE_LINEAR) {
            bool is_w = ends_with(t->name, ".weight", &stem) && t->ndim == 2;
            if (is_w && !dense_float(t->dtype)) {
                /* Integer or 8-bit float codes no family claimed: a
                 * quantized layout awqkit does not know. Never dense. */
                awq_scan_linear *L;
                if ((st = push_linear(ctx, s, &cap, &L)) != AWQ_OK) break;
                L->role = AWQ_ROLE_LINEAR;
                L->pack = AWQ_PACK_UNKNOWN;
                L->weight = (int64_t)i;
                seen_pack[AWQ_PACK_UNKNOWN] = true;
                s->n_packed++;
                s->t[i].role = AWQ_ROLE_LINEAR;
                s->t[i].part = AWQ_PART_QWEIGHT;
                s->t[i].linear = (int64_t)s->n_lin - 1;
                continue;
            }
            if (is_w) {
                awq_scan_linear *L;
                if ((st = push_linear(ctx, s, &cap, &L)) != AWQ_OK) break;
                L->role = AWQ_ROLE_LINEAR;
                L->pack = AWQ_PACK_NONE;
                L->weight = (int64_t)i;
                L->K = t->shape[1];
                L->N = t->shape[0];
                L->logical = t->n_elements;
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
    for (int k = AWQ_PACK_AWQ_GEMM; k < AWQ_PACK_KIND_COUNT; k++) {
        if (!seen_pack[k] || k == AWQ_PACK_MIXED) continue;
        kinds++;
        s->pack = (awq_pack_kind)k;
    }
    if (kinds > 1) s->pack = AWQ_PACK_MIXED;
    return AWQ_OK;
}

