/*
 * embed/job.c - one execution as the helper sees it: read the request,
 * fork the child, collect its output under caps, enforce the wall-clock
 * deadline from outside (interrupt, then kill the process group), reap it
 * and send the outcome back.
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
    int sock;                     /* the library's socket for this execution */
    json_t *req;                  /* checked request */
    psb__limits limits;           /* from the request */
    char scratch[PATH_MAX];       /* per-execution scratch dir, cwd of the child */
    pid_t pid;                    /* child pid, also its process group id */
    int pidfd;                    /* readable once the child exits; -1 after reaping */
    int fd[NSTREAMS];             /* read ends; -1 once at EOF */
    psb__buf buf[NSTREAMS];       /* what was kept of each stream */
    uint64_t cap[NSTREAMS];       /* bytes kept at most per stream */
    bool trunc[NSTREAMS];         /* bytes were dropped */
    uint64_t start_ns;            /* fork time */
    uint64_t deadline_ns;         /* start + timeout */
    uint64_t kill_ns;             /* when an interrupted child gets SIGKILL */
    uint64_t exit_ns;             /* when the child was reaped */
    bool interrupted;             /* SIGINT sent at the deadline */
    bool killed;                  /* SIGKILL sent by us */
    bool exited;                  /* reaped */
    bool abandoned;               /* the library went away */
    bool responded;               /* the outcome was sent */
    char cgroup[192];             /* the child's pids cgroup, "" when none */
    int wstatus;                  /* from wait4 */
    struct rusage ru;             /* from wait4 */
    struct input_stat *inputs;    /* the input files as placed (to skip them on the way out) */
    size_t n_inputs;              /* entries in inputs */
};

/* Identity of an input file as the helper wrote it. */
struct input_stat {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
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
           psb__frame_write(sock, PSB__FRAME_STDOUT, out ? out->data : NULL,
                            out ? out->len : 0) ||
           psb__frame_write(sock, PSB__FRAME_STDERR, err ? err->data : NULL,
                            err ? err->len : 0));
    free(text);
}

/* Answers a request that never ran with an error of the given kind. */
static void reply_error_now(int sock, const char *kind, const char *message) {
    json_t *reply = json_pack("{s:s,s:{s:s,s:s},s:{s:i,s:i,s:i},s:b,s:b}", "status", "error",
                              "error", "kind", kind, "message", message, "stats", "wall_ms", 0,
                              "cpu_ms", 0, "peak_rss_kib", 0, "stdout_truncated", 0,
                              "stderr_truncated", 0);
    if (reply)
        send_reply(sock, reply, "null", 4, NULL, NULL);
    json_decref(reply);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static int open_dirs(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, (st->st_mode & 07777) | 0700);
    return 0;
}

