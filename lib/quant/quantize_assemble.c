/* lib/quant/quantize_assemble.c — `awqkit quantize`, after the last layer:
 * the output checkpoint assembled from the layer files and the untouched
 * source tensors (which source tensors the layer files replace), its
 * config files, and the scales dump. */
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


/* ------------------------------------------------------------ assembly */

/* What a source tensor becomes: copied as is, or replaced by layer files. */
bool awq_qz_is_replaced(const awq_quantize_job *job, const char *name, int64_t *layer) {
    size_t lp = strlen(job->prefix);
    if (strncmp(name, job->prefix, lp) != 0 || strncmp(name + lp, "layers.", 7) != 0)
        return false;
    const char *s = name + lp + 7;
    char *end;
    long long li = strtoll(s, &end, 10);
    if (end == s || *end != '.' || li < 0 || li >= job->cfg.n_layers) return false;
    const char *rest = end + 1;
    const awq_arch *a = job->cfg.arch;
    /* the layer's linear set (model/moe_lset.h): weights, the biases of the
     * table's linears, and an FP8 source's scales */
    const char *dot = strrchr(rest, '.');
    if (dot && (size_t)(dot - rest) < 256) {
        char rel[256];
        memcpy(rel, rest, (size_t)(dot - rest));
        rel[dot - rest] = 0;
        int lin = awq_lset_find(&job->cfg, li, rel);
        if (lin >= 0 && (!strcmp(dot, ".weight") || (lin < a->n_linears && !strcmp(dot, ".bias")) ||
                         (awq_checkpoint_is_fp8_source(job->ck) &&
                          (!strcmp(dot, ".weight_scale_inv") || !strcmp(dot, ".input_scale"))))) {
            *layer = li;
            return true;
        }
    }
    const char *norms[AWQ_QZ_MAX_FOLDED_NORMS];
    int nn = awq_arch_folded_norms(a, norms, AWQ_QZ_MAX_FOLDED_NORMS);
    for (int i = 0; i < nn; i++) {
        size_t n = strlen(norms[i]);
        if (!strncmp(rest, norms[i], n) && !strcmp(rest + n, ".weight")) {
            *layer = li;
            return true;
        }
    }
    return false;
}

static bool is_replaced(const awq_quantize_job *job, const char *name, int64_t *layer) {
    return awq_qz_is_replaced(job, name, layer);
}

/* Files beside the weights that belong in the output (tokenizer, chat
 * template, generation and processor configs, licence, ...): everything
 * except weights in any format, the index and config.json. */
/* The tokenizer, model card and other files: the rules shared with repack
 * (lib/quant/outfiles.c); the model card says what this was quantized from. */
static awq_status copy_aux_files(awq_quantize_job *job, awq_writer *w) {
    const char *dir = awq_checkpoint_dir(job->ck);
    char *base = awq_base_model_id(dir, awq_checkpoint_config(job->ck));
    if (!base) return awq_fail_nomem(job->ctx, "base model id", 256);
    awq_status st = awq_copy_aux_files(job->ctx, w, dir, base, NULL);
    free(base);
    return st;
}

