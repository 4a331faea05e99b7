/*
 * lib/quant/quantize_replay.c — a quantized layer run again as its output
 * checkpoint holds it, and the RTN baseline of the per-layer report: the
 * per-layer MSEs of the report, and with --propagate quantized (or on
 * --resume) the next layer's inputs.
 *
 * The layer the search worked on is reused where that gives the same bits
 * as a fresh load from the source: the replay overwrites every tensor the
 * search changed (the linears, their biases, the folded norms), so it
 * starts from the searched layer instead of reading and converting the
 * source layer again; and on a device backend the RTN baseline runs on the
 * loaded layer before the search, its linears pseudo-quantized in place
 * and restored from a copy (a second copy of the linears in device memory
 * instead of another load: on the first GPU runs the three loads and the
 * replay's upload moved 3.2 GB a 7B layer, 0.48 s of uploads of a 3.6 s
 * layer, plus the host's conversions). On the CPU the RTN baseline still
 * loads the layer, which keeps host memory at one extra layer at most.
 */
#include "quant/quantize_replay.h"

#include "core/core.h"
#include "model/forward.h"
#include "model/moe_lset.h"
#include "quant/awq_search.h"
#include "quant/clip.h"

#include <stdio.h>
#include <string.h>

/* Where the layer's output tensors are read: its layer file, or the
 * output list itself while the layer file is still being written
 * (layer_saver.c). */
typedef struct {
    const awq_checkpoint *lc;
    const awq_qz_out_list *outl;
    awq_tensor_info tmp;       /* the answer for outl */
} out_src;

static const awq_tensor_info *src_find(out_src *src, const char *name) {
    if (src->lc) return awq_checkpoint_find(src->lc, name);
    for (size_t i = 0; i < src->outl->n; i++) {
        const awq_qz_out_tensor *t = &src->outl->t[i];
        if (strcmp(t->name, name) != 0) continue;
        awq_tensor_info *ti = &src->tmp;
        memset(ti, 0, sizeof *ti);
        ti->name = t->name;
        ti->dtype = t->dtype;
        ti->ndim = t->ndim;
        ti->n_elements = 1;
        for (int d = 0; d < t->ndim; d++) {
            ti->shape[d] = t->shape[d];
            ti->n_elements *= (uint64_t)t->shape[d];
        }
        ti->n_bytes = t->n_bytes;
        ti->data = t->data;
        return ti;
    }
    return NULL;
}

/* Load the 1-D tensor `name` of layer file lc, plus `add` (a norm's
 * offset), into v (n values, backend). */
static awq_status load_vector(awq_quantize_job *job, out_src *lc, const char *name,
                              float *v, int64_t n, float add) {
    awq_ctx *ctx = job->ctx;
    const awq_tensor_info *t = src_find(lc, name);
    if (!t || t->n_elements != (uint64_t)n)
        return awq_fail(ctx, AWQ_ERR_NOT_FOUND, "layer file lacks %s [%lld]", name, (long long)n);
    float *h = awq_alloc((size_t)n, sizeof(float));
    if (!h) return awq_fail_nomem(ctx, name, (uint64_t)n * 4);
    awq_status st = awq_tensor_to_f32(ctx, t, h);
    for (int64_t i = 0; add != 0 && i < n; i++) h[i] += add;
    if (st == AWQ_OK) st = awq_model_upload(job->m, v, h, (size_t)n * sizeof(float));
    awq_free(h);
    return st;
}

/* Load the layer's weights exactly as the output checkpoint holds them
 * (dequantized packed linears, rounded norms and biases) into l.
 * dev_packed (NULL: none): per linear of the layer's set, whether it was
 * packed on the backend from l's own weights (awq_qz_pack_on_device); such
 * a linear is pseudo-quantized in place, dequantize(quantize(w)) bit for
 * bit, which is what its packed tensors hold (those layouts store the
 * codes losslessly), instead of being unpacked on the host and uploaded. */
