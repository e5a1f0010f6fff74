/*
 * base/buf.c - a growable, always NUL-terminated byte buffer used for
 * frames and captured output.
 */
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"

int psb__buf_append(psb__buf *buf, const void *data, size_t n) {
    if (n > SIZE_MAX - buf->len - 1)
        return -1;
    size_t need = buf->len + n + 1;
    if (need > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        char *p = realloc(buf->data, cap);
        if (!p)
            return -1;
        buf->data = p;
        buf->cap = cap;
    }
    if (n)
        memcpy(buf->data + buf->len, data, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return 0;
}

void psb__buf_free(psb__buf *buf) {
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

char *psb__buf_steal(psb__buf *buf) {
    char *p = buf->data;
    if (!p)
        p = calloc(1, 1);
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return p;
}
