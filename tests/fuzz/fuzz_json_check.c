/*
 * tests/fuzz/fuzz_json_check.c - psb__json_text_valid() against jansson.
 * The library trusts a child's result text once this validator accepts it
 * (embed/exec.c) and later copies the text verbatim into the outcome's
 * JSON, so it must never accept what a real JSON parser refuses, and should
 * not refuse what one accepts.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "host/host.h"

#define MAX_DEPTH 512u

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of a \uXXXX escape at p (p[0] == '\\'), or -1. */
static long escape_at(const uint8_t *p, const uint8_t *end) {
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* What a scan outside and inside strings found (meaningful for valid JSON). */
struct facts {
    unsigned depth;      /* deepest nesting of arrays and objects */
    bool lone_surrogate; /* a \uD800-\uDFFF escape that is not a proper pair */
    bool num_overflow;   /* an integer outside int64, or a real beyond double */
    bool nul_key;        /* an object key with a \u0000 escape */
};

/* Whether the number token p[0..n) overflows what jansson stores. */
static bool overflows(const uint8_t *p, size_t n) {
    char *tok = malloc(n + 1);
    bool real = false, over = false;
    if (!tok)
        abort();
    memcpy(tok, p, n);
    tok[n] = '\0';
    real = strpbrk(tok, ".eE") != NULL;
    errno = 0;
    if (real)
        over = isinf(strtod(tok, NULL));
    else
        over = (strtoll(tok, NULL, 10), errno == ERANGE);
    free(tok);
    return over;
}

static struct facts scan(const uint8_t *p, size_t size) {
    struct facts f = {0, false, false, false};
    const uint8_t *end = p + size;
    unsigned depth = 0;
    bool in_string = false, nul_escape = false;
    while (p < end) {
        uint8_t c = *p;
        if (in_string) {
            if (c == '"') {
                in_string = false;
                const uint8_t *q = p + 1;
                while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
                    q++;
                if (nul_escape && q < end && *q == ':')
                    f.nul_key = true;
            } else if (c == '\\') {
                long v = escape_at(p, end);
                if (v == 0)
                    nul_escape = true;
                if (v >= 0xd800 && v <= 0xdbff) {
                    long lo = escape_at(p + 6, end);
                    if (lo >= 0xdc00 && lo <= 0xdfff)
                        p += 6;
                    else
                        f.lone_surrogate = true;
                } else if (v >= 0xdc00 && v <= 0xdfff) {
                    f.lone_surrogate = true;
                }
                p++; /* the escaped character; a \u's hex digits pass as text */
            }
        } else if (c == '"') {
            in_string = true;
            nul_escape = false;
        } else if (c == '[' || c == '{') {
            if (++depth > f.depth)
                f.depth = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t n = strspn((const char *)p, "0123456789+-.eE");
            /* strspn stops at a NUL; the run cannot pass the end otherwise. */
            if (n > (size_t)(end - p))
                n = (size_t)(end - p);
            if (overflows(p, n))
                f.num_overflow = true;
            p += n;
            continue;
        }
        p++;
    }
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    /* strspn() above needs a terminator: scan a NUL-terminated copy. */
    uint8_t *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    struct facts f = scan(copy, size);
    free(copy);

    bool ours = psb__json_text_valid(text, size, MAX_DEPTH);
    json_error_t jerr;

    /*
     * jansson accepts => we accept, for inputs within what we promise:
     * valid UTF-8 throughout, no NUL byte, nested at most MAX_DEPTH deep.
     * (jansson refuses \u0000 without JSON_ALLOW_NUL, so it is not needed
     * here; its own depth cap is 2048.)
     */
    json_t *v = json_loadb(text, size, JSON_DECODE_ANY, &jerr);
    if (v && psb__utf8_valid(text, size) && !psb__has_nul(text, size) && f.depth <= MAX_DEPTH &&
        !ours) {
        fprintf(stderr, "json_check: jansson accepts, psb__json_text_valid refuses\n");
        abort();
    }
    json_decref(v);

    /*
     * We accept => jansson accepts (with JSON_ALLOW_NUL, since RFC 8259
     * allows "\u0000"), except for what jansson refuses beyond the grammar:
     * - a lone surrogate escape ("\ud800", "\udc00", a high one not followed
     *   by a low one): well-formed per RFC 8259 section 7, but jansson
     *   cannot make UTF-8 of it ("invalid Unicode");
     * - a key with a \u0000 escape: jansson keeps keys as C strings ("NUL
     *   byte in object key not supported"), even with JSON_ALLOW_NUL;
     * - an integer outside int64 ("too big integer") or a real that
     *   overflows a double ("real number overflow"): RFC 8259 section 6
     *   leaves the range to implementations. Underflow is fine for both.
     * These are found by a scan of the input, not by jansson's message, so
     * that a later error in the same text is not masked.
     */
    if (ours && !f.lone_surrogate && !f.num_overflow && !f.nul_key) {
        v = json_loadb(text, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!v) {
            fprintf(stderr, "json_check: psb__json_text_valid accepts, jansson refuses: %s at %d\n",
                    jerr.text, jerr.position);
            abort();
        }
        json_decref(v);
    }
    return 0;
}
