/*
 * awqkit/text.h — Hugging Face tokenizer.json tokenization and calibration
 * data (documents -> token ids -> fixed-length blocks).
 *
 * Tokenizer
 * ---------
 * awq_tokenizer_load() reads a `tokenizer.json` (the "fast tokenizer" file
 * every current Hugging Face model ships) and reproduces the Rust
 * `tokenizers` library's encode exactly for the models awqkit targets:
 *
 *  - byte-level BPE (GPT-2, GPT-NeoX/Pythia, Qwen2/2.5/3, Llama-3, SmolLM):
 *    ByteLevel pre-tokenizer with its GPT-2 split regex, or Split(regex) +
 *    ByteLevel(use_regex=false) in a Sequence, Digits, ignore_merges;
 *  - SentencePiece-style BPE as exported to tokenizer.json (Llama-2,
 *    Mistral, TinyLlama): Prepend/Replace("▁") normalizers or a Metaspace
 *    pre-tokenizer, byte_fallback <0xNN> tokens, unk / fuse_unk;
 *  - added / special tokens matched before the model (leftmost-longest,
 *    single_word / lstrip / rstrip / normalized honoured);
 *  - normalizers NFC, NFD, NFKC, NFKD, Prepend, Replace, Strip, Lowercase and
 *    Sequence of those.
 *
 * Anything else (WordPiece / Unigram / WordLevel models, a non-empty
 * continuing_subword_prefix / end_of_word_suffix, BPE dropout, an unknown
 * normalizer, pre-tokenizer, post-processor or decoder) is refused at load
 * time with AWQ_ERR_UNSUPPORTED naming the feature: awqkit never tokenizes
 * silently differently from the reference.
 *
 * Special tokens (add_special = true) are added as the file's post_processor
 * says (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel (adds
 * nothing), or a Sequence of them). When a tokenizer_config.json sits beside
 * the tokenizer.json and has "add_bos_token" / "add_eos_token", those flags
 * win (the rule transformers' Llama tokenizers follow): true forces
 * bos_token first / eos_token last, false removes it.
 *
 * Verified against the tokenizers library (tests/ref/make_tokenizer_ref.py)
 * and llama.cpp's vectors. Known limits: character classes come from PCRE2
 * and normalisation from utf8proc, whose Unicode tables may be older than the
 * reference's, so characters assigned in recent Unicode versions (14+) can
 * split or normalise differently; added tokens keep the ids written in the
 * file (the reference renumbers hand-edited files whose ids are not
 * consecutive after the vocabulary).
 *
 * Threading: a tokenizer keeps a word cache and scratch buffers, so one
 * handle is used by one thread at a time (like the awq_ctx it borrows).
 * Load one tokenizer per thread to encode in parallel.
 *
 * Calibration data
 * ----------------
 * Documents come from plain text (documents separated by blank lines), JSON
 * Lines (one object per line, the text in a named field, default "text"),
 * either optionally zstd-compressed (.zst, streamed). awq_calib_build()
 * follows AutoAWQ's recipe (awq/utils/calib_data.py get_calib_dataset):
 * for each document in order, strip surrounding whitespace (Python
 * str.strip), encode it with the tokenizer's special tokens (transformers'
 * tokenizer.encode default), skip it when it has more than `seqlen` tokens or
 * none at all, keep up to `n_samples` documents, concatenate their ids and
 * cut them into floor(total / seqlen) blocks of `seqlen`, dropping the tail.
 * Optionally the documents are shuffled first (deterministic, see
 * awq_calib_params.shuffle).
 */
#ifndef AWQKIT_TEXT_H
#define AWQKIT_TEXT_H

#include "awqkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limits (hostile-input caps). */
#define AWQ_TOKENIZER_MAX_FILE_BYTES (512ull << 20) /* tokenizer.json */
#define AWQ_TOKENIZER_MAX_VOCAB (1 << 24)           /* ids below 16M */
#define AWQ_TEXT_MAX_BYTES ((size_t)1 << 31)         /* one encode call */

/* ---------------------------------------------------------------- tokenizer */

typedef struct awq_tokenizer awq_tokenizer;

/* Load a tokenizer. `path` is a model directory (must contain tokenizer.json)
 * or a tokenizer.json file; tokenizer_config.json in the same directory is
 * read when present (add_bos_token, add_eos_token, bos_token, eos_token).
 * The tokenizer borrows ctx (errors of later calls are recorded there): ctx
 * must outlive it. Errors: AWQ_ERR_NOT_FOUND (no tokenizer.json; the message
 * names the missing file), AWQ_ERR_FORMAT (bad JSON, merges naming tokens
 * that are not in the vocabulary, ...), AWQ_ERR_UNSUPPORTED (see top). */
