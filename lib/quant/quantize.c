/* lib/quant/quantize.c — `awqkit quantize`: the whole-model pipeline.
 *
 *   prepare: checkpoint + config + architecture, calibration blocks, plan
 *   run:     embed the blocks; for each decoder layer
 *              FP forward with captures -> search -> apply -> clip
 *              -> quantize + pack -> layer file (durable, resumable)
 *              -> inputs of the next layer (FP outputs, or the outputs of
 *                 the layer exactly as written when propagating quantized)
 *            then assemble the checkpoint from the layer files and the
 *            untouched source tensors, and verify the logical count.
 *
 * Layer files live in OUT/.awqkit-partial/layer-NNNNN/ (a one-shard
 * safetensors checkpoint plus search.json), next to a fingerprint of the
 * model, the calibration ids and the options. Writing every layer through
 * such a file, resumed or not, is what makes a resumed run bit-identical
 * to an uninterrupted one: the final assembly always reads the same bytes.
 *
 * Preparation (checkpoint, plan, resume point) is in quantize_prepare.c,
 * the final assembly in quantize_assemble.c. */
#include "awqkit/checkpoint.h"
#include "awqkit/count.h"
#include "awqkit/quantize.h"

#include "core/core.h"
#include "io/publish.h"
#include "model/forward.h"
#include "model/moe_lset.h"
#include "quant/awq_search.h"
#include "quant/clip.h"
#include "quant/moe_awq.h"
#include "quant/quantize_job.h"
#include "quant/layer_saver.h"
#include "quant/quantize_replay.h"
#include "quant/srcscan.h"
#include "quant/outfiles.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define PARTIAL_DIR AWQ_QZ_PARTIAL_DIR
#define FINGERPRINT_FILE AWQ_QZ_FINGERPRINT

const char *awq_method_name(awq_method m) {
    return m == AWQ_METHOD_RTN ? "rtn" : "awq";
}

const char *awq_propagate_name(awq_propagate p) {
    return p == AWQ_PROPAGATE_QUANTIZED ? "quantized" : "fp";
}

const char *awq_duo_scaling_name(awq_duo_scaling d) {
    switch (d) {
    case AWQ_DUO_OFF: return "off";
    case AWQ_DUO_ON: return "on";
    case AWQ_DUO_BOTH: return "both";
    }
    return "?";
}

awq_quantize_params awq_quantize_default_params(void) {
    awq_quantize_params p;
    memset(&p, 0, sizeof p);
    p.method = AWQ_METHOD_AWQ;
    p.quant = awq_quant_default_params();
    p.format = AWQ_QFMT_AWQ_GEMM;
    p.calib = awq_calib_default_params();
    p.n_grid = 20;
    p.duo_scaling = AWQ_DUO_OFF;
    p.precision = AWQ_PRECISION_BF16; /* falls back to fp32 where unavailable */
    p.screen = 0.125;
    p.race_z = 4;
    p.finalists = 0;
    p.clip = true;
    p.clip_n_grid = 20;
    p.clip_max_shrink = 0.5;
    p.clip_tokens = 512;
    p.propagate = AWQ_PROPAGATE_FP;
    p.runtime = awq_runtime_default_params();
    p.chunk_seqs = 0;
    p.offload_activations = false;
    p.max_shard_bytes = 5000000000ull;
    return p;
}

/* ------------------------------------------------------------ helpers */


void awq_qz_out_list_free(awq_qz_out_list *l) {
    for (size_t i = 0; i < l->n; i++) awq_free(l->t[i].data);
    free(l->t);
    memset(l, 0, sizeof *l);
}

awq_qz_out_tensor *awq_qz_out_list_add(awq_ctx *ctx, awq_qz_out_list *l, const char *name, awq_dtype dt,
                                int ndim, const int64_t *shape, awq_status *st) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        awq_qz_out_tensor *nt = realloc(l->t, cap * sizeof *nt);
        if (!nt) {
            *st = awq_fail_nomem(ctx, "tensor list", cap * sizeof *nt);
            return NULL;
        }
        l->t = nt;
        l->cap = cap;
    }
    awq_qz_out_tensor *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dt;
    t->ndim = ndim;
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        n *= (uint64_t)shape[d];
    }
    t->n_bytes = n * awq_dtype_size(dt);
    t->data = awq_alloc(t->n_bytes ? t->n_bytes : 1, 1);
    if (!t->data) {
        *st = awq_fail_nomem(ctx, name, t->n_bytes);
        return NULL;
    }
    l->n++;
    *st = AWQ_OK;
    return t;
}

/* fp32 -> a floating source dtype, refusing values the dtype cannot hold. */
static awq_status f32_to_dtype(awq_ctx *ctx, const char *name, const float *src, int64_t n,
                               awq_dtype dt, void *dst) {
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(src[i]))
            return awq_fail(ctx, AWQ_ERR_RANGE, "%s: non-finite value at index %lld", name,
                            (long long)i);
        if (dt == AWQ_DT_F16 && fabsf(src[i]) > AWQ_F16_MAX)
            return awq_fail(ctx, AWQ_ERR_RANGE,
                            "%s: value %g at index %lld exceeds the FP16 range after scaling "
                            "(try --no-duo-scaling or a BF16/F32 source)",
                            name, (double)src[i], (long long)i);
    }
    switch (dt) {
    case AWQ_DT_F16: awq_f32_to_f16_n(src, dst, (size_t)n); return AWQ_OK;
    case AWQ_DT_BF16: awq_f32_to_bf16_n(src, dst, (size_t)n); return AWQ_OK;
    case AWQ_DT_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return AWQ_OK;
    default:
        return awq_fail(ctx, AWQ_ERR_UNSUPPORTED, "%s: cannot write dtype %s", name,
                        awq_dtype_name(dt));
    }
}

