/* tests/fuzz/replay_main.c — runs every file of the given corpus
 * directories (or single files) through LLVMFuzzerTestOneInput, so ctest
 * exercises the fuzz targets without libFuzzer. Each input gets a heap
 * buffer of exactly its size, so sanitizer builds catch any over-read.
 * Exit status: 0 when every input ran; 1 when an argument cannot be read or
 * holds no inputs (a missing corpus must not pass silently); a crash is the
 * target's bug. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf || (n && fread(buf, 1, n, f) != n)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* an exact-size copy: a zero-length input still gets a unique pointer */
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the number of inputs run, or -1 on error. */
static long run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pl = strlen(dir) + strlen(names[i]) + 2;
        char *p = malloc(pl);
        snprintf(p, pl, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(p) != 0) ran = -1;
            else if (ran >= 0) ran++;
        }
        free(p);
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long r;
        if (stat(argv[i], &st) != 0) r = -1;
        else if (S_ISDIR(st.st_mode)) r = run_dir(argv[i]);
        else r = run_file(argv[i]) == 0 ? 1 : -1;
        if (r <= 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], r < 0 ? "cannot read" : "no inputs");
            return 1;
        }
        total += r;
    }
    printf("replayed %ld inputs\n", total);
    return 0;
}
