/*
 * embed/fdpass.c - passing one fd over a unix socket (SCM_RIGHTS) with a
 * single byte of data: execution sockets to the helper, stdin to a child.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "embed/internal.h"

union fd_cmsg {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
};

int psb__send_fd(int sock, int fd) {
    char byte = 'F';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union fd_cmsg cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

int psb__recv_fd(int sock, int *ret_fd) {
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union fd_cmsg cm;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        return 1;
    if (n < 0)
        return errno == EAGAIN ? 2 : -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)))
        return 2; /* a byte without an fd */
    memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
    return 0;
}
