/*
 * policy/confine/seccomp.c - the syscall allow-list. Compiled once in the helper
 * with libseccomp and exported as BPF; each child loads the finished
 * program as its last confinement step (compiling per child costs ~6 ms,
 * loading a compiled program ~0.2 ms). Ordinary refusals trap: a SIGSYS
 * handler makes the call fail with EPERM and remembers which syscall it
 * was, so the outcome can name it. What must never run kills the process.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#include "policy/confine/confine.h"

/* Argument 0 equals value. SCMP_A0(SCMP_CMP_EQ, value) leaves datum_b out of
 * its compound literal, which clang reports (-Wmissing-field-initializers);
 * an equality test does not read datum_b. */
#define ARG0_EQ(value) SCMP_A0(SCMP_CMP_EQ, (value), 0)

/*
 * Plain allows: what CPython, numpy, pandas and matplotlib use (profiled).
 * Not memfd_create: its pages count against no rlimit, so it would get past
 * the memory limit.
 */
static const char *const allowed[] = {
    /* files (Landlock decides which) */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "lseek",
    "close",
    "close_range",
    "open",
    "openat",
    "openat2",
    "creat",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "mkdir",
    "mkdirat",
    "rmdir",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "truncate",
    "ftruncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "fadvise64",
    "flock",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "umask",
    "sendfile",
    "copy_file_range",
    "splice",
    "tee",
    "fcntl",
    "dup",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    /* memory */
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "brk",
    "mincore",
    "msync",
    "get_mempolicy",
    "membarrier",
    /* signals and time */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "sigaltstack",
    "kill",
    "tgkill",
    "tkill",
    "pause",
    "alarm",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "gettimeofday",
    "time",
    "nanosleep",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    /* threads and scheduling */
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "arch_prctl",
    "restart_syscall",
    "exit",
    "exit_group",
    /* identity and system information */
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "getresuid",
    "getresgid",
    "getpgrp",
    "getpgid",
    "getsid",
    "uname",
    "sysinfo",
    "getrusage",
    "times",
    "getrandom",
    "getcpu",
    "getpriority",
    /* waiting on fds (asyncio, selectors) */
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    /* sockets that already exist (a socketpair) */
    "sendmsg",
    "recvmsg",
    "sendto",
    "recvfrom",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
};

/* Calls that no sandboxed code has a use for: the process is killed. */
static const char *const fatal[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_getfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "reboot",
    "swapon",
    "swapoff",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "vhangup",
    "modify_ldt",
    "iopl",
    "ioperm",
    "uselib",
    "personality",
    "lookup_dcookie",
    "fanotify_init",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
};

/* ioctl requests the interpreter makes (isatty, non-blocking, close-on-exec). */
static const unsigned long ioctls[] = {TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX};

static int add_named(scmp_filter_ctx ctx, uint32_t action, const char *name, char *msg,
                     size_t msg_size) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a syscall on this architecture */
    int rc = seccomp_rule_add(ctx, action, nr, 0);
    if (rc < 0) {
        snprintf(msg, msg_size, "seccomp rule for %s: %s", name, strerror(-rc));
        return -1;
    }
    return 0;
}

/*
 * clone and vfork: threads allowed, forks refused (a session's asked of the
 * helper). 0, or a negative errno from libseccomp.
 */
static int add_clone_rules(scmp_filter_ctx ctx, bool session, bool external) {
    /* Threads only: CLONE_THREAD set, no namespace flags. Forks trap (EPERM). */
    const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                              CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | ns_flags, CLONE_THREAD)) < 0)
        return -1;
    /*
     * vfork-style clones come with every signal blocked (posix_spawn, Python's
     * _posixsubprocess): a trap would then kill the process instead of
     * failing the call, so they fail with EPERM directly (an external
     * interpreter's filter does that for every refusal already).
     */
    if (!external &&
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_VFORK, CLONE_VFORK)) < 0)
        return -1;
    if (!external && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(vfork), 0) < 0)
        return -1;
    /*
     * A session's snapshot is a fork of its process, which only the helper
     * may allow: a fork without namespace flags goes to the helper (user
     * notification), which lets through the two it asked for and refuses
     * every other with EPERM. The snapshot's side reaps the fork between
     * (wait4) and leaves its process group (setpgid); neither reaches
     * anything but the session's own processes.
     */
    if (session && (seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(clone), 1,
                                     SCMP_A0(SCMP_CMP_MASKED_EQ,
                                             CLONE_THREAD | CLONE_VFORK | ns_flags, 0)) < 0 ||
                    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 0) < 0 ||
                    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setpgid), 1, ARG0_EQ(0)) < 0))
        return -1;
    return 0;
}

