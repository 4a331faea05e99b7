/* tools/cmd_tokenize.c — `awqkit tokenize`: run a model's tokenizer.json on
 * a text, or show what calibration data becomes (AutoAWQ's recipe). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static void usage(FILE *f) {
    fprintf(f,
            "Usage: awqkit tokenize TOKENIZER [--text FILE | --string TEXT] [--add-special] [--json]\n"
            "       awqkit tokenize TOKENIZER --calib FILE [--text-field F] [--format F]\n"
            "                       [--samples N] [--seqlen N] [--shuffle] [--seed N]\n"
            "                       [--no-special] [--save FILE] [--json]\n"
            "       awqkit tokenize TOKENIZER --calib-tokens FILE [--seqlen N] [--json]\n\n"
            "TOKENIZER is a model directory holding tokenizer.json (tokenizer_config.json\n"
            "beside it is read too) or a tokenizer.json file. Supported: BPE tokenizers,\n"
            "byte-level (GPT-2, GPT-NeoX, Qwen2/2.5/3, Llama-3, SmolLM) and SentencePiece-\n"
            "style (Llama-2, Mistral, TinyLlama); anything else is refused by name.\n"
            "Without --text / --string / --calib: print what the tokenizer is.\n\n"
            "Text mode:\n"
            "  --text FILE      tokenize the whole file as one text ('-' = stdin); every\n"
            "                   byte counts, newlines included\n"
            "  --string TEXT    tokenize TEXT\n"
            "  --add-special    add the BOS/EOS tokens the tokenizer's post-processor and\n"
            "                   tokenizer_config.json (add_bos_token/add_eos_token) ask for\n"
            "  Output: the ids on one line, separated by spaces. --json: the tokens with\n"
            "  their vocabulary strings and decoded text, and the counts.\n\n"
            "Calibration mode (what `awqkit quantize --calib FILE` will feed the model):\n"
            "  --calib FILE     plain text (documents separated by blank lines) or JSON\n"
            "                   Lines (*.jsonl), optionally zstd-compressed (*.zst)\n"
            "  --text-field F   JSONL field holding the text (default: text)\n"
            "  --format F       auto (by file name, default), text or jsonl\n"
            "  --samples N      documents to keep (default 128)\n"
            "  --seqlen N       tokens per block (default 512)\n"
            "  --shuffle        shuffle the documents first (deterministic, --seed N,\n"
            "                   default 42); default: file order\n"
            "  --no-special     encode documents without BOS/EOS (AutoAWQ adds them)\n"
            "  --save FILE      write the block ids, one block per line, for\n"
            "                   `awqkit quantize --calib-tokens FILE`\n"
            "  The recipe is AutoAWQ's: each document stripped of surrounding whitespace\n"
            "  and encoded; documents longer than seqlen tokens or empty are skipped; the\n"
            "  first N kept are concatenated and cut into blocks of seqlen, the tail\n"
            "  dropped. Prints documents read / kept / skipped, tokens and blocks.\n\n"
            "Pre-tokenized calibration data:\n"
            "  --calib-tokens FILE  check a token-id file as `awqkit quantize --calib-tokens`\n"
            "                   reads it: whitespace-separated ids, or a .npy int32/int64\n"
            "                   array (1-D or 2-D); every id must be in the vocabulary;\n"
            "                   all ids are cut into blocks of --seqlen\n\n");
    awq_cli_print_common_help(f);
    fprintf(f,
            "\nExamples:\n"
            "  awqkit tokenize data/tiny-llama --string 'Hello world'\n"
            "  awqkit tokenize data/tiny-llama --text data/text/wiki.test.raw --json | head\n"
            "  awqkit tokenize Llama-2-7b-hf --string 'Hello' --add-special\n"
            "  awqkit tokenize data/tiny-llama --calib data/text/calib-wikitext2-valid.jsonl.zst\n"
            "  awqkit tokenize MODEL --calib my.txt --seqlen 2048 --samples 64 --save calib.ids\n"
            "  awqkit tokenize MODEL --calib-tokens calib.ids --seqlen 2048\n");
}

static char *read_stdin(size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    if (!b) awq_cli_fail("out of memory reading stdin");
    for (;;) {
        if (len == cap) {
            if (cap > AWQ_TEXT_MAX_BYTES) awq_cli_fail("stdin: text larger than %zu bytes", (size_t)AWQ_TEXT_MAX_BYTES);
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) awq_cli_fail("out of memory reading stdin");
            b = nb;
        }
        size_t got = fread(b + len, 1, cap - len, stdin);
        len += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) awq_cli_fail("read error on stdin");
    *n = len;
    return b;
}

static void print_info(awq_tokenizer *tok, const char *path, bool json) {
    size_t np, ns;
    const int32_t *pre = awq_tokenizer_special_prefix(tok, &np);
    const int32_t *suf = awq_tokenizer_special_suffix(tok, &ns);
    int32_t bos = awq_tokenizer_bos_id(tok), eos = awq_tokenizer_eos_id(tok);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tokenizer", path);
        cJSON_AddStringToObject(o, "description", awq_tokenizer_describe(tok));
        cJSON_AddNumberToObject(o, "vocab_size", awq_tokenizer_vocab_size(tok));
        cJSON_AddNumberToObject(o, "bos_id", bos);
        cJSON_AddNumberToObject(o, "eos_id", eos);
        cJSON *a = cJSON_AddArrayToObject(o, "special_prefix");
        for (size_t i = 0; i < np; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(pre[i]));
        a = cJSON_AddArrayToObject(o, "special_suffix");
        for (size_t i = 0; i < ns; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(suf[i]));
        awq_cli_print_json(o);
        cJSON_Delete(o);
        return;
    }
    printf("%s: %s\n", path, awq_tokenizer_describe(tok));
    const char *bs = awq_tokenizer_token_str(tok, bos), *es = awq_tokenizer_token_str(tok, eos);
    printf("  bos %d %s, eos %d %s\n", bos, bs ? bs : "(none)", eos, es ? es : "(none)");
    printf("  --add-special adds:");
    for (size_t i = 0; i < np; i++) printf(" %d", pre[i]);
    printf(" <text>");
    for (size_t i = 0; i < ns; i++) printf(" %d", suf[i]);
    printf("\n");
}

static void text_mode(awq_ctx *ctx, awq_tokenizer *tok, const char *tok_path, const char *file,
                      const char *str, bool add_special, bool json) {
    char *buf = NULL;
    size_t n = 0;
    const char *what = file ? file : "--string";
    if (str) {
        n = strlen(str);
    } else if (strcmp(file, "-") == 0) {
        buf = read_stdin(&n);
        what = "stdin";
    } else {
        awq_status s = awq_read_file(ctx, file, AWQ_TEXT_MAX_BYTES, &buf, &n);
        if (s != AWQ_OK) awq_cli_fail_status(ctx, s, file);
    }
    const char *text = str ? str : buf;
    int32_t *ids = NULL;
    size_t m = 0;
    double t0 = awq_cli_now();
    awq_status s = awq_tokenizer_encode(tok, text ? text : "", n, add_special, &ids, &m);
    double el = awq_cli_now() - t0;
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, what);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tokenizer", tok_path);
        cJSON_AddStringToObject(o, "input", what);
        cJSON_AddNumberToObject(o, "n_bytes", (double)n);
        cJSON_AddNumberToObject(o, "n_tokens", (double)m);
        cJSON_AddBoolToObject(o, "add_special", add_special);
        cJSON_AddNumberToObject(o, "seconds", el);
        cJSON *arr = cJSON_AddArrayToObject(o, "tokens");
        for (size_t i = 0; i < m; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddNumberToObject(t, "id", ids[i]);
            const char *ts = awq_tokenizer_token_str(tok, ids[i]);
            cJSON_AddStringToObject(t, "token", ts ? ts : "");
            char *dec = NULL;
            if (awq_tokenizer_decode(tok, ids + i, 1, false, &dec, NULL) == AWQ_OK)
                cJSON_AddStringToObject(t, "text", dec);
            awq_free(dec);
            cJSON_AddItemToArray(arr, t);
        }
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        for (size_t i = 0; i < m; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        awq_log(ctx, AWQ_LOG_INFO, "%s: %zu bytes -> %zu tokens in %.3f s", what, n, m, el);
    }
    awq_free(ids);
    free(buf);
}

static void save_blocks(awq_ctx *ctx, const awq_calib_blocks *b, const char *path) {
    awq_strbuf sb;
    awq_sb_init(&sb);
    for (int64_t r = 0; r < b->n_blocks; r++) {
        for (int32_t c = 0; c < b->seqlen; c++)
            awq_sb_printf(&sb, c ? " %d" : "%d", b->ids[r * b->seqlen + c]);
        awq_sb_append(&sb, "\n", 1);
    }
    if (sb.oom) awq_cli_fail("out of memory writing %s", path);
    awq_status s = awq_write_file_atomic(ctx, path, sb.s ? sb.s : "", sb.len);
    awq_sb_free(&sb);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
}

static void calib_mode(awq_ctx *ctx, awq_tokenizer *tok, const char *tok_path,
                       const awq_calib_params *p, const char *save, bool json) {
    awq_calib_blocks *b = NULL;
    double t0 = awq_cli_now();
    awq_status s = awq_calib_build(ctx, tok, p, &b);
    double el = awq_cli_now() - t0;
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, "calibration");
    if (save) save_blocks(ctx, b, save);
    const awq_calib_stats *st = &b->stats;
    /* from the one read of the file (a pipe cannot be opened again) */
    const char *fmt = st->format == AWQ_TEXT_JSONL ? "jsonl" : "text";
    bool zst = st->compressed;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tokenizer", tok_path);
        cJSON_AddStringToObject(o, "calib", p->path);
        cJSON_AddStringToObject(o, "format", fmt);
        cJSON_AddBoolToObject(o, "zstd", zst);
        cJSON_AddNumberToObject(o, "n_samples", p->n_samples);
        cJSON_AddNumberToObject(o, "seqlen", p->seqlen);
        cJSON_AddBoolToObject(o, "add_special", p->add_special);
        cJSON_AddBoolToObject(o, "shuffle", p->shuffle);
        if (p->shuffle) cJSON_AddNumberToObject(o, "seed", (double)p->seed);
        cJSON_AddNumberToObject(o, "docs_read", (double)st->docs_read);
        cJSON_AddNumberToObject(o, "docs_kept", (double)st->docs_kept);
        cJSON_AddNumberToObject(o, "docs_empty", (double)st->docs_empty);
        cJSON_AddNumberToObject(o, "docs_too_long", (double)st->docs_too_long);
        cJSON_AddNumberToObject(o, "tokens", (double)st->tokens);
        cJSON_AddNumberToObject(o, "blocks", (double)st->blocks);
        cJSON_AddNumberToObject(o, "tokens_dropped", (double)st->tokens_dropped);
        cJSON_AddNumberToObject(o, "seconds", el);
        if (save) cJSON_AddStringToObject(o, "saved", save);
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("calibration data %s (%s%s), tokenizer %s\n", p->path, fmt, zst ? ", zstd" : "",
               tok_path);
        printf("  documents read   %llu%s\n", (unsigned long long)st->docs_read,
               p->shuffle ? " (shuffled)" : "");
        printf("  documents kept   %llu of %d wanted (skipped: %llu empty, %llu longer than %d "
               "tokens)\n",
               (unsigned long long)st->docs_kept, p->n_samples, (unsigned long long)st->docs_empty,
               (unsigned long long)st->docs_too_long, p->seqlen);
        size_t np = 0, ns = 0;
        awq_tokenizer_special_prefix(tok, &np);
        awq_tokenizer_special_suffix(tok, &ns);
        printf("  tokens           %llu (%zu special token%s per document)\n",
               (unsigned long long)st->tokens, p->add_special ? np + ns : 0,
               p->add_special && np + ns == 1 ? "" : "s");
        printf("  blocks           %llu x %d tokens (%llu tail tokens dropped)\n",
               (unsigned long long)st->blocks, p->seqlen, (unsigned long long)st->tokens_dropped);
        if (save) printf("  saved            %s\n", save);
    }
    awq_calib_blocks_free(b);
}

