/*
 * bench/floors.c - the floors of the speed rows, measured in the same run
 * without pysandbox: the fork+exit round trip of a process holding as much
 * touched anonymous memory as the warm helper (4 KiB pages, and transparent
 * huge pages through MADV_HUGEPAGE), and a pipe round trip between two
 * processes. Each runs in a process forked for it, so the bench's own
 * memory and threads play no part.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

#define HUGE_PAGE ((size_t)2 << 20)

/* Writes all of buf; 0 or -1. */
static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads exactly len bytes; 0 or -1 (EOF or error). */
static int read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* The forked measurer of the fork floor: touch `bytes`, then time n fork+exit+wait. */
static _Noreturn void fork_floor_child(int out, size_t bytes, int huge, size_t n) {
    size_t len = bytes + HUGE_PAGE;
    char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        _exit(1);
    char *mem = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    (void)madvise(mem, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    for (size_t off = 0; off < bytes; off += 4096)
        mem[off] = (char)off;
    for (size_t i = 0; i < n; i++) {
        double start = bench_now_ms();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
            _exit(1);
        double ms = bench_now_ms() - start;
        if (write_all(out, &ms, sizeof ms) != 0)
            _exit(1);
    }
    _exit(0);
}

/* The forked echo of the pipe floor: a byte in, the byte back, until EOF. */
static _Noreturn void echo_child(int in, int out) {
    char c;
    while (read_all(in, &c, 1) == 0)
        if (write_all(out, &c, 1) != 0)
            _exit(1);
    _exit(0);
}

/* Reads n samples from fd into samples and reaps pid. 0, or -1 (printed). */
static int collect(const char *what, pid_t pid, int fd, double *samples, size_t n) {
    int rc = 0, status = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = read_all(fd, &samples[i], sizeof samples[i]);
    close(fd);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pysandbox-bench: the %s floor failed\n", what);
        return -1;
    }
    return 0;
}

int bench_fork_floor(size_t bytes, int huge, double *samples, size_t n) {
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        fork_floor_child(p[1], bytes, huge, n);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    return collect("fork", pid, p[0], samples, n);
}

int bench_pipe_floor(double *samples, size_t n) {
    int to[2], from[2];
    if (pipe(to) != 0)
        return -1;
    if (pipe(from) != 0) {
        close(to[0]);
        close(to[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(to[1]);
        close(from[0]);
        echo_child(to[0], from[1]);
    }
    close(to[0]);
    close(from[1]);
    int rc = pid < 0 ? -1 : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char c = 'x';
        double start = bench_now_ms();
        rc = write_all(to[1], &c, 1) == 0 && read_all(from[0], &c, 1) == 0 ? 0 : -1;
        samples[i] = bench_now_ms() - start;
    }
    close(to[1]);
    close(from[0]);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (rc != 0)
        fprintf(stderr, "pysandbox-bench: the pipe floor failed\n");
    return rc;
}
