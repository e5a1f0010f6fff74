/*
 * base/files.c - named files in and out of an execution: the name rule,
 * the FILE frame's payload (name, NUL, bytes) and freeing file arrays.
 */
#include <stdlib.h>
#include <string.h>

#include "base/wire.h"

bool psb__file_name_valid(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > PSB__MAX_FILE_NAME || name[0] == '/' || !psb__utf8_valid(name, len))
        return false;
    const char *p = name;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > 255 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '\\')
                return false;
        p += n;
        if (*p == '/')
            p++;
        if (slash && !*p)
            return false; /* trailing slash */
    }
    return true;
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
