/*
 * base/jsondump.c - compact JSON text with the shortest float form that
 * reads back exactly (20.9, not jansson's %.17g 20.899999999999999).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"

/* Shortest %.Ng (15..17 digits) that round-trips, always with a '.', 'e' or 'n'. */
static void format_real_default(double d, char *out, size_t size) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (!strpbrk(out, ".eEn"))
        strncat(out, ".0", size - strlen(out) - 1);
}

/* The float formatter in use: the child installs Python's own repr. */
static psb__real_format_fn format_real = format_real_default;

void psb__json_set_real_format(psb__real_format_fn fn) {
    format_real = fn ? fn : format_real_default;
}

/* Decimal digits of v, faster than snprintf for the common case of many ints. */
static size_t format_int(json_int_t v, char *out) {
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
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
        return psb__buf_append(b, num, format_int(json_integer_value(v), num));
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!isfinite(d))
            return -1; /* jansson never holds these; tagged values carry them */
        /* Whole numbers (counts, np.arange) are common: digits and ".0". */
        if (fabs(d) < 1e15 && d == (double)(long long)d && !(d == 0 && signbit(d))) {
            size_t n = format_int((json_int_t)d, num);
            memcpy(num + n, ".0", 3);
            return psb__buf_append(b, num, n + 2);
        }
        format_real(d, num, sizeof num);
        return psb__buf_append(b, num, strlen(num));
    }
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
