/* lib/io/outlock.h — one writer per output directory.
 *
 * A job that writes a directory over minutes or hours (awqkit quantize)
 * holds an exclusive, non-blocking flock(2) on DIR/.awqkit-lock for its
 * whole life. The lock file records who holds it (pid, host, start time,
 * command line) so a second writer's error can name the first. The kernel
 * drops the lock when its holder exits, however it exits (kill -9
 * included), so a stale lock file never blocks anyone: the next writer
 * simply takes it over. Internal to libawqkit.
 */
#ifndef AWQ_IO_OUTLOCK_H
#define AWQ_IO_OUTLOCK_H

#include "core/core.h"

#define AWQ_OUT_LOCK_FILE ".awqkit-lock"

typedef struct awq_out_lock awq_out_lock;

/* Take the lock of `dir`, creating dir (and missing parents) when it does
 * not exist. Held by another process (or another job of this one):
 * AWQ_ERR_EXISTS, the message naming the holder; nothing is created or
 * written then. `what` names the job in that message ("quantize"). On
 * success *out owns the lock. */
awq_status awq_out_lock_acquire(awq_ctx *ctx, const char *dir, const char *what,
                                awq_out_lock **out);

/* Did acquiring the lock create the directory? */
bool awq_out_lock_created_dir(const awq_out_lock *l);

/* Remove the lock file and release the lock. When the acquisition created
 * the directory and it is now empty, the directory (and the parents it
 * created) go as well. NULL is fine. */
void awq_out_lock_release(awq_out_lock *l);

#endif