/* The compiled program of ctx into *ret. 0, or -1 with a message. */
static int export_prog(scmp_filter_ctx ctx, psb__seccomp_prog *ret, char *msg, size_t msg_size) {
    int rc = -1;
    int memfd = memfd_create("psb-seccomp", MFD_CLOEXEC);
    if (memfd < 0 || seccomp_export_bpf(ctx, memfd) < 0) {
        snprintf(msg, msg_size, "exporting the seccomp program failed");
        goto out;
    }
    off_t size = lseek(memfd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
        size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        snprintf(msg, msg_size, "the seccomp program has a bad size");
        goto out;
    }
    void *buf = malloc((size_t)size);
    if (!buf || pread(memfd, buf, (size_t)size, 0) != size) {
        free(buf);
        snprintf(msg, msg_size, "reading the seccomp program failed");
        goto out;
    }
    ret->filter = buf;
    ret->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    rc = 0;
out:
    if (memfd >= 0)
        close(memfd);
    return rc;
}

/* PSB__SECCOMP_NO_EXEC: all allowed but exec. 0, or -1 with a message. */
static int build_no_exec(psb__seccomp_prog *ret, char *msg, size_t msg_size) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;
    if (!ctx) {
        snprintf(msg, msg_size, "seccomp_init failed");
        return -1;
    }
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execve), 0) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(execveat), 0) < 0)
        snprintf(msg, msg_size, "adding a seccomp rule failed");
    else
        rc = export_prog(ctx, ret, msg, msg_size);
    seccomp_release(ctx);
    return rc;
}

int psb__seccomp_build(bool network, enum psb__seccomp_variant variant, psb__seccomp_prog *ret,
                       char *msg, size_t msg_size) {
    int rc = -1;
    if (variant == PSB__SECCOMP_NO_EXEC)
        return build_no_exec(ret, msg, msg_size);
    bool session = variant == PSB__SECCOMP_SESSION, external = variant == PSB__SECCOMP_EXTERNAL;
    /* Refusals trap into our SIGSYS handler, which reports them as EPERM. */
    scmp_filter_ctx ctx = seccomp_init(external ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_TRAP);
    if (!ctx) {
        snprintf(msg, msg_size, "seccomp_init failed");
        return -1;
    }
    /* Another architecture's syscall table (i386 via int 0x80): kill. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0)
        goto fail_attr;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (add_named(ctx, SCMP_ACT_ALLOW, allowed[i], msg, msg_size))
            goto out;
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        if (add_named(ctx, SCMP_ACT_KILL_PROCESS, fatal[i], msg, msg_size))
            goto out;
    if (add_clone_rules(ctx, session, external) < 0)
        goto fail_rule;
    /* clone3 hides its flags in memory: ENOSYS makes glibc fall back to clone. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
        goto fail_rule;
    /* ioctl: compare the low 32 bits only (the kernel truncates the request). */
    for (size_t i = 0; i < sizeof ioctls / sizeof ioctls[0]; i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i])) < 0)
            goto fail_rule;
    /* Limits of this process only; prctl only to name threads. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, ARG0_EQ(0)) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getrlimit), 0) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, ARG0_EQ(PR_SET_NAME)) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, ARG0_EQ(PR_GET_NAME)) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, ARG0_EQ(PR_GET_DUMPABLE)) < 0 ||
        /* Dying with one's parent only ever ends the caller. */
        seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, ARG0_EQ(PR_SET_PDEATHSIG)) < 0)
        goto fail_rule;
    /* A connected pair of unix sockets (asyncio's self-pipe) is always fine. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, ARG0_EQ(AF_UNIX)) < 0)
        goto fail_rule;
    /* The bootstrap then stacks PSB__SECCOMP_NO_EXEC (prctl) before any user code. */
    if (external &&
        (add_named(ctx, SCMP_ACT_ALLOW, "execve", msg, msg_size) ||
         add_named(ctx, SCMP_ACT_ALLOW, "execveat", msg, msg_size) ||
         seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, ARG0_EQ(PR_SET_SECCOMP)) < 0))
        goto out;
    if (network) {
        static const char *const net[] = {"socket", "connect", "bind",
                                          "listen", "accept",  "accept4"};
        for (size_t i = 0; i < sizeof net / sizeof net[0]; i++)
            if (add_named(ctx, SCMP_ACT_ALLOW, net[i], msg, msg_size))
                goto out;
    }
    if (export_prog(ctx, ret, msg, msg_size) != 0)
        goto out;
    rc = 0;
    goto out;
