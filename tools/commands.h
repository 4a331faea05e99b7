/* tools/commands.h — the subcommand table (X-macro). One line per command:
 *   AWQ_CMD(name, "one-line summary")
 * Each command lives in tools/cmd_<name>.c and defines
 *   int awq_cmd_<name>(int argc, char **argv);   argv[0] is the command name
 * and prints its own --help to stdout. Keep the list in the order `awqkit
 * help` shows it. */
AWQ_CMD(inspect, "list tensors and detect the checkpoint's format")
AWQ_CMD(count, "count stored, loaded and logical parameters")
AWQ_CMD(size, "file size and serving memory per quantization format")
AWQ_CMD(synth, "write a random checkpoint of a given architecture/shape")
