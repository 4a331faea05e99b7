/*
 * lib/quant/outfiles.c — config.json, model card and auxiliary files of a
 * quantize / repack output (see outfiles.h).
 *
 * config.json is patched as text, not re-serialised: cJSON keeps numbers
 * as doubles and prints 10000.0 as 10000 (and 1e-05 as 1.0000000000000001e-05),
 * which changes what a strict reader (or a diff) sees. Only the value of
 * quantization_config is replaced, so everything else stays byte for byte.
 */
#include "quant/outfiles.h"

#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------- JSON text scan */

static size_t skip_ws(const char *s, size_t i, size_t n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* s[*i] is '"': move past the closing quote. */
static bool skip_string(const char *s, size_t *i, size_t n) {
    for ((*i)++; *i < n; (*i)++) {
        if (s[*i] == '\\') {
            (*i)++;
            continue;
        }
        if (s[*i] == '"') {
            (*i)++;
            return true;
        }
    }
    return false;
}

/* Move past one JSON value (the text was parsed by cJSON already, so only
 * its extent matters here). */
static bool skip_value(const char *s, size_t *i, size_t n) {
    if (*i >= n) return false;
    if (s[*i] == '"') return skip_string(s, i, n);
    if (s[*i] == '{' || s[*i] == '[') {
        int depth = 0;
        while (*i < n) {
            char c = s[*i];
            if (c == '"') {
                if (!skip_string(s, i, n)) return false;
                continue;
            }
            if (c == '{' || c == '[') depth++;
            if (c == '}' || c == ']') {
                depth--;
                if (depth == 0) {
                    (*i)++;
                    return true;
                }
            }
            (*i)++;
        }
        return false;
    }
    while (*i < n && !strchr(",}] \t\r\n", s[*i])) (*i)++;
    return true;
}

/* cJSON_Print output -> 2-space style at indentation `ind`: leading tabs
 * become two spaces each (after ind), ":\t" becomes ": ", "{\n   }" "{}". */
static void print_hf(awq_strbuf *b, const char *p, const char *ind, size_t ind_len) {
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '\n') {
            size_t t = i + 1;
            while (p[t] == '\t') t++;
            if ((p[t] == '}' || p[t] == ']') && i > 0 && (p[i - 1] == '{' || p[i - 1] == '[')) {
                i = t - 1; /* empty container: no line break */
                continue;
            }
            awq_sb_append(b, "\n", 1);
            awq_sb_append(b, ind, ind_len);
            for (size_t k = i + 1; k < t; k++) awq_sb_puts(b, "  ");
            i = t - 1;
        } else if (p[i] == '\t') {
            awq_sb_puts(b, " ");
        } else {
            awq_sb_append(b, &p[i], 1);
        }
    }
}

