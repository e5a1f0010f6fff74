/*
 * embed/session.c - sessions as the helper runs them: control information
 * only. Between cells it passes each cell's channels on unread, reports
 * each cell's kernel facts, and ends the session at its lifetime or idle
 * time; snapops.c carries out its snapshots, restores and branches.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embed/embed.h"

/* ---- the kernel's view of a process ---- */

/* /proc/PID/NAME into buf (NUL-terminated). 0, or -1. */
static int read_proc(pid_t pid, const char *name, char *buf, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* A numeric field of /proc/PID/status ("PPid:"), or -1. */
long psb__status_field(pid_t pid, const char *key) {
    char buf[4096];
    if (read_proc(pid, "status", buf, sizeof buf) != 0)
        return -1;
    const char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

uint64_t psb__process_cpu_ms(pid_t pid) {
    char buf[1024];
    if (read_proc(pid, "stat", buf, sizeof buf) != 0)
        return 0;
    /* After the command's closing parenthesis: field 3 on; utime and stime are 14 and 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    for (int field = 3; p && *p && field <= 15; field++) {
        while (*p == ' ' || *p == ')')
            p++;
        unsigned long long v = strtoull(p, NULL, 10);
        if (field == 14)
            utime = v;
        else if (field == 15)
            stime = v;
        p = strchr(p, ' ');
    }
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (utime + stime) * 1000u / (unsigned long long)hz : 0;
}

/* true if pid is a live child of ours (so we can reap it). */
bool psb__our_child(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return pid > 0 && waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
}

/* Kills and reaps a child of ours. */
void psb__kill_reap(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* ---- lineages ---- */

int psb__session_begin(psb__job *job) {
    struct psb__lineage *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    /* The scratch dir now belongs to the lineage: branches work in it too. */
    snprintf(l->root, sizeof l->root, "%s", job->v.scratch);
    job->v.scratch[0] = '\0';
    l->refs = 1;
    l->names = 1;
    l->notify_fd = -1;
    job->lineage = l;
    snprintf(job->work, sizeof job->work, "work-0");
    job->op = (struct psb__op){.sock = -1, .library_fd = -1};
    return 0;
}

static void lineage_unref(struct psb__lineage *l) {
    if (!l || --l->refs > 0)
        return;
    psb__close_fd(&l->notify_fd);
    psb__remove_tree(l->root);
    free(l);
}

/* ---- cells ---- */

/* A cell's channels arrived: hand them to the child with the cell's clock. */
static void next_cell(psb__job *job, int ch[PSB__CHAN_COUNT], uint64_t now) {
    char msg[256];
    json_t *readable = NULL;
    psb__limits limits;
    if (!psb__channels_valid(ch) || psb__job_read_control(job->sock, now + 10000000000ull, &limits,
                                                          &readable, NULL, msg, sizeof msg) != 0) {
        job->abandoned = true; /* the library broke the protocol: the session cannot go on */
        psb__job_kill(job);
        goto out;
    }
    job->limits.v[PSB__LIMIT_TIMEOUT_MS] = limits.v[PSB__LIMIT_TIMEOUT_MS];
    job->cell_cpu_ms = psb__process_cpu_ms(job->v.pid);
    job->start_ns = psb__now_ns();
    job->deadline_ns = job->start_ns + limits.v[PSB__LIMIT_TIMEOUT_MS] * 1000000u;
    job->interrupted = false;
    job->in_cell = true;
    if (psb__send_fds_tagged(job->child_ctl, PSB__TAG_CELL, ch, PSB__CHAN_COUNT) != 0)
        psb__job_kill(job); /* the child is gone: its exit ends the session */
out:
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        psb__close_fd(&ch[i]);
    json_decref(readable);
}

/* What the library sends between cells: a cell, an operation, or a late byte. */
static void library_between_cells(psb__job *job, uint64_t now) {
    int fds[PSB__CHAN_COUNT] = {-1, -1, -1};
    size_t n = 0;
    char tag = 0;
    int r = psb__recv_fds_any(job->sock, fds, PSB__CHAN_COUNT, &n, &tag, now + 1000000000ull);
    if (r == 1 || (r < 0 && errno != EAGAIN)) {
        job->abandoned = true; /* the caller is gone */
        psb__job_kill(job);
        return;
    }
    if (r != 0)
        return;
    if (tag == PSB__TAG_CELL && n == PSB__CHAN_COUNT) {
        next_cell(job, fds, now);
        return;
    }
    if (tag == PSB__TAG_OP && n <= 1) {
        psb__op_read(job, n ? fds[0] : -1, now);
        return;
    }
    for (size_t i = 0; i < n; i++)
        psb__close_fd(&fds[i]); /* a late interrupt byte for the cell that ended: nothing */
}

/* The process's peak resident set (VmHWM), KiB; 0 when unknown. */
static uint64_t peak_rss_kib(pid_t pid) {
    long v = psb__status_field(pid, "VmHWM:");
    return v > 0 ? (uint64_t)v : 0;
}

void psb__job_live_facts(const psb__job *job, uint64_t now, struct psb__exit *x) {
    memset(x, 0, sizeof *x);
    x->timed_out = job->interrupted;
    x->killed = job->killed;
    x->stats.wall_ms = (now - job->start_ns) / 1000000u;
    uint64_t cpu = psb__process_cpu_ms(job->v.pid);
    x->stats.cpu_ms = cpu > job->cell_cpu_ms ? cpu - job->cell_cpu_ms : 0;
    x->stats.peak_rss_kib = peak_rss_kib(job->v.pid);
    x->stats.start = psb__helper.start;
    uint64_t peak = 0;
    psb__cgroup_memory_report(&job->v.cg, &peak, &x->oom);
    x->stats.peak_memory_kib = peak / 1024u;
}

/* What the kernel says of one cell, sent as its STATUS frame; the session goes on. */
static void cell_done(psb__job *job, uint64_t now) {
    struct psb__exit x;
    psb__job_live_facts(job, now, &x);
    x.alive = true;
    x.oom = false; /* an OOM kill ends the session: its STATUS says so */
    char *text = psb__exit_encode(&x);
    if (!job->abandoned &&
        (!text || psb__frame_write(job->sock, PSB__FRAME_STATUS, text, strlen(text)) != 0)) {
        job->abandoned = true;
        psb__job_kill(job);
    }
    free(text);
    job->in_cell = false;
    job->interrupted = false;
    job->idle_ns = now + job->idle_limit_ns;
}

/*
 * true if fd is a seccomp listener: the child's code may send anything on
 * its control socket (with the seccomp layer off, nobody else sends one).
 */
static bool is_listener(int fd) {
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:seccomp notify") == 0;
}

/* The child's control socket: "cell done", its seccomp listener once, or EOF as it dies. */
static void read_child(psb__job *job, uint64_t now) {
    int fd = -1;
    size_t n = 0;
    char tag = 0;
    int r = psb__recv_fds_any(job->child_ctl, &fd, 1, &n, &tag, now + 1);
    if (r < 0 && (errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR))
        return;
    if (r != 0) {
        psb__close_fd(&job->child_ctl); /* its exit comes through the pidfd */
        return;
    }
    if (tag == PSB__CHILD_LISTENER && n == 1 && job->lineage->notify_fd < 0 && is_listener(fd)) {
        job->lineage->notify_fd = fd; /* the one fd its processes' forks wait on */
        return;
    }
    if (n)
        close(fd);
    if (tag == PSB__CHILD_CELL_DONE && job->in_cell)
        cell_done(job, now);
}

/* The helper ends the session itself: its lifetime or idle time ran out. */
static void expire(psb__job *job, psb__session_end why) {
    job->ended = why;
    psb__job_kill(job);
    job->killed = false; /* not the library's doing */
}

int psb__session_pollfds(const psb__job *job, struct pollfd *fds) {
    bool running = !job->exited && job->v.pid > 0;
    fds[0] = (struct pollfd){.fd = running ? job->child_ctl : -1, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = !job->exited ? job->lineage->notify_fd : -1, .events = POLLIN};
    fds[2] = (struct pollfd){.fd = job->op.sock, .events = POLLIN};
    return 3;
}

bool psb__session_step(psb__job *job, const struct pollfd *fds, uint64_t now) {
    const struct pollfd *own = fds + 2; /* after the job's library socket and pidfd */
    if (own[1].revents & POLLIN)
        psb__answer_fork(job->lineage);
    else if (own[1].revents & (POLLHUP | POLLERR))
        psb__close_fd(&job->lineage->notify_fd); /* no process uses the filter any more */
    if (job->op.kind &&
        ((own[2].revents & (POLLIN | POLLHUP | POLLERR)) || now >= job->op.deadline_ns))
        psb__op_progress(job, now);
    if (job->v.pid > 0 && job->child_ctl >= 0 && (own[0].revents & (POLLIN | POLLHUP | POLLERR)))
        read_child(job, now);
    if (job->exited || job->op.kind || job->v.pid <= 0)
        return true; /* over, or an operation is under way: no cell, no idle clock */
    if (job->in_cell)
        return false;
    if (!job->abandoned && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        library_between_cells(job, now);
    if (!job->ended && !job->exited && now >= job->idle_ns && !job->in_cell)
        expire(job, PSB__END_IDLE);
    return !job->in_cell;
}

uint64_t psb__session_deadline(const psb__job *job) {
    uint64_t next = job->ended ? 0 : job->end_ns;
    uint64_t other = job->op.kind ? job->op.deadline_ns : job->in_cell ? 0 : job->idle_ns;
    if (other && (!next || other < next))
        next = other;
    return next;
}

void psb__session_finish(psb__job *job) {
    if (job->op.kind)
        psb__op_end(job);
    while (job->snaps) {
        struct psb__snap *s = job->snaps;
        job->snaps = s->next;
        psb__snap_free(job->lineage, s);
    }
    lineage_unref(job->lineage);
    job->lineage = NULL;
}
