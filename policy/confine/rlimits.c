/*
 * policy/confine/rlimits.c - the child's resource limits, from one table instead of
 * a setrlimit() block per resource. Runs after fork(): async-signal-safe.
 */
#include <errno.h>
#include <sys/resource.h>

#include "policy/confine/confine.h"

/* glibc's setrlimit() takes an enum under _GNU_SOURCE, other libcs an int. */
#ifdef __GLIBC__
typedef __rlimit_resource_t rlimit_resource;
#else
typedef int rlimit_resource;
#endif

int psb__rlimits_apply(const psb__limits *limits, uint64_t baseline_bytes, uint64_t nproc,
                       const char **ret_failed) {
    const uint64_t mib = 1024u * 1024u;
    uint64_t cpu = limits->v[PSB__LIMIT_CPU_S];
    const struct {
        rlimit_resource resource;
        const char *name;
        rlim_t soft, hard;
    } rows[] = {
        /* Address space: the limit a process cannot raise or escape by mmap. */
        {RLIMIT_AS, "RLIMIT_AS", baseline_bytes + limits->v[PSB__LIMIT_MEMORY_MIB] * mib,
         baseline_bytes + limits->v[PSB__LIMIT_MEMORY_MIB] * mib},
        /* SIGXCPU at the soft limit (reported as cpu_limit), SIGKILL 1 s later. */
        {RLIMIT_CPU, "RLIMIT_CPU", cpu, cpu + 1},
        {RLIMIT_FSIZE, "RLIMIT_FSIZE", limits->v[PSB__LIMIT_FILE_SIZE_MIB] * mib,
         limits->v[PSB__LIMIT_FILE_SIZE_MIB] * mib},
        {RLIMIT_NOFILE, "RLIMIT_NOFILE", limits->v[PSB__LIMIT_OPEN_FILES],
         limits->v[PSB__LIMIT_OPEN_FILES]},
        {RLIMIT_CORE, "RLIMIT_CORE", 0, 0},
        {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", 0, 0},
        {RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", 0, 0},
    };
    /* Per uid, so shared by every execution of the dropped uid: only a
     * backstop for the pid space where no pids cgroup caps the threads. */
    if (nproc) {
        struct rlimit rl = {.rlim_cur = nproc, .rlim_max = nproc};
        if (setrlimit(RLIMIT_NPROC, &rl) != 0) {
            if (ret_failed)
                *ret_failed = "RLIMIT_NPROC";
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct rlimit rl = {.rlim_cur = rows[i].soft, .rlim_max = rows[i].hard};
        if (setrlimit(rows[i].resource, &rl) != 0) {
            if (ret_failed)
                *ret_failed = rows[i].name;
            return -1;
        }
    }
    return 0;
}