/* config.json of the output: the source's plus quantization_config. */
static awq_status output_config(awq_quantize_job *job, const awq_qz_out_list *kept_names,
                                char **out) {
    awq_ctx *ctx = job->ctx;
    /* modules_to_not_convert: linears kept unpacked, and top-level modules
     * outside the decoder that hold weights (e.g. a vision tower "visual");
     * transformers matches these as substrings of module names. lm_head is
     * never converted by the loaders. */
    /* MoE models list every layer's router (and shared expert gate) */
    enum { MAX_MODS = 4096 };
    const char **mods = malloc(MAX_MODS * sizeof *mods);
    char (*modbuf)[160] = malloc(MAX_MODS * sizeof *modbuf);
    if (!mods || !modbuf) {
        free(mods);
        free(modbuf);
        return awq_fail_nomem(ctx, "modules_to_not_convert", MAX_MODS * 168);
    }
    int nm = 0;
    size_t nt = awq_checkpoint_n_tensors(job->ck);
    for (size_t i = 0; i < nt && nm < 32; i++) {
        const char *name = awq_checkpoint_tensor(job->ck, i)->name;
        if (!strncmp(name, job->prefix, strlen(job->prefix)) || !strncmp(name, "lm_head.", 8))
            continue;
        /* first component, or the second under "model." (model.visual) */
        char top[160];
        snprintf(top, sizeof top, "%s", name);
        char *dot = strchr(top, '.');
        if (dot && !strncmp(top, "model.", 6)) dot = strchr(dot + 1, '.');
        if (dot) *dot = 0;
        if (strstr(top, "embed_tokens") || !strcmp(top, "model.norm")) continue;
        bool seen = false;
        for (int k = 0; k < nm; k++) seen |= !strcmp(modbuf[k], top);
        if (!seen) {
            snprintf(modbuf[nm], sizeof modbuf[nm], "%s", top);
            mods[nm] = modbuf[nm];
            nm++;
        }
    }
    for (size_t i = 0; i < kept_names->n && nm < MAX_MODS; i++) {
        snprintf(modbuf[nm], sizeof modbuf[nm], "%.159s", kept_names->t[i].name);
        char *dot = strrchr(modbuf[nm], '.'); /* drop ".weight" */
        if (dot) *dot = 0;
        mods[nm] = modbuf[nm];
        nm++;
    }
    awq_qconfig_fields f = {job->p.quant.bits, job->p.quant.group_size, job->p.quant.sym, false,
                            mods, nm};
    cJSON *qc = NULL;
    awq_status st = awq_format_quant_config(ctx, job->p.format, &f, &qc);
    free(mods);
    free(modbuf);
    if (st != AWQ_OK) return st;
    /* the source's text with only quantization_config replaced */
    char *path = awq_path_join(awq_checkpoint_dir(job->ck), "config.json"), *text = NULL;
    size_t len = 0;
    st = path ? awq_read_file(ctx, path, 16u << 20, &text, &len)
              : awq_fail_nomem(ctx, "path", 256);
    if (st == AWQ_OK) st = awq_config_text_with_qc(ctx, text, len, path, qc, out);
    free(text);
    free(path);
    cJSON_Delete(qc);
    return st;
}