/* Output dtype of a floating tensor: the source's (F64 sources become F32). */
static awq_dtype out_float_dtype(const awq_tensor_info *t) {
    if (t && (t->dtype == AWQ_DT_F16 || t->dtype == AWQ_DT_BF16)) return t->dtype;
    if (t && t->scale_inv) return AWQ_DT_BF16; /* FP8 source: its models' dtype */
    return AWQ_DT_F32;
}

/* Recursively remove a directory tree (our own partial dir only). */
void awq_qz_rm_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = awq_path_join(path, e->d_name);
        if (!p) continue;
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            awq_qz_rm_tree(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(path);
}

static void rm_tree(const char *path) { awq_qz_rm_tree(path); }

char *awq_qz_layer_dir(const awq_quantize_job *job, int64_t layer) {
    char name[32];
    snprintf(name, sizeof name, "layer-%05lld", (long long)layer);
    return awq_path_join(job->partial_dir, name);
}

int64_t awq_qz_finished_layers(const awq_quantize_job *job) {
    int64_t n = 0;
    for (int64_t i = 0; i < job->cfg.n_layers; i++) {
        char *ld = awq_qz_layer_dir(job, i);
        char *f = ld ? awq_path_join(ld, "model.safetensors") : NULL;
        bool ok = f && awq_path_exists(f);
        free(f);
        free(ld);
        if (!ok) break;
        n = i + 1;
    }
    return n;
}

/* lin: an index of the layer's run-time linear set (model/moe_lset.h;
 * the table's linears first). */
void awq_qz_lin_tensor_name(const awq_quantize_job *job, int64_t layer, int lin,
                            const char *suffix, char *buf, size_t n) {
    awq_lset_item it;
    snprintf(buf, n, "%slayers.%lld.%s.%s", job->prefix, (long long)layer,
             awq_lset_get(&job->cfg, layer, lin, &it) ? it.name : "?", suffix);
}

void awq_qz_norm_tensor_name(const awq_quantize_job *job, int64_t layer, const char *norm,
                             char *buf, size_t n) {
    snprintf(buf, n, "%slayers.%lld.%s.weight", job->prefix, (long long)layer, norm);
}

/* The norms a layer's output carries: those the scaling groups fold into
 * (the others are copied from the source). */

bool awq_qz_linear_packable(const awq_quantize_job *job, int64_t K, int64_t N) {
    return awq_linear_packable(job->p.format, K, N, job->p.quant.bits, job->p.quant.group_size,
                               NULL);
}

/* ------------------------------------------------- scales (dump / load) */

cJSON *awq_qz_json_floats(const float *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++) {
        /* %.9g round-trips fp32 exactly */
        char buf[32];
        snprintf(buf, sizeof buf, "%.9g", (double)v[i]);
        cJSON_AddItemToArray(a, cJSON_CreateRaw(buf));
    }
    return a;
}

/* Candidate losses in candidate order; null where not finite (a skipped
 * candidate, or one screened out before the full loss). */
static cJSON *json_losses(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.9g", v[i]);
        cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateRaw(buf) : cJSON_CreateNull());
    }
    return a;
}

static cJSON *search_to_json(const awq_quantize_job *job, int64_t layer,
                             const awq_layer_search *s) {
    const awq_arch *a = job->cfg.arch;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", (double)layer);
    cJSON *groups = cJSON_AddArrayToObject(o, "groups");
    for (int g = 0; g < s->n_groups; g++) {
        const awq_group_report *r = &s->rep[g];
        cJSON *go = cJSON_CreateObject();
        cJSON_AddNumberToObject(go, "group", g);
        cJSON_AddStringToObject(go, "name", r->name);
        cJSON_AddBoolToObject(go, "searched", r->searched);
        cJSON_AddNumberToObject(go, "ratio", r->ratio);
        cJSON_AddBoolToObject(go, "duo", r->duo);
        cJSON_AddNumberToObject(go, "loss_rtn", r->loss_rtn);
        cJSON_AddNumberToObject(go, "loss_best", r->loss_best);
        cJSON_AddBoolToObject(go, "fallback", r->fallback);
        /* every candidate's block loss in candidate order (null: skipped,
         * e.g. out of the FP16 range, or not evaluated) */
        if (s->cand_loss[g])
            cJSON_AddItemToObject(go, "losses", json_losses(s->cand_loss[g], s->n_cand[g]));
        if (s->screen_loss[g])
            cJSON_AddItemToObject(go, "screen_losses",
                                  json_losses(s->screen_loss[g], s->n_cand[g]));
        /* the first stage's segment sums, per candidate (the samples of
         * the race's test) */
        if (s->screen_seg[g]) {
            cJSON *segs = cJSON_AddArrayToObject(go, "screen_segments");
            for (int i = 0; i < s->n_cand[g]; i++)
                cJSON_AddItemToArray(segs, json_losses(s->screen_seg[g] + (size_t)i *
                                                                          (size_t)s->n_seg[g],
                                                       (int)s->n_seg[g]));
        }
        if (s->used[g] && s->scales[g])
            cJSON_AddItemToObject(go, "scales", awq_qz_json_floats(s->scales[g], s->len[g]));
        cJSON_AddItemToArray(groups, go);
    }
    cJSON *clips = cJSON_AddArrayToObject(o, "clips");
    for (int lin = 0; lin < a->n_linears; lin++) {
        if (!s->clip[lin]) continue;
        cJSON *co = cJSON_CreateObject();
        cJSON_AddStringToObject(co, "linear", a->linears[lin].name);
        cJSON_AddNumberToObject(co, "rows", (double)s->clip_rows[lin]);
        cJSON_AddNumberToObject(co, "groups", (double)s->clip_groups[lin]);
        cJSON_AddItemToObject(co, "max", awq_qz_json_floats(s->clip[lin],
                                                     s->clip_rows[lin] * s->clip_groups[lin]));
        cJSON_AddItemToArray(clips, co);
    }
    return o;
}

