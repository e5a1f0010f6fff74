/*
 * embed/zygote.c - the warm zygote. An early helper answers the library as
 * soon as its minimal interpreter runs, and forks this process to import
 * the preload set meanwhile; once the zygote says it is ready, the helper
 * passes each execution's socket on to it (unread, like the library passes
 * it to the helper) and the zygote forks the children from its warm state.
 * If it dies, the helper serves from its minimal state again and forks a
 * new one a few times.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embed/embed.h"

/* A zygote that keeps dying is not forked again after this many. */
#define MAX_STARTS 4
/* Wait before forking a new one after a death. */
#define RESTART_DELAY_NS (1000000000ull)

/* Closes every fd from 3 up but keep (the zygote's socket) and the cache dir. */
static void close_others(int keep) {
    int lo = keep, hi = psb__helper.cache_fd;
    if (hi < lo) {
        lo = hi;
        hi = keep;
    }
    unsigned from = 3;
    int ends[2] = {lo, hi};
    for (int i = 0; i < 2; i++) {
        if (ends[i] < (int)from)
            continue;
        if (ends[i] > (int)from)
            (void)syscall(SYS_close_range, from, (unsigned)ends[i] - 1, 0u);
        from = (unsigned)ends[i] + 1;
    }
    (void)syscall(SYS_close_range, from, ~0u, 0u);
}

/* The zygote itself: preload, say so, serve. Never returns. */
static _Noreturn void zygote_main(const struct psb__zygote *z, int sock, pid_t parent,
                                  const char *root) {
    char msg[512];
    psb__interp_after_fork_child();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(1);
    (void)prctl(PR_SET_NAME, "psb-zygote", 0, 0, 0);
    /* The library's control socket, spares' and executions' sockets stay the helper's. */
    close_others(sock);
    psb__spare_forget();
    psb__pages_arenas_begin(); /* the preload's arenas: a region of its own */
    int rc = psb__interp_preload(z->preload, msg, sizeof msg);
    psb__pages_arenas_seal();
    if (rc != 0) {
        (void)send(sock, msg, strlen(msg), MSG_NOSIGNAL);
        _exit(1);
    }
    psb__cache_publish(psb__helper.cache_fd, z->mplconfig);
    (void)psb__cow_drain_heap(); /* first: the collapse takes the heap below its top */
    (void)psb__pages_collapse();
    psb__n_keep_fds = 0;
    psb__note_interpreter_fds(sock);
    psb__helper.start = PSB_START_WARM;
    if (send(sock, PSB__READY_MSG, strlen(PSB__READY_MSG), MSG_NOSIGNAL) < 0)
        _exit(1);
    psb__serve(sock, root, NULL, false);
    _exit(0);
}

int psb__zygote_start(struct psb__zygote *z, const char *root) {
    int sv[2];
    z->ready = false;
    z->retry_ns = 0;
    if (z->starts >= MAX_STARTS || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    z->starts++;
    pid_t parent = getpid();
    psb__interp_before_fork();
    pid_t pid = fork();
    if (pid != 0)
        psb__interp_after_fork_parent();
    if (pid == 0) {
        close(sv[0]);
        zygote_main(z, sv[1], parent, root);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    z->pid = pid;
    z->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    z->sock = sv[0];
    return 0;
}

struct pollfd psb__zygote_pollfd(const struct psb__zygote *z) {
    return (struct pollfd){.fd = z->sock, .events = POLLIN};
}

uint64_t psb__zygote_deadline(const struct psb__zygote *z) {
    if (z->pid <= 0 && z->retry_ns)
        return z->retry_ns;
    return z->pid > 0 && z->pidfd < 0 ? psb__now_ns() + 100000000u : 0; /* no pidfd: poll */
}

/* The zygote is gone or useless: reap it and plan a new one. */
static void lost(struct psb__zygote *z) {
    psb__zygote_stop(z, 0);
    z->retry_ns = z->starts < MAX_STARTS ? psb__now_ns() + RESTART_DELAY_NS : 0;
}

void psb__zygote_step(struct psb__zygote *z, short revents, const char *root) {
    if (z->pid <= 0) {
        if (z->retry_ns && psb__now_ns() >= z->retry_ns && psb__zygote_start(z, root) != 0)
            z->retry_ns = 0;
        return;
    }
    if (revents & POLLIN) {
        char msg[512];
        ssize_t n = recv(z->sock, msg, sizeof msg - 1, MSG_DONTWAIT);
        if (n == (ssize_t)strlen(PSB__READY_MSG) && memcmp(msg, PSB__READY_MSG, (size_t)n) == 0) {
            z->ready = true;
            return;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            lost(z); /* killed */
            return;
        }
        /* Why it failed (a preload that does not import): stay early. */
        psb__zygote_stop(z, 1000);
        z->retry_ns = 0;
        return;
    }
    if (revents & (POLLHUP | POLLERR))
        lost(z);
    else if (z->pidfd < 0 && waitpid(z->pid, NULL, WNOHANG) == z->pid) {
        z->pid = -1; /* reaped */
        lost(z);
    }
}

int psb__zygote_pass(struct psb__zygote *z, int fd) {
    if (z->pid <= 0 || !z->ready)
        return -1;
    /* Dead but not reaped yet: a copy of its socket in one of its children
     * would take the fd and never serve it. Seen from the pidfd, it is here. */
    struct pollfd dead = {.fd = z->pidfd, .events = POLLIN};
    if (z->pidfd >= 0 && poll(&dead, 1, 0) == 1) {
        lost(z);
        return -1;
    }
    if (psb__send_fd(z->sock, fd) != 0) {
        lost(z); /* it died before we noticed: run this one here */
        return -1;
    }
    close(fd);
    return 0;
}

void psb__zygote_stop(struct psb__zygote *z, int wait_ms) {
    if (z->sock >= 0)
        close(z->sock); /* EOF: it kills its executions and exits */
    z->sock = -1;
    if (!z->ready)
        wait_ms = 0; /* still preloading: it runs nothing to clean up */
    z->ready = false;
    if (z->pid > 0) {
        struct pollfd pf = {.fd = z->pidfd, .events = POLLIN};
        if (wait_ms > 0 && z->pidfd >= 0)
            (void)poll(&pf, 1, wait_ms);
        if (waitpid(z->pid, NULL, WNOHANG) != z->pid) {
            kill(z->pid, SIGKILL);
            while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR) {
            }
        }
    }
    z->pid = -1;
    if (z->pidfd >= 0)
        close(z->pidfd);
    z->pidfd = -1;
}
