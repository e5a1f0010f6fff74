/*
 * embed/child.c - the first steps of an execution child after fork():
 * signals, process group, fds, cwd, environment, rlimits; then the
 * interpreter. Set-up failures are reported as kind "internal".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "embed/internal.h"
#include "hooks/hooks.h"

extern char **environ;

void psb__child_reply(int fd, const char *kind, const char *type, const char *message,
                      const char *traceback, const char *module, const char *event,
                      const char *result_json, size_t result_len, json_t *extra) {
    json_t *reply;
    if (!kind)
        reply = json_pack("{s:s}", "status", "ok");
    else
        reply = json_pack("{s:s,s:{s:s,s:s?,s:s?,s:s?,s:s?,s:s?}}", "status", "error", "error",
                          "kind", kind, "type", type, "message", message, "traceback", traceback,
                          "module", module, "event", event);
    if (reply && extra)
        json_object_update(reply, extra);
    /* Its own usage: the helper answers before it reaps this process. */
    struct rusage ru;
    if (reply && getrusage(RUSAGE_SELF, &ru) == 0)
        json_object_set_new(
            reply, "usage",
            json_pack("{s:I,s:I}", "cpu_ms",
                      (json_int_t)(ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
                                   ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000),
                      "maxrss_kib", (json_int_t)ru.ru_maxrss));
    json_decref(extra);
    char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    if (!text) {
        /* Out of memory even for the reply: a fixed one still tells the helper. */
        static const char fallback[] =
            "{\"status\":\"error\",\"error\":{\"kind\":\"memory_limit\","
            "\"message\":\"out of memory while reporting the outcome\"}}";
        (void)psb__frame_write(fd, PSB__FRAME_REPLY, fallback, sizeof fallback - 1);
    } else {
        (void)psb__frame_write(fd, PSB__FRAME_REPLY, text, strlen(text));
    }
    if (!result_json || !kind) {
        (void)psb__frame_write(fd, PSB__FRAME_RESULT, result_json ? result_json : "null",
                               result_json ? result_len : 4);
    } else {
        (void)psb__frame_write(fd, PSB__FRAME_RESULT, "null", 4);
    }
    free(text);
    json_decref(reply);
}

static _Noreturn void setup_failed(int fd, const char *what, int errno_value) {
    char msg[256];
    snprintf(msg, sizeof msg, "sandbox set-up failed: %s: %s", what, strerror(errno_value));
    psb__child_reply(fd, "internal", NULL, msg, NULL, NULL, NULL, NULL, 0, NULL);
    _exit(PSB__CHILD_SETUP_FAILED);
}

int psb__keep_fds[64];
size_t psb__n_keep_fds;

/* Closes every fd from `from` up, except the interpreter's own read-only files. */
static int close_inherited(const psb__child_spec *spec, unsigned from) {
    for (size_t i = 0; i < spec->n_keep_fds; i++) {
        unsigned keep = (unsigned)spec->keep_fds[i];
        if (keep < from)
            continue;
        if (keep > from && syscall(SYS_close_range, from, keep - 1, 0u) != 0)
            return -1;
        from = keep + 1;
    }
    return (int)syscall(SYS_close_range, from, ~0u, 0u);
}

/*
 * Moves stdout/stderr/result to 1..3 without clobbering each other; the
 * control socket goes above the interpreter's own fds. Returns its number.
 */
static int place_fds(const psb__child_spec *spec) {
    int src[5] = {-1, spec->stdout_fd, spec->stderr_fd, spec->result_fd, spec->ctl_fd};
    int tmp[5] = {-1, -1, -1, -1, -1};
    /* Above every fd that must keep its number. */
    int floor = spec->n_keep_fds ? spec->keep_fds[spec->n_keep_fds - 1] + 1 : 10;
    for (int i = 1; i < 5; i++) {
        tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, floor < 10 ? 10 : floor);
        if (tmp[i] < 0)
            return -1;
    }
    for (int i = 1; i < 4; i++)
        if (dup2(tmp[i], i) != i) /* dup2 clears close-on-exec on the target */
            return -1;
    return tmp[4];
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
            return NULL;
    }
    if (!json_object_get(env, "HOME") && asprintf(&envp[i++], "HOME=%s", scratch) < 0)
        return NULL;
    if (!json_object_get(env, "TMPDIR") && asprintf(&envp[i++], "TMPDIR=%s", scratch) < 0)
        return NULL;
    return envp; /* the child exits soon: nothing to free */
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

int psb__child_load_seccomp(void) {
    if (!(psb__helper.layers & PSB__LAYER_SECCOMP))
        return 0;
    return psb__seccomp_load(&psb__helper.seccomp);
}

/*
 * Uid, no_new_privs, Landlock, and (when `seccomp`) the syscall filter: the
 * confinement that depends only on the sandbox, not on the request.
 */
