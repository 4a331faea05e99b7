/* tests/unit/test_config.c — config.json parsing and the architecture table,
 * checked against hand-written configs and the bundled model's config. */
#include "awq_test.h"
#include "core/core.h"

#include <cjson/cJSON.h>

static awq_status parse(awq_ctx *ctx, const char *json, awq_model_config *c) {
    cJSON *root = cJSON_Parse(json);
    if (!root) return AWQ_ERR_FORMAT;
    awq_status s = awq_model_config_from_json(ctx, root, "test/config.json", c);
    cJSON_Delete(root);
    return s;
}

static void test_bundled(awq_ctx *ctx) {
    char *buf;
    size_t n;
    CHECK_OK(ctx, awq_read_file(ctx, AWQ_TEST_DATA "/tiny-llama/config.json", 1 << 20, &buf, &n));
    awq_model_config c;
    CHECK_OK(ctx, parse(ctx, buf, &c));
    free(buf);
    CHECK(strcmp(c.architecture, "LlamaForCausalLM") == 0);
    CHECK(c.arch && strcmp(c.arch->model_type, "llama") == 0);
    CHECK_EQ_INT(c.hidden, 256);
    CHECK_EQ_INT(c.intermediate, 768);
    CHECK_EQ_INT(c.n_layers, 6);
    CHECK_EQ_INT(c.n_heads, 4);
    CHECK_EQ_INT(c.n_kv_heads, 2);
    CHECK_EQ_INT(c.head_dim, 64);
    CHECK_EQ_INT(c.vocab, 4096);
    CHECK_EQ_INT(c.max_pos, 2048);
    CHECK_NEAR(c.rms_eps, 1e-5, 0);
    CHECK_NEAR(c.rope_theta, 10000.0, 0);
    CHECK(!c.tie_word_embeddings);
    CHECK(!c.attention_bias);
    CHECK(c.torch_dtype == AWQ_DT_F16);
    CHECK(!c.quant.present);
    CHECK_EQ_INT(awq_model_dim(&c, AWQ_DIM_Q), 256);
    CHECK_EQ_INT(awq_model_dim(&c, AWQ_DIM_KV), 128);
    CHECK_EQ_INT(awq_model_dim(&c, AWQ_DIM_INTER), 768);
}

static void test_arch_table(void) {
    const awq_arch *a = awq_arch_find("LlamaForCausalLM");
    CHECK(a && a->n_linears == 7 && a->n_groups == 4);
    CHECK(strcmp(a->linears[AWQ_LIN_DOWN].name, "mlp.down_proj") == 0);
    CHECK(a->linears[AWQ_LIN_DOWN].in_dim == AWQ_DIM_INTER);
    /* group 0: input_layernorm -> q,k,v on the attention block */
    CHECK(strcmp(a->groups[0].prev_norm, "input_layernorm") == 0);
    CHECK(a->groups[0].n_linears == 3 && a->groups[0].block == AWQ_BLOCK_ATTN);
    /* group 1: v -> o only without GQA */
    CHECK(a->groups[1].prev_norm == NULL && a->groups[1].prev_linear == AWQ_LIN_V);
    CHECK(a->groups[1].cond == AWQ_GROUP_IF_SAME_SHAPE);
    CHECK(a->groups[3].prev_linear == AWQ_LIN_UP && a->groups[3].linears[0] == AWQ_LIN_DOWN);
    const awq_arch *q2 = awq_arch_find("Qwen2ForCausalLM");
    CHECK(q2 && q2->linears[AWQ_LIN_Q].bias && !q2->linears[AWQ_LIN_O].bias);
    const awq_arch *q3 = awq_arch_find("Qwen3ForCausalLM");
    CHECK(q3 && q3->qk_norm && !q3->linears[AWQ_LIN_Q].bias);
    CHECK(awq_arch_find("FalconForCausalLM") == NULL);
    const awq_arch *mx = awq_arch_find("MixtralForCausalLM");
    CHECK(mx && mx->moe && strcmp(mx->moe->expert_linears[0], "w1") == 0);
    CHECK(strstr(awq_arch_supported_list(), "Qwen3ForCausalLM") != NULL);
}

