/*
 * embed/job.c - one execution as the helper sees it: control information
 * only. It takes the execution's channel ends from the library and passes
 * them to a spare child without reading them (the request and the output
 * never enter the helper, whose memory every later child inherits), keeps
 * the wall-clock deadline from outside (interrupt, then kill the process
 * group), reaps the child and reports what the kernel says: exit status,
 * signal, CPU time, peak memory, OOM kills.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embed/embed.h"

/* How long the channels and control frame may take once the library handed us its socket. */
#define CONTROL_READ_TIMEOUT_NS (10ull * 1000000000ull)
/* Largest CONTROL frame: limits and the readable paths. */
#define CONTROL_MAX_BYTES ((uint64_t)1 << 20)

struct psb__job {
    int sock;             /* the library's socket for this execution */
    psb__limits limits;   /* from the control frame */
    struct psb__vessel v; /* the child, its scratch dir and cgroups */
    uint64_t start_ns;    /* when the child got its channels */
    uint64_t deadline_ns; /* start + timeout */
    uint64_t kill_ns;     /* when an interrupted child gets SIGKILL */
    uint64_t exit_ns;     /* when the child was reaped */
    bool interrupted;     /* SIGINT sent at the deadline */
    bool killed;          /* SIGKILL sent by us, asked by the library (or it left) */
    bool exited;          /* reaped */
    bool abandoned;       /* the library went away */
    int wstatus;          /* from wait4 */
    struct rusage ru;     /* from wait4 */
    /* A session: the child runs cell after cell; the clock runs per cell. */
    bool session;           /* started with PSB__TAG_SESSION */
    bool in_cell;           /* a cell runs (the clock is on) */
    int child_ctl;          /* the session child's control socket ("cell done"), -1 */
    uint64_t idle_ns;       /* between cells: when the session closes for idleness */
    uint64_t end_ns;        /* when its lifetime ends */
    uint64_t cell_cpu_ms;   /* the process's CPU time when the cell started */
    psb__session_end ended; /* why the helper ended it */
    uint64_t idle_limit_ns; /* the session's idle time limit */
};

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Sends a STATUS frame saying the execution could not run. */
static void status_error(int sock, psb_error_kind kind, const char *message) {
    struct psb__exit x = {.error_kind = kind};
    snprintf(x.error_message, sizeof x.error_message, "%s", message);
    char *text = psb__exit_encode(&x);
    if (text)
        (void)psb__frame_write(sock, PSB__FRAME_STATUS, text, strlen(text));
    free(text);
}

/* The control frame: limits and readable paths. 0, or -1 with msg. */
static int read_control(int sock, uint64_t deadline, psb__limits *ret_limits, json_t **ret_readable,
                        char *msg, size_t msg_size) {
    uint32_t type;
    psb__buf text = {0};
    json_t *doc = NULL;
    int rc = -1;
    if (psb__frame_read(sock, &type, &text, deadline, CONTROL_MAX_BYTES) != 0 ||
        type != PSB__FRAME_CONTROL) {
        snprintf(msg, msg_size, "malformed request: no control frame");
        goto out;
    }
    doc = json_loadb(text.data, text.len, 0, NULL);
    struct psb__control control;
    if (psb__control_decode(doc, &control, msg, msg_size) != 0)
        goto out;
    *ret_limits = control.limits;
    *ret_readable = json_incref((json_t *)(uintptr_t)control.readable_paths);
    rc = 0;
out:
    json_decref(doc);
    psb__buf_free(&text);
    return rc;
}

