/*
 * policy/confine/cgroup.c - a cgroup per execution, beneath the cgroups the helper
 * was started in (never moving a process out of its subtree), where the
 * cgroup v1 hierarchies are writable (a root host):
 *  - pids: caps the threads one execution can start (the machine's pid
 *    space is small), and cannot be raised from inside; without it,
 *    RLIMIT_NPROC on the dropped uid is the fallback;
 *  - memory: counts what the execution really costs the machine (its
 *    anonymous pages, its scratch tmpfs, its stdin, pipe buffers and kernel
 *    memory), kills it at the limit and reports the peak; without it,
 *    RLIMIT_AS is the only memory limit.
 * cgroup v2 needs a delegated subtree whose parent holds no process, which
 * a library cannot arrange without moving its host: not used.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/confine/confine.h"

static const char *const controller[PSB__CG_COUNT] = {"pids", "memory"};

/* This helper's parent group per controller, "" when unavailable. */
static char base[PSB__CG_COUNT][PSB__CG_PATH_MAX];

static int write_text(const char *dir, const char *file, const char *text) {
    char path[PSB__CG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = psb__write_all(fd, text, strlen(text));
    close(fd);
    return rc;
}

static int read_text(const char *dir, const char *file, char *buf, size_t size) {
    char path[PSB__CG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* The v1 hierarchy of a controller where this process runs: "/sys/fs/cgroup/pids/a/b". */
static int own_group(const char *name, char *ret, size_t size) {
    char text[4096];
    if (read_text("/proc/self", "cgroup", text, sizeof text) != 0)
        return -1;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *list = strchr(line, ':');
        char *path = list ? strchr(list + 1, ':') : NULL;
        if (!path)
            continue;
        *path++ = '\0';
        list++;
        /* The controller list is comma separated ("cpu,cpuacct"). */
        for (char *s2 = NULL, *c = strtok_r(list, ",", &s2); c; c = strtok_r(NULL, ",", &s2))
            if (strcmp(c, name) == 0) {
                int n = snprintf(ret, size, "/sys/fs/cgroup/%s%s", name,
                                 strcmp(path, "/") == 0 ? "" : path);
                return n > 0 && (size_t)n < size ? 0 : -1;
            }
    }
    return -1;
}

long psb__helper_pid_of(const char *name, char after) {
    char *end;
    if (strncmp(name, "pysandbox-", 10) != 0)
        return -1;
    long pid = strtol(name + 10, &end, 10);
    return end != name + 10 && *end == after && pid > 0 ? pid : -1;
}

/* Removes the leftover groups of helpers that died (SIGKILL leaves no chance). */
static void sweep_dir(const char *dir, bool (*gone)(long pid)) {
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long pid = psb__helper_pid_of(e->d_name, '\0');
        if (pid < 0 || !gone(pid))
            continue;
        char top[PSB__CG_PATH_MAX + 300];
        snprintf(top, sizeof top, "%s/%s", dir, e->d_name);
        DIR *sub = opendir(top);
        struct dirent *c;
        while (sub && (c = readdir(sub))) {
            char child[sizeof top + 300];
            if (c->d_type != DT_DIR || c->d_name[0] == '.')
                continue;
            snprintf(child, sizeof child, "%s/%s", top, c->d_name);
            rmdir(child);
        }
        if (sub)
            closedir(sub);
        rmdir(top);
    }
    if (d)
        closedir(d);
}

void psb__cgroup_sweep(bool (*gone)(long pid)) {
    for (int k = 0; k < PSB__CG_COUNT; k++) {
        char dir[PSB__CG_PATH_MAX];
        if (own_group(controller[k], dir, sizeof dir) == 0)
            sweep_dir(dir, gone);
    }
}

unsigned psb__cgroup_init(void) {
    unsigned have = 0;
    for (int k = 0; k < PSB__CG_COUNT; k++) {
        char own[PSB__CG_PATH_MAX], dir[PSB__CG_PATH_MAX];
        base[k][0] = '\0';
        if (own_group(controller[k], own, sizeof own) != 0)
            continue;
        int n = snprintf(dir, sizeof dir, "%s/pysandbox-%d", own, (int)getpid());
        if (n < 0 || (size_t)n + 16 >= sizeof dir || access(own, W_OK) != 0 ||
            (mkdir(dir, 0755) != 0 && errno != EEXIST))
            continue;
        snprintf(base[k], sizeof base[k], "%s", dir);
        have |= 1u << k;
    }
    return have;
}

void psb__cgroup_fini(void) {
    for (int k = 0; k < PSB__CG_COUNT; k++) {
        if (base[k][0])
            rmdir(base[k]);
        base[k][0] = '\0';
    }
}

unsigned psb__cgroup_attach(pid_t pid, struct psb__cgroup *ret) {
    unsigned attached = 0;
    char text[32];
    snprintf(text, sizeof text, "%d", (int)pid);
    for (int k = 0; k < PSB__CG_COUNT; k++) {
        char *path = ret->path[k];
        path[0] = '\0';
        if (!base[k][0])
            continue;
        int n = snprintf(path, PSB__CG_PATH_MAX, "%s/%d", base[k], (int)pid);
        if (n < 0 || n >= PSB__CG_PATH_MAX || mkdir(path, 0755) != 0 ||
            write_text(path, "cgroup.procs", text) != 0) {
            rmdir(path);
            path[0] = '\0';
            continue;
        }
        attached |= 1u << k;
    }
    return attached;
}

int psb__cgroup_set_pids_max(const struct psb__cgroup *cg, uint64_t max) {
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)max);
    return cg->path[PSB__CG_PIDS][0] ? write_text(cg->path[PSB__CG_PIDS], "pids.max", text) : -1;
}

