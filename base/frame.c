/*
 * base/frame.c - length-prefixed frames on the library <-> helper sockets
 * and the child -> helper result pipe.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/wire.h"

uint64_t psb__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int psb__write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    struct stat st;
    bool sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    while (len) {
        ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                (void)poll(&pfd, 1, 1000);
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int psb__frame_write(int fd, uint32_t type, const void *data, size_t len) {
    unsigned char hdr[16];
    uint32_t zero = 0;
    uint64_t len64 = len;
    memcpy(hdr, &type, 4);
    memcpy(hdr + 4, &zero, 4);
    memcpy(hdr + 8, &len64, 8);
    if (psb__write_all(fd, hdr, sizeof hdr))
        return -1;
    return len ? psb__write_all(fd, data, len) : 0;
}

int psb__read_exact(int fd, void *dst, size_t len, uint64_t deadline_ns) {
    char *p = dst;
    while (len) {
        if (deadline_ns) {
            uint64_t now = psb__now_ns();
            if (now >= deadline_ns) {
                errno = ETIMEDOUT;
                return -1;
            }
            uint64_t left_ms = (deadline_ns - now) / 1000000u + 1;
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            int rc = poll(&pfd, 1, left_ms > 60000 ? 60000 : (int)left_ms);
            if (rc < 0 && errno != EINTR)
                return -1;
            if (rc <= 0)
                continue;
        }
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int psb__frame_read_header(int fd, uint32_t *ret_type, uint64_t *ret_len, uint64_t deadline_ns,
                           uint64_t max_len) {
    unsigned char hdr[16];
    uint32_t type, zero;
    uint64_t len;
    if (psb__read_exact(fd, hdr, sizeof hdr, deadline_ns))
        return -1;
    memcpy(&type, hdr, 4);
    memcpy(&zero, hdr + 4, 4);
    memcpy(&len, hdr + 8, 8);
    if (zero != 0 || len > max_len || len > PSB__FRAME_MAX) {
        errno = EPROTO;
        return -1;
    }
    *ret_type = type;
    *ret_len = len;
    return 0;
}

int psb__frame_read(int fd, uint32_t *ret_type, psb__buf *ret_buf, uint64_t deadline_ns,
                    uint64_t max_len) {
    uint32_t type;
    uint64_t len;
    if (psb__frame_read_header(fd, &type, &len, deadline_ns, max_len))
        return -1;
    psb__buf buf = {0};
    if (psb__buf_append(&buf, "", 0) || (len && psb__buf_append(&buf, NULL, 0)))
        goto nomem;
    if (len) {
        char *p = realloc(buf.data, (size_t)len + 1);
        if (!p)
            goto nomem;
        buf.data = p;
        buf.cap = (size_t)len + 1;
        if (psb__read_exact(fd, buf.data, (size_t)len, deadline_ns)) {
            int e = errno;
            psb__buf_free(&buf);
            errno = e;
            return -1;
        }
        buf.len = (size_t)len;
        buf.data[len] = '\0';
    }
    *ret_type = type;
    *ret_buf = buf;
    return 0;
nomem:
    psb__buf_free(&buf);
    errno = ENOMEM;
    return -1;
}
