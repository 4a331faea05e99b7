/* tests/e2e/json_get.c — the e2e scripts' JSON checker (no Python in
 * tests): `awq_json_get FILE PATH...` parses FILE ("-" = stdin) with cJSON
 * and prints the value at each dotted PATH on its own line ("a.b.0.c":
 * numeric parts index arrays). Strings print raw, integral numbers as
 * integers, others with %.17g, objects / arrays as "<object N>" /
 * "<array N>" (N = member count). Exit 1 when FILE is not valid JSON or a
 * path is missing, 2 on bad usage. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *n) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    if (f != stdin) fclose(f);
    *n = len;
    return b;
}

static const cJSON *walk(const cJSON *j, const char *path) {
    char part[256];
    const char *p = path;
    while (j && *p) {
        size_t k = strcspn(p, ".");
        if (k >= sizeof part) return NULL;
        memcpy(part, p, k);
        part[k] = 0;
        p += k + (p[k] == '.');
        if (cJSON_IsArray(j) && isdigit((unsigned char)part[0]))
            j = cJSON_GetArrayItem(j, atoi(part));
        else
            j = cJSON_GetObjectItemCaseSensitive(j, part);
    }
    return j;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: awq_json_get FILE [PATH...]\n");
        return 2;
    }
    size_t n = 0;
    char *text = slurp(argv[1], &n);
    if (!text) {
        fprintf(stderr, "awq_json_get: cannot read %s\n", argv[1]);
        return 1;
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    if (!root) {
        fprintf(stderr, "awq_json_get: %s is not valid JSON\n", argv[1]);
        return 1;
    }
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        const cJSON *v = walk(root, argv[i]);
        if (!v) {
            fprintf(stderr, "awq_json_get: %s: no '%s'\n", argv[1], argv[i]);
            rc = 1;
            continue;
        }
        if (cJSON_IsString(v)) printf("%s\n", v->valuestring);
        else if (cJSON_IsBool(v)) printf("%s\n", cJSON_IsTrue(v) ? "true" : "false");
        else if (cJSON_IsNull(v)) printf("null\n");
        else if (cJSON_IsNumber(v)) {
            double d = v->valuedouble;
            if (d == floor(d) && fabs(d) < 9e15) printf("%.0f\n", d);
            else printf("%.17g\n", d);
        } else if (cJSON_IsArray(v)) printf("<array %d>\n", cJSON_GetArraySize(v));
        else printf("<object %d>\n", cJSON_GetArraySize(v));
    }
    cJSON_Delete(root);
    return rc;
}