int psb__cgroup_set_memory_max(const struct psb__cgroup *cg, uint64_t bytes) {
    const char *dir = cg->path[PSB__CG_MEMORY];
    char text[32];
    if (!dir[0])
        return -1;
    snprintf(text, sizeof text, "%llu", (unsigned long long)bytes);
    /* memory+swap may never be below memory: whichever way the limit moves, one
     * of the first two writes fails and the third succeeds. memsw is absent
     * without swap accounting. */
    (void)write_text(dir, "memory.memsw.limit_in_bytes", text);
    (void)write_text(dir, "memory.limit_in_bytes", text);
    (void)write_text(dir, "memory.memsw.limit_in_bytes", text);
    char now[32];
    if (read_text(dir, "memory.limit_in_bytes", now, sizeof now) != 0)
        return -1;
    /* The kernel rounds to pages. */
    return strtoull(now, NULL, 10) <= bytes + 4096u ? 0 : -1;
}

void psb__cgroup_memory_report(const struct psb__cgroup *cg, uint64_t *ret_peak_bytes,
                               bool *ret_oom) {
    const char *dir = cg->path[PSB__CG_MEMORY];
    char text[512];
    *ret_peak_bytes = 0;
    *ret_oom = false;
    if (!dir[0])
        return;
    if (read_text(dir, "memory.max_usage_in_bytes", text, sizeof text) == 0)
        *ret_peak_bytes = strtoull(text, NULL, 10);
    /* "oom_kill N" (Linux 4.13+): kills by the OOM killer in this group. */
    if (read_text(dir, "memory.oom_control", text, sizeof text) == 0) {
        const char *k = strstr(text, "oom_kill ");
        *ret_oom = k && strtoull(k + 9, NULL, 10) > 0;
    }
}

size_t psb__cgroup_procs(const struct psb__cgroup *cg, pid_t *ret, size_t max) {
    char buf[8192];
    size_t n = 0;
    for (int k = 0; k < PSB__CG_COUNT && n == 0; k++) {
        if (!cg->path[k][0] || read_text(cg->path[k], "cgroup.procs", buf, sizeof buf) != 0)
            continue;
        for (char *p = buf, *end; *p && n < max; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 0)
                ret[n++] = (pid_t)pid;
        }
    }
    return n;
}

void psb__cgroup_remove(struct psb__cgroup *cg) {
    for (int k = 0; k < PSB__CG_COUNT; k++) {
        if (cg->path[k][0])
            rmdir(cg->path[k]); /* empty once its process is reaped */
        cg->path[k][0] = '\0';
    }
}
