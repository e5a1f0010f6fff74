/*
 * embed/helper.c - pysandbox-helper: the zygote. Spawned once per sandbox
 * with a clean environment, it stays single-threaded, receives one socket
 * per execution over its control socket and forks one child for each. It
 * sees control information only: limits, readable paths, exit statuses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "embed/embed.h"

/* A file descriptor number written in decimal, or -1 (atoi took "3x" as 3). */
static int parse_fd(const char *s) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && v >= 0 && v <= INT_MAX ? (int)v : -1;
}

/*
 * Records the read-only regular files the warm interpreter holds open, so
 * children keep them (Python objects own those fd numbers) and close the rest.
 */
void psb__note_interpreter_fds(int ctl) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) && psb__n_keep_fds < sizeof psb__keep_fds / sizeof psb__keep_fds[0]) {
        int fd = parse_fd(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || fd <= 2 || fd == ctl || fd == self)
            continue;
        int fl = fcntl(fd, F_GETFL);
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fl >= 0 && (fl & O_ACCMODE) == O_RDONLY)
            psb__keep_fds[psb__n_keep_fds++] = fd;
    }
    closedir(d);
    for (size_t i = 1; i < psb__n_keep_fds; i++) /* insertion sort: a handful of fds */
        for (size_t j = i; j > 0 && psb__keep_fds[j - 1] > psb__keep_fds[j]; j--) {
            int t = psb__keep_fds[j];
            psb__keep_fds[j] = psb__keep_fds[j - 1];
            psb__keep_fds[j - 1] = t;
        }
}

/* true if pid names no process (a helper that died without cleaning up). */
static bool pid_gone(long pid) {
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/*
 * Removes the scratch roots of helpers that were killed (SIGKILL leaves no
 * chance to clean up): /tmp/pysandbox-PID-*, ours to remove when PID is gone
 * and we own it. Their tmpfs mounts died with the helper's mount namespace.
 */
static void sweep_stale_roots(void) {
    DIR *d = opendir("/tmp");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long pid = psb__helper_pid_of(e->d_name, '-');
        if (pid < 0)
            continue;
        char path[300];
        struct stat st;
        snprintf(path, sizeof path, "/tmp/%s", e->d_name);
        if (pid_gone(pid) && lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
            psb__remove_tree(path);
    }
    if (d)
        closedir(d);
    psb__cgroup_sweep(pid_gone);
}

/* Sends a line of failure text to the library instead of "ready", then exits. */
static _Noreturn void fail_start(int ctl, const char *what) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    (void)send(ctl, msg, strlen(msg), MSG_NOSIGNAL);
    _exit(1);
}

struct psb__helper_conf psb__helper;

/* "a,b,c" of layer names to bits; -1 on an unknown name. */
static long parse_layers(const char *list) {
    long bits = 0;
    if (strcmp(list, "none") == 0)
        return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        unsigned l = psb__layer_find(tok);
        if (!l)
            return -1;
        bits |= (long)l;
    }
    return bits;
}

/*
 * Works out which layers this machine provides, enters the namespaces and
 * compiles the seccomp program. A required layer that is missing fails the
 * start: the sandbox never runs weaker than its policy demands.
 */
static int set_up_confinement(unsigned wanted, unsigned required, char *msg, size_t msg_size) {
    unsigned have = PSB_LAYER_HOOKS | PSB_LAYER_UNPRIVILEGED;
    char why[160] = "";
    if (psb__seccomp_available())
        have |= PSB_LAYER_SECCOMP;
    else
        snprintf(why, sizeof why, "seccomp filters are not available");
    if (psb__landlock_abi() >= 1)
        have |= PSB_LAYER_LANDLOCK;
    else if (!why[0])
        snprintf(why, sizeof why, "Landlock is not enabled in this kernel");
    if (wanted & PSB_LAYER_NAMESPACES) {
        const char *what = "";
        if (psb__ns_enter(psb__helper.network, &what) == 0) {
            have |= PSB_LAYER_NAMESPACES;
            /* A private mount namespace for the size-capped scratch tmpfs mounts. */
            psb__helper.scratch_tmpfs =
                unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
        } else if (!why[0]) {
            snprintf(why, sizeof why, "cannot create namespaces (%s: %s)", what, strerror(errno));
        }
    }
    unsigned missing = required & ~have;
    if (missing) {
        for (unsigned bit = 1; bit <= PSB_LAYERS_ALL; bit <<= 1)
            if (missing & bit) {
                snprintf(msg, msg_size,
                         "the policy requires the '%s' confinement layer, which this system "
                         "does not provide (%s); run 'pysandbox doctor'",
                         psb_layer_name(bit), why[0] ? why : "unavailable");
                return -1;
            }
    }
    psb__helper.layers = wanted & have;
    if ((psb__helper.layers & PSB_LAYER_SECCOMP) &&
        psb__seccomp_build(psb__helper.network, PSB__SECCOMP_EXECUTION, &psb__helper.seccomp, msg,
                           msg_size) != 0)
        return -1;
    if ((psb__helper.layers & PSB_LAYER_SECCOMP) && psb__helper.python &&
        (psb__seccomp_build(psb__helper.network, PSB__SECCOMP_EXTERNAL,
                            &psb__helper.seccomp_external, msg, msg_size) != 0 ||
         psb__seccomp_build(psb__helper.network, PSB__SECCOMP_NO_EXEC, &psb__helper.seccomp_no_exec,
                            msg, msg_size) != 0))
        return -1;
    /* Without user notification (a kernel before 5.5) sessions run, but cannot snapshot. */
    char unused[160];
    if ((psb__helper.layers & PSB_LAYER_SECCOMP) &&
        psb__seccomp_build(psb__helper.network, PSB__SECCOMP_SESSION, &psb__helper.seccomp_session,
                           unused, sizeof unused) != 0)
        psb__helper.seccomp_session.len = 0;
    return 0;
}

