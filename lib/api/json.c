/* lib/api/json.c — the --json documents of count, inspect, repack, verify
 * and quantize (see api_json.h). Field names and order are the CLI's
 * contract: append fields, never rename or reorder. */
#include "api/api_json.h"

#include <stdlib.h>

static cJSON *row_json(const awq_count_row *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "tensors", (double)r->n_tensors);
    cJSON_AddNumberToObject(o, "stored", (double)r->stored);
    cJSON_AddNumberToObject(o, "loaded", (double)r->loaded);
    cJSON_AddNumberToObject(o, "logical", (double)r->logical);
    cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
    return o;
}

cJSON *awq_json_count(const char *path, const awq_count_result *r, double seconds) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "tensors", (double)r->n_tensors);
    cJSON_AddNumberToObject(o, "shards", (double)r->n_shards);
    cJSON_AddNumberToObject(o, "stored", (double)r->stored);
    cJSON_AddNumberToObject(o, "loaded", (double)r->loaded);
    cJSON_AddNumberToObject(o, "logical", (double)r->logical);
    cJSON_AddNumberToObject(o, "tensor_bytes", (double)r->tensor_bytes);
    cJSON_AddNumberToObject(o, "file_bytes", (double)r->file_bytes);
    cJSON_AddNumberToObject(o, "bits_per_param", r->bits_per_param);
    cJSON *q = cJSON_AddObjectToObject(o, "quantized");
    cJSON_AddStringToObject(q, "layout", awq_pack_kind_name(r->pack));
    cJSON_AddNumberToObject(q, "linears", (double)r->n_quant_linears);
    cJSON_AddNumberToObject(q, "bits", r->quant_bits);
    cJSON_AddNumberToObject(q, "logical", (double)r->quant_logical);
    cJSON_AddNumberToObject(q, "bytes", (double)r->quant_bytes);
    cJSON_AddNumberToObject(q, "bits_per_weight", r->quant_bits_per_weight);
    cJSON_AddNumberToObject(q, "unresolved", (double)r->n_unresolved);
    cJSON *roles = cJSON_AddObjectToObject(o, "by_role");
    for (int i = 0; i < AWQ_ROLE_COUNT; i++)
        cJSON_AddItemToObject(roles, awq_role_name((awq_role)i), row_json(&r->by_role[i]));
    cJSON *dts = cJSON_AddObjectToObject(o, "by_dtype");
    for (int i = 0; i < AWQ_DT_COUNT; i++)
        if (r->by_dtype[i].n_tensors)
            cJSON_AddItemToObject(dts, awq_dtype_name((awq_dtype)i), row_json(&r->by_dtype[i]));
    cJSON *tie = cJSON_AddObjectToObject(o, "tied_embeddings");
    cJSON_AddBoolToObject(tie, "config_present", r->has_config);
    cJSON_AddBoolToObject(tie, "tie_word_embeddings", r->tie_word_embeddings);
    cJSON_AddBoolToObject(tie, "lm_head_stored", r->lm_head_stored);
    cJSON_AddBoolToObject(tie, "duplicate_dropped", r->tied_duplicate_dropped);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    return o;
}