awq_status awq_tokenizer_load(awq_ctx *ctx, const char *path,
                              awq_tokenizer **out);

/* Same from memory: `json` (len bytes, need not be NUL-terminated) is the
 * tokenizer.json text, `config_json` the tokenizer_config.json text or NULL.
 * `name` labels error messages (e.g. the file name; NULL: "tokenizer.json"). */
awq_status awq_tokenizer_load_json(awq_ctx *ctx, const char *json, size_t len,
                                   const char *config_json, size_t config_len,
                                   const char *name, awq_tokenizer **out);

void awq_tokenizer_free(awq_tokenizer *tok);

/* Encode `len` bytes of UTF-8 `text` (need not be NUL-terminated; invalid
 * UTF-8 is AWQ_ERR_INVALID_ARG naming the byte offset). add_special: add the
 * BOS/EOS tokens the tokenizer's configuration asks for (see top); added
 * tokens written in the text (e.g. "<|endoftext|>") are always recognised.
 * On success *ids is a malloc'd array of *n_ids token ids (NULL when
 * n_ids == 0) that the caller frees with awq_free(). Linear-time in practice
 * (pre-tokenizer regex, then per-word BPE with an O(n log n) merge loop and a
 * word cache): the 1.3 MB WikiText-2 test file encodes in well under a
 * second. */
awq_status awq_tokenizer_encode(awq_tokenizer *tok, const char *text,
                                size_t len, bool add_special, int32_t **ids,
                                size_t *n_ids);

/* Encode a whole file as one text (e.g. the perplexity text). Same contract
 * as awq_tokenizer_encode; the file is read as bytes (every newline counts). */
awq_status awq_tokenizer_encode_file(awq_tokenizer *tok, const char *path,
                                     bool add_special, int32_t **ids,
                                     size_t *n_ids);

/* Decode ids back to text through the file's decoder (ByteLevel, Metaspace,
 * ByteFallback, Replace, Fuse, Strip, Sequence). skip_special drops special
 * tokens. Invalid UTF-8 produced by partial byte tokens becomes U+FFFD, as in
 * the reference. *text is malloc'd, NUL-terminated, *len bytes (may be NULL);
 * free with awq_free(). Ids outside the vocabulary: AWQ_ERR_INVALID_ARG. */
awq_status awq_tokenizer_decode(awq_tokenizer *tok, const int32_t *ids,
                                size_t n_ids, bool skip_special, char **text,
                                size_t *len);

/* 1 + the largest token id (vocabulary and added tokens). Valid ids are
 * 0 <= id < vocab_size (some ids may have no token: token_str gives NULL). */
int32_t awq_tokenizer_vocab_size(const awq_tokenizer *tok);

/* The token's string as stored in the vocabulary (e.g. "Ġworld", "▁the",
 * "<0x0A>", "<|endoftext|>"), or NULL for an unknown id. Owned by tok. */
const char *awq_tokenizer_token_str(const awq_tokenizer *tok, int32_t id);

/* Id of an exact token string (vocabulary or added token), -1 if absent. */
int32_t awq_tokenizer_token_id(const awq_tokenizer *tok, const char *token);

/* BOS / EOS ids from tokenizer_config.json (bos_token / eos_token), else the
 * first / last special token the post-processor adds; -1 when unknown. */
int32_t awq_tokenizer_bos_id(const awq_tokenizer *tok);
int32_t awq_tokenizer_eos_id(const awq_tokenizer *tok);

/* Whether id is a special added token. */
bool awq_tokenizer_is_special(const awq_tokenizer *tok, int32_t id);

/* Ids that add_special=true puts before / after the text (owned by tok;
 * *n may be 0). */
const int32_t *awq_tokenizer_special_prefix(const awq_tokenizer *tok,
                                            size_t *n);
const int32_t *awq_tokenizer_special_suffix(const awq_tokenizer *tok,
                                            size_t *n);

/* One-line description, e.g. "BPE byte-level, 50257 tokens, 50000 merges".
 * Owned by tok. */
const char *awq_tokenizer_describe(const awq_tokenizer *tok);

/* -------------------------------------------------------- document readers */

typedef enum awq_text_format {
    AWQ_TEXT_AUTO = 0,  /* by name: *.jsonl / *.json / *.ndjson (before an
                           optional .zst) is JSONL, anything else plain text */
    AWQ_TEXT_PLAIN = 1, /* documents separated by blank (whitespace-only)
                           lines; a document is its lines joined by '\n' */
    AWQ_TEXT_JSONL = 2  /* one JSON object per line; blank lines skipped */
} awq_text_format;