awq_status awq_config_text_with_qc(awq_ctx *ctx, const char *s, size_t n, const char *where,
                                   const cJSON *qc, char **out) {
    *out = NULL;
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: not a JSON object", where);
    const size_t open = i++;
    size_t vs = 0, ve = 0, last_end = 0, close = 0;
    const char *ind = "  ";
    size_t ind_len = 2;
    bool first = true, found = false;
    for (;;) {
        i = skip_ws(s, i, n);
        if (i < n && s[i] == '}' && first) {
            close = i;
            break;
        }
        if (i >= n || s[i] != '"') return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON", where);
        if (first) {
            /* the members' indentation: the blanks before the first key */
            size_t b = i;
            while (b > open + 1 && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
            if (s[b - 1] == '\n' && i > b) {
                ind = s + b;
                ind_len = i - b;
            }
        }
        first = false;
        size_t ks = i;
        if (!skip_string(s, &i, n)) return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON", where);
        bool is_qc = i - ks == strlen("\"quantization_config\"") &&
                     memcmp(s + ks, "\"quantization_config\"", i - ks) == 0;
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ':') return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON", where);
        i = skip_ws(s, i + 1, n);
        size_t v0 = i;
        if (!skip_value(s, &i, n)) return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON", where);
        if (is_qc) {
            vs = v0;
            ve = i;
            found = true;
        }
        last_end = i;
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}') {
            close = i;
            break;
        }
        return awq_fail(ctx, AWQ_ERR_FORMAT, "%s: malformed JSON", where);
    }
    char *p = cJSON_Print(qc);
    if (!p) return awq_fail_nomem(ctx, "quantization_config", 1024);
    awq_strbuf b;
    awq_sb_init(&b);
    if (found) {
        awq_sb_append(&b, s, vs);
        print_hf(&b, p, ind, ind_len);
        awq_sb_append(&b, s + ve, n - ve);
    } else {
        size_t at = last_end ? last_end : open + 1;
        awq_sb_append(&b, s, at);
        awq_sb_puts(&b, last_end ? ",\n" : "\n");
        awq_sb_append(&b, ind, ind_len);
        awq_sb_puts(&b, "\"quantization_config\": ");
        print_hf(&b, p, ind, ind_len);
        if (!last_end) awq_sb_puts(&b, "\n");
        awq_sb_append(&b, s + (last_end ? last_end : close), n - (last_end ? last_end : close));
    }
    cJSON_free(p);
    if (!b.oom && (b.len == 0 || b.s[b.len - 1] != '\n')) awq_sb_puts(&b, "\n");
    if (b.oom) {
        awq_sb_free(&b);
        return awq_fail_nomem(ctx, "config.json", n + 1024);
    }
    *out = b.s;
    return AWQ_OK;
}

/* ------------------------------------------------------------ model card */

static bool line_starts(const char *l, size_t len, const char *key) {
    size_t k = strlen(key);
    return len >= k && memcmp(l, key, k) == 0;
}

/* A YAML scalar for a Hub id: plain when it is [A-Za-z0-9._/-], else quoted. */
static void yaml_scalar(awq_strbuf *b, const char *v) {
    bool plain = *v != 0;
    for (const char *c = v; *c && plain; c++)
        plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                (*c >= '0' && *c <= '9') || strchr("._/-", *c);
    if (plain) {
        awq_sb_puts(b, v);
        return;
    }
    awq_sb_puts(b, "\"");
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\') awq_sb_puts(b, "\\");
        awq_sb_append(b, c, 1);
    }
    awq_sb_puts(b, "\"");
}

awq_status awq_model_card_quantized(awq_ctx *ctx, const char *card, size_t len,
                                    const char *base_model, char **out) {
    *out = NULL;
    awq_strbuf b;
    awq_sb_init(&b);
    size_t body = 0;
    bool has_fm = len >= 4 && (memcmp(card, "---\n", 4) == 0 ||
                               (len >= 5 && memcmp(card, "---\r\n", 5) == 0));
    awq_sb_puts(&b, "---\n");
    if (has_fm) {
        size_t i = card[3] == '\r' ? 5 : 4;
        bool closed = false, in_base = false;
        while (i < len) {
            size_t e = i;
            while (e < len && card[e] != '\n') e++;
            size_t ll = e - i;
            const char *l = card + i;
            size_t next = e < len ? e + 1 : e;
            if (line_starts(l, ll, "---") && (ll == 3 || (ll == 4 && l[3] == '\r'))) {
                body = next;
                closed = true;
                break;
            }
            /* drop base_model (and its list items) and base_model_relation */
            if (in_base && ll > 0 && (l[0] == ' ' || l[0] == '-' || l[0] == '\t')) {
                i = next;
                continue;
            }
            in_base = line_starts(l, ll, "base_model:");
            if (!in_base && !line_starts(l, ll, "base_model_relation:")) {
                awq_sb_append(&b, l, ll);
                awq_sb_puts(&b, "\n");
            }
            i = next;
        }
        if (!closed) { /* not front matter after all: keep the card as is */
            awq_sb_free(&b);
            awq_sb_init(&b);
            awq_sb_puts(&b, "---\n");
            body = 0;
        }
    }
    awq_sb_puts(&b, "base_model: ");
    yaml_scalar(&b, base_model);
    awq_sb_puts(&b, "\nbase_model_relation: quantized\n---\n");
    awq_sb_append(&b, card + body, len - body);
    if (b.oom) {
        awq_sb_free(&b);
        return awq_fail_nomem(ctx, "model card", len + 256);
    }
    *out = b.s;
    return AWQ_OK;
}

