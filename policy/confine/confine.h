/*
 * policy/confine/confine.h - the kernel facilities that enforce a policy:
 * seccomp, Landlock, namespaces, privileges, cgroups and rlimits. Built in
 * the helper, applied in the helper (namespaces, cgroups) or in the child
 * (the rest). Never linked into the library.
 */
#ifndef PSB_POLICY_CONFINE_H
#define PSB_POLICY_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "policy/policy.h"

/* ---- rlimits (rlimits.c), applied in the child ---- */

/*
 * Sets the child's rlimits from the execution limits: address space
 * (baseline_bytes, what the process already maps, plus the memory limit, so
 * a warm interpreter's preloaded libraries do not count against the code),
 * CPU (soft = limit, hard = limit + 1 s), file size, open files, no core
 * dumps; RLIMIT_NPROC = nproc when not 0. Async-signal-safe. Returns 0, or -1 with errno and
 * *ret_failed set to the name of the rlimit that failed.
 */
int psb__rlimits_apply(const psb__limits *limits, uint64_t baseline_bytes, uint64_t nproc,
                       const char **ret_failed);

/* A compiled seccomp program: built once in the helper, loaded in each child. */
typedef struct psb__seccomp_prog {
    void *filter;       /* struct sock_filter[], malloc'd */
    unsigned short len; /* instructions */
} psb__seccomp_prog;

/* Which children a program is for. */
enum psb__seccomp_variant {
    PSB__SECCOMP_EXECUTION, /* the embedded interpreter: forks refused */
    PSB__SECCOMP_SESSION,   /* a session's: each fork asks the helper (user notification) */
    /*
     * An external interpreter's: execve allowed (Landlock lets it run only
     * the interpreter), forks refused, and refusals are EPERM rather than
     * a SIGSYS our handler turns into EPERM (exec resets handlers).
     */
    PSB__SECCOMP_EXTERNAL,
    /*
     * Stacked by the external interpreter's bootstrap on the one above,
     * once the interpreter runs and before any user code: everything
     * allowed but execve and execveat (EPERM), so that exec is refused by
     * seccomp too, not by Landlock alone.
     */
    PSB__SECCOMP_NO_EXEC,
};

/*
 * Compiles the allow-list (network decides whether sockets are allowed).
 * Returns 0, or -1 with a message.
 */
int psb__seccomp_build(bool network, enum psb__seccomp_variant variant, psb__seccomp_prog *ret,
                       char *msg, size_t msg_size);
/*
 * In the child, last: installs the SIGSYS reporter (a trapped syscall fails
 * with EPERM and is remembered), sets no_new_privs and loads the program.
 * Returns 0 or -1 with errno.
 */
int psb__seccomp_load(const psb__seccomp_prog *prog);
/*
 * The same, for a program built with `session`: its forks wait for the
 * holder of *ret_listener (a new fd) to allow or refuse them.
 */
int psb__seccomp_load_listener(const psb__seccomp_prog *prog, int *ret_listener);

/* A fork a session process asked for, waiting on the listener (helper side). */
struct psb__notification {
    uint64_t id;   /* the notification's cookie */
    pid_t pid;     /* the calling thread, in the helper's pid namespace */
    int nr;        /* the syscall */
    uint64_t arg0; /* its flags */
};
/* Takes the next notification (blocks unless one is pending). 0, or -1 with errno. */
int psb__notify_recv(int listener, struct psb__notification *ret);
/* true while the task that asked is still waiting (its pid has not been reused). */
bool psb__notify_valid(int listener, uint64_t id);
/* Lets the clone run as asked, or fails it with EPERM. 0, or -1 with errno. */
int psb__notify_answer(int listener, uint64_t id, bool allow);
/* Name of the last syscall the filter refused in this process, or NULL. */
const char *psb__seccomp_last_denied(void);
/* true if the kernel offers seccomp filters. */
bool psb__seccomp_available(void);

/* The kernel's Landlock ABI version, 0 when Landlock is unavailable. */
int psb__landlock_abi(void);
/*
 * In the child: restricts the process to reading the given paths (and the
 * interpreter's own), and writing only below `scratch` and `writable` (a
 * module layer being installed, or NULL) and to /dev/null; executing
 * nothing but `executable`; TCP bind/connect denied unless network;
 * abstract unix sockets and signals scoped to the execution. Paths that do
 * not exist are skipped. Needs no_new_privs. Returns 0, or -1 with errno
 * and *ret_what set.
 */