static awq_status layer_from_outputs(awq_quantize_job *job, awq_layer *l, int64_t layer,
                                     out_src *lc, const uint8_t *dev_packed) {
    awq_ctx *ctx = job->ctx;
    const awq_arch *a = job->cfg.arch;
    char name[320], base[256];
    awq_status st = AWQ_OK;
    const int n_lin = awq_lset_count(&job->cfg, layer);
    for (int lin = 0; lin < n_lin && st == AWQ_OK; lin++) {
        awq_lset_item li;
        if (!awq_lset_get(&job->cfg, layer, lin, &li) || !li.present) continue;
        int64_t N, K;
        float *w = awq_layer_lset_weight(l, lin, &N, &K);
        snprintf(base, sizeof base, "%slayers.%lld.%s", job->prefix, (long long)layer, li.name);
        float *wh = NULL;
        if (dev_packed && dev_packed[lin]) {
            st = awq_pseudo_quant(awq_model_backend(job->m), w, N, K, &job->p.quant);
            goto bias;
        }
        wh = awq_alloc((size_t)N * (size_t)K, sizeof(float));
        if (!wh) return awq_fail_nomem(ctx, "weight", (uint64_t)N * K * 4);
        snprintf(name, sizeof name, "%s.weight", base);
        const awq_tensor_info *wt = src_find(lc, name);
        if (wt) {
            st = awq_tensor_to_f32(ctx, wt, wh);
        } else {
            awq_packed pk;
            memset(&pk, 0, sizeof pk);
            awq_packed_shapes(ctx, job->p.format, K, N, job->p.quant.bits,
                              job->p.quant.group_size, &pk);
            awq_packed_omit_optional(&pk, job->p.quant.sym, true); /* as awq_pack wrote */
            for (int i = 0; i < pk.n_tensors && st == AWQ_OK; i++) {
                if (awq_packed_part_absent(&pk.t[i])) continue;
                snprintf(name, sizeof name, "%s.%s", base, pk.t[i].suffix);
                const awq_tensor_info *t = src_find(lc, name);
                if (!t)
                    st = awq_fail(ctx, AWQ_ERR_NOT_FOUND, "layer file lacks %s", name);
                else
                    pk.t[i].data = (void *)t->data;
            }
            awq_unpack_params up = {job->p.quant.bits, job->p.quant.group_size,
                                    job->p.quant.sym};
            awq_qtensor qt;
            memset(&qt, 0, sizeof qt);
            if (st == AWQ_OK) st = awq_unpack(ctx, base, job->p.format, &pk, &up, &qt);
            if (st == AWQ_OK) st = awq_dequantize(ctx, &qt, wh);
            awq_qtensor_free(&qt);
        }
        if (st == AWQ_OK) st = awq_model_upload(job->m, w, wh, (size_t)N * (size_t)K * 4);
        awq_free(wh);
    bias:;
        float *b = awq_layer_bias(l, lin);
        if (st == AWQ_OK && b) {
            snprintf(name, sizeof name, "%s.bias", base);
            st = load_vector(job, lc, name, b, N, 0);
        }
    }
    const char *norms[AWQ_QZ_MAX_FOLDED_NORMS];
    int nn = awq_arch_folded_norms(a, norms, AWQ_QZ_MAX_FOLDED_NORMS);
    for (int i = 0; i < nn && st == AWQ_OK; i++) {
        int64_t n;
        float *nw = awq_layer_norm_weight(l, (awq_layer_norm_id)awq_layer_norm_find(norms[i]), &n);
        if (!nw) continue;
        awq_qz_norm_tensor_name(job, layer, norms[i], name, sizeof name);
        st = load_vector(job, lc, name, nw, n, a->norm_offset);
    }
    return st;
}

