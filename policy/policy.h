/*
 * policy/policy.h - the policy module's internal interface: the policy
 * model (imports, audit events, readable paths, network, limits, env), its
 * JSON form and presets, limit ranges, and the rlimit table applied in the
 * child.
 */
#ifndef PSB_POLICY_H
#define PSB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "include/pysandbox.h"

/* Every limit a user controls, by index into psb__limits.v. */
#define PSB__LIMIT_MAP(X)                                                                          \
    /* name            key              min   max                 default */                       \
    X(TIMEOUT_MS, "timeout_ms", 1, 86400000ull, 30000ull)                                          \
    X(MEMORY_MIB, "memory_mib", 32, 1048576ull, 512ull)                                            \
    X(CPU_S, "cpu_s", 1, 86400ull, 30ull)                                                          \
    X(STDOUT_BYTES, "stdout_bytes", 0, 1073741824ull, 1048576ull)                                  \
    X(STDERR_BYTES, "stderr_bytes", 0, 1073741824ull, 1048576ull)                                  \
    X(RESULT_BYTES, "result_bytes", 2, 1073741824ull, 16777216ull)                                 \
    X(OPEN_FILES, "open_files", 16, 65536ull, 256ull)                                              \
    X(FILE_SIZE_MIB, "file_size_mib", 1, 1048576ull, 64ull)                                        \
    X(SCRATCH_MIB, "scratch_mib", 1, 65536ull, 64ull)                                              \
    X(FIGURES_BYTES, "figures_bytes", 0, 268435456ull, 16777216ull)                                \
    X(FILES_BYTES, "files_bytes", 0, 268435456ull, 16777216ull)                                    \
    X(THREADS, "threads", 1, 4096ull, 64ull)

enum psb__limit_id {
#define PSB__LIMIT_ENUM(id, key, min, max, def) PSB__LIMIT_##id,
    PSB__LIMIT_MAP(PSB__LIMIT_ENUM)
#undef PSB__LIMIT_ENUM
        PSB__LIMIT_COUNT
};

typedef struct psb__limits {
    uint64_t v[PSB__LIMIT_COUNT]; /* units as in the key names */
} psb__limits;

/* The JSON key of a limit ("timeout_ms"). */
const char *psb__limit_key(enum psb__limit_id id);
/* Fills limits with the defaults. */
void psb__limits_default(psb__limits *limits);
/*
 * Checks value against the range of limit id. Returns PSB_OK, or PSB_EINVAL
 * with a message naming `what` and the range.
 */
psb_status psb__limit_check(enum psb__limit_id id, uint64_t value, const char *what,
                            psb_error *err);
/* The id of a limit key, or -1. */
int psb__limit_find(const char *key);

/* Caps on list sizes shared by policies and per-execution options. */
#define PSB__MAX_IMPORT_RULES 256
#define PSB__MAX_ENV_VARS 256
#define PSB__MAX_ENV_BYTES (64u * 1024u)
#define PSB__MAX_PATHS 256
#define PSB__MAX_MODULE_NAME 255

typedef struct psb__policy {
    char name[64];      /* preset name or "file" */
    json_t *doc;        /* the validated, normalized policy document */
    psb__limits limits; /* default limits of executions */
} psb__policy;

/*
 * Parses and validates a policy document (JSON text). Unknown keys and bad
 * values fail with PSB_EPOLICY and a message naming the key path
 * (e.g. "policy.imports.deny[2]"). On success *ret holds a normalized
 * document: every key present with defaults filled in.
 */
psb_status psb__policy_parse(const char *json_text, const char *name, psb__policy *ret,
                             psb_error *err);
/* Loads a preset by name, or a policy file by path. */
psb_status psb__policy_load(const char *name_or_path, psb__policy *ret, psb_error *err);
/* Releases what a policy holds. */
void psb__policy_clear(psb__policy *policy);
/* Copies a policy (deep). */
psb_status psb__policy_copy(const psb__policy *src, psb__policy *dst, psb_error *err);

/* The JSON text of a preset, or NULL when there is none of that name. */
const char *psb__preset_json(const char *name);