fail_attr:
    snprintf(msg, msg_size, "seccomp attribute failed");
    goto out;
fail_rule:
    snprintf(msg, msg_size, "adding a seccomp rule failed");
out:
    seccomp_release(ctx);
    return rc;
}

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp SIGSYS */
#endif

/* The last refused syscall number (+1; 0 = none), written by the SIGSYS handler. */
static volatile sig_atomic_t last_denied;

static void on_sigsys(int sig, siginfo_t *info, void *uctx) {
    (void)sig;
    if (info->si_code != SYS_SECCOMP)
        return;
    last_denied = info->si_syscall + 1;
#if defined(__x86_64__)
    ((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
    ((ucontext_t *)uctx)->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#else
#error "set the syscall return register for this architecture"
#endif
}

int psb__seccomp_load(const psb__seccomp_prog *prog) {
    return psb__seccomp_load_listener(prog, NULL);
}

int psb__seccomp_load_listener(const psb__seccomp_prog *prog, int *ret_listener) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    struct sock_fprog fprog = {.len = prog->len, .filter = prog->filter};
    int rc = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                          ret_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0u, &fprog);
    if (ret_listener && rc >= 0) {
        *ret_listener = rc;
        rc = 0;
    }
    return rc < 0 ? -1 : 0;
}

int psb__notify_recv(int listener, struct psb__notification *ret) {
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        return -1;
    /* The kernel's structs may be larger than ours: its size, zeroed (as it requires). */
    union {
        struct seccomp_notif n;
        unsigned char bytes[512];
    } buf;
    if (sizes.seccomp_notif > sizeof buf) {
        errno = EOVERFLOW;
        return -1;
    }
    memset(&buf, 0, sizeof buf);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &buf.n) != 0)
        return -1;
    *ret = (struct psb__notification){
        .id = buf.n.id, .pid = (pid_t)buf.n.pid, .nr = buf.n.data.nr, .arg0 = buf.n.data.args[0]};
    return 0;
}

bool psb__notify_valid(int listener, uint64_t id) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int psb__notify_answer(int listener, uint64_t id, bool allow) {
    union {
        struct seccomp_notif_resp r;
        unsigned char bytes[512];
    } buf;
    memset(&buf, 0, sizeof buf);
    buf.r.id = id;
    if (allow)
        buf.r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* the clone runs as asked */
    else
        buf.r.error = -EPERM;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &buf.r) == 0 ? 0 : -1;
}

const char *psb__seccomp_last_denied(void) {
    int nr = (int)last_denied - 1;
    if (nr < 0)
        return NULL;
    static char name[64];
    char *resolved = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    snprintf(name, sizeof name, "%s", resolved ? resolved : "unknown");
    free(resolved);
    return name;
}

bool psb__seccomp_available(void) {
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
           syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &(uint32_t){SECCOMP_RET_TRAP}) == 0;
}
