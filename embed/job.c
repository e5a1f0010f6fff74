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
/* The lowest memory limit a spare is given before its request (MiB). */
#define SPARE_MEMORY_FLOOR_MIB 256u
/* Largest CONTROL frame: limits and the readable paths. */
#define CONTROL_MAX_BYTES ((uint64_t)1 << 20)

void psb__close_fd(int *fd) {
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

/* The control frame: limits, readable paths, a writable dir or not. 0, or -1 with msg. */
int psb__job_read_control(int sock, uint64_t deadline, psb__limits *ret_limits,
                          json_t **ret_readable, bool *ret_writable, char *msg, size_t msg_size) {
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
    if (ret_writable)
        *ret_writable = control.writable != NULL;
    else if (control.writable) {
        json_decref(*ret_readable);
        snprintf(msg, msg_size, "malformed request: a writable dir for a cell");
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    psb__buf_free(&text);
    return rc;
}

/* true if the three fds are a socket and two pipes, as the library makes them. */
bool psb__channels_valid(const int fds[PSB__CHAN_COUNT]) {
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
                     const json_t *readable, bool writable, char *msg, size_t msg_size,
                     psb_error_kind *ret_kind) {
    struct psb__vessel *v = &job->v;
    const psb__limits *lim = &job->limits;
    *ret_kind = PSB_KIND_INTERNAL;
    for (int attempt = 0;; attempt++) {
        /* A session's child is made for it: its seccomp filter asks the helper about forks.
         * One with a writable dir confines itself for it from its request. */
        if ((job->session || writable || attempt > 0 ||
             psb__vessel_take_spare(v, psb__helper.scratch_mib, readable) != 0) &&
            psb__vessel_create(v, scratch_root, psb__helper.scratch_mib, job->session,
                               writable || psb__helper.python ? NULL : psb__helper.readable_paths,
                               msg, msg_size) != 0)
            return -1;
        /* A session's snapshots are processes too (and each takes two forks to make). */
        uint64_t tasks =
            lim->v[PSB__LIMIT_THREADS] + (job->session ? lim->v[PSB__LIMIT_SNAPSHOTS] + 2 : 0);
        if (v->cg.path[PSB__CG_PIDS][0] && v->threads != tasks)
            (void)psb__cgroup_set_pids_max(&v->cg, tasks);
        uint64_t memory = lim->v[PSB__LIMIT_MEMORY_MIB] << 20;
        if (v->cg.path[PSB__CG_MEMORY][0] && v->memory_bytes != memory &&
            psb__cgroup_set_memory_max(&v->cg, memory) != 0) {
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
    /* A spare gets it when made (off the next request's path), unless so low
     * that its own preparation might not fit: then the hand-over sets it, and
     * says so if the interpreter is already past it. */
    uint64_t memory = job->limits.v[PSB__LIMIT_MEMORY_MIB];
    psb__helper.memory_bytes = memory >= SPARE_MEMORY_FLOOR_MIB ? memory << 20 : 0;
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
    if (!psb__channels_valid(ch)) {
        snprintf(msg, sizeof msg, "malformed request: the channels are not a socket and pipes");
        goto fail;
    }
    bool writable = false;
    if (psb__job_read_control(sock, deadline, &job->limits, &readable, &writable, msg,
                              sizeof msg) != 0)
        goto fail;
    /* A one-off install does not reshape the spares of ordinary executions. */
    if (!writable)
        note_last_request(job, readable);
    if (hand_over(job, ch, scratch_root, readable, writable, msg, sizeof msg, &fail_kind) != 0)
        goto fail;
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        psb__close_fd(&ch[i]);
    if (job->session && psb__session_begin(job) != 0) {
        job->abandoned = true;
        psb__job_kill(job);
    }
    if (job->session) {
        /* The child says on it when each cell ends, and takes the next cell's channels. */
        job->child_ctl = job->v.ctl;
        job->v.ctl = -1;
        fcntl(job->child_ctl, F_SETFL, O_NONBLOCK);
        job->in_cell = true;
        job->end_ns = job->start_ns + job->limits.v[PSB__LIMIT_SESSION_LIFETIME_S] * 1000000000ull;
        job->idle_limit_ns = job->limits.v[PSB__LIMIT_SESSION_IDLE_S] * 1000000000ull;
    }
    psb__close_fd(&job->v.ctl);
    json_decref(readable);
    fcntl(sock, F_SETFL, O_NONBLOCK);
    *ret_job = job;
    return 0;

fail:
    status_error(sock, fail_kind, msg);
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        psb__close_fd(&ch[i]);
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
    /* During a session's operation the library waits for its answer: nothing to read. */
    bool listen = !job->abandoned && !(job->session && job->op.kind);
    fds[0] = (struct pollfd){.fd = listen ? job->sock : -1, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = job->exited ? -1 : job->v.pidfd, .events = POLLIN};
    return job->session ? 2 + psb__session_pollfds(job, fds + 2) : 2;
}

psb__job *psb__job_take_created(psb__job *job) {
    psb__job *b = job->created;
    job->created = NULL;
    return b;
}

/*
 * A one-shot child that stopped itself after its reply (psb__child_finish):
 * the STATUS goes now, from what the kernel says of the stopped process, and
 * its teardown (exit_mmap of the interpreter's mappings) runs behind it.
 */
static void report_done(psb__job *job, uint64_t now) {
    struct psb__exit x;
    psb__job_live_facts(job, now, &x);
    /*
     * Not SCHED_IDLE: back to back, an idle teardown starved by the next
     * executions made them slower (measured); it likely holds locks the next
     * fork takes too (those of the shared file mappings).
     */
    kill(-job->v.pid, SIGKILL);
    kill(job->v.pid, SIGKILL);
    job->reported = true;
    psb__last_response_ns = now;
    if (!job->abandoned) {
        char *text = psb__exit_encode(&x);
        if (text)
            (void)psb__frame_write(job->sock, PSB__FRAME_STATUS, text, strlen(text));
        free(text);
    }
    psb__close_fd(&job->sock); /* the library has all it gets */
    /* Its files go before the next execution can look (it writes no more). */
    psb__remove_tree(job->v.scratch);
    job->v.scratch[0] = '\0';
}

/* true if the job's one-shot child is stopped (and not reaped: WNOWAIT). */
static bool stopped(const psb__job *job) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_PID, (id_t)job->v.pid, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid == job->v.pid && si.si_code == CLD_STOPPED;
}

/* The child exited (its pidfd said so, or there is none to say): reap it. */
static void reap(psb__job *job, uint64_t now) {
    /* Whatever the child left in its process group goes with it; signalled
     * while the zombie still holds the id, so it cannot hit a reused one. */
    kill(-job->v.pid, SIGKILL);
    pid_t r = wait4(job->v.pid, &job->wstatus, WNOHANG, &job->ru);
    if (r < 0 && errno == ECHILD) {
        job->wstatus = SIGKILL; /* not ours to reap (cannot happen): gone all the same */
    } else if (r != job->v.pid) {
        return;
    }
    job->exited = true;
    job->exit_ns = now;
    job->v.pid = -1; /* reaped: never signal that id again */
    psb__close_fd(&job->v.pidfd);
    if (!job->reported)
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

void psb__job_step(psb__job *job, const struct pollfd *fds, uint64_t now) {
    /* A session between cells (or in an operation) is the session's to step. */
    bool between = job->session && psb__session_step(job, fds, now);
    if (!between && !job->abandoned && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        read_library(job);
    /* A one-shot child's stop comes as SIGCHLD, not through its pidfd: look each round. */
    if (!job->exited && job->v.pid > 0 && !job->session && !job->reported && stopped(job))
        report_done(job, now);
    if (!job->exited && job->v.pid > 0 && (job->v.pidfd < 0 || (fds[1].revents & POLLIN)))
        reap(job, now);
    if (job->exited || job->reported || job->v.pid <= 0)
        return;
    if (job->session && !job->ended && now >= job->end_ns) {
        job->ended = PSB__END_LIFETIME;
        psb__job_kill(job);
        job->killed = false; /* not the library's doing */
        return;
    }
    if (between)
        return;
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
    if (job->v.pid > 0 && job->v.pidfd < 0)
        return psb__now_ns() + 10000000u; /* no pidfd: poll for the exit */
    if (job->reported)
        return 0; /* killed: its exit comes through the pidfd */
    uint64_t next = job->session && !job->in_cell ? 0
                    : job->interrupted            ? job->kill_ns
                                                  : job->deadline_ns;
    uint64_t own = job->session ? psb__session_deadline(job) : 0;
    if (own && (!next || own < next))
        next = own;
    return next;
}

bool psb__job_done(const psb__job *job) {
    return job->exited;
}

void psb__job_kill(psb__job *job) {
    if (job->exited || job->reported || job->v.pid <= 0)
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
    if (!job->abandoned && !job->reported) {
        struct psb__exit x;
        exit_facts(job, &x);
        char *text = psb__exit_encode(&x);
        if (text)
            (void)psb__frame_write(job->sock, PSB__FRAME_STATUS, text, strlen(text));
        free(text);
    }
    if (job->session)
        psb__session_finish(job); /* its snapshots, and its share of the scratch dir */
    psb__vessel_discard(&job->v); /* reaped already: removes the scratch dir and cgroups */
    psb__close_fd(&job->child_ctl);
    psb__close_fd(&job->sock);
    free(job);
}
