/* tools/cli.c — shared CLI plumbing (see cli.h). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *awq_cli_cmd = "";

static void vprefix(FILE *f) {
    if (awq_cli_cmd[0])
        fprintf(f, "awqkit %s: ", awq_cli_cmd);
    else
        fprintf(f, "awqkit: ");
}

void awq_cli_usage_error(const char *fmt, ...) {
    vprefix(stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (awq_cli_cmd[0])
        fprintf(stderr, "Try 'awqkit %s --help'.\n", awq_cli_cmd);
    else
        fprintf(stderr, "Try 'awqkit help'.\n");
    exit(AWQ_EXIT_USAGE);
}

void awq_cli_fail(const char *fmt, ...) {
    vprefix(stderr);
    fprintf(stderr, "error: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(AWQ_EXIT_FAIL);
}

void awq_cli_fail_status(awq_ctx *ctx, awq_status s, const char *what) {
    const char *msg = ctx ? awq_ctx_errmsg(ctx) : "";
    /* library messages name the file they are about: a prefix that the
     * message already holds ("X: cannot open X/config.json") is left out */
    if (msg && msg[0] && what && what[0] && strstr(msg, what)) awq_cli_fail("%s", msg);
    if (msg && msg[0])
        awq_cli_fail("%s: %s", what, msg);
    awq_cli_fail("%s: %s", what, awq_strerror(s));
}

bool awq_cli_is_help(const char *a) {
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

bool awq_cli_opt_str(int argc, char **argv, int *i, const char *name,
                     const char **out) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') {
        *out = a + n + 1;
        return true;
    }
    if (a[n] != 0) return false;
    if (*i + 1 >= argc) awq_cli_usage_error("option %s needs a value", name);
    *out = argv[++*i];
    return true;
}

bool awq_cli_opt_int(int argc, char **argv, int *i, const char *name,
                     long long min, long long max, long long *out) {
    const char *v;
    if (!awq_cli_opt_str(argc, argv, i, name, &v)) return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end)
        awq_cli_usage_error("option %s: '%s' is not an integer", name, v);
    if (x < min || x > max)
        awq_cli_usage_error("option %s: %lld is out of range [%lld, %lld]", name, x, min, max);
    *out = x;
    return true;
}

bool awq_cli_opt_double(int argc, char **argv, int *i, const char *name,
                        double *out) {
    const char *v;
    if (!awq_cli_opt_str(argc, argv, i, name, &v)) return false;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x))
        awq_cli_usage_error("option %s: '%s' is not a number", name, v);
    *out = x;
    return true;
}

bool awq_cli_opt_fraction(int argc, char **argv, int *i, const char *name,
                          double *out) {
    if (!awq_cli_opt_double(argc, argv, i, name, out)) return false;
    if (!(*out >= 0 && *out < 1))
        awq_cli_usage_error("%s %g: expected a fraction in [0, 1)", name, *out);
    return true;
}

bool awq_cli_parse_bytes(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || !(x >= 0) || !isfinite(x)) return false;
    while (*end == ' ') end++;
    double mul = 1;
    static const struct { const char *suf; double mul; } k[] = {
        {"", 1},          {"B", 1},          {"KB", 1e3},       {"MB", 1e6},
        {"GB", 1e9},      {"TB", 1e12},      {"K", 1e3},        {"M", 1e6},
        {"G", 1e9},       {"T", 1e12},       {"KiB", 1024.0},   {"MiB", 1048576.0},
        {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
    };
    bool found = false;
    for (size_t j = 0; j < sizeof k / sizeof k[0]; j++) {
        if (strcasecmp(end, k[j].suf) == 0) {
            mul = k[j].mul;
            found = true;
            break;
        }
    }
    if (!found) return false;
    double v = x * mul;
    if (v > 1.8e19) return false;
    *out = (uint64_t)llround(v);
    return true;
}

bool awq_cli_opt_bytes(int argc, char **argv, int *i, const char *name,
                       uint64_t *out) {
    const char *v;
    if (!awq_cli_opt_str(argc, argv, i, name, &v)) return false;
    if (!awq_cli_parse_bytes(v, out))
        awq_cli_usage_error("option %s: '%s' is not a size (examples: 5GB, 500MB, 2GiB)", name, v);
    return true;
}

