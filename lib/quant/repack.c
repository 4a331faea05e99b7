/*
 * lib/quant/repack.c — convert a packed checkpoint between AWQ GEMM, AWQ
 * GEMV, GPTQ v1 and GPTQ v2: unpack(format A) -> canonical -> pack(format
 * B) per linear, everything else copied bit for bit.
 *
 * Order of work, so that a refusal never leaves anything behind:
 *   1. paths: output is not the input (nor inside it), and is empty unless
 *      forced;
 *   2. plan: group the tensors into packed linears (qweight + qzeros +
 *      scales [+ g_idx]) and plain tensors, check every linear's shapes
 *      against the input layout and that the output layout can hold it;
 *   3. lossy checks over all linears (act-order to AWQ, zero points of 0 to
 *      GPTQ v1), reading only g_idx / qzeros, so the refusal can say how
 *      many groups / linears are affected;
 *   4. write through awq_writer (temporaries, renamed at finish; freed
 *      without finish it removes them), one linear in memory at a time.
 */
#include "core/core.h"
#include "quant/ctconfig.h"
#include "quant/layouts.h"
#include "quant/outfiles.h"

#include "awqkit/checkpoint.h"
#include "awqkit/model.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RP_MAX_NAME 1024
#define RP_MAX_CONFIG_BYTES (16u << 20)
#define RP_MAX_SKIP_MODULES 4096

awq_repack_params awq_repack_default_params(void) {
    awq_repack_params p;
    memset(&p, 0, sizeof p);
    p.to = AWQ_QFMT_AWQ_GEMM;
    p.allow_lossy = false;
    p.force = false;
    p.max_shard_bytes = 0;
    p.zeros = AWQ_ZEROS_AUTO;
    return p;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* ------------------------------------------------------------- paths */

/* Canonical absolute form of a path that may not exist yet: realpath of
 * the deepest existing ancestor plus the remaining components. */
static char *canon_path(const char *p) {
    char *r = realpath(p, NULL);
    if (r) return r;
    char *dir = awq_path_dirname(p);
    if (!dir) return NULL;
    char *base = strdup(awq_path_basename(p));
    char *out = NULL;
    if (base && strcmp(dir, p) != 0) {
        char *d = canon_path(dir);
        if (d) {
            out = awq_path_join(d, base);
            free(d);
        }
    }
    free(dir);
    free(base);
    return out;
}

static awq_status check_paths(awq_ctx *ctx, const char *in, const char *out,
                              bool force) {
    if (!awq_path_is_dir(in))
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s: not a checkpoint directory", in);
    char *ri = canon_path(in), *ro = canon_path(out);
    if (!ri || !ro) {
        free(ri);
        free(ro);
        return awq_fail(ctx, AWQ_ERR_IO, "cannot resolve %s or %s: %s", in, out,
                        strerror(errno));
    }
    size_t li = strlen(ri);
    bool same = strcmp(ri, ro) == 0;
    bool inside = !same && strncmp(ri, ro, li) == 0 && ro[li] == '/';
    free(ri);
    free(ro);
    if (same || inside)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "output %s is %s the input checkpoint %s; choose another directory",
                        out, same ? "the same directory as" : "inside", in);
    if (awq_path_exists(out)) {
        if (!awq_path_is_dir(out))
            return awq_fail(ctx, AWQ_ERR_EXISTS, "output %s exists and is not a directory", out);
        DIR *d = opendir(out);
        if (!d) return awq_fail(ctx, AWQ_ERR_IO, "%s: %s", out, strerror(errno));
        bool empty = true;
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                empty = false;
                break;
            }
        closedir(d);
        if (!empty && !force)
            return awq_fail(ctx, AWQ_ERR_EXISTS,
                            "output directory %s is not empty (use --force to write into it)",
                            out);
    }
    return AWQ_OK;
}

/* -------------------------------------------------------------- plan */

typedef struct rp_linear {
    char *prefix;
    const awq_tensor_info *parts[AWQ_PT_MAX];
    int64_t K, N;
    awq_packed out_shapes;
    bool act_order;   /* GPTQ g_idx not k / g */
    bool done;
} rp_linear;

typedef struct rp_key {
    const char *prefix;
    int64_t idx;
} rp_key;

