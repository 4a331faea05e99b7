/* lib/io/outlock.c — the output directory's writer lock (io/outlock.h).
 *
 * Open-file-description locks (fcntl F_OFD_SETLK): unlike classic POSIX
 * record locks they conflict between two opens of the same file in one
 * process too, so two jobs of one program into one directory are refused
 * like two programs.
 *
 * Release removes the lock file while still holding the lock. A writer that
 * opened the old file just before the unlink can then lock an inode nobody
 * can find any more; it notices (the path no longer names its inode) and
 * starts again, so two writers never both believe they hold the lock. */
#define _GNU_SOURCE 1
#include "io/outlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct awq_out_lock {
    int fd;
    char *dir;
    char *path;
    char *created_top; /* shallowest directory the acquisition created */
};

static void ofd_lock_init(struct flock *fl, short type) {
    memset(fl, 0, sizeof *fl);
    fl->l_type = type;
    fl->l_whence = SEEK_SET;
    fl->l_start = 0;
    fl->l_len = 0; /* the whole file */
}

/* The holder's record, flattened to one line for a message. */
static void read_holder(int fd, char *buf, size_t cap) {
    buf[0] = 0;
    /* The holder writes its record right after taking the lock: give it a
     * moment when we looked in between. */
    for (int attempt = 0; attempt < 25; attempt++) {
        ssize_t n = pread(fd, buf, cap - 1, 0);
        if (n > 0) {
            buf[n] = 0;
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!buf[0]) {
        snprintf(buf, cap, "a process that has not recorded itself yet");
        return;
    }
    /* "pid=1\nhost=h\n..." -> "pid 1, host h, ..." */
    char out[1024];
    size_t o = 0;
    for (char *line = buf; *line && o + 4 < sizeof out;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *eq = strchr(line, '=');
        if (eq) *eq = ' ';
        int w = snprintf(out + o, sizeof out - o, "%s%s", o ? ", " : "", line);
        if (w < 0) break;
        o += (size_t)w < sizeof out - o ? (size_t)w : sizeof out - o - 1;
        if (!nl) break;
        line = nl + 1;
    }
    snprintf(buf, cap, "%s", out);
}

static awq_status busy(awq_ctx *ctx, const char *dir, const char *what, int fd) {
    char holder[1024];
    read_holder(fd, holder, sizeof holder);
    return awq_fail(ctx, AWQ_ERR_EXISTS,
                    "%s is locked by another awqkit %s run (%s); two runs writing one output "
                    "would mix their layers: wait for it to finish, stop it, or choose another "
                    "output directory",
                    dir, what, holder);
}

/* The command line of this process, space separated (best effort). */
static void own_command(char *buf, size_t cap) {
    buf[0] = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) {
        buf[0] = 0;
        return;
    }
    buf[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 0 || buf[i] == '\n') buf[i] = ' ';
    while (n > 0 && buf[n - 1] == ' ') buf[--n] = 0;
}

static awq_status write_record(awq_ctx *ctx, const char *path, int fd) {
    char host[256] = "?", cmd[1024], when[64] = "?";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = 0;
    own_command(cmd, sizeof cmd);
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    char rec[1600];
    int n = snprintf(rec, sizeof rec, "pid=%ld\nhost=%s\nstarted=%s\ncommand=%s\n",
                     (long)getpid(), host, when, cmd[0] ? cmd : "?");
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof rec) n = (int)sizeof rec - 1;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, rec, (size_t)n, 0) != n)
        return awq_fail(ctx, AWQ_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return AWQ_OK;
}

/* Create dir and its missing parents; *top = the shallowest one created
 * (NULL when dir existed). */
static awq_status make_dirs(awq_ctx *ctx, const char *dir, char **top) {
    *top = NULL;
    if (awq_path_is_dir(dir)) return AWQ_OK;
    char *probe = awq_strdup(dir);
    if (!probe) return awq_fail_nomem(ctx, "path", strlen(dir));
    /* walk up to the deepest existing ancestor */
    char *first_missing = awq_strdup(dir);
    for (;;) {
        char *parent = awq_path_dirname(probe);
        if (!parent) break;
        if (!strcmp(parent, probe) || awq_path_exists(parent)) {
            free(parent);
            break;
        }
        free(first_missing);
        first_missing = awq_strdup(parent);
        free(probe);
        probe = parent;
    }
    free(probe);
    awq_status s = awq_mkdir_p(ctx, dir);
    if (s == AWQ_OK) *top = first_missing;
    else free(first_missing);
    return s;
}

awq_status awq_out_lock_acquire(awq_ctx *ctx, const char *dir, const char *what,
                                awq_out_lock **out) {
    *out = NULL;
    if (!dir || !dir[0])
        return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "the output directory is an empty path");
    awq_out_lock *l = calloc(1, sizeof *l);
    if (!l) return awq_fail_nomem(ctx, "lock", sizeof *l);
    l->fd = -1;
    l->dir = awq_strdup(dir);
    if (l->dir) {
        size_t n = strlen(l->dir);
        while (n > 1 && l->dir[n - 1] == '/') l->dir[--n] = 0;
    }
    l->path = l->dir ? awq_path_join(l->dir, AWQ_OUT_LOCK_FILE) : NULL;
    if (!l->dir || !l->path) {
        awq_out_lock_release(l);
        return awq_fail_nomem(ctx, "lock path", strlen(dir));
    }
    awq_status s = make_dirs(ctx, l->dir, &l->created_top);
    for (int attempt = 0; s == AWQ_OK; attempt++) {
        int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            s = awq_fail(ctx, AWQ_ERR_IO, "cannot create the lock file %s: %s", l->path,
                         strerror(errno));
            break;
        }
        struct flock fl;
        ofd_lock_init(&fl, F_WRLCK);
        if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
            int e = errno;
            s = (e == EAGAIN || e == EACCES)
                    ? busy(ctx, dir, what, fd)
                    : awq_fail(ctx, AWQ_ERR_IO, "cannot lock %s: %s", l->path, strerror(e));
            close(fd);
            break;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            l->fd = fd;
            s = write_record(ctx, l->path, fd);
            break;
        }
        close(fd); /* the previous holder removed it under us: again */
        if (attempt > 100) {
            s = awq_fail(ctx, AWQ_ERR_IO, "cannot lock %s: it keeps being replaced", l->path);
            break;
        }
    }
    if (s != AWQ_OK) {
        awq_out_lock_release(l);
        return s;
    }
    *out = l;
    return AWQ_OK;
}

bool awq_out_lock_created_dir(const awq_out_lock *l) { return l && l->created_top; }

void awq_out_lock_release(awq_out_lock *l) {
    if (!l) return;
    if (l->fd >= 0) {
        unlink(l->path);
        close(l->fd);
    }
    if (l->created_top) {
        /* leaf first, up to the shallowest created; stops at a non-empty one */
        char *d = awq_strdup(l->dir);
        size_t top_len = strlen(l->created_top);
        while (d && strlen(d) >= top_len && rmdir(d) == 0) {
            if (strlen(d) == top_len) break;
            char *p = awq_path_dirname(d);
            free(d);
            d = p;
        }
        free(d);
    }
    free(l->created_top);
    free(l->dir);
    free(l->path);
    free(l);
}
