/* lib/text/tokenizer.c — tokenizer.json loading, the BPE model section and
 * the encode pipeline.
 *
 * The pipeline mirrors the tokenizers library (TokenizerImpl::encode):
 *   1. added tokens with normalized=false are cut out of the raw text
 *      (leftmost-longest, single_word / lstrip / rstrip applied);
 *   2. every remaining piece is normalized on its own, then the added tokens
 *      with normalized=true are cut out of the normalized text;
 *   3. the pre-tokenizer steps split (and for ByteLevel, byte-map) the rest;
 *   4. each pre-token goes through the BPE model (with a word cache);
 *   5. the post-processor's special tokens are added when asked.
 * Empty pieces are dropped at every stage, as the reference does.
 *
 * The pieces live beside it: tok_json.c (field readers), tok_normalizer.c,
 * tok_pretok.c, tok_added.c, tok_post.c (special ids), tok_decode.c. */
#include "text/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ model */

static awq_status parse_model(awq_tokenizer *t, const cJSON *m, int32_t *max_id) {
    if (!cJSON_IsObject(m))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: no \"model\" object", tx_tname(t));
    const char *ty = tx_jtype(m);
    const cJSON *vocab = tx_jget(m, "vocab"), *merges = tx_jget(m, "merges");
    if (ty && strcmp(ty, "BPE") != 0)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: tokenizer model type \"%s\" is not supported (awqkit supports BPE "
                        "models: byte-level and SentencePiece-style)",
                        tx_tname(t), ty);
    if (!ty && !merges)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: tokenizer model without \"type\" and without merges is not a BPE "
                        "model (only BPE is supported)",
                        tx_tname(t));
    if (!cJSON_IsObject(vocab))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: model.vocab must be an object", tx_tname(t));
    if (!cJSON_IsArray(merges))
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: model.merges must be a list", tx_tname(t));

    const cJSON *dropout = tx_jget(m, "dropout");
    if (dropout && !cJSON_IsNull(dropout) &&
        !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0.0))
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: BPE dropout is not supported (tokenization would be random)",
                        tx_tname(t));
    const char *csp, *eows;
    AWQ_TRY(tx_jstr(t, m, "continuing_subword_prefix", "model", &csp));
    AWQ_TRY(tx_jstr(t, m, "end_of_word_suffix", "model", &eows));
    if (csp && *csp)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: BPE continuing_subword_prefix \"%s\" is not supported", tx_tname(t), csp);
    if (eows && *eows)
        return awq_fail(t->ctx, AWQ_ERR_UNSUPPORTED,
                        "%s: BPE end_of_word_suffix \"%s\" is not supported", tx_tname(t), eows);

    int nv = cJSON_GetArraySize(vocab), nm = cJSON_GetArraySize(merges);
    if (nv > AWQ_TOKENIZER_MAX_VOCAB)
        return awq_fail(t->ctx, AWQ_ERR_FORMAT, "%s: vocabulary of %d tokens exceeds the limit %d",
                        tx_tname(t), nv, AWQ_TOKENIZER_MAX_VOCAB);
    if (!tx_bpe_init(&t->bpe, (size_t)nv, (size_t)nm))
        return awq_fail_nomem(t->ctx, "vocabulary", (uint64_t)nv);
    AWQ_TRY(tx_jbool(t, m, "fuse_unk", false, "model", &t->bpe.fuse_unk));
    AWQ_TRY(tx_jbool(t, m, "byte_fallback", false, "model", &t->bpe.byte_fallback));
    AWQ_TRY(tx_jbool(t, m, "ignore_merges", false, "model", &t->bpe.ignore_merges));

    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        int64_t id;
        AWQ_TRY(tx_jint(t, it, 0, AWQ_TOKENIZER_MAX_VOCAB - 1, "vocabulary id", &id));
        const char *k = it->string ? it->string : "";
        if (!tx_strmap_put(&t->bpe.vocab, k, strlen(k), (int32_t)id))
            return awq_fail_nomem(t->ctx, "vocabulary", (uint64_t)nv);
        if ((int32_t)id > *max_id) *max_id = (int32_t)id;
    }

    tx_buf cat = {0};
    uint32_t rank = 0;
    awq_status s = AWQ_OK;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t la, lb;
        const char *sp = NULL;
        if (cJSON_IsString(it)) {
            /* "a b": exactly one space, as the reference requires */
            a = it->valuestring;
            sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                             "%s: merge %u \"%.80s\" is not two tokens separated by one space",
                             tx_tname(t), rank + 1, a);
                break;
            }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else {
            s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                         "%s: merge %u must be \"a b\" or [\"a\", \"b\"]", tx_tname(t), rank + 1);
            break;
        }
        int32_t ia = tx_strmap_get(&t->bpe.vocab, a, la);
        int32_t ib = tx_strmap_get(&t->bpe.vocab, b, lb);
        cat.len = 0;
        if (!tx_buf_append(&cat, a, la) || !tx_buf_append(&cat, b, lb)) {
            s = awq_fail_nomem(t->ctx, "merges", la + lb);
            break;
        }
        int32_t ic = tx_strmap_get(&t->bpe.vocab, cat.p, cat.len);
        if (ia < 0 || ib < 0 || ic < 0) {
            const char *miss = ia < 0 ? a : ib < 0 ? b : NULL;
            int ml = ia < 0 ? (int)la : ib < 0 ? (int)lb : (int)cat.len;
            if (!miss) miss = cat.p;
            s = awq_fail(t->ctx, AWQ_ERR_FORMAT,
                         "%s: merge %u names token \"%.*s\" which is not in the vocabulary",
                         tx_tname(t), rank + 1, ml > 80 ? 80 : ml, miss);
            break;
        }
        if (!tx_bpe_add_merge(&t->bpe, ia, ib, rank, ic)) {
            s = awq_fail_nomem(t->ctx, "merges", (uint64_t)nm);
            break;
        }
        rank++;
    }
    tx_buf_free(&cat);
    if (s != AWQ_OK) return s;
    if (!tx_bpe_finalize(&t->bpe, (size_t)*max_id + 1))
        return awq_fail_nomem(t->ctx, "merges", (uint64_t)*max_id);

    const char *unk;
    AWQ_TRY(tx_jstr(t, m, "unk_token", "model", &unk));
    if (unk) {
        t->unk_token = tx_dupn(unk, strlen(unk));
        if (!t->unk_token) return awq_fail_nomem(t->ctx, "tokenizer", strlen(unk));
        t->bpe.unk_id = tx_strmap_get(&t->bpe.vocab, unk, strlen(unk));
        /* the reference only fails when the unk token is actually needed */
        t->unk_missing = t->bpe.unk_id < 0;
    }
    if (t->bpe.byte_fallback) {
        for (int b = 0; b < 256; b++) {
            char code[8];
            snprintf(code, sizeof code, "<0x%02X>", b);
            t->bpe.byte_id[b] = tx_strmap_get(&t->bpe.vocab, code, 6);
        }
        t->spm_style = true;
    }
    return AWQ_OK;
}