void awq_cli_positional(const char *a, const char **slot, const char *what) {
    if (a[0] == '-' && a[1]) awq_cli_usage_error("unknown option '%s'", a);
    if (!a[0]) awq_cli_usage_error("empty argument '' (%s)", what);
    if (*slot) awq_cli_usage_error("unexpected argument '%s' (%s)", a, what);
    *slot = a;
}

awq_duo_scaling awq_cli_parse_duo(const char *flag, const char *v) {
    if (!strcmp(v, "on")) return AWQ_DUO_ON;
    if (!strcmp(v, "off")) return AWQ_DUO_OFF;
    if (!strcmp(v, "both")) return AWQ_DUO_BOTH;
    awq_cli_usage_error("%s %s: expected on, off or both", flag, v);
    return AWQ_DUO_ON;
}

void awq_cli_parse_device(const char *flag, const char *v, awq_backend_kind *kind, int *device) {
    *device = 0;
    if (strcmp(v, "cpu") == 0) {
        *kind = AWQ_BACKEND_CPU;
        return;
    }
    if (strncmp(v, "cuda", 4) == 0 && (v[4] == 0 || v[4] == ':')) {
        *kind = AWQ_BACKEND_CUDA;
        if (v[4] == ':') {
            char *end;
            errno = 0;
            long n = strtol(v + 5, &end, 10);
            if (errno || end == v + 5 || *end || n < 0 || n > 64)
                awq_cli_usage_error("%s %s: bad GPU index", flag, v);
            *device = (int)n;
        }
        return;
    }
    awq_cli_usage_error("%s %s: expected cpu, cuda or cuda:N", flag, v);
}

bool awq_cli_opt_common(int argc, char **argv, int *i, awq_cli_common *c) {
    const char *a = argv[*i];
    long long v;
    if (awq_cli_opt_int(argc, argv, i, "--threads", 0, 256, &v)) {
        c->threads = (int)v;
        return true;
    }
    if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        c->verbose++;
        return true;
    }
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        c->quiet = true;
        return true;
    }
    if (strcmp(a, "--json") == 0) {
        c->json = true;
        return true;
    }
    if (strcmp(a, "--no-progress") == 0) {
        c->no_progress = true;
        return true;
    }
    return false;
}

void awq_cli_print_common_help(FILE *f) {
    fprintf(f,
            "Common options:\n"
            "  --threads N      worker threads (default: all cores)\n"
            "  --json           machine-readable output on stdout\n"
            "  -v, --verbose    more diagnostics on stderr (repeat for debug)\n"
            "  -q, --quiet      only warnings and errors on stderr\n"
            "  --no-progress    no progress line even on a terminal\n"
            "  -h, --help       this help\n");
}

typedef struct {
    bool tty;
    double last;
    double start;
    char phase[96];
    uint64_t total, done, start_done;
} progress_state;

static progress_state g_progress;

/* ---------------------------------------------- signals and the fault hook */

static volatile sig_atomic_t g_signal;

/* First SIGINT/SIGTERM: ask the library to stop at its next safe point (the
 * progress callback returns false), so it removes its temporaries and
 * leaves a resumable state. A second one: the default action, at once. */