struct psb__landlock_spec {
    const json_t *readable_paths; /* the policy's (and the layers'): read */
    const json_t *also_readable;  /* an external interpreter's libraries, or NULL: read */
    const json_t *executable;     /* an external interpreter and its loader, or NULL */
    const char *cache_dir;        /* the start-up cache, or NULL: read */
    const char *scratch;          /* read and write, never execute */
    const char *writable;         /* the same, or NULL */
    bool network;                 /* TCP allowed */
};
int psb__landlock_apply(const struct psb__landlock_spec *spec, const char **ret_what);

/*
 * In the helper, once: new network (unless network), IPC and UTS
 * namespaces, and a user namespace first when not root. Children inherit
 * them. Returns 0, or -1 with errno and *ret_what set.
 */
int psb__ns_enter(bool network, const char **ret_what);
/* ---- cgroup.c: a pids and a memory cgroup per execution (helper side) ---- */

enum { PSB__CG_PIDS, PSB__CG_MEMORY, PSB__CG_COUNT };
#define PSB__CG_PATH_MAX 320

/* One execution's groups; "" where a controller is not available. */
struct psb__cgroup {
    char path[PSB__CG_COUNT][PSB__CG_PATH_MAX];
};

/*
 * Creates this helper's parent group in each controller it may write,
 * beneath the group it runs in. Returns the bits (1 << PSB__CG_*) available.
 */
unsigned psb__cgroup_init(void);
/*
 * The pid in a helper's name "pysandbox-PID" (its cgroups) or
 * "pysandbox-PID-XXXXXX" (its scratch root): the char after the pid must be
 * `after`. -1 for any other name.
 */
long psb__helper_pid_of(const char *name, char after);
/* Removes the groups of helpers whose pid is gone. */
void psb__cgroup_sweep(bool (*gone)(long pid));
/* Removes this helper's parent groups (empty by then). */
void psb__cgroup_fini(void);
/* Moves pid into a new group of its own per available controller. Returns the bits attached. */
unsigned psb__cgroup_attach(pid_t pid, struct psb__cgroup *ret);
/* pids.max of the group. 0, or -1 when there is none or it failed. */
int psb__cgroup_set_pids_max(const struct psb__cgroup *cg, uint64_t max);
/* The memory (and memory+swap) limit. 0, or -1 when there is none or it failed. */
int psb__cgroup_set_memory_max(const struct psb__cgroup *cg, uint64_t bytes);
/* Peak usage and whether the OOM killer fired in the group (0/false without one). */
void psb__cgroup_memory_report(const struct psb__cgroup *cg, uint64_t *ret_peak_bytes,
                               bool *ret_oom);
/*
 * The processes in the group (the pids one, else the memory one): at most
 * max of them into ret. Their number; 0 without a group.
 */
size_t psb__cgroup_procs(const struct psb__cgroup *cg, pid_t *ret, size_t max);
/* Removes the groups (their processes reaped) and empties cg. */
void psb__cgroup_remove(struct psb__cgroup *cg);

/*
 * In the helper, inside its own mount namespace: makes every mount
 * read-only (Landlock does not cover chmod or utimes) and mounts a private
 * tmpfs on /tmp for the scratch dirs; keeps /sys/fs/cgroup/pids writable
 * when asked. 0, or -1 with errno and *ret_what.
 */
int psb__ns_private_fs(unsigned keep_cgroups_writable, const char **ret_what);
/*
 * In a child, while it still has the helper's capabilities, after
 * psb__ns_private_fs: a mount namespace of its own in which dir (a module
 * layer being installed) is writable again. 0, or -1 with errno and
 * *ret_what set.
 */
int psb__ns_writable_dir(const char *dir, const char **ret_what);
/* true if the helper is root in the initial user namespace. */
bool psb__ns_is_root(void);
/*
 * In the child: as root, drop to uid/gid (no supplementary groups); in all
 * cases clear every capability. Returns 0, or -1 with errno and *ret_what.
 */
int psb__ns_drop_privileges(unsigned uid, unsigned gid, const char **ret_what);

#endif /* PSB_POLICY_CONFINE_H */
