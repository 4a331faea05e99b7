/* tests/fault/quantize_poke.c — edits a checkpoint in place for the quantize
 * fault tests, through the library's own reader and writer:
 *
 *   quantize_poke set MODEL TENSOR INDEX HEX
 *       store the raw bits HEX (e.g. 7e00: an FP16 NaN) as element INDEX of
 *       TENSOR (2- or 4-byte dtypes); prints the previous bits, so a second
 *       call can restore them.
 *   quantize_poke add SRC DST TENSOR N
 *       copy checkpoint SRC to DST (one shard, config.json) with one extra
 *       zero FP16 tensor TENSOR of shape [N] (a bias the model does not use).
 */
#include "awqkit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int die(awq_ctx *ctx, const char *what) {
    fprintf(stderr, "quantize_poke: %s: %s\n", what, ctx ? awq_ctx_errmsg(ctx) : "");
    return 1;
}

static int cmd_set(awq_ctx *ctx, char **argv) {
    awq_checkpoint *ck = NULL;
    if (awq_checkpoint_open(ctx, argv[0], &ck) != AWQ_OK) return die(ctx, argv[0]);
    const awq_tensor_info *t = awq_checkpoint_find(ck, argv[1]);
    long long idx = atoll(argv[2]);
    unsigned long bits = strtoul(argv[3], NULL, 16);
    size_t es = t ? awq_dtype_size(t->dtype) : 0;
    if (!t || (es != 2 && es != 4) || idx < 0 || (uint64_t)idx >= t->n_elements) {
        fprintf(stderr, "quantize_poke: no element %lld in a 2/4-byte tensor '%s'\n", idx,
                argv[1]);
        awq_checkpoint_free(ck);
        return 1;
    }
    unsigned char old[4] = {0}, val[4];
    memcpy(old, (const unsigned char *)t->data + (size_t)idx * es, es);
    for (size_t i = 0; i < es; i++) val[i] = (unsigned char)(bits >> (8 * i));
    char path[4096];
    snprintf(path, sizeof path, "%s", awq_checkpoint_shard_path(ck, (size_t)t->shard));
    uint64_t off = t->file_offset + (uint64_t)idx * es;
    awq_checkpoint_free(ck);
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, val, es, (off_t)off) != (ssize_t)es || close(fd) != 0) {
        perror(path);
        return 1;
    }
    unsigned long prev = 0;
    for (size_t i = 0; i < es; i++) prev |= (unsigned long)old[i] << (8 * i);
    printf("%0*lx\n", (int)(2 * es), prev);
    return 0;
}

static int cmd_add(awq_ctx *ctx, char **argv) {
    awq_checkpoint *ck = NULL;
    if (awq_checkpoint_open(ctx, argv[0], &ck) != AWQ_OK) return die(ctx, argv[0]);
    int64_t n = atoll(argv[3]);
    awq_writer_params wp = awq_writer_default_params();
    wp.max_shard_bytes = UINT64_MAX;
    awq_writer *w = NULL;
    awq_status s = awq_writer_create(ctx, argv[1], &wp, &w);
    size_t nt = awq_checkpoint_n_tensors(ck);
    for (size_t i = 0; i < nt && s == AWQ_OK; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        s = awq_writer_declare(w, t->name, t->dtype, t->ndim, t->shape);
    }
    if (s == AWQ_OK) s = awq_writer_declare(w, argv[2], AWQ_DT_F16, 1, &n);
    for (size_t i = 0; i < nt && s == AWQ_OK; i++) {
        const awq_tensor_info *t = awq_checkpoint_tensor(ck, i);
        s = awq_writer_write(w, t->name, t->data, t->n_bytes);
    }
    void *zero = calloc((size_t)n + 1, 2);
    if (s == AWQ_OK) s = awq_writer_write(w, argv[2], zero, (uint64_t)n * 2);
    free(zero);
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/config.json", awq_checkpoint_dir(ck));
    if (s == AWQ_OK) s = awq_writer_copy_file(w, "config.json", cfg);
    if (s == AWQ_OK) s = awq_writer_finish(w);
    awq_writer_free(w);
    awq_checkpoint_free(ck);
    return s == AWQ_OK ? 0 : die(ctx, argv[1]);
}

int main(int argc, char **argv) {
    awq_ctx_params cp = awq_ctx_default_params();
    cp.n_threads = 1;
    awq_ctx *ctx = NULL;
    if (awq_ctx_create(&cp, &ctx) != AWQ_OK) return 1;
    int rc = 2;
    if (argc == 6 && !strcmp(argv[1], "set")) rc = cmd_set(ctx, argv + 2);
    else if (argc == 6 && !strcmp(argv[1], "add")) rc = cmd_add(ctx, argv + 2);
    else fprintf(stderr, "usage: quantize_poke set MODEL TENSOR INDEX HEX | add SRC DST TENSOR N\n");
    awq_ctx_free(ctx);
    return rc;
}
