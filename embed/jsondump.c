/*
 * embed/jsondump.c - compact JSON text with the shortest float form that
 * reads back exactly (20.9, not jansson's %.17g 20.899999999999999).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/internal.h"

/* Shortest %.Ng (15..17 digits) that round-trips, always with a '.', 'e' or 'n'. */
static int format_real(double d, char *out, size_t size) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (!strpbrk(out, ".eEn"))
        strncat(out, ".0", size - strlen(out) - 1);
    return 0;
}

static int dump(const json_t *v, psb__buf *b, int depth);

static int dump_string(const char *s, size_t len, psb__buf *b) {
    static const char hex[] = "0123456789abcdef";
    if (psb__buf_append(b, "\"", 1))
        return -1;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            u[6] = '\0';
            esc = u;
        }
        if (!esc)
            continue;
        if (psb__buf_append(b, s + start, i - start) || psb__buf_append(b, esc, strlen(esc)))
            return -1;
        start = i + 1;
    }
    return psb__buf_append(b, s + start, len - start) || psb__buf_append(b, "\"", 1) ? -1 : 0;
}

static int dump(const json_t *v, psb__buf *b, int depth) {
    char num[64];
    if (depth > 4096)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *item;
        bool first = true;
        if (psb__buf_append(b, "{", 1))
            return -1;
        json_object_foreach((json_t *)(uintptr_t)v, k, item) {
            if ((!first && psb__buf_append(b, ",", 1)) || dump_string(k, strlen(k), b) ||
                psb__buf_append(b, ":", 1) || dump(item, b, depth + 1))
                return -1;
            first = false;
        }
        return psb__buf_append(b, "}", 1);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        if (psb__buf_append(b, "[", 1))
            return -1;
        json_array_foreach(v, i, item) {
            if ((i && psb__buf_append(b, ",", 1)) || dump(item, b, depth + 1))
                return -1;
        }
        return psb__buf_append(b, "]", 1);
    }
    case JSON_STRING:
        return dump_string(json_string_value(v), json_string_length(v), b);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return psb__buf_append(b, num, strlen(num));
    case JSON_REAL:
        if (!isfinite(json_real_value(v)))
            return -1; /* jansson never holds these; tagged values carry them */
        format_real(json_real_value(v), num, sizeof num);
        return psb__buf_append(b, num, strlen(num));
    case JSON_TRUE:
        return psb__buf_append(b, "true", 4);
    case JSON_FALSE:
        return psb__buf_append(b, "false", 5);
    case JSON_NULL:
    default:
        return psb__buf_append(b, "null", 4);
    }
}

char *psb__json_dumps(const json_t *v) {
    psb__buf b = {0};
    if (dump(v, &b, 0) != 0) {
        psb__buf_free(&b);
        return NULL;
    }
    return psb__buf_steal(&b);
}
