/* lib/quant/srcscan.c — content hash + finiteness of a source checkpoint
 * (quant/srcscan.h). */
#include "quant/srcscan.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Block size: large enough that per-block overhead vanishes, small enough
 * that a 7B model's big tensors spread over every worker. */
#define SCAN_BLOCK (8ull << 20)
/* Blocks handed to the pool at once: a cancel request is seen between
 * batches (at most ~1 GiB of reading later). */
#define SCAN_BATCH 128

typedef struct {
    size_t tensor;
    uint64_t off, len;   /* bytes within the tensor */
    uint64_t hash;
    int64_t bad;         /* element index (within the tensor) of the first
                            non-finite value in this block, or -1 */
} scan_block;

typedef struct {
    const awq_checkpoint *ck;
    scan_block *b;
} scan_job;

/* First element of p[0..n) whose exponent bits are all ones, or -1. The
 * any-test over a run is branch-free so it vectorises; only a run that
 * holds one is searched element by element. */
#define SCAN_FN(name, T, MASK)                                                   \
    static int64_t name(const unsigned char *p, int64_t n) {                     \
        const int64_t run = 4096;                                                \
        for (int64_t i0 = 0; i0 < n; i0 += run) {                                \
            int64_t i1 = i0 + run < n ? i0 + run : n;                            \
            int any = 0;                                                         \
            for (int64_t i = i0; i < i1; i++) {                                  \
                T v;                                                             \
                memcpy(&v, p + (size_t)i * sizeof(T), sizeof(T));                \
                any |= (v & (T)(MASK)) == (T)(MASK);                             \
            }                                                                    \
            if (!any) continue;                                                  \
            for (int64_t i = i0; i < i1; i++) {                                  \
                T v;                                                             \
                memcpy(&v, p + (size_t)i * sizeof(T), sizeof(T));                \
                if ((v & (T)(MASK)) == (T)(MASK)) return i;                      \
            }                                                                    \
        }                                                                        \
        return -1;                                                               \
    }
SCAN_FN(scan_f16, uint16_t, 0x7c00u)
SCAN_FN(scan_bf16, uint16_t, 0x7f80u)
SCAN_FN(scan_f32, uint32_t, 0x7f800000u)
SCAN_FN(scan_f64, uint64_t, 0x7ff0000000000000ull)
SCAN_FN(scan_e4m3, uint8_t, 0x7fu) /* e4m3 has no Inf; S.1111.111 is NaN */
SCAN_FN(scan_e5m2, uint8_t, 0x7cu)
#undef SCAN_FN

static void scan_range(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    scan_job *j = arg;
    for (int64_t k = begin; k < end; k++) {
        scan_block *b = &j->b[k];
        const awq_tensor_info *t = awq_checkpoint_tensor(j->ck, b->tensor);
        const unsigned char *p = (const unsigned char *)t->data + b->off;
        b->hash = XXH3_64bits(p, (size_t)b->len);
        b->bad = -1;
        size_t es = awq_dtype_size(t->dtype);
        int64_t ne = es ? (int64_t)(b->len / es) : 0;
        int64_t r = -1;
        switch (t->dtype) {
        case AWQ_DT_F16: r = scan_f16(p, ne); break;
        case AWQ_DT_BF16: r = scan_bf16(p, ne); break;
        case AWQ_DT_F32: r = scan_f32(p, ne); break;
        case AWQ_DT_F64: r = scan_f64(p, ne); break;
        case AWQ_DT_F8_E4M3: r = scan_e4m3(p, ne); break;
        case AWQ_DT_F8_E5M2: r = scan_e5m2(p, ne); break;
        default: break;
        }
        if (r >= 0) b->bad = (int64_t)(b->off / es) + r;
        /* a model larger than RAM: keep one block per worker resident, not
         * every byte scanned so far */
        awq_checkpoint_release(j->ck, p, b->len);
    }
}

/* "NaN", "+Inf" or "-Inf" for the element at index i of t. */
static const char *nonfinite_kind(const awq_tensor_info *t, int64_t i) {
    const unsigned char *p = t->data;
    uint64_t mant = 0, sign = 0;
    switch (t->dtype) {
    case AWQ_DT_F8_E4M3: return "NaN";
    case AWQ_DT_F8_E5M2:
        mant = p[i] & 3u;
        sign = p[i] >> 7;
        break;
    case AWQ_DT_F16:
    case AWQ_DT_BF16: {
        uint16_t v;
        memcpy(&v, p + i * 2, 2);
        mant = v & (t->dtype == AWQ_DT_F16 ? 0x3ffu : 0x7fu);
        sign = v >> 15;
        break;
    }
    case AWQ_DT_F32: {
        uint32_t v;
        memcpy(&v, p + i * 4, 4);
        mant = v & 0x7fffffu;
        sign = v >> 31;
        break;
    }
    default: {
        uint64_t v;
        memcpy(&v, p + i * 8, 8);
        mant = v & 0xfffffffffffffull;
        sign = v >> 63;
        break;
    }
    }
    return mant ? "NaN" : sign ? "-Inf" : "+Inf";
}

