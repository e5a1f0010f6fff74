/*
 * tests/security/world.h - the world the attacks aim at, judged from
 * outside: a canary dir with a root-only secret and a file the children's
 * uid owns, loopback TCP/UDP/unix/abstract listeners, a sentinel process,
 * and the processes of a host's helpers. world_problem() says what an
 * attack changed; it asserts nothing, so that a test can prove it fails.
 */
#ifndef PSB_TESTS_SECURITY_WORLD_H
#define PSB_TESTS_SECURITY_WORLD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tests/security/attack.h"

#define WORLD_UID 65534 /* the children's uid on a root host */

typedef struct world {
    char canary[64]; /* /var/tmp/psb-canary-RUNNER-XXXXXX (outside the helper's /tmp), root 0755 */
    char base[64];   /* basename of canary: prefix of every attack path */
    char secret_path[128]; /* canary/secret, root 0600 */
    char secret[64];       /* its content */
    char subdir[128];      /* canary/sub, root 0755 */
    char victim[128];      /* canary/victim, WORLD_UID 0600: what the children's uid owns */
    struct stat victim_st; /* as created */
    char sockdir[64];      /* /var/tmp/psb-sock-RUNNER-XXXXXX */
    char unix_path[128];   /* sockdir/s, a listening unix socket (0777) */
    char abstract[64];     /* name of an abstract unix listener (without the NUL) */
    char tag[40];          /* comm name an escaped attack process would take */
    char env_secret[64];   /* value of PSB_HOST_SECRET in the host's environment */
    int tcp_fd, udp_fd, unix_fd, abs_fd;
    int tcp_port, udp_port;
    pid_t sentinel; /* sleeping in pause(), must survive */
    pid_t owner;    /* the process that must clean up */
    pid_t runner;   /* the Check runner: names the temporary paths */
} world;

static inline void world__write(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
    ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    ck_assert(chmod(path, mode) == 0);
}

/*
 * Builds a fresh world in this process. env_secret is the value the host
 * holds in PSB_HOST_SECRET (it must never come back out). The sentinel is
 * forked here, before anything counts signals, so it keeps SIG_DFL.
 */
static inline void world_setup(world *w, pid_t runner, const char *env_secret) {
    char hex[40];
    memset(w, 0, sizeof *w);
    w->tcp_fd = w->udp_fd = w->unix_fd = w->abs_fd = -1;
    w->owner = getpid();
    w->runner = runner;
    snprintf(w->env_secret, sizeof w->env_secret, "%s", env_secret);

    snprintf(w->canary, sizeof w->canary, "/var/tmp/psb-canary-%d-XXXXXX", (int)runner);
    ck_assert(mkdtemp(w->canary) != NULL);
    ck_assert(chmod(w->canary, 0755) == 0);
    snprintf(w->base, sizeof w->base, "%s", strrchr(w->canary, '/') + 1);
    snprintf(w->secret_path, sizeof w->secret_path, "%s/secret", w->canary);
    sec_random_hex(hex, 24);
    snprintf(w->secret, sizeof w->secret, "PSB-SECRET-%s", hex);
    world__write(w->secret_path, w->secret, 0600);
    snprintf(w->subdir, sizeof w->subdir, "%s/sub", w->canary);
    ck_assert(mkdir(w->subdir, 0755) == 0 && chmod(w->subdir, 0755) == 0);
    snprintf(w->victim, sizeof w->victim, "%s/victim", w->canary);
    world__write(w->victim, "", 0600);
    if (sec_is_root())
        ck_assert_int_eq(chown(w->victim, WORLD_UID, WORLD_UID), 0);
    ck_assert_int_eq(stat(w->victim, &w->victim_st), 0);
    sec_random_hex(hex, 8);
    snprintf(w->tag, sizeof w->tag, "psbd%.8s", hex); /* fits in a comm (15 chars) */

    /* Loopback listeners. */
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof in;
    w->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert(w->tcp_fd >= 0 && bind(w->tcp_fd, (struct sockaddr *)&in, sizeof in) == 0 &&
              listen(w->tcp_fd, 64) == 0 &&
              getsockname(w->tcp_fd, (struct sockaddr *)&in, &len) == 0);
    w->tcp_port = ntohs(in.sin_port);
    in.sin_port = 0;
    len = sizeof in;
    w->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert(w->udp_fd >= 0 && bind(w->udp_fd, (struct sockaddr *)&in, sizeof in) == 0 &&
              getsockname(w->udp_fd, (struct sockaddr *)&in, &len) == 0);
    w->udp_port = ntohs(in.sin_port);

    snprintf(w->sockdir, sizeof w->sockdir, "/var/tmp/psb-sock-%d-XXXXXX", (int)runner);
    ck_assert(mkdtemp(w->sockdir) != NULL && chmod(w->sockdir, 0755) == 0);
    snprintf(w->unix_path, sizeof w->unix_path, "%s/s", w->sockdir);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ck_assert(strlen(w->unix_path) < sizeof un.sun_path);
    memcpy(un.sun_path, w->unix_path, strlen(w->unix_path) + 1);
    w->unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert(w->unix_fd >= 0 && bind(w->unix_fd, (struct sockaddr *)&un, sizeof un) == 0 &&
              listen(w->unix_fd, 16) == 0 && chmod(w->unix_path, 0777) == 0);
    sec_random_hex(hex, 12);
    snprintf(w->abstract, sizeof w->abstract, "psb-sec-%d-%s", (int)getpid(), hex);
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    memcpy(un.sun_path + 1, w->abstract, strlen(w->abstract));
    socklen_t ulen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(w->abstract));
    w->abs_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert(w->abs_fd >= 0 && bind(w->abs_fd, (struct sockaddr *)&un, ulen) == 0 &&
              listen(w->abs_fd, 16) == 0);

    w->sentinel = fork();
    ck_assert(w->sentinel >= 0);
    if (w->sentinel == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            pause();
    }
}

