/*
 * base/base64.c - standard base64 (RFC 4648, with padding) for figures and
 * files in JSON outcomes.
 */
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *psb__base64_encode(const void *data, size_t len) {
    const unsigned char *in = data;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0u);
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int value_of(char c) {
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

int psb__base64_decode(const char *text, size_t len, psb__buf *ret) {
    psb__buf out = {0};
    if (len % 4 != 0)
        return -1;
    if (psb__buf_append(&out, "", 0) != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (text[i + (size_t)k] == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = value_of(text[i + (size_t)k])) < 0) {
                psb__buf_free(&out);
                return -1;
            }
        }
        unsigned n =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        unsigned char bytes[3] = {(unsigned char)(n >> 16), (unsigned char)(n >> 8),
                                  (unsigned char)n};
        if (psb__buf_append(&out, bytes, (size_t)(3 - pad)) != 0) {
            psb__buf_free(&out);
            return -1;
        }
    }
    *ret = out;
    return 0;
}
