/* tools/awqkit.c — the `awqkit` program: dispatch to subcommands. */
#include "cli.h"

#include <string.h>

typedef struct {
    const char *name;
    const char *summary;
    int (*fn)(int, char **);
} command;

static const command k_commands[] = {
#define AWQ_CMD(n, s) {#n, s, awq_cmd_##n},
#include "commands.h"
#undef AWQ_CMD
};

static void usage(FILE *f) {
    fprintf(f,
            "awqkit %s — AWQ 4-bit quantization for Hugging Face checkpoints\n\n"
            "Usage: awqkit COMMAND [options] ...\n"
            "       awqkit COMMAND --help     options of one command\n\n"
            "Commands:\n",
            awq_version());
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(f, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "this list, or `awqkit help COMMAND`");
    fprintf(f,
            "\nA MODEL is a Hugging Face model directory (config.json plus\n"
            "model.safetensors or sharded model-*.safetensors with an index), a\n"
            "single .safetensors file, or a Hub id org/name[@revision] already in the\n"
            "local Hugging Face cache (HF_HUB_CACHE, HF_HOME or ~/.cache/huggingface;\n"
            "awqkit never downloads: `hf download org/name` first).\n\n"
            "Examples:\n"
            "  awqkit count data/tiny-llama\n"
            "  awqkit inspect data/tiny-llama --json\n"
            "  awqkit size --params 70.6e9 --format awq\n");
}

static const command *find(const char *name) {
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (strcmp(k_commands[i].name, name) == 0) return &k_commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return AWQ_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "--version") == 0 || strcmp(c, "version") == 0) {
        printf("awqkit %s\n", awq_version());
        return AWQ_EXIT_OK;
    }
    if (strcmp(c, "help") == 0 || awq_cli_is_help(c)) {
        if (argc > 2 && strcmp(c, "help") == 0) {
            const command *cmd = find(argv[2]);
            if (!cmd) awq_cli_usage_error("unknown command '%s'", argv[2]);
            char *hargv[] = {argv[2], "--help", NULL};
            awq_cli_cmd = cmd->name;
            return cmd->fn(2, hargv);
        }
        usage(stdout);
        return AWQ_EXIT_OK;
    }
    const command *cmd = find(c);
    if (!cmd) awq_cli_usage_error("unknown command '%s'", c);
    awq_cli_cmd = cmd->name;
    return cmd->fn(argc - 1, argv + 1);
}