static void on_signal(int sig) {
    if (g_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_signal = sig;
    static const char msg[] =
        "\nawqkit: stopping at the next safe point (signal again to stop at once)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

void awq_cli_stop_on_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int awq_cli_signal_received(void) { return (int)g_signal; }

void awq_cli_exit_on_signal(void) {
    int sig = (int)g_signal;
    if (!sig) return;
    fflush(stdout);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

/* AWQKIT_FAULT_STOP_AT=PHASE[@N]: the Nth progress report (default the
 * first) whose phase starts with PHASE stops the process (SIGSTOP), so the
 * fault tests (tests/fault) can deliver SIGKILL, SIGINT or SIGTERM at an
 * exact point of a run and then SIGCONT. Off unless set. */
static void fault_hook(const char *phase) {
    static int init;
    static char want[96];
    static long nth = 1, seen;
    if (!init) {
        init = 1;
        const char *e = getenv("AWQKIT_FAULT_STOP_AT");
        if (e && e[0]) {
            snprintf(want, sizeof want, "%s", e);
            char *at = strrchr(want, '@');
            if (at) {
                *at = 0;
                nth = strtol(at + 1, NULL, 10);
                if (nth < 1) nth = 1;
            }
        }
    }
    if (!want[0] || strncmp(phase, want, strlen(want)) != 0) return;
    if (++seen == nth) raise(SIGSTOP);
}

static void log_cb(void *u, awq_log_level l, const char *m) {
    (void)u;
    if (g_progress.tty) fputs("\r\033[K", stderr);
    const char *tag = l == AWQ_LOG_ERROR ? "error: " : l == AWQ_LOG_WARN ? "warning: " : "";
    vprefix(stderr);
    fprintf(stderr, "%s%s\n", tag, m);
}

static bool progress_cb(void *u, const char *phase, uint64_t done, uint64_t total) {
    (void)u;
    fault_hook(phase);
    if (g_signal) return false;
    if (!g_progress.tty) return true;
    double now = awq_cli_now();
    /* A new job (other total, or counting restarted) restarts the ETA clock;
     * the label may change within a job (e.g. "layer 3/32: mlp") */
    if (total != g_progress.total || done < g_progress.done || !g_progress.start) {
        g_progress.start = now;
        g_progress.start_done = done;
    }
    g_progress.total = total;
    g_progress.done = done;
    snprintf(g_progress.phase, sizeof g_progress.phase, "%s", phase);
    bool final = total && done >= total;
    if (!final && now - g_progress.last < 0.1) return true;
    g_progress.last = now;
    if (total) {
        double el = now - g_progress.start;
        uint64_t run = done - g_progress.start_done;
        double eta = run ? el * (double)(total - done) / (double)run : 0;
        fprintf(stderr, "\r\033[K%s %llu/%llu (%.0f%%)", phase, (unsigned long long)done,
                (unsigned long long)total, 100.0 * (double)done / (double)total);
        if (run && !final) fprintf(stderr, " ETA %.0fs", eta);
    } else {
        fprintf(stderr, "\r\033[K%s %llu", phase, (unsigned long long)done);
    }
    if (final) fputs("\r\033[K", stderr);
    fflush(stderr);
    return true;
}

awq_ctx *awq_cli_ctx(const awq_cli_common *c) {
    awq_ctx_params p = awq_ctx_default_params();
    p.log = log_cb;
    p.log_level = c->quiet ? AWQ_LOG_WARN
                  : c->verbose >= 2 ? AWQ_LOG_DEBUG
                  : c->verbose == 1 ? AWQ_LOG_INFO
                                    : AWQ_LOG_WARN;
    p.n_threads = c->threads;
    g_progress.tty = isatty(2) && !c->no_progress && !c->quiet;
    /* always: it also carries stop requests (signals) and the fault hook */
    p.progress = progress_cb;
    awq_ctx *ctx = NULL;
    awq_status s = awq_ctx_create(&p, &ctx);
    if (s != AWQ_OK) awq_cli_fail("cannot create library context: %s", awq_strerror(s));
    return ctx;
}

void awq_cli_ctx_free(awq_ctx *ctx) { awq_ctx_free(ctx); }

/* realpath() of p's deepest existing ancestor, then the components that do
 * not exist yet: where p will be once created (-o MODEL/newsub is inside
 * MODEL before newsub exists). */
static bool resolve_future(const char *p, char *out, size_t cap) {
    char head[PATH_MAX], tail[PATH_MAX];
    size_t hl = strlen(p), tl = 0;
    if (hl >= sizeof head || cap < PATH_MAX) return false;
    memcpy(head, p, hl + 1);
    tail[0] = 0;
    while (!realpath(head, out)) {
        if (errno != ENOENT) return false;
        while (hl > 1 && head[hl - 1] == '/') head[--hl] = 0;
        char *sl = strrchr(head, '/');
        const char *last = sl ? sl + 1 : head;
        size_t ll = strlen(last);
        if (!ll || !strcmp(last, ".") || !strcmp(last, "..") || tl + ll + 2 > sizeof tail)
            return false;
        memmove(tail + ll + 1, tail, tl + 1);
        tail[0] = '/';
        memcpy(tail + 1, last, ll);
        tl += ll + 1;
        if (!sl) {
            memcpy(head, ".", 2);
            hl = 1;
        } else if (sl == head) {
            head[1] = 0;
            hl = 1;
        } else {
            *sl = 0;
            hl = (size_t)(sl - head);
        }
    }
    size_t n = strlen(out);
    const char *t = n == 1 && out[0] == '/' && tl ? tail + 1 : tail;
    size_t tn = strlen(t);
    if (n + tn >= cap) return false;
    memcpy(out + n, t, tn + 1);
    return true;
}

/* Resolved model paths live until the process exits (commands keep them in
 * their option structs); they are freed at exit so leak checkers stay quiet. */
static char **cli_models;
static size_t cli_n_models;

static void free_cli_models(void) {
    for (size_t i = 0; i < cli_n_models; i++) free(cli_models[i]);
    free(cli_models);
    cli_models = NULL;
    cli_n_models = 0;
}

static void keep_cli_model(char *path) {
    char **grown = realloc(cli_models, (cli_n_models + 1) * sizeof *grown);
    if (!grown) return; /* the path then simply lives to the process's end */
    if (!cli_models) atexit(free_cli_models);
    cli_models = grown;
    cli_models[cli_n_models++] = path;
}

char *awq_cli_model(const char *arg) {
    awq_ctx *ctx = NULL;
    awq_ctx_params p = awq_ctx_default_params();
    p.n_threads = 1;
    awq_status s = awq_ctx_create(&p, &ctx);
    if (s != AWQ_OK) awq_cli_fail("cannot create library context: %s", awq_strerror(s));
    char *path = NULL;
    s = awq_hub_resolve(ctx, arg, &path);
    if (s != AWQ_OK) {
        /* the message already names arg */
        fprintf(stderr, "awqkit %s: error: %s\n", awq_cli_cmd, awq_ctx_errmsg(ctx));
        exit(AWQ_EXIT_FAIL);
    }
    awq_ctx_free(ctx);
    keep_cli_model(path);
    return path;
}

void awq_cli_refuse_same_path(const char *in, const char *out, const char *flag) {
    char rin[PATH_MAX], rout[PATH_MAX];
    if (!realpath(in, rin)) return;
    if (!resolve_future(out, rout, sizeof rout)) return;
    size_t n = strlen(rin);
    if (strcmp(rin, rout) == 0 || (strncmp(rout, rin, n) == 0 && rout[n] == '/'))
        awq_cli_usage_error("%s %s is the input (or inside it); choose another output", flag, out);
}

double awq_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void awq_cli_print_elapsed(FILE *f, const char *what, double s) {
    if (s < 1)
        fprintf(f, "%s in %.0f ms\n", what, s * 1e3);
    else if (s < 120)
        fprintf(f, "%s in %.2f s\n", what, s);
    else
        fprintf(f, "%s in %dm%02ds\n", what, (int)(s / 60), (int)fmod(s, 60));
}

void awq_cli_fmt_count(char *buf, size_t n, double v) {
    double a = fabs(v);
    if (a >= 1e9)
        snprintf(buf, n, "%.2fB", v / 1e9);
    else if (a >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (a >= 1e3)
        snprintf(buf, n, "%.2fK", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

void awq_cli_fmt_bytes(char *buf, size_t n, double b) {
    if (b >= 1e9)
        snprintf(buf, n, "%.2f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(buf, n, "%.2f MB", b / 1e6);
    else if (b >= 1e3)
        snprintf(buf, n, "%.2f kB", b / 1e3);
    else
        snprintf(buf, n, "%.0f B", b);
}

void awq_cli_print_json(struct cJSON *root) {
    char *s = cJSON_Print(root);
    if (!s) awq_cli_fail("out of memory printing JSON");
    fputs(s, stdout);
    fputc('\n', stdout);
    cJSON_free(s);
}
