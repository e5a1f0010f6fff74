/*
 * base/fdpass.c - passing fds over a unix socket (SCM_RIGHTS) with a
 * single byte of data: execution sockets to the helper, an execution's
 * channels from the library through the helper to its child.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/wire.h"

#define MAX_FDS 4

union fd_cmsg {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
};

int psb__send_fds(int sock, const int *fds, size_t n) {
    return psb__send_fds_tagged(sock, PSB__TAG_EXEC, fds, n);
}

int psb__send_fds_tagged(int sock, char tag, const int *fds, size_t n) {
    char byte = tag;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union fd_cmsg cm;
    if (n == 0 || n > MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    memset(&cm, 0, sizeof cm);
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cm.buf,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    ssize_t sent;
    do {
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent == 1 ? 0 : -1;
}

int psb__send_fd(int sock, int fd) {
    return psb__send_fds(sock, &fd, 1);
}

/* Closes every fd a message carried. */
static void close_carried(struct msghdr *msg) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            close(fd);
        }
    }
}

int psb__recv_fds(int sock, int *ret_fds, size_t n, uint64_t deadline_ns) {
    char tag;
    return psb__recv_fds_tagged(sock, ret_fds, n, deadline_ns, &tag);
}

int psb__recv_fds_tagged(int sock, int *ret_fds, size_t n, uint64_t deadline_ns, char *ret_tag) {
    int fds[MAX_FDS];
    size_t got = 0;
    if (n == 0 || n > MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    int rc = psb__recv_fds_any(sock, fds, n, &got, ret_tag, deadline_ns);
    if (rc == 0 && got != n) {
        for (size_t i = 0; i < got; i++)
            close(fds[i]);
        errno = EPROTO; /* other fds than expected, or none */
        return -1;
    }
    if (rc == 0)
        memcpy(ret_fds, fds, sizeof(int) * n);
    return rc;
}

int psb__recv_fds_any(int sock, int *ret_fds, size_t max, size_t *ret_n, char *ret_tag,
                      uint64_t deadline_ns) {
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union fd_cmsg cm;
    if (max > MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    if (deadline_ns) {
        uint64_t now = psb__now_ns();
        struct pollfd p = {.fd = sock, .events = POLLIN};
        int rc;
        do {
            rc = poll(&p, 1, now < deadline_ns ? (int)((deadline_ns - now) / 1000000u) + 1 : 0);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    ssize_t got;
    do {
        got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (got < 0 && errno == EINTR);
    if (got == 0)
        return 1;
    if (got < 0)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    size_t n = 0;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if ((msg.msg_flags & MSG_CTRUNC) || n > max || (c && (n == 0 || CMSG_NXTHDR(&msg, c)))) {
        close_carried(&msg);
        errno = EPROTO;
        return -1;
    }
    if (n)
        memcpy(ret_fds, CMSG_DATA(c), sizeof(int) * n);
    *ret_n = n;
    *ret_tag = byte;
    return 0;
}

int psb__recv_fd(int sock, int *ret_fd) {
    int rc = psb__recv_fds(sock, ret_fd, 1, 0);
    /* A byte without an fd (closed already), or nothing to read yet. */
    return rc < 0 && (errno == EPROTO || errno == EAGAIN) ? 2 : rc;
}
