/*
 * lines.c - reading a protocol's lines (serve, mcp, run --connect) and
 * writing them. A line longer than the cap is never buffered: it is read
 * and dropped up to its newline and reported once. Writers share a stream
 * through a lock, so each line reaches the reader whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"

void cli_lines_init(struct cli_lines *l, int fd, size_t max_bytes) {
    memset(l, 0, sizeof *l);
    l->fd = fd;
    l->max = max_bytes;
}

void cli_lines_release(struct cli_lines *l) {
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = l->start = 0;
}

/* A whole line in the buffer past start: its length, or -1. */
static ssize_t find_line(const struct cli_lines *l) {
    const char *nl = l->buf ? memchr(l->buf + l->start, '\n', l->len - l->start) : NULL;
    return nl ? nl - (l->buf + l->start) : -1;
}

enum cli_line cli_lines_next(struct cli_lines *l, char **ret_line, size_t *ret_len) {
    for (;;) {
        ssize_t n = l->buf ? find_line(l) : -1;
        if (n < 0 && l->buf && l->eof && l->len > l->start && !l->dropping)
            n = (ssize_t)(l->len - l->start); /* a last line without its newline */
        if (n >= 0) {
            char *line = l->buf + l->start;
            line[n] = '\0';
            l->start += (size_t)n + (l->start + (size_t)n < l->len ? 1 : 0);
            bool dropped = l->dropping || (size_t)n > l->max;
            l->dropping = false;
            if (dropped) /* a line that was too long, or its tail */
                return CLI_LINE_TOO_LONG;
            *ret_line = line;
            *ret_len = (size_t)n;
            return CLI_LINE_OK;
        }
        /* No whole line: keep the partial one, or drop it once past the cap. */
        if (l->buf)
            memmove(l->buf, l->buf + l->start, l->len - l->start);
        l->len -= l->start;
        l->start = 0;
        if (l->len > l->max) {
            l->dropping = true;
            l->len = 0;
        }
        if (l->eof) {
            bool dropped = l->dropping;
            l->dropping = false;
            return dropped ? CLI_LINE_TOO_LONG : CLI_LINE_EOF;
        }
        if (l->cap - l->len < 65536) {
            size_t cap = l->cap ? l->cap * 2 : 65536 * 2;
            char *grown = realloc(l->buf, cap + 1);
            if (!grown)
                return CLI_LINE_ERROR;
            l->buf = grown;
            l->cap = cap;
        }
        if (l->nonblocking && !l->readable)
            return CLI_LINE_AGAIN; /* one read per wake-up: the caller polls again */
        l->readable = false;
        ssize_t got = read(l->fd, l->buf + l->len, l->cap - l->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            return CLI_LINE_AGAIN;
        if (got < 0)
            return CLI_LINE_ERROR;
        if (got == 0)
            l->eof = true;
        l->len += (size_t)got;
    }
}

void cli_out_init(struct cli_out *o, int fd) {
    memset(o, 0, sizeof *o);
    o->fd = fd;
    pthread_mutex_init(&o->lock, NULL);
}

void cli_out_release(struct cli_out *o) {
    pthread_mutex_destroy(&o->lock);
}

/* Writes all of data; sockets get MSG_NOSIGNAL, so a gone reader is EPIPE. */
static int write_fully(int fd, const char *data, size_t len, bool socket) {
    while (len) {
        ssize_t n = socket ? send(fd, data, len, MSG_NOSIGNAL) : write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int cli_out_text(struct cli_out *o, const char *text, size_t len) {
    int rc = -1;
    pthread_mutex_lock(&o->lock);
    if (!o->broken) {
        rc = write_fully(o->fd, text, len, o->socket);
        if (rc != 0)
            o->broken = true; /* the reader is gone: later lines are dropped */
    }
    pthread_mutex_unlock(&o->lock);
    return rc;
}

int cli_out_json(struct cli_out *o, json_t *doc) {
    char *text = doc ? psb__json_dumps(doc) : NULL;
    int rc = -1;
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n'; /* replaces the NUL: the line goes out in one write */
        rc = cli_out_text(o, text, n + 1);
    }
    free(text);
    json_decref(doc);
    return rc;
}
