/* tools/cli.h — helpers shared by the subcommands: flag parsing, the log
 * sink, TTY progress, errors, timing. Only tools/ prints or exits. */
#ifndef AWQ_TOOLS_CLI_H
#define AWQ_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "awqkit.h"

/* Exit codes of every subcommand. */
enum { AWQ_EXIT_OK = 0, AWQ_EXIT_FAIL = 1, AWQ_EXIT_USAGE = 2 };

/* Common flags every subcommand accepts. */
typedef struct awq_cli_common {
    int threads;      /* --threads N (0 = all cores) */
    int verbose;      /* -v / --verbose (repeatable) */
    bool quiet;       /* -q / --quiet: warnings and errors only */
    bool json;        /* --json */
    bool no_progress; /* --no-progress */
} awq_cli_common;

/* Program-wide name of the running subcommand, for messages ("count"). */
extern const char *awq_cli_cmd;

/* Usage error: "awqkit CMD: <msg>" + hint to --help on stderr, exit 2. */
_Noreturn void awq_cli_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Runtime error: "awqkit CMD: error: <msg>" on stderr, exit 1. */
_Noreturn void awq_cli_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Library error: status + the context's message, exit 1. */
_Noreturn void awq_cli_fail_status(awq_ctx *ctx, awq_status s, const char *what);

/* Flag parsing. At argv[*i]: if it matches `name` (either "--name V" or
 * "--name=V"), store the value, advance *i and return true. Missing value is
 * a usage error naming the flag. */
bool awq_cli_opt_str(int argc, char **argv, int *i, const char *name,
                     const char **out);
bool awq_cli_opt_int(int argc, char **argv, int *i, const char *name,
                     long long min, long long max, long long *out);
bool awq_cli_opt_double(int argc, char **argv, int *i, const char *name,
                        double *out);
/* A number in [0, 1) (a usage error naming the flag otherwise). */
bool awq_cli_opt_fraction(int argc, char **argv, int *i, const char *name,
                          double *out);
/* Byte sizes: "5GB", "500MB", "2GiB", "1e9", "123" (bytes). */
bool awq_cli_opt_bytes(int argc, char **argv, int *i, const char *name,
                       uint64_t *out);
bool awq_cli_parse_bytes(const char *s, uint64_t *out);
/* A positional argument: `a` must not look like an option (usage error
 * "unknown option") and *slot must be unset (usage error "unexpected
 * argument ... (`what`)"); then *slot = a. */
void awq_cli_positional(const char *a, const char **slot, const char *what);
/* "cpu", "cuda" or "cuda:N" for the flag `flag`; usage error otherwise. */
void awq_cli_parse_device(const char *flag, const char *v, awq_backend_kind *kind, int *device);
/* --duo-scaling on|off|both; a usage error (exit 2) naming flag otherwise. */
awq_duo_scaling awq_cli_parse_duo(const char *flag, const char *v);
/* The common flags; returns true when argv[*i] was one of them. */
bool awq_cli_opt_common(int argc, char **argv, int *i, awq_cli_common *c);
/* Help text for the common flags (indented, for --help). */
void awq_cli_print_common_help(FILE *f);
/* Is argv[i] -h/--help? */
bool awq_cli_is_help(const char *arg);

/* A context that logs to stderr ("awqkit CMD: warning: ...") and shows
 * progress on stderr when it is a TTY and !no_progress. */
awq_ctx *awq_cli_ctx(const awq_cli_common *c);
void awq_cli_ctx_free(awq_ctx *ctx);

/* A MODEL argument: a path as given, or a Hub id org/name[@rev] resolved
 * from the local Hugging Face cache (awq_hub_resolve); exit 1 with the
 * library's message (how to download) when it is not there. malloc'd. */
char *awq_cli_model(const char *arg);

/* SIGINT / SIGTERM: the first asks the running job to stop at its next
 * safe point (the context's progress callback returns false, the job
 * returns AWQ_ERR_CANCELLED after its cleanup); a second one kills. */
void awq_cli_stop_on_signals(void);
/* The signal received (0: none). */
int awq_cli_signal_received(void);
/* After cleanup: when a signal was received, die of it (the parent sees
 * the signal, as with the default action). Returns otherwise. */
void awq_cli_exit_on_signal(void);

/* Refuse writing over the input: out path equal to (or inside) in path,
 * the output existing or not yet. */
void awq_cli_refuse_same_path(const char *in, const char *out, const char *flag);

/* Timing summary at the end of long jobs. */
double awq_cli_now(void);
void awq_cli_print_elapsed(FILE *f, const char *what, double seconds);

/* Human formats. */
void awq_cli_fmt_count(char *buf, size_t n, double v);   /* 3.75B, 981.2M */
void awq_cli_fmt_bytes(char *buf, size_t n, double b);   /* 36.6 GB */

/* Read a JSON file into a cJSON tree (caller deletes); exit 1 on error. */
struct cJSON;
void awq_cli_print_json(struct cJSON *root); /* prints + newline to stdout */

#define AWQ_CMD(name, summary) int awq_cmd_##name(int argc, char **argv);
#include "commands.h"
#undef AWQ_CMD

#endif