cJSON *awq_json_inspect(const char *path, const awq_checkpoint *ck, const awq_detect_result *d) {
    size_t nt = awq_checkpoint_n_tensors(ck), ns = awq_checkpoint_n_shards(ck);
    uint64_t total = 0;
    for (size_t i = 0; i < nt; i++) total += awq_checkpoint_tensor(ck, i)->n_bytes;
    const awq_quant_config *qc = &d->config;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "kind", awq_ckpt_kind_name(d->kind));
    cJSON_AddStringToObject(o, "layout", awq_pack_kind_name(d->pack));
    cJSON_AddStringToObject(o, "format", d->format);
    cJSON_AddNumberToObject(o, "bits_per_weight", d->bits_per_weight);
    cJSON_AddBoolToObject(o, "computable", awq_detect_computable(d));
    cJSON_AddStringToObject(o, "float_dtype", awq_dtype_name(d->float_dtype));
    cJSON_AddNumberToObject(o, "packed_linears", d->n_packed_linears);
    cJSON_AddNumberToObject(o, "bits", d->bits);
    cJSON_AddNumberToObject(o, "group_size", d->group_size);
    cJSON_AddBoolToObject(o, "g_idx", d->has_g_idx);
    cJSON_AddBoolToObject(o, "act_order", d->act_order);
    cJSON_AddNumberToObject(o, "gptq_version", d->gptq_version);
    cJSON_AddBoolToObject(o, "zeros_symmetric", d->zeros_symmetric);
    cJSON_AddBoolToObject(o, "data_blank", d->data_blank);
    cJSON *q = cJSON_AddObjectToObject(o, "quantization_config");
    cJSON_AddBoolToObject(q, "present", qc->present);
    if (qc->present) {
        cJSON_AddStringToObject(q, "quant_method", qc->quant_method);
        cJSON_AddNumberToObject(q, "bits", qc->bits);
        cJSON_AddNumberToObject(q, "group_size", qc->group_size);
        cJSON_AddStringToObject(q, "version", qc->version);
        cJSON_AddStringToObject(q, "checkpoint_format", qc->checkpoint_format);
        cJSON_AddBoolToObject(q, "zero_point", qc->zero_point);
        cJSON_AddBoolToObject(q, "sym", qc->sym);
        cJSON_AddBoolToObject(q, "desc_act", qc->desc_act);
    }
    /* where the checkpoint loads (lib/quant/consumers.c) */
    awq_layout_desc ld = awq_layout_from_detect(d);
    awq_consumer_verdict v[AWQ_CONSUMER_COUNT];
    awq_consumers_judge(&ld, v);
    cJSON *lo = cJSON_AddArrayToObject(o, "loads_in");
    for (int k = 0; k < AWQ_CONSUMER_COUNT; k++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "consumer", awq_consumer_name(v[k].consumer));
        cJSON_AddStringToObject(x, "loads", v[k].loads == AWQ_LOADS_YES  ? "yes"
                                            : v[k].loads == AWQ_LOADS_NO ? "no"
                                                                         : "unknown");
        cJSON_AddStringToObject(x, "how", v[k].how);
        cJSON_AddStringToObject(x, "instead", v[k].instead);
        cJSON_AddItemToArray(lo, x);
    }
    cJSON_AddBoolToObject(o, "config_agrees", d->config_agrees);
    cJSON *notes = cJSON_AddArrayToObject(o, "notes");
    for (int i = 0; i < d->n_notes; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(d->notes[i]));
    cJSON_AddNumberToObject(o, "n_tensors", (double)nt);
    cJSON_AddNumberToObject(o, "total_bytes", (double)total);
    cJSON *sh = cJSON_AddArrayToObject(o, "shards");
    for (size_t i = 0; i < ns; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "path", awq_checkpoint_shard_path(ck, i));
        cJSON_AddNumberToObject(x, "bytes", (double)awq_checkpoint_shard_bytes(ck, i));
        cJSON_AddItemToArray(sh, x);
    }
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (size_t i = 0; i < nt; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", t->name);
        cJSON_AddStringToObject(x, "dtype", awq_dtype_name(t->dtype));
        cJSON *shp = cJSON_AddArrayToObject(x, "shape");
        for (int k = 0; k < t->ndim; k++)
            cJSON_AddItemToArray(shp, cJSON_CreateNumber((double)t->shape[k]));
        cJSON_AddNumberToObject(x, "bytes", (double)t->n_bytes);
        cJSON_AddNumberToObject(x, "shard", t->shard);
        cJSON_AddItemToArray(ts, x);
    }
    return o;
}

cJSON *awq_json_repack(const char *in, const char *out, const awq_repack_result *r,
                       double seconds) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "input", in);
    cJSON_AddStringToObject(o, "output", out);
    cJSON_AddStringToObject(o, "from", awq_format_get(r->in.format)->name);
    cJSON_AddStringToObject(o, "from_label", awq_format_get(r->in.labelled)->name);
    cJSON_AddStringToObject(o, "to", awq_format_get(r->to)->name);
    cJSON_AddNumberToObject(o, "bits", r->in.bits);
    cJSON_AddNumberToObject(o, "group_size", r->in.group_size);
    cJSON_AddNumberToObject(o, "linears", (double)r->n_linears);
    cJSON_AddNumberToObject(o, "tensors_copied", (double)r->n_tensors_copied);
    cJSON_AddNumberToObject(o, "files_copied", (double)r->n_files_copied);
    cJSON_AddBoolToObject(o, "lossless", r->n_lossy_groups == 0 && r->n_requantized == 0);
    cJSON_AddNumberToObject(o, "lossy_groups", (double)r->n_lossy_groups);
    cJSON_AddNumberToObject(o, "changed_weights", (double)r->n_changed_codes);
    cJSON_AddNumberToObject(o, "max_abs_change", r->max_abs_change);
    cJSON_AddNumberToObject(o, "requantized_linears", (double)r->n_requantized);
    cJSON_AddNumberToObject(o, "max_requant_rel_err", r->max_requant_rel_err);
    cJSON_AddBoolToObject(o, "zeros_reinterpreted", r->in.zeros_reinterpreted);
    cJSON_AddStringToObject(o, "zeros_note", r->in.zeros_note);
    cJSON_AddNumberToObject(o, "bytes", (double)r->bytes_written);
    cJSON_AddNumberToObject(o, "shards", (double)r->n_shards);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    return o;
}

