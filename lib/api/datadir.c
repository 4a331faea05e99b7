/* lib/api/datadir.c — finding the bundled data (calibration and evaluation
 * text) at run time, relative to where libawqkit itself lives.
 *
 * Nothing absolute is compiled in: a build-tree path would be wrong once
 * installed, and an install prefix would be wrong once the tree is moved
 * (a Python wheel is always "moved"). The relative paths from the install
 * bindir and libdir to the datadir come from CMake (GNUInstallDirs, so a
 * multiarch libdir works); the build tree gets BUILD/share/awqkit. */
#define _GNU_SOURCE /* dladdr */
#include "awqkit/api.h"
#include "core/core.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef AWQ_DATADIR_FROM_BINDIR
#define AWQ_DATADIR_FROM_BINDIR "../share/awqkit"
#endif
#ifndef AWQ_DATADIR_FROM_LIBDIR
#define AWQ_DATADIR_FROM_LIBDIR "../share/awqkit"
#endif

#define DEFAULT_CALIB "text/calib-wikitext2-valid.jsonl.zst"
#define DEFAULT_TEXT "text/wiki.test.raw"

static char g_dir[PATH_MAX];
static bool g_found;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* dir/rel when that is a directory: canonical path into g_dir. */
static bool try_dir(const char *dir, const char *rel) {
    char cand[PATH_MAX];
    int n = snprintf(cand, sizeof cand, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof cand) return false;
    if (!awq_path_is_dir(cand)) return false;
    return realpath(cand, g_dir) != NULL;
}

/* The candidates beside one binary (the library's file or the program). */
static bool try_beside(const char *file) {
    char real[PATH_MAX];
    /* A name without '/' is argv[0] as typed (glibc reports that for the
     * main program), not a path: /proc/self/exe answers for it. */
    if (!file || !strchr(file, '/') || !realpath(file, real)) return false;
    char *slash = strrchr(real, '/');
    if (!slash) return false;
    *slash = 0;
    const char *dir = real[0] ? real : "/";
    return try_dir(dir, AWQ_DATADIR_FROM_LIBDIR) || try_dir(dir, AWQ_DATADIR_FROM_BINDIR) ||
           try_dir(dir, "share/awqkit");
}

static void find_data_dir(void) {
    const char *env = getenv("AWQKIT_DATA_DIR");
    Dl_info info;
    char exe[PATH_MAX];
    ssize_t n;
    if (env && env[0]) {
        g_found = awq_path_is_dir(env) && realpath(env, g_dir);
    } else if (dladdr((void *)&awq_data_dir, &info) && try_beside(info.dli_fname)) {
        g_found = true;
    } else if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
        exe[n] = 0;
        g_found = try_beside(exe);
    }
}

const char *awq_data_dir(void) {
    pthread_once(&g_once, find_data_dir);
    return g_found ? g_dir : NULL;
}

char *awq_data_file(const char *relpath) {
    const char *d = awq_data_dir();
    if (!d || !relpath) return NULL;
    char *p = awq_path_join(d, relpath);
    if (p && access(p, R_OK) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static char *env_or_data(const char *var, const char *rel) {
    const char *env = getenv(var);
    if (env && env[0]) return awq_strdup(env);
    return awq_data_file(rel);
}

char *awq_default_calib_path(void) { return env_or_data("AWQKIT_CALIB", DEFAULT_CALIB); }

char *awq_default_text_path(void) { return env_or_data("AWQKIT_TEXT", DEFAULT_TEXT); }

void awq_api_free(char *s) { free(s); }
