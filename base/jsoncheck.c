/*
 * base/jsoncheck.c - checks that bytes are one JSON text (RFC 8259, UTF-8)
 * without building a tree: the library believes a child's result only after
 * this, and renders it later by copying the text, so a result costs the
 * host its size, not jansson's ~40 bytes per value.
 */
#include <string.h>

#include "base/wire.h"

struct scan {
    const unsigned char *p, *end;
};

static void skip_ws(struct scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool hex4(struct scan *s) {
    if (s->end - s->p < 4)
        return false;
    for (int i = 0; i < 4; i++, s->p++) {
        unsigned char c = *s->p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

/* A string, the opening quote already taken. */
static bool string(struct scan *s) {
    const unsigned char *run = s->p;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"' || c == '\\' || c < 0x20) {
            if (!psb__utf8_valid((const char *)run, (size_t)(s->p - run)))
                return false;
            if (c < 0x20)
                return false;
            s->p++;
            if (c == '"')
                return true;
            if (s->p == s->end)
                return false;
            c = *s->p++;
            if (c == 'u') {
                if (!hex4(s))
                    return false;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return false;
            }
            run = s->p;
            continue;
        }
        s->p++;
    }
    return false;
}

static bool digits(struct scan *s) {
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool number(struct scan *s) {
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (!digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!digits(s))
            return false;
    }
    return true;
}

static bool literal(struct scan *s, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return false;
    s->p += n;
    return true;
}

/* true if the container open at level d (0-based) is an object. */
static bool is_object(const unsigned char *kinds, unsigned d) {
    return ((unsigned)kinds[d / 8] >> (d % 8) & 1u) != 0;
}

bool psb__json_text_valid(const char *text, size_t len, unsigned max_depth) {
    /* One bit per open container (1: object, 0: array); set by read-modify-write. */
    unsigned char kinds[PSB__JSON_MAX_DEPTH / 8 + 1] = {0};
    unsigned depth = 0;
    struct scan s = {(const unsigned char *)text, (const unsigned char *)text + len};
    if (max_depth > PSB__JSON_MAX_DEPTH)
        max_depth = PSB__JSON_MAX_DEPTH;
    for (;;) {
        /* A value. */
        skip_ws(&s);
        if (s.p == s.end)
            return false;
        unsigned char c = *s.p;
        bool opened = false;
        if (c == '{' || c == '[') {
            if (depth == max_depth)
                return false;
            s.p++;
            if (c == '{')
                kinds[depth / 8] = (unsigned char)(kinds[depth / 8] | (1u << (depth % 8)));
            else
                kinds[depth / 8] = (unsigned char)(kinds[depth / 8] & ~(1u << (depth % 8)));
            depth++;
            skip_ws(&s);
            if (s.p < s.end && *s.p == (c == '{' ? '}' : ']')) {
                s.p++;
                depth--;
            } else {
                opened = true;
            }
        } else if (c == '"') {
            s.p++;
            if (!string(&s))
                return false;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (!literal(&s, c == 't' ? "true" : c == 'f' ? "false" : "null"))
                return false;
        } else if (!number(&s)) {
            return false;
        }
        if (opened && is_object(kinds, depth - 1)) {
            /* The first key of an object. */
            if (s.p == s.end || *s.p != '"')
                return false;
            s.p++;
            if (!string(&s))
                return false;
            skip_ws(&s);
            if (s.p == s.end || *s.p++ != ':')
                return false;
            continue;
        }
        if (opened)
            continue;
        /* After a value: a separator, a close, or the end. */
        for (;;) {
            skip_ws(&s);
            if (depth == 0)
                return s.p == s.end;
            if (s.p == s.end)
                return false;
            bool object = is_object(kinds, depth - 1);
            c = *s.p++;
            if (c == (object ? '}' : ']')) {
                depth--;
                continue;
            }
            if (c != ',')
                return false;
            if (object) {
                skip_ws(&s);
                if (s.p == s.end || *s.p++ != '"' || !string(&s))
                    return false;
                skip_ws(&s);
                if (s.p == s.end || *s.p++ != ':')
                    return false;
            }
            break;
        }
    }
}

bool psb__png_size(const void *data, size_t len, unsigned *ret_width, unsigned *ret_height) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *p = data;
    /* Signature, then the IHDR chunk: length 13, "IHDR", width, height (big-endian). */
    if (len < 33 || memcmp(p, sig, 8) != 0 || memcmp(p + 8, "\0\0\0\15IHDR", 8) != 0)
        return false;
    uint32_t w = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
    uint32_t h = (uint32_t)p[20] << 24 | (uint32_t)p[21] << 16 | (uint32_t)p[22] << 8 | p[23];
    /* The PNG spec: 1 .. 2^31-1. */
    if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
        return false;
    *ret_width = w;
    *ret_height = h;
    return true;
}
