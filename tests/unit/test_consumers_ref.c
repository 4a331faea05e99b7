/*
 * tests/unit/test_consumers_ref.c — awqkit's consumer table
 * (lib/quant/consumers.c) against what the serving engines' own code did
 * with awqkit's outputs: tests/ref/vllm/accept.json, made by
 * tests/ref/check_vllm_configs.py (vLLM's ModelConfig / quant config /
 * LlamaForCausalLM create_weights / load_weights run on each checkpoint
 * awqkit wrote from data/tiny-llama; SGLang's quant configs likewise when
 * its "sglang" key is present).
 *
 * For every case the engine judged, the table's verdict for the layout
 * awqkit wrote (awq_layout_for_output: format, bits, symmetry) must be the
 * engine's: accepted -> AWQ_LOADS_YES, refused -> AWQ_LOADS_NO, and a
 * refusal carries a reason. The fixture must hold both verdicts, so a
 * table that said "yes" (or "no") to everything fails.
 *
 * modules_to_not_convert: the list awqkit writes for a vision tower
 * (awq_skip_expand) must be one vLLM's (and SGLang's) own Qwen2.5-VL name
 * mapper and substring matcher judged right in the fixture (vision linears
 * skipped, language linears not) — "model.visual" alone is not.
 */
#include "awq_test.h"
#include "core/core.h"
#include "quant/skiplist.h"

#include "awqkit/consumers.h"
#include "awqkit/quant.h"

#include <cjson/cJSON.h>

#define FIXTURE AWQ_TEST_SRC "/ref/vllm/accept.json"

typedef struct engine {
    const char *key;           /* the fixture's key */
    awq_consumer who;
    int n_yes, n_no;
} engine;

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_case(const cJSON *c, engine *e) {
    const char *name = str_of(c, "name");
    const cJSON *verdict = cJSON_GetObjectItemCaseSensitive(c, e->key);
    if (!verdict) return; /* not judged (awqkit could not write it, or no run) */
    const cJSON *lay = cJSON_GetObjectItemCaseSensitive(c, "layout");
    const char *fmt = str_of(lay, "format");
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(lay, "bits");
    const cJSON *sym = cJSON_GetObjectItemCaseSensitive(lay, "symmetric");
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(verdict, "accepted");
    CHECK_MSG(name && fmt && cJSON_IsNumber(bits) && cJSON_IsBool(sym) && cJSON_IsBool(acc),
              "case %s: malformed entry", name ? name : "?");
    if (!name || !fmt || !cJSON_IsNumber(bits) || !cJSON_IsBool(sym) || !cJSON_IsBool(acc))
        return;
    const awq_format_info *fi = awq_format_by_name(fmt);
    CHECK_MSG(fi != NULL, "case %s: unknown format %s", name, fmt);
    if (!fi) return;

    awq_layout_desc d = awq_layout_for_output((int)fi->id, bits->valueint, cJSON_IsTrue(sym));
    awq_consumer_verdict v[AWQ_CONSUMER_COUNT];
    awq_consumers_judge(&d, v);
    bool engine_loads = cJSON_IsTrue(acc);
    awq_load_verdict want = engine_loads ? AWQ_LOADS_YES : AWQ_LOADS_NO;
    const char *reason = str_of(verdict, "reason");
    CHECK_MSG(v[e->who].loads == want,
              "%s, case %s (%s %d-bit %s): the table says %d (%s), %s %s it%s%s", e->key, name,
              fmt, bits->valueint, cJSON_IsTrue(sym) ? "sym" : "zero point", (int)v[e->who].loads,
              v[e->who].how, e->key, engine_loads ? "accepts" : "refuses",
              reason ? ": " : "", reason ? reason : "");
    if (!engine_loads) CHECK_MSG(v[e->who].how[0] != 0, "case %s: refusal without a reason", name);
    if (engine_loads)
        e->n_yes++;
    else
        e->n_no++;
}

/* Does the fixture's skip probe hold the list v (as a set), judged right? */
static int skip_verdict(const cJSON *probe, char **v, int n) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(probe, "cases")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(c, "modules_to_not_convert");
        if (cJSON_GetArraySize(l) != n) continue;
        int hit = 0;
        for (int i = 0; i < n; i++) {
            const cJSON *e;
            cJSON_ArrayForEach(e, l) hit += cJSON_IsString(e) && strcmp(e->valuestring, v[i]) == 0;
        }
        if (hit == n) return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "right"));
    }
    return -1; /* not probed */
}

