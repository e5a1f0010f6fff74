/*
 * embed/job.c - one execution as the helper sees it: read the request,
 * hand it to a spare child (vessel.c), collect its output under caps,
 * enforce the wall-clock deadline from outside (interrupt, then kill the
 * process group), answer as soon as the reply is complete, reap later.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embed/internal.h"

/* How long a request may take to arrive once the library handed us its socket. */
#define REQUEST_READ_TIMEOUT_NS (10ull * 1000000000ull)
/* Pipes still open this long after the child exited are closed by force. */
#define DRAIN_AFTER_EXIT_NS (500ull * 1000000ull)
/* Room in the result pipe beyond result_bytes for the error details. */
#define RESULT_SLACK_BYTES (1u << 20)

enum { OUT, ERR, RES, NSTREAMS };

struct psb__job {
    int sock;                       /* the library's socket for this execution */
    json_t *req;                    /* checked request */
    psb__limits limits;             /* from the request */
    char scratch[PATH_MAX];         /* per-execution scratch dir, cwd of the child */
    pid_t pid;                      /* child pid, also its process group id */
    int pidfd;                      /* readable once the child exits; -1 after reaping */
    int fd[NSTREAMS];               /* read ends; -1 once at EOF */
    psb__buf buf[NSTREAMS];         /* what was kept of each stream */
    uint64_t cap[NSTREAMS];         /* bytes kept at most per stream */
    bool trunc[NSTREAMS];           /* bytes were dropped */
    uint64_t start_ns;              /* fork time */
    uint64_t deadline_ns;           /* start + timeout */
    uint64_t kill_ns;               /* when an interrupted child gets SIGKILL */
    uint64_t exit_ns;               /* when the child was reaped */
    bool interrupted;               /* SIGINT sent at the deadline */
    bool killed;                    /* SIGKILL sent by us */
    bool exited;                    /* reaped */
    bool abandoned;                 /* the library went away */
    bool responded;                 /* the outcome was sent */
    char cgroup[192];               /* the child's pids cgroup, "" when none */
    int wstatus;                    /* from wait4 */
    struct rusage ru;               /* from wait4 */
    struct psb__input_stat *inputs; /* the input files as placed (left out on the way out) */
    size_t n_inputs;                /* entries in inputs */
};

static bool reply_complete(const psb__buf *b);
static void respond(psb__job *job, bool early);

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void send_reply(int sock, json_t *reply, const char *result, size_t result_len,
                       const psb__buf *out, const psb__buf *err) {
    char *text = json_dumps(reply, JSON_COMPACT);
    if (!text)
        return;
    (void)(psb__frame_write(sock, PSB__FRAME_REPLY, text, strlen(text)) ||
           psb__frame_write(sock, PSB__FRAME_RESULT, result, result_len) ||
           psb__frame_write(sock, PSB__FRAME_STDOUT, out ? out->data : NULL, out ? out->len : 0) ||
           psb__frame_write(sock, PSB__FRAME_STDERR, err ? err->data : NULL, err ? err->len : 0));
    free(text);
}

/* Answers a request that never ran with an error of the given kind. */
static void reply_error_now(int sock, const char *kind, const char *message) {
    json_t *reply =
        json_pack("{s:s,s:{s:s,s:s},s:{s:i,s:i,s:i},s:b,s:b}", "status", "error", "error", "kind",
                  kind, "message", message, "stats", "wall_ms", 0, "cpu_ms", 0, "peak_rss_kib", 0,
                  "stdout_truncated", 0, "stderr_truncated", 0);
    if (reply)
        send_reply(sock, reply, "null", 4, NULL, NULL);
    json_decref(reply);
}

static void job_free(psb__job *job) {
    for (int i = 0; i < NSTREAMS; i++) {
        close_fd(&job->fd[i]);
        psb__buf_free(&job->buf[i]);
    }
    close_fd(&job->pidfd);
    close_fd(&job->sock);
    json_decref(job->req);
    free(job->inputs);
    free(job);
}