static void test_variants(awq_ctx *ctx) {
    awq_model_config c;
    /* Qwen2: biases on q/k/v by architecture, tied embeddings, bf16 */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":896,"
        "\"intermediate_size\":4864,\"num_hidden_layers\":24,\"num_attention_heads\":14,"
        "\"num_key_value_heads\":2,\"vocab_size\":151936,\"rms_norm_eps\":1e-6,"
        "\"rope_theta\":1000000.0,\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\"}", &c));
    CHECK(c.attention_bias && c.tie_word_embeddings && c.torch_dtype == AWQ_DT_BF16);
    CHECK_EQ_INT(c.head_dim, 64);
    /* VL: text fields under text_config (newer transformers), rope mrope */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Qwen2_5_VLForConditionalGeneration\"],\"model_type\":\"qwen2_5_vl\","
        "\"tie_word_embeddings\":true,\"vision_config\":{\"depth\":32},"
        "\"text_config\":{\"hidden_size\":2048,\"intermediate_size\":11008,\"num_hidden_layers\":36,"
        "\"num_attention_heads\":16,\"num_key_value_heads\":2,\"vocab_size\":151936,"
        "\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[16,24,24]}}}", &c));
    CHECK(c.arch && c.arch->is_vl);
    CHECK_EQ_INT(c.hidden, 2048);
    CHECK_EQ_INT(c.n_layers, 36);
    CHECK(c.rope.type == AWQ_ROPE_DEFAULT);
    /* llama3 rope scaling + quantization_config */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
        "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192},"
        "\"quantization_config\":{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":128,"
        "\"zero_point\":true,\"version\":\"GEMM\"}}", &c));
    CHECK(c.rope.type == AWQ_ROPE_LLAMA3 && c.rope.factor == 8.0 && c.rope.original_max_pos == 8192);
    CHECK(c.n_kv_heads == 4); /* defaults to n_heads */
    CHECK(!c.tie_word_embeddings); /* absent: LlamaConfig's default, false */
    CHECK(c.quant.present && c.quant.bits == 4 && c.quant.group_size == 128);
    CHECK(strcmp(c.quant.version, "gemm") == 0 && c.quant.zero_point);
    /* yarn with DeepSeek's mscale pair and truncate false */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":40,\"mscale\":0.707,"
        "\"mscale_all_dim\":1.0,\"truncate\":false,\"original_max_position_embeddings\":4096}}",
        &c));
    CHECK(c.rope.type == AWQ_ROPE_YARN && c.rope.factor == 40 && c.rope.mscale == 0.707 &&
          c.rope.mscale_all_dim == 1.0 && c.rope.no_truncate && c.rope.attention_factor == 0);
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}", &c));
    CHECK(c.rope.type == AWQ_ROPE_YARN && !c.rope.no_truncate && c.rope.mscale == 0);
    CHECK_FAILS(ctx, parse(ctx,
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4,\"truncate\":\"no\"}}", &c),
        AWQ_ERR_FORMAT, "truncate");
    /* transformers 5 layout: rope_parameters holds theta and the type */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2.0,\"rope_theta\":500000.0}}", &c));
    CHECK(c.rope.type == AWQ_ROPE_LINEAR && c.rope.factor == 2.0);
    CHECK_NEAR(c.rope_theta, 500000.0, 0);
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":1000000.0}}", &c));
    CHECK(c.rope.type == AWQ_ROPE_DEFAULT);
    CHECK_NEAR(c.rope_theta, 1000000.0, 0);
    /* MoE flagged */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"MixtralForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"num_local_experts\":8}", &c));
    CHECK(c.is_moe && c.arch && c.arch->moe);
    /* Mixtral defaults: top-2, always renormalized, every layer sparse */
    CHECK(c.n_experts == 8 && c.n_experts_per_tok == 2 && c.norm_topk_prob);
    CHECK(c.moe_intermediate == 128 && awq_model_layer_moe(&c, 0) && awq_model_layer_moe(&c, 1));
    /* Qwen3-MoE in the Hub's spelling; decoder_sparse_step 2 and
     * mlp_only_layers pick the sparse layers */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":6,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"num_experts\":16,\"num_experts_per_tok\":4,\"moe_intermediate_size\":32,"
        "\"decoder_sparse_step\":2,\"mlp_only_layers\":[3]}", &c));
    CHECK(c.n_experts == 16 && c.n_experts_per_tok == 4 && c.moe_intermediate == 32);
    CHECK(!c.norm_topk_prob && c.shared_intermediate == 0);
    CHECK(!awq_model_layer_moe(&c, 0) && awq_model_layer_moe(&c, 1) &&
          !awq_model_layer_moe(&c, 3) && awq_model_layer_moe(&c, 5));
    CHECK_FAILS(ctx, parse(ctx,
        "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":128,"
        "\"num_hidden_layers\":6,\"num_attention_heads\":4,\"vocab_size\":100,"
        "\"num_experts\":0}", &c), AWQ_ERR_FORMAT, "\"num_experts\" = 0, must be >= 1");
}