static void check_skip(const cJSON *meta, const char *key) {
    const cJSON *probe = cJSON_GetObjectItemCaseSensitive(meta, "skip_probe");
    CHECK_MSG(probe != NULL, "no %s_meta.skip_probe in %s", key, FIXTURE);
    if (!probe) return;
    char *lone[] = {"model.visual"};
    CHECK_MSG(skip_verdict(probe, lone, 1) == 0, "%s: the probe should show model.visual alone fails",
              key);
    const char *inputs[][1] = {{"model.visual"}, {"visual"}};
    for (size_t i = 0; i < AWQ_ARRAY_LEN(inputs); i++) {
        char **v = NULL;
        int n = 0;
        CHECK(awq_skip_expand(inputs[i], 1, &v, &n));
        int r = skip_verdict(probe, v, n);
        CHECK_MSG(r == 1, "modules_to_not_convert written for [%s] (%d entries): %s verdict %d",
                  inputs[i][0], n, key, r);
        awq_skip_free(v, n);
    }
}

/* transformers 5 and MoE experts (tests/ref/make_load_fixtures.py: the
 * five MoE / DeepSeek models load as symmetric compressed-tensors only):
 * AWQ GEMM and asymmetric compressed-tensors experts are refused, dense
 * layouts and symmetric compressed-tensors experts are not. */
static void check_transformers_moe(void) {
    static const struct {
        awq_qformat fmt;
        bool sym, moe;
        awq_load_verdict want;
    } k[] = {
        {AWQ_QFMT_AWQ_GEMM, false, true, AWQ_LOADS_NO}, {AWQ_QFMT_AWQ_GEMM, false, false, AWQ_LOADS_YES},
        {AWQ_QFMT_CT, false, true, AWQ_LOADS_NO},       {AWQ_QFMT_CT, true, true, AWQ_LOADS_YES},
        {AWQ_QFMT_CT, false, false, AWQ_LOADS_YES},
    };
    for (size_t i = 0; i < AWQ_ARRAY_LEN(k); i++) {
        awq_layout_desc d = awq_layout_for_output((int)k[i].fmt, 4, k[i].sym);
        d.moe = k[i].moe;
        awq_consumer_verdict v[AWQ_CONSUMER_COUNT];
        awq_consumers_judge(&d, v);
        CHECK_MSG(v[AWQ_CONSUMER_TRANSFORMERS].loads == k[i].want,
                  "transformers, case %zu (format %d, sym %d, moe %d): %d (%s)", i, (int)k[i].fmt,
                  k[i].sym, k[i].moe, (int)v[AWQ_CONSUMER_TRANSFORMERS].loads,
                  v[AWQ_CONSUMER_TRANSFORMERS].how);
    }
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(ctx, awq_read_file(ctx, FIXTURE, 1u << 22, &text, &len));
    cJSON *doc = text ? cJSON_ParseWithLength(text, len) : NULL;
    CHECK_MSG(doc != NULL, "%s does not parse", FIXTURE);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    CHECK(cJSON_IsArray(cases));

    check_transformers_moe();
    engine engines[] = {{"vllm", AWQ_CONSUMER_VLLM, 0, 0}, {"sglang", AWQ_CONSUMER_SGLANG, 0, 0}};
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        for (size_t i = 0; i < AWQ_ARRAY_LEN(engines); i++) check_case(c, &engines[i]);
    }
    /* vLLM must have been run (its version recorded) and have judged both
     * ways; SGLang only when its run is in the fixture. */
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "vllm_meta");
    CHECK_MSG(str_of(meta, "version") != NULL, "no vllm_meta.version in %s", FIXTURE);
    check_skip(meta, "vllm");
    const cJSON *sg_meta = cJSON_GetObjectItemCaseSensitive(doc, "sglang_meta");
    if (sg_meta) check_skip(sg_meta, "sglang");
    for (size_t i = 0; i < AWQ_ARRAY_LEN(engines); i++) {
        const engine *e = &engines[i];
        if (i > 0 && e->n_yes + e->n_no == 0) continue;
        CHECK_MSG(e->n_yes >= 5 && e->n_no >= 3, "%s: %d accepted / %d refused cases", e->key,
                  e->n_yes, e->n_no);
        printf("%s: %d accepted, %d refused checked against the table\n", e->key, e->n_yes, e->n_no);
    }
    cJSON_Delete(doc);
    free(text);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