static inline int world__pid_max(void) {
    int v = 32768;
    FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 32768;
        fclose(f);
    }
    return v;
}

/* The Landlock ABI of this kernel, 0 without Landlock. */
static inline int world_landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, 1);
    return v < 0 ? 0 : (int)v;
}

/* The inputs every attack gets: where the world is. host: the process that calls psb_exec. */
static inline json_t *world_inputs(const world *w, pid_t host) {
    json_t *in = json_pack("{s:i,s:i,s:s,s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i}", "port",
                           w->tcp_port, "udp_port", w->udp_port, "unix_path", w->unix_path,
                           "abstract", w->abstract, "sentinel", (json_int_t)w->sentinel, "host",
                           (json_int_t)host, "canary", w->canary, "base", w->base, "secret",
                           w->secret_path, "subdir", w->subdir, "victim", w->victim, "tag", w->tag,
                           "abi", world_landlock_abi(), "pid_max", world__pid_max());
    ck_assert_ptr_nonnull(in);
    return in;
}

/* Which of the world's secrets data holds: NULL, or a description. */
static inline const char *world_leak(const world *w, const void *data, size_t len) {
    if (data && memmem(data, len, w->secret, strlen(w->secret)))
        return "the canary secret";
    if (data && memmem(data, len, w->env_secret, strlen(w->env_secret)))
        return "the value of PSB_HOST_SECRET";
    return NULL;
}

/* Idempotent; a failed test skips it, and world_sweep() catches up. */
static inline void world_cleanup(world *w) {
    char pat[160];
    if (w->owner != getpid())
        return; /* a forked copy (the sentinel) or already cleaned */
    w->owner = 0;
    if (w->sentinel > 0) {
        kill(w->sentinel, SIGKILL); /* our own sentinel, by pid */
        waitpid(w->sentinel, NULL, 0);
        w->sentinel = 0;
    }
    int *fds[] = {&w->tcp_fd, &w->udp_fd, &w->unix_fd, &w->abs_fd};
    for (size_t i = 0; i < 4; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    if (w->canary[0]) {
        sec_remove_tree(w->canary);
        snprintf(pat, sizeof pat, "%s-*", w->canary);
        sec_remove_glob(pat);
        snprintf(pat, sizeof pat, "/dev/shm/%s*", w->base);
        sec_remove_glob(pat);
        snprintf(pat, sizeof pat, "/var/tmp/%s-*", w->base);
        sec_remove_glob(pat);
    }
    if (w->sockdir[0])
        sec_remove_tree(w->sockdir);
}

/* In the runner after a test case: what the worlds of failed tests left behind. */
static inline void world_sweep(pid_t runner) {
    char pat[96];
    const char *fmt[] = {"/tmp/psb-canary-%d-*", "/tmp/psb-sock-%d-*", "/dev/shm/psb-canary-%d-*",
                         "/var/tmp/psb-canary-%d-*", "/var/tmp/psb-sock-%d-*"};
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        snprintf(pat, sizeof pat, fmt[i], (int)runner);
        sec_remove_glob(pat);
    }
}