awq_status awq_qz_replay_layer(awq_quantize_job *job, int64_t layer, awq_search_acts *a, int in,
                               int out, int64_t n_seqs, awq_layer *searched,
                               const uint8_t *dev_packed, const awq_qz_out_list *outl) {
    awq_layer *l = searched;
    awq_checkpoint *lc = NULL;
    out_src src;
    memset(&src, 0, sizeof src);
    src.outl = outl;
    awq_status st = l ? AWQ_OK : awq_layer_load(job->m, layer, &l);
    if (st == AWQ_OK && !outl) {
        st = awq_qz_open_layer_file(job, layer, &lc);
        src.lc = lc;
    }
    if (st == AWQ_OK) st = layer_from_outputs(job, l, layer, &src, searched ? dev_packed : NULL);
    if (st == AWQ_OK) st = awq_search_forward_first(job->m, l, a, in, out, false, n_seqs);
    awq_checkpoint_free(lc);
    if (l != searched) awq_layer_free(l);
    return st;
}

/* The packed linears of l pseudo-quantized in place (RTN). */
static awq_status rtn_weights(awq_quantize_job *job, awq_layer *l, int64_t layer,
                              float **backup) {
    awq_backend *be = awq_model_backend(job->m);
    awq_status st = AWQ_OK;
    const int n_lin = awq_lset_count(&job->cfg, layer);
    for (int lin = 0; lin < n_lin && st == AWQ_OK; lin++) {
        awq_lset_item li;
        if (!awq_lset_get(&job->cfg, layer, lin, &li) || !li.present || !li.packed) continue;
        int64_t N, K;
        float *w = awq_layer_lset_weight(l, lin, &N, &K);
        if (!awq_qz_linear_packable(job, K, N)) continue;
        if (backup) {
            const size_t bytes = (size_t)N * (size_t)K * sizeof(float);
            st = awq_model_alloc(job->m, bytes, (void **)&backup[lin]);
            if (st == AWQ_OK) st = be->ops->copy(be, backup[lin], w, bytes);
        }
        if (st == AWQ_OK) st = awq_pseudo_quant(be, w, N, K, &job->p.quant);
    }
    return st;
}

static awq_status rtn_forward(awq_quantize_job *job, awq_layer *l, awq_search_acts *acts,
                              int64_t n_seqs, double *mse) {
    awq_status st =
        awq_search_forward_first(job->m, l, acts, AWQ_SLOT_X, AWQ_SLOT_TMP, false, n_seqs);
    if (st == AWQ_OK)
        st = awq_search_slot_mse_first(job->m, acts, AWQ_SLOT_TMP, AWQ_SLOT_Y, n_seqs, mse);
    return st;
}

bool awq_qz_rtn_in_place(const awq_quantize_job *job) {
    return awq_model_backend(job->m)->ops->mem == AWQ_MEM_DEVICE;
}

awq_status awq_qz_rtn_mse(awq_quantize_job *job, int64_t layer, awq_search_acts *acts,
                          int64_t n_seqs, awq_layer *loaded, double *mse) {
    if (!loaded) {
        awq_layer *l = NULL;
        awq_status st = awq_layer_load(job->m, layer, &l);
        if (st == AWQ_OK) st = rtn_weights(job, l, layer, NULL);
        if (st == AWQ_OK) st = rtn_forward(job, l, acts, n_seqs, mse);
        awq_layer_free(l);
        return st;
    }
    /* in place on the loaded layer, restored bit for bit from the copies */
    awq_backend *be = awq_model_backend(job->m);
    const int n_lin = awq_lset_count(&job->cfg, layer);
    float **backup = awq_calloc((size_t)(n_lin > 0 ? n_lin : 1), sizeof(float *));
    if (!backup) return awq_fail_nomem(job->ctx, "RTN copies", (uint64_t)n_lin * sizeof(float *));
    awq_status st = rtn_weights(job, loaded, layer, backup);
    if (st == AWQ_OK) st = rtn_forward(job, loaded, acts, n_seqs, mse);
    for (int lin = 0; lin < n_lin; lin++) {
        if (!backup[lin]) continue;
        int64_t N, K;
        float *w = awq_layer_lset_weight(loaded, lin, &N, &K);
        awq_status r = be->ops->copy(be, w, backup[lin], (size_t)N * (size_t)K * sizeof(float));
        if (st == AWQ_OK) st = r;
        awq_model_free_buf(job->m, backup[lin]);
    }
    awq_free(backup);
    return st;
}
