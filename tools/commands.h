/* tools/commands.h — the subcommand table (X-macro). One line per command:
 *   AWQ_CMD(name, "one-line summary")
 * Each command lives in tools/cmd_<name>.c and defines
 *   int awq_cmd_<name>(int argc, char **argv);   argv[0] is the command name
 * and prints its own --help to stdout. Keep the list in the order `awqkit
 * help` shows it. */
AWQ_CMD(quantize, "AWQ (or RTN) 4-bit quantization of an FP16/BF16 checkpoint")
AWQ_CMD(inspect, "list tensors, detect the checkpoint kind (fp16/AWQ/GPTQ), check config")
AWQ_CMD(count, "count parameters: stored, loaded and logical (packed weights unpacked)")
AWQ_CMD(size, "file size per format (AWQ, GPTQ, FP16, ...) and serving memory")
AWQ_CMD(synth, "write a synthetic Llama/Qwen checkpoint of any shape")
AWQ_CMD(tokenize, "run a tokenizer.json on text, or show what calibration data becomes")
AWQ_CMD(repack, "convert a packed checkpoint between AWQ GEMM/GEMV and GPTQ v1/v2, losslessly")
AWQ_CMD(verify, "check a packed checkpoint; with --against, parameter counts and per-linear error")
AWQ_CMD(ppl, "perplexity on a text file (WikiText-2 protocol), FP16 or quantized")
AWQ_CMD(audit, "quantize under a grid of configurations; report size, perplexity, KL, errors")