static awq_status json_floats(awq_ctx *ctx, const cJSON *arr, int64_t n, const char *what,
                              float **out) {
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n)
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: expected an array of %lld numbers", what,
                        (long long)n);
    float *v = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!v) return awq_fail_nomem(ctx, what, (uint64_t)n * 4);
    int64_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || e->valuedouble <= 0) {
            free(v);
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: entry %lld is not a positive number",
                            what, (long long)i);
        }
        v[i++] = (float)e->valuedouble;
    }
    *out = v;
    return AWQ_OK;
}

/* Fill s from the loaded scales file for this layer (clips included). */
static awq_status search_from_json(awq_quantize_job *job, awq_layer *l, int64_t layer,
                                   awq_layer_search *s) {
    awq_ctx *ctx = job->ctx;
    const awq_arch *a = job->cfg.arch;
    memset(s, 0, sizeof *s);
    s->n_groups = a->n_groups;
    const cJSON *lo = NULL, *e;
    cJSON_ArrayForEach(e, job->loaded.layers) {
        const cJSON *li = cJSON_GetObjectItemCaseSensitive(e, "layer");
        if (cJSON_IsNumber(li) && (int64_t)li->valuedouble == layer) lo = e;
    }
    if (!lo)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "%s: no entry for layer %lld", job->s_load,
                        (long long)layer);
    char what[256];
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(lo, "groups");
    cJSON_ArrayForEach(e, groups) {
        const cJSON *gi = cJSON_GetObjectItemCaseSensitive(e, "group");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(e, "scales");
        if (!cJSON_IsNumber(gi) || gi->valuedouble < 0 || gi->valuedouble >= a->n_groups)
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: layer %lld: bad group index",
                            job->s_load, (long long)layer);
        int g = (int)gi->valuedouble;
        const awq_scale_group *grp = &a->groups[g];
        int64_t n_, K;
        awq_layer_weight(l, grp->linears[0], &n_, &K);
        s->rep[g].layer = layer;
        s->rep[g].group = g;
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(nm)) snprintf(s->rep[g].name, sizeof s->rep[g].name, "%s", nm->valuestring);
        const cJSON *ra = cJSON_GetObjectItemCaseSensitive(e, "ratio");
        s->rep[g].ratio = cJSON_IsNumber(ra) ? ra->valuedouble : 0;
        s->rep[g].duo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "duo"));
        if (!sc) continue;
        snprintf(what, sizeof what, "%s: layer %lld group %d scales", job->s_load,
                 (long long)layer, g);
        AWQ_TRY(json_floats(ctx, sc, K, what, &s->scales[g]));
        s->used[g] = true;
        s->len[g] = K;
        s->rep[g].searched = true;
    }
    const cJSON *clips = cJSON_GetObjectItemCaseSensitive(lo, "clips");
    cJSON_ArrayForEach(e, clips) {
        const cJSON *ln = cJSON_GetObjectItemCaseSensitive(e, "linear");
        int lin = -1;
        for (int i = 0; i < a->n_linears && cJSON_IsString(ln); i++)
            if (!strcmp(a->linears[i].name, ln->valuestring)) lin = i;
        if (lin < 0)
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: layer %lld: unknown clip linear",
                            job->s_load, (long long)layer);
        int64_t N, K;
        awq_layer_weight(l, lin, &N, &K);
        int64_t G = K / awq_group_len(K, job->p.quant.group_size);
        snprintf(what, sizeof what, "%s: layer %lld %s clip", job->s_load, (long long)layer,
                 a->linears[lin].name);
        AWQ_TRY(json_floats(ctx, cJSON_GetObjectItemCaseSensitive(e, "max"), N * G, what,
                            &s->clip[lin]));
        s->clip_rows[lin] = N;
        s->clip_groups[lin] = G;
    }
    return AWQ_OK;
}

/* ------------------------------------------------------ one layer's output */

/* Append a 1-D float tensor `name` (n values in backend memory, minus
 * `sub`: a norm's offset, Gemma's (1 + w) stored as w) to the output list,
 * in the source tensor's dtype. */