/* true if the three fds are a socket and two pipes, as the library makes them. */
static bool channels_valid(const int fds[PSB__CHAN_COUNT]) {
    struct stat st;
    if (fstat(fds[PSB__CHAN_DATA], &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    for (int i = PSB__CHAN_STDOUT; i < PSB__CHAN_COUNT; i++)
        if (fstat(fds[i], &st) != 0 || !S_ISFIFO(st.st_mode))
            return false;
    return true;
}

/*
 * Gives the channels to a spare (or, once, a fresh child if the spare died
 * while it waited) in cgroups set to the job's limits, and starts the
 * clock. 0, or -1 with msg and *ret_kind.
 */
static int hand_over(psb__job *job, const int ch[PSB__CHAN_COUNT], const char *scratch_root,
                     const json_t *readable, char *msg, size_t msg_size, psb_error_kind *ret_kind) {
    struct psb__vessel *v = &job->v;
    const psb__limits *lim = &job->limits;
    *ret_kind = PSB_KIND_INTERNAL;
    for (int attempt = 0;; attempt++) {
        if ((attempt > 0 || psb__vessel_take_spare(v, psb__helper.scratch_mib, readable) != 0) &&
            psb__vessel_create(v, scratch_root, psb__helper.scratch_mib, msg, msg_size) != 0)
            return -1;
        if (v->cg.path[PSB__CG_PIDS][0] && v->threads != lim->v[PSB__LIMIT_THREADS])
            (void)psb__cgroup_set_pids_max(&v->cg, lim->v[PSB__LIMIT_THREADS]);
        if (v->cg.path[PSB__CG_MEMORY][0] &&
            psb__cgroup_set_memory_max(&v->cg, lim->v[PSB__LIMIT_MEMORY_MIB] << 20) != 0) {
            /* A spare already past the limit (it cannot be lowered below its usage). */
            *ret_kind = PSB_KIND_MEMORY_LIMIT;
            snprintf(msg, msg_size,
                     "the memory limit of %llu MiB is below what the interpreter needs to start",
                     (unsigned long long)lim->v[PSB__LIMIT_MEMORY_MIB]);
            return -1;
        }
        psb__vessel_set_idle(v->pid, false);
        /* Go: the channels, which only the child holds from here on. The clock starts now. */
        job->start_ns = psb__now_ns();
        job->deadline_ns = job->start_ns + lim->v[PSB__LIMIT_TIMEOUT_MS] * 1000000u;
        if (psb__send_fds(v->ctl, ch, PSB__CHAN_COUNT) == 0)
            return 0;
        if (attempt == 1) {
            snprintf(msg, msg_size, "the execution child did not take its channels: %s",
                     strerror(errno));
            return -1;
        }
        psb__vessel_discard(v);
    }
}

/* Makes the next spares fit the last request: scratch size, threads, readable paths. */
static void note_last_request(const psb__job *job, const json_t *readable) {
    psb__helper.scratch_mib = job->limits.v[PSB__LIMIT_SCRATCH_MIB];
    psb__helper.threads = job->limits.v[PSB__LIMIT_THREADS];
    if (!psb__helper.readable_paths || !json_equal(psb__helper.readable_paths, readable)) {
        json_decref(psb__helper.readable_paths);
        psb__helper.readable_paths = json_deep_copy(readable);
    }
}

int psb__job_start(int sock, const char *scratch_root, psb__job **ret_job) {
    int ch[PSB__CHAN_COUNT] = {-1, -1, -1};
    json_t *readable = NULL;
    psb__job *job = NULL;
    char msg[256];
    psb_error_kind fail_kind = PSB_KIND_INVALID_REQUEST;
    *ret_job = NULL;

    /* A caller that stops reading must not stall the helper's other executions. */
    struct timeval send_timeout = {.tv_sec = 5, .tv_usec = 0};
    (void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    uint64_t deadline = psb__now_ns() + CONTROL_READ_TIMEOUT_NS;
    char tag = 0;
    if (psb__recv_fds_tagged(sock, ch, PSB__CHAN_COUNT, deadline, &tag) != 0) {
        close(sock);
        return -1;
    }
    job = calloc(1, sizeof *job);
    if (!job) {
        fail_kind = PSB_KIND_INTERNAL;
        snprintf(msg, sizeof msg, "helper out of memory");
        goto fail;
    }
    job->sock = sock;
    job->v.pid = -1;
    job->v.pidfd = job->v.ctl = -1;
    job->child_ctl = -1;
    job->session = tag == PSB__TAG_SESSION;
    if (!channels_valid(ch)) {
        snprintf(msg, sizeof msg, "malformed request: the channels are not a socket and pipes");
        goto fail;
    }
    if (read_control(sock, deadline, &job->limits, &readable, msg, sizeof msg) != 0)
        goto fail;
    note_last_request(job, readable);
    if (hand_over(job, ch, scratch_root, readable, msg, sizeof msg, &fail_kind) != 0)
        goto fail;
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        close_fd(&ch[i]);
    if (job->session) {
        /* The child says on it when each cell ends, and takes the next cell's channels. */
        job->child_ctl = job->v.ctl;
        job->v.ctl = -1;
        fcntl(job->child_ctl, F_SETFL, O_NONBLOCK);
        job->in_cell = true;
        job->end_ns = job->start_ns + job->limits.v[PSB__LIMIT_SESSION_LIFETIME_S] * 1000000000ull;
        job->idle_limit_ns = job->limits.v[PSB__LIMIT_SESSION_IDLE_S] * 1000000000ull;
    }
    close_fd(&job->v.ctl);
    json_decref(readable);
    fcntl(sock, F_SETFL, O_NONBLOCK);
    *ret_job = job;
    return 0;

fail:
    status_error(sock, fail_kind, msg);
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        close_fd(&ch[i]);
    json_decref(readable);
    if (job) {
        psb__vessel_discard(&job->v);
        free(job);
    }
    close(sock);
    return 0;
}

uint64_t psb__last_response_ns;

bool psb__job_running(const psb__job *job) {
    return !job->exited;
}

int psb__job_pollfds(const psb__job *job, struct pollfd *fds) {
    fds[0] = (struct pollfd){.fd = job->abandoned ? -1 : job->sock, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = job->exited ? -1 : job->v.pidfd, .events = POLLIN};
    fds[2] = (struct pollfd){.fd = job->exited ? -1 : job->child_ctl, .events = POLLIN};
    return 3;
}

static void reap(psb__job *job, uint64_t now) {
    /* Whatever the child left in its process group goes with it; signalled
     * while the zombie still holds the id, so it cannot hit a reused one. */
    kill(-job->v.pid, SIGKILL);
    pid_t r = wait4(job->v.pid, &job->wstatus, WNOHANG, &job->ru);
    if (r != job->v.pid)
        return;
    job->exited = true;
    job->exit_ns = now;
    job->v.pid = -1; /* reaped: never signal that id again */
    close_fd(&job->v.pidfd);
    psb__last_response_ns = now;
}

/* What the library sent after the control frame: a kill request, or EOF. */
static void read_library(psb__job *job) {
    char buf[64];
    ssize_t n = recv(job->sock, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        job->abandoned = true; /* the caller is gone */
        psb__job_kill(job);
        return;
    }
    if (memchr(buf, PSB__HOST_KILL, (size_t)n))
        psb__job_kill(job);
    else if (job->session && job->in_cell && !job->interrupted &&
             memchr(buf, PSB__HOST_INTERRUPT, (size_t)n))
        job->deadline_ns = 0; /* the deadline's path: interrupt, then kill after the grace */
}

/* The CPU time the process has used so far (all its threads), ms; 0 when unknown. */
static uint64_t process_cpu_ms(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* After the command's closing parenthesis: field 3 on; utime and stime are 14 and 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (utime + stime) * 1000u / (unsigned long long)hz : 0;
}

/* The process's peak resident set (VmHWM), KiB; 0 when unknown. */
static uint64_t process_peak_rss_kib(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strstr(buf, "VmHWM:");
    return p ? strtoull(p + 6, NULL, 10) : 0;
}

/* A session's next cell arrived on the library's socket: hand its channels to the child. */
static void next_cell(psb__job *job, uint64_t now) {
    int ch[PSB__CHAN_COUNT] = {-1, -1, -1};
    char tag = 0, msg[256];
    json_t *readable = NULL;
    uint64_t deadline = now + CONTROL_READ_TIMEOUT_NS;
    int r = psb__recv_fds_tagged(job->sock, ch, PSB__CHAN_COUNT, deadline, &tag);
    if (r == 1 || (r < 0 && errno != EPROTO && errno != EAGAIN)) {
        job->abandoned = true; /* the caller is gone */
        psb__job_kill(job);
        return;
    }
    if (r != 0)
        return; /* a late interrupt byte for the cell that ended: nothing to do */
    psb__limits limits;
    if (tag != PSB__TAG_CELL || !channels_valid(ch) ||
        read_control(job->sock, deadline, &limits, &readable, msg, sizeof msg) != 0) {
        /* The library broke the protocol: the session cannot go on. */
        job->abandoned = true;
        psb__job_kill(job);
        goto out;
    }
    job->limits.v[PSB__LIMIT_TIMEOUT_MS] = limits.v[PSB__LIMIT_TIMEOUT_MS];
    job->cell_cpu_ms = process_cpu_ms(job->v.pid);
    job->start_ns = psb__now_ns();
    job->deadline_ns = job->start_ns + limits.v[PSB__LIMIT_TIMEOUT_MS] * 1000000u;
    job->interrupted = false;
    job->in_cell = true;
    if (psb__send_fds_tagged(job->child_ctl, PSB__TAG_CELL, ch, PSB__CHAN_COUNT) != 0)
        psb__job_kill(job); /* the child is gone: its exit ends the session */
out:
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        close_fd(&ch[i]);
    json_decref(readable);
}

/* What the kernel says of one cell, sent as its STATUS frame; the session goes on. */
static void cell_done(psb__job *job, uint64_t now) {
    struct psb__exit x;
    memset(&x, 0, sizeof x);
    x.alive = true;
    x.timed_out = job->interrupted;
    x.stats.wall_ms = (now - job->start_ns) / 1000000u;
    uint64_t cpu = process_cpu_ms(job->v.pid);
    x.stats.cpu_ms = cpu > job->cell_cpu_ms ? cpu - job->cell_cpu_ms : 0;
    x.stats.peak_rss_kib = process_peak_rss_kib(job->v.pid);
    x.stats.start = psb__helper.start;
    uint64_t peak = 0;
    psb__cgroup_memory_report(&job->v.cg, &peak, &x.oom);
    x.oom = false; /* it is still running: nothing was killed */
    x.stats.peak_memory_kib = peak / 1024u;
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

/* The session child's control socket: "cell done", or EOF as it dies. */
static void read_child(psb__job *job, uint64_t now) {
    char buf[64];
    ssize_t n = recv(job->child_ctl, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_fd(&job->child_ctl); /* its exit comes through the pidfd */
        return;
    }
    if (job->in_cell && memchr(buf, PSB__CHILD_CELL_DONE, (size_t)n))
        cell_done(job, now);
}

/* The helper ends the session itself: its lifetime or idle time ran out. */
static void expire(psb__job *job, psb__session_end why) {
    job->ended = why;
    psb__job_kill(job);
    job->killed = false; /* not the library's doing */
}

void psb__job_step(psb__job *job, const struct pollfd *fds, uint64_t now) {
    if (job->session && !job->exited && job->child_ctl >= 0 &&
        (fds[2].revents & (POLLIN | POLLHUP | POLLERR)))
        read_child(job, now);
    if (!job->abandoned && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (job->session && !job->in_cell && !job->exited)
            next_cell(job, now);
        else
            read_library(job);
    }
    if (!job->exited && (job->v.pidfd < 0 || (fds[1].revents & POLLIN)))
        reap(job, now);
    if (job->exited)
        return;
    if (job->session && !job->ended && now >= job->end_ns) {
        expire(job, PSB__END_LIFETIME);
        return;
    }
    if (job->session && !job->in_cell) {
        if (!job->ended && now >= job->idle_ns)
            expire(job, PSB__END_IDLE);
        return;
    }
    if (!job->interrupted && now >= job->deadline_ns) {
        /* Interrupt first so the traceback shows the line that was running. */
        job->interrupted = true;
        job->kill_ns = now + PSB__INTERRUPT_GRACE_MS * 1000000ull;
        kill(job->v.pid, SIGINT);
    } else if (job->interrupted && now >= job->kill_ns) {
        kill(-job->v.pid, SIGKILL);
        kill(job->v.pid, SIGKILL);
    }
}

uint64_t psb__job_next_deadline(const psb__job *job) {
    if (job->exited)
        return 0;
    if (job->v.pidfd < 0)
        return psb__now_ns() + 10000000u; /* no pidfd: poll for the exit */
    uint64_t next = job->interrupted ? job->kill_ns : job->deadline_ns;
    if (job->session && !job->in_cell)
        next = job->idle_ns;
    if (job->session && !job->ended && job->end_ns < next)
        next = job->end_ns;
    return next;
}

bool psb__job_done(const psb__job *job) {
    return job->exited;
}

void psb__job_kill(psb__job *job) {
    if (job->exited || job->v.pid <= 0)
        return;
    job->killed = true;
    kill(-job->v.pid, SIGKILL);
    kill(job->v.pid, SIGKILL);
}

/* The kernel's account of the execution. */
static void exit_facts(const psb__job *job, struct psb__exit *x) {
    const struct rusage *ru = &job->ru;
    memset(x, 0, sizeof *x);
    if (WIFEXITED(job->wstatus))
        x->code = WEXITSTATUS(job->wstatus);
    else if (WIFSIGNALED(job->wstatus))
        x->signal = WTERMSIG(job->wstatus);
    x->timed_out = job->interrupted;
    x->killed = job->killed;
    x->ended = job->ended;
    x->stats.wall_ms = (job->exit_ns - job->start_ns) / 1000000u;
    x->stats.cpu_ms =
        (uint64_t)ru->ru_utime.tv_sec * 1000u + (uint64_t)ru->ru_utime.tv_usec / 1000u +
        (uint64_t)ru->ru_stime.tv_sec * 1000u + (uint64_t)ru->ru_stime.tv_usec / 1000u;
    /* A session: the cell it died in (what ran before was reported with its cells). */
    x->stats.cpu_ms = x->stats.cpu_ms > job->cell_cpu_ms ? x->stats.cpu_ms - job->cell_cpu_ms : 0;
    x->stats.peak_rss_kib = (uint64_t)ru->ru_maxrss;
    x->stats.start = psb__helper.start;
    uint64_t peak = 0;
    psb__cgroup_memory_report(&job->v.cg, &peak, &x->oom);
    x->stats.peak_memory_kib = peak / 1024u;
}

void psb__job_finish(psb__job *job) {
    if (!job->abandoned) {
        struct psb__exit x;
        exit_facts(job, &x);
        char *text = psb__exit_encode(&x);
        if (text)
            (void)psb__frame_write(job->sock, PSB__FRAME_STATUS, text, strlen(text));
        free(text);
    }
    psb__vessel_discard(&job->v); /* reaped already: removes the scratch dir and cgroups */
    close_fd(&job->child_ctl);
    close_fd(&job->sock);
    free(job);
}
