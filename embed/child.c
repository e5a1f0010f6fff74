/*
 * embed/child.c - an execution child from fork() to the code: signals,
 * process group, fds, confinement; then its channels from the helper, its
 * request, stdin and input files read from the library itself; cwd,
 * environment, rlimits; then the interpreter. Set-up failures are reported
 * as kind "internal".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "embed/embed.h"
#include "hooks/hooks.h"

extern char **environ;

static _Noreturn void setup_failed(int fd, const char *what, int errno_value) {
    char msg[256];
    snprintf(msg, sizeof msg, "sandbox set-up failed: %s: %s", what, strerror(errno_value));
    psb__child_reply(fd, PSB_KIND_INTERNAL, NULL, msg, NULL, NULL, NULL, NULL, 0, NULL);
    _exit(PSB__CHILD_SETUP_FAILED);
}

/*
 * A session's working directory: a directory of the scratch dir (beside it
 * the copies its snapshots keep), the whole scratch dir for an execution.
 */
static char workdir[4200];
static const psb__child_spec *spec_of_session;

int psb__keep_fds[64];
size_t psb__n_keep_fds;

/* Closes every fd from `from` up, except the interpreter's own read-only files and also_keep. */
static int close_inherited(const psb__child_spec *spec, unsigned from, int also_keep) {
    int keep[65];
    size_t n = 0;
    for (size_t i = 0; i < spec->n_keep_fds && n < 64; i++)
        keep[n++] = spec->keep_fds[i];
    if (also_keep >= 0) /* above every kept fd (psb__child_main puts it there) */
        keep[n++] = also_keep;
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)keep[i];
        if (k < from)
            continue;
        if (k > from && syscall(SYS_close_range, from, k - 1, 0u) != 0)
            return -1;
        from = k + 1;
    }
    return (int)syscall(SYS_close_range, from, ~0u, 0u);
}

_Noreturn void psb__child_finish(void) {
    (void)syscall(SYS_close_range, 0u, ~0u, 0u);
    (void)kill(getpid(), SIGSTOP);
    _exit(0); /* stopping failed, or the helper let it go on: exit as before */
}

/* envp for the code: the request's env, HOME/TMPDIR defaulting to the scratch dir. */
static char **build_env(const json_t *env, const char *scratch) {
    size_t n = json_object_size(env), i = 0;
    char **envp = calloc(n + 3, sizeof *envp);
    const char *k;
    json_t *v;
    if (!envp)
        return NULL;
    json_object_foreach((json_t *)(uintptr_t)env, k, v) {
        if (asprintf(&envp[i++], "%s=%s", k, json_string_value(v)) < 0)
            goto out_free_env;
    }
    if (!json_object_get(env, "HOME") && asprintf(&envp[i++], "HOME=%s", scratch) < 0)
        goto out_free_env;
    if (!json_object_get(env, "TMPDIR") && asprintf(&envp[i++], "TMPDIR=%s", scratch) < 0)
        goto out_free_env;
    return envp; /* the child exits soon: nothing to free */
out_free_env:
    envp[i - 1] = NULL; /* undefined after the asprintf that failed */
    for (size_t j = 0; envp[j]; j++)
        free(envp[j]);
    free(envp);
    return NULL;
}

