/*
 * policy/cgroup.c - a pids cgroup per execution, where the cgroup v1 pids
 * hierarchy is writable (a root host): caps the threads one execution can
 * start (the machine's pid space is small: pid_max is often 32768), and
 * cannot be raised from inside. Without it, RLIMIT_NPROC on the dropped uid
 * is the fallback (per uid, so shared by all executions).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embed/internal.h"
#include "policy/policy.h"

#define PIDS_ROOT "/sys/fs/cgroup/pids"

static char base[128]; /* this helper's parent group, "" when unavailable */

static int write_text(const char *dir, const char *file, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = psb__write_all(fd, text, strlen(text));
    close(fd);
    return rc;
}

void psb__cgroup_sweep(bool (*gone)(long pid)) {
    DIR *d = opendir(PIDS_ROOT);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "pysandbox-", 10) != 0)
            continue;
        long pid = strtol(e->d_name + 10, &end, 10);
        if (*end != '\0' || !gone(pid))
            continue;
        /* Empty groups of children that died with their helper, then the parent. */
        char dir[300];
        snprintf(dir, sizeof dir, PIDS_ROOT "/%s", e->d_name);
        DIR *sub = opendir(dir);
        struct dirent *c;
        while (sub && (c = readdir(sub))) {
            char child[600];
            if (c->d_type != DT_DIR || c->d_name[0] == '.')
                continue;
            snprintf(child, sizeof child, "%s/%s", dir, c->d_name);
            rmdir(child);
        }
        if (sub)
            closedir(sub);
        rmdir(dir);
    }
    if (d)
        closedir(d);
}

bool psb__cgroup_init(void) {
    char dir[128];
    snprintf(dir, sizeof dir, PIDS_ROOT "/pysandbox-%d", (int)getpid());
    if (access(PIDS_ROOT "/cgroup.procs", W_OK) != 0 || (mkdir(dir, 0755) != 0 && errno != EEXIST))
        return false;
    snprintf(base, sizeof base, "%s", dir);
    return true;
}

void psb__cgroup_fini(void) {
    if (base[0])
        rmdir(base);
    base[0] = '\0';
}

int psb__cgroup_attach(pid_t pid, char *ret_path, size_t size) {
    if (!base[0])
        return -1;
    snprintf(ret_path, size, "%s/%d", base, (int)pid);
    char text[32];
    snprintf(text, sizeof text, "%d", (int)pid);
    if (mkdir(ret_path, 0755) != 0 || write_text(ret_path, "cgroup.procs", text) != 0) {
        rmdir(ret_path);
        ret_path[0] = '\0';
        return -1;
    }
    return 0;
}

int psb__cgroup_set_pids_max(const char *path, uint64_t max) {
    char text[32];
    snprintf(text, sizeof text, "%llu", (unsigned long long)max);
    return path[0] ? write_text(path, "pids.max", text) : -1;
}

void psb__cgroup_remove(const char *path) {
    if (path[0])
        rmdir(path); /* empty once its process is reaped */
}
