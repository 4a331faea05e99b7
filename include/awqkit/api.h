/*
 * awqkit/api.h — one call per CLI command, with the CLI's --json output as
 * the result, for bindings (the Python package) and programs that would
 * rather not mirror the params structs; plus where the bundled data lives
 * and Hugging Face Hub ids resolved from the local cache.
 *
 * Results: *json_out receives a malloc'd, NUL-terminated JSON document —
 * exactly what `awqkit COMMAND --json` prints for the same input (the CLI
 * builds it with the same code), "seconds" fields aside. Free it with
 * awq_api_free(). On failure *json_out is NULL and the context's message
 * says what went wrong.
 *
 * Options: a JSON object (NULL or "" = all defaults) whose keys are the
 * command's long flags with '-' spelled '_' ("group_size": 64,
 * "duo_scaling": "both", "sym": true). Unknown keys, wrong types and
 * out-of-range values are AWQ_ERR_INVALID_ARG naming the key. The common
 * flags (threads, verbosity, progress) belong to the context.
 *
 * Model arguments accept what the CLI accepts: a directory, a .safetensors
 * file, or a Hub id `org/name[@revision]` found in the local cache (see
 * awq_hub_resolve).
 */
#ifndef AWQKIT_API_H
#define AWQKIT_API_H

#include "awqkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A context from plain arguments (no struct to mirror in a binding):
 * n_threads (0 = all cores), log callback and level, progress callback.
 * Both callbacks get `user`. */
awq_status awq_api_ctx_create(int n_threads, awq_log_level log_level,
                              awq_log_fn log, awq_progress_fn progress,
                              void *user, awq_ctx **out);

/* `awqkit count MODEL --json`. */
awq_status awq_api_count(awq_ctx *ctx, const char *model, char **json_out);
/* `awqkit inspect MODEL --json`. */
awq_status awq_api_inspect(awq_ctx *ctx, const char *model, char **json_out);
/* `awqkit verify DIR --json`; options: against, max_rel_err, gptq_zeros.
 * A checkpoint that fails the checks is still AWQ_OK ("ok": false in the
 * result); only errors reading it fail. */
awq_status awq_api_verify(awq_ctx *ctx, const char *dir,
                          const char *options_json, char **json_out);
/* `awqkit repack IN -o OUT --json`; options: to (required), allow_lossy,
 * force, max_shard_size (bytes), gptq_zeros. */
awq_status awq_api_repack(awq_ctx *ctx, const char *in, const char *out,
                          const char *options_json, char **json_out);
/* `awqkit quantize MODEL -o OUT --json`; options: method, format, bits,
 * group_size, sym, allow_lossy, calib, text_field, samples, seqlen,
 * shuffle, seed, calib_tokens, n_grid, duo_scaling, clip, clip_tokens,
 * clip_max_shrink, propagate, dump_scales, load_scales, device
 * ("cpu", "cuda", "cuda:N"; absent: the GPU when usable, else the CPU),
 * max_shard_size (bytes), chunk_seqs, offload_activations, force, resume,
 * stop_after_layers. Without calib / calib_tokens the default calibration
 * text is used (awq_default_calib_path). */
awq_status awq_api_quantize(awq_ctx *ctx, const char *model, const char *out,
                            const char *options_json, char **json_out);

/* Free a string returned by this header's functions (NULL is fine). */
void awq_api_free(char *s);

/* ------------------------------------------------------- bundled data */

/* Directory of the bundled data (text/calib-wikitext2-valid.jsonl.zst,
 * text/wiki.test.raw): $AWQKIT_DATA_DIR when set; else share/awqkit found
 * relative to the file holding libawqkit (the shared library, or the
 * program it is linked into) or to the running program — the installed
 * layout (PREFIX/bin, PREFIX/lib -> PREFIX/share/awqkit) and the build
 * tree (BUILD/share/awqkit, made by CMake). No absolute path is compiled
 * in, so an installed tree can be moved. NULL when none is found. Static
 * storage, looked up once per process (thread-safe). */
const char *awq_data_dir(void);
/* Full path of a file under awq_data_dir() when it exists (malloc'd; free
 * with awq_api_free), else NULL. */
char *awq_data_file(const char *relpath);
/* The calibration text quantize uses without calib: $AWQKIT_CALIB when
 * set, else the bundled text/calib-wikitext2-valid.jsonl.zst. malloc'd
 * (awq_api_free), NULL when neither exists. */
char *awq_default_calib_path(void);
/* The bundled evaluation text (perplexity): $AWQKIT_TEXT, else
 * text/wiki.test.raw. malloc'd, NULL when neither exists. */
char *awq_default_text_path(void);

/* ------------------------------------------------ Hugging Face Hub ids */

/* Whether `s` has the form of a Hub id: org/name[@revision] with org and
 * name made of [A-Za-z0-9._-] (not starting with '.' or '-'), revision
 * without '/' or spaces. */
bool awq_hub_id_syntax(const char *s);

/* Resolve a MODEL argument: an existing path, or anything without the
 * form of a Hub id, is returned as given (opening it reports a missing
 * file as usual); a Hub id is looked up in the local cache, without
 * network:
 *   $HF_HUB_CACHE (or its older name $HUGGINGFACE_HUB_CACHE), else
 *   $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 *   ~/.cache/huggingface/hub
 *   /models--ORG--NAME/snapshots/<commit>, the commit being the revision
 *   when it is one (hex, as snapshots name them), else refs/<revision>
 *   (default refs/main); with no refs/main, the only snapshot if there is
 *   exactly one.
 * A Hub id not in the cache is AWQ_ERR_NOT_FOUND with a message saying
 * where it looked and how to download it (`hf download ORG/NAME`).
 * *path_out is malloc'd (awq_api_free). */
awq_status awq_hub_resolve(awq_ctx *ctx, const char *model, char **path_out);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_API_H */