/* The address space this process maps now. */
static uint64_t mapped_bytes(void) {
    char buf[128] = {0};
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? strtoull(buf, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

int psb__child_notify_to = -1;

int psb__child_load_seccomp(void) {
    if (!(psb__helper.layers & PSB_LAYER_SECCOMP))
        return 0;
    if (psb__child_notify_to < 0 || psb__helper.seccomp_session.len == 0)
        return psb__seccomp_load(&psb__helper.seccomp);
    int listener = -1;
    if (psb__seccomp_load_listener(&psb__helper.seccomp_session, &listener) != 0)
        return -1;
    /* The helper holds it from now on: the code must never answer its own forks. */
    int rc = psb__send_fds_tagged(psb__child_notify_to, PSB__CHILD_LISTENER, &listener, 1);
    close(listener);
    return rc;
}

/*
 * Uid, no_new_privs, Landlock, and (when `seccomp`) the syscall filter: the
 * confinement that depends only on the sandbox, not on the request. 0, or
 * -1 with errno and *ret_what naming the step.
 */
static int confine(pid_t parent, const json_t *readable_paths, const char *scratch,
                   const char *writable, bool seccomp, const char **ret_what) {
    if (writable && psb__helper.scratch_tmpfs && psb__ns_writable_dir(writable, ret_what) != 0)
        return -1;
    if ((psb__helper.layers & PSB_LAYER_UNPRIVILEGED) &&
        psb__ns_drop_privileges(psb__helper.uid, psb__helper.gid, ret_what) != 0)
        return -1;
    /* The uid change cleared the parent-death signal: set it again. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(PSB__CHILD_SETUP_FAILED);
    *ret_what = "no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    if ((psb__helper.layers & PSB_LAYER_LANDLOCK) &&
        psb__landlock_apply(&(struct psb__landlock_spec){.readable_paths = readable_paths,
                                                         .also_readable = psb__helper.python_read,
                                                         .executable = psb__helper.python_exec,
                                                         .cache_dir = psb__helper.cache_dir,
                                                         .scratch = scratch,
                                                         .writable = writable,
                                                         .network = psb__helper.network},
                            ret_what) != 0)
        return -1;
    /* Everything after this point uses only syscalls the filter allows. */
    *ret_what = "loading the seccomp filter";
    if (seccomp && psb__child_load_seccomp() != 0)
        return -1;
    return 0;
}

/* fd moved to the lowest free number >= floor (close-on-exec); -1 on failure. */
static int move_above(int fd, int floor) {
    if (fd >= floor)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    close(fd);
    return moved;
}

/* Writes a set-up failure where the helper can read it (before the channels arrive). */
static _Noreturn void spare_failed(int ctl, const char *what, int errno_value) {
    char msg[256];
    snprintf(msg, sizeof msg, "sandbox set-up failed: %s: %s", what, strerror(errno_value));
    (void)send(ctl, msg, strlen(msg), MSG_NOSIGNAL);
    _exit(PSB__CHILD_SETUP_FAILED);
}

/*
 * stdin: a memfd the child fills from the STDIN frame and seals, so its
 * pages are charged to this execution and the code cannot write to it.
 * Made before the request (memfd_create is not in the seccomp allow-list).
 */
static int fill_stdin(int memfd, bool has_stdin) {
    if (has_stdin) {
        uint32_t type;
        uint64_t len;
        if (psb__frame_read_header(PSB__CHILD_RESULT_FD, &type, &len, 0, PSB__MAX_DATA_BYTES) !=
                0 ||
            type != PSB__FRAME_STDIN) {
            errno = errno ? errno : EPROTO;
            return -1;
        }
        char chunk[65536];
        while (len) {
            size_t k = len < sizeof chunk ? (size_t)len : sizeof chunk;
            if (psb__read_exact(PSB__CHILD_RESULT_FD, chunk, k, 0) != 0 ||
                psb__write_all(memfd, chunk, k) != 0)
                return -1;
            len -= k;
        }
    }
    if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0 ||
        lseek(memfd, 0, SEEK_SET) != 0 || dup2(memfd, 0) != 0)
        return -1;
    close(memfd);
    return 0;
}

/*
 * First thing after fork: default signals, its own process group (so the
 * helper can kill everything it starts), death with the helper, and only
 * its control socket (returned, above *ret_floor) and the interpreter's
 * read-only files kept: never another spare's socket. *ret_memfd is the
 * future stdin, made now so it is charged here and sealed later.
 */
static int become_child(const psb__child_spec *spec, pid_t parent, int *ret_floor, int *ret_memfd) {
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setpgid(0, 0) != 0)
        _exit(PSB__CHILD_SETUP_FAILED);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(PSB__CHILD_SETUP_FAILED);
    int floor = spec->n_keep_fds ? spec->keep_fds[spec->n_keep_fds - 1] + 1 : 10;
    floor = floor < 10 ? 10 : floor;
    const int ctl = fcntl(spec->ctl_fd, F_DUPFD_CLOEXEC, floor);
    if (ctl < 0 || close_inherited(spec, 3u, ctl) != 0)
        _exit(PSB__CHILD_SETUP_FAILED);
    /* Kept above the numbers 0..3 that the channels take below. */
    int memfd = memfd_create("psb-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0 || (memfd = move_above(memfd, floor)) < 0)
        spare_failed(ctl, "memfd_create", errno);
    *ret_floor = floor;
    *ret_memfd = memfd;
    return ctl;
}

/* Puts the channels (the request socket, stdout, stderr) at fd 3, 1 and 2. */
static void place_channels(int ch[PSB__CHAN_COUNT], int floor) {
    static const int at[PSB__CHAN_COUNT] = {PSB__CHILD_RESULT_FD, 1, 2};
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        if ((ch[i] = move_above(ch[i], floor)) < 0)
            _exit(PSB__CHILD_SETUP_FAILED);
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        if (dup2(ch[i], at[i]) < 0) /* clears close-on-exec */
            _exit(PSB__CHILD_SETUP_FAILED);
    for (int i = 0; i < PSB__CHAN_COUNT; i++)
        close(ch[i]);
}

/*
 * Waits on ctl for the channels and places them. Exits quietly when the
 * helper drops the spare. ctl stays open: a session takes its cells there.
 */
static void take_channels(int ctl, int floor) {
    int ch[PSB__CHAN_COUNT];
    /* Ready: what the data stack copies, while nothing waits for this spare. */
    if (!psb__helper.python)
        psb__cow_prefault_idle(ctl);
    int r = psb__recv_fds(ctl, ch, PSB__CHAN_COUNT, 0);
    if (r == 1)
        _exit(0); /* a spare the helper no longer needs */
    if (r != 0)
        spare_failed(ctl, "receiving the channels", errno);
    place_channels(ch, floor);
}

/*
 * The request, straight from the library (the helper never sees it):
 * decoded into *req (borrowing from the document, kept for the process's
 * life), then stdin into the memfd and the input files into the scratch
 * dir; confines the child now if it could not before. Fills *run.
 */
static void take_request(int rfd, int memfd, const psb__child_spec *spec, pid_t parent,
                         bool confined, struct psb__request *req, struct psb__child_run *run) {
    uint32_t type;
    psb__buf text = {0};
    json_t *doc = NULL;
    char bad[160] = "";
    const char *what = NULL;
    errno = 0;
    if (psb__frame_read(rfd, &type, &text, 0, PSB__FRAME_MAX) != 0 || type != PSB__FRAME_REQUEST ||
        !(doc = json_loadb(text.data, text.len, 0, NULL)))
        setup_failed(rfd, "receiving the request", errno ? errno : EPROTO);
    psb__buf_free(&text);
    if (psb__request_decode(doc, req, bad, sizeof bad) != 0)
        setup_failed(rfd, bad, EINVAL);
    if (fill_stdin(memfd, req->has_stdin) != 0)
        setup_failed(rfd, "receiving stdin", errno ? errno : EPROTO);
    if (!confined) {
        if (confine(parent, req->readable_paths, spec->scratch, req->writable, false, &what) != 0)
            setup_failed(rfd, what, errno);
    } else if (req->writable) {
        setup_failed(rfd, "confined without the writable dir", EINVAL); /* the helper checks */
    } else if (!json_equal(req->readable_paths, spec->readable_paths)) {
        setup_failed(rfd, "confined for other readable paths", EINVAL); /* the helper checks */
    }
    struct psb__input_stat *inputs = NULL;
    size_t n_inputs = 0;
    /* A session works in a directory of its scratch dir: its snapshots' copies go beside. */
    snprintf(workdir, sizeof workdir, "%s%s", spec->scratch, req->session ? "/work-0" : "");
    if (req->session && mkdir(workdir, 0700) != 0)
        setup_failed(rfd, "making the working directory", errno);
    if (psb__inputs_place(rfd, workdir, req->files, 0, &inputs, &n_inputs, bad, sizeof bad) != 0)
        setup_failed(rfd, bad, EPROTO);
    *run = (struct psb__child_run){
        .req = req, .scratch = workdir, .inputs = inputs, .n_inputs = n_inputs};
    /* The request is in: from here on fd 3 only carries the reply out (and input()'s lines in). */
    if (!req->input && shutdown(rfd, SHUT_RD) != 0)
        setup_failed(rfd, "closing the request channel", errno);
}

/*
 * Without a pids cgroup, RLIMIT_NPROC caps the tasks of the children's uid:
 * the dropped uid on a root host, or the host user's uid as counted inside
 * the helper's user namespace (rlimit counts are per user namespace), so
 * never the host user's own processes. Shared by all executions. 0: none.
 */
static uint64_t nproc_backstop(void) {
    bool dropped = (psb__helper.layers & PSB_LAYER_UNPRIVILEGED) && getuid() == psb__helper.uid;
    bool own_userns = (psb__helper.layers & PSB_LAYER_NAMESPACES) && !psb__ns_is_root();
    bool pids_cg = psb__helper.cgroups & (1u << PSB__CG_PIDS);
    return !pids_cg && (dropped || own_userns) ? 1024u : 0u;
}

/*
 * A cell's end: its request socket closed and stdout and stderr pointed at a
 * pipe nobody reads (writes fail with EPIPE), so the library sees EOF on
 * all three at once; the code's own threads may still write.
 */
static void end_channels(int rfd) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        _exit(PSB__CHILD_SETUP_FAILED);
    close(p[0]);
    if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
        _exit(PSB__CHILD_SETUP_FAILED);
    close(p[1]);
    close(rfd);
}

