/*
 * lib/io/safetensors.h — INTERNAL: the validating safetensors header parser.
 *
 * awq_st_parse() takes the bytes of a whole .safetensors file (usually an
 * mmap) and either returns a fully validated header or fails with
 * AWQ_ERR_FORMAT and a message naming the file and the tensor. It is exposed
 * separately from awq_checkpoint_open() so the fuzz target can drive it from
 * memory. The rules (those of the reference Rust crate `safetensors`, made
 * explicit):
 *
 *  1. The file holds at least 8 bytes: a little-endian u64 header length N.
 *  2. N <= AWQ_MAX_HEADER_BYTES and 8 + N <= file size; N > 0.
 *  3. The header is valid UTF-8 and one JSON object (RFC 8259 strict: no
 *     control characters in strings, valid escapes, no lone surrogates, no
 *     leading zeros). Only JSON whitespace (space, tab, CR, LF) may surround
 *     the object: writers pad with spaces to align the data area.
 *  4. "__metadata__", when present, is an object mapping strings to strings
 *     (no duplicate keys).
 *  5. Every other key is a tensor name (no NUL character, no duplicates)
 *     whose value is an object with exactly the keys "dtype" (a known dtype
 *     string), "shape" (array of at most AWQ_MAX_DIMS non-negative integers,
 *     each <= INT64_MAX) and "data_offsets" (two non-negative integers
 *     begin <= end). Integers are parsed from the text exactly: fractions,
 *     exponents, negative numbers and values beyond 64 bits are rejected.
 *  6. product(shape) * dtype size is computed with overflow checks and must
 *     equal end - begin; end lies inside the data area.
 *  7. Sorted by (begin, end), the tensors tile the data area exactly: the
 *     first begins at 0, each begins where the previous ended (no overlap,
 *     no hole) and the last ends at the end of the file.
 *
 * Deliberately stricter than the reference crate (0.8), which accepts
 * these: unknown keys in a tensor entry (ignored there), duplicate
 * "__metadata__" keys (last wins there), a NUL character in a tensor name
 * (not representable in a C string), more than AWQ_MAX_DIMS dimensions.
 * Everything the reference rejects is rejected here too.
 *
 * Why a hand-written parser rather than cJSON for the header: cJSON stores
 * numbers as doubles (inexact beyond 2^53, accepts 1e3 / 1.0 as integers),
 * keeps duplicate keys silently, accepts raw control characters and has no
 * notion of where an error is. The header grammar is tiny, so a strict
 * single-pass parser is both simpler to trust and faster.
 */
#ifndef AWQ_LIB_IO_SAFETENSORS_H
#define AWQ_LIB_IO_SAFETENSORS_H

#include "awqkit/checkpoint.h"
#include "core/core.h"

struct cJSON;

typedef struct awq_st_tensor {
    const char *name;          /* NUL-terminated, points into the arena */
    awq_dtype dtype;
    int ndim;
    int64_t shape[AWQ_MAX_DIMS];
    uint64_t n_elements;
    uint64_t n_bytes;
    uint64_t begin, end;       /* relative to the start of the data area */
} awq_st_tensor;

typedef struct awq_st_header {
    awq_st_tensor *tensors;    /* sorted by (begin, end, name) */
    size_t n_tensors;
    char *names;               /* arena holding every tensor name */
    struct cJSON *metadata;    /* "__metadata__" as a cJSON object, or NULL */
    uint64_t header_len;       /* N */
    uint64_t data_start;       /* 8 + N: absolute offset of the data area */
    uint64_t data_size;        /* file size - data_start */
} awq_st_header;

/* Parse and validate the safetensors file held in buf[0, len). `where` names
 * the file in messages. On success *out owns its allocations (free with
 * awq_st_header_free); on failure *out is zeroed. buf may be NULL when len
 * is 0. Only the header bytes are read, never the data area. */
awq_status awq_st_parse(awq_ctx *ctx, const char *where, const void *buf,
                        uint64_t len, awq_st_header *out);
void awq_st_header_free(awq_st_header *h);

/* Write `name` into buf (cap bytes) for an error message: truncated to a
 * readable length, control and non-printable bytes escaped as \xNN.
 * Returns buf. */
const char *awq_st_quote(const char *name, char *buf, size_t cap);

#endif /* AWQ_LIB_IO_SAFETENSORS_H */