awq_status awq_qz_assemble(awq_quantize_job *job, awq_quantize_report *rep) {
    awq_ctx *ctx = job->ctx;
    int64_t L = job->cfg.n_layers;
    awq_checkpoint **lcs = calloc((size_t)L, sizeof *lcs);
    if (!lcs) return awq_fail_nomem(ctx, "layer files", (uint64_t)L * 8);
    awq_status st = AWQ_OK;
    for (int64_t i = 0; i < L && st == AWQ_OK; i++) st = awq_qz_open_layer_file(job, i, &lcs[i]);

    /* Into the staging directory: OUT gets the files only once they were
     * verified (awq_publish_dir). A staging dir left by a killed run goes. */
    awq_writer_params wp = awq_writer_default_params();
    wp.max_shard_bytes = job->p.max_shard_bytes;
    awq_writer *w = NULL;
    awq_qz_out_list kept;
    memset(&kept, 0, sizeof kept);
    if (awq_path_exists(job->staging_dir)) awq_qz_rm_tree(job->staging_dir);
    if (st == AWQ_OK) st = awq_writer_create(ctx, job->staging_dir, &wp, &w);
    /* Declare in source order, each layer's outputs where its first
     * replaced tensor stood. */
    size_t nt = awq_checkpoint_n_tensors(job->ck);
    bool *emitted = calloc((size_t)L, 1);
    if (!emitted && st == AWQ_OK) st = awq_fail_nomem(ctx, "flags", (uint64_t)L);
    for (int pass = 0; pass < 2 && st == AWQ_OK; pass++) {
        if (emitted) memset(emitted, 0, (size_t)L);
        for (size_t i = 0; i < nt && st == AWQ_OK; i++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(job->ck, i);
            int64_t li;
            if (!is_replaced(job, t->name, &li)) {
                if (pass == 0) st = awq_writer_declare(w, t->name, t->dtype, t->ndim, t->shape);
                else st = awq_writer_write(w, t->name, t->data, t->n_bytes);
                if (pass == 1) awq_checkpoint_release(job->ck, t->data, t->n_bytes);
                continue;
            }
            if (emitted[li]) continue;
            emitted[li] = true;
            size_t n = awq_checkpoint_n_tensors(lcs[li]);
            for (size_t k = 0; k < n && st == AWQ_OK; k++) {
                const awq_tensor_info *lt = awq_checkpoint_tensor(lcs[li], k);
                if (pass == 0) {
                    st = awq_writer_declare(w, lt->name, lt->dtype, lt->ndim, lt->shape);
                    size_t ln = strlen(lt->name);
                    if (st == AWQ_OK && ln > 7 && !strcmp(lt->name + ln - 7, ".weight") &&
                        lt->ndim == 2) {
                        awq_qz_out_tensor *kt = awq_qz_out_list_add(ctx, &kept, lt->name, AWQ_DT_U8, 0, NULL,
                                                      &st);
                        (void)kt;
                    }
                } else {
                    st = awq_writer_write(w, lt->name, lt->data, lt->n_bytes);
                    awq_checkpoint_release(lcs[li], lt->data, lt->n_bytes);
                }
            }
            if (pass == 1) st = st == AWQ_OK ? awq_progress(ctx, "write", (uint64_t)li + 1,
                                                            (uint64_t)L) : st;
        }
    }
    free(emitted);
    char *cfg = NULL;
    if (st == AWQ_OK) st = output_config(job, &kept, &cfg);
    if (st == AWQ_OK) st = awq_writer_add_file(w, "config.json", cfg, strlen(cfg));
    free(cfg);
    if (st == AWQ_OK) st = copy_aux_files(job, w);
    if (st == AWQ_OK) st = awq_writer_finish(w);
    if (st == AWQ_OK && rep) {
        rep->out_bytes = awq_writer_total_bytes(w);
        rep->out_shards = awq_writer_n_shards(w);
    }
    awq_writer_free(w);
    awq_qz_out_list_free(&kept);
    for (int64_t i = 0; i < L; i++) awq_checkpoint_free(lcs[i]);
    free(lcs);
    return st;
}

awq_status awq_qz_dump_scales(awq_quantize_job *job) {
    awq_ctx *ctx = job->ctx;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "awqkit_version", AWQ_VERSION_STRING);
    cJSON_AddStringToObject(root, "method", awq_method_name(job->p.method));
    cJSON_AddNumberToObject(root, "bits", job->p.quant.bits);
    cJSON_AddNumberToObject(root, "group_size", job->p.quant.group_size);
    cJSON_AddBoolToObject(root, "sym", job->p.quant.sym);
    cJSON_AddNumberToObject(root, "n_grid", job->p.n_grid);
    cJSON_AddStringToObject(root, "duo_scaling", awq_duo_scaling_name(job->p.duo_scaling));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    awq_status st = AWQ_OK;
    for (int64_t i = 0; i < job->cfg.n_layers && st == AWQ_OK; i++) {
        char *dir = awq_qz_layer_dir(job, i);
        char *f = dir ? awq_path_join(dir, "search.json") : NULL;
        char *buf = NULL;
        size_t n;
        st = f ? awq_read_file(ctx, f, 1ull << 32, &buf, &n) : AWQ_ERR_NOMEM;
        cJSON *lj = st == AWQ_OK ? cJSON_ParseWithLength(buf, n) : NULL;
        if (st == AWQ_OK && !lj) st = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: invalid JSON", f);
        if (lj) cJSON_AddItemToArray(layers, lj);
        free(buf);
        free(f);
        free(dir);
    }
    char *s = st == AWQ_OK ? cJSON_Print(root) : NULL;
    if (st == AWQ_OK && !s) st = awq_fail_nomem(ctx, "scales JSON", 0);
    if (st == AWQ_OK) st = awq_write_file_atomic(ctx, job->s_dump, s, strlen(s));
    cJSON_free(s);
    cJSON_Delete(root);
    return st;
}