static void test_errors(awq_ctx *ctx) {
    awq_model_config c;
    CHECK_FAILS(ctx, parse(ctx, "{\"hidden_size\":64}", &c), AWQ_ERR_FORMAT,
                "missing required field \"num_hidden_layers\"");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"hidden_size\":64.5,\"intermediate_size\":1,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":1,\"vocab_size\":1}", &c), AWQ_ERR_FORMAT,
        "\"hidden_size\" must be an integer");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"hidden_size\":64,\"intermediate_size\":1,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":4,\"num_key_value_heads\":3,\"vocab_size\":1}", &c),
        AWQ_ERR_FORMAT, "not a multiple of num_key_value_heads");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"hidden_size\":-64,\"intermediate_size\":1,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":4,\"vocab_size\":1}", &c), AWQ_ERR_FORMAT, "must be >= 1");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"hidden_size\":64,\"intermediate_size\":1,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":4,\"vocab_size\":1,\"rope_scaling\":{\"type\":\"dynamic\"}}", &c),
        AWQ_ERR_UNSUPPORTED, "dynamic");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"hidden_size\":64,\"intermediate_size\":1,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":4,\"vocab_size\":1,\"quantization_config\":{\"bits\":\"4\"}}", &c),
        AWQ_ERR_FORMAT, "quantization_config.bits");
    CHECK_FAILS(ctx, parse(ctx, "[1,2]", &c), AWQ_ERR_FORMAT, "not a JSON object");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"hidden_size\":100,\"intermediate_size\":1,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":3,\"vocab_size\":1}", &c), AWQ_ERR_FORMAT, "not divisible");
}

/* Issue 13 class 7: fields that change the math are read or refused. */
static void test_math_fields(awq_ctx *ctx) {
    awq_model_config c;
#define LLAMA_CFG(extra)                                                                   \
    "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"                       \
    "\"intermediate_size\":128,\"num_hidden_layers\":1,\"num_attention_heads\":4,"        \
    "\"vocab_size\":16" extra "}"
    /* hidden_act: absent = silu; each supported name; unknown refused naming
     * the field and the value */
    CHECK_OK(ctx, parse(ctx, LLAMA_CFG(""), &c));
    CHECK(c.act == AWQ_ACT_SILU && strcmp(c.act_name, "silu") == 0);
    CHECK_OK(ctx, parse(ctx, LLAMA_CFG(",\"hidden_act\":\"gelu\""), &c));
    CHECK(c.act == AWQ_ACT_GELU);
    CHECK_OK(ctx, parse(ctx, LLAMA_CFG(",\"hidden_act\":\"gelu_pytorch_tanh\""), &c));
    CHECK(c.act == AWQ_ACT_GELU_TANH);
    CHECK_OK(ctx, parse(ctx, LLAMA_CFG(",\"hidden_act\":\"gelu_new\""), &c));
    CHECK(c.act == AWQ_ACT_GELU_TANH);
    CHECK_OK(ctx, parse(ctx, LLAMA_CFG(",\"hidden_act\":\"swish\""), &c));
    CHECK(c.act == AWQ_ACT_SILU);
    CHECK_FAILS(ctx, parse(ctx, LLAMA_CFG(",\"hidden_act\":\"slu\""), &c), AWQ_ERR_UNSUPPORTED,
                "hidden_act \"slu\" is not supported");
    CHECK_FAILS(ctx, parse(ctx, LLAMA_CFG(",\"hidden_act\":\"relu\""), &c), AWQ_ERR_UNSUPPORTED,
                "hidden_act \"relu\"");
    CHECK_FAILS(ctx, parse(ctx, LLAMA_CFG(",\"hidden_act\":3"), &c), AWQ_ERR_FORMAT,
                "\"hidden_act\" must be a string");
    /* an unsupported architecture keeps the name (count/size still work) */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"OPTForCausalLM\"],\"hidden_size\":64,\"intermediate_size\":1,"
        "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"vocab_size\":1,"
        "\"hidden_act\":\"relu\"}", &c));
    CHECK(strcmp(c.act_name, "relu") == 0);
    CHECK(strcmp(awq_act_name(AWQ_ACT_GELU_TANH), "gelu_pytorch_tanh") == 0);

    /* llama3 rope: each required key missing is refused by name */
    static const char *const keys[] = {"factor", "low_freq_factor", "high_freq_factor",
                                       "original_max_position_embeddings"};
    for (int miss = 0; miss < 4; miss++) {
        char js[1024], rs[512];
        size_t pos = (size_t)snprintf(rs, sizeof rs, "{\"rope_type\":\"llama3\"");
        static const char *const vals[] = {"8.0", "1.0", "4.0", "8192"};
        for (int k = 0; k < 4; k++)
            if (k != miss)
                pos += (size_t)snprintf(rs + pos, sizeof rs - pos, ",\"%s\":%s", keys[k],
                                        vals[k]);
        snprintf(rs + pos, sizeof rs - pos, "}");
        snprintf(js, sizeof js,
                 "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                 "\"intermediate_size\":128,\"num_hidden_layers\":1,"
                 "\"num_attention_heads\":4,\"vocab_size\":16,\"rope_scaling\":%s}", rs);
        char want[128];
        snprintf(want, sizeof want, "lacks the required key \"%s\"", keys[miss]);
        CHECK_FAILS(ctx, parse(ctx, js, &c), AWQ_ERR_FORMAT, want);
    }
    /* linear needs its factor too */
    CHECK_FAILS(ctx, parse(ctx, LLAMA_CFG(",\"rope_scaling\":{\"rope_type\":\"linear\"}"), &c),
                AWQ_ERR_FORMAT, "lacks the required key \"factor\"");
    /* transformers 5 layout: the same keys inside rope_parameters */
    CHECK_FAILS(ctx, parse(ctx, LLAMA_CFG(",\"rope_parameters\":{\"rope_type\":\"llama3\","
                                          "\"rope_theta\":500000.0,\"factor\":8.0}"), &c),
                AWQ_ERR_FORMAT, "\"low_freq_factor\"");