static awq_status emit_vector(awq_quantize_job *job, awq_qz_out_list *outl, const char *name,
                              const float *v, int64_t n, float sub) {
    awq_ctx *ctx = job->ctx;
    awq_status st = AWQ_OK;
    awq_dtype dt = out_float_dtype(awq_checkpoint_find(job->ck, name));
    awq_qz_out_tensor *t = awq_qz_out_list_add(ctx, outl, name, dt, 1, &n, &st);
    if (!t) return st;
    float *h = awq_alloc((size_t)n, sizeof(float));
    if (!h) return awq_fail_nomem(ctx, name, (uint64_t)n * 4);
    st = awq_model_download(job->m, h, v, (size_t)n * sizeof(float));
    for (int64_t i = 0; sub != 0 && i < n; i++) h[i] -= sub;
    if (st == AWQ_OK) st = f32_to_dtype(ctx, name, h, n, dt, t->data);
    awq_free(h);
    return st;
}

/* Quantize + pack every linear of the (scaled, clipped) layer and collect
 * the layer's output tensors; dev_packed[lin] (one per linear of the
 * layer's set) says which were packed on the backend. */
static awq_status layer_outputs(awq_quantize_job *job, awq_layer *l, int64_t layer,
                                awq_qz_out_list *outl, int64_t *n_packed, int64_t *n_kept,
                                uint8_t *dev_packed) {
    awq_ctx *ctx = job->ctx;
    const awq_arch *a = job->cfg.arch;
    char name[320];
    awq_status st = AWQ_OK;
    const int n_lin = awq_lset_count(&job->cfg, layer);
    for (int lin = 0; lin < n_lin && st == AWQ_OK; lin++) {
        awq_lset_item li;
        if (!awq_lset_get(&job->cfg, layer, lin, &li) || !li.present) continue;
        int64_t N, K;
        float *w = awq_layer_lset_weight(l, lin, &N, &K);
        const bool pack = li.packed && awq_qz_linear_packable(job, K, N);
        char base[256];
        snprintf(base, sizeof base, "%slayers.%lld.%s", job->prefix, (long long)layer, li.name);
        bool on_device = false;
        if (pack && awq_qz_device_pack_applies(job)) {
            st = awq_qz_pack_on_device(job, base, w, N, K, outl, &on_device);
            if (st != AWQ_OK) return st;
            dev_packed[lin] = on_device;
        }
        float *wh = NULL;
        if (!on_device) {
            wh = awq_alloc((size_t)N * (size_t)K, sizeof(float));
            if (!wh) return awq_fail_nomem(ctx, "weight", (uint64_t)N * K * 4);
            st = awq_model_download(job->m, wh, w, (size_t)N * (size_t)K * sizeof(float));
        }
        awq_qz_lin_tensor_name(job, layer, lin, "weight", name, sizeof name);
        const awq_tensor_info *src = awq_checkpoint_find(job->ck, name);
        if (on_device) {
            (*n_packed)++;
        } else if (st == AWQ_OK && pack) {
            awq_qtensor qt;
            memset(&qt, 0, sizeof qt);
            st = awq_quantize(ctx, base, wh, N, K, &job->p.quant, &qt);
            awq_packed pk;
            memset(&pk, 0, sizeof pk);
            awq_pack_params pp = awq_pack_default_params();
            pp.allow_lossy = job->p.allow_lossy;
            awq_pack_report prep;
            if (st == AWQ_OK) st = awq_pack(ctx, base, job->p.format, &qt, &pp, &pk, &prep);
            if (st == AWQ_OK && prep.n_lossy_groups)
                awq_warn(ctx, "%s: %lld groups re-quantized to fit GPTQ v1 (max change %g)",
                         base, (long long)prep.n_lossy_groups, prep.max_abs_change);
            for (int i = 0; i < pk.n_tensors && st == AWQ_OK; i++) {
                if (awq_packed_part_absent(&pk.t[i])) continue; /* e.g. sym CT zeros */
                snprintf(name, sizeof name, "%s.%s", base, pk.t[i].suffix);
                awq_qz_out_tensor *t = awq_qz_out_list_add(ctx, outl, name, pk.t[i].dtype, pk.t[i].ndim,
                                             pk.t[i].shape, &st);
                if (t) memcpy(t->data, pk.t[i].data, t->n_bytes);
            }
            awq_packed_free(&pk);
            awq_qtensor_free(&qt);
            if (st == AWQ_OK) (*n_packed)++;
        } else if (st == AWQ_OK) {
            /* a MoE router / shared expert gate is never packed: no warning */
            const char *why = "";
            awq_linear_packable(job->p.format, K, N, job->p.quant.bits, job->p.quant.group_size,
                                &why);
            if (li.packed)
                awq_warn(ctx, "%s [%lld x %lld] cannot be packed (%s): kept in %s", name,
                         (long long)N, (long long)K, why, awq_dtype_name(out_float_dtype(src)));
            int64_t shape[2] = {N, K};
            awq_qz_out_tensor *t = awq_qz_out_list_add(ctx, outl, name, out_float_dtype(src), 2, shape, &st);
            if (t) st = f32_to_dtype(ctx, name, wh, N * K, t->dtype, t->data);
            if (st == AWQ_OK && li.packed) (*n_kept)++;
        }
        awq_free(wh);
        /* bias (possibly divided by the v->o scales) */
        float *b = awq_layer_bias(l, lin);
        if (st == AWQ_OK && b) {
            /* in the source's dtype: FP16 (as AutoAWQ's WQLinear) or BF16 */
            awq_qz_lin_tensor_name(job, layer, lin, "bias", name, sizeof name);
            st = emit_vector(job, outl, name, b, N, 0);
        }
    }
    const char *norms[AWQ_QZ_MAX_FOLDED_NORMS];
    int nn = awq_arch_folded_norms(a, norms, AWQ_QZ_MAX_FOLDED_NORMS);
    for (int i = 0; i < nn && st == AWQ_OK; i++) {
        int64_t n;
        float *nw = awq_layer_norm_weight(l, (awq_layer_norm_id)awq_layer_norm_find(norms[i]), &n);
        if (!nw) continue;
        awq_qz_norm_tensor_name(job, layer, norms[i], name, sizeof name);
        st = emit_vector(job, outl, name, nw, n, a->norm_offset);
    }
    return st;
}

