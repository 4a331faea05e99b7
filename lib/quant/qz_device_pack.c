/*
 * lib/quant/qz_device_pack.c — a linear quantized and packed where its
 * weights are: on a GPU, the group quantizer and the packers of the CUDA
 * backend (lib/backend/cuda_quant.h, bit-identical to awq_quantize +
 * awq_pack), so that only the packed words, scales and zeros travel to the
 * host: about an eighth of the fp32 weights that the host packer needs.
 * On the first GPU runs (BENCHMARKS.md, "GPU check"), downloading a
 * Llama-2-7B layer's fp32 weights for the host packer cost about 0.4 s a
 * layer (0.8 GB at ~2 GB/s device to host).
 */
#include "backend/cuda_quant.h"
#include "core/core.h"
#include "model/forward.h"
#include "quant/quantize_job.h"

#include <stdio.h>
#include <string.h>

bool awq_qz_device_pack_applies(const awq_quantize_job *job) {
    const awq_backend *be = awq_model_backend(job->m);
    if (!be || be->kind != AWQ_BACKEND_CUDA) return false;
    /* the formats the device packers write; GPTQ v1's lossy
     * re-quantization of zero-point-0 groups is host-only */
    if (!awq_cuda_pack_writes(job->p.format)) return false;
    if (job->p.format == AWQ_QFMT_GPTQ && job->p.allow_lossy) return false;
    return true;
}

awq_status awq_qz_pack_on_device(awq_quantize_job *job, const char *base, const float *w,
                                 int64_t N, int64_t K, awq_qz_out_list *outl, bool *done) {
    awq_ctx *ctx = job->ctx;
    awq_backend *be = awq_model_backend(job->m);
    const awq_quant_params *qp = &job->p.quant;
    const int64_t G = awq_n_groups(K, qp->group_size);
    uint8_t *q = NULL, *z = NULL;
    uint16_t *sc = NULL;
    awq_packed pk;
    memset(&pk, 0, sizeof pk);
    *done = false;
    const size_t before = outl->n;
    awq_status st = awq_model_alloc(job->m, (size_t)N * (size_t)K, (void **)&q);
    if (st == AWQ_OK) st = awq_model_alloc(job->m, (size_t)(G * N) * 2u, (void **)&sc);
    if (st == AWQ_OK) st = awq_model_alloc(job->m, (size_t)(G * N), (void **)&z);
    if (st == AWQ_OK) st = awq_cuda_quantize(be, base, w, N, K, qp, q, sc, z);
    if (st == AWQ_OK)
        st = awq_cuda_pack(be, base, job->p.format, N, K, qp->bits, qp->group_size, qp->sym, q,
                           sc, z, &pk);
    if (st == AWQ_ERR_LOSSY && job->p.format == AWQ_QFMT_GPTQ) {
        /* GPTQ v1 with zero points of 0: the host packer says so in the
         * CLI's words (or re-quantizes them with allow_lossy) */
        st = AWQ_OK;
        goto out;
    }
    for (int i = 0; i < pk.n_tensors && st == AWQ_OK; i++) {
        if (awq_packed_part_absent(&pk.t[i])) continue;
        char name[320];
        snprintf(name, sizeof name, "%s.%s", base, pk.t[i].suffix);
        awq_qz_out_tensor *t =
            awq_qz_out_list_add(ctx, outl, name, pk.t[i].dtype, pk.t[i].ndim, pk.t[i].shape, &st);
        if (t && t->n_bytes != pk.t[i].n_bytes)
            st = awq_fail(ctx, AWQ_ERR_INTERNAL, "%s: packed size %llu, tensor %llu", name,
                          (unsigned long long)pk.t[i].n_bytes, (unsigned long long)t->n_bytes);
        if (t && st == AWQ_OK) st = awq_model_download(job->m, t->data, pk.t[i].data, t->n_bytes);
    }
    *done = st == AWQ_OK;
out:
    /* a failure leaves the list as it was (the caller stops the layer) */
    if (!*done)
        while (outl->n > before) {
            outl->n--;
            awq_free(outl->t[outl->n].data);
            outl->t[outl->n].data = NULL;
        }
    awq_cuda_packed_free(be, &pk);
    awq_model_free_buf(job->m, q);
    awq_model_free_buf(job->m, sc);
    awq_model_free_buf(job->m, z);
    return st;
}
