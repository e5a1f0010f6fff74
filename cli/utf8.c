/*
 * utf8.c - checks that code is UTF-8 without NUL before anything is spawned.
 *
 * The library checks again in psb_exec(); checking here lets the tool point
 * at the offending byte and refuse bad input without starting the helper.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli/cli.h"

/*
 * Length of the well-formed UTF-8 sequence at s (at most `left` bytes), or 0
 * when it is not one: overlong forms, surrogates and code points past
 * U+10FFFF are refused (RFC 3629, section 4).
 */
static size_t sequence_length(const unsigned char *s, size_t left) {
    size_t n = 0, i;
    unsigned char lo = 0x80, hi = 0xBF;

    if (s[0] < 0x80) {
        n = 1;
        goto out;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        goto out; /* continuation byte, C0/C1 overlong lead, or > U+10FFFF */
    if (s[0] == 0xE0)
        lo = 0xA0; /* overlong */
    else if (s[0] == 0xED)
        hi = 0x9F; /* surrogates */
    else if (s[0] == 0xF0)
        lo = 0x90; /* overlong */
    else if (s[0] == 0xF4)
        hi = 0x8F; /* past U+10FFFF */
    if (n > left || s[1] < lo || s[1] > hi) {
        n = 0;
        goto out;
    }
    for (i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            n = 0;
            goto out;
        }
    }
out:
    return n;
}

const char *cli_check_text(const char *text, size_t len, size_t *ret_offset) {
    const unsigned char *s = (const unsigned char *)text;
    const char *problem = NULL;
    size_t i = 0, n;

    while (i < len) {
        if (s[i] == 0) {
            problem = "contains a NUL byte";
            goto out;
        }
        n = sequence_length(s + i, len - i);
        if (n == 0) {
            problem = "is not valid UTF-8";
            goto out;
        }
        i += n;
    }
out:
    if (problem != NULL)
        *ret_offset = i;
    return problem;
}

/*
 * Length of the bytes at the end of data that begin a UTF-8 sequence the
 * next chunk completes (0..3): they wait, so no character is split.
 */
static size_t incomplete_tail(const char *data, size_t len) {
    for (size_t k = 1; k <= 3 && k <= len; k++) {
        unsigned char b = (unsigned char)data[len - k];
        if ((b & 0xC0) == 0x80)
            continue; /* a continuation byte: look further back */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

json_t *cli_chunk_text(struct cli_chunk_tail *t, const char *data, size_t len) {
    char *joined = NULL;
    if (!data) { /* the end: what was kept, as it is */
        json_t *rest = t->len ? psb__json_lossy_string(t->bytes, t->len) : NULL;
        t->len = 0;
        return rest;
    }
    if (t->len) { /* the character the last chunk left open comes first */
        if (!(joined = malloc(t->len + len)))
            return NULL;
        memcpy(joined, t->bytes, t->len);
        memcpy(joined + t->len, data, len);
        len += t->len;
        data = joined;
    }
    size_t open = incomplete_tail(data, len);
    json_t *text = len > open ? psb__json_lossy_string(data, len - open) : NULL;
    memcpy(t->bytes, data + len - open, open);
    t->len = open;
    free(joined);
    return text;
}
