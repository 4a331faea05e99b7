/* tests/fuzz/fuzz_config.c — config.json bytes through cJSON and
 * awq_model_config_from_json: any input must give AWQ_OK or an error with a
 * message, never a crash, and an accepted config must be self-consistent. */
#include "awqkit.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static awq_ctx *ctx;
    if (!ctx) {
        awq_ctx_params p = awq_ctx_default_params();
        p.n_threads = 1;
        if (awq_ctx_create(&p, &ctx) != AWQ_OK) abort();
    }
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root) return 0;
    awq_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    awq_status s = awq_model_config_from_json(ctx, root, "fuzz/config.json", &cfg);
    if (s != AWQ_OK) {
        if (awq_ctx_errmsg(ctx)[0] == 0) abort();
    } else {
        /* the fixed-size strings are terminated */
        if (!memchr(cfg.architecture, 0, sizeof cfg.architecture) ||
            !memchr(cfg.model_type, 0, sizeof cfg.model_type))
            abort();
    }
    cJSON_Delete(root);
    return 0;
}
