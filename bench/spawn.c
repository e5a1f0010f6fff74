/*
 * bench/spawn.c - the baselines' process runner: posix_spawn of a fresh
 * python3.11 (optionally under bwrap) per execution, reaped with wait4 for
 * its peak RSS, plus a spawn that captures stdout for version probes.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

/* Output of a probe beyond this is not needed. */
#define CAPTURE_MAX_BYTES (64 * 1024)

/* Waits for pid (retrying on EINTR). Returns its pid or -1. */
static pid_t wait_child(pid_t pid, int *ret_wstatus, struct rusage *ret_usage) {
    pid_t r;
    do {
        r = wait4(pid, ret_wstatus, 0, ret_usage);
    } while (r < 0 && errno == EINTR);
    return r;
}

int bench_spawn_wait(const bench_argv *argv, const char *cwd, const char *err_path,
                     double *ret_wall_ms, int *ret_wstatus, uint64_t *ret_maxrss_kib) {
    posix_spawn_file_actions_t fa;
    int fa_ready = 0, rc = -1, wstatus = 0;
    struct rusage usage;
    pid_t pid = -1;

    if (posix_spawn_file_actions_init(&fa) != 0)
        goto out;
    fa_ready = 1;
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600) !=
            0 ||
        posix_spawn_file_actions_addchdir_np(&fa, cwd) != 0) {
        fprintf(stderr, "pysandbox-bench: posix_spawn_file_actions: out of memory\n");
        goto out;
    }

    double start = bench_now_ms();
    int err = posix_spawn(&pid, argv->v[0], &fa, NULL, argv->v, environ);
    if (err != 0) {
        fprintf(stderr, "pysandbox-bench: posix_spawn %s: %s\n", argv->v[0], strerror(err));
        goto out;
    }
    if (wait_child(pid, &wstatus, &usage) < 0) {
        fprintf(stderr, "pysandbox-bench: wait4: %s\n", strerror(errno));
        goto out;
    }
    *ret_wall_ms = bench_now_ms() - start;
    *ret_wstatus = wstatus;
    *ret_maxrss_kib = (uint64_t)usage.ru_maxrss; /* Linux: KiB */
    rc = 0;
out:
    if (fa_ready)
        posix_spawn_file_actions_destroy(&fa);
    return rc;
}

char *bench_spawn_capture(const bench_argv *argv) {
    posix_spawn_file_actions_t fa;
    int fa_ready = 0, pipe_fds[2] = {-1, -1}, wstatus = 0;
    char *buf = NULL, *ret = NULL;
    size_t len = 0;
    pid_t pid = -1;

    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        goto out;
    if (posix_spawn_file_actions_init(&fa) != 0)
        goto out;
    fa_ready = 1;
    /* dup2 clears close-on-exec on the target fd. */
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 1) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) != 0)
        goto out;
    if (posix_spawn(&pid, argv->v[0], &fa, NULL, argv->v, environ) != 0) {
        pid = -1;
        goto out;
    }
    close(pipe_fds[1]);
    pipe_fds[1] = -1;

    buf = malloc(CAPTURE_MAX_BYTES + 1);
    if (buf == NULL)
        goto out;
    for (;;) {
        ssize_t r = read(pipe_fds[0], buf + len, CAPTURE_MAX_BYTES - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == CAPTURE_MAX_BYTES)
            break;
    }
    buf[len] = '\0';
out:
    if (pipe_fds[0] >= 0)
        close(pipe_fds[0]); /* a child still writing gets EPIPE and ends */
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);
    if (pid > 0 && wait_child(pid, &wstatus, NULL) == pid && WIFEXITED(wstatus) &&
        WEXITSTATUS(wstatus) == 0 && buf != NULL) {
        ret = buf;
        buf = NULL;
    }
    if (fa_ready)
        posix_spawn_file_actions_destroy(&fa);
    free(buf);
    return ret;
}

char *bench_which(const char *name) {
    const char *path = getenv("PATH");
    char *copy = strdup(path != NULL && path[0] != '\0' ? path : "/usr/bin:/bin");
    char *found = NULL, *save = NULL;

    if (copy == NULL)
        return NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        char candidate[4096];
        struct stat st;
        int n = snprintf(candidate, sizeof candidate, "%s/%s", dir, name);
        if (dir[0] != '/' || n < 0 || (size_t)n >= sizeof candidate)
            continue;
        if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
            found = strdup(candidate);
            break;
        }
    }
    free(copy);
    return found;
}

void bench_print_file_tail(const char *path, size_t max_bytes) {
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > (long)max_bytes)
            fseek(f, size - (long)max_bytes, SEEK_SET);
        else
            fseek(f, 0, SEEK_SET);
    }
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL)
        fprintf(stderr, "    %s", line);
    fclose(f);
}
