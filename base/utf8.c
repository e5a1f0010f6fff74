/*
 * base/utf8.c - strict UTF-8 validation for code and lossy decoding of
 * captured output into JSON strings.
 */
#include <string.h>

#include "base/wire.h"

/* Length of the valid sequence at s (0 when invalid). */
static size_t seq_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0; /* overlong or out of range */
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0; /* surrogate */
    return n;
}

bool psb__utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

bool psb__has_nul(const char *s, size_t len) {
    return memchr(s, '\0', len) != NULL;
}

json_t *psb__json_lossy_string(const char *s, size_t len) {
    if (psb__utf8_valid(s, len))
        return json_stringn(s, len);
    psb__buf out = {0};
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    json_t *str = NULL;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        int rc = n ? psb__buf_append(&out, p + i, n) : psb__buf_append(&out, "\xef\xbf\xbd", 3);
        if (rc)
            goto out;
        i += n ? n : 1;
    }
    str = json_stringn(out.data ? out.data : "", out.len);
out:
    psb__buf_free(&out);
    return str;
}