/*
 * Between a session's cells: waits on ctl for the next cell's channels,
 * forking a snapshot when the helper asks for one. Returns ctl, or the
 * control socket of a live process forked from a snapshot (which then is
 * where it runs from). Exits when the helper closes it.
 */
static int wait_for_cell(int ctl, const psb__child_spec *spec, int ch[PSB__CHAN_COUNT]) {
    for (;;) {
        size_t n = 0;
        char tag = 0;
        psb__interp_unlock(); /* the code's own threads run meanwhile */
        int r = psb__recv_fds_any(ctl, ch, PSB__CHAN_COUNT, &n, &tag, 0);
        psb__interp_lock();
        if (r == 1)
            _exit(0); /* the session is over */
        if (r != 0)
            _exit(PSB__CHILD_SETUP_FAILED);
        if (tag == PSB__TAG_CELL && n == PSB__CHAN_COUNT)
            return ctl;
        if (tag == PSB__TO_SNAPSHOT && n == 1) {
            int live =
                psb__snapshot_take(ctl, ch[0], spec->scratch, workdir, workdir, sizeof workdir);
            if (live >= 0) /* forked from the snapshot: a live session from here on */
                return -live - 2;
            close(ch[0]);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            close(ch[i]);
        _exit(PSB__CHILD_SETUP_FAILED); /* the helper sends nothing else */
    }
}

/*
 * A session: after each cell, tells the helper it ended, then runs the next
 * cell whose channels come on ctl, in the same interpreter, until the
 * helper closes ctl. Files in the working directory come back only from the
 * cell that wrote them.
 */
static _Noreturn void run_cells(int ctl, int floor) {
    const int rfd = PSB__CHILD_RESULT_FD;
    static struct psb__request req;
    json_t *doc = NULL;
    struct psb__input_stat *seen = NULL, *placed = NULL;
    for (;;) {
        psb__interp_cell_end();
        size_t n_seen = 0, n_placed = 0;
        free(seen);
        free(placed);
        seen = placed = NULL;
        end_channels(rfd);
        char done = PSB__CHILD_CELL_DONE;
        if (send(ctl, &done, 1, MSG_NOSIGNAL) != 1)
            _exit(0);
        int ch[PSB__CHAN_COUNT];
        int got;
        while ((got = wait_for_cell(ctl, spec_of_session, ch)) < -1) {
            ctl = -got - 2; /* a live process forked from a snapshot: its own socket */
            psb__child_notify_to = ctl;
        }
        if (psb__scratch_stats(workdir, &seen, &n_seen) != 0)
            _exit(PSB__CHILD_SETUP_FAILED);
        place_channels(ch, floor);
        uint32_t type;
        psb__buf text = {0};
        char bad[160] = "";
        json_t *next = NULL;
        errno = 0;
        if (psb__frame_read(rfd, &type, &text, 0, PSB__FRAME_MAX) != 0 ||
            type != PSB__FRAME_REQUEST || !(next = json_loadb(text.data, text.len, 0, NULL)))
            setup_failed(rfd, "receiving the cell", errno ? errno : EPROTO);
        psb__buf_free(&text);
        json_decref(doc); /* the cell before's, which req borrowed from */
        doc = next;
        if (psb__request_decode(doc, &req, bad, sizeof bad) != 0)
            setup_failed(rfd, bad, EINVAL);
        if (psb__inputs_place(rfd, workdir, req.files, 0, &placed, &n_placed, bad, sizeof bad) != 0)
            setup_failed(rfd, bad, EPROTO);
        /* Unchanged: what was there before the cell, and what it was given. */
        struct psb__input_stat *all = realloc(seen, (n_seen + n_placed + 1) * sizeof *all);
        if (!all)
            setup_failed(rfd, "listing the working directory", ENOMEM);
        seen = all;
        if (n_placed)
            memcpy(all + n_seen, placed, n_placed * sizeof *all);
        if (!req.input && shutdown(rfd, SHUT_RD) != 0)
            setup_failed(rfd, "closing the request channel", errno);
        struct psb__child_run run = {
            .req = &req, .scratch = workdir, .inputs = all, .n_inputs = n_seen + n_placed};
        psb__interp_cell(&run, rfd);
    }
}

_Noreturn void psb__child_main(const psb__child_spec *spec) {
    const int rfd = PSB__CHILD_RESULT_FD;
    pid_t parent = getppid();
    int floor, memfd;
    int ctl = become_child(spec, parent, &floor, &memfd);
    /* The pages every execution writes, copied in a few hundred calls now
     * rather than one fault at a time, here and after the request. */
    if (!psb__helper.python)
        psb__cow_prefault();
    if (spec->session) {
        psb__child_notify_to = ctl; /* the seccomp listener goes to the helper */
        psb__snapshot_init(parent);
    }
    /* The start-up cache is readable (an early child imports matplotlib from it). */
    if (psb__helper.cache_dir && psb__hooks_add_readable(psb__helper.cache_dir) != 0)
        spare_failed(ctl, "resolving the cache dir", errno);
    /*
     * Everything that does not depend on the request happens before it comes:
     * the interpreter, and (once the sandbox's readable paths are known) the
     * whole confinement, seccomp included. What runs after it, up to the
     * user's code, needs only syscalls the filter allows.
     */
    char msg[256];
    if (!psb__helper.python && psb__interp_prepare(msg, sizeof msg) != 0) {
        (void)send(ctl, msg, strlen(msg), MSG_NOSIGNAL);
        _exit(PSB__CHILD_SETUP_FAILED);
    }
    /* Before Landlock, which hides /proc. */
    uint64_t baseline = mapped_bytes();
    bool confined = spec->readable_paths != NULL;
    const char *what = NULL;
    if (confined) {
        if (confine(parent, spec->readable_paths, spec->scratch, NULL, true, &what) != 0)
            spare_failed(ctl, what, errno);
        /* Sandbox-level too: resolved now, not on the request's path. */
        if (psb__hooks_set_paths(spec->readable_paths, spec->scratch) != 0)
            spare_failed(ctl, "resolving the scratch dir", errno);
    }
    take_channels(ctl, floor);

    static struct psb__request req;
    struct psb__child_run run;
    take_request(rfd, memfd, spec, parent, confined, &req, &run);
    if (!req.session)
        close(ctl);
    if (close_inherited(spec, 4u, req.session ? ctl : -1) != 0)
        setup_failed(rfd, "closing inherited fds", errno);
    if (chdir(workdir) != 0)
        setup_failed(rfd, "chdir to the scratch dir", errno);
    char **envp = build_env(req.env, workdir);
    if (!envp)
        setup_failed(rfd, "building the environment", ENOMEM);
    environ = envp;
    const char *failed = NULL;
    if (psb__helper.python && baseline < PSB__EXTERNAL_IMAGE_BYTES)
        baseline = PSB__EXTERNAL_IMAGE_BYTES; /* the exec sets the interpreter's own */
    if (psb__rlimits_apply(&req.limits, baseline, nproc_backstop(), &failed) != 0)
        setup_failed(rfd, failed, errno);
    if (psb__helper.python)
        psb__external_exec(&run, rfd);
    psb__interp_run(&run, rfd, confined);
    if (!req.session)
        psb__child_finish();
    spec_of_session = spec;
    run_cells(ctl, floor);
}