/* Removes a scratch dir whatever the code did to its permissions. */
static void remove_tree(const char *dir) {
    if (!dir[0])
        return;
    if (psb__helper.scratch_tmpfs && umount2(dir, MNT_DETACH) == 0) {
        rmdir(dir);
        return;
    }
    nftw(dir, open_dirs, 16, FTW_PHYS | FTW_MOUNT);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
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

/* Creates the parent directories of name inside dir (mode 0755). */
static int make_parents(int dirfd, const char *name) {
    char path[1100];
    snprintf(path, sizeof path, "%s", name);
    for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdirat(dirfd, path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/*
 * Reads the request's FILE frames and writes each into the scratch dir as a
 * read-only file. 0, or -1 with a message.
 */
static int place_inputs(psb__job *job, uint64_t deadline, char *msg, size_t msg_size) {
    const json_t *names = json_object_get(job->req, "files");
    size_t n = json_array_size(names);
    if (!n)
        return 0;
    job->inputs = calloc(n, sizeof *job->inputs);
    int dirfd = open(job->scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = -1;
    if (!job->inputs || dirfd < 0) {
        snprintf(msg, msg_size, "cannot prepare input files: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        psb__buf payload = {0};
        uint32_t type;
        const char *name, *data;
        size_t len;
        if (psb__frame_read(job->sock, &type, &payload, deadline, PSB__FRAME_MAX) != 0 ||
            type != PSB__FRAME_FILE || psb__file_frame_parse(&payload, &name, &data, &len) != 0 ||
            strcmp(name, json_string_value(json_array_get(names, i))) != 0) {
            psb__buf_free(&payload);
            snprintf(msg, msg_size, "malformed input file %zu", i);
            goto out;
        }
        /* O_EXCL|O_NOFOLLOW: nothing to follow in a fresh dir, and say so anyway. */
        int fd = make_parents(dirfd, name) == 0
                     ? openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                              0444)
                     : -1;
        struct stat st;
        bool ok = fd >= 0 && psb__write_all(fd, data, len) == 0 && fstat(fd, &st) == 0;
        if (fd >= 0)
            close(fd);
        psb__buf_free(&payload);
        if (!ok) {
            snprintf(msg, msg_size, "cannot write input file %zu: %s", i, strerror(errno));
            goto out;
        }
        job->inputs[job->n_inputs++] =
            (struct input_stat){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    }
    rc = 0;
out:
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

/* Output files gathered after the child exited. */
struct outputs {
    psb__job *job;            /* for the scratch path and the input stats */
    struct psb__file *files;  /* collected files */
    size_t n, cap;            /* entries used, allocated */
    uint64_t bytes;           /* total size */
    bool over;                /* the caps were exceeded */
    bool failed;              /* out of memory or unreadable */
};
static struct outputs *collecting; /* nftw has no user pointer */

static int collect_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    struct outputs *c = collecting;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0; /* directories, symlinks, fifos: not files to hand back */
    for (size_t i = 0; i < c->job->n_inputs; i++) {
        const struct input_stat *in = &c->job->inputs[i];
        if (in->dev == st->st_dev && in->ino == st->st_ino && in->size == st->st_size &&
            in->mtime.tv_sec == st->st_mtim.tv_sec && in->mtime.tv_nsec == st->st_mtim.tv_nsec)
            return 0; /* an input left as it was */
    }
    const char *name = path + strlen(c->job->scratch) + 1;
    c->bytes += (uint64_t)st->st_size;
    if (c->n >= PSB__MAX_FILES || c->bytes > c->job->limits.v[PSB__LIMIT_FILES_BYTES]) {
        c->over = true;
        return 1;
    }
    if (!psb__file_name_valid(name))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct psb__file *grown = realloc(c->files, cap * sizeof *grown);
        if (!grown) {
            c->failed = true;
            return 1;
        }
        c->files = grown;
        c->cap = cap;
    }
    struct psb__file *f = &c->files[c->n];
    memset(f, 0, sizeof *f);
    /* O_NOFOLLOW: the code may have swapped the file for a symlink meanwhile. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    f->name = strdup(name);
    bool ok = fd >= 0 && f->name && psb__buf_append(&f->data, "", 0) == 0;
    char chunk[65536];
    ssize_t got;
    while (ok && (got = read(fd, chunk, sizeof chunk)) > 0) {
        if (f->data.len + (size_t)got > c->job->limits.v[PSB__LIMIT_FILES_BYTES]) {
            c->over = true;
            ok = false;
        } else if (psb__buf_append(&f->data, chunk, (size_t)got) != 0) {
            ok = false;
        }
    }
    if (fd >= 0)
        close(fd);
    c->n++;
    if (!ok && !c->over)
        c->failed = true;
    return ok ? 0 : 1;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct psb__file *)a)->name, ((const struct psb__file *)b)->name);
}

/* A forked child waiting for its request, with its pipes and scratch dir. */
struct vessel {
    pid_t pid;              /* the child, -1 when none */
    int pidfd;              /* its pidfd */
    int fd[NSTREAMS];       /* read ends of stdout, stderr, result */
    int ctl;                /* where its request goes */
    char scratch[PATH_MAX]; /* its working directory */
    uint64_t scratch_mib;   /* size of the scratch tmpfs */
    json_t *confined_for;   /* readable paths it confined itself with, or NULL */
    char cgroup[192];       /* its pids cgroup, "" when none */
};

/*
 * Prepared spare children (pid > 0 when present): two, so that two requests
 * arriving together both find one ready.
 */
#define SPARES 2
static struct vessel spares[SPARES] = {{.pid = -1}, {.pid = -1}};

/*
 * SCHED_IDLE for spares getting ready and for finished children tearing
 * down: on two cores they must never delay the execution that is running
 * or the host thread reading its answer (CFS wakeup preemption among
 * normal tasks can take milliseconds).
 */
static void set_idle(pid_t pid, bool idle) {
    struct sched_param sp = {.sched_priority = 0};
    (void)sched_setscheduler(pid, idle ? SCHED_IDLE : SCHED_OTHER, &sp);
}


/* Mounts (or resizes) the size-capped tmpfs on a scratch dir, or hands the dir over. */
static int prepare_scratch(const char *dir, uint64_t mib, bool remount, char *msg,
                           size_t msg_size) {
    bool drop = (psb__helper.layers & PSB__LAYER_UNPRIVILEGED) && geteuid() == 0;
    if (psb__helper.scratch_tmpfs) {
        char opts[160];
        snprintf(opts, sizeof opts, "size=%lluk,nr_inodes=16384,mode=0700,uid=%u,gid=%u",
                 (unsigned long long)mib * 1024u, drop ? psb__helper.uid : (unsigned)geteuid(),
                 drop ? psb__helper.gid : (unsigned)getegid());
        unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (remount ? MS_REMOUNT : 0);
        if (mount("psb-scratch", dir, "tmpfs", flags, opts) != 0) {
            snprintf(msg, msg_size, "cannot mount the scratch tmpfs: %s", strerror(errno));
            return -1;
        }
    } else if (drop && chown(dir, psb__helper.uid, psb__helper.gid) != 0) {
        snprintf(msg, msg_size, "cannot hand the scratch dir over: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void vessel_discard(struct vessel *v) {
    if (v->pid > 0) {
        kill(v->pid, SIGKILL);
        while (waitpid(v->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    for (int i = 0; i < NSTREAMS; i++)
        close_fd(&v->fd[i]);
    close_fd(&v->pidfd);
    close_fd(&v->ctl);
    remove_tree(v->scratch);
    psb__cgroup_remove(v->cgroup);
    json_decref(v->confined_for);
    v->confined_for = NULL;
    v->pid = -1;
}

/* Forks a child that prepares itself and waits for a request. 0, or -1 + msg. */
static int vessel_create(struct vessel *v, const char *scratch_root, uint64_t scratch_mib,
                         char *msg, size_t msg_size) {
    int pipes[NSTREAMS][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, ctl[2] = {-1, -1};
    memset(v, 0, sizeof *v);
    v->pid = -1;
    v->pidfd = v->ctl = -1;
    for (int i = 0; i < NSTREAMS; i++)
        v->fd[i] = -1;
    if (snprintf(v->scratch, sizeof v->scratch, "%s/run-XXXXXX", scratch_root) >=
            (int)sizeof v->scratch ||
        !mkdtemp(v->scratch)) {
        v->scratch[0] = '\0';
        snprintf(msg, msg_size, "cannot create the scratch dir: %s", strerror(errno));
        return -1;
    }
    /* A tmpfs of its own caps the disk space an execution can fill. */
    if (prepare_scratch(v->scratch, scratch_mib, false, msg, msg_size) != 0) {
        rmdir(v->scratch);
        v->scratch[0] = '\0';
        return -1;
    }
    v->scratch_mib = scratch_mib;
    for (int i = 0; i < NSTREAMS; i++) {
        if (pipe2(pipes[i], O_CLOEXEC) != 0)
            goto fail;
        fcntl(pipes[i][0], F_SETFL, O_NONBLOCK);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0)
        goto fail;
    psb__child_spec spec = {.scratch = v->scratch, .stdout_fd = pipes[OUT][1],
                            .stderr_fd = pipes[ERR][1], .result_fd = pipes[RES][1],
                            .ctl_fd = ctl[1], .keep_fds = psb__keep_fds,
                            .n_keep_fds = psb__n_keep_fds,
                            .readable_paths = psb__helper.readable_paths};
    psb__interp_before_fork();
    pid_t pid = fork();
    if (pid != 0)
        psb__interp_after_fork_parent();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        psb__child_main(&spec);
    v->pid = pid;
    /* Its own pids cgroup, before it can start a thread. */
    if (psb__helper.cgroups)
        (void)psb__cgroup_attach(pid, v->cgroup, sizeof v->cgroup);
    /* A spare prepares itself only when nothing else wants the CPU. */
    set_idle(pid, true);
    v->confined_for = json_incref(psb__helper.readable_paths);
    v->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    v->ctl = ctl[0];
    close(ctl[1]);
    for (int i = 0; i < NSTREAMS; i++) {
        v->fd[i] = pipes[i][0];
        close(pipes[i][1]);
    }
    return 0;
fail:
    snprintf(msg, msg_size, "cannot start the execution child: %s", strerror(errno));
    for (int i = 0; i < NSTREAMS; i++) {
        close_fd(&pipes[i][0]);
        close_fd(&pipes[i][1]);
    }
    close_fd(&ctl[0]);
    close_fd(&ctl[1]);
    remove_tree(v->scratch);
    return -1;
}

/* Hands over a ready spare (the oldest); 0, or -1 when none can be taken. */
static int take_spare(struct vessel *v, uint64_t scratch_mib, const json_t *readable) {
    char msg[160];
    for (int i = 0; i < SPARES; i++) {
        struct vessel *sp = &spares[i];
        if (sp->pid <= 0)
            continue;
        if (waitpid(sp->pid, NULL, WNOHANG) != 0 ||
            (sp->confined_for && !json_equal(sp->confined_for, readable)) ||
            (sp->scratch_mib != scratch_mib &&
             prepare_scratch(sp->scratch, scratch_mib, true, msg, sizeof msg) != 0)) {
            vessel_discard(sp); /* died while waiting, or unsuitable */
            continue;
        }
        *v = *sp;
        sp->pid = -1;
        sp->confined_for = NULL;
        return 0;
    }
    return -1;
}

void psb__job_prepare_spare(const char *scratch_root) {
    char msg[160];
    static uint64_t last_failure_ns;
    if (psb__now_ns() - last_failure_ns < 1000000000u)
        return; /* after a failure, try again later, not in a loop */
    for (int i = 0; i < SPARES; i++) {
        if (spares[i].pid > 0)
            continue;
        /* A refill (another spare is ready) forks as SCHED_IDLE: the fork
         * copies the helper's page tables for ~2 ms without yielding, and a
         * host thread woken on this CPU to read an answer should run first.
         * A fork the next request needs keeps normal priority. */
        bool lowered = geteuid() == 0 && psb__job_have_spare();
        if (lowered)
            set_idle(0, true);
        if (vessel_create(&spares[i], scratch_root, psb__helper.scratch_mib, msg, sizeof msg)) {
            spares[i].pid = -1;
            last_failure_ns = psb__now_ns();
        }
        if (lowered)
            set_idle(0, false);
        return; /* one fork per call: the helper has other work */
    }
}

bool psb__job_have_spare(void) {
    for (int i = 0; i < SPARES; i++)
        if (spares[i].pid > 0)
            return true;
    return false;
}

bool psb__job_responded(const psb__job *job) { return job->responded; }

bool psb__job_spare_missing(void) {
    for (int i = 0; i < SPARES; i++)
        if (spares[i].pid <= 0)
            return true;
    return false;
}

uint64_t psb__last_response_ns;

void psb__job_drop_spare(void) {
    for (int i = 0; i < SPARES; i++)
        if (spares[i].pid > 0)
            vessel_discard(&spares[i]);
}

int psb__job_start(int sock, const char *scratch_root, psb__job **ret_job) {
    psb__job *job = NULL;
    psb__buf frame = {0}, stdin_data = {0};
    uint32_t type;
    int in_fd = -1;
    char msg[256];
    const char *fail_kind = "internal";
    *ret_job = NULL;

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
    if (json_is_true(json_object_get(job->req, "has_stdin")) &&
        (psb__frame_read(sock, &type, &stdin_data, deadline, PSB__MAX_DATA_BYTES) != 0 ||
         type != PSB__FRAME_STDIN)) {
        snprintf(msg, sizeof msg, "stdin data missing from the request");
        fail_kind = "invalid_request";
        goto fail;
    }

    struct vessel v;
    /* What the next spare confines itself with. */
    const json_t *readable = json_object_get(job->req, "readable_paths");
    if (!psb__helper.readable_paths || !json_equal(psb__helper.readable_paths, readable)) {
        json_decref(psb__helper.readable_paths);
        psb__helper.readable_paths = json_deep_copy(readable);
    }
    if (take_spare(&v, job->limits.v[PSB__LIMIT_SCRATCH_MIB], readable) != 0 &&
        vessel_create(&v, scratch_root, job->limits.v[PSB__LIMIT_SCRATCH_MIB], msg,
                      sizeof msg) != 0)
        goto fail;
    snprintf(job->scratch, sizeof job->scratch, "%s", v.scratch);
    snprintf(job->cgroup, sizeof job->cgroup, "%s", v.cgroup);
    (void)psb__cgroup_set_pids_max(job->cgroup, job->limits.v[PSB__LIMIT_THREADS]);
    job->pid = v.pid;
    job->pidfd = v.pidfd;
    for (int i = 0; i < NSTREAMS; i++)
        job->fd[i] = v.fd[i];
    if (place_inputs(job, deadline, msg, sizeof msg) != 0) {
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
    set_idle(v.pid, false);
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
    pid_t r = wait4(job->pid, &job->wstatus, WNOHANG, &job->ru);
    if (r != job->pid)
        return;
    job->exited = true;
    job->exit_ns = now;
    close_fd(&job->pidfd);
    /* Whatever the child left behind in its process group goes with it. */
    kill(-job->pid, SIGKILL);
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
        set_idle(job->pid, true);
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
    bool have_reply = job->buf[RES].len &&
                      parse_child_frames(&job->buf[RES], &child_reply, &result, &result_len);
    uint64_t cpu_ms = (uint64_t)job->ru.ru_utime.tv_sec * 1000u +
                      (uint64_t)job->ru.ru_utime.tv_usec / 1000u +
                      (uint64_t)job->ru.ru_stime.tv_sec * 1000u +
                      (uint64_t)job->ru.ru_stime.tv_usec / 1000u;
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
    struct outputs outs = {.job = job};
    if (!job->abandoned && !job->interrupted) {
        collecting = &outs;
        nftw(job->scratch, collect_entry, 16, FTW_PHYS | FTW_MOUNT);
        collecting = NULL;
        if (outs.over || outs.failed) {
            snprintf(msg, sizeof msg,
                     outs.over ? "the files written in the working directory exceed the limit "
                                 "of %llu bytes or %d files"
                               : "reading the files written in the working directory failed "
                                 "(limit %llu bytes, %d files)",
                     (unsigned long long)job->limits.v[PSB__LIMIT_FILES_BYTES], PSB__MAX_FILES);
            json_decref(error);
            error = make_error(outs.over ? "output_limit" : "internal", msg);
            ok = false;
            psb__files_free(outs.files, outs.n);
            outs.files = NULL;
            outs.n = 0;
        } else if (outs.n > 1) {
            qsort(outs.files, outs.n, sizeof *outs.files, by_name);
        }
    }
    if (!ok) {
        result = "null";
        result_len = 4;
    }
    uint64_t wall_ms = (end_ns - job->start_ns) / 1000000u;
    json_t *reply = json_pack(
        "{s:s,s:O?,s:{s:I,s:I,s:I},s:b,s:b}", "status", ok ? "ok" : "error", "error", error,
        "stats", "wall_ms", (json_int_t)wall_ms, "cpu_ms", (json_int_t)cpu_ms, "peak_rss_kib",
        (json_int_t)rss_kib, "stdout_truncated", job->trunc[OUT], "stderr_truncated",
        job->trunc[ERR]);
    const json_t *figs = have_reply ? json_object_get(child_reply, "figures") : NULL;
    if (reply && json_is_array(figs)) {
        json_object_set(reply, "figures", (json_t *)(uintptr_t)figs);
        json_object_set(reply, "figures_truncated",
                        json_object_get(child_reply, "figures_truncated"));
    }
    if (reply)
        json_object_set_new(reply, "files", json_integer((json_int_t)outs.n));
    if (reply && !job->abandoned) {
        send_reply(job->sock, reply, result, result_len, &job->buf[OUT], &job->buf[ERR]);
        for (size_t i = 0; i < outs.n; i++) {
            psb__buf frame = {0};
            if (psb__file_frame(outs.files[i].name, outs.files[i].data.data, outs.files[i].data.len,
                                &frame) == 0)
                (void)psb__frame_write(job->sock, PSB__FRAME_FILE, frame.data, frame.len);
            psb__buf_free(&frame);
        }
    }
    psb__files_free(outs.files, outs.n);
    json_decref(reply);
    json_decref(error);
    json_decref(child_reply);
}

void psb__job_finish(psb__job *job) {
    if (!job->responded)
        respond(job, false);
    remove_tree(job->scratch);
    psb__cgroup_remove(job->cgroup);
    job_free(job);
}
