/* tools/commands.h — the subcommand table (X-macro). One line per command:
 *   AWQ_CMD(name, "one-line summary")
 * Each command lives in tools/cmd_<name>.c and defines
 *   int awq_cmd_<name>(int argc, char **argv);   argv[0] is the command name
 * and prints its own --help to stdout. Keep the list in the order `awqkit
 * help` shows it. */
