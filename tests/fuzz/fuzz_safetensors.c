/* tests/fuzz/fuzz_safetensors.c — the safetensors header validator on
 * arbitrary bytes (a whole file image). On acceptance, the invariants the
 * rest of awqkit relies on are re-checked independently, and every small
 * floating tensor is converted to fp32 so that a bad offset reads outside
 * the input (caught by ASan). */
#include "awqkit.h"
#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static awq_ctx *fuzz_ctx(void) {
    static awq_ctx *ctx;
    if (!ctx) {
        awq_ctx_params p = awq_ctx_default_params();
        p.n_threads = 1;
        if (awq_ctx_create(&p, &ctx) != AWQ_OK) abort();
    }
    return ctx;
}

static void check_image(const uint8_t *data, size_t size) {
    awq_ctx *ctx = fuzz_ctx();
    awq_st_header h;
    awq_status s = awq_st_parse(ctx, "fuzz.safetensors", data, size, &h);
    if (s != AWQ_OK) {
        /* failures are format errors with a message naming the file */
        if (s != AWQ_ERR_FORMAT && s != AWQ_ERR_NOMEM) abort();
        if (s == AWQ_ERR_FORMAT && strncmp(awq_ctx_errmsg(ctx), "fuzz.safetensors: ", 18) != 0)
            abort();
        if (h.tensors || h.metadata || h.names) abort();
        return;
    }
    if (h.data_start + h.data_size != size || h.data_start < 8) abort();
    uint64_t pos = 0;
    for (size_t i = 0; i < h.n_tensors; i++) {
        const awq_st_tensor *t = &h.tensors[i];
        if (t->begin != pos || t->end < t->begin || t->end > h.data_size) abort();
        if (t->end - t->begin != t->n_bytes) abort();
        if (t->ndim < 0 || t->ndim > AWQ_MAX_DIMS || t->dtype >= AWQ_DT_COUNT) abort();
        uint64_t ne = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) abort();
            ne *= (uint64_t)t->shape[d];
        }
        if (ne != t->n_elements || ne * awq_dtype_size(t->dtype) != t->n_bytes) abort();
        if (i > 0 && strcmp(h.tensors[i - 1].name, t->name) == 0) abort();
        pos = t->end;
        if (awq_dtype_is_float(t->dtype) && t->dtype != AWQ_DT_F8_E4M3 &&
            t->dtype != AWQ_DT_F8_E5M2 && t->n_elements <= 4096) {
            awq_tensor_info ti;
            memset(&ti, 0, sizeof ti);
            ti.name = t->name;
            ti.dtype = t->dtype;
            ti.ndim = t->ndim;
            memcpy(ti.shape, t->shape, sizeof ti.shape);
            ti.n_elements = t->n_elements;
            ti.n_bytes = t->n_bytes;
            ti.data = data + h.data_start + t->begin;
            float *out = malloc((size_t)t->n_elements * sizeof(float) + 1);
            if (!out || awq_tensor_to_f32(ctx, &ti, out) != AWQ_OK) abort();
            free(out);
        }
    }
    if (pos != h.data_size) abort();
    awq_st_header_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* 1. the input as a whole file image */
    check_image(data, size);
    /* 2. an input starting with '{' is also read as header text followed by
     * a 2-byte little-endian data size: the harness writes a matching length
     * field and that many data bytes, so mutations explore the JSON and
     * layout rules instead of mostly breaking the length field. */
    if (size >= 3 && data[0] == '{') {
        size_t hl = size - 2;
        size_t dl = (size_t)data[size - 2] | ((size_t)data[size - 1] << 8);
        uint8_t *img = malloc(8 + hl + dl);
        if (!img) abort();
        for (int i = 0; i < 8; i++) img[i] = (uint8_t)((uint64_t)hl >> (8 * i));
        memcpy(img + 8, data, hl);
        for (size_t i = 0; i < dl; i++) img[8 + hl + i] = (uint8_t)(i * 13 + 1);
        check_image(img, 8 + hl + dl);
        free(img);
    }
    return 0;
}