/* Streaming reader of documents. zstd compression is detected from the
 * file's magic bytes (a *.zst name without them is an error); a truncated
 * .zst stream is AWQ_ERR_FORMAT. One document is held in memory at a time
 * (a document or line is capped at 256 MiB). */
typedef struct awq_doc_reader awq_doc_reader;

/* text_field: JSONL field holding the text (NULL: "text"). The reader borrows
 * ctx. */
awq_status awq_doc_reader_open(awq_ctx *ctx, const char *path,
                               awq_text_format format, const char *text_field,
                               awq_doc_reader **out);
/* Next document: *text (NUL-terminated, *len bytes, valid until the next
 * call) or *eof = true at the end. JSONL errors name the file and line
 * (malformed JSON, not an object, missing / non-string field). */
awq_status awq_doc_reader_next(awq_doc_reader *r, const char **text,
                               size_t *len, bool *eof);
/* 1-based line number where the last returned document starts. */
uint64_t awq_doc_reader_line(const awq_doc_reader *r);
/* The format in use (after AUTO detection) and whether it is compressed. */
awq_text_format awq_doc_reader_format(const awq_doc_reader *r);
bool awq_doc_reader_compressed(const awq_doc_reader *r);
void awq_doc_reader_close(awq_doc_reader *r);

/* -------------------------------------------------------------- calibration */

typedef struct awq_calib_params {
    const char *path;        /* calibration text (see awq_text_format) */
    awq_text_format format;  /* default AWQ_TEXT_AUTO */
    const char *text_field;  /* JSONL field; default "text" */
    int n_samples;           /* documents to keep; default 128 (AutoAWQ) */
    int seqlen;              /* block length in tokens; default 512 */
    bool add_special;        /* encode with special tokens (AutoAWQ's
                                tokenizer.encode does); default true */
    bool shuffle;            /* default false: documents in file order.
                                true: all documents are read, then permuted
                                by Fisher-Yates (i = n-1..1, j = r % (i+1))
                                driven by splitmix64 seeded with `seed` */
    uint64_t seed;           /* default 42 */
} awq_calib_params;

awq_calib_params awq_calib_default_params(void);

typedef struct awq_calib_stats {
    uint64_t docs_read;      /* documents examined (reading stops once
                                n_samples are kept, unless shuffling) */
    uint64_t docs_kept;
    uint64_t docs_empty;     /* encoded to zero tokens */
    uint64_t docs_too_long;  /* more than seqlen tokens */
    uint64_t tokens;         /* ids of the kept documents, concatenated */
    uint64_t tokens_dropped; /* tail shorter than one block */
    uint64_t blocks;
    /* what the text was read as (the file is read once: callers take these
     * from here rather than opening it again, which a pipe cannot give) */
    awq_text_format format;  /* AWQ_TEXT_PLAIN or AWQ_TEXT_JSONL; AUTO for ids */
    bool compressed;         /* zstd */
} awq_calib_stats;

/* Calibration blocks: ids[b * seqlen + t], row-major, n_blocks rows. */
typedef struct awq_calib_blocks {
    int32_t *ids;
    int64_t n_blocks;
    int32_t seqlen;
    awq_calib_stats stats;
} awq_calib_blocks;

/* Build blocks from text with the AutoAWQ recipe (see top). Zero resulting
 * blocks is AWQ_ERR_INVALID_ARG with the counts (documents read, kept,
 * skipped, tokens). Reports progress as phase "calibration" (kept of
 * n_samples). *out is owned by the caller: awq_calib_blocks_free. */
awq_status awq_calib_build(awq_ctx *ctx, awq_tokenizer *tok,
                           const awq_calib_params *params,
                           awq_calib_blocks **out);

/* Pre-tokenized calibration data: whitespace-separated decimal ids in a text
 * file, or a .npy array of int32 / int64 (little-endian, C order, 1-D or
 * 2-D; detected by the NumPy magic bytes). All ids are concatenated in order
 * and cut into blocks of seqlen (so a [n, seqlen] array gives its rows).
 * vocab_size > 0: every id must be in [0, vocab_size) — otherwise
 * AWQ_ERR_RANGE naming the position (index, and line:column for text). */
awq_status awq_calib_from_token_file(awq_ctx *ctx, const char *path,
                                     int32_t vocab_size, int seqlen,
                                     awq_calib_blocks **out);

/* Blocks from ids already in memory (same cut rule; ids are copied). */
awq_status awq_calib_from_ids(awq_ctx *ctx, const int32_t *ids, size_t n,
                              int seqlen, awq_calib_blocks **out);

void awq_calib_blocks_free(awq_calib_blocks *b);

#ifdef __cplusplus
}
#endif
#endif /* AWQKIT_TEXT_H */
