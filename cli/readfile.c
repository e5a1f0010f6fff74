/*
 * readfile.c - reads a whole file (or stdin) into memory, with a size cap.
 *
 * Every file the tool reads is user-controlled, so every read is capped: a
 * file past the cap is an error, never silently cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define CHUNK_BYTES ((size_t)64 << 10)

int cli_read_file(const char *path, size_t max_bytes, char **ret_data, size_t *ret_len,
                  char *errbuf, size_t errbuf_size) {
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    int fd = -1, rc = -1;
    char *buf = NULL, *grown;
    size_t cap = 0, len = 0, limit = max_bytes + 1; /* one more: detects overflow */
    ssize_t n;

    fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size, "cannot open '%s': %s", name, strerror(errno));
        goto out;
    }
    for (;;) {
        if (len == cap) {
            cap = cap == 0 ? CHUNK_BYTES : cap * 2;
            if (cap > limit)
                cap = limit;
            grown = realloc(buf, cap + 1); /* + 1: the terminating NUL */
            if (grown == NULL) {
                snprintf(errbuf, errbuf_size, "reading '%s': out of memory", name);
                goto out;
            }
            buf = grown;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(errbuf, errbuf_size, "cannot read '%s': %s", name, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max_bytes) {
            snprintf(errbuf, errbuf_size, "'%s' is larger than the limit of %zu MiB", name,
                     max_bytes >> 20);
            goto out;
        }
    }
    if (buf == NULL) { /* unreachable: the loop allocates first; keeps analyzers calm */
        snprintf(errbuf, errbuf_size, "reading '%s': out of memory", name);
        goto out;
    }
    buf[len] = '\0';
    *ret_data = buf;
    *ret_len = len;
    buf = NULL;
    rc = 0;
out:
    if (fd >= 0 && !is_stdin)
        close(fd);
    free(buf);
    return rc;
}
