/*
 * base/display.c - MIME bundles (display() and a cell's last expression)
 * on the wire: the DISPLAY frame's payload, written by the child and
 * checked by the library without building a tree of what the child sent.
 */
#include <string.h>

#include "base/wire.h"

/* A MIME type as bundles use them: "type/subtype", RFC 6838 characters. */
static bool mime_valid(const char *s, size_t len) {
    size_t slashes = 0;
    if (len < 3 || len > PSB__MAX_MIME_NAME || s[0] == '/' || s[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '/') {
            slashes++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$&-^_.+", c)))
            return false;
    }
    return slashes == 1;
}

bool psb__mime_is_json(const char *mime) {
    size_t n = strlen(mime);
    return strcmp(mime, "application/json") == 0 || (n > 5 && strcmp(mime + n - 5, "+json") == 0);
}

int psb__display_frame(bool result, const struct psb__mime_entry *e, size_t n, psb__buf *ret) {
    psb__buf b = {0};
    char kind = result ? 'R' : 'D';
    int rc = psb__buf_append(&b, &kind, 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t len = e[i].len;
        rc = psb__buf_append(&b, e[i].mime, strlen(e[i].mime) + 1);
        rc = rc ? rc : psb__buf_append(&b, &len, sizeof len);
        rc = rc ? rc : psb__buf_append(&b, e[i].data, e[i].len);
    }
    if (rc != 0) {
        psb__buf_free(&b);
        return -1;
    }
    *ret = b;
    return 0;
}

int psb__display_frame_parse(const psb__buf *payload, bool *ret_result,
                             struct psb__mime_entry ret[PSB__MAX_MIMES], size_t *ret_n) {
    const char *p = payload->data, *end = p ? p + payload->len : NULL;
    size_t n = 0;
    bool plain = false;
    if (!p || payload->len < 1 || (p[0] != 'R' && p[0] != 'D'))
        return -1;
    *ret_result = p[0] == 'R';
    for (p++; p < end; n++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        uint64_t len;
        if (n == PSB__MAX_MIMES || !nul || !mime_valid(p, (size_t)(nul - p)) ||
            (size_t)(end - nul - 1) < sizeof len)
            return -1;
        memcpy(&len, nul + 1, sizeof len);
        const char *data = nul + 1 + sizeof len;
        if (len > (uint64_t)(end - data))
            return -1;
        for (size_t i = 0; i < n; i++)
            if (strcmp(ret[i].mime, p) == 0)
                return -1; /* one value per type */
        ret[n] = (struct psb__mime_entry){.mime = p, .data = data, .len = (size_t)len};
        bool json = psb__mime_is_json(p);
        if (json ? !psb__json_text_valid(data, (size_t)len, PSB__MAX_INPUTS_DEPTH)
                 : !psb__utf8_valid(data, (size_t)len))
            return -1;
        plain |= strcmp(p, "text/plain") == 0;
        p = data + len;
    }
    if (!plain)
        return -1;
    *ret_n = n;
    return 0;
}