/* ---- judging ---------------------------------------------------------------- */

static inline int world__accept_count(int fd) {
    int n = 0;
    for (;;) {
        /* cppcheck-suppress nullPointer ; accept4(2) takes NULL addr and addrlen */
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            break;
        close(c);
        n++;
    }
    return n;
}

static inline int world__dir_entries(const char *path, char *names, size_t size) {
    DIR *d = opendir(path);
    int n = 0;
    names[0] = '\0';
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        n++;
        snprintf(names + strlen(names), size - strlen(names), "%s ", e->d_name);
    }
    closedir(d);
    return n;
}

static inline int world__glob_count(const char *pattern, char *first, size_t size) {
    glob_t g;
    int n = 0;
    first[0] = '\0';
    if (glob(pattern, 0, NULL, &g) == 0) {
        n = (int)g.gl_pathc;
        snprintf(first, size, "%s", g.gl_pathv[0]);
    }
    globfree(&g);
    return n;
}

/* true if the process's cwd is an execution's scratch dir. */
static inline bool world__in_scratch(pid_t pid) {
    char path[64], target[512];
    snprintf(path, sizeof path, "/proc/%d/cwd", (int)pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strstr(target, "/pysandbox-") && strstr(target, "/run-");
}

/*
 * No process escaped: none carries the tag, no child of a helper of host
 * is still in a scratch dir once psb_exec returned, no uid WORLD_UID
 * process lives outside a helper, and no helper of host holds
 * PSB_HOST_SECRET in its environment. Writes "" or what is wrong.
 */
static inline void world__process_problem(const world *w, pid_t host, char *why, size_t size) {
    static pid_t pids[SEC_MAX_PROCS], ppids[SEC_MAX_PROCS];
    pid_t helpers[16];
    size_t nh = sec_find_helpers(host, helpers, 16);
    size_t n = sec_proc_table(pids, ppids, SEC_MAX_PROCS);
    why[0] = '\0';
    for (size_t i = 0; i < n && !why[0]; i++) {
        char comm[32], pcomm[32];
        sec_proc_comm(pids[i], comm, sizeof comm);
        bool helper_child = false;
        for (size_t h = 0; h < nh; h++)
            helper_child |= ppids[i] == helpers[h];
        if (!strcmp(comm, w->tag))
            snprintf(why, size, "an attack process (pid %d, %s) is alive", (int)pids[i], comm);
        else if (helper_child && world__in_scratch(pids[i]))
            /* A spare child waits for its request outside any scratch dir;
             * one still in a scratch dir outlived its execution. */
            snprintf(why, size, "pid %d (%s) of a helper outlived its execution", (int)pids[i],
                     comm);
        else if (sec_status_field(pids[i], "Uid") == WORLD_UID && ppids[i] > 0 &&
                 !sec_is_helper(ppids[i])) {
            sec_proc_comm(ppids[i], pcomm, sizeof pcomm);
            snprintf(why, size, "uid %d process %d (%s) outlives its sandbox (parent %d %s)",
                     WORLD_UID, (int)pids[i], comm, (int)ppids[i], pcomm);
        }
    }
    for (size_t h = 0; h < nh && !why[0]; h++) {
        char path[64];
        size_t len = 0;
        snprintf(path, sizeof path, "/proc/%d/environ", (int)helpers[h]);
        char *env = sec_read_file(path, &len);
        if (env && memmem(env, len, "PSB_HOST_SECRET", 15))
            snprintf(why, size, "the helper %d holds PSB_HOST_SECRET", (int)helpers[h]);
        free(env);
    }
}

#define WORLD_SETTLE_MS 200 /* what an attack sent arrives within this */

/*
 * Everything the attacks aimed at is unchanged; host is the process that
 * calls psb_exec (its helpers are its children), host_signals what it
 * received, tcp_expected the connections the TCP listener may have
 * accepted (-1: any; *ret_tcp gets the count), done_ms when the last
 * attack returned (sec_now_ms(); 0: just now). Returns "" or the first
 * problem (static).
 */
static inline const char *world_problem(const world *w, pid_t host, long host_signals,
                                        int tcp_expected, int *ret_tcp, uint64_t done_ms) {
    static char why[640];
    char names[512], first[256], pat[160], buf[128];
    why[0] = '\0';
    int n = world__dir_entries(w->canary, names, sizeof names);
    if (n != 3 || !strstr(names, "secret ") || !strstr(names, "sub ") || !strstr(names, "victim "))
        return snprintf(why, sizeof why, "canary dir changed: %s", names), why;
    if (world__dir_entries(w->subdir, names, sizeof names) != 0)
        return snprintf(why, sizeof why, "canary subdir changed: %s", names), why;
    struct stat st;
    if (lstat(w->secret_path, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0600 ||
        st.st_uid != getuid() || st.st_nlink != 1)
        return snprintf(why, sizeof why, "secret metadata changed: mode %o uid %d links %d",
                        st.st_mode, (int)st.st_uid, (int)st.st_nlink),
               why;
    int fd = open(w->secret_path, O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[r > 0 ? r : 0] = '\0';
    if (strcmp(buf, w->secret) != 0)
        return snprintf(why, sizeof why, "secret content changed"), why;
    if (lstat(w->victim, &st) != 0 || (st.st_mode & 07777) != 0600 ||
        st.st_uid != w->victim_st.st_uid || st.st_size != 0 ||
        st.st_mtim.tv_sec != w->victim_st.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != w->victim_st.st_mtim.tv_nsec)
        return snprintf(why, sizeof why, "the victim file changed: mode %o uid %d size %lld",
                        st.st_mode & 07777, (int)st.st_uid, (long long)st.st_size),
               why;
    const char *globs[] = {"%s-*", "/dev/shm/%s*", "/var/tmp/%s-*"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(pat, sizeof pat, globs[i], i ? w->base : w->canary);
        if (world__glob_count(pat, first, sizeof first) != 0)
            return snprintf(why, sizeof why, "attack file %s exists", first), why;
    }

    /* Let anything in flight arrive before looking. */
    struct pollfd pf[4] = {{w->tcp_fd, POLLIN, 0},
                           {w->udp_fd, POLLIN, 0},
                           {w->unix_fd, POLLIN, 0},
                           {w->abs_fd, POLLIN, 0}};
    uint64_t since = done_ms ? sec_now_ms() - done_ms : 0;
    if (since < WORLD_SETTLE_MS)
        (void)poll(pf, 4, (int)(WORLD_SETTLE_MS - since));
    int got = world__accept_count(w->tcp_fd);
    if (ret_tcp)
        *ret_tcp = got;
    if (tcp_expected >= 0 && got != tcp_expected)
        return snprintf(why, sizeof why, "TCP listener accepted %d connections (expected %d)", got,
                        tcp_expected),
               why;
    char dgram[256];
    ssize_t dn = recv(w->udp_fd, dgram, sizeof dgram, MSG_DONTWAIT);
    if (dn >= 0)
        return snprintf(why, sizeof why, "the UDP socket received %zd bytes", dn), why;
    if (world__accept_count(w->unix_fd) != 0)
        return snprintf(why, sizeof why, "the unix path listener accepted a connection"), why;
    if (world__accept_count(w->abs_fd) != 0)
        return snprintf(why, sizeof why, "the abstract unix listener accepted a connection"), why;

    int status;
    if (kill(w->sentinel, 0) != 0 || waitpid(w->sentinel, &status, WNOHANG) != 0)
        return snprintf(why, sizeof why, "the sentinel is gone"), why;
    if (host_signals != 0)
        return snprintf(why, sizeof why, "the host received %ld signals", host_signals), why;

    world__process_problem(w, host, why, sizeof why);
    /* The helper replies before it finishes cleaning up: give it a moment. */
    for (int i = 0; i < 30 && why[0]; i++) {
        sec_sleep_ms(100);
        world__process_problem(w, host, why, sizeof why);
    }
    return why;
}

#endif /* PSB_TESTS_SECURITY_WORLD_H */
