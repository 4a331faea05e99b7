/* lib/core/util.c — memory, paths, files, string buffers, UTF-8. */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void *awq_alloc(size_t n, size_t size) {
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) return NULL;
    if (bytes == 0) bytes = 1;
    /* round up to the alignment, as aligned_alloc requires */
    if (bytes > SIZE_MAX - 63) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes);
}

void *awq_calloc(size_t n, size_t size) {
    void *p = awq_alloc(n, size);
    if (p) memset(p, 0, n * size);
    return p;
}

void awq_free(void *p) { free(p); }

char *awq_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *awq_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    bool slash = la > 0 && a[la - 1] != '/';
    char *r = malloc(la + lb + 2);
    if (!r) return NULL;
    memcpy(r, a, la);
    if (slash) r[la++] = '/';
    memcpy(r + la, b, lb + 1);
    return r;
}

char *awq_path_dirname(const char *p) {
    const char *s = strrchr(p, '/');
    if (!s) return awq_strdup(".");
    if (s == p) return awq_strdup("/");
    size_t n = (size_t)(s - p);
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, p, n);
    r[n] = 0;
    return r;
}

const char *awq_path_basename(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

bool awq_path_is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

bool awq_path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

bool awq_is_plain_filename(const char *name) {
    if (!name || !name[0]) return false;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return false;
    return strchr(name, '/') == NULL && strchr(name, '\\') == NULL;
}

awq_status awq_mkdir_p(awq_ctx *ctx, const char *path) {
    char *tmp = awq_strdup(path);
    if (!tmp) return awq_fail_nomem(ctx, "path", strlen(path));
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            awq_status st = awq_fail(ctx, AWQ_ERR_IO, "cannot create directory %s: %s",
                                     tmp, strerror(errno));
            free(tmp);
            return st;
        }
        *s = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        awq_status st = awq_fail(ctx, AWQ_ERR_IO, "cannot create directory %s: %s",
                                 tmp, strerror(errno));
        free(tmp);
        return st;
    }
    free(tmp);
    if (!awq_path_is_dir(path))
        return awq_fail(ctx, AWQ_ERR_IO, "%s exists and is not a directory", path);
    return AWQ_OK;
}

/* Read an fd that has no size (a pipe, a FIFO, a character device) to its
 * end, growing the buffer, at most max_bytes. */
static awq_status read_stream(awq_ctx *ctx, int fd, const char *path, uint64_t max_bytes,
                              char **out, size_t *out_len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return awq_fail_nomem(ctx, path, cap);
    for (;;) {
        if (n == cap) {
            if ((uint64_t)cap >= max_bytes + 1) break;
            size_t nc = cap * 2;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                return awq_fail_nomem(ctx, path, nc);
            }
            buf = nb;
            cap = nc;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            awq_status s = awq_fail(ctx, AWQ_ERR_IO, "read error on %s: %s", path,
                                    strerror(errno));
            free(buf);
            return s;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if ((uint64_t)n > max_bytes) {
        free(buf);
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s is too large (more than %llu bytes)", path,
                        (unsigned long long)max_bytes);
    }
    buf[n] = 0;
    *out = buf;
    if (out_len) *out_len = n;
    return AWQ_OK;
}

awq_status awq_read_file(awq_ctx *ctx, const char *path, uint64_t max_bytes,
                         char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    /* one open, then fstat of that descriptor: the file is read exactly
     * once, so a FIFO or /dev/stdin works (a second open of a pipe would
     * wait forever for a writer that is gone) */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return awq_fail(ctx, errno == ENOENT ? AWQ_ERR_NOT_FOUND : AWQ_ERR_IO,
                        "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        close(fd);
        return awq_fail(ctx, AWQ_ERR_IO, "%s is a directory, not a file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        awq_status s = read_stream(ctx, fd, path, max_bytes, out, out_len);
        close(fd);
        return s;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s is too large (%lld bytes, limit %llu)",
                        path, (long long)st.st_size, (unsigned long long)max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return awq_fail_nomem(ctx, path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            awq_status s = awq_fail(ctx, AWQ_ERR_IO, "read error on %s: %s", path,
                                    r < 0 ? strerror(errno) : "unexpected end of file");
            free(buf);
            close(fd);
            return s;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    if (out_len) *out_len = n;
    return AWQ_OK;
}

awq_status awq_fsync_dir(awq_ctx *ctx, const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return awq_fail(ctx, AWQ_ERR_IO, "cannot open directory %s: %s", dir,
                        strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    /* Some filesystems refuse fsync on directories (EINVAL); the data is
     * still safe there, so only real errors fail. */
    if (r != 0 && e != EINVAL)
        return awq_fail(ctx, AWQ_ERR_IO, "fsync %s: %s", dir, strerror(e));
    return AWQ_OK;
}

awq_status awq_write_file_atomic(awq_ctx *ctx, const char *path,
                                 const void *data, size_t len) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return awq_fail_nomem(ctx, path, n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        awq_status s = awq_fail(ctx, AWQ_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            awq_status s = awq_fail(ctx, AWQ_ERR_IO, "write %s: %s", tmp,
                                    w < 0 ? strerror(errno) : "short write");
            close(fd);
            unlink(tmp);
            free(tmp);
            return s;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        awq_status s = awq_fail(ctx, AWQ_ERR_IO, "fsync %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    if (rename(tmp, path) != 0) {
        awq_status s = awq_fail(ctx, AWQ_ERR_IO, "rename %s -> %s: %s", tmp, path,
                                strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    char *dir = awq_path_dirname(path);
    awq_status s = dir ? awq_fsync_dir(ctx, dir) : AWQ_OK;
    free(dir);
    return s;
}

void awq_sb_init(awq_strbuf *b) { memset(b, 0, sizeof *b); }
void awq_sb_free(awq_strbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

void awq_sb_append(awq_strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void awq_sb_puts(awq_strbuf *b, const char *s) { awq_sb_append(b, s, strlen(s)); }

void awq_sb_printf(awq_strbuf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        awq_sb_append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    awq_sb_append(b, big, (size_t)n);
    free(big);
}

void awq_sb_json_str(awq_strbuf *b, const char *s) {
    awq_sb_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': awq_sb_append(b, "\\\"", 2); break;
        case '\\': awq_sb_append(b, "\\\\", 2); break;
        case '\n': awq_sb_append(b, "\\n", 2); break;
        case '\r': awq_sb_append(b, "\\r", 2); break;
        case '\t': awq_sb_append(b, "\\t", 2); break;
        default:
            if (*p < 0x20)
                awq_sb_printf(b, "\\u%04x", *p);
            else
                awq_sb_append(b, (const char *)p, 1);
        }
    }
    awq_sb_append(b, "\"", 1);
}

bool awq_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}