typedef struct rp_plan {
    rp_linear *lin;
    int64_t n_lin;
    rp_key *sorted;   /* linears sorted by prefix, for lookups */
    /* per input tensor: linear index, or -1 (plain tensor) */
    int64_t *owner;
    size_t n_tensors;
} rp_plan;

static void plan_free(rp_plan *pl) {
    for (int64_t i = 0; i < pl->n_lin; i++) free(pl->lin[i].prefix);
    free(pl->lin);
    free(pl->sorted);
    free(pl->owner);
    memset(pl, 0, sizeof *pl);
}

static int cmp_key(const void *a, const void *b) {
    return strcmp(((const rp_key *)a)->prefix, ((const rp_key *)b)->prefix);
}

static int64_t find_linear(const rp_plan *pl, const char *prefix) {
    int64_t lo = 0, hi = pl->n_lin - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(pl->sorted[mid].prefix, prefix);
        if (c == 0) return pl->sorted[mid].idx;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* ".<suffix>" of packed part p in `format` ("" when it has none). */
static void part_sfx(awq_qformat format, int p, char *buf, size_t n) {
    const char *s = awq_format_suffix(format, p);
    snprintf(buf, n, "%s%s", s ? "." : "", s ? s : "");
}

static awq_status build_plan(awq_ctx *ctx, const awq_checkpoint *ck,
                             const awq_qckpt *q, awq_qformat to, rp_plan *pl) {
    memset(pl, 0, sizeof *pl);
    char k_parts[AWQ_PT_MAX][32];
    for (int p = 0; p < AWQ_PT_MAX; p++) part_sfx(q->format, p, k_parts[p], sizeof k_parts[p]);
    size_t nt = awq_checkpoint_n_tensors(ck);
    pl->n_tensors = nt;
    pl->owner = malloc((nt ? nt : 1) * sizeof *pl->owner);
    pl->lin = calloc((size_t)(q->n_linears ? q->n_linears : 1), sizeof *pl->lin);
    pl->sorted = malloc((size_t)(q->n_linears ? q->n_linears : 1) * sizeof *pl->sorted);
    if (!pl->owner || !pl->lin || !pl->sorted) return awq_fail_nomem(ctx, "repack plan", nt * 16u);
    for (size_t i = 0; i < nt; i++) {
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        pl->owner[i] = -1;
        if (!ends_with(ti->name, k_parts[AWQ_PT_QWEIGHT]) || pl->n_lin >= q->n_linears)
            continue;
        size_t n = strlen(ti->name) - strlen(k_parts[AWQ_PT_QWEIGHT]);
        rp_linear *l = &pl->lin[pl->n_lin];
        l->prefix = malloc(n + 1);
        if (!l->prefix) return awq_fail_nomem(ctx, "repack plan", n + 1);
        memcpy(l->prefix, ti->name, n);
        l->prefix[n] = 0;
        pl->sorted[pl->n_lin].prefix = l->prefix;
        pl->sorted[pl->n_lin].idx = pl->n_lin;
        pl->n_lin++;
    }
    if (pl->n_lin > 1) qsort(pl->sorted, (size_t)pl->n_lin, sizeof *pl->sorted, cmp_key);
    const bool in_ct = q->format == AWQ_QFMT_CT;
    char pre[RP_MAX_NAME];
    for (size_t i = 0; i < nt; i++) {
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        if (!in_ct && ends_with(ti->name, ".g_idx") && !k_parts[AWQ_PT_G_IDX][0]) {
            size_t n = strlen(ti->name) - strlen(".g_idx");
            if (n < sizeof pre) {
                memcpy(pre, ti->name, n);
                pre[n] = 0;
                if (find_linear(pl, pre) >= 0)
                    return awq_fail(ctx, AWQ_ERR_FORMAT,
                                    "%s: g_idx in an AWQ checkpoint (AWQ layouts have none)",
                                    ti->name);
            }
        }
        for (int p = 0; p < AWQ_PT_MAX; p++) {
            if (!k_parts[p][0] || !ends_with(ti->name, k_parts[p])) continue;
            size_t n = strlen(ti->name) - strlen(k_parts[p]);
            if (n >= sizeof pre) break;
            memcpy(pre, ti->name, n);
            pre[n] = 0;
            int64_t li = find_linear(pl, pre);
            if (li < 0) {
                if (p == AWQ_PT_QWEIGHT) break;
                return awq_fail(ctx, AWQ_ERR_FORMAT,
                                "%s: packed tensor without %s%s (incomplete or "
                                "damaged checkpoint)", ti->name, pre, k_parts[AWQ_PT_QWEIGHT]);
            }
            pl->lin[li].parts[p] = ti;
            pl->owner[i] = li;
            break;
        }
    }
    /* shapes of every linear, in and out */
    for (int64_t li = 0; li < pl->n_lin; li++) {
        rp_linear *l = &pl->lin[li];
        for (int p = 0; p < 3; p++)
            if (!l->parts[p] && !(in_ct && p == AWQ_PT_QZEROS && q->sym))
                return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s%s: missing (%s%s exists)",
                                l->prefix, k_parts[p], l->prefix, k_parts[AWQ_PT_QWEIGHT]);
        if (in_ct && !l->parts[AWQ_PT_SHAPE])
            return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s.weight_shape: missing", l->prefix);
        const awq_tensor_info *qw = l->parts[AWQ_PT_QWEIGHT];
        awq_lay_shapes s;
        bool ok = qw->ndim == 2 &&
                  awq_lay_dims_from_qweight((int)q->format, q->bits, qw->shape[0], qw->shape[1],
                                            &l->K, &l->N) &&
                  awq_lay_get_shapes((int)q->format, l->K, l->N, q->bits, q->group_size, &s) ==
                      AWQ_LAY_OK;
        const awq_tensor_info *qz = l->parts[AWQ_PT_QZEROS], *sc = l->parts[AWQ_PT_SCALES],
                              *gi = l->parts[AWQ_PT_G_IDX];
        ok = ok && (!qz || (qz->ndim == 2 && qz->shape[0] == s.qzeros[0] &&
                            qz->shape[1] == s.qzeros[1])) &&
             sc->ndim == 2 && sc->shape[0] == s.scales[0] && sc->shape[1] == s.scales[1] &&
             (!gi || (gi->ndim == 1 && gi->shape[0] == l->K));
        if (!ok)
            return awq_fail(ctx, AWQ_ERR_MISMATCH,
                            "%s: packed tensor shapes do not fit %s with %d bits, group size "
                            "%d (qweight [%lld, %lld], qzeros [%lld, %lld], scales [%lld, %lld])",
                            l->prefix, awq_format_get(q->labelled)->name, q->bits,
                            q->group_size, (long long)qw->shape[0],
                            (long long)(qw->ndim > 1 ? qw->shape[1] : 0),
                            (long long)(qz ? qz->shape[0] : 0),
                            (long long)(qz && qz->ndim > 1 ? qz->shape[1] : 0),
                            (long long)sc->shape[0], (long long)(sc->ndim > 1 ? sc->shape[1] : 0));
        awq_status st = awq_packed_shapes(ctx, to, l->K, l->N, q->bits, q->group_size,
                                          &l->out_shapes);
        if (st != AWQ_OK) return awq_fail_wrap(ctx, st, "%s", l->prefix);
    }
    return AWQ_OK;
}

