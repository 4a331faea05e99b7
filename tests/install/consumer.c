/* tests/install/consumer.c — a program built against an installed awqkit
 * (by install_tree.sh, once through pkg-config and once through
 * find_package): it counts tiny-llama through the struct API and the JSON
 * API, and checks that the library finds its bundled data in the prefix
 * it was installed to.
 *   consumer MODEL EXPECTED_DATA_DIR */
#include <awqkit.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, awq_ctx *ctx) {
    fprintf(stderr, "consumer: %s%s%s\n", what, ctx ? ": " : "", ctx ? awq_ctx_errmsg(ctx) : "");
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) return fail("usage: consumer MODEL EXPECTED_DATA_DIR", NULL);
    awq_ctx_params p = awq_ctx_default_params();
    awq_ctx *ctx = NULL;
    if (awq_ctx_create(&p, &ctx) != AWQ_OK) return fail("awq_ctx_create", NULL);
    awq_checkpoint *ck = NULL;
    if (awq_checkpoint_open(ctx, argv[1], &ck) != AWQ_OK) return fail("open", ctx);
    awq_count_result r;
    if (awq_count(ctx, ck, &r) != AWQ_OK) return fail("count", ctx);
    awq_checkpoint_free(ck);
    char *json = NULL;
    if (awq_api_count(ctx, argv[1], &json) != AWQ_OK) return fail("awq_api_count", ctx);
    char want[64];
    snprintf(want, sizeof want, "\"logical\":\t%llu", (unsigned long long)r.logical);
    if (!strstr(json, want)) return fail("the JSON count disagrees with awq_count", NULL);
    awq_api_free(json);

    const char *dir = awq_data_dir();
    char real[PATH_MAX];
    if (!dir || !realpath(argv[2], real) || strcmp(dir, real) != 0) {
        fprintf(stderr, "consumer: data directory %s, expected %s\n", dir ? dir : "(none)",
                argv[2]);
        return 1;
    }
    char *calib = awq_default_calib_path();
    if (!calib) return fail("no default calibration text", NULL);
    printf("awqkit %s: logical %llu, data %s, calib %s\n", awq_version(),
           (unsigned long long)r.logical, dir, calib);
    awq_api_free(calib);
    awq_ctx_free(ctx);
    return 0;
}
