/* lib/io/publish.h — move a finished, verified checkpoint into place.
 *
 * A long job (awqkit quantize) assembles its checkpoint in a staging
 * directory on the same filesystem as the output, verifies it there, and
 * only then publishes it: renames, so nothing is copied and the output
 * directory never holds a checkpoint that was not verified. The order:
 *   1. the journal (optional): what the output will hold and what it held
 *      before, so a run resumed after a crash in the middle of step 3-5
 *      recognises these files as its own;
 *   2. the marker AWQ_INCOMPLETE_MARKER in the output (awqkit verify
 *      refuses a directory holding it);
 *   3. the previous checkpoint's weights files go (a reader never sees old
 *      shards beside a new index, or an old model.safetensors beside a new
 *      config.json);
 *   4. every other file, then the shards, fsync of the directory;
 *   5. the file that makes the checkpoint complete (the index, or the
 *      single .safetensors), fsync, then the marker goes, fsync.
 * Internal to libawqkit.
 */
#ifndef AWQ_IO_PUBLISH_H
#define AWQ_IO_PUBLISH_H

#include "core/core.h"

struct cJSON;

#define AWQ_INCOMPLETE_MARKER ".awqkit-incomplete"

/* Publish the regular, non-hidden files of `staging` into `out` (both
 * directories, same filesystem). `journal` (NULL: none) is written first
 * with awq_write_file_atomic. Hidden entries of out are left alone. Reports
 * progress as phase "publish" (one step per file) but does not stop when
 * asked to: the whole step takes milliseconds, and finishing it leaves a
 * complete output instead of a half-moved one. */
awq_status awq_publish_dir(awq_ctx *ctx, const char *staging, const char *out,
                           const char *journal);

/* Names a journal written by awq_publish_dir lists (the published files and
 * the output's entries before publishing), as a cJSON array of strings the
 * caller deletes; NULL when the journal is absent or unreadable. */
struct cJSON *awq_publish_journal_names(awq_ctx *ctx, const char *journal);

#endif
