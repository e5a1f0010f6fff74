/*
 * tests/security/attack.h - what every attack test needs from outside the
 * sandbox: a monotonic clock, random secrets, files and trees, the process
 * table (/proc), the helper a sandbox spawned, a sandbox made with Check
 * assertions and a host-side signal counter. Header-only: each suite is one
 * executable.
 */
#ifndef PSB_TESTS_SECURITY_ATTACK_H
#define PSB_TESTS_SECURITY_ATTACK_H

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "include/pysandbox.h"

#define S(x) ((x) ? (x) : "(null)")
#define SEC_MAX_PROCS 4096 /* /proc entries looked at */

/* ---- time ---------------------------------------------------------------- */

static inline uint64_t sec_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void sec_sleep_ms(unsigned ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- secrets, files ------------------------------------------------------- */

/* nchars random lowercase hex digits from /dev/urandom, NUL-terminated. */
static inline void sec_random_hex(char *out, size_t nchars) {
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t nbytes = (nchars + 1) / 2;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ck_assert(fd >= 0 && nbytes <= sizeof raw);
    ck_assert(read(fd, raw, nbytes) == (ssize_t)nbytes);
    close(fd);
    for (size_t i = 0; i < nchars; i++)
        out[i] = hex[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
    out[nchars] = '\0';
}

/* The whole file, NUL-terminated (malloc'd; *ret_len may be NULL); NULL if unreadable. */
static inline char *sec_read_file(const char *path, size_t *ret_len) {
    FILE *f = fopen(path, "rbe");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            cap = cap ? 2 * cap : 8192;
            char *grown = realloc(buf, cap + 1);
            ck_assert_ptr_nonnull(grown);
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return buf;
}

static inline int sec__rm_entry(const char *path, const struct stat *st, int flag,
                                struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Removes path and everything below it, never following a symlink. */
static inline void sec_remove_tree(const char *path) {
    nftw(path, sec__rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Removes every tree that matches a glob pattern. */
static inline void sec_remove_glob(const char *pattern) {
    glob_t g;
    if (glob(pattern, 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) {
            chmod(g.gl_pathv[i], 0755); /* a test may leave a dir others could not enter */
            sec_remove_tree(g.gl_pathv[i]);
        }
    globfree(&g);
}

static inline bool sec_valid_json(const char *text) {
    if (!text)
        return false;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    json_decref(v);
    return v != NULL;
}

static inline bool sec_is_root(void) {
    return geteuid() == 0;
}

/* ---- the process table ---------------------------------------------------- */

/* A "Field:   123 kB" line of a /proc file (a number, in its unit); -1 if absent. */
static inline long sec_proc_kib(const char *path, const char *field) {
    char line[256];
    long v = -1;
    size_t flen = strlen(field);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, flen) && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* A field of /proc/PID/status ("Uid", "PPid", "VmRSS"; pid 0: this process), first number. */
static inline long sec_status_field(pid_t pid, const char *field) {
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    return sec_proc_kib(path, field);
}

/* The parent pid from /proc/PID/stat, or -1 when the process is gone. */
static inline pid_t sec_ppid_of(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
    char state;
    int ppid;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

static inline void sec_proc_comm(pid_t pid, char *out, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(out, (int)size, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

static inline void sec_proc_exe(pid_t pid, char *out, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, out, size - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* Every pid and its parent; returns how many. */
static inline size_t sec_proc_table(pid_t *pids, pid_t *ppids, size_t max) {
    DIR *d = opendir("/proc");
    size_t n = 0;
    struct dirent *e;
    while (d && n < max && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        pid_t pp = sec_ppid_of(pid);
        if (pp < 0)
            continue;
        pids[n] = pid;
        ppids[n++] = pp;
    }
    if (d)
        closedir(d);
    return n;
}

/* A pysandbox helper: its comm (cut at 15 chars) or its executable says so. */
static inline bool sec_is_helper(pid_t pid) {
    char comm[32], exe[512];
    sec_proc_comm(pid, comm, sizeof comm);
    if (!strncmp(comm, "pysandbox-help", 14))
        return true;
    sec_proc_exe(pid, exe, sizeof exe);
    const char *base = strrchr(exe, '/');
    return base && !strncmp(base + 1, "pysandbox-helper", 16);
}

/*
 * The helpers that are children of parent (a sandbox's owner), at most max;
 * returns how many.
 */
static inline size_t sec_find_helpers(pid_t parent, pid_t *out, size_t max) {
    static pid_t pids[SEC_MAX_PROCS], ppids[SEC_MAX_PROCS];
    size_t n = sec_proc_table(pids, ppids, SEC_MAX_PROCS), k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        if (ppids[i] == parent && sec_is_helper(pids[i]))
            out[k++] = pids[i];
    return k;
}

/* The helper of parent's only sandbox; -1 if none. */
static inline pid_t sec_find_helper(pid_t parent) {
    pid_t h;
    return sec_find_helpers(parent, &h, 1) == 1 ? h : -1;
}

/* All descendants of root (children, their children, ...); returns how many. */
static inline size_t sec_descendants(pid_t root, pid_t *out, size_t max) {
    static pid_t pids[SEC_MAX_PROCS], ppids[SEC_MAX_PROCS], queue[SEC_MAX_PROCS];
    size_t n = sec_proc_table(pids, ppids, SEC_MAX_PROCS), k = 0;
    size_t head = 0, tail = 0;
    queue[tail++] = root;
    while (head < tail) {
        pid_t p = queue[head++];
        for (size_t i = 0; i < n; i++)
            if (ppids[i] == p && k < max && tail < SEC_MAX_PROCS) {
                out[k++] = pids[i];
                queue[tail++] = pids[i];
            }
    }
    return k;
}

/* ---- sandboxes and outcomes ------------------------------------------------ */

#define SEC_LAYERS_DEFAULT (-1) /* the default configuration: every layer the policy requires */

/*
 * A sandbox in mode; layers SEC_LAYERS_DEFAULT or PSB_LAYER_* bits for
 * psb_config_set_diagnostic_layers(); max_concurrency 0 for the default.
 */
static inline psb_sandbox *sec_sandbox(int layers, psb_mode mode, unsigned max_concurrency) {
    psb_error err = {.code = PSB_OK};
    psb_config *cfg = psb_config_new(&err);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(psb_config_set_mode(cfg, mode, &err), PSB_OK);
    if (layers != SEC_LAYERS_DEFAULT)
        ck_assert_int_eq(psb_config_set_diagnostic_layers(cfg, (unsigned)layers, &err), PSB_OK);
    if (max_concurrency)
        ck_assert_int_eq(psb_config_set_max_concurrency(cfg, max_concurrency, &err), PSB_OK);
    psb_sandbox *s = NULL;
    psb_status st = psb_sandbox_new(cfg, &s, &err);
    psb_config_free(cfg);
    ck_assert_msg(st == PSB_OK, "psb_sandbox_new: %s: %s", psb_status_str(st), err.message);
    return s;
}

/* "ok" or the error kind's name. */
static inline const char *sec_kind(const psb_outcome *o) {
    return psb_outcome_ok(o) ? "ok" : psb_error_kind_name(psb_outcome_error_kind(o));
}

/* One line with everything an assertion message needs about an outcome. */
static inline const char *sec_describe(const psb_outcome *o, char *buf, size_t size) {
    snprintf(buf, size,
             "kind=%s type=%s message=%.300s event=%s module=%s result=%.600s traceback=%.600s",
             sec_kind(o), S(psb_outcome_error_type(o)), S(psb_outcome_error_message(o)),
             S(psb_outcome_error_event(o)), S(psb_outcome_error_module(o)),
             S(psb_outcome_result_json(o)), S(psb_outcome_error_traceback(o)));
    return buf;
}

/* ---- signals sent to the host -------------------------------------------- */

/* SIGUSR1, SIGTERM and SIGINT this process received since sec_count_signals(). */
static volatile sig_atomic_t sec_signals __attribute__((unused));

static inline void sec__on_signal(int sig) {
    (void)sig;
    sec_signals++;
}

/*
 * Counts instead of dying: an attack that reaches the host shows as a
 * count, not as a lost test. No SA_RESTART, as for any host application.
 */
static inline void sec_count_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sec__on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sec_signals = 0;
}

#endif /* PSB_TESTS_SECURITY_ATTACK_H */