awq_status awq_qz_open_layer_file(awq_quantize_job *job, int64_t layer, awq_checkpoint **out) {
    char *dir = awq_qz_layer_dir(job, layer);
    char *f = dir ? awq_path_join(dir, "model.safetensors") : NULL;
    awq_status st = f ? awq_checkpoint_open(job->ctx, f, out)
                      : awq_fail_nomem(job->ctx, "path", 64);
    free(f);
    free(dir);
    return st;
}

/* The backend's GEMMs around quantize's own layer forwards (the search
 * sets its own): with --precision bf16, FEED (bf16 linears, fp32
 * attention) for the forwards whose outputs are a layer's inputs, REPORT
 * (the search's: bf16 linears and the CPU's bf16 p·v) for those that only
 * feed the report's MSEs; fp32 otherwise, and after. Why the two: the
 * captures and the next layer's inputs then differ between backends by
 * summation order only (CUDA's attention is fp32), and every layer's
 * inputs are computed the same way in a fresh run and in a resume, so a
 * resumed output is the uninterrupted one's bits. Where bf16 is not
 * available everything stays fp32: the search says so once. */
typedef enum { PREC_OFF, PREC_FEED, PREC_REPORT } job_prec;

static void job_precision(awq_quantize_job *job, job_prec use) {
    awq_backend *be = awq_model_backend(job->m);
    if (!be->ops->set_gemm_precision) return;
    awq_gemm_precision p = AWQ_GEMM_FP32;
    if (job->p.precision == AWQ_PRECISION_BF16 && use != PREC_OFF)
        p = use == PREC_FEED ? AWQ_GEMM_BF16_LINEAR : AWQ_GEMM_BF16;
    if (be->ops->set_gemm_precision(be, p) != AWQ_OK)
        (void)be->ops->set_gemm_precision(be, AWQ_GEMM_FP32);
}

/* ------------------------------------------------------------------ run */

/* The assembled checkpoint (still in the staging directory) must pass
 * `awqkit verify` (every packed linear complete and decodable, values in
 * range, scales finite and positive, float tensors finite), and hold the
 * source's logical parameter count. A failure publishes nothing. The per-linear
 * weight-error bound of `verify --against` is not applied here: its
 * row/column scale fit reads every linear of the source and the output
 * seven times, more than the rest of the check for a large model; users
 * run `awqkit verify OUT --against MODEL` for it (the e2e tests do). */
static awq_status verify_output(awq_quantize_job *job, awq_quantize_report *rep) {
    awq_ctx *ctx = job->ctx;
    awq_verify_params vp = awq_verify_default_params();
    awq_verify_result vr;
    memset(&vr, 0, sizeof vr);
    awq_status st = awq_verify(ctx, job->staging_dir, &vp, &vr);
    if (st == AWQ_OK && !vr.ok)
        st = awq_fail(ctx, AWQ_ERR_INTERNAL,
                      "verification of the assembled checkpoint failed (%lld problem(s)); "
                      "first: %s; nothing was written to %s", (long long)vr.n_problems_total,
                      vr.n_problems ? vr.problems[0] : "?", job->out_dir);
    /* verify's count: awq_count's, or from the decoded linears where the
     * header-only counter does not resolve the format */
    const uint64_t out_logical = (uint64_t)vr.logical_params;
    awq_verify_result_free(&vr);
    awq_checkpoint *oc = NULL;
    awq_count_result cin, cout;
    if (st == AWQ_OK) st = awq_count(ctx, job->ck, &cin);
    if (st == AWQ_OK) st = awq_checkpoint_open(ctx, job->staging_dir, &oc);
    if (st == AWQ_OK) st = awq_count(ctx, oc, &cout);
    if (st == AWQ_OK && cin.logical != out_logical)
        st = awq_fail(ctx, AWQ_ERR_INTERNAL,
                      "verification failed: the assembled checkpoint holds %llu logical "
                      "parameters, the input %llu; nothing was written to %s",
                      (unsigned long long)out_logical, (unsigned long long)cin.logical,
                      job->out_dir);
    if (st == AWQ_OK && rep) {
        rep->logical_in = cin.logical;
        rep->logical_out = out_logical;
        rep->bits_per_weight = cout.quant_bits_per_weight;
    }
    awq_checkpoint_free(oc);
    return st;
}