char *awq_base_model_id(const char *in_dir, const cJSON *config) {
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(config, "_name_or_path");
    if (cJSON_IsString(np)) {
        const char *v = np->valuestring, *sl = strchr(v, '/');
        if (sl && sl != v && sl[1] && !strchr(sl + 1, '/') && v[0] != '.' && v[0] != '~')
            return strdup(v);
    }
    char *d = strdup(in_dir);
    if (!d) return NULL;
    size_t l = strlen(d);
    while (l > 1 && d[l - 1] == '/') d[--l] = 0;
    char *base = strdup(awq_path_basename(d));
    free(d);
    return base;
}

/* ------------------------------------------------------------ aux files */

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

static bool is_aux(const char *n) {
    static const char *const weights[] = {".safetensors", ".bin", ".pt", ".pth", ".ckpt",
                                          ".gguf", ".h5", ".msgpack", ".onnx",
                                          ".safetensors.index.json", ".bin.index.json", ".tmp"};
    if (n[0] == '.') return false;
    if (!strcmp(n, "config.json") || !strcmp(n, "quantize_config.json") ||
        !strcmp(n, "quant_config.json"))
        return false;
    for (size_t i = 0; i < AWQ_ARRAY_LEN(weights); i++)
        if (ends_with(n, weights[i])) return false;
    return true;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static awq_status copy_card(awq_ctx *ctx, awq_writer *w, const char *name, const char *src,
                            const char *base_model) {
    char *text = NULL, *card = NULL;
    size_t len = 0;
    awq_status st = awq_read_file(ctx, src, 64u << 20, &text, &len);
    if (st == AWQ_OK) st = awq_model_card_quantized(ctx, text, len, base_model, &card);
    if (st == AWQ_OK) st = awq_writer_add_file(w, name, card, strlen(card));
    free(text);
    free(card);
    return st;
}

awq_status awq_copy_aux_files(awq_ctx *ctx, awq_writer *w, const char *in_dir,
                              const char *base_model, int64_t *n_copied) {
    DIR *d = opendir(in_dir);
    if (!d) return awq_fail(ctx, AWQ_ERR_IO, "%s: %s", in_dir, strerror(errno));
    char **names = NULL;
    size_t n = 0;
    awq_status st = AWQ_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = strdup(de->d_name))) {
            if (nn) names = nn;
            st = awq_fail_nomem(ctx, "file list", 256);
            break;
        }
        names = nn;
        n++;
    }
    closedir(d);
    if (st == AWQ_OK && n > 1) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; st == AWQ_OK && i < n; i++) {
        char *src = awq_path_join(in_dir, names[i]);
        struct stat sb;
        if (!src) {
            st = awq_fail_nomem(ctx, "path", 256);
        } else if (stat(src, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            if (names[i][0] != '.')
                awq_warn(ctx, "%s: sub-directory not copied (copy it by hand if the model "
                              "needs it)", src);
        } else if (is_aux(names[i]) && stat(src, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (base_model && !strcmp(names[i], "README.md"))
                st = copy_card(ctx, w, names[i], src, base_model);
            else
                st = awq_writer_copy_file(w, names[i], src);
            if (st == AWQ_OK && n_copied) (*n_copied)++;
        }
        free(src);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}
