/* tests/unit/st_helpers.h — writing hand-built safetensors files and small
 * text files for the io tests (independent of lib/io's writer). */
#ifndef AWQ_ST_HELPERS_H
#define AWQ_ST_HELPERS_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Write bytes to path; exits on failure (a broken test environment). */
static inline void st_put_raw(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(bytes, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static inline void st_put_text(const char *path, const char *text) {
    st_put_raw(path, text, strlen(text));
}

/* Serialise a safetensors file image: u64 LE len(hdr), hdr, then data_len
 * data bytes (byte i = (i * 7 + 3) & 0xff, unless data != NULL). Returns a
 * malloc'd buffer of *out_len bytes. */
static inline unsigned char *st_image(const char *hdr, size_t hdr_len, const void *data,
                                      size_t data_len, size_t *out_len) {
    size_t n = 8 + hdr_len + data_len;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) exit(2);
    uint64_t h = hdr_len;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(h >> (8 * i));
    memcpy(b + 8, hdr, hdr_len);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hdr_len + i] =
            data ? ((const unsigned char *)data)[i] : (unsigned char)((i * 7 + 3) & 0xff);
    *out_len = n;
    return b;
}

/* Write dir/name as a safetensors file with a string header. Returns the
 * malloc'd path. */
static inline char *st_put(const char *dir, const char *name, const char *hdr, size_t data_len) {
    size_t n;
    unsigned char *img = st_image(hdr, strlen(hdr), NULL, data_len, &n);
    size_t pl = strlen(dir) + strlen(name) + 2;
    char *path = malloc(pl);
    snprintf(path, pl, "%s/%s", dir, name);
    st_put_raw(path, img, n);
    free(img);
    return path;
}

static inline char *st_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Number of directory entries (excluding . and ..), and how many of them
 * are hidden (start with '.'). */
static inline int st_count_entries(const char *dir, int *hidden) {
    DIR *d = opendir(dir);
    int n = 0, h = 0;
    if (!d) {
        if (hidden) *hidden = 0;
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        n++;
        if (de->d_name[0] == '.') h++;
    }
    closedir(d);
    if (hidden) *hidden = h;
    return n;
}

static inline int st_exists(const char *dir, const char *name) {
    char *p = st_join(dir, name);
    struct stat st;
    int r = stat(p, &st) == 0;
    free(p);
    return r;
}

#endif