awq_status awq_quantize_run(awq_quantize_job *job, awq_quantize_report *rep) {
    awq_ctx *ctx = job->ctx;
    awq_quantize_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    double t_start = awq_now();
    const awq_model_config *cfg = &job->cfg;
    const awq_arch *a = cfg->arch;
    int64_t L = cfg->n_layers, B = job->blocks->n_blocks, T = job->blocks->seqlen;
    awq_status st = AWQ_OK;

    rep->n_layers = L;
    rep->layers = calloc((size_t)L, sizeof *rep->layers);
    rep->groups = calloc((size_t)L * (size_t)a->n_groups, sizeof *rep->groups);
    if (!rep->layers || !rep->groups) {
        awq_quantize_report_free(rep);
        return awq_fail_nomem(ctx, "report", (uint64_t)L * 256);
    }
    rep->n_groups = L * a->n_groups;
    rep->resumed_from = job->plan.resume_from;
    /* The per-layer MSEs are estimates over the race's first stage (all
     * of them with screen 0). The same for RTN, so that runs of either
     * method with the same options (audit's configurations) compare their
     * MSEs on the same sequences. */
    rep->calib_seqs = B;
    rep->report_seqs = awq_search_screen_split(
        &job->p, awq_search_n_candidates(job->p.duo_scaling, job->p.n_grid), B);
    if (st == AWQ_OK) st = awq_qz_moe_report_init(job, rep);

    /* Partial dir + fingerprint (a fresh run clears an old partial dir). */
    if (job->plan.resume_from == 0 && awq_path_exists(job->partial_dir)) rm_tree(job->partial_dir);
    st = awq_mkdir_p(ctx, job->partial_dir);
    if (st == AWQ_OK) {
        char *fp = awq_path_join(job->partial_dir, FINGERPRINT_FILE);
        char hex[32];
        snprintf(hex, sizeof hex, "%016llx\n", (unsigned long long)job->fingerprint);
        st = fp ? awq_write_file_atomic(ctx, fp, hex, strlen(hex)) : AWQ_ERR_NOMEM;
        free(fp);
    }

    awq_search_acts acts;
    memset(&acts, 0, sizeof acts);
    if (st == AWQ_OK)
        st = awq_search_acts_create(job->m, B, T, job->p.chunk_seqs, job->p.offload_activations,
                                    job->partial_dir, &acts);
    double t0 = awq_now();
    /* Embeddings of the calibration blocks: the inputs of layer 0 (none
     * needed when every layer is already durable: a resume that only
     * assembles). */
    bool compute = job->plan.resume_from < L;
    for (int64_t c = 0; compute && st == AWQ_OK && c < awq_act_store_n_chunks(acts.st); c++) {
        float *x = NULL;
        int64_t r0 = awq_act_store_chunk_row0(acts.st, c);
        st = awq_act_store_get(acts.st, AWQ_SLOT_X, c, false, &x);
        if (st == AWQ_OK)
            st = awq_model_embed(job->m, job->blocks->ids + r0,
                                 awq_act_store_chunk_rows(acts.st, c), x);
        if (st == AWQ_OK) st = awq_act_store_put(acts.st, AWQ_SLOT_X, c, x);
    }

    /* Resume: rebuild the inputs of the first layer to compute. */
    for (int64_t i = 0; compute && i < job->plan.resume_from && st == AWQ_OK; i++) {
        job_precision(job, PREC_FEED);
        if (job->p.propagate == AWQ_PROPAGATE_QUANTIZED) {
            st = awq_qz_replay_layer(job, i, &acts, AWQ_SLOT_X, AWQ_SLOT_Y, B, NULL, NULL, NULL);
        } else {
            awq_layer *l = NULL;
            st = awq_layer_load(job->m, i, &l);
            if (st == AWQ_OK) st = awq_search_forward(job->m, l, &acts, AWQ_SLOT_X, AWQ_SLOT_Y, false);
            awq_layer_free(l);
        }
        job_precision(job, PREC_OFF);
        if (st == AWQ_OK) st = awq_act_store_swap(acts.st, AWQ_SLOT_X, AWQ_SLOT_Y);
        if (st == AWQ_OK) st = awq_progress(ctx, "resume", (uint64_t)i + 1,
                                            (uint64_t)job->plan.resume_from);
    }
    rep->t_forward += awq_now() - t0;

    /* with a device backend, layers are written in the background while
     * the next is searched (layer_saver.c) */
    awq_qz_saver saver;
    memset(&saver, 0, sizeof saver);
    const bool background_write = awq_model_backend(job->m)->ops->mem == AWQ_MEM_DEVICE;
    int64_t done_this_run = 0;
    for (int64_t i = job->plan.resume_from; i < L && st == AWQ_OK; i++) {
        double tl = awq_now();
        awq_layer *l = NULL;
        awq_layer_search srch;
        memset(&srch, 0, sizeof srch);
        awq_qz_out_list outl;
        memset(&outl, 0, sizeof outl);
        cJSON *sj = NULL;

        t0 = awq_now();
        st = awq_layer_load(job->m, i, &l);
        rep->t_load += awq_now() - t0;
        /* 1. FP forward with captures: Y = layer(X), the weights as
         * loaded, the GEMMs at the job's precision (bf16 inputs, fp32
         * accumulation, like the peers' fp16/bf16 forwards; fp32 with
         * --precision fp32). */
        if (st == AWQ_OK) {
            t0 = awq_now();
            job_precision(job, PREC_FEED);
            st = awq_search_forward(job->m, l, &acts, AWQ_SLOT_X, AWQ_SLOT_Y, true);
            job_precision(job, PREC_OFF);
            rep->t_forward += awq_now() - t0;
        }
        /* 1b. on a device backend, the report's RTN baseline now, on the
         * loaded layer (restored after), instead of loading it again after
         * the search (quantize_replay.c). Its MSE is the same either way. */
        const bool rtn_early = awq_qz_rtn_in_place(job);
        if (st == AWQ_OK && rtn_early) {
            t0 = awq_now();
            job_precision(job, PREC_REPORT);
            st = awq_qz_rtn_mse(job, i, &acts, rep->report_seqs, l, &rep->layers[i].mse_rtn);
            job_precision(job, PREC_OFF);
            rep->t_forward += awq_now() - t0;
        }
        /* 2-4. search, apply, clip. */
        if (st == AWQ_OK && job->p.method == AWQ_METHOD_AWQ) {
            if (job->loaded.root) st = search_from_json(job, l, i, &srch);
            else
                st = awq_search_layer(job->m, l, &acts, &job->p, &srch, &rep->t_search,
                                      (uint64_t)(i * (a->n_groups + 1)),
                                      (uint64_t)(L * (a->n_groups + 1)));
            if (st == AWQ_OK) st = awq_search_apply(job->m, l, &acts, &srch);
            t0 = awq_now();
            if (st == AWQ_OK) st = awq_search_clip(job->m, l, &acts, &job->p, &srch);
            rep->t_clip += awq_now() - t0;
        } else if (st == AWQ_OK) {
            srch.n_groups = a->n_groups;
            for (int g = 0; g < a->n_groups; g++) {
                srch.rep[g].layer = i;
                srch.rep[g].group = g;
            }
        }
        /* 4b. a MoE layer's experts: run-time sized groups (moe_awq.h) */
        awq_moe_search ms;
        memset(&ms, 0, sizeof ms);
        if (st == AWQ_OK && awq_model_layer_moe(cfg, i)) {
            t0 = awq_now();
            st = awq_moe_search_layer(job->m, l, &acts, &job->p, &ms);
            rep->t_search += awq_now() - t0;
            if (st == AWQ_OK) awq_qz_moe_note(job, i, &ms, &srch, rep);
        }
        /* 5. quantize + pack, save the layer durably. */
        t0 = awq_now();
        const int n_lin = awq_lset_count(&job->cfg, i);
        uint8_t *dev_packed = awq_calloc((size_t)(n_lin > 0 ? n_lin : 1), 1);
        if (st == AWQ_OK && !dev_packed) st = awq_fail_nomem(ctx, "linear flags", (uint64_t)n_lin);
        if (st == AWQ_OK)
            st = layer_outputs(job, l, i, &outl, &rep->n_packed, &rep->n_kept, dev_packed);
        rep->t_pack += awq_now() - t0;
        /* the write waits only for the previous layer's (layer_saver.c) */
        t0 = awq_now();
        if (st == AWQ_OK) {
            sj = search_to_json(job, i, &srch);
            if (sj && ms.tokens) cJSON_AddItemToObject(sj, "moe", awq_moe_search_json(&ms));
            if (sj) st = awq_qz_saver_start(&saver, job, i, &outl, sj, background_write);
            else st = awq_fail_nomem(ctx, "search.json", 0);
            sj = NULL; /* the saver's now */
        }
        rep->t_write += awq_now() - t0;
        awq_qz_out_list_free(&outl);
        cJSON_Delete(sj);
        for (int g = 0; g < a->n_groups; g++) rep->groups[i * a->n_groups + g] = srch.rep[g];
        awq_layer_search_free(&srch);
        awq_moe_search_free(&ms);

        /* 6. per-layer errors and the next layer's inputs. */
        t0 = awq_now();
        awq_layer_report *lr = &rep->layers[i];
        lr->layer = i;
        /* The RTN baseline's forward and the replay of the quantized layer
         * feed the report's MSEs (REPORT); with --propagate quantized the
         * replay is also the next layer's input (FEED). */
        /* Both MSEs cover the report's sequences (rep->report_seqs: the
         * first stage's, all with --screen 0); the replay covers every
         * sequence when it is the next layer's input. */
        const bool fp_next = job->p.propagate != AWQ_PROPAGATE_QUANTIZED;
        if (st == AWQ_OK) job_precision(job, PREC_REPORT);
        if (st == AWQ_OK && !rtn_early)
            st = awq_qz_rtn_mse(job, i, &acts, rep->report_seqs, NULL, &lr->mse_rtn);
        if (st == AWQ_OK) job_precision(job, fp_next ? PREC_REPORT : PREC_FEED);
        /* the replay starts from the searched layer: it overwrites every
         * tensor the search changed, so the source is not read again */
        if (st == AWQ_OK)
            st = awq_qz_replay_layer(job, i, &acts, AWQ_SLOT_X, AWQ_SLOT_TMP,
                                     fp_next ? rep->report_seqs : B, l, dev_packed,
                                     &saver.outl);
        job_precision(job, PREC_OFF);
        awq_qz_saver_settle(&saver);
        awq_layer_free(l);
        l = NULL;
        awq_free(dev_packed);
        if (st == AWQ_OK)
            st = awq_search_slot_mse_first(job->m, &acts, AWQ_SLOT_TMP, AWQ_SLOT_Y,
                                           rep->report_seqs, &lr->mse_quant);
        if (st == AWQ_OK)
            st = awq_act_store_swap(acts.st, AWQ_SLOT_X,
                                    job->p.propagate == AWQ_PROPAGATE_QUANTIZED ? AWQ_SLOT_TMP
                                                                                : AWQ_SLOT_Y);
        rep->t_forward += awq_now() - t0;
        lr->seconds = awq_now() - tl;
        /* host RSS: this layer's source pages are not needed any more */
        awq_source_release_layer(job->ck, job->prefix, i);
        if (st == AWQ_OK) {
            awq_info(ctx, "layer %lld/%lld: output MSE %.3g (RTN %.3g) in %.1f s",
                     (long long)i + 1, (long long)L, lr->mse_quant, lr->mse_rtn, lr->seconds);
            char phase[64];
            snprintf(phase, sizeof phase, "layer %lld/%lld done", (long long)i + 1, (long long)L);
            st = awq_progress(ctx, phase, (uint64_t)((i + 1) * (a->n_groups + 1)),
                              (uint64_t)(L * (a->n_groups + 1)));
        }
        done_this_run++;
        if (st == AWQ_OK && job->p.stop_after_layers > 0 &&
            done_this_run >= job->p.stop_after_layers && i + 1 < L)
            st = awq_fail(ctx, AWQ_ERR_CANCELLED, "stopped after %lld layers as asked; rerun "
                          "with --resume to continue", (long long)done_this_run);
    }
    /* every finished layer durable before anything reads layer files, or
     * the cleanup after a failure removes them */
    t0 = awq_now();
    {
        awq_status ws = awq_qz_saver_wait(&saver, st == AWQ_OK);
        if (st == AWQ_OK) st = ws;
    }
    awq_qz_saver_free(&saver);
    rep->t_write += awq_now() - t0;
    awq_search_acts_free(&acts);

    /* Group reports of resumed layers come from their search.json. */
    for (int64_t i = 0; i < job->plan.resume_from && st == AWQ_OK; i++) {
        char *dir = awq_qz_layer_dir(job, i);
        char *f = dir ? awq_path_join(dir, "search.json") : NULL;
        char *buf = NULL;
        size_t n;
        if (f && awq_read_file(ctx, f, 1ull << 32, &buf, &n) == AWQ_OK) {
            cJSON *lj = cJSON_ParseWithLength(buf, n);
            const cJSON *g;
            cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(lj, "groups")) {
                const cJSON *gi = cJSON_GetObjectItemCaseSensitive(g, "group");
                if (!cJSON_IsNumber(gi) || gi->valuedouble < 0 || gi->valuedouble >= a->n_groups)
                    continue;
                awq_group_report *r = &rep->groups[i * a->n_groups + (int)gi->valuedouble];
                r->layer = i;
                r->group = (int)gi->valuedouble;
                const cJSON *v;
                if ((v = cJSON_GetObjectItemCaseSensitive(g, "name")) && cJSON_IsString(v))
                    snprintf(r->name, sizeof r->name, "%s", v->valuestring);
                r->searched = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "searched"));
                if ((v = cJSON_GetObjectItemCaseSensitive(g, "ratio"))) r->ratio = v->valuedouble;
                r->duo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "duo"));
                if ((v = cJSON_GetObjectItemCaseSensitive(g, "loss_rtn"))) r->loss_rtn = v->valuedouble;
                if ((v = cJSON_GetObjectItemCaseSensitive(g, "loss_best"))) r->loss_best = v->valuedouble;
            }
            if (rep->expert_tokens && awq_model_layer_moe(cfg, i) &&
                awq_moe_tokens_from_json(lj, rep->n_experts, rep->expert_tokens + i * rep->n_experts))
                for (int64_t e = 0; e < rep->n_experts; e++)
                    rep->n_starved += rep->expert_tokens[i * rep->n_experts + e] < rep->moe_min_tokens;
            cJSON_Delete(lj);
        }
        free(buf);
        free(f);
        free(dir);
    }

    /* Assemble into the staging dir, verify it there, then publish. */
    t0 = awq_now();
    if (st == AWQ_OK) st = awq_qz_assemble(job, rep);
    rep->t_write += awq_now() - t0;
    t0 = awq_now();
    if (st == AWQ_OK) st = verify_output(job, rep);
    rep->t_verify = awq_now() - t0;
    t0 = awq_now();
    if (st == AWQ_OK && job->s_dump) st = awq_qz_dump_scales(job);
    if (st == AWQ_OK) st = awq_publish_dir(ctx, job->staging_dir, job->out_dir, job->journal);
    if (st == AWQ_OK) {
        rmdir(job->staging_dir);
        unlink(job->journal);
        if (!job->p.keep_partial) rm_tree(job->partial_dir);
    } else {
        /* Failed or stopped: the big temporaries go (the writers removed
         * theirs; the staging copy of the checkpoint is the rest), the
         * finished layers stay for --resume. With no finished layer there
         * is nothing to resume: the partial dir goes too, so the corrected
         * rerun needs no --force (and OUT itself, when this job created it,
         * goes with the lock). */
        awq_status keep = st;
        if (awq_path_exists(job->staging_dir)) rm_tree(job->staging_dir);
        if (awq_qz_finished_layers(job) == 0) rm_tree(job->partial_dir);
        st = keep;
    }
    rep->t_write += awq_now() - t0;
    rep->t_total = awq_now() - t_start;
    if (rep == &local) awq_quantize_report_free(&local);
    return st;
}