static void confine(int rfd, pid_t parent, const json_t *readable_paths, const char *scratch,
                    bool seccomp) {
    const char *what = NULL;
    if ((psb__helper.layers & PSB__LAYER_UNPRIVILEGED) &&
        psb__ns_drop_privileges(psb__helper.uid, psb__helper.gid, &what) != 0)
        setup_failed(rfd, what, errno);
    /* The uid change cleared the parent-death signal: set it again. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(PSB__CHILD_SETUP_FAILED);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        setup_failed(rfd, "no_new_privs", errno);
    if ((psb__helper.layers & PSB__LAYER_LANDLOCK) &&
        psb__landlock_apply(readable_paths, scratch, psb__helper.network, &what) != 0)
        setup_failed(rfd, what, errno);
    /* Everything after this point uses only syscalls the filter allows. */
    if (seccomp && psb__child_load_seccomp() != 0)
        setup_failed(rfd, "loading the seccomp filter", errno);
}

_Noreturn void psb__child_main(const psb__child_spec *spec) {
    int rfd = spec->result_fd;
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Its own process group, so the helper can kill everything it starts. */
    if (setpgid(0, 0) != 0)
        setup_failed(rfd, "setpgid", errno);
    /* If the helper dies, so does the child. */
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(PSB__CHILD_SETUP_FAILED);
    const int ctl = place_fds(spec);
    if (ctl < 0)
        setup_failed(rfd, "fd set-up", errno);
    rfd = PSB__CHILD_RESULT_FD;

    /*
     * Everything that does not depend on the request happens before it comes:
     * the interpreter, and (once the sandbox's readable paths are known) the
     * whole confinement, seccomp included. What runs after it, up to the
     * user's code, needs only syscalls the filter allows.
     */
    char msg[256];
    if (psb__interp_prepare(msg, sizeof msg) != 0) {
        psb__child_reply(rfd, "internal", NULL, msg, NULL, NULL, NULL, NULL, 0, NULL);
        _exit(PSB__CHILD_SETUP_FAILED);
    }
    /* Before Landlock, which hides /proc. */
    uint64_t baseline = mapped_bytes();
    bool confined = spec->readable_paths != NULL;
    if (confined) {
        confine(rfd, parent, spec->readable_paths, spec->scratch, true);
        /* Sandbox-level too: resolved now, not on the request's path. */
        if (psb__hooks_set_paths(spec->readable_paths, spec->scratch) != 0)
            setup_failed(rfd, "resolving the scratch dir", errno);
    }

    int stdin_fd = -1;
    if (psb__recv_fd(ctl, &stdin_fd) != 0)
        _exit(0); /* a spare the helper no longer needs */
    uint32_t type;
    psb__buf text = {0};
    json_t *req = NULL;
    if (psb__frame_read(ctl, &type, &text, 0, PSB__FRAME_MAX) != 0 || type != PSB__FRAME_REQUEST ||
        !(req = json_loadb(text.data, text.len, 0, NULL)))
        setup_failed(rfd, "receiving the request", errno ? errno : EPROTO);
    psb__buf_free(&text);
    if (dup2(stdin_fd, 0) != 0)
        setup_failed(rfd, "stdin", errno);
    if (stdin_fd != 0)
        close(stdin_fd);
    const json_t *readable = json_object_get(req, "readable_paths");
    if (!confined)
        confine(rfd, parent, readable, spec->scratch, false);
    else if (!json_equal(readable, spec->readable_paths))
        setup_failed(rfd, "confined for other readable paths", EINVAL); /* the helper checks */
    if (close_inherited(spec, 4u) != 0)
        setup_failed(rfd, "closing inherited fds", errno);
    if (chdir(spec->scratch) != 0)
        setup_failed(rfd, "chdir to the scratch dir", errno);
    char **envp = build_env(json_object_get(req, "env"), spec->scratch);
    if (!envp)
        setup_failed(rfd, "building the environment", ENOMEM);
    environ = envp;
    psb__limits limits;
    psb__request_limits(req, &limits);
    const char *failed = NULL;
    /*
     * Without a pids cgroup, RLIMIT_NPROC caps the tasks of the children's uid:
     * the dropped uid on a root host, or the host user's uid as counted inside
     * the helper's user namespace (rlimit counts are per user namespace), so
     * never the host user's own processes. Shared by all executions.
     */
    bool dropped = (psb__helper.layers & PSB__LAYER_UNPRIVILEGED) && getuid() == psb__helper.uid;
    bool own_userns = (psb__helper.layers & PSB__LAYER_NAMESPACES) && !psb__ns_is_root();
    uint64_t nproc = !psb__helper.cgroups && (dropped || own_userns) ? 1024u : 0u;
    if (psb__rlimits_apply(&limits, baseline, nproc, &failed) != 0)
        setup_failed(rfd, failed, errno);
    psb__interp_run(req, spec->scratch, rfd, confined);
}
