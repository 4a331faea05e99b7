/* lib/quant/quantize_prepare.c — `awqkit quantize`, before any layer runs:
 * the checkpoint, config and architecture, the calibration blocks, the
 * resume fingerprint and point, the plan (sizes, peak memory) and the job
 * and report lifetimes. The layer loop is in quantize.c, the final
 * checkpoint's assembly in quantize_assemble.c. */
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


/* ------------------------------------------------------------- prepare */

static awq_status load_scales_file(awq_quantize_job *job) {
    char *buf;
    size_t n;
    AWQ_TRY(awq_read_file(job->ctx, job->s_load, 1ull << 32, &buf, &n));
    cJSON *root = cJSON_ParseWithLength(buf, n);
    free(buf);
    if (!root || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "layers"))) {
        cJSON_Delete(root);
        return awq_fail(job->ctx, AWQ_ERR_FORMAT,
                        "%s: not an awqkit scales file (expected an object with \"layers\")",
                        job->s_load);
    }
    job->loaded.root = root;
    job->loaded.layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    return AWQ_OK;
}

/* The resume fingerprint: XXH3-64 of the config, the content hash of the
 * source (every byte of every tensor, quant/srcscan.h), the calibration
 * ids, every option that changes an output byte, and loaded scales. */
static awq_status compute_fingerprint(awq_quantize_job *job) {
    XXH3_state_t *xs = XXH3_createState();
    if (!xs || XXH3_64bits_reset(xs) != XXH_OK) {
        XXH3_freeState(xs);
        return awq_fail_nomem(job->ctx, "hash state", 0);
    }
    static const char tag[] = "awqkit-resume-v2";
    XXH3_64bits_update(xs, tag, sizeof tag);
    char *cfgs = cJSON_PrintUnformatted(awq_checkpoint_config(job->ck));
    if (cfgs) {
        XXH3_64bits_update(xs, cfgs, strlen(cfgs) + 1);
        cJSON_free(cfgs);
    }
    XXH3_64bits_update(xs, &job->content_hash, sizeof job->content_hash);
    XXH3_64bits_update(xs, job->blocks->ids,
                       (size_t)job->blocks->n_blocks * (size_t)job->blocks->seqlen *
                           sizeof(int32_t));
    const awq_quantize_params *p = &job->p;
    uint64_t opts[] = {(uint64_t)p->method, (uint64_t)p->quant.bits,
                       (uint64_t)(int64_t)p->quant.group_size, p->quant.sym,
                       (uint64_t)p->format, (uint64_t)p->n_grid, p->duo_scaling, p->clip,
                       (uint64_t)p->clip_n_grid, (uint64_t)(p->clip_max_shrink * 1e6),
                       (uint64_t)p->clip_tokens, (uint64_t)p->propagate,
                       (uint64_t)p->runtime.backend, p->allow_lossy, (uint64_t)p->chunk_seqs,
                       (uint64_t)p->precision, (uint64_t)(p->screen * 1e9),
                       (uint64_t)p->finalists, (uint64_t)(p->race_z * 1e9)};
    XXH3_64bits_update(xs, opts, sizeof opts);
    if (job->loaded.root) {
        char *s = cJSON_PrintUnformatted(job->loaded.root);
        if (s) {
            XXH3_64bits_update(xs, s, strlen(s) + 1);
            cJSON_free(s);
        }
    }
    job->fingerprint = XXH3_64bits_digest(xs);
    XXH3_freeState(xs);
    return AWQ_OK;
}

/* Where a resumed run starts: after the last durable layer, when the saved
 * progress has this job's fingerprint. A partial dir without any finished
 * layer holds nothing worth keeping (a run that failed or was stopped
 * before its first layer): the run starts over, whatever its fingerprint. */
static awq_status resume_point(awq_quantize_job *job) {
    awq_ctx *ctx = job->ctx;
    job->plan.resume_from = 0;
    if (!job->p.resume || !awq_path_is_dir(job->partial_dir)) return AWQ_OK;
    int64_t done = awq_qz_finished_layers(job);
    if (done == 0) return AWQ_OK;
    char *fp = awq_path_join(job->partial_dir, FINGERPRINT_FILE);
    char *buf = NULL;
    size_t n;
    awq_status st = fp ? awq_read_file(ctx, fp, 64, &buf, &n) : awq_fail_nomem(ctx, "path", 0);
    if (st == AWQ_OK) {
        char want[32];
        snprintf(want, sizeof want, "%016llx", (unsigned long long)job->fingerprint);
        if (n < 16 || strncmp(buf, want, 16) != 0)
            st = awq_fail(ctx, AWQ_ERR_MISMATCH,
                          "%s: saved progress belongs to another model, calibration set or "
                          "options (fingerprint %.16s, now %s); rerun with the same model, "
                          "calibration and options, or without --resume and with --force to "
                          "start over",
                          job->partial_dir, buf, want);
    } else if (st == AWQ_ERR_NOT_FOUND) {
        st = awq_fail(ctx, AWQ_ERR_MISMATCH,
                      "%s holds finished layers but no fingerprint: it cannot be resumed "
                      "safely; rerun with --force to start over", job->partial_dir);
    }
    free(buf);
    free(fp);
    if (st == AWQ_OK) job->plan.resume_from = done;
    return st;
}

