/* tests/e2e/e2e_quant.h — helpers shared by the end-to-end quantization
 * tests (test_quantize_synth, test_quantize_archs, ...): random calibration
 * ids, one quantize call through the library, the logits of a checkpoint,
 * and their mean squared difference.
 *
 * Link e2e/e2e_quant.c into the test (awq_add_test SOURCES). Nothing here
 * asserts: failures come back as a status or NULL (with the context's
 * message on stderr), and the test's own CHECKs judge them. */
#ifndef AWQ_TESTS_E2E_QUANT_H
#define AWQ_TESTS_E2E_QUANT_H

#include "awqkit.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Next value of a process-wide xorshift generator with a fixed seed: every
 * run of a test draws the same sequence (calibration and evaluation ids). */
uint32_t e2e_rand_u32(void);

/* Write n random ids in [0, vocab), 32 per line, to path: a text file for
 * awq_quantize_params.calib_tokens (--calib-tokens). false when the file
 * cannot be written. Draws n values from e2e_rand_u32. */
bool e2e_write_calib_ids(const char *path, int n, uint32_t vocab);

/* awq_quantize_default_params() with the method, the pre-tokenized
 * calibration file (borrowed), calibration blocks of 128 tokens and
 * force = true (the output directory is overwritten). Adjust the result
 * (group size, format, ...) before e2e_quantize_with. */
awq_quantize_params e2e_quantize_params(awq_method m, const char *calib_ids);

/* Quantize model into out with p (prepare, run, free the job). rep may be
 * NULL; when not, the caller frees it with awq_quantize_report_free. */
awq_status e2e_quantize_with(awq_ctx *ctx, const char *model, const char *out,
                             const awq_quantize_params *p, awq_quantize_report *rep);

/* e2e_quantize_with(e2e_quantize_params(m, calib_ids)). */
awq_status e2e_quantize(awq_ctx *ctx, const char *model, const char *out, awq_method m,
                        const char *calib_ids, awq_quantize_report *rep);

/* Logits [B, T, vocab] of the checkpoint in dir for ids [B, T], with the
 * default runtime. malloc'd (the caller frees); NULL on any failure, after
 * printing the context's message to stderr. */
float *e2e_logits(awq_ctx *ctx, const char *dir, const int32_t *ids, int64_t B, int64_t T,
                  int64_t vocab);

/* Mean squared difference of a[0..n) and b[0..n), in double. */
double e2e_mse(const float *a, const float *b, size_t n);

#endif /* AWQ_TESTS_E2E_QUANT_H */
