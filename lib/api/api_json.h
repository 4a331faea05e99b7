/* lib/api/api_json.h — the --json documents of the CLI commands, built in
 * one place so `awqkit CMD --json` (tools/) and awq_api_* (awqkit/api.h)
 * give the same output. Internal: not installed. Each returns a new cJSON
 * tree (cJSON_Delete it), NULL when out of memory. */
#ifndef AWQ_LIB_API_JSON_H
#define AWQ_LIB_API_JSON_H

#include "awqkit.h"

#include <cjson/cJSON.h>

cJSON *awq_json_count(const char *path, const awq_count_result *r, double seconds);
/* d: the detection of ck. */
cJSON *awq_json_inspect(const char *path, const awq_checkpoint *ck, const awq_detect_result *d);
cJSON *awq_json_repack(const char *in, const char *out, const awq_repack_result *r,
                       double seconds);
/* Linears worst first when p->against was given. */
cJSON *awq_json_verify(const char *dir, const awq_verify_params *p, const awq_verify_result *r,
                       double seconds);
cJSON *awq_json_quantize(const char *model, const char *out, const awq_quantize_params *p,
                         const awq_quantize_plan *pl, const awq_quantize_report *r);

/* cJSON_Print of the tree, then the tree deleted; NULL when out of memory. */
char *awq_json_print_free(cJSON *root);

#endif