int psb__job_start(int sock, const char *scratch_root, psb__job **ret_job) {
    psb__job *job = NULL;
    psb__buf frame = {0}, stdin_data = {0};
    uint32_t type;
    int in_fd = -1;
    char msg[256];
    const char *fail_kind = "internal";
    *ret_job = NULL;

    /* A caller that stops reading must not stall the helper's other executions. */
    struct timeval send_timeout = {.tv_sec = 5, .tv_usec = 0};
    (void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    uint64_t deadline = psb__now_ns() + REQUEST_READ_TIMEOUT_NS;
    if (psb__frame_read(sock, &type, &frame, deadline, PSB__FRAME_MAX) != 0) {
        close(sock);
        return -1;
    }
    job = calloc(1, sizeof *job);
    if (!job) {
        snprintf(msg, sizeof msg, "helper out of memory");
        goto fail;
    }
    job->sock = sock;
    job->pidfd = -1;
    job->pid = -1;
    for (int i = 0; i < NSTREAMS; i++)
        job->fd[i] = -1;
    json_error_t jerr;
    job->req = type == PSB__FRAME_REQUEST ? json_loadb(frame.data, frame.len, 0, &jerr) : NULL;
    if (!job->req || psb__request_check(job->req, msg, sizeof msg) != 0) {
        if (!job->req)
            snprintf(msg, sizeof msg, "malformed request");
        fail_kind = "invalid_request";
        goto fail;
    }
    psb__request_limits(job->req, &job->limits);
    psb__helper.scratch_mib = job->limits.v[PSB__LIMIT_SCRATCH_MIB]; /* for the next spare */
    psb__helper.threads = job->limits.v[PSB__LIMIT_THREADS];
    if (json_is_true(json_object_get(job->req, "has_stdin")) &&
        (psb__frame_read(sock, &type, &stdin_data, deadline, PSB__MAX_DATA_BYTES) != 0 ||
         type != PSB__FRAME_STDIN)) {
        snprintf(msg, sizeof msg, "stdin data missing from the request");
        fail_kind = "invalid_request";
        goto fail;
    }

    struct psb__vessel v;
    /* What the next spare confines itself with. */
    const json_t *readable = json_object_get(job->req, "readable_paths");
    if (!psb__helper.readable_paths || !json_equal(psb__helper.readable_paths, readable)) {
        json_decref(psb__helper.readable_paths);
        psb__helper.readable_paths = json_deep_copy(readable);
    }
    if (psb__vessel_take_spare(&v, job->limits.v[PSB__LIMIT_SCRATCH_MIB], readable) != 0 &&
        psb__vessel_create(&v, scratch_root, job->limits.v[PSB__LIMIT_SCRATCH_MIB], msg,
                           sizeof msg) != 0)
        goto fail;
    snprintf(job->scratch, sizeof job->scratch, "%s", v.scratch);
    snprintf(job->cgroup, sizeof job->cgroup, "%s", v.cgroup);
    /* Set when the spare was made, unless this request wants another value. */
    if (v.threads != job->limits.v[PSB__LIMIT_THREADS])
        (void)psb__cgroup_set_pids_max(job->cgroup, job->limits.v[PSB__LIMIT_THREADS]);
    job->pid = v.pid;
    job->pidfd = v.pidfd;
    for (int i = 0; i < NSTREAMS; i++)
        job->fd[i] = v.fd[i];
    if (psb__inputs_place(sock, job->scratch, json_object_get(job->req, "files"), deadline,
                          &job->inputs, &job->n_inputs, msg, sizeof msg) != 0) {
        fail_kind = "invalid_request";
        close(v.ctl);
        goto fail_started;
    }
    /* stdin: a memfd holding the data (no pump needed), or /dev/null. */
    if (json_is_true(json_object_get(job->req, "has_stdin"))) {
        in_fd = memfd_create("psb-stdin", MFD_CLOEXEC);
        if (in_fd < 0 || psb__write_all(in_fd, stdin_data.data, stdin_data.len) != 0 ||
            lseek(in_fd, 0, SEEK_SET) != 0) {
            snprintf(msg, sizeof msg, "cannot prepare stdin: %s", strerror(errno));
            close(v.ctl);
            goto fail_started;
        }
    } else if ((in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(msg, sizeof msg, "cannot open /dev/null: %s", strerror(errno));
        close(v.ctl);
        goto fail_started;
    }
    job->cap[OUT] = job->limits.v[PSB__LIMIT_STDOUT_BYTES];
    job->cap[ERR] = job->limits.v[PSB__LIMIT_STDERR_BYTES];
    /* The result, plus the figures as base64, plus the error details. */
    job->cap[RES] = job->limits.v[PSB__LIMIT_RESULT_BYTES] +
                    job->limits.v[PSB__LIMIT_FIGURES_BYTES] / 3 * 4 + 4096 + RESULT_SLACK_BYTES;
    psb__vessel_set_idle(v.pid, false);
    /* Go: the stdin fd, then the request itself. The clock starts now. */
    job->start_ns = psb__now_ns();
    job->deadline_ns = job->start_ns + job->limits.v[PSB__LIMIT_TIMEOUT_MS] * 1000000u;
    int sent = psb__send_fd(v.ctl, in_fd) == 0 &&
               psb__frame_write(v.ctl, PSB__FRAME_REQUEST, frame.data, frame.len) == 0;
    close(v.ctl);
    json_decref(v.confined_for);
    close_fd(&in_fd);
    if (!sent) {
        snprintf(msg, sizeof msg, "the execution child did not take its request: %s",
                 strerror(errno));
        goto fail_started;
    }
    psb__buf_free(&frame);
    psb__buf_free(&stdin_data);
    *ret_job = job;
    return 0;

fail_started:
    /* A child exists: answer now, and let the job reap it and clean up. */
    json_decref(v.confined_for);
    reply_error_now(sock, fail_kind, msg);
    close_fd(&in_fd);
    psb__buf_free(&frame);
    psb__buf_free(&stdin_data);
    job->responded = true;
    psb__last_response_ns = psb__now_ns();
    job->abandoned = true;
    job->start_ns = psb__now_ns();
    job->deadline_ns = job->start_ns;
    psb__job_kill(job);
    *ret_job = job;
    return 0;

fail:
    reply_error_now(sock, fail_kind, msg);
    close_fd(&in_fd);
    psb__buf_free(&frame);
    psb__buf_free(&stdin_data);
    if (job)
        job_free(job);
    else
        close(sock);
    return 0;
}

uint64_t psb__last_response_ns;

bool psb__job_responded(const psb__job *job) {
    return job->responded;
}

int psb__job_pollfds(const psb__job *job, struct pollfd *fds) {
    int n = 0;
    fds[n++] = (struct pollfd){.fd = job->abandoned ? -1 : job->sock, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = job->exited ? -1 : job->pidfd, .events = POLLIN};
    for (int i = 0; i < NSTREAMS; i++)
        fds[n++] = (struct pollfd){.fd = job->fd[i], .events = POLLIN};
    return n;
}

/* Reads what is available; keeps up to the cap, drops (and flags) the rest. */
static void drain(psb__job *job, int i) {
    char chunk[65536];
    for (;;) {
        ssize_t n = read(job->fd[i], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close_fd(&job->fd[i]);
            return;
        }
        size_t keep = (size_t)n;
        if (job->buf[i].len + keep > job->cap[i]) {
            keep = job->cap[i] > job->buf[i].len ? (size_t)(job->cap[i] - job->buf[i].len) : 0;
            job->trunc[i] = true;
        }
        if (keep && psb__buf_append(&job->buf[i], chunk, keep) != 0)
            job->trunc[i] = true;
    }
}

static void reap(psb__job *job, uint64_t now) {
    /* Whatever the child left in its process group goes with it; signalled
     * while the zombie still holds the id, so it cannot hit a reused one. */
    kill(-job->pid, SIGKILL);
    pid_t r = wait4(job->pid, &job->wstatus, WNOHANG, &job->ru);
    if (r != job->pid)
        return;
    job->exited = true;
    job->exit_ns = now;
    close_fd(&job->pidfd);
}

void psb__job_step(psb__job *job, const struct pollfd *fds, uint64_t now) {
    if (!job->abandoned && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        /* The library sends nothing after the request: the caller is gone. */
        job->abandoned = true;
        psb__job_kill(job);
    }
    for (int i = 0; i < NSTREAMS; i++)
        if (job->fd[i] >= 0 && (fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
            drain(job, i);
    if (!job->exited && (job->pidfd < 0 || (fds[1].revents & POLLIN)))
        reap(job, now);
    if (!job->responded && !job->exited && !job->interrupted && !job->abandoned &&
        !job->trunc[RES] && reply_complete(&job->buf[RES])) {
        /* The code is done: stop whatever it left running, take the output
         * already in the pipes and answer now; reaping comes later. Its
         * teardown runs at the lowest priority, behind the next execution. */
        psb__vessel_set_idle(job->pid, true);
        kill(-job->pid, SIGKILL);
        kill(job->pid, SIGKILL);
        job->killed = true;
        drain(job, OUT);
        drain(job, ERR);
        respond(job, true);
    }
    if (!job->exited) {
        if (!job->interrupted && now >= job->deadline_ns) {
            /* Interrupt first so the traceback shows the line that was running. */
            job->interrupted = true;
            job->kill_ns = now + PSB__INTERRUPT_GRACE_MS * 1000000ull;
            kill(job->pid, SIGINT);
        } else if (job->interrupted && !job->killed && now >= job->kill_ns) {
            psb__job_kill(job);
        }
    } else if (now >= job->exit_ns + DRAIN_AFTER_EXIT_NS) {
        for (int i = 0; i < NSTREAMS; i++)
            if (job->fd[i] >= 0) {
                drain(job, i);
                close_fd(&job->fd[i]);
            }
    }
}

uint64_t psb__job_next_deadline(const psb__job *job) {
    if (job->exited)
        return job->exit_ns + DRAIN_AFTER_EXIT_NS;
    if (job->pidfd < 0)
        return psb__now_ns() + 10000000u; /* no pidfd: poll for the exit */
    if (!job->interrupted)
        return job->deadline_ns;
    return job->killed ? 0 : job->kill_ns;
}

bool psb__job_done(const psb__job *job) {
    return job->exited && job->fd[OUT] < 0 && job->fd[ERR] < 0 && job->fd[RES] < 0;
}

void psb__job_kill(psb__job *job) {
    if (job->exited || job->pid <= 0)
        return;
    job->killed = true;
    kill(-job->pid, SIGKILL);
    kill(job->pid, SIGKILL);
}

/* true once the result stream holds a whole REPLY frame and a whole RESULT frame. */
static bool reply_complete(const psb__buf *b) {
    size_t off = 0;
    for (int i = 0; i < 2; i++) {
        uint64_t len;
        if (b->len - off < 16)
            return false;
        memcpy(&len, b->data + off + 8, 8);
        if (len > b->len - off - 16)
            return false;
        off += 16 + (size_t)len;
    }
    return true;
}

/* Splits the child's result stream into its REPLY and RESULT frames. */
static bool parse_child_frames(const psb__buf *b, json_t **ret_reply, const char **ret_result,
                               size_t *ret_result_len) {
    size_t off = 0;
    const char *payload[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    const uint32_t want[2] = {PSB__FRAME_REPLY, PSB__FRAME_RESULT};
    for (int i = 0; i < 2; i++) {
        uint32_t type;
        uint64_t len;
        if (b->len - off < 16)
            return false;
        memcpy(&type, b->data + off, 4);
        memcpy(&len, b->data + off + 8, 8);
        if (type != want[i] || len > b->len - off - 16)
            return false;
        payload[i] = b->data + off + 16;
        lens[i] = (size_t)len;
        off += 16 + (size_t)len;
    }
    *ret_reply = json_loadb(payload[0], lens[0], 0, NULL);
    *ret_result = payload[1];
    *ret_result_len = lens[1];
    return json_is_object(*ret_reply);
}

static json_t *make_error(const char *kind, const char *message) {
    return json_pack("{s:s,s:s}", "kind", kind, "message", message);
}

/*
 * Builds and sends the outcome. `early` means the child's reply is complete
 * but the child is not reaped yet: its own usage report stands in for
 * wait4's, and the teardown of its address space stays off the critical path.
 */
static void respond(psb__job *job, bool early) {
    json_t *child_reply = NULL, *error = NULL;
    const char *result = "null";
    size_t result_len = 4;
    char msg[256];
    bool have_reply =
        job->buf[RES].len && parse_child_frames(&job->buf[RES], &child_reply, &result, &result_len);
    uint64_t cpu_ms =
        (uint64_t)job->ru.ru_utime.tv_sec * 1000u + (uint64_t)job->ru.ru_utime.tv_usec / 1000u +
        (uint64_t)job->ru.ru_stime.tv_sec * 1000u + (uint64_t)job->ru.ru_stime.tv_usec / 1000u;
    uint64_t rss_kib = (uint64_t)job->ru.ru_maxrss;
    uint64_t end_ns = job->exit_ns;
    bool ok = false;
    job->responded = true;
    if (early) {
        const json_t *usage = json_object_get(child_reply, "usage");
        cpu_ms = (uint64_t)json_integer_value(json_object_get(usage, "cpu_ms"));
        rss_kib = (uint64_t)json_integer_value(json_object_get(usage, "maxrss_kib"));
        end_ns = psb__now_ns();
        job->wstatus = 0; /* it sent its reply and is on its way out */
    }

    if (job->interrupted) {
        snprintf(msg, sizeof msg, "the execution exceeded its time limit of %llu ms",
                 (unsigned long long)job->limits.v[PSB__LIMIT_TIMEOUT_MS]);
        error = make_error("timeout", msg);
        /* Keep the traceback of the line that was running, if the child sent one. */
        json_t *ce = json_object_get(child_reply, "error");
        if (ce && json_is_string(json_object_get(ce, "traceback")))
            json_object_set(error, "traceback", json_object_get(ce, "traceback"));
    } else if (job->trunc[RES]) {
        snprintf(msg, sizeof msg, "the result is larger than the limit of %llu bytes",
                 (unsigned long long)job->limits.v[PSB__LIMIT_RESULT_BYTES]);
        error = make_error("output_limit", msg);
    } else if (have_reply && WIFEXITED(job->wstatus)) {
        const char *status = json_string_value(json_object_get(child_reply, "status"));
        ok = status && strcmp(status, "ok") == 0;
        if (!ok) {
            error = json_deep_copy(json_object_get(child_reply, "error"));
            const char *kind = json_string_value(json_object_get(error, "kind"));
            bool known = false;
            for (int k = 1; kind && k < PSB__KIND_COUNT; k++)
                known |= strcmp(kind, psb_error_kind_name((psb_error_kind)k)) == 0;
            if (!json_is_object(error) || !known) {
                json_decref(error);
                error = make_error("internal", "the child sent a malformed reply");
            }
        }
    } else if (WIFSIGNALED(job->wstatus)) {
        int sig = WTERMSIG(job->wstatus);
        const char *name = sigabbrev_np(sig);
        uint64_t cpu_limit_ms = job->limits.v[PSB__LIMIT_CPU_S] * 1000u;
        if (sig == SIGXCPU || (sig == SIGKILL && !job->killed && cpu_ms + 50 >= cpu_limit_ms)) {
            snprintf(msg, sizeof msg, "the execution exceeded its CPU time limit of %llu s",
                     (unsigned long long)job->limits.v[PSB__LIMIT_CPU_S]);
            error = make_error("cpu_limit", msg);
        } else if (sig == SIGKILL && job->abandoned) {
            error = make_error("internal", "the caller went away");
        } else {
            snprintf(msg, sizeof msg, "the child was killed by signal SIG%s (%d)",
                     name ? name : "?", sig);
            error = make_error("crashed", msg);
            json_object_set_new(error, "signal", json_string(name ? name : "?"));
        }
    } else {
        snprintf(msg, sizeof msg, "the child exited with status %d without sending a result",
                 WEXITSTATUS(job->wstatus));
        error = make_error("crashed", msg);
    }
    struct psb__file *files = NULL;
    size_t n_files = 0;
    if (!job->abandoned && !job->interrupted) {
        int rc = psb__outputs_collect(job->scratch, job->inputs, job->n_inputs,
                                      job->limits.v[PSB__LIMIT_FILES_BYTES], &files, &n_files);
        if (rc != 0) {
            snprintf(msg, sizeof msg,
                     rc > 0 ? "the files written in the working directory exceed the limit "
                              "of %llu bytes or %d files"
                            : "reading the files written in the working directory failed "
                              "(limit %llu bytes, %d files)",
                     (unsigned long long)job->limits.v[PSB__LIMIT_FILES_BYTES], PSB__MAX_FILES);
            json_decref(error);
            error = make_error(rc > 0 ? "output_limit" : "internal", msg);
            ok = false;
        }
    }
    if (!ok) {
        result = "null";
        result_len = 4;
    }
    uint64_t wall_ms = (end_ns - job->start_ns) / 1000000u;
    json_t *reply =
        json_pack("{s:s,s:O?,s:{s:I,s:I,s:I},s:b,s:b}", "status", ok ? "ok" : "error", "error",
                  error, "stats", "wall_ms", (json_int_t)wall_ms, "cpu_ms", (json_int_t)cpu_ms,
                  "peak_rss_kib", (json_int_t)rss_kib, "stdout_truncated", job->trunc[OUT],
                  "stderr_truncated", job->trunc[ERR]);
    const json_t *figs = have_reply ? json_object_get(child_reply, "figures") : NULL;
    if (reply && json_is_array(figs)) {
        json_object_set(reply, "figures", (json_t *)(uintptr_t)figs);
        json_object_set(reply, "figures_truncated",
                        json_object_get(child_reply, "figures_truncated"));
    }
    if (reply)
        json_object_set_new(reply, "files", json_integer((json_int_t)n_files));
    if (reply && !job->abandoned) {
        send_reply(job->sock, reply, result, result_len, &job->buf[OUT], &job->buf[ERR]);
        for (size_t i = 0; i < n_files; i++) {
            psb__buf frame = {0};
            if (psb__file_frame(files[i].name, files[i].data.data, files[i].data.len, &frame) == 0)
                (void)psb__frame_write(job->sock, PSB__FRAME_FILE, frame.data, frame.len);
            psb__buf_free(&frame);
        }
    }
    psb__files_free(files, n_files);
    /* The code is stopped: its scratch tmpfs goes now (a lazy unmount works while
     * the dying child still holds it), so the next execution never sees it. */
    if (early && psb__helper.scratch_tmpfs) {
        psb__remove_tree(job->scratch);
        job->scratch[0] = '\0';
    }
    json_decref(reply);
    json_decref(error);
    json_decref(child_reply);
}

void psb__job_finish(psb__job *job) {
    if (!job->responded)
        respond(job, false);
    psb__remove_tree(job->scratch);
    psb__cgroup_remove(job->cgroup);
    job_free(job);
}