static awq_status report_bad(awq_ctx *ctx, const awq_checkpoint *ck, size_t ti, int64_t i) {
    const awq_tensor_info *t = awq_checkpoint_tensor(ck, ti);
    const char *file = awq_checkpoint_shard_path(ck, (size_t)t->shard);
    char where[96] = "";
    if (t->ndim == 2 && t->shape[1] > 0)
        snprintf(where, sizeof where, " (row %lld, column %lld)", (long long)(i / t->shape[1]),
                 (long long)(i % t->shape[1]));
    return awq_fail(ctx, AWQ_ERR_RANGE,
                    "%s: tensor '%s' element %lld%s is %s; a non-finite weight cannot be "
                    "quantized (it would poison its whole group): repair the source checkpoint",
                    file ? file : "source", t->name, (long long)i, where,
                    nonfinite_kind(t, i));
}

awq_status awq_source_scan(awq_ctx *ctx, const awq_checkpoint *ck, uint64_t *hash) {
    size_t nt = awq_checkpoint_n_tensors(ck);
    size_t nb = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < nt; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        nb += t->n_bytes ? (size_t)((t->n_bytes + SCAN_BLOCK - 1) / SCAN_BLOCK) : 1;
        total += t->n_bytes;
    }
    scan_block *b = calloc(nb ? nb : 1, sizeof *b);
    if (!b) return awq_fail_nomem(ctx, "scan blocks", nb * sizeof *b);
    size_t k = 0;
    for (size_t i = 0; i < nt; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        uint64_t off = 0;
        do {
            uint64_t len = t->n_bytes - off < SCAN_BLOCK ? t->n_bytes - off : SCAN_BLOCK;
            b[k].tensor = i;
            b[k].off = off;
            b[k].len = len;
            k++;
            off += len;
        } while (off < t->n_bytes);
    }
    /* progress in MiB: a readable counter for a 100 GB model too */
    awq_status s = awq_progress(ctx, "source", 0, (total + (1u << 20) - 1) >> 20);
    uint64_t done = 0;
    for (size_t b0 = 0; b0 < nb && s == AWQ_OK; b0 += SCAN_BATCH) {
        size_t b1 = b0 + SCAN_BATCH < nb ? b0 + SCAN_BATCH : nb;
        scan_job sub = {ck, b + b0};
        awq_parallel_for(ctx, (int64_t)(b1 - b0), scan_range, &sub);
        for (size_t q = b0; q < b1; q++) done += b[q].len;
        s = awq_progress(ctx, "source", (done + (1u << 20) - 1) >> 20,
                         (total + (1u << 20) - 1) >> 20);
    }
    /* the first non-finite value in checkpoint order */
    for (size_t q = 0; q < nb && s == AWQ_OK; q++)
        if (b[q].bad >= 0) s = report_bad(ctx, ck, b[q].tensor, b[q].bad);
    if (s == AWQ_OK) {
        XXH3_state_t *st = XXH3_createState();
        if (!st) s = awq_fail_nomem(ctx, "hash state", 0);
        if (st && XXH3_64bits_reset(st) != XXH_OK) s = awq_fail_nomem(ctx, "hash state", 0);
        for (size_t q = 0; q < nb && s == AWQ_OK; q++) {
            const awq_tensor_info *t = awq_checkpoint_tensor(ck, b[q].tensor);
            if (b[q].off == 0) {
                uint64_t hdr[2 + AWQ_MAX_DIMS] = {(uint64_t)t->dtype, (uint64_t)t->ndim};
                for (int d = 0; d < t->ndim && d < AWQ_MAX_DIMS; d++)
                    hdr[2 + d] = (uint64_t)t->shape[d];
                XXH3_64bits_update(st, t->name, strlen(t->name) + 1);
                XXH3_64bits_update(st, hdr, sizeof hdr);
            }
            XXH3_64bits_update(st, &b[q].hash, sizeof b[q].hash);
        }
        if (s == AWQ_OK) *hash = XXH3_64bits_digest(st);
        XXH3_freeState(st);
    }
    free(b);
    return s;
}

void awq_source_release_layer(const awq_checkpoint *ck, const char *prefix, int64_t layer) {
    char pre[128];
    int n = snprintf(pre, sizeof pre, "%slayers.%lld.", prefix, (long long)layer);
    if (n <= 0 || (size_t)n >= sizeof pre) return;
    for (size_t i = 0; i < awq_checkpoint_n_tensors(ck); i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        if (!strncmp(t->name, pre, (size_t)n)) awq_checkpoint_release(ck, t->data, t->n_bytes);
    }
}