/* true if name is a valid dotted module name ("a.b_c"). */
bool psb__module_name_valid(const char *name);
/*
 * true if name is a safe relative file name for files in and out of the
 * scratch dir: UTF-8, components separated by '/', none empty, "." or "..",
 * no leading '/', at most 1024 bytes.
 */
bool psb__file_name_valid(const char *name);
/* Caps on the files given to and taken from an execution. */
#define PSB__MAX_FILES 1000
/* true if name is a valid environment variable name. */
bool psb__env_name_valid(const char *name);

/*
 * Import decision. rules is a JSON array of {"module": str, "allow": bool};
 * the longest rule matching the module or one of its parent packages wins,
 * deny wins a tie; with no match, default_allow decides.
 */
bool psb__import_allowed(const json_t *rules, bool default_allow, const char *module);

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

/* ======================================================================== */
/* Kernel confinement, built in the helper and applied in the child         */
/* (seccomp.c, landlock.c, ns.c; linked into the helper only)               */
/* ======================================================================== */

/* Confinement layers, for the policy's "require" list and test switches. */
enum psb__layer {
    PSB__LAYER_SECCOMP = 1u << 0,      /* seccomp-bpf syscall allow-list */
    PSB__LAYER_LANDLOCK = 1u << 1,     /* Landlock file system, TCP and scopes */
    PSB__LAYER_NAMESPACES = 1u << 2,   /* network, IPC, UTS (+user) namespaces */
    PSB__LAYER_UNPRIVILEGED = 1u << 3, /* never uid 0, no capabilities */
    PSB__LAYER_HOOKS = 1u << 4,        /* audit hook and import filter */
    PSB__LAYER_ALL = 0x1fu,
};
/* Name of a single layer ("seccomp"), or NULL. */
const char *psb__layer_name(unsigned layer);
/* The layer of a name, or 0. */
unsigned psb__layer_find(const char *name);

/* A compiled seccomp program: built once in the helper, loaded in each child. */
typedef struct psb__seccomp_prog {
    void *filter;       /* struct sock_filter[], malloc'd */
    unsigned short len; /* instructions */
} psb__seccomp_prog;

/*
 * Compiles the allow-list (network decides whether sockets are allowed).
 * Returns 0, or -1 with a message.
 */
int psb__seccomp_build(bool network, psb__seccomp_prog *ret, char *msg, size_t msg_size);
/*
 * In the child, last: installs the SIGSYS reporter (a trapped syscall fails
 * with EPERM and is remembered), sets no_new_privs and loads the program.
 * Returns 0 or -1 with errno.
 */
int psb__seccomp_load(const psb__seccomp_prog *prog);
/* Name of the last syscall the filter refused in this process, or NULL. */
const char *psb__seccomp_last_denied(void);
/* true if the kernel offers seccomp filters. */
bool psb__seccomp_available(void);

/* The kernel's Landlock ABI version, 0 when Landlock is unavailable. */
int psb__landlock_abi(void);
/*
 * In the child: restricts the process to reading the given paths (and the
 * interpreter's own), and writing only below `scratch` (and /dev/null);
 * TCP bind/connect denied unless network; abstract unix sockets and signals
 * scoped to the execution. Paths that do not exist are skipped. Needs
 * no_new_privs. Returns 0, or -1 with errno and *ret_what set.
 */
int psb__landlock_apply(const json_t *readable_paths, const char *scratch, bool network,
                        const char **ret_what);

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
/* Removes the groups (their processes reaped) and empties cg. */
void psb__cgroup_remove(struct psb__cgroup *cg);

/*
 * In the helper, inside its own mount namespace: makes every mount
 * read-only (Landlock does not cover chmod or utimes) and mounts a private
 * tmpfs on /tmp for the scratch dirs; keeps /sys/fs/cgroup/pids writable
 * when asked. 0, or -1 with errno and *ret_what.
 */
int psb__ns_private_fs(unsigned keep_cgroups_writable, const char **ret_what);
/* true if the helper is root in the initial user namespace. */
bool psb__ns_is_root(void);
/*
 * In the child: as root, drop to uid/gid (no supplementary groups); in all
 * cases clear every capability. Returns 0, or -1 with errno and *ret_what.
 */
int psb__ns_drop_privileges(unsigned uid, unsigned gid, const char **ret_what);

#endif /* PSB_POLICY_H */