static void tokens_mode(awq_ctx *ctx, awq_tokenizer *tok, const char *file, int seqlen,
                        bool json) {
    awq_calib_blocks *b = NULL;
    awq_status s = awq_calib_from_token_file(ctx, file, awq_tokenizer_vocab_size(tok), seqlen, &b);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, "--calib-tokens");
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "calib_tokens", file);
        cJSON_AddNumberToObject(o, "vocab_size", awq_tokenizer_vocab_size(tok));
        cJSON_AddNumberToObject(o, "seqlen", seqlen);
        cJSON_AddNumberToObject(o, "tokens", (double)b->stats.tokens);
        cJSON_AddNumberToObject(o, "blocks", (double)b->stats.blocks);
        cJSON_AddNumberToObject(o, "tokens_dropped", (double)b->stats.tokens_dropped);
        awq_cli_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("token ids %s: %llu ids, all below the vocabulary size %d\n", file,
               (unsigned long long)b->stats.tokens, awq_tokenizer_vocab_size(tok));
        printf("  blocks           %llu x %d tokens (%llu tail tokens dropped)\n",
               (unsigned long long)b->stats.blocks, seqlen,
               (unsigned long long)b->stats.tokens_dropped);
    }
    awq_calib_blocks_free(b);
}

int awq_cmd_tokenize(int argc, char **argv) {
    awq_cli_common c = {0};
    const char *path = NULL, *text_file = NULL, *str = NULL, *calib = NULL, *field = NULL;
    const char *format = NULL, *save = NULL, *tokens = NULL;
    bool add_special = false, shuffle = false, no_special = false;
    long long samples = 128, seqlen = 512, seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (awq_cli_is_help(a)) {
            usage(stdout);
            return AWQ_EXIT_OK;
        }
        if (awq_cli_opt_common(argc, argv, &i, &c)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--text", &text_file)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--string", &str)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--calib-tokens", &tokens)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--calib", &calib)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--text-field", &field)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--format", &format)) continue;
        if (awq_cli_opt_str(argc, argv, &i, "--save", &save)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--samples", 1, 100000000, &samples)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--seqlen", 1, 1 << 20, &seqlen)) continue;
        if (awq_cli_opt_int(argc, argv, &i, "--seed", 0, INT64_MAX, &seed)) continue;
        if (strcmp(a, "--add-special") == 0) {
            add_special = true;
            continue;
        }
        if (strcmp(a, "--no-special") == 0) {
            no_special = true;
            continue;
        }
        if (strcmp(a, "--shuffle") == 0) {
            shuffle = true;
            continue;
        }
        awq_cli_positional(a, &path, "tokenize takes one TOKENIZER");
    }
    if (!path)
        awq_cli_usage_error("missing TOKENIZER (a model directory with tokenizer.json, or the file)");
    path = awq_cli_model(path);
    int modes = (text_file != NULL) + (str != NULL) + (calib != NULL) + (tokens != NULL);
    if (modes > 1)
        awq_cli_usage_error("--text, --string, --calib and --calib-tokens are alternatives; give one");
    if (!calib && (field || format || save || shuffle || no_special))
        awq_cli_usage_error("%s only applies with --calib",
                            field ? "--text-field" : format ? "--format" : save ? "--save"
                                                   : shuffle ? "--shuffle" : "--no-special");
    if (calib && add_special)
        awq_cli_usage_error("--add-special is the default with --calib (use --no-special to drop it)");
    awq_text_format fmt = AWQ_TEXT_AUTO;
    if (format) {
        if (strcmp(format, "auto") == 0) fmt = AWQ_TEXT_AUTO;
        else if (strcmp(format, "text") == 0) fmt = AWQ_TEXT_PLAIN;
        else if (strcmp(format, "jsonl") == 0) fmt = AWQ_TEXT_JSONL;
        else awq_cli_usage_error("option --format: '%s' is not auto, text or jsonl", format);
    }

    awq_ctx *ctx = awq_cli_ctx(&c);
    awq_tokenizer *tok = NULL;
    awq_status s = awq_tokenizer_load(ctx, path, &tok);
    if (s != AWQ_OK) awq_cli_fail_status(ctx, s, path);
    if (calib) {
        awq_calib_params p = awq_calib_default_params();
        p.path = calib;
        p.format = fmt;
        if (field) p.text_field = field;
        p.n_samples = (int)samples;
        p.seqlen = (int)seqlen;
        p.shuffle = shuffle;
        p.seed = (uint64_t)seed;
        p.add_special = !no_special;
        calib_mode(ctx, tok, path, &p, save, c.json);
    } else if (tokens) {
        tokens_mode(ctx, tok, tokens, (int)seqlen, c.json);
    } else if (text_file || str) {
        text_mode(ctx, tok, path, text_file, str, add_special, c.json);
    } else {
        print_info(tok, path, c.json);
    }
    awq_tokenizer_free(tok);
    awq_cli_ctx_free(ctx);
    return AWQ_EXIT_OK;
}
