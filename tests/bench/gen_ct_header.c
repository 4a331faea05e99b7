/* tests/bench/gen_ct_header.c — write a header-only (sparse) compressed-
 * tensors checkpoint shaped like Llama-3-70B W4A16 asymmetric, group 128, as
 * llm-compressor writes it (weight_packed I32 [N, K/8], weight_scale F16
 * [N, K/128], weight_zero_point I32 [N/8, K/128], weight_shape I64 [2]), in
 * 30 shards with an index, so that `awqkit count` can be timed on a 70B
 * checkpoint without 40 GB of data. The shard files are sparse: only the
 * headers hold bytes.
 *
 *   gen_ct_header OUTDIR
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { LAYERS = 80, HIDDEN = 8192, INTER = 28672, HEADS = 64, KV = 8, HEAD_DIM = 128,
       VOCAB = 128256, SHARDS = 30, GROUP = 128 };

typedef struct {
    char *buf;
    size_t len, cap;
    uint64_t off; /* data bytes so far */
} hdr;

static void put(hdr *h, const char *s) {
    size_t n = strlen(s);
    if (h->len + n + 1 > h->cap) {
        h->cap = (h->len + n + 1) * 2;
        h->buf = realloc(h->buf, h->cap);
        if (!h->buf) exit(1);
    }
    memcpy(h->buf + h->len, s, n + 1);
    h->len += n;
}

static void tensor(hdr *h, FILE *idx, int shard, const char *name, const char *dt, int esz,
                   int64_t a, int64_t b) {
    char s[512];
    uint64_t n = (uint64_t)a * (uint64_t)(b > 0 ? b : 1) * (uint64_t)esz;
    if (b > 0)
        snprintf(s, sizeof s, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}",
                 h->len > 1 ? "," : "", name, dt, (long long)a, (long long)b,
                 (unsigned long long)h->off, (unsigned long long)(h->off + n));
    else
        snprintf(s, sizeof s, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                 h->len > 1 ? "," : "", name, dt, (long long)a, (unsigned long long)h->off,
                 (unsigned long long)(h->off + n));
    put(h, s);
    h->off += n;
    static int first = 1;
    fprintf(idx, "%s\n    \"%s\": \"model-%05d-of-%05d.safetensors\"", first ? "" : ",", name,
            shard + 1, SHARDS);
    first = 0;
}

static void linear(hdr *h, FILE *idx, int shard, const char *mod, int64_t N, int64_t K) {
    char n[320];
    snprintf(n, sizeof n, "%s.weight_packed", mod);
    tensor(h, idx, shard, n, "I32", 4, N, K / 8);
    snprintf(n, sizeof n, "%s.weight_scale", mod);
    tensor(h, idx, shard, n, "F16", 2, N, K / GROUP);
    snprintf(n, sizeof n, "%s.weight_zero_point", mod);
    tensor(h, idx, shard, n, "I32", 4, N / 8, K / GROUP);
    snprintf(n, sizeof n, "%s.weight_shape", mod);
    tensor(h, idx, shard, n, "I64", 8, 2, 0);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_ct_header OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *idx = fopen(path, "w");
    if (!idx) return 1;
    fprintf(idx, "{\n  \"metadata\": {},\n  \"weight_map\": {");
    for (int s = 0; s < SHARDS; s++) {
        hdr h = {0};
        put(&h, "{");
        int l0 = s * LAYERS / SHARDS, l1 = (s + 1) * LAYERS / SHARDS;
        char m[256];
        if (s == 0) tensor(&h, idx, s, "model.embed_tokens.weight", "BF16", 2, VOCAB, HIDDEN);
        for (int l = l0; l < l1; l++) {
            static const struct { const char *n; int64_t N, K; } lin[] = {
                {"self_attn.q_proj", HEADS * HEAD_DIM, HIDDEN},
                {"self_attn.k_proj", KV * HEAD_DIM, HIDDEN},
                {"self_attn.v_proj", KV * HEAD_DIM, HIDDEN},
                {"self_attn.o_proj", HIDDEN, HEADS * HEAD_DIM},
                {"mlp.gate_proj", INTER, HIDDEN},
                {"mlp.up_proj", INTER, HIDDEN},
                {"mlp.down_proj", HIDDEN, INTER}};
            for (size_t j = 0; j < sizeof lin / sizeof lin[0]; j++) {
                snprintf(m, sizeof m, "model.layers.%d.%s", l, lin[j].n);
                linear(&h, idx, s, m, lin[j].N, lin[j].K);
            }
            snprintf(m, sizeof m, "model.layers.%d.input_layernorm.weight", l);
            tensor(&h, idx, s, m, "BF16", 2, HIDDEN, 0);
            snprintf(m, sizeof m, "model.layers.%d.post_attention_layernorm.weight", l);
            tensor(&h, idx, s, m, "BF16", 2, HIDDEN, 0);
        }
        if (s == SHARDS - 1) {
            tensor(&h, idx, s, "model.norm.weight", "BF16", 2, HIDDEN, 0);
            tensor(&h, idx, s, "lm_head.weight", "BF16", 2, VOCAB, HIDDEN);
        }
        put(&h, "}");
        while (h.len % 8) put(&h, " ");
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, SHARDS);
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
        uint64_t hl = h.len;
        unsigned char le[8];
        for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
        if (fd < 0 || write(fd, le, 8) != 8 || write(fd, h.buf, h.len) != (ssize_t)h.len ||
            ftruncate(fd, (off_t)(8 + h.len + h.off)) != 0 || close(fd) != 0)
            return 1;
        free(h.buf);
    }
    fprintf(idx, "\n  }\n}\n");
    fclose(idx);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *c = fopen(path, "w");
    if (!c) return 1;
    fprintf(c,
            "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":%d,"
            "\"intermediate_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
            "\"num_key_value_heads\":%d,\"vocab_size\":%d,\"tie_word_embeddings\":false,"
            "\"torch_dtype\":\"bfloat16\",\"quantization_config\":{\"quant_method\":"
            "\"compressed-tensors\",\"format\":\"pack-quantized\",\"config_groups\":{\"group_0\":"
            "{\"targets\":[\"Linear\"],\"weights\":{\"num_bits\":4,\"type\":\"int\",\"strategy\":"
            "\"group\",\"group_size\":%d,\"symmetric\":false}}},\"ignore\":[\"lm_head\"]}}\n",
            HIDDEN, INTER, LAYERS, HEADS, KV, VOCAB, GROUP);
    fclose(c);
    return 0;
}