#undef LLAMA_CFG
}

/* The new families' fields: Gemma 3 in the 4.x layout found on the Hub,
 * Gemma 2 defaults, Phi-3's fused linears, refusals. */
static void test_new_families(awq_ctx *ctx) {
    awq_model_config c;
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Gemma3ForConditionalGeneration\"],\"model_type\":\"gemma3\","
        "\"text_config\":{\"hidden_size\":2560,\"intermediate_size\":10240,"
        "\"num_hidden_layers\":34,\"num_attention_heads\":8,\"num_key_value_heads\":4,"
        "\"head_dim\":256,\"vocab_size\":262208,\"rope_theta\":1000000.0,"
        "\"rope_local_base_freq\":10000.0,\"rope_scaling\":{\"factor\":8.0,"
        "\"rope_type\":\"linear\"},\"sliding_window\":1024,\"sliding_window_pattern\":6,"
        "\"query_pre_attn_scalar\":256,\"model_type\":\"gemma3_text\"}}", &c));
    CHECK(c.arch && c.arch->is_vl && c.arch->sandwich_norms && c.arch->norm_offset == 1.0f);
    CHECK(c.act == AWQ_ACT_GELU_TANH && c.tie_word_embeddings);
    CHECK(c.rope.type == AWQ_ROPE_LINEAR && c.rope.factor == 8.0);
    CHECK_NEAR(c.rope_theta, 1e6, 0);
    CHECK_NEAR(c.rope_local_theta, 1e4, 0);
    CHECK(c.attn_softcap == 0 && c.final_softcap == 0 && c.sliding_window == 1024);
    /* pattern 6: layers 5, 11, ... are global */
    CHECK(awq_model_layer_sliding(&c, 0) && awq_model_layer_sliding(&c, 4));
    CHECK(!awq_model_layer_sliding(&c, 5) && !awq_model_layer_sliding(&c, 11));
    CHECK(awq_model_layer_sliding(&c, 33));
    /* Gemma 2 with nothing but the dimensions: transformers' defaults */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Gemma2ForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":4,\"num_attention_heads\":4,"
        "\"head_dim\":16,\"vocab_size\":16}", &c));
    CHECK(c.attn_softcap == 50.0 && c.final_softcap == 30.0 && c.query_pre_attn_scalar == 256);
    CHECK(c.sliding_window == 4096 && awq_model_layer_sliding(&c, 0) &&
          !awq_model_layer_sliding(&c, 1) && awq_model_layer_sliding(&c, 2));
    /* explicit null = no soft-capping */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Gemma2ForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"vocab_size\":16,\"attn_logit_softcapping\":null,\"final_logit_softcapping\":null}",
        &c));
    CHECK(c.attn_softcap == 0 && c.final_softcap == 0);
    CHECK_FAILS(ctx, parse(ctx,
        "{\"architectures\":[\"Gemma2ForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"vocab_size\":16,\"layer_types\":[\"full_attention\",\"chunked_attention\"]}", &c),
        AWQ_ERR_UNSUPPORTED, "layer_types[1] \"chunked_attention\"");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"architectures\":[\"Gemma2ForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"vocab_size\":16,\"layer_types\":[\"full_attention\"]}", &c),
        AWQ_ERR_FORMAT, "layer_types");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"architectures\":[\"Gemma2ForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"vocab_size\":16,\"hidden_activation\":\"gelu_fast\"}", &c),
        AWQ_ERR_UNSUPPORTED, "hidden_activation \"gelu_fast\"");
    /* sliding windows of the other families, as transformers 5 sets them */
