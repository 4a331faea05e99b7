/*
 * lib/quant/outfiles.h — the files besides the weights that quantize and
 * repack write: config.json (the source's text with quantization_config
 * replaced, every other byte kept: numbers such as 10000.0 stay as
 * written, 2-space indentation) and the copied auxiliary files (same rules
 * for both commands; the model card gets base_model metadata).
 */
#ifndef AWQ_LIB_QUANT_OUTFILES_H
#define AWQ_LIB_QUANT_OUTFILES_H

#include "awqkit/checkpoint.h"

#include <cjson/cJSON.h>

/* The text of `src` (a JSON object, len bytes; `where` names it in
 * messages) with its top-level "quantization_config" member's value
 * replaced by `qc`, or the member appended when absent. Only that value
 * changes; qc is printed with 2-space indentation at the source's member
 * indentation. *out: malloc'd, NUL-terminated, ends with a newline. */
awq_status awq_config_text_with_qc(awq_ctx *ctx, const char *src, size_t len,
                                   const char *where, const cJSON *qc, char **out);

/* A model card (README.md text) with YAML front matter saying
 * base_model: <base_model> and base_model_relation: quantized (earlier
 * base_model / base_model_relation entries replaced; front matter added
 * when there is none). *out: malloc'd, NUL-terminated. */
awq_status awq_model_card_quantized(awq_ctx *ctx, const char *card, size_t len,
                                    const char *base_model, char **out);

/* The Hub id to name as base_model of a model quantized from `in_dir`:
 * config.json's "_name_or_path" when it has the form owner/name, else the
 * directory's base name. malloc'd. */
char *awq_base_model_id(const char *in_dir, const cJSON *config);

/* Copy the auxiliary files of checkpoint directory in_dir through w: every
 * regular top-level file whatever its size, except weights (.safetensors,
 * .bin, .pt, .pth, .ckpt, .gguf, .h5, .msgpack, .onnx), their index
 * files, temporaries (.tmp), config.json (written separately), the stale quantizer
 * descriptions quantize_config.json / quant_config.json and hidden files.
 * With base_model non-NULL, README.md is rewritten by
 * awq_model_card_quantized. Sub-directories are not copied: one warning
 * names each. *n_copied (may be NULL) counts the files. */
awq_status awq_copy_aux_files(awq_ctx *ctx, awq_writer *w, const char *in_dir,
                              const char *base_model, int64_t *n_copied);

#endif /* AWQ_LIB_QUANT_OUTFILES_H */