static int cmp_err(const void *a, const void *b) {
    const awq_verify_linear *x = *(const awq_verify_linear *const *)a,
                            *y = *(const awq_verify_linear *const *)b;
    return (x->rel_err_scaled < y->rel_err_scaled) - (x->rel_err_scaled > y->rel_err_scaled);
}

cJSON *awq_json_verify(const char *dir, const awq_verify_params *p, const awq_verify_result *r,
                       double seconds) {
    const bool fmt_known = r->q.bits != 0;
    const awq_verify_linear **order = malloc(sizeof *order * (size_t)(r->n_linears + 1));
    cJSON *o = order ? cJSON_CreateObject() : NULL;
    if (!o) {
        free(order);
        return NULL;
    }
    for (int64_t i = 0; i < r->n_linears; i++) order[i] = &r->linears[i];
    if (r->have_against) qsort(order, (size_t)r->n_linears, sizeof *order, cmp_err);
    cJSON_AddStringToObject(o, "path", dir);
    cJSON_AddBoolToObject(o, "ok", r->ok);
    if (fmt_known) {
        cJSON_AddStringToObject(o, "format", awq_format_get(r->q.format)->name);
        cJSON_AddStringToObject(o, "format_label", awq_format_get(r->q.labelled)->name);
        cJSON_AddNumberToObject(o, "bits", r->q.bits);
        cJSON_AddNumberToObject(o, "group_size", r->q.group_size);
        cJSON_AddBoolToObject(o, "sym", r->q.sym);
    }
    if (r->scheme[0]) {
        cJSON_AddStringToObject(o, "format", "compressed-tensors");
        cJSON_AddStringToObject(o, "schemes", r->scheme);
    }
    cJSON_AddNumberToObject(o, "tensors", (double)r->n_tensors);
    cJSON_AddNumberToObject(o, "linears", (double)r->n_linears);
    cJSON_AddNumberToObject(o, "logical_params", (double)r->logical_params);
    cJSON_AddNumberToObject(o, "linear_params", (double)r->linear_params);
    if (r->have_against) {
        cJSON_AddStringToObject(o, "against", p->against);
        cJSON_AddNumberToObject(o, "against_logical_params", (double)r->against_logical_params);
        cJSON_AddBoolToObject(o, "params_equal", r->params_equal);
        cJSON_AddNumberToObject(o, "bound", r->bound);
        cJSON_AddNumberToObject(o, "max_rel_err_scaled", r->max_rel_err_scaled);
        cJSON_AddNumberToObject(o, "mean_rel_err_scaled", r->mean_rel_err_scaled);
        cJSON_AddNumberToObject(o, "failed_linears", (double)r->n_failed_linears);
    }
    cJSON *ls = cJSON_AddArrayToObject(o, "linears_detail");
    for (int64_t i = 0; i < r->n_linears; i++) {
        const awq_verify_linear *l = order[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", l->name);
        cJSON_AddNumberToObject(e, "in_features", (double)l->K);
        cJSON_AddNumberToObject(e, "out_features", (double)l->N);
        if (r->have_against) {
            cJSON_AddNumberToObject(e, "rel_err", l->rel_err);
            cJSON_AddNumberToObject(e, "rel_err_scaled", l->rel_err_scaled);
            if (l->n_off_step >= 0) {
                cJSON_AddNumberToObject(e, "off_step", (double)l->n_off_step);
                cJSON_AddNumberToObject(e, "worst_half_steps", l->worst_step);
            }
        }
        cJSON_AddBoolToObject(e, "ok", l->ok);
        cJSON_AddItemToArray(ls, e);
    }
    cJSON *pr = cJSON_AddArrayToObject(o, "problems");
    for (int i = 0; i < r->n_problems; i++)
        cJSON_AddItemToArray(pr, cJSON_CreateString(r->problems[i]));
    cJSON_AddNumberToObject(o, "problems_total", (double)r->n_problems_total);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    free(order);
    return o;
}

cJSON *awq_json_quantize(const char *model, const char *out, const awq_quantize_params *p,
                         const awq_quantize_plan *pl, const awq_quantize_report *r) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "output", out);
    cJSON_AddStringToObject(j, "method", awq_method_name(p->method));
    cJSON_AddStringToObject(j, "format", awq_format_get(p->format)->name);
    cJSON_AddNumberToObject(j, "bits", p->quant.bits);
    cJSON_AddNumberToObject(j, "group_size", p->quant.group_size);
    cJSON_AddBoolToObject(j, "sym", p->quant.sym);
    cJSON_AddStringToObject(j, "propagate", awq_propagate_name(p->propagate));
    cJSON_AddNumberToObject(j, "n_grid", p->n_grid);
    cJSON_AddStringToObject(j, "duo_scaling", awq_duo_scaling_name(p->duo_scaling));
    cJSON *c = cJSON_AddObjectToObject(j, "calibration");
    cJSON_AddNumberToObject(c, "blocks", (double)pl->n_blocks);
    cJSON_AddNumberToObject(c, "seqlen", (double)pl->seqlen);
    cJSON_AddNumberToObject(c, "docs_read", (double)pl->calib.docs_read);
    cJSON_AddNumberToObject(c, "docs_kept", (double)pl->calib.docs_kept);
    cJSON *t = cJSON_AddObjectToObject(j, "seconds");
    cJSON_AddNumberToObject(t, "load", r->t_load);
    cJSON_AddNumberToObject(t, "forward", r->t_forward);
    cJSON_AddNumberToObject(t, "search", r->t_search);
    cJSON_AddNumberToObject(t, "clip", r->t_clip);
    cJSON_AddNumberToObject(t, "pack", r->t_pack);
    cJSON_AddNumberToObject(t, "write", r->t_write);
    cJSON_AddNumberToObject(t, "verify", r->t_verify);
    cJSON_AddNumberToObject(t, "total", r->t_total);
    cJSON_AddNumberToObject(j, "peak_estimate_bytes", (double)pl->peak_bytes);
    if (pl->skipped_groups)
        cJSON_AddStringToObject(j, "scaling_groups_skipped", pl->skipped_groups);
    cJSON_AddNumberToObject(j, "linears_packed", (double)r->n_packed);
    cJSON_AddNumberToObject(j, "linears_kept", (double)r->n_kept);
    cJSON_AddNumberToObject(j, "output_bytes", (double)r->out_bytes);
    cJSON_AddNumberToObject(j, "output_shards", (double)r->out_shards);
    cJSON_AddNumberToObject(j, "logical_parameters", (double)r->logical_out);
    cJSON_AddNumberToObject(j, "bits_per_weight", r->bits_per_weight);
    cJSON_AddNumberToObject(j, "resumed_from_layer", (double)r->resumed_from);
    /* the layers' mse / mse_rtn cover these first calibration sequences */
    cJSON_AddNumberToObject(j, "mse_sequences", (double)r->report_seqs);
    cJSON_AddNumberToObject(j, "calibration_sequences", (double)r->calib_seqs);
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    int ng = (int)(r->n_groups / (r->n_layers ? r->n_layers : 1));
    for (int64_t i = 0; i < r->n_layers; i++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddNumberToObject(l, "layer", (double)i);
        cJSON_AddNumberToObject(l, "mse_rtn", r->layers[i].mse_rtn);
        cJSON_AddNumberToObject(l, "mse", r->layers[i].mse_quant);
        cJSON_AddNumberToObject(l, "seconds", r->layers[i].seconds);
        cJSON *gs = cJSON_AddArrayToObject(l, "groups");
        for (int g = 0; g < ng; g++) {
            const awq_group_report *gr = &r->groups[i * ng + g];
            cJSON *go = cJSON_CreateObject();
            cJSON_AddStringToObject(go, "name", gr->name);
            cJSON_AddBoolToObject(go, "searched", gr->searched);
            if (gr->searched) {
                cJSON_AddNumberToObject(go, "ratio", gr->ratio);
                cJSON_AddBoolToObject(go, "duo", gr->duo);
                cJSON_AddNumberToObject(go, "loss_rtn", gr->loss_rtn);
                cJSON_AddNumberToObject(go, "loss", gr->loss_best);
            }
            cJSON_AddItemToArray(gs, go);
        }
        /* MoE layers: tokens per expert, the starved ones */
        const int64_t *et = r->expert_tokens ? r->expert_tokens + i * r->n_experts : NULL;
        if (et && et[0] >= 0) {
            cJSON *mo = cJSON_AddObjectToObject(l, "experts");
            cJSON *tk = cJSON_AddArrayToObject(mo, "tokens");
            cJSON *sv = cJSON_AddArrayToObject(mo, "starved");
            for (int64_t e = 0; e < r->n_experts; e++) {
                cJSON_AddItemToArray(tk, cJSON_CreateNumber((double)et[e]));
                if (et[e] < r->moe_min_tokens)
                    cJSON_AddItemToArray(sv, cJSON_CreateNumber((double)e));
            }
        }
        cJSON_AddItemToArray(layers, l);
    }
    return j;
}

char *awq_json_print_free(cJSON *root) {
    if (!root) return NULL;
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}