/* ----------------------------------------------------------------- encode */

/* Pre-tokenize one normalized piece and run the model on every pre-token. */
static awq_status pretok_and_model(awq_tokenizer *t, const char *s, size_t n, bool first,
                                   tx_ivec *out) {
    if (n == 0) return AWQ_OK;
    AWQ_TRY(tx_pretokenize(t, s, n, first));
    uint64_t dropped0 = t->bpe.dropped_chars;
    for (size_t i = 0; i < t->pa.len; i++)
        AWQ_TRY(tx_bpe_word(t->ctx, &t->bpe, t->arena.p + t->pa.p[i].off, t->pa.p[i].len, out));
    if (t->bpe.dropped_chars != dropped0) {
        if (t->unk_missing)
            return awq_fail(t->ctx, AWQ_ERR_FORMAT,
                            "%s: the text needs unk_token \"%s\", which is not in the vocabulary",
                            tx_tname(t), t->unk_token);
        if (!t->warned_dropped) {
            t->warned_dropped = true;
            awq_warn(t->ctx,
                     "%s: characters with no token and no unk_token were dropped (as the "
                     "reference tokenizer does)",
                     tx_tname(t));
        }
    }
    return AWQ_OK;
}

static awq_status normalized_gap(awq_tokenizer *t, const char *s, size_t n, bool first,
                                 tx_ivec *out) {
    return pretok_and_model(t, s, n, first, out);
}

static awq_status raw_gap(awq_tokenizer *t, const char *s, size_t n, bool first,
                          tx_ivec *out) {
    if (n == 0) return AWQ_OK;
    const char *ns;
    size_t nn;
    AWQ_TRY(tx_normalize(t, s, n, &ns, &nn));
    if (nn == 0) return AWQ_OK;
    return tx_split_added(t, &t->m_norm, ns, nn, first, normalized_gap, out);
}

