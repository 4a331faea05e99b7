/* tests/fault/checkpoints_patch.c — test helper: overwrite one element of a
 * floating tensor of a checkpoint with NaN, +Inf or -Inf, in place.
 *   checkpoints_patch PATH TENSOR INDEX nan|inf|-inf
 * PATH is what awq_checkpoint_open takes (a directory or a .safetensors
 * file); INDEX is the flat element index. The library only locates the
 * bytes (shard, offset, dtype); the write is a plain pwrite, so the file is
 * patched exactly as a corrupted download would be. */
#include "awqkit/checkpoint.h"
#include "awqkit/core.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PATH TENSOR INDEX nan|inf|-inf\n", argv[0]);
        return 2;
    }
    const char *what = argv[4];
    int kind = strcmp(what, "nan") == 0 ? 0 : strcmp(what, "inf") == 0 ? 1
             : strcmp(what, "-inf") == 0 ? 2 : -1;
    if (kind < 0) {
        fprintf(stderr, "value must be nan, inf or -inf (got '%s')\n", what);
        return 2;
    }
    awq_ctx *ctx = NULL;
    awq_checkpoint *ck = NULL;
    if (awq_ctx_create(NULL, &ctx) != AWQ_OK || awq_checkpoint_open(ctx, argv[1], &ck) != AWQ_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], ctx ? awq_ctx_errmsg(ctx) : "no context");
        return 1;
    }
    const awq_tensor_info *t = awq_checkpoint_find(ck, argv[2]);
    if (!t) {
        fprintf(stderr, "%s: no tensor '%s'\n", argv[1], argv[2]);
        return 1;
    }
    long long idx = atoll(argv[3]);
    if (idx < 0 || (uint64_t)idx >= t->n_elements) {
        fprintf(stderr, "%s: index %lld outside [0, %llu)\n", argv[2], idx,
                (unsigned long long)t->n_elements);
        return 1;
    }
    unsigned char b[4];
    size_t w;
    if (t->dtype == AWQ_DT_F16) {
        uint16_t v = kind == 0 ? 0x7e00 : kind == 1 ? 0x7c00 : 0xfc00;
        b[0] = (unsigned char)v;
        b[1] = (unsigned char)(v >> 8);
        w = 2;
    } else if (t->dtype == AWQ_DT_BF16) {
        uint16_t v = kind == 0 ? 0x7fc0 : kind == 1 ? 0x7f80 : 0xff80;
        b[0] = (unsigned char)v;
        b[1] = (unsigned char)(v >> 8);
        w = 2;
    } else if (t->dtype == AWQ_DT_F32) {
        uint32_t v = kind == 0 ? 0x7fc00000u : kind == 1 ? 0x7f800000u : 0xff800000u;
        for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
        w = 4;
    } else {
        fprintf(stderr, "%s: dtype %s is not F16, BF16 or F32\n", argv[2],
                awq_dtype_name(t->dtype));
        return 1;
    }
    const char *shard = awq_checkpoint_shard_path(ck, (size_t)t->shard);
    uint64_t off = t->file_offset + (uint64_t)idx * w;
    int fd = open(shard, O_WRONLY);
    if (fd < 0 || pwrite(fd, b, w, (off_t)off) != (ssize_t)w || close(fd) != 0) {
        fprintf(stderr, "%s: cannot patch\n", shard);
        return 1;
    }
    awq_checkpoint_free(ck);
    awq_ctx_free(ctx);
    return 0;
}