#define WCFG(arch, extra)                                                                  \
    "{\"architectures\":[\"" arch "\"],\"hidden_size\":64,\"intermediate_size\":128,"      \
    "\"num_hidden_layers\":4,\"num_attention_heads\":4,\"vocab_size\":16" extra "}"
    CHECK_OK(ctx, parse(ctx, WCFG("MistralForCausalLM", ",\"sliding_window\":4096"), &c));
    CHECK(c.sliding_window == 4096 && awq_model_layer_sliding(&c, 0) &&
          awq_model_layer_sliding(&c, 3));
    CHECK_OK(ctx, parse(ctx, WCFG("MistralForCausalLM", ",\"sliding_window\":null"), &c));
    CHECK(c.sliding_window == 0 && !awq_model_layer_sliding(&c, 0));
    /* Qwen2: only with use_sliding_window, from max_window_layers on */
    CHECK_OK(ctx, parse(ctx, WCFG("Qwen2ForCausalLM", ",\"sliding_window\":64"), &c));
    CHECK(!awq_model_layer_sliding(&c, 3));
    CHECK_OK(ctx, parse(ctx, WCFG("Qwen2ForCausalLM", ",\"sliding_window\":64,"
                                  "\"use_sliding_window\":true,\"max_window_layers\":2"), &c));
    CHECK(!awq_model_layer_sliding(&c, 1) && awq_model_layer_sliding(&c, 2) &&
          awq_model_layer_sliding(&c, 3) && c.sliding_window == 64);
    CHECK_OK(ctx, parse(ctx, WCFG("Phi3ForCausalLM", ",\"sliding_window\":2047"), &c));
    CHECK(c.sliding_window == 2047 && awq_model_layer_sliding(&c, 2));
#undef WCFG
    /* Phi-3: fused linears; Phi-4-mini's partial rotary refused */
    CHECK_OK(ctx, parse(ctx,
        "{\"architectures\":[\"Phi3ForCausalLM\"],\"hidden_size\":3072,"
        "\"intermediate_size\":8192,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":32,\"vocab_size\":32064,\"hidden_act\":\"silu\"}", &c));
    const awq_arch *a = c.arch;
    CHECK(a && a->n_linears == 4 && !c.tie_word_embeddings);
    int qkv = awq_arch_linear_of(a, AWQ_LIN_KIND_QKV), gu = awq_arch_linear_of(a, AWQ_LIN_KIND_GATE_UP);
    CHECK(qkv == 0 && gu == 2 && awq_arch_linear_of(a, AWQ_LIN_KIND_Q) == -1);
    CHECK_EQ_INT(awq_model_dim(&c, a->linears[qkv].out_dim), 3 * 3072);
    CHECK_EQ_INT(awq_model_dim(&c, a->linears[gu].out_dim), 2 * 8192);
    CHECK(awq_arch_linear_is_attn(a, qkv) && !awq_arch_linear_is_attn(a, gu));
    CHECK(a->groups[1].prev_linear == qkv && a->groups[1].cond == AWQ_GROUP_IF_NO_GQA);
    CHECK_FAILS(ctx, parse(ctx,
        "{\"architectures\":[\"Phi3ForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"vocab_size\":16,\"partial_rotary_factor\":0.75}", &c),
        AWQ_ERR_UNSUPPORTED, "partial_rotary_factor 0.75");
    CHECK_FAILS(ctx, parse(ctx,
        "{\"architectures\":[\"Phi3ForCausalLM\"],\"hidden_size\":64,"
        "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"vocab_size\":16,\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[1],"
        "\"long_factor\":[1]}}", &c), AWQ_ERR_UNSUPPORTED, "longrope");
}

int main(void) {
    awq_ctx *ctx = awq_test_ctx(1);
    test_bundled(ctx);
    test_arch_table();
    test_variants(ctx);
    test_errors(ctx);
    test_math_fields(ctx);
    test_new_families(ctx);
    awq_ctx_free(ctx);
    return awq_test_summary();
}