awq_status awq_tokenizer_encode(awq_tokenizer *t, const char *text, size_t len,
                                bool add_special, int32_t **ids, size_t *n_ids) {
    if (!ids || !n_ids) return awq_fail(t ? t->ctx : NULL, AWQ_ERR_INVALID_ARG, "encode: NULL output");
    *ids = NULL;
    *n_ids = 0;
    if (!t) return AWQ_ERR_INVALID_ARG;
    if (!text && len) return awq_fail(t->ctx, AWQ_ERR_INVALID_ARG, "encode: NULL text");
    if (len > AWQ_TEXT_MAX_BYTES)
        return awq_fail(t->ctx, AWQ_ERR_INVALID_ARG, "encode: text of %zu bytes exceeds the %zu limit",
                        len, (size_t)AWQ_TEXT_MAX_BYTES);
    size_t bad = tx_utf8_first_invalid(text, len);
    if (bad != len)
        return awq_fail(t->ctx, AWQ_ERR_INVALID_ARG, "text is not valid UTF-8 (byte offset %zu)",
                        bad);
    tx_ivec out = {0};
    if (!tx_ivec_reserve(&out, len / 3 + 16)) return awq_fail_nomem(t->ctx, "token ids", len);
    awq_status s = AWQ_OK;
    if (add_special && !tx_ivec_append(&out, t->prefix.p, t->prefix.len))
        s = awq_fail_nomem(t->ctx, "token ids", len);
    if (s == AWQ_OK && len) s = tx_split_added(t, &t->m_raw, text, len, true, raw_gap, &out);
    if (s == AWQ_OK && add_special && !tx_ivec_append(&out, t->suffix.p, t->suffix.len))
        s = awq_fail_nomem(t->ctx, "token ids", len);
    /* keep scratch from ballooning after one huge call */
    if (t->arena.cap > ((size_t)64 << 20)) tx_buf_free(&t->arena);
    if (s != AWQ_OK) {
        tx_ivec_free(&out);
        return s;
    }
    if (out.len == 0) {
        tx_ivec_free(&out);
        return AWQ_OK;
    }
    *ids = out.p;
    *n_ids = out.len;
    return AWQ_OK;
}

awq_status awq_tokenizer_encode_file(awq_tokenizer *t, const char *path, bool add_special,
                                     int32_t **ids, size_t *n_ids) {
    if (!ids || !n_ids) return AWQ_ERR_INVALID_ARG;
    *ids = NULL;
    *n_ids = 0;
    if (!t || !path) return awq_fail(t ? t->ctx : NULL, AWQ_ERR_INVALID_ARG, "encode_file: NULL argument");
    char *buf = NULL;
    size_t n = 0;
    AWQ_TRY(awq_read_file(t->ctx, path, AWQ_TEXT_MAX_BYTES, &buf, &n));
    awq_status s = awq_tokenizer_encode(t, buf, n, add_special, ids, n_ids);
    free(buf);
    if (s != AWQ_OK) return awq_fail_wrap(t->ctx, s, "%s", path);
    return AWQ_OK;
}

/* ------------------------------------------------------------------ load */

static awq_status finish_tables(awq_tokenizer *t, int32_t max_id) {
    t->vocab_size = max_id + 1;
    size_t n = (size_t)t->vocab_size;
    t->id_str = calloc(n ? n : 1, sizeof *t->id_str);
    t->id_len = calloc(n ? n : 1, sizeof *t->id_len);
    t->id_flags = calloc(n ? n : 1, 1);
    if (!t->id_str || !t->id_len || !t->id_flags) return awq_fail_nomem(t->ctx, "id table", n);
    const tx_strmap *v = &t->bpe.vocab;
    for (size_t i = 0; i < v->n; i++) {
        int32_t id = v->ent[i].val;
        t->id_str[id] = tx_strmap_key(v, i);
        t->id_len[id] = v->ent[i].len;
    }
    for (size_t i = 0; i < t->n_added; i++) {
        const added_tok *a = &t->added[i];
        t->id_str[a->id] = a->raw;
        t->id_len[a->id] = (uint32_t)strlen(a->raw);
        t->id_flags[a->id] |= (uint8_t)(2 | (a->special ? 1 : 0));
    }
    /* the content matched for normalized tokens is their normalized form */
    for (size_t i = 0; i < t->n_added; i++) {
        added_tok *a = &t->added[i];
        size_t rl = strlen(a->raw);
        if (a->normalized && t->n_norm) {
            const char *ns;
            size_t nn;
            AWQ_TRY(tx_normalize(t, a->raw, rl, &ns, &nn));
            a->content = tx_dupn(ns, nn);
            a->len = nn;
        } else {
            a->content = tx_dupn(a->raw, rl);
            a->len = rl;
        }
        if (!a->content) return awq_fail_nomem(t->ctx, "added tokens", rl);
    }
    AWQ_TRY(tx_build_matcher(t, &t->m_raw, false));
    AWQ_TRY(tx_build_matcher(t, &t->m_norm, true));
    /* SentencePiece-style exports spell the space with ▁ in the normalizer */
    for (size_t i = 0; i < t->n_norm; i++)
        if ((t->norm[i].kind == N_PREPEND || t->norm[i].kind == N_REPLACE) && t->norm[i].s &&
            strstr(t->norm[i].s, META_SPACE))
            t->spm_style = true;
    snprintf(t->desc, sizeof t->desc, "BPE %s, %d ids (%zu vocabulary + %zu added), %zu merges%s%s",
             t->byte_level ? "byte-level" : t->spm_style ? "SentencePiece-style" : "(characters)",
             t->vocab_size, t->bpe.vocab.n, t->n_added, t->bpe.n_merges,
             t->bpe.byte_fallback ? ", byte_fallback" : "",
             t->bpe.ignore_merges ? ", ignore_merges" : "");
    return AWQ_OK;
}

