/* tests/unit/test_moe_lset.c — the run-time linear set of a layer
 * (lib/model/moe_lset.h): sizes from the config, names from the table's
 * awq_moe_desc, every entry found again by its name, dense layers of a MoE
 * model (Qwen's mlp_only_layers) with the table's MLP, the others without. */
#include "awq_test.h"
#include "core/core.h"
#include "model/moe_lset.h"

#include <cjson/cJSON.h>

static awq_status parse(awq_ctx *ctx, const char *json, awq_model_config *c) {
    cJSON *root = cJSON_Parse(json);
    if (!root) return AWQ_ERR_FORMAT;
    awq_status s = awq_model_config_from_json(ctx, root, "test/config.json", c);
    cJSON_Delete(root);
    return s;
}

/* Every entry of layer `layer` round-trips through its name. */
static void round_trip(const awq_model_config *c, int64_t layer) {
    int n = awq_lset_count(c, layer);
    for (int i = 0; i < n; i++) {
        awq_lset_item it;
        CHECK(awq_lset_get(c, layer, i, &it));
        int j = awq_lset_find(c, layer, it.name);
        CHECK_MSG(it.present ? j == i : j == -1, "layer %lld entry %d '%s': found %d",
                  (long long)layer, i, it.name, j);
        CHECK(it.n_out > 0 && it.n_in > 0);
    }
    awq_lset_item it;
    CHECK(!awq_lset_get(c, layer, n, &it) && !awq_lset_get(c, layer, -1, &it));
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    awq_model_config c;
    awq_lset_item it;
    /* Qwen2-MoE: 4 experts, a shared expert with its gate, layer 1 dense */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Qwen2MoeForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"vocab_size\":100,\"num_experts\":4,\"num_experts_per_tok\":2,"
        "\"moe_intermediate_size\":32,\"shared_expert_intermediate_size\":48,"
        "\"mlp_only_layers\":[1]}", &c));
    CHECK_EQ_INT(awq_lset_count(&c, 0), 7 + 1 + 12 + 4);
    CHECK_EQ_INT(awq_lset_count(&c, 1), 7);
    round_trip(&c, 0);
    round_trip(&c, 1);
    /* the dense MLP is absent from the MoE layer, present in the dense one */
    CHECK(awq_lset_get(&c, 0, 4, &it) && !strcmp(it.name, "mlp.gate_proj") && !it.present);
    CHECK(awq_lset_get(&c, 1, 4, &it) && it.present && it.packed && it.n_out == 128);
    CHECK(awq_lset_get(&c, 0, 0, &it) && it.present && it.packed);
    CHECK(awq_lset_get(&c, 0, 7, &it) && it.role == AWQ_LSET_ROUTER && !it.packed &&
          !strcmp(it.name, "mlp.gate") && it.n_out == 4 && it.n_in == 64);
    int i = awq_lset_expert_index(&c, 2, 2);
    CHECK(awq_lset_get(&c, 0, i, &it) && it.role == AWQ_LSET_EXPERT && it.expert == 2 &&
          it.part == 2 && !strcmp(it.name, "mlp.experts.2.down_proj") && it.n_out == 64 &&
          it.n_in == 32 && it.packed);
    i = awq_lset_expert_index(&c, 4, 1);
    CHECK(awq_lset_get(&c, 0, i, &it) && it.role == AWQ_LSET_SHARED &&
          !strcmp(it.name, "mlp.shared_expert.up_proj") && it.n_out == 48 && it.packed);
    i = awq_lset_expert_index(&c, 4, 3);
    CHECK(awq_lset_get(&c, 0, i, &it) && it.role == AWQ_LSET_SHARED_GATE && !it.packed &&
          !strcmp(it.name, "mlp.shared_expert_gate") && it.n_out == 1);
    /* names that are not entries */
    CHECK_EQ_INT(awq_lset_find(&c, 0, "mlp.experts.4.up_proj"), -1);
    CHECK_EQ_INT(awq_lset_find(&c, 0, "mlp.experts.1.w1"), -1);
    CHECK_EQ_INT(awq_lset_find(&c, 0, "mlp.experts.x.up_proj"), -1);
    CHECK_EQ_INT(awq_lset_find(&c, 0, "mlp.experts.-1.up_proj"), -1);
    CHECK_EQ_INT(awq_lset_find(&c, 1, "mlp.gate"), -1);
    CHECK_EQ_INT(awq_lset_find(&c, 0, "mlp.gate_proj"), -1);
    /* Mixtral: w1 / w3 / w2 under block_sparse_moe, no shared expert */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"MixtralForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
        "\"vocab_size\":100,\"num_local_experts\":3}", &c));
    CHECK_EQ_INT(awq_lset_count(&c, 0), 7 + 1 + 9);
    round_trip(&c, 0);
    CHECK_EQ_INT(awq_lset_find(&c, 0, "block_sparse_moe.experts.2.w3"),
                 awq_lset_expert_index(&c, 2, 1));
    /* a dense model: the table */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"vocab_size\":100}", &c));
    CHECK_EQ_INT(awq_lset_count(&c, 0), 7);
    round_trip(&c, 0);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