awq_status awq_quantize_prepare(awq_ctx *ctx, const char *model_dir, const char *out_dir,
                                const awq_quantize_params *params, awq_quantize_job **out) {
    *out = NULL;
    if (!model_dir || !model_dir[0] || !out_dir || !out_dir[0] || !params)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "quantize: the model and the output directory are required (an empty "
                        "path names nothing)");
    const awq_quantize_params *p = params;
    if (p->n_grid < 1 || p->n_grid > 1000)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "n_grid %d out of range [1, 1000]", p->n_grid);
    if (p->duo_scaling != AWQ_DUO_OFF && p->duo_scaling != AWQ_DUO_ON &&
        p->duo_scaling != AWQ_DUO_BOTH)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown duo_scaling mode %d",
                        (int)p->duo_scaling);
    if (p->duo_scaling == AWQ_DUO_BOTH && p->n_grid < 2)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "duo_scaling both splits n_grid between two families: n_grid must be "
                        ">= 2 (got %d)", p->n_grid);
    if (!(p->screen >= 0 && p->screen < 1))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "screen %g out of range: the fraction of calibration sequences in "
                        "each stage of the scale candidates' race is in [0, 1) (0: one stage, "
                        "no race)",
                        p->screen);
    if (!(p->race_z >= 0 && p->race_z <= 1000))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "race_z %g out of range [0, 1000] (standard errors; 0: no test)",
                        p->race_z);
    if (p->finalists < 0 || p->finalists > 1000)
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                        "finalists %d out of range [0, 1000] (0: no cap)", p->finalists);
    if (p->clip && (p->clip_n_grid < 1 || p->clip_max_shrink <= 0 || p->clip_max_shrink >= 1 ||
                    p->clip_tokens < 1))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "clip parameters out of range");
    if (!awq_format_get(p->format))
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "unknown output format %d", (int)p->format);

    awq_quantize_job *job = calloc(1, sizeof *job);
    if (!job) return awq_fail_nomem(ctx, "quantize job", sizeof *job);
    job->ctx = ctx;
    job->p = *p;
    if (job->p.offload_activations && job->p.chunk_seqs <= 0) job->p.chunk_seqs = 16;
    job->model_path = awq_strdup(model_dir);
    job->out_dir = awq_strdup(out_dir);
    job->partial_dir = awq_path_join(out_dir, PARTIAL_DIR);
    job->staging_dir = job->partial_dir ? awq_path_join(job->partial_dir, AWQ_QZ_STAGING) : NULL;
    job->journal = job->partial_dir ? awq_path_join(job->partial_dir, AWQ_QZ_JOURNAL) : NULL;
    job->s_calib_path = awq_strdup(p->calib.path);
    job->s_text_field = awq_strdup(p->calib.text_field);
    job->s_calib_tokens = awq_strdup(p->calib_tokens);
    job->s_dump = awq_strdup(p->dump_scales);
    job->s_load = awq_strdup(p->load_scales);
    job->p.calib.path = job->s_calib_path;
    job->p.calib.text_field = job->s_text_field;
    job->p.calib_tokens = job->s_calib_tokens;
    job->p.dump_scales = job->s_dump;
    job->p.load_scales = job->s_load;
    awq_status st = AWQ_OK;
    if (!job->model_path || !job->out_dir || !job->staging_dir || !job->journal)
        st = awq_fail_nomem(ctx, "paths", 0);
    double t0 = awq_now();

    /* What the model is: read-only. */
    if (st == AWQ_OK) st = awq_checkpoint_open_model(ctx, model_dir, &job->ck);
    if (st == AWQ_OK) st = awq_model_config_from_checkpoint(ctx, job->ck, &job->cfg);
    /* MoE scales live in search.json's "moe" record, which --load-scales
     * does not read back */
    if (st == AWQ_OK && job->cfg.is_moe && job->s_load)
        st = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                      "--load-scales: %s is a mixture-of-experts model (%s); loading searched "
                      "scales is supported for dense models only", model_dir,
                      job->cfg.architecture[0] ? job->cfg.architecture : job->cfg.model_type);
    if (st == AWQ_OK && !job->cfg.arch)
        st = awq_fail(ctx, AWQ_ERR_UNSUPPORTED,
                      "%s: architecture \"%s\" is not supported (supported: %s)", model_dir,
                      job->cfg.architecture, awq_arch_supported_list());
    if (st == AWQ_OK && job->cfg.quant.present && !awq_checkpoint_is_fp8_source(job->ck))
        st = awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                      "%s is already quantized (%s); quantize the FP16/BF16 original, or use "
                      "`awqkit repack` to change its format", model_dir,
                      job->cfg.quant.quant_method);
    if (st == AWQ_OK) st = awq_model_find_prefix(ctx, job->ck, job->prefix, sizeof job->prefix);
    if (st == AWQ_OK) st = awq_model_open(ctx, job->ck, &job->p.runtime, &job->m);
    if (st == AWQ_OK && job->s_load) st = load_scales_file(job);
    /* Every check that needs no computation, before anything is written. */
    if (st == AWQ_OK) st = awq_qz_preflight(job);
    /* From here on OUT is this job's: nobody else writes it until
     * awq_quantize_job_free, and a failure before the first layer leaves it
     * as it was (created, then removed again, when it did not exist). */
    if (st == AWQ_OK) st = awq_out_lock_acquire(ctx, out_dir, "quantize", &job->lock);
    if (st == AWQ_OK) st = awq_qz_check_out_dir(job);
    /* One pass over every source byte: NaN/Inf anywhere is refused here,
     * naming the tensor and element, and the content hash feeds the resume
     * fingerprint. */
    if (st == AWQ_OK) st = awq_source_scan(ctx, job->ck, &job->content_hash);
    double t_load = awq_now() - t0;

    /* Calibration blocks. */
    if (st == AWQ_OK) {
        int seqlen = p->calib.seqlen > 0 ? p->calib.seqlen : 512;
        if (job->s_calib_tokens) {
            st = awq_calib_from_token_file(ctx, job->s_calib_tokens, (int32_t)job->cfg.vocab,
                                           seqlen, &job->blocks);
        } else if (!job->s_calib_path) {
            st = awq_fail(ctx, AWQ_ERR_INVALID_ARG,
                          "no calibration data: give a text file or --calib-tokens");
        } else {
            awq_tokenizer *tok = NULL;
            st = awq_tokenizer_load(ctx, awq_checkpoint_dir(job->ck), &tok);
            if (st != AWQ_OK)
                st = awq_fail_wrap(ctx, st, "cannot tokenize the calibration text (pass "
                                   "pre-tokenized ids with --calib-tokens FILE instead)");
            if (st == AWQ_OK) st = awq_calib_build(ctx, tok, &job->p.calib, &job->blocks);
            awq_tokenizer_free(tok);
        }
    }
    if (st == AWQ_OK && job->cfg.max_pos > 0 && job->blocks->seqlen > job->cfg.max_pos)
        awq_warn(ctx, "calibration seqlen %d exceeds max_position_embeddings %lld",
                 (int)job->blocks->seqlen, (long long)job->cfg.max_pos);

    if (st == AWQ_OK) {
        awq_quantize_plan *pl = &job->plan;
        const awq_model_config *c = &job->cfg;
        const awq_arch *a = c->arch;
        pl->n_layers = c->n_layers;
        pl->n_blocks = job->blocks->n_blocks;
        pl->seqlen = job->blocks->seqlen;
        pl->n_tokens = pl->n_blocks * pl->seqlen;
        pl->calib = job->blocks->stats;
        uint64_t wbytes = 0, max_lin = 0;
        for (int i = 0; i < a->n_linears; i++) {
            int64_t K = awq_model_dim(c, a->linears[i].in_dim);
            int64_t N = awq_model_dim(c, a->linears[i].out_dim);
            wbytes += (uint64_t)K * (uint64_t)N * 4;
            if ((uint64_t)K * (uint64_t)N * 4 > max_lin) max_lin = (uint64_t)K * (uint64_t)N * 4;
            pl->n_linears += c->n_layers;
            if (awq_qz_linear_packable(job, K, N)) pl->n_packable += c->n_layers;
        }
        pl->layer_weight_bytes = wbytes;
        pl->skipped_groups = a->skipped_groups;
        if (a->moe) {
            /* the run-time linear sets (model/moe_lset.h): experts, no
             * dense MLP in MoE layers; routers are never packed */
            pl->n_linears = pl->n_packable = 0;
            for (int64_t li = 0; li < c->n_layers; li++)
                for (int k = 0; k < awq_lset_count(c, li); k++) {
                    awq_lset_item it;
                    if (!awq_lset_get(c, li, k, &it) || !it.present || !it.packed) continue;
                    pl->n_linears++;
                    pl->n_packable += awq_qz_linear_packable(job, it.n_in, it.n_out);
                }
        }
        uint64_t rows = (uint64_t)pl->n_tokens;
        int64_t cs = job->p.chunk_seqs > 0 && job->p.chunk_seqs < pl->n_blocks ? job->p.chunk_seqs
                                                                                : pl->n_blocks;
        uint64_t crows = (uint64_t)(cs * pl->seqlen);
        uint64_t hid = (uint64_t)c->hidden, qd = (uint64_t)(c->n_heads * c->head_dim);
        uint64_t inter = (uint64_t)c->intermediate;
        /* Slots: X, Y, the four captures, the block's FP output (also the
         * replay scratch, awq_search.h) (in memory: all rows; offloaded: one
         * chunk each). Chunk scratch: a candidate's block output and the
         * MLP's [rows, inter] pair. */
        uint64_t slot_cols = 3 * hid + (hid + qd + hid + inter);
        /* MLA: o_proj's input is n_heads x v_head_dim, plus the low-rank
         * captures */
        if (a->mla)
            slot_cols += (uint64_t)(c->q_lora_rank + c->kv_lora_rank +
                                    c->n_heads * c->v_head_dim) - qd;
        pl->activation_bytes = (job->p.offload_activations ? crows : rows) * 4 * slot_cols +
                               crows * 4 * (hid + 2 * inter);
        /* layer + replay/RTN layer + candidate weights of the largest group */
        pl->peak_bytes = pl->activation_bytes + 2 * wbytes + 3 * max_lin;
        if (a->mla) {
            /* MLA attention scratch of one attention chunk (lib/model/mla.c:
             * projections, the per-head layout in blocks of <= 2^24 floats) */
            uint64_t ar = AWQ_MIN(crows, AWQ_MAX((uint64_t)pl->seqlen, (uint64_t)4096));
            uint64_t H = (uint64_t)c->n_heads, nope = (uint64_t)c->qk_nope_head_dim,
                     rope = (uint64_t)c->qk_rope_head_dim, vd = (uint64_t)c->v_head_dim;
            uint64_t blk = AWQ_MIN(ar * H * (nope + rope), (uint64_t)1 << 24);
            pl->peak_bytes += 4 * (ar * ((uint64_t)(c->q_lora_rank + c->kv_lora_rank) + 2 * rope +
                                         H * (2 * nope + rope + 2 * vd)) +
                                   4 * blk);
        }
        /* MoE: one fp32 copy of every expert (the search, the RTN baseline
         * and the replay load the layer in turn, and awq_layer_load drops
         * each expert's source pages once converted), a quarter more for
         * the packed outputs and the layer file's pages the replay reads,
         * plus the expert search's scratch */
        uint64_t moe_w = awq_moe_layer_bytes(c);
        pl->layer_weight_bytes += moe_w;
        pl->peak_bytes += moe_w + moe_w / 4 + awq_moe_search_bytes(c, rows);
        st = compute_fingerprint(job);
        if (st == AWQ_OK) st = resume_point(job);
        awq_info(ctx, "loaded %s in %.2f s: %lld layers, %lld calibration blocks x %lld tokens",
                 model_dir, t_load, (long long)pl->n_layers, (long long)pl->n_blocks,
                 (long long)pl->seqlen);
    }
    if (st != AWQ_OK) {
        awq_quantize_job_free(job);
        return st;
    }
    *out = job;
    return AWQ_OK;
}

const awq_quantize_plan *awq_quantize_job_plan(const awq_quantize_job *job) {
    return job ? &job->plan : NULL;
}

void awq_quantize_job_free(awq_quantize_job *job) {
    if (!job) return;
    awq_model_free(job->m);
    awq_checkpoint_free(job->ck);
    awq_calib_blocks_free(job->blocks);
    cJSON_Delete(job->loaded.root);
    free(job->model_path);
    free(job->out_dir);
    free(job->partial_dir);
    free(job->staging_dir);
    free(job->journal);
    free(job->s_calib_path);
    free(job->s_text_field);
    free(job->s_calib_tokens);
    free(job->s_dump);
    free(job->s_load);
    /* last: OUT stays ours until everything above is closed */
    awq_out_lock_release(job->lock);
    free(job);
}

void awq_quantize_report_free(awq_quantize_report *rep) {
    if (!rep) return;
    free(rep->expert_tokens);
    free(rep->layers);
    free(rep->groups);
    memset(rep, 0, sizeof *rep);
}

