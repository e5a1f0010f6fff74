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
#include <sys/syscall.h>
#include <unistd.h>

#include "embed/internal.h"

extern char **environ;

void psb__child_reply(int fd, const char *kind, const char *type, const char *message,
                      const char *traceback, const char *module, const char *event,
                      const char *result_json, size_t result_len, json_t *extra) {
    json_t *reply;
    if (!kind)
        reply = json_pack("{s:s}", "status", "ok");
    else
        reply = json_pack("{s:s,s:{s:s,s:s?,s:s?,s:s?,s:s?,s:s?}}", "status", "error", "error",
                          "kind", kind, "type", type, "message", message, "traceback",
                          traceback, "module", module, "event", event);
    if (reply && extra)
        json_object_update(reply, extra);
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

/* Moves the four stdio/result fds into place without clobbering each other. */
static int place_fds(const psb__child_spec *spec) {
    int src[4] = {spec->stdin_fd, spec->stdout_fd, spec->stderr_fd, spec->result_fd};
    int tmp[4];
    for (int i = 0; i < 4; i++) {
        /* Above every fd that must keep its number. */
        int floor = spec->n_keep_fds ? spec->keep_fds[spec->n_keep_fds - 1] + 1 : 10;
        tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, floor < 10 ? 10 : floor);
        if (tmp[i] < 0)
            return -1;
    }
    for (int i = 0; i < 4; i++)
        if (dup2(tmp[i], i) != i) /* dup2 clears close-on-exec on the target */
            return -1;
    return 0;
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
    if (place_fds(spec) != 0)
        setup_failed(rfd, "fd set-up", errno);
    rfd = PSB__CHILD_RESULT_FD;
    const char *what = NULL;
    if ((psb__helper.layers & PSB__LAYER_UNPRIVILEGED) &&
        psb__ns_drop_privileges(psb__helper.uid, psb__helper.gid, &what) != 0)
        setup_failed(rfd, what, errno);
    /* If the helper dies, so does the child (set after the uid change, which clears it). */
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(PSB__CHILD_SETUP_FAILED);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        setup_failed(rfd, "no_new_privs", errno);
    if ((psb__helper.layers & PSB__LAYER_LANDLOCK) &&
        psb__landlock_apply(json_object_get(spec->req, "readable_paths"), spec->scratch,
                            psb__helper.network, &what) != 0)
        setup_failed(rfd, what, errno);
    if (close_inherited(spec, 4u) != 0)
        setup_failed(rfd, "closing inherited fds", errno);
    if (chdir(spec->scratch) != 0)
        setup_failed(rfd, "chdir to the scratch dir", errno);
    environ = spec->envp;
    const char *failed = NULL;
    if (psb__rlimits_apply(&spec->limits, spec->baseline_bytes, &failed) != 0)
        setup_failed(rfd, failed, errno);
    psb__interp_run(spec->req, spec->scratch, rfd);
}