awq_status awq_tokenizer_load_json(awq_ctx *ctx, const char *json, size_t len,
                                   const char *config_json, size_t config_len,
                                   const char *name, awq_tokenizer **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL output");
    *out = NULL;
    if (!json) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL JSON");
    awq_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return awq_fail_nomem(ctx, "tokenizer", sizeof *t);
    t->ctx = ctx;
    t->name = awq_strdup(name ? name : "tokenizer.json");
    t->bos = t->eos = -1;
    cJSON *root = NULL, *cfg = NULL;
    awq_status s = AWQ_OK;
    if (!t->name) {
        s = awq_fail_nomem(ctx, "tokenizer", 64);
        goto fail;
    }
    root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t off = ep && ep >= json && ep <= json + len ? (size_t)(ep - json) : 0;
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON near byte %zu", t->name, off);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: top level is not a JSON object", t->name);
        goto fail;
    }
    if (config_json) {
        cfg = cJSON_ParseWithLength(config_json, config_len);
        if (!cfg) {
            s = awq_fail(ctx, AWQ_ERR_FORMAT, "tokenizer_config.json beside %s: malformed JSON",
                         t->name);
            goto fail;
        }
    }
    int32_t max_id = -1;
    if ((s = parse_model(t, tx_jget(root, "model"), &max_id)) != AWQ_OK) goto fail;
    if ((s = tx_parse_normalizer(t, tx_jget(root, "normalizer"), 0)) != AWQ_OK) goto fail;
    if ((s = tx_parse_pretok(t, tx_jget(root, "pre_tokenizer"), 0)) != AWQ_OK) goto fail;
    if ((s = tx_parse_added(t, tx_jget(root, "added_tokens"), &max_id)) != AWQ_OK) goto fail;
    if ((s = tx_parse_post(t, tx_jget(root, "post_processor"), 0)) != AWQ_OK) goto fail;
    if ((s = tx_parse_decoder(t, tx_jget(root, "decoder"), 0)) != AWQ_OK) goto fail;
    if (max_id < 0) {
        s = awq_fail(ctx, AWQ_ERR_FORMAT, "%s: empty vocabulary", t->name);
        goto fail;
    }
    if ((s = finish_tables(t, max_id)) != AWQ_OK) goto fail;
    for (int side = 0; side < 2; side++) {
        const tx_ivec *v = side ? &t->suffix : &t->prefix;
        for (size_t i = 0; i < v->len; i++)
            if (v->p[i] >= t->vocab_size || !t->id_str[v->p[i]]) {
                s = awq_fail(ctx, AWQ_ERR_FORMAT,
                             "%s: post_processor adds id %d, which is not a token", t->name,
                             v->p[i]);
                goto fail;
            }
    }
    if ((s = tx_apply_config(t, cfg)) != AWQ_OK) goto fail;
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    *out = t;
    return AWQ_OK;
fail:
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    awq_tokenizer_free(t);
    return s;
}