/* ------------------------------------------------------ lossy checks */

static inline uint32_t ld32(const void *base, int64_t i) {
    uint32_t v;
    memcpy(&v, (const unsigned char *)base + i * 4, 4);
    return v;
}

/* Zero points of 0 in a linear, read straight from qzeros. */
static int64_t count_zero0(const rp_linear *l, const awq_qckpt *q) {
    awq_lay_shapes s;
    if (awq_lay_get_shapes((int)q->format, l->K, l->N, q->bits, q->group_size, &s) != AWQ_LAY_OK)
        return 0;
    if (!l->parts[AWQ_PT_QZEROS]) return 0; /* symmetric compressed-tensors */
    const void *qz = l->parts[AWQ_PT_QZEROS]->data;
    const unsigned off = (unsigned)awq_lay_zero_offset((int)q->format);
    const int64_t Z = q->format == AWQ_QFMT_CT ? s.n_groups : s.zeros_width;
    int64_t n0 = 0;
    for (int64_t g = 0; g < s.n_groups; g++)
        for (int64_t n = 0; n < l->N; n++) {
            awq_lay_pos p = awq_lay_qzeros_pos((int)q->format, l->N, q->bits, Z, g, n);
            uint32_t lo = ld32(qz, p.word), hi = p.word2 >= 0 ? ld32(qz, p.word2) : 0;
            n0 += awq_lay_field_get(lo, hi, p.shift, q->bits) + off == 0;
        }
    return n0;
}