/* What the command line asks for (base/wire.h's flags). */
struct flags {
    int ctl;             /* the control socket, -1 when the flags are bad */
    bool warm;           /* preload and fork, or a fresh interpreter per execution */
    bool wait_warm;      /* answer ready only once preloaded (no early executions) */
    const char *preload; /* comma-separated modules, NULL for the default set */
    long wanted;         /* layers to turn on */
    long required;       /* layers the policy requires */
};

/* Parses the flags into *f and psb__helper. false when they are not the library's. */
static bool parse_flags(int argc, char **argv, struct flags *f) {
    *f = (struct flags){.ctl = -1, .warm = true, .wanted = PSB_LAYERS_ALL};
    psb__helper.cache_fd = -1;
    psb__helper.uid = psb__helper.gid = 65534;
    psb__helper.scratch_mib = 64;
    psb__helper.threads = 64;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (strcmp(arg, PSB__FLAG_COLD) == 0 || strcmp(arg, PSB__FLAG_WARM) == 0) {
            f->warm = strcmp(arg, PSB__FLAG_WARM) == 0;
            takes_value = false;
        } else if (strcmp(arg, PSB__FLAG_WAIT_WARM) == 0) {
            f->wait_warm = true;
            takes_value = false;
        } else if (strcmp(arg, PSB__FLAG_NETWORK) == 0) {
            psb__helper.network = true;
            takes_value = false;
        } else if (!next) { /* NOLINT(bugprone-branch-clone): refused like an unknown flag */
            return false;
        } else if (strcmp(arg, PSB__FLAG_CONTROL_FD) == 0) {
            f->ctl = parse_fd(next);
        } else if (strcmp(arg, PSB__FLAG_CACHE_DIR) == 0) {
            psb__helper.cache_dir = next[0] == '/' ? next : NULL;
        } else if (strcmp(arg, PSB__FLAG_PRELOAD) == 0) {
            f->preload = next;
        } else if (strcmp(arg, PSB__FLAG_PYTHON) == 0) {
            if (next[0] != '/')
                return false;
            psb__helper.python = next;
        } else if (strcmp(arg, PSB__FLAG_SITE) == 0) {
            if (next[0] != '/' || (!psb__helper.sites && !(psb__helper.sites = json_array())) ||
                json_array_append_new(psb__helper.sites, json_string(next)) != 0)
                return false;
        } else if (strcmp(arg, PSB__FLAG_UID) == 0) {
            psb__helper.uid = (unsigned)strtoul(next, NULL, 10);
        } else if (strcmp(arg, PSB__FLAG_GID) == 0) {
            psb__helper.gid = (unsigned)strtoul(next, NULL, 10);
        } else if (strcmp(arg, PSB__FLAG_LAYERS) == 0) {
            f->wanted = parse_layers(next);
        } else if (strcmp(arg, PSB__FLAG_REQUIRE) == 0) {
            f->required = parse_layers(next);
        } else {
            return false;
        }
        i += takes_value;
    }
    return f->ctl >= 3 && f->wanted >= 0 && f->required >= 0 && psb__helper.uid != 0 &&
           psb__helper.gid != 0;
}

/*
 * Only our channel passes: a host fd without close-on-exec (a shell's
 * `exec 77<file`, a library that forgot the flag) would otherwise reach
 * every child, which keeps the interpreter's read-only files. The channel
 * becomes fd 3 and the host's stdio /dev/null. Returns fd 3, or -1.
 */
static int isolate_fds(int ctl) {
    if (dup2(ctl, 3) != 3 || (ctl != 3 && close(ctl) != 0) ||
        syscall(SYS_close_range, 4u, ~0u, 0u) != 0) {
        fprintf(stderr, "pysandbox-helper: cannot close inherited fds\n");
        return -1;
    }
    ctl = 3;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        fail_start(ctl, "open /dev/null");
    for (int fd = 0; fd < 3; fd++)
        dup2(devnull, fd);
    close(devnull);
    if (fcntl(ctl, F_SETFD, FD_CLOEXEC) != 0)
        fail_start(ctl, "control socket");
    return ctl;
}

/* Reports why the helper cannot start on ctl (instead of the ready message). */
static int refuse(int ctl, const char *msg) {
    (void)send(ctl, msg, strlen(msg), MSG_NOSIGNAL);
    return 1;
}

