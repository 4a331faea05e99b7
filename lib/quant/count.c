/*
 * lib/quant/count.c — stored / loaded / logical parameter counts (see the
 * definitions at the top of include/awqkit/count.h). Header metadata only:
 * the scan (detect.c) groups the tensors, this file adds them up.
 */
#include "quant/count_impl.h"

#include "core/core.h"

#include <string.h>

static bool add_to(uint64_t *acc, uint64_t v) { return awq_add_u64(*acc, v, acc); }

static bool add_row(awq_count_row *r, uint64_t stored, uint64_t loaded, uint64_t logical,
                    uint64_t bytes) {
    r->n_tensors++;
    return add_to(&r->stored, stored) && add_to(&r->loaded, loaded) &&
           add_to(&r->logical, logical) && add_to(&r->bytes, bytes);
}

awq_status awq_count(awq_ctx *ctx, const awq_checkpoint *ck, awq_count_result *out) {
    memset(out, 0, sizeof *out);
    if (!ck) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "awq_count: checkpoint is NULL");
    awq_scan s;
    awq_status st = awq_scan_checkpoint(ctx, ck, &s);
    if (st != AWQ_OK) {
        awq_scan_free(&s);
        return st;
    }
    out->n_tensors = s.n_tensors;
    out->n_shards = awq_checkpoint_n_shards(ck);
    out->has_config = s.has_config;
    out->tie_word_embeddings = s.tie;
    out->pack = s.pack;
    for (size_t i = 0; i < out->n_shards; i++)
        if (!add_to(&out->file_bytes, awq_checkpoint_shard_bytes(ck, i))) {
            awq_scan_free(&s);
            return awq_fail(ctx, AWQ_ERR_FORMAT, "shard sizes overflow 64 bits");
        }

    bool ok = true;
    for (size_t i = 0; i < s.n_tensors && ok; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        const awq_scan_tensor *c = &s.t[i];
        const awq_scan_linear *L = c->linear >= 0 ? &s.lin[c->linear] : NULL;
        bool resolved = L && L->pack != AWQ_PACK_NONE && L->pack != AWQ_PACK_UNKNOWN;
        uint64_t stored = t->n_elements, loaded = stored, logical = stored;
        switch (c->part) {
        case AWQ_PART_QWEIGHT:
        case AWQ_PART_QZEROS:
        case AWQ_PART_SCALES:
        case AWQ_PART_G_IDX:
        case AWQ_PART_QAUX:
            loaded = 0;
            if (resolved) {
                logical = 0;
                if (c->part == AWQ_PART_QWEIGHT) {
                    uint64_t kn = L->logical; /* K x N, checked by the scan */
                    logical = kn;
                    out->n_quant_linears++;
                    ok = ok && add_to(&out->quant_logical, kn);
                    if (!out->quant_bits) out->quant_bits = L->bits;
                }
                ok = ok && add_to(&out->quant_bytes, t->n_bytes);
            } else if (c->part == AWQ_PART_QWEIGHT) {
                out->n_unresolved++;
            }
            break;
        case AWQ_PART_DENSE_TWIN:
            /* the quantized copy is the one loaders read */
            loaded = logical = 0;
            break;
        case AWQ_PART_TIED_DUP:
            loaded = logical = 0;
            out->lm_head_stored = true;
            out->tied_duplicate_dropped = true;
            break;
        default:
            if (c->role == AWQ_ROLE_LM_HEAD) out->lm_head_stored = true;
            break;
        }
        ok = ok && add_to(&out->stored, stored) && add_to(&out->loaded, loaded) &&
             add_to(&out->logical, logical) && add_to(&out->tensor_bytes, t->n_bytes);
        if ((unsigned)c->role < AWQ_ROLE_COUNT)
            ok = ok && add_row(&out->by_role[c->role], stored, loaded, logical, t->n_bytes);
        if ((unsigned)t->dtype < AWQ_DT_COUNT)
            ok = ok && add_row(&out->by_dtype[t->dtype], stored, loaded, logical, t->n_bytes);
        if (!ok) {
            awq_scan_free(&s);
            return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: parameter totals overflow 64 bits", t->name);
        }
    }
    if (out->quant_logical)
        out->quant_bits_per_weight = 8.0 * (double)out->quant_bytes / (double)out->quant_logical;
    if (out->logical)
        out->bits_per_param = 8.0 * (double)out->tensor_bytes / (double)out->logical;
    awq_scan_free(&s);
    return AWQ_OK;
}