static bool g_idx_is_default(const rp_linear *l, int group_size) {
    const awq_tensor_info *gi = l->parts[AWQ_PT_G_IDX];
    if (!gi) return true;
    int64_t gl = awq_group_len(l->K, group_size);
    for (int64_t k = 0; k < l->K; k++)
        if ((int32_t)ld32(gi->data, k) != (int32_t)(k / gl)) return false;
    return true;
}

static awq_status lossy_checks(awq_ctx *ctx, rp_plan *pl, const awq_qckpt *q,
                               const awq_repack_params *p) {
    const bool to_awq = p->to == AWQ_QFMT_AWQ_GEMM || p->to == AWQ_QFMT_AWQ_GEMV;
    int64_t n_act = 0, n0_groups = 0, n0_lin = 0;
    const char *first_act = NULL, *first0 = NULL;
    for (int64_t i = 0; i < pl->n_lin; i++) {
        rp_linear *l = &pl->lin[i];
        l->act_order = !g_idx_is_default(l, q->group_size);
        if (l->act_order && to_awq && !n_act++) first_act = l->prefix;
        if (p->to == AWQ_QFMT_GPTQ && q->format != AWQ_QFMT_GPTQ) {
            int64_t c = count_zero0(l, q);
            if (c > 0 && !n0_lin++) first0 = l->prefix;
            n0_groups += c;
        }
    }
    if (n_act > 0 && !p->allow_lossy)
        return awq_fail(ctx, AWQ_ERR_LOSSY,
                        "%lld linears (first: %s) use GPTQ act-order (g_idx not in group "
                        "order), which the AWQ layouts cannot store; keep them as gptq / "
                        "gptq-v2, or allow lossy conversion (dequantize and re-quantize "
                        "with round-to-nearest; the error is reported)",
                        (long long)n_act, first_act);
    if (n0_groups > 0 && !p->allow_lossy)
        return awq_fail(ctx, AWQ_ERR_LOSSY,
                        "%lld groups in %lld linears (first: %s) have zero point 0, which "
                        "gptq (v1, stores zero - 1) cannot hold; write gptq-v2 instead, or "
                        "allow lossy re-quantization of those groups",
                        (long long)n0_groups, (long long)n0_lin, first0);
    return AWQ_OK;
}

/* ------------------------------------------------------ config.json */

/* modules_to_not_convert for the output: the input's list when it has one
 * (AWQ, or GPTQ written by awqkit); else the modules of dense 2-D weights
 * that are neither embeddings, norms nor lm_head (loaders keep those
 * unquantized anyway), a vision tower collapsed to its root. */
typedef struct rp_skip {
    char **v;
    int n;
} rp_skip;

static void skip_free(rp_skip *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static bool skip_add(rp_skip *s, const char *m, size_t len) {
    for (int i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && memcmp(s->v[i], m, len) == 0) return true;
    if (s->n >= RP_MAX_SKIP_MODULES) return true;
    char **nv = realloc(s->v, (size_t)(s->n + 1) * sizeof *nv);
    if (!nv) return false;
    s->v = nv;
    s->v[s->n] = strndup(m, len);
    if (!s->v[s->n]) return false;
    s->n++;
    return true;
}

static awq_status skip_list(awq_ctx *ctx, const awq_checkpoint *ck, const rp_plan *pl,
                            rp_skip *out) {
    memset(out, 0, sizeof *out);
    const cJSON *root = awq_checkpoint_config(ck);
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(qc, "modules_to_not_convert");
    if (cJSON_IsArray(arr)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            if (cJSON_IsString(it) && !skip_add(out, it->valuestring, strlen(it->valuestring)))
                return awq_fail_nomem(ctx, "modules_to_not_convert", 64);
        }
        return AWQ_OK;
    }
    static const char *const vision[] = {"visual", "vision_tower", "vision_model",
                                         "multi_modal_projector", "mm_projector"};
    for (size_t i = 0; i < pl->n_tensors; i++) {
        if (pl->owner[i] >= 0) continue;
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        if (ti->ndim != 2 || !awq_dtype_is_float(ti->dtype) || !ends_with(ti->name, ".weight"))
            continue;
        const char *nm = ti->name;
        if (strstr(nm, "embed") || strstr(nm, "norm") || strstr(nm, "lm_head") ||
            strstr(nm, "wte") || strstr(nm, "wpe"))
            continue;
        size_t len = strlen(nm) - strlen(".weight");
        /* collapse a vision tower to its root component */
        for (size_t v = 0; v < AWQ_ARRAY_LEN(vision); v++) {
            const char *h = strstr(nm, vision[v]);
            size_t vl = strlen(vision[v]);
            if (h && (h == nm || h[-1] == '.') && (h[vl] == '.' || h[vl] == 0) &&
                (size_t)(h - nm) + vl <= len) {
                len = (size_t)(h - nm) + vl;
                break;
            }
        }
        if (!skip_add(out, nm, len)) return awq_fail_nomem(ctx, "modules_to_not_convert", 64);
    }
    return AWQ_OK;
}