/* matplotlib's config dir, private to this helper (the cache is copied in). */
static char mplconfig[96];

/*
 * The interpreter of a warm helper: preloaded before it answers ready
 * (wait_warm), or minimal, the preload left to the warm zygote. 0, or 1
 * once it told the library why not.
 */
static int start_interpreter(const struct flags *f, int ctl, const char *root) {
    char msg[512];
    snprintf(mplconfig, sizeof mplconfig, "%s/mplconfig", root);
    if (mkdir(mplconfig, 0755) != 0 || setenv("MPLCONFIGDIR", mplconfig, 1) != 0)
        fail_start(ctl, "cannot create the matplotlib config dir");
    psb__cache_seed(psb__helper.cache_fd, mplconfig);
    int rc = psb__interp_init(msg, sizeof msg);
    if (rc == 0 && f->wait_warm) {
        rc = psb__interp_preload(f->preload, msg, sizeof msg);
        psb__pages_arenas_seal();
        psb__cache_publish(psb__helper.cache_fd, mplconfig);
        (void)psb__cow_drain_heap(); /* first: the collapse takes the heap below its top */
        (void)psb__pages_collapse();
    } else if (rc == 0) {
        rc = psb__interp_check_preload(f->preload, msg, sizeof msg);
    }
    psb__pages_arenas_seal();
    if (rc != 0) {
        psb__remove_tree(root);
        return refuse(ctl, msg);
    }
    psb__helper.start = f->wait_warm ? PSB_START_WARM : PSB_START_EARLY;
    psb__note_interpreter_fds(ctl);
    return 0;
}

/*
 * Everything before the first execution: the cache dir (opened while the
 * host's file systems are still writable here), confinement, cgroups, the
 * read-only file systems, the scratch root (its name in root) and, when
 * warm, the interpreter. 0, or 1 once it told the library why not.
 */
static int start(const struct flags *f, int ctl, char *root, size_t root_size) {
    char msg[512];
    if (psb__helper.cache_dir)
        psb__helper.cache_fd = psb__cache_open(psb__helper.cache_dir);
    if (psb__helper.cache_fd < 0)
        psb__helper.cache_dir = NULL; /* none, or not one to trust: children get no rule */
    /* An external interpreter is asked where it lives before anything is confined. */
    if (psb__helper.python && psb__external_probe(psb__helper.python, msg, sizeof msg) != 0)
        return refuse(ctl, msg);
    if (set_up_confinement((unsigned)f->wanted, (unsigned)f->required, msg, sizeof msg) != 0)
        return refuse(ctl, msg);
    psb__helper.cgroups = psb__cgroup_init();
    /* The scratch root's name carries our pid, so a later helper can tell a
     * killed helper's leftovers from a live one's. */
    sweep_stale_roots();
    /* From here on the host's file systems are read-only in this mount
     * namespace and /tmp is a private tmpfs. */
    const char *what = "";
    if (psb__helper.scratch_tmpfs && psb__ns_private_fs(psb__helper.cgroups, &what) != 0) {
        snprintf(msg, sizeof msg, "cannot make the file systems read-only: %s: %s", what,
                 strerror(errno));
        return refuse(ctl, msg);
    }
    snprintf(root, root_size, "/tmp/pysandbox-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(root))
        fail_start(ctl, "cannot create the scratch root in /tmp");
    chmod(root, 0711);
    psb__helper.start = PSB_START_COLD;
    return f->warm ? start_interpreter(f, ctl, root) : 0;
}

int main(int argc, char **argv) {
    struct flags f;
    if (!parse_flags(argc, argv, &f)) {
        fprintf(stderr, "pysandbox-helper: internal program of libpysandbox, not for direct use\n");
        return 2;
    }
    if (psb__helper.python)
        f.warm = false; /* nothing of ours to preload: each execution execs the interpreter */
    int ctl = isolate_fds(f.ctl);
    if (ctl < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    /* Few malloc arenas: each reserves 64 MiB of address space, which counts
     * against a child's memory limit once it starts threads. */
    mallopt(M_ARENA_MAX, 2);
    static char root[64]; /* static: the zygote and the loop point to it */
    if (start(&f, ctl, root, sizeof root) != 0)
        return 1;
    /* Early: the warm zygote preloads while this process answers. */
    static struct psb__zygote zygote = {.pid = -1, .pidfd = -1, .sock = -1};
    bool early = psb__helper.start == PSB_START_EARLY;
    zygote.preload = f.preload;
    zygote.mplconfig = mplconfig;
    if (early)
        (void)psb__zygote_start(&zygote, root); /* if it cannot fork, all runs early */
    if (send(ctl, PSB__READY_MSG, strlen(PSB__READY_MSG), MSG_NOSIGNAL) ==
        (ssize_t)strlen(PSB__READY_MSG)) {
        psb__serve(ctl, root, early ? &zygote : NULL, true);
    } else {
        psb__zygote_stop(&zygote, 0);
        psb__remove_tree(root);
        psb__cgroup_fini();
    }
    return 0;
}
