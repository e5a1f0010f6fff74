/*
 * embed/buf.c - a growable, always NUL-terminated byte buffer used for
 * frames and captured output.
 */
#include <stdlib.h>
#include <string.h>

#include "embed/internal.h"

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

void psb__files_free(struct psb__file *files, size_t n) {
    for (size_t i = 0; files && i < n; i++) {
        free(files[i].name);
        psb__buf_free(&files[i].data);
    }
    free(files);
}

int psb__file_frame(const char *name, const void *data, size_t len, psb__buf *ret) {
    psb__buf b = {0};
    if (psb__buf_append(&b, name, strlen(name) + 1) != 0 || psb__buf_append(&b, data, len) != 0) {
        psb__buf_free(&b);
        return -1;
    }
    *ret = b;
    return 0;
}

int psb__file_frame_parse(const psb__buf *payload, const char **ret_name, const char **ret_data,
                          size_t *ret_len) {
    const char *nul = payload->data ? memchr(payload->data, '\0', payload->len) : NULL;
    if (!nul || !psb__file_name_valid(payload->data))
        return -1;
    *ret_name = payload->data;
    *ret_data = nul + 1;
    *ret_len = payload->len - (size_t)(nul + 1 - payload->data);
    return 0;
}