static awq_status write_config(awq_ctx *ctx, awq_writer *w, const char *in_dir,
                               const awq_qckpt *q, const awq_repack_params *p,
                               bool sym, bool desc_act, const rp_skip *skip) {
    char *path = awq_path_join(in_dir, "config.json");
    if (!path) return awq_fail_nomem(ctx, "path", 256);
    char *text = NULL;
    size_t len = 0;
    awq_status st = awq_read_file(ctx, path, RP_MAX_CONFIG_BYTES, &text, &len);
    free(path);
    if (st != AWQ_OK) return st;
    awq_qconfig_fields f;
    memset(&f, 0, sizeof f);
    f.bits = q->bits;
    f.group_size = q->group_size;
    f.sym = sym;
    f.desc_act = desc_act;
    f.modules_to_not_convert = (const char *const *)skip->v;
    f.n_modules_to_not_convert = skip->n;
    cJSON *qc = NULL;
    st = awq_format_quant_config(ctx, p->to, &f, &qc);
    char *pretty = NULL;
    /* the input's text with only quantization_config replaced */
    if (st == AWQ_OK) st = awq_config_text_with_qc(ctx, text, len, "config.json", qc, &pretty);
    cJSON_Delete(qc);
    free(text);
    if (st != AWQ_OK) return st;
    st = awq_writer_add_file(w, "config.json", pretty, strlen(pretty));
    free(pretty);
    return st;
}

/* ---------------------------------------------------------- convert */

/* Act-order linear to AWQ: dequantize, re-quantize (round to nearest, same
 * bits / group size / symmetry), report the relative change. */
static awq_status requantize(awq_ctx *ctx, const char *name, awq_qtensor *t,
                             double *rel_err) {
    size_t nk = (size_t)(t->N * t->K);
    float *w = awq_alloc(nk, sizeof(float)), *w2 = awq_alloc(nk, sizeof(float));
    if (!w || !w2) {
        awq_free(w);
        awq_free(w2);
        return awq_fail_nomem(ctx, "re-quantization buffer", (uint64_t)nk * 8u);
    }
    awq_quant_params qp = awq_quant_default_params();
    qp.bits = t->bits;
    qp.group_size = t->group_size;
    qp.sym = t->sym;
    awq_qtensor nt;
    awq_status st = awq_dequantize(ctx, t, w);
    if (st == AWQ_OK) st = awq_quantize(ctx, name, w, t->N, t->K, &qp, &nt);
    if (st == AWQ_OK) st = awq_dequantize(ctx, &nt, w2);
    if (st == AWQ_OK) {
        double num = 0, den = 0;
        for (size_t i = 0; i < nk; i++) {
            double d = (double)w2[i] - (double)w[i];
            num += d * d;
            den += (double)w[i] * (double)w[i];
        }
        *rel_err = den > 0 ? sqrt(num / den) : 0.0;
        awq_qtensor_free(t);
        *t = nt;
    }
    awq_free(w);
    awq_free(w2);
    return st;
}