awq_status awq_tokenizer_load(awq_ctx *ctx, const char *path, awq_tokenizer **out) {
    if (!out) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL output");
    *out = NULL;
    if (!path) return awq_fail(ctx, AWQ_ERR_INVALID_ARG, "tokenizer load: NULL path");
    char *file = NULL, *dir = NULL;
    if (awq_path_is_dir(path)) {
        file = awq_path_join(path, "tokenizer.json");
        dir = awq_strdup(path);
    } else {
        file = awq_strdup(path);
        dir = awq_path_dirname(path);
    }
    char *cfg_path = dir ? awq_path_join(dir, "tokenizer_config.json") : NULL;
    char *json = NULL, *cfg = NULL;
    size_t jn = 0, cn = 0;
    awq_status s = AWQ_OK;
    if (!file || !dir || !cfg_path) {
        s = awq_fail_nomem(ctx, "path", strlen(path));
        goto done;
    }
    if (!awq_path_exists(file)) {
        if (awq_path_is_dir(path))
            s = awq_fail(ctx, AWQ_ERR_NOT_FOUND,
                         "%s has no tokenizer.json (the Hugging Face fast-tokenizer file; "
                         "tokenizer.model / vocab.json alone are not supported); pre-tokenized "
                         "calibration ids can be given instead (awqkit quantize --calib-tokens FILE)",
                         path);
        else
            s = awq_fail(ctx, AWQ_ERR_NOT_FOUND, "tokenizer file %s does not exist", file);
        goto done;
    }
    if ((s = awq_read_file(ctx, file, AWQ_TOKENIZER_MAX_FILE_BYTES, &json, &jn)) != AWQ_OK)
        goto done;
    if (awq_path_exists(cfg_path) &&
        (s = awq_read_file(ctx, cfg_path, 64u << 20, &cfg, &cn)) != AWQ_OK)
        goto done;
    s = awq_tokenizer_load_json(ctx, json, jn, cfg, cn, file, out);
done:
    free(json);
    free(cfg);
    free(file);
    free(dir);
    free(cfg_path);
    return s;
}

void awq_tokenizer_free(awq_tokenizer *t) {
    if (!t) return;
    tx_bpe_free(&t->bpe);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].raw);
    }
    free(t->added);
    free(t->m_raw.pat);
    free(t->m_norm.pat);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].s);
        tx_pattern_free(t->norm[i].pat);
    }
    free(t->norm);
    for (size_t i = 0; i < t->n_pt; i++) {
        tx_pattern_free(t->pt[i].pat);
        free(t->pt[i].rep);
    }
    free(t->pt);
    for (size_t i = 0; i < t->n_dec; i++) {
        free(t->dec[i].rep);
        free(t->dec[i].content);
        tx_pattern_free(t->dec[i].pat);
    }
    free(t->dec);
    tx_pattern_free(t->bl_regex);
    tx_ivec_free(&t->prefix);
    tx_ivec_free(&t->suffix);
    free(t->id_str);
    free(t->id_len);
    free(t->id_flags);
    tx_buf_free(&t->nb[0]);
    tx_buf_free(&t->nb[1]);
    tx_buf_free(&t->arena);
    free(t->pa.p);
    free(t->pb.p);
    tx_spans_free(&t->spans);
    free(t->cov);
    free(t->cov2);
    free(t->unk_token);
    free(t->name);
    free(t);
}

/* -------------------------------------------------------------- getters */

int32_t awq_tokenizer_vocab_size(const awq_tokenizer *t) { return t ? t->vocab_size : 0; }

const char *awq_tokenizer_token_str(const awq_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->vocab_size) return NULL;
    return t->id_str[id];
}

int32_t awq_tokenizer_token_id(const awq_tokenizer *t, const char *tok) {
    if (!t || !tok) return -1;
    size_t n = strlen(tok);
    for (size_t i = 0; i < t->n_added; i++)
        if (strcmp(t->added[i].raw, tok) == 0) return t->added[i].id;
    return tx_strmap_get(&t->bpe.vocab, tok, n);
}

int32_t awq_tokenizer_bos_id(const awq_tokenizer *t) { return t ? t->bos : -1; }
int32_t awq_tokenizer_eos_id(const awq_tokenizer *t) { return t ? t->eos : -1; }

bool awq_tokenizer_is_special(const awq_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->vocab_size && (t->id_flags[id] & 1);
}

const int32_t *awq_tokenizer_special_prefix(const awq_tokenizer *t, size_t *n) {
    if (n) *n = t ? t->prefix.len : 0;
    return t ? t->prefix.p : NULL;
}

const int32_t *awq_tokenizer_special_suffix(const awq_tokenizer *t, size_t *n) {
    if (n) *n = t ? t->suffix.len : 0;
    return t ? t->suffix.p : NULL;
}

const char *awq_tokenizer_describe(const awq_tokenizer *t) { return t ? t->desc : ""; }

tx_bpe *tx_tokenizer_bpe(awq_tokenizer *t) { return &t->bpe; }