static awq_status convert_linear(awq_ctx *ctx, awq_writer *w, const awq_checkpoint *ck,
                                 const rp_linear *l, const awq_qckpt *q,
                                 const awq_repack_params *p, awq_repack_result *res,
                                 bool *all_sym) {
    awq_qtensor t;
    AWQ_TRY(awq_qlinear_read(ctx, ck, l->prefix, q, &t));
    awq_status st = AWQ_OK;
    /* symmetric when the config says so, or (GPTQ without "sym") when every
     * zero is the midpoint */
    if (!q->sym_given) {
        const unsigned half = 1u << (t.bits - 1);
        bool s = true;
        for (int64_t i = 0; s && i < t.n_groups * t.N; i++) s = t.zeros[i] == half;
        *all_sym = *all_sym && s;
        t.sym = s;
    }
    /* compressed-tensors leaves out the zero point of a symmetric linear:
     * only when the input's config says symmetric, as declared up front */
    if (p->to == AWQ_QFMT_CT) t.sym = q->sym_given && q->sym;
    if (l->act_order && (p->to == AWQ_QFMT_AWQ_GEMM || p->to == AWQ_QFMT_AWQ_GEMV)) {
        double e = 0;
        st = requantize(ctx, l->prefix, &t, &e);
        if (st == AWQ_OK) {
            res->n_requantized++;
            if (e > res->max_requant_rel_err) res->max_requant_rel_err = e;
            awq_info(ctx, "%s: act-order re-quantized, relative error %.4g", l->prefix, e);
        }
    }
    awq_packed pk;
    awq_pack_report rep;
    memset(&pk, 0, sizeof pk);
    awq_pack_params pp = awq_pack_default_params();
    pp.allow_lossy = p->allow_lossy;
    if (st == AWQ_OK) st = awq_pack(ctx, l->prefix, p->to, &t, &pp, &pk, &rep);
    awq_qtensor_free(&t);
    if (st != AWQ_OK) return st;
    res->n_lossy_groups += rep.n_lossy_groups;
    res->n_changed_codes += rep.n_changed_codes;
    if (rep.max_abs_change > res->max_abs_change) res->max_abs_change = rep.max_abs_change;
    char name[RP_MAX_NAME + 16];
    for (int i = 0; st == AWQ_OK && i < pk.n_tensors; i++) {
        if (awq_packed_part_absent(&pk.t[i])) continue;
        snprintf(name, sizeof name, "%s.%s", l->prefix, pk.t[i].suffix);
        st = awq_writer_write(w, name, pk.t[i].data, pk.t[i].n_bytes);
    }
    awq_packed_free(&pk);
    return st;
}

static awq_status declare_all(awq_writer *w, const awq_checkpoint *ck, rp_plan *pl) {
    char name[RP_MAX_NAME + 16];
    for (int64_t i = 0; i < pl->n_lin; i++) pl->lin[i].done = false;
    for (size_t i = 0; i < pl->n_tensors; i++) {
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        int64_t li = pl->owner[i];
        if (li < 0) {
            AWQ_TRY(awq_writer_declare(w, ti->name, ti->dtype, ti->ndim, ti->shape));
            continue;
        }
        rp_linear *l = &pl->lin[li];
        if (l->done) continue;
        l->done = true;
        for (int p = 0; p < l->out_shapes.n_tensors; p++) {
            const awq_packed_tensor *pt = &l->out_shapes.t[p];
            if (awq_packed_part_absent(pt)) continue;
            snprintf(name, sizeof name, "%s.%s", l->prefix, pt->suffix);
            AWQ_TRY(awq_writer_declare(w, name, pt->dtype, pt->ndim, pt->shape));
        }
    }
    return AWQ_OK;
}

awq_status awq_repack(awq_ctx *ctx, const char *in_dir, const char *out_dir,
                      const awq_repack_params *params, awq_repack_result *res) {
    awq_repack_result res_local;
    if (!res) res = &res_local;
    memset(res, 0, sizeof *res);
    if (!in_dir || !out_dir)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "repack: input and output directories are required");
    awq_repack_params p = params ? *params : awq_repack_default_params();
    if (!awq_format_get(p.to))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "repack: unknown target format %d", (int)p.to);
    res->to = p.to;
    AWQ_TRY(check_paths(ctx, in_dir, out_dir, p.force));

    awq_checkpoint *ck = NULL;
    AWQ_TRY(awq_checkpoint_open(ctx, in_dir, &ck));
    awq_writer *w = NULL;
    rp_plan pl;
    rp_skip skip;
    memset(&pl, 0, sizeof pl);
    memset(&skip, 0, sizeof skip);
    /* compressed-tensors that no packed layout holds exactly: refused here,
     * naming the tensor and what to use instead */
    awq_status st = awq_ct_repack_check(ctx, ck, p.to);
    if (st == AWQ_OK) st = awq_qckpt_detect(ctx, ck, p.zeros, &res->in);
    const awq_qckpt *q = &res->in;
    if (st == AWQ_OK) st = build_plan(ctx, ck, q, p.to, &pl);
    if (st == AWQ_OK) st = lossy_checks(ctx, &pl, q, &p);
    for (int64_t i = 0; st == AWQ_OK && i < pl.n_lin; i++)
        awq_packed_omit_optional(&pl.lin[i].out_shapes, q->sym_given && q->sym,
                                 !pl.lin[i].act_order);
    if (st == AWQ_OK) st = skip_list(ctx, ck, &pl, &skip);
    if (st == AWQ_OK) {
        awq_writer_params wp = awq_writer_default_params();
        wp.force = p.force;
        if (p.max_shard_bytes) {
            wp.max_shard_bytes = p.max_shard_bytes;
        } else {
            /* the input's largest shard, so the shard count stays about the
             * same (sizes differ a little: GEMV padding, GPTQ g_idx) */
            size_t ns = awq_checkpoint_n_shards(ck);
            uint64_t *per = calloc(ns ? ns : 1, sizeof *per), mx = 0;
            if (!per) {
                st = awq_fail_nomem(ctx, "shard sizes", ns * 8u);
            } else {
                for (size_t i = 0; i < pl.n_tensors; i++) {
                    const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
                    if (ti->shard >= 0 && (size_t)ti->shard < ns) per[ti->shard] += ti->n_bytes;
                }
                for (size_t i = 0; i < ns; i++) mx = AWQ_MAX(mx, per[i]);
                free(per);
                /* one shard in: one shard out, whatever the size change */
                wp.max_shard_bytes = ns <= 1 ? UINT64_MAX / 4 : AWQ_MAX(mx, 1u);
            }
        }
        if (st == AWQ_OK) st = awq_writer_create(ctx, out_dir, &wp, &w);
    }
    if (st == AWQ_OK) st = declare_all(w, ck, &pl);
    bool all_sym = true;
    int64_t done = 0;
    for (int64_t i = 0; i < pl.n_lin; i++) pl.lin[i].done = false;
    for (size_t i = 0; st == AWQ_OK && i < pl.n_tensors; i++) {
        const awq_tensor_info *ti = awq_checkpoint_tensor(ck, i);
        int64_t li = pl.owner[i];
        if (li < 0) {
            st = awq_writer_write(w, ti->name, ti->data, ti->n_bytes);
            res->n_tensors_copied++;
            continue;
        }
        rp_linear *l = &pl.lin[li];
        if (l->done) continue;
        l->done = true;
        st = convert_linear(ctx, w, ck, l, q, &p, res, &all_sym);
        if (st == AWQ_OK) {
            res->n_linears++;
            st = awq_progress(ctx, "repack", (uint64_t)++done, (uint64_t)pl.n_lin);
        }
    }
    if (st == AWQ_OK) {
        bool sym = q->sym_given ? q->sym : p.to == AWQ_QFMT_CT ? false : all_sym;
        bool desc_act = (p.to == AWQ_QFMT_GPTQ || p.to == AWQ_QFMT_GPTQ_V2 ||
                         p.to == AWQ_QFMT_CT) && q->desc_act;
        if (desc_act) {
            /* keep desc_act only while an act-order g_idx survives */
            desc_act = false;
            for (int64_t i = 0; i < pl.n_lin; i++) desc_act |= pl.lin[i].act_order;
        }
        st = write_config(ctx, w, in_dir, q, &p, sym, desc_act, &skip);
    }
    if (st == AWQ_OK) st = awq_copy_aux_files(ctx, w, in_dir, NULL, &res->n_files_copied);
    if (st == AWQ_OK) st = awq_writer_finish(w);
    if (st == AWQ_OK) {
        res->bytes_written = awq_writer_total_bytes(w);
        res->n_shards = awq_writer_n_shards(w);
        awq_info(ctx, "repacked %lld linears %s -> %s, copied %lld tensors and %lld files",
                 (long long)res->n_linears, awq_format_get(q->format)->name,
                 awq_format_get(p.to)->name, (long long)res->n_tensors_copied,
                 (long long)res->n_files_copied);
    }
    awq_writer_free(w);
    skip_free(&skip);
    plan_free(&pl);
    awq_checkpoint_free(ck);
    return st;
}
